use std::net::IpAddr;

use berth_proxy_config::alb::Condition;
use http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::*;

/// A request: `target` is the path and query, `headers` name/value pairs.
struct Req {
    method: &'static str,
    target: &'static str,
    host: Option<&'static str>,
    headers: Vec<(&'static str, &'static str)>,
    source: &'static str,
}

fn req(target: &'static str) -> Req {
    Req {
        method: "GET",
        target,
        host: Some("www.example.com"),
        headers: vec![],
        source: "192.0.2.10",
    }
}

impl Req {
    fn facts_with<T>(&self, f: impl FnOnce(&RequestFacts<'_>) -> T) -> T {
        let mut h = HeaderMap::new();
        for (n, v) in &self.headers {
            h.append(*n, HeaderValue::from_static(v));
        }
        let (path, query) = match self.target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.target, None),
        };
        let source: IpAddr = self.source.parse().unwrap();
        f(&RequestFacts {
            method: self.method,
            path,
            query,
            host: self.host.map(str::as_bytes),
            headers: &h,
            source,
        })
    }
}

fn cond(v: serde_json::Value) -> Condition {
    serde_json::from_value(v).unwrap()
}

/// Whether the one condition `c` matches `r`.
fn matches(c: &serde_json::Value, r: &Req) -> bool {
    let conds = [cond(c.clone())];
    let set = RuleSet::new(vec![(1, &conds[..], true)], false);
    r.facts_with(|f| *set.evaluate(f).action)
}

#[test]
fn patterns() {
    let cases: &[(&str, bool, &str, bool)] = &[
        // (pattern, case-insensitive, input, matches)
        ("/img/*", false, "/img/a.png", true),
        ("/img/*", false, "/img/", true),
        ("/img/*", false, "/img", false),
        ("/img/*/pics", false, "/img/2024/pics", true),
        ("/img/*/pics", false, "/img/2024/pics/x", false),
        ("/api/v?/users", false, "/api/v2/users", true),
        ("/api/v?/users", false, "/api/v10/users", false),
        ("*", false, "", true),
        ("*.png", false, "/a/b.png", true),
        ("*.png", false, "/a/b.PNG", false),
        ("*.png", true, "/a/b.PNG", true),
        ("a*b*c", false, "aXbYbZc", true),
        ("a*b*c", false, "aXbYbZ", false),
        ("**x", false, "yyx", true),
        ("/exact", false, "/exact", true),
        ("/exact", false, "/exact/", false),
        ("/Exact", false, "/exact", false),
        (r"/a\*b", false, "/a*b", true),
        (r"/a\*b", false, "/aXb", false),
        (r"what\?", false, "what?", true),
        (r"what\?", false, "whatX", false),
        ("?", false, "", false),
        ("??", false, "ab", true),
    ];
    for (p, fold, s, want) in cases {
        assert_eq!(
            Pattern::new(p, *fold).matches(s.as_bytes()),
            *want,
            "{p} ~ {s}"
        );
    }
}

