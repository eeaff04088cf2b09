//! TagResource, UntagResource and ListTagsForResource on every taggable ECS resource:
//! clusters, services, tasks, container instances and task definitions. Each record
//! keeps its tags in a top-level `tags` member.

use berth_awsproto::{parse_input, ApiError, Context};
use berth_store::Read;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::common::*;
use crate::records::Rest;
use crate::Ecs;

/// The store key of the resource an ECS ARN names.
fn key_for(ctx: &Context, arn: &str) -> R<String> {
    let bad = || {
        invalid(format!(
            "resourceArn '{arn}' is not a valid ECS resource ARN."
        ))
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "ecs" {
        return Err(bad());
    }
    if parts[3] != ctx.region || parts[4] != ctx.account {
        return Err(ApiError::new(
            400,
            "ResourceNotFoundException",
            format!("The specified resource '{arn}' is not in this account and region."),
        ));
    }
    let path: Vec<&str> = parts[5].split('/').collect();
    Ok(match path.as_slice() {
        ["cluster", name] => cluster_key(ctx, name),
        ["service", name] => service_key(ctx, DEFAULT_CLUSTER, name),
        ["service", cluster, name] => service_key(ctx, cluster, name),
        ["task", cluster, id] => task_key(ctx, cluster, id),
        ["container-instance", cluster, id] => instance_key(ctx, cluster, id),
        ["task-definition", fam_rev] => {
            let (family, rev) = fam_rev.rsplit_once(':').ok_or_else(bad)?;
            let rev: u64 = rev.parse().map_err(|_| bad())?;
            taskdef_key(ctx, family, rev)
        }
        _ => return Err(bad()),
    })
}

fn not_found(arn: &str) -> ApiError {
    ApiError::new(
        400,
        "ResourceNotFoundException",
        format!("The specified resource '{arn}' could not be found."),
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TagInput {
    resource_arn: Option<String>,
    tags: Option<Vec<Tag>>,
    tag_keys: Option<Vec<String>>,
}

fn arn_of(i: &TagInput) -> R<String> {
    i.resource_arn
        .clone()
        .ok_or_else(|| invalid("resourceArn is required."))
}

/// Any taggable record, as far as tagging goes: its `tags`, and the rest untouched.
#[derive(Deserialize, Serialize)]
struct Tagged {
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(flatten)]
    rest: Rest,
}

/// Reads the record `arn` names, lets `edit` change its tags, writes it back.
fn edit_tags(
    ecs: &Ecs,
    ctx: &Context,
    arn: &str,
    edit: impl FnOnce(&mut Vec<Tag>) -> R<()>,
) -> R<Value> {
    let key = key_for(ctx, arn)?;
    ecs.store.write(|w| {
        let mut rec = w.get_json::<Tagged>(&key)?.ok_or_else(|| not_found(arn))?;
        edit(&mut rec.tags)?;
        w.put_json(&key, &rec)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(json!({}))
}

pub fn tag(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: TagInput = parse_input(input)?;
    let arn = arn_of(&i)?;
    let tags = i.tags.clone().ok_or_else(|| invalid("tags is required."))?;
    check_tags(&tags)?;
    edit_tags(ecs, ctx, &arn, |list| {
        for t in tags {
            match list.iter_mut().find(|e| e.key == t.key) {
                Some(e) => *e = t,
                None => list.push(t),
            }
        }
        if list.len() > 50 {
            return Err(invalid("tags: a resource can have at most 50 tags."));
        }
        Ok(())
    })
}

pub fn untag(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: TagInput = parse_input(input)?;
    let arn = arn_of(&i)?;
    let keys = i
        .tag_keys
        .clone()
        .ok_or_else(|| invalid("tagKeys is required."))?;
    edit_tags(ecs, ctx, &arn, |list| {
        list.retain(|t| !t.key.as_ref().is_some_and(|k| keys.contains(k)));
        Ok(())
    })
}

pub fn list(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: TagInput = parse_input(input)?;
    let arn = arn_of(&i)?;
    let key = key_for(ctx, &arn)?;
    ecs.store.read(|r| {
        let rec = r.get_json::<Tagged>(&key)?.ok_or_else(|| not_found(&arn))?;
        Ok(json!({ "tags": rec.tags }))
    })
}
