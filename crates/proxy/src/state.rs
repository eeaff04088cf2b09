//! The runtime form of a [`Snapshot`]: what the request path reads. [`build`] converts a
//! snapshot, reusing what survives from the previous state (balancers with their endpoint
//! health, connection pools, retry budgets, the access logger), outside any lock; the
//! result is then published (each listener's [`Route`] through its `ArcSwap`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use berth_balance::{Balancer, RetryBudget};
use berth_proxy_config::{AccessLog, Protocol, Retries, Snapshot};
use berth_telemetry::{AccessLogger, Dims, Direction, ListenerMetrics, Metrics, TargetMetrics};
use http::uri::Authority;

use crate::client::{ClientKey, Clients};
use crate::fasthash::FastMap;

/// Makes the writer of an access logger (one per access log configuration in force).
pub type LogWriterFactory = Arc<dyn Fn() -> Box<dyn Write + Send> + Send + Sync>;

/// What a listener does with its connections; swapped whole on apply.
pub(crate) struct Route {
    pub kind: RouteKind,
    pub log: LogCtx,
}

pub(crate) enum RouteKind {
    Egress(Arc<UpstreamRt>),
    Ingress(Box<IngressRoute>),
}

impl Route {
    pub(crate) fn protocol(&self) -> Protocol {
        match &self.kind {
            RouteKind::Egress(u) => u.protocol,
            RouteKind::Ingress(i) => i.protocol,
        }
    }

    pub(crate) fn idle(&self) -> Option<Duration> {
        match &self.kind {
            RouteKind::Egress(u) => u.idle,
            RouteKind::Ingress(i) => i.idle,
        }
    }

    pub(crate) fn is_ingress(&self) -> bool {
        matches!(self.kind, RouteKind::Ingress(_))
    }
}

/// Metrics and access logging of one listener.
pub(crate) struct LogCtx {
    pub metrics: ListenerMetrics,
    pub logger: Option<Arc<AccessLogger>>,
    pub direction: Direction,
    /// The listener's name in access logs (egress alias, ingress discovery name).
    pub name: String,
}

/// An ingress listener's target: the local application.
pub(crate) struct IngressRoute {
    pub app: SocketAddr,
    pub authority: Authority,
    pub protocol: Protocol,
    pub per_request: Option<Duration>,
    pub idle: Option<Duration>,
    pub client: Option<(ClientKey, Clients)>,
    pub target: TargetMetrics,
}

/// One upstream service: its endpoints, balancing, pool and settings.
pub(crate) struct UpstreamRt {
    pub name: String,
    pub protocol: Protocol,
    pub per_request: Option<Duration>,
    pub idle: Option<Duration>,
    pub retries: Retries,
    pub balancer: Arc<Balancer>,
    pub budget: Arc<RetryBudget>,
    budget_key: (u32, u32),
    pub client: Option<(ClientKey, Clients)>,
    pub endpoints: FastMap<SocketAddr, EndpointRt>,
    pub metrics: ListenerMetrics,
}

/// What the request path needs per endpoint, resolved once per snapshot.
#[derive(Clone)]
pub(crate) struct EndpointRt {
    pub authority: Authority,
    pub metrics: TargetMetrics,
}

impl UpstreamRt {
    /// The endpoint's authority and metrics (resolved now if the endpoint is newer than
    /// this state, which happens for a moment during an apply).
    pub(crate) fn endpoint(&self, addr: SocketAddr) -> EndpointRt {
        match self.endpoints.get(&addr) {
            Some(e) => e.clone(),
            None => endpoint_rt(&self.metrics, addr),
        }
    }
}

fn endpoint_rt(metrics: &ListenerMetrics, addr: SocketAddr) -> EndpointRt {
    EndpointRt {
        authority: authority(addr),
        metrics: metrics.target(addr),
    }
}

pub(crate) fn authority(addr: SocketAddr) -> Authority {
    Authority::try_from(addr.to_string()).expect("a socket address is an authority")
}

/// Everything the proxy runs at one version.
pub(crate) struct State {
    pub version: u64,
    pub snapshot: Snapshot,
    pub upstreams: BTreeMap<String, Arc<UpstreamRt>>,
    pub routes: HashMap<SocketAddr, Arc<Route>>,
    pub logger: Option<(AccessLog, Arc<AccessLogger>)>,
    pub dims: HashSet<Dims>,
}

