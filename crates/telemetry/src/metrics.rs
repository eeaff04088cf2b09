//! Service Connect's metrics, in the Prometheus text exposition format.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::alb::{AlbFamilies, LoadBalancerMetrics};
use crate::{Dims, Direction};

/// `TargetResponseTime`'s bucket upper bounds, in milliseconds (0.1 ms … 30 s).
pub const RESPONSE_TIME_BUCKETS_MS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
    10000.0, 15000.0, 30000.0,
];

/// The labels on every series, in order.
const LABELS: [&str; 5] = [
    "DiscoveryName",
    "TargetDiscoveryName",
    "ServiceName",
    "ClusterName",
    "direction",
];
/// `RequestCountPerTarget`'s labels: [`LABELS`] and the target.
const TARGET_LABELS: [&str; 6] = [
    "DiscoveryName",
    "TargetDiscoveryName",
    "ServiceName",
    "ClusterName",
    "direction",
    "target",
];
/// `ClientIdentityConnectionCount`'s labels: [`LABELS`] and the client's identity.
const IDENTITY_LABELS: [&str; 6] = [
    "DiscoveryName",
    "TargetDiscoveryName",
    "ServiceName",
    "ClusterName",
    "direction",
    "ClientIdentity",
];

/// Every metric family.
struct Families {
    active: IntGaugeVec,
    new_connections: IntCounterVec,
    processed_bytes: IntCounterVec,
    requests: IntCounterVec,
    grpc_requests: IntCounterVec,
    status: [IntCounterVec; 4],
    per_target: IntCounterVec,
    target_bytes: IntCounterVec,
    response_time: HistogramVec,
    client_tls: IntCounterVec,
    target_tls: IntCounterVec,
    target_connect: IntCounterVec,
    client_identity: IntCounterVec,
}

fn counter(name: &str, help: &str) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), &LABELS).expect("valid metric")
}

impl Families {
    fn new() -> Families {
        let status = |class: u8| {
            counter(
                &format!("HTTPCode_Target_{class}XX_Count"),
                &format!("Responses from targets with a {class}xx status code."),
            )
        };
        Families {
            active: IntGaugeVec::new(
                Opts::new(
                    "ActiveConnectionCount",
                    "Downstream connections open now on the listener.",
                ),
                &LABELS,
            )
            .expect("valid metric"),
            new_connections: counter(
                "NewConnectionCount",
                "Downstream connections opened on the listener.",
            ),
            processed_bytes: counter(
                "ProcessedBytes",
                "Bytes received from and sent to downstream clients.",
            ),
            requests: counter("RequestCount", "Requests received from downstream clients."),
            grpc_requests: counter(
                "GrpcRequestCount",
                "gRPC requests received from downstream clients.",
            ),
            status: [status(2), status(3), status(4), status(5)],
            per_target: IntCounterVec::new(
                Opts::new(
                    "RequestCountPerTarget",
                    "Responses from each target (label target: the endpoint's ip:port).",
                ),
                &TARGET_LABELS,
            )
            .expect("valid metric"),
            target_bytes: counter(
                "TargetProcessedBytes",
                "Bytes received from and sent to targets.",
            ),
            response_time: HistogramVec::new(
                HistogramOpts::new(
                    "TargetResponseTime",
                    "Time from sending a request to a target to its response, in milliseconds.",
                )
                .buckets(RESPONSE_TIME_BUCKETS_MS.to_vec()),
                &LABELS,
            )
            .expect("valid metric"),
            client_tls: counter(
                "ClientTLSNegotiationErrorCount",
                "Failed TLS handshakes with downstream clients.",
            ),
            target_tls: counter(
                "TargetTLSNegotiationErrorCount",
                "Failed TLS handshakes with targets.",
            ),
            target_connect: counter(
                "TargetConnectionErrorCount",
                "Connections to targets that failed: refused, unreachable, or not \
                 established within the connect timeout (berth's; Envoy's \
                 upstream_cx_connect_fail).",
            ),
            client_identity: IntCounterVec::new(
                Opts::new(
                    "ClientIdentityConnectionCount",
                    "TLS connections from clients that presented a verified certificate, by \
                     its identity (label ClientIdentity: its URI SAN; berth's, for mutual TLS).",
                ),
                &IDENTITY_LABELS,
            )
            .expect("valid metric"),
        }
    }

