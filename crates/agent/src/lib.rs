//! `berth agent`: one per host, an ECS container instance. It joins a berth server
//! (`RegisterContainerInstance`, its ARN kept in the state directory so a restart
//! rejoins as the same instance), holds the server's push stream open (assignments
//! and endpoint changes arrive pushed, never polled), runs every task placed on it with
//! a [`Runtime`] (processes in Linux namespaces, or Docker), a berth proxy beside each
//! task of a Service Connect service, and reports each task's and container's state
//! transitions with `SubmitTaskStateChange`, as the ECS agent does.
//!
//! * [`client`]: the server's API and push stream; a proxy's admin socket.
//! * [`view`]: the proxy snapshot of a task, from its part of the pushed view (the
//!   view's types are `berth_agent_view`'s, the contract with the server).
//! * [`task`]: one task's life, PROVISIONING to STOPPED.
//! * [`secgroups`]: the task's security groups, as an nftables table in its namespace.
//! * [`ports`]: host ports of bridge-mode tasks (the instance's address on the bridge,
//!   `berth_tasknet::InstanceNetwork`, forwards them to the tasks).
//! * [`cleanup`]: what a crashed agent left behind.
//!
//! Files, under the state directory: `instance.json` (the instance ARN and cluster),
//! `tasks/<task id>/logs/<container>.log` (each container's stdout and stderr, and
//! the proxy's as `ecs-service-connect.log`; read them with `berth logs`),
//! and, outside it (a Unix socket's path is short), `/run/berth/proxy/<task id>/admin.sock`
//! (the proxy's admin endpoint, while it runs: [`task::PROXY_SOCKET_DIR`]). No task
//! sees these (the process runtime hides them: [`task::hidden_paths`]); a proxy sees
//! its own socket directory.

pub mod awslogs;
pub mod certs;
pub mod cleanup;
pub mod client;
use client::Endpoint;
mod error;
mod identity;
mod metadata;
pub mod metrics;
mod nsexec;
pub mod ports;
mod roles;
pub mod secgroups;
mod secrets;
pub mod task;
pub mod view;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{ImageMap, Runtime, PROXY_IMAGE};
use berth_tasknet::{Bridge, BridgeConfig, InstanceNetwork};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use berth_agent_view::{
    DesiredStatus, LastStatus, TaskView, View, INSTANCE_GROUPS_ATTRIBUTE,
    INSTANCE_PRIVATE_IP_ATTRIBUTE, INSTANCE_SUBNET_ATTRIBUTE,
};
pub use client::{AdminClient, ServerClient};
pub use error::{Error, Result};

/// A push stream that carried nothing (not even a heartbeat) for this long is dead.
const STREAM_SILENCE: Duration = Duration::from_secs(10);

/// How an agent is set up.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The server, `http://host:port`.
    pub server: String,
    /// The cluster to join.
    pub cluster: String,
    /// The account and region the cluster is in.
    pub account: String,
    pub region: String,
    /// A join token (`berth token create`), needed until the agent has joined (its
    /// credential is then kept in the state directory).
    pub token: Option<String>,
    /// The CA (PEM) of an `https://` server's certificate.
    pub server_ca: Option<Vec<u8>>,
    /// The agent's files (see the crate docs).
    pub state_dir: PathBuf,
    /// The task bridge.
    pub bridge: BridgeConfig,
    /// Image references → local commands (process runtime).
    pub image_map: Arc<ImageMap>,
    /// How a task's proxy starts, before its flags: `[".../berth-proxy"]`, or
    /// `[".../berth", "proxy"]`; paths as the runtime sees them (the host's for
    /// processes, the berth image's for Docker). See [`proxy_command`].
    pub proxy_command: Vec<String>,
    /// Worker threads of each proxy.
    pub proxy_workers: u16,
    /// How long a stopping task keeps serving in-flight requests after its endpoint
    /// was withdrawn (ECS: 20 s by default).
    pub drain: Duration,
    /// CPU units and MiB of memory the instance offers (default: the host's).
    pub cpu: i64,
    pub memory_mib: i64,
    /// The instance's security groups (they judge its bridge-mode tasks, as on ECS);
    /// none: its VPC's default group.
    pub security_groups: Vec<String>,
    /// The instance's subnet; `None`: the default VPC's first.
    pub subnet: Option<String>,
    /// Where bridge-mode tasks' `hostPort: 0` mappings get their host ports (ECS:
    /// 49153–65535, `ECS_DYNAMIC_HOST_PORT_RANGE`).
    pub dynamic_host_ports: ports::PortRange,
}

