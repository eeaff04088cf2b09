//! Test helpers: a proxy on loopback, real upstream servers (hyper, and raw TCP ones that
//! refuse, reset, hang or answer garbage), and clients.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_proxy::{AdminAddr, AdminToken, ProxyConfig, RunningProxy, Snapshot};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The admin token of the proxies [`proxy_with`] starts (unless the test gives another).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A proxy with its admin endpoint on a free loopback port.
pub async fn proxy() -> RunningProxy {
    proxy_with(ProxyConfig::default()).await
}

/// A proxy as `config` says, its admin endpoint on a free loopback port taking
/// [`ADMIN_TOKEN`] when `config` has no token.
pub async fn proxy_with(mut config: ProxyConfig) -> RunningProxy {
    config.admin = AdminAddr::Tcp("127.0.0.1:0".parse().unwrap());
    if config.admin_token.is_none() {
        config.admin_token = Some(AdminToken::new(ADMIN_TOKEN).unwrap());
    }
    berth_proxy::start(config).await.expect("proxy starts")
}

/// An access log captured in memory.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

pub fn snapshot(v: serde_json::Value) -> Snapshot {
    Snapshot::from_json(v.to_string().as_bytes()).expect("valid snapshot")
}

/// Applies a snapshot with one egress listener on `127.0.0.1:0` to `upstream` and returns
/// the listener's address.
pub async fn egress(p: &RunningProxy, version: u64, upstream: serde_json::Value) -> SocketAddr {
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    p.apply(snapshot(serde_json::json!({
        "version": version,
        "clusterName": "c1",
        "serviceName": "web",
        "egress": [{"alias": "orders:80", "listen": listen, "upstream": "orders"}],
        "upstreams": {"orders": upstream},
    })))
    .await
    .expect("snapshot applies");
    p.listener_addr(listen).await.expect("listener bound")
}

pub fn endpoints(addrs: &[SocketAddr]) -> serde_json::Value {
    serde_json::Value::Array(
        addrs
            .iter()
            .map(|a| serde_json::json!({"address": a}))
            .collect(),
    )
}

/// An HTTP upstream: `handler` answers every request; counts requests and connections.
pub struct Upstream {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
    pub connections: Arc<AtomicUsize>,
}

pub async fn upstream<F, Fut>(http2: bool, handler: F) -> Upstream
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let (rq, cn) = (Arc::clone(&requests), Arc::clone(&connections));
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            cn.fetch_add(1, SeqCst);
            let h = handler.clone();
            let rq = Arc::clone(&rq);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    rq.fetch_add(1, SeqCst);
                    let f = h(req);
                    async move { Ok::<_, Infallible>(f.await) }
                });
                let io = TokioIo::new(s);
                if http2 {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, svc)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                }
            });
        }
    });
    Upstream {
        addr,
        requests,
        connections,
    }
}

/// An upstream that answers 200 with `name` as the body.
pub async fn named(name: &'static str) -> Upstream {
    upstream(false, move |_req| async move { text(StatusCode::OK, name) }).await
}

pub fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

/// A loopback address where nothing listens (connections are refused).
pub async fn refusing() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// A raw TCP server: `on_conn` gets each accepted socket.
pub async fn raw<F, Fut>(on_conn: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            tokio::spawn(on_conn(s));
        }
    });
    addr
}

/// Reads what the client sends until the end of its request head.
pub async fn read_head(s: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
}

/// An upstream that resets the connection after reading the request head.
pub async fn resetting() -> SocketAddr {
    raw(|mut s| async move {
        read_head(&mut s).await;
        let _ = s.set_zero_linger();
        drop(s);
    })
    .await
}

/// An upstream that reads the request and never answers.
pub async fn hanging() -> SocketAddr {
    raw(|mut s| async move {
        read_head(&mut s).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    })
    .await
}

/// An upstream that answers something that is not HTTP.
pub async fn garbage() -> SocketAddr {
    raw(|mut s| async move {
        read_head(&mut s).await;
        let _ = s.write_all(b"this is not http\r\n\r\n").await;
        let _ = s.shutdown().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn h2_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// GET `path` through `addr`: the status and the body.
pub async fn get(c: &HttpClient, addr: SocketAddr, path: &str) -> (StatusCode, String) {
    let req = Request::get(format!("http://{addr}{path}"))
        .header("host", "orders")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(c, req).await
}

pub async fn send(c: &HttpClient, req: Request<Full<Bytes>>) -> (StatusCode, String) {
    let resp = tokio::time::timeout(Duration::from_secs(10), c.request(req))
        .await
        .expect("answer within 10 s")
        .expect("a response");
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Sends raw bytes on a new connection and returns everything read until the proxy closes
/// (or 5 s pass).
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    read_all(&mut s).await
}

pub async fn read_all(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status of the first response in raw HTTP/1 text.
pub fn status_of(raw: &str) -> u16 {
    raw.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"))
}

/// A request on the TCP admin endpoint, as a command-line client sends it (JSON, with
/// [`ADMIN_TOKEN`]): status and body.
pub async fn admin(p: &RunningProxy, method: &str, path: &str, body: &str) -> (StatusCode, String) {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    admin_with(
        p,
        method,
        path,
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        body,
    )
    .await
}

/// A request on the TCP admin endpoint with exactly these headers (and `host`).
pub async fn admin_with(
    p: &RunningProxy,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String) {
    let AdminAddr::Tcp(a) = p.admin_addr() else {
        panic!("tcp admin")
    };
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{a}{path}"));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    send(&client(), req).await
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
