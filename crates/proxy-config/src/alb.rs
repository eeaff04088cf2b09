//! An Application Load Balancer's data plane configuration: a [`LoadBalancerSnapshot`],
//! the sibling of the Service Connect [`Snapshot`](crate::Snapshot). A proxy process
//! runs one kind or the other ([`AnySnapshot`](crate::AnySnapshot)), fed the same ways
//! (a file, NDJSON on stdin, `POST /snapshot` on its admin endpoint), versioned alike.
//!
//! It knows nothing of the ELB API: whoever runs the load balancer translates its
//! records (listeners, rules, target groups, registered targets) into this document.
//!
//! ```json
//! {
//!   "version": 7,
//!   "loadBalancer": {
//!     "name": "web",
//!     "arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188",
//!     "listeners": [{
//!       "address": "127.77.0.1", "port": 80,
//!       "defaultActions": [{"type": "fixed-response", "statusCode": 404}],
//!       "rules": [{"priority": 10,
//!                  "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
//!                  "actions": [{"type": "forward", "targetGroups": [{"targetGroup": "api"}]}]}]
//!     }],
//!     "targetGroups": {"api": {
//!       "name": "api",
//!       "arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/73e2d6bc24d8a067",
//!       "port": 8080,
//!       "healthCheck": {"path": "/health", "intervalSeconds": 5, "timeoutSeconds": 2},
//!       "targets": [{"id": "10.0.0.5", "ip": "10.0.0.5"}]
//!     }},
//!     "accessLog": {"path": "/var/log/berth/web.log"}
//!   }
//! }
//! ```
//!
//! # Addresses
//!
//! A load balancer listens on an address of its own in `127.0.0.0/8`
//! (`listeners[].address`, e.g. `127.77.0.9`): Linux routes all of it to loopback with
//! nothing to configure, so every load balancer of a host can have its port 80. Its
//! `DNSName` must resolve to that address from the host: a line in the host's
//! `/etc/hosts` (or `curl --resolve`). Names under `.localhost` alone do not do it: curl
//! and most resolvers answer them with `127.0.0.1` (and `::1`) whatever the name, so a
//! load balancer named that way must listen on `127.0.0.1` (or `0.0.0.0`), one per port.
//!
//! # Health reports
//!
//! The proxy checks each target as the group's `healthCheck` says and reports every
//! change of a target's health as one line of JSON (a [`TargetHealthChange`]) on its
//! health report output, and the whole picture on `GET /targets` (a [`TargetsReport`]):
//! both are types here, so the side that writes the ELB records deserializes exactly
//! what the proxy serializes. States, reasons and descriptions are those
//! `DescribeTargetHealth` shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// A load balancer's whole configuration at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancerSnapshot {
    /// Grows with every change; a proxy ignores a snapshot older than the one it runs.
    pub version: u64,
    /// The load balancer.
    pub load_balancer: LoadBalancer,
}

/// One Application Load Balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    /// Its name.
    pub name: String,
    /// Its ARN, `arn:...:loadbalancer/app/<name>/<id>`; the part after `loadbalancer/`
    /// is the `LoadBalancer` metrics dimension and the access log's `elb` field.
    pub arn: String,
    /// Its listeners.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    /// Its target groups, by a key the actions name (the group's ARN, or its name).
    #[serde(default)]
    pub target_groups: BTreeMap<String, TargetGroup>,
    /// How long a client connection may stay idle, and how long a target may take to
    /// answer (504 after it). Default 60 s, as ELB's `idle_timeout.timeout_seconds`.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// Access logs, in ELB's access log entry format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AlbAccessLog>,
}

fn default_idle_timeout() -> u64 {
    60
}

/// Where access log entries go (ELB writes them to S3; berth to a file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlbAccessLog {
    /// The file entries are appended to (made if missing).
    pub path: PathBuf,
}

