//! Task definitions: RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies and DeregisterTaskDefinition, plus [`resolve`], which
//! services, tasks and agents' views use to find the task definition a request names.
//!
//! Each revision is one [`TaskDefinitionRecord`] at `taskdef_key(ctx, family, revision)`
//! (revisions are zero-padded, so a family's revisions scan in order):
//!
//! ```json
//! {"taskDefinition": { ...the TaskDefinition exactly as the API returns it... },
//!  "tags": [{"key": "k", "value": "v"}]}
//! ```
//!
//! `tags` is always present (an empty list when none); TagResource / UntagResource edit it
//! in place for task-definition ARNs.
//!
//! Registering reads the request through its input shape (`request`), checks it against
//! the validation tables (`rules`: the first failing rule is the answer), then renders
//! the record (`render`): every member the API model knows echoed (unknown members are
//! dropped, as the service does), task `cpu` / `memory` normalized to CPU units and MiB,
//! the defaults the service shows filled in (`cpu: 0`, `essential: true`, empty
//! `portMappings` / `environment` / `mountPoints` / `volumesFrom`, `protocol: tcp`,
//! `hostPort`, the health-check defaults, empty task `volumes` / `placementConstraints`),
//! and `compatibilities` and `requiresAttributes` derived from the definition.

use berth_awsproto::Context;
use berth_store::Read;

use crate::common::R;

mod ops;
mod record;
mod render;
mod request;
mod rules;
mod store;
mod syntax;

#[cfg(test)]
mod tests;

pub use ops::{deregister, describe, list, list_families, register};
pub use record::*;
pub(crate) use syntax::{parse_task_cpu, parse_task_memory};

/// Used by services, tasks and agents' views: `family` (its latest ACTIVE revision),
/// `family:revision`, or a task-definition ARN. Returns the TaskDefinition, or None.
pub fn resolve(r: &impl Read, ctx: &Context, reference: &str) -> R<Option<TaskDefinition>> {
    Ok(store::find(r, ctx, reference)?.map(|(_, rec)| rec.task_definition))
}
