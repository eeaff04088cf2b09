//! The task role's credentials as ECS serves them at
//! `169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, and its refusals.

use std::time::SystemTime;

use serde::Serialize;

use crate::facts::TaskCredentials;
use crate::time::ser_seconds;

/// The credentials document, which the SDKs' container credential providers read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CredentialsDocument {
    /// The role.
    #[serde(rename = "RoleArn")]
    pub role_arn: String,
    /// The access key id.
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    /// The secret access key.
    #[serde(rename = "SecretAccessKey")]
    pub secret_access_key: String,
    /// The session token.
    #[serde(rename = "Token")]
    pub token: String,
    /// When they expire: ISO 8601, whole seconds, `Z`.
    #[serde(rename = "Expiration", serialize_with = "ser_seconds")]
    pub expiration: SystemTime,
}

/// The document of `c`.
pub fn credentials_document(c: &TaskCredentials) -> CredentialsDocument {
    CredentialsDocument {
        role_arn: c.role_arn.clone(),
        access_key_id: c.access_key_id.clone(),
        secret_access_key: c.secret_access_key.clone(),
        token: c.session_token.clone(),
        expiration: c.expiration,
    }
}

/// Why a credentials request is refused, with ECS's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialsRefusal {
    /// `/v2/credentials/` with no id: 400 `NoIdInRequest`.
    NoId,
    /// An id that is not this task's, or a task without a role: 400
    /// `InvalidIdInRequest`.
    InvalidId,
    /// The id is the task's but its credentials are not there yet (the agent has not
    /// got them from the server): 503 `CredentialsUninitialized`.
    Uninitialized,
}

/// The body of a refusal: `{"code": …, "message": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CredentialsError {
    /// ECS's code.
    pub code: &'static str,
    /// What happened.
    pub message: String,
}

impl CredentialsRefusal {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            CredentialsRefusal::NoId | CredentialsRefusal::InvalidId => 400,
            CredentialsRefusal::Uninitialized => 503,
        }
    }

    /// The body.
    pub fn body(self) -> CredentialsError {
        let (code, what) = match self {
            CredentialsRefusal::NoId => ("NoIdInRequest", "no credentials id in the request"),
            CredentialsRefusal::InvalidId => ("InvalidIdInRequest", "no credentials for this id"),
            CredentialsRefusal::Uninitialized => (
                "CredentialsUninitialized",
                "the credentials for this id are not ready yet",
            ),
        };
        CredentialsError {
            code,
            message: format!("CredentialsV2Request: {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testdata::at;

    #[test]
    fn document_as_ecs_serves_it() {
        let c = TaskCredentials {
            role_arn: "arn:aws:iam::000000000000:role/shop-task".into(),
            access_key_id: "ASIAEXAMPLEEXAMPLE00".into(),
            secret_access_key: "c2VjcmV0".into(),
            session_token: "dG9rZW4=".into(),
            expiration: at(1_700_003_600, 999_000_000),
        };
        let text = serde_json::to_string(&credentials_document(&c)).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            json!({
                "RoleArn": "arn:aws:iam::000000000000:role/shop-task",
                "AccessKeyId": "ASIAEXAMPLEEXAMPLE00",
                "SecretAccessKey": "c2VjcmV0",
                "Token": "dG9rZW4=",
                "Expiration": "2023-11-14T23:13:20Z"
            })
        );
        // The members in ECS's order.
        let pos: Vec<usize> = [
            "RoleArn",
            "AccessKeyId",
            "SecretAccessKey",
            "Token",
            "Expiration",
        ]
        .iter()
        .map(|k| text.find(&format!("\"{k}\"")).unwrap())
        .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn refusals() {
        let cases = [
            (CredentialsRefusal::NoId, 400, "NoIdInRequest"),
            (CredentialsRefusal::InvalidId, 400, "InvalidIdInRequest"),
            (
                CredentialsRefusal::Uninitialized,
                503,
                "CredentialsUninitialized",
            ),
        ];
        for (r, status, code) in cases {
            assert_eq!(r.status(), status);
            let body = serde_json::to_value(r.body()).unwrap();
            assert_eq!(body["code"], code);
            assert!(body["message"]
                .as_str()
                .unwrap()
                .starts_with("CredentialsV2Request: "));
        }
    }
}
