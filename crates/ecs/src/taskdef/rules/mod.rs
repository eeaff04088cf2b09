//! RegisterTaskDefinition's validation, as tables over the request ([`TaskAt`]) run in
//! this order (the first failing row is the answer): [`TaskAt::MEMBERS`] (the task's own
//! members, each volume through [`VolumeAt::RULES`]), then [`TaskAt::RULES`]: each
//! container through `ContainerAt::RULES` (`container`; each port mapping through
//! `PortAt::RULES` in `port`, each dependency through `DependencyAt::RULES`), the
//! references between containers (`ContainerAt::REFERENCES`), the task's totals and the
//! launch types asked for.
//!
//! Rows name the field as messages do; every other check is a named function below its
//! table.

use berth_awsproto::ApiError;

use super::record::{
    Compatibility, CpuArchitecture, DockerVolumeScope, EfsTransitEncryption, IpcMode, LogDriver,
    NetworkMode, OsFamily, PidMode, PlacementConstraintType, ProxyConfigurationType,
};
use super::request::{ContainerDefinition, RegisterTaskDefinitionRequest as Request, Volume};
use super::syntax::{fargate_size_ok, parse_task_cpu, parse_task_memory, valid_name};
use crate::common::{check_tags, client, R};
use crate::rules::{check_all, inner, items, opt, Each, Rule, Subject};

mod container;
mod port;

use container::ContainerAt;

/// Containers per task definition (a fixed service quota).
const MAX_CONTAINERS: i64 = 10;
/// Placement constraints per task definition.
const MAX_PLACEMENT_CONSTRAINTS: i64 = 10;
/// Task-level CPU units accepted (0.125 to 192 vCPU).
const TASK_CPU_RANGE: (u64, u64) = (128, 196_608);
/// The smallest memory, task or container, in MiB.
const MIN_MEMORY: u64 = 4;
/// The log drivers Fargate runs.
const FARGATE_LOG_DRIVERS: &[&str] = &["awslogs", "splunk", "awsfirelens"];
/// No upper (or lower) bound, in a range row.
const ANY: i64 = i64::MAX;
/// The reason of a range in seconds.
const SECONDS: &str = "it must be between {min} and {max} seconds.";

/// Validates a request; on success, the facts rendering needs.
pub(super) fn validate(req: &Request) -> R<TaskAt<'_>> {
    let task = TaskAt::new(req);
    check_all(TaskAt::MEMBERS, &task)?;
    check_all(TaskAt::RULES, &task)?;
    Ok(task)
}

/// `Invalid '<field>' setting for container '<name>'[: <why>]` (ClientException).
fn container_setting(field: &str, name: &str, why: &str) -> ApiError {
    if why.is_empty() {
        client(format!("Invalid '{field}' setting for container '{name}'."))
    } else {
        client(format!(
            "Invalid '{field}' setting for container '{name}': {why}"
        ))
    }
}

// ---- the task's own members ---------------------------------------------------------

/// The request, with what its task-level members mean (valid once
/// [`TaskAt::MEMBERS`] holds).
#[derive(Clone, Copy)]
pub(super) struct TaskAt<'a> {
    pub(super) req: &'a Request,
    /// In effect (bridge when none is given).
    pub(super) mode: NetworkMode,
    /// Task CPU units, when given.
    pub(super) cpu: Option<u64>,
    /// Task memory in MiB, when given.
    pub(super) memory: Option<u64>,
}

/// A size out of range is a ClientException, with the row's words only.
impl Subject for TaskAt<'_> {
    fn out_of_range(&self, _field: &str, message: String) -> ApiError {
        client(message)
    }
}

