//! The berth proxy's configuration: one versioned [`Snapshot`] says everything a proxy
//! beside a task must do — where it listens, which upstream each client alias goes to,
//! the endpoints of each upstream, and the per-service settings (protocol, timeouts,
//! load balancing, outlier detection, retries, access logs).
//!
//! The same JSON document is read from a file (development, tests, standalone use) and
//! streamed by the agent, one snapshot per line, to replace the running configuration.
//! Files users write are strict: unknown fields are refused.
//!
//! TLS (Service Connect's `tls`, TLS 1.3 only): an ingress with `tls` terminates it with
//! its certificate (and, with `clientTrust`, verifies client certificates: optional, or
//! required with `requireClientCertificate`); an upstream with `tls` is reached over TLS,
//! its certificate verified against `trust` and the name `serverName` (by default the
//! host of the first egress alias naming the upstream); the top-level
//! `clientCertificate` is presented to upstreams that ask for one (mutual TLS).
//!
//! ```json
//! {
//!   "version": 1,
//!   "clusterName": "tutorial",
//!   "serviceName": "web",
//!   "ingress": [{"discoveryName": "nginx", "listen": "10.42.0.5:80", "app": "127.0.0.1:80", "protocol": "http"}],
//!   "egress": [{"alias": "orders:80", "listen": "127.255.0.2:80", "upstream": "orders"}],
//!   "upstreams": {"orders": {"protocol": "http", "endpoints": [{"address": "10.42.0.7:8080"}]}},
//!   "accessLog": {"format": "JSON", "includeQueryParameters": true}
//! }
//! ```
//!
//! A proxy may instead run an Application Load Balancer: its snapshot is then a
//! [`LoadBalancerSnapshot`] (see [`alb`]). [`AnySnapshot`] reads either kind.

pub mod alb;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use alb::LoadBalancerSnapshot;

/// Errors reading or validating a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The document is not a valid snapshot (JSON syntax, types, unknown fields).
    #[error("invalid snapshot: {0}")]
    Parse(#[from] serde_json::Error),
    /// The snapshot is well-formed but inconsistent.
    #[error("invalid snapshot: {0}")]
    Invalid(String),
}

/// The application protocol of a port (`appProtocol`; absent means TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1, pooled keep-alive connections upstream.
    Http,
    /// HTTP/2, multiplexed.
    Http2,
    /// gRPC over HTTP/2.
    Grpc,
    /// Plain TCP pass-through.
    #[default]
    Tcp,
}

impl Protocol {
    /// True for the protocols the proxy understands at layer 7.
    pub fn is_http(self) -> bool {
        !matches!(self, Protocol::Tcp)
    }
}

/// Timeouts of one service (`timeout` in `serviceConnectConfiguration.services[]`).
/// Absent values take the Service Connect defaults; `0` turns a timeout off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    /// How long a connection may stay idle. Default 300 s (HTTP), 3600 s (TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<u64>,
    /// How long a request may wait for its complete response. Default 15 s; HTTP only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_request_timeout_seconds: Option<u64>,
}

impl Timeouts {
    /// The idle timeout in force for `protocol`; `None` when turned off.
    pub fn idle(&self, protocol: Protocol) -> Option<Duration> {
        let default = if protocol.is_http() { 300 } else { 3600 };
        match self.idle_timeout_seconds.unwrap_or(default) {
            0 => None,
            s => Some(Duration::from_secs(s)),
        }
    }

    /// The per-request timeout in force for `protocol`; `None` when turned off or TCP.
    pub fn per_request(&self, protocol: Protocol) -> Option<Duration> {
        if !protocol.is_http() {
            return None;
        }
        match self.per_request_timeout_seconds.unwrap_or(15) {
            0 => None,
            s => Some(Duration::from_secs(s)),
        }
    }
}

/// How requests are spread over endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LoadBalancing {
    /// Each endpoint in turn (the Service Connect default).
    #[default]
    RoundRobin,
    /// Power of two random choices, the one with fewer requests in flight.
    LeastRequest,
}

/// Passive health checking: endpoints that keep failing are taken out for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct OutlierDetection {
    /// Consecutive 5xx responses or connect failures that eject an endpoint.
    pub consecutive_failures: u32,
    /// The first ejection's length; each further ejection of the same endpoint adds as
    /// much again.
    pub base_ejection_seconds: u64,
    /// The longest an ejection lasts.
    pub max_ejection_seconds: u64,
    /// The largest share of an upstream's endpoints ejected at once, in percent (at
    /// least one endpoint can always be ejected when there are two or more).
    pub max_ejection_percent: u32,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetection {
            consecutive_failures: 5,
            base_ejection_seconds: 30,
            max_ejection_seconds: 300,
            max_ejection_percent: 50,
        }
    }
}

