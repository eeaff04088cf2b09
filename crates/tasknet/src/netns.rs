//! Named network namespaces, the iproute2 way: a namespace is kept alive by a bind mount
//! of its nsfs file on `/run/netns/<name>`, and per-namespace files of `/etc` live in
//! `/etc/netns/<name>/`. Everything here is safe code: `nix` wraps `unshare`, `setns`
//! and `mount` in safe functions.
//!
//! Namespaces are entered on short-lived threads made for the purpose: a thread's
//! network namespace is per thread (`setns(CLONE_NEWNET)` is allowed in a
//! multi-threaded process), and a thread that leaves nothing behind when it exits can
//! never hand a namespace-switched thread back to a pool.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::{statfs, NSFS_MAGIC};

use crate::error::{Error, Result};

/// Where named network namespaces are mounted (iproute2's `NETNS_RUN_DIR`).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Where per-namespace `/etc` files live (iproute2's `NETNS_ETC_DIR`): `ip netns exec NAME`
/// bind-mounts every file of `/etc/netns/NAME/` over the same file in `/etc`.
pub const ETC_NETNS_DIR: &str = "/etc/netns";

/// `/run/netns/<name>`.
pub(crate) fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// `/etc/netns/<name>`.
pub(crate) fn etc_dir(name: &str) -> PathBuf {
    Path::new(ETC_NETNS_DIR).join(name)
}

/// Whether `path` is a mounted namespace file (and not, say, the empty file a crash
/// between creating and mounting left).
pub(crate) fn is_netns_mount(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC)
}

/// Makes `/run/netns` a shared mount point, as `ip netns add` does, so that the
/// namespace mounts (and their removal) propagate into the mount namespaces of
/// processes started in tasks, whose mounts are slaves of the host's.
fn prepare_run_dir() -> Result<()> {
    let dir = Path::new(NETNS_RUN_DIR);
    fs::create_dir_all(dir).map_err(|e| Error::io("create", dir.display(), e))?;
    let shared = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        // Not a mount point yet: bind it onto itself first.
        Err(Errno::EINVAL) => {
            mount(
                Some(dir),
                dir,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| Error::sys("bind-mount", dir.display(), e))?;
            shared().map_err(|e| Error::sys("make shared", dir.display(), e))
        }
        Err(e) => Err(Error::sys("make shared", dir.display(), e)),
    }
}

/// Creates the named network namespace `name` unless it exists (`ip netns add`).
/// Returns its path and whether it was created now.
pub(crate) fn ensure(name: &str) -> Result<(PathBuf, bool)> {
    let path = netns_path(name);
    if is_netns_mount(&path) {
        return Ok((path, false));
    }
    prepare_run_dir()?;
    // The mount point: an empty file. It may exist already, left by a crash between
    // creating it and mounting on it.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o000)
        .open(&path)
        .map_err(|e| Error::io("create", path.display(), e))?;
    let target = path.clone();
    let made = std::thread::scope(|s| {
        s.spawn(move || -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::sys("create network namespace", target.display(), e))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| Error::sys("mount network namespace", target.display(), e))
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    if let Err(e) = made {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok((path, true))
}

/// Makes `/run/netns/<name>` a mount of the network namespace file `source` (e.g.
/// `/proc/<pid>/ns/net` of a container's process): kept if it already is a mount of
/// that namespace, replaced if it is one of another namespace (a holder that was made
/// anew). Returns whether it mounted now.
pub(crate) fn adopt(name: &str, source: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let src = fs::metadata(source).map_err(|e| Error::io("stat", source.display(), e))?;
    if !statfs(source).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC) {
        return Err(Error::io(
            "adopt network namespace",
            source.display(),
            io::Error::new(io::ErrorKind::InvalidInput, "not a namespace file"),
        ));
    }
    let path = netns_path(name);
    if is_netns_mount(&path) {
        let same = fs::metadata(&path).is_ok_and(|m| m.dev() == src.dev() && m.ino() == src.ino());
        if same {
            return Ok(false);
        }
        umount2(&path, MntFlags::MNT_DETACH)
            .map_err(|e| Error::sys("unmount network namespace", path.display(), e))?;
    }
    prepare_run_dir()?;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o000)
        .open(&path)
        .map_err(|e| Error::io("create", path.display(), e))?;
    mount(
        Some(source),
        &path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::sys("mount network namespace", path.display(), e))?;
    Ok(true)
}

/// Removes the named network namespace (`ip netns delete`): unmounts and unlinks its
/// file. The namespace itself lives on while a process is still in it. `Ok(false)` if
/// there was nothing to remove.
pub(crate) fn remove(name: &str) -> Result<bool> {
    let path = netns_path(name);
    let mut removed = false;
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) => removed = true,
        // not mounted, or no such file
        Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys("unmount network namespace", path.display(), e)),
    }
    match fs::remove_file(&path) {
        Ok(()) => removed = true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", path.display(), e)),
    }
    Ok(removed)
}

/// Names in `/run/netns` that satisfy `keep`.
pub(crate) fn list(keep: impl Fn(&str) -> bool) -> Result<Vec<String>> {
    list_dir(Path::new(NETNS_RUN_DIR), keep)
}

/// Names in `/etc/netns` that satisfy `keep`.
pub(crate) fn list_etc(keep: impl Fn(&str) -> bool) -> Result<Vec<String>> {
    list_dir(Path::new(ETC_NETNS_DIR), keep)
}

fn list_dir(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir.display(), e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir.display(), e))?;
        if let Some(name) = entry.file_name().to_str() {
            if keep(name) {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Opens the namespace file (close-on-exec, as `std` opens every file).
pub(crate) fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| Error::io("open network namespace", path.display(), e))
}

/// Runs `f` on a new thread that first joined the network namespace at `path`, and
/// returns its result. Panics in `f` are resumed on the calling thread.
pub(crate) fn run_in<F, R>(path: &Path, f: F) -> Result<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    let ns = open(path)?;
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(&ns, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::sys("enter network namespace", path.display(), e))?;
            drop(ns);
            Ok(f())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}
