//! Security groups: CreateSecurityGroup, DeleteSecurityGroup, DescribeSecurityGroups,
//! and the lookups other operations share (by id, by name in a VPC, a request's
//! `GroupId` or `GroupName`).

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::defaults::default_vpc_in;
use crate::errors::{
    combination, dependency, invalid_value, missing, no_default_vpc, required, Check,
    CANNOT_DELETE, INVALID_GROUP_DUPLICATE, INVALID_GROUP_RESERVED,
};
use crate::filter::{one, FilterIn, Filterable, Filters, Getter, Page, MAX_RESULTS};
use crate::ids::{GROUP, VPC};
use crate::permission::{permissions, plain_text, Peer, PermissionOut, RuleSpec};
use crate::records::{
    all, any_below, delete, get, names_below, put, Keys, SecurityGroup, SecurityGroupRule, Tag, Vpc,
};
use crate::rules::{add_specs_in, allow_all_out, delete_rule_in, rules_in};
use crate::tags::{tags_for, TagSpecIn};

/// The name of every VPC's default group.
pub(crate) const DEFAULT_GROUP: &str = "default";
const DEFAULT_GROUP_DESCRIPTION: &str = "default VPC security group";

/// The group `group_id`, if it exists.
pub fn security_group_in(
    r: &impl Read,
    ctx: &Context,
    group_id: &str,
) -> Result<Option<SecurityGroup>, ApiError> {
    get(r, &Keys::new(ctx).group(group_id))
}

/// The default group of VPC `vpc_id`, if the VPC exists.
pub fn default_group_in(
    r: &impl Read,
    ctx: &Context,
    vpc_id: &str,
) -> Result<Option<SecurityGroup>, ApiError> {
    group_named(r, &Keys::new(ctx), vpc_id, DEFAULT_GROUP)
}

/// The group of VPC `vpc_id` named `name`.
pub(crate) fn group_named(
    r: &impl Read,
    keys: &Keys,
    vpc_id: &str,
    name: &str,
) -> Result<Option<SecurityGroup>, ApiError> {
    match get::<String>(r, &keys.group_name(vpc_id, name))? {
        Some(id) => get(r, &keys.group(&id)),
        None => Ok(None),
    }
}

/// The group `id` names: malformed or unknown ids are errors.
pub(crate) fn require_group(
    r: &impl Read,
    ctx: &Context,
    id: &str,
) -> Result<SecurityGroup, ApiError> {
    GROUP.check(id)?;
    security_group_in(r, ctx, id)?.ok_or_else(|| GROUP.not_found(id))
}

/// The group a request names by `GroupId`, or by `GroupName` in the default VPC.
pub(crate) fn target(
    r: &impl Read,
    ctx: &Context,
    id: Option<&str>,
    name: Option<&str>,
) -> Result<SecurityGroup, ApiError> {
    match (id, name) {
        (Some(_), Some(_)) => Err(combination("Specify either GroupId or GroupName, not both")),
        (Some(id), None) => require_group(r, ctx, id),
        (None, Some(name)) => {
            let vpc = default_vpc_in(r, ctx)?.ok_or_else(no_default_vpc)?;
            group_named(r, &Keys::new(ctx), &vpc.vpc_id, name)?.ok_or_else(|| {
                ApiError::new(
                    400,
                    GROUP.not_found,
                    format!(
                        "The security group '{name}' does not exist in default VPC '{}'",
                        vpc.vpc_id
                    ),
                )
            })
        }
        (None, None) => Err(missing("GroupId or GroupName")),
    }
}

/// Writes a new group and its name index; the name must be free in its VPC.
pub(crate) fn insert_group_in(
    w: &mut Writer<'_>,
    keys: &Keys,
    group: &SecurityGroup,
) -> Result<(), ApiError> {
    let name_key = keys.group_name(&group.vpc_id, &group.group_name);
    if w.get(&name_key)?.is_some() {
        return Err(ApiError::new(
            400,
            INVALID_GROUP_DUPLICATE,
            format!(
                "The security group '{}' already exists for VPC '{}'",
                group.group_name, group.vpc_id
            ),
        ));
    }
    put(w, &keys.group(&group.group_id), group)?;
    put(w, &name_key, &group.group_id)
}

