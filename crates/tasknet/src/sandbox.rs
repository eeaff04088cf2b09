//! [`Sandbox`]: the namespaces a task's processes share besides its network: PID,
//! mount, IPC and UTS, held by an init process of the task's own.
//!
//! # The init
//!
//! [`TaskNetwork::sandbox`](crate::TaskNetwork::sandbox) starts the task's init: on a
//! short-lived thread that made a new PID namespace for its children
//! (`unshare(CLONE_NEWPID)`), it spawns `/bin/sh` (shown as `berth-init`), which is
//! therefore PID 1 of that namespace. Before `exec` it joins the task's network
//! namespace and makes new mount, IPC and UTS namespaces, set up as described below.
//! Then it gives up every capability (bounding, ambient, permitted, effective and
//! inheritable sets empty): it needs none to wait, and a process of the task that
//! could trace it gains nothing. Its script ignores the signals it can and waits
//! forever (`sleep … & wait` in a loop):
//! a shell's `wait` reaps every child, so processes of the task that are orphaned and
//! reparented to PID 1 do not stay zombies.
//!
//! The kernel delivers to a PID namespace's init only the signals it has a handler for
//! when they come from inside the namespace, so `kill -9 1` in a task does nothing.
//! When the init dies (SIGKILL from the host: [`Sandbox::kill`], dropping the
//! [`Sandbox`], or an agent's crash cleanup killing everything in the task's network
//! namespace), the kernel kills every process of the PID namespace: nothing of the task
//! outlives it, not even a process that left its process group.
//!
//! # Joining
//!
//! [`Sandbox::command`] makes a [`Command`] whose child joins the task's network, IPC,
//! UTS and mount namespaces before `exec`; [`Sandbox::spawn`] spawns it from a
//! short-lived thread that joined the task's PID namespace for its children
//! (`setns(CLONE_NEWPID)`, which only affects children, hence the thread), so the
//! process is born in the task, as a child of the caller (which waits for it and gets
//! its exit status as usual) and is seen by the host under its host PID. A command
//! spawned any other way fails (`EINVAL`) rather than run in the host's PID namespace.
//!
//! # The file system
//!
//! The task sees the host's file system with these differences, in its mount namespace
//! (whose mounts are slaves of the host's: nothing mounted in the task leaks out, and a
//! host unmounting a namespace file still reaches in):
//!
//! * `/etc/hosts` and `/etc/hostname` are the task's (`/etc/netns/berth-<id>/…`).
//! * Hidden directories are covered by an empty read-only tmpfs: `/etc/netns` (other
//!   tasks' files) and those of [`SandboxConfig::hidden`] (the agent's: `/run/berth`
//!   with the proxies' admin sockets, its state directory with every task's logs).
//! * [`SandboxConfig::host_dirs`] are bind-mounted at their own path, also inside a
//!   hidden directory (a task's proxy sees its own admin socket directory, and only it).
//! * `/proc` is a new procfs of the task's PID namespace (only the task's processes);
//!   Docker's read-only paths (`/proc/sys`, `/proc/sysrq-trigger`, …) are read-only and
//!   its masked paths (`/proc/kcore`, `/proc/keys`, …, `/sys/firmware`) hidden.
//! * `/sys` is read-only; `/dev/shm` and `/dev/mqueue` are new (the IPC namespace's).
//!
//! A container with a read-only root file system gets a mount namespace of its own,
//! copied from the task's, in which every mount is read-only except `/proc`,
//! `/dev/shm`, `/dev/mqueue`, `/dev/pts`, the task's `/etc/hosts` and `/etc/hostname`,
//! and the host directories (what Docker keeps writable).
//!
//! Needs root and Linux 5.12 (`mount_setattr`).

use std::ffi::{CString, OsStr};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{Error, Result};
use crate::exec::{init_before_exec, join_before_exec, InitSetup, Join, TaskNamespaces};
use crate::netns::ETC_NETNS_DIR;
use crate::task::TaskNetwork;

/// The name a task's init shows in `ps` (its `argv[0]`).
pub const INIT_NAME: &str = "berth-init";

/// What PID 1 of a task runs: ignore what can be ignored, reap forever.
const INIT_SCRIPT: &str =
    "trap '' HUP INT QUIT PIPE ALRM TERM USR1 USR2; while :; do sleep 2147483647 & wait; done";

/// How a task's [`Sandbox`] is set up.
#[derive(Clone, Debug, Default)]
pub struct SandboxConfig {
    /// Host directories the task must not see (covered by an empty read-only tmpfs);
    /// absolute, not `/`. Those that do not exist are skipped. `/etc/netns` is always
    /// hidden.
    pub hidden: Vec<PathBuf>,
    /// Host directories the task sees at the same path, writable, also when they are
    /// inside a hidden one (created if missing); absolute.
    pub host_dirs: Vec<PathBuf>,
}

