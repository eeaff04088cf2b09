//! What a downstream connection shares with its requests ([`ConnCtx`]), and its timers:
//!
//! - **request head timeout** (slowloris): from the first byte of a request head (or the
//!   connection's start) to the complete head; when it fires the proxy answers
//!   `408 Request Timeout` itself and closes;
//! - **idle timeout**: no request in flight for `idleTimeoutSeconds`; the connection is
//!   closed gracefully.
//!
//! The timers are read from a few atomics that requests ([`InFlight`]) and the socket
//! update; nothing here costs more than an atomic operation per request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderValue;
use tokio::time::Instant;

use crate::drain::Drain;
use crate::tls::Stream;

/// The timers of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnTimers {
    /// Longest time to receive a request head; `None`: no limit.
    pub header: Option<Duration>,
    /// Longest time without a request in flight; `None`: no limit.
    pub idle: Option<Duration>,
}

/// What one connection's requests share with the connection.
#[derive(Debug)]
pub(crate) struct ConnCtx {
    start: Instant,
    /// A number for the connection, unique in the process.
    id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener's address (the one the connection came to).
    pub local: SocketAddr,
    /// The client's IP, ready for `x-forwarded-for`.
    pub peer_ip: HeaderValue,
    /// TLS: the identity in the client's verified certificate (mutual TLS).
    pub peer_identity: Option<Arc<str>>,
    in_flight: AtomicUsize,
    /// Milliseconds since `start` when the last request ended.
    last_active: AtomicU64,
    /// Milliseconds since `start` + 1 when the current request head began; 0: none.
    head_started: AtomicU64,
    /// Whether the head timer applies (HTTP/1 only).
    track_head: AtomicBool,
    /// Set before the connection is dropped to get the socket back (to answer 408).
    reclaim: AtomicBool,
    reclaimed: Mutex<Option<Stream>>,
    /// For ingress connections: the proxy's drain counters.
    drain: Option<Arc<Drain>>,
    /// HTTP/2 streams this connection has carried so far.
    h2_streams: AtomicU32,
}

