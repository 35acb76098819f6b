//! The life of a socket: the handshake middleware (credentials, connect rights, the
//! connection limit), joining its rooms on connect, and the client events of SPEC §4.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use strapi_io_core::AudienceKind;
use strapi_io_core::auth::{AuthError, credential_from_handshake};
use strapi_io_core::rooms::validate_client_room;

use crate::io::{ConnectionSlot, Session, Shared, visible_rooms};

/// Longest `private-message` text, in characters.
const MAX_MESSAGE_CHARS: usize = 10_000;

/// The value of `name` in a URL query string, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Runs before a socket joins a namespace; an `Err` becomes the client's `connect_error`.
pub(crate) async fn handshake(
    shared: Arc<Shared>,
    socket: SocketRef,
    auth: Option<Value>,
) -> Result<(), AuthError> {
    let settings = shared.settings();
    let query_token = query_param(socket.req_parts().uri.query(), "token");
    let credential = credential_from_handshake(auth.as_ref(), query_token.as_deref())?;
    if credential.is_none() {
        if settings.security.require_authentication {
            return Err(AuthError::AuthenticationRequired);
        }
        let ns = socket.ns();
        let bare = ns.trim_start_matches('/');
        if settings
            .namespaces
            .list
            .get(bare)
            .or_else(|| settings.namespaces.list.get(ns))
            .is_some_and(|n| n.require_auth)
        {
            return Err(AuthError::NamespaceRequiresAuth(ns.to_string()));
        }
    }
    let identity = shared.directory.authenticate(credential.as_ref()).await?;
    if let AudienceKind::Role { role_type } = &identity.audience.kind
        && settings
            .role_permissions
            .get(role_type)
            .is_some_and(|r| !r.can_connect)
    {
        return Err(AuthError::RoleNotAllowed(identity.audience.name.clone()));
    }
    let slot = ConnectionSlot::acquire(&shared.connections, settings.connection.max_connections)
        .ok_or(AuthError::MaxConnections)?;
    socket.extensions.insert(Arc::new(Session {
        audience: identity.audience,
        user: identity.user,
        subscriptions: Mutex::new(BTreeMap::new()),
        _slot: slot,
    }));
    Ok(())
}

/// Runs once a socket is connected: joins its rooms and installs the event handlers.
pub(crate) fn on_connect(shared: Arc<Shared>, socket: SocketRef) {
    let Some(session) = Shared::session(&socket) else {
        // The middleware always stores a session; without one the socket cannot be served.
        let _ = socket.disconnect();
        return;
    };
    let settings = shared.settings();
    socket.join([session.audience.room.clone(), socket.id.to_string()]);
    if let Some(rooms) = settings
        .rooms
        .auto_join_by_role
        .get(session.audience.role_label())
    {
        socket.join(rooms.clone());
    }
    if settings.monitoring.enable_connection_logging {
        tracing::info!(socket = %socket.id, ns = socket.ns(), audience = %session.audience.room, "connected");
    }

    {
        let shared = shared.clone();
        socket.on(
            "join-room",
            move |socket: SocketRef, TryData(room): TryData<Value>, ack: AckSender| {
                let shared = shared.clone();
                async move {
                    let reply = join_room(&shared, &socket, room.ok().as_ref());
                    let _ = ack.send(&reply);
                }
            },
        );
    }
    socket.on(
        "leave-room",
        |socket: SocketRef, TryData(room): TryData<Value>, ack: AckSender| async move {
            let reply = match room.ok().as_ref().and_then(Value::as_str) {
                Some(name) => match validate_client_room(name) {
                    Ok(()) => {
                        socket.leave(name.to_string());
                        json!({"success": true, "room": name})
                    }
                    Err(e) => failure(e.to_string()),
                },
                None => failure("Invalid room name"),
            };
            let _ = ack.send(&reply);
        },
    );
    socket.on(
        "get-rooms",
        |socket: SocketRef, ack: AckSender| async move {
            let _ = ack.send(&json!({"success": true, "rooms": visible_rooms(&socket)}));
        },
    );
    {
        let shared = shared.clone();
        socket.on(
            "subscribe-entity",
            move |socket: SocketRef, TryData(arg): TryData<Value>, ack: AckSender| {
                let shared = shared.clone();
                async move {
                    let arg = arg.unwrap_or(Value::Null);
                    let reply = match Shared::session(&socket) {
                        Some(session) => {
                            shared
                                .subscribe(&socket, &session, arg.get("uid"), arg.get("id"))
                                .await
                        }
                        None => return,
                    };
                    let _ = ack.send(&reply);
                }
            },
        );
    }
    {
        let shared = shared.clone();
        socket.on(
            "unsubscribe-entity",
            move |socket: SocketRef, TryData(arg): TryData<Value>, ack: AckSender| {
                let shared = shared.clone();
                async move {
                    let arg = arg.unwrap_or(Value::Null);
                    let Some(session) = Shared::session(&socket) else {
                        return;
                    };
                    let reply =
                        shared.unsubscribe(&socket, &session, arg.get("uid"), arg.get("id"));
                    let _ = ack.send(&reply);
                }
            },
        );
    }
    socket.on(
        "get-entity-subscriptions",
        |socket: SocketRef, ack: AckSender| async move {
            let Some(session) = Shared::session(&socket) else {
                return;
            };
            let subs = Shared::subscriptions_of(&session);
            let _ = ack.send(&json!({"success": true, "subscriptions": subs}));
        },
    );
    {
        let shared = shared.clone();
        socket.on(
            "private-message",
            move |socket: SocketRef, TryData(arg): TryData<Value>, ack: AckSender| {
                let shared = shared.clone();
                async move {
                    let reply = private_message(&shared, &socket, arg.ok().as_ref());
                    let _ = ack.send(&reply);
                }
            },
        );
    }
    socket.on_disconnect(|socket: SocketRef| async move {
        tracing::debug!(socket = %socket.id, "disconnected");
    });
}

fn failure(error: impl Into<String>) -> Value {
    json!({"success": false, "error": error.into()})
}

fn join_room(shared: &Shared, socket: &SocketRef, room: Option<&Value>) -> Value {
    let Some(name) = room.and_then(Value::as_str) else {
        return failure("Invalid room name");
    };
    if let Err(e) = validate_client_room(name) {
        return failure(e.to_string());
    }
    let settings = shared.settings();
    if !settings.rooms.enable_private_rooms {
        let allowed = Shared::session(socket).is_some_and(|s| {
            settings
                .rooms
                .auto_join_by_role
                .get(s.audience.role_label())
                .is_some_and(|rooms| rooms.iter().any(|r| r == name))
        });
        if !allowed {
            return failure("Private rooms are disabled");
        }
    }
    socket.join(name.to_string());
    json!({"success": true, "room": name})
}

fn private_message(shared: &Shared, socket: &SocketRef, arg: Option<&Value>) -> Value {
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
    let Some(target) = shared.socket(to) else {
        return failure("Target socket not found");
    };
    let from_user = Shared::session(socket).and_then(|s| s.user.clone());
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let payload = json!({
        "from": socket.id.to_string(),
        "fromUser": from_user,
        "message": message,
        "timestamp": timestamp,
    });
    match target.emit("private-message", &payload) {
        Ok(()) => json!({"success": true}),
        Err(_) => failure("Target socket not found"),
    }
}
