//! The inputs of the service operations, as their requests spell them. Members are
//! optional so that a missing one is a rule's answer (`rules.rs`), not a decoding error;
//! a member of the wrong type is a `SerializationException` naming it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::common::Tag;
use crate::records::{LaunchType, SchedulingStrategy, ServiceLoadBalancer};

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClientAliasInput {
    pub port: Option<i64>,
    pub dns_name: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct TimeoutInput {
    pub idle_timeout_seconds: Option<i64>,
    pub per_request_timeout_seconds: Option<i64>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct TlsAuthorityInput {
    pub aws_pca_authority_arn: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct TlsInput {
    pub issuer_certificate_authority: Option<TlsAuthorityInput>,
    pub kms_key: Option<String>,
    pub role_arn: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScServiceInput {
    pub port_name: Option<String>,
    pub discovery_name: Option<String>,
    pub client_aliases: Option<Vec<ClientAliasInput>>,
    pub ingress_port_override: Option<i64>,
    pub timeout: Option<TimeoutInput>,
    pub tls: Option<TlsInput>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct LogConfigurationInput {
    pub log_driver: Option<String>,
    pub options: Option<BTreeMap<String, String>>,
    pub secret_options: Option<Vec<Value>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccessLogInput {
    pub format: Option<String>,
    pub include_query_parameters: Option<String>,
}

/// `serviceConnectConfiguration`.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScConfigInput {
    pub enabled: Option<bool>,
    pub namespace: Option<String>,
    pub services: Option<Vec<ScServiceInput>>,
    pub log_configuration: Option<LogConfigurationInput>,
    pub access_log_configuration: Option<AccessLogInput>,
    pub container_configurations: Option<Vec<Value>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct AwsvpcInput {
    pub subnets: Option<Vec<String>>,
    pub security_groups: Option<Vec<String>>,
    pub assign_public_ip: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct NetworkInput {
    pub awsvpc_configuration: Option<AwsvpcInput>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct CircuitBreakerInput {
    pub enable: Option<bool>,
    pub rollback: Option<bool>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeploymentConfigurationInput {
    pub deployment_circuit_breaker: Option<CircuitBreakerInput>,
    pub maximum_percent: Option<i64>,
    pub minimum_healthy_percent: Option<i64>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeploymentControllerInput {
    pub r#type: Option<String>,
}

/// CreateService.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateInput {
    pub cluster: Option<String>,
    pub service_name: Option<String>,
    pub task_definition: Option<String>,
    pub load_balancers: Option<Vec<ServiceLoadBalancer>>,
    pub service_registries: Option<Vec<Value>>,
    pub desired_count: Option<i64>,
    pub client_token: Option<String>,
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Option<Vec<Value>>,
    pub platform_version: Option<String>,
    pub role: Option<String>,
    pub deployment_configuration: Option<DeploymentConfigurationInput>,
    pub placement_constraints: Option<Vec<Value>>,
    pub placement_strategy: Option<Vec<Value>>,
    pub network_configuration: Option<NetworkInput>,
    pub health_check_grace_period_seconds: Option<i64>,
    pub scheduling_strategy: Option<String>,
    pub deployment_controller: Option<DeploymentControllerInput>,
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    pub propagate_tags: Option<String>,
    pub enable_execute_command: Option<bool>,
    pub service_connect_configuration: Option<ScConfigInput>,
    pub availability_zone_rebalancing: Option<String>,
}

impl CreateInput {
    /// The launch type asked for (valid once `rules::CREATE` holds).
    pub fn launch_type(&self) -> Option<LaunchType> {
        self.launch_type.as_deref().and_then(LaunchType::parse)
    }

    /// Whether a capacity provider strategy is given (a launch type is not then).
    pub fn has_capacity_providers(&self) -> bool {
        self.capacity_provider_strategy
            .as_ref()
            .is_some_and(|c| !c.is_empty())
    }

    /// The service's launch type: as given, none with capacity providers, else EC2.
    pub fn effective_launch_type(&self) -> Option<LaunchType> {
        match self.launch_type() {
            Some(lt) => Some(lt),
            None if self.has_capacity_providers() => None,
            None => Some(LaunchType::Ec2),
        }
    }

    /// The scheduling strategy, REPLICA unless given.
    pub fn strategy(&self) -> SchedulingStrategy {
        self.scheduling_strategy
            .as_deref()
            .and_then(SchedulingStrategy::parse)
            .unwrap_or(SchedulingStrategy::Replica)
    }
}

/// UpdateService.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateInput {
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub desired_count: Option<i64>,
    pub task_definition: Option<String>,
    pub capacity_provider_strategy: Option<Vec<Value>>,
    pub deployment_configuration: Option<DeploymentConfigurationInput>,
    pub network_configuration: Option<NetworkInput>,
    pub placement_constraints: Option<Vec<Value>>,
    pub placement_strategy: Option<Vec<Value>>,
    pub platform_version: Option<String>,
    pub force_new_deployment: Option<bool>,
    pub health_check_grace_period_seconds: Option<i64>,
    pub enable_execute_command: Option<bool>,
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    pub load_balancers: Option<Vec<ServiceLoadBalancer>>,
    pub propagate_tags: Option<String>,
    pub service_registries: Option<Vec<Value>>,
    pub service_connect_configuration: Option<ScConfigInput>,
}

/// DescribeServices.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeInput {
    pub cluster: Option<String>,
    pub services: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
}

/// ListServices.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListInput {
    pub cluster: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
    pub launch_type: Option<String>,
    pub scheduling_strategy: Option<String>,
}

/// ListServicesByNamespace.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListByNamespaceInput {
    pub namespace: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

/// DeleteService.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeleteInput {
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub force: Option<bool>,
}