/// A listener: the load balancer's address and port, its rules and default actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Listener {
    /// The address to listen on: the load balancer's own loopback address (its
    /// `DNSName` resolves to it), or `0.0.0.0` for every address. Default `0.0.0.0`.
    #[serde(default = "any_address")]
    pub address: IpAddr,
    /// The port (1-65535; 0 takes a free port, for tests).
    pub port: u16,
    /// The listener's protocol. Only `HTTP`.
    #[serde(default)]
    pub protocol: ListenerProtocol,
    /// What requests no rule matches get.
    pub default_actions: Vec<Action>,
    /// The rules, in any order: they are evaluated by priority, lowest first.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Who may connect (the load balancer's security groups' ingress for the port): a
    /// connection from elsewhere is closed unanswered. Absent: everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<Vec<Cidr>>,
}

fn any_address() -> IpAddr {
    IpAddr::from([0, 0, 0, 0])
}

impl Listener {
    /// The socket address it listens on.
    pub fn listen(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// A listener's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ListenerProtocol {
    /// Plain HTTP/1.1 (and HTTP/2 with prior knowledge).
    #[default]
    #[serde(rename = "HTTP")]
    Http,
}

/// A rule: when every condition matches, its actions run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// 1 to 50000, unique within the listener; the lowest matching one wins.
    pub priority: u32,
    /// The conditions, all of which must match (each matches when any of its values
    /// does). At least one.
    pub conditions: Vec<Condition>,
    /// The actions (one: forward, fixed-response or redirect).
    pub actions: Vec<Action>,
}

/// A rule condition, as ALB's `RuleCondition` (its `*Config` forms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Condition {
    /// The request path (without the query string), case-sensitive, `*` and `?`
    /// wildcards.
    PathPattern {
        /// Patterns, any of which may match.
        values: Vec<String>,
    },
    /// The `host` header without its port, case-insensitive, wildcards.
    HostHeader {
        /// Patterns, any of which may match.
        values: Vec<String>,
    },
    /// A header (name case-insensitive), its value case-insensitive, wildcards.
    HttpHeader {
        /// The header's name.
        #[serde(rename = "httpHeaderName")]
        name: String,
        /// Patterns, any of which may match.
        values: Vec<String>,
    },
    /// Query string parameters (URL-decoded), case-insensitive, wildcards.
    QueryString {
        /// Key/value patterns, any of which may match.
        values: Vec<QueryPattern>,
    },
    /// The request method, exactly.
    HttpRequestMethod {
        /// Methods, any of which may match.
        values: Vec<String>,
    },
    /// The client's address (the connection's, not `X-Forwarded-For`).
    SourceIp {
        /// CIDR blocks, any of which may contain it.
        values: Vec<Cidr>,
    },
}

impl Condition {
    /// The condition's `field`, as ALB names it.
    pub fn field(&self) -> &'static str {
        match self {
            Condition::PathPattern { .. } => "path-pattern",
            Condition::HostHeader { .. } => "host-header",
            Condition::HttpHeader { .. } => "http-header",
            Condition::QueryString { .. } => "query-string",
            Condition::HttpRequestMethod { .. } => "http-request-method",
            Condition::SourceIp { .. } => "source-ip",
        }
    }

    /// How many values it has (ALB counts them against a rule's limit).
    pub fn value_count(&self) -> usize {
        match self {
            Condition::PathPattern { values }
            | Condition::HostHeader { values }
            | Condition::HttpHeader { values, .. }
            | Condition::HttpRequestMethod { values } => values.len(),
            Condition::QueryString { values } => values.len(),
            Condition::SourceIp { values } => values.len(),
        }
    }
}

/// One query string pattern: a parameter whose key (when given) and value match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryPattern {
    /// The key pattern; absent: any key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value pattern.
    pub value: String,
}

