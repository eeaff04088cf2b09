//! Upstream HTTP clients.
//!
//! HTTP/1.1: berth's own pool on `hyper::client::conn::http1`, one per upstream (or
//! ingress application) and worker thread, keyed by endpoint inside: a stack of idle
//! connections (`SendRequest`s) per endpoint, in a thread-local map, so checking a
//! connection out and back in takes no lock and never leaves the thread. A request takes
//! the most recently used idle connection that is still open (or connects), sends, and
//! the response body gives the connection back when it ends. Each connection is driven by
//! one task, spawned on the runtime of the request that opened it (the worker's,
//! current-thread); that task also closes the connection once it has been idle for the
//! upstream's idle timeout, or when its pool is gone.
//!
//! HTTP/2 with prior knowledge: hyper-util's pooled client, one shared by the workers, so
//! that each endpoint still gets one multiplexed connection (its task runs on the worker
//! that opened it; requests from the others cross threads).
//!
//! An upstream with TLS ([`ClientTls`]): both kinds connect TLS over each new socket
//! (ALPN `http/1.1` or `h2`), resuming sessions from the config's cache; pooled
//! connections keep their TLS, so a handshake is paid per connection, not per request.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use berth_proxy_config::Protocol;
use bytes::Bytes;
use http::header;
use http::uri::{Parts, Scheme, Uri};
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::body::ReqBody;
use crate::error::{ErrorKind, ProxyError, Side};
use crate::fasthash::FastMap;
use crate::headers::host_value;
use crate::tls::{tls_error_in, ClientTls, HandshakeError, Stream};

/// The pooled HTTP/2 client of one upstream.
pub(crate) type Http2Client = Client<Connector, ReqBody>;

/// Idle connections kept per endpoint (and worker), at most.
const MAX_IDLE_PER_ENDPOINT: usize = 1024;

/// How often an idle connection without idle timeout checks that its pool still exists.
const ORPHAN_CHECK: Duration = Duration::from_secs(30);

/// An upstream's client.
#[derive(Clone)]
pub(crate) enum Clients {
    /// HTTP/1.1: berth's pool, one per worker thread.
    Http1(Arc<Http1Pool>),
    /// HTTP/2: hyper-util's client, shared.
    Http2(Arc<Http2Client>),
}

/// Why an upstream request failed.
#[derive(Debug)]
pub(crate) enum ClientError {
    /// Connecting failed (refused, unreachable, connect timeout).
    Connect(io::Error),
    /// The TLS handshake failed.
    Tls(HandshakeError),
    /// The HTTP/1.1 exchange failed.
    Http1(hyper::Error),
    /// hyper-util's client (HTTP/2) failed.
    Http2(hyper_util::client::legacy::Error),
}

impl ClientError {
    /// The proxy's error for this failure of a request to `target`.
    pub(crate) fn classify(self, target: SocketAddr) -> ProxyError {
        let (kind, source): (_, Box<dyn std::error::Error + Send + Sync>) = match self {
            ClientError::Connect(e) => (ErrorKind::Connect, Box::new(e)),
            ClientError::Tls(e) => (ErrorKind::Tls, Box::new(e)),
            ClientError::Http1(e) if tls_error_in(&e).is_some() => (ErrorKind::Tls, Box::new(e)),
            ClientError::Http1(e) => (classify_hyper(Some(&e)), Box::new(e)),
            ClientError::Http2(e)
                if find::<HandshakeError>(&e).is_some() || tls_error_in(&e).is_some() =>
            {
                (ErrorKind::Tls, Box::new(e))
            }
            ClientError::Http2(e) if e.is_connect() => (ErrorKind::Connect, Box::new(e)),
            ClientError::Http2(e) => (classify_hyper(find::<hyper::Error>(&e)), Box::new(e)),
        };
        // A connect failure never sent anything; a reset came before any response byte.
        // A malformed response head is not retried: the target got the request.
        let retryable = matches!(kind, ErrorKind::Connect | ErrorKind::Tls | ErrorKind::Reset);
        let side = if kind == ErrorKind::RequestBody {
            Side::Downstream
        } else {
            Side::Upstream
        };
        ProxyError::new(side, kind, retryable)
            .with_target(target)
            .with_source(source)
    }
}

fn classify_hyper(e: Option<&hyper::Error>) -> ErrorKind {
    match e {
        Some(h) if h.is_parse() || h.is_parse_status() => ErrorKind::Protocol,
        Some(h) if h.is_user() => ErrorKind::RequestBody,
        _ => ErrorKind::Reset,
    }
}

