//! One task's endpoint: the metadata and credentials server at `169.254.170.2:80`
//! inside the task's namespace, and the optional API relay beside it.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, warn};

use crate::credentials::{credentials_document, CredentialsRefusal};
use crate::document::{container_document, task_document};
use crate::error::Error;
use crate::facts::{TaskCredentials, TaskFacts};
use crate::netns::bind_in_netns;
use crate::relay::pipe;
use crate::routes::{container_env, route, Route};
use crate::stats::{stats_document, StatsDocument, StatsSample};

/// The endpoint's address, as on ECS.
pub const METADATA_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);

/// The endpoint's port, as the SDKs ask it (`http://169.254.170.2/v2/credentials/…`).
pub const METADATA_PORT: u16 = 80;

/// The port the endpoint listens on in the task (the ECS agent's own port for it):
/// not 80, which the task's application may bind on all its addresses (a listener on
/// `169.254.170.2:80` would make the application's `0.0.0.0:80` fail). Connections to
/// port 80 reach it through the task's nat table ([`MetadataServer::nat_rules`]).
pub const METADATA_LISTEN_PORT: u16 = 51679;

/// The relay's default port, next to the endpoint's: a task's `AWS_ENDPOINT_URL` is
/// `http://169.254.170.2:51680`. Like the proxy's ports, an application of the task
/// must not bind it.
pub const DEFAULT_RELAY_PORT: u16 = 51680;

/// How long a connection may take to send a request's head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the endpoint's data comes from: the agent, which knows the task.
pub trait MetadataSource: Send + Sync + 'static {
    /// What is known of the task now (read on every request).
    fn task(&self) -> TaskFacts;

    /// A fresh sample of the container named `container`; `None` when there is none
    /// (not started, or gone). The server keeps the previous sample of each container
    /// for `precpu_stats` and the network rates.
    fn stats(&self, container: &str) -> impl Future<Output = Option<StatsSample>> + Send;

    /// The task role's current credentials; `None` while the agent has none (the
    /// request then gets 503, as on ECS before credentials arrive). Asked only for the
    /// task's own credentials id, and only when the task has a role.
    fn credentials(&self) -> impl Future<Output = Option<TaskCredentials>> + Send;
}

/// How one task's endpoint is set up.
#[derive(Clone, Debug)]
pub struct MetadataConfig {
    /// The region, given to containers as `AWS_REGION` and `AWS_DEFAULT_REGION`
    /// (empty: not given).
    pub region: String,
    /// berth's API, as the host reaches it (`127.0.0.1:4566`): with it, the relay runs.
    pub api: Option<SocketAddr>,
    /// The relay's port at [`METADATA_IP`] in the task.
    pub relay_port: u16,
    /// Container name → token, kept from an earlier run of the agent (containers
    /// still running were started with them); new containers get new ones.
    pub tokens: BTreeMap<String, String>,
    /// The task's credentials id, kept from an earlier run; `None`: a new one.
    pub credentials_id: Option<String>,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            region: String::new(),
            api: None,
            relay_port: DEFAULT_RELAY_PORT,
            tokens: BTreeMap::new(),
            credentials_id: None,
        }
    }
}

/// A running endpoint of one task. Dropping it stops serving (listeners and open
/// connections close shortly after, on the runtime); [`shutdown`](Self::shutdown)
/// does the same and waits until they are closed.
pub struct MetadataServer<S> {
    shared: Arc<Shared<S>>,
    stop: watch::Sender<()>,
    loops: Vec<JoinHandle<()>>,
    metadata_addr: SocketAddr,
    advertised: Option<SocketAddr>,
    relay_addr: Option<SocketAddr>,
}

/// What the request handlers share.
struct Shared<S> {
    source: Arc<S>,
    tokens: Mutex<BTreeMap<String, String>>,
    credentials_id: String,
    /// The last sample of each container, by name.
    last_stats: Mutex<HashMap<String, StatsSample>>,
    base_url: String,
    api_url: Option<String>,
    region: String,
}

