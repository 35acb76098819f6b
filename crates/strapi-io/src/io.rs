//! [`Io`], the Rust `strapi.$io`: a thin front over the runtime's parts — the emit
//! pipeline, sending ([`crate::delivery`]), finding sockets ([`crate::locate`]), entity
//! subscriptions ([`crate::subscriptions`]), stats ([`crate::stats`]), the cluster.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use serde_json::Value;
use strapi_io_core::events::{Skip, entry_ids};
use strapi_io_core::format::{delete_entry, to_wire};
use strapi_io_core::rooms::{entity_room, parse_entity_room, scoped_entity_room};
use strapi_io_core::settings::SettingsProblem;
use strapi_io_core::{Audience, Schemas, Settings};
use strapi_io_engine::{DisconnectReason, Target};

use crate::bus::RemoteOp;
use crate::delivery::{DISCONNECT_REASON_EVENT, disconnect_with_reason, tell_closing};
use crate::errors::IoError;
use crate::live::Live;
use crate::locate::{Located, Member, visible_rooms};
use crate::monitor::Reach;
use crate::monitor::{EventLogEntry, EventStats};
use crate::shared::check_event_name;
use crate::stats::IoStats;
use crate::subscriptions::{entity_id, subscriptions_in};
use crate::types::{
    EmitOptions, EmitReport, EntitySocket, EntitySubscriptionResult, EntitySubscriptions,
    RawOptions, SocketInfo,
};

use crate::shared::Shared;

/// How long closing every socket waits for their WebSocket tasks to write their last
/// packets (each has a one-second grace).
const TRANSPORTS_GRACE: std::time::Duration = std::time::Duration::from_secs(3);
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

