//! How long datapoints are kept, and what a sweep at a given time drops: a pure
//! decision, the time passed in.

/// How long the store keeps its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Per-minute rows (every datapoint), in seconds: 15 days unless configured, as
    /// CloudWatch keeps 1-minute data.
    pub minutes: i64,
    /// Per-second rows (high-resolution data), in seconds: 3 hours, as CloudWatch keeps
    /// data of periods under a minute.
    pub seconds: i64,
}

/// A day in seconds.
pub const DAY: i64 = 86_400;
/// An hour in seconds.
pub const HOUR: i64 = 3_600;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            minutes: 15 * DAY,
            seconds: 3 * HOUR,
        }
    }
}

impl Retention {
    /// Per-minute rows kept `days` days (at least one), per-second rows 3 hours.
    pub fn days(days: u32) -> Retention {
        Retention {
            minutes: i64::from(days.max(1)) * DAY,
            ..Retention::default()
        }
    }

    /// What a sweep at `now` (seconds since the epoch) drops.
    pub fn plan(&self, now: i64) -> SweepPlan {
        SweepPlan {
            seconds_before: now - self.seconds,
            minutes_before: now - self.minutes,
            metrics_idle_before: now - self.minutes,
        }
    }
}

/// What one sweep drops: rows older than these times (seconds since the epoch), and
/// metrics with no row left that got no data since the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepPlan {
    /// Per-second rows before this.
    pub seconds_before: i64,
    /// Per-minute rows before this.
    pub minutes_before: i64,
    /// Metrics last written before this, once they have no rows.
    pub metrics_idle_before: i64,
}

/// How often the server sweeps.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_follow_the_retention() {
        let now = 1_700_000_000;
        let cases = [
            (Retention::default(), now - 3 * HOUR, now - 15 * DAY),
            (Retention::days(30), now - 3 * HOUR, now - 30 * DAY),
            (Retention::days(0), now - 3 * HOUR, now - DAY),
        ];
        for (r, seconds, minutes) in cases {
            let p = r.plan(now);
            assert_eq!(p.seconds_before, seconds, "{r:?}");
            assert_eq!(p.minutes_before, minutes, "{r:?}");
            assert_eq!(p.metrics_idle_before, minutes, "{r:?}");
        }
    }
}
