//! A load balancer's access log entries, in ELB's access log entry format: one line of
//! space-separated fields, in ELB's order, the free-text ones quoted.
//!
//! ```text
//! type time elb client:port target:port request_processing_time target_processing_time
//! response_processing_time elb_status_code target_status_code received_bytes sent_bytes
//! "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
//! "chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed"
//! "redirect_url" "error_reason" "target:port_list" "target_status_code_list"
//! "classification" "classification_reason" conn_trace_id
//! ```
//!
//! Times are RFC 3339 with microseconds; durations seconds with three decimals, `-1`
//! when the request reached no target; absent values `-`. `received_bytes` and
//! `sent_bytes` count message bodies. Listeners are plain HTTP, so the TLS fields are
//! `-`; berth does no desync classification, so those are `-` too.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use crate::time::write_rfc3339_micros;

/// One request through a load balancer, as logged.
#[derive(Debug, Clone)]
pub struct AlbRecord {
    /// When the response was sent (the entry's `time`).
    pub time: SystemTime,
    /// When the request's first byte came (`request_creation_time`).
    pub request_creation_time: SystemTime,
    /// The load balancer's dimension, `app/<name>/<id>`.
    pub elb: String,
    /// The client's address.
    pub client: SocketAddr,
    /// The target that answered (or was last tried).
    pub target: Option<SocketAddr>,
    /// From the request to its dispatch to a target (or to the load balancer's answer).
    pub request_processing_time: Duration,
    /// The target's time to its response head; `None`: not dispatched.
    pub target_processing_time: Option<Duration>,
    /// The status sent to the client (0: none).
    pub elb_status_code: u16,
    /// The target's status.
    pub target_status_code: Option<u16>,
    /// Request body bytes from the client.
    pub received_bytes: u64,
    /// Response body bytes to the client.
    pub sent_bytes: u64,
    /// The method.
    pub method: String,
    /// `http://host:port/path?query`.
    pub url: String,
    /// `HTTP/1.1`, `HTTP/2`.
    pub protocol: String,
    /// The `User-Agent`.
    pub user_agent: Option<String>,
    /// The target group's ARN.
    pub target_group_arn: Option<String>,
    /// The `X-Amzn-Trace-Id` sent to the target.
    pub trace_id: Option<String>,
    /// The matched rule's priority; 0: the default action.
    pub matched_rule_priority: u32,
    /// `forward`, `fixed-response`, `redirect`.
    pub actions_executed: Option<&'static str>,
    /// A redirect's `location`.
    pub redirect_url: Option<String>,
    /// Why the request failed (ELB's error reason code).
    pub error_reason: Option<&'static str>,
    /// Every target tried.
    pub targets_tried: Vec<SocketAddr>,
    /// Every target's status, in the order tried.
    pub target_status_codes: Vec<u16>,
    /// The client connection's id.
    pub connection_id: u64,
}

fn seconds(out: &mut String, d: Option<Duration>) {
    match d {
        Some(d) => {
            let _ = write!(out, "{:.3}", d.as_secs_f64());
        }
        None => out.push_str("-1"),
    }
}

