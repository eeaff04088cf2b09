//! A container instance on the bridge: the agent's own address there (its private
//! IP), and its host ports, forwarded to its tasks.
//!
//! Several agents may share a host and its bridge, each its own container instance, so
//! each gets an address of its own from the bridge's IPAM (recorded under its name,
//! apart from the tasks: crash cleanups, which remove tasks, leave it), added to the
//! bridge as a `/32`. A host port of an instance is a DNAT rule for that address only,
//! so two agents can give out the same port number without meeting:
//!
//! ```text
//! nat PREROUTING  -d 10.213.0.2/32 -j BERTH-HP-0AD50002   (jumps: one per chain, first)
//! nat OUTPUT      -d 10.213.0.2/32 -j BERTH-HP-0AD50002   (the host's own connections)
//! BERTH-HP-0AD50002
//!   -p tcp --dport 49153 -j DNAT --to-destination 10.213.0.7:80   (one per host port)
//! ```
//!
//! The chain is replaced whole (`iptables-restore --noflush` declares it, which empties
//! it, and fills it) in one transaction whenever the instance's host ports change.
//!
//! A task that connects to a host port of its own instance is on the bridge like its
//! peer: the connection goes to the host (the instance's address), is translated and
//! routed back onto the bridge, and the peer's answer, which goes straight back over
//! the bridge, must be translated back by the host's connection tracking. That needs
//! the bridge's frames to pass iptables (`br_netfilter`; this bridge's own
//! `nf_call_iptables`, set here, without changing the host-wide setting), forwarding
//! on the bridge (its own `forwarding`, set here), and the bridge's accept rule
//! (`FORWARD -i BR -o BR -j ACCEPT`, see the `firewall` module). The source address
//! is kept (nothing is masqueraded), so a task's packet filter sees who connected.
//! (A task's connection to a host port that leads back to itself never leaves its
//! namespace: the agent's nat rules there send it to the port directly.)

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::bridge::Bridge;
use crate::error::{Error, Result};
use crate::firewall;
use crate::netlink::Netlink;

/// A host port's transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// As iptables names it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One host port of an instance: what reaches the instance's address on it goes to
/// `to` (a task's address and port).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortForward {
    pub protocol: Protocol,
    pub host_port: u16,
    pub to: SocketAddrV4,
    /// The task it belongs to (a comment on the rule).
    pub task_id: String,
}

/// The nat chain of the instance at `ip`: `BERTH-HP-` and the address in hex.
pub fn chain_name(ip: Ipv4Addr) -> String {
    format!("BERTH-HP-{:08X}", u32::from(ip))
}

/// The `iptables-restore --noflush` input that makes `chain` hold exactly `forwards`
/// (for the instance address `ip`).
pub fn forward_script(chain: &str, ip: Ipv4Addr, forwards: &[PortForward]) -> String {
    let mut s = format!("*nat\n:{chain} - [0:0]\n");
    for f in forwards {
        let p = f.protocol.name();
        let _ = writeln!(
            s,
            "-A {chain} -d {ip}/32 -p {p} -m {p} --dport {} -m comment --comment \"task {}\" -j DNAT --to-destination {}",
            f.host_port, f.task_id, f.to
        );
    }
    s.push_str("COMMIT\n");
    s
}

/// The jump rules of `chain`, as `iptables -t nat` arguments after the verb.
fn jumps(chain: &str, ip: Ipv4Addr) -> [Vec<String>; 2] {
    let rule = |hook: &str| {
        [hook, "-d", &format!("{ip}/32"), "-j", chain]
            .map(String::from)
            .to_vec()
    };
    [rule("PREROUTING"), rule("OUTPUT")]
}

/// Whether a process of the host listens on `port` (of `protocol`, any address): a
/// host port the agent gives out dynamically avoids it, so the number means one thing
/// on the host.
pub fn port_in_use(protocol: Protocol, port: u16) -> bool {
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    match protocol {
        Protocol::Tcp => TcpListener::bind(any).is_err(),
        Protocol::Udp => UdpSocket::bind(any).is_err(),
    }
}

fn program(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Firewall {
            op: "find",
            bridge: String::new(),
            detail: format!("no {name} binary: host ports need it"),
        })
}

/// `iptables -w -t nat ARGS`: whether it succeeded, and its error output.
fn iptables_nat(args: &[String]) -> Result<(bool, String)> {
    let out = Command::new(program("iptables")?)
        .args(["-w", "-t", "nat"])
        .args(args)
        .output()
        .map_err(|e| Error::io("run", "iptables", e))?;
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Ok((out.status.success(), err))
}

/// Writes `value` to a kernel setting file.
fn set(path: &str, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| Error::io("write", path, e))
}

/// A container instance's address on a bridge and its host ports.
#[derive(Clone, Debug)]
pub struct InstanceNetwork {
    bridge: Bridge,
    name: String,
    ip: Ipv4Addr,
    chain: String,
}

impl InstanceNetwork {
    /// The instance `name` on `bridge` (an agent's name, e.g. its state directory): its
    /// address (the one it had, or a new one) on the bridge, the bridge set up for
    /// host ports (see the module docs), and its chain, empty, with its jumps.
    /// Idempotent: an agent that restarts after a crash gets its address back and its
    /// old host ports removed.
    pub async fn ensure(bridge: &Bridge, name: &str) -> Result<InstanceNetwork> {
        let ip = bridge.ipam()?.allocate_instance(name)?;
        let nl = Netlink::host()?;
        let link = nl.link(bridge.name()).await?.ok_or_else(|| {
            Error::io(
                "find",
                format!("bridge {}", bridge.name()),
                std::io::ErrorKind::NotFound.into(),
            )
        })?;
        nl.ensure_addr(&link, ip, 32).await?;
        let net = InstanceNetwork {
            bridge: bridge.clone(),
            name: name.to_string(),
            ip,
            chain: chain_name(ip),
        };
        net.prepare_bridge()?;
        net.forward(&[])?;
        for rule in jumps(&net.chain, ip) {
            net.ensure_jump(rule)?;
        }
        Ok(net)
    }

