//! Starting a process inside a task: what `ip netns exec` does, done in the child
//! between `fork` and `exec`.
//!
//! This is the crate's only `unsafe` code (the workspace denies `unsafe` everywhere else):
//! `std::os::unix::process::CommandExt::pre_exec` is an `unsafe fn`, because its closure
//! runs in the forked child of a possibly multi-threaded parent, where only
//! async-signal-safe operations are allowed. The closure below keeps to that: it only
//! makes system calls (`open`, `setns`, `close`, `unshare`, `mount`, `sethostname`) on
//! C strings prepared before the fork, allocates nothing, takes no lock, and turns
//! errors into `io::Error::from_raw_os_error`, which allocates nothing either. A failing
//! step fails `Command::spawn` with that step's OS error (e.g. `ENOENT` when the task's
//! namespace is gone).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, OsString};
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::Mode;
use nix::unistd::sethostname;

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
        let err = |e: nix::errno::Errno| io::Error::from_raw_os_error(e as i32);
        let ns = open(
            self.netns.as_c_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(err)?;
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(err)?;
        drop(ns);
        unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS).map_err(err)?;
        mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&CStr>,
        )
        .map_err(err)?;
        for (src, dst) in &self.binds {
            mount(
                Some(src.as_c_str()),
                dst.as_c_str(),
                None::<&CStr>,
                MsFlags::MS_BIND,
                None::<&CStr>,
            )
            .map_err(err)?;
        }
        sethostname(&self.hostname).map_err(err)?;
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
