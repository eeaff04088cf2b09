//! Secrets Manager's error codes and messages, and the validation tables' engine.

use berth_awsproto::ApiError;

pub(crate) const RESOURCE_NOT_FOUND: &str = "ResourceNotFoundException";
pub(crate) const RESOURCE_EXISTS: &str = "ResourceExistsException";
pub(crate) const INVALID_PARAMETER: &str = "InvalidParameterException";
pub(crate) const INVALID_REQUEST: &str = "InvalidRequestException";
pub(crate) const INVALID_NEXT_TOKEN: &str = "InvalidNextTokenException";
pub(crate) const LIMIT_EXCEEDED: &str = "LimitExceededException";
pub(crate) const DECRYPTION_FAILURE: &str = "DecryptionFailure";
pub(crate) const VALIDATION: &str = "ValidationException";

/// A client error with `code`.
pub(crate) fn err(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, code, message)
}

/// `InvalidParameterException`.
pub(crate) fn invalid_parameter(message: impl Into<String>) -> ApiError {
    err(INVALID_PARAMETER, message)
}

/// `InvalidRequestException`.
pub(crate) fn invalid_request(message: impl Into<String>) -> ApiError {
    err(INVALID_REQUEST, message)
}

/// A constraint of the model, worded as AWS words it.
pub(crate) fn validation(member: &str, constraint: &str) -> ApiError {
    err(
        VALIDATION,
        format!("1 validation error detected: Value at '{member}' failed to satisfy constraint: {constraint}"),
    )
}

/// No secret answers to the id given.
pub(crate) fn not_found() -> ApiError {
    err(
        RESOURCE_NOT_FOUND,
        "Secrets Manager can't find the specified secret.",
    )
}

/// The secret has no version with the staging label / version id asked for.
pub(crate) fn value_not_found(what: &str) -> ApiError {
    err(
        RESOURCE_NOT_FOUND,
        format!("Secrets Manager can't find the specified secret value for {what}"),
    )
}

/// The secret is scheduled for deletion: only DescribeSecret, ListSecretVersionIds,
/// DeleteSecret (forced) and RestoreSecret work on it.
pub(crate) fn marked_for_deletion() -> ApiError {
    invalid_request(
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

/// A secret with that name exists.
pub(crate) fn exists(name: &str) -> ApiError {
    err(
        RESOURCE_EXISTS,
        format!("The operation failed because the secret {name} already exists."),
    )
}

/// A version's id is taken by a version with another value.
pub(crate) fn version_exists() -> ApiError {
    err(
        RESOURCE_EXISTS,
        "You can't modify an existing version, you can only create a new version.",
    )
}

/// A stored value that does not open (changed bytes, another data directory's key).
pub(crate) fn decryption_failure() -> ApiError {
    err(
        DECRYPTION_FAILURE,
        "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
    )
}

/// A string member's length rule: the member, how to read it, and its bounds (in
/// characters, as the model counts them).
pub(crate) struct Length<T> {
    pub member: &'static str,
    pub get: fn(&T) -> Option<&str>,
    pub min: usize,
    pub max: usize,
}

/// The first member of `table` whose length is out of its bounds, as AWS answers it.
pub(crate) fn check_lengths<T>(table: &[Length<T>], input: &T) -> Result<(), ApiError> {
    for rule in table {
        let Some(value) = (rule.get)(input) else {
            continue;
        };
        let n = value.chars().count();
        if n < rule.min {
            let c = format!(
                "Member must have length greater than or equal to {}",
                rule.min
            );
            return Err(validation(rule.member, &c));
        }
        if n > rule.max {
            let c = format!("Member must have length less than or equal to {}", rule.max);
            return Err(validation(rule.member, &c));
        }
    }
    Ok(())
}

/// A row of a table of named checks: what is wrong when the test fails, and the test.
pub(crate) type Check<T> = (&'static str, fn(&T) -> bool);

/// The first failing row of `table` for `value`, as `error(why)`.
pub(crate) fn check<T: ?Sized>(
    table: &[Check<T>],
    value: &T,
    error: impl FnOnce(&str) -> ApiError,
) -> Result<(), ApiError> {
    match table.iter().find(|(_, ok)| !ok(value)) {
        Some((why, _)) => Err(error(why)),
        None => Ok(()),
    }
}

/// A `MaxResults` within 1..=`max`, or `default`.
pub(crate) fn max_results(n: Option<i64>, max: i64, default: usize) -> Result<usize, ApiError> {
    match n {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(_) => Err(validation(
            "MaxResults",
            &format!("Member must have value between 1 and {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct In {
        a: Option<String>,
    }

    const RULES: &[Length<In>] = &[Length {
        member: "A",
        get: |i| i.a.as_deref(),
        min: 2,
        max: 3,
    }];

    #[test]
    fn lengths_name_the_member() {
        let t = |a: Option<&str>| {
            check_lengths(
                RULES,
                &In {
                    a: a.map(String::from),
                },
            )
            .map_err(|e| e.message)
        };
        assert!(t(None).is_ok());
        assert!(t(Some("éé")).is_ok(), "characters, not bytes");
        assert!(t(Some("a")).unwrap_err().contains("'A'"));
        assert!(t(Some("abcd"))
            .unwrap_err()
            .contains("less than or equal to 3"));
        assert_eq!(max_results(None, 100, 7).unwrap(), 7);
        assert_eq!(max_results(Some(100), 100, 7).unwrap(), 100);
        assert_eq!(max_results(Some(0), 100, 7).unwrap_err().code, VALIDATION);
        assert_eq!(max_results(Some(101), 100, 7).unwrap_err().code, VALIDATION);
    }
}
