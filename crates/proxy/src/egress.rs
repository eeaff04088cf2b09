//! Egress: a request from the application to a service it calls. Pick an endpoint, send,
//! classify the outcome, and retry on another endpoint when the [retry
//! policy](crate::retry) and the upstream's budget allow. Every attempt's outcome is
//! reported to the balancer (outlier detection).

use std::net::SocketAddr;
use std::time::Instant as StdInstant;

use http::{Request, StatusCode};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::access_log::RequestLog;
use crate::body::Replay;
use crate::error::{classify_client_error, ErrorKind, ProxyError, Side};
use crate::headers;
use crate::retry::{Attempt, Decision, Policy};
use crate::route::{request_uri, Deadline, Forwarded};
use crate::state::UpstreamRt;

/// Forwards `req` to one of `up`'s endpoints.
pub(crate) async fn forward(
    req: Request<Incoming>,
    up: &UpstreamRt,
    log: &mut RequestLog,
) -> Forwarded {
    let Some((key, client)) = &up.client else {
        // The upstream is TCP but this connection was accepted as HTTP (the snapshot
        // changed under it).
        return Err(ProxyError::new(Side::Internal, ErrorKind::Config, false));
    };
    // One clock read for the deposit and the first pick.
    let mut now = StdInstant::now();
    up.budget.deposit(now);
    let (mut parts, body) = req.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::keep_authority(&mut parts.headers, &parts.uri);
    let version = headers::upstream_version(key.http2);
    let mut deadline = Deadline::after(up.per_request);
    let replay = deadline
        .run(Replay::prepare(body, up.retries.max_replay_body_bytes))
        .await
        .ok_or_else(|| ProxyError::new(Side::Downstream, ErrorKind::ClientTimeout, false))??;
    log.request_bytes(replay.bytes());

    let mut policy = Policy::new(up.retries.max_retries);
    // Allocates only when a retry happens.
    let mut tried: Vec<SocketAddr> = Vec::new();
    let mut last_error = None;
    loop {
        if !tried.is_empty() {
            now = StdInstant::now();
        }
        let Some(pick) = up.balancer.pick(&tried, now) else {
            return Err(last_error
                .unwrap_or_else(|| ProxyError::new(Side::Upstream, ErrorKind::NoEndpoint, false)));
        };
        let target = pick.addr();
        let ep = up.endpoint(target);
        log.tried(target);
        let mut r = Request::new(replay.body());
        *r.method_mut() = parts.method.clone();
        *r.version_mut() = version;
        *r.headers_mut() = if policy.may_retry() {
            parts.headers.clone()
        } else {
            std::mem::take(&mut parts.headers)
        };
        *r.uri_mut() = request_uri(key.http2, &ep.authority, &parts.uri, r.headers_mut());
        let sent = Instant::now();
        let Some(result) = deadline.run(client.request(r, target)).await else {
            pick.failure(StdInstant::now());
            return Err(
                ProxyError::new(Side::Upstream, ErrorKind::Timeout, false).with_target(target)
            );
        };
        match result {
            Ok(resp) => {
                let status = resp.status();
                if status == StatusCode::SERVICE_UNAVAILABLE
                    && policy.decide(Attempt::Answered(status), replay.replayable())
                        == Decision::Retry
                {
                    if up.budget.try_withdraw(StdInstant::now()) {
                        tracing::debug!(upstream = %up.name, %target, "503: retrying");
                        pick.failure(StdInstant::now());
                        tried.push(target);
                        policy.retrying();
                        continue;
                    }
                    log.retry_refused();
                }
                log.answered(
                    status.as_u16(),
                    target,
                    ep.metrics,
                    sent.elapsed(),
                    Some(pick),
                );
                return Ok((resp, deadline));
            }
            Err(e) => {
                let err = classify_client_error(e, target);
                if err.counts_against_endpoint() {
                    pick.failure(StdInstant::now());
                } else {
                    drop(pick);
                }
                if policy.decide(Attempt::Failed(&err), replay.replayable()) == Decision::Retry {
                    if up.budget.try_withdraw(StdInstant::now()) {
                        tracing::debug!(upstream = %up.name, error = %err, "retrying");
                        tried.push(target);
                        policy.retrying();
                        last_error = Some(err);
                        continue;
                    }
                    log.retry_refused();
                }
                return Err(err);
            }
        }
    }
}
