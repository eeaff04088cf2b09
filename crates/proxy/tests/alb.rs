//! A load balancer (the proxy's ALB mode) through real sockets: rules to target groups,
//! weights, fixed responses and redirects, health checks moving targets, draining,
//! ALB's failures, the health report, metrics and access log. Both HTTP paths: plain
//! HTTP/1.1 clients take the fast path, HTTP/2 (prior knowledge) clients hyper's.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_proxy::{LoadBalancerSnapshot, ProxyConfig, RunningProxy};
use berth_proxy_config::alb::{TargetHealthChange, TargetState, TargetsReport};
use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use serde_json::{json, Value};

const LB_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
const LB_DIM: &str = "app/web/50dc6c495c0c9188";

fn tg_arn(name: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/73e2d6bc24d8a067"
    )
}

/// A target group: `targets` (ip:port) and its health check (JSON).
fn group(name: &str, targets: &[SocketAddr], health_check: Value) -> Value {
    let targets: Vec<Value> = targets
        .iter()
        .map(|a| json!({"id": a.to_string(), "ip": a.ip(), "port": a.port()}))
        .collect();
    json!({"name": name, "arn": tg_arn(name), "port": 80,
           "healthCheck": health_check, "targets": targets})
}

/// Health checks off: every target gets traffic at once (state `unavailable`).
fn no_checks() -> Value {
    json!({"enabled": false})
}

/// Checks every 2 s, 1 s timeout, 2 in a row either way.
fn quick_checks(path: &str) -> Value {
    json!({"path": path, "intervalSeconds": 2, "timeoutSeconds": 1,
           "healthyThreshold": 2, "unhealthyThreshold": 2})
}

fn forward(groups: &[(&str, u32)]) -> Value {
    let g: Vec<Value> = groups
        .iter()
        .map(|(k, w)| json!({"targetGroup": k, "weight": w}))
        .collect();
    json!({"type": "forward", "targetGroups": g})
}

/// A load balancer snapshot: one listener on a free loopback port.
fn lb(
    version: u64,
    default: Value,
    rules: Value,
    groups: Value,
    extra: Value,
) -> LoadBalancerSnapshot {
    let mut doc = json!({
        "version": version,
        "loadBalancer": {
            "name": "web", "arn": LB_ARN,
            "listeners": [{"address": "127.0.0.1", "port": 0,
                           "defaultActions": [default], "rules": rules}],
            "targetGroups": groups,
        }
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut doc["loadBalancer"], extra) {
        m.extend(e);
    }
    LoadBalancerSnapshot::from_json(doc.to_string().as_bytes()).expect("valid snapshot")
}

const LISTEN: &str = "127.0.0.1:0";

/// A proxy whose health report lines go to the returned buffer.
async fn alb_proxy() -> (RunningProxy, Captured) {
    let report = Captured::default();
    let p = proxy_with(ProxyConfig {
        health_report_writer: Some(Box::new(report.clone())),
        ..Default::default()
    })
    .await;
    (p, report)
}

async fn apply(p: &RunningProxy, s: LoadBalancerSnapshot) -> SocketAddr {
    p.apply(s).await.expect("snapshot applies");
    p.listener_addr(LISTEN.parse().unwrap()).await.unwrap()
}

/// An upstream that answers `name` and what it saw of the forwarding headers.
async fn echoing(name: &'static str) -> Upstream {
    upstream(
        false,
        move |req: Request<hyper::body::Incoming>| async move {
            let h = |n: &str| {
                req.headers()
                    .get(n)
                    .map(|v| v.to_str().unwrap_or("").to_string())
                    .unwrap_or_default()
            };
            let body = json!({
                "name": name,
                "xff": h("x-forwarded-for"), "proto": h("x-forwarded-proto"),
                "port": h("x-forwarded-port"), "trace": h("x-amzn-trace-id"), "host": h("host"),
            });
            text(StatusCode::OK, &body.to_string())
        },
    )
    .await
}

/// GET `path` with `host` (and the extra headers): status, headers, body.
async fn get_with(
    c: &HttpClient,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, http::HeaderMap, String) {
    let mut req = Request::get(format!("http://{addr}{path}"));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let req = req.body(Full::new(Bytes::new())).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), c.request(req))
        .await
        .expect("an answer within 10 s")
        .expect("a response");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn name_of(body: &str) -> String {
    serde_json::from_str::<Value>(body).map_or_else(
        |_| body.to_string(),
        |v| v["name"].as_str().unwrap_or("").to_string(),
    )
}