impl<S: MetadataSource> MetadataServer<S> {
    /// Starts the endpoint of the task whose network namespace is at `netns_path`
    /// (`/run/netns/berth-<id>`, or `/proc/<pid>/ns/net`): puts [`METADATA_IP`] on the
    /// namespace's `lo`, binds `169.254.170.2:80` (and with `config.api` the relay's
    /// port) inside it, and serves them on the current tokio runtime. Needs root
    /// (`CAP_NET_ADMIN`, `CAP_SYS_ADMIN` for `setns`).
    pub async fn start(
        netns_path: &Path,
        config: MetadataConfig,
        source: Arc<S>,
    ) -> Result<MetadataServer<S>, Error> {
        let netns = netns_path.display().to_string();
        berth_tasknet::ensure_loopback_address(netns_path, METADATA_IP)
            .await
            .map_err(|e| Error::Address {
                netns: netns.clone(),
                source: Box::new(e),
            })?;
        let bind = |port: u16| {
            let addr = SocketAddr::from((METADATA_IP, port));
            bind_in_netns(netns_path, addr).map_err(|source| Error::Bind {
                addr,
                netns: netns.clone(),
                source,
            })
        };
        let metadata = bind(METADATA_LISTEN_PORT)?;
        let relay = match config.api {
            Some(_) => Some(bind(config.relay_port)?),
            None => None,
        };
        let advertised = SocketAddr::from((METADATA_IP, METADATA_PORT));
        MetadataServer::serve_as(metadata, relay, config, source, Some(advertised))
    }

    /// Serves listeners made elsewhere (e.g. by [`bind_in_netns`], or on loopback in a
    /// test): `metadata` answers the endpoint, `relay` (which needs `config.api`)
    /// relays to the API. Must be called inside a tokio runtime.
    pub fn serve(
        metadata: std::net::TcpListener,
        relay: Option<std::net::TcpListener>,
        config: MetadataConfig,
        source: Arc<S>,
    ) -> Result<MetadataServer<S>, Error> {
        MetadataServer::serve_as(metadata, relay, config, source, None)
    }

    /// [`serve`](Self::serve), telling containers the endpoint is at `advertised`
    /// (where the nat table sends to the listener) rather than at the listener.
    fn serve_as(
        metadata: std::net::TcpListener,
        relay: Option<std::net::TcpListener>,
        config: MetadataConfig,
        source: Arc<S>,
        advertised: Option<SocketAddr>,
    ) -> Result<MetadataServer<S>, Error> {
        let metadata = to_tokio(metadata, "the metadata listener")?;
        let metadata_addr = local_addr(&metadata, "the metadata listener")?;
        let relay = match (relay, config.api) {
            (Some(l), Some(api)) => Some((to_tokio(l, "the relay listener")?, api)),
            (Some(_), None) => return Err(Error::RelayWithoutApi),
            (None, _) => None,
        };
        let relay_addr = match &relay {
            Some((l, _)) => Some(local_addr(l, "the relay listener")?),
            None => None,
        };
        let shared = Arc::new(Shared {
            source,
            tokens: Mutex::new(config.tokens),
            credentials_id: config.credentials_id.unwrap_or_else(new_token),
            last_stats: Mutex::new(HashMap::new()),
            base_url: url(advertised.unwrap_or(metadata_addr)),
            api_url: relay_addr.map(url),
            region: config.region,
        });
        let (stop, stopped) = watch::channel(());
        let mut loops = vec![tokio::spawn(serve_metadata(
            metadata,
            Arc::clone(&shared),
            stopped.clone(),
        ))];
        if let Some((listener, api)) = relay {
            loops.push(tokio::spawn(serve_relay(listener, api, stopped)));
        }
        Ok(MetadataServer {
            shared,
            stop,
            loops,
            metadata_addr,
            advertised,
            relay_addr,
        })
    }
}

impl<S: MetadataSource> MetadataServer<S> {
    /// The environment variables the container named `container` must be started
    /// with (see [`container_env`]): its metadata URIs (giving it its token on first
    /// call), the credentials URI when the task has a role
    /// ([`TaskFacts::task_role_arn`]), `AWS_ENDPOINT_URL` when the relay runs, and the
    /// region.
    pub fn env(&self, container: &str) -> Vec<(String, String)> {
        let token = self.token(container);
        let s = &self.shared;
        let has_role = s.source.task().task_role_arn.is_some();
        container_env(
            &s.base_url,
            &token,
            has_role.then_some(s.credentials_id.as_str()),
            s.api_url.as_deref(),
            &s.region,
        )
    }
}

