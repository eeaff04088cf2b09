//! `berth status`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

/// `berth status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The berth server.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    pub endpoint: String,
    /// The account to show.
    #[arg(long, default_value = "123456789012")]
    pub account: String,
    /// The region to show.
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Refresh until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between looks (traffic health is measured over this time).
    #[arg(long, default_value_t = 2.0)]
    pub interval: f64,
}

/// Prints the status table (traffic over one interval), or refreshes it.
pub async fn status(a: StatusArgs) -> anyhow::Result<()> {
    let client = berth_agent::ServerClient::new(&a.endpoint, &a.account, &a.region)?;
    let interval = Duration::from_secs_f64(a.interval.clamp(0.2, 3600.0));
    let look = || async {
        berth_status::gather(&client, Path::new(berth_agent::task::PROXY_SOCKET_DIR))
            .await
            .with_context(|| format!("reading the status from {}", a.endpoint))
    };
    let mut before = look().await?;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let now = look().await?;
        let table = berth_status::render(Some(&before), &now);
        if a.watch {
            // Clear the screen, then draw.
            print!("\x1b[2J\x1b[H{table}");
        } else {
            print!("{table}");
            return Ok(());
        }
        before = now;
    }
}
