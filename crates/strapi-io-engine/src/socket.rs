//! [`Socket`]: one client's connection to one namespace — its id (random per namespace
//! connection, distinct from the Engine.IO session id), its rooms, the application's data,
//! and sending to it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::conn::{Conn, SendError};
use crate::handler::{DisconnectReason, Handler};
use crate::id::Id;
use crate::namespace::Namespace;
use crate::packet::Packet;

/// A shared socket.
pub type SocketRef<H> = Arc<Socket<H>>;

/// One client's connection to one namespace.
pub struct Socket<H: Handler> {
    pub(crate) id: Id,
    ns: Arc<Namespace<H>>,
    conn: Arc<Conn<H>>,
    pub(crate) slot: u32,
    /// Rooms joined, names shared with the namespace's index; changed under its lock.
    rooms: Mutex<Vec<Arc<str>>>,
    connected: AtomicBool,
    data: H::Socket,
}

impl<H: Handler> std::fmt::Debug for Socket<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .field("ns", &self.ns.name())
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Socket<H> {
    pub(crate) fn new(
        id: Id,
        ns: Arc<Namespace<H>>,
        conn: Arc<Conn<H>>,
        slot: u32,
        data: H::Socket,
    ) -> Self {
        Socket {
            id,
            ns,
            conn,
            slot,
            rooms: Mutex::new(Vec::new()),
            connected: AtomicBool::new(true),
            data,
        }
    }

    /// The socket id (20 characters; what the client sees as `socket.id`).
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// The namespace's name.
    pub fn ns(&self) -> &str {
        self.ns.name()
    }

    /// The namespace.
    pub fn namespace(&self) -> &Arc<Namespace<H>> {
        &self.ns
    }

    /// The Engine.IO session carrying the socket.
    pub fn conn(&self) -> &Arc<Conn<H>> {
        &self.conn
    }

    /// What the application keeps for this socket.
    pub fn data(&self) -> &H::Socket {
        &self.data
    }

    /// Whether the socket is still in its namespace.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Queues a packet (built for this socket's namespace) for this socket.
    pub fn send(&self, packet: &Packet) -> Result<(), SendError> {
        if !self.connected() {
            return Err(SendError::Closed);
        }
        self.conn.send(packet, self.ns.max_buffer)
    }

    /// Queues a packet past the buffer bound: for the packets a client must get even when
    /// its queue is full — why it is being disconnected, or (bounded by the application)
    /// what it missed while it was reconnecting.
    pub fn send_urgent(&self, packet: &Packet) -> Result<(), SendError> {
        if !self.connected() {
            return Err(SendError::Closed);
        }
        self.conn.send(packet, usize::MAX)
    }

    /// Sends an event with one JSON argument.
    pub fn emit<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), SendError> {
        let packet = Packet::event_json(self.ns(), event, data).map_err(|_| SendError::Closed)?;
        self.send(&packet)
    }

    /// Answers the client's ack `id`.
    pub fn ack(
        &self,
        id: u64,
        args: &[&str],
        attachments: Vec<bytes::Bytes>,
    ) -> Result<(), SendError> {
        self.send(&Packet::ack(self.ns(), id, args, attachments))
    }

    /// Joins rooms (one name, or a list).
    pub fn join<'a>(&self, rooms: impl Rooms<'a>) {
        let rooms = rooms.into_rooms();
        let rooms: Vec<&str> = rooms.iter().map(|r| &**r).collect();
        self.ns.join(self, &rooms);
    }

    /// Leaves rooms (one name, or a list).
    pub fn leave<'a>(&self, rooms: impl Rooms<'a>) {
        let rooms = rooms.into_rooms();
        let rooms: Vec<&str> = rooms.iter().map(|r| &**r).collect();
        self.ns.leave(self, &rooms);
    }

    /// The rooms joined (the socket's own id not included).
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.lock_rooms().clone()
    }

    /// Whether the socket joined `room`.
    pub fn in_room(&self, room: &str) -> bool {
        self.lock_rooms().iter().any(|r| &**r == room)
    }

    fn lock_rooms(&self) -> std::sync::MutexGuard<'_, Vec<Arc<str>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push_room(&self, room: Arc<str>) {
        self.lock_rooms().push(room);
    }

    pub(crate) fn remove_room(&self, room: &str) -> bool {
        let mut rooms = self.lock_rooms();
        match rooms.iter().position(|r| &**r == room) {
            Some(i) => {
                rooms.swap_remove(i);
                if rooms.is_empty() {
                    rooms.shrink_to_fit();
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn take_rooms(&self) -> Vec<Arc<str>> {
        std::mem::take(&mut *self.lock_rooms())
    }

    /// Disconnects the socket from its namespace: the client gets `DISCONNECT` (and its
    /// `disconnect` event with "io server disconnect"); the connection stays for its other
    /// namespaces. Returns `false` when it was disconnected already.
    pub fn disconnect(self: &Arc<Self>) -> bool {
        if !self.leave_namespace(DisconnectReason::ServerNamespaceDisconnect) {
            return false;
        }
        // Past the buffer bound: the client must learn it was disconnected.
        self.conn
            .send(&Packet::disconnect(self.ns()), usize::MAX)
            .ok();
        true
    }

    /// Takes the socket out of its namespace and its session. The application is told
    /// first, while the socket is still in its rooms (as Node's `disconnecting`).
    pub(crate) fn leave_namespace(self: &Arc<Self>, reason: DisconnectReason) -> bool {
        if !self.connected.swap(false, Ordering::AcqRel) {
            return false;
        }
        self.ns.handler.disconnected(self, reason);
        self.ns.remove(self);
        self.conn.forget(self, self.ns.connect_timeout);
        true
    }
}

/// Room names given to [`Socket::join`] and [`Socket::leave`]: one, or a list.
pub trait Rooms<'a> {
    /// The names.
    fn into_rooms(self) -> Vec<std::borrow::Cow<'a, str>>;
}

impl<'a> Rooms<'a> for &'a str {
    fn into_rooms(self) -> Vec<std::borrow::Cow<'a, str>> {
        vec![self.into()]
    }
}

impl<'a> Rooms<'a> for String {
    fn into_rooms(self) -> Vec<std::borrow::Cow<'a, str>> {
        vec![self.into()]
    }
}

impl<'a> Rooms<'a> for &'a String {
    fn into_rooms(self) -> Vec<std::borrow::Cow<'a, str>> {
        vec![self.as_str().into()]
    }
}

impl<'a> Rooms<'a> for Vec<String> {
    fn into_rooms(self) -> Vec<std::borrow::Cow<'a, str>> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<'a, const N: usize> Rooms<'a> for [String; N] {
    fn into_rooms(self) -> Vec<std::borrow::Cow<'a, str>> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<'a, const N: usize> Rooms<'a> for [&'a str; N] {
    fn into_rooms(self) -> Vec<std::borrow::Cow<'a, str>> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<'a> Rooms<'a> for &'a [&'a str] {
    fn into_rooms(self) -> Vec<std::borrow::Cow<'a, str>> {
        self.iter().map(|r| (*r).into()).collect()
    }
}

impl<'a> Rooms<'a> for &'a [String] {
    fn into_rooms(self) -> Vec<std::borrow::Cow<'a, str>> {
        self.iter().map(|r| r.as_str().into()).collect()
    }
}
