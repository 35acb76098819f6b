//! [`Io`], the Rust `strapi.$io`: the emit pipeline and every method of the reference,
//! over the socketioxide server it owns.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures_util::StreamExt;
use serde_json::Value;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::{RemoteSocket, Sid};
use socketioxide::{BroadcastError, SocketError};

use crate::cluster::{AckSender, ClusterAdapter, Link, SocketIo, SocketRef};
use strapi_io_core::access::AccessRules;
use strapi_io_core::events::{ContentTypeRules, Skip, entry_ids};
use strapi_io_core::format::{delete_entry, to_wire};
use strapi_io_core::rooms::{
    entity_room, is_valid_uid, parse_entity_room, parse_who_room, scoped_entity_room, socket_room,
};
use strapi_io_core::sanitize::{Sanitizer, SensitiveFields};
use strapi_io_core::{Audience, Schemas, Settings};

use crate::directory::{Directory, UserInfo};
use crate::errors::IoError;
use crate::handlers::{ConnectHook, EventHandler};
use crate::monitor::{EventLogEntry, EventStats, Monitor};
use crate::types::{
    EmitOptions, EmitReport, EntitySocket, EntitySubscription, EntitySubscriptionResult,
    EntitySubscriptions, RawOptions, SocketInfo,
};

/// Event names Socket.IO reserves; emitting them is refused.
const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The event a socket receives just before the server disconnects it, with `{ reason }`.
pub const DISCONNECT_REASON_EVENT: &str = "server-disconnect";

pub(crate) use crate::session::{ConnectionSlot, Session};

/// The live settings with what is derived from them, swapped as a whole.
pub(crate) struct Live {
    pub(crate) settings: Settings,
    pub(crate) access: AccessRules,
}

impl Live {
    pub(crate) fn new(settings: Settings) -> Self {
        let access = AccessRules::new(&settings.security);
        Live { settings, access }
    }
}

impl std::ops::Deref for Live {
    type Target = Settings;
    fn deref(&self) -> &Settings {
        &self.settings
    }
}

/// Counters of what went wrong for clients, for stats and logs.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Packets not queued because a client's buffer was full.
    pub(crate) buffer_full: AtomicU64,
    /// Client events refused by the rate limit.
    pub(crate) rate_limited: AtomicU64,
    /// Sockets disconnected for flooding.
    pub(crate) flood_disconnects: AtomicU64,
    /// Sockets closed by the heartbeat (not answering, or not reading).
    pub(crate) heartbeat_disconnects: AtomicU64,
    /// Handshakes refused.
    pub(crate) refused_handshakes: AtomicU64,
    /// Connections closed because a write to them stalled (the client stopped reading).
    pub(crate) stalled_writes: AtomicU64,
    /// Polling/upgrade requests for a session made from another address, refused.
    pub(crate) foreign_session_requests: AtomicU64,
    /// Operations that could not reach the other nodes (Redis unreachable).
    pub(crate) cluster_errors: AtomicU64,
    /// Socket.IO requests refused because their query reads two ways.
    pub(crate) ambiguous_requests: AtomicU64,
    /// Connections refused over a pending-connection limit.
    pub(crate) refused_connections: AtomicU64,
    /// Requests whose head (on a pending connection) or body did not arrive in time.
    pub(crate) timed_out_requests: AtomicU64,
    /// Keys of emitted entries that no schema declares, dropped.
    pub(crate) undeclared_keys: AtomicU64,
    /// Re-checks of connected sockets after a directory change.
    pub(crate) rechecks: AtomicU64,
    /// Sockets disconnected because their access ended (blocked, deleted, revoked, role).
    pub(crate) revoked: AtomicU64,
    /// Sockets moved to another audience.
    pub(crate) moves: AtomicU64,
    /// Entity subscriptions dropped because the new audience may not read them.
    pub(crate) dropped_subscriptions: AtomicU64,
    /// Sockets disconnected at their credential's expiry.
    pub(crate) expired_disconnects: AtomicU64,
    /// Accepted `refresh-token` events.
    pub(crate) refreshes: AtomicU64,
    /// Refused `refresh-token` events.
    pub(crate) refused_refreshes: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IoStats {
    /// Connected sockets.
    pub connections: usize,
    /// Packets not queued because a client's buffer was full (that client is then closed).
    pub buffer_full: u64,
    /// Client events refused by the rate limit.
    pub rate_limited: u64,
    /// Sockets disconnected for flooding.
    pub flood_disconnects: u64,
    /// Sockets closed by the heartbeat: not answering pings, or not reading.
    pub heartbeat_disconnects: u64,
    /// Handshakes refused.
    pub refused_handshakes: u64,
    /// Connections closed because the client stopped reading (a write stalled).
    pub slow_consumer_disconnects: u64,
    /// Requests for a session made from another address than the socket's, refused.
    pub foreign_session_requests: u64,
    /// Operations that could not reach the other nodes of the cluster.
    pub cluster_errors: u64,
    /// Socket.IO requests refused (400) because their query could be read two ways.
    pub ambiguous_requests: u64,
    /// TCP connections that have not sent a complete request head yet (now).
    pub pending_connections: u64,
    /// Connections refused (503) over `maxPendingConnections` or
    /// `maxPendingConnectionsPerIp`.
    pub refused_connections: u64,
    /// Connections closed because a request head (before the first request) or a request
    /// body did not arrive within `headerTimeout`.
    pub timed_out_requests: u64,
    /// Keys of emitted entries dropped because no schema declares them (once per key and
    /// event).
    pub undeclared_keys: u64,
    /// Passes re-checking connected sockets after a directory change.
    pub access_rechecks: u64,
    /// Sockets disconnected because their access ended in Strapi (blocked or deleted user,
    /// revoked or expired API token, role no longer allowed).
    pub access_revoked: u64,
    /// Sockets moved to another audience (a user's role changed).
    pub audience_moves: u64,
    /// Entity subscriptions dropped because the socket's new audience may not read them.
    pub dropped_subscriptions: u64,
    /// Sockets disconnected at their credential's expiry (`Token expired`).
    pub token_expired_disconnects: u64,
    /// `refresh-token` events accepted.
    pub token_refreshes: u64,
    /// `refresh-token` events refused.
    pub refused_token_refreshes: u64,
    /// Connected sockets whose credential expires (scheduled now).
    pub expiring_sockets: usize,
}

/// Who is connected: see [`Io::connections`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionsReport {
    /// Connected sockets, all namespaces.
    pub total: usize,
    /// Sockets per audience room.
    pub by_audience: BTreeMap<String, usize>,
    /// Entity subscriptions per content type.
    pub entity_subscriptions: BTreeMap<String, usize>,
    /// The first sockets, with user info and rooms.
    pub sockets: Vec<SocketInfo>,
}