/// What every task runner shares.
pub(crate) struct Shared<R> {
    pub runtime: Arc<R>,
    pub bridge: Bridge,
    /// The instance's address on the bridge, where its host ports are.
    pub instance: InstanceNetwork,
    /// Which task has which host port.
    pub host_ports: std::sync::Mutex<ports::HostPortTable>,
    pub client: ServerClient,
    /// The container instance this agent is.
    pub instance_arn: String,
    pub config: AgentConfig,
    pub image_map: Arc<ImageMap>,
    /// The image map with the proxy's image in front.
    pub proxy_image_map: Arc<ImageMap>,
}

/// How the process runtime starts a task's proxy, given the berth binary: the
/// `berth-proxy` beside it (cargo builds both into one directory; it is the proxy alone,
/// a fraction of berth's size), else `berth proxy`.
pub fn proxy_command(berth: &Path) -> Vec<String> {
    match berth_runtime::proxy_beside(berth) {
        Some(small) => vec![small.display().to_string()],
        None => {
            tracing::warn!(
                berth = %berth.display(),
                "no berth-proxy beside berth: tasks' proxies run as `berth proxy`"
            );
            vec![berth.display().to_string(), "proxy".to_string()]
        }
    }
}

/// CPU units (1024 per core) and MiB of memory of this host.
pub fn host_resources() -> (i64, i64) {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as i64;
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<i64>().ok())
        })
        .unwrap_or(1024 * 1024);
    (cpus * 1024, mem_kib / 1024)
}

fn instance_file(state_dir: &Path) -> PathBuf {
    state_dir.join("instance.json")
}

/// The instance's subnet, security groups and private address, as the attributes the
/// server reads them from.
fn network_attributes(config: &AgentConfig, private_ip: std::net::Ipv4Addr) -> Value {
    let mut out =
        vec![json!({"name": INSTANCE_PRIVATE_IP_ATTRIBUTE, "value": private_ip.to_string()})];
    if !config.security_groups.is_empty() {
        out.push(
            json!({"name": INSTANCE_GROUPS_ATTRIBUTE, "value": config.security_groups.join(",")}),
        );
    }
    if let Some(s) = &config.subnet {
        out.push(json!({"name": INSTANCE_SUBNET_ATTRIBUTE, "value": s}));
    }
    json!(out)
}

/// The resources the instance registers: its CPU and memory, and the ports it reserves
/// (ECS's agent's; host ports in use are the server's to count).
fn total_resources(config: &AgentConfig) -> Value {
    let reserved: Vec<String> = ports::RESERVED_PORTS.iter().map(u16::to_string).collect();
    json!([
        {"name": "CPU", "type": "INTEGER", "integerValue": config.cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": config.memory_mib},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": reserved},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
    ])
}

/// Joins the cluster as the instance recorded in the state directory, or as a new one.
async fn register(
    client: &ServerClient,
    config: &AgentConfig,
    private_ip: std::net::Ipv4Addr,
) -> Result<String> {
    let file = instance_file(&config.state_dir);
    let known: Option<String> = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(|v| v["cluster"] == config.cluster.as_str())
        .and_then(|v| v["containerInstanceArn"].as_str().map(str::to_string));
    let mut input = json!({
        "cluster": config.cluster,
        "totalResources": total_resources(config),
        "versionInfo": {"agentVersion": env!("CARGO_PKG_VERSION"), "agentHash": "berth"},
    });
    if let Some(arn) = &known {
        input["containerInstanceArn"] = json!(arn);
    }
    input["attributes"] = network_attributes(config, private_ip);
    let out = match client.ecs("RegisterContainerInstance", &input).await {
        Err(Error::Api { .. }) if known.is_some() => {
            // The server forgot the instance: join as a new one.
            input
                .as_object_mut()
                .map(|m| m.remove("containerInstanceArn"));
            client.ecs("RegisterContainerInstance", &input).await?
        }
        r => r?,
    };
    let arn = out["containerInstance"]["containerInstanceArn"]
        .as_str()
        .ok_or_else(|| Error::Server("RegisterContainerInstance answered no ARN".into()))?
        .to_string();
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|e| Error::io(format!("create {}", config.state_dir.display()), e))?;
    let text = json!({"cluster": config.cluster, "containerInstanceArn": arn}).to_string();
    std::fs::write(&file, text).map_err(|e| Error::io(format!("write {}", file.display()), e))?;
    Ok(arn)
}