/// The report of an event that is not sent.
fn skipped(s: Skip) -> EmitReport {
    EmitReport {
        event: None,
        audiences: 0,
        skipped: Some(skip_reason(s)),
        cluster_error: None,
    }
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
    ///
    /// An event that passes the emit checks has its entry completed by the
    /// [`Populate`](crate::Populate) hook, if one is set, before it is sanitized.
    pub async fn emit_with_ids(
        &self,
        mut opts: EmitOptions,
        other_ids: &[String],
    ) -> Result<EmitReport, IoError> {
        let mut started = std::time::Instant::now();
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
            return Ok(skipped(skip));
        }
        if let Some(hook) = &shared.populate
            && action != "delete"
            && let Value::Object(entry) = &mut opts.data
        {
            let began = std::time::Instant::now();
            *entry = hook.populate(ct, action, std::mem::take(entry)).await;
            // The refetch is not the emit's own time.
            started += began.elapsed();
            // Under `onlyPublished`, an entry the hook completed into a draft (an `unpublish`
            // refetches what is left: the draft) is not sent either.
            if let Err(skip) =
                shared
                    .rules
                    .check(ct, action, &opts.data, settings.events.only_published)
            {
                return Ok(skipped(skip));
            }
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
        let mut reach = Reach {
            recipients: Some(0),
            ..Reach::default()
        };
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
            // Standalone, audiences nobody here belongs to (nor a socket that is away, whose
            // client may come back for it) are skipped; a cluster node cannot know who is
            // connected elsewhere.
            if !clustered && !shared.occupancy.occupied(&rooms) && !shared.recovery.awaited(&rooms)
            {
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
            let sent = shared.send("/", &rooms, &[], &event, &payload).await?;
            reach.add(&sent);
            reach.targets.extend(rooms);
            if let Some(e) = sent.cluster_error {
                cluster_error = Some(e);
            }
            reached += 1;
        }
        shared.undeclared(undeclared);
        shared.record(&event, "emit", reached, reach, started);
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
        let sent = self.shared.send("/", &to, &[], &opts.event, &data).await?;
        let reach = Reach::of(rooms.unwrap_or_default(), &sent);
        self.shared.record(&opts.event, "raw", 1, reach, started);
        Ok(())
    }

    /// Adds a socket to a room (on whichever node it is connected); `false` when no such
    /// socket is connected.
    pub async fn join_room(&self, socket_id: &str, room: &str) -> Result<bool, IoError> {
        self.change_rooms(socket_id, room, true).await
    }

    /// Removes a socket from a room (on whichever node it is connected); `false` when no
    /// such socket is connected.
    pub async fn leave_room(&self, socket_id: &str, room: &str) -> Result<bool, IoError> {
        self.change_rooms(socket_id, room, false).await
    }

    /// Joins (`join`) or leaves a room for a socket, wherever it is connected.
    async fn change_rooms(&self, socket_id: &str, room: &str, join: bool) -> Result<bool, IoError> {
        match self.shared.locate(socket_id).await? {
            Some(Located::Here(s)) => {
                if join {
                    s.join(room);
                } else {
                    s.leave(room);
                }
                Ok(true)
            }
            Some(Located::There(r)) => {
                let rooms = vec![room.to_string()];
                let op = if join {
                    RemoteOp::Join(rooms)
                } else {
                    RemoteOp::Leave(rooms)
                };
                r.apply(&self.shared, op).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The sockets of `/` in a room, on every node, with their user, role and rooms.
    pub async fn sockets_in_room(&self, room: &str) -> Result<Vec<SocketInfo>, IoError> {
        self.shared.sockets_in(room).await
    }

    /// Sends an event to one socket, wherever it is connected (nothing when it is not), or
    /// kept for it while its transport is away (connection recovery, on any node). Every
    /// socket is in the room named by its id: this is a broadcast to that room, kept for
    /// recovery as every broadcast is.
    pub async fn send_private_message(
        &self,
        socket_id: &str,
        event: &str,
        data: &Value,
    ) -> Result<(), IoError> {
        let started = std::time::Instant::now();
        let data = self.shared.prepare_raw(event, data)?;
        match self.shared.locate(socket_id).await? {
            Some(_) => {}
            None if self.shared.away("/", socket_id).await? => {}
            None => return Ok(()),
        }
        let to = [socket_id.to_string()];
        let sent = self.shared.send("/", &to, &[], event, &data).await?;
        let reach = Reach::of(vec![socket_id.to_string()], &sent);
        self.shared.record(event, "private", 1, reach, started);
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
        // Every socket is in the room named by its id.
        let sent = self
            .shared
            .send("/", &[], &[socket_id.to_string()], event, &data)
            .await?;
        let reach = Reach::of(Vec::new(), &sent);
        self.shared.record(event, "broadcast", 1, reach, started);
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
        let sent = self.shared.send(&path, &[], &[], event, &data).await?;
        let reach = Reach::of(vec![path], &sent);
        self.shared.record(event, "namespace", 1, reach, started);
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
                // Both go out on one channel, in order: the reason, then the disconnect.
                r.emit(
                    &self.shared,
                    DISCONNECT_REASON_EVENT,
                    &serde_json::json!({ "reason": reason }),
                )
                .await?;
                r.apply(&self.shared, RemoteOp::Disconnect).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The socket's audience and rooms, or the result to answer instead.
    async fn member_of(&self, socket_id: &str) -> Result<Member, String> {
        match self.shared.locate(socket_id).await {
            Ok(Some(at)) => self.shared.member(at).map_err(|e| e.to_string()),
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
        self.change_subscription(socket_id, uid, id, true).await
    }

    /// Unsubscribes a socket (on whichever node it is connected) from an entity.
    pub async fn unsubscribe_from_entity(
        &self,
        socket_id: &str,
        uid: &str,
        id: &Value,
    ) -> EntitySubscriptionResult {
        self.change_subscription(socket_id, uid, id, false).await
    }

    /// Subscribes (`subscribe`) or unsubscribes a socket, wherever it is connected.
    async fn change_subscription(
        &self,
        socket_id: &str,
        uid: &str,
        id: &Value,
        subscribe: bool,
    ) -> EntitySubscriptionResult {
        let member = match self.member_of(socket_id).await {
            Ok(m) => m,
            Err(e) => return EntitySubscriptionResult::err(e),
        };
        let uid = Value::String(uid.to_string());
        if subscribe {
            self.shared.subscribe(&member, Some(&uid), Some(id)).await
        } else {
            self.shared.unsubscribe(&member, Some(&uid), Some(id)).await
        }
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
        let sent = self
            .shared
            .send("/", std::slice::from_ref(&room), &[], event, &data)
            .await?;
        let reach = Reach::of(vec![room], &sent);
        self.shared.record(event, "entity", 1, reach, started);
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
    pub fn apply_settings(&self, settings: Settings) -> Result<usize, Vec<SettingsProblem>> {
        settings.check()?;
        let live = Arc::new(Live::new(settings));
        *self
            .shared
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner()) = live.clone();
        let mut dropped = 0;
        for ns in &self.shared.namespaces {
            let Some(namespace) = self.shared.engine.of(ns.as_str()) else {
                continue;
            };
            for socket in namespace.sockets(Target::default()) {
                let session = socket.data();
                if let Err(reason) = crate::connection::still_allowed(&live, session, ns) {
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
        let recovery = self.shared.recovery.counters.all();
        for a in self.shared.counters.all().into_iter().chain(recovery) {
            a.store(0, Ordering::Relaxed);
        }
        self.shared
            .counters
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
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
            let Some(namespace) = self.shared.engine.of(ns.as_str()) else {
                continue;
            };
            for s in namespace.sockets(Target::default()) {
                let session = s.data();
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
                        id: s.id().to_string(),
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
            refused_handshakes_by_reason: c.refusals(),
            deliveries: get(&c.deliveries),
            slow_consumer_disconnects: get(&c.stalled_writes),
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
            recovery: self.shared.recovery.stats(
                self.shared
                    .recovery_settings(&self.shared.settings())
                    .is_some(),
            ),
        }
    }

    /// The state of the Redis link (cluster mode off when `redis.enabled` is false).
    pub fn cluster_status(&self) -> crate::cluster::ClusterStatus {
        self.shared.link.status()
    }

    /// The cluster as this node sees it: the live nodes with their connections (from each
    /// node's heartbeat, every 2 s) and the total. Standalone, this node alone.
    pub async fn cluster(&self) -> crate::cluster::ClusterReport {
        let this = self.shared.node.clone();
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
            origin: self.shared.node.clone(),
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
        let this = self.shared.node.clone();
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

    /// Tells every socket why (`server-disconnect { reason }`), then closes every connection
    /// (the clients reconnect by themselves, as after Node's `io.close()`); returns once the
    /// WebSocket connections have written their last packets (at most a few seconds).
    pub async fn close_with_reason(&self, reason: &str) {
        for ns in &self.shared.namespaces {
            if let Some(namespace) = self.shared.engine.of(ns.as_str()) {
                for socket in namespace.sockets(Target::default()) {
                    tell_closing(&socket, reason);
                }
            }
        }
        // Every session ends: their queued packets (the reasons) are written first. The
        // transport closes without a namespace DISCONNECT, so clients reconnect by
        // themselves (to another node, or to this one once it is back), as with Node's
        // `io.close()`.
        self.shared
            .engine
            .close_all(DisconnectReason::ServerShuttingDown);
        // Each WebSocket task writes what is queued, then its close frame, within a second:
        // returning before would let a process that exits next cut those last packets off.
        let finished = self.shared.engine.transports_finished();
        if tokio::time::timeout(TRANSPORTS_GRACE, finished)
            .await
            .is_err()
        {
            tracing::warn!("WebSocket connections still closing after {TRANSPORTS_GRACE:?}");
        }
    }
}
