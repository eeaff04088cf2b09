//! Task definitions: RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies and DeregisterTaskDefinition, plus [`resolve`], which
//! services and tasks use to find the task definition a request names.
//!
//! Each revision is one record at `taskdef_key(ctx, family, revision)` (revisions are
//! zero-padded, so a family's revisions scan in order):
//!
//! ```json
//! {"taskDefinition": { ...the TaskDefinition exactly as the API returns it... },
//!  "tags": [{"key": "k", "value": "v"}]}
//! ```
//!
//! `tags` is always present (an empty list when none); TagResource / UntagResource edit it
//! in place for task-definition ARNs.
//!
//! Registering echoes every member of the request the API model knows (unknown members
//! are dropped, as the service does), normalizes task `cpu` / `memory` to CPU units and
//! MiB, fills the defaults the service shows (`cpu: 0`, `essential: true`, empty
//! `portMappings` / `environment` / `mountPoints` / `volumesFrom`, `protocol: tcp`,
//! `hostPort`, the health-check defaults, empty task `volumes` / `placementConstraints`),
//! and derives `compatibilities` and `requiresAttributes` from the definition.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use berth_awsproto::{decode_token, encode_token, now, parse_input, ApiError, Context};
use berth_store::Read;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::common::{
    check_enum, check_tags, client, invalid, page_size, prune_nulls, tags_json,
    taskdef_family_prefix, taskdef_key, taskdef_prefix, Tag, LOG_DRIVERS, R,
};
use crate::Ecs;

// ---- limits and enums ---------------------------------------------------------------

/// Containers per task definition (a fixed service quota).
const MAX_CONTAINERS: usize = 10;
/// Task-level CPU units accepted (0.125 to 192 vCPU).
const TASK_CPU_RANGE: (u64, u64) = (128, 196_608);

const NETWORK_MODES: &[&str] = &["bridge", "host", "awsvpc", "none"];
const COMPATIBILITIES: &[&str] = &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"];
const FARGATE_LOG_DRIVERS: &[&str] = &["awslogs", "splunk", "awsfirelens"];
const OS_FAMILIES: &[&str] = &[
    "WINDOWS_SERVER_2019_FULL",
    "WINDOWS_SERVER_2019_CORE",
    "WINDOWS_SERVER_2016_FULL",
    "WINDOWS_SERVER_2004_CORE",
    "WINDOWS_SERVER_2022_CORE",
    "WINDOWS_SERVER_2022_FULL",
    "WINDOWS_SERVER_2025_CORE",
    "WINDOWS_SERVER_2025_FULL",
    "WINDOWS_SERVER_20H2_CORE",
    "LINUX",
];

/// Members of RegisterTaskDefinitionRequest echoed into the TaskDefinition (`tags` goes
/// beside it).
const TASK_MEMBERS: &[&str] = &[
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
    "trustedExecutionConfiguration",
];

/// Members of ContainerDefinition.
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

// ---- small parsers ------------------------------------------------------------------

/// Letters, digits, hyphens and underscores, 1 to 255 of them (families, container and
/// volume names).
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A port mapping name: up to 64 lowercase letters, digits, underscores and hyphens, not
/// starting with a hyphen.
fn valid_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A decimal number followed (after optional spaces) by `unit`, case-insensitive.
fn number_with_unit(s: &str, unit: &str) -> Option<f64> {
    let lower = s.trim().to_ascii_lowercase();
    let num = lower.strip_suffix(unit)?.trim_end();
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    num.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// Whole multiples of 1/1024 only: "0.25 vCPU" is 256 units, "0.3 vCPU" is not a unit count.
fn scaled(v: f64) -> Option<u64> {
    let x = v * 1024.0;
    ((x - x.round()).abs() < 1e-6).then_some(x.round() as u64)
}

/// Task `cpu`: CPU units ("1024") or vCPUs ("1 vCPU", "0.5 vcpu").
pub(crate) fn parse_task_cpu(s: &str) -> Option<u64> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    scaled(number_with_unit(t, "vcpu")?)
}

/// Task `memory`: MiB ("2048") or GB ("2 GB", "0.5GB"; 1 GB = 1024 MiB).
pub(crate) fn parse_task_memory(s: &str) -> Option<u64> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    scaled(number_with_unit(t, "gb")?)
}

/// Whether Fargate offers `cpu` units with `memory` MiB.
fn fargate_size_ok(cpu: u64, memory: u64) -> bool {
    let (min, max, step) = match cpu {
        256 => return [512, 1024, 2048].contains(&memory),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122_880, 8192),
        _ => return false,
    };
    (min..=max).contains(&memory) && (memory - min) % step == 0
}

/// A private ECR image: `<account>.dkr.ecr.<region>.amazonaws.com/...`.
fn is_ecr_image(image: &str) -> bool {
    let host = image.split('/').next().unwrap_or_default();
    image.contains('/') && host.contains(".dkr.ecr.") && host.contains(".amazonaws.com")
}

/// `containerPortRange` "first-last", 1 to 65535, first < last.
fn parse_port_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let a: u32 = a.trim().parse().ok()?;
    let b: u32 = b.trim().parse().ok()?;
    (a >= 1 && b <= 65535 && a < b).then_some((a, b))
}

// ---- RegisterTaskDefinition ---------------------------------------------------------

fn container_err(field: &str, name: &str, why: &str) -> ApiError {
    client(format!(
        "Invalid '{field}' setting for container '{name}': {why}"
    ))
}

/// What validation produces: the TaskDefinition without its identity (ARN, revision,
/// status, registration) and the tags.
struct Built {
    family: String,
    td: Map<String, Value>,
    tags: Vec<Tag>,
}

