//! The attempt loop's decisions, for every egress request and TCP connection alike (the
//! hyper path's [`egress`](crate::egress), the fast path's and [`tcp`](crate::tcp)'s):
//! [`Attempts`] picks each attempt's endpoint (not one the request tried already), decides
//! whether a failed attempt is tried again, takes the retry from the upstream's budget or
//! records that the budget refused it, and says what ends a request that got no answer:
//! the last attempt's error, or [`ErrorKind::NoEndpoint`] when there was no endpoint to
//! try.
//!
//! The policy: at most `retries.maxRetries` retries, only after a connect failure, a
//! reset before any response byte, or a 503 answer, only when the request body can be
//! sent again, and only while the upstream's retry budget allows.

use std::net::SocketAddr;
use std::time::Instant as StdInstant;

use berth_balance::Pick;
use http::StatusCode;

use crate::access_log::{RequestLog, TcpLog};
use crate::error::{ErrorKind, ProxyError, Side};
use crate::state::UpstreamRt;

/// How an attempt ended, as far as retrying goes.
#[derive(Debug, Clone, Copy)]
enum Attempt<'a> {
    /// The target answered with this status.
    Answered(StatusCode),
    /// The attempt failed.
    Failed(&'a ProxyError),
}

/// Whether the policy retries after `attempt` (a 503, or a failure before any response
/// byte), budget, limit and body aside.
fn wanted(attempt: Attempt<'_>) -> bool {
    match attempt {
        Attempt::Answered(s) => s == StatusCode::SERVICE_UNAVAILABLE,
        Attempt::Failed(e) => e.retryable,
    }
}

/// What the attempts record: the HTTP request's record and the TCP connection's.
pub(crate) trait AttemptLog {
    /// An attempt goes to `target`.
    fn tried(&mut self, target: SocketAddr);
    /// A retry was wanted but the budget refused it.
    fn retry_refused(&mut self);
}

impl AttemptLog for RequestLog {
    fn tried(&mut self, target: SocketAddr) {
        RequestLog::tried(self, target);
    }

    fn retry_refused(&mut self) {
        RequestLog::retry_refused(self);
    }
}

impl AttemptLog for TcpLog {
    fn tried(&mut self, target: SocketAddr) {
        self.upstream = Some(target);
    }

    fn retry_refused(&mut self) {
        TcpLog::retry_refused(self);
    }
}

/// The attempts of one request (or TCP connection) on an upstream. The caller loops:
/// [`next`](Attempts::next) for an endpoint, one attempt there, then
/// [`answered`](Attempts::answered) or [`failed`](Attempts::failed), which say whether
/// another attempt follows.
pub(crate) struct Attempts<'a> {
    up: &'a UpstreamRt,
    /// The endpoints tried before the current attempt, one per retry (allocates only
    /// when a retry happens).
    tried: Vec<SocketAddr>,
    /// The error of the latest attempt that was retried.
    last_error: Option<ProxyError>,
    /// When the request arrived: the first pick's time.
    start: StdInstant,
}