    fn collectors(&self) -> Vec<Box<dyn Collector>> {
        let mut all: Vec<Box<dyn Collector>> = vec![
            Box::new(self.active.clone()),
            Box::new(self.new_connections.clone()),
            Box::new(self.processed_bytes.clone()),
            Box::new(self.requests.clone()),
            Box::new(self.grpc_requests.clone()),
            Box::new(self.per_target.clone()),
            Box::new(self.target_bytes.clone()),
            Box::new(self.response_time.clone()),
            Box::new(self.client_tls.clone()),
            Box::new(self.target_tls.clone()),
            Box::new(self.target_connect.clone()),
            Box::new(self.client_identity.clone()),
        ];
        for s in &self.status {
            all.push(Box::new(s.clone()));
        }
        all
    }
}

/// All metrics of one proxy. `Send + Sync`; share it in an `Arc`.
pub struct Metrics {
    registry: Registry,
    families: Arc<Families>,
    /// A load balancer's families (`AWS/ApplicationELB`), in a registry of their own.
    alb_registry: Registry,
    alb: Arc<AlbFamilies>,
    listeners: Mutex<HashMap<Dims, ListenerMetrics>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// No listeners yet.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let families = Families::new();
        for c in families.collectors() {
            registry.register(c).expect("metric names are unique");
        }
        let alb_registry = Registry::new();
        let alb = AlbFamilies::new();
        for c in alb.collectors() {
            alb_registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            families: Arc::new(families),
            alb_registry,
            alb: Arc::new(alb),
            listeners: Mutex::new(HashMap::new()),
        }
    }

    /// The handles for one listener's metrics: look them up once (at snapshot apply) and
    /// use them on the hot path, where they take no lock and do no map lookup. Asking
    /// twice for the same `dims` gives handles to the same series; the series start at 0
    /// and appear in [`render`](Self::render) from this call on.
    pub fn listener(&self, dims: &Dims) -> ListenerMetrics {
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = listeners.get(dims) {
            return l.clone();
        }
        let l = ListenerMetrics::new(&self.families, dims);
        listeners.insert(dims.clone(), l.clone());
        l
    }

    /// Drops a listener's series (all of them, `RequestCountPerTarget` included) from
    /// [`render`](Self::render), e.g. when a snapshot removes the listener. Handles still
    /// held keep working but are no longer exported; a later [`listener`](Self::listener)
    /// call starts the series again from 0.
    pub fn remove_listener(&self, dims: &Dims) {
        // Under the lock, so that a concurrent `listener` call for the same dims does not
        // pick up series about to be removed.
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = listeners.remove(dims) {
            l.remove_series();
        }
    }

    /// The handles of a load balancer's metrics (`LoadBalancer` = `dimension`,
    /// `app/<name>/<id>`); its series appear in [`render`](Self::render) from now on.
    pub fn load_balancer(&self, dimension: &str) -> LoadBalancerMetrics {
        LoadBalancerMetrics::new(&self.alb, dimension)
    }

    /// Drops every series of a load balancer (it is gone from the snapshot).
    pub fn remove_load_balancer(&self, dimension: &str) {
        self.alb.retain(dimension, true, &|_| false);
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, for the admin
    /// endpoint (content type [`Metrics::CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        families.extend(self.alb_registry.gather());
        let mut out = Vec::with_capacity(4096);
        TextEncoder::new()
            .encode(&families, &mut out)
            .expect("text encoding into a Vec does not fail");
        String::from_utf8(out).expect("the text exposition is UTF-8")
    }

    /// The content type of [`render`](Self::render)'s output.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";
}

/// The label values of one listener, in [`LABELS`] order.
fn label_values(dims: &Dims) -> [String; 5] {
    let (discovery, target_discovery) = match dims.direction {
        Direction::Ingress => (dims.discovery_name.clone(), String::new()),
        Direction::Egress => (String::new(), dims.discovery_name.clone()),
    };
    [
        discovery,
        target_discovery,
        dims.service_name.clone(),
        dims.cluster_name.clone(),
        dims.direction.as_str().to_string(),
    ]
}

