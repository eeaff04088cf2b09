//! The admin endpoint, on loopback TCP or a Unix socket (created mode 0600) only. Who may
//! use which endpoint on which transport is [`crate::admin_guard`]'s: in short, changes
//! (the `POST`s) need the Unix socket or, over TCP, the proxy's bearer token; never from
//! a web page.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /ready` | 200 `ready` once a snapshot is applied; 503 before, and while draining |
//! | `GET /metrics` | Prometheus text (Service Connect's CloudWatch names) |
//! | `GET /version` | `{"version": N}` (`null` before the first snapshot) |
//! | `GET /snapshot` | the snapshot in force (private keys redacted) |
//! | `GET /certificates` | the TLS certificates in force: listener, identity, names, validity |
//! | `POST /snapshot` | applies the snapshot in the body: 200 `{"version": N}`, or 400 `{"error": ...}` |
//! | `POST /drain` | starts draining: 202 with the drain status |
//! | `GET /drain` | `{"state": "serving"/"draining"/"drained", "inFlight": N, "connections": N}` |
//! | `GET /endpoints` | each upstream's endpoints and their health |
//! | `GET /targets` | a load balancer's targets and their health (`berth_proxy_config::alb::TargetsReport`) |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Instant as StdInstant;

use berth_proxy_config::AnySnapshot;
use berth_telemetry::Metrics;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::admin_guard::{Access, AdminGuard, AdminToken, ChangeBody, Transport};
use crate::error::{ErrorKind, ProxyError, Side};
use crate::runtime::Inner;

/// Where the admin endpoint listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAddr {
    /// A loopback TCP address (others are refused); port 0 picks a free port.
    Tcp(SocketAddr),
    /// A Unix socket path (replaced if it exists), created mode 0600.
    Unix(PathBuf),
}

impl std::str::FromStr for AdminAddr {
    type Err = String;

    /// `127.0.0.1:9901` or `unix:/path/to/socket`.
    fn from_str(s: &str) -> Result<AdminAddr, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            return Ok(AdminAddr::Unix(PathBuf::from(p)));
        }
        let a: SocketAddr = s
            .parse()
            .map_err(|e| format!("'{s}' is neither ip:port nor unix:/path: {e}"))?;
        Ok(AdminAddr::Tcp(a))
    }
}

impl std::fmt::Display for AdminAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminAddr::Tcp(a) => write!(f, "{a}"),
            AdminAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// The largest snapshot `POST /snapshot` takes.
const MAX_SNAPSHOT_BYTES: usize = 16 << 20;

/// The admin listener's socket.
pub(crate) enum AdminListener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, PathBuf),
}

impl AdminListener {
    /// Binds `addr` (loopback TCP only; a Unix socket replaces any file at its path):
    /// the listener and the address it is bound to.
    pub(crate) async fn bind(addr: &AdminAddr) -> Result<(AdminListener, AdminAddr), ProxyError> {
        let bind_err = |e: std::io::Error| {
            ProxyError::new(Side::Internal, ErrorKind::Bind, false)
                .with_source(format!("the admin endpoint {addr}: {e}"))
        };
        match addr {
            AdminAddr::Tcp(a) => {
                if !a.ip().is_loopback() {
                    return Err(ProxyError::new(Side::Internal, ErrorKind::Config, false)
                        .with_source(format!("the admin address {a} is not a loopback address")));
                }
                let l = tokio::net::TcpListener::bind(a).await.map_err(bind_err)?;
                let bound = l.local_addr().map_err(bind_err)?;
                Ok((AdminListener::Tcp(l), AdminAddr::Tcp(bound)))
            }
            AdminAddr::Unix(p) => {
                let l = bind_private(p).map_err(bind_err)?;
                Ok((
                    AdminListener::Unix(l, p.clone()),
                    AdminAddr::Unix(p.clone()),
                ))
            }
        }
    }

    fn transport(&self) -> Transport {
        match self {
            AdminListener::Tcp(_) => Transport::Tcp,
            AdminListener::Unix(..) => Transport::Unix,
        }
    }
}

