//! Agents act for their own container instance only.
//!
//! The front lets an agent's credential (`Caller::Agent`, made when an agent joins with
//! a token) call only the agents' operations ([`AGENT_OPERATIONS`]), and the account's
//! users none of them. Here those operations check what the agent names:
//! its cluster is the one it joined, and the instance (or the instance of the task it
//! reports) is the one it registered, which `RegisterContainerInstance` records under
//! `agent-of/<cluster>/<instance id>` (the agent's access key id). A refusal is an
//! `AccessDeniedException`, which the front logs.

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};

use crate::common::root;
use crate::records::Task;

type R<T> = Result<T, ApiError>;

/// The operations berth's agents call, and only they.
pub const AGENT_OPERATIONS: &[&str] = &[
    "RegisterContainerInstance",
    "SubmitTaskStateChange",
    "SubmitContainerStateChange",
];

fn owner_key(ctx: &Context, cluster: &str, instance_id: &str) -> String {
    format!("{}agent-of/{cluster}/{instance_id}", root(ctx))
}

/// An access denial naming the agent.
pub fn denied(ctx: &Context, what: String) -> ApiError {
    let who = ctx.agent().map_or("the caller", |(key, _)| key);
    ApiError::new(
        403,
        "AccessDeniedException",
        format!("agent {who} is not allowed to {what}"),
    )
}

/// An agent names only the cluster it joined.
pub fn check_cluster(ctx: &Context, cluster: &str) -> R<()> {
    match ctx.agent() {
        Some((_, joined)) if joined != cluster => Err(denied(
            ctx,
            format!("act in cluster '{cluster}': it joined cluster '{joined}'"),
        )),
        _ => Ok(()),
    }
}

/// An agent acts only for the instance it registered.
pub fn check_instance(r: &impl Read, ctx: &Context, cluster: &str, instance_id: &str) -> R<()> {
    let Some((key, _)) = ctx.agent() else {
        return Ok(());
    };
    check_cluster(ctx, cluster)?;
    let owner: Option<String> = r.get_json(&owner_key(ctx, cluster, instance_id))?;
    if owner.as_deref() == Some(key) {
        return Ok(());
    }
    Err(denied(
        ctx,
        format!("act for container instance {instance_id}: it is not the instance this agent registered"),
    ))
}

/// An agent reports only tasks placed on its own instance.
pub fn check_task(r: &impl Read, ctx: &Context, cluster: &str, task: &Task) -> R<()> {
    if ctx.agent().is_none() {
        return Ok(());
    }
    let instance = task
        .container_instance_arn
        .as_deref()
        .and_then(|arn| arn.rsplit('/').next())
        .ok_or_else(|| {
            denied(
                ctx,
                format!(
                    "report task {}: it is not placed on an instance",
                    task_id(task)
                ),
            )
        })?;
    check_instance(r, ctx, cluster, instance).map_err(|_| {
        denied(
            ctx,
            format!(
                "report task {}: it is placed on another container instance",
                task_id(task)
            ),
        )
    })
}

fn task_id(task: &Task) -> &str {
    task.task_arn.rsplit('/').next().unwrap_or_default()
}

/// Records the registering agent as the instance's (a new instance), or checks it is
/// (a re-registration).
pub fn claim(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    instance_id: &str,
    known: bool,
) -> R<()> {
    let Some((key, _)) = ctx.agent() else {
        return Ok(());
    };
    check_cluster(ctx, cluster)?;
    if known {
        return check_instance(w, ctx, cluster, instance_id);
    }
    w.put_json(&owner_key(ctx, cluster, instance_id), key)?;
    Ok(())
}