fn build(req: &wire::RegisterTaskDefinitionRequest, raw: &Map<String, Value>) -> R<Built> {
    // family
    let family = match req.family.as_deref() {
        None | Some("") => return Err(client("Family should not be null or empty.")),
        Some(f) if f.len() > 255 => {
            return Err(client("Family must be at most 255 characters long."))
        }
        Some(f) if !valid_name(f) => return Err(client("Family contains invalid characters.")),
        Some(f) => f.to_string(),
    };

    // containers
    let containers = req.container_definitions.as_deref().unwrap_or_default();
    if containers.is_empty() {
        return Err(client("Container list cannot be empty."));
    }
    if containers.len() > MAX_CONTAINERS {
        return Err(client(format!(
            "containerDefinitions: a task definition can have at most {MAX_CONTAINERS} containers, not {}.",
            containers.len()
        )));
    }

    // task-level enums
    check_enum(req.network_mode.as_deref(), "networkMode", NETWORK_MODES)?;
    let mode = req.network_mode.as_deref().unwrap_or("bridge");
    let required: Vec<&str> = req
        .requires_compatibilities
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    for c in &required {
        check_enum(Some(c), "requiresCompatibilities", COMPATIBILITIES)?;
    }
    check_enum(req.pid_mode.as_deref(), "pidMode", &["host", "task"])?;
    check_enum(
        req.ipc_mode.as_deref(),
        "ipcMode",
        &["host", "task", "none"],
    )?;
    if let Some(rp) = &req.runtime_platform {
        check_enum(
            rp.cpu_architecture.as_deref(),
            "runtimePlatform.cpuArchitecture",
            &["X86_64", "ARM64"],
        )?;
        check_enum(
            rp.operating_system_family.as_deref(),
            "runtimePlatform.operatingSystemFamily",
            OS_FAMILIES,
        )?;
    }
    if let Some(pc) = &req.proxy_configuration {
        check_enum(
            pc.r#type.as_deref(),
            "proxyConfiguration.type",
            &["APPMESH"],
        )?;
        if pc.container_name.as_deref().is_none_or(str::is_empty) {
            return Err(client(
                "proxyConfiguration.containerName should not be null or empty.",
            ));
        }
    }

    // task size
    let task_cpu = match req.cpu.as_deref() {
        None => None,
        Some(s) => Some(
            parse_task_cpu(s)
                .filter(|n| (TASK_CPU_RANGE.0..=TASK_CPU_RANGE.1).contains(n))
                .ok_or_else(|| client("Invalid 'cpu' setting for task."))?,
        ),
    };
    let task_memory = match req.memory.as_deref() {
        None => None,
        Some(s) => Some(
            parse_task_memory(s)
                .filter(|n| *n >= 4)
                .ok_or_else(|| client("Invalid 'memory' setting for task."))?,
        ),
    };
    if let Some(es) = &req.ephemeral_storage {
        match es.size_in_gi_b {
            None => return Err(client("ephemeralStorage.sizeInGiB should not be null.")),
            Some(n) if n < 21 => return Err(client("EphemeralStorage size should be at least 21")),
            Some(n) if n > 200 => {
                return Err(client("EphemeralStorage size should be at most 200"))
            }
            Some(_) => {}
        }
    }

    // volumes
    let mut volume_names = HashSet::new();
    for (i, v) in req.volumes.iter().flatten().enumerate() {
        let name = v.name.as_deref().unwrap_or_default();
        if !valid_name(name) {
            return Err(client(format!(
                "volumes[{i}].name '{name}' is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."
            )));
        }
        if !volume_names.insert(name.to_string()) {
            return Err(client(format!(
                "Duplicate volume name '{name}': volume names must be unique."
            )));
        }
        if let Some(efs) = &v.efs_volume_configuration {
            if efs.file_system_id.as_deref().is_none_or(str::is_empty) {
                return Err(client(format!(
                    "volumes[{i}].efsVolumeConfiguration.fileSystemId should not be null or empty."
                )));
            }
            check_enum(
                efs.transit_encryption.as_deref(),
                "efsVolumeConfiguration.transitEncryption",
                &["ENABLED", "DISABLED"],
            )?;
        }
        if let Some(d) = &v.docker_volume_configuration {
            check_enum(
                d.scope.as_deref(),
                "dockerVolumeConfiguration.scope",
                &["task", "shared"],
            )?;
        }
    }

    // placement constraints
    let constraints = req.placement_constraints.as_deref().unwrap_or_default();
    if constraints.len() > 10 {
        return Err(client(
            "placementConstraints: a task definition can have at most 10 placement constraints.",
        ));
    }
    for c in constraints {
        check_enum(
            c.r#type.as_deref(),
            "placementConstraints.type",
            &["memberOf"],
        )?;
    }

    // tags
    let tags = req.tags.clone().unwrap_or_default();
    check_tags(&tags)?;

    // container definitions, one by one
    let raw_containers = raw
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut names: Vec<String> = Vec::new();
    let mut port_names = HashSet::new();
    let mut out_containers = Vec::new();
    let mut any_essential = false;
    let (mut cpu_sum, mut memory_sum) = (0u64, 0u64);
    for (i, (c, rc)) in containers.iter().zip(raw_containers.iter()).enumerate() {
        let name = match c.name.as_deref() {
            None | Some("") => return Err(client("Container.name should not be null or empty.")),
            Some(n) if !valid_name(n) => {
                return Err(client("Container.name contains invalid characters."))
            }
            Some(n) => n.to_string(),
        };
        if names.contains(&name) {
            return Err(client(format!(
                "Duplicate container name '{name}': container names must be unique within a task definition."
            )));
        }
        names.push(name.clone());
        match c.image.as_deref() {
            None | Some("") => return Err(client("Container.image should not be null or empty.")),
            Some(img)
                if img.len() > 4096
                    || img.chars().any(|ch| ch.is_whitespace() || ch.is_control()) =>
            {
                return Err(client("Container.image contains invalid characters."))
            }
            Some(_) => {}
        }

        // resources
        let cpu = c.cpu.unwrap_or(0);
        if cpu < 0 {
            return Err(container_err(
                "cpu",
                &name,
                "it must be 0 or more CPU units.",
            ));
        }
        cpu_sum += cpu as u64;
        for (field, v) in [
            ("memory", c.memory),
            ("memoryReservation", c.memory_reservation),
        ] {
            if let Some(m) = v {
                if m < 4 {
                    return Err(container_err(field, &name, "it must be at least 4 MiB."));
                }
            }
        }
        if let (Some(hard), Some(soft)) = (c.memory, c.memory_reservation) {
            if soft > hard {
                return Err(container_err(
                    "memoryReservation",
                    &name,
                    "it must be less than or equal to 'memory'.",
                ));
            }
        }
        if task_memory.is_none() && c.memory.is_none() && c.memory_reservation.is_none() {
            return Err(client(format!(
                "Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."
            )));
        }
        if let (Some(tm), Some(m)) = (task_memory, c.memory) {
            if m as u64 > tm {
                return Err(container_err(
                    "memory",
                    &name,
                    &format!("the container memory ({m} MiB) exceeds the task memory ({tm} MiB)."),
                ));
            }
        }
        memory_sum += c.memory_reservation.or(c.memory).unwrap_or(0) as u64;
        if c.essential.unwrap_or(true) {
            any_essential = true;
        }
        if mode != "bridge" && c.links.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(container_err(
                "links",
                &name,
                &format!("links are not supported when networkMode={mode}."),
            ));
        }

        // port mappings
        let raw_pms = rc
            .get("portMappings")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let pms = c.port_mappings.as_deref().unwrap_or_default();
        if mode == "none" && !pms.is_empty() {
            return Err(container_err(
                "portMappings",
                &name,
                "port mappings are not supported when networkMode=none.",
            ));
        }
        let mut container_ports = HashSet::new();
        let mut out_pms = Vec::new();
        for (j, (pm, rpm)) in pms.iter().zip(raw_pms.iter()).enumerate() {
            let mut opm = rpm.as_object().cloned().unwrap_or_default();
            let field = format!("containerDefinitions[{i}].portMappings[{j}]");
            check_enum(
                pm.protocol.as_deref(),
                &format!("{field}.protocol"),
                &["tcp", "udp"],
            )?;
            check_enum(
                pm.app_protocol.as_deref(),
                &format!("{field}.appProtocol"),
                &["http", "http2", "grpc"],
            )?;
            if let Some(range) = pm.container_port_range.as_deref() {
                if pm.container_port.is_some() {
                    return Err(container_err(
                        "containerPortRange",
                        &name,
                        "specify either containerPort or containerPortRange, not both.",
                    ));
                }
                if pm.host_port.is_some() {
                    return Err(container_err(
                        "hostPort",
                        &name,
                        "hostPort can't be set with containerPortRange.",
                    ));
                }
                if !matches!(mode, "bridge" | "awsvpc") {
                    return Err(container_err(
                        "containerPortRange",
                        &name,
                        "port ranges need networkMode bridge or awsvpc.",
                    ));
                }
                let (a, b) = parse_port_range(range).ok_or_else(|| {
                    container_err(
                        "containerPortRange",
                        &name,
                        &format!("'{range}' must be first-last, between 1 and 65535, first less than last."),
                    )
                })?;
                for p in a..=b {
                    if !container_ports.insert(p as i32) {
                        return Err(invalid(format!(
                            "Container port {p} is used in more than one port mapping for container {name}"
                        )));
                    }
                }
            } else {
                let cp = pm
                    .container_port
                    .filter(|p| (1..=65535).contains(p))
                    .ok_or_else(|| {
                        client(format!(
                            "Invalid 'containerPort' setting for container '{name}'."
                        ))
                    })?;
                if let Some(hp) = pm.host_port {
                    if !(0..=65535).contains(&hp) {
                        return Err(client(format!(
                            "Invalid 'hostPort' setting for container '{name}'."
                        )));
                    }
                }
                if !container_ports.insert(cp) {
                    return Err(invalid(format!(
                        "Container port {cp} is used in more than one port mapping for container {name}"
                    )));
                }
                match mode {
                    "awsvpc" | "host" => {
                        if pm.host_port.is_some_and(|hp| hp != cp) {
                            return Err(client(format!(
                                "When networkMode={mode}, the host ports and container ports in port mappings must match."
                            )));
                        }
                        opm.insert("hostPort".into(), json!(cp));
                    }
                    _ => {
                        opm.entry("hostPort").or_insert(json!(0));
                    }
                }
            }
            opm.entry("protocol").or_insert(json!("tcp"));
            if let Some(pn) = pm.name.as_deref() {
                if !valid_port_name(pn) {
                    return Err(invalid(format!(
                        "{field}.name '{pn}' is invalid: up to 64 lowercase letters, numbers, underscores and hyphens are allowed, and it can't start with a hyphen."
                    )));
                }
                if !port_names.insert(pn.to_string()) {
                    return Err(invalid(format!(
                        "{field}.name '{pn}' is used by more than one port mapping: port mapping names must be unique within a task definition."
                    )));
                }
            }
            out_pms.push(Value::Object(opm));
        }

        // environment and secrets
        for (k, e) in c.environment.iter().flatten().enumerate() {
            if e.name.as_deref().is_none_or(str::is_empty) {
                return Err(container_err(
                    &format!("environment[{k}].name"),
                    &name,
                    "every environment variable needs a name.",
                ));
            }
        }
        for (k, f) in c.environment_files.iter().flatten().enumerate() {
            if f.value.as_deref().is_none_or(str::is_empty) {
                return Err(container_err(
                    &format!("environmentFiles[{k}].value"),
                    &name,
                    "the S3 object ARN is required.",
                ));
            }
            if f.r#type.as_deref() != Some("s3") {
                return Err(container_err(
                    &format!("environmentFiles[{k}].type"),
                    &name,
                    "the type must be s3.",
                ));
            }
        }
        for (k, s) in c.secrets.iter().flatten().enumerate() {
            if s.name.as_deref().is_none_or(str::is_empty) {
                return Err(container_err(
                    &format!("secrets[{k}].name"),
                    &name,
                    "every secret needs a name.",
                ));
            }
            if s.value_from.as_deref().is_none_or(str::is_empty) {
                return Err(container_err(
                    &format!("secrets[{k}].valueFrom"),
                    &name,
                    "every secret needs a valueFrom.",
                ));
            }
        }

        // health check
        let mut out_hc = None;
        if let Some(hc) = &c.health_check {
            let cmd = hc.command.as_deref().unwrap_or_default();
            match cmd.first().map(String::as_str) {
                None => {
                    return Err(container_err(
                        "healthCheck.command",
                        &name,
                        "the command is required.",
                    ))
                }
                Some("NONE") => {}
                Some("CMD") | Some("CMD-SHELL") if cmd.len() >= 2 => {}
                Some("CMD") | Some("CMD-SHELL") => {
                    return Err(container_err(
                        "healthCheck.command",
                        &name,
                        "the command is missing after CMD or CMD-SHELL.",
                    ))
                }
                Some(_) => {
                    return Err(container_err(
                        "healthCheck.command",
                        &name,
                        "the command must start with CMD or CMD-SHELL.",
                    ))
                }
            }
            for (field, v, lo, hi) in [
                ("interval", hc.interval, 5, 300),
                ("timeout", hc.timeout, 2, 60),
                ("retries", hc.retries, 1, 10),
                ("startPeriod", hc.start_period, 0, 300),
            ] {
                if let Some(v) = v {
                    if !(lo..=hi).contains(&v) {
                        let unit = if field == "retries" { "" } else { " seconds" };
                        return Err(container_err(
                            &format!("healthCheck.{field}"),
                            &name,
                            &format!("it must be between {lo} and {hi}{unit}."),
                        ));
                    }
                }
            }
            let mut h = rc
                .get("healthCheck")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            h.entry("interval").or_insert(json!(30));
            h.entry("timeout").or_insert(json!(5));
            h.entry("retries").or_insert(json!(3));
            out_hc = Some(Value::Object(h));
        }

        // logging
        if let Some(lc) = &c.log_configuration {
            let driver = lc.log_driver.as_deref().ok_or_else(|| {
                container_err(
                    "logConfiguration.logDriver",
                    &name,
                    "the log driver is required.",
                )
            })?;
            check_enum(Some(driver), "logConfiguration.logDriver", LOG_DRIVERS)?;
            for (k, s) in lc.secret_options.iter().flatten().enumerate() {
                if s.name.as_deref().is_none_or(str::is_empty)
                    || s.value_from.as_deref().is_none_or(str::is_empty)
                {
                    return Err(container_err(
                        &format!("logConfiguration.secretOptions[{k}]"),
                        &name,
                        "every secret option needs a name and a valueFrom.",
                    ));
                }
            }
        }
        if let Some(f) = &c.firelens_configuration {
            check_enum(
                f.r#type.as_deref(),
                "firelensConfiguration.type",
                &["fluentd", "fluentbit"],
            )?;
            if f.r#type.is_none() {
                return Err(container_err(
                    "firelensConfiguration.type",
                    &name,
                    "the type is required.",
                ));
            }
        }
        for d in c.depends_on.iter().flatten() {
            check_enum(
                d.condition.as_deref(),
                "dependsOn.condition",
                &["START", "COMPLETE", "SUCCESS", "HEALTHY"],
            )?;
            if d.condition.is_none() || d.container_name.as_deref().is_none_or(str::is_empty) {
                return Err(container_err(
                    "dependsOn",
                    &name,
                    "every dependency needs a containerName and a condition.",
                ));
            }
        }
        for (k, mp) in c.mount_points.iter().flatten().enumerate() {
            let v = mp.source_volume.as_deref().unwrap_or_default();
            if !volume_names.contains(v) {
                return Err(container_err(
                    &format!("mountPoints[{k}].sourceVolume"),
                    &name,
                    &format!("the volume '{v}' is not defined in the task definition's volumes."),
                ));
            }
            if mp.container_path.as_deref().is_none_or(str::is_empty) {
                return Err(container_err(
                    &format!("mountPoints[{k}].containerPath"),
                    &name,
                    "the container path is required.",
                ));
            }
        }
        for u in c.ulimits.iter().flatten() {
            if u.name.is_none() || u.soft_limit.is_none() || u.hard_limit.is_none() {
                return Err(container_err(
                    "ulimits",
                    &name,
                    "every ulimit needs a name, a softLimit and a hardLimit.",
                ));
            }
        }

        // the container as the API shows it
        let mut oc: Map<String, Value> = rc
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| CONTAINER_MEMBERS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        oc.insert("cpu".into(), json!(cpu));
        oc.insert("portMappings".into(), Value::Array(out_pms));
        oc.entry("essential").or_insert(json!(true));
        for empty in ["environment", "mountPoints", "volumesFrom"] {
            oc.entry(empty).or_insert(json!([]));
        }
        if let Some(h) = out_hc {
            oc.insert("healthCheck".into(), h);
        }
        out_containers.push(Value::Object(oc));
    }
    if !any_essential {
        return Err(client(
            "A task definition must have at least one essential container.",
        ));
    }

    // references between containers
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        for l in c.links.iter().flatten() {
            let target = l.split(':').next().unwrap_or_default();
            if target == name || !names.iter().any(|n| n == target) {
                return Err(container_err(
                    "links",
                    name,
                    &format!("'{l}' does not name another container of the task definition."),
                ));
            }
        }
        for vf in c.volumes_from.iter().flatten() {
            let src = vf.source_container.as_deref().unwrap_or_default();
            if src == name || !names.iter().any(|n| n == src) {
                return Err(container_err(
                    "volumesFrom",
                    name,
                    &format!("'{src}' does not name another container of the task definition."),
                ));
            }
        }
        for d in c.depends_on.iter().flatten() {
            let target = d.container_name.as_deref().unwrap_or_default();
            let Some(t) = containers
                .iter()
                .find(|o| o.name.as_deref() == Some(target))
                .filter(|_| target != name)
            else {
                return Err(container_err(
                    "dependsOn",
                    name,
                    &format!("'{target}' does not name another container of the task definition."),
                ));
            };
            if d.condition.as_deref() == Some("HEALTHY") && t.health_check.is_none() {
                return Err(container_err(
                    "dependsOn",
                    name,
                    &format!("the HEALTHY condition needs a healthCheck on container '{target}'."),
                ));
            }
        }
    }
    if let Some(tc) = task_cpu {
        if cpu_sum > tc {
            return Err(client(format!(
                "Invalid 'cpu' setting for task: the containers' cpu ({cpu_sum}) exceeds the task cpu ({tc})."
            )));
        }
    }
    if let Some(tm) = task_memory {
        if memory_sum > tm {
            return Err(client(format!(
                "Invalid 'memory' setting for task: the containers' memory ({memory_sum} MiB) exceeds the task memory ({tm} MiB)."
            )));
        }
    }

    // launch types
    let fargate_problem = fargate_problem(req, mode, task_cpu, task_memory);
    if required.contains(&"FARGATE") {
        if let Some(p) = &fargate_problem {
            return Err(client(p.clone()));
        }
    }
    if required.contains(&"EXTERNAL") && mode == "awsvpc" {
        return Err(client("EXTERNAL does not support network mode 'awsvpc'."));
    }
    let mut compatibilities = Vec::new();
    if mode == "awsvpc" {
        compatibilities.push("EC2");
        if fargate_problem.is_none() {
            compatibilities.push("FARGATE");
        }
    } else {
        compatibilities.extend(["EXTERNAL", "EC2"]);
    }
    if required.contains(&"MANAGED_INSTANCES") {
        compatibilities.push("MANAGED_INSTANCES");
    }

    // the task definition as the API shows it
    let mut td: Map<String, Value> = raw
        .iter()
        .filter(|(k, _)| TASK_MEMBERS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    td.insert("containerDefinitions".into(), Value::Array(out_containers));
    if let Some(c) = task_cpu {
        td.insert("cpu".into(), json!(c.to_string()));
    }
    if let Some(m) = task_memory {
        td.insert("memory".into(), json!(m.to_string()));
    }
    td.entry("volumes").or_insert(json!([]));
    td.entry("placementConstraints").or_insert(json!([]));
    td.insert("compatibilities".into(), json!(compatibilities));
    td.insert(
        "requiresAttributes".into(),
        Value::Array(
            requires_attributes(req, mode)
                .into_iter()
                .map(|n| json!({ "name": n }))
                .collect(),
        ),
    );
    Ok(Built { family, td, tags })
}