/// Everything the handlers and [`Io`] share.
pub(crate) struct Shared {
    pub(crate) sio: SocketIo,
    /// The Redis link (off when standalone).
    pub(crate) link: Link,
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
    /// What went wrong for clients.
    pub(crate) counters: Counters,
    /// Connections waiting for their first request head ([`Io::serve`]).
    pub(crate) pending: Arc<crate::serve::Pending>,
    /// Events sent, for stats and the event log.
    pub(crate) monitor: Monitor,
    /// Public socket id → (namespace, transport id). socketioxide uses the Engine.IO session
    /// id as the socket id, and whoever knows it can drive a long-polling session; the server
    /// shows other parties a separate random id instead, as Socket.IO itself does.
    pub(crate) public_ids: Mutex<std::collections::HashMap<String, (String, Sid)>>,
    /// Local members of each audience room and audience-scoped entity room, so that an emit
    /// skips audiences nobody here belongs to (no sanitizing, no serializing for them).
    pub(crate) occupancy: Mutex<std::collections::HashMap<String, usize>>,
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

    pub(crate) fn session(socket: &SocketRef) -> Option<Arc<Session>> {
        socket.extensions.get::<Arc<Session>>()
    }

    /// Whether this node is part of a cluster.
    pub(crate) fn clustered(&self) -> bool {
        self.link.enabled()
    }

    /// Counts and logs an operation that could not reach the other nodes.
    pub(crate) fn cluster_error(&self, what: &str, e: impl std::fmt::Display) -> IoError {
        self.counters.cluster_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_cluster_errors_total").increment(1);
        tracing::warn!(error = %e, "{what}: the other nodes could not be reached");
        IoError::Cluster(e.to_string())
    }

    /// Sends `event` to the sockets `pick` selects in namespace `ns`: on every node when
    /// clustered, here otherwise. When Redis cannot be reached, this node's sockets still get
    /// it and the error is returned as `Ok(Some(reason))`.
    pub(crate) async fn send<T: serde::Serialize + ?Sized>(
        &self,
        ns: &str,
        pick: impl Fn(BroadcastOperators<ClusterAdapter>) -> BroadcastOperators<ClusterAdapter>,
        event: &str,
        data: &T,
    ) -> Result<Option<String>, IoError> {
        let op = self
            .sio
            .of(ns)
            .ok_or_else(|| IoError::UnknownNamespace(ns.to_string()))?;
        if !self.clustered() {
            self.delivered(pick(op.local()).emit(event, data).await)?;
            return Ok(None);
        }
        match pick(op.clone()).emit(event, data).await {
            // The adapter publishes first and sends locally only when that worked.
            Err(BroadcastError::Adapter(e)) => {
                let err = self.cluster_error("broadcast", &e);
                self.delivered(pick(op.local()).emit(event, data).await)?;
                Ok(Some(err.to_string()))
            }
            other => self.delivered(other).map(|()| None),
        }
    }

    /// Finds a socket by id: here, or when clustered on any node (through the room only it
    /// is in).
    pub(crate) async fn locate(&self, id: &str) -> Result<Option<Located>, IoError> {
        self.locate_in(id, None).await
    }

    /// [`Shared::locate`], only among the sockets of namespace `ns` when one is given.
    pub(crate) async fn locate_in(
        &self,
        id: &str,
        ns: Option<&str>,
    ) -> Result<Option<Located>, IoError> {
        let local = match ns {
            None => self.socket(id),
            Some(ns) => self.socket(id).filter(|s| s.ns() == ns).or_else(|| {
                // a transport id names one socket per namespace of its connection
                let sid = Sid::from_str(id).ok()?;
                self.sio.of(ns)?.get_socket(sid)
            }),
        };
        if let Some(s) = local {
            return Ok(Some(Located::Here(s)));
        }
        if !self.clustered() {
            return Ok(None);
        }
        // A public id (its `#socket:` room, which clients cannot join), or a transport id:
        // every socket is in the room named by its own id, but a client may join a room of
        // any name, so only the socket whose id it is counts.
        let transport_id = Sid::from_str(id).ok();
        if transport_id.is_none()
            && (id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Ok(None);
        }
        for ns in self
            .namespaces
            .iter()
            .filter(|n| ns.is_none_or(|only| only == n.as_str()))
        {
            let Some(op) = self.sio.of(ns.as_str()) else {
                continue;
            };
            // Its public id's room first; then the room of its transport id, where only
            // the socket whose id it is counts.
            let mut rooms = vec![(socket_room(id), None)];
            rooms.extend(transport_id.map(|sid| (id.to_string(), Some(sid))));
            for (room, must_be) in rooms {
                let found = op
                    .clone()
                    .within(room)
                    .fetch_sockets()
                    .await
                    .map_err(|e| self.cluster_error("finding a socket", e))?;
                if let Some(s) = found
                    .into_iter()
                    .find(|s| must_be.is_none_or(|sid| s.data().id == sid))
                {
                    return Ok(Some(Located::There(s)));
                }
            }
        }
        Ok(None)
    }

    /// A located socket's audience and rooms.
    pub(crate) async fn member(&self, at: Located) -> Result<Member, IoError> {
        match at {
            Located::Here(s) => {
                let session =
                    Self::session(&s).ok_or_else(|| IoError::Cluster("socket closing".into()))?;
                Ok(Member {
                    audience: session.audience(),
                    rooms: s.rooms().into_iter().map(|r| r.to_string()).collect(),
                    at: Located::Here(s),
                })
            }
            Located::There(r) => {
                let rooms: Vec<String> = r
                    .rooms()
                    .await
                    .map_err(|e| self.cluster_error("reading a socket's rooms", e))?
                    .into_iter()
                    .map(|r| r.to_string())
                    .collect();
                let audience = self
                    .directory
                    .audiences()
                    .iter()
                    .find(|a| rooms.contains(&a.room))
                    .cloned()
                    .ok_or_else(|| {
                        IoError::Cluster("the socket's audience is unknown here".into())
                    })?;
                Ok(Member {
                    audience,
                    rooms,
                    at: Located::There(r),
                })
            }
        }
    }

    /// The info of a socket of another node, from the rooms it is in.
    async fn remote_info(&self, r: &RemoteSocket<ClusterAdapter>) -> Result<SocketInfo, IoError> {
        let rooms: Vec<String> = r
            .rooms()
            .await
            .map_err(|e| self.cluster_error("reading a socket's rooms", e))?
            .into_iter()
            .map(|r| r.to_string())
            .collect();
        let who = rooms
            .iter()
            .find_map(|room| parse_who_room(room))
            .and_then(|json| serde_json::from_str::<RemoteWho>(json).ok())
            .ok_or_else(|| IoError::Cluster("a socket without its info room".into()))?;
        let own = r.data().id.to_string();
        Ok(SocketInfo {
            id: who.id,
            user: who.user,
            role: who.role,
            rooms: visible(rooms.into_iter(), &own),
        })
    }

