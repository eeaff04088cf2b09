//! Who is calling: every request's SigV4 signature checked against the credential
//! store (`berth-credentials`), giving the [`Context`] operations run in.
//!
//! - A key of the store names its account and principal (the root user, or an agent of
//!   one cluster and region). Keys are cached for [`CACHE_TTL`], so a deleted key stops
//!   working within that time.
//! - The well-known test credential (`test`/`test`, and a 12-digit access key id with
//!   the secret `test`, naming that account) is accepted only when [`AuthMode`] allows
//!   it, which the server allows only on loopback.
//! - [`AuthMode::Unchecked`] (benchmarks, on loopback only) reads the account and region
//!   from the header without checking anything, as berth did before it verified.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use berth_awsproto::{
    valid_region, ApiError, Caller, Context, QueryFlavour, Wire, DEFAULT_ACCOUNT,
};
use berth_credentials::{
    valid_account, AccessKey, CredentialStore, Principal, TEST_ACCESS_KEY_ID,
    TEST_SECRET_ACCESS_KEY,
};
use berth_sigv4::{AuthError, Authorization, Request};
use tracing::warn;

/// How long a key read from the store is trusted before it is read again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// What the server accepts as a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Keys of the credential store only.
    Verified,
    /// Keys of the store and the well-known test credential (loopback only).
    VerifiedWithTestKeys,
    /// No check at all: the header's account and region are believed (loopback only;
    /// for measuring what verification costs).
    Unchecked,
}

impl AuthMode {
    /// Whether the mode may serve `listen` (anything but [`AuthMode::Verified`] only on
    /// loopback).
    pub fn allowed_on(self, listen: &std::net::SocketAddr) -> bool {
        self == AuthMode::Verified || listen.ip().is_loopback()
    }
}

/// A key as read from the store (none: unknown), when, and the signing key of the
/// scope it last signed for (derived once a day per region and service, not per request).
struct Cached {
    key: Option<Arc<AccessKey>>,
    read: Instant,
    signing: Option<(String, berth_sigv4::hmac::Key)>,
}

