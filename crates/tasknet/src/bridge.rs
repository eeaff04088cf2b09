//! The berth bridge in the host network namespace.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::firewall;
use crate::ipam::Ipam;
use crate::names::validate_ifname;
use crate::netlink::Netlink;
use crate::subnet::Ipv4Subnet;

/// The default bridge name.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// The default directory of IPAM state files. Under `/run`, like `/run/netns`: both are
/// gone after a reboot, and so are the namespaces the state describes.
pub const DEFAULT_STATE_DIR: &str = "/run/berth/tasknet";

/// What [`Bridge::ensure`] does about the host firewall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FirewallMode {
    /// Add `FORWARD -i BR ! -o BR -j DROP`, so what tasks send never leaves the bridge,
    /// and, when bridged traffic goes through iptables (`br_netfilter` loaded, as with
    /// Docker), `FORWARD -i BR -o BR -j ACCEPT` so tasks on the bridge reach each other.
    #[default]
    Auto,
    /// Never touch the firewall.
    Off,
}

/// How the bridge is set up.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// Interface name, at most 15 bytes. Default [`DEFAULT_BRIDGE`].
    pub name: String,
    /// The subnet of the bridge and its tasks: the bridge gets the first host address
    /// (the tasks' gateway), tasks get the others. Prefix at most 30. It must not overlap
    /// any address the host has on another interface. Default `10.213.0.0/16`.
    pub subnet: Ipv4Subnet,
    /// Directory of the IPAM state file `<name>.json`. Default [`DEFAULT_STATE_DIR`].
    pub state_dir: PathBuf,
    /// Default [`FirewallMode::Auto`].
    pub firewall: FirewallMode,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            name: DEFAULT_BRIDGE.to_string(),
            subnet: Ipv4Subnet::new(Ipv4Addr::new(10, 213, 0, 0), 16)
                .expect("valid default subnet"),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            firewall: FirewallMode::Auto,
        }
    }
}

impl BridgeConfig {
    fn validate(&self) -> Result<()> {
        validate_ifname("bridge name", &self.name)?;
        let s = self.subnet;
        if s.prefix() > 30 {
            return Err(Error::invalid(
                "subnet",
                s.to_string(),
                "needs room for a gateway and a task: prefix at most 30",
            ));
        }
        let n = s.network();
        let loopback = Ipv4Subnet::new(Ipv4Addr::new(127, 0, 0, 0), 8).expect("valid");
        let multicast_and_up = Ipv4Subnet::new(Ipv4Addr::new(224, 0, 0, 0), 3).expect("valid");
        let link_local = Ipv4Subnet::new(Ipv4Addr::new(169, 254, 0, 0), 16).expect("valid");
        if n.is_unspecified()
            || [loopback, multicast_and_up, link_local]
                .iter()
                .any(|r| s.overlaps(r))
        {
            return Err(Error::invalid(
                "subnet",
                s.to_string(),
                "must be unicast: not 0.0.0.0, loopback, link-local, multicast or reserved",
            ));
        }
        Ok(())
    }
}

/// A Linux bridge in the host network namespace that task veths attach to, with the
/// gateway address of its subnet. Cheap to clone; it holds names and numbers, no
/// connection.
#[derive(Clone, Debug)]
pub struct Bridge {
    name: String,
    index: u32,
    subnet: Ipv4Subnet,
    state_dir: PathBuf,
    firewall: FirewallMode,
}

impl Bridge {
    /// Creates the bridge, or adopts one of that name, so that it exists, is up and has
    /// the gateway address (`10.213.0.1/16` by default); with [`FirewallMode::Auto`] it
    /// also makes sure bridged traffic between tasks is accepted. Idempotent.
    ///
    /// Fails if a non-bridge link has the name, or if another interface of the host has
    /// an address overlapping the subnet.
    pub async fn ensure(config: &BridgeConfig) -> Result<Bridge> {
        config.validate()?;
        let nl = Netlink::host()?;
        let existing = nl.link(&config.name).await?;
        for a in nl.ipv4_addrs().await? {
            if existing.as_ref().is_some_and(|l| l.index == a.index) {
                continue;
            }
            let theirs = Ipv4Subnet::containing(a.addr, a.prefix)?;
            if theirs.overlaps(&config.subnet) {
                let interface = nl
                    .links()
                    .await?
                    .into_iter()
                    .find(|l| l.index == a.index)
                    .map_or_else(|| format!("#{}", a.index), |l| l.name);
                return Err(Error::SubnetConflict {
                    bridge: config.name.clone(),
                    subnet: config.subnet,
                    interface,
                    address: a.addr,
                    prefix: a.prefix,
                });
            }
        }
        if existing.is_none() {
            nl.add_bridge(&config.name).await?;
        }
        let link = nl.link(&config.name).await?.ok_or_else(|| {
            Error::io(
                "find",
                format!("bridge {}", config.name),
                std::io::ErrorKind::NotFound.into(),
            )
        })?;
        if link.kind.as_deref() != Some("bridge") {
            return Err(Error::NotABridge {
                name: config.name.clone(),
                kind: link.kind.unwrap_or_else(|| "unknown".into()),
            });
        }
        nl.ensure_addr(&link, config.subnet.gateway(), config.subnet.prefix())
            .await?;
        if !link.up {
            nl.set_up(&link, None).await?;
        }
        if config.firewall == FirewallMode::Auto {
            firewall::ensure(&config.name)?;
        }
        // Fail now, not at the first task, if the state file is unusable.
        Ipam::open(&config.state_dir, &config.name, config.subnet)?;
        Ok(Bridge {
            name: config.name.clone(),
            index: link.index,
            subnet: config.subnet,
            state_dir: config.state_dir.clone(),
            firewall: config.firewall,
        })
    }

    /// Deletes the bridge and its firewall rule, and its IPAM state file if no task
    /// holds an address. Task veths still attached are detached, not deleted: destroy
    /// the tasks first (or [`cleanup_except`](crate::cleanup_except) with no known
    /// task). Idempotent.
    pub async fn remove(&self) -> Result<()> {
        let nl = Netlink::host()?;
        nl.delete_link(&self.name).await?;
        if self.firewall == FirewallMode::Auto {
            firewall::remove(&self.name)?;
        }
        self.ipam()?.remove_if_empty()?;
        Ok(())
    }

    /// The bridge's interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bridge's interface index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The subnet of the bridge and its tasks.
    pub fn subnet(&self) -> Ipv4Subnet {
        self.subnet
    }

    /// The gateway address, on the bridge: the tasks' default route.
    pub fn gateway(&self) -> Ipv4Addr {
        self.subnet.gateway()
    }

    /// The directory of the IPAM state file.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The address allocator of this bridge.
    pub fn ipam(&self) -> Result<Ipam> {
        Ipam::open(&self.state_dir, &self.name, self.subnet)
    }
}
