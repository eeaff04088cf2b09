//! Calls to upstreams: plain HTTP/1.1, a keep-alive pool, a 5 s timeout per call.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::SERVED_BY_HEADER;

/// How long one upstream call (connect, request, whole answer) may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest answer read from an upstream.
const MAX_ANSWER: usize = 1 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("{0}")]
    BadUrl(String),
    #[error("no answer within {}s", CALL_TIMEOUT.as_secs())]
    Timeout,
    #[error("{0}")]
    Http(String),
}

/// An upstream's answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    /// Its `x-demo-served-by`, else its body's `servedBy`.
    pub served_by: Option<String>,
    /// The body: JSON if it parses, else text.
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The upstream client, shared by an app's requests.
pub(crate) struct Client {
    inner: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Client {
    pub fn new() -> Client {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CALL_TIMEOUT));
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Client { inner }
    }

    /// `method` on `url` with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CallError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| CallError::BadUrl(format!("{url:?}: {e}")))?;
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("accept", "application/json");
        let bytes = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| CallError::BadUrl(format!("{url:?}: {e}")))?;
        let exchange = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| CallError::Http(chain(&e)))?;
            let status = resp.status().as_u16();
            let header = resp
                .headers()
                .get(SERVED_BY_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| CallError::Http(format!("reading the answer: {e}")))?
                .to_bytes();
            let body = serde_json::from_slice::<Value>(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            let served_by = header.or_else(|| {
                body.get("servedBy")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            Ok(Answer {
                status,
                served_by,
                body,
            })
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| CallError::Timeout)?
    }
}

/// An error and its sources, `: `-separated (hyper's own message is terse).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The URL of `path` on the upstream `base` (`http://host[:port][/base]`): the base's
/// path, then `path`. An empty `path` is the base URL itself.
pub(crate) fn join(base: &str, path: &str) -> Result<String, CallError> {
    let base = base.trim();
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("HTTP://"))
        .ok_or_else(|| {
            CallError::BadUrl(format!(
                "{base:?} is not an http:// URL (http://host[:port][/base])"
            ))
        })?;
    let (authority, base_path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(CallError::BadUrl(format!("{base:?} has no host")));
    }
    let url = if path.is_empty() {
        format!(
            "http://{authority}{}",
            if base_path.is_empty() { "/" } else { base_path }
        )
    } else {
        format!(
            "http://{authority}{}{path}",
            base_path.trim_end_matches('/')
        )
    };
    url.parse::<Uri>()
        .map_err(|e| CallError::BadUrl(format!("{url:?}: {e}")))?;
    Ok(url)
}

/// One call as the callers report it: `{"url", "status", "servedBy", "ms"}` (and the
/// answer's body when `with_answer`), or `{"url", "error", "ms"}`; and whether it was
/// a 2xx.
pub(crate) fn summary(
    url: &str,
    result: &Result<Answer, CallError>,
    started: Instant,
    with_answer: bool,
) -> (Value, bool) {
    let ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(a) => {
            let mut v = json!({
                "url": url,
                "status": a.status,
                "servedBy": a.served_by,
                "ms": ms,
            });
            if !a.ok() {
                v["error"] = json!(format!("answered {}", a.status));
            }
            if with_answer {
                v["answer"] = a.body.clone();
            }
            (v, a.ok())
        }
        Err(e) => (json!({"url": url, "error": e.to_string(), "ms": ms}), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join() {
        assert_eq!(
            join("http://orders", "/orders").unwrap(),
            "http://orders/orders"
        );
        assert_eq!(
            join("http://orders:8080/", "/orders").unwrap(),
            "http://orders:8080/orders"
        );
        assert_eq!(
            join("http://h/api/", "/orders").unwrap(),
            "http://h/api/orders"
        );
        assert_eq!(join("http://cats/cats/", "").unwrap(), "http://cats/cats/");
        assert_eq!(join("http://cats", "").unwrap(), "http://cats/");
        let e = join("https://orders", "/x").unwrap_err().to_string();
        assert!(e.contains("not an http:// URL"), "{e}");
        assert!(join("http://", "/x").is_err());
    }
}
