//! [`IoBuilder`]: assembles schemas, settings, the directory and the engine into an
//! [`IoLayer`] for any tower/axum app and the [`Io`] handle.

use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use strapi_io_core::events::{ContentTypeEntry, ContentTypeRules};
use strapi_io_core::sanitize::SensitiveFields;
use strapi_io_core::{Schemas, Settings};
use strapi_io_engine::{Engine, EngineConfig};

use crate::bus::Bus;
use crate::cluster::Link;
use crate::directory::{Directory, StaticDirectory, StaticDirectoryConfig};
use crate::errors::{BuildError, Cause};
use crate::guard::SessionGuard;
use crate::handlers::{
    ClientEvent, ConnectHook, Connected, EventHandler, connect_hook, event_handler,
};
use crate::io::Io;
use crate::live::Live;
use crate::occupancy::Occupancy;
use crate::payload::Args;
use crate::populate::Populate;
use crate::shared::Runtime;
use crate::shared::Shared;
use crate::stats::Counters;

/// The client events the server itself answers; custom handlers cannot take these names.
pub const BUILT_IN_EVENTS: [&str; 9] = [
    "whoami",
    "join-room",
    "leave-room",
    "get-rooms",
    "subscribe-entity",
    "unsubscribe-entity",
    "get-entity-subscriptions",
    "private-message",
    "refresh-token",
];

/// A Socket.IO transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    Websocket,
}

/// The tower layer that serves Socket.IO; put it on an axum `Router` with `.layer(...)`.
#[derive(Clone)]
pub struct IoLayer {
    shared: Arc<Shared>,
    /// The Socket.IO path.
    path: Arc<str>,
}

impl std::fmt::Debug for IoLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IoLayer")
    }
}

impl<S: Clone> tower::Layer<S> for IoLayer {
    type Service = SessionGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionGuard {
            inner,
            shared: self.shared.clone(),
            path: self.path.clone(),
        }
    }
}

/// Builds a strapi-io server.
pub struct IoBuilder {
    schemas: Schemas,
    settings: Settings,
    content_types: Option<Vec<ContentTypeEntry>>,
    sensitive_fields: Vec<String>,
    directory: Option<Arc<dyn Directory>>,
    path: String,
    max_payload: u64,
    max_buffer_size: usize,
    transports: Vec<Transport>,
    handlers: Vec<(String, EventHandler)>,
    connect_hooks: Vec<ConnectHook>,
    populate: Option<Arc<dyn Populate>>,
}

impl IoBuilder {
    /// Starts from the project's schemas, default settings and an empty static directory.
    pub fn new(schemas: Schemas) -> Self {
        IoBuilder {
            schemas,
            settings: Settings::default(),
            content_types: None,
            sensitive_fields: Vec::new(),
            directory: None,
            path: "/socket.io".into(),
            max_payload: 1_000_000,
            max_buffer_size: 1024,
            transports: vec![Transport::Polling, Transport::Websocket],
            handlers: Vec::new(),
            connect_hooks: Vec::new(),
            populate: None,
        }
    }

    /// The plugin settings.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The `contentTypes` config; without it every `api::` type is enabled.
    pub fn content_types(mut self, entries: Vec<ContentTypeEntry>) -> Self {
        self.content_types = Some(entries);
        self
    }

    /// Extra sensitive field names, on top of the plugin's defaults.
    pub fn sensitive_fields(mut self, fields: Vec<String>) -> Self {
        self.sensitive_fields = fields;
        self
    }

    /// Where roles, users and tokens come from.
    pub fn directory(mut self, directory: Arc<dyn Directory>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// The HTTP path of the Socket.IO endpoint (default `/socket.io`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// `maxHttpBufferSize`: the largest message accepted from a client, and the largest
    /// payload `raw` and the messaging methods send (default 1 MB).
    pub fn max_http_buffer_size(mut self, bytes: u64) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Packets queued per socket before it counts as a slow consumer: further packets are
    /// not queued (counted in stats) and the socket is closed at its next heartbeat
    /// (default 1024).
    pub fn max_buffer_size(mut self, packets: usize) -> Self {
        self.max_buffer_size = packets.max(1);
        self
    }

    /// The transports accepted (default polling and websocket).
    pub fn transports(mut self, transports: &[Transport]) -> Self {
        self.transports = transports.to_vec();
        self
    }

    /// Handles a custom client event on every namespace; `Some(args)` answers the ack.
    pub fn on_event<F, Fut>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(ClientEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Args>> + Send + 'static,
    {
        self.handlers.push((name.into(), event_handler(handler)));
        self
    }

    /// Runs `hook` for every socket once it has connected (after it joined its rooms).
    pub fn on_connect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Connected) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.connect_hooks.push(connect_hook(hook));
        self
    }

    /// Completes each content event's entry before it is sanitized (see [`Populate`]): how
    /// an entry that lacks its relations is refetched. Without it, entries go out as given.
    pub fn populate(mut self, hook: Arc<dyn Populate>) -> Self {
        self.populate = Some(hook);
        self
    }

