//! Security group permissions: the `IpPermissions` EC2 takes and answers, read into
//! one [`RuleSpec`] per peer (a protocol, ports, one peer), checked against EC2's rules
//! for protocols and ports, compared for duplicates, and gathered back into
//! permissions for DescribeSecurityGroups.

use std::collections::BTreeMap;

use berth_awsproto::ApiError;
use serde::{Deserialize, Serialize};

use crate::cidr::{ipv6_network, Ipv4Cidr};
use crate::errors::{invalid, missing};
use crate::records::{SecurityGroupRule, Tag};

/// One `IpPermissions.N` of a request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct IpPermissionIn {
    pub ip_protocol: Option<String>,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    #[serde(default)]
    pub groups: Vec<GroupPairIn>,
    #[serde(default)]
    pub ip_ranges: Vec<IpRangeIn>,
    #[serde(default)]
    pub ipv6_ranges: Vec<Ipv6RangeIn>,
    #[serde(default)]
    pub prefix_list_ids: Vec<PrefixListIn>,
}

/// `IpPermissions.N.Groups.M`: a peer security group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct GroupPairIn {
    pub description: Option<String>,
    pub user_id: Option<String>,
    pub group_name: Option<String>,
    pub group_id: Option<String>,
    pub vpc_id: Option<String>,
    pub vpc_peering_connection_id: Option<String>,
    /// An output member the model also lets requests carry; EC2 ignores it.
    #[serde(rename = "PeeringStatus")]
    pub _peering_status: Option<String>,
}

/// `IpPermissions.N.IpRanges.M`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct IpRangeIn {
    pub description: Option<String>,
    pub cidr_ip: Option<String>,
}

/// `IpPermissions.N.Ipv6Ranges.M`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct Ipv6RangeIn {
    pub description: Option<String>,
    pub cidr_ipv6: Option<String>,
}

/// `IpPermissions.N.PrefixListIds.M`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct PrefixListIn {
    pub description: Option<String>,
    pub prefix_list_id: Option<String>,
}

/// The other end of a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Peer {
    Cidr4(String),
    Cidr6(String),
    PrefixList(String),
    Group(String),
}

/// One rule as a request states it: what makes two rules the same, and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleSpec {
    pub protocol: String,
    pub ports: Option<(i32, i32)>,
    pub peer: Peer,
    pub description: Option<String>,
}

/// The protocols EC2 names, with their numbers.
const NAMED_PROTOCOLS: &[(&str, &str)] =
    &[("tcp", "6"), ("udp", "17"), ("icmp", "1"), ("icmpv6", "58")];
/// Every protocol.
pub(crate) const ALL_PROTOCOLS: &str = "-1";

/// What a protocol's `FromPort` and `ToPort` mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortMeaning {
    /// A range of ports, both required (TCP, UDP).
    Range,
    /// An ICMP type and code, -1 meaning all.
    TypeCode,
    /// Nothing: every port (every other protocol).
    Ignored,
}

fn port_meaning(protocol: &str) -> PortMeaning {
    match protocol {
        "tcp" | "udp" => PortMeaning::Range,
        "icmp" | "icmpv6" => PortMeaning::TypeCode,
        _ => PortMeaning::Ignored,
    }
}

/// A protocol as EC2 stores it: a name for the named ones (`6` → `tcp`), `-1`, or a
/// number 0 to 255.
pub(crate) fn protocol(raw: &str) -> Result<String, ApiError> {
    let lower = raw.to_ascii_lowercase();
    if lower == ALL_PROTOCOLS {
        return Ok(lower);
    }
    if let Some((name, _)) = NAMED_PROTOCOLS
        .iter()
        .find(|(name, number)| *name == lower || *number == lower)
    {
        return Ok((*name).to_string());
    }
    match lower.parse::<u16>() {
        Ok(n) if n <= 255 && !lower.starts_with('+') => Ok(n.to_string()),
        _ => Err(invalid(format!(
            "Invalid value '{raw}' for IP protocol. Unknown protocol."
        ))),
    }
}

