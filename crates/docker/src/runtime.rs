//! [`DockerRuntime`]: the containers of a task as Docker containers that join the
//! network namespace of the task's holder container.

use std::collections::{BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_runtime::supervisor::{supervise, ContainerDriver, Started, StopSignal};
use berth_runtime::{
    validate_task, ContainerSpec, Runtime, TaskHandle, TaskRuntimeConfig, PROXY_IMAGE,
};
use berth_tasknet::{default_hostname, netns_name, Bridge, TaskNetConfig, TaskNetwork};
use bollard::errors::Error as DockerError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// Label: the task id of a container berth made.
pub const LABEL_TASK: &str = "berth.task";
/// Label: the container's name in its task definition (the holder's is empty).
pub const LABEL_CONTAINER: &str = "berth.container";
/// Label: `holder` (owns the task's network namespace) or `container`.
pub const LABEL_ROLE: &str = "berth.role";

/// The default Docker socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Seconds a Docker API call may take to answer (headers; streams may last longer).
const API_TIMEOUT_SECS: u64 = 300;

/// What a container berth made is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs `berth pause` and holds the task's network namespace.
    Holder,
    /// A container of a task definition (or the task's proxy).
    Container,
}

/// A container berth made, as [`DockerRuntime::list`] finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BerthContainer {
    pub id: String,
    /// Docker's name, without the leading `/`.
    pub name: String,
    pub task_id: String,
    /// The container's name in its task (empty for a holder).
    pub container: String,
    pub role: Role,
    /// Whether it runs.
    pub running: bool,
}

/// The Docker name of the holder of `task_id`'s network: `berth-<hash>`, the name of
/// the task's network namespace too.
pub fn holder_name(task_id: &str) -> String {
    netns_name(task_id)
}

/// The Docker name of container `container` of `task_id`: `berth-<hash>-<container>`.
pub fn container_name(task_id: &str, container: &str) -> String {
    format!("{}-{container}", netns_name(task_id))
}

/// Runs tasks on a Docker Engine. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DockerRuntime {
    docker: Docker,
    socket: String,
}

fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

