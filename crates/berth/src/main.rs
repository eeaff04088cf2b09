//! `berth`: Amazon ECS Service Connect, self-hosted. This binary only wires the crates.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

mod agent_cmd;
mod auth_args;
mod demo_cmd;
mod image_cmd;
mod secrets_cmd;
mod status_cmd;
mod tls_args;
mod up_cmd;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Amazon ECS Service Connect, self-hosted"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run berth on this machine in one process: the server, an agent for every
    /// cluster, the store; optionally apply an example (needs root).
    Up(up_cmd::UpArgs),
    /// Show clusters, services, deployments, tasks, endpoints and each service's
    /// traffic health.
    Status(status_cmd::StatusArgs),
    /// Run the control plane: the ECS, Cloud Map, EC2 and STS APIs on a durable store.
    Server {
        /// Address the API listens on.
        #[arg(long, env = "BERTH_LISTEN", default_value = berth_server::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Directory of the store (created if missing).
        #[arg(long, env = "BERTH_DATA_DIR", default_value = "berth-data")]
        data_dir: PathBuf,
        /// Largest request body accepted, in bytes.
        #[arg(long, default_value_t = berth_server::DEFAULT_MAX_BODY)]
        max_body_bytes: usize,
        /// A network to recreate before listening: VPCs, subnets and security groups
        /// under the ids they have on AWS (JSON; repeatable; the README's "Your AWS
        /// network" says how).
        #[arg(long = "network", value_name = "FILE")]
        networks: Vec<PathBuf>,
        #[command(flatten)]
        tls: tls_args::TlsArgs,
        #[command(flatten)]
        auth: auth_args::AuthArgs,
        #[command(flatten)]
        api_tls: auth_args::ApiTlsArgs,
        /// How many days CloudWatch metrics keep their 1-minute data (1-second data:
        /// 3 hours).
        #[arg(long, default_value_t = 15)]
        metrics_retention_days: u32,
    },
    /// Manage the access keys the API checks signatures against (a data directory's
    /// credential store; works with or without a running server).
    Credentials {
        #[command(subcommand)]
        command: auth_args::CredentialsCommand,
    },
    /// Manage the join tokens agents join a cluster with.
    Token {
        #[command(subcommand)]
        command: auth_args::TokenCommand,
    },
    /// Put SSM parameters and Secrets Manager secrets from a file into a running berth.
    Secrets {
        #[command(subcommand)]
        command: secrets_cmd::SecretsCommand,
    },
    /// Join a berth server as a container instance and run the tasks placed on it, with a
    /// berth proxy beside each (needs root: task namespaces, veths, a bridge).
    Agent(agent_cmd::AgentArgs),
    /// Print the logs of a task's containers (and of its proxy), as `berth agent` keeps them.
    Logs(agent_cmd::LogsArgs),
    /// Build Docker images locally, without a registry: the berth image, or one from host
    /// files described by a JSON spec.
    Image {
        #[command(subcommand)]
        command: image_cmd::ImageCommand,
    },
    /// Run one of berth's demo applications (the examples' stand-ins for the seeds' images).
    Demo(demo_cmd::DemoArgs),
    /// Sleep until SIGTERM or SIGINT: the process of a Docker task's holder container,
    /// which owns the task's network namespace.
    #[command(hide = true)]
    Pause,
    /// Run a berth proxy (one per task), configured by a snapshot file and/or a stream of
    /// snapshots on stdin (the `berth-proxy` binary is the same, alone).
    Proxy(berth_proxy_bin::ProxyArgs),
}

fn main() -> anyhow::Result<()> {
    berth_proxy_bin::init_logging();
    let cli = Cli::parse();
    // The proxy's workers run their own runtimes (see berth_proxy); this one is only its
    // control side: admin, snapshots, signals.
    let mut rt = match &cli.command {
        Command::Proxy(_) | Command::Pause | Command::Image { .. } | Command::Demo(_) => {
            tokio::runtime::Builder::new_current_thread()
        }
        Command::Server { .. } | Command::Agent(_) | Command::Up(_) => {
            tokio::runtime::Builder::new_multi_thread()
        }
        Command::Status(_) | Command::Secrets { .. } | Command::Logs(_) => {
            tokio::runtime::Builder::new_current_thread()
        }
        Command::Credentials { .. } | Command::Token { .. } => {
            tokio::runtime::Builder::new_current_thread()
        }
    };
    let rt = rt
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Server {
            listen,
            data_dir,
            max_body_bytes,
            networks,
            tls,
            auth,
            api_tls,
            metrics_retention_days,
        } => rt.block_on(server(berth_server::ServerConfig {
            listen,
            load_balancers: Some(load_balancers(&data_dir)?),
            data_dir,
            max_body_bytes,
            network_files: networks,
            tls: tls.settings()?,
            auth: auth.mode(&listen),
            limits: Default::default(),
            api_tls: api_tls.tls(&listen),
            metrics_retention_days,
        })),
        Command::Credentials { command } => auth_args::credentials(command),
        Command::Token { command } => auth_args::token(command),
        Command::Pause => rt.block_on(pause()),
        Command::Image { command } => rt.block_on(image_cmd::run(command)),
        Command::Demo(a) => rt.block_on(demo_cmd::run(a)),
        Command::Agent(a) => rt.block_on(agent_cmd::agent(a)),
        Command::Up(a) => rt.block_on(up_cmd::up(a)),
        Command::Status(a) => rt.block_on(status_cmd::status(a)),
        Command::Secrets { command } => rt.block_on(secrets_cmd::run(command)),
        Command::Logs(a) => rt.block_on(agent_cmd::logs(a)),
        Command::Proxy(a) => rt.block_on(berth_proxy_bin::run(a)),
    }
}

/// Load balancers run as `berth proxy` processes of this very binary, their files
/// under the data directory's `loadbalancers/`.
pub(crate) fn load_balancers(
    data_dir: &std::path::Path,
) -> anyhow::Result<berth_loadbalancers::DataPlaneConfig> {
    Ok(berth_loadbalancers::DataPlaneConfig {
        program: std::env::current_exe().context("this program's path")?,
        args: vec!["proxy".into()],
        dir: std::path::absolute(data_dir)
            .context("the data directory")?
            .join("loadbalancers"),
        workers: 1,
    })
}

async fn server(config: berth_server::ServerConfig) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let test_keys = config.auth == berth_server::AuthMode::VerifiedWithTestKeys;
    let tls = config.api_tls.clone();
    let running = berth_server::start(config)
        .await
        .context("starting the berth server")?;
    let scheme = if tls == berth_server::ApiTls::Off {
        "http"
    } else {
        "https"
    };
    println!("berth server listening on {scheme}://{}", running.addr);
    if let berth_server::ApiTls::Generated { .. } = tls {
        let ca = berth_server::api_ca_path(&data_dir);
        println!(
            "API certificate signed by {}: aws --ca-bundle {0} (or AWS_CA_BUNDLE), berth agent --server-ca {0}",
            ca.display()
        );
    }
    println!("data directory: {}", data_dir.display());
    if test_keys {
        println!("accepting the test credential (loopback only; --no-test-keys refuses it)");
        println!(
            "try: AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url {scheme}://{} ecs list-clusters",
            running.addr
        );
    } else {
        println!(
            "callers need an access key: berth credentials create --account <12 digits> --data-dir {}",
            data_dir.display()
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// Waits for SIGTERM or SIGINT, doing nothing else.
async fn pause() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
