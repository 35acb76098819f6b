//! The life of a socket, as the engine's [`Handler`]: what a session keeps of its opening
//! request (client address, query credentials, its pending place), the handshake (address
//! rules, credentials, connect rights, the connection limit), joining its rooms once
//! connected, the client events of SPEC §4 and the custom ones, each behind the per-socket
//! rate limit, and the clean-up when it leaves.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::value::RawValue;
use serde_json::{Value, json};
use strapi_io_core::Audience;
use strapi_io_core::auth::{AuthError, credential_from_handshake};
use strapi_io_core::rooms::validate_client_room;
use strapi_io_engine::{
    Conn, ConnectError, DisconnectReason, Event, Handler, Id, Joined, Refusal, Restore,
};

use crate::delivery::{Reply, disconnect_with_reason};
use crate::handlers::{ClientEvent, Connected, SocketHandle};
use crate::io::Io;
use crate::limits::{Admission, EventLimiter};
use crate::live::Live;
use crate::locate::{Member, visible_rooms};
use crate::payload::{Args, Payload};
use crate::pending::{PendingPlace, SessionPlace};
use crate::recovery::{Claimed, NotRecovered, Resumable};
use crate::session::{ConnectionSlot, Session};
use crate::shared::{Runtime, Shared, SocketRef};
use crate::subscriptions::subscriptions_in;

/// Longest `private-message` text, in characters.
const MAX_MESSAGE_CHARS: usize = 10_000;

/// The message of a refused event.
const RATE_LIMITED: &str = "Rate limit exceeded";

/// What a session keeps of its opening request.
pub(crate) struct ConnInfo {
    /// The client's address under the address rules at the time (trusted proxies,
    /// `X-Forwarded-For`).
    ip: Option<IpAddr>,
    /// `?token=` (Socket.IO v2 clients have no `auth`).
    token: Option<String>,
    /// `?strategy=`.
    strategy: Option<String>,
    /// The session's place among pending connections, released once a socket is admitted
    /// (or when the session ends).
    place: Option<Arc<PendingPlace>>,
}

/// The value of `name` in a URL query string, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Handler for Runtime {
    type Conn = ConnInfo;
    type Socket = Session;

    fn open(&self, request: &http::request::Parts) -> Result<ConnInfo, Refusal> {
        let Some(shared) = self.shared.upgrade() else {
            return Err(Refusal {
                status: http::StatusCode::SERVICE_UNAVAILABLE,
                code: 4,
                message: "Server shutting down".into(),
            });
        };
        let live = shared.settings();
        let query = request.uri.query();
        Ok(ConnInfo {
            ip: crate::guard::client_ip(&live, &request.extensions, &request.headers),
            token: query_param(query, "token"),
            strategy: query_param(query, "strategy"),
            place: request
                .extensions
                .get::<SessionPlace>()
                .map(|p| p.0.clone()),
        })
    }

    fn connect(
        &self,
        conn: &Arc<Conn<Self>>,
        ns: &str,
        auth: Option<&RawValue>,
    ) -> impl Future<Output = Result<Joined<Session>, ConnectError>> + Send + 'static {
        let shared = self.shared.upgrade();
        let conn = conn.clone();
        let ns = ns.to_string();
        let auth: Option<Value> = auth.and_then(|a| serde_json::from_str(a.get()).ok());
        async move {
            let Some(shared) = shared else {
                return Err(ConnectError::new("Server shutting down"));
            };
            let (auth, resume) = take_resume(auth);
            let recovery = shared.recovery_settings(&shared.settings());
            if let (Some(settings), Some(resume)) = (&recovery, resume) {
                match recover(&shared, &conn, &ns, auth.as_ref(), &resume, settings).await {
                    Ok(joined) => return Ok(joined),
                    Err(why) => {
                        tracing::debug!(ns, outcome = why.label(), "not recovered: a new session");
                    }
                }
            }
            let pid = recovery.is_some().then(Id::new);
            handshake(&shared, &conn, &ns, auth, Resumable::new(pid))
                .await
                .map(|session| Joined {
                    data: session,
                    restore: None,
                    pid: pid.map(|p| p.to_string()),
                })
                .map_err(|e| ConnectError::new(e.to_string()))
        }
    }

    fn attach(&self, ns: &str, add: impl FnOnce() -> SocketRef) -> SocketRef {
        match self.shared.upgrade() {
            Some(shared) => shared.recovery.attach(ns, add),
            None => add(),
        }
    }

    fn connected(
        &self,
        socket: SocketRef,
        auth: Option<Box<RawValue>>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.shared.upgrade();
        if let Some(shared) = &shared {
            install(shared, &socket);
        }
        async move {
            if let Some(shared) = shared {
                let auth = auth
                    .and_then(|a| serde_json::from_str::<Value>(a.get()).ok())
                    .map(Payload::from);
                on_connect(shared, socket, auth).await;
            }
        }
    }

    fn event(&self, socket: SocketRef, event: Event) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.shared.upgrade();
        async move {
            if let Some(shared) = shared {
                on_event(shared, socket, event).await;
            }
        }
    }

    fn disconnected(&self, socket: &SocketRef, reason: DisconnectReason) {
        if let Some(shared) = self.shared.upgrade() {
            on_disconnect(&shared, socket, reason);
        }
    }
}

