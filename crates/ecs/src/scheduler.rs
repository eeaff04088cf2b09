//! The service scheduler and task placement: level-triggered and idempotent.
//!
//! One pass over a cluster, in one transaction, reads its services, tasks and container
//! instances and:
//!
//! 1. keeps `desiredCount` tasks of each ACTIVE service's PRIMARY deployment desired
//!    RUNNING (starting missing ones, stopping surplus ones), stops the tasks of older
//!    deployments once the PRIMARY one runs its full count, completes the deployment
//!    (rolloutState COMPLETED, older deployments dropped) and keeps the counts and the
//!    service `events` as ECS does; a DRAINING service with no task left goes INACTIVE;
//! 2. places unplaced tasks on ACTIVE instances whose agent is connected, spreading
//!    them (fewest tasks first) within each instance's registered CPU and MEMORY
//!    (which FARGATE tasks do not use up);
//! 3. forgets STOPPED tasks an hour after they stopped (as ECS does).
//!
//! What needs a pass is found from the store's change log (any change under a
//! cluster's services, tasks or instances), plus a pass over every known cluster every
//! [`FULL_PASS`] and after a restart, so a restarted server converges from the stored
//! state alone.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_awsproto::{now, uuid_v4, ApiError, Context};
use berth_store::{Read, Writer};
use serde_json::{json, Value};

use crate::common::*;
use crate::{agent, task, Ecs};

/// How often every known cluster gets a pass even without changes.
pub const FULL_PASS: Duration = Duration::from_secs(2);
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

/// (account, region, cluster).
type ClusterRef = (String, String, String);

/// What the scheduler remembers between passes.
#[derive(Debug, Default)]
pub(crate) struct SchedulerState {
    last_revision: Option<u64>,
    last_full: Option<Instant>,
    clusters: BTreeSet<ClusterRef>,
}

pub(crate) type Shared = Mutex<SchedulerState>;

/// The cluster a store key belongs to, for keys under `ecs/<a>/<r>/{cluster,service,task,instance}/`.
fn cluster_of_key(key: &str) -> Option<ClusterRef> {
    let mut parts = key.splitn(6, '/');
    if parts.next()? != "ecs" {
        return None;
    }
    let account = parts.next()?;
    let region = parts.next()?;
    let kind = parts.next()?;
    let cluster = parts.next()?;
    match kind {
        "cluster" | "service" | "task" | "instance" | "agentgone" => {
            Some((account.to_string(), region.to_string(), cluster.to_string()))
        }
        _ => None,
    }
}

/// Runs the passes that are due.
pub(crate) fn reconcile(ecs: &Ecs) -> R<()> {
    let mut state = ecs.scheduler.lock().unwrap_or_else(|p| p.into_inner());
    let head = ecs.store.revision();
    let mut due: BTreeSet<ClusterRef> = BTreeSet::new();
    let changes = match state.last_revision {
        Some(rev) if rev >= head => Some(Vec::new()),
        Some(rev) => ecs.store.changes_since(rev, 100_000)?,
        None => None,
    };
    match changes {
        Some(changes) => {
            for c in changes {
                if let Some(k) = cluster_of_key(&c.key) {
                    due.insert(k);
                }
            }
        }
        None => {
            // First pass (or the log no longer reaches back): every cluster there is.
            let keys: Vec<String> = ecs.store.read(|r| {
                Ok::<_, ApiError>(
                    r.scan("ecs/", None, usize::MAX)?
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect(),
                )
            })?;
            for k in keys {
                if let Some(c) = cluster_of_key(&k) {
                    due.insert(c);
                }
            }
            state.last_full = Some(Instant::now());
        }
    }
    state.last_revision = Some(head);
    state.clusters.extend(due.iter().cloned());
    if state.last_full.is_none_or(|t| t.elapsed() >= FULL_PASS) {
        due.extend(state.clusters.iter().cloned());
        state.last_full = Some(Instant::now());
    }
    let mut gone = Vec::new();
    for c in due {
        let ctx = Context {
            account: c.0.clone(),
            region: c.1.clone(),
        };
        match pass(ecs, &ctx, &c.2) {
            Ok(true) => {}
            Ok(false) => gone.push(c),
            Err(e) => tracing::warn!(cluster = %c.2, error = %e, "scheduler pass failed"),
        }
    }
    for c in gone {
        state.clusters.remove(&c);
    }
    Ok(())
}

