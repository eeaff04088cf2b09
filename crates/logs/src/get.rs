//! GetLogEvents: one stream's events in time order, paged both ways by AWS-style
//! tokens: `f/<position>/s` reads forward from a position, `b/<position>/s` backward,
//! and a page that finds nothing answers the token it was given, so a reader knows it
//! is at the end.

use berth_awsproto::{ApiError, Context};
use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};

use crate::errors::{bad_token, db};
use crate::groups::find_group;
use crate::records::OutputLogEvent;
use crate::retention::cutoff;
use crate::rules;
use crate::streams::find_stream;

/// The most events a page holds.
pub const MAX_EVENTS: i64 = 10_000;
/// The most message bytes a page holds (AWS: 1 MB).
pub const MAX_PAGE_BYTES: usize = 1_048_576;

/// Which way a page reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first, after the position.
    Forward,
    /// Newest first (answered oldest first), before the position.
    Backward,
}

/// A place between events: events sort by (timestamp, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// An event timestamp (ms).
    pub timestamp: i64,
    /// An event id (0: before every event of that timestamp).
    pub id: i64,
}

/// A GetLogEvents token: a direction and a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Which way the next page reads.
    pub direction: Direction,
    /// From where.
    pub position: Position,
}

impl Token {
    /// The token as text: `f/` or `b/`, 38 digits, `/s`.
    pub fn encode(&self) -> String {
        let d = match self.direction {
            Direction::Forward => 'f',
            Direction::Backward => 'b',
        };
        let p = self.position;
        format!("{d}/{:019}{:019}/s", p.timestamp, p.id)
    }

    /// A token read back, if it is one.
    pub fn decode(text: &str) -> Option<Token> {
        let (d, rest) = text.split_once('/')?;
        let direction = match d {
            "f" => Direction::Forward,
            "b" => Direction::Backward,
            _ => return None,
        };
        let digits = rest.strip_suffix("/s")?;
        if digits.len() != 38 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Token {
            direction,
            position: Position {
                timestamp: digits[..19].parse().ok()?,
                id: digits[19..].parse().ok()?,
            },
        })
    }
}

/// GetLogEvents' input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GetLogEventsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: String,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
    #[allow(dead_code)]
    unmask: Option<bool>,
}

/// GetLogEvents' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetLogEventsOutput {
    events: Vec<OutputLogEvent>,
    next_forward_token: String,
    next_backward_token: String,
}

/// Where a call starts: its token, or the head (forward from the range's start) or the
/// tail (backward from its end).
pub fn origin(token: Option<Token>, start_from_head: bool, range: (i64, i64)) -> Token {
    token.unwrap_or(if start_from_head {
        Token {
            direction: Direction::Forward,
            position: Position {
                timestamp: range.0,
                id: 0,
            },
        }
    } else {
        Token {
            direction: Direction::Backward,
            position: Position {
                timestamp: range.1,
                id: 0,
            },
        }
    })
}

/// The tokens a page answers: after its last event and before its first, or, for an
/// empty page, at the position it read from (so the token given comes back).
pub fn next_tokens(from: Token, page: &[Position]) -> (Token, Token) {
    let (first, last) = match (page.first(), page.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => (from.position, from.position),
    };
    (
        Token {
            direction: Direction::Forward,
            position: last,
        },
        Token {
            direction: Direction::Backward,
            position: first,
        },
    )
}

const FORWARD_SQL: &str = "SELECT id, timestamp, ingestion, message FROM events
    WHERE stream_id = ?1 AND timestamp >= ?2 AND timestamp < ?3
      AND (timestamp > ?4 OR (timestamp = ?4 AND id > ?5))
    ORDER BY timestamp, id LIMIT ?6";
const BACKWARD_SQL: &str = "SELECT id, timestamp, ingestion, message FROM events
    WHERE stream_id = ?1 AND timestamp >= ?2 AND timestamp < ?3
      AND (timestamp < ?4 OR (timestamp = ?4 AND id < ?5))
    ORDER BY timestamp DESC, id DESC LIMIT ?6";

