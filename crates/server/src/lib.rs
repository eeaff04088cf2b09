//! The berth control plane's HTTP server: one listener for every AWS service berth
//! serves (ECS, Cloud Map, EC2, STS), whichever protocol each speaks: AWS JSON 1.0/1.1
//! (`POST /` with `X-Amz-Target`), Smithy RPCv2-CBOR
//! (`POST /service/<service>/operation/<Op>`) and AWS query (`POST /` with a form whose
//! `Action` and `Version` name the operation and the service).
//!
//! Services are registered in a [`Registry`] by the routing keys they declare
//! ([`berth_awsproto::Service`]); the front (`front.rs`) reads the caller's account and
//! region from the SigV4 header, enforces the body limit and content types, runs the
//! operation on a blocking thread (the store is synchronous SQLite), and answers in the
//! caller's protocol. The server also runs the controllers that move resources along
//! after a write (a cluster's default namespace leaving PROVISIONING, the service
//! scheduler, task placement).
//!
//! Every surface is bounded ([`Limits`], see `conn.rs`): a request body must arrive
//! within [`Limits::body_deadline`] (408 in the request's protocol, and the connection
//! closed), a head within [`Limits::header_timeout`], a keep-alive connection with no
//! request in flight is closed after [`Limits::idle_timeout`] (an agent's watch stream
//! is a request in flight, never cut), and at most [`Limits::max_connections`] are
//! served at once, [`Limits::agent_reserve`] of them kept for agents' requests;
//! past the cap a connection is answered 503 with a JSON body. The 400s hyper raises for
//! a malformed head carry a JSON body naming the fault, like every other error.
//!
//! Agents: `GET /berth/agent/v1/watch?cluster=C&containerInstance=ARN` (SigV4-style
//! `Authorization` for the account and region) answers a never-ending NDJSON stream:
//! the instance's view (a `berth_agent_view::View`, from `berth_ecs::agent::instance_view`,
//! stamped with the store revision it was read at) at once and again whenever a
//! committed change alters it, and an empty line as a heartbeat every [`HEARTBEAT`].
//! While the stream is open the instance is `agentConnected`.
//!
//! `POST /berth/agent/v1/certificate` (same query) issues the certificate of one TLS
//! service of a task on that instance from a CSR the agent made
//! (`berth_ecs::tls::issue_task_certificate`), valid and renewed as
//! [`ServerConfig::tls`] says.
//!
//! `POST /berth/agent/v1/metrics` (same query) files what the agent's proxies did
//! (`berth_agent_view::MetricsPost`) as CloudWatch metrics in `AWS/ECS`, refusing
//! samples of any cluster but the agent's (`berth_cloudwatch::service_connect`). The
//! load balancers' data planes (`berth_loadbalancers`, when configured) file theirs in
//! `AWS/ApplicationELB` in the same store. The metric store is swept every
//! [`berth_cloudwatch::SWEEP_EVERY`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_acmpca::AcmPca;
use berth_agent_view::View;
use berth_agent_view::{
    CertificateRequest, MetricsPost, AGENT_CERTIFICATE_PATH, AGENT_METRICS_PATH,
    AGENT_TASK_CREDENTIALS_PATH,
};
use berth_awsproto::{ApiError, Context};
use berth_cloudmap::CloudMap;
use berth_cloudwatch::{CloudWatch, MetricStore, Retention};
use berth_credentials::CredentialStore;
use berth_ec2::Ec2;
pub use berth_ecs::tls::TlsSettings;
use berth_ecs::Ecs;
use berth_logs::Logs;
use berth_secretsmanager::SecretsManager;
use berth_ssm::Ssm;
use berth_store::Store;
use berth_sts::Sts;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

mod api_tls;
mod auth;
mod conn;
mod front;
mod join;
mod malformed;
mod registry;
mod task_credentials;

