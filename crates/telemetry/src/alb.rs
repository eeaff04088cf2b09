//! An Application Load Balancer's metrics, under the names and dimensions CloudWatch
//! has them in `AWS/ApplicationELB`, rendered with the proxy's own
//! ([`Metrics::render`](crate::Metrics::render)). A proxy runs Service Connect
//! listeners or a load balancer, never both at once, so a name (`RequestCount`, ...) is
//! never exported twice.
//!
//! | name | type | labels | what |
//! | --- | --- | --- | --- |
//! | `RequestCount` | counter | `LoadBalancer`, `TargetGroup` | requests; `TargetGroup` is empty for requests no group got (fixed responses, redirects, refusals) |
//! | `HTTPCode_Target_2XX_Count` … `5XX` | counter | `LoadBalancer`, `TargetGroup` | target responses by class |
//! | `TargetResponseTime` | histogram | `LoadBalancer`, `TargetGroup` | seconds from sending a request to a target to its response head |
//! | `TargetConnectionErrorCount` | counter | `LoadBalancer`, `TargetGroup` | connections to targets that failed |
//! | `HealthyHostCount`, `UnHealthyHostCount` | gauge | `LoadBalancer`, `TargetGroup` | targets healthy (or, checks off, unavailable) / unhealthy now |
//! | `HTTPCode_ELB_3XX_Count` … `5XX`, `HTTPCode_ELB_502_Count`, `503`, `504` | counter | `LoadBalancer` | answers the load balancer made itself |
//! | `HTTP_Fixed_Response_Count`, `HTTP_Redirect_Count` | counter | `LoadBalancer` | fixed-response and redirect actions |
//! | `NewConnectionCount` | counter | `LoadBalancer` | client connections opened |
//! | `ActiveConnectionCount` | gauge | `LoadBalancer` | client connections open now |

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

use crate::metrics::ConnectionGuard;
use crate::RESPONSE_TIME_BUCKETS_MS;

const LB: [&str; 1] = ["LoadBalancer"];
const LB_TG: [&str; 2] = ["LoadBalancer", "TargetGroup"];