impl<S> MetadataServer<S> {
    /// The token of the container named `container` (made on first call).
    pub fn token(&self, container: &str) -> String {
        let mut tokens = lock(&self.shared.tokens);
        tokens
            .entry(container.to_string())
            .or_insert_with(new_token)
            .clone()
    }

    /// Every container's token, to keep across an agent restart
    /// ([`MetadataConfig::tokens`]).
    pub fn tokens(&self) -> BTreeMap<String, String> {
        lock(&self.shared.tokens).clone()
    }

    /// The task's credentials id (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is
    /// `/v2/credentials/<id>`), to keep across an agent restart.
    pub fn credentials_id(&self) -> &str {
        &self.shared.credentials_id
    }

    /// Where the endpoint listens (`169.254.170.2:51679` in the task).
    pub fn metadata_addr(&self) -> SocketAddr {
        self.metadata_addr
    }

    /// The task's `nat` table rules (`iptables-restore` lines of its `OUTPUT` chain)
    /// that send what the task's processes open to `169.254.170.2:80` to the listener:
    /// the agent, which writes that table whole, includes them in every version of it,
    /// for every task that has an endpoint. None when the listener is where containers
    /// are told it is ([`serve`](Self::serve)).
    pub fn nat_rules(&self) -> Vec<String> {
        match self.advertised {
            Some(to) if to != self.metadata_addr => {
                vec![dnat_rule(to, self.metadata_addr)]
            }
            _ => Vec::new(),
        }
    }

    /// Where the relay listens, if it runs.
    pub fn relay_addr(&self) -> Option<SocketAddr> {
        self.relay_addr
    }

