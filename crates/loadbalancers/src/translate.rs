//! What a load balancer's data plane runs, decided purely: an ELB plan (records) in, a
//! proxy's load-balancer section out, and which load balancer also takes each port on
//! `127.0.0.1`.
//!
//! Every load balancer listens on its own loopback address (`127.77.x.y`). Its
//! `DNSName` ends in `.localhost`, which curl and systemd's resolver send to
//! `127.0.0.1` whatever the rest of the name, so one load balancer per port also
//! listens there: the first to want the port keeps it while it exists and listens on
//! it ([`loopback_claims`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use berth_elbv2::{ActionPlan, ConditionPlan, LoadBalancerPlan, TargetGroupPlan, TargetPlan};
use berth_proxy_config::alb::{
    Action, AlbAccessLog, Algorithm, Condition, HealthCheck, HealthCheckPort, Listener,
    LoadBalancer, Matcher, QueryPattern, RedirectCode, Rule, Target, TargetGroup,
    WeightedTargetGroup,
};

/// Which load balancer (by ARN) also listens on `127.0.0.1` at each port: `previous`
/// claims stand while their holder still listens on that port; then each free port
/// goes to the first of `wanted` (load balancers in a stable order, with their ports)
/// that wants it.
pub fn loopback_claims(
    previous: &BTreeMap<u16, String>,
    wanted: &[(String, BTreeSet<u16>)],
) -> BTreeMap<u16, String> {
    let wants = |arn: &str, port: u16| {
        wanted
            .iter()
            .any(|(a, ports)| a == arn && ports.contains(&port))
    };
    let mut claims: BTreeMap<u16, String> = previous
        .iter()
        .filter(|(port, arn)| wants(arn, **port))
        .map(|(p, a)| (*p, a.clone()))
        .collect();
    for (arn, ports) in wanted {
        for port in ports {
            claims.entry(*port).or_insert_with(|| arn.clone());
        }
    }
    claims
}

/// The ports of `plan`'s listeners.
pub fn ports(plan: &LoadBalancerPlan) -> BTreeSet<u16> {
    plan.listeners.iter().map(|l| l.port).collect()
}

