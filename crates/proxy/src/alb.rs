//! One request through a load balancer's listener, the part hyper's path
//! ([`crate::route`]) and the fast path ([`crate::fast`]) share: what the listener's
//! rules do with it ([`decide`]: forward to a target group, picked by weight, or an
//! answer of the load balancer's own), and the headers a forwarded request gets, as
//! ALB adds them (`x-forwarded-for` appended, `x-forwarded-proto` and
//! `x-forwarded-port` set, `x-amzn-trace-id` when it has none). Each path then forwards
//! to the group's targets as it forwards any request: the same attempt loop, one
//! attempt (ALB does not retry), ALB's statuses when it fails.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Request};

use crate::access_log::{AlbFields, AlbNote, RequestLog};
use crate::alb_reply::{error_page, RedirectFrom};
use crate::conn_ctx::ConnCtx;
use crate::headers;
use crate::rules::RequestFacts;
use crate::state::{AlbAction, AlbListener, GroupRt};

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// What happens to a request.
pub(crate) enum Step {
    /// To this group's targets.
    Forward(Arc<GroupRt>),
    /// The load balancer answers.
    Answer(Answer),
}

/// An answer of the load balancer's own (a fixed response, a redirect).
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: String,
    pub location: Option<String>,
    pub body: Bytes,
}

/// `host` without its port, or the listener's address without one.
fn host_of<'a>(host: Option<&'a [u8]>, local: &'a str) -> &'a str {
    host.and_then(|h| std::str::from_utf8(crate::rules::strip_port(h)).ok())
        .filter(|h| !h.is_empty())
        .unwrap_or(local)
}

/// What `lst`'s rules do with the request `r` that came to `local`: the step, and the
/// request's note (its record).
pub(crate) fn decide(
    lst: &AlbListener,
    r: &RequestFacts<'_>,
    local: SocketAddr,
) -> (Step, AlbNote) {
    let m = lst.rules.evaluate(r);
    let priority = m.priority.unwrap_or(0);
    match m.action {
        AlbAction::Forward(f) => {
            let g = Arc::clone(f.pick());
            let mut note = AlbNote::new(&lst.lb, priority, "forward");
            note.group = Some(Arc::clone(&g));
            (Step::Forward(g), note)
        }
        AlbAction::Fixed {
            status,
            content_type,
            body,
        } => {
            let answer = Answer {
                status: *status,
                content_type: content_type.clone(),
                location: None,
                body: body.clone(),
            };
            let note = AlbNote::new(&lst.lb, priority, "fixed-response");
            (Step::Answer(answer), note)
        }
        AlbAction::Redirect(to) => {
            let ip = local.ip().to_string();
            let from = RedirectFrom {
                protocol: "http",
                host: host_of(r.host, &ip),
                port: local.port(),
                path: r.path,
                query: r.query.unwrap_or(""),
            };
            let location = to.location(&from);
            let status = http::StatusCode::from_u16(to.status).unwrap_or(http::StatusCode::FOUND);
            let (ct, body) = error_page(status);
            let mut note = AlbNote::new(&lst.lb, priority, "redirect");
            note.redirect = Some(location.clone());
            let answer = Answer {
                status: to.status,
                content_type: ct.to_string(),
                location: Some(location),
                body: Bytes::from(body),
            };
            (Step::Answer(answer), note)
        }
    }
}

/// What the access log entry of `r` needs.
pub(crate) fn fields(
    r: &RequestFacts<'_>,
    local: SocketAddr,
    protocol: &'static str,
    user_agent: Option<&[u8]>,
    trace_id: Option<String>,
) -> AlbFields {
    let ip = local.ip().to_string();
    let host = host_of(r.host, &ip);
    let query = r.query.map_or_else(String::new, |q| format!("?{q}"));
    AlbFields {
        created: SystemTime::now(),
        method: r.method.to_string(),
        url: format!("http://{host}:{}{}{query}", local.port(), r.path),
        protocol,
        user_agent: user_agent.map(|u| String::from_utf8_lossy(u).into_owned()),
        trace_id,
    }
}

/// hyper's path: what `lst` does with `req` (its forwarding headers added when it is
/// forwarded); the note goes into `log`.
pub(crate) fn hyper_request<B>(
    req: &mut Request<B>,
    lst: &AlbListener,
    ctx: &ConnCtx,
    log: &mut RequestLog,
) -> Step {
    let (step, mut note) = {
        let h = req.headers();
        let host = (h.get(http::header::HOST).map(HeaderValue::as_bytes))
            .or_else(|| req.uri().authority().map(|a| a.as_str().as_bytes()));
        let facts = RequestFacts {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            host,
            headers: h,
            source: ctx.peer.ip(),
        };
        let (step, mut note) = decide(lst, &facts, ctx.local);
        if note.logs() {
            let protocol = match req.version() {
                http::Version::HTTP_2 => "HTTP/2.0",
                http::Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            };
            let ua = h.get(http::header::USER_AGENT).map(HeaderValue::as_bytes);
            let trace = h
                .get(X_AMZN_TRACE_ID)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            note.fields = Some(Box::new(fields(&facts, ctx.local, protocol, ua, trace)));
        }
        (step, note)
    };
    if let Step::Forward(_) = step {
        let trace = add_forwarding(req.headers_mut(), ctx);
        if let (Some(f), Some(t)) = (&mut note.fields, trace) {
            f.trace_id = Some(t);
        }
    }
    log.alb(note);
    step
}

/// Adds ALB's forwarding headers; the new trace id, when the request had none.
fn add_forwarding(h: &mut HeaderMap, ctx: &ConnCtx) -> Option<String> {
    headers::append_forwarded_for(h, &ctx.peer_ip);
    h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    h.insert(X_FORWARDED_PORT, HeaderValue::from(ctx.local.port()));
    if h.contains_key(X_AMZN_TRACE_ID) {
        return None;
    }
    let id = crate::alb_reply::trace_id(SystemTime::now());
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(X_AMZN_TRACE_ID, v);
    }
    Some(id)
}
