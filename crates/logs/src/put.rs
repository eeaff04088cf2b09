//! PutLogEvents: AWS's limits on a batch as a pure decision ([`plan_batch`]), then one
//! transaction that stores what it accepts.

use std::ops::Range;

use berth_awsproto::{ApiError, Context};
use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::{constraint, db, invalid};
use crate::groups::find_group;
use crate::records::RejectedLogEventsInfo;
use crate::retention::{cutoff, DAY_MS};
use crate::rules;
use crate::streams::{find_stream, sequence_token, StreamRow};

/// The most events in a batch.
pub const MAX_EVENTS: usize = 10_000;
/// The most bytes in a batch: messages (UTF-8) plus [`EVENT_OVERHEAD`] per event.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// What each event counts beyond its message.
pub const EVENT_OVERHEAD: usize = 26;
/// Events older than this (ms) are refused as too old.
pub const MAX_AGE_MS: i64 = 14 * DAY_MS;
/// Events further in the future than this (ms) are refused as too new.
pub const MAX_FUTURE_MS: i64 = 2 * 3_600_000;
/// The most a batch's accepted events may span (ms).
pub const MAX_SPAN_MS: i64 = DAY_MS;

/// One event of a batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InputLogEvent {
    /// When it happened (ms).
    pub timestamp: i64,
    /// Its text.
    pub message: String,
}

/// PutLogEvents' input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PutLogEventsInput {
    log_group_name: String,
    log_stream_name: String,
    log_events: Vec<InputLogEvent>,
    /// Ignored, as AWS ignores it now.
    #[allow(dead_code)]
    sequence_token: Option<String>,
    /// Accepted and not kept.
    #[allow(dead_code)]
    entity: Option<Value>,
}

/// PutLogEvents' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutLogEventsOutput {
    next_sequence_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected_log_events_info: Option<RejectedLogEventsInfo>,
}

/// What to do with a batch: the events stored (a range of indices) and the ones
/// refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The indices of the events stored.
    pub accept: Range<usize>,
    /// Which events were refused, as AWS reports them.
    pub rejected: RejectedLogEventsInfo,
}

type BatchCheck = fn(&[InputLogEvent]) -> Result<(), ApiError>;

/// The checks that fail a whole batch, in order.
const BATCH_CHECKS: &[BatchCheck] = &[check_count, check_messages, check_size, check_order];

fn check_count(events: &[InputLogEvent]) -> Result<(), ApiError> {
    let why = match events.len() {
        0 => "Member must have length greater than or equal to 1",
        n if n > MAX_EVENTS => "Member must have length less than or equal to 10000",
        _ => return Ok(()),
    };
    Err(constraint(
        &format!("{} events", events.len()),
        "logEvents",
        why,
    ))
}

fn check_messages(events: &[InputLogEvent]) -> Result<(), ApiError> {
    for (i, e) in events.iter().enumerate() {
        if e.message.is_empty() {
            return Err(constraint(
                "",
                &format!("logEvents.{}.member.message", i + 1),
                "Member must have length greater than or equal to 1",
            ));
        }
        if e.timestamp < 0 {
            return Err(constraint(
                &e.timestamp.to_string(),
                &format!("logEvents.{}.member.timestamp", i + 1),
                "Member must have value greater than or equal to 0",
            ));
        }
    }
    Ok(())
}

/// The bytes a batch counts: its messages plus 26 per event.
pub fn batch_bytes(events: &[InputLogEvent]) -> usize {
    events
        .iter()
        .map(|e| e.message.len() + EVENT_OVERHEAD)
        .sum()
}

