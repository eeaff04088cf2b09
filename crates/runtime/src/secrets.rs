//! The local secrets source: a JSON file standing in for SSM Parameter Store and
//! Secrets Manager.
//!
//! # File format
//!
//! Default path [`DEFAULT_SECRETS_PATH`] (`/etc/berth/secrets.json`); unknown top-level
//! fields are rejected; a missing file is an empty store.
//!
//! ```json
//! {
//!   "secrets": {
//!     "/retail-store-ecs/catalog/db-endpoint-mysql": "catalog-db:3306",
//!     "arn:aws:ssm:us-east-1:123456789012:parameter/retail-store-ecs/checkout/redis-endpoint": "redis:6379",
//!     "retail-store-ecs-orders-db": { "username": "orders", "password": "s3cret", "dbname": "orders" }
//!   }
//! }
//! ```
//!
//! Keys are `valueFrom` values or the names inside them; values are strings, or JSON
//! objects (a Secrets Manager secret holding JSON; referring to the whole secret gives
//! its compact JSON text). A container's `valueFrom` is looked up as follows; the first
//! key found wins:
//!
//! 1. the whole `valueFrom`, as written;
//! 2. SSM, `arn:<partition>:ssm:<region>:<account>:parameter/<name>`: `/<name>`, then
//!    `<name>` (hierarchical parameter names start with `/`, which the ARN drops);
//! 3. Secrets Manager, `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>[:<json-key>:<version-stage>:<version-id>]`:
//!    the ARN up to `<name>`, then `<name>`. With a `<json-key>`, the secret must be a
//!    JSON object (in the file, or a string holding one) and the value is that key's
//!    (a string as it is, anything else as JSON text). Version stage and id are ignored:
//!    the file holds one version.
//!
//! A `valueFrom` that is not an ARN (a parameter name in the task's region) is only
//! looked up as written and with a leading `/` added or removed.
//!
//! A secret not found is an error whose text is the task's stoppedReason:
//! `ResourceInitializationError: unable to pull secrets or registry auth: secret "<valueFrom>" not found in /etc/berth/secrets.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Where the agent reads secrets from by default.
pub const DEFAULT_SECRETS_PATH: &str = "/etc/berth/secrets.json";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    #[serde(default)]
    secrets: BTreeMap<String, Value>,
}

/// The secrets of one file.
#[derive(Clone, Debug, Default)]
pub struct SecretStore {
    secrets: BTreeMap<String, Value>,
    path: PathBuf,
}

impl SecretStore {
    /// Reads `path`; a missing file is an empty store (every lookup fails, naming it).
    pub fn load(path: &Path) -> Result<SecretStore> {
        match std::fs::read_to_string(path) {
            Ok(text) => SecretStore::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SecretStore {
                secrets: BTreeMap::new(),
                path: path.to_path_buf(),
            }),
            Err(e) => Err(Error::io(
                format!("read secrets file {}", path.display()),
                e,
            )),
        }
    }

    /// Parses a secrets file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<SecretStore> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let file: SecretsFile =
            serde_path_to_error::deserialize(de).map_err(|e| Error::SecretsFile {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        for (k, v) in &file.secrets {
            if !(v.is_string() || v.is_object()) {
                return Err(Error::SecretsFile {
                    path: path.display().to_string(),
                    message: format!("secrets[{k:?}]: must be a string or an object"),
                });
            }
        }
        Ok(SecretStore {
            secrets: file.secrets,
            path: path.to_path_buf(),
        })
    }

    /// The file this store was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of `value_from` (see the module docs).
    pub fn resolve(&self, value_from: &str) -> Result<String> {
        let not_found = |detail: &str| {
            Error::Secret(format!(
                "secret {value_from:?} {detail} in {}",
                self.path.display()
            ))
        };
        let (candidates, json_key) = lookup_keys(value_from);
        let value = candidates
            .iter()
            .find_map(|k| self.secrets.get(k))
            .ok_or_else(|| not_found("not found"))?;
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match json_key {
            None => Ok(text(value)),
            Some(key) => {
                let obj = match value {
                    Value::String(s) => serde_json::from_str::<Value>(s).ok(),
                    v => Some(v.clone()),
                };
                match obj.as_ref().and_then(|o| o.as_object()) {
                    None => Err(not_found("is not a JSON object (it has a json-key)")),
                    Some(o) => o
                        .get(&key)
                        .map(text)
                        .ok_or_else(|| not_found(&format!("has no JSON key {key:?}"))),
                }
            }
        }
    }

    /// Resolves a container's `secrets` to (name, value) pairs; the first failure
    /// is the error.
    pub fn resolve_all(&self, secrets: &[(String, String)]) -> Result<Vec<(String, String)>> {
        secrets
            .iter()
            .map(|(name, from)| Ok((name.clone(), self.resolve(from)?)))
            .collect()
    }
}

