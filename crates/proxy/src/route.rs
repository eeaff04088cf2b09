//! One HTTP request through a listener: start its record, forward it (egress to an
//! upstream's endpoints, ingress to the application), and turn the outcome into the
//! response sent downstream.

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::access_log::RequestLog;
use crate::body::RespBody;
use crate::client::UpBody;
use crate::conn::InFlight;
use crate::error::{ErrorKind, ProxyError, Side};
use crate::headers;
use crate::state::{Route, RouteKind};

/// What a forwarder returns: the target's response and the request's deadline, which
/// still applies to the response body.
pub(crate) type Forwarded = Result<(Response<UpBody>, Option<Instant>), ProxyError>;

/// Handles one request on a listener whose current route is `route`.
pub(crate) async fn handle(
    req: Request<Incoming>,
    route: Arc<Route>,
    in_flight: InFlight,
) -> Response<RespBody> {
    let mut log = RequestLog::start(Arc::clone(&route), in_flight, &req);
    let ingress = route.is_ingress();
    let outcome = match &route.kind {
        RouteKind::Egress(up) => crate::egress::forward(req, up, &mut log).await,
        RouteKind::Ingress(app) => crate::ingress::forward(req, app, &mut log).await,
    };
    match outcome {
        Ok((resp, deadline)) => {
            let (mut parts, body) = resp.into_parts();
            // The downstream connection's own version (hyper adapts HTTP/1.1 to a 1.0
            // client, and ignores it for HTTP/2), not the target's.
            parts.version = http::Version::HTTP_11;
            headers::strip_hop_by_hop(&mut parts.headers);
            log.response_headers(&parts.headers);
            Response::from_parts(parts, RespBody::upstream(body, deadline, log))
        }
        Err(e) => {
            tracing::debug!(error = %e, ingress, "request failed");
            log.failed(&e);
            local_reply(&e, log)
        }
    }
}

/// The proxy's own answer to a failed request.
fn local_reply(e: &ProxyError, log: RequestLog) -> Response<RespBody> {
    let body = format!("{e}\n");
    let mut r = Response::new(RespBody::full(body, Some(log)));
    *r.status_mut() = e.status();
    let h = r.headers_mut();
    h.insert(header::SERVER, headers::SERVER);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if e.side == Side::Downstream || e.kind == ErrorKind::ClientTimeout {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
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

/// Runs `fut` until `deadline` (when there is one); `None` when the deadline passed.
pub(crate) async fn until<F: std::future::Future>(
    deadline: Option<Instant>,
    fut: F,
) -> Option<F::Output> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_uri_keeps_path_and_query() {
        let a = Authority::from_static("10.0.0.7:8080");
        let u = upstream_uri(&a, &"/orders?id=3".parse().unwrap());
        assert_eq!(u, "http://10.0.0.7:8080/orders?id=3");
        let u = upstream_uri(&a, &"http://orders".parse().unwrap());
        assert_eq!(u, "http://10.0.0.7:8080/");
    }
}
