//! One attempt loop for every egress path: the HTTP/1.1 fast path, hyper's path (here an
//! HTTP/2 upstream) and TCP end alike when every endpoint fails (with the last attempt's
//! error) and when the retry budget refuses a retry (recorded in the access log), through
//! real sockets.

mod common;

use std::net::SocketAddr;

use berth_proxy::ProxyConfig;
use common::*;
use serde_json::{json, Value};

/// The egress paths: a name, and the upstream's protocol (none: TCP).
const PATHS: [(&str, Option<&str>); 3] = [
    ("fast path", Some("http")),
    ("hyper path", Some("http2")),
    ("tcp", None),
];

/// What one connection through `path` to an upstream of `eps` with `retries` comes to:
/// for HTTP the status and body of the answer, and the access log's JSON line.
async fn through(
    protocol: Option<&str>,
    eps: &[SocketAddr],
    retries: Value,
) -> (Option<(http::StatusCode, String)>, Value) {
    let captured = Captured::default();
    let w = captured.clone();
    let p = proxy_with(ProxyConfig {
        access_log_writer: Some(std::sync::Arc::new(move || Box::new(w.clone()))),
        ..Default::default()
    })
    .await;
    let mut upstream = json!({"endpoints": endpoints(eps), "retries": retries});
    if let Some(proto) = protocol {
        upstream["protocol"] = json!(proto);
    }
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    p.apply(snapshot(json!({
        "version": 1,
        "egress": [{"alias": "orders:80", "listen": listen, "upstream": "orders"}],
        "upstreams": {"orders": upstream},
        "accessLog": {"format": "JSON"},
    })))
    .await
    .unwrap();
    let l = p.listener_addr(listen).await.unwrap();
    let answer = match protocol {
        Some(_) => Some(get(&client(), l, "/").await),
        None => {
            let mut s = tokio::net::TcpStream::connect(l).await.unwrap();
            assert_eq!(read_all(&mut s).await, "", "the proxy closes at once");
            None
        }
    };
    p.shutdown().await;
    let text = captured.text();
    let line = text.lines().next().unwrap_or_else(|| panic!("no log line"));
    (answer, serde_json::from_str(line).unwrap())
}

#[tokio::test]
async fn every_endpoint_failing_ends_with_the_last_error() {
    let eps = [refusing().await, refusing().await];
    for (name, protocol) in PATHS {
        let (answer, line) = through(protocol, &eps, json!({})).await;
        let last: SocketAddr = line["upstream_host"].as_str().unwrap().parse().unwrap();
        assert!(eps.contains(&last), "{name}: {line}");
        match answer {
            Some((status, body)) => {
                assert_eq!(status, 503, "{name}");
                assert!(body.contains("connect failed"), "{name}: {body}");
                assert!(body.contains(&last.to_string()), "{name}: {body}");
                assert_eq!(line["response_flags"], "UF", "{name}: {line}");
            }
            None => assert_eq!(
                line["termination_details"], "upstream connect failure",
                "{name}: {line}"
            ),
        }
    }
}

#[tokio::test]
async fn a_retry_the_budget_refuses_is_recorded() {
    let eps = [refusing().await, refusing().await];
    let no_budget = json!({"budgetPercent": 0, "minRetriesPerSecond": 0});
    for (name, protocol) in PATHS {
        let (answer, line) = through(protocol, &eps, no_budget.clone()).await;
        match answer {
            Some((status, body)) => {
                assert_eq!(status, 503, "{name}");
                assert!(body.contains("connect failed"), "{name}: {body}");
                assert_eq!(line["response_flags"], "URX", "{name}: {line}");
            }
            None => assert_eq!(
                line["termination_details"], "upstream connect failure, retry budget exhausted",
                "{name}: {line}"
            ),
        }
    }
}

#[tokio::test]
async fn no_endpoint_at_all_is_no_healthy_upstream() {
    for (name, protocol) in PATHS {
        let (answer, line) = through(protocol, &[], json!({})).await;
        match answer {
            Some((status, body)) => {
                assert_eq!(status, 503, "{name}");
                assert!(body.contains("no healthy endpoint"), "{name}: {body}");
                assert_eq!(line["response_flags"], "UH", "{name}: {line}");
            }
            None => assert_eq!(
                line["termination_details"], "no healthy upstream",
                "{name}: {line}"
            ),
        }
    }
}
