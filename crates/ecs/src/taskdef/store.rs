//! Finding revisions in the store.

use berth_awsproto::Context;
use berth_store::Read;

use super::record::{TaskDefinitionRecord, TaskDefinitionStatus};
use super::syntax::valid_name;
use crate::common::{taskdef_family_prefix, taskdef_key, R};

/// Keys scanned per store call.
const CHUNK: usize = 1000;

/// The highest revision a family ever had (ACTIVE or not), 0 when it has none.
pub(super) fn last_revision(r: &impl Read, ctx: &Context, family: &str) -> R<u64> {
    let prefix = taskdef_family_prefix(ctx, family);
    let mut after: Option<String> = None;
    let mut last = 0;
    loop {
        let chunk = r.scan(&prefix, after.as_deref(), CHUNK)?;
        let n = chunk.len();
        if let Some((k, _)) = chunk.last() {
            last = k[prefix.len()..].parse().unwrap_or(last);
            after = Some(k.clone());
        }
        if n < CHUNK {
            return Ok(last);
        }
    }
}

/// Every record under `prefix`, in key order.
pub(super) fn scan_all(r: &impl Read, prefix: &str) -> R<Vec<(String, TaskDefinitionRecord)>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let chunk = r.scan_json::<TaskDefinitionRecord>(prefix, after.as_deref(), CHUNK)?;
        let n = chunk.len();
        after = chunk.last().map(|(k, _)| k.clone()).or(after);
        out.extend(chunk);
        if n < CHUNK {
            return Ok(out);
        }
    }
}

/// A reference split into family and revision (None: the latest ACTIVE one). None when
/// the reference can't name a task definition of this account and region.
fn parse_reference(ctx: &Context, reference: &str) -> Option<(String, Option<u64>)> {
    let rest = if reference.starts_with("arn:") {
        let parts: Vec<&str> = reference.splitn(6, ':').collect();
        if parts.len() != 6
            || parts[2] != "ecs"
            || parts[3] != ctx.region
            || parts[4] != ctx.account
        {
            return None;
        }
        parts[5].strip_prefix("task-definition/")?
    } else {
        reference
    };
    let (family, revision) = match rest.split_once(':') {
        Some((f, r)) => (f, Some(r.parse::<u64>().ok().filter(|n| *n >= 1)?)),
        None => (rest, None),
    };
    valid_name(family).then(|| (family.to_string(), revision))
}

/// The record a reference names, with its key: `family` (its latest ACTIVE revision),
/// `family:revision`, or a task-definition ARN.
pub(super) fn find(
    r: &impl Read,
    ctx: &Context,
    reference: &str,
) -> R<Option<(String, TaskDefinitionRecord)>> {
    let Some((family, revision)) = parse_reference(ctx, reference) else {
        return Ok(None);
    };
    if let Some(rev) = revision {
        let key = taskdef_key(ctx, &family, rev);
        return Ok(r.get_json(&key)?.map(|rec| (key, rec)));
    }
    let mut latest = None;
    for (key, rec) in scan_all(r, &taskdef_family_prefix(ctx, &family))? {
        if rec.task_definition.status == TaskDefinitionStatus::Active {
            latest = Some((key, rec));
        }
    }
    Ok(latest)
}
