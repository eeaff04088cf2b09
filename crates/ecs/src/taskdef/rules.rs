//! RegisterTaskDefinition's validation, as tables run in this order (the first failing
//! row is the answer): [`TASK`] (the task's own members, each volume through
//! [`VolumeAt::RULES`]), then [`TaskAt::RULES`]: each container through
//! [`ContainerAt::RULES`] (each port mapping through [`PortAt::RULES`], each dependency
//! through [`DependencyAt::RULES`]), the references between containers
//! ([`ContainerAt::REFERENCES`]), the task's totals and the launch types asked for.
//!
//! Enum and range rows name the field as messages do; every other check is a named
//! function below its table.

use berth_awsproto::ApiError;

use super::record::{
    AppProtocol, Compatibility, CpuArchitecture, DependencyCondition, DockerVolumeScope,
    EfsTransitEncryption, FirelensType, IpcMode, LogDriver, NetworkMode, OsFamily, PidMode,
    PlacementConstraintType, ProxyConfigurationType, TransportProtocol,
};
use super::request::{
    ContainerDefinition, ContainerDependency, HealthCheck, PortMapping,
    RegisterTaskDefinitionRequest as Request, Volume,
};
use super::syntax::{
    fargate_size_ok, parse_port_range, parse_task_cpu, parse_task_memory, valid_name,
    valid_port_name,
};
use crate::common::{check_tags, client, invalid, R};
use crate::rules::{check_all, opt, within, Rule, Subject};

/// Containers per task definition (a fixed service quota).
const MAX_CONTAINERS: usize = 10;
/// Placement constraints per task definition.
const MAX_PLACEMENT_CONSTRAINTS: usize = 10;
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
    check_all(TASK, req)?;
    let task = TaskAt::new(req);
    check_all(TaskAt::RULES, &task)?;
    Ok(task)
}

/// "Invalid '<field>' setting for container '<name>'[: <why>]" (ClientException).
fn container_setting(field: &str, name: &str, why: &str) -> ApiError {
    if why.is_empty() {
        client(format!("Invalid '{field}' setting for container '{name}'."))
    } else {
        client(format!(
            "Invalid '{field}' setting for container '{name}': {why}"
        ))
    }
}

/// The strings of an optional list, as [`Rule::OneOf`] reads them.
fn each(list: &Option<Vec<String>>) -> Vec<&str> {
    list.iter().flatten().map(String::as_str).collect()
}

// ---- the task's own members ---------------------------------------------------------

impl Subject for Request {}

