//! CreateService.

use berth_awsproto::{parse_input, ApiError, Context};
use berth_store::{Read, Writer};
use serde::Serialize;
use serde_json::{json, Value};

use super::balancers;
use super::connect::{self, ResolvedSc};
use super::definition;
use super::deployment::{deployment_configuration, network_configuration, new_deployment};
use super::input::{CreateInput, NetworkInput};
use super::rules::{self, NetworkAt};
use super::{claims, members, public};
use crate::common::*;
use crate::records::{Cluster, LaunchType, Service, ServiceStatus};
use crate::resource::Resource;
use crate::rules::check_all;
use crate::taskdef::TaskDefinition;
use crate::{network, Ecs};

pub fn create(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: CreateInput = parse_input(input)?;
    check_all(rules::CREATE, &i)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let name = i.service_name.clone().unwrap_or_default();
    let arn = Service::arn_of(ctx, &cluster, &name);
    let key = service_key(ctx, &cluster, &name);
    let (service, _) = ecs.store.write(|w| {
        if let Some(done) = replay(w, ctx, i.client_token.as_deref(), &arn, &key)? {
            return Ok(done);
        }
        let c = active_cluster(w, ctx, &cluster)?;
        if let Some(existing) = w.get_json::<Service>(&key)? {
            if existing.status != ServiceStatus::Inactive {
                return Err(invalid("Creation of service was not idempotent."));
            }
        }
        let td = definition::active(w, ctx, i.task_definition.as_deref().unwrap_or_default())?;
        let sc = against_definition(w, ctx, &i, &c, &td)?;
        in_vpc(w, ctx, i.network_configuration.as_ref())?;
        balancers::check_in(w, ctx, i.load_balancers.as_deref().unwrap_or_default(), &td)?;
        let mut s = new_service(ctx, &i, &cluster, &td)?;
        let d = new_deployment(&s, claims::claim_for(w, ctx, &arn, sc)?);
        s.created_at = d.created_at;
        s.deployments = vec![d];
        check_all(rules::CREATE_LAST, &i)?;
        w.put_json(&key, &s)?;
        Ok::<_, ApiError>(s)
    })?;
    Ok(json!({ "service": public(service, false)? }))
}

/// The network's subnets and security groups, checked against EC2.
pub(super) fn in_vpc(w: &mut Writer<'_>, ctx: &Context, n: Option<&NetworkInput>) -> R<()> {
    let Some(a) = n
        .map(network_configuration)
        .and_then(|n| n.awsvpc_configuration)
    else {
        return Ok(());
    };
    network::resolve_awsvpc(w, ctx, &a).map(|_| ())
}

/// The rules that need the task definition: the network, then Service Connect
/// (resolved).
fn against_definition(
    r: &impl Read,
    ctx: &Context,
    i: &CreateInput,
    cluster: &Cluster,
    td: &TaskDefinition,
) -> R<Option<ResolvedSc>> {
    let network = NetworkAt {
        td,
        input: i.network_configuration.as_ref(),
        stored: false,
        fargate: i.launch_type() == Some(LaunchType::Fargate),
    };
    check_all(NetworkAt::CREATE, &network)?;
    match &i.service_connect_configuration {
        Some(sc) => connect::resolve(r, ctx, sc, cluster, td),
        None => Ok(None),
    }
}

/// CreateService's `clientToken`: the service a retried request already created, or an
/// error when the token created another one; a new token is recorded.
fn replay(
    w: &mut Writer<'_>,
    ctx: &Context,
    token: Option<&str>,
    arn: &str,
    key: &str,
) -> R<Option<Service>> {
    let Some(token) = token else {
        return Ok(None);
    };
    let token_key = token_key(ctx, "service", token);
    let used = || invalid("clientToken was already used for another request.");
    match w.get_json::<String>(&token_key)? {
        None => {
            w.put_json(&token_key, arn)?;
            Ok(None)
        }
        Some(prev) if prev == arn => w.get_json::<Service>(key)?.map(Some).ok_or_else(used),
        Some(_) => Err(used()),
    }
}

/// The members of a new service that berth only echoes, with their defaults.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Echoed<'a> {
    service_registries: &'a [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity_provider_strategy: Option<&'a [Value]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform_family: Option<&'static str>,
    role_arn: String,
    placement_constraints: &'a [Value],
    placement_strategy: &'a [Value],
    deployment_controller: Value,
    created_by: String,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: bool,
    propagate_tags: &'a str,
    enable_execute_command: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    availability_zone_rebalancing: Option<&'a str>,
}

fn echoed<'a>(ctx: &Context, i: &'a CreateInput, fargate: bool) -> Echoed<'a> {
    let list = |l: &'a Option<Vec<Value>>| l.as_deref().unwrap_or_default();
    let controller = i
        .deployment_controller
        .as_ref()
        .and_then(|d| d.r#type.as_deref());
    let account = &ctx.account;
    Echoed {
        service_registries: list(&i.service_registries),
        capacity_provider_strategy: i.capacity_provider_strategy.as_deref(),
        platform_family: fargate.then_some("Linux"),
        role_arn: i.role.clone().unwrap_or_else(|| {
            format!("arn:aws:iam::{account}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS")
        }),
        placement_constraints: list(&i.placement_constraints),
        placement_strategy: list(&i.placement_strategy),
        deployment_controller: json!({ "type": controller.unwrap_or("ECS") }),
        created_by: format!("arn:aws:iam::{account}:root"),
        enable_ecs_managed_tags: i.enable_ecs_managed_tags.unwrap_or(false),
        propagate_tags: i.propagate_tags.as_deref().unwrap_or("NONE"),
        enable_execute_command: i.enable_execute_command.unwrap_or(false),
        availability_zone_rebalancing: i.availability_zone_rebalancing.as_deref(),
    }
}

/// A new ACTIVE service record, without its deployment yet.
fn new_service(ctx: &Context, i: &CreateInput, cluster: &str, td: &TaskDefinition) -> R<Service> {
    let name = i.service_name.clone().unwrap_or_default();
    let launch_type = i.effective_launch_type();
    let fargate = launch_type == Some(LaunchType::Fargate);
    Ok(Service {
        service_arn: Service::arn_of(ctx, cluster, &name),
        service_name: name,
        cluster_arn: cluster_arn(ctx, cluster),
        status: ServiceStatus::Active,
        desired_count: i.desired_count.unwrap_or(0),
        running_count: 0,
        pending_count: 0,
        launch_type,
        platform_version: fargate.then(|| {
            i.platform_version
                .clone()
                .unwrap_or_else(|| "LATEST".into())
        }),
        task_definition: td.task_definition_arn.clone(),
        deployment_configuration: deployment_configuration(i.deployment_configuration.as_ref()),
        network_configuration: i.network_configuration.as_ref().map(network_configuration),
        deployments: Vec::new(),
        events: Vec::new(),
        // The first deployment's.
        created_at: 0.0,
        scheduling_strategy: Some(i.strategy()),
        tags: i.tags.clone().unwrap_or_default(),
        load_balancers: i.load_balancers.clone().unwrap_or_default(),
        health_check_grace_period_seconds: i.health_check_grace_period_seconds,
        rest: members(&echoed(ctx, i, fargate))?,
    })
}
