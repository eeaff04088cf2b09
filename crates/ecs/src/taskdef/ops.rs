//! The operations: RegisterTaskDefinition, DescribeTaskDefinition,
//! DeregisterTaskDefinition, ListTaskDefinitions and ListTaskDefinitionFamilies.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use berth_awsproto::{decode_token, encode_token, now, parse_input, ApiError, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::record::{TaskDefinition, TaskDefinitionRecord, TaskDefinitionStatus};
use super::render::{self, Identity};
use super::request::RegisterTaskDefinitionRequest;
use super::rules;
use super::store::{find, last_revision, scan_all};
use super::syntax::valid_name;
use crate::common::{
    client, invalid, page_size, prune_nulls, taskdef_family_prefix, taskdef_key, taskdef_prefix,
    Tag, R,
};
use crate::rules::{check_all, items, opt, Rule, Subject};
use crate::Ecs;
use berth_awsproto::wire_enum;

/// The answer of Register, Describe and Deregister.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer<'a> {
    task_definition: &'a TaskDefinition,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<&'a [Tag]>,
}

impl Answer<'_> {
    fn to_json(&self) -> R<Value> {
        serde_json::to_value(self).map_err(|e| ApiError::internal(format!("answer: {e}")))
    }
}

/// RegisterTaskDefinition.
pub fn register(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let mut input = input;
    prune_nulls(&mut input);
    let Value::Object(raw) = &input else {
        return Err(ApiError::serialization(
            "Request body does not match the input shape: expected an object.",
        ));
    };
    let raw = raw.clone();
    let req: RegisterTaskDefinitionRequest = parse_input(input)?;
    let task = rules::validate(&req)?;
    let family = req.family.as_deref().unwrap_or_default();
    let tags = req.tags.clone().unwrap_or_default();
    let (out, _) = ecs.store().write(|w| {
        let revision = last_revision(w, ctx, family)? + 1;
        let td = render::task_definition(&task, &raw, Identity::new(ctx, family, revision))?;
        let record = TaskDefinitionRecord {
            task_definition: td,
            tags,
        };
        w.put_json(&taskdef_key(ctx, family, revision), &record)?;
        Answer {
            task_definition: &record.task_definition,
            tags: (!record.tags.is_empty()).then_some(&record.tags),
        }
        .to_json()
    })?;
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    task_definition: Option<String>,
    include: Option<Vec<String>>,
}

impl Subject for DescribeInput {}

const DESCRIBE: &[Rule<DescribeInput>] = &[
    Rule::required("taskDefinition", |i| i.task_definition.is_some()),
    Rule::one_of("include", &["TAGS"], |i| items(&i.include)),
];

fn reference_given(reference: &Option<String>) -> R<()> {
    match reference {
        Some(_) => Ok(()),
        None => Err(invalid("taskDefinition is required.")),
    }
}

