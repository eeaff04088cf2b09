//! The service scheduler and task placement: level-triggered and idempotent, and
//! costing what changed, not the size of the store.
//!
//! The unit of work is a **task group** of a cluster (`service:<name>` for a service's
//! tasks, `family:<name>` or the caller's group for standalone ones) plus, per
//! cluster, its **instances** (agents that went away, placement). What is due comes
//! from the store's change log (a changed service, task, instance or agent marker makes
//! its group or cluster due) and from timers the passes themselves ask for (a launch
//! back-off that ends, a STOPPED task to forget an hour after it stopped, an agent's
//! grace period): with nothing changed and no timer due, a pass reads nothing and
//! writes nothing. After a restart (or when the change log no longer reaches back)
//! every group and cluster is due once, so a restarted server converges from the
//! stored state alone.
//!
//! Each group's pass reads only its own tasks (through `taskstore`'s index) and its
//! service, decides with [`plan::plan`] (a pure function of the service, its tasks and
//! the time) and carries the plan out (`apply`). Passes run in write transactions of
//! at most [`GROUPS_PER_TRANSACTION`] groups, each ending with placement: unplaced
//! tasks go to connected ACTIVE instances (`placement`).

mod apply;
pub(crate) use apply::{capacity_of, instance_capacities, Definitions};
pub mod placement;
pub mod plan;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use berth_awsproto::{now, ApiError, Context};
use berth_store::{Change, Read};

use crate::common::*;
use crate::records::{Cluster, ClusterStatus};
use crate::{taskstore, Ecs};

pub use plan::{failure_threshold, FAILED_START_SECS, UNHEALTHY_REASON};

/// How long an instance's agent may stay away before its tasks count as lost: they are
/// marked STOPPED and replaced elsewhere.
pub const AGENT_GRACE_SECS: f64 = 10.0;
/// The stoppedReason of a task whose agent went away.
pub const AGENT_LOST_REASON: &str =
    "Task stopped: the agent of its container instance disconnected (berth agent lost)";
/// How long STOPPED tasks stay visible.
const STOPPED_TASK_TTL_SECS: f64 = 3600.0;
/// The most events a service keeps (ECS shows the latest 100).
const MAX_EVENTS: usize = 100;
/// The most task groups one write transaction passes over, so that API writes never
/// wait long for the store.
pub const GROUPS_PER_TRANSACTION: usize = 32;
/// How long after a failed pass its work is tried again.
const RETRY_AFTER_SECS: f64 = 5.0;
/// The most change-log entries read per reconcile; the rest wait for the next one.
const CHANGES_PER_ROUND: usize = 100_000;

/// (account, region, cluster).
type ClusterRef = (String, String, String);

/// What is due in one cluster.
#[derive(Debug, Default, Clone, PartialEq)]
struct Due {
    /// Lost agents and placement.
    instances: bool,
    /// Task groups.
    groups: BTreeSet<String>,
}

/// What the scheduler remembers between passes.
#[derive(Debug, Default)]
pub(crate) struct SchedulerState {
    /// The store revision up to which changes were taken in.
    last_revision: Option<u64>,
    /// Work that becomes due at a time (milliseconds since the epoch).
    timers: BTreeMap<u64, BTreeMap<ClusterRef, Due>>,
}

pub(crate) type Shared = Mutex<SchedulerState>;

fn ctx_of(c: &ClusterRef) -> Context {
    Context {
        account: c.0.clone(),
        region: c.1.clone(),
        caller: Default::default(),
    }
}

fn merge(into: &mut BTreeMap<ClusterRef, Due>, cluster: &ClusterRef, due: &Due) {
    let d = into.entry(cluster.clone()).or_default();
    d.instances |= due.instances;
    d.groups.extend(due.groups.iter().cloned());
}