/// A VPC's default group: every protocol in from its own members, everything out.
pub(crate) fn create_default_group_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    vpc_id: &str,
) -> Result<SecurityGroup, ApiError> {
    let group = SecurityGroup {
        group_id: GROUP.new_id(),
        group_name: DEFAULT_GROUP.to_string(),
        description: DEFAULT_GROUP_DESCRIPTION.to_string(),
        vpc_id: vpc_id.to_string(),
        tags: Vec::new(),
    };
    insert_group_in(w, &Keys::new(ctx), &group)?;
    let from_members = RuleSpec {
        peer: Peer::Group(group.group_id.clone()),
        ..allow_all_out()
    };
    add_specs_in(w, ctx, &group, false, vec![from_members], Vec::new())?;
    add_specs_in(w, ctx, &group, true, vec![allow_all_out()], Vec::new())?;
    Ok(group)
}

/// Deletes a group, its rules and its name index (its dependents are checked first).
pub(crate) fn remove_group_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    group: &SecurityGroup,
) -> Result<(), ApiError> {
    let keys = Keys::new(ctx);
    for rule in rules_in(w, ctx, &group.group_id)? {
        delete_rule_in(w, &keys, &rule)?;
    }
    delete(w, &keys.group_name(&group.vpc_id, &group.group_name))?;
    delete(w, &keys.group(&group.group_id))
}

/// A group may go unless it is a default group, an interface has it, or another
/// group's rule names it.
fn check_deletable(r: &impl Read, keys: &Keys, group: &SecurityGroup) -> Result<(), ApiError> {
    let id = &group.group_id;
    if group.group_name == DEFAULT_GROUP {
        return Err(ApiError::new(
            400,
            CANNOT_DELETE,
            format!("the specified group: \"{id}\" name: \"{DEFAULT_GROUP}\" cannot be deleted by a user"),
        ));
    }
    let referenced = names_below(r, &keys.references_to(id))?
        .iter()
        .any(|entry| !entry.starts_with(&format!("{id}/")));
    if referenced || any_below(r, &keys.members(id))? {
        return Err(dependency(format!("resource {id} has a dependent object")));
    }
    Ok(())
}

/// What a group's name and description must be: (what is wrong, test).
const TEXT_RULES: &[Check<str>] = &[
    ("The value cannot be empty.", |s| !s.is_empty()),
    ("It has at most 255 characters.", |s| {
        s.chars().count() <= 255
    }),
    (
        "Valid characters are a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*",
        plain_text,
    ),
];

fn check_text(param: &str, value: &str) -> Result<(), ApiError> {
    match TEXT_RULES.iter().find(|(_, ok)| !ok(value)) {
        Some((why, _)) => Err(invalid_value(param, value, why)),
        None => Ok(()),
    }
}

/// CreateSecurityGroup's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct CreateGroupIn {
    pub dry_run: Option<bool>,
    group_description: Option<String>,
    group_name: Option<String>,
    vpc_id: Option<String>,
    #[serde(rename = "TagSpecification", default)]
    tag_specs: Vec<TagSpecIn>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateGroupOut {
    group_id: String,
    security_group_arn: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tag_set: Vec<Tag>,
}

fn group_arn(ctx: &Context, id: &str) -> String {
    ctx.arn("ec2", &format!("security-group/{id}"))
}

/// The VPC a create call names, or the default VPC.
pub(crate) fn vpc_or_default(
    r: &impl Read,
    ctx: &Context,
    vpc_id: Option<&str>,
) -> Result<Vpc, ApiError> {
    match vpc_id {
        Some(id) => {
            VPC.check(id)?;
            get(r, &Keys::new(ctx).vpc(id))?.ok_or_else(|| VPC.not_found(id))
        }
        None => default_vpc_in(r, ctx)?.ok_or_else(no_default_vpc),
    }
}