/// Why the definition can't run on Fargate, as the service words it; None when it can.
fn fargate_problem(
    req: &wire::RegisterTaskDefinitionRequest,
    mode: &str,
    cpu: Option<u64>,
    memory: Option<u64>,
) -> Option<String> {
    if mode != "awsvpc" {
        return Some("Fargate only supports network mode 'awsvpc'.".into());
    }
    let Some(cpu) = cpu else {
        return Some("Fargate requires that 'cpu' be defined at the task level.".into());
    };
    let Some(memory) = memory else {
        return Some("Fargate requires that 'memory' be defined at the task level.".into());
    };
    if !fargate_size_ok(cpu, memory) {
        return Some(format!(
            "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
        ));
    }
    if req.pid_mode.as_deref() == Some("host") {
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
    for v in req.volumes.iter().flatten() {
        if v.host.as_ref().is_some_and(|h| h.source_path.is_some()) {
            return Some(format!(
                "Fargate does not support host volumes with a sourcePath (volume '{}').",
                v.name.as_deref().unwrap_or_default()
            ));
        }
        if v.docker_volume_configuration.is_some() {
            return Some(format!(
                "Fargate does not support dockerVolumeConfiguration (volume '{}').",
                v.name.as_deref().unwrap_or_default()
            ));
        }
    }
    for c in req.container_definitions.iter().flatten() {
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
        if let Some(driver) = c
            .log_configuration
            .as_ref()
            .and_then(|l| l.log_driver.as_deref())
        {
            if !FARGATE_LOG_DRIVERS.contains(&driver) {
                return Some(format!(
                    "Fargate does not support log driver '{driver}' (container '{name}'): use awslogs, splunk or awsfirelens."
                ));
            }
            if driver == "awslogs" && req.execution_role_arn.is_none() {
                return Some(
                    "Fargate requires task definition to have execution role ARN to support log driver awslogs.".into(),
                );
            }
        }
    }
    None
}

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

/// The container-instance attributes a task of this definition needs, derived the way
/// the service derives them: log drivers, roles, ECR pulls, secrets, health checks,
/// task networking, volumes and the Docker Remote API versions of the features used.
fn requires_attributes(req: &wire::RegisterTaskDefinitionRequest, mode: &str) -> Vec<String> {
    let mut set = BTreeSet::new();
    let mut add = |prefix: &str, name: &str| {
        set.insert(format!("{prefix}{name}"));
    };
    let execution_role = req.execution_role_arn.is_some();
    if req.task_role_arn.is_some() {
        add(CAP, "task-iam-role");
    }
    if mode == "awsvpc" {
        add(ECS_CAP, "task-eni");
    }
    if req.pid_mode.is_some() || req.ipc_mode.is_some() {
        add(ECS_CAP, "pid-ipc-namespace-sharing");
    }
    if req.proxy_configuration.is_some() {
        add(ECS_CAP, "aws-appmesh");
    }
    for v in req.volumes.iter().flatten() {
        if let Some(efs) = &v.efs_volume_configuration {
            add(ECS_CAP, "efs");
            add(CAP, "docker-remote-api.1.25");
            if efs.authorization_config.is_some() {
                add(ECS_CAP, "efsAuth");
            }
        }
        if let Some(d) = &v.docker_volume_configuration {
            add(CAP, "docker-remote-api.1.25");
            add(
                ECS_CAP,
                &format!("docker-plugin.{}", d.driver.as_deref().unwrap_or("local")),
            );
        }
        if v.fsx_windows_file_server_volume_configuration.is_some() {
            add(ECS_CAP, "fsxWindowsFileServer");
        }
    }
    for c in req.container_definitions.iter().flatten() {
        if let Some(lc) = &c.log_configuration {
            let driver = lc.log_driver.as_deref().unwrap_or_default();
            add(CAP, "docker-remote-api.1.18");
            add(CAP, &format!("logging-driver.{driver}"));
            if driver == "awslogs" {
                add(CAP, "docker-remote-api.1.19");
                if execution_role {
                    add(ECS_CAP, "execution-role-awslogs");
                }
            }
            if lc.options.as_ref().is_some_and(|o| o.contains_key("mode")) {
                add(CAP, "docker-remote-api.1.28");
            }
            if let Some(so) = &lc.secret_options {
                add(CAP, "docker-remote-api.1.29");
                for s in so {
                    let store = if s
                        .value_from
                        .as_deref()
                        .unwrap_or_default()
                        .contains(":secretsmanager:")
                    {
                        "asm"
                    } else {
                        "ssm"
                    };
                    add(ECS_CAP, &format!("secrets.{store}.bootstrap.log-driver"));
                }
            }
        }
        if let Some(hc) = &c.health_check {
            add(ECS_CAP, "container-health-check");
            add(
                CAP,
                if hc.start_period.is_some() {
                    "docker-remote-api.1.29"
                } else {
                    "docker-remote-api.1.24"
                },
            );
        }
        if is_ecr_image(c.image.as_deref().unwrap_or_default()) {
            add(CAP, "ecr-auth");
            if execution_role {
                add(ECS_CAP, "execution-role-ecr-pull");
            }
        }
        if c.memory_reservation.is_some() {
            add(CAP, "docker-remote-api.1.21");
        }
        if c.docker_labels.as_ref().is_some_and(|l| !l.is_empty())
            || c.ulimits.as_ref().is_some_and(|u| !u.is_empty())
        {
            add(CAP, "docker-remote-api.1.18");
        }
        for s in c.secrets.iter().flatten() {
            let store = if s
                .value_from
                .as_deref()
                .unwrap_or_default()
                .contains(":secretsmanager:")
            {
                "asm"
            } else {
                "ssm"
            };
            add(ECS_CAP, &format!("secrets.{store}.environment-variables"));
        }
        if c.environment_files.as_ref().is_some_and(|f| !f.is_empty()) {
            add(ECS_CAP, "env-files.s3");
        }
        if c.depends_on.as_ref().is_some_and(|d| !d.is_empty())
            || c.start_timeout.is_some()
            || c.stop_timeout.is_some()
        {
            add(ECS_CAP, "container-ordering");
        }
        if c.linux_parameters
            .as_ref()
            .and_then(|l| l.init_process_enabled)
            == Some(true)
        {
            add(CAP, "docker-remote-api.1.25");
        }
        if c.repository_credentials.is_some() {
            add(CAP, "private-registry-authentication.secretsmanager");
        }
        if let Some(t) = c
            .firelens_configuration
            .as_ref()
            .and_then(|f| f.r#type.as_deref())
        {
            add(ECS_CAP, &format!("firelens.{t}"));
        }
    }
    let mut v: Vec<String> = set.into_iter().collect();
    v.sort_by(|a, b| {
        attribute_rank(a)
            .cmp(&attribute_rank(b))
            .then_with(|| a.cmp(b))
    });
    v
}

/// The highest revision a family ever had (ACTIVE or not), 0 when it has none.
fn last_revision(r: &impl Read, ctx: &Context, family: &str) -> R<u64> {
    let prefix = taskdef_family_prefix(ctx, family);
    let mut after: Option<String> = None;
    let mut last = 0;
    loop {
        let chunk = r.scan(&prefix, after.as_deref(), 1000)?;
        let n = chunk.len();
        if let Some((k, _)) = chunk.last() {
            last = k[prefix.len()..].parse().unwrap_or(last);
            after = Some(k.clone());
        }
        if n < 1000 {
            return Ok(last);
        }
    }
}

/// RegisterTaskDefinition.
pub fn register(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let mut input = input;
    prune_nulls(&mut input);
    let raw = match &input {
        Value::Object(m) => m.clone(),
        _ => {
            return Err(ApiError::serialization(
                "Request body does not match the input shape: expected an object.",
            ))
        }
    };
    let req: wire::RegisterTaskDefinitionRequest = parse_input(input)?;
    let Built {
        family,
        mut td,
        tags,
    } = build(&req, &raw)?;
    let (out, _) = ecs.store().write(|w| {
        let revision = last_revision(w, ctx, &family)? + 1;
        td.insert(
            "taskDefinitionArn".into(),
            json!(ctx.arn("ecs", &format!("task-definition/{family}:{revision}"))),
        );
        td.insert("revision".into(), json!(revision));
        td.insert("status".into(), json!("ACTIVE"));
        td.insert("registeredAt".into(), json!(now()));
        td.insert(
            "registeredBy".into(),
            json!(format!("arn:aws:iam::{}:root", ctx.account)),
        );
        let record = json!({ "taskDefinition": td, "tags": tags_json(&tags) });
        w.put_json(&taskdef_key(ctx, &family, revision), &record)?;
        let mut out = json!({ "taskDefinition": record["taskDefinition"] });
        if !tags.is_empty() {
            out["tags"] = record["tags"].clone();
        }
        Ok::<_, ApiError>(out)
    })?;
    Ok(out)
}

// ---- finding task definitions -------------------------------------------------------

/// A reference split into family and revision (None: the latest ACTIVE one). None when
/// the reference can't name a task definition of this account and region.
fn parse_reference(ctx: &Context, reference: &str) -> Option<(String, Option<u64>)> {
    let rest = if reference.starts_with("arn:") {
        let parts: Vec<&str> = reference.splitn(6, ':').collect();
        if parts.len() != 6
            || parts[2] != "ecs"
            || parts[3] != ctx.region
            || parts[4] != ctx.account
        {
            return None;
        }
        let resource = reference.splitn(6, ':').nth(5)?;
        resource.strip_prefix("task-definition/")?
    } else {
        reference
    };
    let (family, revision) = match rest.split_once(':') {
        Some((f, r)) => (f, Some(r.parse::<u64>().ok().filter(|n| *n >= 1)?)),
        None => (rest, None),
    };
    valid_name(family).then(|| (family.to_string(), revision))
}

/// The record (`{taskDefinition, tags}`) a reference names, with its key.
fn find(r: &impl Read, ctx: &Context, reference: &str) -> R<Option<(String, Value)>> {
    let Some((family, revision)) = parse_reference(ctx, reference) else {
        return Ok(None);
    };
    if let Some(rev) = revision {
        let key = taskdef_key(ctx, &family, rev);
        return Ok(r.get_json::<Value>(&key)?.map(|rec| (key, rec)));
    }
    let prefix = taskdef_family_prefix(ctx, &family);
    let mut after: Option<String> = None;
    let mut latest = None;
    loop {
        let chunk = r.scan_json::<Value>(&prefix, after.as_deref(), 1000)?;
        let n = chunk.len();
        after = chunk.last().map(|(k, _)| k.clone()).or(after);
        for (k, rec) in chunk {
            if rec["taskDefinition"]["status"] == "ACTIVE" {
                latest = Some((k, rec));
            }
        }
        if n < 1000 {
            return Ok(latest);
        }
    }
}

/// Used by services and tasks: `family` (its latest ACTIVE revision), `family:revision`,
/// or a task-definition ARN. Returns the TaskDefinition as the API shows it, or None.
pub fn resolve(r: &impl Read, ctx: &Context, reference: &str) -> R<Option<Value>> {
    Ok(find(r, ctx, reference)?.map(|(_, mut rec)| rec["taskDefinition"].take()))
}

// ---- DescribeTaskDefinition / DeregisterTaskDefinition ------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    task_definition: Option<String>,
    include: Option<Vec<String>>,
}

/// DescribeTaskDefinition.
pub fn describe(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DescribeInput = parse_input(input)?;
    let reference = i
        .task_definition
        .ok_or_else(|| invalid("taskDefinition is required."))?;
    let mut with_tags = false;
    for f in i.include.iter().flatten() {
        check_enum(Some(f), "include", &["TAGS"])?;
        with_tags = true;
    }
    let (_, mut rec) = ecs
        .store()
        .read(|r| find(r, ctx, &reference))?
        .ok_or_else(|| client("Unable to describe task definition."))?;
    let mut out = json!({ "taskDefinition": rec["taskDefinition"].take() });
    if with_tags {
        out["tags"] = if rec["tags"].is_array() {
            rec["tags"].take()
        } else {
            json!([])
        };
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeregisterInput {
    task_definition: Option<String>,
}

/// DeregisterTaskDefinition: the revision becomes INACTIVE (deregistering an INACTIVE
/// revision again returns it unchanged).
pub fn deregister(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DeregisterInput = parse_input(input)?;
    let reference = i
        .task_definition
        .ok_or_else(|| invalid("taskDefinition is required."))?;
    let rest = reference
        .strip_prefix("arn:")
        .and_then(|_| reference.split_once("task-definition/").map(|(_, r)| r))
        .unwrap_or(&reference);
    match rest.split_once(':') {
        None => {
            return Err(client(format!(
                "Invalid revision number. Number: {rest}: taskDefinition must be family:revision or a task definition ARN."
            )))
        }
        Some((_, rev)) if rev.parse::<u64>().map_or(true, |n| n == 0) => {
            return Err(client(format!("Invalid revision number. Number: {rev}")))
        }
        Some(_) => {}
    }
    let (td, _) = ecs.store().write(|w| {
        let (key, mut rec) = find(w, ctx, &reference)?
            .ok_or_else(|| client("The specified task definition does not exist."))?;
        if rec["taskDefinition"]["status"] == "ACTIVE" {
            rec["taskDefinition"]["status"] = json!("INACTIVE");
            rec["taskDefinition"]["deregisteredAt"] = json!(now());
            w.put_json(&key, &rec)?;
        }
        Ok::<_, ApiError>(rec["taskDefinition"].take())
    })?;
    Ok(json!({ "taskDefinition": td }))
}

// ---- ListTaskDefinitions / ListTaskDefinitionFamilies -------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    family_prefix: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    next_token: Option<String>,
    max_results: Option<i32>,
}

/// Every record under `prefix`, in key order.
fn scan_all(r: &impl Read, prefix: &str) -> R<Vec<(String, Value)>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let chunk = r.scan_json::<Value>(prefix, after.as_deref(), 1000)?;
        let n = chunk.len();
        after = chunk.last().map(|(k, _)| k.clone()).or(after);
        out.extend(chunk);
        if n < 1000 {
            return Ok(out);
        }
    }
}

