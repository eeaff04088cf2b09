//! The agent's own credential: got once by joining with a token, kept in the state
//! directory (`identity.json`, mode 0600), and used to sign everything it sends.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use berth_agent_view::JoinAnswer;
use tracing::info;

use crate::client::{Credentials, Endpoint, ServerClient};
use crate::error::{Error, Result};
use crate::AgentConfig;

fn identity_file(state_dir: &Path) -> PathBuf {
    state_dir.join("identity.json")
}

/// The credential kept from an earlier join, if it is for this cluster.
fn kept(config: &AgentConfig) -> Result<Option<JoinAnswer>> {
    let path = identity_file(&config.state_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
    };
    let id: JoinAnswer = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Config(format!("{} is not an agent identity: {e}", path.display())))?;
    let same =
        id.cluster == config.cluster && id.region == config.region && id.account == config.account;
    Ok(same.then_some(id))
}

fn keep(state_dir: &Path, id: &JoinAnswer) -> Result<()> {
    let path = identity_file(state_dir);
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&serde_json::to_vec(id).expect("an identity serializes"))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| Error::io(format!("write {}", path.display()), e))
}

/// The agent's credential: the one kept for this cluster, else a new one for the
/// join token (which must be for this cluster).
pub(crate) async fn credentials(config: &AgentConfig, server: &Endpoint) -> Result<Credentials> {
    let id = match kept(config)? {
        Some(id) => id,
        None => {
            let token = config.token.as_deref().ok_or_else(|| {
                Error::Config(format!(
                    "this host has not joined cluster {} ({} {}): give a join token (`berth token create --cluster {}` on the server's host)",
                    config.cluster, config.account, config.region, config.cluster
                ))
            })?;
            let id = join_retrying(server, token).await?;
            if (id.cluster.as_str(), id.region.as_str(), id.account.as_str())
                != (
                    config.cluster.as_str(),
                    config.region.as_str(),
                    config.account.as_str(),
                )
            {
                return Err(Error::Config(format!(
                    "the join token is for cluster {} ({} {}), not {} ({} {})",
                    id.cluster,
                    id.account,
                    id.region,
                    config.cluster,
                    config.account,
                    config.region
                )));
            }
            keep(&config.state_dir, &id)?;
            info!(key = %id.access_key_id, cluster = %id.cluster, "joined with a token");
            id
        }
    };
    Ok(Credentials {
        access_key_id: id.access_key_id,
        secret_access_key: id.secret_access_key,
    })
}

/// Joins, retrying for a while when the server cannot be reached yet (a refused token
/// is final).
async fn join_retrying(server: &Endpoint, token: &str) -> Result<JoinAnswer> {
    let mut tries = 0;
    loop {
        match ServerClient::join(server, token).await {
            Err(Error::Server(e)) if tries < 30 => {
                tries += 1;
                tracing::debug!(error = %e, "the server is not answering yet");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            r => return r,
        }
    }
}
