//! What this host's proxies did, pushed to the server: every interval (10 s unless
//! `BERTH_AGENT_METRICS_INTERVAL` says otherwise, in seconds; 0 turns it off) each
//! running task's proxy is scraped on its admin socket (`GET /metrics`, Prometheus
//! text), each series is turned into what it did since the previous scrape, and the
//! reports go to the server in one signed POST (`berth_agent_view::AGENT_METRICS_PATH`),
//! which files them as CloudWatch's `AWS/ECS` Service Connect metrics.
//!
//! Counters and histograms become deltas (a counter that went down was reset: it
//! counts from zero); gauges report their value. The previous values are kept per task
//! beside its logs (`tasks/<id>/metrics-last.json`) and replaced only once the server
//! took a report, so a report the server missed is carried in the next one, and an
//! agent that restarts continues where it left off rather than counting again.
//! Parsing and deltas are pure functions.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_agent_view::{MetricSample, MetricsPost, MetricsReport, AGENT_METRICS_PATH};
use bytes::Bytes;
use tracing::{debug, warn};

use crate::client::{AdminClient, ServerClient};
use crate::task::{task_dir, PROXY_SOCKET_DIR};

/// How often proxies are scraped unless configured.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// The file a task's previous values are kept in, in its directory.
const LAST_FILE: &str = "metrics-last.json";
/// Labels that are no CloudWatch dimension: a histogram bucket's bound, and the
/// per-target and per-client labels (their series are added up).
const NOT_DIMENSIONS: &[&str] = &["le", "target", "ClientIdentity"];

/// The interval `BERTH_AGENT_METRICS_INTERVAL` sets (seconds), if any; `None` when it
/// is 0 (off).
pub fn interval_from_env() -> Option<Duration> {
    match std::env::var("BERTH_AGENT_METRICS_INTERVAL") {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(0) => None,
            Ok(s) => Some(Duration::from_secs(s)),
            Err(_) => {
                warn!(value = %v, "BERTH_AGENT_METRICS_INTERVAL is not a number of seconds");
                Some(DEFAULT_INTERVAL)
            }
        },
        Err(_) => Some(DEFAULT_INTERVAL),
    }
}

/// A metric family's type, from its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (but for resets).
    Counter,
    /// Goes up and down: its value is reported.
    Gauge,
    /// `_bucket`, `_sum` and `_count` series, each cumulative.
    Histogram,
}

/// One series of a scrape: its name (a histogram's part names: `X_bucket`, `X_sum`,
/// `X_count`) and labels.
pub type SeriesKey = (String, BTreeMap<String, String>);

/// A scrape: the type of each family and the value of each series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// Family name → type.
    pub kinds: HashMap<String, Kind>,
    /// Series → value.
    pub values: BTreeMap<SeriesKey, f64>,
}

fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
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

/// Reads Prometheus text (format 0.0.4); lines it cannot read are skipped.
pub fn parse(text: &str) -> Scrape {
    let mut s = Scrape::default();
    for line in text.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let mut w = t.split_whitespace();
            let kind = match (w.next(), w.next()) {
                (Some(n), Some("counter")) => Some((n, Kind::Counter)),
                (Some(n), Some("gauge")) => Some((n, Kind::Gauge)),
                (Some(n), Some("histogram")) => Some((n, Kind::Histogram)),
                _ => None,
            };
            if let Some((n, k)) = kind {
                s.kinds.insert(n.to_string(), k);
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = match line.rfind('}') {
            Some(i) => (&line[..=i], line[i + 1..].trim()),
            None => match line.split_once(char::is_whitespace) {
                Some((a, b)) if !a.contains('{') => (a, b.trim()),
                _ => continue,
            },
        };
        let value = value.split_whitespace().next().unwrap_or("");
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => match parse_labels(l.trim_end_matches('}')) {
                Some(l) => (n.trim(), l),
                None => continue,
            },
            None => (series.trim(), BTreeMap::new()),
        };
        s.values.insert((name.to_string(), labels), value);
    }
    s
}

