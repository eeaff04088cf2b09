//! Task placement, decided purely: each unplaced task goes to the connected ACTIVE
//! instance with room for it that runs the fewest tasks (spread), within the
//! instance's registered CPU and MEMORY, which FARGATE tasks do not use up, and with
//! none of the task's fixed host ports in use there (the instance's reserved ports,
//! `PORTS` and `PORTS_UDP` of its registered resources, and the fixed host ports of its
//! tasks, as ECS tracks them). A task that fits nowhere gets the closest instance and
//! what it lacks, which ECS says in a service event and RunTask's `failures`.

use std::collections::BTreeSet;

use crate::records::{ContainerInstance, LaunchType, Task};
use crate::taskdef::{NetworkMode, TaskDefinition, TransportProtocol};

/// A host port: its protocol and number.
pub type HostPort = (TransportProtocol, u16);

/// The registered resources that list an instance's reserved ports, per protocol.
pub const PORT_RESOURCES: [(&str, TransportProtocol); 2] = [
    ("PORTS", TransportProtocol::Tcp),
    ("PORTS_UDP", TransportProtocol::Udp),
];

/// The ports the ECS agent reserves on an instance by default (`ECS_RESERVED_PORTS`):
/// SSH, the Docker daemon, the agent's introspection and credentials endpoints.
pub const AGENT_RESERVED_PORTS: [u16; 5] = [22, 2375, 2376, 51678, 51679];

/// What a task asks of its instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Demand {
    /// CPU units.
    pub cpu: i64,
    /// MiB.
    pub memory: i64,
    /// Fixed host ports.
    pub ports: BTreeSet<HostPort>,
}

/// A container instance as placement sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Capacity {
    /// Registered CPU units (0: not limited).
    pub cpu: i64,
    /// Registered MiB (0: not limited).
    pub memory: i64,
    /// Tasks on it that are not STOPPED.
    pub tasks: usize,
    /// CPU units those tasks use up.
    pub cpu_used: i64,
    /// MiB those tasks use up.
    pub memory_used: i64,
    /// Host ports reserved or taken by those tasks' fixed host ports.
    pub ports_used: BTreeSet<HostPort>,
}

/// What an instance lacks for a task, in the order placement checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shortfall {
    /// Not enough CPU units left.
    Cpu,
    /// Not enough memory left.
    Memory,
    /// A fixed host port of the task is in use there.
    Ports,
}

impl Shortfall {
    /// How a service event says it of the closest instance.
    pub fn event_text(self) -> &'static str {
        match self {
            Shortfall::Cpu => "has insufficient CPU units available",
            Shortfall::Memory => "has insufficient memory available",
            Shortfall::Ports => "is already using a port required by your task",
        }
    }

    /// RunTask's failure reason.
    pub fn failure_reason(self) -> &'static str {
        match self {
            Shortfall::Cpu => "RESOURCE:CPU",
            Shortfall::Memory => "RESOURCE:MEMORY",
            Shortfall::Ports => "RESOURCE:PORTS",
        }
    }
}

/// Why a task was not placed: the instance that came closest (an index) and the first
/// thing it lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unfit {
    pub closest: usize,
    pub shortfall: Shortfall,
}

/// Where a task goes: an instance (an index), or why none took it (`None`: there is no
/// instance at all).
pub type Choice = Result<usize, Option<Unfit>>;

impl Capacity {
    /// What this instance lacks for `d`, in check order (empty: it fits).
    fn shortfalls(&self, d: &Demand) -> Vec<Shortfall> {
        let mut out = Vec::new();
        if self.cpu != 0 && self.cpu_used + d.cpu > self.cpu {
            out.push(Shortfall::Cpu);
        }
        if self.memory != 0 && self.memory_used + d.memory > self.memory {
            out.push(Shortfall::Memory);
        }
        if !self.ports_used.is_disjoint(&d.ports) {
            out.push(Shortfall::Ports);
        }
        out
    }

    /// Charges the instance with a task.
    pub fn take(&mut self, d: &Demand) {
        self.tasks += 1;
        self.cpu_used += d.cpu;
        self.memory_used += d.memory;
        self.ports_used.extend(d.ports.iter().copied());
    }
}

/// The fixed host ports of a task definition's port mappings, which its tasks take on
/// their instance: in bridge mode the mappings' non-zero `hostPort`s, in host mode
/// every container port; none in awsvpc mode (each task has its own interface) or
/// without a definition. Container port ranges get dynamic host ports.
pub fn fixed_host_ports(td: Option<&TaskDefinition>) -> BTreeSet<HostPort> {
    let Some(td) = td else {
        return BTreeSet::new();
    };
    let mode = td.network_mode();
    let mappings = td
        .container_definitions
        .iter()
        .flat_map(|c| &c.port_mappings);
    mappings
        .filter_map(|m| {
            let port = match mode {
                NetworkMode::Awsvpc | NetworkMode::None => None,
                NetworkMode::Host => m.host_port.or(m.container_port),
                NetworkMode::Bridge => m.host_port.filter(|p| *p != 0),
            }?;
            Some((m.protocol, u16::try_from(port).ok()?))
        })
        .collect()
}

/// What a task asks of its instance, given its task definition: the task-level CPU
/// units and MiB, and its fixed host ports. FARGATE tasks count nothing: on AWS their
/// capacity is not any container instance's, and on berth they share the host as they
/// come.
pub fn demand(t: &Task, td: Option<&TaskDefinition>) -> Demand {
    if t.launch_type == Some(LaunchType::Fargate) {
        return Demand::default();
    }
    let num = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<i64>().ok());
    Demand {
        cpu: num(&t.cpu).unwrap_or(0),
        memory: num(&t.memory).unwrap_or(0),
        ports: fixed_host_ports(td),
    }
}

/// The host ports an instance reserves: its registered `PORTS` (TCP) and `PORTS_UDP`.
pub fn reserved_ports(inst: &ContainerInstance) -> BTreeSet<HostPort> {
    let mut out = BTreeSet::new();
    for (name, protocol) in PORT_RESOURCES {
        let listed = (inst.registered_resources.iter())
            .filter(|r| r.name == name)
            .flat_map(|r| r.string_set_value.iter().flatten());
        out.extend(listed.filter_map(|p| Some((protocol, p.parse::<u16>().ok()?))));
    }
    out
}

/// The instance that comes closest to fitting `d` (fewest shortfalls, then fewest
/// tasks, then the first) and its first shortfall; `None` without instances.
fn closest(d: &Demand, instances: &[Capacity]) -> Option<Unfit> {
    (0..instances.len())
        .map(|k| (instances[k].shortfalls(d), k))
        .min_by_key(|(s, k)| (s.len(), instances[*k].tasks, *k))
        .map(|(s, k)| Unfit {
            closest: k,
            shortfall: s.first().copied().unwrap_or(Shortfall::Ports),
        })
}

/// Where each task of `demands` goes, in order. `instances` are charged with what is
/// placed.
pub fn place(demands: &[Demand], instances: &mut [Capacity]) -> Vec<Choice> {
    demands
        .iter()
        .map(|d| {
            let best = (0..instances.len())
                .filter(|&k| instances[k].shortfalls(d).is_empty())
                .min_by_key(|&k| instances[k].tasks);
            match best {
                Some(k) => {
                    instances[k].take(d);
                    Ok(k)
                }
                None => Err(closest(d, instances)),
            }
        })
        .collect()
}
