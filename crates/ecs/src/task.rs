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
use crate::network::{self, VpcPlacement};
use crate::records::{
    Attachment, Container, ContainerInstance, ContainerStatus, Deployment, DesiredStatus,
    HealthStatus, InstanceStatus, LaunchType, NetworkConfiguration, Rest, StopCode, Task,
    TaskStatus,
};
use crate::resource::{describe_each, list_arns, to_json};
use crate::scheduler::{capacity_of, instance_capacities, placement, Definitions};
use crate::taskdef::{self, NetworkMode, TaskDefinition, TaskDefinitionStatus};
use crate::{taskstore, Ecs};

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
    network_configuration: Option<NetworkConfiguration>,
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
    td: &'a TaskDefinition,
    input: &'a RunInput,
    launch_type: Option<LaunchType>,
    container_instance: Option<String>,
}

/// The container overrides of a run, each naming a container of the task definition.
fn container_overrides(n: &NewTask<'_>) -> R<Vec<ContainerOverride>> {
    let overrides = n.input.overrides.clone().unwrap_or_default();
    let list = overrides.container_overrides.unwrap_or_default();
    for o in &list {
        let name = o.name.as_deref().unwrap_or_default();
        if n.td.container(name).is_none() {
            return Err(invalid(format!(
                "overrides.containerOverrides: no container named '{name}' in the task definition."
            )));
        }
    }
    Ok(list)
}

/// The task's containers, one per container definition, PENDING.
fn new_containers(n: &NewTask<'_>, id: &str, task_arn: &str) -> Vec<Container> {
    let ctx = n.ctx;
    n.td.container_definitions
        .iter()
        .map(|c| {
            let mut rest = Rest::new();
            rest.insert("cpu".into(), json!(c.cpu.to_string()));
            if let Some(m) = c.memory {
                rest.insert("memory".into(), json!(m.to_string()));
            }
            if let Some(m) = c.memory_reservation {
                rest.insert("memoryReservation".into(), json!(m.to_string()));
            }
            let uuid = berth_awsproto::uuid_v4();
            Container {
                container_arn: ctx.arn("ecs", &format!("container/{}/{id}/{uuid}", n.cluster)),
                task_arn: task_arn.to_string(),
                name: c.name.clone(),
                image: Some(c.image.clone()),
                last_status: ContainerStatus::Pending,
                exit_code: None,
                reason: None,
                health_status: c.health_check.as_ref().map(|_| HealthStatus::Unknown),
                network_interfaces: Vec::new(),
                network_bindings: None,
                rest,
            }
        })
        .collect()
}

/// Letters and digits, as in the names of Service Connect proxy containers.
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The Service Connect proxy container ECS adds, after the task definition's, to a task
/// of a service with Service Connect: `ecs-service-connect-` and 7 random letters and
/// digits (chosen once, here), the proxy's image, PENDING until the agent reports the
/// proxy's state, UNKNOWN health until the proxy is ready.
fn proxy_container(ctx: &Context, cluster: &str, t: &Task) -> Container {
    let name = format!(
        "{}{}",
        berth_agent_view::PROXY_CONTAINER_PREFIX,
        random_string(7, ALNUM)
    );
    let uuid = berth_awsproto::uuid_v4();
    Container {
        container_arn: ctx.arn("ecs", &format!("container/{cluster}/{}/{uuid}", t.id())),
        task_arn: t.task_arn.clone(),
        name,
        image: Some(berth_agent_view::PROXY_IMAGE.to_string()),
        last_status: ContainerStatus::Pending,
        exit_code: None,
        reason: None,
        health_status: Some(HealthStatus::Unknown),
        network_interfaces: Vec::new(),
        network_bindings: None,
        rest: Rest::new(),
    }
}

