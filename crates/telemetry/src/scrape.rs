//! The metrics read back: what a scraper of a proxy's `GET /metrics` (the agent, the
//! load balancers' collector) makes of the text [`Metrics::render`](crate::Metrics::render)
//! writes. [`parse`] reads Prometheus text (format 0.0.4); [`changes`] says what each
//! series did since an earlier scrape of the same process:
//!
//! * a counter, its increase ([`Movement::Increase`]); one that went down was reset (the
//!   process started again), so it counts from zero ([`delta`]);
//! * a gauge, its value now ([`Movement::Level`]);
//! * a histogram, its new observations ([`Movement::Observations`]): count and sum
//!   exact, the least and greatest bounded by the buckets they fell in (the lower bound
//!   of the first bucket that grew, the upper bound of the one that holds them all),
//!   kept around the average. None: no change.

use std::collections::{BTreeMap, HashMap};

/// A metric family's type, from its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (but for resets).
    Counter,
    /// Goes up and down: its value is what counts.
    Gauge,
    /// `_bucket`, `_sum` and `_count` series, each cumulative.
    Histogram,
}

/// A series' labels, by name.
pub type Labels = BTreeMap<String, String>;

/// One series of a scrape: its name (a histogram's part names: `X_bucket`, `X_sum`,
/// `X_count`) and labels.
pub type SeriesKey = (String, Labels);

/// A scrape: the type of each family and the value of each series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// Family name → type.
    pub kinds: HashMap<String, Kind>,
    /// Series → value.
    pub values: BTreeMap<SeriesKey, f64>,
}

/// Statistics of some observations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Their sum.
    pub sum: f64,
    /// How many.
    pub count: f64,
    /// The least.
    pub min: f64,
    /// The greatest.
    pub max: f64,
}

/// What one series did since the earlier scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Movement {
    /// A counter's increase.
    Increase(f64),
    /// A gauge's value now.
    Level(f64),
    /// A histogram's new observations (at least one).
    Observations(Stats),
}

/// One series' change: its family, its labels (a histogram's without `le`) and what it
/// did.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The family's name (a histogram's, not its parts').
    pub family: String,
    /// The series' labels.
    pub labels: Labels,
    /// What it did.
    pub movement: Movement,
}

fn parse_labels(text: &str) -> Option<Labels> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let after = after.trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        out.insert(
            name.trim().trim_start_matches(',').trim().to_string(),
            value,
        );
        rest = after[end + 1..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    Some(out)
}

fn parse_type(line: &str) -> Option<(&str, Kind)> {
    let mut w = line.split_whitespace();
    let name = w.next()?;
    let kind = match w.next()? {
        "counter" => Kind::Counter,
        "gauge" => Kind::Gauge,
        "histogram" => Kind::Histogram,
        _ => return None,
    };
    Some((name, kind))
}

fn parse_sample(line: &str) -> Option<(SeriesKey, f64)> {
    let (series, value) = match line.rfind('}') {
        Some(i) => (&line[..=i], line[i + 1..].trim()),
        None => match line.split_once(char::is_whitespace) {
            Some((a, b)) if !a.contains('{') => (a, b.trim()),
            _ => return None,
        },
    };
    let value = value.split_whitespace().next()?.parse::<f64>().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((n, l)) => (n.trim(), parse_labels(l.trim_end_matches('}'))?),
        None => (series.trim(), BTreeMap::new()),
    };
    Some(((name.to_string(), labels), value))
}

/// Reads Prometheus text (format 0.0.4); lines it cannot read are skipped.
pub fn parse(text: &str) -> Scrape {
    let mut s = Scrape::default();
    for line in text.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = parse_type(t) {
                s.kinds.insert(name.to_string(), kind);
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some((key, value)) = parse_sample(line) {
                s.values.insert(key, value);
            }
        }
    }
    s
}

impl Scrape {
    /// The family a series belongs to, and its type.
    fn family<'a>(&self, name: &'a str) -> Option<(&'a str, Kind)> {
        if let Some(k) = self.kinds.get(name) {
            return Some((name, *k));
        }
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            (self.kinds.get(base) == Some(&Kind::Histogram)).then_some((base, Kind::Histogram))
        })
    }
}

/// What a cumulative series did since `before` (absent: since zero); a value that
/// went down was reset, so it counts from zero.
pub fn delta(before: Option<f64>, now: f64) -> f64 {
    match before {
        Some(b) if now >= b => now - b,
        _ => now,
    }
}

