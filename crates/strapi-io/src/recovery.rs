//! Connection state recovery (Socket.IO 4.6's `connectionStateRecovery`, settings
//! `connection.recovery`) on this node: a client whose transport dropped comes back as the
//! same socket — id, rooms, entity subscriptions — and gets what it missed, in order, once.
//!
//! - Every event sent in a namespace gets an offset (a decimal counter, sent as the event's
//!   last argument, which the official client keeps) and is kept in the namespace's [`Log`]
//!   for `maxDisconnectionDuration`, within `maxBufferedBytes`. The offset is taken and the
//!   event queued for its sockets under the log's lock, so that every socket receives events
//!   in offset order: the offset a client holds says exactly which ones it has.
//! - A socket that loses its transport (transport close or error, ping timeout, a client
//!   that stopped reading, shutdown) leaves its session behind ([`Saved`]: id, rooms, who it
//!   was), kept for `maxDisconnectionDuration`, at most `maxConnections` of them. The
//!   `CONNECT` reply gave its client a private session id (`pid`), which the client presents
//!   when it reconnects, with the offset of the last event it got.
//! - [`Recovery::claim`] takes the session back if it has not expired, and counts what the
//!   client missed (events sent since its offset to the rooms it was in, or to it); more than
//!   `maxMissedPackets` or `maxMissedBytes` and the client gets a new session. The handshake
//!   then checks who the client is (see `connection.rs`), and [`Recovery::attach`] puts the
//!   socket back under the log's lock, queueing what it missed right behind its `CONNECT`
//!   reply.
//!
//! Recovery needs every event a socket gets to pass through here: broadcasts
//! ([`Recovery::broadcast`]) and sends to one socket ([`Recovery::send_to`]). Acks and the
//! `server-disconnect` notice before a server-side disconnect carry no offset (a socket the
//! server disconnects is not recovered). In cluster mode recovery is off (issue 18's
//! cross-node part is not built yet): a node's offsets mean nothing to the others.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use strapi_io_core::Settings;
use strapi_io_core::settings::Recovery as RecoverySettings;
use strapi_io_engine::{Delivery, DisconnectReason, Id, Packet, SendError, Target};

use crate::directory::Subject;
use crate::shared::{Runtime, SocketRef};

/// A namespace of the runtime.
type Namespace = strapi_io_engine::Namespace<Runtime>;

/// Bytes counted for an entry besides its packet and room names.
const ENTRY_OVERHEAD: usize = 96;

