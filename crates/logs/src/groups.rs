//! Log groups: create, delete, describe, retention policies and tags.

use berth_awsproto::{decode_token, encode_token, ApiError, Context};
use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use crate::errors::{self, db, invalid, INVALID_PARAMETER, TOO_MANY_TAGS};
use crate::records::{group_arn, LogGroup, LogGroupClass, Tags};
use crate::{retention, rules};

/// The most tags a group may carry.
const MAX_TAGS: usize = 50;

/// A group as stored.
#[derive(Debug, Clone)]
pub(crate) struct GroupRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) created: i64,
    pub(crate) retention: Option<i32>,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) class: LogGroupClass,
    pub(crate) deletion_protection: bool,
    pub(crate) tags: Tags,
    pub(crate) stored_bytes: i64,
}

const GROUP_COLUMNS: &str =
    "id, name, created, retention, kms_key_id, class, deletion_protection, tags, stored_bytes";

fn group_from_row(r: &Row<'_>) -> rusqlite::Result<GroupRow> {
    let class: String = r.get(5)?;
    let tags: String = r.get(7)?;
    Ok(GroupRow {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        retention: r.get(3)?,
        kms_key_id: r.get(4)?,
        class: LogGroupClass::parse(&class).unwrap_or_default(),
        deletion_protection: r.get(6)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        stored_bytes: r.get(8)?,
    })
}

impl GroupRow {
    /// The group as DescribeLogGroups answers it.
    fn to_output(&self, ctx: &Context) -> LogGroup {
        let arn = group_arn(&ctx.region, &ctx.account, &self.name);
        LogGroup {
            log_group_name: self.name.clone(),
            creation_time: self.created,
            retention_in_days: self.retention,
            metric_filter_count: 0,
            arn: format!("{arn}:*"),
            stored_bytes: self.stored_bytes,
            kms_key_id: self.kms_key_id.clone(),
            log_group_class: self.class,
            log_group_arn: arn,
            deletion_protection_enabled: self.deletion_protection,
        }
    }
}

/// The caller's group `name`, if it exists.
pub(crate) fn get_group(
    tx: &Transaction<'_>,
    ctx: &Context,
    name: &str,
) -> Result<Option<GroupRow>, ApiError> {
    let sql = format!(
        "SELECT {GROUP_COLUMNS} FROM groups WHERE account = ?1 AND region = ?2 AND name = ?3"
    );
    tx.prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row(params![ctx.account, ctx.region, name], group_from_row)
                .optional()
        })
        .map_err(db)
}

/// The caller's group `name`, else ResourceNotFoundException.
pub(crate) fn find_group(
    tx: &Transaction<'_>,
    ctx: &Context,
    name: &str,
) -> Result<GroupRow, ApiError> {
    get_group(tx, ctx, name)?.ok_or_else(errors::group_not_found)
}

/// CreateLogGroup's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateLogGroupInput {
    log_group_name: String,
    kms_key_id: Option<String>,
    tags: Option<Tags>,
    log_group_class: Option<LogGroupClass>,
    deletion_protection_enabled: Option<bool>,
}

/// An empty answer.
#[derive(Debug, Serialize)]
pub(crate) struct Empty {}

/// CreateLogGroup.
pub(crate) fn create(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: CreateLogGroupInput,
    now: i64,
) -> Result<Empty, ApiError> {
    rules::group_name("logGroupName", &input.log_group_name)?;
    if let Some(k) = &input.kms_key_id {
        rules::max_len("kmsKeyId", k, 256)?;
    }
    let tags = input.tags.unwrap_or_default();
    if !tags.is_empty() {
        check_tag_count(&tags, &input.log_group_name)?;
        rules::tags("tags", &tags)?;
    }
    if get_group(tx, ctx, &input.log_group_name)?.is_some() {
        return Err(errors::group_exists());
    }
    let tags = serde_json::to_string(&tags).map_err(|e| ApiError::internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO groups (account, region, name, created, kms_key_id, class, deletion_protection, tags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            ctx.account,
            ctx.region,
            input.log_group_name,
            now,
            input.kms_key_id,
            input.log_group_class.unwrap_or_default().as_str(),
            input.deletion_protection_enabled.unwrap_or(false),
            tags
        ],
    )
    .map_err(db)?;
    Ok(Empty {})
}

