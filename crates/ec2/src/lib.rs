//! Amazon EC2's networking API (`ec2`, API version 2016-11-15, EC2's query protocol):
//! VPCs, subnets, availability zones, security groups and their rules, tags, and the
//! network interfaces tasks get.
//!
//! [`Ec2`] implements [`berth_awsproto::Api`]. Inputs are read as botocore's EC2
//! serializer writes them (members by their capitalized location names, lists as
//! `Name.N`); input types deny members the model does not have (`UnknownParameter`).
//! Outputs name their members as EC2's XML does (`vpcSet`, `groupId`), which the front
//! writes with `<item>` list items. A request with `DryRun=true` runs, is rolled back,
//! and answers `DryRunOperation` (412).
//!
//! Every account and region has a default network, made the first time it is touched
//! ([`ensure_defaults_in`]). The `*_in` functions run inside a caller's transaction:
//! `berth-ecs` makes its tasks' network interfaces with them and reads the rules and
//! members its agents enforce. [`import_in`] recreates a network of pre-existing ids.
//!
//! # Store key layout
//!
//! Everything lives under `ec2/{account}/{region}/` (below: `P`). Values are JSON.
//!
//! | key | value |
//! |---|---|
//! | `P defaults` | what the first touch made: the default VPC, subnets, group, DHCP options |
//! | `P vpc/{vpc-id}` | [`Vpc`] |
//! | `P subnet/{subnet-id}` | [`Subnet`] |
//! | `P vpcsubnet/{vpc-id}/{subnet-id}` | index: a VPC's subnets |
//! | `P sg/{sg-id}` | [`SecurityGroup`] |
//! | `P sgname/{vpc-id}/{name}` | the group id (names are unique per VPC) |
//! | `P rule/{sg-id}/{sgr-id}` | [`SecurityGroupRule`] |
//! | `P ruleid/{sgr-id}` | the rule's group id |
//! | `P ref/{peer-sg-id}/{sg-id}/{sgr-id}` | index: the rules that name a group as their peer |
//! | `P eni/{eni-id}` | [`NetworkInterface`] |
//! | `P member/{sg-id}/{eni-id}` | the interface's address or null (index: a group's members) |
//! | `P subneteni/{subnet-id}/{eni-id}` | index: a subnet's interfaces |
//! | `P instance/{i-id}` | [`Instance`]: a container instance's host (no API yet) |

use std::sync::Arc;

use berth_awsproto::{
    output, Api, ApiError, Context, Input, OutputShape, Protocol, QueryApi, QueryFlavour, Service,
};
use berth_store::{Reader, Store, Writer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

mod cidr;
mod defaults;
mod eni;
mod errors;
mod filter;
mod group;
mod ids;
mod import;
mod instance;
mod permission;
mod records;
mod region;
mod rules;
mod subnet;
mod tags;
mod vpc;
mod zones;

#[cfg(test)]
mod tests;

pub use defaults::{ensure_defaults_in, DefaultNetwork};
pub use eni::{
    create_network_interface_in, delete_network_interface_in, members_in, network_interface_in,
    set_interface_address_in,
};
pub use group::{default_group_in, security_group_in};
pub use import::{
    import_file, import_in, parse_network_file, GroupImport, ImportError, NetworkImport,
    RuleImport, SubnetImport, TagImport, VpcImport,
};
pub use instance::{delete_instance_in, instance_in, put_instance_in, Instance, InstanceState};
pub use records::{
    CidrBlockState, InterfaceStatus, NetworkInterface, SecurityGroup, SecurityGroupRule, Subnet,
    SubnetState, Tag, Tenancy, Vpc, VpcState, ZoneState,
};
pub use rules::rules_in;
pub use subnet::subnet_in;
pub use vpc::vpc_in;
pub use zones::{zones, Zone};

/// The API version, the form's `Version`.
pub const API_VERSION: &str = "2016-11-15";

/// How clients reach EC2: its query protocol.
pub static SERVICE: Service = Service {
    signing_name: "ec2",
    protocols: &[Protocol::Query(QueryApi {
        version: API_VERSION,
        xml_namespace: "http://ec2.amazonaws.com/doc/2016-11-15/",
        flavour: QueryFlavour::Ec2,
    })],
    error_message_key: "Message",
    query_compatible: false,
    output: OutputShape::PLAIN,
};

/// The EC2 networking API on berth's store.
#[derive(Debug, Clone)]
pub struct Ec2 {
    store: Arc<Store>,
}

/// `<return>true</return>`: what EC2 answers calls without an output of their own.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Return {
    #[serde(rename = "return")]
    ret: bool,
}

impl Return {
    pub(crate) const TRUE: Return = Return { ret: true };
}

/// An operation's input: whether it asks for a dry run.
trait Op: DeserializeOwned {
    fn dry_run(&self) -> bool;
}

macro_rules! dry_run_inputs {
    ($($t:ty),* $(,)?) => {$(
        impl Op for $t {
            fn dry_run(&self) -> bool {
                self.dry_run.unwrap_or(false)
            }
        }
    )*};
}

