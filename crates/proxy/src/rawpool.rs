//! The fast path's upstream connections: plain keep-alive sockets, pooled per
//! [`Http1Pool`] (upstream or ingress application), endpoint and worker thread, in a
//! thread-local map, as the hyper pool of [`crate::client`] is. No task per connection:
//! an idle one sits in its stack; one sweeper task per pool and endpoint (and thread)
//! closes those idle past the upstream's idle timeout, those the target closed, and all
//! of them once the pool is gone.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::client::Http1Pool;
use crate::fasthash::FastMap;

/// Idle connections kept per endpoint (and worker), at most.
const MAX_IDLE: usize = 1024;

/// How often idle connections are checked when the upstream has no idle timeout.
const ORPHAN_CHECK: Duration = Duration::from_secs(30);

/// (pool, endpoint).
type Key = (u64, SocketAddr);

struct Entry {
    idle: Vec<(TcpStream, Instant)>,
    sweeping: bool,
}

thread_local! {
    static RAW: RefCell<FastMap<Key, Entry>> = RefCell::new(FastMap::default());
}

/// Whether an idle socket can no longer be used: the target closed it or sent
/// something unasked. Costs a syscall only when the runtime saw it readable.
fn stale(s: &TcpStream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match s.poll_read_ready(&mut cx) {
        Poll::Pending => false,
        Poll::Ready(Err(_)) => true,
        Poll::Ready(Ok(())) => {
            let mut b = [0u8; 1];
            !matches!(s.try_read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        }
    }
}

/// The most recently used idle connection of `pool` to `target` that is still usable.
pub(crate) fn checkout(pool: &Http1Pool, target: SocketAddr) -> Option<TcpStream> {
    let key = (pool.id, target);
    RAW.try_with(|m| {
        let mut m = m.borrow_mut();
        let e = m.get_mut(&key)?;
        while let Some((s, since)) = e.idle.pop() {
            if pool.idle.is_some_and(|d| since.elapsed() >= d) || stale(&s) {
                continue;
            }
            return Some(s);
        }
        None
    })
    .ok()
    .flatten()
}

/// Connects to `target` (`TCP_NODELAY`), within the pool's connect timeout.
pub(crate) async fn connect(pool: &Http1Pool, target: SocketAddr) -> io::Result<TcpStream> {
    let s = match tokio::time::timeout(pool.connect_timeout, TcpStream::connect(target)).await {
        Ok(r) => r?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    };
    s.set_nodelay(true)?;
    Ok(s)
}

/// Gives a connection whose last response ended cleanly back to the pool.
pub(crate) fn check_in(pool: &Http1Pool, target: SocketAddr, s: TcpStream) {
    let key = (pool.id, target);
    let start = RAW
        .try_with(|m| {
            let mut m = m.borrow_mut();
            let e = m.entry(key).or_insert_with(|| Entry {
                idle: Vec::new(),
                sweeping: false,
            });
            if e.idle.len() < MAX_IDLE {
                e.idle.push((s, Instant::now()));
            }
            !std::mem::replace(&mut e.sweeping, true)
        })
        .unwrap_or(false);
    if start {
        tokio::spawn(sweep(key, pool.idle, pool.gone.subscribe()));
    }
}

/// Closes idle connections past `idle`, closed ones, and all once the pool is gone;
/// ends when there is none left.
async fn sweep(key: Key, idle: Option<Duration>, gone: tokio::sync::watch::Receiver<()>) {
    let period = idle.map_or(ORPHAN_CHECK, |d| {
        (d / 2).clamp(Duration::from_millis(100), ORPHAN_CHECK)
    });
    loop {
        tokio::time::sleep(period).await;
        let orphan = gone.has_changed().is_err();
        let done = RAW
            .try_with(|m| {
                let mut m = m.borrow_mut();
                let Some(e) = m.get_mut(&key) else {
                    return true;
                };
                e.idle.retain(|(s, since)| {
                    !orphan && idle.is_none_or(|d| since.elapsed() < d) && !stale(s)
                });
                if e.idle.is_empty() {
                    m.remove(&key);
                    return true;
                }
                false
            })
            .unwrap_or(true);
        if done {
            return;
        }
    }
}
