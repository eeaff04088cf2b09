//! Deployments: a service's PRIMARY deployment is what the scheduler rolls its tasks
//! toward; a new one demotes the others to ACTIVE until they drain. Also the service
//! members deployments copy, with their defaults.

use berth_awsproto::now;

use super::input::{DeploymentConfigurationInput, NetworkInput};
use crate::records::{
    AwsvpcConfiguration, CircuitBreaker, Deployment, DeploymentConfiguration, DeploymentStatus,
    LaunchType, NetworkConfiguration, Rest, RolloutState, ScConfiguration, ScResource, Service,
};

/// A deployment id as ECS makes them: `ecs-svc/` and 19 digits.
pub(super) fn deployment_id() -> String {
    const LOW: u64 = 1_000_000_000_000_000_000;
    const HIGH: u64 = 9_999_999_999_999_999_999;
    format!("ecs-svc/{}", LOW + berth_awsproto::random_below(HIGH - LOW))
}

/// `deploymentConfiguration` with its defaults (200 %, 100 %, no circuit breaker).
pub(super) fn deployment_configuration(
    d: Option<&DeploymentConfigurationInput>,
) -> DeploymentConfiguration {
    let d = d.cloned().unwrap_or_default();
    let cb = d.deployment_circuit_breaker.unwrap_or_default();
    DeploymentConfiguration {
        deployment_circuit_breaker: CircuitBreaker {
            enable: cb.enable.unwrap_or(false),
            rollback: cb.rollback.unwrap_or(false),
        },
        maximum_percent: d.maximum_percent.unwrap_or(200),
        minimum_healthy_percent: d.minimum_healthy_percent.unwrap_or(100),
        rest: d.rest,
    }
}

/// `networkConfiguration` with its defaults (no security groups, no public IP).
pub(super) fn network_configuration(n: &NetworkInput) -> NetworkConfiguration {
    let a = n.awsvpc_configuration.clone().unwrap_or_default();
    NetworkConfiguration {
        awsvpc_configuration: Some(AwsvpcConfiguration {
            subnets: a.subnets.unwrap_or_default(),
            security_groups: Some(a.security_groups.unwrap_or_default()),
            assign_public_ip: Some(a.assign_public_ip.unwrap_or_else(|| "DISABLED".into())),
        }),
    }
}

/// A new PRIMARY deployment of `s` as it is now (task definition, desired count,
/// launch type, network), with its resolved Service Connect configuration and the
/// Cloud Map services of its entries.
pub(super) fn new_deployment(
    s: &Service,
    sc: Option<(ScConfiguration, Vec<ScResource>)>,
) -> Deployment {
    let id = deployment_id();
    let t = now();
    let fargate = s.launch_type == Some(LaunchType::Fargate);
    let platform_version = fargate.then(|| match s.platform_version.as_deref() {
        None | Some("LATEST") => "1.4.0".to_string(),
        Some(v) => v.to_string(),
    });
    let mut rest = Rest::new();
    if fargate {
        rest.insert("platformFamily".into(), "Linux".into());
    }
    let (service_connect_configuration, service_connect_resources) = sc.unzip();
    Deployment {
        rollout_state_reason: Some(format!("ECS deployment {id} in progress.")),
        id,
        status: DeploymentStatus::Primary,
        task_definition: s.task_definition.clone(),
        desired_count: s.desired_count,
        pending_count: 0,
        running_count: 0,
        failed_tasks: 0,
        created_at: t,
        updated_at: t,
        launch_type: s.launch_type,
        platform_version,
        network_configuration: s.network_configuration.clone(),
        rollout_state: Some(RolloutState::InProgress),
        service_connect_configuration,
        service_connect_resources,
        rest,
    }
}

/// Makes `d` the PRIMARY deployment of `s`; the PRIMARY and ACTIVE ones before it
/// stay, ACTIVE, until the scheduler drains them. INACTIVE ones are dropped.
pub(super) fn roll_out(s: &mut Service, d: Deployment) {
    let t = now();
    let mut deployments = vec![d];
    for mut old in std::mem::take(&mut s.deployments) {
        if matches!(
            old.status,
            DeploymentStatus::Primary | DeploymentStatus::Active
        ) {
            old.status = DeploymentStatus::Active;
            old.updated_at = t;
            deployments.push(old);
        }
    }
    s.deployments = deployments;
}

/// Without a new deployment, the PRIMARY one takes the service's desired count.
pub(super) fn rescale_primary(s: &mut Service) {
    let desired = s.desired_count;
    if let Some(i) = s.primary_index() {
        let d = &mut s.deployments[i];
        d.desired_count = desired;
        d.updated_at = now();
    }
}