fn check_size(events: &[InputLogEvent]) -> Result<(), ApiError> {
    let bytes = batch_bytes(events);
    if bytes > MAX_BATCH_BYTES {
        return Err(invalid(format!(
            "Upload too large: {bytes} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    Ok(())
}

fn check_order(events: &[InputLogEvent]) -> Result<(), ApiError> {
    if events.windows(2).any(|w| w[1].timestamp < w[0].timestamp) {
        return Err(invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    Ok(())
}

/// The end index of the leading events stamped before `limit`, if any.
fn prefix_before(events: &[InputLogEvent], limit: i64) -> Option<usize> {
    events
        .iter()
        .position(|e| e.timestamp >= limit)
        .unwrap_or(events.len())
        .checked_sub(1)
}

/// What AWS does with a batch at `now` for a group keeping events `retention` days:
/// a batch breaking a rule fails whole; events too old (14 days), expired (the
/// retention) or too new (2 hours ahead) are refused and the rest stored, which must
/// span at most 24 hours.
pub fn plan_batch(
    events: &[InputLogEvent],
    now: i64,
    retention: Option<i32>,
) -> Result<Plan, ApiError> {
    for check in BATCH_CHECKS {
        check(events)?;
    }
    let too_old = prefix_before(events, now - MAX_AGE_MS);
    let expired = cutoff(now, retention).and_then(|c| prefix_before(events, c));
    let too_new = events
        .iter()
        .position(|e| e.timestamp > now + MAX_FUTURE_MS);
    let start = too_old.max(expired).map_or(0, |i| i + 1);
    let end = too_new.unwrap_or(events.len()).max(start);
    if end > start && events[end - 1].timestamp - events[start].timestamp > MAX_SPAN_MS {
        return Err(invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    Ok(Plan {
        accept: start..end,
        rejected: RejectedLogEventsInfo {
            too_new_log_event_start_index: too_new,
            too_old_log_event_end_index: too_old,
            expired_log_event_end_index: expired,
        },
    })
}

/// PutLogEvents: the accepted events, the stream's and group's figures, in one
/// transaction.
pub(crate) fn put(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: PutLogEventsInput,
    now: i64,
) -> Result<PutLogEventsOutput, ApiError> {
    rules::group_name("logGroupName", &input.log_group_name)?;
    rules::stream_name("logStreamName", &input.log_stream_name)?;
    let group = find_group(tx, ctx, &input.log_group_name)?;
    let stream = find_stream(tx, &group, &input.log_stream_name)?;
    let plan = plan_batch(&input.log_events, now, group.retention)?;
    let accepted = &input.log_events[plan.accept.clone()];
    insert_events(tx, group.id, stream.id, accepted, now)?;
    let bytes = accepted.iter().map(|e| e.message.len() as i64).sum();
    update_stream(tx, &stream, accepted, bytes, now)?;
    tx.prepare_cached("UPDATE groups SET stored_bytes = stored_bytes + ?1 WHERE id = ?2")
        .and_then(|mut s| s.execute(params![bytes, group.id]))
        .map_err(db)?;
    Ok(PutLogEventsOutput {
        next_sequence_token: sequence_token(stream.sequence + 2),
        rejected_log_events_info: (!plan.rejected.is_empty()).then_some(plan.rejected),
    })
}

fn insert_events(
    tx: &Transaction<'_>,
    group: i64,
    stream: i64,
    events: &[InputLogEvent],
    now: i64,
) -> Result<(), ApiError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO events (group_id, stream_id, timestamp, ingestion, message)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db)?;
    for e in events {
        stmt.execute(params![group, stream, e.timestamp, now, e.message])
            .map_err(db)?;
    }
    Ok(())
}

fn update_stream(
    tx: &Transaction<'_>,
    stream: &StreamRow,
    accepted: &[InputLogEvent],
    bytes: i64,
    now: i64,
) -> Result<(), ApiError> {
    let first = accepted.first().map(|e| e.timestamp);
    let last = accepted.last().map(|e| e.timestamp);
    let first = match (stream.first_event, first) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let last = match (stream.last_event, last) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let ingestion = if accepted.is_empty() {
        stream.last_ingestion
    } else {
        Some(now)
    };
    tx.prepare_cached(
        "UPDATE streams SET first_event = ?1, last_event = ?2, last_ingestion = ?3,
             stored_bytes = stored_bytes + ?4, sequence = sequence + 1 WHERE id = ?5",
    )
    .and_then(|mut s| s.execute(params![first, last, ingestion, bytes, stream.id]))
    .map_err(db)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    const H: i64 = 3_600_000;

    fn batch(stamps: &[i64]) -> Vec<InputLogEvent> {
        stamps
            .iter()
            .map(|t| InputLogEvent {
                timestamp: *t,
                message: "m".into(),
            })
            .collect()
    }

    #[test]
    fn batches_fail_whole_or_refuse_events_by_index() {
        type Want = Result<(Range<usize>, [Option<usize>; 3]), &'static str>;
        let table: &[(&str, Vec<i64>, Option<i32>, Want)] = &[
            ("fresh", vec![NOW - 1, NOW], None, Ok((0..2, [None; 3]))),
            ("empty", vec![], None, Err("greater than or equal to 1")),
            ("unordered", vec![NOW, NOW - 1], None, Err("chronological")),
            (
                "too old first",
                vec![NOW - 15 * DAY_MS, NOW - 15 * DAY_MS + 1, NOW],
                None,
                Ok((2..3, [None, Some(1), None])),
            ),
            (
                "too new last",
                vec![NOW, NOW + 2 * H + 1],
                None,
                Ok((0..1, [Some(1), None, None])),
            ),
            (
                "expired by retention",
                vec![NOW - 2 * DAY_MS, NOW - H],
                Some(1),
                Ok((1..2, [None, None, Some(0)])),
            ),
            (
                "all refused",
                vec![NOW - 20 * DAY_MS, NOW + 3 * H],
                None,
                Ok((1..1, [Some(1), Some(0), None])),
            ),
            (
                "span over 24h",
                vec![NOW - 25 * H, NOW],
                None,
                Err("24 hours"),
            ),
            (
                "span over 24h only counting refused events",
                vec![NOW - 15 * DAY_MS, NOW - 2 * H, NOW],
                None,
                Ok((1..3, [None, Some(0), None])),
            ),
        ];
        for (name, stamps, retention, want) in table {
            let got = plan_batch(&batch(stamps), NOW, *retention);
            match (got, want) {
                (Ok(plan), Ok((range, [new, old, expired]))) => {
                    assert_eq!(plan.accept, *range, "{name}");
                    let r = &plan.rejected;
                    assert_eq!(r.too_new_log_event_start_index, *new, "{name}");
                    assert_eq!(r.too_old_log_event_end_index, *old, "{name}");
                    assert_eq!(r.expired_log_event_end_index, *expired, "{name}");
                }
                (Err(e), Err(why)) => {
                    assert_eq!(e.code, "InvalidParameterException", "{name}");
                    assert!(e.message.contains(why), "{name}: {}", e.message);
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn size_and_count_limits() {
        let big = |n: usize, len: usize| -> Vec<InputLogEvent> {
            (0..n)
                .map(|_| InputLogEvent {
                    timestamp: NOW,
                    message: "x".repeat(len),
                })
                .collect()
        };
        // Exactly at the limit: 1,048,576 = 16 * (65,510 + 26).
        assert!(plan_batch(&big(16, 65_510), NOW, None).is_ok());
        let e = plan_batch(&big(16, 65_511), NOW, None).unwrap_err();
        assert!(e.message.contains("1048592 bytes"), "{}", e.message);
        assert!(plan_batch(&big(MAX_EVENTS, 1), NOW, None).is_ok());
        let e = plan_batch(&big(MAX_EVENTS + 1, 1), NOW, None).unwrap_err();
        assert!(e.message.contains("logEvents"), "{}", e.message);
        let mut empty = big(2, 1);
        empty[1].message.clear();
        let e = plan_batch(&empty, NOW, None).unwrap_err();
        assert!(
            e.message.contains("logEvents.2.member.message"),
            "{}",
            e.message
        );
    }
}
