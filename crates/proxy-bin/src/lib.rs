//! The berth proxy's command line, shared by `berth proxy` and the small `berth-proxy`
//! binary (both in the `berth` package), so that both take exactly the same arguments
//! and behave the same.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

/// Run a berth proxy (one per task, or an Application Load Balancer's data plane),
/// configured by a snapshot file and/or a stream of snapshots on stdin.
#[derive(clap::Args, Debug, Clone)]
pub struct ProxyArgs {
    /// Snapshot file (JSON) to start with: a task's (Service Connect) or a load
    /// balancer's (`{"version": N, "loadBalancer": {...}}`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Admin endpoint: a loopback ip:port, or unix:/path (created mode 0600; every
    /// endpoint works there without a token).
    #[arg(long, default_value = berth_proxy::DEFAULT_ADMIN)]
    pub admin: berth_proxy::AdminAddr,
    /// A file holding the token (16 to 4096 visible ASCII characters) that lets a TCP
    /// admin client change the proxy (`POST /snapshot`, `POST /drain`) with
    /// `Authorization: Bearer <token>`. The token may come from the environment instead,
    /// as BERTH_PROXY_ADMIN_TOKEN (never from the command line, which any local user can
    /// read). Without one, changes over TCP are refused; reads are always served.
    #[arg(long, value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,
    /// Apply the newline-delimited JSON snapshots read from stdin, in order.
    #[arg(long)]
    pub snapshots_stdin: bool,
    /// With --snapshots-stdin: when stdin closes (whoever started the proxy and fed it
    /// is gone), drain and exit instead of keeping the last snapshot.
    #[arg(long, requires = "snapshots_stdin")]
    pub exit_with_stdin: bool,
    /// Worker threads serving connections: each runs its own event loop with its own
    /// listening sockets (SO_REUSEPORT) and upstream connection pools; about one per
    /// CPU core the proxy may use. The admin endpoint and snapshot handling run on the main thread.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// Where a load balancer's target health changes go, one JSON line each
    /// (berth_proxy_config::alb::TargetHealthChange), appended; without it, stdout
    /// (where the first line says where the admin endpoint is).
    #[arg(long, value_name = "PATH")]
    pub health_report: Option<PathBuf>,
    /// On SIGTERM/SIGINT, how long draining may take before exiting, in seconds.
    #[arg(long, default_value_t = 20)]
    pub drain_seconds: u64,
}

/// The environment variable that may hold the admin token.
pub const ADMIN_TOKEN_ENV: &str = "BERTH_PROXY_ADMIN_TOKEN";

/// The admin token from `--admin-token-file` or, without it, from `env` (the value of
/// [`ADMIN_TOKEN_ENV`]); both at once is an error, naming them.
pub fn admin_token(
    file: Option<&Path>,
    env: Option<OsString>,
) -> anyhow::Result<Option<berth_proxy::AdminToken>> {
    match (file, env) {
        (Some(_), Some(_)) => anyhow::bail!(
            "--admin-token-file and {ADMIN_TOKEN_ENV} both give an admin token; give one"
        ),
        (Some(path), None) => {
            warn_if_readable_by_others(path);
            let token = berth_proxy::AdminToken::from_file(path).context("--admin-token-file")?;
            Ok(Some(token))
        }
        (None, Some(v)) => {
            let text = v
                .into_string()
                .map_err(|_| anyhow::anyhow!("{ADMIN_TOKEN_ENV}: not UTF-8"))?;
            let token = berth_proxy::AdminToken::new(&text).context(ADMIN_TOKEN_ENV)?;
            Ok(Some(token))
        }
        (None, None) => Ok(None),
    }
}