/// Decides a namespace connect; an `Err` becomes the client's `connect_error`.
async fn handshake(
    shared: &Shared,
    conn: &Conn<Runtime>,
    ns: &str,
    auth: Option<Value>,
    resumable: Resumable,
) -> Result<Session, AuthError> {
    let result = admit(shared, conn.data(), ns, auth, resumable).await;
    match &result {
        Ok(_) => settle(conn),
        Err(e) => {
            shared.counters.refused(&e.to_string());
            metrics::counter!("strapi_io_handshake_rejections_total", "reason" => e.to_string())
                .increment(1);
            tracing::debug!(ns, reason = %e, "handshake refused");
        }
    }
    result
}

/// The session's handshake is complete: it no longer counts as pending.
fn settle(conn: &Conn<Runtime>) {
    if let Some(place) = &conn.data().place {
        place.settle();
    }
}

/// What a reconnecting client presents to recover its socket (Socket.IO 4.6 puts it in the
/// handshake's `auth`).
struct Resume {
    /// The private session id the `CONNECT` reply gave it.
    pid: String,
    /// The offset of the last event it got (none: it got none).
    offset: Option<String>,
}

/// Takes `pid` and `offset` out of the handshake's `auth` (they are never credentials, and
/// connect hooks do not see them); a `pid` that is not a string is ignored.
fn take_resume(auth: Option<Value>) -> (Option<Value>, Option<Resume>) {
    let Some(Value::Object(mut map)) = auth else {
        return (auth, None);
    };
    let pid = map.remove("pid");
    let offset = map.remove("offset");
    let resume = match (pid, offset) {
        (Some(Value::String(pid)), Some(Value::String(offset))) => Some(Resume {
            pid,
            offset: Some(offset),
        }),
        (Some(Value::String(pid)), None | Some(Value::Null)) => Some(Resume { pid, offset: None }),
        _ => None,
    };
    (Some(Value::Object(map)), resume)
}

/// Takes back the session a reconnecting client presents, when it is still kept, within
/// the caps, and still this client's: who it was is checked against the directory now (a
/// user blocked meanwhile is refused) with the connect rules, and — unless
/// `skipMiddlewares` — the handshake's credential must be valid and name the same user or
/// token. A refusal here means a new session, not a refused connection.
async fn recover(
    shared: &Shared,
    conn: &Conn<Runtime>,
    ns: &str,
    auth: Option<&Value>,
    resume: &Resume,
    settings: &strapi_io_core::settings::Recovery,
) -> Result<Joined<Session>, NotRecovered> {
    // The client is back before this node noticed its old transport was gone (no ping
    // timeout yet): that connection ends now, as a lost transport, leaving its session.
    if let Some((live_ns, id)) = shared.recovery.live(&resume.pid)
        && live_ns == ns
        && let Some(old) = shared.engine.of(ns).and_then(|n| n.get(&id))
    {
        shared.engine.drop_connection(&old);
    }
    let claimed = shared
        .recovery
        .claim(
            &shared.bus,
            &resume.pid,
            resume.offset.as_deref(),
            ns,
            settings,
        )
        .await?;
    let saved = claimed.saved.clone();
    let result = match Id::parse(&saved.id) {
        Some(id) => readmit(shared, conn.data(), ns, auth, claimed, settings)
            .await
            .map(|session| (id, session)),
        None => Err(AuthError::InvalidCredentials),
    };
    match result {
        Ok((id, session)) => {
            settle(conn);
            shared.recovery.recovered();
            Ok(Joined {
                data: session,
                restore: Some(Restore {
                    id,
                    rooms: saved.rooms,
                }),
                pid: Some(resume.pid.clone()),
            })
        }
        Err(e) => {
            tracing::debug!(ns, reason = %e, "recovery refused");
            shared.recovery.refused(NotRecovered::Refused);
            Err(NotRecovered::Refused)
        }
    }
}

