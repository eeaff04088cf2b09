//! [`ProcessRuntime`]: every container of a task is a process (tree) inside the task's
//! namespaces, started with [`TaskNetwork::command`].

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_tasknet::TaskNetwork;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::image::{combine_argv, ImageMap};
use crate::secrets::SecretStore;
use crate::spec::{validate_task, Condition, ContainerSpec, HealthCheck};
use crate::state::{ContainerState, ContainerStatus, HealthStatus, TaskState, TaskStatus};
use crate::user::{resolve_user, ResolvedUser};
use crate::{RunningTask, Runtime};

/// `PATH` of a container whose image map entry and definition set none (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The task's stoppedReason when an essential container exits.
pub const ESSENTIAL_EXITED: &str = "Essential container in task exited";

/// How a task's containers are run.
#[derive(Clone, Debug)]
pub struct TaskRuntimeConfig {
    /// Directory of the task's logs: container `c` writes stdout and stderr, raw (no
    /// prefix, as the process wrote them), to `<log_dir>/c.log`, appending. Created
    /// if missing. The agent gives each task its own directory.
    pub log_dir: PathBuf,
    pub image_map: Arc<ImageMap>,
    pub secrets: Arc<SecretStore>,
    /// Variables every container gets, after the image's and before its own (e.g.
    /// `ECS_CONTAINER_METADATA_URI_V4`).
    pub extra_env: Vec<(String, String)>,
}

/// Runs containers as processes. Stateless: everything of a task is in its
/// [`TaskHandle`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessRuntime;

impl Runtime for ProcessRuntime {
    type Task = TaskHandle;

    async fn start_task(
        &self,
        net: Arc<TaskNetwork>,
        specs: Vec<ContainerSpec>,
        config: &TaskRuntimeConfig,
    ) -> Result<TaskHandle> {
        ProcessRuntime::start(net, specs, config)
    }
}

impl ProcessRuntime {
    /// Checks the task, resolves every container's image, secrets and user (any failure
    /// is returned, nothing has run), then starts the containers in the background in
    /// `dependsOn` order. Must be called inside a tokio runtime.
    pub fn start(
        net: Arc<TaskNetwork>,
        specs: Vec<ContainerSpec>,
        config: &TaskRuntimeConfig,
    ) -> Result<TaskHandle> {
        let order = validate_task(&specs)?;
        let prepared = specs
            .iter()
            .map(|s| prepare(s, config, net.hostname()))
            .collect::<Result<Vec<_>>>()?;
        std::fs::create_dir_all(&config.log_dir)
            .map_err(|e| Error::io(format!("create {}", config.log_dir.display()), e))?;
        let state = TaskState {
            status: TaskStatus::Pending,
            containers: specs
                .iter()
                .map(|s| ContainerState {
                    name: s.name.clone(),
                    status: ContainerStatus::Pending,
                    exit_code: None,
                    health: HealthStatus::Unknown,
                    reason: None,
                    pid: None,
                })
                .collect(),
            task_health: HealthStatus::Unknown,
            stopped_reason: None,
        };
        let (state_tx, state_rx) = watch::channel(state.clone());
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = mpsc::unbounded_channel();
        let registry = Arc::new(Mutex::new(Registry::default()));
        let n = specs.len();
        let sup = Supervisor {
            net,
            specs,
            prepared: prepared.into_iter().map(Arc::new).collect(),
            order,
            log_dir: config.log_dir.clone(),
            state,
            state_tx,
            events: events_tx,
            registry: registry.clone(),
            health_tasks: (0..n).map(|_| None).collect(),
            started: vec![false; n],
            ever_healthy: vec![false; n],
            term_deadline: vec![None; n],
            killed: vec![false; n],
            stopping: false,
        };
        tokio::spawn(sup.run(events_rx, stop_rx));
        Ok(TaskHandle {
            state: state_rx,
            stop_tx,
            registry,
        })
    }
}