/// The family a series belongs to, and its type.
fn family<'a>(s: &Scrape, name: &'a str) -> Option<(&'a str, Kind)> {
    if let Some(k) = s.kinds.get(name) {
        return Some((name, *k));
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        (s.kinds.get(base) == Some(&Kind::Histogram)).then_some((base, Kind::Histogram))
    })
}

/// What a cumulative series did since `before` (absent: since zero); a value that
/// went down was reset, so it counts from zero.
pub fn delta(before: Option<f64>, now: f64) -> f64 {
    match before {
        Some(b) if now >= b => now - b,
        _ => now,
    }
}

/// The CloudWatch unit of a Service Connect metric.
pub fn unit_of(metric: &str) -> &'static str {
    match metric {
        "ProcessedBytes" | "TargetProcessedBytes" => "Bytes",
        "TargetResponseTime" => "Milliseconds",
        _ => "Count",
    }
}

fn dimensions(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, v)| !v.is_empty() && !NOT_DIMENSIONS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A histogram's observations since the previous scrape, from its parts' deltas:
/// count and sum exact, the least and greatest bounded by the buckets they fell in
/// (the lower bound of the first bucket that grew, the upper bound of the one that
/// holds them all), kept around the average.
#[derive(Debug, Default, Clone)]
struct HistogramDelta {
    sum: f64,
    count: f64,
    buckets: Vec<(f64, f64)>,
}

impl HistogramDelta {
    fn stats(mut self) -> Option<(f64, f64, f64, f64)> {
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
        let min = min.unwrap_or(avg).min(avg);
        let max = max.unwrap_or(avg).max(avg);
        Some((self.sum, self.count, min, max))
    }
}

fn merge(out: &mut Vec<MetricSample>, s: MetricSample) {
    let same =
        |o: &&mut MetricSample| o.metric_name == s.metric_name && o.dimensions == s.dimensions;
    match out.iter_mut().find(same) {
        Some(o) => {
            o.sum += s.sum;
            o.count += s.count;
            o.min = o.min.min(s.min);
            o.max = o.max.max(s.max);
        }
        None => out.push(s),
    }
}

fn sample(name: &str, dims: BTreeMap<String, String>, stats: (f64, f64, f64, f64)) -> MetricSample {
    MetricSample {
        metric_name: name.to_string(),
        dimensions: dims,
        unit: unit_of(name).to_string(),
        sum: stats.0,
        count: stats.1,
        min: stats.2,
        max: stats.3,
    }
}

/// What a scrape says happened since `before` (the values of the previous scrape the
/// server took): one sample per metric and dimension set.
pub fn samples(before: &BTreeMap<SeriesKey, f64>, now: &Scrape) -> Vec<MetricSample> {
    let mut out = Vec::new();
    let mut histograms: BTreeMap<(String, BTreeMap<String, String>), HistogramDelta> =
        BTreeMap::new();
    for ((name, labels), value) in &now.values {
        let Some((fam, kind)) = family(now, name) else {
            continue;
        };
        let d = delta(before.get(&(name.clone(), labels.clone())).copied(), *value);
        match kind {
            Kind::Gauge => merge(
                &mut out,
                sample(fam, dimensions(labels), (*value, 1.0, *value, *value)),
            ),
            Kind::Counter => merge(&mut out, sample(fam, dimensions(labels), (d, 1.0, d, d))),
            Kind::Histogram => {
                let h = histograms
                    .entry((fam.to_string(), dimensions(labels)))
                    .or_default();
                if name.ends_with("_sum") {
                    h.sum += d;
                } else if name.ends_with("_count") {
                    h.count += d;
                } else {
                    let le = labels.get("le").and_then(|l| match l.as_str() {
                        "+Inf" => Some(f64::INFINITY),
                        l => l.parse().ok(),
                    });
                    if let Some(le) = le {
                        h.buckets.push((le, d));
                    }
                }
            }
        }
    }
    for ((fam, dims), h) in histograms {
        if let Some(stats) = h.stats() {
            merge(&mut out, sample(&fam, dims, stats));
        }
    }
    out
}