/// Waits (20 s at most) until `f` holds for the targets report.
async fn until_targets(p: &RunningProxy, what: &str, f: impl Fn(&TargetsReport) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = p.targets();
        if f(&r) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {r:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn state_of(r: &TargetsReport, group: &str, addr: SocketAddr) -> Option<TargetState> {
    r.target_groups
        .get(group)?
        .targets
        .iter()
        .find(|t| t.ip == addr.ip() && t.port == addr.port())
        .map(|t| t.state)
}

#[tokio::test]
async fn rules_route_by_path_on_both_paths_with_albs_headers() {
    let (api, web) = (echoing("api").await, echoing("web").await);
    let (p, _) = alb_proxy().await;
    let rules = json!([
        {"priority": 20, "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
         "actions": [forward(&[("api", 1)])]},
        // A lower number wins even when listed later.
        {"priority": 5, "conditions": [{"field": "path-pattern", "values": ["/api/web/*"]}],
         "actions": [forward(&[("web", 1)])]},
        {"priority": 30, "conditions": [{"field": "host-header", "values": ["api.example.*"]},
                                         {"field": "http-request-method", "values": ["POST"]}],
         "actions": [forward(&[("api", 1)])]}
    ]);
    let groups = json!({"api": group("api", &[api.addr], no_checks()),
                        "web": group("web", &[web.addr], no_checks())});
    let l = apply(&p, lb(1, forward(&[("web", 1)]), rules, groups, json!({}))).await;
    for c in [client(), h2_client()] {
        let cases = [
            ("/api/orders", "api"),
            ("/api/web/x", "web"),
            ("/apiary", "web"),
            ("/", "web"),
        ];
        for (path, want) in cases {
            let (s, _, body) = get_with(&c, l, path, &[("host", "www.example.com")]).await;
            assert_eq!(
                (s, name_of(&body)),
                (StatusCode::OK, want.to_string()),
                "{path}"
            );
        }
        // Host and method both needed by rule 30: a GET with the host is not enough.
        let (_, _, body) = get_with(&c, l, "/x", &[("host", "API.example.com:8080")]).await;
        assert_eq!(name_of(&body), "web");
        let req = Request::post(format!("http://{l}/x"))
            .header("host", "api.example.com")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (s, body) = send(&c, req).await;
        assert_eq!((s, name_of(&body)), (StatusCode::OK, "api".to_string()));
    }
    // ALB's headers, as the target sees them.
    for c in [client(), h2_client()] {
        let (_, _, body) = get_with(
            &c,
            l,
            "/api/x",
            &[
                ("host", "www.example.com"),
                ("x-forwarded-for", "203.0.113.7"),
                ("x-forwarded-proto", "https"),
            ],
        )
        .await;
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["xff"], "203.0.113.7, 127.0.0.1");
        assert_eq!(v["proto"], "http");
        assert_eq!(v["port"], l.port().to_string());
        assert_eq!(v["host"], "www.example.com");
        let trace = v["trace"].as_str().unwrap();
        assert!(trace.starts_with("Root=1-") && trace.len() == 40, "{trace}");
        // A trace id the client sent is kept.
        let (_, _, body) = get_with(
            &c,
            l,
            "/api/x",
            &[
                ("host", "a"),
                (
                    "x-amzn-trace-id",
                    "Root=1-5759e988-bd862e3fe1be46a994272793",
                ),
            ],
        )
        .await;
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["trace"], "Root=1-5759e988-bd862e3fe1be46a994272793");
    }
    p.shutdown().await;
}

