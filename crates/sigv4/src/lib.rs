//! AWS Signature Version 4, both ways: [`sign`] a request as an AWS SDK does, and
//! [`verify`] one as an AWS service does.
//!
//! The signature covers the method, the path, the query, the headers the client chose
//! to sign (`host` and `x-amz-date` at least) and the body's SHA-256, under a key
//! derived from the secret, the day, the region and the service
//! (`AWS4` + secret → date → region → service → `aws4_request`). A verifier recomputes
//! it from what it received and compares in constant time; the request's time must be
//! within [`MAX_SKEW`] of the verifier's clock.
//!
//! Everything here is pure: the clock is passed in, and the secret is the caller's to
//! find ([`verify`] takes it once [`parse_authorization`] named the key).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{constant_time, digest};

pub use aws_lc_rs::hmac;
use http::HeaderMap;

mod time;

pub use time::{amz_date, parse_amz_date, parse_http_date};

/// The only algorithm berth accepts (and AWS's services, for SigV4).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's time may be from the verifier's clock, either way.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
const TERMINATOR: &str = "aws4_request";

/// Why a request's signature was not accepted, in the terms AWS's errors use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("Missing Authentication Token")]
    Missing,
    /// The header or the request lacks a part a signature needs.
    #[error("{0}")]
    Incomplete(String),
    /// The access key id is not one the verifier knows.
    #[error("The security token included in the request is invalid.")]
    UnknownKey(String),
    /// The credential scope does not fit the request (date, region, service).
    #[error("{0}")]
    BadScope(String),
    /// The signature is not the one the secret gives.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    Mismatch,
    /// The request's time is more than [`MAX_SKEW`] away from now.
    #[error("{0}")]
    Skewed(String),
    /// Temporary credentials past their expiry.
    #[error("The security token included in the request is expired")]
    Expired,
}

/// What an `Authorization` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id of the credential.
    pub access_key_id: String,
    /// The scope's day, `YYYYMMDD`.
    pub date: String,
    /// The scope's region.
    pub region: String,
    /// The scope's service (the signing name).
    pub service: String,
    /// The signed headers, lowercase, in the order given (sorted, if well made).
    pub signed_headers: Vec<String>,
    /// The signature, lowercase hex.
    pub signature: String,
}

impl Authorization {
    /// The credential scope: `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }
}

/// The parts of a request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The query string as sent, without `?`.
    pub query: &'a str,
    /// Every header.
    pub headers: &'a HeaderMap,
    /// The whole body.
    pub body: &'a [u8],
}

/// Reads an `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=<hex>`.
pub fn parse_authorization(value: Option<&str>) -> Result<Authorization, AuthError> {
    let value = value.ok_or(AuthError::Missing)?.trim();
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(AuthError::Incomplete(format!(
            "Unsupported authorization type '{algorithm}': only {ALGORITHM} (Signature Version 4) is accepted"
        )));
    }
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, v) = part.split_once('=').ok_or_else(|| {
            AuthError::Incomplete(format!(
                "Authorization header requires each component to be of the form key=value: '{part}'"
            ))
        })?;
        match name {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let missing = [
        ("Credential", credential.is_none()),
        ("Signature", signature.is_none()),
        ("SignedHeaders", signed.is_none()),
    ];
    let missing: Vec<String> = missing
        .iter()
        .filter(|(_, m)| *m)
        .map(|(n, _)| format!("Authorization header requires '{n}' parameter."))
        .collect();
    if !missing.is_empty() {
        return Err(AuthError::Incomplete(missing.join(" ")));
    }
    let (access_key_id, date, region, service) = parse_credential(credential.unwrap_or(""))?;
    let signature = signature.unwrap_or("").to_ascii_lowercase();
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Incomplete(
            "Signature must be 64 hexadecimal characters".to_string(),
        ));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed
            .unwrap_or("")
            .split(';')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
        signature,
    })
}

fn parse_credential(credential: &str) -> Result<(String, String, String, String), AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = parts[..] else {
        return Err(AuthError::Incomplete(format!(
            "Credential '{credential}' is not of the form <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request"
        )));
    };
    if key.is_empty() || region.is_empty() || service.is_empty() {
        return Err(AuthError::Incomplete(format!(
            "Credential '{credential}' has an empty access key id, region or service"
        )));
    }
    if terminator != TERMINATOR {
        return Err(AuthError::BadScope(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::BadScope(format!(
            "Date '{date}' in Credential scope is not of the form YYYYMMDD."
        )));
    }
    Ok((
        key.to_string(),
        date.to_string(),
        region.to_string(),
        service.to_string(),
    ))
}

/// The request's time: `X-Amz-Date` (ISO 8601 basic), else `Date` (HTTP date).
pub fn request_time(headers: &HeaderMap) -> Result<(SystemTime, String), AuthError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(v) = header("x-amz-date") {
        let t = parse_amz_date(v).ok_or_else(|| {
            AuthError::Incomplete(format!(
                "X-Amz-Date '{v}' is not of the form YYYYMMDD'T'HHMMSS'Z'"
            ))
        })?;
        return Ok((t, v.to_string()));
    }
    if let Some(v) = header("date") {
        let t = parse_http_date(v)
            .ok_or_else(|| AuthError::Incomplete(format!("Date '{v}' is not an HTTP date")))?;
        return Ok((t, amz_date(t)));
    }
    Err(AuthError::Incomplete(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            .to_string(),
    ))
}

