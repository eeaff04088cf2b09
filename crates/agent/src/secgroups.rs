//! A task's security groups, enforced by the kernel's packet filter inside the task's
//! network namespace (the same for both runtimes: Docker's holder container owns the
//! namespace, and `TaskNetwork::command` enters it alike).
//!
//! berth owns one nftables table there, `inet berth_sg`; the nat table, which the agent
//! writes with `iptables-restore`, is another table and is never touched:
//!
//! ```text
//! table inet berth_sg
//!   set g_<group id> { type ipv4_addr }   the members of each group a rule names
//!   chain ingress  hook prerouting, priority -150: after conntrack (-200), before the
//!                  nat table's REDIRECT (dstnat, -100), so judged on the dialled port
//!     iifname "lo" accept                 inside the task: app ↔ proxy, app ↔ VIPs
//!     ct state established,related accept stateful: what was let in goes on, replies
//!     ct state invalid drop
//!     ip saddr 10.0.0.0/8 tcp dport 80 accept        one rule per RuleView, in order
//!     ip saddr @g_sg-1 accept                        (a group: its set of members)
//!     policy drop                         no reject: a refused client times out
//!   chain egress   hook output, priority 0 (filter)
//!     oifname "lo" accept, established/related accept, invalid drop,
//!     ip daddr ... accept per rule, policy drop
//! ```
//!
//! The view's rules are IPv4 rules: IPv6, but on `lo`, matches none and is dropped.
//!
//! nftables evaluates a chain's rules one after the other until a verdict; a set is
//! one hash lookup whatever its size. Packets of established connections stop at the
//! second rule, so only a connection's first packet walks the rules.
//!
//! The filter is computed purely ([`Filter::compile`]) and turned into nft scripts
//! purely ([`plan`]): a first apply replaces the whole table in one transaction; an
//! update changes the sets' elements in place (`add element`, `delete element`) and,
//! only when the rules changed, flushes and refills the changed chains, all in one
//! transaction, so the task is never unfiltered and conntrack keeps established
//! connections flowing; an identical filter needs no nft run at all. [`SecurityGroups`]
//! keeps what was applied to a task and runs nft.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use berth_agent_view::{FirewallView, Peer, PortRange, RuleView};
use berth_tasknet::TaskNetwork;

use crate::nsexec;

/// berth's table in a task's namespace.
pub const TABLE: &str = "inet berth_sg";

/// Why a firewall cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A rule's CIDR block is not IPv4 CIDR notation.
    #[error("bad CIDR block {0:?}")]
    Cidr(String),
    /// A group id nft cannot name a set after (letters, digits, `-` and `_` only).
    #[error("bad security group id {0:?}")]
    GroupId(String),
    /// A port range that ends before it starts.
    #[error("bad port range {0}-{1}")]
    Ports(u16, u16),
    /// nft failed in the task's namespace.
    #[error("nft in the task namespace: {0}")]
    Nft(String),
}

/// One direction of the filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// What may open connections to the task.
    Ingress,
    /// What the task may open connections to.
    Egress,
}

impl Direction {
    const BOTH: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    /// The chain's name.
    fn chain(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// The chain's hook and priority.
    fn hook(self) -> &'static str {
        match self {
            Direction::Ingress => "type filter hook prerouting priority -150",
            Direction::Egress => "type filter hook output priority 0",
        }
    }

    /// The rules every chain starts with: loopback, then conntrack.
    fn head(self) -> [&'static str; 3] {
        let lo = match self {
            Direction::Ingress => "iifname \"lo\" accept",
            Direction::Egress => "oifname \"lo\" accept",
        };
        [
            lo,
            "ct state established,related accept",
            "ct state invalid drop",
        ]
    }

    /// The address a rule's peer is matched on.
    fn peer_addr(self) -> &'static str {
        match self {
            Direction::Ingress => "saddr",
            Direction::Egress => "daddr",
        }
    }
}

/// A task's filter as nft sees it: what is applied, and what a view asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Each group's set (`g_<group id>`) and its members.
    sets: BTreeMap<String, BTreeSet<Ipv4Addr>>,
    /// The ingress chain's rules, in order, the fixed head first.
    ingress: Vec<String>,
    /// The egress chain's rules, likewise.
    egress: Vec<String>,
}

