//! Targets and their health: RegisterTargets, DeregisterTargets, DescribeTargetHealth,
//! and the functions the rest of berth keeps targets and health with.
//!
//! Health is data: each registration holds its health as last set (state, reason,
//! description, since). What DescribeTargetHealth shows is a pure function of that,
//! whether the group is used by a listener or rule, the instance's state (instance
//! targets) and the time ([`effective_health`]): a deregistered target drains until its
//! group's deregistration delay has passed, then it is gone. Gone registrations are
//! removed by [`sweep`] (which the server may run) and skipped by every read before.

use std::net::Ipv4Addr;

use berth_awsproto::{ApiError, Context};
use berth_ec2::{instance_in, vpc_in, InstanceState};
use berth_store::{Read, Store, Writer};
use serde::{Deserialize, Serialize};

use crate::common::target_group;
use crate::errors::{
    err, missing, required, unsupported, validation, INVALID_TARGET, TOO_MANY_TARGETS,
    VALIDATION_ERROR,
};
use crate::model::{
    HealthInclude, TargetDescription, TargetHealth, TargetHealthReason as Reason,
    TargetHealthState as State, TargetType,
};
use crate::records::{all, delete, get, put, Keys, TargetGroupRec, TargetRec};
use crate::tags::Empty;
use crate::targetgroup::{load_balancer_arns, TRAFFIC_PORT};

/// The most targets a group has.
pub const MAX_TARGETS: usize = 1000;
/// The global index of draining registrations: `<account>/<region>/<tg>/<id>/<port>`.
const DRAINING: &str = "elbv2/draining/";

/// A target: an IPv4 address (`ip` groups) or an instance id (`instance` groups), and
/// a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The address or instance id.
    pub id: String,
    /// The port.
    pub port: u16,
}

/// ELB's words for each reason.
pub fn reason_description(reason: Reason) -> &'static str {
    match reason {
        Reason::RegistrationInProgress => "Target registration is in progress",
        Reason::InitialHealthChecking => "Initial health checks in progress",
        Reason::ResponseCodeMismatch => "Health checks failed with these codes: [unexpected]",
        Reason::Timeout => "Request timed out",
        Reason::FailedHealthChecks => "Health checks failed",
        Reason::NotRegistered => "Target is not registered to the target group",
        Reason::NotInUse => {
            "Target group is not configured to receive traffic from the load balancer"
        }
        Reason::DeregistrationInProgress => "Target deregistration is in progress",
        Reason::InvalidState => "Target is in the stopped state",
        Reason::IpUnusable => {
            "The target IP address is reserved for use by an Elastic Load Balancing load balancer"
        }
        Reason::HealthCheckDisabled => "Health checks are disabled",
        Reason::InternalError => "Health checks failed due to an internal error",
    }
}

impl TargetHealth {
    /// `state` for `reason`, with ELB's description of the reason.
    pub fn of(state: State, reason: Reason) -> TargetHealth {
        TargetHealth {
            state,
            reason: Some(reason),
            description: Some(reason_description(reason).to_string()),
        }
    }

    /// Healthy: no reason, no description.
    pub fn healthy() -> TargetHealth {
        TargetHealth {
            state: State::Healthy,
            reason: None,
            description: None,
        }
    }

    /// Unhealthy because the target answered other codes than the matcher's.
    pub fn response_code_mismatch(codes: &[u16]) -> TargetHealth {
        let list: Vec<String> = codes.iter().map(u16::to_string).collect();
        TargetHealth {
            state: State::Unhealthy,
            reason: Some(Reason::ResponseCodeMismatch),
            description: Some(format!(
                "Health checks failed with these codes: [{}]",
                list.join(",")
            )),
        }
    }
}

/// What backs a target, for its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// An address.
    Address,
    /// An instance in this state (`None`: berth no longer knows it).
    Instance(Option<InstanceState>),
}

