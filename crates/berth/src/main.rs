//! `berth`: Amazon ECS Service Connect, self-hosted. This binary only wires the crates.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

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
    /// Run the control plane: the ECS and Cloud Map APIs on a durable store.
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
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Server {
            listen,
            data_dir,
            max_body_bytes,
        } => rt.block_on(server(listen, data_dir, max_body_bytes)),
    }
}

async fn server(
    listen: SocketAddr,
    data_dir: PathBuf,
    max_body_bytes: usize,
) -> anyhow::Result<()> {
    let running = berth_server::start(berth_server::ServerConfig {
        listen,
        data_dir: data_dir.clone(),
        max_body_bytes,
    })
    .await
    .context("starting the berth server")?;
    println!("berth server listening on http://{}", running.addr);
    println!("data directory: {}", data_dir.display());
    println!(
        "try: AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url http://{} ecs list-clusters",
        running.addr
    );
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
