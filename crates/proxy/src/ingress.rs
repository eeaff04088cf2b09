//! Ingress: a request from another task to the application this task serves. Forwarded
//! to `127.0.0.1:containerPort` with `x-forwarded-for`; the response gets `server: berth`
//! and the application's time to respond. No retries: there is one target.

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
use crate::state::IngressRoute;

/// Forwards `req` to the application: its response, and the request's deadline, which
/// still applies to the response body.
pub(crate) async fn forward(
    req: Request<Incoming>,
    app: &IngressRoute,
    log: &mut RequestLog,
) -> Result<(Response<UpBody>, Deadline), ProxyError> {
    let Some((key, client)) = &app.client else {
        return Err(ProxyError::new(Side::Internal, ErrorKind::Config, false));
    };
    let (mut parts, body) = req.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::keep_authority(&mut parts.headers, &parts.uri);
    headers::append_forwarded_for(&mut parts.headers, &log.peer_ip());
    // Never buffered: nothing is retried.
    let replay = Replay::prepare(body, 0).await?;
    log.request_bytes(replay.bytes());
    let mut r = Request::new(replay.body());
    *r.method_mut() = parts.method;
    *r.version_mut() = headers::upstream_version(key.http2);
    *r.headers_mut() = parts.headers;
    *r.uri_mut() = request_uri(key.http2, &app.authority, &parts.uri, r.headers_mut());
    log.tried(app.app);
    let sent = Instant::now();
    let mut deadline = Deadline::after(app.per_request);
    let Some(result) = deadline.run(client.request(r, app.app)).await else {
        return Err(ProxyError::new(Side::Upstream, ErrorKind::Timeout, false).with_target(app.app));
    };
    match result {
        Ok(mut resp) => {
            let took = sent.elapsed();
            headers::set_ingress_response(resp.headers_mut(), took);
            log.answered(
                resp.status().as_u16(),
                app.app,
                app.target.clone(),
                took,
                None,
            );
            Ok((resp, deadline))
        }
        Err(e) => Err(e.classify(app.app)),
    }
}