struct ListenerInner {
    families: Arc<Families>,
    labels: [String; 5],
    active: IntGauge,
    new_connections: IntCounter,
    processed_bytes: IntCounter,
    requests: IntCounter,
    grpc_requests: IntCounter,
    client_tls: IntCounter,
    target_tls: IntCounter,
    target_connect: IntCounter,
    response: Arc<ResponseMetrics>,
    /// `RequestCountPerTarget` for the targets seen so far.
    targets: RwLock<HashMap<SocketAddr, IntCounter>>,
    /// The client identities seen so far (their series go with the listener's).
    identities: Mutex<HashSet<String>>,
}

/// What a target response updates besides `RequestCountPerTarget`.
struct ResponseMetrics {
    /// Status classes 2xx … 5xx.
    status: [IntCounter; 4],
    response_time: Histogram,
    target_bytes: IntCounter,
}

impl ResponseMetrics {
    #[inline]
    fn record(&self, status: u16, elapsed: Duration, target_bytes: u64) {
        if let 200..=599 = status {
            self.status[usize::from(status / 100 - 2)].inc();
        }
        self.response_time.observe(elapsed.as_secs_f64() * 1000.0);
        if target_bytes > 0 {
            self.target_bytes.inc_by(target_bytes);
        }
    }
}

/// The metrics of one listener (cheap to clone; clones share the series). Each method is a
/// few atomic operations.
#[derive(Clone)]
pub struct ListenerMetrics {
    inner: Arc<ListenerInner>,
}

impl std::fmt::Debug for ListenerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerMetrics")
            .field("labels", &self.inner.labels)
            .finish_non_exhaustive()
    }
}

impl ListenerMetrics {
    fn new(families: &Arc<Families>, dims: &Dims) -> ListenerMetrics {
        let labels = label_values(dims);
        let l: Vec<&str> = labels.iter().map(String::as_str).collect();
        let f = families;
        ListenerMetrics {
            inner: Arc::new(ListenerInner {
                active: f.active.with_label_values(&l),
                new_connections: f.new_connections.with_label_values(&l),
                processed_bytes: f.processed_bytes.with_label_values(&l),
                requests: f.requests.with_label_values(&l),
                grpc_requests: f.grpc_requests.with_label_values(&l),
                client_tls: f.client_tls.with_label_values(&l),
                target_tls: f.target_tls.with_label_values(&l),
                target_connect: f.target_connect.with_label_values(&l),
                response: Arc::new(ResponseMetrics {
                    status: [
                        f.status[0].with_label_values(&l),
                        f.status[1].with_label_values(&l),
                        f.status[2].with_label_values(&l),
                        f.status[3].with_label_values(&l),
                    ],
                    response_time: f.response_time.with_label_values(&l),
                    target_bytes: f.target_bytes.with_label_values(&l),
                }),
                targets: RwLock::new(HashMap::new()),
                identities: Mutex::new(HashSet::new()),
                families: Arc::clone(families),
                labels,
            }),
        }
    }

    /// Handles whose series are in no registry: they count, and nothing exports them
    /// (for traffic exported under other names, such as a load balancer's).
    pub fn unexported() -> ListenerMetrics {
        ListenerMetrics::new(&Arc::new(Families::new()), &Dims::default())
    }

    fn remove_series(&self) {
        let i = &self.inner;
        let f = &i.families;
        let l: Vec<&str> = i.labels.iter().map(String::as_str).collect();
        let _ = f.active.remove_label_values(&l);
        for v in [
            &f.new_connections,
            &f.processed_bytes,
            &f.requests,
            &f.grpc_requests,
            &f.target_bytes,
            &f.client_tls,
            &f.target_tls,
            &f.target_connect,
        ]
        .into_iter()
        .chain(f.status.iter())
        {
            let _ = v.remove_label_values(&l);
        }
        let _ = f.response_time.remove_label_values(&l);
        self.retain_targets(|_| false);
        let ids = std::mem::take(&mut *i.identities.lock().unwrap_or_else(|e| e.into_inner()));
        for id in &ids {
            let mut li = l.clone();
            li.push(id);
            let _ = f.client_identity.remove_label_values(&li);
        }
    }

    /// A downstream connection opened: `NewConnectionCount` +1, and
    /// `ActiveConnectionCount` +1 until the guard drops.
    pub fn connection(&self) -> ConnectionGuard {
        self.inner.new_connections.inc();
        self.inner.active.inc();
        ConnectionGuard {
            active: self.inner.active.clone(),
        }
    }

    /// Bytes from and to the downstream (`ProcessedBytes` counts both).
    pub fn processed_bytes(&self, bytes: u64) {
        self.inner.processed_bytes.inc_by(bytes);
    }

