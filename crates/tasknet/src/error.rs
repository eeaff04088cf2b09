//! The crate's error type: every variant names the operation and the object it was
//! applied to.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::subnet::Ipv4Subnet;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of task networking.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A netlink request failed, e.g. `add veth bv1a2b3c4d5e6f`.
    #[error("cannot {op} {object}: {source}")]
    Netlink {
        op: &'static str,
        object: String,
        #[source]
        source: rtnetlink::Error,
    },

    /// A system call or file operation failed, e.g. `mount network namespace
    /// /run/netns/berth-1a2b3c4d5e6f`.
    #[error("cannot {op} {object}: {source}")]
    Io {
        op: &'static str,
        object: String,
        #[source]
        source: std::io::Error,
    },

    /// A name, id or setting was refused before anything was done.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },

    /// A link with the bridge's name exists but is not a bridge.
    #[error("link {name} exists but is not a bridge (kind {kind})")]
    NotABridge { name: String, kind: String },

    /// The bridge's subnet overlaps an address the host already has on another
    /// interface; using it could send task traffic to the host's real networks.
    #[error(
        "subnet {subnet} of bridge {bridge} overlaps {address}/{prefix} on interface {interface}"
    )]
    SubnetConflict {
        bridge: String,
        subnet: Ipv4Subnet,
        interface: String,
        address: Ipv4Addr,
        prefix: u8,
    },

    /// Every task address of the subnet is allocated.
    #[error("no free address left in {subnet} for task {task_id}")]
    Exhausted { subnet: Ipv4Subnet, task_id: String },

    /// Every VIP of `127.255.0.0/16` is given out.
    #[error("no free VIP left for alias {alias}")]
    VipsExhausted { alias: String },

    /// The IPAM state file could not be used.
    #[error("IPAM state file {}: {reason}", path.display())]
    State { path: PathBuf, reason: String },

    /// Configuring the host firewall (iptables) failed.
    #[error("cannot {op} firewall rule for bridge {bridge}: {detail}")]
    Firewall {
        op: &'static str,
        bridge: String,
        detail: String,
    },
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        object: impl std::fmt::Display,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            op,
            object: object.to_string(),
            source,
        }
    }

    pub(crate) fn sys(
        op: &'static str,
        object: impl std::fmt::Display,
        errno: nix::errno::Errno,
    ) -> Self {
        Self::io(op, object, std::io::Error::from(errno))
    }

    pub(crate) fn netlink(
        op: &'static str,
        object: impl std::fmt::Display,
        source: rtnetlink::Error,
    ) -> Self {
        Error::Netlink {
            op,
            object: object.to_string(),
            source,
        }
    }

    pub(crate) fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }
}