/// A running task. [`stop`](Self::stop) it; dropping it without stopping SIGKILLs
/// every process group of the task at once.
#[derive(Debug)]
pub struct TaskHandle {
    state: watch::Receiver<TaskState>,
    stop_tx: mpsc::UnboundedSender<String>,
    registry: Arc<Mutex<Registry>>,
}

impl TaskHandle {
    /// The task's state, updated on every change.
    pub fn state(&self) -> watch::Receiver<TaskState> {
        self.state.clone()
    }

    /// Stops the task (the first reason given wins) and waits until every container
    /// stopped: containers that no running container depends on get SIGTERM (to their
    /// process group) first, their dependencies once they exited; each gets SIGKILL
    /// after its `stopTimeout`.
    pub async fn stop(&self, reason: &str) -> TaskState {
        let _ = self.stop_tx.send(reason.to_string());
        self.wait().await
    }

    /// Waits until the task stopped.
    pub async fn wait(&self) -> TaskState {
        let mut rx = self.state.clone();
        let r = rx
            .wait_for(|s| s.status == TaskStatus::Stopped)
            .await
            .map(|s| s.clone());
        match r {
            Ok(s) => s,
            // The supervisor is gone (its runtime shut down): the last state.
            Err(_) => rx.borrow().clone(),
        }
    }
}

impl RunningTask for TaskHandle {
    fn state(&self) -> watch::Receiver<TaskState> {
        TaskHandle::state(self)
    }

    async fn stop(&self, reason: &str) -> TaskState {
        TaskHandle::stop(self, reason).await
    }

    async fn wait(&self) -> TaskState {
        TaskHandle::wait(self).await
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        let mut reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        reg.dropped = true;
        for &g in &reg.groups {
            let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
        }
    }
}

/// The live process groups of a task (containers and running health checks).
#[derive(Debug, Default)]
struct Registry {
    groups: BTreeSet<i32>,
    /// The handle was dropped: kill whatever is registered from now on.
    dropped: bool,
}

fn register(registry: &Mutex<Registry>, pgid: i32) {
    let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    if reg.dropped {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    reg.groups.insert(pgid);
}

fn unregister(registry: &Mutex<Registry>, pgid: i32) {
    let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    reg.groups.remove(&pgid);
}

/// What a container runs with, resolved before anything starts.
#[derive(Clone, Debug)]
struct Prepared {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: String,
    user: Option<ResolvedUser>,
}

fn prepare(spec: &ContainerSpec, config: &TaskRuntimeConfig, hostname: &str) -> Result<Prepared> {
    let image = config.image_map.resolve(&spec.image)?;
    let argv = combine_argv(image, spec.entry_point.as_deref(), spec.command.as_deref());
    let cannot = |message: String| Error::CannotStart {
        container: spec.name.clone(),
        message,
    };
    if argv.is_empty() {
        return Err(cannot(format!(
            "no command specified: image {:?} (map entry {:?}) and the container definition give neither entryPoint nor command",
            spec.image, image.pattern
        )));
    }
    let user = match &spec.user {
        None => None,
        Some(u) => Some(resolve_user(u).map_err(&cannot)?),
    };
    let secrets = config.secrets.resolve_all(&spec.secrets)?;
    let home = user
        .as_ref()
        .map_or("/root".to_string(), |u| u.home.clone());
    // Later entries win (Command::env keeps the last value of a name).
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), hostname.into()),
        ("HOME".into(), home),
    ];
    env.extend(image.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(config.extra_env.iter().cloned());
    env.extend(spec.environment.iter().cloned());
    env.extend(secrets);
    let cwd = spec
        .working_directory
        .clone()
        .or_else(|| image.working_directory.clone())
        .unwrap_or_else(|| "/".into());
    Ok(Prepared {
        argv,
        env,
        cwd,
        user,
    })
}

