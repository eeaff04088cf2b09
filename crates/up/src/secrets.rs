//! A secrets file put into berth's SSM Parameter Store and Secrets Manager through
//! their APIs (`berth secrets import FILE`, and `berth up` for an example's), so tasks
//! resolve their `secrets` from the same stores the aws CLI writes.
//!
//! ```json
//! {
//!   "parameters": {
//!     "/retail-store-ecs/catalog/db-endpoint-mysql": "catalog-db:3306",
//!     "/retail-store-ecs/api-key": {"value": "k", "type": "SecureString"}
//!   },
//!   "secrets": {
//!     "retail-store-ecs-catalog-db": {"username": "catalog", "password": "pw"},
//!     "plain-secret": "text"
//!   }
//! }
//! ```
//!
//! A parameter is put with `Overwrite` (type `String` unless given); a secret is
//! created, or gets a new current version if it exists (an object is stored as its JSON
//! text). Importing twice changes nothing but versions.

use std::collections::BTreeMap;
use std::path::Path;

use berth_agent::{Error as AgentError, ServerClient};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{Error, Result};

const SSM_TARGET: &str = "AmazonSSM";
const SECRETS_MANAGER_TARGET: &str = "secretsmanager";

/// A secrets file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsFile {
    /// SSM parameters by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, ParameterValue>,
    /// Secrets Manager secrets by name.
    #[serde(default)]
    pub secrets: BTreeMap<String, Value>,
}

/// A parameter's value: its text, or its text and type.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ParameterValue {
    /// A `String` parameter.
    Text(String),
    /// A parameter of the given type (`String`, `StringList`, `SecureString`).
    Typed {
        /// The value.
        value: String,
        /// The type.
        #[serde(rename = "type")]
        kind: String,
    },
}

impl SecretsFile {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<SecretsFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Example(format!("secrets file {}: {e}", path.display())))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let file: SecretsFile = serde_path_to_error::deserialize(de)
            .map_err(|e| Error::Example(format!("secrets file {}: {e}", path.display())))?;
        for (name, v) in &file.secrets {
            if !(v.is_string() || v.is_object()) {
                return Err(Error::Example(format!(
                    "secrets file {}: secrets[{name:?}]: must be text or a JSON object",
                    path.display()
                )));
            }
        }
        Ok(file)
    }

    /// Puts every parameter and secret; what was done, one line each (names only).
    pub async fn import(&self, client: &ServerClient) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for (name, value) in &self.parameters {
            let (value, kind) = match value {
                ParameterValue::Text(v) => (v.as_str(), "String"),
                ParameterValue::Typed { value, kind } => (value.as_str(), kind.as_str()),
            };
            let input = json!({"Name": name, "Value": value, "Type": kind, "Overwrite": true});
            let out = client
                .call(SSM_TARGET, "ssm", "PutParameter", &input)
                .await
                .map_err(|e| failed("parameter", name, e))?;
            let version = out.get("Version").and_then(Value::as_i64).unwrap_or(0);
            done.push(format!("SSM parameter {name} (version {version})"));
        }
        for (name, value) in &self.secrets {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            done.push(put_secret(client, name, &text).await?);
        }
        Ok(done)
    }
}

/// Creates the secret, or puts a new current version of it.
async fn put_secret(client: &ServerClient, name: &str, text: &str) -> Result<String> {
    let create = json!({"Name": name, "SecretString": text});
    match client
        .call(
            SECRETS_MANAGER_TARGET,
            "secretsmanager",
            "CreateSecret",
            &create,
        )
        .await
    {
        Ok(_) => Ok(format!("secret {name} (created)")),
        Err(AgentError::Api { code, .. }) if code == "ResourceExistsException" => {
            let put = json!({"SecretId": name, "SecretString": text});
            client
                .call(
                    SECRETS_MANAGER_TARGET,
                    "secretsmanager",
                    "PutSecretValue",
                    &put,
                )
                .await
                .map_err(|e| failed("secret", name, e))?;
            Ok(format!("secret {name} (new version)"))
        }
        Err(e) => Err(failed("secret", name, e)),
    }
}

fn failed(what: &str, name: &str, e: AgentError) -> Error {
    Error::Example(format!("putting {what} {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_holds_parameters_and_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"parameters": {"/a": "x", "/b": {"value": "y", "type": "SecureString"}},
                "secrets": {"db": {"username": "u"}, "t": "text"}}"#,
        )
        .unwrap();
        let f = SecretsFile::load(&path).unwrap();
        assert_eq!(f.parameters.len(), 2);
        assert!(
            matches!(&f.parameters["/b"], ParameterValue::Typed { kind, .. } if kind == "SecureString")
        );
        assert_eq!(f.secrets["db"]["username"], "u");
        std::fs::write(&path, r#"{"secrets": {"n": 3}}"#).unwrap();
        let e = SecretsFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("secrets[\"n\"]"), "{e}");
        std::fs::write(&path, r#"{"other": {}}"#).unwrap();
        assert!(SecretsFile::load(&path)
            .unwrap_err()
            .to_string()
            .contains("other"));
    }
}
