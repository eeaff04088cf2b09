//! The task state machine both runtimes share: `dependsOn`, health checks, essential
//! containers and the stop sequence, over a [`ContainerDriver`] that knows how to start,
//! signal and wait for one container and how to run a command in it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::spec::{Condition, ContainerSpec, HealthCheck};
use crate::state::{ContainerState, ContainerStatus, HealthStatus, TaskState, TaskStatus};
use crate::RunningTask;

/// The task's stoppedReason when an essential container exits.
pub const ESSENTIAL_EXITED: &str = "Essential container in task exited";

/// A signal the supervisor sends to a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGTERM: stop, please.
    Term,
    /// SIGKILL: the stop timeout passed.
    Kill,
}

/// A container that was started: its process id (if the driver knows one) and a
/// future that resolves, once, to its exit code (or 128 + the signal that killed it)
/// when it has exited and its output is in its log file.
pub struct Started {
    pub pid: Option<u32>,
    pub exit: Pin<Box<dyn Future<Output = i32> + Send>>,
}

impl fmt::Debug for Started {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Started").field("pid", &self.pid).finish()
    }
}

/// What a runtime does for one container of a task; the container is named by its
/// index in the task's specs. Everything about the task's lifecycle is
/// [`supervise`]'s.
pub trait ContainerDriver: Send + Sync + 'static {
    /// Starts container `idx`. An error is the container's stop reason (ECS style,
    /// e.g. `CannotStartContainerError: ...`).
    fn start(&self, idx: usize) -> impl Future<Output = Result<Started, String>> + Send;

    /// Sends `signal` to the running container `idx` (to all its processes, or to its
    /// init, as the runtime does). Must not block; errors are ignored.
    fn signal(&self, idx: usize, signal: StopSignal);

    /// Runs `argv` inside container `idx` as the container runs (user, environment,
    /// directory); true iff it exits 0 within `timeout` (else it is killed).
    fn check(
        &self,
        idx: usize,
        argv: Vec<String>,
        timeout: Duration,
    ) -> impl Future<Output = bool> + Send;

    /// The task's handle was dropped without a stop: kill everything of the task now
    /// (must not block; may be called from any thread, inside a runtime or not).
    fn abandon(&self);

    /// Every container stopped: release what the task still holds (the process
    /// runtime kills the task's init, and with it whatever a container left behind).
    /// Called once, before the task is published STOPPED. Default: nothing.
    fn finished(&self) {}
}

/// Starts the supervisor of a task in the background (on the current tokio runtime):
/// containers start in `dependsOn` order through `driver`, and the returned handle
/// publishes the task's state and stops it. `order` is what
/// [`validate_task`](crate::validate_task) returned for `specs`.
pub fn supervise<D: ContainerDriver>(
    task_id: impl Into<String>,
    specs: Vec<ContainerSpec>,
    order: Vec<usize>,
    driver: Arc<D>,
) -> TaskHandle {
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
    let n = specs.len();
    let sup = Supervisor {
        task_id: task_id.into(),
        specs,
        order,
        driver: driver.clone(),
        state,
        state_tx,
        events: events_tx,
        health_tasks: (0..n).map(|_| None).collect(),
        started: vec![false; n],
        ever_healthy: vec![false; n],
        term_deadline: vec![None; n],
        killed: vec![false; n],
        stopping: false,
    };
    tokio::spawn(sup.run(events_rx, stop_rx));
    TaskHandle {
        state: state_rx,
        stop_tx,
        abandon: Box::new(move || driver.abandon()),
    }
}

/// A running task. [`stop`](Self::stop) it; dropping it without stopping kills every
/// container of the task at once (SIGKILL).
pub struct TaskHandle {
    state: watch::Receiver<TaskState>,
    stop_tx: mpsc::UnboundedSender<String>,
    abandon: Box<dyn Fn() + Send + Sync>,
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl TaskHandle {
    /// The task's state, updated on every change.
    pub fn state(&self) -> watch::Receiver<TaskState> {
        self.state.clone()
    }

    /// Stops the task (the first reason given wins) and waits until every container
    /// stopped: containers that no running container depends on get SIGTERM first,
    /// their dependencies once they exited; each gets SIGKILL after its `stopTimeout`.
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
        (self.abandon)();
    }
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

struct Supervisor<D> {
    task_id: String,
    specs: Vec<ContainerSpec>,
    order: Vec<usize>,
    driver: Arc<D>,
    state: TaskState,
    state_tx: watch::Sender<TaskState>,
    events: mpsc::UnboundedSender<Event>,
    health_tasks: Vec<Option<JoinHandle<()>>>,
    started: Vec<bool>,
    ever_healthy: Vec<bool>,
    term_deadline: Vec<Option<Instant>>,
    killed: Vec<bool>,
    stopping: bool,
}

impl<D: ContainerDriver> Supervisor<D> {
    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut stop_rx: mpsc::UnboundedReceiver<String>,
    ) {
        let mut handle_alive = true;
        loop {
            // A stop asked for while containers were being started wins over starting
            // more of them.
            while handle_alive {
                match stop_rx.try_recv() {
                    Ok(reason) => self.begin_stop(&reason),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        handle_alive = false;
                        self.begin_stop("Task handle dropped");
                    }
                }
            }
            if self.stopping {
                self.stop_progress();
            } else {
                self.start_ready().await;
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
        self.driver.finished();
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
        tracing::info!(task = %self.task_id, reason, "stopping task");
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
    async fn start_ready(&mut self) {
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
                        self.start_container(i).await;
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

    async fn start_container(&mut self, i: usize) {
        let started = match self.driver.start(i).await {
            Ok(s) => s,
            Err(reason) => {
                self.fail_container(i, reason);
                return;
            }
        };
        tracing::debug!(container = %self.specs[i].name, pid = ?started.pid, "container started");
        self.started[i] = true;
        let c = &mut self.state.containers[i];
        c.status = ContainerStatus::Running;
        c.pid = started.pid;
        let events = self.events.clone();
        let exit = started.exit;
        tokio::spawn(async move {
            let code = exit.await;
            let _ = events.send(Event::Exited { idx: i, code });
        });
        if let Some(hc) = self.specs[i].health_check.clone() {
            let driver = self.driver.clone();
            let events = self.events.clone();
            self.health_tasks[i] = Some(tokio::spawn(health_loop(i, hc, driver, events)));
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
                        self.driver.signal(i, StopSignal::Term);
                        self.term_deadline[i] = Some(now + self.specs[i].stop_timeout);
                    }
                }
                Some(deadline) if deadline <= now && !self.killed[i] => {
                    tracing::info!(container = %self.specs[i].name, "stop timeout passed: SIGKILL");
                    self.driver.signal(i, StopSignal::Kill);
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

/// Runs a container's health check every interval until aborted; reports changes.
async fn health_loop<D: ContainerDriver>(
    idx: usize,
    hc: HealthCheck,
    driver: Arc<D>,
    events: mpsc::UnboundedSender<Event>,
) {
    let started = Instant::now();
    let argv = hc.command.argv();
    let mut in_start_period = !hc.start_period.is_zero();
    let mut failures = 0u32;
    let mut status = HealthStatus::Unknown;
    loop {
        tokio::time::sleep(hc.interval).await;
        let ok = driver.check(idx, argv.clone(), hc.timeout).await;
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
