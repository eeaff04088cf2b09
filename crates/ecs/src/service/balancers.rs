//! A service's `loadBalancers`, checked as ECS checks them before it accepts them: each
//! names an ELBv2 target group of the caller's that a load balancer uses, a container of
//! the task definition and one of its container ports, and the group's target type suits
//! the network mode (`ip` for awsvpc, `instance` otherwise). A Classic Load Balancer
//! (`loadBalancerName` alone) is refused: berth serves ELBv2 only.

use berth_awsproto::Context;
use berth_elbv2::model::TargetType;
use berth_store::Read;

use crate::common::*;
use crate::records::ServiceLoadBalancer;
use crate::taskdef::{NetworkMode, TaskDefinition};

/// ECS's limit on a service's load balancers.
const MAX_LOAD_BALANCERS: usize = 5;

/// Checks `lbs` (a service's `loadBalancers`) against ELB and `td`.
pub(super) fn check_in(
    r: &impl Read,
    ctx: &Context,
    lbs: &[ServiceLoadBalancer],
    td: &TaskDefinition,
) -> R<()> {
    if lbs.len() > MAX_LOAD_BALANCERS {
        return Err(invalid(format!(
            "loadBalancers can have at most {MAX_LOAD_BALANCERS} members; {} were given.",
            lbs.len()
        )));
    }
    for (k, lb) in lbs.iter().enumerate() {
        let field = format!("loadBalancers[{k}]");
        let tg = target_group_arn(lb, &field)?;
        check_container(lb, td, &field)?;
        check_target_group(r, ctx, tg, td.network_mode())?;
    }
    Ok(())
}

/// The target group's ARN; a Classic Load Balancer is refused.
fn target_group_arn<'a>(lb: &'a ServiceLoadBalancer, field: &str) -> R<&'a str> {
    match (&lb.target_group_arn, &lb.load_balancer_name) {
        (Some(arn), None) => Ok(arn),
        (Some(_), Some(_)) => Err(invalid(format!(
            "{field}: give targetGroupArn or loadBalancerName, not both."
        ))),
        (None, Some(name)) => Err(invalid(format!(
            "{field}.loadBalancerName: '{name}' would be a Classic Load Balancer, which berth \
             does not serve; give the targetGroupArn of an Application Load Balancer's \
             target group."
        ))),
        (None, None) => Err(invalid(format!("{field}.targetGroupArn is required."))),
    }
}

/// The container exists in the task definition and maps the port.
fn check_container(lb: &ServiceLoadBalancer, td: &TaskDefinition, field: &str) -> R<()> {
    let (Some(name), Some(port)) = (&lb.container_name, lb.container_port) else {
        return Err(invalid(format!(
            "{field}: containerName and containerPort are required."
        )));
    };
    let Some(c) = td.container(name) else {
        return Err(invalid(format!(
            "The container {name} does not exist in the task definition."
        )));
    };
    if !c
        .port_mappings
        .iter()
        .any(|p| p.container_port.map(i64::from) == Some(port))
    {
        return Err(invalid(format!(
            "The container {name} did not have a container port {port} defined."
        )));
    }
    Ok(())
}

/// The group exists, a load balancer uses it, and its target type suits `mode`.
fn check_target_group(r: &impl Read, ctx: &Context, arn: &str, mode: NetworkMode) -> R<()> {
    let Some(tg) = berth_elbv2::target_group_in(r, ctx, arn)? else {
        return Err(invalid(format!(
            "Unable to find the target group with targetGroupArn {arn}."
        )));
    };
    if berth_elbv2::load_balancers_of_in(r, ctx, arn)?.is_empty() {
        return Err(invalid(format!(
            "The target group with targetGroupArn {arn} does not have an associated load \
             balancer."
        )));
    }
    let kind = tg.target_group.target_type;
    let wanted = match mode {
        NetworkMode::Awsvpc => TargetType::Ip,
        _ => TargetType::Instance,
    };
    if kind != wanted {
        return Err(invalid(format!(
            "The provided target group {arn} has target type {}, which is incompatible with \
             the {} network mode specified in the task definition.",
            kind.as_str(),
            mode.as_str()
        )));
    }
    Ok(())
}
