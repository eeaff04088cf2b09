//! Container instances: the hosts (berth agents) tasks run on.

use berth_awsproto::{now, parse_input, random_string, ApiError, Context, HEX};
use berth_store::Read;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::*;
use crate::Ecs;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Resource {
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
    total_resources: Option<Vec<Resource>>,
    version_info: Option<Value>,
    container_instance_arn: Option<String>,
    attributes: Option<Vec<Attribute>>,
    tags: Option<Vec<Tag>>,
}

fn instance_arn(ctx: &Context, cluster: &str, id: &str) -> String {
    ctx.arn("ecs", &format!("container-instance/{cluster}/{id}"))
}

pub fn register(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: RegisterInput = parse_input(input)?;
    let _ = &i.instance_identity_document_signature;
    let cluster = cluster_name(i.cluster.as_deref());
    let tags = i.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    let doc: Value = match &i.instance_identity_document {
        Some(d) => serde_json::from_str(d).map_err(|e| {
            invalid(format!(
                "instanceIdentityDocument is not a valid JSON document: {e}"
            ))
        })?,
        None => json!({}),
    };
    let mut resources = Vec::new();
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
        resources.push(v);
    }
    let mut attributes = vec![
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
        attributes.retain(|e| e["name"] != json!(name));
        attributes.push(v);
    }
    let (ci, _) = ecs.store.write(|w| {
        active_cluster(w, ctx, &cluster)?;
        // Re-registration keeps the identity of a known instance.
        let id = match &i.container_instance_arn {
            Some(arn) => {
                let id = name_from(arn, "container-instance");
                if w.get_json::<Value>(&instance_key(ctx, &cluster, &id))?
                    .is_none()
                {
                    return Err(invalid(format!(
                        "containerInstanceArn '{arn}' is not registered in this cluster."
                    )));
                }
                id
            }
            None => random_string(32, HEX),
        };
        let ec2_id = doc["instanceId"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("i-{}", random_string(17, HEX)));
        let mut ci = json!({
            "containerInstanceArn": instance_arn(ctx, &cluster, &id),
            "ec2InstanceId": ec2_id,
            "version": 1,
            "versionInfo": i.version_info.clone().unwrap_or_else(|| json!({})),
            "remainingResources": resources,
            "registeredResources": resources,
            "status": "ACTIVE",
            "agentConnected": true,
            "runningTasksCount": 0,
            "pendingTasksCount": 0,
            "attributes": attributes,
            "registeredAt": now(),
            "attachments": [],
            "tags": tags_json(&tags),
        });
        if let Some(prev) = w.get_json::<Value>(&instance_key(ctx, &cluster, &id))? {
            ci["version"] = json!(prev["version"].as_i64().unwrap_or(1) + 1);
            ci["registeredAt"] = prev["registeredAt"].clone();
        }
        w.put_json(&instance_key(ctx, &cluster, &id), &ci)?;
        Ok::<_, ApiError>(ci)
    })?;
    Ok(json!({ "containerInstance": public(ci, false) }))
}

fn public(mut c: Value, with_tags: bool) -> Value {
    if !with_tags {
        if let Some(m) = c.as_object_mut() {
            m.remove("tags");
        }
    }
    c
}

/// Fills the live task counts of a container instance.
fn with_counts(r: &impl Read, ctx: &Context, cluster: &str, mut c: Value) -> R<Value> {
    let arn = c["containerInstanceArn"].clone();
    let (mut running, mut pending) = (0, 0);
    for (_, t) in r.scan_json::<Value>(&task_prefix(ctx, cluster), None, usize::MAX)? {
        if t["containerInstanceArn"] != arn {
            continue;
        }
        match t["lastStatus"].as_str() {
            Some("RUNNING") => running += 1,
            Some("STOPPED") => {}
            _ => pending += 1,
        }
    }
    c["runningTasksCount"] = json!(running);
    c["pendingTasksCount"] = json!(pending);
    Ok(c)
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
            .get_json::<Value>(&key)
            ?
            .filter(|c| c["status"] != "INACTIVE")
            .ok_or_else(|| invalid("The referenced container instance was not found."))?;
        let mut ci = with_counts(w, ctx, &cluster, ci)?;
        let busy = ci["runningTasksCount"].as_i64().unwrap_or(0) + ci["pendingTasksCount"].as_i64().unwrap_or(0);
        if busy > 0 && !i.force.unwrap_or(false) {
            return Err(invalid(
                "Found running tasks on the instance. Deregister with force to leave them orphaned.",
            ));
        }
        ci["status"] = json!("INACTIVE");
        ci["agentConnected"] = json!(false);
        ci["version"] = json!(ci["version"].as_i64().unwrap_or(1) + 1);
        w.put_json(&key, &ci)?;
        Ok::<_, ApiError>(ci)
    })?;
    Ok(json!({ "containerInstance": public(ci, false) }))
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
    check_enum(
        i.status.as_deref(),
        "status",
        &[
            "ACTIVE",
            "DRAINING",
            "REGISTERING",
            "DEREGISTERING",
            "REGISTRATION_FAILED",
        ],
    )?;
    if let Some(f) = &i.filter {
        return Err(invalid(format!(
            "filter '{f}': cluster query language expressions are not supported by berth yet."
        )));
    }
    ecs.store.read(|r| {
        active_cluster(r, ctx, &cluster)?;
        let (arns, next) = paginate(
            r,
            &instance_prefix(ctx, &cluster),
            i.next_token.as_deref(),
            size,
            |_, c| {
                let keep = match &i.status {
                    Some(s) => c["status"] == json!(s),
                    None => c["status"] != "INACTIVE",
                };
                keep.then(|| c["containerInstanceArn"].clone())
            },
        )?;
        Ok(page_json("containerInstanceArns", arns, next))
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
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for c in &ids {
            let id = name_from(c, "container-instance");
            match r.get_json::<Value>(&instance_key(ctx, &cluster, &id))? {
                Some(ci) => out.push(public(with_counts(r, ctx, &cluster, ci)?, with_tags)),
                None => failures
                    .push(json!({"arn": instance_arn(ctx, &cluster, &id), "reason": "MISSING"})),
            }
        }
        Ok(json!({ "containerInstances": out, "failures": failures }))
    })
}
