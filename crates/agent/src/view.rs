//! The control plane's view of one container instance (pushed on the agent's stream;
//! format in `berth_ecs::agent`), and the proxy snapshot a task's view makes.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use berth_proxy_config::{
    AccessLog, AccessLogFormat, Egress, Endpoint, Ingress, Protocol, Snapshot, Timeouts, Upstream,
};
use serde::Deserialize;
use serde_json::Value;

/// The first port a task's proxy listens on for ingress redirected from a container
/// port (`ingressPortOverride` ports are listened on directly).
pub const INGRESS_PORT_BASE: u16 = 15000;
/// The first port a task's proxy listens on (on an alias VIP) for egress: connections
/// to `VIP:aliasPort` are redirected there inside the task's namespace, so the proxy
/// never holds a port the application may bind on all addresses (`0.0.0.0:80`).
pub const EGRESS_PORT_BASE: u16 = 15500;

/// One instance's view.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct View {
    /// The store revision the view was read at: grows with every change.
    #[serde(default)]
    pub revision: u64,
    /// The tasks placed on the instance.
    #[serde(default)]
    pub tasks: Vec<TaskView>,
}

/// One task of the view.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    pub task_arn: String,
    pub desired_status: String,
    #[serde(default)]
    pub last_status: String,
    #[serde(default)]
    pub task_definition: Value,
    #[serde(default)]
    pub overrides: Value,
    #[serde(default)]
    pub attachments: Value,
    #[serde(default)]
    pub service_connect: Option<ServiceConnectView>,
}

impl TaskView {
    /// The task id (the ARN's last segment).
    pub fn id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }

    /// The id of the task's ENI attachment, if it has one (awsvpc).
    pub fn eni_attachment(&self) -> Option<String> {
        self.attachments
            .as_array()?
            .iter()
            .find(|a| a["type"] == "ElasticNetworkInterface")
            .and_then(|a| a["id"].as_str())
            .map(str::to_string)
    }
}

/// What a task's proxy must do.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectView {
    #[serde(default)]
    pub cluster_name: String,
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub namespace_name: String,
    #[serde(default)]
    pub ingress: Vec<IngressView>,
    #[serde(default)]
    pub egress: Vec<EgressView>,
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamView>,
    #[serde(default)]
    pub access_log: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IngressView {
    pub discovery_name: String,
    #[serde(default)]
    pub port_name: String,
    pub container_port: u16,
    #[serde(default)]
    pub ingress_port_override: Option<u16>,
    #[serde(default)]
    pub protocol: String,
    #[serde(default)]
    pub timeout: Value,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EgressView {
    pub dns_name: String,
    #[serde(default)]
    pub short_name: Option<String>,
    pub port: u16,
    pub upstream: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamView {
    #[serde(default)]
    pub protocol: String,
    #[serde(default)]
    pub timeout: Value,
    #[serde(default)]
    pub endpoints: Vec<EndpointView>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    pub address: SocketAddr,
    #[serde(default)]
    pub task_id: Option<String>,
}

fn protocol(s: &str) -> Protocol {
    match s {
        "http" => Protocol::Http,
        "http2" => Protocol::Http2,
        "grpc" => Protocol::Grpc,
        _ => Protocol::Tcp,
    }
}

fn timeouts(v: &Value) -> Timeouts {
    let secs = |k: &str| v[k].as_u64();
    Timeouts {
        idle_timeout_seconds: secs("idleTimeoutSeconds"),
        per_request_timeout_seconds: secs("perRequestTimeoutSeconds"),
    }
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
/// each egress `dnsName`, `egress_port` the proxy's port for `dnsName:port`.
pub fn snapshot(
    sc: &ServiceConnectView,
    version: u64,
    ip: Ipv4Addr,
    vip: impl Fn(&str) -> Option<Ipv4Addr>,
    egress_port: impl Fn(&str, u16) -> Option<u16>,
) -> Snapshot {
    let ingress = sc
        .ingress
        .iter()
        .enumerate()
        .map(|(i, g)| Ingress {
            discovery_name: g.discovery_name.clone(),
            listen: ingress_listen(ip, i, g).0,
            app: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, g.container_port)),
            protocol: protocol(&g.protocol),
            timeout: timeouts(&g.timeout),
        })
        .collect();
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
        .map(|(name, u)| {
            (
                name.clone(),
                Upstream {
                    protocol: protocol(&u.protocol),
                    endpoints: u
                        .endpoints
                        .iter()
                        .map(|e| Endpoint {
                            address: e.address,
                            task_id: e.task_id.clone(),
                        })
                        .collect(),
                    timeout: timeouts(&u.timeout),
                    load_balancing: Default::default(),
                    outlier_detection: Default::default(),
                    retries: Default::default(),
                },
            )
        })
        .collect();
    let access_log = sc.access_log.as_ref().and_then(|a| {
        let format = match a["format"].as_str()? {
            "JSON" => AccessLogFormat::Json,
            _ => AccessLogFormat::Text,
        };
        Some(AccessLog {
            format,
            include_query_parameters: a["includeQueryParameters"] == "ENABLED",
        })
    });
    Snapshot {
        version,
        cluster_name: sc.cluster_name.clone(),
        service_name: sc.service_name.clone(),
        ingress,
        egress,
        upstreams,
        access_log,
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
        assert_eq!(log.format, AccessLogFormat::Json);
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