/// An IPv4 or IPv6 CIDR block, written `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address (host bits zero).
    pub network: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not a CIDR block (address/prefix)"))?;
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{s}': '{addr}' is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("'{s}': the prefix length must be 0 to {max}"))?;
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a rule (or a listener's default) does with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// To a target group, or one of several by weight.
    #[serde(rename_all = "camelCase")]
    Forward {
        /// The groups (keys of [`LoadBalancer::target_groups`]) and their weights.
        target_groups: Vec<WeightedTargetGroup>,
        /// Target group stickiness (the `AWSALBTG` cookie). Not supported: refused
        /// when enabled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stickiness: Option<GroupStickiness>,
    },
    /// An answer the load balancer makes itself.
    #[serde(rename_all = "camelCase")]
    FixedResponse {
        /// 2XX, 4XX or 5XX.
        status_code: u16,
        /// `text/plain`, `text/css`, `text/html`, `application/javascript` or
        /// `application/json`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        /// The body (at most 1024 characters).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_body: Option<String>,
    },
    /// A redirect; each part may reuse the request's with `#{protocol}`, `#{host}`,
    /// `#{port}`, `#{path}` and `#{query}` (the defaults keep them as they are).
    #[serde(rename_all = "camelCase")]
    Redirect {
        /// `HTTP`, `HTTPS` or `#{protocol}` (the default).
        #[serde(default = "keep_protocol")]
        protocol: String,
        /// The host; default `#{host}`.
        #[serde(default = "keep_host")]
        host: String,
        /// The port; default `#{port}`.
        #[serde(default = "keep_port")]
        port: String,
        /// The path, starting with `/`; default `/#{path}`.
        #[serde(default = "keep_path")]
        path: String,
        /// The query, without its `?`; default `#{query}`.
        #[serde(default = "keep_query")]
        query: String,
        /// `HTTP_301` or `HTTP_302`.
        status_code: RedirectCode,
    },
}

fn keep_protocol() -> String {
    "#{protocol}".into()
}
fn keep_host() -> String {
    "#{host}".into()
}
fn keep_port() -> String {
    "#{port}".into()
}
fn keep_path() -> String {
    "/#{path}".into()
}
fn keep_query() -> String {
    "#{query}".into()
}

impl Action {
    /// The action's type, as ALB names it (and its access logs' `actions_executed`).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Forward { .. } => "forward",
            Action::FixedResponse { .. } => "fixed-response",
            Action::Redirect { .. } => "redirect",
        }
    }
}

/// A redirect's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedirectCode {
    /// 301 Moved Permanently.
    #[serde(rename = "HTTP_301")]
    Http301,
    /// 302 Found.
    #[serde(rename = "HTTP_302")]
    Http302,
}

impl RedirectCode {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            RedirectCode::Http301 => 301,
            RedirectCode::Http302 => 302,
        }
    }
}

/// A target group of a forward action, with its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightedTargetGroup {
    /// The key of the group in [`LoadBalancer::target_groups`].
    pub target_group: String,
    /// 0 to 999; a group's share is its weight over the sum. Default 1.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// Target group stickiness of a forward action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupStickiness {
    /// Whether it is on.
    pub enabled: bool,
    /// How long a client stays with its group, in seconds.
    #[serde(default)]
    pub duration_seconds: u64,
}

/// A target group: its targets, how they are checked and balanced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetGroup {
    /// Its name.
    pub name: String,
    /// Its ARN, `arn:...:targetgroup/<name>/<id>`; from `targetgroup/` on, the
    /// `TargetGroup` metrics dimension; whole, the access log's `target_group_arn`.
    pub arn: String,
    /// Only `HTTP`.
    #[serde(default)]
    pub protocol: ListenerProtocol,
    /// The port of targets registered without one.
    pub port: u16,
    /// Active health checks.
    #[serde(default)]
    pub health_check: HealthCheck,
    /// How long a deregistered target drains (the registry sets each draining
    /// target's `drainingUntil` from it). Default 300 s.
    #[serde(default = "default_deregistration_delay")]
    pub deregistration_delay_seconds: u64,
    /// Target stickiness (the `AWSALB` cookie). Not supported: refused when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<TargetStickiness>,
    /// How requests are spread over the healthy targets.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// The registered targets (draining ones included).
    #[serde(default)]
    pub targets: Vec<Target>,
}

fn default_deregistration_delay() -> u64 {
    300
}

impl TargetGroup {
    /// The `TargetGroup` metrics dimension: the ARN from `targetgroup/` on.
    pub fn dimension(&self) -> &str {
        dimension(&self.arn, "targetgroup/")
    }

    /// Where `t` is reached: its port, or the group's.
    pub fn address(&self, t: &Target) -> SocketAddr {
        SocketAddr::new(t.ip, t.port.unwrap_or(self.port))
    }
}