/// A token file other users can read is no secret: say so.
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o004 != 0 {
            tracing::warn!(path = %path.display(), "the admin token file is readable by every user");
        }
    }
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
    let admin_token = admin_token(
        args.admin_token_file.as_deref(),
        std::env::var_os(ADMIN_TOKEN_ENV),
    )?;
    let health_report_writer = match &args.health_report {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("--health-report {}", path.display()))?;
            Some(Box::new(f) as Box<dyn std::io::Write + Send>)
        }
        None => None,
    };
    let config = berth_proxy::ProxyConfig {
        admin: args.admin,
        admin_token,
        workers: usize::from(args.workers),
        health_report_writer,
        ..Default::default()
    };
    proxy(
        args.config,
        config,
        args.snapshots_stdin,
        args.exit_with_stdin,
        Duration::from_secs(args.drain_seconds),
    )
    .await
}

/// As `berth proxy`: start, apply the file, then snapshots from stdin until SIGTERM or
/// SIGINT; then drain (for up to `drain`) and shut down.
async fn proxy(
    config: Option<PathBuf>,
    proxy_config: berth_proxy::ProxyConfig,
    snapshots_stdin: bool,
    exit_with_stdin: bool,
    drain: Duration,
) -> anyhow::Result<()> {
    if config.is_none() && !snapshots_stdin {
        tracing::info!("no --config and no --snapshots-stdin: waiting for POST /snapshot on the admin endpoint");
    }
    let running = berth_proxy::start(proxy_config)
        .await
        .context("starting the berth proxy")?;
    if let Some(path) = &config {
        let snapshot = berth_proxy::AnySnapshot::load(path)
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
                    if exit_with_stdin {
                        tracing::info!("stdin closed: exiting");
                        break;
                    }
                    tracing::info!("stdin closed; keeping the last snapshot");
                    lines = None;
                    continue;
                };
                if line.trim().is_empty() {
                    continue;
                }
                match berth_proxy::AnySnapshot::from_json(line.as_bytes()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        proxy: ProxyArgs,
    }

    const TOKEN: &str = "a-token-of-some-length-42";

    #[test]
    fn the_admin_token_file_flag_parses() {
        let cli =
            Cli::try_parse_from(["berth-proxy", "--admin-token-file", "/etc/berth/token"]).unwrap();
        assert_eq!(
            cli.proxy.admin_token_file.as_deref(),
            Some(Path::new("/etc/berth/token"))
        );
        let cli = Cli::try_parse_from(["berth-proxy"]).unwrap();
        assert_eq!(cli.proxy.admin_token_file, None);
        // The token itself is never an argument.
        assert!(Cli::try_parse_from(["berth-proxy", "--admin-token", TOKEN]).is_err());
    }

    #[test]
    fn the_health_report_flag_parses() {
        let cli =
            Cli::try_parse_from(["berth-proxy", "--health-report", "/run/lb/health"]).unwrap();
        assert_eq!(
            cli.proxy.health_report.as_deref(),
            Some(Path::new("/run/lb/health"))
        );
        assert_eq!(
            Cli::try_parse_from(["berth-proxy"])
                .unwrap()
                .proxy
                .health_report,
            None
        );
    }

    #[test]
    fn the_admin_token_comes_from_a_file_or_the_environment() {
        let path = std::env::temp_dir().join(format!("berth-proxy-token-{}", std::process::id()));
        std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
        assert!(admin_token(Some(&path), None).unwrap().is_some());
        assert!(admin_token(None, Some(TOKEN.into())).unwrap().is_some());
        assert!(admin_token(None, None).unwrap().is_none());
        let both = admin_token(Some(&path), Some(TOKEN.into())).unwrap_err();
        assert!(
            format!("{both:#}").contains("--admin-token-file"),
            "{both:#}"
        );
        std::fs::write(&path, "short\n").unwrap();
        let short = admin_token(Some(&path), None).unwrap_err();
        assert!(
            format!("{short:#}").starts_with("--admin-token-file: the admin token has 5"),
            "{short:#}"
        );
        let _ = std::fs::remove_file(&path);
        let missing = admin_token(Some(Path::new("/nonexistent/token")), None).unwrap_err();
        assert!(
            format!("{missing:#}").contains("/nonexistent/token"),
            "{missing:#}"
        );
        let bad = admin_token(None, Some("has spaces in it, 16+".into())).unwrap_err();
        assert!(format!("{bad:#}").starts_with(ADMIN_TOKEN_ENV), "{bad:#}");
    }
}
