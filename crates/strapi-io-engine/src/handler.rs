//! [`Handler`]: what an application plugs into the engine — what it keeps of a session's
//! opening request, who may join a namespace, and what to do with events — plus the types
//! passed to it.

use std::future::Future;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::conn::Conn;
use crate::socket::SocketRef;

/// The application side of the engine. One value serves every connection: there are no
/// per-socket handler tables.
pub trait Handler: Send + Sync + Sized + 'static {
    /// What the application keeps of a session's opening request for the session's life
    /// (the engine keeps nothing else of the request).
    type Conn: Send + Sync + 'static;
    /// What the application keeps per namespace socket.
    type Socket: Send + Sync + 'static;

    /// A new Engine.IO session is being opened by this request (a polling handshake, or a
    /// WebSocket without `sid`). `Err` answers the request with the refusal instead.
    fn open(&self, request: &http::request::Parts) -> Result<Self::Conn, Refusal>;

    /// The client asks to join the served namespace `ns` with this `auth` payload (Socket.IO
    /// v5; `None` when it sent none, and always for v4 clients). `Err` is sent back as
    /// `CONNECT_ERROR {message, data}`; `Ok` may restore a socket that lost its transport
    /// (connection state recovery: its id and rooms; see [`Joined`]).
    fn connect(
        &self,
        conn: &std::sync::Arc<Conn<Self>>,
        ns: &str,
        auth: Option<&RawValue>,
    ) -> impl Future<Output = Result<Joined<Self::Socket>, ConnectError>> + Send + 'static;

    /// Puts an admitted socket into namespace `ns`, once its `CONNECT` reply is queued: `add`
    /// adds it and joins the rooms of the socket it continues (see [`Joined::restore`]).
    /// The application may wrap it to order it with its own sends — e.g. under the lock its
    /// broadcasts hold, queueing what a recovering client missed before any newer packet
    /// can reach the socket. By default, just `add()`.
    fn attach(&self, ns: &str, add: impl FnOnce() -> SocketRef<Self>) -> SocketRef<Self> {
        let _ = ns;
        add()
    }

    /// The socket has joined its namespace: its `CONNECT` reply is queued, and anything it
    /// is sent from here on follows it.
    fn connected(
        &self,
        socket: SocketRef<Self>,
        auth: Option<Box<RawValue>>,
    ) -> impl Future<Output = ()> + Send + 'static;

    /// An event from the client. The future is polled once at once and spawned only if it
    /// does not complete then.
    fn event(
        &self,
        socket: SocketRef<Self>,
        event: Event,
    ) -> impl Future<Output = ()> + Send + 'static;

    /// The socket has left its namespace (it is no longer in any room).
    fn disconnected(&self, socket: &SocketRef<Self>, reason: DisconnectReason);

    /// The Engine.IO session has ended (after every socket of it was disconnected).
    fn closed(&self, _conn: &Conn<Self>) {}
}

/// An admitted namespace connect: the application's data for the socket, and — for
/// connection state recovery — the socket it continues and the private session id the
/// client presents next time.
#[derive(Debug)]
pub struct Joined<S> {
    /// What the application keeps for the socket.
    pub data: S,
    /// The earlier socket this one continues: its id and rooms are taken over (when the id
    /// is not in use). The application sends what the client missed from
    /// [`Handler::attach`]; it goes out after the `CONNECT` reply.
    pub restore: Option<Restore>,
    /// A private session id sent in the `CONNECT` reply (`{sid, pid}`, Socket.IO 4.6), which
    /// a reconnecting client presents in its auth with the offset of the last packet it got.
    pub pid: Option<String>,
}

impl<S> Joined<S> {
    /// A new socket with `data`, nothing restored.
    pub fn new(data: S) -> Self {
        Joined {
            data,
            restore: None,
            pid: None,
        }
    }
}

/// The socket a recovered connection continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    /// Its id.
    pub id: crate::Id,
    /// Its rooms.
    pub rooms: Vec<String>,
}

/// A refused opening request: the HTTP status and the Engine.IO error `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status (e.g. 403, 503).
    pub status: http::StatusCode,
    /// The Engine.IO error code (4 is "Forbidden").
    pub code: u8,
    /// The message.
    pub message: String,
}

/// A refused namespace connection, sent as `CONNECT_ERROR {message, data}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The message (`err.message` on the client).
    pub message: String,
    /// Extra data (`err.data` on the client), if any.
    pub data: Option<serde_json::Value>,
}

impl ConnectError {
    /// A refusal with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }
}

/// A client event.
#[derive(Debug)]
pub struct Event {
    /// The event name.
    pub name: String,
    /// The arguments after the name, as one JSON array text; binary arguments are
    /// placeholders `{"_placeholder":true,"num":N}` indexing `attachments`.
    pub args: Box<RawValue>,
    /// The binary attachments.
    pub attachments: Vec<Bytes>,
    /// The ack id, when the client waits for an answer.
    pub ack: Option<u64>,
}

/// Why a socket left its namespace (the texts are Node's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client disconnected the namespace (`socket.disconnect()` on the client).
    ClientNamespaceDisconnect,
    /// The server disconnected it.
    ServerNamespaceDisconnect,
    /// The client stopped answering (v4: no pong; v3: no ping).
    PingTimeout,
    /// The connection was closed by the client (or the network).
    TransportClose,
    /// The connection failed (an I/O error, a protocol error).
    TransportError,
    /// The client sent something the protocol does not allow.
    ParseError,
    /// The client stopped reading: a write stayed blocked for `pingInterval + pingTimeout`.
    SlowConsumer,
    /// The client closed its Engine.IO session.
    ForcedClose,
    /// The server closed the whole connection (shutdown).
    ServerShuttingDown,
}

impl DisconnectReason {
    /// The reason as Node's Socket.IO names it.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::SlowConsumer => "slow consumer",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ServerShuttingDown => "server shutting down",
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
