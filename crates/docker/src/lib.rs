//! The Docker runtime of `berth agent`: runs the containers of an ECS task as Docker
//! containers (Docker Engine API over its Unix socket, through `bollard`), with the
//! same task semantics as berth-runtime's process runtime — the two share
//! [`berth_runtime::supervisor`]: `dependsOn` conditions, essential containers, health
//! checks, SIGTERM then SIGKILL after `stopTimeout`, per-container log files, ECS-style
//! stoppedReasons, the same [`TaskState`](berth_runtime::TaskState) on a watch.
//!
//! # Networking (awsvpc-like)
//!
//! Every task has a *holder* container: the berth image ([`berth_runtime::PROXY_IMAGE`])
//! running `berth pause`, network mode `none`, the task's hostname. Its network
//! namespace is the task's: [`Runtime::create_network`](berth_runtime::Runtime) bind-mounts
//! `/proc/<pid>/ns/net` on `/run/netns/berth-<hash>` and berth-tasknet adds the veth,
//! address, route and hosts file ([`TaskNetwork::create_with_netns`](berth_tasknet::TaskNetwork::create_with_netns)).
//! The task's containers (and its proxy) join it with network mode
//! `container:<holder id>`; each gets the task's hosts file bind-mounted on `/etc/hosts`
//! (the agent rewrites it in place, so running containers see new aliases) and every
//! [`ContainerSpec::host_dirs`](berth_runtime::ContainerSpec) entry at the same path.
//! Hostname and `/etc/resolv.conf` are the holder's, as Docker does for joined
//! containers.
//!
//! Containers are named `berth-<hash>-<container>` (the holder `berth-<hash>`, the
//! task's namespace name) and labelled [`LABEL_TASK`], [`LABEL_CONTAINER`],
//! [`LABEL_ROLE`]; [`DockerRuntime::list`] and [`DockerRuntime::cleanup_except`] find
//! and remove what a crashed agent left.
//!
//! # Containers
//!
//! Images are Docker's: entrypoint, cmd, environment, working directory and user come
//! from the image config with Docker's rules when the definition gives `entryPoint`,
//! `command`, `workingDirectory`, `user` (an `entryPoint` drops the image's cmd).
//! Environment: the image's, then `extra_env`, `environment`, `secrets` (later wins).
//! Every image is checked before anything is created: a missing one stops the task with
//! `CannotPullContainerError` (there is no registry; see [`image`] for building images
//! locally). All containers are created before the first starts. Output (stdout and
//! stderr, raw) is followed from the engine into `<log_dir>/<container>.log`. A stop
//! sends the image's `StopSignal` (default SIGTERM) to the container's init, SIGKILL
//! after `stopTimeout`; health checks run as `docker exec` (the container's user,
//! environment and directory), a check over its timeout has its process killed.
//! Stopped containers stay until [`destroy_network`](berth_runtime::Runtime) removes
//! them with the holder.
//!
//! Everything needs root (namespaces, mounts) and a Docker Engine; API versions are
//! negotiated (Docker 20.10 speaks 1.41).

mod error;
pub mod image;
mod runtime;

pub use error::{Error, Result};
pub use image::{
    build_berth_image, build_image, ensure_berth_image, proxy_command_in_image, ImageSpec, RootFs,
    BERTH_IN_IMAGE, PROXY_IN_IMAGE,
};
pub use runtime::{
    container_name, holder_name, log_path, BerthContainer, DockerRuntime, Role, DEFAULT_SOCKET,
    LABEL_CONTAINER, LABEL_ROLE, LABEL_TASK,
};
