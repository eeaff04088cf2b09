//! A service's tasks as ELB targets: while a task serves, it is registered in each
//! target group of its service's `loadBalancers` (awsvpc: its address and the container
//! port; otherwise its instance's EC2 id and the host port the container port is bound
//! to); once it stops serving (it is stopping, stopped or unhealthy) it is
//! deregistered, and the group drains it for its deregistration delay. What a task
//! registered is kept beside it (`lbtarget/<cluster>/<task id>`), so deregistration
//! takes back exactly that. The service's events say so, as ECS's do.
//!
//! `sync_targets` runs inside the transaction that changes the task, like
//! `agent::sync_endpoints`, and writes nothing when already in step.

use std::collections::{BTreeMap, BTreeSet};

use berth_awsproto::Context;
use berth_elbv2::model::{TargetHealth, TargetHealthState};
use berth_elbv2::Target;
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::agent::serving;
use crate::common::*;
use crate::records::{
    ContainerInstance, DesiredStatus, Service, ServiceLoadBalancer, StopCode, Task, TaskStatus,
};
use crate::taskdef::TransportProtocol;

/// One registration a task made: the group and the target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub target_group_arn: String,
    pub id: String,
    pub port: u16,
}

impl Registration {
    fn target(&self) -> Target {
        Target {
            id: self.id.clone(),
            port: self.port,
        }
    }
}

fn registrations_key(ctx: &Context, cluster: &str, task_id: &str) -> String {
    format!("{}lbtarget/{cluster}/{task_id}", root(ctx))
}

/// Which task a registered target is: the key of the reverse index.
fn owner_key(ctx: &Context, tg_arn: &str, id: &str, port: u16) -> String {
    format!("{}lbowner/{tg_arn}|{id}|{port}", root(ctx))
}

/// Until when a stopping task's containers keep running while its targets drain.
fn drain_key(ctx: &Context, cluster: &str, task_id: &str) -> String {
    format!("{}lbdrain/{cluster}/{task_id}", root(ctx))
}

/// Asked to stop while its containers still run (so they can finish what the load
/// balancer sent them).
fn stopping_with_containers(task: &Task) -> bool {
    task.desired_status == DesiredStatus::Stopped && task.last_status < TaskStatus::Stopped
}

/// Until when `task` is kept running for its targets to drain (ECS deregisters a task
/// from its target groups and waits for their deregistration delay before it stops
/// the task's containers); None when it is not draining.
pub(crate) fn draining_until(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    task: &Task,
) -> R<Option<f64>> {
    if !stopping_with_containers(task) {
        return Ok(None);
    }
    Ok(r.get_json(&drain_key(ctx, cluster, task.id()))?)
}

/// Ends the drains of `tasks` that are over at `now` (a write, so the tasks' instances
/// are told to stop them); returns when the next one ends.
pub(crate) fn end_drains(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    tasks: &[Task],
    now: f64,
) -> R<Option<f64>> {
    let mut next: Option<f64> = None;
    for t in tasks {
        let key = drain_key(ctx, cluster, t.id());
        let Some(until) = w.get_json::<f64>(&key)? else {
            continue;
        };
        if until <= now || !stopping_with_containers(t) {
            w.delete(&key)?;
        } else {
            next = Some(next.map_or(until, |n| n.min(until)));
        }
    }
    Ok(next)
}

/// Whether each of a task's targets is healthy (`<group ARN>|<id>|<port>` → healthy):
/// written as their health changes, so the task's group is due (a deployment waits for
/// its new tasks' targets).
fn health_key(ctx: &Context, cluster: &str, task_id: &str) -> String {
    format!("{}lbhealth/{cluster}/{task_id}", root(ctx))
}

fn target_name(tg_arn: &str, id: &str, port: u16) -> String {
    format!("{tg_arn}|{id}|{port}")
}

/// Takes traffic as a load balancer sees it: healthy, or unchecked (health checks off).
fn ready(health: &TargetHealth) -> bool {
    matches!(
        health.state,
        TargetHealthState::Healthy | TargetHealthState::Unavailable
    )
}

