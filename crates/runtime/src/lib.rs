//! The process runtime of `berth agent`: runs the containers of an ECS task as plain
//! processes inside the task's namespaces (see `berth-tasknet`), without Docker.
//!
//! * [`ContainerSpec::from_json`] parses an ECS container definition.
//! * [`ImageMap`] says which local command an image runs (JSON file, built-in default
//!   in `images.json`; format in [`image`]).
//! * [`SecretStore`] resolves `secrets` from a local JSON file (format in [`secrets`]).
//! * [`ProcessRuntime`] starts a task's containers in `dependsOn` order and returns a
//!   [`TaskHandle`]: a [`watch`](tokio::sync::watch) of [`TaskState`], and
//!   [`stop`](TaskHandle::stop).
//! * [`Runtime`] and [`RunningTask`] abstract that; `berth-docker` is the other
//!   implementation.
//! * [`supervisor`] is the task state machine (dependsOn, health checks, essential
//!   containers, stop sequence) both runtimes share: it drives a
//!   [`ContainerDriver`](supervisor::ContainerDriver) that starts, signals and waits for
//!   one container and runs a health check command in it.
//!
//! # A container as a process
//!
//! Each container runs [`TaskNetwork::command`]: in the task's network namespace, with
//! the task's `/etc/hosts` and hostname, in its own mount namespace; the file system is
//! the host's. Its argv comes from the image map entry and the definition's
//! `entryPoint`/`command` by Docker's rules; its environment is exactly (later wins):
//! `PATH` (Docker's default), `HOSTNAME`, `HOME` (the user's, else `/root`), the image
//! entry's `env`, [`TaskRuntimeConfig::extra_env`], `environment`, `secrets`. The
//! agent's own environment is not passed on. Working directory: `workingDirectory`,
//! else the entry's, else `/` (it must exist). `user` (`uid`, `uid:gid`, names) is
//! resolved against the host's `/etc/passwd` and `/etc/group`; a non-root user is
//! switched to with `setpriv` (util-linux) after entering the namespaces.
//!
//! Every container is the leader of its own process group; signals go to the group.
//! When a container's process exits, the rest of its group is SIGKILLed, as Docker
//! does when a container's init exits. Output: stdout and stderr, raw, appended to
//! `<log_dir>/<container>.log` (the agent picks `log_dir` per task and ships the files
//! as `logConfiguration` says).
//!
//! # Lifecycle
//!
//! * Start: everything (images, secrets, users, dependsOn graph) is resolved first; an
//!   error there fails [`ProcessRuntime::start`] with an ECS-style stoppedReason and
//!   nothing runs. Then containers start as their dependencies allow: START once the
//!   dependency started, COMPLETE once it exited, SUCCESS once it exited 0, HEALTHY
//!   once its health check passed. A dependency that can no longer be satisfied (it
//!   exited non-zero for SUCCESS, or before being healthy) stops the dependent with a
//!   `DependencyError` reason. A container that cannot be spawned stops with a
//!   `CannotStartContainerError` reason. Either stops the task if it is essential.
//! * Health checks (CMD: argv; CMD-SHELL: `/bin/sh -c`) run inside the task like the
//!   container (same user, environment, directory), the first one interval after
//!   start; failures within `startPeriod` do not count until the first success;
//!   `retries` consecutive failures make it UNHEALTHY, a success HEALTHY; a check
//!   exceeding `timeout` is killed and fails.
//! * An essential container exiting stops the task ([`ESSENTIAL_EXITED`]).
//! * Stop: containers no running container depends on get SIGTERM first, the others
//!   once their dependents exited; SIGKILL after each one's `stopTimeout`. The handle's
//!   `Drop` SIGKILLs every process group of the task that is still registered.
//!
//! Everything needs root (entering namespaces, mounting).

pub mod caps;
pub mod error;
pub mod image;
mod process;
pub mod secrets;
mod spec;
mod state;
pub mod supervisor;
mod user;

use std::future::Future;
use std::sync::Arc;

use berth_tasknet::{Bridge, TaskNetConfig, TaskNetwork};
use tokio::sync::watch;

