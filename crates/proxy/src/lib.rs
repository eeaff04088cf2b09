//! The berth proxy: one beside each task, as ECS Service Connect injects Envoy.
//!
//! Its whole configuration is a versioned [`Snapshot`] (from a file, or streamed by the
//! agent), applied live with [`RunningProxy::apply`]: listeners that stay keep their
//! sockets and connections, balancers that stay keep their endpoints' health, and
//! in-flight requests finish on the configuration they started with.
//!
//! - **Egress** listeners (one per client alias, on its loopback VIP) forward to the
//!   endpoints of an upstream service: HTTP/1.1 with pooled keep-alive connections, HTTP/2
//!   (and gRPC) multiplexed, or TCP pass-through. Round robin or least request,
//!   outlier detection and a retry budget come from `berth-balance`.
//! - **Ingress** listeners (one per Service Connect service of the task) forward to the
//!   application on `127.0.0.1:containerPort`, adding `server: berth` and
//!   `x-berth-upstream-service-time`.
//! - **Admin**, on loopback or a Unix socket: readiness (after the first snapshot only),
//!   Prometheus metrics with Service Connect's CloudWatch names (`berth-telemetry`), the
//!   snapshot version, snapshot pushes, endpoint health and draining. Pushes and
//!   draining need the Unix socket (mode 0600) or, over TCP, the bearer token the proxy
//!   was given ([`ProxyConfig::admin_token`]); requests from web pages (`origin`, a body
//!   that is not JSON, a `host` that is not loopback) change nothing.
//!
//! **Requests never forwarded**: `CONNECT` gets 405 with `allow` (the proxy does not
//! tunnel: its listeners serve the services of a snapshot, not arbitrary destinations),
//! and a request head with two `host` lines, or a `host` that contradicts its absolute
//! target, gets 400 (RFC 9112 §3.2). Both close the connection; both are counted and
//! logged as the proxy's own answers (flag `DPE`), on the fast path and hyper's alike.
//!
//! **Workers**: connections are served by [`ProxyConfig::workers`] threads, each with its
//! own single-threaded runtime, its own `SO_REUSEPORT` socket per listener and its own
//! upstream connection pools, so that a request never leaves the thread its connection
//! was accepted on (thread-per-core, as nginx, HAProxy and Envoy). The control side (the
//! admin endpoint, applying snapshots) runs on the runtime [`start`] is called from.
//!
//! # Module map
//!
//! In layers, bottom first. A module imports only from its own layer and the layers
//! below, and no modules import each other in a cycle (`scripts/check-module-cycles`
//! checks both, from this list).
//!
//! 1. [`error`], `deadline`, `headers`, `h1`, `fasthash`, `drain`, `tls`, `admin_guard`:
//!    the one error type, the hyper path's per-request deadline, the heads and URIs of
//!    forwarded messages (and the requests refused), HTTP/1.1 heads and body framing for
//!    the fast path, the request path's hash map, draining, TLS (configs, handshakes,
//!    plain-or-TLS sockets), who may use the admin endpoint for what.
//! 2. `body`, `conn_ctx`, `rules`, `alb_reply`: request bodies (replayable for retries);
//!    what a downstream connection shares with its requests, and its head and idle
//!    timers; a load balancer's rule matching (pure) and its own answers (error pages,
//!    redirect locations, trace ids).
//! 3. `client`, `rawpool`, `health`: upstream connections: hyper's pools, and the fast
//!    path's plain sockets; a load balancer's health checks and which targets they let
//!    traffic go to.
//! 4. `state`, `alb_state`, `serving`: a snapshot's runtime form (routes; upstreams with
//!    their balancers, budgets and pools; a load balancer's listeners, rules and target
//!    groups); what listeners and their connections share.
//! 5. `access_log`: the records of requests and TCP connections, made on drop.
//! 6. `retry`: the attempt loop's decisions (picks, the retry policy and budget, the
//!    error an exhausted upstream ends with), the same for every egress path.
//! 7. `alb`, `egress`, `ingress`, `tcp`, `fast`: one request or TCP connection to its
//!    target: a load balancer's rules and forwarding headers (both HTTP paths), hyper's
//!    path (egress, ingress), TCP pass-through, the HTTP/1.1 fast path.
//! 8. `route`, `conn`: a downstream HTTP connection (the fast path first, then hyper's
//!    server) and the responses of hyper's path.
//! 9. `listener`: the accept loops.
//! 10. `worker`: the worker threads.
//! 11. `runtime`, `admin`: applying snapshots; the admin endpoint.
//!
//! Time: the request path reads tokio's clock (so tests can pause it); the balancer and
//! retry budget get `std::time::Instant`s.