/// The session of a recovering socket, admitted as [`admit`] would (connect rules, the
/// connection limit) as who it was.
async fn readmit(
    shared: &Shared,
    info: &ConnInfo,
    ns: &str,
    auth: Option<&Value>,
    claimed: Claimed,
    settings: &strapi_io_core::settings::Recovery,
) -> Result<Session, AuthError> {
    let saved = &claimed.saved;
    let live = shared.settings();
    check_before_identity(&live, info.ip, saved.anonymous, ns)?;
    let known = if settings.skip_middlewares {
        let mut answers = shared
            .directory
            .recheck(std::slice::from_ref(&saved.subject))
            .await;
        match answers.pop() {
            // The directory cannot tell: the credential decides.
            Some(Err(AuthError::Unavailable)) | None => None,
            Some(answer) => Some(answer?),
        }
    } else {
        None
    };
    let mut identity = match known {
        Some(identity) => identity,
        None => {
            let credential =
                credential_from_handshake(auth, info.token.as_deref(), info.strategy.as_deref())?;
            shared.directory.authenticate(credential.as_ref()).await?
        }
    };
    if identity.subject != saved.subject || identity.audience.room != saved.audience {
        return Err(AuthError::InvalidCredentials);
    }
    // The credential's expiry as the first handshake read it (the directory does not know
    // a JWT's), or a newer one from a credential verified now.
    identity.expires_at = identity.expires_at.or(saved.expires_at);
    check_audience(&live, &identity.audience)?;
    let slot = ConnectionSlot::acquire(&shared.connections, live.connection.max_connections)
        .ok_or(AuthError::MaxConnections)?;
    let anonymous = saved.anonymous;
    let session = Session::new(
        identity,
        info.ip,
        anonymous,
        slot,
        Resumable::recovered(claimed),
    );
    if session.expired(crate::directory::unix_millis(), live.security.token_expiry) {
        return Err(AuthError::TokenExpired);
    }
    Ok(session)
}

/// The connect rules that do not depend on who the user is (see [`strapi_io_core::connect`]).
fn check_before_identity(
    live: &Live,
    ip: Option<IpAddr>,
    anonymous: bool,
    ns: &str,
) -> Result<(), AuthError> {
    strapi_io_core::connect::check_before_identity(&live.settings, &live.access, ip, anonymous, ns)
}

/// The connect rule that depends on the audience (see [`strapi_io_core::connect`]).
pub(crate) fn check_audience(live: &Live, audience: &Audience) -> Result<(), AuthError> {
    strapi_io_core::connect::check_audience(&live.settings, audience)
}

/// Whether a connected socket would still be let in under `live` settings (its credential
/// included: an expired one is refused under `tokenExpiry: "disconnect"`).
pub(crate) fn still_allowed(live: &Live, session: &Session, ns: &str) -> Result<(), AuthError> {
    check_before_identity(live, session.ip, session.anonymous, ns)?;
    check_audience(live, &session.audience())?;
    if session.expired(crate::directory::unix_millis(), live.security.token_expiry) {
        return Err(AuthError::TokenExpired);
    }
    Ok(())
}

async fn admit(
    shared: &Shared,
    info: &ConnInfo,
    ns: &str,
    auth: Option<Value>,
    resumable: Resumable,
) -> Result<Session, AuthError> {
    let live = shared.settings();
    let credential = credential_from_handshake(
        auth.as_ref(),
        info.token.as_deref(),
        info.strategy.as_deref(),
    )?;
    let anonymous = credential.is_none();
    check_before_identity(&live, info.ip, anonymous, ns)?;
    let identity = shared.directory.authenticate(credential.as_ref()).await?;
    check_audience(&live, &identity.audience)?;
    let slot = ConnectionSlot::acquire(&shared.connections, live.connection.max_connections)
        .ok_or(AuthError::MaxConnections)?;
    Ok(Session::new(identity, info.ip, anonymous, slot, resumable))
}