#[tokio::test]
async fn weighted_forward_splits_by_weight() {
    let (a, b) = (echoing("a").await, echoing("b").await);
    let (p, _) = alb_proxy().await;
    let groups = json!({"a": group("a", &[a.addr], no_checks()),
                        "b": group("b", &[b.addr], no_checks())});
    let l = apply(
        &p,
        lb(
            1,
            forward(&[("a", 3), ("b", 1)]),
            json!([]),
            groups,
            json!({}),
        ),
    )
    .await;
    let c = client();
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..40 {
        let (s, _, body) = get_with(&c, l, "/", &[]).await;
        assert_eq!(s, StatusCode::OK);
        *counts.entry(name_of(&body)).or_insert(0) += 1;
    }
    assert_eq!(counts.get("a"), Some(&30), "{counts:?}");
    assert_eq!(counts.get("b"), Some(&10), "{counts:?}");
    p.shutdown().await;
}

#[tokio::test]
async fn fixed_responses_and_redirects() {
    let (p, _) = alb_proxy().await;
    let rules = json!([
        {"priority": 1, "conditions": [{"field": "path-pattern", "values": ["/old/*"]}],
         "actions": [{"type": "redirect", "statusCode": "HTTP_301", "protocol": "HTTPS", "port": "443",
                      "path": "/new/#{path}", "query": "#{query}&moved=1"}]},
        {"priority": 2, "conditions": [{"field": "query-string", "values": [{"key": "lang", "value": "fr*"}]}],
         "actions": [{"type": "fixed-response", "statusCode": 200, "contentType": "application/json",
                      "messageBody": "{\"bonjour\":true}"}]}
    ]);
    let default = json!({"type": "fixed-response", "statusCode": 404, "contentType": "text/plain", "messageBody": "nothing here"});
    let l = apply(&p, lb(1, default, rules, json!({}), json!({}))).await;
    for c in [client(), h2_client()] {
        let (s, h, body) = get_with(&c, l, "/old/a/b?x=1", &[("host", "shop.example.com")]).await;
        assert_eq!(s, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            h["location"],
            "https://shop.example.com:443/new/old/a/b?x=1&moved=1"
        );
        assert_eq!(h["server"], "awselb/2.0");
        assert!(body.contains("301 Moved Permanently"), "{body}");
        let (s, h, body) = get_with(&c, l, "/?lang=fr-CA", &[]).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "{\"bonjour\":true}"));
        assert_eq!(h["content-type"], "application/json");
        let (s, h, body) = get_with(&c, l, "/?lang=en", &[]).await;
        assert_eq!((s, body.as_str()), (StatusCode::NOT_FOUND, "nothing here"));
        assert_eq!(h["server"], "awselb/2.0");
    }
    // The connection stays usable after an answer (keep-alive, fast path).
    let raw = raw_exchange(
        l,
        b"GET /x HTTP/1.1\r\nhost: a\r\n\r\nGET /old/y HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw.matches("HTTP/1.1 ").count(), 2, "{raw}");
    assert!(
        raw.contains("location: https://a:443/new/old/y?&moved=1")
            || raw.contains("location: https://a:443/new/old/y?moved=1"),
        "{raw}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn no_targets_503_refused_502_timeout_504() {
    let refused = refusing().await;
    let hang = hanging().await;
    let (p, _) = alb_proxy().await;
    let rules = json!([
        {"priority": 1, "conditions": [{"field": "path-pattern", "values": ["/refused"]}],
         "actions": [forward(&[("refused", 1)])]},
        {"priority": 2, "conditions": [{"field": "path-pattern", "values": ["/hang"]}],
         "actions": [forward(&[("hang", 1)])]}
    ]);
    let groups = json!({"empty": group("empty", &[], quick_checks("/")),
                        "refused": group("refused", &[refused], no_checks()),
                        "hang": group("hang", &[hang], no_checks())});
    let l = apply(
        &p,
        lb(
            1,
            forward(&[("empty", 1)]),
            rules,
            groups,
            json!({"idleTimeoutSeconds": 1}),
        ),
    )
    .await;
    for c in [client(), h2_client()] {
        let (s, h, body) = get_with(&c, l, "/", &[]).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h["server"], "awselb/2.0");
        assert_eq!(h["content-type"], "text/html");
        assert!(
            body.contains("<title>503 Service Temporarily Unavailable</title>"),
            "{body}"
        );
        let (s, _, body) = get_with(&c, l, "/refused", &[]).await;
        assert_eq!(s, StatusCode::BAD_GATEWAY);
        assert!(body.contains("502 Bad Gateway"), "{body}");
        let started = Instant::now();
        let (s, _, body) = get_with(&c, l, "/hang", &[]).await;
        assert_eq!(s, StatusCode::GATEWAY_TIMEOUT);
        assert!(body.contains("504 Gateway Time-out"), "{body}");
        assert!(started.elapsed() >= Duration::from_millis(900));
    }
    let m = p.render_metrics();
    for want in [
        format!(r#"HTTPCode_ELB_503_Count{{LoadBalancer="{LB_DIM}"}} 2"#),
        format!(r#"HTTPCode_ELB_502_Count{{LoadBalancer="{LB_DIM}"}} 2"#),
        format!(r#"HTTPCode_ELB_504_Count{{LoadBalancer="{LB_DIM}"}} 2"#),
        format!(r#"HTTPCode_ELB_5XX_Count{{LoadBalancer="{LB_DIM}"}} 6"#),
        format!(
            r#"TargetConnectionErrorCount{{LoadBalancer="{LB_DIM}",TargetGroup="targetgroup/refused/73e2d6bc24d8a067"}} 2"#
        ),
    ] {
        assert!(m.contains(&want), "{want} in\n{m}");
    }
    p.shutdown().await;
}

/// An upstream whose answers (health path and others) are `status` while it is set.
async fn switchable(name: &'static str, status: Arc<AtomicU16>) -> Upstream {
    upstream(false, move |_req| {
        let status = Arc::clone(&status);
        async move {
            let s = StatusCode::from_u16(status.load(SeqCst)).unwrap();
            text(s, name)
        }
    })
    .await
}

#[tokio::test]
async fn health_checks_move_targets_and_traffic_follows() {
    let a_status = Arc::new(AtomicU16::new(200));
    let a = switchable("a", Arc::clone(&a_status)).await;
    let b = switchable("b", Arc::new(AtomicU16::new(200))).await;
    let (p, report) = alb_proxy().await;
    let groups = json!({"g": group("g", &[a.addr, b.addr], quick_checks("/health"))});
    let l = apply(
        &p,
        lb(1, forward(&[("g", 1)]), json!([]), groups, json!({})),
    )
    .await;
    // Initial targets get no traffic.
    let r = p.targets();
    assert_eq!(state_of(&r, "g", a.addr), Some(TargetState::Initial));
    let c = client();
    let (s, _, _) = get_with(&c, l, "/", &[]).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    until_targets(&p, "both healthy", |r| {
        state_of(r, "g", a.addr) == Some(TargetState::Healthy)
            && state_of(r, "g", b.addr) == Some(TargetState::Healthy)
    })
    .await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        seen.insert(get_with(&c, l, "/", &[]).await.2);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    // a answers 503 now: two failed checks make it unhealthy, and it gets no traffic.
    a_status.store(503, SeqCst);
    until_targets(&p, "a unhealthy", |r| {
        state_of(r, "g", a.addr) == Some(TargetState::Unhealthy)
    })
    .await;
    let r = p.targets();
    let t = r.target_groups["g"]
        .targets
        .iter()
        .find(|t| t.port == a.addr.port())
        .unwrap();
    assert_eq!(
        t.description.as_deref(),
        Some("Health checks failed with these codes: [503]")
    );
    let before = a.requests.load(SeqCst);
    for _ in 0..6 {
        let (s, _, body) = get_with(&c, l, "/", &[]).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "b"));
    }
    // Only health checks reached a meanwhile.
    assert!(a.requests.load(SeqCst) - before <= 2);
    // Back to 200: healthy again, traffic again.
    a_status.store(200, SeqCst);
    until_targets(&p, "a healthy again", |r| {
        state_of(r, "g", a.addr) == Some(TargetState::Healthy)
    })
    .await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        seen.insert(get_with(&c, l, "/", &[]).await.2);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    // The health report: a's whole story, one line per change.
    let lines: Vec<TargetHealthChange> = report
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let a_story: Vec<(Option<TargetState>, TargetState)> = lines
        .iter()
        .filter(|c| c.target.port == a.addr.port())
        .map(|c| (c.previous, c.target.state))
        .collect();
    assert_eq!(
        a_story,
        [
            (None, TargetState::Initial),
            (Some(TargetState::Initial), TargetState::Healthy),
            (Some(TargetState::Healthy), TargetState::Unhealthy),
            (Some(TargetState::Unhealthy), TargetState::Healthy),
        ]
    );
    assert!(lines
        .iter()
        .all(|c| c.load_balancer_arn == LB_ARN && c.target_group == "g"));
    // Health checks look like ELB's.
    p.shutdown().await;
}

#[tokio::test]
async fn health_checks_are_elbs() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let t = upstream(false, move |req: Request<hyper::body::Incoming>| {
        let seen = Arc::clone(&s2);
        async move {
            let h = |n: &str| {
                req.headers()
                    .get(n)
                    .map(|v| v.to_str().unwrap().to_string())
            };
            seen.lock().unwrap().push((
                req.method().to_string(),
                req.uri().to_string(),
                h("user-agent"),
                h("host"),
            ));
            text(StatusCode::NO_CONTENT, "")
        }
    })
    .await;
    let (p, _) = alb_proxy().await;
    let mut hc = quick_checks("/ping?deep=1");
    hc["matcher"] = json!({"httpCode": "200-299"});
    let groups = json!({"g": group("g", &[t.addr], hc)});
    apply(
        &p,
        lb(1, forward(&[("g", 1)]), json!([]), groups, json!({})),
    )
    .await;
    until_targets(&p, "healthy on 204", |r| {
        state_of(r, "g", t.addr) == Some(TargetState::Healthy)
    })
    .await;
    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(
        first,
        (
            "GET".to_string(),
            "/ping?deep=1".to_string(),
            Some("ELB-HealthChecker/2.0".to_string()),
            Some(t.addr.to_string())
        )
    );
    p.shutdown().await;
}

#[tokio::test]
async fn all_unhealthy_fails_open() {
    // Health checks fail (the health path answers 500); requests still get answers.
    let handler = |req: Request<hyper::body::Incoming>| async move {
        if req.uri().path() == "/health" {
            text(StatusCode::INTERNAL_SERVER_ERROR, "sick")
        } else {
            text(StatusCode::OK, "still here")
        }
    };
    let (a, b) = (
        upstream(false, handler).await,
        upstream(false, handler).await,
    );
    let (p, _) = alb_proxy().await;
    let groups = json!({"g": group("g", &[a.addr, b.addr], quick_checks("/health"))});
    let l = apply(
        &p,
        lb(1, forward(&[("g", 1)]), json!([]), groups, json!({})),
    )
    .await;
    until_targets(&p, "both unhealthy", |r| {
        state_of(r, "g", a.addr) == Some(TargetState::Unhealthy)
            && state_of(r, "g", b.addr) == Some(TargetState::Unhealthy)
    })
    .await;
    let c = client();
    for _ in 0..4 {
        let (s, _, body) = get_with(&c, l, "/", &[]).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "still here"));
    }
    let m = p.render_metrics();
    let tg = r#"TargetGroup="targetgroup/g/73e2d6bc24d8a067""#;
    assert!(
        m.contains(&format!(
            r#"UnHealthyHostCount{{LoadBalancer="{LB_DIM}",{tg}}} 2"#
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            r#"HealthyHostCount{{LoadBalancer="{LB_DIM}",{tg}}} 0"#
        )),
        "{m}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn draining_targets_finish_in_flight_requests_and_get_no_new_ones() {
    let release = Arc::new(AtomicBool::new(false));
    let r2 = Arc::clone(&release);
    let slow = upstream(false, move |_req| {
        let release = Arc::clone(&r2);
        async move {
            while !release.load(SeqCst) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            text(StatusCode::OK, "slow")
        }
    })
    .await;
    let other = named("other").await;
    let (p, report) = alb_proxy().await;
    let groups = |draining: bool| {
        let mut g = group("g", &[slow.addr, other.addr], no_checks());
        if draining {
            g["targets"][0]["drainingUntil"] = json!(4_102_444_800_000u64);
        }
        json!({"g": g})
    };
    let l = apply(
        &p,
        lb(1, forward(&[("g", 1)]), json!([]), groups(false), json!({})),
    )
    .await;
    // The first request goes to `slow` (round robin starts there) and waits.
    let c = client();
    let in_flight = tokio::spawn({
        let c = c.clone();
        async move { get_with(&c, l, "/", &[]).await }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while slow.requests.load(SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the request reaches slow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Deregistered: draining.
    p.apply(lb(
        2,
        forward(&[("g", 1)]),
        json!([]),
        groups(true),
        json!({}),
    ))
    .await
    .unwrap();
    assert_eq!(
        state_of(&p.targets(), "g", slow.addr),
        Some(TargetState::Draining)
    );
    for _ in 0..4 {
        let (s, _, body) = get_with(&client(), l, "/", &[]).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "other"));
    }
    release.store(true, SeqCst);
    let (s, _, body) = in_flight.await.unwrap();
    assert_eq!((s, body.as_str()), (StatusCode::OK, "slow"));
    assert_eq!(slow.requests.load(SeqCst), 1);
    // Dropped once the configuration stops listing it.
    let only_other = json!({"g": group("g", &[other.addr], no_checks())});
    p.apply(lb(
        3,
        forward(&[("g", 1)]),
        json!([]),
        only_other,
        json!({}),
    ))
    .await
    .unwrap();
    assert_eq!(state_of(&p.targets(), "g", slow.addr), None);
    let drained = report.text().lines().any(|l| {
        let c: TargetHealthChange = serde_json::from_str(l).unwrap();
        c.target.port == slow.addr.port()
            && c.target.state == TargetState::Draining
            && c.target.description.as_deref() == Some("Target deregistration is in progress")
    });
    assert!(drained, "{}", report.text());
    p.shutdown().await;
}

#[tokio::test]
async fn admin_targets_metrics_and_access_log() {
    let api = echoing("api").await;
    let dir = std::env::temp_dir().join(format!("berth-alb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("access.log");
    let _ = std::fs::remove_file(&log_path);
    let (p, _) = alb_proxy().await;
    let rules = json!([
        {"priority": 7, "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
         "actions": [forward(&[("api", 1)])]},
        {"priority": 9, "conditions": [{"field": "path-pattern", "values": ["/go"]}],
         "actions": [{"type": "redirect", "statusCode": "HTTP_302", "path": "/went"}]}
    ]);
    let groups = json!({"api": group("api", &[api.addr], no_checks())});
    let extra = json!({"accessLog": {"path": log_path}});
    let default = json!({"type": "fixed-response", "statusCode": 404});
    let l = apply(&p, lb(1, default, rules, groups, extra)).await;
    let c = client();
    get_with(
        &c,
        l,
        "/api/items?id=3",
        &[("host", "shop.example.com"), ("user-agent", "curl/8.5")],
    )
    .await;
    get_with(&c, l, "/go", &[("host", "shop.example.com")]).await;
    get_with(&c, l, "/nope", &[]).await;
    // GET /targets.
    let (s, body) = admin(&p, "GET", "/targets", "").await;
    assert_eq!(s, StatusCode::OK);
    let r: TargetsReport = serde_json::from_str(&body).unwrap();
    assert_eq!(r.version, Some(1));
    assert_eq!(r.load_balancer_arn.as_deref(), Some(LB_ARN));
    let t = &r.target_groups["api"].targets[0];
    assert_eq!(
        (t.state, t.id.clone()),
        (TargetState::Unavailable, api.addr.to_string())
    );
    assert_eq!(r.target_groups["api"].arn, tg_arn("api"));
    // GET /metrics: ELB's names and dimensions.
    let (_, m) = admin(&p, "GET", "/metrics", "").await;
    let tg = format!(r#"LoadBalancer="{LB_DIM}",TargetGroup="targetgroup/api/73e2d6bc24d8a067""#);
    for want in [
        format!("RequestCount{{{tg}}} 1"),
        format!(r#"RequestCount{{LoadBalancer="{LB_DIM}",TargetGroup=""}} 2"#),
        format!("HTTPCode_Target_2XX_Count{{{tg}}} 1"),
        format!("TargetResponseTime_count{{{tg}}} 1"),
        format!("HealthyHostCount{{{tg}}} 1"),
        format!("UnHealthyHostCount{{{tg}}} 0"),
        format!(r#"HTTPCode_ELB_3XX_Count{{LoadBalancer="{LB_DIM}"}} 1"#),
        format!(r#"HTTPCode_ELB_4XX_Count{{LoadBalancer="{LB_DIM}"}} 1"#),
        format!(r#"HTTP_Redirect_Count{{LoadBalancer="{LB_DIM}"}} 1"#),
        format!(r#"HTTP_Fixed_Response_Count{{LoadBalancer="{LB_DIM}"}} 1"#),
        format!(r#"NewConnectionCount{{LoadBalancer="{LB_DIM}"}} 1"#),
    ] {
        assert!(m.contains(&want), "{want} in\n{m}");
    }
    // No Service Connect series for the load balancer's traffic.
    assert!(!m.contains("DiscoveryName"), "{m}");
    p.shutdown().await;
    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let f: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!((f[0], f[2]), ("http", LB_DIM), "{}", lines[0]);
    assert!(f[3].starts_with("127.0.0.1:"), "{}", lines[0]);
    assert_eq!(f[4], api.addr.to_string());
    assert_eq!((f[8], f[9]), ("200", "200"));
    assert!(lines[0].contains(&format!("\"GET http://shop.example.com:{}/api/items?id=3 HTTP/1.1\" \"curl/8.5\" - - {} \"Root=1-", l.port(), tg_arn("api"))), "{}", lines[0]);
    assert!(lines[0].contains(" 7 "), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("\"forward\" \"-\" \"-\" \"{}\" \"200\"", api.addr)),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains(" 302 - "), "{}", lines[1]);
    assert!(
        lines[1].contains(&format!(
            "\"redirect\" \"http://shop.example.com:{}/went\"",
            l.port()
        )),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(" 404 - ")
            && lines[2].contains(" 0 ")
            && lines[2].contains("\"fixed-response\""),
        "{}",
        lines[2]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn snapshots_keep_target_health_and_validate() {
    let a = named("a").await;
    let (p, _) = alb_proxy().await;
    let groups = json!({"g": group("g", &[a.addr], quick_checks("/"))});
    apply(
        &p,
        lb(
            1,
            forward(&[("g", 1)]),
            json!([]),
            groups.clone(),
            json!({}),
        ),
    )
    .await;
    until_targets(&p, "healthy", |r| {
        state_of(r, "g", a.addr) == Some(TargetState::Healthy)
    })
    .await;
    let since = p.targets().target_groups["g"].targets[0].since;
    // A new version with another rule: a is still healthy, since the same time.
    let rules = json!([{"priority": 1, "conditions": [{"field": "path-pattern", "values": ["/x"]}],
                        "actions": [{"type": "fixed-response", "statusCode": 200}]}]);
    apply(&p, lb(2, forward(&[("g", 1)]), rules, groups, json!({}))).await;
    let t = p.targets().target_groups["g"].targets[0].clone();
    assert_eq!((t.state, t.since), (TargetState::Healthy, since));
    // An invalid one is refused over the admin endpoint, naming the field.
    let bad = json!({"version": 3, "loadBalancer": {"name": "web", "arn": LB_ARN,
        "listeners": [{"port": 0, "defaultActions": [forward(&[("nope", 1)])]}]}});
    let (s, body) = admin(&p, "POST", "/snapshot", &bad.to_string()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("'nope' is not in loadBalancer.targetGroups"),
        "{body}"
    );
    assert_eq!(p.version(), Some(2));
    p.shutdown().await;
}

#[tokio::test]
async fn a_load_balancer_listens_on_its_own_loopback_address() {
    // Each load balancer has a 127.x address of its own (its DNS name resolves there),
    // so several can listen on port 80 of one host.
    let web = named("web").await;
    let (p, _) = alb_proxy().await;
    let doc = json!({"version": 1, "loadBalancer": {
        "name": "web", "arn": LB_ARN,
        "listeners": [{"address": "127.77.0.9", "port": 0,
                       "defaultActions": [forward(&[("web", 1)])]}],
        "targetGroups": {"web": group("web", &[web.addr], no_checks())}}});
    let s = LoadBalancerSnapshot::from_json(doc.to_string().as_bytes()).unwrap();
    p.apply(s).await.unwrap();
    let l = p
        .listener_addr("127.77.0.9:0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(l.ip().to_string(), "127.77.0.9");
    let (s, _, body) = get_with(
        &client(),
        l,
        "/",
        &[("host", "web-123.us-east-1.elb.localhost")],
    )
    .await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "web"));
    // Nothing listens on 127.0.0.1 for it.
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", l.port()))
        .await
        .is_err());
    p.shutdown().await;
}

#[tokio::test]
async fn clients_its_security_groups_do_not_admit_get_no_answer() {
    // The listener admits 10.0.0.0/8 only: a client on 127.0.0.1 is closed unanswered,
    // on both HTTP paths; once its block is admitted, it is answered.
    let web = named("web").await;
    let (p, _) = alb_proxy().await;
    let snapshot = |version: u64, clients: Value| {
        let doc = json!({"version": version, "loadBalancer": {
            "name": "web", "arn": LB_ARN,
            "listeners": [{"address": "127.0.0.1", "port": 0, "clients": clients,
                           "defaultActions": [forward(&[("web", 1)])]}],
            "targetGroups": {"web": group("web", &[web.addr], no_checks())}}});
        LoadBalancerSnapshot::from_json(doc.to_string().as_bytes()).unwrap()
    };
    let addr = apply(&p, snapshot(1, json!(["10.0.0.0/8"]))).await;
    for c in [client(), h2_client()] {
        let req = Request::get(format!("http://{addr}/"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), c.request(req))
            .await
            .expect("closed within 10 s");
        assert!(answer.is_err(), "answered: {answer:?}");
    }
    let addr = apply(&p, snapshot(2, json!(["10.0.0.0/8", "127.0.0.1/32"]))).await;
    let (s, _, body) = get_with(&client(), addr, "/", &[]).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "web"));
    p.shutdown().await;
}
