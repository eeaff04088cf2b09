//! Errors of berth-docker.

use std::path::PathBuf;

/// berth-docker's errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Docker Engine API call failed.
    #[error("docker: {what}: {source}")]
    Docker {
        what: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// An image spec that cannot be used; the message names the field.
    #[error("image spec {source_name}: {message}")]
    Spec {
        source_name: String,
        message: String,
    },
    /// The shared libraries of a binary cannot be found.
    #[error("libraries of {path}: {message}")]
    Libraries { path: PathBuf, message: String },
    /// An I/O error, with what was being done.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// An error of the task network.
    #[error(transparent)]
    Net(#[from] berth_tasknet::Error),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn docker(what: impl Into<String>, source: bollard::errors::Error) -> Error {
        Error::Docker {
            what: what.into(),
            source,
        }
    }
}

impl From<Error> for berth_runtime::Error {
    fn from(e: Error) -> berth_runtime::Error {
        match e {
            Error::Net(n) => berth_runtime::Error::Network(n),
            other => berth_runtime::Error::Engine(other.to_string()),
        }
    }
}

/// berth-docker's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
