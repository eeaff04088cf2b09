//! Services and their deployments, with Service Connect as AWS has it.
//!
//! Every input is checked against the tables of `rules/`, in the API's order.
//! `serviceConnectConfiguration` is checked against the task definition (named port
//! mappings, task memory, no links) and its defaults filled in (`connect.rs`); each
//! entry gets a Cloud Map service, created in the same transaction, whose ARN the
//! deployment reports in `serviceConnectResources`, and names unique in the namespace
//! (`claims.rs`). Records are `records::Service` and `records::Deployment`.
//!
//! | file | what |
//! |---|---|
//! | `create.rs`, `update.rs` | CreateService, UpdateService |
//! | `mod.rs` | DescribeServices, ListServices, ListServicesByNamespace, DeleteService |
//! | `rules/` | the rule tables, their subjects and their named checks |
//! | `connect.rs` | Service Connect resolution |
//! | `claims.rs` | Service Connect names held in a namespace |
//! | `deployment.rs` | new deployments and the members they copy |
//! | `definition.rs` | the task definition a service runs |

mod balancers;
mod claims;
mod connect;
mod create;
mod definition;
mod deployment;
mod input;
mod rules;
mod update;

#[cfg(test)]
mod tests;

use berth_awsproto::{now, parse_input, ApiError, Context};
use berth_store::Read;
use serde::Serialize;
use serde_json::{json, Value};

use self::input::{DeleteInput, DescribeInput, ListByNamespaceInput, ListInput};
use crate::common::*;
use crate::records::{
    LaunchType, Rest, SchedulingStrategy, Service, ServiceStatus, StopCode, TaskStatus,
};
use crate::resource::{describe_each, list_arns, page, to_json};
use crate::rules::check_all;
use crate::{taskstore, Ecs};

pub use self::create::create;
pub use self::update::update;

/// The service as the API shows it: tags only when asked for and there are some.
fn public(s: Service, with_tags: bool) -> R<Value> {
    let show_tags = with_tags && !s.tags.is_empty();
    let mut v = to_json(&s)?;
    if !show_tags {
        if let Some(m) = v.as_object_mut() {
            m.remove("tags");
        }
    }
    Ok(v)
}

/// A struct's members, to keep in a record's `rest`.
fn members(v: &impl Serialize) -> R<Rest> {
    match to_json(v)? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::internal("members do not encode as an object")),
    }
}

/// An ACTIVE service, or ServiceNotFoundException / ServiceNotActiveException.
fn active_service(r: &impl Read, ctx: &Context, cluster: &str, name: &str) -> R<Service> {
    match r.get_json::<Service>(&service_key(ctx, cluster, name))? {
        Some(s) if s.status == ServiceStatus::Active => Ok(s),
        Some(_) => Err(service_not_active()),
        None => Err(service_not_found()),
    }
}

pub fn describe(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DescribeInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    check_all(rules::DESCRIBE, &i)?;
    let with_tags = i.include.iter().flatten().any(|x| x == "TAGS");
    let names = i.services.unwrap_or_default();
    ecs.store.read(|r| {
        active_cluster(r, ctx, &cluster)?;
        describe_each(
            r,
            ctx,
            &cluster,
            &names,
            |s: Service| public(s, with_tags),
            "services",
        )
    })
}

pub fn list(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let size = page_size(i.max_results, 10, 100)?;
    check_all(rules::LIST, &i)?;
    let launch_type = i.launch_type.as_deref().and_then(LaunchType::parse);
    let strategy = i
        .scheduling_strategy
        .as_deref()
        .and_then(SchedulingStrategy::parse);
    let keep = |s: &Service| {
        s.status != ServiceStatus::Inactive
            && launch_type.is_none_or(|lt| s.launch_type == Some(lt))
            && strategy.is_none_or(|st| s.scheduling_strategy == Some(st))
    };
    ecs.store.read(|r| {
        active_cluster(r, ctx, &cluster)?;
        let token = i.next_token.as_deref();
        list_arns(r, ctx, &cluster, token, size, "serviceArns", keep)
    })
}

pub fn list_by_namespace(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListByNamespaceInput = parse_input(input)?;
    let ns = i
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("namespace is required."))?;
    let size = page_size(i.max_results, 10, 100)?;
    ecs.store.read(|r| {
        let found =
            berth_cloudmap::find_namespace(r, ctx, &ns)?.ok_or_else(|| namespace_not_found(&ns))?;
        let prefix = format!("{}service/", claims::sc_root(ctx, &found.id));
        let (arns, next) = page(r, &prefix, i.next_token.as_deref(), size, |arn: String| {
            Some(Value::String(arn))
        })?;
        Ok(page_json("serviceArns", arns, next))
    })
}

pub fn delete(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DeleteInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    check_all(rules::DELETE, &i)?;
    let name = name_from(i.service.as_deref().unwrap_or_default(), "service");
    let key = service_key(ctx, &cluster, &name);
    let (s, _) = ecs.store.write(|w| {
        active_cluster(w, ctx, &cluster)?;
        let mut s = active_service(w, ctx, &cluster, &name)?;
        let daemon = s.scheduling_strategy == Some(SchedulingStrategy::Daemon);
        if s.desired_count > 0 && !daemon && !i.force.unwrap_or(false) {
            return Err(invalid(
                "The service cannot be stopped while it is scaled above 0.",
            ));
        }
        claims::release(w, ctx, &s.service_arn, &s, None)?;
        s.status = ServiceStatus::Draining;
        s.desired_count = 0;
        let t = now();
        for d in &mut s.deployments {
            d.desired_count = 0;
            d.updated_at = t;
        }
        w.put_json(&key, &s)?;
        let out = s.clone();
        // With no task left for an agent to stop, draining is over at once.
        if !stop_unplaced_tasks(w, ctx, &cluster, &s)? {
            s.status = ServiceStatus::Inactive;
            w.put_json(&key, &s)?;
        }
        Ok::<_, ApiError>(out)
    })?;
    Ok(json!({ "service": public(s, false)? }))
}

/// Stops the live tasks of a deleted service that no agent holds (the scheduler and
/// the agents stop the others). Returns whether there are others.
fn stop_unplaced_tasks(
    w: &mut berth_store::Writer<'_>,
    ctx: &Context,
    cluster: &str,
    s: &Service,
) -> R<bool> {
    let mut placed = false;
    for mut t in taskstore::of_group(w, ctx, cluster, &s.group())? {
        if t.last_status == TaskStatus::Stopped {
            continue;
        }
        if t.container_instance_arn.is_some() {
            placed = true;
            continue;
        }
        let code = StopCode::ServiceSchedulerInitiated;
        crate::task::mark_stopping(&mut t, code, "Service deleted", now());
        taskstore::put(w, ctx, cluster, &t)?;
    }
    Ok(placed)
}