impl LoadBalancer {
    /// The `LoadBalancer` metrics dimension: the ARN after `loadbalancer/`
    /// (`app/<name>/<id>`).
    pub fn dimension(&self) -> &str {
        let d = dimension(&self.arn, "loadbalancer/");
        d.strip_prefix("loadbalancer/").unwrap_or(d)
    }
}

/// `arn` from `marker` on (all of it when it has none).
fn dimension<'a>(arn: &'a str, marker: &str) -> &'a str {
    arn.find(marker).map_or(arn, |i| &arn[i..])
}

/// Target stickiness of a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetStickiness {
    /// Whether it is on.
    pub enabled: bool,
    /// `lb_cookie`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// How long a client stays with its target, in seconds.
    #[serde(default)]
    pub duration_seconds: u64,
}

/// How a target group spreads requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Each healthy target in turn.
    #[default]
    RoundRobin,
    /// Fewer requests in flight wins (the power of two random choices).
    LeastOutstandingRequests,
}

/// A registered target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    /// Its id as registered (an IP address, an instance or task id), for reports and
    /// logs.
    pub id: String,
    /// Its address.
    pub ip: IpAddr,
    /// Its port; default the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Set when it was deregistered: it gets no new requests and is reported
    /// `draining` (until this time, in Unix milliseconds, and after it until the
    /// configuration stops listing it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draining_until: Option<u64>,
}

/// A target group's health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct HealthCheck {
    /// Whether targets are checked; without checks every target gets traffic and is
    /// reported `unavailable`.
    pub enabled: bool,
    /// The path asked for (`GET`). Default `/`.
    pub path: String,
    /// The port: `traffic-port` (the target's) or a number.
    pub port: HealthCheckPort,
    /// Seconds between checks of a target, 1 to 300 (ELB's API takes 5 to 300; the data
    /// plane takes shorter ones, for tests). Default 30.
    pub interval_seconds: u64,
    /// Seconds without an answer that fail a check, 1 to 120 (ELB: 2 to 120), less
    /// than the interval. Default 5.
    pub timeout_seconds: u64,
    /// Consecutive successes that make a target healthy, 2 to 10. Default 5.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a target unhealthy, 2 to 10. Default 2.
    pub unhealthy_threshold: u32,
    /// The statuses that pass.
    pub matcher: Matcher,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            enabled: true,
            path: "/".into(),
            port: HealthCheckPort::TrafficPort,
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: Matcher::default(),
        }
    }
}

/// A health check's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheckPort {
    /// The port traffic goes to.
    TrafficPort,
    /// This port.
    Port(u16),
}

impl Serialize for HealthCheckPort {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HealthCheckPort::TrafficPort => s.serialize_str("traffic-port"),
            HealthCheckPort::Port(p) => s.collect_str(p),
        }
    }
}

impl<'de> Deserialize<'de> for HealthCheckPort {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HealthCheckPort, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u16),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(p) => Ok(HealthCheckPort::Port(p)),
            Raw::S(s) if s == "traffic-port" => Ok(HealthCheckPort::TrafficPort),
            Raw::S(s) => s.parse().map(HealthCheckPort::Port).map_err(|_| {
                serde::de::Error::custom(format!("'{s}' is neither traffic-port nor a port number"))
            }),
        }
    }
}

/// The statuses a health check accepts: ELB's `Matcher.HttpCode`, e.g. `"200"`,
/// `"200-299"` or `"200,202"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Matcher {
    /// Codes and ranges, comma-separated, each 200 to 499.
    pub http_code: String,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher {
            http_code: "200".into(),
        }
    }
}

