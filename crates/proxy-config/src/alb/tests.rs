use serde_json::{json, Value};

use super::*;
use crate::AnySnapshot;

const LB_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
const TG_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/73e2d6bc24d8a067";

/// A valid snapshot: one listener with one rule, groups `api` and `web`.
fn base() -> Value {
    json!({
        "version": 1,
        "loadBalancer": {
            "name": "web",
            "arn": LB_ARN,
            "listeners": [{
                "address": "127.77.0.1", "port": 80,
                "defaultActions": [{"type": "forward", "targetGroups": [{"targetGroup": "web"}]}],
                "rules": [{
                    "priority": 10,
                    "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
                    "actions": [{"type": "forward", "targetGroups": [{"targetGroup": "api"}]}]
                }]
            }],
            "targetGroups": {
                "api": {"name": "api", "arn": TG_ARN, "port": 8080,
                        "targets": [{"id": "10.0.0.5", "ip": "10.0.0.5"}]},
                "web": {"name": "web", "arn": TG_ARN.replace("/api/", "/web/"), "port": 80}
            }
        }
    })
}

/// `base()` with the JSON pointer `at` set to `v`.
fn with(at: &str, v: Value) -> Value {
    let mut doc = base();
    let (parent, key) = at.rsplit_once('/').unwrap();
    let p = doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{parent}"));
    match p {
        Value::Object(m) => {
            m.insert(key.to_string(), v);
        }
        Value::Array(a) => {
            let i: usize = key.parse().unwrap();
            if i == a.len() {
                a.push(v);
            } else {
                a[i] = v;
            }
        }
        _ => panic!("{at}"),
    }
    doc
}

fn parse(v: &Value) -> Result<LoadBalancerSnapshot, ConfigError> {
    LoadBalancerSnapshot::from_json(v.to_string().as_bytes())
}

#[test]
fn the_example_parses_with_elb_defaults() {
    let s = parse(&base()).unwrap();
    let lb = &s.load_balancer;
    assert_eq!(lb.dimension(), "app/web/50dc6c495c0c9188");
    assert_eq!(lb.idle_timeout_seconds, 60);
    let g = &lb.target_groups["api"];
    assert_eq!(g.dimension(), "targetgroup/api/73e2d6bc24d8a067");
    assert_eq!(g.deregistration_delay_seconds, 300);
    assert_eq!(g.algorithm, Algorithm::RoundRobin);
    assert_eq!(g.address(&g.targets[0]), "10.0.0.5:8080".parse().unwrap());
    let hc = &g.health_check;
    assert!(hc.enabled);
    assert_eq!(
        (
            hc.path.as_str(),
            hc.port,
            hc.interval_seconds,
            hc.timeout_seconds
        ),
        ("/", HealthCheckPort::TrafficPort, 30, 5)
    );
    assert_eq!((hc.healthy_threshold, hc.unhealthy_threshold), (5, 2));
    assert_eq!(hc.matcher.http_code, "200");
    // Round trip, and through AnySnapshot.
    let line = serde_json::to_string(&s).unwrap();
    assert_eq!(LoadBalancerSnapshot::from_json(line.as_bytes()).unwrap(), s);
    let any = AnySnapshot::from_json(line.as_bytes()).unwrap();
    assert_eq!((any.version(), any), (1, AnySnapshot::LoadBalancer(s)));
}

#[test]
fn the_doc_example_parses() {
    let doc = include_str!("../alb.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//! "))
        .skip_while(|l| *l != "```json")
        .skip(1)
        .take_while(|l| *l != "```")
        .collect::<Vec<_>>()
        .join("\n");
    let s = AnySnapshot::from_json(doc.as_bytes()).unwrap();
    assert_eq!(s.version(), 7);
}