/// A command running `argv` inside the task as the container's user, with its
/// environment and working directory, in a process group of its own.
///
/// The user is switched by `setpriv` (util-linux) inside the task: the switch must come
/// after entering the namespaces, which needs root, and `TaskNetwork::command` enters
/// them in a `pre_exec` hook, which std runs after its own `setuid`.
fn build_command(net: &TaskNetwork, p: &Prepared, argv: &[String]) -> tokio::process::Command {
    let mut full: Vec<String> = Vec::new();
    if let Some(u) = p.user.as_ref().filter(|u| u.uid != 0 || u.gid != 0) {
        full.push("setpriv".into());
        full.push(format!("--reuid={}", u.uid));
        full.push(format!("--regid={}", u.gid));
        full.push(if u.name.is_some() {
            "--init-groups".into()
        } else {
            "--clear-groups".into()
        });
        full.push("--".into());
    }
    full.extend(argv.iter().cloned());
    let mut cmd = net.command(&full[0]);
    cmd.args(&full[1..])
        .env_clear()
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&p.cwd)
        .process_group(0)
        .stdin(Stdio::null());
    tokio::process::Command::from(cmd)
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

enum Event {
    Exited { idx: usize, code: i32 },
    Health { idx: usize, health: HealthStatus },
}

enum DepState {
    Ready,
    Wait,
    Never(String),
}

struct Supervisor {
    net: Arc<TaskNetwork>,
    specs: Vec<ContainerSpec>,
    prepared: Vec<Arc<Prepared>>,
    order: Vec<usize>,
    log_dir: PathBuf,
    state: TaskState,
    state_tx: watch::Sender<TaskState>,
    events: mpsc::UnboundedSender<Event>,
    registry: Arc<Mutex<Registry>>,
    health_tasks: Vec<Option<JoinHandle<()>>>,
    started: Vec<bool>,
    ever_healthy: Vec<bool>,
    term_deadline: Vec<Option<Instant>>,
    killed: Vec<bool>,
    stopping: bool,
}

