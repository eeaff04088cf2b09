//! A task's `secrets` and `repositoryCredentials`, resolved through berth's SSM and
//! Secrets Manager APIs with the task's execution role before anything of the task
//! starts, as the ECS agent does. A value is never logged: errors name the
//! `valueFrom`, never what it holds.
//!
//! `valueFrom` is an SSM parameter (its name, or its ARN) or a Secrets Manager secret
//! by ARN, full (`…:secret:name-AbCdEf`) or partial (`…:secret:name`), optionally with
//! ECS's selectors: `arn:…:secret:name:json-key:version-stage:version-id`.

use std::collections::{BTreeMap, BTreeSet};

use berth_runtime::{ContainerSpec, ResolvedSecrets};
use serde::Deserialize;
use serde_json::json;

use crate::client::ServerClient;
use crate::error::{Error, Result};

const SSM_TARGET: &str = "AmazonSSM";
const SECRETS_MANAGER_TARGET: &str = "secretsmanager";
/// GetParameters takes at most this many names.
const SSM_BATCH: usize = 10;
const PREFIX: &str = "unable to pull secrets or registry auth: execution resource retrieval failed";

/// What a `valueFrom` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecretRef {
    /// An SSM parameter, by name or ARN (GetParameters takes either).
    Parameter(String),
    /// A Secrets Manager secret and ECS's selectors.
    Secret(SecretSelector),
}

/// A Secrets Manager secret and what of it a container wants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SecretSelector {
    /// The secret's ARN (full or partial), the `SecretId`.
    pub secret_id: String,
    /// A key of the secret's JSON object; none: the whole value.
    pub json_key: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
}

impl SecretRef {
    /// Reads a `valueFrom`.
    pub(crate) fn parse(value_from: &str) -> SecretRef {
        let parts: Vec<&str> = value_from.split(':').collect();
        let is_secret = parts.len() >= 7
            && parts[0] == "arn"
            && parts[2] == "secretsmanager"
            && parts[5] == "secret";
        if !is_secret {
            return SecretRef::Parameter(value_from.to_string());
        }
        let part = |i: usize| {
            parts
                .get(i)
                .filter(|s| !s.is_empty())
                .map(|s| s.to_string())
        };
        SecretRef::Secret(SecretSelector {
            secret_id: parts[..7].join(":"),
            json_key: part(7),
            version_stage: part(8),
            version_id: part(9),
        })
    }
}

