//! Certificate authorities: create, describe, list, update, delete, restore; the
//! store reads every operation shares.

use berth_awsproto::{decode_token, encode_token, uuid_v4, ApiError, Context};
use berth_pki::PrivateKey;
use berth_store::{Read, StoreError, Writer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arn::CaArn;
use crate::errors::{
    internal, invalid_args, invalid_state, missing, not_found, validation, INVALID_NEXT_TOKEN,
};
use crate::records::*;
use crate::tags::{check_tags, TagIn};
use crate::{algorithms, subject};

/// How long a CreateCertificateAuthority idempotency token lasts (AWS: five minutes).
const CREATE_TOKEN_SECONDS: f64 = 300.0;
const DAY: f64 = 86_400.0;

impl CaRec {
    /// Its status at `now`: an ACTIVE or DISABLED CA whose certificate has expired
    /// is EXPIRED.
    pub(crate) fn status_at(&self, now: f64) -> CaStatus {
        let a = &self.authority;
        let expired = a.not_after.is_some_and(|t| t < now);
        match a.status {
            CaStatus::Active | CaStatus::Disabled if expired => CaStatus::Expired,
            s => s,
        }
    }

    /// What DescribeCertificateAuthority shows at `now`.
    pub(crate) fn shown(&self, now: f64) -> CertificateAuthority {
        let mut a = self.authority.clone();
        a.status = self.status_at(now);
        a
    }

    /// Moves to `status` at `now`.
    pub(crate) fn set_status(&mut self, status: CaStatus, now: f64) {
        if self.authority.status != status {
            self.authority.status = status;
            self.authority.last_state_change_at = now;
        }
    }
}

/// A CA by ARN, unless there is none or its restore window has passed.
pub(crate) fn load(r: &impl Read, arn: &CaArn, now: f64) -> Result<Option<CaRec>, StoreError> {
    let keys = Keys::new(&arn.account, &arn.region);
    let rec: Option<CaRec> = r.get_json(&keys.ca(&arn.id))?;
    Ok(rec.filter(|c| !gone(c, now)))
}

/// Whether a deleted CA's restore window has passed: it is gone for good.
fn gone(c: &CaRec, now: f64) -> bool {
    c.authority.status == CaStatus::Deleted && c.authority.restorable_until.is_none_or(|t| t <= now)
}

/// The CA the caller names, or `ResourceNotFoundException`.
pub(crate) fn require(
    r: &impl Read,
    ctx: &Context,
    arn: &Option<String>,
    now: f64,
) -> Result<(CaArn, CaRec), ApiError> {
    let arn = arn
        .as_deref()
        .ok_or_else(|| missing("CertificateAuthorityArn"))?;
    let a = CaArn::of_caller(ctx, arn)?;
    match load(r, &a, now)? {
        Some(rec) => Ok((a, rec)),
        None => Err(not_found(arn)),
    }
}

pub(crate) fn save(w: &mut Writer<'_>, arn: &CaArn, rec: &CaRec) -> Result<(), ApiError> {
    let keys = Keys::new(&arn.account, &arn.region);
    w.put_json(&keys.ca(&arn.id), rec)?;
    Ok(())
}

/// A CA's private key.
pub(crate) fn private_key(r: &impl Read, arn: &CaArn) -> Result<PrivateKey, ApiError> {
    let keys = Keys::new(&arn.account, &arn.region);
    let pem = r
        .get(&keys.private_key(&arn.id))?
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::internal(format!("the private key of {} is missing", arn.arn)))?;
    PrivateKey::from_pem(&pem).map_err(|e| internal(&e))
}

// ----- CreateCertificateAuthority -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateIn {
    certificate_authority_configuration: Option<ConfigIn>,
    revocation_configuration: Option<RevocationConfiguration>,
    certificate_authority_type: Option<CaType>,
    idempotency_token: Option<String>,
    key_storage_security_standard: Option<KeyStorageSecurityStandard>,
    tags: Option<Vec<TagIn>>,
    usage_mode: Option<UsageMode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigIn {
    key_algorithm: Option<KeyAlgorithm>,
    signing_algorithm: Option<SigningAlgorithm>,
    subject: Option<Asn1Subject>,
    csr_extensions: Option<Value>,
}

