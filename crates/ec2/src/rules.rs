//! Security group rules: their storage and indexes, AuthorizeSecurityGroupIngress and
//! Egress, RevokeSecurityGroupIngress and Egress, ModifySecurityGroupRules and
//! DescribeSecurityGroupRules.
//!
//! A rule is stored at `rule/<group>/<rule>`; `ruleid/<rule>` finds its group and
//! `ref/<peer group>/<group>/<rule>` the rules that name a group as their peer. Every
//! rule write goes through [`put_rule_in`] and [`delete_rule_in`], which keep them so.

use berth_awsproto::{ApiError, Context, UNKNOWN_PARAMETER};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::errors::{
    combination, invalid, missing, required, unsupported, INVALID_PERMISSION_DUPLICATE,
    INVALID_PERMISSION_NOT_FOUND, RULES_LIMIT_EXCEEDED,
};
use crate::filter::{one, FilterIn, Filterable, Filters, Getter, Page, MAX_RESULTS};
use crate::group::{group_named, require_group, target};
use crate::ids::{GROUP, RULE};
use crate::permission::{
    description, permissions, ports, protocol, specs, GroupPairIn, IpPermissionIn, IpRangeIn,
    PermissionOut, RuleSpec, ALL_PROTOCOLS,
};
use crate::records::{all, delete, get, put, Keys, SecurityGroup, SecurityGroupRule, Tag, Vpc};
use crate::tags::{tags_for, TagSpecIn};
use crate::Return;

/// The most rules of one direction a group has.
const MAX_RULES: usize = 60;

/// Every rule of a group, ingress and egress, in rule id order.
pub fn rules_in(
    r: &impl Read,
    ctx: &Context,
    group_id: &str,
) -> Result<Vec<SecurityGroupRule>, ApiError> {
    all(r, &Keys::new(ctx).rules_of(group_id))
}

/// The rule `rule_id`, if it exists.
pub(crate) fn rule_by_id(
    r: &impl Read,
    keys: &Keys,
    rule_id: &str,
) -> Result<Option<SecurityGroupRule>, ApiError> {
    let Some(group) = get::<String>(r, &keys.rule_id(rule_id))? else {
        return Ok(None);
    };
    get(r, &keys.rule(&group, rule_id))
}

/// Writes a rule and its indexes.
pub(crate) fn put_rule_in(
    w: &mut Writer<'_>,
    keys: &Keys,
    rule: &SecurityGroupRule,
) -> Result<(), ApiError> {
    put(w, &keys.rule(&rule.group_id, &rule.rule_id), rule)?;
    put(w, &keys.rule_id(&rule.rule_id), &rule.group_id)?;
    if let Some(peer) = &rule.referenced_group_id {
        put(w, &keys.reference(peer, &rule.group_id, &rule.rule_id), &())?;
    }
    Ok(())
}

/// Deletes a rule and its indexes.
pub(crate) fn delete_rule_in(
    w: &mut Writer<'_>,
    keys: &Keys,
    rule: &SecurityGroupRule,
) -> Result<(), ApiError> {
    delete(w, &keys.rule(&rule.group_id, &rule.rule_id))?;
    delete(w, &keys.rule_id(&rule.rule_id))?;
    if let Some(peer) = &rule.referenced_group_id {
        delete(w, &keys.reference(peer, &rule.group_id, &rule.rule_id))?;
    }
    Ok(())
}

/// The group's rules of one direction.
fn direction(
    r: &impl Read,
    ctx: &Context,
    group_id: &str,
    egress: bool,
) -> Result<Vec<SecurityGroupRule>, ApiError> {
    let mut rules = rules_in(r, ctx, group_id)?;
    rules.retain(|x| x.is_egress == egress);
    Ok(rules)
}

fn duplicate(spec: &RuleSpec) -> ApiError {
    ApiError::new(
        400,
        INVALID_PERMISSION_DUPLICATE,
        format!("the specified rule \"{}\" already exists", spec.describe()),
    )
}

