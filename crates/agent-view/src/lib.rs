//! The view of one container instance: everything a `berth agent` must run, as the
//! berth server tells it. These types are the one contract between the two: the server
//! builds a [`View`] from its records (`berth_ecs::agent::instance_view`) and pushes it
//! on the agent's stream (`GET /berth/agent/v1/watch`, one JSON document per line,
//! stamped with the store [`revision`](View::revision) it was read at); the agent reads
//! the same types back. Both directions derive from the definitions here, so what one
//! side writes is what the other reads.
//!
//! A view is whole, never a diff: the tasks placed on the instance that are not STOPPED
//! yet, each with its desired and last status, its task definition and overrides, and,
//! for a task in a Service Connect namespace, what its proxy must do (an ingress per
//! served port, an egress per client alias of the namespace, the endpoints of every
//! upstream). The ECS documents the agent interprets itself (the task definition, the
//! task's overrides and attachments) travel as the API shows them.
//!
//! ```json
//! {"instance": "arn:aws:ecs:...:container-instance/c/...", "status": "ACTIVE",
//!  "revision": 42,
//!  "tasks": [{"taskArn": "...", "desiredStatus": "RUNNING", "lastStatus": "PENDING",
//!             "taskDefinition": {...}, "overrides": {...}, "attachments": [...],
//!             "proxyContainer": "ecs-service-connect-fphC624",
//!             "serviceConnect": {
//!               "clusterName": "c", "serviceName": "s",
//!               "namespace": "ns-...", "namespaceName": "ns",
//!               "ingress": [{"discoveryName": "nginx", "portName": "nginx",
//!                            "containerPort": 80, "ingressPortOverride": null,
//!                            "protocol": "http", "timeout": {}}],
//!               "egress": [{"dnsName": "nginx.ns", "shortName": "nginx", "port": 80,
//!                           "upstream": "nginx"}],
//!               "upstreams": {"nginx": {"protocol": "http", "timeout": {},
//!                             "endpoints": [{"address": "10.213.0.2:80", "taskId": "..."}]}},
//!               "accessLog": {"format": "JSON", "includeQueryParameters": "ENABLED"}}}]}
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod metrics;
pub use metrics::{MetricSample, MetricsPost, MetricsReport, AGENT_METRICS_PATH};

/// How the proxy container ECS adds to a Service Connect service's task is named: this,
/// then 7 random letters and digits (`ecs-service-connect-fphC624`).
pub const PROXY_CONTAINER_PREFIX: &str = "ecs-service-connect-";

/// The image the agents run proxies from, which the proxy container shows.
pub const PROXY_IMAGE: &str = "berth/proxy:local";

/// The container instance attribute in which an agent registers its instance's
/// security groups (comma-separated ids), which judge its bridge-mode tasks.
pub const INSTANCE_GROUPS_ATTRIBUTE: &str = "berth.security-groups";
/// The container instance attribute in which an agent registers its instance's subnet.
pub const INSTANCE_SUBNET_ATTRIBUTE: &str = "berth.subnet";
/// The container instance attribute in which an agent registers its instance's private
/// IPv4 address: where its bridge-mode tasks' host ports are reached (and what its
/// EC2 instance's private address is).
pub const INSTANCE_PRIVATE_IP_ATTRIBUTE: &str = "berth.private-ip";

/// Where an agent asks for the certificate of one of its tasks' TLS services
/// (`POST`, [`CertificateRequest`] in, [`IssuedCertificate`] out; the query names the
/// cluster and the container instance as on the push stream).
pub const AGENT_CERTIFICATE_PATH: &str = "/berth/agent/v1/certificate";

/// Where a host joins a cluster (`POST`, `Authorization: Bearer <join token>`,
/// [`JoinAnswer`] out): the answer is the agent's own access key, which signs (SigV4)
/// everything it sends after.
pub const AGENT_JOIN_PATH: &str = "/berth/agent/v1/join";

/// An agent's credential, given once when it joins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinAnswer {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The account of the cluster.
    pub account: String,
    /// The region of the cluster.
    pub region: String,
    /// The cluster's name.
    pub cluster: String,
}

