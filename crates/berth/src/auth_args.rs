//! Who may call the API (`berth server`, `berth up`), and `berth credentials` /
//! `berth token`, which manage the credential store of a data directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use berth_credentials::{CredentialStore, JoinGrant, Principal};
use berth_server::AuthMode;

/// How callers are checked.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct AuthArgs {
    /// Refuse the well-known test credential (access key id `test` or a 12-digit
    /// account id, secret `test`), which is otherwise accepted on loopback only.
    #[arg(long)]
    pub no_test_keys: bool,
    /// Do not check signatures at all (loopback only): for measuring what checking
    /// costs. Anyone who can reach the API is then any account.
    #[arg(long, conflicts_with = "no_test_keys")]
    pub unchecked_signatures: bool,
}

impl AuthArgs {
    /// The mode for a server listening on `listen`.
    pub fn mode(self, listen: &SocketAddr) -> AuthMode {
        if self.unchecked_signatures {
            AuthMode::Unchecked
        } else if listen.ip().is_loopback() && !self.no_test_keys {
            AuthMode::VerifiedWithTestKeys
        } else {
            AuthMode::Verified
        }
    }
}

/// Whether the API speaks TLS (`berth server`, `berth up`).
#[derive(clap::Args, Debug, Clone)]
pub struct ApiTlsArgs {
    /// Serve the API over TLS on loopback too (beyond loopback it always is), with a
    /// certificate the data directory's API CA signs (<data dir>/api-ca.pem).
    #[arg(long)]
    pub api_tls: bool,
    /// The API's certificate chain (PEM, leaf first) instead of one berth makes.
    #[arg(long, requires = "api_tls_key")]
    pub api_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --api-tls-cert.
    #[arg(long, requires = "api_tls_cert")]
    pub api_tls_key: Option<PathBuf>,
    /// A name (DNS name or IP address) clients reach the API by, for the certificate
    /// berth makes (repeatable; localhost, the loopback addresses and the address
    /// listened on are always in it).
    #[arg(long = "api-tls-name", value_name = "NAME")]
    pub api_tls_names: Vec<String>,
}

impl ApiTlsArgs {
    /// The API's TLS for a server listening on `listen`.
    pub fn tls(&self, listen: &SocketAddr) -> berth_server::ApiTls {
        match (&self.api_tls_cert, &self.api_tls_key) {
            (Some(chain), Some(key)) => berth_server::ApiTls::Files {
                chain: chain.clone(),
                key: key.clone(),
            },
            _ if self.api_tls || !listen.ip().is_loopback() => berth_server::ApiTls::Generated {
                names: self.api_tls_names.clone(),
            },
            _ => berth_server::ApiTls::Off,
        }
    }
}

/// `berth credentials`.
#[derive(clap::Subcommand, Debug)]
pub enum CredentialsCommand {
    /// Make an access key for an account's root user; prints it once, with the
    /// `export` line for the aws CLI.
    Create {
        /// The account (12 digits).
        #[arg(long)]
        account: String,
        #[arg(long, env = "BERTH_DATA_DIR", default_value = "berth-data")]
        data_dir: PathBuf,
    },
    /// List the access keys (no secrets).
    List {
        #[arg(long, env = "BERTH_DATA_DIR", default_value = "berth-data")]
        data_dir: PathBuf,
    },
    /// Delete an access key (a running server stops accepting it within seconds).
    Delete {
        /// The access key id.
        access_key_id: String,
        #[arg(long, env = "BERTH_DATA_DIR", default_value = "berth-data")]
        data_dir: PathBuf,
    },
}

/// `berth token`.
#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a join token: an agent given it (`berth agent --token`) joins one cluster.
    Create {
        /// The cluster's name.
        #[arg(long)]
        cluster: String,
        /// The cluster's account.
        #[arg(long, default_value = "123456789012")]
        account: String,
        /// The cluster's region.
        #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
        region: String,
        /// Seconds the token is valid.
        #[arg(long, default_value_t = 3600)]
        expires_in: u64,
        #[arg(long, env = "BERTH_DATA_DIR", default_value = "berth-data")]
        data_dir: PathBuf,
    },
    /// List join tokens (no secrets).
    List {
        #[arg(long, env = "BERTH_DATA_DIR", default_value = "berth-data")]
        data_dir: PathBuf,
    },
    /// Revoke a join token (by its id or the whole token); agents that joined keep
    /// their own credential.
    Revoke {
        id: String,
        #[arg(long, env = "BERTH_DATA_DIR", default_value = "berth-data")]
        data_dir: PathBuf,
    },
}

fn open(data_dir: &std::path::Path) -> anyhow::Result<CredentialStore> {
    CredentialStore::open(data_dir)
        .with_context(|| format!("opening the credential store of {}", data_dir.display()))
}

/// Runs `berth credentials ...`.
pub fn credentials(cmd: CredentialsCommand) -> anyhow::Result<()> {
    match cmd {
        CredentialsCommand::Create { account, data_dir } => {
            let key = open(&data_dir)?.create_key(&account, Principal::Root, SystemTime::now())?;
            println!("access key for account {account} (the secret is shown once):");
            println!(
                "export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
                key.access_key_id, key.secret_access_key
            );
        }
        CredentialsCommand::List { data_dir } => {
            for k in open(&data_dir)?.list_keys()? {
                println!("{}", serde_json::to_string(&k)?);
            }
        }
        CredentialsCommand::Delete {
            access_key_id,
            data_dir,
        } => {
            if !open(&data_dir)?.delete_key(&access_key_id)? {
                anyhow::bail!("no access key {access_key_id}");
            }
            println!("deleted {access_key_id}");
        }
    }
    Ok(())
}

/// Runs `berth token ...`.
pub fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            cluster,
            account,
            region,
            expires_in,
            data_dir,
        } => {
            let grant = JoinGrant {
                account,
                region,
                cluster: cluster.rsplit('/').next().unwrap_or_default().to_string(),
            };
            let token = open(&data_dir)?.create_token(
                &grant,
                Duration::from_secs(expires_in),
                SystemTime::now(),
            )?;
            println!("{token}");
        }
        TokenCommand::List { data_dir } => {
            for t in open(&data_dir)?.list_tokens()? {
                println!("{}", serde_json::to_string(&t)?);
            }
        }
        TokenCommand::Revoke { id, data_dir } => {
            if !open(&data_dir)?.revoke_token(&id)? {
                anyhow::bail!("no join token {id}");
            }
            println!("revoked");
        }
    }
    Ok(())
}
