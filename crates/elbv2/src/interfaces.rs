//! A load balancer's network interfaces: where its traffic to targets comes from, in
//! its security groups.
//!
//! On AWS an Application Load Balancer has an interface in each of its subnets, in its
//! security groups, and connects to targets from their addresses; a target's group
//! that admits "the load balancer's group" admits exactly that traffic. berth's data
//! plane runs on the host and connects from the host's address toward each target (the
//! address the kernel picks, which its runner tells: [`set_load_balancer_sources_in`]),
//! so the load balancer gets one EC2 interface per such address, in its first subnet
//! and its groups, described as ELB describes them (`ELB app/<name>/<id>`). Tasks'
//! packet filters then see the load balancer's traffic as its groups' members'.
//!
//! What this grants is the host's address: anything else on the host that connects to
//! a task from it is taken for the load balancer too.
//!
//! The interfaces follow the record: SetSecurityGroups and SetSubnets make them again
//! with the new groups or subnet ([`remake_interfaces_in`]); DeleteLoadBalancer deletes
//! them ([`delete_interfaces_in`]).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use berth_awsproto::{ApiError, Context};
use berth_ec2 as ec2;
use berth_store::Writer;
use serde::{Deserialize, Serialize};

use crate::common::load_balancer;
use crate::records::{put, Keys, LoadBalancerRec};

/// One interface of a load balancer: the host address it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceInterface {
    pub address: Ipv4Addr,
    pub network_interface_id: String,
}

/// The description ELB gives its interfaces.
fn description(rec: &LoadBalancerRec) -> String {
    let arn = &rec.load_balancer.load_balancer_arn;
    let suffix = arn
        .split_once(":loadbalancer/")
        .map_or(arn.as_str(), |(_, s)| s);
    format!("ELB {suffix}")
}

/// Makes one interface of the load balancer, at `address`.
fn make(
    w: &mut Writer<'_>,
    ctx: &Context,
    rec: &LoadBalancerRec,
    address: Ipv4Addr,
) -> Result<SourceInterface, ApiError> {
    let lb = &rec.load_balancer;
    let subnet = (lb.availability_zones.first())
        .map(|z| z.subnet_id.clone())
        .ok_or_else(|| ApiError::internal("a load balancer without a subnet"))?;
    let eni =
        ec2::create_network_interface_in(w, ctx, &subnet, &lb.security_groups, &description(rec))?;
    ec2::set_interface_address_in(w, ctx, &eni.network_interface_id, Some(address))?;
    Ok(SourceInterface {
        address,
        network_interface_id: eni.network_interface_id,
    })
}

/// Deletes every interface of the record (which it forgets).
pub(crate) fn delete_interfaces_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    rec: &mut LoadBalancerRec,
) -> Result<(), ApiError> {
    for i in std::mem::take(&mut rec.interfaces) {
        ec2::delete_network_interface_in(w, ctx, &i.network_interface_id)?;
    }
    Ok(())
}

/// Makes the record's interfaces again, for the same addresses, with its groups and
/// subnet as they are now. The caller stores the record.
pub(crate) fn remake_interfaces_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    rec: &mut LoadBalancerRec,
) -> Result<(), ApiError> {
    let addresses: Vec<Ipv4Addr> = rec.interfaces.iter().map(|i| i.address).collect();
    delete_interfaces_in(w, ctx, rec)?;
    for a in addresses {
        let made = make(w, ctx, rec, a)?;
        rec.interfaces.push(made);
    }
    Ok(())
}

/// Gives the load balancer exactly one interface per address its data plane connects
/// to targets from; writes nothing when it has those already.
pub fn set_load_balancer_sources_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    lb_arn: &str,
    sources: &BTreeSet<Ipv4Addr>,
) -> Result<(), ApiError> {
    let mut rec = load_balancer(w, ctx, lb_arn)?;
    let have: BTreeSet<Ipv4Addr> = rec.interfaces.iter().map(|i| i.address).collect();
    if &have == sources {
        return Ok(());
    }
    let mut kept = Vec::new();
    for i in std::mem::take(&mut rec.interfaces) {
        if sources.contains(&i.address) {
            kept.push(i);
        } else {
            ec2::delete_network_interface_in(w, ctx, &i.network_interface_id)?;
        }
    }
    for a in sources.difference(&have) {
        kept.push(make(w, ctx, &rec, *a)?);
    }
    kept.sort_by_key(|i| i.address);
    rec.interfaces = kept;
    put(w, &Keys::new(ctx).lb(&rec.id), &rec)
}
