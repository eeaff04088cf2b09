//! Egress: balancing, retries, outlier detection, timeouts, HTTP/2 and TCP, through real
//! sockets.

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn round_robin_across_two_upstreams() {
    let (a, b) = (named("a").await, named("b").await);
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[a.addr, b.addr])}),
    )
    .await;
    let c = client();
    let mut bodies = Vec::new();
    for _ in 0..6 {
        let (s, body) = get(&c, l, "/").await;
        assert_eq!(s, StatusCode::OK);
        bodies.push(body);
    }
    assert_eq!(bodies, ["a", "b", "a", "b", "a", "b"]);
    // The upstream connections are pooled: one each, reused.
    assert_eq!(a.connections.load(SeqCst), 1);
    assert_eq!(b.connections.load(SeqCst), 1);
    let (_, metrics) = admin(&p, "GET", "/metrics", "").await;
    assert!(
        metrics.lines().any(|l| l.starts_with("RequestCount{")
            && l.contains("TargetDiscoveryName=\"orders\"")
            && l.contains("ClusterName=\"c1\"")
            && l.ends_with(" 6")),
        "{metrics}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn least_request_prefers_the_idle_endpoint() {
    let slow = upstream(false, |_r| async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        text(StatusCode::OK, "slow")
    })
    .await;
    let fast = named("fast").await;
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "loadBalancing": "leastRequest",
               "endpoints": endpoints(&[slow.addr, fast.addr])}),
    )
    .await;
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { get(&c, l, "/").await }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut fast_hits = 0;
    for t in tasks {
        let (s, body) = t.await.unwrap();
        assert_eq!(s, StatusCode::OK);
        fast_hits += usize::from(body == "fast");
    }
    // Round robin would give 10; the slow endpoint almost always has a request in flight.
    assert!(fast_hits >= 15, "fast got {fast_hits} of 20");
    p.shutdown().await;
}

#[tokio::test]
async fn dead_endpoint_is_retried_elsewhere_then_ejected() {
    let dead = refusing().await;
    let live = named("live").await;
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[dead, live.addr])}),
    )
    .await;
    let c = client();
    for _ in 0..12 {
        let (s, body) = get(&c, l, "/").await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "live"));
    }
    let (_, eps) = admin(&p, "GET", "/endpoints", "").await;
    let v: serde_json::Value = serde_json::from_str(&eps).unwrap();
    let list = v["upstreams"]["orders"].as_array().unwrap();
    let d = list
        .iter()
        .find(|e| e["address"] == dead.to_string())
        .unwrap();
    assert_eq!(d["ejected"], true, "{eps}");
    assert_eq!(d["ejections"], 1, "{eps}");
    let ok = list
        .iter()
        .find(|e| e["address"] == live.addr.to_string())
        .unwrap();
    assert_eq!(ok["ejected"], false, "{eps}");
    p.shutdown().await;
}

#[tokio::test]
async fn a_503_answer_is_retried_on_another_endpoint() {
    let unavailable = upstream(false, |_r| async {
        text(StatusCode::SERVICE_UNAVAILABLE, "busy")
    })
    .await;
    let ok = named("ok").await;
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[unavailable.addr, ok.addr])}),
    )
    .await;
    let c = client();
    for _ in 0..4 {
        assert_eq!(get(&c, l, "/").await, (StatusCode::OK, "ok".to_string()));
    }
    assert!(unavailable.requests.load(SeqCst) >= 1);
    // A small POST is buffered, so it is replayed too.
    let req = Request::post(format!("http://{l}/"))
        .body(Full::new(Bytes::from_static(b"small body")))
        .unwrap();
    assert_eq!(send(&c, req).await.0, StatusCode::OK);
    p.shutdown().await;
}

#[tokio::test]
async fn a_large_streaming_post_is_not_retried() {
    use http_body_util::BodyExt as _;
    let unavailable = upstream(false, |r: Request<hyper::body::Incoming>| async move {
        let _ = r.into_body().collect().await;
        text(StatusCode::SERVICE_UNAVAILABLE, "busy")
    })
    .await;
    let ok = upstream(false, |r: Request<hyper::body::Incoming>| async move {
        let n = r.into_body().collect().await.unwrap().to_bytes().len();
        text(StatusCode::OK, &n.to_string())
    })
    .await;
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[unavailable.addr, ok.addr])}),
    )
    .await;
    let c = client();
    let big = Bytes::from(vec![b'x'; 200 * 1024]);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let req = Request::post(format!("http://{l}/"))
            .body(Full::new(big.clone()))
            .unwrap();
        statuses.push(send(&c, req).await);
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            (StatusCode::OK, (200 * 1024).to_string()),
            (StatusCode::SERVICE_UNAVAILABLE, "busy".to_string())
        ]
    );
    assert_eq!(unavailable.requests.load(SeqCst), 1);
    assert_eq!(ok.requests.load(SeqCst), 1);
    p.shutdown().await;
}