/// The ports a rule of `protocol` keeps, checked as EC2 checks them.
pub(crate) fn ports(
    protocol: &str,
    from: Option<i32>,
    to: Option<i32>,
) -> Result<Option<(i32, i32)>, ApiError> {
    match port_meaning(protocol) {
        PortMeaning::Ignored => Ok(None),
        PortMeaning::Range => {
            let (Some(from), Some(to)) = (from, to) else {
                return Err(port_range(
                    "Must specify both from and to ports with TCP/UDP.",
                ));
            };
            if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to {
                return Err(port_range(&format!(
                    "Ports {from}-{to} must lie within 0-65535, the first not above the last."
                )));
            }
            Ok(Some((from, to)))
        }
        PortMeaning::TypeCode => {
            let (Some(kind), Some(code)) = (from, to) else {
                return Err(port_range("Must specify both from and to ports with ICMP."));
            };
            if !(-1..=255).contains(&kind) || !(-1..=255).contains(&code) {
                return Err(port_range(&format!(
                    "ICMP type {kind} and code {code} must be -1 to 255."
                )));
            }
            if kind == -1 && code != -1 {
                return Err(port_range(
                    "An ICMP rule for every type (-1) is for every code (-1).",
                ));
            }
            Ok(Some((kind, code)))
        }
    }
}

/// EC2's error for ports that do not fit the protocol.
fn port_range(why: &str) -> ApiError {
    invalid(format!("Invalid value '{why}' for portRange."))
}

/// The characters EC2 allows in rule and group descriptions and group names.
pub(crate) const TEXT_CHARS: &str = " ._-:/()#,@[]+=&;{}!$*";

/// True when `text` has only letters, digits and [`TEXT_CHARS`].
pub(crate) fn plain_text(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || TEXT_CHARS.contains(c))
}

/// A rule description, checked.
pub(crate) fn description(text: &Option<String>) -> Result<Option<String>, ApiError> {
    match text {
        Some(t) if t.chars().count() > 255 || !plain_text(t) => Err(invalid(format!(
            "Invalid rule description. Valid descriptions are strings less than 256 characters \
             from the following set: a-zA-Z0-9{TEXT_CHARS}"
        ))),
        other => Ok(other.clone()),
    }
}

/// An IPv4 peer, written as its network (`10.1.2.3/8` → `10.0.0.0/8`, as EC2 keeps it).
pub(crate) fn cidr4(raw: &str) -> Result<String, ApiError> {
    Ipv4Cidr::parse(raw)
        .map(|c| c.network().to_string())
        .ok_or_else(|| invalid(format!("CIDR block {raw} is malformed")))
}

/// An IPv6 peer, canonical.
pub(crate) fn cidr6(raw: &str) -> Result<String, ApiError> {
    ipv6_network(raw).ok_or_else(|| invalid(format!("CIDR block {raw} is malformed")))
}

/// A prefix list peer (berth keeps no prefix lists: any well-formed id is taken).
pub(crate) fn prefix_list(raw: &str) -> Result<String, ApiError> {
    let ok = raw
        .strip_prefix("pl-")
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(invalid(format!("The prefix list ID '{raw}' is malformed")))
    }
}

/// Reads `perms` into one spec per peer. `group` resolves a peer group (by id or name)
/// to its id; `param` names `IpPermissions.N` in errors.
pub(crate) fn specs(
    perms: &[IpPermissionIn],
    param: &str,
    mut group: impl FnMut(&GroupPairIn) -> Result<String, ApiError>,
) -> Result<Vec<RuleSpec>, ApiError> {
    let mut out = Vec::new();
    for (i, p) in perms.iter().enumerate() {
        let here = format!("{param}.{}", i + 1);
        let raw = p
            .ip_protocol
            .as_deref()
            .ok_or_else(|| missing(&format!("{here}.IpProtocol")))?;
        let protocol = protocol(raw)?;
        let ports = ports(&protocol, p.from_port, p.to_port)?;
        let mut peers = Vec::new();
        for r in &p.ip_ranges {
            let cidr = r
                .cidr_ip
                .as_deref()
                .ok_or_else(|| missing(&format!("{here}.IpRanges.CidrIp")))?;
            peers.push((Peer::Cidr4(cidr4(cidr)?), description(&r.description)?));
        }
        for r in &p.ipv6_ranges {
            let cidr = r
                .cidr_ipv6
                .as_deref()
                .ok_or_else(|| missing(&format!("{here}.Ipv6Ranges.CidrIpv6")))?;
            peers.push((Peer::Cidr6(cidr6(cidr)?), description(&r.description)?));
        }
        for r in &p.prefix_list_ids {
            let id = r
                .prefix_list_id
                .as_deref()
                .ok_or_else(|| missing(&format!("{here}.PrefixListIds.PrefixListId")))?;
            peers.push((
                Peer::PrefixList(prefix_list(id)?),
                description(&r.description)?,
            ));
        }
        for g in &p.groups {
            peers.push((Peer::Group(group(g)?), description(&g.description)?));
        }
        if peers.is_empty() {
            return Err(missing(&format!(
                "{here}.IpRanges, Ipv6Ranges, PrefixListIds or Groups"
            )));
        }
        out.extend(peers.into_iter().map(|(peer, description)| RuleSpec {
            protocol: protocol.clone(),
            ports,
            peer,
            description,
        }));
    }
    Ok(out)
}