/// The task's members, before any container.
#[rustfmt::skip]
const TASK: &[Rule<Request>] = &[
    Rule::Check(family),
    Rule::Check(container_count),
    Rule::one_of("networkMode", NetworkMode::NAMES, |r| opt(r.network_mode.as_deref())),
    Rule::one_of("requiresCompatibilities", Compatibility::NAMES, |r| each(&r.requires_compatibilities)),
    Rule::one_of("pidMode", PidMode::NAMES, |r| opt(r.pid_mode.as_deref())),
    Rule::one_of("ipcMode", IpcMode::NAMES, |r| opt(r.ipc_mode.as_deref())),
    Rule::one_of("runtimePlatform.cpuArchitecture", CpuArchitecture::NAMES, |r| within(&r.runtime_platform, |p| &p.cpu_architecture)),
    Rule::one_of("runtimePlatform.operatingSystemFamily", OsFamily::NAMES, |r| within(&r.runtime_platform, |p| &p.operating_system_family)),
    Rule::one_of("proxyConfiguration.type", ProxyConfigurationType::NAMES, |r| within(&r.proxy_configuration, |p| &p.r#type)),
    Rule::Check(proxy_container_name),
    Rule::Check(task_cpu),
    Rule::Check(task_memory),
    Rule::Check(ephemeral_storage_size),
    Rule::range("ephemeralStorage.sizeInGiB", (21, ANY), size_in_gib, "EphemeralStorage size should be at least {min}"),
    Rule::range("ephemeralStorage.sizeInGiB", (-ANY, 200), size_in_gib, "EphemeralStorage size should be at most {max}"),
    Rule::Check(volumes),
    Rule::Check(placement_constraint_count),
    Rule::one_of("placementConstraints.type", PlacementConstraintType::NAMES, constraint_types),
    Rule::Check(tags),
];

fn family(r: &Request) -> R<()> {
    match r.family.as_deref() {
        None | Some("") => Err(client("Family should not be null or empty.")),
        Some(f) if f.len() > 255 => Err(client("Family must be at most 255 characters long.")),
        Some(f) if !valid_name(f) => Err(client("Family contains invalid characters.")),
        Some(_) => Ok(()),
    }
}

fn container_count(r: &Request) -> R<()> {
    let n = r.container_definitions.as_ref().map_or(0, Vec::len);
    if n == 0 {
        return Err(client("Container list cannot be empty."));
    }
    if n > MAX_CONTAINERS {
        return Err(client(format!(
            "containerDefinitions: a task definition can have at most {MAX_CONTAINERS} containers, not {n}."
        )));
    }
    Ok(())
}

fn proxy_container_name(r: &Request) -> R<()> {
    match &r.proxy_configuration {
        Some(pc) if pc.container_name.as_deref().is_none_or(str::is_empty) => Err(client(
            "proxyConfiguration.containerName should not be null or empty.",
        )),
        _ => Ok(()),
    }
}

/// CPU units or vCPUs, within [`TASK_CPU_RANGE`].
fn task_cpu(r: &Request) -> R<()> {
    let (min, max) = TASK_CPU_RANGE;
    match r.cpu.as_deref() {
        Some(s) if parse_task_cpu(s).is_none_or(|n| n < min || n > max) => {
            Err(client("Invalid 'cpu' setting for task."))
        }
        _ => Ok(()),
    }
}

/// MiB or GB, at least [`MIN_MEMORY`].
fn task_memory(r: &Request) -> R<()> {
    match r.memory.as_deref() {
        Some(s) if parse_task_memory(s).is_none_or(|n| n < MIN_MEMORY) => {
            Err(client("Invalid 'memory' setting for task."))
        }
        _ => Ok(()),
    }
}

fn ephemeral_storage_size(r: &Request) -> R<()> {
    match &r.ephemeral_storage {
        Some(es) if es.size_in_gi_b.is_none() => {
            Err(client("ephemeralStorage.sizeInGiB should not be null."))
        }
        _ => Ok(()),
    }
}

fn constraint_types(r: &Request) -> Vec<&str> {
    (r.placement_constraints.iter().flatten())
        .filter_map(|c| c.r#type.as_deref())
        .collect()
}

fn size_in_gib(r: &Request) -> Option<i64> {
    r.ephemeral_storage.as_ref()?.size_in_gi_b.map(i64::from)
}

fn volumes(r: &Request) -> R<()> {
    let all = r.volumes.as_deref().unwrap_or_default();
    all.iter()
        .enumerate()
        .try_for_each(|(i, v)| check_all(VolumeAt::RULES, &VolumeAt { all, i, v }))
}

fn placement_constraint_count(r: &Request) -> R<()> {
    if r.placement_constraints.as_ref().map_or(0, Vec::len) > MAX_PLACEMENT_CONSTRAINTS {
        return Err(client(
            "placementConstraints: a task definition can have at most 10 placement constraints.",
        ));
    }
    Ok(())
}

fn tags(r: &Request) -> R<()> {
    check_tags(r.tags.as_deref().unwrap_or_default())
}

// ---- volumes --------------------------------------------------------------------------

/// The `i`th of the task's volumes.
pub(super) struct VolumeAt<'a> {
    all: &'a [Volume],
    i: usize,
    v: &'a Volume,
}

impl Subject for VolumeAt<'_> {
    fn indices(&self) -> Vec<usize> {
        vec![self.i]
    }
}

impl<'a> VolumeAt<'a> {
    #[rustfmt::skip]
    const RULES: &'a [Rule<Self>] = &[
        Rule::Check(volume_name),
        Rule::Check(volume_name_unique),
        Rule::Check(efs_file_system),
        Rule::one_of("efsVolumeConfiguration.transitEncryption", EfsTransitEncryption::NAMES, |v| within(&v.v.efs_volume_configuration, |e| &e.transit_encryption)),
        Rule::one_of("dockerVolumeConfiguration.scope", DockerVolumeScope::NAMES, |v| within(&v.v.docker_volume_configuration, |d| &d.scope)),
    ];

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

/// The request once its task-level members are valid, with what they mean.
pub(super) struct TaskAt<'a> {
    pub(super) req: &'a Request,
    /// In effect (bridge when none is given).
    pub(super) mode: NetworkMode,
    /// Task CPU units, when given.
    pub(super) cpu: Option<u64>,
    /// Task memory in MiB, when given.
    pub(super) memory: Option<u64>,
}