#[tokio::test]
async fn per_request_timeout_answers_504() {
    let hang = hanging().await;
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "timeout": {"perRequestTimeoutSeconds": 1},
               "endpoints": endpoints(&[hang])}),
    )
    .await;
    let t = Instant::now();
    let (s, _) = get(&client(), l, "/").await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn idle_timeout_closes_idle_connections() {
    let a = named("a").await;
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "timeout": {"idleTimeoutSeconds": 1},
               "endpoints": endpoints(&[a.addr])}),
    )
    .await;
    let mut s = TcpStream::connect(l).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: orders\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let t = Instant::now();
    // The proxy closes the connection once it has been idle for 1 s.
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("closed within 5 s")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(800), "{took:?}");
    p.shutdown().await;
}

#[tokio::test]
async fn tcp_passes_through_both_ways() {
    let echo = raw(|mut s| async move {
        let (mut r, mut w) = s.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
        let _ = w.shutdown().await;
    })
    .await;
    let p = proxy().await;
    let l = egress(&p, 1, json!({"endpoints": endpoints(&[echo])})).await;
    let mut s = TcpStream::connect(l).await.unwrap();
    s.write_all(b"hello, ").await.unwrap();
    s.write_all(b"berth").await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, "hello, berth");
    // 12 bytes each way: to the target and back.
    let mut moved = false;
    for _ in 0..100 {
        let (_, metrics) = admin(&p, "GET", "/metrics", "").await;
        moved = metrics
            .lines()
            .any(|l| l.starts_with("TargetProcessedBytes{") && l.ends_with(" 24"));
        if moved {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(moved, "TargetProcessedBytes counts TCP traffic");
    p.shutdown().await;
}

#[tokio::test]
async fn tcp_idle_timeout_and_dead_endpoint() {
    let silent = raw(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let dead = refusing().await;
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"timeout": {"idleTimeoutSeconds": 1}, "endpoints": endpoints(&[dead, silent])}),
    )
    .await;
    // The first pick is the dead endpoint: the proxy connects to the other one.
    let mut s = TcpStream::connect(l).await.unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("closed within 5 s")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(t.elapsed() >= Duration::from_millis(800));
    p.shutdown().await;
}

#[tokio::test]
async fn http2_upstream_is_multiplexed() {
    let up = upstream(true, |r: Request<hyper::body::Incoming>| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        text(StatusCode::OK, &format!("{:?}", r.version()))
    })
    .await;
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http2", "endpoints": endpoints(&[up.addr])}),
    )
    .await;
    // The application speaks HTTP/1.1 on several connections and h2c (prior knowledge).
    let (h1, h2) = (client(), h2_client());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let c = if i % 2 == 0 { h1.clone() } else { h2.clone() };
        tasks.push(tokio::spawn(async move { get(&c, l, "/").await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), (StatusCode::OK, "HTTP/2.0".to_string()));
    }
    assert_eq!(up.requests.load(SeqCst), 20);
    assert_eq!(up.connections.load(SeqCst), 1, "one multiplexed connection");
    p.shutdown().await;
}

#[tokio::test]
async fn no_endpoints_answers_503() {
    let p = proxy().await;
    let l = egress(&p, 1, json!({"protocol": "http"})).await;
    let (s, body) = get(&client(), l, "/").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("no healthy endpoint"), "{body}");
    p.shutdown().await;
}

#[tokio::test]
async fn access_log_records_each_request() {
    let a = named("a").await;
    let captured = Captured::default();
    let w = captured.clone();
    let p = proxy_with(berth_proxy::ProxyConfig {
        access_log_writer: Some(std::sync::Arc::new(move || Box::new(w.clone()))),
        ..Default::default()
    })
    .await;
    let listen: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    p.apply(snapshot(json!({
        "version": 1,
        "egress": [{"alias": "orders:80", "listen": listen, "upstream": "orders"}],
        "upstreams": {"orders": {"protocol": "http", "endpoints": endpoints(&[a.addr])}},
        "accessLog": {"format": "JSON", "includeQueryParameters": false},
    })))
    .await
    .unwrap();
    let l = p.listener_addr(listen).await.unwrap();
    assert_eq!(get(&client(), l, "/x?secret=1").await.0, StatusCode::OK);
    p.shutdown().await;
    let text = captured.text();
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/x");
    assert_eq!(line["response_code"], 200);
    assert_eq!(line["bytes_sent"], 1);
    assert_eq!(line["upstream_host"], a.addr.to_string());
    assert_eq!(line["authority"], "orders");
}

#[tokio::test]
async fn an_http10_upstream_does_not_end_downstream_keep_alive() {
    let old = raw(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await;
    })
    .await;
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[old])}),
    )
    .await;
    let mut s = TcpStream::connect(l).await.unwrap();
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nhost: orders\r\n\r\n")
            .await
            .unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let out = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.ends_with("ok"), "{out}");
    }
    p.shutdown().await;
}