/// The proxy's section for `plan`: each listener on the load balancer's address, and
/// again on `127.0.0.1` for the ports in `loopback`; access logs to `access_log`.
pub fn load_balancer(
    plan: &LoadBalancerPlan,
    loopback: &BTreeSet<u16>,
    access_log: Option<std::path::PathBuf>,
) -> LoadBalancer {
    let mut listeners = Vec::new();
    for l in &plan.listeners {
        let mut rules = Vec::new();
        let mut default_actions = Vec::new();
        for r in &l.rules {
            let action = action(&r.action);
            match r.priority {
                Some(priority) => rules.push(Rule {
                    priority,
                    conditions: r.conditions.iter().map(condition).collect(),
                    actions: vec![action],
                }),
                None => default_actions.push(action),
            }
        }
        let mut addresses = vec![IpAddr::V4(plan.address)];
        if loopback.contains(&l.port) {
            addresses.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        for address in addresses {
            listeners.push(Listener {
                address,
                port: l.port,
                protocol: Default::default(),
                default_actions: default_actions.clone(),
                rules: rules.clone(),
                clients: Some(l.clients.iter().filter_map(|c| c.parse().ok()).collect()),
            });
        }
    }
    LoadBalancer {
        name: plan.name.clone(),
        arn: plan.load_balancer_arn.clone(),
        listeners,
        target_groups: (plan.target_groups.iter())
            .map(|g| (g.target_group_arn.clone(), target_group(g)))
            .collect(),
        idle_timeout_seconds: u64::from(plan.idle_timeout_seconds),
        access_log: access_log.map(|path| AlbAccessLog { path }),
    }
}

fn condition(c: &ConditionPlan) -> Condition {
    match c {
        ConditionPlan::PathPattern { values } => Condition::PathPattern {
            values: values.clone(),
        },
        ConditionPlan::HostHeader { values } => Condition::HostHeader {
            values: values.clone(),
        },
        ConditionPlan::HttpHeader { name, values } => Condition::HttpHeader {
            name: name.clone(),
            values: values.clone(),
        },
        ConditionPlan::QueryString { values } => Condition::QueryString {
            values: (values.iter())
                .map(|p| QueryPattern {
                    key: p.key.clone(),
                    value: p.value.clone(),
                })
                .collect(),
        },
    }
}

fn action(a: &ActionPlan) -> Action {
    match a {
        ActionPlan::Forward { target_groups, .. } => Action::Forward {
            target_groups: (target_groups.iter())
                .map(|g| WeightedTargetGroup {
                    target_group: g.target_group_arn.clone(),
                    weight: g.weight,
                })
                .collect(),
            // ELBv2 refuses group stickiness berth cannot run.
            stickiness: None,
        },
        ActionPlan::FixedResponse {
            status_code,
            content_type,
            body,
        } => Action::FixedResponse {
            status_code: *status_code,
            content_type: content_type.clone(),
            message_body: body.clone(),
        },
        ActionPlan::Redirect {
            protocol,
            port,
            host,
            path,
            query,
            status_code,
        } => Action::Redirect {
            protocol: protocol.clone(),
            host: host.clone(),
            port: port.clone(),
            path: path.clone(),
            query: query.clone(),
            status_code: if *status_code == 301 {
                RedirectCode::Http301
            } else {
                RedirectCode::Http302
            },
        },
    }
}

fn target_group(g: &TargetGroupPlan) -> TargetGroup {
    let hc = &g.health_check;
    let a = &g.attributes;
    TargetGroup {
        name: g.name.clone(),
        arn: g.target_group_arn.clone(),
        protocol: Default::default(),
        port: g.port,
        health_check: HealthCheck {
            enabled: hc.enabled,
            path: hc.path.clone(),
            port: hc
                .port
                .map_or(HealthCheckPort::TrafficPort, HealthCheckPort::Port),
            interval_seconds: u64::from(hc.interval_seconds),
            timeout_seconds: u64::from(hc.timeout_seconds),
            healthy_threshold: hc.healthy_threshold,
            unhealthy_threshold: hc.unhealthy_threshold,
            matcher: Matcher {
                http_code: matcher(&hc.matcher),
            },
        },
        deregistration_delay_seconds: u64::from(a.deregistration_delay_seconds),
        // ELBv2 refuses stickiness: no load balancer of berth's keeps a client with a target.
        stickiness: None,
        algorithm: match a.algorithm {
            berth_elbv2::attributes::Algorithm::LeastOutstandingRequests => {
                Algorithm::LeastOutstandingRequests
            }
            _ => Algorithm::RoundRobin,
        },
        targets: g.targets.iter().filter_map(target).collect(),
    }
}

/// `200`, `200,202`, `200-299` from inclusive ranges.
fn matcher(ranges: &[(u16, u16)]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    parts.join(",")
}

/// A target the data plane can reach (an instance berth no longer knows is left out).
fn target(t: &TargetPlan) -> Option<Target> {
    Some(Target {
        id: t.id.clone(),
        ip: IpAddr::V4(t.address?),
        port: Some(t.port),
        draining_until: t.drain_until.map(|s| (s * 1000.0) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(arn: &str, ports: &[u16]) -> (String, BTreeSet<u16>) {
        (arn.to_string(), ports.iter().copied().collect())
    }

    #[test]
    fn loopback_ports_go_to_the_first_that_wants_them_and_stay() {
        type Case<'a> = (
            &'a str,
            BTreeMap<u16, String>,
            Vec<(String, BTreeSet<u16>)>,
            Vec<(u16, &'a str)>,
        );
        let none = BTreeMap::new();
        let cases: Vec<Case> = vec![
            ("nothing wanted", none.clone(), vec![], vec![]),
            (
                "first come",
                none.clone(),
                vec![want("a", &[80]), want("b", &[80, 8080])],
                vec![(80, "a"), (8080, "b")],
            ),
            (
                "a claim stays with its holder even when another comes first",
                [(80, "b".to_string())].into(),
                vec![want("a", &[80]), want("b", &[80])],
                vec![(80, "b")],
            ),
            (
                "a holder that goes frees its port for the next",
                [(80, "b".to_string())].into(),
                vec![want("a", &[80])],
                vec![(80, "a")],
            ),
            (
                "a holder that no longer listens there frees it",
                [(80, "b".to_string())].into(),
                vec![want("b", &[81]), want("a", &[80])],
                vec![(80, "a"), (81, "b")],
            ),
        ];
        for (what, previous, wanted, expect) in cases {
            let got = loopback_claims(&previous, &wanted);
            let expect: BTreeMap<u16, String> = expect
                .into_iter()
                .map(|(p, a)| (p, a.to_string()))
                .collect();
            assert_eq!(got, expect, "{what}");
        }
    }

    #[test]
    fn matchers_are_written_as_elb_writes_them() {
        assert_eq!(matcher(&[(200, 200)]), "200");
        assert_eq!(matcher(&[(200, 200), (202, 202)]), "200,202");
        assert_eq!(matcher(&[(200, 299)]), "200-299");
    }
}
