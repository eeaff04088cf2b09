//! The agent's errors.

/// What can go wrong in the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// The control plane could not be reached or answered nonsense.
    #[error("berth server: {0}")]
    Server(String),
    /// The control plane refused a call.
    #[error("berth server refused: {code}: {message}")]
    Api { code: String, message: String },
    /// A task's resources (its nat table, its packet filter) could not be set up: the
    /// text is ECS's stoppedReason.
    #[error("ResourceInitializationError: {0}")]
    Init(String),
    /// A task's proxy misbehaved.
    #[error("proxy: {0}")]
    Proxy(String),
    /// The runtime failed (its text is an ECS-style stoppedReason).
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    /// Task networking failed.
    #[error(transparent)]
    Network(#[from] berth_tasknet::Error),
    /// A file of the agent's state.
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

/// The agent's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
