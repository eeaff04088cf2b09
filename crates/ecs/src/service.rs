//! Services and their deployments, with Service Connect as AWS has it.
//!
//! `serviceConnectConfiguration` is validated against the task definition (named port
//! mappings, task memory, no links), its defaults are filled in (`discoveryName` from
//! `portName`, `dnsName` as `discoveryName.namespace`), and each entry gets a Cloud Map
//! service, created in the same transaction, whose id and ARN the deployment reports in
//! `serviceConnectResources`. Names are unique in a namespace: index keys
//! `sc/<namespace id>/name/<discoveryName>` and `sc/<namespace id>/alias/<dnsName>:<port>`
//! hold the ARN of the ECS service that owns them, and `sc/<namespace id>/service/<arn>`
//! lists the services in a namespace for ListServicesByNamespace.

use std::collections::BTreeSet;

use berth_awsproto::{now, parse_input, ApiError, Context};
use berth_store::{Read, Writer};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::common::*;
use crate::{taskdef, Ecs};

// ---- input shapes -----------------------------------------------------------------

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClientAlias {
    port: Option<i64>,
    dns_name: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Timeout {
    idle_timeout_seconds: Option<i64>,
    per_request_timeout_seconds: Option<i64>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TlsCa {
    aws_pca_authority_arn: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Tls {
    issuer_certificate_authority: Option<TlsCa>,
    kms_key: Option<String>,
    role_arn: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScService {
    port_name: Option<String>,
    discovery_name: Option<String>,
    client_aliases: Option<Vec<ClientAlias>>,
    ingress_port_override: Option<i64>,
    timeout: Option<Timeout>,
    tls: Option<Tls>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogConfiguration {
    log_driver: Option<String>,
    options: Option<std::collections::BTreeMap<String, String>>,
    secret_options: Option<Vec<Value>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccessLog {
    format: Option<String>,
    include_query_parameters: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScConfig {
    enabled: Option<bool>,
    namespace: Option<String>,
    services: Option<Vec<ScService>>,
    log_configuration: Option<LogConfiguration>,
    access_log_configuration: Option<AccessLog>,
    container_configurations: Option<Vec<Value>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct AwsvpcConfiguration {
    subnets: Option<Vec<String>>,
    security_groups: Option<Vec<String>>,
    assign_public_ip: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct NetworkConfiguration {
    awsvpc_configuration: Option<AwsvpcConfiguration>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct CircuitBreaker {
    enable: Option<bool>,
    rollback: Option<bool>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct DeploymentConfiguration {
    deployment_circuit_breaker: Option<CircuitBreaker>,
    maximum_percent: Option<i64>,
    minimum_healthy_percent: Option<i64>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct DeploymentController {
    r#type: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    cluster: Option<String>,
    service_name: Option<String>,
    task_definition: Option<String>,
    load_balancers: Option<Vec<Value>>,
    service_registries: Option<Vec<Value>>,
    desired_count: Option<i64>,
    client_token: Option<String>,
    launch_type: Option<String>,
    capacity_provider_strategy: Option<Vec<Value>>,
    platform_version: Option<String>,
    role: Option<String>,
    deployment_configuration: Option<DeploymentConfiguration>,
    placement_constraints: Option<Vec<Value>>,
    placement_strategy: Option<Vec<Value>>,
    network_configuration: Option<NetworkConfiguration>,
    health_check_grace_period_seconds: Option<i64>,
    scheduling_strategy: Option<String>,
    deployment_controller: Option<DeploymentController>,
    tags: Option<Vec<Tag>>,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: Option<bool>,
    propagate_tags: Option<String>,
    enable_execute_command: Option<bool>,
    service_connect_configuration: Option<ScConfig>,
    availability_zone_rebalancing: Option<String>,
}

const LAUNCH_TYPES: &[&str] = &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"];

pub fn service_arn(ctx: &Context, cluster: &str, name: &str) -> String {
    ctx.arn("ecs", &format!("service/{cluster}/{name}"))
}

fn deployment_id() -> String {
    const LOW: u64 = 1_000_000_000_000_000_000;
    const HIGH: u64 = 9_999_999_999_999_999_999;
    format!("ecs-svc/{}", LOW + berth_awsproto::random_below(HIGH - LOW))
}

fn network_json(n: &NetworkConfiguration) -> R<Value> {
    let Some(a) = &n.awsvpc_configuration else {
        return Err(invalid(
            "networkConfiguration.awsvpcConfiguration is required.",
        ));
    };
    let subnets = a.subnets.clone().unwrap_or_default();
    if subnets.is_empty() {
        return Err(invalid(
            "networkConfiguration.awsvpcConfiguration.subnets can not be empty.",
        ));
    }
    if subnets.len() > 16 {
        return Err(invalid(
            "networkConfiguration.awsvpcConfiguration.subnets: at most 16 subnets.",
        ));
    }
    let sgs = a.security_groups.clone().unwrap_or_default();
    if sgs.len() > 5 {
        return Err(invalid(
            "networkConfiguration.awsvpcConfiguration.securityGroups: at most 5 security groups.",
        ));
    }
    check_enum(
        a.assign_public_ip.as_deref(),
        "networkConfiguration.awsvpcConfiguration.assignPublicIp",
        &["ENABLED", "DISABLED"],
    )?;
    let mut v = json!({ "subnets": subnets, "securityGroups": sgs });
    v["assignPublicIp"] = json!(a
        .assign_public_ip
        .clone()
        .unwrap_or_else(|| "DISABLED".into()));
    Ok(json!({ "awsvpcConfiguration": v }))
}

fn deployment_config_json(d: Option<&DeploymentConfiguration>) -> R<Value> {
    let d = d.cloned().unwrap_or_default();
    let max = d.maximum_percent.unwrap_or(200);
    let min = d.minimum_healthy_percent.unwrap_or(100);
    if !(0..=100).contains(&min) {
        return Err(invalid(format!(
            "deploymentConfiguration.minimumHealthyPercent {min} must be between 0 and 100."
        )));
    }
    if max < 100 {
        return Err(invalid(format!(
            "deploymentConfiguration.maximumPercent {max} must be at least 100."
        )));
    }
    let cb = d.deployment_circuit_breaker.unwrap_or_default();
    let mut v = json!({
        "deploymentCircuitBreaker": {
            "enable": cb.enable.unwrap_or(false),
            "rollback": cb.rollback.unwrap_or(false),
        },
        "maximumPercent": max,
        "minimumHealthyPercent": min,
    });
    for (k, x) in d.rest {
        v[k] = x;
    }
    Ok(v)
}

// ---- Service Connect ----------------------------------------------------------------

/// A Service Connect configuration, validated, with defaults filled in.
pub(crate) struct ResolvedSc {
    /// The configuration as deployments show it.
    pub config: Value,
    /// The namespace it joins.
    pub namespace: berth_cloudmap::NamespaceRef,
    /// Each served entry: its discoveryName and its client aliases as `dnsName:port`.
    pub entries: Vec<(String, Vec<String>)>,
}

fn check_dns_label(value: &str, field: &str, max: usize, dots: bool) -> R<()> {
    let ok = !value.is_empty()
        && value.len() <= max
        && !value.starts_with('-')
        && value.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'-'
                || b == b'_'
                || (dots && b == b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field} '{value}' is invalid: up to {max} lowercase letters, numbers, underscores{} and hyphens, not starting with a hyphen.",
            if dots { ", periods" } else { "" }
        )))
    }
}

fn check_port(port: i64, field: &str) -> R<()> {
    if (1..=65535).contains(&port) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field} {port} must be between 1 and 65535."
        )))
    }
}

fn log_configuration_json(l: &LogConfiguration, field: &str) -> R<Value> {
    let driver = l
        .log_driver
        .as_deref()
        .ok_or_else(|| invalid(format!("{field}.logDriver is required.")))?;
    check_enum(Some(driver), &format!("{field}.logDriver"), LOG_DRIVERS)?;
    let mut v = json!({ "logDriver": driver });
    if let Some(o) = &l.options {
        v["options"] = json!(o);
    }
    v["secretOptions"] = json!(l.secret_options.clone().unwrap_or_default());
    Ok(v)
}

/// The port mappings of a task definition: (name, containerPort, appProtocol).
fn named_ports(td: &Value) -> Vec<(String, i64, Option<String>)> {
    let mut out = Vec::new();
    for c in td["containerDefinitions"].as_array().into_iter().flatten() {
        for p in c["portMappings"].as_array().into_iter().flatten() {
            if let Some(n) = p["name"].as_str() {
                out.push((
                    n.to_string(),
                    p["containerPort"].as_i64().unwrap_or(0),
                    p["appProtocol"].as_str().map(str::to_string),
                ));
            }
        }
    }
    out
}

/// Validates `sc` against the task definition and the cluster, fills its defaults.
pub(crate) fn resolve_sc(
    r: &impl Read,
    ctx: &Context,
    sc: &ScConfig,
    cluster: &crate::records::Cluster,
    td: &Value,
) -> R<Option<ResolvedSc>> {
    let enabled = sc
        .enabled
        .ok_or_else(|| invalid("serviceConnectConfiguration.enabled is required."))?;
    if !enabled {
        if sc.services.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(invalid(
                "serviceConnectConfiguration.services can only be set when Service Connect is enabled.",
            ));
        }
        return Ok(None);
    }
    // The namespace: as given, else the cluster's default.
    let given = sc.namespace.clone().filter(|n| !n.is_empty());
    let ns_value = match &given {
        Some(n) => n.clone(),
        None => cluster
            .service_connect_defaults
            .as_ref()
            .map(|d| d.namespace.clone())
            .ok_or_else(|| {
                invalid("serviceConnectConfiguration.namespace is required: the cluster has no Service Connect default namespace.")
            })?,
    };
    let namespace = berth_cloudmap::find_namespace(r, ctx, &ns_value)?
        .ok_or_else(|| namespace_not_found(&ns_value))?;

    // The task definition must allow Service Connect.
    let mode = td["networkMode"].as_str().unwrap_or("bridge");
    if mode != "awsvpc" && mode != "bridge" {
        return Err(invalid(format!(
            "taskDefinition: Service Connect supports the awsvpc and bridge network modes, not '{mode}'."
        )));
    }
    if td["memory"].as_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "taskDefinition: Service Connect requires a task-level memory limit (memory).",
        ));
    }
    for c in td["containerDefinitions"].as_array().into_iter().flatten() {
        if c["links"].as_array().is_some_and(|l| !l.is_empty()) {
            return Err(invalid(format!(
                "taskDefinition: container '{}' uses links, which Service Connect does not support.",
                c["name"].as_str().unwrap_or_default()
            )));
        }
    }
    let ports = named_ports(td);

    let mut services_out = Vec::new();
    let mut entries = Vec::new();
    let mut seen_names = BTreeSet::new();
    let mut seen_aliases = BTreeSet::new();
    for (i, s) in sc.services.iter().flatten().enumerate() {
        let f = format!("serviceConnectConfiguration.services[{i}]");
        let port_name = s
            .port_name
            .as_deref()
            .ok_or_else(|| invalid(format!("{f}.portName is required.")))?;
        let Some((_, container_port, app_protocol)) = ports.iter().find(|p| p.0 == port_name)
        else {
            return Err(invalid(format!(
                "{f}.portName '{port_name}' does not match the name of any port mapping in the task definition."
            )));
        };
        let discovery = s
            .discovery_name
            .clone()
            .unwrap_or_else(|| port_name.to_string());
        check_dns_label(&discovery, &format!("{f}.discoveryName"), 64, false)?;
        if !seen_names.insert(discovery.clone()) {
            return Err(invalid(format!(
                "{f}.discoveryName '{discovery}' is used more than once in this configuration."
            )));
        }
        let aliases = s.client_aliases.clone().unwrap_or_default();
        if aliases.len() > 1 {
            return Err(invalid(format!(
                "{f}.clientAliases: at most 1 client alias per service."
            )));
        }
        let mut aliases_out = Vec::new();
        let mut alias_keys = Vec::new();
        for (j, a) in aliases.iter().enumerate() {
            let af = format!("{f}.clientAliases[{j}]");
            let port = a
                .port
                .ok_or_else(|| invalid(format!("{af}.port is required.")))?;
            check_port(port, &format!("{af}.port"))?;
            let dns = a
                .dns_name
                .clone()
                .unwrap_or_else(|| format!("{discovery}.{}", namespace.name));
            check_dns_label(&dns, &format!("{af}.dnsName"), 127, true)?;
            let key = format!("{dns}:{port}");
            if !seen_aliases.insert(key.clone()) {
                return Err(invalid(format!(
                    "{af}: the alias {key} is used more than once in this configuration."
                )));
            }
            alias_keys.push(key);
            let mut out = json!({ "port": port, "dnsName": dns });
            for (k, v) in &a.rest {
                out[k] = v.clone();
            }
            aliases_out.push(out);
        }
        let mut entry = json!({ "portName": port_name, "discoveryName": discovery, "clientAliases": aliases_out });
        if let Some(p) = s.ingress_port_override {
            check_port(p, &format!("{f}.ingressPortOverride"))?;
            if p == *container_port {
                return Err(invalid(format!(
                    "{f}.ingressPortOverride {p} must differ from the container port of '{port_name}'."
                )));
            }
            entry["ingressPortOverride"] = json!(p);
        }
        if let Some(t) = &s.timeout {
            let mut tv = json!({});
            if let Some(idle) = t.idle_timeout_seconds {
                if !(0..=2_147_483_647).contains(&idle) {
                    return Err(invalid(format!(
                        "{f}.timeout.idleTimeoutSeconds {idle} is out of range."
                    )));
                }
                tv["idleTimeoutSeconds"] = json!(idle);
            }
            if let Some(per) = t.per_request_timeout_seconds {
                if app_protocol.is_none() {
                    return Err(invalid(format!(
                        "{f}.timeout.perRequestTimeoutSeconds can only be set when the port mapping '{port_name}' has an appProtocol; TCP allows only idleTimeoutSeconds."
                    )));
                }
                if !(0..=2_147_483_647).contains(&per) {
                    return Err(invalid(format!(
                        "{f}.timeout.perRequestTimeoutSeconds {per} is out of range."
                    )));
                }
                tv["perRequestTimeoutSeconds"] = json!(per);
            }
            entry["timeout"] = tv;
        }
        if let Some(tls) = &s.tls {
            let arn = tls
                .issuer_certificate_authority
                .as_ref()
                .and_then(|c| c.aws_pca_authority_arn.clone())
                .ok_or_else(|| {
                    invalid(format!(
                        "{f}.tls.issuerCertificateAuthority.awsPcaAuthorityArn is required."
                    ))
                })?;
            let mut tv = json!({ "issuerCertificateAuthority": { "awsPcaAuthorityArn": arn } });
            if let Some(k) = &tls.kms_key {
                tv["kmsKey"] = json!(k);
            }
            if let Some(r) = &tls.role_arn {
                tv["roleArn"] = json!(r);
            }
            entry["tls"] = tv;
        }
        services_out.push(entry);
        entries.push((discovery, alias_keys));
    }

    let mut config = json!({ "enabled": true, "namespace": given.unwrap_or(ns_value) });
    if !services_out.is_empty() || sc.services.is_some() {
        config["services"] = Value::Array(services_out);
    }
    if let Some(l) = &sc.log_configuration {
        config["logConfiguration"] =
            log_configuration_json(l, "serviceConnectConfiguration.logConfiguration")?;
    }
    if let Some(a) = &sc.access_log_configuration {
        let format = a.format.as_deref().ok_or_else(|| {
            invalid("serviceConnectConfiguration.accessLogConfiguration.format is required.")
        })?;
        check_enum(
            Some(format),
            "serviceConnectConfiguration.accessLogConfiguration.format",
            &["TEXT", "JSON"],
        )?;
        check_enum(
            a.include_query_parameters.as_deref(),
            "serviceConnectConfiguration.accessLogConfiguration.includeQueryParameters",
            &["DISABLED", "ENABLED"],
        )?;
        if sc.log_configuration.is_none() {
            return Err(invalid(
                "serviceConnectConfiguration.accessLogConfiguration requires serviceConnectConfiguration.logConfiguration.",
            ));
        }
        config["accessLogConfiguration"] = json!({
            "format": format,
            "includeQueryParameters": a.include_query_parameters.clone().unwrap_or_else(|| "DISABLED".into()),
        });
    }
    if let Some(cc) = &sc.container_configurations {
        config["containerConfigurations"] = json!(cc);
    }
    Ok(Some(ResolvedSc {
        config,
        namespace,
        entries,
    }))
}