/// Adds `specs` to a group's rules of one direction: none may be there already (or
/// twice in `specs`), and the direction keeps at most [`MAX_RULES`].
pub(crate) fn add_specs_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    group: &SecurityGroup,
    egress: bool,
    specs: Vec<RuleSpec>,
    tags: Vec<Tag>,
) -> Result<Vec<SecurityGroupRule>, ApiError> {
    let existing: Vec<RuleSpec> = direction(w, ctx, &group.group_id, egress)?
        .iter()
        .map(RuleSpec::of)
        .collect();
    for (i, spec) in specs.iter().enumerate() {
        if existing.iter().chain(&specs[..i]).any(|s| s.same(spec)) {
            return Err(duplicate(spec));
        }
    }
    if existing.len() + specs.len() > MAX_RULES {
        return Err(ApiError::new(
            400,
            RULES_LIMIT_EXCEEDED,
            "The maximum number of rules per security group has been reached.",
        ));
    }
    let keys = Keys::new(ctx);
    let mut added = Vec::with_capacity(specs.len());
    for spec in specs {
        let rule = spec.into_rule(RULE.new_id(), &group.group_id, egress, tags.clone());
        put_rule_in(w, &keys, &rule)?;
        added.push(rule);
    }
    Ok(added)
}

/// The input of the four Authorize* and Revoke* operations (each takes part of it:
/// [`Change::foreign`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RuleChangeIn {
    pub dry_run: Option<bool>,
    group_id: Option<String>,
    group_name: Option<String>,
    #[serde(default)]
    ip_permissions: Vec<IpPermissionIn>,
    ip_protocol: Option<String>,
    from_port: Option<i32>,
    to_port: Option<i32>,
    cidr_ip: Option<String>,
    source_security_group_name: Option<String>,
    source_security_group_owner_id: Option<String>,
    #[serde(rename = "SecurityGroupRuleId", default)]
    rule_ids: Vec<String>,
    #[serde(rename = "TagSpecification", default)]
    tag_specs: Vec<TagSpecIn>,
}

/// Which of the four operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    AuthorizeIngress,
    AuthorizeEgress,
    RevokeIngress,
    RevokeEgress,
}

impl Change {
    fn egress(self) -> bool {
        matches!(self, Change::AuthorizeEgress | Change::RevokeEgress)
    }

    /// The members of [`RuleChangeIn`] this operation's input does not have, and
    /// whether the request gave them.
    fn foreign(self, i: &RuleChangeIn) -> Vec<(&'static str, bool)> {
        let name = ("GroupName", i.group_name.is_some());
        let ids = ("SecurityGroupRuleId", !i.rule_ids.is_empty());
        let tags = ("TagSpecification", !i.tag_specs.is_empty());
        match self {
            Change::AuthorizeIngress => vec![ids],
            Change::AuthorizeEgress => vec![name, ids],
            Change::RevokeIngress => vec![tags],
            Change::RevokeEgress => vec![name, tags],
        }
    }

    /// `UnknownParameter` for a member this operation does not have.
    fn check_members(self, i: &RuleChangeIn) -> Result<(), ApiError> {
        match self.foreign(i).into_iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(ApiError::new(
                400,
                UNKNOWN_PARAMETER,
                format!("The parameter {name} is not recognized"),
            )),
            None => Ok(()),
        }
    }

    /// The group the request changes: egress by id only.
    fn group(
        self,
        r: &impl Read,
        ctx: &Context,
        i: &RuleChangeIn,
    ) -> Result<SecurityGroup, ApiError> {
        if self.egress() {
            let id = required(&i.group_id, "GroupId")?;
            return require_group(r, ctx, id);
        }
        target(r, ctx, i.group_id.as_deref(), i.group_name.as_deref())
    }
}

