//! A load balancer's active health checks, as ELB runs them, and what they decide: which
//! targets of a group get traffic.
//!
//! Each target of a group with checks enabled has a checker task (started at a random
//! point of its first interval, so that targets are not all checked at once): every
//! `intervalSeconds` it sends `GET <path>` to the target (its traffic port, or the
//! group's override), `host: <ip>:<port>`, `user-agent: ELB-HealthChecker/2.0`, and
//! waits `timeoutSeconds` for the status line. `healthyThreshold` passes in a row make
//! a target `healthy`, `unhealthyThreshold` failures in a row `unhealthy`, with ELB's
//! reason codes and descriptions ([`Checker`], pure). A new target starts `initial`
//! and gets no traffic until it passes; a draining one (deregistered) gets none and is
//! not checked; with checks disabled every target is `unavailable` and gets traffic.
//!
//! Which targets get traffic ([`routable`], pure): the healthy (and unavailable) ones;
//! when there are none and every target that is not draining is unhealthy, all of
//! those (ELB fails open rather than refuse every request); otherwise none (the group
//! answers 503). The group's balancer holds exactly that set, updated on every change,
//! so the request path only picks.
//!
//! A [`GroupHealth`] lives as long as its group stays in the snapshots: a new snapshot
//! updates it in place ([`GroupHealth::update`]), so targets that stay (same id and
//! address) keep their health and their checker. Every change of a target's state is
//! one [`TargetHealthChange`] line on the health report output ([`HealthReport`]).

use std::net::SocketAddr;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_balance::{Balancer, LoadBalancing, OutlierDetection};
use berth_proxy_config::alb::{
    Algorithm, GroupHealthReport, HealthCheck, HealthCheckPort, Target, TargetGroup, TargetHealth,
    TargetHealthChange, TargetReason, TargetState,
};
use berth_telemetry::TargetGroupMetrics;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::AbortHandle;

/// The `user-agent` of health checks.
pub(crate) const USER_AGENT: &str = "ELB-HealthChecker/2.0";

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Decisions (pure).

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The target answered this status.
    Status(u16),
    /// No status line within the timeout.
    Timeout,
    /// Refused, reset, or not HTTP.
    Failed,
}

/// A target's health as `DescribeTargetHealth` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub state: TargetState,
    pub reason: Option<TargetReason>,
    pub description: Option<String>,
    /// Unix milliseconds.
    pub since: u64,
}

impl Status {
    fn new(state: TargetState, reason: Option<TargetReason>, since: u64) -> Status {
        Status {
            state,
            reason,
            description: reason.map(|r| describe(r, None)),
            since,
        }
    }
}

/// ELB's description of `reason` (`codes`: the failing statuses, for a mismatch).
fn describe(reason: TargetReason, code: Option<u16>) -> String {
    match reason {
        TargetReason::RegistrationInProgress => "Target registration is in progress".into(),
        TargetReason::InitialHealthChecking => "Initial health checks in progress".into(),
        TargetReason::ResponseCodeMismatch => format!(
            "Health checks failed with these codes: [{}]",
            code.map_or_else(String::new, |c| c.to_string())
        ),
        TargetReason::Timeout => "Request timed out".into(),
        TargetReason::FailedHealthChecks => "Health checks failed".into(),
        TargetReason::DeregistrationInProgress => "Target deregistration is in progress".into(),
        TargetReason::HealthCheckDisabled => "Health checks are disabled".into(),
    }
}

/// One target's consecutive check results and the state they lead to.
#[derive(Debug, Clone)]
pub(crate) struct Checker {
    pub status: Status,
    passes: u32,
    failures: u32,
}

impl Checker {
    /// A newly registered target.
    pub(crate) fn new(now_ms: u64) -> Checker {
        Checker {
            status: Status::new(
                TargetState::Initial,
                Some(TargetReason::RegistrationInProgress),
                now_ms,
            ),
            passes: 0,
            failures: 0,
        }
    }