/// Retries of failed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Retries {
    /// Retries per request, each to another endpoint when there is one.
    pub max_retries: u32,
    /// Retries allowed as a share of requests, in percent (the retry budget).
    pub budget_percent: u32,
    /// Retries allowed per second whatever the traffic.
    pub min_retries_per_second: u32,
    /// Requests with a body larger than this are not buffered and never retried.
    pub max_replay_body_bytes: usize,
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            max_retries: 2,
            budget_percent: 20,
            min_retries_per_second: 10,
            max_replay_body_bytes: 64 * 1024,
        }
    }
}

/// One endpoint of an upstream: a task serving the upstream's service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoint {
    /// Where the endpoint's proxy ingress listens (task IP and ingress port).
    pub address: SocketAddr,
    /// Which task it is, for logs (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

/// A service this task calls: its endpoints and settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Upstream {
    /// Its protocol (from the server's port mapping `appProtocol`).
    #[serde(default)]
    pub protocol: Protocol,
    /// Its endpoints; may be empty (requests then get 503).
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Timeouts.
    #[serde(default)]
    pub timeout: Timeouts,
    /// Balancing.
    #[serde(default)]
    pub load_balancing: LoadBalancing,
    /// Passive health checking.
    #[serde(default)]
    pub outlier_detection: OutlierDetection,
    /// Retries.
    #[serde(default)]
    pub retries: Retries,
    /// TLS to its endpoints, when the service has `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<UpstreamTls>,
}

/// A private key in PEM (PKCS#8, SEC1 or PKCS#1). Never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrivateKeyPem(pub String);

impl std::fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKeyPem(<redacted>)")
    }
}

/// A certificate and its key: `certificateChain` is the PEM of the certificate first,
/// then the intermediates up to (not necessarily including) the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertifiedKey {
    /// The certificate chain, PEM.
    pub certificate_chain: String,
    /// Its private key, PEM.
    pub private_key: PrivateKeyPem,
}

/// How an upstream's TLS is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamTls {
    /// The CA certificates its endpoints' chains must lead to, PEM.
    pub trust: String,
    /// The name its certificates must carry (SNI too); by default the host of the first
    /// egress alias naming this upstream, else the upstream's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// An ingress listener's TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressTls {
    /// The task's certificate for this service, and its key.
    #[serde(flatten)]
    pub certified: CertifiedKey,
    /// CA certificates client certificates are verified against, PEM; without it no
    /// client certificate is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_trust: Option<String>,
    /// Refuse clients without a valid certificate (mutual TLS; needs `clientTrust`).
    #[serde(default)]
    pub require_client_certificate: bool,
}

/// A listener for one client alias: applications connect to `listen` (a loopback VIP on
/// the alias port, named in the task's `/etc/hosts`) and reach `upstream`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Egress {
    /// The alias as applications write it, `dnsName:port` (for logs).
    pub alias: String,
    /// The address the proxy listens on, e.g. `127.255.0.2:80`.
    pub listen: SocketAddr,
    /// The key of the upstream in [`Snapshot::upstreams`] (its discovery name).
    pub upstream: String,
}

/// A listener for one Service Connect service this task serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ingress {
    /// The service's discovery name (a metrics dimension).
    pub discovery_name: String,
    /// Where the proxy listens: the task IP and the container port (or
    /// `ingressPortOverride`).
    pub listen: SocketAddr,
    /// Where the application listens, `127.0.0.1:containerPort`.
    pub app: SocketAddr,
    /// The port's protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// Timeouts.
    #[serde(default)]
    pub timeout: Timeouts,
    /// TLS, when the service has `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<IngressTls>,
}

/// The format of access log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccessLogFormat {
    /// One JSON object a line.
    Json,
    /// Human-readable text.
    Text,
}

/// Access logs (`accessLogConfiguration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessLog {
    /// The line format.
    pub format: AccessLogFormat,
    /// Keep the query string in logged paths.
    #[serde(default)]
    pub include_query_parameters: bool,
}

/// Everything one proxy does, at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshot {
    /// Grows with every change; a proxy ignores a snapshot older than the one it runs.
    pub version: u64,
    /// The ECS cluster of the task (a metrics dimension).
    #[serde(default)]
    pub cluster_name: String,
    /// The ECS service of the task (a metrics dimension).
    #[serde(default)]
    pub service_name: String,
    /// Listeners for the services this task serves.
    #[serde(default)]
    pub ingress: Vec<Ingress>,
    /// Listeners for the aliases this task calls.
    #[serde(default)]
    pub egress: Vec<Egress>,
    /// The services this task calls, by discovery name.
    #[serde(default)]
    pub upstreams: BTreeMap<String, Upstream>,
    /// Access logs, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLog>,
    /// The certificate presented to upstreams that ask for one (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<CertifiedKey>,
}

