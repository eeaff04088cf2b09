//! Container instances: the hosts (berth agents) tasks run on.

use std::collections::BTreeSet;

use berth_awsproto::{now, parse_input, random_string, ApiError, Context, HEX};
use berth_store::{Read, Writer};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::*;
use crate::network;
use crate::records::{ContainerInstance, InstanceStatus, Resource, Rest, TaskStatus};
use crate::resource::{describe_each, list_arns, to_json};
use crate::scheduler::placement::{HostPort, PORT_RESOURCES};
use crate::scheduler::Definitions;
use crate::{taskstore, Ecs};
use berth_agent_view::{
    INSTANCE_GROUPS_ATTRIBUTE, INSTANCE_PRIVATE_IP_ATTRIBUTE, INSTANCE_SUBNET_ATTRIBUTE,
};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ResourceInput {
    name: Option<String>,
    r#type: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Attribute {
    name: Option<String>,
    value: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RegisterInput {
    cluster: Option<String>,
    instance_identity_document: Option<String>,
    instance_identity_document_signature: Option<String>,
    total_resources: Option<Vec<ResourceInput>>,
    version_info: Option<Value>,
    container_instance_arn: Option<String>,
    attributes: Option<Vec<Attribute>>,
    tags: Option<Vec<Tag>>,
}

fn instance_arn(ctx: &Context, cluster: &str, id: &str) -> String {
    ctx.arn("ecs", &format!("container-instance/{cluster}/{id}"))
}

/// `totalResources` as the instance records them (every amount member present).
fn resources(i: &RegisterInput) -> R<Vec<Resource>> {
    let mut out = Vec::new();
    for (n, r) in i.total_resources.iter().flatten().enumerate() {
        let name = r
            .name
            .as_deref()
            .ok_or_else(|| invalid(format!("totalResources[{n}].name is required.")))?;
        let ty = r.r#type.as_deref().unwrap_or("INTEGER");
        check_enum(
            Some(ty),
            &format!("totalResources[{n}].type"),
            &["INTEGER", "LONG", "DOUBLE", "STRINGSET"],
        )?;
        let mut v = json!({"name": name, "type": ty});
        for (k, x) in &r.rest {
            v[k] = x.clone();
        }
        for default in ["doubleValue", "longValue", "integerValue"] {
            if v.get(default).is_none() {
                v[default] = json!(0);
            }
        }
        out.push(
            serde_json::from_value(v)
                .map_err(|e| ApiError::serialization(format!("totalResources[{n}]: {e}")))?,
        );
    }
    Ok(out)
}

/// The instance's attributes: berth's capabilities, then the agent's own (which
/// replace a capability of the same name).
fn attributes(i: &RegisterInput) -> R<Vec<Value>> {
    let mut out = vec![
        json!({"name": "ecs.capability.task-eni"}),
        json!({"name": "ecs.capability.service-connect-v1"}),
        json!({"name": "ecs.capability.container-health-check"}),
        json!({"name": "ecs.os-type", "value": "linux"}),
        json!({"name": "ecs.cpu-architecture", "value": "x86_64"}),
    ];
    for (n, a) in i.attributes.iter().flatten().enumerate() {
        let name = a
            .name
            .as_deref()
            .ok_or_else(|| invalid(format!("attributes[{n}].name is required.")))?;
        if name == INSTANCE_PRIVATE_IP_ATTRIBUTE {
            check_private_ip(a.value.as_deref(), n)?;
        }
        let mut v = json!({"name": name});
        if let Some(x) = &a.value {
            v["value"] = json!(x);
        }
        if let Some(x) = &a.target_type {
            v["targetType"] = json!(x);
        }
        if let Some(x) = &a.target_id {
            v["targetId"] = json!(x);
        }
        out.retain(|e| e["name"] != json!(name));
        out.push(v);
    }
    Ok(out)
}

/// The instance's private address (berth's attribute): an IPv4 address.
fn check_private_ip(value: Option<&str>, n: usize) -> R<()> {
    let v = value.unwrap_or_default();
    if v.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(invalid(format!(
            "attributes[{n}].value '{v}' of {INSTANCE_PRIVATE_IP_ATTRIBUTE} is not an IPv4 address."
        )));
    }
    Ok(())
}