impl Matcher {
    /// The inclusive ranges it accepts, or what is wrong with it.
    pub fn ranges(&self) -> Result<Vec<(u16, u16)>, String> {
        let code = |s: &str| -> Result<u16, String> {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (200..=499).contains(c))
                .ok_or_else(|| format!("'{s}' is not a status code from 200 to 499"))
        };
        let mut out = Vec::new();
        for part in self.http_code.split(',') {
            let r = match part.split_once('-') {
                Some((a, b)) => (code(a)?, code(b)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if r.0 > r.1 {
                return Err(format!("the range '{part}' is empty"));
            }
            out.push(r);
        }
        Ok(out)
    }

    /// Whether `status` passes (false when the matcher is invalid).
    pub fn accepts(&self, status: u16) -> bool {
        self.ranges()
            .is_ok_and(|rs| rs.iter().any(|(a, b)| (*a..=*b).contains(&status)))
    }
}

// ---------------------------------------------------------------------------------------
// Validation.

/// One validation failure: the field's path and what is wrong.
fn invalid(field: impl fmt::Display, what: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid(format!("{field} {what}"))
}

/// The content types a fixed response may have.
const FIXED_CONTENT_TYPES: [&str; 5] = [
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

/// A range check of a numeric field: (name, value, min, max).
type RangeRule<'a> = (&'a str, u64, u64, u64);

fn check_ranges(prefix: &str, rules: &[RangeRule<'_>]) -> Result<(), ConfigError> {
    for (name, v, min, max) in rules {
        if v < min || v > max {
            return Err(invalid(
                format!("{prefix}.{name}"),
                format!("is {v}; it must be from {min} to {max}"),
            ));
        }
    }
    Ok(())
}

impl LoadBalancerSnapshot {
    /// Parses and validates a load balancer snapshot from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<LoadBalancerSnapshot, ConfigError> {
        let s: LoadBalancerSnapshot = serde_json::from_slice(bytes)?;
        s.validate()?;
        Ok(s)
    }

    /// Checks what types cannot (each failure names the field).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.load_balancer.validate()
    }
}

impl LoadBalancer {
    /// Checks listeners, rules, actions and target groups.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.arn.contains(":loadbalancer/app/") {
            return Err(invalid(
                "loadBalancer.arn",
                format!("'{}' is not an Application Load Balancer ARN", self.arn),
            ));
        }
        check_ranges(
            "loadBalancer",
            &[("idleTimeoutSeconds", self.idle_timeout_seconds, 1, 4000)],
        )?;
        let mut listens = BTreeSet::new();
        for (i, l) in self.listeners.iter().enumerate() {
            let at = format!("loadBalancer.listeners[{i}]");
            if l.port != 0 && !listens.insert(l.listen()) {
                return Err(invalid(
                    format!("{at}.port"),
                    format!("{} is used by another listener", l.listen()),
                ));
            }
            self.validate_listener(l, &at)?;
        }
        for (key, g) in &self.target_groups {
            validate_group(g, &format!("loadBalancer.targetGroups.{key}"))?;
        }
        Ok(())
    }

    fn validate_listener(&self, l: &Listener, at: &str) -> Result<(), ConfigError> {
        self.validate_actions(&l.default_actions, &format!("{at}.defaultActions"))?;
        let mut priorities = BTreeSet::new();
        for (j, r) in l.rules.iter().enumerate() {
            let rat = format!("{at}.rules[{j}]");
            check_ranges(&rat, &[("priority", u64::from(r.priority), 1, 50_000)])?;
            if !priorities.insert(r.priority) {
                return Err(invalid(
                    format!("{rat}.priority"),
                    format!("{} is used by another rule of the listener", r.priority),
                ));
            }
            validate_conditions(&r.conditions, &format!("{rat}.conditions"))?;
            self.validate_actions(&r.actions, &format!("{rat}.actions"))?;
        }
        Ok(())
    }

    /// One action, of a kind ALB ends a request with.
    fn validate_actions(&self, actions: &[Action], at: &str) -> Result<(), ConfigError> {
        let [action] = actions else {
            return Err(invalid(
                at,
                format!(
                    "has {} actions; it must have exactly one (forward, fixed-response or redirect)",
                    actions.len()
                ),
            ));
        };
        let at = format!("{at}[0]");
        match action {
            Action::Forward {
                target_groups,
                stickiness,
            } => self.validate_forward(target_groups, stickiness.as_ref(), &at),
            Action::FixedResponse {
                status_code,
                content_type,
                message_body,
            } => validate_fixed(*status_code, content_type.as_deref(), message_body, &at),
            Action::Redirect {
                protocol,
                host,
                port,
                path,
                query,
                ..
            } => validate_redirect([protocol, host, port, path, query], &at),
        }
    }

    fn validate_forward(
        &self,
        groups: &[WeightedTargetGroup],
        stickiness: Option<&GroupStickiness>,
        at: &str,
    ) -> Result<(), ConfigError> {
        if groups.is_empty() || groups.len() > 5 {
            return Err(invalid(
                format!("{at}.targetGroups"),
                format!("has {} groups; it must have 1 to 5", groups.len()),
            ));
        }
        let mut seen = BTreeSet::new();
        for (k, g) in groups.iter().enumerate() {
            let gat = format!("{at}.targetGroups[{k}]");
            if !self.target_groups.contains_key(&g.target_group) {
                return Err(invalid(
                    format!("{gat}.targetGroup"),
                    format!("'{}' is not in loadBalancer.targetGroups", g.target_group),
                ));
            }
            if !seen.insert(&g.target_group) {
                return Err(invalid(
                    format!("{gat}.targetGroup"),
                    format!("'{}' is named twice", g.target_group),
                ));
            }
            check_ranges(&gat, &[("weight", u64::from(g.weight), 0, 999)])?;
        }
        if groups.iter().all(|g| g.weight == 0) {
            return Err(invalid(
                format!("{at}.targetGroups"),
                "has only weights of 0; one group at least must have a weight",
            ));
        }
        if stickiness.is_some_and(|s| s.enabled) {
            return Err(invalid(
                format!("{at}.stickiness.enabled"),
                "is true: target group stickiness is not supported",
            ));
        }
        Ok(())
    }
}

