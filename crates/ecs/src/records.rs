//! ECS's records as typed structs that are still the API's documents.
//!
//! Each record (de)serializes to exactly the JSON the API returns: members berth reads
//! or writes are typed fields (statuses as enums), members it only echoes stay in
//! `rest` (`#[serde(flatten)]`), and absent optional members stay absent. A record is
//! stored as it serializes, so reading it back and writing it again changes nothing.
//! The task definition's record lives in `taskdef`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::common::Tag;
use crate::taskdef::TransportProtocol;
use berth_awsproto::wire_enum;

/// Members a record only echoes.
pub type Rest = Map<String, Value>;

wire_enum! {
    /// A task's `lastStatus`, in the order a task goes through them: a task only moves
    /// forward, so "later" is `>`.
    pub enum TaskStatus {
        Provisioning = "PROVISIONING",
        Pending = "PENDING",
        Activating = "ACTIVATING",
        Running = "RUNNING",
        Deactivating = "DEACTIVATING",
        Stopping = "STOPPING",
        Deprovisioning = "DEPROVISIONING",
        Stopped = "STOPPED",
    }
}

wire_enum! {
    /// A task's `desiredStatus`.
    pub enum DesiredStatus {
        Running = "RUNNING",
        Pending = "PENDING",
        Stopped = "STOPPED",
    }
}

wire_enum! {
    /// A container's `lastStatus`, in order.
    pub enum ContainerStatus {
        Pending = "PENDING",
        Running = "RUNNING",
        Stopped = "STOPPED",
    }
}

wire_enum! {
    /// `healthStatus` of tasks and containers.
    pub enum HealthStatus {
        Healthy = "HEALTHY",
        Unhealthy = "UNHEALTHY",
        Unknown = "UNKNOWN",
    }
}

wire_enum! {
    /// Why a task stopped.
    pub enum StopCode {
        TaskFailedToStart = "TaskFailedToStart",
        EssentialContainerExited = "EssentialContainerExited",
        UserInitiated = "UserInitiated",
        ServiceSchedulerInitiated = "ServiceSchedulerInitiated",
        SpotInterruption = "SpotInterruption",
        TerminationNotice = "TerminationNotice",
    }
}

wire_enum! {
    /// Where a task or service runs.
    pub enum LaunchType {
        Ec2 = "EC2",
        Fargate = "FARGATE",
        External = "EXTERNAL",
        ManagedInstances = "MANAGED_INSTANCES",
    }
}

wire_enum! {
    /// A task's `connectivity`.
    pub enum Connectivity {
        Connected = "CONNECTED",
        Disconnected = "DISCONNECTED",
    }
}

wire_enum! {
    /// A service's `status`.
    pub enum ServiceStatus {
        Active = "ACTIVE",
        Draining = "DRAINING",
        Inactive = "INACTIVE",
    }
}

wire_enum! {
    /// A deployment's `status`.
    pub enum DeploymentStatus {
        Primary = "PRIMARY",
        Active = "ACTIVE",
        Inactive = "INACTIVE",
    }
}

wire_enum! {
    /// A deployment's `rolloutState`.
    pub enum RolloutState {
        Completed = "COMPLETED",
        Failed = "FAILED",
        InProgress = "IN_PROGRESS",
    }
}

wire_enum! {
    /// A service's `schedulingStrategy`.
    pub enum SchedulingStrategy {
        Replica = "REPLICA",
        Daemon = "DAEMON",
    }
}

wire_enum! {
    /// A cluster's `status`.
    pub enum ClusterStatus {
        Active = "ACTIVE",
        Provisioning = "PROVISIONING",
        Deprovisioning = "DEPROVISIONING",
        Failed = "FAILED",
        Inactive = "INACTIVE",
    }
}

wire_enum! {
    /// A cluster's `attachmentsStatus`.
    pub enum AttachmentsStatus {
        UpdateInProgress = "UPDATE_IN_PROGRESS",
        UpdateComplete = "UPDATE_COMPLETE",
        UpdateFailed = "UPDATE_FAILED",
    }
}