impl Subject for TaskAt<'_> {}

impl<'a> TaskAt<'a> {
    const RULES: &'a [Rule<Self>] = &[
        Rule::Check(containers),
        Rule::Check(essential_container),
        Rule::Check(references),
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
        each(&self.req.requires_compatibilities).contains(&c.as_str())
    }
}

fn containers(t: &TaskAt<'_>) -> R<()> {
    (t.containers().iter().enumerate())
        .try_for_each(|(i, c)| check_all(ContainerAt::RULES, &ContainerAt::new(t, i, c)))
}

fn essential_container(t: &TaskAt<'_>) -> R<()> {
    if !t.containers().iter().any(|c| c.essential.unwrap_or(true)) {
        return Err(client(
            "A task definition must have at least one essential container.",
        ));
    }
    Ok(())
}

fn references(t: &TaskAt<'_>) -> R<()> {
    (t.containers().iter().enumerate())
        .try_for_each(|(i, c)| check_all(ContainerAt::REFERENCES, &ContainerAt::new(t, i, c)))
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

// ---- one container ------------------------------------------------------------------------

/// The `i`th container of a task whose own members are valid.
pub(super) struct ContainerAt<'a> {
    task: &'a TaskAt<'a>,
    i: usize,
    c: &'a ContainerDefinition,
    /// Its name ("" until [`container_name`] has passed).
    name: &'a str,
}

impl Subject for ContainerAt<'_> {
    fn indices(&self) -> Vec<usize> {
        vec![self.i]
    }

    fn out_of_range(&self, field: &str, why: String) -> ApiError {
        container_setting(field, self.name, &why)
    }
}

impl<'a> ContainerAt<'a> {
    #[rustfmt::skip]
    const RULES: &'a [Rule<Self>] = &[
        Rule::Check(container_name),
        Rule::Check(container_name_unique),
        Rule::Check(container_image),
        Rule::range("cpu", (0, ANY), |c| c.c.cpu.map(i64::from), "it must be 0 or more CPU units."),
        Rule::range("memory", (MIN_MEMORY as i64, ANY), |c| c.c.memory.map(i64::from), "it must be at least {min} MiB."),
        Rule::range("memoryReservation", (MIN_MEMORY as i64, ANY), |c| c.c.memory_reservation.map(i64::from), "it must be at least {min} MiB."),
        Rule::Check(reservation_within_memory),
        Rule::Check(memory_given),
        Rule::Check(memory_within_task),
        Rule::Check(links_need_bridge),
        Rule::Check(port_mappings_need_network),
        Rule::Check(port_mappings),
        Rule::Check(environment_names),
        Rule::Check(environment_files),
        Rule::Check(secrets),
        Rule::Check(health_check_command),
        Rule::range("healthCheck.interval", (5, 300), |c| c.health(|h| h.interval), SECONDS),
        Rule::range("healthCheck.timeout", (2, 60), |c| c.health(|h| h.timeout), SECONDS),
        Rule::range("healthCheck.retries", (1, 10), |c| c.health(|h| h.retries), "it must be between {min} and {max}."),
        Rule::range("healthCheck.startPeriod", (0, 300), |c| c.health(|h| h.start_period), SECONDS),
        Rule::Check(log_driver_given),
        Rule::one_of("logConfiguration.logDriver", LogDriver::NAMES, |c| within(&c.c.log_configuration, |l| &l.log_driver)),
        Rule::Check(log_secret_options),
        Rule::one_of("firelensConfiguration.type", FirelensType::NAMES, |c| within(&c.c.firelens_configuration, |f| &f.r#type)),
        Rule::Check(firelens_type_given),
        Rule::Check(dependencies),
        Rule::Check(mount_points),
        Rule::Check(ulimits),
    ];

    /// Checked once every container has passed [`ContainerAt::RULES`].
    const REFERENCES: &'a [Rule<Self>] = &[
        Rule::Check(links_resolve),
        Rule::Check(volumes_from_resolve),
        Rule::Check(dependencies_resolve),
    ];

