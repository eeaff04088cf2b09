//! Tasks: RunTask, StartTask, StopTask, ListTasks, DescribeTasks.
//!
//! A task starts PROVISIONING (awsvpc) or PENDING with desiredStatus RUNNING and waits
//! for an agent to place and run it; the agent reports the later transitions
//! (ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED). StopTask on a
//! task no agent holds stops it at once.

use berth_awsproto::{now, parse_input, random_string, ApiError, Context, HEX};
use berth_store::{Read, Writer};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::*;
use crate::{taskdef, Ecs};

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct ContainerOverride {
    name: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct TaskOverride {
    container_overrides: Option<Vec<ContainerOverride>>,
    cpu: Option<String>,
    memory: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

/// RunTask and StartTask input. Members berth does not act on yet (placement arrives with
/// the scheduler) are still decoded, so a wrong type is reported as AWS reports it.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct RunInput {
    cluster: Option<String>,
    task_definition: Option<String>,
    count: Option<i64>,
    launch_type: Option<String>,
    capacity_provider_strategy: Option<Vec<Value>>,
    network_configuration: Option<Value>,
    overrides: Option<TaskOverride>,
    platform_version: Option<String>,
    group: Option<String>,
    started_by: Option<String>,
    tags: Option<Vec<Tag>>,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: Option<bool>,
    enable_execute_command: Option<bool>,
    propagate_tags: Option<String>,
    reference_id: Option<String>,
    client_token: Option<String>,
    placement_constraints: Option<Vec<Value>>,
    placement_strategy: Option<Vec<Value>>,
    container_instances: Option<Vec<String>>,
}

pub fn task_arn(ctx: &Context, cluster: &str, id: &str) -> String {
    ctx.arn("ecs", &format!("task/{cluster}/{id}"))
}

struct NewTask<'a> {
    ctx: &'a Context,
    cluster: &'a str,
    td: &'a Value,
    input: &'a RunInput,
    launch_type: Option<&'a str>,
    container_instance: Option<String>,
}