async fn connect_socket(socket: &str) -> Result<Docker> {
    let docker = Docker::connect_with_unix(socket, API_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
        .map_err(|e| Error::docker(format!("connect to {socket}"), e))?;
    // The engine may speak an older API than bollard: use the older one.
    docker
        .negotiate_version()
        .await
        .map_err(|e| Error::docker(format!("negotiate the API version with {socket}"), e))
}

impl DockerRuntime {
    /// Connects to the engine at `DOCKER_HOST` (`unix://` only) or
    /// [`DEFAULT_SOCKET`], and negotiates the API version.
    pub async fn connect() -> Result<DockerRuntime> {
        let socket = match std::env::var("DOCKER_HOST") {
            Ok(h) if !h.is_empty() => match h.strip_prefix("unix://") {
                Some(p) => p.to_string(),
                None => {
                    return Err(Error::Spec {
                        source_name: "DOCKER_HOST".into(),
                        message: format!("{h:?}: berth talks to Docker over a unix:// socket only"),
                    })
                }
            },
            _ => DEFAULT_SOCKET.to_string(),
        };
        DockerRuntime::connect_socket(&socket).await
    }

    /// Connects to the engine's Unix socket at `socket`.
    pub async fn connect_socket(socket: &str) -> Result<DockerRuntime> {
        Ok(DockerRuntime {
            docker: connect_socket(socket).await?,
            socket: socket.to_string(),
        })
    }

    /// The Docker client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Makes sure [`PROXY_IMAGE`] is the berth image of `binary` (default: the running
    /// executable, i.e. the agent's own berth), building it if it is missing or was
    /// built from another binary: call it once before running tasks. Returns the image
    /// id and whether it was built now.
    pub async fn ensure_berth_image(&self, binary: Option<&Path>) -> Result<(String, bool)> {
        crate::image::ensure_berth_image(&self.docker, binary, None).await
    }

    /// Every container berth made (running or not), by label.
    pub async fn list(&self) -> Result<Vec<BerthContainer>> {
        self.list_where(LABEL_TASK).await
    }

    /// The containers of `task_id`.
    pub async fn list_task(&self, task_id: &str) -> Result<Vec<BerthContainer>> {
        self.list_where(&format!("{LABEL_TASK}={task_id}")).await
    }

    async fn list_where(&self, label: &str) -> Result<Vec<BerthContainer>> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![label.to_string()],
            )])),
            ..ListContainersOptions::default()
        };
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| Error::docker("list containers", e))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                let task_id = labels.get(LABEL_TASK)?.clone();
                Some(BerthContainer {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    container: labels.get(LABEL_CONTAINER).cloned().unwrap_or_default(),
                    role: if labels.get(LABEL_ROLE).map(String::as_str) == Some("holder") {
                        Role::Holder
                    } else {
                        Role::Container
                    },
                    running: c.state.is_some_and(|s| s.to_string() == "running"),
                    task_id,
                })
            })
            .collect())
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..RemoveContainerOptions::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // "removal already in progress"
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(Error::docker(format!("remove container {id}"), e)),
        }
    }

    /// Removes every container of `task_id` (force: running ones are killed),
    /// application containers first, the holder last.
    pub async fn remove_task_containers(&self, task_id: &str) -> Result<()> {
        let mut list = self.list_task(task_id).await?;
        list.sort_by_key(|c| c.role == Role::Holder);
        for c in list {
            self.remove(&c.id).await?;
        }
        Ok(())
    }

    /// Removes the containers of every task not in `known` (what a crashed agent left);
    /// returns what it removed. The task networks are berth-tasknet's
    /// [`cleanup_except`](berth_tasknet::cleanup_except).
    pub async fn cleanup_except<S: AsRef<str>>(
        &self,
        known: impl IntoIterator<Item = S>,
    ) -> Result<Vec<BerthContainer>> {
        let known: BTreeSet<String> = known.into_iter().map(|s| s.as_ref().to_string()).collect();
        let mut gone: Vec<BerthContainer> = self
            .list()
            .await?
            .into_iter()
            .filter(|c| !known.contains(&c.task_id))
            .collect();
        gone.sort_by_key(|c| c.role == Role::Holder);
        for c in &gone {
            self.remove(&c.id).await?;
        }
        Ok(gone)
    }

    async fn inspect(
        &self,
        name: &str,
    ) -> Result<Option<bollard::models::ContainerInspectResponse>> {
        match self.docker.inspect_container(name, None).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(Error::docker(format!("inspect container {name}"), e)),
        }
    }

    /// The running holder of `task_id`: (id, pid).
    async fn running_holder(&self, task_id: &str) -> Result<Option<(String, i64)>> {
        let Some(c) = self.inspect(&holder_name(task_id)).await? else {
            return Ok(None);
        };
        let state = c.state.unwrap_or_default();
        match (c.id, state.running, state.pid) {
            (Some(id), Some(true), Some(pid)) if pid > 0 => Ok(Some((id, pid))),
            _ => Ok(None),
        }
    }

    /// Whether `image` is there; a missing one is `CannotPullContainerError` (there is
    /// no registry to pull from).
    async fn require_image(&self, image: &str, hint: &str) -> berth_runtime::Result<()> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Err(berth_runtime::Error::Image(format!(
                "{image}: no such image on this host, and berth pulls from no registry{hint}"
            ))),
            Err(e) => Err(Error::docker(format!("inspect image {image}"), e).into()),
        }
    }

    async fn make_holder(&self, task_id: &str, hostname: &str) -> Result<(String, i64)> {
        let name = holder_name(task_id);
        if let Some(old) = self.inspect(&name).await? {
            // Stopped (the engine restarted?): its namespace is gone, make it anew.
            self.remove(old.id.as_deref().unwrap_or(&name)).await?;
        }
        let body = ContainerCreateBody {
            image: Some(PROXY_IMAGE.to_string()),
            cmd: Some(vec!["pause".into()]),
            hostname: Some(hostname.to_string()),
            labels: Some(HashMap::from([
                (LABEL_TASK.to_string(), task_id.to_string()),
                (LABEL_CONTAINER.to_string(), String::new()),
                (LABEL_ROLE.to_string(), "holder".to_string()),
            ])),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..CreateContainerOptions::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| Error::docker(format!("create holder {name}"), e))?;
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            let _ = self.remove(&created.id).await;
            return Err(Error::docker(format!("start holder {name}"), e));
        }
        match self.running_holder(task_id).await? {
            Some(h) => Ok(h),
            None => {
                let _ = self.remove(&created.id).await;
                Err(Error::io(
                    format!("start holder {name}"),
                    std::io::Error::other("it exited at once"),
                ))
            }
        }
    }

    /// Creates the containers of a task (the supervisor starts them); on error removes
    /// those it made.
    async fn create_containers(
        &self,
        net: &TaskNetwork,
        holder_id: &str,
        specs: &[ContainerSpec],
        config: &TaskRuntimeConfig,
    ) -> berth_runtime::Result<Vec<Created>> {
        let mut made: Vec<Created> = Vec::new();
        let result = async {
            for spec in specs {
                let c = self.create_container(net, holder_id, spec, config).await?;
                made.push(c);
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(made),
            Err(e) => {
                for c in &made {
                    let _ = self.remove(&c.id).await;
                }
                Err(e)
            }
        }
    }

    async fn create_container(
        &self,
        net: &TaskNetwork,
        holder_id: &str,
        spec: &ContainerSpec,
        config: &TaskRuntimeConfig,
    ) -> berth_runtime::Result<Created> {
        let task_id = net.task_id();
        let name = container_name(task_id, &spec.name);
        let secrets = config.secrets.resolve_all(&spec.secrets)?;
        // Docker adds the image's variables the container does not set, PATH if none
        // does, HOSTNAME and HOME.
        // Later wins, as in the process runtime: keep the last value of each name, in
        // the order names first appear.
        let mut env: Vec<(String, String)> = Vec::new();
        for (k, v) in config
            .extra_env
            .iter()
            .chain(spec.environment.iter())
            .chain(secrets.iter())
        {
            match env.iter_mut().find(|(name, _)| name == k) {
                Some(e) => e.1 = v.clone(),
                None => env.push((k.clone(), v.clone())),
            }
        }
        let env: Vec<String> = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        for d in &spec.host_dirs {
            // A bind mount needs the directory to exist.
            std::fs::create_dir_all(d).map_err(|e| berth_runtime::Error::CannotStart {
                container: spec.name.clone(),
                message: format!("host directory {}: {e}", d.display()),
            })?;
        }
        let mounts = container_mounts(&net.hosts_path(), spec);
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            // Docker's rules: an entrypoint given drops the image's cmd; a cmd given
            // replaces the image's.
            entrypoint: spec.entry_point.clone(),
            cmd: spec.command.clone(),
            env: Some(env),
            working_dir: spec.working_directory.clone(),
            user: spec.user.clone(),
            labels: Some(HashMap::from([
                (LABEL_TASK.to_string(), task_id.to_string()),
                (LABEL_CONTAINER.to_string(), spec.name.clone()),
                (LABEL_ROLE.to_string(), "container".to_string()),
            ])),
            // What `docker stop` by hand would wait; berth's stop does its own.
            stop_timeout: Some(spec.stop_timeout.as_secs() as i64),
            host_config: Some(HostConfig {
                network_mode: Some(format!("container:{holder_id}")),
                mounts: Some(mounts),
                // Docker's defaults unless the definition changes them.
                cap_add: names(&spec.capabilities.add),
                cap_drop: names(&spec.capabilities.drop),
                privileged: Some(spec.privileged),
                readonly_rootfs: Some(spec.readonly_root_filesystem),
                // berth copies the output into its own log file; the engine's copy
                // (for `docker logs`) is bounded.
                log_config: Some(HostConfigLogConfig {
                    typ: Some("json-file".into()),
                    config: Some(HashMap::from([
                        ("max-size".to_string(), "10m".to_string()),
                        ("max-file".to_string(), "2".to_string()),
                    ])),
                }),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        // A container of that name is left from an earlier start of this task.
        if let Some(old) = self
            .inspect(&name)
            .await
            .map_err(berth_runtime::Error::from)?
        {
            self.remove(old.id.as_deref().unwrap_or(&name)).await?;
        }
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..CreateContainerOptions::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| {
                berth_runtime::Error::Engine(format!(
                    "CannotCreateContainerError: container {}: {}",
                    spec.name,
                    engine_message(&e)
                ))
            })?;
        let stop_signal = self
            .inspect(&created.id)
            .await?
            .and_then(|c| c.config)
            .and_then(|c| c.stop_signal)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "SIGTERM".into());
        Ok(Created {
            id: created.id,
            stop_signal,
        })
    }
}

