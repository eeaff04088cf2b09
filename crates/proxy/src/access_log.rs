//! The records of requests and TCP connections, made by guards whose `Drop` guarantees
//! them: whatever way a request ends (complete, failed, timed out, the client gone), its
//! [`RequestLog`] reports the endpoint's outcome to the balancer, the target metrics, and
//! the access log line. Without an access log configured, nothing is allocated. A load
//! balancer's requests carry an [`AlbNote`]: their record is ELB's metrics and access
//! log entry.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use berth_balance::Pick;
use berth_telemetry::{AlbRecord, HttpRecord, TargetMetrics, TcpRecord};
use http::{HeaderMap, Request, Version};
use tokio::time::Instant;

use crate::body::ReqBytes;
use crate::conn_ctx::InFlight;
use crate::error::{ErrorKind, ProxyError};
use crate::h1::ReqFields;
use crate::headers::is_grpc;
use crate::state::{AlbRt, GroupRt, Route};
use crate::tls::{tls_error_in, HandshakeError};

/// What only the access log needs, captured when logging is on.
struct Detail {
    start: SystemTime,
    method: String,
    path: String,
    protocol: &'static str,
    forwarded_for: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    authority: Option<String>,
    grpc_status: Option<String>,
    stream_id: Option<u32>,
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// What a load balancer's request records besides the rest.
pub(crate) struct AlbNote {
    pub lb: Arc<AlbRt>,
    /// The group the request went to.
    pub group: Option<Arc<GroupRt>>,
    /// The matched rule's priority; 0: the default action.
    pub priority: u32,
    /// The action: `forward`, `fixed-response`, `redirect`.
    pub action: &'static str,
    /// A redirect's `location`.
    pub redirect: Option<String>,
    /// The load balancer answered itself (an action, or an error).
    pub own_answer: bool,
    /// What the access log entry needs (only with an access log).
    pub fields: Option<Box<AlbFields>>,
}

/// A load balancer's request, for its access log entry.
pub(crate) struct AlbFields {
    pub created: SystemTime,
    pub method: String,
    /// `http://host:port/path?query`.
    pub url: String,
    pub protocol: &'static str,
    pub user_agent: Option<String>,
    pub trace_id: Option<String>,
}

impl AlbNote {
    /// A request `lb`'s rules gave to `action` (rule `priority`, 0 for the default).
    pub(crate) fn new(lb: &Arc<AlbRt>, priority: u32, action: &'static str) -> AlbNote {
        AlbNote {
            lb: Arc::clone(lb),
            group: None,
            priority,
            action,
            redirect: None,
            own_answer: false,
            fields: None,
        }
    }