    /// Takes the result of one check; `true` when the state changed.
    pub(crate) fn observe(&mut self, probe: &Probe, hc: &HealthCheck, now_ms: u64) -> bool {
        let passed = matches!(probe, Probe::Status(s) if hc.matcher.accepts(*s));
        let (state, failure) = (self.status.state, (!passed).then(|| failure(probe)));
        if passed {
            self.passes = self.passes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.passes = 0;
        }
        let next = match (state, passed) {
            (TargetState::Healthy, true) => None,
            (_, true) if self.passes >= hc.healthy_threshold => Some(TargetState::Healthy),
            (TargetState::Unhealthy, false) => None,
            (_, false) if self.failures >= hc.unhealthy_threshold => Some(TargetState::Unhealthy),
            _ => None,
        };
        match next {
            Some(TargetState::Healthy) => {
                self.status = Status::new(TargetState::Healthy, None, now_ms);
                true
            }
            Some(s) => {
                let (reason, description) = failure.expect("a failure");
                self.status = Status {
                    state: s,
                    reason: Some(reason),
                    description: Some(description),
                    since: now_ms,
                };
                true
            }
            None => {
                // The same state; its reason follows the latest result.
                match (state, failure) {
                    (TargetState::Unhealthy, Some((r, d))) => {
                        self.status.reason = Some(r);
                        self.status.description = Some(d);
                    }
                    (TargetState::Initial, _) => {
                        let r = TargetReason::InitialHealthChecking;
                        self.status.reason = Some(r);
                        self.status.description = Some(describe(r, None));
                    }
                    _ => {}
                }
                false
            }
        }
    }
}

/// The reason and description of a failed check.
fn failure(probe: &Probe) -> (TargetReason, String) {
    let reason = match probe {
        Probe::Status(_) => TargetReason::ResponseCodeMismatch,
        Probe::Timeout => TargetReason::Timeout,
        Probe::Failed => TargetReason::FailedHealthChecks,
    };
    let code = match probe {
        Probe::Status(s) => Some(*s),
        _ => None,
    };
    (reason, describe(reason, code))
}

/// The targets that get traffic, from each target's address and state (see the module
/// documentation).
pub(crate) fn routable(targets: &[(SocketAddr, TargetState)]) -> Vec<SocketAddr> {
    let pick = |f: &dyn Fn(TargetState) -> bool| -> Vec<SocketAddr> {
        targets
            .iter()
            .filter(|(_, s)| f(*s))
            .map(|(a, _)| *a)
            .collect()
    };
    let up = pick(&|s| matches!(s, TargetState::Healthy | TargetState::Unavailable));
    if !up.is_empty() {
        return up;
    }
    let live: Vec<TargetState> = (targets.iter())
        .map(|(_, s)| *s)
        .filter(|s| *s != TargetState::Draining)
        .collect();
    if !live.is_empty() && live.iter().all(|s| *s == TargetState::Unhealthy) {
        return pick(&|s| s == TargetState::Unhealthy);
    }
    Vec::new()
}

// ---------------------------------------------------------------------------------------
// The report output.

/// Where health changes go: one JSON line each, written by a thread of its own so
/// that a slow reader never holds a checker up (lines are dropped, and counted in
/// the proxy's log, when it falls 1,024 lines behind).
#[derive(Clone)]
pub(crate) struct HealthReport {
    tx: SyncSender<String>,
}

impl HealthReport {
    pub(crate) fn new(mut w: Box<dyn std::io::Write + Send>) -> HealthReport {
        let (tx, rx) = mpsc::sync_channel::<String>(1024);
        std::thread::Builder::new()
            .name("berth-health-report".into())
            .spawn(move || {
                while let Ok(line) = rx.recv() {
                    let _ = w.write_all(line.as_bytes()).and_then(|()| w.flush());
                }
            })
            .expect("spawn the health report writer thread");
        HealthReport { tx }
    }

    fn send(&self, change: &TargetHealthChange) {
        if self.tx.try_send(change.to_line() + "\n").is_err() {
            tracing::warn!(target = %change.target.id, "health report line dropped");
        }
    }
}

// ---------------------------------------------------------------------------------------
// A group's targets and their checkers.

/// One registered target.
struct Entry {
    target: Target,
    addr: SocketAddr,
    checker: Checker,
    task: Option<AbortHandle>,
}

