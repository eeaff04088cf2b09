//! Keys, certificate signing requests and certificates: what berth's private CAs and
//! its proxies need, as thin typed wrappers over `rcgen` (making) and `x509-parser`
//! (reading, and checking signatures with aws-lc-rs).
//!
//! - [`PrivateKey`]: generated for a [`KeyAlgorithm`] (P-256, P-384, RSA 2048/3072/4096),
//!   read from and written to PKCS#8 PEM.
//! - [`make_csr`] for a key and a [`Subject`]; [`parse_csr`] reads one and checks that
//!   it is signed by its own key.
//! - [`sign`] a CSR with a CA ([`Signer`]: its key and certificate) by a [`Template`]
//!   (validity, [`Usage`], subject, names, [`SigningAlgorithm`]), with a random serial
//!   and key identifiers; [`self_sign`] a CA's own CSR (a root).
//! - [`parse_certificate`] ([`CertInfo`]), and chains: [`pem_bundle`],
//!   [`parse_bundle`], [`verify_issued_by`], [`verify_chain`].
//!
//! Times are Unix seconds, passed in: nothing here reads the clock.
//! *Knows nothing of AWS.*

mod chain;
mod key;
mod parse;
mod sign;
mod subject;

#[cfg(test)]
mod tests;

pub use chain::{parse_bundle, pem_bundle, verify_chain, verify_issued_by};
pub use key::{KeyAlgorithm, PrivateKey, SigningAlgorithm};
pub use parse::{parse_certificate, parse_csr, CertInfo, CsrInfo, Names};
pub use sign::{make_csr, self_sign, sign, Signed, Signer, Template, Usage};
pub use subject::Subject;

/// What can go wrong making or reading keys, CSRs and certificates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    /// The key could not be made.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    /// Not a PKCS#8 key berth can read.
    #[error("malformed private key: {0}")]
    MalformedKey(String),
    /// A key of a kind berth does not handle.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// Not a certificate signing request.
    #[error("malformed CSR: {0}")]
    MalformedCsr(String),
    /// The CSR's signature does not verify with the key it carries.
    #[error("the CSR is not signed by the key it carries")]
    CsrSignature,
    /// Not a certificate.
    #[error("malformed certificate: {0}")]
    MalformedCertificate(String),
    /// A subject field that cannot be written.
    #[error("invalid subject: {0}")]
    InvalidSubject(String),
    /// A subject alternative name that cannot be written.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// A key asked to sign with an algorithm of another family or curve.
    #[error("a {key:?} key cannot sign with {signing:?}")]
    AlgorithmMismatch {
        /// The key's kind.
        key: KeyAlgorithm,
        /// The algorithm asked for.
        signing: SigningAlgorithm,
    },
    /// A CSR or certificate is not for the key it must be for.
    #[error("the public key is not the expected key")]
    KeyMismatch,
    /// Validity dates that cannot be.
    #[error("validity: {0}")]
    Validity(String),
    /// A chain that does not verify.
    #[error("{0}")]
    Chain(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}