/// A histogram's parts' deltas, gathered.
#[derive(Debug, Default, Clone)]
struct HistogramDelta {
    sum: f64,
    count: f64,
    buckets: Vec<(f64, f64)>,
}

impl HistogramDelta {
    fn add(&mut self, part: &str, labels: &Labels, d: f64) {
        if part.ends_with("_sum") {
            self.sum += d;
        } else if part.ends_with("_count") {
            self.count += d;
        } else if let Some(le) = labels.get("le").and_then(|l| match l.as_str() {
            "+Inf" => Some(f64::INFINITY),
            l => l.parse().ok(),
        }) {
            self.buckets.push((le, d));
        }
    }

    fn stats(mut self) -> Option<Stats> {
        if self.count <= 0.0 {
            return None;
        }
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut lower = 0.0;
        let (mut min, mut max) = (None, None);
        for (le, n) in &self.buckets {
            if min.is_none() && *n > 0.0 {
                min = Some(lower);
            }
            if max.is_none() && *n >= self.count {
                max = Some(if le.is_finite() { *le } else { lower });
            }
            if le.is_finite() {
                lower = *le;
            }
        }
        let avg = self.sum / self.count;
        Some(Stats {
            sum: self.sum,
            count: self.count,
            min: min.unwrap_or(avg).min(avg),
            max: max.unwrap_or(avg).max(avg),
        })
    }
}

