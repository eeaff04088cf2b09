//! Application Load Balancers' metrics as ELB publishes them, in `AWS/ApplicationELB`:
//! what a load balancer's data plane did since it was last measured
//! ([`LoadBalancerReport`], made by `berth-loadbalancers` from the proxy's metrics),
//! filed under the dimension sets CloudWatch has them in (the `AvailabilityZone` sets
//! left out: a load balancer here is one data plane, in no zone of its own):
//!
//! | scope | dimension sets | metrics |
//! | --- | --- | --- |
//! | load balancer | `{LoadBalancer}` | `HTTPCode_ELB_*`, `HTTP_Fixed_Response_Count`, `HTTP_Redirect_Count`, `NewConnectionCount`, `ActiveConnectionCount` |
//! | targets | `{LoadBalancer}` (all its groups together), `{LoadBalancer, TargetGroup}` | `RequestCount`, `HTTPCode_Target_*`, `TargetResponseTime`, `TargetConnectionErrorCount` |
//! | target group | `{LoadBalancer, TargetGroup}` | `HealthyHostCount`, `UnHealthyHostCount` |
//!
//! As on ELB, `n` events are `n` samples of 1 (Sum is the count; Minimum, Maximum and
//! Average are 1), filed only when there were some; `TargetResponseTime` is the targets'
//! response times in seconds; the host counts are their value when measured, always
//! filed (zero too); `ActiveConnectionCount` its value, when not zero. Datapoints are of
//! standard resolution (per minute), as ELB's.

use std::collections::BTreeMap;

use berth_awsproto::{ApiError, Context};

use crate::db::{Agg, MetricKey, MetricStore, Write};
use crate::model::StandardUnit;
use crate::put::{MAX_AGE, MAX_AHEAD};

/// The namespace ELB publishes Application Load Balancers' metrics in.
pub const NAMESPACE: &str = "AWS/ApplicationELB";
/// The dimension naming the load balancer: `app/<name>/<id>`.
pub const LOAD_BALANCER: &str = "LoadBalancer";
/// The dimension naming the target group: `targetgroup/<name>/<id>`.
pub const TARGET_GROUP: &str = "TargetGroup";

/// The metrics berth's load balancers publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlbMetric {
    RequestCount,
    Target2xx,
    Target3xx,
    Target4xx,
    Target5xx,
    TargetResponseTime,
    TargetConnectionErrorCount,
    HealthyHostCount,
    UnHealthyHostCount,
    Elb3xx,
    Elb4xx,
    Elb5xx,
    Elb502,
    Elb503,
    Elb504,
    FixedResponseCount,
    RedirectCount,
    NewConnectionCount,
    ActiveConnectionCount,
}

/// Which dimension sets a metric is filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `{LoadBalancer}`.
    LoadBalancer,
    /// `{LoadBalancer}`, and `{LoadBalancer, TargetGroup}` for a group's requests.
    Targets,
    /// `{LoadBalancer, TargetGroup}` only.
    TargetGroup,
}

/// What a metric measures, so what a measure of it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Events: [`Measure::Count`].
    Count,
    /// A value at a moment: [`Measure::Level`]; `always`: filed when zero too.
    Level { always: bool },
    /// Durations in seconds: [`Measure::Observations`].
    Seconds,
}

impl AlbMetric {
    /// Every one of them.
    pub const ALL: [AlbMetric; 19] = [
        AlbMetric::RequestCount,
        AlbMetric::Target2xx,
        AlbMetric::Target3xx,
        AlbMetric::Target4xx,
        AlbMetric::Target5xx,
        AlbMetric::TargetResponseTime,
        AlbMetric::TargetConnectionErrorCount,
        AlbMetric::HealthyHostCount,
        AlbMetric::UnHealthyHostCount,
        AlbMetric::Elb3xx,
        AlbMetric::Elb4xx,
        AlbMetric::Elb5xx,
        AlbMetric::Elb502,
        AlbMetric::Elb503,
        AlbMetric::Elb504,
        AlbMetric::FixedResponseCount,
        AlbMetric::RedirectCount,
        AlbMetric::NewConnectionCount,
        AlbMetric::ActiveConnectionCount,
    ];

