//! Target groups: CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup,
//! DeleteTargetGroup and their attributes. berth's groups are HTTP groups of `ip` or
//! `instance` targets in a VPC, with HTTP health checks.

use berth_awsproto::{ApiError, Context};
use berth_ec2::vpc_in;
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::attributes::{self, TargetGroupAttributes};
use crate::common::{
    at_most_one, check, check_name, find_target_group, load_balancer, page, target_group, Check,
};
use crate::errors::{
    configuration, err, required, unsupported, validation, DUPLICATE_TARGET_GROUP_NAME,
    INVALID_CONFIGURATION_REQUEST, RESOURCE_IN_USE, TARGET_GROUP_NOT_FOUND, TOO_MANY_TARGET_GROUPS,
};
use crate::model::{IpAddressType, Matcher, Protocol, Tag, TargetGroup, TargetType};
use crate::records::{
    all, delete, delete_below, get, new_id, put, Keys, TargetGroupRec, TargetGroupUse, ARN_SERVICE,
};
use crate::tags::{merge, Empty};

/// The most target groups an account has in a region.
const MAX_TARGET_GROUPS: usize = 3000;
/// A health check port meaning the target's own.
pub const TRAFFIC_PORT: &str = "traffic-port";

/// The load balancers whose listeners or rules use the group, each once, in order.
pub fn load_balancer_arns(
    r: &impl Read,
    keys: &Keys,
    tg_id: &str,
) -> Result<Vec<String>, ApiError> {
    let mut arns: Vec<String> = all::<TargetGroupUse>(r, &keys.tg_uses(tg_id))?
        .into_iter()
        .map(|u| u.load_balancer_arn)
        .collect();
    arns.sort();
    arns.dedup();
    Ok(arns)
}

/// The load balancers that use the group `arn` (none when it does not exist), for other
/// crates: a group no load balancer uses cannot take ECS's tasks.
pub fn load_balancers_of_in(
    r: &impl Read,
    ctx: &Context,
    arn: &str,
) -> Result<Vec<String>, ApiError> {
    match crate::common::find_target_group(r, ctx, arn)? {
        Some(tg) => load_balancer_arns(r, &Keys::new(ctx), &tg.id),
        None => Ok(Vec::new()),
    }
}

/// The group as DescribeTargetGroups shows it: with the load balancers that use it.
pub fn shown(r: &impl Read, keys: &Keys, rec: TargetGroupRec) -> Result<TargetGroup, ApiError> {
    let mut tg = rec.target_group;
    tg.load_balancer_arns = load_balancer_arns(r, keys, &rec.id)?;
    Ok(tg)
}

/// A matcher's HTTP codes as ranges: `200`, `200,202`, `200-299`, each within 200-499.
pub fn parse_matcher(codes: &str) -> Result<Vec<(u16, u16)>, ApiError> {
    let bad = || {
        validation(format!(
        "Health check matcher HTTP code '{codes}' must be codes or ranges of codes between 200 and 499, such as '200', '200,202' or '200-299'"
    ))
    };
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (200..=499).contains(c))
    };
    let mut out = Vec::new();
    for part in codes.split(',') {
        let range = match part.split_once('-') {
            Some((a, b)) => (code(a).ok_or_else(bad)?, code(b).ok_or_else(bad)?),
            None => {
                let c = code(part).ok_or_else(bad)?;
                (c, c)
            }
        };
        if range.0 > range.1 {
            return Err(bad());
        }
        out.push(range);
    }
    Ok(out)
}

/// The health check members of CreateTargetGroup and ModifyTargetGroup.
#[derive(Debug, Default)]
pub struct HealthCheckIn {
    protocol: Option<Protocol>,
    port: Option<String>,
    enabled: Option<bool>,
    path: Option<String>,
    interval: Option<i64>,
    timeout: Option<i64>,
    healthy: Option<i64>,
    unhealthy: Option<i64>,
    matcher: Option<Matcher>,
}

