//! The admin endpoint, on loopback TCP or a Unix socket only:
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

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Instant as StdInstant;

use berth_proxy_config::Snapshot;
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

use crate::runtime::Inner;

/// The largest snapshot `POST /snapshot` takes.
const MAX_SNAPSHOT_BYTES: usize = 16 << 20;

/// The admin listener's socket.
pub(crate) enum AdminListener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, PathBuf),
}

/// Serves the admin endpoint until `stop` fires.
pub(crate) async fn serve(
    listener: AdminListener,
    inner: Arc<Inner>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = accept(&listener) => match r {
                Ok(Conn::Tcp(s)) => spawn_conn(s, &inner),
                Ok(Conn::Unix(s)) => spawn_conn(s, &inner),
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

fn spawn_conn<S>(s: S, inner: &Arc<Inner>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let inner = Arc::clone(inner);
    tokio::spawn(async move {
        let svc = hyper::service::service_fn(move |req| {
            let inner = Arc::clone(&inner);
            async move { Ok::<_, Infallible>(handle(req, &inner).await) }
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

pub(crate) async fn handle(req: Request<Incoming>, inner: &Arc<Inner>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/ready") => ready(inner),
        (Method::GET, "/metrics") => reply(
            StatusCode::OK,
            Metrics::CONTENT_TYPE,
            inner.metrics.render(),
        ),
        (Method::GET, "/version") => {
            let v = inner.current.load().as_ref().map(|s| s.version);
            json_reply(StatusCode::OK, json!({ "version": v }))
        }
        (Method::GET, "/snapshot") => match inner.current.load_full() {
            Some(s) => reply(
                StatusCode::OK,
                "application/json",
                s.snapshot.redacted().to_line() + "\n",
            ),
            None => json_reply(StatusCode::NOT_FOUND, json!({ "error": "no snapshot yet" })),
        },
        (Method::POST, "/snapshot") => post_snapshot(req, inner).await,
        (Method::POST, "/drain") => {
            inner.serving.drain.start();
            json_reply(StatusCode::ACCEPTED, drain_json(inner))
        }
        (Method::GET, "/drain") => json_reply(StatusCode::OK, drain_json(inner)),
        (Method::GET, "/endpoints") => json_reply(StatusCode::OK, endpoints_json(inner)),
        (Method::GET, "/certificates") => json_reply(StatusCode::OK, certificates_json(inner)),
        _ => json_reply(StatusCode::NOT_FOUND, json!({ "error": "not found" })),
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
    let snapshot = match Snapshot::from_json(&body) {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    let version = snapshot.version;
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
        let snap = &state.snapshot;
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
