//! Listening inside a task's network namespace, for the task alone.
//!
//! A socket belongs to the network namespace of the thread that created it, whichever
//! thread uses it later. So [`bind_in_netns`] makes its listener on a short-lived
//! thread that joined the task's namespace (`setns`), and hands it back: the agent's
//! runtime then serves it, while every other socket the agent opens (the relay's
//! connections to the API, say) stays in the host's namespace. The listener is also
//! bound to the namespace's `lo` (`SO_BINDTODEVICE`), so only connections that come
//! over `lo` (from the namespace's own processes) reach it: a packet for its address
//! that arrives on the task's `eth0`, from a neighbour that routes the address at the
//! task, finds no listener and is refused.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{
    bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
    SockaddrIn, SockaddrIn6,
};

/// The interface task-local listeners are bound to.
pub const LOOPBACK_DEVICE: &str = "lo";

/// Runs `f` on a new thread that first joined the network namespace at `ns_path`
/// (`/run/netns/<name>` or `/proc/<pid>/ns/net`), and returns what it returns.
pub fn run_in_netns<F, R>(ns_path: &Path, f: F) -> io::Result<R>
where
    F: FnOnce() -> io::Result<R> + Send,
    R: Send,
{
    let ns = File::open(ns_path)
        .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", ns_path.display())))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!("enter network namespace {}: {e}", ns_path.display()),
                )
            })?;
            drop(ns);
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A TCP listener on `addr` inside the network namespace at `ns_path`, bound to its
/// `lo`: reachable from the namespace's own processes only (see the module docs). The
/// address must be one of the namespace's (see
/// [`berth_tasknet::ensure_loopback_address`]). The listener is blocking, as `std`
/// makes them; for tokio set it non-blocking and use
/// `tokio::net::TcpListener::from_std`.
pub fn bind_in_netns(ns_path: &Path, addr: SocketAddr) -> io::Result<TcpListener> {
    run_in_netns(ns_path, || bind_local(addr))
}

/// A listener on `addr` in the calling thread's namespace, bound to `lo`, with
/// `SO_REUSEADDR` (a restarted agent binds again while old connections linger).
pub(crate) fn bind_local(addr: SocketAddr) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    setsockopt(&fd, sockopt::BindToDevice, &LOOPBACK_DEVICE.into())?;
    match addr {
        SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
        SocketAddr::V6(a) => bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?,
    }
    listen(&fd, Backlog::new(128)?)?;
    Ok(TcpListener::from(fd))
}
