//! Header handling for forwarded requests and responses: hop-by-hop headers, `host` and
//! the upstream request's URI, `x-forwarded-for`, the headers the ingress side adds, and
//! the requests the proxy answers itself rather than forward ([`Refusal`]).

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Uri, Version};

use crate::error::{ErrorKind, ProxyError, Side};

/// The `server` header ingress sets on responses (ECS shows `server: envoy`).
pub const SERVER: HeaderValue = HeaderValue::from_static("berth");

/// The header ingress sets to the application's time to respond, in milliseconds (Envoy's
/// `x-envoy-upstream-service-time`).
pub const UPSTREAM_SERVICE_TIME: HeaderName =
    HeaderName::from_static("x-berth-upstream-service-time");

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Removes the hop-by-hop headers of RFC 9110 §7.6.1: those named in `connection`, and
/// `connection`, `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade`, and
/// `te` unless it is `trailers` (gRPC needs that one end to end).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one pass over the (few) names is cheaper than a
    // hashed removal per name.
    if !headers.keys().any(is_hop_by_hop_name) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        // Rare: collect the names first, the map cannot be changed while borrowed.
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for n in named {
            headers.remove(n);
        }
        headers.remove(header::CONNECTION);
    }
    headers.remove(KEEP_ALIVE);
    headers.remove(PROXY_CONNECTION);
    headers.remove(header::TRANSFER_ENCODING);
    headers.remove(header::UPGRADE);
    if let Some(te) = headers.get(header::TE) {
        if !te.as_bytes().eq_ignore_ascii_case(b"trailers") {
            headers.remove(header::TE);
        }
    }
}

/// Whether `n` is one of the names [`strip_hop_by_hop`] may remove (any name listed in
/// `connection` goes with `connection` itself, so that one covers them).
fn is_hop_by_hop_name(n: &HeaderName) -> bool {
    n == header::CONNECTION
        || n == KEEP_ALIVE
        || n == PROXY_CONNECTION
        || n == header::TRANSFER_ENCODING
        || n == header::UPGRADE
        || n == header::TE
}

/// Keeps the authority the client sent: an HTTP/2 client sends `:authority` and no
/// `host`; the upstream request's own authority is the endpoint's address, so the
/// original one travels in `host`.
pub fn keep_authority(headers: &mut HeaderMap, uri: &Uri) {
    if headers.contains_key(header::HOST) {
        return;
    }
    if let Some(a) = uri.authority() {
        if let Ok(v) = HeaderValue::from_str(a.as_str()) {
            headers.insert(header::HOST, v);
        }
    }
}

/// Appends the client's address to `x-forwarded-for` (`peer` is the connection's address,
/// formatted once per connection).
pub fn append_forwarded_for(headers: &mut HeaderMap, peer: &HeaderValue) {
    const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
    match headers.get(&XFF) {
        None => {
            headers.insert(XFF, peer.clone());
        }
        Some(old) => {
            let mut v = Vec::with_capacity(old.len() + 2 + peer.len());
            v.extend_from_slice(old.as_bytes());
            v.extend_from_slice(b", ");
            v.extend_from_slice(peer.as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                headers.insert(XFF, v);
            }
        }
    }
}

/// The ingress response headers: `server: berth` (replacing the application's) and the
/// application's time to respond.
pub fn set_ingress_response(headers: &mut HeaderMap, upstream_time: Duration) {
    headers.insert(header::SERVER, SERVER);
    let ms = u64::try_from(upstream_time.as_millis()).unwrap_or(u64::MAX);
    headers.insert(UPSTREAM_SERVICE_TIME, HeaderValue::from(ms));
}

/// The version an upstream request is sent with: HTTP/1.1 to an HTTP/1 upstream (keep-alive
/// whatever the client spoke), HTTP/2 to an HTTP/2 one.
pub fn upstream_version(http2: bool) -> Version {
    if http2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    }
}

/// True for a gRPC request (`content-type: application/grpc...`).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// `host` for `uri`: its host, and its port unless the scheme's default.
pub(crate) fn host_value(scheme: &Scheme, a: &Authority) -> Option<HeaderValue> {
    match a.port_u16() {
        Some(80) if *scheme == Scheme::HTTP => HeaderValue::from_str(a.host()).ok(),
        Some(_) => HeaderValue::from_str(a.as_str()).ok(),
        None => HeaderValue::from_str(a.host()).ok(),
    }
}

/// The URI of an upstream request: the endpoint's address, the client's path and query.
pub(crate) fn upstream_uri(authority: &Authority, original: &Uri) -> Uri {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority.clone());
    parts.path_and_query = Some(
        original
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    Uri::from_parts(parts).expect("scheme, authority and path make a URI")
}

