//! Network interfaces: what tasks get in a subnet, with security groups. Other crates
//! make, address and delete them ([`create_network_interface_in`],
//! [`set_interface_address_in`], [`delete_network_interface_in`]); the API only
//! describes them.
//!
//! Beside the record (`eni/<id>`) two indexes are kept by those three functions and
//! nothing else: `member/<group>/<eni>` (value: the interface's address, or null), so
//! [`members_in`] is one prefix scan, and `subneteni/<subnet>/<eni>`, which makes
//! DeleteSubnet answer `DependencyViolation`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::errors::invalid;
use crate::filter::{flag, one, FilterIn, Filterable, Filters, Getter, Page, MAX_RESULTS};
use crate::group::require_group;
use crate::ids::{new_mac, ENI};
use crate::records::{
    all, delete, get, put, InterfaceStatus, Keys, NetworkInterface, SecurityGroup, Tag,
};
use crate::subnet::require_subnet;
use crate::zones::zone;

/// The most security groups an interface has.
const MAX_GROUPS: usize = 5;
/// The `interfaceType` of every interface berth makes.
const INTERFACE_TYPE: &str = "interface";

/// The interface `eni_id`, if it exists.
pub fn network_interface_in(
    r: &impl Read,
    ctx: &Context,
    eni_id: &str,
) -> Result<Option<NetworkInterface>, ApiError> {
    get(r, &Keys::new(ctx).eni(eni_id))
}

/// The interface's private DNS name, as EC2 names it in the region.
fn dns_name(region: &str, ip: Ipv4Addr) -> String {
    let host = format!("ip-{}", ip.to_string().replace('.', "-"));
    if region == "us-east-1" {
        format!("{host}.ec2.internal")
    } else {
        format!("{host}.{region}.compute.internal")
    }
}

/// The groups of a new interface: each of the subnet's VPC, at most [`MAX_GROUPS`];
/// none given is the VPC's default group.
fn interface_groups(
    r: &impl Read,
    ctx: &Context,
    vpc_id: &str,
    group_ids: &[String],
) -> Result<Vec<String>, ApiError> {
    let mut ids: Vec<String> = Vec::new();
    for id in group_ids {
        let group = require_group(r, ctx, id)?;
        if group.vpc_id != vpc_id {
            return Err(invalid(format!(
                "The security group '{id}' and the subnet belong to different networks."
            )));
        }
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    if ids.len() > MAX_GROUPS {
        return Err(invalid(format!(
            "An interface has at most {MAX_GROUPS} security groups."
        )));
    }
    if ids.is_empty() {
        let default = crate::group::default_group_in(r, ctx, vpc_id)?
            .ok_or_else(|| ApiError::internal(format!("VPC {vpc_id} has no default group")))?;
        ids.push(default.group_id);
    }
    Ok(ids)
}

/// Makes an interface in `subnet_id` with `group_ids` (the VPC's default group when
/// empty), without an address yet.
pub fn create_network_interface_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    subnet_id: &str,
    group_ids: &[String],
    description: &str,
) -> Result<NetworkInterface, ApiError> {
    let subnet = require_subnet(w, ctx, subnet_id)?;
    let groups = interface_groups(w, ctx, &subnet.vpc_id, group_ids)?;
    let eni = NetworkInterface {
        network_interface_id: ENI.new_id(),
        mac_address: new_mac(),
        subnet_id: subnet.subnet_id.clone(),
        vpc_id: subnet.vpc_id.clone(),
        availability_zone: subnet.availability_zone.clone(),
        group_ids: groups,
        private_ip: None,
        private_dns_name: None,
        description: description.to_string(),
        status: InterfaceStatus::InUse,
        tags: Vec::new(),
    };
    let keys = Keys::new(ctx);
    put(w, &keys.eni(&eni.network_interface_id), &eni)?;
    put(
        w,
        &keys.subnet_eni(&eni.subnet_id, &eni.network_interface_id),
        &(),
    )?;
    for group in &eni.group_ids {
        put(
            w,
            &keys.member(group, &eni.network_interface_id),
            &eni.private_ip,
        )?;
    }
    Ok(eni)
}