/// The attributes with the instance's subnet and security groups (which judge its
/// bridge-mode tasks) checked against EC2 and filled in: by default the default VPC's
/// first subnet and default group.
fn with_network(w: &mut Writer<'_>, ctx: &Context, mut attributes: Vec<Value>) -> R<Vec<Value>> {
    let value = |name: &str| {
        attributes
            .iter()
            .find(|a| a["name"] == name)
            .and_then(|a| a["value"].as_str())
            .map(str::to_string)
    };
    let (subnet, groups) = (
        value(INSTANCE_SUBNET_ATTRIBUTE),
        value(INSTANCE_GROUPS_ATTRIBUTE),
    );
    let (subnet, groups) =
        network::resolve_instance_network(w, ctx, subnet.as_deref(), groups.as_deref())?;
    attributes.retain(|a| {
        a["name"] != INSTANCE_SUBNET_ATTRIBUTE && a["name"] != INSTANCE_GROUPS_ATTRIBUTE
    });
    attributes.push(json!({"name": INSTANCE_SUBNET_ATTRIBUTE, "value": subnet}));
    attributes.push(json!({"name": INSTANCE_GROUPS_ATTRIBUTE, "value": groups}));
    Ok(attributes)
}

/// A new ACTIVE, connected instance record.
fn new_instance(
    ctx: &Context,
    cluster: &str,
    id: &str,
    ec2_id: String,
    i: &RegisterInput,
    resources: Vec<Resource>,
    attributes: Vec<Value>,
) -> ContainerInstance {
    let mut rest = Rest::new();
    rest.insert("ec2InstanceId".into(), json!(ec2_id));
    rest.insert(
        "versionInfo".into(),
        i.version_info.clone().unwrap_or_else(|| json!({})),
    );
    rest.insert("remainingResources".into(), json!(resources));
    rest.insert("attributes".into(), json!(attributes));
    rest.insert("attachments".into(), json!([]));
    ContainerInstance {
        container_instance_arn: instance_arn(ctx, cluster, id),
        status: InstanceStatus::Active,
        agent_connected: true,
        version: 1,
        registered_resources: resources,
        running_tasks_count: 0,
        pending_tasks_count: 0,
        registered_at: now(),
        tags: i.tags.clone().unwrap_or_default(),
        rest,
    }
}

pub fn register(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: RegisterInput = parse_input(input)?;
    let _ = &i.instance_identity_document_signature;
    let cluster = cluster_name(i.cluster.as_deref());
    check_tags(i.tags.as_deref().unwrap_or(&[]))?;
    let doc: Value = match &i.instance_identity_document {
        Some(d) => serde_json::from_str(d).map_err(|e| {
            invalid(format!(
                "instanceIdentityDocument is not a valid JSON document: {e}"
            ))
        })?,
        None => json!({}),
    };
    let resources = resources(&i)?;
    let attributes = attributes(&i)?;
    let (ci, _) = ecs.store.write(|w| {
        active_cluster(w, ctx, &cluster)?;
        // Re-registration keeps the identity of a known instance.
        let (id, prev) = match &i.container_instance_arn {
            Some(arn) => {
                let id = name_from(arn, "container-instance");
                let prev = w
                    .get_json::<ContainerInstance>(&instance_key(ctx, &cluster, &id))?
                    .ok_or_else(|| {
                        invalid(format!(
                            "containerInstanceArn '{arn}' is not registered in this cluster."
                        ))
                    })?;
                (id, Some(prev))
            }
            None => (random_string(32, HEX), None),
        };
        crate::confine::claim(w, ctx, &cluster, &id, prev.is_some())?;
        let ec2_id = doc["instanceId"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("i-{}", random_string(17, HEX)));
        let attributes = with_network(w, ctx, attributes)?;
        let mut ci = new_instance(ctx, &cluster, &id, ec2_id, &i, resources, attributes);
        if let Some(prev) = prev {
            ci.version = prev.version + 1;
            ci.registered_at = prev.registered_at;
        }
        w.put_json(&instance_key(ctx, &cluster, &id), &ci)?;
        as_ec2_instance(w, ctx, &ci)?;
        Ok::<_, ApiError>(ci)
    })?;
    Ok(json!({ "containerInstance": public(ci, false)? }))
}

