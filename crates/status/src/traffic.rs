//! Traffic health from CloudWatch: what the agents reported of their proxies in the
//! last minute, read from the server's metric store (`AWS/ECS`, Service Connect's
//! metrics) with `ListMetrics` and `GetMetricData`, never from the proxies.
//!
//! A service's incoming traffic is its metrics under `DiscoveryName` (what it serves),
//! its outgoing traffic those under `TargetDiscoveryName` (what it calls); each is
//! requests per second over the window, 5xx answers, and the greatest p99 response
//! time of the window's periods.

use std::collections::HashMap;

use berth_agent::ServerClient;
use serde_json::{json, Value};

use crate::Result;

/// How far back a look reads.
pub const WINDOW_SECS: f64 = 60.0;
/// The periods the window is read in.
const PERIOD: i64 = 30;
/// Queries per `GetMetricData` call (CloudWatch takes 500).
const QUERIES_PER_CALL: usize = 498;

/// One direction's traffic over the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    /// Requests.
    pub requests: f64,
    /// Answers with a 5xx status.
    pub errors_5xx: f64,
    /// The greatest p99 response time of the window's periods, in ms.
    pub p99_ms: Option<f64>,
    /// The window, in seconds.
    pub secs: f64,
}

impl Health {
    fn add(&mut self, o: &Health) {
        self.requests += o.requests;
        self.errors_5xx += o.errors_5xx;
        self.p99_ms = match (self.p99_ms, o.p99_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// `12.5/s 5xx 0 p99 3.1ms`, or `-` with no requests.
    pub fn cell(&self) -> String {
        if self.requests <= 0.0 {
            return "-".into();
        }
        let p99 = self
            .p99_ms
            .map_or_else(|| "-".to_string(), |p| format!("{p:.1}ms"));
        let rate = self.requests / self.secs.max(1.0);
        format!("{rate:.1}/s 5xx {} p99 {p99}", self.errors_5xx as u64)
    }
}

/// A service's traffic: (incoming, outgoing).
pub type ServiceHealth = (Option<Health>, Option<Health>);

/// Which way a dimension set's traffic goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    In,
    Out,
}

/// A Service Connect dimension set with a direction: (service, way, dimensions).
type Set = (String, Way, Vec<Value>);

fn dimension(m: &Value, name: &str) -> Option<String> {
    m["Dimensions"]
        .as_array()?
        .iter()
        .find(|d| d["Name"] == name)
        .and_then(|d| d["Value"].as_str())
        .map(str::to_string)
}

/// The cluster's dimension sets of one direction, from `ListMetrics`' metrics.
fn sets_of(metrics: &[Value]) -> Vec<Set> {
    let mut out = Vec::new();
    for m in metrics {
        let Some(service) = dimension(m, "ServiceName") else {
            continue;
        };
        let way = if dimension(m, "DiscoveryName").is_some() {
            Way::In
        } else if dimension(m, "TargetDiscoveryName").is_some() {
            Way::Out
        } else {
            continue;
        };
        let dims = m["Dimensions"].as_array().cloned().unwrap_or_default();
        out.push((service, way, dims));
    }
    out
}

async fn request_metrics(client: &ServerClient, cluster: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"Namespace": "AWS/ECS", "MetricName": "RequestCount",
            "Dimensions": [{"Name": "ClusterName", "Value": cluster}]});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let page = client.cloudwatch("ListMetrics", &input).await?;
        out.extend(page["Metrics"].as_array().cloned().unwrap_or_default());
        match page["NextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(out),
        }
    }
}

/// The three queries of set `i`: requests, 5xx answers, p99 response time.
fn queries(i: usize, dims: &[Value]) -> [Value; 3] {
    let q = |id: String, name: &str, stat: &str| {
        json!({"Id": id, "MetricStat": {"Metric": {"Namespace": "AWS/ECS", "MetricName": name,
            "Dimensions": dims}, "Period": PERIOD, "Stat": stat}})
    };
    [
        q(format!("r{i}"), "RequestCount", "Sum"),
        q(format!("e{i}"), "HTTPCode_Target_5XX_Count", "Sum"),
        q(format!("p{i}"), "TargetResponseTime", "p99"),
    ]
}

