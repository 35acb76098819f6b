//! The life of a socket: the handshake middleware (address rules, credentials, connect
//! rights, the connection limit), joining its rooms on connect, the client events of
//! SPEC §4 and the custom ones, each behind the per-socket rate limit.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use socketioxide::extract::TryData;

use crate::cluster::{AckSender, SocketRef};
use socketioxide::socket::DisconnectReason;
use strapi_io_core::auth::{AuthError, credential_from_handshake};
use strapi_io_core::rooms::validate_client_room;
use strapi_io_core::{Audience, AudienceKind};

use crate::handlers::{ClientEvent, Connected, SocketHandle};
use crate::io::{
    ConnectionSlot, Io, Live, Located, Member, Session, Shared, disconnect_with_reason,
    subscriptions_in, visible_rooms,
};
use crate::limits::{Admission, EventLimiter};
use crate::payload::{Args, Payload};

/// Longest `private-message` text, in characters.
const MAX_MESSAGE_CHARS: usize = 10_000;

/// The message of a refused event.
const RATE_LIMITED: &str = "Rate limit exceeded";

/// The value of `name` in a URL query string, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The client's address under the live rules (see [`crate::guard::client_ip`]).
fn client_ip(live: &Live, socket: &SocketRef) -> Option<IpAddr> {
    let parts = socket.req_parts();
    crate::guard::client_ip(live, &parts.extensions, &parts.headers)
}

/// Runs before a socket joins a namespace; an `Err` becomes the client's `connect_error`.
pub(crate) async fn handshake(
    shared: Arc<Shared>,
    socket: SocketRef,
    auth: Option<Value>,
) -> Result<(), AuthError> {
    let result = admit(&shared, &socket, auth).await;
    if result.is_ok() {
        // The session's handshake is complete: it no longer counts as pending.
        if let Some(place) = socket
            .req_parts()
            .extensions
            .get::<crate::serve::SessionPlace>()
        {
            place.0.settle();
        }
        install(&shared, &socket);
    }
    if let Err(e) = &result {
        shared
            .counters
            .refused_handshakes
            .fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_handshake_rejections_total", "reason" => e.to_string())
            .increment(1);
        tracing::debug!(ns = socket.ns(), reason = %e, "handshake refused");
    }
    result
}

/// The connect rules that do not depend on who the user is.
fn check_before_identity(
    live: &Live,
    ip: Option<IpAddr>,
    anonymous: bool,
    ns: &str,
) -> Result<(), AuthError> {
    live.access.check(ip)?;
    if anonymous {
        if live.security.require_authentication {
            return Err(AuthError::AuthenticationRequired);
        }
        let bare = ns.trim_start_matches('/');
        if live
            .namespaces
            .list
            .get(bare)
            .or_else(|| live.namespaces.list.get(ns))
            .is_some_and(|n| n.require_auth)
        {
            return Err(AuthError::NamespaceRequiresAuth(ns.to_string()));
        }
    }
    Ok(())
}

/// The connect rules that depend on the audience.
pub(crate) fn check_audience(live: &Live, audience: &Audience) -> Result<(), AuthError> {
    if let AudienceKind::Role { role_type } = &audience.kind
        && live
            .role_permissions
            .get(role_type)
            .is_some_and(|r| !r.can_connect)
    {
        return Err(AuthError::RoleNotAllowed(audience.name.clone()));
    }
    Ok(())
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

async fn admit(shared: &Shared, socket: &SocketRef, auth: Option<Value>) -> Result<(), AuthError> {
    let live = shared.settings();
    let ip = client_ip(&live, socket);
    let query = socket.req_parts().uri.query();
    let query_token = query_param(query, "token");
    let query_strategy = query_param(query, "strategy");
    let credential = credential_from_handshake(
        auth.as_ref(),
        query_token.as_deref(),
        query_strategy.as_deref(),
    )?;
    let anonymous = credential.is_none();
    check_before_identity(&live, ip, anonymous, socket.ns())?;
    let identity = shared.directory.authenticate(credential.as_ref()).await?;
    check_audience(&live, &identity.audience)?;
    let slot = ConnectionSlot::acquire(&shared.connections, live.connection.max_connections)
        .ok_or(AuthError::MaxConnections)?;
    socket.extensions.insert(Arc::new(Session::new(
        identity,
        ip,
        anonymous,
        socketioxide::socket::Sid::new().to_string(),
        slot,
    )));
    Ok(())
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
                tracing::warn!(socket = %socket.id, "disconnecting a socket that keeps flooding");
            }
            Some(failure(RATE_LIMITED))
        }
    }
}

