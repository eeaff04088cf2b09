//! The load balancers' metrics in CloudWatch, as ELB publishes them: every
//! [`SCRAPE_EVERY`] each running data plane is scraped on its admin socket
//! (`GET /metrics`, read with `berth_telemetry::scrape`), what each series did since the
//! previous scrape of the same process becomes a [`LoadBalancerReport`] ([`report`],
//! pure), and the report is filed in `AWS/ApplicationELB` for the load balancer's
//! account and region (`berth_cloudwatch::load_balancer`).
//!
//! The previous values are kept per load balancer and per start of its process
//! ([`DataPlane::start`]): a process started again counts from zero, however far its
//! counters got before the next scrape. They are replaced only once a report is filed,
//! so what a failed filing missed goes with the next one. What a process did after its
//! last scrape is lost with it when it exits.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_awsproto::{ApiError, Context};
use berth_cloudwatch::load_balancer::{
    AlbMetric, LoadBalancerReport, LoadBalancerSample, Measure, LOAD_BALANCER, TARGET_GROUP,
};
use berth_cloudwatch::{Agg, MetricStore};
use berth_telemetry::scrape::{changes, parse, Change, Movement, Scrape, SeriesKey};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tracing::{debug, warn};

/// How often the data planes are scraped.
pub const SCRAPE_EVERY: Duration = Duration::from_secs(10);
/// How long a scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// A load balancer's running data plane, as the runner tells the collector of it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPlane {
    /// The load balancer's ARN.
    pub arn: String,
    /// Its account and region.
    pub ctx: Context,
    /// The process's admin socket.
    pub socket: PathBuf,
    /// Which start of a process this is (the runner numbers them): another number is
    /// another process, whose counters began at zero.
    pub start: u64,
}

/// The `LoadBalancer` dimension of a load balancer's ARN: what follows `loadbalancer/`.
pub fn dimension(arn: &str) -> &str {
    arn.split_once(":loadbalancer/").map_or(arn, |(_, d)| d)
}

/// The sample a series' change makes, if it is one of load balancer `lb`'s metrics.
fn sample(lb: &str, c: &Change) -> Option<LoadBalancerSample> {
    let metric = AlbMetric::from_name(&c.family)?;
    if c.labels.get(LOAD_BALANCER).map(String::as_str) != Some(lb) {
        return None;
    }
    let target_group = c
        .labels
        .get(TARGET_GROUP)
        .filter(|g| !g.is_empty())
        .cloned();
    let measure = match c.movement {
        Movement::Increase(n) => Measure::Count(n),
        Movement::Level(v) => Measure::Level(v),
        Movement::Observations(s) => Measure::Observations(Agg {
            sum: s.sum,
            count: s.count,
            min: s.min,
            max: s.max,
        }),
    };
    Some(LoadBalancerSample {
        metric,
        target_group,
        measure,
    })
}

/// What load balancer `lb`'s scrape `now` says happened since `before` (the values of
/// the previous scrape of the same process; empty for a process not scraped yet).
pub fn report(
    lb: &str,
    before: &BTreeMap<SeriesKey, f64>,
    now: &Scrape,
    timestamp: f64,
) -> LoadBalancerReport {
    LoadBalancerReport {
        load_balancer: lb.to_string(),
        timestamp,
        samples: (changes(before, now).iter())
            .filter_map(|c| sample(lb, c))
            .collect(),
    }
}

/// The values a process's last filed scrape had.
#[derive(Debug, Clone, Default, PartialEq)]
struct Previous {
    start: u64,
    values: BTreeMap<SeriesKey, f64>,
}

impl Previous {
    /// What `plane`'s next report counts from: nothing for a process not scraped yet.
    fn before(previous: Option<&Previous>, plane: &DataPlane) -> BTreeMap<SeriesKey, f64> {
        match previous {
            Some(p) if p.start == plane.start => p.values.clone(),
            _ => BTreeMap::new(),
        }
    }

