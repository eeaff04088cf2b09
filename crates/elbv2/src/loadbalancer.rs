//! Load balancers: CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer,
//! their attributes, SetSecurityGroups, SetSubnets, and the state the data plane sets.
//!
//! Subnets and security groups are EC2's (`berth-ec2`): subnets of one VPC in at
//! least two zones, one per zone; groups of that VPC (none given: its default group).
//! Each load balancer gets a loopback address of its own in 127.77.0.0/16 for its data
//! plane, and a DNS name under `.localhost`, which resolves to loopback on the host.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use berth_awsproto::{random_below, ApiError, Context};
use berth_ec2::{default_group_in, ensure_defaults_in, security_group_in, subnet_in};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attributes::{self, LoadBalancerAttributes};
use crate::common::{at_most_one, check_name, find_load_balancer, load_balancer, page};
use crate::errors::{
    configuration, err, required, unsupported, validation, DUPLICATE_LOAD_BALANCER_NAME,
    INVALID_CONFIGURATION_REQUEST, INVALID_SECURITY_GROUP, LOAD_BALANCER_NOT_FOUND,
    OPERATION_NOT_PERMITTED, SUBNET_NOT_FOUND, TOO_MANY_LOAD_BALANCERS,
};
use crate::model::{
    Attribute, AvailabilityZone, IpAddressType, LoadBalancer, LoadBalancerState,
    LoadBalancerStateCode, LoadBalancerType, Scheme, Tag,
};
use crate::records::{
    address_key, all, delete, get, new_id, put, Keys, ListenerRec, LoadBalancerRec,
    LoadBalancerRef, ARN_SERVICE,
};
use crate::tags::{merge, Empty};

/// The most load balancers an account has in a region.
const MAX_LOAD_BALANCERS: usize = 50;
/// The most security groups a load balancer has.
const MAX_GROUPS: usize = 5;

/// Route 53's hosted zone of application load balancers in the region (AWS's
/// published values; us-east-1's elsewhere).
fn hosted_zone(region: &str) -> &'static str {
    const ZONES: &[(&str, &str)] = &[
        ("us-east-1", "Z35SXDOTRQ7X7K"),
        ("us-east-2", "Z3AADJGX6KTTL2"),
        ("us-west-1", "Z368ELLRRE2KJ0"),
        ("us-west-2", "Z1H1FL5HABSF5"),
        ("eu-west-1", "Z32O12XQLNTSW2"),
        ("eu-west-2", "ZHURV8PSTC4K8"),
        ("eu-central-1", "Z215JYRZR1TBD5"),
        ("ap-northeast-1", "Z14GRHDCWA56QT"),
        ("ap-southeast-1", "Z1LMS91P8CMLE5"),
        ("ap-southeast-2", "Z1GM3OXH4ZPM65"),
        ("ap-south-1", "ZP97RAFLXTNZK"),
    ];
    ZONES
        .iter()
        .find(|(r, _)| *r == region)
        .map_or(ZONES[0].1, |(_, z)| z)
}

/// `<name>-<10 digits>.<region>.elb.localhost` (`internal-` first for internal ones).
fn dns_name(name: &str, scheme: Scheme, region: &str) -> String {
    let digits: String = (0..10)
        .map(|_| char::from(b'0' + random_below(10) as u8))
        .collect();
    let internal = if scheme == Scheme::Internal {
        "internal-"
    } else {
        ""
    };
    format!("{internal}{name}-{digits}.{region}.elb.localhost")
}

/// A free loopback address in 127.77.0.0/16 (across every account and region).
fn allocate_address(r: &impl Read) -> Result<Ipv4Addr, ApiError> {
    let candidate = |n: u64| Ipv4Addr::new(127, 77, (n >> 8) as u8, (n & 0xff) as u8);
    for _ in 0..64 {
        let n = 1 + random_below(0xfffe);
        let ip = candidate(n);
        if ip.octets()[3] != 0 && ip.octets()[3] != 255 && r.get(&address_key(ip))?.is_none() {
            return Ok(ip);
        }
    }
    for n in 1..0xffff {
        let ip = candidate(n);
        if ip.octets()[3] != 0 && ip.octets()[3] != 255 && r.get(&address_key(ip))?.is_none() {
            return Ok(ip);
        }
    }
    Err(err(
        TOO_MANY_LOAD_BALANCERS,
        "berth has no free load balancer address left in 127.77.0.0/16",
    ))
}

