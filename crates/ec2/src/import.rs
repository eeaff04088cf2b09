//! An import of a network with pre-existing ids (a berth extension): users recreate
//! their AWS VPCs, subnets and security groups under the ids their task definitions
//! and scripts already name (`subnet-f9bb89a2`, `sg-EXAMPLE`).
//!
//! A file holds one document or an array of them:
//!
//! ```json
//! {"account": "123456789012", "region": "us-east-1",
//!  "vpcs": [{"vpcId": "vpc-0seed001", "cidrBlock": "10.0.0.0/16",
//!    "subnets": [{"subnetId": "subnet-f9bb89a2", "cidrBlock": "10.0.1.0/24",
//!                 "availabilityZone": "us-east-1a"}],
//!    "securityGroups": [{"groupId": "sg-34692f46", "groupName": "web", "description": "web",
//!       "ingress": [{"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIp": "0.0.0.0/0"},
//!                   {"ipProtocol": "-1", "sourceGroup": "self"}],
//!       "egress": null}]}]}
//! ```
//!
//! `account` defaults to [`berth_awsproto::DEFAULT_ACCOUNT`] and `region` to
//! [`berth_awsproto::DEFAULT_REGION`] (`us-east-1`), what clients without credentials
//! or a region name. Ids are `prefix-` and letters or digits. A VPC is a new VPC (never
//! the default one) and gets its default group; a group's `egress` omitted or null is
//! EC2's allow-all rule, `[]` none; `sourceGroup` is `self` or a group id of the VPC.
//! Importing is idempotent: what exists as the file says is left alone (rules the file
//! names are added if missing), and an existing resource that differs is an error
//! naming it.

use std::path::Path;

use berth_awsproto::{ApiError, Context, DEFAULT_ACCOUNT, DEFAULT_REGION};
use berth_store::{Store, Writer};
use serde::Deserialize;

use crate::cidr::Ipv4Cidr;
use crate::defaults::ensure_created_in;
use crate::errors::invalid;
use crate::group::insert_group_in;
use crate::ids::{new_id, IdKind, CIDR_ASSOCIATION, GROUP, SUBNET, VPC};
use crate::permission::{cidr4, cidr6, ports, prefix_list, protocol, Peer, RuleSpec};
use crate::records::{get, Keys, SecurityGroup, Subnet, SubnetState, Tag, Tenancy, Vpc, VpcState};
use crate::rules::{add_specs_in, allow_all_out, rules_in};
use crate::subnet::insert_subnet_in;
use crate::vpc::{insert_vpc_in, vpc_block};
use crate::zones::zone;

/// Why a network file was not imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a network document (or an array of them).
    #[error("{path} is not a network document: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause, with its line and column.
        source: serde_json::Error,
    },
    /// The network could not be made as the file says.
    #[error("{path}: {source}")]
    Apply {
        /// The file.
        path: String,
        /// The resource at fault and why.
        source: ApiError,
    },
}

/// One document: the VPCs of an account and region.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkImport {
    /// The account (default [`DEFAULT_ACCOUNT`]).
    pub account: Option<String>,
    /// The region (default [`DEFAULT_REGION`]).
    pub region: Option<String>,
    /// The VPCs.
    #[serde(default)]
    pub vpcs: Vec<VpcImport>,
}

/// A VPC to import.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VpcImport {
    /// `vpc-…`.
    pub vpc_id: String,
    /// Its block (/16 to /28).
    pub cidr_block: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<TagImport>,
    /// Its subnets.
    #[serde(default)]
    pub subnets: Vec<SubnetImport>,
    /// Its security groups (besides the default one it gets).
    #[serde(default)]
    pub security_groups: Vec<GroupImport>,
}

/// A subnet to import.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubnetImport {
    /// `subnet-…`.
    pub subnet_id: String,
    /// Its block, inside the VPC's.
    pub cidr_block: String,
    /// Its zone, by name or id.
    pub availability_zone: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<TagImport>,
}

