//! Private keys: generated, or read from and written to PKCS#8 PEM.

use rcgen::{KeyPair, PublicKeyData, RsaKeySize, SignatureAlgorithm};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::PkiError;

/// prime256v1 (P-256).
const OID_P256: &str = "1.2.840.10045.3.1.7";
/// secp384r1 (P-384).
const OID_P384: &str = "1.3.132.0.34";

/// The kinds of key berth makes and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256.
    EcPrime256v1,
    /// ECDSA on P-384.
    EcSecp384r1,
    /// RSA, 2048 bits.
    Rsa2048,
    /// RSA, 3072 bits.
    Rsa3072,
    /// RSA, 4096 bits.
    Rsa4096,
}

/// How a certificate or CSR is signed: a hash and a key family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// ECDSA with SHA-256 (P-256 keys).
    Sha256WithEcdsa,
    /// ECDSA with SHA-384 (P-384 keys).
    Sha384WithEcdsa,
    /// RSA PKCS#1 v1.5 with SHA-256.
    Sha256WithRsa,
    /// RSA PKCS#1 v1.5 with SHA-384.
    Sha384WithRsa,
    /// RSA PKCS#1 v1.5 with SHA-512.
    Sha512WithRsa,
}

impl KeyAlgorithm {
    /// Whether the key is an RSA key.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
        )
    }

    /// The signing algorithm that goes with the key when nobody chooses one: SHA-256
    /// for P-256 and RSA, SHA-384 for P-384.
    pub fn default_signing(self) -> SigningAlgorithm {
        match self {
            KeyAlgorithm::EcPrime256v1 => SigningAlgorithm::Sha256WithEcdsa,
            KeyAlgorithm::EcSecp384r1 => SigningAlgorithm::Sha384WithEcdsa,
            _ => SigningAlgorithm::Sha256WithRsa,
        }
    }

    /// Whether a key of this kind can sign with `alg`: an EC key with the hash of its
    /// curve, an RSA key with any of the RSA hashes.
    pub fn can_sign_with(self, alg: SigningAlgorithm) -> bool {
        if self.is_rsa() {
            matches!(
                alg,
                SigningAlgorithm::Sha256WithRsa
                    | SigningAlgorithm::Sha384WithRsa
                    | SigningAlgorithm::Sha512WithRsa
            )
        } else {
            alg == self.default_signing()
        }
    }

    /// The kind of a public key, from its SubjectPublicKeyInfo.
    pub(crate) fn of_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<KeyAlgorithm, PkiError> {
        match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => match rsa.key_size() {
                2048 => Ok(KeyAlgorithm::Rsa2048),
                3072 => Ok(KeyAlgorithm::Rsa3072),
                4096 => Ok(KeyAlgorithm::Rsa4096),
                bits => Err(PkiError::UnsupportedKey(format!("RSA with {bits} bits"))),
            },
            Ok(PublicKey::EC(_)) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|oid| oid.to_id_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    OID_P256 => Ok(KeyAlgorithm::EcPrime256v1),
                    OID_P384 => Ok(KeyAlgorithm::EcSecp384r1),
                    other => Err(PkiError::UnsupportedKey(format!("EC curve {other}"))),
                }
            }
            Ok(_) => Err(PkiError::UnsupportedKey(format!(
                "algorithm {}",
                spki.algorithm.algorithm.to_id_string()
            ))),
            Err(e) => Err(PkiError::UnsupportedKey(e.to_string())),
        }
    }
}

impl SigningAlgorithm {
    /// rcgen's algorithm for a signer of this kind.
    pub(crate) fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            SigningAlgorithm::Sha256WithEcdsa => &rcgen::PKCS_ECDSA_P256_SHA256,
            SigningAlgorithm::Sha384WithEcdsa => &rcgen::PKCS_ECDSA_P384_SHA384,
            SigningAlgorithm::Sha256WithRsa => &rcgen::PKCS_RSA_SHA256,
            SigningAlgorithm::Sha384WithRsa => &rcgen::PKCS_RSA_SHA384,
            SigningAlgorithm::Sha512WithRsa => &rcgen::PKCS_RSA_SHA512,
        }
    }
}

