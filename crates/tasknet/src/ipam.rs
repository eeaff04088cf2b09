//! Task addresses of one bridge, kept in `<state dir>/<bridge>.json`.
//!
//! Every change takes an exclusive `flock` on `<bridge>.lock`, reads the state, changes
//! it, writes it to a temporary file and renames that over the state file, so a crash
//! leaves the old state or the new one, and two agents (or an agent and a test) never
//! lose each other's changes. The state file doubles as the record of which task ids
//! own objects: [`TaskNetwork::create`](crate::TaskNetwork::create) allocates before it
//! creates anything, and [`TaskNetwork::destroy`](crate::TaskNetwork::destroy) releases
//! after it removed everything.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::validate_task_id;
use crate::subnet::Ipv4Subnet;

const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct State {
    version: u32,
    bridge: String,
    subnet: Ipv4Subnet,
    /// The address given out last: the next allocation starts after it, so a released
    /// address is reused as late as possible (stale ARP entries and connections of the
    /// old task then have long expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<Ipv4Addr>,
    allocations: BTreeMap<String, Ipv4Addr>,
    /// The addresses of container instances (agents) on the bridge, by name: no task's,
    /// so crash cleanups, which remove tasks, leave them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    instances: BTreeMap<String, Ipv4Addr>,
}

/// The address allocator of one bridge, persisted under a state directory so that an
/// agent restart keeps every task's address. Cheap to clone; every call reads and
/// writes the file under a lock.
#[derive(Clone, Debug)]
pub struct Ipam {
    bridge: String,
    subnet: Ipv4Subnet,
    path: PathBuf,
    lock_path: PathBuf,
}

impl Ipam {
    /// Opens (creating the directory, not yet the file) the allocator of `bridge` for
    /// `subnet`. Fails if the state file exists for another subnet: its allocations
    /// would be outside the bridge's subnet.
    pub fn open(state_dir: &Path, bridge: &str, subnet: Ipv4Subnet) -> Result<Ipam> {
        crate::names::validate_ifname("bridge name", bridge)?;
        fs::create_dir_all(state_dir)
            .map_err(|e| Error::io("create state directory", state_dir.display(), e))?;
        let ipam = Ipam {
            bridge: bridge.to_string(),
            subnet,
            path: state_dir.join(format!("{bridge}.json")),
            lock_path: state_dir.join(format!("{bridge}.lock")),
        };
        let _lock = ipam.lock()?;
        ipam.read()?;
        Ok(ipam)
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The subnet addresses come from.
    pub fn subnet(&self) -> Ipv4Subnet {
        self.subnet
    }

    /// The address of `task_id`: the one it has, or the next free one (recorded before
    /// this returns).
    pub fn allocate(&self, task_id: &str) -> Result<Ipv4Addr> {
        validate_task_id(task_id)?;
        let _lock = self.lock()?;
        let mut state = self.read()?;
        if let Some(ip) = state.allocations.get(task_id) {
            return Ok(*ip);
        }
        let ip = self.next_free(&mut state, task_id)?;
        state.allocations.insert(task_id.to_string(), ip);
        self.write(&state)?;
        Ok(ip)
    }

    /// The address of the container instance `name`: the one it has, or the next free
    /// one (recorded before this returns).
    pub fn allocate_instance(&self, name: &str) -> Result<Ipv4Addr> {
        validate_task_id(name)?;
        let _lock = self.lock()?;
        let mut state = self.read()?;
        if let Some(ip) = state.instances.get(name) {
            return Ok(*ip);
        }
        let ip = self.next_free(&mut state, name)?;
        state.instances.insert(name.to_string(), ip);
        self.write(&state)?;
        Ok(ip)
    }

    /// Forgets the address of the container instance `name`.
    pub fn release_instance(&self, name: &str) -> Result<Option<Ipv4Addr>> {
        let _lock = self.lock()?;
        let mut state = self.read()?;
        let ip = state.instances.remove(name);
        if ip.is_some() {
            self.write(&state)?;
        }
        Ok(ip)
    }

    /// The next address no task or instance has, after the last one given out
    /// (wrapping around); moves `last` to it.
    fn next_free(&self, state: &mut State, for_whom: &str) -> Result<Ipv4Addr> {
        let used: std::collections::HashSet<Ipv4Addr> = (state.allocations.values())
            .chain(state.instances.values())
            .copied()
            .collect();
        let first = u32::from(self.subnet.gateway()) + 1;
        let last = u32::from(self.subnet.broadcast()).saturating_sub(1);
        let start = match state.last {
            Some(l) if self.subnet.contains(l) && u32::from(l) < last => u32::from(l) + 1,
            _ => first,
        };
        // from start to the end, then wrap around to the beginning
        let ip = (start..=last)
            .chain(first..start)
            .map(Ipv4Addr::from)
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| Error::Exhausted {
                subnet: self.subnet,
                task_id: for_whom.to_string(),
            })?;
        state.last = Some(ip);
        Ok(ip)
    }

    /// Forgets the address of `task_id`, returning it if it had one.
    pub fn release(&self, task_id: &str) -> Result<Option<Ipv4Addr>> {
        let _lock = self.lock()?;
        let mut state = self.read()?;
        let ip = state.allocations.remove(task_id);
        if ip.is_some() {
            self.write(&state)?;
        }
        Ok(ip)
    }

    /// The address of `task_id`, if it has one.
    pub fn get(&self, task_id: &str) -> Result<Option<Ipv4Addr>> {
        let _lock = self.lock()?;
        Ok(self.read()?.allocations.get(task_id).copied())
    }

