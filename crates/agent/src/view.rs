//! The proxy snapshot a task's view makes: the view's types are `berth_agent_view`'s
//! (the contract with the server, which pushes them on the agent's stream); this is
//! where the agent adds what only it knows (the task's address, VIPs and ports).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use berth_agent_view::{
    AccessLogFormat, AccessLogView, AppProtocol, IncludeQueryParameters, IngressView,
    ServiceConnectView, Timeout, UpstreamView,
};
use berth_proxy_config::{
    AccessLog, AccessLogFormat as ProxyLogFormat, Egress, Endpoint, Ingress, IngressTls, Protocol,
    Snapshot, Timeouts, Upstream, UpstreamTls,
};

use crate::certs::TaskCertificates;

/// The first port a task's proxy listens on for ingress redirected from a container
/// port (`ingressPortOverride` ports are listened on directly).
pub const INGRESS_PORT_BASE: u16 = 15000;
/// The first port a task's proxy listens on (on an alias VIP) for egress: connections
/// to `VIP:aliasPort` are redirected there inside the task's namespace, so the proxy
/// never holds a port the application may bind on all addresses (`0.0.0.0:80`).
pub const EGRESS_PORT_BASE: u16 = 15500;

fn protocol(p: AppProtocol) -> Protocol {
    match p {
        AppProtocol::Http => Protocol::Http,
        AppProtocol::Http2 => Protocol::Http2,
        AppProtocol::Grpc => Protocol::Grpc,
        AppProtocol::Tcp => Protocol::Tcp,
    }
}

fn timeouts(t: &Timeout) -> Timeouts {
    Timeouts {
        idle_timeout_seconds: t.idle_timeout_seconds,
        per_request_timeout_seconds: t.per_request_timeout_seconds,
    }
}

fn access_log(a: &AccessLogView) -> AccessLog {
    AccessLog {
        format: match a.format {
            AccessLogFormat::Json => ProxyLogFormat::Json,
            AccessLogFormat::Text => ProxyLogFormat::Text,
        },
        include_query_parameters: a.include_query_parameters == IncludeQueryParameters::Enabled,
    }
}

/// An upstream; one with TLS whose CA has no certificate to verify against gets no
/// endpoints (nothing could be verified: its requests fail, none goes in plaintext).
fn upstream(u: &UpstreamView) -> Upstream {
    let tls = u.tls.as_ref().map(|t| {
        t.trust.as_ref().map(|trust| UpstreamTls {
            trust: trust.clone(),
            server_name: None,
        })
    });
    let unverifiable = matches!(tls, Some(None));
    Upstream {
        protocol: protocol(u.protocol),
        endpoints: u
            .endpoints
            .iter()
            .filter(|_| !unverifiable)
            .map(|e| Endpoint {
                address: e.address,
                task_id: Some(e.task_id.clone()),
            })
            .collect(),
        timeout: timeouts(&u.timeout),
        load_balancing: Default::default(),
        outlier_detection: Default::default(),
        retries: Default::default(),
        tls: tls.flatten(),
    }
}

/// An ingress entry's TLS: `Some(None)` when it has TLS but no certificate is held
/// (then it gets no listener).
fn ingress_tls(g: &IngressView, certs: &TaskCertificates) -> Option<Option<IngressTls>> {
    let t = g.tls.as_ref()?;
    Some(certs.get(&g.discovery_name).map(|h| IngressTls {
        certified: h.certified.clone(),
        client_trust: t.client_trust.clone(),
        require_client_certificate: t.require_client_certificate,
    }))
}

/// Where a task's proxy listens for an ingress entry, and whether the container port
/// must be redirected to it.
pub fn ingress_listen(ip: Ipv4Addr, index: usize, g: &IngressView) -> (SocketAddr, Option<u16>) {
    match g.ingress_port_override {
        Some(p) => (SocketAddr::V4(SocketAddrV4::new(ip, p)), None),
        None => {
            let p = INGRESS_PORT_BASE + index as u16;
            (
                SocketAddr::V4(SocketAddrV4::new(ip, p)),
                Some(g.container_port),
            )
        }
    }
}

/// The names a task's hosts file maps to the VIP of each egress `dnsName`.
pub fn alias_names(sc: &ServiceConnectView) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in &sc.egress {
        out.push((e.dns_name.clone(), e.dns_name.clone()));
        if let Some(s) = &e.short_name {
            out.push((s.clone(), e.dns_name.clone()));
        }
    }
    out
}

