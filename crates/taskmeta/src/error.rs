//! The crate's error type.

use std::net::SocketAddr;

/// Why a metadata endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint's address could not be put on the namespace's `lo`.
    #[error("cannot add the endpoint's address to lo in {netns}: {source}")]
    Address {
        /// The namespace file.
        netns: String,
        /// What went wrong.
        #[source]
        source: Box<berth_tasknet::Error>,
    },

    /// A listener could not be made inside the namespace.
    #[error("cannot listen on {addr} in {netns}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The namespace file.
        netns: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },

    /// A listener could not be handed to the runtime.
    #[error("cannot serve {what}: {source}")]
    Serve {
        /// Which listener.
        what: &'static str,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },

    /// A relay listener was given without the API's address to relay to.
    #[error("a relay listener needs the API's address (MetadataConfig::api)")]
    RelayWithoutApi,
}
