//! Subnets: CreateSubnet, DeleteSubnet, DescribeSubnets.

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::cidr::Ipv4Cidr;
use crate::errors::{
    dependency, invalid_value, reject_unsupported, required, INVALID_SUBNET_CONFLICT,
    INVALID_SUBNET_RANGE,
};
use crate::filter::{flag, one, FilterIn, Filterable, Filters, Getter, Page, MAX_RESULTS};
use crate::ids::SUBNET;
use crate::records::{all, delete, get, names_below, put, Keys, Subnet, SubnetState, Tag, Vpc};
use crate::tags::{tags_for, TagSpecIn};
use crate::vpc::{require_vpc, BlockPublicAccess, NO_BLOCK};
use crate::zones::{zone, zones};
use crate::Return;

/// The prefix lengths a subnet's block may have.
const SUBNET_PREFIXES: std::ops::RangeInclusive<u8> = 16..=28;
/// Addresses EC2 keeps for itself in every subnet.
const RESERVED_ADDRESSES: u64 = 5;

/// The subnet `subnet_id`, if it exists.
pub fn subnet_in(
    r: &impl Read,
    ctx: &Context,
    subnet_id: &str,
) -> Result<Option<Subnet>, ApiError> {
    get(r, &Keys::new(ctx).subnet(subnet_id))
}

/// The subnet `id` names: malformed or unknown ids are errors.
pub(crate) fn require_subnet(r: &impl Read, ctx: &Context, id: &str) -> Result<Subnet, ApiError> {
    SUBNET.check(id)?;
    subnet_in(r, ctx, id)?.ok_or_else(|| SUBNET.not_found(id))
}

/// Checks a subnet's block against its VPC and the VPC's other subnets.
fn check_block(r: &impl Read, keys: &Keys, vpc: &Vpc, raw: &str) -> Result<Ipv4Cidr, ApiError> {
    let block = Ipv4Cidr::parse(raw)
        .filter(Ipv4Cidr::is_network)
        .ok_or_else(|| invalid_value("CidrBlock", raw, "This is not a valid CIDR block."))?;
    let within = Ipv4Cidr::parse(&vpc.cidr_block).is_some_and(|v| v.covers(&block));
    if !SUBNET_PREFIXES.contains(&block.len) || !within {
        return Err(ApiError::new(
            400,
            INVALID_SUBNET_RANGE,
            format!("The CIDR '{raw}' is invalid."),
        ));
    }
    for id in names_below(r, &keys.vpc_subnets(&vpc.vpc_id))? {
        let other: Option<Subnet> = get(r, &keys.subnet(&id))?;
        let overlaps = other
            .and_then(|o| Ipv4Cidr::parse(&o.cidr_block))
            .is_some_and(|o| o.overlaps(&block));
        if overlaps {
            return Err(ApiError::new(
                400,
                INVALID_SUBNET_CONFLICT,
                format!("The CIDR '{raw}' conflicts with another subnet"),
            ));
        }
    }
    Ok(block)
}

/// Writes a new subnet of `vpc` and its index, after checking its block.
pub(crate) fn insert_subnet_in(
    w: &mut Writer<'_>,
    keys: &Keys,
    vpc: &Vpc,
    subnet: &Subnet,
) -> Result<(), ApiError> {
    check_block(w, keys, vpc, &subnet.cidr_block)?;
    put(w, &keys.subnet(&subnet.subnet_id), subnet)?;
    put(w, &keys.vpc_subnet(&vpc.vpc_id, &subnet.subnet_id), &())
}

/// A subnet as EC2 answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubnetItem {
    subnet_id: String,
    subnet_arn: String,
    vpc_id: String,
    owner_id: String,
    cidr_block: String,
    available_ip_address_count: u64,
    availability_zone: String,
    availability_zone_id: String,
    default_for_az: bool,
    map_public_ip_on_launch: bool,
    map_customer_owned_ip_on_launch: bool,
    assign_ipv6_address_on_creation: bool,
    ipv6_cidr_block_association_set: Vec<()>,
    enable_dns64: bool,
    ipv6_native: bool,
    private_dns_name_options_on_launch: DnsNameOptions,
    block_public_access_states: BlockPublicAccess,
    state: SubnetState,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tag_set: Vec<Tag>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DnsNameOptions {
    hostname_type: &'static str,
    enable_resource_name_dns_a_record: bool,
    #[serde(rename = "enableResourceNameDnsAAAARecord")]
    enable_resource_name_dns_aaaa_record: bool,
}

