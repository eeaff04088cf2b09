//! What the control plane tells a `berth agent`, and the task endpoints it publishes.
//!
//! * [`instance_view`]: everything one container instance must run, as the typed
//!   [`View`] of `berth_agent_view` (the one contract between server and agent) the
//!   server pushes to its agent whenever it changes: the tasks placed on the instance
//!   (desired status, task definition, overrides) and, for each task in a Service
//!   Connect namespace, what its proxy must do (ingress per served port, an egress per
//!   client alias of the namespace, the endpoints of every upstream).
//! * `sync_endpoints`: makes a task's Cloud Map instances match its state, inside
//!   the caller's transaction. A task is published in each Cloud Map service it serves
//!   only while it is desired and last RUNNING, has an address, and is not unhealthy
//!   (with health checks, only once HEALTHY). It is withdrawn in the very transaction
//!   that sets its desired status to STOPPED, so no proxy gets it again after that.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use berth_agent_view::{
    AppProtocol, EgressView, EndpointView, IngressTlsView, IngressView, ServiceConnectView,
    TaskView, Timeout, UpstreamTlsView, UpstreamView, View,
};
use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::*;
use crate::network::{self, GroupMemo};
use crate::records::{
    Cluster, ContainerInstance, Deployment, DesiredStatus, HealthStatus, ScConfiguration,
    ScService, Service, Task,
};
use crate::resource::to_json;
use crate::taskdef::{self, TaskDefinition, TransportProtocol};
use crate::{taskstore, Ecs};

/// The task's own address as the agent reported it (a task as the API shows it):
/// `privateIPv4Address` of its ENI, else (bridge mode) a container's network
/// interface.
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
            .flat_map(|c| c["networkInterfaces"].as_array().into_iter().flatten())
            .find_map(|b| b["privateIpv4Address"].as_str())
    })
}

/// The port mapping called `port_name` in a task definition (none when the definition
/// is gone): its containerPort and the protocol its appProtocol names.
fn port_of(td: Option<&TaskDefinition>, port_name: &str) -> Option<(i64, AppProtocol)> {
    let p = td?.port_mapping(port_name)?;
    let protocol = AppProtocol::of(p.app_protocol.map(|a| a.as_str()));
    Some((i64::from(p.container_port.unwrap_or(0)), protocol))
}