/// The EC2 instance a container instance is (its id, private address, subnet and
/// VPC), so that ELB can take it as a target. Nothing without a private address.
fn as_ec2_instance(w: &mut Writer<'_>, ctx: &Context, ci: &ContainerInstance) -> R<()> {
    let (Some(id), Some(ip), Some(subnet)) = (
        ci.ec2_instance_id(),
        ci.private_ip(),
        ci.attribute(INSTANCE_SUBNET_ATTRIBUTE),
    ) else {
        return Ok(());
    };
    let Some(subnet) = berth_ec2::subnet_in(w, ctx, subnet)? else {
        return Ok(());
    };
    let instance = berth_ec2::Instance {
        instance_id: id.to_string(),
        private_ip: ip,
        subnet_id: subnet.subnet_id.clone(),
        vpc_id: subnet.vpc_id.clone(),
        state: berth_ec2::InstanceState::Running,
    };
    berth_ec2::put_instance_in(w, ctx, &instance)
}

/// An instance as the API shows it: tags only when asked for.
fn public(c: ContainerInstance, with_tags: bool) -> R<Value> {
    let mut v = to_json(&c)?;
    if !with_tags {
        if let Some(m) = v.as_object_mut() {
            m.remove("tags");
        }
    }
    Ok(v)
}

/// Fills the live task counts of a container instance and the ports its tasks use.
fn with_counts(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    mut c: ContainerInstance,
) -> R<ContainerInstance> {
    let tasks = taskstore::on_instance(r, ctx, cluster, c.id())?;
    let running = tasks
        .iter()
        .filter(|t| t.last_status == TaskStatus::Running)
        .count() as i64;
    c.running_tasks_count = running;
    c.pending_tasks_count = tasks.len() as i64 - running;
    let mut defs = Definitions::default();
    let mut used = BTreeSet::new();
    for t in &tasks {
        used.extend(defs.demand(r, ctx, t)?.ports);
    }
    let remaining = remaining_resources(&c.registered_resources, &used);
    c.rest.insert("remainingResources".into(), json!(remaining));
    Ok(c)
}

