//! Statistics over periods: the window a query covers, stored rows put into its
//! periods, and each statistic of a period (`SampleCount`, `Average`, `Sum`,
//! `Minimum`, `Maximum`, and percentiles `pNN.NN`).
//!
//! A percentile is estimated from the stored rows (per second or per minute: the
//! statistics of the values in it, not the values): each row counts as its values all
//! at their average, `p0` is the least value and `p100` the greatest. Exact when each
//! row holds one value.

use std::collections::BTreeMap;

use crate::db::{Agg, Point};
use crate::model::{StandardUnit, Statistic};

/// The periods of a query: `[start, end)` cut every `period` seconds from `start`,
/// which is rounded down to the minute for periods of whole minutes (to the second
/// otherwise), as CloudWatch rounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first period's start.
    pub start: i64,
    /// The end (exclusive).
    pub end: i64,
    /// Seconds per period.
    pub period: i64,
}

impl Window {
    /// The window of `[start, end)` (epoch seconds) in periods of `period` seconds.
    pub fn new(start: f64, end: f64, period: i64) -> Window {
        let start = start.floor() as i64;
        let start = if period % 60 == 0 {
            start - start.rem_euclid(60)
        } else {
            start
        };
        Window {
            start,
            end: end.ceil() as i64,
            period: period.max(1),
        }
    }

    /// How many periods it holds.
    pub fn periods(&self) -> i64 {
        ((self.end - self.start).max(0) + self.period - 1) / self.period
    }

    /// The start of the period `ts` falls in.
    pub fn period_of(&self, ts: i64) -> i64 {
        ts - (ts - self.start).rem_euclid(self.period)
    }

    /// Every period's start.
    pub fn grid(&self) -> Vec<i64> {
        (0..self.periods())
            .map(|i| self.start + i * self.period)
            .collect()
    }
}

/// The rows of one period (of one unit).
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Their statistics together.
    pub agg: Agg,
    /// Each row's (average, count), for percentiles.
    pub rows: Vec<(f64, f64)>,
}

impl Bucket {
    fn new(a: Agg) -> Bucket {
        Bucket {
            agg: a,
            rows: vec![(a.sum / a.count.max(f64::MIN_POSITIVE), a.count)],
        }
    }

    fn add(&mut self, a: Agg) {
        self.agg = self.agg.merge(a);
        self.rows
            .push((a.sum / a.count.max(f64::MIN_POSITIVE), a.count));
    }

    /// The statistic's value.
    pub fn stat(&self, stat: Stat) -> f64 {
        let a = self.agg;
        match stat {
            Stat::Plain(Statistic::SampleCount) => a.count,
            Stat::Plain(Statistic::Average) => a.sum / a.count,
            Stat::Plain(Statistic::Sum) => a.sum,
            Stat::Plain(Statistic::Minimum) => a.min,
            Stat::Plain(Statistic::Maximum) => a.max,
            Stat::Percentile(p) => self.percentile(p),
        }
    }

    fn percentile(&self, p: f64) -> f64 {
        if p <= 0.0 {
            return self.agg.min;
        }
        if p >= 100.0 {
            return self.agg.max;
        }
        let mut rows = self.rows.clone();
        rows.sort_by(|x, y| x.0.total_cmp(&y.0));
        let want = self.agg.count * p / 100.0;
        let mut seen = 0.0;
        for (v, n) in &rows {
            seen += n;
            if seen >= want {
                return v.clamp(self.agg.min, self.agg.max);
            }
        }
        self.agg.max
    }
}

/// The rows of `points` by period start and unit.
pub fn buckets(points: &[Point], w: &Window) -> BTreeMap<(i64, StandardUnit), Bucket> {
    let mut out: BTreeMap<(i64, StandardUnit), Bucket> = BTreeMap::new();
    for p in points.iter().filter(|p| p.ts >= w.start && p.ts < w.end) {
        let k = (w.period_of(p.ts), p.unit);
        match out.get_mut(&k) {
            Some(b) => b.add(p.agg),
            None => {
                out.insert(k, Bucket::new(p.agg));
            }
        }
    }
    out
}