const HEALTH_CHECK: &[Check<HealthCheckIn>] = &[
    Check::Range("HealthCheckIntervalSeconds", |h| h.interval, 5, 300),
    Check::Range("HealthCheckTimeoutSeconds", |h| h.timeout, 2, 120),
    Check::Range("HealthyThresholdCount", |h| h.healthy, 2, 10),
    Check::Range("UnhealthyThresholdCount", |h| h.unhealthy, 2, 10),
    Check::Len("HealthCheckPath", |h| h.path.as_deref(), 1, 1024),
    Check::Named(|h| match h.protocol {
        Some(Protocol::Http) | None => Ok(()),
        Some(p) => Err(unsupported(
            INVALID_CONFIGURATION_REQUEST,
            &format!("health checks over {p} (only HTTP)"),
        )),
    }),
    Check::Named(|h| match h.port.as_deref() {
        None | Some(TRAFFIC_PORT) => Ok(()),
        Some(p) if p.parse::<u16>().is_ok_and(|n| n >= 1) => Ok(()),
        Some(p) => Err(validation(format!(
            "Health check port '{p}' must be 'traffic-port' or a port from 1 to 65535"
        ))),
    }),
    Check::Named(|h| match h.path.as_deref() {
        Some(p) if !p.starts_with('/') => Err(validation(format!(
            "Health check path '{p}' must begin with '/'"
        ))),
        _ => Ok(()),
    }),
    Check::Named(|h| match h.enabled {
        Some(false) => Err(configuration(
            "Health checks cannot be disabled for target groups of target type 'ip' or 'instance'",
        )),
        _ => Ok(()),
    }),
    Check::Named(|h| match &h.matcher {
        Some(Matcher {
            grpc_code: Some(_), ..
        }) => Err(unsupported(
            INVALID_CONFIGURATION_REQUEST,
            "gRPC health check codes",
        )),
        Some(Matcher {
            http_code: Some(c), ..
        }) => parse_matcher(c).map(|_| ()),
        Some(Matcher {
            http_code: None, ..
        }) => Err(validation("A matcher must specify HttpCode")),
        None => Ok(()),
    }),
];

