//! Runs each Application Load Balancer's data plane: one `berth proxy` process per load
//! balancer (every account and region), fed its configuration as newline-delimited
//! snapshots on stdin, its health report read from stdout and filed as the targets'
//! health in ELB's records.
//!
//! A pass (when a store change touches ELB's or EC2's records, when a draining
//! target's delay ends, when a process exits, and each second while a load balancer
//! is not yet active) reads every load balancer's plan (`berth_elbv2`), translates it
//! ([`translate`]) and compares it with what its process runs: a new load balancer gets
//! a process, a changed one a new snapshot, a deleted one's process is stopped. A load
//! balancer is `active` once its process listens on its ports (`failed`, with the
//! reason, when the process exits; it is started again 5 s later). Health changes are
//! written with `set_target_health_in`, and passed to a hook (ECS replaces the tasks
//! whose targets turn unhealthy). The host addresses its traffic to targets comes
//! from ([`sources`]) are filed as the load balancer's interfaces, in its security
//! groups, before its process is told of new targets.
//!
//! Given CloudWatch's metric store, the runner also tells a collector ([`metrics`]) of
//! the processes running, each numbered by its start; the collector files what each
//! did in `AWS/ApplicationELB` every 10 s.

pub mod metrics;
pub mod sources;
pub mod translate;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use berth_awsproto::{ApiError, Context};
use berth_cloudwatch::MetricStore;
use berth_elbv2::model::{
    LoadBalancerStateCode, TargetHealth, TargetHealthReason, TargetHealthState,
};
use berth_elbv2::{LoadBalancerPlan, LoadBalancerRef, Target};
use berth_proxy_config::alb::{
    LoadBalancer, LoadBalancerSnapshot, TargetHealthChange, TargetReason, TargetState,
};
use berth_store::{Store, Writer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::metrics::DataPlane;

/// How a load balancer's process is started.
#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// The program (`berth`) and the arguments before the proxy's own (`proxy`).
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Where each load balancer's admin socket, access log and process log go.
    pub dir: PathBuf,
    /// Worker threads per load balancer.
    pub workers: u16,
}

