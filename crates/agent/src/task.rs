//! One task on this instance, from PROVISIONING to STOPPED.
//!
//! ```text
//! PROVISIONING  network (namespace, veth, address) ........ report PENDING + address
//!               packet filter (the task's security groups), before anything runs
//! PENDING       proxy started in the namespace, first snapshot, /ready  (Service Connect)
//! ACTIVATING    application containers started ............ report RUNNING once every
//!                                                           essential container runs
//! RUNNING       container and health changes reported; new snapshots to the proxy,
//!               the packet filter kept in line with each new view
//! DEACTIVATING  (desired STOPPED: the server withdrew the endpoints in that same
//!               write) wait the drain time, the proxy drains
//! STOPPING      containers stopped (SIGTERM, SIGKILL after stopTimeout)
//! DEPROVISIONING proxy stopped, network removed ........... report STOPPED
//! ```
//!
//! [`run`] makes the network; a `TaskRunner` then holds what the later phases share
//! (the network, VIPs, nat table, packet filter, proxy, the Service Connect part of the
//! newest view) and runs them in turn: `start_filter`, `start_proxy`,
//! `start_application`, `follow`, `stop`, `teardown`. Every snapshot reaches the proxy through `push_snapshot`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_agent_view::{DesiredStatus, FirewallView, LastStatus, ServiceConnectView, TaskView};
use berth_runtime::{
    ContainerSpec, ContainerState, ContainerStatus, HealthStatus, ResolvedSecrets, RunningTask,
    Runtime, TaskRuntimeConfig, TaskState, TaskStatus, PROXY_IMAGE,
};
use berth_tasknet::{TaskNetConfig, TaskNetwork, VipAllocator};
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::awslogs::{self, Shippers};
use crate::certs::TaskCertificates;
use crate::client::{AdminClient, ServerClient};
use crate::error::{Error, Result};
use crate::metadata::TaskSource;
use crate::nsexec;
use crate::ports::{self, network_bindings, Binding, Owner};
use crate::roles::TaskRoles;
use crate::secgroups::SecurityGroups;
use crate::view::{alias_names, ingress_listen, snapshot, EGRESS_PORT_BASE};
use crate::Shared;
use berth_taskmeta::{MetadataConfig, MetadataServer};

/// The name of the proxy container of a task (ECS calls its own `ecs-service-connect-…`).
pub const PROXY_CONTAINER: &str = "ecs-service-connect";

/// The directory of a task's files: `logs/` (one file per container, and the proxy's).
pub fn task_dir(state_dir: &Path, task_id: &str) -> PathBuf {
    state_dir.join("tasks").join(task_id)
}

/// Where every agent of the machine puts its proxies' admin sockets, one directory per
/// task: a short path, because a Unix socket's path must fit in 108 bytes (a state
/// directory may be anywhere).
pub const PROXY_SOCKET_DIR: &str = "/run/berth/proxy";

/// The directory of a task's proxy admin socket (`admin.sock`).
pub fn proxy_dir(task_id: &str) -> PathBuf {
    Path::new(PROXY_SOCKET_DIR).join(task_id)
}

/// The directories of the machine's agents, which no task may see (the process
/// runtime hides them; a proxy sees its own socket directory only): `/run/berth` (every
/// proxy's admin socket, the bridges' address records), this agent's state directory
/// (every task's logs) and its bridge's state directory.
pub fn hidden_paths(config: &crate::AgentConfig) -> Vec<PathBuf> {
    let run = Path::new(PROXY_SOCKET_DIR)
        .parent()
        .unwrap_or(Path::new(PROXY_SOCKET_DIR));
    let mut out = vec![run.to_path_buf()];
    for d in [&config.state_dir, &config.bridge.state_dir] {
        if d.is_absolute() && d.parent().is_some() && !out.iter().any(|o| d.starts_with(o)) {
            out.push(d.clone());
        }
    }
    out
}

/// What was last reported of a container: status, health, exit code.
type Reported = (ContainerStatus, HealthStatus, Option<i32>);

/// Reports of one task, in order.
struct Reporter {
    client: ServerClient,
    cluster: String,
    arn: String,
    eni: Option<String>,
    /// What was last reported per container (by the name ECS shows it by).
    containers: BTreeMap<String, Reported>,
    health: HealthStatus,
    /// Containers with a health check (only they, and the proxy, report a
    /// `healthStatus`).
    checked: Vec<String>,
    /// The name ECS shows the proxy container by (a Service Connect service's task).
    proxy_name: Option<String>,
    /// Each container's `networkBindings` (by the name ECS shows it by), reported with
    /// its RUNNING state (bridge and host mode).
    bindings: BTreeMap<String, Value>,
}

impl Reporter {
    fn new<R>(shared: &Shared<R>, task: &TaskView) -> Reporter {
        Reporter {
            client: shared.client.clone(),
            cluster: shared.config.cluster.clone(),
            arn: task.task_arn.clone(),
            eni: task.eni_attachment(),
            containers: BTreeMap::new(),
            health: HealthStatus::Unknown,
            checked: task.proxy_container.iter().cloned().collect(),
            proxy_name: task.proxy_container.clone(),
            bindings: BTreeMap::new(),
        }
    }

    /// Keeps the task's host ports, to report each container's with its state.
    fn set_bindings(&mut self, bindings: &[Binding]) {
        self.bindings.clear();
        let mut by_name: BTreeMap<String, Vec<&Binding>> = BTreeMap::new();
        for b in bindings {
            let name = match &b.owner {
                Owner::Container(n) => n.clone(),
                Owner::Proxy => match &self.proxy_name {
                    Some(n) => n.clone(),
                    None => continue,
                },
            };
            by_name.entry(name).or_default().push(b);
        }
        for (name, list) in by_name {
            self.bindings.insert(name, network_bindings(list));
        }
    }

