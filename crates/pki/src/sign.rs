//! Making CSRs and signing them into certificates.

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose,
    SanType, SerialNumber, SubjectPublicKeyInfo,
};
use x509_parser::time::ASN1Time;

use crate::parse::hex_colons;
use crate::{CsrInfo, Names, PkiError, PrivateKey, SigningAlgorithm, Subject};

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A CA: keyCertSign, cRLSign, digitalSignature; basic constraints CA:TRUE with an
    /// optional path length.
    Ca {
        /// How many CAs may follow it in a chain; `None`: no limit.
        path_len: Option<u8>,
    },
    /// An end entity: digitalSignature, keyEncipherment; CA:FALSE; the extended key
    /// usages chosen.
    EndEntity {
        /// TLS server authentication.
        server_auth: bool,
        /// TLS client authentication.
        client_auth: bool,
    },
}

/// The certificate to make of a CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until (Unix seconds).
    pub not_after: i64,
    /// What it is for.
    pub usage: Usage,
    /// Its subject (a caller that wants the CSR's passes the CSR's).
    pub subject: Subject,
    /// Its subject alternative names (a caller that wants the CSR's passes them).
    pub names: Names,
    /// How the issuer signs it.
    pub signing: SigningAlgorithm,
}

/// Who signs: a CA's key and its certificate.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The CA's private key.
    pub key: &'a PrivateKey,
    /// The CA's certificate, PEM.
    pub certificate_pem: &'a str,
}

/// A new certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The certificate, PEM.
    pub pem: String,
    /// Its serial number, hex pairs joined by colons.
    pub serial: String,
}

/// A CSR (PEM) for `key`, asking for `subject`, signed with the key's own algorithm.
pub fn make_csr(key: &PrivateKey, subject: &Subject) -> Result<String, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.to_rcgen()?;
    params
        .serialize_request(key.pair())
        .and_then(|csr| csr.pem())
        .map_err(|e| PkiError::Signing(e.to_string()))
}

/// Signs `csr` with `signer` into a certificate made by `template`. The CSR gives the
/// public key only; subject and names come from the template.
pub fn sign(csr: &CsrInfo, signer: &Signer<'_>, template: &Template) -> Result<Signed, PkiError> {
    let params = params(template)?;
    let key = signer.key.signer(template.signing)?;
    let issuer = Issuer::from_ca_cert_pem(signer.certificate_pem, &key)
        .map_err(|e| PkiError::MalformedCertificate(format!("the issuer's certificate: {e}")))?;
    let public = SubjectPublicKeyInfo::from_der(&csr.public_key_der)
        .map_err(|e| PkiError::MalformedCsr(e.to_string()))?;
    let cert = params
        .signed_by(&public, &issuer)
        .map_err(|e| PkiError::Signing(e.to_string()))?;
    Ok(signed(&params, cert.pem()))
}

/// Signs a CA's own CSR with its own key: a root CA's certificate. Refused when the
/// CSR is not for `key`.
pub fn self_sign(csr: &CsrInfo, key: &PrivateKey, template: &Template) -> Result<Signed, PkiError> {
    if csr.public_key_raw != key.public_key_raw() {
        return Err(PkiError::KeyMismatch);
    }
    let params = params(template)?;
    let signer = key.signer(template.signing)?;
    let cert = params
        .self_signed(&signer)
        .map_err(|e| PkiError::Signing(e.to_string()))?;
    Ok(signed(&params, cert.pem()))
}

fn signed(params: &CertificateParams, pem: String) -> Signed {
    let serial = params
        .serial_number
        .as_ref()
        .map(|s| hex_colons(&s.to_bytes()))
        .unwrap_or_default();
    Signed { pem, serial }
}

/// rcgen's parameters for a template, with a fresh random serial.
fn params(t: &Template) -> Result<CertificateParams, PkiError> {
    if t.not_after <= t.not_before {
        return Err(PkiError::Validity(format!(
            "not after ({}) must be later than not before ({})",
            t.not_after, t.not_before
        )));
    }
    let mut p = CertificateParams::default();
    p.not_before = asn1_time(t.not_before)?.to_datetime();
    p.not_after = asn1_time(t.not_after)?.to_datetime();
    p.serial_number = Some(random_serial());
    p.distinguished_name = t.subject.to_rcgen()?;
    p.subject_alt_names = san(&t.names)?;
    p.use_authority_key_identifier_extension = true;
    set_usage(&mut p, t.usage);
    Ok(p)
}

fn set_usage(p: &mut CertificateParams, usage: Usage) {
    match usage {
        Usage::Ca { path_len } => {
            p.is_ca = IsCa::Ca(match path_len {
                Some(n) => BasicConstraints::Constrained(n),
                None => BasicConstraints::Unconstrained,
            });
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
            ];
        }
        Usage::EndEntity {
            server_auth,
            client_auth,
        } => {
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            let ekus = [
                (server_auth, ExtendedKeyUsagePurpose::ServerAuth),
                (client_auth, ExtendedKeyUsagePurpose::ClientAuth),
            ];
            p.extended_key_usages = ekus
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, e)| e)
                .collect();
        }
    }
}

fn san(names: &Names) -> Result<Vec<SanType>, PkiError> {
    let ia5 = |s: &String| {
        s.as_str()
            .try_into()
            .map_err(|_| PkiError::InvalidName(format!("{s:?} is not ASCII")))
    };
    let mut out = Vec::new();
    for d in &names.dns_names {
        out.push(SanType::DnsName(ia5(d)?));
    }
    for u in &names.uris {
        out.push(SanType::URI(ia5(u)?));
    }
    out.extend(names.ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
    Ok(out)
}

fn asn1_time(secs: i64) -> Result<ASN1Time, PkiError> {
    ASN1Time::from_timestamp(secs)
        .map_err(|_| PkiError::Validity(format!("{secs} is not a date a certificate can hold")))
}

/// 16 random bytes, positive and without a leading zero: 126 bits of randomness.
fn random_serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    b[0] = (b[0] & 0x3f) | 0x40;
    SerialNumber::from_slice(&b)
}
