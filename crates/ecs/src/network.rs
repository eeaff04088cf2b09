//! Tasks in their VPC, against EC2's records: an `awsvpcConfiguration`'s subnets and
//! security groups checked as ECS checks them, each task's network interface (an EC2
//! interface whose groups and address make the task a member of those groups), and the
//! firewall a task's agent enforces.
//!
//! An awsvpc task gets its interface when it is made (its ENI attachment names it); a
//! bridge-mode task, which ECS judges by its container instance's groups, gets one with
//! the instance's groups once its agent reports its address. Either interface carries
//! the task's address while the task has one and has not stopped, and is deleted when
//! it stops: that is what `members_in` reads.
//!
//! A bridge-mode task is reached through its instance's host ports, and on EC2 the
//! instance's groups judge those: a rule's ports are host ports. The task's own filter
//! sees the container ports they lead to, so its view holds, for each rule, the
//! container ports of the mappings whose host ports the rule admits
//! ([`through_host_ports`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use berth_agent_view::{
    FirewallView, IcmpMatch, Peer, PortRange, RuleView, INSTANCE_GROUPS_ATTRIBUTE,
    INSTANCE_SUBNET_ATTRIBUTE,
};
use berth_awsproto::{ApiError, Context};
use berth_ec2::{self as ec2, SecurityGroupRule};
use berth_store::{Read, Writer};

use crate::common::*;
use crate::records::{
    Attachment, AwsvpcConfiguration, ContainerInstance, KeyValue, Task, TaskStatus,
};
use crate::taskdef::TransportProtocol;

/// The ENI attachment detail that names the task's interface.
const ENI_DETAIL: &str = "networkInterfaceId";
/// The ENI attachment detail that lists the task's security groups.
const GROUPS_DETAIL: &str = "securityGroups";

/// Where a bridge-mode task's interface id is kept.
fn bridge_interface_key(ctx: &Context, cluster: &str, task_id: &str) -> String {
    format!("{}bridgeif/{cluster}/{task_id}", root(ctx))
}

/// Subnets and security groups that exist and share one VPC.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VpcPlacement {
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub groups: Vec<String>,
}

/// ECS's answer when EC2 does not know a subnet or group.
fn not_found(what: &str, id: &str, detail: &str, code: &str) -> ApiError {
    invalid(format!(
        "Error retrieving {what} information for [{id}]: {detail} (ErrorCode: {code})"
    ))
}

/// The VPC of each subnet, which must be one.
fn subnets_vpc(r: &impl Read, ctx: &Context, subnets: &[String]) -> R<String> {
    let mut vpc: Option<(String, String)> = None;
    for id in subnets {
        let s = ec2::subnet_in(r, ctx, id)?.ok_or_else(|| {
            let detail = format!("The subnet ID '{id}' does not exist");
            not_found("subnet", id, &detail, "InvalidSubnetID.NotFound")
        })?;
        match &vpc {
            Some((v, first)) if *v != s.vpc_id => {
                return Err(invalid(format!(
                    "networkConfiguration.awsvpcConfiguration.subnets: {first} and {id} are in \
                     different VPCs ({v}, {}); a task's subnets must all be in one VPC.",
                    s.vpc_id
                )))
            }
            Some(_) => {}
            None => vpc = Some((s.vpc_id, id.clone())),
        }
    }
    vpc.map(|(v, _)| v).ok_or_else(|| {
        invalid("networkConfiguration.awsvpcConfiguration.subnets can not be empty.")
    })
}

/// Each group, which must exist in `vpc`; none given: the VPC's default group.
fn groups_in_vpc(
    r: &impl Read,
    ctx: &Context,
    vpc: &str,
    subnet: &str,
    groups: &[String],
) -> R<Vec<String>> {
    if groups.is_empty() {
        let g = ec2::default_group_in(r, ctx, vpc)?
            .ok_or_else(|| invalid(format!("The VPC '{vpc}' has no default security group.")))?;
        return Ok(vec![g.group_id]);
    }
    for id in groups {
        let g = ec2::security_group_in(r, ctx, id)?.ok_or_else(|| {
            let detail = format!("The security group '{id}' does not exist");
            not_found("security group", id, &detail, "InvalidGroup.NotFound")
        })?;
        if g.vpc_id != vpc {
            return Err(invalid(format!(
                "Security group {id} and subnet {subnet} belong to different networks."
            )));
        }
    }
    Ok(groups.to_vec())
}

