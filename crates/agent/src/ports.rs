//! Host ports, as the ECS agent gives them to bridge-mode tasks: each port mapping of
//! a task's containers gets a port of the instance (its fixed `hostPort`, or, for
//! `hostPort: 0` or none, one of the dynamic range, 49153–65535 unless
//! `--dynamic-host-port-range` / `ECS_DYNAMIC_HOST_PORT_RANGE` says otherwise), and so
//! does each port the task's proxy serves Service Connect on (as ECS maps the proxy's
//! ingress listener), which is where the task's Cloud Map instances point. Host-mode
//! tasks map each container port to the same host port; awsvpc tasks get none (their
//! own address is reached directly).
//!
//! What a task asks for ([`wanted`]) and which ports it gets ([`HostPortTable`]) are
//! pure; the agent applies the table's [`PortForward`]s to its instance's chain
//! (`berth_tasknet::InstanceNetwork`) and reports each container's bindings
//! ([`network_bindings`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use berth_agent_view::ServiceConnectView;
use berth_tasknet::{PortForward, Protocol};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::view::ingress_listen;

/// ECS's dynamic host port range.
pub const DEFAULT_DYNAMIC_RANGE: PortRange = PortRange {
    first: 49153,
    last: 65535,
};

/// The ports the ECS agent reserves on its instance (`ECS_RESERVED_PORTS`' default),
/// registered as the instance's `PORTS`: no task gets them.
pub const RESERVED_PORTS: [u16; 5] = [22, 2375, 2376, 51678, 51679];

/// An inclusive range of ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// `first-last`, as `ECS_DYNAMIC_HOST_PORT_RANGE` spells it (1 ≤ first ≤ last).
    pub fn parse(text: &str) -> Result<PortRange, String> {
        let bad = |why: &str| format!("host port range '{text}': {why}");
        let (a, b) = text
            .split_once('-')
            .ok_or_else(|| bad("expected first-last, e.g. 49153-65535"))?;
        let port = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| bad("not a port number"))
        };
        let (first, last) = (port(a)?, port(b)?);
        if first == 0 || first > last {
            return Err(bad(
                "the first port must be at least 1 and not after the last",
            ));
        }
        Ok(PortRange { first, last })
    }
}

/// Which container of a task a binding is reported for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// An application container, by name.
    Container(String),
    /// The task's Service Connect proxy.
    Proxy,
}

/// A port a task wants on its instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    pub owner: Owner,
    pub protocol: Protocol,
    /// The port as the task's containers see it.
    pub container_port: u16,
    /// Fixed, or `None`: one of the dynamic range.
    pub host_port: Option<u16>,
    /// Where a connection from inside the task to its own host port goes (the proxy's
    /// listener for a port it takes over, else the container port).
    pub inside: u16,
}

/// A port a task has on its instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub owner: Owner,
    pub protocol: Protocol,
    pub container_port: u16,
    pub host_port: u16,
    pub inside: u16,
}

