//! `berth agent` and `berth logs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use berth_runtime::{ImageMap, ProcessRuntime, SecretStore, DEFAULT_SECRETS_PATH};
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
    /// The agent's files: instance identity, task logs, proxy sockets.
    #[arg(long, env = "BERTH_AGENT_DIR", default_value = "berth-data/agent")]
    pub state_dir: PathBuf,
    /// How containers run.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Process)]
    pub runtime: RuntimeKind,
    /// The task bridge's interface name.
    #[arg(long, default_value = berth_tasknet::DEFAULT_BRIDGE)]
    pub bridge: String,
    /// The task subnet (the bridge gets its first address).
    #[arg(long, default_value = "10.213.0.0/16")]
    pub subnet: String,
    /// An image map file (JSON), in front of the built-in one.
    #[arg(long)]
    pub image_map: Option<PathBuf>,
    /// The secrets file that `secrets[].valueFrom` resolve from.
    #[arg(long, default_value = DEFAULT_SECRETS_PATH)]
    pub secrets: PathBuf,
    /// Seconds a stopping task keeps serving in-flight requests after its endpoint is
    /// withdrawn.
    #[arg(long, default_value_t = 20)]
    pub drain_seconds: u64,
    /// Worker threads of each task's proxy.
    #[arg(long, default_value_t = 1)]
    pub proxy_workers: u16,
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

/// The agent's configuration from its flags.
pub fn agent_config(a: &AgentArgs) -> anyhow::Result<berth_agent::AgentConfig> {
    let mut image_map = ImageMap::builtin();
    if let Some(p) = &a.image_map {
        image_map = ImageMap::load(p)
            .with_context(|| format!("--image-map {}", p.display()))?
            .then(image_map);
    }
    let secrets = SecretStore::load(&a.secrets)
        .with_context(|| format!("--secrets {}", a.secrets.display()))?;
    let (cpu, memory_mib) = berth_agent::host_resources();
    let state_dir = std::path::absolute(&a.state_dir).context("the state directory")?;
    Ok(berth_agent::AgentConfig {
        server: a.server.clone(),
        cluster: a.cluster.rsplit('/').next().unwrap_or_default().to_string(),
        account: a.account.clone(),
        region: a.region.clone(),
        bridge: BridgeConfig {
            name: a.bridge.clone(),
            subnet: parse_subnet(&a.subnet)?,
            // Shared by every agent of the machine: one IPAM per bridge, under a lock.
            state_dir: std::path::PathBuf::from(berth_tasknet::DEFAULT_STATE_DIR),
            ..Default::default()
        },
        state_dir,
        image_map: Arc::new(image_map),
        secrets: Arc::new(secrets),
        proxy_program: std::env::current_exe().context("finding the berth binary")?,
        proxy_workers: a.proxy_workers,
        drain: Duration::from_secs(a.drain_seconds),
        cpu,
        memory_mib,
    })
}

/// Runs `berth agent` until SIGINT or SIGTERM.
pub async fn agent(a: AgentArgs) -> anyhow::Result<()> {
    let config = agent_config(&a)?;
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
            let docker = berth_docker::DockerRuntime::connect()
                .await
                .context("connecting to the Docker Engine")?;
            // The proxy and holder image is this very binary.
            let (image, built) = docker
                .ensure_berth_image(None)
                .await
                .context("building the berth image")?;
            if built {
                println!("built the berth image {image}");
            }
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
    /// The agent's state directory.
    #[arg(long, env = "BERTH_AGENT_DIR", default_value = "berth-data/agent")]
    pub state_dir: PathBuf,
}

/// Prints a task's container logs.
pub fn logs(a: LogsArgs) -> anyhow::Result<()> {
    let tasks = a.state_dir.join("tasks");
    let want = a.task.rsplit('/').next().unwrap_or_default();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&tasks)
        .with_context(|| format!("no tasks in {}", tasks.display()))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(want))
        .map(|e| e.path())
        .collect();
    let dir = match found.len() {
        0 => anyhow::bail!("no task '{want}' in {}", tasks.display()),
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
        print_file(&f, &name, a.container.is_none())?;
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

fn print_file(path: &Path, name: &str, header: bool) -> anyhow::Result<()> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if header {
        println!("==> {name} <==");
    }
    use std::io::Write;
    std::io::stdout().write_all(&text)?;
    Ok(())
}
