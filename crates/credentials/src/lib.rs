//! berth's credential store: who may call the API, and which hosts may join as agents.
//!
//! - **Access keys.** An access key id (`AKIA` + 16 characters, as AWS spells them) names
//!   an account and a [`Principal`]: the account's root user (`berth credentials
//!   create`), or one berth agent of one cluster (made when an agent joins). SigV4
//!   needs the secret itself to verify a signature, so secrets cannot be hashed: each is
//!   sealed with AES-256-GCM under a key kept in the data directory
//!   (`credentials.key`, mode 0600), with the access key id as associated data, so a
//!   sealed secret copied to another row does not open.
//! - **Join tokens.** `berth-join.<id>.<secret>`: one cluster of one account and region,
//!   an expiry, revocable. Only the secret's SHA-256 is stored; a token is shown once.
//!
//! Both live in `credentials.db` (SQLite, mode 0600) beside the store, so `berth
//! credentials` and `berth token` work on a data directory whether or not a server is
//! running on it. Times are passed in.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{constant_time, digest, rand};
use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

mod names;
mod sealer;
mod sessions;

pub use names::{valid_account, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, TOKEN_PREFIX};
pub use sealer::{Sealer, VALUES_KEY_FILE};
pub use sessions::{SessionCheck, SessionCredentials};

const DB_FILE: &str = "credentials.db";
const KEY_FILE: &str = "credentials.key";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Errors of the credential store.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The database failed.
    #[error("credential store: {0}")]
    Db(#[from] rusqlite::Error),
    /// A file of the store could not be read or written.
    #[error("credential store {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The sealing key does not open a secret (another data directory's key?).
    #[error("the secret of {0} does not open with this data directory's credentials.key")]
    Unseal(String),
    /// An input is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A join token was refused.
    #[error("join token refused: {0}")]
    Token(&'static str),
}

type Result<T> = std::result::Result<T, CredentialError>;

/// Who an access key is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Principal {
    /// The account's root user: everything in the account.
    Root,
    /// A berth agent that joined `cluster` in `region`: only what agents do, for its
    /// own container instance.
    #[serde(rename_all = "camelCase")]
    Agent {
        /// The region of its cluster.
        region: String,
        /// The cluster's name.
        cluster: String,
    },
    /// One of a task's roles, through temporary credentials: what the account's root
    /// user may do, but none of the agents' operations.
    #[serde(rename_all = "camelCase")]
    Task {
        /// The task's ARN.
        task_arn: String,
        /// The role's ARN (the task role or the execution role), or the task's own
        /// name for it when the task definition names none.
        role_arn: String,
    },
}

/// An access key with its secret, as a verifier needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The account it belongs to.
    pub account: String,
    /// Who it is.
    pub principal: Principal,
    /// For temporary credentials: the session token and expiry to check.
    pub session: Option<SessionCheck>,
}

/// An access key as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySummary {
    /// The access key id.
    pub access_key_id: String,
    /// The account.
    pub account: String,
    /// Who it is.
    pub principal: Principal,
    /// When it was made (seconds since the epoch).
    pub created: u64,
}

/// What a join token lets an agent join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinGrant {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The cluster's name.
    pub cluster: String,
}

/// A join token as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSummary {
    /// The token's id (its middle part).
    pub id: String,
    /// What it grants.
    #[serde(flatten)]
    pub grant: JoinGrant,
    /// When it expires (seconds since the epoch).
    pub expires: u64,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// The credential store of one data directory.
pub struct CredentialStore {
    conn: Mutex<Connection>,
    sealing: Sealer,
    path: PathBuf,
}

impl std::fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b).expect("the system's random source works");
    b
}

impl CredentialStore {
    /// Opens (creating if needed) the store of `data_dir`.
    pub fn open(data_dir: &Path) -> Result<CredentialStore> {
        let file_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CredentialError::File { path, source }
        };
        std::fs::create_dir_all(data_dir).map_err(file_err(data_dir))?;
        let key = files::sealing_key(&data_dir.join(KEY_FILE))?;
        let path = data_dir.join(DB_FILE);
        files::create_private(&path).map_err(file_err(&path))?;
        let conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS access_keys (
                id TEXT PRIMARY KEY NOT NULL,
                account TEXT NOT NULL,
                principal TEXT NOT NULL,
                nonce BLOB NOT NULL,
                sealed BLOB NOT NULL,
                created INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS join_tokens (
                id TEXT PRIMARY KEY NOT NULL,
                hash BLOB NOT NULL,
                grant TEXT NOT NULL,
                expires INTEGER NOT NULL,
                revoked INTEGER NOT NULL DEFAULT 0
            );",
        )?;
        conn.execute_batch(sessions::SCHEMA)?;
        let sealing = Sealer::from_key(key)
            .map_err(|_| CredentialError::Invalid("credentials.key is not a 32-byte key".into()))?;
        Ok(CredentialStore {
            conn: Mutex::new(conn),
            sealing,
            path,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes an access key for `account` and `principal`; the secret is returned once.
    pub fn create_key(
        &self,
        account: &str,
        principal: Principal,
        now: SystemTime,
    ) -> Result<AccessKey> {
        if !valid_account(account) {
            return Err(CredentialError::Invalid(format!(
                "account '{account}' is not a 12-digit AWS account id"
            )));
        }
        let key = AccessKey {
            access_key_id: names::access_key_id(random::<10>()),
            secret_access_key: names::secret(random::<30>()),
            account: account.to_string(),
            principal,
            session: None,
        };
        let (nonce, sealed) = self.sealing.seal_apart(
            key.secret_access_key.as_bytes(),
            key.access_key_id.as_bytes(),
        );
        let principal = serde_json::to_string(&key.principal).expect("a principal serializes");
        self.conn().execute(
            "INSERT INTO access_keys(id, account, principal, nonce, sealed, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                key.access_key_id,
                key.account,
                principal,
                &nonce[..],
                sealed,
                secs(now) as i64
            ],
        )?;
        Ok(key)
    }

    /// The key named `access_key_id`, its secret unsealed; `None` if there is none.
    pub fn key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        let row = self
            .conn()
            .query_row(
                "SELECT account, principal, nonce, sealed FROM access_keys WHERE id = ?1",
                params![access_key_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                },
            )
            .optional()?;
        let (account, principal, nonce, sealed, session) = match row {
            Some((a, p, n, s)) => (a, p, n, s, None),
            None => match self.session_row(access_key_id)? {
                Some(r) => (r.account, r.principal, r.nonce, r.sealed, Some(r.check)),
                None => return Ok(None),
            },
        };
        let unseal = || CredentialError::Unseal(access_key_id.to_string());
        let secret = self
            .sealing
            .open_apart(&nonce, &sealed, access_key_id.as_bytes())
            .map_err(|_| unseal())?;
        let secret_access_key = String::from_utf8(secret).map_err(|_| unseal())?;
        let principal = serde_json::from_str(&principal).map_err(|_| unseal())?;
        Ok(Some(AccessKey {
            access_key_id: access_key_id.to_string(),
            secret_access_key,
            account,
            principal,
            session,
        }))
    }