impl SubnetItem {
    fn new(r: &impl Read, ctx: &Context, s: Subnet) -> Result<SubnetItem, ApiError> {
        let size = Ipv4Cidr::parse(&s.cidr_block).map_or(0, |c| c.size());
        let used = r.count(&Keys::new(ctx).subnet_enis(&s.subnet_id))?;
        Ok(SubnetItem {
            subnet_arn: ctx.arn("ec2", &format!("subnet/{}", s.subnet_id)),
            owner_id: ctx.account.clone(),
            available_ip_address_count: size.saturating_sub(RESERVED_ADDRESSES + used),
            map_customer_owned_ip_on_launch: false,
            assign_ipv6_address_on_creation: false,
            ipv6_cidr_block_association_set: Vec::new(),
            enable_dns64: false,
            ipv6_native: false,
            private_dns_name_options_on_launch: DnsNameOptions {
                hostname_type: "ip-name",
                enable_resource_name_dns_a_record: false,
                enable_resource_name_dns_aaaa_record: false,
            },
            block_public_access_states: NO_BLOCK,
            subnet_id: s.subnet_id,
            vpc_id: s.vpc_id,
            cidr_block: s.cidr_block,
            availability_zone: s.availability_zone,
            availability_zone_id: s.availability_zone_id,
            default_for_az: s.default_for_az,
            map_public_ip_on_launch: s.map_public_ip_on_launch,
            state: s.state,
            tag_set: s.tags,
        })
    }
}

impl Filterable for Subnet {
    const FIELDS: &'static [(&'static str, Getter<Self>)] = &[
        ("subnet-id", |s, _| one(&s.subnet_id)),
        ("vpc-id", |s, _| one(&s.vpc_id)),
        ("cidr-block", |s, _| one(&s.cidr_block)),
        ("cidr", |s, _| one(&s.cidr_block)),
        ("cidrBlock", |s, _| one(&s.cidr_block)),
        ("availability-zone", |s, _| one(&s.availability_zone)),
        ("availabilityZone", |s, _| one(&s.availability_zone)),
        ("availability-zone-id", |s, _| one(&s.availability_zone_id)),
        ("availabilityZoneId", |s, _| one(&s.availability_zone_id)),
        ("default-for-az", |s, _| flag(s.default_for_az)),
        ("defaultForAz", |s, _| flag(s.default_for_az)),
        ("map-public-ip-on-launch", |s, _| {
            flag(s.map_public_ip_on_launch)
        }),
        ("owner-id", |_, ctx| one(&ctx.account)),
        ("state", |s, _| one(s.state.as_str())),
        ("subnet-arn", |s, ctx| {
            one(&ctx.arn("ec2", &format!("subnet/{}", s.subnet_id)))
        }),
    ];
    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

/// CreateSubnet's input: every member of the model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct CreateSubnetIn {
    pub dry_run: Option<bool>,
    #[serde(rename = "TagSpecification", default)]
    tag_specs: Vec<TagSpecIn>,
    availability_zone: Option<String>,
    availability_zone_id: Option<String>,
    cidr_block: Option<String>,
    ipv6_cidr_block: Option<String>,
    outpost_arn: Option<String>,
    vpc_id: Option<String>,
    ipv6_native: Option<bool>,
    ipv4_ipam_pool_id: Option<String>,
    ipv4_netmask_length: Option<i32>,
    ipv6_ipam_pool_id: Option<String>,
    ipv6_netmask_length: Option<i32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CreateSubnetOut {
    subnet: SubnetItem,
}

/// The zone a create call names (by name or id), or the next one in turn.
fn zone_for(
    r: &impl Read,
    ctx: &Context,
    vpc: &Vpc,
    i: &CreateSubnetIn,
) -> Result<crate::zones::Zone, ApiError> {
    let named = i
        .availability_zone
        .as_ref()
        .map(|n| ("AvailabilityZone", n));
    let named = named.or(i
        .availability_zone_id
        .as_ref()
        .map(|n| ("AvailabilityZoneId", n)));
    match named {
        Some((param, name)) => zone(&ctx.region, name).ok_or_else(|| {
            let known: Vec<String> = zones(&ctx.region)
                .into_iter()
                .map(|z| z.zone_name)
                .collect();
            let why = format!(
                "Subnets can currently only be created in the following availability zones: {}.",
                known.join(", ")
            );
            invalid_value(param, name, &why)
        }),
        None => {
            let count = r.count(&Keys::new(ctx).vpc_subnets(&vpc.vpc_id))? as usize;
            let all = zones(&ctx.region);
            Ok(all[count % all.len()].clone())
        }
    }
}

