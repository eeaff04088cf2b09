//! The worker model: every worker has its own socket per listener (SO_REUSEPORT), so
//! connections spread over the workers; snapshots start and stop listeners on every
//! worker; draining stops every worker's ingress sockets.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use berth_proxy::{DrainPhase, ProxyConfig, RunningProxy};
use common::*;
use http::StatusCode;
use serde_json::json;
use tokio::net::TcpStream;

const CLOSE_GET: &[u8] = b"GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n";

async fn proxy_of(workers: usize) -> RunningProxy {
    let p = proxy_with(ProxyConfig {
        workers,
        ..Default::default()
    })
    .await;
    assert_eq!(p.workers().len(), workers);
    p
}

/// `n` requests, each on a connection of its own; returns how many got a 200.
async fn on_new_connections(l: SocketAddr, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        if status_of(&raw_exchange(l, CLOSE_GET).await) == 200 {
            ok += 1;
        }
    }
    ok
}

fn accepted(p: &RunningProxy) -> Vec<u64> {
    p.workers().iter().map(|w| w.connections_accepted).collect()
}

fn listeners(p: &RunningProxy) -> Vec<usize> {
    p.workers().iter().map(|w| w.listeners).collect()
}

/// Whether a connection to `l` is refused, tried enough times to reach every worker's
/// socket (the kernel picks one per connection).
async fn refused_everywhere(l: SocketAddr) -> bool {
    for _ in 0..32 {
        if TcpStream::connect(l).await.is_ok() {
            return false;
        }
    }
    true
}

#[tokio::test]
async fn connections_land_on_more_than_one_worker() {
    let a = named("a").await;
    let p = proxy_of(2).await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[a.addr])}),
    )
    .await;
    assert_eq!(listeners(&p), [1, 1]);
    assert_eq!(on_new_connections(l, 40).await, 40);
    let counts = accepted(&p);
    assert_eq!(counts.iter().sum::<u64>(), 40);
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    p.shutdown().await;
}

#[tokio::test]
async fn snapshots_add_and_remove_listeners_on_every_worker() {
    let a = named("a").await;
    let p = proxy_of(3).await;
    let first: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let second: SocketAddr = "127.0.0.2:0".parse().unwrap();
    let with = |v: u64, listens: &[SocketAddr]| {
        let egress: Vec<_> = listens
            .iter()
            .enumerate()
            .map(|(i, l)| json!({"alias": format!("a{i}:80"), "listen": l, "upstream": "a"}))
            .collect();
        snapshot(json!({
            "version": v,
            "egress": egress,
            "upstreams": {"a": {"protocol": "http", "endpoints": endpoints(&[a.addr])}},
        }))
    };
    p.apply(with(1, &[first])).await.unwrap();
    assert_eq!(listeners(&p), [1, 1, 1]);
    let f = p.listener_addr(first).await.unwrap();

    p.apply(with(2, &[first, second])).await.unwrap();
    assert_eq!(listeners(&p), [2, 2, 2], "added on every worker");
    assert_eq!(p.listener_addr(first).await, Some(f), "kept, not rebound");
    let s = p.listener_addr(second).await.unwrap();
    let before = accepted(&p);
    assert_eq!(on_new_connections(s, 60).await, 60);
    let after = accepted(&p);
    let served: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert!(
        served.iter().all(|&c| c > 0),
        "every worker accepts on the new listener: {served:?}"
    );

    p.apply(with(3, &[second])).await.unwrap();
    assert_eq!(listeners(&p), [1, 1, 1], "removed on every worker");
    assert!(
        refused_everywhere(f).await,
        "no worker accepts on the removed one"
    );
    assert_eq!(on_new_connections(s, 10).await, 10);
    p.shutdown().await;
}

#[tokio::test]
async fn drain_stops_ingress_on_every_worker() {
    let app = named("app").await;
    let up = named("up").await;
    let p = proxy_of(4).await;
    let ingress: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let egress: SocketAddr = "127.0.0.2:0".parse().unwrap();
    p.apply(snapshot(json!({
        "version": 1,
        "ingress": [{"discoveryName": "app", "listen": ingress, "app": app.addr, "protocol": "http"}],
        "egress": [{"alias": "up:80", "listen": egress, "upstream": "up"}],
        "upstreams": {"up": {"protocol": "http", "endpoints": endpoints(&[up.addr])}},
    })))
    .await
    .unwrap();
    let (i, e) = (
        p.listener_addr(ingress).await.unwrap(),
        p.listener_addr(egress).await.unwrap(),
    );
    assert_eq!(listeners(&p), [2, 2, 2, 2]);
    // Idle keep-alive ingress connections, spread over the workers.
    let mut idle = Vec::new();
    for _ in 0..16 {
        let c = client();
        assert_eq!(get(&c, i, "/").await.0, StatusCode::OK);
        idle.push(c);
    }
    p.drain();
    tokio::time::timeout(Duration::from_secs(5), p.drained())
        .await
        .expect("drained: every worker closed its idle ingress connections");
    assert_eq!(p.drain_status().phase, DrainPhase::Drained);
    // Every worker stops its ingress socket (each on its own thread, at once).
    for _ in 0..200 {
        if listeners(&p) == [1, 1, 1, 1] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(listeners(&p), [1, 1, 1, 1], "egress stays on every worker");
    assert!(refused_everywhere(i).await, "no worker accepts ingress");
    assert_eq!(on_new_connections(e, 20).await, 20);
    p.shutdown().await;
}