wire_enum! {
    /// A container instance's `status`.
    pub enum InstanceStatus {
        Active = "ACTIVE",
        Draining = "DRAINING",
        Registering = "REGISTERING",
        Deregistering = "DEREGISTERING",
        RegistrationFailed = "REGISTRATION_FAILED",
        Inactive = "INACTIVE",
    }
}

/// A `{name, value}` pair (ECS's KeyValuePair: attachment details, settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// An attachment of a task (its ENI) or a cluster (its Service Connect namespace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// The attachment id.
    pub id: String,
    /// `ElasticNetworkInterface`, `sc`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// `PRECREATED`, `ATTACHING`, `ATTACHED`, ... as reported.
    pub status: String,
    /// Name/value details (`subnetId`, `privateIPv4Address`, ...).
    #[serde(default)]
    pub details: Vec<KeyValue>,
    /// Echoed members.
    #[serde(flatten)]
    pub rest: Rest,
}

impl Attachment {
    /// The value of the detail `name`.
    pub fn detail(&self, name: &str) -> Option<&str> {
        self.details
            .iter()
            .find(|d| d.name.as_deref() == Some(name))
            .and_then(|d| d.value.as_deref())
    }
}

// ---- clusters -----------------------------------------------------------------------

/// `serviceConnectDefaults` of a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScDefaults {
    /// The default namespace's ARN.
    pub namespace: String,
}

/// A cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub cluster_arn: String,
    pub cluster_name: String,
    pub status: ClusterStatus,
    pub registered_container_instances_count: i64,
    pub running_tasks_count: i64,
    pub pending_tasks_count: i64,
    pub active_services_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_defaults: Option<ScDefaults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments_status: Option<AttachmentsStatus>,
    #[serde(default)]
    pub settings: Vec<KeyValue>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// `statistics`, `capacityProviders`, `configuration`, ...
    #[serde(flatten)]
    pub rest: Rest,
}

// ---- services and deployments -------------------------------------------------------

/// `deploymentConfiguration.deploymentCircuitBreaker`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

/// A service's `deploymentConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    #[serde(default)]
    pub deployment_circuit_breaker: CircuitBreaker,
    pub maximum_percent: i64,
    pub minimum_healthy_percent: i64,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `awsvpcConfiguration` of a service, deployment or task input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsvpcConfiguration {
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<String>,
}

/// `networkConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awsvpc_configuration: Option<AwsvpcConfiguration>,
}

/// A Service Connect client alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientAlias {
    pub port: i64,
    /// As given, else `discoveryName.namespace`; an empty one (as given) answers to the
    /// default name too: see [`ScService::alias_dns_name`].
    pub dns_name: String,
    #[serde(flatten)]
    pub rest: Rest,
}

/// Service Connect timeouts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScTimeout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_request_timeout_seconds: Option<i64>,
}

/// `issuerCertificateAuthority` of a Service Connect entry's TLS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScTlsAuthority {
    pub aws_pca_authority_arn: String,
}

/// A Service Connect entry's `tls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScTls {
    pub issuer_certificate_authority: ScTlsAuthority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// One served entry of a Service Connect configuration, defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScService {
    pub port_name: String,
    pub discovery_name: String,
    #[serde(default)]
    pub client_aliases: Vec<ClientAlias>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_port_override: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ScTimeout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ScTls>,
    /// Members berth only echoes.
    #[serde(flatten)]
    pub rest: Rest,
}

impl ScService {
    /// The name the client alias `a` answers to in the namespace called `namespace`:
    /// its `dnsName`, or `discoveryName.namespace` when that is empty (AWS reads an
    /// empty `dnsName` as not given; the deployment echoes it as given).
    pub fn alias_dns_name(&self, a: &ClientAlias, namespace: &str) -> String {
        if a.dns_name.is_empty() {
            format!("{}.{namespace}", self.discovery_name)
        } else {
            a.dns_name.clone()
        }
    }
}

/// A deployment's `serviceConnectConfiguration`, as resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScConfiguration {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ScService>>,
    /// `logConfiguration`, `accessLogConfiguration`, ...
    #[serde(flatten)]
    pub rest: Rest,
}

