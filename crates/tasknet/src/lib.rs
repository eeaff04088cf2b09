//! Task networking for `berth agent`, awsvpc-like: every ECS task gets its own network
//! namespace and its own IPv4 address on a berth bridge, and all containers of the task
//! share that namespace. Beside each task runs a berth proxy; the task's `/etc/hosts`
//! maps every Service Connect client alias to a VIP in `127.255.0.0/16` on which that
//! proxy listens inside the task's namespace.
//!
//! ```text
//!  host network namespace                 task namespace /run/netns/berth-<id>
//!  ┌────────────────────────────┐         ┌──────────────────────────────────┐
//!  │ berth0  10.213.0.1/16      │  veth   │ eth0  10.213.0.2/16              │
//!  │   ├── bv<id> ──────────────┼─────────┼─▶ default via 10.213.0.1         │
//!  │   └── bv<id'> ─▶ other task│         │ lo    127.0.0.1/8: 127.255.x.y   │
//!  └────────────────────────────┘         │       VIPs need no address       │
//!                                         └──────────────────────────────────┘
//! ```
//!
//! * [`Bridge`] creates or adopts the Linux bridge (`berth0`, `10.213.0.0/16`, gateway
//!   `10.213.0.1` on the bridge) in the host namespace.
//! * [`Ipam`] hands out task addresses from the bridge's subnet and keeps them in a
//!   small JSON file, so an agent restart keeps every task's address.
//! * [`TaskNetwork`] is one task's namespace, veth pair, address, route and hosts file;
//!   [`TaskNetwork::command`] starts a process inside it (what `ip netns exec` does) and
//!   [`TaskNetwork::run_in_netns`] runs a closure on a thread inside it.
//!   [`TaskNetwork::sandbox`] starts a task's init, holding the task's PID, mount, IPC
//!   and UTS namespaces, which the task's processes then join ([`Sandbox`]: see the
//!   `sandbox` module for what a task sees).
//!   [`TaskNetwork::create_with_netns`] adopts a namespace another process holds (the
//!   Docker runtime's holder container) instead of making one.
//! * [`VipAllocator`] gives each client alias of a task a stable VIP.
//! * [`InstanceNetwork`] is a container instance (an agent) on the bridge: an address
//!   of its own, and its host ports, DNAT rules from that address to its tasks.
//! * [`scan`] and [`cleanup_except`] find and remove what a crashed agent left behind.
//!
//! # Loopback VIPs
//!
//! The kernel routes all of `127.0.0.0/8` to `lo` (`local 127.0.0.0/8 dev lo` in the
//! local table, created with `127.0.0.1/8` when `lo` comes up). So once `lo` is up in a
//! task namespace, the proxy can bind `127.255.0.2:80` there without adding any address,
//! and a socket bound inside the namespace is invisible from the host and from other
//! tasks: every namespace has its own loopback.
//!
//! # The hosts file
//!
//! A task's hosts file is `/etc/netns/berth-<id>/hosts`, the iproute2 place: `ip netns
//! exec berth-<id> …` bind-mounts it over `/etc/hosts`, and so does
//! [`TaskNetwork::command`]. A bind mount of a file pins its inode, so the usual atomic
//! update (write a temporary file, `rename` it over) would leave every running process
//! of the task on the old inode for good. [`TaskNetwork::write_hosts`] therefore rewrites
//! the file in place, as Docker does with the hosts files it bind-mounts: one `pwrite`
//! of the whole text at offset 0, then `ftruncate`. Resolvers re-read `/etc/hosts` on
//! every lookup, so running processes see the new aliases at their next lookup. The
//! file is never truncated before the write (a shorter text is first padded to the old
//! length with a comment line), so a reader racing an update never sees an empty or
//! cut-off file: it sees the old text, the new one, or the new one plus a comment.
//! (Bind-mounting the directory would allow `rename`, but `/etc/hosts` is a file in
//! `/etc`, and a directory mount would hide the rest of `/etc`.)
//!
//! The file maps names to IPv4 addresses only. A lookup of a name, or of an address
//! family, that it lacks goes on to DNS (`hosts: files dns`): `getent hosts NAME` asks
//! for IPv6 first and so queries DNS even for aliases that are in the file, while
//! `getaddrinfo` for IPv4 or any family, and `gethostbyname`, are answered by the file.
//!
//! # Everything here needs root
//!
//! Creating links and namespaces needs `CAP_NET_ADMIN` and mounting needs
//! `CAP_SYS_ADMIN`. The async functions talk rtnetlink through a connection they spawn
//! on the current tokio runtime, so they must be called inside one.
//!
//! # Recovery
//!
//! Every object of a task is named after a hash of its task id (see [`netns_name`],
//! [`veth_name`]) and the task's address is recorded in the bridge's state file *before*
//! any object is created, so after a crash the state file names everything that may be
//! left. An agent restart does: [`Bridge::ensure`], [`cleanup_except`] with the ids of
//! the tasks it still runs, then [`TaskNetwork::create`] for each of them, which adopts
//! (and repairs) what is there.

mod bridge;
mod error;
mod exec;
mod firewall;
mod hosts;
mod instance;
mod ipam;
mod local;
mod names;
mod netlink;
mod netns;
mod recovery;
mod sandbox;
mod subnet;
mod task;

pub use bridge::{Bridge, BridgeConfig, FirewallMode, DEFAULT_BRIDGE, DEFAULT_STATE_DIR};
pub use error::{Error, Result};
pub use hosts::{VipAllocator, VIP_FIRST, VIP_LAST};
pub use instance::{
    chain_name, forward_script, port_in_use, InstanceNetwork, PortForward, Protocol,
};
pub use ipam::Ipam;
pub use local::ensure_loopback_address;
pub use names::{netns_name, veth_name, NETNS_PREFIX, VETH_PREFIX};
pub use netns::{ETC_NETNS_DIR, NETNS_RUN_DIR};
pub use recovery::{cleanup_except, scan, Leftover};
pub use sandbox::{Sandbox, SandboxConfig, INIT_NAME};
pub use subnet::Ipv4Subnet;
pub use task::{default_hostname, TaskNetConfig, TaskNetwork, TASK_IFNAME};
