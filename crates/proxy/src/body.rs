//! Request bodies. [`Replay`] decides once per request whether its body can be sent again
//! (a retry) and hands out one [`ReqBody`] per attempt; [`ReqBytes`] counts what went
//! through, for the access log and metrics.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::error::{ErrorKind, ProxyError, Side};

/// A request body that was not (yet) read: the first attempt that polls it takes it; an
/// attempt that never polled it (a connect failure) leaves it for the next one.
#[derive(Debug)]
pub(crate) struct Parked {
    body: Mutex<Option<Incoming>>,
    bytes: AtomicU64,
}

impl Parked {
    /// Request body bytes that went through so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }
}

/// A request's body, as the retry logic sees it.
#[derive(Debug)]
pub(crate) enum Replay {
    /// No body: always replayable.
    Empty,
    /// A small body read whole (its length was known and at most the replay limit).
    Full(Bytes),
    /// A body streamed to the first attempt that reads it.
    Stream { parked: Arc<Parked>, hint: SizeHint },
}

impl Replay {
    /// Reads the body whole when it is known to be at most `max_replay` bytes; otherwise
    /// leaves it to stream (without reading any of it).
    pub(crate) async fn prepare(body: Incoming, max_replay: usize) -> Result<Replay, ProxyError> {
        if body.is_end_stream() {
            return Ok(Replay::Empty);
        }
        let hint = body.size_hint();
        match hint.exact() {
            Some(n) if n <= max_replay as u64 => {
                // Boxed, as it is not the common case: see `client::Http1Pool::request`.
                let bytes = Box::pin(body.collect())
                    .await
                    .map_err(|e| {
                        ProxyError::new(Side::Downstream, ErrorKind::RequestBody, false)
                            .with_source(e)
                    })?
                    .to_bytes();
                Ok(Replay::Full(bytes))
            }
            _ => Ok(Replay::Stream {
                parked: Arc::new(Parked {
                    body: Mutex::new(Some(body)),
                    bytes: AtomicU64::new(0),
                }),
                hint,
            }),
        }
    }

    /// The body for one attempt.
    pub(crate) fn body(&self) -> ReqBody {
        match self {
            Replay::Empty => ReqBody::Empty,
            Replay::Full(b) => ReqBody::Full(Some(b.clone())),
            Replay::Stream { parked, hint } => ReqBody::Stream {
                parked: Arc::clone(parked),
                body: None,
                hint: *hint,
            },
        }
    }

    /// Whether another attempt can send the whole body again.
    pub(crate) fn replayable(&self) -> bool {
        match self {
            Replay::Empty | Replay::Full(_) => true,
            Replay::Stream { parked, .. } => parked
                .body
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some(),
        }
    }

    /// Request body bytes received from downstream (so far, for a streamed body).
    pub(crate) fn bytes(&self) -> ReqBytes {
        match self {
            Replay::Empty => ReqBytes::Known(0),
            Replay::Full(b) => ReqBytes::Known(b.len() as u64),
            Replay::Stream { parked, .. } => ReqBytes::Stream(Arc::clone(parked)),
        }
    }
}

/// How many request body bytes went through, for the access log and metrics.
#[derive(Debug)]
pub(crate) enum ReqBytes {
    /// A known count.
    Known(u64),
    /// Counted as the body streams.
    Stream(Arc<Parked>),
}

impl ReqBytes {
    pub(crate) fn get(&self) -> u64 {
        match self {
            ReqBytes::Known(n) => *n,
            ReqBytes::Stream(p) => p.bytes(),
        }
    }
}

/// The body of one upstream attempt.
#[derive(Debug)]
pub(crate) enum ReqBody {
    Empty,
    Full(Option<Bytes>),
    Stream {
        parked: Arc<Parked>,
        body: Option<Incoming>,
        hint: SizeHint,
    },
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ReqBody::Stream { parked, body, .. } => {
                if body.is_none() {
                    *body = parked.body.lock().unwrap_or_else(|e| e.into_inner()).take();
                }
                let Some(b) = body.as_mut() else {
                    return Poll::Ready(None);
                };
                let frame = ready!(Pin::new(b).poll_frame(cx));
                if let Some(Ok(f)) = &frame {
                    if let Some(d) = f.data_ref() {
                        parked.bytes.fetch_add(d.len() as u64, Relaxed);
                    }
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Full(b) => b.is_none(),
            ReqBody::Stream { body, .. } => body.as_ref().is_some_and(|b| b.is_end_stream()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ReqBody::Stream { body, hint, .. } => match body {
                Some(b) => b.size_hint(),
                None => *hint,
            },
        }
    }
}
