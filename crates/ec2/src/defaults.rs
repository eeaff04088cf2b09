//! Every account and region has, as on AWS, a default VPC (172.31.0.0/16) with a
//! default subnet per zone (172.31.0.0/20, 172.31.16.0/20, ...) and the VPC's default
//! group. They are made the first time anything of the account and region is touched,
//! in that write transaction, and only then: a deleted default VPC stays deleted.

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};

use crate::cidr::Ipv4Cidr;
use crate::errors::no_default_vpc;
use crate::group::default_group_in;
use crate::ids::{new_id, CIDR_ASSOCIATION, DHCP_OPTIONS, SUBNET, VPC};
use crate::records::{get, put, DefaultsRec, Keys, Subnet, SubnetState, Tenancy, Vpc, VpcState};
use crate::subnet::insert_subnet_in;
use crate::vpc::insert_vpc_in;
use crate::zones::zones;

/// The default VPC's block.
pub(crate) const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";
/// The prefix length of default subnets.
const DEFAULT_SUBNET_LEN: u8 = 20;

/// The default network of an account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultNetwork {
    /// The default VPC.
    pub vpc_id: String,
    /// Its default subnets that still exist, one per zone.
    pub subnet_ids: Vec<String>,
    /// Its default security group.
    pub group_id: String,
}

/// What the first touch made, if it happened.
pub(crate) fn created_in(r: &impl Read, ctx: &Context) -> Result<Option<DefaultsRec>, ApiError> {
    get(r, &Keys::new(ctx).defaults())
}

/// The default VPC, unless it was deleted (or nothing was touched yet).
pub(crate) fn default_vpc_in(r: &impl Read, ctx: &Context) -> Result<Option<Vpc>, ApiError> {
    match created_in(r, ctx)? {
        Some(d) => get(r, &Keys::new(ctx).vpc(&d.vpc_id)),
        None => Ok(None),
    }
}

/// Makes the default network unless it was made before (idempotent).
pub(crate) fn ensure_created_in(
    w: &mut Writer<'_>,
    ctx: &Context,
) -> Result<DefaultsRec, ApiError> {
    if let Some(done) = created_in(w, ctx)? {
        return Ok(done);
    }
    let keys = Keys::new(ctx);
    let block = Ipv4Cidr::parse(DEFAULT_VPC_CIDR).expect("the default VPC block is a CIDR block");
    let vpc = Vpc {
        vpc_id: VPC.new_id(),
        cidr_block: DEFAULT_VPC_CIDR.to_string(),
        cidr_association_id: new_id(CIDR_ASSOCIATION),
        is_default: true,
        state: VpcState::Available,
        dhcp_options_id: new_id(DHCP_OPTIONS),
        instance_tenancy: Tenancy::Default,
        tags: Vec::new(),
    };
    let group = insert_vpc_in(w, ctx, &vpc)?;
    let mut subnet_ids = Vec::new();
    for (n, zone) in zones(&ctx.region).into_iter().enumerate() {
        let subnet = Subnet {
            subnet_id: SUBNET.new_id(),
            vpc_id: vpc.vpc_id.clone(),
            cidr_block: block.subnet(DEFAULT_SUBNET_LEN, n as u32).to_string(),
            availability_zone: zone.zone_name,
            availability_zone_id: zone.zone_id,
            default_for_az: true,
            map_public_ip_on_launch: true,
            state: SubnetState::Available,
            tags: Vec::new(),
        };
        insert_subnet_in(w, &keys, &vpc, &subnet)?;
        subnet_ids.push(subnet.subnet_id);
    }
    let done = DefaultsRec {
        vpc_id: vpc.vpc_id,
        subnet_ids,
        group_id: group.group_id,
        dhcp_options_id: vpc.dhcp_options_id,
    };
    put(w, &keys.defaults(), &done)?;
    Ok(done)
}

/// The account and region's default network, made if this is the first touch. An
/// account whose default VPC was deleted has none: `VPCIdNotSpecified`.
pub fn ensure_defaults_in(w: &mut Writer<'_>, ctx: &Context) -> Result<DefaultNetwork, ApiError> {
    let done = ensure_created_in(w, ctx)?;
    let keys = Keys::new(ctx);
    let vpc = default_vpc_in(w, ctx)?.ok_or_else(no_default_vpc)?;
    let mut subnet_ids = Vec::new();
    for id in done.subnet_ids {
        if w.get(&keys.subnet(&id))?.is_some() {
            subnet_ids.push(id);
        }
    }
    let group = default_group_in(w, ctx, &vpc.vpc_id)?
        .ok_or_else(|| ApiError::internal(format!("VPC {} has no default group", vpc.vpc_id)))?;
    Ok(DefaultNetwork {
        vpc_id: vpc.vpc_id,
        subnet_ids,
        group_id: group.group_id,
    })
}
