//! FilterLogEvents: a group's events across its streams, interleaved in time order,
//! that match a filter pattern; paged by a token naming the last event read.

use std::collections::HashMap;

use berth_awsproto::{decode_token, encode_token, ApiError, Context};
use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};

use crate::errors::{bad_token, constraint, db, invalid, INVALID_PARAMETER};
use crate::get::{Position, MAX_EVENTS, MAX_PAGE_BYTES};
use crate::groups::{find_group, GroupRow};
use crate::pattern::{self, Pattern};
use crate::records::FilteredLogEvent;
use crate::retention::cutoff;
use crate::rules;

/// The most events a call reads (matching or not) before it answers what it has and a
/// token to go on from.
pub const SCAN_BUDGET: usize = 200_000;

/// FilterLogEvents' input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FilterLogEventsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
    /// Deprecated: results are always interleaved.
    #[allow(dead_code)]
    interleaved: Option<bool>,
    #[allow(dead_code)]
    unmask: Option<bool>,
}

/// A searched stream (deprecated: berth answers none, as AWS now does).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchedLogStream {}

/// FilterLogEvents' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FilterLogEventsOutput {
    events: Vec<FilteredLogEvent>,
    searched_log_streams: Vec<SearchedLogStream>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// Which streams a call reads.
enum Streams {
    Named(Vec<String>),
    Prefix(String),
    All,
}

fn streams_of(input: &FilterLogEventsInput) -> Result<Streams, ApiError> {
    match (&input.log_stream_names, &input.log_stream_name_prefix) {
        (Some(_), Some(_)) => Err(invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
        )),
        (Some(names), None) => {
            if names.is_empty() || names.len() > 100 {
                return Err(constraint(
                    &format!("{} names", names.len()),
                    "logStreamNames",
                    "Member must have length between 1 and 100",
                ));
            }
            for n in names {
                rules::stream_name("logStreamNames.member", n)?;
            }
            Ok(Streams::Named(names.clone()))
        }
        (None, Some(p)) => {
            rules::stream_name("logStreamNamePrefix", p)?;
            Ok(Streams::Prefix(p.clone()))
        }
        (None, None) => Ok(Streams::All),
    }
}

fn parse_pattern(text: Option<&str>) -> Result<Pattern, ApiError> {
    let text = text.unwrap_or("");
    rules::max_len("filterPattern", text, 1024)?;
    pattern::parse(text).map_err(|e| {
        tracing::debug!(error = %e, "filter pattern refused");
        invalid("Invalid filter pattern")
    })
}

fn decode_position(token: &str) -> Result<Position, ApiError> {
    let text = decode_token(token, "nextToken", INVALID_PARAMETER)?;
    text.split_once('/')
        .and_then(|(ts, id)| {
            Some(Position {
                timestamp: ts.parse().ok()?,
                id: id.parse().ok()?,
            })
        })
        .ok_or_else(|| bad_token("nextToken"))
}

fn encode_position(p: Position) -> String {
    encode_token(&format!("{}/{}", p.timestamp, p.id))
}