impl ConnCtx {
    pub(crate) fn new(
        peer: SocketAddr,
        local: SocketAddr,
        peer_identity: Option<Arc<str>>,
        track_head: bool,
        drain: Option<Arc<Drain>>,
    ) -> ConnCtx {
        let peer_ip = HeaderValue::from_str(&peer.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        static IDS: AtomicU64 = AtomicU64::new(1);
        ConnCtx {
            start: Instant::now(),
            id: IDS.fetch_add(1, Relaxed),
            peer,
            local,
            peer_ip,
            peer_identity,
            in_flight: AtomicUsize::new(0),
            last_active: AtomicU64::new(0),
            // The connection's start counts as the start of its first request head.
            head_started: AtomicU64::new(if track_head { 1 } else { 0 }),
            track_head: AtomicBool::new(track_head),
            reclaim: AtomicBool::new(false),
            reclaimed: Mutex::new(None),
            drain,
            h2_streams: AtomicU32::new(0),
        }
    }

    /// The connection's number, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The stream id of the next HTTP/2 request on this connection. A client opens
    /// streams with odd ids that only grow (RFC 9113 §5.1.1), and hyper hands requests
    /// over in the order their streams opened, so the n-th request is stream 2n - 1
    /// (exact for clients that do not skip ids, which is what clients do).
    pub(crate) fn next_h2_stream_id(&self) -> u32 {
        let n = self.h2_streams.fetch_add(1, Relaxed) + 1;
        n.saturating_mul(2).saturating_sub(1)
    }

    /// hyper takes the connection over from the fast path: its head timer starts now.
    pub(crate) fn handoff(&self) {
        if self.track_head.load(Relaxed) && self.in_flight.load(Relaxed) == 0 {
            self.head_started.store(self.now_ms() + 1, Relaxed);
        }
    }

    /// Bytes of the client arrived: a request head starts, unless one is in flight or
    /// started already.
    pub(crate) fn bytes_read(&self) {
        if self.track_head.load(Relaxed)
            && self.in_flight.load(Relaxed) == 0
            && self.head_started.load(Relaxed) == 0
        {
            self.head_started.store(self.now_ms() + 1, Relaxed);
        }
    }

    /// The client spoke HTTP/2: its streams are not subject to the HTTP/1 head timer.
    pub(crate) fn http2(&self) {
        self.track_head.store(false, Relaxed);
        self.head_started.store(0, Relaxed);
    }

    /// The connection is about to be dropped to get its socket back (to answer 408).
    pub(crate) fn reclaim(&self) {
        self.reclaim.store(true, Relaxed);
    }

    /// The socket of the connection being dropped: kept when it is reclaimed.
    pub(crate) fn dropped(&self, s: Stream) {
        if self.reclaim.load(Relaxed) {
            *self.reclaimed.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
        }
    }

    /// The reclaimed socket (once).
    pub(crate) fn reclaimed(&self) -> Option<Stream> {
        self.reclaimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    /// What the connection's timer should do now.
    pub(crate) fn check(&self, t: &ConnTimers, recheck: Duration) -> Check {
        let now = self.now_ms();
        let mut next = now.saturating_add(ms(recheck));
        if let Some(h) = t.header {
            let hs = self.head_started.load(Relaxed);
            if hs != 0 && self.track_head.load(Relaxed) {
                let deadline = (hs - 1).saturating_add(ms(h));
                if now >= deadline {
                    return Check::HeaderTimeout;
                }
                next = next.min(deadline);
            }
        }
        if let Some(idle) = t.idle {
            if self.in_flight.load(Relaxed) == 0 {
                let deadline = self.last_active.load(Relaxed).saturating_add(ms(idle));
                if now >= deadline {
                    return Check::Idle;
                }
                next = next.min(deadline);
            }
        }
        Check::At(self.at(next))
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a connection's timer is to do.
pub(crate) enum Check {
    /// The request head took too long: answer 408.
    HeaderTimeout,
    /// No request for the idle timeout: close.
    Idle,
    /// Nothing yet: check again then.
    At(Instant),
}

/// One request in flight on a connection, from its head to the end of its response
/// body (it travels in the request's record, `access_log::RequestLog`).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<ConnCtx>);

impl InFlight {
    pub(crate) fn new(ctx: &Arc<ConnCtx>) -> InFlight {
        ctx.in_flight.fetch_add(1, Relaxed);
        ctx.head_started.store(0, Relaxed);
        if let Some(d) = &ctx.drain {
            d.request_started();
        }
        InFlight(Arc::clone(ctx))
    }

    pub(crate) fn ctx(&self) -> &ConnCtx {
        &self.0
    }

    pub(crate) fn ctx_arc(&self) -> &Arc<ConnCtx> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let ctx = &self.0;
        ctx.last_active.store(ctx.now_ms(), Relaxed);
        ctx.in_flight.fetch_sub(1, Relaxed);
        if let Some(d) = &ctx.drain {
            d.request_ended();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(track: bool) -> Arc<ConnCtx> {
        Arc::new(ConnCtx::new(
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            None,
            track,
            None,
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn head_timer_runs_from_the_start_and_stops_at_a_request() {
        let c = ctx(true);
        let t = ConnTimers {
            header: Some(Duration::from_secs(10)),
            idle: Some(Duration::from_secs(300)),
        };
        let r = Duration::from_secs(5);
        assert!(matches!(c.check(&t, r), Check::At(_)));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(matches!(c.check(&t, r), Check::HeaderTimeout));
        let f = InFlight::new(&c);
        assert!(matches!(c.check(&t, r), Check::At(_)));
        tokio::time::advance(Duration::from_secs(1000)).await;
        // A request in flight is never idle, whatever its length.
        assert!(matches!(c.check(&t, r), Check::At(_)));
        drop(f);
        tokio::time::advance(Duration::from_secs(299)).await;
        assert!(matches!(c.check(&t, r), Check::At(_)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(c.check(&t, r), Check::Idle));
    }

    #[tokio::test(start_paused = true)]
    async fn no_timers_when_turned_off() {
        let c = ctx(false);
        let t = ConnTimers {
            header: None,
            idle: None,
        };
        tokio::time::advance(Duration::from_secs(100_000)).await;
        assert!(matches!(c.check(&t, Duration::from_secs(1)), Check::At(_)));
    }
}
