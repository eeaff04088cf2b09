//! Clusters, and their Service Connect default namespace.
//!
//! A cluster created with `serviceConnectDefaults.namespace` naming an unknown namespace
//! gets a new HTTP namespace in Cloud Map and stays PROVISIONING, with an `sc`
//! attachment ATTACHING, until [`reconcile`] marks it ACTIVE, as AWS does.

use berth_awsproto::{parse_input, ApiError, Context};
use berth_store::{Read, Writer};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::*;
use crate::Ecs;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Setting {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ScDefaults {
    namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    cluster_name: Option<String>,
    tags: Option<Vec<Tag>>,
    settings: Option<Vec<Setting>>,
    configuration: Option<Value>,
    capacity_providers: Option<Vec<String>>,
    default_capacity_provider_strategy: Option<Vec<Value>>,
    service_connect_defaults: Option<ScDefaults>,
}

fn check_settings(settings: &[Setting]) -> R<Value> {
    let mut out = Vec::new();
    for s in settings {
        let name = s.name.as_deref().unwrap_or("");
        if name != "containerInsights" {
            return Err(invalid(format!(
                "settings.name '{name}' is invalid: the only cluster setting is containerInsights."
            )));
        }
        let value = s.value.as_deref().unwrap_or("");
        check_enum(
            Some(value),
            "settings.value",
            &["enabled", "disabled", "enhanced"],
        )?;
        out.push(json!({"name": name, "value": value}));
    }
    Ok(Value::Array(out))
}

/// Resolves (or creates) the namespace a cluster names as its default. Returns its ARN
/// and whether it was just created.
fn default_namespace(w: &mut Writer<'_>, ctx: &Context, ns: &str) -> R<(String, bool)> {
    if ns.is_empty() {
        return Err(invalid(
            "serviceConnectDefaults.namespace must not be empty.",
        ));
    }
    if let Some(found) = berth_cloudmap::find_namespace(w, ctx, ns)? {
        if found.kind != "HTTP" && found.kind != "DNS_PRIVATE" {
            return Err(invalid(format!(
                "serviceConnectDefaults.namespace '{ns}' is a {} namespace; Service Connect needs an HTTP or private DNS namespace.",
                found.kind
            )));
        }
        return Ok((found.arn, false));
    }
    if ns.starts_with("arn:") || ns.starts_with("ns-") {
        return Err(namespace_not_found(ns));
    }
    if ns.len() > 1024
        || !ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(invalid(format!(
            "serviceConnectDefaults.namespace '{ns}' is not a valid namespace name."
        )));
    }
    let created = berth_cloudmap::create_http_namespace_in(w, ctx, ns, Some(ns), None, &[])?;
    Ok((created.arn, true))
}

/// Marks a cluster PROVISIONING and queues it for [`reconcile`].
fn provisioning(w: &mut Writer<'_>, key: &str, cluster: &mut Value) -> R<()> {
    w.put(&format!("{PROVISIONING_QUEUE}{key}"), b"")?;
    cluster["status"] = json!("PROVISIONING");
    cluster["attachments"] = json!([{
        "id": berth_awsproto::uuid_v4(),
        "type": "sc",
        "status": "ATTACHING",
        "details": [],
    }]);
    cluster["attachmentsStatus"] = json!("UPDATE_IN_PROGRESS");
    Ok(())
}

/// Keys of clusters waiting for their namespace, each prefixed by this.
const PROVISIONING_QUEUE: &str = "queue/ecs-cluster-provisioning/";

pub fn create(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: CreateInput = parse_input(input)?;
    let name = i
        .cluster_name
        .clone()
        .unwrap_or_else(|| DEFAULT_CLUSTER.into());
    check_name(&name, "clusterName")?;
    let tags = i.tags.unwrap_or_default();
    check_tags(&tags)?;
    let settings = check_settings(i.settings.as_deref().unwrap_or(&[]))?;
    let settings = if settings.as_array().is_some_and(|a| a.is_empty()) {
        json!([{"name": "containerInsights", "value": "disabled"}])
    } else {
        settings
    };
    let key = cluster_key(ctx, &name);
    let (cluster, _) = ecs.store.write(|w| {
        if let Some(existing) = w.get_json::<Value>(&key)? {
            if existing["status"] != "INACTIVE" {
                // CreateCluster is idempotent on the name.
                return Ok(existing);
            }
        }
        let mut c = json!({
            "clusterArn": cluster_arn(ctx, &name),
            "clusterName": name,
            "status": "ACTIVE",
            "registeredContainerInstancesCount": 0,
            "runningTasksCount": 0,
            "pendingTasksCount": 0,
            "activeServicesCount": 0,
            "statistics": [],
            "tags": tags_json(&tags),
            "settings": settings,
            "capacityProviders": i.capacity_providers.clone().unwrap_or_default(),
            "defaultCapacityProviderStrategy": i.default_capacity_provider_strategy.clone().unwrap_or_default(),
        });
        if let Some(conf) = &i.configuration {
            c["configuration"] = conf.clone();
        }
        if let Some(ns) = i.service_connect_defaults.as_ref().and_then(|d| d.namespace.as_deref()) {
            let (arn, _) = default_namespace(w, ctx, ns)?;
            c["serviceConnectDefaults"] = json!({ "namespace": arn });
            provisioning(w, &key, &mut c)?;
        }
        w.put_json(&key, &c)?;
        Ok::<_, ApiError>(c)
    })?;
    Ok(json!({ "cluster": cluster }))
}