    /// `scrape` of `plane`, filed.
    fn filed(plane: &DataPlane, scrape: Scrape) -> Previous {
        Previous {
            start: plane.start,
            values: scrape.values,
        }
    }
}

/// Scrapes and files every running data plane every `every`, until shutdown.
pub(crate) async fn collect(
    planes: watch::Receiver<Vec<DataPlane>>,
    store: Arc<MetricStore>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut previous = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let running = planes.borrow().clone();
        round(&running, &mut previous, &store).await;
    }
}

/// One round: each data plane scraped, its report filed, its values kept once filed.
async fn round(
    planes: &[DataPlane],
    previous: &mut HashMap<String, Previous>,
    store: &Arc<MetricStore>,
) {
    previous.retain(|arn, _| planes.iter().any(|p| &p.arn == arn));
    for plane in planes {
        let text = match scrape(&plane.socket).await {
            Ok(t) => t,
            Err(e) => {
                debug!(load_balancer = %plane.arn, error = %e, "no metrics from the data plane");
                continue;
            }
        };
        let now = parse(&text);
        let before = Previous::before(previous.get(&plane.arn), plane);
        let report = report(dimension(&plane.arn), &before, &now, berth_awsproto::now());
        match file(store, &plane.ctx, report).await {
            Ok(_) => {
                previous.insert(plane.arn.clone(), Previous::filed(plane, now));
            }
            Err(e) => warn!(load_balancer = %plane.arn, error = %e,
                "the load balancer's metrics were not filed; they go with the next ones"),
        }
    }
}

async fn file(
    store: &Arc<MetricStore>,
    ctx: &Context,
    report: LoadBalancerReport,
) -> Result<usize, ApiError> {
    let (store, ctx) = (store.clone(), ctx.clone());
    tokio::task::spawn_blocking(move || {
        let now = berth_awsproto::now();
        berth_cloudwatch::load_balancer::file(&store, &ctx, &report, now)
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(format!("filing metrics: {e}"))))
}

