//! The scheduler's side effects, inside the caller's write transaction: one task
//! group's pass (forget old STOPPED tasks, plan the service, carry the plan out),
//! tasks of instances whose agent went away, and placement.

use std::collections::{BTreeMap, HashMap};

use berth_awsproto::{uuid_v4, Context};
use berth_store::{Read, Writer};

use super::placement::{self, Capacity, Demand, Shortfall, Unfit};
use super::plan::{self, task_list, Effect, Plan};
use super::{AGENT_GRACE_SECS, AGENT_LOST_REASON, MAX_EVENTS, STOPPED_TASK_TTL_SECS};
use crate::common::*;
use crate::records::{
    ContainerInstance, DeploymentStatus, InstanceStatus, Service, ServiceEvent, StopCode, Task,
    TaskStatus,
};
use crate::taskdef::{self, TaskDefinition};
use crate::{agent, task, taskstore};

/// What a pass over one group leads to.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// When the group needs another pass although nothing changes (a back-off ends,
    /// a STOPPED task is due to be forgotten).
    pub wake_at: Option<f64>,
}

fn earliest(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// Writes a task the scheduler changed, and keeps its endpoints and targets in step.
fn save(w: &mut Writer<'_>, ctx: &Context, cluster: &str, t: &Task) -> R<()> {
    taskstore::put(w, ctx, cluster, t)?;
    agent::sync_endpoints(w, ctx, cluster, t)?;
    crate::targets::sync_targets(w, ctx, cluster, t, berth_awsproto::now())
}

/// Forgets the group's tasks that stopped more than an hour ago (as ECS does). Returns
/// the tasks left and when the next one is due.
fn forget_old(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    tasks: Vec<Task>,
    now: f64,
) -> R<(Vec<Task>, Option<f64>)> {
    let mut kept = Vec::with_capacity(tasks.len());
    let mut next = None;
    for t in tasks {
        match (t.last_status, t.stopped_at) {
            (TaskStatus::Stopped, Some(at)) if now - at > STOPPED_TASK_TTL_SECS => {
                taskstore::forget(w, ctx, cluster, &t)?;
            }
            (TaskStatus::Stopped, Some(at)) => {
                next = earliest(next, Some(at + STOPPED_TASK_TTL_SECS + 0.001));
                kept.push(t);
            }
            _ => kept.push(t),
        }
    }
    Ok((kept, next))
}

/// One pass over the task group `group` of `cluster`: old STOPPED tasks forgotten and,
/// for a service's group, the service scheduled.
pub(super) fn group_pass(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    group: &str,
    now: f64,
) -> R<Outcome> {
    let tasks = taskstore::of_group(w, ctx, cluster, group)?;
    let (tasks, forget_at) = forget_old(w, ctx, cluster, tasks, now)?;
    let drained_at = crate::targets::end_drains(w, ctx, cluster, &tasks, now)?;
    let mut out = Outcome {
        wake_at: earliest(forget_at, drained_at),
    };
    let Some(name) = group.strip_prefix("service:") else {
        return Ok(out);
    };
    let key = service_key(ctx, cluster, name);
    let Some(service) = w.get_json::<Service>(&key)? else {
        return Ok(out);
    };
    let waiting = crate::targets::awaiting_targets(w, ctx, cluster, &tasks)?;
    let plan = plan::plan_waiting(&service, &tasks, &waiting, now);
    out.wake_at = earliest(out.wake_at, plan.wake_at);
    if !plan.is_empty(&service) {
        let retry_at = carry_out(w, ctx, cluster, &service, plan, now)?;
        out.wake_at = earliest(out.wake_at, retry_at);
    }
    Ok(out)
}

/// Carries out a service's plan: tasks started and events added in order, then the
/// stopped tasks and the service written. Returns when to try again launches that
/// could not be made (their network refused: a subnet or group deleted since).
fn carry_out(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    before: &Service,
    plan: Plan,
    now: f64,
) -> R<Option<f64>> {
    let mut s = plan.service;
    let mut retry_at = None;
    for effect in plan.effects {
        match effect {
            Effect::Event(message) => push_event(&mut s, message, now),
            Effect::Launch(n) => {
                if let Err(reason) = launch(w, ctx, cluster, &mut s, n, now)? {
                    let label = format!("(service {})", s.service_name);
                    let message = format!("{label} was unable to launch a task: {reason}");
                    let same = message.clone();
                    push_event_once(&mut s, message, |m| m == same, now);
                    not_launched(&mut s, n);
                    retry_at = Some(now + LAUNCH_RETRY_SECS);
                    break;
                }
            }
        }
    }
    for t in &plan.changed {
        save(w, ctx, cluster, t)?;
    }
    if &s != before {
        w.put_json(&service_key(ctx, cluster, &s.service_name), &s)?;
    }
    Ok(retry_at)
}

/// Takes back the `n` pending tasks the plan counted for a launch that did not happen.
fn not_launched(s: &mut Service, n: usize) {
    let n = n as i64;
    if let Some(d) = s
        .deployments
        .iter_mut()
        .find(|d| d.status == DeploymentStatus::Primary)
    {
        d.pending_count -= n;
    }
    s.pending_count -= n;
}

/// How long a service waits to try again a launch its network refused.
const LAUNCH_RETRY_SECS: f64 = 10.0;

/// Starts `n` tasks of the service's PRIMARY deployment, with an event naming them;
/// `Err(reason)` (nothing started) when the network refuses them, as ECS says when
/// it cannot launch a task.
fn launch(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    s: &mut Service,
    n: usize,
    now: f64,
) -> R<Result<(), String>> {
    let primary = s
        .primary()
        .cloned()
        .expect("launches need a PRIMARY deployment");
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let t = match task::new_service_task(w, ctx, cluster, &s.service_name, &primary) {
            Ok(t) => t,
            Err(e) if e.code == INVALID_PARAMETER && ids.is_empty() => return Ok(Err(e.message)),
            Err(e) => return Err(e),
        };
        agent::sync_endpoints(w, ctx, cluster, &t)?;
        ids.push(t.id().to_string());
    }
    let label = format!("(service {})", s.service_name);
    let message = format!("{label} has started {n} tasks: {}.", task_list(&ids));
    push_event(s, message, now);
    Ok(Ok(()))
}

