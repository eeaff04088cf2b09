//! The process runtime of `berth agent`: runs the containers of an ECS task as plain
//! processes inside the task's namespaces (see `berth-tasknet`), without Docker.
//!
//! * [`ContainerSpec::from_json`] parses an ECS container definition.
//! * [`ImageMap`] says which local command an image runs (JSON file, built-in default
//!   in `images.json`; format in [`image`]).
//! * [`ResolvedSecrets`]: a task's `secrets`, resolved by the agent before it starts.
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
//! Each [`ProcessRuntime::start`] (the agent makes one for a task's proxy and one for
//! its application containers) starts a [`Sandbox`](berth_tasknet::Sandbox) in the
//! task's network namespace: an init, PID 1 of a PID namespace of its own, holding new
//! mount, IPC and UTS namespaces (the hostname is the task's, set in the UTS namespace).
//! Each container, and each health check run, joins all of them, and is born in the PID
//! namespace as a child of the agent (which waits for it; the host sees it under its
//! host PID, which is what [`ContainerState::pid`] holds). What a task sees (the
//! `berth_tasknet::Sandbox` docs have the details): the host's file system, with the
//! task's `/etc/hosts` and `/etc/hostname`; a `/proc` of its PID namespace (only the
//! task's processes: not the host's, not another task's, not even its own proxy's);
//! [`TaskRuntimeConfig::hidden_paths`] and `/etc/netns` covered by an empty read-only
//! tmpfs (the agent hides `/run/berth`, with every proxy's admin socket, and its state
//! directory, with every task's logs); the definitions' `host_dirs` bind-mounted at
//! their path (the proxy's own socket directory, in the proxy's sandbox only); Docker's
//! read-only `/proc` paths (`/proc/sys`, `/proc/sysrq-trigger`, …) and masked ones; a
//! read-only `/sys`; its own `/dev/shm` and `/dev/mqueue`.
//!
//! Its argv comes from the image map entry and the definition's `entryPoint`/`command`
//! by Docker's rules; its environment is exactly (later wins): `PATH` (Docker's
//! default), `HOSTNAME`, `HOME` (the user's, else `/root`), the image entry's `env`,
//! [`TaskRuntimeConfig::extra_env`], `environment`, `secrets`. The agent's own
//! environment is not passed on. Working directory: `workingDirectory`, else the
//! entry's, else `/` (it must exist in the task).
//!
//! User and capabilities, set by `setpriv` (util-linux) after joining the namespaces:
//! `user` (`uid`, `uid:gid`, names, resolved against the host's `/etc/passwd` and
//! `/etc/group`) runs as that user with no capabilities; no `user` runs as root (gid 0,
//! no supplementary groups). Either way the bounding set is Docker's default
//! ([`CapabilitySet::DOCKER_DEFAULT`]) changed by `linuxParameters.capabilities`
//! ([`CapabilityChanges::resolve`], Docker's rules), which is root's permitted and
//! effective set; inheritable and ambient sets are empty (Docker since Engine 23).
//! `no_new_privs` is not set (Docker does not by default). `privileged` is refused: the
//! file system is the host's, so a privileged container would be root on the host.
//! `readonlyRootFilesystem` gives the container a mount namespace of its own in which
//! every mount is read-only but `/proc`, `/dev/shm`, `/dev/mqueue`, `/dev/pts`, the
//! task's hosts and hostname files and its host directories; an image the image map
//! marks `writesRootFilesystem` is refused with it.
//!
//! What this does not isolate: the file system is the host's, so a root container can
//! change host files outside the hidden directories (as a Docker container could with
//! the host's `/` bind-mounted), and the host's `/dev` is visible; run containers as a
//! `user`, or with `readonlyRootFilesystem`, where that matters. There are no resource
//! limits (no cgroups). A container granted `SYS_PTRACE` can trace the other processes
//! of its task, `setpriv` too in the instant it still holds every capability.
//!
//! Every container is the leader of its own process group; signals go to the group
//! (from the host, by host process group id). When a container's process exits, the
//! rest of its group is SIGKILLed, as Docker does when a container's init exits. When
//! every container stopped, or the handle is dropped, the task's init is SIGKILLed, and
//! the kernel kills whatever is left in the PID namespace (a daemon that left its
//! group too). A task's init ignores signals from inside (`kill -9 1` does nothing); an
//! agent's crash cleanup, which SIGKILLs every process in a task's network namespace,
//! kills it with the rest. Output: stdout and stderr, raw, appended to
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
//! Everything needs root (entering namespaces, mounting) and Linux 5.12.

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
pub use secrets::ResolvedSecrets;
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