impl Snapshot {
    /// Parses and validates a snapshot from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Snapshot, ConfigError> {
        let s: Snapshot = serde_json::from_slice(bytes)?;
        s.validate()?;
        Ok(s)
    }

    /// Reads, parses and validates a snapshot file.
    pub fn load(path: &Path) -> Result<Snapshot, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Snapshot::from_json(&bytes)
    }

    /// Checks what types cannot: listen addresses are unique, every egress names a
    /// known upstream, TCP has no per-request timeout, limits are sane.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let mut listens = BTreeSet::new();
        for (i, e) in self.egress.iter().enumerate() {
            if !listens.insert(e.listen) {
                return bad(format!("egress[{i}].listen {} is used twice", e.listen));
            }
            if !self.upstreams.contains_key(&e.upstream) {
                return bad(format!(
                    "egress[{i}].upstream '{}' is not in upstreams",
                    e.upstream
                ));
            }
        }
        for (i, g) in self.ingress.iter().enumerate() {
            if !listens.insert(g.listen) {
                return bad(format!("ingress[{i}].listen {} is used twice", g.listen));
            }
            if g.listen == g.app {
                return bad(format!(
                    "ingress[{i}]: listen and app are the same address {}",
                    g.listen
                ));
            }
            if !g.protocol.is_http() && g.timeout.per_request_timeout_seconds.is_some() {
                return bad(format!(
                    "ingress[{i}].timeout.perRequestTimeoutSeconds is not allowed for TCP"
                ));
            }
            if let Some(t) = &g.tls {
                if t.require_client_certificate && t.client_trust.is_none() {
                    return bad(format!(
                        "ingress[{i}].tls.requireClientCertificate needs ingress[{i}].tls.clientTrust"
                    ));
                }
            }
        }
        for (name, u) in &self.upstreams {
            if !u.protocol.is_http() && u.timeout.per_request_timeout_seconds.is_some() {
                return bad(format!(
                    "upstreams.{name}.timeout.perRequestTimeoutSeconds is not allowed for TCP"
                ));
            }
            let od = &u.outlier_detection;
            if od.consecutive_failures == 0 {
                return bad(format!(
                    "upstreams.{name}.outlierDetection.consecutiveFailures must be at least 1"
                ));
            }
            if od.max_ejection_percent > 100 {
                return bad(format!(
                    "upstreams.{name}.outlierDetection.maxEjectionPercent must be at most 100"
                ));
            }
            if od.base_ejection_seconds > od.max_ejection_seconds {
                return bad(format!(
                    "upstreams.{name}.outlierDetection.baseEjectionSeconds exceeds maxEjectionSeconds"
                ));
            }
            let mut seen = BTreeSet::new();
            for (j, ep) in u.endpoints.iter().enumerate() {
                if !seen.insert(ep.address) {
                    return bad(format!(
                        "upstreams.{name}.endpoints[{j}].address {} is listed twice",
                        ep.address
                    ));
                }
            }
        }
        Ok(())
    }

    /// The name an upstream's TLS certificates must carry: its `serverName`, else the
    /// host of the first egress alias naming it, else its key.
    pub fn server_name(&self, upstream: &str) -> String {
        if let Some(n) = self
            .upstreams
            .get(upstream)
            .and_then(|u| u.tls.as_ref())
            .and_then(|t| t.server_name.clone())
        {
            return n;
        }
        self.egress
            .iter()
            .find(|e| e.upstream == upstream)
            .map(|e| match e.alias.rsplit_once(':') {
                Some((host, _)) => host.to_string(),
                None => e.alias.clone(),
            })
            .unwrap_or_else(|| upstream.to_string())
    }

    /// The same snapshot with every private key replaced by `<redacted>` (what the
    /// admin endpoint shows).
    pub fn redacted(&self) -> Snapshot {
        let hide = |k: &mut CertifiedKey| k.private_key = PrivateKeyPem("<redacted>".into());
        let mut s = self.clone();
        for g in &mut s.ingress {
            if let Some(t) = &mut g.tls {
                hide(&mut t.certified);
            }
        }
        if let Some(c) = &mut s.client_certificate {
            hide(c);
        }
        s
    }

    /// The snapshot as one line of JSON, as the agent streams it.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a snapshot always serializes")
    }
}

