//! The firewall rules of a berth bridge, in the host's `FORWARD` chain:
//!
//! 1. **Isolation** (always): `FORWARD -i BR ! -o BR -j DROP`. What a task sends to an
//!    address that is not on its bridge (another host interface, the outside world) is
//!    never routed on: tasks reach each other and the host, nothing else. Traffic the
//!    host itself sends to tasks does not pass `FORWARD` and is unaffected.
//! 2. **Bridged traffic** (only with `br_netfilter`): see below.
//!
//! When the `br_netfilter` module is loaded (`net.bridge.bridge-nf-call-iptables = 1`,
//! which Docker and Kubernetes set), frames *bridged* between two veths of a bridge go
//! through iptables' `FORWARD` chain as if routed; Docker also sets that chain's policy
//! to `DROP`. Task-to-task traffic on a berth bridge would then be dropped. The fix is
//! the rule Docker adds for `docker0`: accept what enters and leaves through the same
//! bridge (`-i BR -o BR`). It opens nothing else: traffic from tasks to anywhere off the
//! bridge is untouched.
//!
//! There is no netlink API for iptables rules that coexists with the `iptables` tool's
//! own chains, so this shells out to `iptables` (as Docker does) and only when it is
//! needed; without `br_netfilter` nothing is done.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

const NF_CALL_IPTABLES: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// Whether bridged IPv4 traffic goes through iptables.
pub(crate) fn br_netfilter_active() -> bool {
    std::fs::read_to_string(NF_CALL_IPTABLES).is_ok_and(|s| s.trim() == "1")
}

fn iptables() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join("iptables"))
        .find(|p| p.is_file())
}

/// One of a bridge's rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rule {
    /// Accept frames bridged between two ports of the bridge.
    AcceptBridged,
    /// Drop what tasks send off the bridge.
    DropLeaving,
}

const RULES: [Rule; 2] = [Rule::DropLeaving, Rule::AcceptBridged];

fn rule(bridge: &str, which: Rule) -> Vec<String> {
    let comment = format!("berth bridge {bridge}");
    let (out_neg, target): (&[&str], &str) = match which {
        Rule::AcceptBridged => (&[], "ACCEPT"),
        Rule::DropLeaving => (&["!"], "DROP"),
    };
    let mut v: Vec<String> = ["FORWARD", "-i", bridge].map(String::from).to_vec();
    v.extend(out_neg.iter().map(|s| s.to_string()));
    v.extend(
        [
            "-o",
            bridge,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            target,
        ]
        .map(String::from),
    );
    v
}

fn run(bin: &Path, action: &str, bridge: &str, which: Rule) -> Result<bool> {
    let out = Command::new(bin)
        .arg("-w")
        .arg(action)
        .args(rule(bridge, which))
        .output()
        .map_err(|e| Error::Firewall {
            op: "run iptables for",
            bridge: bridge.to_string(),
            detail: e.to_string(),
        })?;
    match out.status.code() {
        Some(0) => Ok(true),
        // -C and -D: no such rule
        Some(1) if action != "-I" => Ok(false),
        _ => Err(Error::Firewall {
            op: match action {
                "-I" => "insert",
                "-D" => "delete",
                _ => "check",
            },
            bridge: bridge.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

/// Adds the rules `bridge` needs, each unless it is there already.
pub(crate) fn ensure(bridge: &str) -> Result<()> {
    let Some(bin) = iptables() else {
        tracing::warn!(
            bridge,
            "no iptables binary: tasks on this bridge are not kept from routing off it, and \
             with br_netfilter and a dropping FORWARD policy they cannot reach each other"
        );
        return Ok(());
    };
    for which in RULES {
        if which == Rule::AcceptBridged && !br_netfilter_active() {
            continue;
        }
        if !run(&bin, "-C", bridge, which)? {
            run(&bin, "-I", bridge, which)?;
        }
    }
    Ok(())
}

/// Adds the rule accepting what enters and leaves through `bridge` unless it is there,
/// whatever the host-wide `br_netfilter` setting: a bridge with host ports has its own
/// frames pass iptables, and connections translated to a task are routed from the
/// bridge back onto it (see the `instance` module).
pub(crate) fn ensure_accept_bridged(bridge: &str) -> Result<()> {
    let Some(bin) = iptables() else {
        return Err(Error::Firewall {
            op: "find iptables for",
            bridge: bridge.to_string(),
            detail: "no iptables binary: host ports need it".into(),
        });
    };
    if !run(&bin, "-C", bridge, Rule::AcceptBridged)? {
        run(&bin, "-I", bridge, Rule::AcceptBridged)?;
    }
    Ok(())
}

/// Removes every copy of the rules of `bridge`.
pub(crate) fn remove(bridge: &str) -> Result<()> {
    let Some(bin) = iptables() else { return Ok(()) };
    for which in RULES {
        // -C first: without the rule (or without a FORWARD chain) there is nothing to do.
        for _ in 0..16 {
            if !run(&bin, "-C", bridge, which).unwrap_or(false) {
                break;
            }
            run(&bin, "-D", bridge, which)?;
        }
    }
    Ok(())
}
