//! Custom client events (the plugin's `events` config): handlers registered on the
//! builder, called with the sending socket and the event's arguments, whose answer becomes
//! the ack; and hooks run when a socket connects.

use std::future::Future;
use std::sync::Arc;

use crate::directory::{BoxFuture, UserInfo};
use crate::errors::{Cause, IoError};
use crate::io::Io;
use crate::payload::{Args, Payload};
use crate::shared::SocketRef;

/// The socket an event came from, or that just connected.
#[derive(Clone)]
pub struct SocketHandle {
    pub(crate) socket: SocketRef,
    /// The server, held weakly (a handle kept by a handler does not keep it alive).
    pub(crate) shared: std::sync::Weak<crate::shared::Shared>,
}

impl std::fmt::Debug for SocketHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketHandle")
            .field("id", &self.id())
            .field("namespace", &self.namespace())
            .finish_non_exhaustive()
    }
}

impl SocketHandle {
    /// The socket id (what the client sees as `socket.id`).
    pub fn id(&self) -> String {
        self.socket.id().to_string()
    }

    /// The namespace (`/`, `/admin`).
    pub fn namespace(&self) -> &str {
        self.socket.ns()
    }

    /// The user, for JWT sockets (as it is now: a role change in Strapi shows here).
    pub fn user(&self) -> Option<UserInfo> {
        self.socket.data().user()
    }

    /// The role type, or the API token's name (as it is now).
    pub fn role(&self) -> String {
        self.socket.data().audience().role_label().to_string()
    }

    /// Sends an event with these arguments to this socket only, as given (no sanitizing:
    /// it is the handler's own data).
    pub fn emit(&self, event: &str, args: &Args) -> Result<(), IoError> {
        let (texts, attachments) = args.to_wire();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let sent = match self.shared.upgrade() {
            Some(shared) => shared.send_to(&self.socket, event, &texts, attachments),
            None => Err(strapi_io_engine::SendError::Closed),
        };
        sent.map_err(|e| IoError::Transport(Cause::new(e)))
    }
}

/// A client event handed to a custom handler.
#[derive(Debug, Clone)]
pub struct ClientEvent {
    /// The server.
    pub io: Io,
    /// The sender.
    pub socket: SocketHandle,
    /// The event name.
    pub event: String,
    /// The arguments, binary attachments included.
    pub args: Args,
}

/// A socket that has just connected.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The server.
    pub io: Io,
    /// The socket.
    pub socket: SocketHandle,
    /// The handshake's `auth` payload (`{}` when none was sent).
    pub auth: Payload,
}

/// A custom event handler: its `Some(args)` answer is the ack.
pub type EventHandler = Arc<dyn Fn(ClientEvent) -> BoxFuture<'static, Option<Args>> + Send + Sync>;

/// A connect hook.
pub type ConnectHook = Arc<dyn Fn(Connected) -> BoxFuture<'static, ()> + Send + Sync>;

pub(crate) fn event_handler<F, Fut>(f: F) -> EventHandler
where
    F: Fn(ClientEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<Args>> + Send + 'static,
{
    Arc::new(move |e| Box::pin(f(e)))
}

pub(crate) fn connect_hook<F, Fut>(f: F) -> ConnectHook
where
    F: Fn(Connected) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |c| Box::pin(f(c)))
}