/// A proxy's snapshot, of either kind: Service Connect's (listeners for a task) or a load
/// balancer's. A document naming `loadBalancer` is the latter. Versions order both
/// kinds alike: a proxy runs one snapshot at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AnySnapshot {
    /// A task's proxy.
    ServiceConnect(Snapshot),
    /// An Application Load Balancer.
    LoadBalancer(LoadBalancerSnapshot),
}

impl AnySnapshot {
    /// Parses and validates a snapshot of either kind from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<AnySnapshot, ConfigError> {
        #[derive(Deserialize)]
        struct Kind {
            #[serde(default, rename = "loadBalancer")]
            load_balancer: Option<serde::de::IgnoredAny>,
        }
        let kind: Kind = serde_json::from_slice(bytes)?;
        if kind.load_balancer.is_some() {
            LoadBalancerSnapshot::from_json(bytes).map(AnySnapshot::LoadBalancer)
        } else {
            Snapshot::from_json(bytes).map(AnySnapshot::ServiceConnect)
        }
    }

    /// Reads, parses and validates a snapshot file of either kind.
    pub fn load(path: &Path) -> Result<AnySnapshot, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        AnySnapshot::from_json(&bytes)
    }

    /// Its version.
    pub fn version(&self) -> u64 {
        match self {
            AnySnapshot::ServiceConnect(s) => s.version,
            AnySnapshot::LoadBalancer(s) => s.version,
        }
    }

    /// Checks what types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            AnySnapshot::ServiceConnect(s) => s.validate(),
            AnySnapshot::LoadBalancer(s) => s.validate(),
        }
    }

    /// The same snapshot without private keys (what the admin endpoint shows).
    pub fn redacted(&self) -> AnySnapshot {
        match self {
            AnySnapshot::ServiceConnect(s) => AnySnapshot::ServiceConnect(s.redacted()),
            lb => lb.clone(),
        }
    }

    /// The snapshot as one line of JSON.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a snapshot always serializes")
    }
}

impl From<Snapshot> for AnySnapshot {
    fn from(s: Snapshot) -> AnySnapshot {
        AnySnapshot::ServiceConnect(s)
    }
}

impl From<LoadBalancerSnapshot> for AnySnapshot {
    fn from(s: LoadBalancerSnapshot) -> AnySnapshot {
        AnySnapshot::LoadBalancer(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "version": 1,
      "clusterName": "tutorial",
      "serviceName": "web",
      "ingress": [{"discoveryName": "nginx", "listen": "10.42.0.5:80", "app": "127.0.0.1:80", "protocol": "http"}],
      "egress": [{"alias": "orders:80", "listen": "127.255.0.2:80", "upstream": "orders"}],
      "upstreams": {"orders": {"protocol": "http", "endpoints": [{"address": "10.42.0.7:8080"}]}},
      "accessLog": {"format": "JSON", "includeQueryParameters": true}
    }"#;

    #[test]
    fn example_parses_with_defaults() {
        let s = Snapshot::from_json(EXAMPLE.as_bytes()).unwrap();
        let u = &s.upstreams["orders"];
        assert_eq!(u.load_balancing, LoadBalancing::RoundRobin);
        assert_eq!(u.outlier_detection.consecutive_failures, 5);
        assert_eq!(u.retries.max_retries, 2);
        assert_eq!(
            u.timeout.per_request(Protocol::Http),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            u.timeout.idle(Protocol::Http),
            Some(Duration::from_secs(300))
        );
        let back = Snapshot::from_json(s.to_line().as_bytes()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn timeout_defaults_and_zero() {
        let t = Timeouts::default();
        assert_eq!(t.idle(Protocol::Tcp), Some(Duration::from_secs(3600)));
        assert_eq!(t.per_request(Protocol::Tcp), None);
        let off = Timeouts {
            idle_timeout_seconds: Some(0),
            per_request_timeout_seconds: Some(0),
        };
        assert_eq!(off.idle(Protocol::Http), None);
        assert_eq!(off.per_request(Protocol::Grpc), None);
    }

    #[test]
    fn unknown_fields_and_bad_references_are_refused() {
        let e = Snapshot::from_json(br#"{"version": 1, "listeners": []}"#).unwrap_err();
        assert!(e.to_string().contains("listeners"), "{e}");
        let e = Snapshot::from_json(
            br#"{"version": 1, "egress": [{"alias": "a:80", "listen": "127.255.0.2:80", "upstream": "nope"}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        let e = Snapshot::from_json(
            br#"{"version": 1, "upstreams": {"db": {"protocol": "tcp", "timeout": {"perRequestTimeoutSeconds": 5}}}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("perRequestTimeoutSeconds"), "{e}");
    }
}
