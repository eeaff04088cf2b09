//! The rules of the service operations' inputs, as tables of `crate::rules` run in the
//! API's order (the first failing row is the answer):
//!
//! * CreateService: [`CREATE`] before anything is read from the store,
//!   [`NetworkAt::CREATE`] once the task definition is known, Service Connect (`connect`:
//!   [`SC_SWITCH`], then [`ScAt::RULES`] once its namespace is found), [`CREATE_LAST`];
//! * UpdateService: [`UPDATE`], [`NetworkAt::UPDATE`], Service Connect,
//!   [`UPDATE_DEPLOYMENT`];
//! * DescribeServices [`DESCRIBE`], ListServices [`LIST`], DeleteService [`DELETE`].
//!
//! Rows read the typed inputs of `input.rs`; checks across fields, or against the task
//! definition, are named functions below their tables.

use super::input::{
    AwsvpcInput, CreateInput, DeleteInput, DeploymentConfigurationInput, DescribeInput, ListInput,
    NetworkInput, UpdateInput,
};
use crate::common::{check_tags, invalid, R};
use crate::records::{LaunchType, SchedulingStrategy};
use crate::rules::{inner, items, len, opt, Rule, Subject, Within};
use crate::taskdef::{NetworkMode, TaskDefinition};

mod connect;

#[cfg(test)]
pub(super) use connect::check_dns_label;
pub(super) use connect::{EntryAt, ScAt, SC_SWITCH};

/// The largest value of ECS's 32-bit integers.
const INT_MAX: i64 = i32::MAX as i64;
/// No upper bound, in a range or count row.
const NO_MAX: i64 = i64::MAX;

const PROPAGATE_TAGS: &[&str] = &["TASK_DEFINITION", "SERVICE", "NONE"];
const DEPLOYMENT_CONTROLLERS: &[&str] = &["ECS", "CODE_DEPLOY", "EXTERNAL"];
const ENABLED_DISABLED: &[&str] = &["ENABLED", "DISABLED"];
const DESCRIBE_INCLUDE: &[&str] = &["TAGS"];

impl Subject for CreateInput {}
impl Subject for UpdateInput {}
impl Subject for DeploymentConfigurationInput {}
impl Subject for NetworkInput {}
impl Subject for AwsvpcInput {}
impl Subject for DescribeInput {}
impl Subject for ListInput {}
impl Subject for DeleteInput {}

/// `desiredCount`, in CreateService and UpdateService.
const fn desired_count<T: Subject>(value: fn(&T) -> Option<i64>) -> Rule<'static, T> {
    Rule::range(
        "desiredCount",
        (0, NO_MAX),
        value,
        "{field} {value} must be 0 or more.",
    )
}