impl<'a> TaskAt<'a> {
    /// The task's members, before any container.
    #[rustfmt::skip]
    const MEMBERS: &'a [Rule<'a, Self>] = &[
        Rule::Check(family),
        Rule::count("containerDefinitions", (1, ANY), |t| t.containers().len(), "Container list cannot be empty."),
        Rule::count("containerDefinitions", (0, MAX_CONTAINERS), |t| t.containers().len(), "containerDefinitions: a task definition can have at most {max} containers, not {value}."),
        Rule::one_of("networkMode", NetworkMode::NAMES, |t| opt(t.req.network_mode.as_deref())),
        Rule::one_of("requiresCompatibilities", Compatibility::NAMES, |t| items(&t.req.requires_compatibilities)),
        Rule::one_of("pidMode", PidMode::NAMES, |t| opt(t.req.pid_mode.as_deref())),
        Rule::one_of("ipcMode", IpcMode::NAMES, |t| opt(t.req.ipc_mode.as_deref())),
        Rule::one_of("runtimePlatform.cpuArchitecture", CpuArchitecture::NAMES, |t| inner(&t.req.runtime_platform, |p| &p.cpu_architecture)),
        Rule::one_of("runtimePlatform.operatingSystemFamily", OsFamily::NAMES, |t| inner(&t.req.runtime_platform, |p| &p.operating_system_family)),
        Rule::one_of("proxyConfiguration.type", ProxyConfigurationType::NAMES, |t| inner(&t.req.proxy_configuration, |p| &p.r#type)),
        Rule::Check(proxy_container_name),
        Rule::Check(task_cpu),
        Rule::Check(task_memory),
        Rule::Check(ephemeral_storage_size),
        Rule::range("ephemeralStorage.sizeInGiB", (21, ANY), size_in_gib, "EphemeralStorage size should be at least {min}"),
        Rule::range("ephemeralStorage.sizeInGiB", (-ANY, 200), size_in_gib, "EphemeralStorage size should be at most {max}"),
        Rule::Part(&Each::new(VolumeAt::all, VolumeAt::RULES)),
        Rule::count("placementConstraints", (0, MAX_PLACEMENT_CONSTRAINTS), |t| t.req.placement_constraints.as_ref().map_or(0, Vec::len), "placementConstraints: a task definition can have at most {max} placement constraints."),
        Rule::one_of("placementConstraints.type", PlacementConstraintType::NAMES, constraint_types),
        Rule::Check(tags),
    ];

    /// The containers, their references and the task's totals.
    const RULES: &'a [Rule<'a, Self>] = &[
        Rule::Part(&Each::new(ContainerAt::all, ContainerAt::RULES)),
        Rule::Check(essential_container),
        Rule::Part(&Each::new(ContainerAt::all, ContainerAt::REFERENCES)),
        Rule::Check(cpu_total),
        Rule::Check(memory_total),
        Rule::Check(fargate_requirements),
        Rule::Check(external_network_mode),
    ];

    fn new(req: &'a Request) -> TaskAt<'a> {
        TaskAt {
            req,
            mode: (req.network_mode.as_deref())
                .and_then(NetworkMode::parse)
                .unwrap_or(NetworkMode::Bridge),
            cpu: req.cpu.as_deref().and_then(parse_task_cpu),
            memory: req.memory.as_deref().and_then(parse_task_memory),
        }
    }

    pub(super) fn containers(&self) -> &'a [ContainerDefinition] {
        self.req
            .container_definitions
            .as_deref()
            .unwrap_or_default()
    }

    /// Whether `requiresCompatibilities` names `c`.
    pub(super) fn requires(&self, c: Compatibility) -> bool {
        items(&self.req.requires_compatibilities).contains(&c.as_str())
    }
}

fn family(t: &TaskAt<'_>) -> R<()> {
    match t.req.family.as_deref() {
        None | Some("") => Err(client("Family should not be null or empty.")),
        Some(f) if f.len() > 255 => Err(client("Family must be at most 255 characters long.")),
        Some(f) if !valid_name(f) => Err(client("Family contains invalid characters.")),
        Some(_) => Ok(()),
    }
}

fn proxy_container_name(t: &TaskAt<'_>) -> R<()> {
    match &t.req.proxy_configuration {
        Some(pc) if pc.container_name.as_deref().is_none_or(str::is_empty) => Err(client(
            "proxyConfiguration.containerName should not be null or empty.",
        )),
        _ => Ok(()),
    }
}

/// CPU units or vCPUs, within [`TASK_CPU_RANGE`].
fn task_cpu(t: &TaskAt<'_>) -> R<()> {
    let (min, max) = TASK_CPU_RANGE;
    match t.req.cpu.as_deref() {
        Some(s) if parse_task_cpu(s).is_none_or(|n| n < min || n > max) => {
            Err(client("Invalid 'cpu' setting for task."))
        }
        _ => Ok(()),
    }
}

