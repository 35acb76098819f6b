//! [`EngineConfig`]: the engine's fixed settings (timings, limits, transports).

use std::time::Duration;

/// How the engine serves: fixed for its life.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The HTTP path served (default `/socket.io`); requests under `{path}/` are the engine's.
    pub path: String,
    /// How often the server pings (Engine.IO v4) or the client must ping (v3).
    pub ping_interval: Duration,
    /// How long a pong (v4) or the next ping (v3) may take past the interval.
    pub ping_timeout: Duration,
    /// How long a new session may stay without any namespace connected.
    pub connect_timeout: Duration,
    /// `maxHttpBufferSize`: the largest message (WebSocket) or request body (polling) a
    /// client may send, in bytes.
    pub max_payload: u64,
    /// Packets queued for one connection before further ones are refused
    /// ([`SendError::Full`](crate::SendError::Full)).
    pub max_buffer_size: usize,
    /// Whether HTTP long-polling is served.
    pub polling: bool,
    /// Whether WebSocket is served.
    pub websocket: bool,
    /// Whether Engine.IO v3 clients (Socket.IO 2.x) are served.
    pub allow_eio3: bool,
    /// Binary attachments one Socket.IO packet may announce.
    pub max_attachments: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: "/socket.io".into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            connect_timeout: Duration::from_millis(45_000),
            max_payload: 1_000_000,
            max_buffer_size: 1024,
            polling: true,
            websocket: true,
            allow_eio3: true,
            max_attachments: 10,
        }
    }
}

impl EngineConfig {
    /// How long a write may stay blocked before the connection counts as a slow consumer
    /// and is closed: `pingInterval + pingTimeout`.
    pub fn stall_timeout(&self) -> Duration {
        self.ping_interval + self.ping_timeout
    }
}
