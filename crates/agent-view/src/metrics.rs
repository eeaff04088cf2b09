//! What an agent reports of its tasks' proxies' metrics: every interval, for each task
//! whose proxy answered, what each Service Connect series did since the previous
//! report (`POST /berth/agent/v1/metrics`, signed by the agent, the query naming the
//! cluster and the container instance as on the push stream). The server files the
//! samples as CloudWatch metrics in `AWS/ECS`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where an agent posts its [`MetricsPost`]s.
pub const AGENT_METRICS_PATH: &str = "/berth/agent/v1/metrics";

/// One POST: the reports of every task scraped in one round.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsPost {
    /// One report per task.
    pub reports: Vec<MetricsReport>,
}

/// What one task's proxy did since the previous report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsReport {
    /// The task whose proxy was scraped.
    pub task_arn: String,
    /// When it was scraped, in seconds since the Unix epoch.
    pub timestamp: f64,
    /// Every series, as a delta since the previous scrape (a gauge: its value now).
    pub samples: Vec<MetricSample>,
}

/// One series' statistics over the interval: a counter's increase (one sample of it),
/// a gauge's value, or a histogram's observations (their count and sum; the least and
/// greatest as its buckets bound them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricSample {
    /// Service Connect's metric name (`RequestCount`, `TargetResponseTime`, ...).
    pub metric_name: String,
    /// Its labels as the proxy exports them (`ClusterName`, `ServiceName`,
    /// `DiscoveryName` or `TargetDiscoveryName`, `direction`), empty ones left out.
    pub dimensions: BTreeMap<String, String>,
    /// The CloudWatch unit (`Count`, `Bytes`, `Milliseconds`).
    pub unit: String,
    /// The sum of the observations.
    pub sum: f64,
    /// How many observations.
    pub count: f64,
    /// The least observation.
    pub min: f64,
    /// The greatest observation.
    pub max: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_travel_in_camel_case() {
        let post = MetricsPost {
            reports: vec![MetricsReport {
                task_arn: "arn:aws:ecs:us-east-1:123456789012:task/c/1".into(),
                timestamp: 1_700_000_000.0,
                samples: vec![MetricSample {
                    metric_name: "RequestCount".into(),
                    dimensions: BTreeMap::from([("ClusterName".into(), "c".into())]),
                    unit: "Count".into(),
                    sum: 3.0,
                    count: 1.0,
                    min: 3.0,
                    max: 3.0,
                }],
            }],
        };
        let text = serde_json::to_string(&post).unwrap();
        assert!(text.contains("\"taskArn\"") && text.contains("\"metricName\""));
        assert_eq!(serde_json::from_str::<MetricsPost>(&text).unwrap(), post);
    }
}
