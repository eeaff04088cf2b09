//! Who may use the admin endpoint: read-only endpoints for any local client; changes over
//! TCP only with the proxy's token, over a Unix socket (mode 0600) without one; never
//! from a web page.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use berth_proxy::{AdminAddr, AdminToken, DrainPhase, ProxyConfig, RunningProxy};
use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::UnixStream;

const JSON: (&str, &str) = ("content-type", "application/json");

fn auth(token: &str) -> String {
    format!("Bearer {token}")
}

/// A snapshot with one egress listener, version `v`.
fn body(v: u64) -> String {
    json!({
        "version": v,
        "egress": [{"alias": "orders:80", "listen": "127.0.0.1:0", "upstream": "orders"}],
        "upstreams": {"orders": {"protocol": "http", "endpoints": []}},
    })
    .to_string()
}

/// A proxy with a TCP admin endpoint and no token.
async fn tokenless() -> RunningProxy {
    berth_proxy::start(ProxyConfig {
        admin: AdminAddr::Tcp("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn without_a_token_tcp_serves_reads_and_refuses_changes() {
    let p = tokenless().await;
    let (s, b) = admin_with(&p, "POST", "/snapshot", &[JSON], &body(1)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let err: serde_json::Value = serde_json::from_str(&b).unwrap();
    let msg = err["error"].as_str().unwrap();
    assert!(
        msg.contains("--admin-token-file") && msg.contains("unix:"),
        "{msg}"
    );
    assert_eq!(p.version(), None, "nothing applied");
    // A token the proxy does not have changes nothing either.
    let wrong = auth("some-token-0123456789abcdef");
    let headers = [JSON, ("authorization", wrong.as_str())];
    let (s, _) = admin_with(&p, "POST", "/snapshot", &headers, &body(1)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = admin_with(&p, "POST", "/drain", &[], "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(p.drain_status().phase, DrainPhase::Serving);
    // The configuration comes another way (a file, stdin); reads work without a token.
    p.apply(snapshot(serde_json::from_str(&body(2)).unwrap()))
        .await
        .unwrap();
    for path in [
        "/ready",
        "/metrics",
        "/version",
        "/endpoints",
        "/certificates",
        "/snapshot",
        "/drain",
    ] {
        let (s, b) = admin_with(&p, "GET", path, &[], "").await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
    }
    assert_eq!(
        admin_with(&p, "GET", "/version", &[], "").await.1.trim(),
        r#"{"version":2}"#
    );
    p.shutdown().await;
}

#[tokio::test]
async fn with_a_token_tcp_changes_need_it_and_json() {
    let p = proxy().await;
    let right = auth(ADMIN_TOKEN);
    let wrong = auth("test-admin-token-0123456780");
    let cases: [(&[(&str, &str)], StatusCode); 6] = [
        (&[JSON], StatusCode::FORBIDDEN),
        (&[JSON, ("authorization", &wrong)], StatusCode::FORBIDDEN),
        (
            &[JSON, ("authorization", ADMIN_TOKEN)],
            StatusCode::FORBIDDEN,
        ),
        (
            &[
                JSON,
                ("authorization", &right),
                ("origin", "http://127.0.0.1:9901"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            &[("content-type", "text/plain"), ("authorization", &right)],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            &[("authorization", &right)],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (headers, want) in cases {
        let (s, b) = admin_with(&p, "POST", "/snapshot", headers, &body(1)).await;
        assert_eq!(s, want, "{headers:?}: {b}");
        assert_eq!(p.version(), None, "{headers:?} changed the proxy");
    }
    let (s, b) = admin_with(
        &p,
        "POST",
        "/snapshot",
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("authorization", &right),
        ],
        &body(1),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(p.version(), Some(1));
    // Draining: the token, no body needed; a browser's form is refused.
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", &right),
    ];
    assert_eq!(
        admin_with(&p, "POST", "/drain", &form, "").await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(p.drain_status().phase, DrainPhase::Serving);
    let (s, b) = admin_with(&p, "POST", "/drain", &[("authorization", &right)], "").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_ne!(p.drain_status().phase, DrainPhase::Serving);
    p.shutdown().await;
}

#[tokio::test]
async fn tcp_answers_only_requests_addressed_to_loopback() {
    let p = proxy().await;
    let right = auth(ADMIN_TOKEN);
    // A page on a DNS name rebound to 127.0.0.1 sends its own name.
    let (s, b) = admin_with(&p, "GET", "/snapshot", &[("host", "evil.example:9901")], "").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b.contains("loopback"), "{b}");
    let headers = [JSON, ("authorization", &right), ("host", "evil.example")];
    assert_eq!(
        admin_with(&p, "POST", "/snapshot", &headers, &body(1))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(p.version(), None);
    for host in ["localhost:9901", "127.0.0.1", "[::1]:9901"] {
        let (s, _) = admin_with(&p, "GET", "/version", &[("host", host)], "").await;
        assert_eq!(s, StatusCode::OK, "{host}");
    }
    p.shutdown().await;
}

/// A fresh directory for a socket.
fn socket_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("berth-proxy-admin-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One request on the Unix socket, as berth's agent sends it.
async fn unix(
    sock: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String) {
    let s = UnixStream::connect(sock).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "proxy");
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&b).into_owned())
}

#[tokio::test]
async fn the_unix_socket_is_private_and_takes_changes_without_a_token() {
    let dir = socket_dir("unix");
    let sock = dir.join("admin.sock");
    std::fs::write(&sock, "stale").unwrap();
    let p = berth_proxy::start(ProxyConfig {
        admin: AdminAddr::Unix(sock.clone()),
        // Not used on a socket: changes need no token there.
        admin_token: Some(AdminToken::new(ADMIN_TOKEN).unwrap()),
        ..Default::default()
    })
    .await
    .unwrap();
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the socket: {leftovers:?}");
    let (s, b) = unix(&sock, "POST", "/snapshot", &[JSON], &body(4)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(p.version(), Some(4));
    // Browser-style requests are refused here too.
    let origin = [JSON, ("origin", "http://localhost")];
    assert_eq!(
        unix(&sock, "POST", "/snapshot", &origin, &body(5)).await.0,
        StatusCode::FORBIDDEN
    );
    let plain = [("content-type", "text/plain")];
    assert_eq!(
        unix(&sock, "POST", "/snapshot", &plain, &body(5)).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(p.version(), Some(4));
    let (s, _) = unix(&sock, "GET", "/ready", &[], "").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = unix(&sock, "POST", "/drain", &[JSON], "").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    p.shutdown().await;
    assert!(!sock.exists(), "the socket is removed at shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
