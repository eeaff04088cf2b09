//! What one pass decides for one service: a pure function of the service, its tasks
//! and the time, so that rolling updates, the circuit breaker and launch back-off are
//! tested as tables. `super::apply` carries the plan out.
//!
//! The steps, in order, each a small function on one `Pass`:
//! 1. replace unhealthy tasks;
//! 2. the circuit breaker: count the PRIMARY deployment's failed tasks, fail it at
//!    ECS's threshold and roll back to the previous deployment if asked to;
//! 3. launch PRIMARY tasks up to `desiredCount`, within `maximumPercent`, unless the
//!    deployment failed or launches back off after failures;
//! 4. scale down: stop what is not needed, never below `minimumHealthyPercent` of
//!    serving tasks;
//! 5. count running and pending tasks per deployment;
//! 6. settle: a deployment that serves its full count with nothing else left is
//!    COMPLETED (older deployments dropped); a DRAINING service with no task left is
//!    INACTIVE.

use std::collections::BTreeSet;

use crate::agent::serving;
use crate::records::{
    DeploymentStatus, RolloutState, SchedulingStrategy, Service, ServiceStatus, StopCode, Task,
    TaskStatus,
};
use crate::task::mark_stopping;

/// The stoppedReason of a task the scheduler replaces because it turned unhealthy.
pub const UNHEALTHY_REASON: &str = "Task failed container health checks";

/// A task that ran at least this long before it stopped by itself did not fail to
/// start: it neither trips the circuit breaker nor slows launches.
pub const FAILED_START_SECS: f64 = 10.0;

/// What the scheduler does to a service, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// An event message for the service's `events`.
    Event(String),
    /// Start this many tasks of the PRIMARY deployment (an event names them).
    Launch(usize),
}

/// One pass's decisions for one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The service record after the pass, before the effects' events.
    pub service: Service,
    /// The tasks the pass changed (stopped), as they should be written.
    pub changed: Vec<Task>,
    /// Events and launches, in the order they happen.
    pub effects: Vec<Effect>,
    /// When time alone may change the plan (a launch back-off ends).
    pub wake_at: Option<f64>,
}

impl Plan {
    /// True when carrying the plan out changes nothing.
    pub fn is_empty(&self, before: &Service) -> bool {
        self.changed.is_empty() && self.effects.is_empty() && &self.service == before
    }
}

/// Decides one pass over `service`, whose tasks (its group's, stopped ones included)
/// are `tasks`, at time `now`.
pub fn plan(service: &Service, tasks: &[Task], now: f64) -> Plan {
    plan_waiting(service, tasks, &BTreeSet::new(), now)
}

/// As [`plan`], with the tasks (ids) whose load balancers' targets are not healthy yet:
/// they do not serve (a deployment waits for them; older tasks stay).
pub fn plan_waiting(
    service: &Service,
    tasks: &[Task],
    waiting: &BTreeSet<String>,
    now: f64,
) -> Plan {
    let mut p = Pass::new(service, tasks, waiting, now);
    if p.schedulable() {
        p.replace_unhealthy();
        if p.s.primary_index().is_some() {
            p.circuit_breaker();
            p.launch();
            p.scale_down();
            p.count_tasks();
            p.settle();
        }
    }
    p.finish()
}

/// True when a STOPPED task failed to start: it stopped by itself (not because it was
/// asked to, nor because its agent went away) before it ever ran or within
/// [`FAILED_START_SECS`] of starting, or it failed its health checks. Such tasks count
/// toward their deployment's `failedTasks`.
pub fn failed(t: &Task) -> bool {
    if t.last_status != TaskStatus::Stopped {
        return false;
    }
    let reason = t.stopped_reason.as_deref().unwrap_or_default();
    if reason == UNHEALTHY_REASON {
        return true;
    }
    let by_itself = matches!(
        t.stop_code,
        Some(StopCode::EssentialContainerExited | StopCode::TaskFailedToStart)
    ) && !reason.contains("agent");
    let ran = match (t.started_at, t.stopped_at) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    by_itself && ran < FAILED_START_SECS
}

/// The deployment circuit breaker's threshold: half the desired count, at least 3 and
/// at most 200 failed tasks (ECS's rule).
pub fn failure_threshold(desired: usize) -> usize {
    desired.div_ceil(2).clamp(3, 200)
}