/// Gives an interface its address (or takes it away), in the record and in its
/// groups' member index.
pub fn set_interface_address_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    eni_id: &str,
    ip: Option<Ipv4Addr>,
) -> Result<(), ApiError> {
    let keys = Keys::new(ctx);
    let mut eni = network_interface_in(w, ctx, eni_id)?.ok_or_else(|| ENI.not_found(eni_id))?;
    if eni.private_ip == ip {
        return Ok(());
    }
    eni.private_ip = ip;
    eni.private_dns_name = ip.map(|ip| dns_name(&ctx.region, ip));
    put(w, &keys.eni(eni_id), &eni)?;
    for group in &eni.group_ids {
        put(w, &keys.member(group, eni_id), &ip)?;
    }
    Ok(())
}

/// Deletes an interface and its index entries; deleting one that is gone does nothing.
pub fn delete_network_interface_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    eni_id: &str,
) -> Result<(), ApiError> {
    let keys = Keys::new(ctx);
    let Some(eni) = network_interface_in(w, ctx, eni_id)? else {
        return Ok(());
    };
    for group in &eni.group_ids {
        delete(w, &keys.member(group, eni_id))?;
    }
    delete(w, &keys.subnet_eni(&eni.subnet_id, eni_id))?;
    delete(w, &keys.eni(eni_id))
}

/// The addresses of the interfaces that have `group_id` and an address: one prefix
/// scan of the member index.
pub fn members_in(
    r: &impl Read,
    ctx: &Context,
    group_id: &str,
) -> Result<BTreeSet<Ipv4Addr>, ApiError> {
    let ips: Vec<Option<Ipv4Addr>> = all(r, &Keys::new(ctx).members(group_id))?;
    Ok(ips.into_iter().flatten().collect())
}

/// An interface with its groups' names, as filters and answers see it.
pub(crate) struct InterfaceView {
    eni: NetworkInterface,
    groups: Vec<GroupRef>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupRef {
    group_id: String,
    group_name: String,
}

impl InterfaceView {
    fn load(
        r: &impl Read,
        ctx: &Context,
        eni: NetworkInterface,
    ) -> Result<InterfaceView, ApiError> {
        let keys = Keys::new(ctx);
        let mut groups = Vec::new();
        for id in &eni.group_ids {
            let name = get::<SecurityGroup>(r, &keys.group(id))?.map(|g| g.group_name);
            groups.push(GroupRef {
                group_id: id.clone(),
                group_name: name.unwrap_or_default(),
            });
        }
        Ok(InterfaceView { eni, groups })
    }
}

fn ip_text(e: &NetworkInterface) -> Vec<String> {
    e.private_ip.map(|ip| ip.to_string()).into_iter().collect()
}

impl Filterable for InterfaceView {
    const FIELDS: &'static [(&'static str, Getter<Self>)] = &[
        ("network-interface-id", |v, _| {
            one(&v.eni.network_interface_id)
        }),
        ("group-id", |v, _| v.eni.group_ids.clone()),
        ("group-name", |v, _| {
            v.groups.iter().map(|g| g.group_name.clone()).collect()
        }),
        ("subnet-id", |v, _| one(&v.eni.subnet_id)),
        ("vpc-id", |v, _| one(&v.eni.vpc_id)),
        ("availability-zone", |v, _| one(&v.eni.availability_zone)),
        ("description", |v, _| one(&v.eni.description)),
        ("status", |v, _| one(v.eni.status.as_str())),
        ("interface-type", |_, _| one(INTERFACE_TYPE)),
        ("mac-address", |v, _| one(&v.eni.mac_address)),
        ("owner-id", |_, ctx| one(&ctx.account)),
        ("private-ip-address", |v, _| ip_text(&v.eni)),
        ("addresses.private-ip-address", |v, _| ip_text(&v.eni)),
        ("private-dns-name", |v, _| {
            v.eni.private_dns_name.clone().into_iter().collect()
        }),
        ("requester-managed", |_, _| flag(false)),
        ("source-dest-check", |_, _| flag(true)),
    ];
    fn tags(&self) -> &[Tag] {
        &self.eni.tags
    }
}