/// `remainingResources` as ECS shows them: the registered resources, with the fixed
/// host ports its tasks use added to the `PORTS` and `PORTS_UDP` sets (which list the
/// ports in use: reserved or taken; dynamic host ports are not listed).
fn remaining_resources(registered: &[Resource], used: &BTreeSet<HostPort>) -> Vec<Resource> {
    let mut out = registered.to_vec();
    for r in &mut out {
        let Some((_, protocol)) = PORT_RESOURCES.iter().find(|(n, _)| *n == r.name) else {
            continue;
        };
        let set = r.string_set_value.get_or_insert_with(Vec::new);
        for (_, port) in used.iter().filter(|(p, _)| p == protocol) {
            let port = port.to_string();
            if !set.contains(&port) {
                set.push(port);
            }
        }
    }
    out
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeregisterInput {
    cluster: Option<String>,
    container_instance: Option<String>,
    force: Option<bool>,
}

pub fn deregister(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DeregisterInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let id = name_from(
        i.container_instance
            .as_deref()
            .ok_or_else(|| invalid("containerInstance is required."))?,
        "container-instance",
    );
    let (ci, _) = ecs.store.write(|w| {
        active_cluster(w, ctx, &cluster)?;
        let key = instance_key(ctx, &cluster, &id);
        let ci = w
            .get_json::<ContainerInstance>(&key)?
            .filter(|c| c.status != InstanceStatus::Inactive)
            .ok_or_else(|| invalid("The referenced container instance was not found."))?;
        let mut ci = with_counts(w, ctx, &cluster, ci)?;
        let busy = ci.running_tasks_count + ci.pending_tasks_count;
        if busy > 0 && !i.force.unwrap_or(false) {
            return Err(invalid(
                "Found running tasks on the instance. Deregister with force to leave them orphaned.",
            ));
        }
        ci.status = InstanceStatus::Inactive;
        ci.agent_connected = false;
        ci.version += 1;
        w.put_json(&key, &ci)?;
        Ok::<_, ApiError>(ci)
    })?;
    Ok(json!({ "containerInstance": public(ci, false)? }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    cluster: Option<String>,
    filter: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    status: Option<String>,
}

pub fn list(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let size = page_size(i.max_results, 100, 100)?;
    // Every status but INACTIVE can be asked for.
    let listable: Vec<&str> = InstanceStatus::ALL
        .iter()
        .filter(|s| **s != InstanceStatus::Inactive)
        .map(|s| s.as_str())
        .collect();
    check_enum(i.status.as_deref(), "status", &listable)?;
    if let Some(f) = &i.filter {
        return Err(invalid(format!(
            "filter '{f}': cluster query language expressions are not supported by berth yet."
        )));
    }
    let status = i.status.as_deref().and_then(InstanceStatus::parse);
    ecs.store.read(|r| {
        active_cluster(r, ctx, &cluster)?;
        list_arns(
            r,
            ctx,
            &cluster,
            i.next_token.as_deref(),
            size,
            "containerInstanceArns",
            |c: &ContainerInstance| match status {
                Some(s) => c.status == s,
                None => c.status != InstanceStatus::Inactive,
            },
        )
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    cluster: Option<String>,
    container_instances: Option<Vec<String>>,
    include: Option<Vec<String>>,
}

pub fn describe(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DescribeInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let ids = i
        .container_instances
        .ok_or_else(|| invalid("containerInstances is required."))?;
    if ids.is_empty() || ids.len() > 100 {
        return Err(invalid(
            "containerInstances: between 1 and 100 container instances.",
        ));
    }
    let include = i.include.unwrap_or_default();
    for inc in &include {
        check_enum(Some(inc), "include", &["TAGS", "CONTAINER_INSTANCE_HEALTH"])?;
    }
    let with_tags = include.iter().any(|x| x == "TAGS");
    ecs.store.read(|r| {
        active_cluster(r, ctx, &cluster)?;
        describe_each(
            r,
            ctx,
            &cluster,
            &ids,
            |c: ContainerInstance| public(with_counts(r, ctx, &cluster, c)?, with_tags),
            "containerInstances",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taskdef::TransportProtocol::{Tcp, Udp};

    fn resource(name: &str, ports: Option<&[&str]>) -> Resource {
        serde_json::from_value(json!({
            "name": name, "type": if ports.is_some() { "STRINGSET" } else { "INTEGER" },
            "integerValue": 0, "stringSetValue": ports,
        }))
        .unwrap()
    }

    #[test]
    fn remaining_ports_list_the_reserved_and_the_tasks_fixed_ones() {
        let registered = vec![
            resource("CPU", None),
            resource("PORTS", Some(&["22", "2375"])),
            resource("PORTS_UDP", Some(&[])),
        ];
        let used: BTreeSet<HostPort> = [(Tcp, 8080), (Tcp, 22), (Udp, 5353)].into();
        let got = remaining_resources(&registered, &used);
        assert_eq!(got[0], registered[0]);
        let sets: Vec<_> = got[1..]
            .iter()
            .map(|r| r.string_set_value.clone().unwrap())
            .collect();
        assert_eq!(sets, vec![vec!["22", "2375", "8080"], vec!["5353"]]);
        // An instance that registered no PORTS shows none.
        assert_eq!(
            remaining_resources(&registered[..1], &used),
            registered[..1]
        );
    }

    #[test]
    fn the_private_address_must_be_ipv4() {
        assert!(check_private_ip(Some("10.213.0.2"), 0).is_ok());
        for bad in [None, Some(""), Some("10.213.0"), Some("fd00::1")] {
            let e = check_private_ip(bad, 2).unwrap_err();
            assert!(
                e.message.starts_with("attributes[2].value"),
                "{}",
                e.message
            );
        }
    }
}
