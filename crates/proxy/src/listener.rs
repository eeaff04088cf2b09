//! Listeners: one accept loop per listen address. A listener keeps its socket across
//! snapshots as long as its address stays (its [`Route`] is swapped underneath); it stops
//! accepting when a snapshot removes it (its open connections finish: HTTP ones shut down
//! gracefully) or, for ingress, when the proxy drains.

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

/// What a listener's connections share.
pub(crate) struct ListenerShared {
    /// The current route, read once per request (HTTP) or connection (TCP).
    pub slot: ArcSwap<Route>,
    pub proxy: Arc<Inner>,
    pub local: SocketAddr,
}

/// A running listener.
pub(crate) struct ListenerHandle {
    pub shared: Arc<ListenerShared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ListenerHandle {
    pub(crate) fn start(
        listener: TcpListener,
        route: Arc<Route>,
        proxy: Arc<Inner>,
    ) -> ListenerHandle {
        let local = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(ListenerShared {
            slot: ArcSwap::new(route),
            proxy,
            local,
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stop_rx));
        ListenerHandle { shared, stop, task }
    }

    /// The address it is bound to (differs from the configured one for port 0).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.shared.local
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
                    Ok((stream, peer)) => accepted(stream, peer, &ls, &close),
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
    close: &watch::Sender<bool>,
) {
    let _ = stream.set_nodelay(true);
    let route = ls.slot.load_full();
    let proxy = &ls.proxy;
    let drain = route.is_ingress().then(|| proxy.drain.connection());
    if route.protocol().is_http() {
        let timers = ConnTimers {
            header: proxy.settings.header_read_timeout,
            idle: route.idle(),
        };
        tokio::spawn(conn::serve_http(
            stream,
            peer,
            Arc::clone(ls),
            timers,
            route.log.metrics.clone(),
            close.subscribe(),
            drain,
        ));
    } else {
        let id = proxy.conn_ids.fetch_add(1, Relaxed);
        tokio::spawn(crate::tcp::serve(
            stream,
            peer,
            ls.local,
            route,
            proxy.settings.connect_timeout,
            id,
            drain,
        ));
    }
}
