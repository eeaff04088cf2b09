//! One downstream HTTP connection (plain, or TLS the listener terminated): the fast path
//! first for an `http` listener, then
//! hyper's server (HTTP/1.1, or HTTP/2 with prior knowledge) over a socket wrapper that
//! counts bytes and watches for slow clients, driven with the connection's timers (see
//! [`conn_ctx`](crate::conn_ctx)) and its **close** signal (listener removed, or ingress
//! draining: graceful shutdown, in-flight requests finish).
//!
//! The timers are one `Sleep` per connection, re-armed from the atomics of its
//! [`ConnCtx`].

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use berth_proxy_config::Protocol;
use berth_telemetry::ListenerMetrics;
use bytes::BytesMut;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::conn_ctx::{Check, ConnCtx, ConnTimers, InFlight};
use crate::drain::DrainConn;
use crate::fast::Served;
use crate::serving::ListenerShared;
use crate::tls::{Accepted, Stream};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

const RESPONSE_408: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nserver: berth\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// The downstream socket as hyper sees it: counts `ProcessedBytes`, notices request heads
/// starting and HTTP/2 prefaces, and can hand the socket back when the connection is
/// dropped (to answer 408 on it).
pub(crate) struct DownstreamIo {
    stream: Option<Stream>,
    ctx: Arc<ConnCtx>,
    metrics: ListenerMetrics,
    /// The first bytes received, until it is known whether they are an HTTP/2 preface.
    sniffed: usize,
    /// Bytes the fast path read before handing the connection over, read first.
    pre: BytesMut,
}

impl DownstreamIo {
    fn on_read(&mut self, data: &[u8]) {
        self.metrics.processed_bytes(data.len() as u64);
        if self.sniffed < H2_PREFACE.len() {
            let want = &H2_PREFACE[self.sniffed..];
            let n = want.len().min(data.len());
            if data[..n] == want[..n] {
                self.sniffed += n;
                if self.sniffed == H2_PREFACE.len() {
                    self.ctx.http2();
                }
            } else {
                self.sniffed = usize::MAX;
            }
        }
        self.ctx.bytes_read();
    }
}