fn validate_fixed(
    status: u16,
    content_type: Option<&str>,
    body: &Option<String>,
    at: &str,
) -> Result<(), ConfigError> {
    if !matches!(status, 200..=299 | 400..=599) {
        return Err(invalid(
            format!("{at}.statusCode"),
            format!("is {status}; it must be a 2XX, 4XX or 5XX code"),
        ));
    }
    if let Some(ct) = content_type {
        if !FIXED_CONTENT_TYPES.contains(&ct) {
            return Err(invalid(
                format!("{at}.contentType"),
                format!("'{ct}' is not one of {}", FIXED_CONTENT_TYPES.join(", ")),
            ));
        }
    }
    if body.as_ref().is_some_and(|b| b.chars().count() > 1024) {
        return Err(invalid(
            format!("{at}.messageBody"),
            "is longer than 1024 characters",
        ));
    }
    Ok(())
}

/// A redirect's parts: `[protocol, host, port, path, query]`.
fn validate_redirect(parts: [&String; 5], at: &str) -> Result<(), ConfigError> {
    let [protocol, host, port, path, query] = parts;
    if !["HTTP", "HTTPS", "#{protocol}"].contains(&protocol.as_str()) {
        return Err(invalid(
            format!("{at}.protocol"),
            format!("'{protocol}' is not HTTP, HTTPS or #{{protocol}}"),
        ));
    }
    if !port.contains("#{port}") && port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(invalid(
            format!("{at}.port"),
            format!("'{port}' is not a port from 1 to 65535 or #{{port}}"),
        ));
    }
    if !path.starts_with('/') {
        return Err(invalid(format!("{at}.path"), "must start with /"));
    }
    if host.is_empty() {
        return Err(invalid(format!("{at}.host"), "is empty"));
    }
    let unchanged = protocol == "#{protocol}"
        && host == "#{host}"
        && port == "#{port}"
        && path == "/#{path}"
        && query == "#{query}";
    if unchanged {
        return Err(invalid(
            at,
            "redirects to the request's own URL: change its protocol, host, port, path or query",
        ));
    }
    Ok(())
}

