//! Finding and removing what a crashed agent left behind.
//!
//! What belongs to a bridge is known from its IPAM state file: every task id recorded
//! there may have a namespace `berth-<hash>`, a veth `bv<hash>` and a directory
//! `/etc/netns/berth-<hash>`, since the record is written before any of them is made
//! and removed after all of them are gone. Besides those, veths attached to the bridge
//! are the bridge's whatever their name. Namespaces and `/etc/netns` directories with
//! berth names that no state file of the state directory records are reported as
//! strays (`task_id: None`) but left alone by [`cleanup_except`]: they may belong to
//! another berth with another state directory. [`Leftover::remove`] removes one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::bridge::Bridge;
use crate::error::{Error, Result};
use crate::ipam;
use crate::names::{is_netns_name, netns_name, veth_name};
use crate::netlink::Netlink;
use crate::netns;
use crate::task::teardown;

/// Something of a task network found by [`scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leftover {
    /// An address recorded in the bridge's IPAM state.
    Allocation { task_id: String, ip: Ipv4Addr },
    /// A berth network namespace, `/run/netns/<name>`.
    Netns {
        name: String,
        task_id: Option<String>,
    },
    /// A veth attached to the bridge, or named after a task of the bridge.
    Veth {
        name: String,
        task_id: Option<String>,
    },
    /// A berth directory of per-namespace files, `/etc/netns/<name>`.
    EtcDir {
        path: PathBuf,
        task_id: Option<String>,
    },
}

impl Leftover {
    /// The task it belongs to, if the bridge's state records one.
    pub fn task_id(&self) -> Option<&str> {
        match self {
            Leftover::Allocation { task_id, .. } => Some(task_id),
            Leftover::Netns { task_id, .. }
            | Leftover::Veth { task_id, .. }
            | Leftover::EtcDir { task_id, .. } => task_id.as_deref(),
        }
    }

    /// Removes this one object (the whole task, for an [`Allocation`](Self::Allocation)
    /// or any other leftover with a task id). Idempotent.
    pub async fn remove(&self, bridge: &Bridge) -> Result<()> {
        if let Some(task_id) = self.task_id() {
            return teardown(&bridge.ipam()?, task_id).await;
        }
        match self {
            Leftover::Netns { name, .. } => {
                netns::remove(name)?;
            }
            Leftover::Veth { name, .. } => {
                Netlink::host()?.delete_link(name).await?;
            }
            Leftover::EtcDir { path, .. } => match std::fs::remove_dir_all(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", path.display(), e)),
            },
            Leftover::Allocation { .. } => unreachable!("allocations have a task id"),
        }
        Ok(())
    }
}

/// Lists the bridge's task networks as they are: its IPAM allocations, berth network
/// namespaces, veths attached to it (or named after its tasks) and berth `/etc/netns`
/// directories. Each carries the task id the bridge's state knows it by, or `None` for
/// a stray (see the module docs).
pub async fn scan(bridge: &Bridge) -> Result<Vec<Leftover>> {
    // Kernel objects and files first, records second: a task being created right now
    // is recorded before its objects exist, so nothing seen here lacks a record below
    // for a reason other than being a real stray (or being destroyed right now).
    let links = Netlink::host()?.links().await?;
    let netns_names = netns::list(is_netns_name)?;
    let etc_names = netns::list_etc(is_netns_name)?;

    let allocations: BTreeMap<String, Ipv4Addr> = bridge.ipam()?.allocations()?;
    let mut by_netns = HashMap::new();
    let mut by_veth = HashMap::new();
    for task_id in allocations.keys() {
        by_netns.insert(netns_name(task_id), task_id.clone());
        by_veth.insert(veth_name(task_id), task_id.clone());
    }
    let others: HashSet<String> = ipam::tasks_of_other_bridges(bridge.state_dir(), bridge.name())?
        .iter()
        .map(|t| netns_name(t))
        .collect();

    let mut out: Vec<Leftover> = allocations
        .iter()
        .map(|(task_id, ip)| Leftover::Allocation {
            task_id: task_id.clone(),
            ip: *ip,
        })
        .collect();
    for name in netns_names {
        let task_id = by_netns.get(&name).cloned();
        if task_id.is_some() || !others.contains(&name) {
            out.push(Leftover::Netns { name, task_id });
        }
    }
    let bridge_index = links
        .iter()
        .find(|l| l.name == bridge.name())
        .map(|l| l.index);
    for link in links {
        let task_id = by_veth.get(&link.name).cloned();
        let attached = bridge_index.is_some() && link.controller == bridge_index;
        if task_id.is_some() || attached {
            out.push(Leftover::Veth {
                name: link.name,
                task_id,
            });
        }
    }
    for name in etc_names {
        let task_id = by_netns.get(&name).cloned();
        if task_id.is_some() || !others.contains(&name) {
            out.push(Leftover::EtcDir {
                path: netns::etc_dir(&name),
                task_id,
            });
        }
    }
    Ok(out)
}

/// What an agent restart does after a crash: removes every task network of the bridge
/// whose task id is not in `known` (namespace, veth, `/etc/netns` directory, address)
/// and every veth attached to the bridge that no task owns. Stray namespaces and
/// directories no state file records are left alone (see the module docs). Returns
/// what it removed. Then call [`TaskNetwork::create`](crate::TaskNetwork::create) for
/// each known task to adopt its network.
pub async fn cleanup_except<I>(bridge: &Bridge, known: I) -> Result<Vec<Leftover>>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let known: HashSet<String> = known.into_iter().map(|k| k.as_ref().to_string()).collect();
    let found = scan(bridge).await?;
    let mut removed = Vec::new();
    let mut done = HashSet::new();
    for leftover in found {
        let remove = match leftover.task_id() {
            Some(task_id) => !known.contains(task_id),
            None => matches!(leftover, Leftover::Veth { .. }),
        };
        if !remove {
            continue;
        }
        // One teardown per task removes all of its objects.
        let first = leftover
            .task_id()
            .is_none_or(|t| done.insert(t.to_string()));
        if first {
            leftover.remove(bridge).await?;
        }
        tracing::info!(
            bridge = bridge.name(),
            ?leftover,
            "removed a leftover task network object"
        );
        removed.push(leftover);
    }
    Ok(removed)
}