/// One container instance's view.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    /// The container instance's ARN; `None` when the instance is not registered.
    #[serde(default)]
    pub instance: Option<String>,
    /// The instance's status (`ACTIVE`, `DRAINING`, ...); absent for an unknown instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The tasks placed on the instance that are not STOPPED yet.
    #[serde(default)]
    pub tasks: Vec<TaskView>,
    /// The store revision the view was read at, set by the push stream: it grows with
    /// every change, so a newer view has a larger one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// The status ECS wants a task in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DesiredStatus {
    /// Not started yet (ECS shows it for tasks that wait for capacity).
    Pending,
    /// Running.
    Running,
    /// Stopped: the agent stops the task and reports it STOPPED.
    Stopped,
}

/// Where a task is in its life, as the agent reported it (ECS's `lastStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LastStatus {
    /// Placed; its network is being made.
    Provisioning,
    /// Its network exists (and its address is reported); its proxy is starting.
    Pending,
    /// Its application containers are starting.
    Activating,
    /// Every essential container runs.
    Running,
    /// Stopping: its endpoints are withdrawn and its proxy drains.
    Deactivating,
    /// Its containers are being stopped.
    Stopping,
    /// Its proxy and network are being removed.
    Deprovisioning,
    /// Over.
    Stopped,
}

/// One task of a view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    /// The task's ARN.
    pub task_arn: String,
    /// What the control plane wants.
    pub desired_status: DesiredStatus,
    /// What the agent last reported.
    pub last_status: LastStatus,
    /// The task's task definition, as `DescribeTaskDefinition` shows it (`null` if it
    /// is gone).
    #[serde(default)]
    pub task_definition: Value,
    /// The task's `overrides`, as `DescribeTasks` shows them.
    #[serde(default)]
    pub overrides: Value,
    /// The task's `attachments`, as `DescribeTasks` shows them (awsvpc: its ENI).
    #[serde(default)]
    pub attachments: Value,
    /// What the task's proxy must do; `None` without Service Connect.
    #[serde(default)]
    pub service_connect: Option<ServiceConnectView>,
    /// The name ECS shows the task's proxy container under (a Service Connect service's
    /// task: [`PROXY_CONTAINER_PREFIX`] and 7 letters and digits): the agent reports
    /// the proxy's state as that container's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_container: Option<String>,
    /// The security groups the task is judged by, which its packet filter enforces;
    /// `None` only from a server that predates them (then nothing is filtered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<FirewallView>,
}

/// The security groups a task is judged by, as rules its packet filter applies in the
/// task's network namespace: stateful (replies to an allowed connection pass), ingress
/// judged on the port the client dialled, everything no rule allows dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirewallView {
    /// The groups' ids (an awsvpc task's own; a bridge-mode task's instance's).
    #[serde(default)]
    pub groups: Vec<String>,
    /// What may open connections to the task, every group's rules together.
    #[serde(default)]
    pub ingress: Vec<RuleView>,
    /// What the task may open connections to.
    #[serde(default)]
    pub egress: Vec<RuleView>,
    /// For every group a rule names as its peer, the addresses of the tasks that are
    /// its members now (tasks with an address that have not stopped).
    #[serde(default)]
    pub members: BTreeMap<String, BTreeSet<Ipv4Addr>>,
}

/// One rule of a security group, for IPv4.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    /// The IP protocol number (6 TCP, 17 UDP, 1 ICMP); `None`: every protocol.
    #[serde(default)]
    pub protocol: Option<u8>,
    /// TCP and UDP: the ports, inclusive; `None`: every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<PortRange>,
    /// ICMP: the type and code; `None`: every type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpMatch>,
    /// Who is at the other end.
    pub peer: Peer,
}

/// An inclusive range of TCP or UDP ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortRange {
    /// The first.
    pub from: u16,
    /// The last.
    pub to: u16,
}

/// An ICMP type, and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IcmpMatch {
    /// The type.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// The code; `None`: every code.
    #[serde(default)]
    pub code: Option<u8>,
}

/// The other end of a rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Peer {
    /// Addresses in an IPv4 CIDR block (`10.0.0.0/8`, `0.0.0.0/0`).
    Cidr(String),
    /// The members of a security group (their addresses in [`FirewallView::members`]).
    Group(String),
}

