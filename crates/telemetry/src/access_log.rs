//! Access logs (`accessLogConfiguration`): formatting and a background writer.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use berth_proxy_config::{AccessLog, AccessLogFormat};
use serde::Serialize;

use crate::time::write_rfc3339_millis;
use crate::Direction;

/// How many lines [`AccessLogger::stdout`] and [`AccessLogger::to_writer`] queue before
/// they drop.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16 * 1024;

/// One HTTP request (HTTP/1.1, HTTP/2 or gRPC), as logged. Fields left `None` are logged
/// as `null` (JSON) or `-` (TEXT).
#[derive(Debug, Clone, Default)]
pub struct HttpRecord {
    /// When the request started; `None`: the time of logging less `duration`.
    pub start_time: Option<SystemTime>,
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path with its query string; the logger strips the query unless
    /// `includeQueryParameters`.
    pub path: String,
    /// The protocol, e.g. `HTTP/1.1` or `HTTP/2`.
    pub protocol: String,
    /// The status sent downstream; 0 when no response was sent.
    pub response_code: u16,
    /// Envoy response flags (`UF`, `UT`, `UR`, `URX`, `DC`, …, comma-separated); empty
    /// when none. See the crate documentation.
    pub response_flags: String,
    /// Request body bytes received from downstream.
    pub bytes_received: u64,
    /// Response body bytes sent downstream.
    pub bytes_sent: u64,
    /// From the request's start to the last byte sent downstream.
    pub duration: Duration,
    /// The target's time to respond (request sent to response headers received).
    pub upstream_service_time: Option<Duration>,
    /// The `X-Forwarded-For` header.
    pub forwarded_for: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `X-Request-Id` header.
    pub request_id: Option<String>,
    /// The `:authority` pseudo-header or `Host`.
    pub authority: Option<String>,
    /// The target the request went to (the last one tried).
    pub upstream_host: Option<SocketAddr>,
    /// HTTP/2 and gRPC: the downstream stream id.
    pub stream_id: Option<u32>,
    /// gRPC: the `grpc-status` of the response (e.g. `0` or `OK`).
    pub grpc_status: Option<String>,
    /// The listener's direction.
    pub direction: Option<Direction>,
    /// The listener's name (e.g. the egress alias or the ingress discovery name).
    pub listener: String,
    /// TLS: the identity (URI SAN) of the client's verified certificate (mutual TLS).
    pub downstream_peer_identity: Option<String>,
    /// TLS: why the handshake with the target failed.
    pub upstream_transport_failure_reason: Option<String>,
}

/// One TCP connection, as logged.
#[derive(Debug, Clone, Default)]
pub struct TcpRecord {
    /// When the connection was accepted; `None`: the time of logging less `duration`.
    pub start_time: Option<SystemTime>,
    /// The client's address.
    pub downstream_remote: Option<SocketAddr>,
    /// The listener's address the client connected to.
    pub downstream_local: Option<SocketAddr>,
    /// Bytes received from downstream.
    pub bytes_received: u64,
    /// Bytes sent to downstream.
    pub bytes_sent: u64,
    /// How long the connection lasted.
    pub duration: Duration,
    /// The target the connection went to.
    pub upstream_host: Option<SocketAddr>,
    /// Why the proxy ended the connection, when it did (e.g. `idle timeout`).
    pub termination_details: Option<String>,
    /// The connection's id (unique within the proxy's run).
    pub connection_id: u64,
    /// The listener's direction.
    pub direction: Option<Direction>,
    /// The listener's name.
    pub listener: String,
    /// TLS: the identity (URI SAN) of the client's verified certificate (mutual TLS).
    pub downstream_peer_identity: Option<String>,
    /// TLS: why the handshake with the target, or with the client, failed.
    pub upstream_transport_failure_reason: Option<String>,
}

enum Msg {
    Line(String),
    Flush(SyncSender<()>),
}

