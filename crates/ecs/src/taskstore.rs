//! Tasks in the store: the record and the indexes that let the scheduler and agents
//! read only the tasks that concern them, not every task of a cluster.
//!
//! | key under `ecs/<account>/<region>/` | present while |
//! |---|---|
//! | `task/<cluster>/<id>` | the task record exists (until forgotten, an hour after it stopped) |
//! | `group/<cluster>/<group>/<id>` | the task record exists (`group` escaped, `service:<name>` for a service's tasks) |
//! | `unplaced/<cluster>/<id>` | the task waits for a container instance (desired RUNNING, none assigned, not stopped) |
//! | `placed/<cluster>/<instance id>/<id>` | the task is on that instance and not STOPPED |
//!
//! Every task write goes through `put` and every removal through `forget`, which
//! keep the indexes in step inside the caller's transaction; `reindex` rebuilds them
//! for a store written before they existed.

use berth_awsproto::Context;
use berth_store::{Read, Writer};

use crate::common::*;
use crate::network;
use crate::records::{DesiredStatus, Task, TaskStatus};

/// A task group as a key segment: `/` and `%` escaped, so one group's prefix never
/// covers another's.
fn escape(group: &str) -> String {
    group.replace('%', "%25").replace('/', "%2F")
}

fn unescape(segment: &str) -> String {
    segment.replace("%2F", "/").replace("%25", "%")
}

/// Where the tasks of `group` in `cluster` are indexed.
pub(crate) fn group_prefix(ctx: &Context, cluster: &str, group: &str) -> String {
    format!("{}group/{cluster}/{}/", root(ctx), escape(group))
}

/// Where the unplaced tasks of `cluster` are indexed.
pub(crate) fn unplaced_prefix(ctx: &Context, cluster: &str) -> String {
    format!("{}unplaced/{cluster}/", root(ctx))
}

/// Where the tasks on the container instance `instance_id` are indexed.
pub(crate) fn placed_prefix(ctx: &Context, cluster: &str, instance_id: &str) -> String {
    format!("{}placed/{cluster}/{instance_id}/", root(ctx))
}

/// True while a task waits for a container instance.
pub(crate) fn is_unplaced(t: &Task) -> bool {
    t.desired_status == DesiredStatus::Running
        && t.container_instance_arn.is_none()
        && t.last_status != TaskStatus::Stopped
}

fn instance_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Puts `key` (with an empty value) unless it is there already.
fn ensure(w: &mut Writer<'_>, key: &str) -> R<()> {
    if w.get(key)?.is_none() {
        w.put(key, b"")?;
    }
    Ok(())
}

/// Keeps the indexes of `t` in step with the record (idempotent).
fn index(w: &mut Writer<'_>, ctx: &Context, cluster: &str, t: &Task) -> R<()> {
    let id = t.id();
    ensure(w, &format!("{}{id}", group_prefix(ctx, cluster, &t.group)))?;
    let unplaced = format!("{}{id}", unplaced_prefix(ctx, cluster));
    if is_unplaced(t) {
        ensure(w, &unplaced)?;
    } else {
        w.delete(&unplaced)?;
    }
    if let Some(arn) = &t.container_instance_arn {
        let placed = format!("{}{id}", placed_prefix(ctx, cluster, instance_id(arn)));
        if t.last_status == TaskStatus::Stopped {
            w.delete(&placed)?;
        } else {
            ensure(w, &placed)?;
        }
    }
    Ok(())
}

/// Writes a task record and keeps its indexes.
pub(crate) fn put(w: &mut Writer<'_>, ctx: &Context, cluster: &str, t: &Task) -> R<()> {
    w.put_json(&task_key(ctx, cluster, t.id()), t)?;
    index(w, ctx, cluster, t)?;
    network::sync_interface(w, ctx, cluster, t)
}