pub use caps::{CapabilityChanges, CapabilityName, CapabilitySet};
pub use error::{Error, Result};
pub use image::{combine_argv, ImageEntry, ImageMap, BUILTIN_IMAGES_JSON};
pub use process::{ProcessRuntime, TaskRuntimeConfig, DEFAULT_PATH};
pub use secrets::{SecretStore, DEFAULT_SECRETS_PATH};
pub use spec::{
    validate_task, Condition, ContainerSpec, Dependency, HealthCheck, HealthCommand,
    DEFAULT_STOP_TIMEOUT, MAX_STOP_TIMEOUT_SECS,
};
pub use state::{ContainerState, ContainerStatus, HealthStatus, TaskState, TaskStatus};
pub use supervisor::{TaskHandle, ESSENTIAL_EXITED};
pub use user::{resolve_user, ResolvedUser};

/// The image of berth's own containers: a task's proxy, and (Docker) the holder of a
/// task's network namespace. `berth-docker` builds it from the berth binary (and the
/// [`proxy_beside`] it); the process runtime maps it to the proxy's command through the
/// image map.
pub const PROXY_IMAGE: &str = "berth/proxy:local";

/// The `berth-proxy` binary beside the berth binary `berth` (cargo builds both into one
/// directory), if there is one: the proxy alone, a fraction of berth's size, which tasks'
/// proxies run as.
pub fn proxy_beside(berth: &std::path::Path) -> Option<std::path::PathBuf> {
    let p = berth.with_file_name("berth-proxy");
    p.is_file().then_some(p)
}

/// A way to run a task's containers: [`ProcessRuntime`] (processes in the task's
/// namespaces) or the Docker runtime (`berth-docker`).
///
/// The agent calls, per task: [`create_network`](Self::create_network), then
/// [`start_task`](Self::start_task) once for the task's proxy (a one-container task of
/// its own, so it can outlive the application's stop for draining) and once for the
/// application containers, and at the end [`destroy_network`](Self::destroy_network).
pub trait Runtime: Send + Sync + 'static {
    /// The running task.
    type Task: RunningTask + 'static;

    /// Creates (or, after an agent restart, adopts) the network of `task_id` on
    /// `bridge`: the process runtime makes the named namespace itself; Docker makes a
    /// holder container and adopts its namespace.
    fn create_network(
        &self,
        bridge: &Bridge,
        task_id: &str,
        config: &TaskNetConfig,
    ) -> impl Future<Output = Result<Arc<TaskNetwork>>> + Send;

    /// Removes what [`create_network`](Self::create_network) made (and, for Docker,
    /// the holder container). Idempotent.
    fn destroy_network(&self, net: &TaskNetwork) -> impl Future<Output = Result<()>> + Send;

    /// Removes what this runtime left behind of `tasks` (after an agent crash): Docker
    /// removes their containers. The agent then kills what still runs in their
    /// namespaces and removes those (`berth-tasknet`). Default: nothing of the
    /// runtime's own to remove.
    fn cleanup_tasks(&self, tasks: &[String]) -> impl Future<Output = Result<()>> + Send {
        let _ = tasks;
        async { Ok(()) }
    }

    /// Resolves and checks everything, then starts the containers of the task whose
    /// network is `net`. An error means nothing runs; its text is the stoppedReason.
    fn start_task(
        &self,
        net: Arc<TaskNetwork>,
        specs: Vec<ContainerSpec>,
        config: &TaskRuntimeConfig,
    ) -> impl Future<Output = Result<Self::Task>> + Send;
}

/// A task started by a [`Runtime`].
pub trait RunningTask: Send + Sync {
    /// The task's state, updated on every change.
    fn state(&self) -> watch::Receiver<TaskState>;
    /// Stops the task and waits until every container stopped.
    fn stop(&self, reason: &str) -> impl Future<Output = TaskState> + Send;
    /// Waits until the task stopped by itself or by [`stop`](Self::stop).
    fn wait(&self) -> impl Future<Output = TaskState> + Send;
}
