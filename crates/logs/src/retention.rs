//! Retention: the values a policy may take, and which events it has expired. The sweep
//! that deletes them is [`crate::Logs::sweep`].

use berth_awsproto::ApiError;

use crate::errors::invalid;

/// The `retentionInDays` values CloudWatch Logs accepts.
pub const ALLOWED_DAYS: &[i32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// A `retentionInDays` value: one of [`ALLOWED_DAYS`], else InvalidParameterException
/// naming it.
pub fn check_days(days: i32) -> Result<(), ApiError> {
    if ALLOWED_DAYS.contains(&days) {
        return Ok(());
    }
    let allowed: Vec<String> = ALLOWED_DAYS.iter().map(|d| d.to_string()).collect();
    Err(invalid(format!(
        "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        allowed.join(", ")
    )))
}

/// The oldest timestamp a group keeping events `retention` days still holds at `now`
/// (ms): events before it are expired. None: kept forever.
pub fn cutoff(now: i64, retention: Option<i32>) -> Option<i64> {
    retention.map(|days| now - i64::from(days) * DAY_MS)
}

/// Whether an event stamped `timestamp` has expired at `now` under `retention`.
pub fn expired(now: i64, retention: Option<i32>, timestamp: i64) -> bool {
    cutoff(now, retention).is_some_and(|c| timestamp < c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_table() {
        let now = 100 * DAY_MS;
        let table: &[(Option<i32>, i64, bool)] = &[
            (None, 0, false),
            (Some(1), now - DAY_MS, false),
            (Some(1), now - DAY_MS - 1, true),
            (Some(7), now - 3 * DAY_MS, false),
            (Some(7), now - 8 * DAY_MS, true),
            (Some(3653), 0, false),
            (Some(1), now + 1000, false),
        ];
        for (retention, ts, want) in table {
            assert_eq!(expired(now, *retention, *ts), *want, "{retention:?} {ts}");
        }
    }

    #[test]
    fn only_allowed_days() {
        for d in ALLOWED_DAYS {
            assert!(check_days(*d).is_ok());
        }
        for d in [0, 2, 4, 13, 366, 3654, -1] {
            let e = check_days(d).unwrap_err();
            assert_eq!(e.code, "InvalidParameterException");
            assert!(e.message.contains("retentionInDays") && e.message.contains(&format!("'{d}'")));
        }
    }
}
