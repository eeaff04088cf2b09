//! The runtime form of a [`Snapshot`]: what the request path reads. [`build`] converts a
//! snapshot, reusing what survives from the previous state (balancers with their endpoint
//! health, connection pools, retry budgets, the access logger), outside any lock; the
//! result is then published (each listener's [`Route`] through its `ArcSwap`). A load
//! balancer's snapshot has its own types here ([`AlbListener`], [`AlbRt`],
//! [`GroupRt`]), built by `alb_state`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use berth_balance::{Balancer, RetryBudget};
use berth_proxy_config::{AccessLog, AnySnapshot, Protocol, Retries, Snapshot};
use berth_telemetry::{
    AccessLogger, Dims, Direction, ListenerMetrics, LoadBalancerMetrics, Metrics,
    TargetGroupMetrics, TargetMetrics,
};
use bytes::Bytes;
use http::uri::Authority;

use crate::alb_reply::RedirectTo;
use crate::client::{ClientKey, Clients};
use crate::conn_ctx::ConnCtx;
use crate::fasthash::FastMap;
use crate::health::{GroupHealth, HealthReport};
use crate::rules::RuleSet;
use crate::tls::{ClientTls, ServerTls, TlsConfigError};

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
    /// A load balancer's listener.
    Alb(Arc<AlbListener>),
}

impl Route {
    pub(crate) fn protocol(&self) -> Protocol {
        match &self.kind {
            RouteKind::Egress(u) => u.protocol,
            RouteKind::Ingress(i) => i.protocol,
            RouteKind::Alb(_) => Protocol::Http,
        }
    }

    pub(crate) fn idle(&self) -> Option<Duration> {
        match &self.kind {
            RouteKind::Egress(u) => u.idle,
            RouteKind::Ingress(i) => i.idle,
            RouteKind::Alb(l) => Some(l.lb.idle),
        }
    }

    /// Whether connections come from outside the task (ingress, and a load balancer's
    /// listeners): such listeners stop accepting when the proxy drains.
    pub(crate) fn is_ingress(&self) -> bool {
        matches!(self.kind, RouteKind::Ingress(_) | RouteKind::Alb(_))
    }

    /// The load balancer listener this route is, if it is one.
    pub(crate) fn alb(&self) -> Option<&Arc<AlbListener>> {
        match &self.kind {
            RouteKind::Alb(l) => Some(l),
            _ => None,
        }
    }
}

/// A load balancer's listener: its rules, over the load balancer's target groups.
pub(crate) struct AlbListener {
    pub lb: Arc<AlbRt>,
    pub rules: RuleSet<AlbAction>,
    /// Who may connect; `None`: everyone.
    pub clients: Option<Vec<berth_proxy_config::alb::Cidr>>,
}

impl AlbListener {
    /// Whether a client at `ip` may connect (the load balancer's security groups).
    pub fn admits(&self, ip: std::net::IpAddr) -> bool {
        (self.clients.as_ref()).is_none_or(|c| c.iter().any(|b| b.contains(ip)))
    }
}

/// A load balancer: what its listeners share.
pub(crate) struct AlbRt {
    pub arn: String,
    /// The `LoadBalancer` dimension, `app/<name>/<id>`.
    pub dimension: String,
    pub metrics: LoadBalancerMetrics,
    /// The access log file and its writer.
    pub logger: Option<(PathBuf, Arc<AccessLogger>)>,
    /// The idle timeout: of client connections, and for a target's answer.
    pub idle: Duration,
    pub groups: BTreeMap<String, Arc<GroupRt>>,
}

/// A target group: its targets as an upstream (pools, the balancer of the targets that
/// get traffic), their health, its metrics.
pub(crate) struct GroupRt {
    pub arn: String,
    pub up: Arc<UpstreamRt>,
    pub metrics: TargetGroupMetrics,
    pub health: Arc<GroupHealth>,
}

/// What a rule does, ready for the request path.
pub(crate) enum AlbAction {
    Forward(Forward),
    Fixed {
        status: u16,
        content_type: String,
        body: Bytes,
    },
    Redirect(RedirectTo),
}

/// A forward action: its groups with their cumulative weights.
pub(crate) struct Forward {
    /// (group, the sum of the weights up to and including it); weight-0 groups left out.
    groups: Vec<(Arc<GroupRt>, u64)>,
    next: AtomicU64,
}

impl Forward {
    /// `groups` and their weights (not all 0).
    pub(crate) fn new(groups: Vec<(Arc<GroupRt>, u32)>) -> Forward {
        let mut sum = 0;
        let groups = groups
            .into_iter()
            .filter(|(_, w)| *w > 0)
            .map(|(g, w)| {
                sum += u64::from(w);
                (g, sum)
            })
            .collect();
        Forward {
            groups,
            next: AtomicU64::new(0),
        }
    }

