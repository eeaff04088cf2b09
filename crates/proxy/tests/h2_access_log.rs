//! HTTP/2 requests are logged with their protocol and stream id.

mod common;

use common::*;
use http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn http2_requests_are_logged_with_their_stream_ids() {
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
        "accessLog": {"format": "JSON", "includeQueryParameters": true},
    })))
    .await
    .unwrap();
    let l = p.listener_addr(listen).await.unwrap();
    // One h2c connection (prior knowledge), three requests one after another.
    let c = h2_client();
    for path in ["/one", "/two", "/three"] {
        assert_eq!(get(&c, l, path).await.0, StatusCode::OK);
    }
    p.shutdown().await;
    let lines: Vec<serde_json::Value> = captured
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, (path, id)) in lines.iter().zip([("/one", 1), ("/two", 3), ("/three", 5)]) {
        assert_eq!(line["protocol"], "HTTP/2");
        assert_eq!(line["path"], path);
        assert_eq!(line["stream_id"], id, "{line}");
        assert!(line.get("grpc_status").is_some(), "{line}");
    }
}