fn note_health(
    w: &mut Writer<'_>,
    ctx: &Context,
    owner: &Owner,
    tg_arn: &str,
    target: &Target,
    health: &TargetHealth,
) -> R<()> {
    let key = health_key(ctx, &owner.cluster, &owner.task_id);
    let mut seen: BTreeMap<String, bool> = w.get_json(&key)?.unwrap_or_default();
    let name = target_name(tg_arn, &target.id, target.port);
    if seen.get(&name) != Some(&ready(health)) {
        seen.insert(name, ready(health));
        w.put_json(&key, &seen)?;
    }
    Ok(())
}

/// The ids of `tasks` registered in a target group whose target is not healthy yet.
pub(crate) fn awaiting_targets(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    tasks: &[Task],
) -> R<BTreeSet<String>> {
    let mut waiting = BTreeSet::new();
    for t in tasks.iter().filter(|t| t.is_live()) {
        let regs: BTreeSet<Registration> = r
            .get_json(&registrations_key(ctx, cluster, t.id()))?
            .unwrap_or_default();
        if regs.is_empty() {
            continue;
        }
        let seen: BTreeMap<String, bool> = r
            .get_json(&health_key(ctx, cluster, t.id()))?
            .unwrap_or_default();
        let all_ready = regs
            .iter()
            .all(|g| seen.get(&target_name(&g.target_group_arn, &g.id, g.port)) == Some(&true));
        if !all_ready {
            waiting.insert(t.id().to_string());
        }
    }
    Ok(waiting)
}

/// A target's task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Owner {
    cluster: String,
    task_id: String,
}

/// The stoppedReason of a task whose target failed its load balancer's checks.
fn elb_unhealthy_reason(tg_arn: &str) -> String {
    format!("Task failed ELB health checks in (target-group {tg_arn})")
}

/// What ECS does when a target's health changes: a task whose target turned unhealthy
/// after its service's grace period is stopped (the scheduler replaces it), as ECS
/// does; the service's events say why.
pub(crate) fn target_health_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    tg_arn: &str,
    target: &Target,
    health: &TargetHealth,
    now: f64,
) -> R<()> {
    let Some(owner) = w.get_json::<Owner>(&owner_key(ctx, tg_arn, &target.id, target.port))? else {
        return Ok(());
    };
    note_health(w, ctx, &owner, tg_arn, target, health)?;
    if health.state != TargetHealthState::Unhealthy {
        return Ok(());
    }
    let Some(mut task) = crate::taskstore::get(w, ctx, &owner.cluster, &owner.task_id)? else {
        return Ok(());
    };
    let Some(name) = task.service_name().map(str::to_string) else {
        return Ok(());
    };
    let key = service_key(ctx, &owner.cluster, &name);
    let Some(mut service) = w.get_json::<Service>(&key)? else {
        return Ok(());
    };
    let grace = service.health_check_grace_period_seconds.unwrap_or(0) as f64;
    if task.started_at.is_some_and(|t| now < t + grace) {
        return Ok(());
    }
    let reason = elb_unhealthy_reason(tg_arn);
    if !crate::task::mark_stopping(&mut task, StopCode::ServiceSchedulerInitiated, &reason, now) {
        return Ok(());
    }
    let why = health
        .description
        .as_deref()
        .unwrap_or("failed health checks");
    let message = format!(
        "(service {name}) (task {}) (port {}) is unhealthy in (target-group {tg_arn}) due to (reason {why}).",
        task.id(),
        target.port
    );
    crate::scheduler::push_service_event(&mut service, message, now);
    w.put_json(&key, &service)?;
    task.version += 1;
    crate::taskstore::put(w, ctx, &owner.cluster, &task)?;
    crate::agent::sync_endpoints(w, ctx, &owner.cluster, &task)?;
    sync_targets(w, ctx, &owner.cluster, &task, now)
}

/// The target `lb` makes of `task`: None until the task has what it needs (an
/// address; a host port and a known instance).
fn target_of(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    task: &Task,
    lb: &ServiceLoadBalancer,
) -> R<Option<Target>> {
    let (Some(container), Some(port)) = (&lb.container_name, lb.container_port) else {
        return Ok(None);
    };
    if task.has_eni() {
        return Ok(task.ip().map(|ip| Target {
            id: ip.to_string(),
            port: port as u16,
        }));
    }
    let host_port = task.host_port(
        |c| c.name == *container,
        port as i32,
        TransportProtocol::Tcp,
    );
    let Some(host_port) = host_port.and_then(|p| u16::try_from(p).ok()) else {
        return Ok(None);
    };
    let Some(instance) = instance_of(r, ctx, cluster, task)? else {
        return Ok(None);
    };
    Ok(instance.ec2_instance_id().map(|id| Target {
        id: id.to_string(),
        port: host_port,
    }))
}

