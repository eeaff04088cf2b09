//! `berth up`: the server, an agent per cluster and the store in one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use berth_agent::ServerClient;
use berth_runtime::ProcessRuntime;
use berth_up::example::save_ca_certificate;
use berth_up::{Example, Up, UpConfig, Waiting, PROGRESS_EVERY};

use crate::agent_cmd::{
    docker_proxy_command, docker_runtime, host_config, prepare_docker, HostArgs,
};

/// Which runtime `berth up` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UpRuntime {
    /// Docker when the engine answers, processes otherwise.
    Auto,
    /// Processes in the task's Linux namespaces.
    Process,
    /// Docker containers (images built locally).
    Docker,
}

/// `berth up`.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// An example to apply once berth runs: a directory with an `example.json`, e.g.
    /// `examples/retail-store`.
    pub example: Option<PathBuf>,
    /// Address the API listens on.
    #[arg(long, env = "BERTH_LISTEN", default_value = berth_server::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Directory of the store and of the agents' files (task logs, proxy sockets).
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "berth-data")]
    pub data_dir: PathBuf,
    /// How containers run.
    #[arg(long, value_enum, default_value_t = UpRuntime::Auto)]
    pub runtime: UpRuntime,
    /// The account the example is applied in (12 digits; the aws CLI's, when its access
    /// key id is not 12 digits).
    #[arg(long, default_value = "123456789012")]
    pub account: String,
    /// The region the example is applied in.
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    pub region: String,
    /// A network to recreate first (repeatable): VPCs, subnets and security groups with
    /// the ids your JSON names, as `berth server --network` reads them, made in
    /// `--region` when the file names no region. An example's own `network` comes too.
    #[arg(long = "network", value_name = "FILE")]
    pub networks: Vec<PathBuf>,
    /// A secrets file to put into SSM Parameter Store and Secrets Manager first, as
    /// `berth secrets import` does (an example's own `secrets` file comes too).
    #[arg(long = "secrets", value_name = "FILE")]
    pub secrets: Vec<PathBuf>,
    /// How long the example's services may take to run, in seconds.
    #[arg(long, default_value_t = 180)]
    pub wait_seconds: u64,
    #[command(flatten)]
    pub tls: crate::tls_args::TlsArgs,
    #[command(flatten)]
    pub auth: crate::auth_args::AuthArgs,
    #[command(flatten)]
    pub api_tls: crate::auth_args::ApiTlsArgs,
    #[command(flatten)]
    pub host: HostArgs,
}

/// Runs `berth up` until SIGINT or SIGTERM. It says "berth is up" once the server and
/// agents answer and, with an example, once every service of the example runs.
pub async fn up(a: UpArgs) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "berth up runs tasks in their own network namespaces, on a bridge: run it as root (sudo)"
        );
    }
    let mut example = a
        .example
        .as_deref()
        .map(Example::load)
        .transpose()
        .context("loading the example")?;
    let (config, data_dir) = up_config(&a, example.as_ref())?;
    let (mut up, runtime_name) = start(config, a.runtime).await?;
    if let Err(e) = import_networks(&up, &a, example.as_ref()) {
        stop(up).await?;
        return Err(e);
    }
    if let Err(e) = import_secrets(&up, &a, example.as_ref()).await {
        stop(up).await?;
        return Err(e);
    }
    // With an example, berth is up once its services run (`bring_up`).
    let header = match example {
        Some(_) => "berth is starting",
        None => "berth is up",
    };
    let tls = a.api_tls.tls(&a.listen) != berth_server::ApiTls::Off;
    print_started(header, up.addr(), &data_dir, runtime_name, &a.region, tls);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    if let Some(ex) = &mut example {
        let client = up.client(&a.account, &a.region)?;
        let wait = Duration::from_secs(a.wait_seconds);
        let ca_dir = data_dir.join("ca");
        tokio::select! {
            r = bring_up(ex, &client, wait, &ca_dir) => if let Err(e) = r {
                eprintln!("example {}: {e}", ex.name());
                println!("berth runs, but example {} is not up (see above)", ex.name());
            },
            _ = tokio::signal::ctrl_c() => return stop(up).await,
            _ = term.recv() => return stop(up).await,
            why = up.failed() => {
                eprintln!("{why}");
                stop(up).await?;
                anyhow::bail!("berth up stopped: {why}");
            }
        }
    }
    println!("Ctrl-C stops every task and berth; the next berth up resumes them.");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        why = up.failed() => {
            eprintln!("{why}");
            stop(up).await?;
            anyhow::bail!("berth up stopped: {why}");
        }
    }
    stop(up).await
}

/// Where the API listens and how to reach it, under `header`.
fn print_started(
    header: &str,
    addr: SocketAddr,
    data_dir: &Path,
    runtime: &str,
    region: &str,
    tls: bool,
) {
    let scheme = if tls { "https" } else { "http" };
    println!("{header}");
    println!("  API (ECS, Cloud Map): {scheme}://{addr}");
    if tls {
        let ca = berth_server::api_ca_path(data_dir);
        println!(
            "  API certificate CA:   {} (export AWS_CA_BUNDLE={0})",
            ca.display()
        );
    }
    println!("  data directory:       {}", data_dir.display());
    println!("  runtime:              {runtime}");
    if addr.ip().is_loopback() {
        println!("  aws CLI:              export AWS_ENDPOINT_URL={scheme}://{addr} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={region}");
        println!("                        (the test credential: accepted on loopback only, --no-test-keys refuses it)");
    } else {
        println!("  aws CLI:              export AWS_ENDPOINT_URL={scheme}://{addr} AWS_DEFAULT_REGION={region}");
        println!("                        and an access key: berth credentials create --account <12 digits> --data-dir {}", data_dir.display());
    }
    println!("  look:                 berth status --endpoint {scheme}://{addr}   (berth logs TASK for a task's output)");
}

