//! The runtime form of a load balancer's snapshot ([`build`]): each listener's compiled
//! rules over the load balancer's target groups; each group an upstream (pools kept
//! across snapshots) whose balancer holds the targets its health checks let traffic go
//! to ([`GroupHealth`], kept and updated in place, so targets that stay keep their
//! health); the metrics handles and the access log.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use berth_proxy_config::alb::{Action, LoadBalancer, TargetGroup};
use berth_proxy_config::{AnySnapshot, LoadBalancerSnapshot};
use berth_telemetry::{AccessLogger, Direction, ListenerMetrics, LoadBalancerMetrics};
use bytes::Bytes;

use crate::alb_reply::RedirectTo;
use crate::error::ApplyError;
use crate::health::GroupHealth;
use crate::rules::RuleSet;
use crate::state::{
    group_upstream, AlbAction, AlbListener, AlbRt, BuildCtx, Forward, GroupRt, LogCtx, Route,
    RouteKind, State,
};

/// Converts `snapshot` (validated) into a [`State`], keeping what `prev`'s load
/// balancer (the same one) has: group health, pools, metrics, the access log.
pub(crate) fn build(
    snapshot: LoadBalancerSnapshot,
    prev: Option<&State>,
    ctx: &BuildCtx<'_>,
) -> Result<State, ApplyError> {
    let lb = &snapshot.load_balancer;
    let old = (prev.and_then(|p| p.alb.as_ref())).filter(|o| o.arn == lb.arn);
    // What can fail first: nothing shared is touched until it has succeeded.
    let logger = access_logger(lb, old.map(|o| &**o))?;
    let metrics = old.map_or_else(
        || ctx.metrics.load_balancer(lb.dimension()),
        |o| o.metrics.clone(),
    );
    let idle = Duration::from_secs(lb.idle_timeout_seconds);
    let now = SystemTime::now();
    let mut groups = BTreeMap::new();
    for (key, g) in &lb.target_groups {
        let old_g = old.and_then(|o| o.groups.get(key));
        let rt = group_rt(key, g, lb, old_g, &metrics, idle, ctx, now);
        groups.insert(key.clone(), rt);
    }
    let dimensions: HashSet<String> = (lb.target_groups.values())
        .map(|g| g.dimension().to_string())
        .collect();
    metrics.retain_target_groups(|d| dimensions.contains(d));
    let rt = Arc::new(AlbRt {
        arn: lb.arn.clone(),
        dimension: lb.dimension().to_string(),
        metrics,
        logger,
        idle,
        groups,
    });
    let mut routes = HashMap::new();
    for l in &lb.listeners {
        let rules = RuleSet::new(
            (l.rules.iter())
                .map(|r| (r.priority, &r.conditions[..], action(&r.actions[0], &rt)))
                .collect(),
            action(&l.default_actions[0], &rt),
        );
        let route = Route {
            kind: RouteKind::Alb(Arc::new(AlbListener {
                lb: Arc::clone(&rt),
                rules,
                clients: l.clients.clone(),
            })),
            log: LogCtx {
                // The load balancer's traffic is counted under ELB's names (see
                // `access_log`), not Service Connect's.
                metrics: ListenerMetrics::unexported(),
                logger: None,
                direction: Direction::Ingress,
                name: lb.name.clone(),
            },
        };
        routes.insert(l.listen(), Arc::new(route));
    }
    Ok(State {
        version: snapshot.version,
        snapshot: AnySnapshot::LoadBalancer(snapshot),
        upstreams: BTreeMap::new(),
        routes,
        logger: None,
        dims: HashSet::new(),
        alb: Some(rt),
    })
}

/// The access log: `old`'s when it writes to the same file.
fn access_logger(
    lb: &LoadBalancer,
    old: Option<&AlbRt>,
) -> Result<Option<(PathBuf, Arc<AccessLogger>)>, ApplyError> {
    let Some(cfg) = &lb.access_log else {
        return Ok(None);
    };
    if let Some((path, l)) = old.and_then(|o| o.logger.as_ref()) {
        if *path == cfg.path {
            return Ok(Some((path.clone(), Arc::clone(l))));
        }
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cfg.path)
        .map_err(|source| ApplyError::AccessLog {
            path: cfg.path.clone(),
            source,
        })?;
    let logger = AccessLogger::elb(Box::new(file));
    Ok(Some((cfg.path.clone(), Arc::new(logger))))
}

/// One target group; its health updated in place when it existed.
#[allow(clippy::too_many_arguments)]
fn group_rt(
    key: &str,
    g: &TargetGroup,
    lb: &LoadBalancer,
    old: Option<&Arc<GroupRt>>,
    lb_metrics: &LoadBalancerMetrics,
    idle: Duration,
    ctx: &BuildCtx<'_>,
    now: SystemTime,
) -> Arc<GroupRt> {
    let metrics = match old {
        Some(o) if o.arn == g.arn => o.metrics.clone(),
        _ => lb_metrics.target_group(g.dimension()),
    };
    let health = match old {
        Some(o) => {
            o.health.update(&lb.arn, g, metrics.clone(), now);
            Arc::clone(&o.health)
        }
        None => GroupHealth::new(
            key,
            &lb.arn,
            g,
            metrics.clone(),
            ctx.health_report.clone(),
            now,
        ),
    };
    let addrs: Vec<_> = g.targets.iter().map(|t| g.address(t)).collect();
    let up = group_upstream(
        key,
        Arc::clone(health.balancer()),
        &addrs,
        idle,
        old.map(|o| &o.up),
        ctx,
    );
    Arc::new(GroupRt {
        arn: g.arn.clone(),
        up,
        metrics,
        health,
    })
}

/// An action's runtime form (validation made sure its groups exist).
fn action(a: &Action, lb: &AlbRt) -> AlbAction {
    match a {
        Action::Forward { target_groups, .. } => AlbAction::Forward(Forward::new(
            (target_groups.iter())
                .map(|w| (Arc::clone(&lb.groups[&w.target_group]), w.weight))
                .collect(),
        )),
        Action::FixedResponse {
            status_code,
            content_type,
            message_body,
        } => AlbAction::Fixed {
            status: *status_code,
            content_type: content_type.clone().unwrap_or_else(|| "text/plain".into()),
            body: Bytes::from(message_body.clone().unwrap_or_default()),
        },
        Action::Redirect {
            protocol,
            host,
            port,
            path,
            query,
            status_code,
        } => AlbAction::Redirect(RedirectTo {
            protocol: protocol.clone(),
            host: host.clone(),
            port: port.clone(),
            path: path.clone(),
            query: query.clone(),
            status: status_code.status(),
        }),
    }
}