/// One of `serviceConnectResources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScResource {
    pub discovery_name: String,
    pub discovery_arn: String,
}

/// A deployment of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub status: DeploymentStatus,
    pub task_definition: String,
    pub desired_count: i64,
    pub pending_count: i64,
    pub running_count: i64,
    pub failed_tasks: i64,
    pub created_at: f64,
    pub updated_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<RolloutState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_configuration: Option<ScConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_resources: Option<Vec<ScResource>>,
    /// `platformFamily`, ...
    #[serde(flatten)]
    pub rest: Rest,
}

/// One of a service's `events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: f64,
    pub message: String,
}

/// One of a service's `loadBalancers`: the target group its tasks join, and which
/// container port of theirs is the target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceLoadBalancer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// A Classic Load Balancer's name (berth refuses it: it serves ELBv2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i64>,
}

/// A service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub service_arn: String,
    pub service_name: String,
    pub cluster_arn: String,
    pub status: ServiceStatus,
    pub desired_count: i64,
    pub running_count: i64,
    pub pending_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    pub task_definition: String,
    pub deployment_configuration: DeploymentConfiguration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    #[serde(default)]
    pub deployments: Vec<Deployment>,
    #[serde(default)]
    pub events: Vec<ServiceEvent>,
    pub created_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling_strategy: Option<SchedulingStrategy>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The target groups its tasks are registered in while they serve.
    #[serde(default)]
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// How long after a task starts its load balancers' health checks do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<i64>,
    /// `roleArn`, `placementStrategy`, `propagateTags`, ...
    #[serde(flatten)]
    pub rest: Rest,
}

impl Service {
    /// The PRIMARY deployment's index.
    pub fn primary_index(&self) -> Option<usize> {
        self.deployments
            .iter()
            .position(|d| d.status == DeploymentStatus::Primary)
    }

    /// The PRIMARY deployment.
    pub fn primary(&self) -> Option<&Deployment> {
        self.primary_index().map(|i| &self.deployments[i])
    }

    /// The task group of the service's tasks, `service:<name>`.
    pub fn group(&self) -> String {
        format!("service:{}", self.service_name)
    }
}

// ---- tasks --------------------------------------------------------------------------

/// A container's network interface, as awsvpc tasks show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ipv4_address: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// A container's `networkBindings[]` entry: a host port that leads to one of its
/// ports (bridge and host network modes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkBinding {
    /// The address the binding listens on (`0.0.0.0`, as ECS shows bridge bindings).
    #[serde(rename = "bindIP", default, skip_serializing_if = "Option::is_none")]
    pub bind_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
    /// `first-last`, for a mapping of a container port range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port_range: Option<String>,
    /// `first-last`, the host ports of a container port range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port_range: Option<String>,
}

/// A container of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub container_arn: String,
    pub task_arn: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub last_status: ContainerStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<HealthStatus>,
    #[serde(default)]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_bindings: Option<Vec<NetworkBinding>>,
    /// `cpu`, `memory`, `runtimeId`, `imageDigest`, ...
    #[serde(flatten)]
    pub rest: Rest,
}

