//! Connection state recovery (Socket.IO 4.6's `connectionStateRecovery`, settings
//! `connection.recovery`): a client whose transport dropped comes back as the same socket —
//! id, rooms, entity subscriptions — and gets what it missed, in order, once; on the node it
//! left or, in cluster mode, on any other.
//!
//! - Every event sent gets an [`Offset`], sent as the event's last argument (the official
//!   client keeps the last one it got). Standalone, offsets count up per namespace and the
//!   event is kept in the namespace's [`Log`] for `maxDisconnectionDuration`, within
//!   `maxBufferedBytes`. In cluster mode the offset is the event's id in a Redis stream
//!   (`bus/log.rs`): every node, the sender included, delivers logged events in the
//!   stream's order and keeps the recent ones in its log, a mirror of the stream.
//! - An event is queued for its sockets and kept under its log's lock, so that every socket
//!   receives events in offset order: the offset a client holds says exactly which it has.
//! - A socket that loses its transport (transport close or error, ping timeout, a client
//!   that stopped reading, shutdown) leaves its session behind ([`Saved`]: id, rooms, who it
//!   was) for `maxDisconnectionDuration` — in memory (at most `maxConnections`), or in Redis
//!   in cluster mode. The `CONNECT` reply gave its client a private session id (`pid`),
//!   which the client presents when it reconnects, with the offset of the last event it got.
//! - [`Recovery::claim`] takes the session back if it has not expired and counts what the
//!   client missed (events after its offset to the rooms it was in, or to it), from the log,
//!   or from the Redis stream when the log does not reach back that far; more than
//!   `maxMissedPackets` or `maxMissedBytes` and the client gets a new session. The handshake
//!   then checks who the client is (`connection.rs`), and [`Recovery::attach`] puts the
//!   socket back under the log's lock, queueing what it missed right behind its `CONNECT`
//!   reply, before any newer event can reach it.
//!
//! Acks and the `server-disconnect` notice before a server-side disconnect carry no offset
//! (a socket the server disconnects is not recovered). An event sent while Redis is
//! unreachable is delivered by its node without an offset: it is not kept.

use std::collections::{HashMap, VecDeque};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use strapi_io_core::Settings;
use strapi_io_core::offset::Offset;
use strapi_io_core::settings::Recovery as RecoverySettings;
use strapi_io_engine::{Delivery, DisconnectReason, Id, Packet, SendError, Target};

use crate::bus::Broadcast;
use crate::bus::Bus;
use crate::directory::Subject;
use crate::shared::{Runtime, SocketRef};

/// A namespace of the runtime.
type Namespace = strapi_io_engine::Namespace<Runtime>;

/// Bytes counted for an entry besides its packet and room names.
const ENTRY_OVERHEAD: usize = 96;

/// The recovery settings when recovery is on (`maxDisconnectionDuration` > 0).
pub(crate) fn active(settings: &Settings) -> Option<&RecoverySettings> {
    let r = &settings.connection.recovery;
    (r.max_disconnection_duration > 0).then_some(r)
}

/// Whether a socket that left for `reason` may be recovered (as in Node: the transport
/// went, not the client or the server deciding to end it).
pub(crate) fn recoverable(reason: DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::TransportClose
            | DisconnectReason::TransportError
            | DisconnectReason::PingTimeout
            | DisconnectReason::SlowConsumer
            | DisconnectReason::ForcedClose
            | DisconnectReason::ServerShuttingDown
    )
}

fn now_ms() -> i64 {
    crate::directory::unix_millis()
}

fn keep_ms(settings: &RecoverySettings) -> i64 {
    i64::try_from(settings.max_disconnection_duration).unwrap_or(i64::MAX)
}

/// One sent event kept for recovery.
#[derive(Debug, Clone)]
struct Entry {
    offset: Offset,
    /// When it was kept (ms since the epoch).
    at: i64,
    /// Its rooms (empty: every socket of the namespace) and the rooms left out.
    rooms: Box<[Box<str>]>,
    except: Box<[Box<str>]>,
    /// The event, its offset included.
    packet: Packet,
    /// What it counts for in the log's bytes.
    bytes: usize,
}

impl Entry {
    fn new(offset: Offset, at: i64, target: Target<'_>, packet: Packet) -> Self {
        let names = |list: &[&str]| -> Box<[Box<str>]> { list.iter().map(|&r| r.into()).collect() };
        let rooms = names(target.rooms);
        let except = names(target.except);
        let bytes = ENTRY_OVERHEAD
            + packet_bytes(&packet)
            + rooms
                .iter()
                .chain(except.iter())
                .map(|r| r.len() + 16)
                .sum::<usize>();
        Entry {
            offset,
            at,
            rooms,
            except,
            packet,
            bytes,
        }
    }