impl Filter {
    /// The filter of `fw`: a set per group in `members` or named by a rule (empty when
    /// it has no members), a rule per distinct rule of each direction, in order.
    pub fn compile(fw: &FirewallView) -> Result<Filter, FilterError> {
        let mut sets = BTreeMap::new();
        for (group, members) in &fw.members {
            sets.insert(set_name(group)?, members.clone());
        }
        let ingress = chain_rules(Direction::Ingress, &fw.ingress, &mut sets)?;
        let egress = chain_rules(Direction::Egress, &fw.egress, &mut sets)?;
        Ok(Filter {
            sets,
            ingress,
            egress,
        })
    }

    /// One direction's rules.
    fn rules(&self, dir: Direction) -> &[String] {
        match dir {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

/// A direction's chain: its head, then each distinct rule of `rules` in order (the
/// sets of the groups they name added to `sets`).
fn chain_rules(
    dir: Direction,
    rules: &[RuleView],
    sets: &mut BTreeMap<String, BTreeSet<Ipv4Addr>>,
) -> Result<Vec<String>, FilterError> {
    let mut out: Vec<String> = dir.head().iter().map(|r| r.to_string()).collect();
    let mut seen = HashSet::new();
    for r in rules {
        if let Peer::Group(g) = &r.peer {
            sets.entry(set_name(g)?).or_default();
        }
        let line = rule(dir, r)?;
        if seen.insert(line.clone()) {
            out.push(line);
        }
    }
    Ok(out)
}

/// The set of a group: `g_<group id>` (nft names may hold `-`; EC2's ids are
/// `sg-<hex>`). Anything but letters, digits, `-` and `_` is refused, so that no id
/// can change the script.
fn set_name(group: &str) -> Result<String, FilterError> {
    let ok = !group.is_empty()
        && group.len() <= 200
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(FilterError::GroupId(group.to_string()));
    }
    Ok(format!("g_{group}"))
}

/// One rule: its peer, then its protocol (ports, ICMP type), then `accept`.
pub fn rule(dir: Direction, r: &RuleView) -> Result<String, FilterError> {
    let peer = match &r.peer {
        Peer::Cidr(c) => cidr(c)?,
        Peer::Group(g) => format!("@{}", set_name(g)?),
    };
    let mut line = format!("ip {} {peer}", dir.peer_addr());
    if let Some(m) = protocol_match(r)? {
        line.push(' ');
        line.push_str(&m);
    }
    line.push_str(" accept");
    Ok(line)
}

/// What a rule matches of the protocol: nothing (every protocol), `ip protocol P`, TCP
/// or UDP destination ports, ICMP type and code. Ports of other protocols and an ICMP
/// match of another protocol mean nothing (as on EC2).
fn protocol_match(r: &RuleView) -> Result<Option<String>, FilterError> {
    let Some(p) = r.protocol else {
        return Ok(None);
    };
    let m = match (p, r.ports, r.icmp) {
        (6 | 17, Some(PortRange { from, to }), _) if (from, to) != (0, u16::MAX) => {
            if from > to {
                return Err(FilterError::Ports(from, to));
            }
            let name = if p == 6 { "tcp" } else { "udp" };
            if from == to {
                format!("{name} dport {from}")
            } else {
                format!("{name} dport {from}-{to}")
            }
        }
        (1, _, Some(icmp)) => match icmp.code {
            Some(code) => format!("icmp type {} icmp code {code}", icmp.icmp_type),
            None => format!("icmp type {}", icmp.icmp_type),
        },
        (6, ..) => "ip protocol tcp".into(),
        (17, ..) => "ip protocol udp".into(),
        (1, ..) => "ip protocol icmp".into(),
        (p, ..) => format!("ip protocol {p}"),
    };
    Ok(Some(m))
}

/// An IPv4 CIDR block as nft takes it: the network's address (host bits cleared)
/// and prefix; a bare address, or a /32, as the address.
fn cidr(text: &str) -> Result<String, FilterError> {
    let bad = || FilterError::Cidr(text.to_string());
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().map_err(|_| bad())?),
        None => (text, 32),
    };
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    if prefix > 32 {
        return Err(bad());
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let net = Ipv4Addr::from(u32::from(addr) & mask);
    Ok(if prefix == 32 {
        net.to_string()
    } else {
        format!("{net}/{prefix}")
    })
}

/// The nft script that turns the `applied` filter into `want` (`None`: no filter, no
/// table); `None` when there is nothing to do.
pub fn plan(applied: Option<&Filter>, want: Option<&Filter>) -> Option<String> {
    match (applied, want) {
        (None, None) => None,
        (None, Some(new)) => Some(create_script(new)),
        (Some(_), None) => Some(format!("add table {TABLE}\ndelete table {TABLE}\n")),
        (Some(old), Some(new)) => update_script(old, new),
    }
}

/// The whole table, replacing whatever table of that name is there (an agent that
/// restarted adopts a namespace), in one transaction.
pub fn create_script(f: &Filter) -> String {
    let mut s = format!("add table {TABLE}\ndelete table {TABLE}\nadd table {TABLE}\n");
    for (name, members) in &f.sets {
        add_set(&mut s, name, members);
    }
    for dir in Direction::BOTH {
        let _ = writeln!(
            s,
            "add chain {TABLE} {} {{ {}; policy drop; }}",
            dir.chain(),
            dir.hook()
        );
        add_rules(&mut s, dir, f.rules(dir));
    }
    s
}

/// From `old` to `new` in one transaction: new sets, then the changed sets' elements
/// in place, then each chain whose rules changed flushed and refilled, then the sets
/// no rule names any more (after the rules that named them). `None` when equal.
pub fn update_script(old: &Filter, new: &Filter) -> Option<String> {
    if old == new {
        return None;
    }
    let mut s = String::new();
    for (name, members) in &new.sets {
        match old.sets.get(name) {
            None => add_set(&mut s, name, members),
            Some(was) => {
                elements(&mut s, "delete", name, was.difference(members));
                elements(&mut s, "add", name, members.difference(was));
            }
        }
    }
    for dir in Direction::BOTH {
        if old.rules(dir) != new.rules(dir) {
            let _ = writeln!(s, "flush chain {TABLE} {}", dir.chain());
            add_rules(&mut s, dir, new.rules(dir));
        }
    }
    for name in old.sets.keys().filter(|n| !new.sets.contains_key(*n)) {
        let _ = writeln!(s, "delete set {TABLE} {name}");
    }
    Some(s)
}

fn add_set(s: &mut String, name: &str, members: &BTreeSet<Ipv4Addr>) {
    let _ = writeln!(s, "add set {TABLE} {name} {{ type ipv4_addr; }}");
    elements(s, "add", name, members.iter());
}

/// `VERB element TABLE SET { a, b }`, nothing for no addresses.
fn elements<'a>(s: &mut String, verb: &str, set: &str, addrs: impl Iterator<Item = &'a Ipv4Addr>) {
    let list: Vec<String> = addrs.map(Ipv4Addr::to_string).collect();
    if !list.is_empty() {
        let _ = writeln!(s, "{verb} element {TABLE} {set} {{ {} }}", list.join(", "));
    }
}

