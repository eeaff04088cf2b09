//! `berth agent` and `berth logs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use berth_runtime::{ImageMap, ProcessRuntime};
use berth_tasknet::{BridgeConfig, Ipv4Subnet};

/// Which runtime runs the containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// Processes in the task's Linux namespaces (no Docker needed).
    Process,
    /// Docker containers through the Engine API (images built locally: `berth image`).
    Docker,
}

/// `berth agent`.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// The berth server.
    #[arg(long, env = "BERTH_SERVER", default_value = "http://127.0.0.1:4566")]
    pub server: String,
    /// The cluster to join.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// The region of the cluster.
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    pub region: String,
    /// The account of the cluster (12 digits).
    #[arg(long, default_value = "123456789012")]
    pub account: String,
    /// A join token (`berth token create` on the server's host), needed the first time:
    /// the agent then keeps its own credential in its state directory.
    #[arg(long, env = "BERTH_JOIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the join token (instead of --token).
    #[arg(long, conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The CA certificate (PEM) of an https:// server (`berth server` keeps the one it
    /// makes as <data dir>/api-ca.pem).
    #[arg(long, env = "BERTH_SERVER_CA")]
    pub server_ca: Option<PathBuf>,
    /// The agent's files: instance identity, task logs, proxy sockets.
    #[arg(long, env = "BERTH_AGENT_DIR", default_value = "berth-data/agent")]
    pub state_dir: PathBuf,
    /// How containers run.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Process)]
    pub runtime: RuntimeKind,
    #[command(flatten)]
    pub host: HostArgs,
}

/// What `berth agent` and `berth up` share: how tasks are networked and run.
#[derive(clap::Args, Debug, Clone)]
pub struct HostArgs {
    /// The task bridge's interface name.
    #[arg(long, default_value = berth_tasknet::DEFAULT_BRIDGE)]
    pub bridge: String,
    /// The task subnet (the bridge gets its first address).
    #[arg(long, default_value = "10.213.0.0/16")]
    pub subnet: String,
    /// An image map file (JSON), in front of the built-in one.
    #[arg(long)]
    pub image_map: Option<PathBuf>,
    /// Seconds a stopping task keeps serving in-flight requests after its endpoint is
    /// withdrawn.
    #[arg(long, default_value_t = 20)]
    pub drain_seconds: u64,
    /// Worker threads of each task's proxy.
    #[arg(long, default_value_t = 1)]
    pub proxy_workers: u16,
    /// The instance's security groups (ids, comma-separated): they judge its
    /// bridge-mode tasks, as on ECS. Default: its VPC's default group.
    #[arg(long, value_delimiter = ',')]
    pub security_groups: Vec<String>,
    /// The instance's VPC subnet (an EC2 subnet id). Default: the default VPC's first.
    #[arg(long)]
    pub vpc_subnet: Option<String>,
    /// Where bridge-mode tasks' `hostPort: 0` port mappings get their host ports
    /// (first-last), as ECS's agent reads ECS_DYNAMIC_HOST_PORT_RANGE.
    #[arg(
        long,
        env = "ECS_DYNAMIC_HOST_PORT_RANGE",
        default_value = "49153-65535"
    )]
    pub dynamic_host_port_range: String,
}

fn parse_subnet(s: &str) -> anyhow::Result<Ipv4Subnet> {
    let (ip, prefix) = s
        .split_once('/')
        .with_context(|| format!("--subnet '{s}': expected a.b.c.d/prefix"))?;
    let ip = ip
        .parse()
        .with_context(|| format!("--subnet '{s}': bad address"))?;
    let prefix = prefix
        .parse()
        .with_context(|| format!("--subnet '{s}': bad prefix"))?;
    Ipv4Subnet::new(ip, prefix).with_context(|| format!("--subnet '{s}'"))
}