/// A registration's health as ELB shows it now, or `None` when it is gone (its
/// draining ended).
pub fn effective_health(
    t: &TargetRec,
    in_use: bool,
    backing: Backing,
    now: f64,
) -> Option<TargetHealth> {
    match t.drain_until {
        Some(until) if now >= until => return None,
        Some(_) => {
            return Some(TargetHealth::of(
                State::Draining,
                Reason::DeregistrationInProgress,
            ))
        }
        None => {}
    }
    match backing {
        Backing::Instance(Some(InstanceState::Running | InstanceState::Pending))
        | Backing::Address => {}
        Backing::Instance(state) => {
            let word = if matches!(
                state,
                Some(InstanceState::Stopped | InstanceState::Stopping)
            ) {
                "stopped"
            } else {
                "terminated"
            };
            return Some(TargetHealth {
                state: State::Unused,
                reason: Some(Reason::InvalidState),
                description: Some(format!("Target is in the {word} state")),
            });
        }
    }
    if !in_use {
        return Some(TargetHealth::of(State::Unused, Reason::NotInUse));
    }
    Some(t.health.clone())
}

/// What backs `t` in group `tg`.
pub fn backing_in(
    r: &impl Read,
    ctx: &Context,
    tg: &TargetGroupRec,
    id: &str,
) -> Result<Backing, ApiError> {
    if tg.target_group.target_type != TargetType::Instance {
        return Ok(Backing::Address);
    }
    Ok(Backing::Instance(instance_in(r, ctx, id)?.map(|i| i.state)))
}

fn draining_key(ctx: &Context, tg: &str, t: &Target) -> String {
    format!(
        "{DRAINING}{}/{}/{tg}/{}/{}",
        ctx.account, ctx.region, t.id, t.port
    )
}

/// Whether `ip` may be an `ip` target of a group in a VPC of block `vpc`: in the
/// VPC, or in a private range (RFC 1918, RFC 6598).
pub fn allowed_ip(ip: Ipv4Addr, vpc: Option<(Ipv4Addr, u8)>) -> bool {
    let within = |net: Ipv4Addr, len: u8| {
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        u32::from(ip) & mask == u32::from(net) & mask
    };
    let private = [
        (Ipv4Addr::new(10, 0, 0, 0), 8),
        (Ipv4Addr::new(172, 16, 0, 0), 12),
        (Ipv4Addr::new(192, 168, 0, 0), 16),
        (Ipv4Addr::new(100, 64, 0, 0), 10),
    ];
    vpc.is_some_and(|(n, l)| within(n, l)) || private.iter().any(|(n, l)| within(*n, *l))
}

fn vpc_block(
    r: &impl Read,
    ctx: &Context,
    vpc_id: &str,
) -> Result<Option<(Ipv4Addr, u8)>, ApiError> {
    let Some(vpc) = vpc_in(r, ctx, vpc_id)? else {
        return Ok(None);
    };
    Ok(vpc
        .cidr_block
        .split_once('/')
        .and_then(|(a, l)| Some((a.parse().ok()?, l.parse().ok()?))))
}

/// Checks that `t` may be a target of `tg`.
fn check_target(
    r: &impl Read,
    ctx: &Context,
    tg: &TargetGroupRec,
    t: &Target,
) -> Result<(), ApiError> {
    let invalid = |why: String| err(INVALID_TARGET, why);
    match tg.target_group.target_type {
        TargetType::Instance => {
            let i = instance_in(r, ctx, &t.id)?.ok_or_else(|| {
                invalid(format!(
                    "The following targets are not valid instances: '{}'",
                    t.id
                ))
            })?;
            if i.vpc_id != tg.target_group.vpc_id {
                return Err(invalid(format!(
                    "The following targets are not in the target group VPC '{}': '{}'",
                    tg.target_group.vpc_id, t.id
                )));
            }
            if i.state != InstanceState::Running {
                return Err(invalid(format!("The following targets are not in a running state and cannot be registered: '{}'", t.id)));
            }
        }
        _ => {
            let ip: Ipv4Addr = t.id.parse().map_err(|_| {
                invalid(format!(
                    "The IP address '{}' is not a valid IPv4 address",
                    t.id
                ))
            })?;
            if !allowed_ip(ip, vpc_block(r, ctx, &tg.target_group.vpc_id)?) {
                return Err(invalid(format!(
                    "The IP address '{ip}' is not within the VPC's CIDR block or a private range (RFC 1918, RFC 6598)"
                )));
            }
        }
    }
    Ok(())
}

/// The live registrations of a group (those whose draining has not ended).
fn registrations(
    r: &impl Read,
    keys: &Keys,
    tg_id: &str,
    now: f64,
) -> Result<Vec<TargetRec>, ApiError> {
    Ok(all::<TargetRec>(r, &keys.targets_of(tg_id))?
        .into_iter()
        .filter(|t| t.drain_until.is_none_or(|u| now < u))
        .collect())
}

