//! One task on this instance, from PROVISIONING to STOPPED.
//!
//! ```text
//! PROVISIONING  network (namespace, veth, address) ........ report PENDING + address
//! PENDING       proxy started in the namespace, first snapshot, /ready  (Service Connect)
//! ACTIVATING    application containers started ............ report RUNNING once every
//!                                                           essential container runs
//! RUNNING       container and health changes reported; new snapshots to the proxy
//! DEACTIVATING  (desired STOPPED: the server withdrew the endpoints in that same
//!               write) wait the drain time, the proxy drains
//! STOPPING      containers stopped (SIGTERM, SIGKILL after stopTimeout)
//! DEPROVISIONING proxy stopped, network removed ........... report STOPPED
//! ```

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{
    ContainerSpec, ContainerStatus, HealthStatus, RunningTask, Runtime, TaskRuntimeConfig,
    TaskState, TaskStatus, PROXY_IMAGE,
};
use berth_tasknet::{TaskNetConfig, TaskNetwork, VipAllocator};
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::client::{AdminClient, ServerClient};
use crate::error::{Error, Result};
use crate::view::{
    alias_names, ingress_listen, snapshot, ServiceConnectView, TaskView, EGRESS_PORT_BASE,
};
use crate::Shared;

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

/// Reports of one task, in order.
struct Reporter {
    client: ServerClient,
    cluster: String,
    arn: String,
    eni: Option<String>,
    /// What was last reported per container: (status, health, exit code).
    containers: BTreeMap<String, (String, String, Option<i32>)>,
    health: String,
    /// Containers with a health check (only they report a `healthStatus`).
    checked: Vec<String>,
}

impl Reporter {
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

    async fn status(&self, status: &str, reason: Option<&str>) {
        let mut v = json!({"status": status});
        if let Some(r) = reason {
            v["reason"] = json!(r);
        }
        if status == "STOPPED" {
            v["executionStoppedAt"] = json!(berth_now());
        }
        self.send(v).await;
    }

    async fn address(&self, ip: Ipv4Addr) {
        let details = json!([{"name": "privateIPv4Address", "value": ip.to_string()}]);
        let v = match &self.eni {
            Some(eni) => json!({"status": "PENDING", "attachments": [{
                "attachmentArn": eni, "status": "ATTACHED", "details": details}]}),
            // No awsvpc attachment: the address goes in the containers' network bindings.
            None => json!({"status": "PENDING"}),
        };
        self.send(v).await;
    }