/// Writes access log lines from a dedicated thread: logging formats the line on the
/// caller's thread and queues it without blocking; when the bounded queue is full the line
/// is dropped and counted ([`dropped`](Self::dropped)). The writer buffers and flushes
/// whenever the queue runs empty. `Send + Sync`; share it in an `Arc`.
///
/// Dropping the logger lets the writer finish the queued lines in the background; call
/// [`flush`](Self::flush) first to wait for them (at shutdown).
pub struct AccessLogger {
    config: AccessLog,
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for AccessLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLogger")
            .field("config", &self.config)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl AccessLogger {
    /// Writes to stdout.
    pub fn stdout(config: AccessLog) -> AccessLogger {
        AccessLogger::to_writer(config, Box::new(std::io::stdout()))
    }

    /// Writes to any writer (tests, files).
    pub fn to_writer(config: AccessLog, w: Box<dyn Write + Send>) -> AccessLogger {
        AccessLogger::with_capacity(config, w, DEFAULT_QUEUE_CAPACITY)
    }

    /// Writes to `w`, queueing at most `capacity` lines (at least 1).
    pub fn with_capacity(
        config: AccessLog,
        w: Box<dyn Write + Send>,
        capacity: usize,
    ) -> AccessLogger {
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        std::thread::Builder::new()
            .name("berth-access-log".into())
            .spawn(move || write_loop(rx, w))
            .expect("spawn the access log writer thread");
        AccessLogger {
            config,
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> AccessLog {
        self.config
    }

    /// Logs one HTTP request.
    pub fn log_http(&self, rec: &HttpRecord) {
        self.send(format_http(&self.config, rec, SystemTime::now()));
    }

    /// Logs one TCP connection.
    pub fn log_tcp(&self, rec: &TcpRecord) {
        self.send(format_tcp(&self.config, rec, SystemTime::now()));
    }

    /// A load balancer's access log, writing ELB's entry format to `w` (the Service
    /// Connect formats do not apply).
    pub fn elb(w: Box<dyn Write + Send>) -> AccessLogger {
        let config = AccessLog {
            format: AccessLogFormat::Text,
            include_query_parameters: true,
        };
        AccessLogger::to_writer(config, w)
    }

    /// Logs one request through a load balancer, in ELB's format.
    pub fn log_alb(&self, rec: &crate::AlbRecord) {
        self.send(crate::alb_log::format_alb(rec));
    }

    fn send(&self, line: String) {
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every line queued before this call is written and flushed (tests,
    /// shutdown). Blocks while the writer does.
    pub fn flush(&self) {
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv();
        }
    }
}

/// The writer thread: write what comes, flush when the queue is empty.
fn write_loop(rx: Receiver<Msg>, w: Box<dyn Write + Send>) {
    let mut w = BufWriter::with_capacity(64 * 1024, w);
    // Write errors (e.g. a closed stdout) lose lines; there is nowhere to report them.
    let handle = |w: &mut BufWriter<Box<dyn Write + Send>>, msg: Msg| match msg {
        Msg::Line(line) => {
            let _ = w.write_all(line.as_bytes());
        }
        Msg::Flush(ack) => {
            let _ = w.flush();
            let _ = ack.send(());
        }
    };
    while let Ok(msg) = rx.recv() {
        handle(&mut w, msg);
        loop {
            match rx.try_recv() {
                Ok(msg) => handle(&mut w, msg),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let _ = w.flush();
                    return;
                }
            }
        }
        let _ = w.flush();
    }
    let _ = w.flush();
}

/// `path` without its query string unless the configuration keeps it.
fn logged_path<'a>(config: &AccessLog, path: &'a str) -> &'a str {
    if config.include_query_parameters {
        path
    } else {
        path.split_once('?').map_or(path, |(p, _)| p)
    }
}

fn start_of(start: Option<SystemTime>, duration: Duration, now: SystemTime) -> SystemTime {
    start.unwrap_or_else(|| now.checked_sub(duration).unwrap_or(now))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn is_h2(rec: &HttpRecord) -> bool {
    rec.protocol.starts_with("HTTP/2") || rec.stream_id.is_some() || rec.grpc_status.is_some()
}

#[derive(Serialize)]
struct HttpJson<'a> {
    start_time: &'a str,
    direction: Option<&'static str>,
    listener: &'a str,
    method: &'a str,
    path: &'a str,
    protocol: &'a str,
    response_code: u16,
    response_flags: &'a str,
    bytes_received: u64,
    bytes_sent: u64,
    duration_ms: u64,
    upstream_service_time: Option<u64>,
    forwarded_for: Option<&'a str>,
    user_agent: Option<&'a str>,
    request_id: Option<&'a str>,
    authority: Option<&'a str>,
    upstream_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_id: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grpc_status: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    downstream_peer_identity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_transport_failure_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct TcpJson<'a> {
    start_time: &'a str,
    direction: Option<&'static str>,
    listener: &'a str,
    downstream_remote_address: Option<String>,
    downstream_remote_port: Option<u16>,
    downstream_local_address: Option<String>,
    downstream_local_port: Option<u16>,
    bytes_received: u64,
    bytes_sent: u64,
    duration_ms: u64,
    upstream_host: Option<String>,
    termination_details: Option<&'a str>,
    connection_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    downstream_peer_identity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_transport_failure_reason: Option<&'a str>,
}

/// One HTTP line, newline included.
pub(crate) fn format_http(config: &AccessLog, rec: &HttpRecord, now: SystemTime) -> String {
    let mut start = String::with_capacity(24);
    write_rfc3339_millis(&mut start, start_of(rec.start_time, rec.duration, now));
    let path = logged_path(config, &rec.path);
    let flags = if rec.response_flags.is_empty() {
        "-"
    } else {
        rec.response_flags.as_str()
    };
    let h2 = is_h2(rec);
    match config.format {
        AccessLogFormat::Json => {
            let j = HttpJson {
                start_time: &start,
                direction: rec.direction.map(Direction::as_str),
                listener: &rec.listener,
                method: &rec.method,
                path,
                protocol: &rec.protocol,
                response_code: rec.response_code,
                response_flags: flags,
                bytes_received: rec.bytes_received,
                bytes_sent: rec.bytes_sent,
                duration_ms: millis(rec.duration),
                upstream_service_time: rec.upstream_service_time.map(millis),
                forwarded_for: rec.forwarded_for.as_deref(),
                user_agent: rec.user_agent.as_deref(),
                request_id: rec.request_id.as_deref(),
                authority: rec.authority.as_deref(),
                upstream_host: rec.upstream_host.map(|a| a.to_string()),
                stream_id: h2.then_some(rec.stream_id),
                grpc_status: h2.then_some(rec.grpc_status.as_deref()),
                downstream_peer_identity: rec.downstream_peer_identity.as_deref(),
                upstream_transport_failure_reason: rec.upstream_transport_failure_reason.as_deref(),
            };
            json_line(&j)
        }
        AccessLogFormat::Text => http_text(rec, &start, path, flags, h2),
    }
}

/// One HTTP line in the text format: Envoy's default format's fields, newline included.
fn http_text(rec: &HttpRecord, start: &str, path: &str, flags: &str, h2: bool) -> String {
    let mut s = String::with_capacity(256);
    s.push('[');
    s.push_str(start);
    s.push_str("] \"");
    text(&mut s, Some(&rec.method));
    s.push(' ');
    text(&mut s, Some(path));
    s.push(' ');
    text(&mut s, Some(&rec.protocol));
    let _ = write!(
        s,
        "\" {} ",
        rec.response_code // Envoy logs 0 when no response was sent
    );
    text(&mut s, Some(flags));
    let _ = write!(
        s,
        " {} {} {} ",
        rec.bytes_received,
        rec.bytes_sent,
        millis(rec.duration)
    );
    match rec.upstream_service_time {
        Some(d) => {
            let _ = write!(s, "{}", millis(d));
        }
        None => s.push('-'),
    }
    for v in [
        rec.forwarded_for.as_deref(),
        rec.user_agent.as_deref(),
        rec.request_id.as_deref(),
        rec.authority.as_deref(),
    ] {
        s.push_str(" \"");
        text(&mut s, v);
        s.push('"');
    }
    s.push_str(" \"");
    addr(&mut s, rec.upstream_host);
    s.push('"');
    if h2 {
        s.push(' ');
        match rec.stream_id {
            Some(id) => {
                let _ = write!(s, "{id}");
            }
            None => s.push('-'),
        }
        s.push_str(" \"");
        text(&mut s, rec.grpc_status.as_deref());
        s.push('"');
    }
    tls_text(
        &mut s,
        rec.downstream_peer_identity.as_deref(),
        rec.upstream_transport_failure_reason.as_deref(),
    );
    s.push('\n');
    s
}

/// One TCP line, newline included.
pub(crate) fn format_tcp(config: &AccessLog, rec: &TcpRecord, now: SystemTime) -> String {
    let mut start = String::with_capacity(24);
    write_rfc3339_millis(&mut start, start_of(rec.start_time, rec.duration, now));
    match config.format {
        AccessLogFormat::Json => {
            let j = TcpJson {
                start_time: &start,
                direction: rec.direction.map(Direction::as_str),
                listener: &rec.listener,
                downstream_remote_address: rec.downstream_remote.map(|a| a.ip().to_string()),
                downstream_remote_port: rec.downstream_remote.map(|a| a.port()),
                downstream_local_address: rec.downstream_local.map(|a| a.ip().to_string()),
                downstream_local_port: rec.downstream_local.map(|a| a.port()),
                bytes_received: rec.bytes_received,
                bytes_sent: rec.bytes_sent,
                duration_ms: millis(rec.duration),
                upstream_host: rec.upstream_host.map(|a| a.to_string()),
                termination_details: rec.termination_details.as_deref(),
                connection_id: rec.connection_id,
                downstream_peer_identity: rec.downstream_peer_identity.as_deref(),
                upstream_transport_failure_reason: rec.upstream_transport_failure_reason.as_deref(),
            };
            json_line(&j)
        }
        AccessLogFormat::Text => {
            let mut s = String::with_capacity(160);
            s.push('[');
            s.push_str(&start);
            s.push(']');
            for a in [rec.downstream_remote, rec.downstream_local] {
                match a {
                    Some(a) => {
                        let _ = write!(s, " {} {}", a.ip(), a.port());
                    }
                    None => s.push_str(" - -"),
                }
            }
            let _ = write!(
                s,
                " {} {} {} \"",
                rec.bytes_received,
                rec.bytes_sent,
                millis(rec.duration)
            );
            addr(&mut s, rec.upstream_host);
            s.push_str("\" \"");
            text(&mut s, rec.termination_details.as_deref());
            let _ = write!(s, "\" {}", rec.connection_id);
            tls_text(
                &mut s,
                rec.downstream_peer_identity.as_deref(),
                rec.upstream_transport_failure_reason.as_deref(),
            );
            s.push('\n');
            s
        }
    }
}

/// Text lines end with the TLS fields only when there is one: the peer's identity and
/// the handshake failure, quoted.
fn tls_text(out: &mut String, identity: Option<&str>, failure: Option<&str>) {
    if identity.is_none() && failure.is_none() {
        return;
    }
    for v in [identity, failure] {
        out.push_str(" \"");
        text(out, v);
        out.push('"');
    }
}

fn json_line<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string(v).expect("access log records serialize");
    s.push('\n');
    s
}

