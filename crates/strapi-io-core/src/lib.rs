//! The pure domain of strapi-io: no I/O, no async, no transport.
//!
//! - [`schema`]: Strapi `schema.json` content types and components.
//! - [`access`]: client addresses, IP allow and deny lists.
//! - [`audience`]: roles and API tokens, read permission and realtime routing.
//! - [`auth`]: handshake credentials, JWT verification, API-token hashing.
//! - [`connect`]: the connect rules, for a handshake and for connected sockets alike.
//! - [`sanitize`]: per-audience removal of private, sensitive and unreadable data.
//! - [`format`](mod@format): the `v5` and `v4` wire formats.
//! - [`events`]: enabled content types, event names, the emit gate.
//! - [`rooms`]: room names and their validation.
//! - [`settings`]: the plugin's settings and their validation.
//! - [`populate`]: the `populate` option of a content type, and what a refetch asks and gets.
//! - [`settle`]: how long to wait for the rest of an action's webhook requests.
//! - [`webhook`]: Strapi webhook bodies, and merging the requests of one action.

pub mod access;
pub mod audience;
pub mod auth;
pub mod connect;
pub mod events;
pub mod format;
pub mod offset;
pub mod populate;
pub mod rooms;
pub mod sanitize;
pub mod schema;
pub mod settings;
pub mod settle;
pub mod webhook;

pub use audience::{Audience, AudienceKind, TokenType};
pub use schema::{ContentType, Schemas};
pub use settings::Settings;