/// ListTaskDefinitions: ARNs by family name then revision (ASC, the default) or the
/// reverse (DESC). `familyPrefix` is a whole family name, as in the service.
pub fn list(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListInput = parse_input(input)?;
    check_enum(
        i.status.as_deref(),
        "status",
        &["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"],
    )?;
    check_enum(i.sort.as_deref(), "sort", &["ASC", "DESC"])?;
    let size = page_size(i.max_results.map(i64::from), 100, 100)?;
    let status = i.status.as_deref().unwrap_or("ACTIVE");
    let desc = i.sort.as_deref() == Some("DESC");
    let cursor = match &i.next_token {
        Some(t) => {
            let k = decode_token(t, "nextToken", "InvalidParameterException")?;
            let (f, r) = k
                .rsplit_once(':')
                .and_then(|(f, r)| Some((f.to_string(), r.parse::<u64>().ok()?)))
                .ok_or_else(|| invalid("nextToken is not a valid pagination token"))?;
            Some((f, r))
        }
        None => None,
    };
    let prefix = match i.family_prefix.as_deref() {
        Some(f) if !valid_name(f) => return Ok(json!({ "taskDefinitionArns": [] })),
        Some(f) => taskdef_family_prefix(ctx, f),
        None => taskdef_prefix(ctx),
    };
    let records = ecs.store().read(|r| scan_all(r, &prefix))?;
    let mut items: Vec<(String, u64, String)> = records
        .into_iter()
        .filter(|(_, rec)| rec["taskDefinition"]["status"] == status)
        .filter_map(|(_, rec)| {
            let td = &rec["taskDefinition"];
            Some((
                td["family"].as_str()?.to_string(),
                td["revision"].as_u64()?,
                td["taskDefinitionArn"].as_str()?.to_string(),
            ))
        })
        .collect();
    let order = |a: (&str, u64), b: (&str, u64)| {
        let o = a.0.cmp(b.0).then(a.1.cmp(&b.1));
        if desc {
            o.reverse()
        } else {
            o
        }
    };
    items.sort_by(|a, b| order((&a.0, a.1), (&b.0, b.1)));
    let start = match &cursor {
        Some((f, r)) => items
            .iter()
            .position(|x| order((&x.0, x.1), (f, *r)) == Ordering::Greater)
            .unwrap_or(items.len()),
        None => 0,
    };
    let page = &items[start..(start + size).min(items.len())];
    let mut out =
        json!({ "taskDefinitionArns": page.iter().map(|x| x.2.clone()).collect::<Vec<_>>() });
    if start + size < items.len() {
        if let Some(last) = page.last() {
            out["nextToken"] = json!(encode_token(&format!("{}:{}", last.0, last.1)));
        }
    }
    Ok(out)
}

/// ListTaskDefinitionFamilies: family names beginning with `familyPrefix`; ACTIVE ones
/// have an ACTIVE revision, INACTIVE ones have none; ALL (the default) lists both.
pub fn list_families(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListInput = parse_input(input)?;
    check_enum(
        i.status.as_deref(),
        "status",
        &["ACTIVE", "INACTIVE", "ALL"],
    )?;
    let size = page_size(i.max_results.map(i64::from), 100, 100)?;
    let status = i.status.as_deref().unwrap_or("ALL");
    let after = match &i.next_token {
        Some(t) => Some(decode_token(t, "nextToken", "InvalidParameterException")?),
        None => None,
    };
    let family_prefix = i.family_prefix.as_deref().unwrap_or("");
    let prefix = format!("{}{family_prefix}", taskdef_prefix(ctx));
    let records = ecs.store().read(|r| scan_all(r, &prefix))?;
    let mut families: BTreeMap<String, bool> = BTreeMap::new();
    for (_, rec) in records {
        let td = &rec["taskDefinition"];
        if let Some(f) = td["family"]
            .as_str()
            .filter(|f| f.starts_with(family_prefix))
        {
            *families.entry(f.to_string()).or_default() |= td["status"] == "ACTIVE";
        }
    }
    let matching: Vec<String> = families
        .into_iter()
        .filter(|(_, active)| match status {
            "ACTIVE" => *active,
            "INACTIVE" => !*active,
            _ => true,
        })
        .map(|(f, _)| f)
        .filter(|f| after.as_deref().is_none_or(|a| f.as_str() > a))
        .collect();
    let page: Vec<String> = matching.iter().take(size).cloned().collect();
    let mut out = json!({ "families": page });
    if matching.len() > size {
        out["nextToken"] = json!(encode_token(&matching[size - 1]));
    }
    Ok(out)
}

/// The input shape of RegisterTaskDefinition, member by member as the API model has it,
/// so a member of the wrong JSON type is a SerializationException naming it. Only read
/// for validation; the output echoes the request itself. Every struct ends with a
/// flattened `unknown` (members the model doesn't have, ignored): a struct with a
/// flattened member decodes from a JSON object only, where serde would otherwise also
/// take an array of the members' values in order.
#[allow(dead_code)]
mod wire {
    use std::collections::BTreeMap;

    use serde::de::IgnoredAny;
    use serde::Deserialize;

