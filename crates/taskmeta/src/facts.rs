//! What the agent knows of a task and its containers: plain input for the documents.
//! Nothing here is serialized; [`crate::document`] turns it into what ECS serves.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::SystemTime;

use serde::Serialize;

/// A task's status as the ECS agent names it in task metadata (not the API's
/// `lastStatus`: there is no `PENDING` or `PROVISIONING` here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Nothing done yet.
    #[default]
    None,
    /// Image manifests resolved.
    ManifestPulled,
    /// Images pulled.
    Pulled,
    /// Containers created.
    Created,
    /// Running.
    Running,
    /// Stopped.
    Stopped,
}

/// A container's status as the ECS agent names it in task metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerStatus {
    /// Nothing done yet.
    #[default]
    None,
    /// Image manifest resolved.
    ManifestPulled,
    /// Image pulled.
    Pulled,
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// A pause container whose namespaces are ready.
    ResourcesProvisioned,
    /// Stopped.
    Stopped,
}

/// What kind of container ECS says it is (`Type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerType {
    /// A container of the task definition.
    #[default]
    Normal,
    /// The pause container holding an awsvpc task's namespace.
    CniPause,
    /// The pause container holding a task's namespaces.
    NamespacePause,
    /// A container made for an empty host volume.
    EmptyHostVolume,
    /// The Service Connect relay.
    ServiceConnectRelay,
    /// A daemon the platform manages.
    ManagedDaemon,
}

/// The task's launch type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LaunchType {
    /// On a container instance.
    Ec2,
    /// On Fargate.
    Fargate,
    /// On an external instance (ECS Anywhere).
    External,
}

/// A network mode, spelled as task metadata spells it (lower case).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// The task's own interface (berth's task namespaces).
    #[default]
    Awsvpc,
    /// Docker's bridge.
    Bridge,
    /// The host's network.
    Host,
    /// No network.
    None,
}

/// A container's health, as its health check last judged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    /// The check passes.
    Healthy,
    /// The check fails.
    Unhealthy,
    /// Not judged yet.
    Unknown,
}

/// Whether the instance's clock is synchronized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClockStatus {
    /// Synchronized.
    Synchronized,
    /// Not synchronized.
    NotSynchronized,
}

/// Everything the agent knows of one task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskFacts {
    /// The cluster's ARN or short name.
    pub cluster: String,
    /// The task's ARN.
    pub task_arn: String,
    /// The task definition's family.
    pub family: String,
    /// The task definition's revision.
    pub revision: u32,
    /// What ECS wants.
    pub desired_status: TaskStatus,
    /// What the agent has reached.
    pub known_status: TaskStatus,
    /// Task-level CPU (vCPUs) and memory (MiB), when the task definition sets them.
    pub limits: Limits,
    /// When the first image pull began.
    pub pull_started_at: Option<SystemTime>,
    /// When the last image pull ended.
    pub pull_stopped_at: Option<SystemTime>,
    /// When the task's containers all stopped.
    pub execution_stopped_at: Option<SystemTime>,
    /// The task's availability zone.
    pub availability_zone: Option<String>,
    /// The launch type.
    pub launch_type: Option<LaunchType>,
    /// The service that started the task.
    pub service_name: Option<String>,
    /// The VPC of the task's subnet.
    pub vpc_id: Option<String>,
    /// The instance's clock, when known.
    pub clock_drift: Option<ClockDrift>,
    /// The task's tags (served by `/taskWithTags` only).
    pub task_tags: BTreeMap<String, String>,
    /// The container instance's tags (served by `/taskWithTags` only).
    pub container_instance_tags: BTreeMap<String, String>,
    /// The task role; `None`: the task has none and gets no credentials endpoint.
    pub task_role_arn: Option<String>,
    /// The task's network, shown in each container's `Networks`.
    pub network: Option<NetworkFacts>,
    /// The containers, in task definition order.
    pub containers: Vec<ContainerFacts>,
}

/// CPU and memory limits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    /// Task: vCPUs (`0.25`); container: CPU units (`1024` is one vCPU).
    pub cpu: Option<f64>,
    /// MiB.
    pub memory: Option<i64>,
}