fn sc_root(ctx: &Context, ns_id: &str) -> String {
    format!("{}sc/{ns_id}/", root(ctx))
}

/// Claims the names of `sc` for `arn` in its namespace and creates (or reuses) the
/// Cloud Map service of each entry. Returns `serviceConnectResources`.
fn claim_sc(w: &mut Writer<'_>, ctx: &Context, arn: &str, sc: &ResolvedSc) -> R<Value> {
    let base = sc_root(ctx, &sc.namespace.id);
    let mut resources = Vec::new();
    for (discovery, aliases) in &sc.entries {
        let name_key = format!("{base}name/{discovery}");
        if let Some(owner) = w.get_json::<String>(&name_key)? {
            if owner != arn {
                return Err(invalid(format!(
                    "serviceConnectConfiguration: the discoveryName '{discovery}' is already used in namespace '{}' by {owner}.",
                    sc.namespace.name
                )));
            }
        }
        for a in aliases {
            let alias_key = format!("{base}alias/{a}");
            if let Some(owner) = w.get_json::<String>(&alias_key)? {
                if owner != arn {
                    return Err(invalid(format!(
                        "serviceConnectConfiguration: the client alias {a} is already used in namespace '{}' by {owner}.",
                        sc.namespace.name
                    )));
                }
            }
            w.put_json(&alias_key, arn)?;
        }
        w.put_json(&name_key, arn)?;
        let svc = match berth_cloudmap::find_service(w, ctx, &sc.namespace.id, discovery)? {
            Some(s) => s,
            None => {
                berth_cloudmap::create_service_in(w, ctx, &sc.namespace.id, discovery, None, &[])?
            }
        };
        resources.push(json!({ "discoveryName": discovery, "discoveryArn": svc.arn }));
    }
    w.put_json(&format!("{base}service/{arn}"), arn)?;
    Ok(Value::Array(resources))
}