/// True when a task may receive traffic: desired and last RUNNING, and healthy if its
/// task definition has health checks (never while UNHEALTHY).
pub(crate) fn serving(task: &Task) -> bool {
    if !task.is_running() {
        return false;
    }
    // The proxy container's health is the proxy's readiness, not a health check.
    let checked = (task.containers.iter())
        .any(|c| c.health_status.is_some() && !c.is_service_connect_proxy());
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
    let (true, Some(dep)) = (serving(task), dep) else {
        return Ok(want);
    };
    let instance = match (task.has_eni(), &task.container_instance_arn) {
        (false, Some(arn)) => r.get_json::<ContainerInstance>(&instance_key(
            ctx,
            cluster,
            arn.rsplit('/').next().unwrap_or_default(),
        ))?,
        _ => None,
    };
    let td = taskdef::resolve(r, ctx, &dep.task_definition)?;
    let family = td.as_ref().map_or("", |td| td.family.as_str());
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
            None => match port_of(td.as_ref(), &entry.port_name) {
                Some((p, _)) => p,
                None => continue,
            },
        };
        let Some((ip, port)) = endpoint_of(task, instance.as_ref(), port) else {
            continue;
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

/// Where clients reach the proxy of `task` for its ingress on `port` (the override, else
/// the container port): an awsvpc task's own address and that port; a bridge-mode
/// task's container instance's private address and the host port the task's proxy
/// container maps that port to (as ECS registers bridge tasks). None until the agent
/// reported them.
fn endpoint_of(
    task: &Task,
    instance: Option<&ContainerInstance>,
    port: i64,
) -> Option<(String, i64)> {
    if task.has_eni() {
        return Some((task.ip()?.to_string(), port));
    }
    let ip = instance?.private_ip()?;
    let port = i32::try_from(port).ok()?;
    let host_port = task.host_port(
        |c| c.is_service_connect_proxy(),
        port,
        TransportProtocol::Tcp,
    )?;
    Some((ip.to_string(), i64::from(host_port)))
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

/// A part of a stored record as one of the view's types; a record that does not fit
/// is the server's own failure.
fn typed<'a, T: Deserialize<'a>>(v: &'a Value, what: &str) -> R<T> {
    T::deserialize(v)
        .map_err(|e| ApiError::internal(format!("{what} does not fit an agent's view: {e}")))
}

/// A Service Connect service entry's timeouts (`{}` when it sets none).
fn timeout_of(entry: &ScService) -> R<Timeout> {
    let Some(t) = &entry.timeout else {
        return Ok(Timeout::default());
    };
    let secs = |v: Option<i64>, what: &str| {
        v.map(|n| {
            u64::try_from(n).map_err(|_| ApiError::internal(format!("{what} {n} is negative")))
        })
        .transpose()
    };
    Ok(Timeout {
        idle_timeout_seconds: secs(t.idle_timeout_seconds, "idleTimeoutSeconds")?,
        per_request_timeout_seconds: secs(
            t.per_request_timeout_seconds,
            "perRequestTimeoutSeconds",
        )?,
    })
}

/// What every task of a namespace gets alike: each Service Connect service of the
/// namespace as an upstream (with its endpoints), and each client alias of theirs as an
/// egress listener.
#[derive(Clone, Default)]
struct NamespaceView {
    egress: Vec<EgressView>,
    upstreams: BTreeMap<String, UpstreamView>,
    /// The CA certificates of the namespace's TLS services (PEM).
    trust: Option<String>,
}

/// The [`NamespaceView`] of `ns`, from the PRIMARY deployment of each service in it.
fn namespace_view(
    r: &impl Read,
    ctx: &Context,
    ns: &berth_cloudmap::NamespaceRef,
) -> R<NamespaceView> {
    let mut out = NamespaceView::default();
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
        let Some(s) = r.get_json::<Service>(&service_key(ctx, c, n))? else {
            continue;
        };
        let Some(primary) = s.primary() else {
            continue;
        };
        add_deployment(r, ctx, ns, primary, &mut out)?;
    }
    out.trust = crate::tls::bundle(out.upstreams.values());
    Ok(out)
}

/// Adds the Service Connect services of one deployment to `out`: each an upstream (the
/// first service to claim a discovery name keeps it), each of its client aliases an
/// egress.
fn add_deployment(
    r: &impl Read,
    ctx: &Context,
    ns: &berth_cloudmap::NamespaceRef,
    deployment: &Deployment,
    out: &mut NamespaceView,
) -> R<()> {
    let td = taskdef::resolve(r, ctx, &deployment.task_definition)?;
    let entries = deployment
        .service_connect_configuration
        .iter()
        .flat_map(|sc| sc.services.iter().flatten());
    for entry in entries {
        let discovery = entry.discovery_name.clone();
        if out.upstreams.contains_key(&discovery) {
            continue;
        }
        let protocol = port_of(td.as_ref(), &entry.port_name).map_or(AppProtocol::Tcp, |(_, p)| p);
        let endpoints = endpoints(r, ctx, deployment, &discovery)?;
        for a in &entry.client_aliases {
            let Ok(port) = u16::try_from(a.port) else {
                continue;
            };
            // `dnsName` defaults to `discoveryName.namespace`; berth also maps the
            // bare discovery name, so `http://nginx` works as well.
            let dns_name = entry.alias_dns_name(a, &ns.name);
            let short_name = dns_name
                .strip_suffix(&format!(".{}", ns.name))
                .filter(|s| *s == discovery)
                .map(str::to_string);
            out.egress.push(EgressView {
                dns_name,
                short_name,
                port,
                upstream: discovery.clone(),
            });
        }
        let tls = entry.tls.as_ref().map(|t| {
            let arn = &t.issuer_certificate_authority.aws_pca_authority_arn;
            UpstreamTlsView {
                authority_arn: arn.clone(),
                trust: crate::tls::trust_of(r, arn),
            }
        });
        let upstream = UpstreamView {
            protocol,
            timeout: timeout_of(entry)?,
            endpoints,
            tls,
        };
        out.upstreams.insert(discovery, upstream);
    }
    Ok(())
}

/// The published tasks of the Cloud Map service a deployment registers `discovery` in.
fn endpoints(
    r: &impl Read,
    ctx: &Context,
    deployment: &Deployment,
    discovery: &str,
) -> R<Vec<EndpointView>> {
    let Some(arn) = deployment
        .service_connect_resources
        .iter()
        .flatten()
        .find(|x| x.discovery_name == discovery)
        .map(|x| x.discovery_arn.as_str())
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for inst in berth_cloudmap::list_instances(r, ctx, arn)? {
        let (Some(ip), Some(port)) = (
            inst.attributes.get("AWS_INSTANCE_IPV4"),
            inst.attributes.get("AWS_INSTANCE_PORT"),
        ) else {
            continue;
        };
        // Registered by hand with attributes that are no address: nothing to reach.
        let Ok(address) = format!("{ip}:{port}").parse() else {
            continue;
        };
        out.push(EndpointView {
            address,
            task_id: inst.id,
        });
    }
    Ok(out)
}

/// The namespace parts of views already built in one [`instance_view`], by namespace id.
type NamespaceMemo = HashMap<String, NamespaceView>;

/// The Service Connect configuration a task runs with: its deployment's (for a
/// standalone task: the cluster's default namespace, as a client), with the task
/// definition, and whether its service requires client certificates (`berth:mtls`).
pub(crate) struct Deployed {
    pub sc: ScConfiguration,
    pub td: Option<TaskDefinition>,
    pub requires_client_certificate: bool,
}

/// What the proxy of a task must do, given the Service Connect configuration it is
/// `deployed` with; `None` without Service Connect.
fn service_connect_view(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    service_name: &str,
    deployed: &Deployed,
    memo: &mut NamespaceMemo,
) -> R<Option<ServiceConnectView>> {
    let (sc, td) = (&deployed.sc, deployed.td.as_ref());
    if !sc.enabled {
        return Ok(None);
    }
    let Some(ns) = sc
        .namespace
        .as_deref()
        .and_then(|n| berth_cloudmap::find_namespace(r, ctx, n).ok().flatten())
    else {
        return Ok(None);
    };
    let shared = match memo.get(&ns.id) {
        Some(x) => x.clone(),
        None => {
            let x = namespace_view(r, ctx, &ns)?;
            memo.insert(ns.id.clone(), x.clone());
            x
        }
    };
    let mtls = deployed.requires_client_certificate;
    let mut ingress = Vec::new();
    for entry in sc.services.iter().flatten() {
        let Some((port, protocol)) = port_of(td, &entry.port_name) else {
            continue;
        };
        let tls = entry.tls.as_ref().map(|t| IngressTlsView {
            authority_arn: t.issuer_certificate_authority.aws_pca_authority_arn.clone(),
            client_trust: shared.trust.clone(),
            require_client_certificate: mtls,
        });
        let Ok(container_port) = u16::try_from(port) else {
            continue;
        };
        ingress.push(IngressView {
            discovery_name: entry.discovery_name.clone(),
            port_name: entry.port_name.clone(),
            container_port,
            ingress_port_override: entry
                .ingress_port_override
                .and_then(|p| u16::try_from(p).ok()),
            protocol,
            timeout: timeout_of(entry)?,
            tls,
        });
    }
    let access_log = sc
        .rest
        .get("accessLogConfiguration")
        .unwrap_or(&Value::Null);
    let log = sc.rest.get("logConfiguration").unwrap_or(&Value::Null);
    Ok(Some(ServiceConnectView {
        cluster_name: cluster.to_string(),
        service_name: service_name.to_string(),
        namespace: ns.id,
        namespace_name: ns.name,
        ingress,
        egress: shared.egress,
        upstreams: shared.upstreams,
        access_log: typed(access_log, "accessLogConfiguration")?,
        log_configuration: typed(log, "logConfiguration")?,
    }))
}

/// The Service Connect configuration of the deployment that started `t`, with that
/// deployment's task definition.
pub(crate) fn deployment_sc(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    t: &Task,
) -> R<Option<Deployed>> {
    let (Some(name), Some(started_by)) = (t.service_name(), t.started_by.as_deref()) else {
        return Ok(None);
    };
    let Some(s) = r.get_json::<Service>(&service_key(ctx, cluster, name))? else {
        return Ok(None);
    };
    let requires_client_certificate = crate::tls::requires_client_certificate(&s);
    let Some(dep) = s.deployments.into_iter().find(|d| d.id == started_by) else {
        return Ok(None);
    };
    let td = taskdef::resolve(r, ctx, &dep.task_definition)?;
    Ok(dep.service_connect_configuration.map(|sc| Deployed {
        sc,
        td,
        requires_client_certificate,
    }))
}

/// What an instance's view reads once for all its tasks.
struct ViewContext<'a> {
    cluster: &'a str,
    instance: &'a ContainerInstance,
    /// The cluster's default namespace.
    default_ns: Option<&'a str>,
    namespaces: NamespaceMemo,
    groups: GroupMemo,
}