/// An agent's configuration from the host flags; `server`, `cluster`, `account`,
/// `region` and `state_dir` are the caller's to set.
pub fn host_config(h: &HostArgs) -> anyhow::Result<berth_agent::AgentConfig> {
    let exe = std::env::current_exe().context("finding the berth binary")?;
    // The demo applications' images run this very binary.
    let mut image_map = crate::demo_cmd::demo_image_map(&exe).then(ImageMap::builtin());
    if let Some(p) = &h.image_map {
        image_map = ImageMap::load(p)
            .with_context(|| format!("--image-map {}", p.display()))?
            .then(image_map);
    }
    let (cpu, memory_mib) = berth_agent::host_resources();
    Ok(berth_agent::AgentConfig {
        server: String::new(),
        cluster: String::new(),
        account: String::new(),
        region: String::new(),
        token: None,
        server_ca: None,
        bridge: BridgeConfig {
            name: h.bridge.clone(),
            subnet: parse_subnet(&h.subnet)?,
            // Shared by every agent of the machine: one IPAM per bridge, under a lock.
            state_dir: std::path::PathBuf::from(berth_tasknet::DEFAULT_STATE_DIR),
            ..Default::default()
        },
        state_dir: PathBuf::new(),
        image_map: Arc::new(image_map),
        // The process runtime's; Docker's is set with the runtime (docker_proxy_command).
        proxy_command: berth_agent::proxy_command(&exe),
        proxy_workers: h.proxy_workers,
        drain: Duration::from_secs(h.drain_seconds),
        cpu,
        memory_mib,
        security_groups: h.security_groups.clone(),
        subnet: h.vpc_subnet.clone(),
        dynamic_host_ports: berth_agent::ports::PortRange::parse(&h.dynamic_host_port_range)
            .map_err(|e| anyhow::anyhow!("--dynamic-host-port-range: {e}"))?,
    })
}

/// The agent's configuration from its flags.
pub fn agent_config(a: &AgentArgs) -> anyhow::Result<berth_agent::AgentConfig> {
    let state_dir = std::path::absolute(&a.state_dir).context("the state directory")?;
    let token = match &a.token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("--token-file {}", p.display()))?
                .trim()
                .to_string(),
        ),
        None => a.token.clone(),
    };
    let server_ca = match &a.server_ca {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("--server-ca {}", p.display()))?),
        None => None,
    };
    Ok(berth_agent::AgentConfig {
        server: a.server.clone(),
        token,
        server_ca,
        cluster: a.cluster.rsplit('/').next().unwrap_or_default().to_string(),
        account: a.account.clone(),
        region: a.region.clone(),
        state_dir,
        ..host_config(&a.host)?
    })
}

/// The image spec of the seeds' nginx.
const NGINX_SPEC: &str = include_str!("../../docker/images/nginx.json");

/// Connects to the Docker Engine and makes sure the berth image (the proxy's and the
/// holders'), the demo applications' images and the seeds' nginx image are there.
pub async fn docker_runtime() -> anyhow::Result<berth_docker::DockerRuntime> {
    let docker = berth_docker::DockerRuntime::connect()
        .await
        .context("connecting to the Docker Engine")?;
    prepare_docker(docker).await
}

/// How a task's proxy starts in the berth image [`prepare_docker`] builds.
pub fn docker_proxy_command() -> anyhow::Result<Vec<String>> {
    let exe = std::env::current_exe().context("finding the berth binary")?;
    Ok(berth_docker::proxy_command_in_image(&exe))
}

/// [`docker_runtime`] on an engine already connected.
pub async fn prepare_docker(
    docker: berth_docker::DockerRuntime,
) -> anyhow::Result<berth_docker::DockerRuntime> {
    let (image, built) = docker
        .ensure_berth_image(None)
        .await
        .context("building the berth image")?;
    if built {
        println!("built the berth image {image}");
    }
    // The seeds' nginx image is Debian's nginx, when the host has it.
    let nginx = berth_docker::ImageSpec::from_json(NGINX_SPEC, "crates/docker/images/nginx.json")?;
    if Path::new("/usr/sbin/nginx").exists()
        && docker.docker().inspect_image(&nginx.tag).await.is_err()
    {
        berth_docker::build_image(docker.docker(), &nginx)
            .await
            .with_context(|| format!("building {}", nginx.tag))?;
        println!("built the image {} (Debian's nginx)", nginx.tag);
    }
    for tag in crate::demo_cmd::ensure_demo_images(&docker)
        .await
        .context("building the demo applications' images")?
    {
        println!("built the demo image {tag}");
    }
    Ok(docker)
}

/// Runs `berth agent` until SIGINT or SIGTERM.
pub async fn agent(a: AgentArgs) -> anyhow::Result<()> {
    let mut config = agent_config(&a)?;
    println!(
        "berth agent: cluster {} at {}, state in {}",
        config.cluster,
        config.server,
        config.state_dir.display()
    );
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    match a.runtime {
        RuntimeKind::Process => berth_agent::run(config, ProcessRuntime, shutdown).await?,
        RuntimeKind::Docker => {
            let docker = docker_runtime().await?;
            config.proxy_command = docker_proxy_command()?;
            berth_agent::run(config, docker, shutdown).await?
        }
    }
    Ok(())
}