    /// Whether the event went to a socket with this id and rooms (every socket is in the
    /// room named by its id).
    fn reaches(&self, id: &str, rooms: &[String]) -> bool {
        let member = |room: &str| room == id || rooms.iter().any(|r| r == room);
        (self.rooms.is_empty() || self.rooms.iter().any(|r| member(r)))
            && !self.except.iter().any(|r| member(r))
    }
}

/// The bytes a packet sends.
fn packet_bytes(packet: &Packet) -> usize {
    packet.text().len() + packet.attachments().iter().map(Bytes::len).sum::<usize>()
}

/// The events sent in one namespace, oldest first.
#[derive(Debug)]
pub(crate) struct Log {
    entries: VecDeque<Entry>,
    /// The next standalone offset's `seq` (the first is 1).
    next_seq: u64,
    /// The newest offset kept or delivered.
    last: Offset,
    /// The log holds every event after this offset (`MAX` until a mirror got its first).
    complete_from: Offset,
    bytes: usize,
}

impl Log {
    fn new(standalone: bool) -> Self {
        Log {
            entries: VecDeque::new(),
            next_seq: 1,
            last: Offset::ZERO,
            complete_from: if standalone {
                Offset::ZERO
            } else {
                Offset::MAX
            },
            bytes: 0,
        }
    }

    /// Takes the next standalone offset.
    fn take_offset(&mut self) -> Offset {
        let offset = Offset {
            ms: 0,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        offset
    }

    fn push(&mut self, entry: Entry, settings: &RecoverySettings) {
        if self.complete_from == Offset::MAX {
            // A mirror's first: it knows nothing older.
            self.complete_from = entry.offset;
        }
        self.last = self.last.max(entry.offset);
        self.bytes += entry.bytes;
        let now = entry.at;
        self.entries.push_back(entry);
        self.trim(settings, now);
    }

    /// Drops events older than `maxDisconnectionDuration` and, oldest first, those over
    /// `maxBufferedBytes`.
    fn trim(&mut self, settings: &RecoverySettings, now: i64) {
        let max_bytes = usize::try_from(settings.max_buffered_bytes).unwrap_or(usize::MAX);
        while let Some(front) = self.entries.front() {
            if now.saturating_sub(front.at) <= keep_ms(settings) && self.bytes <= max_bytes {
                break;
            }
            self.bytes -= front.bytes;
            self.complete_from = self.complete_from.max(front.offset);
            self.entries.pop_front();
        }
    }

    /// Forgets every event (recovery turned off).
    fn clear(&mut self) {
        if !self.entries.is_empty() {
            self.complete_from = self.complete_from.max(self.last);
            self.entries.clear();
            self.bytes = 0;
        }
    }

    /// Whether the log holds every event after `after`.
    fn covers(&self, after: Offset) -> bool {
        after >= self.complete_from
    }

    /// The kept events after `after`, oldest first.
    fn after(&self, after: Offset) -> impl Iterator<Item = &Entry> {
        let at = self.entries.partition_point(|e| e.offset <= after);
        self.entries.range(at..)
    }
}

/// What a disconnected socket leaves behind for its client to take back.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Saved {
    /// The socket's id.
    pub(crate) id: String,
    /// Its namespace.
    pub(crate) ns: String,
    /// Its rooms when it left.
    pub(crate) rooms: Vec<String>,
    /// Who it was.
    pub(crate) subject: Subject,
    /// Its audience room.
    pub(crate) audience: String,
    /// Whether it connected without credentials.
    pub(crate) anonymous: bool,
    /// When its credential expires (ms since the epoch).
    pub(crate) expires_at: Option<i64>,
    /// The newest offset when it joined: it was sent none up to this one.
    pub(crate) start: Offset,
    /// When it left (ms since the epoch).
    left_at: i64,
}

/// What a recovered socket gets replayed, once in its namespace.
#[derive(Debug)]
struct Replay {
    /// The last offset its client got.
    after: Offset,
    /// What it missed as read from the Redis stream (when the log did not reach back), and
    /// the stream id the read went up to.
    fetched: Option<(Vec<Entry>, Offset)>,
}

/// A session taken back: the socket to continue and what its client missed.
#[derive(Debug)]
pub(crate) struct Claimed {
    /// The private session id its client presented.
    pub(crate) pid: Id,
    /// The session.
    pub(crate) saved: Saved,
    replay: Replay,
}

/// Why a client did not get its session back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotRecovered {
    /// No such session any more: it expired, was dropped, or was never given; or the
    /// events after its offset are no longer kept.
    Expired,
    /// It missed more than `maxMissedPackets` or `maxMissedBytes`.
    OverCap,
    /// It is not this client's to take: another namespace, an offset that was never sent,
    /// another user, or who it was may not connect any more.
    Refused,
    /// Redis could not be asked (cluster mode).
    Unavailable,
}

impl NotRecovered {
    /// The label in stats and metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            NotRecovered::Expired => "expired",
            NotRecovered::OverCap => "over_cap",
            NotRecovered::Refused => "refused",
            NotRecovered::Unavailable => "unavailable",
        }
    }
}