/// Fills the live counts of a cluster from its services, tasks and instances.
fn with_counts(r: &impl Read, ctx: &Context, mut c: Value) -> R<Value> {
    let name = c["clusterName"].as_str().unwrap_or_default().to_string();
    let mut running = 0;
    let mut pending = 0;
    for (_, t) in r.scan_json::<Value>(&task_prefix(ctx, &name), None, usize::MAX)? {
        match t["lastStatus"].as_str() {
            Some("RUNNING") => running += 1,
            Some("STOPPED") | Some("DELETED") => {}
            _ => pending += 1,
        }
    }
    let services = r
        .scan_json::<Value>(&service_prefix(ctx, &name), None, usize::MAX)?
        .into_iter()
        .filter(|(_, s)| s["status"] == "ACTIVE" || s["status"] == "DRAINING")
        .count();
    let instances = r
        .scan_json::<Value>(&instance_prefix(ctx, &name), None, usize::MAX)?
        .into_iter()
        .filter(|(_, i)| i["status"] != "INACTIVE")
        .count();
    c["registeredContainerInstancesCount"] = json!(instances);
    c["runningTasksCount"] = json!(running);
    c["pendingTasksCount"] = json!(pending);
    c["activeServicesCount"] = json!(services);
    Ok(c)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    clusters: Option<Vec<String>>,
    include: Option<Vec<String>>,
}

