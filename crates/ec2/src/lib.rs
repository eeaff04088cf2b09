//! TEMPORARY interface stub, replaced by the real crate.
#![allow(unused_variables, missing_docs)]
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
type R<T> = Result<T, ApiError>;
pub struct DefaultNetwork { pub vpc_id: String, pub subnet_ids: Vec<String>, pub group_id: String }
pub struct Vpc { pub vpc_id: String }
pub struct Subnet { pub subnet_id: String, pub vpc_id: String, pub cidr_block: String, pub availability_zone: String }
pub struct SecurityGroup { pub group_id: String, pub group_name: String, pub vpc_id: String }
pub struct SecurityGroupRule { pub is_egress: bool, pub ip_protocol: String, pub from_port: Option<i32>, pub to_port: Option<i32>, pub cidr_ipv4: Option<String>, pub cidr_ipv6: Option<String>, pub referenced_group_id: Option<String>, pub prefix_list_id: Option<String> }
pub struct NetworkInterface { pub network_interface_id: String, pub mac_address: String, pub subnet_id: String, pub vpc_id: String, pub group_ids: Vec<String>, pub private_ip: Option<Ipv4Addr>, pub private_dns_name: Option<String> }
pub fn ensure_defaults_in(w: &mut Writer<'_>, ctx: &Context) -> R<DefaultNetwork> { todo!() }
pub fn vpc_in(r: &impl Read, ctx: &Context, id: &str) -> R<Option<Vpc>> { todo!() }
pub fn subnet_in(r: &impl Read, ctx: &Context, id: &str) -> R<Option<Subnet>> { todo!() }
pub fn security_group_in(r: &impl Read, ctx: &Context, id: &str) -> R<Option<SecurityGroup>> { todo!() }
pub fn default_group_in(r: &impl Read, ctx: &Context, vpc: &str) -> R<Option<SecurityGroup>> { todo!() }
pub fn rules_in(r: &impl Read, ctx: &Context, group: &str) -> R<Vec<SecurityGroupRule>> { todo!() }
pub fn create_network_interface_in(w: &mut Writer<'_>, ctx: &Context, subnet: &str, groups: &[String], description: &str) -> R<NetworkInterface> { todo!() }
pub fn set_interface_address_in(w: &mut Writer<'_>, ctx: &Context, eni: &str, ip: Option<Ipv4Addr>) -> R<()> { todo!() }
pub fn delete_network_interface_in(w: &mut Writer<'_>, ctx: &Context, eni: &str) -> R<()> { todo!() }
pub fn members_in(r: &impl Read, ctx: &Context, group: &str) -> R<BTreeSet<Ipv4Addr>> { todo!() }