/// An input naming only a log group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GroupNameInput {
    log_group_name: String,
}

/// DeleteLogGroup: the group, its streams and its events.
pub(crate) fn delete(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: GroupNameInput,
    _now: i64,
) -> Result<Empty, ApiError> {
    rules::group_name("logGroupName", &input.log_group_name)?;
    let group = find_group(tx, ctx, &input.log_group_name)?;
    if group.deletion_protection {
        return Err(ApiError::new(
            400,
            errors::VALIDATION,
            format!(
                "Log group {} has deletion protection enabled and cannot be deleted.",
                group.name
            ),
        ));
    }
    for sql in [
        "DELETE FROM events WHERE group_id = ?1",
        "DELETE FROM streams WHERE group_id = ?1",
        "DELETE FROM groups WHERE id = ?1",
    ] {
        tx.execute(sql, [group.id]).map_err(db)?;
    }
    Ok(Empty {})
}

/// DescribeLogGroups' input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DescribeLogGroupsInput {
    #[allow(dead_code)]
    account_identifiers: Option<Vec<String>>,
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
    #[allow(dead_code)]
    include_linked_accounts: Option<bool>,
    log_group_class: Option<LogGroupClass>,
    log_group_identifiers: Option<Vec<String>>,
}

/// DescribeLogGroups' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeLogGroupsOutput {
    log_groups: Vec<LogGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// Which groups a DescribeLogGroups call asks for.
struct GroupFilter {
    prefix: Option<String>,
    pattern: Option<String>,
    class: Option<LogGroupClass>,
    names: Option<Vec<String>>,
}

impl GroupFilter {
    fn from_input(ctx: &Context, input: &DescribeLogGroupsInput) -> Result<GroupFilter, ApiError> {
        let exclusive = [
            input.log_group_name_prefix.is_some(),
            input.log_group_name_pattern.is_some(),
            input.log_group_identifiers.is_some(),
        ];
        if exclusive.iter().filter(|x| **x).count() > 1 {
            return Err(invalid(
                "logGroupNamePrefix, logGroupNamePattern and logGroupIdentifiers are mutually exclusive parameters.",
            ));
        }
        if let Some(p) = &input.log_group_name_prefix {
            rules::group_name("logGroupNamePrefix", p)?;
        }
        if let Some(p) = &input.log_group_name_pattern {
            rules::group_name_pattern("logGroupNamePattern", p)?;
        }
        let names = match &input.log_group_identifiers {
            Some(ids) => Some(identifiers(ctx, ids)?),
            None => None,
        };
        Ok(GroupFilter {
            prefix: input.log_group_name_prefix.clone(),
            pattern: input
                .log_group_name_pattern
                .as_ref()
                .map(|p| p.to_lowercase()),
            class: input.log_group_class,
            names,
        })
    }

    fn matches(&self, g: &GroupRow) -> bool {
        self.prefix.as_ref().is_none_or(|p| g.name.starts_with(p))
            && self
                .pattern
                .as_ref()
                .is_none_or(|p| g.name.to_lowercase().contains(p))
            && self.class.is_none_or(|c| g.class == c)
            && self.names.as_ref().is_none_or(|n| n.contains(&g.name))
    }
}

fn identifiers(ctx: &Context, ids: &[String]) -> Result<Vec<String>, ApiError> {
    if ids.is_empty() || ids.len() > 50 {
        return Err(invalid(
            "1 validation error detected: Value at 'logGroupIdentifiers' failed to satisfy constraint: Member must have length between 1 and 50",
        ));
    }
    // An ARN of another account or region names no group of the caller's.
    Ok(ids
        .iter()
        .filter_map(|id| rules::identifier_name(ctx, "logGroupIdentifiers", id).ok())
        .collect())
}