impl Supervisor {
    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut stop_rx: mpsc::UnboundedReceiver<String>,
    ) {
        let mut handle_alive = true;
        loop {
            if self.stopping {
                self.stop_progress();
            } else {
                self.start_ready();
            }
            self.publish();
            if self.all_stopped() {
                break;
            }
            let deadline = self.next_deadline();
            tokio::select! {
                Some(ev) = events.recv() => self.on_event(ev),
                r = stop_rx.recv(), if handle_alive => match r {
                    Some(reason) => self.begin_stop(&reason),
                    None => {
                        handle_alive = false;
                        self.begin_stop("Task handle dropped");
                    }
                },
                _ = sleep_until_opt(deadline) => {}
            }
        }
        for t in self.health_tasks.iter_mut().filter_map(Option::take) {
            t.abort();
        }
        self.state.status = TaskStatus::Stopped;
        self.publish();
    }

    fn all_stopped(&self) -> bool {
        self.state
            .containers
            .iter()
            .all(|c| c.status == ContainerStatus::Stopped)
    }

    fn publish(&mut self) {
        let essential_checked: Vec<HealthStatus> = (0..self.specs.len())
            .filter(|&i| self.specs[i].essential && self.specs[i].health_check.is_some())
            .map(|i| self.state.containers[i].health)
            .collect();
        self.state.task_health = if essential_checked.contains(&HealthStatus::Unhealthy) {
            HealthStatus::Unhealthy
        } else if !essential_checked.is_empty()
            && essential_checked
                .iter()
                .all(|h| *h == HealthStatus::Healthy)
        {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unknown
        };
        if self.state.status == TaskStatus::Pending && self.started.iter().any(|s| *s) {
            self.state.status = TaskStatus::Running;
        }
        if self.stopping && self.state.status != TaskStatus::Stopped {
            self.state.status = TaskStatus::Stopping;
        }
        self.state_tx.send_if_modified(|s| {
            if *s == self.state {
                false
            } else {
                *s = self.state.clone();
                true
            }
        });
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Exited { idx, code } => {
                let c = &mut self.state.containers[idx];
                c.status = ContainerStatus::Stopped;
                c.exit_code = Some(code);
                if let Some(t) = self.health_tasks[idx].take() {
                    t.abort();
                }
                tracing::debug!(container = %c.name, code, "container exited");
                if self.specs[idx].essential && !self.stopping {
                    self.begin_stop(ESSENTIAL_EXITED);
                }
            }
            Event::Health { idx, health } => {
                let c = &mut self.state.containers[idx];
                if c.status == ContainerStatus::Running {
                    c.health = health;
                    if health == HealthStatus::Healthy {
                        self.ever_healthy[idx] = true;
                    }
                }
            }
        }
    }

    fn begin_stop(&mut self, reason: &str) {
        if self.stopping {
            return;
        }
        tracing::info!(task = self.net.task_id(), reason, "stopping task");
        self.stopping = true;
        self.state.stopped_reason = Some(reason.to_string());
        for c in &mut self.state.containers {
            if c.status == ContainerStatus::Pending {
                c.status = ContainerStatus::Stopped;
            }
        }
    }

    fn dep_state(&self, i: usize) -> DepState {
        let mut all_ready = true;
        for d in &self.specs[i].depends_on {
            let j = self
                .specs
                .iter()
                .position(|s| s.name == d.container)
                .expect("validated");
            let c = &self.state.containers[j];
            let stopped = c.status == ContainerStatus::Stopped;
            let never = |why: &str| {
                DepState::Never(format!(
                    "DependencyError: container {} cannot start: dependency {} (condition {:?}) {why}",
                    self.specs[i].name,
                    d.container,
                    d.condition
                ))
            };
            let ready = match d.condition {
                Condition::Start if self.started[j] => true,
                Condition::Complete if stopped && self.started[j] => true,
                Condition::Success if stopped && c.exit_code == Some(0) => true,
                Condition::Success if stopped && self.started[j] => {
                    return never(&format!("exited with {:?}", c.exit_code.unwrap_or(-1)))
                }
                Condition::Healthy if self.ever_healthy[j] => true,
                Condition::Healthy if stopped && self.started[j] => {
                    return never("exited before it was healthy")
                }
                _ if stopped => return never("never started"),
                _ => false,
            };
            all_ready &= ready;
        }
        if all_ready {
            DepState::Ready
        } else {
            DepState::Wait
        }
    }

    /// Starts every pending container whose dependencies are satisfied, until none is.
    fn start_ready(&mut self) {
        loop {
            let mut changed = false;
            for k in 0..self.order.len() {
                let i = self.order[k];
                if self.stopping || self.state.containers[i].status != ContainerStatus::Pending {
                    continue;
                }
                match self.dep_state(i) {
                    DepState::Wait => {}
                    DepState::Ready => {
                        self.start_container(i);
                        changed = true;
                    }
                    DepState::Never(reason) => {
                        self.fail_container(i, reason);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn fail_container(&mut self, i: usize, reason: String) {
        tracing::warn!(container = %self.specs[i].name, %reason, "container not started");
        let c = &mut self.state.containers[i];
        c.status = ContainerStatus::Stopped;
        c.reason = Some(reason.clone());
        if self.specs[i].essential {
            self.begin_stop(&reason);
        }
    }

    fn start_container(&mut self, i: usize) {
        let spec = &self.specs[i];
        let p = self.prepared[i].clone();
        let log_path = self.log_dir.join(format!("{}.log", spec.name));
        let spawned = open_log(&log_path).and_then(|log| {
            let err = log.try_clone()?;
            let mut cmd = build_command(&self.net, &p, &p.argv);
            cmd.stdout(log).stderr(err);
            cmd.spawn()
        });
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let reason = format!(
                    "CannotStartContainerError: container {}: start {:?}: {e}",
                    spec.name, p.argv[0]
                );
                self.fail_container(i, reason);
                return;
            }
        };
        let pid = child.id().expect("a child that was just spawned has an id");
        let pgid = pid as i32;
        register(&self.registry, pgid);
        tracing::debug!(container = %spec.name, pid, "container started");
        self.started[i] = true;
        let c = &mut self.state.containers[i];
        c.status = ContainerStatus::Running;
        c.pid = Some(pid);
        let events = self.events.clone();
        let registry = self.registry.clone();
        tokio::spawn(async move {
            let code = match child.wait().await {
                Ok(st) => exit_code(st),
                Err(_) => -1,
            };
            // As when a container's init exits: the rest of the container dies with it.
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            unregister(&registry, pgid);
            let _ = events.send(Event::Exited { idx: i, code });
        });
        if let Some(hc) = spec.health_check.clone() {
            let net = self.net.clone();
            let events = self.events.clone();
            let registry = self.registry.clone();
            self.health_tasks[i] = Some(tokio::spawn(health_loop(i, hc, net, p, events, registry)));
        }
    }

    /// While stopping: SIGTERM to each running container that no running container
    /// depends on; SIGKILL to each whose stop timeout passed.
    fn stop_progress(&mut self) {
        let now = Instant::now();
        let running: Vec<bool> = self
            .state
            .containers
            .iter()
            .map(|c| c.status == ContainerStatus::Running)
            .collect();
        for i in 0..self.specs.len() {
            if !running[i] {
                continue;
            }
            let pgid = Pid::from_raw(self.state.containers[i].pid.expect("running") as i32);
            match self.term_deadline[i] {
                None => {
                    let name = &self.specs[i].name;
                    let needed = (0..self.specs.len()).any(|j| {
                        running[j]
                            && self.specs[j]
                                .depends_on
                                .iter()
                                .any(|d| &d.container == name)
                    });
                    if !needed {
                        let _ = killpg(pgid, Signal::SIGTERM);
                        self.term_deadline[i] = Some(now + self.specs[i].stop_timeout);
                    }
                }
                Some(deadline) if deadline <= now && !self.killed[i] => {
                    tracing::info!(container = %self.specs[i].name, "stop timeout passed: SIGKILL");
                    let _ = killpg(pgid, Signal::SIGKILL);
                    self.killed[i] = true;
                }
                Some(_) => {}
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        (0..self.specs.len())
            .filter(|&i| {
                self.state.containers[i].status == ContainerStatus::Running && !self.killed[i]
            })
            .filter_map(|i| self.term_deadline[i])
            .min()
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn open_log(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Runs a container's health check every interval until aborted; reports changes.
async fn health_loop(
    idx: usize,
    hc: HealthCheck,
    net: Arc<TaskNetwork>,
    p: Arc<Prepared>,
    events: mpsc::UnboundedSender<Event>,
    registry: Arc<Mutex<Registry>>,
) {
    let started = Instant::now();
    let argv = hc.command.argv();
    let mut in_start_period = !hc.start_period.is_zero();
    let mut failures = 0u32;
    let mut status = HealthStatus::Unknown;
    loop {
        tokio::time::sleep(hc.interval).await;
        let ok = run_check(&net, &p, &argv, hc.timeout, &registry).await;
        let new = if ok {
            failures = 0;
            in_start_period = false;
            HealthStatus::Healthy
        } else if in_start_period && started.elapsed() < hc.start_period {
            continue;
        } else {
            in_start_period = false;
            failures += 1;
            if failures >= hc.retries {
                HealthStatus::Unhealthy
            } else {
                status
            }
        };
        if new != status {
            status = new;
            if events.send(Event::Health { idx, health: new }).is_err() {
                return;
            }
        }
    }
}

/// One health check run: success iff it exits 0 within `timeout`.
async fn run_check(
    net: &TaskNetwork,
    p: &Prepared,
    argv: &[String],
    timeout: Duration,
    registry: &Mutex<Registry>,
) -> bool {
    let mut cmd = build_command(net, p, argv);
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    let Some(pid) = child.id() else {
        return false;
    };
    let pgid = pid as i32;
    register(registry, pgid);
    let ok = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(st)) => st.success(),
        Ok(Err(_)) => false,
        Err(_) => {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            let _ = child.wait().await;
            false
        }
    };
    // Whatever the check left in its group goes too.
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    unregister(registry, pgid);
    ok
}
