//! [`IoBuilder`]: assembles schemas, settings, the directory and the socketioxide server
//! into an [`IoLayer`] for any tower/axum app and the [`Io`] handle.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::service::SocketIoService;
use strapi_io_core::events::{ContentTypeEntry, ContentTypeRules};
use strapi_io_core::sanitize::SensitiveFields;
use strapi_io_core::{Schemas, Settings};

use crate::connection::{handshake, on_connect};
use crate::directory::{Directory, StaticDirectory, StaticDirectoryConfig};
use crate::errors::BuildError;
use crate::io::{Io, Shared};

/// The tower layer that serves Socket.IO; put it on an axum `Router` with `.layer(...)`.
#[derive(Clone)]
pub struct IoLayer(SocketIoLayer);

impl<S: Clone> tower::Layer<S> for IoLayer {
    type Service = SocketIoService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.0.layer(inner)
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

    /// Builds the layer and the handle.
    pub fn build(self) -> Result<(IoLayer, Io), BuildError> {
        let problems: Vec<String> = self
            .settings
            .problems("settings")
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        if !problems.is_empty() {
            return Err(BuildError::Settings(problems));
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
        let (layer, sio) = SocketIo::builder()
            .req_path(self.path)
            .ping_interval(Duration::from_millis(conn.ping_interval))
            .ping_timeout(Duration::from_millis(conn.ping_timeout))
            .connect_timeout(Duration::from_millis(conn.connection_timeout))
            .max_payload(self.max_payload)
            .ws_max_message_size(usize::try_from(self.max_payload).unwrap_or(usize::MAX))
            .build_layer();
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
        let shared = Arc::new(Shared {
            sio: sio.clone(),
            schemas: Arc::new(self.schemas),
            rules,
            settings: RwLock::new(Arc::new(self.settings)),
            sensitive: SensitiveFields::new(&self.sensitive_fields),
            directory,
            namespaces: namespaces.clone(),
            connections: Arc::new(AtomicUsize::new(0)),
            max_payload: usize::try_from(self.max_payload).unwrap_or(usize::MAX),
        });
        for ns in namespaces {
            let on_conn = {
                let shared = shared.clone();
                move |socket: SocketRef| {
                    let shared = shared.clone();
                    async move { on_connect(shared, socket) }
                }
            };
            let middleware = {
                let shared = shared.clone();
                move |socket: SocketRef, TryData(auth): TryData<Value>| {
                    let shared = shared.clone();
                    async move { handshake(shared, socket, auth.ok()).await }
                }
            };
            sio.ns(ns, on_conn.with(middleware));
        }
        Ok((IoLayer(layer), Io { shared }))
    }
}
