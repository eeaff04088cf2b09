//! What a crashed agent left behind: processes still running in task namespaces, the
//! namespaces, veths and hosts files, and (Docker) berth's containers.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_runtime::Runtime;
use berth_tasknet::Bridge;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tracing::info;

use crate::error::Result;

/// The pids of the processes whose network namespace is the one mounted at `netns`.
pub fn processes_in(netns: &Path) -> Vec<i32> {
    let Ok(ns) = std::fs::metadata(netns) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(m) = std::fs::metadata(e.path().join("ns/net")) {
            if m.dev() == ns.dev() && m.ino() == ns.ino() {
                out.push(pid);
            }
        }
    }
    out
}

/// SIGKILLs every process in the namespace at `netns` and waits (up to 5 s) until
/// none is left.
pub async fn kill_all_in(netns: &Path) {
    for _ in 0..50 {
        let pids = processes_in(netns);
        if pids.is_empty() {
            return;
        }
        for p in pids {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Removes everything of tasks this agent does not run: the runtime's leftovers
/// first, then every process inside a leftover task namespace, then the namespaces.
pub async fn cleanup<R: Runtime>(runtime: &R, bridge: &Bridge) -> Result<usize> {
    runtime.cleanup_except(&[]).await?;
    let leftovers = berth_tasknet::scan(bridge).await?;
    for l in &leftovers {
        if let berth_tasknet::Leftover::Netns {
            name,
            task_id: Some(_),
        } = l
        {
            kill_all_in(&Path::new(berth_tasknet::NETNS_RUN_DIR).join(name)).await;
        }
    }
    let removed = berth_tasknet::cleanup_except(bridge, std::iter::empty::<String>()).await?;
    if !removed.is_empty() {
        info!(
            count = removed.len(),
            "removed what an earlier agent left behind"
        );
    }
    Ok(removed.len())
}