impl RuleSpec {
    /// The spec of a stored rule.
    pub fn of(rule: &SecurityGroupRule) -> RuleSpec {
        let peer = if let Some(c) = &rule.cidr_ipv4 {
            Peer::Cidr4(c.clone())
        } else if let Some(c) = &rule.cidr_ipv6 {
            Peer::Cidr6(c.clone())
        } else if let Some(p) = &rule.prefix_list_id {
            Peer::PrefixList(p.clone())
        } else {
            Peer::Group(rule.referenced_group_id.clone().unwrap_or_default())
        };
        RuleSpec {
            protocol: rule.ip_protocol.clone(),
            ports: rule.from_port.zip(rule.to_port),
            peer,
            description: rule.description.clone(),
        }
    }

    /// True when both allow the same traffic (descriptions aside).
    pub fn same(&self, other: &RuleSpec) -> bool {
        self.protocol == other.protocol && self.ports == other.ports && self.peer == other.peer
    }

    /// The stored rule.
    pub fn into_rule(
        self,
        rule_id: String,
        group_id: &str,
        is_egress: bool,
        tags: Vec<Tag>,
    ) -> SecurityGroupRule {
        let (from_port, to_port) = self.ports.unzip();
        let mut rule = SecurityGroupRule {
            rule_id,
            group_id: group_id.to_string(),
            is_egress,
            ip_protocol: self.protocol,
            from_port,
            to_port,
            cidr_ipv4: None,
            cidr_ipv6: None,
            prefix_list_id: None,
            referenced_group_id: None,
            description: self.description,
            tags,
        };
        match self.peer {
            Peer::Cidr4(c) => rule.cidr_ipv4 = Some(c),
            Peer::Cidr6(c) => rule.cidr_ipv6 = Some(c),
            Peer::PrefixList(p) => rule.prefix_list_id = Some(p),
            Peer::Group(g) => rule.referenced_group_id = Some(g),
        }
        rule
    }

    /// How EC2's duplicate and not-found errors describe the rule:
    /// `peer: sg-1, TCP, from port: 8080, to port: 8080, ALLOW`.
    pub fn describe(&self) -> String {
        let peer = match &self.peer {
            Peer::Cidr4(s) | Peer::Cidr6(s) | Peer::PrefixList(s) | Peer::Group(s) => s,
        };
        let traffic = match (port_meaning(&self.protocol), self.ports) {
            (PortMeaning::Range, Some((from, to))) => format!(
                "{}, from port: {from}, to port: {to}",
                self.protocol.to_ascii_uppercase()
            ),
            (PortMeaning::TypeCode, Some((kind, code))) => format!(
                "{}, type: {kind}, code: {code}",
                self.protocol.to_ascii_uppercase()
            ),
            _ if self.protocol == ALL_PROTOCOLS => "ALL".to_string(),
            _ => self.protocol.clone(),
        };
        format!("peer: {peer}, {traffic}, ALLOW")
    }
}

