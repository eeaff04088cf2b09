//! A valid request made into the TaskDefinition the API shows: members the model knows
//! echoed (unknown ones dropped at the task and container level, as the service does),
//! task `cpu` / `memory` normalized to CPU units and MiB, the defaults the service
//! shows filled in (the record's serde defaults, plus `hostPort` by network mode), and
//! `compatibilities` and `requiresAttributes` derived.

use std::collections::BTreeSet;

use berth_awsproto::{ApiError, Context};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::record::{
    Attribute, Compatibility, ContainerDefinition, IpcMode, LogDriver, NetworkMode, PidMode,
    PortMapping, TaskDefinition, TaskDefinitionStatus,
};
use super::request::{ContainerDefinition as ContainerRequest, RegisterTaskDefinitionRequest};
use super::rules::{fargate_problem, TaskAt};
use super::syntax::is_ecr_image;
use crate::common::R;

/// Members of the request the TaskDefinition echoes without reading them (`tags` goes
/// beside it; the others are fields of [`TaskDefinition`]).
const ECHOED_TASK_MEMBERS: &[&str] = &[
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "enableFaultInjection",
    "trustedExecutionConfiguration",
];

/// Members of ContainerDefinition in the API model.
const CONTAINER_MEMBERS: &[&str] = &[
    "name",
    "image",
    "repositoryCredentials",
    "cpu",
    "memory",
    "memoryReservation",
    "links",
    "portMappings",
    "essential",
    "restartPolicy",
    "entryPoint",
    "command",
    "environment",
    "environmentFiles",
    "mountPoints",
    "volumesFrom",
    "linuxParameters",
    "secrets",
    "dependsOn",
    "startTimeout",
    "stopTimeout",
    "versionConsistency",
    "hostname",
    "user",
    "workingDirectory",
    "disableNetworking",
    "privileged",
    "readonlyRootFilesystem",
    "dnsServers",
    "dnsSearchDomains",
    "extraHosts",
    "dockerSecurityOptions",
    "interactive",
    "pseudoTerminal",
    "dockerLabels",
    "ulimits",
    "logConfiguration",
    "healthCheck",
    "systemControls",
    "resourceRequirements",
    "firelensConfiguration",
    "credentialSpecs",
];

/// Who and what a new revision is.
pub(super) struct Identity {
    pub(super) arn: String,
    pub(super) revision: u64,
    pub(super) registered_at: f64,
    pub(super) registered_by: String,
}

impl Identity {
    /// Revision `revision` of `family`, registered now by the account's root.
    pub(super) fn new(ctx: &Context, family: &str, revision: u64) -> Identity {
        Identity {
            arn: ctx.arn("ecs", &format!("task-definition/{family}:{revision}")),
            revision,
            registered_at: berth_awsproto::now(),
            registered_by: format!("arn:aws:iam::{}:root", ctx.account),
        }
    }
}