/// Rule conditions: at least one, each field once (http-header and query-string: once
/// per header name or any number of times), values present and well-formed.
fn validate_conditions(conditions: &[Condition], at: &str) -> Result<(), ConfigError> {
    if conditions.is_empty() {
        return Err(invalid(at, "is empty; a rule needs at least one condition"));
    }
    let total: usize = conditions.iter().map(Condition::value_count).sum();
    if total > 5 {
        return Err(invalid(
            at,
            format!("have {total} values in all; a rule may have at most 5"),
        ));
    }
    let mut once = BTreeSet::new();
    for (k, c) in conditions.iter().enumerate() {
        let cat = format!("{at}[{k}]");
        let repeatable = matches!(
            c,
            Condition::HttpHeader { .. } | Condition::QueryString { .. }
        );
        if !repeatable && !once.insert(c.field()) {
            return Err(invalid(
                format!("{cat}.field"),
                format!(
                    "{} is given twice; give its values in one condition",
                    c.field()
                ),
            ));
        }
        if c.value_count() == 0 {
            return Err(invalid(format!("{cat}.values"), "is empty"));
        }
        validate_condition(c, &cat)?;
    }
    Ok(())
}

/// The characters ALB allows in patterns of this kind.
fn pattern_ok(v: &str, max: usize) -> bool {
    !v.is_empty() && v.len() <= max && v.bytes().all(|b| (0x21..0x7f).contains(&b) || b == b' ')
}

fn validate_condition(c: &Condition, at: &str) -> Result<(), ConfigError> {
    let bad_value = |v: &str, why: &str| invalid(format!("{at}.values"), format!("'{v}' {why}"));
    match c {
        Condition::PathPattern { values } | Condition::HostHeader { values } => {
            for v in values {
                if !pattern_ok(v, 128) {
                    return Err(bad_value(v, "must be 1 to 128 visible ASCII characters"));
                }
            }
        }
        Condition::HttpHeader { name, values } => {
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if name.is_empty() || name.len() > 40 || !name.bytes().all(token) {
                return Err(invalid(
                    format!("{at}.httpHeaderName"),
                    format!("'{name}' is not a header name of at most 40 characters"),
                ));
            }
            for v in values {
                if !pattern_ok(v, 128) {
                    return Err(bad_value(v, "must be 1 to 128 visible ASCII characters"));
                }
            }
        }
        Condition::QueryString { values } => {
            for q in values {
                if q.key.as_deref().is_some_and(|k| !pattern_ok(k, 128))
                    || !pattern_ok(&q.value, 128)
                {
                    return Err(bad_value(
                        &q.value,
                        "(or its key) must be 1 to 128 visible ASCII characters",
                    ));
                }
            }
        }
        Condition::HttpRequestMethod { values } => {
            for v in values {
                let ok = |b: u8| b.is_ascii_uppercase() || b == b'-' || b == b'_';
                if v.is_empty() || v.len() > 40 || !v.bytes().all(ok) {
                    return Err(bad_value(v, "is not a method (A-Z, - and _, at most 40)"));
                }
            }
        }
        Condition::SourceIp { .. } => {}
    }
    Ok(())
}

