//! What other crates use, inside their own store transaction: a CA's facts, and the
//! short-lived certificates ECS gives Service Connect tasks.

use berth_pki::{
    parse_csr, pem_bundle, Names, PkiError, PrivateKey, Signer, Subject, Template, Usage,
};
use berth_store::{Read, StoreError};

use crate::algorithms;
use crate::arn::CaArn;
use crate::records::{CaRec, CaStatus, CaType, Keys, UsageMode};

/// What another crate needs to know about a CA.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorityInfo {
    /// Its ARN.
    pub arn: String,
    /// Its stored status (a DELETED CA is still shown while it may be restored;
    /// an expired certificate shows in `not_after`, not here).
    pub status: CaStatus,
    /// ROOT or SUBORDINATE.
    pub kind: CaType,
    /// Its region.
    pub region: String,
    /// Its account.
    pub account: String,
    /// GENERAL_PURPOSE or SHORT_LIVED_CERTIFICATE.
    pub usage_mode: UsageMode,
    /// Its certificate's validity (Unix seconds), once imported.
    pub not_before: Option<i64>,
    /// See `not_before`.
    pub not_after: Option<i64>,
    /// Its certificate followed by the chain up to the root (PEM), once imported.
    pub chain_pem: Option<String>,
}

/// The names a service certificate is for: its subject alternative names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceNames {
    /// DNS names.
    pub dns_names: Vec<String>,
    /// URIs.
    pub uris: Vec<String>,
}

/// A service certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The issuing CA's certificate and the chain above it, PEM.
    pub chain_pem: String,
    /// Its serial number, hex pairs joined by colons.
    pub serial: String,
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until (Unix seconds): the CA's own NotAfter when asked for later.
    pub not_after: i64,
}

/// Why a CA could not be read or could not issue.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// Not a CA's ARN.
    #[error("{0} is not a certificate authority's ARN")]
    InvalidArn(String),
    /// No such CA.
    #[error("certificate authority {0} not found")]
    NotFound(String),
    /// The CA does not issue in its status.
    #[error("certificate authority {arn} is {status}, not ACTIVE: it issues no certificates")]
    NotActive {
        /// The CA.
        arn: String,
        /// Its status.
        status: CaStatus,
    },
    /// The CSR is not a well-formed request signed by its own key.
    #[error("malformed CSR: {0}")]
    MalformedCsr(PkiError),
    /// The validity asked for cannot be given.
    #[error("validity: {0}")]
    Validity(String),
    /// Signing failed (a name that cannot be written, or berth's own failure).
    #[error("signing: {0}")]
    Signing(PkiError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn read_ca(r: &impl Read, arn: &str) -> Result<Option<(CaArn, CaRec)>, IssueError> {
    let a = CaArn::parse(arn).map_err(|_| IssueError::InvalidArn(arn.to_string()))?;
    let keys = Keys::new(&a.account, &a.region);
    let rec: Option<CaRec> = r.get_json(&keys.ca(&a.id))?;
    Ok(rec.map(|rec| (a, rec)))
}

/// A CA's facts, by ARN.
pub fn authority_in(r: &impl Read, arn: &str) -> Result<Option<AuthorityInfo>, IssueError> {
    let Some((a, rec)) = read_ca(r, arn)? else {
        return Ok(None);
    };
    let chain_pem = rec
        .certificate
        .as_deref()
        .map(|c| pem_bundle(&[c, rec.chain.as_deref().unwrap_or_default()]));
    let au = rec.authority;
    Ok(Some(AuthorityInfo {
        arn: au.arn,
        status: au.status,
        kind: au.kind,
        region: a.region,
        account: a.account,
        usage_mode: au.usage_mode,
        not_before: au.not_before.map(|t| t as i64),
        not_after: au.not_after.map(|t| t as i64),
        chain_pem,
    }))
}

/// An end-entity certificate (serverAuth and clientAuth) for a Service Connect task:
/// the CSR supplies the public key only (it must be well formed and signed by that
/// key); the names are the caller's, the subject's common name the first DNS name.
/// The CA must be ACTIVE; a `not_after` beyond the CA's own NotAfter is cut to it.
/// The certificate is not stored: GetCertificate does not know it, and rotating
/// certificates every few minutes does not grow the store.
pub fn issue_service_certificate_in(
    r: &impl Read,
    ca_arn: &str,
    csr_pem: &str,
    names: &ServiceNames,
    not_before: i64,
    not_after: i64,
) -> Result<IssuedCertificate, IssueError> {
    let (a, rec) = read_ca(r, ca_arn)?.ok_or_else(|| IssueError::NotFound(ca_arn.to_string()))?;
    let (Some(ca_pem), CaStatus::Active) = (rec.certificate.as_deref(), rec.authority.status)
    else {
        return Err(IssueError::NotActive {
            arn: ca_arn.to_string(),
            status: rec.authority.status,
        });
    };
    let csr = parse_csr(csr_pem.as_bytes()).map_err(IssueError::MalformedCsr)?;
    let ca_end = rec.authority.not_after.map_or(not_after, |t| t as i64);
    let template = service_template(&rec, names, not_before, not_after.min(ca_end))?;
    let key = private_key(r, &a)?;
    let signer = Signer {
        key: &key,
        certificate_pem: ca_pem,
    };
    let signed = berth_pki::sign(&csr, &signer, &template).map_err(IssueError::Signing)?;
    Ok(IssuedCertificate {
        certificate_pem: signed.pem,
        chain_pem: pem_bundle(&[ca_pem, rec.chain.as_deref().unwrap_or_default()]),
        serial: signed.serial,
        not_before: template.not_before,
        not_after: template.not_after,
    })
}

fn service_template(
    rec: &CaRec,
    names: &ServiceNames,
    not_before: i64,
    not_after: i64,
) -> Result<Template, IssueError> {
    if not_after <= not_before {
        return Err(IssueError::Validity(format!(
            "not after ({not_after}) must be later than not before ({not_before}), and the CA's certificate must still be valid"
        )));
    }
    let config = &rec.authority.certificate_authority_configuration;
    let signing = algorithms::check_pair(config.key_algorithm, config.signing_algorithm)
        .map_err(|e| IssueError::Validity(e.message))?;
    let cn = names.dns_names.first().filter(|n| n.len() <= 64);
    Ok(Template {
        not_before,
        not_after,
        usage: Usage::EndEntity {
            server_auth: true,
            client_auth: true,
        },
        subject: cn.map(Subject::common_name).unwrap_or_default(),
        names: Names {
            dns_names: names.dns_names.clone(),
            uris: names.uris.clone(),
            ip_addresses: vec![],
        },
        signing,
    })
}

fn private_key(r: &impl Read, a: &CaArn) -> Result<PrivateKey, IssueError> {
    let keys = Keys::new(&a.account, &a.region);
    let pem = r.get(&keys.private_key(&a.id))?.unwrap_or_default();
    PrivateKey::from_pem(&String::from_utf8_lossy(&pem)).map_err(IssueError::Signing)
}