/// A peer group of `group`'s VPC, by id or by name.
fn peer_group(
    r: &impl Read,
    keys: &Keys,
    group: &SecurityGroup,
    pair: &GroupPairIn,
) -> Result<String, ApiError> {
    if pair.vpc_peering_connection_id.is_some() {
        return Err(unsupported("VpcPeeringConnectionId"));
    }
    let elsewhere = pair.user_id.as_ref().is_some_and(|u| *u != keys.account())
        || pair.vpc_id.as_ref().is_some_and(|v| *v != group.vpc_id);
    if elsewhere {
        return Err(invalid(format!(
            "The peer group must be a group of account {} in VPC {}: berth has no VPC peering.",
            keys.account(),
            group.vpc_id
        )));
    }
    let peer = match (&pair.group_id, &pair.group_name) {
        (Some(id), _) => {
            GROUP.check(id)?;
            get::<SecurityGroup>(r, &keys.group(id))?.ok_or_else(|| GROUP.not_found(id))?
        }
        (None, Some(name)) => group_named(r, keys, &group.vpc_id, name)?.ok_or_else(|| {
            let message = format!(
                "The security group '{name}' does not exist in VPC '{}'",
                group.vpc_id
            );
            ApiError::new(400, GROUP.not_found, message)
        })?,
        (None, None) => return Err(missing("GroupId or GroupName of the peer group")),
    };
    if peer.vpc_id != group.vpc_id {
        return Err(invalid(format!(
            "You have specified two resources that belong to different networks: {} and {}.",
            group.group_id, peer.group_id
        )));
    }
    Ok(peer.group_id)
}

/// The rules the top-level members state (`CidrIp`, `IpProtocol`, `FromPort`,
/// `ToPort`, `SourceSecurityGroupName`), if any. A source group alone is every ICMP,
/// TCP and UDP port, as on EC2.
fn flat_specs(
    r: &impl Read,
    keys: &Keys,
    group: &SecurityGroup,
    i: &RuleChangeIn,
) -> Result<Option<Vec<RuleSpec>>, ApiError> {
    let traffic = i.ip_protocol.is_some() || i.from_port.is_some() || i.to_port.is_some();
    let source =
        i.source_security_group_name.is_some() || i.source_security_group_owner_id.is_some();
    if !traffic && !source && i.cidr_ip.is_none() {
        return Ok(None);
    }
    if !i.ip_permissions.is_empty() {
        return Err(combination(
            "The parameter IpPermissions cannot be used with IpProtocol, FromPort, ToPort, CidrIp \
             or SourceSecurityGroupName",
        ));
    }
    if source {
        if traffic || i.cidr_ip.is_some() {
            return Err(combination(
                "SourceSecurityGroupName cannot be used with IpProtocol, FromPort, ToPort or CidrIp",
            ));
        }
        let name = required(&i.source_security_group_name, "SourceSecurityGroupName")?;
        let pair = GroupPairIn {
            group_name: Some(name.clone()),
            ..Default::default()
        };
        let peer = peer_group(r, keys, group, &pair)?;
        let every = |p: &str, ports| RuleSpec {
            protocol: p.to_string(),
            ports: Some(ports),
            peer: crate::permission::Peer::Group(peer.clone()),
            description: None,
        };
        return Ok(Some(vec![
            every("icmp", (-1, -1)),
            every("tcp", (0, 65535)),
            every("udp", (0, 65535)),
        ]));
    }
    let perm = IpPermissionIn {
        ip_protocol: Some(required(&i.ip_protocol, "IpProtocol")?.clone()),
        from_port: i.from_port,
        to_port: i.to_port,
        ip_ranges: vec![IpRangeIn {
            cidr_ip: Some(required(&i.cidr_ip, "CidrIp")?.clone()),
            description: None,
        }],
        ..Default::default()
    };
    Ok(Some(specs(&[perm], "IpPermissions", |_| {
        unreachable!("no groups")
    })?))
}

/// The rules a request states, by `IpPermissions` or by the top-level members.
fn requested(
    r: &impl Read,
    keys: &Keys,
    group: &SecurityGroup,
    i: &RuleChangeIn,
) -> Result<Vec<RuleSpec>, ApiError> {
    if let Some(flat) = flat_specs(r, keys, group, i)? {
        return Ok(flat);
    }
    if i.ip_permissions.is_empty() {
        return Err(missing("IpPermissions"));
    }
    specs(&i.ip_permissions, "IpPermissions", |pair| {
        peer_group(r, keys, group, pair)
    })
}

/// A rule as Authorize* and DescribeSecurityGroupRules answer it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuleItem {
    security_group_rule_id: String,
    group_id: String,
    group_owner_id: String,
    is_egress: bool,
    ip_protocol: String,
    from_port: i32,
    to_port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ipv4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ipv6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix_list_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    referenced_group_info: Option<ReferencedGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    tag_set: Vec<Tag>,
    security_group_rule_arn: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReferencedGroup {
    group_id: String,
    user_id: String,
}

