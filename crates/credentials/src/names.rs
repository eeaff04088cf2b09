//! How keys, secrets and tokens are spelled, and the few names they carry.

use crate::JoinGrant;

/// The access key id berth accepts, only on loopback and only when told to, as the
/// well-known test credential (`test` / `test`, as local AWS emulators spell it): the
/// default account. A 12-digit access key id with the same secret names that account.
pub const TEST_ACCESS_KEY_ID: &str = "test";
/// The secret of the well-known test credential.
pub const TEST_SECRET_ACCESS_KEY: &str = "test";
/// The first part of every join token.
pub const TOKEN_PREFIX: &str = "berth-join";

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `AKIA` and 16 base32 characters (80 random bits), as AWS's long-term keys look.
pub(crate) fn access_key_id(bytes: [u8; 10]) -> String {
    let mut bits: u128 = 0;
    for b in bytes {
        bits = bits << 8 | u128::from(b);
    }
    let mut out = String::from("AKIA");
    for i in (0..16).rev() {
        out.push(BASE32[((bits >> (i * 5)) & 31) as usize] as char);
    }
    out
}

/// 40 characters of base64 (240 random bits), as AWS's secrets look.
pub(crate) fn secret(bytes: [u8; 30]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A 12-digit account id.
pub fn valid_account(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

/// ECS's cluster name rule and a region's shape.
pub(crate) fn check_grant(grant: &JoinGrant) -> Result<(), String> {
    if !valid_account(&grant.account) {
        return Err(format!(
            "account '{}' is not a 12-digit AWS account id",
            grant.account
        ));
    }
    let c = &grant.cluster;
    if c.is_empty()
        || c.len() > 255
        || !c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "cluster '{c}' is not a cluster name (up to 255 letters, numbers, hyphens and underscores)"
        ));
    }
    let r = &grant.region;
    let shaped = r.split('-').count() >= 3
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !shaped {
        return Err(format!(
            "region '{r}' is not a region name (e.g. us-east-1)"
        ));
    }
    Ok(())
}

/// `berth-join.<id>.<secret>` → (id, secret).
pub(crate) fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.trim().strip_prefix(TOKEN_PREFIX)?.strip_prefix('.')?;
    let (id, secret) = rest.split_once('.')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}
