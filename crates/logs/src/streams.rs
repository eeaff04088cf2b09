//! Log streams: create, delete, describe.

use berth_awsproto::{decode_token, encode_token, ApiError, Context};
use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use crate::errors::{self, db, invalid, INVALID_PARAMETER};
use crate::groups::{find_group, Empty, GroupRow};
use crate::records::{group_arn, LogStream, OrderBy};
use crate::rules;

/// A stream as stored.
#[derive(Debug, Clone)]
pub(crate) struct StreamRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) created: i64,
    pub(crate) first_event: Option<i64>,
    pub(crate) last_event: Option<i64>,
    pub(crate) last_ingestion: Option<i64>,
    pub(crate) stored_bytes: i64,
    pub(crate) sequence: i64,
}

const STREAM_COLUMNS: &str =
    "id, name, created, first_event, last_event, last_ingestion, stored_bytes, sequence";

fn stream_from_row(r: &Row<'_>) -> rusqlite::Result<StreamRow> {
    Ok(StreamRow {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        first_event: r.get(3)?,
        last_event: r.get(4)?,
        last_ingestion: r.get(5)?,
        stored_bytes: r.get(6)?,
        sequence: r.get(7)?,
    })
}

/// The sequence token of a stream's `sequence`-th batch (AWS ignores them on input now,
/// but still answers one).
pub(crate) fn sequence_token(sequence: i64) -> String {
    format!("{sequence:056}")
}

impl StreamRow {
    fn to_output(&self, ctx: &Context, group: &str) -> LogStream {
        let arn = group_arn(&ctx.region, &ctx.account, group);
        LogStream {
            log_stream_name: self.name.clone(),
            creation_time: self.created,
            first_event_timestamp: self.first_event,
            last_event_timestamp: self.last_event,
            last_ingestion_time: self.last_ingestion,
            upload_sequence_token: Some(sequence_token(self.sequence + 1)),
            arn: format!("{arn}:log-stream:{}", self.name),
            stored_bytes: self.stored_bytes,
        }
    }
}

/// Stream `name` of `group`, if it exists.
pub(crate) fn get_stream(
    tx: &Transaction<'_>,
    group: &GroupRow,
    name: &str,
) -> Result<Option<StreamRow>, ApiError> {
    let sql = format!("SELECT {STREAM_COLUMNS} FROM streams WHERE group_id = ?1 AND name = ?2");
    tx.prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row(params![group.id, name], stream_from_row)
                .optional()
        })
        .map_err(db)
}

/// Stream `name` of `group`, else ResourceNotFoundException.
pub(crate) fn find_stream(
    tx: &Transaction<'_>,
    group: &GroupRow,
    name: &str,
) -> Result<StreamRow, ApiError> {
    get_stream(tx, group, name)?.ok_or_else(errors::stream_not_found)
}

/// An input naming a stream of a group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct StreamInput {
    log_group_name: String,
    log_stream_name: String,
}

impl StreamInput {
    fn check(&self) -> Result<(), ApiError> {
        rules::group_name("logGroupName", &self.log_group_name)?;
        rules::stream_name("logStreamName", &self.log_stream_name)
    }
}

/// CreateLogStream.
pub(crate) fn create(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: StreamInput,
    now: i64,
) -> Result<Empty, ApiError> {
    input.check()?;
    let group = find_group(tx, ctx, &input.log_group_name)?;
    if get_stream(tx, &group, &input.log_stream_name)?.is_some() {
        return Err(errors::stream_exists());
    }
    tx.execute(
        "INSERT INTO streams (group_id, name, created) VALUES (?1, ?2, ?3)",
        params![group.id, input.log_stream_name, now],
    )
    .map_err(db)?;
    Ok(Empty {})
}