/// A permission as DescribeSecurityGroups answers it: rules of one protocol and port
/// range together, with their peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PermissionOut {
    ip_protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_port: Option<i32>,
    groups: Vec<GroupPairOut>,
    ip_ranges: Vec<IpRangeOut>,
    ipv6_ranges: Vec<Ipv6RangeOut>,
    prefix_list_ids: Vec<PrefixListOut>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupPairOut {
    group_id: String,
    user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct IpRangeOut {
    cidr_ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Ipv6RangeOut {
    cidr_ipv6: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct PrefixListOut {
    prefix_list_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

/// `specs` gathered into permissions, by protocol and ports, peers in order.
pub(crate) fn permissions(specs: &[RuleSpec], account: &str) -> Vec<PermissionOut> {
    let mut sorted: Vec<&RuleSpec> = specs.iter().collect();
    sorted.sort_by(|a, b| (&a.protocol, a.ports, &a.peer).cmp(&(&b.protocol, b.ports, &b.peer)));
    let mut out: BTreeMap<(String, Option<(i32, i32)>), PermissionOut> = BTreeMap::new();
    for s in sorted {
        let p = out
            .entry((s.protocol.clone(), s.ports))
            .or_insert_with(|| PermissionOut {
                ip_protocol: s.protocol.clone(),
                from_port: s.ports.map(|p| p.0),
                to_port: s.ports.map(|p| p.1),
                groups: Vec::new(),
                ip_ranges: Vec::new(),
                ipv6_ranges: Vec::new(),
                prefix_list_ids: Vec::new(),
            });
        let description = s.description.clone();
        match &s.peer {
            Peer::Cidr4(c) => p.ip_ranges.push(IpRangeOut {
                cidr_ip: c.clone(),
                description,
            }),
            Peer::Cidr6(c) => p.ipv6_ranges.push(Ipv6RangeOut {
                cidr_ipv6: c.clone(),
                description,
            }),
            Peer::PrefixList(id) => p.prefix_list_ids.push(PrefixListOut {
                prefix_list_id: id.clone(),
                description,
            }),
            Peer::Group(g) => p.groups.push(GroupPairOut {
                group_id: g.clone(),
                user_id: account.to_string(),
                description,
            }),
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn protocols_are_named_as_ec2_names_them() {
        for (raw, want) in [
            ("tcp", "tcp"),
            ("TCP", "tcp"),
            ("6", "tcp"),
            ("17", "udp"),
            ("1", "icmp"),
            ("58", "icmpv6"),
            ("-1", "-1"),
            ("50", "50"),
            ("0", "0"),
        ] {
            assert_eq!(protocol(raw).unwrap(), want, "{raw}");
        }
        for bad in ["all", "256", "+6", "-2", "sctp", ""] {
            let e = protocol(bad).unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue", "{bad}");
            assert!(e.message.contains(&format!("'{bad}'")), "{}", e.message);
        }
    }

    #[test]
    fn ports_by_protocol() {
        type Case = (
            &'static str,
            Option<i32>,
            Option<i32>,
            Result<Option<(i32, i32)>, ()>,
        );
        let cases: &[Case] = &[
            ("tcp", Some(80), Some(80), Ok(Some((80, 80)))),
            ("udp", Some(0), Some(65535), Ok(Some((0, 65535)))),
            ("tcp", Some(80), None, Err(())),
            ("tcp", None, None, Err(())),
            ("tcp", Some(90), Some(80), Err(())),
            ("tcp", Some(-1), Some(-1), Err(())),
            ("tcp", Some(1), Some(65536), Err(())),
            ("icmp", None, None, Err(())),
            ("icmp", Some(-1), Some(-1), Ok(Some((-1, -1)))),
            ("icmp", Some(8), Some(-1), Ok(Some((8, -1)))),
            ("icmp", Some(-1), Some(0), Err(())),
            ("icmp", Some(256), Some(0), Err(())),
            ("-1", Some(80), Some(90), Ok(None)),
            ("50", None, None, Ok(None)),
        ];
        for (p, from, to, want) in cases {
            let got = ports(p, *from, *to).map_err(|e| assert_eq!(e.code, "InvalidParameterValue"));
            assert_eq!(&got, want, "{p} {from:?} {to:?}");
        }
    }

    #[test]
    fn descriptions_and_peers_are_checked() {
        assert!(description(&Some("from the ui (port 80)".into())).is_ok());
        assert!(description(&Some("é".into())).is_err());
        assert!(description(&Some("x".repeat(256))).is_err());
        assert_eq!(cidr4("10.1.2.3/8").unwrap(), "10.0.0.0/8");
        assert!(cidr4("10.0.0.0/40").is_err());
        assert_eq!(cidr6("2001:DB8::/32").unwrap(), "2001:db8::/32");
        assert!(prefix_list("pl-63a5400a").is_ok());
        assert!(prefix_list("sg-63a5400a").is_err());
    }

    fn perm(p: &str, from: Option<i32>, to: Option<i32>) -> IpPermissionIn {
        IpPermissionIn {
            ip_protocol: Some(p.into()),
            from_port: from,
            to_port: to,
            ..Default::default()
        }
    }

    #[test]
    fn one_spec_per_peer() {
        let mut p = perm("tcp", Some(8080), Some(8080));
        p.ip_ranges = vec![IpRangeIn {
            cidr_ip: Some("10.0.0.0/8".into()),
            description: None,
        }];
        p.groups = vec![GroupPairIn {
            group_id: Some("sg-1".into()),
            ..Default::default()
        }];
        let got = specs(&[p], "IpPermissions", |g| Ok(g.group_id.clone().unwrap())).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].peer, Peer::Cidr4("10.0.0.0/8".into()));
        assert_eq!(got[1].peer, Peer::Group("sg-1".into()));
        assert_eq!(
            got[1].describe(),
            "peer: sg-1, TCP, from port: 8080, to port: 8080, ALLOW"
        );
        let e = specs(
            &[perm("tcp", Some(1), Some(2))],
            "IpPermissions",
            |_| unreachable!(),
        )
        .unwrap_err();
        assert_eq!(e.code, "MissingParameter");
        assert!(
            e.message.contains("IpPermissions.1.IpRanges"),
            "{}",
            e.message
        );
        let e = specs(
            &[IpPermissionIn::default()],
            "IpPermissions",
            |_| unreachable!(),
        )
        .unwrap_err();
        assert!(
            e.message.contains("IpPermissions.1.IpProtocol"),
            "{}",
            e.message
        );
    }

    #[test]
    fn rules_round_trip_and_compare_without_descriptions() {
        let spec = RuleSpec {
            protocol: "-1".into(),
            ports: None,
            peer: Peer::Cidr4("0.0.0.0/0".into()),
            description: Some("all".into()),
        };
        let rule = spec
            .clone()
            .into_rule("sgr-1".into(), "sg-1", true, Vec::new());
        assert_eq!(rule.cidr_ipv4.as_deref(), Some("0.0.0.0/0"));
        assert_eq!(RuleSpec::of(&rule), spec);
        let other = RuleSpec {
            description: None,
            ..spec.clone()
        };
        assert!(spec.same(&other));
        assert_eq!(spec.describe(), "peer: 0.0.0.0/0, ALL, ALLOW");
    }

    #[test]
    fn permissions_gather_rules_of_the_same_traffic() {
        let s = |p: &str, ports, peer| RuleSpec {
            protocol: p.into(),
            ports,
            peer,
            description: None,
        };
        let specs = [
            s("tcp", Some((80, 80)), Peer::Group("sg-b".into())),
            s("tcp", Some((80, 80)), Peer::Cidr4("10.0.0.0/8".into())),
            s("-1", None, Peer::Cidr4("0.0.0.0/0".into())),
        ];
        let out = serde_json::to_value(permissions(&specs, "123456789012")).unwrap();
        assert_eq!(
            out,
            json!([
                {"ipProtocol": "-1", "groups": [], "ipRanges": [{"cidrIp": "0.0.0.0/0"}],
                 "ipv6Ranges": [], "prefixListIds": []},
                {"ipProtocol": "tcp", "fromPort": 80, "toPort": 80,
                 "groups": [{"groupId": "sg-b", "userId": "123456789012"}],
                 "ipRanges": [{"cidrIp": "10.0.0.0/8"}], "ipv6Ranges": [], "prefixListIds": []},
            ])
        );
    }
}