#[test]
fn validation_names_the_field() {
    let rule0 = "/loadBalancer/listeners/0/rules/0";
    let fwd = |g: &str, w: u32| json!({"targetGroup": g, "weight": w});
    let cases: Vec<(&str, Value, &str)> = vec![
        // Priorities.
        (
            "priority 0",
            with(&format!("{rule0}/priority"), json!(0)),
            "rules[0].priority is 0; it must be from 1 to 50000",
        ),
        (
            "priority too large",
            with(&format!("{rule0}/priority"), json!(50001)),
            "rules[0].priority is 50001",
        ),
        (
            "duplicate priority",
            with(
                "/loadBalancer/listeners/0/rules/1",
                json!({"priority": 10,
                       "conditions": [{"field": "host-header", "values": ["a.example.com"]}],
                       "actions": [{"type": "fixed-response", "statusCode": 200}]}),
            ),
            "rules[1].priority 10 is used by another rule",
        ),
        // Conditions.
        (
            "no condition",
            with(&format!("{rule0}/conditions"), json!([])),
            "rules[0].conditions is empty",
        ),
        (
            "no value",
            with(
                &format!("{rule0}/conditions"),
                json!([{"field": "path-pattern", "values": []}]),
            ),
            "conditions[0].values is empty",
        ),
        (
            "a field twice",
            with(
                &format!("{rule0}/conditions"),
                json!([{"field": "path-pattern", "values": ["/a"]},
                       {"field": "path-pattern", "values": ["/b"]}]),
            ),
            "conditions[1].field path-pattern is given twice",
        ),
        (
            "six values",
            with(
                &format!("{rule0}/conditions"),
                json!([{"field": "path-pattern", "values": ["/a", "/b", "/c", "/d", "/e", "/f"]}]),
            ),
            "have 6 values in all",
        ),
        (
            "bad method",
            with(
                &format!("{rule0}/conditions"),
                json!([{"field": "http-request-method", "values": ["get"]}]),
            ),
            "'get' is not a method",
        ),
        (
            "bad header name",
            with(
                &format!("{rule0}/conditions"),
                json!([{"field": "http-header", "httpHeaderName": "x y", "values": ["a"]}]),
            ),
            "httpHeaderName 'x y' is not a header name",
        ),
        (
            "bad cidr",
            with(
                &format!("{rule0}/conditions"),
                json!([{"field": "source-ip", "values": ["10.0.0.0/33"]}]),
            ),
            "the prefix length must be 0 to 32",
        ),
        (
            "unknown field",
            with(
                &format!("{rule0}/conditions"),
                json!([{"field": "cookie", "values": ["a"]}]),
            ),
            "unknown variant `cookie`",
        ),
        // Actions.
        (
            "two actions",
            with(
                &format!("{rule0}/actions/1"),
                json!({"type": "fixed-response", "statusCode": 200}),
            ),
            "rules[0].actions has 2 actions",
        ),
        (
            "unknown group",
            with(
                &format!("{rule0}/actions/0/targetGroups"),
                json!([fwd("nope", 1)]),
            ),
            "targetGroups[0].targetGroup 'nope' is not in loadBalancer.targetGroups",
        ),
        (
            "weight too large",
            with(
                &format!("{rule0}/actions/0/targetGroups"),
                json!([fwd("api", 1000), fwd("web", 1)]),
            ),
            "targetGroups[0].weight is 1000",
        ),
        (
            "all weights zero",
            with(
                &format!("{rule0}/actions/0/targetGroups"),
                json!([fwd("api", 0), fwd("web", 0)]),
            ),
            "has only weights of 0",
        ),
        (
            "a group twice",
            with(
                &format!("{rule0}/actions/0/targetGroups"),
                json!([fwd("api", 1), fwd("api", 2)]),
            ),
            "'api' is named twice",
        ),
        (
            "group stickiness",
            with(
                &format!("{rule0}/actions/0/stickiness"),
                json!({"enabled": true, "durationSeconds": 60}),
            ),
            "stickiness.enabled is true",
        ),
        (
            "fixed 301",
            with(
                &format!("{rule0}/actions/0"),
                json!({"type": "fixed-response", "statusCode": 301}),
            ),
            "statusCode is 301",
        ),
        (
            "fixed content type",
            with(
                &format!("{rule0}/actions/0"),
                json!({"type": "fixed-response", "statusCode": 200, "contentType": "image/png"}),
            ),
            "contentType 'image/png' is not one of",
        ),
        (
            "redirect loop",
            with(
                &format!("{rule0}/actions/0"),
                json!({"type": "redirect", "statusCode": "HTTP_301"}),
            ),
            "redirects to the request's own URL",
        ),
        (
            "redirect path",
            with(
                &format!("{rule0}/actions/0"),
                json!({"type": "redirect", "statusCode": "HTTP_302", "path": "x"}),
            ),
            "actions[0].path must start with /",
        ),
        (
            "redirect port",
            with(
                &format!("{rule0}/actions/0"),
                json!({"type": "redirect", "statusCode": "HTTP_302", "port": "0"}),
            ),
            "actions[0].port '0' is not a port",
        ),
        (
            "redirect code",
            with(
                &format!("{rule0}/actions/0"),
                json!({"type": "redirect", "statusCode": "HTTP_307", "port": "8080"}),
            ),
            "unknown variant `HTTP_307`",
        ),
        (
            "no default action",
            with("/loadBalancer/listeners/0/defaultActions", json!([])),
            "listeners[0].defaultActions has 0 actions",
        ),
        // Target groups.
        (
            "bad matcher",
            with(
                "/loadBalancer/targetGroups/api/healthCheck",
                json!({"matcher": {"httpCode": "200-abc"}}),
            ),
            "healthCheck.matcher.httpCode 'abc' is not a status code",
        ),
        (
            "matcher out of range",
            with(
                "/loadBalancer/targetGroups/api/healthCheck",
                json!({"matcher": {"httpCode": "200,503"}}),
            ),
            "'503' is not a status code from 200 to 499",
        ),
        (
            "empty matcher range",
            with(
                "/loadBalancer/targetGroups/api/healthCheck",
                json!({"matcher": {"httpCode": "299-200"}}),
            ),
            "the range '299-200' is empty",
        ),
        (
            "timeout not below interval",
            with(
                "/loadBalancer/targetGroups/api/healthCheck",
                json!({"intervalSeconds": 5, "timeoutSeconds": 5}),
            ),
            "healthCheck.timeoutSeconds (5) must be less than intervalSeconds (5)",
        ),
        (
            "threshold",
            with(
                "/loadBalancer/targetGroups/api/healthCheck",
                json!({"healthyThreshold": 1}),
            ),
            "healthCheck.healthyThreshold is 1; it must be from 2 to 10",
        ),
        (
            "interval",
            with(
                "/loadBalancer/targetGroups/api/healthCheck",
                json!({"intervalSeconds": 301}),
            ),
            "intervalSeconds is 301",
        ),
        (
            "health check port",
            with(
                "/loadBalancer/targetGroups/api/healthCheck",
                json!({"port": "http"}),
            ),
            "'http' is neither traffic-port nor a port number",
        ),
        (
            "health check path",
            with(
                "/loadBalancer/targetGroups/api/healthCheck",
                json!({"path": "health"}),
            ),
            "healthCheck.path must start with /",
        ),
        (
            "target stickiness",
            with(
                "/loadBalancer/targetGroups/api/stickiness",
                json!({"enabled": true, "type": "lb_cookie", "durationSeconds": 60}),
            ),
            "targetGroups.api.stickiness.enabled is true",
        ),
        (
            "target twice",
            with(
                "/loadBalancer/targetGroups/api/targets/1",
                json!({"id": "again", "ip": "10.0.0.5", "port": 8080}),
            ),
            "targets[1] 10.0.0.5:8080 is registered twice",
        ),
        (
            "group arn",
            with("/loadBalancer/targetGroups/api/arn", json!("api")),
            "targetGroups.api.arn 'api' is not a target group ARN",
        ),
        (
            "load balancer arn",
            with(
                "/loadBalancer/arn",
                json!("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/x/1"),
            ),
            "loadBalancer.arn",
        ),
        (
            "two listeners on a port",
            with(
                "/loadBalancer/listeners/1",
                json!({"address": "127.77.0.1", "port": 80,
                       "defaultActions": [{"type": "fixed-response", "statusCode": 404}]}),
            ),
            "listeners[1].port 127.77.0.1:80 is used by another listener",
        ),
        (
            "unknown member",
            with("/loadBalancer/scheme", json!("internal")),
            "unknown field `scheme`",
        ),
    ];
    for (name, doc, want) in cases {
        let e = parse(&doc).expect_err(name).to_string();
        assert!(e.contains(want), "{name}: {e}");
    }
}