impl RuleItem {
    pub fn new(rule: &SecurityGroupRule, ctx: &Context) -> RuleItem {
        RuleItem {
            security_group_rule_id: rule.rule_id.clone(),
            group_id: rule.group_id.clone(),
            group_owner_id: ctx.account.clone(),
            is_egress: rule.is_egress,
            ip_protocol: rule.ip_protocol.clone(),
            from_port: rule.from_port.unwrap_or(-1),
            to_port: rule.to_port.unwrap_or(-1),
            cidr_ipv4: rule.cidr_ipv4.clone(),
            cidr_ipv6: rule.cidr_ipv6.clone(),
            prefix_list_id: rule.prefix_list_id.clone(),
            referenced_group_info: rule.referenced_group_id.as_ref().map(|g| ReferencedGroup {
                group_id: g.clone(),
                user_id: ctx.account.clone(),
            }),
            description: rule.description.clone(),
            tag_set: rule.tags.clone(),
            security_group_rule_arn: ctx
                .arn("ec2", &format!("security-group-rule/{}", rule.rule_id)),
        }
    }
}

/// Authorize*'s output.
#[derive(Debug, Serialize)]
pub(crate) struct AuthorizeOut {
    #[serde(rename = "return")]
    ret: bool,
    #[serde(rename = "securityGroupRuleSet")]
    rules: Vec<RuleItem>,
}

/// AuthorizeSecurityGroupIngress and AuthorizeSecurityGroupEgress.
pub(crate) fn authorize(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: RuleChangeIn,
    change: Change,
) -> Result<AuthorizeOut, ApiError> {
    change.check_members(&i)?;
    let keys = Keys::new(ctx);
    let group = change.group(w, ctx, &i)?;
    let specs = requested(w, &keys, &group, &i)?;
    let tags = tags_for(&i.tag_specs, RULE.resource_type)?;
    let rules = add_specs_in(w, ctx, &group, change.egress(), specs, tags)?;
    Ok(AuthorizeOut {
        ret: true,
        rules: rules.iter().map(|x| RuleItem::new(x, ctx)).collect(),
    })
}

/// A rule as Revoke* says it removed it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RevokedItem {
    security_group_rule_id: String,
    group_id: String,
    is_egress: bool,
    ip_protocol: String,
    from_port: i32,
    to_port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ipv4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ipv6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix_list_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    referenced_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

impl RevokedItem {
    fn new(rule: SecurityGroupRule) -> RevokedItem {
        RevokedItem {
            security_group_rule_id: rule.rule_id,
            group_id: rule.group_id,
            is_egress: rule.is_egress,
            ip_protocol: rule.ip_protocol,
            from_port: rule.from_port.unwrap_or(-1),
            to_port: rule.to_port.unwrap_or(-1),
            cidr_ipv4: rule.cidr_ipv4,
            cidr_ipv6: rule.cidr_ipv6,
            prefix_list_id: rule.prefix_list_id,
            referenced_group_id: rule.referenced_group_id,
            description: rule.description,
        }
    }
}

/// Revoke*'s output.
#[derive(Debug, Serialize)]
pub(crate) struct RevokeOut {
    #[serde(rename = "return")]
    ret: bool,
    #[serde(
        rename = "unknownIpPermissionSet",
        skip_serializing_if = "Vec::is_empty"
    )]
    unknown: Vec<PermissionOut>,
    #[serde(rename = "revokedSecurityGroupRuleSet")]
    revoked: Vec<RevokedItem>,
}

/// The rules of `existing` that `ids` name; an id of none is not found.
fn rules_named(
    existing: &[SecurityGroupRule],
    ids: &[String],
) -> Result<Vec<SecurityGroupRule>, ApiError> {
    ids.iter()
        .map(|id| {
            RULE.check(id)?;
            existing
                .iter()
                .find(|x| &x.rule_id == id)
                .cloned()
                .ok_or_else(|| RULE.not_found(id))
        })
        .collect()
}

