//! What this host's proxies did, pushed to the server: every interval (10 s unless
//! `BERTH_AGENT_METRICS_INTERVAL` says otherwise, in seconds; 0 turns it off) each
//! running task's proxy is scraped on its admin socket (`GET /metrics`, Prometheus
//! text), each series is turned into what it did since the previous scrape, and the
//! reports go to the server in one signed POST (`berth_agent_view::AGENT_METRICS_PATH`),
//! which files them as CloudWatch's `AWS/ECS` Service Connect metrics.
//!
//! Counters and histograms become deltas (a counter that went down was reset: it
//! counts from zero; `berth_telemetry::scrape` reads the text and says what each series
//! did); gauges report their value. The previous values are kept per task
//! beside its logs (`tasks/<id>/metrics-last.json`) and replaced only once the server
//! took a report, so a report the server missed is carried in the next one, and an
//! agent that restarts continues where it left off rather than counting again.
//! Parsing and deltas are pure functions.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_agent_view::{MetricSample, MetricsPost, MetricsReport, AGENT_METRICS_PATH};
use berth_telemetry::scrape::{changes, parse, Movement, Scrape, SeriesKey};
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
    for c in changes(before, now) {
        let stats = match c.movement {
            Movement::Increase(v) | Movement::Level(v) => (v, 1.0, v, v),
            Movement::Observations(s) => (s.sum, s.count, s.min, s.max),
        };
        merge(&mut out, sample(&c.family, dimensions(&c.labels), stats));
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
