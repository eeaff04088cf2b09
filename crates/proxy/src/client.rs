//! Upstream HTTP clients: hyper-util's pooled client, one per upstream (or ingress
//! application) and worker for HTTP/1.1, keyed by endpoint inside. Each worker uses its
//! own, so that the pooled connections (tasks spawned on the runtime of the request that
//! opened them) are driven on the same thread as the requests that use them.

use std::sync::Arc;
use std::time::Duration;

use berth_proxy_config::Protocol;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::ReqBody;

/// The pooled client of one upstream.
pub(crate) type HttpClient = Client<HttpConnector, ReqBody>;

/// One pooled client per worker.
#[derive(Clone)]
pub(crate) struct Clients(Arc<[HttpClient]>);

impl Clients {
    /// The client of the worker running this thread.
    pub(crate) fn get(&self) -> &HttpClient {
        &self.0[crate::worker::current() % self.0.len()]
    }
}

/// What makes two clients interchangeable (so a new snapshot keeps the pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientKey {
    pub http2: bool,
    pub idle: Option<Duration>,
    pub connect_timeout: Duration,
}

impl ClientKey {
    pub(crate) fn new(protocol: Protocol, idle: Option<Duration>, connect: Duration) -> ClientKey {
        ClientKey {
            http2: matches!(protocol, Protocol::Http2 | Protocol::Grpc),
            idle,
            connect_timeout: connect,
        }
    }

    /// HTTP/1.1 with keep-alive connections pooled per endpoint, idle ones closed after
    /// `idle`; or HTTP/2 with prior knowledge, one multiplexed connection per endpoint.
    /// `TCP_NODELAY` on every connection.
    ///
    /// HTTP/1.1: one client (pool) per worker. HTTP/2: one client shared by the workers,
    /// so that each endpoint still gets one multiplexed connection (its task runs on the
    /// worker that opened it; requests from the others cross threads).
    pub(crate) fn build(&self, workers: usize) -> Clients {
        let n = if self.http2 { 1 } else { workers.max(1) };
        Clients((0..n).map(|_| self.build_one()).collect())
    }

    fn build_one(&self) -> HttpClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.enforce_http(true);
        connector.set_connect_timeout(Some(self.connect_timeout));
        let mut b = Client::builder(TokioExecutor::new());
        b.pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(self.idle)
            .pool_max_idle_per_host(1024);
        if self.http2 {
            b.http2_only(true);
        }
        b.build(connector)
    }
}