/// Makes EC2's default network on first touch; a deleted default VPC is no error here.
fn touch_network(w: &mut Writer<'_>, ctx: &Context) -> Result<(), ApiError> {
    match ensure_defaults_in(w, ctx) {
        Err(e) if e.status >= 500 => Err(e),
        _ => Ok(()),
    }
}

/// Where a load balancer is: its VPC, zones and groups.
struct Placement {
    vpc_id: String,
    zones: Vec<AvailabilityZone>,
}

/// Subnets of one VPC, in two zones at least, one per zone.
fn place(r: &impl Read, ctx: &Context, subnets: &[String]) -> Result<Placement, ApiError> {
    let mut vpc_id: Option<String> = None;
    let mut zones: Vec<AvailabilityZone> = Vec::new();
    for id in subnets {
        let s = subnet_in(r, ctx, id)?.ok_or_else(|| {
            err(
                SUBNET_NOT_FOUND,
                format!("The subnet ID '{id}' is not valid"),
            )
        })?;
        if vpc_id.get_or_insert_with(|| s.vpc_id.clone()) != &s.vpc_id {
            return Err(configuration("The subnets must all belong to the same VPC"));
        }
        if zones.iter().any(|z| z.zone_name == s.availability_zone) {
            return Err(configuration(format!(
                "A load balancer cannot be attached to multiple subnets in the same Availability Zone ('{}')",
                s.availability_zone
            )));
        }
        zones.push(AvailabilityZone {
            zone_name: s.availability_zone,
            subnet_id: s.subnet_id,
            load_balancer_addresses: Vec::new(),
        });
    }
    if zones.len() < 2 {
        return Err(configuration(
            "At least two subnets in two different Availability Zones must be specified",
        ));
    }
    zones.sort_by(|a, b| a.zone_name.cmp(&b.zone_name));
    let vpc_id = vpc_id.unwrap_or_default();
    Ok(Placement { vpc_id, zones })
}

