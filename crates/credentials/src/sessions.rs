//! Temporary credentials: an access key (`ASIA…`), its secret and a session token, valid
//! until an expiry, as STS and ECS's credential endpoint hand them out. berth makes them
//! for a task's roles (its task role, for the application; its execution role, for what
//! the agent does on the task's behalf: its secrets and its logs). The secret is sealed
//! like a long-term key's; only the token's SHA-256 is kept.

use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use base64::Engine;
use rusqlite::params;
use serde::Serialize;

use crate::{names, random, secs, CredentialError, CredentialStore, Principal, Result};

/// The SQL of the sessions table.
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY NOT NULL,
    account TEXT NOT NULL,
    principal TEXT NOT NULL,
    nonce BLOB NOT NULL,
    sealed BLOB NOT NULL,
    token_hash BLOB NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions(expires);";

/// What a verifier checks of a temporary key beyond its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCheck {
    /// SHA-256 of the session token the request must carry.
    pub token_sha256: Vec<u8>,
    /// When the credentials stop working (seconds since the epoch).
    pub expires: u64,
}

impl SessionCheck {
    /// Whether `token` is this session's (constant time).
    pub fn token_matches(&self, token: &str) -> bool {
        let given = digest::digest(&digest::SHA256, token.as_bytes());
        aws_lc_rs::constant_time::verify_slices_are_equal(given.as_ref(), &self.token_sha256)
            .is_ok()
    }

    /// Whether the credentials have expired at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        secs(now) >= self.expires
    }
}

/// A session as stored: its account, principal (JSON), the nonce and sealed secret, and
/// what to check.
pub(crate) struct SessionRow {
    pub account: String,
    pub principal: String,
    pub nonce: Vec<u8>,
    pub sealed: Vec<u8>,
    pub check: SessionCheck,
}

/// Temporary credentials, as handed out once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCredentials {
    /// `ASIA` and 16 characters.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token, sent as `X-Amz-Security-Token`.
    pub session_token: String,
    /// When they expire (seconds since the epoch).
    pub expiration: u64,
}

impl CredentialStore {
    /// Makes temporary credentials of `account` for `principal`, valid for `ttl` from
    /// `now`; sessions already expired are forgotten on the way.
    pub fn create_session(
        &self,
        account: &str,
        principal: &Principal,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<SessionCredentials> {
        if !names::valid_account(account) {
            return Err(CredentialError::Invalid(format!(
                "account '{account}' is not a 12-digit AWS account id"
            )));
        }
        let mut access_key_id = names::access_key_id(random::<10>());
        access_key_id.replace_range(..4, "ASIA");
        let creds = SessionCredentials {
            access_key_id,
            secret_access_key: names::secret(random::<30>()),
            session_token: base64::engine::general_purpose::STANDARD.encode(random::<48>()),
            expiration: secs(now) + ttl.as_secs(),
        };
        let (nonce, sealed) = self.sealing.seal_apart(
            creds.secret_access_key.as_bytes(),
            creds.access_key_id.as_bytes(),
        );
        let token_hash = digest::digest(&digest::SHA256, creds.session_token.as_bytes());
        let conn = self.conn();
        conn.execute(
            "DELETE FROM sessions WHERE expires <= ?1",
            params![secs(now) as i64],
        )?;
        conn.execute(
            "INSERT INTO sessions(id, account, principal, nonce, sealed, token_hash, expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                creds.access_key_id,
                account,
                serde_json::to_string(principal).expect("a principal serializes"),
                &nonce[..],
                sealed,
                token_hash.as_ref(),
                creds.expiration as i64
            ],
        )?;
        Ok(creds)
    }

    /// The session row of `access_key_id`.
    pub(crate) fn session_row(&self, access_key_id: &str) -> Result<Option<SessionRow>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row(
                "SELECT account, principal, nonce, sealed, token_hash, expires
                 FROM sessions WHERE id = ?1",
                params![access_key_id],
                |r| {
                    Ok(SessionRow {
                        account: r.get(0)?,
                        principal: r.get(1)?,
                        nonce: r.get(2)?,
                        sealed: r.get(3)?,
                        check: SessionCheck {
                            token_sha256: r.get(4)?,
                            expires: r.get::<_, i64>(5)? as u64,
                        },
                    })
                },
            )
            .optional()?)
    }

    /// Forgets every session of `principal` (a stopped task's).
    pub fn delete_sessions_of(&self, principal: &Principal) -> Result<usize> {
        Ok(self.conn().execute(
            "DELETE FROM sessions WHERE principal = ?1",
            params![serde_json::to_string(principal).expect("a principal serializes")],
        )?)
    }
}