/// `GET /metrics` on a data plane's admin socket: the Prometheus text.
async fn scrape(socket: &Path) -> Result<String, String> {
    let get = async {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| format!("connect {}: {e}", socket.display()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("admin handshake: {e}"))?;
        tokio::spawn(conn);
        let req = http::Request::get("/metrics")
            .header(http::header::HOST, "load-balancer")
            .body(Empty::<Bytes>::new())
            .expect("a valid request");
        let resp = (sender.send_request(req).await).map_err(|e| format!("GET /metrics: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET /metrics: {}", resp.status()));
        }
        let body = (resp.into_body().collect().await).map_err(|e| format!("GET /metrics: {e}"))?;
        Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
    };
    tokio::time::timeout(SCRAPE_TIMEOUT, get)
        .await
        .map_err(|_| "GET /metrics timed out".to_string())?
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use berth_cloudwatch::model::StandardUnit;
    use berth_telemetry::Metrics;

    use super::*;

    const ARN: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
    const LB: &str = "app/web/50dc6c495c0c9188";
    const API: &str = "targetgroup/api/73e2d6bc24d8a067";

    fn plane(start: u64) -> DataPlane {
        DataPlane {
            arn: ARN.into(),
            ctx: Context::new("123456789012", "us-east-1"),
            socket: PathBuf::from("/nonexistent/lb.sock"),
            start,
        }
    }

    /// A load balancer's process: `requests` to group api, `fixed` fixed responses.
    fn process(requests: u32, fixed: u32) -> Metrics {
        let m = Metrics::new();
        let lb = m.load_balancer(LB);
        let tg = lb.target_group(API);
        for _ in 0..requests {
            tg.request();
            tg.target_response(200, StdDuration::from_millis(3));
        }
        for _ in 0..fixed {
            lb.unrouted_request();
            lb.fixed_response();
            lb.elb_response(404);
        }
        tg.hosts(2, 0);
        m
    }

    /// (metric, target group, measure) of each sample.
    fn measures(r: &LoadBalancerReport) -> Vec<(AlbMetric, Option<&str>, Measure)> {
        let mut out: Vec<_> = (r.samples.iter())
            .map(|s| (s.metric, s.target_group.as_deref(), s.measure))
            .collect();
        out.sort_by_key(|(m, g, _)| (*m, g.map(str::to_string)));
        out
    }

    fn count(r: &LoadBalancerReport, metric: AlbMetric, group: Option<&str>) -> Option<f64> {
        measures(r).into_iter().find_map(|(m, g, v)| match v {
            Measure::Count(n) if m == metric && g == group => Some(n),
            _ => None,
        })
    }

    #[test]
    fn the_dimension_is_the_arn_after_loadbalancer() {
        assert_eq!(dimension(ARN), LB);
    }

    #[test]
    fn a_proxys_metrics_become_elbs() {
        let m = process(3, 2);
        let r = report(LB, &BTreeMap::new(), &parse(&m.render()), 1000.0);
        assert_eq!(r.load_balancer, LB);
        let cases = [
            (AlbMetric::RequestCount, Some(API), Some(3.0)),
            (AlbMetric::RequestCount, None, Some(2.0)),
            (AlbMetric::Target2xx, Some(API), Some(3.0)),
            (AlbMetric::Target5xx, Some(API), Some(0.0)),
            (AlbMetric::Elb4xx, None, Some(2.0)),
            (AlbMetric::FixedResponseCount, None, Some(2.0)),
            (AlbMetric::Elb4xx, Some(API), None),
        ];
        for (metric, group, want) in cases {
            assert_eq!(count(&r, metric, group), want, "{metric:?} {group:?}");
        }
        let levels: Vec<_> = (measures(&r).into_iter())
            .filter(|(_, _, v)| matches!(v, Measure::Level(_)))
            .collect();
        assert!(levels.contains(&(AlbMetric::HealthyHostCount, Some(API), Measure::Level(2.0))));
        assert!(levels.contains(&(
            AlbMetric::UnHealthyHostCount,
            Some(API),
            Measure::Level(0.0)
        )));
        // Every sample files: the proxy's families and ELB's metrics agree.
        let w = berth_cloudwatch::load_balancer::writes(&r, 1000.0).expect("files");
        let rt = (w.iter())
            .find(|w| w.key.name == "TargetResponseTime" && w.key.dims.len() == 2)
            .expect("response times");
        assert_eq!((rt.unit, rt.agg.count), (StandardUnit::Seconds, 3.0));
        assert!(rt.agg.sum > 0.008 && rt.agg.sum < 0.01, "{rt:?}");
    }

    #[test]
    fn other_load_balancers_series_are_not_its() {
        let m = process(3, 0);
        let r = report(
            "app/other/0000000000000000",
            &BTreeMap::new(),
            &parse(&m.render()),
            1.0,
        );
        assert_eq!(r.samples, vec![]);
    }

    #[test]
    fn deltas_count_from_the_same_process_only() {
        // (what the previous filed scrape was, the plane now, the scrape now, requests reported)
        let first = parse(&process(5, 0).render());
        let cases = [
            ("never scraped", None, plane(1), process(5, 0), 5.0),
            (
                "5 more",
                Some(Previous::filed(&plane(1), first.clone())),
                plane(1),
                process(10, 0),
                5.0,
            ),
            (
                "none since",
                Some(Previous::filed(&plane(1), first.clone())),
                plane(1),
                process(5, 0),
                0.0,
            ),
            (
                "started again, and past the old count by the next scrape",
                Some(Previous::filed(&plane(1), first.clone())),
                plane(2),
                process(7, 0),
                7.0,
            ),
            (
                "a counter that went down counts from zero",
                Some(Previous::filed(&plane(1), first.clone())),
                plane(1),
                process(2, 0),
                2.0,
            ),
        ];
        for (what, previous, plane, now, want) in cases {
            let before = Previous::before(previous.as_ref(), &plane);
            let r = report(LB, &before, &parse(&now.render()), 1000.0);
            assert_eq!(
                count(&r, AlbMetric::RequestCount, Some(API)),
                Some(want),
                "{what}"
            );
        }
    }
}
