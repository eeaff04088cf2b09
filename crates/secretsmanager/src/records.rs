//! The stored records: a secret (what DescribeSecret shows, and its versions' facts)
//! and where it lives in the store. Values are never in a record: each version's value
//! is sealed under a key of its own.

use berth_awsproto::Context;
use serde::{Deserialize, Serialize};

/// The staging label of the version GetSecretValue returns by default.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The label the version AWSCURRENT leaves gets.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
/// The label of a version being rotated in.
pub const AWSPENDING: &str = "AWSPENDING";
/// The key ListSecretVersionIds names for a version sealed under the default key
/// (`aws/secretsmanager` on AWS).
pub const DEFAULT_KMS_KEY: &str = "DefaultEncryptionKey";

berth_awsproto::wire_enum! {
    /// Which member holds a version's value.
    pub enum ValueKind {
        String = "SecretString",
        Binary = "SecretBinary",
    }
}

/// A tag, as the API writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value (the model allows it absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One version of a secret: as ListSecretVersionIds lists it, plus which member its
/// value is in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionRec {
    /// The version's id (the ClientRequestToken that made it).
    pub version_id: String,
    /// Its staging labels; none: the version is deprecated.
    #[serde(default)]
    pub version_stages: Vec<String>,
    /// When it was last read (a day: midnight UTC), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<f64>,
    /// When it was made.
    pub created_date: f64,
    /// The key it is sealed under, as the secret named it then.
    pub kms_key_ids: Vec<String>,
    /// SecretString or SecretBinary.
    pub kind: ValueKind,
}

impl VersionRec {
    /// True when the version carries `stage`.
    pub fn has(&self, stage: &str) -> bool {
        self.version_stages.iter().any(|s| s == stage)
    }
}

/// A secret: what DescribeSecret shows (its versions' labels come from `versions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretRec {
    /// `arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>`.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The name.
    pub name: String,
    /// The secret's type, echoed.
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The KMS key named; none: the default key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// When it was made.
    pub created_date: f64,
    /// When it or its versions last changed.
    pub last_changed_date: f64,
    /// When a value was last read (a day: midnight UTC), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<f64>,
    /// When it is to be deleted, while it is scheduled for deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<f64>,
    /// Its tags, in the order they were added.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Its versions, oldest first.
    #[serde(default)]
    pub versions: Vec<VersionRec>,
}

impl SecretRec {
    /// The version with id `id`.
    pub fn version(&self, id: &str) -> Option<&VersionRec> {
        self.versions.iter().find(|v| v.version_id == id)
    }

    /// The version carrying `stage`.
    pub fn staged(&self, stage: &str) -> Option<&VersionRec> {
        self.versions.iter().find(|v| v.has(stage))
    }

    /// The key new versions are sealed under, as ListSecretVersionIds names it.
    pub fn current_kms_key(&self) -> String {
        self.kms_key_id
            .clone()
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| DEFAULT_KMS_KEY.to_string())
    }

    /// The associated data a version's sealed value is bound to: the secret's ARN and
    /// the version's id.
    pub fn aad(&self, version_id: &str) -> Vec<u8> {
        format!("{} {version_id}", self.arn).into_bytes()
    }
}

/// Where one account and region's secrets live.
///
/// | key | value |
/// |---|---|
/// | `secretsmanager/{account}/{region}/secret/{name}` | [`SecretRec`] (JSON) |
/// | `secretsmanager-value/{account}/{region}/{name}/{version-id}` | the version's value, sealed |
///
/// Names may hold `/`: in keys it is written `%2F` (`%` is no name's character), so
/// one secret's prefix never covers another's.
#[derive(Debug, Clone)]
pub struct Keys {
    secrets: String,
    values: String,
}

/// The prefix of every secret record, of every account and region.
pub const RECORDS_PREFIX: &str = "secretsmanager/";
/// The prefix of every sealed value.
pub const VALUES_PREFIX: &str = "secretsmanager-value/";

fn escape(name: &str) -> String {
    name.replace('/', "%2F")
}

impl Keys {
    /// The keys of `account` in `region`.
    pub fn new(account: &str, region: &str) -> Keys {
        Keys {
            secrets: format!("{RECORDS_PREFIX}{account}/{region}/secret/"),
            values: format!("{VALUES_PREFIX}{account}/{region}/"),
        }
    }

    /// The keys of the caller's account and region.
    pub fn of(ctx: &Context) -> Keys {
        Keys::new(&ctx.account, &ctx.region)
    }

    /// The prefix of every secret record.
    pub fn secrets(&self) -> &str {
        &self.secrets
    }

    /// The record of the secret named `name`.
    pub fn secret(&self, name: &str) -> String {
        format!("{}{}", self.secrets, escape(name))
    }

    /// The sealed value of version `version_id` of secret `name`.
    pub fn value(&self, name: &str, version_id: &str) -> String {
        format!("{}{}/{version_id}", self.values, escape(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_names_apart() {
        let k = Keys::new("111122223333", "eu-west-1");
        assert_eq!(
            k.secret("a/b"),
            "secretsmanager/111122223333/eu-west-1/secret/a%2Fb"
        );
        assert_eq!(
            k.value("a/b", "v1"),
            "secretsmanager-value/111122223333/eu-west-1/a%2Fb/v1"
        );
        assert!(!k.value("a/b", "v").starts_with(&k.value("a", "")));
        assert!(k.secret("x").starts_with(k.secrets()));
    }
}
