//! [`Namespace`]: the sockets connected to one namespace and its rooms, and the broadcast
//! that encodes a packet once and queues it for every recipient.
//!
//! Rooms are kept compact: a room name is allocated once (`Arc<str>`) and shared by the room
//! index and by each member's list; members are slot numbers. Every socket is also in the
//! room named by its own id, as in Node, without an entry for it: a room name that is the id
//! of a socket of this namespace reaches that socket.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::conn::{Conn, SendError};
use crate::handler::Handler;
use crate::id::Id;
use crate::packet::Packet;
use crate::socket::{Socket, SocketRef};

/// What a broadcast did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Sockets the packet was queued for.
    pub sent: usize,
    /// Sockets whose queue was full: the packet was not queued for them, and their
    /// connection is closed at its next heartbeat.
    pub full: usize,
}

/// Who a broadcast goes to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// The rooms (a socket in several counts once); empty: every socket of the namespace.
    pub rooms: &'a [&'a str],
    /// Sockets in any of these rooms are left out.
    pub except: &'a [&'a str],
}

pub(crate) struct Members<H: Handler> {
    slots: Vec<Option<SocketRef<H>>>,
    free: Vec<u32>,
    by_id: HashMap<Id, u32>,
    rooms: HashMap<Arc<str>, HashSet<u32>>,
}

/// One namespace (`/`, `/admin`).
pub struct Namespace<H: Handler> {
    name: Box<str>,
    members: RwLock<Members<H>>,
    pub(crate) max_buffer: usize,
    /// How long a session left without any namespace may stay.
    pub(crate) connect_timeout: std::time::Duration,
    pub(crate) handler: Arc<H>,
}

impl<H: Handler> std::fmt::Debug for Namespace<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Namespace<H> {
    pub(crate) fn new(
        name: &str,
        max_buffer: usize,
        connect_timeout: std::time::Duration,
        handler: Arc<H>,
    ) -> Arc<Self> {
        Arc::new(Namespace {
            name: name.into(),
            members: RwLock::new(Members {
                slots: Vec::new(),
                free: Vec::new(),
                by_id: HashMap::new(),
                rooms: HashMap::new(),
            }),
            max_buffer,
            connect_timeout,
            handler,
        })
    }