/// The URI of an upstream request. HTTP/2: absolute (the endpoint's address, the
/// client's path and query). HTTP/1.1: the request line's origin form, with `host` set
/// to the endpoint's address when the request carries none (as hyper-util's client did
/// from the absolute URI).
pub(crate) fn request_uri(
    http2: bool,
    authority: &Authority,
    original: &Uri,
    headers: &mut http::HeaderMap,
) -> Uri {
    if http2 {
        return upstream_uri(authority, original);
    }
    if !headers.contains_key(header::HOST) {
        if let Some(v) = host_value(&Scheme::HTTP, authority) {
            headers.insert(header::HOST, v);
        }
    }
    origin_form(original)
}

/// `original`'s path and query alone (`/` when it has none).
fn origin_form(original: &Uri) -> Uri {
    if original.scheme().is_none() && original.authority().is_none() {
        // Already in origin form (what HTTP/1.1 clients send): a cheap clone.
        return original.clone();
    }
    match original.path_and_query() {
        Some(p) => Uri::from(p.clone()),
        None => Uri::from(PathAndQuery::from_static("/")),
    }
}

/// A request the proxy answers itself (and closes the connection after), never
/// forwarding it: the same on the fast path ([`crate::h1`]) and hyper's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `CONNECT`: the proxy does not tunnel (405).
    Connect,
    /// Two `host` header lines (400, RFC 9112 §3.2).
    DuplicateHost,
    /// An HTTP/1 absolute request target whose authority `host` contradicts (400): the
    /// proxy and the target could otherwise route the request differently.
    HostMismatch,
}

impl Refusal {
    /// The error the proxy answers with.
    pub(crate) fn error(self) -> ProxyError {
        let (kind, why) = match self {
            Refusal::Connect => (
                ErrorKind::MethodNotAllowed,
                "CONNECT is not forwarded: the proxy does not tunnel",
            ),
            Refusal::DuplicateHost => (ErrorKind::AmbiguousHead, "more than one host header"),
            Refusal::HostMismatch => (
                ErrorKind::AmbiguousHead,
                "the host header disagrees with the request target",
            ),
        };
        ProxyError::new(Side::Downstream, kind, false).with_source(why)
    }
}

/// Whether hyper's path must refuse a request with this method, target, version and
/// headers (HTTP/2 sends its authority as `:authority`, which the URI carries: only an
/// HTTP/1 absolute target is compared with `host`).
pub(crate) fn refusal(
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &HeaderMap,
) -> Option<Refusal> {
    if method == Method::CONNECT {
        return Some(Refusal::Connect);
    }
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Some(Refusal::DuplicateHost);
    }
    let absolute_h1 = version < Version::HTTP_2 && uri.scheme().is_some();
    match (host, uri.authority()) {
        (Some(h), Some(a)) if absolute_h1 && !same_authority(h, uri.scheme(), a) => {
            Some(Refusal::HostMismatch)
        }
        _ => None,
    }
}