/// What [`build`] needs besides the snapshot.
pub(crate) struct BuildCtx<'a> {
    pub metrics: &'a Metrics,
    pub connect_timeout: Duration,
    pub log_writer: Option<&'a LogWriterFactory>,
    /// Worker threads (each gets its own upstream pools).
    pub workers: usize,
}

/// Converts `snapshot` (validated) into a [`State`], keeping what `prev` has that still
/// applies. Balancers that stay are updated in place, so endpoint health survives.
pub(crate) fn build(snapshot: Snapshot, prev: Option<&State>, ctx: &BuildCtx<'_>) -> State {
    let logger = snapshot.access_log.map(|cfg| logger_for(cfg, prev, ctx));
    let log = logger.as_ref().map(|(_, l)| Arc::clone(l));
    let mut dims = HashSet::new();
    let dims_of = |direction, name: &str| Dims {
        direction,
        discovery_name: name.to_string(),
        service_name: snapshot.service_name.clone(),
        cluster_name: snapshot.cluster_name.clone(),
    };
    let mut upstreams = BTreeMap::new();
    for (name, u) in &snapshot.upstreams {
        let d = dims_of(Direction::Egress, name);
        let old = prev.and_then(|p| p.upstreams.get(name));
        upstreams.insert(
            name.clone(),
            upstream_rt(name, u, old, ctx.metrics.listener(&d), ctx),
        );
        dims.insert(d);
    }
    let mut routes = HashMap::new();
    for e in &snapshot.egress {
        let up = Arc::clone(&upstreams[&e.upstream]);
        let route = Route {
            log: LogCtx {
                metrics: up.metrics.clone(),
                logger: log.clone(),
                direction: Direction::Egress,
                name: e.alias.clone(),
            },
            kind: RouteKind::Egress(up),
        };
        routes.insert(e.listen, Arc::new(route));
    }
    for g in &snapshot.ingress {
        let d = dims_of(Direction::Ingress, &g.discovery_name);
        let route = ingress_route(g, prev, ctx.metrics.listener(&d), log.clone(), ctx);
        dims.insert(d);
        routes.insert(g.listen, Arc::new(route));
    }
    State {
        version: snapshot.version,
        snapshot,
        upstreams,
        routes,
        logger,
        dims,
    }
}

/// The access logger for `cfg`: the previous one when its configuration is the same.
fn logger_for(
    cfg: AccessLog,
    prev: Option<&State>,
    ctx: &BuildCtx<'_>,
) -> (AccessLog, Arc<AccessLogger>) {
    match prev.and_then(|p| p.logger.as_ref()) {
        Some((old, l)) if *old == cfg => (cfg, Arc::clone(l)),
        _ => {
            let l = match ctx.log_writer {
                Some(w) => AccessLogger::to_writer(cfg, w()),
                None => AccessLogger::stdout(cfg),
            };
            (cfg, Arc::new(l))
        }
    }
}

/// The upstream client pools for `protocol` (none for TCP): `old`'s when its settings
/// are the same, so pooled connections survive a snapshot.
fn client_for(
    protocol: Protocol,
    idle: Option<Duration>,
    old: Option<&(ClientKey, Clients)>,
    ctx: &BuildCtx<'_>,
) -> Option<(ClientKey, Clients)> {
    protocol.is_http().then(|| {
        let key = ClientKey::new(protocol, idle, ctx.connect_timeout);
        match old {
            Some((k, c)) if *k == key => (key, c.clone()),
            _ => (key, key.build(ctx.workers)),
        }
    })
}

/// One upstream's runtime form; its balancer, retry budget and pools kept from `old`
/// where they still apply.
fn upstream_rt(
    name: &str,
    u: &berth_proxy_config::Upstream,
    old: Option<&Arc<UpstreamRt>>,
    metrics: ListenerMetrics,
    ctx: &BuildCtx<'_>,
) -> Arc<UpstreamRt> {
    let addrs: Vec<SocketAddr> = u.endpoints.iter().map(|e| e.address).collect();
    let balancer = match old {
        Some(o) => {
            o.balancer
                .update(&addrs, u.load_balancing, u.outlier_detection);
            Arc::clone(&o.balancer)
        }
        None => Arc::new(Balancer::new(&addrs, u.load_balancing, u.outlier_detection)),
    };
    let budget_key = (u.retries.budget_percent, u.retries.min_retries_per_second);
    let budget = match old {
        Some(o) if o.budget_key == budget_key => Arc::clone(&o.budget),
        _ => Arc::new(RetryBudget::new(budget_key.0, budget_key.1)),
    };
    let idle = u.timeout.idle(u.protocol);
    let client = client_for(u.protocol, idle, old.and_then(|o| o.client.as_ref()), ctx);
    let keep: HashSet<SocketAddr> = addrs.iter().copied().collect();
    metrics.retain_targets(|a| keep.contains(a));
    let endpoints = addrs
        .iter()
        .map(|a| (*a, endpoint_rt(&metrics, *a)))
        .collect();
    Arc::new(UpstreamRt {
        name: name.to_string(),
        protocol: u.protocol,
        per_request: u.timeout.per_request(u.protocol),
        idle,
        retries: u.retries,
        balancer,
        budget,
        budget_key,
        client,
        endpoints,
        metrics,
    })
}