/// CreateSubnet: a block of the VPC's, overlapping none of its other subnets.
pub(crate) fn create(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: CreateSubnetIn,
) -> Result<CreateSubnetOut, ApiError> {
    reject_unsupported(&[
        ("Ipv6CidrBlock", i.ipv6_cidr_block.is_some()),
        ("OutpostArn", i.outpost_arn.is_some()),
        ("Ipv6Native", i.ipv6_native == Some(true)),
        ("Ipv4IpamPoolId", i.ipv4_ipam_pool_id.is_some()),
        ("Ipv4NetmaskLength", i.ipv4_netmask_length.is_some()),
        ("Ipv6IpamPoolId", i.ipv6_ipam_pool_id.is_some()),
        ("Ipv6NetmaskLength", i.ipv6_netmask_length.is_some()),
    ])?;
    let vpc = require_vpc(w, ctx, required(&i.vpc_id, "VpcId")?)?;
    let block = required(&i.cidr_block, "CidrBlock")?;
    let zone = zone_for(w, ctx, &vpc, &i)?;
    let subnet = Subnet {
        subnet_id: SUBNET.new_id(),
        vpc_id: vpc.vpc_id.clone(),
        cidr_block: block.clone(),
        availability_zone: zone.zone_name,
        availability_zone_id: zone.zone_id,
        default_for_az: false,
        map_public_ip_on_launch: false,
        state: SubnetState::Available,
        tags: tags_for(&i.tag_specs, SUBNET.resource_type)?,
    };
    insert_subnet_in(w, &Keys::new(ctx), &vpc, &subnet)?;
    Ok(CreateSubnetOut {
        subnet: SubnetItem::new(w, ctx, subnet)?,
    })
}

/// DeleteSubnet's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct DeleteSubnetIn {
    pub dry_run: Option<bool>,
    subnet_id: Option<String>,
}

/// DeleteSubnet: only a subnet no network interface is in.
pub(crate) fn delete_op(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: DeleteSubnetIn,
) -> Result<Return, ApiError> {
    let keys = Keys::new(ctx);
    let subnet = require_subnet(w, ctx, required(&i.subnet_id, "SubnetId")?)?;
    if crate::records::any_below(w, &keys.subnet_enis(&subnet.subnet_id))? {
        return Err(dependency(format!(
            "The subnet '{}' has dependencies and cannot be deleted.",
            subnet.subnet_id
        )));
    }
    delete(w, &keys.vpc_subnet(&subnet.vpc_id, &subnet.subnet_id))?;
    delete(w, &keys.subnet(&subnet.subnet_id))?;
    Ok(Return::TRUE)
}

/// DescribeSubnets's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct DescribeSubnetsIn {
    pub dry_run: Option<bool>,
    #[serde(rename = "Filter", default)]
    filters: Vec<FilterIn>,
    #[serde(rename = "SubnetId", default)]
    subnet_ids: Vec<String>,
    next_token: Option<String>,
    max_results: Option<i32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DescribeSubnetsOut {
    #[serde(rename = "subnetSet")]
    subnets: Vec<SubnetItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// DescribeSubnets: the subnets named, or all, that the filters keep, by id.
pub(crate) fn describe(
    r: &impl Read,
    ctx: &Context,
    i: DescribeSubnetsIn,
) -> Result<DescribeSubnetsOut, ApiError> {
    let filters = Filters::<Subnet>::new(&i.filters)?;
    let page = Page::new(i.max_results, i.next_token.as_deref(), MAX_RESULTS)?;
    let mut subnets: Vec<Subnet> = if i.subnet_ids.is_empty() {
        all(r, &Keys::new(ctx).subnets())?
    } else {
        i.subnet_ids
            .iter()
            .map(|id| require_subnet(r, ctx, id))
            .collect::<Result<_, _>>()?
    };
    subnets.sort_by(|a, b| a.subnet_id.cmp(&b.subnet_id));
    subnets.dedup_by(|a, b| a.subnet_id == b.subnet_id);
    let (subnets, next_token) = page.take(filters.keep(subnets, ctx), |s| s.subnet_id.clone());
    Ok(DescribeSubnetsOut {
        subnets: subnets
            .into_iter()
            .map(|s| SubnetItem::new(r, ctx, s))
            .collect::<Result<_, _>>()?,
        next_token,
    })
}
