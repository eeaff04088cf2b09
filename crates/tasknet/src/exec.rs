//! Starting a process inside a task: what `ip netns exec` does ([`Enter`]), what a
//! task's init does to make its namespaces ([`InitSetup`]), and what a container does
//! to join them ([`Join`]), each done in the child between `fork` and `exec`.
//!
//! This is the crate's only `unsafe` code (the workspace denies `unsafe` everywhere else):
//! `std::os::unix::process::CommandExt::pre_exec` is an `unsafe fn`, because its closure
//! runs in the forked child of a possibly multi-threaded parent, where only
//! async-signal-safe operations are allowed; and `mount_setattr(2)` has no safe wrapper
//! yet. The closures below keep to that: they only make system calls (`open`, `setns`,
//! `close`, `unshare`, `mount`, `open_tree`, `move_mount`, `mount_setattr`, `mkdir`,
//! `chdir`, `sethostname`, `stat`, `prctl`, `capset`) on C strings and file descriptors prepared before the fork, allocate nothing,
//! take no lock, and turn errors into `io::Error::from_raw_os_error`, which allocates
//! nothing either. A failing step fails `Command::spawn` with that step's OS error (e.g.
//! `ENOENT` when the task's namespace is gone).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::{stat, Mode};
use nix::unistd::{chdir, mkdir, sethostname};

fn os_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// What the child does before `exec`.
pub(crate) struct Enter {
    /// The task's network namespace file, `/run/netns/berth-<id>`.
    pub netns: CString,
    /// Bind mounts of task files over files of `/etc`: (source, target).
    pub binds: Vec<(CString, CString)>,
    /// The UTS hostname to set in a new UTS namespace.
    pub hostname: OsString,
}

impl Enter {
    /// Runs in the forked child: joins the task's network namespace, then a new mount
    /// namespace whose mounts are slaves of the host's (so nothing mounted here leaks
    /// out, while the host unmounting a namespace file still reaches in), bind-mounts
    /// the task's files over `/etc/hosts` and `/etc/hostname`, and sets the hostname in
    /// a new UTS namespace.
    fn run(&self) -> io::Result<()> {
        let ns = open(
            self.netns.as_c_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(os_err)?;
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(os_err)?;
        drop(ns);
        unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS).map_err(os_err)?;
        make_slave()?;
        for (src, dst) in &self.binds {
            bind(src, dst)?;
        }
        sethostname(&self.hostname).map_err(os_err)?;
        Ok(())
    }
}

/// Makes `cmd` run its child inside the task (see [`Enter::run`]).
pub(crate) fn enter_before_exec(cmd: &mut Command, enter: Enter) {
    // SAFETY: the closure only makes system calls on data prepared before the fork and
    // allocates nothing (see the module docs), so it is async-signal-safe; `enter` is
    // moved into the closure and lives as long as `cmd`.
    unsafe {
        cmd.pre_exec(move || enter.run());
    }
}

/// Paths of `/proc` that are mounted read-only in a task (Docker's list).
const PROC_READ_ONLY: [&CStr; 5] = [
    c"/proc/bus",
    c"/proc/fs",
    c"/proc/irq",
    c"/proc/sys",
    c"/proc/sysrq-trigger",
];

/// Files hidden under `/dev/null` in a task (Docker's list).
const MASKED_FILES: [&CStr; 6] = [
    c"/proc/kcore",
    c"/proc/keys",
    c"/proc/latency_stats",
    c"/proc/timer_list",
    c"/proc/timer_stats",
    c"/proc/sched_debug",
];

/// Directories hidden under an empty read-only tmpfs in a task (Docker's list).
const MASKED_DIRS: [&CStr; 5] = [
    c"/proc/acpi",
    c"/proc/asound",
    c"/proc/scsi",
    c"/sys/firmware",
    c"/sys/devices/virtual/powercap",
];

/// What a task's init does before it `exec`s: the task's namespaces and its view of
/// the file system (see [`crate::Sandbox`]).
pub(crate) struct InitSetup {
    /// The task's network namespace file.
    pub netns: CString,
    /// Directories covered by an empty read-only tmpfs.
    pub hide: Vec<CString>,
    /// Mount points to make inside hidden directories, parents first.
    pub mkdirs: Vec<CString>,
    /// Bind mounts: (source, target). Each source is cloned (`open_tree`) before
    /// anything is hidden and attached (`move_mount`) after.
    pub binds: Vec<(CString, CString)>,
    /// One slot per bind mount for the cloned tree's descriptor (allocated before the
    /// fork: the child only writes into it).
    pub trees: Vec<libc::c_int>,
    /// The task's hostname, set in its UTS namespace.
    pub hostname: OsString,
}

