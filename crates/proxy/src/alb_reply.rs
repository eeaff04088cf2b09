//! What a load balancer answers itself, as ALB does: its error pages (502, 503, 504, ...:
//! `server: awselb/2.0` and a small HTML body), fixed responses, and redirects, whose
//! `location` is built from the action's parts with the request's own protocol, host,
//! port, path and query substituted for `#{protocol}`, `#{host}`, `#{port}`, `#{path}`
//! and `#{query}`. Pure.

use http::StatusCode;

use crate::error::{ErrorKind, ProxyError};

/// ALB's `server` header.
pub(crate) const SERVER: &str = "awselb/2.0";

/// The status a load balancer answers a failed request with: a target it could not
/// connect to, that reset or answered garbage, 502; no target to send to, 503; a
/// target that did not answer within the idle timeout, 504 (ALB's rules, which differ
/// from Service Connect's 503 for connect failures).
pub(crate) fn status(e: &ProxyError) -> StatusCode {
    match e.kind {
        ErrorKind::Connect
        | ErrorKind::Tls
        | ErrorKind::Reset
        | ErrorKind::Protocol
        | ErrorKind::ResponseBody => StatusCode::BAD_GATEWAY,
        _ => e.status(),
    }
}

/// ALB's page for an error status: (content type, body).
pub(crate) fn error_page(status: StatusCode) -> (&'static str, String) {
    let title = match status.as_u16() {
        503 => "503 Service Temporarily Unavailable".to_string(),
        504 => "504 Gateway Time-out".to_string(),
        408 => "408 Request Time-out".to_string(),
        s => format!("{s} {}", status.canonical_reason().unwrap_or("Error")),
    };
    (
        "text/html",
        format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
        ),
    )
}

/// A new `x-amzn-trace-id` value, as ALB makes them: `Root=1-<the time in seconds, 8
/// hex digits>-<24 random hex digits>`.
pub(crate) fn trace_id(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let random = rand::random::<u128>() & ((1u128 << 96) - 1);
    format!("Root=1-{:08x}-{random:024x}", secs as u32)
}

/// The request as a redirect sees it.
pub(crate) struct RedirectFrom<'a> {
    /// `http` (the listener's protocol).
    pub protocol: &'a str,
    /// The host, without its port.
    pub host: &'a str,
    /// The listener's port.
    pub port: u16,
    /// The path, with its leading `/`.
    pub path: &'a str,
    /// The query string, without `?` (empty when none).
    pub query: &'a str,
}

/// A redirect action's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedirectTo {
    pub protocol: String,
    pub host: String,
    pub port: String,
    pub path: String,
    pub query: String,
    pub status: u16,
}

impl RedirectTo {
    /// The `location`: `protocol://host:port/path?query`, each part's keywords replaced
    /// by the request's; the protocol in lower case; no `?` when the query ends up
    /// empty. ALB always writes the port.
    pub(crate) fn location(&self, from: &RedirectFrom<'_>) -> String {
        let port = from.port.to_string();
        let path = from.path.strip_prefix('/').unwrap_or(from.path);
        let sub = |s: &str| {
            s.replace("#{protocol}", from.protocol)
                .replace("#{host}", from.host)
                .replace("#{port}", &port)
                .replace("#{path}", path)
                .replace("#{query}", from.query)
        };
        let protocol = sub(&self.protocol).to_ascii_lowercase();
        let mut out = format!(
            "{protocol}://{}:{}{}",
            sub(&self.host),
            sub(&self.port),
            sub(&self.path)
        );
        let query = sub(&self.query);
        if !query.is_empty() {
            out.push('?');
            out.push_str(&query);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Side;

    fn to(protocol: &str, host: &str, port: &str, path: &str, query: &str) -> RedirectTo {
        RedirectTo {
            protocol: protocol.into(),
            host: host.into(),
            port: port.into(),
            path: path.into(),
            query: query.into(),
            status: 301,
        }
    }

    #[test]
    fn redirect_locations() {
        let from = RedirectFrom {
            protocol: "http",
            host: "www.example.com",
            port: 80,
            path: "/shop/cart",
            query: "id=7",
        };
        let keep = ("#{protocol}", "#{host}", "#{port}", "/#{path}", "#{query}");
        let cases = [
            // HTTP to HTTPS, the rest kept.
            (
                ("HTTPS", keep.1, "443", keep.3, keep.4),
                "https://www.example.com:443/shop/cart?id=7",
            ),
            // Another host, a path under a prefix, the query dropped.
            (
                (keep.0, "shop.example.com", keep.2, "/new/#{path}", ""),
                "http://shop.example.com:80/new/shop/cart",
            ),
            // Keywords inside other text, and an added query parameter.
            (
                (
                    keep.0,
                    "#{host}.internal",
                    "8#{port}",
                    "/x",
                    "#{query}&from=#{host}",
                ),
                "http://www.example.com.internal:880/x?id=7&from=www.example.com",
            ),
        ];
        for ((p, h, port, path, q), want) in cases {
            assert_eq!(to(p, h, port, path, q).location(&from), want);
        }
        let no_query = RedirectFrom { query: "", ..from };
        assert_eq!(
            to("HTTPS", keep.1, "443", keep.3, keep.4).location(&no_query),
            "https://www.example.com:443/shop/cart"
        );
    }

    #[test]
    fn trace_ids_look_like_albs() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(0x5833_7262);
        let id = trace_id(t);
        assert_eq!(id.len(), "Root=1-58337262-36d228ad5d99923122bbe354".len());
        assert!(id.starts_with("Root=1-58337262-"), "{id}");
        assert!(id[16..].bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert_ne!(trace_id(t), id);
    }

    #[test]
    fn failures_answer_as_alb() {
        let e = |k| ProxyError::new(Side::Upstream, k, false);
        assert_eq!(status(&e(ErrorKind::Connect)), 502);
        assert_eq!(status(&e(ErrorKind::Reset)), 502);
        assert_eq!(status(&e(ErrorKind::Protocol)), 502);
        assert_eq!(status(&e(ErrorKind::NoEndpoint)), 503);
        assert_eq!(status(&e(ErrorKind::Timeout)), 504);
        let (ct, body) = error_page(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ct, "text/html");
        assert!(body.contains("<title>503 Service Temporarily Unavailable</title>"));
        assert!(error_page(StatusCode::BAD_GATEWAY)
            .1
            .contains("502 Bad Gateway"));
        assert!(error_page(StatusCode::GATEWAY_TIMEOUT)
            .1
            .contains("504 Gateway Time-out"));
    }
}
