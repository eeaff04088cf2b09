//! [`ProcessRuntime`]: every container of a task is a process (tree) inside the task's
//! namespaces: its network namespace, and the PID, mount, IPC and UTS namespaces of the
//! task's [`Sandbox`], joined with [`Sandbox::command`] and [`Sandbox::spawn`].

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_tasknet::{Bridge, Sandbox, SandboxConfig, TaskNetConfig, TaskNetwork};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::caps::CapabilitySet;
use crate::error::{Error, Result};
use crate::image::{combine_argv, ImageMap};
use crate::secrets::ResolvedSecrets;
use crate::spec::{validate_task, ContainerSpec};
use crate::supervisor::{supervise, ContainerDriver, Started, StopSignal, TaskHandle};
use crate::user::{resolve_user, ResolvedUser};
use crate::Runtime;

/// `PATH` of a container whose image map entry and definition set none (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How a task's containers are run.
#[derive(Clone, Debug)]
pub struct TaskRuntimeConfig {
    /// Directory of the task's logs: container `c` writes stdout and stderr, raw (no
    /// prefix, as the process wrote them), to `<log_dir>/c.log`, appending. Created
    /// if missing. The agent gives each task its own directory.
    pub log_dir: PathBuf,
    pub image_map: Arc<ImageMap>,
    pub secrets: Arc<ResolvedSecrets>,
    /// Variables every container gets, after the image's and before its own (e.g.
    /// `ECS_CONTAINER_METADATA_URI_V4`).
    pub extra_env: Vec<(String, String)>,
    /// Host directories the task must not see (process runtime: each is covered by an
    /// empty read-only tmpfs in the task's mount namespace; absolute, not `/`): the
    /// agent's, such as `/run/berth` (proxies' admin sockets) and its state directory
    /// (every task's logs). The Docker runtime's containers see none of the host's
    /// directories anyway.
    pub hidden_paths: Vec<PathBuf>,
}

/// Runs containers as processes. Stateless: everything of a task is in its
/// [`TaskHandle`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessRuntime;

impl Runtime for ProcessRuntime {
    type Task = TaskHandle;

    async fn create_network(
        &self,
        bridge: &Bridge,
        task_id: &str,
        config: &TaskNetConfig,
    ) -> Result<Arc<TaskNetwork>> {
        Ok(Arc::new(
            TaskNetwork::create(bridge, task_id, config).await?,
        ))
    }

    async fn destroy_network(&self, net: &TaskNetwork) -> Result<()> {
        Ok(net.destroy().await?)
    }

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
        let setpriv = find_setpriv();
        let prepared = specs
            .iter()
            .map(|s| prepare(s, config, net.hostname(), setpriv.as_deref()))
            .collect::<Result<Vec<_>>>()?;
        std::fs::create_dir_all(&config.log_dir)
            .map_err(|e| Error::io(format!("create {}", config.log_dir.display()), e))?;
        let mut host_dirs: Vec<PathBuf> = Vec::new();
        for d in specs.iter().flat_map(|s| &s.host_dirs) {
            if !host_dirs.contains(d) {
                host_dirs.push(d.clone());
            }
        }
        let sandbox_config = SandboxConfig {
            hidden: config.hidden_paths.clone(),
            host_dirs,
        };
        let sandbox = net.sandbox(&sandbox_config).map_err(Error::Sandbox)?;
        let n = specs.len();
        let driver = ProcessDriver {
            sandbox,
            names: specs.iter().map(|s| s.name.clone()).collect(),
            prepared,
            log_dir: config.log_dir.clone(),
            pgids: Mutex::new(vec![None; n]),
            registry: Arc::new(Mutex::new(Registry::default())),
        };
        Ok(supervise(net.task_id(), specs, order, Arc::new(driver)))
    }
}

/// Containers as process groups in the task's namespaces.
struct ProcessDriver {
    sandbox: Sandbox,
    names: Vec<String>,
    prepared: Vec<Prepared>,
    log_dir: PathBuf,
    /// The process group of each started container.
    pgids: Mutex<Vec<Option<i32>>>,
    registry: Arc<Mutex<Registry>>,
}

impl ContainerDriver for ProcessDriver {
    async fn start(&self, idx: usize) -> std::result::Result<Started, String> {
        let p = &self.prepared[idx];
        let name = &self.names[idx];
        let log_path = self.log_dir.join(format!("{name}.log"));
        let spawned = open_log(&log_path).and_then(|log| {
            let err = log.try_clone()?;
            let mut cmd = build_command(&self.sandbox, p, &p.argv)?;
            cmd.stdout(log).stderr(err);
            spawn_in(&self.sandbox, cmd)
        });
        let mut child = spawned.map_err(|e| {
            format!(
                "CannotStartContainerError: container {name}: start {:?}: {e}",
                p.argv[0]
            )
        })?;
        let pid = child.id().expect("a child that was just spawned has an id");
        let pgid = pid as i32;
        register(&self.registry, pgid);
        lock(&self.pgids)[idx] = Some(pgid);
        let registry = self.registry.clone();
        let exit = async move {
            let code = match child.wait().await {
                Ok(st) => exit_code(st),
                Err(_) => -1,
            };
            // As when a container's init exits: the rest of the container dies with it.
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            unregister(&registry, pgid);
            code
        };
        Ok(Started {
            pid: Some(pid),
            exit: Box::pin(exit),
        })
    }

    fn signal(&self, idx: usize, signal: StopSignal) {
        let Some(pgid) = lock(&self.pgids)[idx] else {
            return;
        };
        let sig = match signal {
            StopSignal::Term => Signal::SIGTERM,
            StopSignal::Kill => Signal::SIGKILL,
        };
        let _ = killpg(Pid::from_raw(pgid), sig);
    }