    /// Bytes sent to and received from targets outside any response: a TCP connection's
    /// traffic (`TargetProcessedBytes`).
    pub fn target_bytes(&self, bytes: u64) {
        if bytes > 0 {
            self.inner.response.target_bytes.inc_by(bytes);
        }
    }

    /// A request arrived: `RequestCount` +1, and `GrpcRequestCount` +1 when `grpc`.
    pub fn request(&self, grpc: bool) {
        self.inner.requests.inc();
        if grpc {
            self.inner.grpc_requests.inc();
        }
    }

    /// A response from a target (an endpoint or, for ingress, the local application):
    /// `HTTPCode_Target_<class>XX_Count` +1 (statuses outside 200–599 count in no class),
    /// `RequestCountPerTarget{target}` +1, `TargetResponseTime` observes `elapsed`, and
    /// `TargetProcessedBytes` +`target_bytes` (bytes sent to and received from the target).
    ///
    /// Finding `target`'s counter takes a hash lookup under a read lock; to avoid even
    /// that, resolve the target once with [`target`](Self::target).
    pub fn target_response(
        &self,
        target: SocketAddr,
        status: u16,
        elapsed: Duration,
        target_bytes: u64,
    ) {
        let found = {
            let targets = self.inner.targets.read().unwrap_or_else(|e| e.into_inner());
            targets.get(&target).map(IntCounter::inc).is_some()
        };
        if !found {
            self.target(target).per_target.inc();
        }
        self.inner.response.record(status, elapsed, target_bytes);
    }

    /// The handle for one target of this listener (e.g. resolved per endpoint at snapshot
    /// apply): [`TargetMetrics::response`] is [`target_response`](Self::target_response)
    /// without the lookup.
    pub fn target(&self, target: SocketAddr) -> TargetMetrics {
        let found = {
            let targets = self.inner.targets.read().unwrap_or_else(|e| e.into_inner());
            targets.get(&target).cloned()
        };
        let per_target = found.unwrap_or_else(|| {
            let mut targets = self
                .inner
                .targets
                .write()
                .unwrap_or_else(|e| e.into_inner());
            targets
                .entry(target)
                .or_insert_with(|| {
                    let addr = target.to_string();
                    let mut l: Vec<&str> = self.inner.labels.iter().map(String::as_str).collect();
                    l.push(&addr);
                    self.inner.families.per_target.with_label_values(&l)
                })
                .clone()
        });
        TargetMetrics {
            response: Arc::clone(&self.inner.response),
            per_target,
        }
    }

    /// Keeps the `RequestCountPerTarget` series of the targets for which `keep` is true and
    /// drops the others (e.g. endpoints gone from the snapshot), so that series do not pile
    /// up as tasks come and go.
    pub fn retain_targets(&self, mut keep: impl FnMut(&SocketAddr) -> bool) {
        let mut targets = self
            .inner
            .targets
            .write()
            .unwrap_or_else(|e| e.into_inner());
        targets.retain(|addr, _| {
            let k = keep(addr);
            if !k {
                let a = addr.to_string();
                let mut l: Vec<&str> = self.inner.labels.iter().map(String::as_str).collect();
                l.push(&a);
                let _ = self.inner.families.per_target.remove_label_values(&l);
            }
            k
        });
    }

    /// A TLS handshake with a downstream client failed (`ClientTLSNegotiationErrorCount`).
    pub fn client_tls_error(&self) {
        self.inner.client_tls.inc();
    }

    /// A connection to a target failed: refused, unreachable or timed out
    /// (`TargetConnectionErrorCount`).
    pub fn target_connect_error(&self) {
        self.inner.target_connect.inc();
    }

    /// A TLS handshake with a target failed (`TargetTLSNegotiationErrorCount`).
    pub fn target_tls_error(&self) {
        self.inner.target_tls.inc();
    }

    /// A client connected over TLS with a verified certificate naming `identity`
    /// (`ClientIdentityConnectionCount`, berth's). Once per connection: a lookup.
    pub fn client_identity(&self, identity: &str) {
        let i = &self.inner;
        let mut l: Vec<&str> = i.labels.iter().map(String::as_str).collect();
        l.push(identity);
        i.families.client_identity.with_label_values(&l).inc();
        let mut ids = i.identities.lock().unwrap_or_else(|e| e.into_inner());
        if !ids.contains(identity) {
            ids.insert(identity.to_string());
        }
    }
}