/// Every family.
pub(crate) struct AlbFamilies {
    requests: IntCounterVec,
    target_status: [IntCounterVec; 4],
    response_time: HistogramVec,
    target_connect: IntCounterVec,
    healthy: IntGaugeVec,
    unhealthy: IntGaugeVec,
    elb_class: [IntCounterVec; 3],
    elb_code: [IntCounterVec; 3],
    fixed: IntCounterVec,
    redirects: IntCounterVec,
    new_connections: IntCounterVec,
    active: IntGaugeVec,
    /// The load balancers with series, and each one's target groups.
    seen: Mutex<Vec<(String, HashSet<String>)>>,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

impl AlbFamilies {
    pub(crate) fn new() -> AlbFamilies {
        let target_status = |c: u8| {
            counter(
                &format!("HTTPCode_Target_{c}XX_Count"),
                &format!("Target responses with a {c}xx status code."),
                &LB_TG,
            )
        };
        let elb_class = |c: u8| {
            counter(
                &format!("HTTPCode_ELB_{c}XX_Count"),
                &format!("{c}xx answers the load balancer made itself."),
                &LB,
            )
        };
        let elb_code = |c: u16| {
            counter(
                &format!("HTTPCode_ELB_{c}_Count"),
                &format!("{c} answers the load balancer made itself."),
                &LB,
            )
        };
        let seconds: Vec<f64> = RESPONSE_TIME_BUCKETS_MS
            .iter()
            .map(|b| b / 1000.0)
            .collect();
        AlbFamilies {
            requests: counter("RequestCount", "Requests received.", &LB_TG),
            target_status: [
                target_status(2),
                target_status(3),
                target_status(4),
                target_status(5),
            ],
            response_time: HistogramVec::new(
                HistogramOpts::new(
                    "TargetResponseTime",
                    "Seconds from sending a request to a target to its response head.",
                )
                .buckets(seconds),
                &LB_TG,
            )
            .expect("valid metric"),
            target_connect: counter(
                "TargetConnectionErrorCount",
                "Connections to targets that could not be established.",
                &LB_TG,
            ),
            healthy: gauge("HealthyHostCount", "Targets considered healthy.", &LB_TG),
            unhealthy: gauge(
                "UnHealthyHostCount",
                "Targets considered unhealthy.",
                &LB_TG,
            ),
            elb_class: [elb_class(3), elb_class(4), elb_class(5)],
            elb_code: [elb_code(502), elb_code(503), elb_code(504)],
            fixed: counter(
                "HTTP_Fixed_Response_Count",
                "Fixed-response actions answered.",
                &LB,
            ),
            redirects: counter("HTTP_Redirect_Count", "Redirect actions answered.", &LB),
            new_connections: counter("NewConnectionCount", "Client connections opened.", &LB),
            active: gauge("ActiveConnectionCount", "Client connections open now.", &LB),
            seen: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn collectors(&self) -> Vec<Box<dyn Collector>> {
        let mut all: Vec<Box<dyn Collector>> = vec![
            Box::new(self.requests.clone()),
            Box::new(self.response_time.clone()),
            Box::new(self.target_connect.clone()),
            Box::new(self.healthy.clone()),
            Box::new(self.unhealthy.clone()),
            Box::new(self.fixed.clone()),
            Box::new(self.redirects.clone()),
            Box::new(self.new_connections.clone()),
            Box::new(self.active.clone()),
        ];
        for c in self
            .target_status
            .iter()
            .chain(&self.elb_class)
            .chain(&self.elb_code)
        {
            all.push(Box::new(c.clone()));
        }
        all
    }

    fn lb_counters(&self) -> impl Iterator<Item = &IntCounterVec> {
        self.elb_class.iter().chain(&self.elb_code).chain([
            &self.fixed,
            &self.redirects,
            &self.new_connections,
        ])
    }

    fn tg_counters(&self) -> impl Iterator<Item = &IntCounterVec> {
        self.target_status
            .iter()
            .chain([&self.requests, &self.target_connect])
    }

    fn note(&self, lb: &str, tg: Option<&str>) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let i = match seen.iter().position(|(l, _)| l == lb) {
            Some(i) => i,
            None => {
                seen.push((lb.to_string(), HashSet::new()));
                seen.len() - 1
            }
        };
        if let Some(tg) = tg {
            seen[i].1.insert(tg.to_string());
        }
    }

    fn remove_group(&self, lb: &str, tg: &str) {
        let l = [lb, tg];
        for c in self.tg_counters() {
            let _ = c.remove_label_values(&l);
        }
        let _ = self.response_time.remove_label_values(&l);
        let _ = self.healthy.remove_label_values(&l);
        let _ = self.unhealthy.remove_label_values(&l);
    }

    /// Drops the series of `lb`'s target groups for which `keep` is false (all of them,
    /// and the load balancer's own, when `whole`).
    pub(crate) fn retain(&self, lb: &str, whole: bool, keep: &dyn Fn(&str) -> bool) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let Some(i) = seen.iter().position(|(l, _)| l == lb) else {
            return;
        };
        seen[i].1.retain(|tg| {
            let k = !whole && keep(tg);
            if !k {
                self.remove_group(lb, tg);
            }
            k
        });
        if whole {
            for c in self.lb_counters() {
                let _ = c.remove_label_values(&[lb]);
            }
            let _ = self.active.remove_label_values(&[lb]);
            let _ = self.requests.remove_label_values(&[lb, ""]);
            seen.remove(i);
        }
    }
}

/// One load balancer's metrics (cheap to clone; clones share the series).
#[derive(Clone)]
pub struct LoadBalancerMetrics {
    inner: Arc<LbInner>,
}

struct LbInner {
    families: Arc<AlbFamilies>,
    name: String,
    unrouted: IntCounter,
    elb_class: [IntCounter; 3],
    elb_code: [IntCounter; 3],
    fixed: IntCounter,
    redirects: IntCounter,
    new_connections: IntCounter,
    active: IntGauge,
}

impl std::fmt::Debug for LoadBalancerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadBalancerMetrics")
            .field("LoadBalancer", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl LoadBalancerMetrics {
    pub(crate) fn new(families: &Arc<AlbFamilies>, lb: &str) -> LoadBalancerMetrics {
        let f = families;
        f.note(lb, None);
        let l = [lb];
        LoadBalancerMetrics {
            inner: Arc::new(LbInner {
                unrouted: f.requests.with_label_values(&[lb, ""]),
                elb_class: [0, 1, 2].map(|i| f.elb_class[i].with_label_values(&l)),
                elb_code: [0, 1, 2].map(|i| f.elb_code[i].with_label_values(&l)),
                fixed: f.fixed.with_label_values(&l),
                redirects: f.redirects.with_label_values(&l),
                new_connections: f.new_connections.with_label_values(&l),
                active: f.active.with_label_values(&l),
                families: Arc::clone(families),
                name: lb.to_string(),
            }),
        }
    }

    /// The handles of one of its target groups (`TargetGroup` = `dimension`).
    pub fn target_group(&self, dimension: &str) -> TargetGroupMetrics {
        let f = &self.inner.families;
        f.note(&self.inner.name, Some(dimension));
        let l = [self.inner.name.as_str(), dimension];
        TargetGroupMetrics {
            requests: f.requests.with_label_values(&l),
            status: [0, 1, 2, 3].map(|i| f.target_status[i].with_label_values(&l)),
            response_time: f.response_time.with_label_values(&l),
            connect_errors: f.target_connect.with_label_values(&l),
            healthy: f.healthy.with_label_values(&l),
            unhealthy: f.unhealthy.with_label_values(&l),
        }
    }

    /// Drops the series of the target groups `keep` refuses (gone from the snapshot).
    pub fn retain_target_groups(&self, keep: impl Fn(&str) -> bool) {
        self.inner.families.retain(&self.inner.name, false, &keep);
    }

    /// A client connection opened: `NewConnectionCount` +1, and `ActiveConnectionCount`
    /// +1 until the guard drops.
    pub fn connection(&self) -> ConnectionGuard {
        self.inner.new_connections.inc();
        self.inner.active.inc();
        ConnectionGuard::new(self.inner.active.clone())
    }

    /// A request no target group got (`RequestCount` with an empty `TargetGroup`).
    pub fn unrouted_request(&self) {
        self.inner.unrouted.inc();
    }

    /// The load balancer answered `status` itself (`HTTPCode_ELB_*`).
    pub fn elb_response(&self, status: u16) {
        if let 300..=599 = status {
            self.inner.elb_class[usize::from(status / 100 - 3)].inc();
        }
        if let 502..=504 = status {
            self.inner.elb_code[usize::from(status - 502)].inc();
        }
    }

    /// A fixed-response action answered (`HTTP_Fixed_Response_Count`).
    pub fn fixed_response(&self) {
        self.inner.fixed.inc();
    }

    /// A redirect action answered (`HTTP_Redirect_Count`).
    pub fn redirect(&self) {
        self.inner.redirects.inc();
    }
}

/// One target group's metrics (cheap to clone).
#[derive(Clone)]
pub struct TargetGroupMetrics {
    requests: IntCounter,
    status: [IntCounter; 4],
    response_time: Histogram,
    connect_errors: IntCounter,
    healthy: IntGauge,
    unhealthy: IntGauge,
}

impl std::fmt::Debug for TargetGroupMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetGroupMetrics").finish_non_exhaustive()
    }
}

