//! TCP pass-through (`appProtocol` absent): connect to an endpoint (egress: picked by the
//! balancer, another one on a connect failure while the retry budget allows; ingress: the
//! application), then copy both ways until both sides close or the connection is idle for
//! `idleTimeoutSeconds` (3600 s by default).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant as StdInstant};

use berth_balance::Pick;
use berth_telemetry::ListenerMetrics;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::access_log::{TcpCounters, TcpLog};
use crate::drain::DrainConn;
use crate::error::{ErrorKind, ProxyError, Side};
use crate::retry::Attempts;
use crate::state::{Route, RouteKind, UpstreamRt};
use crate::tls::{Accepted, Stream};

/// Serves one downstream TCP connection until it ends.
pub(crate) async fn serve(
    Accepted {
        stream: down,
        peer,
        identity,
    }: Accepted,
    local: SocketAddr,
    route: Arc<Route>,
    connect_timeout: Duration,
    id: u64,
    drain: Option<DrainConn>,
) {
    let metrics = route.log.metrics.clone();
    let _active = metrics.connection();
    let counters = Arc::new(TcpCounters::default());
    let mut log = TcpLog::start(Arc::clone(&route), peer, local, Arc::clone(&counters), id);
    log.identity = identity.map(|i| i.to_string());
    let connected = match &route.kind {
        RouteKind::Egress(up) => connect_egress(up, connect_timeout, &mut log).await,
        RouteKind::Ingress(app) => {
            log.upstream = Some(app.app);
            connect(app.app, connect_timeout)
                .await
                .map(|s| (Stream::Plain(s), None))
        }
        // A load balancer's listeners are HTTP: never served here.
        RouteKind::Alb(_) => Err(ProxyError::new(Side::Internal, ErrorKind::Config, false)),
    };
    let (up, pick) = match connected {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "tcp: no upstream connection");
            log.failed(&e);
            return;
        }
    };
    let activity = Arc::new(Activity::new());
    let down = Counted {
        stream: down,
        activity: Arc::clone(&activity),
        counters: Some((Arc::clone(&counters), metrics)),
    };
    let up = Counted {
        stream: up,
        activity: Arc::clone(&activity),
        counters: None,
    };
    log.termination = relay(down, up, &activity, route.idle(), peer).await;
    if let Some(p) = pick {
        p.success();
    }
    // What went to and came from the target is what came from and went to downstream.
    route
        .log
        .metrics
        .target_bytes(counters.received.load(Relaxed) + counters.sent.load(Relaxed));
    drop(drain);
}

/// Copies both ways until both sides close or nothing moves for `idle`: why the proxy
/// ended it, when it did.
async fn relay(
    mut down: Counted,
    mut up: Counted,
    activity: &Activity,
    idle: Option<Duration>,
    peer: SocketAddr,
) -> Option<&'static str> {
    let copy = tokio::io::copy_bidirectional(&mut down, &mut up);
    tokio::pin!(copy);
    let far = Duration::from_secs(86_400);
    let sleep = tokio::time::sleep(idle.unwrap_or(far));
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            r = &mut copy => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "tcp: connection ended with an error");
                    return Some("connection error");
                }
                return None;
            }
            _ = &mut sleep, if idle.is_some() => {
                let idle = idle.unwrap_or(far);
                let last = activity.last();
                if last.elapsed() >= idle {
                    tracing::debug!(%peer, "tcp: idle timeout");
                    return Some("idle timeout");
                }
                sleep.as_mut().reset(last + idle);
            }
        }
    }
}

/// Connects to one of `up`'s endpoints (TLS when it has it), trying others after
/// connect and handshake failures.
async fn connect_egress(
    up: &UpstreamRt,
    timeout: Duration,
    log: &mut TcpLog,
) -> Result<(Stream, Option<Pick>), ProxyError> {
    let mut attempts = Attempts::start(up, StdInstant::now());
    loop {
        let pick = attempts.next(log)?;
        let target = pick.addr();
        let connected = match connect(target, timeout).await {
            Ok(s) => match &up.tls {
                Some(tls) => tls.connect(s, timeout).await.map_err(|e| {
                    ProxyError::new(Side::Upstream, ErrorKind::Tls, true)
                        .with_target(target)
                        .with_source(e)
                }),
                None => Ok(Stream::Plain(s)),
            },
            Err(e) => Err(e),
        };
        match connected {
            Ok(s) => return Ok((s, Some(pick))),
            Err(e) => {
                log.tls_failure = crate::access_log::tls_failure(&e);
                attempts.failed(pick, e, || true, log)?;
            }
        }
    }
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ProxyError> {
    let err = |e: io::Error| {
        ProxyError::new(Side::Upstream, ErrorKind::Connect, true)
            .with_target(addr)
            .with_source(e)
    };
    let s = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| err(io::ErrorKind::TimedOut.into()))?
        .map_err(err)?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// When either side last moved a byte.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Relaxed))
    }
}

/// A socket whose traffic counts as activity (and, downstream, as bytes).
struct Counted {
    stream: Stream,
    activity: Arc<Activity>,
    counters: Option<(Arc<TcpCounters>, ListenerMetrics)>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            this.activity.touch();
            if let Some((c, m)) = &this.counters {
                c.received.fetch_add(n, Relaxed);
                m.processed_bytes(n);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let n = ready!(Pin::new(&mut this.stream).poll_write(cx, buf))?;
        if n > 0 {
            this.activity.touch();
            if let Some((c, m)) = &this.counters {
                c.sent.fetch_add(n as u64, Relaxed);
                m.processed_bytes(n as u64);
            }
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