/// The instance's clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockDrift {
    /// The clock error bound, in milliseconds.
    pub clock_error_bound: f64,
    /// When it was measured.
    pub reference_timestamp: Option<SystemTime>,
    /// Whether the clock is synchronized.
    pub status: ClockStatus,
}

/// A task's network interface.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkFacts {
    /// The network mode.
    pub mode: NetworkMode,
    /// The task's addresses.
    pub ipv4_addresses: Vec<Ipv4Addr>,
    /// The interface's attachment index (awsvpc).
    pub attachment_index: Option<u32>,
    /// The interface's MAC address (awsvpc).
    pub mac_address: Option<String>,
    /// The subnet's CIDR block, `10.0.2.0/24` (awsvpc).
    pub ipv4_subnet_cidr_block: Option<String>,
    /// The interface's DNS name (awsvpc).
    pub private_dns_name: Option<String>,
    /// The subnet's gateway with its prefix, `10.0.2.1/24` (awsvpc).
    pub subnet_gateway_ipv4_address: Option<String>,
    /// Name servers (awsvpc).
    pub domain_name_servers: Vec<String>,
    /// DNS search list (awsvpc).
    pub domain_name_search_list: Vec<String>,
}

/// Everything the agent knows of one container of the task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerFacts {
    /// The container's name in the task definition.
    pub name: String,
    /// The runtime's id of the container (Docker's 64 hex digits; the process
    /// runtime's own id).
    pub docker_id: String,
    /// The runtime's name of the container (`ecs-curltest-24-curl-cca48e8dcadd97805600`).
    pub docker_name: String,
    /// The image as the task definition names it.
    pub image: String,
    /// The image's id (`sha256:…`).
    pub image_id: String,
    /// Extra labels beside the five ECS sets (`com.amazonaws.ecs.*`, made from the task).
    pub labels: BTreeMap<String, String>,
    /// What ECS wants.
    pub desired_status: ContainerStatus,
    /// What the agent has reached.
    pub known_status: ContainerStatus,
    /// The exit code, once stopped.
    pub exit_code: Option<i32>,
    /// CPU units and memory (MiB) of the container definition.
    pub limits: Limits,
    /// When created.
    pub created_at: Option<SystemTime>,
    /// When started.
    pub started_at: Option<SystemTime>,
    /// When it stopped.
    pub finished_at: Option<SystemTime>,
    /// What kind of container it is.
    pub kind: ContainerType,
    /// Port mappings.
    pub ports: Vec<PortFacts>,
    /// Its health, when it has a health check.
    pub health: Option<HealthFacts>,
    /// Its volumes.
    pub volumes: Vec<VolumeFacts>,
    /// The log driver (`awslogs`).
    pub log_driver: Option<String>,
    /// The log driver's options.
    pub log_options: BTreeMap<String, String>,
    /// The container's ARN.
    pub container_arn: Option<String>,
    /// How often it was restarted, when it has a restart policy.
    pub restart_count: Option<u32>,
}

/// A port mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortFacts {
    /// The port in the container.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The port on the host (awsvpc: the container port).
    pub host_port: u16,
    /// The host address bound.
    pub host_ip: Option<String>,
}

/// A container's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthFacts {
    /// The status.
    pub status: HealthStatus,
    /// Since when.
    pub since: Option<SystemTime>,
    /// The last failed check's exit code.
    pub exit_code: Option<i32>,
    /// The last check's output.
    pub output: Option<String>,
}

/// A volume of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeFacts {
    /// The runtime's name of the volume.
    pub docker_name: Option<String>,
    /// Where it comes from on the host.
    pub source: Option<String>,
    /// Where it is mounted in the container.
    pub destination: Option<String>,
}

/// A task role's temporary credentials, as the agent got them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskCredentials {
    /// The role's ARN.
    pub role_arn: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// When they expire.
    pub expiration: SystemTime,
}

impl TaskFacts {
    /// The container named `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerFacts> {
        self.containers.iter().find(|c| c.name == name)
    }
}