impl Container {
    /// Whether it is the Service Connect proxy container ECS adds to a service's task
    /// (it is in no task definition): `ecs-service-connect-` and 7 letters and digits.
    pub fn is_service_connect_proxy(&self) -> bool {
        self.name
            .strip_prefix(berth_agent_view::PROXY_CONTAINER_PREFIX)
            .is_some_and(|s| s.len() == 7 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_arn: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    pub last_status: TaskStatus,
    pub desired_status: DesiredStatus,
    pub health_status: HealthStatus,
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    pub version: i64,
    pub created_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_stopped_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity: Option<Connectivity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<StopCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// `attributes`, `overrides`, `platformVersion`, `pullStartedAt`, ...
    #[serde(flatten)]
    pub rest: Rest,
}

impl Task {
    /// The task id (the last segment of its ARN).
    pub fn id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or_default()
    }

    /// Desired RUNNING and not stopped yet.
    pub fn is_live(&self) -> bool {
        self.desired_status == DesiredStatus::Running && self.last_status != TaskStatus::Stopped
    }

    /// Desired and last RUNNING.
    pub fn is_running(&self) -> bool {
        self.desired_status == DesiredStatus::Running && self.last_status == TaskStatus::Running
    }

    /// The task's own address, as its agent reported it: the ENI's
    /// `privateIPv4Address` (awsvpc), else a container's network interface (berth's
    /// bridge-mode tasks have an address of their own on the agent's bridge).
    pub fn ip(&self) -> Option<&str> {
        self.attachments
            .iter()
            .find_map(|a| a.detail("privateIPv4Address"))
            .or_else(|| {
                (self.containers.iter())
                    .flat_map(|c| &c.network_interfaces)
                    .find_map(|n| n.private_ipv4_address.as_deref())
            })
    }

    /// Whether it has an ENI of its own (awsvpc).
    pub fn has_eni(&self) -> bool {
        self.attachments
            .iter()
            .any(|a| a.kind == crate::network::ENI_KIND)
    }

    /// The host port its container `container` maps `port` (of `protocol`) to.
    pub fn host_port(
        &self,
        container: impl Fn(&Container) -> bool,
        port: i32,
        protocol: TransportProtocol,
    ) -> Option<i32> {
        (self.containers.iter().filter(|c| container(c)))
            .flat_map(|c| c.network_bindings.iter().flatten())
            .find(|b| b.container_port == Some(port) && b.protocol.unwrap_or_default() == protocol)
            .and_then(|b| b.host_port)
    }

    /// The service it belongs to (`group` `service:<name>`).
    pub fn service_name(&self) -> Option<&str> {
        self.group.strip_prefix("service:")
    }
}

// ---- container instances ------------------------------------------------------------

/// One of an instance's registered or remaining resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integer_value: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_value: Option<i64>,
    /// `PORTS`, `PORTS_UDP`: port numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_set_value: Option<Vec<String>>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// A container instance (a berth agent's host).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInstance {
    pub container_instance_arn: String,
    pub status: InstanceStatus,
    pub agent_connected: bool,
    pub version: i64,
    #[serde(default)]
    pub registered_resources: Vec<Resource>,
    pub running_tasks_count: i64,
    pub pending_tasks_count: i64,
    pub registered_at: f64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// `ec2InstanceId`, `remainingResources`, `attributes`, `versionInfo`, ...
    #[serde(flatten)]
    pub rest: Rest,
}

impl ContainerInstance {
    /// The id (the last segment of its ARN).
    pub fn id(&self) -> &str {
        self.container_instance_arn
            .rsplit('/')
            .next()
            .unwrap_or_default()
    }

    /// The value of its attribute `name`, if it has one.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.rest
            .get("attributes")?
            .as_array()?
            .iter()
            .find(|a| a.get("name").and_then(Value::as_str) == Some(name))?
            .get("value")?
            .as_str()
    }

    /// The EC2 instance id it registered with.
    pub fn ec2_instance_id(&self) -> Option<&str> {
        self.rest.get("ec2InstanceId")?.as_str()
    }

    /// The private IPv4 address its agent registered (where its bridge-mode tasks'
    /// host ports are reached).
    pub fn private_ip(&self) -> Option<std::net::Ipv4Addr> {
        self.attribute(berth_agent_view::INSTANCE_PRIVATE_IP_ATTRIBUTE)?
            .parse()
            .ok()
    }

    /// A registered resource's amount (`CPU`, `MEMORY`), 0 when absent.
    pub fn resource(&self, name: &str) -> i64 {
        self.registered_resources
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| r.integer_value.or(r.long_value))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_states_are_ordered_as_a_task_goes_through_them() {
        assert!(TaskStatus::Provisioning < TaskStatus::Pending);
        assert!(TaskStatus::Running < TaskStatus::Stopping);
        assert!(TaskStatus::Deprovisioning < TaskStatus::Stopped);
        assert_eq!(TaskStatus::parse("RUNNING"), Some(TaskStatus::Running));
        assert_eq!(TaskStatus::parse("running"), None);
        assert_eq!(
            serde_json::to_value(TaskStatus::Deactivating).unwrap(),
            "DEACTIVATING"
        );
    }
}