impl Entry {
    fn new(t: &Target, addr: SocketAddr, now_ms: u64) -> Entry {
        Entry {
            target: t.clone(),
            addr,
            checker: Checker::new(now_ms),
            task: None,
        }
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// What a group's entries are checked with and reported as.
struct GroupConfig {
    lb_arn: String,
    arn: String,
    health_check: HealthCheck,
    algorithm: Algorithm,
}

struct Inner {
    config: GroupConfig,
    entries: Vec<Entry>,
    metrics: TargetGroupMetrics,
}

/// One target group's targets, their health and checkers, and the balancer of the
/// targets that get traffic.
pub(crate) struct GroupHealth {
    key: String,
    balancer: Arc<Balancer>,
    inner: Mutex<Inner>,
    report: HealthReport,
}

fn policy(a: Algorithm) -> LoadBalancing {
    match a {
        Algorithm::RoundRobin => LoadBalancing::RoundRobin,
        Algorithm::LeastOutstandingRequests => LoadBalancing::LeastRequest,
    }
}

/// No passive ejection: a load balancer's targets leave only by their health checks.
fn no_ejection() -> OutlierDetection {
    OutlierDetection {
        max_ejection_percent: 0,
        ..OutlierDetection::default()
    }
}

impl GroupHealth {
    /// A group as `g` configures it, its targets `initial` (or draining, or unavailable).
    pub(crate) fn new(
        key: &str,
        lb_arn: &str,
        g: &TargetGroup,
        metrics: TargetGroupMetrics,
        report: HealthReport,
        now: SystemTime,
    ) -> Arc<GroupHealth> {
        let gh = Arc::new(GroupHealth {
            key: key.to_string(),
            balancer: Arc::new(Balancer::new(&[], policy(g.algorithm), no_ejection())),
            inner: Mutex::new(Inner {
                config: GroupConfig {
                    lb_arn: lb_arn.to_string(),
                    arn: g.arn.clone(),
                    health_check: g.health_check.clone(),
                    algorithm: g.algorithm,
                },
                entries: Vec::new(),
                metrics,
            }),
            report,
        });
        let m = gh.lock().metrics.clone();
        gh.update(lb_arn, g, m, now);
        gh
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The balancer over the targets that get traffic.
    pub(crate) fn balancer(&self) -> &Arc<Balancer> {
        &self.balancer
    }

    /// Applies a new configuration of the group: targets that stay (same id and
    /// address) keep their health, new ones start `initial`, removed ones are forgotten
    /// (their checkers stop); changed check settings restart the checkers (at
    /// [`run`](Self::run)), health kept.
    pub(crate) fn update(
        &self,
        lb_arn: &str,
        g: &TargetGroup,
        metrics: TargetGroupMetrics,
        now: SystemTime,
    ) {
        let now_ms = unix_ms(now);
        let mut changes = Vec::new();
        {
            let mut inner = self.lock();
            inner.metrics = metrics;
            let restart = inner.config.health_check != g.health_check;
            inner.config = GroupConfig {
                lb_arn: lb_arn.to_string(),
                arn: g.arn.clone(),
                health_check: g.health_check.clone(),
                algorithm: g.algorithm,
            };
            let mut old: Vec<Entry> = std::mem::take(&mut inner.entries);
            for t in &g.targets {
                let addr = g.address(t);
                let same = old
                    .iter()
                    .position(|e| e.target.id == t.id && e.addr == addr);
                let (mut e, previous) = match same {
                    Some(i) => {
                        let e = old.swap_remove(i);
                        let p = e.checker.status.state;
                        (e, Some(p))
                    }
                    None => (Entry::new(t, addr, now_ms), None),
                };
                e.target = t.clone();
                if restart {
                    e.stop();
                }
                match fixed_status(t, &g.health_check, &e.checker.status, now_ms) {
                    Some(s) => {
                        e.stop();
                        e.checker.status = s;
                    }
                    // Registered again, or checks turned on: checked from scratch.
                    None if matches!(
                        e.checker.status.state,
                        TargetState::Draining | TargetState::Unavailable
                    ) =>
                    {
                        e.checker = Checker::new(now_ms);
                    }
                    None => {}
                }
                if previous != Some(e.checker.status.state) {
                    changes.push((addr, previous));
                }
                inner.entries.push(e);
            }
            for mut e in old {
                e.stop();
            }
        }
        self.publish();
        for (addr, previous) in changes {
            self.report_change(addr, previous);
        }
    }

    /// Starts a checker for every target that needs one and has none (new targets,
    /// changed settings). On the runtime it is called from.
    pub(crate) fn run(self: &Arc<Self>) {
        let mut inner = self.lock();
        let hc = inner.config.health_check.clone();
        if !hc.enabled {
            return;
        }
        for e in &mut inner.entries {
            if e.task.is_some() || e.checker.status.state == TargetState::Draining {
                continue;
            }
            let port = match hc.port {
                HealthCheckPort::TrafficPort => e.addr.port(),
                HealthCheckPort::Port(p) => p,
            };
            let probe_addr = SocketAddr::new(e.addr.ip(), port);
            let task = tokio::spawn(check_loop(
                Arc::downgrade(self),
                e.target.id.clone(),
                e.addr,
                probe_addr,
                hc.clone(),
            ));
            e.task = Some(task.abort_handle());
        }
    }

    /// Stops every checker (the group is gone).
    pub(crate) fn stop(&self) {
        for e in &mut self.lock().entries {
            e.stop();
        }
    }

    /// Records a check's result for the target `(id, addr)`.
    fn observe(&self, id: &str, addr: SocketAddr, probe: &Probe, now: SystemTime) {
        let mut inner = self.lock();
        let hc = inner.config.health_check.clone();
        let Some(e) = inner
            .entries
            .iter_mut()
            .find(|e| e.target.id == id && e.addr == addr)
        else {
            return;
        };
        let previous = e.checker.status.state;
        if previous == TargetState::Draining {
            return;
        }
        let changed = e.checker.observe(probe, &hc, unix_ms(now));
        drop(inner);
        if changed {
            tracing::info!(group = %self.key, target = %addr, ?probe, from = ?previous,
                "target health changed");
            self.publish();
            self.report_change(addr, Some(previous));
        }
    }

    /// Puts the targets that get traffic in the balancer, and the counts in the metrics.
    fn publish(&self) {
        let inner = self.lock();
        let states: Vec<(SocketAddr, TargetState)> = (inner.entries.iter())
            .map(|e| (e.addr, e.checker.status.state))
            .collect();
        let healthy = (states.iter())
            .filter(|(_, s)| matches!(s, TargetState::Healthy | TargetState::Unavailable))
            .count();
        let unhealthy = (states.iter())
            .filter(|(_, s)| *s == TargetState::Unhealthy)
            .count();
        inner.metrics.hosts(healthy, unhealthy);
        let policy = policy(inner.config.algorithm);
        drop(inner);
        self.balancer
            .update(&routable(&states), policy, no_ejection());
    }

    fn report_change(&self, addr: SocketAddr, previous: Option<TargetState>) {
        let inner = self.lock();
        let Some(e) = inner.entries.iter().find(|e| e.addr == addr) else {
            return;
        };
        let change = TargetHealthChange {
            load_balancer_arn: inner.config.lb_arn.clone(),
            target_group: self.key.clone(),
            target_group_arn: inner.config.arn.clone(),
            target: health_of(e),
            previous,
        };
        drop(inner);
        self.report.send(&change);
    }

    /// Every target's health, in the configuration's order.
    pub(crate) fn report(&self) -> GroupHealthReport {
        let inner = self.lock();
        GroupHealthReport {
            arn: inner.config.arn.clone(),
            targets: inner.entries.iter().map(health_of).collect(),
        }
    }
}

fn health_of(e: &Entry) -> TargetHealth {
    let s = &e.checker.status;
    TargetHealth {
        id: e.target.id.clone(),
        ip: e.addr.ip(),
        port: e.addr.port(),
        state: s.state,
        reason: s.reason,
        description: s.description.clone(),
        since: s.since,
    }
}

/// The status a target has whatever its checks say (draining, or checks disabled),
/// `current`'s when it is that already.
fn fixed_status(t: &Target, hc: &HealthCheck, current: &Status, now_ms: u64) -> Option<Status> {
    let (state, reason) = if t.draining_until.is_some() {
        (
            TargetState::Draining,
            TargetReason::DeregistrationInProgress,
        )
    } else if !hc.enabled {
        (TargetState::Unavailable, TargetReason::HealthCheckDisabled)
    } else {
        return None;
    };
    if current.state == state {
        return Some(current.clone());
    }
    Some(Status::new(state, Some(reason), now_ms))
}

impl Drop for GroupHealth {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// Checking (I/O).

/// Checks one target every interval until its group is gone or the task is aborted.
async fn check_loop(
    group: Weak<GroupHealth>,
    id: String,
    addr: SocketAddr,
    probe_addr: SocketAddr,
    hc: HealthCheck,
) {
    let interval = Duration::from_secs(hc.interval_seconds);
    let timeout = Duration::from_secs(hc.timeout_seconds);
    let jitter = interval.mul_f64(rand::random::<f64>());
    tokio::time::sleep(jitter).await;
    let mut next = tokio::time::Instant::now();
    loop {
        let result = probe(probe_addr, &hc.path, timeout).await;
        let Some(g) = group.upgrade() else { return };
        g.observe(&id, addr, &result, SystemTime::now());
        drop(g);
        next += interval;
        tokio::time::sleep_until(next).await;
    }
}

/// One health check: `GET path` on `addr`, the status of its answer.
pub(crate) async fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Probe {
    match tokio::time::timeout(timeout, exchange(addr, path)).await {
        Err(_) => Probe::Timeout,
        Ok(Some(status)) => Probe::Status(status),
        Ok(None) => Probe::Failed,
    }
}

async fn exchange(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let _ = s.set_nodelay(true);
    let req = format!(
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nuser-agent: {USER_AGENT}\r\naccept-encoding: gzip, compressed\r\nconnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => return resp.code,
            Ok(httparse::Status::Partial) if buf.len() < 64 * 1024 => {}
            _ => return None,
        }
        if s.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests;