/// The members of a new task berth only echoes: attributes, overrides, Fargate's
/// platform.
fn echoed(n: &NewTask<'_>, overrides: &[ContainerOverride]) -> Rest {
    let mut rest = Rest::new();
    rest.insert(
        "attributes".into(),
        json!([{"name": "ecs.cpu-architecture", "value": "x86_64"}]),
    );
    rest.insert(
        "enableExecuteCommand".into(),
        json!(n.input.enable_execute_command.unwrap_or(false)),
    );
    let mut o = json!({
        "containerOverrides": overrides.iter().map(|o| {
            let mut v = json!({"name": o.name});
            for (k, x) in &o.rest { v[k] = x.clone(); }
            v
        }).collect::<Vec<_>>(),
        "inferenceAcceleratorOverrides": [],
    });
    for (k, x) in &n.input.overrides.clone().unwrap_or_default().rest {
        o[k] = x.clone();
    }
    rest.insert("overrides".into(), o);
    if n.launch_type == Some(LaunchType::Fargate) {
        let pv = match n.input.platform_version.as_deref() {
            None | Some("LATEST") => "1.4.0",
            Some(v) => v,
        };
        rest.insert("platformVersion".into(), json!(pv));
        rest.insert("platformFamily".into(), json!("Linux"));
    }
    rest
}

/// An awsvpc task's network interface, waiting for its agent to attach it (its details
/// come with the interface: `network::attach_interface`).
fn eni() -> Attachment {
    Attachment {
        id: berth_awsproto::uuid_v4(),
        kind: network::ENI_KIND.into(),
        status: "PRECREATED".into(),
        details: Vec::new(),
        rest: Rest::new(),
    }
}

/// Builds a task record for `td`, not yet written.
fn build_task(n: &NewTask<'_>) -> R<Task> {
    let id = random_string(32, HEX);
    let arn = task_arn(n.ctx, n.cluster, &id);
    let created = now();
    let overrides = container_overrides(n)?;
    let containers = new_containers(n, &id, &arn);
    let awsvpc = n.td.network_mode == Some(NetworkMode::Awsvpc);
    let family = &n.td.family;
    let task_overrides = n.input.overrides.clone().unwrap_or_default();
    Ok(Task {
        task_arn: arn.clone(),
        cluster_arn: cluster_arn(n.ctx, n.cluster),
        task_definition_arn: n.td.task_definition_arn.clone(),
        container_instance_arn: n.container_instance.clone(),
        last_status: if awsvpc {
            TaskStatus::Provisioning
        } else {
            TaskStatus::Pending
        },
        desired_status: DesiredStatus::Running,
        health_status: HealthStatus::Unknown,
        group: n
            .input
            .group
            .clone()
            .unwrap_or_else(|| format!("family:{family}")),
        started_by: n.input.started_by.clone(),
        launch_type: n.launch_type,
        cpu: task_overrides.cpu.clone().or_else(|| n.td.cpu.clone()),
        memory: task_overrides
            .memory
            .clone()
            .or_else(|| n.td.memory.clone()),
        version: 1,
        created_at: created,
        started_at: None,
        stopping_at: None,
        stopped_at: None,
        execution_stopped_at: None,
        connectivity: None,
        connectivity_at: None,
        stop_code: None,
        stopped_reason: None,
        attachments: if awsvpc { vec![eni()] } else { Vec::new() },
        containers,
        tags: n.input.tags.clone().unwrap_or_default(),
        rest: echoed(n, &overrides),
    })
}

/// The VPC placement of a run's awsvpc tasks (`None` for other network modes), checked
/// against EC2.
fn vpc_placement(w: &mut Writer<'_>, ctx: &Context, n: &RunInput) -> R<Option<VpcPlacement>> {
    let Some(a) = n
        .network_configuration
        .as_ref()
        .and_then(|nc| nc.awsvpc_configuration.as_ref())
    else {
        return Ok(None);
    };
    network::resolve_awsvpc(w, ctx, a).map(Some)
}

/// Builds a task (with its Service Connect proxy's container after the task
/// definition's if `proxy`), gives an awsvpc one its network interface, and stores it.
fn create_task(
    w: &mut Writer<'_>,
    n: &NewTask<'_>,
    vpc: Option<&VpcPlacement>,
    proxy: bool,
) -> R<Task> {
    let t = build_task(n)?;
    store_task(w, n, t, vpc, proxy)
}