/// One task of an instance's view.
fn task_view(r: &impl Read, ctx: &Context, t: &Task, v: &mut ViewContext<'_>) -> R<TaskView> {
    let (cluster, default_ns) = (v.cluster, v.default_ns);
    let memo = &mut v.namespaces;
    let mut td = taskdef::resolve(r, ctx, &t.task_definition_arn)?;
    let mut service_connect = None;
    if let Some(name) = t.service_name() {
        if let Some(deployed) = deployment_sc(r, ctx, cluster, t)? {
            service_connect = service_connect_view(r, ctx, cluster, name, &deployed, memo)?;
        }
    } else if let Some(ns) = default_ns {
        // berth extension: a standalone task (RunTask, StartTask) is a client of its
        // cluster's default namespace.
        let client = Deployed {
            sc: ScConfiguration {
                enabled: true,
                namespace: Some(ns.to_string()),
                services: None,
                rest: Default::default(),
            },
            td,
            requires_client_certificate: false,
        };
        service_connect = service_connect_view(r, ctx, cluster, "", &client, memo)?;
        td = client.td;
    }
    // While its load balancers drain it, a stopping task's containers keep running.
    let draining = crate::targets::draining_until(r, ctx, cluster, t)?
        .is_some_and(|until| berth_awsproto::now() < until);
    let desired = if draining {
        DesiredStatus::Running
    } else {
        t.desired_status
    };
    Ok(TaskView {
        task_arn: t.task_arn.clone(),
        desired_status: typed(&json!(desired), "desiredStatus")?,
        last_status: typed(&json!(t.last_status), "lastStatus")?,
        // The record as the API shows it (null when it is gone).
        task_definition: td.as_ref().map(to_json).transpose()?.unwrap_or(Value::Null),
        overrides: t.rest.get("overrides").cloned().unwrap_or(Value::Null),
        attachments: json!(t.attachments),
        service_connect,
        proxy_container: (t.containers.iter())
            .find(|c| c.is_service_connect_proxy())
            .map(|c| c.name.clone()),
        firewall: Some(network::firewall(
            r,
            ctx,
            t,
            Some(v.instance),
            &mut v.groups,
        )?),
    })
}