/// Adds `message` unless it is already among the newest events of its kind
/// (`same_kind`): a condition that lasts is told once, as ECS does, even when several
/// tasks tell theirs in turn. True when it was added.
pub(super) fn push_event_once(
    s: &mut Service,
    message: String,
    same_kind: impl Fn(&str) -> bool,
    now: f64,
) -> bool {
    let mut newest = s.events.iter().take_while(|e| same_kind(&e.message));
    if newest.any(|e| e.message == message) {
        return false;
    }
    push_event(s, message, now);
    true
}

/// Adds an event to the service, newest first, keeping the latest [`MAX_EVENTS`].
pub(crate) fn push_event(s: &mut Service, message: String, now: f64) {
    let event = ServiceEvent {
        id: uuid_v4(),
        created_at: now,
        message,
    };
    s.events.insert(0, event);
    s.events.truncate(MAX_EVENTS);
}

/// Tasks on instances whose agent has been away longer than [`AGENT_GRACE_SECS`] are
/// STOPPED (their endpoints withdrawn), so their services replace them. Returns the
/// groups whose tasks were stopped and when the next agent's grace ends.
pub(super) fn lose_tasks_of_gone_agents(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    now: f64,
) -> R<(Vec<String>, Option<f64>)> {
    let prefix = agent::agent_gone_prefix(ctx, cluster);
    let mut groups = Vec::new();
    let mut next = None;
    for (key, since) in w.scan_json::<f64>(&prefix, None, usize::MAX)? {
        if now - since < AGENT_GRACE_SECS {
            next = earliest(next, Some(since + AGENT_GRACE_SECS));
            continue;
        }
        let id = &key[prefix.len()..];
        let Some(inst) = w.get_json::<ContainerInstance>(&instance_key(ctx, cluster, id))? else {
            continue;
        };
        if inst.agent_connected {
            continue;
        }
        for mut t in taskstore::on_instance(w, ctx, cluster, id)? {
            task::mark_stopping(
                &mut t,
                StopCode::ServiceSchedulerInitiated,
                AGENT_LOST_REASON,
                now,
            );
            task::stop_now(&mut t, now);
            save(w, ctx, cluster, &t)?;
            groups.push(t.group.clone());
        }
    }
    Ok((groups, next))
}

/// The task definitions one placement reads, each once.
#[derive(Default)]
pub(crate) struct Definitions(HashMap<String, Option<TaskDefinition>>);

