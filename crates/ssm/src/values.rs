//! Values in and out of the store: a SecureString sealed on the way in, opened only
//! for a reader who asks to decrypt.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use berth_awsproto::ApiError;
use tracing::warn;

use crate::records::StoredValue;
use crate::Env;

/// What a sealed value of `arn` at `version` is bound to.
fn aad(arn: &str, version: u64) -> Vec<u8> {
    format!("{arn}:{version}").into_bytes()
}

/// `plain` as stored: sealed when `secure`.
pub(crate) fn store(
    env: &Env<'_>,
    arn: &str,
    version: u64,
    plain: String,
    secure: bool,
) -> StoredValue {
    if !secure {
        return StoredValue::Plain(plain);
    }
    let sealed = env.sealer.seal(plain.as_bytes(), &aad(arn, version));
    StoredValue::Sealed(STANDARD.encode(sealed))
}

/// The value a reader sees: a sealed one opened when `decrypt`, otherwise its sealed
/// bytes in base64.
pub(crate) fn reveal(
    env: &Env<'_>,
    arn: &str,
    version: u64,
    value: &StoredValue,
    decrypt: bool,
) -> Result<String, ApiError> {
    let sealed = match value {
        StoredValue::Plain(v) => return Ok(v.clone()),
        StoredValue::Sealed(b64) if !decrypt => return Ok(b64.clone()),
        StoredValue::Sealed(b64) => b64,
    };
    let failed = |why: &str| {
        warn!(%arn, version, "a SecureString value does not open: {why}");
        ApiError::internal(format!(
            "the value of {arn} version {version} cannot be decrypted"
        ))
    };
    let bytes = STANDARD.decode(sealed).map_err(|_| failed("not base64"))?;
    let plain = env
        .sealer
        .open(&bytes, &aad(arn, version))
        .map_err(|_| failed("wrong key or associated data"))?;
    String::from_utf8(plain).map_err(|_| failed("not UTF-8"))
}