    fn new(task: &'a TaskAt<'a>, i: usize, c: &'a ContainerDefinition) -> ContainerAt<'a> {
        let name = c.name.as_deref().unwrap_or_default();
        ContainerAt { task, i, c, name }
    }

    /// "Invalid '<field>' setting for container '<name>': <why>".
    fn invalid_setting(&self, field: &str, why: &str) -> ApiError {
        container_setting(field, self.name, why)
    }

    /// A health-check member, for a range row.
    fn health(&self, member: fn(&HealthCheck) -> Option<i32>) -> Option<i64> {
        self.c.health_check.as_ref().and_then(member).map(i64::from)
    }

    /// The container of the task called `name`, if it isn't this one.
    fn other(&self, name: &str) -> Option<&'a ContainerDefinition> {
        (name != self.name)
            .then(|| {
                self.task
                    .containers()
                    .iter()
                    .find(|o| o.name.as_deref() == Some(name))
            })
            .flatten()
    }
}

fn container_name(c: &ContainerAt<'_>) -> R<()> {
    match c.c.name.as_deref() {
        None | Some("") => Err(client("Container.name should not be null or empty.")),
        Some(n) if !valid_name(n) => Err(client("Container.name contains invalid characters.")),
        Some(_) => Ok(()),
    }
}

fn container_name_unique(c: &ContainerAt<'_>) -> R<()> {
    let earlier = &c.task.containers()[..c.i];
    if earlier.iter().any(|o| o.name.as_deref() == Some(c.name)) {
        return Err(client(format!(
            "Duplicate container name '{}': container names must be unique within a task definition.",
            c.name
        )));
    }
    Ok(())
}

fn container_image(c: &ContainerAt<'_>) -> R<()> {
    match c.c.image.as_deref() {
        None | Some("") => Err(client("Container.image should not be null or empty.")),
        Some(img)
            if img.len() > 4096 || img.chars().any(|ch| ch.is_whitespace() || ch.is_control()) =>
        {
            Err(client("Container.image contains invalid characters."))
        }
        Some(_) => Ok(()),
    }
}

fn reservation_within_memory(c: &ContainerAt<'_>) -> R<()> {
    match (c.c.memory, c.c.memory_reservation) {
        (Some(hard), Some(soft)) if soft > hard => Err(c.invalid_setting(
            "memoryReservation",
            "it must be less than or equal to 'memory'.",
        )),
        _ => Ok(()),
    }
}

/// Without task memory, each container needs a limit of its own.
fn memory_given(c: &ContainerAt<'_>) -> R<()> {
    if c.task.memory.is_none() && c.c.memory.is_none() && c.c.memory_reservation.is_none() {
        return Err(client(format!(
            "Invalid setting for container '{}'. At least one of 'memory' or 'memoryReservation' must be specified.",
            c.name
        )));
    }
    Ok(())
}

fn memory_within_task(c: &ContainerAt<'_>) -> R<()> {
    match (c.task.memory, c.c.memory) {
        (Some(tm), Some(m)) if m as u64 > tm => Err(c.invalid_setting(
            "memory",
            &format!("the container memory ({m} MiB) exceeds the task memory ({tm} MiB)."),
        )),
        _ => Ok(()),
    }
}

fn links_need_bridge(c: &ContainerAt<'_>) -> R<()> {
    let mode = c.task.mode;
    if mode != NetworkMode::Bridge && c.c.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(c.invalid_setting(
            "links",
            &format!("links are not supported when networkMode={mode}."),
        ));
    }
    Ok(())
}

fn port_mappings_need_network(c: &ContainerAt<'_>) -> R<()> {
    if c.task.mode == NetworkMode::None && c.port_mappings().next().is_some() {
        return Err(c.invalid_setting(
            "portMappings",
            "port mappings are not supported when networkMode=none.",
        ));
    }
    Ok(())
}

fn port_mappings(c: &ContainerAt<'_>) -> R<()> {
    (c.c.port_mappings.iter().flatten().enumerate()).try_for_each(|(j, pm)| {
        check_all(
            PortAt::RULES,
            &PortAt {
                container: c,
                j,
                pm,
            },
        )
    })
}

fn environment_names(c: &ContainerAt<'_>) -> R<()> {
    match (c.c.environment.iter().flatten())
        .position(|e| e.name.as_deref().is_none_or(str::is_empty))
    {
        Some(k) => Err(c.invalid_setting(
            &format!("environment[{k}].name"),
            "every environment variable needs a name.",
        )),
        None => Ok(()),
    }
}