    /// Reports what changed in the containers' state (and the task's health); `status`
    /// moves the task too.
    async fn containers(&mut self, state: &TaskState, status: Option<&str>, ip: Ipv4Addr) {
        let mut changes = Vec::new();
        for c in &state.containers {
            let st = match c.status {
                ContainerStatus::Pending => "PENDING",
                ContainerStatus::Running => "RUNNING",
                ContainerStatus::Stopped => "STOPPED",
            };
            let health = health_name(c.health).to_string();
            let now = (st.to_string(), health.clone(), c.exit_code);
            if self.containers.get(&c.name) == Some(&now) {
                continue;
            }
            self.containers.insert(c.name.clone(), now);
            let mut ch = json!({"containerName": c.name, "status": st});
            if self.checked.contains(&c.name) {
                ch["healthStatus"] = json!(health);
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
            if self.eni.is_none() && st == "RUNNING" {
                ch["networkBindings"] = json!([{"bindIP": ip.to_string(), "protocol": "tcp"}]);
            }
            changes.push(ch);
        }
        let health = health_name(state.task_health).to_string();
        if changes.is_empty() && status.is_none() && health == self.health {
            return;
        }
        self.health = health.clone();
        let mut v = json!({"containers": changes, "healthStatus": health});
        if let Some(s) = status {
            v["status"] = json!(s);
        }
        self.send(v).await;
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

fn health_name(h: HealthStatus) -> &'static str {
    match h {
        HealthStatus::Unknown => "UNKNOWN",
        HealthStatus::Healthy => "HEALTHY",
        HealthStatus::Unhealthy => "UNHEALTHY",
    }
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
    applied: Option<String>,
}

impl Nat {
    fn egress_port(&self, dns: &str, port: u16) -> Option<u16> {
        self.egress_ports.get(&format!("{dns}:{port}")).copied()
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
        sc: &ServiceConnectView,
        vips: &VipAllocator,
    ) -> Result<()> {
        let mut rules = String::from("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
        for (i, g) in sc.ingress.iter().enumerate() {
            if let (listen, Some(from)) = ingress_listen(net.ip(), i, g) {
                rules.push_str(&format!(
                    "-A PREROUTING -d {}/32 -p tcp -m tcp --dport {from} -j REDIRECT --to-ports {}\n",
                    net.ip(),
                    listen.port()
                ));
            }
        }
        for e in &sc.egress {
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
        let mut cmd = tokio::process::Command::from(net.command(iptables_restore()));
        cmd.args(["-w", "5"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io("run iptables-restore in the task namespace", e))?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            stdin
                .write_all(rules.as_bytes())
                .await
                .map_err(|e| Error::io("write to iptables-restore", e))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| Error::io("wait for iptables-restore", e))?;
        if !out.status.success() {
            return Err(Error::Proxy(format!(
                "ResourceInitializationError: iptables-restore in the task namespace: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        self.applied = Some(rules);
        Ok(())
    }
}

fn iptables_restore() -> PathBuf {
    [
        "/usr/sbin/iptables-restore",
        "/sbin/iptables-restore",
        "/usr/bin/iptables-restore",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .unwrap_or_else(|| PathBuf::from("iptables-restore"))
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

/// Why the running phase ended.
enum End {
    /// The server wants it stopped.
    Desired,
    /// The agent is shutting down.
    Agent,
    /// It stopped by itself (an essential container exited): the reason.
    Exited(String),
}

/// Runs one task until it is STOPPED; `views` carries the task's newest view and the
/// view's revision (closed: the agent stops).
pub(crate) async fn run<R: Runtime>(
    shared: Arc<Shared<R>>,
    mut views: watch::Receiver<(TaskView, u64)>,
) {
    let (task, _) = views.borrow_and_update().clone();
    let id = task.id().to_string();
    let mut rep = Reporter {
        client: shared.client.clone(),
        cluster: shared.config.cluster.clone(),
        arn: task.task_arn.clone(),
        eni: task.eni_attachment(),
        containers: BTreeMap::new(),
        health: "UNKNOWN".into(),
        checked: Vec::new(),
    };
    info!(task = %id, "starting task");
    let t0 = std::time::Instant::now();
    // The task's directory first: it marks the task as this agent's, for the cleanup
    // after a crash (see `cleanup::own_tasks`).
    let dir = task_dir(&shared.config.state_dir, &id);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        warn!(task = %id, error = %e, "creating the task directory");
        rep.status(
            "STOPPED",
            Some(&truncate(&format!("ResourceInitializationError: {e}"), 255)),
        )
        .await;
        return;
    }
    let net = match shared
        .runtime
        .create_network(&shared.bridge, &id, &TaskNetConfig::default())
        .await
    {
        Ok(n) => n,
        Err(e) => {
            warn!(task = %id, error = %e, "task network failed");
            rep.status("STOPPED", Some(&truncate(&e.to_string(), 255)))
                .await;
            return;
        }
    };
    tracing::debug!(task = %id, ms = t0.elapsed().as_millis() as u64, "network ready");
    rep.address(net.ip()).await;
    let result = run_in_network(&shared, &mut views, &mut rep, &net, &task, t0).await;
    if let Err(e) = shared.runtime.destroy_network(&net).await {
        warn!(task = %id, error = %e, "removing the task network");
    }
    let _ = std::fs::remove_dir_all(proxy_dir(&id));
    let reason = match result {
        Ok(r) => r,
        Err(e) => Some(truncate(&e.to_string(), 255)),
    };
    rep.status("STOPPED", reason.as_deref()).await;
    info!(task = %id, ?reason, "task stopped");
}

/// Everything inside the task's network; returns the stoppedReason to report (the
/// server's own when it asked for the stop).
async fn run_in_network<R: Runtime>(
    shared: &Arc<Shared<R>>,
    views: &mut watch::Receiver<(TaskView, u64)>,
    rep: &mut Reporter,
    net: &Arc<TaskNetwork>,
    task: &TaskView,
    t0: std::time::Instant,
) -> Result<Option<String>> {
    let id = task.id().to_string();
    let dir = task_dir(&shared.config.state_dir, &id);
    let logs = dir.join("logs");
    let proxy_dir = proxy_dir(&id);
    std::fs::create_dir_all(&proxy_dir)
        .map_err(|e| Error::io(format!("create {}", proxy_dir.display()), e))?;
    let specs = container_specs(task)?;
    rep.checked = specs
        .iter()
        .filter(|s| s.health_check.is_some())
        .map(|s| s.name.clone())
        .collect();
    let app_config = TaskRuntimeConfig {
        log_dir: logs.clone(),
        image_map: shared.image_map.clone(),
        secrets: shared.secrets.clone(),
        extra_env: vec![("ECS_TASK_ARN".into(), task.task_arn.clone())],
    };

    // The proxy first: the application starts only once it is ready.
    let mut vips = VipAllocator::new();
    let mut nat = Nat::default();
    let mut proxy = None;
    let mut sent_version = 0u64;
    let mut current_sc = task.service_connect.clone();
    if let Some(sc) = &current_sc {
        write_aliases(net, &mut vips, sc)?;
        let socket = proxy_dir.join("admin.sock");
        let _ = std::fs::remove_file(&socket);
        let mut spec = ContainerSpec::new(PROXY_CONTAINER, PROXY_IMAGE);
        spec.entry_point = Some(shared.config.proxy_command.clone());
        spec.command = Some(vec![
            "--admin".into(),
            format!("unix:{}", socket.display()),
            "--workers".into(),
            shared.config.proxy_workers.to_string(),
            "--drain-seconds".into(),
            shared.config.drain.as_secs().max(1).to_string(),
        ]);
        spec.host_dirs = vec![proxy_dir.clone()];
        spec.stop_timeout = Duration::from_secs(5);
        spec.environment = vec![("BERTH_LOG".into(), "info".into())];
        let proxy_config = TaskRuntimeConfig {
            image_map: shared.proxy_image_map.clone(),
            ..app_config.clone()
        };
        let handle = shared
            .runtime
            .start_task(net.clone(), vec![spec], &proxy_config)
            .await?;
        let admin = AdminClient::new(&socket);
        let ready = async {
            admin.wait_answering(Duration::from_secs(10)).await?;
            let version = views.borrow().1.max(1);
            nat.allocate(sc);
            let snap = snapshot(
                sc,
                version,
                net.ip(),
                |n| vips.get(n),
                |n, p| nat.egress_port(n, p),
            );
            admin.apply(&snap).await?;
            sent_version = version;
            // Listeners first, then the rules that send traffic to them.
            nat.apply(net, sc, &vips).await?;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !admin.ready().await {
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::Proxy("the proxy did not become ready".into()));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = ready {
            handle.stop("proxy failed").await;
            return Err(e);
        }
        proxy = Some((handle, admin));
        tracing::debug!(task = %id, ms = t0.elapsed().as_millis() as u64, "proxy ready");
    }
    rep.status("ACTIVATING", None).await;

    let app = match shared
        .runtime
        .start_task(net.clone(), specs.clone(), &app_config)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            if let Some((p, _)) = &proxy {
                p.stop("application failed to start").await;
            }
            return Err(e.into());
        }
    };
    let mut state_rx = app.state();
    let mut running_reported = false;
    let end = loop {
        let state = state_rx.borrow_and_update().clone();
        let status = if !running_reported && essentials_running(&specs, &state) {
            running_reported = true;
            info!(task = %id, ms = t0.elapsed().as_millis() as u64, "task running");
            Some("RUNNING")
        } else {
            None
        };
        rep.containers(&state, status, net.ip()).await;
        if matches!(state.status, TaskStatus::Stopping | TaskStatus::Stopped) {
            break End::Exited(
                state
                    .stopped_reason
                    .clone()
                    .unwrap_or_else(|| "Task stopped".into()),
            );
        }
        tokio::select! {
            r = state_rx.changed() => if r.is_err() {
                break End::Exited("the runtime lost the task".into());
            },
            r = views.changed() => {
                if r.is_err() {
                    break End::Agent;
                }
                let (v, version) = views.borrow_and_update().clone();
                if v.desired_status == "STOPPED" {
                    break End::Desired;
                }
                if v.service_connect != current_sc || version > sent_version {
                    if let (Some(sc), Some((_, admin))) = (&v.service_connect, &proxy) {
                        if v.service_connect != current_sc {
                            if let Err(e) = write_aliases(net, &mut vips, sc) {
                                warn!(task = %id, error = %e, "updating the hosts file");
                            }
                        }
                        // New aliases get their ports before the snapshot names them.
                        nat.allocate(sc);
                        let snap = snapshot(sc, version, net.ip(), |n| vips.get(n), |n, p| nat.egress_port(n, p));
                        match admin.apply(&snap).await {
                            Ok(()) => sent_version = version,
                            Err(e) => warn!(task = %id, error = %e, "snapshot not applied"),
                        }
                        if let Err(e) = nat.apply(net, sc, &vips).await {
                            warn!(task = %id, error = %e, "updating the task's nat rules");
                        }
                    }
                    current_sc = v.service_connect.clone();
                }
            }
        }
    };

    // Stopping.
    let reason = match &end {
        End::Desired => None,
        End::Agent => Some("berth agent stopped".to_string()),
        End::Exited(r) => Some(r.clone()),
    };
    rep.status("DEACTIVATING", None).await;
    if let Some((_, admin)) = &proxy {
        let serves = current_sc.as_ref().is_some_and(|s| !s.ingress.is_empty());
        if serves && matches!(end, End::Desired) {
            // The endpoint was withdrawn in the write that asked for the stop; give
            // every client proxy time to apply that and in-flight requests to finish.
            tokio::time::sleep(shared.config.drain).await;
        }
        let _ = admin.drain().await;
    }
    rep.status("STOPPING", None).await;
    let why = reason.clone().unwrap_or_else(|| "Task stopped".into());
    let final_state = app.stop(&why).await;
    rep.containers(&final_state, None, net.ip()).await;
    rep.status("DEPROVISIONING", None).await;
    if let Some((p, _)) = &proxy {
        p.stop(&why).await;
    }
    Ok(reason)
}
