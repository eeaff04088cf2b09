//! EC2's error codes, and the errors more than one operation answers.

use berth_awsproto::{ApiError, INVALID_PARAMETER_VALUE};

pub(crate) const MISSING_PARAMETER: &str = "MissingParameter";
pub(crate) const INVALID_PARAMETER_COMBINATION: &str = "InvalidParameterCombination";
pub(crate) const DEPENDENCY_VIOLATION: &str = "DependencyViolation";
pub(crate) const DRY_RUN_OPERATION: &str = "DryRunOperation";
pub(crate) const UNSUPPORTED_OPERATION: &str = "UnsupportedOperation";
pub(crate) const INVALID_PAGINATION_TOKEN: &str = "InvalidPaginationToken";
pub(crate) const VPC_ID_NOT_SPECIFIED: &str = "VPCIdNotSpecified";
pub(crate) const INVALID_GROUP_DUPLICATE: &str = "InvalidGroup.Duplicate";
pub(crate) const INVALID_GROUP_RESERVED: &str = "InvalidGroup.Reserved";
pub(crate) const CANNOT_DELETE: &str = "CannotDelete";
pub(crate) const INVALID_PERMISSION_DUPLICATE: &str = "InvalidPermission.Duplicate";
pub(crate) const INVALID_PERMISSION_NOT_FOUND: &str = "InvalidPermission.NotFound";
pub(crate) const RULES_LIMIT_EXCEEDED: &str = "RulesPerSecurityGroupLimitExceeded";
pub(crate) const INVALID_SUBNET_RANGE: &str = "InvalidSubnet.Range";
pub(crate) const INVALID_SUBNET_CONFLICT: &str = "InvalidSubnet.Conflict";
pub(crate) const INVALID_VPC_RANGE: &str = "InvalidVpc.Range";
pub(crate) const INVALID_ID: &str = "InvalidID";
pub(crate) const TAG_LIMIT_EXCEEDED: &str = "TagLimitExceeded";

/// A row of a validation table: what is wrong when the test fails, and the test.
pub(crate) type Check<T> = (&'static str, fn(&T) -> bool);

/// `InvalidParameterValue`.
pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(400, INVALID_PARAMETER_VALUE, message)
}

/// `InvalidParameterValue` for a value of a named parameter, as EC2 words it.
pub(crate) fn invalid_value(parameter: &str, value: &str, why: &str) -> ApiError {
    invalid(format!(
        "Value ({value}) for parameter {parameter} is invalid. {why}"
    ))
}

/// `MissingParameter` naming the parameter.
pub(crate) fn missing(parameter: &str) -> ApiError {
    ApiError::new(
        400,
        MISSING_PARAMETER,
        format!("The request must contain the parameter {parameter}"),
    )
}

/// `InvalidParameterCombination`.
pub(crate) fn combination(message: impl Into<String>) -> ApiError {
    ApiError::new(400, INVALID_PARAMETER_COMBINATION, message)
}

/// `DependencyViolation`.
pub(crate) fn dependency(message: impl Into<String>) -> ApiError {
    ApiError::new(400, DEPENDENCY_VIOLATION, message)
}

/// What a request with `DryRun=true` answers once it would have succeeded.
pub(crate) fn dry_run() -> ApiError {
    ApiError::new(
        412,
        DRY_RUN_OPERATION,
        "Request would have succeeded, but DryRun flag is set.",
    )
}

/// A parameter of the model whose feature berth does not have.
pub(crate) fn unsupported(parameter: &str) -> ApiError {
    ApiError::new(
        400,
        UNSUPPORTED_OPERATION,
        format!("The parameter {parameter} is not supported by berth"),
    )
}

/// There is no default VPC (it was deleted) and the request names no VPC.
pub(crate) fn no_default_vpc() -> ApiError {
    ApiError::new(
        400,
        VPC_ID_NOT_SPECIFIED,
        "No default VPC for this user. Specify a VPC.",
    )
}

/// The first set parameter of a table of `(name, is set)` whose feature berth does
/// not have, as an error.
pub(crate) fn reject_unsupported(table: &[(&str, bool)]) -> Result<(), ApiError> {
    match table.iter().find(|(_, set)| *set) {
        Some((name, _)) => Err(unsupported(name)),
        None => Ok(()),
    }
}

/// A required parameter's value, or `MissingParameter` naming it.
pub(crate) fn required<'a, T>(value: &'a Option<T>, parameter: &str) -> Result<&'a T, ApiError> {
    value.as_ref().ok_or_else(|| missing(parameter))
}