/// The groups of a load balancer in `vpc_id`: each of that VPC; none, its default.
fn groups(
    r: &impl Read,
    ctx: &Context,
    vpc_id: &str,
    given: Option<&[String]>,
) -> Result<Vec<String>, ApiError> {
    let bad = |why: String| err(INVALID_SECURITY_GROUP, why);
    let Some(given) = given.filter(|g| !g.is_empty()) else {
        let d = default_group_in(r, ctx, vpc_id)?
            .ok_or_else(|| bad(format!("The VPC '{vpc_id}' has no default security group")))?;
        return Ok(vec![d.group_id]);
    };
    if given.len() > MAX_GROUPS {
        return Err(bad(format!(
            "A load balancer can have at most {MAX_GROUPS} security groups"
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for id in given {
        let g = security_group_in(r, ctx, id)?
            .ok_or_else(|| bad(format!("Security group '{id}' does not exist")))?;
        if g.vpc_id != vpc_id {
            return Err(bad(format!(
                "Security group '{id}' does not belong to VPC '{vpc_id}'"
            )));
        }
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// A subnet mapping: berth takes only its subnet.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SubnetMapping {
    subnet_id: Option<String>,
    allocation_id: Option<String>,
    #[serde(rename = "PrivateIPv4Address")]
    private_ipv4_address: Option<String>,
    #[serde(rename = "IPv6Address")]
    ipv6_address: Option<String>,
    source_nat_ipv6_prefix: Option<String>,
}

/// The subnets of `Subnets` or `SubnetMappings` (not both).
fn subnet_ids(
    subnets: &Option<Vec<String>>,
    mappings: &Option<Vec<SubnetMapping>>,
) -> Result<Vec<String>, ApiError> {
    at_most_one(&[
        ("Subnets", subnets.is_some()),
        ("SubnetMappings", mappings.is_some()),
    ])?;
    if let Some(m) = mappings {
        let mut ids = Vec::new();
        for (i, m) in m.iter().enumerate() {
            if m.allocation_id.is_some()
                || m.private_ipv4_address.is_some()
                || m.ipv6_address.is_some()
                || m.source_nat_ipv6_prefix.is_some()
            {
                return Err(unsupported(
                    INVALID_CONFIGURATION_REQUEST,
                    "addresses in subnet mappings (application load balancers take none)",
                ));
            }
            ids.push(
                required(
                    &m.subnet_id,
                    &format!("SubnetMappings.member.{}.SubnetId", i + 1),
                )?
                .clone(),
            );
        }
        return Ok(ids);
    }
    Ok(subnets.clone().unwrap_or_default())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateLoadBalancerIn {
    name: Option<String>,
    subnets: Option<Vec<String>>,
    subnet_mappings: Option<Vec<SubnetMapping>>,
    security_groups: Option<Vec<String>>,
    scheme: Option<Scheme>,
    tags: Option<Vec<Tag>>,
    #[serde(rename = "Type")]
    kind: Option<LoadBalancerType>,
    ip_address_type: Option<IpAddressType>,
    customer_owned_ipv4_pool: Option<String>,
    enable_prefix_for_ipv6_source_nat: Option<String>,
    ipam_pools: Option<Value>,
}

/// What berth refuses of a new load balancer.
fn refuse_unsupported(i: &CreateLoadBalancerIn) -> Result<(), ApiError> {
    let code = INVALID_CONFIGURATION_REQUEST;
    if i.kind.is_some_and(|k| k != LoadBalancerType::Application) {
        return Err(unsupported(
            code,
            "network or gateway load balancers (only application)",
        ));
    }
    if i.ip_address_type.is_some_and(|t| t != IpAddressType::Ipv4) {
        return Err(unsupported(code, "IP address types other than ipv4"));
    }
    if i.customer_owned_ipv4_pool.is_some()
        || i.ipam_pools.is_some()
        || i.enable_prefix_for_ipv6_source_nat.is_some()
    {
        return Err(unsupported(code, "address pools or IPv6 source NAT"));
    }
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancersOut {
    load_balancers: Vec<LoadBalancer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

/// The same load balancer asked again (same type, scheme, subnets and groups).
fn same_request(
    existing: &LoadBalancer,
    scheme: Scheme,
    place: &Placement,
    groups: &[String],
) -> bool {
    let subnets = |z: &[AvailabilityZone]| {
        z.iter()
            .map(|z| z.subnet_id.clone())
            .collect::<BTreeSet<_>>()
    };
    existing.scheme == scheme
        && subnets(&existing.availability_zones) == subnets(&place.zones)
        && existing.security_groups.iter().collect::<BTreeSet<_>>() == groups.iter().collect()
}

/// The load balancer called `name`, if there is one.
fn existing_named(
    r: &impl Read,
    keys: &Keys,
    name: &str,
) -> Result<Option<LoadBalancerRec>, ApiError> {
    let Some(id) = get::<String>(r, &keys.lb_name(name))? else {
        return Ok(None);
    };
    let rec = get(r, &keys.lb(&id))?.ok_or_else(|| {
        ApiError::internal(format!("load balancer {name} has a name but no record"))
    })?;
    Ok(Some(rec))
}

pub fn create(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: CreateLoadBalancerIn,
    now: f64,
) -> Result<LoadBalancersOut, ApiError> {
    let name = required(&i.name, "Name")?.clone();
    check_name("Load balancer", &name)?;
    if name.starts_with("internal-") {
        return Err(validation(format!(
            "Load balancer name '{name}' cannot begin with 'internal-'"
        )));
    }
    refuse_unsupported(&i)?;
    let tags = merge(&[], i.tags.as_deref().unwrap_or_default())?;
    touch_network(w, ctx)?;
    let place = place(w, ctx, &subnet_ids(&i.subnets, &i.subnet_mappings)?)?;
    let groups = groups(w, ctx, &place.vpc_id, i.security_groups.as_deref())?;
    let scheme = i.scheme.unwrap_or(Scheme::InternetFacing);
    let keys = Keys::new(ctx);
    if let Some(existing) = existing_named(w, &keys, &name)? {
        if same_request(&existing.load_balancer, scheme, &place, &groups) {
            return Ok(LoadBalancersOut {
                load_balancers: vec![existing.load_balancer],
                next_marker: None,
            });
        }
        return Err(err(
            DUPLICATE_LOAD_BALANCER_NAME,
            format!(
                "A load balancer with the same name '{name}' exists, but with different settings"
            ),
        ));
    }
    if w.count(&keys.lbs())? as usize >= MAX_LOAD_BALANCERS {
        return Err(err(
            TOO_MANY_LOAD_BALANCERS,
            format!("An account can have at most {MAX_LOAD_BALANCERS} load balancers in a region"),
        ));
    }
    let id = new_id();
    let address = allocate_address(w)?;
    let arn = ctx.arn(ARN_SERVICE, &format!("loadbalancer/app/{name}/{id}"));
    let rec = LoadBalancerRec {
        load_balancer: LoadBalancer {
            load_balancer_arn: arn.clone(),
            dns_name: dns_name(&name, scheme, &ctx.region),
            canonical_hosted_zone_id: hosted_zone(&ctx.region).to_string(),
            created_time: now,
            load_balancer_name: name.clone(),
            scheme,
            vpc_id: place.vpc_id,
            state: LoadBalancerState {
                code: LoadBalancerStateCode::Provisioning,
                reason: None,
            },
            kind: LoadBalancerType::Application,
            availability_zones: place.zones,
            security_groups: groups,
            ip_address_type: IpAddressType::Ipv4,
        },
        id: id.clone(),
        address,
        attributes: LoadBalancerAttributes::default(),
        tags,
        interfaces: Vec::new(),
    };
    put(w, &keys.lb(&id), &rec)?;
    put(w, &keys.lb_name(&name), &id)?;
    let global = LoadBalancerRef {
        account: ctx.account.clone(),
        region: ctx.region.clone(),
        load_balancer_arn: arn,
        address,
    };
    put(w, &address_key(address), &global)?;
    Ok(LoadBalancersOut {
        load_balancers: vec![rec.load_balancer],
        next_marker: None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeLoadBalancersIn {
    load_balancer_arns: Option<Vec<String>>,
    names: Option<Vec<String>>,
    marker: Option<String>,
    page_size: Option<i64>,
}

pub fn describe(
    r: &impl Read,
    ctx: &Context,
    i: DescribeLoadBalancersIn,
) -> Result<LoadBalancersOut, ApiError> {
    at_most_one(&[
        ("LoadBalancerArns", i.load_balancer_arns.is_some()),
        ("Names", i.names.is_some()),
    ])?;
    let keys = Keys::new(ctx);
    let not_found = |what: &str| {
        err(
            LOAD_BALANCER_NOT_FOUND,
            format!("One or more load balancers not found: '{what}'"),
        )
    };
    let mut found: Vec<LoadBalancerRec> = Vec::new();
    if let Some(arns) = &i.load_balancer_arns {
        for arn in arns {
            found.push(find_load_balancer(r, ctx, arn)?.ok_or_else(|| not_found(arn))?);
        }
    } else if let Some(names) = &i.names {
        for name in names {
            let id: String = get(r, &keys.lb_name(name))?.ok_or_else(|| not_found(name))?;
            found.push(get(r, &keys.lb(&id))?.ok_or_else(|| not_found(name))?);
        }
    } else {
        found = all(r, &keys.lbs())?;
    }
    let items = found
        .into_iter()
        .map(|l| {
            (
                format!("{}/{}", l.load_balancer.load_balancer_name, l.id),
                l.load_balancer,
            )
        })
        .collect();
    let (load_balancers, next_marker) = page(items, i.marker.as_deref(), i.page_size)?;
    Ok(LoadBalancersOut {
        load_balancers,
        next_marker,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct LoadBalancerArnIn {
    load_balancer_arn: Option<String>,
}

/// Deletes a load balancer, its listeners and their rules. One that does not exist
/// is no error, as on AWS; one with deletion protection is.
pub fn delete_op(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: LoadBalancerArnIn,
) -> Result<Empty, ApiError> {
    let arn = required(&i.load_balancer_arn, "LoadBalancerArn")?;
    let Some(rec) = find_load_balancer(w, ctx, arn)? else {
        return Ok(Empty {});
    };
    if rec.attributes.deletion_protection {
        return Err(err(
            OPERATION_NOT_PERMITTED,
            format!(
                "Load balancer '{arn}' cannot be deleted because deletion protection is enabled"
            ),
        ));
    }
    let keys = Keys::new(ctx);
    for l in all::<ListenerRec>(w, &keys.listeners_of(&rec.id))? {
        crate::listener::remove_in(w, &keys, &l)?;
    }
    let mut rec = rec;
    crate::interfaces::delete_interfaces_in(w, ctx, &mut rec)?;
    delete(w, &keys.lb(&rec.id))?;
    delete(w, &keys.lb_name(&rec.load_balancer.load_balancer_name))?;
    delete(w, &address_key(rec.address))?;
    Ok(Empty {})
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributesOut {
    attributes: Vec<Attribute>,
}

pub fn describe_attributes(
    r: &impl Read,
    ctx: &Context,
    i: LoadBalancerArnIn,
) -> Result<AttributesOut, ApiError> {
    let rec = load_balancer(r, ctx, required(&i.load_balancer_arn, "LoadBalancerArn")?)?;
    let attributes = attributes::list(&attributes::load_balancer_table(), &rec.attributes);
    Ok(AttributesOut { attributes })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ModifyAttributesIn {
    load_balancer_arn: Option<String>,
    attributes: Option<Vec<Attribute>>,
}

pub fn modify_attributes(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: ModifyAttributesIn,
) -> Result<AttributesOut, ApiError> {
    let mut rec = load_balancer(w, ctx, required(&i.load_balancer_arn, "LoadBalancerArn")?)?;
    let table = attributes::load_balancer_table();
    rec.attributes = attributes::apply(
        &table,
        &rec.attributes,
        required(&i.attributes, "Attributes")?,
    )?;
    put(w, &Keys::new(ctx).lb(&rec.id), &rec)?;
    Ok(AttributesOut {
        attributes: attributes::list(&table, &rec.attributes),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SetSecurityGroupsIn {
    load_balancer_arn: Option<String>,
    security_groups: Option<Vec<String>>,
    enforce_security_group_inbound_rules_on_private_link_traffic: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetSecurityGroupsOut {
    security_group_ids: Vec<String>,
}

pub fn set_security_groups(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: SetSecurityGroupsIn,
) -> Result<SetSecurityGroupsOut, ApiError> {
    let mut rec = load_balancer(w, ctx, required(&i.load_balancer_arn, "LoadBalancerArn")?)?;
    let given = required(&i.security_groups, "SecurityGroups")?;
    if i.enforce_security_group_inbound_rules_on_private_link_traffic
        .is_some()
    {
        return Err(unsupported(
            INVALID_CONFIGURATION_REQUEST,
            "PrivateLink (EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic)",
        ));
    }
    if given.is_empty() {
        return Err(err(
            INVALID_SECURITY_GROUP,
            "An application load balancer needs at least one security group",
        ));
    }
    rec.load_balancer.security_groups = groups(w, ctx, &rec.load_balancer.vpc_id, Some(given))?;
    crate::interfaces::remake_interfaces_in(w, ctx, &mut rec)?;
    put(w, &Keys::new(ctx).lb(&rec.id), &rec)?;
    Ok(SetSecurityGroupsOut {
        security_group_ids: rec.load_balancer.security_groups,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SetSubnetsIn {
    load_balancer_arn: Option<String>,
    subnets: Option<Vec<String>>,
    subnet_mappings: Option<Vec<SubnetMapping>>,
    ip_address_type: Option<IpAddressType>,
    enable_prefix_for_ipv6_source_nat: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetSubnetsOut {
    availability_zones: Vec<AvailabilityZone>,
    ip_address_type: IpAddressType,
}

pub fn set_subnets(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: SetSubnetsIn,
) -> Result<SetSubnetsOut, ApiError> {
    let mut rec = load_balancer(w, ctx, required(&i.load_balancer_arn, "LoadBalancerArn")?)?;
    if i.ip_address_type.is_some_and(|t| t != IpAddressType::Ipv4)
        || i.enable_prefix_for_ipv6_source_nat.is_some()
    {
        return Err(unsupported(
            INVALID_CONFIGURATION_REQUEST,
            "IP address types other than ipv4",
        ));
    }
    let place = place(w, ctx, &subnet_ids(&i.subnets, &i.subnet_mappings)?)?;
    if place.vpc_id != rec.load_balancer.vpc_id {
        return Err(configuration(format!(
            "The subnets must belong to the load balancer's VPC '{}'",
            rec.load_balancer.vpc_id
        )));
    }
    rec.load_balancer.availability_zones = place.zones;
    crate::interfaces::remake_interfaces_in(w, ctx, &mut rec)?;
    put(w, &Keys::new(ctx).lb(&rec.id), &rec)?;
    Ok(SetSubnetsOut {
        availability_zones: rec.load_balancer.availability_zones,
        ip_address_type: IpAddressType::Ipv4,
    })
}

/// Sets a load balancer's state, as its data plane's controller sees it: `active`
/// once its listeners listen, `failed` with a reason when they cannot. Writes nothing
/// when the state is already that.
pub fn set_load_balancer_state_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    lb_arn: &str,
    code: LoadBalancerStateCode,
    reason: Option<String>,
) -> Result<(), ApiError> {
    let mut rec = load_balancer(w, ctx, lb_arn)?;
    let state = LoadBalancerState { code, reason };
    if rec.load_balancer.state != state {
        rec.load_balancer.state = state;
        put(w, &Keys::new(ctx).lb(&rec.id), &rec)?;
    }
    Ok(())
}

/// Every load balancer berth has, in every account and region, by address.
pub fn all_load_balancers(r: &impl Read) -> Result<Vec<LoadBalancerRef>, ApiError> {
    all(r, crate::records::ADDRESSES)
}
