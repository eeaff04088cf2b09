//! What the control plane tells a `berth agent`, and the task endpoints it publishes.
//!
//! * [`instance_view`]: everything one container instance must run, as one JSON
//!   document the server pushes to its agent whenever it changes: the tasks placed on
//!   the instance (desired status, task definition, overrides) and, for each task in a
//!   Service Connect namespace, what its proxy must do (ingress per served port, an
//!   egress per client alias of the namespace, the endpoints of every upstream).
//! * [`sync_endpoints`]: makes a task's Cloud Map instances match its state, inside
//!   the caller's transaction. A task is published in each Cloud Map service it serves
//!   only while it is desired and last RUNNING, has an address, and is not unhealthy
//!   (with health checks, only once HEALTHY). It is withdrawn in the very transaction
//!   that sets its desired status to STOPPED, so no proxy gets it again after that.
//!
//! View format (stable; the agent parses it):
//!
//! ```json
//! {"tasks": [{"taskArn": "...", "desiredStatus": "RUNNING", "lastStatus": "PENDING",
//!             "taskDefinition": {...}, "overrides": {...},
//!             "serviceConnect": {
//!               "clusterName": "c", "serviceName": "s", "namespace": "ns-...",
//!               "ingress": [{"discoveryName": "nginx", "portName": "nginx",
//!                            "containerPort": 80, "ingressPortOverride": null,
//!                            "protocol": "http", "timeout": {...}}],
//!               "egress": [{"dnsName": "nginx.ns", "shortName": "nginx", "port": 80,
//!                           "upstream": "nginx"}],
//!               "upstreams": {"nginx": {"protocol": "http", "timeout": {...},
//!                             "endpoints": [{"address": "10.213.0.2:80", "taskId": "..."}]}},
//!               "accessLog": {"format": "JSON", "includeQueryParameters": true}}}]}
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
use serde_json::{json, Map, Value};

use crate::common::*;
use crate::records::{ContainerInstance, HealthStatus, Service, Task};
use crate::{taskdef, Ecs};

/// The address the agent reported for a task: `privateIPv4Address` of its ENI, else
/// (tasks without awsvpc) the `bindIP` of a container's network binding.
pub fn task_ip(task: &Value) -> Option<&str> {
    let eni = task["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["details"].as_array().into_iter().flatten())
        .find(|d| d["name"] == "privateIPv4Address")
        .and_then(|d| d["value"].as_str());
    eni.or_else(|| {
        task["containers"]
            .as_array()?
            .iter()
            .flat_map(|c| c["networkBindings"].as_array().into_iter().flatten())
            .find_map(|b| b["bindIP"].as_str())
    })
}

/// The ECS service a task belongs to, from its `group` (`service:<name>`).
fn service_of(task: &Value) -> Option<&str> {
    task["group"].as_str()?.strip_prefix("service:")
}

/// The deployment that started the task (its `startedBy`), in the service document.
fn deployment_of<'a>(service: &'a Value, task: &Value) -> Option<&'a Value> {
    let id = task["startedBy"].as_str()?;
    service["deployments"]
        .as_array()?
        .iter()
        .find(|d| d["id"] == id)
}

/// The port mapping called `port_name` in a task definition: (containerPort, appProtocol).
fn port_of(td: &Value, port_name: &str) -> Option<(i64, Option<String>)> {
    td["containerDefinitions"]
        .as_array()?
        .iter()
        .flat_map(|c| c["portMappings"].as_array().into_iter().flatten())
        .find(|p| p["name"] == port_name)
        .map(|p| {
            (
                p["containerPort"].as_i64().unwrap_or(0),
                p["appProtocol"].as_str().map(str::to_string),
            )
        })
}

/// True when a task may receive traffic: desired and last RUNNING, and healthy if it
/// has health checks (never while UNHEALTHY).
pub(crate) fn serving(task: &Task) -> bool {
    if !task.is_running() {
        return false;
    }
    let checked = task.containers.iter().any(|c| c.health_status.is_some());
    match task.health_status {
        HealthStatus::Unhealthy => false,
        HealthStatus::Healthy => true,
        HealthStatus::Unknown => !checked,
    }
}

