//! What every operation shares: the call's environment, finding a secret by the id a
//! caller gives, saving and removing it, and sealing and opening its values.

use base64::Engine;
use berth_awsproto::{ApiError, Context};
use berth_credentials::Sealer;
use berth_store::{Read, StoreError, Writer};

use crate::errors::{decryption_failure, marked_for_deletion, not_found, validation};
use crate::names::{arn_matches, parse_secret_id, SecretId};
use crate::records::{Keys, SecretRec, ValueKind, VersionRec};

/// A secret's value is at most this many bytes.
const MAX_VALUE_BYTES: usize = 65536;

/// What an operation runs with: the caller, the sealer of values, the time of the call.
pub(crate) struct Env<'a> {
    pub ctx: &'a Context,
    pub sealer: &'a Sealer,
    pub now: f64,
}

impl Env<'_> {
    /// The caller's keys.
    pub fn keys(&self) -> Keys {
        Keys::of(self.ctx)
    }
}

/// The secret `id` names (a name, a full ARN or a partial ARN), scheduled for deletion
/// or not.
pub(crate) fn find(
    r: &impl Read,
    ctx: &Context,
    id: &str,
) -> Result<Option<SecretRec>, StoreError> {
    let keys = Keys::of(ctx);
    match parse_secret_id(ctx, id) {
        SecretId::Name(name) => r.get_json(&keys.secret(name)),
        SecretId::Arn { arn, names } => {
            for name in names {
                if let Some(rec) = r.get_json::<SecretRec>(&keys.secret(name))? {
                    if arn_matches(arn, &rec.arn) {
                        return Ok(Some(rec));
                    }
                }
            }
            Ok(None)
        }
        SecretId::Elsewhere => Ok(None),
    }
}

/// The secret `id` names, or ResourceNotFoundException.
pub(crate) fn require(r: &impl Read, ctx: &Context, id: &str) -> Result<SecretRec, ApiError> {
    find(r, ctx, id)?.ok_or_else(not_found)
}

/// The secret `id` names, which must not be scheduled for deletion.
pub(crate) fn require_live(r: &impl Read, ctx: &Context, id: &str) -> Result<SecretRec, ApiError> {
    let rec = require(r, ctx, id)?;
    match rec.deleted_date {
        Some(_) => Err(marked_for_deletion()),
        None => Ok(rec),
    }
}

/// Writes the record.
pub(crate) fn save(w: &mut Writer<'_>, keys: &Keys, rec: &SecretRec) -> Result<(), StoreError> {
    w.put_json(&keys.secret(&rec.name), rec)
}

/// Removes the secret and every value it has.
pub(crate) fn remove(w: &mut Writer<'_>, keys: &Keys, rec: &SecretRec) -> Result<(), StoreError> {
    for v in &rec.versions {
        w.delete(&keys.value(&rec.name, &v.version_id))?;
    }
    w.delete(&keys.secret(&rec.name))?;
    Ok(())
}

/// A version's value.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum SecretValue {
    /// SecretString.
    String(String),
    /// SecretBinary (base64 on the wire).
    Binary(Vec<u8>),
}

/// Never shows the value.
impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretValue({}, {} bytes)",
            self.kind(),
            self.bytes().len()
        )
    }
}

impl SecretValue {
    /// The value an input gives: SecretString or SecretBinary, not both; none when
    /// neither is given.
    pub fn from_input(
        string: Option<String>,
        binary: Option<String>,
    ) -> Result<Option<SecretValue>, ApiError> {
        let value = match (string, binary) {
            (Some(_), Some(_)) => {
                return Err(crate::errors::invalid_parameter(
                    "You can't specify both a binary secret value and a string secret value in the same secret.",
                ))
            }
            (Some(s), None) => SecretValue::String(s),
            (None, Some(b)) => SecretValue::Binary(
                base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .map_err(|_| ApiError::serialization("SecretBinary: not valid base64"))?,
            ),
            (None, None) => return Ok(None),
        };
        let size = value.bytes().len();
        let member = value.kind().as_str();
        match size {
            0 => Err(validation(
                member,
                "Member must have length greater than or equal to 1",
            )),
            n if n > MAX_VALUE_BYTES => Err(validation(
                member,
                "Member must have length less than or equal to 65536",
            )),
            _ => Ok(Some(value)),
        }
    }

    /// Which member the value is in.
    pub fn kind(&self) -> ValueKind {
        match self {
            SecretValue::String(_) => ValueKind::String,
            SecretValue::Binary(_) => ValueKind::Binary,
        }
    }

    /// The value's bytes, as sealed.
    pub fn bytes(&self) -> &[u8] {
        match self {
            SecretValue::String(s) => s.as_bytes(),
            SecretValue::Binary(b) => b,
        }
    }

    /// (SecretString, SecretBinary as base64) for an answer.
    pub fn into_members(self) -> (Option<String>, Option<String>) {
        match self {
            SecretValue::String(s) => (Some(s), None),
            SecretValue::Binary(b) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(b)),
            ),
        }
    }
}

/// Seals `value` as version `version_id` of `rec`.
pub(crate) fn seal_value(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    keys: &Keys,
    rec: &SecretRec,
    version_id: &str,
    value: &SecretValue,
) -> Result<(), StoreError> {
    let sealed = env.sealer.seal(value.bytes(), &rec.aad(version_id));
    w.put(&keys.value(&rec.name, version_id), &sealed)
}

/// Opens version `v` of `rec`.
pub(crate) fn open_value(
    r: &impl Read,
    sealer: &Sealer,
    keys: &Keys,
    rec: &SecretRec,
    v: &VersionRec,
) -> Result<SecretValue, ApiError> {
    let sealed = r
        .get(&keys.value(&rec.name, &v.version_id))?
        .ok_or_else(|| {
            ApiError::internal(format!("the value of version {} is missing", v.version_id))
        })?;
    let plain = sealer
        .open(&sealed, &rec.aad(&v.version_id))
        .map_err(|_| decryption_failure())?;
    match v.kind {
        ValueKind::Binary => Ok(SecretValue::Binary(plain)),
        ValueKind::String => String::from_utf8(plain)
            .map(SecretValue::String)
            .map_err(|_| decryption_failure()),
    }
}