/// A socket's part in recovery, kept in its session.
#[derive(Debug, Default)]
pub(crate) struct Resumable {
    /// The private session id its client was given (recovery on).
    pub(crate) pid: Option<Id>,
    /// The newest offset when it joined its namespace.
    start: Mutex<Offset>,
    /// What it missed (a recovered socket, until replayed).
    replay: Mutex<Option<Replay>>,
}

impl Resumable {
    /// A new socket's, with `pid` when recovery is on.
    pub(crate) fn new(pid: Option<Id>) -> Self {
        Resumable {
            pid,
            ..Resumable::default()
        }
    }

    /// A recovered socket's: same pid and start, and what it missed to replay.
    pub(crate) fn recovered(claimed: Claimed) -> Self {
        Resumable {
            pid: Some(claimed.pid),
            start: Mutex::new(claimed.saved.start),
            replay: Mutex::new(Some(claimed.replay)),
        }
    }
}

/// Sessions left behind on a standalone node, by pid, in the order they were left.
#[derive(Default)]
struct Sessions {
    by_pid: HashMap<Id, Saved>,
    /// The pid of each kept socket id.
    by_sid: HashMap<String, Id>,
    /// Kept sessions per room they were in: an emit does not skip those rooms.
    rooms: HashMap<String, usize>,
    order: VecDeque<(i64, Id)>,
}

impl Sessions {
    fn insert(&mut self, pid: Id, saved: Saved) {
        self.remove(&pid);
        self.order.push_back((saved.left_at, pid));
        for room in &saved.rooms {
            *self.rooms.entry(room.clone()).or_default() += 1;
        }
        self.by_sid.insert(saved.id.clone(), pid);
        self.by_pid.insert(pid, saved);
    }

    fn remove(&mut self, pid: &Id) -> Option<Saved> {
        let saved = self.by_pid.remove(pid)?;
        if self.by_sid.get(&saved.id) == Some(pid) {
            self.by_sid.remove(&saved.id);
        }
        for room in &saved.rooms {
            if let Some(n) = self.rooms.get_mut(room) {
                *n -= 1;
                if *n == 0 {
                    self.rooms.remove(room);
                }
            }
        }
        Some(saved)
    }

    /// Whether a socket of `ns` with this id is away, its session kept.
    fn away(&self, ns: &str, id: &str) -> bool {
        self.by_sid
            .get(id)
            .and_then(|pid| self.by_pid.get(pid))
            .is_some_and(|s| s.ns == ns && s.id == id)
    }

    /// Forgets sessions older than `keep_ms`, and the oldest over `max`.
    fn expire(&mut self, now: i64, keep_ms: i64, max: usize) -> u64 {
        let mut dropped = 0;
        while let Some(&(left_at, pid)) = self.order.front() {
            if now.saturating_sub(left_at) <= keep_ms && self.by_pid.len() <= max {
                break;
            }
            self.order.pop_front();
            // Taken back already, or saved again later (then it is further in `order`).
            if self.by_pid.get(&pid).is_some_and(|s| s.left_at == left_at) {
                self.remove(&pid);
                dropped += 1;
            }
        }
        dropped
    }
}

/// Recovery counters.
#[derive(Debug, Default)]
pub(crate) struct RecoveryCounters {
    /// Sockets recovered.
    pub(crate) recovered: AtomicU64,
    /// Clients that presented a session and got a new one, by reason.
    pub(crate) expired: AtomicU64,
    pub(crate) over_cap: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) unavailable: AtomicU64,
    /// Events replayed to recovered sockets.
    pub(crate) replayed: AtomicU64,
    /// Sessions kept (sockets that lost their transport).
    pub(crate) kept: AtomicU64,
}

impl RecoveryCounters {
    /// Every counter, for zeroing them all.
    pub(crate) fn all(&self) -> [&AtomicU64; 7] {
        [
            &self.recovered,
            &self.expired,
            &self.over_cap,
            &self.refused,
            &self.unavailable,
            &self.replayed,
            &self.kept,
        ]
    }
}

/// The figures of recovery now, for stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryStats {
    /// Whether recovery is on.
    pub enabled: bool,
    /// Sessions this node keeps in memory for their clients to take back (standalone; in
    /// cluster mode they are kept in Redis).
    pub sessions: usize,
    /// Sessions left behind by sockets of this node that lost their transport.
    pub kept_sessions: u64,
    /// Events kept on this node, in every namespace.
    pub buffered_packets: usize,
    /// Their bytes (as counted against `maxBufferedBytes`).
    pub buffered_bytes: usize,
    /// Sockets recovered.
    pub recovered: u64,
    /// Clients whose session had expired (or whose missed events were no longer kept).
    pub expired: u64,
    /// Clients that had missed more than the caps allow.
    pub over_cap: u64,
    /// Clients refused their session (another namespace or user, a bad offset, access lost).
    pub refused: u64,
    /// Clients whose session could not be looked up (Redis unreachable).
    pub unavailable: u64,
    /// Events replayed to recovered sockets.
    pub replayed_packets: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Recovery on this node: a log per namespace and, standalone, the sessions left behind.
