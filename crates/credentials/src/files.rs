//! The store's files, made readable by their owner only.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::CredentialError;

/// Creates `path` empty with mode 0600 if it does not exist.
pub(crate) fn create_private(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The 32-byte sealing key at `path`, made (mode 0600, random) if absent.
pub(crate) fn sealing_key(path: &Path) -> Result<[u8; 32], CredentialError> {
    let err = |source| CredentialError::File {
        path: path.to_path_buf(),
        source,
    };
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            let key = crate::random::<32>();
            f.write_all(&key).and_then(|_| f.sync_all()).map_err(err)?;
            return Ok(key);
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(e)),
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(err)?;
    bytes
        .try_into()
        .map_err(|_| CredentialError::Invalid(format!("{} is not a 32-byte key", path.display())))
}
