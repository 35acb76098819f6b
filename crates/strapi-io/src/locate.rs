//! Finding sockets by id or room: on this node ([`Located::Here`]) or, in a cluster, on
//! another node ([`Located::There`], reached through the bus), with what the API shows of
//! them.

use strapi_io_core::Audience;
use strapi_io_engine::Target;

use crate::bus::{RemoteOp, RemoteSocket};
use crate::errors::{Cause, IoError};
use crate::session::RemoteWho;
use crate::shared::Shared;
use crate::shared::SocketRef;
use crate::types::SocketInfo;
use std::sync::Arc;
use strapi_io_core::rooms::parse_who_room;

/// Where a socket is connected.
pub(crate) enum Located {
    /// On this node.
    Here(SocketRef),
    /// On another node of the cluster.
    There(Remote),
}

/// A socket of another node: its namespace, id and rooms when it was found.
pub(crate) struct Remote {
    pub(crate) ns: String,
    pub(crate) id: String,
    pub(crate) rooms: Vec<String>,
}

impl Remote {
    /// Applies `op` on the socket's node; an error when the node cannot be reached or the
    /// socket is gone meanwhile.
    pub(crate) async fn apply(&self, shared: &Shared, op: RemoteOp) -> Result<(), IoError> {
        match shared.bus.apply(&self.ns, &self.id, op).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(IoError::Cluster(Cause::msg(
                "the socket disconnected meanwhile",
            ))),
            Err(e) => Err(shared.cluster_error("reaching a socket of another node", e)),
        }
    }

    /// Sends an event with one JSON argument to the socket.
    pub(crate) async fn emit<T: serde::Serialize + ?Sized>(
        &self,
        shared: &Shared,
        event: &str,
        data: &T,
    ) -> Result<(), IoError> {
        let packet = strapi_io_engine::Packet::event_json(&self.ns, event, data)
            .map_err(|e| IoError::InvalidEvent(e.to_string()))?;
        self.apply(
            shared,
            RemoteOp::Send {
                text: packet.text_bytes(),
                attachments: packet.attachments().to_vec(),
            },
        )
        .await
    }
}

/// A located socket with its audience and rooms.
pub(crate) struct Member {
    pub(crate) audience: Arc<Audience>,
    pub(crate) rooms: Vec<String>,
    pub(crate) at: Located,
}

impl Member {
    /// A socket of this node.
    pub(crate) fn here(socket: &SocketRef) -> Self {
        Member {
            audience: socket.data().audience(),
            rooms: socket.rooms().iter().map(|r| r.to_string()).collect(),
            at: Located::Here(socket.clone()),
        }
    }
}

/// Rooms as users see them: the server's internal rooms (those with `#`) left out, sorted.
pub(crate) fn visible(rooms: impl Iterator<Item = String>) -> Vec<String> {
    let mut rooms: Vec<String> = rooms.filter(|r| !r.contains('#')).collect();
    rooms.sort();
    rooms
}

/// A socket's rooms as users see them (see [`visible`]).
pub(crate) fn visible_rooms(socket: &SocketRef) -> Vec<String> {
    visible(socket.rooms().iter().map(|r| r.to_string()))
}

/// Whether `id` can be a socket id (20 characters of URL-safe base64).
fn is_socket_id(id: &str) -> bool {
    strapi_io_engine::Id::parse(id).is_some()
}

impl Shared {
    /// Finds a connected socket of this node by id, in any served namespace.
    pub(crate) fn socket(&self, id: &str) -> Option<SocketRef> {
        self.namespaces
            .iter()
            .filter_map(|ns| self.engine.of(ns))
            .find_map(|ns| ns.get(id))
    }

    /// Finds a socket by id: here, or when clustered on any node.
    pub(crate) async fn locate(&self, id: &str) -> Result<Option<Located>, IoError> {
        self.locate_in(id, None).await
    }

