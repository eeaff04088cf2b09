//! `berth status`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

/// Where berth's API is and what to sign with: the aws CLI's variables.
#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// The berth server.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    pub endpoint: String,
    /// The account to act in with the test credential (with keys of your own, theirs).
    #[arg(long, default_value = "123456789012")]
    pub account: String,
    /// The access key id to sign with (default: the test credential).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub access_key_id: Option<String>,
    /// The secret access key to sign with.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// The region.
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    pub region: String,
    /// The CA of an https:// endpoint's certificate (PEM).
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<std::path::PathBuf>,
}

impl ApiArgs {
    /// A client of the API signing as these arguments say.
    pub fn client(&self) -> anyhow::Result<berth_agent::ServerClient> {
        let credentials = match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) if id != berth_credentials::TEST_ACCESS_KEY_ID => {
                berth_agent::client::Credentials {
                    access_key_id: id.clone(),
                    secret_access_key: secret.clone(),
                }
            }
            _ => berth_agent::client::Credentials {
                access_key_id: self.account.clone(),
                secret_access_key: berth_credentials::TEST_SECRET_ACCESS_KEY.to_string(),
            },
        };
        let ca = match &self.ca_bundle {
            Some(p) if self.endpoint.starts_with("https://") => {
                Some(std::fs::read(p).with_context(|| format!("--ca-bundle {}", p.display()))?)
            }
            _ => None,
        };
        let endpoint = berth_agent::client::Endpoint::new(&self.endpoint, ca.as_deref())?;
        Ok(berth_agent::ServerClient::at(
            endpoint,
            credentials,
            &self.region,
        ))
    }
}

/// `berth status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub api: ApiArgs,
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
    let client = a.api.client()?;
    let interval = Duration::from_secs_f64(a.interval.clamp(0.2, 3600.0));
    let look = || async {
        berth_status::gather(&client, Path::new(berth_agent::task::PROXY_SOCKET_DIR))
            .await
            .with_context(|| format!("reading the status from {}", a.api.endpoint))
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