impl AsyncRead for DownstreamIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.pre.is_empty() {
            let n = this.pre.len().min(buf.remaining());
            let pre = this.pre.split_to(n);
            buf.put_slice(&pre);
            this.on_read(&pre);
            return Poll::Ready(Ok(()));
        }
        let Some(s) = this.stream.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let before = buf.filled().len();
        ready!(Pin::new(s).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.on_read(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for DownstreamIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let Some(s) = this.stream.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let n = ready!(Pin::new(s).poll_write(cx, buf))?;
        this.metrics.processed_bytes(n as u64);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let Some(s) = this.stream.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let n = ready!(Pin::new(s).poll_write_vectored(cx, bufs))?;
        this.metrics.processed_bytes(n as u64);
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream.as_mut() {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream.as_mut() {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl Drop for DownstreamIo {
    fn drop(&mut self) {
        if let Some(s) = self.stream.take() {
            self.ctx.dropped(s);
        }
    }
}

pin_project_lite::pin_project! {
    /// `fut`'s output as an `Ok`: the service's future (a plain future rather than an
    /// `async` block, which would hold the request's large future twice).
    struct Infallibly<F> {
        #[pin]
        fut: F,
    }
}

impl<F: std::future::Future> std::future::Future for Infallibly<F> {
    type Output = Result<F::Output, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().fut.poll(cx).map(Ok)
    }
}

/// Serves one downstream HTTP connection until it ends: plain ones of an `http` listener
/// on the fast path first, TLS ones (and the rest) on hyper's.
pub(crate) async fn serve_http(
    Accepted {
        stream,
        peer,
        identity,
    }: Accepted,
    listener: Arc<ListenerShared>,
    timers: ConnTimers,
    metrics: ListenerMetrics,
    mut close: watch::Receiver<bool>,
    drain: Option<DrainConn>,
) {
    // A load balancer's security groups: a client they do not admit is not answered.
    if (listener.slot.load().alb()).is_some_and(|l| !l.admits(peer.ip())) {
        tracing::debug!(%peer, "not admitted by the load balancer's security groups");
        return;
    }
    let _active = metrics.connection();
    let _lb_active = listener
        .slot
        .load()
        .alb()
        .map(|l| l.lb.metrics.connection());
    let ctx = Arc::new(ConnCtx::new(
        peer,
        listener.local,
        identity,
        timers.header.is_some(),
        drain.as_ref().map(|_| Arc::clone(&listener.serving.drain)),
    ));
    // HTTP/1.1 upstreams: the fast path first; hyper for what it does not take.
    let (stream, pre) = if listener.slot.load().protocol() == Protocol::Http {
        match fast_path(stream, &ctx, &listener, timers, &metrics, &mut close).await {
            Some(s) => s,
            None => return,
        }
    } else {
        (stream, BytesMut::new())
    };
    let io = DownstreamIo {
        stream: Some(stream),
        ctx: Arc::clone(&ctx),
        metrics,
        sniffed: 0,
        pre,
    };
    if serve_hyper(io, peer, &ctx, listener, timers, close).await {
        if let Some(s) = ctx.reclaimed() {
            tracing::debug!(%peer, "request head timeout: 408");
            answer_and_close(s, RESPONSE_408).await;
        }
    }
    drop(drain);
}

/// The fast path, then what hyper is to serve: the socket and the bytes read so far;
/// `None` when the connection is over.
async fn fast_path(
    stream: Stream,
    ctx: &Arc<ConnCtx>,
    listener: &Arc<ListenerShared>,
    timers: ConnTimers,
    metrics: &ListenerMetrics,
    close: &mut watch::Receiver<bool>,
) -> Option<(Stream, BytesMut)> {
    let served =
        crate::fast::serve(stream, Arc::clone(ctx), listener, timers, metrics, close).await;
    match served {
        Served::Done => None,
        Served::HeadTimeout(s) => {
            tracing::debug!(peer = ?ctx.peer_ip, "request head timeout: 408");
            answer_and_close(s, RESPONSE_408).await;
            None
        }
        Served::Fallback(s, pre) => {
            ctx.handoff();
            Some((s, pre))
        }
    }
}

/// Serves the rest of a connection with hyper, closing it gracefully when asked to or
/// when it idles. True when a request head took too long (the socket is reclaimed from
/// hyper for a 408).
async fn serve_hyper(
    io: DownstreamIo,
    peer: SocketAddr,
    ctx: &Arc<ConnCtx>,
    listener: Arc<ListenerShared>,
    timers: ConnTimers,
    mut close: watch::Receiver<bool>,
) -> bool {
    let serving = Arc::clone(&listener.serving);
    let svc = {
        let ctx = Arc::clone(ctx);
        hyper::service::service_fn(move |req| {
            let route = listener.slot.load_full();
            let in_flight = InFlight::new(&ctx);
            Infallibly {
                fut: crate::route::handle(req, route, in_flight),
            }
        })
    };
    let recheck = [timers.header, timers.idle]
        .into_iter()
        .flatten()
        .min()
        .map(|d| (d / 2).max(Duration::from_millis(20)));
    let conn = serving.http.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let far = Duration::from_secs(86_400);
    let sleep = tokio::time::sleep(recheck.unwrap_or(far));
    tokio::pin!(sleep);
    let mut shutting = false;
    if *close.borrow_and_update() {
        conn.as_mut().graceful_shutdown();
        shutting = true;
    }
    loop {
        tokio::select! {
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "downstream connection ended with an error");
                }
                return false;
            }
            _ = close.changed(), if !shutting => {
                conn.as_mut().graceful_shutdown();
                shutting = true;
            }
            _ = &mut sleep, if recheck.is_some() => {
                match ctx.check(&timers, recheck.unwrap_or(far)) {
                    Check::HeaderTimeout => {
                        ctx.reclaim();
                        return true;
                    }
                    Check::Idle => {
                        if !shutting {
                            tracing::debug!(%peer, "closing an idle connection");
                            conn.as_mut().graceful_shutdown();
                            shutting = true;
                        }
                        sleep.as_mut().reset(Instant::now() + far);
                    }
                    Check::At(at) => sleep.as_mut().reset(at),
                }
            }
        }
    }
}

/// Writes a last response, closes the sending side, and reads what the client still sends
/// for a moment, so that the close does not turn into a reset that loses the response.
async fn answer_and_close(mut s: Stream, response: &[u8]) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        s.write_all(response).await?;
        s.shutdown().await?;
        let mut buf = [0u8; 1024];
        while s.read(&mut buf).await? != 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}
