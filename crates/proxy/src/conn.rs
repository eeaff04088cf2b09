//! One downstream HTTP connection: hyper's server (HTTP/1.1, or HTTP/2 with prior
//! knowledge) over a socket wrapper that counts bytes and watches for slow clients, plus
//! the connection's timers:
//!
//! - **request head timeout** (slowloris): from the first byte of a request head (or the
//!   connection's start) to the complete head; when it fires the proxy answers
//!   `408 Request Timeout` itself and closes;
//! - **idle timeout**: no request in flight for `idleTimeoutSeconds`; the connection is
//!   closed gracefully;
//! - **close** (listener removed, or ingress draining): graceful shutdown, in-flight
//!   requests finish.
//!
//! The timers are one `Sleep` per connection, re-armed from a few atomics that requests
//! update; nothing here costs more than an atomic operation per request.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use berth_proxy_config::Protocol;
use berth_telemetry::ListenerMetrics;
use bytes::BytesMut;
use http::HeaderValue;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::drain::{Drain, DrainConn};
use crate::fast::Served;
use crate::listener::ListenerShared;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

const RESPONSE_408: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nserver: berth\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

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
    /// The client's IP, ready for `x-forwarded-for`.
    pub peer_ip: HeaderValue,
    in_flight: AtomicUsize,
    /// Milliseconds since `start` when the last request ended.
    last_active: AtomicU64,
    /// Milliseconds since `start` + 1 when the current request head began; 0: none.
    head_started: AtomicU64,
    /// Whether the head timer applies (HTTP/1 only).
    track_head: AtomicBool,
    /// Set before the connection is dropped to get the socket back (to answer 408).
    reclaim: AtomicBool,
    reclaimed: Mutex<Option<TcpStream>>,
    /// For ingress connections: the proxy's drain counters.
    drain: Option<Arc<Drain>>,
    /// HTTP/2 streams this connection has carried so far.
    h2_streams: AtomicU32,
}