/// The TaskDefinition a validated request registers as `id`; `raw` is the request as
/// sent (nulls dropped), whose members are echoed as they came.
pub(super) fn task_definition(
    task: &TaskAt<'_>,
    raw: &Map<String, Value>,
    id: Identity,
) -> R<TaskDefinition> {
    let req = task.req;
    Ok(TaskDefinition {
        task_definition_arn: id.arn,
        family: req.family.clone().unwrap_or_default(),
        revision: id.revision,
        status: TaskDefinitionStatus::Active,
        container_definitions: containers(raw, task.mode)?,
        network_mode: req.network_mode.as_deref().and_then(NetworkMode::parse),
        cpu: task.cpu.map(|c| c.to_string()),
        memory: task.memory.map(|m| m.to_string()),
        task_role_arn: req.task_role_arn.clone(),
        execution_role_arn: req.execution_role_arn.clone(),
        volumes: member(raw, "volumes")?.unwrap_or_default(),
        placement_constraints: member(raw, "placementConstraints")?.unwrap_or_default(),
        requires_compatibilities: member(raw, "requiresCompatibilities")?,
        compatibilities: compatibilities(task),
        requires_attributes: requires_attributes(task),
        pid_mode: req.pid_mode.as_deref().and_then(PidMode::parse),
        ipc_mode: req.ipc_mode.as_deref().and_then(IpcMode::parse),
        runtime_platform: member(raw, "runtimePlatform")?,
        registered_at: id.registered_at,
        registered_by: id.registered_by,
        deregistered_at: None,
        rest: ECHOED_TASK_MEMBERS
            .iter()
            .filter_map(|k| raw.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect(),
    })
}

/// The request's member `name`, typed; None when absent. The one place a request is
/// read as JSON (so that members berth only echoes come out exactly as they went in).
fn member<T: DeserializeOwned>(raw: &Map<String, Value>, name: &str) -> R<Option<T>> {
    raw.get(name)
        .map(T::deserialize)
        .transpose()
        .map_err(|e| ApiError::internal(format!("rendering {name}: {e}")))
}

/// The containers with the members the model knows and their defaults; `hostPort` is
/// the container port in awsvpc and host modes, else as given or 0 (dynamic).
fn containers(raw: &Map<String, Value>, mode: NetworkMode) -> R<Vec<ContainerDefinition>> {
    let raw_containers: Vec<Map<String, Value>> =
        member(raw, "containerDefinitions")?.unwrap_or_default();
    let mut out = Vec::with_capacity(raw_containers.len());
    for rc in raw_containers {
        let known: Map<String, Value> = (rc.into_iter())
            .filter(|(k, _)| CONTAINER_MEMBERS.contains(&k.as_str()))
            .collect();
        let mut c = ContainerDefinition::deserialize(Value::Object(known))
            .map_err(|e| ApiError::internal(format!("rendering a container: {e}")))?;
        for pm in c.port_mappings.iter_mut() {
            fill_host_port(pm, mode);
        }
        out.push(c);
    }
    Ok(out)
}

fn fill_host_port(pm: &mut PortMapping, mode: NetworkMode) {
    if pm.container_port_range.is_some() {
        return;
    }
    match mode {
        NetworkMode::Awsvpc | NetworkMode::Host => pm.host_port = pm.container_port,
        NetworkMode::Bridge | NetworkMode::None => {
            pm.host_port.get_or_insert(0);
        }
    }
}

/// awsvpc definitions run on EC2, and on Fargate when Fargate can run them; the others
/// on EXTERNAL and EC2; MANAGED_INSTANCES when asked for.
fn compatibilities(task: &TaskAt<'_>) -> Vec<Compatibility> {
    let mut out = Vec::new();
    if task.mode == NetworkMode::Awsvpc {
        out.push(Compatibility::Ec2);
        if fargate_problem(task).is_none() {
            out.push(Compatibility::Fargate);
        }
    } else {
        out.extend([Compatibility::External, Compatibility::Ec2]);
    }
    if task.requires(Compatibility::ManagedInstances) {
        out.push(Compatibility::ManagedInstances);
    }
    out
}

// ---- requiresAttributes ---------------------------------------------------------------

const CAP: &str = "com.amazonaws.ecs.capability.";
const ECS_CAP: &str = "ecs.capability.";

/// The order the service lists the attributes it derives (observed on real responses);
/// attributes not listed here follow, by name.
const ATTRIBUTE_ORDER: &[&str] = &[
    "com.amazonaws.ecs.capability.logging-driver.",
    "com.amazonaws.ecs.capability.docker-remote-api.1.24",
    "ecs.capability.execution-role-awslogs",
    "com.amazonaws.ecs.capability.ecr-auth",
    "ecs.capability.pid-ipc-namespace-sharing",
    "com.amazonaws.ecs.capability.docker-remote-api.1.17",
    "com.amazonaws.ecs.capability.docker-remote-api.1.19",
    "com.amazonaws.ecs.capability.docker-remote-api.1.28",
    "com.amazonaws.ecs.capability.docker-remote-api.1.21",
    "ecs.capability.secrets.asm.environment-variables",
    "ecs.capability.env-files.s3",
    "ecs.capability.aws-appmesh",
    "ecs.capability.container-ordering",
    "com.amazonaws.ecs.capability.task-iam-role",
    "ecs.capability.container-health-check",
    "ecs.capability.execution-role-ecr-pull",
    "ecs.capability.secrets.ssm.environment-variables",
    "com.amazonaws.ecs.capability.docker-remote-api.1.18",
    "ecs.capability.task-eni",
    "com.amazonaws.ecs.capability.docker-remote-api.1.29",
];

fn attribute_rank(name: &str) -> usize {
    ATTRIBUTE_ORDER
        .iter()
        .position(|o| {
            if o.ends_with('.') {
                name.starts_with(o)
            } else {
                name == *o
            }
        })
        .unwrap_or(ATTRIBUTE_ORDER.len())
}

/// The attributes being derived, each once.
#[derive(Default)]
struct Needs(BTreeSet<String>);

impl Needs {
    fn add(&mut self, prefix: &str, name: &str) {
        self.0.insert(format!("{prefix}{name}"));
    }
}

/// Where a secret lives: Secrets Manager (`asm`) or SSM Parameter Store (`ssm`).
fn secret_store(value_from: Option<&str>) -> &'static str {
    if value_from.unwrap_or_default().contains(":secretsmanager:") {
        "asm"
    } else {
        "ssm"
    }
}

/// The container-instance attributes a task of this definition needs, derived the way
/// the service derives them: log drivers, roles, ECR pulls, secrets, health checks,
/// task networking, volumes and the Docker Remote API versions of the features used.
fn requires_attributes(task: &TaskAt<'_>) -> Vec<Attribute> {
    let mut needs = Needs::default();
    task_needs(task, &mut needs);
    for c in task.containers() {
        container_needs(task.req, c, &mut needs);
        log_needs(task.req, c, &mut needs);
    }
    let mut names: Vec<String> = needs.0.into_iter().collect();
    names.sort_by(|a, b| {
        attribute_rank(a)
            .cmp(&attribute_rank(b))
            .then_with(|| a.cmp(b))
    });
    names.into_iter().map(|name| Attribute { name }).collect()
}