/// Releases every Service Connect name `arn` holds in the namespaces its deployments
/// use, except those `keep` still claims.
fn release_sc(
    w: &mut Writer<'_>,
    ctx: &Context,
    arn: &str,
    service: &Value,
    keep: Option<&ResolvedSc>,
) -> R<()> {
    for d in service["deployments"].as_array().into_iter().flatten() {
        let ns = d["serviceConnectConfiguration"]["namespace"].as_str();
        let Some(ns) = ns.and_then(|n| berth_cloudmap::find_namespace(w, ctx, n).ok().flatten())
        else {
            continue;
        };
        let base = sc_root(ctx, &ns.id);
        let kept = keep.filter(|k| k.namespace.id == ns.id);
        for s in d["serviceConnectConfiguration"]["services"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let discovery = s["discoveryName"].as_str().unwrap_or_default();
            if !kept.is_some_and(|k| k.entries.iter().any(|e| e.0 == discovery)) {
                let key = format!("{base}name/{discovery}");
                if w.get_json::<String>(&key)?.as_deref() == Some(arn) {
                    w.delete(&key)?;
                }
            }
            for a in s["clientAliases"].as_array().into_iter().flatten() {
                let alias = format!(
                    "{}:{}",
                    a["dnsName"].as_str().unwrap_or_default(),
                    a["port"]
                );
                if !kept.is_some_and(|k| k.entries.iter().any(|e| e.1.contains(&alias))) {
                    let key = format!("{base}alias/{alias}");
                    if w.get_json::<String>(&key)?.as_deref() == Some(arn) {
                        w.delete(&key)?;
                    }
                }
            }
        }
        if kept.is_none() {
            w.delete(&format!("{base}service/{arn}"))?;
        }
    }
    Ok(())
}