/// The engine's message of an error (without bollard's wrapping).
fn engine_message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

struct Created {
    id: String,
    stop_signal: String,
}

impl Runtime for DockerRuntime {
    type Task = TaskHandle;

    /// Makes (or adopts) the task's holder container — network mode `none`, the berth
    /// image running `berth pause`, the task's hostname — and adopts its network
    /// namespace with [`TaskNetwork::create_with_netns`].
    async fn create_network(
        &self,
        bridge: &Bridge,
        task_id: &str,
        config: &TaskNetConfig,
    ) -> berth_runtime::Result<Arc<TaskNetwork>> {
        self.require_image(PROXY_IMAGE, ": build it with `berth image build-proxy`")
            .await?;
        // The address (and so the default hostname) first: the holder's hostname is
        // the one every container of the task shares.
        let ipam = bridge.ipam()?;
        let had_ip = ipam.get(task_id)?.is_some();
        let ip = ipam.allocate(task_id)?;
        let hostname = config
            .hostname
            .clone()
            .unwrap_or_else(|| default_hostname(ip));
        let (holder, pid, fresh) = match self.running_holder(task_id).await? {
            Some((id, pid)) => (id, pid, false),
            None => match self.make_holder(task_id, &hostname).await {
                Ok((id, pid)) => (id, pid, true),
                Err(e) => {
                    if !had_ip {
                        let _ = ipam.release(task_id);
                    }
                    return Err(e.into());
                }
            },
        };
        let config = TaskNetConfig {
            hostname: Some(hostname),
        };
        let source = PathBuf::from(format!("/proc/{pid}/ns/net"));
        match TaskNetwork::create_with_netns(bridge, task_id, &config, &source).await {
            Ok(net) => {
                tracing::debug!(task_id, holder = %holder, pid, "task network on Docker");
                Ok(Arc::new(net))
            }
            Err(e) => {
                if fresh {
                    let _ = self.remove(&holder).await;
                }
                Err(e.into())
            }
        }
    }

