//! UpdateService: a new deployment when the task definition, the network, the platform
//! version or Service Connect changes (or when forced); otherwise the PRIMARY
//! deployment only takes the new desired count.

use berth_awsproto::{parse_input, ApiError, Context};
use berth_store::{Read, Writer};
use serde::Serialize;
use serde_json::{json, Value};

use super::balancers;
use super::connect::{self, ResolvedSc};
use super::definition;
use super::deployment::{
    deployment_configuration, network_configuration, new_deployment, rescale_primary, roll_out,
};
use super::input::UpdateInput;
use super::rules::{self, NetworkAt};
use super::{active_service, claims, members, public};
use crate::common::*;
use crate::records::{Cluster, LaunchType, ScConfiguration, Service};
use crate::rules::check_all;
use crate::taskdef::TaskDefinition;
use crate::Ecs;

pub fn update(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: UpdateInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    check_all(rules::UPDATE, &i)?;
    let name = name_from(i.service.as_deref().unwrap_or_default(), "service");
    let key = service_key(ctx, &cluster, &name);
    let (service, _) = ecs.store.write(|w| {
        let c = active_cluster(w, ctx, &cluster)?;
        let mut s = active_service(w, ctx, &cluster, &name)?;
        let (td, new_td) = definition(w, ctx, &i, &s)?;
        let mut redeploy = new_td || i.force_new_deployment.unwrap_or(false);
        redeploy |= set_network(&i, &td, &mut s)?;
        super::create::in_vpc(w, ctx, i.network_configuration.as_ref())?;
        redeploy |= set_platform_version(&i, &mut s);
        let current = s
            .primary()
            .and_then(|d| d.service_connect_configuration.as_ref());
        let current = current.filter(|_| redeploy);
        let sc = service_connect(w, ctx, &i, &c, &td, current)?;
        redeploy |= i.service_connect_configuration.is_some();
        redeploy |= set_load_balancers(w, ctx, &i, &td, &mut s)?;
        check_all(rules::UPDATE_DEPLOYMENT, &i)?;
        set_members(&i, &mut s)?;
        if redeploy {
            let new_sc = i.service_connect_configuration.is_some();
            deploy(w, ctx, &mut s, td.task_definition_arn, sc, new_sc)?;
        } else {
            rescale_primary(&mut s);
        }
        w.put_json(&key, &s)?;
        Ok::<_, ApiError>(s)
    })?;
    Ok(json!({ "service": public(service, false)? }))
}

/// The task definition the service will run, and whether it is a new one.
fn definition(
    r: &impl Read,
    ctx: &Context,
    i: &UpdateInput,
    s: &Service,
) -> R<(TaskDefinition, bool)> {
    match &i.task_definition {
        Some(reference) => {
            let td = definition::active(r, ctx, reference)?;
            let changed = td.task_definition_arn != s.task_definition;
            Ok((td, changed))
        }
        None => Ok((definition::current(r, ctx, &s.task_definition)?, false)),
    }
}

/// A new `networkConfiguration`, checked against the task definition. Returns whether
/// it changed.
fn set_network(i: &UpdateInput, td: &TaskDefinition, s: &mut Service) -> R<bool> {
    let network = NetworkAt {
        td,
        input: i.network_configuration.as_ref(),
        stored: s.network_configuration.is_some(),
        fargate: s.launch_type == Some(LaunchType::Fargate),
    };
    check_all(NetworkAt::UPDATE, &network)?;
    let Some(n) = &i.network_configuration else {
        return Ok(false);
    };
    let n = network_configuration(n);
    if s.network_configuration.as_ref() == Some(&n) {
        return Ok(false);
    }
    s.network_configuration = Some(n);
    Ok(true)
}

/// New `loadBalancers`, checked against ELB and the task definition (the current ones
/// again with a new task definition). Returns whether they changed: new ones take a
/// new deployment, as on ECS.
fn set_load_balancers(
    r: &impl Read,
    ctx: &Context,
    i: &UpdateInput,
    td: &TaskDefinition,
    s: &mut Service,
) -> R<bool> {
    let wanted = i.load_balancers.as_ref().unwrap_or(&s.load_balancers);
    balancers::check_in(r, ctx, wanted, td)?;
    if *wanted == s.load_balancers {
        return Ok(false);
    }
    s.load_balancers = wanted.clone();
    Ok(true)
}

/// A new `platformVersion`. Returns whether it changed.
fn set_platform_version(i: &UpdateInput, s: &mut Service) -> bool {
    match &i.platform_version {
        Some(pv) if s.platform_version.as_ref() != Some(pv) => {
            s.platform_version = Some(pv.clone());
            true
        }
        _ => false,
    }
}

/// The Service Connect configuration of a new deployment: the request's, else the
/// PRIMARY deployment's `current` one checked again (against a new task definition),
/// given when there is a new deployment for another reason.
fn service_connect(
    r: &impl Read,
    ctx: &Context,
    i: &UpdateInput,
    cluster: &Cluster,
    td: &TaskDefinition,
    current: Option<&ScConfiguration>,
) -> R<Option<ResolvedSc>> {
    if let Some(sc) = &i.service_connect_configuration {
        return connect::resolve(r, ctx, sc, cluster, td);
    }
    match current {
        Some(current) => connect::resolve_stored(r, ctx, current, cluster, td),
        None => Ok(None),
    }
}

/// The members UpdateService sets that berth only echoes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Echoed<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    placement_constraints: Option<&'a [Value]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    placement_strategy: Option<&'a [Value]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity_provider_strategy: Option<&'a [Value]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_execute_command: Option<bool>,
    #[serde(
        rename = "enableECSManagedTags",
        skip_serializing_if = "Option::is_none"
    )]
    enable_ecs_managed_tags: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    propagate_tags: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_registries: Option<&'a [Value]>,
}

/// The members that take no new deployment (once `deploymentConfiguration` is checked).
fn set_members(i: &UpdateInput, s: &mut Service) -> R<()> {
    if let Some(d) = &i.deployment_configuration {
        s.deployment_configuration = deployment_configuration(Some(d));
    }
    if let Some(n) = i.desired_count {
        s.desired_count = n;
    }
    if let Some(g) = i.health_check_grace_period_seconds {
        s.health_check_grace_period_seconds = Some(g);
    }
    s.rest.extend(members(&Echoed {
        placement_constraints: i.placement_constraints.as_deref(),
        placement_strategy: i.placement_strategy.as_deref(),
        capacity_provider_strategy: i.capacity_provider_strategy.as_deref(),
        enable_execute_command: i.enable_execute_command,
        enable_ecs_managed_tags: i.enable_ecs_managed_tags,
        propagate_tags: i.propagate_tags.as_deref(),
        service_registries: i.service_registries.as_deref(),
    })?);
    Ok(())
}

/// A new PRIMARY deployment of `td_arn` with `sc`. When the request changes Service
/// Connect, or the new deployment has none, the names of the service's deployments that
/// `sc` does not claim are released first.
fn deploy(
    w: &mut Writer<'_>,
    ctx: &Context,
    s: &mut Service,
    td_arn: String,
    sc: Option<ResolvedSc>,
    new_sc: bool,
) -> R<()> {
    let arn = s.service_arn.clone();
    if new_sc || sc.is_none() {
        claims::release(w, ctx, &arn, s, sc.as_ref())?;
    }
    let sc = claims::claim_for(w, ctx, &arn, sc)?;
    s.task_definition = td_arn;
    let d = new_deployment(s, sc);
    roll_out(s, d);
    Ok(())
}
