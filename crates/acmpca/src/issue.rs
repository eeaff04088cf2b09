//! IssueCertificate and GetCertificate: certificates from a CA's templates.

use berth_awsproto::{random_string, ApiError, Context, HEX};
use berth_pki::{parse_csr, pem_bundle, CsrInfo, Signer, Template as PkiTemplate};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arn::{looks_like_certificate, CaArn};
use crate::ca::{check_token, private_key, require};
use crate::certs::{blob, CertificateOut};
use crate::errors::*;
use crate::records::*;
use crate::validity::{self, ValidityIn};
use crate::{algorithms, templates::Template};

/// How long an IssueCertificate idempotency token lasts (AWS: one minute).
const ISSUE_TOKEN_SECONDS: f64 = 60.0;
/// By default a certificate starts an hour before it is issued (clock skew), as AWS's do.
const BACKDATE: i64 = 3600;
/// The longest validity of a SHORT_LIVED_CERTIFICATE CA's certificates: seven days.
const SHORT_LIVED: i64 = 7 * 86_400;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct IssueIn {
    api_passthrough: Option<Value>,
    certificate_authority_arn: Option<String>,
    csr: Option<String>,
    signing_algorithm: Option<SigningAlgorithm>,
    template_arn: Option<String>,
    validity: Option<ValidityIn>,
    validity_not_before: Option<ValidityIn>,
    idempotency_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct IssueOut {
    certificate_arn: String,
}

/// A checked IssueCertificate, before its CA is read.
struct Request {
    csr: Vec<u8>,
    signing: SigningAlgorithm,
    template: Template,
    not_before: i64,
    not_after: i64,
}

fn check_issue(i: &IssueIn, now: i64) -> Result<Request, ApiError> {
    let csr = blob("Csr", &i.csr, 32_768)?;
    let signing = i
        .signing_algorithm
        .ok_or_else(|| missing("SigningAlgorithm"))?;
    let v = i.validity.as_ref().ok_or_else(|| missing("Validity"))?;
    if let Some(t) = &i.idempotency_token {
        check_token(t)?;
    }
    if i.api_passthrough.is_some() {
        return Err(invalid_args(
            "ApiPassthrough is not supported by berth: the template sets every extension",
        ));
    }
    let template = Template::parse(i.template_arn.as_deref())?;
    let not_after = validity::end(v, "Validity", now)?;
    let not_before = match &i.validity_not_before {
        Some(nb) => validity::start(nb, "ValidityNotBefore")?,
        None => now - BACKDATE,
    };
    if not_after <= now {
        return Err(invalid_args(
            "Validity: the certificate would have expired already",
        ));
    }
    if not_before >= not_after {
        return Err(invalid_args(
            "ValidityNotBefore must be earlier than the end of Validity",
        ));
    }
    Ok(Request {
        csr,
        signing,
        template,
        not_before,
        not_after,
    })
}

pub(crate) fn issue(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: IssueIn,
    now: f64,
) -> Result<IssueOut, ApiError> {
    let req = check_issue(&i, now as i64)?;
    let (arn, rec) = require(w, ctx, &i.certificate_authority_arn, now)?;
    let keys = Keys::new(&arn.account, &arn.region);
    if let Some(token) = &i.idempotency_token {
        let seen: Option<TokenRec> = w.get_json(&keys.issue_token(&arn.id, token))?;
        if let Some(t) = seen.filter(|t| now - t.at < ISSUE_TOKEN_SECONDS) {
            return Ok(IssueOut {
                certificate_arn: t.arn,
            });
        }
    }
    let cert = sign(w, &arn, &rec, &req, now)?;
    w.put_json(&keys.cert(&arn.id, cert_id(&arn, &cert.arn)), &cert)?;
    if let Some(token) = &i.idempotency_token {
        w.put_json(
            &keys.issue_token(&arn.id, token),
            &TokenRec {
                arn: cert.arn.clone(),
                at: now,
            },
        )?;
    }
    Ok(IssueOut {
        certificate_arn: cert.arn,
    })
}

fn cert_id<'a>(arn: &CaArn, cert_arn: &'a str) -> &'a str {
    arn.certificate_id(cert_arn).unwrap_or_default()
}