/// A checked CreateCertificateAuthority.
pub(crate) struct NewCa {
    config: CaConfiguration,
    kind: CaType,
    revocation: RevocationConfiguration,
    storage: KeyStorageSecurityStandard,
    usage: UsageMode,
    tags: Vec<Tag>,
    token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateOut {
    certificate_authority_arn: String,
}

pub(crate) fn check_create(i: CreateIn) -> Result<NewCa, ApiError> {
    const CONFIG: &str = "CertificateAuthorityConfiguration";
    let c = i
        .certificate_authority_configuration
        .ok_or_else(|| missing(CONFIG))?;
    let kind = i
        .certificate_authority_type
        .ok_or_else(|| missing("CertificateAuthorityType"))?;
    let key_algorithm = c
        .key_algorithm
        .ok_or_else(|| missing("CertificateAuthorityConfiguration.KeyAlgorithm"))?;
    let signing_algorithm = c
        .signing_algorithm
        .ok_or_else(|| missing("CertificateAuthorityConfiguration.SigningAlgorithm"))?;
    let subj = c
        .subject
        .ok_or_else(|| missing("CertificateAuthorityConfiguration.Subject"))?;
    algorithms::check_pair(key_algorithm, signing_algorithm)?;
    subject::check("CertificateAuthorityConfiguration.Subject", &subj)?;
    if let Some(t) = &i.idempotency_token {
        check_token(t)?;
    }
    if c.csr_extensions.as_ref().is_some_and(|v| !v.is_object()) {
        return Err(validation(
            "CertificateAuthorityConfiguration.CsrExtensions",
            "Member must be a structure",
        ));
    }
    Ok(NewCa {
        config: CaConfiguration {
            key_algorithm,
            signing_algorithm,
            subject: subj,
            csr_extensions: c.csr_extensions,
        },
        kind,
        revocation: i
            .revocation_configuration
            .unwrap_or_else(RevocationConfiguration::off),
        storage: i.key_storage_security_standard.unwrap_or_default(),
        usage: i.usage_mode.unwrap_or_default(),
        tags: check_tags(i.tags.as_deref(), "Tags")?.unwrap_or_default(),
        token: i.idempotency_token,
    })
}

pub(crate) fn check_token(t: &str) -> Result<(), ApiError> {
    let ok = (1..=36).contains(&t.chars().count())
        && t.chars()
            .all(|c| matches!(c, '\t' | '\n' | '\r' | ' '..='\u{ff}'));
    if ok {
        Ok(())
    } else {
        Err(validation(
            "IdempotencyToken",
            "Member must have length between 1 and 36",
        ))
    }
}

/// The new CA's key and CSR, made before its transaction (an RSA key takes a while).
pub(crate) fn make_key(new: &NewCa) -> Result<(PrivateKey, String), ApiError> {
    let alg = algorithms::pki_key(new.config.key_algorithm)?;
    let key = PrivateKey::generate(alg).map_err(|e| internal(&e))?;
    let subj = subject::to_pki(&new.config.subject);
    let csr = berth_pki::make_csr(&key, &subj)
        .map_err(|e| invalid_args(format!("CertificateAuthorityConfiguration.Subject: {e}")))?;
    Ok((key, csr))
}

/// Stores a new CA (PENDING_CERTIFICATE at once) with its key, or answers the CA a
/// recent call with the same idempotency token made.
pub(crate) fn create_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    new: NewCa,
    (key, csr): (PrivateKey, String),
    now: f64,
) -> Result<CreateOut, ApiError> {
    let keys = Keys::new(&ctx.account, &ctx.region);
    if let Some(token) = &new.token {
        let seen: Option<TokenRec> = w.get_json(&keys.create_token(token))?;
        if let Some(t) = seen.filter(|t| now - t.at < CREATE_TOKEN_SECONDS) {
            return Ok(CreateOut {
                certificate_authority_arn: t.arn,
            });
        }
    }
    let arn = CaArn::new(ctx, &uuid_v4());
    let rec = CaRec {
        authority: CertificateAuthority {
            arn: arn.arn.clone(),
            owner_account: ctx.account.clone(),
            created_at: now,
            last_state_change_at: now,
            kind: new.kind,
            serial: None,
            status: CaStatus::PendingCertificate,
            not_before: None,
            not_after: None,
            failure_reason: None,
            certificate_authority_configuration: new.config,
            revocation_configuration: new.revocation,
            restorable_until: None,
            key_storage_security_standard: new.storage,
            usage_mode: new.usage,
        },
        tags: new.tags,
        csr,
        certificate: None,
        chain: None,
        path_len: None,
    };
    save(w, &arn, &rec)?;
    w.put(&keys.private_key(&arn.id), key.to_pem().as_bytes())?;
    if let Some(token) = &new.token {
        w.put_json(
            &keys.create_token(token),
            &TokenRec {
                arn: arn.arn.clone(),
                at: now,
            },
        )?;
    }
    Ok(CreateOut {
        certificate_authority_arn: arn.arn,
    })
}

