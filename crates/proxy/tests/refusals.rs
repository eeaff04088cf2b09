//! Requests the proxy answers itself and never forwards: `CONNECT` (405) and ambiguous
//! `host`s (400), on the fast path and on hyper's.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::SeqCst;

use common::*;
use serde_json::json;

/// A proxy with an HTTP egress listener to `up` that logs as JSON into `log`.
async fn through(up: SocketAddr, log: &Captured) -> (berth_proxy::RunningProxy, SocketAddr) {
    let w = log.clone();
    let p = proxy_with(berth_proxy::ProxyConfig {
        access_log_writer: Some(std::sync::Arc::new(move || Box::new(w.clone()))),
        ..Default::default()
    })
    .await;
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    p.apply(snapshot(json!({
        "version": 1,
        "egress": [{"alias": "orders:80", "listen": listen, "upstream": "orders"}],
        "upstreams": {"orders": {"protocol": "http", "endpoints": endpoints(&[up])}},
        "accessLog": {"format": "JSON", "includeQueryParameters": true},
    })))
    .await
    .unwrap();
    let l = p.listener_addr(listen).await.unwrap();
    (p, l)
}

/// A first request that hyper takes (the fast path does not forward headers named in
/// `connection`), so that the next one on the connection is served by hyper.
const TO_HYPER: &str = "GET /first HTTP/1.1\r\nhost: orders\r\nconnection: x-private\r\n\r\n";

/// The access log's lines as JSON.
fn lines(log: &Captured) -> Vec<serde_json::Value> {
    log.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The value of `RequestCount` in the metrics.
async fn request_count(p: &berth_proxy::RunningProxy) -> u64 {
    let (_, m) = admin(p, "GET", "/metrics", "").await;
    m.lines()
        .filter(|l| l.starts_with("RequestCount{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn connect_is_answered_405_and_never_forwarded() {
    let up = named("up").await;
    let log = Captured::default();
    let (p, l) = through(up.addr, &log).await;
    // The fast path.
    let out = raw_exchange(
        l,
        b"CONNECT orders:443 HTTP/1.1\r\nhost: orders:443\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&out), 405, "{out}");
    let lower = out.to_ascii_lowercase();
    assert!(lower.contains("\r\nallow: get, head, post"), "{out}");
    assert!(lower.contains("connection: close"), "{out}");
    assert!(out.contains("CONNECT is not forwarded"), "{out}");
    // Bytes sent after it (a tunnel's) are not taken as a request.
    let out = raw_exchange(
        l,
        b"CONNECT orders:443 HTTP/1.1\r\nhost: orders:443\r\n\r\nGET / HTTP/1.1\r\nhost: orders\r\n\r\n",
    )
    .await;
    assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{out}");
    // hyper's path.
    let out = raw_exchange(
        l,
        format!("{TO_HYPER}CONNECT orders:443 HTTP/1.1\r\nhost: orders:443\r\n\r\n").as_bytes(),
    )
    .await;
    let second = out
        .split("HTTP/1.1 ")
        .nth(2)
        .unwrap_or_else(|| panic!("{out}"));
    assert!(second.starts_with("405"), "{out}");
    assert!(
        second.to_ascii_lowercase().contains("\r\nallow: get"),
        "{out}"
    );
    assert_eq!(
        up.requests.load(SeqCst),
        1,
        "only the first request went upstream"
    );
    assert_eq!(request_count(&p).await, 4);
    p.shutdown().await;
    let connects: Vec<_> = lines(&log)
        .into_iter()
        .filter(|r| r["method"] == "CONNECT")
        .collect();
    assert_eq!(connects.len(), 3, "{connects:?}");
    for r in connects {
        assert_eq!(r["response_code"], 405, "{r}");
        assert_eq!(r["response_flags"], "DPE", "{r}");
    }
}

#[tokio::test]
async fn ambiguous_hosts_are_answered_400_and_never_forwarded() {
    let up = named("up").await;
    let log = Captured::default();
    let (p, l) = through(up.addr, &log).await;
    let two_hosts = "GET /two HTTP/1.1\r\nhost: orders\r\nhost: payments\r\n\r\n";
    // The fast path.
    let out = raw_exchange(l, two_hosts.as_bytes()).await;
    assert_eq!(status_of(&out), 400, "{out}");
    assert!(out.contains("more than one host header"), "{out}");
    // hyper's path: two hosts, then a host against an absolute target (which hyper
    // takes), each on a connection of its own (the connection closes after a refusal).
    let out = raw_exchange(l, format!("{TO_HYPER}{two_hosts}").as_bytes()).await;
    let second = out
        .split("HTTP/1.1 ")
        .nth(2)
        .unwrap_or_else(|| panic!("{out}"));
    assert!(second.starts_with("400"), "{out}");
    let out = raw_exchange(
        l,
        b"GET http://orders/abs HTTP/1.1\r\nhost: payments\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&out), 400, "{out}");
    assert!(out.contains("disagrees with the request target"), "{out}");
    assert_eq!(
        up.requests.load(SeqCst),
        1,
        "only the first request went upstream"
    );
    // An absolute target its host agrees with is forwarded.
    let out = raw_exchange(
        l,
        b"GET http://orders/ok HTTP/1.1\r\nhost: Orders:80\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&out), 200, "{out}");
    assert_eq!(up.requests.load(SeqCst), 2);
    p.shutdown().await;
    let refused: Vec<_> = lines(&log)
        .into_iter()
        .filter(|r| r["response_code"] == 400)
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(
        refused.iter().all(|r| r["response_flags"] == "DPE"),
        "{refused:?}"
    );
}
