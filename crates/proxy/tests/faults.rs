//! Bad input and faults (issue item 8): each answers the right status, nothing panics,
//! nothing leaks, and the proxy keeps serving everyone else.

mod common;

use std::time::{Duration, Instant};

use berth_proxy::ProxyConfig;
use common::*;
use http::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A proxy with a short head timeout and one egress listener to a healthy upstream.
async fn setup() -> (berth_proxy::RunningProxy, std::net::SocketAddr) {
    let ok = named("ok").await;
    let p = proxy_with(ProxyConfig {
        header_read_timeout: Some(Duration::from_millis(500)),
        max_header_bytes: 16 * 1024,
        ..Default::default()
    })
    .await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[ok.addr])}),
    )
    .await;
    (p, l)
}

async fn still_serving(l: std::net::SocketAddr) {
    assert_eq!(
        get(&client(), l, "/").await,
        (StatusCode::OK, "ok".to_string())
    );
}

#[tokio::test]
async fn malformed_http_gets_400() {
    let (p, l) = setup().await;
    let out = raw_exchange(l, b"GET / HTTP/1.1\r\nbad header line\r\n\r\n").await;
    assert_eq!(status_of(&out), 400, "{out}");
    let out = raw_exchange(l, b"\x16\x03\x01\x00\xa5garbage\r\n\r\n").await;
    assert!(out.is_empty() || status_of(&out) == 400, "{out}");
    still_serving(l).await;
    p.shutdown().await;
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let (p, l) = setup().await;
    let big = format!(
        "GET / HTTP/1.1\r\nhost: orders\r\nx-big: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let out = raw_exchange(l, big.as_bytes()).await;
    assert_eq!(status_of(&out), 431, "{out}");
    still_serving(l).await;
    p.shutdown().await;
}

#[tokio::test]
async fn a_slow_client_gets_408() {
    let (p, l) = setup().await;
    let mut s = TcpStream::connect(l).await.unwrap();
    let t = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nhost: orders\r\n")
        .await
        .unwrap();
    // One header byte every 100 ms: the head never completes in time.
    let trickle = async {
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if s.write_all(b"x").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(700), trickle).await;
    let out = read_all(&mut s).await;
    assert_eq!(status_of(&out), 408, "{out}");
    assert!(t.elapsed() < Duration::from_secs(3));
    // A client that connects and sends nothing is closed after the head timeout too.
    let out = raw_exchange(l, b"").await;
    assert_eq!(status_of(&out), 408, "{out}");
    still_serving(l).await;
    p.shutdown().await;
}

#[tokio::test]
async fn an_upstream_that_refuses_gives_503() {
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[refusing().await])}),
    )
    .await;
    let (s, body) = get(&client(), l, "/").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("connect failed"), "{body}");
    p.shutdown().await;
}

#[tokio::test]
async fn an_upstream_that_resets_gives_503() {
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[resetting().await])}),
    )
    .await;
    let (s, _) = get(&client(), l, "/").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    p.shutdown().await;
}

#[tokio::test]
async fn an_upstream_that_hangs_gives_504() {
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "timeout": {"perRequestTimeoutSeconds": 1},
               "endpoints": endpoints(&[hanging().await])}),
    )
    .await;
    let (s, _) = get(&client(), l, "/").await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT);
    p.shutdown().await;
}

#[tokio::test]
async fn an_upstream_that_answers_garbage_gives_502() {
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[garbage().await])}),
    )
    .await;
    let (s, _) = get(&client(), l, "/").await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    p.shutdown().await;
}

/// Every fault on one proxy, several times over: afterwards the proxy still serves, and
/// the process has as many file descriptors open as before.
#[tokio::test]
async fn faults_leak_no_file_descriptors() {
    let ok = named("ok").await;
    let (dead, reset, junk) = (refusing().await, resetting().await, garbage().await);
    let p = proxy_with(ProxyConfig {
        header_read_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    })
    .await;
    let ok_l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[ok.addr])}),
    )
    .await;
    let listen = |n: u8| -> std::net::SocketAddr { format!("127.0.0.{n}:0").parse().unwrap() };
    p.apply(snapshot(json!({
        "version": 2,
        "egress": [
            {"alias": "ok:80", "listen": "127.0.0.1:0", "upstream": "ok"},
            {"alias": "bad:80", "listen": listen(2), "upstream": "bad"},
        ],
        "upstreams": {
            "ok": {"protocol": "http", "endpoints": endpoints(&[ok.addr])},
            // No outlier ejection, so that every request reaches a fault.
            "bad": {"protocol": "http", "outlierDetection": {"consecutiveFailures": 1000000},
                    "endpoints": endpoints(&[dead, reset, junk])},
        },
    })))
    .await
    .unwrap();
    let bad_l = p.listener_addr(listen(2)).await.unwrap();
    assert_eq!(
        p.listener_addr("127.0.0.1:0".parse().unwrap()).await,
        Some(ok_l)
    );
    still_serving(ok_l).await;
    let before = open_fds();
    for _ in 0..5 {
        let mut tasks = Vec::new();
        for _ in 0..6 {
            tasks.push(tokio::spawn(async move {
                let c = client();
                let (s, _) = get(&c, bad_l, "/").await;
                assert!(s.is_server_error(), "{s}");
            }));
        }
        tasks.push(tokio::spawn(async move {
            let out = raw_exchange(bad_l, b"NOT HTTP AT ALL\r\n\r\n").await;
            assert_eq!(status_of(&out), 400, "{out}");
        }));
        tasks.push(tokio::spawn(async move {
            let out = raw_exchange(bad_l, b"GET / HTTP/1.1\r\nhost: x\r\n").await;
            assert_eq!(status_of(&out), 408, "{out}");
        }));
        tasks.push(tokio::spawn(async move {
            // A client that goes away mid-request.
            let mut s = TcpStream::connect(bad_l).await.unwrap();
            s.write_all(b"GET / HT").await.unwrap();
        }));
        for t in tasks {
            t.await.unwrap();
        }
        still_serving(ok_l).await;
    }
    // Let closing connections and pooled upstream ones settle.
    let mut after = open_fds();
    for _ in 0..50 {
        if after <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = open_fds();
    }
    assert!(after <= before, "fds before {before}, after {after}");
    p.shutdown().await;
}