/// One task's PID, mount, IPC and UTS namespaces, held by its init (see the module
/// docs). Dropping it kills the init, and with it every process of the task.
pub struct Sandbox {
    task_id: String,
    init: Mutex<Option<Child>>,
    init_pid: u32,
    ns: Arc<TaskNamespaces>,
    /// The mounts a read-only container keeps writable.
    writable: Arc<Vec<CString>>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("task_id", &self.task_id)
            .field("init_pid", &self.init_pid)
            .finish_non_exhaustive()
    }
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("path", p.display().to_string(), "contains a NUL byte"))
}

/// The directories to hide: `/etc/netns` and `config.hidden`, checked, existing ones
/// only, none inside another (the outer tmpfs hides it already).
fn hidden_dirs(config: &SandboxConfig) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut all = vec![PathBuf::from(ETC_NETNS_DIR)];
    all.extend(config.hidden.iter().cloned());
    for h in &all {
        if !h.is_absolute() || h.parent().is_none() {
            return Err(Error::invalid(
                "hidden directory",
                h.display().to_string(),
                "must be absolute and not /",
            ));
        }
    }
    all.sort_by_key(|p| p.components().count());
    for h in all {
        if h.is_dir() && !out.iter().any(|o| h.starts_with(o)) {
            out.push(h);
        }
    }
    Ok(out)
}