    /// The info of a socket of this node.
    fn local_info(s: &SocketRef) -> Option<SocketInfo> {
        let session = Self::session(s)?;
        Some(SocketInfo {
            id: session.public_id.clone(),
            rooms: visible_rooms(s),
            user: session.user(),
            role: session.audience().role_label().to_string(),
        })
    }

    /// The sockets of `/` in `room`: here, or on every node when clustered.
    pub(crate) async fn sockets_in(&self, room: &str) -> Result<Vec<SocketInfo>, IoError> {
        let Some(root) = self.sio.of("/") else {
            return Ok(Vec::new());
        };
        if !self.clustered() {
            return Ok(root
                .local()
                .within(room.to_string())
                .sockets()
                .iter()
                .filter_map(Self::local_info)
                .collect());
        }
        let found = root
            .within(room.to_string())
            .fetch_sockets()
            .await
            .map_err(|e| self.cluster_error("listing sockets", e))?;
        let own = self.sio.config().server_id;
        let infos: Vec<Option<SocketInfo>> = futures_util::stream::iter(found)
            .map(|r| async move {
                if r.data().server_id == own {
                    return root_socket(&self.sio, r.data().id)
                        .as_ref()
                        .and_then(Self::local_info);
                }
                match self.remote_info(&r).await {
                    Ok(info) => Some(info),
                    Err(e) => {
                        tracing::warn!(error = %e, "a socket of another node left out of a listing");
                        None
                    }
                }
            })
            .buffered(32)
            .collect()
            .await;
        Ok(infos.into_iter().flatten().collect())
    }

    /// Finds a connected socket by id in any served namespace.
    ///
    /// `id` is a socket's public id (what the server shows: socket info, `private-message`
    /// senders) or its transport id (what the client itself sees as `socket.id`).
    pub(crate) fn socket(&self, id: &str) -> Option<SocketRef> {
        let public = self
            .public_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        if let Some((ns, sid)) = public {
            return self.sio.of(ns.as_str())?.get_socket(sid);
        }
        let sid = Sid::from_str(id).ok()?;
        self.namespaces
            .iter()
            .filter_map(|ns| self.sio.of(ns.as_str()))
            .find_map(|op| op.get_socket(sid))
    }

    /// One more local member in `room`.
    pub(crate) fn occupy(&self, room: &str) {
        *self
            .occupancy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(room.to_string())
            .or_default() += 1;
    }

    /// One member fewer in `room`.
    pub(crate) fn vacate(&self, room: &str) {
        let mut map = self.occupancy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(room) {
            *n -= 1;
            if *n == 0 {
                map.remove(room);
            }
        }
    }

    /// Whether any of `rooms` has a local member.
    pub(crate) fn occupied(&self, rooms: &[String]) -> bool {
        let map = self.occupancy.lock().unwrap_or_else(|e| e.into_inner());
        rooms.iter().any(|r| map.contains_key(r))
    }