fn environment_files(c: &ContainerAt<'_>) -> R<()> {
    for (k, f) in c.c.environment_files.iter().flatten().enumerate() {
        if f.value.as_deref().is_none_or(str::is_empty) {
            return Err(c.invalid_setting(
                &format!("environmentFiles[{k}].value"),
                "the S3 object ARN is required.",
            ));
        }
        if f.r#type.as_deref() != Some("s3") {
            return Err(c.invalid_setting(
                &format!("environmentFiles[{k}].type"),
                "the type must be s3.",
            ));
        }
    }
    Ok(())
}

fn secrets(c: &ContainerAt<'_>) -> R<()> {
    for (k, s) in c.c.secrets.iter().flatten().enumerate() {
        if s.name.as_deref().is_none_or(str::is_empty) {
            return Err(
                c.invalid_setting(&format!("secrets[{k}].name"), "every secret needs a name.")
            );
        }
        if s.value_from.as_deref().is_none_or(str::is_empty) {
            return Err(c.invalid_setting(
                &format!("secrets[{k}].valueFrom"),
                "every secret needs a valueFrom.",
            ));
        }
    }
    Ok(())
}

/// `["NONE"]`, or CMD / CMD-SHELL and a command.
fn health_check_command(c: &ContainerAt<'_>) -> R<()> {
    let Some(hc) = &c.c.health_check else {
        return Ok(());
    };
    let cmd = hc.command.as_deref().unwrap_or_default();
    let why = match cmd.first().map(String::as_str) {
        None => "the command is required.",
        Some("NONE") => return Ok(()),
        Some("CMD" | "CMD-SHELL") if cmd.len() >= 2 => return Ok(()),
        Some("CMD" | "CMD-SHELL") => "the command is missing after CMD or CMD-SHELL.",
        Some(_) => "the command must start with CMD or CMD-SHELL.",
    };
    Err(c.invalid_setting("healthCheck.command", why))
}

fn log_driver_given(c: &ContainerAt<'_>) -> R<()> {
    match &c.c.log_configuration {
        Some(lc) if lc.log_driver.is_none() => {
            Err(c.invalid_setting("logConfiguration.logDriver", "the log driver is required."))
        }
        _ => Ok(()),
    }
}

fn log_secret_options(c: &ContainerAt<'_>) -> R<()> {
    let options =
        c.c.log_configuration
            .iter()
            .flat_map(|l| l.secret_options.iter().flatten());
    for (k, s) in options.enumerate() {
        if s.name.as_deref().is_none_or(str::is_empty)
            || s.value_from.as_deref().is_none_or(str::is_empty)
        {
            return Err(c.invalid_setting(
                &format!("logConfiguration.secretOptions[{k}]"),
                "every secret option needs a name and a valueFrom.",
            ));
        }
    }
    Ok(())
}

fn firelens_type_given(c: &ContainerAt<'_>) -> R<()> {
    match &c.c.firelens_configuration {
        Some(f) if f.r#type.is_none() => {
            Err(c.invalid_setting("firelensConfiguration.type", "the type is required."))
        }
        _ => Ok(()),
    }
}

fn dependencies(c: &ContainerAt<'_>) -> R<()> {
    (c.c.depends_on.iter().flatten())
        .try_for_each(|d| check_all(DependencyAt::RULES, &DependencyAt { container: c, d }))
}

fn mount_points(c: &ContainerAt<'_>) -> R<()> {
    let volumes = c.task.req.volumes.iter().flatten();
    for (k, mp) in c.c.mount_points.iter().flatten().enumerate() {
        let v = mp.source_volume.as_deref().unwrap_or_default();
        if !volumes.clone().any(|vol| vol.name.as_deref() == Some(v)) {
            return Err(c.invalid_setting(
                &format!("mountPoints[{k}].sourceVolume"),
                &format!("the volume '{v}' is not defined in the task definition's volumes."),
            ));
        }
        if mp.container_path.as_deref().is_none_or(str::is_empty) {
            return Err(c.invalid_setting(
                &format!("mountPoints[{k}].containerPath"),
                "the container path is required.",
            ));
        }
    }
    Ok(())
}

