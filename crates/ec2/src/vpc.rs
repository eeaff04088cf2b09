//! VPCs: CreateVpc, DeleteVpc, DescribeVpcs.

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::cidr::Ipv4Cidr;
use crate::defaults::ensure_created_in;
use crate::errors::{dependency, invalid_value, reject_unsupported, required, INVALID_VPC_RANGE};
use crate::filter::{flag, one, FilterIn, Filterable, Filters, Getter, Page, MAX_RESULTS};
use crate::group::{create_default_group_in, remove_group_in, DEFAULT_GROUP};
use crate::ids::{new_id, CIDR_ASSOCIATION, VPC};
use crate::records::{
    all, any_below, delete, get, names_below, put, CidrBlockState, Keys, SecurityGroup, Tag,
    Tenancy, Vpc, VpcState,
};
use crate::tags::{tags_for, TagSpecIn};
use crate::Return;

/// The prefix lengths a VPC's block may have.
const VPC_PREFIXES: std::ops::RangeInclusive<u8> = 16..=28;

/// The VPC `vpc_id`, if it exists.
pub fn vpc_in(r: &impl Read, ctx: &Context, vpc_id: &str) -> Result<Option<Vpc>, ApiError> {
    get(r, &Keys::new(ctx).vpc(vpc_id))
}

/// The VPC `id` names: malformed or unknown ids are errors.
pub(crate) fn require_vpc(r: &impl Read, ctx: &Context, id: &str) -> Result<Vpc, ApiError> {
    VPC.check(id)?;
    vpc_in(r, ctx, id)?.ok_or_else(|| VPC.not_found(id))
}

/// Writes a new VPC and makes its default group.
pub(crate) fn insert_vpc_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    vpc: &Vpc,
) -> Result<SecurityGroup, ApiError> {
    put(w, &Keys::new(ctx).vpc(&vpc.vpc_id), vpc)?;
    create_default_group_in(w, ctx, &vpc.vpc_id)
}

/// A VPC's block: a network of /16 to /28.
pub(crate) fn vpc_block(raw: &str) -> Result<Ipv4Cidr, ApiError> {
    let block = Ipv4Cidr::parse(raw)
        .filter(Ipv4Cidr::is_network)
        .ok_or_else(|| invalid_value("CidrBlock", raw, "This is not a valid CIDR block."))?;
    if !VPC_PREFIXES.contains(&block.len) {
        return Err(ApiError::new(
            400,
            INVALID_VPC_RANGE,
            format!("The CIDR '{raw}' is invalid."),
        ));
    }
    Ok(block)
}

/// A VPC as EC2 answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VpcItem {
    vpc_id: String,
    owner_id: String,
    instance_tenancy: Tenancy,
    cidr_block: String,
    cidr_block_association_set: Vec<CidrAssociation>,
    is_default: bool,
    state: VpcState,
    dhcp_options_id: String,
    block_public_access_states: BlockPublicAccess,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tag_set: Vec<Tag>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CidrAssociation {
    association_id: String,
    cidr_block: String,
    cidr_block_state: CidrState,
}

#[derive(Debug, Serialize)]
struct CidrState {
    state: CidrBlockState,
}

/// What blocks public access: nothing in berth.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockPublicAccess {
    internet_gateway_block_mode: &'static str,
}

pub(crate) const NO_BLOCK: BlockPublicAccess = BlockPublicAccess {
    internet_gateway_block_mode: "off",
};

impl VpcItem {
    fn new(v: Vpc, ctx: &Context) -> VpcItem {
        VpcItem {
            owner_id: ctx.account.clone(),
            instance_tenancy: v.instance_tenancy,
            cidr_block_association_set: vec![CidrAssociation {
                association_id: v.cidr_association_id,
                cidr_block: v.cidr_block.clone(),
                cidr_block_state: CidrState {
                    state: CidrBlockState::Associated,
                },
            }],
            vpc_id: v.vpc_id,
            cidr_block: v.cidr_block,
            is_default: v.is_default,
            state: v.state,
            dhcp_options_id: v.dhcp_options_id,
            block_public_access_states: NO_BLOCK,
            tag_set: v.tags,
        }
    }
}

impl Filterable for Vpc {
    const FIELDS: &'static [(&'static str, Getter<Self>)] = &[
        ("vpc-id", |v, _| one(&v.vpc_id)),
        ("cidr", |v, _| one(&v.cidr_block)),
        ("cidr-block-association.cidr-block", |v, _| {
            one(&v.cidr_block)
        }),
        ("cidr-block-association.association-id", |v, _| {
            one(&v.cidr_association_id)
        }),
        ("cidr-block-association.state", |_, _| {
            one(CidrBlockState::Associated.as_str())
        }),
        ("dhcp-options-id", |v, _| one(&v.dhcp_options_id)),
        ("is-default", |v, _| flag(v.is_default)),
        ("owner-id", |_, ctx| one(&ctx.account)),
        ("state", |v, _| one(v.state.as_str())),
    ];
    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

/// CreateVpc's input: every member of the model (those berth has no feature for are
/// refused by name).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct CreateVpcIn {
    pub dry_run: Option<bool>,
    cidr_block: Option<String>,
    ipv6_pool: Option<String>,
    ipv6_cidr_block: Option<String>,
    ipv4_ipam_pool_id: Option<String>,
    ipv4_netmask_length: Option<i32>,
    ipv6_ipam_pool_id: Option<String>,
    ipv6_netmask_length: Option<i32>,
    ipv6_cidr_block_network_border_group: Option<String>,
    vpc_encryption_control: Option<IgnoredAny>,
    #[serde(rename = "TagSpecification", default)]
    tag_specs: Vec<TagSpecIn>,
    instance_tenancy: Option<Tenancy>,
    amazon_provided_ipv6_cidr_block: Option<bool>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CreateVpcOut {
    vpc: VpcItem,
}

