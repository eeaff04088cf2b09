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
use crate::records::{
    Attachment, AttachmentsStatus, Cluster, ClusterStatus, ContainerInstance, InstanceStatus,
    KeyValue, Rest, ScDefaults, Service, ServiceStatus, Task, TaskStatus,
};
use crate::resource::{describe_each, list_arns};
use crate::Ecs;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Setting {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ScDefaultsInput {
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
    service_connect_defaults: Option<ScDefaultsInput>,
}

fn check_settings(settings: &[Setting]) -> R<Vec<KeyValue>> {
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
        out.push(KeyValue {
            name: Some(name.to_string()),
            value: Some(value.to_string()),
        });
    }
    Ok(out)
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
fn provisioning(w: &mut Writer<'_>, key: &str, cluster: &mut Cluster) -> R<()> {
    w.put(&format!("{PROVISIONING_QUEUE}{key}"), b"")?;
    cluster.status = ClusterStatus::Provisioning;
    cluster.attachments = Some(vec![Attachment {
        id: berth_awsproto::uuid_v4(),
        kind: "sc".into(),
        status: "ATTACHING".into(),
        details: Vec::new(),
        rest: Rest::new(),
    }]);
    cluster.attachments_status = Some(AttachmentsStatus::UpdateInProgress);
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
    let tags = i.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    let mut settings = check_settings(i.settings.as_deref().unwrap_or(&[]))?;
    if settings.is_empty() {
        settings.push(KeyValue {
            name: Some("containerInsights".into()),
            value: Some("disabled".into()),
        });
    }
    let key = cluster_key(ctx, &name);
    let (cluster, _) = ecs.store.write(|w| {
        if let Some(existing) = w.get_json::<Cluster>(&key)? {
            if existing.status != ClusterStatus::Inactive {
                // CreateCluster is idempotent on the name.
                return Ok(existing);
            }
        }
        let mut c = new_cluster(ctx, &name, &i, settings, tags);
        if let Some(ns) = i
            .service_connect_defaults
            .as_ref()
            .and_then(|d| d.namespace.as_deref())
        {
            let (arn, _) = default_namespace(w, ctx, ns)?;
            c.service_connect_defaults = Some(ScDefaults { namespace: arn });
            provisioning(w, &key, &mut c)?;
        }
        w.put_json(&key, &c)?;
        Ok::<_, ApiError>(c)
    })?;
    Ok(json!({ "cluster": cluster }))
}

/// A new ACTIVE cluster record.
fn new_cluster(
    ctx: &Context,
    name: &str,
    i: &CreateInput,
    settings: Vec<KeyValue>,
    tags: Vec<Tag>,
) -> Cluster {
    let mut rest = Rest::new();
    rest.insert("statistics".into(), json!([]));
    rest.insert(
        "capacityProviders".into(),
        json!(i.capacity_providers.clone().unwrap_or_default()),
    );
    rest.insert(
        "defaultCapacityProviderStrategy".into(),
        json!(i
            .default_capacity_provider_strategy
            .clone()
            .unwrap_or_default()),
    );
    if let Some(conf) = &i.configuration {
        rest.insert("configuration".into(), conf.clone());
    }
    Cluster {
        cluster_arn: cluster_arn(ctx, name),
        cluster_name: name.to_string(),
        status: ClusterStatus::Active,
        registered_container_instances_count: 0,
        running_tasks_count: 0,
        pending_tasks_count: 0,
        active_services_count: 0,
        service_connect_defaults: None,
        attachments: None,
        attachments_status: None,
        settings,
        tags,
        rest,
    }
}

/// Fills the live counts of a cluster from its services, tasks and instances.
fn with_counts(r: &impl Read, ctx: &Context, mut c: Cluster) -> R<Cluster> {
    let name = c.cluster_name.clone();
    let (mut running, mut pending) = (0, 0);
    for (_, t) in r.scan_json::<Task>(&task_prefix(ctx, &name), None, usize::MAX)? {
        match t.last_status {
            TaskStatus::Running => running += 1,
            TaskStatus::Stopped => {}
            _ => pending += 1,
        }
    }
    let services = r
        .scan_json::<Service>(&service_prefix(ctx, &name), None, usize::MAX)?
        .into_iter()
        .filter(|(_, s)| matches!(s.status, ServiceStatus::Active | ServiceStatus::Draining))
        .count();
    let instances = r
        .scan_json::<ContainerInstance>(&instance_prefix(ctx, &name), None, usize::MAX)?
        .into_iter()
        .filter(|(_, i)| i.status != InstanceStatus::Inactive)
        .count();
    c.registered_container_instances_count = instances as i64;
    c.running_tasks_count = running;
    c.pending_tasks_count = pending;
    c.active_services_count = services as i64;
    Ok(c)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    clusters: Option<Vec<String>>,
    include: Option<Vec<String>>,
}

const INCLUDE: &[&str] = &[
    "ATTACHMENTS",
    "CONFIGURATIONS",
    "SETTINGS",
    "STATISTICS",
    "TAGS",
];

/// A cluster as DescribeClusters shows it: attachments, settings, tags and the
/// configuration only when `include` asks for them.
fn described(mut c: Cluster, include: &[String]) -> Cluster {
    let has = |s: &str| include.iter().any(|x| x == s);
    if !has("ATTACHMENTS") {
        c.attachments = None;
        c.attachments_status = None;
    }
    if !has("SETTINGS") {
        c.settings.clear();
    }
    if !has("TAGS") {
        c.tags.clear();
    }
    if !has("CONFIGURATIONS") {
        c.rest.remove("configuration");
    }
    c
}

pub fn describe(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DescribeInput = parse_input(input)?;
    let include = i.include.unwrap_or_default();
    for inc in &include {
        check_enum(Some(inc), "include", INCLUDE)?;
    }
    let names = i.clusters.unwrap_or_else(|| vec![DEFAULT_CLUSTER.into()]);
    if names.len() > 100 {
        return Err(invalid(
            "clusters: at most 100 clusters can be described at once.",
        ));
    }
    ecs.store.read(|r| {
        // ARNs stay as given: another account's or region's is MISSING as it was asked.
        let refs: Vec<String> = names
            .iter()
            .map(|n| match n.as_str() {
                "" => DEFAULT_CLUSTER.to_string(),
                _ => n.clone(),
            })
            .collect();
        describe_each(
            r,
            ctx,
            "",
            &refs,
            |c: Cluster| Ok(described(with_counts(r, ctx, c)?, &include)),
            "clusters",
        )
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
        list_arns(
            r,
            ctx,
            "",
            i.next_token.as_deref(),
            size,
            "clusterArns",
            |c: &Cluster| c.status != ClusterStatus::Inactive,
        )
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UpdateInput {
    cluster: Option<String>,
    settings: Option<Vec<Setting>>,
    configuration: Option<Value>,
    service_connect_defaults: Option<ScDefaultsInput>,
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
            c.settings = s.clone();
        }
        if let Some(conf) = &i.configuration {
            c.rest.insert("configuration".into(), conf.clone());
        }
        if let Some(d) = &i.service_connect_defaults {
            set_default_namespace(w, ctx, &mut c, d.namespace.as_deref())?;
        }
        w.put_json(&cluster_key(ctx, &name), &c)?;
        Ok::<_, ApiError>(c)
    })?;
    let c = ecs.store.read(|r| with_counts(r, ctx, c))?;
    Ok(json!({ "cluster": c }))
}

/// UpdateCluster's `serviceConnectDefaults`: an empty namespace removes the default; a
/// new one makes the cluster PROVISIONING until it exists.
fn set_default_namespace(
    w: &mut Writer<'_>,
    ctx: &Context,
    c: &mut Cluster,
    ns: Option<&str>,
) -> R<()> {
    match ns {
        Some("") | None => c.service_connect_defaults = None,
        Some(ns) => {
            let (arn, _) = default_namespace(w, ctx, ns)?;
            if c.service_connect_defaults
                .as_ref()
                .map(|d| d.namespace.as_str())
                != Some(&arn)
            {
                c.service_connect_defaults = Some(ScDefaults { namespace: arn });
                let key = cluster_key(ctx, &c.cluster_name);
                provisioning(w, &key, c)?;
            }
        }
    }
    Ok(())
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

/// Why a cluster cannot be deleted yet, if it cannot.
fn still_in_use(c: &Cluster) -> Option<ApiError> {
    if c.registered_container_instances_count > 0 {
        return Some(ApiError::new(
            400,
            "ClusterContainsContainerInstancesException",
            "The Cluster cannot be deleted while Container Instances are active or draining.",
        ));
    }
    if c.active_services_count > 0 {
        return Some(ApiError::new(
            400,
            "ClusterContainsServicesException",
            "The Cluster cannot be deleted while Services are active.",
        ));
    }
    if c.running_tasks_count > 0 || c.pending_tasks_count > 0 {
        return Some(ApiError::new(
            400,
            "ClusterContainsTasksException",
            "The Cluster cannot be deleted while Tasks are active.",
        ));
    }
    None
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
        let mut c = with_counts(w, ctx, c)?;
        if let Some(e) = still_in_use(&c) {
            return Err(e);
        }
        c.status = ClusterStatus::Inactive;
        c.attachments = None;
        c.attachments_status = None;
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
            let Some(mut c) = w.get_json::<Cluster>(&key)? else {
                return Ok(());
            };
            if c.status != ClusterStatus::Provisioning {
                return Ok(());
            }
            c.status = ClusterStatus::Active;
            for a in c
                .attachments
                .iter_mut()
                .flatten()
                .filter(|a| a.kind == "sc")
            {
                a.status = "ATTACHED".into();
            }
            c.attachments_status = Some(AttachmentsStatus::UpdateComplete);
            w.put_json(&key, &c)?;
            Ok::<_, ApiError>(())
        })?;
    }
    Ok(())
}