/// DescribeTaskDefinition.
pub fn describe(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DescribeInput = parse_input(input)?;
    check_all(DESCRIBE, &i)?;
    let reference = i.task_definition.as_deref().unwrap_or_default();
    let with_tags = i.include.is_some_and(|inc| !inc.is_empty());
    let (_, rec) = ecs
        .store()
        .read(|r| find(r, ctx, reference))?
        .ok_or_else(|| client("Unable to describe task definition."))?;
    Answer {
        task_definition: &rec.task_definition,
        tags: with_tags.then_some(&rec.tags),
    }
    .to_json()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeregisterInput {
    task_definition: Option<String>,
}

/// DeregisterTaskDefinition: the revision becomes INACTIVE (deregistering an INACTIVE
/// revision again returns it unchanged).
pub fn deregister(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: DeregisterInput = parse_input(input)?;
    reference_given(&i.task_definition)?;
    let reference = i.task_definition.unwrap_or_default();
    check_revision_given(&reference)?;
    let (td, _) = ecs.store().write(|w| {
        let (key, mut rec) = find(w, ctx, &reference)?
            .ok_or_else(|| client("The specified task definition does not exist."))?;
        let td = &mut rec.task_definition;
        if td.status == TaskDefinitionStatus::Active {
            td.status = TaskDefinitionStatus::Inactive;
            td.deregistered_at = Some(now());
            w.put_json(&key, &rec)?;
        }
        Ok::<_, ApiError>(rec.task_definition)
    })?;
    Answer {
        task_definition: &td,
        tags: None,
    }
    .to_json()
}

/// Deregistering takes `family:revision` or an ARN with one, never a bare family.
fn check_revision_given(reference: &str) -> R<()> {
    let rest = (reference.strip_prefix("arn:"))
        .and_then(|_| reference.split_once("task-definition/").map(|(_, r)| r))
        .unwrap_or(reference);
    match rest.split_once(':') {
        None => Err(client(format!(
            "Invalid revision number. Number: {rest}: taskDefinition must be family:revision or a task definition ARN."
        ))),
        Some((_, rev)) if rev.parse::<u64>().map_or(true, |n| n == 0) => {
            Err(client(format!("Invalid revision number. Number: {rev}")))
        }
        Some(_) => Ok(()),
    }
}

// ---- ListTaskDefinitions / ListTaskDefinitionFamilies -------------------------------

wire_enum! {
    /// ListTaskDefinitions' `sort`.
    pub enum SortOrder {
        Asc = "ASC",
        Desc = "DESC",
    }
}

wire_enum! {
    /// ListTaskDefinitionFamilies' `status`.
    pub enum FamilyStatus {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
        All = "ALL",
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    family_prefix: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    next_token: Option<String>,
    max_results: Option<i32>,
}

impl Subject for ListInput {}

const LIST: &[Rule<ListInput>] = &[
    Rule::one_of("status", TaskDefinitionStatus::NAMES, |i| {
        opt(i.status.as_deref())
    }),
    Rule::one_of("sort", SortOrder::NAMES, |i| opt(i.sort.as_deref())),
];

const LIST_FAMILIES: &[Rule<ListInput>] = &[Rule::one_of("status", FamilyStatus::NAMES, |i| {
    opt(i.status.as_deref())
})];

/// A revision in list order: family, then revision.
type Listed = (String, u64, String);

/// ListTaskDefinitions: ARNs by family name then revision (ASC, the default) or the
/// reverse (DESC). `familyPrefix` is a whole family name, as in the service.
pub fn list(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListInput = parse_input(input)?;
    check_all(LIST, &i)?;
    let size = page_size(i.max_results.map(i64::from), 100, 100)?;
    let status = (i.status.as_deref())
        .and_then(TaskDefinitionStatus::parse)
        .unwrap_or(TaskDefinitionStatus::Active);
    let desc = i.sort.as_deref().and_then(SortOrder::parse) == Some(SortOrder::Desc);
    let cursor = i.next_token.as_deref().map(list_cursor).transpose()?;
    let prefix = match i.family_prefix.as_deref() {
        Some(f) if !valid_name(f) => return Ok(serde_json::json!({ "taskDefinitionArns": [] })),
        Some(f) => taskdef_family_prefix(ctx, f),
        None => taskdef_prefix(ctx),
    };
    let records = ecs.store().read(|r| scan_all(r, &prefix))?;
    let mut items: Vec<Listed> = (records.into_iter())
        .map(|(_, rec)| rec.task_definition)
        .filter(|td| td.status == status)
        .map(|td| (td.family, td.revision, td.task_definition_arn))
        .collect();
    let order = |a: &Listed, b: (&str, u64)| {
        let o = (a.0.as_str(), a.1).cmp(&b);
        if desc {
            o.reverse()
        } else {
            o
        }
    };
    items.sort_by(|a, b| order(a, (&b.0, b.1)));
    let start = match &cursor {
        Some((f, r)) => (items.iter())
            .position(|x| order(x, (f, *r)) == Ordering::Greater)
            .unwrap_or(items.len()),
        None => 0,
    };
    Ok(list_page(&items, start, size))
}

/// The family and revision a ListTaskDefinitions token continues after.
fn list_cursor(token: &str) -> R<(String, u64)> {
    let k = decode_token(token, "nextToken", "InvalidParameterException")?;
    k.rsplit_once(':')
        .and_then(|(f, r)| Some((f.to_string(), r.parse::<u64>().ok()?)))
        .ok_or_else(|| invalid("nextToken is not a valid pagination token"))
}

fn list_page(items: &[Listed], start: usize, size: usize) -> Value {
    let page = &items[start..(start + size).min(items.len())];
    let arns: Vec<&str> = page.iter().map(|x| x.2.as_str()).collect();
    let mut out = serde_json::json!({ "taskDefinitionArns": arns });
    if start + size < items.len() {
        if let Some(last) = page.last() {
            out["nextToken"] = encode_token(&format!("{}:{}", last.0, last.1)).into();
        }
    }
    out
}

/// ListTaskDefinitionFamilies: family names beginning with `familyPrefix`; ACTIVE ones
/// have an ACTIVE revision, INACTIVE ones have none; ALL (the default) lists both.
pub fn list_families(ecs: &Ecs, ctx: &Context, input: Value) -> R<Value> {
    let i: ListInput = parse_input(input)?;
    check_all(LIST_FAMILIES, &i)?;
    let size = page_size(i.max_results.map(i64::from), 100, 100)?;
    let status = (i.status.as_deref())
        .and_then(FamilyStatus::parse)
        .unwrap_or(FamilyStatus::All);
    let after = match &i.next_token {
        Some(t) => Some(decode_token(t, "nextToken", "InvalidParameterException")?),
        None => None,
    };
    let family_prefix = i.family_prefix.as_deref().unwrap_or("");
    let prefix = format!("{}{family_prefix}", taskdef_prefix(ctx));
    let records = ecs.store().read(|r| scan_all(r, &prefix))?;
    // family → whether it has an ACTIVE revision
    let mut families: BTreeMap<String, bool> = BTreeMap::new();
    for (_, rec) in records {
        let td = rec.task_definition;
        if td.family.starts_with(family_prefix) {
            *families.entry(td.family).or_default() |= td.status == TaskDefinitionStatus::Active;
        }
    }
    let matching: Vec<String> = (families.into_iter())
        .filter(|(_, active)| match status {
            FamilyStatus::Active => *active,
            FamilyStatus::Inactive => !*active,
            FamilyStatus::All => true,
        })
        .map(|(f, _)| f)
        .filter(|f| after.as_deref().is_none_or(|a| f.as_str() > a))
        .collect();
    let mut out = serde_json::json!({ "families": &matching[..size.min(matching.len())] });
    if matching.len() > size {
        out["nextToken"] = encode_token(&matching[size - 1]).into();
    }
    Ok(out)
}
