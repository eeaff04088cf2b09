//! `berth up`: berth on one machine in one process. The server (ECS and Cloud Map on
//! the embedded store) and one agent per cluster: as soon as a cluster exists (made by
//! an example, the aws CLI or an SDK) an agent joins it as its container instance, and
//! it leaves when the cluster is deleted. Agents share the task bridge; each keeps its
//! files in `<data dir>/agents/<account>/<region>/<cluster>/`.
//!
//! Stopping ([`Up::stop`]) stops every agent first (each stops its tasks and reports
//! them STOPPED while the server still answers), then the server, then removes the
//! bridge if `berth up` made it. The store keeps clusters, task definitions and
//! services, so the next start resumes them: the scheduler starts their tasks again.
//!
//! [`example`] loads and applies the examples under `examples/`; [`wait`] waits until
//! an example's services run.

pub mod example;
pub mod secrets;
pub mod wait;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_agent::client::Credentials;
use berth_agent::{AgentConfig, ServerClient};
use berth_credentials::{CredentialStore, JoinGrant, Principal};
use berth_runtime::Runtime;
use berth_server::{ApiTls, AuthMode};
use berth_server::{RunningServer, ServerConfig};
use berth_store::{Read, Store};
use berth_tasknet::Bridge;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

pub use example::Example;
pub use wait::{Waiting, PROGRESS_EVERY};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Server(#[from] berth_server::ServerError),
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error(transparent)]
    Agent(#[from] berth_agent::Error),
    #[error(transparent)]
    Network(#[from] berth_tasknet::Error),
    #[error(transparent)]
    Credentials(#[from] berth_credentials::CredentialError),
    /// An example that cannot be loaded, applied or started.
    #[error("example: {0}")]
    Example(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How `berth up` is set up.
#[derive(Clone, Debug)]
pub struct UpConfig {
    /// The server: where it listens, where the store is.
    pub server: ServerConfig,
    /// What every agent shares; `server`, `cluster`, `account`, `region` and `state_dir`
    /// are set per cluster.
    pub agent: AgentConfig,
}

/// A cluster: account, region, name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId {
    pub account: String,
    pub region: String,
    pub name: String,
}

impl ClusterId {
    /// The cluster a store key `ecs/<account>/<region>/cluster/<name>` is the record of.
    pub fn from_key(key: &str) -> Option<ClusterId> {
        let mut p = key.split('/');
        let (ecs, account, region, kind, name) =
            (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
        (ecs == "ecs" && kind == "cluster" && !name.is_empty() && p.next().is_none()).then(|| {
            ClusterId {
                account: account.into(),
                region: region.into(),
                name: name.into(),
            }
        })
    }
}

/// The state directory of a cluster's agent.
pub fn agent_dir(data_dir: &Path, c: &ClusterId) -> PathBuf {
    data_dir
        .join("agents")
        .join(&c.account)
        .join(&c.region)
        .join(&c.name)
}

struct AgentHandle {
    stop: watch::Sender<bool>,
    join: tokio::task::JoinHandle<()>,
}

/// berth running in this process.
pub struct Up {
    server: RunningServer,
    agents: Arc<Mutex<HashMap<ClusterId, AgentHandle>>>,
    watcher: tokio::task::JoinHandle<()>,
    stop_watcher: watch::Sender<bool>,
    failures: mpsc::UnboundedReceiver<String>,
    bridge: Bridge,
    made_bridge: bool,
    bridge_marker: PathBuf,
    api: String,
    /// The CA of the API's certificate, when it speaks TLS.
    server_ca: Option<Vec<u8>>,
    access: Access,
}

/// How this process reaches its own API: the URL, and the CA to trust when it is TLS.
fn api_of(server: &ServerConfig, to: SocketAddr) -> Result<(String, Option<Vec<u8>>)> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| Error::Example(format!("reading {}: {e}", p.display())))
    };
    Ok(match &server.api_tls {
        ApiTls::Off => (format!("http://{to}"), None),
        ApiTls::Generated { .. } => (
            format!("https://{to}"),
            Some(read(&berth_server::api_ca_path(&server.data_dir))?),
        ),
        ApiTls::Files { chain, .. } => (format!("https://{to}"), Some(read(chain)?)),
    })
}

/// How `berth up` itself calls its API (to apply examples): with the test credential
/// where the server accepts it (loopback), else with root keys it makes per account
/// and deletes when it stops.
struct Access {
    credentials: Arc<CredentialStore>,
    mode: AuthMode,
    made: Mutex<HashMap<String, Credentials>>,
}

impl Access {
    fn for_account(&self, account: &str) -> Result<Credentials> {
        if self.mode != AuthMode::Verified {
            return Ok(Credentials {
                access_key_id: account.to_string(),
                secret_access_key: berth_credentials::TEST_SECRET_ACCESS_KEY.to_string(),
            });
        }
        let mut made = self.made.lock().expect("keys");
        if let Some(c) = made.get(account) {
            return Ok(c.clone());
        }
        let key =
            self.credentials
                .create_key(account, Principal::Root, std::time::SystemTime::now())?;
        let c = Credentials {
            access_key_id: key.access_key_id,
            secret_access_key: key.secret_access_key,
        };
        made.insert(account.to_string(), c.clone());
        Ok(c)
    }

    fn forget(&self) {
        for (_, c) in self.made.lock().expect("keys").drain() {
            if let Err(e) = self.credentials.delete_key(&c.access_key_id) {
                warn!(error = %e, "deleting berth up's own key");
            }
        }
    }
}

impl Up {
    /// Starts the server, makes sure the task bridge exists (which needs root; a
    /// running `berth agent` may share it), and
    /// starts an agent for every cluster there is and will be.
    pub async fn start<R: Runtime + Clone>(config: UpConfig, runtime: R) -> Result<Up> {
        let server = berth_server::start(config.server.clone()).await?;
        let credentials = Arc::new(CredentialStore::open(&config.server.data_dir)?);
        // The bridge is this berth up's to remove when it made it, or when an earlier
        // run made it and did not get to remove it (the marker in the data directory).
        let marker = config
            .server
            .data_dir
            .join(format!("bridge-{}.made", config.agent.bridge.name));
        let made_bridge = marker.exists()
            || !Path::new("/sys/class/net")
                .join(&config.agent.bridge.name)
                .exists();
        let bridge = match Bridge::ensure(&config.agent.bridge).await {
            Ok(b) => b,
            Err(e) => {
                server.shutdown().await;
                return Err(e.into());
            }
        };
        if made_bridge {
            let _ = std::fs::write(&marker, b"");
        }
        let mut to = server.addr;
        if to.ip().is_unspecified() {
            to = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), to.port());
        }
        let (api, server_ca) = api_of(&config.server, to)?;
        let agents: Arc<Mutex<HashMap<ClusterId, AgentHandle>>> = Arc::default();
        let (fail_tx, failures) = mpsc::unbounded_channel();
        let (stop_watcher, stop_rx) = watch::channel(false);
        let spawner = Spawner {
            template: AgentConfig {
                server_ca: server_ca.clone(),
                ..config.agent.clone()
            },
            api: api.clone(),
            data_dir: std::path::absolute(&config.server.data_dir)
                .unwrap_or_else(|_| config.server.data_dir.clone()),
            runtime,
            failures: fail_tx,
            credentials: credentials.clone(),
        };
        let watcher = tokio::spawn(watch_clusters(
            server.store.clone(),
            agents.clone(),
            spawner,
            stop_rx,
        ));
        Ok(Up {
            server,
            agents,
            watcher,
            stop_watcher,
            failures,
            bridge,
            made_bridge,
            bridge_marker: marker,
            api,
            server_ca,
            access: Access {
                credentials,
                mode: config.server.auth,
                made: Mutex::default(),
            },
        })
    }

    /// Where the API listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Makes the network of `path` (a `berth server --network` file) in `account` and,
    /// for documents that name none, `region`.
    pub fn import_network(&self, path: &Path, account: &str, region: &str) -> Result<()> {
        let ctx = berth_awsproto::Context {
            account: account.to_string(),
            region: region.to_string(),
            caller: Default::default(),
        };
        berth_ec2::import_file(&self.server.store, path, Some(&ctx))
            .map_err(|e| Error::Example(e.to_string()))?;
        Ok(())
    }

    /// A client of the API for `account` in `region`.
    pub fn client(&self, account: &str, region: &str) -> Result<ServerClient> {
        let credentials = self.access.for_account(account)?;
        let endpoint = berth_agent::client::Endpoint::new(&self.api, self.server_ca.as_deref())?;
        Ok(ServerClient::at(endpoint, credentials, region))
    }

    /// The clusters an agent serves now.
    pub fn clusters(&self) -> Vec<ClusterId> {
        let mut v: Vec<ClusterId> = self
            .agents
            .lock()
            .expect("agents")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Resolves when an agent failed for good (the message says which and why).
    pub async fn failed(&mut self) -> String {
        self.failures
            .recv()
            .await
            .unwrap_or_else(|| "the cluster watcher ended".into())
    }

    /// Stops every agent (and so every task), then the server; removes the bridge if
    /// this `berth up` made it.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop_watcher.send(true);
        let _ = self.watcher.await;
        let handles: Vec<(ClusterId, AgentHandle)> =
            self.agents.lock().expect("agents").drain().collect();
        for (_, h) in &handles {
            let _ = h.stop.send(true);
        }
        for (c, h) in handles {
            if let Err(e) = h.join.await {
                warn!(cluster = %c.name, error = %e, "agent task ended badly");
            }
        }
        self.access.forget();
        self.server.shutdown().await;
        if self.made_bridge {
            self.bridge.remove().await?;
            let _ = std::fs::remove_file(&self.bridge_marker);
        }
        Ok(())
    }
}

