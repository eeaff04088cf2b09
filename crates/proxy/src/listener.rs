//! Listeners: one accept loop per listen address and worker (each worker has its own
//! socket, see [`crate::worker`]). A listener keeps its sockets across snapshots as long
//! as its address stays (its [`Route`] is swapped underneath, for every worker at once);
//! it stops accepting when a snapshot removes it (its open connections finish: HTTP ones
//! shut down gracefully) or, for ingress, when the proxy drains.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::conn::{self, ConnTimers};
use crate::runtime::Inner;
use crate::state::Route;
use crate::worker::WorkerStats;

/// What a listener's connections share (on every worker).
pub(crate) struct ListenerShared {
    /// The current route, read once per request (HTTP) or connection (TCP).
    pub slot: ArcSwap<Route>,
    pub proxy: Arc<Inner>,
    pub local: SocketAddr,
}

impl ListenerShared {
    /// `local`: the address the sockets are bound to (differs from the configured one
    /// for port 0).
    pub(crate) fn new(route: Arc<Route>, proxy: Arc<Inner>, local: SocketAddr) -> Self {
        ListenerShared {
            slot: ArcSwap::new(route),
            proxy,
            local,
        }
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
    let mut drain = ls.proxy.drain.subscribe();
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
    let proxy = &ls.proxy;
    let drain = route.is_ingress().then(|| proxy.drain.connection());
    if route.protocol().is_http() {
        let timers = ConnTimers {
            header: proxy.settings.header_read_timeout,
            idle: route.idle(),
        };
        let serve = conn::serve_http(
            stream,
            peer,
            Arc::clone(ls),
            timers,
            route.log.metrics.clone(),
            close.subscribe(),
            drain,
        );
        tokio::spawn(async move {
            serve.await;
            drop(open);
        });
    } else {
        let id = proxy.conn_ids.fetch_add(1, Relaxed);
        let serve = crate::tcp::serve(
            stream,
            peer,
            ls.local,
            route,
            proxy.settings.connect_timeout,
            id,
            drain,
        );
        tokio::spawn(async move {
            serve.await;
            drop(open);
        });
    }
}
