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
    /// The account to show with the test credential (with keys of your own, theirs).
    #[arg(long, default_value = "123456789012")]
    pub account: String,
    /// The access key id to sign with (default: the test credential).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub access_key_id: Option<String>,
    /// The secret access key to sign with.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// The region to show.
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    pub region: String,
    /// The CA of an https:// endpoint's certificate (PEM).
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Refresh until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between looks with --watch (traffic health is the last minute's, as the
    /// agents reported it).
    #[arg(long, default_value_t = 2.0)]
    pub interval: f64,
}

/// Prints the status table, or refreshes it every interval.
pub async fn status(a: StatusArgs) -> anyhow::Result<()> {
    let credentials = match (&a.access_key_id, &a.secret_access_key) {
        (Some(id), Some(secret)) if id != berth_credentials::TEST_ACCESS_KEY_ID => {
            berth_agent::client::Credentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
            }
        }
        _ => berth_agent::client::Credentials {
            access_key_id: a.account.clone(),
            secret_access_key: berth_credentials::TEST_SECRET_ACCESS_KEY.to_string(),
        },
    };
    let ca = match &a.ca_bundle {
        Some(p) if a.endpoint.starts_with("https://") => {
            Some(std::fs::read(p).with_context(|| format!("--ca-bundle {}", p.display()))?)
        }
        _ => None,
    };
    let endpoint = berth_agent::client::Endpoint::new(&a.endpoint, ca.as_deref())?;
    let client = berth_agent::ServerClient::at(endpoint, credentials, &a.region);
    let interval = Duration::from_secs_f64(a.interval.clamp(0.2, 3600.0));
    let look = || async {
        berth_status::gather(&client, Path::new(berth_agent::task::PROXY_SOCKET_DIR))
            .await
            .with_context(|| format!("reading the status from {}", a.endpoint))
    };
    loop {
        let now = look().await?;
        let table = berth_status::render(&now);
        if !a.watch {
            print!("{table}");
            return Ok(());
        }
        // Clear the screen, then draw.
        print!("\x1b[2J\x1b[H{table}");
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