fn add_rules(s: &mut String, dir: Direction, rules: &[String]) {
    for r in rules {
        let _ = writeln!(s, "add rule {TABLE} {} {r}", dir.chain());
    }
}

/// A task's packet filter, as applied: what the agent keeps per task.
#[derive(Debug, Default)]
pub struct SecurityGroups {
    applied: Option<Filter>,
}

impl SecurityGroups {
    /// Brings the filter in the task's namespace in line with `fw` (`None`: no filter).
    /// Returns whether nft ran; on error what was applied stays as it was.
    pub async fn apply(
        &mut self,
        net: &TaskNetwork,
        fw: Option<&FirewallView>,
    ) -> Result<bool, FilterError> {
        let want = fw.map(Filter::compile).transpose()?;
        let Some(script) = plan(self.applied.as_ref(), want.as_ref()) else {
            return Ok(false);
        };
        let nft = nsexec::system_program("nft");
        nsexec::feed(net, &nft, &["-f", "-"], script)
            .await
            .map_err(FilterError::Nft)?;
        self.applied = want;
        Ok(true)
    }

    /// What is applied.
    pub fn applied(&self) -> Option<&Filter> {
        self.applied.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_agent_view::IcmpMatch;

    fn cidr_rule(protocol: Option<u8>, ports: Option<(u16, u16)>, c: &str) -> RuleView {
        RuleView {
            protocol,
            ports: ports.map(|(from, to)| PortRange { from, to }),
            icmp: None,
            peer: Peer::Cidr(c.into()),
        }
    }

    fn group_rule(protocol: Option<u8>, ports: Option<(u16, u16)>, g: &str) -> RuleView {
        RuleView {
            peer: Peer::Group(g.into()),
            ..cidr_rule(protocol, ports, "")
        }
    }

    fn icmp_rule(icmp_type: u8, code: Option<u8>, c: &str) -> RuleView {
        RuleView {
            icmp: Some(IcmpMatch { icmp_type, code }),
            ..cidr_rule(Some(1), None, c)
        }
    }

    #[test]
    fn one_rule_per_rule_view() {
        use Direction::{Egress, Ingress};
        let cases: Vec<(Direction, RuleView, &str)> = vec![
            (
                Ingress,
                cidr_rule(None, None, "0.0.0.0/0"),
                "ip saddr 0.0.0.0/0 accept",
            ),
            (
                Egress,
                cidr_rule(None, None, "0.0.0.0/0"),
                "ip daddr 0.0.0.0/0 accept",
            ),
            (
                Ingress,
                cidr_rule(Some(6), Some((80, 80)), "10.0.0.0/8"),
                "ip saddr 10.0.0.0/8 tcp dport 80 accept",
            ),
            (
                Ingress,
                cidr_rule(Some(6), Some((8000, 8100)), "10.0.0.0/8"),
                "ip saddr 10.0.0.0/8 tcp dport 8000-8100 accept",
            ),
            (
                Ingress,
                cidr_rule(Some(6), Some((0, 65535)), "10.0.0.0/8"),
                "ip saddr 10.0.0.0/8 ip protocol tcp accept",
            ),
            (
                Ingress,
                cidr_rule(Some(6), None, "10.0.0.0/8"),
                "ip saddr 10.0.0.0/8 ip protocol tcp accept",
            ),
            (
                Egress,
                cidr_rule(Some(17), Some((53, 53)), "10.1.2.3/32"),
                "ip daddr 10.1.2.3 udp dport 53 accept",
            ),
            (
                Ingress,
                cidr_rule(Some(17), None, "10.1.2.3"),
                "ip saddr 10.1.2.3 ip protocol udp accept",
            ),
            // Host bits cleared, as EC2 keeps the block.
            (
                Ingress,
                cidr_rule(None, None, "10.213.7.9/16"),
                "ip saddr 10.213.0.0/16 accept",
            ),
            (
                Ingress,
                icmp_rule(8, None, "0.0.0.0/0"),
                "ip saddr 0.0.0.0/0 icmp type 8 accept",
            ),
            (
                Ingress,
                icmp_rule(3, Some(4), "0.0.0.0/0"),
                "ip saddr 0.0.0.0/0 icmp type 3 icmp code 4 accept",
            ),
            (
                Ingress,
                cidr_rule(Some(1), None, "0.0.0.0/0"),
                "ip saddr 0.0.0.0/0 ip protocol icmp accept",
            ),
            // Ports mean nothing for protocols without them.
            (
                Ingress,
                cidr_rule(Some(47), Some((1, 2)), "0.0.0.0/0"),
                "ip saddr 0.0.0.0/0 ip protocol 47 accept",
            ),
            (
                Ingress,
                group_rule(None, None, "sg-0abc"),
                "ip saddr @g_sg-0abc accept",
            ),
            (
                Egress,
                group_rule(Some(6), Some((443, 443)), "sg-1"),
                "ip daddr @g_sg-1 tcp dport 443 accept",
            ),
        ];
        for (dir, r, want) in cases {
            assert_eq!(rule(dir, &r).unwrap(), want, "{r:?}");
        }
    }

    #[test]
    fn rules_that_cannot_be_written_are_refused() {
        let cases: Vec<(RuleView, &str)> = vec![
            (
                cidr_rule(None, None, "10.0.0.0/33"),
                "bad CIDR block \"10.0.0.0/33\"",
            ),
            (
                cidr_rule(None, None, "10.0.0/8"),
                "bad CIDR block \"10.0.0/8\"",
            ),
            (cidr_rule(None, None, "::/0"), "bad CIDR block \"::/0\""),
            (
                cidr_rule(None, None, "10.0.0.0/8 accept"),
                "bad CIDR block \"10.0.0.0/8 accept\"",
            ),
            (
                group_rule(None, None, "sg-1 accept"),
                "bad security group id \"sg-1 accept\"",
            ),
            (group_rule(None, None, ""), "bad security group id \"\""),
            (
                cidr_rule(Some(6), Some((90, 80)), "0.0.0.0/0"),
                "bad port range 90-80",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(rule(Direction::Ingress, &r).unwrap_err().to_string(), want);
        }
    }

    /// A view: ingress from the group sg-a on TCP 80 and from 10.0.0.0/8 on 8000-8100,
    /// egress to anywhere; sg-a's members as given.
    fn view(members: &[&str]) -> FirewallView {
        FirewallView {
            groups: vec!["sg-a".into()],
            ingress: vec![
                group_rule(Some(6), Some((80, 80)), "sg-a"),
                cidr_rule(Some(6), Some((8000, 8100)), "10.0.0.0/8"),
            ],
            egress: vec![cidr_rule(None, None, "0.0.0.0/0")],
            members: [(
                "sg-a".to_string(),
                members.iter().map(|m| m.parse().unwrap()).collect(),
            )]
            .into(),
        }
    }

    fn compiled(fw: &FirewallView) -> Filter {
        Filter::compile(fw).unwrap()
    }

    #[test]
    fn a_first_apply_replaces_the_whole_table() {
        let want = "\
add table inet berth_sg
delete table inet berth_sg
add table inet berth_sg
add set inet berth_sg g_sg-a { type ipv4_addr; }
add element inet berth_sg g_sg-a { 10.213.0.2, 10.213.0.3 }
add chain inet berth_sg ingress { type filter hook prerouting priority -150; policy drop; }
add rule inet berth_sg ingress iifname \"lo\" accept
add rule inet berth_sg ingress ct state established,related accept
add rule inet berth_sg ingress ct state invalid drop
add rule inet berth_sg ingress ip saddr @g_sg-a tcp dport 80 accept
add rule inet berth_sg ingress ip saddr 10.0.0.0/8 tcp dport 8000-8100 accept
add chain inet berth_sg egress { type filter hook output priority 0; policy drop; }
add rule inet berth_sg egress oifname \"lo\" accept
add rule inet berth_sg egress ct state established,related accept
add rule inet berth_sg egress ct state invalid drop
add rule inet berth_sg egress ip daddr 0.0.0.0/0 accept
";
        let f = compiled(&view(&["10.213.0.3", "10.213.0.2"]));
        assert_eq!(plan(None, Some(&f)).unwrap(), want);
    }

    #[test]
    fn groups_without_members_get_empty_sets_and_duplicates_go() {
        let mut fw = view(&[]);
        fw.ingress.push(group_rule(None, None, "sg-b"));
        fw.ingress.push(group_rule(Some(6), Some((80, 80)), "sg-a"));
        let f = compiled(&fw);
        let script = create_script(&f);
        assert!(script.contains("add set inet berth_sg g_sg-b { type ipv4_addr; }\n"));
        assert!(!script.contains("add element"), "{script}");
        assert_eq!(script.matches("tcp dport 80 accept").count(), 1, "{script}");
        assert_eq!(f.rules(Direction::Ingress).len(), 3 + 3);
    }

    /// A name, the view applied, the view wanted, the script.
    type UpdateCase = (
        &'static str,
        Option<FirewallView>,
        Option<FirewallView>,
        Option<String>,
    );

    #[test]
    fn updates() {
        let base = view(&["10.213.0.2", "10.213.0.3"]);
        let mut new_rule = base.clone();
        new_rule.ingress[1] = cidr_rule(Some(17), Some((53, 53)), "10.0.0.0/8");
        let mut new_group = base.clone();
        new_group.ingress.push(group_rule(None, None, "sg-b"));
        new_group
            .members
            .insert("sg-b".into(), ["10.213.0.9".parse().unwrap()].into());
        let mut dropped_group = base.clone();
        dropped_group.ingress.remove(0);
        dropped_group.members.clear();
        let mut new_egress = base.clone();
        new_egress.egress = vec![cidr_rule(Some(6), Some((443, 443)), "0.0.0.0/0")];
        let ingress_refill = "\
flush chain inet berth_sg ingress
add rule inet berth_sg ingress iifname \"lo\" accept
add rule inet berth_sg ingress ct state established,related accept
add rule inet berth_sg ingress ct state invalid drop
";
        let cases: Vec<UpdateCase> = vec![
            ("nothing, nothing", None, None, None),
            ("the same filter again", Some(base.clone()), Some(base.clone()), None),
            ("no filter any more", Some(base.clone()), None, Some("add table inet berth_sg\ndelete table inet berth_sg\n".into())),
            (
                "members only: elements in place, rules untouched",
                Some(base.clone()),
                Some(view(&["10.213.0.3", "10.213.0.4", "10.213.0.5"])),
                Some("delete element inet berth_sg g_sg-a { 10.213.0.2 }\nadd element inet berth_sg g_sg-a { 10.213.0.4, 10.213.0.5 }\n".into()),
            ),
            (
                "the last member goes",
                Some(base.clone()),
                Some(view(&[])),
                Some("delete element inet berth_sg g_sg-a { 10.213.0.2, 10.213.0.3 }\n".into()),
            ),
            (
                "a rule changed: the ingress chain refilled, the set kept",
                Some(base.clone()),
                Some(new_rule.clone()),
                Some(format!("{ingress_refill}add rule inet berth_sg ingress ip saddr @g_sg-a tcp dport 80 accept\nadd rule inet berth_sg ingress ip saddr 10.0.0.0/8 udp dport 53 accept\n")),
            ),
            (
                "a rule names a new group: its set first",
                Some(base.clone()),
                Some(new_group.clone()),
                Some(format!("add set inet berth_sg g_sg-b {{ type ipv4_addr; }}\nadd element inet berth_sg g_sg-b {{ 10.213.0.9 }}\n{ingress_refill}add rule inet berth_sg ingress ip saddr @g_sg-a tcp dport 80 accept\nadd rule inet berth_sg ingress ip saddr 10.0.0.0/8 tcp dport 8000-8100 accept\nadd rule inet berth_sg ingress ip saddr @g_sg-b accept\n")),
            ),
            (
                "no rule names the group any more: its set goes after the rules",
                Some(base.clone()),
                Some(dropped_group.clone()),
                Some(format!("{ingress_refill}add rule inet berth_sg ingress ip saddr 10.0.0.0/8 tcp dport 8000-8100 accept\ndelete set inet berth_sg g_sg-a\n")),
            ),
            (
                "egress only",
                Some(base.clone()),
                Some(new_egress.clone()),
                Some("flush chain inet berth_sg egress\nadd rule inet berth_sg egress oifname \"lo\" accept\nadd rule inet berth_sg egress ct state established,related accept\nadd rule inet berth_sg egress ct state invalid drop\nadd rule inet berth_sg egress ip daddr 0.0.0.0/0 tcp dport 443 accept\n".into()),
            ),
        ];
        for (name, old, new, want) in cases {
            let old = old.as_ref().map(compiled);
            let new = new.as_ref().map(compiled);
            assert_eq!(plan(old.as_ref(), new.as_ref()), want, "{name}");
        }
    }

    #[test]
    fn a_bad_rule_fails_the_whole_filter() {
        let mut fw = view(&[]);
        fw.egress.push(cidr_rule(None, None, "not a block"));
        assert!(matches!(Filter::compile(&fw), Err(FilterError::Cidr(_))));
        let mut fw = view(&[]);
        fw.members.insert("sg-}".into(), BTreeSet::new());
        assert!(matches!(Filter::compile(&fw), Err(FilterError::GroupId(_))));
    }
}