// ---- operations ---------------------------------------------------------------------

fn new_deployment(
    service: &Value,
    td_arn: &str,
    desired: i64,
    sc: Option<(&ResolvedSc, Value)>,
) -> Value {
    let id = deployment_id();
    let t = now();
    let mut d = json!({
        "id": id,
        "status": "PRIMARY",
        "taskDefinition": td_arn,
        "desiredCount": desired,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": t,
        "updatedAt": t,
    });
    if let Some(lt) = service.get("launchType") {
        d["launchType"] = lt.clone();
    }
    if service["launchType"] == "FARGATE" {
        let pv = match service["platformVersion"].as_str() {
            None | Some("LATEST") => "1.4.0".to_string(),
            Some(v) => v.to_string(),
        };
        d["platformVersion"] = json!(pv);
        d["platformFamily"] = json!("Linux");
    }
    if let Some(n) = service.get("networkConfiguration") {
        d["networkConfiguration"] = n.clone();
    }
    d["rolloutState"] = json!("IN_PROGRESS");
    d["rolloutStateReason"] = json!(format!("ECS deployment {id} in progress."));
    if let Some((sc, resources)) = sc {
        d["serviceConnectConfiguration"] = sc.config.clone();
        d["serviceConnectResources"] = resources;
    }
    d
}