/// CreateSecurityGroup: a group in the named (or the default) VPC, with the rule that
/// lets everything out.
pub(crate) fn create(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: CreateGroupIn,
) -> Result<CreateGroupOut, ApiError> {
    let name = required(&i.group_name, "GroupName")?;
    let description = required(&i.group_description, "GroupDescription")?;
    check_text("GroupName", name)?;
    check_text("GroupDescription", description)?;
    if name.starts_with("sg-") {
        return Err(invalid_value(
            "GroupName",
            name,
            "Group names may not be in the format sg-*",
        ));
    }
    if name == DEFAULT_GROUP {
        return Err(ApiError::new(
            400,
            INVALID_GROUP_RESERVED,
            format!("The security group '{DEFAULT_GROUP}' is reserved"),
        ));
    }
    let vpc = vpc_or_default(w, ctx, i.vpc_id.as_deref())?;
    let group = SecurityGroup {
        group_id: GROUP.new_id(),
        group_name: name.clone(),
        description: description.clone(),
        vpc_id: vpc.vpc_id,
        tags: tags_for(&i.tag_specs, GROUP.resource_type)?,
    };
    insert_group_in(w, &Keys::new(ctx), &group)?;
    add_specs_in(w, ctx, &group, true, vec![allow_all_out()], Vec::new())?;
    Ok(CreateGroupOut {
        security_group_arn: group_arn(ctx, &group.group_id),
        group_id: group.group_id,
        tag_set: group.tags,
    })
}

/// DeleteSecurityGroup's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct DeleteGroupIn {
    pub dry_run: Option<bool>,
    group_id: Option<String>,
    group_name: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DeleteGroupOut {
    #[serde(rename = "return")]
    ret: bool,
    #[serde(rename = "groupId")]
    group_id: String,
}

/// DeleteSecurityGroup, by id or by name in the default VPC.
pub(crate) fn delete_op(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: DeleteGroupIn,
) -> Result<DeleteGroupOut, ApiError> {
    let group = target(w, ctx, i.group_id.as_deref(), i.group_name.as_deref())?;
    check_deletable(w, &Keys::new(ctx), &group)?;
    remove_group_in(w, ctx, &group)?;
    Ok(DeleteGroupOut {
        ret: true,
        group_id: group.group_id,
    })
}

/// A group with its rules, as filters and answers see it.
pub(crate) struct GroupView {
    group: SecurityGroup,
    rules: Vec<SecurityGroupRule>,
}

impl GroupView {
    fn load(r: &impl Read, ctx: &Context, group: SecurityGroup) -> Result<GroupView, ApiError> {
        let rules = rules_in(r, ctx, &group.group_id)?;
        Ok(GroupView { group, rules })
    }

    /// What `get` reads of the rules of one direction.
    fn of_rules(&self, egress: bool, get: fn(&SecurityGroupRule) -> Option<String>) -> Vec<String> {
        self.rules
            .iter()
            .filter(|x| x.is_egress == egress)
            .filter_map(get)
            .collect()
    }
}

fn port_text(p: Option<i32>) -> Option<String> {
    Some(p.unwrap_or(-1).to_string())
}

impl Filterable for GroupView {
    const FIELDS: &'static [(&'static str, Getter<Self>)] = &[
        ("group-id", |v, _| one(&v.group.group_id)),
        ("group-name", |v, _| one(&v.group.group_name)),
        ("description", |v, _| one(&v.group.description)),
        ("vpc-id", |v, _| one(&v.group.vpc_id)),
        ("owner-id", |_, ctx| one(&ctx.account)),
        ("ip-permission.protocol", |v, _| {
            v.of_rules(false, |x| Some(x.ip_protocol.clone()))
        }),
        ("ip-permission.from-port", |v, _| {
            v.of_rules(false, |x| port_text(x.from_port))
        }),
        ("ip-permission.to-port", |v, _| {
            v.of_rules(false, |x| port_text(x.to_port))
        }),
        ("ip-permission.cidr", |v, _| {
            v.of_rules(false, |x| x.cidr_ipv4.clone())
        }),
        ("ip-permission.ipv6-cidr", |v, _| {
            v.of_rules(false, |x| x.cidr_ipv6.clone())
        }),
        ("ip-permission.prefix-list-id", |v, _| {
            v.of_rules(false, |x| x.prefix_list_id.clone())
        }),
        ("ip-permission.group-id", |v, _| {
            v.of_rules(false, |x| x.referenced_group_id.clone())
        }),
        ("egress.ip-permission.protocol", |v, _| {
            v.of_rules(true, |x| Some(x.ip_protocol.clone()))
        }),
        ("egress.ip-permission.from-port", |v, _| {
            v.of_rules(true, |x| port_text(x.from_port))
        }),
        ("egress.ip-permission.to-port", |v, _| {
            v.of_rules(true, |x| port_text(x.to_port))
        }),
        ("egress.ip-permission.cidr", |v, _| {
            v.of_rules(true, |x| x.cidr_ipv4.clone())
        }),
        ("egress.ip-permission.ipv6-cidr", |v, _| {
            v.of_rules(true, |x| x.cidr_ipv6.clone())
        }),
        ("egress.ip-permission.prefix-list-id", |v, _| {
            v.of_rules(true, |x| x.prefix_list_id.clone())
        }),
        ("egress.ip-permission.group-id", |v, _| {
            v.of_rules(true, |x| x.referenced_group_id.clone())
        }),
    ];
    fn tags(&self) -> &[Tag] {
        &self.group.tags
    }
}