impl SchedulerState {
    fn wake(&mut self, at: Option<f64>, cluster: &ClusterRef, due: Due) {
        if let Some(at) = at {
            let ms = (at * 1000.0).ceil().max(0.0) as u64;
            merge(self.timers.entry(ms).or_default(), cluster, &due);
        }
    }

    /// The timers due at `now`, removed.
    fn take_timers(&mut self, now: f64, into: &mut BTreeMap<ClusterRef, Due>) {
        let now_ms = (now * 1000.0) as u64;
        let later = self.timers.split_off(&(now_ms + 1));
        for (_, work) in std::mem::replace(&mut self.timers, later) {
            for (c, d) in work {
                merge(into, &c, &d);
            }
        }
    }
}

pub(crate) use apply::push_event as push_service_event;

/// Adds `message` to the events of the service `name` (see `apply::push_event_once`).
pub(crate) fn service_event(
    ecs: &Ecs,
    ctx: &Context,
    cluster: &str,
    name: &str,
    message: String,
    same_kind: impl Fn(&str) -> bool,
    now: f64,
) -> R<()> {
    ecs.store.write(|w| {
        let key = service_key(ctx, cluster, name);
        let Some(mut s) = w.get_json::<crate::records::Service>(&key)? else {
            return Ok(());
        };
        if apply::push_event_once(&mut s, message, same_kind, now) {
            w.put_json(&key, &s)?;
        }
        Ok::<_, ApiError>(())
    })?;
    Ok(())
}

/// Runs the passes that are due.
pub(crate) fn reconcile(ecs: &Ecs) -> R<()> {
    let mut state = ecs.scheduler.lock().unwrap_or_else(|p| p.into_inner());
    let at = now();
    let mut due = BTreeMap::new();
    take_changes(ecs, &mut state, &mut due)?;
    state.take_timers(at, &mut due);
    for (cluster, work) in due {
        if let Err(e) = run_cluster(ecs, &mut state, &cluster, work.clone(), at) {
            // Level-triggered: the same work is tried again a little later.
            tracing::warn!(cluster = %cluster.2, error = %e, "scheduler pass failed");
            state.wake(Some(at + RETRY_AFTER_SECS), &cluster, work);
        }
    }
    Ok(())
}

/// Takes in the changes since the last round (everything after a restart).
fn take_changes(
    ecs: &Ecs,
    state: &mut SchedulerState,
    due: &mut BTreeMap<ClusterRef, Due>,
) -> R<()> {
    let head = ecs.store.revision();
    let changes = match state.last_revision {
        Some(rev) if rev >= head => return Ok(()),
        Some(rev) => ecs.store.changes_since(rev, CHANGES_PER_ROUND)?,
        None => None,
    };
    match changes {
        Some(changes) => {
            // A full round may end inside a revision: that one is read again next time.
            let last = changes.last().map_or(head, |c| c.revision);
            let prev = state.last_revision.unwrap_or_default();
            state.last_revision = Some(match changes.len() {
                CHANGES_PER_ROUND if last > prev + 1 => last - 1,
                CHANGES_PER_ROUND => last,
                _ => head,
            });
            ecs.store.read(|r| {
                for c in &changes {
                    classify(r, c, due)?;
                }
                Ok::<_, ApiError>(())
            })
        }
        None => {
            // First round, or the log no longer reaches back: everything is due.
            state.last_revision = Some(head);
            everything(ecs, due)
        }
    }
}

/// What a changed key makes due.
fn classify(r: &impl Read, c: &Change, due: &mut BTreeMap<ClusterRef, Due>) -> R<()> {
    let mut parts = c.key.splitn(6, '/');
    let (Some("ecs"), Some(account), Some(region), Some(kind), Some(cluster)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Ok(());
    };
    let rest = parts.next().unwrap_or_default();
    let cref = (account.to_string(), region.to_string(), cluster.to_string());
    match kind {
        "service" => {
            let d = due.entry(cref).or_default();
            d.groups.insert(format!("service:{rest}"));
        }
        // A task's targets' health (what a deployment waits for) is the task's group's.
        "task" | "lbhealth" if !c.deleted => {
            let ctx = ctx_of(&cref);
            let group = taskstore::get(r, &ctx, cluster, rest)?.map(|t| t.group);
            let d = due.entry(cref).or_default();
            d.instances = true;
            d.groups.extend(group);
        }
        "instance" | "agentgone" | "cluster" => due.entry(cref).or_default().instances = true,
        _ => {}
    }
    Ok(())
}