    /// Its name in CloudWatch (the proxy's metric families have the same).
    pub fn name(self) -> &'static str {
        match self {
            AlbMetric::RequestCount => "RequestCount",
            AlbMetric::Target2xx => "HTTPCode_Target_2XX_Count",
            AlbMetric::Target3xx => "HTTPCode_Target_3XX_Count",
            AlbMetric::Target4xx => "HTTPCode_Target_4XX_Count",
            AlbMetric::Target5xx => "HTTPCode_Target_5XX_Count",
            AlbMetric::TargetResponseTime => "TargetResponseTime",
            AlbMetric::TargetConnectionErrorCount => "TargetConnectionErrorCount",
            AlbMetric::HealthyHostCount => "HealthyHostCount",
            AlbMetric::UnHealthyHostCount => "UnHealthyHostCount",
            AlbMetric::Elb3xx => "HTTPCode_ELB_3XX_Count",
            AlbMetric::Elb4xx => "HTTPCode_ELB_4XX_Count",
            AlbMetric::Elb5xx => "HTTPCode_ELB_5XX_Count",
            AlbMetric::Elb502 => "HTTPCode_ELB_502_Count",
            AlbMetric::Elb503 => "HTTPCode_ELB_503_Count",
            AlbMetric::Elb504 => "HTTPCode_ELB_504_Count",
            AlbMetric::FixedResponseCount => "HTTP_Fixed_Response_Count",
            AlbMetric::RedirectCount => "HTTP_Redirect_Count",
            AlbMetric::NewConnectionCount => "NewConnectionCount",
            AlbMetric::ActiveConnectionCount => "ActiveConnectionCount",
        }
    }

    /// The metric named `name`, if berth publishes it.
    pub fn from_name(name: &str) -> Option<AlbMetric> {
        AlbMetric::ALL.into_iter().find(|m| m.name() == name)
    }

    fn scope(self) -> Scope {
        use AlbMetric::*;
        match self {
            RequestCount
            | Target2xx
            | Target3xx
            | Target4xx
            | Target5xx
            | TargetResponseTime
            | TargetConnectionErrorCount => Scope::Targets,
            HealthyHostCount | UnHealthyHostCount => Scope::TargetGroup,
            _ => Scope::LoadBalancer,
        }
    }

    fn shape(self) -> Shape {
        match self {
            AlbMetric::TargetResponseTime => Shape::Seconds,
            AlbMetric::HealthyHostCount | AlbMetric::UnHealthyHostCount => {
                Shape::Level { always: true }
            }
            AlbMetric::ActiveConnectionCount => Shape::Level { always: false },
            _ => Shape::Count,
        }
    }

    /// Its unit in CloudWatch.
    pub fn unit(self) -> StandardUnit {
        match self.shape() {
            Shape::Seconds => StandardUnit::Seconds,
            Shape::Count | Shape::Level { .. } => StandardUnit::Count,
        }
    }
}

/// What a metric did over the interval measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// How many events.
    Count(f64),
    /// Its value when measured.
    Level(f64),
    /// The durations observed, in seconds.
    Observations(Agg),
}

/// One metric of one load balancer (of one of its target groups, or none).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancerSample {
    /// Which metric.
    pub metric: AlbMetric,
    /// The `TargetGroup` dimension (`targetgroup/<name>/<id>`); None for requests no
    /// group got and for the load balancer's own metrics.
    pub target_group: Option<String>,
    /// What it did.
    pub measure: Measure,
}

