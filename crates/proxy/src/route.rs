//! One HTTP request through a listener on hyper's path: start its record, forward it
//! (egress to an upstream's endpoints, ingress to the application), and turn the outcome
//! into the response sent downstream: a [`RespBody`] carries it, enforces the per-request
//! deadline to its last byte, and owns the request's [`RequestLog`] so that the record is
//! made when the response ends.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::access_log::{AlbNote, RequestLog};
use crate::alb::{Answer, Step};
use crate::alb_reply;
use crate::client::UpBody;
use crate::conn_ctx::InFlight;
use crate::deadline::Deadline;
use crate::error::{ErrorKind, ProxyError, Side};
use crate::headers;
use crate::state::{Route, RouteKind};

/// Handles one request on a listener whose current route is `route`.
pub(crate) async fn handle(
    mut req: Request<Incoming>,
    route: Arc<Route>,
    in_flight: InFlight,
) -> Response<RespBody> {
    let refused = certificate_now_required(&route, &in_flight).or_else(|| {
        headers::refusal(req.method(), req.uri(), req.version(), req.headers())
            .map(headers::Refusal::error)
    });
    let mut log = RequestLog::start(Arc::clone(&route), in_flight, &req);
    if let Some(e) = refused {
        if let Some(lst) = route.alb() {
            log.alb(AlbNote::new(&lst.lb, 0, ""));
        }
        log.failed(&e);
        return local_reply(&e, log);
    }
    let ingress = route.is_ingress();
    let outcome = match &route.kind {
        RouteKind::Egress(up) => crate::egress::forward(req, up, &mut log).await,
        RouteKind::Ingress(app) => crate::ingress::forward(req, app, &mut log).await,
        RouteKind::Alb(lst) => {
            let ctx = Arc::clone(log.conn_arc());
            match crate::alb::hyper_request(&mut req, lst, &ctx, &mut log) {
                Step::Forward(g) => crate::egress::forward(req, &g.up, &mut log).await,
                Step::Answer(a) => return answer(a, log),
            }
        }
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

/// A connection made before the listener required client certificates, without one:
/// its requests are refused and it is closed (its client reconnects, and must then
/// present a certificate).
fn certificate_now_required(route: &Route, in_flight: &InFlight) -> Option<ProxyError> {
    let RouteKind::Ingress(app) = &route.kind else {
        return None;
    };
    app.refuses(in_flight.ctx()).then(|| {
        ProxyError::new(Side::Downstream, ErrorKind::Tls, false)
            .with_source("a client certificate is required")
    })
}

/// A load balancer's own answer (a fixed response, a redirect).
fn answer(a: Answer, mut log: RequestLog) -> Response<RespBody> {
    log.answered_locally(a.status);
    let mut r = Response::new(RespBody::full(a.body, Some(log)));
    *r.status_mut() = http::StatusCode::from_u16(a.status).unwrap_or(http::StatusCode::OK);
    let h = r.headers_mut();
    h.insert(header::SERVER, HeaderValue::from_static(alb_reply::SERVER));
    if let Ok(v) = HeaderValue::from_str(&a.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(l) = a.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, l);
    }
    r
}

/// A load balancer's answer to a failed request: ALB's status and page.
fn alb_error(e: &ProxyError, log: RequestLog) -> Response<RespBody> {
    let status = alb_reply::status(e);
    let (ct, body) = alb_reply::error_page(status);
    let close = e.side == Side::Downstream || e.kind == ErrorKind::ClientTimeout;
    let mut r = Response::new(RespBody::full(body, Some(log)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::SERVER, HeaderValue::from_static(alb_reply::SERVER));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if close {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// The proxy's own answer to a failed request.
fn local_reply(e: &ProxyError, log: RequestLog) -> Response<RespBody> {
    if log.is_alb() {
        return alb_error(e, log);
    }
    let body = format!("{e}\n");
    let mut r = Response::new(RespBody::full(body, Some(log)));
    *r.status_mut() = e.status();
    let h = r.headers_mut();
    h.insert(header::SERVER, headers::SERVER);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(allow) = e.allow() {
        h.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if e.side == Side::Downstream || e.kind == ErrorKind::ClientTimeout {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

pin_project_lite::pin_project! {
    /// A response on its way downstream.
    pub(crate) struct RespBody {
        inner: RespInner,
        // The per-request deadline, until the last byte.
        deadline: Deadline,
        // Made into an access log record and metrics when the body is dropped.
        log: Option<RequestLog>,
    }
}

enum RespInner {
    Upstream(UpBody),
    Full(Option<Bytes>),
}

impl RespBody {
    /// An upstream's response body.
    pub(crate) fn upstream(body: UpBody, deadline: Deadline, log: RequestLog) -> RespBody {
        RespBody {
            inner: RespInner::Upstream(body),
            deadline,
            log: Some(log),
        }
    }

    /// A body made by the proxy (an error page, the admin's answers).
    pub(crate) fn full(bytes: impl Into<Bytes>, log: Option<RequestLog>) -> RespBody {
        let b: Bytes = bytes.into();
        RespBody {
            inner: RespInner::Full((!b.is_empty()).then_some(b)),
            deadline: Deadline::after(None),
            log,
        }
    }
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = ProxyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ProxyError>>> {
        let this = self.project();
        let frame = match this.inner {
            RespInner::Full(b) => return Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            RespInner::Upstream(body) => match Pin::new(body).poll_frame(cx) {
                Poll::Ready(f) => f,
                Poll::Pending => {
                    if this.deadline.poll_expired(cx) {
                        if let Some(log) = this.log {
                            log.timed_out_in_body();
                        }
                        return Poll::Ready(Some(Err(ProxyError::new(
                            Side::Upstream,
                            ErrorKind::Timeout,
                            false,
                        ))));
                    }
                    return Poll::Pending;
                }
            },
        };
        match frame {
            Some(Ok(f)) => {
                if let Some(log) = this.log {
                    if let Some(d) = f.data_ref() {
                        log.sent(d.len());
                    } else if let Some(t) = f.trailers_ref() {
                        log.trailers(t);
                    }
                }
                Poll::Ready(Some(Ok(f)))
            }
            Some(Err(e)) => {
                if let Some(log) = this.log {
                    log.body_failed();
                }
                Poll::Ready(Some(Err(ProxyError::new(
                    Side::Upstream,
                    ErrorKind::ResponseBody,
                    false,
                )
                .with_source(e))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            RespInner::Upstream(b) => b.is_end_stream(),
            RespInner::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            RespInner::Upstream(b) => b.size_hint(),
            RespInner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