    /// Every task id and its address.
    pub fn allocations(&self) -> Result<BTreeMap<String, Ipv4Addr>> {
        let _lock = self.lock()?;
        Ok(self.read()?.allocations)
    }

    /// Removes the state file if no address is allocated; `Ok(true)` if it is gone.
    pub(crate) fn remove_if_empty(&self) -> Result<bool> {
        let _lock = self.lock()?;
        let state = self.read()?;
        if !state.allocations.is_empty() || !state.instances.is_empty() {
            return Ok(false);
        }
        for p in [&self.path, &self.lock_path] {
            match fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", p.display(), e)),
            }
        }
        Ok(true)
    }

    fn lock(&self) -> Result<Flock<File>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_path)
            .map_err(|e| Error::io("open lock file", self.lock_path.display(), e))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::sys("lock", self.lock_path.display(), e))
    }

    fn read(&self) -> Result<State> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(State {
                    version: STATE_VERSION,
                    bridge: self.bridge.clone(),
                    subnet: self.subnet,
                    last: None,
                    allocations: BTreeMap::new(),
                    instances: BTreeMap::new(),
                })
            }
            Err(e) => return Err(Error::io("read", self.path.display(), e)),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| Error::State {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let bad = |reason: String| Error::State {
            path: self.path.clone(),
            reason,
        };
        if state.version != STATE_VERSION {
            return Err(bad(format!(
                "version {} is not {STATE_VERSION}",
                state.version
            )));
        }
        if state.subnet != self.subnet {
            return Err(bad(format!(
                "it is for subnet {}, the bridge is configured with {}; release its tasks or remove it",
                state.subnet, self.subnet
            )));
        }
        Ok(state)
    }

    fn write(&self, state: &State) -> Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(state).expect("state serializes");
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| Error::io("write", self.path.display(), e))
    }
}

/// Task ids recorded in every state file of `state_dir` but `except` (another bridge's
/// tasks must not look like strays to this one). Read without locks: files are only
/// ever replaced whole by `rename`.
pub(crate) fn tasks_of_other_bridges(state_dir: &Path, except: &str) -> Result<Vec<String>> {
    let entries = match fs::read_dir(state_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", state_dir.display(), e)),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", state_dir.display(), e))?;
        let path = entry.path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if path.extension().and_then(|e| e.to_str()) != Some("json") || stem == except {
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        if let Ok(state) = serde_json::from_str::<State>(&text) {
            ids.extend(state.allocations.into_keys());
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(s: &str) -> Ipv4Subnet {
        s.parse().unwrap()
    }

    #[test]
    fn allocate_is_stable_and_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::open(dir.path(), "bt0", subnet("10.213.9.0/24")).unwrap();
        let a = ipam.allocate("a").unwrap();
        let b = ipam.allocate("b").unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 213, 9, 2));
        assert_eq!(b, Ipv4Addr::new(10, 213, 9, 3));
        assert_eq!(ipam.allocate("a").unwrap(), a);
        let again = Ipam::open(dir.path(), "bt0", subnet("10.213.9.0/24")).unwrap();
        assert_eq!(again.get("b").unwrap(), Some(b));
        assert_eq!(again.allocate("a").unwrap(), a);
        assert_eq!(again.release("a").unwrap(), Some(a));
        assert_eq!(again.release("a").unwrap(), None);
        // released addresses are reused last
        assert_eq!(again.allocate("c").unwrap(), Ipv4Addr::new(10, 213, 9, 4));
        assert!(Ipam::open(dir.path(), "bt0", subnet("10.213.8.0/24")).is_err());
        assert_eq!(tasks_of_other_bridges(dir.path(), "bt1").unwrap().len(), 2);
        assert!(tasks_of_other_bridges(dir.path(), "bt0")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn instances_take_addresses_no_task_gets_and_are_no_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::open(dir.path(), "bt0", subnet("10.213.9.0/24")).unwrap();
        let t = ipam.allocate("t").unwrap();
        let i = ipam.allocate_instance("/var/lib/agent").unwrap();
        assert_ne!(t, i);
        assert_eq!(
            ipam.allocate_instance("/var/lib/agent").unwrap(),
            i,
            "stable"
        );
        assert!(!ipam.allocate("u").is_ok_and(|u| u == i || u == t));
        assert!(!ipam.allocations().unwrap().values().any(|a| *a == i));
        ipam.release("t").unwrap();
        ipam.release("u").unwrap();
        assert!(
            ipam.remove_if_empty().is_ok_and(|gone| !gone),
            "the instance's"
        );
        assert_eq!(ipam.release_instance("/var/lib/agent").unwrap(), Some(i));
        assert!(ipam.remove_if_empty().unwrap());
    }

    #[test]
    fn exhaustion_and_wraparound() {
        let dir = tempfile::tempdir().unwrap();
        // /29: .0 network, .1 gateway, .2-.6 tasks, .7 broadcast
        let ipam = Ipam::open(dir.path(), "bt0", subnet("10.213.9.0/29")).unwrap();
        let ips: Vec<_> = (0..5)
            .map(|i| ipam.allocate(&format!("t{i}")).unwrap())
            .collect();
        assert_eq!(ips.first(), Some(&Ipv4Addr::new(10, 213, 9, 2)));
        assert_eq!(ips.last(), Some(&Ipv4Addr::new(10, 213, 9, 6)));
        assert!(matches!(ipam.allocate("t5"), Err(Error::Exhausted { .. })));
        ipam.release("t1").unwrap();
        assert_eq!(ipam.allocate("t5").unwrap(), Ipv4Addr::new(10, 213, 9, 3));
        assert!(ipam.remove_if_empty().is_ok_and(|gone| !gone));
    }
}