/// What the agent reads of an attachment.
#[derive(Deserialize)]
struct Attachment {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    details: Vec<AttachmentDetail>,
}

/// What the agent reads of an attachment's detail.
#[derive(Deserialize)]
struct AttachmentDetail {
    #[serde(default)]
    name: String,
}

impl TaskView {
    /// The task id (the ARN's last segment).
    pub fn id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }

    /// The attachments, as far as they read as such (none when they do not).
    fn read_attachments(&self) -> Vec<Attachment> {
        Vec::<Attachment>::deserialize(&self.attachments).unwrap_or_default()
    }

    /// The id of the task's ENI attachment, if it has one (awsvpc).
    pub fn eni_attachment(&self) -> Option<String> {
        self.read_attachments()
            .into_iter()
            .find(|a| a.kind == "ElasticNetworkInterface")
            .and_then(|a| a.id)
    }

    /// Whether an agent already reported the task's address (its ENI has one).
    pub fn address_reported(&self) -> bool {
        self.read_attachments()
            .iter()
            .flat_map(|a| &a.details)
            .any(|d| d.name == "privateIPv4Address")
    }
}

/// What a task's proxy must do.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectView {
    /// The task's cluster.
    #[serde(default)]
    pub cluster_name: String,
    /// The task's ECS service (empty for a standalone task).
    #[serde(default)]
    pub service_name: String,
    /// The Cloud Map namespace's id.
    #[serde(default)]
    pub namespace: String,
    /// The Cloud Map namespace's name.
    #[serde(default)]
    pub namespace_name: String,
    /// One per port the task serves, in the order of its configuration.
    #[serde(default)]
    pub ingress: Vec<IngressView>,
    /// One per client alias of the namespace.
    #[serde(default)]
    pub egress: Vec<EgressView>,
    /// Every service of the namespace, by discovery name.
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamView>,
    /// The service's access log settings, if it has any.
    #[serde(default)]
    pub access_log: Option<AccessLogView>,
    /// Where the proxy container's output goes (`logConfiguration`), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfigurationView>,
}

/// A container's `logConfiguration`: the driver and its options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfigurationView {
    /// `awslogs`, `json-file`, ...
    pub log_driver: String,
    /// The driver's options (`awslogs-group`, `awslogs-stream-prefix`, ...).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// A port the task serves through its proxy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressView {
    /// The name other tasks reach it by.
    pub discovery_name: String,
    /// The task definition's port mapping.
    #[serde(default)]
    pub port_name: String,
    /// Where the application listens.
    pub container_port: u16,
    /// Where the proxy listens instead of redirecting the container port.
    #[serde(default)]
    pub ingress_port_override: Option<u16>,
    /// The port mapping's `appProtocol`.
    #[serde(default)]
    pub protocol: AppProtocol,
    /// The service's timeouts for this port.
    #[serde(default)]
    pub timeout: Timeout,
    /// The service's `tls`: the proxy terminates TLS with a certificate the agent gets
    /// for the task ([`AGENT_CERTIFICATE_PATH`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<IngressTlsView>,
}

/// A served port's TLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressTlsView {
    /// The AWS Private CA that issues the task's certificate.
    pub authority_arn: String,
    /// The certificates of the CAs of the namespace's TLS services (PEM): client
    /// certificates are verified against them (mutual TLS, berth's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_trust: Option<String>,
    /// Clients must present a valid certificate (the service's `berth:mtls` tag is
    /// `required`).
    #[serde(default)]
    pub require_client_certificate: bool,
}

/// How clients reach an upstream that has `tls`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamTlsView {
    /// The AWS Private CA its certificates come from.
    pub authority_arn: String,
    /// That CA's certificate and chain (PEM); `None` when the CA has no certificate
    /// (deleted, never imported): then nothing can be verified and no request goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<String>,
}

/// An agent's request for a certificate for one TLS service of one of its tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRequest {
    /// The task.
    pub task_arn: String,
    /// The Service Connect service (discovery name) the certificate is for.
    pub discovery_name: String,
    /// A PKCS#10 request (PEM) for the key the agent made; only its public key is used:
    /// the names are the server's.
    pub csr: String,
}