    /// Every access key, oldest first, without secrets.
    pub fn list_keys(&self) -> Result<Vec<KeySummary>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, account, principal, created FROM access_keys ORDER BY created, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (access_key_id, account, principal, created) = row?;
            let principal = serde_json::from_str(&principal)
                .map_err(|_| CredentialError::Unseal(access_key_id.clone()))?;
            out.push(KeySummary {
                access_key_id,
                account,
                principal,
                created: created as u64,
            });
        }
        Ok(out)
    }

    /// Whether any key is an account's root user's (the API is usable by someone).
    pub fn has_root_keys(&self) -> Result<bool> {
        Ok(self
            .list_keys()?
            .iter()
            .any(|k| k.principal == Principal::Root))
    }

    /// Deletes a key; whether it existed.
    pub fn delete_key(&self, access_key_id: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM access_keys WHERE id = ?1",
            params![access_key_id],
        )? > 0)
    }

    /// Makes a join token for `grant`, valid for `ttl`; the token is returned once.
    pub fn create_token(
        &self,
        grant: &JoinGrant,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<String> {
        names::check_grant(grant).map_err(CredentialError::Invalid)?;
        let id = hex_id(&random::<8>());
        let secret = B64.encode(random::<24>());
        let hash = digest::digest(&digest::SHA256, secret.as_bytes());
        self.conn().execute(
            "INSERT INTO join_tokens(id, hash, grant, expires) VALUES (?1, ?2, ?3, ?4)",
            params![
                id,
                hash.as_ref(),
                serde_json::to_string(grant).expect("a grant serializes"),
                (secs(now) + ttl.as_secs()) as i64
            ],
        )?;
        Ok(format!("{TOKEN_PREFIX}.{id}.{secret}"))
    }

    /// What `token` grants, if it is known, unrevoked and unexpired at `now`.
    pub fn redeem_token(&self, token: &str, now: SystemTime) -> Result<JoinGrant> {
        let (id, secret) = names::split_token(token).ok_or(CredentialError::Token(
            "not a berth join token (berth-join.<id>.<secret>)",
        ))?;
        let row = self
            .conn()
            .query_row(
                "SELECT hash, grant, expires, revoked FROM join_tokens WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, bool>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((hash, grant, expires, revoked)) = row else {
            return Err(CredentialError::Token("unknown token"));
        };
        let given = digest::digest(&digest::SHA256, secret.as_bytes());
        if constant_time::verify_slices_are_equal(given.as_ref(), &hash).is_err() {
            return Err(CredentialError::Token("unknown token"));
        }
        if revoked {
            return Err(CredentialError::Token("the token was revoked"));
        }
        if secs(now) >= expires as u64 {
            return Err(CredentialError::Token("the token expired"));
        }
        serde_json::from_str(&grant).map_err(|_| CredentialError::Token("unreadable token record"))
    }

    /// Every join token, without secrets.
    pub fn list_tokens(&self) -> Result<Vec<TokenSummary>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, grant, expires, revoked FROM join_tokens ORDER BY expires, id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, grant, expires, revoked) = row?;
            let grant = serde_json::from_str(&grant)
                .map_err(|_| CredentialError::Invalid(format!("unreadable token {id}")))?;
            out.push(TokenSummary {
                id,
                grant,
                expires: expires as u64,
                revoked,
            });
        }
        Ok(out)
    }

    /// Revokes a token by its id (or the whole token); whether it existed.
    pub fn revoke_token(&self, id_or_token: &str) -> Result<bool> {
        let id = names::split_token(id_or_token).map_or(id_or_token, |(id, _)| id);
        Ok(self.conn().execute(
            "UPDATE join_tokens SET revoked = 1 WHERE id = ?1",
            params![id],
        )? > 0)
    }
}

fn hex_id(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

mod files;

#[cfg(test)]
mod tests;