pub(crate) struct Recovery {
    logs: HashMap<String, Mutex<Log>>,
    /// Sessions left behind here (in cluster mode, also kept in Redis for the other nodes).
    sessions: Mutex<Sessions>,
    /// The namespace and id of each connected socket of this node, by pid.
    live: Mutex<HashMap<Id, (String, String)>>,
    clustered: bool,
    pub(crate) counters: RecoveryCounters,
}

impl Recovery {
    /// Recovery for these namespaces, standalone or `clustered`.
    pub(crate) fn new(namespaces: &[String], clustered: bool) -> Self {
        Recovery {
            logs: namespaces
                .iter()
                .map(|ns| (ns.clone(), Mutex::new(Log::new(!clustered))))
                .collect(),
            sessions: Mutex::new(Sessions::default()),
            live: Mutex::default(),
            clustered,
            counters: RecoveryCounters::default(),
        }
    }

    /// Queues an event for the sockets `target` selects. Standalone with recovery on
    /// (`settings`), it gets the next offset as its last argument and is kept; otherwise
    /// (and in cluster mode, where logged events come through [`Recovery::deliver`]) it
    /// goes as it is.
    pub(crate) fn broadcast(
        &self,
        namespace: &Namespace,
        event: &str,
        args: &[&str],
        attachments: Vec<Bytes>,
        target: Target<'_>,
        settings: Option<&RecoverySettings>,
    ) -> (Packet, Delivery) {
        let ns = namespace.name();
        let log = settings
            .filter(|_| !self.clustered)
            .and_then(|s| Some((s, self.logs.get(ns)?)));
        let Some((settings, log)) = log else {
            if settings.is_none() {
                self.forget(ns);
            }
            let packet = Packet::event(ns, event, args, attachments);
            let delivery = namespace.broadcast(&packet, target);
            return (packet, delivery);
        };
        let mut log = lock(log);
        let offset = log.take_offset();
        let packet = Packet::event_with_offset(ns, event, args, attachments, &offset.to_string());
        let delivery = namespace.broadcast(&packet, target);
        log.push(
            Entry::new(offset, now_ms(), target, packet.clone()),
            settings,
        );
        (packet, delivery)
    }

    /// Delivers a logged event (cluster mode; `packet` carries its offset `offset`) to the
    /// sockets `target` selects, keeping it when recovery is on here too.
    pub(crate) fn deliver(
        &self,
        namespace: &Namespace,
        offset: Offset,
        packet: Packet,
        target: Target<'_>,
        settings: Option<&RecoverySettings>,
    ) -> Delivery {
        let Some(log) = self.logs.get(namespace.name()) else {
            return namespace.broadcast(&packet, target);
        };
        let mut log = lock(log);
        let delivery = namespace.broadcast(&packet, target);
        match settings {
            Some(settings) => log.push(Entry::new(offset, now_ms(), target, packet), settings),
            None => log.clear(),
        }
        delivery
    }

    /// Queues an event for one socket, kept (with an offset) as a broadcast to its own room
    /// when recovery is on standalone (in cluster mode the caller logs it through Redis).
    pub(crate) fn send_to(
        &self,
        socket: &SocketRef,
        event: &str,
        args: &[&str],
        attachments: Vec<Bytes>,
        settings: Option<&RecoverySettings>,
    ) -> Result<(), SendError> {
        let ns = socket.ns();
        let log = settings
            .filter(|_| !self.clustered)
            .and_then(|s| Some((s, self.logs.get(ns)?)));
        let Some((settings, log)) = log else {
            return socket.send(&Packet::event(ns, event, args, attachments));
        };
        let mut log = lock(log);
        let offset = log.take_offset();
        let packet = Packet::event_with_offset(ns, event, args, attachments, &offset.to_string());
        let sent = socket.send(&packet);
        let target = Target {
            rooms: &[socket.id()],
            except: &[],
        };
        log.push(Entry::new(offset, now_ms(), target, packet), settings);
        sent
    }

    /// Whether socket `id` of `ns` left this node with its transport lost, its session kept
    /// for its client to take back (in cluster mode it may have come back on another node:
    /// an event for it is then delivered there).
    pub(crate) fn is_away(&self, ns: &str, id: &str) -> bool {
        lock(&self.sessions).away(ns, id)
    }

    /// [`Recovery::is_away`] on any node: here, else (cluster mode) marked away in Redis.
    pub(crate) async fn is_away_anywhere(
        &self,
        bus: &Bus,
        ns: &str,
        id: &str,
    ) -> Result<bool, crate::bus::BusError> {
        if self.is_away(ns, id) {
            return Ok(true);
        }
        if !self.clustered {
            return Ok(false);
        }
        bus.is_away(ns, id).await
    }