#![warn(missing_docs)]

mod access_log;
mod admin;
mod admin_guard;
mod alb;
mod alb_reply;
mod alb_state;
mod body;
mod client;
mod conn;
mod conn_ctx;
mod deadline;
mod drain;
mod egress;
pub mod error;
mod fast;
mod fasthash;
mod h1;
mod headers;
mod health;
mod ingress;
mod listener;
mod rawpool;
mod retry;
mod route;
mod rules;
mod runtime;
mod serving;
mod state;
mod tcp;
mod tls;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

pub use admin::AdminAddr;
pub use admin_guard::{AdminToken, AdminTokenError};
pub use berth_proxy_config::{AnySnapshot, LoadBalancerSnapshot, Snapshot};
pub use drain::{DrainPhase, DrainStatus};
pub use error::{ApplyError, ErrorKind, ProxyError, Side};
pub use headers::{SERVER, UPSTREAM_SERVICE_TIME};
pub use listener::WorkerStatus;
pub use state::LogWriterFactory;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::AdminListener;
use crate::runtime::Inner;
use crate::serving::Settings;

/// The default admin address.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9901";

/// The proxy process's own settings (a snapshot has the rest).
pub struct ProxyConfig {
    /// Where the admin endpoint listens.
    pub admin: AdminAddr,
    /// The bearer token a TCP admin client must send to change the proxy (`POST
    /// /snapshot`, `POST /drain`); `None`: changes over TCP are refused. Not used on a
    /// Unix socket, whose file mode (0600) decides who connects.
    pub admin_token: Option<AdminToken>,
    /// Where access logs go; `None`: stdout. (A load balancer's go to the file its
    /// snapshot names.)
    pub access_log_writer: Option<LogWriterFactory>,
    /// Where a load balancer's target health changes go, one JSON line each
    /// (`berth_proxy_config::alb::TargetHealthChange`); `None`: stdout.
    pub health_report_writer: Option<Box<dyn std::io::Write + Send>>,
    /// How long a client may take to send a request head (and, at a connection's start,
    /// to begin one) before it gets 408; `None`: no limit. Default 10 s.
    pub header_read_timeout: Option<Duration>,
    /// The largest request head accepted (431 beyond). Default 60 KiB (Envoy's default);
    /// at least 8 KiB.
    pub max_header_bytes: usize,
    /// How long connecting to an endpoint may take. Default 5 s.
    pub connect_timeout: Duration,
    /// Worker threads serving connections (at least 1). Default 2.
    pub workers: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            admin: AdminAddr::Tcp(DEFAULT_ADMIN.parse().expect("a valid address")),
            admin_token: None,
            access_log_writer: None,
            health_report_writer: None,
            header_read_timeout: Some(Duration::from_secs(10)),
            max_header_bytes: 60 * 1024,
            connect_timeout: Duration::from_secs(5),
            workers: 2,
        }
    }
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("admin", &self.admin)
            .field("admin_token", &self.admin_token.is_some())
            .field("access_log_writer", &self.access_log_writer.is_some())
            .field("health_report_writer", &self.health_report_writer.is_some())
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .field("workers", &self.workers)
            .finish()
    }
}

/// A started proxy. It has no listener until the first snapshot is applied.
pub struct RunningProxy {
    inner: Arc<Inner>,
    admin_addr: AdminAddr,
    admin_stop: watch::Sender<bool>,
    admin_task: JoinHandle<()>,
    workers_exited: Vec<tokio::sync::oneshot::Receiver<()>>,
}