/// Removes a task record and its index entries.
pub(crate) fn forget(w: &mut Writer<'_>, ctx: &Context, cluster: &str, t: &Task) -> R<()> {
    let id = t.id();
    network::release(w, ctx, cluster, t)?;
    w.delete(&task_key(ctx, cluster, id))?;
    w.delete(&format!("{}{id}", group_prefix(ctx, cluster, &t.group)))?;
    w.delete(&format!("{}{id}", unplaced_prefix(ctx, cluster)))?;
    if let Some(arn) = &t.container_instance_arn {
        w.delete(&format!(
            "{}{id}",
            placed_prefix(ctx, cluster, instance_id(arn))
        ))?;
    }
    Ok(())
}

/// A task by id.
pub(crate) fn get(r: &impl Read, ctx: &Context, cluster: &str, id: &str) -> R<Option<Task>> {
    Ok(r.get_json::<Task>(&task_key(ctx, cluster, id))?)
}

/// The tasks whose ids are indexed under `prefix` (entries whose task is gone are skipped).
fn indexed(r: &impl Read, ctx: &Context, cluster: &str, prefix: &str) -> R<Vec<Task>> {
    let mut out = Vec::new();
    for (key, _) in r.scan(prefix, None, usize::MAX)? {
        if let Some(t) = get(r, ctx, cluster, &key[prefix.len()..])? {
            out.push(t);
        }
    }
    Ok(out)
}

/// Every task of `group` in `cluster`, stopped ones included.
pub(crate) fn of_group(r: &impl Read, ctx: &Context, cluster: &str, group: &str) -> R<Vec<Task>> {
    indexed(r, ctx, cluster, &group_prefix(ctx, cluster, group))
}

/// The task groups of `cluster` (a seek per group, not a scan of every entry).
pub(crate) fn groups(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
) -> R<std::collections::BTreeSet<String>> {
    let prefix = format!("{}group/{cluster}/", root(ctx));
    let mut out = std::collections::BTreeSet::new();
    let mut after: Option<String> = None;
    while let Some((key, _)) = r.scan(&prefix, after.as_deref(), 1)?.pop() {
        let segment = key[prefix.len()..].split('/').next().unwrap_or_default();
        after = Some(format!("{prefix}{segment}/\u{10FFFF}"));
        out.insert(unescape(segment));
    }
    Ok(out)
}

/// The tasks of `cluster` that wait for a container instance.
pub(crate) fn unplaced(r: &impl Read, ctx: &Context, cluster: &str) -> R<Vec<Task>> {
    let tasks = indexed(r, ctx, cluster, &unplaced_prefix(ctx, cluster))?;
    Ok(tasks.into_iter().filter(is_unplaced).collect())
}

/// The tasks on a container instance that are not STOPPED.
pub(crate) fn on_instance(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    instance_id: &str,
) -> R<Vec<Task>> {
    let tasks = indexed(r, ctx, cluster, &placed_prefix(ctx, cluster, instance_id))?;
    Ok(tasks
        .into_iter()
        .filter(|t| t.last_status != TaskStatus::Stopped)
        .collect())
}

/// Rebuilds the indexes of every task of `cluster` (for a store written before they
/// existed). Writes nothing when they are complete.
pub(crate) fn reindex(w: &mut Writer<'_>, ctx: &Context, cluster: &str) -> R<()> {
    for (_, t) in w.scan_json::<Task>(&task_prefix(ctx, cluster), None, usize::MAX)? {
        index(w, ctx, cluster, &t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_never_share_a_prefix() {
        let ctx = Context::default();
        let a = group_prefix(&ctx, "c", "family:a");
        let b = group_prefix(&ctx, "c", "family:a/b");
        assert!(!b.starts_with(&a), "{a} {b}");
        assert!(group_prefix(&ctx, "c", "x%2Fy") != group_prefix(&ctx, "c", "x/y"));
        for g in ["service:a", "family:x/y", "50%/2F"] {
            assert_eq!(unescape(&escape(g)), g);
        }
    }
}