/// What to do with one client event.
enum Gate {
    /// Handle it.
    Pass,
    /// Answer this refusal.
    Refuse(Value),
    /// Ignore it: the socket is being disconnected.
    Drop,
}

/// Applies the rate limit to one client event.
fn gate(shared: &Shared, socket: &SocketRef, session: &Session) -> Gate {
    if session.closing.load(Ordering::Acquire) {
        return Gate::Drop;
    }
    match limit(shared, socket, session) {
        None => Gate::Pass,
        Some(refusal) => Gate::Refuse(refusal),
    }
}

/// The rate limit: `None` to go on, `Some(reply)` to refuse.
fn limit(shared: &Shared, socket: &SocketRef, session: &Session) -> Option<Value> {
    let limits = shared.settings().security.rate_limiting.clone();
    let admission = {
        let mut slot = session.limiter.lock().unwrap_or_else(|e| e.into_inner());
        if !limits.enabled {
            *slot = None;
            return None;
        }
        let rate = limits.max_events_per_second;
        if slot.as_ref().is_none_or(|(r, _)| *r != rate) {
            *slot = Some((rate, EventLimiter::new(rate)));
        }
        slot.as_ref().map(|(_, l)| l.admit())?
    };
    match admission {
        Admission::Allowed => None,
        Admission::Refused => {
            shared.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            Some(failure(RATE_LIMITED))
        }
        Admission::Flooding => {
            shared.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            if disconnect_with_reason(socket, RATE_LIMITED) {
                shared
                    .counters
                    .flood_disconnects
                    .fetch_add(1, Ordering::Relaxed);
                metrics::counter!("strapi_io_flood_disconnects_total").increment(1);
                tracing::warn!(socket = %socket.id(), "disconnecting a socket that keeps flooding");
            }
            Some(failure(RATE_LIMITED))
        }
    }
}

/// The first argument of a built-in event, as JSON.
fn first_arg(event: &Event) -> Option<Value> {
    match serde_json::from_str::<Value>(event.args.get()) {
        Ok(Value::Array(mut args)) if !args.is_empty() => Some(args.swap_remove(0)),
        _ => None,
    }
}

/// One client event: built-in or custom, behind the rate limit; the answer goes to its
/// ack (when the client asked for one).
async fn on_event(shared: Arc<Shared>, socket: SocketRef, event: Event) {
    let session = socket.data();
    let reply = match gate(&shared, &socket, session) {
        Gate::Drop => return,
        Gate::Refuse(refused) => Some(Reply::Json(refused)),
        Gate::Pass => handle(&shared, &socket, event.name.as_str(), &event).await,
    };
    if let (Some(id), Some(reply)) = (event.ack, reply) {
        shared.answer(&socket, id, &reply);
    }
}

async fn handle(shared: &Arc<Shared>, s: &SocketRef, name: &str, event: &Event) -> Option<Reply> {
    let session = s.data();
    let json = |v: Value| Some(Reply::Json(v));
    match name {
        "join-room" => json(join_room(shared, s, session, first_arg(event).as_ref())),
        "leave-room" => json(match first_arg(event).as_ref().and_then(Value::as_str) {
            Some(name) => match validate_client_room(name) {
                Ok(()) => {
                    s.leave(name);
                    json!({"success": true, "room": name})
                }
                Err(e) => failure(e.to_string()),
            },
            None => failure("Invalid room name"),
        }),
        "get-rooms" => json(json!({"success": true, "rooms": visible_rooms(s)})),
        "whoami" => json(json!({
            "success": true,
            "id": s.id(),
            "role": session.audience().role_label(),
            "user": session.user(),
        })),
        "subscribe-entity" => {
            let arg = first_arg(event).unwrap_or(Value::Null);
            let r = shared
                .subscribe(&Member::here(s), arg.get("uid"), arg.get("id"))
                .await;
            json(serde_json::to_value(r).unwrap_or(Value::Null))
        }
        "unsubscribe-entity" => {
            let arg = first_arg(event).unwrap_or(Value::Null);
            let r = shared
                .unsubscribe(&Member::here(s), arg.get("uid"), arg.get("id"))
                .await;
            json(serde_json::to_value(r).unwrap_or(Value::Null))
        }
        "get-entity-subscriptions" => {
            let rooms = s.rooms();
            let subscriptions = subscriptions_in(rooms.iter().map(|r| &**r));
            json(json!({"success": true, "subscriptions": subscriptions}))
        }
        "private-message" => {
            json(private_message(shared, s, session, first_arg(event).as_ref()).await)
        }
        "refresh-token" => {
            json(crate::recheck::refresh_token(shared, s, session, first_arg(event).as_ref()).await)
        }
        custom => {
            let handler = shared
                .handlers
                .iter()
                .find(|(n, _)| n == custom)
                .map(|(_, h)| h.clone())?;
            let event = ClientEvent {
                io: Io {
                    shared: shared.clone(),
                },
                event: custom.to_string(),
                socket: SocketHandle {
                    socket: s.clone(),
                    shared: Arc::downgrade(shared),
                },
                args: Args::from_wire(event.args.get(), &event.attachments),
            };
            handler(event).await.map(Reply::Args)
        }
    }
}