    /// Removes the task's containers (killing what still runs) and its holder, then
    /// the task network. Idempotent.
    async fn destroy_network(&self, net: &TaskNetwork) -> berth_runtime::Result<()> {
        self.remove_task_containers(net.task_id()).await?;
        Ok(net.destroy().await?)
    }

    /// Removes berth's containers (holders included) of `tasks`.
    async fn cleanup_tasks(&self, tasks: &[String]) -> berth_runtime::Result<()> {
        for t in tasks {
            self.remove_task_containers(t).await?;
        }
        Ok(())
    }

    /// Checks the task (dependsOn graph, images present, secrets), creates every
    /// container (joined to the holder's network, the task's hosts file on
    /// `/etc/hosts`, `host_dirs` bind-mounted), then starts them in `dependsOn` order.
    async fn start_task(
        &self,
        net: Arc<TaskNetwork>,
        specs: Vec<ContainerSpec>,
        config: &TaskRuntimeConfig,
    ) -> berth_runtime::Result<TaskHandle> {
        let order = validate_task(&specs)?;
        for s in &specs {
            self.require_image(&s.image, "").await?;
        }
        let (holder, _) = self.running_holder(net.task_id()).await?.ok_or_else(|| {
            berth_runtime::Error::Engine(format!(
                "ResourceInitializationError: task {}: its network holder container {} does not run",
                net.task_id(),
                holder_name(net.task_id())
            ))
        })?;
        std::fs::create_dir_all(&config.log_dir).map_err(|e| {
            berth_runtime::Error::Engine(format!("create {}: {e}", config.log_dir.display()))
        })?;
        let created = self
            .create_containers(&net, &holder, &specs, config)
            .await?;
        let n = specs.len();
        let driver = DockerDriver {
            docker: self.docker.clone(),
            socket: self.socket.clone(),
            names: specs.iter().map(|s| s.name.clone()).collect(),
            containers: created,
            log_dir: config.log_dir.clone(),
            running: Arc::new(Mutex::new(vec![false; n])),
            abandoned: AtomicBool::new(false),
        };
        Ok(supervise(net.task_id(), specs, order, Arc::new(driver)))
    }
}