/// A quoted field: `"-"` when absent; `"` and `\` escaped, control characters as
/// `\xNN`.
fn quoted(out: &mut String, v: Option<&str>) {
    out.push('"');
    match v {
        Some(v) if !v.is_empty() => {
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
        _ => out.push('-'),
    }
    out.push('"');
}

fn list<T: std::fmt::Display>(items: &[T]) -> Option<String> {
    (!items.is_empty()).then(|| {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// The entry, newline included.
pub(crate) fn format_alb(r: &AlbRecord) -> String {
    let mut o = String::with_capacity(512);
    o.push_str("http ");
    write_rfc3339_micros(&mut o, r.time);
    let _ = write!(o, " {} {} ", r.elb, r.client);
    match r.target {
        Some(t) => {
            let _ = write!(o, "{t} ");
        }
        None => o.push_str("- "),
    }
    let dispatched = r.target_processing_time.is_some();
    seconds(&mut o, dispatched.then_some(r.request_processing_time));
    o.push(' ');
    seconds(&mut o, r.target_processing_time);
    o.push(' ');
    seconds(&mut o, dispatched.then_some(Duration::ZERO));
    match r.elb_status_code {
        0 => o.push_str(" -"),
        s => {
            let _ = write!(o, " {s}");
        }
    }
    match r.target_status_code {
        Some(s) => {
            let _ = write!(o, " {s}");
        }
        None => o.push_str(" -"),
    }
    let _ = write!(o, " {} {} ", r.received_bytes, r.sent_bytes);
    quoted(
        &mut o,
        Some(&format!("{} {} {}", r.method, r.url, r.protocol)),
    );
    o.push(' ');
    quoted(&mut o, r.user_agent.as_deref());
    let _ = write!(o, " - - {} ", r.target_group_arn.as_deref().unwrap_or("-"));
    quoted(&mut o, r.trace_id.as_deref());
    o.push_str(" \"-\" \"-\" ");
    let _ = write!(o, "{} ", r.matched_rule_priority);
    write_rfc3339_micros(&mut o, r.request_creation_time);
    o.push(' ');
    quoted(&mut o, r.actions_executed);
    o.push(' ');
    quoted(&mut o, r.redirect_url.as_deref());
    o.push(' ');
    quoted(&mut o, r.error_reason);
    o.push(' ');
    quoted(&mut o, list(&r.targets_tried).as_deref());
    o.push(' ');
    quoted(&mut o, list(&r.target_status_codes).as_deref());
    let _ = writeln!(o, " \"-\" \"-\" TID_{:016x}", r.connection_id);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn record() -> AlbRecord {
        let t0 = UNIX_EPOCH + Duration::from_micros(1_530_570_168_364_000);
        AlbRecord {
            time: UNIX_EPOCH + Duration::from_micros(1_530_570_180_186_641),
            request_creation_time: t0,
            elb: "app/my-loadbalancer/50dc6c495c0c9188".into(),
            client: "192.168.131.39:2817".parse().unwrap(),
            target: Some("10.0.0.1:80".parse().unwrap()),
            request_processing_time: Duration::ZERO,
            target_processing_time: Some(Duration::from_millis(1)),
            elb_status_code: 200,
            target_status_code: Some(200),
            received_bytes: 34,
            sent_bytes: 366,
            method: "GET".into(),
            url: "http://www.example.com:80/".into(),
            protocol: "HTTP/1.1".into(),
            user_agent: Some("curl/7.46.0".into()),
            target_group_arn: Some(
                "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067"
                    .into(),
            ),
            trace_id: Some("Root=1-58337262-36d228ad5d99923122bbe354".into()),
            matched_rule_priority: 0,
            actions_executed: Some("forward"),
            redirect_url: None,
            error_reason: None,
            targets_tried: vec!["10.0.0.1:80".parse().unwrap()],
            target_status_codes: vec![200],
            connection_id: 0x1234,
        }
    }

    #[test]
    fn a_forwarded_request_as_elb_logs_it() {
        assert_eq!(
            format_alb(&record()),
            "http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 \
             192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 \
             \"GET http://www.example.com:80/ HTTP/1.1\" \"curl/7.46.0\" - - \
             arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 \
             \"Root=1-58337262-36d228ad5d99923122bbe354\" \"-\" \"-\" 0 2018-07-02T22:22:48.364000Z \
             \"forward\" \"-\" \"-\" \"10.0.0.1:80\" \"200\" \"-\" \"-\" TID_0000000000001234\n"
        );
    }

    #[test]
    fn a_redirect_reaches_no_target() {
        let r = AlbRecord {
            target: None,
            target_processing_time: None,
            elb_status_code: 301,
            target_status_code: None,
            target_group_arn: None,
            matched_rule_priority: 5,
            actions_executed: Some("redirect"),
            redirect_url: Some("https://www.example.com:443/".into()),
            targets_tried: vec![],
            target_status_codes: vec![],
            user_agent: Some("a \"quoted\" agent".into()),
            ..record()
        };
        let line = format_alb(&r);
        assert!(line.contains(" - -1 -1 -1 301 - 34 366 "), "{line}");
        assert!(line.contains("\"a \\\"quoted\\\" agent\" - - - "), "{line}");
        assert!(
            line.contains(" 5 2018-07-02T22:22:48.364000Z \"redirect\" \"https://www.example.com:443/\" \"-\" \"-\" \"-\" "),
            "{line}"
        );
        assert_eq!(line.matches('\n').count(), 1);
    }
}
