//! The socket listing of the dashboard: every socket of every namespace, on this node and
//! (clustered) on the others, each described by the node it is on ([`SocketDetails`]).

use bytes::Bytes;

use crate::bus::MAX_SOCKETS_PER_ANSWER;
use crate::io::Io;
use crate::locate::visible_rooms;
use crate::shared::{Shared, SocketRef};
use crate::subscriptions::subscriptions_in;
use crate::types::{SocketDetails, SocketListing};

impl Shared {
    /// This node's sockets of `ns`, described.
    pub(crate) fn local_details(&self, ns: &str) -> Vec<SocketDetails> {
        let Some(namespace) = self.engine.of(ns) else {
            return Vec::new();
        };
        namespace
            .sockets(strapi_io_engine::Target::default())
            .iter()
            .map(|s| self.describe(s))
            .collect()
    }

    fn describe(&self, socket: &SocketRef) -> SocketDetails {
        let session = socket.data();
        let audience = session.audience();
        let rooms = visible_rooms(socket);
        let subscriptions = subscriptions_in(rooms.iter().map(String::as_str))
            .into_iter()
            .map(|s| s.room)
            .collect();
        SocketDetails {
            id: socket.id().to_string(),
            namespace: socket.ns().to_string(),
            node: self.node.clone(),
            user: session.user(),
            role: audience.role_label().to_string(),
            audience: audience.room.clone(),
            rooms: rooms
                .into_iter()
                .filter(|r| r.as_str() != socket.id())
                .collect(),
            subscriptions,
            transport: match socket.conn().transport() {
                strapi_io_engine::Transport::Websocket => "websocket",
                strapi_io_engine::Transport::Polling => "polling",
            }
            .to_string(),
            address: session.ip.map(|ip| ip.to_string()),
            connected_at: session.connected_at,
        }
    }

    /// This node's sockets of `ns` as the bus carries them to another node: no more than
    /// one answer lists, and one more, by which the answer knows it is truncated.
    pub(crate) fn local_details_encoded(&self, ns: &str) -> Vec<Bytes> {
        self.local_details(ns)
            .iter()
            .take(MAX_SOCKETS_PER_ANSWER + 1)
            .filter_map(|d| serde_json::to_vec(d).ok().map(Bytes::from))
            .collect()
    }
}

/// Reads another node's description of a socket of `ns`; `None` for anything else (a node
/// of another version, or a stranger on the bus).
fn read_remote(ns: &str, bytes: &[u8]) -> Option<SocketDetails> {
    serde_json::from_slice::<SocketDetails>(bytes)
        .ok()
        .filter(|d| d.namespace == ns)
}

impl Io {
    /// Every socket of every namespace on every node, for the dashboard: all of this
    /// node's, and at most 10,000 per namespace from each other node (the listing says
    /// when one listed fewer). When the other nodes cannot be asked, this node's
    /// sockets are listed and the error said.
    pub async fn socket_details(&self) -> SocketListing {
        let shared = &self.shared;
        let mut listing = SocketListing::default();
        for ns in &shared.namespaces {
            listing.sockets.extend(shared.local_details(ns));
            if !shared.clustered() || listing.cluster_error.is_some() {
                continue;
            }
            match shared.bus.details(ns).await {
                Ok((found, truncated)) => {
                    listing.truncated |= truncated;
                    let read = found.iter().filter_map(|b| read_remote(ns, b));
                    listing.sockets.extend(read);
                }
                Err(e) => {
                    listing.cluster_error =
                        Some(shared.cluster_error("listing sockets", e).to_string());
                }
            }
        }
        listing
    }
}

#[cfg(test)]
mod tests {
    use super::read_remote;

    #[test]
    fn a_remote_description_is_read_only_when_whole_and_of_its_namespace() {
        let d = br#"{"id":"a","namespace":"/","node":"n2","user":null,"role":"public",
            "audience":"io-role-public","rooms":["io-role-public"],"subscriptions":[],
            "transport":"websocket","address":"127.0.0.1","connectedAt":5}"#;
        let read = read_remote("/", d).unwrap();
        assert_eq!((read.id.as_str(), read.node.as_str()), ("a", "n2"));
        assert!(read_remote("/admin", d).is_none(), "another namespace's");
        assert!(read_remote("/", br#"{"id":"a"}"#).is_none(), "incomplete");
        assert!(read_remote("/", b"\xff").is_none());
    }
}
