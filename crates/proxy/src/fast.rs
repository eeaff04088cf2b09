//! The HTTP/1.1 fast path: a downstream connection of an `http` listener is served here,
//! request by request, without hyper. The head is parsed and rewritten ([`crate::h1`])
//! straight into the bytes written to a pooled upstream socket ([`crate::rawpool`]); the
//! response head is rewritten the same way and bodies are copied as they come (chunked
//! ones as they are), never buffered whole. Routing, retries, outlier detection,
//! timeouts, metrics and access logs are those of the hyper path ([`crate::egress`],
//! [`crate::ingress`]): the same [`Attempts`] (balancer picks, retry policy and budget),
//! the same [`RequestLog`], the same [`ProxyError`]s and statuses.
//!
//! What the fast path does not take (see [`crate::h1`]: HTTP/1.0, upgrades, HTTP/2,
//! malformed or oversized heads...) ends it: the connection, with the bytes read so far,
//! goes to hyper's server ([`Served::Fallback`]), which answers it as before.
//!
//! Timers: one `Sleep` per connection, moved only forward in the common case (a cheap
//! update), for the head timeout (408), the idle timeout and the per-request deadline.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use berth_telemetry::{ListenerMetrics, TargetMetrics};
use bytes::{Buf as _, BytesMut};
use http::uri::{Authority, Scheme};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::access_log::{AlbNote, RequestLog};
use crate::alb::{Answer, Step};
use crate::body::ReqBytes;
use crate::client::{Clients, Http1Pool};
use crate::conn_ctx::{ConnCtx, ConnTimers, InFlight};
use crate::error::{ErrorKind, ProxyError, Side};
use crate::h1::{
    self, AlbForwarding, ChunkScanner, Forwarding, Framing, ParsedRequest, ReqHead, RespEdits,
    RespHead,
};
use crate::rawpool;
use crate::retry::Attempts;
use crate::rules::{H1Headers, RequestFacts};
use crate::serving::ListenerShared;
use crate::state::{AlbListener, GroupRt, Route, RouteKind};
use crate::tls::Stream;

/// How a connection left the fast path.
pub(crate) enum Served {
    /// It is over.
    Done,
    /// hyper serves the rest: the socket and the bytes already read from it.
    Fallback(Stream, BytesMut),
    /// The head timeout fired: answer 408 on the socket and close.
    HeadTimeout(Stream),
}

const READ_CHUNK: usize = 16 * 1024;
const FAR: Duration = Duration::from_secs(86_400);
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The request body, as forwarding sees it.
enum ReqBody {
    None,
    /// Entirely in the connection's buffer (its first `n` bytes; `data`: without chunk
    /// framing): every attempt sends it again.
    Buffered {
        n: usize,
        data: u64,
    },
    /// Read from the client as it is sent upstream (by the first attempt that gets that
    /// far: until then, it can still be retried).
    Stream {
        left: Left,
        started: bool,
        finished: bool,
    },
}

#[derive(Clone)]
enum Left {
    Length(u64),
    Chunked(ChunkScanner),
}

/// The outcome of one attempt.
enum Exchange {
    /// A final response head (rewritten into `Conn::out`; `Conn::rbuf` holds what follows
    /// it), on this socket.
    Response(RespHead, TcpStream),
    Failed(ProxyError),
}

/// One target to try: the endpoint, its authority (for `host`) and metrics.
struct Target<'a> {
    addr: SocketAddr,
    authority: &'a Authority,
}

/// What happens to the connection after a request.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
}

struct Conn<'a> {
    /// The client's socket (TLS when the listener terminates it).
    down: Stream,
    /// Bytes read from the client, not yet used.
    inb: BytesMut,
    /// Bytes read from the target.
    rbuf: BytesMut,
    /// The upstream request head of the current request (without `host` when the
    /// request has none, and without the final empty line).
    head: Vec<u8>,
    /// What is written next.
    out: Vec<u8>,
    ctx: Arc<ConnCtx>,
    metrics: &'a ListenerMetrics,
    timer: Pin<Box<Sleep>>,
    max_head: usize,
    /// Downstream bytes, reported to `ProcessedBytes` after each request.
    processed: u64,
    /// Request body bytes of the current request.
    req_data: u64,
}

/// Runs `fut` until `deadline`; `None` if the deadline came first.
async fn until<F: Future>(
    timer: &mut Pin<Box<Sleep>>,
    deadline: Instant,
    fut: F,
) -> Option<F::Output> {
    // Moving a timer later is cheap; earlier, or after it fired, it is registered again.
    if timer.is_elapsed() || timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    let mut fut = std::pin::pin!(fut);
    loop {
        tokio::select! {
            biased;
            v = &mut fut => return Some(v),
            _ = timer.as_mut() => {
                if Instant::now() >= deadline {
                    return None;
                }
                timer.as_mut().reset(deadline);
            }
        }
    }
}