/// CreateVpc: a VPC (answered `pending`, as EC2 does) with its default group.
pub(crate) fn create(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: CreateVpcIn,
) -> Result<CreateVpcOut, ApiError> {
    reject_unsupported(&[
        ("Ipv6Pool", i.ipv6_pool.is_some()),
        ("Ipv6CidrBlock", i.ipv6_cidr_block.is_some()),
        ("Ipv4IpamPoolId", i.ipv4_ipam_pool_id.is_some()),
        ("Ipv4NetmaskLength", i.ipv4_netmask_length.is_some()),
        ("Ipv6IpamPoolId", i.ipv6_ipam_pool_id.is_some()),
        ("Ipv6NetmaskLength", i.ipv6_netmask_length.is_some()),
        (
            "Ipv6CidrBlockNetworkBorderGroup",
            i.ipv6_cidr_block_network_border_group.is_some(),
        ),
        ("VpcEncryptionControl", i.vpc_encryption_control.is_some()),
        (
            "AmazonProvidedIpv6CidrBlock",
            i.amazon_provided_ipv6_cidr_block == Some(true),
        ),
    ])?;
    let block = vpc_block(required(&i.cidr_block, "CidrBlock")?)?;
    let defaults = ensure_created_in(w, ctx)?;
    let vpc = Vpc {
        vpc_id: VPC.new_id(),
        cidr_block: block.to_string(),
        cidr_association_id: new_id(CIDR_ASSOCIATION),
        is_default: false,
        state: VpcState::Available,
        dhcp_options_id: defaults.dhcp_options_id,
        instance_tenancy: i.instance_tenancy.unwrap_or_default(),
        tags: tags_for(&i.tag_specs, VPC.resource_type)?,
    };
    insert_vpc_in(w, ctx, &vpc)?;
    let shown = Vpc {
        state: VpcState::Pending,
        ..vpc
    };
    Ok(CreateVpcOut {
        vpc: VpcItem::new(shown, ctx),
    })
}

/// DeleteVpc's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct DeleteVpcIn {
    pub dry_run: Option<bool>,
    vpc_id: Option<String>,
}

/// DeleteVpc: only a VPC without subnets and groups of its own (its default group goes
/// with it).
pub(crate) fn delete_op(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: DeleteVpcIn,
) -> Result<Return, ApiError> {
    let keys = Keys::new(ctx);
    let vpc = require_vpc(w, ctx, required(&i.vpc_id, "VpcId")?)?;
    let has_groups = names_below(w, &keys.group_names(&vpc.vpc_id))?
        .iter()
        .any(|name| name != DEFAULT_GROUP);
    if has_groups || any_below(w, &keys.vpc_subnets(&vpc.vpc_id))? {
        return Err(dependency(format!(
            "The vpc '{}' has dependencies and cannot be deleted.",
            vpc.vpc_id
        )));
    }
    if let Some(group) = crate::group::default_group_in(w, ctx, &vpc.vpc_id)? {
        remove_group_in(w, ctx, &group)?;
    }
    delete(w, &keys.vpc(&vpc.vpc_id))?;
    Ok(Return::TRUE)
}

/// DescribeVpcs's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct DescribeVpcsIn {
    pub dry_run: Option<bool>,
    #[serde(rename = "Filter", default)]
    filters: Vec<FilterIn>,
    #[serde(rename = "VpcId", default)]
    vpc_ids: Vec<String>,
    next_token: Option<String>,
    max_results: Option<i32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DescribeVpcsOut {
    #[serde(rename = "vpcSet")]
    vpcs: Vec<VpcItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// DescribeVpcs: the VPCs named, or all, that the filters keep, by id.
pub(crate) fn describe(
    r: &impl Read,
    ctx: &Context,
    i: DescribeVpcsIn,
) -> Result<DescribeVpcsOut, ApiError> {
    let filters = Filters::<Vpc>::new(&i.filters)?;
    let page = Page::new(i.max_results, i.next_token.as_deref(), MAX_RESULTS)?;
    let mut vpcs: Vec<Vpc> = if i.vpc_ids.is_empty() {
        all(r, &Keys::new(ctx).vpcs())?
    } else {
        i.vpc_ids
            .iter()
            .map(|id| require_vpc(r, ctx, id))
            .collect::<Result<_, _>>()?
    };
    vpcs.sort_by(|a, b| a.vpc_id.cmp(&b.vpc_id));
    vpcs.dedup_by(|a, b| a.vpc_id == b.vpc_id);
    let (vpcs, next_token) = page.take(filters.keep(vpcs, ctx), |v| v.vpc_id.clone());
    Ok(DescribeVpcsOut {
        vpcs: vpcs.into_iter().map(|v| VpcItem::new(v, ctx)).collect(),
        next_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpc_blocks() {
        assert_eq!(vpc_block("10.0.0.0/16").unwrap().to_string(), "10.0.0.0/16");
        assert!(vpc_block("10.0.0.0/28").is_ok());
        for (raw, code) in [
            ("10.0.0.0/8", "InvalidVpc.Range"),
            ("10.0.0.0/29", "InvalidVpc.Range"),
            ("10.0.0.1/16", "InvalidParameterValue"),
            ("ten/16", "InvalidParameterValue"),
        ] {
            assert_eq!(vpc_block(raw).unwrap_err().code, code, "{raw}");
        }
    }
}
