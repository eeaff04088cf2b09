//! The berth proxy's observability, as ECS Service Connect has it: metrics and access logs.
//!
//! # Metrics
//!
//! [`Metrics`] holds every metric of one proxy and renders them in the Prometheus text
//! exposition format (0.0.4) for the admin endpoint ([`Metrics::render`]). The names are
//! Service Connect's CloudWatch metric names, exactly (counters get no `_total` suffix):
//!
//! | name | type | what |
//! | --- | --- | --- |
//! | `ActiveConnectionCount` | gauge | downstream connections open now |
//! | `NewConnectionCount` | counter | downstream connections opened |
//! | `ProcessedBytes` | counter | bytes received from and sent to downstream clients |
//! | `RequestCount` | counter | requests received (HTTP, HTTP/2, gRPC) |
//! | `GrpcRequestCount` | counter | gRPC requests received |
//! | `HTTPCode_Target_2XX_Count` … `HTTPCode_Target_5XX_Count` | counter | target responses by status class |
//! | `RequestCountPerTarget` | counter | target responses, by target (label `target` = the endpoint's `ip:port`) |
//! | `TargetProcessedBytes` | counter | bytes received from and sent to targets |
//! | `TargetResponseTime` | histogram | target response time in milliseconds (buckets 0.1 ms … 30 s) |
//! | `ClientTLSNegotiationErrorCount` | counter | failed TLS handshakes with downstream clients |
//! | `TargetTLSNegotiationErrorCount` | counter | failed TLS handshakes with targets |
//!
//! Every series has the labels `DiscoveryName` (ingress: the service this task serves),
//! `TargetDiscoveryName` (egress: the service called), `ServiceName`, `ClusterName` and
//! `direction` (`ingress` or `egress`); the one of `DiscoveryName`/`TargetDiscoveryName`
//! that does not apply is the empty string. A "target" is the endpoint an egress listener
//! forwards to, or the local application for an ingress listener.
//!
//! Labels are resolved once per listener ([`Metrics::listener`], at snapshot apply); the
//! handles it returns ([`ListenerMetrics`]) cost a few atomic operations per call.
//!
//! A load balancer's metrics have ELB's names and dimensions instead: see [`alb`].
//!
//! Whoever scrapes a proxy reads the text back with [`scrape`]: each series, and what it
//! did since an earlier scrape.
//!
//! # Access logs
//!
//! [`AccessLogger`] formats [`HttpRecord`]s and [`TcpRecord`]s as configured by
//! `accessLogConfiguration` (JSON or TEXT; the query string is kept in `path` only with
//! `includeQueryParameters`) and hands the lines to a background writer thread through a
//! bounded queue: logging never blocks a request, and lines are dropped (and counted,
//! [`AccessLogger::dropped`]) when the queue is full.
//!
//! HTTP fields (JSON keys; TEXT shows the Envoy default format, see below):
//!
//! | field | value |
//! | --- | --- |
//! | `start_time` | when the request started, RFC 3339 UTC with milliseconds |
//! | `direction` | `ingress` or `egress` (JSON only) |
//! | `listener` | the listener's name (JSON only) |
//! | `method` | the request method |
//! | `path` | the request path; with the query string only when `includeQueryParameters` |
//! | `protocol` | `HTTP/1.1`, `HTTP/2`, … |
//! | `response_code` | the status sent downstream (0 when none was sent) |
//! | `response_flags` | Envoy's response flags, `-` when none (see below) |
//! | `bytes_received` | request body bytes received from downstream |
//! | `bytes_sent` | response body bytes sent downstream |
//! | `duration_ms` | from request start to the last byte sent, in ms |
//! | `upstream_service_time` | the target's time to respond, in ms (`null`, TEXT `-`, when none) |
//! | `forwarded_for` | the `X-Forwarded-For` header |
//! | `user_agent` | the `User-Agent` header |
//! | `request_id` | the `X-Request-Id` header |
//! | `authority` | the `:authority` / `Host` |
//! | `upstream_host` | the target's `ip:port` |
//! | `stream_id` | HTTP/2 and gRPC only: the stream id |
//! | `grpc_status` | HTTP/2 and gRPC only: the gRPC status |
//!
//! Absent values are `null` in JSON and `-` in TEXT. The HTTP TEXT line is Envoy's
//! default format:
//!
//! ```text
//! [START_TIME] "METHOD PATH PROTOCOL" RESPONSE_CODE RESPONSE_FLAGS BYTES_RECEIVED BYTES_SENT DURATION UPSTREAM_SERVICE_TIME "FORWARDED_FOR" "USER_AGENT" "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST"
//! [2024-01-01T00:00:00.000Z] "GET /path HTTP/1.1" 200 - 0 612 3 2 "-" "curl/8" "req-id" "host" "10.0.0.5:80"
//! ```
//!
//! followed, for HTTP/2 and gRPC, by ` STREAM_ID "GRPC_STATUS"`.
//!
//! TCP fields: `start_time`, `direction`, `listener` (JSON only), `downstream_remote_address`,
//! `downstream_remote_port`, `downstream_local_address`, `downstream_local_port` (addresses
//! without the port), `bytes_received` (from downstream), `bytes_sent` (to downstream),
//! `duration_ms`, `upstream_host`, `termination_details` (why the proxy ended the
//! connection, when it did), `connection_id`. The TCP TEXT line:
//!
//! ```text
//! [START_TIME] REMOTE_ADDRESS REMOTE_PORT LOCAL_ADDRESS LOCAL_PORT BYTES_RECEIVED BYTES_SENT DURATION "UPSTREAM_HOST" "TERMINATION_DETAILS" CONNECTION_ID
//! [2024-01-01T00:00:00.000Z] 10.0.0.9 51234 10.0.0.4 8080 120 3400 15 "10.0.0.5:80" "-" 17
//! ```
//!
//! Response flags (Envoy's codes; several are joined with `,`):
//!
//! | flag | meaning |
//! | --- | --- |
//! | `UF` | upstream connection failure (connect refused, reset or timed out) |
//! | `UH` | no healthy upstream (no endpoint, or all ejected) |
//! | `UO` | upstream overflow (circuit breaker / pending limit) |
//! | `UT` | upstream request timeout (the per-request timeout fired) |
//! | `UR` | upstream remote reset (the target reset or closed mid-response) |
//! | `UC` | upstream connection termination |
//! | `URX` | retries exhausted: the retry limit (HTTP) or the connect attempts (TCP) ran out |
//! | `DC` | downstream connection termination (the client went away) |
//! | `DT` | duration timeout: the request or connection exceeded its maximum duration |
//! | `NR` | no route configured |
//! | `UPE` | upstream protocol error |
//! | `DPE` | downstream protocol error |
//! | `SI` | stream idle timeout (the idle timeout fired on a request or connection) |
//!
//! Header values, paths and other free text are escaped in TEXT lines (`"`, `\` and
//! control characters become `\"`, `\\` and `\xNN`) so that a line is always one line.
//!
//! # Use
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//! use berth_proxy_config::{AccessLog, AccessLogFormat};
//! use berth_telemetry::{AccessLogger, Dims, Direction, HttpRecord, Metrics};
//!
//! // Once per proxy.
//! let metrics = Arc::new(Metrics::new());
//! let log = Arc::new(AccessLogger::to_writer(
//!     AccessLog { format: AccessLogFormat::Json, include_query_parameters: false },
//!     Box::new(std::io::sink()),
//! ));
//!
//! // Once per listener, at snapshot apply.
//! let lm = metrics.listener(&Dims {
//!     direction: Direction::Egress,
//!     discovery_name: "payments".into(),
//!     service_name: "orders".into(),
//!     cluster_name: "prod".into(),
//! });
//!
//! // On the hot path.
//! let conn = lm.connection();
//! lm.request(false);
//! let target = "10.0.0.5:80".parse().unwrap();
//! lm.target_response(target, 200, Duration::from_millis(2), 900);
//! lm.processed_bytes(1200);
//! log.log_http(&HttpRecord {
//!     start_time: Some(SystemTime::now()),
//!     method: "GET".into(),
//!     path: "/pay?card=secret".into(),
//!     protocol: "HTTP/1.1".into(),
//!     response_code: 200,
//!     upstream_host: Some(target),
//!     direction: Some(Direction::Egress),
//!     listener: "payments:80".into(),
//!     ..HttpRecord::default()
//! });
//! drop(conn);
//!
//! // The admin endpoint.
//! assert!(metrics.render().contains("RequestCount{"));
//! log.flush();
//! ```

