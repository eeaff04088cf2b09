//! `berth-bench-secgroups`: the task networks and packet filters of the security group
//! benchmark (`bench/secgroups.sh`), made as the agent makes them.
//!
//! ```text
//! berth-bench-secgroups up     --bridge NAME --subnet 10.213.240.0/24 --state DIR
//!     a bridge and two task networks; prints client_ns=… client_ip=… server_ns=… server_ip=…
//! berth-bench-secgroups script --role client|server --client-ip A --server-ip B
//!                              [--groups 50] [--rules 200] [--members 20]
//!     the nft script the agent applies first for that task's filter (stdout)
//! berth-bench-secgroups down   --bridge NAME --subnet … --state DIR
//!     removes the task networks and the bridge
//! ```
//!
//! The filter is the worst case of its size: `groups × rules` rules in the direction
//! the benchmark's connections are judged (the server's ingress, the client's egress),
//! none of which matches them but the very last one. The rules that do not match are of
//! three kinds in turn, all distinct: a group peer (the group's set holds `members`
//! other addresses), a CIDR peer (another /24) on port 80, and the benchmark's own peer
//! on another port. The last rule allows TCP port 80 from (to) a group whose set holds the peer.
//! The other direction allows everything from (to) the tasks' own group, as the
//! default security group does.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use berth_agent::secgroups::{create_script, Filter};
use berth_agent_view::{FirewallView, Peer, PortRange, RuleView};
use berth_tasknet::{
    cleanup_except, Bridge, BridgeConfig, FirewallMode, Ipv4Subnet, TaskNetConfig, TaskNetwork,
};

fn usage() -> ! {
    eprintln!(
        "usage: berth-bench-secgroups up|down --bridge NAME --subnet CIDR --state DIR\n\
         \x20      berth-bench-secgroups script --role client|server --client-ip A --server-ip B\n\
         \x20                                   [--groups 50] [--rules 200] [--members 20]"
    );
    std::process::exit(2)
}

/// The flags, by name.
fn flags() -> (String, BTreeMap<String, String>) {
    let mut it = std::env::args().skip(1);
    let command = it.next().unwrap_or_else(|| usage());
    let mut flags = BTreeMap::new();
    while let Some(flag) = it.next() {
        let Some(name) = flag.strip_prefix("--") else {
            usage()
        };
        flags.insert(name.to_string(), it.next().unwrap_or_else(|| usage()));
    }
    (command, flags)
}

fn flag<T: std::str::FromStr>(flags: &BTreeMap<String, String>, name: &str) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let v = flags
        .get(name)
        .with_context(|| format!("--{name} is missing"))?;
    v.parse().with_context(|| format!("--{name} {v}"))
}

fn flag_or<T: std::str::FromStr>(flags: &BTreeMap<String, String>, name: &str, default: T) -> T {
    flags
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let (command, flags) = flags();
    match command.as_str() {
        "script" => {
            print!("{}", script(&flags)?);
            Ok(())
        }
        "up" | "down" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(networks(&command, &flags)),
        _ => usage(),
    }
}

/// `up` and `down`.
async fn networks(command: &str, flags: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let config = BridgeConfig {
        name: flag(flags, "bridge")?,
        subnet: flag::<Ipv4Subnet>(flags, "subnet")?,
        state_dir: flag::<PathBuf>(flags, "state")?,
        firewall: FirewallMode::Auto,
    };
    let bridge = Bridge::ensure(&config).await?;
    if command == "down" {
        cleanup_except(&bridge, [] as [&str; 0]).await?;
        bridge.remove().await?;
        return Ok(());
    }
    for role in ["client", "server"] {
        let id = format!("bench-secgroups-{}-{role}", config.name);
        let net = TaskNetwork::create(&bridge, &id, &TaskNetConfig::default()).await?;
        println!("{role}_ns={} {role}_ip={}", net.netns_name(), net.ip());
    }
    Ok(())
}

/// The first nft script of a task's filter.
fn script(flags: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let role: String = flag(flags, "role")?;
    let client: Ipv4Addr = flag(flags, "client-ip")?;
    let server: Ipv4Addr = flag(flags, "server-ip")?;
    let groups = flag_or(flags, "groups", 50u32);
    let rules = flag_or(flags, "rules", 200u32);
    let members = flag_or(flags, "members", 20u8);
    let (peer, judged) = match role.as_str() {
        "server" => (client, Judged::Ingress),
        "client" => (server, Judged::Egress),
        _ => bail!("--role client or server"),
    };
    let fw = worst_case(peer, judged, groups, rules, members);
    Ok(create_script(&Filter::compile(&fw)?))
}

#[derive(PartialEq)]
enum Judged {
    Ingress,
    Egress,
}

fn tcp(port: u16, peer: Peer) -> RuleView {
    RuleView {
        protocol: Some(6),
        ports: Some(PortRange {
            from: port,
            to: port,
        }),
        icmp: None,
        peer,
    }
}

/// `groups × rules` rules of which only the last matches `peer` on TCP port 80, in the
/// `judged` direction; the other direction as the default group has it.
fn worst_case(
    peer: Ipv4Addr,
    judged: Judged,
    groups: u32,
    rules: u32,
    members: u8,
) -> FirewallView {
    let mut fw = FirewallView {
        groups: (0..groups).map(|g| format!("sg-{g:04}")).collect(),
        ..FirewallView::default()
    };
    let mut list = Vec::new();
    for g in 0..groups {
        let set: Vec<Ipv4Addr> = (1..=members)
            .map(|m| Ipv4Addr::new(10, 99, (g % 256) as u8, m))
            .collect();
        fw.members
            .insert(format!("sg-{g:04}"), set.into_iter().collect());
        for i in 0..rules {
            // Each rule distinct (the agent drops duplicates).
            let n = g * rules + i;
            let rule = match i % 3 {
                0 => tcp(
                    20000 + (i % 40000) as u16,
                    Peer::Group(format!("sg-{g:04}")),
                ),
                1 => tcp(
                    80,
                    Peer::Cidr(format!("10.{}.{}.0/24", 100 + g % 150, i % 256)),
                ),
                _ => tcp(1000 + (n % 60000) as u16, Peer::Cidr(format!("{peer}/32"))),
            };
            list.push(rule);
        }
    }
    // The one that matches, last.
    list.pop();
    list.push(tcp(80, Peer::Group("sg-peer".into())));
    fw.members.insert("sg-peer".into(), [peer].into());
    let everything = RuleView {
        protocol: None,
        ports: None,
        icmp: None,
        peer: Peer::Cidr("10.213.0.0/16".into()),
    };
    if judged == Judged::Ingress {
        (fw.ingress, fw.egress) = (list, vec![everything]);
    } else {
        (fw.ingress, fw.egress) = (vec![everything], list);
    }
    fw
}