/// Installs a client-event handler behind the rate limit: `handle` gets the socket, its
/// session and the first argument, and returns the ack.
macro_rules! on_event {
    ($socket:expr, $shared:expr, $name:expr, |$s:ident, $session:ident, $arg:ident, $sh:ident| $body:expr) => {{
        let shared = $shared.clone();
        $socket.on(
            $name,
            move |$s: SocketRef, TryData(arg): TryData<Value>, ack: AckSender| {
                let $sh = shared.clone();
                async move {
                    let Some($session) = Shared::session(&$s) else {
                        return;
                    };
                    let reply = match gate(&$sh, &$s, &$session) {
                        Gate::Drop => return,
                        Gate::Refuse(refused) => refused,
                        Gate::Pass => {
                            let $arg: Option<Value> = arg.ok();
                            $body
                        }
                    };
                    $sh.answer(&$s, ack, &reply);
                }
            },
        );
    }};
}

/// Runs once a socket is connected: joins its rooms and installs the event handlers.
/// Runs once the socket is connected (after its connect packet was sent): the connect
/// hooks, which may send to the socket.
pub(crate) async fn on_connect(shared: Arc<Shared>, socket: SocketRef, auth: Option<Payload>) {
    let Some(session) = Shared::session(&socket) else {
        return;
    };
    if shared.settings().monitoring.enable_connection_logging {
        tracing::info!(socket = %socket.id, ns = socket.ns(), audience = %session.audience().room, "connected");
    }
    if shared.connect_hooks.is_empty() {
        return;
    }
    let connected = Connected {
        io: Io {
            shared: shared.clone(),
        },
        socket: SocketHandle {
            socket: socket.clone(),
            session,
        },
        auth: auth.unwrap_or(Payload::Object(Vec::new())),
    };
    for hook in &shared.connect_hooks {
        hook(connected.clone()).await;
    }
}

