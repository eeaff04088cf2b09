//! One container's rules, its references to the others, and each of its dependencies.

use berth_awsproto::ApiError;

use super::port::PortAt;
use super::{container_setting, TaskAt, ANY, MIN_MEMORY, SECONDS};
use crate::common::{client, R};
use crate::rules::{inner, opt, Each, Rule, Subject};
use crate::taskdef::record::{DependencyCondition, FirelensType, LogDriver, NetworkMode};
use crate::taskdef::request::{
    ContainerDefinition, ContainerDependency, HealthCheck, PortMapping, Ulimit,
};
use crate::taskdef::syntax::valid_name;

/// The `i`th container of a task whose own members are valid.
#[derive(Clone, Copy)]
pub(super) struct ContainerAt<'a> {
    pub(super) task: TaskAt<'a>,
    pub(super) i: usize,
    pub(super) c: &'a ContainerDefinition,
    /// Its name ("" until [`container_name`] has passed).
    pub(super) name: &'a str,
}

impl Subject for ContainerAt<'_> {
    fn out_of_range(&self, field: &str, why: String) -> ApiError {
        container_setting(field, self.name, &why)
    }
}

impl<'a> ContainerAt<'a> {
    #[rustfmt::skip]
    pub(super) const RULES: &'a [Rule<'a, Self>] = &[
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
        Rule::Part(&Each::new(PortAt::all, PortAt::RULES)),
        Rule::Check(environment_names),
        Rule::Check(environment_files),
        Rule::Check(secrets),
        Rule::Check(health_check_command),
        Rule::range("healthCheck.interval", (5, 300), |c| c.health(|h| h.interval), SECONDS),
        Rule::range("healthCheck.timeout", (2, 60), |c| c.health(|h| h.timeout), SECONDS),
        Rule::range("healthCheck.retries", (1, 10), |c| c.health(|h| h.retries), "it must be between {min} and {max}."),
        Rule::range("healthCheck.startPeriod", (0, 300), |c| c.health(|h| h.start_period), SECONDS),
        Rule::Check(log_driver_given),
        Rule::one_of("logConfiguration.logDriver", LogDriver::NAMES, |c| inner(&c.c.log_configuration, |l| &l.log_driver)),
        Rule::Check(log_secret_options),
        Rule::one_of("firelensConfiguration.type", FirelensType::NAMES, |c| inner(&c.c.firelens_configuration, |f| &f.r#type)),
        Rule::Check(firelens_type_given),
        Rule::Part(&Each::new(DependencyAt::all, DependencyAt::RULES)),
        Rule::Check(mount_points),
        Rule::Check(ulimits),
    ];

    /// Checked once every container has passed [`ContainerAt::RULES`].
    pub(super) const REFERENCES: &'a [Rule<'a, Self>] = &[
        Rule::Check(links_resolve),
        Rule::Check(volumes_from_resolve),
        Rule::Check(dependencies_resolve),
    ];

    /// The task's containers.
    pub(super) fn all(task: &TaskAt<'a>) -> Vec<ContainerAt<'a>> {
        let task = *task;
        (task.containers().iter().enumerate())
            .map(|(i, c)| {
                let name = c.name.as_deref().unwrap_or_default();
                ContainerAt { task, i, c, name }
            })
            .collect()
    }

    /// `Invalid '<field>' setting for container '<name>': <why>`.
    pub(super) fn invalid_setting(&self, field: &str, why: &str) -> ApiError {
        container_setting(field, self.name, why)
    }

    /// A health-check member, for a range row.
    fn health(&self, member: fn(&HealthCheck) -> Option<i32>) -> Option<i64> {
        self.c.health_check.as_ref().and_then(member).map(i64::from)
    }

    /// Its port mappings.
    pub(super) fn port_mappings(&self) -> impl Iterator<Item = &'a PortMapping> {
        self.c.port_mappings.iter().flatten()
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
    let incomplete =
        |u: &Ulimit| u.name.is_none() || u.soft_limit.is_none() || u.hard_limit.is_none();
    if c.c.ulimits.iter().flatten().any(incomplete) {
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
    container: ContainerAt<'a>,
    d: &'a ContainerDependency,
}

impl Subject for DependencyAt<'_> {}

impl<'a> DependencyAt<'a> {
    #[rustfmt::skip]
    const RULES: &'a [Rule<'a, Self>] = &[
        Rule::one_of("dependsOn.condition", DependencyCondition::NAMES, |d| opt(d.d.condition.as_deref())),
        Rule::Check(dependency_complete),
    ];

    /// A container's dependencies.
    fn all(c: &ContainerAt<'a>) -> Vec<DependencyAt<'a>> {
        let container = *c;
        (c.c.depends_on.iter().flatten())
            .map(|d| DependencyAt { container, d })
            .collect()
    }
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
