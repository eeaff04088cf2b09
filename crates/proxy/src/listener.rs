//! Listeners: one accept loop per listen address and worker (each worker has its own
//! socket, see [`crate::worker`]). A listener keeps its sockets across snapshots as long
//! as its address stays (its route is swapped underneath, for every worker at once);
//! it stops accepting when a snapshot removes it (its open connections finish: HTTP ones
//! shut down gracefully) or, for ingress, when the proxy drains.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::conn;
use crate::conn_ctx::ConnTimers;
use crate::serving::ListenerShared;
use crate::state::{Route, RouteKind};
use crate::tls::{self, Accepted, Stream};

/// How long a client has to complete a TLS handshake when no head timeout is set.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one worker is doing, for [`crate::RunningProxy::workers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerStatus {
    /// Listening sockets the worker accepts on (ingress ones stop when draining).
    pub listeners: usize,
    /// Connections it has accepted since it started.
    pub connections_accepted: u64,
    /// Connections it serves now.
    pub connections_open: usize,
}

/// A worker's counters, shared with the control side.
#[derive(Debug, Default)]
pub(crate) struct WorkerStats {
    listeners: AtomicUsize,
    accepted: AtomicU64,
    open: AtomicUsize,
}

impl WorkerStats {
    /// A connection was accepted; it counts as open until the guard drops.
    pub(crate) fn accepted(self: &Arc<Self>) -> OpenConn {
        self.accepted.fetch_add(1, Relaxed);
        self.open.fetch_add(1, Relaxed);
        OpenConn(Arc::clone(self))
    }

    /// An accept loop starts; it counts until the guard drops.
    pub(crate) fn listening(self: &Arc<Self>) -> Listening {
        self.listeners.fetch_add(1, Relaxed);
        Listening(Arc::clone(self))
    }

    pub(crate) fn status(&self) -> WorkerStatus {
        WorkerStatus {
            listeners: self.listeners.load(Relaxed),
            connections_accepted: self.accepted.load(Relaxed),
            connections_open: self.open.load(Relaxed),
        }
    }
}

/// One accept loop of a worker.
pub(crate) struct Listening(Arc<WorkerStats>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.listeners.fetch_sub(1, Relaxed);
    }
}

/// One open connection of a worker.
pub(crate) struct OpenConn(Arc<WorkerStats>);

impl Drop for OpenConn {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// A running accept loop (of one worker).
pub(crate) struct ListenerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ListenerHandle {
    /// Starts accepting on `listener`, on the current (worker's) runtime.
    pub(crate) fn start(
        listener: TcpListener,
        shared: Arc<ListenerShared>,
        stats: Arc<WorkerStats>,
    ) -> ListenerHandle {
        let (stop, stop_rx) = watch::channel(false);
        let listening = stats.listening();
        let task = tokio::spawn(async move {
            accept_loop(listener, shared, stats, stop_rx).await;
            drop(listening);
        });
        ListenerHandle { stop, task }
    }

    /// Stops accepting and waits until the socket is closed.
    pub(crate) async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    ls: Arc<ListenerShared>,
    stats: Arc<WorkerStats>,
    mut stop: watch::Receiver<bool>,
) {
    let (close, _) = watch::channel(false);
    let mut drain = ls.serving.drain.subscribe();
    let mut drain_seen = *drain.borrow_and_update();
    if !(drain_seen && ls.slot.load().is_ingress()) {
        tracing::info!(addr = %ls.local, "listening");
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = drain.changed(), if !drain_seen => {
                    drain_seen = true;
                    if ls.slot.load().is_ingress() {
                        tracing::info!(addr = %ls.local, "draining: no more connections");
                        break;
                    }
                }
                r = listener.accept() => match r {
                    Ok((stream, peer)) => accepted(stream, peer, &ls, &stats, &close),
                    Err(e) => {
                        // Out of file descriptors, or the like: wait a little.
                        tracing::warn!(addr = %ls.local, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }
    drop(listener);
    // HTTP connections finish their requests and close.
    close.send_replace(true);
}

fn accepted(
    stream: TcpStream,
    peer: SocketAddr,
    ls: &Arc<ListenerShared>,
    stats: &Arc<WorkerStats>,
    close: &watch::Sender<bool>,
) {
    let open = stats.accepted();
    let _ = stream.set_nodelay(true);
    let route = ls.slot.load_full();
    let ls = Arc::clone(ls);
    let close = close.subscribe();
    tokio::spawn(async move {
        if let Some(a) = handshake(stream, peer, &route, &ls).await {
            serve(a, route, &ls, close).await;
        }
        drop(open);
    });
}

/// TLS, when the route terminates it; `None` when the handshake failed (counted in
/// `ClientTLSNegotiationErrorCount`). A verified client certificate's identity is
/// counted in `ClientIdentityConnectionCount`.
async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    route: &Route,
    ls: &ListenerShared,
) -> Option<Accepted> {
    let plain = |stream| Accepted {
        stream: Stream::Plain(stream),
        peer,
        identity: None,
    };
    let RouteKind::Ingress(app) = &route.kind else {
        return Some(plain(stream));
    };
    let Some(server) = &app.tls else {
        return Some(plain(stream));
    };
    let limit = ls
        .serving
        .settings
        .header_read_timeout
        .unwrap_or(HANDSHAKE_TIMEOUT);
    let reason = match tokio::time::timeout(limit, tls::accept(server, stream)).await {
        Ok(Ok(s)) => {
            let identity = tls::peer_identity(&s).map(Arc::<str>::from);
            if let Some(id) = &identity {
                route.log.metrics.client_identity(id);
            }
            return Some(Accepted {
                stream: s,
                peer,
                identity,
            });
        }
        Ok(Err(e)) => e.reason(),
        Err(_) => "handshake timed out".to_string(),
    };
    route.log.metrics.client_tls_error();
    tracing::info!(%peer, listener = %route.log.name, %reason, "client TLS handshake failed");
    None
}

/// Serves one accepted connection: HTTP or TCP pass-through.
async fn serve(
    a: Accepted,
    route: Arc<Route>,
    ls: &Arc<ListenerShared>,
    close: watch::Receiver<bool>,
) {
    let serving = &ls.serving;
    let drain = route.is_ingress().then(|| serving.drain.connection());
    if route.protocol().is_http() {
        let timers = ConnTimers {
            header: serving.settings.header_read_timeout,
            idle: route.idle(),
        };
        let metrics = route.log.metrics.clone();
        conn::serve_http(a, Arc::clone(ls), timers, metrics, close, drain).await;
    } else {
        let id = serving.conn_ids.fetch_add(1, Relaxed);
        let settings = serving.settings;
        crate::tcp::serve(a, ls.local, route, settings.connect_timeout, id, drain).await;
    }
}
