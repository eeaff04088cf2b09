//! One API connection from accept to close, within the server's [`Limits`]:
//!
//! - Admission: a connection takes a seat of the cap, or one of the seats kept for the
//!   agents (a connection on such a seat gets 503 for anything but an agent's request), or
//!   is refused with a 503 of its own written at once ([`refuse`]).
//! - Time: a fresh connection has [`Limits::header_timeout`] to send its first head; a
//!   later head has as long from its first byte; a connection with no request in flight
//!   and nothing sent is closed after [`Limits::idle_timeout`]. A request in flight
//!   (a body being read, an operation running, a watch stream streaming) is never cut
//!   here: the front bounds a body by [`Limits::body_deadline`].
//! - Words: the bodiless errors hyper answers a malformed head with are rewritten into
//!   JSON errors saying what is wrong ([`crate::malformed`]).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tracing::debug;

use crate::{malformed, Body, Limits, Router};

/// How many refused connections may be answered their 503 at once; past that, a
/// connection over the cap is closed without a word.
pub(crate) const REFUSALS: usize = 64;
/// How long a connection answered an error is given to take it.
const LINGER: Duration = Duration::from_secs(1);
/// How much of a head is kept to say what is wrong with it.
const HEAD_KEPT: usize = 64 * 1024 + 1024;

/// What a connection may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seat {
    /// Any request.
    Any,
    /// Only an agent's request (its watch stream, a certificate): the seat is one of
    /// those kept for agents.
    AgentsOnly,
}

/// The seats of the connection cap.
pub(crate) struct Admission {
    any: Arc<Semaphore>,
    agents: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
}

/// What becomes of an accepted connection.
pub(crate) enum Admitted {
    /// Served, holding its seat until it closes.
    Served(Seat, OwnedSemaphorePermit),
    /// Over the cap: answered 503 while the permit is held.
    Refused(OwnedSemaphorePermit),
    /// Over the cap with every refusal slot busy: closed at once.
    Dropped,
}

impl Admission {
    pub(crate) fn new(limits: &Limits) -> Admission {
        let reserve = limits.agent_reserve.min(limits.max_connections);
        Admission {
            any: Arc::new(Semaphore::new(limits.max_connections - reserve)),
            agents: Arc::new(Semaphore::new(reserve)),
            refusals: Arc::new(Semaphore::new(REFUSALS)),
        }
    }

    pub(crate) fn admit(&self) -> Admitted {
        if let Ok(p) = self.any.clone().try_acquire_owned() {
            return Admitted::Served(Seat::Any, p);
        }
        if let Ok(p) = self.agents.clone().try_acquire_owned() {
            return Admitted::Served(Seat::AgentsOnly, p);
        }
        match self.refusals.clone().try_acquire_owned() {
            Ok(p) => Admitted::Refused(p),
            Err(_) => Admitted::Dropped,
        }
    }
}

/// Answers a connection over the cap: a 503 with a JSON body, then close.
pub(crate) async fn refuse(mut stream: TcpStream, permit: OwnedSemaphorePermit) {
    let answer = malformed::raw_json_error(&crate::overloaded());
    if let Ok(Ok(())) = tokio::time::timeout(LINGER, stream.write_all(&answer)).await {
        linger(stream, permit).await;
    }
}

/// What a connection is carried on: a TCP socket, or TLS over one.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for S {}