/// What the agent reads of a task definition.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Definition {
    #[serde(default)]
    network_mode: Option<String>,
    #[serde(default)]
    container_definitions: Vec<ContainerDefinition>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerDefinition {
    name: String,
    #[serde(default)]
    port_mappings: Vec<PortMapping>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortMapping {
    #[serde(default)]
    container_port: Option<u16>,
    #[serde(default)]
    host_port: Option<u16>,
    #[serde(default)]
    protocol: Option<String>,
}

fn protocol_of(p: Option<&str>) -> Protocol {
    match p {
        Some("udp") => Protocol::Udp,
        _ => Protocol::Tcp,
    }
}

/// The host ports a task wants, from its task definition (as the view carries it) and
/// its Service Connect part; `ip` is the task's address (for the proxy's listeners).
/// None in awsvpc or none mode; a container port range gets none (not supported yet).
pub fn wanted(task_definition: &Value, sc: Option<&ServiceConnectView>, ip: Ipv4Addr) -> Vec<Want> {
    let td = Definition::deserialize(task_definition).unwrap_or_default();
    let host_mode = match td.network_mode.as_deref() {
        None | Some("bridge") => false,
        Some("host") => true,
        Some(_) => return Vec::new(),
    };
    // A container port the proxy takes over goes to its listener from inside too.
    let taken_over: BTreeMap<u16, u16> = sc
        .map(|sc| &sc.ingress[..])
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, g)| match ingress_listen(ip, i, g) {
            (listen, Some(from)) => Some((from, listen.port())),
            (_, None) => None,
        })
        .collect();
    let mut out = Vec::new();
    for c in &td.container_definitions {
        for m in &c.port_mappings {
            let Some(container_port) = m.container_port else {
                continue;
            };
            let protocol = protocol_of(m.protocol.as_deref());
            let fixed = if host_mode {
                Some(container_port)
            } else {
                m.host_port.filter(|p| *p != 0)
            };
            let inside = match protocol {
                Protocol::Tcp => taken_over.get(&container_port).copied(),
                Protocol::Udp => None,
            };
            out.push(Want {
                owner: Owner::Container(c.name.clone()),
                protocol,
                container_port,
                host_port: fixed,
                inside: inside.unwrap_or(container_port),
            });
        }
    }
    for (i, g) in sc
        .map(|sc| &sc.ingress[..])
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let (listen, from) = ingress_listen(ip, i, g);
        out.push(Want {
            owner: Owner::Proxy,
            protocol: Protocol::Tcp,
            container_port: from.unwrap_or(listen.port()),
            host_port: None,
            inside: listen.port(),
        });
    }
    out
}

/// The host ports of an agent's tasks: who has which, and the next dynamic port to try.
#[derive(Debug)]
pub struct HostPortTable {
    range: PortRange,
    reserved: BTreeSet<(Protocol, u16)>,
    next: u16,
    tasks: BTreeMap<String, (Ipv4Addr, Vec<Binding>)>,
}

impl HostPortTable {
    /// An empty table giving out dynamic ports from `range`, never a reserved one.
    pub fn new(range: PortRange, reserved: &[u16]) -> HostPortTable {
        HostPortTable {
            range,
            reserved: reserved.iter().map(|p| (Protocol::Tcp, *p)).collect(),
            next: range.first,
            tasks: BTreeMap::new(),
        }
    }

    fn taken(&self) -> BTreeSet<(Protocol, u16)> {
        let mut out = self.reserved.clone();
        for (_, bindings) in self.tasks.values() {
            out.extend(bindings.iter().map(|b| (b.protocol, b.host_port)));
        }
        out
    }

    /// Gives the task `task_id` (at `ip`) the host ports it `wants`: its fixed ones, and
    /// dynamic ones from the range, after the last one given out, that no task of the
    /// table has and `in_use` (a process of the host listens there) does not refuse.
    /// An error (nothing given) names a fixed port another task has, or an exhausted
    /// range.
    pub fn assign(
        &mut self,
        task_id: &str,
        ip: Ipv4Addr,
        wants: &[Want],
        in_use: impl Fn(Protocol, u16) -> bool,
    ) -> Result<Vec<Binding>, String> {
        self.release(task_id);
        let mut taken = self.taken();
        let mut out = Vec::with_capacity(wants.len());
        let mut next = self.next;
        for w in wants {
            let host_port = match w.host_port {
                Some(p) if taken.contains(&(w.protocol, p)) => {
                    return Err(format!(
                        "host port {p}/{} is already allocated on this instance",
                        w.protocol.name()
                    ))
                }
                Some(p) => p,
                None => {
                    let p = self.dynamic(&mut next, w.protocol, &taken, &in_use)?;
                    next = p.checked_add(1).unwrap_or(self.range.first);
                    p
                }
            };
            taken.insert((w.protocol, host_port));
            out.push(Binding {
                owner: w.owner.clone(),
                protocol: w.protocol,
                container_port: w.container_port,
                host_port,
                inside: w.inside,
            });
        }
        self.next = next;
        self.tasks.insert(task_id.to_string(), (ip, out.clone()));
        Ok(out)
    }