/// The recovery settings when recovery is on (`maxDisconnectionDuration` > 0, standalone).
pub(crate) fn active(settings: &Settings, clustered: bool) -> Option<&RecoverySettings> {
    let r = &settings.connection.recovery;
    (r.max_disconnection_duration > 0 && !clustered).then_some(r)
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

/// One sent event kept for recovery.
struct Entry {
    offset: u64,
    /// When it was sent (ms since the epoch).
    at: i64,
    /// Its rooms (empty: every socket of the namespace) and the rooms left out.
    rooms: Box<[Box<str>]>,
    except: Box<[Box<str>]>,
    packet: Packet,
    /// What it counts for in the log's bytes.
    bytes: usize,
}

impl Entry {
    fn new(offset: u64, at: i64, target: Target<'_>, packet: Packet) -> Self {
        let names = |list: &[&str]| -> Box<[Box<str>]> { list.iter().map(|&r| r.into()).collect() };
        let rooms = names(target.rooms);
        let except = names(target.except);
        let bytes = ENTRY_OVERHEAD
            + packet.text().len()
            + packet.attachments().iter().map(Bytes::len).sum::<usize>()
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

/// The events sent in one namespace, oldest first, with contiguous offsets.
#[derive(Default)]
pub(crate) struct Log {
    entries: VecDeque<Entry>,
    /// The offset of the next event (the first is 1).
    next: u64,
    bytes: usize,
}

impl Log {
    fn new() -> Self {
        Log {
            next: 1,
            ..Log::default()
        }
    }

    /// The oldest offset still kept (`next` when none is).
    fn first(&self) -> u64 {
        self.entries.front().map_or(self.next, |e| e.offset)
    }

    /// Takes the next offset.
    fn take_offset(&mut self) -> u64 {
        let offset = self.next;
        self.next += 1;
        offset
    }

    fn push(&mut self, entry: Entry, settings: &RecoverySettings) {
        self.bytes += entry.bytes;
        let now = entry.at;
        self.entries.push_back(entry);
        self.trim(settings, now);
    }

    /// Drops events older than `maxDisconnectionDuration` and, oldest first, those over
    /// `maxBufferedBytes`.
    fn trim(&mut self, settings: &RecoverySettings, now: i64) {
        let keep_ms = i64::try_from(settings.max_disconnection_duration).unwrap_or(i64::MAX);
        let max_bytes = usize::try_from(settings.max_buffered_bytes).unwrap_or(usize::MAX);
        while let Some(front) = self.entries.front() {
            if now.saturating_sub(front.at) <= keep_ms && self.bytes <= max_bytes {
                break;
            }
            self.bytes -= front.bytes;
            self.entries.pop_front();
        }
    }

    /// The kept events from offset `from` on that reached a socket with this id and rooms.
    fn missed<'a>(
        &'a self,
        from: u64,
        id: &'a str,
        rooms: &'a [String],
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        let skip = usize::try_from(from.saturating_sub(self.first())).unwrap_or(usize::MAX);
        self.entries
            .iter()
            .skip(skip)
            .filter(move |e| e.reaches(id, rooms))
    }
}

/// What a disconnected socket leaves behind for its client to take back.
#[derive(Debug, Clone)]
pub(crate) struct Saved {
    /// The socket's id.
    pub(crate) id: Id,
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
    /// The first offset it could have been sent.
    pub(crate) start: u64,
    /// When it left (ms since the epoch).
    left_at: i64,
}

/// A session taken back: the socket to continue and the first offset its client missed.
#[derive(Debug)]
pub(crate) struct Claimed {
    /// The private session id its client presented.
    pub(crate) pid: Id,
    /// The session.
    pub(crate) saved: Saved,
    /// Where the replay starts.
    pub(crate) from: u64,
}

/// Why a client did not get its session back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotRecovered {
    /// No such session any more: it expired, was dropped, or was never here; or the events
    /// after its offset are no longer kept.
    Expired,
    /// It missed more than `maxMissedPackets` or `maxMissedBytes`.
    OverCap,
    /// It is not this client's to take: another namespace, an offset that was never sent,
    /// another user, or who it was may not connect any more.
    Refused,
}

impl NotRecovered {
    /// The label in stats and metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            NotRecovered::Expired => "expired",
            NotRecovered::OverCap => "over_cap",
            NotRecovered::Refused => "refused",
        }
    }
}

/// A socket's part in recovery, kept in its session.
#[derive(Debug, Default)]
pub(crate) struct Resumable {
    /// The private session id its client was given (recovery on).
    pub(crate) pid: Option<Id>,
    /// The first offset it could have been sent (set when it joined its namespace).
    start: AtomicU64,
    /// Where the replay of what it missed starts (a recovered socket, until replayed).
    replay_from: Mutex<Option<u64>>,
}

impl Resumable {
    /// A new socket's, with `pid` when recovery is on.
    pub(crate) fn new(pid: Option<Id>) -> Self {
        Resumable {
            pid,
            ..Resumable::default()
        }
    }

    /// A recovered socket's: same pid, and what it missed from `from` on to replay.
    pub(crate) fn recovered(pid: Id, from: u64, start: u64) -> Self {
        Resumable {
            pid: Some(pid),
            start: AtomicU64::new(start),
            replay_from: Mutex::new(Some(from)),
        }
    }
}

/// Sessions left behind, by pid, in the order they were left.
#[derive(Default)]
struct Sessions {
    by_pid: HashMap<Id, Saved>,
    /// The pid of each kept socket id.
    by_sid: HashMap<Id, Id>,
    order: VecDeque<(i64, Id)>,
}

impl Sessions {
    fn insert(&mut self, pid: Id, saved: Saved) {
        let id = saved.id;
        self.order.push_back((saved.left_at, pid));
        // A pid kept before under another socket id (its id was in use when it came back).
        if let Some(old) = self.by_pid.insert(pid, saved)
            && old.id != id
            && self.by_sid.get(&old.id) == Some(&pid)
        {
            self.by_sid.remove(&old.id);
        }
        self.by_sid.insert(id, pid);
    }