/// The ids of this agent's tasks whose proxy has an admin socket now.
fn running_proxies(state_dir: &Path, socket_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(state_dir.join("tasks"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let id = e.file_name().to_string_lossy().to_string();
        let sock = socket_dir.join(&id).join("admin.sock");
        if sock.exists() {
            out.push((id, sock));
        }
    }
    out.sort();
    out
}

type Last = BTreeMap<SeriesKey, f64>;

fn load_last(state_dir: &Path, id: &str) -> Last {
    let path = task_dir(state_dir, id).join(LAST_FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        return Last::new();
    };
    let rows: Vec<(String, BTreeMap<String, String>, f64)> =
        serde_json::from_slice(&bytes).unwrap_or_default();
    rows.into_iter().map(|(n, l, v)| ((n, l), v)).collect()
}

fn store_last(state_dir: &Path, id: &str, values: &Last) {
    let path = task_dir(state_dir, id).join(LAST_FILE);
    let rows: Vec<(&String, &BTreeMap<String, String>, &f64)> =
        values.iter().map(|((n, l), v)| (n, l, v)).collect();
    let text = serde_json::to_vec(&rows).expect("strings and numbers serialize");
    let tmp = path.with_extension("json.tmp");
    if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)) {
        warn!(task = %id, error = %e, "keeping the proxy's metric values");
    }
}

/// What the pusher needs to know of its agent.
#[derive(Debug, Clone)]
pub struct Pusher {
    /// The server, signed for as the agent.
    pub client: ServerClient,
    /// The agent's state directory (its tasks' directories).
    pub state_dir: PathBuf,
    /// The cluster, account and region (for the tasks' ARNs).
    pub cluster: String,
    pub account: String,
    pub region: String,
    /// The container instance.
    pub instance_arn: String,
    /// How often.
    pub interval: Duration,
}

impl Pusher {
    fn task_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:ecs:{}:{}:task/{}/{id}",
            self.region, self.account, self.cluster
        )
    }

    /// One round: every proxy scraped, one post; the values the server took kept.
    async fn round(&self, last: &mut HashMap<String, Last>) {
        let mut reports = Vec::new();
        let mut scraped = Vec::new();
        let proxies = running_proxies(&self.state_dir, Path::new(PROXY_SOCKET_DIR));
        last.retain(|id, _| proxies.iter().any(|(p, _)| p == id));
        for (id, sock) in proxies {
            let answer = AdminClient::new(&sock)
                .request(http::Method::GET, "/metrics", Bytes::new())
                .await;
            let scrape = match answer {
                Ok((status, body)) if status.is_success() => parse(&String::from_utf8_lossy(&body)),
                Ok((status, _)) => {
                    debug!(task = %id, %status, "proxy metrics unavailable");
                    continue;
                }
                Err(e) => {
                    debug!(task = %id, error = %e, "proxy metrics unavailable");
                    continue;
                }
            };
            let before = last
                .entry(id.clone())
                .or_insert_with(|| load_last(&self.state_dir, &id));
            let samples = samples(before, &scrape);
            let timestamp = epoch_now();
            reports.push(MetricsReport {
                task_arn: self.task_arn(&id),
                timestamp,
                samples,
            });
            scraped.push((id, scrape.values));
        }
        if reports.is_empty() {
            return;
        }
        let body = serde_json::to_vec(&MetricsPost { reports }).expect("reports serialize");
        match self
            .client
            .agent_post(AGENT_METRICS_PATH, &self.cluster, &self.instance_arn, body)
            .await
        {
            Ok(_) => {
                for (id, values) in scraped {
                    store_last(&self.state_dir, &id, &values);
                    last.insert(id, values);
                }
            }
            Err(e) => {
                warn!(error = %e, "posting proxy metrics failed; they go with the next report")
            }
        }
    }

    /// Scrapes and posts every interval, for as long as it runs.
    pub async fn run(self) {
        let mut last = HashMap::new();
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.round(&mut last).await;
        }
    }
}