/// An `awsvpcConfiguration` checked against EC2 as ECS checks it (CreateService,
/// UpdateService, RunTask): its subnets exist and share a VPC, its groups exist in that
/// VPC; no groups means the VPC's default group. Makes the account's default VPC first
/// if it has none yet.
pub(crate) fn resolve_awsvpc(
    w: &mut Writer<'_>,
    ctx: &Context,
    a: &AwsvpcConfiguration,
) -> R<VpcPlacement> {
    ec2::ensure_defaults_in(w, ctx)?;
    let vpc_id = subnets_vpc(w, ctx, &a.subnets)?;
    let groups = a.security_groups.as_deref().unwrap_or_default();
    let groups = groups_in_vpc(w, ctx, &vpc_id, &a.subnets[0], groups)?;
    Ok(VpcPlacement {
        vpc_id,
        subnets: a.subnets.clone(),
        groups,
    })
}

fn detail(name: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        name: Some(name.into()),
        value: Some(value.into()),
    }
}

/// Gives a new awsvpc task its interface in one of the placement's subnets (spread by
/// task id) and names it, its subnet and groups in the ENI attachment's details.
pub(crate) fn attach_interface(
    w: &mut Writer<'_>,
    ctx: &Context,
    task: &mut Task,
    placement: &VpcPlacement,
) -> R<()> {
    let pick = task.id().bytes().map(usize::from).sum::<usize>() % placement.subnets.len();
    let subnet = &placement.subnets[pick];
    let description = format!("arn:aws:ecs:{}:{}:attachment/", ctx.region, ctx.account);
    let Some(eni) = task.attachments.iter_mut().find(|a| a.kind == ENI_KIND) else {
        return Ok(());
    };
    let iface = ec2::create_network_interface_in(
        w,
        ctx,
        subnet,
        &placement.groups,
        &format!("{description}{}", eni.id),
    )?;
    eni.details = vec![
        detail("subnetId", subnet.clone()),
        detail(ENI_DETAIL, iface.network_interface_id),
        detail("macAddress", iface.mac_address),
        detail(GROUPS_DETAIL, placement.groups.join(",")),
    ];
    Ok(())
}

/// The attachment type of a task's ENI.
pub(crate) const ENI_KIND: &str = "ElasticNetworkInterface";

fn eni(task: &Task) -> Option<&Attachment> {
    task.attachments.iter().find(|a| a.kind == ENI_KIND)
}

