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

/// The tasks this agent (with this state directory) ran: those with a directory
/// under `tasks/`.
pub fn own_tasks(state_dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(state_dir.join("tasks"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

/// Removes what is left of the tasks an earlier run of this agent ran (`own_tasks`),
/// and nothing of other agents sharing the bridge: the runtime's leftovers first, then
/// every process inside a leftover task namespace, then the namespaces. Returns the
/// tasks that had something left.
pub async fn cleanup<R: Runtime>(
    runtime: &R,
    bridge: &Bridge,
    state_dir: &Path,
) -> Result<Vec<String>> {
    let mine = own_tasks(state_dir);
    runtime.cleanup_tasks(&mine).await?;
    for id in &mine {
        let _ = std::fs::remove_dir_all(crate::task::proxy_dir(id));
    }
    let leftovers = berth_tasknet::scan(bridge).await?;
    let mut found: Vec<String> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    for l in &leftovers {
        let Some(id) = l.task_id() else { continue };
        if !mine.iter().any(|m| m == id) {
            others.push(id.to_string());
            continue;
        }
        if let berth_tasknet::Leftover::Netns { name, .. } = l {
            kill_all_in(&Path::new(berth_tasknet::NETNS_RUN_DIR).join(name)).await;
        }
        if !found.iter().any(|f| f == id) {
            found.push(id.to_string());
        }
    }
    berth_tasknet::cleanup_except(bridge, others.iter()).await?;
    if !found.is_empty() {
        info!(
            count = found.len(),
            "removed what an earlier run of this agent left behind"
        );
    }
    Ok(found)
}