    use crate::common::Tag;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RegisterTaskDefinitionRequest {
        pub family: Option<String>,
        pub task_role_arn: Option<String>,
        pub execution_role_arn: Option<String>,
        pub network_mode: Option<String>,
        pub container_definitions: Option<Vec<ContainerDefinition>>,
        pub volumes: Option<Vec<Volume>>,
        pub placement_constraints: Option<Vec<TaskDefinitionPlacementConstraint>>,
        pub requires_compatibilities: Option<Vec<String>>,
        pub cpu: Option<String>,
        pub memory: Option<String>,
        pub tags: Option<Vec<Tag>>,
        pub pid_mode: Option<String>,
        pub ipc_mode: Option<String>,
        pub proxy_configuration: Option<ProxyConfiguration>,
        pub inference_accelerators: Option<Vec<InferenceAccelerator>>,
        pub ephemeral_storage: Option<EphemeralStorage>,
        pub runtime_platform: Option<RuntimePlatform>,
        pub enable_fault_injection: Option<bool>,
        pub trusted_execution_configuration: Option<TrustedExecutionConfiguration>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ContainerDefinition {
        pub name: Option<String>,
        pub image: Option<String>,
        pub repository_credentials: Option<RepositoryCredentials>,
        pub cpu: Option<i32>,
        pub memory: Option<i32>,
        pub memory_reservation: Option<i32>,
        pub links: Option<Vec<String>>,
        pub port_mappings: Option<Vec<PortMapping>>,
        pub essential: Option<bool>,
        pub restart_policy: Option<ContainerRestartPolicy>,
        pub entry_point: Option<Vec<String>>,
        pub command: Option<Vec<String>>,
        pub environment: Option<Vec<KeyValuePair>>,
        pub environment_files: Option<Vec<EnvironmentFile>>,
        pub mount_points: Option<Vec<MountPoint>>,
        pub volumes_from: Option<Vec<VolumeFrom>>,
        pub linux_parameters: Option<LinuxParameters>,
        pub secrets: Option<Vec<Secret>>,
        pub depends_on: Option<Vec<ContainerDependency>>,
        pub start_timeout: Option<i32>,
        pub stop_timeout: Option<i32>,
        pub version_consistency: Option<String>,
        pub hostname: Option<String>,
        pub user: Option<String>,
        pub working_directory: Option<String>,
        pub disable_networking: Option<bool>,
        pub privileged: Option<bool>,
        pub readonly_root_filesystem: Option<bool>,
        pub dns_servers: Option<Vec<String>>,
        pub dns_search_domains: Option<Vec<String>>,
        pub extra_hosts: Option<Vec<HostEntry>>,
        pub docker_security_options: Option<Vec<String>>,
        pub interactive: Option<bool>,
        pub pseudo_terminal: Option<bool>,
        pub docker_labels: Option<BTreeMap<String, String>>,
        pub ulimits: Option<Vec<Ulimit>>,
        pub log_configuration: Option<LogConfiguration>,
        pub health_check: Option<HealthCheck>,
        pub system_controls: Option<Vec<SystemControl>>,
        pub resource_requirements: Option<Vec<ResourceRequirement>>,
        pub firelens_configuration: Option<FirelensConfiguration>,
        pub credential_specs: Option<Vec<String>>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Volume {
        pub name: Option<String>,
        pub host: Option<HostVolumeProperties>,
        pub docker_volume_configuration: Option<DockerVolumeConfiguration>,
        pub efs_volume_configuration: Option<EFSVolumeConfiguration>,
        pub s3files_volume_configuration: Option<S3FilesVolumeConfiguration>,
        pub fsx_windows_file_server_volume_configuration:
            Option<FSxWindowsFileServerVolumeConfiguration>,
        pub configured_at_launch: Option<bool>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct TaskDefinitionPlacementConstraint {
        pub r#type: Option<String>,
        pub expression: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ProxyConfiguration {
        pub r#type: Option<String>,
        pub container_name: Option<String>,
        pub properties: Option<Vec<KeyValuePair>>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct InferenceAccelerator {
        pub device_name: Option<String>,
        pub device_type: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EphemeralStorage {
        pub size_in_gi_b: Option<i32>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RuntimePlatform {
        pub cpu_architecture: Option<String>,
        pub operating_system_family: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct TrustedExecutionConfiguration {
        pub isolation_mode: Option<String>,
        pub attestation_policy: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RepositoryCredentials {
        pub credentials_parameter: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PortMapping {
        pub container_port: Option<i32>,
        pub host_port: Option<i32>,
        pub protocol: Option<String>,
        pub name: Option<String>,
        pub app_protocol: Option<String>,
        pub container_port_range: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ContainerRestartPolicy {
        pub enabled: Option<bool>,
        pub ignored_exit_codes: Option<Vec<i32>>,
        pub restart_attempt_period: Option<i32>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct KeyValuePair {
        pub name: Option<String>,
        pub value: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EnvironmentFile {
        pub value: Option<String>,
        pub r#type: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct MountPoint {
        pub source_volume: Option<String>,
        pub container_path: Option<String>,
        pub read_only: Option<bool>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct VolumeFrom {
        pub source_container: Option<String>,
        pub read_only: Option<bool>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct LinuxParameters {
        pub capabilities: Option<KernelCapabilities>,
        pub devices: Option<Vec<Device>>,
        pub init_process_enabled: Option<bool>,
        pub shared_memory_size: Option<i32>,
        pub tmpfs: Option<Vec<Tmpfs>>,
        pub max_swap: Option<i32>,
        pub swappiness: Option<i32>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Secret {
        pub name: Option<String>,
        pub value_from: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ContainerDependency {
        pub container_name: Option<String>,
        pub condition: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct HostEntry {
        pub hostname: Option<String>,
        pub ip_address: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Ulimit {
        pub name: Option<String>,
        pub soft_limit: Option<i32>,
        pub hard_limit: Option<i32>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct LogConfiguration {
        pub log_driver: Option<String>,
        pub options: Option<BTreeMap<String, String>>,
        pub secret_options: Option<Vec<Secret>>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct HealthCheck {
        pub command: Option<Vec<String>>,
        pub interval: Option<i32>,
        pub timeout: Option<i32>,
        pub retries: Option<i32>,
        pub start_period: Option<i32>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct SystemControl {
        pub namespace: Option<String>,
        pub value: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ResourceRequirement {
        pub value: Option<String>,
        pub r#type: Option<String>,
        pub sharing_strategy: Option<SharingStrategy>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct FirelensConfiguration {
        pub r#type: Option<String>,
        pub options: Option<BTreeMap<String, String>>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct HostVolumeProperties {
        pub source_path: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct DockerVolumeConfiguration {
        pub scope: Option<String>,
        pub autoprovision: Option<bool>,
        pub driver: Option<String>,
        pub driver_opts: Option<BTreeMap<String, String>>,
        pub labels: Option<BTreeMap<String, String>>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EFSVolumeConfiguration {
        pub file_system_id: Option<String>,
        pub root_directory: Option<String>,
        pub transit_encryption: Option<String>,
        pub transit_encryption_port: Option<i32>,
        pub authorization_config: Option<EFSAuthorizationConfig>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct S3FilesVolumeConfiguration {
        pub file_system_arn: Option<String>,
        pub root_directory: Option<String>,
        pub transit_encryption_port: Option<i32>,
        pub access_point_arn: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct FSxWindowsFileServerVolumeConfiguration {
        pub file_system_id: Option<String>,
        pub root_directory: Option<String>,
        pub authorization_config: Option<FSxWindowsFileServerAuthorizationConfig>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct KernelCapabilities {
        pub add: Option<Vec<String>>,
        pub drop: Option<Vec<String>>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Device {
        pub host_path: Option<String>,
        pub container_path: Option<String>,
        pub permissions: Option<Vec<String>>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Tmpfs {
        pub container_path: Option<String>,
        pub size: Option<i32>,
        pub mount_options: Option<Vec<String>>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct SharingStrategy {
        pub nvidia_mps: Option<NvidiaMpsAllocation>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EFSAuthorizationConfig {
        pub access_point_id: Option<String>,
        pub iam: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct FSxWindowsFileServerAuthorizationConfig {
        pub credentials_parameter: Option<String>,
        pub domain: Option<String>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct NvidiaMpsAllocation {
        pub memory: Option<i32>,
        pub max_compute_percent: Option<i32>,
        #[serde(flatten)]
        unknown: IgnoredAny,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use berth_awsproto::Api;
    use berth_store::Store;

    use super::*;

    fn setup() -> (tempfile::TempDir, Ecs, Context) {
        let dir = tempfile::tempdir().unwrap();
        let ecs = Ecs::new(Arc::new(Store::open(dir.path()).unwrap()));
        let ctx = Context {
            account: "123456789012".into(),
            region: "ap-northeast-1".into(),
        };
        (dir, ecs, ctx)
    }

    fn register_ok(ecs: &Ecs, ctx: &Context, input: Value) -> Value {
        ecs.call(ctx, "RegisterTaskDefinition", input).unwrap()["taskDefinition"].clone()
    }

    fn register_err(ecs: &Ecs, ctx: &Context, input: Value) -> ApiError {
        ecs.call(ctx, "RegisterTaskDefinition", input).unwrap_err()
    }

    /// A minimal valid Fargate definition.
    fn fargate(family: &str) -> Value {
        json!({
            "family": family,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{"name": "app", "image": "nginx"}]
        })
    }

    /// The seed 001 request (service-connect-nginx.json).
    fn seed_001() -> Value {
        json!({
            "family": "service-connect-nginx",
            "taskRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            "networkMode": "awsvpc",
            "containerDefinitions": [
                {
                "name": "webserver",
                "image": "public.ecr.aws/docker/library/nginx:latest",
                "cpu": 100,
                "portMappings": [
                    {
                        "name": "nginx",
                        "containerPort": 80,
                        "protocol": "tcp",
                        "appProtocol": "http"
                    }
                ],
                "essential": true,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/service-connect-nginx",
                        "awslogs-region": "ap-northeast-1",
                        "awslogs-stream-prefix": "nginx"
                    }
                }
                }
            ],
            "cpu": "256",
            "memory": "512"
        })
    }

    #[test]
    fn seed_001_output_matches_the_service() {
        let (_d, ecs, ctx) = setup();
        let out = ecs
            .call(&ctx, "RegisterTaskDefinition", seed_001())
            .unwrap();
        assert!(
            out.get("tags").is_none(),
            "no tags member without tags: {out}"
        );
        let mut td = out["taskDefinition"].clone();
        let expected = json!({
            "taskDefinitionArn": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/service-connect-nginx:1",
            "containerDefinitions": [
                {
                    "name": "webserver",
                    "image": "public.ecr.aws/docker/library/nginx:latest",
                    "cpu": 100,
                    "portMappings": [
                        {
                            "containerPort": 80,
                            "hostPort": 80,
                            "protocol": "tcp",
                            "name": "nginx",
                            "appProtocol": "http"
                        }
                    ],
                    "essential": true,
                    "environment": [],
                    "mountPoints": [],
                    "volumesFrom": [],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": "/ecs/service-connect-nginx",
                            "awslogs-region": "ap-northeast-1",
                            "awslogs-stream-prefix": "nginx"
                        }
                    }
                }
            ],
            "family": "service-connect-nginx",
            "taskRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            "networkMode": "awsvpc",
            "revision": 1,
            "volumes": [],
            "status": "ACTIVE",
            "requiresAttributes": [
                {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
                {"name": "ecs.capability.execution-role-awslogs"},
                {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"},
                {"name": "com.amazonaws.ecs.capability.task-iam-role"},
                {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
                {"name": "ecs.capability.task-eni"}
            ],
            "placementConstraints": [],
            "compatibilities": ["EC2", "FARGATE"],
            "cpu": "256",
            "memory": "512"
        });
        let registered_at = td.as_object_mut().unwrap().remove("registeredAt").unwrap();
        assert!(registered_at.as_f64().unwrap() > 1.6e9);
        let registered_by = td.as_object_mut().unwrap().remove("registeredBy").unwrap();
        assert_eq!(registered_by, "arn:aws:iam::123456789012:root");
        for (k, v) in expected.as_object().unwrap() {
            assert_eq!(&td[k], v, "member {k}");
        }
        assert_eq!(td, expected);
    }

    #[test]
    fn revisions_grow_per_family_and_resolve_finds_them() {
        let (_d, ecs, ctx) = setup();
        for n in 1..=3 {
            assert_eq!(register_ok(&ecs, &ctx, fargate("web"))["revision"], n);
        }
        assert_eq!(register_ok(&ecs, &ctx, fargate("web-x"))["revision"], 1);
        assert_eq!(register_ok(&ecs, &ctx, fargate("we"))["revision"], 1);
        let arn = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:2";
        ecs.store()
            .read(|r| {
                assert_eq!(resolve(r, &ctx, "web")?.unwrap()["revision"], 3);
                assert_eq!(resolve(r, &ctx, "web:1")?.unwrap()["revision"], 1);
                assert_eq!(resolve(r, &ctx, arn)?.unwrap()["taskDefinitionArn"], arn);
                assert!(resolve(r, &ctx, "web:9")?.is_none());
                assert!(resolve(r, &ctx, "nope")?.is_none());
                assert!(resolve(r, &ctx, "web:x")?.is_none());
                let other_region = arn.replace("ap-northeast-1", "us-east-1");
                assert!(resolve(r, &ctx, &other_region)?.is_none());
                Ok::<_, ApiError>(())
            })
            .unwrap();
        // The latest ACTIVE revision skips deregistered ones; a deregistered revision
        // still resolves by number, and the next revision still counts it.
        ecs.call(
            &ctx,
            "DeregisterTaskDefinition",
            json!({"taskDefinition": "web:3"}),
        )
        .unwrap();
        ecs.store()
            .read(|r| {
                assert_eq!(resolve(r, &ctx, "web")?.unwrap()["revision"], 2);
                assert_eq!(resolve(r, &ctx, "web:3")?.unwrap()["status"], "INACTIVE");
                Ok::<_, ApiError>(())
            })
            .unwrap();
        assert_eq!(register_ok(&ecs, &ctx, fargate("web"))["revision"], 4);
    }

    #[test]
    fn stored_record_shape() {
        let (_d, ecs, ctx) = setup();
        let mut input = fargate("tagged");
        input["tags"] = json!([{"key": "team", "value": "a"}]);
        let out = ecs.call(&ctx, "RegisterTaskDefinition", input).unwrap();
        assert_eq!(out["tags"], json!([{"key": "team", "value": "a"}]));
        let rec: Value = ecs
            .store()
            .read(|r| r.get_json(&taskdef_key(&ctx, "tagged", 1)))
            .unwrap()
            .unwrap();
        assert_eq!(rec.as_object().unwrap().len(), 2);
        assert_eq!(rec["taskDefinition"], out["taskDefinition"]);
        assert_eq!(rec["tags"], out["tags"]);
        register_ok(&ecs, &ctx, fargate("untagged"));
        let rec: Value = ecs
            .store()
            .read(|r| r.get_json(&taskdef_key(&ctx, "untagged", 1)))
            .unwrap()
            .unwrap();
        assert_eq!(rec["tags"], json!([]));
    }

    #[test]
    fn describe_by_family_revision_arn_with_tags() {
        let (_d, ecs, ctx) = setup();
        let mut input = fargate("web");
        input["tags"] = json!([{"key": "k", "value": "v"}]);
        register_ok(&ecs, &ctx, input);
        register_ok(&ecs, &ctx, fargate("web"));
        let d = ecs
            .call(
                &ctx,
                "DescribeTaskDefinition",
                json!({"taskDefinition": "web"}),
            )
            .unwrap();
        assert_eq!(d["taskDefinition"]["revision"], 2);
        assert!(d.get("tags").is_none());
        let d = ecs
            .call(
                &ctx,
                "DescribeTaskDefinition",
                json!({"taskDefinition": "web:1", "include": ["TAGS"]}),
            )
            .unwrap();
        assert_eq!(d["tags"], json!([{"key": "k", "value": "v"}]));
        let d = ecs
            .call(
                &ctx,
                "DescribeTaskDefinition",
                json!({"taskDefinition": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:2", "include": ["TAGS"]}),
            )
            .unwrap();
        assert_eq!(d["taskDefinition"]["revision"], 2);
        assert_eq!(d["tags"], json!([]));
        for missing in ["nope", "web:3", "web:0", "bad name"] {
            let e = ecs
                .call(
                    &ctx,
                    "DescribeTaskDefinition",
                    json!({"taskDefinition": missing}),
                )
                .unwrap_err();
            assert_eq!(e.code, "ClientException", "{missing}");
            assert_eq!(e.message, "Unable to describe task definition.");
        }
        let e = ecs
            .call(
                &ctx,
                "DescribeTaskDefinition",
                json!({"taskDefinition": "web", "include": ["NOPE"]}),
            )
            .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        let e = ecs
            .call(&ctx, "DescribeTaskDefinition", json!({"taskDefinition": 5}))
            .unwrap_err();
        assert_eq!(e.code, "SerializationException");
    }

    #[test]
    fn deregister_marks_inactive() {
        let (_d, ecs, ctx) = setup();
        register_ok(&ecs, &ctx, fargate("web"));
        let out = ecs
            .call(
                &ctx,
                "DeregisterTaskDefinition",
                json!({"taskDefinition": "web:1"}),
            )
            .unwrap();
        assert_eq!(out["taskDefinition"]["status"], "INACTIVE");
        let at = out["taskDefinition"]["deregisteredAt"].as_f64().unwrap();
        // Again: unchanged.
        let again = ecs
            .call(
                &ctx,
                "DeregisterTaskDefinition",
                json!({"taskDefinition": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:1"}),
            )
            .unwrap();
        assert_eq!(
            again["taskDefinition"]["deregisteredAt"].as_f64().unwrap(),
            at
        );
        // Only ACTIVE revisions resolve by family.
        let e = ecs
            .call(
                &ctx,
                "DescribeTaskDefinition",
                json!({"taskDefinition": "web"}),
            )
            .unwrap_err();
        assert_eq!(e.message, "Unable to describe task definition.");
        for bad in ["web", "web:zero", "web:0"] {
            let e = ecs
                .call(
                    &ctx,
                    "DeregisterTaskDefinition",
                    json!({"taskDefinition": bad}),
                )
                .unwrap_err();
            assert_eq!(e.code, "ClientException", "{bad}");
        }
        let e = ecs
            .call(
                &ctx,
                "DeregisterTaskDefinition",
                json!({"taskDefinition": "web:7"}),
            )
            .unwrap_err();
        assert_eq!(e.code, "ClientException");
        let e = ecs
            .call(&ctx, "DeregisterTaskDefinition", json!({}))
            .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
    }

    #[test]
    fn list_filters_sorts_and_pages() {
        let (_d, ecs, ctx) = setup();
        for f in ["b", "a", "b", "a-x", "a"] {
            register_ok(&ecs, &ctx, fargate(f));
        }
        ecs.call(
            &ctx,
            "DeregisterTaskDefinition",
            json!({"taskDefinition": "b:1"}),
        )
        .unwrap();
        let arns = |v: &Value| -> Vec<String> {
            v["taskDefinitionArns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().rsplit('/').next().unwrap().to_string())
                .collect()
        };
        let all = ecs.call(&ctx, "ListTaskDefinitions", json!({})).unwrap();
        assert_eq!(arns(&all), ["a:1", "a:2", "a-x:1", "b:2"]);
        assert!(all.get("nextToken").is_none());
        let desc = ecs
            .call(&ctx, "ListTaskDefinitions", json!({"sort": "DESC"}))
            .unwrap();
        assert_eq!(arns(&desc), ["b:2", "a-x:1", "a:2", "a:1"]);
        let fam = ecs
            .call(&ctx, "ListTaskDefinitions", json!({"familyPrefix": "a"}))
            .unwrap();
        assert_eq!(
            arns(&fam),
            ["a:1", "a:2"],
            "familyPrefix is a whole family name"
        );
        let inactive = ecs
            .call(&ctx, "ListTaskDefinitions", json!({"status": "INACTIVE"}))
            .unwrap();
        assert_eq!(arns(&inactive), ["b:1"]);

        for sort in ["ASC", "DESC"] {
            let mut seen = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut req = json!({"maxResults": 3, "sort": sort});
                if let Some(t) = &token {
                    req["nextToken"] = json!(t);
                }
                let page = ecs.call(&ctx, "ListTaskDefinitions", req).unwrap();
                assert!(arns(&page).len() <= 3);
                seen.extend(arns(&page));
                match page["nextToken"].as_str() {
                    Some(t) => token = Some(t.to_string()),
                    None => break,
                }
            }
            let full = ecs
                .call(&ctx, "ListTaskDefinitions", json!({"sort": sort}))
                .unwrap();
            assert_eq!(seen, arns(&full), "{sort}");
        }
        for bad in [
            json!({"maxResults": 0}),
            json!({"maxResults": 101}),
            json!({"sort": "UP"}),
            json!({"status": "ALL"}),
            json!({"nextToken": "!!"}),
        ] {
            let e = ecs
                .call(&ctx, "ListTaskDefinitions", bad.clone())
                .unwrap_err();
            assert_eq!(e.code, "InvalidParameterException", "{bad}");
        }
        let e = ecs
            .call(&ctx, "ListTaskDefinitions", json!({"maxResults": "3"}))
            .unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert!(e.message.contains("maxResults"), "{}", e.message);
    }

    #[test]
    fn list_families_by_status_prefix_and_pages() {
        let (_d, ecs, ctx) = setup();
        for f in ["web", "web-api", "worker", "db"] {
            register_ok(&ecs, &ctx, fargate(f));
        }
        ecs.call(
            &ctx,
            "DeregisterTaskDefinition",
            json!({"taskDefinition": "worker:1"}),
        )
        .unwrap();
        let fams =
            |v: Value| -> Vec<String> { serde_json::from_value(v["families"].clone()).unwrap() };
        let call = |i: Value| ecs.call(&ctx, "ListTaskDefinitionFamilies", i).unwrap();
        assert_eq!(fams(call(json!({}))), ["db", "web", "web-api", "worker"]);
        assert_eq!(
            fams(call(json!({"status": "ACTIVE"}))),
            ["db", "web", "web-api"]
        );
        assert_eq!(fams(call(json!({"status": "INACTIVE"}))), ["worker"]);
        assert_eq!(
            fams(call(json!({"familyPrefix": "w"}))),
            ["web", "web-api", "worker"]
        );
        assert!(fams(call(json!({"familyPrefix": "web/"}))).is_empty());
        assert_eq!(
            fams(call(json!({"familyPrefix": "web", "status": "ALL"}))),
            ["web", "web-api"]
        );
        let p1 = call(json!({"maxResults": 2}));
        let token = p1["nextToken"].as_str().unwrap().to_string();
        assert_eq!(fams(p1), ["db", "web"]);
        let p2 = call(json!({"maxResults": 2, "nextToken": token}));
        assert!(p2.get("nextToken").is_none());
        assert_eq!(fams(p2), ["web-api", "worker"]);
        let e = ecs
            .call(
                &ctx,
                "ListTaskDefinitionFamilies",
                json!({"status": "DELETE_IN_PROGRESS"}),
            )
            .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
    }

    #[test]
    fn seed_000_retail_store_definition() {
        let (_d, ecs, ctx) = setup();
        let td = register_ok(
            &ecs,
            &ctx,
            json!({
                "family": "retail-store-ecs-orders",
                "executionRoleArn": "arn:aws:iam::123456789012:role/ordersEcsTaskExecutionRole",
                "taskRoleArn": "arn:aws:iam::123456789012:role/retailStoreEcsTaskRole",
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "cpu": "1024",
                "memory": "2048",
                "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
                "containerDefinitions": [{
                    "name": "application",
                    "image": "public.ecr.aws/aws-containers/retail-store-sample-orders:1.2.3",
                    "cpu": 0,
                    "portMappings": [{"name": "application", "containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "appProtocol": "http"}],
                    "essential": true,
                    "linuxParameters": {"initProcessEnabled": true},
                    "healthCheck": {
                        "command": ["CMD-SHELL", "curl -f http://localhost:8080/actuator/health || exit 1"],
                        "interval": 10, "timeout": 5, "retries": 3, "startPeriod": 60
                    },
                    "environment": [{"name": "RETAIL_ORDERS_PERSISTENCE_PROVIDER", "value": "postgres"}],
                    "secrets": [
                        {"name": "A", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/retail-store-ecs/orders/db-endpoint-postgres"},
                        {"name": "B", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:retail-store-ecs-orders-db:dbname::"}
                    ],
                    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "retail-store-ecs-tasks", "awslogs-region": "$AWS_REGION", "awslogs-stream-prefix": "orders-service"}}
                }]
            }),
        );
        assert_eq!(td["requiresCompatibilities"], json!(["FARGATE"]));
        assert_eq!(td["compatibilities"], json!(["EC2", "FARGATE"]));
        assert_eq!(td["runtimePlatform"]["cpuArchitecture"], "X86_64");
        let c = &td["containerDefinitions"][0];
        assert_eq!(c["linuxParameters"], json!({"initProcessEnabled": true}));
        assert_eq!(c["healthCheck"]["startPeriod"], 60);
        assert_eq!(c["secrets"].as_array().unwrap().len(), 2);
        assert_eq!(c["environment"][0]["value"], "postgres");
        let attrs: Vec<&str> = td["requiresAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        for a in [
            "ecs.capability.container-health-check",
            "ecs.capability.secrets.ssm.environment-variables",
            "ecs.capability.secrets.asm.environment-variables",
            "com.amazonaws.ecs.capability.docker-remote-api.1.29",
            "com.amazonaws.ecs.capability.docker-remote-api.1.25",
            "com.amazonaws.ecs.capability.task-iam-role",
            "ecs.capability.task-eni",
        ] {
            assert!(attrs.contains(&a), "{a} in {attrs:?}");
        }
    }

    #[test]
    fn seed_004_bridge_and_fargate_definitions() {
        let (_d, ecs, ctx) = setup();
        let container = |name: &str, host_port: i64| {
            json!({
                "name": name,
                "image": "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/cats:latest",
                "portMappings": [{"name": format!("{name}-80-tcp"), "containerPort": 80, "hostPort": host_port, "protocol": "tcp", "appProtocol": "http"}],
                "essential": true,
                "environment": [], "environmentFiles": [], "mountPoints": [], "volumesFrom": [],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-create-group": "true", "awslogs-group": "/ecs/catsdef", "awslogs-region": "ap-northeast-2", "awslogs-stream-prefix": "ecs"}}
            })
        };
        let cats = register_ok(
            &ecs,
            &ctx,
            json!({
                "requiresCompatibilities": ["EC2"], "family": "catsdef",
                "containerDefinitions": [container("cats", 0)],
                "volumes": [], "networkMode": "bridge", "memory": "1024", "cpu": "512",
                "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
                "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
            }),
        );
        assert_eq!(
            cats["containerDefinitions"][0]["portMappings"][0]["hostPort"],
            0
        );
        assert_eq!(
            cats["containerDefinitions"][0]["environmentFiles"],
            json!([])
        );
        assert_eq!(cats["compatibilities"], json!(["EXTERNAL", "EC2"]));
        let attrs = cats["requiresAttributes"].to_string();
        assert!(
            attrs.contains("ecs.capability.execution-role-ecr-pull"),
            "{attrs}"
        );
        assert!(!attrs.contains("task-eni"), "{attrs}");
        let dogs = register_ok(
            &ecs,
            &ctx,
            json!({
                "requiresCompatibilities": ["FARGATE"], "family": "dogsdef",
                "containerDefinitions": [container("dogs", 80)],
                "volumes": [], "networkMode": "awsvpc", "memory": "1024", "cpu": "512",
                "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
            }),
        );
        assert_eq!(dogs["compatibilities"], json!(["EC2", "FARGATE"]));
        // Bridge mode without hostPort gets the dynamic 0.
        let mut input = fargate("dyn");
        input["networkMode"] = json!("bridge");
        input["requiresCompatibilities"] = json!(["EC2"]);
        input["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 8080}]);
        let td = register_ok(&ecs, &ctx, input);
        assert_eq!(
            td["containerDefinitions"][0]["portMappings"],
            json!([{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}])
        );
    }

    #[test]
    fn defaults_units_and_unknown_members() {
        let (_d, ecs, ctx) = setup();
        let td = register_ok(
            &ecs,
            &ctx,
            json!({
                "family": "units",
                "networkMode": "awsvpc",
                "cpu": "1 vCPU",
                "memory": "2 GB",
                "bogusTopLevel": 1,
                "containerDefinitions": [{
                    "name": "app", "image": "nginx", "bogus": true,
                    "healthCheck": {"command": ["CMD", "true"]},
                    "dockerLabels": {"a": "b"}
                }]
            }),
        );
        assert_eq!(td["cpu"], "1024");
        assert_eq!(td["memory"], "2048");
        assert!(td.get("bogusTopLevel").is_none());
        assert!(td.get("requiresCompatibilities").is_none());
        assert!(td.get("tags").is_none());
        let c = &td["containerDefinitions"][0];
        assert!(c.get("bogus").is_none());
        assert_eq!(c["cpu"], 0);
        assert_eq!(c["essential"], true);
        assert_eq!(c["portMappings"], json!([]));
        assert_eq!(c["dockerLabels"], json!({"a": "b"}));
        assert_eq!(
            c["healthCheck"],
            json!({"command": ["CMD", "true"], "interval": 30, "timeout": 5, "retries": 3})
        );
        assert_eq!(parse_task_cpu("0.25 vCPU"), Some(256));
        assert_eq!(parse_task_cpu(".5vcpu"), Some(512));
        assert_eq!(parse_task_cpu("0.3 vCPU"), None);
        assert_eq!(parse_task_cpu("abc"), None);
        assert_eq!(parse_task_memory("0.5GB"), Some(512));
        assert_eq!(parse_task_memory("1 gb"), Some(1024));
        assert_eq!(parse_task_memory("1 TB"), None);
        assert!(fargate_size_ok(256, 2048) && !fargate_size_ok(256, 3072));
        assert!(fargate_size_ok(8192, 20480) && !fargate_size_ok(8192, 17408));
        assert!(fargate_size_ok(16384, 122_880) && !fargate_size_ok(16384, 36864));
    }

    /// Registers `input` and checks the error code and that the message contains `needle`.
    fn expect(ecs: &Ecs, ctx: &Context, input: Value, code: &str, needle: &str) {
        let e = register_err(ecs, ctx, input.clone());
        assert_eq!(e.code, code, "{input}: {e}");
        assert!(
            e.message.contains(needle),
            "{input}: '{}' lacks '{needle}'",
            e.message
        );
    }

    fn with(mut base: Value, path: &[&str], v: Value) -> Value {
        let mut cur = &mut base;
        for (n, p) in path.iter().enumerate() {
            if n + 1 == path.len() {
                break;
            }
            cur = match p.parse::<usize>() {
                Ok(i) => &mut cur[i],
                Err(_) => &mut cur[*p],
            };
        }
        let last = path[path.len() - 1];
        match last.parse::<usize>() {
            Ok(i) => cur[i] = v,
            Err(_) => cur[last] = v,
        }
        base
    }

    #[test]
    fn wrong_json_types_are_serialization_errors_naming_the_field() {
        let (_d, ecs, ctx) = setup();
        let base = fargate("t");
        for (path, v, field) in [
            (&["cpu"][..], json!(256), "cpu"),
            (
                &["containerDefinitions", "0", "cpu"][..],
                json!("100"),
                "containerDefinitions[0].cpu",
            ),
            (
                &["containerDefinitions", "0", "essential"][..],
                json!("yes"),
                "containerDefinitions[0].essential",
            ),
            (
                &["containerDefinitions", "0", "portMappings"][..],
                json!([{"containerPort": "80"}]),
                "containerDefinitions[0].portMappings[0].containerPort",
            ),
            (
                &["containerDefinitions", "0", "linuxParameters"][..],
                json!({"initProcessEnabled": "true"}),
                "containerDefinitions[0].linuxParameters.initProcessEnabled",
            ),
            (
                &["containerDefinitions", "0", "memory"][..],
                json!(1.5),
                "containerDefinitions[0].memory",
            ),
            (&["tags"][..], json!({"key": "v"}), "tags"),
        ] {
            expect(
                &ecs,
                &ctx,
                with(base.clone(), path, v),
                "SerializationException",
                field,
            );
        }
        let e = register_err(&ecs, &ctx, json!([1]));
        assert_eq!(e.code, "SerializationException");
    }

    #[test]
    fn task_level_validation() {
        let (_d, ecs, ctx) = setup();
        let base = fargate("t");
        let c = "ClientException";
        let ip = "InvalidParameterException";
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["family"], json!("bad name")),
            c,
            "Family contains invalid characters.",
        );
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["family"], json!("x".repeat(256))),
            c,
            "Family",
        );
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["family"], json!("")),
            c,
            "Family",
        );
        let mut no_family = base.clone();
        no_family.as_object_mut().unwrap().remove("family");
        expect(&ecs, &ctx, no_family, c, "Family");
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["containerDefinitions"], json!([])),
            c,
            "Container list cannot be empty.",
        );
        let mut no_containers = base.clone();
        no_containers
            .as_object_mut()
            .unwrap()
            .remove("containerDefinitions");
        expect(
            &ecs,
            &ctx,
            no_containers,
            c,
            "Container list cannot be empty.",
        );
        let eleven: Vec<Value> = (0..11)
            .map(|n| json!({"name": format!("c{n}"), "image": "x"}))
            .collect();
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["containerDefinitions"], json!(eleven)),
            c,
            "at most 10",
        );
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["networkMode"], json!("vpc")),
            ip,
            "networkMode",
        );
        expect(
            &ecs,
            &ctx,
            with(
                base.clone(),
                &["requiresCompatibilities"],
                json!(["LAMBDA"]),
            ),
            ip,
            "requiresCompatibilities",
        );
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["cpu"], json!("lots")),
            c,
            "Invalid 'cpu' setting for task.",
        );
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["memory"], json!("2 TB")),
            c,
            "Invalid 'memory' setting for task.",
        );
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["pidMode"], json!("shared")),
            ip,
            "pidMode",
        );
        expect(
            &ecs,
            &ctx,
            with(
                base.clone(),
                &["tags"],
                json!([{"key": "aws:x", "value": "v"}]),
            ),
            ip,
            "tags",
        );
        expect(
            &ecs,
            &ctx,
            with(
                base.clone(),
                &["ephemeralStorage"],
                json!({"sizeInGiB": 20}),
            ),
            c,
            "at least 21",
        );
        expect(
            &ecs,
            &ctx,
            with(
                base.clone(),
                &["ephemeralStorage"],
                json!({"sizeInGiB": 201}),
            ),
            c,
            "at most 200",
        );
        expect(
            &ecs,
            &ctx,
            with(
                base.clone(),
                &["runtimePlatform"],
                json!({"cpuArchitecture": "RISCV"}),
            ),
            ip,
            "cpuArchitecture",
        );
        expect(
            &ecs,
            &ctx,
            with(
                base.clone(),
                &["volumes"],
                json!([{"name": "v"}, {"name": "v"}]),
            ),
            c,
            "Duplicate volume name",
        );

        // Fargate requirements.
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["networkMode"], json!("bridge")),
            c,
            "Fargate only supports network mode 'awsvpc'.",
        );
        let mut no_cpu = base.clone();
        no_cpu.as_object_mut().unwrap().remove("cpu");
        expect(&ecs, &ctx, no_cpu, c, "'cpu' be defined at the task level");
        for (cpu, mem) in [
            ("256", "4096"),
            ("512", "512"),
            ("1024", "1024"),
            ("4096", "4096"),
            ("300", "1024"),
        ] {
            let i = with(
                with(base.clone(), &["cpu"], json!(cpu)),
                &["memory"],
                json!(mem),
            );
            expect(
                &ecs,
                &ctx,
                i,
                c,
                "No Fargate configuration exists for given values",
            );
        }
        for (cpu, mem) in [
            ("256", "1 GB"),
            ("0.5 vCPU", "4096"),
            ("2 vCPU", "16 GB"),
            ("4096", "30720"),
            ("8192", "16384"),
        ] {
            let i = with(
                with(base.clone(), &["cpu"], json!(cpu)),
                &["memory"],
                json!(mem),
            );
            register_ok(&ecs, &ctx, i);
        }
        let awslogs = json!({"logDriver": "awslogs", "options": {"awslogs-group": "g"}});
        expect(
            &ecs,
            &ctx,
            with(base.clone(), &["containerDefinitions", "0", "logConfiguration"], awslogs),
            c,
            "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
        );
        expect(
            &ecs,
            &ctx,
            with(
                base.clone(),
                &["containerDefinitions", "0", "logConfiguration"],
                json!({"logDriver": "syslog"}),
            ),
            c,
            "log driver 'syslog'",
        );
        expect(
            &ecs,
            &ctx,
            with(
                base.clone(),
                &["containerDefinitions", "0", "privileged"],
                json!(true),
            ),
            c,
            "privileged",
        );
        // Not required on Fargate: still registers, only without FARGATE compatibility.
        let mut ec2 = with(
            base.clone(),
            &["containerDefinitions", "0", "privileged"],
            json!(true),
        );
        ec2.as_object_mut()
            .unwrap()
            .remove("requiresCompatibilities");
        assert_eq!(
            register_ok(&ecs, &ctx, ec2)["compatibilities"],
            json!(["EC2"])
        );

        // EC2 without task memory: every container needs memory or memoryReservation.
        let ec2 = json!({"family": "e", "containerDefinitions": [{"name": "a", "image": "x"}]});
        expect(
            &ecs,
            &ctx,
            ec2.clone(),
            c,
            "Invalid setting for container 'a'. At least one of 'memory' or 'memoryReservation' must be specified.",
        );
        register_ok(
            &ecs,
            &ctx,
            with(
                ec2.clone(),
                &["containerDefinitions", "0", "memoryReservation"],
                json!(128),
            ),
        );
        register_ok(&ecs, &ctx, with(ec2.clone(), &["memory"], json!("512")));
        let both = with(
            with(
                ec2.clone(),
                &["containerDefinitions", "0", "memoryReservation"],
                json!(256),
            ),
            &["containerDefinitions", "0", "memory"],
            json!(128),
        );
        expect(&ecs, &ctx, both, c, "memoryReservation");
        let over = with(
            with(ec2.clone(), &["memory"], json!("512")),
            &["containerDefinitions", "0", "memory"],
            json!(1024),
        );
        expect(&ecs, &ctx, over, c, "exceeds the task memory");
        let over_cpu = with(
            base.clone(),
            &["containerDefinitions", "0", "cpu"],
            json!(512),
        );
        expect(&ecs, &ctx, over_cpu, c, "exceeds the task cpu");
    }

    #[test]
    fn container_validation() {
        let (_d, ecs, ctx) = setup();
        let base = fargate("t");
        let c = "ClientException";
        let ip = "InvalidParameterException";
        let cd =
            |field: &str, v: Value| with(base.clone(), &["containerDefinitions", "0", field], v);
        expect(
            &ecs,
            &ctx,
            cd("name", json!("")),
            c,
            "Container.name should not be null or empty.",
        );
        expect(
            &ecs,
            &ctx,
            cd("name", json!("a b")),
            c,
            "Container.name contains invalid characters.",
        );
        expect(
            &ecs,
            &ctx,
            cd("image", json!("")),
            c,
            "Container.image should not be null or empty.",
        );
        expect(
            &ecs,
            &ctx,
            cd("image", json!("ngi nx")),
            c,
            "Container.image contains invalid characters.",
        );
        let dup = with(
            base.clone(),
            &["containerDefinitions"],
            json!([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]),
        );
        expect(&ecs, &ctx, dup, c, "Duplicate container name 'a'");
        expect(
            &ecs,
            &ctx,
            cd("essential", json!(false)),
            c,
            "at least one essential container",
        );

        // Port mappings.
        let pm = |v: Value| cd("portMappings", v);
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 0}])),
            c,
            "Invalid 'containerPort' setting for container 'app'.",
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 70000}])),
            c,
            "Invalid 'containerPort' setting",
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"hostPort": 80}])),
            c,
            "Invalid 'containerPort' setting",
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 80, "protocol": "sctp"}])),
            ip,
            "protocol",
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 80, "appProtocol": "tcp"}])),
            ip,
            "appProtocol",
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 80, "name": "Web"}])),
            ip,
            "name 'Web' is invalid",
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 80, "name": "-web"}])),
            ip,
            "name '-web' is invalid",
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 80, "name": "w".repeat(65)}])),
            ip,
            "is invalid",
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}])),
            ip,
            "name 'web' is used by more than one port mapping",
        );
        let two = with(
            base.clone(),
            &["containerDefinitions"],
            json!([
                {"name": "a", "image": "x", "portMappings": [{"containerPort": 80, "name": "p"}]},
                {"name": "b", "image": "x", "portMappings": [{"containerPort": 81, "name": "p"}]}
            ]),
        );
        expect(&ecs, &ctx, two, ip, "unique within a task definition");
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 80}, {"containerPort": 80, "protocol": "udp"}])),
            ip,
            "Container port 80 is used in more than one port mapping for container app",
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 80, "hostPort": 8080}])),
            c,
            "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPort": 80, "hostPort": 0}])),
            c,
            "must match",
        );
        let host = with(
            with(
                pm(json!([{"containerPort": 80, "hostPort": 81}])),
                &["networkMode"],
                json!("host"),
            ),
            &["requiresCompatibilities"],
            json!(["EC2"]),
        );
        expect(&ecs, &ctx, host, c, "When networkMode=host");
        let none = with(
            with(
                pm(json!([{"containerPort": 80}])),
                &["networkMode"],
                json!("none"),
            ),
            &["requiresCompatibilities"],
            json!([]),
        );
        expect(&ecs, &ctx, none, c, "networkMode=none");
        let ok = register_ok(
            &ecs,
            &ctx,
            pm(
                json!([{"containerPort": 80, "name": "web_1", "appProtocol": "grpc"}, {"containerPortRange": "9000-9010"}]),
            ),
        );
        assert_eq!(
            ok["containerDefinitions"][0]["portMappings"],
            json!([
                {"containerPort": 80, "hostPort": 80, "protocol": "tcp", "name": "web_1", "appProtocol": "grpc"},
                {"containerPortRange": "9000-9010", "protocol": "tcp"}
            ])
        );
        expect(
            &ecs,
            &ctx,
            pm(json!([{"containerPortRange": "9010-9000"}])),
            c,
            "containerPortRange",
        );

        // Health checks.
        let hc = |v: Value| cd("healthCheck", v);
        expect(&ecs, &ctx, hc(json!({})), c, "healthCheck.command");
        expect(
            &ecs,
            &ctx,
            hc(json!({"command": []})),
            c,
            "healthCheck.command",
        );
        expect(
            &ecs,
            &ctx,
            hc(json!({"command": ["curl", "x"]})),
            c,
            "must start with CMD or CMD-SHELL",
        );
        expect(
            &ecs,
            &ctx,
            hc(json!({"command": ["CMD-SHELL"]})),
            c,
            "healthCheck.command",
        );
        for (field, bad) in [
            ("interval", 4),
            ("interval", 301),
            ("timeout", 1),
            ("timeout", 61),
            ("retries", 0),
            ("retries", 11),
            ("startPeriod", -1),
            ("startPeriod", 301),
        ] {
            let mut h = json!({"command": ["CMD", "true"]});
            h[field] = json!(bad);
            expect(
                &ecs,
                &ctx,
                hc(h),
                c,
                &format!("Invalid 'healthCheck.{field}' setting for container 'app'"),
            );
        }
        register_ok(&ecs, &ctx, hc(json!({"command": ["NONE"]})));

        // Environment, secrets, logging.
        expect(
            &ecs,
            &ctx,
            cd("environment", json!([{"value": "v"}])),
            c,
            "environment[0].name",
        );
        expect(
            &ecs,
            &ctx,
            cd("secrets", json!([{"name": "S"}])),
            c,
            "secrets[0].valueFrom",
        );
        expect(
            &ecs,
            &ctx,
            cd("secrets", json!([{"valueFrom": "arn"}])),
            c,
            "secrets[0].name",
        );
        expect(
            &ecs,
            &ctx,
            cd(
                "environmentFiles",
                json!([{"value": "arn:aws:s3:::b/k.env", "type": "s4"}]),
            ),
            c,
            "environmentFiles[0].type",
        );
        expect(
            &ecs,
            &ctx,
            cd("logConfiguration", json!({"options": {}})),
            c,
            "logConfiguration.logDriver",
        );
        expect(
            &ecs,
            &ctx,
            cd("logConfiguration", json!({"logDriver": "stdout"})),
            ip,
            "logDriver",
        );

        // References between containers.
        expect(
            &ecs,
            &ctx,
            cd(
                "mountPoints",
                json!([{"sourceVolume": "data", "containerPath": "/d"}]),
            ),
            c,
            "'data' is not defined",
        );
        expect(
            &ecs,
            &ctx,
            cd("volumesFrom", json!([{"sourceContainer": "other"}])),
            c,
            "volumesFrom",
        );
        expect(
            &ecs,
            &ctx,
            cd(
                "dependsOn",
                json!([{"containerName": "other", "condition": "START"}]),
            ),
            c,
            "dependsOn",
        );
        let links = with(
            with(
                cd("links", json!(["db"])),
                &["networkMode"],
                json!("bridge"),
            ),
            &["requiresCompatibilities"],
            json!(["EC2"]),
        );
        expect(&ecs, &ctx, links, c, "links");
        expect(
            &ecs,
            &ctx,
            cd("links", json!(["db"])),
            c,
            "links are not supported when networkMode=awsvpc",
        );
        let healthy = with(
            base.clone(),
            &["containerDefinitions"],
            json!([
                {"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "HEALTHY"}]},
                {"name": "b", "image": "x"}
            ]),
        );
        expect(
            &ecs,
            &ctx,
            healthy.clone(),
            c,
            "healthCheck on container 'b'",
        );
        let fixed = with(
            healthy,
            &["containerDefinitions", "1", "healthCheck"],
            json!({"command": ["CMD", "true"]}),
        );
        let td = register_ok(&ecs, &ctx, fixed);
        assert!(td["requiresAttributes"]
            .to_string()
            .contains("ecs.capability.container-ordering"));
    }
}