/// The containers of one task, created, for the supervisor.
struct DockerDriver {
    docker: Docker,
    socket: String,
    names: Vec<String>,
    containers: Vec<Created>,
    log_dir: PathBuf,
    running: Arc<Mutex<Vec<bool>>>,
    abandoned: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Appends the container's output, raw, to `log` until the container stops.
async fn follow_logs(docker: Docker, id: String, log: std::fs::File) {
    let mut file = tokio::fs::File::from_std(log);
    let options = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        ..LogsOptions::default()
    };
    let mut stream = docker.logs(&id, Some(options));
    while let Some(item) = stream.next().await {
        match item {
            Ok(out) => {
                if file.write_all(&out.into_bytes()).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                tracing::debug!(container = %id, error = %e, "log stream ended");
                break;
            }
        }
    }
    let _ = file.flush().await;
}

/// The exit code of a stopped container: from `wait`, else from inspecting it.
async fn wait_exit(docker: &Docker, id: &str) -> i32 {
    let options = WaitContainerOptions {
        condition: "not-running".into(),
    };
    let mut stream = docker.wait_container(id, Some(options));
    match stream.next().await {
        Some(Ok(r)) => return r.status_code as i32,
        Some(Err(DockerError::DockerContainerWaitError { code, .. })) => return code as i32,
        Some(Err(e)) => tracing::warn!(container = %id, error = %e, "waiting for a container"),
        None => {}
    }
    match docker.inspect_container(id, None).await {
        Ok(c) => c.state.and_then(|s| s.exit_code).map_or(-1, |c| c as i32),
        Err(_) => -1,
    }
}

impl DockerDriver {
    fn kill_running(&self, signal: &str) {
        let ids: Vec<String> = {
            let running = lock(&self.running);
            (0..self.containers.len())
                .filter(|&i| running[i])
                .map(|i| self.containers[i].id.clone())
                .collect()
        };
        if ids.is_empty() {
            return;
        }
        let signal = signal.to_string();
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                let docker = self.docker.clone();
                h.spawn(async move {
                    for id in ids {
                        kill(&docker, &id, &signal).await;
                    }
                });
            }
            // Outside a runtime: a thread of its own, with a client of its own.
            Err(_) => {
                let socket = self.socket.clone();
                std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async {
                        if let Ok(docker) = connect_socket(&socket).await {
                            for id in ids {
                                kill(&docker, &id, &signal).await;
                            }
                        }
                    });
                });
            }
        }
    }
}

async fn kill(docker: &Docker, id: &str, signal: &str) {
    let options = KillContainerOptions {
        signal: signal.to_string(),
    };
    if let Err(e) = docker.kill_container(id, Some(options)).await {
        // 409: not running (any more)
        tracing::debug!(container = %id, signal, error = %e, "kill");
    }
}