/// The metrics of one target of one listener, from [`ListenerMetrics::target`].
#[derive(Clone)]
pub struct TargetMetrics {
    response: Arc<ResponseMetrics>,
    per_target: IntCounter,
}

impl std::fmt::Debug for TargetMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetMetrics").finish_non_exhaustive()
    }
}

impl TargetMetrics {
    /// A response from this target: as [`ListenerMetrics::target_response`].
    pub fn response(&self, status: u16, elapsed: Duration, target_bytes: u64) {
        self.per_target.inc();
        self.response.record(status, elapsed, target_bytes);
    }
}

/// An open downstream connection: dropping it decrements `ActiveConnectionCount`.
#[derive(Debug)]
#[must_use = "the connection counts as active only while the guard lives"]
pub struct ConnectionGuard {
    active: IntGauge,
}

impl ConnectionGuard {
    pub(crate) fn new(active: IntGauge) -> ConnectionGuard {
        ConnectionGuard { active }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.active.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// One sample of the exposition: name, labels, value.
    type Sample = (String, BTreeMap<String, String>, f64);

    fn parse(text: &str) -> Vec<Sample> {
        let mut out = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().expect("number"),
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => {
                    let rest = rest.strip_suffix('}').expect("closing brace");
                    let labels = rest
                        .split(',')
                        .filter(|kv| !kv.is_empty())
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').expect("k=v");
                            (k.to_string(), v.trim_matches('"').to_string())
                        })
                        .collect();
                    (n.to_string(), labels)
                }
                None => (series.to_string(), BTreeMap::new()),
            };
            out.push((name, labels, value));
        }
        out
    }

    /// The value of the one sample named `name` whose labels include `want`.
    fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert_eq!(found.len(), 1, "{name} {want:?}: {found:?}");
        found[0].2
    }

    fn ingress() -> Dims {
        Dims {
            direction: Direction::Ingress,
            discovery_name: "orders".into(),
            service_name: "orders-svc".into(),
            cluster_name: "prod".into(),
        }
    }

    fn egress() -> Dims {
        Dims {
            direction: Direction::Egress,
            discovery_name: "payments".into(),
            service_name: "orders-svc".into(),
            cluster_name: "prod".into(),
        }
    }

    const IN: &[(&str, &str)] = &[
        ("DiscoveryName", "orders"),
        ("TargetDiscoveryName", ""),
        ("ServiceName", "orders-svc"),
        ("ClusterName", "prod"),
        ("direction", "ingress"),
    ];
    const OUT: &[(&str, &str)] = &[
        ("DiscoveryName", ""),
        ("TargetDiscoveryName", "payments"),
        ("ServiceName", "orders-svc"),
        ("ClusterName", "prod"),
        ("direction", "egress"),
    ];

    const NAMES: &[&str] = &[
        "ActiveConnectionCount",
        "NewConnectionCount",
        "ProcessedBytes",
        "RequestCount",
        "GrpcRequestCount",
        "HTTPCode_Target_2XX_Count",
        "HTTPCode_Target_3XX_Count",
        "HTTPCode_Target_4XX_Count",
        "HTTPCode_Target_5XX_Count",
        "RequestCountPerTarget",
        "TargetProcessedBytes",
        "TargetResponseTime",
        "ClientTLSNegotiationErrorCount",
        "TargetTLSNegotiationErrorCount",
        "TargetConnectionErrorCount",
    ];

    #[test]
    fn every_metric_with_labels_and_values() {
        let m = Metrics::new();
        let i = m.listener(&ingress());
        let e = m.listener(&egress());
        let app: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let ep1: SocketAddr = "10.0.0.5:80".parse().unwrap();
        let ep2: SocketAddr = "[fd00::7]:80".parse().unwrap();

        let c1 = i.connection();
        let c2 = i.connection();
        drop(c1);
        i.processed_bytes(100);
        i.processed_bytes(23);
        i.request(false);
        i.request(true);
        i.target_response(app, 200, Duration::from_millis(3), 50);
        i.target_response(app, 503, Duration::from_millis(7), 10);
        i.client_tls_error();

        let _e1 = e.connection();
        e.request(false);
        e.request(false);
        e.request(false);
        e.target_response(ep1, 204, Duration::from_micros(50), 0);
        e.target_response(ep1, 302, Duration::from_millis(1), 1);
        e.target_response(ep2, 404, Duration::from_secs(2), 2);
        e.target("10.0.0.5:80".parse().unwrap())
            .response(499, Duration::ZERO, 0);
        e.target_response(ep2, 101, Duration::ZERO, 0); // in no class
        e.target_tls_error();
        e.target_tls_error();
        e.target_connect_error();

        let text = m.render();
        for name in NAMES {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "HELP {name}:\n{text}"
            );
            let kind = match *name {
                "ActiveConnectionCount" => "gauge",
                "TargetResponseTime" => "histogram",
                _ => "counter",
            };
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "TYPE {name}:\n{text}"
            );
        }
        assert!(!text.contains("_total"));
        let s = parse(&text);
        // Every series carries the five labels.
        for (name, labels, _) in &s {
            for k in LABELS {
                assert!(labels.contains_key(k), "{name} lacks {k}");
            }
        }

        assert_eq!(value(&s, "ActiveConnectionCount", IN), 1.0);
        assert_eq!(value(&s, "NewConnectionCount", IN), 2.0);
        assert_eq!(value(&s, "ProcessedBytes", IN), 123.0);
        assert_eq!(value(&s, "RequestCount", IN), 2.0);
        assert_eq!(value(&s, "GrpcRequestCount", IN), 1.0);
        assert_eq!(value(&s, "HTTPCode_Target_2XX_Count", IN), 1.0);
        assert_eq!(value(&s, "HTTPCode_Target_5XX_Count", IN), 1.0);
        assert_eq!(value(&s, "HTTPCode_Target_4XX_Count", IN), 0.0);
        let app_t = [IN, &[("target", "127.0.0.1:8080")]].concat();
        assert_eq!(value(&s, "RequestCountPerTarget", &app_t), 2.0);
        assert_eq!(value(&s, "TargetProcessedBytes", IN), 60.0);
        assert_eq!(value(&s, "TargetResponseTime_count", IN), 2.0);
        assert_eq!(value(&s, "TargetResponseTime_sum", IN), 10.0);
        assert_eq!(value(&s, "ClientTLSNegotiationErrorCount", IN), 1.0);
        assert_eq!(value(&s, "TargetTLSNegotiationErrorCount", IN), 0.0);

        assert_eq!(value(&s, "ActiveConnectionCount", OUT), 1.0);
        assert_eq!(value(&s, "NewConnectionCount", OUT), 1.0);
        assert_eq!(value(&s, "RequestCount", OUT), 3.0);
        assert_eq!(value(&s, "GrpcRequestCount", OUT), 0.0);
        assert_eq!(value(&s, "HTTPCode_Target_2XX_Count", OUT), 1.0);
        assert_eq!(value(&s, "HTTPCode_Target_3XX_Count", OUT), 1.0);
        assert_eq!(value(&s, "HTTPCode_Target_4XX_Count", OUT), 2.0);
        assert_eq!(value(&s, "HTTPCode_Target_5XX_Count", OUT), 0.0);
        let ep1_t = [OUT, &[("target", "10.0.0.5:80")]].concat();
        let ep2_t = [OUT, &[("target", "[fd00::7]:80")]].concat();
        assert_eq!(value(&s, "RequestCountPerTarget", &ep1_t), 3.0);
        assert_eq!(value(&s, "RequestCountPerTarget", &ep2_t), 2.0);
        assert_eq!(value(&s, "TargetProcessedBytes", OUT), 3.0);
        assert_eq!(value(&s, "TargetResponseTime_count", OUT), 5.0);
        assert_eq!(value(&s, "TargetTLSNegotiationErrorCount", OUT), 2.0);
        assert_eq!(value(&s, "TargetConnectionErrorCount", OUT), 1.0);
        assert_eq!(value(&s, "TargetConnectionErrorCount", IN), 0.0);
        drop(c2);
    }

    #[test]
    fn histogram_buckets_in_milliseconds() {
        let m = Metrics::new();
        let e = m.listener(&egress());
        let t: SocketAddr = "10.0.0.5:80".parse().unwrap();
        for d in [
            Duration::from_micros(50),   // 0.05 ms
            Duration::from_micros(100),  // 0.1 ms, on the bound
            Duration::from_micros(2400), // 2.4 ms
            Duration::from_millis(40),
            Duration::from_secs(29),
            Duration::from_secs(31), // above every bound
        ] {
            e.target_response(t, 200, d, 0);
        }
        let s = parse(&m.render());
        let bucket = |le: &str| {
            value(
                &s,
                "TargetResponseTime_bucket",
                &[OUT, &[("le", le)]].concat(),
            )
        };
        assert_eq!(bucket("0.1"), 2.0);
        assert_eq!(bucket("0.25"), 2.0);
        assert_eq!(bucket("2.5"), 3.0);
        assert_eq!(bucket("25"), 3.0);
        assert_eq!(bucket("50"), 4.0);
        assert_eq!(bucket("15000"), 4.0);
        assert_eq!(bucket("30000"), 5.0);
        assert_eq!(bucket("+Inf"), 6.0);
        assert_eq!(value(&s, "TargetResponseTime_count", OUT), 6.0);
        let sum = value(&s, "TargetResponseTime_sum", OUT);
        assert!((sum - (0.05 + 0.1 + 2.4 + 40.0 + 29_000.0 + 31_000.0)).abs() < 1e-6);
        // Every configured bound is exported.
        let les: Vec<&String> = s
            .iter()
            .filter(|(n, _, _)| n == "TargetResponseTime_bucket")
            .map(|(_, l, _)| &l["le"])
            .collect();
        assert_eq!(les.len(), RESPONSE_TIME_BUCKETS_MS.len() + 1);
    }

    #[test]
    fn connection_gauge_up_and_down() {
        let m = Metrics::new();
        let l = m.listener(&ingress());
        let active = |m: &Metrics| value(&parse(&m.render()), "ActiveConnectionCount", IN);
        assert_eq!(active(&m), 0.0);
        let guards: Vec<ConnectionGuard> = (0..5).map(|_| l.connection()).collect();
        assert_eq!(active(&m), 5.0);
        drop(guards);
        assert_eq!(active(&m), 0.0);
        // Across threads.
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let _g = l.connection();
                        l.request(false);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = parse(&m.render());
        assert_eq!(value(&s, "ActiveConnectionCount", IN), 0.0);
        assert_eq!(value(&s, "NewConnectionCount", IN), 4005.0);
        assert_eq!(value(&s, "RequestCount", IN), 4000.0);
    }

    #[test]
    fn same_dims_share_series_and_removal() {
        let m = Metrics::new();
        let a = m.listener(&egress());
        let b = m.listener(&egress());
        a.request(false);
        b.request(false);
        let t1: SocketAddr = "10.0.0.5:80".parse().unwrap();
        let t2: SocketAddr = "10.0.0.6:80".parse().unwrap();
        a.target_response(t1, 200, Duration::ZERO, 0);
        b.target_response(t2, 200, Duration::ZERO, 0);
        let s = parse(&m.render());
        assert_eq!(value(&s, "RequestCount", OUT), 2.0);

        a.retain_targets(|t| *t == t2);
        let text = m.render();
        assert!(!text.contains("10.0.0.5:80"));
        assert!(text.contains("10.0.0.6:80"));

        m.listener(&ingress());
        m.remove_listener(&egress());
        let text = m.render();
        assert!(!text.contains("payments"), "{text}");
        assert!(text.contains("orders"));
        // Old handles still work, unexported; a new listener starts from 0.
        a.request(false);
        let s = parse(&m.render());
        assert!(s.iter().all(|(_, l, _)| l["direction"] == "ingress"));
        let c = m.listener(&egress());
        c.request(false);
        assert_eq!(value(&parse(&m.render()), "RequestCount", OUT), 1.0);
    }

    #[test]
    fn send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Metrics>();
        check::<ListenerMetrics>();
        check::<TargetMetrics>();
        check::<ConnectionGuard>();
    }

    #[test]
    fn tcp_traffic_counts_as_target_bytes() {
        let m = Metrics::new();
        let l = m.listener(&Dims {
            direction: Direction::Egress,
            discovery_name: "db".into(),
            service_name: "api".into(),
            cluster_name: "c".into(),
        });
        l.target_bytes(100);
        l.target_bytes(0);
        l.target_bytes(23);
        let text = m.render();
        assert!(
            text.lines()
                .any(|line| line.starts_with("TargetProcessedBytes{")
                    && line.contains("TargetDiscoveryName=\"db\"")
                    && line.ends_with(" 123")),
            "{text}"
        );
    }
}