    /// Whether the access log wants the request's fields.
    pub(crate) fn logs(&self) -> bool {
        self.lb.logger.is_some()
    }
}

/// One request, from its head to the end of its response body.
pub(crate) struct RequestLog {
    route: Arc<Route>,
    in_flight: InFlight,
    start: Instant,
    pick: Option<Pick>,
    target: Option<SocketAddr>,
    target_metrics: Option<TargetMetrics>,
    upstream_time: Option<Duration>,
    status: u16,
    flag: &'static str,
    failed: bool,
    bytes_sent: u64,
    req_bytes: ReqBytes,
    /// Why the TLS handshake with the target failed.
    tls_failure: Option<String>,
    detail: Option<Box<Detail>>,
    /// A load balancer's request.
    alb: Option<Box<AlbNote>>,
    /// The targets tried, for a load balancer's access log.
    tried: Vec<SocketAddr>,
    /// From the request's start to its dispatch to the target that answered.
    to_dispatch: Option<Duration>,
    /// A connection to a target failed.
    connect_failed: bool,
}

/// Why the TLS handshake behind `err` failed, when it is one.
pub(crate) fn tls_failure(err: &ProxyError) -> Option<String> {
    if err.kind != ErrorKind::Tls {
        return None;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cur {
        if let Some(h) = e.downcast_ref::<HandshakeError>() {
            return Some(h.reason());
        }
        cur = e.source();
    }
    // A failure after the handshake seemed done (an alert on the first read or write).
    Some(tls_error_in(err).map_or_else(|| err.to_string(), ToString::to_string))
}

impl RequestLog {
    /// A request arrived (`RequestCount` counts it now).
    pub(crate) fn start<B>(route: Arc<Route>, in_flight: InFlight, req: &Request<B>) -> RequestLog {
        let grpc = is_grpc(req.headers());
        route.log.metrics.request(grpc);
        // Counted for every HTTP/2 request, logged or not, so ids stay right when a new
        // snapshot turns access logs on mid-connection.
        let stream_id =
            (req.version() == http::Version::HTTP_2).then(|| in_flight.ctx().next_h2_stream_id());
        let detail = route.log.logger.as_ref().map(|_| {
            let h = req.headers();
            Box::new(Detail {
                start: SystemTime::now(),
                method: req.method().as_str().to_string(),
                path: req
                    .uri()
                    .path_and_query()
                    .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string()),
                protocol: protocol(req.version()),
                forwarded_for: header(h, "x-forwarded-for"),
                user_agent: header(h, "user-agent"),
                request_id: header(h, "x-request-id"),
                authority: header(h, "host")
                    .or_else(|| req.uri().authority().map(|a| a.as_str().to_string())),
                grpc_status: None,
                stream_id,
            })
        });
        RequestLog {
            route,
            in_flight,
            start: Instant::now(),
            pick: None,
            target: None,
            target_metrics: None,
            upstream_time: None,
            status: 0,
            flag: "",
            failed: false,
            bytes_sent: 0,
            req_bytes: ReqBytes::Known(0),
            tls_failure: None,
            detail,
            alb: None,
            tried: Vec::new(),
            to_dispatch: None,
            connect_failed: false,
        }
    }

    /// A request arrived on the HTTP/1.1 fast path, its head already parsed.
    pub(crate) fn start_h1(
        route: Arc<Route>,
        in_flight: InFlight,
        grpc: bool,
        fields: Option<Box<ReqFields>>,
        start: Instant,
    ) -> RequestLog {
        route.log.metrics.request(grpc);
        let detail = match (&route.log.logger, fields) {
            (Some(_), Some(f)) => {
                let f = *f;
                Some(Box::new(Detail {
                    start: SystemTime::now(),
                    method: f.method,
                    path: f.path,
                    protocol: "HTTP/1.1",
                    forwarded_for: f.forwarded_for,
                    user_agent: f.user_agent,
                    request_id: f.request_id,
                    authority: f.authority,
                    grpc_status: None,
                    stream_id: None,
                }))
            }
            _ => None,
        };
        RequestLog {
            route,
            in_flight,
            start,
            pick: None,
            target: None,
            target_metrics: None,
            upstream_time: None,
            status: 0,
            flag: "",
            failed: false,
            bytes_sent: 0,
            req_bytes: ReqBytes::Known(0),
            tls_failure: None,
            detail,
            alb: None,
            tried: Vec::new(),
            to_dispatch: None,
            connect_failed: false,
        }
    }

    /// The request goes through a load balancer: ELB's record.
    pub(crate) fn alb(&mut self, note: AlbNote) {
        self.alb = Some(Box::new(note));
    }

    /// Whether the request goes through a load balancer (its answers are ALB's).
    pub(crate) fn is_alb(&self) -> bool {
        self.alb.is_some()
    }

    /// The load balancer answered `status` itself (a fixed response, a redirect).
    pub(crate) fn answered_locally(&mut self, status: u16) {
        self.status = status;
        if let Some(a) = &mut self.alb {
            a.own_answer = true;
        }
    }

    /// Whether the access log wants the response's `grpc-status`.
    pub(crate) fn wants_detail(&self) -> bool {
        self.detail.is_some()
    }

    /// The response's `grpc-status` header (fast path).
    pub(crate) fn grpc_status(&mut self, v: Option<String>) {
        if let (Some(d), Some(v)) = (&mut self.detail, v) {
            d.grpc_status = Some(v);
        }
    }

    /// The connection the request came on.
    pub(crate) fn conn_arc(&self) -> &Arc<crate::conn_ctx::ConnCtx> {
        self.in_flight.ctx_arc()
    }

    /// The client's IP, for `x-forwarded-for`.
    pub(crate) fn peer_ip(&self) -> http::HeaderValue {
        self.in_flight.ctx().peer_ip.clone()
    }

    /// The request body's byte count.
    pub(crate) fn request_bytes(&mut self, b: ReqBytes) {
        self.req_bytes = b;
    }

    /// A target answered: the response's status, the target, how long it took. `pick` is
    /// reported to the balancer when the response ends.
    pub(crate) fn answered(
        &mut self,
        status: u16,
        target: SocketAddr,
        metrics: TargetMetrics,
        upstream_time: Duration,
        pick: Option<Pick>,
    ) {
        self.status = status;
        self.target = Some(target);
        self.target_metrics = Some(metrics);
        self.upstream_time = Some(upstream_time);
        self.pick = pick;
        if self.alb.is_some() {
            self.to_dispatch = Some(self.start.elapsed().saturating_sub(upstream_time));
        }
    }

    /// The target of the latest attempt, for the log when no answer came.
    pub(crate) fn tried(&mut self, target: SocketAddr) {
        self.target = Some(target);
        if self.alb.as_ref().is_some_and(|a| a.logs()) {
            self.tried.push(target);
        }
    }

    /// The proxy answers itself because of `err`.
    pub(crate) fn failed(&mut self, err: &ProxyError) {
        if self.detail.is_some() {
            self.tls_failure = tls_failure(err);
        }
        if let Some(a) = &mut self.alb {
            a.own_answer = true;
            self.connect_failed = err.kind == ErrorKind::Connect;
            self.status = crate::alb_reply::status(err).as_u16();
            if self.flag.is_empty() {
                self.flag = err.flag();
            }
            return;
        }
        self.status = err.status().as_u16();
        if self.flag.is_empty() {
            self.flag = err.flag();
        }
    }

    /// A retry was wanted but the budget refused it.
    pub(crate) fn retry_refused(&mut self) {
        self.flag = "URX";
    }

    pub(crate) fn sent(&mut self, n: usize) {
        self.sent_u64(n as u64);
    }

    pub(crate) fn sent_u64(&mut self, n: u64) {
        self.bytes_sent += n;
    }

    pub(crate) fn trailers(&mut self, t: &HeaderMap) {
        if let Some(d) = &mut self.detail {
            d.grpc_status = header(t, "grpc-status");
        }
    }

    /// The response headers (gRPC trailers-only answers carry `grpc-status` there).
    pub(crate) fn response_headers(&mut self, h: &HeaderMap) {
        if let Some(d) = &mut self.detail {
            if d.grpc_status.is_none() {
                d.grpc_status = header(h, "grpc-status");
            }
        }
    }

    pub(crate) fn body_failed(&mut self) {
        self.failed = true;
        if self.flag.is_empty() {
            self.flag = "UR";
        }
    }

    pub(crate) fn timed_out_in_body(&mut self) {
        self.failed = true;
        self.flag = "UT";
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.finish();
    }
}

impl RequestLog {
    /// Makes the record now (the balancer's outcome, target metrics, the access log
    /// line) rather than when dropped: before the last bytes of a response go out, so
    /// that a client reading the metrics after its response sees its request. Once only.
    pub(crate) fn finish(&mut self) {
        if let Some(p) = self.pick.take() {
            if self.failed || self.status >= 500 {
                p.failure(std::time::Instant::now());
            } else {
                p.success();
            }
        }
        let req_bytes = self.req_bytes.get();
        if let (Some(m), Some(t)) = (self.target_metrics.take(), self.upstream_time) {
            m.response(self.status, t, req_bytes + self.bytes_sent);
        }
        if let Some(a) = self.alb.take() {
            self.finish_alb(*a, req_bytes);
            return;
        }
        let (Some(logger), Some(d)) = (&self.route.log.logger, self.detail.take()) else {
            return;
        };
        let d = *d;
        logger.log_http(&HttpRecord {
            start_time: Some(d.start),
            method: d.method,
            path: d.path,
            protocol: d.protocol.to_string(),
            response_code: self.status,
            response_flags: self.flag.to_string(),
            bytes_received: req_bytes,
            bytes_sent: self.bytes_sent,
            duration: self.start.elapsed(),
            upstream_service_time: self.upstream_time,
            forwarded_for: d.forwarded_for,
            user_agent: d.user_agent,
            request_id: d.request_id,
            authority: d.authority,
            upstream_host: self.target,
            stream_id: d.stream_id,
            grpc_status: d.grpc_status,
            direction: Some(self.route.log.direction),
            listener: self.route.log.name.clone(),
            downstream_peer_identity: self
                .in_flight
                .ctx()
                .peer_identity
                .as_deref()
                .map(str::to_string),
            upstream_transport_failure_reason: self.tls_failure.take(),
        });
    }
}

impl RequestLog {
    /// A load balancer's record: ELB's metrics, and its access log entry.
    fn finish_alb(&mut self, a: AlbNote, req_bytes: u64) {
        let lb = &a.lb.metrics;
        let target_status = self.upstream_time.map(|_| self.status);
        match &a.group {
            Some(g) => {
                g.metrics.request();
                if let (Some(s), Some(t)) = (target_status, self.upstream_time) {
                    g.metrics.target_response(s, t);
                }
                if self.connect_failed {
                    g.metrics.connect_error();
                }
            }
            None => lb.unrouted_request(),
        }
        if a.own_answer {
            lb.elb_response(self.status);
            match a.action {
                "fixed-response" => lb.fixed_response(),
                "redirect" => lb.redirect(),
                _ => {}
            }
        }
        let (Some((_, logger)), Some(f)) = (&a.lb.logger, a.fields) else {
            return;
        };
        let statuses: Vec<u16> = target_status.into_iter().collect();
        logger.log_alb(&AlbRecord {
            time: SystemTime::now(),
            request_creation_time: f.created,
            elb: a.lb.dimension.clone(),
            client: self.in_flight.ctx().peer,
            target: self.target,
            request_processing_time: self.to_dispatch.unwrap_or_default(),
            target_processing_time: self.upstream_time,
            elb_status_code: self.status,
            target_status_code: target_status,
            received_bytes: req_bytes,
            sent_bytes: self.bytes_sent,
            method: f.method,
            url: f.url,
            protocol: f.protocol.to_string(),
            user_agent: f.user_agent,
            target_group_arn: a.group.as_ref().map(|g| g.arn.clone()),
            trace_id: f.trace_id,
            matched_rule_priority: a.priority,
            actions_executed: Some(a.action),
            redirect_url: a.redirect,
            error_reason: None,
            targets_tried: std::mem::take(&mut self.tried),
            target_status_codes: statuses,
            connection_id: self.in_flight.ctx().id(),
        });
    }
}

/// Bytes and activity of one TCP connection, shared with its copy loop.
#[derive(Debug, Default)]
pub(crate) struct TcpCounters {
    /// From downstream.
    pub received: AtomicU64,
    /// To downstream.
    pub sent: AtomicU64,
}

/// One TCP connection: logged when it closes.
pub(crate) struct TcpLog {
    pub route: Arc<Route>,
    pub start: Instant,
    pub start_wall: SystemTime,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub upstream: Option<SocketAddr>,
    pub counters: Arc<TcpCounters>,
    pub termination: Option<&'static str>,
    pub id: u64,
    /// The identity in the client's verified certificate (mutual TLS).
    pub identity: Option<String>,
    /// Why the TLS handshake with the target failed.
    pub tls_failure: Option<String>,
    retry_refused: bool,
}

impl TcpLog {
    /// A connection accepted now.
    pub(crate) fn start(
        route: Arc<Route>,
        peer: SocketAddr,
        local: SocketAddr,
        counters: Arc<TcpCounters>,
        id: u64,
    ) -> TcpLog {
        TcpLog {
            route,
            start: Instant::now(),
            start_wall: SystemTime::now(),
            peer,
            local,
            upstream: None,
            counters,
            termination: None,
            id,
            identity: None,
            tls_failure: None,
            retry_refused: false,
        }
    }