/// A group as DescribeSecurityGroups answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupItem {
    group_id: String,
    group_name: String,
    group_description: String,
    vpc_id: String,
    owner_id: String,
    security_group_arn: String,
    ip_permissions: Vec<PermissionOut>,
    ip_permissions_egress: Vec<PermissionOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tag_set: Vec<Tag>,
}

impl GroupItem {
    fn new(v: GroupView, ctx: &Context) -> GroupItem {
        let specs = |egress: bool| -> Vec<RuleSpec> {
            v.rules
                .iter()
                .filter(|x| x.is_egress == egress)
                .map(RuleSpec::of)
                .collect()
        };
        GroupItem {
            ip_permissions: permissions(&specs(false), &ctx.account),
            ip_permissions_egress: permissions(&specs(true), &ctx.account),
            security_group_arn: group_arn(ctx, &v.group.group_id),
            owner_id: ctx.account.clone(),
            group_id: v.group.group_id,
            group_name: v.group.group_name,
            group_description: v.group.description,
            vpc_id: v.group.vpc_id,
            tag_set: v.group.tags,
        }
    }
}

/// DescribeSecurityGroups's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct DescribeGroupsIn {
    pub dry_run: Option<bool>,
    #[serde(rename = "GroupId", default)]
    group_ids: Vec<String>,
    #[serde(rename = "GroupName", default)]
    group_names: Vec<String>,
    next_token: Option<String>,
    max_results: Option<i32>,
    #[serde(rename = "Filter", default)]
    filters: Vec<FilterIn>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DescribeGroupsOut {
    #[serde(rename = "securityGroupInfo")]
    groups: Vec<GroupItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// DescribeSecurityGroups: the groups named (ids, or names in the default VPC), or all,
/// that the filters keep, by group id.
pub(crate) fn describe(
    r: &impl Read,
    ctx: &Context,
    i: DescribeGroupsIn,
) -> Result<DescribeGroupsOut, ApiError> {
    let filters = Filters::<GroupView>::new(&i.filters)?;
    let page = Page::new(i.max_results, i.next_token.as_deref(), MAX_RESULTS)?;
    let mut groups: Vec<SecurityGroup> = if i.group_ids.is_empty() && i.group_names.is_empty() {
        all(r, &Keys::new(ctx).groups())?
    } else {
        let by_id = i.group_ids.iter().map(|id| target(r, ctx, Some(id), None));
        let by_name = i.group_names.iter().map(|n| target(r, ctx, None, Some(n)));
        by_id.chain(by_name).collect::<Result<_, _>>()?
    };
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    groups.dedup_by(|a, b| a.group_id == b.group_id);
    let views = groups
        .into_iter()
        .map(|g| GroupView::load(r, ctx, g))
        .collect::<Result<Vec<_>, _>>()?;
    let (views, next_token) = page.take(filters.keep(views, ctx), |v| v.group.group_id.clone());
    Ok(DescribeGroupsOut {
        groups: views.into_iter().map(|v| GroupItem::new(v, ctx)).collect(),
        next_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions_are_checked_as_a_table() {
        assert!(check_text("GroupName", "orders-sg").is_ok());
        assert!(check_text("GroupDescription", "Orders ECS Service SG").is_ok());
        for (value, says) in [
            ("", "cannot be empty"),
            (&"x".repeat(256) as &str, "255"),
            ("caf\u{e9}", "Valid characters"),
        ] {
            let e = check_text("GroupName", value).unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue");
            assert!(
                e.message.contains("GroupName") && e.message.contains(says),
                "{}",
                e.message
            );
        }
    }
}
