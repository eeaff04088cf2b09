//! Values sealed at rest: AES-256-GCM under a 32-byte key file of the data directory
//! (mode 0600, made on first use). The services that hold users' secrets (SSM
//! SecureString parameters, Secrets Manager values) keep only sealed bytes in the store;
//! the associated data ties a sealed value to the record it belongs to, so bytes copied
//! to another record do not open.

use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

use crate::{files, random, CredentialError, Result};

/// The file under the data directory holding the values' key.
pub const VALUES_KEY_FILE: &str = "values.key";

/// Seals and opens values under one key.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl Sealer {
    /// The sealer of `data_dir` (its [`VALUES_KEY_FILE`], made if absent).
    pub fn for_data_dir(data_dir: &Path) -> Result<Sealer> {
        std::fs::create_dir_all(data_dir).map_err(|source| CredentialError::File {
            path: data_dir.to_path_buf(),
            source,
        })?;
        Sealer::from_key(files::sealing_key(&data_dir.join(VALUES_KEY_FILE))?)
    }

    /// A sealer with the given key (tests).
    pub fn from_key(key: [u8; 32]) -> Result<Sealer> {
        let unbound = UnboundKey::new(&AES_256_GCM, &key)
            .map_err(|_| CredentialError::Invalid("not a 32-byte AES key".into()))?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
        })
    }

    /// `plain` sealed: a random nonce, then the ciphertext and its tag. `aad` is what
    /// the value belongs to (e.g. a parameter's ARN and version).
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Vec<u8> {
        let (nonce, body) = self.seal_apart(plain, aad);
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&body);
        sealed
    }

    /// What `seal(plain, aad)` sealed; an error if the bytes were changed, belong to
    /// another `aad` or were sealed under another key.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return Err(CredentialError::Unseal(
                String::from_utf8_lossy(aad).into_owned(),
            ));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.open_apart(nonce, body, aad)
    }

    /// `plain` sealed under a random nonce: the nonce, and the ciphertext with its tag
    /// (for tables that keep them in columns of their own).
    pub(crate) fn seal_apart(&self, plain: &[u8], aad: &[u8]) -> ([u8; NONCE_LEN], Vec<u8>) {
        let nonce = random::<NONCE_LEN>();
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .expect("AES-GCM seals any value shorter than 64 GiB");
        (nonce, body)
    }

    /// What [`seal_apart`](Self::seal_apart) sealed.
    pub(crate) fn open_apart(&self, nonce: &[u8], body: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let unseal = || CredentialError::Unseal(String::from_utf8_lossy(aad).into_owned());
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unseal())?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .map_err(|_| unseal())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_with_its_key_and_aad() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sealer::for_data_dir(dir.path()).unwrap();
        let sealed = s.seal(b"s3cret", b"arn:1");
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(s.open(&sealed, b"arn:1").unwrap(), b"s3cret");
        assert!(s.open(&sealed, b"arn:2").is_err());
        let mut changed = sealed.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert!(s.open(&changed, b"arn:1").is_err());
        // The same directory gives the same key; another directory another.
        assert_eq!(
            Sealer::for_data_dir(dir.path())
                .unwrap()
                .open(&sealed, b"arn:1")
                .unwrap(),
            b"s3cret"
        );
        let other = tempfile::tempdir().unwrap();
        assert!(Sealer::for_data_dir(other.path())
            .unwrap()
            .open(&sealed, b"arn:1")
            .is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(VALUES_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
