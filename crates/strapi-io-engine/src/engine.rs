//! [`Engine`]: the served namespaces, the open sessions, and the entry point for HTTP
//! requests under the Socket.IO path ([`Engine::handle`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::Full;

use crate::config::EngineConfig;
use crate::handler::{DisconnectReason, Handler};
use crate::namespace::Namespace;
use crate::state::Inner;

/// The Socket.IO engine: cheap to clone.
pub struct Engine<H: Handler> {
    pub(crate) inner: Arc<Inner<H>>,
}

impl<H: Handler> Clone for Engine<H> {
    fn clone(&self) -> Self {
        Engine {
            inner: self.inner.clone(),
        }
    }
}

impl<H: Handler> std::fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.inner.config.path)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Engine<H> {
    /// An engine serving `namespaces` (each `/name`; `/` is always served).
    pub fn new(config: EngineConfig, handler: H, namespaces: &[&str]) -> Self {
        let handler = Arc::new(handler);
        let mut map = HashMap::new();
        for name in std::iter::once(&"/").chain(namespaces) {
            map.entry(Box::<str>::from(*name)).or_insert_with(|| {
                Namespace::new(
                    name,
                    config.max_buffer_size,
                    config.connect_timeout,
                    handler.clone(),
                )
            });
        }
        Engine {
            inner: Arc::new(Inner {
                config,
                handler,
                namespaces: map,
                sessions: RwLock::new(HashMap::new()),
                running: Default::default(),
            }),
        }
    }

    /// The namespace `name` (`/`, `/admin`), if served.
    pub fn of(&self, name: &str) -> Option<&Arc<Namespace<H>>> {
        self.inner.namespaces.get(name)
    }

    /// Every served namespace.
    pub fn namespaces(&self) -> impl Iterator<Item = &Arc<Namespace<H>>> {
        self.inner.namespaces.values()
    }

    /// The application's handler.
    pub fn handler(&self) -> &Arc<H> {
        &self.inner.handler
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Open Engine.IO sessions.
    pub fn session_count(&self) -> usize {
        self.inner
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Answers an HTTP request under the Socket.IO path (long-polling, or a WebSocket
    /// upgrade when the request came from a hyper server with upgrades enabled).
    pub async fn handle<B>(&self, req: http::Request<B>) -> http::Response<Full<Bytes>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        crate::http::handle(&self.inner, req).await
    }

    /// Closes the connection of `socket` as a lost transport would (every socket of it gets
    /// [`DisconnectReason::TransportClose`]): for a client known to be gone before its
    /// transport said so, e.g. one that came back on a new connection.
    pub fn drop_connection(&self, socket: &crate::socket::SocketRef<H>) {
        self.inner
            .close(socket.conn(), DisconnectReason::TransportClose);
    }

    /// Resolves once every WebSocket connection task has ended: after [`Engine::close_all`],
    /// once each has written its queued packets and close frame (or its one-second grace
    /// passed). A process that exits before would cut those last packets off.
    pub async fn transports_finished(&self) {
        self.inner.running.idle().await;
    }

    /// Closes every session (each socket gets `reason`), e.g. at shutdown.
    pub fn close_all(&self, reason: DisconnectReason) {
        let all: Vec<_> = self
            .inner
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for conn in all {
            self.inner.close(&conn, reason);
        }
    }
}
