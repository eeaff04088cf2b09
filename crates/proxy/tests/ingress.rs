//! Ingress: to the application, with `server: berth`, the upstream service time and
//! `x-forwarded-for`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use serde_json::json;

#[tokio::test]
async fn ingress_sets_server_and_upstream_service_time() {
    let app = upstream(false, |r: Request<hyper::body::Incoming>| async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let xff = r
            .headers()
            .get("x-forwarded-for")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let host = r.headers()["host"].to_str().unwrap().to_string();
        let mut resp = Response::new(Full::new(Bytes::from(format!("{xff}|{host}"))));
        resp.headers_mut()
            .insert("server", "app/1.0".parse().unwrap());
        resp
    })
    .await;
    let p = proxy().await;
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    p.apply(snapshot(json!({
        "version": 1,
        "clusterName": "c1",
        "serviceName": "orders-svc",
        "ingress": [{"discoveryName": "orders", "listen": listen, "app": app.addr, "protocol": "http"}],
    })))
    .await
    .unwrap();
    let l = p.listener_addr(listen).await.unwrap();
    let req = Request::get(format!("http://{l}/"))
        .header("host", "orders.local:8080")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["server"], "berth");
    let ms: u64 = resp.headers()["x-berth-upstream-service-time"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((30..5000).contains(&ms), "{ms}");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "127.0.0.1|orders.local:8080");
    let (_, metrics) = admin(&p, "GET", "/metrics", "").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("HTTPCode_Target_2XX_Count{")
                && l.contains("DiscoveryName=\"orders\"")
                && l.contains("direction=\"ingress\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn ingress_to_a_stopped_application_gives_503() {
    let p = proxy().await;
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    p.apply(snapshot(json!({
        "version": 1,
        "ingress": [{"discoveryName": "orders", "listen": listen, "app": refusing().await, "protocol": "http"}],
    })))
    .await
    .unwrap();
    let l = p.listener_addr(listen).await.unwrap();
    let resp = client()
        .request(
            Request::get(format!("http://{l}/"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["server"], "berth");
    p.shutdown().await;
}