/// DescribeLogGroups: the caller's groups by name, a page at a time.
pub(crate) fn describe(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: DescribeLogGroupsInput,
    _now: i64,
) -> Result<DescribeLogGroupsOutput, ApiError> {
    let limit = rules::limit("limit", input.limit, 50, 50)?;
    let filter = GroupFilter::from_input(ctx, &input)?;
    let after = match &input.next_token {
        Some(t) => decode_token(t, "nextToken", INVALID_PARAMETER)?,
        None => String::new(),
    };
    let sql = format!(
        "SELECT {GROUP_COLUMNS} FROM groups WHERE account = ?1 AND region = ?2 AND name > ?3 ORDER BY name"
    );
    let mut stmt = tx.prepare_cached(&sql).map_err(db)?;
    let rows = stmt
        .query_map(params![ctx.account, ctx.region, after], group_from_row)
        .map_err(db)?;
    let mut page = Vec::new();
    let mut more = false;
    for row in rows {
        let g = row.map_err(db)?;
        if !filter.matches(&g) {
            continue;
        }
        if page.len() == limit {
            more = true;
            break;
        }
        page.push(g.to_output(ctx));
    }
    let next_token = match (more, page.last()) {
        (true, Some(last)) => Some(encode_token(&last.log_group_name)),
        _ => None,
    };
    Ok(DescribeLogGroupsOutput {
        log_groups: page,
        next_token,
    })
}

/// PutRetentionPolicy's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PutRetentionPolicyInput {
    log_group_name: String,
    retention_in_days: i32,
}

/// PutRetentionPolicy. Events past it are no longer read at once and deleted by the
/// next sweep.
pub(crate) fn put_retention(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: PutRetentionPolicyInput,
    _now: i64,
) -> Result<Empty, ApiError> {
    rules::group_name("logGroupName", &input.log_group_name)?;
    retention::check_days(input.retention_in_days)?;
    set_retention(
        tx,
        ctx,
        &input.log_group_name,
        Some(input.retention_in_days),
    )
}

/// DeleteRetentionPolicy: events are kept forever.
pub(crate) fn delete_retention(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: GroupNameInput,
    _now: i64,
) -> Result<Empty, ApiError> {
    rules::group_name("logGroupName", &input.log_group_name)?;
    set_retention(tx, ctx, &input.log_group_name, None)
}

fn set_retention(
    tx: &Transaction<'_>,
    ctx: &Context,
    name: &str,
    days: Option<i32>,
) -> Result<Empty, ApiError> {
    let group = find_group(tx, ctx, name)?;
    tx.execute(
        "UPDATE groups SET retention = ?1 WHERE id = ?2",
        params![days, group.id],
    )
    .map_err(db)?;
    Ok(Empty {})
}

fn check_tag_count(tags: &Tags, resource: &str) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::new(
            400,
            TOO_MANY_TAGS,
            format!("A resource can have no more than {MAX_TAGS} tags."),
        )
        .with("resourceName", resource));
    }
    Ok(())
}

fn save_tags(tx: &Transaction<'_>, group: &GroupRow, tags: &Tags) -> Result<(), ApiError> {
    let text = serde_json::to_string(tags).map_err(|e| ApiError::internal(e.to_string()))?;
    tx.execute(
        "UPDATE groups SET tags = ?1 WHERE id = ?2",
        params![text, group.id],
    )
    .map_err(db)?;
    Ok(())
}

/// Adds `tags` to a group (a key already there takes the new value).
fn add_tags(
    tx: &Transaction<'_>,
    group: &GroupRow,
    tags: Tags,
    resource: &str,
) -> Result<(), ApiError> {
    rules::tags("tags", &tags)?;
    let mut all = group.tags.clone();
    all.extend(tags);
    check_tag_count(&all, resource)?;
    save_tags(tx, group, &all)
}

