//! The berth proxy's command line, shared by `berth proxy` and the small `berth-proxy`
//! binary (both in the `berth` package), so that both take exactly the same arguments
//! and behave the same.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

/// Run a berth proxy (one per task), configured by a snapshot file and/or a stream of
/// snapshots on stdin.
#[derive(clap::Args, Debug, Clone)]
pub struct ProxyArgs {
    /// Snapshot file (JSON) to start with.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Admin endpoint: a loopback ip:port, or unix:/path.
    #[arg(long, default_value = berth_proxy::DEFAULT_ADMIN)]
    pub admin: berth_proxy::AdminAddr,
    /// Apply the newline-delimited JSON snapshots read from stdin, in order.
    #[arg(long)]
    pub snapshots_stdin: bool,
    /// Worker threads serving connections: each runs its own event loop with its own
    /// listening sockets (SO_REUSEPORT) and upstream connection pools; about one per
    /// CPU core the proxy may use. The admin endpoint and snapshot handling run on the main thread.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// On SIGTERM/SIGINT, how long draining may take before exiting, in seconds.
    #[arg(long, default_value_t = 20)]
    pub drain_seconds: u64,
}

/// Logs of berth's binaries (`berth`, `berth-proxy`): to stderr, filtered by `BERTH_LOG`
/// (e.g. `debug`), `info` by default.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Runs the proxy `args` describe until SIGTERM or SIGINT (call it on a current-thread
/// runtime: the proxy's workers run their own).
pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    proxy(
        args.config,
        args.admin,
        args.snapshots_stdin,
        usize::from(args.workers),
        Duration::from_secs(args.drain_seconds),
    )
    .await
}

/// As `berth proxy`: start, apply the file, then snapshots from stdin until SIGTERM or
/// SIGINT; then drain (for up to `drain`) and shut down.
async fn proxy(
    config: Option<PathBuf>,
    admin: berth_proxy::AdminAddr,
    snapshots_stdin: bool,
    workers: usize,
    drain: Duration,
) -> anyhow::Result<()> {
    if config.is_none() && !snapshots_stdin {
        tracing::info!("no --config and no --snapshots-stdin: waiting for POST /snapshot on the admin endpoint");
    }
    let running = berth_proxy::start(berth_proxy::ProxyConfig {
        admin,
        workers,
        ..Default::default()
    })
    .await
    .context("starting the berth proxy")?;
    if let Some(path) = &config {
        let snapshot = berth_proxy::Snapshot::load(path)
            .with_context(|| format!("reading {}", path.display()))?;
        running
            .apply(snapshot)
            .await
            .with_context(|| format!("applying {}", path.display()))?;
    }
    println!("berth proxy admin on {}", running.admin_addr());
    // Lines of stdin, read on their own thread (stdin blocks).
    let mut lines = snapshots_stdin.then(|| {
        let (tx, rx) = tokio::sync::mpsc::channel::<String>(16);
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        rx
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            line = async { lines.as_mut().expect("guarded").recv().await }, if lines.is_some() => {
                let Some(line) = line else {
                    tracing::info!("stdin closed; keeping the last snapshot");
                    lines = None;
                    continue;
                };
                if line.trim().is_empty() {
                    continue;
                }
                match berth_proxy::Snapshot::from_json(line.as_bytes()) {
                    Ok(s) => {
                        if let Err(e) = running.apply(s).await {
                            tracing::warn!(error = %e, "snapshot not applied");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "invalid snapshot line skipped"),
                }
            }
        }
    }
    tracing::info!("draining");
    running.drain();
    if tokio::time::timeout(drain, running.drained())
        .await
        .is_err()
    {
        tracing::warn!(?drain, "drain timed out; exiting anyway");
    }
    running.shutdown().await;
    Ok(())
}