/// Applies a health check change to `tg`, checked; the timeout must stay below the
/// interval.
fn apply_health_check(tg: &mut TargetGroup, h: HealthCheckIn) -> Result<(), ApiError> {
    check(HEALTH_CHECK, &h)?;
    let n = |v: Option<i64>, cur: u32| v.map_or(cur, |v| v as u32);
    tg.health_check_protocol = h.protocol.unwrap_or(tg.health_check_protocol);
    tg.health_check_port = h.port.unwrap_or_else(|| tg.health_check_port.clone());
    tg.health_check_path = h.path.unwrap_or_else(|| tg.health_check_path.clone());
    tg.health_check_interval_seconds = n(h.interval, tg.health_check_interval_seconds);
    tg.health_check_timeout_seconds = n(h.timeout, tg.health_check_timeout_seconds);
    tg.healthy_threshold_count = n(h.healthy, tg.healthy_threshold_count);
    tg.unhealthy_threshold_count = n(h.unhealthy, tg.unhealthy_threshold_count);
    if let Some(m) = h.matcher {
        tg.matcher = m;
    }
    if tg.health_check_timeout_seconds >= tg.health_check_interval_seconds {
        return Err(configuration(format!(
            "Health check timeout '{}' must be smaller than the interval '{}'",
            tg.health_check_timeout_seconds, tg.health_check_interval_seconds
        )));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateTargetGroupIn {
    name: Option<String>,
    protocol: Option<Protocol>,
    protocol_version: Option<String>,
    port: Option<i64>,
    vpc_id: Option<String>,
    health_check_protocol: Option<Protocol>,
    health_check_port: Option<String>,
    health_check_enabled: Option<bool>,
    health_check_path: Option<String>,
    health_check_interval_seconds: Option<i64>,
    health_check_timeout_seconds: Option<i64>,
    healthy_threshold_count: Option<i64>,
    unhealthy_threshold_count: Option<i64>,
    matcher: Option<Matcher>,
    target_type: Option<TargetType>,
    tags: Option<Vec<Tag>>,
    ip_address_type: Option<IpAddressType>,
    target_control_port: Option<i64>,
}

const CREATE: &[Check<CreateTargetGroupIn>] = &[
    Check::Required("Name", |i| i.name.is_some()),
    Check::Named(|i| check_name("Target group", i.name.as_deref().unwrap_or_default())),
    Check::Named(|i| match i.target_type {
        Some(TargetType::Lambda | TargetType::Alb) => Err(unsupported(
            INVALID_CONFIGURATION_REQUEST,
            "target groups of lambda functions or load balancers (only ip and instance)",
        )),
        _ => Ok(()),
    }),
    Check::Named(|i| match i.protocol {
        None => Err(validation(
            "A protocol must be specified for target groups of target type 'ip' or 'instance'",
        )),
        Some(Protocol::Http) => Ok(()),
        Some(p) => Err(unsupported(
            INVALID_CONFIGURATION_REQUEST,
            &format!("{p} target groups (only HTTP)"),
        )),
    }),
    Check::Named(|i| match i.protocol_version.as_deref() {
        None | Some("HTTP1") => Ok(()),
        Some(v) => Err(unsupported(
            INVALID_CONFIGURATION_REQUEST,
            &format!("protocol version {v} (only HTTP1)"),
        )),
    }),
    Check::Named(|i| match i.ip_address_type {
        None | Some(IpAddressType::Ipv4) => Ok(()),
        Some(t) => Err(unsupported(
            INVALID_CONFIGURATION_REQUEST,
            &format!("target groups of address type {t} (only ipv4)"),
        )),
    }),
    Check::Named(|i| match i.target_control_port {
        None => Ok(()),
        Some(_) => Err(unsupported(
            INVALID_CONFIGURATION_REQUEST,
            "target control ports",
        )),
    }),
    Check::Required("Port", |i| i.port.is_some()),
    Check::Range("Port", |i| i.port, 1, 65535),
    Check::Required("VpcId", |i| i.vpc_id.is_some()),
];

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetGroupsOut {
    target_groups: Vec<TargetGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

/// A new group's document, AWS's defaults filled in.
fn new_group(ctx: &Context, i: &CreateTargetGroupIn, id: &str) -> TargetGroup {
    let name = i.name.clone().unwrap_or_default();
    TargetGroup {
        target_group_arn: ctx.arn(ARN_SERVICE, &format!("targetgroup/{name}/{id}")),
        target_group_name: name,
        protocol: Protocol::Http,
        port: i.port.unwrap_or(80) as u16,
        vpc_id: i.vpc_id.clone().unwrap_or_default(),
        health_check_protocol: Protocol::Http,
        health_check_port: TRAFFIC_PORT.to_string(),
        health_check_enabled: true,
        health_check_interval_seconds: 30,
        health_check_timeout_seconds: 5,
        healthy_threshold_count: 5,
        unhealthy_threshold_count: 2,
        health_check_path: "/".to_string(),
        matcher: Matcher {
            http_code: Some("200".to_string()),
            grpc_code: None,
        },
        load_balancer_arns: Vec::new(),
        target_type: i.target_type.unwrap_or(TargetType::Instance),
        protocol_version: "HTTP1".to_string(),
        ip_address_type: IpAddressType::Ipv4,
    }
}

pub fn create(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: CreateTargetGroupIn,
) -> Result<TargetGroupsOut, ApiError> {
    check(CREATE, &i)?;
    let vpc_id = i.vpc_id.clone().unwrap_or_default();
    if vpc_in(w, ctx, &vpc_id)?.is_none() {
        return Err(validation(format!("The VPC ID '{vpc_id}' is not found")));
    }
    let tags = merge(&[], i.tags.as_deref().unwrap_or_default())?;
    let keys = Keys::new(ctx);
    let id = new_id();
    let mut tg = new_group(ctx, &i, &id);
    apply_health_check(
        &mut tg,
        HealthCheckIn {
            protocol: i.health_check_protocol,
            port: i.health_check_port,
            enabled: i.health_check_enabled,
            path: i.health_check_path,
            interval: i.health_check_interval_seconds,
            timeout: i.health_check_timeout_seconds,
            healthy: i.healthy_threshold_count,
            unhealthy: i.unhealthy_threshold_count,
            matcher: i.matcher,
        },
    )?;
    if let Some(existing_id) = get::<String>(w, &keys.tg_name(&tg.target_group_name))? {
        let existing: TargetGroupRec = get(w, &keys.tg(&existing_id))?
            .ok_or_else(|| ApiError::internal("a target group name without its group"))?;
        let mut same = tg.clone();
        same.target_group_arn = existing.target_group.target_group_arn.clone();
        if same == existing.target_group {
            return Ok(TargetGroupsOut {
                target_groups: vec![shown(w, &keys, existing)?],
                next_marker: None,
            });
        }
        return Err(err(
            DUPLICATE_TARGET_GROUP_NAME,
            format!(
                "A target group with the same name '{}' exists, but with different settings",
                tg.target_group_name
            ),
        ));
    }
    if w.count(&keys.tgs())? as usize >= MAX_TARGET_GROUPS {
        return Err(err(
            TOO_MANY_TARGET_GROUPS,
            format!("An account can have at most {MAX_TARGET_GROUPS} target groups in a region"),
        ));
    }
    let rec = TargetGroupRec {
        target_group: tg,
        id: id.clone(),
        attributes: TargetGroupAttributes::default(),
        tags,
    };
    put(w, &keys.tg(&id), &rec)?;
    put(w, &keys.tg_name(&rec.target_group.target_group_name), &id)?;
    Ok(TargetGroupsOut {
        target_groups: vec![rec.target_group],
        next_marker: None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeTargetGroupsIn {
    load_balancer_arn: Option<String>,
    target_group_arns: Option<Vec<String>>,
    names: Option<Vec<String>>,
    marker: Option<String>,
    page_size: Option<i64>,
}

fn selected(
    r: &impl Read,
    ctx: &Context,
    i: &DescribeTargetGroupsIn,
) -> Result<Vec<TargetGroupRec>, ApiError> {
    let keys = Keys::new(ctx);
    let not_found = |what: &str| {
        err(
            TARGET_GROUP_NOT_FOUND,
            format!("One or more target groups not found: '{what}'"),
        )
    };
    if let Some(arns) = &i.target_group_arns {
        return arns
            .iter()
            .map(|arn| find_target_group(r, ctx, arn)?.ok_or_else(|| not_found(arn)))
            .collect();
    }
    if let Some(names) = &i.names {
        let mut out = Vec::new();
        for name in names {
            let id: String = get(r, &keys.tg_name(name))?.ok_or_else(|| not_found(name))?;
            out.push(get(r, &keys.tg(&id))?.ok_or_else(|| not_found(name))?);
        }
        return Ok(out);
    }
    let groups: Vec<TargetGroupRec> = all(r, &keys.tgs())?;
    let Some(lb_arn) = &i.load_balancer_arn else {
        return Ok(groups);
    };
    load_balancer(r, ctx, lb_arn)?;
    let mut out = Vec::new();
    for g in groups {
        if load_balancer_arns(r, &keys, &g.id)?.contains(lb_arn) {
            out.push(g);
        }
    }
    Ok(out)
}

pub fn describe(
    r: &impl Read,
    ctx: &Context,
    i: DescribeTargetGroupsIn,
) -> Result<TargetGroupsOut, ApiError> {
    at_most_one(&[
        ("LoadBalancerArn", i.load_balancer_arn.is_some()),
        ("TargetGroupArns", i.target_group_arns.is_some()),
        ("Names", i.names.is_some()),
    ])?;
    let keys = Keys::new(ctx);
    let mut items = Vec::new();
    for g in selected(r, ctx, &i)? {
        let key = format!("{}/{}", g.target_group.target_group_name, g.id);
        items.push((key, shown(r, &keys, g)?));
    }
    let (target_groups, next_marker) = page(items, i.marker.as_deref(), i.page_size)?;
    Ok(TargetGroupsOut {
        target_groups,
        next_marker,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ModifyTargetGroupIn {
    target_group_arn: Option<String>,
    health_check_protocol: Option<Protocol>,
    health_check_port: Option<String>,
    health_check_path: Option<String>,
    health_check_enabled: Option<bool>,
    health_check_interval_seconds: Option<i64>,
    health_check_timeout_seconds: Option<i64>,
    healthy_threshold_count: Option<i64>,
    unhealthy_threshold_count: Option<i64>,
    matcher: Option<Matcher>,
}

pub fn modify(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: ModifyTargetGroupIn,
) -> Result<TargetGroupsOut, ApiError> {
    let mut rec = target_group(w, ctx, required(&i.target_group_arn, "TargetGroupArn")?)?;
    apply_health_check(
        &mut rec.target_group,
        HealthCheckIn {
            protocol: i.health_check_protocol,
            port: i.health_check_port,
            enabled: i.health_check_enabled,
            path: i.health_check_path,
            interval: i.health_check_interval_seconds,
            timeout: i.health_check_timeout_seconds,
            healthy: i.healthy_threshold_count,
            unhealthy: i.unhealthy_threshold_count,
            matcher: i.matcher,
        },
    )?;
    let keys = Keys::new(ctx);
    put(w, &keys.tg(&rec.id), &rec)?;
    Ok(TargetGroupsOut {
        target_groups: vec![shown(w, &keys, rec)?],
        next_marker: None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TargetGroupArnIn {
    target_group_arn: Option<String>,
}

/// Deletes a group and its registrations. One that does not exist is no error, as on
/// AWS; one a listener or rule uses is `ResourceInUse`.
pub fn delete_op(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: TargetGroupArnIn,
) -> Result<Empty, ApiError> {
    let arn = required(&i.target_group_arn, "TargetGroupArn")?;
    let Some(rec) = find_target_group(w, ctx, arn)? else {
        return Ok(Empty {});
    };
    let keys = Keys::new(ctx);
    if !load_balancer_arns(w, &keys, &rec.id)?.is_empty() {
        return Err(err(
            RESOURCE_IN_USE,
            format!("Target group '{arn}' is currently in use by a listener or a rule"),
        ));
    }
    delete_below(w, &keys.targets_of(&rec.id))?;
    delete(w, &keys.tg(&rec.id))?;
    delete(w, &keys.tg_name(&rec.target_group.target_group_name))?;
    Ok(Empty {})
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributesOut {
    attributes: Vec<crate::model::Attribute>,
}

pub fn describe_attributes(
    r: &impl Read,
    ctx: &Context,
    i: TargetGroupArnIn,
) -> Result<AttributesOut, ApiError> {
    let rec = target_group(r, ctx, required(&i.target_group_arn, "TargetGroupArn")?)?;
    Ok(AttributesOut {
        attributes: attributes::list(&attributes::target_group_table(), &rec.attributes),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ModifyAttributesIn {
    target_group_arn: Option<String>,
    attributes: Option<Vec<crate::model::Attribute>>,
}

pub fn modify_attributes(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: ModifyAttributesIn,
) -> Result<AttributesOut, ApiError> {
    let mut rec = target_group(w, ctx, required(&i.target_group_arn, "TargetGroupArn")?)?;
    let table = attributes::target_group_table();
    rec.attributes = attributes::apply(
        &table,
        &rec.attributes,
        required(&i.attributes, "Attributes")?,
    )?;
    attributes::check_target_group(&rec.attributes)?;
    put(w, &Keys::new(ctx).tg(&rec.id), &rec)?;
    Ok(AttributesOut {
        attributes: attributes::list(&table, &rec.attributes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_are_codes_and_ranges_within_200_499() {
        assert_eq!(parse_matcher("200").unwrap(), [(200, 200)]);
        assert_eq!(parse_matcher("200,202").unwrap(), [(200, 200), (202, 202)]);
        assert_eq!(parse_matcher("200-299").unwrap(), [(200, 299)]);
        for bad in ["", "600", "199", "300-200", "abc", "200-", "200,,201"] {
            assert_eq!(
                parse_matcher(bad).unwrap_err().code,
                "ValidationError",
                "{bad}"
            );
        }
    }

    #[test]
    fn health_checks_are_checked_by_table() {
        let ctx = Context::default();
        let i = CreateTargetGroupIn {
            name: Some("tg".into()),
            protocol: Some(Protocol::Http),
            protocol_version: None,
            port: Some(80),
            vpc_id: Some("vpc-1".into()),
            health_check_protocol: None,
            health_check_port: None,
            health_check_enabled: None,
            health_check_path: None,
            health_check_interval_seconds: None,
            health_check_timeout_seconds: None,
            healthy_threshold_count: None,
            unhealthy_threshold_count: None,
            matcher: None,
            target_type: Some(TargetType::Ip),
            tags: None,
            ip_address_type: None,
            target_control_port: None,
        };
        let base = new_group(&ctx, &i, "0123456789abcdef");
        let cases: Vec<(HealthCheckIn, Option<&str>)> = vec![
            (
                HealthCheckIn {
                    interval: Some(10),
                    timeout: Some(5),
                    ..Default::default()
                },
                None,
            ),
            (
                HealthCheckIn {
                    interval: Some(4),
                    ..Default::default()
                },
                Some("ValidationError"),
            ),
            (
                HealthCheckIn {
                    timeout: Some(121),
                    ..Default::default()
                },
                Some("ValidationError"),
            ),
            (
                HealthCheckIn {
                    healthy: Some(11),
                    ..Default::default()
                },
                Some("ValidationError"),
            ),
            (
                HealthCheckIn {
                    unhealthy: Some(1),
                    ..Default::default()
                },
                Some("ValidationError"),
            ),
            (
                HealthCheckIn {
                    interval: Some(5),
                    timeout: Some(5),
                    ..Default::default()
                },
                Some("InvalidConfigurationRequest"),
            ),
            (
                HealthCheckIn {
                    path: Some("health".into()),
                    ..Default::default()
                },
                Some("ValidationError"),
            ),
            (
                HealthCheckIn {
                    port: Some("0".into()),
                    ..Default::default()
                },
                Some("ValidationError"),
            ),
            (
                HealthCheckIn {
                    port: Some("8080".into()),
                    ..Default::default()
                },
                None,
            ),
            (
                HealthCheckIn {
                    protocol: Some(Protocol::Https),
                    ..Default::default()
                },
                Some("InvalidConfigurationRequest"),
            ),
            (
                HealthCheckIn {
                    enabled: Some(false),
                    ..Default::default()
                },
                Some("InvalidConfigurationRequest"),
            ),
            (
                HealthCheckIn {
                    matcher: Some(Matcher {
                        http_code: Some("200-599".into()),
                        grpc_code: None,
                    }),
                    ..Default::default()
                },
                Some("ValidationError"),
            ),
            (
                HealthCheckIn {
                    matcher: Some(Matcher {
                        http_code: None,
                        grpc_code: Some("0".into()),
                    }),
                    ..Default::default()
                },
                Some("InvalidConfigurationRequest"),
            ),
        ];
        for (h, want) in cases {
            let what = format!("{h:?}");
            let mut tg = base.clone();
            match (apply_health_check(&mut tg, h), want) {
                (Ok(()), None) => {}
                (Err(e), Some(code)) => assert_eq!(e.code, code, "{what}: {e}"),
                (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
            }
        }
    }
}