pub use api_tls::{ca_path as api_ca_path, ApiTls};
pub use auth::{AuthMode, CACHE_TTL};
pub use berth_agent_view::AGENT_JOIN_PATH;
pub use registry::{Registry, RegistryError};

/// The address the server listens on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4566";
/// The largest request body accepted, unless configured: a full PutLogEvents batch
/// (1 MiB of messages, plus its JSON) fits.
pub const DEFAULT_MAX_BODY: usize = 2 * 1024 * 1024;
/// How often an agent's push stream carries a heartbeat line when nothing changed.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// The path of the agents' push stream.
pub const AGENT_WATCH_PATH: &str = "/berth/agent/v1/watch";

pub(crate) type Body = BoxBody<Bytes, Infallible>;

fn full(resp: Response<Full<Bytes>>) -> Response<Body> {
    resp.map(|b| b.boxed())
}

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// Where the store keeps its file.
    pub data_dir: PathBuf,
    /// The largest request body, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Network files (VPCs, subnets and security groups with pre-existing ids, see
    /// `berth_ec2::NetworkImport`) imported at start, before the server listens.
    pub network_files: Vec<PathBuf>,
    /// How long Service Connect TLS certificates live and when they are renewed.
    pub tls: TlsSettings,
    /// Whose signatures are accepted (the test credential and no check at all only on
    /// loopback).
    pub auth: AuthMode,
    /// The time and connection bounds of the API.
    pub limits: Limits,
    /// Whether the API speaks TLS, and with which certificate (required beyond
    /// loopback).
    pub api_tls: ApiTls,
    /// How many days CloudWatch keeps 1-minute metric data (1-second data: 3 hours).
    pub metrics_retention_days: u32,
    /// How Application Load Balancers' data planes are started (`berth proxy`). None:
    /// none runs, and load balancers stay `provisioning`.
    pub load_balancers: Option<berth_loadbalancers::DataPlaneConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            data_dir: PathBuf::from("berth-data"),
            max_body_bytes: DEFAULT_MAX_BODY,
            network_files: Vec::new(),
            tls: TlsSettings::default(),
            auth: AuthMode::VerifiedWithTestKeys,
            limits: Limits::default(),
            api_tls: ApiTls::Off,
            metrics_retention_days: 15,
            load_balancers: None,
        }
    }
}

/// How long a connection may take and how many may be open: every surface of the API
/// bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a request's body may take to arrive, from when its head has: a body
    /// that stalls is answered 408 (`RequestTimeoutException`, `RequestTimeout` in
    /// query) and its connection closed.
    pub body_deadline: Duration,
    /// How long a request's head may take: a fresh connection's from accept, a later
    /// one's from its first byte. The connection is closed after it.
    pub header_timeout: Duration,
    /// How long a keep-alive connection with no request in flight may stay silent. A
    /// watch stream is a request in flight (and its heartbeats keep it busy).
    pub idle_timeout: Duration,
    /// The most connections served at once, agents' watch streams included. Past it a
    /// connection is answered 503 (`ServiceUnavailableException`) and closed. The
    /// server raises its soft limit of open files to fit, up to the hard limit, and
    /// lowers this (with a warning) when even that is short.
    pub max_connections: usize,
    /// Of those, how many only agents may take (their watch streams and certificate
    /// requests): a connection seated there gets 503 for anything else, so a flood of
    /// API connections cannot keep the agents out.
    pub agent_reserve: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_deadline: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            agent_reserve: 64,
        }
    }
}

/// File descriptors the server needs beside its connections (the store, blocking
/// threads, the listener, the answers to refused connections).
const FD_HEADROOM: usize = 128 + conn::REFUSALS;

