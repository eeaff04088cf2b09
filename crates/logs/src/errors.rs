//! CloudWatch Logs' error codes, and the errors more than one operation answers.

use berth_awsproto::{ApiError, Input};
use serde::de::DeserializeOwned;

pub(crate) const INVALID_PARAMETER: &str = "InvalidParameterException";
pub(crate) const RESOURCE_NOT_FOUND: &str = "ResourceNotFoundException";
pub(crate) const ALREADY_EXISTS: &str = "ResourceAlreadyExistsException";
pub(crate) const TOO_MANY_TAGS: &str = "TooManyTagsException";
pub(crate) const VALIDATION: &str = "ValidationException";

/// A row of a validation table: what is wrong when the test fails, and the test.
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

/// An `InvalidParameterException` with `message`.
pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(400, INVALID_PARAMETER, message)
}

/// A constraint of the model a member fails, worded as AWS words it.
pub(crate) fn constraint(value: &str, member: &str, why: &str) -> ApiError {
    invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {why}"
    ))
}

pub(crate) fn group_not_found() -> ApiError {
    ApiError::new(
        400,
        RESOURCE_NOT_FOUND,
        "The specified log group does not exist.",
    )
}

pub(crate) fn stream_not_found() -> ApiError {
    ApiError::new(
        400,
        RESOURCE_NOT_FOUND,
        "The specified log stream does not exist.",
    )
}

pub(crate) fn group_exists() -> ApiError {
    ApiError::new(
        400,
        ALREADY_EXISTS,
        "The specified log group already exists",
    )
}

pub(crate) fn stream_exists() -> ApiError {
    ApiError::new(
        400,
        ALREADY_EXISTS,
        "The specified log stream already exists",
    )
}

pub(crate) fn bad_token(member: &str) -> ApiError {
    invalid(format!("The specified {member} is invalid."))
}

/// An SQLite failure is berth's fault: `InternalFailure`, and the server keeps serving.
pub(crate) fn db(e: rusqlite::Error) -> ApiError {
    tracing::warn!(error = %e, "logs database");
    ApiError::internal(format!("logs database: {e}"))
}

/// An operation's input. Members the model does not have, a value outside an enum and a
/// missing required member are `InvalidParameterException`s naming the member; other
/// type mismatches stay `SerializationException`s.
pub(crate) fn parse<T: DeserializeOwned>(input: Input) -> Result<T, ApiError> {
    input.parse().map_err(|mut e| {
        const AS_PARAMETER: [&str; 3] = ["unknown field", "unknown variant", "missing field"];
        if AS_PARAMETER.iter().any(|m| e.message.contains(m)) {
            e.code = INVALID_PARAMETER.to_string();
        }
        e
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct In {
        log_group_name: String,
        limit: Option<i32>,
    }

    #[test]
    fn unknown_and_missing_members_are_invalid_parameters() {
        let e = parse::<In>(Input::Json(json!({"logGroupName": "a", "colour": 1}))).unwrap_err();
        assert_eq!(e.code, INVALID_PARAMETER);
        assert!(e.message.contains("colour"), "{}", e.message);
        let e = parse::<In>(Input::Json(json!({}))).unwrap_err();
        assert_eq!(e.code, INVALID_PARAMETER);
        assert!(e.message.contains("logGroupName"), "{}", e.message);
        let e = parse::<In>(Input::Json(json!({"logGroupName": "a", "limit": "x"}))).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert!(e.message.contains("limit"), "{}", e.message);
    }
}