#![warn(missing_docs)]

mod access_log;
pub mod alb;
mod alb_log;
mod metrics;
pub mod scrape;
mod time;

pub use access_log::{AccessLogger, HttpRecord, TcpRecord, DEFAULT_QUEUE_CAPACITY};
pub use alb::{LoadBalancerMetrics, TargetGroupMetrics};
pub use alb_log::AlbRecord;
pub use metrics::{
    ConnectionGuard, ListenerMetrics, Metrics, TargetMetrics, RESPONSE_TIME_BUCKETS_MS,
};
pub use time::{format_rfc3339_micros, format_rfc3339_millis};

/// Which way a listener carries traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Into this task: from other tasks to the application this task serves.
    Ingress,
    /// Out of this task: from the application to a service it calls.
    #[default]
    Egress,
}

impl Direction {
    /// `ingress` or `egress`, as in the `direction` label and log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// The dimensions of one listener's metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Dims {
    /// Ingress or egress.
    pub direction: Direction,
    /// Ingress: the discovery name of the service this task serves (`DiscoveryName`);
    /// egress: the discovery name of the service called (`TargetDiscoveryName`).
    pub discovery_name: String,
    /// The ECS service this task belongs to (`ServiceName`).
    pub service_name: String,
    /// The ECS cluster (`ClusterName`).
    pub cluster_name: String,
}
