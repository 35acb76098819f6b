//! [`Shared`]: everything the runtime's parts share — the engine, the live settings, the
//! directory, the counters — and the checks every outgoing event goes through.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use serde_json::Value;
use strapi_io_core::events::ContentTypeRules;
use strapi_io_core::sanitize::{Sanitizer, SensitiveFields};
use strapi_io_core::{Schemas, Settings};
use strapi_io_engine::Engine;

use crate::bus::Bus;
use crate::cluster::Link;
use crate::directory::Directory;
use crate::errors::{Cause, IoError};
use crate::handlers::{ConnectHook, EventHandler};
use crate::live::Live;
use crate::monitor::Monitor;
use crate::occupancy::Occupancy;
use crate::populate::Populate;
use crate::stats::Counters;

// Event names Socket.IO reserves; emitting them is refused (clients may not send them
// either: the engine's codec refuses them).
use strapi_io_engine::proto::socket::RESERVED_EVENTS;

/// A connected socket of the runtime.
pub(crate) type SocketRef = strapi_io_engine::SocketRef<Runtime>;

/// The runtime as the engine sees it. It holds the server weakly: the server owns the
/// engine, which owns this.
pub(crate) struct Runtime {
    pub(crate) shared: Weak<Shared>,
}

/// Everything the handlers and [`Io`](crate::Io) share.
pub(crate) struct Shared {
    /// The Socket.IO engine.
    pub(crate) engine: Engine<Runtime>,
    /// This node's id in the cluster.
    pub(crate) node: String,
    /// The Redis link (off when standalone).
    pub(crate) link: Link,
    /// Broadcasts and socket operations across the cluster (idle when standalone).
    pub(crate) bus: Arc<Bus>,
    pub(crate) schemas: Arc<Schemas>,
    pub(crate) rules: ContentTypeRules,
    pub(crate) settings: RwLock<Arc<Live>>,
    pub(crate) sensitive: SensitiveFields,
    pub(crate) directory: Arc<dyn Directory>,
    /// Every connected socket's credential expiry.
    pub(crate) deadlines: Arc<crate::expiry::Deadlines>,
    /// Served namespaces, `/` first.
    pub(crate) namespaces: Vec<String>,
    /// Connected sockets, for `maxConnections`.
    pub(crate) connections: Arc<AtomicUsize>,
    /// Largest serialized payload `raw` and friends accept.
    pub(crate) max_payload: usize,
    /// Custom client-event handlers by event name.
    pub(crate) handlers: Vec<(String, EventHandler)>,
    /// Hooks run when a socket has connected.
    pub(crate) connect_hooks: Vec<ConnectHook>,
    /// Completes content events' entries before they are sanitized ([`Populate`]).
    pub(crate) populate: Option<Arc<dyn Populate>>,
    /// What went wrong for clients.
    pub(crate) counters: Counters,
    /// Connection state recovery: the sent events kept, the sessions left behind.
    pub(crate) recovery: crate::recovery::Recovery,
    /// Events for one socket to log through Redis (cluster mode with recovery), in order.
    pub(crate) log_queue: tokio::sync::mpsc::Sender<crate::bus::Broadcast>,
    /// Connections waiting for their first request head ([`Io::serve`](crate::Io::serve)).
    pub(crate) pending: Arc<crate::pending::Pending>,
    /// Events sent, for stats and the event log.
    pub(crate) monitor: Monitor,
    /// Local members of each audience room and audience-scoped entity room.
    pub(crate) occupancy: Occupancy,
    /// Held while a local socket's entity rooms, or the rooms it joined itself, are counted
    /// and changed (so that concurrent requests cannot overshoot their limits).
    pub(crate) subscribing: Mutex<()>,
    /// The (owner uid, key) pairs of undeclared keys already logged (bounded).
    pub(crate) undeclared_logged: Mutex<std::collections::HashSet<(String, String)>>,
}

impl Shared {
    pub(crate) fn settings(&self) -> Arc<Live> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether this node is part of a cluster.
    pub(crate) fn clustered(&self) -> bool {
        self.link.enabled()
    }

    /// The recovery settings when connection state recovery is on.
    pub(crate) fn recovery_settings(
        &self,
        live: &Live,
    ) -> Option<strapi_io_core::settings::Recovery> {
        crate::recovery::active(live).cloned()
    }

    /// Counts and logs an operation that could not reach the other nodes.
    pub(crate) fn cluster_error(
        &self,
        what: &str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> IoError {
        self.counters.cluster_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_cluster_errors_total").increment(1);
        tracing::warn!(error = %e, "{what}: the other nodes could not be reached");
        IoError::Cluster(Cause::new(e))
    }

    /// Counts the undeclared keys one event's entry carried (dropped by the sanitizer), and
    /// logs each (content type or component, key) the first time it is seen.
    pub(crate) fn undeclared(&self, keys: std::collections::BTreeSet<(String, String)>) {
        /// Distinct pairs remembered; past it, new ones are counted but not logged.
        const LOGGED_AT_MOST: usize = 1024;
        if keys.is_empty() {
            return;
        }
        self.counters
            .undeclared_keys
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        metrics::counter!("strapi_io_undeclared_keys_total").increment(keys.len() as u64);
        let mut logged = self
            .undeclared_logged
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (owner, key) in keys {
            if logged.len() >= LOGGED_AT_MOST {
                break;
            }
            if logged.insert((owner.clone(), key.clone())) {
                tracing::warn!(%owner, %key, "a key no schema declares was dropped from an entry (logged once)");
                if logged.len() == LOGGED_AT_MOST {
                    tracing::warn!(
                        "{LOGGED_AT_MOST} distinct undeclared keys logged; further ones are only counted"
                    );
                }
            }
        }
    }

    /// Records a sent event in the stats, the event log and the metrics.
    pub(crate) fn record(
        &self,
        event: &str,
        kind: &'static str,
        audiences: usize,
        reach: crate::monitor::Reach,
        started: std::time::Instant,
    ) {
        let settings = self.settings();
        let log_size = if settings.monitoring.enable_event_logging {
            settings.monitoring.max_event_log_size as usize
        } else {
            0
        };
        self.monitor
            .record(event, kind, audiences, reach, started.elapsed(), log_size);
    }

    pub(crate) fn sanitizer<'a>(&'a self, settings: &'a Settings) -> Sanitizer<'a> {
        Sanitizer {
            schemas: &self.schemas,
            sensitive: &self.sensitive,
            exclude_fields: &settings.events.exclude_fields,
        }
    }

    /// Strips sensitive keys and checks the event name and payload size.
    pub(crate) fn prepare_raw(&self, event: &str, data: &Value) -> Result<Value, IoError> {
        check_event_name(event)?;
        let settings = self.settings();
        let clean = self.sanitizer(&settings).strip_sensitive(data);
        let size = serialized_len(&clean);
        if size > self.max_payload {
            return Err(IoError::PayloadTooLarge {
                size,
                limit: self.max_payload,
            });
        }
        Ok(clean)
    }
}

/// Refuses empty, overlong and reserved event names.
pub(crate) fn check_event_name(event: &str) -> Result<(), IoError> {
    if event.is_empty() || event.len() > 200 || RESERVED_EVENTS.contains(&event) {
        return Err(IoError::InvalidEvent(event.to_string()));
    }
    Ok(())
}

/// Counts serialized bytes without building the string.
pub(crate) fn serialized_len(v: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    // Writing a Value to an infallible writer cannot fail.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}