/// One pass over a cluster. False when the cluster no longer exists.
fn pass(ecs: &Ecs, ctx: &Context, cluster: &str) -> R<bool> {
    let (exists, _) = ecs.store.write(|w| {
        let Some(cl) = w.get_json::<Value>(&cluster_key(ctx, cluster))? else {
            return Ok(false);
        };
        if cl["status"] == "INACTIVE" {
            return Ok(false);
        }
        let mut tasks: Vec<Value> = w
            .scan_json::<Value>(&task_prefix(ctx, cluster), None, usize::MAX)?
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let before: Vec<Value> = tasks.clone();
        lose_tasks_of_gone_agents(w, ctx, cluster, &mut tasks)?;
        let services: Vec<(String, Value)> =
            w.scan_json::<Value>(&service_prefix(ctx, cluster), None, usize::MAX)?;
        for (key, mut s) in services {
            let orig = s.clone();
            schedule_service(w, ctx, cluster, &mut s, &mut tasks)?;
            if s != orig {
                w.put_json(&key, &s)?;
            }
        }
        place(w, ctx, cluster, &mut tasks)?;
        // Write back what changed, and publish or withdraw endpoints accordingly. The
        // pass only changes tasks in place and appends new ones, so `before[i]` is
        // task `i` as it was read.
        let at = now();
        for (i, t) in tasks.iter().enumerate() {
            let key = task_key(ctx, cluster, task_id(t));
            let old = before.get(i);
            if t["lastStatus"] == "STOPPED"
                && t["stoppedAt"]
                    .as_f64()
                    .is_some_and(|s| at - s > STOPPED_TASK_TTL_SECS)
            {
                w.delete(&key)?;
                continue;
            }
            if old != Some(t) {
                w.put_json(&key, t)?;
                agent::sync_endpoints(w, ctx, cluster, t)?;
            }
        }
        Ok::<_, ApiError>(true)
    })?;
    Ok(exists)
}

/// Tasks on instances whose agent has been away longer than [`AGENT_GRACE_SECS`] are
/// STOPPED (their endpoints go with the write-back), so the scheduler replaces them.
fn lose_tasks_of_gone_agents(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    tasks: &mut [Value],
) -> R<()> {
    let at = now();
    let prefix = format!("{}agentgone/{cluster}/", root(ctx));
    for (key, since) in w.scan_json::<f64>(&prefix, None, usize::MAX)? {
        if at - since < AGENT_GRACE_SECS {
            continue;
        }
        let id = &key[prefix.len()..];
        let Some(inst) = w.get_json::<Value>(&instance_key(ctx, cluster, id))? else {
            continue;
        };
        if inst["agentConnected"] == true {
            continue;
        }
        let arn = &inst["containerInstanceArn"];
        for t in tasks
            .iter_mut()
            .filter(|t| &t["containerInstanceArn"] == arn && t["lastStatus"] != "STOPPED")
        {
            task::mark_stopping(t, "ServiceSchedulerInitiated", AGENT_LOST_REASON);
            task::stop_now(t, at);
        }
    }
    Ok(())
}