/// A security group to import.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupImport {
    /// `sg-…`.
    pub group_id: String,
    /// Its name, unique in the VPC.
    pub group_name: String,
    /// Its description.
    pub description: String,
    /// Its inbound rules.
    #[serde(default)]
    pub ingress: Vec<RuleImport>,
    /// Its outbound rules; `None` is the allow-all rule every new group has.
    #[serde(default)]
    pub egress: Option<Vec<RuleImport>>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<TagImport>,
}

/// A rule to import: a protocol, ports, and one peer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleImport {
    /// `-1`, `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number.
    pub ip_protocol: String,
    /// The first port (ICMP: the type).
    pub from_port: Option<i32>,
    /// The last port (ICMP: the code).
    pub to_port: Option<i32>,
    /// An IPv4 peer.
    pub cidr_ip: Option<String>,
    /// An IPv6 peer.
    pub cidr_ipv6: Option<String>,
    /// A prefix list peer.
    pub prefix_list_id: Option<String>,
    /// A peer group of the VPC: `self` or its id.
    #[serde(alias = "group")]
    pub source_group: Option<String>,
    /// The rule's description.
    pub description: Option<String>,
}

/// A tag to import.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagImport {
    /// The key.
    #[serde(rename = "key", alias = "Key")]
    pub key: String,
    /// The value.
    #[serde(rename = "value", alias = "Value", default)]
    pub value: String,
}

/// Reads a network file: one document or an array of them. `path` names it in errors.
pub fn parse_network_file(path: &Path) -> Result<Vec<NetworkImport>, ImportError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: name.clone(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ImportError::Parse {
            path: name.clone(),
            source,
        })?;
    let docs = if value.is_array() {
        serde_json::from_value::<Vec<NetworkImport>>(value)
    } else {
        serde_json::from_value::<NetworkImport>(value).map(|d| vec![d])
    };
    docs.map_err(|source| ImportError::Parse { path: name, source })
}

/// Reads a network file and imports it, all of it in one transaction or nothing.
/// Documents that name no account or region are made in `defaults`' (in its region:
/// [`NetworkImport::in_region`]); without `defaults`, in the default account and
/// region, as written. Returns how many documents it held.
pub fn import_file(
    store: &Store,
    path: &Path,
    defaults: Option<&Context>,
) -> Result<usize, ImportError> {
    let mut docs = parse_network_file(path)?;
    if let Some(ctx) = defaults {
        docs = docs
            .into_iter()
            .map(|d| NetworkImport {
                account: d.account.clone().or_else(|| Some(ctx.account.clone())),
                ..d.in_region(&ctx.region)
            })
            .collect();
    }
    store
        .write(|w| {
            for doc in &docs {
                import_in(w, &doc.context(), doc)?;
            }
            Ok::<_, ApiError>(())
        })
        .map_err(|source| ImportError::Apply {
            path: path.display().to_string(),
            source,
        })?;
    Ok(docs.len())
}

impl NetworkImport {
    /// The account and region the document is for.
    pub fn context(&self) -> Context {
        Context {
            account: self
                .account
                .clone()
                .unwrap_or_else(|| DEFAULT_ACCOUNT.to_string()),
            region: self
                .region
                .clone()
                .unwrap_or_else(|| DEFAULT_REGION.to_string()),
            caller: Default::default(),
        }
    }
}

fn conflict(what: &str, id: &str, why: &str) -> ApiError {
    invalid(format!(
        "{what} {id} exists and differs from the import: {why}"
    ))
}