/// RevokeSecurityGroupIngress and RevokeSecurityGroupEgress: by rule ids, or by the
/// rules' contents. A rule that is not there fails the request with
/// `InvalidPermission.NotFound`, except in a default VPC, where EC2 revokes the rest
/// and answers `Return=false` with the unknown permissions.
pub(crate) fn revoke(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: RuleChangeIn,
    change: Change,
) -> Result<RevokeOut, ApiError> {
    change.check_members(&i)?;
    let keys = Keys::new(ctx);
    let group = change.group(w, ctx, &i)?;
    let existing = direction(w, ctx, &group.group_id, change.egress())?;
    let (doomed, unknown) = if i.rule_ids.is_empty() {
        match_specs(&existing, requested(w, &keys, &group, &i)?)
    } else {
        if !i.ip_permissions.is_empty() || flat_specs(w, &keys, &group, &i)?.is_some() {
            return Err(combination(
                "SecurityGroupRuleId cannot be used with IpPermissions or the rule's members",
            ));
        }
        (rules_named(&existing, &i.rule_ids)?, Vec::new())
    };
    if !unknown.is_empty() {
        let in_default_vpc = get::<Vpc>(w, &keys.vpc(&group.vpc_id))?.is_some_and(|v| v.is_default);
        if !in_default_vpc {
            return Err(ApiError::new(
                400,
                INVALID_PERMISSION_NOT_FOUND,
                "The specified rule does not exist in this security group.",
            ));
        }
    }
    for rule in &doomed {
        delete_rule_in(w, &keys, rule)?;
    }
    Ok(RevokeOut {
        ret: unknown.is_empty(),
        unknown: permissions(&unknown, &ctx.account),
        revoked: doomed.into_iter().map(RevokedItem::new).collect(),
    })
}

/// The rules `specs` name, and the specs that name none.
fn match_specs(
    existing: &[SecurityGroupRule],
    specs: Vec<RuleSpec>,
) -> (Vec<SecurityGroupRule>, Vec<RuleSpec>) {
    let mut doomed: Vec<SecurityGroupRule> = Vec::new();
    let mut unknown = Vec::new();
    for spec in specs {
        let found = existing.iter().find(|x| {
            RuleSpec::of(x).same(&spec) && !doomed.iter().any(|d| d.rule_id == x.rule_id)
        });
        match found {
            Some(x) => doomed.push(x.clone()),
            None => unknown.push(spec),
        }
    }
    (doomed, unknown)
}