/// Runs once the socket is connected (after its connect packet was queued): the connect
/// hooks, which may send to the socket.
pub(crate) async fn on_connect(shared: Arc<Shared>, socket: SocketRef, auth: Option<Payload>) {
    let session = socket.data();
    if shared.settings().monitoring.enable_connection_logging {
        tracing::info!(socket = %socket.id(), ns = socket.ns(), audience = %session.audience().room, "connected");
    }
    if shared.connect_hooks.is_empty() {
        return;
    }
    let connected = Connected {
        io: Io {
            shared: shared.clone(),
        },
        socket: SocketHandle {
            socket,
            shared: Arc::downgrade(&shared),
        },
        auth: auth.unwrap_or(Payload::Object(Vec::new())),
    };
    for hook in &shared.connect_hooks {
        hook(connected.clone()).await;
    }
}

/// Joins the socket's rooms and schedules its credential's expiry; runs as soon as the
/// socket is in its namespace, before any of its events is handled.
fn install(shared: &Arc<Shared>, socket: &SocketRef) {
    let session = socket.data();
    let settings = shared.settings();
    let audience = session.audience();
    let mut rooms = vec![audience.room.clone()];
    if shared.clustered() {
        // What other nodes need to list this socket.
        rooms.push(session.who_room(socket.id()));
    }
    if let Some(auto) = settings.rooms.auto_join_by_role.get(audience.role_label()) {
        rooms.extend(auto.iter().cloned());
    }
    socket.join(rooms);
    shared.occupancy.occupy(&audience.room);
    keep_subscriptions(shared, socket, &settings, &audience);
    metrics::gauge!("strapi_io_connections", "audience" => audience.room.clone()).increment(1.0);
    shared.deadlines.schedule(session, socket);
}

/// The entity subscriptions a recovered socket came back with (none for a new one): those
/// the settings still allow its audience are counted, the others left.
fn keep_subscriptions(
    shared: &Shared,
    socket: &SocketRef,
    settings: &Live,
    audience: &strapi_io_core::Audience,
) {
    let subs = &settings.entity_subscriptions;
    let _moves = shared.subscribing.lock().unwrap_or_else(|e| e.into_inner());
    for room in socket.rooms() {
        let Some((uid, _)) = strapi_io_core::rooms::parse_entity_room(&room) else {
            continue;
        };
        let scoped = strapi_io_core::rooms::scoped_entity_room(&audience.room, &room);
        let allowed = subs.enabled
            && (subs.allowed_content_types.is_empty()
                || subs.allowed_content_types.iter().any(|a| a == uid))
            && audience.can_read(uid);
        if allowed {
            shared.occupancy.occupy(&scoped);
        } else {
            socket.leave([room.to_string(), scoped]);
        }
    }
}