impl ContainerDriver for DockerDriver {
    async fn start(&self, idx: usize) -> std::result::Result<Started, String> {
        let name = &self.names[idx];
        let id = self.containers[idx].id.clone();
        let cannot = |m: String| format!("CannotStartContainerError: container {name}: {m}");
        let log_path = self.log_dir.join(format!("{name}.log"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| cannot(format!("open {}: {e}", log_path.display())))?;
        self.docker
            .start_container(&id, None)
            .await
            .map_err(|e| cannot(engine_message(&e)))?;
        lock(&self.running)[idx] = true;
        if self.abandoned.load(Ordering::SeqCst) {
            kill(&self.docker, &id, "SIGKILL").await;
        }
        let pid = match self.docker.inspect_container(&id, None).await {
            Ok(c) => c
                .state
                .and_then(|s| s.pid)
                .filter(|p| *p > 0)
                .map(|p| p as u32),
            Err(_) => None,
        };
        let logs = tokio::spawn(follow_logs(self.docker.clone(), id.clone(), log));
        let docker = self.docker.clone();
        let running = self.running.clone();
        let exit = async move {
            let code = wait_exit(&docker, &id).await;
            lock(&running)[idx] = false;
            // The log stream ends when the container stopped; give it a moment to
            // write the last output.
            let _ = tokio::time::timeout(Duration::from_secs(10), logs).await;
            code
        };
        Ok(Started {
            pid,
            exit: Box::pin(exit),
        })
    }

    fn signal(&self, idx: usize, signal: StopSignal) {
        if !lock(&self.running)[idx] {
            return;
        }
        let sig = match signal {
            StopSignal::Term => self.containers[idx].stop_signal.clone(),
            StopSignal::Kill => "SIGKILL".to_string(),
        };
        let docker = self.docker.clone();
        let id = self.containers[idx].id.clone();
        tokio::spawn(async move { kill(&docker, &id, &sig).await });
    }

    async fn check(&self, idx: usize, argv: Vec<String>, timeout: Duration) -> bool {
        let id = &self.containers[idx].id;
        let options = CreateExecOptions::<String> {
            cmd: Some(argv),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..CreateExecOptions::default()
        };
        let Ok(exec) = self.docker.create_exec(id, options).await else {
            return false;
        };
        let run = async {
            match self
                .docker
                .start_exec(&exec.id, Some(StartExecOptions::default()))
                .await
            {
                Ok(StartExecResults::Attached { mut output, .. }) => {
                    while let Some(Ok(_)) = output.next().await {}
                    true
                }
                Ok(StartExecResults::Detached) => true,
                Err(_) => false,
            }
        };
        let finished = match tokio::time::timeout(timeout, run).await {
            Ok(ran) => ran,
            Err(_) => {
                // Docker has no "kill exec": kill its process (a host pid) directly.
                if let Ok(i) = self.docker.inspect_exec(&exec.id).await {
                    if let Some(pid) = i.pid.filter(|p| *p > 0) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
                return false;
            }
        };
        if !finished {
            return false;
        }
        // The output stream can end a moment before the exit code is recorded.
        for _ in 0..50 {
            match self.docker.inspect_exec(&exec.id).await {
                Ok(i) if i.running == Some(false) => return i.exit_code == Some(0),
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(_) => return false,
            }
        }
        false
    }

    fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        self.kill_running("SIGKILL");
    }
}

/// The path of a container's log file (for callers that want to read it).
pub fn log_path(log_dir: &Path, container: &str) -> PathBuf {
    log_dir.join(format!("{container}.log"))
}

/// The bind mounts of a container: the task's hosts file, and the container's own
/// `host_dirs` (the proxy's admin socket directory is one, of the proxy's definition
/// only), nothing else of the host.
fn container_mounts(hosts: &Path, spec: &ContainerSpec) -> Vec<Mount> {
    let bind = |source: &Path, target: &Path| Mount {
        source: Some(source.display().to_string()),
        target: Some(target.display().to_string()),
        typ: Some(MountType::BIND),
        ..Mount::default()
    };
    let mut mounts = vec![bind(hosts, Path::new("/etc/hosts"))];
    mounts.extend(spec.host_dirs.iter().map(|d| bind(d, d)));
    mounts
}

/// Capability names as Docker takes them (`NET_ADMIN`, `ALL`); `None` for none.
fn names(caps: &[berth_runtime::CapabilityName]) -> Option<Vec<String>> {
    (!caps.is_empty()).then(|| caps.iter().map(ToString::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_containers_own_host_dirs_are_mounted() {
        let hosts = Path::new("/etc/netns/berth-x/hosts");
        let mut proxy = ContainerSpec::new("ecs-service-connect", PROXY_IMAGE);
        proxy.host_dirs = vec![PathBuf::from("/run/berth/proxy/t")];
        let app = ContainerSpec::from_json(&serde_json::json!({
            "name": "app", "image": "busybox", "hostDirs": ["/run/berth"]
        }))
        .unwrap();
        let targets = |spec: &ContainerSpec| -> Vec<String> {
            container_mounts(hosts, spec)
                .into_iter()
                .map(|m| m.target.unwrap())
                .collect()
        };
        assert_eq!(targets(&app), ["/etc/hosts"], "no admin socket directory");
        assert_eq!(targets(&proxy), ["/etc/hosts", "/run/berth/proxy/t"]);
    }

    #[test]
    fn capability_changes_go_to_docker_as_named() {
        let app = ContainerSpec::from_json(&serde_json::json!({
            "name": "app", "image": "busybox",
            "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}
        }))
        .unwrap();
        assert_eq!(names(&app.capabilities.add), Some(vec!["NET_ADMIN".into()]));
        assert_eq!(names(&app.capabilities.drop), Some(vec!["ALL".into()]));
        assert_eq!(names(&[]), None, "Docker's default set");
    }
}
