//! Amazon CloudWatch Logs (`logs`, API version 2014-03-28, AWS JSON 1.1, target prefix
//! `Logs_20140328`): log groups, log streams and their events.
//!
//! [`Logs`] implements [`berth_awsproto::Api`]: CreateLogGroup, DeleteLogGroup,
//! DescribeLogGroups, CreateLogStream, DeleteLogStream, DescribeLogStreams,
//! PutLogEvents, GetLogEvents, FilterLogEvents (filter patterns: [`pattern`]),
//! PutRetentionPolicy, DeleteRetentionPolicy, TagResource, UntagResource,
//! ListTagsForResource and the older TagLogGroup, UntagLogGroup and ListTagsLogGroup.
//!
//! Events are many, so they do not live in the revisioned store: the crate keeps its
//! own SQLite file, `<data_dir>/logs.db` (WAL, `synchronous=FULL`, one transaction per
//! call, so an answered PutLogEvents survives a crash). Events carry their ingestion
//! time and a monotonic id; they are indexed by (stream, timestamp) for GetLogEvents and
//! by (group, timestamp) for FilterLogEvents. Retention is enforced: reads skip events
//! older than the group's retention at once, and [`Logs::sweep`] (which the server
//! calls every [`SWEEP_INTERVAL`]) deletes them.
//!
//! What berth does differently from AWS: no metric or subscription filters, no KMS
//! encryption (`kmsKeyId` is echoed), `storedBytes` counts message bytes as they are
//! (not compressed), `searchedLogStreams` is always empty (AWS deprecated it), and
//! expired events disappear from reads at once rather than within 72 hours.

use std::path::Path;
use std::time::Duration;