/// A socket left its namespace: it is forgotten, its rooms vacated, and why is counted.
fn on_disconnect(shared: &Shared, s: &SocketRef, reason: DisconnectReason) {
    let session = s.data();
    shared.deadlines.cancel(session);
    shared.recovery.left(s);
    // A socket whose transport went (not one the server decided to end) leaves its session
    // for its client to take back.
    let live = shared.settings();
    if crate::recovery::recoverable(reason)
        && !session.closing.load(Ordering::Acquire)
        && let Some(settings) = shared.recovery_settings(&live)
    {
        let max = usize::try_from(live.connection.max_connections).unwrap_or(usize::MAX);
        shared.recovery.save(s, &shared.bus, &settings, max);
    }
    {
        // Under the lock a re-check moves sockets with: the rooms left are the ones the
        // socket is counted in.
        let _moves = shared.subscribing.lock().unwrap_or_else(|e| e.into_inner());
        let audience = session.audience();
        shared.occupancy.vacate(&audience.room);
        for room in s.rooms() {
            if strapi_io_core::rooms::parse_entity_room(&room).is_some() {
                shared
                    .occupancy
                    .vacate(&strapi_io_core::rooms::scoped_entity_room(
                        &audience.room,
                        &room,
                    ));
            }
        }
        metrics::gauge!("strapi_io_connections", "audience" => audience.room.clone())
            .decrement(1.0);
    }
    match reason {
        DisconnectReason::PingTimeout => {
            metrics::counter!("strapi_io_heartbeat_disconnects_total").increment(1);
            shared
                .counters
                .heartbeat_disconnects
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(socket = %s.id(), "closed by the heartbeat: the client stopped answering");
        }
        DisconnectReason::SlowConsumer => {
            metrics::counter!("strapi_io_slow_consumer_disconnects_total").increment(1);
            shared
                .counters
                .stalled_writes
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(socket = %s.id(), "closed: the client stopped reading");
        }
        _ => {
            if shared.settings().monitoring.enable_connection_logging {
                tracing::info!(socket = %s.id(), %reason, "disconnected");
            }
        }
    }
}

fn failure(error: impl Into<String>) -> Value {
    json!({"success": false, "error": error.into()})
}

fn join_room(
    shared: &Shared,
    socket: &SocketRef,
    session: &Session,
    room: Option<&Value>,
) -> Value {
    let Some(name) = room.and_then(Value::as_str) else {
        return failure("Invalid room name");
    };
    if let Err(e) = validate_client_room(name) {
        return failure(e.to_string());
    }
    let settings = shared.settings();
    let audience = session.audience();
    let auto_joined = settings
        .rooms
        .auto_join_by_role
        .get(audience.role_label())
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !settings.rooms.enable_private_rooms && !auto_joined.iter().any(|r| r == name) {
        return failure("Private rooms are disabled");
    }
    // Checked and joined under one lock, so that concurrent joins cannot overshoot.
    let _one_at_a_time = shared.subscribing.lock().unwrap_or_else(|e| e.into_inner());
    let rooms = socket.rooms();
    if !rooms.iter().any(|r| **r == *name) {
        let joined = rooms
            .iter()
            .filter(|r| validate_client_room(r).is_ok() && !auto_joined.iter().any(|a| *a == ***r))
            .count();
        let max = settings.rooms.max_rooms_per_socket;
        if joined >= max as usize {
            return failure(format!("Maximum rooms ({max}) reached"));
        }
    }
    socket.join(name);
    json!({"success": true, "room": name})
}

/// `private-message {to, message}`: to a socket of the sender's own namespace, on any node.
async fn private_message(
    shared: &Shared,
    sender: &SocketRef,
    session: &Session,
    arg: Option<&Value>,
) -> Value {
    if !shared.settings().rooms.enable_private_messages {
        return failure("Private messages are disabled");
    }
    let (Some(to), Some(message)) = (
        arg.and_then(|a| a.get("to")).and_then(Value::as_str),
        arg.and_then(|a| a.get("message")).and_then(Value::as_str),
    ) else {
        return failure("Invalid parameters");
    };
    let len = message.chars().count();
    if len == 0 || len > MAX_MESSAGE_CHARS {
        return failure("Invalid message length");
    }
    let timestamp = crate::directory::unix_millis();
    let payload = json!({
        "from": sender.id(),
        "fromUser": session.user(),
        "message": message,
        "timestamp": timestamp,
    });
    match shared.locate_in(to, Some(sender.ns())).await {
        Ok(Some(_)) => {}
        // A socket that is away (on any node) gets it when its client comes back.
        Ok(None) => match shared.away(sender.ns(), to).await {
            Ok(true) => {}
            Ok(false) => return failure("Target socket not found"),
            Err(e) => return failure(e.to_string()),
        },
        Err(e) => return failure(e.to_string()),
    }
    // To the room named by the target's id, on whichever node it is.
    match shared
        .send(
            sender.ns(),
            &[to.to_string()],
            &[],
            "private-message",
            &payload,
        )
        .await
    {
        Ok(_) => json!({"success": true}),
        Err(e) => failure(e.to_string()),
    }
}