    /// Registers a connected socket's public id.
    pub(crate) fn register_public_id(&self, session: &Session, socket: &SocketRef) {
        self.public_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                session.public_id.clone(),
                (socket.ns().to_string(), socket.id),
            );
    }

    /// Forgets a disconnected socket's public id.
    pub(crate) fn forget_public_id(&self, session: &Session) {
        self.public_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&session.public_id);
    }

    /// Turns a broadcast result into the caller's: packets refused because a client's
    /// buffer is full are counted and logged (the heartbeat then closes that client, as its
    /// ping cannot be queued either); the others did get the packet.
    pub(crate) fn delivered(&self, sent: Result<(), BroadcastError>) -> Result<(), IoError> {
        match sent {
            Ok(()) => Ok(()),
            Err(BroadcastError::Socket(errors)) => {
                let full = errors
                    .iter()
                    .filter(|e| matches!(e, SocketError::InternalChannelFull))
                    .count();
                if full > 0 {
                    self.counters
                        .buffer_full
                        .fetch_add(full as u64, Ordering::Relaxed);
                    metrics::counter!("strapi_io_buffer_full_total").increment(full as u64);
                    tracing::warn!(
                        clients = full,
                        "client buffer full: packet not queued, the client is closed at its next heartbeat"
                    );
                }
                Ok(())
            }
            Err(e) => Err(IoError::Transport(e.to_string())),
        }
    }

    /// Accounts for a packet sent to one socket. One that could not be queued because the
    /// socket's buffer is full is counted and logged like in [`Shared::delivered`], and — as
    /// the socket has now missed a packet — the socket is disconnected with the reason
    /// `Buffer full` (once its queue has room for the disconnect). A closed socket is simply
    /// gone.
    pub(crate) fn sent_to_one(
        &self,
        socket: &SocketRef,
        sent: Result<(), socketioxide::SendError>,
    ) {
        if let Err(socketioxide::SendError::Socket(SocketError::InternalChannelFull)) = sent {
            self.counters.buffer_full.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("strapi_io_buffer_full_total").increment(1);
            tracing::warn!(
                socket = %socket.id,
                "client buffer full: packet not queued, disconnecting the client"
            );
            disconnect_with_reason(socket, BUFFER_FULL);
        }
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

    /// Answers a client event through its ack, accounted as in [`Shared::sent_to_one`].
    pub(crate) fn answer<T: serde::Serialize + ?Sized>(
        &self,
        socket: &SocketRef,
        ack: AckSender,
        reply: &T,
    ) {
        self.sent_to_one(socket, ack.send(reply));
    }

    /// Records a sent event in the stats, the event log and the metrics.
    pub(crate) fn record(
        &self,
        event: &str,
        kind: &'static str,
        audiences: usize,
        targets: Vec<String>,
        started: std::time::Instant,
    ) {
        let settings = self.settings();
        let log_size = if settings.monitoring.enable_event_logging {
            settings.monitoring.max_event_log_size as usize
        } else {
            0
        };
        self.monitor
            .record(event, kind, audiences, targets, started.elapsed(), log_size);
    }

    /// A connected socket and its session.
    pub(crate) fn socket_session(&self, sid: &str) -> Option<(SocketRef, Arc<Session>)> {
        let socket = self.socket(sid)?;
        let session = Self::session(&socket)?;
        Some((socket, session))
    }

    fn sanitizer<'a>(&'a self, settings: &'a Settings) -> Sanitizer<'a> {
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

    /// The subscription checks of SPEC §4, in order, then the join.
    pub(crate) async fn subscribe(
        &self,
        member: &Member,
        uid: Option<&Value>,
        id: Option<&Value>,
    ) -> EntitySubscriptionResult {
        let settings = self.settings();
        let subs = &settings.entity_subscriptions;
        if !subs.enabled {
            return EntitySubscriptionResult::err("Entity subscriptions are disabled");
        }
        let (uid, id, id_str) = match entity_args(uid, id) {
            Ok(args) => args,
            Err(refusal) => return refusal,
        };
        if !subs.allowed_content_types.is_empty()
            && !subs.allowed_content_types.iter().any(|a| a == uid)
        {
            return EntitySubscriptionResult::err(
                "Content type not allowed for entity subscriptions",
            );
        }
        let room = entity_room(uid, &id_str);
        let max = subs.max_subscriptions_per_socket as usize;
        let too_many = || {
            EntitySubscriptionResult::err(format!(
                "Maximum subscriptions ({}) reached",
                subs.max_subscriptions_per_socket
            ))
        };
        if member.rooms.contains(&room) {
            return EntitySubscriptionResult::ok(room, uid, id);
        }
        if count_subscriptions(member.rooms.iter()) >= max {
            return too_many();
        }
        let Some(ct) = self.schemas.content_type(uid) else {
            return EntitySubscriptionResult::err("Content type not found");
        };
        if !member.audience.can_read(uid) {
            return EntitySubscriptionResult::err(
                "Permission denied: no access to this content type",
            );
        }
        if subs.require_verification {
            let drafts = subs.draft_audiences.contains(&member.audience.room);
            match self.directory.entity_exists(ct, &id_str, drafts).await {
                Ok(true) => {}
                Ok(false) => return EntitySubscriptionResult::err("Entity not found"),
                Err(e) => {
                    tracing::warn!(%uid, id = %id_str, error = %e, "entity lookup failed");
                    return EntitySubscriptionResult::err("Entity verification unavailable");
                }
            }
        }
        let scoped = scoped_entity_room(&member.audience.room, &room);
        match &member.at {
            Located::Here(socket) => {
                // Checked again: the socket may have subscribed (or moved) meanwhile.
                let _guard = self.subscribing.lock().unwrap_or_else(|e| e.into_inner());
                let scoped = match Self::session(socket) {
                    Some(session) => scoped_entity_room(&session.audience().room, &room),
                    None => scoped,
                };
                let rooms: Vec<String> =
                    socket.rooms().into_iter().map(|r| r.to_string()).collect();
                if !rooms.contains(&room) {
                    if count_subscriptions(rooms.iter()) >= max {
                        return too_many();
                    }
                    socket.join([room.clone(), scoped.clone()]);
                    if !self.clustered() {
                        self.occupy(&scoped);
                    }
                }
            }
            Located::There(r) => {
                if let Err(e) = r.join([room.clone(), scoped]).await {
                    return EntitySubscriptionResult::err(
                        self.cluster_error("subscribing a socket", e).to_string(),
                    );
                }
            }
        }
        EntitySubscriptionResult::ok(room, uid, id)
    }

    /// Leaves an entity's rooms.
    pub(crate) async fn unsubscribe(
        &self,
        member: &Member,
        uid: Option<&Value>,
        id: Option<&Value>,
    ) -> EntitySubscriptionResult {
        let (uid, id, id_str) = match entity_args(uid, id) {
            Ok(args) => args,
            Err(refusal) => return refusal,
        };
        let room = entity_room(uid, &id_str);
        let scoped = scoped_entity_room(&member.audience.room, &room);
        match &member.at {
            Located::Here(socket) => {
                let _guard = self.subscribing.lock().unwrap_or_else(|e| e.into_inner());
                let scoped = match Self::session(socket) {
                    Some(session) => scoped_entity_room(&session.audience().room, &room),
                    None => scoped,
                };
                if socket.rooms().iter().any(|r| **r == *room) {
                    socket.leave([room.clone(), scoped.clone()]);
                    if !self.clustered() {
                        self.vacate(&scoped);
                    }
                }
            }
            Located::There(r) => {
                if let Err(e) = r.leave([room.clone(), scoped]).await {
                    return EntitySubscriptionResult::err(
                        self.cluster_error("unsubscribing a socket", e).to_string(),
                    );
                }
            }
        }
        EntitySubscriptionResult::ok(room, uid, id)
    }
}

/// The `uid` and `id` of a (un)subscription, checked: the uid, the id as given, the id as a
/// room suffix; or the refusal to answer.
fn entity_args<'a>(
    uid: Option<&'a Value>,
    id: Option<&'a Value>,
) -> Result<(&'a str, &'a Value, String), EntitySubscriptionResult> {
    let (Some(uid), Some(id)) = (uid.filter(|v| !v.is_null()), id.filter(|v| !v.is_null())) else {
        return Err(EntitySubscriptionResult::err(
            "Invalid parameters: uid and id are required",
        ));
    };
    let Some(uid) = uid.as_str().filter(|u| is_valid_uid(u)) else {
        return Err(EntitySubscriptionResult::err(
            "Invalid content type uid format",
        ));
    };
    let Some(id_str) = entity_id(id) else {
        return Err(EntitySubscriptionResult::err("Invalid entity id"));
    };
    Ok((uid, id, id_str))
}

/// Where a socket is connected.
pub(crate) enum Located {
    /// On this node.
    Here(SocketRef),
    /// On another node of the cluster.
    There(RemoteSocket<ClusterAdapter>),
}

/// A located socket with its audience and rooms.
pub(crate) struct Member {
    pub(crate) audience: Arc<Audience>,
    pub(crate) rooms: Vec<String>,
    pub(crate) at: Located,
}

impl Member {
    /// A socket of this node.
    pub(crate) fn here(socket: &SocketRef, session: &Session) -> Self {
        Member {
            audience: session.audience(),
            rooms: socket.rooms().into_iter().map(|r| r.to_string()).collect(),
            at: Located::Here(socket.clone()),
        }
    }
}

/// What a socket's info room carries across the cluster.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct RemoteWho {
    pub(crate) id: String,
    pub(crate) user: Option<UserInfo>,
    pub(crate) role: String,
}

/// A socket of `/` on this node by transport id.
fn root_socket(sio: &SocketIo, sid: Sid) -> Option<SocketRef> {
    sio.of("/")?.get_socket(sid)
}

/// How many entity rooms are among `rooms`.
fn count_subscriptions<'a>(rooms: impl Iterator<Item = &'a String>) -> usize {
    rooms.filter(|r| parse_entity_room(r).is_some()).count()
}