impl InitSetup {
    /// Runs in the forked child, which is PID 1 of a new PID namespace: joins the task's
    /// network namespace, makes new mount, IPC and UTS namespaces, and in the mount
    /// namespace: mounts become slaves of the host's; hidden directories get an empty
    /// tmpfs (read-only once the bind mounts inside are made); the bind mounts; a
    /// `/proc` of the new PID namespace with Docker's read-only and masked paths; `/sys`
    /// read-only; a new `/dev/shm` and `/dev/mqueue` (the IPC namespace's). Then the
    /// hostname, and it gives up every capability.
    fn run(&mut self) -> io::Result<()> {
        self.enter_namespaces()?;
        self.hide_and_bind()?;
        mount_task_proc()?;
        mount_task_ipc()?;
        sethostname(&self.hostname).map_err(os_err)?;
        chdir(c"/").map_err(os_err)?;
        drop_all_capabilities()
    }

    /// Joins the task's network namespace; new mount, IPC and UTS namespaces whose
    /// mounts are slaves of the host's.
    fn enter_namespaces(&self) -> io::Result<()> {
        let ns = open(
            self.netns.as_c_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(os_err)?;
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(os_err)?;
        drop(ns);
        unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS)
            .map_err(os_err)?;
        make_slave()
    }

    /// Clones the bind sources, covers the hidden directories with an empty tmpfs, makes
    /// the mount points inside them, attaches the clones, then makes the tmpfs read-only.
    fn hide_and_bind(&mut self) -> io::Result<()> {
        for (slot, (src, _)) in self.trees.iter_mut().zip(&self.binds) {
            *slot = open_tree(src)?;
        }
        for h in &self.hide {
            mount(
                Some(c"tmpfs"),
                h.as_c_str(),
                Some(c"tmpfs"),
                QUIET,
                Some(c"mode=755,size=16k"),
            )
            .map_err(os_err)?;
        }
        for d in &self.mkdirs {
            match mkdir(d.as_c_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(os_err(e)),
            }
        }
        for (tree, (_, dst)) in self.trees.iter().zip(&self.binds) {
            move_mount(*tree, dst)?;
        }
        for h in &self.hide {
            mount(
                None::<&CStr>,
                h.as_c_str(),
                None::<&CStr>,
                QUIET | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&CStr>,
            )
            .map_err(os_err)?;
        }
        Ok(())
    }
}

/// Mount flags of everything a task's init mounts: no setuid, devices or exec.
const QUIET: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// A `/proc` of the task's PID namespace with Docker's read-only and masked paths, and
/// `/sys` read-only.
fn mount_task_proc() -> io::Result<()> {
    mount(Some(c"proc"), c"/proc", Some(c"proc"), QUIET, None::<&CStr>).map_err(os_err)?;
    for p in PROC_READ_ONLY {
        if skip_missing(bind(p, p))? {
            continue;
        }
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | QUIET;
        mount(None::<&CStr>, p, None::<&CStr>, ro, None::<&CStr>).map_err(os_err)?;
    }
    for f in MASKED_FILES {
        skip_missing(bind(c"/dev/null", f))?;
    }
    for d in MASKED_DIRS {
        let r = mount(
            Some(c"tmpfs"),
            d,
            Some(c"tmpfs"),
            QUIET | MsFlags::MS_RDONLY,
            None::<&CStr>,
        );
        skip_missing(r.map_err(os_err))?;
    }
    skip_missing(set_read_only(c"/sys", true, true))?;
    Ok(())
}

/// A `/dev/shm` and `/dev/mqueue` of the task's IPC namespace.
fn mount_task_ipc() -> io::Result<()> {
    let shm = mount(
        Some(c"shm"),
        c"/dev/shm",
        Some(c"tmpfs"),
        QUIET,
        Some(c"mode=1777,size=65536k"),
    );
    skip_missing(shm.map_err(os_err))?;
    let mq = mount(
        Some(c"mqueue"),
        c"/dev/mqueue",
        Some(c"mqueue"),
        QUIET,
        None::<&CStr>,
    );
    skip_missing(mq.map_err(os_err))?;
    Ok(())
}

/// Leaves the calling process, and what it `exec`s as root, without any capability:
/// the bounding and ambient sets are emptied, then the effective, permitted and
/// inheritable sets (a task's init needs none once its namespaces are made, and a
/// process of the task that could trace it must gain nothing by it).
fn drop_all_capabilities() -> io::Result<()> {
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                break; // past the last capability of this kernel
            }
            return Err(e);
        }
    }
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    // _LINUX_CAPABILITY_VERSION_3: two data records (capabilities 0-31, 32-63).
    let header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let none = [
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
    ];
    // SAFETY: `header` and `none` are valid `cap_user_header_t` and two
    // `cap_user_data_t` records, only read by the kernel during the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, none.as_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `cmd` (the task's init, spawned on a thread that made a new PID namespace)
/// set up the task's namespaces before it runs (see [`InitSetup::run`]).
pub(crate) fn init_before_exec(cmd: &mut Command, mut setup: InitSetup) {
    setup.trees = vec![-1; setup.binds.len()];
    // SAFETY: as in `enter_before_exec`: system calls only, on data prepared before the
    // fork, no allocation (the child only writes into `trees`, allocated here).
    unsafe {
        cmd.pre_exec(move || setup.run());
    }
}