    /// One SubmitTaskStateChange; retried while the server cannot be reached.
    async fn send(&self, mut input: Value) {
        input["cluster"] = json!(self.cluster);
        input["task"] = json!(self.arn);
        let mut wait = Duration::from_millis(100);
        for _ in 0..40 {
            match self.client.ecs("SubmitTaskStateChange", &input).await {
                Ok(_) => return,
                Err(Error::Api { code, message }) => {
                    warn!(task = %self.arn, %code, %message, "state change refused");
                    return;
                }
                Err(e) => {
                    warn!(task = %self.arn, error = %e, "state change not delivered; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    async fn status(&self, status: LastStatus, reason: Option<&str>) {
        let mut v = json!({"status": status});
        if let Some(r) = reason {
            v["reason"] = json!(r);
        }
        if status == LastStatus::Stopped {
            v["executionStoppedAt"] = json!(berth_now());
        }
        self.send(v).await;
    }

    async fn address(&self, ip: Ipv4Addr) {
        let details = json!([{"name": "privateIPv4Address", "value": ip.to_string()}]);
        let v = match &self.eni {
            Some(eni) => json!({"status": LastStatus::Pending, "attachments": [{
                "attachmentArn": eni, "status": "ATTACHED", "details": details}]}),
            // No awsvpc attachment: the address goes in the containers' network bindings.
            None => json!({"status": LastStatus::Pending}),
        };
        self.send(v).await;
    }

    /// The change of container `c`, reported as `name`, since it was last reported;
    /// `None` when nothing changed.
    fn change(&mut self, name: &str, c: &ContainerState, ip: Ipv4Addr) -> Option<Value> {
        let now = (c.status, c.health, c.exit_code);
        if self.containers.get(name) == Some(&now) {
            return None;
        }
        self.containers.insert(name.to_string(), now);
        let mut ch = json!({"containerName": name, "status": c.status});
        if self.checked.iter().any(|n| n == name) {
            ch["healthStatus"] = json!(c.health);
        }
        if let Some(x) = c.exit_code {
            ch["exitCode"] = json!(x);
        }
        if let Some(r) = &c.reason {
            ch["reason"] = json!(truncate(r, 255));
        }
        if let Some(pid) = c.pid {
            ch["runtimeId"] = json!(pid.to_string());
        }
        if self.eni.is_none() && c.status == ContainerStatus::Running {
            // Its host ports, and (berth's) the task's own address on the bridge.
            let bindings = self.bindings.get(name).cloned();
            ch["networkBindings"] = bindings.unwrap_or_else(|| json!([]));
            ch["networkInterfaces"] = json!([{"privateIpv4Address": ip.to_string()}]);
        }
        Some(ch)
    }

    /// Reports what changed in the containers' state (and the task's health); `status`
    /// moves the task too.
    async fn containers(&mut self, state: &TaskState, status: Option<LastStatus>, ip: Ipv4Addr) {
        let changes: Vec<Value> = (state.containers.iter())
            .filter_map(|c| self.change(&c.name, c, ip))
            .collect();
        let health = state.task_health;
        if changes.is_empty() && status.is_none() && health == self.health {
            return;
        }
        self.health = health;
        let mut v = json!({"containers": changes, "healthStatus": health});
        if let Some(s) = status {
            v["status"] = json!(s);
        }
        self.send(v).await;
    }

    /// Reports the proxy's container (`proxy`: the state of the proxy's own runtime
    /// task) under the name ECS shows it by, its health `health` (`None`: as last
    /// reported); `status` moves the task too.
    async fn proxy(
        &mut self,
        proxy: Option<&TaskState>,
        health: Option<HealthStatus>,
        status: Option<LastStatus>,
        ip: Ipv4Addr,
    ) {
        let mut changes = Vec::new();
        let container = proxy.and_then(|p| p.containers.first());
        if let (Some(name), Some(c)) = (self.proxy_name.clone(), container) {
            let last = self.containers.get(&name).map(|r| r.1);
            let c = ContainerState {
                health: (health.or(last)).unwrap_or(HealthStatus::Unknown),
                ..c.clone()
            };
            changes.extend(self.change(&name, &c, ip));
        }
        if changes.is_empty() && status.is_none() {
            return;
        }
        let mut v = json!({"containers": changes});
        if let Some(s) = status {
            v["status"] = json!(s);
        }
        self.send(v).await;
    }
}

/// Sleeps until the Unix time `at` (forever when `None`).
async fn until_unix(at: Option<i64>) {
    match at {
        Some(at) => {
            let secs = u64::try_from(at - unix_now()).unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(secs)).await;
        }
        None => std::future::pending().await,
    }
}

fn berth_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// True when every essential container runs.
fn essentials_running(specs: &[ContainerSpec], state: &TaskState) -> bool {
    specs.iter().filter(|s| s.essential).all(|s| {
        state
            .container(&s.name)
            .is_some_and(|c| c.status == ContainerStatus::Running)
    })
}

/// The task definition's containers with the task's `containerOverrides` applied
/// (`command` replaces, `environment` adds and wins).
fn container_specs(task: &TaskView) -> Result<Vec<ContainerSpec>> {
    let mut specs = ContainerSpec::list_from_json(&task.task_definition["containerDefinitions"])?;
    for o in task.overrides["containerOverrides"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(spec) = specs.iter_mut().find(|s| o["name"] == s.name.as_str()) else {
            continue;
        };
        if let Some(cmd) = o["command"].as_array() {
            spec.command = Some(
                cmd.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect(),
            );
        }
        for kv in o["environment"].as_array().into_iter().flatten() {
            if let (Some(n), Some(v)) = (kv["name"].as_str(), kv["value"].as_str()) {
                spec.environment.retain(|(k, _)| k != n);
                spec.environment.push((n.to_string(), v.to_string()));
            }
        }
    }
    Ok(specs)
}

/// The task namespace's `nat` table, which berth owns: ingress (what reaches the task
/// on a container port goes to the proxy's ingress listener, `PREROUTING ... REDIRECT`)
/// and egress (what the application sends to `VIP:aliasPort` goes to the proxy's
/// listener on that VIP, `OUTPUT ... DNAT`). Applied whole and atomically with
/// `iptables-restore`; established connections keep their translation.
#[derive(Default)]
struct Nat {
    /// Stable egress listener ports, by `dnsName:port`.
    egress_ports: BTreeMap<String, u16>,
    /// The task metadata endpoint's rules (`OUTPUT` lines), in every version.
    metadata: Vec<String>,
    /// The task's own host ports, which its own connections to them reach without
    /// leaving its namespace (`OUTPUT ... DNAT` lines).
    own_ports: Vec<String>,
    applied: Option<String>,
}

impl Nat {
    fn egress_port(&self, dns: &str, port: u16) -> Option<u16> {
        self.egress_ports.get(&format!("{dns}:{port}")).copied()
    }

    /// The rules that send the task's connections to its own host ports (at the
    /// instance's address `instance`) straight to where they lead inside it.
    fn set_own_ports(&mut self, instance: Ipv4Addr, ip: Ipv4Addr, bindings: &[Binding]) {
        self.own_ports = bindings
            .iter()
            .map(|b| {
                let p = b.protocol.name();
                format!(
                    "-A OUTPUT -d {instance}/32 -p {p} -m {p} --dport {} -j DNAT --to-destination {ip}:{}",
                    b.host_port, b.inside
                )
            })
            .collect();
    }

    /// Gives new aliases of `sc` their egress ports (kept for the task's life).
    fn allocate(&mut self, sc: &ServiceConnectView) {
        for e in &sc.egress {
            let key = format!("{}:{}", e.dns_name, e.port);
            if !self.egress_ports.contains_key(&key) {
                let next = EGRESS_PORT_BASE + self.egress_ports.len() as u16;
                self.egress_ports.insert(key, next);
            }
        }
    }

    /// Writes the table if it changed.
    async fn apply(
        &mut self,
        net: &TaskNetwork,
        sc: Option<&ServiceConnectView>,
        vips: &VipAllocator,
    ) -> Result<()> {
        let mut rules = String::from("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
        for line in self.metadata.iter().chain(&self.own_ports) {
            rules.push_str(line);
            rules.push('\n');
        }
        let (ingress, egress) =
            sc.map_or((&[][..], &[][..]), |sc| (&sc.ingress[..], &sc.egress[..]));
        for (i, g) in ingress.iter().enumerate() {
            if let (listen, Some(from)) = ingress_listen(net.ip(), i, g) {
                rules.push_str(&format!(
                    "-A PREROUTING -d {}/32 -p tcp -m tcp --dport {from} -j REDIRECT --to-ports {}\n",
                    net.ip(),
                    listen.port()
                ));
            }
        }
        for e in egress {
            let (Some(vip), Some(port)) =
                (vips.get(&e.dns_name), self.egress_port(&e.dns_name, e.port))
            else {
                continue;
            };
            rules.push_str(&format!(
                "-A OUTPUT -d {vip}/32 -p tcp -m tcp --dport {} -j DNAT --to-destination {vip}:{port}\n",
                e.port
            ));
        }
        rules.push_str("COMMIT\n");
        if self.applied.as_deref() == Some(rules.as_str()) {
            return Ok(());
        }
        let program = nsexec::system_program("iptables-restore");
        nsexec::feed(net, &program, &["-w", "5"], rules.clone())
            .await
            .map_err(|e| Error::Init(format!("iptables-restore in the task namespace: {e}")))?;
        self.applied = Some(rules);
        Ok(())
    }
}

/// The aliases of `sc` in the task's hosts file, with VIPs from `vips`.
fn write_aliases(
    net: &TaskNetwork,
    vips: &mut VipAllocator,
    sc: &ServiceConnectView,
) -> Result<()> {
    let mut entries = Vec::new();
    for (name, dns) in alias_names(sc) {
        let vip = vips.vip(&dns)?;
        entries.push((name, vip));
    }
    net.write_hosts(&entries)?;
    Ok(())
}

/// The next change of the proxy's state (never, without a proxy): whether its
/// container stopped.
async fn next_change(
    rx: &mut Option<watch::Receiver<TaskState>>,
) -> std::result::Result<bool, watch::error::RecvError> {
    match rx {
        Some(rx) => {
            rx.changed().await?;
            let state = rx.borrow_and_update();
            Ok((state.containers.iter()).any(|c| c.status == ContainerStatus::Stopped))
        }
        None => std::future::pending().await,
    }
}

/// Why the running phase ended.
enum End {
    /// The server wants it stopped.
    Desired,
    /// The agent is shutting down.
    Agent,
    /// It stopped by itself (an essential container exited): the reason.
    Exited(String),
}

/// A task's proxy container, once started, and its admin endpoint.
struct Proxy<T> {
    handle: T,
    admin: AdminClient,
}

/// Runs one task until it is STOPPED; `views` carries the task's newest view and the
/// view's revision (closed: the agent stops).
pub(crate) async fn run<R: Runtime>(
    shared: Arc<Shared<R>>,
    mut views: watch::Receiver<(TaskView, u64)>,
) {
    let (task, _) = views.borrow_and_update().clone();
    let rep = Reporter::new(&shared, &task);
    info!(task = %task.id(), "starting task");
    let t0 = Instant::now();
    let net = match network(&shared, task.id()).await {
        Ok(net) => net,
        Err(reason) => {
            rep.status(LastStatus::Stopped, Some(&reason)).await;
            return;
        }
    };
    debug!(task = %task.id(), ms = t0.elapsed().as_millis() as u64, "network ready");
    rep.address(net.ip()).await;
    let mut runner = TaskRunner {
        id: task.id().to_string(),
        service_connect: task.service_connect.clone(),
        shared,
        views,
        task,
        rep,
        t0,
        net,
        vips: VipAllocator::new(),
        nat: Nat::default(),
        filter: SecurityGroups::default(),
        proxy: None,
        sent_version: 0,
        certs: TaskCertificates::default(),
        rotations: 0,
        roles: None,
        shippers: None,
        metadata: None,
    };
    let result = runner.run_in_network().await;
    runner.teardown(result).await;
}

/// The network phase: the task's directory (it marks the task as this agent's, for the
/// cleanup after a crash: see `cleanup::own_tasks`), then its network. An error is the
/// stoppedReason to report.
async fn network<R: Runtime>(
    shared: &Shared<R>,
    id: &str,
) -> std::result::Result<Arc<TaskNetwork>, String> {
    if let Err(e) = std::fs::create_dir_all(task_dir(&shared.config.state_dir, id)) {
        warn!(task = %id, error = %e, "creating the task directory");
        return Err(truncate(&format!("ResourceInitializationError: {e}"), 255));
    }
    shared
        .runtime
        .create_network(&shared.bridge, id, &TaskNetConfig::default())
        .await
        .map_err(|e| {
            warn!(task = %id, error = %e, "task network failed");
            truncate(&e.to_string(), 255)
        })
}

/// One task inside its network: what its phases share.
struct TaskRunner<R: Runtime> {
    shared: Arc<Shared<R>>,
    /// The task's newest view, and the revision it was read at.
    views: watch::Receiver<(TaskView, u64)>,
    /// The view the task started with.
    task: TaskView,
    id: String,
    rep: Reporter,
    /// When the runner started (for the timings in the debug log).
    t0: Instant,
    net: Arc<TaskNetwork>,
    /// The VIP of each client alias.
    vips: VipAllocator,
    nat: Nat,
    /// The task's packet filter (its security groups), as applied.
    filter: SecurityGroups,
    /// The proxy (Service Connect only), from its start on.
    proxy: Option<Proxy<R::Task>>,
    /// The Service Connect part of the newest view followed.
    service_connect: Option<ServiceConnectView>,
    /// The version (view revision) of the last snapshot the proxy took.
    sent_version: u64,
    /// The task's TLS certificates (its services with `tls`).
    certs: TaskCertificates,
    /// Certificate renewals so far: a snapshot's version is the view revision and
    /// these (see [`proxy_version`]).
    rotations: u64,
    /// The task's credentials, from before its secrets are read to its end.
    roles: Option<TaskRoles>,
    /// Its containers' awslogs shippers.
    shippers: Option<Shippers>,
    /// Its metadata and credentials endpoint, and what that reads.
    metadata: Option<(MetadataServer<TaskSource>, Arc<TaskSource>)>,
}

/// The version of a snapshot made from the view at `revision` after `rotations`
/// certificate renewals: it grows with either, so the proxy takes every new one.
fn proxy_version(revision: u64, rotations: u64) -> u64 {
    (revision << 20) | (rotations & 0xF_FFFF)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl<R: Runtime> TaskRunner<R> {
    /// Everything inside the task's network; returns the stoppedReason to report (the
    /// server's own when it asked for the stop).
    async fn run_in_network(&mut self) -> Result<Option<String>> {
        self.start_filter().await?;
        self.open_host_ports()?;
        let specs = self.prepare()?;
        let log_dir = task_dir(&self.shared.config.state_dir, &self.id).join("logs");
        let secrets = self.resources(&specs, &log_dir).await?;
        let specs = self.start_metadata(specs).await?;
        let app_config = TaskRuntimeConfig {
            log_dir,
            image_map: self.shared.image_map.clone(),
            secrets: Arc::new(secrets),
            extra_env: vec![("ECS_TASK_ARN".into(), self.task.task_arn.clone())],
            hidden_paths: hidden_paths(&self.shared.config),
        };
        // The proxy first: the application starts only once it is ready.
        if let Some(sc) = self.service_connect.clone() {
            self.start_proxy(&sc, &app_config).await?;
        }
        let ready = self.proxy.is_some().then_some(HealthStatus::Healthy);
        self.report_proxy(ready, Some(LastStatus::Activating)).await;
        let app = self.start_application(&specs, &app_config).await?;
        let end = self.follow(&app, &specs).await;
        Ok(self.stop(&app, end).await)
    }

    /// The filter phase: the security groups of the newest view, before the proxy and
    /// the application start (none for a view without them, from an older server).
    async fn start_filter(&mut self) -> Result<()> {
        let fw = self.views.borrow().0.firewall.clone();
        self.filter
            .apply(&self.net, fw.as_ref())
            .await
            .map_err(|e| Error::Init(format!("security groups: {e}")))?;
        Ok(())
    }

    /// The host ports of a bridge-mode task (none in awsvpc mode): given out, forwarded
    /// from the instance's address, kept for the reports and for the task's own nat
    /// rules. An error (a fixed port taken, the range exhausted) stops the task.
    fn open_host_ports(&mut self) -> Result<()> {
        if self.rep.eni.is_some() {
            return Ok(());
        }
        let ip = self.net.ip();
        let wants = ports::wanted(
            &self.task.task_definition,
            self.service_connect.as_ref(),
            ip,
        );
        if wants.is_empty() {
            return Ok(());
        }
        let shared = &self.shared;
        let mut table = shared.host_ports.lock().unwrap_or_else(|p| p.into_inner());
        let bindings = table
            .assign(&self.id, ip, &wants, berth_tasknet::port_in_use)
            .map_err(Error::Init)?;
        if let Err(e) = shared.instance.forward(&table.forwards()) {
            table.release(&self.id);
            return Err(Error::Init(format!("host ports: {e}")));
        }
        drop(table);
        debug!(task = %self.id, ?bindings, "host ports");
        self.rep.set_bindings(&bindings);
        self.nat.set_own_ports(shared.instance.ip(), ip, &bindings);
        Ok(())
    }

    /// Gives the task's host ports back (its forwards removed).
    fn close_host_ports(&self) {
        let shared = &self.shared;
        let mut table = shared.host_ports.lock().unwrap_or_else(|p| p.into_inner());
        table.release(&self.id);
        if let Err(e) = shared.instance.forward(&table.forwards()) {
            warn!(task = %self.id, error = %e, "removing the task's host ports");
        }
    }

    /// The task's execution resources, before anything of it runs (as ECS does): its
    /// credentials, its secrets, its log streams (then their shippers).
    async fn resources(
        &mut self,
        specs: &[ContainerSpec],
        log_dir: &Path,
    ) -> Result<ResolvedSecrets> {
        let shared = &self.shared;
        let roles = TaskRoles::obtain(
            &shared.client,
            &shared.config.cluster,
            &shared.instance_arn,
            &self.task.task_arn,
        )
        .await?;
        let exec = roles.source().execution_client();
        let secrets = crate::secrets::resolve(&exec, specs).await?;
        let proxy_log = self.proxy_log_configuration();
        let proxy_name = self
            .task
            .proxy_container
            .as_deref()
            .unwrap_or(PROXY_CONTAINER);
        let proxy = proxy_log.as_ref().map(|l| awslogs::Output {
            container: PROXY_CONTAINER,
            shown: proxy_name,
            log_configuration: Some(l),
        });
        let containers = specs.iter().map(awslogs::Output::from).chain(proxy);
        let targets = awslogs::targets(containers, &self.id, exec.region())?;
        awslogs::prepare(&exec, &targets).await?;
        self.shippers = Some(awslogs::ship(roles.source().clone(), log_dir, targets));
        self.roles = Some(roles);
        Ok(secrets)
    }

    /// The task's metadata and credentials endpoint, inside its namespace (its nat rule
    /// in place before anything runs); each container gets its variables.
    async fn start_metadata(
        &mut self,
        mut specs: Vec<ContainerSpec>,
    ) -> Result<Vec<ContainerSpec>> {
        let roles = self
            .roles
            .as_ref()
            .expect("resources come first")
            .source()
            .clone();
        let netns = self.net.netns_path().to_path_buf();
        let source = Arc::new(TaskSource::new(
            &self.task,
            &self.shared.config.cluster,
            self.net.ip(),
            &specs,
            roles,
            netns.clone(),
        ));
        let config = MetadataConfig {
            region: self.shared.config.region.clone(),
            api: self.shared.client.plain_api_addr().await,
            ..Default::default()
        };
        let server = MetadataServer::start(&netns, config, source.clone())
            .await
            .map_err(|e| Error::Init(format!("task metadata endpoint: {e}")))?;
        for spec in &mut specs {
            let mut env = server.env(&spec.name);
            env.append(&mut spec.environment);
            spec.environment = env;
        }
        self.nat.metadata = server.nat_rules();
        self.metadata = Some((server, source));
        self.nat.apply(&self.net, None, &self.vips).await?;
        Ok(specs)
    }

    /// The proxy's socket directory, and the containers to run (which ones report a
    /// health status).
    fn prepare(&mut self) -> Result<Vec<ContainerSpec>> {
        let dir = proxy_dir(&self.id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let specs = container_specs(&self.task)?;
        let checked = specs.iter().filter(|s| s.health_check.is_some());
        self.rep.checked.extend(checked.map(|s| s.name.clone()));
        Ok(specs)
    }

    /// The proxy container of the task, serving its admin endpoint on `socket`.
    fn proxy_spec(&self, socket: &Path) -> ContainerSpec {
        let config = &self.shared.config;
        let mut spec = ContainerSpec::new(PROXY_CONTAINER, PROXY_IMAGE);
        spec.entry_point = Some(config.proxy_command.clone());
        spec.command = Some(vec![
            "--admin".into(),
            format!("unix:{}", socket.display()),
            "--workers".into(),
            config.proxy_workers.to_string(),
            "--drain-seconds".into(),
            config.drain.as_secs().max(1).to_string(),
        ]);
        spec.host_dirs = vec![proxy_dir(&self.id)];
        spec.stop_timeout = Duration::from_secs(5);
        spec.environment = vec![("BERTH_LOG".into(), "info".into())];
        spec.log_configuration = self.proxy_log_configuration();
        spec
    }

    /// The proxy container's `logConfiguration`: the service's Service Connect one.
    fn proxy_log_configuration(&self) -> Option<Value> {
        let log = self.service_connect.as_ref()?.log_configuration.as_ref()?;
        Some(json!({"logDriver": log.log_driver, "options": log.options}))
    }

    /// The proxy phase: aliases in the hosts file, the proxy container, its first
    /// snapshot and nat rules, and its readiness. On failure the proxy is stopped.
    async fn start_proxy(
        &mut self,
        sc: &ServiceConnectView,
        app_config: &TaskRuntimeConfig,
    ) -> Result<()> {
        write_aliases(&self.net, &mut self.vips, sc)?;
        let socket = proxy_dir(&self.id).join("admin.sock");
        let _ = std::fs::remove_file(&socket);
        let config = TaskRuntimeConfig {
            image_map: self.shared.proxy_image_map.clone(),
            ..app_config.clone()
        };
        let handle = self
            .shared
            .runtime
            .start_task(self.net.clone(), vec![self.proxy_spec(&socket)], &config)
            .await?;
        let admin = AdminClient::new(&socket);
        self.proxy = Some(Proxy { handle, admin });
        if let Err(e) = self.first_snapshot(sc).await {
            if let Some(p) = self.proxy.take() {
                p.handle.stop("proxy failed").await;
            }
            return Err(e);
        }
        debug!(task = %self.id, ms = self.t0.elapsed().as_millis() as u64, "proxy ready");
        Ok(())
    }

    /// Waits for the proxy's admin endpoint, gives it its first snapshot, then the nat
    /// rules that send traffic to its listeners, and waits until it is ready.
    async fn first_snapshot(&mut self, sc: &ServiceConnectView) -> Result<()> {
        let admin = self.admin()?;
        admin.wait_answering(Duration::from_secs(10)).await?;
        self.refresh_certificates(sc).await?;
        let version = self.views.borrow().1.max(1);
        self.push_snapshot(sc, version).await?;
        // Listeners first, then the rules that send traffic to them.
        self.nat.apply(&self.net, Some(sc), &self.vips).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !admin.ready().await {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Proxy("the proxy did not become ready".into()));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Reports the proxy container's state (as it is now) with `health` (`None`: as
    /// last reported); `status` moves the task too.
    async fn report_proxy(&mut self, health: Option<HealthStatus>, status: Option<LastStatus>) {
        let state = self
            .proxy
            .as_ref()
            .map(|p| p.handle.state().borrow().clone());
        let ip = self.net.ip();
        self.rep.proxy(state.as_ref(), health, status, ip).await;
    }

    /// The proxy's admin endpoint.
    fn admin(&self) -> Result<AdminClient> {
        self.proxy
            .as_ref()
            .map(|p| p.admin.clone())
            .ok_or_else(|| Error::Proxy("the task has no proxy".into()))
    }

    /// Sends the proxy the snapshot of `sc` at `version`; new aliases get their egress
    /// ports first. The one way a snapshot reaches a task's proxy.
    async fn push_snapshot(&mut self, sc: &ServiceConnectView, version: u64) -> Result<()> {
        let admin = self.admin()?;
        self.nat.allocate(sc);
        let snap = snapshot(
            sc,
            proxy_version(version, self.rotations),
            self.net.ip(),
            |n| self.vips.get(n),
            |n, p| self.nat.egress_port(n, p),
            &self.certs,
        );
        admin.apply(&snap).await?;
        self.sent_version = version;
        Ok(())
    }

    /// Gets the certificates `sc` needs now (new TLS services, renewals); true when one
    /// changed. An error names the service and the reason.
    async fn refresh_certificates(&mut self, sc: &ServiceConnectView) -> Result<bool> {
        let shared = &self.shared;
        let task = (
            shared.config.cluster.as_str(),
            shared.instance_arn.as_str(),
            self.task.task_arn.as_str(),
        );
        self.certs
            .refresh(&shared.client, task, sc, unix_now())
            .await
    }

    /// A certificate is due: renew it and give the proxy the new one (its open
    /// connections keep theirs). A failure is logged and tried again shortly; the
    /// certificate held stays until it expires.
    async fn rotate(&mut self) {
        let Some(sc) = self.service_connect.clone() else {
            return;
        };
        match self.refresh_certificates(&sc).await {
            Ok(true) => {
                self.rotations += 1;
                if let Err(e) = self.push_snapshot(&sc, self.sent_version).await {
                    warn!(task = %self.id, error = %e, "renewed certificate not applied");
                }
                info!(task = %self.id, "TLS certificate renewed");
            }
            Ok(false) => {}
            Err(e) => warn!(task = %self.id, error = %e, "renewing a TLS certificate"),
        }
    }

    /// The application phase: its containers start (if they cannot, the proxy stops).
    async fn start_application(
        &self,
        specs: &[ContainerSpec],
        app_config: &TaskRuntimeConfig,
    ) -> Result<R::Task> {
        let started = self
            .shared
            .runtime
            .start_task(self.net.clone(), specs.to_vec(), app_config)
            .await;
        if started.is_err() {
            if let Some(p) = &self.proxy {
                p.handle.stop("application failed to start").await;
            }
        }
        let app = started?;
        if let Some((_, source)) = &self.metadata {
            source.started(app.state());
        }
        Ok(app)
    }

    /// The running phase: reports container and health changes (RUNNING once every
    /// essential container runs) and follows new views, until the task is to stop.
    async fn follow(&mut self, app: &R::Task, specs: &[ContainerSpec]) -> End {
        let mut state_rx = app.state();
        let mut proxy_rx = self.proxy.as_ref().map(|p| p.handle.state());
        let mut running_reported = false;
        loop {
            let state = state_rx.borrow_and_update().clone();
            let status = if !running_reported && essentials_running(specs, &state) {
                running_reported = true;
                let ms = self.t0.elapsed().as_millis() as u64;
                info!(task = %self.id, ms, "task running");
                Some(LastStatus::Running)
            } else {
                None
            };
            self.rep.containers(&state, status, self.net.ip()).await;
            if matches!(state.status, TaskStatus::Stopping | TaskStatus::Stopped) {
                let reason = state.stopped_reason.clone();
                return End::Exited(reason.unwrap_or_else(|| "Task stopped".into()));
            }
            tokio::select! {
                r = state_rx.changed() => if r.is_err() {
                    return End::Exited("the runtime lost the task".into());
                },
                r = next_change(&mut proxy_rx) => match r {
                    // A proxy that stops by itself is unhealthy.
                    Ok(stopped) => {
                        let health = stopped.then_some(HealthStatus::Unhealthy);
                        self.report_proxy(health, None).await;
                    }
                    Err(_) => proxy_rx = None,
                },
                _ = until_unix(self.certs.due()), if self.proxy.is_some() => self.rotate().await,
                r = self.views.changed() => {
                    if r.is_err() {
                        return End::Agent;
                    }
                    let (v, version) = self.views.borrow_and_update().clone();
                    if v.desired_status == DesiredStatus::Stopped {
                        return End::Desired;
                    }
                    self.follow_filter(v.firewall.as_ref()).await;
                    self.follow_view(v.service_connect, version).await;
                }
            }
        }
    }

    /// Brings the packet filter in line with a new view's security groups: members
    /// in place, rules replaced when they changed, nothing when nothing did (a failure
    /// is logged and what was applied stays; the next view tries again).
    async fn follow_filter(&mut self, fw: Option<&FirewallView>) {
        if let Err(e) = self.filter.apply(&self.net, fw).await {
            warn!(task = %self.id, error = %e, "updating the task's security groups");
        }
    }

    /// Brings the hosts file, the proxy and the nat rules in line with the Service
    /// Connect part of a new view (a failure is logged; the next view tries again).
    async fn follow_view(&mut self, sc: Option<ServiceConnectView>, version: u64) {
        if sc == self.service_connect && version <= self.sent_version {
            return;
        }
        if let (Some(new), true) = (&sc, self.proxy.is_some()) {
            if sc != self.service_connect {
                if let Err(e) = write_aliases(&self.net, &mut self.vips, new) {
                    warn!(task = %self.id, error = %e, "updating the hosts file");
                }
            }
            if let Err(e) = self.refresh_certificates(new).await {
                warn!(task = %self.id, error = %e, "TLS certificates for a new view");
            }
            if let Err(e) = self.push_snapshot(new, version).await {
                warn!(task = %self.id, error = %e, "snapshot not applied");
            }
            if let Err(e) = self.nat.apply(&self.net, Some(new), &self.vips).await {
                warn!(task = %self.id, error = %e, "updating the task's nat rules");
            }
        }
        self.service_connect = sc;
    }

    /// The stopping phases: DEACTIVATING (drain), STOPPING (the application stops),
    /// DEPROVISIONING (the proxy stops). Returns the stoppedReason to report.
    async fn stop(&mut self, app: &R::Task, end: End) -> Option<String> {
        let reason = match &end {
            End::Desired => None,
            End::Agent => Some("berth agent stopped".to_string()),
            End::Exited(r) => Some(r.clone()),
        };
        self.rep.status(LastStatus::Deactivating, None).await;
        self.drain(&end).await;
        self.rep.status(LastStatus::Stopping, None).await;
        let why = reason.clone().unwrap_or_else(|| "Task stopped".into());
        let final_state = app.stop(&why).await;
        self.rep.containers(&final_state, None, self.net.ip()).await;
        self.rep.status(LastStatus::Deprovisioning, None).await;
        if let Some(p) = &self.proxy {
            let last = p.handle.stop(&why).await;
            self.rep.proxy(Some(&last), None, None, self.net.ip()).await;
        }
        reason
    }

    /// Lets the proxy drain; a task that serves and was asked to stop keeps serving for
    /// the drain time first.
    async fn drain(&self, end: &End) {
        let Some(proxy) = &self.proxy else {
            return;
        };
        let serves = self
            .service_connect
            .as_ref()
            .is_some_and(|s| !s.ingress.is_empty());
        if serves && matches!(end, End::Desired) {
            // The endpoint was withdrawn in the write that asked for the stop; give
            // every client proxy time to apply that and in-flight requests to finish.
            tokio::time::sleep(self.shared.config.drain).await;
        }
        let _ = proxy.admin.drain().await;
    }

    /// The logs are shipped, the network goes, then the task is reported STOPPED with
    /// `result`'s reason.
    async fn teardown(mut self, result: Result<Option<String>>) {
        if let Some(shippers) = self.shippers.take() {
            shippers.finish().await;
        }
        if let Some((server, _)) = self.metadata.take() {
            server.shutdown().await;
        }
        self.roles = None;
        self.close_host_ports();
        if let Err(e) = self.shared.runtime.destroy_network(&self.net).await {
            warn!(task = %self.id, error = %e, "removing the task network");
        }
        let _ = std::fs::remove_dir_all(proxy_dir(&self.id));
        let reason = match result {
            Ok(r) => r,
            Err(e) => Some(truncate(&e.to_string(), 1024)),
        };
        self.rep
            .status(LastStatus::Stopped, reason.as_deref())
            .await;
        info!(task = %self.id, ?reason, "task stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_do_not_see_the_agents_directories() {
        let config = crate::AgentConfig {
            server: String::new(),
            cluster: String::new(),
            account: String::new(),
            region: String::new(),
            token: None,
            server_ca: None,
            state_dir: PathBuf::from("/var/lib/berth-test-agent"),
            bridge: berth_tasknet::BridgeConfig::default(),
            image_map: Arc::new(berth_runtime::ImageMap::builtin()),
            proxy_command: vec![],
            proxy_workers: 1,
            drain: Duration::from_secs(1),
            cpu: 1024,
            memory_mib: 1024,
            security_groups: vec![],
            subnet: None,
            dynamic_host_ports: crate::ports::DEFAULT_DYNAMIC_RANGE,
        };
        // The bridge's state directory is under /run/berth already.
        assert_eq!(
            hidden_paths(&config),
            vec![
                PathBuf::from("/run/berth"),
                PathBuf::from("/var/lib/berth-test-agent")
            ]
        );
        assert!(proxy_dir("t").starts_with("/run/berth"));
        // Only the proxy's definition gets a host directory (its socket's); the
        // application's come from JSON, which cannot give one.
        let view_specs = ContainerSpec::list_from_json(&json!([
            {"name": "app", "image": "busybox", "hostDirs": ["/run/berth"]}
        ]))
        .unwrap();
        assert!(view_specs[0].host_dirs.is_empty());
    }

    #[test]
    fn the_proxy_container_shows_the_image_the_proxy_runs_from() {
        assert_eq!(berth_agent_view::PROXY_IMAGE, PROXY_IMAGE);
    }

    fn reporter(proxy_name: Option<&str>) -> Reporter {
        Reporter {
            client: ServerClient::new(
                "http://127.0.0.1:9",
                crate::client::Credentials {
                    access_key_id: "123456789012".into(),
                    secret_access_key: "test".into(),
                },
                "us-east-1",
            )
            .unwrap(),
            cluster: "c".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:task/c/t".into(),
            eni: Some("eni".into()),
            containers: BTreeMap::new(),
            health: HealthStatus::Unknown,
            checked: proxy_name.iter().map(|n| n.to_string()).collect(),
            proxy_name: proxy_name.map(str::to_string),
            bindings: BTreeMap::new(),
        }
    }

    fn container(name: &str, status: ContainerStatus, health: HealthStatus) -> ContainerState {
        ContainerState {
            name: name.into(),
            status,
            exit_code: None,
            health,
            reason: None,
            pid: Some(42),
        }
    }

    #[test]
    fn a_bridge_task_reports_its_host_ports_and_its_own_address() {
        let name = "ecs-service-connect-fphC624";
        let mut rep = reporter(Some(name));
        rep.eni = None;
        let binding = |owner, container_port, host_port| Binding {
            owner,
            protocol: berth_tasknet::Protocol::Tcp,
            container_port,
            host_port,
            inside: container_port,
        };
        rep.set_bindings(&[
            binding(Owner::Container("web".into()), 80, 49153),
            binding(Owner::Proxy, 80, 49154),
        ]);
        let ip = Ipv4Addr::new(10, 213, 0, 7);
        let running = |n: &str| container(n, ContainerStatus::Running, HealthStatus::Unknown);
        let ch = rep.change("web", &running("web"), ip).unwrap();
        assert_eq!(
            ch["networkBindings"],
            json!([{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 49153, "protocol": "tcp"}])
        );
        assert_eq!(
            ch["networkInterfaces"],
            json!([{"privateIpv4Address": "10.213.0.7"}])
        );
        let ch = rep.change(name, &running(PROXY_CONTAINER), ip).unwrap();
        assert_eq!(ch["networkBindings"][0]["hostPort"], 49154);
        let ch = rep.change("sidecar", &running("sidecar"), ip).unwrap();
        assert_eq!(ch["networkBindings"], json!([]));
        // An awsvpc task's containers show their ENI instead.
        let mut awsvpc = reporter(None);
        let ch = awsvpc.change("web", &running("web"), ip).unwrap();
        assert_eq!(ch.get("networkBindings"), None);
    }

    #[test]
    fn the_proxy_is_reported_under_its_ecs_name_with_its_health() {
        let name = "ecs-service-connect-fphC624";
        let mut rep = reporter(Some(name));
        let ip = Ipv4Addr::new(10, 0, 0, 2);
        let proxy = container(
            PROXY_CONTAINER,
            ContainerStatus::Running,
            HealthStatus::Healthy,
        );
        let ch = rep.change(name, &proxy, ip).unwrap();
        assert_eq!(
            ch,
            json!({"containerName": name, "status": "RUNNING", "healthStatus": "HEALTHY", "runtimeId": "42"})
        );
        assert_eq!(rep.change(name, &proxy, ip), None, "nothing new");
        // An application container without a health check reports no health.
        let app = container("web", ContainerStatus::Running, HealthStatus::Unknown);
        let ch = rep.change("web", &app, ip).unwrap();
        assert_eq!(ch.get("healthStatus"), None);
        let stopped = ContainerState {
            exit_code: Some(0),
            ..container(
                PROXY_CONTAINER,
                ContainerStatus::Stopped,
                HealthStatus::Healthy,
            )
        };
        let ch = rep.change(name, &stopped, ip).unwrap();
        assert_eq!(
            (&ch["status"], &ch["exitCode"]),
            (&json!("STOPPED"), &json!(0))
        );
    }
}