    /// Forwarding, bridged frames through iptables, the accept rule (module docs).
    fn prepare_bridge(&self) -> Result<()> {
        let br = self.bridge.name();
        set(&format!("/proc/sys/net/ipv4/conf/{br}/forwarding"), "1")?;
        if !std::path::Path::new("/proc/sys/net/bridge").exists() {
            let _ = Command::new("modprobe")
                .arg("br_netfilter")
                .stderr(Stdio::null())
                .status();
        }
        if std::path::Path::new("/proc/sys/net/bridge").exists() {
            set(&format!("/sys/class/net/{br}/bridge/nf_call_iptables"), "1")?;
        } else {
            tracing::warn!(
                bridge = br,
                "no br_netfilter: a task cannot reach another task through a host port \
                 of their bridge (the answer would not be translated back)"
            );
        }
        firewall::ensure_accept_bridged(br)
    }

    /// Adds a jump rule (first in its hook) unless it is there.
    fn ensure_jump(&self, rule: Vec<String>) -> Result<()> {
        let with = |verb: &str| [vec![verb.to_string()], rule.clone()].concat();
        if iptables_nat(&with("-C"))?.0 {
            return Ok(());
        }
        let mut insert = rule.clone();
        insert.insert(1, "1".into());
        let (ok, err) = iptables_nat(&[vec!["-I".to_string()], insert].concat())?;
        if !ok {
            return Err(self.error("insert", err));
        }
        Ok(())
    }

    fn error(&self, op: &'static str, detail: String) -> Error {
        Error::Firewall {
            op,
            bridge: self.bridge.name().to_string(),
            detail: format!("{} ({}): {detail}", self.chain, self.ip),
        }
    }

    /// The instance's address on the bridge.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// Its nat chain.
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// Makes the instance's host ports exactly `forwards`, in one transaction.
    pub fn forward(&self, forwards: &[PortForward]) -> Result<()> {
        let script = forward_script(&self.chain, self.ip, forwards);
        let mut child = Command::new(program("iptables-restore")?)
            .args(["-w", "5", "--noflush"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io("run", "iptables-restore", e))?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin
                .write_all(script.as_bytes())
                .map_err(|e| Error::io("write to", "iptables-restore", e))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| Error::io("wait for", "iptables-restore", e))?;
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(self.error("replace", detail));
        }
        Ok(())
    }

    /// Removes the instance from the bridge: its jumps, its chain, its address (from
    /// the bridge and the IPAM). Idempotent.
    pub async fn remove(&self) -> Result<()> {
        for rule in jumps(&self.chain, self.ip) {
            let with = |verb: &str| [vec![verb.to_string()], rule.clone()].concat();
            while iptables_nat(&with("-C"))?.0 {
                let (ok, err) = iptables_nat(&with("-D"))?;
                if !ok {
                    return Err(self.error("delete", err));
                }
            }
        }
        for verb in ["-F", "-X"] {
            let (ok, err) = iptables_nat(&[verb.to_string(), self.chain.clone()])?;
            if !ok && !err.contains("No chain") && !err.contains("does not exist") {
                return Err(self.error("remove", err));
            }
        }
        let nl = Netlink::host()?;
        if let Some(link) = nl.link(self.bridge.name()).await? {
            nl.remove_addr(&link, self.ip, 32).await?;
        }
        self.bridge.ipam()?.release_instance(&self.name)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_holds_one_dnat_rule_per_host_port() {
        let ip = Ipv4Addr::new(10, 213, 0, 2);
        assert_eq!(chain_name(ip), "BERTH-HP-0AD50002");
        let forwards = [
            PortForward {
                protocol: Protocol::Tcp,
                host_port: 49153,
                to: "10.213.0.7:80".parse().unwrap(),
                task_id: "t1".into(),
            },
            PortForward {
                protocol: Protocol::Udp,
                host_port: 5353,
                to: "10.213.0.8:53".parse().unwrap(),
                task_id: "t2".into(),
            },
        ];
        assert_eq!(
            forward_script("BERTH-HP-0AD50002", ip, &forwards),
            "*nat\n:BERTH-HP-0AD50002 - [0:0]\n\
             -A BERTH-HP-0AD50002 -d 10.213.0.2/32 -p tcp -m tcp --dport 49153 -m comment --comment \"task t1\" -j DNAT --to-destination 10.213.0.7:80\n\
             -A BERTH-HP-0AD50002 -d 10.213.0.2/32 -p udp -m udp --dport 5353 -m comment --comment \"task t2\" -j DNAT --to-destination 10.213.0.8:53\n\
             COMMIT\n"
        );
        // No host port: the chain is emptied.
        assert_eq!(forward_script("C", ip, &[]), "*nat\n:C - [0:0]\nCOMMIT\n");
        assert_eq!(
            jumps("C", ip)[0],
            ["PREROUTING", "-d", "10.213.0.2/32", "-j", "C"].map(String::from)
        );
    }

    #[test]
    fn a_port_a_process_listens_on_is_in_use() {
        let l = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(port_in_use(Protocol::Tcp, port));
        drop(l);
        assert!(!port_in_use(Protocol::Tcp, port));
    }
}