/// Builds a task document for `td`, not yet written.
fn build_task(n: &NewTask<'_>) -> R<Value> {
    let ctx = n.ctx;
    let id = random_string(32, HEX);
    let arn = task_arn(ctx, n.cluster, &id);
    let t = now();
    let overrides = n.input.overrides.clone().unwrap_or_default();
    let container_overrides = overrides.container_overrides.clone().unwrap_or_default();
    let names: Vec<&str> = n.td["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for o in &container_overrides {
        let name = o.name.as_deref().unwrap_or_default();
        if !names.contains(&name) {
            return Err(invalid(format!(
                "overrides.containerOverrides: no container named '{name}' in the task definition."
            )));
        }
    }
    let awsvpc = n.td["networkMode"] == "awsvpc";
    let containers: Vec<Value> = n.td["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut cv = json!({
                "containerArn": ctx.arn("ecs", &format!("container/{}/{id}/{}", n.cluster, berth_awsproto::uuid_v4())),
                "taskArn": arn,
                "name": c["name"],
                "image": c["image"],
                "lastStatus": "PENDING",
                "networkInterfaces": [],
                "cpu": c["cpu"].as_i64().unwrap_or(0).to_string(),
            });
            if let Some(m) = c["memory"].as_i64() {
                cv["memory"] = json!(m.to_string());
            }
            if let Some(m) = c["memoryReservation"].as_i64() {
                cv["memoryReservation"] = json!(m.to_string());
            }
            if c.get("healthCheck").is_some() {
                cv["healthStatus"] = json!("UNKNOWN");
            }
            cv
        })
        .collect();
    let family = n.td["family"].as_str().unwrap_or_default();
    let mut task = json!({
        "attachments": [],
        "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
        "clusterArn": cluster_arn(ctx, n.cluster),
        "containers": containers,
        "createdAt": t,
        "desiredStatus": "RUNNING",
        "enableExecuteCommand": n.input.enable_execute_command.unwrap_or(false),
        "group": n.input.group.clone().unwrap_or_else(|| format!("family:{family}")),
        "healthStatus": "UNKNOWN",
        "lastStatus": if awsvpc { "PROVISIONING" } else { "PENDING" },
        "overrides": {
            "containerOverrides": container_overrides.iter().map(|o| {
                let mut v = json!({"name": o.name});
                for (k, x) in &o.rest { v[k] = x.clone(); }
                v
            }).collect::<Vec<_>>(),
            "inferenceAcceleratorOverrides": [],
        },
        "taskArn": arn,
        "taskDefinitionArn": n.td["taskDefinitionArn"],
        "version": 1,
    });
    for (k, x) in &overrides.rest {
        task["overrides"][k] = x.clone();
    }
    if let Some(c) = overrides
        .cpu
        .clone()
        .or_else(|| n.td["cpu"].as_str().map(str::to_string))
    {
        task["cpu"] = json!(c);
    }
    if let Some(m) = overrides
        .memory
        .clone()
        .or_else(|| n.td["memory"].as_str().map(str::to_string))
    {
        task["memory"] = json!(m);
    }
    if let Some(lt) = n.launch_type {
        task["launchType"] = json!(lt);
        if lt == "FARGATE" {
            let pv = match n.input.platform_version.as_deref() {
                None | Some("LATEST") => "1.4.0",
                Some(v) => v,
            };
            task["platformVersion"] = json!(pv);
            task["platformFamily"] = json!("Linux");
        }
    }
    if let Some(ci) = &n.container_instance {
        task["containerInstanceArn"] = json!(ci);
    }
    if let Some(s) = &n.input.started_by {
        task["startedBy"] = json!(s);
    }
    if awsvpc {
        let mut details = Vec::new();
        if let Some(subnet) = n
            .input
            .network_configuration
            .as_ref()
            .and_then(|nc| nc["awsvpcConfiguration"]["subnets"][0].as_str())
        {
            details.push(json!({"name": "subnetId", "value": subnet}));
        }
        task["attachments"] = json!([{
            "id": berth_awsproto::uuid_v4(),
            "type": "ElasticNetworkInterface",
            "status": "PRECREATED",
            "details": details,
        }]);
    }
    task["tags"] = tags_json(&n.input.tags.clone().unwrap_or_default());
    Ok(task)
}

/// Builds and stores a task of `deployment` of the service `service_name` (what the
/// service scheduler starts): `startedBy` is the deployment id and `group`
/// `service:<name>`, as on ECS.
pub(crate) fn new_service_task(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    service_name: &str,
    deployment: &Value,
) -> R<Value> {
    let td = load_td(w, ctx, deployment["taskDefinition"].as_str())?;
    let input = RunInput {
        network_configuration: deployment.get("networkConfiguration").cloned(),
        started_by: deployment["id"].as_str().map(str::to_string),
        group: Some(format!("service:{service_name}")),
        platform_version: deployment["platformVersion"].as_str().map(str::to_string),
        ..Default::default()
    };
    let t = build_task(&NewTask {
        ctx,
        cluster,
        td: &td,
        input: &input,
        launch_type: deployment["launchType"].as_str(),
        container_instance: None,
    })?;
    put_task(w, ctx, cluster, &t)?;
    Ok(t)
}

/// Sets a task's desired status to STOPPED (stamping ECS's members); a task no agent
/// holds stops at once. True when something changed.
pub(crate) fn mark_stopping(t: &mut Value, code: &str, reason: &str) -> bool {
    if t["desiredStatus"] == "STOPPED" {
        return false;
    }
    let at = now();
    t["desiredStatus"] = json!("STOPPED");
    t["stopCode"] = json!(code);
    t["stoppedReason"] = json!(reason);
    t["stoppingAt"] = json!(at);
    if t.get("containerInstanceArn").is_none() {
        // No agent holds it: nothing runs, so it stops now.
        stop_now(t, at);
    }
    t["version"] = json!(t["version"].as_i64().unwrap_or(1) + 1);
    true
}