fn reset_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>, t: SocketAddr) -> ProxyError {
    ProxyError::new(Side::Upstream, ErrorKind::Reset, true)
        .with_target(t)
        .with_source(e)
}

fn is_eof(r: &io::Result<usize>) -> bool {
    matches!(r, Ok(0)) || r.is_err()
}

/// Serves `stream` (an `http` listener's connection) until it closes or goes to hyper.
pub(crate) async fn serve(
    stream: Stream,
    ctx: Arc<ConnCtx>,
    listener: &ListenerShared,
    timers: ConnTimers,
    metrics: &ListenerMetrics,
    close: &mut watch::Receiver<bool>,
) -> Served {
    let start = Instant::now();
    let mut c = Conn {
        down: stream,
        inb: BytesMut::new(),
        rbuf: BytesMut::new(),
        head: Vec::new(),
        out: Vec::new(),
        ctx,
        metrics,
        timer: Box::pin(tokio::time::sleep_until(
            start + timers.header.unwrap_or(FAR),
        )),
        max_head: listener.serving.max_header_bytes,
        processed: 0,
        req_data: 0,
    };
    let mut first = true;
    let mut last_active = start;
    if *close.borrow_and_update() {
        return Served::Done;
    }
    // Resolves once the connection is told to close: one waiter for the connection,
    // not one per request.
    let mut shut = close.clone();
    let mut shutdown = std::pin::pin!(async move {
        while !*shut.borrow_and_update() {
            if shut.changed().await.is_err() {
                return;
            }
        }
    });
    loop {
        if *close.borrow() {
            return Served::Done;
        }
        let end = match c
            .read_head(first, last_active, start, &timers, shutdown.as_mut())
            .await
        {
            HeadWait::Ready(end) => end,
            HeadWait::Closed => return Served::Done,
            HeadWait::TimedOut => return Served::HeadTimeout(c.down),
            HeadWait::Fallback => return Served::Fallback(c.down, c.inb),
        };
        first = false;
        let route = listener.slot.load_full();
        let next = match c.request(&route, end, close).await {
            Some(n) => n,
            None => return Served::Fallback(c.down, c.inb),
        };
        c.metrics.processed_bytes(std::mem::take(&mut c.processed));
        if next == Next::Close {
            linger_close(c.down).await;
            return Served::Done;
        }
        last_active = Instant::now();
    }
}

/// Writes `bytes` to the client and flushes them (TLS keeps records it could not send
/// yet until it is flushed; a plain socket has nothing to flush).
async fn write_flush(down: &mut Stream, bytes: &[u8]) -> io::Result<()> {
    down.write_all(bytes).await?;
    down.flush().await
}

