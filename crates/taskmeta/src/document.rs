//! The task metadata documents, typed as ECS serves them (`${ECS_CONTAINER_METADATA_URI_V4}`
//! and its `/task`, `/taskWithTags`), and the pure functions that build them from
//! [`TaskFacts`]. Members and their order are the ECS agent's; a member it omits when
//! empty is omitted here too, and a number it writes as a Go `float64` is written the
//! way Go writes it (`10`, not `10.0`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::facts::{
    ClockStatus, ContainerFacts, ContainerStatus, ContainerType, HealthFacts, HealthStatus,
    LaunchType, Limits, NetworkFacts, NetworkMode, PortFacts, TaskFacts, TaskStatus, VolumeFacts,
};
use crate::time::ser_opt_nanos;

/// The labels ECS puts on every container of a task.
pub const LABEL_CLUSTER: &str = "com.amazonaws.ecs.cluster";
/// The container's name.
pub const LABEL_CONTAINER_NAME: &str = "com.amazonaws.ecs.container-name";
/// The task's ARN.
pub const LABEL_TASK_ARN: &str = "com.amazonaws.ecs.task-arn";
/// The task definition's family.
pub const LABEL_FAMILY: &str = "com.amazonaws.ecs.task-definition-family";
/// The task definition's revision.
pub const LABEL_REVISION: &str = "com.amazonaws.ecs.task-definition-version";

/// `${ECS_CONTAINER_METADATA_URI_V4}/task` (and `/taskWithTags`, which adds the tags).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskMetadata {
    /// The cluster.
    #[serde(rename = "Cluster")]
    pub cluster: String,
    /// The task's ARN.
    #[serde(rename = "TaskARN")]
    pub task_arn: String,
    /// The task definition's family.
    #[serde(rename = "Family")]
    pub family: String,
    /// The task definition's revision, as a string.
    #[serde(rename = "Revision")]
    pub revision: String,
    /// What ECS wants.
    #[serde(rename = "DesiredStatus")]
    pub desired_status: TaskStatus,
    /// What the agent reached.
    #[serde(rename = "KnownStatus")]
    pub known_status: TaskStatus,
    /// Task-level limits; omitted when the task definition sets none.
    #[serde(rename = "Limits", skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsDoc>,
    /// When the first pull began.
    #[serde(
        rename = "PullStartedAt",
        serialize_with = "ser_opt_nanos",
        skip_serializing_if = "Option::is_none"
    )]
    pub pull_started_at: Option<SystemTime>,
    /// When the last pull ended.
    #[serde(
        rename = "PullStoppedAt",
        serialize_with = "ser_opt_nanos",
        skip_serializing_if = "Option::is_none"
    )]
    pub pull_stopped_at: Option<SystemTime>,
    /// When every container stopped.
    #[serde(
        rename = "ExecutionStoppedAt",
        serialize_with = "ser_opt_nanos",
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_stopped_at: Option<SystemTime>,
    /// The availability zone.
    #[serde(rename = "AvailabilityZone", skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// The task's tags (`/taskWithTags` only).
    #[serde(rename = "TaskTags", skip_serializing_if = "BTreeMap::is_empty")]
    pub task_tags: BTreeMap<String, String>,
    /// The container instance's tags (`/taskWithTags` only).
    #[serde(
        rename = "ContainerInstanceTags",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub container_instance_tags: BTreeMap<String, String>,
    /// The launch type.
    #[serde(rename = "LaunchType", skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    /// The containers.
    #[serde(rename = "Containers", skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerMetadata>,
    /// The VPC.
    #[serde(rename = "VPCID", skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// The service that started the task.
    #[serde(rename = "ServiceName", skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The instance's clock.
    #[serde(rename = "ClockDrift", skip_serializing_if = "Option::is_none")]
    pub clock_drift: Option<ClockDriftDoc>,
    /// Whether fault injection is on (never, on berth).
    #[serde(rename = "FaultInjectionEnabled")]
    pub fault_injection_enabled: bool,
}