/// Starts agents.
struct Spawner<R> {
    template: AgentConfig,
    api: String,
    data_dir: PathBuf,
    runtime: R,
    failures: mpsc::UnboundedSender<String>,
    credentials: Arc<CredentialStore>,
}

impl<R: Runtime + Clone> Spawner<R> {
    /// A short-lived join token for the agent of `c` (used only if it has not joined).
    fn token(&self, c: &ClusterId) -> Option<String> {
        let grant = JoinGrant {
            account: c.account.clone(),
            region: c.region.clone(),
            cluster: c.name.clone(),
        };
        let ttl = Duration::from_secs(600);
        self.credentials
            .create_token(&grant, ttl, std::time::SystemTime::now())
            .inspect_err(|e| warn!(cluster = %c.name, error = %e, "making a join token"))
            .ok()
    }

    fn spawn(&self, c: &ClusterId) -> AgentHandle {
        let config = AgentConfig {
            server: self.api.clone(),
            cluster: c.name.clone(),
            account: c.account.clone(),
            region: c.region.clone(),
            state_dir: agent_dir(&self.data_dir, c),
            token: self.token(c),
            ..self.template.clone()
        };
        let (stop, mut rx) = watch::channel(false);
        let runtime = self.runtime.clone();
        let failures = self.failures.clone();
        let name = c.name.clone();
        let join = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = berth_agent::run(config, runtime, shutdown).await {
                let _ = failures.send(format!("the agent of cluster {name} failed: {e}"));
            }
        });
        AgentHandle { stop, join }
    }
}