/// How long to wait after a deployment's latest failed task before starting another,
/// once it has `failures` of them: none for the first 3, then 1 s doubling to 60 s.
pub fn launch_backoff(failures: usize) -> f64 {
    if failures < 3 {
        0.0
    } else {
        2f64.powi((failures - 3).min(6) as i32).min(60.0)
    }
}

/// `(task a) (task b)`, as ECS's events list tasks.
pub fn task_list(ids: &[String]) -> String {
    ids.iter()
        .map(|t| format!("(task {t})"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One pass in progress: the service and its tasks as the steps change them.
struct Pass {
    s: Service,
    /// The service's tasks as read, and as the steps change them (same order).
    before: Vec<Task>,
    tasks: Vec<Task>,
    now: f64,
    label: String,
    desired: usize,
    max_total: usize,
    min_healthy: usize,
    /// The PRIMARY deployment's failures, as counted before any rollback.
    failures: usize,
    last_failure: f64,
    launched: usize,
    effects: Vec<Effect>,
    wake_at: Option<f64>,
    /// Tasks whose load balancers' targets are not healthy yet: they do not serve.
    waiting: BTreeSet<String>,
}

impl Pass {
    fn new(service: &Service, tasks: &[Task], waiting: &BTreeSet<String>, now: f64) -> Pass {
        let group = service.group();
        let desired = if service.status == ServiceStatus::Active {
            service.desired_count.max(0) as usize
        } else {
            0
        };
        let dc = &service.deployment_configuration;
        let max_pct = dc.maximum_percent.max(100) as usize;
        let min_pct = dc.minimum_healthy_percent.clamp(0, 100) as usize;
        let mine: Vec<Task> = tasks.iter().filter(|t| t.group == group).cloned().collect();
        Pass {
            s: service.clone(),
            before: mine.clone(),
            tasks: mine,
            now,
            label: format!("(service {})", service.service_name),
            desired,
            max_total: (desired * max_pct / 100).max(desired),
            min_healthy: (desired * min_pct).div_ceil(100),
            failures: 0,
            last_failure: 0.0,
            launched: 0,
            effects: Vec::new(),
            wake_at: None,
            waiting: waiting.clone(),
        }
    }

    /// Whether `t` serves: RUNNING and healthy, and its targets healthy in their
    /// load balancers' groups.
    fn serves(&self) -> impl Fn(&Task) -> bool + '_ {
        |t: &Task| serving(t) && !self.waiting.contains(t.id())
    }

    fn schedulable(&self) -> bool {
        matches!(
            self.s.status,
            ServiceStatus::Active | ServiceStatus::Draining
        ) && self.s.scheduling_strategy != Some(SchedulingStrategy::Daemon)
    }

    fn event(&mut self, message: String) {
        self.effects.push(Effect::Event(message));
    }

    fn primary_id(&self) -> String {
        self.s.primary().map(|d| d.id.clone()).unwrap_or_default()
    }

    fn count(&self, f: impl Fn(&Task) -> bool) -> usize {
        self.tasks.iter().filter(|t| f(t)).count()
    }

    /// Step 1: unhealthy tasks are stopped (and so replaced).
    fn replace_unhealthy(&mut self) {
        let now = self.now;
        let mut replaced = Vec::new();
        for t in self.tasks.iter_mut().filter(|t| t.is_live()) {
            if t.health_status == crate::records::HealthStatus::Unhealthy
                && mark_stopping(
                    t,
                    StopCode::ServiceSchedulerInitiated,
                    UNHEALTHY_REASON,
                    now,
                )
            {
                replaced.push(t.id().to_string());
            }
        }
        if !replaced.is_empty() {
            let (label, list) = (self.label.clone(), task_list(&replaced));
            self.event(format!(
                "{label} has stopped {} running tasks: {list}.",
                replaced.len()
            ));
            self.event(format!(
                "{label} tasks {list} failed container health checks."
            ));
        }
    }

    /// Step 2: the circuit breaker.
    fn circuit_breaker(&mut self) {
        let idx = self.s.primary_index().expect("a PRIMARY deployment");
        let primary_id = self.s.deployments[idx].id.clone();
        let failures: Vec<&Task> = self
            .tasks
            .iter()
            .filter(|t| t.started_by.as_deref() == Some(&primary_id) && failed(t))
            .collect();
        self.failures = failures.len();
        self.last_failure = failures
            .iter()
            .filter_map(|t| t.stopped_at)
            .fold(0.0, f64::max);
        let d = &mut self.s.deployments[idx];
        d.failed_tasks = self.failures as i64;
        let breaker = self.s.deployment_configuration.deployment_circuit_breaker;
        if breaker.enable
            && self.s.status == ServiceStatus::Active
            && d.rollout_state == Some(RolloutState::InProgress)
            && self.failures >= failure_threshold(self.desired)
        {
            d.rollout_state = Some(RolloutState::Failed);
            d.rollout_state_reason =
                Some("ECS deployment circuit breaker: tasks failed to start.".into());
            d.updated_at = self.now;
            let label = self.label.clone();
            self.event(format!(
                "{label} (deployment {primary_id}) deployment failed: tasks failed to start."
            ));
            if breaker.rollback {
                self.roll_back(idx);
            }
        }
    }

    /// The previous (ACTIVE) deployment becomes PRIMARY again, with its task definition
    /// and Service Connect configuration; the failed one drains.
    fn roll_back(&mut self, failed_idx: usize) {
        let Some(prev) = self
            .s
            .deployments
            .iter()
            .position(|d| d.status == DeploymentStatus::Active)
        else {
            return;
        };
        let failed_id = self.s.deployments[failed_idx].id.clone();
        let prev_id = self.s.deployments[prev].id.clone();
        self.s.deployments[failed_idx].status = DeploymentStatus::Active;
        let p = &mut self.s.deployments[prev];
        p.status = DeploymentStatus::Primary;
        p.rollout_state = Some(RolloutState::InProgress);
        p.rollout_state_reason = Some(format!(
            "ECS deployment circuit breaker: rolling back to deploymentId {prev_id}."
        ));
        p.updated_at = self.now;
        self.s.task_definition = p.task_definition.clone();
        let label = self.label.clone();
        self.event(format!(
            "{label} (deployment {failed_id}) deployment failed: rolling back to deployment {prev_id}."
        ));
        // The PRIMARY deployment is listed first, as ECS lists them.
        let d = self.s.deployments.remove(prev);
        self.s.deployments.insert(0, d);
    }

    /// Step 3: start PRIMARY tasks, within maximumPercent, unless the deployment failed
    /// or launches back off.
    fn launch(&mut self) {
        let primary = self.s.primary().expect("a PRIMARY deployment");
        let primary_id = primary.id.clone();
        let primary_failed = primary.rollout_state == Some(RolloutState::Failed);
        let live_new = self.count(|t| t.started_by.as_deref() == Some(&primary_id) && t.is_live());
        let live_all = self.count(|t| t.is_live());
        let backoff_ends = self.last_failure + launch_backoff(self.failures);
        if live_new >= self.desired || primary_failed {
            return;
        }
        if self.now < backoff_ends {
            self.wake_at = Some(backoff_ends);
            return;
        }
        let n = (self.desired - live_new).min(self.max_total.saturating_sub(live_all));
        if n > 0 {
            self.launched = n;
            self.effects.push(Effect::Launch(n));
        }
    }

    /// Step 4: stop what is not needed, never going below minimumHealthyPercent serving
    /// tasks: tasks that do not serve go first (they cost no capacity), then older
    /// deployments' tasks, then the PRIMARY's surplus, newest first.
    fn scale_down(&mut self) {
        let primary_id = self.primary_id();
        let is_new = |t: &Task| t.started_by.as_deref() == Some(primary_id.as_str());
        let waiting = self.waiting.clone();
        let serves = |t: &Task| serving(t) && !waiting.contains(t.id());
        let mut healthy = self.count(|t| t.is_live() && serves(t));
        let order = stop_order(&self.tasks, &is_new, &serves);
        let kept = keep_order(&self.tasks, &order, &is_new, &serves, self.desired);
        let reason = format!("Scaling activity initiated by (deployment {primary_id})");
        let mut stopped = Vec::new();
        for i in order {
            if kept.contains(&i) {
                continue;
            }
            let t = &mut self.tasks[i];
            // A serving task goes only while enough others serve.
            let was_serving = serves(t);
            if was_serving && healthy <= self.min_healthy {
                continue;
            }
            if mark_stopping(t, StopCode::ServiceSchedulerInitiated, &reason, self.now) {
                if was_serving {
                    healthy -= 1;
                }
                stopped.push(t.id().to_string());
            }
        }
        if !stopped.is_empty() {
            let label = self.label.clone();
            self.event(format!(
                "{label} has stopped {} running tasks: {}.",
                stopped.len(),
                task_list(&stopped)
            ));
        }
    }

    /// Step 5: running and pending counts, per deployment and for the service.
    fn count_tasks(&mut self) {
        let (mut total_running, mut total_pending) = (0, 0);
        for d in &mut self.s.deployments {
            let mine = self
                .tasks
                .iter()
                .filter(|t| t.started_by.as_deref() == Some(&d.id));
            let (mut running, mut pending) = (0, 0);
            for t in mine {
                if t.is_running() {
                    running += 1;
                } else if t.is_live() {
                    pending += 1;
                }
            }
            let primary = d.status == DeploymentStatus::Primary;
            if primary {
                pending += self.launched as i64;
            }
            total_running += running;
            total_pending += pending;
            let dd = if primary { self.desired as i64 } else { 0 };
            if (d.running_count, d.pending_count, d.desired_count) != (running, pending, dd) {
                d.running_count = running;
                d.pending_count = pending;
                d.desired_count = dd;
                d.updated_at = self.now;
            }
        }
        self.s.running_count = total_running;
        self.s.pending_count = total_pending;
    }

    /// Step 6: a deployment serving its full count with nothing else left completes; a
    /// DRAINING service with no task left is INACTIVE.
    fn settle(&mut self) {
        let primary_id = self.primary_id();
        let is_new = |t: &Task| t.started_by.as_deref() == Some(primary_id.as_str());
        let primary_serving = {
            let serves = self.serves();
            self.count(|t| is_new(t) && t.is_live() && serves(t))
        };
        let others_left = self.count(|t| !is_new(t) && t.last_status != TaskStatus::Stopped) > 0;
        let steady = primary_serving == self.desired && self.s.pending_count == 0 && !others_left;
        if steady && self.s.status == ServiceStatus::Active {
            self.complete(&primary_id);
        }
        if self.s.status == ServiceStatus::Draining
            && self.count(|t| t.last_status != TaskStatus::Stopped) == 0
        {
            self.s.status = ServiceStatus::Inactive;
        }
    }

    fn complete(&mut self, primary_id: &str) {
        let had_others = self.s.deployments.len() > 1;
        self.s
            .deployments
            .retain(|d| d.status == DeploymentStatus::Primary);
        let label = self.label.clone();
        let d = &mut self.s.deployments[0];
        if d.rollout_state == Some(RolloutState::InProgress) {
            d.rollout_state = Some(RolloutState::Completed);
            d.rollout_state_reason = Some(format!("ECS deployment {primary_id} completed."));
            d.updated_at = self.now;
            self.event(format!(
                "{label} (deployment {primary_id}) deployment completed."
            ));
            self.event(format!("{label} has reached a steady state."));
        } else if had_others {
            self.event(format!("{label} has reached a steady state."));
        }
    }

    fn finish(self) -> Plan {
        let changed = self
            .tasks
            .into_iter()
            .zip(&self.before)
            .filter(|(t, b)| t != *b)
            .map(|(t, _)| t)
            .collect();
        Plan {
            service: self.s,
            changed,
            effects: self.effects,
            wake_at: self.wake_at,
        }
    }
}

/// The live tasks, in the order they are considered for stopping: those that do not
/// serve first, then older deployments' before the PRIMARY's, newest first among equals.
fn stop_order(
    tasks: &[Task],
    is_new: &dyn Fn(&Task) -> bool,
    serves: &dyn Fn(&Task) -> bool,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tasks.len()).filter(|&i| tasks[i].is_live()).collect();
    order.sort_by(|&a, &b| {
        let rank = |t: &Task| (serves(t), is_new(t));
        rank(&tasks[a])
            .cmp(&rank(&tasks[b]))
            .then_with(|| tasks[b].created_at.total_cmp(&tasks[a].created_at))
    });
    order
}

/// The PRIMARY tasks to keep: serving ones first, then the oldest, up to `desired`.
fn keep_order(
    tasks: &[Task],
    order: &[usize],
    is_new: &dyn Fn(&Task) -> bool,
    serves: &dyn Fn(&Task) -> bool,
    desired: usize,
) -> Vec<usize> {
    let mut new: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| is_new(&tasks[i]))
        .collect();
    new.sort_by(|&a, &b| {
        serves(&tasks[b])
            .cmp(&serves(&tasks[a]))
            .then_with(|| tasks[a].created_at.total_cmp(&tasks[b].created_at))
    });
    new.truncate(desired);
    new
}