    /// Whether a session kept here was in any of `rooms` (its client may come back for
    /// what is sent there).
    pub(crate) fn awaited(&self, rooms: &[String]) -> bool {
        let sessions = lock(&self.sessions);
        !sessions.rooms.is_empty() && rooms.iter().any(|r| sessions.rooms.contains_key(r))
    }

    /// The namespace and id of this node's connected socket whose client was given `pid`.
    pub(crate) fn live(&self, pid: &str) -> Option<(String, String)> {
        lock(&self.live).get(&Id::parse(pid)?).cloned()
    }

    /// A socket left (for whatever reason): it is no longer found by its pid.
    pub(crate) fn left(&self, socket: &SocketRef) {
        if let Some(pid) = socket.data().resumable.pid {
            let mut live = lock(&self.live);
            if live.get(&pid).is_some_and(|(_, id)| id == socket.id()) {
                live.remove(&pid);
            }
        }
    }

    /// Drops a namespace's kept events (recovery turned off).
    fn forget(&self, ns: &str) {
        if let Some(log) = self.logs.get(ns) {
            lock(log).clear();
        }
    }

    /// Puts a socket into its namespace (`add`) under its log's lock: its start offset is
    /// noted and, for a recovered socket, what it missed is queued behind its `CONNECT`
    /// reply, before any newer event can reach it.
    pub(crate) fn attach(&self, ns: &str, add: impl FnOnce() -> SocketRef) -> SocketRef {
        let Some(log) = self.logs.get(ns) else {
            return add();
        };
        let log = lock(log);
        let socket = add();
        let resumable = &socket.data().resumable;
        if let Some(pid) = resumable.pid {
            lock(&self.live).insert(pid, (ns.to_string(), socket.id().to_string()));
        }
        let replay = lock(&resumable.replay).take();
        let Some(replay) = replay else {
            *lock(&resumable.start) = self.start(&log);
            return socket;
        };
        // Everything up to the log's newest event, from the stream where the log did not
        // reach back; newer events reach the socket as they come.
        let cut = log.last;
        let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
        let mut replayed = 0u64;
        let mut send = |entry: &Entry| {
            // Past the buffer bound: these were counted against the caps already.
            if socket.send_urgent(&entry.packet).is_ok() {
                replayed += 1;
            }
        };
        let mut from = replay.after;
        if let Some((fetched, read_to)) = &replay.fetched {
            fetched
                .iter()
                .filter(|e| e.offset <= cut)
                .for_each(&mut send);
            from = from.max(*read_to);
        }
        log.after(from)
            .filter(|e| e.offset <= cut && e.reaches(socket.id(), &rooms))
            .for_each(&mut send);
        drop(log);
        self.counters
            .replayed
            .fetch_add(replayed, Ordering::Relaxed);
        metrics::counter!("strapi_io_recovery_replayed_packets_total").increment(replayed);
        socket
    }

    /// A new socket's start: the newest offset so far (in cluster mode, with nothing
    /// delivered here yet, the stream ids of now on).
    fn start(&self, log: &Log) -> Offset {
        if self.clustered && log.last == Offset::ZERO {
            let ms = u64::try_from(now_ms()).unwrap_or(0);
            return Offset { ms, seq: 0 };
        }
        log.last
    }

    /// Keeps the session of a socket that lost its transport, for its client to take back:
    /// here (at most `max_sessions`), or in Redis in cluster mode.
    pub(crate) fn save(
        &self,
        socket: &SocketRef,
        bus: &Arc<Bus>,
        settings: &RecoverySettings,
        max_sessions: usize,
    ) {
        let session = socket.data();
        let Some(pid) = session.resumable.pid else {
            return;
        };
        let now = now_ms();
        let saved = Saved {
            id: socket.id().to_string(),
            ns: socket.ns().to_string(),
            rooms: socket.rooms().iter().map(|r| r.to_string()).collect(),
            subject: session.subject.clone(),
            audience: session.audience().room.clone(),
            anonymous: session.anonymous,
            expires_at: session.expires_at(),
            start: *lock(&session.resumable.start),
            left_at: now,
        };
        self.counters.kept.fetch_add(1, Ordering::Relaxed);
        if self.clustered
            && let Ok(bytes) = serde_json::to_vec(&saved)
        {
            let (bus, ms) = (bus.clone(), settings.max_disconnection_duration);
            let (ns, sid) = (saved.ns.clone(), saved.id.clone());
            tokio::spawn(async move {
                if let Err(e) = bus.keep_session(pid.as_str(), &ns, &sid, &bytes, ms).await {
                    tracing::warn!(error = %e, "a recovery session could not be kept in Redis");
                }
            });
        }
        // Kept here too: a client that comes back here takes it at once (in cluster mode,
        // also before Redis has it).
        let mut sessions = lock(&self.sessions);
        sessions.insert(pid, saved);
        let dropped = sessions.expire(now, keep_ms(settings), max_sessions);
        drop(sessions);
        if dropped > 0 {
            tracing::debug!(dropped, "recovery sessions expired");
        }
    }

