//! What agents report: SubmitTaskStateChange and SubmitContainerStateChange, the ECS
//! agent's own APIs. A report moves a task (and its containers) forward through
//! PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING →
//! DEPROVISIONING → STOPPED and stamps the times ECS shows; a report that would move a
//! task backwards is refused.
//!
//! berth extensions: an attachment state change may carry `details` (name/value pairs,
//! e.g. `privateIPv4Address`), merged into the task's attachment, because the berth agent
//! (not the control plane) gives a task its address; a container change may carry
//! `networkInterfaces` (`privateIpv4Address` only): a bridge-mode task's own address on
//! the agent's bridge, which ECS's bridge tasks do not have; task and container changes
//! may carry `healthStatus` (HEALTHY / UNHEALTHY / UNKNOWN), because the berth agent runs
//! the health checks. Every report ends by making the task's Cloud Map instances match
//! its new state (see `agent::sync_endpoints`), in the same transaction.

use berth_awsproto::{now, parse_input, ApiError, Context};
use berth_store::Read;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::common::*;
use crate::records::{
    Connectivity, ContainerStatus, DesiredStatus, HealthStatus, KeyValue, NetworkBinding,
    NetworkInterface, Rest, StopCode, Task, TaskStatus,
};
use crate::{taskstore, Ecs};

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct ContainerChange {
    container_name: Option<String>,
    image_digest: Option<String>,
    runtime_id: Option<String>,
    exit_code: Option<i32>,
    network_bindings: Option<Vec<NetworkBinding>>,
    /// berth extension: a bridge-mode task's own address (see the module docs).
    network_interfaces: Option<Vec<ReportedInterface>>,
    reason: Option<String>,
    status: Option<String>,
    health_status: Option<String>,
}

/// What an agent reports of a bridge-mode container's network interface.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReportedInterface {
    private_ipv4_address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AttachmentChange {
    attachment_arn: Option<String>,
    status: Option<String>,
    details: Option<Vec<KeyValue>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TaskChange {
    cluster: Option<String>,
    task: Option<String>,
    status: Option<String>,
    reason: Option<String>,
    containers: Option<Vec<ContainerChange>>,
    attachments: Option<Vec<AttachmentChange>>,
    pull_started_at: Option<f64>,
    pull_stopped_at: Option<f64>,
    execution_stopped_at: Option<f64>,
    health_status: Option<String>,
}

/// The attachment details an agent reports; the rest (subnet, interface, security
/// groups) are the control plane's.
const AGENT_DETAILS: &[&str] = &["privateIPv4Address", "privateDnsName"];

/// A status member of a report, parsed, or an error naming the field and the values
/// it may take.
fn parse_status<T: Copy>(
    value: &str,
    field: &str,
    parse: fn(&str) -> Option<T>,
    names: &[&str],
) -> R<T> {
    parse(value).ok_or_else(|| {
        invalid(format!(
            "{field} '{value}' is invalid: it must be one of {}.",
            names.join(", ")
        ))
    })
}

/// Applies a container change to the task.
fn apply_container(task: &mut Task, c: &ContainerChange, field: &str) -> R<()> {
    let name = c
        .container_name
        .as_deref()
        .ok_or_else(|| invalid(format!("{field}.containerName is required.")))?;
    let container = task
        .containers
        .iter_mut()
        .find(|x| x.name == name)
        .ok_or_else(|| {
            invalid(format!(
                "{field}.containerName '{name}' is not a container of this task."
            ))
        })?;
    if let Some(status) = &c.status {
        let new = parse_status(
            status,
            &format!("{field}.status"),
            ContainerStatus::parse,
            ContainerStatus::NAMES,
        )?;
        if new < container.last_status {
            return Err(invalid(format!(
                "{field}.status: container '{name}' cannot go from {} back to {status}.",
                container.last_status
            )));
        }
        container.last_status = new;
    }
    if let Some(x) = c.exit_code {
        container.exit_code = Some(x.into());
    }
    if let Some(x) = &c.runtime_id {
        container.rest.insert("runtimeId".into(), json!(x));
    }
    if let Some(x) = &c.image_digest {
        container.rest.insert("imageDigest".into(), json!(x));
    }
    if let Some(x) = &c.network_bindings {
        container.network_bindings = Some(x.clone());
    }
    if let Some(x) = &c.network_interfaces {
        container.network_interfaces =
            reported_interfaces(x, &format!("{field}.networkInterfaces"))?;
    }
    if let Some(x) = &c.reason {
        container.reason = Some(x.clone());
    }
    if let Some(h) = &c.health_status {
        container.health_status = Some(parse_status(
            h,
            &format!("{field}.healthStatus"),
            HealthStatus::parse,
            HealthStatus::NAMES,
        )?);
    }
    Ok(())
}

/// A bridge-mode container's interfaces as reported: each an IPv4 address.
fn reported_interfaces(list: &[ReportedInterface], field: &str) -> R<Vec<NetworkInterface>> {
    let mut out = Vec::new();
    for (n, i) in list.iter().enumerate() {
        let ip = i.private_ipv4_address.as_deref().unwrap_or_default();
        if ip.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(invalid(format!(
                "{field}[{n}].privateIpv4Address '{ip}' is not an IPv4 address."
            )));
        }
        out.push(NetworkInterface {
            attachment_id: None,
            private_ipv4_address: Some(ip.to_string()),
            rest: Rest::new(),
        });
    }
    Ok(out)
}

