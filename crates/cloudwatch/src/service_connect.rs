//! Service Connect's metrics as ECS publishes them: what agents report of their tasks'
//! proxies, filed in `AWS/ECS` under each dimension set a sample belongs to, as
//! CloudWatch shows them: `{ClusterName, ServiceName}` for every sample, plus
//! `{ClusterName, ServiceName, DiscoveryName}` for inbound ones and
//! `{ClusterName, ServiceName, TargetDiscoveryName}` for outbound ones.

use berth_agent_view::{MetricSample, MetricsPost};
use berth_awsproto::{ApiError, Context};

use crate::db::{Agg, MetricKey, MetricStore, Write};
use crate::model::StandardUnit;
use crate::put::{MAX_AGE, MAX_AHEAD};

/// The namespace ECS publishes in.
pub const NAMESPACE: &str = "AWS/ECS";
/// The dimension naming the cluster.
pub const CLUSTER: &str = "ClusterName";
/// The dimension naming the ECS service.
pub const SERVICE: &str = "ServiceName";
/// The dimension of inbound traffic: the served discovery name.
pub const DISCOVERY: &str = "DiscoveryName";
/// The dimension of outbound traffic: the discovery name called.
pub const TARGET_DISCOVERY: &str = "TargetDiscoveryName";

fn bad(message: String) -> ApiError {
    ApiError::new(400, "InvalidParameterException", message)
}

/// The dimension sets a sample of `cluster` is filed under.
pub fn dimension_sets(
    s: &MetricSample,
    cluster: &str,
) -> Result<Vec<Vec<(String, String)>>, ApiError> {
    let label = |k: &str| s.dimensions.get(k).filter(|v| !v.is_empty());
    match label(CLUSTER) {
        Some(c) if c == cluster => {}
        other => {
            return Err(ApiError::new(
                403,
                "AccessDeniedException",
                format!(
                    "a sample of {} names cluster {:?}: an agent reports only its own cluster ({cluster})",
                    s.metric_name,
                    other.map(String::as_str).unwrap_or("")
                ),
            ))
        }
    }
    let service = label(SERVICE)
        .ok_or_else(|| bad(format!("a sample of {} has no {SERVICE}", s.metric_name)))?;
    let base = vec![
        (CLUSTER.to_string(), cluster.to_string()),
        (SERVICE.to_string(), service.clone()),
    ];
    let mut sets = vec![base.clone()];
    for extra in [DISCOVERY, TARGET_DISCOVERY] {
        if let Some(v) = label(extra) {
            let mut set = base.clone();
            set.push((extra.to_string(), v.clone()));
            sets.push(set);
        }
    }
    Ok(sets)
}

fn sample_agg(s: &MetricSample) -> Result<Agg, ApiError> {
    let a = Agg {
        sum: s.sum,
        count: s.count,
        min: s.min,
        max: s.max,
    };
    let finite = [a.sum, a.count, a.min, a.max].iter().all(|v| v.is_finite());
    if !finite || a.count <= 0.0 || a.min > a.max {
        return Err(bad(format!(
            "a sample of {} has statistics that do not add up: {a:?}",
            s.metric_name
        )));
    }
    Ok(a)
}

/// The writes of one agent's post: every sample under each of its dimension sets.
pub fn writes(post: &MetricsPost, cluster: &str, now: f64) -> Result<Vec<Write>, ApiError> {
    let mut out = Vec::new();
    for r in &post.reports {
        if !(now - MAX_AGE..=now + MAX_AHEAD).contains(&r.timestamp) {
            return Err(bad(format!(
                "the report of {} is timed {}, too far from now",
                r.task_arn, r.timestamp
            )));
        }
        for s in &r.samples {
            let unit = StandardUnit::parse(&s.unit).ok_or_else(|| {
                bad(format!(
                    "unit {:?} of {} is no CloudWatch unit",
                    s.unit, s.metric_name
                ))
            })?;
            let agg = sample_agg(s)?;
            for dims in dimension_sets(s, cluster)? {
                out.push(Write {
                    key: MetricKey::new(NAMESPACE, &s.metric_name, dims),
                    ts: r.timestamp.floor() as i64,
                    unit,
                    agg,
                    high_res: true,
                });
            }
        }
    }
    Ok(out)
}

