//! What one load balancer's data plane needs, read in one go: [`load_balancer_plan_in`].
//! Everything is typed for the data plane (rules sorted by priority, conditions and
//! actions as enums, targets with their addresses), and serializable.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use berth_awsproto::{ApiError, Context};
use berth_ec2::{instance_in, SecurityGroupRule};
use berth_store::Read;
use serde::Serialize;

use crate::attributes::TargetGroupAttributes;
use crate::common::{find_target_group, load_balancer};
use crate::model::{
    Action, ActionType, LoadBalancerStateCode, Protocol, RedirectStatusCode, RuleCondition,
    TargetHealth, TargetType,
};
use crate::records::{all, Keys, ListenerRec, RuleRec, TargetRec};
use crate::rule::sort_key;
use crate::targetgroup::{parse_matcher, TRAFFIC_PORT};
use crate::targets::{backing_in, effective_health};

/// A load balancer as its data plane runs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerPlan {
    pub load_balancer_arn: String,
    pub name: String,
    /// What users connect to: resolves to loopback on the host.
    pub dns_name: String,
    /// The loopback address the data plane binds (each listener on its port).
    pub address: Ipv4Addr,
    pub state: LoadBalancerStateCode,
    /// `idle_timeout.timeout_seconds`.
    pub idle_timeout_seconds: u32,
    /// By port.
    pub listeners: Vec<ListenerPlan>,
    /// Every group a listener or rule forwards to, by ARN.
    pub target_groups: Vec<TargetGroupPlan>,
}

/// A listener: its port and its rules, by priority, the default rule last.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerPlan {
    pub listener_arn: String,
    pub port: u16,
    pub protocol: Protocol,
    pub rules: Vec<RulePlan>,
    /// Who may connect: the IPv4 blocks the load balancer's security groups admit on
    /// the listener's port (a group a rule names: its members' addresses, `/32`).
    pub clients: BTreeSet<String>,
}

/// A rule: every condition must match (the default rule has none), then its action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RulePlan {
    pub rule_arn: String,
    /// `None` for the default rule.
    pub priority: Option<u32>,
    pub conditions: Vec<ConditionPlan>,
    pub action: ActionPlan,
}

/// A condition. Patterns use ELB's wildcards: `*` any characters, `?` one; a
/// condition matches when one of its values does. Hosts, header values and query
/// strings compare case-insensitively, paths case-sensitively.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "field")]
pub enum ConditionPlan {
    /// The URL's path (not its query).
    #[serde(rename = "path-pattern")]
    PathPattern { values: Vec<String> },
    /// The `host` header.
    #[serde(rename = "host-header")]
    HostHeader { values: Vec<String> },
    /// A header by name.
    #[serde(rename = "http-header")]
    HttpHeader { name: String, values: Vec<String> },
    /// A `key=value` (or a bare value, `key` none) of the query string.
    #[serde(rename = "query-string")]
    QueryString { values: Vec<QueryPair> },
}

/// One pair of a query-string condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryPair {
    pub key: Option<String>,
    pub value: String,
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum ActionPlan {
    /// To the groups by weight (a weight of 0 gets nothing); with stickiness, a client
    /// stays with its group for that long.
    #[serde(rename = "forward", rename_all = "camelCase")]
    Forward {
        target_groups: Vec<WeightedGroup>,
        stickiness_seconds: Option<u32>,
    },
    /// An answer of its own.
    #[serde(rename = "fixed-response", rename_all = "camelCase")]
    FixedResponse {
        status_code: u16,
        content_type: Option<String>,
        body: Option<String>,
    },
    /// A redirect; components are literal or `#{protocol}`, `#{port}`, `#{host}`,
    /// `#{path}`, `#{query}` (the request's).
    #[serde(rename = "redirect", rename_all = "camelCase")]
    Redirect {
        protocol: String,
        port: String,
        host: String,
        path: String,
        query: String,
        status_code: u16,
    },
}

/// A group of a forward action and its weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedGroup {
    pub target_group_arn: String,
    pub weight: u32,
}

/// A target group: its health check, attributes and targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupPlan {
    pub target_group_arn: String,
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    pub target_type: TargetType,
    pub health_check: HealthCheckPlan,
    /// Deregistration delay, stickiness, algorithm.
    pub attributes: TargetGroupAttributes,
    pub targets: Vec<TargetPlan>,
}

/// An HTTP health check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckPlan {
    pub enabled: bool,
    pub protocol: Protocol,
    /// `None`: the target's own port.
    pub port: Option<u16>,
    pub path: String,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// Healthy codes, as inclusive ranges.
    pub matcher: Vec<(u16, u16)>,
}

