//! Task definitions (being written; placeholder signatures so the crate compiles).
use berth_awsproto::{ApiError, Context};
use serde_json::Value;

use crate::common::R;
use crate::Ecs;

pub fn register(_: &Ecs, _: &Context, _: Value) -> R<Value> { Err(ApiError::unknown_operation("RegisterTaskDefinition")) }
pub fn describe(_: &Ecs, _: &Context, _: Value) -> R<Value> { Err(ApiError::unknown_operation("DescribeTaskDefinition")) }
pub fn list(_: &Ecs, _: &Context, _: Value) -> R<Value> { Err(ApiError::unknown_operation("ListTaskDefinitions")) }
pub fn list_families(_: &Ecs, _: &Context, _: Value) -> R<Value> { Err(ApiError::unknown_operation("ListTaskDefinitionFamilies")) }
pub fn deregister(_: &Ecs, _: &Context, _: Value) -> R<Value> { Err(ApiError::unknown_operation("DeregisterTaskDefinition")) }
pub fn resolve(_: &impl berth_store::Read, _: &Context, _: &str) -> R<Option<Value>> { Ok(None) }