/// A task runner: where its newest view goes, and its join handle.
type Runner = (watch::Sender<(TaskView, u64)>, tokio::task::JoinHandle<()>);

/// A running agent's task runners.
struct Runners {
    live: HashMap<String, Runner>,
    /// Tasks this agent ran to the end: never started again.
    finished: HashSet<String>,
}

/// Runs the agent until `shutdown` resolves, then stops every task it runs (reporting
/// them STOPPED) and returns. The instance ARN is printed to the log once joined.
pub async fn run<R: Runtime>(
    config: AgentConfig,
    runtime: R,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|e| Error::io(format!("create {}", config.state_dir.display()), e))?;
    let endpoint = Endpoint::new(&config.server, config.server_ca.as_deref())?;
    let credentials = identity::credentials(&config, &endpoint).await?;
    let client = ServerClient::at(endpoint, credentials, &config.region);
    tokio::pin!(shutdown);
    let bridge = Bridge::ensure(&config.bridge).await?;
    cleanup::cleanup(&runtime, &bridge, &config.state_dir).await?;
    let instance = InstanceNetwork::ensure(&bridge, &instance_name(&config.state_dir)).await?;
    let joined = join(&client, &config, instance.ip(), shutdown.as_mut()).await;
    let arn = match joined {
        Ok(Some(arn)) => arn,
        other => {
            if let Err(e) = instance.remove().await {
                warn!(error = %e, "removing the instance's address and host ports");
            }
            return other.map(|_| ());
        }
    };
    info!(instance = %arn, cluster = %config.cluster, address = %instance.ip(), "joined the cluster");
    let host_ports = ports::HostPortTable::new(config.dynamic_host_ports, &ports::RESERVED_PORTS);
    let shared = Arc::new(Shared {
        runtime: Arc::new(runtime),
        bridge,
        instance,
        host_ports: std::sync::Mutex::new(host_ports),
        client,
        instance_arn: arn.clone(),
        image_map: config.image_map.clone(),
        proxy_image_map: proxy_image_map(&config)?,
        config,
    });
    let mut runners = Runners {
        live: HashMap::new(),
        finished: HashSet::new(),
    };
    let _metrics = metrics::start(&shared.client, &shared.config, &arn);
    follow(&shared, &arn, &mut runners, shutdown.as_mut()).await;
    stop_all(runners).await;
    shared.instance.remove().await?;
    Ok(())
}

/// The name of the agent's address in the bridge's IPAM: its state directory (one per
/// agent of a host), spelled without blanks.
fn instance_name(state_dir: &Path) -> String {
    let name: String = (state_dir.display().to_string().chars())
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(240)
        .collect();
    format!("agent:{name}")
}