    /// The namespace's name (`/admin`).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn read(&self) -> RwLockReadGuard<'_, Members<H>> {
        self.members.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Members<H>> {
        self.members.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a socket (already announced to its client).
    pub(crate) fn add(
        self: &Arc<Self>,
        id: Id,
        conn: Arc<Conn<H>>,
        data: H::Socket,
    ) -> SocketRef<H> {
        let mut m = self.write();
        let slot = match m.free.pop() {
            Some(s) => s,
            None => {
                m.slots.push(None);
                u32::try_from(m.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let socket = Arc::new(Socket::new(id, self.clone(), conn, slot, data));
        if let Some(place) = m.slots.get_mut(slot as usize) {
            *place = Some(socket.clone());
        }
        m.by_id.insert(id, slot);
        socket
    }

    /// Takes a socket out of the namespace and every room. `false` when it was out already.
    pub(crate) fn remove(&self, socket: &Socket<H>) -> bool {
        let mut m = self.write();
        if m.by_id.get(&socket.id) != Some(&socket.slot) {
            return false;
        }
        m.by_id.remove(&socket.id);
        for room in socket.take_rooms() {
            if let Some(set) = m.rooms.get_mut(&room) {
                set.remove(&socket.slot);
                if set.is_empty() {
                    m.rooms.remove(&room);
                }
            }
        }
        if let Some(place) = m.slots.get_mut(socket.slot as usize) {
            *place = None;
        }
        m.free.push(socket.slot);
        true
    }

    /// Adds `socket` to `rooms` (under the namespace lock, so that the index and the
    /// socket's own list agree).
    pub(crate) fn join(&self, socket: &Socket<H>, rooms: &[&str]) {
        let mut m = self.write();
        if m.by_id.get(&socket.id) != Some(&socket.slot) {
            return;
        }
        for room in rooms {
            if socket.in_room(room) {
                continue;
            }
            let key = match m.rooms.get_key_value(*room) {
                Some((k, _)) => k.clone(),
                None => Arc::from(*room),
            };
            m.rooms.entry(key.clone()).or_default().insert(socket.slot);
            socket.push_room(key);
        }
    }

    /// Takes `socket` out of `rooms`.
    pub(crate) fn leave(&self, socket: &Socket<H>, rooms: &[&str]) {
        let mut m = self.write();
        for room in rooms {
            if !socket.remove_room(room) {
                continue;
            }
            if let Some(set) = m.rooms.get_mut(*room) {
                set.remove(&socket.slot);
                if set.is_empty() {
                    m.rooms.remove(*room);
                }
            }
        }
    }

    /// The socket with this id.
    pub fn get(&self, id: &str) -> Option<SocketRef<H>> {
        let id = Id::parse(id)?;
        let m = self.read();
        let slot = *m.by_id.get(&id)?;
        m.slots.get(slot as usize)?.clone()
    }

    /// Connected sockets.
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// Whether no socket is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sockets in a room now (its own id's socket for a socket id).
    pub fn room_len(&self, room: &str) -> usize {
        let m = self.read();
        m.rooms
            .get(room)
            .map_or_else(|| usize::from(own_room(&m, room).is_some()), HashSet::len)
    }

    /// The sockets `target` selects.
    pub fn sockets(&self, target: Target<'_>) -> Vec<SocketRef<H>> {
        let m = self.read();
        let mut out = Vec::new();
        select(&m, target, &mut |s| out.push(s.clone()));
        out
    }

    /// Queues `packet` for every socket `target` selects, on this node.
    pub fn broadcast(&self, packet: &Packet, target: Target<'_>) -> Delivery {
        let m = self.read();
        let mut delivery = Delivery::default();
        select(
            &m,
            target,
            &mut |s| match s.conn().send(packet, self.max_buffer) {
                Ok(()) => delivery.sent += 1,
                Err(SendError::Full) => {
                    delivery.full += 1;
                    s.conn().overflowed();
                }
                Err(SendError::Closed) => {}
            },
        );
        delivery
    }
}

/// The slot of the socket whose id `room` is, if it is one of this namespace.
fn own_room<H: Handler>(m: &Members<H>, room: &str) -> Option<u32> {
    m.by_id.get(&Id::parse(room)?).copied()
}

/// Calls `each` once for every socket `target` selects.
fn select<H: Handler>(m: &Members<H>, target: Target<'_>, each: &mut dyn FnMut(&SocketRef<H>)) {
    let excluded: HashSet<u32> = target
        .except
        .iter()
        .flat_map(|r| {
            m.rooms
                .get(*r)
                .into_iter()
                .flatten()
                .copied()
                .chain(own_room(m, r))
        })
        .collect();
    let socket = |slot: u32| m.slots.get(slot as usize).and_then(Option::as_ref);
    match target.rooms {
        [] => {
            for s in m.slots.iter().flatten() {
                if !excluded.contains(&s.slot) {
                    each(s);
                }
            }
        }
        [room] => {
            let own = own_room(m, room);
            let members = m.rooms.get(*room).into_iter().flatten().copied().chain(own);
            let mut seen_own = false;
            for slot in members {
                // A socket whose id is the room's name and that joined it by name too.
                if Some(slot) == own {
                    if seen_own {
                        continue;
                    }
                    seen_own = true;
                }
                if !excluded.contains(&slot)
                    && let Some(s) = socket(slot)
                {
                    each(s);
                }
            }
        }
        rooms => {
            let mut seen = HashSet::new();
            for room in rooms {
                let members = m
                    .rooms
                    .get(*room)
                    .into_iter()
                    .flatten()
                    .copied()
                    .chain(own_room(m, room));
                for slot in members {
                    if !excluded.contains(&slot)
                        && seen.insert(slot)
                        && let Some(s) = socket(slot)
                    {
                        each(s);
                    }
                }
            }
        }
    }
}