/// `${ECS_CONTAINER_METADATA_URI_V4}`: one container.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContainerMetadata {
    /// The runtime's id.
    #[serde(rename = "DockerId")]
    pub docker_id: String,
    /// The container's name.
    #[serde(rename = "Name")]
    pub name: String,
    /// The runtime's name.
    #[serde(rename = "DockerName")]
    pub docker_name: String,
    /// The image.
    #[serde(rename = "Image")]
    pub image: String,
    /// The image's id.
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// Port mappings.
    #[serde(rename = "Ports", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortDoc>,
    /// Labels, the five of ECS among them.
    #[serde(rename = "Labels", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// What ECS wants.
    #[serde(rename = "DesiredStatus")]
    pub desired_status: ContainerStatus,
    /// What the agent reached.
    #[serde(rename = "KnownStatus")]
    pub known_status: ContainerStatus,
    /// The exit code, once stopped.
    #[serde(rename = "ExitCode", skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// CPU units and memory.
    #[serde(rename = "Limits")]
    pub limits: LimitsDoc,
    /// When created.
    #[serde(
        rename = "CreatedAt",
        serialize_with = "ser_opt_nanos",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<SystemTime>,
    /// When started.
    #[serde(
        rename = "StartedAt",
        serialize_with = "ser_opt_nanos",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<SystemTime>,
    /// When it stopped.
    #[serde(
        rename = "FinishedAt",
        serialize_with = "ser_opt_nanos",
        skip_serializing_if = "Option::is_none"
    )]
    pub finished_at: Option<SystemTime>,
    /// The kind of container.
    #[serde(rename = "Type")]
    pub kind: ContainerType,
    /// Its health, when it has a health check.
    #[serde(rename = "Health", skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthDoc>,
    /// Its volumes.
    #[serde(rename = "Volumes", skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeDoc>,
    /// The log driver.
    #[serde(rename = "LogDriver", skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<String>,
    /// The log driver's options.
    #[serde(rename = "LogOptions", skip_serializing_if = "BTreeMap::is_empty")]
    pub log_options: BTreeMap<String, String>,
    /// The container's ARN.
    #[serde(rename = "ContainerARN", skip_serializing_if = "Option::is_none")]
    pub container_arn: Option<String>,
    /// The task's network as this container sees it.
    #[serde(rename = "Networks", skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkDoc>,
    /// Restarts, with a restart policy.
    #[serde(rename = "RestartCount", skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<u32>,
}

/// `Limits`: CPU as Go writes a `float64`, memory in MiB.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LimitsDoc {
    /// Task: vCPUs; container: CPU units.
    #[serde(
        rename = "CPU",
        serialize_with = "ser_opt_go_float",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<f64>,
    /// MiB.
    #[serde(rename = "Memory", skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
}

/// A port mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortDoc {
    /// The container's port.
    #[serde(rename = "ContainerPort", skip_serializing_if = "is_zero_u16")]
    pub container_port: u16,
    /// `tcp` or `udp`.
    #[serde(rename = "Protocol", skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// The host's port.
    #[serde(rename = "HostPort", skip_serializing_if = "is_zero_u16")]
    pub host_port: u16,
    /// The host address.
    #[serde(rename = "HostIp", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

/// A container's health (its members are lower camel case, as ECS writes them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthDoc {
    /// The status.
    pub status: HealthStatus,
    /// Since when.
    #[serde(
        rename = "statusSince",
        serialize_with = "ser_opt_nanos",
        skip_serializing_if = "Option::is_none"
    )]
    pub since: Option<SystemTime>,
    /// The last failed check's exit code.
    #[serde(rename = "exitCode", skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The last check's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// A volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeDoc {
    /// The runtime's name.
    #[serde(rename = "DockerName", skip_serializing_if = "Option::is_none")]
    pub docker_name: Option<String>,
    /// The host side.
    #[serde(rename = "Source", skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The mount point.
    #[serde(rename = "Destination", skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// One network of a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkDoc {
    /// The mode.
    #[serde(rename = "NetworkMode")]
    pub network_mode: NetworkMode,
    /// The addresses.
    #[serde(rename = "IPv4Addresses", skip_serializing_if = "Vec::is_empty")]
    pub ipv4_addresses: Vec<String>,
    /// awsvpc: the attachment index.
    #[serde(rename = "AttachmentIndex", skip_serializing_if = "Option::is_none")]
    pub attachment_index: Option<u32>,
    /// awsvpc: the MAC address.
    #[serde(rename = "MACAddress", skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// awsvpc: the subnet's block.
    #[serde(
        rename = "IPv4SubnetCIDRBlock",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_subnet_cidr_block: Option<String>,
    /// awsvpc: name servers.
    #[serde(rename = "DomainNameServers", skip_serializing_if = "Vec::is_empty")]
    pub domain_name_servers: Vec<String>,
    /// awsvpc: DNS search list.
    #[serde(rename = "DomainNameSearchList", skip_serializing_if = "Vec::is_empty")]
    pub domain_name_search_list: Vec<String>,
    /// awsvpc: the interface's DNS name.
    #[serde(rename = "PrivateDNSName", skip_serializing_if = "Option::is_none")]
    pub private_dns_name: Option<String>,
    /// awsvpc: the gateway, with the subnet's prefix.
    #[serde(
        rename = "SubnetGatewayIpv4Address",
        skip_serializing_if = "Option::is_none"
    )]
    pub subnet_gateway_ipv4_address: Option<String>,
}

/// The instance's clock.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ClockDriftDoc {
    /// Milliseconds.
    #[serde(rename = "ClockErrorBound", serialize_with = "ser_go_float")]
    pub clock_error_bound: f64,
    /// When measured.
    #[serde(
        rename = "ReferenceTimestamp",
        serialize_with = "ser_opt_nanos",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_timestamp: Option<SystemTime>,
    /// Synchronized or not.
    #[serde(rename = "ClockSynchronizationStatus")]
    pub status: ClockStatus,
}

