//! The values the `$io` API takes and returns, with the reference's field names.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::directory::UserInfo;

/// `emit({ event, schema, data })`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmitOptions {
    /// `create`, `update`, `delete` or a custom action.
    pub event: String,
    /// A content type uid, or a schema object carrying `uid` or `singularName`.
    pub schema: Value,
    /// The entry.
    #[serde(default)]
    pub data: Value,
    /// What clients get in the event's `meta` besides (strapi-io's addition).
    #[serde(default)]
    pub meta: EventMeta,
}

/// An event's `meta` (strapi-io's addition to the reference's `emit`): only what is declared
/// here is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMeta {
    /// The Strapi action behind an `update` that is not a save: `"publish"` or `"unpublish"`
    /// (so a client can tell an unpublish from a draft save). Sent as `meta.action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<StrapiAction>,
}

/// A Strapi action an `update` event may stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrapiAction {
    /// The document was published.
    Publish,
    /// The document was unpublished: it is a draft again.
    Unpublish,
}

impl EmitOptions {
    /// Shorthand for a uid and an entry.
    pub fn new(event: &str, uid: &str, data: Value) -> Self {
        EmitOptions {
            event: event.to_string(),
            schema: Value::String(uid.to_string()),
            data,
            meta: EventMeta::default(),
        }
    }

    /// The same, standing for Strapi's `action` (see [`EventMeta::action`]).
    pub fn with_action(mut self, action: Option<StrapiAction>) -> Self {
        self.meta.action = action;
        self
    }
}

/// `raw({ event, rooms, data })`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawOptions {
    /// Any event name.
    pub event: String,
    /// Only these rooms; every socket of `/` when absent or empty.
    #[serde(default)]
    pub rooms: Option<Vec<String>>,
    /// The payload (sensitive keys are stripped).
    #[serde(default)]
    pub data: Value,
}

/// What an `emit` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmitReport {
    /// The event name sent (`article:create`), when sent.
    pub event: Option<String>,
    /// Audiences a payload was prepared and sent for.
    pub audiences: usize,
    /// Why nothing was sent, when nothing was.
    pub skipped: Option<&'static str>,
    /// Set when the other nodes of the cluster could not be reached: only this node's
    /// clients got the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_error: Option<String>,
}

/// One socket as `getSocketsInRoom` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocketInfo {
    /// Socket id.
    pub id: String,
    /// The user, for JWT sockets.
    pub user: Option<UserInfo>,
    /// The role type, or the API token's name.
    pub role: String,
    /// The socket's rooms, its own id excluded.
    pub rooms: Vec<String>,
}

/// One socket as `getEntityRoomSockets` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySocket {
    /// Socket id.
    pub id: String,
    /// The user, for JWT sockets.
    pub user: Option<UserInfo>,
}

/// `{ success, room, uid, id }` or `{ success: false, error }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySubscriptionResult {
    /// Whether the operation succeeded.
    pub success: bool,
    /// The entity room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The content type uid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The entry id as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl EntitySubscriptionResult {
    pub(crate) fn ok(room: String, uid: &str, id: &Value) -> Self {
        EntitySubscriptionResult {
            success: true,
            room: Some(room),
            uid: Some(uid.to_string()),
            id: Some(id.clone()),
            error: None,
        }
    }

    pub(crate) fn err(error: impl Into<String>) -> Self {
        EntitySubscriptionResult {
            success: false,
            room: None,
            uid: None,
            id: None,
            error: Some(error.into()),
        }
    }
}

/// One entity subscription of a socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySubscription {
    /// Content type uid.
    pub uid: String,
    /// Entry id as subscribed.
    pub id: Value,
    /// The entity room.
    pub room: String,
}

/// `{ success, subscriptions }` or `{ success: false, error }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySubscriptions {
    /// Whether the socket was found.
    pub success: bool,
    /// The subscriptions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions: Option<Vec<EntitySubscription>>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One socket as the dashboard lists it (`Io::socket_details`): who, where, since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SocketDetails {
    /// Socket id.
    pub id: String,
    /// Its namespace (`/`, `/admin`).
    pub namespace: String,
    /// The node it is connected to (this node's id standalone).
    pub node: String,
    /// The user, for JWT sockets.
    pub user: Option<UserInfo>,
    /// The role type, or the API token's name.
    pub role: String,
    /// Its audience room (`io-role-public`, `io-token-<id>`).
    pub audience: String,
    /// Its rooms as users see them (its own id and the server's internal rooms left out):
    /// the audience room, private rooms, rooms it joined, entity rooms.
    pub rooms: Vec<String>,
    /// Its entity subscriptions (`api::article.article:1`).
    pub subscriptions: Vec<String>,
    /// `websocket` or `polling`.
    pub transport: String,
    /// The client's address, when known.
    pub address: Option<String>,
    /// When it connected, ms since the epoch.
    pub connected_at: i64,
}

/// Every socket of every node, as far as the nodes answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SocketListing {
    /// The sockets, in no particular order.
    pub sockets: Vec<SocketDetails>,
    /// Whether a node listed only part of its sockets (over 10,000 on one node).
    pub truncated: bool,
    /// Set when the other nodes could not be asked (only this node's sockets are listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_error: Option<String>,
}