    fn remove(&mut self, pid: &Id) -> Option<Saved> {
        let saved = self.by_pid.remove(pid)?;
        if self.by_sid.get(&saved.id) == Some(pid) {
            self.by_sid.remove(&saved.id);
        }
        Some(saved)
    }

    /// Whether a socket of `ns` with this id is away, its session kept.
    fn away(&self, ns: &str, id: &Id) -> bool {
        self.by_sid
            .get(id)
            .and_then(|pid| self.by_pid.get(pid))
            .is_some_and(|s| s.ns == ns && s.id == *id)
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
    /// Events replayed to recovered sockets.
    pub(crate) replayed: AtomicU64,
}

impl RecoveryCounters {
    /// Every counter, for zeroing them all.
    pub(crate) fn all(&self) -> [&AtomicU64; 5] {
        [
            &self.recovered,
            &self.expired,
            &self.over_cap,
            &self.refused,
            &self.replayed,
        ]
    }
}

/// Recovery on this node: a log per namespace and the sessions left behind.
pub(crate) struct Recovery {
    logs: HashMap<String, Mutex<Log>>,
    sessions: Mutex<Sessions>,
    pub(crate) counters: RecoveryCounters,
}

/// The figures of recovery now, for stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryStats {
    /// Whether recovery is on.
    pub enabled: bool,
    /// Sessions left behind that a client may take back.
    pub sessions: usize,
    /// Events kept, in every namespace.
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
    /// Events replayed to recovered sockets.
    pub replayed_packets: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Recovery {
    /// Recovery for these namespaces.
    pub(crate) fn new(namespaces: &[String]) -> Self {
        Recovery {
            logs: namespaces
                .iter()
                .map(|ns| (ns.clone(), Mutex::new(Log::new())))
                .collect(),
            sessions: Mutex::new(Sessions::default()),
            counters: RecoveryCounters::default(),
        }
    }

    /// Queues an event for the sockets `target` selects; with recovery on (`settings`) it
    /// gets the next offset as its last argument and is kept.
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
        let log = settings.and_then(|s| Some((s, self.logs.get(ns)?)));
        let Some((settings, log)) = log else {
            self.forget(ns);
            let packet = Packet::event(ns, event, args, attachments);
            let delivery = namespace.broadcast(&packet, target);
            return (packet, delivery);
        };
        let mut log = lock(log);
        let offset = log.take_offset();
        let packet = Packet::event_with_offset(ns, event, args, attachments, &offset.to_string());
        let delivery = namespace.broadcast(&packet, target);
        let now = crate::directory::unix_millis();
        log.push(Entry::new(offset, now, target, packet.clone()), settings);
        (packet, delivery)
    }

    /// Queues an event for one socket, kept (with an offset) as a broadcast to its own room
    /// when recovery is on.
    pub(crate) fn send_to(
        &self,
        socket: &SocketRef,
        event: &str,
        args: &[&str],
        attachments: Vec<Bytes>,
        settings: Option<&RecoverySettings>,
    ) -> Result<(), SendError> {
        let ns = socket.ns();
        let log = settings.and_then(|s| Some((s, self.logs.get(ns)?)));
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
        let now = crate::directory::unix_millis();
        log.push(Entry::new(offset, now, target, packet), settings);
        sent
    }

    /// Sends an event to a socket that is away — its transport lost, its session kept — so
    /// that it gets the event when its client comes back (or at once, if it came back
    /// meanwhile). `false` when no socket of the namespace with this id is away.
    pub(crate) fn send_to_away(
        &self,
        namespace: &Namespace,
        id: &str,
        event: &str,
        args: &[&str],
        settings: &RecoverySettings,
    ) -> Option<Delivery> {
        let sid = Id::parse(id)?;
        if !lock(&self.sessions).away(namespace.name(), &sid) {
            return None;
        }
        let target = Target {
            rooms: &[id],
            except: &[],
        };
        let (_, delivery) =
            self.broadcast(namespace, event, args, Vec::new(), target, Some(settings));
        Some(delivery)
    }