/// The entity subscriptions a socket's rooms say it has, by room.
pub(crate) fn subscriptions_in<'a>(
    rooms: impl Iterator<Item = &'a str>,
) -> Vec<EntitySubscription> {
    let mut subs: Vec<EntitySubscription> = rooms
        .filter_map(|room| {
            let (uid, id) = parse_entity_room(room)?;
            let id = match id.parse::<u64>() {
                Ok(n) if !id.starts_with('0') || id == "0" => Value::from(n),
                _ => Value::String(id.to_string()),
            };
            Some(EntitySubscription {
                uid: uid.to_string(),
                id,
                room: room.to_string(),
            })
        })
        .collect();
    subs.sort_by(|a, b| a.room.cmp(&b.room));
    subs
}

/// Rooms as users see them: the socket's own id and the server's internal rooms (those
/// with `#`) left out, sorted.
fn visible(rooms: impl Iterator<Item = String>, own: &str) -> Vec<String> {
    let mut rooms: Vec<String> = rooms.filter(|r| r != own && !r.contains('#')).collect();
    rooms.sort();
    rooms
}

/// How long a socket told to go has to receive the reason before it is disconnected.
///
/// socketioxide closes the whole connection when a packet arrives for a socket that is
/// already gone, dropping what was still queued; a client busy sending would then never see
/// the reason. The pause lets the queue flush first; the socket's own events are ignored
/// meanwhile.
const DISCONNECT_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// The reason given to a socket that missed a packet because its buffer was full.
pub(crate) const BUFFER_FULL: &str = "Buffer full";

/// How long a disconnect waits for room in a full buffer before leaving the connection to
/// the stalled-write guard and the heartbeat.
const DISCONNECT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Tells a socket why (`server-disconnect { reason }`), then disconnects it shortly after
/// (retrying while its buffer is full). Returns `false` when the socket was already on its
/// way out.
pub(crate) fn disconnect_with_reason(socket: &SocketRef, reason: &str) -> bool {
    if let Some(session) = Shared::session(socket)
        && session.closing.swap(true, Ordering::AcqRel)
    {
        return false;
    }
    let _ = socket.emit(
        DISCONNECT_REASON_EVENT,
        &serde_json::json!({ "reason": reason }),
    );
    let socket = socket.clone();
    let reason = reason.to_string();
    tokio::spawn(async move {
        let id = socket.id;
        let mut waited = std::time::Duration::ZERO;
        loop {
            tokio::time::sleep(DISCONNECT_GRACE).await;
            waited += DISCONNECT_GRACE;
            match socket.clone().disconnect() {
                Err(SocketError::InternalChannelFull) if waited < DISCONNECT_PATIENCE => {}
                Err(SocketError::InternalChannelFull) => {
                    tracing::warn!(socket = %id, reason, "could not queue the disconnect (buffer full); the connection closes when its writes stall");
                    return;
                }
                _ => return,
            }
        }
    });
    true
}

/// A socket's rooms as users see them (see [`visible`]).
pub(crate) fn visible_rooms(socket: &SocketRef) -> Vec<String> {
    let own = socket.id.to_string();
    visible(socket.rooms().into_iter().map(|r| r.to_string()), &own)
}

/// An entity id as a room suffix: a non-negative integer, or a string of
/// `[A-Za-z0-9_-]` of 1..=64 characters.
pub(crate) fn entity_id(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s)
            if !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Some(s.clone())
        }
        _ => None,
    }
}

fn check_event_name(event: &str) -> Result<(), IoError> {
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

fn skip_reason(s: Skip) -> &'static str {
    match s {
        Skip::NoData => "no data",
        Skip::NotEnabled => "content type not enabled for this action",
        Skip::Draft => "draft entry while onlyPublished is on",
        Skip::Disabled => "events are disabled",
    }
}

/// The Rust `strapi.$io`: cheap to clone, shareable across tasks.
#[derive(Clone)]
pub struct Io {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("namespaces", &self.shared.namespaces)
            .finish_non_exhaustive()
    }
}

impl Io {
    /// Sends a content event to every audience routed for it and to the entry's entity
    /// subscribers, each socket once, sanitized for its own audience (SPEC §3).
    pub async fn emit(&self, opts: EmitOptions) -> Result<EmitReport, IoError> {
        self.emit_with_ids(opts, &[]).await
    }