/// A certificate issued for a task's TLS service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCertificate {
    /// The certificate, then the issuing CA's certificate and chain (PEM).
    pub certificate_chain: String,
    /// Its serial number.
    pub serial: String,
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until (Unix seconds).
    pub not_after: i64,
    /// When the agent should get a new one (Unix seconds).
    pub rotate_at: i64,
}

/// A client alias: what the application connects to for an upstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressView {
    /// The alias's DNS name (`discoveryName.namespace` unless set).
    pub dns_name: String,
    /// The bare discovery name, also mapped when the DNS name is the default one.
    #[serde(default)]
    pub short_name: Option<String>,
    /// The alias's port.
    pub port: u16,
    /// The upstream (discovery name) it leads to.
    pub upstream: String,
}

/// A service of the namespace, as a destination.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamView {
    /// Its port mapping's `appProtocol`.
    #[serde(default)]
    pub protocol: AppProtocol,
    /// Its timeouts.
    #[serde(default)]
    pub timeout: Timeout,
    /// Its tasks that serve now.
    #[serde(default)]
    pub endpoints: Vec<EndpointView>,
    /// Its `tls`: reached over TLS, verified against its CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<UpstreamTlsView>,
}

/// One task that serves an upstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    /// The task's address and the port its proxy listens on.
    pub address: SocketAddr,
    /// The Cloud Map instance's id (berth's tasks: the task id).
    #[serde(default)]
    pub task_id: String,
}

/// A port's application protocol (`appProtocol`; none means TCP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    /// HTTP/1.1.
    Http,
    /// HTTP/2.
    Http2,
    /// gRPC.
    Grpc,
    /// Plain TCP.
    #[default]
    Tcp,
}

impl AppProtocol {
    /// The protocol of a port mapping's `appProtocol` (`None`: TCP).
    pub fn of(app_protocol: Option<&str>) -> AppProtocol {
        match app_protocol {
            Some("http") => AppProtocol::Http,
            Some("http2") => AppProtocol::Http2,
            Some("grpc") => AppProtocol::Grpc,
            _ => AppProtocol::Tcp,
        }
    }
}

/// A Service Connect service's timeouts (`{}` when it sets none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeout {
    /// How long a connection may stay idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<u64>,
    /// How long one request may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_request_timeout_seconds: Option<u64>,
}

/// A service's access log settings (`accessLogConfiguration`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogView {
    /// The record format.
    pub format: AccessLogFormat,
    /// Whether the query string is logged.
    #[serde(default)]
    pub include_query_parameters: IncludeQueryParameters,
}

/// An access log record's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessLogFormat {
    /// One line of text.
    Text,
    /// One JSON object.
    Json,
}