/// How long [`RunningProxy::shutdown`] lets open connections finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Starts the proxy: binds the admin endpoint and starts the worker threads; listeners
/// come with the first snapshot. The admin endpoint and snapshot application run on the
/// calling runtime.
pub async fn start(config: ProxyConfig) -> Result<RunningProxy, ProxyError> {
    let (listener, admin_addr) = AdminListener::bind(&config.admin).await?;
    let admin_token = match (&admin_addr, config.admin_token) {
        (AdminAddr::Unix(_), Some(_)) => {
            tracing::warn!(
                "the admin token is not used on a Unix socket (its file mode guards it)"
            );
            None
        }
        (_, token) => token,
    };
    let (workers, workers_exited) = worker::spawn(config.workers.max(1)).map_err(|e| {
        ProxyError::new(Side::Internal, ErrorKind::Config, false)
            .with_source(format!("starting the worker threads: {e}"))
    })?;
    let inner = Arc::new(Inner::new(
        Settings {
            header_read_timeout: config.header_read_timeout,
            connect_timeout: config.connect_timeout,
        },
        config.max_header_bytes,
        config.access_log_writer,
        config
            .health_report_writer
            .unwrap_or_else(|| Box::new(std::io::stdout())),
        workers,
    ));
    let (admin_stop, stop_rx) = watch::channel(false);
    let admin_task = tokio::spawn(admin::serve(
        listener,
        admin_token,
        Arc::clone(&inner),
        stop_rx,
    ));
    tracing::info!(
        admin = %admin_addr,
        workers = inner.worker_count(),
        "proxy started; waiting for a snapshot"
    );
    Ok(RunningProxy {
        inner,
        admin_addr,
        admin_stop,
        admin_task,
        workers_exited,
    })
}

impl RunningProxy {
    /// Applies a snapshot (of either kind). An older version is refused, the same
    /// version is a no-op, and an invalid snapshot (or one whose new listeners cannot be
    /// bound) leaves the running configuration as it was.
    pub async fn apply(&self, snapshot: impl Into<AnySnapshot>) -> Result<(), ApplyError> {
        self.inner.apply(snapshot.into()).await
    }

    /// The health of the load balancer's targets (what `GET /targets` answers).
    pub fn targets(&self) -> berth_proxy_config::alb::TargetsReport {
        self.inner.targets()
    }

    /// Starts draining: ingress listeners stop accepting, ingress connections finish
    /// their in-flight requests and close. Egress keeps serving the application.
    pub fn drain(&self) {
        self.inner.serving.drain.start();
    }

    /// Waits until draining is complete (it must have been started).
    pub async fn drained(&self) {
        self.inner.serving.drain.drained().await
    }

    /// Where draining stands.
    pub fn drain_status(&self) -> DrainStatus {
        self.inner.serving.drain.status()
    }

    /// Whether a snapshot has been applied.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(SeqCst)
    }

    /// The version of the snapshot in force.
    pub fn version(&self) -> Option<u64> {
        self.inner.current.load().as_ref().map(|s| s.version)
    }

    /// Where the admin endpoint listens (with the actual port when 0 was asked).
    pub fn admin_addr(&self) -> &AdminAddr {
        &self.admin_addr
    }

    /// The address the listener configured as `listen` is bound to (differs for port 0).
    pub async fn listener_addr(&self, listen: SocketAddr) -> Option<SocketAddr> {
        self.inner.listener_addr(listen).await
    }

    /// The Prometheus text of the metrics (what `GET /metrics` answers).
    pub fn render_metrics(&self) -> String {
        self.inner.metrics.render()
    }

    /// What each worker thread is doing (listening sockets, connections).
    pub fn workers(&self) -> Vec<WorkerStatus> {
        self.inner.worker_statuses()
    }

    /// Stops the admin endpoint and every listener (open connections are told to finish
    /// gracefully, and get a moment to), stops the workers, and flushes the access log.
    pub async fn shutdown(mut self) {
        self.admin_stop.send_replace(true);
        let _ = (&mut self.admin_task).await;
        self.inner.close(SHUTDOWN_GRACE).await;
        for exited in std::mem::take(&mut self.workers_exited) {
            let _ = exited.await;
        }
        if let Some(state) = self.inner.current.load_full() {
            let sc = state.logger.as_ref().map(|(_, l)| l);
            let lb = state
                .alb
                .as_ref()
                .and_then(|a| a.logger.as_ref())
                .map(|(_, l)| l);
            for logger in sc.into_iter().chain(lb) {
                let logger = Arc::clone(logger);
                let _ = tokio::task::spawn_blocking(move || logger.flush()).await;
            }
        }
    }
}

impl Drop for RunningProxy {
    /// Without [`shutdown`](RunningProxy::shutdown): the admin endpoint and the workers
    /// stop at once.
    fn drop(&mut self) {
        self.admin_stop.send_replace(true);
        self.inner.abandon();
    }
}