/// Closes the sending side, then reads (and drops) what the client still sends, for a
/// moment: closing with unread bytes would reset the connection, and the client could
/// lose the response it has not read yet.
async fn linger_close(mut s: Stream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        s.shutdown().await?;
        let mut buf = [0u8; 4096];
        while s.read(&mut buf).await? != 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

enum HeadWait {
    /// A complete head ends at this index of the buffer.
    Ready(usize),
    Closed,
    TimedOut,
    Fallback,
}

impl Conn<'_> {
    async fn read_head(
        &mut self,
        first: bool,
        last_active: Instant,
        start: Instant,
        timers: &ConnTimers,
        mut shutdown: Pin<&mut impl Future<Output = ()>>,
    ) -> HeadWait {
        let mut searched = 0;
        // When the head started: the connection's start for its first request.
        let mut head_start = if first { Some(start) } else { None };
        loop {
            if !self.inb.is_empty() {
                if let Some(end) = h1::head_end(&self.inb, searched) {
                    return HeadWait::Ready(end);
                }
                // Not HTTP/1 (an HTTP/2 preface), or too large: hyper answers.
                if self.inb.len() >= self.max_head || self.inb.starts_with(b"PRI ") {
                    return HeadWait::Fallback;
                }
                searched = self.inb.len();
                head_start.get_or_insert_with(Instant::now);
            }
            let header_deadline = match (head_start, timers.header) {
                (Some(s), Some(h)) => Some(s + h),
                _ => None,
            };
            let idle_deadline = timers.idle.map(|d| last_active + d);
            let deadline = match (header_deadline, idle_deadline) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or_else(|| Instant::now() + FAR),
            };
            if self.inb.capacity() - self.inb.len() < 1024 {
                self.inb.reserve(READ_CHUNK);
            }
            let read = {
                let Conn {
                    down, inb, timer, ..
                } = self;
                until(timer, deadline, async {
                    tokio::select! {
                        biased;
                        r = down.read_buf(inb) => Some(r),
                        _ = shutdown.as_mut() => None,
                    }
                })
                .await
            };
            match read {
                None => {
                    let now = Instant::now();
                    if header_deadline.is_some_and(|d| now >= d) {
                        return HeadWait::TimedOut;
                    }
                    return HeadWait::Closed;
                }
                Some(None) => return HeadWait::Closed,
                Some(Some(Ok(0) | Err(_))) => return HeadWait::Closed,
                Some(Some(Ok(n))) => self.processed += n as u64,
            }
        }
    }

    /// Forwards one request whose head ends at `end` in the buffer; `None`: the fast path
    /// does not take it (nothing was consumed).
    async fn request(
        &mut self,
        route: &Arc<Route>,
        end: usize,
        close: &watch::Receiver<bool>,
    ) -> Option<Next> {
        let (pool, ingress) = match &route.kind {
            RouteKind::Alb(lst) => return self.alb(route, lst, end, close).await,
            RouteKind::Egress(up) => (http1(&up.client)?, None),
            // hyper's path refuses a connection without the client certificate the
            // listener now requires.
            RouteKind::Ingress(app) if app.refuses(&self.ctx) => return None,
            RouteKind::Ingress(app) => (http1(&app.client)?, Some(&**app)),
        };
        let xff = ingress.map(|_| self.ctx.peer_ip.as_bytes());
        let mut head = match h1::parse_request(
            &self.inb[..end],
            &mut self.head,
            xff,
            route.log.logger.is_some(),
        ) {
            ParsedRequest::Complete(h) => h,
            ParsedRequest::Fallback => return None,
            ParsedRequest::Refused(r) => return Some(self.refuse(route, r, close).await),
        };
        self.inb.advance(head.len);
        self.req_data = 0;
        let start = Instant::now();
        let in_flight = InFlight::new(&self.ctx);
        let fields = head.fields.take();
        let mut log = RequestLog::start_h1(Arc::clone(route), in_flight, head.grpc, fields, start);
        let next = match ingress {
            None => {
                let RouteKind::Egress(up) = &route.kind else {
                    unreachable!("egress");
                };
                self.egress(up, pool, &head, &mut log, close, start).await
            }
            Some(app) => self.ingress(app, pool, &head, &mut log, close, start).await,
        };
        log.request_bytes(ReqBytes::Known(self.req_data));
        drop(log);
        Some(next)
    }

    /// A request to a load balancer's listener: its rules say where it goes (the head is
    /// parsed once for them, once more as it is forwarded); `None`: hyper's path takes
    /// it (and decides the same).
    async fn alb(
        &mut self,
        route: &Arc<Route>,
        lst: &AlbListener,
        end: usize,
        close: &watch::Receiver<bool>,
    ) -> Option<Next> {
        let (step, note) = self.alb_decide(lst, end)?;
        match step {
            Step::Forward(g) => self.alb_forward(route, &g, note, end, close).await,
            Step::Answer(a) => {
                let head = match h1::parse_request(&self.inb[..end], &mut self.head, None, false) {
                    ParsedRequest::Complete(h) => h,
                    ParsedRequest::Fallback => return None,
                    ParsedRequest::Refused(r) => return Some(self.refuse(route, r, close).await),
                };
                self.inb.advance(head.len);
                let in_flight = InFlight::new(&self.ctx);
                let mut log =
                    RequestLog::start_h1(Arc::clone(route), in_flight, false, None, Instant::now());
                log.alb(note);
                Some(self.answer(a, &head, &mut log, close).await)
            }
        }
    }

    /// The listener's rules applied to the head in `inb[..end]`, with the access log's
    /// fields when it logs; `None`: a head the fast path leaves to hyper's.
    fn alb_decide(&self, lst: &AlbListener, end: usize) -> Option<(Step, AlbNote)> {
        let local = self.ctx.local;
        let mut hs = [httparse::EMPTY_HEADER; h1::MAX_HEADERS];
        let mut req = httparse::Request::new(&mut hs);
        let Ok(httparse::Status::Complete(_)) = req.parse(&self.inb[..end]) else {
            return None;
        };
        let (Some(method), Some(target)) = (req.method, req.path) else {
            return None;
        };
        if !target.starts_with('/') {
            return None;
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let find = |n: &str| (req.headers.iter()).find(|h| h.name.eq_ignore_ascii_case(n));
        let facts = RequestFacts {
            method,
            path,
            query,
            host: find("host").map(|h| h.value),
            headers: &H1Headers(req.headers),
            source: self.ctx.peer.ip(),
        };
        let (step, mut note) = crate::alb::decide(lst, &facts, local);
        if note.logs() {
            let ua = find("user-agent").map(|h| h.value);
            let f = crate::alb::fields(&facts, local, "HTTP/1.1", ua, None);
            note.fields = Some(Box::new(f));
        }
        Some((step, note))
    }

    /// Forwards the request to group `g`'s targets with ALB's forwarding headers.
    async fn alb_forward(
        &mut self,
        route: &Arc<Route>,
        g: &GroupRt,
        mut note: AlbNote,
        end: usize,
        close: &watch::Receiver<bool>,
    ) -> Option<Next> {
        let pool = http1(&g.up.client)?;
        let trace = crate::alb_reply::trace_id(std::time::SystemTime::now());
        let fwd = Forwarding {
            forwarded_for: Some(self.ctx.peer_ip.as_bytes()),
            alb: Some(AlbForwarding {
                port: self.ctx.local.port(),
                trace_id: &trace,
            }),
        };
        let logs = note.logs();
        let head = match h1::parse_request_with(&self.inb[..end], &mut self.head, fwd, logs) {
            ParsedRequest::Complete(h) => h,
            ParsedRequest::Fallback => return None,
            ParsedRequest::Refused(r) => return Some(self.refuse(route, r, close).await),
        };
        if let (Some(f), Some(h)) = (&mut note.fields, &head.fields) {
            f.trace_id.clone_from(&h.trace_id);
        }
        self.inb.advance(head.len);
        self.req_data = 0;
        let start = Instant::now();
        let in_flight = InFlight::new(&self.ctx);
        let mut log = RequestLog::start_h1(Arc::clone(route), in_flight, head.grpc, None, start);
        log.alb(note);
        let next = self
            .egress(&g.up, pool, &head, &mut log, close, start)
            .await;
        log.request_bytes(ReqBytes::Known(self.req_data));
        drop(log);
        Some(next)
    }

    /// A load balancer's own answer. The request's body is not read: with one, the
    /// connection closes after the answer.
    async fn answer(
        &mut self,
        a: Answer,
        head: &ReqHead,
        log: &mut RequestLog,
        close: &watch::Receiver<bool>,
    ) -> Next {
        use std::io::Write as _;
        log.answered_locally(a.status);
        let closing = head.close || head.body != Framing::None || *close.borrow();
        let reason = http::StatusCode::from_u16(a.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        self.out.clear();
        let _ = write!(
            self.out,
            "HTTP/1.1 {} {reason}\r\nserver: {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n",
            a.status,
            crate::alb_reply::SERVER,
            a.content_type,
            a.body.len(),
        );
        if let Some(l) = &a.location {
            let _ = write!(self.out, "location: {l}\r\n");
        }
        if closing {
            self.out.extend_from_slice(b"connection: close\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        if !head.is_head {
            self.out.extend_from_slice(&a.body);
            log.sent(a.body.len());
        }
        log.finish();
        let n = self.out.len();
        let deadline = Instant::now() + Duration::from_secs(10);
        let Conn {
            down, out, timer, ..
        } = self;
        match until(timer, deadline, write_flush(down, out)).await {
            Some(Ok(())) => self.processed += n as u64,
            _ => return Next::Close,
        }
        if closing {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// Answers a request the proxy never forwards (`CONNECT`, a second `host`) and ends
    /// the connection: what follows the head may be tunnel bytes, or a body framed by
    /// headers the proxy does not trust.
    async fn refuse(
        &mut self,
        route: &Arc<Route>,
        r: h1::Refused,
        close: &watch::Receiver<bool>,
    ) -> Next {
        self.inb.advance(r.len);
        let in_flight = InFlight::new(&self.ctx);
        let mut log = RequestLog::start_h1(
            Arc::clone(route),
            in_flight,
            false,
            r.fields,
            Instant::now(),
        );
        if let Some(lst) = route.alb() {
            log.alb(AlbNote::new(&lst.lb, 0, ""));
        }
        self.fail(r.why.error(), &mut log, false, close).await
    }

    /// Prepares the request body: buffered when it is in the buffer already, or (up to
    /// `max_replay` bytes with a known length) once read whole; streamed otherwise.
    async fn prepare_body(
        &mut self,
        head: &ReqHead,
        max_replay: usize,
        deadline: Instant,
    ) -> Result<ReqBody, ProxyError> {
        match head.body {
            Framing::None | Framing::Close => Ok(ReqBody::None),
            Framing::Length(n) => {
                let want = usize::try_from(n).unwrap_or(usize::MAX);
                if self.inb.len() < want && want <= max_replay {
                    if head.expect_continue {
                        self.write_down_raw(CONTINUE, deadline).await?;
                    }
                    while self.inb.len() < want {
                        self.inb.reserve(want - self.inb.len());
                        let Conn {
                            down, inb, timer, ..
                        } = self;
                        match until(timer, deadline, down.read_buf(inb)).await {
                            None => {
                                return Err(ProxyError::new(
                                    Side::Downstream,
                                    ErrorKind::ClientTimeout,
                                    false,
                                ))
                            }
                            Some(Ok(0)) | Some(Err(_)) => {
                                return Err(ProxyError::new(
                                    Side::Downstream,
                                    ErrorKind::RequestBody,
                                    false,
                                ))
                            }
                            Some(Ok(k)) => self.processed += k as u64,
                        }
                    }
                }
                if self.inb.len() >= want {
                    Ok(ReqBody::Buffered { n: want, data: n })
                } else {
                    Ok(ReqBody::Stream {
                        left: Left::Length(n),
                        started: false,
                        finished: false,
                    })
                }
            }
            Framing::Chunked => {
                let mut s = ChunkScanner::default();
                match s.feed(&self.inb) {
                    Ok(f) if f.done => Ok(ReqBody::Buffered {
                        n: f.used,
                        data: f.data,
                    }),
                    Ok(_) => Ok(ReqBody::Stream {
                        left: Left::Chunked(ChunkScanner::default()),
                        started: false,
                        finished: false,
                    }),
                    Err(e) => Err(
                        ProxyError::new(Side::Downstream, ErrorKind::RequestBody, false)
                            .with_source(e),
                    ),
                }
            }
        }
    }

    async fn egress(
        &mut self,
        up: &crate::state::UpstreamRt,
        pool: &Http1Pool,
        head: &ReqHead,
        log: &mut RequestLog,
        close: &watch::Receiver<bool>,
        start: Instant,
    ) -> Next {
        let mut attempts = Attempts::start(up, start.into_std());
        let deadline = start + up.per_request.unwrap_or(FAR);
        let mut body = match self
            .prepare_body(head, up.retries.max_replay_body_bytes, deadline)
            .await
        {
            Ok(b) => b,
            Err(e) => return self.fail(e, log, false, close).await,
        };
        loop {
            let pick = match attempts.next(log) {
                Ok(p) => p,
                Err(e) => return self.fail(e, log, body_done(&body), close).await,
            };
            let addr = pick.addr();
            let ep = up.endpoint(addr);
            let sent = Instant::now();
            let t = Target {
                addr,
                authority: &ep.authority,
            };
            let ex = self
                .exchange(pool, &t, head, &mut body, deadline, sent, None, close)
                .await;
            let replayable = replayable(&body);
            match ex {
                Exchange::Response(resp, sock) => {
                    let Some(pick) = attempts.answered(pick, resp.status, || replayable, log)
                    else {
                        drop(sock);
                        continue;
                    };
                    log.answered(resp.status, addr, ep.metrics, sent.elapsed(), Some(pick));
                    return self
                        .relay(resp, sock, pool, addr, &body, deadline, log)
                        .await;
                }
                Exchange::Failed(err) => {
                    if let Err(e) = attempts.failed(pick, err, || replayable, log) {
                        return self.fail(e, log, body_done(&body), close).await;
                    }
                }
            }
        }
    }

    async fn ingress(
        &mut self,
        app: &crate::state::IngressRoute,
        pool: &Http1Pool,
        head: &ReqHead,
        log: &mut RequestLog,
        close: &watch::Receiver<bool>,
        start: Instant,
    ) -> Next {
        let deadline = start + app.per_request.unwrap_or(FAR);
        let mut body = match self.prepare_body(head, 0, deadline).await {
            Ok(b) => b,
            Err(e) => return self.fail(e, log, false, close).await,
        };
        log.tried(app.app);
        let sent = Instant::now();
        let t = Target {
            addr: app.app,
            authority: &app.authority,
        };
        let ex = self
            .exchange(
                pool,
                &t,
                head,
                &mut body,
                deadline,
                sent,
                Some(&app.target),
                close,
            )
            .await;
        match ex {
            Exchange::Response(resp, sock) => {
                log.answered(
                    resp.status,
                    app.app,
                    app.target.clone(),
                    sent.elapsed(),
                    None,
                );
                self.relay(resp, sock, pool, app.app, &body, deadline, log)
                    .await
            }
            Exchange::Failed(e) => self.fail(e, log, body_done(&body), close).await,
        }
    }

    /// One attempt: a connection (pooled, or new), the head and body, the response
    /// head. A pooled connection the target closed in the meantime is replaced by a new
    /// one silently, as long as the body can be sent again.
    #[allow(clippy::too_many_arguments)]
    async fn exchange(
        &mut self,
        pool: &Http1Pool,
        t: &Target<'_>,
        head: &ReqHead,
        body: &mut ReqBody,
        deadline: Instant,
        sent: Instant,
        ingress: Option<&TargetMetrics>,
        close: &watch::Receiver<bool>,
    ) -> Exchange {
        loop {
            // The target's bytes of this attempt only (an informational answer may have
            // started while the body was sent: it is completed below).
            self.rbuf.clear();
            let (mut up, reused) = match rawpool::checkout(pool, t.addr) {
                Some(s) => (s, true),
                None => {
                    let connecting = Box::pin(rawpool::connect(pool, t.addr));
                    match until(&mut self.timer, deadline, connecting).await {
                        None => return Exchange::Failed(timeout(t.addr)),
                        Some(Ok(s)) => (s, false),
                        Some(Err(e)) => {
                            return Exchange::Failed(
                                ProxyError::new(Side::Upstream, ErrorKind::Connect, true)
                                    .with_target(t.addr)
                                    .with_source(e),
                            )
                        }
                    }
                }
            };
            self.out.clear();
            self.out.extend_from_slice(&self.head);
            if !head.has_host {
                if let Some(v) = crate::headers::host_value(&Scheme::HTTP, t.authority) {
                    self.out.extend_from_slice(b"host: ");
                    self.out.extend_from_slice(v.as_bytes());
                    self.out.extend_from_slice(b"\r\n");
                }
            }
            self.out.extend_from_slice(b"\r\n");
            if let ReqBody::Buffered { n, .. } = body {
                self.out.extend_from_slice(&self.inb[..*n]);
            }
            match until(&mut self.timer, deadline, up.write_all(&self.out)).await {
                None => return Exchange::Failed(timeout(t.addr)),
                Some(Ok(())) => {}
                Some(Err(_)) if reused => continue,
                Some(Err(e)) => return Exchange::Failed(reset_err(e, t.addr)),
            }
            let mut early = false;
            if let ReqBody::Stream {
                left,
                started,
                finished,
            } = body
            {
                if head.expect_continue && !*started && self.inb.is_empty() {
                    if let Err(e) = self.write_down_raw(CONTINUE, deadline).await {
                        return Exchange::Failed(e);
                    }
                }
                *started = true;
                match self.stream_body(&mut up, left, deadline, t.addr).await {
                    Ok(true) => *finished = true,
                    // The answer's first bytes are in `rbuf`.
                    Ok(false) => early = true,
                    Err(e) => return Exchange::Failed(e),
                }
            }
            let edits = RespEdits {
                is_head: head.is_head,
                ingress_ms: None,
                close: false,
                grpc_status: true,
            };
            // What the target sent early is parsed before anything more is read.
            let mut read = !early;
            loop {
                if read {
                    if self.rbuf.capacity() - self.rbuf.len() < 1024 {
                        self.rbuf.reserve(READ_CHUNK);
                    }
                    let r = until(&mut self.timer, deadline, up.read_buf(&mut self.rbuf)).await;
                    let Some(r) = r else {
                        return Exchange::Failed(timeout(t.addr));
                    };
                    if is_eof(&r) {
                        if self.rbuf.is_empty() && reused && replayable(body) {
                            // A pooled connection that had closed: once more on a new one.
                            break;
                        }
                        let e = match r {
                            Err(e) => e,
                            Ok(_) => io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "connection closed before the response",
                            ),
                        };
                        return Exchange::Failed(reset_err(e, t.addr));
                    }
                }
                read = true;
                loop {
                    let e = RespEdits {
                        ingress_ms: ingress
                            .map(|_| u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX)),
                        close: head.close || *close.borrow() || !body_done(body),
                        ..edits
                    };
                    match h1::parse_response(&self.rbuf, &mut self.out, e) {
                        Ok(None) => break,
                        Ok(Some(h)) if (100..200).contains(&h.status) => {
                            // Informational: not forwarded (the proxy sent its own 100
                            // Continue).
                            self.rbuf.advance(h.len);
                            if self.rbuf.is_empty() {
                                break;
                            }
                        }
                        Ok(Some(h)) => {
                            self.rbuf.advance(h.len);
                            return Exchange::Response(h, up);
                        }
                        Err(err) => {
                            return Exchange::Failed(
                                ProxyError::new(Side::Upstream, ErrorKind::Protocol, false)
                                    .with_target(t.addr)
                                    .with_source(err),
                            )
                        }
                    }
                }
            }
        }
    }

    /// Copies the rest of the request body from the client to `up`: `Ok(true)` once it
    /// is all sent, `Ok(false)` if the target started answering first (its first bytes
    /// are in `rbuf`; the rest of the body is not sent, the connections close after the
    /// response).
    async fn stream_body(
        &mut self,
        up: &mut TcpStream,
        left: &mut Left,
        deadline: Instant,
        target: SocketAddr,
    ) -> Result<bool, ProxyError> {
        let body_err = |e: Option<io::Error>| {
            let mut err = ProxyError::new(Side::Downstream, ErrorKind::RequestBody, false);
            if let Some(e) = e {
                err = err.with_source(e);
            }
            err
        };
        let up_err = |e: io::Error| {
            ProxyError::new(Side::Upstream, ErrorKind::Reset, false)
                .with_target(target)
                .with_source(e)
        };
        loop {
            if !self.inb.is_empty() {
                let (n, data, done) = match left {
                    Left::Length(rest) => {
                        let n = usize::try_from(*rest)
                            .unwrap_or(usize::MAX)
                            .min(self.inb.len());
                        *rest -= n as u64;
                        (n, n as u64, *rest == 0)
                    }
                    Left::Chunked(s) => {
                        let f = s.feed(&self.inb).map_err(|e| {
                            ProxyError::new(Side::Downstream, ErrorKind::RequestBody, false)
                                .with_source(e)
                        })?;
                        (f.used, f.data, f.done)
                    }
                };
                self.req_data += data;
                let mut off = 0;
                while off < n {
                    let up_ref = &*up;
                    let ready = until(&mut self.timer, deadline, async {
                        tokio::select! {
                            biased;
                            r = up_ref.writable() => r.map(|()| true),
                            r = up_ref.readable() => r.map(|()| false),
                        }
                    })
                    .await;
                    match ready {
                        None => return Err(timeout(target)),
                        Some(Err(e)) => return Err(up_err(e)),
                        Some(Ok(true)) => match up.try_write(&self.inb[off..n]) {
                            Ok(k) => off += k,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(e) => return Err(up_err(e)),
                        },
                        Some(Ok(false)) => {
                            if self.answered_early(up).map_err(up_err)? {
                                self.inb.advance(off);
                                return Ok(false);
                            }
                        }
                    }
                }
                self.inb.advance(n);
                if done {
                    return Ok(true);
                }
            } else if matches!(left, Left::Length(0)) {
                return Ok(true);
            }
            self.inb.reserve(READ_CHUNK);
            let up_ref = &*up;
            let Conn {
                down, inb, timer, ..
            } = self;
            let r = until(timer, deadline, async {
                tokio::select! {
                    biased;
                    r = down.read_buf(inb) => Some(r),
                    _ = up_ref.readable() => None,
                }
            })
            .await;
            match r {
                None => {
                    return Err(ProxyError::new(
                        Side::Downstream,
                        ErrorKind::ClientTimeout,
                        false,
                    ))
                }
                Some(None) => {
                    if self.answered_early(up).map_err(up_err)? {
                        return Ok(false);
                    }
                }
                Some(Some(Ok(0))) => return Err(body_err(None)),
                Some(Some(Err(e))) => return Err(body_err(Some(e))),
                Some(Some(Ok(n))) => self.processed += n as u64,
            }
        }
    }

    /// Whether the target, readable while the request body is still being sent, has
    /// really started answering (its bytes then in `rbuf`); an error if it closed.
    fn answered_early(&mut self, up: &TcpStream) -> io::Result<bool> {
        self.rbuf.reserve(READ_CHUNK);
        match up.try_read_buf(&mut self.rbuf) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed while the request body was sent",
            )),
            Ok(_) => {
                // Informational answers (100 Continue) do not stop the body.
                let mut scratch = Vec::new();
                while let Ok(Some(h)) = h1::parse_response(&self.rbuf, &mut scratch, PEEK) {
                    if !(100..200).contains(&h.status) {
                        break;
                    }
                    self.rbuf.advance(h.len);
                }
                // What is left is the answer, unless it is the start of another 1xx.
                Ok(!self.rbuf.is_empty() && !maybe_informational(&self.rbuf))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends the response (its head is in `out`, what followed it in `rbuf`) downstream
    /// and copies its body; the upstream socket goes back to the pool if it can.
    #[allow(clippy::too_many_arguments)]
    async fn relay(
        &mut self,
        resp: RespHead,
        mut up: TcpStream,
        pool: &Http1Pool,
        target: SocketAddr,
        body: &ReqBody,
        deadline: Instant,
        log: &mut RequestLog,
    ) -> Next {
        if log.wants_detail() {
            log.grpc_status(resp.grpc_status.clone());
        }
        let req_done = body_done(body);
        if let ReqBody::Buffered { n, data } = body {
            self.inb.advance(*n);
            self.req_data = *data;
        }
        let down_close = self.out.ends_with(b"connection: close\r\n\r\n");
        let mut framing = match resp.body {
            Framing::None => None,
            Framing::Length(n) => Some(Left::Length(n)),
            Framing::Chunked => Some(Left::Chunked(ChunkScanner::default())),
            Framing::Close => Some(Left::Length(u64::MAX)),
        };
        let close_delimited = resp.body == Framing::Close;
        let mut clean = !resp.close && req_done;
        let mut done = framing.is_none();
        loop {
            // What is in `rbuf` and belongs to the body goes out after the head.
            if let Some(f) = &mut framing {
                if !self.rbuf.is_empty() {
                    let (n, data, end) = match f {
                        Left::Length(rest) => {
                            let n = usize::try_from(*rest)
                                .unwrap_or(usize::MAX)
                                .min(self.rbuf.len());
                            *rest -= n as u64;
                            (n, n as u64, *rest == 0)
                        }
                        Left::Chunked(s) => match s.feed(&self.rbuf) {
                            Ok(fed) => (fed.used, fed.data, fed.done),
                            Err(_) => {
                                log.body_failed();
                                return Next::Close;
                            }
                        },
                    };
                    if close_delimited {
                        h1::encode_chunk(&mut self.out, &self.rbuf[..n]);
                    } else {
                        self.out.extend_from_slice(&self.rbuf[..n]);
                    }
                    self.rbuf.advance(n);
                    log.sent_u64(data);
                    done = end;
                }
            }
            if done && !self.rbuf.is_empty() {
                // Bytes past the response: the connection is not trustworthy.
                clean = false;
            }
            if !self.out.is_empty() {
                if done {
                    log.finish();
                }
                let n = self.out.len();
                let Conn {
                    down, out, timer, ..
                } = self;
                match until(timer, deadline, write_flush(down, out)).await {
                    None => {
                        log.timed_out_in_body();
                        return Next::Close;
                    }
                    Some(Err(_)) => {
                        if done && clean {
                            rawpool::check_in(pool, target, up);
                        }
                        return Next::Close;
                    }
                    Some(Ok(())) => self.processed += n as u64,
                }
                self.out.clear();
            }
            if done {
                break;
            }
            self.rbuf.clear();
            self.rbuf.reserve(READ_CHUNK);
            match until(&mut self.timer, deadline, up.read_buf(&mut self.rbuf)).await {
                None => {
                    log.timed_out_in_body();
                    return Next::Close;
                }
                Some(Ok(0)) if close_delimited => {
                    self.out.extend_from_slice(h1::LAST_CHUNK);
                    done = true;
                    clean = false;
                }
                Some(Ok(0)) | Some(Err(_)) => {
                    log.body_failed();
                    return Next::Close;
                }
                Some(Ok(_)) => {}
            }
        }
        if clean {
            rawpool::check_in(pool, target, up);
        }
        if down_close || !req_done {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// The proxy's own answer to a failed request.
    async fn fail(
        &mut self,
        e: ProxyError,
        log: &mut RequestLog,
        req_done: bool,
        close: &watch::Receiver<bool>,
    ) -> Next {
        tracing::debug!(error = %e, "request failed");
        log.failed(&e);
        let closing = e.side == Side::Downstream
            || e.kind == ErrorKind::ClientTimeout
            || !req_done
            || *close.borrow();
        let (status, server, content_type, body) = if log.is_alb() {
            let status = crate::alb_reply::status(&e);
            let (ct, body) = crate::alb_reply::error_page(status);
            (status, crate::alb_reply::SERVER, ct, body)
        } else {
            let ct = "text/plain; charset=utf-8";
            (e.status(), "berth", ct, format!("{e}\n"))
        };
        self.out.clear();
        use std::io::Write as _;
        let _ = write!(
            self.out,
            "HTTP/1.1 {} {}\r\nserver: {server}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len(),
        );
        if let Some(allow) = e.allow() {
            let _ = write!(self.out, "allow: {allow}\r\n");
        }
        let _ = write!(
            self.out,
            "{}\r\n{body}",
            if closing { "connection: close\r\n" } else { "" },
        );
        log.finish();
        let n = self.out.len();
        let Conn {
            down, out, timer, ..
        } = self;
        let deadline = Instant::now() + Duration::from_secs(10);
        match until(timer, deadline, write_flush(down, out)).await {
            Some(Ok(())) => self.processed += n as u64,
            _ => return Next::Close,
        }
        if closing {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// Writes `bytes` to the client (a 100 Continue).
    async fn write_down_raw(&mut self, bytes: &[u8], deadline: Instant) -> Result<(), ProxyError> {
        match until(
            &mut self.timer,
            deadline,
            write_flush(&mut self.down, bytes),
        )
        .await
        {
            Some(Ok(())) => {
                self.processed += bytes.len() as u64;
                Ok(())
            }
            None => Err(ProxyError::new(
                Side::Downstream,
                ErrorKind::ClientTimeout,
                false,
            )),
            Some(Err(e)) => {
                Err(ProxyError::new(Side::Downstream, ErrorKind::RequestBody, false).with_source(e))
            }
        }
    }
}

/// Whether `b` may be the beginning of an informational (1xx) response head.
fn maybe_informational(b: &[u8]) -> bool {
    const START: &[u8] = b"HTTP/1.1 1";
    b.iter()
        .zip(START)
        .enumerate()
        .all(|(i, (x, y))| x == y || (i == 7 && *x == b'0'))
}

/// Edits for a response head only looked at.
const PEEK: RespEdits = RespEdits {
    is_head: false,
    ingress_ms: None,
    close: false,
    grpc_status: false,
};

fn timeout(t: SocketAddr) -> ProxyError {
    ProxyError::new(Side::Upstream, ErrorKind::Timeout, false).with_target(t)
}

/// The plain HTTP/1.1 pool the fast path sends with (TLS upstreams go to hyper's path).
fn http1(client: &Option<(crate::client::ClientKey, Clients)>) -> Option<&Http1Pool> {
    match client {
        Some((_, Clients::Http1(p))) if p.tls.is_none() => Some(p),
        _ => None,
    }
}

/// Whether another attempt could send the body again.
fn replayable(b: &ReqBody) -> bool {
    !matches!(b, ReqBody::Stream { started: true, .. })
}

/// Whether the request body has been read from the client entirely.
fn body_done(b: &ReqBody) -> bool {
    match b {
        ReqBody::None | ReqBody::Buffered { .. } => true,
        ReqBody::Stream { finished, .. } => *finished,
    }
}

#[cfg(test)]
mod tests {
    use super::maybe_informational;

    #[test]
    fn informational_prefixes() {
        assert!(maybe_informational(b"HTTP/1.1 100 Cont"));
        assert!(maybe_informational(b"HTTP/1.0 1"));
        assert!(maybe_informational(b"HTTP/1."));
        assert!(!maybe_informational(b"HTTP/1.1 200 OK"));
        assert!(!maybe_informational(b"garbage"));
    }
}
