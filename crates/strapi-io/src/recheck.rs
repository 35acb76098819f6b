//! Connected sockets follow Strapi: when the directory announces a change (or `invalidate`
//! is called), every concerned socket is checked again as a new handshake would be — a
//! blocked or deleted user, a revoked or expired API token, a role that may no longer
//! connect is told why (`server-disconnect {reason}`) and disconnected; a user whose role
//! changed moves to the new audience room, its entity subscriptions re-checked. Also the
//! `refresh-token` client event, which hands a fresh JWT to an open connection.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use serde_json::{Value, json};
use strapi_io_core::Audience;
use strapi_io_core::auth::{AuthError, Credential};
use strapi_io_core::rooms::{parse_entity_room, scoped_entity_room};
use tokio::sync::broadcast::error::RecvError;

use crate::connection::check_audience;
use crate::delivery::disconnect_with_reason;
use crate::directory::{DirectoryChange, Identity, Subject};
use crate::session::Session;
use crate::shared::Shared;
use crate::shared::SocketRef;

/// Longest token `refresh-token` reads (a Strapi JWT is a few hundred bytes).
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What re-checking one socket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing changed.
    Same,
    /// Same audience room, new permissions or user details.
    Updated,
    /// Moved to another audience.
    Moved,
}

/// Re-checks connected sockets on every change the directory announces, while the server
/// lives.
pub(crate) async fn watch(
    shared: Weak<Shared>,
    mut changes: tokio::sync::broadcast::Receiver<DirectoryChange>,
) {
    loop {
        let mut change = match changes.recv().await {
            Ok(change) => change,
            Err(RecvError::Lagged(_)) => DirectoryChange::All,
            Err(RecvError::Closed) => return,
        };
        // Changes that piled up meanwhile are checked in the same pass.
        loop {
            match changes.try_recv() {
                Ok(more) => change = merge(change, more),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                    change = DirectoryChange::All;
                }
                Err(_) => break,
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        recheck_sockets(&shared, &change).await;
    }
}

fn merge(a: DirectoryChange, b: DirectoryChange) -> DirectoryChange {
    match (a, b) {
        (DirectoryChange::Users(mut x), DirectoryChange::Users(y)) => {
            x.extend(y);
            DirectoryChange::Users(x)
        }
        _ => DirectoryChange::All,
    }
}

/// Re-checks this node's sockets concerned by `change`.
pub(crate) async fn recheck_sockets(shared: &Arc<Shared>, change: &DirectoryChange) {
    let users: Option<std::collections::HashSet<&str>> = match change {
        DirectoryChange::All => None,
        DirectoryChange::Users(ids) => Some(ids.iter().map(String::as_str).collect()),
    };
    let mut sockets = Vec::new();
    for ns in &shared.namespaces {
        let Some(namespace) = shared.engine.of(ns.as_str()) else {
            continue;
        };
        for socket in namespace.sockets(strapi_io_engine::Target::default()) {
            let session = socket.data();
            if session.closing.load(Ordering::Acquire) {
                continue;
            }
            let concerned = match (&users, &session.subject) {
                (None, _) => true,
                (Some(ids), Subject::User(id)) => ids.contains(id.as_str()),
                (Some(_), _) => false,
            };
            if concerned {
                sockets.push(socket);
            }
        }
    }
    if sockets.is_empty() {
        return;
    }
    shared.counters.rechecks.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("strapi_io_access_rechecks_total").increment(1);
    let mut index = HashMap::new();
    let mut subjects = Vec::new();
    for socket in &sockets {
        let session = socket.data();
        index.entry(session.subject.clone()).or_insert_with(|| {
            subjects.push(session.subject.clone());
            subjects.len() - 1
        });
    }
    let answers = shared.directory.recheck(&subjects).await;
    let (mut revoked, mut moved) = (0usize, 0usize);
    for socket in sockets {
        let session = socket.data();
        let Some(answer) = index.get(&session.subject).and_then(|i| answers.get(*i)) else {
            continue;
        };
        let result = match answer {
            // The directory cannot tell: the socket stays as it is.
            Err(AuthError::Unavailable) => continue,
            Err(refusal) => Err(refusal.clone()),
            Ok(identity) => apply_identity(shared, &socket, session, identity.clone()),
        };
        match result {
            Ok(Outcome::Moved) => moved += 1,
            Ok(_) => {}
            Err(reason) => {
                if revoke(shared, &socket, &reason) {
                    revoked += 1;
                }
            }
        }
    }
    if revoked + moved > 0 {
        tracing::info!(
            revoked,
            moved,
            "directory changed: connected sockets re-checked"
        );
    }
}

/// Disconnects a socket whose access ended, with the reason; counted.
fn revoke(shared: &Shared, socket: &SocketRef, reason: &AuthError) -> bool {
    let text = reason.to_string();
    if !disconnect_with_reason(socket, &text) {
        return false;
    }
    shared.counters.revoked.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("strapi_io_access_revocations_total", "reason" => text.clone()).increment(1);
    tracing::info!(socket = %socket.id(), reason = %text, "disconnected: access revoked");
    true
}

/// Applies a socket's current identity: refused if its audience may not connect; else its
/// audience, user and (API tokens) expiry are replaced, and when the audience room differs
/// the socket moves — audience room, role rooms, cluster info room, entity subscriptions
/// (kept where the new audience may read them, dropped elsewhere).
pub(crate) fn apply_identity(
    shared: &Shared,
    socket: &SocketRef,
    session: &Session,
    identity: Identity,
) -> Result<Outcome, AuthError> {
    let live = shared.settings();
    check_audience(&live, &identity.audience)?;
    if matches!(session.subject, Subject::ApiToken(_)) {
        session.set_expires_at(identity.expires_at);
        shared.deadlines.schedule(session, socket);
    }
    // Room moves and subscriptions are made under one lock (see `Shared::subscribe`).
    let _one_at_a_time = shared.subscribing.lock().unwrap_or_else(|e| e.into_inner());
    let before = session.audience();
    let user_changed = session.user() != identity.user;
    if Arc::ptr_eq(&before, &identity.audience) && !user_changed {
        return Ok(Outcome::Same);
    }
    let old_who = shared.clustered().then(|| session.who_room(socket.id()));
    let after = identity.audience.clone();
    session.replace(identity.audience, identity.user);
    if let Some(old_who) = old_who {
        let new_who = session.who_room(socket.id());
        if new_who != old_who {
            socket.leave(old_who);
            socket.join(new_who);
        }
    }
    let moved = before.room != after.room;
    if moved {
        socket.leave(before.room.clone());
        socket.join(after.room.clone());
        shared.occupancy.vacate(&before.room);
        shared.occupancy.occupy(&after.room);
        metrics::gauge!("strapi_io_connections", "audience" => before.room.clone()).decrement(1.0);
        metrics::gauge!("strapi_io_connections", "audience" => after.room.clone()).increment(1.0);
        move_role_rooms(&live, socket, &before, &after);
        shared.counters.moves.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_audience_moves_total").increment(1);
    }
    recheck_subscriptions(shared, socket, &before, &after);
    Ok(if moved {
        Outcome::Moved
    } else {
        Outcome::Updated
    })
}

/// Leaves the rooms `autoJoinByRole` gave the old role (and not the new), joins the new
/// role's.
fn move_role_rooms(
    live: &crate::live::Live,
    socket: &SocketRef,
    before: &Audience,
    after: &Audience,
) {
    let by_role = &live.rooms.auto_join_by_role;
    let new_rooms = by_role.get(after.role_label()).cloned().unwrap_or_default();
    if let Some(old_rooms) = by_role.get(before.role_label()) {
        let gone: Vec<String> = old_rooms
            .iter()
            .filter(|r| !new_rooms.contains(r))
            .cloned()
            .collect();
        if !gone.is_empty() {
            socket.leave(gone);
        }
    }
    if !new_rooms.is_empty() {
        socket.join(new_rooms);
    }
}

/// Entity subscriptions under a new audience: kept (in the new audience's scoped room)
/// where it may read the content type, dropped where it may not.
fn recheck_subscriptions(shared: &Shared, socket: &SocketRef, before: &Audience, after: &Audience) {
    let clustered = shared.clustered();
    for room in socket.rooms() {
        let Some((uid, _)) = parse_entity_room(&room) else {
            continue;
        };
        let old_scoped = scoped_entity_room(&before.room, &room);
        let new_scoped = scoped_entity_room(&after.room, &room);
        if !after.can_read(uid) {
            socket.leave([room.to_string(), old_scoped.clone()]);
            if !clustered {
                shared.occupancy.vacate(&old_scoped);
            }
            shared
                .counters
                .dropped_subscriptions
                .fetch_add(1, Ordering::Relaxed);
        } else if old_scoped != new_scoped {
            socket.leave(old_scoped.clone());
            socket.join(new_scoped.clone());
            if !clustered {
                shared.occupancy.vacate(&old_scoped);
                shared.occupancy.occupy(&new_scoped);
            }
        }
    }
}

fn failure(error: impl Into<String>) -> Value {
    json!({"success": false, "error": error.into()})
}

/// `refresh-token {token}`: a fresh JWT for the socket's own user extends its session to
/// the new token's `exp` (and applies the user's current role); the ack is `{success,
/// expiresAt}` or `{success: false, error}`. A refused refresh leaves the socket as it
/// was (it still expires at the old `exp`).
pub(crate) async fn refresh_token(
    shared: &Shared,
    socket: &SocketRef,
    session: &Session,
    arg: Option<&Value>,
) -> Value {
    let refused = |error: String| {
        shared
            .counters
            .refused_refreshes
            .fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_token_refreshes_total", "outcome" => "refused").increment(1);
        failure(error)
    };
    let Subject::User(_) = &session.subject else {
        return refused("Only a socket signed in with a JWT can refresh its token".into());
    };
    let Some(token) = arg
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return refused("Invalid parameters: token is required".into());
    };
    if token.len() > MAX_TOKEN_LEN {
        return refused(AuthError::InvalidCredentials.to_string());
    }
    let credential = Credential::Jwt(token.to_string());
    let identity = match shared.directory.authenticate(Some(&credential)).await {
        Ok(identity) => identity,
        Err(e) => return refused(e.to_string()),
    };
    if identity.subject != session.subject {
        return refused("Token belongs to another user".into());
    }
    let expires_at = identity.expires_at;
    if let Err(reason) = apply_identity(shared, socket, session, identity) {
        revoke(shared, socket, &reason);
        return refused(reason.to_string());
    }
    session.set_expires_at(expires_at);
    shared.deadlines.schedule(session, socket);
    shared.counters.refreshes.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("strapi_io_token_refreshes_total", "outcome" => "ok").increment(1);
    json!({"success": true, "expiresAt": expires_at})
}