    /// Builds the layer and the handle.
    pub fn build(self) -> Result<(IoLayer, Io), BuildError> {
        self.settings.check().map_err(BuildError::Settings)?;
        if self.transports.is_empty() {
            return Err(BuildError::NoTransport);
        }
        for (name, _) in &self.handlers {
            if BUILT_IN_EVENTS.contains(&name.as_str()) || name.is_empty() {
                return Err(BuildError::ReservedEvent(name.clone()));
            }
        }
        let rules = ContentTypeRules::new(self.content_types);
        for uid in rules.listed_uids() {
            if self.schemas.content_type(uid).is_none() {
                return Err(BuildError::UnknownContentType(uid.to_string()));
            }
        }
        let directory = match self.directory {
            Some(d) => d,
            None => Arc::new(
                StaticDirectory::new(&StaticDirectoryConfig::default(), "", "")
                    .expect("the empty directory is valid"),
            ),
        };
        let conn = &self.settings.connection;
        let polling = self.transports.contains(&Transport::Polling);
        let websocket = self.transports.contains(&Transport::Websocket);
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::NoRuntime);
        }
        let link = if self.settings.redis.enabled {
            Link::connect(&self.settings.redis.url)
                .map_err(|e| BuildError::Cluster(Cause::new(e)))?
        } else {
            Link::off()
        };
        let clustered = link.enabled();
        let config = EngineConfig {
            path: self.path.clone(),
            ping_interval: Duration::from_millis(conn.ping_interval),
            ping_timeout: Duration::from_millis(conn.ping_timeout),
            connect_timeout: Duration::from_millis(conn.connection_timeout),
            max_payload: self.max_payload,
            max_buffer_size: self.max_buffer_size,
            polling,
            websocket,
            ..EngineConfig::default()
        };
        let mut namespaces = vec!["/".to_string()];
        if self.settings.namespaces.enabled {
            namespaces.extend(
                self.settings
                    .namespaces
                    .list
                    .keys()
                    .map(|n| format!("/{}", n.trim_start_matches('/'))),
            );
        }
        let node = strapi_io_engine::Id::new().to_string();
        let path: Arc<str> = self.path.clone().into();
        let names: Vec<&str> = namespaces.iter().map(String::as_str).collect();
        let (log_queue, queued) = tokio::sync::mpsc::channel(crate::delivery::LOG_QUEUE);
        let shared = Arc::new_cyclic(|weak: &std::sync::Weak<Shared>| {
            let local: std::sync::Weak<dyn crate::bus::Local> = weak.clone();
            Shared {
                engine: Engine::new(
                    config,
                    Runtime {
                        shared: weak.clone(),
                    },
                    &names,
                ),
                bus: Bus::start(link.clone(), node.clone(), local),
                node,
                link,
                schemas: Arc::new(self.schemas),
                rules,
                settings: RwLock::new(Arc::new(Live::new(self.settings))),
                sensitive: SensitiveFields::new(&self.sensitive_fields),
                directory,
                deadlines: Arc::default(),
                namespaces: namespaces.clone(),
                connections: Arc::new(AtomicUsize::new(0)),
                recovery: crate::recovery::Recovery::new(&namespaces, clustered),
                log_queue,
                max_payload: usize::try_from(self.max_payload).unwrap_or(usize::MAX),
                handlers: self.handlers,
                connect_hooks: self.connect_hooks,
                populate: self.populate,
                counters: Counters::default(),
                pending: Arc::default(),
                monitor: crate::monitor::Monitor::new(),
                occupancy: Occupancy::default(),
                subscribing: std::sync::Mutex::new(()),
                undeclared_logged: std::sync::Mutex::new(std::collections::HashSet::new()),
            }
        });
        if shared.clustered() {
            tokio::spawn(heartbeat(Arc::downgrade(&shared)));
        }
        tokio::spawn(crate::expiry::run(Arc::downgrade(&shared)));
        if clustered {
            tokio::spawn(crate::delivery::log_queued(Arc::downgrade(&shared), queued));
        }
        if let Some(changes) = shared.directory.changes() {
            tokio::spawn(crate::recheck::watch(Arc::downgrade(&shared), changes));
        }
        Ok((
            IoLayer {
                shared: shared.clone(),
                path,
            },
            Io { shared },
        ))
    }
}

/// Writes this node's line in the cluster's node table every few seconds, while the
/// server lives.
async fn heartbeat(shared: std::sync::Weak<Shared>) {
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let line = crate::cluster::NodeStats {
            id: shared.node.clone(),
            connections: shared
                .connections
                .load(std::sync::atomic::Ordering::Acquire),
            updated_at: crate::directory::unix_millis(),
            this: false,
        };
        if let Ok(text) = serde_json::to_string(&line) {
            // Failures are the link's to report (`/health`); the next beat retries.
            let _ = shared
                .link
                .hset(crate::cluster::NODES_KEY, &line.id, &text)
                .await;
        }
        drop(shared);
        tokio::time::sleep(crate::cluster::HEARTBEAT_EVERY).await;
    }
}
