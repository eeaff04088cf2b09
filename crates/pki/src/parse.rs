//! Reading CSRs and certificates (PEM or DER) into plain facts.

use std::net::IpAddr;

use base64::Engine;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::{KeyAlgorithm, PkiError, PrivateKey, Subject};

/// The names a certificate or CSR is for (its subject alternative names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// DNS names.
    pub dns_names: Vec<String>,
    /// URIs.
    pub uris: Vec<String>,
    /// IP addresses.
    pub ip_addresses: Vec<IpAddr>,
}

/// What a certificate signing request asks for. Only requests whose signature
/// verifies with their own key are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrInfo {
    /// The requested subject.
    pub subject: Subject,
    /// The kind of the requester's key.
    pub key_algorithm: KeyAlgorithm,
    /// The requester's public key, a DER SubjectPublicKeyInfo.
    pub public_key_der: Vec<u8>,
    /// The requested subject alternative names.
    pub names: Names,
    /// The public key's bits.
    pub(crate) public_key_raw: Vec<u8>,
}

/// What a certificate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The serial number as lowercase hex pairs joined by colons (`4e:1b:...`).
    pub serial: String,
    /// Whom it is for.
    pub subject: Subject,
    /// Who signed it.
    pub issuer: Subject,
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until (Unix seconds).
    pub not_after: i64,
    /// Whether its basic constraints make it a CA.
    pub is_ca: bool,
    /// The CA's path length constraint, if any.
    pub path_len: Option<u32>,
    /// Its subject alternative names.
    pub names: Names,
    /// The kind of its key, when berth knows it.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// Its public key, a DER SubjectPublicKeyInfo.
    pub public_key_der: Vec<u8>,
    /// The public key's bits.
    pub(crate) public_key_raw: Vec<u8>,
}

impl CertInfo {
    /// The certificate as PEM.
    pub fn pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.der)
    }

    /// Whether the certificate is for `key`.
    pub fn matches_key(&self, key: &PrivateKey) -> bool {
        self.public_key_raw == key.public_key_raw()
    }

    /// Whether the certificate is for the key a CSR asks for.
    pub fn matches_csr(&self, csr: &CsrInfo) -> bool {
        self.public_key_raw == csr.public_key_raw
    }
}

/// `bytes` as DER: the contents of its first PEM block when it is PEM, else itself.
pub(crate) fn der_of(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let text_start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let is_pem = text_start.is_some_and(|i| bytes[i..].starts_with(b"-----BEGIN"));
    if !is_pem {
        return Ok(bytes.to_vec());
    }
    match x509_parser::pem::parse_x509_pem(bytes) {
        Ok((_, pem)) => Ok(pem.contents),
        Err(e) => Err(format!("not PEM: {e}")),
    }
}

/// DER as a PEM block with a `label`, 64 characters a line.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Reads a CSR (PEM or DER) and checks its signature with its own key.
pub fn parse_csr(bytes: &[u8]) -> Result<CsrInfo, PkiError> {
    let der = der_of(bytes).map_err(PkiError::MalformedCsr)?;
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| PkiError::MalformedCsr(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::MalformedCsr("trailing bytes".into()));
    }
    csr.verify_signature().map_err(|_| PkiError::CsrSignature)?;
    let info = &csr.certification_request_info;
    let mut names = Names::default();
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            add_names(&mut names, &san.general_names);
        }
    }
    Ok(CsrInfo {
        subject: Subject::from_x509(&info.subject),
        key_algorithm: KeyAlgorithm::of_spki(&info.subject_pki)?,
        public_key_der: info.subject_pki.raw.to_vec(),
        names,
        public_key_raw: info.subject_pki.subject_public_key.data.to_vec(),
    })
}

/// Reads one certificate (PEM or DER).
pub fn parse_certificate(bytes: &[u8]) -> Result<CertInfo, PkiError> {
    let der = der_of(bytes).map_err(PkiError::MalformedCertificate)?;
    let (rest, cert) = X509Certificate::from_der(&der)
        .map_err(|e| PkiError::MalformedCertificate(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::MalformedCertificate("trailing bytes".into()));
    }
    Ok(cert_info(&cert, der.clone()))
}

fn cert_info(cert: &X509Certificate<'_>, der: Vec<u8>) -> CertInfo {
    let constraints = cert.basic_constraints().ok().flatten().map(|b| b.value);
    let mut names = Names::default();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        add_names(&mut names, &san.value.general_names);
    }
    let spki = cert.public_key();
    CertInfo {
        serial: hex_colons(cert.raw_serial()),
        subject: Subject::from_x509(cert.subject()),
        issuer: Subject::from_x509(cert.issuer()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        is_ca: constraints.is_some_and(|c| c.ca),
        path_len: constraints.and_then(|c| c.path_len_constraint),
        names,
        key_algorithm: KeyAlgorithm::of_spki(spki).ok(),
        public_key_der: spki.raw.to_vec(),
        public_key_raw: spki.subject_public_key.data.to_vec(),
        der,
    }
}

fn add_names(names: &mut Names, general: &[GeneralName<'_>]) {
    for name in general {
        match name {
            GeneralName::DNSName(d) => names.dns_names.push(d.to_string()),
            GeneralName::URI(u) => names.uris.push(u.to_string()),
            GeneralName::IPAddress(b) => {
                if let Some(ip) = ip_of(b) {
                    names.ip_addresses.push(ip);
                }
            }
            _ => {}
        }
    }
}

fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Bytes as lowercase hex pairs joined by colons.
pub(crate) fn hex_colons(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_with_colons() {
        assert_eq!(hex_colons(&[0x4e, 0x01, 0xff]), "4e:01:ff");
        assert_eq!(hex_colons(&[]), "");
    }

    #[test]
    fn garbage_is_neither_csr_nor_certificate() {
        for bad in [&b""[..], b"hello", b"-----BEGIN CERTIFICATE-----\nZZZ\n"] {
            assert!(parse_csr(bad).is_err());
            assert!(matches!(
                parse_certificate(bad),
                Err(PkiError::MalformedCertificate(_))
            ));
        }
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let pem = pem_encode("CERTIFICATE", &[7u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(der_of(pem.as_bytes()).unwrap(), vec![7u8; 100]);
    }
}