/// Everything the container instance `instance_id` of `cluster` must run (the format
/// is `berth_agent_view`'s): its tasks that are not STOPPED, read through the
/// instance's task index. Unknown instances get an empty task list and no instance.
pub fn instance_view(ecs: &Ecs, ctx: &Context, cluster: &str, instance_id: &str) -> R<View> {
    ecs.store.read(|r| {
        let key = instance_key(ctx, cluster, instance_id);
        let Some(inst) = r.get_json::<ContainerInstance>(&key)? else {
            return Ok(View::default());
        };
        let default_ns = r
            .get_json::<Cluster>(&cluster_key(ctx, cluster))?
            .and_then(|c| c.service_connect_defaults)
            .map(|d| d.namespace);
        let mut tasks = Vec::new();
        let mut v = ViewContext {
            cluster,
            instance: &inst,
            default_ns: default_ns.as_deref(),
            namespaces: NamespaceMemo::new(),
            groups: GroupMemo::default(),
        };
        for t in taskstore::on_instance(r, ctx, cluster, instance_id)? {
            tasks.push(task_view(r, ctx, &t, &mut v)?);
        }
        Ok::<_, ApiError>(View {
            instance: Some(inst.container_instance_arn),
            status: Some(inst.status.as_str().to_string()),
            tasks,
            revision: None,
        })
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
        let t = json!({"attachments": [], "containers": [{"networkInterfaces": [{"privateIpv4Address": "10.0.0.6"}]}]});
        assert_eq!(task_ip(&t), Some("10.0.0.6"));
        // A binding's address is the instance's, not the task's.
        let t = json!({"attachments": [], "containers": [{"networkBindings": [{"bindIP": "0.0.0.0"}]}]});
        assert_eq!(task_ip(&t), None);
        assert_eq!(task_ip(&json!({})), None);
    }

    #[test]
    fn endpoints_are_the_task_address_or_the_instance_address_and_host_port() {
        let proxy = "ecs-service-connect-fphC624";
        let task = |attachments: Value, containers: Value| -> Task {
            serde_json::from_value(json!({
                "taskArn": "arn:aws:ecs:r:1:task/c/t", "clusterArn": "arn:aws:ecs:r:1:cluster/c",
                "taskDefinitionArn": "arn:aws:ecs:r:1:task-definition/f:1",
                "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "healthStatus": "UNKNOWN",
                "group": "service:s", "version": 1, "createdAt": 1.0,
                "attachments": attachments, "containers": containers
            }))
            .unwrap()
        };
        let container = |name: &str, bindings: Value| {
            json!({"containerArn": "c", "taskArn": "t", "name": name, "lastStatus": "RUNNING",
                   "networkInterfaces": [{"privateIpv4Address": "10.213.0.9"}],
                   "networkBindings": bindings})
        };
        let instance = |attributes: Value| -> ContainerInstance {
            serde_json::from_value(json!({
                "containerInstanceArn": "arn:aws:ecs:r:1:container-instance/c/i",
                "status": "ACTIVE", "agentConnected": true, "version": 1,
                "runningTasksCount": 0, "pendingTasksCount": 0, "registeredAt": 1.0,
                "attributes": attributes
            }))
            .unwrap()
        };
        let eni = json!([{"id": "a", "type": "ElasticNetworkInterface", "status": "ATTACHED",
                          "details": [{"name": "privateIPv4Address", "value": "10.213.0.5"}]}]);
        let bindings = json!([{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 49160, "protocol": "tcp"},
                              {"bindIP": "0.0.0.0", "containerPort": 81, "hostPort": 49161, "protocol": "udp"}]);
        let app_bindings = json!([{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 49170, "protocol": "tcp"}]);
        let with_ip = instance(json!([{"name": "berth.private-ip", "value": "10.213.0.2"}]));
        let without_ip = instance(json!([]));
        let bridge = task(
            json!([]),
            json!([container("app", app_bindings), container(proxy, bindings)]),
        );
        let unbound = task(json!([]), json!([container("app", json!([]))]));
        #[rustfmt::skip]
        type Case<'a> = (&'a str, Task, Option<&'a ContainerInstance>, i64, Option<(&'a str, i64)>);
        let cases: Vec<Case> = vec![
            (
                "awsvpc: the task's own address",
                task(eni, json!([])),
                None,
                80,
                Some(("10.213.0.5", 80)),
            ),
            (
                "bridge: the proxy's host port",
                bridge.clone(),
                Some(&with_ip),
                80,
                Some(("10.213.0.2", 49160)),
            ),
            (
                "bridge: only TCP bindings",
                bridge.clone(),
                Some(&with_ip),
                81,
                None,
            ),
            (
                "bridge: an instance without an address",
                bridge,
                Some(&without_ip),
                80,
                None,
            ),
            (
                "bridge: no binding reported yet",
                unbound,
                Some(&with_ip),
                80,
                None,
            ),
        ];
        for (what, t, inst, port, want) in cases {
            let got = endpoint_of(&t, inst, port);
            let want = want.map(|(ip, p)| (ip.to_string(), p));
            assert_eq!(got, want, "{what}");
        }
    }

    /// A task's containers: name, healthStatus.
    type Containers<'a> = &'a [(&'a str, Option<&'a str>)];

    /// A RUNNING task with `containers` and the task's health.
    fn running(containers: Containers<'_>, health: &str) -> Task {
        let containers: Vec<Value> = (containers.iter())
            .map(|(name, h)| {
                let mut c = json!({"containerArn": "c", "taskArn": "t", "name": name, "lastStatus": "RUNNING"});
                if let Some(h) = h {
                    c["healthStatus"] = json!(h);
                }
                c
            })
            .collect();
        serde_json::from_value(json!({
            "taskArn": "arn:aws:ecs:r:1:task/c/t", "clusterArn": "arn:aws:ecs:r:1:cluster/c",
            "taskDefinitionArn": "arn:aws:ecs:r:1:task-definition/f:1",
            "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "healthStatus": health,
            "group": "service:s", "version": 1, "createdAt": 1.0, "containers": containers
        }))
        .unwrap()
    }

    #[test]
    fn a_task_serves_when_healthy_or_without_health_checks_of_its_own() {
        let proxy = "ecs-service-connect-fphC624";
        #[rustfmt::skip]
        let cases: &[(Containers, &str, bool)] = &[
            (&[("app", None)], "UNKNOWN", true),
            (&[("app", Some("UNKNOWN"))], "UNKNOWN", false),
            (&[("app", Some("HEALTHY"))], "HEALTHY", true),
            (&[("app", None)], "UNHEALTHY", false),
            // The proxy container's health is no health check of the task's.
            (&[("app", None), (proxy, Some("UNKNOWN"))], "UNKNOWN", true),
            (&[("app", None), (proxy, Some("HEALTHY"))], "UNKNOWN", true),
            (&[("app", Some("UNKNOWN")), (proxy, Some("HEALTHY"))], "UNKNOWN", false),
            // A container named like it, but not as ECS names the proxy, is the task's.
            (&[("app", None), ("ecs-service-connect-x", Some("UNKNOWN"))], "UNKNOWN", false),
        ];
        for (containers, health, serves) in cases {
            assert_eq!(
                serving(&running(containers, health)),
                *serves,
                "{containers:?} {health}"
            );
        }
    }
}