fn instance_of(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    task: &Task,
) -> R<Option<ContainerInstance>> {
    let Some(arn) = &task.container_instance_arn else {
        return Ok(None);
    };
    let id = arn.rsplit('/').next().unwrap_or_default();
    Ok(r.get_json(&instance_key(ctx, cluster, id))?)
}

/// The registrations `task` should have now.
fn wanted(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    service: &Service,
    task: &Task,
) -> R<BTreeSet<Registration>> {
    let mut want = BTreeSet::new();
    if !serving(task) {
        return Ok(want);
    }
    for lb in &service.load_balancers {
        let (Some(arn), Some(t)) = (&lb.target_group_arn, target_of(r, ctx, cluster, task, lb)?)
        else {
            continue;
        };
        want.insert(Registration {
            target_group_arn: arn.clone(),
            id: t.id,
            port: t.port,
        });
    }
    Ok(want)
}

/// Makes `task`'s ELB targets match its state (see the module docs).
pub(crate) fn sync_targets(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    task: &Task,
    now: f64,
) -> R<()> {
    let key = registrations_key(ctx, cluster, task.id());
    let have: BTreeSet<Registration> = w.get_json(&key)?.unwrap_or_default();
    let Some(name) = task.service_name() else {
        return Ok(());
    };
    let Some(mut service) = w.get_json::<Service>(&service_key(ctx, cluster, name))? else {
        return Ok(());
    };
    let want = wanted(w, ctx, cluster, &service, task)?;
    if want == have {
        return Ok(());
    }
    let mut kept = BTreeSet::new();
    for reg in want.difference(&have) {
        let done =
            berth_elbv2::register_targets_in(w, ctx, &reg.target_group_arn, &[reg.target()], now);
        let message = match done {
            Ok(()) => {
                let owner = Owner {
                    cluster: cluster.to_string(),
                    task_id: task.id().to_string(),
                };
                w.put_json(
                    &owner_key(ctx, &reg.target_group_arn, &reg.id, reg.port),
                    &owner,
                )?;
                kept.insert(reg.clone());
                format!(
                    "(service {name}) registered 1 targets in (target-group {})",
                    reg.target_group_arn
                )
            }
            Err(e) => format!(
                "(service {name}) was unable to register targets in (target-group {}): {}",
                reg.target_group_arn, e.message
            ),
        };
        crate::scheduler::push_service_event(&mut service, message, now);
    }
    let mut drained_at = None;
    for reg in have.difference(&want) {
        w.delete(&owner_key(ctx, &reg.target_group_arn, &reg.id, reg.port))?;
        // A group deleted or a target already taken out: nothing left to drain.
        if berth_elbv2::deregister_targets_in(w, ctx, &reg.target_group_arn, &[reg.target()], now)
            .is_ok()
        {
            let message = format!(
                "(service {name}) deregistered 1 targets in (target-group {})",
                reg.target_group_arn
            );
            crate::scheduler::push_service_event(&mut service, message, now);
            let delay = berth_elbv2::target_group_in(w, ctx, &reg.target_group_arn)?
                .map_or(0, |g| g.attributes.deregistration_delay_seconds);
            let until = now + f64::from(delay);
            drained_at = Some(drained_at.map_or(until, |d: f64| d.max(until)));
        }
    }
    if let (Some(until), true) = (drained_at, stopping_with_containers(task)) {
        w.put_json(&drain_key(ctx, cluster, task.id()), &until)?;
    }
    kept.extend(want.intersection(&have).cloned());
    w.put_json(&service_key(ctx, cluster, name), &service)?;
    if kept.is_empty() {
        w.delete(&key)?;
        w.delete(&health_key(ctx, cluster, task.id()))?;
    } else {
        w.put_json(&key, &kept)?;
    }
    Ok(())
}
