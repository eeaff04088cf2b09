//! One HTTP request through a listener: start its record, forward it (egress to an
//! upstream's endpoints, ingress to the application), and turn the outcome into the
//! response sent downstream.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::time::Sleep;

use crate::access_log::RequestLog;
use crate::body::RespBody;
use crate::client::UpBody;
use crate::conn::InFlight;
use crate::error::{ErrorKind, ProxyError, Side};
use crate::headers;
use crate::state::{Route, RouteKind};

/// What a forwarder returns: the target's response and the request's deadline, which
/// still applies to the response body.
pub(crate) type Forwarded = Result<(Response<UpBody>, Deadline), ProxyError>;

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

pin_project_lite::pin_project! {
    /// [`Deadline::run`]'s future.
    pub(crate) struct Until<'a, F> {
        deadline: &'a mut Deadline,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for Until<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = self.project();
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(Some(v));
        }
        if this.deadline.poll_expired(cx) {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
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
        if let Some(v) = crate::client::host_value(&Scheme::HTTP, authority) {
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

/// A request's per-request deadline: one timer for the whole request, from its head to
/// the last byte of its response (the response body takes it over). Registered with the
/// runtime's timer only once something waits past a first poll.
pub(crate) struct Deadline(Option<Pin<Box<Sleep>>>);

impl Deadline {
    /// A deadline `after` from now; `None`: no limit.
    pub(crate) fn after(after: Option<Duration>) -> Deadline {
        Deadline(after.map(|d| Box::pin(tokio::time::sleep(d))))
    }

    /// Runs `fut` until the deadline; `None` when the deadline passed first. `fut` is
    /// polled first, so one that is ready at once never touches the timer. (A plain
    /// future, not an `async fn`: that one would hold `fut` twice, and a request's
    /// future is large enough already.)
    pub(crate) fn run<F: Future>(&mut self, fut: F) -> Until<'_, F> {
        Until {
            deadline: self,
            fut,
        }
    }

    /// Whether the deadline passed (registers `cx` to be woken when it does).
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.0 {
            Some(s) => s.as_mut().poll(cx).is_ready(),
            None => false,
        }
    }
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
}