    /// Drops a namespace's kept events (recovery turned off).
    fn forget(&self, ns: &str) {
        if let Some(log) = self.logs.get(ns) {
            let mut log = lock(log);
            if !log.entries.is_empty() {
                log.entries.clear();
                log.bytes = 0;
            }
        }
    }

    /// Puts a socket into its namespace (`add`) under its log's lock: its start offset is
    /// noted and, for a recovered socket, what it missed is queued behind its `CONNECT`
    /// reply, before any newer event can reach it. Returns the socket and the events
    /// replayed.
    pub(crate) fn attach(&self, ns: &str, add: impl FnOnce() -> SocketRef) -> SocketRef {
        let Some(log) = self.logs.get(ns) else {
            return add();
        };
        let log = lock(log);
        let socket = add();
        let resumable = &socket.data().resumable;
        let from = lock(&resumable.replay_from).take();
        let Some(from) = from else {
            resumable.start.store(log.next, Ordering::Relaxed);
            return socket;
        };
        let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
        let mut replayed = 0u64;
        for entry in log.missed(from, socket.id(), &rooms) {
            // Past the buffer bound: these were counted against the caps already.
            if socket.send_urgent(&entry.packet).is_err() {
                break;
            }
            replayed += 1;
        }
        drop(log);
        self.counters
            .replayed
            .fetch_add(replayed, Ordering::Relaxed);
        metrics::counter!("strapi_io_recovery_replayed_packets_total").increment(replayed);
        socket
    }

    /// Keeps the session of a socket that lost its transport, for its client to take back.
    pub(crate) fn save(
        &self,
        socket: &SocketRef,
        settings: &RecoverySettings,
        max_sessions: usize,
    ) {
        let session = socket.data();
        let Some(pid) = session.resumable.pid else {
            return;
        };
        let now = crate::directory::unix_millis();
        let saved = Saved {
            id: Id::parse(socket.id()).unwrap_or_default(),
            ns: socket.ns().to_string(),
            rooms: socket.rooms().iter().map(|r| r.to_string()).collect(),
            subject: session.subject.clone(),
            audience: session.audience().room.clone(),
            anonymous: session.anonymous,
            expires_at: session.expires_at(),
            start: session.resumable.start.load(Ordering::Relaxed),
            left_at: now,
        };
        let keep_ms = i64::try_from(settings.max_disconnection_duration).unwrap_or(i64::MAX);
        let mut sessions = lock(&self.sessions);
        sessions.insert(pid, saved);
        let dropped = sessions.expire(now, keep_ms, max_sessions);
        drop(sessions);
        if dropped > 0 {
            tracing::debug!(dropped, "recovery sessions expired");
        }
    }

    /// Takes back the session `pid` for a client of namespace `ns` that got events up to
    /// `offset` (none: it got none). Counts the refusals; the caller counts a recovery once
    /// the handshake has checked who the client is.
    pub(crate) fn claim(
        &self,
        pid: &str,
        offset: Option<&str>,
        ns: &str,
        settings: &RecoverySettings,
    ) -> Result<Claimed, NotRecovered> {
        let result = self.find(pid, offset, ns, settings);
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
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_recovery_total", "outcome" => why.label()).increment(1);
    }

    /// Counts a recovered socket.
    pub(crate) fn recovered(&self) {
        self.counters.recovered.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_recovery_total", "outcome" => "recovered").increment(1);
    }

