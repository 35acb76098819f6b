//! Entity subscriptions: the subscribe/unsubscribe checks of SPEC §4 for a socket on any
//! node, keeping [`Occupancy`](crate::occupancy::Occupancy) up to date.

use serde_json::Value;
use strapi_io_core::rooms::{entity_room, is_valid_uid, parse_entity_room, scoped_entity_room};

use crate::bus::RemoteOp;
use crate::locate::{Located, Member};
use crate::shared::Shared;
use crate::types::{EntitySubscription, EntitySubscriptionResult};

impl Shared {
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
                let scoped = scoped_entity_room(&socket.data().audience().room, &room);
                let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
                if !rooms.contains(&room) {
                    if count_subscriptions(rooms.iter()) >= max {
                        return too_many();
                    }
                    socket.join([room.clone(), scoped.clone()]);
                    if !self.clustered() {
                        self.occupancy.occupy(&scoped);
                    }
                }
            }
            Located::There(r) => {
                if let Err(e) = r
                    .apply(self, RemoteOp::Join(vec![room.clone(), scoped]))
                    .await
                {
                    return EntitySubscriptionResult::err(e.to_string());
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
                let scoped = scoped_entity_room(&socket.data().audience().room, &room);
                if socket.in_room(&room) {
                    socket.leave([room.clone(), scoped.clone()]);
                    if !self.clustered() {
                        self.occupancy.vacate(&scoped);
                    }
                }
            }
            Located::There(r) => {
                if let Err(e) = r
                    .apply(self, RemoteOp::Leave(vec![room.clone(), scoped]))
                    .await
                {
                    return EntitySubscriptionResult::err(e.to_string());
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