fn ulimits(c: &ContainerAt<'_>) -> R<()> {
    let incomplete = |u: &&super::request::Ulimit| {
        u.name.is_none() || u.soft_limit.is_none() || u.hard_limit.is_none()
    };
    if c.c.ulimits.iter().flatten().any(|u| incomplete(&u)) {
        return Err(c.invalid_setting(
            "ulimits",
            "every ulimit needs a name, a softLimit and a hardLimit.",
        ));
    }
    Ok(())
}

// ---- references between containers ----------------------------------------------------

fn links_resolve(c: &ContainerAt<'_>) -> R<()> {
    for l in c.c.links.iter().flatten() {
        let target = l.split(':').next().unwrap_or_default();
        if c.other(target).is_none() {
            return Err(c.invalid_setting(
                "links",
                &format!("'{l}' does not name another container of the task definition."),
            ));
        }
    }
    Ok(())
}

fn volumes_from_resolve(c: &ContainerAt<'_>) -> R<()> {
    for vf in c.c.volumes_from.iter().flatten() {
        let src = vf.source_container.as_deref().unwrap_or_default();
        if c.other(src).is_none() {
            return Err(c.invalid_setting(
                "volumesFrom",
                &format!("'{src}' does not name another container of the task definition."),
            ));
        }
    }
    Ok(())
}

/// Each dependency names another container; HEALTHY needs that container's health check.
fn dependencies_resolve(c: &ContainerAt<'_>) -> R<()> {
    for d in c.c.depends_on.iter().flatten() {
        let target = d.container_name.as_deref().unwrap_or_default();
        let Some(t) = c.other(target) else {
            return Err(c.invalid_setting(
                "dependsOn",
                &format!("'{target}' does not name another container of the task definition."),
            ));
        };
        if d.condition.as_deref() == Some(DependencyCondition::Healthy.as_str())
            && t.health_check.is_none()
        {
            return Err(c.invalid_setting(
                "dependsOn",
                &format!("the HEALTHY condition needs a healthCheck on container '{target}'."),
            ));
        }
    }
    Ok(())
}

// ---- one dependency -----------------------------------------------------------------------

/// One of a container's `dependsOn`.
pub(super) struct DependencyAt<'a> {
    container: &'a ContainerAt<'a>,
    d: &'a ContainerDependency,
}

impl Subject for DependencyAt<'_> {}

impl<'a> DependencyAt<'a> {
    #[rustfmt::skip]
    const RULES: &'a [Rule<Self>] = &[
        Rule::one_of("dependsOn.condition", DependencyCondition::NAMES, |d| opt(d.d.condition.as_deref())),
        Rule::Check(dependency_complete),
    ];
}

fn dependency_complete(d: &DependencyAt<'_>) -> R<()> {
    if d.d.condition.is_none() || d.d.container_name.as_deref().is_none_or(str::is_empty) {
        return Err(d.container.invalid_setting(
            "dependsOn",
            "every dependency needs a containerName and a condition.",
        ));
    }
    Ok(())
}

// ---- one port mapping -------------------------------------------------------------------

/// The `j`th port mapping of a container.
pub(super) struct PortAt<'a> {
    container: &'a ContainerAt<'a>,
    j: usize,
    pm: &'a PortMapping,
}

impl Subject for PortAt<'_> {
    fn indices(&self) -> Vec<usize> {
        vec![self.container.i, self.j]
    }

    fn out_of_range(&self, field: &str, why: String) -> ApiError {
        self.container.out_of_range(field, why)
    }
}

impl<'a> PortAt<'a> {
    #[rustfmt::skip]
    const RULES: &'a [Rule<Self>] = &[
        Rule::one_of("containerDefinitions[].portMappings[].protocol", TransportProtocol::NAMES, |p| opt(p.pm.protocol.as_deref())),
        Rule::one_of("containerDefinitions[].portMappings[].appProtocol", AppProtocol::NAMES, |p| opt(p.pm.app_protocol.as_deref())),
        Rule::Check(port_range),
        Rule::Check(container_port),
        // With a range, port_range has refused any hostPort.
        Rule::range("hostPort", (0, 65535), |p| p.pm.host_port.map(i64::from), ""),
        Rule::Check(container_ports_unique),
        Rule::Check(host_port_matches),
        Rule::Check(port_name),
        Rule::Check(port_name_unique),
    ];

    /// The container ports it maps: its range, or its one port.
    fn ports(pm: &PortMapping) -> Option<(u32, u32)> {
        match pm.container_port_range.as_deref() {
            Some(range) => parse_port_range(range),
            None => pm.container_port.map(|p| (p as u32, p as u32)),
        }
    }

    /// "containerDefinitions[i].portMappings[j]".
    fn field(&self) -> String {
        format!(
            "containerDefinitions[{}].portMappings[{}]",
            self.container.i, self.j
        )
    }
}