/// Called in the transaction that files a target's new health: the target group's
/// ARN, the target, its health.
pub type HealthHook = Arc<
    dyn Fn(&mut Writer<'_>, &Context, &str, &Target, &TargetHealth) -> Result<(), ApiError>
        + Send
        + Sync,
>;

/// How long a failed process waits before it is started again.
const RESTART_AFTER: Duration = Duration::from_secs(5);
/// How often a pass runs without a store change.
const TICK: Duration = Duration::from_secs(1);

/// Starts the load balancers' runner, and with `metrics` their metrics' collector;
/// the runner stops their processes on shutdown.
pub fn spawn(
    store: Arc<Store>,
    config: DataPlaneConfig,
    hook: Option<HealthHook>,
    metrics: Option<Arc<MetricStore>>,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (planes, running) = watch::channel(Vec::new());
    if let Some(m) = metrics {
        let every = metrics::SCRAPE_EVERY;
        tokio::spawn(metrics::collect(running, m, every, shutdown.clone()));
    }
    tokio::spawn(run(store, config, hook, planes, shutdown))
}

async fn run(
    store: Arc<Store>,
    config: DataPlaneConfig,
    hook: Option<HealthHook>,
    planes: watch::Sender<Vec<DataPlane>>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = std::fs::create_dir_all(&config.dir) {
        warn!(dir = %config.dir.display(), error = %e, "load balancers cannot run");
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut runner = Runner {
        store: store.clone(),
        config,
        health: tx,
        running: HashMap::new(),
        claims: BTreeMap::new(),
        sources: HashMap::new(),
        unsettled: true,
        next_drain_end: None,
        starts: 0,
        planes,
    };
    let mut revisions = store.subscribe();
    let mut seen = store.revision();
    let mut changed = true;
    loop {
        let now = berth_awsproto::now();
        if pass_due(changed, now, runner.unsettled, runner.next_drain_end) || runner.any_exited() {
            runner.pass().await;
            runner.publish();
            changed = false;
        }
        tokio::select! {
            _ = revisions.changed() => changed |= concerning_changes(&store, &mut seen),
            _ = tokio::time::sleep(TICK) => {}
            Some(first) = rx.recv() => {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                file_health(&store, hook.as_ref(), batch);
            }
            _ = shutdown.changed() => break,
        }
    }
    for (_, mut p) in runner.running.drain() {
        let _ = p.child.kill().await;
    }
}

/// A load balancer's process and what it was last given.
struct Process {
    child: Child,
    stdin: ChildStdin,
    version: u64,
    body: Option<LoadBalancer>,
    /// When it exited, if it did (it is started again after [`RESTART_AFTER`]).
    exited_at: Option<tokio::time::Instant>,
    /// What the metrics' collector knows of it.
    plane: DataPlane,
}

struct Runner {
    store: Arc<Store>,
    config: DataPlaneConfig,
    health: mpsc::UnboundedSender<(Context, TargetHealthChange)>,
    running: HashMap<String, Process>,
    claims: BTreeMap<u16, String>,
    /// Each load balancer's source addresses, as last filed.
    sources: HashMap<String, BTreeSet<Ipv4Addr>>,
    /// After the last pass: a load balancer not active yet, or a process that exited
    /// and waits to start again (each tick runs a pass until none is).
    unsettled: bool,
    /// After the last pass: when the first draining target's delay ends.
    next_drain_end: Option<f64>,
    /// How many processes were started.
    starts: u64,
    /// The processes running, for the metrics' collector.
    planes: watch::Sender<Vec<DataPlane>>,
}

impl Runner {
    /// One pass: every load balancer's process in step with its plan.
    async fn pass(&mut self) {
        let now = berth_awsproto::now();
        let plans = match read_plans(&self.store, now) {
            Ok(p) => p,
            Err(e) => return warn!(error = %e, "reading the load balancers failed"),
        };
        let wanted: Vec<_> = (plans.iter())
            .map(|(_, p)| (p.load_balancer_arn.clone(), translate::ports(p)))
            .collect();
        self.claims = translate::loopback_claims(&self.claims, &wanted);
        for (lb, plan) in &plans {
            self.keep(lb, plan).await;
        }
        self.next_drain_end = (plans.iter())
            .flat_map(|(_, p)| p.target_groups.iter().flat_map(|g| g.targets.iter()))
            .filter_map(|t| t.drain_until)
            .min_by(f64::total_cmp);
        self.unsettled = (plans.iter()).any(|(_, p)| p.state != LoadBalancerStateCode::Active)
            || self.running.values().any(|p| p.exited_at.is_some());
        let gone: Vec<String> = (self.running.keys())
            .filter(|arn| !plans.iter().any(|(lb, _)| &lb.load_balancer_arn == *arn))
            .cloned()
            .collect();
        for arn in gone {
            self.sources.remove(&arn);
            if let Some(mut p) = self.running.remove(&arn) {
                info!(load_balancer = %arn, "load balancer deleted: its data plane stops");
                let _ = p.child.kill().await;
            }
        }
    }

    /// Whether a running process has exited since the last pass.
    fn any_exited(&mut self) -> bool {
        (self.running.values_mut())
            .any(|p| p.exited_at.is_none() && matches!(p.child.try_wait(), Ok(Some(_))))
    }

    /// One load balancer's process running its plan, and its state told.
    async fn keep(&mut self, lb: &LoadBalancerRef, plan: &LoadBalancerPlan) {
        let arn = &plan.load_balancer_arn;
        self.reap(lb, arn);
        if !self.running.contains_key(arn) {
            match self.start(lb) {
                Ok(p) => {
                    self.running.insert(arn.clone(), p);
                }
                Err(e) => return self.set_state(lb, LoadBalancerStateCode::Failed, Some(e)),
            }
        }
        let loopback = (self.claims.iter())
            .filter(|(_, a)| *a == arn)
            .map(|(p, _)| *p)
            .collect();
        self.file_sources(lb, plan);
        let log = self.config.dir.join(format!("{}.access.log", id_of(arn)));
        let body = translate::load_balancer(plan, &loopback, Some(log));
        let Some(p) = self.running.get_mut(arn) else {
            return;
        };
        if p.exited_at.is_some() {
            return;
        }
        if p.body.as_ref() != Some(&body) {
            p.version += 1;
            let line = snapshot_line(p.version, &body);
            if let Err(e) = p.stdin.write_all(line.as_bytes()).await {
                warn!(load_balancer = %arn, error = %e, "the data plane took no snapshot");
                return;
            }
            p.body = Some(body);
        }
        if plan.state != LoadBalancerStateCode::Active && listening(plan).await {
            self.set_state(lb, LoadBalancerStateCode::Active, None);
        }
    }

    /// Notes a process that exited (the load balancer `failed`), and forgets it once it
    /// may be started again.
    fn reap(&mut self, lb: &LoadBalancerRef, arn: &str) {
        let Some(p) = self.running.get_mut(arn) else {
            return;
        };
        if let Some(at) = p.exited_at {
            if at.elapsed() >= RESTART_AFTER {
                self.running.remove(arn);
            }
            return;
        }
        if let Ok(Some(status)) = p.child.try_wait() {
            p.exited_at = Some(tokio::time::Instant::now());
            let log = self.config.dir.join(format!("{}.log", id_of(arn)));
            let reason = format!(
                "the load balancer's data plane exited ({status}); see {}",
                log.display()
            );
            warn!(load_balancer = %arn, %reason);
            self.set_state(lb, LoadBalancerStateCode::Failed, Some(reason));
        }
    }

    /// Tells the metrics' collector of the processes running now (when that changed).
    fn publish(&self) {
        let mut now: Vec<DataPlane> = (self.running.values())
            .filter(|p| p.exited_at.is_none())
            .map(|p| p.plane.clone())
            .collect();
        now.sort_by(|a, b| a.arn.cmp(&b.arn));
        self.planes.send_if_modified(|planes| {
            let changed = *planes != now;
            if changed {
                *planes = now;
            }
            changed
        });
    }

    /// Starts a load balancer's process; its health report is read on a task of its own.
    fn start(&mut self, lb: &LoadBalancerRef) -> Result<Process, String> {
        let id = id_of(&lb.load_balancer_arn);
        let dir = &self.config.dir;
        let socket = dir.join(format!("{id}.sock"));
        let log = std::fs::File::create(dir.join(format!("{id}.log")))
            .map_err(|e| format!("the data plane's log: {e}"))?;
        let mut child = Command::new(&self.config.program)
            .args(&self.config.args)
            .arg("--snapshots-stdin")
            .arg("--exit-with-stdin")
            .arg("--admin")
            .arg(format!("unix:{}", socket.display()))
            .arg("--workers")
            .arg(self.config.workers.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("the data plane did not start: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        tokio::spawn(read_health(stdout, lb.context(), self.health.clone()));
        info!(load_balancer = %lb.load_balancer_arn, address = %lb.address, "data plane started");
        self.starts += 1;
        Ok(Process {
            child,
            stdin,
            version: 0,
            body: None,
            exited_at: None,
            plane: DataPlane {
                arn: lb.load_balancer_arn.clone(),
                ctx: lb.context(),
                socket,
                start: self.starts,
            },
        })
    }

    /// Files where the load balancer's traffic to its targets comes from, when that
    /// changed, before its process is told of new targets.
    fn file_sources(&mut self, lb: &LoadBalancerRef, plan: &LoadBalancerPlan) {
        let arn = &plan.load_balancer_arn;
        let now = sources::sources(plan);
        if self.sources.get(arn) == Some(&now) {
            return;
        }
        let ctx = lb.context();
        let done =
            (self.store).write(|w| berth_elbv2::set_load_balancer_sources_in(w, &ctx, arn, &now));
        match done {
            Ok(_) => {
                self.sources.insert(arn.clone(), now);
            }
            Err(e) => warn!(load_balancer = %arn, error = %e, "its interfaces were not filed"),
        }
    }

    fn set_state(&self, lb: &LoadBalancerRef, code: LoadBalancerStateCode, reason: Option<String>) {
        let ctx = lb.context();
        let arn = &lb.load_balancer_arn;
        let done = self
            .store
            .write(|w| berth_elbv2::set_load_balancer_state_in(w, &ctx, arn, code, reason.clone()));
        if let Err(e) = done {
            warn!(load_balancer = %arn, error = %e, "the load balancer's state was not written");
        }
    }
}

/// Whether a pass is due: the store changed what plans are made of, a load balancer
/// is not settled yet, or a draining target's delay has ended.
fn pass_due(changed: bool, now: f64, unsettled: bool, next_drain_end: Option<f64>) -> bool {
    changed || unsettled || next_drain_end.is_some_and(|t| now >= t)
}

/// What load balancers' plans are made of: ELB's records, and EC2's (groups' rules and
/// members, instances).
fn concerns_load_balancers(key: &str) -> bool {
    key.starts_with("elbv2/") || key.starts_with("ec2/")
}

/// The most changes read after one revision; more, and the plans are read again.
const CHANGES_READ: usize = 10_000;

/// Whether the store's changes since `seen` concern load balancers (moving `seen` on).
/// When the change log no longer reaches back, or holds too many, they may.
fn concerning_changes(store: &Store, seen: &mut u64) -> bool {
    let now = store.revision();
    let changes = store.changes_since(*seen, CHANGES_READ);
    *seen = now;
    match changes {
        Ok(Some(c)) if c.len() < CHANGES_READ => c
            .iter()
            .any(|c| c.revision <= now && concerns_load_balancers(&c.key)),
        _ => true,
    }
}

/// Every load balancer and its plan, in the store's order.
fn read_plans(
    store: &Store,
    now: f64,
) -> Result<Vec<(LoadBalancerRef, LoadBalancerPlan)>, ApiError> {
    store.read(|r| {
        let mut out = Vec::new();
        for lb in berth_elbv2::all_load_balancers(r)? {
            let plan =
                berth_elbv2::load_balancer_plan_in(r, &lb.context(), &lb.load_balancer_arn, now)?;
            out.push((lb, plan));
        }
        Ok::<_, ApiError>(out)
    })
}

/// The last part of a load balancer's ARN (its id).
fn id_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn snapshot_line(version: u64, body: &LoadBalancer) -> String {
    let snapshot = LoadBalancerSnapshot {
        version,
        load_balancer: body.clone(),
    };
    let mut line = serde_json::to_string(&snapshot).expect("a snapshot always serializes");
    line.push('\n');
    line
}

/// Whether the load balancer's first listener accepts connections (no listener: yes).
async fn listening(plan: &LoadBalancerPlan) -> bool {
    let Some(l) = plan.listeners.first() else {
        return true;
    };
    let at = SocketAddr::from((plan.address, l.port));
    let connect = tokio::net::TcpStream::connect(at);
    matches!(
        tokio::time::timeout(Duration::from_millis(200), connect).await,
        Ok(Ok(_))
    )
}

/// Reads a process's health report (one [`TargetHealthChange`] per line; the first
/// line says where its admin endpoint is) and hands the changes on.
async fn read_health(
    stdout: tokio::process::ChildStdout,
    ctx: Context,
    tx: mpsc::UnboundedSender<(Context, TargetHealthChange)>,
) {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(change) = serde_json::from_str::<TargetHealthChange>(&line) {
            if tx.send((ctx.clone(), change)).is_err() {
                return;
            }
        }
    }
}

/// ELB's record of a health the data plane measured; None for what ELB's records
/// decide themselves (draining).
pub fn health_of(change: &TargetHealthChange) -> Option<TargetHealth> {
    let t = &change.target;
    let state = match t.state {
        TargetState::Initial => TargetHealthState::Initial,
        TargetState::Healthy => TargetHealthState::Healthy,
        TargetState::Unhealthy => TargetHealthState::Unhealthy,
        TargetState::Unavailable => TargetHealthState::Unavailable,
        TargetState::Draining => return None,
    };
    let reason = t.reason.map(|r| match r {
        TargetReason::RegistrationInProgress => TargetHealthReason::RegistrationInProgress,
        TargetReason::InitialHealthChecking => TargetHealthReason::InitialHealthChecking,
        TargetReason::ResponseCodeMismatch => TargetHealthReason::ResponseCodeMismatch,
        TargetReason::Timeout => TargetHealthReason::Timeout,
        TargetReason::FailedHealthChecks => TargetHealthReason::FailedHealthChecks,
        TargetReason::DeregistrationInProgress => TargetHealthReason::DeregistrationInProgress,
        TargetReason::HealthCheckDisabled => TargetHealthReason::HealthCheckDisabled,
    });
    Some(TargetHealth {
        state,
        reason,
        description: t.description.clone(),
    })
}

/// Files a batch of health changes in one transaction.
fn file_health(
    store: &Store,
    hook: Option<&HealthHook>,
    batch: Vec<(Context, TargetHealthChange)>,
) {
    let now = berth_awsproto::now();
    let done = store.write(|w| {
        for (ctx, change) in &batch {
            let Some(health) = health_of(change) else {
                continue;
            };
            let target = Target {
                id: change.target.id.clone(),
                port: change.target.port,
            };
            let tg = &change.target_group_arn;
            if berth_elbv2::set_target_health_in(w, ctx, tg, &target, health.clone(), now)? {
                if let Some(hook) = hook {
                    hook(w, ctx, tg, &target, &health)?;
                }
            }
        }
        Ok::<_, ApiError>(())
    });
    if let Err(e) = done {
        warn!(error = %e, "target health was not filed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_runs_for_what_changes_plans() {
        // (changed, now, unsettled, next drain end) -> due
        let cases = [
            (false, 100.0, false, None, false),
            (true, 100.0, false, None, true),
            (false, 100.0, true, None, true),
            (false, 100.0, false, Some(100.5), false),
            (false, 100.0, false, Some(100.0), true),
            (false, 100.0, false, Some(99.0), true),
        ];
        for (changed, now, unsettled, drain, due) in cases {
            assert_eq!(
                pass_due(changed, now, unsettled, drain),
                due,
                "{changed} {now} {unsettled} {drain:?}"
            );
        }
        assert!(concerns_load_balancers(
            "elbv2/123456789012/us-east-1/lb/0a"
        ));
        assert!(concerns_load_balancers(
            "ec2/123456789012/us-east-1/member/sg-1/eni-1"
        ));
        assert!(!concerns_load_balancers(
            "ecs/123456789012/us-east-1/task/c/t"
        ));
        assert!(!concerns_load_balancers(
            "cloudmap/123456789012/us-east-1/instance/x"
        ));
    }

    #[test]
    fn only_changes_to_elb_and_ec2_records_concern_the_runner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut seen = store.revision();
        let put = |key: &str| {
            store
                .write(|w| w.put(key, b"1").map_err(ApiError::from))
                .unwrap();
        };
        put("ecs/1/r/task/c/t");
        assert!(!concerning_changes(&store, &mut seen));
        assert_eq!(seen, store.revision());
        put("ecs/1/r/task/c/u");
        put("elbv2/1/r/lb/x");
        assert!(concerning_changes(&store, &mut seen));
        assert!(!concerning_changes(&store, &mut seen));
    }
}