/// Marks a task and its containers STOPPED at `at`, as when nothing of it runs.
pub(crate) fn stop_now(t: &mut Value, at: f64) {
    t["lastStatus"] = json!("STOPPED");
    t["stoppedAt"] = json!(at);
    t["executionStoppedAt"] = json!(at);
    if let Some(cs) = t["containers"].as_array_mut() {
        for c in cs {
            c["lastStatus"] = json!("STOPPED");
        }
    }
}

fn validate_run(i: &RunInput, td: &Value) -> R<()> {
    check_enum(
        i.launch_type.as_deref(),
        "launchType",
        &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"],
    )?;
    check_enum(
        i.propagate_tags.as_deref(),
        "propagateTags",
        &["TASK_DEFINITION", "SERVICE", "NONE"],
    )?;
    if let Some(s) = &i.started_by {
        if s.len() > 128 {
            return Err(invalid("startedBy can be at most 128 characters."));
        }
    }
    if let Some(g) = &i.group {
        if g.len() > 255 {
            return Err(invalid("group can be at most 255 characters."));
        }
    }
    check_tags(i.tags.as_deref().unwrap_or(&[]))?;
    if td["status"] != "ACTIVE" {
        return Err(invalid(format!(
            "TaskDefinition '{}' is inactive.",
            td["taskDefinitionArn"].as_str().unwrap_or_default()
        )));
    }
    let awsvpc = td["networkMode"] == "awsvpc";
    match (&i.network_configuration, awsvpc) {
        (None, true) => Err(invalid(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        )),
        (Some(_), false) => Err(invalid(
            "Network Configuration is not valid for the given networkMode of this task definition.",
        )),
        (Some(nc), true) => {
            let subnets = nc["awsvpcConfiguration"]["subnets"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            if subnets == 0 {
                Err(invalid(
                    "networkConfiguration.awsvpcConfiguration.subnets can not be empty.",
                ))
            } else {
                Ok(())
            }
        }
        (None, false) => Ok(()),
    }?;
    if i.launch_type.as_deref() == Some("FARGATE") && !awsvpc {
        return Err(invalid("Fargate only supports network mode 'awsvpc'."));
    }
    Ok(())
}

fn load_td(w: &impl Read, ctx: &Context, reference: Option<&str>) -> R<Value> {
    let r = reference.ok_or_else(|| invalid("taskDefinition is required."))?;
    taskdef::resolve(w, ctx, r)?.ok_or_else(|| invalid(format!("TaskDefinition not found: '{r}'.")))
}

fn put_task(w: &mut Writer<'_>, ctx: &Context, cluster: &str, task: &Value) -> R<()> {
    let arn = task["taskArn"].as_str().unwrap_or_default();
    let id = arn.rsplit('/').next().unwrap_or_default();
    Ok(w.put_json(&task_key(ctx, cluster, id), task)?)
}

fn public(mut t: Value, with_tags: bool) -> Value {
    if !with_tags {
        if let Some(m) = t.as_object_mut() {
            m.remove("tags");
        }
    }
    t
}

pub fn run(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: RunInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let count = i.count.unwrap_or(1);
    if !(1..=10).contains(&count) {
        return Err(invalid(format!("count {count} must be between 1 and 10.")));
    }
    if i.launch_type.is_some()
        && i.capacity_provider_strategy
            .as_ref()
            .is_some_and(|c| !c.is_empty())
    {
        return Err(invalid(
            "Specifying both a launchType and capacityProviderStrategy is not supported.",
        ));
    }
    let (tasks, _) = ecs.store.write(|w| {
        if let Some(token) = &i.client_token {
            let tk = token_key(ctx, "runtask", token);
            if let Some(prev) = w.get_json::<Vec<String>>(&tk)? {
                let mut tasks = Vec::new();
                for arn in prev {
                    let id = arn.rsplit('/').next().unwrap_or_default().to_string();
                    if let Some(t) = w.get_json::<Value>(&task_key(ctx, &cluster, &id))? {
                        tasks.push(t);
                    }
                }
                return Ok(tasks);
            }
        }
        active_cluster(w, ctx, &cluster)?;
        let td = load_td(w, ctx, i.task_definition.as_deref())?;
        validate_run(&i, &td)?;
        let launch_type = match (&i.launch_type, &i.capacity_provider_strategy) {
            (Some(lt), _) => Some(lt.as_str()),
            (None, Some(c)) if !c.is_empty() => None,
            (None, _) => Some("EC2"),
        };
        let mut tasks = Vec::new();
        for _ in 0..count {
            let t = build_task(&NewTask {
                ctx,
                cluster: &cluster,
                td: &td,
                input: &i,
                launch_type,
                container_instance: None,
            })?;
            put_task(w, ctx, &cluster, &t)?;
            tasks.push(t);
        }
        if let Some(token) = &i.client_token {
            let arns: Vec<&str> = tasks.iter().filter_map(|t| t["taskArn"].as_str()).collect();
            w.put_json(&token_key(ctx, "runtask", token), &arns)?;
        }
        Ok::<_, ApiError>(tasks)
    })?;
    let tasks: Vec<Value> = tasks.into_iter().map(|t| public(t, false)).collect();
    Ok(json!({ "tasks": tasks, "failures": [] }))
}

pub fn start(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: RunInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let instances = i
        .container_instances
        .clone()
        .ok_or_else(|| invalid("containerInstances is required."))?;
    if instances.is_empty() || instances.len() > 10 {
        return Err(invalid(
            "containerInstances: between 1 and 10 container instances.",
        ));
    }
    let (out, _) = ecs.store.write(|w| {
        active_cluster(w, ctx, &cluster)?;
        let td = load_td(w, ctx, i.task_definition.as_deref())?;
        validate_run(&i, &td)?;
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for ci in &instances {
            let id = name_from(ci, "container-instance");
            match w.get_json::<Value>(&instance_key(ctx, &cluster, &id))? {
                Some(inst) if inst["status"] == "ACTIVE" => {
                    let arn = inst["containerInstanceArn"].as_str().map(str::to_string);
                    let t = build_task(&NewTask {
                        ctx,
                        cluster: &cluster,
                        td: &td,
                        input: &i,
                        launch_type: Some("EC2"),
                        container_instance: arn,
                    })?;
                    put_task(w, ctx, &cluster, &t)?;
                    tasks.push(public(t, false));
                }
                Some(inst) => failures
                    .push(json!({"arn": inst["containerInstanceArn"], "reason": "INACTIVE"})),
                None => failures.push(json!({
                    "arn": ctx.arn("ecs", &format!("container-instance/{cluster}/{id}")),
                    "reason": "MISSING",
                })),
            }
        }
        Ok::<_, ApiError>(json!({ "tasks": tasks, "failures": failures }))
    })?;
    Ok(out)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct StopInput {
    cluster: Option<String>,
    task: Option<String>,
    reason: Option<String>,
}

pub fn stop(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: StopInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let id = name_from(
        i.task
            .as_deref()
            .ok_or_else(|| invalid("task is required."))?,
        "task",
    );
    if let Some(r) = &i.reason {
        if r.len() > 255 {
            return Err(invalid("reason can be at most 255 characters."));
        }
    }
    let (t, _) = ecs.store.write(|w| {
        active_cluster(w, ctx, &cluster)?;
        let key = task_key(ctx, &cluster, &id);
        let mut t = w
            .get_json::<Value>(&key)?
            .ok_or_else(|| invalid("The referenced task was not found."))?;
        let reason = i
            .reason
            .clone()
            .unwrap_or_else(|| "Task stopped by user".into());
        if !mark_stopping(&mut t, "UserInitiated", &reason) {
            return Ok(t);
        }
        w.put_json(&key, &t)?;
        crate::agent::sync_endpoints(w, ctx, &cluster, &t)?;
        Ok::<_, ApiError>(t)
    })?;
    Ok(json!({ "task": public(t, false) }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    cluster: Option<String>,
    container_instance: Option<String>,
    family: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    started_by: Option<String>,
    service_name: Option<String>,
    desired_status: Option<String>,
    launch_type: Option<String>,
}

pub fn list(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let size = page_size(i.max_results, 100, 100)?;
    check_enum(
        i.desired_status.as_deref(),
        "desiredStatus",
        &["RUNNING", "PENDING", "STOPPED"],
    )?;
    check_enum(
        i.launch_type.as_deref(),
        "launchType",
        &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"],
    )?;
    if i.family.is_some() && i.service_name.is_some() {
        return Err(invalid("family and serviceName cannot both be specified."));
    }
    // PENDING tasks have desiredStatus RUNNING; the default lists desiredStatus RUNNING.
    let desired = match i.desired_status.as_deref() {
        Some("STOPPED") => "STOPPED",
        _ => "RUNNING",
    };
    let instance = i
        .container_instance
        .as_deref()
        .map(|c| name_from(c, "container-instance"));
    let family_td_prefix = i.family.as_ref().map(|f| format!(":task-definition/{f}:"));
    let group = i
        .service_name
        .as_ref()
        .map(|s| format!("service:{}", name_from(s, "service")));
    ecs.store.read(|r| {
        active_cluster(r, ctx, &cluster)?;
        let (arns, next) = paginate(
            r,
            &task_prefix(ctx, &cluster),
            i.next_token.as_deref(),
            size,
            |_, t| {
                let keep = t["desiredStatus"] == desired
                    && (i.desired_status.as_deref() != Some("PENDING")
                        || t["lastStatus"] != "RUNNING")
                    && instance.as_ref().is_none_or(|id| {
                        t["containerInstanceArn"]
                            .as_str()
                            .is_some_and(|a| a.ends_with(&format!("/{id}")))
                    })
                    && family_td_prefix.as_ref().is_none_or(|p| {
                        t["taskDefinitionArn"]
                            .as_str()
                            .is_some_and(|a| a.contains(p.as_str()))
                    })
                    && group.as_ref().is_none_or(|g| t["group"] == json!(g))
                    && i.started_by
                        .as_ref()
                        .is_none_or(|s| t["startedBy"] == json!(s))
                    && i.launch_type
                        .as_ref()
                        .is_none_or(|lt| t["launchType"] == json!(lt));
                keep.then(|| t["taskArn"].clone())
            },
        )?;
        Ok(page_json("taskArns", arns, next))
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    cluster: Option<String>,
    tasks: Option<Vec<String>>,
    include: Option<Vec<String>>,
}

pub fn describe(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DescribeInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let ids = i.tasks.ok_or_else(|| invalid("tasks is required."))?;
    if ids.is_empty() || ids.len() > 100 {
        return Err(invalid(
            "tasks: between 1 and 100 tasks can be described at once.",
        ));
    }
    let include = i.include.unwrap_or_default();
    for inc in &include {
        check_enum(Some(inc), "include", &["TAGS"])?;
    }
    let with_tags = include.iter().any(|x| x == "TAGS");
    ecs.store.read(|r| {
        active_cluster(r, ctx, &cluster)?;
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for t in &ids {
            let id = name_from(t, "task");
            match r.get_json::<Value>(&task_key(ctx, &cluster, &id))? {
                Some(t) => tasks.push(public(t, with_tags)),
                None => {
                    failures.push(json!({"arn": task_arn(ctx, &cluster, &id), "reason": "MISSING"}))
                }
            }
        }
        Ok(json!({ "tasks": tasks, "failures": failures }))
    })
}