// ----- DescribeCertificateAuthority, ListCertificateAuthorities -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ArnIn {
    pub certificate_authority_arn: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeOut {
    certificate_authority: CertificateAuthority,
}

pub(crate) fn describe(
    r: &impl Read,
    ctx: &Context,
    i: ArnIn,
    now: f64,
) -> Result<DescribeOut, ApiError> {
    let (_, rec) = require(r, ctx, &i.certificate_authority_arn, now)?;
    Ok(DescribeOut {
        certificate_authority: rec.shown(now),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListIn {
    max_results: Option<i64>,
    next_token: Option<String>,
    resource_owner: Option<ResourceOwner>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListOut {
    certificate_authorities: Vec<CertificateAuthority>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// `MaxResults` (1 to 1000; `default` when absent) and where `NextToken` resumes.
pub(crate) fn page(
    max: Option<i64>,
    token: &Option<String>,
    prefix: &str,
    default: usize,
) -> Result<(usize, Option<String>), ApiError> {
    let max = match max {
        None => default,
        Some(n @ 1..=1000) => n as usize,
        Some(_) => {
            return Err(validation(
                "MaxResults",
                "Member must have value between 1 and 1000",
            ))
        }
    };
    let after = match token {
        None => None,
        Some(t) => {
            let key = decode_token(t, "NextToken", INVALID_NEXT_TOKEN)?;
            if !key.starts_with(prefix) {
                return Err(crate::errors::err(
                    INVALID_NEXT_TOKEN,
                    "NextToken is not a valid pagination token",
                ));
            }
            Some(key)
        }
    };
    Ok((max, after))
}

pub(crate) fn list(r: &impl Read, ctx: &Context, i: ListIn, now: f64) -> Result<ListOut, ApiError> {
    let prefix = Keys::new(&ctx.account, &ctx.region).cas();
    let (max, after) = page(i.max_results, &i.next_token, &prefix, 1000)?;
    if i.resource_owner.unwrap_or_default() == ResourceOwner::OtherAccounts {
        return Ok(ListOut {
            certificate_authorities: vec![],
            next_token: None,
        });
    }
    // An account has few CAs (AWS allows 200 a region): read them all, then page.
    let all: Vec<(String, CaRec)> = r.scan_json(&prefix, after.as_deref(), usize::MAX)?;
    let visible: Vec<(String, CaRec)> = all.into_iter().filter(|(_, c)| !gone(c, now)).collect();
    let next_token = (visible.len() > max).then(|| encode_token(&visible[max - 1].0));
    let certificate_authorities = visible
        .iter()
        .take(max)
        .map(|(_, c)| c.shown(now))
        .collect();
    Ok(ListOut {
        certificate_authorities,
        next_token,
    })
}

// ----- UpdateCertificateAuthority -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateIn {
    certificate_authority_arn: Option<String>,
    revocation_configuration: Option<RevocationConfiguration>,
    status: Option<CaStatus>,
}

pub(crate) fn update(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: UpdateIn,
    now: f64,
) -> Result<Value, ApiError> {
    let (arn, mut rec) = require(w, ctx, &i.certificate_authority_arn, now)?;
    let current = rec.status_at(now);
    if current == CaStatus::Deleted {
        return Err(invalid_state(
            &arn.arn,
            current,
            "a deleted CA cannot be updated",
        ));
    }
    if let Some(status) = i.status {
        let next = status_change(current, status).map_err(|why| match why {
            Refusal::Args(m) => invalid_args(m),
            Refusal::State(m) => invalid_state(&arn.arn, current, m),
        })?;
        rec.set_status(next, now);
    }
    if let Some(rc) = i.revocation_configuration {
        rec.authority.revocation_configuration = rc;
    }
    save(w, &arn, &rec)?;
    Ok(Value::Object(Default::default()))
}

/// Why a status change is refused.
#[derive(Debug, PartialEq)]
pub(crate) enum Refusal {
    /// The status asked for is not one a caller may set.
    Args(&'static str),
    /// The CA's status does not allow it.
    State(&'static str),
}

/// What UpdateCertificateAuthority's `Status` does to a CA in `current`.
pub(crate) fn status_change(current: CaStatus, wanted: CaStatus) -> Result<CaStatus, Refusal> {
    use CaStatus::*;
    match (current, wanted) {
        (_, Creating | PendingCertificate | Deleted | Expired | Failed) => Err(Refusal::Args(
            "Status can only be set to ACTIVE or DISABLED",
        )),
        (Active | Disabled, w) => Ok(w),
        (PendingCertificate | Creating, _) => Err(Refusal::State("import its certificate first")),
        (Expired, _) => Err(Refusal::State(
            "its certificate has expired; import a new one",
        )),
        (Failed | Deleted, _) => Err(Refusal::State("its status cannot be changed")),
    }
}

// ----- DeleteCertificateAuthority, RestoreCertificateAuthority -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteIn {
    certificate_authority_arn: Option<String>,
    permanent_deletion_time_in_days: Option<i64>,
}

/// What deleting a CA in a status does.
#[derive(Debug, PartialEq)]
pub(crate) enum Deletion {
    /// Gone at once: it never had a certificate.
    Now,
    /// DELETED, restorable for the window.
    Restorable,
}

pub(crate) fn deletion(status: CaStatus) -> Result<Deletion, &'static str> {
    match status {
        CaStatus::Creating | CaStatus::PendingCertificate | CaStatus::Failed => Ok(Deletion::Now),
        CaStatus::Disabled | CaStatus::Expired => Ok(Deletion::Restorable),
        CaStatus::Active => Err("disable it before deleting it"),
        CaStatus::Deleted => Err("it is already deleted"),
    }
}

pub(crate) fn delete(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: DeleteIn,
    now: f64,
) -> Result<Value, ApiError> {
    let days = match i.permanent_deletion_time_in_days {
        None => 30,
        Some(d @ 7..=30) => d,
        Some(_) => {
            return Err(validation(
                "PermanentDeletionTimeInDays",
                "Member must have value between 7 and 30",
            ))
        }
    };
    let (arn, mut rec) = require(w, ctx, &i.certificate_authority_arn, now)?;
    let status = rec.status_at(now);
    match deletion(status).map_err(|why| invalid_state(&arn.arn, status, why))? {
        Deletion::Now => purge(w, &arn)?,
        Deletion::Restorable => {
            rec.set_status(CaStatus::Deleted, now);
            rec.authority.restorable_until = Some(now + days as f64 * DAY);
            save(w, &arn, &rec)?;
        }
    }
    Ok(Value::Object(Default::default()))
}

/// Removes a CA, its key and its certificates.
fn purge(w: &mut Writer<'_>, arn: &CaArn) -> Result<(), ApiError> {
    let keys = Keys::new(&arn.account, &arn.region);
    w.delete(&keys.ca(&arn.id))?;
    w.delete(&keys.private_key(&arn.id))?;
    loop {
        let batch = w.scan(&keys.certs(&arn.id), None, 500)?;
        if batch.is_empty() {
            return Ok(());
        }
        for (k, _) in batch {
            w.delete(&k)?;
        }
    }
}

pub(crate) fn restore(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: ArnIn,
    now: f64,
) -> Result<Value, ApiError> {
    let (arn, mut rec) = require(w, ctx, &i.certificate_authority_arn, now)?;
    let status = rec.status_at(now);
    if status != CaStatus::Deleted {
        return Err(invalid_state(
            &arn.arn,
            status,
            "only a deleted CA can be restored",
        ));
    }
    let back = if rec.certificate.is_some() {
        CaStatus::Disabled
    } else {
        CaStatus::PendingCertificate
    };
    rec.set_status(back, now);
    rec.authority.restorable_until = None;
    save(w, &arn, &rec)?;
    Ok(Value::Object(Default::default()))
}