impl<'a> Attempts<'a> {
    /// A request (or TCP connection) for `up` arrived at `now`; it counts toward the
    /// upstream's retry budget.
    #[inline]
    pub(crate) fn start(up: &'a UpstreamRt, now: StdInstant) -> Attempts<'a> {
        up.budget.deposit(now);
        Attempts {
            up,
            tried: Vec::new(),
            last_error: None,
            start: now,
        }
    }

    /// Whether a retry could still follow the next attempt (the request must then keep
    /// what it needs to be sent again).
    #[inline]
    pub(crate) fn may_retry(&self) -> bool {
        self.tried.len() < self.up.retries.max_retries as usize
    }

    /// Whether `attempt` is tried again, budget aside; `replayable` (whether the body
    /// can be sent again) is asked last, only when all else says yes.
    fn wants_retry(&self, attempt: Attempt<'_>, replayable: impl FnOnce() -> bool) -> bool {
        wanted(attempt) && self.may_retry() && replayable()
    }

    /// The endpoint of the next attempt, recorded as tried. When none is left, the error
    /// that ends the request: the last failed attempt's, or `NoEndpoint` if none failed.
    #[inline]
    pub(crate) fn next(&mut self, log: &mut impl AttemptLog) -> Result<Pick, ProxyError> {
        // One clock read for the deposit and the first pick.
        let now = if self.tried.is_empty() {
            self.start
        } else {
            StdInstant::now()
        };
        match self.up.balancer.pick(&self.tried, now) {
            Some(pick) => {
                log.tried(pick.addr());
                Ok(pick)
            }
            None => Err(self
                .last_error
                .take()
                .unwrap_or_else(|| ProxyError::new(Side::Upstream, ErrorKind::NoEndpoint, false))),
        }
    }

    /// The attempt's target answered `status`. `Some`: the answer stands, and the pick is
    /// the caller's to report with it; `None`: another endpoint is tried (a 503, the
    /// endpoint charged with a failure). `replayable`: whether the body can be sent again.
    #[inline]
    pub(crate) fn answered(
        &mut self,
        pick: Pick,
        status: u16,
        replayable: impl FnOnce() -> bool,
        log: &mut impl AttemptLog,
    ) -> Option<Pick> {
        if status != StatusCode::SERVICE_UNAVAILABLE.as_u16() {
            return Some(pick);
        }
        let attempt = Attempt::Answered(StatusCode::SERVICE_UNAVAILABLE);
        if !self.wants_retry(attempt, replayable) || !self.withdraw(log) {
            return Some(pick);
        }
        let target = pick.addr();
        tracing::debug!(upstream = %self.up.name, %target, "503: retrying");
        pick.failure(StdInstant::now());
        self.tried.push(target);
        None
    }

    /// The attempt failed with `err` (the endpoint is charged with it when it is to
    /// blame). `Ok`: another endpoint is tried; `Err`: the request ends with `err`.
    pub(crate) fn failed(
        &mut self,
        pick: Pick,
        err: ProxyError,
        replayable: impl FnOnce() -> bool,
        log: &mut impl AttemptLog,
    ) -> Result<(), ProxyError> {
        let target = pick.addr();
        match err.kind {
            ErrorKind::Connect => self.up.metrics.target_connect_error(),
            ErrorKind::Tls => self.up.metrics.target_tls_error(),
            _ => {}
        }
        if err.counts_against_endpoint() {
            pick.failure(StdInstant::now());
        } else {
            drop(pick);
        }
        if !self.wants_retry(Attempt::Failed(&err), replayable) || !self.withdraw(log) {
            return Err(err);
        }
        tracing::debug!(upstream = %self.up.name, error = %err, "retrying");
        self.tried.push(target);
        self.last_error = Some(err);
        Ok(())
    }

    /// Takes a retry from the budget, or records that it refused.
    fn withdraw(&self, log: &mut impl AttemptLog) -> bool {
        let granted = self.up.budget.try_withdraw(StdInstant::now());
        if !granted {
            log.retry_refused();
        }
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use berth_proxy_config::Snapshot;
    use berth_telemetry::Metrics;

    use crate::state::{build, BuildCtx, State};

    /// A state with upstream `u` of `endpoints` and `retries` (JSON).
    fn state(endpoints: &[&str], retries: &str) -> State {
        let eps: Vec<String> = endpoints
            .iter()
            .map(|a| format!(r#"{{"address": "{a}"}}"#))
            .collect();
        let json = format!(
            r#"{{"version": 1, "upstreams": {{"u": {{"protocol": "http",
                "endpoints": [{}], "retries": {retries}}}}}}}"#,
            eps.join(", ")
        );
        let report = crate::health::HealthReport::new(Box::new(std::io::sink()));
        let ctx = BuildCtx {
            metrics: &Metrics::new(),
            connect_timeout: Duration::from_secs(1),
            log_writer: None,
            workers: 1,
            health_report: &report,
        };
        build(Snapshot::from_json(json.as_bytes()).unwrap(), None, &ctx).unwrap()
    }

    #[derive(Default)]
    struct Log {
        tried: Vec<SocketAddr>,
        refused: bool,
    }

    impl AttemptLog for Log {
        fn tried(&mut self, target: SocketAddr) {
            self.tried.push(target);
        }
        fn retry_refused(&mut self) {
            self.refused = true;
        }
    }

    fn connect_error(target: SocketAddr) -> ProxyError {
        ProxyError::new(Side::Upstream, ErrorKind::Connect, true).with_target(target)
    }

    #[test]
    fn an_exhausted_upstream_ends_with_the_last_error() {
        let st = state(&["127.0.0.1:1", "127.0.0.1:2"], "{}");
        let mut log = Log::default();
        let mut a = Attempts::start(&st.upstreams["u"], StdInstant::now());
        for _ in 0..2 {
            let pick = a.next(&mut log).unwrap();
            let e = connect_error(pick.addr());
            assert!(a.failed(pick, e, || true, &mut log).is_ok());
        }
        let e = a.next(&mut log).unwrap_err();
        assert_eq!((e.kind, e.target), (ErrorKind::Connect, Some(log.tried[1])));
        assert_ne!(log.tried[0], log.tried[1]);
        assert!(!log.refused);
    }

    #[test]
    fn no_endpoint_when_none_was_tried() {
        let st = state(&[], "{}");
        let mut a = Attempts::start(&st.upstreams["u"], StdInstant::now());
        let e = a.next(&mut Log::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoEndpoint);
    }

    #[test]
    fn a_retry_the_budget_refuses_is_recorded() {
        let st = state(
            &["127.0.0.1:1", "127.0.0.1:2"],
            r#"{"budgetPercent": 0, "minRetriesPerSecond": 0}"#,
        );
        let up = &st.upstreams["u"];
        let mut log = Log::default();
        let mut a = Attempts::start(up, StdInstant::now());
        let pick = a.next(&mut log).unwrap();
        let e = connect_error(pick.addr());
        assert_eq!(
            a.failed(pick, e, || true, &mut log).unwrap_err().kind,
            ErrorKind::Connect
        );
        assert!(log.refused);
        let mut log = Log::default();
        let mut a = Attempts::start(up, StdInstant::now());
        let pick = a.next(&mut log).unwrap();
        assert!(a.answered(pick, 503, || true, &mut log).is_some());
        assert!(log.refused);
    }

    #[test]
    fn a_503_goes_to_another_endpoint_other_answers_stand() {
        let st = state(&["127.0.0.1:1", "127.0.0.1:2"], r#"{"maxRetries": 1}"#);
        let mut log = Log::default();
        let mut a = Attempts::start(&st.upstreams["u"], StdInstant::now());
        let pick = a.next(&mut log).unwrap();
        // `replayable` is not asked when no retry is wanted.
        let pick = a.answered(pick, 200, || unreachable!(), &mut log).unwrap();
        // Not replayable: the 503 stands.
        let pick = a.answered(pick, 503, || false, &mut log).unwrap();
        assert!(a.answered(pick, 503, || true, &mut log).is_none());
        let pick = a.next(&mut log).unwrap();
        assert_ne!(pick.addr(), log.tried[0]);
        // The one retry is used: this 503 stands, and no refusal is recorded.
        assert!(a.answered(pick, 503, || true, &mut log).is_some());
        assert!(!log.refused);
    }

    #[test]
    fn retries_connect_failures_resets_and_503_only() {
        let connect = ProxyError::new(Side::Upstream, ErrorKind::Connect, true);
        let garbage = ProxyError::new(Side::Upstream, ErrorKind::Protocol, false);
        let timeout = ProxyError::new(Side::Upstream, ErrorKind::Timeout, false);
        assert!(wanted(Attempt::Failed(&connect)));
        assert!(!wanted(Attempt::Failed(&garbage)));
        assert!(!wanted(Attempt::Failed(&timeout)));
        assert!(wanted(Attempt::Answered(StatusCode::SERVICE_UNAVAILABLE)));
        assert!(!wanted(Attempt::Answered(
            StatusCode::INTERNAL_SERVER_ERROR
        )));
        assert!(!wanted(Attempt::Answered(StatusCode::OK)));
    }

    #[test]
    fn not_without_a_replayable_body_nor_past_the_limit() {
        let st = state(&["127.0.0.1:1", "127.0.0.1:2"], r#"{"maxRetries": 0}"#);
        let mut log = Log::default();
        let mut a = Attempts::start(&st.upstreams["u"], StdInstant::now());
        assert!(!a.may_retry());
        let pick = a.next(&mut log).unwrap();
        let e = connect_error(pick.addr());
        assert!(a.failed(pick, e, || true, &mut log).is_err());
        let st = state(&["127.0.0.1:1", "127.0.0.1:2"], "{}");
        let mut a = Attempts::start(&st.upstreams["u"], StdInstant::now());
        let pick = a.next(&mut log).unwrap();
        let e = connect_error(pick.addr());
        assert!(a.failed(pick, e, || false, &mut log).is_err());
        assert!(!log.refused);
    }
}