/// Stores a task built for `n` (see [`create_task`]).
fn store_task(
    w: &mut Writer<'_>,
    n: &NewTask<'_>,
    mut t: Task,
    vpc: Option<&VpcPlacement>,
    proxy: bool,
) -> R<Task> {
    if proxy {
        let c = proxy_container(n.ctx, n.cluster, &t);
        t.containers.push(c);
    }
    if let Some(p) = vpc {
        network::attach_interface(w, n.ctx, &mut t, p)?;
    }
    taskstore::put(w, n.ctx, n.cluster, &t)?;
    Ok(t)
}

/// Builds and stores a task of `deployment` of the service `service_name` (what the
/// service scheduler starts): `startedBy` is the deployment id and `group`
/// `service:<name>`, as on ECS; with Service Connect, its proxy container last.
pub(crate) fn new_service_task(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    service_name: &str,
    deployment: &Deployment,
) -> R<Task> {
    let td = load_td(w, ctx, Some(&deployment.task_definition))?;
    let input = RunInput {
        network_configuration: deployment.network_configuration.clone(),
        started_by: Some(deployment.id.clone()),
        group: Some(format!("service:{service_name}")),
        platform_version: deployment.platform_version.clone(),
        ..Default::default()
    };
    let vpc = vpc_placement(w, ctx, &input)?;
    let n = NewTask {
        ctx,
        cluster,
        td: &td,
        input: &input,
        launch_type: deployment.launch_type,
        container_instance: None,
    };
    let sc = deployment.service_connect_configuration.as_ref();
    create_task(w, &n, vpc.as_ref(), sc.is_some_and(|sc| sc.enabled))
}

/// Sets a task's desired status to STOPPED at `at` (stamping ECS's members); a task no
/// agent holds stops at once. True when something changed.
pub(crate) fn mark_stopping(t: &mut Task, code: StopCode, reason: &str, at: f64) -> bool {
    if t.desired_status == DesiredStatus::Stopped {
        return false;
    }
    t.desired_status = DesiredStatus::Stopped;
    t.stop_code = Some(code);
    t.stopped_reason = Some(reason.to_string());
    t.stopping_at = Some(at);
    if t.container_instance_arn.is_none() {
        // No agent holds it: nothing runs, so it stops now.
        stop_now(t, at);
    }
    t.version += 1;
    true
}

/// Marks a task and its containers STOPPED at `at`, as when nothing of it runs.
pub(crate) fn stop_now(t: &mut Task, at: f64) {
    t.last_status = TaskStatus::Stopped;
    t.stopped_at = Some(at);
    t.execution_stopped_at = Some(at);
    for c in &mut t.containers {
        c.last_status = ContainerStatus::Stopped;
    }
}