/// The namespaces of a running task, open, for containers to join.
pub(crate) struct TaskNamespaces {
    pub pid: OwnedFd,
    pub net: OwnedFd,
    pub ipc: OwnedFd,
    pub uts: OwnedFd,
    pub mnt: OwnedFd,
    /// The PID namespace's identity (device and inode of its nsfs file).
    pub pid_id: (u64, u64),
}

/// What a container does before it `exec`s to join a task (see [`Join::run`]).
pub(crate) struct Join {
    pub ns: Arc<TaskNamespaces>,
    /// The working directory, in the task's mount namespace.
    pub cwd: CString,
    /// Set for a read-only root file system: the mounts that stay writable.
    pub read_only: Option<Arc<Vec<CString>>>,
}

impl Join {
    /// Runs in the forked child, which must have been forked into the task's PID
    /// namespace (else `EINVAL`: see [`crate::Sandbox::spawn`]): joins the task's
    /// network, IPC, UTS and mount namespaces; for a read-only root file system, makes
    /// a mount namespace of its own where every mount is read-only but the writable
    /// ones; then changes to the working directory (joining a mount namespace moves a
    /// process to its root).
    fn run(&self) -> io::Result<()> {
        let st = stat(c"/proc/self/ns/pid").map_err(os_err)?;
        if (st.st_dev, st.st_ino) != self.ns.pid_id {
            return Err(os_err(Errno::EINVAL));
        }
        setns(&self.ns.net, CloneFlags::CLONE_NEWNET).map_err(os_err)?;
        setns(&self.ns.ipc, CloneFlags::CLONE_NEWIPC).map_err(os_err)?;
        setns(&self.ns.uts, CloneFlags::CLONE_NEWUTS).map_err(os_err)?;
        setns(&self.ns.mnt, CloneFlags::CLONE_NEWNS).map_err(os_err)?;
        if let Some(writable) = &self.read_only {
            unshare(CloneFlags::CLONE_NEWNS).map_err(os_err)?;
            set_read_only(c"/", true, true)?;
            for w in writable.iter() {
                match set_read_only(w, false, false) {
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINVAL)) => {}
                    r => r?,
                }
            }
        }
        chdir(self.cwd.as_c_str()).map_err(os_err)
    }
}

/// Makes `cmd` join a task before it runs (see [`Join::run`]).
pub(crate) fn join_before_exec(cmd: &mut Command, join: Join) {
    // SAFETY: as in `enter_before_exec`: system calls only, on data prepared before the
    // fork (`join` owns it; the descriptors live as long as `cmd`), no allocation.
    unsafe {
        cmd.pre_exec(move || join.run());
    }
}

fn make_slave() -> io::Result<()> {
    mount(
        None::<&CStr>,
        c"/",
        None::<&CStr>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&CStr>,
    )
    .map_err(os_err)
}

fn bind(src: &CStr, dst: &CStr) -> io::Result<()> {
    mount(
        Some(src),
        dst,
        None::<&CStr>,
        MsFlags::MS_BIND,
        None::<&CStr>,
    )
    .map_err(os_err)
}

/// `Ok(true)` for "there is no such path", which a step may skip; other errors stay.
fn skip_missing(r: io::Result<()>) -> io::Result<bool> {
    match r {
        Ok(()) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(true),
        Err(e) => Err(e),
    }
}

/// `OPEN_TREE_CLONE` of `open_tree(2)`: a detached copy of the mount.
const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `MOVE_MOUNT_F_EMPTY_PATH` of `move_mount(2)`: the source is the descriptor itself.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// A detached bind mount of `path` (`open_tree(OPEN_TREE_CLONE)`, Linux 5.2), to be
/// attached later with [`move_mount`]: it stays reachable once `path` is hidden.
fn open_tree(path: &CStr) -> io::Result<libc::c_int> {
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: `path` is a valid C string the kernel only reads during the call.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd as libc::c_int)
}

/// Attaches the detached mount `tree` (from [`open_tree`]) at `target` and closes it.
fn move_mount(tree: libc::c_int, target: &CStr) -> io::Result<()> {
    // SAFETY: `tree` is a descriptor this process opened; the strings are valid C
    // strings the kernel only reads during the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    let err = (r < 0).then(io::Error::last_os_error);
    let _ = nix::unistd::close(tree);
    err.map_or(Ok(()), Err)
}

/// `MOUNT_ATTR_RDONLY` of `mount_setattr(2)`.
const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `AT_RECURSIVE`: the whole mount tree under the path.
const AT_RECURSIVE: libc::c_int = 0x8000;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes the mount at `path` (and with `recursive` every mount under it) read-only,
/// or writable again, with `mount_setattr(2)` (Linux 5.12).
pub(crate) fn set_read_only(path: &CStr, recursive: bool, read_only: bool) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: if read_only { MOUNT_ATTR_RDONLY } else { 0 },
        attr_clr: if read_only { 0 } else { MOUNT_ATTR_RDONLY },
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `path` is a valid C string and `attr` a valid `struct mount_attr` whose
    // size is passed along; the kernel only reads them during the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
