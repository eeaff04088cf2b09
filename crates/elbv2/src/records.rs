//! The stored records, the store keys, ids and ARNs.
//!
//! Each record holds the API's document as DescribeX shows it (`LoadBalancer`,
//! `TargetGroup`, `Listener`, `Rule`) beside what berth keeps about it that the
//! document does not show (the data plane's address, attributes, tags).

use std::net::Ipv4Addr;

use berth_awsproto::{random_string, ApiError, Context, HEX};
use berth_store::{Read, Writer};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::attributes::{LoadBalancerAttributes, TargetGroupAttributes};
use crate::errors::validation;
use crate::interfaces::SourceInterface;
use crate::model::{Listener, LoadBalancer, Rule, Tag, TargetGroup, TargetHealth};

/// The service part of every ARN.
pub const ARN_SERVICE: &str = "elasticloadbalancing";

/// A load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerRec {
    /// What DescribeLoadBalancers shows.
    pub load_balancer: LoadBalancer,
    /// The 16 hexadecimal digits that end its ARN.
    pub id: String,
    /// The loopback address its data plane binds (127.77.0.0/16); its DNS name
    /// resolves to loopback on the host.
    pub address: Ipv4Addr,
    /// Its attributes.
    pub attributes: LoadBalancerAttributes,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Its network interfaces: the host addresses its data plane connects from.
    #[serde(default)]
    pub interfaces: Vec<SourceInterface>,
}

/// A target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupRec {
    /// What DescribeTargetGroups shows (without `LoadBalancerArns`, filled on read).
    pub target_group: TargetGroup,
    /// The 16 hexadecimal digits that end its ARN.
    pub id: String,
    /// Its attributes.
    pub attributes: TargetGroupAttributes,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerRec {
    /// What DescribeListeners shows.
    pub listener: Listener,
    /// Its load balancer's id.
    pub lb_id: String,
    /// Its id.
    pub id: String,
    /// Its default rule's id (the rule holds the same actions as `DefaultActions`).
    pub default_rule_id: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A rule of a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRec {
    /// What DescribeRules shows.
    pub rule: Rule,
    /// Its load balancer's id.
    pub lb_id: String,
    /// Its listener's id.
    pub listener_id: String,
    /// Its id.
    pub id: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl RuleRec {
    /// Its priority as a number; `None` for the default rule.
    pub fn priority(&self) -> Option<u32> {
        self.rule.priority.parse().ok()
    }
}

/// A target registered with a group, and its health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetRec {
    /// An IPv4 address or an instance id.
    pub id: String,
    /// Its port.
    pub port: u16,
    /// The zone it was registered with (`all`, or a zone), if given.
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// Its health as last set.
    pub health: TargetHealth,
    /// When its health was last set (epoch seconds).
    pub since: f64,
    /// When it is deregistered, the end of its draining: then it is gone.
    #[serde(default)]
    pub drain_until: Option<f64>,
}

/// Where a target group is used: one listener's default rule or one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupUse {
    /// The load balancer.
    pub load_balancer_arn: String,
    /// Its id.
    pub lb_id: String,
    /// The listener.
    pub listener_id: String,
}

/// A load balancer anywhere in berth: the global index of data plane addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerRef {
    /// Its account.
    pub account: String,
    /// Its region.
    pub region: String,
    /// Its ARN.
    pub load_balancer_arn: String,
    /// The loopback address its data plane binds.
    pub address: Ipv4Addr,
}

impl LoadBalancerRef {
    /// The context its `*_in` functions are called with.
    pub fn context(&self) -> Context {
        Context::new(&self.account, &self.region)
    }
}

/// A new id: 16 hexadecimal digits.
pub fn new_id() -> String {
    random_string(16, HEX)
}

/// The global index of load balancers by address.
pub const ADDRESSES: &str = "elbv2/address/";

/// The key of an address in the global index.
pub fn address_key(ip: Ipv4Addr) -> String {
    format!("{ADDRESSES}{ip}")
}