use berth_awsproto::{
    output, Api, ApiError, Context, Input, JsonVersion, OutputShape, Protocol, Service,
};
use rusqlite::{params, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

mod db;
mod errors;
mod filter;
mod get;
mod groups;
pub mod pattern;
mod put;
mod records;
mod retention;
mod rules;
mod streams;

pub use db::DB_FILE;
pub use get::{Direction, Position, Token};
pub use put::{plan_batch, InputLogEvent, Plan};
pub use records::{
    FilteredLogEvent, LogGroup, LogGroupClass, LogStream, OrderBy, OutputLogEvent,
    RejectedLogEventsInfo, Tags,
};
pub use retention::{check_days, cutoff, expired, ALLOWED_DAYS, DAY_MS};

/// The `X-Amz-Target` prefix.
pub const TARGET_PREFIX: &str = "Logs_20140328";

/// How often the server deletes expired events.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// How clients reach CloudWatch Logs: JSON 1.1.
pub static SERVICE: Service = Service {
    signing_name: "logs",
    protocols: &[Protocol::Json {
        target_prefix: TARGET_PREFIX,
        version: JsonVersion::V1_1,
    }],
    error_message_key: "message",
    query_compatible: false,
    output: OutputShape::PLAIN,
};

/// Errors opening the logs database.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// The data directory could not be made.
    #[error("creating the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("logs database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// CloudWatch Logs on its own SQLite file.
#[derive(Debug)]
pub struct Logs {
    db: db::Db,
}

/// The time now in ms since the epoch (the thread's fixed clock in golden tests).
pub fn now_ms() -> i64 {
    (berth_awsproto::now() * 1000.0).round() as i64
}

type Op<I, O> = fn(&Transaction<'_>, &Context, I, i64) -> Result<O, ApiError>;

impl Logs {
    /// Opens (creating if needed) `<data_dir>/logs.db`.
    pub fn open(data_dir: &Path) -> Result<Logs, LogsError> {
        Ok(Logs {
            db: db::Db::open(data_dir)?,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    fn write<I: DeserializeOwned, O: Serialize>(
        &self,
        ctx: &Context,
        input: Input,
        op: Op<I, O>,
    ) -> Result<Value, ApiError> {
        let input = errors::parse(input)?;
        let now = now_ms();
        output(&self.db.write(|tx| op(tx, ctx, input, now))?)
    }

    fn read<I: DeserializeOwned, O: Serialize>(
        &self,
        ctx: &Context,
        input: Input,
        op: Op<I, O>,
    ) -> Result<Value, ApiError> {
        let input = errors::parse(input)?;
        let now = now_ms();
        output(&self.db.read(|tx| op(tx, ctx, input, now))?)
    }

    /// Deletes every event older than its group's retention at `now` (ms), in one
    /// transaction, keeping the streams' and groups' figures right. Returns how many
    /// events went.
    pub fn sweep(&self, now: i64) -> Result<u64, ApiError> {
        self.db.write(|tx| {
            let groups = retained_groups(tx)?;
            let mut deleted = 0;
            for (group, days) in groups {
                if let Some(c) = cutoff(now, Some(days)) {
                    deleted += sweep_group(tx, group, c)?;
                }
            }
            Ok(deleted)
        })
    }
}

fn retained_groups(tx: &Transaction<'_>) -> Result<Vec<(i64, i32)>, ApiError> {
    let mut stmt = tx
        .prepare_cached("SELECT id, retention FROM groups WHERE retention IS NOT NULL")
        .map_err(errors::db)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(errors::db)?;
    rows.collect::<Result<_, _>>().map_err(errors::db)
}

/// Deletes a group's events stamped before `cutoff`.
fn sweep_group(tx: &Transaction<'_>, group: i64, cutoff: i64) -> Result<u64, ApiError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT stream_id, count(*), sum(length(CAST(message AS BLOB))) FROM events
             WHERE group_id = ?1 AND timestamp < ?2 GROUP BY stream_id",
        )
        .map_err(errors::db)?;
    let per_stream: Vec<(i64, u64, i64)> = stmt
        .query_map(params![group, cutoff], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(errors::db)?
        .collect::<Result<_, _>>()
        .map_err(errors::db)?;
    if per_stream.is_empty() {
        return Ok(0);
    }
    let db = errors::db;
    tx.execute(
        "DELETE FROM events WHERE group_id = ?1 AND timestamp < ?2",
        params![group, cutoff],
    )
    .map_err(db)?;
    let mut total = (0, 0);
    for (stream, count, bytes) in per_stream {
        tx.execute(
            "UPDATE streams SET stored_bytes = max(0, stored_bytes - ?1),
                 first_event = (SELECT min(timestamp) FROM events WHERE stream_id = ?2)
             WHERE id = ?2",
            params![bytes, stream],
        )
        .map_err(db)?;
        total = (total.0 + count, total.1 + bytes);
    }
    tx.execute(
        "UPDATE groups SET stored_bytes = max(0, stored_bytes - ?1) WHERE id = ?2",
        params![total.1, group],
    )
    .map_err(db)?;
    tracing::debug!(group, events = total.0, "expired events deleted");
    Ok(total.0)
}

impl Api for Logs {
    fn service(&self) -> &'static Service {
        &SERVICE
    }

    fn invoke(&self, ctx: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
        match op {
            "CreateLogGroup" => self.write(ctx, input, groups::create),
            "DeleteLogGroup" => self.write(ctx, input, groups::delete),
            "DescribeLogGroups" => self.read(ctx, input, groups::describe),
            "PutRetentionPolicy" => self.write(ctx, input, groups::put_retention),
            "DeleteRetentionPolicy" => self.write(ctx, input, groups::delete_retention),
            "TagResource" => self.write(ctx, input, groups::tag_resource),
            "UntagResource" => self.write(ctx, input, groups::untag_resource),
            "ListTagsForResource" => self.read(ctx, input, groups::list_tags_for_resource),
            "TagLogGroup" => self.write(ctx, input, groups::tag_log_group),
            "UntagLogGroup" => self.write(ctx, input, groups::untag_log_group),
            "ListTagsLogGroup" => self.read(ctx, input, groups::list_tags_log_group),
            "CreateLogStream" => self.write(ctx, input, streams::create),
            "DeleteLogStream" => self.write(ctx, input, streams::delete),
            "DescribeLogStreams" => self.read(ctx, input, streams::describe),
            "PutLogEvents" => self.write(ctx, input, put::put),
            "GetLogEvents" => self.read(ctx, input, get::get),
            "FilterLogEvents" => self.read(ctx, input, filter::filter),
            _ => Err(ApiError::unknown_operation(op)),
        }
    }
}

#[cfg(test)]
mod tests;
