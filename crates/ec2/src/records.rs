//! The stored records, named as EC2's answers name their members, and the store keys.

use std::net::Ipv4Addr;

use berth_awsproto::{wire_enum, ApiError, Context};
use berth_store::{Read, Writer};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A tag: a key and a value (EC2's values may be empty, never absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

wire_enum! {
    /// A VPC's state. Created VPCs are `available` at once; CreateVpc's answer says
    /// `pending`, as EC2's does.
    pub enum VpcState {
        /// Being created.
        Pending = "pending",
        /// Ready.
        Available = "available",
    }
}

wire_enum! {
    /// A subnet's state.
    pub enum SubnetState {
        /// Being created.
        Pending = "pending",
        /// Ready.
        Available = "available",
    }
}

wire_enum! {
    /// A network interface's status: berth's interfaces are attached to a task from
    /// the moment they exist.
    pub enum InterfaceStatus {
        /// Not attached.
        Available = "available",
        /// Attached.
        InUse = "in-use",
    }
}

wire_enum! {
    /// An availability zone's state: berth's zones are always available.
    pub enum ZoneState {
        /// In service.
        Available = "available",
    }
}

wire_enum! {
    /// The state of a VPC's association with its block: berth's are associated from
    /// the start.
    pub enum CidrBlockState {
        /// In use.
        Associated = "associated",
    }
}

wire_enum! {
    /// Where a VPC's instances run.
    #[derive(Default)]
    pub enum Tenancy {
        /// Shared hardware.
        #[default]
        Default = "default",
        /// Dedicated hardware.
        Dedicated = "dedicated",
        /// Dedicated hosts.
        Host = "host",
    }
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vpc {
    /// `vpc-…`.
    pub vpc_id: String,
    /// Its IPv4 block.
    pub cidr_block: String,
    /// The id of the block's association (`vpc-cidr-assoc-…`).
    pub cidr_association_id: String,
    /// True for the account's default VPC.
    pub is_default: bool,
    /// Its state.
    pub state: VpcState,
    /// The DHCP options (one set per account and region).
    pub dhcp_options_id: String,
    /// Its tenancy.
    pub instance_tenancy: Tenancy,
    /// Its tags.
    #[serde(rename = "tagSet", default)]
    pub tags: Vec<Tag>,
}

/// A subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    /// `subnet-…`.
    pub subnet_id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its IPv4 block, inside the VPC's.
    pub cidr_block: String,
    /// Its zone (`us-east-1a`).
    pub availability_zone: String,
    /// Its zone's id (`use1-az1`).
    pub availability_zone_id: String,
    /// True for a default VPC's subnet of its zone.
    pub default_for_az: bool,
    /// True for default subnets.
    pub map_public_ip_on_launch: bool,
    /// Its state.
    pub state: SubnetState,
    /// Its tags.
    #[serde(rename = "tagSet", default)]
    pub tags: Vec<Tag>,
}

/// A security group (its rules are records of their own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroup {
    /// `sg-…`.
    pub group_id: String,
    /// Its name, unique in its VPC.
    pub group_name: String,
    /// Its description.
    #[serde(rename = "groupDescription")]
    pub description: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its tags.
    #[serde(rename = "tagSet", default)]
    pub tags: Vec<Tag>,
}

/// One rule of a security group: a protocol, ports, and one peer (exactly one of
/// `cidr_ipv4`, `cidr_ipv6`, `prefix_list_id`, `referenced_group_id` is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRule {
    /// `sgr-…`.
    #[serde(rename = "securityGroupRuleId")]
    pub rule_id: String,
    /// The group it belongs to.
    pub group_id: String,
    /// True for an outbound rule.
    pub is_egress: bool,
    /// `-1` (every protocol), `tcp`, `udp`, `icmp`, `icmpv6`, or a protocol number.
    pub ip_protocol: String,
    /// TCP and UDP: the first port; ICMP: the type (-1: every type). `None` for
    /// protocols without ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// TCP and UDP: the last port; ICMP: the code (-1: every code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// The peer's IPv4 block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_ipv4: Option<String>,
    /// The peer's IPv6 block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_ipv6: Option<String>,
    /// The peer prefix list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_list_id: Option<String>,
    /// The peer security group (its members' addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenced_group_id: Option<String>,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its tags.
    #[serde(rename = "tagSet", default)]
    pub tags: Vec<Tag>,
}

/// A network interface: what a task gets in a subnet, with security groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    /// `eni-…`.
    pub network_interface_id: String,
    /// Its MAC address.
    pub mac_address: String,
    /// Its subnet.
    pub subnet_id: String,
    /// Its subnet's VPC.
    pub vpc_id: String,
    /// Its subnet's zone.
    pub availability_zone: String,
    /// Its security groups.
    pub group_ids: Vec<String>,
    /// Its address, once it has one.
    #[serde(rename = "privateIpAddress", default)]
    pub private_ip: Option<Ipv4Addr>,
    /// `ip-10-0-0-5.ec2.internal` (us-east-1) or `ip-10-0-0-5.<region>.compute.internal`,
    /// once it has an address.
    #[serde(default)]
    pub private_dns_name: Option<String>,
    /// What it is for.
    pub description: String,
    /// Its status.
    pub status: InterfaceStatus,
    /// Its tags.
    #[serde(rename = "tagSet", default)]
    pub tags: Vec<Tag>,
}