/// The store keys of one account and region: `elbv2/<account>/<region>/…`.
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(ctx: &Context) -> Keys {
        Keys {
            prefix: format!("elbv2/{}/{}/", ctx.account, ctx.region),
        }
    }

    fn key(&self, parts: &[&str]) -> String {
        format!("{}{}", self.prefix, parts.join("/"))
    }

    fn below(&self, parts: &[&str]) -> String {
        format!("{}/", self.key(parts))
    }

    pub fn lb(&self, id: &str) -> String {
        self.key(&["lb", id])
    }
    pub fn lbs(&self) -> String {
        self.below(&["lb"])
    }
    /// Index: a load balancer's name (value: its id).
    pub fn lb_name(&self, name: &str) -> String {
        self.key(&["lbname", name])
    }
    pub fn tg(&self, id: &str) -> String {
        self.key(&["tg", id])
    }
    pub fn tgs(&self) -> String {
        self.below(&["tg"])
    }
    /// Index: a target group's name (value: its id).
    pub fn tg_name(&self, name: &str) -> String {
        self.key(&["tgname", name])
    }
    pub fn listener(&self, lb: &str, id: &str) -> String {
        self.key(&["listener", lb, id])
    }
    pub fn listeners_of(&self, lb: &str) -> String {
        self.below(&["listener", lb])
    }
    pub fn rule(&self, listener: &str, id: &str) -> String {
        self.key(&["rule", listener, id])
    }
    pub fn rules_of(&self, listener: &str) -> String {
        self.below(&["rule", listener])
    }
    /// Index: where a target group is used ([`TargetGroupUse`]), by rule.
    pub fn tg_use(&self, tg: &str, rule: &str) -> String {
        self.key(&["tguse", tg, rule])
    }
    pub fn tg_uses(&self, tg: &str) -> String {
        self.below(&["tguse", tg])
    }
    pub fn target(&self, tg: &str, id: &str, port: u16) -> String {
        self.key(&["target", tg, id, &port.to_string()])
    }
    pub fn targets_of(&self, tg: &str) -> String {
        self.below(&["target", tg])
    }
}

/// The record at `key`.
pub fn get<T: DeserializeOwned>(r: &impl Read, key: &str) -> Result<Option<T>, ApiError> {
    Ok(r.get_json(key)?)
}

/// Every record below `prefix`, in key order.
pub fn all<T: DeserializeOwned>(r: &impl Read, prefix: &str) -> Result<Vec<T>, ApiError> {
    Ok(r.scan_json(prefix, None, usize::MAX)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Writes `value` at `key`.
pub fn put<T: Serialize>(w: &mut Writer<'_>, key: &str, value: &T) -> Result<(), ApiError> {
    Ok(w.put_json(key, value)?)
}

/// Deletes `key`.
pub fn delete(w: &mut Writer<'_>, key: &str) -> Result<(), ApiError> {
    w.delete(key)?;
    Ok(())
}

/// Deletes every key below `prefix`.
pub fn delete_below(w: &mut Writer<'_>, prefix: &str) -> Result<(), ApiError> {
    for (key, _) in w.scan(prefix, None, usize::MAX)? {
        w.delete(&key)?;
    }
    Ok(())
}

/// What an ARN names, once its account and region are this context's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArnRef {
    /// `loadbalancer/app/<name>/<id>`.
    LoadBalancer { id: String },
    /// `targetgroup/<name>/<id>`.
    TargetGroup { id: String },
    /// `listener/app/<lb name>/<lb id>/<id>`.
    Listener { lb_id: String, id: String },
    /// `listener-rule/app/<lb name>/<lb id>/<listener id>/<id>`.
    Rule {
        lb_id: String,
        listener_id: String,
        id: String,
    },
}

/// The kinds of ARN, as messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArnKind {
    LoadBalancer,
    TargetGroup,
    Listener,
    Rule,
}

impl ArnKind {
    fn noun(self) -> &'static str {
        match self {
            ArnKind::LoadBalancer => "load balancer",
            ArnKind::TargetGroup => "target group",
            ArnKind::Listener => "listener",
            ArnKind::Rule => "listener rule",
        }
    }
}