/// MiB or GB, at least [`MIN_MEMORY`].
fn task_memory(t: &TaskAt<'_>) -> R<()> {
    match t.req.memory.as_deref() {
        Some(s) if parse_task_memory(s).is_none_or(|n| n < MIN_MEMORY) => {
            Err(client("Invalid 'memory' setting for task."))
        }
        _ => Ok(()),
    }
}

fn ephemeral_storage_size(t: &TaskAt<'_>) -> R<()> {
    match &t.req.ephemeral_storage {
        Some(es) if es.size_in_gi_b.is_none() => {
            Err(client("ephemeralStorage.sizeInGiB should not be null."))
        }
        _ => Ok(()),
    }
}

fn constraint_types<'t>(t: &'t TaskAt<'_>) -> Vec<&'t str> {
    (t.req.placement_constraints.iter().flatten())
        .filter_map(|c| c.r#type.as_deref())
        .collect()
}

fn size_in_gib(t: &TaskAt<'_>) -> Option<i64> {
    t.req
        .ephemeral_storage
        .as_ref()?
        .size_in_gi_b
        .map(i64::from)
}

fn tags(t: &TaskAt<'_>) -> R<()> {
    check_tags(t.req.tags.as_deref().unwrap_or_default())
}

// ---- volumes --------------------------------------------------------------------------

/// The `i`th of the task's volumes.
pub(super) struct VolumeAt<'a> {
    all: &'a [Volume],
    i: usize,
    v: &'a Volume,
}

impl Subject for VolumeAt<'_> {}

impl<'a> VolumeAt<'a> {
    #[rustfmt::skip]
    const RULES: &'a [Rule<'a, Self>] = &[
        Rule::Check(volume_name),
        Rule::Check(volume_name_unique),
        Rule::Check(efs_file_system),
        Rule::one_of("efsVolumeConfiguration.transitEncryption", EfsTransitEncryption::NAMES, |v| inner(&v.v.efs_volume_configuration, |e| &e.transit_encryption)),
        Rule::one_of("dockerVolumeConfiguration.scope", DockerVolumeScope::NAMES, |v| inner(&v.v.docker_volume_configuration, |d| &d.scope)),
    ];

    /// The task's volumes.
    fn all(t: &TaskAt<'a>) -> Vec<VolumeAt<'a>> {
        let all = t.req.volumes.as_deref().unwrap_or_default();
        (all.iter().enumerate())
            .map(|(i, v)| VolumeAt { all, i, v })
            .collect()
    }

    fn name(&self) -> &'a str {
        self.v.name.as_deref().unwrap_or_default()
    }
}

fn volume_name(v: &VolumeAt<'_>) -> R<()> {
    let (i, name) = (v.i, v.name());
    if !valid_name(name) {
        return Err(client(format!(
            "volumes[{i}].name '{name}' is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."
        )));
    }
    Ok(())
}

fn volume_name_unique(v: &VolumeAt<'_>) -> R<()> {
    let name = v.name();
    if v.all[..v.i].iter().any(|o| o.name.as_deref() == Some(name)) {
        return Err(client(format!(
            "Duplicate volume name '{name}': volume names must be unique."
        )));
    }
    Ok(())
}

fn efs_file_system(v: &VolumeAt<'_>) -> R<()> {
    match &v.v.efs_volume_configuration {
        Some(efs) if efs.file_system_id.as_deref().is_none_or(str::is_empty) => {
            Err(client(format!(
                "volumes[{}].efsVolumeConfiguration.fileSystemId should not be null or empty.",
                v.i
            )))
        }
        _ => Ok(()),
    }
}

// ---- the task's containers ------------------------------------------------------------

fn essential_container(t: &TaskAt<'_>) -> R<()> {
    if !t.containers().iter().any(|c| c.essential.unwrap_or(true)) {
        return Err(client(
            "A task definition must have at least one essential container.",
        ));
    }
    Ok(())
}

fn cpu_total(t: &TaskAt<'_>) -> R<()> {
    let total: u64 = t
        .containers()
        .iter()
        .map(|c| c.cpu.unwrap_or(0) as u64)
        .sum();
    match t.cpu {
        Some(tc) if total > tc => Err(client(format!(
            "Invalid 'cpu' setting for task: the containers' cpu ({total}) exceeds the task cpu ({tc})."
        ))),
        _ => Ok(()),
    }
}

