//! ELBv2's error codes (each with HTTP status 400, as the model's `error` traits say)
//! and their constructors.

use berth_awsproto::{ApiError, INVALID_PARAMETER_VALUE};

pub const VALIDATION_ERROR: &str = "ValidationError";
pub const DUPLICATE_LOAD_BALANCER_NAME: &str = "DuplicateLoadBalancerName";
pub const DUPLICATE_TARGET_GROUP_NAME: &str = "DuplicateTargetGroupName";
pub const DUPLICATE_LISTENER: &str = "DuplicateListener";
pub const DUPLICATE_TAG_KEYS: &str = "DuplicateTagKeys";
pub const PRIORITY_IN_USE: &str = "PriorityInUse";
pub const TOO_MANY_LOAD_BALANCERS: &str = "TooManyLoadBalancers";
pub const TOO_MANY_TARGET_GROUPS: &str = "TooManyTargetGroups";
pub const TOO_MANY_LISTENERS: &str = "TooManyListeners";
pub const TOO_MANY_RULES: &str = "TooManyRules";
pub const TOO_MANY_TARGETS: &str = "TooManyTargets";
pub const TOO_MANY_TAGS: &str = "TooManyTags";
pub const LOAD_BALANCER_NOT_FOUND: &str = "LoadBalancerNotFound";
pub const TARGET_GROUP_NOT_FOUND: &str = "TargetGroupNotFound";
pub const LISTENER_NOT_FOUND: &str = "ListenerNotFound";
pub const RULE_NOT_FOUND: &str = "RuleNotFound";
pub const INVALID_TARGET: &str = "InvalidTarget";
pub const TARGET_GROUP_ASSOCIATION_LIMIT: &str = "TargetGroupAssociationLimit";
pub const RESOURCE_IN_USE: &str = "ResourceInUse";
pub const OPERATION_NOT_PERMITTED: &str = "OperationNotPermitted";
pub const INVALID_LOAD_BALANCER_ACTION: &str = "InvalidLoadBalancerAction";
pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
pub const INVALID_CONFIGURATION_REQUEST: &str = "InvalidConfigurationRequest";
pub const SUBNET_NOT_FOUND: &str = "SubnetNotFound";
pub const INVALID_SECURITY_GROUP: &str = "InvalidSecurityGroup";

/// An error with `code` (status 400).
pub fn err(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, code, message)
}

/// `ValidationError`.
pub fn validation(message: impl Into<String>) -> ApiError {
    err(VALIDATION_ERROR, message)
}

/// `InvalidConfigurationRequest`.
pub fn configuration(message: impl Into<String>) -> ApiError {
    err(INVALID_CONFIGURATION_REQUEST, message)
}

/// A required member not given: `ValidationError` naming it.
pub fn missing(field: &str) -> ApiError {
    validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

/// A required member's value, or [`missing`].
pub fn required<'a, T>(value: &'a Option<T>, field: &str) -> Result<&'a T, ApiError> {
    value.as_ref().ok_or_else(|| missing(field))
}

/// What berth cannot honour, refused with `code` and a message saying so.
pub fn unsupported(code: &str, what: &str) -> ApiError {
    err(code, format!("berth does not support {what}"))
}

/// A query form value that does not fit its member: ELB answers `ValidationError`
/// where the generic decoder says `InvalidParameterValue`.
pub fn as_elb(e: ApiError) -> ApiError {
    if e.code == INVALID_PARAMETER_VALUE {
        return ApiError {
            code: VALIDATION_ERROR.to_string(),
            ..e
        };
    }
    e
}