/// Registers `targets` with the group `tg_arn`: new ones (or draining ones) start
/// `initial` (`Elb.RegistrationInProgress`); registered ones stay as they are.
pub fn register_targets_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    tg_arn: &str,
    targets: &[Target],
    now: f64,
) -> Result<(), ApiError> {
    let tg = target_group(w, ctx, tg_arn)?;
    let keys = Keys::new(ctx);
    for t in targets {
        check_target(w, ctx, &tg, t)?;
    }
    let live = registrations(w, &keys, &tg.id, now)?;
    let mut count = live.iter().filter(|r| r.drain_until.is_none()).count();
    for t in targets {
        let key = keys.target(&tg.id, &t.id, t.port);
        let existing = live.iter().find(|r| r.id == t.id && r.port == t.port);
        if existing.is_some_and(|r| r.drain_until.is_none()) {
            continue;
        }
        count += 1;
        if count > MAX_TARGETS {
            return Err(err(
                TOO_MANY_TARGETS,
                format!("A target group can have at most {MAX_TARGETS} targets"),
            ));
        }
        let rec = TargetRec {
            id: t.id.clone(),
            port: t.port,
            availability_zone: None,
            health: TargetHealth::of(State::Initial, Reason::RegistrationInProgress),
            since: now,
            drain_until: None,
        };
        put(w, &key, &rec)?;
        delete(w, &draining_key(ctx, &tg.id, t))?;
    }
    Ok(())
}

/// Deregisters `targets`: each drains for the group's deregistration delay (none:
/// gone at once). A target that is not registered is `InvalidTarget`.
pub fn deregister_targets_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    tg_arn: &str,
    targets: &[Target],
    now: f64,
) -> Result<(), ApiError> {
    let tg = target_group(w, ctx, tg_arn)?;
    let keys = Keys::new(ctx);
    let live = registrations(w, &keys, &tg.id, now)?;
    let delay = f64::from(tg.attributes.deregistration_delay_seconds);
    for t in targets {
        let key = keys.target(&tg.id, &t.id, t.port);
        let Some(mut rec) = live
            .iter()
            .find(|r| r.id == t.id && r.port == t.port)
            .cloned()
        else {
            return Err(err(INVALID_TARGET, format!(
                "The following targets are not registered in target group '{tg_arn}': 'Id={},Port={}'",
                t.id, t.port
            )));
        };
        if rec.drain_until.is_some() {
            continue;
        }
        if delay <= 0.0 {
            delete(w, &key)?;
            continue;
        }
        rec.drain_until = Some(now + delay);
        rec.health = TargetHealth::of(State::Draining, Reason::DeregistrationInProgress);
        rec.since = now;
        put(w, &key, &rec)?;
        put(w, &draining_key(ctx, &tg.id, t), &(now + delay))?;
    }
    Ok(())
}

/// Sets a registered target's health (what the data plane's health checks found).
/// Writes nothing when it is unchanged; false when the target is not registered.
pub fn set_target_health_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    tg_arn: &str,
    target: &Target,
    health: TargetHealth,
    now: f64,
) -> Result<bool, ApiError> {
    let tg = target_group(w, ctx, tg_arn)?;
    let key = Keys::new(ctx).target(&tg.id, &target.id, target.port);
    let Some(mut rec) = get::<TargetRec>(w, &key)? else {
        return Ok(false);
    };
    if rec.drain_until.is_some_and(|u| now >= u) {
        return Ok(false);
    }
    if rec.health != health {
        rec.health = health;
        rec.since = now;
        put(w, &key, &rec)?;
    }
    Ok(true)
}

/// Removes every registration whose draining ended by `now`, in every account and
/// region; how many.
pub fn sweep_in(w: &mut Writer<'_>, now: f64) -> Result<usize, ApiError> {
    let mut n = 0;
    for (key, until) in w.scan_json::<f64>(DRAINING, None, usize::MAX)? {
        if now < until {
            continue;
        }
        let rest = &key[DRAINING.len()..];
        let parts: Vec<&str> = rest.splitn(5, '/').collect();
        if let [account, region, tg, id, port] = parts[..] {
            let ctx = Context::new(account, region);
            let target_key = Keys::new(&ctx).target(tg, id, port.parse().unwrap_or_default());
            if let Some(rec) = get::<TargetRec>(w, &target_key)? {
                if rec.drain_until.is_some_and(|u| now >= u) {
                    delete(w, &target_key)?;
                    n += 1;
                }
            }
        }
        delete(w, &key)?;
    }
    Ok(n)
}

