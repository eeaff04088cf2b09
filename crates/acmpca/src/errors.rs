//! ACM PCA's error codes, and the errors more than one operation answers.

use berth_awsproto::ApiError;
use berth_pki::PkiError;

use crate::records::CaStatus;

pub(crate) const RESOURCE_NOT_FOUND: &str = "ResourceNotFoundException";
pub(crate) const INVALID_ARN: &str = "InvalidArnException";
pub(crate) const INVALID_STATE: &str = "InvalidStateException";
pub(crate) const INVALID_ARGS: &str = "InvalidArgsException";
pub(crate) const INVALID_REQUEST: &str = "InvalidRequestException";
pub(crate) const INVALID_NEXT_TOKEN: &str = "InvalidNextTokenException";
pub(crate) const MALFORMED_CSR: &str = "MalformedCSRException";
pub(crate) const MALFORMED_CERTIFICATE: &str = "MalformedCertificateException";
pub(crate) const CERTIFICATE_MISMATCH: &str = "CertificateMismatchException";
pub(crate) const INVALID_TAG: &str = "InvalidTagException";
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

pub(crate) fn err(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, code, message)
}

pub(crate) fn invalid_args(message: impl Into<String>) -> ApiError {
    err(INVALID_ARGS, message)
}

/// A shape constraint the model states, as AWS words it.
pub(crate) fn validation(member: &str, constraint: &str) -> ApiError {
    err(
        VALIDATION,
        format!("1 validation error detected: Value at '{member}' failed to satisfy constraint: {constraint}"),
    )
}

/// A required member that is missing.
pub(crate) fn missing(member: &str) -> ApiError {
    validation(member, "Member must not be null")
}

pub(crate) fn not_found(arn: &str) -> ApiError {
    err(
        RESOURCE_NOT_FOUND,
        format!("Could not find resource {arn}."),
    )
}

pub(crate) fn invalid_arn(arn: &str) -> ApiError {
    err(INVALID_ARN, format!("The ARN {arn} is not valid."))
}

/// The CA is in a status the operation does not work in.
pub(crate) fn invalid_state(arn: &str, status: CaStatus, what: &str) -> ApiError {
    err(
        INVALID_STATE,
        format!("The certificate authority {arn} is in the {status} state: {what}."),
    )
}

/// A CSR berth cannot read or sign.
pub(crate) fn malformed_csr(e: &PkiError) -> ApiError {
    err(MALFORMED_CSR, format!("Csr: {e}"))
}

/// A certificate berth cannot read or accept.
pub(crate) fn malformed_certificate(member: &str, e: &PkiError) -> ApiError {
    err(MALFORMED_CERTIFICATE, format!("{member}: {e}"))
}

/// A failure of berth's own (making a key, signing).
pub(crate) fn internal(e: &PkiError) -> ApiError {
    ApiError::internal(e.to_string())
}
