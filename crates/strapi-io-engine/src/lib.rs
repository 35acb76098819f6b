//! strapi-io-engine: a Socket.IO server engine with no Strapi knowledge, built for a small
//! cost per connection.
//!
//! - [`Engine`] serves HTTP requests under the Socket.IO path: Engine.IO v4 and v3
//!   (long-polling, WebSocket, the upgrade between them, the heartbeat) and Socket.IO
//!   protocol v5 and v4 (namespaces, connect with auth, events, acks, binary attachments).
//! - A [`Handler`] is the application: what it keeps of a session's opening request, who may
//!   join a namespace, what to do with events. One handler serves every socket.
//! - [`Namespace`] holds the sockets and rooms; [`Namespace::broadcast`] encodes a
//!   [`Packet`] once and queues it for every recipient.
//! - [`ws`] (RFC 6455 framing) and [`proto`] (Engine.IO and Socket.IO codecs) are I/O-free.
//!
//! Per connection: one task for a WebSocket (reads, writes, heartbeat; reads into a
//! per-thread buffer, writes framed into another), one small heartbeat task for a polling
//! session; the outgoing queue is allocated on demand and bounded by `maxBufferSize`.
//! CORS is left to the HTTP stack in front (e.g. tower-http).
//!
//! How the modules depend on each other, top to bottom: `engine` (the public front) →
//! `http` (the request edge) → `open`, `polling`, `websocket` (the transports) → `eio`
//! (Engine.IO packets) → `sio` (Socket.IO packets) → `state` (settings, namespaces, sessions)
//! → the data model; `response`, `packet`, `id`, `config`, `proto` and `ws` are leaves. The
//! data model is the one knot, on purpose: a session (`conn`) carries its namespace sockets,
//! a socket (`socket`) knows its session and namespace, a namespace holds its sockets, and the
//! application's `handler` is called with sockets and sessions — four files, one structure.

mod config;
mod conn;
mod eio;
mod engine;
mod handler;
mod http;
mod id;
mod namespace;
mod open;
mod packet;
mod polling;
pub mod proto;
mod response;
mod sio;
mod socket;
mod state;
mod websocket;
pub mod ws;

pub use config::EngineConfig;
pub use conn::{Conn, SendError, Transport};
pub use engine::Engine;
pub use handler::{ConnectError, DisconnectReason, Event, Handler, Joined, Refusal, Restore};
pub use id::Id;
pub use namespace::{Delivery, Namespace, Target};
pub use packet::Packet;
pub use socket::{Rooms, Socket, SocketRef};
