//! The task definition a service runs, found as the typed record (`taskdef::resolve`).

use berth_awsproto::{ApiError, Context};
use berth_store::Read;

use crate::common::{invalid, R};
use crate::taskdef::{self, TaskDefinition, TaskDefinitionStatus};

/// The ACTIVE task definition `reference` (family, family:revision or ARN) names, or
/// why a service cannot run it.
pub(super) fn active(r: &impl Read, ctx: &Context, reference: &str) -> R<TaskDefinition> {
    let td = taskdef::resolve(r, ctx, reference)?.ok_or_else(|| {
        invalid(format!(
            "The specified task definition '{reference}' does not exist."
        ))
    })?;
    if td.status != TaskDefinitionStatus::Active {
        return Err(invalid(format!(
            "TaskDefinition '{reference}' is inactive."
        )));
    }
    Ok(td)
}

/// The task definition a service runs now (`arn`), ACTIVE or not.
pub(super) fn current(r: &impl Read, ctx: &Context, arn: &str) -> R<TaskDefinition> {
    taskdef::resolve(r, ctx, arn)?
        .ok_or_else(|| ApiError::internal("the service's task definition is gone"))
}
