//! Error types of the `$io` API. Client-facing failures of socket events are not errors
//! here: they are answered as `{ success: false, error }` acks.

/// Why an `$io` call could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoError {
    /// `emit` named a content type that is not loaded.
    #[error("Unknown content type: {0}")]
    UnknownContentType(String),
    /// An empty event name, or one Socket.IO reserves.
    #[error("Invalid event name: {0:?}")]
    InvalidEvent(String),
    /// The serialized payload exceeds the configured maximum.
    #[error("Payload too large: {size} bytes (limit {limit})")]
    PayloadTooLarge {
        /// Serialized size.
        size: usize,
        /// `maxHttpBufferSize`.
        limit: usize,
    },
    /// A namespace that is not served.
    #[error("Unknown namespace: {0}")]
    UnknownNamespace(String),
    /// The transport refused the broadcast.
    #[error("Broadcast failed: {0}")]
    Transport(String),
    /// The other nodes of the cluster could not be reached.
    #[error("Cluster unavailable: {0}")]
    Cluster(String),
}

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The settings are invalid; every problem with its path.
    #[error("invalid settings: {}", .0.join("; "))]
    Settings(Vec<String>),
    /// `contentTypes` names a content type that is not loaded.
    #[error("contentTypes: unknown content type {0}")]
    UnknownContentType(String),
    /// A custom handler for a built-in client event, or with an empty name.
    #[error("events: `{0}` is a built-in client event and cannot have a custom handler")]
    ReservedEvent(String),
    /// No transport enabled.
    #[error("socket.serverOptions.transports: at least one transport is needed")]
    NoTransport,
    /// `build` was called outside a tokio runtime.
    #[error("IoBuilder::build must run inside a tokio runtime")]
    NoRuntime,
    /// The cluster (Redis) settings are unusable.
    #[error("redis: {0}")]
    Cluster(String),
    /// A namespace could not be set up.
    #[error("namespace {0}: {1}")]
    Namespace(String, String),
}
