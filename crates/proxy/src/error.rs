//! The one error type of the proxy: which side failed, what happened, and whether the
//! request may be retried. Retries, the status sent downstream, metrics and access logs
//! all read the same [`ProxyError`].

use std::fmt;
use std::net::SocketAddr;

use http::StatusCode;

/// The methods a 405 names in `allow`: the standard ones the proxy forwards.
const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE";

/// Which side of the proxy a failure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client: malformed or slow requests, a client that went away.
    Downstream,
    /// The target: an endpoint or, for ingress, the local application.
    Upstream,
    /// The proxy itself: configuration, binding, the admin endpoint.
    Internal,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The upstream has no endpoint to send to (none configured, or all tried).
    NoEndpoint,
    /// Connecting to the target failed (refused, unreachable, connect timeout).
    Connect,
    /// The TLS handshake with the target failed (its certificate, name or protocol).
    Tls,
    /// The target closed or reset the connection before a complete response head.
    Reset,
    /// The target answered something that is not HTTP.
    Protocol,
    /// The per-request timeout fired before the response was complete.
    Timeout,
    /// The target's response body failed midway.
    ResponseBody,
    /// The client did not send its request (head, or a body to be buffered) in time.
    ClientTimeout,
    /// The client's request body failed (it went away, or sent something malformed).
    RequestBody,
    /// The request's method is one the proxy never forwards (`CONNECT`: it does not
    /// tunnel). Answered 405 with `allow`.
    MethodNotAllowed,
    /// The request head is ambiguous: two `host` headers, or a `host` that disagrees
    /// with an absolute request target (RFC 9112 §3.2). Answered 400, never forwarded.
    AmbiguousHead,
    /// A listener or the admin endpoint could not be bound.
    Bind,
    /// The proxy's own configuration is unusable.
    Config,
}

/// A failure on one side of the proxy.
#[derive(Debug)]
pub struct ProxyError {
    /// Which side failed.
    pub side: Side,
    /// What happened.
    pub kind: ErrorKind,
    /// Whether the request may go to another endpoint: it was not sent, or no response
    /// byte came back. The body must also be replayable for a retry to happen.
    pub retryable: bool,
    /// The endpoint involved, when there is one.
    pub target: Option<SocketAddr>,
    /// The cause.
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ProxyError {
    /// A new error without cause or target.
    pub fn new(side: Side, kind: ErrorKind, retryable: bool) -> ProxyError {
        ProxyError {
            side,
            kind,
            retryable,
            target: None,
            source: None,
        }
    }

    /// The same error, with its cause.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> ProxyError {
        self.source = Some(source.into());
        self
    }

    /// The same error, naming the endpoint.
    pub fn with_target(mut self, target: SocketAddr) -> ProxyError {
        self.target = Some(target);
        self
    }

    /// The status the proxy answers with when this error ends a request.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::NoEndpoint | ErrorKind::Connect | ErrorKind::Tls | ErrorKind::Reset => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorKind::Protocol | ErrorKind::ResponseBody => StatusCode::BAD_GATEWAY,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::ClientTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::RequestBody | ErrorKind::AmbiguousHead => StatusCode::BAD_REQUEST,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Bind | ErrorKind::Config => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Envoy's response flag for the access log (`UF`, `UH`, `UT`, ...).
    pub fn flag(&self) -> &'static str {
        match self.kind {
            ErrorKind::NoEndpoint => "UH",
            ErrorKind::Connect | ErrorKind::Tls => "UF",
            ErrorKind::Reset => "UC",
            ErrorKind::Protocol => "UPE",
            ErrorKind::Timeout => "UT",
            ErrorKind::ResponseBody => "UR",
            ErrorKind::ClientTimeout => "DT",
            ErrorKind::RequestBody => "DC",
            ErrorKind::MethodNotAllowed | ErrorKind::AmbiguousHead => "DPE",
            ErrorKind::Bind | ErrorKind::Config => "-",
        }
    }

    /// The `allow` header of the proxy's answer to this error (405 only): every method
    /// but `CONNECT` is forwarded.
    pub fn allow(&self) -> Option<&'static str> {
        (self.kind == ErrorKind::MethodNotAllowed).then_some(ALLOWED_METHODS)
    }

    /// Whether an endpoint should be blamed for it (outlier detection).
    pub fn counts_against_endpoint(&self) -> bool {
        self.side == Side::Upstream
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.side {
            Side::Downstream => "downstream",
            Side::Upstream => "upstream",
            Side::Internal => "internal",
        };
        let what = match self.kind {
            ErrorKind::NoEndpoint => "no healthy endpoint",
            ErrorKind::Connect => "connect failed",
            ErrorKind::Tls => "TLS handshake failed",
            ErrorKind::Reset => "connection closed before the response",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Timeout => "request timed out",
            ErrorKind::ResponseBody => "response body failed",
            ErrorKind::ClientTimeout => "request not received in time",
            ErrorKind::RequestBody => "request body failed",
            ErrorKind::MethodNotAllowed => "method not allowed",
            ErrorKind::AmbiguousHead => "ambiguous request head",
            ErrorKind::Bind => "cannot bind",
            ErrorKind::Config => "bad configuration",
        };
        write!(f, "{side}: {what}")?;
        if let Some(t) = self.target {
            write!(f, " ({t})")?;
        }
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Why a snapshot was not applied; the running configuration stays as it was.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The snapshot is older than the one running.
    #[error("snapshot version {offered} is older than the running version {current}")]
    Stale {
        /// The running version.
        current: u64,
        /// The refused version.
        offered: u64,
    },
    /// The snapshot does not validate.
    #[error(transparent)]
    Invalid(#[from] berth_proxy_config::ConfigError),
    /// A new listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The listener's address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The snapshot's TLS material is unusable.
    #[error("invalid snapshot: {0}")]
    Tls(#[from] crate::tls::TlsConfigError),
    /// A load balancer's access log file cannot be opened.
    #[error("cannot open the access log {}: {source}", path.display())]
    AccessLog {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The proxy is shutting down.
    #[error("the proxy is shutting down")]
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_flags() {
        let e = ProxyError::new(Side::Upstream, ErrorKind::Connect, true);
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.flag(), "UF");
        assert!(e.counts_against_endpoint());
        let e = ProxyError::new(Side::Upstream, ErrorKind::Timeout, false);
        assert_eq!(e.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(e.flag(), "UT");
        let e = ProxyError::new(Side::Upstream, ErrorKind::Protocol, false);
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        let e = ProxyError::new(Side::Downstream, ErrorKind::ClientTimeout, false);
        assert_eq!(e.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(!e.counts_against_endpoint());
        assert_eq!(e.allow(), None);
        let e = ProxyError::new(Side::Downstream, ErrorKind::MethodNotAllowed, false);
        assert_eq!(e.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(e.flag(), "DPE");
        assert!(e
            .allow()
            .is_some_and(|a| a.contains("GET") && !a.contains("CONNECT")));
        let e = ProxyError::new(Side::Downstream, ErrorKind::AmbiguousHead, false);
        assert_eq!((e.status(), e.flag()), (StatusCode::BAD_REQUEST, "DPE"));
    }

    #[test]
    fn display_names_side_and_target() {
        let e = ProxyError::new(Side::Upstream, ErrorKind::Connect, true)
            .with_target("127.0.0.1:9".parse().unwrap())
            .with_source(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let s = e.to_string();
        assert!(
            s.starts_with("upstream: connect failed (127.0.0.1:9)"),
            "{s}"
        );
    }
}
