//! Chains of certificates: PEM bundles, and checking who signed what.

use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;

use crate::{parse_certificate, CertInfo, PkiError};

/// Certificates (PEM) as one bundle, each ending with a newline.
pub fn pem_bundle(pems: &[&str]) -> String {
    let mut out = String::new();
    for pem in pems.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        out.push_str(pem);
        out.push('\n');
    }
    out
}

/// Every certificate of a PEM bundle, in order. A bundle with none is refused.
pub fn parse_bundle(bytes: &[u8]) -> Result<Vec<CertInfo>, PkiError> {
    let mut certs = Vec::new();
    for pem in Pem::iter_from_buffer(bytes) {
        let pem = pem.map_err(|e| PkiError::MalformedCertificate(e.to_string()))?;
        if pem.label != "CERTIFICATE" {
            let why = format!("a {} block in a certificate bundle", pem.label);
            return Err(PkiError::MalformedCertificate(why));
        }
        certs.push(parse_certificate(&pem.contents)?);
    }
    if certs.is_empty() {
        return Err(PkiError::MalformedCertificate("no certificate".into()));
    }
    Ok(certs)
}

/// Checks that `issuer` issued `child`: `issuer` is a CA, its subject is `child`'s
/// issuer, and its key verifies `child`'s signature.
pub fn verify_issued_by(child: &CertInfo, issuer: &CertInfo) -> Result<(), PkiError> {
    if !issuer.is_ca {
        return Err(chain_error(issuer, "is not a CA certificate"));
    }
    if child.issuer != issuer.subject {
        return Err(chain_error(child, "names another issuer"));
    }
    let (_, c) = X509Certificate::from_der(&child.der)
        .map_err(|e| PkiError::MalformedCertificate(e.to_string()))?;
    let (_, i) = X509Certificate::from_der(&issuer.der)
        .map_err(|e| PkiError::MalformedCertificate(e.to_string()))?;
    c.verify_signature(Some(i.public_key()))
        .map_err(|_| chain_error(child, "has a signature its issuer's key does not verify"))
}

/// Checks a chain, leaf first: each certificate issued by the next, the last a
/// self-signed CA (a root).
pub fn verify_chain(chain: &[CertInfo]) -> Result<(), PkiError> {
    let Some(root) = chain.last() else {
        return Err(PkiError::Chain("the chain is empty".into()));
    };
    for pair in chain.windows(2) {
        verify_issued_by(&pair[0], &pair[1])?;
    }
    verify_issued_by(root, root)
        .map_err(|_| chain_error(root, "is not a self-signed CA certificate (a root)"))
}

fn chain_error(cert: &CertInfo, what: &str) -> PkiError {
    let name = cert
        .subject
        .common_name
        .as_deref()
        .unwrap_or("(no common name)");
    PkiError::Chain(format!("the certificate {name} ({}) {what}", cert.serial))
}