pub fn create(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: CreateInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let name = i
        .service_name
        .clone()
        .ok_or_else(|| invalid("serviceName is required."))?;
    check_name(&name, "serviceName")?;
    check_enum(i.launch_type.as_deref(), "launchType", LAUNCH_TYPES)?;
    check_enum(
        i.scheduling_strategy.as_deref(),
        "schedulingStrategy",
        &["REPLICA", "DAEMON"],
    )?;
    check_enum(
        i.propagate_tags.as_deref(),
        "propagateTags",
        &["TASK_DEFINITION", "SERVICE", "NONE"],
    )?;
    check_enum(
        i.deployment_controller
            .as_ref()
            .and_then(|d| d.r#type.as_deref()),
        "deploymentController.type",
        &["ECS", "CODE_DEPLOY", "EXTERNAL"],
    )?;
    if i.launch_type.is_some()
        && i.capacity_provider_strategy
            .as_ref()
            .is_some_and(|c| !c.is_empty())
    {
        return Err(invalid(
            "Specifying both a launchType and capacityProviderStrategy is not supported.",
        ));
    }
    let strategy = i
        .scheduling_strategy
        .clone()
        .unwrap_or_else(|| "REPLICA".into());
    let desired = match (strategy.as_str(), i.desired_count) {
        ("REPLICA", None) => {
            return Err(invalid(
                "desiredCount is required when schedulingStrategy is REPLICA.",
            ))
        }
        (_, Some(n)) if n < 0 => {
            return Err(invalid(format!("desiredCount {n} must be 0 or more.")))
        }
        (_, n) => n.unwrap_or(0),
    };
    let td_ref = i
        .task_definition
        .clone()
        .ok_or_else(|| invalid("taskDefinition is required."))?;
    let tags = i.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    let deployment_configuration = deployment_config_json(i.deployment_configuration.as_ref())?;
    if let Some(g) = i.health_check_grace_period_seconds {
        if !(0..=2_147_483_647).contains(&g) {
            return Err(invalid("healthCheckGracePeriodSeconds is out of range."));
        }
    }
    let arn = service_arn(ctx, &cluster, &name);
    let key = service_key(ctx, &cluster, &name);

    let (service, _) = ecs.store.write(|w| {
        if let Some(token) = &i.client_token {
            let tk = token_key(ctx, "service", token);
            if let Some(prev) = w.get_json::<String>(&tk)? {
                if prev == arn {
                    if let Some(s) = w.get_json::<Value>(&key)? {
                        return Ok(s);
                    }
                }
                return Err(invalid("clientToken was already used for another request."));
            }
            w.put_json(&tk, &arn)?;
        }
        let cluster_doc = active_cluster(w, ctx, &cluster)?;
        if let Some(existing) = w.get_json::<Value>(&key)? {
            if existing["status"] != "INACTIVE" {
                return Err(invalid("Creation of service was not idempotent."));
            }
        }
        let td = taskdef::resolve(w, ctx, &td_ref)?.ok_or_else(|| {
            invalid(format!("The specified task definition '{td_ref}' does not exist."))
        })?;
        if td["status"] != "ACTIVE" {
            return Err(invalid(format!(
                "TaskDefinition '{td_ref}' is inactive."
            )));
        }
        let td_arn = td["taskDefinitionArn"].as_str().unwrap_or_default().to_string();
        let mode = td["networkMode"].as_str().unwrap_or("bridge");
        let network = match &i.network_configuration {
            Some(n) => Some(network_json(n)?),
            None if mode == "awsvpc" => {
                return Err(invalid(
                    "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
                ))
            }
            None => None,
        };
        if network.is_some() && mode != "awsvpc" {
            return Err(invalid(
                "Network Configuration is not valid for the given networkMode of this task definition.",
            ));
        }
        if i.launch_type.as_deref() == Some("FARGATE") && mode != "awsvpc" {
            return Err(invalid("Fargate only supports network mode 'awsvpc'."));
        }
        let sc = match &i.service_connect_configuration {
            Some(sc) => resolve_sc(w, ctx, sc, &cluster_doc, &td)?,
            None => None,
        };
        let mut s = json!({
            "serviceArn": arn,
            "serviceName": name,
            "clusterArn": cluster_arn(ctx, &cluster),
            "loadBalancers": i.load_balancers.clone().unwrap_or_default(),
            "serviceRegistries": i.service_registries.clone().unwrap_or_default(),
            "status": "ACTIVE",
            "desiredCount": desired,
            "runningCount": 0,
            "pendingCount": 0,
        });
        let launch_type = match (&i.launch_type, &i.capacity_provider_strategy) {
            (Some(lt), _) => Some(lt.clone()),
            (None, Some(c)) if !c.is_empty() => None,
            (None, _) => Some("EC2".to_string()),
        };
        if let Some(lt) = &launch_type {
            s["launchType"] = json!(lt);
        }
        if let Some(c) = &i.capacity_provider_strategy {
            s["capacityProviderStrategy"] = json!(c);
        }
        if launch_type.as_deref() == Some("FARGATE") {
            s["platformVersion"] = json!(i.platform_version.clone().unwrap_or_else(|| "LATEST".into()));
            s["platformFamily"] = json!("Linux");
        }
        s["taskDefinition"] = json!(td_arn);
        s["deploymentConfiguration"] = deployment_configuration.clone();
        if let Some(n) = &network {
            s["networkConfiguration"] = n.clone();
        }
        let sc_pair = match &sc {
            Some(sc) => Some((sc, claim_sc(w, ctx, &arn, sc)?)),
            None => None,
        };
        let deployment = new_deployment(&s, &td_arn, desired, sc_pair);
        s["deployments"] = json!([deployment]);
        s["roleArn"] = json!(i.role.clone().unwrap_or_else(|| format!(
            "arn:aws:iam::{}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
            ctx.account
        )));
        s["events"] = json!([]);
        s["createdAt"] = deployment["createdAt"].clone();
        s["placementConstraints"] = json!(i.placement_constraints.clone().unwrap_or_default());
        s["placementStrategy"] = json!(i.placement_strategy.clone().unwrap_or_default());
        if let Some(g) = i.health_check_grace_period_seconds {
            s["healthCheckGracePeriodSeconds"] = json!(g);
        }
        s["schedulingStrategy"] = json!(strategy);
        s["deploymentController"] = json!({
            "type": i.deployment_controller.as_ref().and_then(|d| d.r#type.clone()).unwrap_or_else(|| "ECS".into())
        });
        s["tags"] = tags_json(&tags);
        s["createdBy"] = json!(format!("arn:aws:iam::{}:root", ctx.account));
        s["enableECSManagedTags"] = json!(i.enable_ecs_managed_tags.unwrap_or(false));
        s["propagateTags"] = json!(i.propagate_tags.clone().unwrap_or_else(|| "NONE".into()));
        s["enableExecuteCommand"] = json!(i.enable_execute_command.unwrap_or(false));
        if let Some(az) = &i.availability_zone_rebalancing {
            check_enum(Some(az), "availabilityZoneRebalancing", &["ENABLED", "DISABLED"])?;
            s["availabilityZoneRebalancing"] = json!(az);
        }
        w.put_json(&key, &s)?;
        Ok::<_, ApiError>(s)
    })?;
    Ok(json!({ "service": public(service, false) }))
}

/// The service as the API shows it: tags only when asked for.
fn public(mut s: Value, with_tags: bool) -> Value {
    if let Some(m) = s.as_object_mut() {
        if !with_tags
            || m.get("tags")
                .is_some_and(|t| t.as_array().is_some_and(|a| a.is_empty()))
        {
            m.remove("tags");
        }
    }
    s
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UpdateInput {
    cluster: Option<String>,
    service: Option<String>,
    desired_count: Option<i64>,
    task_definition: Option<String>,
    capacity_provider_strategy: Option<Vec<Value>>,
    deployment_configuration: Option<DeploymentConfiguration>,
    network_configuration: Option<NetworkConfiguration>,
    placement_constraints: Option<Vec<Value>>,
    placement_strategy: Option<Vec<Value>>,
    platform_version: Option<String>,
    force_new_deployment: Option<bool>,
    health_check_grace_period_seconds: Option<i64>,
    enable_execute_command: Option<bool>,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: Option<bool>,
    load_balancers: Option<Vec<Value>>,
    propagate_tags: Option<String>,
    service_registries: Option<Vec<Value>>,
    service_connect_configuration: Option<ScConfig>,
}

/// An ACTIVE service, or ServiceNotFoundException / ServiceNotActiveException.
fn active_service(r: &impl Read, ctx: &Context, cluster: &str, name: &str) -> R<Value> {
    match r.get_json::<Value>(&service_key(ctx, cluster, name))? {
        Some(s) if s["status"] == "ACTIVE" => Ok(s),
        Some(_) => Err(service_not_active()),
        None => Err(service_not_found()),
    }
}

pub fn update(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: UpdateInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let name = name_from(
        i.service
            .as_deref()
            .ok_or_else(|| invalid("service is required."))?,
        "service",
    );
    if let Some(n) = i.desired_count {
        if n < 0 {
            return Err(invalid(format!("desiredCount {n} must be 0 or more.")));
        }
    }
    check_enum(
        i.propagate_tags.as_deref(),
        "propagateTags",
        &["TASK_DEFINITION", "SERVICE", "NONE"],
    )?;
    let key = service_key(ctx, &cluster, &name);
    let (service, _) = ecs.store.write(|w| {
        let cluster_doc = active_cluster(w, ctx, &cluster)?;
        let mut s = active_service(w, ctx, &cluster, &name)?;
        let arn = s["serviceArn"].as_str().unwrap_or_default().to_string();
        let primary = s["deployments"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["status"] == "PRIMARY").cloned())
            .unwrap_or(Value::Null);
        let mut new_deployment_needed = i.force_new_deployment.unwrap_or(false);

        let td = match &i.task_definition {
            Some(r) => {
                let td = taskdef::resolve(w, ctx, r)?
                    .ok_or_else(|| invalid(format!("The specified task definition '{r}' does not exist.")))?;
                if td["status"] != "ACTIVE" {
                    return Err(invalid(format!("TaskDefinition '{r}' is inactive.")));
                }
                if td["taskDefinitionArn"] != s["taskDefinition"] {
                    new_deployment_needed = true;
                }
                td
            }
            None => taskdef::resolve(w, ctx, s["taskDefinition"].as_str().unwrap_or_default())?
                .ok_or_else(|| ApiError::internal("the service's task definition is gone"))?,
        };
        let td_arn = td["taskDefinitionArn"].as_str().unwrap_or_default().to_string();
        let mode = td["networkMode"].as_str().unwrap_or("bridge");
        if let Some(n) = &i.network_configuration {
            if mode != "awsvpc" {
                return Err(invalid(
                    "Network Configuration is not valid for the given networkMode of this task definition.",
                ));
            }
            let n = network_json(n)?;
            if s["networkConfiguration"] != n {
                s["networkConfiguration"] = n;
                new_deployment_needed = true;
            }
        } else if mode == "awsvpc" && s.get("networkConfiguration").is_none() {
            return Err(invalid(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
            ));
        }
        if let Some(pv) = &i.platform_version {
            if s["platformVersion"] != json!(pv) {
                s["platformVersion"] = json!(pv);
                new_deployment_needed = true;
            }
        }
        // Service Connect: a new configuration, or the current one re-checked against a
        // new task definition.
        let sc_input = i.service_connect_configuration.clone();
        let sc = match &sc_input {
            Some(sc) => {
                new_deployment_needed = true;
                resolve_sc(w, ctx, sc, &cluster_doc, &td)?
            }
            None => match primary.get("serviceConnectConfiguration") {
                Some(cur) if new_deployment_needed => {
                    let cur: ScConfig = serde_json::from_value(cur.clone())
                        .map_err(|e| ApiError::internal(format!("stored Service Connect configuration: {e}")))?;
                    resolve_sc(w, ctx, &cur, &cluster_doc, &td)?
                }
                _ => None,
            },
        };
        if let Some(d) = &i.deployment_configuration {
            s["deploymentConfiguration"] = deployment_config_json(Some(d))?;
        }
        if let Some(n) = i.desired_count {
            s["desiredCount"] = json!(n);
        }
        if let Some(v) = &i.placement_constraints {
            s["placementConstraints"] = json!(v);
        }
        if let Some(v) = &i.placement_strategy {
            s["placementStrategy"] = json!(v);
        }
        if let Some(v) = &i.capacity_provider_strategy {
            s["capacityProviderStrategy"] = json!(v);
        }
        if let Some(v) = i.health_check_grace_period_seconds {
            s["healthCheckGracePeriodSeconds"] = json!(v);
        }
        if let Some(v) = i.enable_execute_command {
            s["enableExecuteCommand"] = json!(v);
        }
        if let Some(v) = i.enable_ecs_managed_tags {
            s["enableECSManagedTags"] = json!(v);
        }
        if let Some(v) = &i.propagate_tags {
            s["propagateTags"] = json!(v);
        }
        if let Some(v) = &i.load_balancers {
            s["loadBalancers"] = json!(v);
        }
        if let Some(v) = &i.service_registries {
            s["serviceRegistries"] = json!(v);
        }
        let desired = s["desiredCount"].as_i64().unwrap_or(0);
        if new_deployment_needed {
            if sc_input.is_some() || sc.is_none() {
                release_sc(w, ctx, &arn, &s, sc.as_ref())?;
            }
            let sc_pair = match &sc {
                Some(sc) => Some((sc, claim_sc(w, ctx, &arn, sc)?)),
                None => None,
            };
            s["taskDefinition"] = json!(td_arn);
            let d = new_deployment(&s, &td_arn, desired, sc_pair);
            let t = now();
            let mut deployments = vec![d];
            for mut old in s["deployments"].as_array().cloned().unwrap_or_default() {
                if old["status"] == "PRIMARY" || old["status"] == "ACTIVE" {
                    old["status"] = json!("ACTIVE");
                    old["updatedAt"] = json!(t);
                    deployments.push(old);
                }
            }
            s["deployments"] = json!(deployments);
        } else if let Some(d) = s["deployments"].as_array_mut().and_then(|d| d.iter_mut().find(|d| d["status"] == "PRIMARY")) {
            d["desiredCount"] = json!(desired);
            d["updatedAt"] = json!(now());
        }
        w.put_json(&key, &s)?;
        Ok::<_, ApiError>(s)
    })?;
    Ok(json!({ "service": public(service, false) }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    cluster: Option<String>,
    services: Option<Vec<String>>,
    include: Option<Vec<String>>,
}

pub fn describe(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DescribeInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let names = i.services.ok_or_else(|| invalid("services is required."))?;
    if names.is_empty() || names.len() > 10 {
        return Err(invalid(
            "services: between 1 and 10 services can be described at once.",
        ));
    }
    let include = i.include.unwrap_or_default();
    for inc in &include {
        check_enum(Some(inc), "include", &["TAGS"])?;
    }
    let with_tags = include.iter().any(|x| x == "TAGS");
    ecs.store.read(|r| {
        active_cluster(r, ctx, &cluster)?;
        let mut services = Vec::new();
        let mut failures = Vec::new();
        for n in &names {
            let name = name_from(n, "service");
            match r.get_json::<Value>(&service_key(ctx, &cluster, &name))? {
                Some(s) => services.push(public(s, with_tags)),
                None => failures.push(json!({
                    "arn": service_arn(ctx, &cluster, &name),
                    "reason": "MISSING",
                })),
            }
        }
        Ok(json!({ "services": services, "failures": failures }))
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    cluster: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    launch_type: Option<String>,
    scheduling_strategy: Option<String>,
}

pub fn list(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let size = page_size(i.max_results, 10, 100)?;
    check_enum(i.launch_type.as_deref(), "launchType", LAUNCH_TYPES)?;
    check_enum(
        i.scheduling_strategy.as_deref(),
        "schedulingStrategy",
        &["REPLICA", "DAEMON"],
    )?;
    ecs.store.read(|r| {
        active_cluster(r, ctx, &cluster)?;
        let (arns, next) = paginate(
            r,
            &service_prefix(ctx, &cluster),
            i.next_token.as_deref(),
            size,
            |_, s| {
                let keep = s["status"] != "INACTIVE"
                    && i.launch_type
                        .as_ref()
                        .is_none_or(|lt| s["launchType"] == json!(lt))
                    && i.scheduling_strategy
                        .as_ref()
                        .is_none_or(|st| s["schedulingStrategy"] == json!(st));
                keep.then(|| s["serviceArn"].clone())
            },
        )?;
        Ok(page_json("serviceArns", arns, next))
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListByNamespaceInput {
    namespace: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub fn list_by_namespace(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListByNamespaceInput = parse_input(input)?;
    let ns = i
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("namespace is required."))?;
    let size = page_size(i.max_results, 10, 100)?;
    ecs.store.read(|r| {
        let found =
            berth_cloudmap::find_namespace(r, ctx, &ns)?.ok_or_else(|| namespace_not_found(&ns))?;
        let prefix = format!("{}service/", sc_root(ctx, &found.id));
        let (arns, next) = paginate(r, &prefix, i.next_token.as_deref(), size, |_, v| Some(v))?;
        Ok(page_json("serviceArns", arns, next))
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeleteInput {
    cluster: Option<String>,
    service: Option<String>,
    force: Option<bool>,
}

pub fn delete(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DeleteInput = parse_input(input)?;
    let cluster = cluster_name(i.cluster.as_deref());
    let name = name_from(
        i.service
            .as_deref()
            .ok_or_else(|| invalid("service is required."))?,
        "service",
    );
    let key = service_key(ctx, &cluster, &name);
    let (s, _) = ecs.store.write(|w| {
        active_cluster(w, ctx, &cluster)?;
        let mut s = match w.get_json::<Value>(&key)? {
            Some(s) if s["status"] == "ACTIVE" => s,
            Some(_) => return Err(service_not_active()),
            None => return Err(service_not_found()),
        };
        if s["desiredCount"].as_i64().unwrap_or(0) > 0
            && s["schedulingStrategy"] != "DAEMON"
            && !i.force.unwrap_or(false)
        {
            return Err(invalid(
                "The service cannot be stopped while it is scaled above 0.",
            ));
        }
        let arn = s["serviceArn"].as_str().unwrap_or_default().to_string();
        release_sc(w, ctx, &arn, &s, None)?;
        s["status"] = json!("DRAINING");
        s["desiredCount"] = json!(0);
        let t = now();
        if let Some(ds) = s["deployments"].as_array_mut() {
            for d in ds.iter_mut() {
                d["desiredCount"] = json!(0);
                d["updatedAt"] = json!(t);
            }
        }
        w.put_json(&key, &s)?;
        let out = s.clone();
        // Tasks no agent holds stop at once; the others are stopped by the scheduler
        // and their agents. With none left, draining is over at once.
        let group = format!("service:{name}");
        let mut tasks = false;
        for mut t in crate::taskstore::of_group(w, ctx, &cluster, &group)? {
            if t.last_status == crate::records::TaskStatus::Stopped {
                continue;
            }
            if t.container_instance_arn.is_none() {
                crate::task::mark_stopping(
                    &mut t,
                    crate::records::StopCode::ServiceSchedulerInitiated,
                    "Service deleted",
                    now(),
                );
                crate::taskstore::put(w, ctx, &cluster, &t)?;
            } else {
                tasks = true;
            }
        }
        if !tasks {
            s["status"] = json!("INACTIVE");
            w.put_json(&key, &s)?;
        }
        Ok::<_, ApiError>(out)
    })?;
    Ok(json!({ "service": public(s, false) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_ids_look_like_aws() {
        let id = deployment_id();
        assert!(id.starts_with("ecs-svc/"));
        assert_eq!(id.len(), "ecs-svc/".len() + 19);
    }

    #[test]
    fn dns_labels() {
        assert!(check_dns_label("nginx", "f", 64, false).is_ok());
        assert!(check_dns_label("-x", "f", 64, false).is_err());
        assert!(check_dns_label("a.b", "f", 64, false).is_err());
        assert!(check_dns_label("a.b", "f", 127, true).is_ok());
        assert!(check_dns_label("Upper", "f", 64, false).is_err());
    }
}
