//! ELBv2's documents as the API names them (PascalCase members), and its enums.
//!
//! The shapes that are both input and output (actions, conditions, tags, targets,
//! matchers) are one type each: inputs deny members the model does not have
//! (`UnknownParameter`), outputs leave out what is not set. Members berth refuses
//! (authentication actions, regex conditions, ...) are read as untyped values only to
//! be refused by name; stored records never hold them.

use berth_awsproto::wire_enum;
use serde::{Deserialize, Serialize};
use serde_json::Value;

wire_enum! {
    /// A load balancer's type. berth runs application load balancers only.
    pub enum LoadBalancerType {
        Application = "application",
        Network = "network",
        Gateway = "gateway",
    }
}

wire_enum! {
    /// Whether a load balancer faces the internet.
    pub enum Scheme {
        InternetFacing = "internet-facing",
        Internal = "internal",
    }
}

wire_enum! {
    /// A load balancer's state: `provisioning` until its data plane listens.
    pub enum LoadBalancerStateCode {
        Active = "active",
        Provisioning = "provisioning",
        ActiveImpaired = "active_impaired",
        Failed = "failed",
    }
}

wire_enum! {
    /// Address types. berth's load balancers and target groups are IPv4.
    pub enum IpAddressType {
        Ipv4 = "ipv4",
        Dualstack = "dualstack",
        DualstackWithoutPublicIpv4 = "dualstack-without-public-ipv4",
        Ipv6 = "ipv6",
    }
}

wire_enum! {
    /// Protocols of listeners, target groups and health checks. berth speaks HTTP.
    pub enum Protocol {
        Http = "HTTP",
        Https = "HTTPS",
        Tcp = "TCP",
        Tls = "TLS",
        Udp = "UDP",
        TcpUdp = "TCP_UDP",
        Geneve = "GENEVE",
        Quic = "QUIC",
        TcpQuic = "TCP_QUIC",
    }
}

wire_enum! {
    /// What a target group's targets are.
    pub enum TargetType {
        Instance = "instance",
        Ip = "ip",
        Lambda = "lambda",
        Alb = "alb",
    }
}

wire_enum! {
    /// An action's type.
    pub enum ActionType {
        Forward = "forward",
        AuthenticateOidc = "authenticate-oidc",
        AuthenticateCognito = "authenticate-cognito",
        Redirect = "redirect",
        FixedResponse = "fixed-response",
        JwtValidation = "jwt-validation",
    }
}

wire_enum! {
    /// A redirect's status code.
    pub enum RedirectStatusCode {
        Http301 = "HTTP_301",
        Http302 = "HTTP_302",
    }
}

wire_enum! {
    /// A target's health state.
    pub enum TargetHealthState {
        Initial = "initial",
        Healthy = "healthy",
        Unhealthy = "unhealthy",
        UnhealthyDraining = "unhealthy.draining",
        Unused = "unused",
        Draining = "draining",
        Unavailable = "unavailable",
    }
}

wire_enum! {
    /// Why a target is in its state.
    pub enum TargetHealthReason {
        RegistrationInProgress = "Elb.RegistrationInProgress",
        InitialHealthChecking = "Elb.InitialHealthChecking",
        ResponseCodeMismatch = "Target.ResponseCodeMismatch",
        Timeout = "Target.Timeout",
        FailedHealthChecks = "Target.FailedHealthChecks",
        NotRegistered = "Target.NotRegistered",
        NotInUse = "Target.NotInUse",
        DeregistrationInProgress = "Target.DeregistrationInProgress",
        InvalidState = "Target.InvalidState",
        IpUnusable = "Target.IpUnusable",
        HealthCheckDisabled = "Target.HealthCheckDisabled",
        InternalError = "Elb.InternalError",
    }
}

wire_enum! {
    /// DescribeTargetHealth's `Include`.
    pub enum HealthInclude {
        AnomalyDetection = "AnomalyDetection",
        All = "All",
    }
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    /// The key.
    pub key: Option<String>,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A target: an IP address or an instance id, and a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TargetDescription {
    /// The address or instance id.
    pub id: Option<String>,
    /// The port (the group's when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// `all`, or a zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// Refused: QUIC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quic_server_id: Option<String>,
}

/// The codes a health check counts as healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Matcher {
    /// HTTP codes: `200`, `200,202`, `200-299`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_code: Option<String>,
    /// Refused: gRPC codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_code: Option<String>,
}

/// A target group and its weight in a forward action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TargetGroupTuple {
    /// The group.
    pub target_group_arn: Option<String>,
    /// 0 to 999 (1 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
}

/// Whether a client sticks to one target group of a weighted forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GroupStickiness {
    /// On or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// 1 to 604800 seconds, required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
}

/// A forward action's target groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ForwardConfig {
    /// The groups, 1 to 5.
    #[serde(default)]
    pub target_groups: Vec<TargetGroupTuple>,
    /// Stickiness between the groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_stickiness_config: Option<GroupStickiness>,
}

