//! A task's `secrets`, resolved before it starts.
//!
//! The agent reads every `valueFrom` of a task (SSM parameters and Secrets Manager
//! secrets, through berth's API with the task's execution role) before the runtime
//! starts anything; the runtime only looks the values up, so a container gets exactly
//! what was resolved for its task, and nothing starts when one is missing.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// The values of a task's `valueFrom`s. Its `Debug` shows names, never values.
#[derive(Clone, Default)]
pub struct ResolvedSecrets {
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for ResolvedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl ResolvedSecrets {
    /// The values of `(valueFrom, value)` pairs.
    pub fn new(values: impl IntoIterator<Item = (String, String)>) -> ResolvedSecrets {
        ResolvedSecrets {
            values: values.into_iter().collect(),
        }
    }

    /// The value of `value_from`.
    pub fn resolve(&self, value_from: &str) -> Result<String> {
        self.values
            .get(value_from)
            .cloned()
            .ok_or_else(|| Error::Secret(format!("secret {value_from:?} was not resolved")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_looked_up_and_never_shown() {
        let s = ResolvedSecrets::new([("arn:x".to_string(), "s3cret".to_string())]);
        let got = s
            .resolve_all(&[("PW".to_string(), "arn:x".to_string())])
            .unwrap();
        assert_eq!(got, vec![("PW".to_string(), "s3cret".to_string())]);
        assert!(!format!("{s:?}").contains("s3cret"));
        let e = s
            .resolve_all(&[("PW".to_string(), "arn:y".to_string())])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ResourceInitializationError: unable to pull secrets or registry auth: secret \"arn:y\" was not resolved"
        );
    }
}