pub fn describe(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DescribeInput = parse_input(input)?;
    let include = i.include.unwrap_or_default();
    for inc in &include {
        check_enum(
            Some(inc),
            "include",
            &[
                "ATTACHMENTS",
                "CONFIGURATIONS",
                "SETTINGS",
                "STATISTICS",
                "TAGS",
            ],
        )?;
    }
    let names = i.clusters.unwrap_or_else(|| vec![DEFAULT_CLUSTER.into()]);
    if names.len() > 100 {
        return Err(invalid(
            "clusters: at most 100 clusters can be described at once.",
        ));
    }
    let has = |s: &str| include.iter().any(|x| x == s);
    ecs.store.read(|r| {
        let mut clusters = Vec::new();
        let mut failures = Vec::new();
        for n in &names {
            let name = cluster_name(Some(n));
            match r.get_json::<Value>(&cluster_key(ctx, &name))? {
                Some(c) => {
                    let mut c = with_counts(r, ctx, c)?;
                    let m = c.as_object_mut().expect("a cluster is an object");
                    if !has("ATTACHMENTS") {
                        m.remove("attachments");
                        m.remove("attachmentsStatus");
                    }
                    if !has("SETTINGS") {
                        m.insert("settings".into(), json!([]));
                    }
                    if !has("TAGS") {
                        m.insert("tags".into(), json!([]));
                    }
                    if !has("CONFIGURATIONS") {
                        m.remove("configuration");
                    }
                    clusters.push(c);
                }
                None => failures.push(json!({
                    "arn": cluster_arn(ctx, &name),
                    "reason": "MISSING",
                })),
            }
        }
        Ok(json!({ "clusters": clusters, "failures": failures }))
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub fn list(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListInput = parse_input(input)?;
    let size = page_size(i.max_results, 100, 100)?;
    ecs.store.read(|r| {
        let (arns, next) = paginate(
            r,
            &cluster_prefix(ctx),
            i.next_token.as_deref(),
            size,
            |_, c| (c["status"] != "INACTIVE").then(|| c["clusterArn"].clone()),
        )?;
        Ok(page_json("clusterArns", arns, next))
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UpdateInput {
    cluster: Option<String>,
    settings: Option<Vec<Setting>>,
    configuration: Option<Value>,
    service_connect_defaults: Option<ScDefaults>,
}

pub fn update(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: UpdateInput = parse_input(input)?;
    let cluster = i
        .cluster
        .as_deref()
        .ok_or_else(|| invalid("cluster is required."))?;
    let name = cluster_name(Some(cluster));
    let settings = i.settings.as_deref().map(check_settings).transpose()?;
    let (c, _) = ecs.store.write(|w| {
        let mut c = active_cluster(w, ctx, &name)?;
        if let Some(s) = &settings {
            c["settings"] = s.clone();
        }
        if let Some(conf) = &i.configuration {
            c["configuration"] = conf.clone();
        }
        if let Some(d) = &i.service_connect_defaults {
            match d.namespace.as_deref() {
                // An empty namespace removes the default.
                Some("") | None => {
                    if let Some(m) = c.as_object_mut() {
                        m.remove("serviceConnectDefaults");
                    }
                }
                Some(ns) => {
                    let (arn, _) = default_namespace(w, ctx, ns)?;
                    if c["serviceConnectDefaults"]["namespace"] != json!(arn) {
                        c["serviceConnectDefaults"] = json!({ "namespace": arn });
                        provisioning(w, &cluster_key(ctx, &name), &mut c)?;
                    }
                }
            }
        }
        w.put_json(&cluster_key(ctx, &name), &c)?;
        Ok::<_, ApiError>(c)
    })?;
    let c = ecs.store.read(|r| with_counts(r, ctx, c))?;
    Ok(json!({ "cluster": c }))
}

pub fn update_settings(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: UpdateInput = parse_input(input)?;
    if i.settings.is_none() {
        return Err(invalid("settings is required."));
    }
    update(
        ecs,
        ctx,
        json!({"cluster": i.cluster, "settings": i.settings.unwrap_or_default().iter().map(|s| json!({"name": s.name, "value": s.value})).collect::<Vec<_>>()}),
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeleteInput {
    cluster: Option<String>,
}

pub fn delete(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DeleteInput = parse_input(input)?;
    let cluster = i
        .cluster
        .as_deref()
        .ok_or_else(|| invalid("cluster is required."))?;
    let name = cluster_name(Some(cluster));
    let (c, _) = ecs.store.write(|w| {
        let c = active_cluster(w, ctx, &name)?;
        let c = with_counts(w, ctx, c)?;
        if c["registeredContainerInstancesCount"].as_u64() > Some(0) {
            return Err(ApiError::new(
                400,
                "ClusterContainsContainerInstancesException",
                "The Cluster cannot be deleted while Container Instances are active or draining.",
            ));
        }
        if c["activeServicesCount"].as_u64() > Some(0) {
            return Err(ApiError::new(
                400,
                "ClusterContainsServicesException",
                "The Cluster cannot be deleted while Services are active.",
            ));
        }
        if c["runningTasksCount"].as_u64() > Some(0) || c["pendingTasksCount"].as_u64() > Some(0) {
            return Err(ApiError::new(
                400,
                "ClusterContainsTasksException",
                "The Cluster cannot be deleted while Tasks are active.",
            ));
        }
        let mut c = c;
        c["status"] = json!("INACTIVE");
        if let Some(m) = c.as_object_mut() {
            m.remove("attachments");
            m.remove("attachmentsStatus");
        }
        w.put_json(&cluster_key(ctx, &name), &c)?;
        Ok(c)
    })?;
    Ok(json!({ "cluster": c }))
}

/// Queued PROVISIONING clusters become ACTIVE, their `sc` attachment ATTACHED (berth
/// creates the namespace in the same transaction as the cluster, so it exists by now).
pub fn reconcile(ecs: &Ecs) -> R<()> {
    let queued: Vec<String> = ecs.store.read(|r| {
        Ok::<_, ApiError>(
            r.scan(PROVISIONING_QUEUE, None, 1000)?
                .into_iter()
                .map(|(k, _)| k)
                .collect(),
        )
    })?;
    for marker in queued {
        let key = marker[PROVISIONING_QUEUE.len()..].to_string();
        ecs.store.write(|w| {
            w.delete(&marker)?;
            let Some(mut c) = w.get_json::<Value>(&key)? else {
                return Ok(());
            };
            if c["status"] != "PROVISIONING" {
                return Ok(());
            }
            c["status"] = json!("ACTIVE");
            if let Some(atts) = c["attachments"].as_array_mut() {
                for a in atts.iter_mut().filter(|a| a["type"] == "sc") {
                    a["status"] = json!("ATTACHED");
                }
            }
            c["attachmentsStatus"] = json!("UPDATE_COMPLETE");
            w.put_json(&key, &c)?;
            Ok::<_, ApiError>(())
        })?;
    }
    Ok(())
}