    fn find(
        &self,
        pid: &str,
        offset: Option<&str>,
        ns: &str,
        settings: &RecoverySettings,
    ) -> Result<Claimed, NotRecovered> {
        let pid = Id::parse(pid).ok_or(NotRecovered::Expired)?;
        let now = crate::directory::unix_millis();
        let keep_ms = i64::try_from(settings.max_disconnection_duration).unwrap_or(i64::MAX);
        let saved = {
            let mut sessions = lock(&self.sessions);
            sessions.expire(now, keep_ms, usize::MAX);
            sessions.remove(&pid).ok_or(NotRecovered::Expired)?
        };
        if saved.ns != ns {
            return Err(NotRecovered::Refused);
        }
        let log = self.logs.get(ns).ok_or(NotRecovered::Refused)?;
        let log = lock(log);
        let from = match offset {
            None => saved.start,
            Some(o) => {
                let got: u64 = o.parse().map_err(|_| NotRecovered::Refused)?;
                // An offset never sent, or sent before the socket was.
                if got >= log.next || got.saturating_add(1) < saved.start {
                    return Err(NotRecovered::Refused);
                }
                got + 1
            }
        };
        if from < log.first() {
            return Err(NotRecovered::Expired);
        }
        let id = saved.id.as_str().to_string();
        let (mut packets, mut bytes) = (0u64, 0u64);
        for entry in log.missed(from, &id, &saved.rooms) {
            packets += 1;
            bytes += entry.packet.text().len() as u64
                + entry
                    .packet
                    .attachments()
                    .iter()
                    .map(|a| a.len() as u64)
                    .sum::<u64>();
            if packets > settings.max_missed_packets || bytes > settings.max_missed_bytes {
                return Err(NotRecovered::OverCap);
            }
        }
        Ok(Claimed { pid, saved, from })
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
            buffered_packets,
            buffered_bytes,
            recovered: get(&c.recovered),
            expired: get(&c.expired),
            over_cap: get(&c.over_cap),
            refused: get(&c.refused),
            replayed_packets: get(&c.replayed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RecoverySettings {
        RecoverySettings::default()
    }

    fn entry(offset: u64, at: i64, rooms: &[&str], except: &[&str]) -> Entry {
        let packet = Packet::event("/", "e", &["1"], Vec::new());
        Entry::new(offset, at, Target { rooms, except }, packet)
    }

    #[test]
    fn an_entry_reaches_the_sockets_of_its_rooms_but_not_those_left_out() {
        let rooms = vec!["a".to_string(), "b".to_string()];
        assert!(entry(1, 0, &[], &[]).reaches("me", &rooms));
        assert!(entry(1, 0, &["b"], &[]).reaches("me", &rooms));
        assert!(
            entry(1, 0, &["me"], &[]).reaches("me", &rooms),
            "its own room"
        );
        assert!(!entry(1, 0, &["c"], &[]).reaches("me", &rooms));
        assert!(!entry(1, 0, &[], &["a"]).reaches("me", &rooms));
        assert!(!entry(1, 0, &["b"], &["me"]).reaches("me", &rooms));
    }

    #[test]
    fn the_log_keeps_offsets_contiguous_and_trims_by_age_and_bytes() {
        let mut s = settings();
        s.max_disconnection_duration = 1_000;
        let mut log = Log::new();
        for i in 0..5 {
            let offset = log.take_offset();
            log.push(entry(offset, i * 400, &[], &[]), &s);
        }
        // At 1600 ms, events older than 1000 ms (sent at 0 and 400) are gone.
        assert_eq!(log.first(), 3);
        assert_eq!(log.next, 6);
        let from_4: Vec<u64> = log.missed(4, "x", &[]).map(|e| e.offset).collect();
        assert_eq!(from_4, [4, 5]);
        let one = log.entries[0].bytes as u64;
        s.max_buffered_bytes = one * 2;
        let offset = log.take_offset();
        log.push(entry(offset, 1_700, &[], &[]), &s);
        assert_eq!(log.entries.len(), 2, "the oldest go over the byte budget");
        assert_eq!(log.first(), 5);
        assert_eq!(log.bytes as u64, one * 2);
    }

    #[test]
    fn sessions_expire_in_order_and_over_the_cap() {
        let mut sessions = Sessions::default();
        let saved = |left_at| Saved {
            id: Id::new(),
            ns: "/".into(),
            rooms: Vec::new(),
            subject: Subject::Public,
            audience: "io-role-public".into(),
            anonymous: true,
            expires_at: None,
            start: 1,
            left_at,
        };
        let (a, b, c) = (Id::new(), Id::new(), Id::new());
        for (pid, at) in [(a, 0), (b, 10), (c, 20)] {
            sessions.insert(pid, saved(at));
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
        let sid = again.id;
        sessions.insert(c, again);
        assert_eq!(sessions.expire(35, 10, 10), 0);
        assert!(sessions.by_pid.contains_key(&c));
        assert!(sessions.away("/", &sid));
        assert!(!sessions.away("/admin", &sid), "another namespace's");
        sessions.remove(&c);
        assert!(!sessions.away("/", &sid));
        assert!(sessions.by_sid.is_empty() && sessions.by_pid.is_empty());
    }
}