/// Whether `host` names the same host and port as `target` (case aside; a missing port
/// is the scheme's default).
fn same_authority(host: &HeaderValue, scheme: Option<&Scheme>, target: &Authority) -> bool {
    let Ok(host) = Authority::try_from(host.as_bytes()) else {
        return false;
    };
    let default = if scheme == Some(&Scheme::HTTPS) {
        443
    } else {
        80
    };
    !host.as_str().contains('@')
        && host.host().eq_ignore_ascii_case(target.host())
        && host.port_u16().unwrap_or(default) == target.port_u16().unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http1_request_uri_is_origin_form_with_host() {
        let a = Authority::from_static("10.0.0.7:8080");
        let mut h = http::HeaderMap::new();
        let u = request_uri(false, &a, &"http://orders/x?y=1".parse().unwrap(), &mut h);
        assert_eq!(u, "/x?y=1");
        assert_eq!(h[header::HOST], "10.0.0.7:8080");
        h.insert(header::HOST, HeaderValue::from_static("orders"));
        let u = request_uri(false, &a, &"/z".parse().unwrap(), &mut h);
        assert_eq!(u, "/z");
        assert_eq!(h[header::HOST], "orders");
        let u = request_uri(false, &a, &"http://orders".parse().unwrap(), &mut h);
        assert_eq!(u, "/");
        let u = request_uri(true, &a, &"/z".parse().unwrap(), &mut h);
        assert_eq!(u, "http://10.0.0.7:8080/z");
    }

    #[test]
    fn upstream_uri_keeps_path_and_query() {
        let a = Authority::from_static("10.0.0.7:8080");
        let u = upstream_uri(&a, &"/orders?id=3".parse().unwrap());
        assert_eq!(u, "http://10.0.0.7:8080/orders?id=3");
        let u = upstream_uri(&a, &"http://orders".parse().unwrap());
        assert_eq!(u, "http://10.0.0.7:8080/");
    }

    #[test]
    fn hop_by_hop_headers_go_and_others_stay() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::TE, HeaderValue::from_static("gzip"));
        h.insert("x-kept", HeaderValue::from_static("yes"));
        h.insert(header::HOST, HeaderValue::from_static("orders"));
        strip_hop_by_hop(&mut h);
        let mut names: Vec<_> = h.keys().map(|k| k.as_str().to_string()).collect();
        names.sort();
        assert_eq!(names, ["host", "x-kept"]);
    }

    #[test]
    fn te_trailers_is_kept_for_grpc() {
        let mut h = HeaderMap::new();
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.get(header::TE).unwrap(), "trailers");
    }

    #[test]
    fn authority_moves_to_host_only_when_absent() {
        let mut h = HeaderMap::new();
        keep_authority(&mut h, &"http://orders:8080/x".parse().unwrap());
        assert_eq!(h[header::HOST], "orders:8080");
        keep_authority(&mut h, &"http://other/x".parse().unwrap());
        assert_eq!(h[header::HOST], "orders:8080");
    }

    fn refused(method: &str, uri: &str, version: Version, hosts: &[&str]) -> Option<Refusal> {
        let mut h = HeaderMap::new();
        for v in hosts {
            h.append(header::HOST, HeaderValue::from_str(v).unwrap());
        }
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        refusal(&m, &uri.parse().unwrap(), version, &h)
    }

    #[test]
    fn connect_duplicate_and_contradicting_hosts_are_refused() {
        let v1 = Version::HTTP_11;
        assert_eq!(refused("GET", "/", v1, &["orders"]), None);
        assert_eq!(refused("GET", "/", v1, &[]), None);
        assert_eq!(
            refused("CONNECT", "orders:443", v1, &["orders:443"]),
            Some(Refusal::Connect)
        );
        assert_eq!(
            refused("GET", "/", v1, &["a", "b"]),
            Some(Refusal::DuplicateHost)
        );
        assert_eq!(
            refused("GET", "/", v1, &["a", "a"]),
            Some(Refusal::DuplicateHost)
        );
        assert_eq!(refused("GET", "http://Orders/x", v1, &["orders:80"]), None);
        assert_eq!(
            refused("GET", "https://orders/x", v1, &["orders:443"]),
            None
        );
        assert_eq!(refused("GET", "http://orders:8080/x", v1, &[]), None);
        assert_eq!(
            refused("GET", "http://orders/x", v1, &["payments"]),
            Some(Refusal::HostMismatch)
        );
        assert_eq!(
            refused("GET", "http://orders/x", v1, &["orders:8080"]),
            Some(Refusal::HostMismatch)
        );
        assert_eq!(
            refused("GET", "http://orders/x", v1, &["bad host"]),
            Some(Refusal::HostMismatch)
        );
        // HTTP/2: `:authority` and `host` may differ (the proxy forwards `host`).
        assert_eq!(
            refused("GET", "http://10.0.0.1/x", Version::HTTP_2, &["orders"]),
            None
        );
        assert_eq!(
            Refusal::Connect.error().status(),
            http::StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            Refusal::HostMismatch.error().status(),
            http::StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn forwarded_for_appends() {
        let peer = HeaderValue::from_static("10.0.0.9");
        let mut h = HeaderMap::new();
        append_forwarded_for(&mut h, &peer);
        assert_eq!(h["x-forwarded-for"], "10.0.0.9");
        append_forwarded_for(&mut h, &HeaderValue::from_static("10.0.0.10"));
        assert_eq!(h["x-forwarded-for"], "10.0.0.9, 10.0.0.10");
    }

    #[test]
    fn ingress_headers_replace_server() {
        let mut h = HeaderMap::new();
        h.insert(header::SERVER, HeaderValue::from_static("nginx"));
        set_ingress_response(&mut h, Duration::from_micros(2_500));
        assert_eq!(h[header::SERVER], "berth");
        assert_eq!(h[UPSTREAM_SERVICE_TIME], "2");
    }

    #[test]
    fn grpc_detection() {
        let mut h = HeaderMap::new();
        assert!(!is_grpc(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        assert!(is_grpc(&h));
    }
}