/// The task document: `/task`, or with `with_tags` `/taskWithTags`.
pub fn task_document(task: &TaskFacts, with_tags: bool) -> TaskMetadata {
    let tags = |m: &BTreeMap<String, String>| {
        if with_tags {
            m.clone()
        } else {
            BTreeMap::new()
        }
    };
    let limits = task.limits;
    TaskMetadata {
        cluster: task.cluster.clone(),
        task_arn: task.task_arn.clone(),
        family: task.family.clone(),
        revision: task.revision.to_string(),
        desired_status: task.desired_status,
        known_status: task.known_status,
        limits: (limits.cpu.is_some() || limits.memory.is_some()).then(|| limits_doc(limits)),
        pull_started_at: task.pull_started_at,
        pull_stopped_at: task.pull_stopped_at,
        execution_stopped_at: task.execution_stopped_at,
        availability_zone: task.availability_zone.clone(),
        task_tags: tags(&task.task_tags),
        container_instance_tags: tags(&task.container_instance_tags),
        launch_type: task.launch_type,
        containers: (task.containers.iter())
            .map(|c| container_document(task, c))
            .collect(),
        vpc_id: task.vpc_id.clone(),
        service_name: task.service_name.clone(),
        clock_drift: task.clock_drift.map(|d| ClockDriftDoc {
            clock_error_bound: d.clock_error_bound,
            reference_timestamp: d.reference_timestamp,
            status: d.status,
        }),
        fault_injection_enabled: false,
    }
}

/// The document of container `c` of `task`.
pub fn container_document(task: &TaskFacts, c: &ContainerFacts) -> ContainerMetadata {
    ContainerMetadata {
        docker_id: c.docker_id.clone(),
        name: c.name.clone(),
        docker_name: c.docker_name.clone(),
        image: c.image.clone(),
        image_id: c.image_id.clone(),
        ports: c.ports.iter().map(port_doc).collect(),
        labels: labels(task, c),
        desired_status: c.desired_status,
        known_status: c.known_status,
        exit_code: c.exit_code,
        limits: limits_doc(c.limits),
        created_at: c.created_at,
        started_at: c.started_at,
        finished_at: c.finished_at,
        kind: c.kind,
        health: c.health.as_ref().map(health_doc),
        volumes: c.volumes.iter().map(volume_doc).collect(),
        log_driver: c.log_driver.clone(),
        log_options: c.log_options.clone(),
        container_arn: c.container_arn.clone(),
        networks: task.network.iter().map(network_doc).collect(),
        restart_count: c.restart_count,
    }
}

/// The container's own labels and the five ECS sets, which win over the container's.
pub fn labels(task: &TaskFacts, c: &ContainerFacts) -> BTreeMap<String, String> {
    let mut out = c.labels.clone();
    for (k, v) in [
        (LABEL_CLUSTER, task.cluster.clone()),
        (LABEL_CONTAINER_NAME, c.name.clone()),
        (LABEL_TASK_ARN, task.task_arn.clone()),
        (LABEL_FAMILY, task.family.clone()),
        (LABEL_REVISION, task.revision.to_string()),
    ] {
        out.insert(k.to_string(), v);
    }
    out
}

fn limits_doc(l: Limits) -> LimitsDoc {
    LimitsDoc {
        cpu: l.cpu,
        memory: l.memory,
    }
}

fn port_doc(p: &PortFacts) -> PortDoc {
    PortDoc {
        container_port: p.container_port,
        protocol: p.protocol.clone(),
        host_port: p.host_port,
        host_ip: p.host_ip.clone(),
    }
}

fn health_doc(h: &HealthFacts) -> HealthDoc {
    HealthDoc {
        status: h.status,
        since: h.since,
        // Go's omitempty: a zero exit code is not shown.
        exit_code: h.exit_code.filter(|c| *c != 0),
        output: h.output.clone().filter(|o| !o.is_empty()),
    }
}

fn volume_doc(v: &VolumeFacts) -> VolumeDoc {
    VolumeDoc {
        docker_name: v.docker_name.clone(),
        source: v.source.clone(),
        destination: v.destination.clone(),
    }
}

fn network_doc(n: &NetworkFacts) -> NetworkDoc {
    NetworkDoc {
        network_mode: n.mode,
        ipv4_addresses: n.ipv4_addresses.iter().map(|a| a.to_string()).collect(),
        attachment_index: n.attachment_index,
        mac_address: n.mac_address.clone(),
        ipv4_subnet_cidr_block: n.ipv4_subnet_cidr_block.clone(),
        domain_name_servers: n.domain_name_servers.clone(),
        domain_name_search_list: n.domain_name_search_list.clone(),
        private_dns_name: n.private_dns_name.clone(),
        subnet_gateway_ipv4_address: n.subnet_gateway_ipv4_address.clone(),
    }
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

/// A number as Go's `encoding/json` writes a `float64`: whole numbers without a
/// fraction (`10`, `0.25`).
pub(crate) fn ser_go_float<S: Serializer>(f: &f64, s: S) -> Result<S::Ok, S::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if f.is_finite() && f.fract() == 0.0 && f.abs() < EXACT {
        s.serialize_i64(*f as i64)
    } else {
        s.serialize_f64(*f)
    }
}

fn ser_opt_go_float<S: Serializer>(f: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match f {
        Some(f) => ser_go_float(f, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests;