/// DeleteLogStream: the stream and its events.
pub(crate) fn delete(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: StreamInput,
    _now: i64,
) -> Result<Empty, ApiError> {
    input.check()?;
    let group = find_group(tx, ctx, &input.log_group_name)?;
    let stream = find_stream(tx, &group, &input.log_stream_name)?;
    tx.execute("DELETE FROM events WHERE stream_id = ?1", [stream.id])
        .map_err(db)?;
    tx.execute("DELETE FROM streams WHERE id = ?1", [stream.id])
        .map_err(db)?;
    tx.execute(
        "UPDATE groups SET stored_bytes = max(0, stored_bytes - ?1) WHERE id = ?2",
        params![stream.stored_bytes, group.id],
    )
    .map_err(db)?;
    Ok(Empty {})
}

/// DescribeLogStreams' input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DescribeLogStreamsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<OrderBy>,
    descending: Option<bool>,
    next_token: Option<String>,
    limit: Option<i64>,
}

/// DescribeLogStreams' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeLogStreamsOutput {
    log_streams: Vec<LogStream>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// Where a page of streams starts: after this sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct After {
    last_event: i64,
    name: String,
}

fn encode_after(order: OrderBy, s: &StreamRow) -> String {
    match order {
        OrderBy::LogStreamName => encode_token(&format!("0/{}", s.name)),
        OrderBy::LastEventTime => {
            encode_token(&format!("{}/{}", s.last_event.unwrap_or(0), s.name))
        }
    }
}

fn decode_after(token: &str) -> Result<After, ApiError> {
    let text = decode_token(token, "nextToken", INVALID_PARAMETER)?;
    text.split_once('/')
        .and_then(|(ts, name)| {
            Some(After {
                last_event: ts.parse().ok()?,
                name: name.to_string(),
            })
        })
        .ok_or_else(|| errors::bad_token("nextToken"))
}

/// The query of a page of streams in `order`, `descending` or not. Parameters: group
/// id, prefix (or NULL), the last key's event time and name (or NULLs).
fn page_sql(order: OrderBy, descending: bool) -> String {
    let (key, after) = match order {
        OrderBy::LogStreamName => ("name", "name {op} ?4"),
        OrderBy::LastEventTime => (
            "coalesce(last_event, 0) {dir}, name",
            "(coalesce(last_event, 0), name) {op} (?3, ?4)",
        ),
    };
    let (op, dir) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let after = after.replace("{op}", op);
    let key = key.replace("{dir}", dir);
    format!(
        "SELECT {STREAM_COLUMNS} FROM streams WHERE group_id = ?1
           AND (?2 IS NULL OR substr(name, 1, length(?2)) = ?2)
           AND (?4 IS NULL OR {after})
         ORDER BY {key} {dir}"
    )
}

/// DescribeLogStreams: a group's streams by name or by last event time, a page at a
/// time.
pub(crate) fn describe(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: DescribeLogStreamsInput,
    _now: i64,
) -> Result<DescribeLogStreamsOutput, ApiError> {
    let name = rules::group_of(
        ctx,
        input.log_group_name.as_deref(),
        input.log_group_identifier.as_deref(),
    )?;
    let limit = rules::limit("limit", input.limit, 50, 50)?;
    let order = input.order_by.unwrap_or_default();
    if let Some(p) = &input.log_stream_name_prefix {
        rules::stream_name("logStreamNamePrefix", p)?;
        if order == OrderBy::LastEventTime {
            return Err(invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
    }
    let after = input.next_token.as_deref().map(decode_after).transpose()?;
    let group = find_group(tx, ctx, &name)?;
    let sql = page_sql(order, input.descending.unwrap_or(false));
    let mut stmt = tx.prepare_cached(&sql).map_err(db)?;
    let rows = stmt
        .query_map(
            params![
                group.id,
                input.log_stream_name_prefix,
                after.as_ref().map(|a| a.last_event),
                after.as_ref().map(|a| a.name.as_str()),
            ],
            stream_from_row,
        )
        .map_err(db)?;
    let mut page = Vec::new();
    let mut next_token = None;
    for row in rows {
        let s = row.map_err(db)?;
        if page.len() == limit {
            next_token = page.last().map(|last| encode_after(order, last));
            break;
        }
        page.push(s);
    }
    Ok(DescribeLogStreamsOutput {
        log_streams: page.iter().map(|s| s.to_output(ctx, &group.name)).collect(),
        next_token,
    })
}
