//! A CA's own CSR and certificate: GetCertificateAuthorityCsr,
//! ImportCertificateAuthorityCertificate, GetCertificateAuthorityCertificate.

use base64::Engine;
use berth_awsproto::{ApiError, Context};
use berth_pki::{parse_bundle, parse_certificate, pem_bundle, verify_chain, CertInfo};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ca::{private_key, require, save, ArnIn};
use crate::errors::{
    err, invalid_state, malformed_certificate, missing, validation, CERTIFICATE_MISMATCH,
    INVALID_REQUEST, MALFORMED_CERTIFICATE,
};
use crate::records::{CaRec, CaStatus, CaType};

/// A blob member: base64 in JSON (CBOR's byte strings arrive so too).
pub(crate) fn blob(member: &str, value: &Option<String>, max: usize) -> Result<Vec<u8>, ApiError> {
    let text = value.as_deref().ok_or_else(|| missing(member))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| ApiError::serialization(format!("{member} is not base64: {text:.40}")))?;
    if bytes.is_empty() || bytes.len() > max {
        return Err(validation(
            member,
            &format!("Member must have length between 1 and {max}"),
        ));
    }
    Ok(bytes)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CsrOut {
    csr: String,
}

pub(crate) fn get_csr(
    r: &impl Read,
    ctx: &Context,
    i: ArnIn,
    now: f64,
) -> Result<CsrOut, ApiError> {
    let (arn, rec) = require(r, ctx, &i.certificate_authority_arn, now)?;
    let status = rec.status_at(now);
    if matches!(
        status,
        CaStatus::Deleted | CaStatus::Failed | CaStatus::Creating
    ) {
        return Err(invalid_state(&arn.arn, status, "it has no CSR to get"));
    }
    Ok(CsrOut { csr: rec.csr })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ImportIn {
    certificate_authority_arn: Option<String>,
    certificate: Option<String>,
    certificate_chain: Option<String>,
}

/// Imports a CA's certificate: it must be a CA certificate for the CA's key, a root's
/// self-signed, a subordinate's verified by the chain up to a root. A CA waiting for
/// its certificate becomes ACTIVE.
pub(crate) fn import(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: ImportIn,
    now: f64,
) -> Result<Value, ApiError> {
    let cert_bytes = blob("Certificate", &i.certificate, 32_768)?;
    let chain_bytes = match &i.certificate_chain {
        Some(_) => Some(blob("CertificateChain", &i.certificate_chain, 2_097_152)?),
        None => None,
    };
    let (arn, mut rec) = require(w, ctx, &i.certificate_authority_arn, now)?;
    let status = rec.status_at(now);
    if matches!(
        status,
        CaStatus::Deleted | CaStatus::Failed | CaStatus::Creating
    ) {
        return Err(invalid_state(
            &arn.arn,
            status,
            "no certificate can be imported",
        ));
    }
    let cert =
        parse_certificate(&cert_bytes).map_err(|e| malformed_certificate("Certificate", &e))?;
    check_own(&cert, &private_key(w, &arn)?, now)?;
    let chain = check_chain(&rec, &cert, chain_bytes.as_deref())?;
    set_certificate(&mut rec, &cert, chain, now);
    save(w, &arn, &rec)?;
    Ok(Value::Object(Default::default()))
}

/// The certificate is a CA certificate, for the CA's key, still valid.
fn check_own(cert: &CertInfo, key: &berth_pki::PrivateKey, now: f64) -> Result<(), ApiError> {
    if !cert.is_ca {
        let message =
            "Certificate: not a CA certificate (its basic constraints do not say CA:TRUE)";
        return Err(err(MALFORMED_CERTIFICATE, message));
    }
    if !cert.matches_key(key) {
        let message = "The certificate's public key is not the certificate authority's: sign the CA's own CSR (GetCertificateAuthorityCsr)";
        return Err(err(CERTIFICATE_MISMATCH, message));
    }
    if (cert.not_after as f64) < now {
        return Err(err(MALFORMED_CERTIFICATE, "Certificate: it has expired"));
    }
    Ok(())
}

/// Checks the chain a certificate comes with; the chain to keep (PEM), if any.
fn check_chain(
    rec: &CaRec,
    cert: &CertInfo,
    chain: Option<&[u8]>,
) -> Result<Option<String>, ApiError> {
    let chain = chain.filter(|c| !c.iter().all(|b| b.is_ascii_whitespace()));
    let above = match (rec.authority.kind, chain) {
        (CaType::Root, None) => vec![],
        (CaType::Root, Some(_)) => {
            let message = "CertificateChain: a root CA's certificate is self-signed and comes without a chain";
            return Err(err(INVALID_REQUEST, message));
        }
        (CaType::Subordinate, None) => {
            let message = "CertificateChain is required to import a subordinate CA's certificate";
            return Err(err(INVALID_REQUEST, message));
        }
        (CaType::Subordinate, Some(c)) => {
            parse_bundle(c).map_err(|e| malformed_certificate("CertificateChain", &e))?
        }
    };
    let mut all = vec![cert.clone()];
    all.extend(above.iter().cloned());
    verify_chain(&all).map_err(|e| malformed_certificate("CertificateChain", &e))?;
    let pems: Vec<String> = above.iter().map(|c| c.pem()).collect();
    let refs: Vec<&str> = pems.iter().map(String::as_str).collect();
    Ok((!refs.is_empty()).then(|| pem_bundle(&refs)))
}

fn set_certificate(rec: &mut CaRec, cert: &CertInfo, chain: Option<String>, now: f64) {
    rec.certificate = Some(cert.pem());
    rec.chain = chain;
    rec.path_len = cert.path_len;
    let a = &mut rec.authority;
    a.serial = Some(cert.serial.clone());
    a.not_before = Some(cert.not_before as f64);
    a.not_after = Some(cert.not_after as f64);
    if rec.authority.status == CaStatus::PendingCertificate {
        rec.set_status(CaStatus::Active, now);
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CertificateOut {
    pub certificate: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_chain: Option<String>,
}

pub(crate) fn get_ca_certificate(
    r: &impl Read,
    ctx: &Context,
    i: ArnIn,
    now: f64,
) -> Result<CertificateOut, ApiError> {
    let (arn, rec) = require(r, ctx, &i.certificate_authority_arn, now)?;
    let status = rec.status_at(now);
    match (&rec.certificate, status) {
        (Some(c), CaStatus::Active | CaStatus::Disabled | CaStatus::Expired) => {
            Ok(CertificateOut {
                certificate: c.clone(),
                certificate_chain: rec.chain.clone(),
            })
        }
        _ => Err(invalid_state(
            &arn.arn,
            status,
            "it has no certificate to get",
        )),
    }
}