impl Definitions {
    /// The task definition `arn` (None when it is gone).
    pub fn get(&mut self, r: &impl Read, ctx: &Context, arn: &str) -> R<Option<&TaskDefinition>> {
        if !self.0.contains_key(arn) {
            let td = taskdef::resolve(r, ctx, arn)?;
            self.0.insert(arn.to_string(), td);
        }
        Ok(self.0.get(arn).and_then(Option::as_ref))
    }

    /// What `t` asks of its instance.
    pub fn demand(&mut self, r: &impl Read, ctx: &Context, t: &Task) -> R<Demand> {
        let td = self.get(r, ctx, &t.task_definition_arn)?;
        Ok(placement::demand(t, td))
    }
}

/// The cluster's connected ACTIVE instances and what each has left: its registered
/// CPU, MEMORY and reserved ports, charged with the tasks on it.
pub(crate) fn instance_capacities(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    defs: &mut Definitions,
) -> R<(Vec<ContainerInstance>, Vec<Capacity>)> {
    let instances: Vec<ContainerInstance> = r
        .scan_json::<ContainerInstance>(&instance_prefix(ctx, cluster), None, usize::MAX)?
        .into_iter()
        .map(|(_, i)| i)
        .filter(|i| i.status == InstanceStatus::Active && i.agent_connected)
        .collect();
    let mut capacity = Vec::with_capacity(instances.len());
    for inst in &instances {
        capacity.push(capacity_of(r, ctx, cluster, inst, defs)?);
    }
    Ok((instances, capacity))
}

/// What an instance has left: its registered CPU, MEMORY and reserved ports, charged
/// with the tasks on it.
pub(crate) fn capacity_of(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    inst: &ContainerInstance,
    defs: &mut Definitions,
) -> R<Capacity> {
    let mut c = Capacity {
        cpu: inst.resource("CPU"),
        memory: inst.resource("MEMORY"),
        ports_used: placement::reserved_ports(inst),
        ..Capacity::default()
    };
    for t in taskstore::on_instance(r, ctx, cluster, inst.id())? {
        c.take(&defs.demand(r, ctx, &t)?);
    }
    Ok(c)
}

/// The service event of a task that no instance took, as ECS words it.
pub(crate) fn unplaced_event(service: &str, closest: &str, shortfall: Shortfall) -> String {
    format!(
        "{} The closest matching (container-instance {closest}) {}. For more information, \
         see the Troubleshooting section of the Amazon ECS Developer Guide.",
        unplaced_prefix(service),
        shortfall.event_text()
    )
}

/// How every event of a service's unplaced task begins.
fn unplaced_prefix(service: &str) -> String {
    format!(
        "(service {service}) was unable to place a task because no container instance met \
         all of its requirements."
    )
}

/// Places the cluster's unplaced tasks on its connected ACTIVE instances; a service
/// whose task fits on none is told why (once while it lasts), naming the closest
/// instance.
pub(super) fn place(w: &mut Writer<'_>, ctx: &Context, cluster: &str, now: f64) -> R<()> {
    if w.scan(&taskstore::unplaced_prefix(ctx, cluster), None, 1)?
        .is_empty()
    {
        return Ok(());
    }
    let mut defs = Definitions::default();
    let (instances, mut capacity) = instance_capacities(w, ctx, cluster, &mut defs)?;
    if instances.is_empty() {
        return Ok(());
    }
    let mut unplaced = taskstore::unplaced(w, ctx, cluster)?;
    let mut demands = Vec::with_capacity(unplaced.len());
    for t in &unplaced {
        demands.push(defs.demand(w, ctx, t)?);
    }
    let choices = placement::place(&demands, &mut capacity);
    let mut events: BTreeMap<String, String> = BTreeMap::new();
    for (t, choice) in unplaced.iter_mut().zip(choices) {
        match choice {
            Ok(k) => {
                t.container_instance_arn = Some(instances[k].container_instance_arn.clone());
                t.version += 1;
                save(w, ctx, cluster, t)?;
            }
            Err(Some(Unfit { closest, shortfall })) => {
                if let Some(name) = t.service_name() {
                    let message = unplaced_event(name, instances[closest].id(), shortfall);
                    events.entry(name.to_string()).or_insert(message);
                }
            }
            Err(None) => {}
        }
    }
    for (name, message) in events {
        let key = service_key(ctx, cluster, &name);
        let Some(mut s) = w.get_json::<Service>(&key)? else {
            continue;
        };
        let prefix = unplaced_prefix(&name);
        if push_event_once(&mut s, message, |m| m.starts_with(&prefix), now) {
            w.put_json(&key, &s)?;
        }
    }
    Ok(())
}