/// An ingress listener's route to the application; its pools kept from the previous
/// route of the same listener to the same application.
fn ingress_route(
    g: &berth_proxy_config::Ingress,
    prev: Option<&State>,
    metrics: ListenerMetrics,
    logger: Option<Arc<AccessLogger>>,
    ctx: &BuildCtx<'_>,
) -> Route {
    metrics.retain_targets(|a| *a == g.app);
    let idle = g.timeout.idle(g.protocol);
    let old = prev
        .and_then(|p| p.routes.get(&g.listen))
        .and_then(|r| match &r.kind {
            RouteKind::Ingress(i) if i.app == g.app => i.client.as_ref(),
            _ => None,
        });
    Route {
        kind: RouteKind::Ingress(Box::new(IngressRoute {
            app: g.app,
            authority: authority(g.app),
            protocol: g.protocol,
            per_request: g.timeout.per_request(g.protocol),
            idle,
            client: client_for(g.protocol, idle, old, ctx),
            target: metrics.target(g.app),
        })),
        log: LogCtx {
            metrics,
            logger,
            direction: Direction::Ingress,
            name: g.discovery_name.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(json: &str) -> Snapshot {
        Snapshot::from_json(json.as_bytes()).unwrap()
    }

    fn ctx(m: &Metrics) -> BuildCtx<'_> {
        BuildCtx {
            metrics: m,
            connect_timeout: Duration::from_secs(1),
            log_writer: None,
            workers: 2,
        }
    }

    #[test]
    fn kept_upstreams_keep_their_balancer_and_pool() {
        let m = Metrics::new();
        let s1 = snap(
            r#"{"version": 1, "egress": [{"alias": "a:80", "listen": "127.0.0.1:0", "upstream": "a"}],
                "upstreams": {"a": {"protocol": "http", "endpoints": [{"address": "127.0.0.1:1"}]},
                              "b": {"protocol": "http"}}}"#,
        );
        let st1 = build(s1, None, &ctx(&m));
        let s2 = snap(
            r#"{"version": 2, "egress": [{"alias": "a:80", "listen": "127.0.0.1:0", "upstream": "a"}],
                "upstreams": {"a": {"protocol": "http", "endpoints": [{"address": "127.0.0.1:1"}, {"address": "127.0.0.1:2"}]},
                              "b": {"protocol": "http2"}}}"#,
        );
        let st2 = build(s2, Some(&st1), &ctx(&m));
        let (a1, a2) = (&st1.upstreams["a"], &st2.upstreams["a"]);
        assert!(Arc::ptr_eq(&a1.balancer, &a2.balancer));
        assert_eq!(a2.balancer.len(), 2);
        assert!(Arc::ptr_eq(&a1.budget, &a2.budget));
        assert_eq!(a1.client.as_ref().unwrap().0, a2.client.as_ref().unwrap().0);
        assert_eq!(a2.endpoints.len(), 2);
        // A changed protocol gets a new pool.
        assert!(st2.upstreams["b"].client.as_ref().unwrap().0.http2);
        assert_eq!(st2.routes.len(), 1);
    }

    #[test]
    fn tcp_has_no_client_and_its_own_idle_default() {
        let m = Metrics::new();
        let s = snap(
            r#"{"version": 1, "ingress": [{"discoveryName": "db", "listen": "127.0.0.1:0", "app": "127.0.0.1:5432"}],
                "upstreams": {"db": {}}}"#,
        );
        let st = build(s, None, &ctx(&m));
        let u = &st.upstreams["db"];
        assert!(u.client.is_none());
        assert_eq!(u.idle, Some(Duration::from_secs(3600)));
        assert_eq!(u.per_request, None);
        let r = &st.routes[&"127.0.0.1:0".parse().unwrap()];
        assert!(r.is_ingress());
        assert_eq!(r.protocol(), Protocol::Tcp);
    }
}