/// Each container counts its reservation, else its hard limit.
fn memory_total(t: &TaskAt<'_>) -> R<()> {
    let total: u64 = (t.containers().iter())
        .map(|c| c.memory_reservation.or(c.memory).unwrap_or(0) as u64)
        .sum();
    match t.memory {
        Some(tm) if total > tm => Err(client(format!(
            "Invalid 'memory' setting for task: the containers' memory ({total} MiB) exceeds the task memory ({tm} MiB)."
        ))),
        _ => Ok(()),
    }
}

fn fargate_requirements(t: &TaskAt<'_>) -> R<()> {
    match fargate_problem(t) {
        Some(p) if t.requires(Compatibility::Fargate) => Err(client(p)),
        _ => Ok(()),
    }
}

fn external_network_mode(t: &TaskAt<'_>) -> R<()> {
    if t.requires(Compatibility::External) && t.mode == NetworkMode::Awsvpc {
        return Err(client("EXTERNAL does not support network mode 'awsvpc'."));
    }
    Ok(())
}

// ---- Fargate ----------------------------------------------------------------------------

/// Why the definition can't run on Fargate, as the service words it; None when it can.
/// A problem refuses the definition when it requires FARGATE; either way it keeps
/// FARGATE out of `compatibilities`.
pub(super) fn fargate_problem(t: &TaskAt<'_>) -> Option<String> {
    fargate_task_problem(t)
        .or_else(|| fargate_volume_problem(t.req))
        .or_else(|| fargate_container_problem(t.req))
}

fn fargate_task_problem(t: &TaskAt<'_>) -> Option<String> {
    let req = t.req;
    if t.mode != NetworkMode::Awsvpc {
        return Some("Fargate only supports network mode 'awsvpc'.".into());
    }
    let Some(cpu) = t.cpu else {
        return Some("Fargate requires that 'cpu' be defined at the task level.".into());
    };
    let Some(memory) = t.memory else {
        return Some("Fargate requires that 'memory' be defined at the task level.".into());
    };
    if !fargate_size_ok(cpu, memory) {
        return Some(format!(
            "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
        ));
    }
    if req.pid_mode.as_deref() == Some(PidMode::Host.as_str()) {
        return Some("Fargate does not support pidMode 'host'.".into());
    }
    if req.ipc_mode.is_some() {
        return Some("Fargate does not support ipcMode.".into());
    }
    if req
        .placement_constraints
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return Some("Fargate does not support placementConstraints.".into());
    }
    if req
        .inference_accelerators
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return Some("Fargate does not support inferenceAccelerators.".into());
    }
    None
}

fn fargate_volume_problem(req: &Request) -> Option<String> {
    req.volumes.iter().flatten().find_map(|v| {
        let name = v.name.as_deref().unwrap_or_default();
        if v.host.as_ref().is_some_and(|h| h.source_path.is_some()) {
            Some(format!(
                "Fargate does not support host volumes with a sourcePath (volume '{name}')."
            ))
        } else if v.docker_volume_configuration.is_some() {
            Some(format!(
                "Fargate does not support dockerVolumeConfiguration (volume '{name}')."
            ))
        } else {
            None
        }
    })
}

fn fargate_container_problem(req: &Request) -> Option<String> {
    req.container_definitions.iter().flatten().find_map(|c| {
        let name = c.name.as_deref().unwrap_or_default();
        if c.privileged == Some(true) {
            return Some(format!(
                "Fargate does not support privileged containers (container '{name}')."
            ));
        }
        if c.links.as_ref().is_some_and(|l| !l.is_empty()) {
            return Some(format!(
                "Fargate does not support links (container '{name}')."
            ));
        }
        let driver = c.log_configuration.as_ref()?.log_driver.as_deref()?;
        if !FARGATE_LOG_DRIVERS.contains(&driver) {
            return Some(format!(
                "Fargate does not support log driver '{driver}' (container '{name}'): use awslogs, splunk or awsfirelens."
            ));
        }
        if driver == LogDriver::Awslogs.as_str() && req.execution_role_arn.is_none() {
            return Some(
                "Fargate requires task definition to have execution role ARN to support log driver awslogs.".into(),
            );
        }
        None
    })
}
