//! Error types of the `$io` API. Client-facing failures of socket events are not errors
//! here: they are answered as `{ success: false, error }` acks.

use std::sync::Arc;

use strapi_io_core::settings::SettingsProblem;

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
    Transport(#[source] Cause),
    /// The other nodes of the cluster could not be reached.
    #[error("Cluster unavailable: {0}")]
    Cluster(#[source] Cause),
}

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The settings are invalid; every problem with its path.
    #[error("invalid settings: {}", problem_lines(.0))]
    Settings(Vec<SettingsProblem>),
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
    Cluster(#[source] Cause),
    /// A namespace could not be set up.
    #[error("namespace {0}: {1}")]
    Namespace(String, String),
}

/// The problems as `path: message`, separated by `; `.
fn problem_lines(problems: &[SettingsProblem]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("; ")
}

/// The error underneath an [`IoError`] or a [`BuildError`] (the transport's, the cluster
/// link's), kept as its [`source`](std::error::Error::source); two are equal when their
/// messages are.
#[derive(Debug, Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Keeps `error`.
    pub(crate) fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Cause(Arc::new(error))
    }

    /// A cause that is only a message.
    pub(crate) fn msg(message: &str) -> Self {
        Cause(Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
            message.to_string(),
        )))
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}