fn tags(t: &[TagImport]) -> Vec<Tag> {
    t.iter()
        .map(|t| Tag {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect()
}

fn check_id(kind: IdKind, id: &str) -> Result<(), ApiError> {
    if kind.well_formed(id) {
        Ok(())
    } else {
        Err(invalid(format!(
            "'{id}' is not a {} id ({}- and letters or digits)",
            kind.resource_type, kind.prefix
        )))
    }
}

/// Imports `doc` into `ctx`'s account and region (which the document's `account` and
/// `region`, when given, must name: see [`NetworkImport::context`]).
pub fn import_in(w: &mut Writer<'_>, ctx: &Context, doc: &NetworkImport) -> Result<(), ApiError> {
    if doc.context() != *ctx && (doc.account.is_some() || doc.region.is_some()) {
        let named = doc.context();
        return Err(invalid(format!(
            "the import is for account {} in {}, not {} in {}",
            named.account, named.region, ctx.account, ctx.region
        )));
    }
    let defaults = ensure_created_in(w, ctx)?;
    for v in &doc.vpcs {
        let vpc = import_vpc(w, ctx, v, &defaults.dhcp_options_id)?;
        for s in &v.subnets {
            import_subnet(w, ctx, &vpc, s)?;
        }
        for g in &v.security_groups {
            import_group(w, ctx, &vpc, g)?;
        }
        for g in &v.security_groups {
            import_rules(w, ctx, &vpc, g)?;
        }
    }
    Ok(())
}

fn import_vpc(
    w: &mut Writer<'_>,
    ctx: &Context,
    v: &VpcImport,
    dhcp: &str,
) -> Result<Vpc, ApiError> {
    check_id(VPC, &v.vpc_id)?;
    let block = vpc_block(&v.cidr_block)?;
    let keys = Keys::new(ctx);
    if let Some(old) = get::<Vpc>(w, &keys.vpc(&v.vpc_id))? {
        if old.is_default || old.cidr_block != block.to_string() {
            return Err(conflict(
                "VPC",
                &v.vpc_id,
                "another block, or the default VPC",
            ));
        }
        return Ok(old);
    }
    let vpc = Vpc {
        vpc_id: v.vpc_id.clone(),
        cidr_block: block.to_string(),
        cidr_association_id: new_id(CIDR_ASSOCIATION),
        is_default: false,
        state: VpcState::Available,
        dhcp_options_id: dhcp.to_string(),
        instance_tenancy: Tenancy::Default,
        tags: tags(&v.tags),
    };
    insert_vpc_in(w, ctx, &vpc)?;
    Ok(vpc)
}

fn import_subnet(
    w: &mut Writer<'_>,
    ctx: &Context,
    vpc: &Vpc,
    s: &SubnetImport,
) -> Result<(), ApiError> {
    check_id(SUBNET, &s.subnet_id)?;
    let zone = zone(&ctx.region, &s.availability_zone).ok_or_else(|| {
        invalid(format!(
            "subnet {}: no zone {} in {}",
            s.subnet_id, s.availability_zone, ctx.region
        ))
    })?;
    let keys = Keys::new(ctx);
    let block = Ipv4Cidr::parse(&s.cidr_block).map(|c| c.to_string());
    if let Some(old) = get::<Subnet>(w, &keys.subnet(&s.subnet_id))? {
        let same = old.vpc_id == vpc.vpc_id
            && Some(&old.cidr_block) == block.as_ref()
            && old.availability_zone == zone.zone_name;
        return if same {
            Ok(())
        } else {
            Err(conflict(
                "subnet",
                &s.subnet_id,
                "another VPC, block or zone",
            ))
        };
    }
    let subnet = Subnet {
        subnet_id: s.subnet_id.clone(),
        vpc_id: vpc.vpc_id.clone(),
        cidr_block: s.cidr_block.clone(),
        availability_zone: zone.zone_name,
        availability_zone_id: zone.zone_id,
        default_for_az: false,
        map_public_ip_on_launch: false,
        state: SubnetState::Available,
        tags: tags(&s.tags),
    };
    insert_subnet_in(w, &keys, vpc, &subnet)
}

fn import_group(
    w: &mut Writer<'_>,
    ctx: &Context,
    vpc: &Vpc,
    g: &GroupImport,
) -> Result<(), ApiError> {
    check_id(GROUP, &g.group_id)?;
    let keys = Keys::new(ctx);
    if let Some(old) = get::<SecurityGroup>(w, &keys.group(&g.group_id))? {
        let same = old.vpc_id == vpc.vpc_id
            && old.group_name == g.group_name
            && old.description == g.description;
        return if same {
            Ok(())
        } else {
            Err(conflict(
                "security group",
                &g.group_id,
                "another VPC, name or description",
            ))
        };
    }
    let group = SecurityGroup {
        group_id: g.group_id.clone(),
        group_name: g.group_name.clone(),
        description: g.description.clone(),
        vpc_id: vpc.vpc_id.clone(),
        tags: tags(&g.tags),
    };
    insert_group_in(w, &keys, &group)?;
    if g.egress.is_none() {
        add_specs_in(w, ctx, &group, true, vec![allow_all_out()], Vec::new())?;
    }
    Ok(())
}

/// A rule of the file as a spec; `self` and group ids name groups of the VPC.
fn rule_spec(
    w: &Writer<'_>,
    ctx: &Context,
    vpc: &Vpc,
    group: &str,
    r: &RuleImport,
) -> Result<RuleSpec, ApiError> {
    let protocol = protocol(&r.ip_protocol)?;
    let ports = ports(&protocol, r.from_port, r.to_port)?;
    let mut peers = Vec::new();
    if let Some(c) = &r.cidr_ip {
        peers.push(Peer::Cidr4(cidr4(c)?));
    }
    if let Some(c) = &r.cidr_ipv6 {
        peers.push(Peer::Cidr6(cidr6(c)?));
    }
    if let Some(p) = &r.prefix_list_id {
        peers.push(Peer::PrefixList(prefix_list(p)?));
    }
    if let Some(g) = &r.source_group {
        let id = if g == "self" { group } else { g.as_str() };
        let found: Option<SecurityGroup> = get(w, &Keys::new(ctx).group(id))?;
        if found.is_none_or(|f| f.vpc_id != vpc.vpc_id) {
            return Err(invalid(format!(
                "group {group}: the peer group {g} is no group of {}",
                vpc.vpc_id
            )));
        }
        peers.push(Peer::Group(id.to_string()));
    }
    let [peer] = <[Peer; 1]>::try_from(peers).map_err(|_| {
        invalid(format!("group {group}: a rule has exactly one of cidrIp, cidrIpv6, prefixListId and sourceGroup"))
    })?;
    Ok(RuleSpec {
        protocol,
        ports,
        peer,
        description: r.description.clone(),
    })
}

/// Adds the rules the file names that the group lacks.
fn import_rules(
    w: &mut Writer<'_>,
    ctx: &Context,
    vpc: &Vpc,
    g: &GroupImport,
) -> Result<(), ApiError> {
    let group: SecurityGroup = get(w, &Keys::new(ctx).group(&g.group_id))?
        .ok_or_else(|| ApiError::internal(format!("group {} vanished", g.group_id)))?;
    let existing = rules_in(w, ctx, &group.group_id)?;
    for (egress, rules) in [(false, Some(&g.ingress)), (true, g.egress.as_ref())] {
        let mut missing = Vec::new();
        for r in rules.into_iter().flatten() {
            let spec = rule_spec(w, ctx, vpc, &group.group_id, r)?;
            let present = existing
                .iter()
                .any(|x| x.is_egress == egress && RuleSpec::of(x).same(&spec));
            if !present && !missing.iter().any(|m: &RuleSpec| m.same(&spec)) {
                missing.push(spec);
            }
        }
        if !missing.is_empty() {
            add_specs_in(w, ctx, &group, egress, missing, Vec::new())?;
        }
    }
    Ok(())
}