fn validate_group(g: &TargetGroup, at: &str) -> Result<(), ConfigError> {
    if !g.arn.contains(":targetgroup/") {
        return Err(invalid(
            format!("{at}.arn"),
            format!("'{}' is not a target group ARN", g.arn),
        ));
    }
    if g.port == 0 {
        return Err(invalid(format!("{at}.port"), "must be from 1 to 65535"));
    }
    let hc = &g.health_check;
    let hat = format!("{at}.healthCheck");
    check_ranges(
        &hat,
        &[
            ("intervalSeconds", hc.interval_seconds, 1, 300),
            ("timeoutSeconds", hc.timeout_seconds, 1, 120),
            ("healthyThreshold", u64::from(hc.healthy_threshold), 2, 10),
            (
                "unhealthyThreshold",
                u64::from(hc.unhealthy_threshold),
                2,
                10,
            ),
        ],
    )?;
    check_ranges(
        at,
        &[(
            "deregistrationDelaySeconds",
            g.deregistration_delay_seconds,
            0,
            3600,
        )],
    )?;
    if hc.timeout_seconds >= hc.interval_seconds {
        return Err(invalid(
            format!("{hat}.timeoutSeconds"),
            format!(
                "({}) must be less than intervalSeconds ({})",
                hc.timeout_seconds, hc.interval_seconds
            ),
        ));
    }
    if !hc.path.starts_with('/') || hc.path.len() > 1024 {
        return Err(invalid(
            format!("{hat}.path"),
            "must start with / and have at most 1024 characters",
        ));
    }
    if let HealthCheckPort::Port(0) = hc.port {
        return Err(invalid(format!("{hat}.port"), "must be from 1 to 65535"));
    }
    hc.matcher
        .ranges()
        .map_err(|e| invalid(format!("{hat}.matcher.httpCode"), e))?;
    if g.stickiness.as_ref().is_some_and(|s| s.enabled) {
        return Err(invalid(
            format!("{at}.stickiness.enabled"),
            "is true: target stickiness is not supported",
        ));
    }
    let mut seen = BTreeSet::new();
    for (j, t) in g.targets.iter().enumerate() {
        if t.port == Some(0) {
            return Err(invalid(
                format!("{at}.targets[{j}].port"),
                "must be from 1 to 65535",
            ));
        }
        if !seen.insert(g.address(t)) {
            return Err(invalid(
                format!("{at}.targets[{j}]"),
                format!("{} is registered twice", g.address(t)),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Health reports.

/// A target's health, as `DescribeTargetHealth`'s `TargetHealth.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// Registered, not yet through its first checks: gets no traffic.
    Initial,
    /// Passing its checks.
    Healthy,
    /// Failing its checks.
    Unhealthy,
    /// Deregistered, finishing its requests: gets no new ones.
    Draining,
    /// Health checks are disabled: gets traffic, health unknown.
    Unavailable,
}

/// Why a target is in its state: ELB's `TargetHealth.Reason` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TargetReason {
    /// Registration is in progress (before its first check).
    #[serde(rename = "Elb.RegistrationInProgress")]
    RegistrationInProgress,
    /// Its first checks are running.
    #[serde(rename = "Elb.InitialHealthChecking")]
    InitialHealthChecking,
    /// Its checks got a status the matcher refuses.
    #[serde(rename = "Target.ResponseCodeMismatch")]
    ResponseCodeMismatch,
    /// Its checks timed out.
    #[serde(rename = "Target.Timeout")]
    Timeout,
    /// Its checks failed (connection refused or reset, not HTTP).
    #[serde(rename = "Target.FailedHealthChecks")]
    FailedHealthChecks,
    /// It was deregistered and drains.
    #[serde(rename = "Target.DeregistrationInProgress")]
    DeregistrationInProgress,
    /// Health checks are disabled.
    #[serde(rename = "Target.HealthCheckDisabled")]
    HealthCheckDisabled,
}

/// One target's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetHealth {
    /// The target's id as registered.
    pub id: String,
    /// Its address.
    pub ip: IpAddr,
    /// The port checked traffic goes to.
    pub port: u16,
    /// Its state.
    pub state: TargetState,
    /// Why (absent when healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<TargetReason>,
    /// What `DescribeTargetHealth` shows as `Description` (absent when healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Since when it is in this state, Unix milliseconds.
    pub since: u64,
}

/// One change of a target's health: a line of the health report output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetHealthChange {
    /// The load balancer's ARN.
    pub load_balancer_arn: String,
    /// The target group's key.
    pub target_group: String,
    /// The target group's ARN.
    pub target_group_arn: String,
    /// The target and its new health.
    pub target: TargetHealth,
    /// The state it left (absent for a new target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<TargetState>,
}

impl TargetHealthChange {
    /// The change as one line of JSON (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a health change always serializes")
    }
}

/// The health of every target: what `GET /targets` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetsReport {
    /// The snapshot version in force (`null` before the first).
    pub version: Option<u64>,
    /// The load balancer's ARN (`null` when the proxy runs no load balancer).
    pub load_balancer_arn: Option<String>,
    /// Each target group, by key.
    pub target_groups: BTreeMap<String, GroupHealthReport>,
}

/// One target group's targets and their health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupHealthReport {
    /// The group's ARN.
    pub arn: String,
    /// Its targets, in the configuration's order.
    pub targets: Vec<TargetHealth>,
}

#[cfg(test)]
mod tests;