/// What one load balancer's data plane did since it was last measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancerReport {
    /// The `LoadBalancer` dimension: `app/<name>/<id>`, its ARN after `loadbalancer/`.
    pub load_balancer: String,
    /// When it was measured, in seconds since the Unix epoch.
    pub timestamp: f64,
    /// Its metrics.
    pub samples: Vec<LoadBalancerSample>,
}

fn bad(message: String) -> ApiError {
    ApiError::new(400, "InvalidParameterException", message)
}

/// The statistics a sample is filed with; None when it files nothing.
fn statistics(s: &LoadBalancerSample) -> Result<Option<Agg>, ApiError> {
    let name = s.metric.name();
    let agg = match (s.metric.shape(), s.measure) {
        (Shape::Count, Measure::Count(n)) if n.is_finite() && n >= 0.0 => {
            (n > 0.0).then_some(Agg {
                sum: n,
                count: n,
                min: 1.0,
                max: 1.0,
            })
        }
        (Shape::Level { always }, Measure::Level(v)) if v.is_finite() => {
            (always || v != 0.0).then(|| Agg::one(v))
        }
        (Shape::Seconds, Measure::Observations(a)) => {
            let finite = [a.sum, a.count, a.min, a.max].iter().all(|v| v.is_finite());
            if !finite || a.count < 0.0 || (a.count > 0.0 && a.min > a.max) {
                return Err(bad(format!("{name}: statistics that do not add up: {a:?}")));
            }
            (a.count > 0.0).then_some(a)
        }
        (_, m) => return Err(bad(format!("{name} cannot be measured as {m:?}"))),
    };
    Ok(agg)
}

/// The dimension sets a sample of `load_balancer` is filed under.
fn dimension_sets(
    s: &LoadBalancerSample,
    load_balancer: &str,
) -> Result<Vec<Vec<(String, String)>>, ApiError> {
    let lb = (LOAD_BALANCER.to_string(), load_balancer.to_string());
    let group = |tg: &String| vec![lb.clone(), (TARGET_GROUP.to_string(), tg.clone())];
    let name = s.metric.name();
    match (s.metric.scope(), &s.target_group) {
        (Scope::LoadBalancer, None) => Ok(vec![vec![lb]]),
        (Scope::LoadBalancer, Some(_)) => Err(bad(format!("{name} is no target group's"))),
        (Scope::Targets, None) => Ok(vec![vec![lb]]),
        (Scope::Targets, Some(tg)) => Ok(vec![vec![lb.clone()], group(tg)]),
        (Scope::TargetGroup, Some(tg)) => Ok(vec![group(tg)]),
        (Scope::TargetGroup, None) => Err(bad(format!("{name} needs its target group"))),
    }
}

fn check_report(r: &LoadBalancerReport, now: f64) -> Result<(), ApiError> {
    let parts: Vec<&str> = r.load_balancer.split('/').collect();
    if !matches!(parts[..], ["app", name, id] if !name.is_empty() && !id.is_empty()) {
        return Err(bad(format!(
            "{:?} is no Application Load Balancer's dimension (app/<name>/<id>)",
            r.load_balancer
        )));
    }
    if !(now - MAX_AGE..=now + MAX_AHEAD).contains(&r.timestamp) {
        return Err(bad(format!(
            "the report of {} is timed {}, too far from now",
            r.load_balancer, r.timestamp
        )));
    }
    Ok(())
}

/// The writes of one report: each sample under each of its dimension sets, the
/// samples of one metric and dimension set together.
pub fn writes(report: &LoadBalancerReport, now: f64) -> Result<Vec<Write>, ApiError> {
    check_report(report, now)?;
    let mut merged: BTreeMap<MetricKey, (StandardUnit, Agg)> = BTreeMap::new();
    for s in &report.samples {
        let Some(agg) = statistics(s)? else {
            continue;
        };
        for dims in dimension_sets(s, &report.load_balancer)? {
            let key = MetricKey::new(NAMESPACE, s.metric.name(), dims);
            merged
                .entry(key)
                .and_modify(|(_, a)| *a = a.merge(agg))
                .or_insert((s.metric.unit(), agg));
        }
    }
    let ts = report.timestamp.floor() as i64;
    Ok(merged
        .into_iter()
        .map(|(key, (unit, agg))| Write {
            key,
            ts,
            unit,
            agg,
            high_res: false,
        })
        .collect())
}

