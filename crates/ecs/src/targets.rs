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

use std::collections::BTreeSet;

use berth_awsproto::Context;
use berth_elbv2::Target;
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::agent::serving;
use crate::common::*;
use crate::records::{ContainerInstance, Service, ServiceLoadBalancer, Task};
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
    for reg in have.difference(&want) {
        // A group deleted or a target already taken out: nothing left to drain.
        if berth_elbv2::deregister_targets_in(w, ctx, &reg.target_group_arn, &[reg.target()], now)
            .is_ok()
        {
            let message = format!(
                "(service {name}) deregistered 1 targets in (target-group {})",
                reg.target_group_arn
            );
            crate::scheduler::push_service_event(&mut service, message, now);
        }
    }
    kept.extend(want.intersection(&have).cloned());
    w.put_json(&service_key(ctx, cluster, name), &service)?;
    if kept.is_empty() {
        w.delete(&key)?;
    } else {
        w.put_json(&key, &kept)?;
    }
    Ok(())
}