/// A private key. Its `Debug` never shows the secret.
pub struct PrivateKey {
    pair: KeyPair,
    algorithm: KeyAlgorithm,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// A new random key.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, PkiError> {
        let rsa = |size| KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size);
        let pair = match algorithm {
            KeyAlgorithm::EcPrime256v1 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyAlgorithm::EcSecp384r1 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyAlgorithm::Rsa2048 => rsa(RsaKeySize::_2048),
            KeyAlgorithm::Rsa3072 => rsa(RsaKeySize::_3072),
            KeyAlgorithm::Rsa4096 => rsa(RsaKeySize::_4096),
        }
        .map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
        Ok(PrivateKey { pair, algorithm })
    }

    /// Reads a PKCS#8 PEM (`PRIVATE KEY`) key.
    pub fn from_pem(pem: &str) -> Result<PrivateKey, PkiError> {
        let pair = KeyPair::from_pem(pem).map_err(|e| PkiError::MalformedKey(e.to_string()))?;
        let spki = pair.subject_public_key_info();
        let (_, parsed) = SubjectPublicKeyInfo::from_der(&spki)
            .map_err(|e| PkiError::MalformedKey(e.to_string()))?;
        let algorithm = KeyAlgorithm::of_spki(&parsed)?;
        Ok(PrivateKey { pair, algorithm })
    }

    /// The key as PKCS#8 PEM. This is the secret: store it, never log it.
    pub fn to_pem(&self) -> String {
        self.pair.serialize_pem()
    }

    /// The kind of key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The public key as a DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// The public key's bits (the SubjectPublicKeyInfo's BIT STRING).
    pub(crate) fn public_key_raw(&self) -> &[u8] {
        self.pair.public_key_raw()
    }

    /// The key as rcgen's signer for `alg`, refused unless the key can sign with it.
    pub(crate) fn signer(&self, alg: SigningAlgorithm) -> Result<KeyPair, PkiError> {
        if !self.algorithm.can_sign_with(alg) {
            return Err(PkiError::AlgorithmMismatch {
                key: self.algorithm,
                signing: alg,
            });
        }
        let der = self.pair.serialize_der();
        KeyPair::from_pkcs8_der_and_sign_algo(&der.as_slice().into(), alg.rcgen())
            .map_err(|e| PkiError::MalformedKey(e.to_string()))
    }

    /// rcgen's signer with the key's own algorithm.
    pub(crate) fn pair(&self) -> &KeyPair {
        &self.pair
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pkcs8_pem() {
        for alg in [
            KeyAlgorithm::EcPrime256v1,
            KeyAlgorithm::EcSecp384r1,
            KeyAlgorithm::Rsa2048,
        ] {
            let key = PrivateKey::generate(alg).unwrap();
            let pem = key.to_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{alg:?}");
            let back = PrivateKey::from_pem(&pem).unwrap();
            assert_eq!(back.algorithm(), alg);
            assert_eq!(back.public_key_der(), key.public_key_der());
            assert!(!format!("{key:?}").contains("PRIVATE"));
        }
    }

    #[test]
    fn signing_algorithms_follow_the_key() {
        let table = [
            (
                KeyAlgorithm::EcPrime256v1,
                SigningAlgorithm::Sha256WithEcdsa,
                true,
            ),
            (
                KeyAlgorithm::EcPrime256v1,
                SigningAlgorithm::Sha384WithEcdsa,
                false,
            ),
            (
                KeyAlgorithm::EcPrime256v1,
                SigningAlgorithm::Sha256WithRsa,
                false,
            ),
            (
                KeyAlgorithm::EcSecp384r1,
                SigningAlgorithm::Sha384WithEcdsa,
                true,
            ),
            (KeyAlgorithm::Rsa2048, SigningAlgorithm::Sha512WithRsa, true),
            (
                KeyAlgorithm::Rsa4096,
                SigningAlgorithm::Sha256WithEcdsa,
                false,
            ),
        ];
        for (key, alg, ok) in table {
            assert_eq!(key.can_sign_with(alg), ok, "{key:?} {alg:?}");
        }
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(matches!(
            PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(PkiError::MalformedKey(_))
        ));
    }
}