    /// Takes back the session `pid` for a client of namespace `ns` that got events up to
    /// `offset` (none: it got none). Counts the refusals; the caller counts a recovery once
    /// the handshake has checked who the client is.
    pub(crate) async fn claim(
        &self,
        bus: &Arc<Bus>,
        pid: &str,
        offset: Option<&str>,
        ns: &str,
        settings: &RecoverySettings,
    ) -> Result<Claimed, NotRecovered> {
        let result = match Id::parse(pid) {
            None => Err(NotRecovered::Expired),
            Some(pid) if self.clustered => {
                self.find_in_cluster(bus, pid, offset, ns, settings).await
            }
            Some(pid) => self.find(pid, offset, ns, settings),
        };
        if let Err(why) = result {
            self.refused(why);
        }
        result
    }

    /// Counts a client that did not get its session back.
    pub(crate) fn refused(&self, why: NotRecovered) {
        let counter = match why {
            NotRecovered::Expired => &self.counters.expired,
            NotRecovered::OverCap => &self.counters.over_cap,
            NotRecovered::Refused => &self.counters.refused,
            NotRecovered::Unavailable => &self.counters.unavailable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_recovery_total", "outcome" => why.label()).increment(1);
    }

    /// Counts a recovered socket.
    pub(crate) fn recovered(&self) {
        self.counters.recovered.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_recovery_total", "outcome" => "recovered").increment(1);
    }

    /// The offset after which a client of `saved` missed events.
    fn after(saved: &Saved, offset: Option<&str>) -> Result<Offset, NotRecovered> {
        match offset {
            None => Ok(saved.start),
            Some(o) => {
                let after = Offset::parse(o).ok_or(NotRecovered::Refused)?;
                // An offset sent before the socket was.
                if after < saved.start {
                    return Err(NotRecovered::Refused);
                }
                Ok(after)
            }
        }
    }

    /// Standalone: the session from memory, what was missed from the log.
    fn find(
        &self,
        pid: Id,
        offset: Option<&str>,
        ns: &str,
        settings: &RecoverySettings,
    ) -> Result<Claimed, NotRecovered> {
        let saved = {
            let mut sessions = lock(&self.sessions);
            sessions.expire(now_ms(), keep_ms(settings), usize::MAX);
            sessions.remove(&pid).ok_or(NotRecovered::Expired)?
        };
        if saved.ns != ns {
            return Err(NotRecovered::Refused);
        }
        let after = Self::after(&saved, offset)?;
        let log = lock(self.logs.get(ns).ok_or(NotRecovered::Refused)?);
        if after > log.last {
            // An offset never sent.
            return Err(NotRecovered::Refused);
        }
        if !log.covers(after) {
            return Err(NotRecovered::Expired);
        }
        within_caps(
            log.after(after)
                .filter(|e| e.reaches(&saved.id, &saved.rooms)),
            settings,
        )?;
        drop(log);
        Ok(Claimed {
            pid,
            saved,
            replay: Replay {
                after,
                fetched: None,
            },
        })
    }

    /// Cluster mode: the session from Redis, what was missed from this node's log when it
    /// reaches back far enough, else from the Redis stream.
    async fn find_in_cluster(
        &self,
        bus: &Arc<Bus>,
        pid: Id,
        offset: Option<&str>,
        ns: &str,
        settings: &RecoverySettings,
    ) -> Result<Claimed, NotRecovered> {
        let here = lock(&self.sessions).remove(&pid);
        let kept = bus.take_session(pid.as_str()).await;
        let saved: Saved = match (here, kept) {
            (Some(saved), _) => saved,
            (None, Ok(Some(kept))) => {
                serde_json::from_slice(&kept).map_err(|_| NotRecovered::Refused)?
            }
            (None, Ok(None)) => return Err(NotRecovered::Expired),
            (None, Err(e)) => {
                tracing::warn!(error = %e, "a recovery session could not be looked up");
                return Err(NotRecovered::Unavailable);
            }
        };
        // Taken: whatever follows, the socket is no longer away.
        let (back, ns_of, sid) = (bus.clone(), saved.ns.clone(), saved.id.clone());
        tokio::spawn(async move {
            if let Err(e) = back.back(&ns_of, &sid).await {
                tracing::debug!(error = %e, "an away mark could not be cleared (it expires)");
            }
        });
        if now_ms().saturating_sub(saved.left_at) > keep_ms(settings) {
            return Err(NotRecovered::Expired);
        }
        if saved.ns != ns {
            return Err(NotRecovered::Refused);
        }
        let after = Self::after(&saved, offset)?;
        let claimed = |fetched| Claimed {
            pid,
            saved: saved.clone(),
            replay: Replay { after, fetched },
        };
        {
            let log = lock(self.logs.get(ns).ok_or(NotRecovered::Refused)?);
            if log.covers(after) {
                within_caps(
                    log.after(after)
                        .filter(|e| e.reaches(&saved.id, &saved.rooms)),
                    settings,
                )?;
                return Ok(claimed(None));
            }
        }
        let unavailable = |e: crate::bus::BusError| {
            tracing::warn!(error = %e, "the recovery log could not be read");
            NotRecovered::Unavailable
        };
        let complete = bus.log_complete_after().await.map_err(unavailable)?;
        if Offset::parse(&complete).is_none_or(|c| after < c) {
            return Err(NotRecovered::Expired);
        }
        let (mut missed, mut read_to, mut over) = (Vec::new(), after, false);
        let (mut packets, mut bytes) = (0u64, 0u64);
        bus.read_log(&after.to_string(), |id, logged| {
            let Some(offset) = Offset::parse(&id) else {
                return ControlFlow::Continue(());
            };
            read_to = offset;
            let Some(entry) = logged_entry(offset, &logged)
                .filter(|e| logged.ns == ns && e.reaches(&saved.id, &saved.rooms))
            else {
                return ControlFlow::Continue(());
            };
            packets += 1;
            bytes += packet_bytes(&entry.packet) as u64;
            if packets > settings.max_missed_packets || bytes > settings.max_missed_bytes {
                over = true;
                return ControlFlow::Break(());
            }
            missed.push(entry);
            ControlFlow::Continue(())
        })
        .await
        .map_err(unavailable)?;
        if over {
            return Err(NotRecovered::OverCap);
        }
        Ok(claimed(Some((missed, read_to))))
    }

    /// Recovery's figures now.
    pub(crate) fn stats(&self, enabled: bool) -> RecoveryStats {
        let (mut buffered_packets, mut buffered_bytes) = (0, 0);
        for log in self.logs.values() {
            let log = lock(log);
            buffered_packets += log.entries.len();
            buffered_bytes += log.bytes;
        }
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RecoveryStats {
            enabled,
            sessions: lock(&self.sessions).by_pid.len(),
            kept_sessions: get(&c.kept),
            buffered_packets,
            buffered_bytes,
            recovered: get(&c.recovered),
            expired: get(&c.expired),
            over_cap: get(&c.over_cap),
            refused: get(&c.refused),
            unavailable: get(&c.unavailable),
            replayed_packets: get(&c.replayed),
        }
    }
}

/// A logged broadcast as an entry with its offset, or `None` when it is not an event.
pub(crate) fn logged_packet(offset: Offset, logged: &Broadcast) -> Option<Packet> {
    Packet::from_parts(logged.text.clone(), logged.attachments.clone())?
        .with_offset(&offset.to_string())
}

fn logged_entry(offset: Offset, logged: &Broadcast) -> Option<Entry> {
    let packet = logged_packet(offset, logged)?;
    let rooms: Vec<&str> = logged.rooms.iter().map(String::as_str).collect();
    let except: Vec<&str> = logged.except.iter().map(String::as_str).collect();
    let target = Target {
        rooms: &rooms,
        except: &except,
    };
    Some(Entry::new(offset, now_ms(), target, packet))
}

/// `Err(OverCap)` when `missed` holds more than `maxMissedPackets` events or
/// `maxMissedBytes` bytes.
fn within_caps<'a>(
    missed: impl Iterator<Item = &'a Entry>,
    settings: &RecoverySettings,
) -> Result<(), NotRecovered> {
    let (mut packets, mut bytes) = (0u64, 0u64);
    for entry in missed {
        packets += 1;
        bytes += packet_bytes(&entry.packet) as u64;
        if packets > settings.max_missed_packets || bytes > settings.max_missed_bytes {
            return Err(NotRecovered::OverCap);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RecoverySettings {
        RecoverySettings::default()
    }

    fn at(seq: u64) -> Offset {
        Offset { ms: 0, seq }
    }

    fn entry(offset: Offset, time: i64, rooms: &[&str], except: &[&str]) -> Entry {
        let packet = Packet::event("/", "e", &["1"], Vec::new());
        Entry::new(offset, time, Target { rooms, except }, packet)
    }

    #[test]
    fn an_entry_reaches_the_sockets_of_its_rooms_but_not_those_left_out() {
        let rooms = vec!["a".to_string(), "b".to_string()];
        assert!(entry(at(1), 0, &[], &[]).reaches("me", &rooms));
        assert!(entry(at(1), 0, &["b"], &[]).reaches("me", &rooms));
        assert!(
            entry(at(1), 0, &["me"], &[]).reaches("me", &rooms),
            "its own room"
        );
        assert!(!entry(at(1), 0, &["c"], &[]).reaches("me", &rooms));
        assert!(!entry(at(1), 0, &[], &["a"]).reaches("me", &rooms));
        assert!(!entry(at(1), 0, &["b"], &["me"]).reaches("me", &rooms));
    }

    #[test]
    fn the_log_trims_by_age_and_bytes_and_knows_what_it_covers() {
        let mut s = settings();
        s.max_disconnection_duration = 1_000;
        let mut log = Log::new(true);
        assert!(log.covers(Offset::ZERO));
        for i in 0..5 {
            let offset = log.take_offset();
            log.push(entry(offset, i * 400, &[], &[]), &s);
        }
        // At 1600 ms, events older than 1000 ms (sent at 0 and 400) are gone.
        assert_eq!(log.entries.front().unwrap().offset, at(3));
        assert_eq!(log.last, at(5));
        assert!(!log.covers(at(1)) && log.covers(at(2)) && log.covers(at(4)));
        let after_3: Vec<Offset> = log.after(at(3)).map(|e| e.offset).collect();
        assert_eq!(after_3, [at(4), at(5)]);
        let one = log.entries[0].bytes as u64;
        s.max_buffered_bytes = one * 2;
        let offset = log.take_offset();
        log.push(entry(offset, 1_700, &[], &[]), &s);
        assert_eq!(log.entries.len(), 2, "the oldest go over the byte budget");
        assert_eq!(log.bytes as u64, one * 2);
        assert!(!log.covers(at(3)) && log.covers(at(4)));
        log.clear();
        assert!(log.entries.is_empty() && log.bytes == 0);
        assert!(!log.covers(at(5)) && log.covers(at(6)));
    }

    #[test]
    fn a_mirror_covers_nothing_before_its_first_event() {
        let mut log = Log::new(false);
        let first = Offset { ms: 100, seq: 0 };
        assert!(!log.covers(first));
        log.push(entry(first, 0, &[], &[]), &settings());
        assert!(!log.covers(Offset { ms: 99, seq: 5 }));
        assert!(log.covers(first));
    }

    #[test]
    fn caps_count_packets_and_bytes() {
        let mut s = settings();
        let entries: Vec<Entry> = (1..=3).map(|i| entry(at(i), 0, &[], &[])).collect();
        assert!(within_caps(entries.iter(), &s).is_ok());
        s.max_missed_packets = 2;
        assert_eq!(within_caps(entries.iter(), &s), Err(NotRecovered::OverCap));
        s.max_missed_packets = 10;
        s.max_missed_bytes = packet_bytes(&entries[0].packet) as u64 * 2;
        assert_eq!(within_caps(entries.iter(), &s), Err(NotRecovered::OverCap));
    }

    #[test]
    fn sessions_expire_in_order_and_over_the_cap() {
        let mut sessions = Sessions::default();
        let saved = |left_at| Saved {
            id: Id::new().to_string(),
            ns: "/".into(),
            rooms: Vec::new(),
            subject: Subject::Public,
            audience: "io-role-public".into(),
            anonymous: true,
            expires_at: None,
            start: Offset::ZERO,
            left_at,
        };
        let (a, b, c) = (Id::new(), Id::new(), Id::new());
        for (pid, time) in [(a, 0), (b, 10), (c, 20)] {
            sessions.insert(pid, saved(time));
        }
        assert_eq!(sessions.expire(15, 10, 10), 1);
        assert!(!sessions.by_pid.contains_key(&a));
        assert_eq!(
            sessions.expire(15, 10, 1),
            1,
            "over the cap, the oldest goes"
        );
        assert!(sessions.by_pid.contains_key(&c));
        // A session saved again is not dropped by its older place in the order.
        let again = saved(30);
        let sid = again.id.clone();
        sessions.insert(c, again);
        assert_eq!(sessions.expire(35, 10, 10), 0);
        assert!(sessions.by_pid.contains_key(&c));
        assert!(sessions.away("/", &sid));
        assert!(!sessions.away("/admin", &sid), "another namespace's");
        sessions.remove(&c);
        assert!(!sessions.away("/", &sid));
        assert!(sessions.by_sid.is_empty() && sessions.by_pid.is_empty());
        assert!(sessions.rooms.is_empty());
        let mut in_room = saved(40);
        in_room.rooms = vec!["io-role-public".into(), "x".into()];
        sessions.insert(a, in_room.clone());
        sessions.insert(b, in_room);
        assert_eq!(sessions.rooms["io-role-public"], 2);
        sessions.remove(&a);
        assert_eq!(sessions.expire(1_000, 10, 10), 1);
        assert!(sessions.rooms.is_empty(), "{:?}", sessions.rooms);
    }

    #[test]
    fn a_saved_session_reads_back() {
        let saved = Saved {
            id: "s".into(),
            ns: "/".into(),
            rooms: vec!["r".into()],
            subject: Subject::User("2".into()),
            audience: "io-role-authenticated".into(),
            anonymous: false,
            expires_at: Some(5),
            start: Offset { ms: 9, seq: 1 },
            left_at: 3,
        };
        let back: Saved = serde_json::from_slice(&serde_json::to_vec(&saved).unwrap()).unwrap();
        assert_eq!(back.subject, saved.subject);
        assert_eq!(
            (back.start, back.left_at, back.rooms),
            (saved.start, 3, saved.rooms)
        );
    }
}