/// A redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RedirectConfig {
    /// `HTTP`, `HTTPS` or `#{protocol}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// 1 to 65535 or `#{port}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// The host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The path, starting with `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The query, without `?`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// 301 or 302.
    pub status_code: Option<RedirectStatusCode>,
}

/// A fixed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FixedResponseConfig {
    /// The body, at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
    /// `2XX`, `4XX` or `5XX`.
    pub status_code: Option<String>,
    /// One of the content types ELB allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// An action of a listener or rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Action {
    /// What it does.
    #[serde(rename = "Type")]
    pub kind: Option<ActionType>,
    /// A forward's single group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// 1 to 50000: the order of the actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    /// A forward's groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_config: Option<ForwardConfig>,
    /// A redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_config: Option<RedirectConfig>,
    /// A fixed response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_response_config: Option<FixedResponseConfig>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticate_oidc_config: Option<Value>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticate_cognito_config: Option<Value>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_validation_config: Option<Value>,
}

/// Values of a host-header or path-pattern condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ValuesConfig {
    /// The patterns.
    #[serde(default)]
    pub values: Vec<String>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex_values: Option<Vec<String>>,
}

/// An HTTP header condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct HttpHeaderConfig {
    /// The header's name.
    pub http_header_name: Option<String>,
    /// The patterns.
    #[serde(default)]
    pub values: Vec<String>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex_values: Option<Vec<String>>,
}

/// One `key=value` (or `value`) of a query-string condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyValue {
    /// The key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value.
    pub value: Option<String>,
}

/// A query-string condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct QueryStringConfig {
    /// The pairs.
    #[serde(default)]
    pub values: Vec<KeyValue>,
}

/// A rule's condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RuleCondition {
    /// `path-pattern`, `host-header`, `http-header`, `query-string`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The patterns of a host-header or path-pattern condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Host names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header_config: Option<ValuesConfig>,
    /// Paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_pattern_config: Option<ValuesConfig>,
    /// A header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_header_config: Option<HttpHeaderConfig>,
    /// Query parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string_config: Option<QueryStringConfig>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_request_method_config: Option<Value>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip_config: Option<Value>,
    /// Refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex_values: Option<Vec<String>>,
}

/// An attribute of a load balancer or target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Attribute {
    /// Its name.
    pub key: Option<String>,
    /// Its value.
    #[serde(default)]
    pub value: Option<String>,
}

impl Attribute {
    /// `key` = `value`.
    pub fn new(key: &str, value: impl Into<String>) -> Attribute {
        Attribute {
            key: Some(key.to_string()),
            value: Some(value.into()),
        }
    }
}

/// A load balancer's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancerState {
    /// The state.
    pub code: LoadBalancerStateCode,
    /// Why, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A zone a load balancer is in: its subnet there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AvailabilityZone {
    /// The zone.
    pub zone_name: String,
    /// The subnet.
    pub subnet_id: String,
    /// Its addresses (none for application load balancers).
    #[serde(default)]
    pub load_balancer_addresses: Vec<Value>,
}

/// A load balancer, as DescribeLoadBalancers shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancer {
    pub load_balancer_arn: String,
    #[serde(rename = "DNSName")]
    pub dns_name: String,
    pub canonical_hosted_zone_id: String,
    /// Epoch seconds.
    pub created_time: f64,
    pub load_balancer_name: String,
    pub scheme: Scheme,
    pub vpc_id: String,
    pub state: LoadBalancerState,
    #[serde(rename = "Type")]
    pub kind: LoadBalancerType,
    pub availability_zones: Vec<AvailabilityZone>,
    pub security_groups: Vec<String>,
    pub ip_address_type: IpAddressType,
}

/// A target group, as DescribeTargetGroups shows it (`LoadBalancerArns` is filled in
/// on read, from the listeners and rules that use it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetGroup {
    pub target_group_arn: String,
    pub target_group_name: String,
    pub protocol: Protocol,
    pub port: u16,
    pub vpc_id: String,
    pub health_check_protocol: Protocol,
    /// `traffic-port` or a port.
    pub health_check_port: String,
    pub health_check_enabled: bool,
    pub health_check_interval_seconds: u32,
    pub health_check_timeout_seconds: u32,
    pub healthy_threshold_count: u32,
    pub unhealthy_threshold_count: u32,
    pub health_check_path: String,
    pub matcher: Matcher,
    #[serde(default)]
    pub load_balancer_arns: Vec<String>,
    pub target_type: TargetType,
    pub protocol_version: String,
    pub ip_address_type: IpAddressType,
}

/// A listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Listener {
    pub listener_arn: String,
    pub load_balancer_arn: String,
    pub port: u16,
    pub protocol: Protocol,
    pub default_actions: Vec<Action>,
}

/// A rule of a listener: its default rule (priority `default`) or one with conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    pub rule_arn: String,
    /// `1` to `50000`, or `default`.
    pub priority: String,
    pub conditions: Vec<RuleCondition>,
    pub actions: Vec<Action>,
    pub is_default: bool,
}

/// A target's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetHealth {
    /// Its state.
    pub state: TargetHealthState,
    /// Why (none when healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<TargetHealthReason>,
    /// More words (none when healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}
