//! strapi-io: a Socket.IO server with the permission-aware `$io` API of Strapi's
//! Socket.IO plugin, embeddable in any axum/tower application.
//!
//! - [`IoBuilder`] assembles schemas, settings and a [`Directory`] into an [`IoLayer`]
//!   (put it on an axum `Router`) and an [`Io`] handle (the Rust `strapi.$io`);
//!   [`Io::serve`] serves the router with the edge bounded (header and body timeouts, limits
//!   on connections that have not sent a request yet, stalled writes closed).
//! - [`directory`] resolves handshake credentials to audiences; [`StaticDirectory`] is the
//!   one declared in a config file; [`StrapiDirectory`] reads a Strapi 5 database read-only
//!   (feature `strapi-directory`, on by default).
//! - Cluster mode (several nodes over Redis, `redis.enabled`) needs the `cluster` feature, on
//!   by default; without it a node is always standalone.
//! - [`load_schemas`] reads a Strapi project's `src/` tree.
//!
//! The pure domain (sanitizing, formats, permissions) lives in `strapi-io-core`, re-exported
//! as [`core`].
//!
//! How the modules depend on each other: leaves first — `live` (settings and derived rules),
//! `pending` (pending connections), `occupancy` (local room members), `session` (what a
//! socket keeps), `limits`, `payload`, `types`, `errors`, `directory`, `cluster`/`bus` —
//! then `shared` (the state every part works on, with `Runtime`, the engine's handler type),
//! then the parts that work on it (`locate`, `delivery`, `subscriptions`, `recheck`, `guard`),
//! then `connection` (the handler: handshake and client events), `io` (the public front) and
//! `serve` (the edge). One knot remains, on purpose: `shared` holds the application's event
//! handlers (`handlers`), which receive an [`Io`], which is a handle on `shared`; and the
//! expiry schedule (`expiry`) and the recovery logs (`recovery`: every event sent, the
//! sessions sockets leave behind) that `shared` holds work on sockets, whose type names the
//! runtime (`shared::SocketRef`). Breaking them would take a type parameter through every part
//! for no behaviour gained.

// The shared fixture checks (tests/fixture_checks) name the crate as its users do.
#[cfg(test)]
extern crate self as strapi_io;

mod builder;
mod bus;
mod cluster;
mod connection;
mod delivery;
pub mod directory;
mod errors;
mod expiry;
mod guard;
mod handlers;
mod io;
mod limits;
mod listing;
mod live;
mod locate;
mod monitor;
mod occupancy;
mod payload;
mod pending;
mod populate;
mod project;
mod recheck;
mod recovery;
mod remote;
mod serve;
mod session;
mod shared;
mod stats;
#[cfg(feature = "strapi-directory")]
pub mod strapi_directory;
mod subscriptions;
mod types;

pub use builder::{BUILT_IN_EVENTS, IoBuilder, IoLayer, Transport};
pub use cluster::{ClusterReport, ClusterStatus, NodeStats};
pub use delivery::DISCONNECT_REASON_EVENT;
pub use directory::{
    Directory, DirectoryChange, Identity, StaticDirectory, StaticDirectoryConfig, Subject, UserInfo,
};
pub use errors::{BuildError, Cause, IoError};
pub use guard::{ClientAddr, SessionGuard};
pub use handlers::{ClientEvent, ConnectHook, Connected, EventHandler, SocketHandle};
pub use io::{ConnectionsReport, Io};
pub use limits::FLOOD_TOLERANCE_SECONDS;
pub use monitor::{EventLogEntry, EventStats};
pub use payload::{Args, Payload};
pub use populate::{Populate, PopulateFuture};
pub use project::{ProjectError, load_schemas};
pub use recovery::RecoveryStats;
pub use stats::IoStats;
#[cfg(feature = "strapi-directory")]
pub use strapi_directory::{
    DirectoryHealth, StrapiDirectory, StrapiDirectoryError, StrapiDirectoryOptions, WatchStats,
};
pub use strapi_io_core as core;
pub use types::{
    EmitOptions, EmitReport, EntitySocket, EntitySubscription, EntitySubscriptionResult,
    EntitySubscriptions, EventMeta, RawOptions, SocketDetails, SocketInfo, SocketListing,
    StrapiAction,
};
