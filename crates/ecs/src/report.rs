//! What agents report: SubmitTaskStateChange and SubmitContainerStateChange, the ECS
//! agent's own APIs. A report moves a task (and its containers) forward through
//! PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING →
//! DEPROVISIONING → STOPPED and stamps the times ECS shows; a report that would move a
//! task backwards is refused.
//!
//! berth extensions: an attachment state change may carry `details` (name/value pairs,
//! e.g. `privateIPv4Address`), merged into the task's attachment, because the berth agent
//! (not the control plane) gives a task its address; task and container changes may
//! carry `healthStatus` (HEALTHY / UNHEALTHY / UNKNOWN), because the berth agent runs
//! the health checks. Every report ends by making the task's Cloud Map instances match
//! its new state (see `agent::sync_endpoints`), in the same transaction.

use berth_awsproto::{now, parse_input, ApiError, Context};
use berth_store::Read;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::common::*;
use crate::Ecs;

/// Task states in the order a task goes through them.
const TASK_STATES: &[&str] = &[
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
];

/// Container states in order.
const CONTAINER_STATES: &[&str] = &["PENDING", "RUNNING", "STOPPED"];

fn rank(states: &[&str], s: &str) -> Option<usize> {
    states.iter().position(|x| *x == s)
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct ContainerChange {
    container_name: Option<String>,
    image_digest: Option<String>,
    runtime_id: Option<String>,
    exit_code: Option<i32>,
    network_bindings: Option<Vec<Value>>,
    reason: Option<String>,
    status: Option<String>,
    health_status: Option<String>,
}

const HEALTH_STATES: &[&str] = &["HEALTHY", "UNHEALTHY", "UNKNOWN"];

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AttachmentChange {
    attachment_arn: Option<String>,
    status: Option<String>,
    details: Option<Vec<Value>>,
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

/// Applies a container change to the task document.
fn apply_container(task: &mut Value, c: &ContainerChange, field: &str) -> R<()> {
    let name = c
        .container_name
        .as_deref()
        .ok_or_else(|| invalid(format!("{field}.containerName is required.")))?;
    let containers = task["containers"]
        .as_array_mut()
        .ok_or_else(|| ApiError::internal("stored task has no containers"))?;
    let container = containers
        .iter_mut()
        .find(|x| x["name"] == name)
        .ok_or_else(|| {
            invalid(format!(
                "{field}.containerName '{name}' is not a container of this task."
            ))
        })?;
    if let Some(status) = &c.status {
        let new = rank(CONTAINER_STATES, status).ok_or_else(|| {
            invalid(format!(
                "{field}.status '{status}' is invalid: it must be one of {}.",
                CONTAINER_STATES.join(", ")
            ))
        })?;
        let old = container["lastStatus"]
            .as_str()
            .and_then(|s| rank(CONTAINER_STATES, s))
            .unwrap_or(0);
        if new < old {
            return Err(invalid(format!(
                "{field}.status: container '{name}' cannot go from {} back to {status}.",
                CONTAINER_STATES[old]
            )));
        }
        container["lastStatus"] = json!(status);
    }
    if let Some(x) = c.exit_code {
        container["exitCode"] = json!(x);
    }
    if let Some(x) = &c.runtime_id {
        container["runtimeId"] = json!(x);
    }
    if let Some(x) = &c.image_digest {
        container["imageDigest"] = json!(x);
    }
    if let Some(x) = &c.network_bindings {
        container["networkBindings"] = json!(x);
    }
    if let Some(x) = &c.reason {
        container["reason"] = json!(x);
    }
    if let Some(h) = &c.health_status {
        check_enum(Some(h), &format!("{field}.healthStatus"), HEALTH_STATES)?;
        container["healthStatus"] = json!(h);
    }
    Ok(())
}

/// Moves the task to `status`, stamping ECS's times.
fn apply_task_status(task: &mut Value, status: &str, reason: Option<&str>) -> R<()> {
    let new = rank(TASK_STATES, status).ok_or_else(|| {
        invalid(format!(
            "status '{status}' is invalid: it must be one of {}.",
            TASK_STATES.join(", ")
        ))
    })?;
    let old = task["lastStatus"]
        .as_str()
        .and_then(|s| rank(TASK_STATES, s))
        .unwrap_or(0);
    if new < old {
        return Err(invalid(format!(
            "status: the task cannot go from {} back to {status}.",
            TASK_STATES[old]
        )));
    }
    let t = now();
    let stamp = |task: &mut Value, key: &str| {
        if task.get(key).is_none() {
            task[key] = json!(t);
        }
    };
    if new >= rank(TASK_STATES, "RUNNING").expect("known state") {
        stamp(task, "startedAt");
        stamp(task, "connectivityAt");
        task["connectivity"] = json!("CONNECTED");
    }
    if new >= rank(TASK_STATES, "STOPPING").expect("known state") {
        stamp(task, "stoppingAt");
    }
    if status == "STOPPED" {
        stamp(task, "stoppedAt");
        stamp(task, "executionStoppedAt");
        task["desiredStatus"] = json!("STOPPED");
        if task.get("stoppedReason").is_none() {
            task["stoppedReason"] = json!(reason.unwrap_or("Task stopped"));
        }
        if task.get("stopCode").is_none() {
            // It stopped by itself: before it ever ran, or when an essential container
            // exited.
            let code = if task.get("startedAt").is_none() {
                "TaskFailedToStart"
            } else {
                "EssentialContainerExited"
            };
            task["stopCode"] = json!(code);
        }
    } else if let Some(r) = reason {
        if new >= rank(TASK_STATES, "DEACTIVATING").expect("known state")
            && task.get("stoppedReason").is_none()
        {
            task["stoppedReason"] = json!(r);
        }
    }
    task["lastStatus"] = json!(status);
    Ok(())
}

fn apply_attachment(task: &mut Value, a: &AttachmentChange, field: &str) -> R<()> {
    let arn = a
        .attachment_arn
        .as_deref()
        .ok_or_else(|| invalid(format!("{field}.attachmentArn is required.")))?;
    let status = a
        .status
        .as_deref()
        .ok_or_else(|| invalid(format!("{field}.status is required.")))?;
    let id = arn.rsplit('/').next().unwrap_or(arn);
    let att = task["attachments"]
        .as_array_mut()
        .and_then(|list| list.iter_mut().find(|x| x["id"] == id))
        .ok_or_else(|| {
            invalid(format!(
                "{field}.attachmentArn '{arn}' is not an attachment of this task."
            ))
        })?;
    att["status"] = json!(status);
    for d in a.details.iter().flatten() {
        let name = d["name"]
            .as_str()
            .ok_or_else(|| invalid(format!("{field}.details[].name is required.")))?;
        let details = att["details"]
            .as_array_mut()
            .ok_or_else(|| ApiError::internal("attachment without details"))?;
        details.retain(|x| x["name"] != name);
        details.push(d.clone());
    }
    // As on ECS, each container of an awsvpc task shows the ENI's address.
    let ip = att["details"]
        .as_array()
        .and_then(|ds| ds.iter().find(|x| x["name"] == "privateIPv4Address"))
        .and_then(|x| x["value"].as_str())
        .map(str::to_string);
    if let Some(ip) = ip {
        let ni = json!([{"attachmentId": id, "privateIpv4Address": ip}]);
        for c in task["containers"].as_array_mut().into_iter().flatten() {
            c["networkInterfaces"] = ni.clone();
        }
    }
    Ok(())
}

fn load_task(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    task: Option<&str>,
) -> R<(String, Value)> {
    let id = name_from(task.ok_or_else(|| invalid("task is required."))?, "task");
    let key = task_key(ctx, cluster, &id);
    let t = r
        .get_json::<Value>(&key)?
        .ok_or_else(|| invalid("The referenced task was not found."))?;
    Ok((key, t))
}

pub fn submit_task(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: TaskChange = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    ecs.store.write(|w| {
        active_cluster(w, ctx, &cluster)?;
        let (key, mut task) = load_task(w, ctx, &cluster, i.task.as_deref())?;
        if let Some(t) = i.pull_started_at {
            task["pullStartedAt"] = json!(t);
        }
        if let Some(t) = i.pull_stopped_at {
            task["pullStoppedAt"] = json!(t);
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
            task["executionStoppedAt"] = json!(t);
        }
        if let Some(h) = &i.health_status {
            check_enum(Some(h), "healthStatus", HEALTH_STATES)?;
            task["healthStatus"] = json!(h);
        }
        task["version"] = json!(task["version"].as_i64().unwrap_or(1) + 1);
        w.put_json(&key, &task)?;
        crate::agent::sync_endpoints(w, ctx, &cluster, &task)?;
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
        let (key, mut task) = load_task(w, ctx, &cluster, i.task.as_deref())?;
        apply_container(&mut task, &change, "container")?;
        task["version"] = json!(task["version"].as_i64().unwrap_or(1) + 1);
        w.put_json(&key, &task)?;
        crate::agent::sync_endpoints(w, ctx, &cluster, &task)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(json!({ "acknowledgment": "ACK" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_only_move_forward_and_get_their_times() {
        let mut t =
            json!({"lastStatus": "PROVISIONING", "desiredStatus": "RUNNING", "containers": []});
        apply_task_status(&mut t, "PENDING", None).unwrap();
        apply_task_status(&mut t, "RUNNING", None).unwrap();
        assert!(t["startedAt"].is_number());
        assert_eq!(t["connectivity"], "CONNECTED");
        let err = apply_task_status(&mut t, "PENDING", None).unwrap_err();
        assert!(err.message.contains("back to PENDING"), "{}", err.message);
        apply_task_status(
            &mut t,
            "STOPPED",
            Some("Essential container in task exited"),
        )
        .unwrap();
        assert_eq!(t["desiredStatus"], "STOPPED");
        assert_eq!(t["stoppedReason"], "Essential container in task exited");
        assert!(t["stoppedAt"].is_number() && t["stoppingAt"].is_number());
        assert!(apply_task_status(&mut t, "SLEEPING", None).is_err());
    }
}