/// Files a load balancer's report for its account and region (`ctx`) in one
/// transaction, all of it or nothing. The number of datapoints written.
pub fn file(
    store: &MetricStore,
    ctx: &Context,
    report: &LoadBalancerReport,
    now: f64,
) -> Result<usize, ApiError> {
    let w = writes(report, now)?;
    store.put(ctx, &w)?;
    Ok(w.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LB: &str = "app/web/50dc6c495c0c9188";
    const API: &str = "targetgroup/api/73e2d6bc24d8a067";
    const WEB: &str = "targetgroup/web/0a1b2c3d4e5f6a7b";

    fn s(metric: AlbMetric, tg: Option<&str>, measure: Measure) -> LoadBalancerSample {
        LoadBalancerSample {
            metric,
            target_group: tg.map(str::to_string),
            measure,
        }
    }

    fn report(samples: Vec<LoadBalancerSample>) -> LoadBalancerReport {
        LoadBalancerReport {
            load_balancer: LB.into(),
            timestamp: 1000.5,
            samples,
        }
    }

    fn times(sum: f64, count: f64, min: f64, max: f64) -> Measure {
        Measure::Observations(Agg {
            sum,
            count,
            min,
            max,
        })
    }

    /// Each write as (name, dimension values, unit, [sum, count, min, max]).
    type Row = (&'static str, Vec<&'static str>, StandardUnit, [f64; 4]);

    fn rows(w: &[Write]) -> Vec<(String, Vec<String>, StandardUnit, [f64; 4])> {
        w.iter()
            .map(|w| {
                let dims = w.key.dims.iter().map(|(_, v)| v.clone()).collect();
                let a = w.agg;
                (
                    w.key.name.clone(),
                    dims,
                    w.unit,
                    [a.sum, a.count, a.min, a.max],
                )
            })
            .collect()
    }

    fn want(rows: Vec<Row>) -> Vec<(String, Vec<String>, StandardUnit, [f64; 4])> {
        let mut r: Vec<_> = rows
            .into_iter()
            .map(|(n, d, u, a)| {
                (
                    n.to_string(),
                    d.into_iter().map(String::from).collect(),
                    u,
                    a,
                )
            })
            .collect();
        r.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        r
    }

    #[test]
    fn samples_are_filed_under_elbs_dimension_sets() {
        use AlbMetric::*;
        use StandardUnit::{Count, Seconds};
        let cases: Vec<(&str, Vec<LoadBalancerSample>, Vec<Row>)> = vec![
            (
                "a group's requests count for it and for the load balancer",
                vec![s(RequestCount, Some(API), Measure::Count(3.0))],
                vec![
                    ("RequestCount", vec![LB], Count, [3.0, 3.0, 1.0, 1.0]),
                    ("RequestCount", vec![LB, API], Count, [3.0, 3.0, 1.0, 1.0]),
                ],
            ),
            (
                "the load balancer's requests are its groups' and those no group got",
                vec![
                    s(RequestCount, Some(API), Measure::Count(3.0)),
                    s(RequestCount, Some(WEB), Measure::Count(2.0)),
                    s(RequestCount, None, Measure::Count(4.0)),
                ],
                vec![
                    ("RequestCount", vec![LB], Count, [9.0, 9.0, 1.0, 1.0]),
                    ("RequestCount", vec![LB, API], Count, [3.0, 3.0, 1.0, 1.0]),
                    ("RequestCount", vec![LB, WEB], Count, [2.0, 2.0, 1.0, 1.0]),
                ],
            ),
            (
                "no events, nothing filed",
                vec![
                    s(Target5xx, Some(API), Measure::Count(0.0)),
                    s(Elb503, None, Measure::Count(0.0)),
                    s(TargetResponseTime, Some(API), times(0.0, 0.0, 0.0, 0.0)),
                    s(ActiveConnectionCount, None, Measure::Level(0.0)),
                ],
                vec![],
            ),
            (
                "host counts always, under the group only",
                vec![
                    s(HealthyHostCount, Some(API), Measure::Level(2.0)),
                    s(UnHealthyHostCount, Some(API), Measure::Level(0.0)),
                ],
                vec![
                    (
                        "HealthyHostCount",
                        vec![LB, API],
                        Count,
                        [2.0, 1.0, 2.0, 2.0],
                    ),
                    (
                        "UnHealthyHostCount",
                        vec![LB, API],
                        Count,
                        [0.0, 1.0, 0.0, 0.0],
                    ),
                ],
            ),
            (
                "response times in seconds, groups together for the load balancer",
                vec![
                    s(TargetResponseTime, Some(API), times(0.3, 3.0, 0.05, 0.2)),
                    s(TargetResponseTime, Some(WEB), times(0.01, 1.0, 0.01, 0.01)),
                ],
                vec![
                    (
                        "TargetResponseTime",
                        vec![LB],
                        Seconds,
                        [0.31, 4.0, 0.01, 0.2],
                    ),
                    (
                        "TargetResponseTime",
                        vec![LB, API],
                        Seconds,
                        [0.3, 3.0, 0.05, 0.2],
                    ),
                    (
                        "TargetResponseTime",
                        vec![LB, WEB],
                        Seconds,
                        [0.01, 1.0, 0.01, 0.01],
                    ),
                ],
            ),
            (
                "the load balancer's own answers and connections",
                vec![
                    s(Elb5xx, None, Measure::Count(2.0)),
                    s(Elb502, None, Measure::Count(2.0)),
                    s(FixedResponseCount, None, Measure::Count(1.0)),
                    s(ActiveConnectionCount, None, Measure::Level(5.0)),
                    s(NewConnectionCount, None, Measure::Count(7.0)),
                ],
                vec![
                    (
                        "HTTPCode_ELB_5XX_Count",
                        vec![LB],
                        Count,
                        [2.0, 2.0, 1.0, 1.0],
                    ),
                    (
                        "HTTPCode_ELB_502_Count",
                        vec![LB],
                        Count,
                        [2.0, 2.0, 1.0, 1.0],
                    ),
                    (
                        "HTTP_Fixed_Response_Count",
                        vec![LB],
                        Count,
                        [1.0, 1.0, 1.0, 1.0],
                    ),
                    (
                        "ActiveConnectionCount",
                        vec![LB],
                        Count,
                        [5.0, 1.0, 5.0, 5.0],
                    ),
                    ("NewConnectionCount", vec![LB], Count, [7.0, 7.0, 1.0, 1.0]),
                ],
            ),
        ];
        for (what, samples, expected) in cases {
            let w = writes(&report(samples), 1000.0).unwrap_or_else(|e| panic!("{what}: {e}"));
            let mut got = rows(&w);
            got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            assert_eq!(got, want(expected), "{what}");
            for w in &w {
                assert_eq!(w.key.namespace, NAMESPACE, "{what}");
                assert_eq!((w.ts, w.high_res), (1000, false), "{what}");
                let names: Vec<&str> = w.key.dims.iter().map(|(k, _)| k.as_str()).collect();
                assert!(names == [LOAD_BALANCER] || names == [LOAD_BALANCER, TARGET_GROUP]);
            }
        }
    }

    #[test]
    fn reports_that_do_not_add_up_are_refused() {
        use AlbMetric::*;
        let cases: Vec<(&str, LoadBalancerReport)> = vec![
            (
                "a count measured as a level",
                report(vec![s(RequestCount, Some(API), Measure::Level(3.0))]),
            ),
            (
                "response times as a count",
                report(vec![s(TargetResponseTime, Some(API), Measure::Count(3.0))]),
            ),
            (
                "a negative count",
                report(vec![s(RequestCount, None, Measure::Count(-1.0))]),
            ),
            (
                "statistics out of order",
                report(vec![s(TargetResponseTime, None, times(1.0, 2.0, 0.9, 0.1))]),
            ),
            (
                "host counts of no group",
                report(vec![s(HealthyHostCount, None, Measure::Level(1.0))]),
            ),
            (
                "the load balancer's own metric for a group",
                report(vec![s(Elb4xx, Some(API), Measure::Count(1.0))]),
            ),
            (
                "not a load balancer's dimension",
                LoadBalancerReport {
                    load_balancer: "loadbalancer/app/web/50dc6c495c0c9188".into(),
                    ..report(vec![])
                },
            ),
            (
                "a network load balancer",
                LoadBalancerReport {
                    load_balancer: "net/web/50dc6c495c0c9188".into(),
                    ..report(vec![])
                },
            ),
            (
                "from the future",
                LoadBalancerReport {
                    timestamp: 1000.0 + 30.0 * 86400.0,
                    ..report(vec![])
                },
            ),
        ];
        for (what, r) in cases {
            let e = writes(&r, 1000.0).expect_err(what);
            assert_eq!(e.code, "InvalidParameterException", "{what}");
        }
    }

    #[test]
    fn names_and_units_as_cloudwatch_has_them() {
        for m in AlbMetric::ALL {
            assert_eq!(AlbMetric::from_name(m.name()), Some(m));
        }
        assert_eq!(AlbMetric::from_name("RequestCountPerTarget"), None);
        assert_eq!(AlbMetric::TargetResponseTime.unit(), StandardUnit::Seconds);
        assert_eq!(AlbMetric::HealthyHostCount.unit(), StandardUnit::Count);
    }

    #[test]
    fn filed_reports_read_back_with_get_metric_statistics() {
        use berth_awsproto::Api;
        use serde_json::json;
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(MetricStore::open(dir.path()).unwrap());
        let cw = crate::CloudWatch::new(store.clone());
        let ctx = Context::new("123456789012", "eu-west-1");
        let now = berth_awsproto::now().floor();
        let minute = now - now.rem_euclid(60.0) - 120.0;
        for (at, requests) in [(minute + 5.0, 3.0), (minute + 15.0, 4.0)] {
            let r = LoadBalancerReport {
                timestamp: at,
                ..report(vec![
                    s(AlbMetric::RequestCount, Some(API), Measure::Count(requests)),
                    s(AlbMetric::HealthyHostCount, Some(API), Measure::Level(2.0)),
                ])
            };
            assert_eq!(file(&store, &ctx, &r, now), Ok(3));
        }
        let ask = |ctx: &Context, name: &str, dims: serde_json::Value, stat: &str| {
            let input = json!({"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dims,
                "StartTime": minute - 60.0, "EndTime": now, "Period": 60, "Statistics": [stat]});
            let out = cw.call(ctx, "GetMetricStatistics", input).unwrap();
            out["Datapoints"].clone()
        };
        let lb = json!([{"Name": "LoadBalancer", "Value": LB}]);
        let group =
            json!([{"Name": "LoadBalancer", "Value": LB}, {"Name": "TargetGroup", "Value": API}]);
        assert_eq!(
            ask(&ctx, "RequestCount", lb.clone(), "Sum"),
            json!([{"Timestamp": minute, "Sum": 7.0, "Unit": "Count"}])
        );
        assert_eq!(
            ask(&ctx, "HealthyHostCount", group, "Average"),
            json!([{"Timestamp": minute, "Average": 2.0, "Unit": "Count"}])
        );
        let other = Context::new("123456789012", "us-east-1");
        assert_eq!(
            ask(&other, "RequestCount", lb, "Sum"),
            json!([]),
            "its region only"
        );
    }
}