impl ConnCtx {
    pub(crate) fn new(peer: SocketAddr, track_head: bool, drain: Option<Arc<Drain>>) -> ConnCtx {
        let peer_ip = HeaderValue::from_str(&peer.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        ConnCtx {
            start: Instant::now(),
            peer_ip,
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

    /// The stream id of the next HTTP/2 request on this connection. A client opens
    /// streams with odd ids that only grow (RFC 9113 §5.1.1), and hyper hands requests
    /// over in the order their streams opened, so the n-th request is stream 2n - 1
    /// (exact for clients that do not skip ids, which is what clients do).
    pub(crate) fn next_h2_stream_id(&self) -> u32 {
        let n = self.h2_streams.fetch_add(1, Relaxed) + 1;
        n.saturating_mul(2).saturating_sub(1)
    }

    /// hyper takes the connection over from the fast path: its head timer starts now.
    fn handoff(&self) {
        if self.track_head.load(Relaxed) && self.in_flight.load(Relaxed) == 0 {
            self.head_started.store(self.now_ms() + 1, Relaxed);
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    /// What the connection's timer should do now.
    fn check(&self, t: &ConnTimers, recheck: Duration) -> Check {
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

enum Check {
    HeaderTimeout,
    Idle,
    At(Instant),
}

/// One request in flight on a connection, from its head to the end of its response
/// body (it travels in the response body's [`RequestLog`](crate::access_log::RequestLog)).
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

/// The downstream socket as hyper sees it: counts `ProcessedBytes`, notices request heads
/// starting and HTTP/2 prefaces, and can hand the socket back when the connection is
/// dropped (to answer 408 on it).
pub(crate) struct DownstreamIo {
    stream: Option<TcpStream>,
    ctx: Arc<ConnCtx>,
    metrics: ListenerMetrics,
    /// The first bytes received, until it is known whether they are an HTTP/2 preface.
    sniffed: usize,
    /// Bytes the fast path read before handing the connection over, read first.
    pre: BytesMut,
}

impl DownstreamIo {
    fn on_read(&mut self, data: &[u8]) {
        self.metrics.processed_bytes(data.len() as u64);
        let ctx = &*self.ctx;
        if self.sniffed < H2_PREFACE.len() {
            let want = &H2_PREFACE[self.sniffed..];
            let n = want.len().min(data.len());
            if data[..n] == want[..n] {
                self.sniffed += n;
                if self.sniffed == H2_PREFACE.len() {
                    // HTTP/2: its streams are not subject to the HTTP/1 head timer.
                    ctx.track_head.store(false, Relaxed);
                    ctx.head_started.store(0, Relaxed);
                }
            } else {
                self.sniffed = usize::MAX;
            }
        }
        if ctx.track_head.load(Relaxed)
            && ctx.in_flight.load(Relaxed) == 0
            && ctx.head_started.load(Relaxed) == 0
        {
            ctx.head_started.store(ctx.now_ms() + 1, Relaxed);
        }
    }
}

impl AsyncRead for DownstreamIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.pre.is_empty() {
            let n = this.pre.len().min(buf.remaining());
            let pre = this.pre.split_to(n);
            buf.put_slice(&pre);
            this.on_read(&pre);
            return Poll::Ready(Ok(()));
        }
        let Some(s) = this.stream.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let before = buf.filled().len();
        ready!(Pin::new(s).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.on_read(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for DownstreamIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let Some(s) = this.stream.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let n = ready!(Pin::new(s).poll_write(cx, buf))?;
        this.metrics.processed_bytes(n as u64);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let Some(s) = this.stream.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let n = ready!(Pin::new(s).poll_write_vectored(cx, bufs))?;
        this.metrics.processed_bytes(n as u64);
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream.as_mut() {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream.as_mut() {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl Drop for DownstreamIo {
    fn drop(&mut self) {
        if self.ctx.reclaim.load(Relaxed) {
            if let Some(s) = self.stream.take() {
                *self.ctx.reclaimed.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// `fut`'s output as an `Ok`: the service's future (a plain future rather than an
    /// `async` block, which would hold the request's large future twice).
    struct Infallibly<F> {
        #[pin]
        fut: F,
    }
}

impl<F: std::future::Future> std::future::Future for Infallibly<F> {
    type Output = Result<F::Output, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().fut.poll(cx).map(Ok)
    }
}

/// Serves one downstream HTTP connection until it ends.
pub(crate) async fn serve_http(
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerShared>,
    timers: ConnTimers,
    metrics: ListenerMetrics,
    mut close: watch::Receiver<bool>,
    drain: Option<DrainConn>,
) {
    let _active = metrics.connection();
    let proxy = Arc::clone(&listener.proxy);
    let ctx = Arc::new(ConnCtx::new(
        peer,
        timers.header.is_some(),
        drain.as_ref().map(|_| Arc::clone(&proxy.drain)),
    ));
    // HTTP/1.1 upstreams: the fast path first; hyper for what it does not take.
    let (stream, pre) = if listener.slot.load().protocol() == Protocol::Http {
        let served = crate::fast::serve(
            stream,
            Arc::clone(&ctx),
            &listener,
            timers,
            &metrics,
            &mut close,
        )
        .await;
        match served {
            Served::Done => return,
            Served::HeadTimeout(s) => {
                tracing::debug!(%peer, "request head timeout: 408");
                answer_and_close(s, RESPONSE_408).await;
                return;
            }
            Served::Fallback(s, pre) => {
                ctx.handoff();
                (s, pre)
            }
        }
    } else {
        (stream, BytesMut::new())
    };
    let io = DownstreamIo {
        stream: Some(stream),
        ctx: Arc::clone(&ctx),
        metrics,
        sniffed: 0,
        pre,
    };
    let svc = {
        let ctx = Arc::clone(&ctx);
        hyper::service::service_fn(move |req| {
            let route = listener.slot.load_full();
            let in_flight = InFlight::new(&ctx);
            Infallibly {
                fut: crate::route::handle(req, route, in_flight),
            }
        })
    };
    let recheck = [timers.header, timers.idle]
        .into_iter()
        .flatten()
        .min()
        .map(|d| (d / 2).max(Duration::from_millis(20)));
    let timed_out = {
        let conn = proxy.http.serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        let far = Duration::from_secs(86_400);
        let sleep = tokio::time::sleep(recheck.unwrap_or(far));
        tokio::pin!(sleep);
        let mut shutting = false;
        if *close.borrow_and_update() {
            conn.as_mut().graceful_shutdown();
            shutting = true;
        }
        loop {
            tokio::select! {
                biased;
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "downstream connection ended with an error");
                    }
                    break false;
                }
                _ = close.changed(), if !shutting => {
                    conn.as_mut().graceful_shutdown();
                    shutting = true;
                }
                _ = &mut sleep, if recheck.is_some() => {
                    match ctx.check(&timers, recheck.unwrap_or(far)) {
                        Check::HeaderTimeout => {
                            ctx.reclaim.store(true, Relaxed);
                            break true;
                        }
                        Check::Idle => {
                            if !shutting {
                                tracing::debug!(%peer, "closing an idle connection");
                                conn.as_mut().graceful_shutdown();
                                shutting = true;
                            }
                            sleep.as_mut().reset(Instant::now() + far);
                        }
                        Check::At(at) => sleep.as_mut().reset(at),
                    }
                }
            }
        }
    };
    if timed_out {
        let stream = ctx
            .reclaimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(s) = stream {
            tracing::debug!(%peer, "request head timeout: 408");
            answer_and_close(s, RESPONSE_408).await;
        }
    }
    drop(drain);
}

/// Writes a last response, closes the sending side, and reads what the client still sends
/// for a moment, so that the close does not turn into a reset that loses the response.
async fn answer_and_close(mut s: TcpStream, response: &[u8]) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        s.write_all(response).await?;
        s.shutdown().await?;
        let mut buf = [0u8; 1024];
        while s.read(&mut buf).await? != 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(track: bool) -> Arc<ConnCtx> {
        Arc::new(ConnCtx::new("127.0.0.1:1".parse().unwrap(), track, None))
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