/// Moves the task to `status`, stamping ECS's times.
fn apply_task_status(task: &mut Task, status: &str, reason: Option<&str>) -> R<()> {
    let new = parse_status(status, "status", TaskStatus::parse, TaskStatus::NAMES)?;
    if new < task.last_status {
        return Err(invalid(format!(
            "status: the task cannot go from {} back to {status}.",
            task.last_status
        )));
    }
    let t = now();
    if new >= TaskStatus::Running {
        task.started_at.get_or_insert(t);
        task.connectivity_at.get_or_insert(t);
        task.connectivity = Some(Connectivity::Connected);
    }
    if new >= TaskStatus::Stopping {
        task.stopping_at.get_or_insert(t);
    }
    if new == TaskStatus::Stopped {
        task.stopped_at.get_or_insert(t);
        task.execution_stopped_at.get_or_insert(t);
        task.desired_status = DesiredStatus::Stopped;
        task.stopped_reason
            .get_or_insert_with(|| reason.unwrap_or("Task stopped").to_string());
        // Without a code it stopped by itself: before it ever ran, or when an
        // essential container exited.
        let code = if task.started_at.is_none() {
            StopCode::TaskFailedToStart
        } else {
            StopCode::EssentialContainerExited
        };
        task.stop_code.get_or_insert(code);
    } else if let Some(r) = reason {
        if new >= TaskStatus::Deactivating && task.stopped_reason.is_none() {
            task.stopped_reason = Some(r.to_string());
        }
    }
    task.last_status = new;
    Ok(())
}

fn apply_attachment(task: &mut Task, a: &AttachmentChange, field: &str) -> R<()> {
    let arn = a
        .attachment_arn
        .as_deref()
        .ok_or_else(|| invalid(format!("{field}.attachmentArn is required.")))?;
    let status = a
        .status
        .as_deref()
        .ok_or_else(|| invalid(format!("{field}.status is required.")))?;
    let id = arn.rsplit('/').next().unwrap_or(arn);
    let att = task
        .attachments
        .iter_mut()
        .find(|x| x.id == id)
        .ok_or_else(|| {
            invalid(format!(
                "{field}.attachmentArn '{arn}' is not an attachment of this task."
            ))
        })?;
    att.status = status.to_string();
    for d in a.details.iter().flatten() {
        let Some(name) = d.name.as_deref() else {
            return Err(invalid(format!("{field}.details[].name is required.")));
        };
        if !AGENT_DETAILS.contains(&name) {
            return Err(invalid(format!(
                "{field}.details: '{name}' is not reported by an agent (one of {}).",
                AGENT_DETAILS.join(", ")
            )));
        }
        att.details.retain(|x| x.name != d.name);
        att.details.push(d.clone());
    }
    // As on ECS, each container of an awsvpc task shows the ENI's address.
    if let Some(ip) = att.detail("privateIPv4Address").map(str::to_string) {
        let ni = NetworkInterface {
            attachment_id: Some(id.to_string()),
            private_ipv4_address: Some(ip),
            rest: Rest::new(),
        };
        for c in &mut task.containers {
            c.network_interfaces = vec![ni.clone()];
        }
    }
    Ok(())
}

