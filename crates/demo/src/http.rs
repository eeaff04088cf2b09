//! The server side shared by every app: accept loop, graceful shutdown, the
//! `x-demo-served-by` header, one log line per request, and response helpers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::client::Client;
use crate::{App, Config, Error, Result, SERVED_BY_HEADER};

pub(crate) type Resp = Response<Full<Bytes>>;

/// How long requests in flight may take to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The largest request body read.
const MAX_BODY: usize = 1 << 20;

/// What an app's requests share.
pub(crate) struct Ctx {
    pub app: App,
    /// `<app>/<task id>`.
    pub served_by: String,
    pub config: Config,
    pub client: Client,
    /// `retail-orders`: the orders taken.
    pub orders: Mutex<Vec<Value>>,
    /// `retail-orders`: the number of the next order.
    pub next_order: AtomicU64,
    /// `retail-checkout`: the carts, by customer.
    pub carts: Mutex<HashMap<String, Vec<Value>>>,
}

impl Ctx {
    fn new(app: App, config: Config) -> Ctx {
        // A header value: visible ASCII only.
        let task: String = config
            .task_id
            .chars()
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .collect();
        Ctx {
            app,
            served_by: format!("{app}/{task}"),
            config,
            client: Client::new(),
            orders: Mutex::new(Vec::new()),
            next_order: AtomicU64::new(1),
            carts: Mutex::new(HashMap::new()),
        }
    }

    /// A JSON answer: `body` (an object) with `servedBy`.
    pub fn json(&self, status: StatusCode, mut body: Value) -> Resp {
        if let Value::Object(m) = &mut body {
            m.insert("servedBy".into(), Value::String(self.served_by.clone()));
        }
        respond(status, "application/json", body.to_string())
    }

    /// A JSON error `{"servedBy", "error", ...more}`.
    pub fn error(&self, status: StatusCode, message: &str, more: Value) -> Resp {
        let mut body = json!({ "error": message });
        if let Value::Object(m) = more {
            body.as_object_mut().expect("an object").extend(m);
        }
        self.json(status, body)
    }

    /// A 500 for an upstream variable that is not set.
    pub fn missing_var(&self, names: &[&str]) -> Resp {
        self.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "{} not set: {} needs the URL of its upstream (http://host[:port])",
                if names.len() == 1 {
                    format!("environment variable {} is", names[0])
                } else {
                    format!("environment variables {} are", names.join(", "))
                },
                self.app
            ),
            json!({ "missingVariables": names }),
        )
    }

    pub fn not_found(&self, req: &Request<Incoming>) -> Resp {
        self.error(
            StatusCode::NOT_FOUND,
            &format!("no route for {} {}", req.method(), req.uri().path()),
            json!({}),
        )
    }
}

pub(crate) fn respond(status: StatusCode, content_type: &str, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("a header value"),
    );
    r
}

/// `200 OK`, text: the health answer.
pub(crate) fn ok_text() -> Resp {
    respond(StatusCode::OK, "text/plain; charset=utf-8", "OK\n".into())
}

/// Whether the client asked for HTML.
pub(crate) fn wants_html(req: &Request<Incoming>) -> bool {
    req.headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// The request's body as JSON (an empty body is `{}`), or a 400.
pub(crate) async fn read_json(
    ctx: &Ctx,
    req: Request<Incoming>,
) -> std::result::Result<Value, Resp> {
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            ctx.error(
                StatusCode::BAD_REQUEST,
                &format!("reading the body: {e}"),
                json!({}),
            )
        })?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ctx.error(
            StatusCode::BAD_REQUEST,
            &format!("the body is not JSON: {e}"),
            json!({}),
        )
    })
}

/// The path's non-empty segments: `/catalogue/3/` → `["catalogue", "3"]`.
pub(crate) fn segments(req: &Request<Incoming>) -> Vec<String> {
    req.uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

async fn handle(ctx: Arc<Ctx>, peer: SocketAddr, req: Request<Incoming>) -> Resp {
    let started = Instant::now();
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.to_string());
    let mut resp = match ctx.app {
        App::RetailUi => crate::retail::ui(&ctx, req).await,
        App::RetailCatalog => crate::retail::catalog(&ctx, req).await,
        App::RetailOrders => crate::retail::orders(&ctx, req).await,
        App::RetailCheckout => crate::retail::checkout(&ctx, req).await,
        App::Cats | App::Dogs => crate::pets::pet(&ctx, req),
        App::Web => crate::pets::web(&ctx, req).await,
    };
    resp.headers_mut().insert(
        SERVED_BY_HEADER,
        HeaderValue::from_str(&ctx.served_by).expect("visible ASCII"),
    );
    // One line per request on stdout; a closed stdout is no reason to fail a request.
    let _ = writeln!(
        std::io::stdout().lock(),
        "{} {peer} \"{method} {target}\" {} {}ms",
        ctx.served_by,
        resp.status().as_u16(),
        started.elapsed().as_millis()
    );
    resp
}

pub(crate) async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future,
) -> Result<()> {
    let addr = listener.local_addr().map_err(Error::LocalAddr)?;
    let ctx = Arc::new(Ctx::new(app, config));
    let _ = writeln!(
        std::io::stdout().lock(),
        "{} listening on http://{addr}",
        ctx.served_by
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: wait a little, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let ctx = ctx.clone();
                let mut stop = stop_rx.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| {
                        let ctx = ctx.clone();
                        async move { Ok::<_, Infallible>(handle(ctx, peer, req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .serve_connection(TokioIo::new(stream), service);
                    let mut conn = std::pin::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => {
                            if let Err(e) = r {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                        }
                        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("requests still open after {SHUTDOWN_GRACE:?}; closing them");
        conns.shutdown().await;
    }
    let _ = writeln!(std::io::stdout().lock(), "{} stopped", ctx.served_by);
    Ok(())
}