/// A target: where it is, and its health as last set.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetPlan {
    /// The address or instance id, as registered.
    pub id: String,
    /// Its address (an instance's private address); `None`: an instance berth no
    /// longer knows.
    pub address: Option<Ipv4Addr>,
    pub port: u16,
    /// Deregistered, when its draining ends (Unix seconds): no new requests; in-flight
    /// ones finish until it is gone.
    pub drain_until: Option<f64>,
    /// As DescribeTargetHealth shows it.
    pub health: TargetHealth,
}

impl TargetPlan {
    /// Whether it was deregistered and drains.
    pub fn draining(&self) -> bool {
        self.drain_until.is_some()
    }
}

fn condition_plan(c: &RuleCondition) -> Option<ConditionPlan> {
    Some(match c.field.as_deref()? {
        "path-pattern" => ConditionPlan::PathPattern {
            values: c.values.clone().unwrap_or_default(),
        },
        "host-header" => ConditionPlan::HostHeader {
            values: c.values.clone().unwrap_or_default(),
        },
        "http-header" => {
            let h = c.http_header_config.as_ref()?;
            ConditionPlan::HttpHeader {
                name: h.http_header_name.clone()?,
                values: h.values.clone(),
            }
        }
        "query-string" => ConditionPlan::QueryString {
            values: c
                .query_string_config
                .as_ref()?
                .values
                .iter()
                .map(|kv| QueryPair {
                    key: kv.key.clone(),
                    value: kv.value.clone().unwrap_or_default(),
                })
                .collect(),
        },
        _ => return None,
    })
}

fn action_plan(actions: &[Action]) -> Option<ActionPlan> {
    let a = actions.iter().min_by_key(|a| a.order.unwrap_or(0))?;
    Some(match a.kind? {
        ActionType::Forward => {
            let f = a.forward_config.as_ref()?;
            let stick = f.target_group_stickiness_config.as_ref();
            ActionPlan::Forward {
                target_groups: f
                    .target_groups
                    .iter()
                    .filter_map(|t| {
                        Some(WeightedGroup {
                            target_group_arn: t.target_group_arn.clone()?,
                            weight: t.weight.unwrap_or(1) as u32,
                        })
                    })
                    .collect(),
                stickiness_seconds: stick
                    .filter(|s| s.enabled == Some(true))
                    .and_then(|s| s.duration_seconds)
                    .map(|d| d as u32),
            }
        }
        ActionType::FixedResponse => {
            let c = a.fixed_response_config.as_ref()?;
            ActionPlan::FixedResponse {
                status_code: c.status_code.as_deref()?.parse().ok()?,
                content_type: c.content_type.clone(),
                body: c.message_body.clone(),
            }
        }
        ActionType::Redirect => {
            let c = a.redirect_config.as_ref()?;
            ActionPlan::Redirect {
                protocol: c.protocol.clone()?,
                port: c.port.clone()?,
                host: c.host.clone()?,
                path: c.path.clone()?,
                query: c.query.clone()?,
                status_code: match c.status_code? {
                    RedirectStatusCode::Http301 => 301,
                    RedirectStatusCode::Http302 => 302,
                },
            }
        }
        _ => return None,
    })
}

fn rule_plan(r: &RuleRec) -> Result<RulePlan, ApiError> {
    let broken = || {
        ApiError::internal(format!(
            "rule {} holds an action or condition berth does not run",
            r.rule.rule_arn
        ))
    };
    Ok(RulePlan {
        rule_arn: r.rule.rule_arn.clone(),
        priority: r.priority(),
        conditions: r
            .rule
            .conditions
            .iter()
            .map(|c| condition_plan(c).ok_or_else(broken))
            .collect::<Result<_, _>>()?,
        action: action_plan(&r.rule.actions).ok_or_else(broken)?,
    })
}