fn addr(out: &mut String, a: Option<SocketAddr>) {
    match a {
        Some(a) => {
            let _ = write!(out, "{a}");
        }
        None => out.push('-'),
    }
}

/// Appends a TEXT field: `-` when absent or empty; `"`, `\` and control characters escaped
/// so that the line stays one line and its quoted fields stay delimited.
fn text(out: &mut String, v: Option<&str>) {
    let v = match v {
        Some(v) if !v.is_empty() => v,
        _ => {
            out.push('-');
            return;
        }
    };
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::{Condvar, Mutex};
    use std::time::{Instant, UNIX_EPOCH};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct SharedBuf(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl SharedBuf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn config(format: AccessLogFormat, include_query_parameters: bool) -> AccessLog {
        AccessLog {
            format,
            include_query_parameters,
        }
    }

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_704_067_200) // 2024-01-01T00:00:00Z
    }

    fn http() -> HttpRecord {
        HttpRecord {
            start_time: Some(t0()),
            method: "GET".into(),
            path: "/path?token=secret&x=1".into(),
            protocol: "HTTP/1.1".into(),
            response_code: 200,
            response_flags: String::new(),
            bytes_received: 0,
            bytes_sent: 612,
            duration: Duration::from_millis(3),
            upstream_service_time: Some(Duration::from_millis(2)),
            forwarded_for: None,
            user_agent: Some("curl/8".into()),
            request_id: Some("req-id".into()),
            authority: Some("host".into()),
            upstream_host: Some("10.0.0.5:80".parse().unwrap()),
            stream_id: None,
            grpc_status: None,
            direction: Some(Direction::Egress),
            listener: "payments:80".into(),
            downstream_peer_identity: None,
            upstream_transport_failure_reason: None,
        }
    }

    fn tcp() -> TcpRecord {
        TcpRecord {
            start_time: Some(t0()),
            downstream_remote: Some("10.0.0.9:51234".parse().unwrap()),
            downstream_local: Some("10.0.0.4:8080".parse().unwrap()),
            bytes_received: 120,
            bytes_sent: 3400,
            duration: Duration::from_millis(15),
            upstream_host: Some("10.0.0.5:80".parse().unwrap()),
            termination_details: None,
            connection_id: 17,
            direction: Some(Direction::Ingress),
            listener: "db".into(),
            downstream_peer_identity: None,
            upstream_transport_failure_reason: None,
        }
    }

    #[test]
    fn tls_fields_only_when_known() {
        let mut r = http();
        r.downstream_peer_identity = Some("spiffe://ns/c/web".into());
        let j = json(&format_http(
            &config(AccessLogFormat::Json, false),
            &r,
            t0(),
        ));
        assert_eq!(j["downstream_peer_identity"], "spiffe://ns/c/web");
        assert!(!j.contains_key("upstream_transport_failure_reason"));
        let plain = format_http(&config(AccessLogFormat::Json, false), &http(), t0());
        assert!(!json(&plain).contains_key("downstream_peer_identity"));
        let mut t = tcp();
        t.upstream_transport_failure_reason =
            Some("invalid peer certificate: UnknownIssuer".into());
        let line = format_tcp(&config(AccessLogFormat::Text, false), &t, t0());
        assert!(
            line.ends_with(" 17 \"-\" \"invalid peer certificate: UnknownIssuer\"\n"),
            "{line}"
        );
    }

    fn json(line: &str) -> serde_json::Map<String, serde_json::Value> {
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        match serde_json::from_str(line).expect("valid JSON") {
            serde_json::Value::Object(m) => m,
            v => panic!("not an object: {v}"),
        }
    }

    const HTTP_FIELDS: &[&str] = &[
        "start_time",
        "direction",
        "listener",
        "method",
        "path",
        "protocol",
        "response_code",
        "response_flags",
        "bytes_received",
        "bytes_sent",
        "duration_ms",
        "upstream_service_time",
        "forwarded_for",
        "user_agent",
        "request_id",
        "authority",
        "upstream_host",
    ];

    #[test]
    fn http_json_every_field() {
        let line = format_http(&config(AccessLogFormat::Json, false), &http(), t0());
        let j = json(&line);
        let keys: HashSet<&str> = j.keys().map(String::as_str).collect();
        assert_eq!(keys, HTTP_FIELDS.iter().copied().collect());
        assert_eq!(j["start_time"], "2024-01-01T00:00:00.000Z");
        assert_eq!(j["direction"], "egress");
        assert_eq!(j["listener"], "payments:80");
        assert_eq!(j["method"], "GET");
        assert_eq!(j["path"], "/path");
        assert_eq!(j["protocol"], "HTTP/1.1");
        assert_eq!(j["response_code"], 200);
        assert_eq!(j["response_flags"], "-");
        assert_eq!(j["bytes_received"], 0);
        assert_eq!(j["bytes_sent"], 612);
        assert_eq!(j["duration_ms"], 3);
        assert_eq!(j["upstream_service_time"], 2);
        assert_eq!(j["forwarded_for"], serde_json::Value::Null);
        assert_eq!(j["user_agent"], "curl/8");
        assert_eq!(j["request_id"], "req-id");
        assert_eq!(j["authority"], "host");
        assert_eq!(j["upstream_host"], "10.0.0.5:80");
    }

    #[test]
    fn query_parameters_per_config() {
        let with = json(&format_http(
            &config(AccessLogFormat::Json, true),
            &http(),
            t0(),
        ));
        assert_eq!(with["path"], "/path?token=secret&x=1");
        let without = json(&format_http(
            &config(AccessLogFormat::Json, false),
            &http(),
            t0(),
        ));
        assert_eq!(without["path"], "/path");
        let text = format_http(&config(AccessLogFormat::Text, false), &http(), t0());
        assert!(text.contains("\"GET /path HTTP/1.1\"") && !text.contains("secret"));
        let text = format_http(&config(AccessLogFormat::Text, true), &http(), t0());
        assert!(text.contains("\"GET /path?token=secret&x=1 HTTP/1.1\""));
        // A path that is only a query, and one without.
        let mut r = http();
        r.path = "/?a=b".into();
        let j = json(&format_http(
            &config(AccessLogFormat::Json, false),
            &r,
            t0(),
        ));
        assert_eq!(j["path"], "/");
        r.path = "/plain".into();
        let j = json(&format_http(
            &config(AccessLogFormat::Json, false),
            &r,
            t0(),
        ));
        assert_eq!(j["path"], "/plain");
    }

    #[test]
    fn http_text_is_envoy_default() {
        let line = format_http(&config(AccessLogFormat::Text, false), &http(), t0());
        assert_eq!(
            line,
            "[2024-01-01T00:00:00.000Z] \"GET /path HTTP/1.1\" 200 - 0 612 3 2 \"-\" \"curl/8\" \"req-id\" \"host\" \"10.0.0.5:80\"\n"
        );
        // Nothing known: dashes.
        let r = HttpRecord {
            start_time: Some(t0()),
            response_flags: "UF,URX".into(),
            response_code: 503,
            ..HttpRecord::default()
        };
        let line = format_http(&config(AccessLogFormat::Text, false), &r, t0());
        assert_eq!(
            line,
            "[2024-01-01T00:00:00.000Z] \"- - -\" 503 UF,URX 0 0 0 - \"-\" \"-\" \"-\" \"-\" \"-\"\n"
        );
    }

    #[test]
    fn text_escapes_injection() {
        let mut r = http();
        r.user_agent = Some("evil\"agent\nFAKE LINE\\".into());
        let line = format_http(&config(AccessLogFormat::Text, false), &r, t0());
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.contains(r#""evil\"agent\x0aFAKE LINE\\""#), "{line}");
        let j = json(&format_http(
            &config(AccessLogFormat::Json, false),
            &r,
            t0(),
        ));
        assert_eq!(j["user_agent"], "evil\"agent\nFAKE LINE\\");
    }

    #[test]
    fn http2_and_grpc_fields() {
        let mut r = http();
        r.protocol = "HTTP/2".into();
        r.stream_id = Some(5);
        r.grpc_status = Some("0".into());
        r.forwarded_for = Some("203.0.113.7".into());
        r.response_flags = "UT".into();
        r.upstream_service_time = None;
        r.direction = Some(Direction::Ingress);
        let j = json(&format_http(
            &config(AccessLogFormat::Json, false),
            &r,
            t0(),
        ));
        assert_eq!(j["stream_id"], 5);
        assert_eq!(j["grpc_status"], "0");
        assert_eq!(j["response_flags"], "UT");
        assert_eq!(j["direction"], "ingress");
        assert_eq!(j["forwarded_for"], "203.0.113.7");
        assert_eq!(j["upstream_service_time"], serde_json::Value::Null);
        let line = format_http(&config(AccessLogFormat::Text, false), &r, t0());
        assert_eq!(
            line,
            "[2024-01-01T00:00:00.000Z] \"GET /path HTTP/2\" 200 UT 0 612 3 - \"203.0.113.7\" \"curl/8\" \"req-id\" \"host\" \"10.0.0.5:80\" 5 \"0\"\n"
        );
        // Plain HTTP/2 without gRPC: the keys are there, null.
        r.grpc_status = None;
        r.stream_id = None;
        let j = json(&format_http(
            &config(AccessLogFormat::Json, false),
            &r,
            t0(),
        ));
        assert_eq!(j["stream_id"], serde_json::Value::Null);
        assert_eq!(j["grpc_status"], serde_json::Value::Null);
    }

    #[test]
    fn tcp_json_and_text() {
        let j = json(&format_tcp(
            &config(AccessLogFormat::Json, false),
            &tcp(),
            t0(),
        ));
        let keys: HashSet<&str> = j.keys().map(String::as_str).collect();
        let want: HashSet<&str> = [
            "start_time",
            "direction",
            "listener",
            "downstream_remote_address",
            "downstream_remote_port",
            "downstream_local_address",
            "downstream_local_port",
            "bytes_received",
            "bytes_sent",
            "duration_ms",
            "upstream_host",
            "termination_details",
            "connection_id",
        ]
        .into_iter()
        .collect();
        assert_eq!(keys, want);
        assert_eq!(j["start_time"], "2024-01-01T00:00:00.000Z");
        assert_eq!(j["direction"], "ingress");
        assert_eq!(j["listener"], "db");
        assert_eq!(j["downstream_remote_address"], "10.0.0.9");
        assert_eq!(j["downstream_remote_port"], 51234);
        assert_eq!(j["downstream_local_address"], "10.0.0.4");
        assert_eq!(j["downstream_local_port"], 8080);
        assert_eq!(j["bytes_received"], 120);
        assert_eq!(j["bytes_sent"], 3400);
        assert_eq!(j["duration_ms"], 15);
        assert_eq!(j["upstream_host"], "10.0.0.5:80");
        assert_eq!(j["termination_details"], serde_json::Value::Null);
        assert_eq!(j["connection_id"], 17);

        let line = format_tcp(&config(AccessLogFormat::Text, false), &tcp(), t0());
        assert_eq!(
            line,
            "[2024-01-01T00:00:00.000Z] 10.0.0.9 51234 10.0.0.4 8080 120 3400 15 \"10.0.0.5:80\" \"-\" 17\n"
        );
        let r = TcpRecord {
            start_time: Some(t0()),
            downstream_remote: Some("[fd00::1]:4000".parse().unwrap()),
            termination_details: Some("idle timeout".into()),
            connection_id: 3,
            ..TcpRecord::default()
        };
        let line = format_tcp(&config(AccessLogFormat::Text, false), &r, t0());
        assert_eq!(
            line,
            "[2024-01-01T00:00:00.000Z] fd00::1 4000 - - 0 0 0 \"-\" \"idle timeout\" 3\n"
        );
    }

    #[test]
    fn start_time_defaults_to_now_less_duration() {
        let r = HttpRecord {
            duration: Duration::from_millis(1500),
            ..HttpRecord::default()
        };
        let now = t0() + Duration::from_secs(10);
        let j = json(&format_http(&config(AccessLogFormat::Json, false), &r, now));
        assert_eq!(j["start_time"], "2024-01-01T00:00:08.500Z");
    }

    #[test]
    fn logger_writes_lines_in_order() {
        let buf = SharedBuf::default();
        let log =
            AccessLogger::to_writer(config(AccessLogFormat::Json, false), Box::new(buf.clone()));
        log.flush(); // nothing queued
        log.log_http(&http());
        log.log_tcp(&tcp());
        log.flush();
        let text = buf.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(json(&format!("{}\n", lines[0]))["method"], "GET");
        assert_eq!(json(&format!("{}\n", lines[1]))["connection_id"], 17);
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn dropping_the_logger_still_writes_queued_lines() {
        let buf = SharedBuf::default();
        let log =
            AccessLogger::to_writer(config(AccessLogFormat::Text, false), Box::new(buf.clone()));
        for _ in 0..100 {
            log.log_tcp(&tcp());
        }
        drop(log);
        let deadline = Instant::now() + Duration::from_secs(10);
        while buf.text().lines().count() < 100 {
            assert!(Instant::now() < deadline, "lines not written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A writer that blocks until released, and tells when it first blocks.
    struct Gate {
        state: Mutex<(bool, bool)>, // (entered, released)
        cv: Condvar,
    }

    struct GatedWriter {
        gate: Arc<Gate>,
        out: SharedBuf,
    }

    impl Write for GatedWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut s = self.gate.state.lock().unwrap();
            s.0 = true;
            self.gate.cv.notify_all();
            while !s.1 {
                s = self.gate.cv.wait(s).unwrap();
            }
            drop(s);
            self.out.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let gate = Arc::new(Gate {
            state: Mutex::new((false, false)),
            cv: Condvar::new(),
        });
        let out = SharedBuf::default();
        let log = AccessLogger::with_capacity(
            config(AccessLogFormat::Text, false),
            Box::new(GatedWriter {
                gate: Arc::clone(&gate),
                out: out.clone(),
            }),
            4,
        );
        // The first line reaches the writer, which blocks on it.
        log.log_tcp(&tcp());
        {
            let mut s = gate.state.lock().unwrap();
            while !s.0 {
                s = gate.cv.wait(s).unwrap();
            }
        }
        // Four fit in the queue; the rest are dropped, without blocking.
        let started = Instant::now();
        for _ in 0..14 {
            log.log_tcp(&tcp());
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(log.dropped(), 10);
        // Release: everything queued gets written.
        {
            let mut s = gate.state.lock().unwrap();
            s.1 = true;
            gate.cv.notify_all();
        }
        log.flush();
        assert_eq!(out.text().lines().count(), 5);
        assert_eq!(log.dropped(), 10);
    }

    #[test]
    fn concurrent_loggers() {
        const THREADS: u64 = 8;
        const EACH: u64 = 1000;
        let buf = SharedBuf::default();
        let log = Arc::new(AccessLogger::to_writer(
            config(AccessLogFormat::Json, true),
            Box::new(buf.clone()),
        ));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let mut r = tcp();
                        r.connection_id = t * EACH + i;
                        log.log_tcp(&r);
                        let mut h = http();
                        h.path = format!("/t/{t}?i={i}");
                        log.log_http(&h);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        log.flush();
        assert_eq!(log.dropped(), 0);
        let text = buf.text();
        let mut ids = HashSet::new();
        let mut paths = HashSet::new();
        for line in text.lines() {
            let j = json(&format!("{line}\n"));
            if let Some(id) = j.get("connection_id") {
                assert!(ids.insert(id.as_u64().unwrap()));
            } else {
                assert!(paths.insert(j["path"].as_str().unwrap().to_string()));
            }
        }
        assert_eq!(ids.len() as u64, THREADS * EACH);
        assert_eq!(paths.len() as u64, THREADS * EACH);
    }

    #[test]
    fn send_sync() {
        fn check<T: Send + Sync>() {}
        check::<AccessLogger>();
    }
}
