//! What the serving side shares: the proxy process's settings with hyper's server and the
//! drain counters ([`Serving`], one for the proxy), and each listener's current route
//! ([`ListenerShared`], one per listen address, for every worker).

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

use crate::drain::Drain;
use crate::state::Route;

/// Settings of the proxy process (not of a snapshot).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub header_read_timeout: Option<Duration>,
    pub connect_timeout: Duration,
}

/// What every listener and connection shares.
pub(crate) struct Serving {
    pub http: auto::Builder<TokioExecutor>,
    pub settings: Settings,
    /// The largest request head accepted (431 beyond).
    pub max_header_bytes: usize,
    pub drain: Arc<Drain>,
    /// The id of the next TCP connection (for its access log record).
    pub conn_ids: AtomicU64,
}

impl Serving {
    pub(crate) fn new(settings: Settings, max_header_bytes: usize) -> Serving {
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            // The proxy's own head timer answers 408 (see `conn`).
            .header_read_timeout(None)
            .keep_alive(true)
            .max_buf_size(max_header_bytes.max(8192));
        http.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX));
        Serving {
            http,
            settings,
            max_header_bytes: max_header_bytes.max(8192),
            drain: Arc::new(Drain::new()),
            conn_ids: AtomicU64::new(1),
        }
    }
}

/// What a listener's connections share (on every worker).
pub(crate) struct ListenerShared {
    /// The current route, read once per request (HTTP) or connection (TCP).
    pub slot: ArcSwap<Route>,
    pub serving: Arc<Serving>,
    pub local: SocketAddr,
}

impl ListenerShared {
    /// `local`: the address the sockets are bound to (differs from the configured one
    /// for port 0).
    pub(crate) fn new(route: Arc<Route>, serving: Arc<Serving>, local: SocketAddr) -> Self {
        ListenerShared {
            slot: ArcSwap::new(route),
            serving,
            local,
        }
    }
}