    /// The group of the next request: each group gets its weight's share, interleaved
    /// in a fixed order (a counter over the total weight).
    pub(crate) fn pick(&self) -> &Arc<GroupRt> {
        let total = self.groups.last().map_or(1, |(_, s)| *s);
        if self.groups.len() == 1 {
            return &self.groups[0].0;
        }
        let n = self.next.fetch_add(1, Relaxed) % total;
        let i = self.groups.partition_point(|(_, s)| *s <= n);
        &self.groups[i].0
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
    /// TLS terminated on the listener.
    pub tls: Option<Arc<ServerTls>>,
}

impl IngressRoute {
    /// Whether the listener requires a client certificate the connection `ctx` did not
    /// present (it was made before the listener required one): its requests are refused.
    pub(crate) fn refuses(&self, ctx: &ConnCtx) -> bool {
        let required = (self.tls.as_ref()).is_some_and(|t| t.requires_client_certificate());
        required && ctx.peer_identity.is_none()
    }
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
    /// TLS to the endpoints (also in `client`'s key).
    pub tls: Option<Arc<ClientTls>>,
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
    pub snapshot: AnySnapshot,
    pub upstreams: BTreeMap<String, Arc<UpstreamRt>>,
    pub routes: HashMap<SocketAddr, Arc<Route>>,
    pub logger: Option<(AccessLog, Arc<AccessLogger>)>,
    pub dims: HashSet<Dims>,
    /// The load balancer, when the snapshot is one.
    pub alb: Option<Arc<AlbRt>>,
}

/// What [`build`] needs besides the snapshot.
pub(crate) struct BuildCtx<'a> {
    pub metrics: &'a Metrics,
    pub connect_timeout: Duration,
    pub log_writer: Option<&'a LogWriterFactory>,
    /// Worker threads (each gets its own upstream pools).
    pub workers: usize,
    /// Where a load balancer's target health changes go.
    pub health_report: &'a HealthReport,
}