/// The Cloud Map registrations a task should have: discoveryArn → attributes. None
/// unless it serves, has an address and belongs to a deployment of `service`.
fn wanted_registrations(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    service: &Service,
    task: &Task,
) -> R<BTreeMap<String, BTreeMap<String, String>>> {
    let mut want = BTreeMap::new();
    let dep = task
        .started_by
        .as_deref()
        .and_then(|id| service.deployments.iter().find(|d| d.id == id));
    let (true, Some(ip), Some(dep)) = (serving(task), task.ip(), dep) else {
        return Ok(want);
    };
    let td = taskdef::resolve(r, ctx, &dep.task_definition)?.unwrap_or(Value::Null);
    let family = td["family"].as_str().unwrap_or_default();
    let entries = dep
        .service_connect_configuration
        .iter()
        .flat_map(|sc| sc.services.iter().flatten());
    for entry in entries {
        let Some(arn) = dep
            .service_connect_resources
            .iter()
            .flatten()
            .find(|r| r.discovery_name == entry.discovery_name)
            .map(|r| r.discovery_arn.clone())
        else {
            continue;
        };
        let port = match entry.ingress_port_override {
            Some(p) => p,
            None => match port_of(&td, &entry.port_name) {
                Some((p, _)) => p,
                None => continue,
            },
        };
        let attrs: BTreeMap<String, String> = [
            ("AWS_INSTANCE_IPV4", ip.to_string()),
            ("AWS_INSTANCE_PORT", port.to_string()),
            ("AVAILABILITY_ZONE", format!("{}a", ctx.region)),
            ("REGION", ctx.region.clone()),
            ("ECS_CLUSTER_NAME", cluster.to_string()),
            ("ECS_SERVICE_NAME", service.service_name.clone()),
            ("ECS_TASK_DEFINITION_FAMILY", family.to_string()),
            ("ECS_TASK_ARN", task.task_arn.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        want.insert(arn, attrs);
    }
    Ok(want)
}

/// Makes the Cloud Map instances of `task` match its state (see the module docs).
/// Instance id: the task id. Idempotent; writes nothing when already in step.
pub(crate) fn sync_endpoints(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    task: &Task,
) -> R<()> {
    let Some(name) = task.service_name() else {
        return Ok(());
    };
    let Some(service) = w.get_json::<Service>(&service_key(ctx, cluster, name))? else {
        return Ok(());
    };
    let want = wanted_registrations(w, ctx, cluster, &service, task)?;
    // Every Cloud Map service any deployment of the service uses.
    let all: BTreeSet<&str> = service
        .deployments
        .iter()
        .flat_map(|d| d.service_connect_resources.iter().flatten())
        .map(|r| r.discovery_arn.as_str())
        .collect();
    let task_id = task.id();
    for arn in all {
        let have = berth_cloudmap::get_instance(w, ctx, arn, task_id)?;
        match (want.get(arn), have) {
            (Some(attrs), Some(h)) if &h.attributes == attrs => {}
            (Some(attrs), _) => {
                berth_cloudmap::register_instance_in(w, ctx, arn, task_id, attrs)?;
            }
            (None, Some(_)) => {
                berth_cloudmap::deregister_instance_in(w, ctx, arn, task_id)?;
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// The service ARN's (cluster, name).
fn service_ref(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.split_once(":service/")?.1;
    rest.split_once('/')
}

/// Every Service Connect service of a namespace as an upstream (with its endpoints),
/// and each client alias of theirs as an egress listener: the same for every task of
/// the namespace.
fn namespace_view(
    r: &impl Read,
    ctx: &Context,
    ns: &berth_cloudmap::NamespaceRef,
) -> R<(Vec<Value>, Map<String, Value>)> {
    let mut egress = Vec::new();
    let mut upstreams = Map::new();
    let base = format!("{}sc/{}/service/", root(ctx), ns.id);
    let mut owners: Vec<String> = r
        .scan(&base, None, usize::MAX)?
        .into_iter()
        .map(|(k, _)| k[base.len()..].to_string())
        .collect();
    owners.sort();
    for owner in owners {
        let Some((c, n)) = service_ref(&owner) else {
            continue;
        };
        let Some(s) = r.get_json::<Value>(&service_key(ctx, c, n))? else {
            continue;
        };
        let Some(primary) = s["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["status"] == "PRIMARY")
        else {
            continue;
        };
        let ssc = &primary["serviceConnectConfiguration"];
        let std_ = taskdef::resolve(
            r,
            ctx,
            primary["taskDefinition"].as_str().unwrap_or_default(),
        )?
        .unwrap_or(Value::Null);
        for entry in ssc["services"].as_array().into_iter().flatten() {
            let discovery = entry["discoveryName"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if upstreams.contains_key(&discovery) {
                continue;
            }
            let proto = port_of(&std_, entry["portName"].as_str().unwrap_or_default())
                .and_then(|(_, p)| p)
                .unwrap_or_else(|| "tcp".into());
            let mut endpoints = Vec::new();
            if let Some(arn) = primary["serviceConnectResources"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|x| x["discoveryName"] == discovery.as_str())
                .and_then(|x| x["discoveryArn"].as_str())
            {
                for inst in berth_cloudmap::list_instances(r, ctx, arn)? {
                    let (Some(ip), Some(port)) = (
                        inst.attributes.get("AWS_INSTANCE_IPV4"),
                        inst.attributes.get("AWS_INSTANCE_PORT"),
                    ) else {
                        continue;
                    };
                    endpoints.push(json!({"address": format!("{ip}:{port}"), "taskId": inst.id}));
                }
            }
            for a in entry["clientAliases"].as_array().into_iter().flatten() {
                let dns = a["dnsName"].as_str().unwrap_or_default();
                // `dnsName` defaults to `discoveryName.namespace`; berth also maps the
                // bare discovery name, so `http://nginx` works as well.
                let short = dns
                    .strip_suffix(&format!(".{}", ns.name))
                    .filter(|s| *s == discovery)
                    .map(str::to_string);
                egress.push(json!({
                    "dnsName": dns,
                    "shortName": short,
                    "port": a["port"],
                    "upstream": discovery,
                }));
            }
            upstreams.insert(
                discovery,
                json!({
                    "protocol": proto,
                    "timeout": entry.get("timeout").cloned().unwrap_or_else(|| json!({})),
                    "endpoints": endpoints,
                }),
            );
        }
    }
    Ok((egress, upstreams))
}

/// The namespace parts of views already built in one [`instance_view`].
type NamespaceMemo = HashMap<String, (Vec<Value>, Map<String, Value>)>;

/// What the proxy of a task must do, given the Service Connect configuration `sc` its
/// deployment has (for a standalone task: the cluster's default namespace, as a
/// client) and its task definition; `None` without Service Connect.
fn service_connect_view(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    service_name: &str,
    sc: &Value,
    td: &Value,
    memo: &mut NamespaceMemo,
) -> R<Option<Value>> {
    if sc["enabled"] != true {
        return Ok(None);
    }
    let Some(ns) = sc["namespace"]
        .as_str()
        .and_then(|n| berth_cloudmap::find_namespace(r, ctx, n).ok().flatten())
    else {
        return Ok(None);
    };
    let mut ingress = Vec::new();
    for entry in sc["services"].as_array().into_iter().flatten() {
        let port_name = entry["portName"].as_str().unwrap_or_default();
        let Some((port, proto)) = port_of(td, port_name) else {
            continue;
        };
        ingress.push(json!({
            "discoveryName": entry["discoveryName"],
            "portName": port_name,
            "containerPort": port,
            "ingressPortOverride": entry["ingressPortOverride"],
            "protocol": proto.unwrap_or_else(|| "tcp".into()),
            "timeout": entry.get("timeout").cloned().unwrap_or_else(|| json!({})),
        }));
    }
    let (egress, upstreams) = match memo.get(&ns.id) {
        Some(x) => x.clone(),
        None => {
            let x = namespace_view(r, ctx, &ns)?;
            memo.insert(ns.id.clone(), x.clone());
            x
        }
    };
    let access_log = sc.get("accessLogConfiguration").cloned();
    Ok(Some(json!({
        "clusterName": cluster,
        "serviceName": service_name,
        "namespace": ns.id,
        "namespaceName": ns.name,
        "ingress": ingress,
        "egress": egress,
        "upstreams": upstreams,
        "accessLog": access_log,
    })))
}

/// Everything the container instance `instance_id` of `cluster` must run (the module
/// docs give the format). Unknown instances get an empty task list.
pub fn instance_view(ecs: &Ecs, ctx: &Context, cluster: &str, instance_id: &str) -> R<Value> {
    ecs.store.read(|r| {
        let Some(inst) = r.get_json::<Value>(&instance_key(ctx, cluster, instance_id))? else {
            return Ok(json!({"tasks": [], "instance": null}));
        };
        let arn = inst["containerInstanceArn"].clone();
        let default_ns = r
            .get_json::<Value>(&cluster_key(ctx, cluster))?
            .and_then(|c| {
                c["serviceConnectDefaults"]["namespace"]
                    .as_str()
                    .map(str::to_string)
            });
        let mut tasks = Vec::new();
        let mut memo = NamespaceMemo::new();
        for (_, t) in r.scan_json::<Value>(&task_prefix(ctx, cluster), None, usize::MAX)? {
            if t["containerInstanceArn"] != arn || t["lastStatus"] == "STOPPED" {
                continue;
            }
            let td = taskdef::resolve(r, ctx, t["taskDefinitionArn"].as_str().unwrap_or_default())?
                .unwrap_or(Value::Null);
            let mut sc = Value::Null;
            if let Some(name) = service_of(&t) {
                if let Some(s) = r.get_json::<Value>(&service_key(ctx, cluster, name))? {
                    if let Some(dep) = deployment_of(&s, &t) {
                        let dtd = taskdef::resolve(
                            r,
                            ctx,
                            dep["taskDefinition"].as_str().unwrap_or_default(),
                        )?
                        .unwrap_or(Value::Null);
                        sc = service_connect_view(
                            r,
                            ctx,
                            cluster,
                            name,
                            &dep["serviceConnectConfiguration"],
                            &dtd,
                            &mut memo,
                        )?
                        .unwrap_or(Value::Null);
                    }
                }
            } else if let Some(ns) = default_ns.as_ref() {
                // berth extension: a standalone task (RunTask, StartTask) is a client
                // of its cluster's default namespace.
                let client = json!({"enabled": true, "namespace": ns});
                sc = service_connect_view(r, ctx, cluster, "", &client, &td, &mut memo)?
                    .unwrap_or(Value::Null);
            }
            tasks.push(json!({
                "taskArn": t["taskArn"],
                "desiredStatus": t["desiredStatus"],
                "lastStatus": t["lastStatus"],
                "taskDefinition": td,
                "overrides": t["overrides"],
                "attachments": t["attachments"],
                "serviceConnect": sc,
            }));
        }
        Ok::<_, ApiError>(json!({"instance": arn, "status": inst["status"], "tasks": tasks}))
    })
}

/// Where the time an instance's agent dropped its stream is kept (until it is back).
pub(crate) fn agent_gone_key(ctx: &Context, cluster: &str, instance_id: &str) -> String {
    format!("{}{instance_id}", agent_gone_prefix(ctx, cluster))
}

/// Where the instances of `cluster` whose agent is away are kept.
pub(crate) fn agent_gone_prefix(ctx: &Context, cluster: &str) -> String {
    format!("{}agentgone/{cluster}/", root(ctx))
}

/// Records whether the agent of an instance holds its push stream open.
pub fn set_agent_connected(
    ecs: &Ecs,
    ctx: &Context,
    cluster: &str,
    instance_id: &str,
    connected: bool,
) -> R<()> {
    ecs.store.write(|w| {
        let key = instance_key(ctx, cluster, instance_id);
        let Some(mut inst) = w.get_json::<ContainerInstance>(&key)? else {
            return Ok(());
        };
        let gone = agent_gone_key(ctx, cluster, instance_id);
        if connected {
            w.delete(&gone)?;
        } else if w.get(&gone)?.is_none() {
            w.put_json(&gone, &berth_awsproto::now())?;
        }
        if inst.agent_connected == connected {
            return Ok(());
        }
        inst.agent_connected = connected;
        inst.version += 1;
        w.put_json(&key, &inst)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(())
}

/// At server start no agent holds a stream yet: every instance that looks connected is
/// marked disconnected (from now), so an agent that never comes back has its tasks
/// replaced after the grace period, as if the server had seen it go. Returns how many.
pub fn disconnect_all(ecs: &Ecs) -> R<usize> {
    let roots = ecs.store.read(|r| roots(r))?;
    let (n, _) = ecs.store.write(|w| {
        let mut n = 0;
        for ctx in &roots {
            let prefix = format!("{}instance/", root(ctx));
            for (key, mut inst) in w.scan_json::<ContainerInstance>(&prefix, None, usize::MAX)? {
                if !inst.agent_connected {
                    continue;
                }
                let cluster = key[prefix.len()..].split('/').next().unwrap_or_default();
                inst.agent_connected = false;
                inst.version += 1;
                w.put_json(&key, &inst)?;
                w.put_json(
                    &agent_gone_key(ctx, cluster, inst.id()),
                    &berth_awsproto::now(),
                )?;
                n += 1;
            }
        }
        Ok::<_, ApiError>(n)
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_addresses_come_from_the_eni_or_a_binding() {
        let t = json!({"attachments": [{"details": [{"name": "privateIPv4Address", "value": "10.0.0.5"}]}]});
        assert_eq!(task_ip(&t), Some("10.0.0.5"));
        let t = json!({"attachments": [], "containers": [{"networkBindings": [{"bindIP": "10.0.0.6"}]}]});
        assert_eq!(task_ip(&t), Some("10.0.0.6"));
        assert_eq!(task_ip(&json!({})), None);
    }
}
