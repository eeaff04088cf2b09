//! Workers: thread-per-core, as nginx, HAProxy and Envoy do. Each worker is an OS thread
//! running its own single-threaded tokio runtime, with its own listening socket for
//! every listener address (`SO_REUSEPORT`: the kernel spreads new connections over the
//! workers' sockets). A connection, its requests and the pooled upstream connections
//! they use (each upstream has one pool per worker thread, see [`crate::client`]) all live on
//! one thread: a request never wakes another thread.
//!
//! The control side (snapshot application, admin) runs elsewhere and drives the workers
//! with [`Cmd`]s: start a listener (its socket is bound by the control side, so that a
//! failing bind changes nothing), stop one, exit. Each command is acknowledged, so an
//! apply returns once every worker has started and stopped what it changed. What the
//! request path reads (routes, balancers, budgets, metrics) is shared, through `Arc`s
//! and atomics.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::listener::{ListenerHandle, WorkerStats, WorkerStatus};
use crate::serving::ListenerShared;

/// What the control side asks of a worker.
pub(crate) enum Cmd {
    /// Accept on `listener` (bound for `addr`, the configured address).
    Start {
        addr: SocketAddr,
        listener: std::net::TcpListener,
        shared: Arc<ListenerShared>,
        done: oneshot::Sender<()>,
    },
    /// Stop accepting on `addr` (its HTTP connections finish gracefully).
    Stop {
        addr: SocketAddr,
        done: oneshot::Sender<()>,
    },
    /// Stop every listener, give open connections up to `grace` to finish, and exit.
    Exit { grace: Duration },
}

/// The control side's handle on one worker.
pub(crate) struct Worker {
    tx: mpsc::UnboundedSender<Cmd>,
    stats: Arc<WorkerStats>,
}

impl Worker {
    /// Sends a command; a worker that is gone ignores it.
    pub(crate) fn send(&self, cmd: Cmd) {
        let _ = self.tx.send(cmd);
    }

    pub(crate) fn status(&self) -> WorkerStatus {
        self.stats.status()
    }
}

/// Starts `n` workers. The receivers fire when each worker's thread has finished.
pub(crate) fn spawn(n: usize) -> io::Result<(Vec<Worker>, Vec<oneshot::Receiver<()>>)> {
    let mut workers = Vec::with_capacity(n);
    let mut exited = Vec::with_capacity(n);
    for id in 0..n {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WorkerStats::default());
        let (done_tx, done_rx) = oneshot::channel();
        let st = Arc::clone(&stats);
        std::thread::Builder::new()
            .name(format!("berth-worker-{id}"))
            .spawn(move || {
                rt.block_on(run(rx, st));
                // Whatever is left (connections past the grace period) ends here.
                drop(rt);
                let _ = done_tx.send(());
            })?;
        workers.push(Worker { tx, stats });
        exited.push(done_rx);
    }
    Ok((workers, exited))
}

async fn run(mut rx: mpsc::UnboundedReceiver<Cmd>, stats: Arc<WorkerStats>) {
    let mut open: HashMap<SocketAddr, ListenerHandle> = HashMap::new();
    let mut grace = Duration::ZERO;
    while let Some(cmd) = rx.recv().await {
        match cmd {
            Cmd::Start {
                addr,
                listener,
                shared,
                done,
            } => {
                match TcpListener::from_std(listener) {
                    Ok(l) => {
                        let h = ListenerHandle::start(l, shared, Arc::clone(&stats));
                        if let Some(old) = open.insert(addr, h) {
                            old.stop().await;
                        }
                    }
                    Err(e) => tracing::error!(%addr, error = %e, "worker cannot accept"),
                }
                let _ = done.send(());
            }
            Cmd::Stop { addr, done } => {
                if let Some(h) = open.remove(&addr) {
                    h.stop().await;
                }
                let _ = done.send(());
            }
            Cmd::Exit { grace: g } => {
                grace = g;
                break;
            }
        }
    }
    for (_, h) in open.drain() {
        h.stop().await;
    }
    // HTTP connections were told to finish gracefully: give them a moment.
    let deadline = tokio::time::Instant::now() + grace;
    while stats.status().connections_open > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Binds `n` listening sockets to `addr` with `SO_REUSEPORT` (one per worker) and returns
/// the address they are bound to with them. For port 0, the first picks the port and the
/// others join it. Must run inside a tokio runtime (the sockets are returned unregistered,
/// for the workers to register).
pub(crate) fn bind(
    addr: SocketAddr,
    n: usize,
) -> io::Result<(SocketAddr, Vec<std::net::TcpListener>)> {
    let mut out = Vec::with_capacity(n);
    let mut at = addr;
    for _ in 0..n {
        let s = if at.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        s.set_reuseaddr(true)?;
        s.set_reuseport(true)?;
        s.bind(at)?;
        let l = s.listen(1024)?;
        at = l.local_addr()?;
        out.push(l.into_std()?);
    }
    Ok((at, out))
}

/// The status of every worker.
pub(crate) fn statuses(workers: &[Worker]) -> Vec<WorkerStatus> {
    workers.iter().map(Worker::status).collect()
}