/// The snapshot of a task's proxy: `ip` is the task's address, `vip` gives the VIP of
/// each egress `dnsName`, `egress_port` the proxy's port for `dnsName:port`, `certs`
/// the task's TLS certificates.
pub fn snapshot(
    sc: &ServiceConnectView,
    version: u64,
    ip: Ipv4Addr,
    vip: impl Fn(&str) -> Option<Ipv4Addr>,
    egress_port: impl Fn(&str, u16) -> Option<u16>,
    certs: &TaskCertificates,
) -> Snapshot {
    let mut ingress = Vec::new();
    for (i, g) in sc.ingress.iter().enumerate() {
        let tls = match ingress_tls(g, certs) {
            Some(None) => continue,
            Some(t) => t,
            None => None,
        };
        ingress.push(Ingress {
            discovery_name: g.discovery_name.clone(),
            listen: ingress_listen(ip, i, g).0,
            app: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, g.container_port)),
            protocol: protocol(g.protocol),
            timeout: timeouts(&g.timeout),
            tls,
        });
    }
    let mut egress = Vec::new();
    for e in &sc.egress {
        let (Some(v), Some(p)) = (vip(&e.dns_name), egress_port(&e.dns_name, e.port)) else {
            continue;
        };
        if !sc.upstreams.contains_key(&e.upstream) {
            continue;
        }
        egress.push(Egress {
            alias: format!("{}:{}", e.dns_name, e.port),
            listen: SocketAddr::V4(SocketAddrV4::new(v, p)),
            upstream: e.upstream.clone(),
        });
    }
    let upstreams = sc
        .upstreams
        .iter()
        .map(|(name, u)| (name.clone(), upstream(u)))
        .collect();
    Snapshot {
        version,
        cluster_name: sc.cluster_name.clone(),
        service_name: sc.service_name.clone(),
        ingress,
        egress,
        upstreams,
        access_log: sc.access_log.as_ref().map(access_log),
        client_certificate: certs.client_certificate(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> ServiceConnectView {
        serde_json::from_value(json!({
            "clusterName": "tutorial", "serviceName": "web", "namespaceName": "sc",
            "ingress": [{"discoveryName": "nginx", "portName": "nginx", "containerPort": 80,
                         "ingressPortOverride": null, "protocol": "http", "timeout": {}},
                        {"discoveryName": "admin", "portName": "admin", "containerPort": 81,
                         "ingressPortOverride": 9000, "protocol": "tcp", "timeout": {"idleTimeoutSeconds": 5}}],
            "egress": [{"dnsName": "nginx.sc", "shortName": "nginx", "port": 80, "upstream": "nginx"}],
            "upstreams": {"nginx": {"protocol": "http", "timeout": {"perRequestTimeoutSeconds": 3},
                          "endpoints": [{"address": "10.0.0.5:80", "taskId": "t1"}]}},
            "accessLog": {"format": "JSON", "includeQueryParameters": "ENABLED"}
        }))
        .unwrap()
    }

    #[test]
    fn snapshot_from_a_view() {
        let sc = sample();
        let ip = Ipv4Addr::new(10, 0, 0, 9);
        let s = snapshot(
            &sc,
            42,
            ip,
            |n| (n == "nginx.sc").then_some(Ipv4Addr::new(127, 255, 0, 2)),
            |n, p| (n == "nginx.sc" && p == 80).then_some(EGRESS_PORT_BASE),
            &TaskCertificates::default(),
        );
        s.validate().unwrap();
        assert_eq!(s.version, 42);
        assert_eq!(s.ingress[0].listen, "10.0.0.9:15000".parse().unwrap());
        assert_eq!(s.ingress[0].app, "127.0.0.1:80".parse().unwrap());
        assert_eq!(s.ingress[1].listen, "10.0.0.9:9000".parse().unwrap());
        assert_eq!(s.ingress[1].protocol, Protocol::Tcp);
        assert_eq!(s.egress[0].listen, "127.255.0.2:15500".parse().unwrap());
        assert_eq!(s.egress[0].alias, "nginx.sc:80");
        assert_eq!(
            s.upstreams["nginx"].timeout.per_request_timeout_seconds,
            Some(3)
        );
        assert_eq!(
            s.upstreams["nginx"].endpoints[0].address,
            "10.0.0.5:80".parse().unwrap()
        );
        let log = s.access_log.unwrap();
        assert_eq!(log.format, ProxyLogFormat::Json);
        assert!(log.include_query_parameters);
        assert_eq!(
            alias_names(&sc),
            vec![
                ("nginx.sc".into(), "nginx.sc".into()),
                ("nginx".into(), "nginx.sc".into())
            ]
        );
        assert_eq!(ingress_listen(ip, 0, &sc.ingress[0]).1, Some(80));
        assert_eq!(ingress_listen(ip, 1, &sc.ingress[1]).1, None);
    }
}
