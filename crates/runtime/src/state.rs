//! What a task's containers are doing, as published on a [`tokio::sync::watch`].

use serde::Serialize;

/// A container's `lastStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ContainerStatus {
    /// Not started (yet): waiting for its dependencies.
    Pending,
    /// Its process runs.
    Running,
    /// Exited, was stopped, or never started (then `pid` is `None`).
    Stopped,
}

/// A container's or a task's health status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    Unknown,
    Healthy,
    Unhealthy,
}

/// A task's `lastStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskStatus {
    /// No container started yet.
    Pending,
    /// A container has started.
    Running,
    /// Stopping: containers are being signalled.
    Stopping,
    /// Every container is stopped.
    Stopped,
}

/// One container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub name: String,
    pub status: ContainerStatus,
    /// Set when it exited: the exit code, or 128 + the signal that killed it (Docker).
    pub exit_code: Option<i32>,
    /// `Unknown` until its health check (if any) passes or fails `retries` times.
    pub health: HealthStatus,
    /// Why it stopped, when that was not a plain exit (could not start, dependency
    /// not satisfiable).
    pub reason: Option<String>,
    /// The process id (the host's; the task's own PID namespace numbers it
    /// differently), once started (also after it stopped). It is the id of the
    /// container's process group too.
    pub pid: Option<u32>,
}

/// One task: its containers in definition order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskState {
    pub status: TaskStatus,
    pub containers: Vec<ContainerState>,
    /// `Unhealthy` if an essential container is, `Healthy` if all essential
    /// containers with a health check are (and there is one), else `Unknown`.
    pub task_health: HealthStatus,
    /// Set once the task is stopping: why.
    pub stopped_reason: Option<String>,
}

impl TaskState {
    /// The container called `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerState> {
        self.containers.iter().find(|c| c.name == name)
    }
}