fn remove_tags(
    tx: &Transaction<'_>,
    group: &GroupRow,
    keys: &[String],
    member: &str,
) -> Result<(), ApiError> {
    for k in keys {
        rules::tag_key(member, k)?;
    }
    let mut all = group.tags.clone();
    all.retain(|k, _| !keys.contains(k));
    save_tags(tx, group, &all)
}

/// The group a tagging ARN names: a log group of the caller's account and region.
fn group_by_arn(tx: &Transaction<'_>, ctx: &Context, arn: &str) -> Result<GroupRow, ApiError> {
    if !arn.starts_with("arn:") {
        return Err(invalid(format!(
            "1 validation error detected: Value '{arn}' at 'resourceArn' failed to satisfy constraint: Member must be a valid ARN"
        )));
    }
    let name = rules::identifier_name(ctx, "resourceArn", arn)?;
    find_group(tx, ctx, &name)
}

/// TagResource's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TagResourceInput {
    resource_arn: String,
    tags: Tags,
}

/// TagResource.
pub(crate) fn tag_resource(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: TagResourceInput,
    _now: i64,
) -> Result<Empty, ApiError> {
    let group = group_by_arn(tx, ctx, &input.resource_arn)?;
    add_tags(tx, &group, input.tags, &input.resource_arn)?;
    Ok(Empty {})
}

/// UntagResource's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UntagResourceInput {
    resource_arn: String,
    tag_keys: Vec<String>,
}

/// UntagResource.
pub(crate) fn untag_resource(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: UntagResourceInput,
    _now: i64,
) -> Result<Empty, ApiError> {
    let group = group_by_arn(tx, ctx, &input.resource_arn)?;
    remove_tags(tx, &group, &input.tag_keys, "tagKeys.member")?;
    Ok(Empty {})
}

/// ListTagsForResource's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ResourceArnInput {
    resource_arn: String,
}

/// A group's tags.
#[derive(Debug, Serialize)]
pub(crate) struct TagsOutput {
    tags: Tags,
}

/// ListTagsForResource.
pub(crate) fn list_tags_for_resource(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: ResourceArnInput,
    _now: i64,
) -> Result<TagsOutput, ApiError> {
    let group = group_by_arn(tx, ctx, &input.resource_arn)?;
    Ok(TagsOutput { tags: group.tags })
}

/// TagLogGroup's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TagLogGroupInput {
    log_group_name: String,
    tags: Tags,
}

/// TagLogGroup (the older form of TagResource).
pub(crate) fn tag_log_group(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: TagLogGroupInput,
    _now: i64,
) -> Result<Empty, ApiError> {
    rules::group_name("logGroupName", &input.log_group_name)?;
    let group = find_group(tx, ctx, &input.log_group_name)?;
    add_tags(tx, &group, input.tags, &input.log_group_name)?;
    Ok(Empty {})
}

/// UntagLogGroup's input: its `tags` are keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UntagLogGroupInput {
    log_group_name: String,
    tags: Vec<String>,
}

/// UntagLogGroup.
pub(crate) fn untag_log_group(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: UntagLogGroupInput,
    _now: i64,
) -> Result<Empty, ApiError> {
    rules::group_name("logGroupName", &input.log_group_name)?;
    if input.tags.is_empty() {
        return Err(errors::constraint(
            "[]",
            "tags",
            "Member must have length greater than or equal to 1",
        ));
    }
    let group = find_group(tx, ctx, &input.log_group_name)?;
    remove_tags(tx, &group, &input.tags, "tags.member")?;
    Ok(Empty {})
}

/// ListTagsLogGroup.
pub(crate) fn list_tags_log_group(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: GroupNameInput,
    _now: i64,
) -> Result<TagsOutput, ApiError> {
    rules::group_name("logGroupName", &input.log_group_name)?;
    let group = find_group(tx, ctx, &input.log_group_name)?;
    Ok(TagsOutput { tags: group.tags })
}