/// [`sweep_in`] in a transaction of its own.
pub fn sweep(store: &Store, now: f64) -> Result<usize, ApiError> {
    Ok(store.write(|w| sweep_in(w, now))?.0)
}

/// The targets of a request, each with the group's port unless given.
fn targets_of(tg: &TargetGroupRec, given: &[TargetDescription]) -> Result<Vec<Target>, ApiError> {
    let mut out = Vec::new();
    for (n, t) in given.iter().enumerate() {
        let at = format!("Targets.member.{}", n + 1);
        let id = required(&t.id, &format!("{at}.Id"))?;
        if t.quic_server_id.is_some() {
            return Err(unsupported(VALIDATION_ERROR, "QUIC server ids"));
        }
        let port = t.port.unwrap_or(i64::from(tg.target_group.port));
        if !(1..=65535).contains(&port) {
            return Err(validation(format!(
                "{at}.Port '{port}' must be between 1 and 65535"
            )));
        }
        out.push(Target {
            id: id.clone(),
            port: port as u16,
        });
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TargetsIn {
    target_group_arn: Option<String>,
    targets: Option<Vec<TargetDescription>>,
}

fn request(r: &impl Read, ctx: &Context, i: &TargetsIn) -> Result<(String, Vec<Target>), ApiError> {
    let arn = required(&i.target_group_arn, "TargetGroupArn")?;
    let given = required(&i.targets, "Targets")?;
    if given.is_empty() {
        return Err(missing("Targets"));
    }
    let tg = target_group(r, ctx, arn)?;
    Ok((arn.clone(), targets_of(&tg, given)?))
}

pub fn register(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: TargetsIn,
    now: f64,
) -> Result<Empty, ApiError> {
    let (arn, targets) = request(w, ctx, &i)?;
    register_targets_in(w, ctx, &arn, &targets, now)?;
    let keys = Keys::new(ctx);
    let tg = target_group(w, ctx, &arn)?;
    // The zone a target was registered with is shown back.
    for (t, d) in targets.iter().zip(i.targets.unwrap_or_default()) {
        let key = keys.target(&tg.id, &t.id, t.port);
        if let (Some(zone), Some(mut rec)) = (d.availability_zone, get::<TargetRec>(w, &key)?) {
            if rec.availability_zone.as_ref() != Some(&zone) {
                rec.availability_zone = Some(zone);
                put(w, &key, &rec)?;
            }
        }
    }
    Ok(Empty {})
}

pub fn deregister(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: TargetsIn,
    now: f64,
) -> Result<Empty, ApiError> {
    let (arn, targets) = request(w, ctx, &i)?;
    deregister_targets_in(w, ctx, &arn, &targets, now)?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeTargetHealthIn {
    target_group_arn: Option<String>,
    targets: Option<Vec<TargetDescription>>,
    /// berth has no anomaly detection (it comes with weighted random routing, which
    /// berth refuses): nothing more to include.
    include: Option<Vec<HealthInclude>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetHealthDescription {
    target: TargetDescription,
    health_check_port: String,
    target_health: TargetHealth,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTargetHealthOut {
    target_health_descriptions: Vec<TargetHealthDescription>,
}

pub fn describe_health(
    r: &impl Read,
    ctx: &Context,
    i: DescribeTargetHealthIn,
    now: f64,
) -> Result<DescribeTargetHealthOut, ApiError> {
    let tg = target_group(r, ctx, required(&i.target_group_arn, "TargetGroupArn")?)?;
    let _ = i.include;
    let keys = Keys::new(ctx);
    let in_use = !load_balancer_arns(r, &keys, &tg.id)?.is_empty();
    let live = registrations(r, &keys, &tg.id, now)?;
    let wanted: Vec<Target> = match &i.targets {
        Some(given) if !given.is_empty() => targets_of(&tg, given)?,
        _ => live
            .iter()
            .map(|t| Target {
                id: t.id.clone(),
                port: t.port,
            })
            .collect(),
    };
    let hc_port = |port: u16| match tg.target_group.health_check_port.as_str() {
        TRAFFIC_PORT => port.to_string(),
        p => p.to_string(),
    };
    let mut out = Vec::new();
    for t in wanted {
        let rec = live.iter().find(|r| r.id == t.id && r.port == t.port);
        let health = match rec {
            Some(rec) => effective_health(rec, in_use, backing_in(r, ctx, &tg, &rec.id)?, now)
                .unwrap_or_else(|| TargetHealth::of(State::Unused, Reason::NotRegistered)),
            None => TargetHealth::of(State::Unused, Reason::NotRegistered),
        };
        out.push(TargetHealthDescription {
            target: TargetDescription {
                id: Some(t.id.clone()),
                port: Some(i64::from(t.port)),
                availability_zone: rec.and_then(|r| r.availability_zone.clone()),
                quic_server_id: None,
            },
            health_check_port: hc_port(t.port),
            target_health: health,
        });
    }
    Ok(DescribeTargetHealthOut {
        target_health_descriptions: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(health: TargetHealth, drain_until: Option<f64>) -> TargetRec {
        TargetRec {
            id: "10.0.0.1".into(),
            port: 80,
            availability_zone: None,
            health,
            since: 0.0,
            drain_until,
        }
    }

    #[test]
    fn health_is_a_function_of_registration_use_backing_and_time() {
        let initial = TargetHealth::of(State::Initial, Reason::RegistrationInProgress);
        let running = Backing::Instance(Some(InstanceState::Running));
        type Case = (
            TargetRec,
            bool,
            Backing,
            f64,
            Option<(State, Option<Reason>)>,
        );
        let cases: Vec<Case> = vec![
            (
                reg(initial.clone(), None),
                true,
                Backing::Address,
                10.0,
                Some((State::Initial, Some(Reason::RegistrationInProgress))),
            ),
            (
                reg(initial.clone(), None),
                false,
                Backing::Address,
                10.0,
                Some((State::Unused, Some(Reason::NotInUse))),
            ),
            (
                reg(TargetHealth::healthy(), None),
                true,
                running,
                10.0,
                Some((State::Healthy, None)),
            ),
            (
                reg(TargetHealth::of(State::Unhealthy, Reason::Timeout), None),
                true,
                Backing::Address,
                10.0,
                Some((State::Unhealthy, Some(Reason::Timeout))),
            ),
            (
                reg(TargetHealth::healthy(), Some(300.0)),
                true,
                Backing::Address,
                299.9,
                Some((State::Draining, Some(Reason::DeregistrationInProgress))),
            ),
            (
                reg(TargetHealth::healthy(), Some(300.0)),
                false,
                Backing::Address,
                10.0,
                Some((State::Draining, Some(Reason::DeregistrationInProgress))),
            ),
            (
                reg(TargetHealth::healthy(), Some(300.0)),
                true,
                Backing::Address,
                300.0,
                None,
            ),
            (
                reg(TargetHealth::healthy(), None),
                true,
                Backing::Instance(Some(InstanceState::Stopped)),
                10.0,
                Some((State::Unused, Some(Reason::InvalidState))),
            ),
            (
                reg(TargetHealth::healthy(), None),
                true,
                Backing::Instance(None),
                10.0,
                Some((State::Unused, Some(Reason::InvalidState))),
            ),
        ];
        for (rec, in_use, backing, now, want) in cases {
            let got = effective_health(&rec, in_use, backing, now).map(|h| (h.state, h.reason));
            assert_eq!(got, want, "{rec:?} in_use={in_use} {backing:?} at {now}");
        }
        let stopped =
            effective_health(&reg(initial, None), true, Backing::Instance(None), 0.0).unwrap();
        assert_eq!(
            stopped.description.as_deref(),
            Some("Target is in the terminated state")
        );
    }

    #[test]
    fn ip_targets_are_in_the_vpc_or_private() {
        let vpc = Some((Ipv4Addr::new(172, 31, 0, 0), 16));
        for (ip, ok) in [
            ("172.31.5.6", true),
            ("10.1.2.3", true),
            ("192.168.9.9", true),
            ("100.64.0.1", true),
            ("172.20.0.1", true),
            ("8.8.8.8", false),
            ("127.0.0.1", false),
            ("100.128.0.1", false),
        ] {
            assert_eq!(allowed_ip(ip.parse().unwrap(), vpc), ok, "{ip}");
        }
        assert!(allowed_ip(
            "11.0.0.1".parse().unwrap(),
            Some((Ipv4Addr::new(11, 0, 0, 0), 16))
        ));
    }
}
