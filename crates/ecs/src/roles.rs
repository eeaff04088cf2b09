//! A task's IAM roles, for the credentials berth gives it: the task role (what the
//! application's SDK gets from the task's credentials endpoint) and the execution role
//! (what the agent uses for the task: its secrets, its logs). Each is the task
//! definition's, or the run's `overrides`; an agent asks only for tasks placed on its
//! own instance.

use berth_awsproto::{ApiError, Context};
use berth_store::Read;
use serde::Deserialize;

use crate::common::{invalid, R};
use crate::records::Task;
use crate::Ecs;

/// What temporary credentials a task gets, and whose they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRoles {
    /// The task's ARN.
    pub task_arn: String,
    /// Its task role's ARN, if it has one.
    pub task_role_arn: Option<String>,
    /// Its execution role's ARN, if it has one.
    pub execution_role_arn: Option<String>,
}

/// The roles a run's `overrides` may set (echoed in the task's `overrides`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleOverrides {
    task_role_arn: Option<String>,
    execution_role_arn: Option<String>,
}

/// The roles of `task_arn`, which must be placed on `instance_id` of `cluster` when an
/// agent asks.
pub fn task_roles(
    ecs: &Ecs,
    ctx: &Context,
    cluster: &str,
    instance_id: &str,
    task_arn: &str,
) -> R<TaskRoles> {
    ecs.store().read(|r| {
        crate::confine::check_instance(r, ctx, cluster, instance_id)?;
        let task = placed_task(r, ctx, cluster, instance_id, task_arn)?;
        let def = crate::taskdef::resolve(r, ctx, &task.task_definition_arn)?;
        let overrides = overrides_of(&task);
        Ok::<_, ApiError>(TaskRoles {
            task_arn: task.task_arn.clone(),
            task_role_arn: overrides
                .task_role_arn
                .or_else(|| def.as_ref().and_then(|d| d.task_role_arn.clone())),
            execution_role_arn: overrides
                .execution_role_arn
                .or_else(|| def.as_ref().and_then(|d| d.execution_role_arn.clone())),
        })
    })
}

fn placed_task(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    instance_id: &str,
    task_arn: &str,
) -> R<Task> {
    let id = task_arn.rsplit('/').next().unwrap_or_default();
    let task = crate::taskstore::get(r, ctx, cluster, id)?
        .ok_or_else(|| invalid(format!("taskArn: the task {task_arn} does not exist.")))?;
    let placed = task
        .container_instance_arn
        .as_deref()
        .and_then(|a| a.rsplit('/').next());
    if placed != Some(instance_id) {
        return Err(crate::confine::denied(
            ctx,
            format!("get credentials of task {task_arn}: it is not placed on this instance"),
        ));
    }
    Ok(task)
}

fn overrides_of(task: &Task) -> RoleOverrides {
    task.rest
        .get("overrides")
        .and_then(|o| serde_json::from_value(o.clone()).ok())
        .unwrap_or_default()
}