#[test]
fn every_condition_type() {
    let with_headers = |hs: Vec<(&'static str, &'static str)>| Req {
        headers: hs,
        ..req("/")
    };
    let with_host = |h: Option<&'static str>| Req {
        host: h,
        ..req("/")
    };
    let with_method = |m: &'static str| Req {
        method: m,
        ..req("/")
    };
    let with_source = |s: &'static str| Req {
        source: s,
        ..req("/")
    };
    let path = json!({"field": "path-pattern", "values": ["/img/*", "/api/v?/users"]});
    let host = json!({"field": "host-header", "values": ["*.example.com"]});
    let exact_host = json!({"field": "host-header", "values": ["example.com"]});
    let ua = json!({"field": "http-header", "httpHeaderName": "User-Agent", "values": ["*Chrome*", "*Safari*"]});
    let q = json!({"field": "query-string", "values": [{"key": "version", "value": "v1"}, {"value": "*example*"}]});
    let q_lang = json!({"field": "query-string", "values": [{"key": "lang", "value": "en*"}]});
    let method = json!({"field": "http-request-method", "values": ["GET", "HEAD"]});
    let source = json!({"field": "source-ip", "values": ["192.0.2.0/24", "198.51.100.10/32", "2001:db8::/32"]});
    let cases: Vec<(&str, &serde_json::Value, Req, bool)> = vec![
        // path-pattern: the path only, case-sensitive, OR across values.
        ("path prefix", &path, req("/img/a.png"), true),
        ("path second value", &path, req("/api/v1/users"), true),
        ("path no match", &path, req("/images/a.png"), false),
        ("path case", &path, req("/IMG/a.png"), false),
        (
            "path ignores the query",
            &path,
            req("/api/v1/users?x=/img/"),
            true,
        ),
        (
            "path query is not the path",
            &path,
            req("/other?/img/x"),
            false,
        ),
        // host-header: case-insensitive, port ignored.
        (
            "host wildcard",
            &host,
            with_host(Some("api.example.com")),
            true,
        ),
        ("host case", &host, with_host(Some("API.Example.COM")), true),
        (
            "host port ignored",
            &host,
            with_host(Some("api.example.com:8080")),
            true,
        ),
        (
            "host apex not matched",
            &host,
            with_host(Some("example.com")),
            false,
        ),
        (
            "host exact",
            &exact_host,
            with_host(Some("EXAMPLE.com:80")),
            true,
        ),
        (
            "host other",
            &exact_host,
            with_host(Some("example.org")),
            false,
        ),
        ("no host", &host, with_host(None), false),
        // http-header: name and value case-insensitive, any value of the header.
        (
            "header",
            &ua,
            with_headers(vec![("user-agent", "Mozilla/5.0 Chrome/120")]),
            true,
        ),
        (
            "header value case",
            &ua,
            with_headers(vec![("user-agent", "mobile safari")]),
            true,
        ),
        ("header absent", &ua, with_headers(vec![]), false),
        (
            "header no match",
            &ua,
            with_headers(vec![("user-agent", "curl/8")]),
            false,
        ),
        (
            "header any of its values",
            &ua,
            with_headers(vec![("user-agent", "curl/8"), ("user-agent", "Chrome")]),
            true,
        ),
        (
            "other header",
            &ua,
            with_headers(vec![("x-agent", "Chrome")]),
            false,
        ),
        // query-string: key/value pairs, key optional, decoded, case-insensitive.
        ("query key and value", &q, req("/?a=1&version=v1"), true),
        ("query value case", &q, req("/?VERSION=V1"), true),
        ("query wrong value", &q, req("/?version=v2"), false),
        ("query any key", &q, req("/?site=my-example-site"), true),
        ("query decoded", &q, req("/?site=an%20example"), true),
        ("query plus is a space", &q_lang, req("/?lang=en+GB"), true),
        ("query encoded key", &q_lang, req("/?l%61ng=en-US"), true),
        ("query wildcard", &q_lang, req("/?lang=fr"), false),
        ("no query", &q, req("/"), false),
        ("query key without value", &q_lang, req("/?lang"), false),
        // http-request-method: exact.
        ("method", &method, with_method("HEAD"), true),
        ("method other", &method, with_method("POST"), false),
        ("method case", &method, with_method("get"), false),
        // source-ip: the connection's address.
        ("source in block", &source, with_source("192.0.2.200"), true),
        (
            "source host block",
            &source,
            with_source("198.51.100.10"),
            true,
        ),
        (
            "source next to host block",
            &source,
            with_source("198.51.100.11"),
            false,
        ),
        ("source v6", &source, with_source("2001:db8::7"), true),
        (
            "source mapped v4",
            &source,
            with_source("::ffff:192.0.2.1"),
            true,
        ),
        ("source outside", &source, with_source("203.0.113.1"), false),
    ];
    for (name, c, r, want) in cases {
        assert_eq!(matches(c, &r), want, "{name}");
    }
}

#[test]
fn priorities_and_conditions_and_the_default() {
    let c = |v: serde_json::Value| -> Vec<Condition> { serde_json::from_value(v).unwrap() };
    let api = c(json!([{"field": "path-pattern", "values": ["/api/*"]}]));
    let api_get = c(json!([{"field": "path-pattern", "values": ["/api/*"]},
                           {"field": "http-request-method", "values": ["GET"]}]));
    let host = c(json!([{"field": "host-header", "values": ["admin.*"]}]));
    // Given out of order: evaluated lowest priority first.
    let set = RuleSet::new(
        vec![
            (30, &api[..], "api"),
            (10, &api_get[..], "api-get"),
            (20, &host[..], "admin"),
        ],
        "default",
    );
    let eval = |r: Req| {
        r.facts_with(|f| {
            let m = set.evaluate(f);
            (m.priority, *m.action)
        })
    };
    assert_eq!(eval(req("/api/x")), (Some(10), "api-get"));
    let post = Req {
        method: "POST",
        ..req("/api/x")
    };
    // AND across conditions: the method fails rule 10, rule 30 takes it.
    assert_eq!(eval(post), (Some(30), "api"));
    let admin = Req {
        host: Some("admin.example.com"),
        ..req("/api/x")
    };
    assert_eq!(eval(admin), (Some(10), "api-get"));
    let admin_root = Req {
        host: Some("admin.example.com"),
        ..req("/")
    };
    assert_eq!(eval(admin_root), (Some(20), "admin"));
    assert_eq!(eval(req("/")), (None, "default"));
}

#[test]
fn url_decoding() {
    assert_eq!(url_decode("a%20b+c"), b"a b c");
    assert_eq!(url_decode("%zz%4"), b"%zz%4");
    assert_eq!(url_decode("%41%62"), b"Ab");
}

#[test]
fn ports_stripped_from_hosts() {
    assert_eq!(strip_port(b"example.com:8080"), b"example.com");
    assert_eq!(strip_port(b"example.com"), b"example.com");
    assert_eq!(strip_port(b"[::1]:80"), b"[::1]");
    assert_eq!(strip_port(b"[::1]"), b"[::1]");
}

#[test]
fn fast_path_headers_are_looked_up_by_name() {
    let hs = [
        httparse::Header {
            name: "User-Agent",
            value: b"curl/8",
        },
        httparse::Header {
            name: "x-a",
            value: b"1",
        },
    ];
    let mut seen = Vec::new();
    let hs = H1Headers(&hs);
    assert!(hs.any_value("user-agent", &mut |v| {
        seen.push(v.to_vec());
        true
    }));
    assert_eq!(seen, [b"curl/8".to_vec()]);
    assert!(!hs.any_value("x-b", &mut |_| true));
}
