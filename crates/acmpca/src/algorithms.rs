//! The key and signing algorithms berth serves, as berth-pki's.

use berth_awsproto::ApiError;
use berth_pki as pki;

use crate::errors::invalid_args;
use crate::records::{KeyAlgorithm, SigningAlgorithm};

/// berth-pki's key kind for a `KeyAlgorithm`, or `InvalidArgsException` for one berth
/// does not serve.
pub(crate) fn pki_key(k: KeyAlgorithm) -> Result<pki::KeyAlgorithm, ApiError> {
    match k {
        KeyAlgorithm::Rsa2048 => Ok(pki::KeyAlgorithm::Rsa2048),
        KeyAlgorithm::Rsa3072 => Ok(pki::KeyAlgorithm::Rsa3072),
        KeyAlgorithm::Rsa4096 => Ok(pki::KeyAlgorithm::Rsa4096),
        KeyAlgorithm::EcPrime256v1 => Ok(pki::KeyAlgorithm::EcPrime256v1),
        KeyAlgorithm::EcSecp384r1 => Ok(pki::KeyAlgorithm::EcSecp384r1),
        other => Err(invalid_args(format!(
            "KeyAlgorithm {other} is not supported by berth; use RSA_2048, RSA_3072, RSA_4096, EC_prime256v1 or EC_secp384r1"
        ))),
    }
}

/// berth-pki's signing algorithm for a `SigningAlgorithm`, or `InvalidArgsException`.
pub(crate) fn pki_signing(s: SigningAlgorithm) -> Result<pki::SigningAlgorithm, ApiError> {
    match s {
        SigningAlgorithm::Sha256WithEcdsa => Ok(pki::SigningAlgorithm::Sha256WithEcdsa),
        SigningAlgorithm::Sha384WithEcdsa => Ok(pki::SigningAlgorithm::Sha384WithEcdsa),
        SigningAlgorithm::Sha256WithRsa => Ok(pki::SigningAlgorithm::Sha256WithRsa),
        SigningAlgorithm::Sha384WithRsa => Ok(pki::SigningAlgorithm::Sha384WithRsa),
        SigningAlgorithm::Sha512WithRsa => Ok(pki::SigningAlgorithm::Sha512WithRsa),
        other => Err(invalid_args(format!(
            "SigningAlgorithm {other} is not supported by berth; use SHA256WITHECDSA, SHA384WITHECDSA, SHA256WITHRSA, SHA384WITHRSA or SHA512WITHRSA"
        ))),
    }
}

/// The signing algorithm berth's CAs sign with for a key of kind `k` (SHA-256, SHA-384
/// for P-384); `None` for a kind berth does not serve.
pub fn default_signing(k: KeyAlgorithm) -> Option<SigningAlgorithm> {
    let s = pki_key(k).ok()?.default_signing();
    Some(match s {
        pki::SigningAlgorithm::Sha256WithEcdsa => SigningAlgorithm::Sha256WithEcdsa,
        pki::SigningAlgorithm::Sha384WithEcdsa => SigningAlgorithm::Sha384WithEcdsa,
        pki::SigningAlgorithm::Sha256WithRsa => SigningAlgorithm::Sha256WithRsa,
        pki::SigningAlgorithm::Sha384WithRsa => SigningAlgorithm::Sha384WithRsa,
        pki::SigningAlgorithm::Sha512WithRsa => SigningAlgorithm::Sha512WithRsa,
    })
}

/// Checks that a key of kind `k` signs with `s` (berth: an EC key with its curve's
/// hash, an RSA key with any RSA hash).
pub(crate) fn check_pair(
    k: KeyAlgorithm,
    s: SigningAlgorithm,
) -> Result<pki::SigningAlgorithm, ApiError> {
    let key = pki_key(k)?;
    let signing = pki_signing(s)?;
    if !key.can_sign_with(signing) {
        return Err(invalid_args(format!(
            "SigningAlgorithm {s} does not go with KeyAlgorithm {k}: berth signs with SHA256WITHECDSA for EC_prime256v1, SHA384WITHECDSA for EC_secp384r1 and SHA256/384/512WITHRSA for RSA keys"
        )));
    }
    Ok(signing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_berth_signs_with() {
        use KeyAlgorithm as K;
        use SigningAlgorithm as S;
        let table = [
            (K::EcPrime256v1, S::Sha256WithEcdsa, true),
            (K::EcPrime256v1, S::Sha384WithEcdsa, false),
            (K::EcPrime256v1, S::Sha256WithRsa, false),
            (K::EcSecp384r1, S::Sha384WithEcdsa, true),
            (K::Rsa2048, S::Sha256WithRsa, true),
            (K::Rsa4096, S::Sha512WithRsa, true),
            (K::Rsa2048, S::Sha256WithRsaPss, false),
            (K::EcSecp521r1, S::Sha512WithEcdsa, false),
            (K::MlDsa44, S::MlDsa44, false),
        ];
        for (k, s, ok) in table {
            assert_eq!(check_pair(k, s).is_ok(), ok, "{k} {s}");
        }
        for k in KeyAlgorithm::ALL {
            if let Some(s) = default_signing(*k) {
                assert!(check_pair(*k, s).is_ok(), "{k} {s}");
            } else {
                assert!(pki_key(*k).is_err(), "{k}");
            }
        }
    }
}