/// CreateService, before anything is read from the store.
#[rustfmt::skip]
pub(super) const CREATE: &[Rule<CreateInput>] = &[
    Rule::required("serviceName", |i| i.service_name.is_some()),
    Rule::name("serviceName", |i| i.service_name.as_deref()),
    Rule::one_of("launchType", LaunchType::NAMES, |i| opt(i.launch_type.as_deref())),
    Rule::one_of("schedulingStrategy", SchedulingStrategy::NAMES, |i| opt(i.scheduling_strategy.as_deref())),
    Rule::one_of("propagateTags", PROPAGATE_TAGS, |i| opt(i.propagate_tags.as_deref())),
    Rule::one_of("deploymentController.type", DEPLOYMENT_CONTROLLERS, |i| inner(&i.deployment_controller, |d| &d.r#type)),
    Rule::Check(launch_type_or_capacity_providers),
    Rule::Check(desired_count_for_replica),
    desired_count(|i| i.desired_count),
    Rule::required("taskDefinition", |i| i.task_definition.is_some()),
    Rule::Check(tags),
    Rule::Part(&Within::new(|i: &CreateInput| i.deployment_configuration.as_ref(), DEPLOYMENT_CONFIGURATION)),
    Rule::range("healthCheckGracePeriodSeconds", (0, INT_MAX), |i| i.health_check_grace_period_seconds, "{field} is out of range."),
];

/// CreateService, last: `availabilityZoneRebalancing` has always been checked after the
/// task definition, Service Connect and its names.
#[rustfmt::skip]
pub(super) const CREATE_LAST: &[Rule<CreateInput>] = &[
    Rule::one_of("availabilityZoneRebalancing", ENABLED_DISABLED, |i| opt(i.availability_zone_rebalancing.as_deref())),
];

fn launch_type_or_capacity_providers(i: &CreateInput) -> R<()> {
    if i.launch_type.is_some() && i.has_capacity_providers() {
        return Err(invalid(
            "Specifying both a launchType and capacityProviderStrategy is not supported.",
        ));
    }
    Ok(())
}

fn desired_count_for_replica(i: &CreateInput) -> R<()> {
    if i.strategy() == SchedulingStrategy::Replica && i.desired_count.is_none() {
        return Err(invalid(
            "desiredCount is required when schedulingStrategy is REPLICA.",
        ));
    }
    Ok(())
}

fn tags(i: &CreateInput) -> R<()> {
    check_tags(i.tags.as_deref().unwrap_or_default())
}

/// UpdateService, before anything is read from the store.
#[rustfmt::skip]
pub(super) const UPDATE: &[Rule<UpdateInput>] = &[
    Rule::required("service", |i| i.service.is_some()),
    desired_count(|i| i.desired_count),
    Rule::one_of("propagateTags", PROPAGATE_TAGS, |i| opt(i.propagate_tags.as_deref())),
];

/// UpdateService, once the new deployment's task definition, network and Service
/// Connect hold.
pub(super) const UPDATE_DEPLOYMENT: &[Rule<UpdateInput>] = &[Rule::Part(&Within::new(
    |i: &UpdateInput| i.deployment_configuration.as_ref(),
    DEPLOYMENT_CONFIGURATION,
))];

/// `deploymentConfiguration` of CreateService and UpdateService.
#[rustfmt::skip]
const DEPLOYMENT_CONFIGURATION: &[Rule<DeploymentConfigurationInput>] = &[
    Rule::range("deploymentConfiguration.minimumHealthyPercent", (0, 100), |d| d.minimum_healthy_percent, "{field} {value} must be between {min} and {max}."),
    Rule::range("deploymentConfiguration.maximumPercent", (100, NO_MAX), |d| d.maximum_percent, "{field} {value} must be at least {min}."),
];

/// DescribeServices.
#[rustfmt::skip]
pub(super) const DESCRIBE: &[Rule<DescribeInput>] = &[
    Rule::required("services", |i| i.services.is_some()),
    Rule::count("services", (1, 10), |i| len(&i.services), "{field}: between {min} and {max} services can be described at once."),
    Rule::one_of("include", DESCRIBE_INCLUDE, |i| items(&i.include)),
];

/// ListServices (after `maxResults`).
#[rustfmt::skip]
pub(super) const LIST: &[Rule<ListInput>] = &[
    Rule::one_of("launchType", LaunchType::NAMES, |i| opt(i.launch_type.as_deref())),
    Rule::one_of("schedulingStrategy", SchedulingStrategy::NAMES, |i| opt(i.scheduling_strategy.as_deref())),
];

/// DeleteService.
pub(super) const DELETE: &[Rule<DeleteInput>] =
    &[Rule::required("service", |i| i.service.is_some())];

// ---- the network --------------------------------------------------------------------

/// A service's network configuration, with what its checks compare it with.
pub(super) struct NetworkAt<'a> {
    /// The task definition the service will run.
    pub td: &'a TaskDefinition,
    /// The request's `networkConfiguration`.
    pub input: Option<&'a NetworkInput>,
    /// The service has one already.
    pub stored: bool,
    /// The launch type is FARGATE.
    pub fargate: bool,
}

impl Subject for NetworkAt<'_> {}

impl<'a> NetworkAt<'a> {
    /// CreateService's network.
    pub(super) const CREATE: &'a [Rule<'a, Self>] = &[
        Rule::Check(given_for_awsvpc),
        Rule::Part(&Within::new(|n: &Self| n.input, NETWORK)),
        Rule::Check(only_for_awsvpc),
        Rule::Check(fargate_needs_awsvpc),
    ];

    /// UpdateService's network.
    pub(super) const UPDATE: &'a [Rule<'a, Self>] = &[
        Rule::Check(only_for_awsvpc),
        Rule::Part(&Within::new(|n: &Self| n.input, NETWORK)),
        Rule::Check(given_for_awsvpc),
    ];

    fn awsvpc(&self) -> bool {
        self.td.network_mode() == NetworkMode::Awsvpc
    }
}

/// `networkConfiguration` itself.
const NETWORK: &[Rule<NetworkInput>] = &[
    Rule::required("networkConfiguration.awsvpcConfiguration", |n| {
        n.awsvpc_configuration.is_some()
    }),
    Rule::Part(&Within::new(
        |n: &NetworkInput| n.awsvpc_configuration.as_ref(),
        AWSVPC,
    )),
];

#[rustfmt::skip]
const AWSVPC: &[Rule<AwsvpcInput>] = &[
    Rule::count("networkConfiguration.awsvpcConfiguration.subnets", (1, NO_MAX), |a| len(&a.subnets), "{field} can not be empty."),
    Rule::count("networkConfiguration.awsvpcConfiguration.subnets", (0, 16), |a| len(&a.subnets), "{field}: at most {max} subnets."),
    Rule::count("networkConfiguration.awsvpcConfiguration.securityGroups", (0, 5), |a| len(&a.security_groups), "{field}: at most {max} security groups."),
    Rule::one_of("networkConfiguration.awsvpcConfiguration.assignPublicIp", ENABLED_DISABLED, |a| opt(a.assign_public_ip.as_deref())),
];

/// Required when the task definition's network mode is awsvpc (unless the service has
/// one already).
fn given_for_awsvpc(n: &NetworkAt<'_>) -> R<()> {
    if n.awsvpc() && n.input.is_none() && !n.stored {
        return Err(invalid(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ));
    }
    Ok(())
}

fn only_for_awsvpc(n: &NetworkAt<'_>) -> R<()> {
    if n.input.is_some() && !n.awsvpc() {
        return Err(invalid(
            "Network Configuration is not valid for the given networkMode of this task definition.",
        ));
    }
    Ok(())
}

fn fargate_needs_awsvpc(n: &NetworkAt<'_>) -> R<()> {
    if n.fargate && !n.awsvpc() {
        return Err(invalid("Fargate only supports network mode 'awsvpc'."));
    }
    Ok(())
}