    /// The first free port of the range from `*next` on, wrapping around once.
    fn dynamic(
        &self,
        next: &mut u16,
        protocol: Protocol,
        taken: &BTreeSet<(Protocol, u16)>,
        in_use: &impl Fn(Protocol, u16) -> bool,
    ) -> Result<u16, String> {
        let PortRange { first, last } = self.range;
        let start = (*next).clamp(first, last);
        let found = (start..=last)
            .chain(first..start)
            .find(|p| !taken.contains(&(protocol, *p)) && !in_use(protocol, *p));
        found.ok_or_else(|| format!("no free host port left in the dynamic range {first}-{last}"))
    }

    /// Takes the task's ports back.
    pub fn release(&mut self, task_id: &str) {
        self.tasks.remove(task_id);
    }

    /// Every host port of the table as the DNAT rule it needs.
    pub fn forwards(&self) -> Vec<PortForward> {
        let mut out = Vec::new();
        for (task_id, (ip, bindings)) in &self.tasks {
            for b in bindings {
                out.push(PortForward {
                    protocol: b.protocol,
                    host_port: b.host_port,
                    to: SocketAddrV4::new(*ip, b.container_port),
                    task_id: task_id.clone(),
                });
            }
        }
        out
    }
}

/// A container's `networkBindings`, as the ECS agent reports them (bridge bindings
/// bound on every address of the instance, as ECS shows them).
pub fn network_bindings<'a>(bindings: impl IntoIterator<Item = &'a Binding>) -> Value {
    let list: Vec<Value> = bindings
        .into_iter()
        .map(|b| {
            json!({"bindIP": "0.0.0.0", "containerPort": b.container_port,
                   "hostPort": b.host_port, "protocol": b.protocol.name()})
        })
        .collect();
    json!(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(ingress: Value) -> ServiceConnectView {
        serde_json::from_value(json!({"ingress": ingress})).unwrap()
    }

    fn td(mode: Option<&str>, mappings: Value) -> Value {
        let mut v = json!({"containerDefinitions": [{"name": "app", "portMappings": mappings}]});
        if let Some(m) = mode {
            v["networkMode"] = json!(m);
        }
        v
    }

    fn want(owner: Owner, container_port: u16, host_port: Option<u16>, inside: u16) -> Want {
        Want {
            owner,
            protocol: Protocol::Tcp,
            container_port,
            host_port,
            inside,
        }
    }

    #[test]
    fn what_a_task_wants_by_network_mode() {
        let ip = Ipv4Addr::new(10, 213, 0, 9);
        let app = || Owner::Container("app".into());
        let mappings = json!([{"containerPort": 80, "hostPort": 0},
                              {"containerPort": 81, "hostPort": 8081},
                              {"containerPort": 82}]);
        let ingress = json!([{"discoveryName": "web", "containerPort": 80},
                             {"discoveryName": "adm", "containerPort": 81, "ingressPortOverride": 9000}]);
        #[rustfmt::skip]
        let cases: Vec<(&str, Value, Option<ServiceConnectView>, Vec<Want>)> = vec![
            ("bridge: 0 and none are dynamic, the rest fixed", td(Some("bridge"), mappings.clone()), None,
             vec![want(app(), 80, None, 80), want(app(), 81, Some(8081), 81), want(app(), 82, None, 82)]),
            ("no mode is bridge", td(None, json!([{"containerPort": 80}])), None,
             vec![want(app(), 80, None, 80)]),
            ("host: the container ports", td(Some("host"), json!([{"containerPort": 80, "hostPort": 80}])), None,
             vec![want(app(), 80, Some(80), 80)]),
            ("awsvpc: none", td(Some("awsvpc"), mappings.clone()), Some(sc(ingress.clone())), vec![]),
            ("Service Connect: the proxy's listeners get ports of their own; \
              the task's own connections go to its listener",
             td(Some("bridge"), mappings), Some(sc(ingress)),
             vec![want(app(), 80, None, 15000), want(app(), 81, Some(8081), 81), want(app(), 82, None, 82),
                  want(Owner::Proxy, 80, None, 15000), want(Owner::Proxy, 9000, None, 9000)]),
        ];
        for (what, td, sc, expected) in cases {
            assert_eq!(wanted(&td, sc.as_ref(), ip), expected, "{what}");
        }
        let udp = wanted(
            &td(
                None,
                json!([{"containerPort": 53, "hostPort": 5353, "protocol": "udp"}]),
            ),
            None,
            ip,
        );
        assert_eq!(udp[0].protocol, Protocol::Udp);
    }

    #[test]
    fn dynamic_ports_come_from_the_range_and_skip_what_is_taken() {
        let ip = Ipv4Addr::new(10, 213, 0, 9);
        let range = PortRange {
            first: 51676,
            last: 51681,
        };
        let mut table = HostPortTable::new(range, &RESERVED_PORTS);
        let app = Owner::Container("app".into());
        let two = [
            want(app.clone(), 80, None, 80),
            want(app.clone(), 81, None, 81),
        ];
        let busy = |_: Protocol, p: u16| p == 51677;
        let ports = |b: Vec<Binding>| b.iter().map(|b| b.host_port).collect::<Vec<_>>();
        // 51677: a host process listens; 51678, 51679: reserved.
        assert_eq!(
            ports(table.assign("t1", ip, &two, busy).unwrap()),
            [51676, 51680]
        );
        assert_eq!(
            ports(table.assign("t2", ip, &two[..1], busy).unwrap()),
            [51681]
        );
        // Wraps around; nothing left.
        let err = table.assign("t3", ip, &two[..1], busy).unwrap_err();
        assert_eq!(
            err,
            "no free host port left in the dynamic range 51676-51681"
        );
        table.release("t1");
        assert_eq!(
            ports(table.assign("t3", ip, &two, busy).unwrap()),
            [51676, 51680]
        );
        // A fixed port another task has is refused, and nothing is given.
        let fixed = [want(app.clone(), 80, Some(51681), 80)];
        assert!(table
            .assign("t4", ip, &fixed, busy)
            .unwrap_err()
            .contains("51681/tcp"));
        assert_eq!(table.forwards().len(), 3);
        // A task assigned again gets new ports, its old ones back to the table.
        table.release("t2");
        let f = table.assign("t4", ip, &fixed, busy).unwrap();
        assert_eq!(f[0].host_port, 51681);
        assert_eq!(
            table
                .forwards()
                .iter()
                .find(|f| f.task_id == "t4")
                .unwrap()
                .to,
            SocketAddrV4::new(ip, 80)
        );
    }

    #[test]
    fn bindings_are_reported_as_ecs_shows_them() {
        let b = Binding {
            owner: Owner::Proxy,
            protocol: Protocol::Tcp,
            container_port: 80,
            host_port: 49153,
            inside: 15000,
        };
        assert_eq!(
            network_bindings([&b]),
            json!([{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 49153, "protocol": "tcp"}])
        );
    }

    #[test]
    fn ranges_read_as_ecs_spells_them() {
        assert_eq!(
            PortRange::parse("49153-65535").unwrap(),
            DEFAULT_DYNAMIC_RANGE
        );
        assert_eq!(
            PortRange::parse("100-100").unwrap(),
            PortRange {
                first: 100,
                last: 100
            }
        );
        for bad in ["", "49153", "a-b", "0-10", "10-9", "1-70000"] {
            assert!(PortRange::parse(bad).is_err(), "{bad}");
        }
    }
}