    /// [`Shared::locate`], only among the sockets of namespace `ns` when one is given.
    pub(crate) async fn locate_in(
        &self,
        id: &str,
        ns: Option<&str>,
    ) -> Result<Option<Located>, IoError> {
        let local = match ns {
            None => self.socket(id),
            Some(ns) => self.engine.of(ns).and_then(|n| n.get(id)),
        };
        if let Some(s) = local {
            return Ok(Some(Located::Here(s)));
        }
        if !self.clustered() || !is_socket_id(id) {
            return Ok(None);
        }
        for name in self
            .namespaces
            .iter()
            .filter(|n| ns.is_none_or(|only| only == n.as_str()))
        {
            let found = self
                .bus
                .sockets(name, &[id.to_string()])
                .await
                .map_err(|e| self.cluster_error("finding a socket", e))?;
            // A client may have joined a room named like another socket's id: only the
            // socket whose id it is counts.
            if let Some(s) = found.into_iter().find(|s| s.id == id) {
                return Ok(Some(Located::There(Remote {
                    ns: name.clone(),
                    id: s.id,
                    rooms: s.rooms,
                })));
            }
        }
        Ok(None)
    }

    /// Whether socket `id` of `ns`, not connected, is away with its session kept (connection
    /// recovery): on this node or, in a cluster, on any (marked in Redis).
    pub(crate) async fn away(&self, ns: &str, id: &str) -> Result<bool, IoError> {
        if crate::recovery::active(&self.settings()).is_none() || !is_socket_id(id) {
            return Ok(false);
        }
        self.recovery
            .is_away_anywhere(&self.bus, ns, id)
            .await
            .map_err(|e| self.cluster_error("finding a socket", e))
    }

    /// A located socket's audience and rooms.
    pub(crate) fn member(&self, at: Located) -> Result<Member, IoError> {
        match at {
            Located::Here(s) => Ok(Member::here(&s)),
            Located::There(r) => {
                let audience = self
                    .directory
                    .audiences()
                    .iter()
                    .find(|a| r.rooms.contains(&a.room))
                    .cloned()
                    .ok_or_else(|| {
                        IoError::Cluster(Cause::msg("the socket's audience is unknown here"))
                    })?;
                Ok(Member {
                    audience,
                    rooms: r.rooms.clone(),
                    at: Located::There(r),
                })
            }
        }
    }

    /// The info of a socket of another node, from the rooms it is in.
    fn remote_info(r: RemoteSocket) -> Option<SocketInfo> {
        let who = r
            .rooms
            .iter()
            .find_map(|room| parse_who_room(room))
            .and_then(|json| serde_json::from_str::<RemoteWho>(json).ok())?;
        Some(SocketInfo {
            id: r.id,
            user: who.user,
            role: who.role,
            rooms: visible(r.rooms.into_iter()),
        })
    }

    /// The info of a socket of this node.
    pub(crate) fn local_info(s: &SocketRef) -> SocketInfo {
        let session = s.data();
        SocketInfo {
            id: s.id().to_string(),
            rooms: visible_rooms(s),
            user: session.user(),
            role: session.audience().role_label().to_string(),
        }
    }

    /// The sockets of `/` in `room`: here, and on every node when clustered.
    pub(crate) async fn sockets_in(&self, room: &str) -> Result<Vec<SocketInfo>, IoError> {
        let Some(root) = self.engine.of("/") else {
            return Ok(Vec::new());
        };
        let rooms = [room];
        let mut infos: Vec<SocketInfo> = root
            .sockets(Target {
                rooms: &rooms,
                except: &[],
            })
            .iter()
            .map(Self::local_info)
            .collect();
        if self.clustered() {
            let remote = self
                .bus
                .sockets("/", &[room.to_string()])
                .await
                .map_err(|e| self.cluster_error("listing sockets", e))?;
            for r in remote {
                match Self::remote_info(r) {
                    Some(info) => infos.push(info),
                    None => tracing::warn!(
                        "a socket of another node without its info room left out of a listing"
                    ),
                }
            }
        }
        Ok(infos)
    }
}
