//! The TaskDefinition record: the API's document, typed. Members berth reads (to
//! validate, fill in defaults, derive, or run tasks) are fields; members berth only
//! echoes stay JSON in each struct's `rest`, exactly as registered. Serializing a record
//! gives the API's bytes: absent members stay absent, integers stay integers, and the
//! defaults the service shows are filled in when a definition is read from a request
//! (the `#[serde(default)]`s below).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::common::Tag;
use berth_awsproto::wire_enum;

wire_enum! {
    /// A revision's status.
    pub enum TaskDefinitionStatus {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
        DeleteInProgress = "DELETE_IN_PROGRESS",
    }
}

wire_enum! {
    /// `networkMode` (absent: `bridge`).
    pub enum NetworkMode {
        Bridge = "bridge",
        Host = "host",
        Awsvpc = "awsvpc",
        None = "none",
    }
}

wire_enum! {
    /// A launch type a definition can run on.
    pub enum Compatibility {
        Ec2 = "EC2",
        Fargate = "FARGATE",
        External = "EXTERNAL",
        ManagedInstances = "MANAGED_INSTANCES",
    }
}

wire_enum! {
    /// `pidMode`.
    pub enum PidMode {
        Host = "host",
        Task = "task",
    }
}

wire_enum! {
    /// `ipcMode`.
    pub enum IpcMode {
        Host = "host",
        Task = "task",
        None = "none",
    }
}

wire_enum! {
    /// `runtimePlatform.cpuArchitecture`.
    pub enum CpuArchitecture {
        X86_64 = "X86_64",
        Arm64 = "ARM64",
    }
}

wire_enum! {
    /// `runtimePlatform.operatingSystemFamily`.
    pub enum OsFamily {
        WindowsServer2019Full = "WINDOWS_SERVER_2019_FULL",
        WindowsServer2019Core = "WINDOWS_SERVER_2019_CORE",
        WindowsServer2016Full = "WINDOWS_SERVER_2016_FULL",
        WindowsServer2004Core = "WINDOWS_SERVER_2004_CORE",
        WindowsServer2022Core = "WINDOWS_SERVER_2022_CORE",
        WindowsServer2022Full = "WINDOWS_SERVER_2022_FULL",
        WindowsServer2025Core = "WINDOWS_SERVER_2025_CORE",
        WindowsServer2025Full = "WINDOWS_SERVER_2025_FULL",
        WindowsServer20H2Core = "WINDOWS_SERVER_20H2_CORE",
        Linux = "LINUX",
    }
}

wire_enum! {
    /// `placementConstraints[].type`.
    pub enum PlacementConstraintType {
        MemberOf = "memberOf",
    }
}

wire_enum! {
    /// `portMappings[].protocol` (absent: `tcp`).
    #[derive(Default)]
    pub enum TransportProtocol {
        #[default]
        Tcp = "tcp",
        Udp = "udp",
    }
}

wire_enum! {
    /// `portMappings[].appProtocol`.
    pub enum AppProtocol {
        Http = "http",
        Http2 = "http2",
        Grpc = "grpc",
    }
}

wire_enum! {
    /// `logConfiguration.logDriver`.
    pub enum LogDriver {
        JsonFile = "json-file",
        Syslog = "syslog",
        Journald = "journald",
        Gelf = "gelf",
        Fluentd = "fluentd",
        Awslogs = "awslogs",
        Splunk = "splunk",
        Awsfirelens = "awsfirelens",
    }
}

wire_enum! {
    /// `dependsOn[].condition`.
    pub enum DependencyCondition {
        Start = "START",
        Complete = "COMPLETE",
        Success = "SUCCESS",
        Healthy = "HEALTHY",
    }
}

wire_enum! {
    /// `proxyConfiguration.type`.
    pub enum ProxyConfigurationType {
        Appmesh = "APPMESH",
    }
}

wire_enum! {
    /// `volumes[].efsVolumeConfiguration.transitEncryption`.
    pub enum EfsTransitEncryption {
        Enabled = "ENABLED",
        Disabled = "DISABLED",
    }
}

wire_enum! {
    /// `volumes[].dockerVolumeConfiguration.scope`.
    pub enum DockerVolumeScope {
        Task = "task",
        Shared = "shared",
    }
}

wire_enum! {
    /// `firelensConfiguration.type`.
    pub enum FirelensType {
        Fluentd = "fluentd",
        Fluentbit = "fluentbit",
    }
}