/// Every live cluster with every task group and service in it, their task indexes
/// rebuilt first (a store written before they existed).
fn everything(ecs: &Ecs, due: &mut BTreeMap<ClusterRef, Due>) -> R<()> {
    let roots = ecs.store.read(|r| roots(r))?;
    for ctx in roots {
        let clusters: Vec<Cluster> = ecs.store.read(|r| {
            Ok::<_, ApiError>(
                r.scan_json::<Cluster>(&cluster_prefix(&ctx), None, usize::MAX)?
                    .into_iter()
                    .map(|(_, c)| c)
                    .filter(|c| c.status != ClusterStatus::Inactive)
                    .collect(),
            )
        })?;
        for c in clusters {
            let name = c.cluster_name;
            ecs.store.write(|w| taskstore::reindex(w, &ctx, &name))?;
            let groups = ecs.store.read(|r| cluster_groups(r, &ctx, &name))?;
            let cref = (ctx.account.clone(), ctx.region.clone(), name);
            due.insert(
                cref,
                Due {
                    instances: true,
                    groups,
                },
            );
        }
    }
    Ok(())
}

/// The task groups of a cluster and the groups of its services.
fn cluster_groups(r: &impl Read, ctx: &Context, cluster: &str) -> R<BTreeSet<String>> {
    let mut groups = taskstore::groups(r, ctx, cluster)?;
    for (key, _) in r.scan(&service_prefix(ctx, cluster), None, usize::MAX)? {
        let name = key.rsplit('/').next().unwrap_or_default();
        groups.insert(format!("service:{name}"));
    }
    Ok(groups)
}

/// The due work of one cluster: lost agents first, then the groups, a bounded number
/// per transaction, each transaction ending with placement.
fn run_cluster(
    ecs: &Ecs,
    state: &mut SchedulerState,
    cluster: &ClusterRef,
    mut work: Due,
    at: f64,
) -> R<()> {
    let ctx = ctx_of(cluster);
    let name = cluster.2.as_str();
    let live = ecs.store.read(|r| {
        Ok::<_, ApiError>(
            r.get_json::<Cluster>(&cluster_key(&ctx, name))?
                .is_some_and(|c| c.status != ClusterStatus::Inactive),
        )
    })?;
    if !live {
        return Ok(());
    }
    if work.instances {
        let ((lost, wake), _) = ecs
            .store
            .write(|w| apply::lose_tasks_of_gone_agents(w, &ctx, name, at))?;
        work.groups.extend(lost);
        let instances = Due {
            instances: true,
            groups: BTreeSet::new(),
        };
        state.wake(wake, cluster, instances);
    }
    let groups: Vec<String> = work.groups.into_iter().collect();
    if groups.is_empty() && work.instances {
        ecs.store.write(|w| apply::place(w, &ctx, name, at))?;
    }
    for chunk in groups.chunks(GROUPS_PER_TRANSACTION) {
        let (wakes, _) = ecs.store.write(|w| {
            let mut wakes = Vec::new();
            for g in chunk {
                let out = apply::group_pass(w, &ctx, name, g, at)?;
                wakes.push((g.clone(), out.wake_at));
            }
            apply::place(w, &ctx, name, at)?;
            Ok::<_, ApiError>(wakes)
        })?;
        for (g, wake) in wakes {
            let due = Due {
                instances: false,
                groups: BTreeSet::from([g]),
            };
            state.wake(wake, cluster, due);
        }
    }
    Ok(())
}
