//! [`Io`], the Rust `strapi.$io`: the emit pipeline and every method of the reference,
//! over the socketioxide server it owns.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SocketError, SocketIo};
use strapi_io_core::access::AccessRules;
use strapi_io_core::events::{ContentTypeRules, Skip, entry_ids};
use strapi_io_core::format::{delete_entry, to_wire};
use strapi_io_core::rooms::{entity_room, is_valid_uid, scoped_entity_room};
use strapi_io_core::sanitize::{Sanitizer, SensitiveFields};
use strapi_io_core::{Audience, Schemas, Settings};

use crate::directory::{Directory, UserInfo};
use crate::errors::IoError;
use crate::guard::GuardedListener;
use crate::handlers::{ConnectHook, EventHandler};
use crate::limits::EventLimiter;
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

/// Per-socket state, kept in the socket's extensions.
pub(crate) struct Session {
    /// The audience the socket belongs to.
    pub(crate) audience: Arc<Audience>,
    /// The user, for JWT sockets.
    pub(crate) user: Option<UserInfo>,
    /// Entity subscriptions: entity room → (uid, id as given).
    pub(crate) subscriptions: Mutex<BTreeMap<String, (String, Value)>>,
    /// The per-socket rate limit and the rate it was built for, when enabled; rebuilt when
    /// the settings change.
    pub(crate) limiter: Mutex<Option<(u32, EventLimiter)>>,
    /// The client's address, when known (for re-checking the IP lists).
    pub(crate) ip: Option<std::net::IpAddr>,
    /// Whether the socket connected without credentials.
    pub(crate) anonymous: bool,
    /// The id shown to everyone but the socket's own transport (see `Shared::public_ids`).
    pub(crate) public_id: String,
    /// Set once the server has decided to disconnect the socket: its further events are
    /// dropped and it is disconnected once.
    pub(crate) closing: std::sync::atomic::AtomicBool,
    /// Holds the socket's place in `maxConnections`; released when the socket is dropped.
    pub(crate) _slot: ConnectionSlot,
}

/// One counted connection; dropping it frees the place.
pub(crate) struct ConnectionSlot(Arc<AtomicUsize>);

impl ConnectionSlot {
    /// Takes a place if fewer than `max` are taken; exact under concurrent handshakes.
    pub(crate) fn acquire(counter: &Arc<AtomicUsize>, max: u64) -> Option<Self> {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionSlot(counter.clone()))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

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
    pub(crate) schemas: Arc<Schemas>,
    pub(crate) rules: ContentTypeRules,
    pub(crate) settings: RwLock<Arc<Live>>,
    pub(crate) sensitive: SensitiveFields,
    pub(crate) directory: Arc<dyn Directory>,
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
    /// Events sent, for stats and the event log.
    pub(crate) monitor: Monitor,
    /// Public socket id → (namespace, transport id). socketioxide uses the Engine.IO session
    /// id as the socket id, and whoever knows it can drive a long-polling session; the server
    /// shows other parties a separate random id instead, as Socket.IO itself does.
    pub(crate) public_ids: Mutex<std::collections::HashMap<String, (String, Sid)>>,
    /// Local members of each audience room and audience-scoped entity room, so that an emit
    /// skips audiences nobody here belongs to (no sanitizing, no serializing for them).
    pub(crate) occupancy: Mutex<std::collections::HashMap<String, usize>>,
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