impl TargetGroupMetrics {
    /// A request was routed to the group (`RequestCount`).
    pub fn request(&self) {
        self.requests.inc();
    }

    /// A target answered `status` after `elapsed` (`HTTPCode_Target_*`,
    /// `TargetResponseTime`).
    pub fn target_response(&self, status: u16, elapsed: Duration) {
        if let 200..=599 = status {
            self.status[usize::from(status / 100 - 2)].inc();
        }
        self.response_time.observe(elapsed.as_secs_f64());
    }

    /// A connection to a target failed (`TargetConnectionErrorCount`).
    pub fn connect_error(&self) {
        self.connect_errors.inc();
    }

    /// The group's targets by health now (`HealthyHostCount`, `UnHealthyHostCount`).
    pub fn hosts(&self, healthy: usize, unhealthy: usize) {
        self.healthy.set(i64::try_from(healthy).unwrap_or(i64::MAX));
        self.unhealthy
            .set(i64::try_from(unhealthy).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use crate::Metrics;
    use std::time::Duration;

    const LB: &str = "app/web/50dc6c495c0c9188";
    const TG: &str = "targetgroup/api/73e2d6bc24d8a067";

    #[test]
    fn elb_names_and_dimensions() {
        let m = Metrics::new();
        let lb = m.load_balancer(LB);
        let tg = lb.target_group(TG);
        let conn = lb.connection();
        tg.request();
        tg.target_response(200, Duration::from_millis(3));
        tg.hosts(2, 1);
        lb.unrouted_request();
        lb.elb_response(503);
        lb.redirect();
        lb.elb_response(301);
        let text = m.render();
        let tgl = format!(r#"{{LoadBalancer="{LB}",TargetGroup="{TG}"}}"#);
        for want in [
            format!("RequestCount{tgl} 1"),
            format!(r#"RequestCount{{LoadBalancer="{LB}",TargetGroup=""}} 1"#),
            format!("HTTPCode_Target_2XX_Count{tgl} 1"),
            format!("HealthyHostCount{tgl} 2"),
            format!("UnHealthyHostCount{tgl} 1"),
            format!("TargetResponseTime_count{tgl} 1"),
            format!(r#"HTTPCode_ELB_5XX_Count{{LoadBalancer="{LB}"}} 1"#),
            format!(r#"HTTPCode_ELB_503_Count{{LoadBalancer="{LB}"}} 1"#),
            format!(r#"HTTPCode_ELB_3XX_Count{{LoadBalancer="{LB}"}} 1"#),
            format!(r#"HTTP_Redirect_Count{{LoadBalancer="{LB}"}} 1"#),
            format!(r#"ActiveConnectionCount{{LoadBalancer="{LB}"}} 1"#),
            format!(r#"NewConnectionCount{{LoadBalancer="{LB}"}} 1"#),
        ] {
            assert!(text.contains(&want), "{want} in\n{text}");
        }
        // Seconds, not milliseconds.
        assert!(text.contains(&format!(
            r#"TargetResponseTime_bucket{{LoadBalancer="{LB}",TargetGroup="{TG}",le="0.005"}} 1"#
        )));
        // Every family once: no name is exported twice.
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut unique = types.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(types.len(), unique.len());
        drop(conn);
        lb.retain_target_groups(|_| false);
        let text = m.render();
        assert!(!text.contains("TargetGroup=\"targetgroup"), "{text}");
        assert!(text.contains("HTTP_Redirect_Count"));
        m.remove_load_balancer(LB);
        assert!(!m.render().contains(LB));
    }
}
