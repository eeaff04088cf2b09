//! Errors. The `Display` text of the errors that stop a task before it runs
//! ([`Error::Image`], [`Error::Secret`], [`Error::CannotStart`]) is meant to be the task's
//! `stoppedReason`, in ECS style.

/// The runtime's errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A container definition the runtime cannot use.
    #[error("container {container}: {message}")]
    Spec { container: String, message: String },
    /// The containers of a task do not fit together (names, dependsOn, essential).
    #[error("task definition: {0}")]
    Task(String),
    /// An image map file that cannot be read or parsed.
    #[error("image map {source_name}: {message}")]
    ImageMapFile {
        source_name: String,
        message: String,
    },
    /// An image the image map does not know, or a mapping that gives no command.
    #[error("CannotPullContainerError: {0}")]
    Image(String),
    /// A secret that cannot be resolved.
    #[error("ResourceInitializationError: unable to pull secrets or registry auth: {0}")]
    Secret(String),
    /// A container that cannot be started: its `user` cannot be resolved, it has no
    /// command, its log file cannot be opened.
    #[error("CannotStartContainerError: container {container}: {message}")]
    CannotStart { container: String, message: String },
    /// The task's network could not be made or removed.
    #[error("ResourceInitializationError: task network: {0}")]
    Network(#[from] berth_tasknet::Error),
    /// The task's own namespaces (its init) could not be made.
    #[error("ResourceInitializationError: task namespaces: {0}")]
    Sandbox(berth_tasknet::Error),
    /// A container engine (Docker) call failed.
    #[error("{0}")]
    Engine(String),
    /// An I/O error, with what was being done.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