/// Every `valueFrom` (and registry credentials) of `specs`, resolved.
pub(crate) async fn resolve(
    client: &ServerClient,
    specs: &[ContainerSpec],
) -> Result<ResolvedSecrets> {
    let wanted: BTreeSet<&str> = specs
        .iter()
        .flat_map(|s| {
            s.secrets
                .iter()
                .map(|(_, from)| from.as_str())
                .chain(s.repository_credentials.as_deref())
        })
        .collect();
    let mut parameters = Vec::new();
    let mut secrets = Vec::new();
    for from in wanted {
        match SecretRef::parse(from) {
            SecretRef::Parameter(name) => parameters.push((from.to_string(), name)),
            SecretRef::Secret(sel) => secrets.push((from.to_string(), sel)),
        }
    }
    let mut values = resolve_parameters(client, &parameters).await?;
    values.extend(resolve_secrets(client, &secrets).await?);
    Ok(ResolvedSecrets::new(values))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetParametersOutput {
    #[serde(default)]
    parameters: Vec<Parameter>,
    #[serde(default)]
    invalid_parameters: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Parameter {
    name: String,
    value: String,
    #[serde(rename = "ARN")]
    arn: Option<String>,
}

/// SSM parameters by name or ARN, ten per GetParameters.
async fn resolve_parameters(
    client: &ServerClient,
    wanted: &[(String, String)],
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for batch in wanted.chunks(SSM_BATCH) {
        let names: Vec<&str> = batch.iter().map(|(_, n)| n.as_str()).collect();
        let input = json!({"Names": names, "WithDecryption": true});
        let out = client
            .call(SSM_TARGET, "ssm", "GetParameters", &input)
            .await
            .map_err(|e| ssm_error(&e.to_string()))?;
        let out: GetParametersOutput = serde_json::from_value(out)
            .map_err(|e| Error::Server(format!("GetParameters answer: {e}")))?;
        if !out.invalid_parameters.is_empty() {
            return Err(ssm_error(&format!(
                "invalid ssm parameters: {}",
                out.invalid_parameters.join(" ")
            )));
        }
        for (from, name) in batch {
            let found = out
                .parameters
                .iter()
                .find(|p| {
                    &p.name == name
                        || p.arn.as_ref() == Some(name)
                        || trimmed(&p.name) == trimmed(name)
                })
                .ok_or_else(|| ssm_error(&format!("invalid ssm parameters: {name}")))?;
            values.insert(from.clone(), found.value.clone());
        }
    }
    Ok(values)
}

/// A parameter name without its leading `/` (how an ARN spells it).
fn trimmed(name: &str) -> &str {
    name.trim_start_matches('/')
}

fn ssm_error(detail: &str) -> Error {
    Error::Init(format!(
        "{PREFIX}: unable to retrieve secrets from ssm: service call has been retried 1 time(s): {detail}"
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretValue {
    secret_string: Option<String>,
    secret_binary: Option<String>,
}

/// Secrets Manager secrets, one GetSecretValue per secret and version asked for.
async fn resolve_secrets(
    client: &ServerClient,
    wanted: &[(String, SecretSelector)],
) -> Result<BTreeMap<String, String>> {
    let mut fetched: BTreeMap<(String, Option<String>, Option<String>), String> = BTreeMap::new();
    let mut values = BTreeMap::new();
    for (from, sel) in wanted {
        let key = (
            sel.secret_id.clone(),
            sel.version_stage.clone(),
            sel.version_id.clone(),
        );
        if !fetched.contains_key(&key) {
            let text = get_secret_value(client, sel).await?;
            fetched.insert(key.clone(), text);
        }
        let whole = &fetched[&key];
        values.insert(from.clone(), select(whole, sel)?);
    }
    Ok(values)
}

async fn get_secret_value(client: &ServerClient, sel: &SecretSelector) -> Result<String> {
    let mut input = json!({"SecretId": sel.secret_id});
    if let Some(stage) = &sel.version_stage {
        input["VersionStage"] = json!(stage);
    }
    if let Some(id) = &sel.version_id {
        input["VersionId"] = json!(id);
    }
    let fail = |detail: String| {
        Error::Init(format!(
            "{PREFIX}: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {} from secrets manager: {detail}",
            sel.secret_id
        ))
    };
    let out = client
        .call(
            SECRETS_MANAGER_TARGET,
            "secretsmanager",
            "GetSecretValue",
            &input,
        )
        .await
        .map_err(|e| match e {
            Error::Api { code, message } => fail(format!("{code}: {message}")),
            other => fail(other.to_string()),
        })?;
    let value: SecretValue = serde_json::from_value(out)
        .map_err(|e| Error::Server(format!("GetSecretValue answer: {e}")))?;
    value
        .secret_string
        .or(value.secret_binary)
        .ok_or_else(|| fail("the secret has no value".into()))
}

/// The part of a secret's value a selector wants.
fn select(whole: &str, sel: &SecretSelector) -> Result<String> {
    let Some(key) = &sel.json_key else {
        return Ok(whole.to_string());
    };
    let missing = || {
        Error::Init(format!(
            "{PREFIX}: unable to retrieve secret from asm: retrieved secret from Secrets Manager did not contain json key {key}"
        ))
    };
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(whole).map_err(|_| missing())?;
    match object.get(key).ok_or_else(missing)? {
        serde_json::Value::String(s) => Ok(s.clone()),
        other => Ok(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(id: &str, key: Option<&str>, stage: Option<&str>, vid: Option<&str>) -> SecretRef {
        SecretRef::Secret(SecretSelector {
            secret_id: id.into(),
            json_key: key.map(Into::into),
            version_stage: stage.map(Into::into),
            version_id: vid.map(Into::into),
        })
    }

    #[test]
    fn value_from_is_read_as_ecs_reads_it() {
        let sm = "arn:aws:secretsmanager:us-east-1:123456789012:secret";
        let cases: &[(&str, SecretRef)] = &[
            ("/retail-store-ecs/orders/db", SecretRef::Parameter("/retail-store-ecs/orders/db".into())),
            ("plain-name", SecretRef::Parameter("plain-name".into())),
            (
                "arn:aws:ssm:us-east-1:123456789012:parameter/a/b",
                SecretRef::Parameter("arn:aws:ssm:us-east-1:123456789012:parameter/a/b".into()),
            ),
            ("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf", sel(&format!("{sm}:db-AbCdEf"), None, None, None)),
            ("arn:aws:secretsmanager:us-east-1:123456789012:secret:retail-store-ecs-orders-db:dbname::", sel(&format!("{sm}:retail-store-ecs-orders-db"), Some("dbname"), None, None)),
            ("arn:aws:secretsmanager:us-east-1:123456789012:secret:db:password:AWSPREVIOUS:", sel(&format!("{sm}:db"), Some("password"), Some("AWSPREVIOUS"), None)),
            ("arn:aws:secretsmanager:us-east-1:123456789012:secret:db:::0f1e", sel(&format!("{sm}:db"), None, None, Some("0f1e"))),
        ];
        for (from, want) in cases {
            assert_eq!(&SecretRef::parse(from), want, "{from}");
        }
    }

    #[test]
    fn a_json_key_selects_from_the_secrets_object() {
        let s = |key: Option<&str>| SecretSelector {
            secret_id: "x".into(),
            json_key: key.map(Into::into),
            version_stage: None,
            version_id: None,
        };
        let whole = r#"{"username":"orders","port":5432}"#;
        assert_eq!(select(whole, &s(None)).unwrap(), whole);
        assert_eq!(select(whole, &s(Some("username"))).unwrap(), "orders");
        assert_eq!(select(whole, &s(Some("port"))).unwrap(), "5432");
        let e = select(whole, &s(Some("password"))).unwrap_err().to_string();
        assert!(
            e.starts_with("ResourceInitializationError: unable to pull secrets"),
            "{e}"
        );
        assert!(e.ends_with("did not contain json key password"), "{e}");
        assert!(!e.contains("orders"));
        assert!(select("not json", &s(Some("k"))).is_err());
    }
}