fn task_id(t: &Value) -> &str {
    t["taskArn"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

fn push_event(s: &mut Value, message: String) {
    let ev = json!({"id": uuid_v4(), "createdAt": now(), "message": message});
    let events = s["events"].as_array_mut();
    match events {
        Some(list) => {
            list.insert(0, ev);
            list.truncate(MAX_EVENTS);
        }
        None => s["events"] = json!([ev]),
    }
}

fn is_live(t: &Value) -> bool {
    t["desiredStatus"] == "RUNNING" && t["lastStatus"] != "STOPPED"
}

fn is_running(t: &Value) -> bool {
    t["desiredStatus"] == "RUNNING" && t["lastStatus"] == "RUNNING"
}

/// The stoppedReason of a task the scheduler replaces because it turned unhealthy.
pub const UNHEALTHY_REASON: &str = "Task failed container health checks";

/// A task that ran at least this long before it stopped by itself did not fail to
/// start: it neither trips the circuit breaker nor slows launches.
pub const FAILED_START_SECS: f64 = 10.0;

/// True when a STOPPED task failed to start: it stopped by itself (not because it was
/// asked to, nor because its agent went away) before it ever ran or within
/// [`FAILED_START_SECS`] of starting, or it failed its health checks. Such tasks count
/// toward their deployment's `failedTasks`.
fn failed(t: &Value) -> bool {
    if t["lastStatus"] != "STOPPED" {
        return false;
    }
    let reason = t["stoppedReason"].as_str().unwrap_or_default();
    if reason == UNHEALTHY_REASON {
        return true;
    }
    let by_itself = matches!(
        t["stopCode"].as_str(),
        Some("EssentialContainerExited") | Some("TaskFailedToStart")
    ) && !reason.contains("agent");
    let ran = match (t["startedAt"].as_f64(), t["stoppedAt"].as_f64()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    by_itself && ran < FAILED_START_SECS
}

/// The deployment circuit breaker's threshold: half the desired count, at least 3 and
/// at most 200 failed tasks (ECS's rule).
pub fn failure_threshold(desired: usize) -> usize {
    desired.div_ceil(2).clamp(3, 200)
}

/// How long to wait after a deployment's latest failed task before starting another,
/// once it has `failures` of them: none for the first 3, then 1 s doubling to 60 s.
fn launch_backoff(failures: usize) -> f64 {
    if failures < 3 {
        0.0
    } else {
        2f64.powi((failures - 3).min(6) as i32).min(60.0)
    }
}

fn task_list(ids: &[String]) -> String {
    ids.iter()
        .map(|t| format!("(task {t})"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One service: its deployments rolled toward the PRIMARY one within
/// `maximumPercent` / `minimumHealthyPercent` (healthy = published: RUNNING and not
/// unhealthy), unhealthy tasks replaced, the circuit breaker, counts and events.
fn schedule_service(
    w: &mut Writer<'_>,
    ctx: &Context,
    cluster: &str,
    s: &mut Value,
    tasks: &mut Vec<Value>,
) -> R<()> {
    let status = s["status"].as_str().unwrap_or_default().to_string();
    if status != "ACTIVE" && status != "DRAINING" {
        return Ok(());
    }
    if s["schedulingStrategy"] == "DAEMON" {
        return Ok(());
    }
    let name = s["serviceName"].as_str().unwrap_or_default().to_string();
    let group = format!("service:{name}");
    let label = format!("(service {name})");
    let desired = if status == "ACTIVE" {
        s["desiredCount"].as_i64().unwrap_or(0).max(0) as usize
    } else {
        0
    };
    let dc = s["deploymentConfiguration"].clone();
    let max_pct = dc["maximumPercent"].as_i64().unwrap_or(200).max(100) as usize;
    let min_pct = dc["minimumHealthyPercent"]
        .as_i64()
        .unwrap_or(100)
        .clamp(0, 100) as usize;
    let max_total = (desired * max_pct / 100).max(desired);
    let min_healthy = (desired * min_pct).div_ceil(100);
    let breaker = dc["deploymentCircuitBreaker"]["enable"] == true;
    let rollback = dc["deploymentCircuitBreaker"]["rollback"] == true;
    let at = now();
    let mine = |t: &Value| t["group"] == group.as_str();

    // Unhealthy tasks are replaced.
    let mut replaced = Vec::new();
    for t in tasks.iter_mut().filter(|t| mine(t) && is_live(t)) {
        if t["healthStatus"] == "UNHEALTHY"
            && task::mark_stopping(t, "ServiceSchedulerInitiated", UNHEALTHY_REASON)
        {
            replaced.push(task_id(t).to_string());
        }
    }
    if !replaced.is_empty() {
        push_event(
            s,
            format!(
                "{label} has stopped {} running tasks: {}.",
                replaced.len(),
                task_list(&replaced)
            ),
        );
        push_event(
            s,
            format!(
                "{label} tasks {} failed container health checks.",
                task_list(&replaced)
            ),
        );
    }

    let Some(mut primary_idx) = s["deployments"]
        .as_array()
        .and_then(|ds| ds.iter().position(|d| d["status"] == "PRIMARY"))
    else {
        return Ok(());
    };

    // The circuit breaker.
    let primary_id = s["deployments"][primary_idx]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let failures: Vec<&Value> = tasks
        .iter()
        .filter(|t| mine(t) && t["startedBy"] == primary_id.as_str() && failed(t))
        .collect();
    let failure_count = failures.len();
    let last_failure = failures
        .iter()
        .filter_map(|t| t["stoppedAt"].as_f64())
        .fold(0.0, f64::max);
    if s["deployments"][primary_idx]["failedTasks"] != failure_count {
        s["deployments"][primary_idx]["failedTasks"] = json!(failure_count);
    }
    if breaker
        && status == "ACTIVE"
        && s["deployments"][primary_idx]["rolloutState"] == "IN_PROGRESS"
        && failure_count >= failure_threshold(desired)
    {
        let d = &mut s["deployments"][primary_idx];
        d["rolloutState"] = json!("FAILED");
        d["rolloutStateReason"] = json!(format!(
            "ECS deployment circuit breaker: tasks failed to start."
        ));
        d["updatedAt"] = json!(at);
        push_event(
            s,
            format!("{label} (deployment {primary_id}) deployment failed: tasks failed to start."),
        );
        let previous = s["deployments"]
            .as_array()
            .and_then(|ds| ds.iter().position(|d| d["status"] == "ACTIVE"));
        if let (true, Some(prev)) = (rollback, previous) {
            // Roll back: the last deployment becomes PRIMARY again (with its task
            // definition and Service Connect configuration); the failed one drains.
            let prev_id = s["deployments"][prev]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            s["deployments"][primary_idx]["status"] = json!("ACTIVE");
            let p = &mut s["deployments"][prev];
            p["status"] = json!("PRIMARY");
            p["rolloutState"] = json!("IN_PROGRESS");
            p["rolloutStateReason"] = json!(format!(
                "ECS deployment circuit breaker: rolling back to deploymentId {prev_id}."
            ));
            p["updatedAt"] = json!(at);
            s["taskDefinition"] = s["deployments"][prev]["taskDefinition"].clone();
            push_event(s, format!("{label} (deployment {primary_id}) deployment failed: rolling back to deployment {prev_id}."));
            // The PRIMARY deployment is listed first, as ECS lists them.
            if let Some(ds) = s["deployments"].as_array_mut() {
                let d = ds.remove(prev);
                ds.insert(0, d);
            }
            primary_idx = 0;
        }
    }
    let primary = s["deployments"][primary_idx].clone();
    let primary_id = primary["id"].as_str().unwrap_or_default().to_string();
    let primary_failed = primary["rolloutState"] == "FAILED";

    let count = |tasks: &[Value], f: &dyn Fn(&Value) -> bool| {
        tasks.iter().filter(|t| mine(t) && f(t)).count()
    };
    let is_new = |t: &Value| t["startedBy"] == primary_id.as_str();
    let serving = |t: &Value| agent::serving(t);

    // 1. Start PRIMARY tasks, within maximumPercent, unless it failed or backs off.
    let live_new = count(tasks, &|t| is_new(t) && is_live(t));
    let live_all = count(tasks, &|t| is_live(t));
    let backing_off = at - last_failure < launch_backoff(failure_count);
    if live_new < desired && !primary_failed && !backing_off {
        let room = max_total.saturating_sub(live_all);
        let n = (desired - live_new).min(room);
        let mut started = Vec::new();
        for _ in 0..n {
            let t = task::new_service_task(w, ctx, cluster, &name, &primary)?;
            started.push(task_id(&t).to_string());
            tasks.push(t);
        }
        if !started.is_empty() {
            push_event(
                s,
                format!(
                    "{label} has started {} tasks: {}.",
                    started.len(),
                    task_list(&started)
                ),
            );
        }
    }

    // 2. Stop what is not needed, never going below minimumHealthyPercent healthy
    //    tasks: tasks that do not serve go first (they cost no capacity), then older
    //    deployments' tasks, then the PRIMARY's surplus, newest first.
    let mut healthy = count(tasks, &|t| is_live(t) && serving(t));
    let mut order: Vec<usize> = (0..tasks.len())
        .filter(|&i| mine(&tasks[i]) && is_live(&tasks[i]))
        .collect();
    // Newest first among equals.
    order.sort_by(|&a, &b| {
        let rank = |t: &Value| (serving(t), is_new(t));
        rank(&tasks[a]).cmp(&rank(&tasks[b])).then_with(|| {
            tasks[b]["createdAt"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&tasks[a]["createdAt"].as_f64().unwrap_or(0.0))
        })
    });
    // The PRIMARY tasks to keep: serving ones first, then the oldest.
    let mut new_ranked: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| is_new(&tasks[i]))
        .collect();
    new_ranked.sort_by(|&a, &b| {
        serving(&tasks[b]).cmp(&serving(&tasks[a])).then_with(|| {
            tasks[a]["createdAt"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&tasks[b]["createdAt"].as_f64().unwrap_or(0.0))
        })
    });
    let kept_new: Vec<usize> = new_ranked.iter().copied().take(desired).collect();
    let mut stopped = Vec::new();
    for i in order {
        if kept_new.contains(&i) {
            continue;
        }
        // A serving task goes only while enough others serve.
        if serving(&tasks[i]) && healthy <= min_healthy {
            continue;
        }
        let reason = format!("Scaling activity initiated by (deployment {primary_id})");
        let was_serving = serving(&tasks[i]);
        if task::mark_stopping(&mut tasks[i], "ServiceSchedulerInitiated", &reason) {
            if was_serving {
                healthy -= 1;
            }
            stopped.push(task_id(&tasks[i]).to_string());
        }
    }
    if !stopped.is_empty() {
        push_event(
            s,
            format!(
                "{label} has stopped {} running tasks: {}.",
                stopped.len(),
                task_list(&stopped)
            ),
        );
    }

    // 3. Counts, per deployment and for the service.
    let mut total_running = 0;
    let mut total_pending = 0;
    if let Some(ds) = s["deployments"].as_array_mut() {
        for d in ds.iter_mut() {
            let id = d["id"].as_str().unwrap_or_default().to_string();
            let (mut running, mut pending) = (0, 0);
            for t in tasks
                .iter()
                .filter(|t| mine(t) && t["startedBy"] == id.as_str())
            {
                if is_running(t) {
                    running += 1;
                } else if is_live(t) {
                    pending += 1;
                }
            }
            total_running += running;
            total_pending += pending;
            let dd = if d["status"] == "PRIMARY" { desired } else { 0 };
            if d["runningCount"] != running
                || d["pendingCount"] != pending
                || d["desiredCount"] != dd
            {
                d["runningCount"] = json!(running);
                d["pendingCount"] = json!(pending);
                d["desiredCount"] = json!(dd);
                d["updatedAt"] = json!(at);
            }
        }
    }
    if s["runningCount"] != total_running || s["pendingCount"] != total_pending {
        s["runningCount"] = json!(total_running);
        s["pendingCount"] = json!(total_pending);
    }

    // 4. Steady state: the PRIMARY deployment serves its full count and nothing else
    //    is left.
    let primary_serving = count(tasks, &|t| is_new(t) && is_live(t) && serving(t));
    let others_left = tasks
        .iter()
        .any(|t| mine(t) && !is_new(t) && t["lastStatus"] != "STOPPED");
    let steady = primary_serving == desired && total_pending == 0 && !others_left;
    if steady && status == "ACTIVE" {
        if let Some(ds) = s["deployments"].as_array_mut() {
            let had_others = ds.len() > 1;
            ds.retain(|d| d["status"] == "PRIMARY");
            let d = &mut ds[0];
            if d["rolloutState"] == "IN_PROGRESS" {
                d["rolloutState"] = json!("COMPLETED");
                d["rolloutStateReason"] = json!(format!("ECS deployment {primary_id} completed."));
                d["updatedAt"] = json!(at);
                push_event(
                    s,
                    format!("{label} (deployment {primary_id}) deployment completed."),
                );
                push_event(s, format!("{label} has reached a steady state."));
            } else if had_others {
                push_event(s, format!("{label} has reached a steady state."));
            }
        }
    }
    if status == "DRAINING"
        && !tasks
            .iter()
            .any(|t| mine(t) && t["lastStatus"] != "STOPPED")
    {
        s["status"] = json!("INACTIVE");
    }
    Ok(())
}

/// A resource of an instance's `registeredResources`.
fn resource(inst: &Value, name: &str) -> i64 {
    inst["registeredResources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == name)
        .and_then(|r| {
            r["integerValue"]
                .as_i64()
                .or_else(|| r["longValue"].as_i64())
        })
        .unwrap_or(0)
}

/// A task's CPU units and MiB (the task-level values, else the containers' sum) that
/// count against its instance. FARGATE tasks count nothing: on AWS their capacity is
/// not any container instance's, and on berth they share the host as they come.
fn demand(t: &Value) -> (i64, i64) {
    if t["launchType"] == "FARGATE" {
        return (0, 0);
    }
    let num = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .or_else(|| v.as_i64())
    };
    (num(&t["cpu"]).unwrap_or(0), num(&t["memory"]).unwrap_or(0))
}

fn place(w: &mut Writer<'_>, ctx: &Context, cluster: &str, tasks: &mut [Value]) -> R<()> {
    let unplaced: Vec<usize> = (0..tasks.len())
        .filter(|&i| {
            let t = &tasks[i];
            t["desiredStatus"] == "RUNNING"
                && t.get("containerInstanceArn").is_none()
                && matches!(
                    t["lastStatus"].as_str(),
                    Some("PROVISIONING") | Some("PENDING")
                )
        })
        .collect();
    if unplaced.is_empty() {
        return Ok(());
    }
    let instances: Vec<Value> = w
        .scan_json::<Value>(&instance_prefix(ctx, cluster), None, usize::MAX)?
        .into_iter()
        .map(|(_, i)| i)
        .filter(|i| i["status"] == "ACTIVE" && i["agentConnected"] == true)
        .collect();
    if instances.is_empty() {
        return Ok(());
    }
    // Per instance: (live tasks, cpu used, memory used).
    let mut load: Vec<(usize, i64, i64)> = instances
        .iter()
        .map(|inst| {
            let arn = &inst["containerInstanceArn"];
            tasks
                .iter()
                .filter(|t| &t["containerInstanceArn"] == arn && t["lastStatus"] != "STOPPED")
                .fold((0, 0, 0), |acc, t| {
                    let (c, m) = demand(t);
                    (acc.0 + 1, acc.1 + c, acc.2 + m)
                })
        })
        .collect();
    for i in unplaced {
        let (cpu, mem) = demand(&tasks[i]);
        let best = (0..instances.len())
            .filter(|&k| {
                let (_, c, m) = load[k];
                let (tc, tm) = (
                    resource(&instances[k], "CPU"),
                    resource(&instances[k], "MEMORY"),
                );
                (tc == 0 || c + cpu <= tc) && (tm == 0 || m + mem <= tm)
            })
            .min_by_key(|&k| load[k].0);
        let Some(k) = best else {
            continue;
        };
        load[k].0 += 1;
        load[k].1 += cpu;
        load[k].2 += mem;
        tasks[i]["containerInstanceArn"] = instances[k]["containerInstanceArn"].clone();
        tasks[i]["version"] = json!(tasks[i]["version"].as_i64().unwrap_or(1) + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tasks_on_instances_use_up_their_resources() {
        let ec2 = json!({"launchType": "EC2", "cpu": "512", "memory": "1024"});
        assert_eq!(demand(&ec2), (512, 1024));
        let fargate = json!({"launchType": "FARGATE", "cpu": "1024", "memory": "2048"});
        assert_eq!(demand(&fargate), (0, 0));
    }

    #[test]
    fn the_circuit_breaker_threshold_is_ecs_s() {
        assert_eq!(failure_threshold(0), 3);
        assert_eq!(failure_threshold(1), 3);
        assert_eq!(failure_threshold(6), 3);
        assert_eq!(failure_threshold(7), 4);
        assert_eq!(failure_threshold(100), 50);
        assert_eq!(failure_threshold(1000), 200);
    }

    #[test]
    fn launches_back_off_after_three_failures() {
        assert_eq!(launch_backoff(0), 0.0);
        assert_eq!(launch_backoff(2), 0.0);
        assert_eq!(launch_backoff(3), 1.0);
        assert_eq!(launch_backoff(5), 4.0);
        assert_eq!(launch_backoff(50), 60.0);
    }

    #[test]
    fn only_tasks_that_fail_to_start_count_as_failed() {
        let t = |code: &str, reason: &str, started: Option<f64>, stopped: f64| {
            let mut v = json!({"lastStatus": "STOPPED", "stopCode": code, "stoppedReason": reason,
                               "stoppedAt": stopped});
            if let Some(s) = started {
                v["startedAt"] = json!(s);
            }
            v
        };
        // Crashed at once, or never started.
        assert!(failed(&t(
            "EssentialContainerExited",
            "Essential container in task exited",
            Some(100.0),
            101.0
        )));
        assert!(failed(&t(
            "TaskFailedToStart",
            "CannotPullContainerError: x",
            None,
            101.0
        )));
        // Ran a while, then died: not a failure to start.
        assert!(!failed(&t(
            "EssentialContainerExited",
            "Essential container in task exited",
            Some(100.0),
            200.0
        )));
        // Asked to stop, or lost with its agent.
        assert!(!failed(&t(
            "UserInitiated",
            "Task stopped by user",
            Some(100.0),
            101.0
        )));
        assert!(!failed(&t(
            "TaskFailedToStart",
            "Task stopped: the berth agent that ran it restarted",
            None,
            1.0
        )));
        // Failed its health checks.
        assert!(failed(&t(
            "ServiceSchedulerInitiated",
            UNHEALTHY_REASON,
            Some(100.0),
            500.0
        )));
        // Not stopped yet.
        assert!(!failed(
            &json!({"lastStatus": "RUNNING", "stopCode": "EssentialContainerExited"})
        ));
    }

    #[test]
    fn keys_name_their_cluster() {
        assert_eq!(
            cluster_of_key("ecs/123456789012/us-west-2/task/tutorial/abc"),
            Some(("123456789012".into(), "us-west-2".into(), "tutorial".into()))
        );
        assert_eq!(
            cluster_of_key("ecs/1/r/cluster/c"),
            Some(("1".into(), "r".into(), "c".into()))
        );
        assert_eq!(cluster_of_key("ecs/1/r/taskdef/f/0000000001"), None);
        assert_eq!(cluster_of_key("sd/1/r/ns/x"), None);
    }
}