/// Converts `snapshot` (validated) into a [`State`], keeping what `prev` has that still
/// applies. Balancers that stay are updated in place, so endpoint health survives.
/// Fails only on unusable TLS material (nothing has changed then).
pub(crate) fn build(
    snapshot: Snapshot,
    prev: Option<&State>,
    ctx: &BuildCtx<'_>,
) -> Result<State, TlsConfigError> {
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
        let tls = upstream_tls(&snapshot, name, old)?;
        upstreams.insert(
            name.clone(),
            upstream_rt(name, u, old, tls, ctx.metrics.listener(&d), ctx),
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
    for (i, g) in snapshot.ingress.iter().enumerate() {
        let d = dims_of(Direction::Ingress, &g.discovery_name);
        let tls = ingress_tls(g, i, prev)?;
        let route = ingress_route(g, prev, tls, ctx.metrics.listener(&d), log.clone(), ctx);
        dims.insert(d);
        routes.insert(g.listen, Arc::new(route));
    }
    Ok(State {
        version: snapshot.version,
        snapshot: AnySnapshot::ServiceConnect(snapshot),
        upstreams,
        routes,
        logger,
        dims,
        alb: None,
    })
}

/// The TLS an upstream is reached with: `old`'s when the settings are the same (so its
/// session cache and pools stay).
fn upstream_tls(
    snapshot: &Snapshot,
    name: &str,
    old: Option<&Arc<UpstreamRt>>,
) -> Result<Option<Arc<ClientTls>>, TlsConfigError> {
    let u = &snapshot.upstreams[name];
    let Some(t) = &u.tls else { return Ok(None) };
    let server_name = snapshot.server_name(name);
    let client = snapshot.client_certificate.as_ref();
    let protocol = (
        u.protocol.is_http(),
        matches!(u.protocol, Protocol::Http2 | Protocol::Grpc),
    );
    if let Some(o) = old.and_then(|o| o.tls.as_ref()) {
        if o.is_for(t, &server_name, client, protocol) {
            return Ok(Some(Arc::clone(o)));
        }
    }
    let field = format!("upstreams.{name}.tls");
    ClientTls::build(t, &server_name, client, protocol, &field).map(|c| Some(Arc::new(c)))
}

/// The TLS an ingress listener terminates: the previous route's when the same.
fn ingress_tls(
    g: &berth_proxy_config::Ingress,
    i: usize,
    prev: Option<&State>,
) -> Result<Option<Arc<ServerTls>>, TlsConfigError> {
    let Some(t) = &g.tls else { return Ok(None) };
    let http = g.protocol.is_http();
    let old = prev
        .and_then(|p| p.routes.get(&g.listen))
        .and_then(|r| match &r.kind {
            RouteKind::Ingress(i) => i.tls.clone(),
            _ => None,
        });
    match old {
        Some(o) if o.is_for(t, http) => Ok(Some(o)),
        _ => ServerTls::build(t, http, &format!("ingress[{i}].tls")).map(|s| Some(Arc::new(s))),
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
pub(crate) fn client_for(
    protocol: Protocol,
    idle: Option<Duration>,
    tls: Option<Arc<ClientTls>>,
    old: Option<&(ClientKey, Clients)>,
    ctx: &BuildCtx<'_>,
) -> Option<(ClientKey, Clients)> {
    protocol.is_http().then(|| {
        let key = ClientKey::new(protocol, idle, ctx.connect_timeout, tls);
        match old {
            Some((k, c)) if *k == key => (key, c.clone()),
            _ => {
                let c = key.build(ctx.workers);
                (key, c)
            }
        }
    })
}

/// One upstream's runtime form; its balancer, retry budget and pools kept from `old`
/// where they still apply.
fn upstream_rt(
    name: &str,
    u: &berth_proxy_config::Upstream,
    old: Option<&Arc<UpstreamRt>>,
    tls: Option<Arc<ClientTls>>,
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
    let old_client = old.and_then(|o| o.client.as_ref());
    let client = client_for(u.protocol, idle, tls.clone(), old_client, ctx);
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
        tls,
        client,
        endpoints,
        metrics,
    })
}

/// A load balancer target group's upstream: the targets that get traffic are those of
/// `balancer` (its health's), `addrs` every registered one; one attempt per request
/// (ALB does not retry), answered within `idle` (504 after). Pools and metrics kept
/// from `old`.
pub(crate) fn group_upstream(
    key: &str,
    balancer: Arc<Balancer>,
    addrs: &[SocketAddr],
    idle: Duration,
    old: Option<&Arc<UpstreamRt>>,
    ctx: &BuildCtx<'_>,
) -> Arc<UpstreamRt> {
    let retries = Retries {
        max_retries: 0,
        ..Retries::default()
    };
    let budget_key = (retries.budget_percent, retries.min_retries_per_second);
    let budget = match old {
        Some(o) => Arc::clone(&o.budget),
        None => Arc::new(RetryBudget::new(budget_key.0, budget_key.1)),
    };
    let metrics = old.map_or_else(ListenerMetrics::unexported, |o| o.metrics.clone());
    let old_client = old.and_then(|o| o.client.as_ref());
    let client = client_for(Protocol::Http, Some(idle), None, old_client, ctx);
    let keep: HashSet<SocketAddr> = addrs.iter().copied().collect();
    metrics.retain_targets(|a| keep.contains(a));
    let endpoints = addrs
        .iter()
        .map(|a| (*a, endpoint_rt(&metrics, *a)))
        .collect();
    Arc::new(UpstreamRt {
        name: key.to_string(),
        protocol: Protocol::Http,
        per_request: Some(idle),
        idle: Some(idle),
        retries,
        balancer,
        budget,
        budget_key,
        tls: None,
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
    tls: Option<Arc<ServerTls>>,
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
            client: client_for(g.protocol, idle, None, old, ctx),
            target: metrics.target(g.app),
            tls,
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
        // Health reports are a load balancer's: none here.
        let report = Box::leak(Box::new(HealthReport::new(Box::new(std::io::sink()))));
        BuildCtx {
            metrics: m,
            connect_timeout: Duration::from_secs(1),
            log_writer: None,
            workers: 2,
            health_report: report,
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
        let st1 = build(s1, None, &ctx(&m)).unwrap();
        let s2 = snap(
            r#"{"version": 2, "egress": [{"alias": "a:80", "listen": "127.0.0.1:0", "upstream": "a"}],
                "upstreams": {"a": {"protocol": "http", "endpoints": [{"address": "127.0.0.1:1"}, {"address": "127.0.0.1:2"}]},
                              "b": {"protocol": "http2"}}}"#,
        );
        let st2 = build(s2, Some(&st1), &ctx(&m)).unwrap();
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
        let st = build(s, None, &ctx(&m)).unwrap();
        let u = &st.upstreams["db"];
        assert!(u.client.is_none());
        assert_eq!(u.idle, Some(Duration::from_secs(3600)));
        assert_eq!(u.per_request, None);
        let r = &st.routes[&"127.0.0.1:0".parse().unwrap()];
        assert!(r.is_ingress());
        assert_eq!(r.protocol(), Protocol::Tcp);
    }
}