/// The configuration of `berth up`, and its data directory, made absolute.
fn up_config(a: &UpArgs, example: Option<&Example>) -> anyhow::Result<(UpConfig, PathBuf)> {
    std::fs::create_dir_all(&a.data_dir)
        .with_context(|| format!("creating {}", a.data_dir.display()))?;
    let data_dir = std::path::absolute(&a.data_dir).context("the data directory")?;
    let mut config = UpConfig {
        server: berth_server::ServerConfig {
            listen: a.listen,
            data_dir: data_dir.clone(),
            tls: a.tls.settings()?,
            auth: a.auth.mode(&a.listen),
            api_tls: a.api_tls.tls(&a.listen),
            load_balancers: Some(crate::load_balancers(&data_dir)?),
            ..Default::default()
        },
        agent: host_config(&a.host)?,
    };
    if let Some(ex) = example {
        if config.agent.security_groups.is_empty() {
            config.agent.security_groups = ex.instance.security_groups.clone();
        }
        if config.agent.subnet.is_none() {
            config.agent.subnet = ex.instance.subnet.clone();
        }
    }
    Ok((config, data_dir))
}

/// Puts the secrets of `--secrets` and of the example into the API's stores.
async fn import_secrets(up: &Up, a: &UpArgs, example: Option<&Example>) -> anyhow::Result<()> {
    let files = a
        .secrets
        .iter()
        .chain(example.and_then(|e| e.secrets.as_ref()));
    let client = up.client(&a.account, &a.region)?;
    for file in files {
        let done = berth_up::secrets::SecretsFile::load(file)?
            .import(&client)
            .await?;
        println!("secrets from {}: {}", file.display(), done.join(", "));
    }
    Ok(())
}

/// Makes the networks of `--network` and of the example.
fn import_networks(up: &Up, a: &UpArgs, example: Option<&Example>) -> anyhow::Result<()> {
    for file in a
        .networks
        .iter()
        .chain(example.iter().flat_map(|e| &e.network))
    {
        up.import_network(file, &a.account, &a.region)
            .with_context(|| format!("making the network of {}", file.display()))?;
    }
    Ok(())
}

/// Starts berth with the runtime asked for; returns it and the runtime's name.
async fn start(mut config: UpConfig, runtime: UpRuntime) -> anyhow::Result<(Up, &'static str)> {
    let docker = match runtime {
        UpRuntime::Process => None,
        UpRuntime::Docker => Some(docker_runtime().await?),
        UpRuntime::Auto => match berth_docker::DockerRuntime::connect().await {
            Ok(d) => Some(prepare_docker(d).await?),
            Err(e) => {
                tracing::info!(error = %e, "no Docker Engine; running tasks as processes");
                None
            }
        },
    };
    if docker.is_some() {
        config.agent.proxy_command = docker_proxy_command()?;
    }
    let up = match docker {
        Some(d) => Up::start(config, d).await.map(|up| (up, "docker")),
        None => Up::start(config, ProcessRuntime)
            .await
            .map(|up| (up, "process")),
    };
    up.context("starting berth")
}

/// Applies the example, waits until every one of its services runs (saying, every so
/// often, which it still waits for), then says berth is up and where to reach it (a TLS
/// port with its CA's certificate, written to `ca_dir`).
async fn bring_up(
    ex: &mut Example,
    client: &ServerClient,
    wait: Duration,
    ca_dir: &Path,
) -> berth_up::Result<()> {
    println!("example {}: {}", ex.name(), ex.description);
    for step in ex.apply(client).await? {
        println!("  {} {}", if step.created { "+" } else { "=" }, step.what);
    }
    println!("  waiting for its services to run...");
    let still = |waiting: &[Waiting]| {
        let what: Vec<String> = waiting.iter().map(ToString::to_string).collect();
        println!("  still waiting for {}", what.join("; "));
    };
    let reach = ex.wait_running(client, wait, PROGRESS_EVERY, still).await?;
    println!(
        "berth is up: every service of example {} runs its desired count",
        ex.name()
    );
    for r in reach {
        let ca_file = match &r.tls {
            Some(t) => {
                let file = save_ca_certificate(client, &t.authority_arn, ca_dir).await?;
                println!(
                    "  {}: port {} speaks TLS (certificates for {} from {})",
                    r.open.service, r.open.port, t.server_name, t.authority_arn
                );
                file
            }
            None => PathBuf::new(),
        };
        for line in r.curl(&ca_file) {
            println!("  {}: {line}", r.open.service);
        }
    }
    Ok(())
}

async fn stop(up: Up) -> anyhow::Result<()> {
    println!("stopping every task...");
    // A second Ctrl-C stops at once (the next start cleans up what is left).
    tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopped without cleaning up; the next berth up will");
        std::process::exit(130);
    });
    up.stop().await.context("stopping berth")?;
    println!("berth stopped; nothing left running");
    Ok(())
}