/// The rows of `points` by period start, whatever their unit.
pub fn buckets_any_unit(points: &[Point], w: &Window) -> BTreeMap<i64, Bucket> {
    let mut out: BTreeMap<i64, Bucket> = BTreeMap::new();
    for ((t, _), b) in buckets(points, w) {
        match out.get_mut(&t) {
            Some(have) => {
                have.agg = have.agg.merge(b.agg);
                have.rows.extend(b.rows);
            }
            None => {
                out.insert(t, b);
            }
        }
    }
    out
}

/// A statistic of a period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// One of the five.
    Plain(Statistic),
    /// A percentile, 0 to 100.
    Percentile(f64),
}

/// A percentile as the API spells it: `p` and 0 to 100 with up to two decimals.
pub fn parse_percentile(s: &str) -> Option<f64> {
    let n = s.strip_prefix('p')?;
    let (whole, frac) = n.split_once('.').unwrap_or((n, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let shaped = (1..=3).contains(&whole.len()) && digits(whole) && frac.len() <= 2 && digits(frac);
    let v: f64 = n.parse().ok()?;
    (shaped && (0.0..=100.0).contains(&v)).then_some(v)
}

/// A statistic as `GetMetricData`'s `Stat` spells it.
pub fn parse_stat(s: &str) -> Option<Stat> {
    match Statistic::parse(s) {
        Some(st) => Some(Stat::Plain(st)),
        None => parse_percentile(s).map(Stat::Percentile),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(ts: i64, v: f64) -> Point {
        Point {
            ts,
            unit: StandardUnit::Count,
            agg: Agg::one(v),
        }
    }

    #[test]
    fn windows_round_and_count_periods() {
        let cases = [
            // start, end, period → start, periods
            (125.0, 3725.0, 60, 120, 61),
            (125.5, 130.0, 1, 125, 5),
            (100.0, 400.0, 300, 60, 2),
            (0.0, 86_400.0, 60, 0, 1440),
            (0.0, 86_401.0, 60, 0, 1441),
            (10.0, 10.0, 60, 0, 1),
        ];
        for (s, e, p, start, n) in cases {
            let w = Window::new(s, e, p);
            assert_eq!((w.start, w.periods()), (start, n), "{s} {e} {p}");
        }
        let w = Window::new(0.0, 600.0, 300);
        assert_eq!(w.grid(), [0, 300]);
        assert_eq!(w.period_of(299), 0);
        assert_eq!(w.period_of(300), 300);
    }

    #[test]
    fn statistics_of_a_period() {
        let w = Window::new(0.0, 120.0, 60);
        let pts = [
            point(0, 1.0),
            point(1, 3.0),
            point(30, 8.0),
            point(60, 5.0),
            point(200, 9.0),
        ];
        let b = buckets(&pts, &w);
        assert_eq!(b.len(), 2);
        let first = &b[&(0, StandardUnit::Count)];
        let cases = [
            ("SampleCount", 3.0),
            ("Average", 4.0),
            ("Sum", 12.0),
            ("Minimum", 1.0),
            ("Maximum", 8.0),
            ("p0", 1.0),
            ("p50", 3.0),
            ("p99", 8.0),
            ("p100", 8.0),
        ];
        for (name, want) in cases {
            assert_eq!(first.stat(parse_stat(name).unwrap()), want, "{name}");
        }
    }

    #[test]
    fn percentile_spellings() {
        for (s, want) in [
            ("p99", Some(99.0)),
            ("p99.9", Some(99.9)),
            ("p0.05", Some(0.05)),
            ("p100", Some(100.0)),
        ] {
            assert_eq!(parse_percentile(s), want, "{s}");
        }
        for s in ["p101", "p", "99", "p9.999", "pabc", "p-1", "P50", "tm99"] {
            assert_eq!(parse_percentile(s), None, "{s}");
        }
        assert_eq!(parse_stat("Sum"), Some(Stat::Plain(Statistic::Sum)));
        assert_eq!(parse_stat("sum"), None);
    }
}
