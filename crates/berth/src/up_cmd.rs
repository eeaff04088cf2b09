//! `berth up`: the server, an agent per cluster and the store in one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use berth_runtime::ProcessRuntime;
use berth_up::{Example, Up, UpConfig};

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
    /// How long the example's services may take to run, in seconds.
    #[arg(long, default_value_t = 180)]
    pub wait_seconds: u64,
    #[command(flatten)]
    pub host: HostArgs,
}

/// Runs `berth up` until SIGINT or SIGTERM.
pub async fn up(a: UpArgs) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "berth up runs tasks in their own network namespaces, on a bridge: run it as root (sudo)"
        );
    }
    let example = a
        .example
        .as_deref()
        .map(Example::load)
        .transpose()
        .context("loading the example")?;
    // The example's secrets stand in for its SSM parameters and Secrets Manager secrets,
    // unless --secrets names a file.
    let default_secrets =
        a.host.secrets.as_path() == Path::new(berth_runtime::DEFAULT_SECRETS_PATH);
    let secrets = match &example {
        Some(Example {
            secrets: Some(s), ..
        }) if default_secrets => s.clone(),
        _ => a.host.secrets.clone(),
    };
    std::fs::create_dir_all(&a.data_dir)
        .with_context(|| format!("creating {}", a.data_dir.display()))?;
    let data_dir = std::path::absolute(&a.data_dir).context("the data directory")?;
    let mut config = UpConfig {
        server: berth_server::ServerConfig {
            listen: a.listen,
            data_dir: data_dir.clone(),
            ..Default::default()
        },
        agent: host_config(&a.host, &secrets)?,
    };
    let docker = match a.runtime {
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
    let runtime_name = if docker.is_some() {
        "docker"
    } else {
        "process"
    };
    let mut up = match docker {
        Some(d) => Up::start(config, d).await,
        None => Up::start(config, ProcessRuntime).await,
    }
    .context("starting berth")?;
    let addr = up.addr();
    println!("berth is up");
    println!("  API (ECS, Cloud Map): http://{addr}");
    println!("  data directory:       {}", data_dir.display());
    println!("  runtime:              {runtime_name}");
    println!("  aws CLI:              export AWS_ENDPOINT_URL=http://{addr} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={}", a.region);
    println!("  look:                 berth status --endpoint http://{addr}   (berth logs TASK for a task's output)");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    if let Some(ex) = &example {
        let client = up.client(&a.account, &a.region)?;
        let work = async {
            println!("example {}: {}", ex.name(), ex.description);
            for step in ex.apply(&client).await? {
                println!("  {} {}", if step.created { "+" } else { "=" }, step.what);
            }
            println!("  waiting for its services to run...");
            let reach = ex
                .wait_running(&client, Duration::from_secs(a.wait_seconds))
                .await?;
            for r in reach {
                for url in &r.urls {
                    println!("  {}: curl {url}", r.open.service);
                }
            }
            Ok::<_, berth_up::Error>(())
        };
        tokio::select! {
            r = work => if let Err(e) = r {
                eprintln!("example {}: {e}", ex.name());
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