    /// [`Io::emit`], also reaching the subscribers of `other_ids`: other rows of the same
    /// document (Strapi keeps a draft and a published row under one `documentId`).
    pub async fn emit_with_ids(
        &self,
        opts: EmitOptions,
        other_ids: &[String],
    ) -> Result<EmitReport, IoError> {
        let started = std::time::Instant::now();
        let shared = &self.shared;
        let settings = shared.settings();
        let ct = shared.schemas.resolve(&opts.schema).ok_or_else(|| {
            IoError::UnknownContentType(match &opts.schema {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })?;
        let action = opts.event.as_str();
        check_event_name(action)?;
        let gate = if settings.enabled {
            shared
                .rules
                .check(ct, action, &opts.data, settings.events.only_published)
        } else {
            Err(Skip::Disabled)
        };
        if let Err(skip) = gate {
            return Ok(EmitReport {
                event: None,
                audiences: 0,
                skipped: Some(skip_reason(skip)),
                cluster_error: None,
            });
        }
        let event = shared.rules.event_name(ct, action);
        let mut ids = entry_ids(&opts.data);
        for id in other_ids {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        let entity_rooms: Vec<String> = ids.iter().map(|id| entity_room(&ct.uid, id)).collect();
        let is_delete = action == "delete";
        let deleted = is_delete.then(|| delete_entry(&opts.data));
        let sanitizer = shared.sanitizer(&settings);
        let clustered = shared.clustered();
        let mut reached = 0;
        let mut undeclared = std::collections::BTreeSet::new();
        let mut cluster_error = None;
        for audience in shared.directory.audiences().iter() {
            let routed = audience.routed(&ct.uid, action, &settings.role_permissions);
            let rooms: Vec<String> = if routed {
                vec![audience.room.clone()]
            } else if audience.can_read(&ct.uid) && !entity_rooms.is_empty() {
                entity_rooms
                    .iter()
                    .map(|r| scoped_entity_room(&audience.room, r))
                    .collect()
            } else {
                continue;
            };
            // Standalone, audiences nobody here belongs to are skipped; a cluster node cannot
            // know who is connected elsewhere.
            if !clustered && !shared.occupied(&rooms) {
                continue;
            }
            let entry = match &deleted {
                Some(d) => d.clone(),
                None => sanitizer.entry_reporting(&ct.uid, &opts.data, audience, &mut |o, k| {
                    undeclared.insert((o.to_string(), k.to_string()));
                }),
            };
            let mut payload = to_wire(settings.events.format, &shared.schemas, &ct.uid, entry);
            if let (Some(action), Some(meta)) = (
                opts.meta.action,
                payload.get_mut("meta").and_then(Value::as_object_mut),
            ) {
                meta.insert(
                    "action".into(),
                    serde_json::to_value(action).unwrap_or_default(),
                );
            }
            if let Some(e) = shared
                .send("/", |op| op.to(rooms.clone()), &event, &payload)
                .await?
            {
                cluster_error = Some(e);
            }
            reached += 1;
        }
        shared.undeclared(undeclared);
        shared.record(&event, "emit", reached, Vec::new(), started);
        Ok(EmitReport {
            event: Some(event),
            audiences: reached,
            skipped: None,
            cluster_error,
        })
    }

    /// Sends `data` as given (sensitive keys stripped) to the listed rooms, or to every
    /// socket of `/`.
    pub async fn raw(&self, opts: RawOptions) -> Result<(), IoError> {
        let started = std::time::Instant::now();
        let data = self.shared.prepare_raw(&opts.event, &opts.data)?;
        let rooms = opts.rooms.filter(|r| !r.is_empty());
        let to = rooms.clone().unwrap_or_default();
        self.shared
            .send(
                "/",
                |op| if to.is_empty() { op } else { op.to(to.clone()) },
                &opts.event,
                &data,
            )
            .await?;
        self.shared
            .record(&opts.event, "raw", 1, rooms.unwrap_or_default(), started);
        Ok(())
    }

    /// Adds a socket to a room (on whichever node it is connected); `false` when no such
    /// socket is connected.
    pub async fn join_room(&self, socket_id: &str, room: &str) -> Result<bool, IoError> {
        match self.shared.locate(socket_id).await? {
            Some(Located::Here(s)) => {
                s.join(room.to_string());
                Ok(true)
            }
            Some(Located::There(r)) => {
                r.join(room.to_string())
                    .await
                    .map_err(|e| self.shared.cluster_error("joinRoom", e))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Removes a socket from a room (on whichever node it is connected); `false` when no
    /// such socket is connected.
    pub async fn leave_room(&self, socket_id: &str, room: &str) -> Result<bool, IoError> {
        match self.shared.locate(socket_id).await? {
            Some(Located::Here(s)) => {
                s.leave(room.to_string());
                Ok(true)
            }
            Some(Located::There(r)) => {
                r.leave(room.to_string())
                    .await
                    .map_err(|e| self.shared.cluster_error("leaveRoom", e))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The sockets of `/` in a room, on every node, with their user, role and rooms.
    pub async fn sockets_in_room(&self, room: &str) -> Result<Vec<SocketInfo>, IoError> {
        self.shared.sockets_in(room).await
    }

    /// Sends an event to one socket, wherever it is connected (nothing when it is not).
    pub async fn send_private_message(
        &self,
        socket_id: &str,
        event: &str,
        data: &Value,
    ) -> Result<(), IoError> {
        let started = std::time::Instant::now();
        let data = self.shared.prepare_raw(event, data)?;
        match self.shared.locate(socket_id).await? {
            Some(Located::Here(s)) => self.shared.sent_to_one(&s, s.emit(event, &data)),
            Some(Located::There(r)) => r
                .emit(event, &data)
                .await
                .map_err(|e| self.shared.cluster_error("sendPrivateMessage", e))?,
            None => return Ok(()),
        }
        self.shared
            .record(event, "private", 1, vec![socket_id.to_string()], started);
        Ok(())
    }

    /// Sends an event to every socket of `/` (on every node) except `socket_id`.
    pub async fn broadcast(
        &self,
        socket_id: &str,
        event: &str,
        data: &Value,
    ) -> Result<(), IoError> {
        let data = self.shared.prepare_raw(event, data)?;
        let started = std::time::Instant::now();
        // Every socket is in the room named by its transport id.
        let sender = match self.shared.locate(socket_id).await? {
            Some(Located::Here(s)) => s.id.to_string(),
            Some(Located::There(r)) => r.data().id.to_string(),
            None => socket_id.to_string(),
        };
        self.shared
            .send("/", |op| op.except(sender.clone()), event, &data)
            .await?;
        self.shared
            .record(event, "broadcast", 1, Vec::new(), started);
        Ok(())
    }

    /// Sends an event to every socket of a namespace (`admin` or `/admin`) on every node.
    pub async fn emit_to_namespace(
        &self,
        namespace: &str,
        event: &str,
        data: &Value,
    ) -> Result<(), IoError> {
        let data = self.shared.prepare_raw(event, data)?;
        let path = if namespace.starts_with('/') {
            namespace.to_string()
        } else {
            format!("/{namespace}")
        };
        if !self.shared.namespaces.contains(&path) {
            return Err(IoError::UnknownNamespace(namespace.to_string()));
        }
        let started = std::time::Instant::now();
        self.shared.send(&path, |op| op, event, &data).await?;
        self.shared
            .record(event, "namespace", 1, vec![path], started);
        Ok(())
    }

    /// Disconnects a socket (on whichever node it is connected), telling it why first
    /// (`server-disconnect { reason }`). `false` when no such socket is connected.
    pub async fn disconnect_socket(
        &self,
        socket_id: &str,
        reason: Option<&str>,
    ) -> Result<bool, IoError> {
        let reason = reason.unwrap_or("Disconnected by server");
        match self.shared.locate(socket_id).await? {
            Some(Located::Here(s)) => {
                disconnect_with_reason(&s, reason);
                Ok(true)
            }
            Some(Located::There(r)) => {
                r.emit(
                    DISCONNECT_REASON_EVENT,
                    &serde_json::json!({ "reason": reason }),
                )
                .await
                .map_err(|e| self.shared.cluster_error("disconnectSocket", e))?;
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(DISCONNECT_GRACE).await;
                    if let Err(e) = r.disconnect().await {
                        shared.cluster_error("disconnectSocket", e);
                    }
                });
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The socket's audience and rooms, or the result to answer instead.
    async fn member_of(&self, socket_id: &str) -> Result<Member, String> {
        match self.shared.locate(socket_id).await {
            Ok(Some(at)) => self.shared.member(at).await.map_err(|e| e.to_string()),
            Ok(None) => Err("Socket not found".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Subscribes a socket (on whichever node it is connected) to an entity, with the same
    /// checks as the client's `subscribe-entity`.
    pub async fn subscribe_to_entity(
        &self,
        socket_id: &str,
        uid: &str,
        id: &Value,
    ) -> EntitySubscriptionResult {
        let member = match self.member_of(socket_id).await {
            Ok(m) => m,
            Err(e) => return EntitySubscriptionResult::err(e),
        };
        let uid = Value::String(uid.to_string());
        self.shared.subscribe(&member, Some(&uid), Some(id)).await
    }

    /// Unsubscribes a socket (on whichever node it is connected) from an entity.
    pub async fn unsubscribe_from_entity(
        &self,
        socket_id: &str,
        uid: &str,
        id: &Value,
    ) -> EntitySubscriptionResult {
        let member = match self.member_of(socket_id).await {
            Ok(m) => m,
            Err(e) => return EntitySubscriptionResult::err(e),
        };
        let uid = Value::String(uid.to_string());
        self.shared.unsubscribe(&member, Some(&uid), Some(id)).await
    }

    /// A socket's entity subscriptions (on whichever node it is connected).
    pub async fn entity_subscriptions(&self, socket_id: &str) -> EntitySubscriptions {
        match self.member_of(socket_id).await {
            Ok(member) => EntitySubscriptions {
                success: true,
                subscriptions: Some(subscriptions_in(member.rooms.iter().map(String::as_str))),
                error: None,
            },
            Err(e) => EntitySubscriptions {
                success: false,
                subscriptions: None,
                error: Some(e),
            },
        }
    }

    /// Sends an event to an entity's subscribers on every node (sensitive keys stripped).
    pub async fn emit_to_entity(
        &self,
        uid: &str,
        id: &Value,
        event: &str,
        data: &Value,
    ) -> Result<(), IoError> {
        let data = self.shared.prepare_raw(event, data)?;
        let id = entity_id(id).ok_or_else(|| IoError::InvalidEvent(format!("entity id {id}")))?;
        let started = std::time::Instant::now();
        let room = entity_room(uid, &id);
        self.shared
            .send("/", |op| op.to(room.clone()), event, &data)
            .await?;
        self.shared.record(event, "entity", 1, vec![room], started);
        Ok(())
    }

    /// The sockets subscribed to an entity on every node, with their user.
    pub async fn entity_room_sockets(
        &self,
        uid: &str,
        id: &Value,
    ) -> Result<Vec<EntitySocket>, IoError> {
        let Some(id) = entity_id(id) else {
            return Ok(Vec::new());
        };
        Ok(self
            .sockets_in_room(&entity_room(uid, &id))
            .await?
            .into_iter()
            .map(|s| EntitySocket {
                id: s.id,
                user: s.user,
            })
            .collect())
    }

    /// The socketioxide server, for everything the `$io` API does not cover.
    pub fn server(&self) -> &SocketIo {
        &self.shared.sio
    }

    /// The served namespaces, `/` first.
    pub fn namespaces(&self) -> &[String] {
        &self.shared.namespaces
    }

    /// Number of connected sockets (all namespaces).
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::Acquire)
    }

    /// The live settings.
    pub fn settings(&self) -> Settings {
        self.shared.settings().settings.clone()
    }

    /// Reads the live settings without copying them.
    pub fn with_settings<R>(&self, f: impl FnOnce(&Settings) -> R) -> R {
        f(&self.shared.settings().settings)
    }

    /// Replaces the live settings: the next handshake and the next event follow them, and
    /// connected sockets that would now be refused (IP lists, `requireAuthentication`,
    /// `canConnect`, namespace `requireAuth`) are disconnected with the refusal as reason.
    /// Returns how many were disconnected. Heartbeat timings, namespaces and the Redis
    /// adapter are fixed at start.
    pub fn apply_settings(&self, settings: Settings) -> Result<usize, Vec<String>> {
        settings.check()?;
        let live = Arc::new(Live::new(settings));
        *self
            .shared
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner()) = live.clone();
        let mut dropped = 0;
        for ns in &self.shared.namespaces {
            let Some(op) = self.shared.sio.of(ns.as_str()) else {
                continue;
            };
            for socket in op.sockets() {
                let Some(session) = Shared::session(&socket) else {
                    continue;
                };
                if let Err(reason) = crate::connection::still_allowed(&live, &session, ns) {
                    disconnect_with_reason(&socket, &reason.to_string());
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            tracing::info!(
                dropped,
                "settings changed: disconnected sockets no longer allowed"
            );
        }
        Ok(dropped)
    }

    /// Events sent: total, by name, per second over a sliding window.
    pub fn event_stats(&self) -> EventStats {
        self.shared.monitor.stats()
    }

    /// The newest `limit` entries of the event log, newest first.
    pub fn event_log(&self, limit: usize) -> Vec<EventLogEntry> {
        self.shared.monitor.log(limit)
    }

    /// Zeroes the event statistics, the event log and the counters.
    pub fn reset_stats(&self) {
        self.shared.monitor.reset();
        let c = &self.shared.counters;
        for a in [
            &c.buffer_full,
            &c.rate_limited,
            &c.flood_disconnects,
            &c.heartbeat_disconnects,
            &c.refused_handshakes,
            &c.stalled_writes,
            &c.foreign_session_requests,
            &c.cluster_errors,
            &c.ambiguous_requests,
            &c.refused_connections,
            &c.timed_out_requests,
            &c.undeclared_keys,
            &c.rechecks,
            &c.revoked,
            &c.moves,
            &c.dropped_subscriptions,
            &c.expired_disconnects,
            &c.refreshes,
            &c.refused_refreshes,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }

    /// How long the server has been up.
    pub fn uptime(&self) -> std::time::Duration {
        self.shared.monitor.uptime()
    }

    /// Every audience of the directory.
    pub fn audiences(&self) -> Arc<Vec<Arc<Audience>>> {
        self.shared.directory.audiences()
    }

    /// Connected sockets of every namespace, with their info (at most `limit`), the number
    /// of sockets per audience room, and entity subscriptions per content type.
    pub fn connections(&self, limit: usize) -> ConnectionsReport {
        let mut report = ConnectionsReport::default();
        for ns in &self.shared.namespaces {
            let Some(op) = self.shared.sio.of(ns.as_str()) else {
                continue;
            };
            for s in op.sockets() {
                let Some(session) = Shared::session(&s) else {
                    continue;
                };
                report.total += 1;
                *report
                    .by_audience
                    .entry(session.audience().room.clone())
                    .or_default() += 1;
                for room in s.rooms() {
                    if let Some((uid, _)) = parse_entity_room(&room) {
                        *report
                            .entity_subscriptions
                            .entry(uid.to_string())
                            .or_default() += 1;
                    }
                }
                if report.sockets.len() < limit {
                    report.sockets.push(SocketInfo {
                        id: session.public_id.clone(),
                        user: session.user(),
                        role: session.audience().role_label().to_string(),
                        rooms: visible_rooms(&s),
                    });
                }
            }
        }
        report
    }

    /// Counters of connections and of what went wrong for clients.
    pub fn stats(&self) -> IoStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IoStats {
            connections: self.connection_count(),
            buffer_full: get(&c.buffer_full),
            rate_limited: get(&c.rate_limited),
            flood_disconnects: get(&c.flood_disconnects),
            heartbeat_disconnects: get(&c.heartbeat_disconnects),
            refused_handshakes: get(&c.refused_handshakes),
            slow_consumer_disconnects: get(&c.stalled_writes),
            foreign_session_requests: get(&c.foreign_session_requests),
            cluster_errors: get(&c.cluster_errors),
            ambiguous_requests: get(&c.ambiguous_requests),
            pending_connections: self.shared.pending.count(),
            refused_connections: get(&c.refused_connections),
            timed_out_requests: get(&c.timed_out_requests),
            undeclared_keys: get(&c.undeclared_keys),
            access_rechecks: get(&c.rechecks),
            access_revoked: get(&c.revoked),
            audience_moves: get(&c.moves),
            dropped_subscriptions: get(&c.dropped_subscriptions),
            token_expired_disconnects: get(&c.expired_disconnects),
            token_refreshes: get(&c.refreshes),
            refused_token_refreshes: get(&c.refused_refreshes),
            expiring_sockets: self.shared.deadlines.len(),
        }
    }

    /// The state of the Redis link (cluster mode off when `redis.enabled` is false).
    pub fn cluster_status(&self) -> crate::cluster::ClusterStatus {
        self.shared.link.status()
    }

    /// The cluster as this node sees it: the live nodes with their connections (from each
    /// node's heartbeat, every 2 s) and the total. Standalone, this node alone.
    pub async fn cluster(&self) -> crate::cluster::ClusterReport {
        let this = self.shared.sio.config().server_id.to_string();
        let mut nodes = vec![crate::cluster::NodeStats {
            id: this.clone(),
            connections: self.connection_count(),
            updated_at: crate::directory::unix_millis(),
            this: true,
        }];
        if self.shared.clustered()
            && let Ok(lines) = self.shared.link.hgetall(crate::cluster::NODES_KEY).await
        {
            let now = crate::directory::unix_millis();
            let stale = crate::cluster::NODE_STALE_AFTER.as_millis() as i64;
            let mut gone = Vec::new();
            for (id, line) in lines {
                match serde_json::from_str::<crate::cluster::NodeStats>(&line) {
                    Ok(n) if id != this && now.saturating_sub(n.updated_at) <= stale => {
                        nodes.push(n)
                    }
                    Ok(_) if id == this => {}
                    _ => gone.push(id),
                }
            }
            // Nodes that stopped without saying so: their lines are dropped.
            let _ = self
                .shared
                .link
                .hdel(crate::cluster::NODES_KEY, &gone)
                .await;
        }
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        crate::cluster::ClusterReport {
            status: self.shared.link.status(),
            connections: nodes.iter().map(|n| n.connections).sum(),
            nodes,
        }
    }

    /// Publishes `settings` to the other nodes of the cluster and stores them as the
    /// cluster's current settings (no-op standalone).
    pub async fn share_settings(&self, settings: &Settings) -> Result<(), IoError> {
        if !self.shared.clustered() {
            return Ok(());
        }
        let doc = serde_json::to_value(settings).unwrap_or(Value::Null);
        let text = doc.to_string();
        let message = serde_json::to_vec(&crate::cluster::SharedSettings {
            origin: self.shared.sio.config().server_id.to_string(),
            settings: doc,
        })
        .unwrap_or_default();
        let link = &self.shared.link;
        link.set(crate::cluster::SETTINGS_KEY, &text)
            .await
            .map_err(|e| self.shared.cluster_error("sharing settings", e))?;
        link.publish_on(crate::cluster::SETTINGS_KEY, message)
            .await
            .map_err(|e| self.shared.cluster_error("sharing settings", e))
    }

    /// The cluster's current settings, as the last node that changed them stored them;
    /// `None` standalone, when none were shared yet, when Redis cannot be reached, or when
    /// what Redis holds is not valid settings (logged).
    pub async fn cluster_settings(&self) -> Option<Settings> {
        if !self.shared.clustered() {
            return None;
        }
        let text = self
            .shared
            .link
            .get(crate::cluster::SETTINGS_KEY)
            .await
            .ok()??;
        let problems = match serde_json::from_str::<Value>(&text) {
            Ok(doc) => match Settings::from_document(&doc) {
                Ok(settings) => return Some(settings),
                Err(problems) => problems.iter().map(ToString::to_string).collect(),
            },
            Err(e) => vec![e.to_string()],
        };
        tracing::warn!(
            ?problems,
            "the cluster's stored settings are invalid; not adopted"
        );
        None
    }

    /// Settings other nodes share from now on (see [`Io::share_settings`]), each already
    /// validated; standalone, a stream that ends at once. The caller applies and stores them.
    pub async fn shared_settings(&self) -> tokio::sync::mpsc::Receiver<Settings> {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        if !self.shared.clustered() {
            return rx;
        }
        let mut stream = self
            .shared
            .link
            .subscribe_to(crate::cluster::SETTINGS_KEY)
            .await;
        let this = self.shared.sio.config().server_id.to_string();
        tokio::spawn(async move {
            while let Some((_, bytes)) = stream.next().await {
                let Ok(msg) = serde_json::from_slice::<crate::cluster::SharedSettings>(&bytes)
                else {
                    tracing::warn!("unreadable settings from another node, ignored");
                    continue;
                };
                if msg.origin == this {
                    continue;
                }
                match serde_json::from_value::<Settings>(msg.settings) {
                    Ok(s) if s.check().is_ok() => {
                        if tx.send(s).await.is_err() {
                            return;
                        }
                    }
                    _ => {
                        tracing::warn!(origin = %msg.origin, "invalid settings from another node, ignored")
                    }
                }
            }
        });
        rx
    }

    /// The loaded schemas.
    pub fn schemas(&self) -> &Schemas {
        &self.shared.schemas
    }

    /// Whether `emit` sends events of `action` for the content type `uid`.
    pub fn is_enabled(&self, uid: &str, action: &str) -> bool {
        self.shared
            .schemas
            .content_type(uid)
            .is_some_and(|ct| self.shared.rules.enabled(ct, action))
    }

    /// Tells every socket why (`server-disconnect { reason }`), then disconnects them all and
    /// closes the server.
    pub async fn close_with_reason(&self, reason: &str) {
        let body = serde_json::json!({ "reason": reason });
        for ns in &self.shared.namespaces {
            if let Some(op) = self.shared.sio.of(ns.as_str()) {
                let sent = op.local().emit(DISCONNECT_REASON_EVENT, &body).await;
                let _ = self.shared.delivered(sent);
            }
        }
        self.shared.sio.close().await;
    }
}