/// An interface as DescribeNetworkInterfaces answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InterfaceItem {
    network_interface_id: String,
    subnet_id: String,
    vpc_id: String,
    availability_zone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    availability_zone_id: Option<String>,
    description: String,
    group_set: Vec<GroupRef>,
    interface_type: &'static str,
    ipv6_addresses_set: Vec<()>,
    mac_address: String,
    owner_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_dns_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_ip_address: Option<String>,
    private_ip_addresses_set: Vec<PrivateAddress>,
    requester_managed: bool,
    source_dest_check: bool,
    status: InterfaceStatus,
    tag_set: Vec<Tag>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PrivateAddress {
    primary: bool,
    private_ip_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_dns_name: Option<String>,
}

impl InterfaceItem {
    fn new(v: InterfaceView, ctx: &Context) -> InterfaceItem {
        let e = v.eni;
        let addresses = e.private_ip.map(|ip| PrivateAddress {
            primary: true,
            private_ip_address: ip.to_string(),
            private_dns_name: e.private_dns_name.clone(),
        });
        InterfaceItem {
            availability_zone_id: zone(&ctx.region, &e.availability_zone).map(|z| z.zone_id),
            group_set: v.groups,
            interface_type: INTERFACE_TYPE,
            ipv6_addresses_set: Vec::new(),
            owner_id: ctx.account.clone(),
            private_ip_address: e.private_ip.map(|ip| ip.to_string()),
            private_ip_addresses_set: addresses.into_iter().collect(),
            requester_managed: false,
            source_dest_check: true,
            network_interface_id: e.network_interface_id,
            subnet_id: e.subnet_id,
            vpc_id: e.vpc_id,
            availability_zone: e.availability_zone,
            description: e.description,
            mac_address: e.mac_address,
            private_dns_name: e.private_dns_name,
            status: e.status,
            tag_set: e.tags,
        }
    }
}

/// DescribeNetworkInterfaces's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct DescribeInterfacesIn {
    pub dry_run: Option<bool>,
    next_token: Option<String>,
    max_results: Option<i32>,
    /// berth's interfaces are all the caller's own: nothing to include or leave out.
    #[serde(rename = "IncludeManagedResources")]
    _include_managed_resources: Option<bool>,
    #[serde(rename = "NetworkInterfaceId", default)]
    eni_ids: Vec<String>,
    #[serde(rename = "Filter", default)]
    filters: Vec<FilterIn>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DescribeInterfacesOut {
    #[serde(rename = "networkInterfaceSet")]
    interfaces: Vec<InterfaceItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// DescribeNetworkInterfaces: the interfaces named, or all, that the filters keep.
pub(crate) fn describe(
    r: &impl Read,
    ctx: &Context,
    i: DescribeInterfacesIn,
) -> Result<DescribeInterfacesOut, ApiError> {
    let filters = Filters::<InterfaceView>::new(&i.filters)?;
    let page = Page::new(i.max_results, i.next_token.as_deref(), MAX_RESULTS)?;
    let mut enis: Vec<NetworkInterface> = if i.eni_ids.is_empty() {
        all(r, &Keys::new(ctx).enis())?
    } else {
        let mut named = Vec::new();
        for id in &i.eni_ids {
            ENI.check(id)?;
            named.push(network_interface_in(r, ctx, id)?.ok_or_else(|| ENI.not_found(id))?);
        }
        named
    };
    enis.sort_by(|a, b| a.network_interface_id.cmp(&b.network_interface_id));
    enis.dedup_by(|a, b| a.network_interface_id == b.network_interface_id);
    let views = enis
        .into_iter()
        .map(|e| InterfaceView::load(r, ctx, e))
        .collect::<Result<Vec<_>, _>>()?;
    let (views, next_token) = page.take(filters.keep(views, ctx), |v| {
        v.eni.network_interface_id.clone()
    });
    Ok(DescribeInterfacesOut {
        interfaces: views
            .into_iter()
            .map(|v| InterfaceItem::new(v, ctx))
            .collect(),
        next_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_are_ec2s() {
        let ip = Ipv4Addr::new(10, 0, 0, 5);
        assert_eq!(dns_name("us-east-1", ip), "ip-10-0-0-5.ec2.internal");
        assert_eq!(
            dns_name("eu-west-1", ip),
            "ip-10-0-0-5.eu-west-1.compute.internal"
        );
    }
}