/// Closes a connection that was answered an error while its client may still be
/// sending: the rest of the request is read and dropped for at most [`LINGER`], so the
/// answer is not lost to a reset. The seat is held until then.
async fn linger<S: Io>(mut stream: S, _seat: OwnedSemaphorePermit) {
    let _ = tokio::time::timeout(LINGER, async {
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

/// Where a connection is, shared by its IO, its requests and its watchdog.
struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    /// Requests dispatched whose responses have not ended.
    in_flight: usize,
    /// Whether a request was dispatched yet.
    served: bool,
    /// When the connection last had nothing to do: accepted, or a response ended.
    idle_since: Instant,
    /// When the first byte of a head not yet dispatched came.
    head_since: Option<Instant>,
    /// That head's bytes, up to [`HEAD_KEPT`].
    head: Vec<u8>,
}

/// Why the watchdog closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// A head took longer than the header timeout.
    Head,
    /// Nothing asked for longer than the idle timeout.
    Idle,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new(State {
                in_flight: 0,
                served: false,
                idle_since: Instant::now(),
                head_since: None,
                head: Vec::new(),
            }),
            changed: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes came from the client.
    fn read(&self, bytes: &[u8]) {
        let mut s = self.state();
        if s.in_flight > 0 {
            return;
        }
        let room = HEAD_KEPT.saturating_sub(s.head.len());
        s.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if s.head_since.is_none() {
            s.head_since = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// A request's head was read and handed to the service.
    fn dispatched(&self) {
        let mut s = self.state();
        s.in_flight += 1;
        s.served = true;
        s.head_since = None;
        s.head = Vec::new();
        drop(s);
        self.changed.notify_one();
    }

    /// A response ended (or its request was dropped).
    fn finished(&self) {
        let mut s = self.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
        }
        drop(s);
        self.changed.notify_one();
    }

    /// The head kept so far (for the words of a malformed-request answer).
    fn head(&self) -> Vec<u8> {
        self.state().head.clone()
    }

    /// When the connection expires if nothing changes, and why; `None` while a request
    /// is in flight.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, Expiry)> {
        let s = self.state();
        if s.in_flight > 0 {
            return None;
        }
        Some(match (s.served, s.head_since) {
            (false, _) => (s.idle_since + limits.header_timeout, Expiry::Head),
            (true, Some(t)) => (t + limits.header_timeout, Expiry::Head),
            (true, None) => (s.idle_since + limits.idle_timeout, Expiry::Idle),
        })
    }
}

/// Counts a request in flight from its dispatch until its response body is dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.dispatched();
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// A response body that keeps its request in flight while it is sent.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Serves one admitted connection until it closes, expires or breaks.
pub(crate) async fn serve<S: Io>(
    stream: S,
    peer: SocketAddr,
    router: Arc<Router>,
    seat: Seat,
    permit: OwnedSemaphorePermit,
) {
    let limits = router.limits;
    let activity = Activity::new();
    let io = TokioIo::new(Watched::new(stream, activity.clone(), permit));
    let requests = activity.clone();
    let svc = service_fn(move |req| {
        let in_flight = InFlight::start(&requests);
        let router = router.clone();
        async move {
            let resp = crate::handle(&router, req, seat).await;
            Ok::<_, Infallible>(resp.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // Heads are timed by the watchdog below, which tells a slow head from an idle
        // keep-alive connection (hyper's own timeout runs for both).
        .header_read_timeout(None)
        .max_buf_size(64 * 1024)
        .serve_connection(io, svc);
    let mut conn = std::pin::pin!(conn);
    loop {
        let deadline = activity.deadline(&limits);
        let wake = deadline.map_or_else(far_future, |(at, _)| at);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = activity.changed.notified() => {}
            _ = tokio::time::sleep_until(wake.into()) => {
                // Polled by this task alone: nothing changed since `deadline` was read
                // unless a notification is pending, which the next turn sees.
                if let Some((at, why)) = activity.deadline(&limits) {
                    if Instant::now() >= at {
                        debug!(%peer, ?why, "closing an expired connection");
                        return;
                    }
                }
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// The connection's socket as hyper sees it: reads are reported to the connection's
/// [`Activity`], and a bodiless error hyper writes for a malformed head is replaced by
/// a JSON one (after which the connection [`linger`]s). It holds the connection's seat.
struct Watched<S: Io> {
    /// Always there until dropped.
    stream: Option<S>,
    seat: Option<OwnedSemaphorePermit>,
    activity: Arc<Activity>,
    /// An answer written in place of hyper's, and how much of it is out.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S: Io> Drop for Watched<S> {
    fn drop(&mut self) {
        if self.replacement.is_none() {
            return;
        }
        // (Outside a runtime, as when one shuts down, the socket just closes.)
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let (Some(stream), Some(seat)) = (self.stream.take(), self.seat.take()) {
            runtime.spawn(linger(stream, seat));
        }
    }
}

impl<S: Io> Watched<S> {
    fn new(stream: S, activity: Arc<Activity>, seat: OwnedSemaphorePermit) -> Watched<S> {
        Watched {
            stream: Some(stream),
            seat: Some(seat),
            activity,
            replacement: None,
        }
    }

    fn stream(&mut self) -> Pin<&mut S> {
        Pin::new(
            self.stream
                .as_mut()
                .expect("the stream is there until dropped"),
        )
    }

    /// Writes what is left of the replacement answer.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.replacement {
            if *sent == bytes.len() {
                break;
            }
            let stream = self
                .stream
                .as_mut()
                .expect("the stream is there until dropped");
            let n = ready!(Pin::new(stream).poll_write(cx, &bytes[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: Io> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(this.stream().poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            this.activity.read(new);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: Io> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        if this.replacement.is_none() {
            if let Some(status) = malformed::bare_error_status(buf) {
                let answer = malformed::answer(status, &this.activity.head());
                this.replacement = Some((answer, 0));
                // hyper's answer is taken whole; ours goes out in its place (and is
                // finished by the flush and shutdown that follow).
                let _ = this.poll_replacement(cx)?;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        this.stream().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        this.stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        this.stream().poll_shutdown(cx)
    }
}
