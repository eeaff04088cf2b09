//! Live configuration: readiness, versions, replacement under load, listener removal,
//! draining.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use berth_proxy::DrainPhase;
use common::*;
use http::StatusCode;
use serde_json::json;
use tokio::net::TcpStream;

#[tokio::test]
async fn ready_only_after_the_first_snapshot() {
    let p = proxy().await;
    assert!(!p.is_ready());
    assert_eq!(
        admin(&p, "GET", "/ready", "").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        admin(&p, "GET", "/version", "").await.1.trim(),
        r#"{"version":null}"#
    );
    let a = named("a").await;
    let body = json!({
        "version": 3,
        "egress": [{"alias": "orders:80", "listen": "127.0.0.1:0", "upstream": "orders"}],
        "upstreams": {"orders": {"protocol": "http", "endpoints": endpoints(&[a.addr])}},
    });
    let (s, b) = admin(&p, "POST", "/snapshot", &body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        admin(&p, "GET", "/ready", "").await,
        (StatusCode::OK, "ready\n".to_string())
    );
    assert_eq!(
        admin(&p, "GET", "/version", "").await.1.trim(),
        r#"{"version":3}"#
    );
    assert_eq!(p.version(), Some(3));
    // Bad snapshots are refused with the reason, and change nothing.
    let (s, b) = admin(&p, "POST", "/snapshot", r#"{"version": 4, "bogus": 1}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b.contains("bogus"), "{b}");
    let mut old = body.clone();
    old["version"] = json!(2);
    let (s, b) = admin(&p, "POST", "/snapshot", &old.to_string()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b.contains("older"), "{b}");
    // The same version again is a no-op.
    assert_eq!(
        admin(&p, "POST", "/snapshot", &body.to_string()).await.0,
        StatusCode::OK
    );
    assert_eq!(p.version(), Some(3));
    p.shutdown().await;
}

#[tokio::test]
async fn live_replacement_keeps_in_flight_requests_and_adds_endpoints_at_once() {
    let slow = upstream(false, |_r| async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        text(StatusCode::OK, "slow")
    })
    .await;
    let fresh = named("fresh").await;
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[slow.addr])}),
    )
    .await;
    let in_flight = tokio::spawn(async move { get(&client(), l, "/").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The slow endpoint goes away and a new one comes; same listener address.
    let l2 = egress(
        &p,
        2,
        json!({"protocol": "http", "endpoints": endpoints(&[fresh.addr])}),
    )
    .await;
    assert_eq!(l2, l, "the listener was kept, not rebound");
    assert_eq!(
        get(&client(), l, "/").await,
        (StatusCode::OK, "fresh".to_string())
    );
    assert_eq!(
        in_flight.await.unwrap(),
        (StatusCode::OK, "slow".to_string())
    );
    p.shutdown().await;
}

#[tokio::test]
async fn a_removed_listener_stops_accepting() {
    let a = named("a").await;
    let p = proxy().await;
    let keep: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let gone: SocketAddr = "127.0.0.2:0".parse().unwrap();
    let two = |v: u64, with_gone: bool| {
        let mut egress = vec![json!({"alias": "a:80", "listen": keep, "upstream": "a"})];
        if with_gone {
            egress.push(json!({"alias": "b:80", "listen": gone, "upstream": "a"}));
        }
        snapshot(json!({
            "version": v,
            "egress": egress,
            "upstreams": {"a": {"protocol": "http", "endpoints": endpoints(&[a.addr])}},
        }))
    };
    p.apply(two(1, true)).await.unwrap();
    let (k, g) = (
        p.listener_addr(keep).await.unwrap(),
        p.listener_addr(gone).await.unwrap(),
    );
    assert_eq!(get(&client(), g, "/").await.0, StatusCode::OK);
    p.apply(two(2, false)).await.unwrap();
    assert!(p.listener_addr(gone).await.is_none());
    assert!(TcpStream::connect(g).await.is_err(), "connection refused");
    assert_eq!(p.listener_addr(keep).await, Some(k));
    assert_eq!(get(&client(), k, "/").await.0, StatusCode::OK);
    p.shutdown().await;
}

#[tokio::test]
async fn drain_finishes_in_flight_requests_then_reports_drained() {
    let app = upstream(false, |_r| async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        text(StatusCode::OK, "done")
    })
    .await;
    let p = proxy().await;
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    p.apply(snapshot(json!({
        "version": 1,
        "ingress": [{"discoveryName": "orders", "listen": listen, "app": app.addr, "protocol": "http"}],
    })))
    .await
    .unwrap();
    let l = p.listener_addr(listen).await.unwrap();
    // An idle keep-alive connection, and one with a request in flight.
    let idle = client();
    assert_eq!(get(&idle, l, "/").await.0, StatusCode::OK);
    let in_flight = tokio::spawn(async move { get(&client(), l, "/").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, b) = admin(&p, "POST", "/drain", "").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert!(b.contains(r#""state":"draining""#), "{b}");
    assert!(b.contains(r#""inFlight":1"#), "{b}");
    assert_eq!(
        admin(&p, "GET", "/ready", "").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(l).await.is_err(), "no new connections");
    assert_eq!(
        in_flight.await.unwrap(),
        (StatusCode::OK, "done".to_string())
    );
    tokio::time::timeout(Duration::from_secs(5), p.drained())
        .await
        .expect("drained");
    assert_eq!(p.drain_status().phase, DrainPhase::Drained);
    let (_, b) = admin(&p, "GET", "/drain", "").await;
    assert!(b.contains(r#""state":"drained""#), "{b}");
    p.shutdown().await;
}