/// `limits` within the process's limit of open files: the soft limit is raised (up to
/// the hard one) when the cap needs it, and the cap lowered when even that is short.
fn fit_open_files(limits: Limits) -> Limits {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let wanted = (limits.max_connections + FD_HEADROOM) as u64;
    let Ok((mut soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return limits;
    };
    if soft < wanted && setrlimit(Resource::RLIMIT_NOFILE, wanted.min(hard), hard).is_ok() {
        soft = wanted.min(hard);
    }
    if soft >= wanted {
        return limits;
    }
    let fit = usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(FD_HEADROOM)
        .max(2);
    warn!(
        asked = limits.max_connections,
        fit, "the limit of open files is too low for the connection cap: lowered"
    );
    Limits {
        max_connections: fit,
        agent_reserve: limits.agent_reserve.min(fit / 2),
        ..limits
    }
}

/// What a connection over the cap, or asking more than its seat allows, is answered.
pub(crate) fn overloaded() -> ApiError {
    ApiError::new(
        503,
        "ServiceUnavailableException",
        "the server is at its connection limit: retry later",
    )
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store did not open.
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    /// Two services claim the same routing key.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A network file could not be imported.
    #[error("importing a network file: {0}")]
    Network(#[from] berth_ec2::ImportError),
    /// The metric store did not open.
    #[error(transparent)]
    Metrics(#[from] berth_cloudwatch::MetricsError),
    /// The credential store did not open.
    #[error(transparent)]
    Credentials(#[from] berth_credentials::CredentialError),
    /// The logs database did not open.
    #[error(transparent)]
    Logs(#[from] berth_logs::LogsError),
    /// The configuration would leave the API open.
    #[error("{0}")]
    Refused(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A server running in the background of the current tokio runtime.
pub struct RunningServer {
    /// The address it listens on (the real port when 0 was asked).
    pub addr: SocketAddr,
    /// The store it serves.
    pub store: Arc<Store>,
    shutdown: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.accept.await;
    }
}

/// The API front and what the agents' stream needs.
struct Router {
    front: front::Front,
    ecs: Arc<Ecs>,
    store: Arc<Store>,
    metrics: Arc<MetricStore>,
    tls: TlsSettings,
    credentials: Arc<CredentialStore>,
    mode: AuthMode,
    limits: Limits,
    api_tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Opens the credential store and checks the way callers are accepted suits the
/// address: beyond loopback, only verified keys, and at least one user's.
fn open_credentials(config: &ServerConfig) -> Result<Arc<CredentialStore>, ServerError> {
    let credentials = Arc::new(CredentialStore::open(&config.data_dir)?);
    if !config.auth.allowed_on(&config.listen) {
        return Err(ServerError::Refused(format!(
            "{:?} is for loopback only: {} is not a loopback address (verified credentials are required beyond loopback)",
            config.auth, config.listen
        )));
    }
    if !config.listen.ip().is_loopback() && !credentials.has_root_keys()? {
        return Err(ServerError::Refused(format!(
            "listening on {} needs credentials to check callers against, and {} has none: \
             make one with `berth credentials create --account <12 digits> --data-dir {}`",
            config.listen,
            config.data_dir.display(),
            config.data_dir.display()
        )));
    }
    match config.auth {
        AuthMode::VerifiedWithTestKeys => info!(
            "accepting the well-known test credential (access key id `test` or a 12-digit \
             account id, secret `test`) because the API listens on loopback"
        ),
        AuthMode::Unchecked => warn!("signatures are NOT checked (loopback only)"),
        AuthMode::Verified => {}
    }
    Ok(credentials)
}

/// The API's TLS acceptor, if it speaks TLS (it must beyond loopback).
fn open_api_tls(config: &ServerConfig) -> Result<Option<tokio_rustls::TlsAcceptor>, ServerError> {
    if config.api_tls == ApiTls::Off && !config.listen.ip().is_loopback() {
        return Err(ServerError::Refused(format!(
            "listening on {} (beyond loopback) needs TLS: --api-tls auto (a certificate from \
             {}) or --api-tls-cert/--api-tls-key",
            config.listen,
            api_tls::ca_path(&config.data_dir).display()
        )));
    }
    let now = berth_awsproto::now() as i64;
    let tls = api_tls::server_config(&config.api_tls, &config.data_dir, config.listen, now)
        .map_err(ServerError::Refused)?;
    Ok(tls.map(tokio_rustls::TlsAcceptor::from))
}

/// The services berth serves, registered, and the handles the server keeps of some.
struct Services {
    registry: Registry,
    ecs: Arc<Ecs>,
    secrets: Arc<SecretsManager>,
    logs: Arc<Logs>,
    metrics: Arc<MetricStore>,
}

/// Opens every service on the store (and the files of their own) and registers it.
fn services(config: &ServerConfig, store: &Arc<Store>) -> Result<Services, ServerError> {
    let sealer = Arc::new(berth_credentials::Sealer::for_data_dir(&config.data_dir)?);
    let metrics = Arc::new(MetricStore::open(&config.data_dir)?);
    let logs = Arc::new(Logs::open(&config.data_dir)?);
    let ecs = Arc::new(Ecs::new(store.clone()));
    // No agent is connected to a server that just started.
    match berth_ecs::agent::disconnect_all(&ecs) {
        Ok(0) => {}
        Ok(n) => info!(
            instances = n,
            "marked container instances disconnected until their agents reconnect"
        ),
        Err(e) => warn!(error = %e, "marking container instances disconnected"),
    }
    let secrets = Arc::new(SecretsManager::new(store.clone(), sealer.clone()));
    let mut registry = Registry::default();
    registry.register(ecs.clone())?;
    registry.register(Arc::new(CloudMap::new(store.clone())))?;
    registry.register(Arc::new(Ec2::new(store.clone())))?;
    registry.register(Arc::new(berth_elbv2::Elbv2::new(store.clone())))?;
    registry.register(Arc::new(Sts))?;
    registry.register(Arc::new(AcmPca::new(store.clone())))?;
    registry.register(secrets.clone())?;
    registry.register(Arc::new(Ssm::new(store.clone(), sealer)))?;
    registry.register(logs.clone())?;
    registry.register(Arc::new(CloudWatch::new(metrics.clone())))?;
    Ok(Services {
        registry,
        ecs,
        secrets,
        logs,
        metrics,
    })
}

/// The services' housekeeping, each on its own period.
fn spawn_sweeps(
    secrets: Arc<SecretsManager>,
    logs: Arc<Logs>,
    metrics: Arc<MetricStore>,
    retention: Retention,
    shutdown: &watch::Receiver<bool>,
) {
    tokio::spawn(sweep_every(
        "deleted secrets",
        Duration::from_secs(60),
        move || secrets.sweep(berth_awsproto::now()).map(|n| n as u64),
        shutdown.clone(),
    ));
    tokio::spawn(sweep_every(
        "expired log events",
        berth_logs::SWEEP_INTERVAL,
        move || logs.sweep(berth_logs::now_ms()),
        shutdown.clone(),
    ));
    tokio::spawn(sweep_every(
        "old metric data",
        berth_cloudwatch::SWEEP_EVERY,
        move || {
            let plan = retention.plan(berth_awsproto::now() as i64);
            metrics.sweep(&plan).map(|s| (s.seconds + s.minutes) as u64)
        },
        shutdown.clone(),
    ));
}

/// Load balancers' data planes (when configured), ECS told of its targets' health,
/// their metrics filed in CloudWatch, and drained targets swept once a minute.
fn spawn_load_balancers(
    store: &Arc<Store>,
    data_plane: Option<berth_loadbalancers::DataPlaneConfig>,
    ecs: &Arc<Ecs>,
    metrics: &Arc<MetricStore>,
    shutdown: &watch::Receiver<bool>,
) {
    let swept = store.clone();
    tokio::spawn(sweep_every(
        "drained targets",
        Duration::from_secs(60),
        move || berth_elbv2::sweep(&swept, berth_awsproto::now()).map(|n| n as u64),
        shutdown.clone(),
    ));
    if let Some(config) = data_plane {
        let ecs = ecs.clone();
        let hook: berth_loadbalancers::HealthHook = Arc::new(move |w, ctx, tg, target, health| {
            ecs.target_health_in(w, ctx, tg, target, health)
        });
        let metrics = Some(metrics.clone());
        berth_loadbalancers::spawn(store.clone(), config, Some(hook), metrics, shutdown.clone());
    }
}

/// Opens the store, binds the listener and starts serving and reconciling.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let credentials = open_credentials(&config)?;
    let api_tls = open_api_tls(&config)?;
    let store = Arc::new(Store::open(&config.data_dir)?);
    for path in &config.network_files {
        let docs = berth_ec2::import_file(&store, path, None)?;
        info!(file = %path.display(), documents = docs, "network imported");
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let Services {
        registry,
        ecs,
        secrets,
        logs,
        metrics,
    } = services(&config, &store)?;
    let limits = fit_open_files(config.limits);
    let router = Arc::new(Router {
        front: front::Front::new(
            registry,
            config.max_body_bytes,
            auth::Authenticator::new(credentials.clone(), config.auth),
            config.auth,
        )
        .with_body_deadline(limits.body_deadline),
        ecs: ecs.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        tls: config.tls,
        credentials,
        mode: config.auth,
        limits,
        api_tls,
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    spawn_load_balancers(&store, config.load_balancers, &ecs, &metrics, &shutdown_rx);
    tokio::spawn(run_controllers(ecs, store.clone(), shutdown_rx.clone()));
    let retention = Retention::days(config.metrics_retention_days);
    spawn_sweeps(secrets, logs, metrics, retention, &shutdown_rx);
    let accept = tokio::spawn(accept_loop(listener, router, shutdown_rx));
    info!(%addr, data = %store.path().display(), "berth control plane listening");
    Ok(RunningServer {
        addr,
        store,
        shutdown,
        accept,
    })
}

async fn accept_loop(
    listener: TcpListener,
    router: Arc<Router>,
    mut shutdown: watch::Receiver<bool>,
) {
    let admission = conn::Admission::new(&router.limits);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        match admission.admit() {
            conn::Admitted::Served(seat, permit) => {
                tokio::spawn(serve_tls_or_not(stream, peer, router.clone(), seat, permit));
            }
            conn::Admitted::Refused(permit) => {
                debug!(%peer, "over the connection cap: 503");
                tokio::spawn(conn::refuse(stream, permit));
            }
            conn::Admitted::Dropped => debug!(%peer, "over the connection cap: closed"),
        }
    }
}

/// Serves a connection, over TLS when the API speaks it (the handshake within the
/// header timeout).
async fn serve_tls_or_not(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Arc<Router>,
    seat: conn::Seat,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let Some(acceptor) = router.api_tls.clone() else {
        return conn::serve(stream, peer, router, seat, permit).await;
    };
    let handshake = tokio::time::timeout(router.limits.header_timeout, acceptor.accept(stream));
    match handshake.await {
        Ok(Ok(tls)) => conn::serve(tls, peer, router, seat, permit).await,
        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => debug!(%peer, "TLS handshake timed out"),
    }
}

/// Re-runs the ECS controllers after every committed change, and once a second.
async fn run_controllers(ecs: Arc<Ecs>, store: Arc<Store>, mut shutdown: watch::Receiver<bool>) {
    let mut revisions = store.subscribe();
    loop {
        let ecs2 = ecs.clone();
        match tokio::task::spawn_blocking(move || ecs2.reconcile()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "reconcile failed"),
            Err(e) => warn!(error = %e, "reconcile panicked"),
        }
        tokio::select! {
            _ = revisions.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Runs `sweep` (on a blocking thread) at start and every `every` until shutdown: the
/// services' housekeeping (deleted secrets whose window ended, expired log events, old
/// datapoints). What it did is logged at debug level, a failure as a warning.
async fn sweep_every<F, E>(
    what: &'static str,
    every: Duration,
    sweep: F,
    mut shutdown: watch::Receiver<bool>,
) where
    F: Fn() -> Result<u64, E> + Send + Sync + Clone + 'static,
    E: std::fmt::Display + Send + 'static,
{
    loop {
        let f = sweep.clone();
        match tokio::task::spawn_blocking(f).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => debug!(what, n, "swept"),
            Ok(Err(e)) => warn!(what, error = %e, "sweeping failed"),
            Err(e) => warn!(what, error = %e, "sweeping panicked"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn handle(router: &Arc<Router>, req: Request<Incoming>, seat: conn::Seat) -> Response<Body> {
    if req.method() == Method::GET && req.uri().path() == AGENT_WATCH_PATH {
        return agent_watch(router.clone(), req).await;
    }
    if req.method() == Method::POST && req.uri().path() == AGENT_CERTIFICATE_PATH {
        return full(agent_certificate(router.clone(), req).await);
    }
    if req.method() == Method::POST && req.uri().path() == AGENT_TASK_CREDENTIALS_PATH {
        return full(task_credentials::serve(router.clone(), req).await);
    }
    if req.method() == Method::POST && req.uri().path() == AGENT_METRICS_PATH {
        return full(agent_metrics(router.clone(), req).await);
    }
    if req.method() == Method::POST && req.uri().path() == AGENT_JOIN_PATH {
        return full(agent_join(router, req).await);
    }
    if seat == conn::Seat::AgentsOnly {
        let request_id = berth_awsproto::uuid_v4();
        let mut resp = front::json_error(&overloaded(), &request_id);
        resp.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        return full(resp);
    }
    full(router.front.handle(req).await)
}

/// The agent, cluster and container instance id of a request to the agents'
/// endpoints (its body read): a signed request of the agent that registered the
/// instance.
async fn agent_of(
    router: &Router,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<(Context, String, String), ApiError> {
    let ctx = join::agent_caller(&router.front, router.mode, parts, body)?;
    let query = parts.uri.query().unwrap_or("");
    let cluster = query_param(query, "cluster").unwrap_or_else(|| "default".into());
    let cluster = cluster.rsplit('/').next().unwrap_or_default().to_string();
    let instance = query_param(query, "containerInstance").ok_or_else(|| {
        ApiError::new(
            400,
            "InvalidParameterException",
            "containerInstance is required.",
        )
    })?;
    let instance = instance.rsplit('/').next().unwrap_or_default().to_string();
    let (ecs, c2, c, i) = (
        router.ecs.clone(),
        ctx.clone(),
        cluster.clone(),
        instance.clone(),
    );
    tokio::task::spawn_blocking(move || {
        ecs.store()
            .read(|r| berth_ecs::confine::check_instance(r, &c2, &c, &i))
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(format!("checking the agent: {e}"))))
    .inspect_err(|e| warn!(error = %e, "an agent was refused"))?;
    Ok((ctx, cluster, instance))
}

/// A host joins with a token and gets its own access key.
async fn agent_join(router: &Arc<Router>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = berth_awsproto::uuid_v4();
    let (parts, _) = req.into_parts();
    let store = router.credentials.clone();
    let answer = tokio::task::spawn_blocking(move || {
        join::join(&store, &parts, std::time::SystemTime::now())
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(format!("joining: {e}"))));
    match answer {
        Ok(a) => json_response(serde_json::to_vec(&a).expect("a join answer serializes")),
        Err(e) => front::json_error(&e, &request_id),
    }
}

fn json_response(body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A request to one of the agents' endpoints: its body (at most `limit` bytes, read
/// within the body deadline) from the agent that registered the instance it names, as
/// `T`; the agent's context, cluster and instance id with it.
struct AgentRequest<T> {
    ctx: Context,
    cluster: String,
    instance: String,
    body: T,
}

async fn agent_request<T: serde::de::DeserializeOwned>(
    router: &Router,
    req: Request<Incoming>,
    limit: usize,
) -> Result<AgentRequest<T>, ApiError> {
    let bad = |e: String| ApiError::new(400, "InvalidParameterException", format!("body: {e}"));
    let (parts, body) = req.into_parts();
    let reading = http_body_util::Limited::new(body, limit).collect();
    let body = match tokio::time::timeout(router.limits.body_deadline, reading).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => return Err(bad(e.to_string())),
        Err(_) => return Err(front::body_timeout(router.limits.body_deadline)),
    };
    let (ctx, cluster, instance) = agent_of(router, &parts, &body).await?;
    let body = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
    Ok(AgentRequest {
        ctx,
        cluster,
        instance,
        body,
    })
}

/// The largest body of an agent's certificate or credentials request.
const MAX_AGENT_BODY: usize = 64 * 1024;

/// An agent asks for a certificate for one of its tasks' TLS services.
async fn agent_certificate(router: Arc<Router>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = berth_awsproto::uuid_v4();
    let fail = |e: ApiError| front::json_error(&e, &request_id);
    let AgentRequest {
        ctx,
        cluster,
        instance,
        body: asked,
    } = match agent_request::<CertificateRequest>(&router, req, MAX_AGENT_BODY).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let (ecs, settings) = (router.ecs.clone(), router.tls);
    let issued = tokio::task::spawn_blocking(move || {
        let now = berth_awsproto::now();
        berth_ecs::tls::issue_task_certificate(
            &ecs, &ctx, &cluster, &instance, &asked, now, settings,
        )
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(format!("issuing: {e}"))));
    match issued {
        Ok(c) => json_response(serde_json::to_vec(&c).expect("a certificate serializes")),
        Err(e) => fail(e),
    }
}

/// The largest metrics report an agent may post.
const MAX_METRICS_BODY: usize = 4 * 1024 * 1024;

/// An agent reports what its tasks' proxies did: filed as CloudWatch metrics of its
/// account and region, all or nothing, only for its own cluster.
async fn agent_metrics(router: Arc<Router>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = berth_awsproto::uuid_v4();
    let fail = |e: ApiError| front::json_error(&e, &request_id);
    let AgentRequest {
        ctx,
        cluster,
        body: post,
        ..
    } = match agent_request::<MetricsPost>(&router, req, MAX_METRICS_BODY).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let metrics = router.metrics.clone();
    let filed = tokio::task::spawn_blocking(move || {
        let now = berth_awsproto::now();
        berth_cloudwatch::service_connect::ingest(&metrics, &ctx, &cluster, &post, now)
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(format!("filing metrics: {e}"))));
    match filed {
        Ok(n) => {
            json_response(serde_json::to_vec(&serde_json::json!({"datapoints": n})).expect("JSON"))
        }
        Err(e) => {
            warn!(error = %e, "an agent's metrics were refused");
            fail(e)
        }
    }
}

/// The query parameter `name` of a URI query string (no percent-decoding beyond `%2F`
/// and `%3A`, which is all ARNs need).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            v.replace("%2F", "/")
                .replace("%2f", "/")
                .replace("%3A", ":")
                .replace("%3a", ":")
        })
    })
}

/// The agent at the other end of a push stream: dropped when the stream ends, it marks
/// the instance disconnected.
struct Disconnect {
    ecs: Arc<Ecs>,
    ctx: Context,
    cluster: String,
    instance: String,
}

impl Drop for Disconnect {
    fn drop(&mut self) {
        let ecs = self.ecs.clone();
        let ctx = self.ctx.clone();
        let (cluster, instance) = (self.cluster.clone(), self.instance.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(e) =
                berth_ecs::agent::set_agent_connected(&ecs, &ctx, &cluster, &instance, false)
            {
                warn!(error = %e, "marking an agent disconnected");
            }
        });
        info!(cluster = %self.cluster, instance = %self.instance, "agent disconnected");
    }
}

/// Reads an instance's view on a blocking thread.
async fn read_view(
    ecs: &Arc<Ecs>,
    ctx: &Context,
    cluster: &str,
    instance: &str,
) -> Result<View, ApiError> {
    let (ecs, ctx, c, i) = (
        ecs.clone(),
        ctx.clone(),
        cluster.to_string(),
        instance.to_string(),
    );
    tokio::task::spawn_blocking(move || berth_ecs::agent::instance_view(&ecs, &ctx, &c, &i))
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("view failed: {e}"))))
}

/// One NDJSON line of the push stream: the view, stamped with the revision it was
/// read at or after.
fn view_line(view: &View, revision: u64) -> Bytes {
    let stamped = View {
        revision: Some(revision),
        ..view.clone()
    };
    // Strings, numbers, enums and JSON values under string keys: nothing that can fail.
    let mut line = serde_json::to_vec(&stamped).expect("a view serializes");
    line.push(b'\n');
    Bytes::from(line)
}

/// Marks an instance's agent connected, on a blocking thread.
async fn mark_connected(
    ecs: &Arc<Ecs>,
    ctx: &Context,
    cluster: &str,
    instance: &str,
) -> Result<(), ApiError> {
    let (ecs, ctx, c, i) = (
        ecs.clone(),
        ctx.clone(),
        cluster.to_string(),
        instance.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        berth_ecs::agent::set_agent_connected(&ecs, &ctx, &c, &i, true)
    })
    .await
    .unwrap_or_else(|e| {
        Err(ApiError::internal(format!(
            "marking the agent connected: {e}"
        )))
    })
}

/// Sends an agent its views: `first` (read at `revision`) at once, then each one a
/// commit changes, and an empty line every [`HEARTBEAT`], until the agent goes (and
/// `agent`, dropped, marks it disconnected).
async fn push_views(
    agent: Disconnect,
    mut revisions: watch::Receiver<u64>,
    first: View,
    revision: u64,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) {
    if tx.send(view_line(&first, revision)).await.is_err() {
        return;
    }
    let mut last = first;
    loop {
        tokio::select! {
            r = revisions.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(HEARTBEAT) => {
                if tx.send(Bytes::from_static(b"\n")).await.is_err() {
                    return;
                }
                continue;
            }
            _ = tx.closed() => return,
        }
        let revision = *revisions.borrow_and_update();
        match read_view(&agent.ecs, &agent.ctx, &agent.cluster, &agent.instance).await {
            Ok(v) => {
                if v != last {
                    if tx.send(view_line(&v, revision)).await.is_err() {
                        return;
                    }
                    last = v;
                }
            }
            Err(e) => warn!(error = %e, "agent view failed"),
        }
    }
}

async fn agent_watch(router: Arc<Router>, req: Request<Incoming>) -> Response<Body> {
    let request_id = berth_awsproto::uuid_v4();
    let fail = |e: ApiError| full(front::json_error(&e, &request_id));
    let (parts, _) = req.into_parts();
    let (ctx, cluster, instance) = match agent_of(&router, &parts, b"").await {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    // Subscribed before the first view is read, so no change after it is missed.
    let mut revisions = router.store.subscribe();
    let revision = *revisions.borrow_and_update();
    let first = match read_view(&router.ecs, &ctx, &cluster, &instance).await {
        Ok(v) if v.instance.is_none() => {
            return fail(ApiError::new(
                400,
                "InvalidParameterException",
                format!("containerInstance '{instance}' is not registered in cluster '{cluster}'."),
            ));
        }
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    if let Err(e) = mark_connected(&router.ecs, &ctx, &cluster, &instance).await {
        return fail(e);
    }
    info!(%cluster, %instance, "agent connected");
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let guard = Disconnect {
        ecs: router.ecs.clone(),
        ctx: ctx.clone(),
        cluster: cluster.clone(),
        instance: instance.clone(),
    };
    tokio::spawn(push_views(guard, revisions, first, revision, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(hyper::body::Frame::data(b)), rx))
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed());
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}