/// The names of the group's streams the call reads, by id.
fn stream_names(
    tx: &Transaction<'_>,
    group: &GroupRow,
    which: &Streams,
) -> Result<HashMap<i64, String>, ApiError> {
    let mut stmt = tx
        .prepare_cached("SELECT id, name FROM streams WHERE group_id = ?1")
        .map_err(db)?;
    let rows = stmt
        .query_map([group.id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(db)?;
    let mut out = HashMap::new();
    for row in rows {
        let (id, name) = row.map_err(db)?;
        let wanted = match which {
            Streams::Named(names) => names.contains(&name),
            Streams::Prefix(p) => name.starts_with(p.as_str()),
            Streams::All => true,
        };
        if wanted {
            out.insert(id, name);
        }
    }
    Ok(out)
}

/// What a page reads: the time range, where it resumes, how much it may return.
struct Scan {
    range: (i64, i64),
    after: Position,
    limit: usize,
    budget: usize,
}

const SCAN_SQL: &str = "SELECT id, stream_id, timestamp, ingestion, message FROM events
    WHERE group_id = ?1 AND timestamp >= ?2 AND timestamp < ?3
      AND (timestamp > ?4 OR (timestamp = ?4 AND id > ?5))
    ORDER BY timestamp, id";

/// FilterLogEvents.
pub(crate) fn filter(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: FilterLogEventsInput,
    now: i64,
) -> Result<FilterLogEventsOutput, ApiError> {
    let name = rules::group_of(
        ctx,
        input.log_group_name.as_deref(),
        input.log_group_identifier.as_deref(),
    )?;
    let which = streams_of(&input)?;
    rules::timestamp("startTime", input.start_time)?;
    rules::timestamp("endTime", input.end_time)?;
    let limit = rules::limit("limit", input.limit, MAX_EVENTS, MAX_EVENTS)?;
    let pattern = parse_pattern(input.filter_pattern.as_deref())?;
    let after = input
        .next_token
        .as_deref()
        .map(decode_position)
        .transpose()?;
    let group = find_group(tx, ctx, &name)?;
    let names = stream_names(tx, &group, &which)?;
    let low = input.start_time.unwrap_or(0);
    let low = cutoff(now, group.retention).map_or(low, |c| low.max(c));
    let scan = Scan {
        range: (low, input.end_time.unwrap_or(i64::MAX)),
        after: after.unwrap_or(Position {
            timestamp: low,
            id: 0,
        }),
        limit,
        budget: SCAN_BUDGET,
    };
    let (events, next) = match names.is_empty() {
        // None of the streams asked for exists: nothing to read.
        true => (Vec::new(), None),
        false => scan_page(tx, group.id, &names, &pattern, &scan)?,
    };
    Ok(FilterLogEventsOutput {
        events,
        searched_log_streams: Vec::new(),
        next_token: next.map(encode_position),
    })
}

/// Reads a page: the matching events, and where the next page starts when there may
/// be more (a match past the page, or the scan budget spent).
fn scan_page(
    tx: &Transaction<'_>,
    group: i64,
    names: &HashMap<i64, String>,
    pattern: &Pattern,
    scan: &Scan,
) -> Result<(Vec<FilteredLogEvent>, Option<Position>), ApiError> {
    let mut stmt = tx.prepare_cached(SCAN_SQL).map_err(db)?;
    let p = scan.after;
    let mut rows = stmt
        .query(params![
            group,
            scan.range.0,
            scan.range.1,
            p.timestamp,
            p.id
        ])
        .map_err(db)?;
    let (mut page, mut bytes, mut scanned) = (Vec::new(), 0usize, 0usize);
    let (mut last, mut seen) = (None, None);
    while let Some(r) = rows.next().map_err(db)? {
        let pos = Position {
            id: r.get(0).map_err(db)?,
            timestamp: r.get(2).map_err(db)?,
        };
        if scanned == scan.budget {
            return Ok((page, seen));
        }
        scanned += 1;
        seen = Some(pos);
        let Some(stream) = names.get(&r.get::<_, i64>(1).map_err(db)?) else {
            continue;
        };
        let message: String = r.get(4).map_err(db)?;
        if !pattern.matches(&message) {
            continue;
        }
        if page.len() == scan.limit || (bytes + message.len() > MAX_PAGE_BYTES && !page.is_empty())
        {
            return Ok((page, last));
        }
        bytes += message.len();
        page.push(FilteredLogEvent {
            log_stream_name: stream.clone(),
            timestamp: pos.timestamp,
            message,
            ingestion_time: r.get(3).map_err(db)?,
            event_id: pos.id.to_string(),
        });
        last = Some(pos);
    }
    Ok((page, None))
}

#[cfg(test)]
mod tests {
    use berth_awsproto::{Api, Context};
    use serde_json::json;

    use super::*;
    use crate::Logs;

    #[test]
    fn a_spent_scan_budget_answers_a_token_to_go_on_from() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::open(dir.path()).unwrap();
        let ctx = Context::default();
        let call = |op: &str, v: serde_json::Value| logs.call(&ctx, op, v).unwrap();
        call("CreateLogGroup", json!({"logGroupName": "g"}));
        call(
            "CreateLogStream",
            json!({"logGroupName": "g", "logStreamName": "s"}),
        );
        let now = crate::now_ms();
        let events: Vec<_> = (0..10)
            .map(|i| json!({"timestamp": now, "message": if i == 8 { "needle" } else { "hay" }}))
            .collect();
        call(
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "logEvents": events}),
        );
        let pattern = pattern::parse("needle").unwrap();
        let (mut after, mut pages, mut found) = (
            Position {
                timestamp: 0,
                id: 0,
            },
            0,
            Vec::new(),
        );
        loop {
            let scan = Scan {
                range: (0, i64::MAX),
                after,
                limit: 100,
                budget: 3,
            };
            let (page, next) = logs
                .db
                .read(|tx| {
                    let group = find_group(tx, &ctx, "g")?;
                    let names = stream_names(tx, &group, &Streams::All)?;
                    scan_page(tx, group.id, &names, &pattern, &scan)
                })
                .unwrap();
            pages += 1;
            found.extend(page.into_iter().map(|e| e.message));
            match next {
                Some(p) => after = p,
                None => break,
            }
        }
        assert_eq!(found, ["needle"]);
        assert_eq!(pages, 4, "10 events read 3 at a time");
    }
}