    /// Accounts for a packet sent to one socket: a full buffer is counted and logged like
    /// in [`Shared::delivered`]; a closed socket is simply gone.
    pub(crate) fn sent_to_one(&self, sent: Result<(), socketioxide::SendError>) {
        if let Err(socketioxide::SendError::Socket(SocketError::InternalChannelFull)) = sent {
            self.counters.buffer_full.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("strapi_io_buffer_full_total").increment(1);
            tracing::warn!(
                "client buffer full: packet not queued, the client is closed at its next heartbeat"
            );
        }
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
        socket: &SocketRef,
        session: &Session,
        uid: Option<&Value>,
        id: Option<&Value>,
    ) -> EntitySubscriptionResult {
        let settings = self.settings();
        let subs = &settings.entity_subscriptions;
        if !subs.enabled {
            return EntitySubscriptionResult::err("Entity subscriptions are disabled");
        }
        let (Some(uid), Some(id)) = (uid.filter(|v| !v.is_null()), id.filter(|v| !v.is_null()))
        else {
            return EntitySubscriptionResult::err("Invalid parameters: uid and id are required");
        };
        let Some(uid) = uid.as_str().filter(|u| is_valid_uid(u)) else {
            return EntitySubscriptionResult::err("Invalid content type uid format");
        };
        let Some(id_str) = entity_id(id) else {
            return EntitySubscriptionResult::err("Invalid entity id");
        };
        if !subs.allowed_content_types.is_empty()
            && !subs.allowed_content_types.iter().any(|a| a == uid)
        {
            return EntitySubscriptionResult::err(
                "Content type not allowed for entity subscriptions",
            );
        }
        let room = entity_room(uid, &id_str);
        {
            let current = session
                .subscriptions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if current.contains_key(&room) {
                return EntitySubscriptionResult::ok(room, uid, id);
            }
            if current.len() >= subs.max_subscriptions_per_socket as usize {
                return EntitySubscriptionResult::err(format!(
                    "Maximum subscriptions ({}) reached",
                    subs.max_subscriptions_per_socket
                ));
            }
        }
        let Some(ct) = self.schemas.content_type(uid) else {
            return EntitySubscriptionResult::err("Content type not found");
        };
        if !session.audience.can_read(uid) {
            return EntitySubscriptionResult::err(
                "Permission denied: no access to this content type",
            );
        }
        if subs.require_verification {
            let drafts = subs.draft_audiences.contains(&session.audience.room);
            match self.directory.entity_exists(ct, &id_str, drafts).await {
                Ok(true) => {}
                Ok(false) => return EntitySubscriptionResult::err("Entity not found"),
                Err(e) => {
                    tracing::warn!(%uid, id = %id_str, error = %e, "entity lookup failed");
                    return EntitySubscriptionResult::err("Entity verification unavailable");
                }
            }
        }
        let mut current = session
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !current.contains_key(&room) {
            if current.len() >= subs.max_subscriptions_per_socket as usize {
                return EntitySubscriptionResult::err(format!(
                    "Maximum subscriptions ({}) reached",
                    subs.max_subscriptions_per_socket
                ));
            }
            let scoped = scoped_entity_room(&session.audience.room, &room);
            socket.join([room.clone(), scoped.clone()]);
            self.occupy(&scoped);
            current.insert(room.clone(), (uid.to_string(), id.clone()));
        }
        EntitySubscriptionResult::ok(room, uid, id)
    }

    /// Leaves an entity's rooms.
    pub(crate) fn unsubscribe(
        &self,
        socket: &SocketRef,
        session: &Session,
        uid: Option<&Value>,
        id: Option<&Value>,
    ) -> EntitySubscriptionResult {
        let (Some(uid), Some(id)) = (uid.filter(|v| !v.is_null()), id.filter(|v| !v.is_null()))
        else {
            return EntitySubscriptionResult::err("Invalid parameters: uid and id are required");
        };
        let Some(uid) = uid.as_str().filter(|u| is_valid_uid(u)) else {
            return EntitySubscriptionResult::err("Invalid content type uid format");
        };
        let Some(id_str) = entity_id(id) else {
            return EntitySubscriptionResult::err("Invalid entity id");
        };
        let room = entity_room(uid, &id_str);
        let removed = session
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&room);
        if removed.is_some() {
            let scoped = scoped_entity_room(&session.audience.room, &room);
            socket.leave([room.clone(), scoped.clone()]);
            self.vacate(&scoped);
        }
        EntitySubscriptionResult::ok(room, uid, id)
    }

    pub(crate) fn subscriptions_of(session: &Session) -> Vec<EntitySubscription> {
        session
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(room, (uid, id))| EntitySubscription {
                uid: uid.clone(),
                id: id.clone(),
                room: room.clone(),
            })
            .collect()
    }
}

/// How long a socket told to go has to receive the reason before it is disconnected.
///
/// socketioxide closes the whole connection when a packet arrives for a socket that is
/// already gone, dropping what was still queued; a client busy sending would then never see
/// the reason. The pause lets the queue flush first; the socket's own events are ignored
/// meanwhile.
const DISCONNECT_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// Tells a socket why (`server-disconnect { reason }`), then disconnects it shortly after.
/// Returns `false` when the socket was already on its way out.
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
        tokio::time::sleep(DISCONNECT_GRACE).await;
        let id = socket.id;
        if socket.disconnect().is_err() {
            tracing::warn!(socket = %id, reason, "could not queue the disconnect (buffer full); the connection closes when its writes stall");
        }
    });
    true
}