/// Files an agent's post in one transaction: all of it, or nothing when any sample is
/// refused (another cluster's, malformed). The number of datapoints written.
pub fn ingest(
    store: &MetricStore,
    ctx: &Context,
    cluster: &str,
    post: &MetricsPost,
    now: f64,
) -> Result<usize, ApiError> {
    let w = writes(post, cluster, now)?;
    store.put(ctx, &w)?;
    Ok(w.len())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use berth_agent_view::MetricsReport;

    use super::*;

    fn sample(name: &str, labels: &[(&str, &str)], sum: f64) -> MetricSample {
        MetricSample {
            metric_name: name.into(),
            dimensions: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            unit: "Count".into(),
            sum,
            count: 1.0,
            min: sum,
            max: sum,
        }
    }

    fn post(samples: Vec<MetricSample>) -> MetricsPost {
        MetricsPost {
            reports: vec![MetricsReport {
                task_arn: "t".into(),
                timestamp: 1000.0,
                samples,
            }],
        }
    }

    #[test]
    fn samples_go_under_each_dimension_set() {
        let inbound = sample(
            "RequestCount",
            &[
                ("ClusterName", "c"),
                ("ServiceName", "s"),
                ("DiscoveryName", "d"),
                ("TargetDiscoveryName", ""),
                ("direction", "ingress"),
            ],
            4.0,
        );
        let outbound = sample(
            "RequestCount",
            &[
                ("ClusterName", "c"),
                ("ServiceName", "s"),
                ("TargetDiscoveryName", "t"),
                ("direction", "egress"),
            ],
            2.0,
        );
        let w = writes(&post(vec![inbound, outbound]), "c", 1000.0).unwrap();
        let sets: Vec<Vec<&str>> = w
            .iter()
            .map(|w| w.key.dims.iter().map(|(k, _)| k.as_str()).collect())
            .collect();
        assert_eq!(
            sets,
            [
                vec!["ClusterName", "ServiceName"],
                vec!["ClusterName", "DiscoveryName", "ServiceName"],
                vec!["ClusterName", "ServiceName"],
                vec!["ClusterName", "ServiceName", "TargetDiscoveryName"],
            ]
        );
        assert!(w
            .iter()
            .all(|w| w.key.namespace == NAMESPACE && w.ts == 1000));
    }

    #[test]
    fn other_clusters_and_bad_samples_are_refused() {
        let cases = [
            (
                sample(
                    "RequestCount",
                    &[("ClusterName", "other"), ("ServiceName", "s")],
                    1.0,
                ),
                "AccessDeniedException",
            ),
            (
                sample("RequestCount", &[("ServiceName", "s")], 1.0),
                "AccessDeniedException",
            ),
            (
                sample("RequestCount", &[("ClusterName", "c")], 1.0),
                "InvalidParameterException",
            ),
            (
                MetricSample {
                    unit: "Widgets".into(),
                    ..sample(
                        "RequestCount",
                        &[("ClusterName", "c"), ("ServiceName", "s")],
                        1.0,
                    )
                },
                "InvalidParameterException",
            ),
            (
                MetricSample {
                    min: 5.0,
                    max: 1.0,
                    ..sample(
                        "RequestCount",
                        &[("ClusterName", "c"), ("ServiceName", "s")],
                        1.0,
                    )
                },
                "InvalidParameterException",
            ),
        ];
        for (s, code) in cases {
            let e = writes(&post(vec![s.clone()]), "c", 1000.0).unwrap_err();
            assert_eq!(e.code, code, "{s:?}");
        }
        let none = writes(&MetricsPost::default(), "c", 1000.0).map(|w| w.len());
        assert_eq!(none, Ok(0), "an empty post writes nothing");
        let mut p = post(vec![sample(
            "RequestCount",
            &[("ClusterName", "c"), ("ServiceName", "s")],
            1.0,
        )]);
        p.reports[0].timestamp = 1000.0 + 30.0 * 86400.0;
        assert!(writes(&p, "c", 1000.0).is_err(), "a report from the future");
    }
}