    /// Stops serving and waits until the listeners and every open connection are
    /// closed.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(());
        for l in std::mem::take(&mut self.loops) {
            let _ = l.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A random token, formatted as a UUID (version 4), as ECS's are.
fn new_token() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The `OUTPUT` rule that sends TCP connections to `from` to `to` (the agent's form).
pub fn dnat_rule(from: SocketAddr, to: SocketAddr) -> String {
    format!(
        "-A OUTPUT -d {}/32 -p tcp -m tcp --dport {} -j DNAT --to-destination {to}",
        from.ip(),
        from.port()
    )
}

/// `http://ip` for port 80, else `http://ip:port`.
fn url(addr: SocketAddr) -> String {
    match addr.port() {
        80 => format!("http://{}", addr.ip()),
        _ => format!("http://{addr}"),
    }
}

fn to_tokio(l: std::net::TcpListener, what: &'static str) -> Result<TcpListener, Error> {
    l.set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(l))
        .map_err(|source| Error::Serve { what, source })
}

fn local_addr(l: &TcpListener, what: &'static str) -> Result<SocketAddr, Error> {
    l.local_addr()
        .map_err(|source| Error::Serve { what, source })
}

/// Accepts until stopped; every connection is served by `conn` and ends with the loop.
async fn accept_loop<F, Fut>(listener: TcpListener, mut stopped: watch::Receiver<()>, conn: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(conn(stream));
                }
                Err(e) => {
                    warn!(error = %e, "task metadata: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

async fn serve_metadata<S: MetadataSource>(
    listener: TcpListener,
    shared: Arc<Shared<S>>,
    stopped: watch::Receiver<()>,
) {
    accept_loop(listener, stopped, move |stream| {
        let shared = Arc::clone(&shared);
        async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(&shared, &req).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
            if let Err(e) = served {
                debug!(error = %e, "task metadata: connection ended");
            }
        }
    })
    .await;
}

async fn serve_relay(listener: TcpListener, api: SocketAddr, stopped: watch::Receiver<()>) {
    accept_loop(listener, stopped, move |stream| pipe(stream, api)).await;
}

/// An answer: a status and a JSON body.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
}

impl Reply {
    fn json<T: Serialize>(status: StatusCode, body: &T) -> Reply {
        match serde_json::to_vec(body) {
            Ok(body) => Reply { status, body },
            Err(e) => Reply::message(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    }

    /// ECS's error body on metadata paths: a JSON string.
    fn message(status: StatusCode, text: &str) -> Reply {
        Reply {
            status,
            body: serde_json::to_vec(text).unwrap_or_default(),
        }
    }
}

async fn handle<S: MetadataSource>(
    shared: &Shared<S>,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let reply = answer(shared, req.method(), req.uri().path()).await;
    debug!(method = %req.method(), path = req.uri().path(), status = reply.status.as_u16(), "task metadata");
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() = reply.status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if reply.status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(ALLOW, HeaderValue::from_static("GET"));
    }
    resp
}

/// The answer to `method path`: 404 for what is not here, 405 for anything but GET.
async fn answer<S: MetadataSource>(shared: &Shared<S>, method: &Method, path: &str) -> Reply {
    let route = route(path);
    if route == Route::NotFound {
        return Reply::message(StatusCode::NOT_FOUND, &format!("no such endpoint: {path}"));
    }
    if method != Method::GET {
        return Reply::message(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("method {method} not allowed: only GET"),
        );
    }
    match route {
        Route::Credentials { id } => answer_credentials(shared, id).await,
        _ => answer_metadata(shared, route).await,
    }
}

/// The name of the container whose token is `token`.
fn container_of<S>(shared: &Shared<S>, token: &str) -> Option<String> {
    let tokens = lock(&shared.tokens);
    tokens
        .iter()
        .find(|(_, t)| t.as_str() == token)
        .map(|(name, _)| name.clone())
}

async fn answer_metadata<S: MetadataSource>(shared: &Shared<S>, route: Route<'_>) -> Reply {
    let not_found = || {
        Reply::message(
            StatusCode::NOT_FOUND,
            "no container of this task has that endpoint id",
        )
    };
    let Some(name) = route.token().and_then(|t| container_of(shared, t)) else {
        return not_found();
    };
    let task = shared.source.task();
    let Some(container) = task.container(&name) else {
        return not_found();
    };
    match route {
        Route::Container { .. } => {
            Reply::json(StatusCode::OK, &container_document(&task, container))
        }
        Route::Task { tags, .. } => Reply::json(StatusCode::OK, &task_document(&task, tags)),
        Route::ContainerStats { .. } => match container_stats(shared, &task, &name).await {
            Some(doc) => Reply::json(StatusCode::OK, &doc),
            None => Reply::message(StatusCode::NOT_FOUND, "no stats for this container yet"),
        },
        Route::TaskStats { .. } => {
            let mut all = BTreeMap::new();
            for c in &task.containers {
                all.insert(
                    c.docker_id.clone(),
                    container_stats(shared, &task, &c.name).await,
                );
            }
            Reply::json(StatusCode::OK, &all)
        }
        Route::Credentials { .. } | Route::NotFound => not_found(),
    }
}

/// The stats document of the container `name`, from a fresh sample and the one before.
async fn container_stats<S: MetadataSource>(
    shared: &Shared<S>,
    task: &TaskFacts,
    name: &str,
) -> Option<StatsDocument> {
    let c = task.container(name)?;
    let now = shared.source.stats(name).await?;
    let before = lock(&shared.last_stats).insert(name.to_string(), now.clone());
    // Only an earlier sample is a previous one.
    let before = before.filter(|b| matches!((b.read, now.read), (Some(b), Some(n)) if b < n));
    Some(stats_document(
        &c.docker_id,
        &c.docker_name,
        &now,
        before.as_ref(),
    ))
}

async fn answer_credentials<S: MetadataSource>(shared: &Shared<S>, id: &str) -> Reply {
    let refuse = |r: CredentialsRefusal| {
        let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST);
        Reply::json(status, &r.body())
    };
    if id.is_empty() {
        return refuse(CredentialsRefusal::NoId);
    }
    if id != shared.credentials_id || shared.source.task().task_role_arn.is_none() {
        return refuse(CredentialsRefusal::InvalidId);
    }
    match shared.source.credentials().await {
        Some(c) => Reply::json(StatusCode::OK, &credentials_document(&c)),
        None => refuse(CredentialsRefusal::Uninitialized),
    }
}

#[cfg(test)]
mod tests;