/// Whether a cluster record wants an agent (it is not deleted).
fn live(record: &[u8]) -> bool {
    serde_json::from_slice::<Value>(record).is_ok_and(|v| v["status"] != "INACTIVE")
}

/// Keeps one agent per live cluster, following the store's change log.
async fn watch_clusters<R: Runtime + Clone>(
    store: Arc<Store>,
    agents: Arc<Mutex<HashMap<ClusterId, AgentHandle>>>,
    spawner: Spawner<R>,
    mut stop: watch::Receiver<bool>,
) {
    let mut revs = store.subscribe();
    let mut seen: u64 = 0;
    let mut full = true;
    loop {
        let now = store.revision();
        let changed: Result<Vec<(ClusterId, bool)>> = if full {
            all_clusters(&store)
        } else {
            match store.changes_since(seen, usize::MAX) {
                Ok(Some(changes)) => store.read(|r| {
                    let mut out = Vec::new();
                    for ch in changes {
                        if let Some(c) = ClusterId::from_key(&ch.key) {
                            let wanted = r.get(&ch.key)?.is_some_and(|v| live(&v));
                            out.push((c, wanted));
                        }
                    }
                    Ok::<_, Error>(out)
                }),
                Ok(None) => all_clusters(&store),
                Err(e) => Err(e.into()),
            }
        };
        match changed {
            Ok(list) => {
                full = false;
                seen = now;
                let mut agents = agents.lock().expect("agents");
                for (c, wanted) in list {
                    match (wanted, agents.contains_key(&c)) {
                        (true, false) => {
                            info!(cluster = %c.name, region = %c.region, "starting an agent for the cluster");
                            agents.insert(c.clone(), spawner.spawn(&c));
                        }
                        (false, true) => {
                            info!(cluster = %c.name, "the cluster is gone; stopping its agent");
                            if let Some(h) = agents.remove(&c) {
                                let _ = h.stop.send(true);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => warn!(error = %e, "reading clusters; retrying"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = revs.changed() => if r.is_err() { return },
            // A failed read is retried.
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

/// Every cluster record in the store.
fn all_clusters(store: &Store) -> Result<Vec<(ClusterId, bool)>> {
    store.read(|r| {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = r.scan("ecs/", after.as_deref(), 1000)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (k, v) in &page {
                if let Some(c) = ClusterId::from_key(k) {
                    out.push((c, live(v)));
                }
            }
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_keys_are_recognised() {
        let c = ClusterId::from_key("ecs/123456789012/us-east-1/cluster/tutorial").unwrap();
        assert_eq!(
            (c.account.as_str(), c.region.as_str(), c.name.as_str()),
            ("123456789012", "us-east-1", "tutorial")
        );
        assert!(ClusterId::from_key("ecs/1/r/service/tutorial/nginx").is_none());
        assert!(ClusterId::from_key("ecs/1/r/cluster/").is_none());
        assert!(ClusterId::from_key("ecs/1/r/cluster/a/b").is_none());
        assert!(ClusterId::from_key("sd/1/r/cluster/a").is_none());
        assert_eq!(
            agent_dir(Path::new("/d"), &c),
            PathBuf::from("/d/agents/123456789012/us-east-1/tutorial")
        );
    }

    #[test]
    fn deleted_clusters_want_no_agent() {
        assert!(live(br#"{"status": "ACTIVE"}"#));
        assert!(live(br#"{"status": "PROVISIONING"}"#));
        assert!(!live(br#"{"status": "INACTIVE"}"#));
        assert!(!live(b"garbage"));
    }
}