/// Whether an access log record keeps the query string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncludeQueryParameters {
    /// Kept.
    Enabled,
    /// Left out.
    #[default]
    Disabled,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "instance": "arn:aws:ecs:us-west-2:1:container-instance/c/i1",
            "status": "ACTIVE",
            "revision": 7,
            "tasks": [{
                "taskArn": "arn:aws:ecs:us-west-2:1:task/c/t1",
                "desiredStatus": "RUNNING",
                "lastStatus": "PROVISIONING",
                "taskDefinition": {"family": "web"},
                "overrides": {"containerOverrides": []},
                "attachments": [{"id": "eni-1", "type": "ElasticNetworkInterface",
                                 "status": "PRECREATED",
                                 "details": [{"name": "subnetId", "value": "subnet-1"}]}],
                "proxyContainer": "ecs-service-connect-fphC624",
                "serviceConnect": {
                    "clusterName": "c", "serviceName": "web",
                    "namespace": "ns-1", "namespaceName": "sc",
                    "ingress": [{"discoveryName": "web", "portName": "web", "containerPort": 80,
                                 "ingressPortOverride": null, "protocol": "http",
                                 "timeout": {"idleTimeoutSeconds": 5}}],
                    "egress": [{"dnsName": "web.sc", "shortName": "web", "port": 80,
                                "upstream": "web"}],
                    "upstreams": {"web": {"protocol": "grpc", "timeout": {},
                                  "endpoints": [{"address": "10.0.0.5:80", "taskId": "t1"}]}},
                    "accessLog": {"format": "TEXT", "includeQueryParameters": "ENABLED"}
                }
            }, {
                "taskArn": "arn:aws:ecs:us-west-2:1:task/c/t2",
                "desiredStatus": "STOPPED",
                "lastStatus": "DEACTIVATING",
                "taskDefinition": null,
                "overrides": null,
                "attachments": [],
                "serviceConnect": null
            }]
        })
    }

    #[test]
    fn a_view_reads_and_writes_the_same_json() {
        let json = sample();
        let view: View = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&view).unwrap(), json);
        let t = &view.tasks[0];
        assert_eq!(t.desired_status, DesiredStatus::Running);
        assert_eq!(t.last_status, LastStatus::Provisioning);
        let sc = t.service_connect.as_ref().unwrap();
        assert_eq!(sc.ingress[0].protocol, AppProtocol::Http);
        assert_eq!(sc.ingress[0].timeout.idle_timeout_seconds, Some(5));
        assert_eq!(sc.upstreams["web"].protocol, AppProtocol::Grpc);
        assert_eq!(
            sc.access_log.unwrap().include_query_parameters,
            IncludeQueryParameters::Enabled
        );
        assert_eq!(view.tasks[1].desired_status, DesiredStatus::Stopped);
    }

    #[test]
    fn without_a_revision_or_an_instance() {
        let view = View::default();
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({"instance": null, "tasks": []})
        );
        let read: View = serde_json::from_str("{}").unwrap();
        assert_eq!(read, view);
    }

    #[test]
    fn a_task_knows_its_id_eni_and_whether_its_address_was_reported() {
        let view: View = serde_json::from_value(sample()).unwrap();
        let t = &view.tasks[0];
        assert_eq!(t.id(), "t1");
        assert_eq!(t.eni_attachment().as_deref(), Some("eni-1"));
        assert!(!t.address_reported());
        let mut reported = t.clone();
        reported.attachments = json!([{"id": "eni-1", "type": "ElasticNetworkInterface",
            "details": [{"name": "privateIPv4Address", "value": "10.0.0.5"}]}]);
        assert!(reported.address_reported());
        assert_eq!(view.tasks[1].eni_attachment(), None);
        assert!(!view.tasks[1].address_reported());
    }

    #[test]
    fn app_protocols() {
        assert_eq!(AppProtocol::of(Some("http2")), AppProtocol::Http2);
        assert_eq!(AppProtocol::of(None), AppProtocol::Tcp);
        assert_eq!(serde_json::to_value(Timeout::default()).unwrap(), json!({}));
    }
}

/// Where an agent asks for the temporary credentials of one of its tasks (`POST`,
/// [`TaskCredentialsRequest`] in, [`TaskCredentialsAnswer`] out; the query names the
/// cluster and the container instance as on the push stream).
pub const AGENT_TASK_CREDENTIALS_PATH: &str = "/berth/agent/v1/task-credentials";

/// An agent's request for a task's credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCredentialsRequest {
    /// The task, placed on the agent's instance.
    pub task_arn: String,
}

/// Temporary credentials, spelled as ECS's credentials endpoint serves them to a task.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleCredentials {
    /// The role's ARN.
    pub role_arn: String,
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token (sent as `X-Amz-Security-Token`).
    pub token: String,
    /// When they expire, ISO 8601 in UTC (`2026-12-04T15:00:00Z`).
    pub expiration: String,
}

impl std::fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleCredentials")
            .field("role_arn", &self.role_arn)
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// A task's credentials: its task role's (for the application, when the task has one)
/// and its execution role's (for what the agent does for the task: secrets, logs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCredentialsAnswer {
    /// The task role's credentials, if the task has a task role.
    pub task_role: Option<RoleCredentials>,
    /// The execution role's credentials (the account's, when the task names no
    /// execution role).
    pub execution_role: RoleCredentials,
    /// Seconds until they expire.
    pub expires_in: u64,
    /// When they expire (seconds since the epoch; the `Expiration`s spell it for people).
    pub expires_at: u64,
    /// Seconds before expiry at which to ask again.
    pub refresh_before: u64,
}