/// The keys to try for `value_from`, and the JSON key to select, if any.
fn lookup_keys(value_from: &str) -> (Vec<String>, Option<String>) {
    let mut keys = vec![value_from.to_string()];
    let parts: Vec<&str> = value_from.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" {
        let service = parts[2];
        let resource = parts[5];
        if service == "ssm" {
            if let Some(name) = resource.strip_prefix("parameter") {
                let name = name.trim_start_matches('/');
                keys.push(format!("/{name}"));
                keys.push(name.to_string());
            }
        } else if service == "secretsmanager" {
            if let Some(rest) = resource.strip_prefix("secret:") {
                let mut it = rest.split(':');
                let name = it.next().unwrap_or_default();
                let json_key = it.next().filter(|k| !k.is_empty()).map(str::to_string);
                let prefix = parts[..5].join(":");
                keys.push(format!("{prefix}:secret:{name}"));
                keys.push(name.to_string());
                return (keys, json_key);
            }
        }
    } else if let Some(stripped) = value_from.strip_prefix('/') {
        keys.push(stripped.to_string());
    } else {
        keys.push(format!("/{value_from}"));
    }
    (keys, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SecretStore {
        SecretStore::parse(
            r#"{"secrets": {
                "/retail-store-ecs/catalog/db-endpoint-mysql": "db:3306",
                "arn:aws:ssm:us-east-1:1:parameter/exact": "by-arn",
                "plain": "p",
                "orders-db": {"username": "orders", "port": 5432},
                "str-json": "{\"k\": \"v\"}"
            }}"#,
            Path::new("/etc/berth/secrets.json"),
        )
        .unwrap()
    }

    #[test]
    fn lookups() {
        let s = store();
        assert_eq!(
            s.resolve(
                "arn:aws:ssm:us-east-1:1:parameter/retail-store-ecs/catalog/db-endpoint-mysql"
            )
            .unwrap(),
            "db:3306"
        );
        assert_eq!(
            s.resolve("/retail-store-ecs/catalog/db-endpoint-mysql")
                .unwrap(),
            "db:3306"
        );
        assert_eq!(
            s.resolve("arn:aws:ssm:us-east-1:1:parameter/exact")
                .unwrap(),
            "by-arn"
        );
        assert_eq!(
            s.resolve("arn:aws:ssm:eu-west-1:2:parameter/plain")
                .unwrap(),
            "p"
        );
        assert_eq!(s.resolve("/plain").unwrap(), "p");
        assert_eq!(
            s.resolve("arn:aws:secretsmanager:us-east-1:1:secret:orders-db:username::")
                .unwrap(),
            "orders"
        );
        assert_eq!(
            s.resolve("arn:aws:secretsmanager:us-east-1:1:secret:orders-db:port::")
                .unwrap(),
            "5432"
        );
        assert_eq!(
            s.resolve("arn:aws:secretsmanager:us-east-1:1:secret:orders-db")
                .unwrap(),
            r#"{"port":5432,"username":"orders"}"#
        );
        assert_eq!(
            s.resolve("arn:aws:secretsmanager:us-east-1:1:secret:str-json:k::")
                .unwrap(),
            "v"
        );
    }

    #[test]
    fn failures_read_as_stopped_reasons() {
        let s = store();
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:missing:password::";
        assert_eq!(
            s.resolve(arn).unwrap_err().to_string(),
            format!("ResourceInitializationError: unable to pull secrets or registry auth: secret \"{arn}\" not found in /etc/berth/secrets.json")
        );
        let e = s
            .resolve("arn:aws:secretsmanager:us-east-1:1:secret:orders-db:nope::")
            .unwrap_err();
        assert!(e.to_string().contains("has no JSON key \"nope\""), "{e}");
        let e = s
            .resolve("arn:aws:secretsmanager:us-east-1:1:secret:plain:k::")
            .unwrap_err();
        assert!(e.to_string().contains("not a JSON object"), "{e}");
        assert!(SecretStore::parse(r#"{"secret": {}}"#, Path::new("x")).is_err());
        assert!(SecretStore::parse(r#"{"secrets": {"a": 1}}"#, Path::new("x")).is_err());
        let missing = SecretStore::load(Path::new("/nonexistent/berth/secrets.json")).unwrap();
        assert!(missing
            .resolve("a")
            .unwrap_err()
            .to_string()
            .ends_with("not found in /nonexistent/berth/secrets.json"));
    }
}