/// Joins the socket's rooms and installs its event handlers. Runs at the end of the
/// handshake, before the connect packet goes out: socketioxide runs the connect handler as
/// a task of its own, and an event arriving before that task had installed the handlers
/// would be lost.
fn install(shared: &Arc<Shared>, socket: &SocketRef) {
    let Some(session) = Shared::session(socket) else {
        return;
    };
    let settings = shared.settings();
    let audience = session.audience();
    socket.join([audience.room.clone(), socket.id.to_string()]);
    if shared.clustered() {
        // What other nodes need to address and list this socket.
        socket.join([
            strapi_io_core::rooms::socket_room(&session.public_id),
            session.who_room(),
        ]);
    }
    shared.register_public_id(&session, socket);
    shared.occupy(&audience.room);
    metrics::gauge!("strapi_io_connections", "audience" => audience.room.clone()).increment(1.0);
    if let Some(rooms) = settings.rooms.auto_join_by_role.get(audience.role_label()) {
        socket.join(rooms.clone());
    }
    shared.deadlines.schedule(&session, socket);

    on_event!(socket, shared, "join-room", |s, session, arg, sh| {
        join_room(&sh, &s, &session, arg.as_ref())
    });
    on_event!(socket, shared, "leave-room", |s, _session, arg, _sh| {
        match arg.as_ref().and_then(Value::as_str) {
            Some(name) => match validate_client_room(name) {
                Ok(()) => {
                    s.leave(name.to_string());
                    json!({"success": true, "room": name})
                }
                Err(e) => failure(e.to_string()),
            },
            None => failure("Invalid room name"),
        }
    });
    on_event!(socket, shared, "get-rooms", |s, _session, _arg, _sh| {
        json!({"success": true, "rooms": visible_rooms(&s)})
    });
    on_event!(socket, shared, "whoami", |_s, session, _arg, _sh| {
        json!({
            "success": true,
            "id": session.public_id,
            "role": session.audience().role_label(),
            "user": session.user(),
        })
    });
    on_event!(socket, shared, "subscribe-entity", |s, session, arg, sh| {
        let arg = arg.unwrap_or(Value::Null);
        let r = sh
            .subscribe(&Member::here(&s, &session), arg.get("uid"), arg.get("id"))
            .await;
        serde_json::to_value(r).unwrap_or(Value::Null)
    });
    on_event!(
        socket,
        shared,
        "unsubscribe-entity",
        |s, session, arg, sh| {
            let arg = arg.unwrap_or(Value::Null);
            let r = sh
                .unsubscribe(&Member::here(&s, &session), arg.get("uid"), arg.get("id"))
                .await;
            serde_json::to_value(r).unwrap_or(Value::Null)
        }
    );
    on_event!(
        socket,
        shared,
        "get-entity-subscriptions",
        |s, _session, _arg, _sh| {
            let rooms = s.rooms();
            let subscriptions = subscriptions_in(rooms.iter().map(|r| &**r));
            json!({"success": true, "subscriptions": subscriptions})
        }
    );
    on_event!(socket, shared, "private-message", |s, session, arg, sh| {
        private_message(&sh, &s, &session, arg.as_ref()).await
    });
    on_event!(socket, shared, "refresh-token", |s, session, arg, sh| {
        crate::recheck::refresh_token(&sh, &s, &session, arg.as_ref()).await
    });

    for (name, handler) in &shared.handlers {
        let handler = handler.clone();
        let shared = shared.clone();
        let event_name = name.clone();
        socket.on(
            name.clone(),
            move |s: SocketRef, TryData(args): TryData<Args>, ack: AckSender| {
                let handler = handler.clone();
                let shared = shared.clone();
                let event_name = event_name.clone();
                async move {
                    let Some(session) = Shared::session(&s) else {
                        return;
                    };
                    match gate(&shared, &s, &session) {
                        Gate::Pass => {}
                        Gate::Drop => return,
                        Gate::Refuse(refused) => {
                            shared.answer(&s, ack, &refused);
                            return;
                        }
                    }
                    let event = ClientEvent {
                        io: Io {
                            shared: shared.clone(),
                        },
                        event: event_name,
                        socket: SocketHandle {
                            socket: s.clone(),
                            session,
                        },
                        args: args.unwrap_or_default(),
                    };
                    if let Some(reply) = handler(event).await {
                        shared.answer(&s, ack, &reply);
                    }
                }
            },
        );
    }

    let counters_owner = shared.clone();
    socket.on_disconnect(move |s: SocketRef, reason: DisconnectReason| {
        let shared = counters_owner.clone();
        async move {
            if let Some(session) = Shared::session(&s) {
                shared.deadlines.cancel(&session);
                shared.forget_public_id(&session);
                // Under the lock a re-check moves sockets with: the rooms left are the ones
                // the socket is counted in.
                let _moves = shared.subscribing.lock().unwrap_or_else(|e| e.into_inner());
                let audience = session.audience();
                shared.vacate(&audience.room);
                for room in s.rooms() {
                    if strapi_io_core::rooms::parse_entity_room(&room).is_some() {
                        shared.vacate(&strapi_io_core::rooms::scoped_entity_room(
                            &audience.room,
                            &room,
                        ));
                    }
                }
                metrics::gauge!("strapi_io_connections", "audience" => audience.room.clone())
                    .decrement(1.0);
            }
            if reason == DisconnectReason::HeartbeatTimeout {
                metrics::counter!("strapi_io_heartbeat_disconnects_total").increment(1);
                shared
                    .counters
                    .heartbeat_disconnects
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(socket = %s.id, "closed by the heartbeat: the client stopped answering or reading");
            } else if shared.settings().monitoring.enable_connection_logging {
                tracing::info!(socket = %s.id, ?reason, "disconnected");
            }
        }
    });
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
    let own = socket.id.to_string();
    let rooms = socket.rooms();
    if !rooms.iter().any(|r| **r == *name) {
        let joined = rooms
            .iter()
            .filter(|r| {
                ***r != *own
                    && validate_client_room(r).is_ok()
                    && !auto_joined.iter().any(|a| *a == ***r)
            })
            .count();
        let max = settings.rooms.max_rooms_per_socket;
        if joined >= max as usize {
            return failure(format!("Maximum rooms ({max}) reached"));
        }
    }
    socket.join(name.to_string());
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
    let target = match shared.locate_in(to, Some(sender.ns())).await {
        Ok(Some(target)) => target,
        Ok(None) => return failure("Target socket not found"),
        Err(e) => return failure(e.to_string()),
    };
    let timestamp = crate::directory::unix_millis();
    let payload = json!({
        "from": session.public_id,
        "fromUser": session.user(),
        "message": message,
        "timestamp": timestamp,
    });
    match target {
        Located::Here(target) => match target.emit("private-message", &payload) {
            Ok(()) => json!({"success": true}),
            Err(e) => {
                shared.sent_to_one(&target, Err(e));
                failure("Target socket not found")
            }
        },
        Located::There(target) => match target.emit("private-message", &payload).await {
            Ok(()) => json!({"success": true}),
            Err(e) => failure(shared.cluster_error("private-message", e).to_string()),
        },
    }
}