impl ContainerAt<'_> {
    fn port_mappings(&self) -> impl Iterator<Item = &PortMapping> {
        self.c.port_mappings.iter().flatten()
    }
}

/// A `containerPortRange`: alone, in bridge or awsvpc mode, and well formed.
fn port_range(p: &PortAt<'_>) -> R<()> {
    let Some(range) = p.pm.container_port_range.as_deref() else {
        return Ok(());
    };
    let c = p.container;
    if p.pm.container_port.is_some() {
        return Err(c.invalid_setting(
            "containerPortRange",
            "specify either containerPort or containerPortRange, not both.",
        ));
    }
    if p.pm.host_port.is_some() {
        return Err(c.invalid_setting("hostPort", "hostPort can't be set with containerPortRange."));
    }
    if !matches!(c.task.mode, NetworkMode::Bridge | NetworkMode::Awsvpc) {
        return Err(c.invalid_setting(
            "containerPortRange",
            "port ranges need networkMode bridge or awsvpc.",
        ));
    }
    if parse_port_range(range).is_none() {
        return Err(c.invalid_setting(
            "containerPortRange",
            &format!("'{range}' must be first-last, between 1 and 65535, first less than last."),
        ));
    }
    Ok(())
}

/// Without a range: a `containerPort` from 1 to 65535.
fn container_port(p: &PortAt<'_>) -> R<()> {
    if p.pm.container_port_range.is_none()
        && !p
            .pm
            .container_port
            .is_some_and(|cp| (1..=65535).contains(&cp))
    {
        return Err(p.container.invalid_setting("containerPort", ""));
    }
    Ok(())
}

/// No container port is mapped twice in one container; the answer names the lowest port
/// this mapping shares with an earlier one.
fn container_ports_unique(p: &PortAt<'_>) -> R<()> {
    let Some((first, last)) = PortAt::ports(p.pm) else {
        return Ok(());
    };
    let shared = (p.container.port_mappings().take(p.j))
        .filter_map(PortAt::ports)
        .filter(|(a, b)| *a <= last && first <= *b)
        .map(|(a, _)| a.max(first))
        .min();
    match shared {
        Some(port) => Err(invalid(format!(
            "Container port {port} is used in more than one port mapping for container {}",
            p.container.name
        ))),
        None => Ok(()),
    }
}

/// In awsvpc and host modes a given hostPort is the containerPort.
fn host_port_matches(p: &PortAt<'_>) -> R<()> {
    let mode = p.container.task.mode;
    let mismatch = matches!(mode, NetworkMode::Awsvpc | NetworkMode::Host)
        && p.pm.container_port_range.is_none()
        && p.pm
            .host_port
            .is_some_and(|hp| Some(hp) != p.pm.container_port);
    if mismatch {
        return Err(client(format!(
            "When networkMode={mode}, the host ports and container ports in port mappings must match."
        )));
    }
    Ok(())
}

fn port_name(p: &PortAt<'_>) -> R<()> {
    match p.pm.name.as_deref() {
        Some(pn) if !valid_port_name(pn) => Err(invalid(format!(
            "{}.name '{pn}' is invalid: up to 64 lowercase letters, numbers, underscores and hyphens are allowed, and it can't start with a hyphen.",
            p.field()
        ))),
        _ => Ok(()),
    }
}

/// Port mapping names are unique in the whole task definition.
fn port_name_unique(p: &PortAt<'_>) -> R<()> {
    let Some(pn) = p.pm.name.as_deref() else {
        return Ok(());
    };
    let task = p.container.task;
    let earlier_containers = task.containers()[..p.container.i].iter();
    let mut earlier = (earlier_containers.flat_map(|c| c.port_mappings.iter().flatten()))
        .chain(p.container.port_mappings().take(p.j));
    if earlier.any(|o| o.name.as_deref() == Some(pn)) {
        return Err(invalid(format!(
            "{}.name '{pn}' is used by more than one port mapping: port mapping names must be unique within a task definition.",
            p.field()
        )));
    }
    Ok(())
}