dry_run_inputs!(
    vpc::DescribeVpcsIn,
    vpc::CreateVpcIn,
    vpc::DeleteVpcIn,
    subnet::DescribeSubnetsIn,
    subnet::CreateSubnetIn,
    subnet::DeleteSubnetIn,
    zones::DescribeZonesIn,
    group::CreateGroupIn,
    group::DeleteGroupIn,
    group::DescribeGroupsIn,
    rules::RuleChangeIn,
    rules::ModifyRulesIn,
    rules::DescribeRulesIn,
    tags::CreateTagsIn,
    tags::DeleteTagsIn,
    tags::DescribeTagsIn,
    eni::DescribeInterfacesIn,
);

impl Ec2 {
    /// EC2 over `store`.
    pub fn new(store: Arc<Store>) -> Ec2 {
        Ec2 { store }
    }

    /// The store it works on.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Makes the account and region's default network unless it exists.
    fn ensure_defaults(&self, ctx: &Context) -> Result<(), ApiError> {
        if self.store.read(|r| defaults::created_in(r, ctx))?.is_some() {
            return Ok(());
        }
        self.store.write(|w| defaults::ensure_created_in(w, ctx))?;
        Ok(())
    }

    /// Runs a reading operation on a snapshot.
    fn read<I: Op, O: Serialize>(
        &self,
        ctx: &Context,
        input: Input,
        op: impl FnOnce(&Reader<'_>, &Context, I) -> Result<O, ApiError>,
    ) -> Result<Value, ApiError> {
        let input: I = input.parse()?;
        let dry_run = input.dry_run();
        self.ensure_defaults(ctx)?;
        let out = self.store.read(|r| op(r, ctx, input))?;
        if dry_run {
            return Err(errors::dry_run());
        }
        output(&out)
    }

    /// Runs a writing operation in one transaction (rolled back on error or dry run).
    fn write<I: Op, O: Serialize>(
        &self,
        ctx: &Context,
        input: Input,
        op: impl FnOnce(&mut Writer<'_>, &Context, I) -> Result<O, ApiError>,
    ) -> Result<Value, ApiError> {
        let input: I = input.parse()?;
        let dry_run = input.dry_run();
        let (out, _) = self.store.write(|w| {
            defaults::ensure_created_in(w, ctx)?;
            let out = op(w, ctx, input)?;
            if dry_run {
                return Err(errors::dry_run());
            }
            Ok::<_, ApiError>(out)
        })?;
        output(&out)
    }
}

impl Api for Ec2 {
    fn service(&self) -> &'static Service {
        &SERVICE
    }

    fn invoke(&self, ctx: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
        use rules::Change;
        match op {
            "DescribeVpcs" => self.read(ctx, input, |r, ctx, i| vpc::describe(r, ctx, i)),
            "CreateVpc" => self.write(ctx, input, vpc::create),
            "DeleteVpc" => self.write(ctx, input, vpc::delete_op),
            "DescribeSubnets" => self.read(ctx, input, |r, ctx, i| subnet::describe(r, ctx, i)),
            "CreateSubnet" => self.write(ctx, input, subnet::create),
            "DeleteSubnet" => self.write(ctx, input, subnet::delete_op),
            "DescribeAvailabilityZones" => {
                self.read(ctx, input, |_, ctx, i| zones::describe(ctx, i))
            }
            "CreateSecurityGroup" => self.write(ctx, input, group::create),
            "DeleteSecurityGroup" => self.write(ctx, input, group::delete_op),
            "DescribeSecurityGroups" => {
                self.read(ctx, input, |r, ctx, i| group::describe(r, ctx, i))
            }
            "AuthorizeSecurityGroupIngress" => self.write(ctx, input, |w, ctx, i| {
                rules::authorize(w, ctx, i, Change::AuthorizeIngress)
            }),
            "AuthorizeSecurityGroupEgress" => self.write(ctx, input, |w, ctx, i| {
                rules::authorize(w, ctx, i, Change::AuthorizeEgress)
            }),
            "RevokeSecurityGroupIngress" => self.write(ctx, input, |w, ctx, i| {
                rules::revoke(w, ctx, i, Change::RevokeIngress)
            }),
            "RevokeSecurityGroupEgress" => self.write(ctx, input, |w, ctx, i| {
                rules::revoke(w, ctx, i, Change::RevokeEgress)
            }),
            "DescribeSecurityGroupRules" => {
                self.read(ctx, input, |r, ctx, i| rules::describe(r, ctx, i))
            }
            "ModifySecurityGroupRules" => self.write(ctx, input, rules::modify),
            "CreateTags" => self.write(ctx, input, tags::create),
            "DeleteTags" => self.write(ctx, input, tags::delete),
            "DescribeTags" => self.read(ctx, input, |r, ctx, i| tags::describe(r, ctx, i)),
            "DescribeNetworkInterfaces" => {
                self.read(ctx, input, |r, ctx, i| eni::describe(r, ctx, i))
            }
            _ => Err(ApiError::unknown_operation(op)),
        }
    }
}