    /// A retry (another endpoint) was wanted but the budget refused it.
    pub(crate) fn retry_refused(&mut self) {
        self.retry_refused = true;
    }

    /// No connection to a target could be made because of `err`.
    pub(crate) fn failed(&mut self, err: &ProxyError) {
        self.termination = Some(match err.kind {
            ErrorKind::NoEndpoint => "no healthy upstream",
            ErrorKind::Tls if self.retry_refused => {
                "upstream TLS handshake failure, retry budget exhausted"
            }
            ErrorKind::Tls => "upstream TLS handshake failure",
            _ if self.retry_refused => "upstream connect failure, retry budget exhausted",
            _ => "upstream connect failure",
        });
    }
}

impl Drop for TcpLog {
    fn drop(&mut self) {
        let Some(logger) = &self.route.log.logger else {
            return;
        };
        logger.log_tcp(&TcpRecord {
            start_time: Some(self.start_wall),
            downstream_remote: Some(self.peer),
            downstream_local: Some(self.local),
            bytes_received: self.counters.received.load(Relaxed),
            bytes_sent: self.counters.sent.load(Relaxed),
            duration: self.start.elapsed(),
            upstream_host: self.upstream,
            termination_details: self.termination.map(str::to_string),
            connection_id: self.id,
            direction: Some(self.route.log.direction),
            listener: self.route.log.name.clone(),
            downstream_peer_identity: self.identity.take(),
            upstream_transport_failure_reason: self.tls_failure.take(),
        });
    }
}