/// ModifySecurityGroupRules's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct ModifyRulesIn {
    pub dry_run: Option<bool>,
    group_id: Option<String>,
    #[serde(rename = "SecurityGroupRule", default)]
    updates: Vec<RuleUpdateIn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RuleUpdateIn {
    security_group_rule_id: Option<String>,
    security_group_rule: Option<RuleRequestIn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RuleRequestIn {
    ip_protocol: Option<String>,
    from_port: Option<i32>,
    to_port: Option<i32>,
    cidr_ipv4: Option<String>,
    cidr_ipv6: Option<String>,
    prefix_list_id: Option<String>,
    referenced_group_id: Option<String>,
    description: Option<String>,
}

/// The spec a rule update states: a protocol and exactly one peer.
fn update_spec(
    r: &impl Read,
    keys: &Keys,
    group: &SecurityGroup,
    req: &RuleRequestIn,
    param: &str,
) -> Result<RuleSpec, ApiError> {
    use crate::permission::{cidr4, cidr6, prefix_list, Peer};
    let protocol = protocol(required(&req.ip_protocol, &format!("{param}.IpProtocol"))?)?;
    let ports = ports(&protocol, req.from_port, req.to_port)?;
    let mut peers = Vec::new();
    if let Some(c) = &req.cidr_ipv4 {
        peers.push(Peer::Cidr4(cidr4(c)?));
    }
    if let Some(c) = &req.cidr_ipv6 {
        peers.push(Peer::Cidr6(cidr6(c)?));
    }
    if let Some(p) = &req.prefix_list_id {
        peers.push(Peer::PrefixList(prefix_list(p)?));
    }
    if let Some(g) = &req.referenced_group_id {
        let pair = GroupPairIn {
            group_id: Some(g.clone()),
            ..Default::default()
        };
        peers.push(Peer::Group(peer_group(r, keys, group, &pair)?));
    }
    let [peer] = <[Peer; 1]>::try_from(peers).map_err(|_| {
        invalid(format!(
            "{param} must have exactly one of CidrIpv4, CidrIpv6, PrefixListId and ReferencedGroupId"
        ))
    })?;
    Ok(RuleSpec {
        protocol,
        ports,
        peer,
        description: description(&req.description)?,
    })
}

/// ModifySecurityGroupRules: each rule takes the contents stated for it, keeping its
/// id, direction and tags; no rule may come to equal another.
pub(crate) fn modify(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: ModifyRulesIn,
) -> Result<Return, ApiError> {
    let keys = Keys::new(ctx);
    let group = require_group(w, ctx, required(&i.group_id, "GroupId")?)?;
    if i.updates.is_empty() {
        return Err(missing("SecurityGroupRule"));
    }
    for (n, u) in i.updates.iter().enumerate() {
        let param = format!("SecurityGroupRule.{}", n + 1);
        let id = required(
            &u.security_group_rule_id,
            &format!("{param}.SecurityGroupRuleId"),
        )?;
        let old = rules_named(
            &rules_in(w, ctx, &group.group_id)?,
            std::slice::from_ref(id),
        )?
        .remove(0);
        let req = required(
            &u.security_group_rule,
            &format!("{param}.SecurityGroupRule"),
        )?;
        let spec = update_spec(w, &keys, &group, req, &format!("{param}.SecurityGroupRule"))?;
        let others = direction(w, ctx, &group.group_id, old.is_egress)?;
        if others
            .iter()
            .any(|x| x.rule_id != old.rule_id && RuleSpec::of(x).same(&spec))
        {
            return Err(duplicate(&spec));
        }
        let new = spec.into_rule(
            old.rule_id.clone(),
            &group.group_id,
            old.is_egress,
            old.tags.clone(),
        );
        delete_rule_in(w, &keys, &old)?;
        put_rule_in(w, &keys, &new)?;
    }
    Ok(Return::TRUE)
}

impl Filterable for SecurityGroupRule {
    const FIELDS: &'static [(&'static str, Getter<Self>)] = &[
        ("group-id", |x, _| one(&x.group_id)),
        ("security-group-rule-id", |x, _| one(&x.rule_id)),
    ];
    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

/// DescribeSecurityGroupRules's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct DescribeRulesIn {
    pub dry_run: Option<bool>,
    #[serde(rename = "Filter", default)]
    filters: Vec<FilterIn>,
    #[serde(rename = "SecurityGroupRuleId", default)]
    rule_ids: Vec<String>,
    next_token: Option<String>,
    max_results: Option<i32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DescribeRulesOut {
    #[serde(rename = "securityGroupRuleSet")]
    rules: Vec<RuleItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// DescribeSecurityGroupRules: the rules named, or all of them, that the filters keep.
pub(crate) fn describe(
    r: &impl Read,
    ctx: &Context,
    i: DescribeRulesIn,
) -> Result<DescribeRulesOut, ApiError> {
    let filters = Filters::<SecurityGroupRule>::new(&i.filters)?;
    let page = Page::new(i.max_results, i.next_token.as_deref(), MAX_RESULTS)?;
    let keys = Keys::new(ctx);
    let mut rules = if i.rule_ids.is_empty() {
        all(r, &keys.rules())?
    } else {
        let mut named = Vec::new();
        for id in &i.rule_ids {
            RULE.check(id)?;
            named.push(rule_by_id(r, &keys, id)?.ok_or_else(|| RULE.not_found(id))?);
        }
        named
    };
    rules = filters.keep(rules, ctx);
    rules.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
    rules.dedup_by(|a, b| a.rule_id == b.rule_id);
    let (rules, next_token) = page.take(rules, |x| x.rule_id.clone());
    Ok(DescribeRulesOut {
        rules: rules.iter().map(|x| RuleItem::new(x, ctx)).collect(),
        next_token,
    })
}

/// The rules of a new group: none in, everything out.
pub(crate) fn allow_all_out() -> RuleSpec {
    RuleSpec {
        protocol: ALL_PROTOCOLS.to_string(),
        ports: None,
        peer: crate::permission::Peer::Cidr4("0.0.0.0/0".to_string()),
        description: None,
    }
}
