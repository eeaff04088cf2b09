//! Egress: a request from the application to a service it calls. Pick an endpoint, send,
//! classify the outcome, and retry on another endpoint when the [retry
//! policy](crate::retry) and the upstream's budget allow ([`Attempts`] decides, as for the
//! fast path and TCP). Every attempt's outcome is reported to the balancer (outlier
//! detection).

use std::time::Instant as StdInstant;

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::access_log::RequestLog;
use crate::body::Replay;
use crate::client::UpBody;
use crate::deadline::Deadline;
use crate::error::{ErrorKind, ProxyError, Side};
use crate::headers;
use crate::headers::request_uri;
use crate::retry::Attempts;
use crate::state::UpstreamRt;

/// Forwards `req` to one of `up`'s endpoints: the target's response, and the request's
/// deadline, which still applies to the response body.
pub(crate) async fn forward(
    req: Request<Incoming>,
    up: &UpstreamRt,
    log: &mut RequestLog,
) -> Result<(Response<UpBody>, Deadline), ProxyError> {
    let Some((key, client)) = &up.client else {
        // The upstream is TCP but this connection was accepted as HTTP (the snapshot
        // changed under it).
        return Err(ProxyError::new(Side::Internal, ErrorKind::Config, false));
    };
    let mut attempts = Attempts::start(up, StdInstant::now());
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
    loop {
        let pick = attempts.next(log)?;
        let target = pick.addr();
        let ep = up.endpoint(target);
        let mut r = Request::new(replay.body());
        *r.method_mut() = parts.method.clone();
        *r.version_mut() = version;
        *r.headers_mut() = if attempts.may_retry() {
            parts.headers.clone()
        } else {
            std::mem::take(&mut parts.headers)
        };
        *r.uri_mut() = request_uri(key.http2, &ep.authority, &parts.uri, r.headers_mut());
        let sent = Instant::now();
        let result = match deadline.run(client.request(r, target)).await {
            Some(r) => r.map_err(|e| e.classify(target)),
            None => {
                Err(ProxyError::new(Side::Upstream, ErrorKind::Timeout, false).with_target(target))
            }
        };
        match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let Some(pick) = attempts.answered(pick, status, || replay.replayable(), log)
                else {
                    continue;
                };
                log.answered(status, target, ep.metrics, sent.elapsed(), Some(pick));
                return Ok((resp, deadline));
            }
            Err(err) => attempts.failed(pick, err, || replay.replayable(), log)?,
        }
    }
}