/// Each query's values by id.
fn values_by_id(out: &Value) -> HashMap<String, Vec<f64>> {
    let results = out["MetricDataResults"].as_array().into_iter().flatten();
    results
        .filter_map(|r| {
            let values = r["Values"].as_array()?.iter().filter_map(Value::as_f64);
            Some((r["Id"].as_str()?.to_string(), values.collect()))
        })
        .collect()
}

/// Every service's traffic health in `cluster` over the window before `now` (Unix
/// seconds); services with no data are not in the answer.
pub async fn cluster_health(
    client: &ServerClient,
    cluster: &str,
    now: f64,
) -> Result<HashMap<String, ServiceHealth>> {
    let sets = sets_of(&request_metrics(client, cluster).await?);
    let mut out: HashMap<String, ServiceHealth> = HashMap::new();
    for (chunk_no, chunk) in sets.chunks(QUERIES_PER_CALL / 3).enumerate() {
        let base = chunk_no * (QUERIES_PER_CALL / 3);
        let qs: Vec<Value> = (chunk.iter().enumerate())
            .flat_map(|(i, (_, _, dims))| queries(base + i, dims))
            .collect();
        let input =
            json!({"MetricDataQueries": qs, "StartTime": now - WINDOW_SECS, "EndTime": now});
        let values = values_by_id(&client.cloudwatch("GetMetricData", &input).await?);
        for (i, (service, way, _)) in chunk.iter().enumerate() {
            let get = |k: &str| {
                values
                    .get(&format!("{k}{}", base + i))
                    .cloned()
                    .unwrap_or_default()
            };
            let h = Health {
                requests: get("r").iter().sum(),
                errors_5xx: get("e").iter().sum(),
                p99_ms: get("p").into_iter().reduce(f64::max),
                secs: WINDOW_SECS,
            };
            let entry = out.entry(service.clone()).or_default();
            let slot = if *way == Way::In {
                &mut entry.0
            } else {
                &mut entry.1
            };
            slot.get_or_insert_with(|| Health {
                secs: WINDOW_SECS,
                ..Default::default()
            })
            .add(&h);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_sets_give_the_direction() {
        let m = |dims: &[(&str, &str)]| {
            let d: Vec<Value> = dims
                .iter()
                .map(|(k, v)| json!({"Name": k, "Value": v}))
                .collect();
            json!({"Namespace": "AWS/ECS", "MetricName": "RequestCount", "Dimensions": d})
        };
        let sets = sets_of(&[
            m(&[("ClusterName", "c"), ("ServiceName", "ui")]),
            m(&[
                ("ClusterName", "c"),
                ("DiscoveryName", "ui"),
                ("ServiceName", "ui"),
            ]),
            m(&[
                ("ClusterName", "c"),
                ("ServiceName", "ui"),
                ("TargetDiscoveryName", "catalog"),
            ]),
        ]);
        let ways: Vec<(&str, Way)> = sets.iter().map(|(s, w, _)| (s.as_str(), *w)).collect();
        assert_eq!(ways, [("ui", Way::In), ("ui", Way::Out)]);
    }

    #[test]
    fn health_cells() {
        let mut h = Health {
            requests: 120.0,
            errors_5xx: 2.0,
            p99_ms: Some(3.0),
            secs: 60.0,
        };
        assert_eq!(h.cell(), "2.0/s 5xx 2 p99 3.0ms");
        h.add(&Health {
            requests: 60.0,
            errors_5xx: 0.0,
            p99_ms: Some(9.0),
            secs: 60.0,
        });
        assert_eq!(h.cell(), "3.0/s 5xx 2 p99 9.0ms");
        assert_eq!(
            Health {
                secs: 60.0,
                ..Default::default()
            }
            .cell(),
            "-"
        );
        let out = json!({"MetricDataResults": [{"Id": "r0", "Values": [1.0, 2.0]}, {"Id": "p0", "Values": []}]});
        let v = values_by_id(&out);
        assert_eq!(v["r0"], [1.0, 2.0]);
        assert!(v["p0"].is_empty());
    }
}