/// What the first touch of an account and region made: the default VPC, its subnets
/// and group, and the DHCP options every VPC of the region uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DefaultsRec {
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub group_id: String,
    pub dhcp_options_id: String,
}

/// The store keys of one account and region: `ec2/<account>/<region>/…`.
pub(crate) struct Keys {
    prefix: String,
    account: String,
}

impl Keys {
    pub fn new(ctx: &Context) -> Keys {
        Keys {
            prefix: format!("ec2/{}/{}/", ctx.account, ctx.region),
            account: ctx.account.clone(),
        }
    }

    /// The account the keys belong to.
    pub fn account(&self) -> &str {
        &self.account
    }

    fn key(&self, parts: &[&str]) -> String {
        format!("{}{}", self.prefix, parts.join("/"))
    }

    /// Where a prefix scan below `parts` starts (ends with `/`).
    fn below(&self, parts: &[&str]) -> String {
        format!("{}/", self.key(parts))
    }

    pub fn defaults(&self) -> String {
        self.key(&["defaults"])
    }
    pub fn vpc(&self, id: &str) -> String {
        self.key(&["vpc", id])
    }
    pub fn vpcs(&self) -> String {
        self.below(&["vpc"])
    }
    pub fn subnet(&self, id: &str) -> String {
        self.key(&["subnet", id])
    }
    pub fn subnets(&self) -> String {
        self.below(&["subnet"])
    }
    /// Index: the subnets of a VPC.
    pub fn vpc_subnet(&self, vpc: &str, subnet: &str) -> String {
        self.key(&["vpcsubnet", vpc, subnet])
    }
    pub fn vpc_subnets(&self, vpc: &str) -> String {
        self.below(&["vpcsubnet", vpc])
    }
    pub fn group(&self, id: &str) -> String {
        self.key(&["sg", id])
    }
    pub fn groups(&self) -> String {
        self.below(&["sg"])
    }
    /// Index: a VPC's group of a name (value: the group id).
    pub fn group_name(&self, vpc: &str, name: &str) -> String {
        self.key(&["sgname", vpc, name])
    }
    pub fn group_names(&self, vpc: &str) -> String {
        self.below(&["sgname", vpc])
    }
    pub fn rule(&self, group: &str, rule: &str) -> String {
        self.key(&["rule", group, rule])
    }
    pub fn rules_of(&self, group: &str) -> String {
        self.below(&["rule", group])
    }
    pub fn rules(&self) -> String {
        self.below(&["rule"])
    }
    /// Index: a rule's group (value: the group id).
    pub fn rule_id(&self, rule: &str) -> String {
        self.key(&["ruleid", rule])
    }
    /// Index: the rules that name a group as their peer.
    pub fn reference(&self, referenced: &str, group: &str, rule: &str) -> String {
        self.key(&["ref", referenced, group, rule])
    }
    pub fn references_to(&self, referenced: &str) -> String {
        self.below(&["ref", referenced])
    }
    pub fn eni(&self, id: &str) -> String {
        self.key(&["eni", id])
    }
    pub fn enis(&self) -> String {
        self.below(&["eni"])
    }
    /// Index: a group's interfaces (value: the interface's address or null).
    pub fn member(&self, group: &str, eni: &str) -> String {
        self.key(&["member", group, eni])
    }
    pub fn members(&self, group: &str) -> String {
        self.below(&["member", group])
    }
    /// Index: a subnet's interfaces.
    pub fn subnet_eni(&self, subnet: &str, eni: &str) -> String {
        self.key(&["subneteni", subnet, eni])
    }
    pub fn subnet_enis(&self, subnet: &str) -> String {
        self.below(&["subneteni", subnet])
    }
    pub fn instance(&self, id: &str) -> String {
        self.key(&["instance", id])
    }
}

/// The record at `key`.
pub(crate) fn get<T: DeserializeOwned>(r: &impl Read, key: &str) -> Result<Option<T>, ApiError> {
    Ok(r.get_json(key)?)
}

/// Every record below `prefix`, in key order.
pub(crate) fn all<T: DeserializeOwned>(r: &impl Read, prefix: &str) -> Result<Vec<T>, ApiError> {
    Ok(r.scan_json(prefix, None, usize::MAX)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// The last part of every key below `prefix` (index entries name what they index
/// there).
pub(crate) fn names_below(r: &impl Read, prefix: &str) -> Result<Vec<String>, ApiError> {
    Ok(r.scan(prefix, None, usize::MAX)?
        .into_iter()
        .map(|(k, _)| k[prefix.len()..].to_string())
        .collect())
}

/// True when some key starts with `prefix`.
pub(crate) fn any_below(r: &impl Read, prefix: &str) -> Result<bool, ApiError> {
    Ok(!r.scan(prefix, None, 1)?.is_empty())
}

/// Writes `value` at `key`.
pub(crate) fn put<T: Serialize>(w: &mut Writer<'_>, key: &str, value: &T) -> Result<(), ApiError> {
    Ok(w.put_json(key, value)?)
}

/// Deletes `key`.
pub(crate) fn delete(w: &mut Writer<'_>, key: &str) -> Result<(), ApiError> {
    w.delete(key)?;
    Ok(())
}