/// What the store keeps per revision (`taskdef_key`): the definition and its tags, which
/// TagResource / UntagResource edit in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionRecord {
    /// The definition, exactly as the API returns it.
    pub task_definition: TaskDefinition,
    /// Its tags (an empty list when none).
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A TaskDefinition as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    /// `arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>`.
    pub task_definition_arn: String,
    /// The family.
    pub family: String,
    /// The revision, from 1 per family.
    pub revision: u64,
    /// ACTIVE until deregistered.
    pub status: TaskDefinitionStatus,
    /// The containers, with their defaults filled in.
    pub container_definitions: Vec<ContainerDefinition>,
    /// As registered (absent: bridge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// Task CPU units (normalized from vCPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task memory in MiB (normalized from GB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// The volumes (an empty list when none).
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// The placement constraints (an empty list when none).
    #[serde(default)]
    pub placement_constraints: Vec<PlacementConstraint>,
    /// The launch types asked for, as registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_compatibilities: Option<Vec<Compatibility>>,
    /// The launch types the definition can run on (derived).
    #[serde(default)]
    pub compatibilities: Vec<Compatibility>,
    /// The container-instance attributes its tasks need (derived).
    #[serde(default)]
    pub requires_attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<PidMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<IpcMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    /// Epoch seconds.
    pub registered_at: f64,
    /// `arn:aws:iam::<account>:root`.
    pub registered_by: String,
    /// Epoch seconds, once deregistered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistered_at: Option<f64>,
    /// Members echoed as registered: `proxyConfiguration`, `inferenceAccelerators`,
    /// `ephemeralStorage`, `enableFaultInjection`, `trustedExecutionConfiguration`.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl TaskDefinition {
    /// The network mode in effect (`bridge` when none was given).
    pub fn network_mode(&self) -> NetworkMode {
        self.network_mode.unwrap_or(NetworkMode::Bridge)
    }

    /// Task CPU units, when set.
    pub fn cpu_units(&self) -> Option<u64> {
        self.cpu.as_deref().and_then(super::parse_task_cpu)
    }

    /// Task memory in MiB, when set.
    pub fn memory_mib(&self) -> Option<u64> {
        self.memory.as_deref().and_then(super::parse_task_memory)
    }

    /// The container called `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name == name)
    }

    /// The port mapping called `name`, in any container.
    pub fn port_mapping(&self, name: &str) -> Option<&PortMapping> {
        self.container_definitions
            .iter()
            .flat_map(|c| &c.port_mappings)
            .find(|p| p.name.as_deref() == Some(name))
    }
}

/// `requiresAttributes[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    /// E.g. `ecs.capability.task-eni`.
    pub name: String,
}

/// `volumes[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Unique within the definition.
    pub name: String,
    /// `host`, `dockerVolumeConfiguration`, `efsVolumeConfiguration`, ... as registered.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `placementConstraints[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementConstraint {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<PlacementConstraintType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `runtimePlatform`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<CpuArchitecture>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<OsFamily>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

fn yes() -> bool {
    true
}

/// `containerDefinitions[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    /// Unique within the definition.
    pub name: String,
    pub image: String,
    /// CPU units (default 0).
    #[serde(default)]
    pub cpu: i32,
    /// Hard limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i32>,
    /// Soft limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    /// With `hostPort` and `protocol` filled in.
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    /// Default true.
    #[serde(default = "yes")]
    pub essential: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub environment: Vec<KeyValuePair>,
    #[serde(default)]
    pub mount_points: Vec<MountPoint>,
    #[serde(default)]
    pub volumes_from: Vec<VolumeFrom>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<ContainerDependency>>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timeout: Option<i32>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Every other member of ContainerDefinition, as registered.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `portMappings[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Absent with a `containerPortRange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i32>,
    /// The container port in awsvpc and host modes, else as given or 0 (dynamic);
    /// absent with a `containerPortRange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    #[serde(default)]
    pub protocol: TransportProtocol,
    /// The name Service Connect refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<AppProtocol>,
    /// `first-last`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port_range: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `environment[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValuePair {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `mountPoints[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    /// A volume of the definition.
    pub source_volume: String,
    pub container_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `volumesFrom[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFrom {
    /// Another container of the definition.
    pub source_container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `secrets[]` and `logConfiguration.secretOptions[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub name: String,
    /// A Secrets Manager or SSM Parameter Store ARN.
    pub value_from: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `dependsOn[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    /// Another container of the definition.
    pub container_name: String,
    pub condition: DependencyCondition,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

fn thirty() -> i32 {
    30
}
fn five() -> i32 {
    5
}
fn three() -> i32 {
    3
}

/// `healthCheck`, with the service's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub command: Vec<String>,
    /// Seconds (default 30).
    #[serde(default = "thirty")]
    pub interval: i32,
    /// Seconds (default 5).
    #[serde(default = "five")]
    pub timeout: i32,
    /// Default 3.
    #[serde(default = "three")]
    pub retries: i32,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i32>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `logConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    pub log_driver: LogDriver,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_options: Option<Vec<Secret>>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}