/// A Unix socket at `path` that only its owner may connect to: bound under a temporary
/// name, made 0600, then renamed over `path`, so that it is never reachable with the
/// mode the umask would give.
fn bind_private(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let l = std::os::unix::net::UnixListener::bind(&tmp)?;
    let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    l.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(l)
}

/// Serves the admin endpoint until `stop` fires; `token` lets TCP clients change the
/// proxy.
pub(crate) async fn serve(
    listener: AdminListener,
    token: Option<AdminToken>,
    inner: Arc<Inner>,
    mut stop: watch::Receiver<bool>,
) {
    let guard = Arc::new(AdminGuard::new(listener.transport(), token));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = accept(&listener) => match r {
                Ok(Conn::Tcp(s)) => spawn_conn(s, &inner, &guard),
                Ok(Conn::Unix(s)) => spawn_conn(s, &inner, &guard),
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
    if let AdminListener::Unix(_, path) = &listener {
        let _ = std::fs::remove_file(path);
    }
}

enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(l: &AdminListener) -> std::io::Result<Conn> {
    match l {
        AdminListener::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
        AdminListener::Unix(l, _) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
    }
}

fn spawn_conn<S>(s: S, inner: &Arc<Inner>, guard: &Arc<AdminGuard>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let inner = Arc::clone(inner);
    let guard = Arc::clone(guard);
    tokio::spawn(async move {
        let svc = hyper::service::service_fn(move |req| {
            let inner = Arc::clone(&inner);
            let guard = Arc::clone(&guard);
            async move { Ok::<_, Infallible>(handle(req, &inner, &guard).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(s), svc)
            .await;
    });
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_reply(status: StatusCode, v: serde_json::Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", format!("{v}\n"))
}

/// What an admin request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Ready,
    Metrics,
    Version,
    Snapshot,
    ApplySnapshot,
    Drain,
    DrainStatus,
    Endpoints,
    Targets,
    Certificates,
    NotFound,
}

impl Endpoint {
    fn of(method: &Method, path: &str) -> Endpoint {
        match (method, path) {
            (&Method::GET, "/ready") => Endpoint::Ready,
            (&Method::GET, "/metrics") => Endpoint::Metrics,
            (&Method::GET, "/version") => Endpoint::Version,
            (&Method::GET, "/snapshot") => Endpoint::Snapshot,
            (&Method::POST, "/snapshot") => Endpoint::ApplySnapshot,
            (&Method::POST, "/drain") => Endpoint::Drain,
            (&Method::GET, "/drain") => Endpoint::DrainStatus,
            (&Method::GET, "/endpoints") => Endpoint::Endpoints,
            (&Method::GET, "/targets") => Endpoint::Targets,
            (&Method::GET, "/certificates") => Endpoint::Certificates,
            _ => Endpoint::NotFound,
        }
    }

    /// Whether it changes the proxy, and with what body.
    fn access(self) -> Access {
        match self {
            Endpoint::ApplySnapshot => Access::Change(ChangeBody::Json),
            Endpoint::Drain => Access::Change(ChangeBody::Empty),
            _ => Access::Read,
        }
    }
}

/// Answers one admin request, if `guard` lets it through.
async fn handle(
    req: Request<Incoming>,
    inner: &Arc<Inner>,
    guard: &AdminGuard,
) -> Response<Full<Bytes>> {
    let endpoint = Endpoint::of(req.method(), req.uri().path());
    if let Err(denied) = guard.check(req.headers(), endpoint.access()) {
        tracing::warn!(
            method = %req.method(),
            path = req.uri().path(),
            ?denied,
            "admin request refused"
        );
        return json_reply(denied.status(), json!({ "error": denied.message() }));
    }
    match endpoint {
        Endpoint::Ready => ready(inner),
        Endpoint::Metrics => reply(
            StatusCode::OK,
            Metrics::CONTENT_TYPE,
            inner.metrics.render(),
        ),
        Endpoint::Version => {
            let v = inner.current.load().as_ref().map(|s| s.version);
            json_reply(StatusCode::OK, json!({ "version": v }))
        }
        Endpoint::Snapshot => match inner.current.load_full() {
            Some(s) => reply(
                StatusCode::OK,
                "application/json",
                s.snapshot.redacted().to_line() + "\n",
            ),
            None => json_reply(StatusCode::NOT_FOUND, json!({ "error": "no snapshot yet" })),
        },
        Endpoint::ApplySnapshot => post_snapshot(req, inner).await,
        Endpoint::Drain => {
            inner.serving.drain.start();
            json_reply(StatusCode::ACCEPTED, drain_json(inner))
        }
        Endpoint::DrainStatus => json_reply(StatusCode::OK, drain_json(inner)),
        Endpoint::Endpoints => json_reply(StatusCode::OK, endpoints_json(inner)),
        Endpoint::Targets => json_reply(
            StatusCode::OK,
            serde_json::to_value(inner.targets()).unwrap_or_default(),
        ),
        Endpoint::Certificates => json_reply(StatusCode::OK, certificates_json(inner)),
        Endpoint::NotFound => json_reply(StatusCode::NOT_FOUND, json!({ "error": "not found" })),
    }
}

/// `/ready`: 200 once a snapshot is applied, 503 before that and while draining.
fn ready(inner: &Inner) -> Response<Full<Bytes>> {
    if inner.serving.drain.is_draining() {
        reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "draining\n")
    } else if inner.ready.load(SeqCst) {
        reply(StatusCode::OK, "text/plain", "ready\n")
    } else {
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "no snapshot yet\n",
        )
    }
}

/// `POST /snapshot`: applies the snapshot in the body; 400 naming what is wrong.
async fn post_snapshot(req: Request<Incoming>, inner: &Arc<Inner>) -> Response<Full<Bytes>> {
    let bad = |e: String| json_reply(StatusCode::BAD_REQUEST, json!({ "error": e }));
    let body = match Limited::new(req.into_body(), MAX_SNAPSHOT_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => return bad(e.to_string()),
    };
    let snapshot = match AnySnapshot::from_json(&body) {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    let version = snapshot.version();
    match inner.apply(snapshot).await {
        Ok(()) => json_reply(StatusCode::OK, json!({ "version": version })),
        Err(e) => bad(e.to_string()),
    }
}

/// `/endpoints`: each upstream's endpoints with their balancer state.
fn endpoints_json(inner: &Inner) -> serde_json::Value {
    let now = StdInstant::now();
    let mut ups = serde_json::Map::new();
    if let Some(state) = inner.current.load_full() {
        for (name, u) in &state.upstreams {
            let eps: Vec<_> = u
                .balancer
                .status(now)
                .into_iter()
                .map(|s| {
                    json!({
                        "address": s.addr.to_string(),
                        "inFlight": s.in_flight,
                        "consecutiveFailures": s.consecutive_failures,
                        "ejections": s.ejections,
                        "ejected": s.ejected_for.is_some(),
                        "ejectedForMs": s.ejected_for.map(|d| d.as_millis() as u64),
                    })
                })
                .collect();
            ups.insert(name.clone(), json!(eps));
        }
    }
    json!({ "upstreams": ups })
}

/// `/certificates`: the certificate of each TLS ingress listener and the client
/// certificate, as their first certificate says.
fn certificates_json(inner: &Inner) -> serde_json::Value {
    let mut out = Vec::new();
    if let Some(state) = inner.current.load_full() {
        let AnySnapshot::ServiceConnect(snap) = &state.snapshot else {
            return json!({ "certificates": out });
        };
        let ingress = (snap.ingress.iter()).filter_map(|g| {
            Some((
                "ingress",
                g.discovery_name.as_str(),
                &g.tls.as_ref()?.certified,
            ))
        });
        let client = (snap.client_certificate.iter()).map(|c| ("client", "", c));
        for (role, listener, c) in ingress.chain(client) {
            let Some(info) = crate::tls::describe(&c.certificate_chain) else {
                continue;
            };
            out.push(json!({
                "use": role,
                "listener": listener,
                "identity": info.identity,
                "dnsNames": info.dns_names,
                "serial": info.serial,
                "notBefore": info.not_before,
                "notAfter": info.not_after,
            }));
        }
    }
    json!({ "certificates": out })
}

fn drain_json(inner: &Inner) -> serde_json::Value {
    let s = inner.serving.drain.status();
    json!({
        "state": s.phase.as_str(),
        "inFlight": s.in_flight,
        "connections": s.connections,
    })
}