/// Checks a request against its parsed `Authorization` and the key's secret, at `now`.
pub fn verify(
    req: &Request<'_>,
    auth: &Authorization,
    secret: &str,
    now: SystemTime,
) -> Result<(), AuthError> {
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    verify_with_key(req, auth, &key, now)
}

/// [`verify`] with the signing key of the secret for the header's scope already
/// derived ([`signing_key`]), as a verifier that keeps them does.
pub fn verify_with_key(
    req: &Request<'_>,
    auth: &Authorization,
    key: &hmac::Key,
    now: SystemTime,
) -> Result<(), AuthError> {
    let (at, amz) = request_time(req.headers)?;
    check_skew(at, &amz, now)?;
    if amz[..8] != auth.date {
        return Err(AuthError::BadScope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            auth.date,
            &amz[..8]
        )));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::Incomplete(
            "'Host' must be a signed header".to_string(),
        ));
    }
    let canonical = canonical_request(req, &auth.signed_headers);
    let to_sign = string_to_sign(&amz, &auth.scope(), &canonical);
    let expected = hex(hmac::sign(key, to_sign.as_bytes()).as_ref());
    constant_time::verify_slices_are_equal(expected.as_bytes(), auth.signature.as_bytes())
        .map_err(|_| AuthError::Mismatch)
}

fn check_skew(at: SystemTime, amz: &str, now: SystemTime) -> Result<(), AuthError> {
    let minutes = MAX_SKEW.as_secs() / 60;
    if at + MAX_SKEW < now {
        return Err(AuthError::Skewed(format!(
            "Signature expired: {amz} is now earlier than {} ({} - {minutes} min.)",
            amz_date(now - MAX_SKEW),
            amz_date(now)
        )));
    }
    if at > now + MAX_SKEW {
        return Err(AuthError::Skewed(format!(
            "Signature not yet current: {amz} is still later than {} ({} + {minutes} min.)",
            amz_date(now + MAX_SKEW),
            amz_date(now)
        )));
    }
    Ok(())
}

/// What a client signs with.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

/// Signs `req` for `region` and `service` at `now`: the headers to add to it
/// (`x-amz-date`, `authorization`). The request's headers must already hold `host`;
/// every header it holds is signed.
pub fn sign(
    req: &Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> [(&'static str, String); 2] {
    let amz = amz_date(now);
    let mut signed: Vec<String> = req
        .headers
        .keys()
        .map(|k| k.as_str().to_string())
        .chain(std::iter::once("x-amz-date".to_string()))
        .filter(|h| h != "authorization")
        .collect();
    signed.sort();
    signed.dedup();
    let mut headers = req.headers.clone();
    headers.insert(
        "x-amz-date",
        http::HeaderValue::from_str(&amz).expect("an ISO 8601 date is a header value"),
    );
    let with_date = Request {
        headers: &headers,
        ..*req
    };
    let scope = format!("{}/{region}/{service}/{TERMINATOR}", &amz[..8]);
    let canonical = canonical_request(&with_date, &signed);
    let to_sign = string_to_sign(&amz, &scope, &canonical);
    let key = signing_key(&credentials.secret_access_key, &amz[..8], region, service);
    let signature = hex(hmac::sign(&key, to_sign.as_bytes()).as_ref());
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        credentials.access_key_id,
        signed.join(";")
    );
    [("x-amz-date", amz), ("authorization", authorization)]
}

/// The canonical request: method, canonical path, canonical query, the signed
/// headers' canonical lines, the signed header list and the body's hash.
pub fn canonical_request(req: &Request<'_>, signed_headers: &[String]) -> String {
    let payload = req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| hex(digest::digest(&digest::SHA256, req.body).as_ref()));
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_path(req.path));
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        push_header_value(&mut out, req.headers, name);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(&payload);
    out
}

/// A header's values, each trimmed with inner runs of spaces made one, joined by `,`,
/// written straight into `out`.
fn push_header_value(out: &mut String, headers: &HeaderMap, name: &str) {
    for (i, v) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let text = String::from_utf8_lossy(v.as_bytes());
        for (j, word) in text.split_whitespace().enumerate() {
            if j > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
}

/// The path with dot segments removed, each segment encoded once more (services
/// other than S3 sign the path as the client sent it, encoded again).
fn canonical_path(path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    for seg in &segments {
        out.push('/');
        out.push_str(&uri_encode(seg.as_bytes()));
    }
    if out.is_empty() || (path.ends_with('/') && !out.ends_with('/')) {
        out.push('/');
    }
    out
}

/// The query's parameters decoded, encoded strictly, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn string_to_sign(amz_date: &str, scope: &str, canonical: &str) -> String {
    let hashed = hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{hashed}")
}

/// The signing key of a secret for one day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k = step(format!("AWS4{secret}").as_bytes(), date);
    let k = step(k.as_ref(), region);
    let k = step(k.as_ref(), service);
    let k = step(k.as_ref(), TERMINATOR);
    hmac::Key::new(hmac::HMAC_SHA256, k.as_ref())
}

/// RFC 3986 encoding: everything but unreserved characters as `%XX`.
fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hexval = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hexval(h).is_some() && hexval(l).is_some() => {
                out.push(hexval(h).unwrap_or(0) * 16 + hexval(l).unwrap_or(0));
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Seconds since the epoch, for callers that keep times as numbers.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