/// Registers the instance, retrying while the server is away or the cluster does not
/// exist yet. None when `shutdown` came first.
async fn join(
    client: &ServerClient,
    config: &AgentConfig,
    private_ip: std::net::Ipv4Addr,
    mut shutdown: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<Option<String>> {
    loop {
        let e = match register(client, config, private_ip).await {
            Ok(arn) => return Ok(Some(arn)),
            Err(e) => e,
        };
        let retry = matches!(&e, Error::Server(_))
            || matches!(&e, Error::Api { code, .. } if code == "ClusterNotFoundException");
        if !retry {
            return Err(e);
        }
        warn!(error = %e, "cannot join the cluster yet; retrying every second");
        tokio::select! {
            _ = &mut shutdown => return Ok(None),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The image map proxies start with: berth's proxy image first, then the agent's map.
fn proxy_image_map(config: &AgentConfig) -> Result<Arc<ImageMap>> {
    let entry = format!(
        r#"{{"images": [{{"match": {}, "entryPoint": {}}}]}}"#,
        serde_json::to_string(PROXY_IMAGE).expect("a string"),
        serde_json::to_string(&config.proxy_command).expect("strings"),
    );
    Ok(Arc::new(
        ImageMap::parse(&entry, "berth agent (proxy image)")?.then((*config.image_map).clone()),
    ))
}

/// Follows the push stream until `shutdown`, reconnecting when it breaks, and brings
/// the task runners in line with every view.
async fn follow<R: Runtime>(
    shared: &Arc<Shared<R>>,
    arn: &str,
    runners: &mut Runners,
    mut shutdown: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    loop {
        let body = tokio::select! {
            _ = &mut shutdown => return,
            r = shared.client.watch(&shared.config.cluster, arn) => r,
        };
        let mut body = match body {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "push stream unavailable; retrying");
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let mut buf: Vec<u8> = Vec::new();
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                Some(arn) = done_rx.recv() => {
                    runners.live.remove(&arn);
                    runners.finished.insert(arn);
                }
                frame = tokio::time::timeout(STREAM_SILENCE, body.frame()) => {
                    let frame = match frame {
                        Err(_) => { warn!("push stream silent; reconnecting"); break }
                        Ok(None) => { warn!("push stream ended; reconnecting"); break }
                        Ok(Some(Err(e))) => { warn!(error = %e, "push stream broke; reconnecting"); break }
                        Ok(Some(Ok(f))) => f,
                    };
                    let Ok(data) = frame.into_data() else { continue };
                    buf.extend_from_slice(&data);
                    for view in complete_views(&mut buf) {
                        apply(shared, runners, view, &done_tx).await;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The views of the whole lines in `buf` (taken out of it); heartbeats (empty lines)
/// are skipped and a line that is no view is logged.
fn complete_views(buf: &mut Vec<u8>) -> Vec<View> {
    let mut views = Vec::new();
    while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=nl).collect();
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<View>(&line) {
            Ok(v) => views.push(v),
            Err(e) => warn!(error = %e, "bad view line"),
        }
    }
    views
}

/// Stops every task runner (each reports its task STOPPED) and waits for them.
async fn stop_all(mut runners: Runners) {
    info!(tasks = runners.live.len(), "stopping every task");
    let handles: Vec<_> = runners
        .live
        .drain()
        .map(|(_, (tx, join))| {
            drop(tx);
            join
        })
        .collect();
    for h in handles {
        let _ = h.await;
    }
}

/// Brings the task runners in line with a new view.
async fn apply<R: Runtime>(
    shared: &Arc<Shared<R>>,
    runners: &mut Runners,
    view: View,
    done: &mpsc::UnboundedSender<String>,
) {
    // Tasks the server no longer places here (e.g. marked STOPPED while this agent was
    // away): stop them.
    for (arn, (tx, _)) in &runners.live {
        if !view.tasks.iter().any(|t| &t.task_arn == arn) {
            let (mut t, rev) = tx.borrow().clone();
            if t.desired_status != DesiredStatus::Stopped {
                info!(task = %arn, "no longer placed here; stopping it");
                t.desired_status = DesiredStatus::Stopped;
                let _ = tx.send((t, rev));
            }
        }
    }
    let revision = view.revision.unwrap_or(0);
    for t in view.tasks {
        if let Some((tx, _)) = runners.live.get(&t.task_arn) {
            let _ = tx.send((t, revision));
            continue;
        }
        if runners.finished.contains(&t.task_arn) {
            continue;
        }
        // Not started yet: PROVISIONING (awsvpc), or PENDING with no address reported.
        let unstarted = t.last_status == LastStatus::Provisioning
            || (t.last_status == LastStatus::Pending && !t.address_reported());
        if t.desired_status == DesiredStatus::Running && unstarted {
            let arn = t.task_arn.clone();
            let (tx, rx) = watch::channel((t, revision));
            let shared2 = shared.clone();
            let done2 = done.clone();
            let arn2 = arn.clone();
            let join = tokio::spawn(async move {
                task::run(shared2, rx).await;
                let _ = done2.send(arn2);
            });
            runners.live.insert(arn, (tx, join));
        } else {
            // Nothing of it runs here (an earlier agent's task, or stopped before it
            // started): it is over.
            let reason = if t.desired_status == DesiredStatus::Stopped {
                None
            } else {
                Some("Task stopped: the berth agent that ran it restarted")
            };
            let mut input =
                json!({"cluster": shared.config.cluster, "task": t.task_arn, "status": "STOPPED"});
            if let Some(r) = reason {
                input["reason"] = json!(r);
            }
            if let Err(e) = shared.client.ecs("SubmitTaskStateChange", &input).await {
                warn!(task = %t.task_arn, error = %e, "reporting a task that is not here");
            }
            runners.finished.insert(t.task_arn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_run_as_the_berth_proxy_beside_berth_when_there_is_one() {
        let dir =
            std::env::temp_dir().join(format!("berth-agent-proxy-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let berth = dir.join("berth");
        std::fs::write(&berth, b"").unwrap();
        let alone = dir.join("berth-proxy");
        let _ = std::fs::remove_file(&alone);
        assert_eq!(
            proxy_command(&berth),
            vec![berth.display().to_string(), "proxy".to_string()]
        );
        std::fs::write(&alone, b"").unwrap();
        assert_eq!(proxy_command(&berth), vec![alone.display().to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