#[test]
fn valid_variants_pass() {
    let rule0 = "/loadBalancer/listeners/0/rules/0";
    let ok: Vec<(&str, Value)> = vec![
        (
            "every condition",
            with(
                &format!("{rule0}/conditions"),
                json!([{"field": "host-header", "values": ["*.example.com"]},
                       {"field": "http-header", "httpHeaderName": "User-Agent", "values": ["*Mobile*"]},
                       {"field": "query-string", "values": [{"key": "v", "value": "1"}]},
                       {"field": "http-request-method", "values": ["GET"]},
                       {"field": "source-ip", "values": ["10.0.0.0/8"]}]),
            ),
        ),
        (
            "weights with a zero",
            with(
                &format!("{rule0}/actions/0/targetGroups"),
                json!([{"targetGroup": "api", "weight": 0}, {"targetGroup": "web", "weight": 999}]),
            ),
        ),
        (
            "redirect to https",
            with(
                &format!("{rule0}/actions/0"),
                json!({"type": "redirect", "statusCode": "HTTP_301", "protocol": "HTTPS", "port": "443"}),
            ),
        ),
        (
            "matcher list and range",
            with(
                "/loadBalancer/targetGroups/api/healthCheck",
                json!({"matcher": {"httpCode": "200,202,300-399"}, "port": "8081"}),
            ),
        ),
        (
            "health check port number",
            with(
                "/loadBalancer/targetGroups/api/healthCheck",
                json!({"port": 9000}),
            ),
        ),
    ];
    for (name, doc) in ok {
        parse(&doc).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn matcher_ranges() {
    let m = |s: &str| Matcher {
        http_code: s.into(),
    };
    assert!(m("200").accepts(200));
    assert!(!m("200").accepts(201));
    assert!(m("200-299").accepts(204));
    assert!(!m("200-299").accepts(301));
    assert!(m("200,202").accepts(202));
    assert!(!m("200,202").accepts(201));
    assert!(!m("bad").accepts(200));
}

#[test]
fn cidr_blocks() {
    let c = |s: &str| s.parse::<Cidr>().unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(c("10.0.0.0/8").contains(ip("10.200.3.4")));
    assert!(!c("10.0.0.0/8").contains(ip("11.0.0.1")));
    assert!(c("192.168.1.7/32").contains(ip("192.168.1.7")));
    assert!(!c("192.168.1.7/32").contains(ip("192.168.1.8")));
    assert!(c("0.0.0.0/0").contains(ip("8.8.8.8")));
    assert!(c("2001:db8::/32").contains(ip("2001:db8:1::5")));
    assert!(!c("2001:db8::/32").contains(ip("10.0.0.1")));
    // An IPv4-mapped IPv6 client address matches IPv4 blocks.
    assert!(c("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
    assert!("10.0.0.0".parse::<Cidr>().is_err());
    assert!("x/8".parse::<Cidr>().is_err());
    assert_eq!(c("10.0.0.0/8").to_string(), "10.0.0.0/8");
}

#[test]
fn health_report_lines_round_trip() {
    let change = TargetHealthChange {
        load_balancer_arn: LB_ARN.into(),
        target_group: "api".into(),
        target_group_arn: TG_ARN.into(),
        target: TargetHealth {
            id: "10.0.0.5".into(),
            ip: "10.0.0.5".parse().unwrap(),
            port: 8080,
            state: TargetState::Unhealthy,
            reason: Some(TargetReason::ResponseCodeMismatch),
            description: Some("Health checks failed with these codes: [503]".into()),
            since: 1_700_000_000_000,
        },
        previous: Some(TargetState::Healthy),
    };
    let line = change.to_line();
    assert!(line.contains(r#""state":"unhealthy""#), "{line}");
    assert!(
        line.contains(r#""reason":"Target.ResponseCodeMismatch""#),
        "{line}"
    );
    assert!(line.contains(r#""previous":"healthy""#), "{line}");
    let back: TargetHealthChange = serde_json::from_str(&line).unwrap();
    assert_eq!(back, change);
}
