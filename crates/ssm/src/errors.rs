//! SSM's error codes, and the errors more than one operation answers. Messages name
//! the member at fault as AWS does (`name`, `parameterFilters.1.member.key`).

use berth_awsproto::ApiError;

pub(crate) const VALIDATION: &str = "ValidationException";
pub(crate) const ACCESS_DENIED: &str = "AccessDeniedException";
pub(crate) const PARAMETER_NOT_FOUND: &str = "ParameterNotFound";
pub(crate) const PARAMETER_ALREADY_EXISTS: &str = "ParameterAlreadyExists";
pub(crate) const VERSION_NOT_FOUND: &str = "ParameterVersionNotFound";
pub(crate) const MAX_VERSIONS: &str = "ParameterMaxVersionLimitExceeded";
pub(crate) const PATTERN_MISMATCH: &str = "ParameterPatternMismatchException";
pub(crate) const INVALID_PATTERN: &str = "InvalidAllowedPatternException";
pub(crate) const HIERARCHY_LIMIT: &str = "HierarchyLevelLimitExceededException";
pub(crate) const INVALID_FILTER_KEY: &str = "InvalidFilterKey";
pub(crate) const INVALID_FILTER_OPTION: &str = "InvalidFilterOption";
pub(crate) const INVALID_FILTER_VALUE: &str = "InvalidFilterValue";
pub(crate) const INVALID_NEXT_TOKEN: &str = "InvalidNextToken";
pub(crate) const INVALID_RESOURCE_TYPE: &str = "InvalidResourceType";
pub(crate) const INVALID_RESOURCE_ID: &str = "InvalidResourceId";
pub(crate) const TOO_MANY_TAGS: &str = "TooManyTagsError";
pub(crate) const LABEL_LIMIT: &str = "ParameterVersionLabelLimitExceeded";

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

/// An error with status 400.
pub(crate) fn err(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, code, message)
}

/// A `ValidationException` with a message of berth's.
pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    err(VALIDATION, message)
}

/// A shape constraint of the model, as AWS words it.
pub(crate) fn constraint(value: Option<&str>, member: &str, rule: &str) -> ApiError {
    let value = match value {
        Some(v) => format!("'{v}'"),
        None => "null".to_string(),
    };
    invalid(format!(
        "1 validation error detected: Value {value} at '{member}' failed to satisfy constraint: {rule}"
    ))
}

/// A required member that is missing.
pub(crate) fn missing(member: &str) -> ApiError {
    constraint(None, member, "Member must not be null")
}

/// `value`'s length (in characters) within `min..=max`, or the model's complaint.
pub(crate) fn length(value: &str, member: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min {
        let rule = format!("Member must have length greater than or equal to {min}");
        return Err(constraint(Some(value), member, &rule));
    }
    if n > max {
        let rule = format!("Member must have length less than or equal to {max}");
        // Long values are not echoed in full.
        let shown: String = value.chars().take(64).collect();
        return Err(constraint(Some(&shown), member, &rule));
    }
    Ok(())
}

/// A list's item count within `min..=max`.
pub(crate) fn count<T>(items: &[T], member: &str, min: usize, max: usize) -> Result<(), ApiError> {
    if (min..=max).contains(&items.len()) {
        return Ok(());
    }
    let rule = format!("Member must have length between {min} and {max}");
    Err(constraint(
        Some(&format!("{} items", items.len())),
        member,
        &rule,
    ))
}

/// `MaxResults` within `1..=max`, or `default` when not given.
pub(crate) fn max_results(
    given: Option<i64>,
    max: usize,
    default: usize,
) -> Result<usize, ApiError> {
    match given {
        None => Ok(default),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) if n < 1 => Err(constraint(
            Some(&n.to_string()),
            "maxResults",
            "Member must have value greater than or equal to 1",
        )),
        Some(n) => Err(constraint(
            Some(&n.to_string()),
            "maxResults",
            &format!("Member must have value less than or equal to {max}"),
        )),
    }
}

/// No parameter of that name.
pub(crate) fn not_found(name: &str) -> ApiError {
    err(PARAMETER_NOT_FOUND, format!("Parameter {name} not found."))
}

/// The parameter has no such version.
pub(crate) fn version_not_found(name: &str, version: u64) -> ApiError {
    err(
        VERSION_NOT_FOUND,
        format!("Systems Manager could not find version {version} of {name}. Verify the version and try again."),
    )
}

/// A `NextToken` that is not one of ours.
pub(crate) fn bad_token() -> ApiError {
    err(INVALID_NEXT_TOKEN, "The nextToken is not valid.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_name_the_member() {
        let e = missing("name");
        assert_eq!(e.code, VALIDATION);
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
        );
        let e = length("", "value", 1, 10).unwrap_err();
        assert!(e.message.contains("Value '' at 'value'"), "{}", e.message);
        assert!(length("abc", "value", 1, 3).is_ok());
        let e = length("abcd", "value", 1, 3).unwrap_err();
        assert!(
            e.message.contains("less than or equal to 3"),
            "{}",
            e.message
        );
        assert!(count(&[1, 2], "names", 1, 10).is_ok());
        assert!(count::<u8>(&[], "names", 1, 10).is_err());
    }

    #[test]
    fn max_results_table() {
        let rows: &[(Option<i64>, Result<usize, &str>)] = &[
            (None, Ok(10)),
            (Some(1), Ok(1)),
            (Some(50), Ok(50)),
            (Some(0), Err("greater than or equal to 1")),
            (Some(51), Err("less than or equal to 50")),
        ];
        for (given, want) in rows {
            match (max_results(*given, 50, 10), want) {
                (Ok(n), Ok(w)) => assert_eq!(n, *w),
                (Err(e), Err(w)) => assert!(e.message.contains(w), "{}", e.message),
                (got, _) => panic!("{given:?}: {got:?}"),
            }
        }
    }
}