fn validate_run(i: &RunInput, td: &TaskDefinition) -> R<()> {
    check_enum(i.launch_type.as_deref(), "launchType", LaunchType::NAMES)?;
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
    if td.status != TaskDefinitionStatus::Active {
        return Err(invalid(format!(
            "TaskDefinition '{}' is inactive.",
            td.task_definition_arn
        )));
    }
    let awsvpc = td.network_mode == Some(NetworkMode::Awsvpc);
    match (&i.network_configuration, awsvpc) {
        (None, true) => Err(invalid(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        )),
        (Some(_), false) => Err(invalid(
            "Network Configuration is not valid for the given networkMode of this task definition.",
        )),
        (Some(nc), true) => {
            let subnets = nc
                .awsvpc_configuration
                .as_ref()
                .map_or(0, |a| a.subnets.len());
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

fn load_td(w: &impl Read, ctx: &Context, reference: Option<&str>) -> R<TaskDefinition> {
    let r = reference.ok_or_else(|| invalid("taskDefinition is required."))?;
    taskdef::resolve(w, ctx, r)?.ok_or_else(|| invalid(format!("TaskDefinition not found: '{r}'.")))
}

/// A task as the API shows it: tags only when asked for.
fn public(t: Task, with_tags: bool) -> R<Value> {
    let mut v = to_json(&t)?;
    if !with_tags {
        if let Some(m) = v.as_object_mut() {
            m.remove("tags");
        }
    }
    Ok(v)
}

/// The launch type of a run: as asked, none with a capacity provider strategy, else EC2.
fn launch_type_of(i: &RunInput) -> Option<LaunchType> {
    match (&i.launch_type, &i.capacity_provider_strategy) {
        (Some(lt), _) => LaunchType::parse(lt),
        (None, Some(c)) if !c.is_empty() => None,
        (None, _) => Some(LaunchType::Ec2),
    }
}

/// The tasks an earlier RunTask with this client token started, if any.
fn earlier_run(w: &Writer<'_>, ctx: &Context, cluster: &str, token: &str) -> R<Option<Vec<Task>>> {
    let Some(prev) = w.get_json::<Vec<String>>(&token_key(ctx, "runtask", token))? else {
        return Ok(None);
    };
    let mut tasks = Vec::new();
    for arn in prev {
        if let Some(t) = taskstore::get(w, ctx, cluster, &name_from(&arn, "task"))? {
            tasks.push(t);
        }
    }
    Ok(Some(tasks))
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
    let ((tasks, failures), _) = ecs.store.write(|w| {
        if let Some(token) = &i.client_token {
            if let Some(tasks) = earlier_run(w, ctx, &cluster, token)? {
                return Ok((tasks, Vec::new()));
            }
        }
        active_cluster(w, ctx, &cluster)?;
        let td = load_td(w, ctx, i.task_definition.as_deref())?;
        validate_run(&i, &td)?;
        let vpc = vpc_placement(w, ctx, &i)?;
        let mut defs = Definitions::default();
        let (instances, mut capacity) = instance_capacities(w, ctx, &cluster, &mut defs)?;
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for _ in 0..count {
            let n = NewTask {
                ctx,
                cluster: &cluster,
                td: &td,
                input: &i,
                launch_type: launch_type_of(&i),
                container_instance: None,
            };
            let t = build_task(&n)?;
            let demand = placement::demand(&t, Some(&td));
            match placement::place(&[demand], &mut capacity).remove(0) {
                Err(Some(unfit)) => {
                    failures.push(resource_failure(&instances[unfit.closest], unfit))
                }
                // Placed, or no instance yet: it waits for an agent (berth's).
                Ok(_) | Err(None) => tasks.push(store_task(w, &n, t, vpc.as_ref(), false)?),
            }
        }
        if let Some(token) = &i.client_token {
            let arns: Vec<&str> = tasks.iter().map(|t| t.task_arn.as_str()).collect();
            w.put_json(&token_key(ctx, "runtask", token), &arns)?;
        }
        Ok::<_, ApiError>((tasks, failures))
    })?;
    let tasks = tasks
        .into_iter()
        .map(|t| public(t, false))
        .collect::<R<Vec<_>>>()?;
    Ok(json!({ "tasks": tasks, "failures": failures }))
}

/// RunTask's and StartTask's failure for a task the instance has no room for, as ECS
/// answers it: the instance's ARN and `RESOURCE:<what it lacks>`.
fn resource_failure(inst: &ContainerInstance, unfit: placement::Unfit) -> Value {
    json!({"arn": inst.container_instance_arn, "reason": unfit.shortfall.failure_reason()})
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
        let vpc = vpc_placement(w, ctx, &i)?;
        let mut defs = Definitions::default();
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for ci in &instances {
            let id = name_from(ci, "container-instance");
            match w.get_json::<ContainerInstance>(&instance_key(ctx, &cluster, &id))? {
                Some(inst) if inst.status == InstanceStatus::Active => {
                    let n = NewTask {
                        ctx,
                        cluster: &cluster,
                        td: &td,
                        input: &i,
                        launch_type: Some(LaunchType::Ec2),
                        container_instance: Some(inst.container_instance_arn.clone()),
                    };
                    let t = build_task(&n)?;
                    let mut capacity = [capacity_of(w, ctx, &cluster, &inst, &mut defs)?];
                    let demand = placement::demand(&t, Some(&td));
                    match placement::place(&[demand], &mut capacity).remove(0) {
                        Err(Some(unfit)) => failures.push(resource_failure(&inst, unfit)),
                        _ => tasks.push(public(store_task(w, &n, t, vpc.as_ref(), false)?, false)?),
                    }
                }
                Some(inst) => {
                    failures.push(json!({"arn": inst.container_instance_arn, "reason": "INACTIVE"}))
                }
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
        let mut t = taskstore::get(w, ctx, &cluster, &id)?
            .ok_or_else(|| invalid("The referenced task was not found."))?;
        let reason = i.reason.as_deref().unwrap_or("Task stopped by user");
        let at = now();
        if !mark_stopping(&mut t, StopCode::UserInitiated, reason, at) {
            return Ok(t);
        }
        taskstore::put(w, ctx, &cluster, &t)?;
        crate::agent::sync_endpoints(w, ctx, &cluster, &t)?;
        crate::targets::sync_targets(w, ctx, &cluster, &t, at)?;
        Ok::<_, ApiError>(t)
    })?;
    Ok(json!({ "task": public(t, false)? }))
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

/// What ListTasks keeps.
struct ListFilter {
    desired: DesiredStatus,
    not_running: bool,
    instance: Option<String>,
    family_td: Option<String>,
    group: Option<String>,
    started_by: Option<String>,
    launch_type: Option<LaunchType>,
}

impl ListFilter {
    fn new(i: &ListInput) -> ListFilter {
        // PENDING tasks have desiredStatus RUNNING; the default lists desiredStatus RUNNING.
        let asked = i.desired_status.as_deref().and_then(DesiredStatus::parse);
        let desired = match asked {
            Some(DesiredStatus::Stopped) => DesiredStatus::Stopped,
            _ => DesiredStatus::Running,
        };
        ListFilter {
            desired,
            not_running: asked == Some(DesiredStatus::Pending),
            instance: i
                .container_instance
                .as_deref()
                .map(|c| format!("/{}", name_from(c, "container-instance"))),
            family_td: i.family.as_ref().map(|f| format!(":task-definition/{f}:")),
            group: i
                .service_name
                .as_ref()
                .map(|s| format!("service:{}", name_from(s, "service"))),
            started_by: i.started_by.clone(),
            launch_type: i.launch_type.as_deref().and_then(LaunchType::parse),
        }
    }

    fn keeps(&self, t: &Task) -> bool {
        t.desired_status == self.desired
            && !(self.not_running && t.last_status == TaskStatus::Running)
            && self.instance.as_ref().is_none_or(|id| {
                t.container_instance_arn
                    .as_deref()
                    .is_some_and(|a| a.ends_with(id.as_str()))
            })
            && self
                .family_td
                .as_ref()
                .is_none_or(|p| t.task_definition_arn.contains(p.as_str()))
            && self.group.as_ref().is_none_or(|g| &t.group == g)
            && self
                .started_by
                .as_ref()
                .is_none_or(|s| t.started_by.as_ref() == Some(s))
            && self.launch_type.is_none_or(|lt| t.launch_type == Some(lt))
    }
}

pub fn list(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let size = page_size(i.max_results, 100, 100)?;
    check_enum(
        i.desired_status.as_deref(),
        "desiredStatus",
        DesiredStatus::NAMES,
    )?;
    check_enum(i.launch_type.as_deref(), "launchType", LaunchType::NAMES)?;
    if i.family.is_some() && i.service_name.is_some() {
        return Err(invalid("family and serviceName cannot both be specified."));
    }
    let filter = ListFilter::new(&i);
    ecs.store.read(|r| {
        active_cluster(r, ctx, &cluster)?;
        list_arns(
            r,
            ctx,
            &cluster,
            i.next_token.as_deref(),
            size,
            "taskArns",
            |t: &Task| filter.keeps(t),
        )
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
        describe_each(
            r,
            ctx,
            &cluster,
            &ids,
            |t: Task| public(t, with_tags),
            "tasks",
        )
    })
}