/// Signs a request with a CA: its own CSR by RootCACertificate/V1 while it waits for
/// its certificate, any other template while it is ACTIVE.
fn sign(
    r: &impl Read,
    arn: &CaArn,
    rec: &CaRec,
    req: &Request,
    now: f64,
) -> Result<CertRec, ApiError> {
    let status = rec.status_at(now);
    let config = &rec.authority.certificate_authority_configuration;
    let signing = algorithms::check_pair(config.key_algorithm, req.signing)?;
    req.template.check_ca(arn, rec, status)?;
    let csr = parse_csr(&req.csr).map_err(|e| malformed_csr(&e))?;
    check_validity(rec, req)?;
    let template = PkiTemplate {
        not_before: req.not_before,
        not_after: req.not_after,
        usage: req.template.usage(),
        subject: csr.subject.clone(),
        names: req.template.names(&csr),
        signing,
    };
    let key = private_key(r, arn)?;
    let (signed, chain) = if req.template == Template::RootCa {
        check_own_csr(&csr, rec)?;
        (
            berth_pki::self_sign(&csr, &key, &template).map_err(|e| signing_error(&e))?,
            None,
        )
    } else {
        let ca_pem = rec.certificate.as_deref().unwrap_or_default();
        let signer = Signer {
            key: &key,
            certificate_pem: ca_pem,
        };
        let chain = pem_bundle(&[ca_pem, rec.chain.as_deref().unwrap_or_default()]);
        (
            berth_pki::sign(&csr, &signer, &template).map_err(|e| signing_error(&e))?,
            Some(chain),
        )
    };
    let arn = arn.certificate(&random_string(32, HEX));
    Ok(CertRec {
        arn,
        certificate: signed.pem,
        chain,
        serial: signed.serial,
        issued_at: now,
    })
}

fn check_own_csr(csr: &CsrInfo, rec: &CaRec) -> Result<(), ApiError> {
    let own = parse_csr(rec.csr.as_bytes()).map_err(|e| internal(&e))?;
    if own.public_key_der != csr.public_key_der {
        return Err(invalid_args(
            "Csr: RootCACertificate/V1 signs only the CA's own CSR (GetCertificateAuthorityCsr)",
        ));
    }
    Ok(())
}

/// A certificate a CA issues ends before the CA's own; a short-lived CA's last at
/// most seven days.
fn check_validity(rec: &CaRec, req: &Request) -> Result<(), ApiError> {
    let a = &rec.authority;
    if a.usage_mode == UsageMode::ShortLivedCertificate
        && req.not_after - req.not_before > SHORT_LIVED
    {
        return Err(invalid_args(
            "Validity: a SHORT_LIVED_CERTIFICATE CA issues certificates valid for at most 7 days",
        ));
    }
    match a.not_after {
        Some(ca_end) if req.template != Template::RootCa && req.not_after as f64 > ca_end => {
            Err(invalid_args(format!(
                "Validity: the certificate would outlive its CA's certificate, which ends at {ca_end}"
            )))
        }
        _ => Ok(()),
    }
}

fn signing_error(e: &berth_pki::PkiError) -> ApiError {
    use berth_pki::PkiError as P;
    match e {
        P::InvalidSubject(_) | P::InvalidName(_) => err(MALFORMED_CSR, format!("Csr: {e}")),
        P::Validity(_) | P::AlgorithmMismatch { .. } => invalid_args(e.to_string()),
        _ => internal(e),
    }
}

// ----- GetCertificate -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetIn {
    certificate_authority_arn: Option<String>,
    certificate_arn: Option<String>,
}

pub(crate) fn get(
    r: &impl Read,
    ctx: &Context,
    i: GetIn,
    now: f64,
) -> Result<CertificateOut, ApiError> {
    let cert_arn = i
        .certificate_arn
        .as_deref()
        .ok_or_else(|| missing("CertificateArn"))?;
    let (arn, _) = require(r, ctx, &i.certificate_authority_arn, now)?;
    let Some(id) = arn.certificate_id(cert_arn) else {
        if looks_like_certificate(cert_arn) {
            return Err(not_found(cert_arn));
        }
        return Err(invalid_arn(cert_arn));
    };
    let keys = Keys::new(&arn.account, &arn.region);
    let rec: CertRec = r
        .get_json(&keys.cert(&arn.id, id))?
        .ok_or_else(|| not_found(cert_arn))?;
    Ok(CertificateOut {
        certificate: rec.certificate,
        certificate_chain: rec.chain,
    })
}