/// The pusher of an agent, running until dropped.
#[derive(Debug)]
pub struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts pushing the metrics of `config`'s agent (instance `instance_arn`), unless
/// `BERTH_AGENT_METRICS_INTERVAL` is 0; it stops when the answer is dropped.
pub fn start(
    client: &ServerClient,
    config: &crate::AgentConfig,
    instance_arn: &str,
) -> Option<Running> {
    let pusher = Pusher {
        client: client.clone(),
        state_dir: config.state_dir.clone(),
        cluster: config.cluster.clone(),
        account: config.account.clone(),
        region: config.region.clone(),
        instance_arn: instance_arn.to_string(),
        interval: interval_from_env()?,
    };
    Some(Running(tokio::spawn(pusher.run())))
}

/// Seconds since the Unix epoch.
fn epoch_now() -> f64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP RequestCount Requests.
# TYPE RequestCount counter
RequestCount{ClusterName="c",DiscoveryName="web",ServiceName="s",TargetDiscoveryName="",direction="ingress"} 10
RequestCount{ClusterName="c",DiscoveryName="",ServiceName="s",TargetDiscoveryName="db",direction="egress"} 4
# TYPE ActiveConnectionCount gauge
ActiveConnectionCount{ClusterName="c",DiscoveryName="web",ServiceName="s",TargetDiscoveryName="",direction="ingress"} 3
# TYPE RequestCountPerTarget counter
RequestCountPerTarget{ClusterName="c",DiscoveryName="web",ServiceName="s",TargetDiscoveryName="",direction="ingress",target="10.0.0.1:80"} 6
RequestCountPerTarget{ClusterName="c",DiscoveryName="web",ServiceName="s",TargetDiscoveryName="",direction="ingress",target="10.0.0.2:80"} 4
# TYPE TargetResponseTime histogram
TargetResponseTime_bucket{ClusterName="c",DiscoveryName="web",ServiceName="s",TargetDiscoveryName="",direction="ingress",le="1"} 2
TargetResponseTime_bucket{ClusterName="c",DiscoveryName="web",ServiceName="s",TargetDiscoveryName="",direction="ingress",le="5"} 9
TargetResponseTime_bucket{ClusterName="c",DiscoveryName="web",ServiceName="s",TargetDiscoveryName="",direction="ingress",le="10"} 10
TargetResponseTime_bucket{ClusterName="c",DiscoveryName="web",ServiceName="s",TargetDiscoveryName="",direction="ingress",le="+Inf"} 10
TargetResponseTime_sum{ClusterName="c",DiscoveryName="web",ServiceName="s",TargetDiscoveryName="",direction="ingress"} 30
TargetResponseTime_count{ClusterName="c",DiscoveryName="web",ServiceName="s",TargetDiscoveryName="",direction="ingress"} 10
"#;

    fn find<'a>(s: &'a [MetricSample], name: &str, dir: &str) -> &'a MetricSample {
        s.iter()
            .find(|x| {
                x.metric_name == name
                    && x.dimensions.get("direction").map(String::as_str) == Some(dir)
            })
            .unwrap_or_else(|| panic!("no {name} {dir} in {s:?}"))
    }

    #[test]
    fn prometheus_text_is_read() {
        let s = parse(TEXT);
        assert_eq!(s.kinds["TargetResponseTime"], Kind::Histogram);
        assert_eq!(s.values.len(), 11);
        let key = |n: &str, l: &[(&str, &str)]| {
            (
                n.to_string(),
                l.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            )
        };
        let odd = parse("# TYPE x counter\nx{a=\"q\\\"uote, \\\\ok\",b=\"\"} 1.5e3\ny 2\nbroken{ 3\nz{a=\"1\"} NaNo\n");
        assert_eq!(
            odd.values
                .get(&key("x", &[("a", "q\"uote, \\ok"), ("b", "")])),
            Some(&1500.0)
        );
        assert_eq!(odd.values.get(&key("y", &[])), Some(&2.0));
        assert_eq!(odd.values.len(), 2);
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
    fn samples_are_deltas_by_dimension_set() {
        let first = parse(TEXT);
        let s = samples(&BTreeMap::new(), &first);
        let req = find(&s, "RequestCount", "ingress");
        assert_eq!(
            (req.sum, req.count, req.unit.as_str()),
            (10.0, 1.0, "Count")
        );
        assert!(
            !req.dimensions.contains_key("TargetDiscoveryName"),
            "empty labels are no dimensions"
        );
        let per_target = find(&s, "RequestCountPerTarget", "ingress");
        assert_eq!(
            (per_target.sum, per_target.count),
            (10.0, 2.0),
            "targets added up"
        );
        assert!(!per_target.dimensions.contains_key("target"));
        let rt = find(&s, "TargetResponseTime", "ingress");
        assert_eq!(
            (rt.sum, rt.count, rt.min, rt.max, rt.unit.as_str()),
            (30.0, 10.0, 0.0, 10.0, "Milliseconds")
        );
        // Later: 5 more requests (one reset counter), 5 observations in (1, 5].
        let later = TEXT
            .replace("direction=\"ingress\"} 10\n", "direction=\"ingress\"} 15\n")
            .replace("TargetDiscoveryName=\"db\",direction=\"egress\"} 4", "TargetDiscoveryName=\"db\",direction=\"egress\"} 1")
            .replace("le=\"5\"} 9", "le=\"5\"} 14")
            .replace("le=\"10\"} 10", "le=\"10\"} 15")
            .replace("le=\"+Inf\"} 10", "le=\"+Inf\"} 15")
            .replace("_sum{ClusterName=\"c\",DiscoveryName=\"web\",ServiceName=\"s\",TargetDiscoveryName=\"\",direction=\"ingress\"} 30", "_sum{ClusterName=\"c\",DiscoveryName=\"web\",ServiceName=\"s\",TargetDiscoveryName=\"\",direction=\"ingress\"} 45");
        let s = samples(&first.values, &parse(&later));
        assert_eq!(find(&s, "RequestCount", "ingress").sum, 5.0);
        assert_eq!(
            find(&s, "RequestCount", "egress").sum,
            1.0,
            "a reset counts from zero"
        );
        assert_eq!(
            find(&s, "ActiveConnectionCount", "ingress").sum,
            3.0,
            "a gauge reports its value"
        );
        let rt = find(&s, "TargetResponseTime", "ingress");
        assert_eq!((rt.sum, rt.count, rt.min, rt.max), (15.0, 5.0, 1.0, 5.0));
        assert!(
            samples(&parse(&later).values, &parse(&later))
                .iter()
                .all(|x| x.metric_name != "TargetResponseTime"),
            "no observations, no sample"
        );
    }

    #[test]
    fn previous_values_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("berth-agent-metrics-{}", std::process::id()));
        std::fs::create_dir_all(task_dir(&dir, "t1")).unwrap();
        let values = parse(TEXT).values;
        store_last(&dir, "t1", &values);
        assert_eq!(load_last(&dir, "t1"), values);
        assert!(load_last(&dir, "t2").is_empty());
        let socks = dir.join("run");
        std::fs::create_dir_all(socks.join("t1")).unwrap();
        std::fs::write(socks.join("t1/admin.sock"), b"").unwrap();
        std::fs::create_dir_all(socks.join("other-agents-task")).unwrap();
        std::fs::write(socks.join("other-agents-task/admin.sock"), b"").unwrap();
        let found = running_proxies(&dir, &socks);
        assert_eq!(
            found.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["t1"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