/// The interface of a bridge-mode task, if it has one yet.
fn bridge_interface(r: &impl Read, ctx: &Context, cluster: &str, t: &Task) -> R<Option<String>> {
    let v = r.get(&bridge_interface_key(ctx, cluster, t.id()))?;
    Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// The address a task has while it is a member of its groups.
fn member_address(t: &Task) -> Option<Ipv4Addr> {
    if t.last_status == TaskStatus::Stopped {
        return None;
    }
    t.ip().and_then(|ip| ip.parse().ok())
}

/// Keeps a task's interface in step with the task (inside its write, idempotent):
/// the address while it has one and runs, deleted once it stopped; a bridge-mode
/// task's made with its instance's groups when its address first shows.
pub(crate) fn sync_interface(w: &mut Writer<'_>, ctx: &Context, cluster: &str, t: &Task) -> R<()> {
    if let Some(a) = eni(t) {
        let Some(id) = a.detail(ENI_DETAIL) else {
            return Ok(());
        };
        return match t.last_status {
            TaskStatus::Stopped => ec2::delete_network_interface_in(w, ctx, id),
            _ => ec2::set_interface_address_in(w, ctx, id, member_address(t)),
        };
    }
    let key = bridge_interface_key(ctx, cluster, t.id());
    match (bridge_interface(w, ctx, cluster, t)?, member_address(t)) {
        (Some(id), None) if t.last_status == TaskStatus::Stopped => {
            ec2::delete_network_interface_in(w, ctx, &id)?;
            w.delete(&key)?;
        }
        (Some(id), ip) => ec2::set_interface_address_in(w, ctx, &id, ip)?,
        (None, Some(ip)) => {
            let Some((subnet, groups)) = instance_network_of(w, ctx, cluster, t)? else {
                return Ok(());
            };
            let description = format!("{} (bridge)", t.task_arn);
            let iface = ec2::create_network_interface_in(w, ctx, &subnet, &groups, &description)?;
            ec2::set_interface_address_in(w, ctx, &iface.network_interface_id, Some(ip))?;
            w.put(&key, iface.network_interface_id.as_bytes())?;
        }
        (None, None) => {}
    }
    Ok(())
}

/// Removes what a forgotten task still holds (its interface, if it was not deleted).
pub(crate) fn release(w: &mut Writer<'_>, ctx: &Context, cluster: &str, t: &Task) -> R<()> {
    if let Some(id) = eni(t).and_then(|a| a.detail(ENI_DETAIL)) {
        return ec2::delete_network_interface_in(w, ctx, id);
    }
    if let Some(id) = bridge_interface(w, ctx, cluster, t)? {
        ec2::delete_network_interface_in(w, ctx, &id)?;
        w.delete(&bridge_interface_key(ctx, cluster, t.id()))?;
    }
    Ok(())
}

/// A container instance's subnet and security groups (set at registration).
pub(crate) fn instance_network(ci: &ContainerInstance) -> Option<(String, Vec<String>)> {
    let subnet = ci.attribute(INSTANCE_SUBNET_ATTRIBUTE)?.to_string();
    let groups = ci.attribute(INSTANCE_GROUPS_ATTRIBUTE)?;
    let groups = groups.split(',').map(str::to_string).collect();
    Some((subnet, groups))
}

/// The subnet and groups of the instance a task is placed on.
fn instance_network_of(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    t: &Task,
) -> R<Option<(String, Vec<String>)>> {
    let Some(arn) = &t.container_instance_arn else {
        return Ok(None);
    };
    let id = arn.rsplit('/').next().unwrap_or_default();
    let ci = r.get_json::<ContainerInstance>(&instance_key(ctx, cluster, id))?;
    Ok(ci.as_ref().and_then(instance_network))
}

/// A container instance's network as its agent asked for it (`groups`, comma-separated,
/// and `subnet`, either may be absent), checked against EC2: by default the default
/// VPC's first subnet and default group. Returns the attributes to store.
pub(crate) fn resolve_instance_network(
    w: &mut Writer<'_>,
    ctx: &Context,
    subnet: Option<&str>,
    groups: Option<&str>,
) -> R<(String, String)> {
    let defaults = ec2::ensure_defaults_in(w, ctx)?;
    let subnet = subnet
        .map(str::to_string)
        .unwrap_or_else(|| defaults.subnet_ids[0].clone());
    let groups: Vec<String> = groups
        .map(|g| {
            g.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let a = AwsvpcConfiguration {
        subnets: vec![subnet],
        security_groups: Some(groups),
        assign_public_ip: None,
    };
    let p = resolve_awsvpc(w, ctx, &a)?;
    Ok((p.subnets[0].clone(), p.groups.join(",")))
}

// ---- the firewall a task's agent enforces --------------------------------------------

/// The security groups that judge a task: an awsvpc task's own, a bridge-mode task's
/// instance's.
fn task_groups(t: &Task, instance: Option<&ContainerInstance>) -> Vec<String> {
    match eni(t) {
        Some(a) => a
            .detail(GROUPS_DETAIL)
            .map(|g| g.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        None => instance
            .and_then(instance_network)
            .map(|(_, g)| g)
            .unwrap_or_default(),
    }
}

/// One EC2 rule as the packet filter reads it; `None` for what no task can match
/// (IPv6 peers, prefix lists, ICMPv6).
pub(crate) fn rule_view(rule: &SecurityGroupRule) -> Option<RuleView> {
    let peer = match (&rule.cidr_ipv4, &rule.referenced_group_id) {
        (Some(cidr), _) => Peer::Cidr(cidr.clone()),
        (None, Some(g)) => Peer::Group(g.clone()),
        (None, None) => return None,
    };
    let number = match rule.ip_protocol.to_ascii_lowercase().as_str() {
        "-1" | "all" => None,
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        n => Some(n.parse::<u8>().ok()?),
    };
    if number == Some(58) {
        return None;
    }
    let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
    let (ports, icmp) = match number {
        Some(6 | 17) => match (port(rule.from_port), port(rule.to_port)) {
            (Some(from), Some(to)) if !(from == 0 && to == 65535) => {
                (Some(PortRange { from, to }), None)
            }
            _ => (None, None),
        },
        Some(1) => {
            let icmp = port(rule.from_port).map(|t| IcmpMatch {
                icmp_type: t as u8,
                code: port(rule.to_port).map(|c| c as u8),
            });
            (None, icmp)
        }
        _ => (None, None),
    };
    Some(RuleView {
        protocol: number,
        ports,
        icmp,
        peer,
    })
}

/// What one view has read of EC2 already: each group's rules, each group's members.
#[derive(Default)]
pub(crate) struct GroupMemo {
    rules: BTreeMap<String, Vec<SecurityGroupRule>>,
    members: BTreeMap<String, BTreeSet<Ipv4Addr>>,
}

impl GroupMemo {
    fn rules(&mut self, r: &impl Read, ctx: &Context, group: &str) -> R<&[SecurityGroupRule]> {
        if !self.rules.contains_key(group) {
            let rules = ec2::rules_in(r, ctx, group)?;
            self.rules.insert(group.to_string(), rules);
        }
        Ok(&self.rules[group])
    }

    fn members(&mut self, r: &impl Read, ctx: &Context, group: &str) -> R<BTreeSet<Ipv4Addr>> {
        if !self.members.contains_key(group) {
            let m = ec2::members_in(r, ctx, group)?;
            self.members.insert(group.to_string(), m);
        }
        Ok(self.members[group].clone())
    }
}

/// One host port mapping of a bridge-mode task: what reaches `host` of `protocol` on
/// its instance goes to the task's `container` ports (the same count of ports).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HostBinding {
    protocol: u8,
    host: PortRange,
    container: u16,
}

/// `first-last` as a range.
fn port_range(text: &str) -> Option<PortRange> {
    let (from, to) = text.split_once('-')?;
    Some(PortRange {
        from: from.trim().parse().ok()?,
        to: to.trim().parse().ok()?,
    })
}

/// The host port mappings of a task's containers, as its agent reported them.
fn host_bindings(t: &Task) -> Vec<HostBinding> {
    let one = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
    (t.containers.iter())
        .flat_map(|c| c.network_bindings.iter().flatten())
        .filter_map(|b| {
            let protocol = match b.protocol.unwrap_or_default() {
                TransportProtocol::Tcp => 6,
                TransportProtocol::Udp => 17,
            };
            let (host, container) = match (one(b.host_port), one(b.container_port)) {
                (Some(h), Some(c)) => (PortRange { from: h, to: h }, c),
                _ => {
                    let host = port_range(b.host_port_range.as_deref()?)?;
                    (host, port_range(b.container_port_range.as_deref()?)?.from)
                }
            };
            Some(HostBinding {
                protocol,
                host,
                container,
            })
        })
        .collect()
}

/// An ingress rule of a bridge-mode task's instance, which names host ports, as the
/// task's own filter must read it: for each mapping whose host ports it admits, the
/// container ports they lead to. A rule of every port (or every protocol, or ICMP)
/// is kept as it is.
pub(crate) fn through_host_ports(rule: RuleView, bindings: &[HostBinding]) -> Vec<RuleView> {
    let Some(ports) = rule.ports else {
        return vec![rule];
    };
    (bindings.iter())
        .filter(|b| rule.protocol == Some(b.protocol))
        .filter_map(|b| {
            let from = ports.from.max(b.host.from);
            let to = ports.to.min(b.host.to);
            (from <= to).then(|| RuleView {
                ports: Some(PortRange {
                    from: b.container + (from - b.host.from),
                    to: b.container + (to - b.host.from),
                }),
                ..rule.clone()
            })
        })
        .collect()
}

/// The firewall of a task: its groups' rules together (each once) and the members of
/// every group they name.
pub(crate) fn firewall(
    r: &impl Read,
    ctx: &Context,
    t: &Task,
    instance: Option<&ContainerInstance>,
    memo: &mut GroupMemo,
) -> R<FirewallView> {
    let groups = task_groups(t, instance);
    // A bridge-mode task is reached through its instance's host ports, which its
    // instance's groups judge.
    let bindings = eni(t).is_none().then(|| host_bindings(t));
    let (mut ingress, mut egress) = (BTreeSet::new(), BTreeSet::new());
    for g in &groups {
        for rule in memo.rules(r, ctx, g)? {
            let Some(v) = rule_view(rule) else { continue };
            match (&bindings, rule.is_egress) {
                (_, true) => {
                    egress.insert(v);
                }
                (Some(b), false) => ingress.extend(through_host_ports(v, b)),
                (None, false) => {
                    ingress.insert(v);
                }
            }
        }
    }
    let mut members = BTreeMap::new();
    for rule in ingress.iter().chain(&egress) {
        if let Peer::Group(g) = &rule.peer {
            if !members.contains_key(g) {
                members.insert(g.clone(), memo.members(r, ctx, g)?);
            }
        }
    }
    Ok(FirewallView {
        groups,
        ingress: ingress.into_iter().collect(),
        egress: egress.into_iter().collect(),
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        protocol: &str,
        from: Option<i32>,
        to: Option<i32>,
        cidr: Option<&str>,
        group: Option<&str>,
    ) -> SecurityGroupRule {
        SecurityGroupRule {
            rule_id: "sgr-1".into(),
            group_id: "sg-0".into(),
            description: None,
            tags: Vec::new(),
            is_egress: false,
            ip_protocol: protocol.into(),
            from_port: from,
            to_port: to,
            cidr_ipv4: cidr.map(str::to_string),
            cidr_ipv6: None,
            referenced_group_id: group.map(str::to_string),
            prefix_list_id: None,
        }
    }

    #[test]
    fn ec2_rules_become_filter_rules() {
        let tcp = |from, to| Some(PortRange { from, to });
        let cases: Vec<(SecurityGroupRule, Option<RuleView>)> = vec![
            (
                rule("tcp", Some(8080), Some(8080), None, Some("sg-1")),
                Some(RuleView {
                    protocol: Some(6),
                    ports: tcp(8080, 8080),
                    icmp: None,
                    peer: Peer::Group("sg-1".into()),
                }),
            ),
            (
                rule("-1", None, None, Some("0.0.0.0/0"), None),
                Some(RuleView {
                    protocol: None,
                    ports: None,
                    icmp: None,
                    peer: Peer::Cidr("0.0.0.0/0".into()),
                }),
            ),
            (
                rule("6", Some(0), Some(65535), Some("10.0.0.0/8"), None),
                Some(RuleView {
                    protocol: Some(6),
                    ports: None,
                    icmp: None,
                    peer: Peer::Cidr("10.0.0.0/8".into()),
                }),
            ),
            (
                rule("udp", Some(53), Some(54), Some("10.0.0.0/8"), None),
                Some(RuleView {
                    protocol: Some(17),
                    ports: tcp(53, 54),
                    icmp: None,
                    peer: Peer::Cidr("10.0.0.0/8".into()),
                }),
            ),
            (
                rule("icmp", Some(8), Some(-1), Some("10.0.0.0/8"), None),
                Some(RuleView {
                    protocol: Some(1),
                    ports: None,
                    icmp: Some(IcmpMatch {
                        icmp_type: 8,
                        code: None,
                    }),
                    peer: Peer::Cidr("10.0.0.0/8".into()),
                }),
            ),
            (
                rule("icmp", Some(-1), Some(-1), Some("10.0.0.0/8"), None),
                Some(RuleView {
                    protocol: Some(1),
                    ports: None,
                    icmp: None,
                    peer: Peer::Cidr("10.0.0.0/8".into()),
                }),
            ),
            (rule("58", None, None, Some("10.0.0.0/8"), None), None),
            (rule("tcp", Some(80), Some(80), None, None), None),
            (
                rule("bogus", Some(80), Some(80), Some("10.0.0.0/8"), None),
                None,
            ),
        ];
        for (r, want) in cases {
            assert_eq!(rule_view(&r), want, "{} {:?}", r.ip_protocol, r.from_port);
        }
    }

    #[test]
    fn a_bridge_tasks_rules_admit_the_container_ports_its_host_ports_lead_to() {
        let ports = |from, to| Some(PortRange { from, to });
        let tcp = |p: Option<PortRange>| RuleView {
            protocol: Some(6),
            ports: p,
            icmp: None,
            peer: Peer::Group("sg-alb".into()),
        };
        let bind = |protocol, from, to, container| HostBinding {
            protocol,
            host: PortRange { from, to },
            container,
        };
        // cats' port 80 on host port 49200, its proxy's 15000 on 49201, a UDP port 53
        // on 53, and container ports 7000-7009 on host ports 50000-50009.
        let b = [
            bind(6, 49200, 49200, 80),
            bind(6, 49201, 49201, 15000),
            bind(17, 53, 53, 53),
            bind(6, 50000, 50009, 7000),
        ];
        let cases: Vec<(RuleView, Vec<RuleView>)> = vec![
            // The ephemeral range: every TCP mapping in it.
            (
                tcp(ports(49153, 65535)),
                vec![
                    tcp(ports(80, 80)),
                    tcp(ports(15000, 15000)),
                    tcp(ports(7000, 7009)),
                ],
            ),
            // The container port: no host port is 80, so nothing.
            (tcp(ports(80, 80)), vec![]),
            // Part of a range.
            (tcp(ports(50005, 50020)), vec![tcp(ports(7005, 7009))]),
            // Every port: as it is.
            (tcp(None), vec![tcp(None)]),
        ];
        for (rule, want) in cases {
            assert_eq!(through_host_ports(rule.clone(), &b), want, "{rule:?}");
        }
        let udp = RuleView {
            protocol: Some(17),
            ..tcp(ports(1, 1024))
        };
        assert_eq!(
            through_host_ports(udp.clone(), &b),
            vec![RuleView {
                ports: ports(53, 53),
                ..udp
            }]
        );
    }
}