/// `berth logs`.
#[derive(clap::Args, Debug, Clone)]
pub struct LogsArgs {
    /// The task: its id, a unique prefix of it, or its ARN.
    pub task: String,
    /// Only this container (`ecs-service-connect` is the proxy).
    #[arg(long)]
    pub container: Option<String>,
    /// The state directory of the `berth agent` that ran it.
    #[arg(long, env = "BERTH_AGENT_DIR", default_value = "berth-data/agent")]
    pub state_dir: PathBuf,
    /// The data directory of the `berth up` that ran it (its agents' state directories
    /// are `agents/<account>/<region>/<cluster>` inside).
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "berth-data")]
    pub data_dir: PathBuf,
    /// Where CloudWatch Logs is, for containers with the awslogs driver (their output
    /// is read from there; the agent's file when it cannot be reached).
    #[command(flatten)]
    pub api: crate::status_cmd::ApiArgs,
}

/// Subdirectories of `dir`.
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// Prints a task's container logs.
pub async fn logs(a: LogsArgs) -> anyhow::Result<()> {
    let want = a.task.rsplit('/').next().unwrap_or_default();
    // `berth agent`'s tasks, and those of every agent of `berth up`.
    let mut agents = vec![a.state_dir.clone()];
    for account in subdirs(&a.data_dir.join("agents")) {
        for region in subdirs(&account) {
            agents.extend(subdirs(&region));
        }
    }
    let mut found: Vec<PathBuf> = agents
        .iter()
        .flat_map(|d| subdirs(&d.join("tasks")))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(want))
        })
        .collect();
    let dir = match found.len() {
        0 => anyhow::bail!(
            "no task '{want}' in {} or under {}",
            a.state_dir.join("tasks").display(),
            a.data_dir.join("agents").display()
        ),
        1 => found.remove(0),
        n => anyhow::bail!("'{want}' names {n} tasks: give more of the id"),
    };
    let logs = dir.join("logs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
        .with_context(|| format!("reading {}", logs.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let shipped = shipped_to(&logs);
    let mut printed = false;
    for f in files {
        let name = f
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if a.container.as_deref().is_some_and(|c| c != name) {
            continue;
        }
        if a.container.is_none() {
            println!("==> {name} <==");
        }
        match shipped.get(&name) {
            Some(to) => print_cloudwatch(&a.api, to, &f).await?,
            None => print_file(&f)?,
        }
        printed = true;
    }
    if !printed {
        anyhow::bail!(
            "task {} has no log of container '{}'",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            a.container.unwrap_or_default()
        );
    }
    Ok(())
}

/// Where the task's awslogs containers' output went (none: every container's is in its
/// file only).
fn shipped_to(logs: &Path) -> std::collections::BTreeMap<String, berth_agent::awslogs::ShippedTo> {
    std::fs::read(logs.join(berth_agent::awslogs::SHIPPED_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// A container's output as CloudWatch Logs has it: every event of its stream, oldest
/// first; the agent's file when CloudWatch Logs cannot be read.
async fn print_cloudwatch(
    api: &crate::status_cmd::ApiArgs,
    to: &berth_agent::awslogs::ShippedTo,
    file: &Path,
) -> anyhow::Result<()> {
    let read = async {
        let client = api.client()?.for_region(&to.region);
        let mut token: Option<String> = None;
        let mut lines = Vec::new();
        loop {
            let mut input = serde_json::json!({"logGroupName": to.group, "logStreamName": to.stream, "startFromHead": true});
            if let Some(t) = &token {
                input["nextToken"] = serde_json::json!(t);
            }
            let out: GetLogEventsOutput = serde_json::from_value(
                client
                    .call("Logs_20140328", "logs", "GetLogEvents", &input)
                    .await?,
            )?;
            lines.extend(out.events.into_iter().map(|e| e.message));
            if out.next_forward_token.is_none() || out.next_forward_token == token {
                return anyhow::Ok(lines);
            }
            token = out.next_forward_token;
        }
    };
    match read.await {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            Ok(())
        }
        Err(e) => {
            eprintln!(
                "(CloudWatch Logs {} / {} could not be read: {e}; the agent's file follows)",
                to.group, to.stream
            );
            print_file(file)
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEventsOutput {
    #[serde(default)]
    events: Vec<LogEvent>,
    next_forward_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct LogEvent {
    message: String,
}

fn print_file(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    use std::io::Write;
    std::io::stdout().write_all(&text)?;
    Ok(())
}