fn find<'a, E: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<E>() {
            return Some(h);
        }
        cur = err.source();
    }
    None
}

impl Clients {
    /// Sends `req` (its URI naming `target`: absolute for HTTP/2, origin form or absolute
    /// for HTTP/1.1) to `target`.
    pub(crate) fn request(
        &self,
        req: Request<ReqBody>,
        target: SocketAddr,
    ) -> ResponseFuture<impl Future<Output = Result<Response<UpBody>, ClientError>> + '_> {
        match self {
            Clients::Http1(p) => ResponseFuture::Http1 {
                f: p.request(req, target),
            },
            Clients::Http2(c) => ResponseFuture::Http2 { f: c.request(req) },
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Clients::request`]'s future (a plain enum, not an `async fn`, which would hold
    /// the request twice).
    #[project = ResponseFutureProj]
    pub(crate) enum ResponseFuture<H1> {
        Http1 { #[pin] f: H1 },
        Http2 { #[pin] f: hyper_util::client::legacy::ResponseFuture },
    }
}

impl<H1> Future for ResponseFuture<H1>
where
    H1: Future<Output = Result<Response<UpBody>, ClientError>>,
{
    type Output = Result<Response<UpBody>, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::Http1 { f } => f.poll(cx),
            ResponseFutureProj::Http2 { f } => Poll::Ready(
                ready!(f.poll(cx))
                    .map(|r| {
                        r.map(|b| UpBody {
                            inner: b,
                            back: None,
                        })
                    })
                    .map_err(ClientError::Http2),
            ),
        }
    }
}

/// What makes two clients interchangeable (so a new snapshot keeps the pool).
#[derive(Debug, Clone)]
pub(crate) struct ClientKey {
    pub http2: bool,
    pub idle: Option<Duration>,
    pub connect_timeout: Duration,
    /// TLS to the endpoints (the same config: the same `Arc`).
    pub tls: Option<Arc<ClientTls>>,
}

impl PartialEq for ClientKey {
    fn eq(&self, o: &ClientKey) -> bool {
        let same_tls = match (&self.tls, &o.tls) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        self.http2 == o.http2
            && self.idle == o.idle
            && self.connect_timeout == o.connect_timeout
            && same_tls
    }
}

impl ClientKey {
    pub(crate) fn new(
        protocol: Protocol,
        idle: Option<Duration>,
        connect: Duration,
        tls: Option<Arc<ClientTls>>,
    ) -> ClientKey {
        ClientKey {
            http2: matches!(protocol, Protocol::Http2 | Protocol::Grpc),
            idle,
            connect_timeout: connect,
            tls,
        }
    }

    /// HTTP/1.1 with keep-alive connections pooled per endpoint, idle ones closed after
    /// `idle`; or HTTP/2 with prior knowledge, one multiplexed connection per endpoint.
    /// `TCP_NODELAY` on every connection.
    pub(crate) fn build(&self, _workers: usize) -> Clients {
        if self.http2 {
            return Clients::Http2(Arc::new(self.build_http2()));
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Clients::Http1(Arc::new(Http1Pool {
            id: NEXT_ID.fetch_add(1, Relaxed),
            idle: self.idle,
            connect_timeout: self.connect_timeout,
            tls: self.tls.clone(),
            gone: tokio::sync::watch::channel(()).0,
        }))
    }

    fn build_http2(&self) -> Http2Client {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        let connector = Connector {
            http,
            tls: self.tls.clone(),
            timeout: self.connect_timeout,
        };
        let mut b = Client::builder(TokioExecutor::new());
        b.pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(self.idle)
            .pool_max_idle_per_host(1024)
            .http2_only(true);
        b.build(connector)
    }
}

/// One HTTP/1.1 pool: its settings. The idle connections live in [`IDLE`], per thread.
#[derive(Debug)]
pub(crate) struct Http1Pool {
    pub(crate) id: u64,
    pub(crate) idle: Option<Duration>,
    pub(crate) connect_timeout: Duration,
    /// TLS to the endpoints, when the upstream has it.
    pub(crate) tls: Option<Arc<ClientTls>>,
    /// Dropped with the pool: its connections' tasks then close the idle ones.
    pub(crate) gone: tokio::sync::watch::Sender<()>,
}

/// (pool, endpoint).
type Key = (u64, SocketAddr);

thread_local! {
    /// This thread's idle HTTP/1.1 connections, most recently used last.
    static IDLE: RefCell<FastMap<Key, Vec<Idle>>> = RefCell::new(FastMap::default());
}

/// An idle connection.
struct Idle {
    tx: SendRequest<ReqBody>,
    conn: Arc<ConnState>,
}

/// What a connection's task and the pool share.
#[derive(Debug)]
struct ConnState {
    base: Instant,
    /// When the connection became idle, in ns since `base`, plus one; 0 while in use.
    idle_since: AtomicU64,
}

impl ConnState {
    fn busy(&self) {
        self.idle_since.store(0, Relaxed);
    }

    fn idle(&self) {
        let ns = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.idle_since.store(ns + 1, Relaxed);
    }

    fn idle_since(&self) -> Option<Instant> {
        match self.idle_since.load(Relaxed) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n - 1)),
        }
    }
}

impl Http1Pool {
    async fn request(
        self: &Arc<Self>,
        mut req: Request<ReqBody>,
        target: SocketAddr,
    ) -> Result<Response<UpBody>, ClientError> {
        // As hyper-util's client: `host` from the URI when the request has none, and the
        // request line in origin form.
        // (The proxy's own requests arrive in origin form already: see
        // `headers::request_uri`.)
        if req.uri().authority().is_some() {
            let uri = std::mem::take(req.uri_mut());
            if !req.headers().contains_key(header::HOST) {
                if let Some(v) = uri
                    .authority()
                    .and_then(|a| host_value(uri.scheme().unwrap_or(&Scheme::HTTP), a))
                {
                    req.headers_mut().insert(header::HOST, v);
                }
            }
            *req.uri_mut() = origin_form(uri);
        }
        let key = (self.id, target);
        loop {
            let (mut tx, conn, reused) = match self.checkout(key).await {
                Some(i) => (i.tx, i.conn, true),
                None => {
                    // Boxed: the rare path's future stays out of every request's future
                    // (which would otherwise be as large, and copied as it moves).
                    let (tx, conn) = Box::pin(self.connect(key)).await?;
                    (tx, conn, false)
                }
            };
            conn.busy();
            match tx.try_send_request(req).await {
                Ok(resp) => {
                    let back = Some(Back {
                        pool: Arc::clone(self),
                        key,
                        tx,
                        conn,
                    });
                    return Ok(resp.map(|inner| UpBody::pooled(inner, back)));
                }
                Err(mut e) => match e.take_message() {
                    // Not sent: the pooled connection closed before the request could
                    // start. Try again, as hyper-util's client does (not after a fresh
                    // connection: that would not do better).
                    Some(r) if reused => {
                        tracing::trace!(%target, "pooled connection closed; retrying");
                        req = r;
                    }
                    _ => return Err(ClientError::Http1(e.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection to `key.1` that is still open and ready.
    async fn checkout(&self, key: Key) -> Option<Idle> {
        loop {
            let mut i = IDLE
                .try_with(|m| m.borrow_mut().get_mut(&key).and_then(Vec::pop))
                .ok()
                .flatten()?;
            if i.tx.is_closed() {
                continue;
            }
            if let (Some(idle), Some(since)) = (self.idle, i.conn.idle_since()) {
                if since.elapsed() >= idle {
                    continue;
                }
            }
            if i.tx.is_ready() || i.tx.ready().await.is_ok() {
                return Some(i);
            }
        }
    }

    async fn connect(
        self: &Arc<Self>,
        key: Key,
    ) -> Result<(SendRequest<ReqBody>, Arc<ConnState>), ClientError> {
        let stream =
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(key.1)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(ClientError::Connect(e)),
                Err(_) => {
                    return Err(ClientError::Connect(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connect timed out",
                    )))
                }
            };
        stream.set_nodelay(true).map_err(ClientError::Connect)?;
        let stream = match &self.tls {
            Some(tls) => tls
                .connect(stream, self.connect_timeout)
                .await
                .map_err(ClientError::Tls)?,
            None => Stream::Plain(stream),
        };
        let (tx, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(ClientError::Http1)?;
        let state = Arc::new(ConnState {
            base: Instant::now(),
            idle_since: AtomicU64::new(0),
        });
        tokio::spawn(drive(
            conn,
            Arc::clone(&state),
            self.idle,
            self.gone.subscribe(),
            key,
        ));
        Ok((tx, state))
    }
}

/// Runs one connection until it ends, or closes it once idle for `idle` (or once idle
/// after its pool is gone (noticed at the next check: after `idle`, or [`ORPHAN_CHECK`]).
async fn drive(
    conn: http1::Connection<TokioIo<Stream>, ReqBody>,
    state: Arc<ConnState>,
    idle: Option<Duration>,
    gone: tokio::sync::watch::Receiver<()>,
    key: Key,
) {
    {
        let period = idle.unwrap_or(ORPHAN_CHECK);
        let mut conn = pin!(conn);
        let mut timer = pin!(tokio::time::sleep(period));
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = conn.as_mut().poll(cx) {
                if let Err(e) = r {
                    tracing::debug!(target_addr = %key.1, error = %e, "upstream connection failed");
                }
                return Poll::Ready(());
            }
            while timer.as_mut().poll(cx).is_ready() {
                let now = Instant::now();
                // Checked only when the timer fires: no waker registered per poll.
                let orphan = gone.has_changed().is_err();
                let next = match state.idle_since() {
                    Some(_) if orphan => return Poll::Ready(()),
                    Some(since) => match idle.map(|d| since + d) {
                        Some(e) if e <= now => return Poll::Ready(()),
                        Some(e) => e,
                        None => now + period,
                    },
                    None => now + period,
                };
                timer.as_mut().reset(next);
            }
            Poll::Pending
        })
        .await;
        // The connection (its socket) is dropped here.
    }
    // Forget this (and any other closed) connection.
    let _ = IDLE.try_with(|m| {
        let mut m = m.borrow_mut();
        if let Some(v) = m.get_mut(&key) {
            v.retain(|i| !i.tx.is_closed());
            if v.is_empty() {
                m.remove(&key);
            }
        }
    });
}

/// HTTP/2's connector: hyper-util's TCP connector, then TLS when the upstream has it.
#[derive(Clone)]
pub(crate) struct Connector {
    http: HttpConnector,
    tls: Option<Arc<ClientTls>>,
    timeout: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for Connector {
    type Response = H2Io;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<H2Io, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tcp = self.http.call(uri);
        let tls = self.tls.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let s = tcp.await?.into_inner();
            let s = match tls {
                Some(t) => t.connect(s, timeout).await?,
                None => Stream::Plain(s),
            };
            Ok(H2Io(TokioIo::new(s)))
        })
    }
}

/// An HTTP/2 upstream connection as hyper-util's pool holds it.
pub(crate) struct H2Io(TokioIo<Stream>);

impl hyper_util::client::legacy::connect::Connection for H2Io {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

impl hyper::rt::Read for H2Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for H2Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

fn origin_form(uri: Uri) -> Uri {
    match uri.path_and_query() {
        Some(p) if p.as_str() != "/" => {
            let mut parts = Parts::default();
            parts.path_and_query = Some(p.clone());
            Uri::from_parts(parts).unwrap_or_default()
        }
        _ => Uri::default(),
    }
}

/// A connection on its way back to the pool.
struct Back {
    // Keeps the pool alive until the connection is back in it.
    pool: Arc<Http1Pool>,
    key: Key,
    tx: SendRequest<ReqBody>,
    conn: Arc<ConnState>,
}

impl Back {
    fn check_in(self) {
        if self.tx.is_closed() {
            return;
        }
        self.conn.idle();
        let Back {
            pool,
            key,
            tx,
            conn,
        } = self;
        let _ = IDLE.try_with(|m| {
            let mut m = m.borrow_mut();
            let v = m.entry(key).or_default();
            if v.len() < MAX_IDLE_PER_ENDPOINT {
                v.push(Idle { tx, conn });
            }
        });
        drop(pool);
    }
}

/// An upstream response body; an HTTP/1.1 one gives its connection back to the pool when
/// it ends.
pub(crate) struct UpBody {
    inner: Incoming,
    back: Option<Back>,
}

impl UpBody {
    fn pooled(inner: Incoming, back: Option<Back>) -> UpBody {
        let mut b = UpBody { inner, back };
        if b.inner.is_end_stream() {
            if let Some(back) = b.back.take() {
                back.check_in();
            }
        }
        b
    }
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            None => {
                if let Some(b) = this.back.take() {
                    b.check_in();
                }
            }
            Some(Ok(_)) => {
                if this.inner.is_end_stream() {
                    if let Some(b) = this.back.take() {
                        b.check_in();
                    }
                }
            }
            // The connection is not reusable.
            Some(Err(_)) => this.back = None,
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_and_host() {
        let u: Uri = "http://10.0.0.7:8080/a?b=1".parse().unwrap();
        assert_eq!(
            host_value(u.scheme().unwrap(), u.authority().unwrap()).unwrap(),
            "10.0.0.7:8080"
        );
        assert_eq!(origin_form(u), "/a?b=1");
        let u: Uri = "http://10.0.0.7:80/".parse().unwrap();
        assert_eq!(
            host_value(u.scheme().unwrap(), u.authority().unwrap()).unwrap(),
            "10.0.0.7"
        );
        assert_eq!(origin_form(u), "/");
    }
}