/// What every series of `now` did since `before` (the values of an earlier scrape of
/// the same process; empty: since it started): counters and gauges in the scrape's
/// order, then histograms with new observations. Series of no declared family are
/// left out.
pub fn changes(before: &BTreeMap<SeriesKey, f64>, now: &Scrape) -> Vec<Change> {
    let mut out = Vec::new();
    let mut histograms: BTreeMap<(&str, Labels), HistogramDelta> = BTreeMap::new();
    for (key, value) in &now.values {
        let (name, labels) = key;
        let Some((family, kind)) = now.family(name) else {
            continue;
        };
        let movement = match kind {
            Kind::Gauge => Movement::Level(*value),
            Kind::Counter => Movement::Increase(delta(before.get(key).copied(), *value)),
            Kind::Histogram => {
                let mut series = labels.clone();
                series.remove("le");
                let d = delta(before.get(key).copied(), *value);
                histograms
                    .entry((family, series))
                    .or_default()
                    .add(name, labels, d);
                continue;
            }
        };
        out.push(Change {
            family: family.to_string(),
            labels: labels.clone(),
            movement,
        });
    }
    for ((family, labels), h) in histograms {
        if let Some(stats) = h.stats() {
            out.push(Change {
                family: family.to_string(),
                labels,
                movement: Movement::Observations(stats),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Metrics;

    const TEXT: &str = r#"# HELP RequestCount Requests.
# TYPE RequestCount counter
RequestCount{ServiceName="s",direction="ingress"} 10
RequestCount{ServiceName="s",direction="egress"} 4
# TYPE ActiveConnectionCount gauge
ActiveConnectionCount{ServiceName="s",direction="ingress"} 3
# TYPE TargetResponseTime histogram
TargetResponseTime_bucket{ServiceName="s",direction="ingress",le="1"} 2
TargetResponseTime_bucket{ServiceName="s",direction="ingress",le="5"} 9
TargetResponseTime_bucket{ServiceName="s",direction="ingress",le="10"} 10
TargetResponseTime_bucket{ServiceName="s",direction="ingress",le="+Inf"} 10
TargetResponseTime_sum{ServiceName="s",direction="ingress"} 30
TargetResponseTime_count{ServiceName="s",direction="ingress"} 10
"#;

    fn labels(l: &[(&str, &str)]) -> Labels {
        l.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn find(c: &[Change], family: &str, direction: &str) -> Movement {
        c.iter()
            .find(|x| {
                x.family == family
                    && x.labels.get("direction").map(String::as_str) == Some(direction)
            })
            .map(|x| x.movement)
            .unwrap_or_else(|| panic!("no {family} {direction} in {c:?}"))
    }

    #[test]
    fn prometheus_text_is_read() {
        let s = parse(TEXT);
        assert_eq!(s.kinds["TargetResponseTime"], Kind::Histogram);
        assert_eq!(s.values.len(), 9);
        let odd = parse("# TYPE x counter\nx{a=\"q\\\"uote, \\\\ok\",b=\"\"} 1.5e3\ny 2\nbroken{ 3\nz{a=\"1\"} NaNo\n# TYPE w summary\n");
        let key = |n: &str, l: &[(&str, &str)]| (n.to_string(), labels(l));
        assert_eq!(
            odd.values
                .get(&key("x", &[("a", "q\"uote, \\ok"), ("b", "")])),
            Some(&1500.0)
        );
        assert_eq!(odd.values.get(&key("y", &[])), Some(&2.0));
        assert_eq!(odd.values.len(), 2);
        assert!(!odd.kinds.contains_key("w"), "summaries are not read");
    }

    #[test]
    fn deltas_count_resets_from_zero() {
        let cases = [
            (None, 5.0, 5.0),
            (Some(5.0), 8.0, 3.0),
            (Some(8.0), 2.0, 2.0),
            (Some(2.0), 2.0, 0.0),
        ];
        for (before, now, want) in cases {
            assert_eq!(delta(before, now), want, "{before:?} → {now}");
        }
    }

    #[test]
    fn changes_since_an_earlier_scrape() {
        let first = parse(TEXT);
        let c = changes(&BTreeMap::new(), &first);
        assert_eq!(
            find(&c, "RequestCount", "ingress"),
            Movement::Increase(10.0)
        );
        assert_eq!(
            find(&c, "ActiveConnectionCount", "ingress"),
            Movement::Level(3.0)
        );
        let all = Stats {
            sum: 30.0,
            count: 10.0,
            min: 0.0,
            max: 10.0,
        };
        assert_eq!(
            find(&c, "TargetResponseTime", "ingress"),
            Movement::Observations(all)
        );
        // Later: 5 more requests (and a reset counter), 5 observations in (1, 5].
        let later = TEXT
            .replace("\"ingress\"} 10\n", "\"ingress\"} 15\n")
            .replace("\"egress\"} 4", "\"egress\"} 1")
            .replace("le=\"5\"} 9", "le=\"5\"} 14")
            .replace("le=\"10\"} 10", "le=\"10\"} 15")
            .replace("le=\"+Inf\"} 10", "le=\"+Inf\"} 15")
            .replace("} 30\n", "} 45\n");
        let later = parse(&later);
        let c = changes(&first.values, &later);
        assert_eq!(find(&c, "RequestCount", "ingress"), Movement::Increase(5.0));
        assert_eq!(
            find(&c, "RequestCount", "egress"),
            Movement::Increase(1.0),
            "a reset counts from zero"
        );
        let five = Stats {
            sum: 15.0,
            count: 5.0,
            min: 1.0,
            max: 5.0,
        };
        assert_eq!(
            find(&c, "TargetResponseTime", "ingress"),
            Movement::Observations(five)
        );
        let none = changes(&later.values, &later);
        assert!(
            none.iter().all(|x| x.family != "TargetResponseTime"),
            "no observations, no change"
        );
    }

    #[test]
    fn what_the_proxy_renders_reads_back() {
        let m = Metrics::new();
        let lb = m.load_balancer("app/web/50dc6c495c0c9188");
        let tg = lb.target_group("targetgroup/api/73e2d6bc24d8a067");
        for ms in [3, 40, 40] {
            tg.request();
            tg.target_response(200, Duration::from_millis(ms));
        }
        tg.hosts(2, 0);
        let c = changes(&BTreeMap::new(), &parse(&m.render()));
        let of = |family: &str| {
            c.iter()
                .find(|x| x.family == family && x.labels["TargetGroup"].starts_with("targetgroup/"))
                .map(|x| x.movement)
        };
        assert_eq!(of("RequestCount"), Some(Movement::Increase(3.0)));
        assert_eq!(of("HealthyHostCount"), Some(Movement::Level(2.0)));
        let Some(Movement::Observations(s)) = of("TargetResponseTime") else {
            panic!("no response times in {c:?}");
        };
        assert_eq!(s.count, 3.0);
        assert!((s.sum - 0.083).abs() < 1e-9, "{s:?}");
        // 3 ms in (2.5 ms, 5 ms], 40 ms in (25 ms, 50 ms]: seconds, as the buckets bound them.
        assert_eq!((s.min, s.max), (0.0025, 0.05));
    }
}