/// GetLogEvents.
pub(crate) fn get(
    tx: &Transaction<'_>,
    ctx: &Context,
    input: GetLogEventsInput,
    now: i64,
) -> Result<GetLogEventsOutput, ApiError> {
    let name = rules::group_of(
        ctx,
        input.log_group_name.as_deref(),
        input.log_group_identifier.as_deref(),
    )?;
    rules::stream_name("logStreamName", &input.log_stream_name)?;
    rules::timestamp("startTime", input.start_time)?;
    rules::timestamp("endTime", input.end_time)?;
    let limit = rules::limit("limit", input.limit, MAX_EVENTS, MAX_EVENTS)?;
    let token = match &input.next_token {
        Some(t) => Some(Token::decode(t).ok_or_else(|| bad_token("nextToken"))?),
        None => None,
    };
    let group = find_group(tx, ctx, &name)?;
    let stream = find_stream(tx, &group, &input.log_stream_name)?;
    let low = input.start_time.unwrap_or(0);
    let low = cutoff(now, group.retention).map_or(low, |c| low.max(c));
    let range = (low, input.end_time.unwrap_or(i64::MAX));
    let from = origin(token, input.start_from_head.unwrap_or(false), range);
    let (positions, events) = read_page(tx, stream.id, range, from, limit)?;
    let (forward, backward) = next_tokens(from, &positions);
    Ok(GetLogEventsOutput {
        events,
        next_forward_token: forward.encode(),
        next_backward_token: backward.encode(),
    })
}

/// A page of a stream's events from `from`, oldest first, within `limit` events and
/// [`MAX_PAGE_BYTES`].
fn read_page(
    tx: &Transaction<'_>,
    stream: i64,
    range: (i64, i64),
    from: Token,
    limit: usize,
) -> Result<(Vec<Position>, Vec<OutputLogEvent>), ApiError> {
    let sql = match from.direction {
        Direction::Forward => FORWARD_SQL,
        Direction::Backward => BACKWARD_SQL,
    };
    let mut stmt = tx.prepare_cached(sql).map_err(db)?;
    let p = from.position;
    let rows = stmt
        .query_map(
            params![stream, range.0, range.1, p.timestamp, p.id, limit as i64],
            |r| {
                Ok((
                    Position {
                        id: r.get(0)?,
                        timestamp: r.get(1)?,
                    },
                    OutputLogEvent {
                        timestamp: r.get(1)?,
                        ingestion_time: r.get(2)?,
                        message: r.get(3)?,
                    },
                ))
            },
        )
        .map_err(db)?;
    let mut page = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let (pos, event) = row.map_err(db)?;
        bytes += event.message.len();
        if bytes > MAX_PAGE_BYTES && !page.is_empty() {
            break;
        }
        page.push((pos, event));
    }
    if from.direction == Direction::Backward {
        page.reverse();
    }
    Ok(page.into_iter().unzip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let t = Token {
            direction: Direction::Backward,
            position: Position {
                timestamp: 1_700_000_000_123,
                id: 42,
            },
        };
        let text = t.encode();
        assert_eq!(text.len(), 42);
        assert!(text.starts_with("b/") && text.ends_with("/s"));
        assert_eq!(Token::decode(&text), Some(t));
        for bad in [
            "",
            "f/",
            "x/00/s",
            "f/123/s",
            &text.replace('b', "f").replace("/s", ""),
        ] {
            assert_eq!(Token::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_empty_page_answers_the_token_it_was_given() {
        let at = Position {
            timestamp: 5,
            id: 9,
        };
        for direction in [Direction::Forward, Direction::Backward] {
            let from = Token {
                direction,
                position: at,
            };
            let (f, b) = next_tokens(from, &[]);
            let same = if direction == Direction::Forward {
                f
            } else {
                b
            };
            assert_eq!(same, from);
        }
        let page = [
            Position {
                timestamp: 6,
                id: 10,
            },
            Position {
                timestamp: 7,
                id: 11,
            },
        ];
        let (f, b) = next_tokens(origin(None, true, (0, 100)), &page);
        assert_eq!((f.direction, f.position), (Direction::Forward, page[1]));
        assert_eq!((b.direction, b.position), (Direction::Backward, page[0]));
    }

    #[test]
    fn origins_are_the_head_or_the_tail_of_the_range() {
        let head = origin(None, true, (10, 20));
        assert_eq!(head.direction, Direction::Forward);
        assert_eq!(head.position.timestamp, 10);
        let tail = origin(None, false, (10, 20));
        assert_eq!(tail.direction, Direction::Backward);
        assert_eq!(tail.position.timestamp, 20);
    }
}