/// The mount points to make inside hidden directories for `host_dirs`, parents first.
fn mount_points(hidden: &[PathBuf], host_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for d in host_dirs {
        let Some(h) = hidden.iter().find(|h| d.starts_with(h) && d != *h) else {
            continue;
        };
        let mut chain: Vec<PathBuf> = d
            .ancestors()
            .take_while(|a| a != h)
            .map(Path::to_path_buf)
            .collect();
        chain.reverse();
        for c in chain {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// The bind mounts of a task: (host source, target).
fn bind_list(net: &TaskNetwork, host_dirs: &[PathBuf]) -> Vec<(PathBuf, PathBuf)> {
    let mut binds = vec![(net.hosts_path(), PathBuf::from("/etc/hosts"))];
    if Path::new("/etc/hostname").is_file() {
        binds.push((net.hostname_path(), PathBuf::from("/etc/hostname")));
    }
    binds.extend(host_dirs.iter().map(|d| (d.clone(), d.clone())));
    binds
}

impl Sandbox {
    /// Starts the init of the task whose network is `net` (see the module docs).
    pub(crate) fn create(net: &TaskNetwork, config: &SandboxConfig) -> Result<Sandbox> {
        let hidden = hidden_dirs(config)?;
        for d in &config.host_dirs {
            if !d.is_absolute() {
                return Err(Error::invalid(
                    "host directory",
                    d.display().to_string(),
                    "must be absolute",
                ));
            }
            std::fs::create_dir_all(d).map_err(|e| Error::io("create", d.display(), e))?;
        }
        let binds = bind_list(net, &config.host_dirs);
        let bind_c = (binds.iter())
            .map(|(src, dst)| Ok((cstr(src)?, cstr(dst)?)))
            .collect::<Result<Vec<_>>>()?;
        let setup = InitSetup {
            netns: cstr(net.netns_path())?,
            hide: hidden.iter().map(|h| cstr(h)).collect::<Result<_>>()?,
            mkdirs: (mount_points(&hidden, &config.host_dirs).iter())
                .map(|p| cstr(p))
                .collect::<Result<_>>()?,
            binds: bind_c,
            trees: Vec::new(),
            hostname: net.hostname().into(),
        };
        let mut writable: Vec<CString> = ["/proc", "/dev/shm", "/dev/mqueue", "/dev/pts"]
            .iter()
            .map(|p| cstr(Path::new(p)))
            .collect::<Result<_>>()?;
        for (_, dst) in &binds {
            writable.push(cstr(dst)?);
        }
        let what = format!("the init of task {}", net.task_id());
        let child = spawn_init(setup).map_err(|e| Error::io("start", &what, e))?;
        let init_pid = child.id();
        let sandbox = Sandbox {
            task_id: net.task_id().to_string(),
            init: Mutex::new(Some(child)),
            init_pid,
            ns: Arc::new(
                open_namespaces(init_pid)
                    .map_err(|e| Error::io("open the namespaces of", &what, e))?,
            ),
            writable: Arc::new(writable),
        };
        Ok(sandbox)
    }

    /// The host PID of the task's init (PID 1 inside).
    pub fn init_pid(&self) -> u32 {
        self.init_pid
    }

    /// A [`Command`] whose child joins the task (network, IPC, UTS and mount
    /// namespaces) and changes to `cwd` there; with `read_only`, its root file system
    /// is read-only (see the module docs). Spawn it with [`spawn`](Self::spawn); the
    /// rest (arguments, environment, stdio, process group) is the caller's to set.
    pub fn command(
        &self,
        program: impl AsRef<OsStr>,
        cwd: &Path,
        read_only: bool,
    ) -> Result<Command> {
        let mut cmd = Command::new(program);
        let join = Join {
            ns: self.ns.clone(),
            cwd: cstr(cwd)?,
            read_only: read_only.then(|| self.writable.clone()),
        };
        join_before_exec(&mut cmd, join);
        Ok(cmd)
    }

    /// Runs `spawn` (which spawns a [`command`](Self::command) of this sandbox) on a
    /// short-lived thread whose children are born in the task's PID namespace, and
    /// returns what it returns. `spawn` may spawn with `tokio::process` after entering
    /// a runtime handle on that thread.
    pub fn spawn<T: Send>(&self, spawn: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(&self.ns.pid, CloneFlags::CLONE_NEWPID).map_err(io::Error::from)?;
                spawn()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Whether the init still runs (the task can take processes).
    pub fn is_alive(&self) -> bool {
        let mut init = self.init.lock().unwrap_or_else(|p| p.into_inner());
        init.as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILLs the task's init, and so every process of the task. Idempotent.
    pub fn kill(&self) {
        let taken = self.init.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = taken {
            let _ = child.kill();
            // The init exits once every process of its namespace was reaped, some of
            // them by the caller's runtime: wait for it off this thread.
            let _ = std::thread::Builder::new()
                .name("berth-init-reaper".into())
                .spawn(move || child.wait());
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns the init on a thread that made a new PID namespace for its children.
fn spawn_init(setup: InitSetup) -> io::Result<Child> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg0(INIT_NAME)
        .args(["-c", INIT_SCRIPT])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    init_before_exec(&mut cmd, setup);
    std::thread::scope(|s| {
        s.spawn(|| {
            unshare(CloneFlags::CLONE_NEWPID).map_err(io::Error::from)?;
            cmd.spawn()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Opens the namespaces of the init `pid`, a child of this process not yet reaped (so
/// its PID cannot have been reused).
fn open_namespaces(pid: u32) -> io::Result<TaskNamespaces> {
    let open = |kind: &str| File::open(format!("/proc/{pid}/ns/{kind}")).map(OwnedFd::from);
    let pid_ns = open("pid")?;
    let meta = File::from(pid_ns.try_clone()?).metadata()?;
    Ok(TaskNamespaces {
        pid_id: (meta.dev(), meta.ino()),
        pid: pid_ns,
        net: open("net")?,
        ipc: open("ipc")?,
        uts: open("uts")?,
        mnt: open("mnt")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_dirs_are_checked_and_nested_ones_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        let config = SandboxConfig {
            hidden: vec![
                inner.clone(),
                dir.path().to_path_buf(),
                dir.path().join("missing"),
            ],
            host_dirs: vec![],
        };
        let h = hidden_dirs(&config).unwrap();
        assert!(h.contains(&dir.path().to_path_buf()), "{h:?}");
        assert!(!h.contains(&inner), "inside another: {h:?}");
        assert!(!h.iter().any(|p| p.ends_with("missing")), "{h:?}");
        for bad in ["/", "relative/dir"] {
            let c = SandboxConfig {
                hidden: vec![PathBuf::from(bad)],
                host_dirs: vec![],
            };
            let e = hidden_dirs(&c).unwrap_err().to_string();
            assert!(e.contains("hidden directory"), "{e}");
        }
    }

    #[test]
    fn mount_points_inside_hidden_dirs_parents_first() {
        let hidden = vec![PathBuf::from("/run/berth"), PathBuf::from("/var/lib/x")];
        let dirs = vec![
            PathBuf::from("/run/berth/proxy/t1"),
            PathBuf::from("/run/berth/proxy/t2"),
            PathBuf::from("/var/lib/x"),
            PathBuf::from("/srv/data"),
        ];
        assert_eq!(
            mount_points(&hidden, &dirs),
            vec![
                PathBuf::from("/run/berth/proxy"),
                PathBuf::from("/run/berth/proxy/t1"),
                PathBuf::from("/run/berth/proxy/t2"),
            ]
        );
    }
}