fn task_needs(task: &TaskAt<'_>, needs: &mut Needs) {
    let req = task.req;
    if req.task_role_arn.is_some() {
        needs.add(CAP, "task-iam-role");
    }
    if task.mode == NetworkMode::Awsvpc {
        needs.add(ECS_CAP, "task-eni");
    }
    if req.pid_mode.is_some() || req.ipc_mode.is_some() {
        needs.add(ECS_CAP, "pid-ipc-namespace-sharing");
    }
    if req.proxy_configuration.is_some() {
        needs.add(ECS_CAP, "aws-appmesh");
    }
    for v in req.volumes.iter().flatten() {
        if let Some(efs) = &v.efs_volume_configuration {
            needs.add(ECS_CAP, "efs");
            needs.add(CAP, "docker-remote-api.1.25");
            if efs.authorization_config.is_some() {
                needs.add(ECS_CAP, "efsAuth");
            }
        }
        if let Some(d) = &v.docker_volume_configuration {
            needs.add(CAP, "docker-remote-api.1.25");
            let driver = d.driver.as_deref().unwrap_or("local");
            needs.add(ECS_CAP, &format!("docker-plugin.{driver}"));
        }
        if v.fsx_windows_file_server_volume_configuration.is_some() {
            needs.add(ECS_CAP, "fsxWindowsFileServer");
        }
    }
}

fn container_needs(req: &RegisterTaskDefinitionRequest, c: &ContainerRequest, needs: &mut Needs) {
    if let Some(hc) = &c.health_check {
        needs.add(ECS_CAP, "container-health-check");
        let api = match hc.start_period {
            Some(_) => "docker-remote-api.1.29",
            None => "docker-remote-api.1.24",
        };
        needs.add(CAP, api);
    }
    if is_ecr_image(c.image.as_deref().unwrap_or_default()) {
        needs.add(CAP, "ecr-auth");
        if req.execution_role_arn.is_some() {
            needs.add(ECS_CAP, "execution-role-ecr-pull");
        }
    }
    if c.memory_reservation.is_some() {
        needs.add(CAP, "docker-remote-api.1.21");
    }
    if c.docker_labels.as_ref().is_some_and(|l| !l.is_empty())
        || c.ulimits.as_ref().is_some_and(|u| !u.is_empty())
    {
        needs.add(CAP, "docker-remote-api.1.18");
    }
    for s in c.secrets.iter().flatten() {
        let store = secret_store(s.value_from.as_deref());
        needs.add(ECS_CAP, &format!("secrets.{store}.environment-variables"));
    }
    if c.environment_files.as_ref().is_some_and(|f| !f.is_empty()) {
        needs.add(ECS_CAP, "env-files.s3");
    }
    if c.depends_on.as_ref().is_some_and(|d| !d.is_empty())
        || c.start_timeout.is_some()
        || c.stop_timeout.is_some()
    {
        needs.add(ECS_CAP, "container-ordering");
    }
    if c.linux_parameters
        .as_ref()
        .and_then(|l| l.init_process_enabled)
        == Some(true)
    {
        needs.add(CAP, "docker-remote-api.1.25");
    }
    if c.repository_credentials.is_some() {
        needs.add(CAP, "private-registry-authentication.secretsmanager");
    }
    if let Some(t) = c
        .firelens_configuration
        .as_ref()
        .and_then(|f| f.r#type.as_deref())
    {
        needs.add(ECS_CAP, &format!("firelens.{t}"));
    }
}

fn log_needs(req: &RegisterTaskDefinitionRequest, c: &ContainerRequest, needs: &mut Needs) {
    let Some(lc) = &c.log_configuration else {
        return;
    };
    let driver = lc.log_driver.as_deref().unwrap_or_default();
    needs.add(CAP, "docker-remote-api.1.18");
    needs.add(CAP, &format!("logging-driver.{driver}"));
    if driver == LogDriver::Awslogs.as_str() {
        needs.add(CAP, "docker-remote-api.1.19");
        if req.execution_role_arn.is_some() {
            needs.add(ECS_CAP, "execution-role-awslogs");
        }
    }
    if lc.options.as_ref().is_some_and(|o| o.contains_key("mode")) {
        needs.add(CAP, "docker-remote-api.1.28");
    }
    if let Some(so) = &lc.secret_options {
        needs.add(CAP, "docker-remote-api.1.29");
        for s in so {
            let store = secret_store(s.value_from.as_deref());
            needs.add(ECS_CAP, &format!("secrets.{store}.bootstrap.log-driver"));
        }
    }
}