/// A socket's rooms as users see them: its own id and the internal audience-scoped entity
/// rooms left out, sorted.
pub(crate) fn visible_rooms(socket: &SocketRef) -> Vec<String> {
    let own = socket.id.to_string();
    let mut rooms: Vec<String> = socket
        .rooms()
        .into_iter()
        .map(|r| r.to_string())
        .filter(|r| *r != own && !r.contains('#'))
        .collect();
    rooms.sort();
    rooms
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
        let root = shared
            .sio
            .of("/")
            .ok_or_else(|| IoError::UnknownNamespace("/".into()))?;
        let mut reached = 0;
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
            if !shared.occupied(&rooms) {
                continue;
            }
            let entry = match &deleted {
                Some(d) => d.clone(),
                None => sanitizer.entry(&ct.uid, &opts.data, audience),
            };
            let payload = to_wire(settings.events.format, &shared.schemas, &ct.uid, entry);
            shared.delivered(root.clone().to(rooms).emit(&event, &payload).await)?;
            reached += 1;
        }
        shared.record(&event, "emit", reached, Vec::new(), started);
        Ok(EmitReport {
            event: Some(event),
            audiences: reached,
            skipped: None,
        })
    }

    /// Sends `data` as given (sensitive keys stripped) to the listed rooms, or to every
    /// socket of `/`.
    pub async fn raw(&self, opts: RawOptions) -> Result<(), IoError> {
        let started = std::time::Instant::now();
        let data = self.shared.prepare_raw(&opts.event, &opts.data)?;
        let root = self
            .shared
            .sio
            .of("/")
            .ok_or_else(|| IoError::UnknownNamespace("/".into()))?;
        let rooms = opts.rooms.filter(|r| !r.is_empty());
        let sent = match &rooms {
            Some(rooms) => root.to(rooms.clone()).emit(&opts.event, &data).await,
            None => root.emit(&opts.event, &data).await,
        };
        self.shared.delivered(sent)?;
        self.shared
            .record(&opts.event, "raw", 1, rooms.unwrap_or_default(), started);
        Ok(())
    }

    /// Adds a socket to a room; `false` when the socket is not connected here.
    pub fn join_room(&self, socket_id: &str, room: &str) -> bool {
        match self.shared.socket(socket_id) {
            Some(s) => {
                s.join(room.to_string());
                true
            }
            None => false,
        }
    }

    /// Removes a socket from a room; `false` when the socket is not connected here.
    pub fn leave_room(&self, socket_id: &str, room: &str) -> bool {
        match self.shared.socket(socket_id) {
            Some(s) => {
                s.leave(room.to_string());
                true
            }
            None => false,
        }
    }

    /// The sockets of `/` in a room, with their user, role and rooms.
    pub async fn sockets_in_room(&self, room: &str) -> Vec<SocketInfo> {
        let Some(root) = self.shared.sio.of("/") else {
            return Vec::new();
        };
        root.to(room.to_string())
            .sockets()
            .into_iter()
            .filter_map(|s| {
                let session = Shared::session(&s)?;
                Some(SocketInfo {
                    id: session.public_id.clone(),
                    rooms: visible_rooms(&s),
                    user: session.user.clone(),
                    role: session.audience.role_label().to_string(),
                })
            })
            .collect()
    }

    /// Sends an event to one socket.
    pub async fn send_private_message(
        &self,
        socket_id: &str,
        event: &str,
        data: &Value,
    ) -> Result<(), IoError> {
        let started = std::time::Instant::now();
        let data = self.shared.prepare_raw(event, data)?;
        if let Some(s) = self.shared.socket(socket_id) {
            self.shared.sent_to_one(s.emit(event, &data));
            self.shared
                .record(event, "private", 1, vec![socket_id.to_string()], started);
        }
        Ok(())
    }

    /// Sends an event to every socket of `/` except `socket_id`.
    pub async fn broadcast(
        &self,
        socket_id: &str,
        event: &str,
        data: &Value,
    ) -> Result<(), IoError> {
        let data = self.shared.prepare_raw(event, data)?;
        let root = self
            .shared
            .sio
            .of("/")
            .ok_or_else(|| IoError::UnknownNamespace("/".into()))?;
        let started = std::time::Instant::now();
        // Every socket is in the room named by its transport id.
        let sender = self
            .shared
            .socket(socket_id)
            .map(|s| s.id.to_string())
            .unwrap_or_else(|| socket_id.to_string());
        let sent = root.except(sender).emit(event, &data).await;
        self.shared.delivered(sent)?;
        self.shared
            .record(event, "broadcast", 1, Vec::new(), started);
        Ok(())
    }

    /// Sends an event to every socket of a namespace (`admin` or `/admin`).
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
        let op = self
            .shared
            .sio
            .of(path.as_str())
            .ok_or_else(|| IoError::UnknownNamespace(path.clone()))?;
        let started = std::time::Instant::now();
        let sent = op.emit(event, &data).await;
        self.shared.delivered(sent)?;
        self.shared
            .record(event, "namespace", 1, vec![path], started);
        Ok(())
    }

    /// Disconnects a socket, telling it why first (`server-disconnect { reason }`).
    /// `false` when the socket is not connected here.
    pub fn disconnect_socket(&self, socket_id: &str, reason: Option<&str>) -> bool {
        match self.shared.socket(socket_id) {
            Some(s) => {
                let reason = reason.unwrap_or("Disconnected by server");
                disconnect_with_reason(&s, reason);
                true
            }
            None => false,
        }
    }

    /// Subscribes a socket to an entity, with the same checks as the client's `subscribe-entity`.
    pub async fn subscribe_to_entity(
        &self,
        socket_id: &str,
        uid: &str,
        id: &Value,
    ) -> EntitySubscriptionResult {
        let Some((socket, session)) = self.shared.socket_session(socket_id) else {
            return EntitySubscriptionResult::err("Socket not found");
        };
        let uid = Value::String(uid.to_string());
        self.shared
            .subscribe(&socket, &session, Some(&uid), Some(id))
            .await
    }

    /// Unsubscribes a socket from an entity.
    pub fn unsubscribe_from_entity(
        &self,
        socket_id: &str,
        uid: &str,
        id: &Value,
    ) -> EntitySubscriptionResult {
        let Some((socket, session)) = self.shared.socket_session(socket_id) else {
            return EntitySubscriptionResult::err("Socket not found");
        };
        let uid = Value::String(uid.to_string());
        self.shared
            .unsubscribe(&socket, &session, Some(&uid), Some(id))
    }

    /// A socket's entity subscriptions.
    pub fn entity_subscriptions(&self, socket_id: &str) -> EntitySubscriptions {
        match self
            .shared
            .socket(socket_id)
            .and_then(|s| Shared::session(&s))
        {
            Some(session) => EntitySubscriptions {
                success: true,
                subscriptions: Some(Shared::subscriptions_of(&session)),
                error: None,
            },
            None => EntitySubscriptions {
                success: false,
                subscriptions: None,
                error: Some("Socket not found".into()),
            },
        }
    }

    /// Sends an event to an entity's subscribers (sensitive keys stripped).
    pub async fn emit_to_entity(
        &self,
        uid: &str,
        id: &Value,
        event: &str,
        data: &Value,
    ) -> Result<(), IoError> {
        let data = self.shared.prepare_raw(event, data)?;
        let id = entity_id(id).ok_or_else(|| IoError::InvalidEvent(format!("entity id {id}")))?;
        let root = self
            .shared
            .sio
            .of("/")
            .ok_or_else(|| IoError::UnknownNamespace("/".into()))?;
        let started = std::time::Instant::now();
        let room = entity_room(uid, &id);
        let sent = root.to(room.clone()).emit(event, &data).await;
        self.shared.delivered(sent)?;
        self.shared.record(event, "entity", 1, vec![room], started);
        Ok(())
    }

    /// The sockets subscribed to an entity, with their user.
    pub async fn entity_room_sockets(&self, uid: &str, id: &Value) -> Vec<EntitySocket> {
        let Some(id) = entity_id(id) else {
            return Vec::new();
        };
        self.sockets_in_room(&entity_room(uid, &id))
            .await
            .into_iter()
            .map(|s| EntitySocket {
                id: s.id,
                user: s.user,
            })
            .collect()
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
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }

    /// A TCP listener for serving this server: writes that stay pending longer than
    /// `pingInterval + pingTimeout` fail, so a client that stops reading is closed (see
    /// [`GuardedListener`]). Serve with `into_make_service_with_connect_info::<ClientAddr>()`.
    pub fn guarded_listener(&self, listener: tokio::net::TcpListener) -> GuardedListener {
        let timeout = self.with_settings(|s| {
            std::time::Duration::from_millis(
                (s.connection.ping_interval + s.connection.ping_timeout).max(1000),
            )
        });
        GuardedListener::new(listener, timeout, self.shared.clone())
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
                    .entry(session.audience.room.clone())
                    .or_default() += 1;
                for (uid, _) in session
                    .subscriptions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                {
                    *report.entity_subscriptions.entry(uid.clone()).or_default() += 1;
                }
                if report.sockets.len() < limit {
                    report.sockets.push(SocketInfo {
                        id: session.public_id.clone(),
                        user: session.user.clone(),
                        role: session.audience.role_label().to_string(),
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
        }
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
                let sent = op.emit(DISCONNECT_REASON_EVENT, &body).await;
                let _ = self.shared.delivered(sent);
            }
        }
        self.shared.sio.close().await;
    }
}