fn target_group_plan(
    r: &impl Read,
    ctx: &Context,
    arn: &str,
    now: f64,
) -> Result<Option<TargetGroupPlan>, ApiError> {
    let Some(tg) = find_target_group(r, ctx, arn)? else {
        return Ok(None);
    };
    let g = &tg.target_group;
    let mut targets = Vec::new();
    for t in all::<TargetRec>(r, &Keys::new(ctx).targets_of(&tg.id))? {
        let backing = backing_in(r, ctx, &tg, &t.id)?;
        let Some(health) = effective_health(&t, true, backing, now) else {
            continue;
        };
        let address = match g.target_type {
            TargetType::Instance => instance_in(r, ctx, &t.id)?.map(|i| i.private_ip),
            _ => t.id.parse().ok(),
        };
        targets.push(TargetPlan {
            id: t.id,
            address,
            port: t.port,
            drain_until: t.drain_until,
            health,
        });
    }
    Ok(Some(TargetGroupPlan {
        target_group_arn: g.target_group_arn.clone(),
        name: g.target_group_name.clone(),
        protocol: g.protocol,
        port: g.port,
        target_type: g.target_type,
        health_check: HealthCheckPlan {
            enabled: g.health_check_enabled,
            protocol: g.health_check_protocol,
            port: (g.health_check_port != TRAFFIC_PORT)
                .then(|| g.health_check_port.parse().ok())
                .flatten(),
            path: g.health_check_path.clone(),
            interval_seconds: g.health_check_interval_seconds,
            timeout_seconds: g.health_check_timeout_seconds,
            healthy_threshold: g.healthy_threshold_count,
            unhealthy_threshold: g.unhealthy_threshold_count,
            matcher: parse_matcher(g.matcher.http_code.as_deref().unwrap_or("200"))?,
        },
        attributes: tg.attributes.clone(),
        targets,
    }))
}

/// Whether an ingress rule admits TCP to `port`.
fn admits_tcp(rule: &SecurityGroupRule, port: u16) -> bool {
    let protocol = rule.ip_protocol.to_ascii_lowercase();
    if !matches!(protocol.as_str(), "-1" | "all" | "tcp" | "6") {
        return false;
    }
    let port = i32::from(port);
    let from = rule.from_port.filter(|p| *p >= 0).unwrap_or(0);
    let to = rule.to_port.filter(|p| *p >= 0).unwrap_or(65535);
    !rule.is_egress && (protocol == "-1" || protocol == "all" || (from..=to).contains(&port))
}

/// The IPv4 blocks `groups`' ingress rules admit on TCP `port`.
fn clients(
    r: &impl Read,
    ctx: &Context,
    groups: &[String],
    port: u16,
) -> Result<BTreeSet<String>, ApiError> {
    let mut out = BTreeSet::new();
    for g in groups {
        for rule in berth_ec2::rules_in(r, ctx, g)? {
            if !admits_tcp(&rule, port) {
                continue;
            }
            if let Some(cidr) = &rule.cidr_ipv4 {
                out.insert(cidr.clone());
            }
            if let Some(peer) = &rule.referenced_group_id {
                let members = berth_ec2::members_in(r, ctx, peer)?;
                out.extend(members.iter().map(|ip| format!("{ip}/32")));
            }
        }
    }
    Ok(out)
}

/// Everything the data plane of load balancer `lb_arn` needs, as of `now` (draining
/// targets whose delay ended are left out).
pub fn load_balancer_plan_in(
    r: &impl Read,
    ctx: &Context,
    lb_arn: &str,
    now: f64,
) -> Result<LoadBalancerPlan, ApiError> {
    let lb = load_balancer(r, ctx, lb_arn)?;
    let keys = Keys::new(ctx);
    let mut listeners = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    for l in all::<ListenerRec>(r, &keys.listeners_of(&lb.id))? {
        let mut rules: Vec<RuleRec> = all(r, &keys.rules_of(&l.id))?;
        rules.sort_by_key(sort_key);
        for rule in &rules {
            groups.extend(crate::actions::target_groups(&rule.rule.actions));
        }
        listeners.push(ListenerPlan {
            listener_arn: l.listener.listener_arn.clone(),
            port: l.listener.port,
            protocol: l.listener.protocol,
            rules: rules.iter().map(rule_plan).collect::<Result<_, _>>()?,
            clients: clients(r, ctx, &lb.load_balancer.security_groups, l.listener.port)?,
        });
    }
    listeners.sort_by_key(|l| l.port);
    groups.sort();
    groups.dedup();
    let mut target_groups = Vec::new();
    for arn in groups {
        target_groups.extend(target_group_plan(r, ctx, &arn, now)?);
    }
    Ok(LoadBalancerPlan {
        load_balancer_arn: lb.load_balancer.load_balancer_arn.clone(),
        name: lb.load_balancer.load_balancer_name.clone(),
        dns_name: lb.load_balancer.dns_name.clone(),
        address: lb.address,
        state: lb.load_balancer.state.code,
        idle_timeout_seconds: lb.attributes.idle_timeout_seconds,
        listeners,
        target_groups,
    })
}