fn load_task(r: &impl Read, ctx: &Context, cluster: &str, task: Option<&str>) -> R<Task> {
    let id = name_from(task.ok_or_else(|| invalid("task is required."))?, "task");
    taskstore::get(r, ctx, cluster, &id)?
        .ok_or_else(|| invalid("The referenced task was not found."))
}

pub fn submit_task(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: TaskChange = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    ecs.store.write(|w| {
        active_cluster(w, ctx, &cluster)?;
        let mut task = load_task(w, ctx, &cluster, i.task.as_deref())?;
        crate::confine::check_task(w, ctx, &cluster, &task)?;
        if let Some(t) = i.pull_started_at {
            task.rest.insert("pullStartedAt".into(), json!(t));
        }
        if let Some(t) = i.pull_stopped_at {
            task.rest.insert("pullStoppedAt".into(), json!(t));
        }
        for (n, c) in i.containers.iter().flatten().enumerate() {
            apply_container(&mut task, c, &format!("containers[{n}]"))?;
        }
        for (n, a) in i.attachments.iter().flatten().enumerate() {
            apply_attachment(&mut task, a, &format!("attachments[{n}]"))?;
        }
        if let Some(s) = &i.status {
            apply_task_status(&mut task, s, i.reason.as_deref())?;
        }
        if let Some(t) = i.execution_stopped_at {
            task.execution_stopped_at = Some(t);
        }
        if let Some(h) = &i.health_status {
            task.health_status =
                parse_status(h, "healthStatus", HealthStatus::parse, HealthStatus::NAMES)?;
        }
        task.version += 1;
        taskstore::put(w, ctx, &cluster, &task)?;
        crate::agent::sync_endpoints(w, ctx, &cluster, &task)?;
        crate::targets::sync_targets(w, ctx, &cluster, &task, now())?;
        Ok::<_, ApiError>(())
    })?;
    Ok(json!({ "acknowledgment": "ACK" }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ContainerInput {
    cluster: Option<String>,
    task: Option<String>,
    #[serde(flatten)]
    change: Map<String, Value>,
}

pub fn submit_container(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ContainerInput = parse_input(input)?;
    let change: ContainerChange = parse_input(Value::Object(i.change))?;
    let cluster = cluster_name(i.cluster.as_deref());
    ecs.store.write(|w| {
        active_cluster(w, ctx, &cluster)?;
        let mut task = load_task(w, ctx, &cluster, i.task.as_deref())?;
        crate::confine::check_task(w, ctx, &cluster, &task)?;
        apply_container(&mut task, &change, "container")?;
        task.version += 1;
        taskstore::put(w, ctx, &cluster, &task)?;
        crate::agent::sync_endpoints(w, ctx, &cluster, &task)?;
        crate::targets::sync_targets(w, ctx, &cluster, &task, now())?;
        Ok::<_, ApiError>(())
    })?;
    Ok(json!({ "acknowledgment": "ACK" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        serde_json::from_value(json!({
            "taskArn": "arn:aws:ecs:r:1:task/c/t", "clusterArn": "arn:aws:ecs:r:1:cluster/c",
            "taskDefinitionArn": "arn:aws:ecs:r:1:task-definition/f:1",
            "lastStatus": "PROVISIONING", "desiredStatus": "RUNNING", "healthStatus": "UNKNOWN",
            "group": "family:f", "version": 1, "createdAt": 1.0, "containers": []
        }))
        .unwrap()
    }

    #[test]
    fn tasks_only_move_forward_and_get_their_times() {
        let mut t = task();
        apply_task_status(&mut t, "PENDING", None).unwrap();
        apply_task_status(&mut t, "RUNNING", None).unwrap();
        assert!(t.started_at.is_some());
        assert_eq!(t.connectivity, Some(Connectivity::Connected));
        let err = apply_task_status(&mut t, "PENDING", None).unwrap_err();
        assert!(err.message.contains("back to PENDING"), "{}", err.message);
        apply_task_status(
            &mut t,
            "STOPPED",
            Some("Essential container in task exited"),
        )
        .unwrap();
        assert_eq!(t.desired_status, DesiredStatus::Stopped);
        assert_eq!(
            t.stopped_reason.as_deref(),
            Some("Essential container in task exited")
        );
        assert!(t.stopped_at.is_some() && t.stopping_at.is_some());
        assert_eq!(t.stop_code, Some(StopCode::EssentialContainerExited));
        assert!(apply_task_status(&mut t, "SLEEPING", None).is_err());
    }
}