    async fn check(&self, idx: usize, argv: Vec<String>, timeout: Duration) -> bool {
        run_check(
            &self.sandbox,
            &self.prepared[idx],
            &argv,
            timeout,
            &self.registry,
        )
        .await
    }

    fn abandon(&self) {
        let mut reg = lock(&self.registry);
        reg.dropped = true;
        for &g in &reg.groups {
            let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
        }
        self.sandbox.kill();
    }

    fn finished(&self) {
        self.sandbox.kill();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The live process groups of a task (containers and running health checks).
#[derive(Debug, Default)]
struct Registry {
    groups: BTreeSet<i32>,
    /// The handle was dropped: kill whatever is registered from now on.
    dropped: bool,
}

fn register(registry: &Mutex<Registry>, pgid: i32) {
    let mut reg = lock(registry);
    if reg.dropped {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    reg.groups.insert(pgid);
}

fn unregister(registry: &Mutex<Registry>, pgid: i32) {
    lock(registry).groups.remove(&pgid);
}

/// What a container runs with, resolved before anything starts.
#[derive(Clone, Debug)]
struct Prepared {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: String,
    /// `setpriv` and its options: the user and capabilities the container runs with.
    setpriv: Vec<String>,
    read_only: bool,
}

/// Where `setpriv` (util-linux) is on the host.
fn find_setpriv() -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join("setpriv"))
        .find(|p| p.is_file())
}

fn prepare(
    spec: &ContainerSpec,
    config: &TaskRuntimeConfig,
    hostname: &str,
    setpriv: Option<&Path>,
) -> Result<Prepared> {
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
    if spec.privileged {
        return Err(cannot(
            "privileged is not supported by the process runtime: its containers share the host's file system, so a privileged one would be root on the host; use linuxParameters.capabilities.add, or the Docker runtime".into(),
        ));
    }
    if spec.readonly_root_filesystem && image.writes_root_filesystem {
        return Err(cannot(format!(
            "readonlyRootFilesystem: image {:?} (map entry {:?}) writes to its root file system (writesRootFilesystem in the image map)",
            spec.image, image.pattern
        )));
    }
    let user = match &spec.user {
        None => None,
        Some(u) => Some(resolve_user(u).map_err(&cannot)?),
    };
    let setpriv = setpriv.ok_or_else(|| {
        cannot("setpriv (util-linux) is not installed on the host: it sets a container's user and capabilities".into())
    })?;
    let setpriv = setpriv_argv(setpriv, user.as_ref(), spec.capabilities.resolve());
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
        setpriv,
        read_only: spec.readonly_root_filesystem,
    })
}

/// `setpriv` with the options that make the container run as `user` (root without
/// supplementary groups when `None`) with the capabilities `caps` as bounding set:
/// root's permitted and effective sets are then `caps` (a root process's sets after
/// `exec` are its bounding set), another user's are empty; no inheritable nor ambient
/// capabilities (Docker's sets since Engine 23).
fn setpriv_argv(setpriv: &Path, user: Option<&ResolvedUser>, caps: CapabilitySet) -> Vec<String> {
    let mut v = vec![setpriv.display().to_string()];
    match user {
        Some(u) => {
            v.push(format!("--reuid={}", u.uid));
            v.push(format!("--regid={}", u.gid));
            v.push(if u.name.is_some() {
                "--init-groups".into()
            } else {
                "--clear-groups".into()
            });
        }
        None => v.extend([
            "--reuid=0".into(),
            "--regid=0".into(),
            "--clear-groups".into(),
        ]),
    }
    v.push("--inh-caps=-all".into());
    v.push("--ambient-caps=-all".into());
    let mut bounding = String::from("--bounding-set=-all");
    for name in caps.setpriv_names() {
        bounding.push_str(",+");
        bounding.push_str(&name);
    }
    v.push(bounding);
    v.push("--".into());
    v
}

/// A command running `argv` inside the task as the container's user, with its
/// capabilities, environment and working directory (and read-only root file system),
/// in a process group of its own. Spawn it with [`spawn_in`].
///
/// The user and capabilities are set by `setpriv` (util-linux) inside the task: the
/// switch must come after joining the namespaces, which needs every capability.
fn build_command(
    sandbox: &Sandbox,
    p: &Prepared,
    argv: &[String],
) -> std::io::Result<tokio::process::Command> {
    let mut full = p.setpriv.clone();
    full.extend(argv.iter().cloned());
    let mut cmd = sandbox
        .command(&full[0], Path::new(&p.cwd), p.read_only)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    cmd.args(&full[1..])
        .env_clear()
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .process_group(0)
        .stdin(Stdio::null());
    Ok(tokio::process::Command::from(cmd))
}

/// Spawns `cmd` (from [`build_command`]) in the task's PID namespace.
fn spawn_in(
    sandbox: &Sandbox,
    mut cmd: tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    let handle = tokio::runtime::Handle::current();
    sandbox.spawn(move || {
        let _entered = handle.enter();
        cmd.spawn()
    })
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

fn open_log(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// One health check run: success iff it exits 0 within `timeout`.
async fn run_check(
    sandbox: &Sandbox,
    p: &Prepared,
    argv: &[String],
    timeout: Duration,
    registry: &Mutex<Registry>,
) -> bool {
    let Ok(mut cmd) = build_command(sandbox, p, argv) else {
        return false;
    };
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let Ok(mut child) = spawn_in(sandbox, cmd) else {
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