/// Checks signatures against the store.
pub(crate) struct Authenticator {
    store: Arc<CredentialStore>,
    mode: AuthMode,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Authenticator {
    pub(crate) fn new(store: Arc<CredentialStore>, mode: AuthMode) -> Authenticator {
        Authenticator {
            store,
            mode,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The context of a request signed for `service` (its signing name), or why not.
    pub(crate) fn authenticate(
        &self,
        req: &Request<'_>,
        service: &str,
        now: SystemTime,
    ) -> Result<Context, AuthError> {
        let header = req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if self.mode == AuthMode::Unchecked {
            return Ok(unchecked(header));
        }
        let auth = berth_sigv4::parse_authorization(header)?;
        check_scope(&auth, service)?;
        let (key, signing) = self
            .key(&auth)
            .ok_or_else(|| AuthError::UnknownKey(auth.access_key_id.clone()))?;
        berth_sigv4::verify_with_key(req, &auth, &signing, now)?;
        check_session(&key, req, now)?;
        context_of(key, &auth)
    }

    /// The key the header names and its signing key for the header's scope.
    fn key(&self, auth: &Authorization) -> Option<(Arc<AccessKey>, berth_sigv4::hmac::Key)> {
        let id = auth.access_key_id.as_str();
        let derive = |k: &AccessKey| {
            berth_sigv4::signing_key(
                &k.secret_access_key,
                &auth.date,
                &auth.region,
                &auth.service,
            )
        };
        let scope = auth.scope();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cache.get(id).is_some_and(|c| c.read.elapsed() < CACHE_TTL);
        if !fresh {
            let found = match self
                .test_key(id)
                .map(|k| Ok(Some(k)))
                .unwrap_or_else(|| self.store.key(id))
            {
                Ok(k) => k,
                Err(e) => {
                    warn!(error = %e, key = id, "reading the credential store");
                    return None;
                }
            };
            if cache.len() > 10_000 {
                cache.clear();
            }
            let entry = Cached {
                key: found.map(Arc::new),
                read: Instant::now(),
                signing: None,
            };
            cache.insert(id.to_string(), entry);
        }
        let entry = cache.get_mut(id)?;
        let key = entry.key.clone()?;
        match &entry.signing {
            Some((s, k)) if *s == scope => Some((key, k.clone())),
            _ => {
                let signing = derive(&key);
                entry.signing = Some((scope, signing.clone()));
                Some((key, signing))
            }
        }
    }

    fn test_key(&self, id: &str) -> Option<AccessKey> {
        if self.mode != AuthMode::VerifiedWithTestKeys {
            return None;
        }
        let account = if id == TEST_ACCESS_KEY_ID {
            DEFAULT_ACCOUNT
        } else if valid_account(id) {
            id
        } else {
            return None;
        };
        Some(AccessKey {
            access_key_id: id.to_string(),
            secret_access_key: TEST_SECRET_ACCESS_KEY.to_string(),
            account: account.to_string(),
            principal: Principal::Root,
            session: None,
        })
    }
}

fn check_scope(auth: &Authorization, service: &str) -> Result<(), AuthError> {
    if auth.service != service {
        return Err(AuthError::BadScope(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    if !valid_region(&auth.region) {
        return Err(AuthError::BadScope(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            auth.region
        )));
    }
    Ok(())
}

/// Temporary credentials: the request carries their session token, and they have not
/// expired.
fn check_session(key: &AccessKey, req: &Request<'_>, now: SystemTime) -> Result<(), AuthError> {
    let Some(session) = &key.session else {
        return Ok(());
    };
    let token = req
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    if !token.is_some_and(|t| session.token_matches(t)) {
        return Err(AuthError::UnknownKey(key.access_key_id.clone()));
    }
    if session.expired(now) {
        return Err(AuthError::Expired);
    }
    Ok(())
}

fn context_of(key: Arc<AccessKey>, auth: &Authorization) -> Result<Context, AuthError> {
    let mut ctx = Context::new(&key.account, &auth.region);
    if let Principal::Task { task_arn, .. } = &key.principal {
        ctx.caller = Caller::Task {
            task_arn: task_arn.clone(),
        };
    }
    if let Principal::Agent { region, cluster } = &key.principal {
        if *region != auth.region {
            return Err(AuthError::BadScope(format!(
                "Credential should be scoped to a valid region: this agent's is '{region}'."
            )));
        }
        ctx.caller = Caller::Agent {
            access_key_id: key.access_key_id.clone(),
            cluster: cluster.clone(),
        };
    }
    Ok(ctx)
}

/// The account (a 12-digit access key id) and region a header names, unchecked.
fn unchecked(header: Option<&str>) -> Context {
    let mut ctx = Context::default();
    let Ok(auth) = berth_sigv4::parse_authorization(header) else {
        return ctx;
    };
    if valid_account(&auth.access_key_id) {
        ctx.account = auth.access_key_id;
    }
    if valid_region(&auth.region) {
        ctx.region = auth.region;
    }
    ctx
}

/// The signing name a header's scope gives, before anything is checked (it picks among
/// query services that share a version).
pub(crate) fn signing_name(header: Option<&str>) -> Option<String> {
    let cred = header?
        .split([' ', ','])
        .find_map(|part| part.trim().strip_prefix("Credential="))?;
    cred.split('/')
        .nth(3)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A refused signature as the service's protocol says it.
pub(crate) fn auth_error(wire: Wire, e: &AuthError) -> ApiError {
    let message = match e {
        AuthError::UnknownKey(_) if matches!(wire, Wire::Query(_)) => {
            "The security token included in the request is invalid.".to_string()
        }
        e => e.to_string(),
    };
    let (status, code) = match wire {
        Wire::Query(q) if q.flavour == QueryFlavour::Ec2 => ec2_code(e),
        Wire::Query(_) => query_code(e),
        _ => json_code(e),
    };
    ApiError::new(status, code, message)
}

fn json_code(e: &AuthError) -> (u16, &'static str) {
    match e {
        AuthError::Missing => (403, "MissingAuthenticationTokenException"),
        AuthError::Incomplete(_) => (403, "IncompleteSignatureException"),
        AuthError::UnknownKey(_) => (403, "UnrecognizedClientException"),
        AuthError::Expired => (403, "ExpiredTokenException"),
        AuthError::BadScope(_) | AuthError::Mismatch | AuthError::Skewed(_) => {
            (403, "InvalidSignatureException")
        }
    }
}

fn query_code(e: &AuthError) -> (u16, &'static str) {
    match e {
        AuthError::Missing => (403, "MissingAuthenticationToken"),
        AuthError::Incomplete(_) => (400, "IncompleteSignature"),
        AuthError::UnknownKey(_) => (403, "InvalidClientTokenId"),
        AuthError::Expired => (403, "ExpiredToken"),
        AuthError::BadScope(_) | AuthError::Mismatch | AuthError::Skewed(_) => {
            (403, "SignatureDoesNotMatch")
        }
    }
}

fn ec2_code(e: &AuthError) -> (u16, &'static str) {
    match e {
        AuthError::Missing => (401, "MissingAuthenticationToken"),
        AuthError::Incomplete(_) => (400, "IncompleteSignature"),
        AuthError::UnknownKey(_) | AuthError::Expired => (401, "AuthFailure"),
        AuthError::BadScope(_) | AuthError::Mismatch => (403, "SignatureDoesNotMatch"),
        AuthError::Skewed(_) => (400, "RequestExpired"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_awsproto::{JsonVersion, QueryApi};

    const STS: QueryApi = QueryApi {
        version: "2011-06-15",
        xml_namespace: "x",
        flavour: QueryFlavour::Query,
    };
    const EC2: QueryApi = QueryApi {
        version: "2016-11-15",
        xml_namespace: "x",
        flavour: QueryFlavour::Ec2,
    };

    #[test]
    fn each_refusal_has_its_protocols_code() {
        let json = Wire::Json(JsonVersion::V1_1);
        let cases: &[(AuthError, [&str; 3])] = &[
            (
                AuthError::Missing,
                [
                    "MissingAuthenticationTokenException",
                    "MissingAuthenticationToken",
                    "MissingAuthenticationToken",
                ],
            ),
            (
                AuthError::Incomplete("x".into()),
                [
                    "IncompleteSignatureException",
                    "IncompleteSignature",
                    "IncompleteSignature",
                ],
            ),
            (
                AuthError::UnknownKey("AKIA".into()),
                [
                    "UnrecognizedClientException",
                    "InvalidClientTokenId",
                    "AuthFailure",
                ],
            ),
            (
                AuthError::Mismatch,
                [
                    "InvalidSignatureException",
                    "SignatureDoesNotMatch",
                    "SignatureDoesNotMatch",
                ],
            ),
            (
                AuthError::Skewed("Signature expired".into()),
                [
                    "InvalidSignatureException",
                    "SignatureDoesNotMatch",
                    "RequestExpired",
                ],
            ),
        ];
        for (e, [j, q, ec2]) in cases {
            assert_eq!(auth_error(json, e).code, *j);
            assert_eq!(auth_error(Wire::Cbor, e).code, *j);
            assert_eq!(auth_error(Wire::Query(STS), e).code, *q);
            assert_eq!(auth_error(Wire::Query(EC2), e).code, *ec2);
        }
    }

    #[test]
    fn modes_other_than_verified_are_loopback_only() {
        let lo = "127.0.0.1:4566".parse().unwrap();
        let any = "0.0.0.0:4566".parse().unwrap();
        assert!(AuthMode::Verified.allowed_on(&any));
        assert!(!AuthMode::VerifiedWithTestKeys.allowed_on(&any));
        assert!(!AuthMode::Unchecked.allowed_on(&any));
        assert!(AuthMode::Unchecked.allowed_on(&lo));
    }
}