fn hex_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Reads an ARN of any of berth's kinds. `None`: well formed, but of another account
/// or region (so nothing here); an ARN of no kind is an error naming it.
pub fn parse_any(ctx: &Context, arn: &str) -> Result<Option<ArnRef>, ApiError> {
    let bad = || validation(format!("'{arn}' is not a valid ARN"));
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [a, partition, service, region, account, resource] = parts[..] else {
        return Err(bad());
    };
    if a != "arn" || partition != "aws" || service != ARN_SERVICE {
        return Err(bad());
    }
    let segs: Vec<&str> = resource.split('/').collect();
    let parsed = match segs[..] {
        ["loadbalancer", "app", _, id] if hex_id(id) => ArnRef::LoadBalancer { id: id.into() },
        ["targetgroup", _, id] if hex_id(id) => ArnRef::TargetGroup { id: id.into() },
        ["listener", "app", _, lb, id] if hex_id(lb) && hex_id(id) => ArnRef::Listener {
            lb_id: lb.into(),
            id: id.into(),
        },
        ["listener-rule", "app", _, lb, l, id] if hex_id(lb) && hex_id(l) && hex_id(id) => {
            ArnRef::Rule {
                lb_id: lb.into(),
                listener_id: l.into(),
                id: id.into(),
            }
        }
        _ => return Err(bad()),
    };
    if region != ctx.region || account != ctx.account {
        return Ok(None);
    }
    Ok(Some(parsed))
}

/// Reads an ARN that must be of `kind`.
pub fn parse(ctx: &Context, arn: &str, kind: ArnKind) -> Result<Option<ArnRef>, ApiError> {
    let bad = || validation(format!("'{arn}' is not a valid {} ARN", kind.noun()));
    let parsed = parse_any(ctx, arn).map_err(|_| bad())?;
    let fits = matches!(
        (&parsed, kind),
        (None, _)
            | (Some(ArnRef::LoadBalancer { .. }), ArnKind::LoadBalancer)
            | (Some(ArnRef::TargetGroup { .. }), ArnKind::TargetGroup)
            | (Some(ArnRef::Listener { .. }), ArnKind::Listener)
            | (Some(ArnRef::Rule { .. }), ArnKind::Rule)
    );
    if !fits {
        return Err(bad());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_read_by_kind_and_scope() {
        let ctx = Context::new("123456789012", "us-east-1");
        let p = "arn:aws:elasticloadbalancing:us-east-1:123456789012:";
        let cases: &[(&str, Option<ArnRef>)] = &[
            (
                "loadbalancer/app/web/50dc6c495c0c9188",
                Some(ArnRef::LoadBalancer {
                    id: "50dc6c495c0c9188".into(),
                }),
            ),
            (
                "targetgroup/tg/73e2d6bc24d8a067",
                Some(ArnRef::TargetGroup {
                    id: "73e2d6bc24d8a067".into(),
                }),
            ),
            (
                "listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2",
                Some(ArnRef::Listener {
                    lb_id: "50dc6c495c0c9188".into(),
                    id: "f2f7dc8efc522ab2".into(),
                }),
            ),
            (
                "listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee",
                Some(ArnRef::Rule {
                    lb_id: "50dc6c495c0c9188".into(),
                    listener_id: "f2f7dc8efc522ab2".into(),
                    id: "9683b2d02a6cabee".into(),
                }),
            ),
        ];
        for (resource, want) in cases {
            let arn = format!("{p}{resource}");
            assert_eq!(parse_any(&ctx, &arn).unwrap(), *want, "{arn}");
        }
        for bad in [
            "nope",
            "arn:aws:ecs:us-east-1:123456789012:loadbalancer/app/web/50dc",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/web/50dc",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg",
        ] {
            assert!(parse_any(&ctx, bad).is_err(), "{bad}");
        }
        let elsewhere = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/ab";
        assert_eq!(parse_any(&ctx, elsewhere).unwrap(), None);
        let tg = format!("{p}targetgroup/tg/73e2d6bc24d8a067");
        let e = parse(&ctx, &tg, ArnKind::LoadBalancer).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("load balancer ARN"), "{}", e.message);
    }
}
