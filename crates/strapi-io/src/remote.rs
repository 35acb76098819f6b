//! What this node does for the others of a cluster ([`Local`]): a broadcast they published
//! reaches its sockets, and it lists and acts on its sockets when they ask.

use strapi_io_engine::{Packet, Target};

use crate::bus::Broadcast;
use crate::bus::{Local, RemoteOp, RemoteSocket};
use crate::recovery::logged_packet;
use crate::shared::Shared;
use strapi_io_core::offset::Offset;

impl Local for Shared {
    fn logged(&self, offset: &str, broadcast: Broadcast) {
        let Some(namespace) = self.engine.of(&broadcast.ns) else {
            return;
        };
        let packet = Offset::parse(offset).and_then(|o| Some((o, logged_packet(o, &broadcast)?)));
        let Some((offset, packet)) = packet else {
            tracing::warn!(ns = %broadcast.ns, "a logged broadcast that is not an event, dropped");
            return;
        };
        let rooms: Vec<&str> = broadcast.rooms.iter().map(String::as_str).collect();
        let except: Vec<&str> = broadcast.except.iter().map(String::as_str).collect();
        let settings = self.recovery_settings(&self.settings());
        let target = Target {
            rooms: &rooms,
            except: &except,
        };
        self.delivered(
            self.recovery
                .deliver(namespace, offset, packet, target, settings.as_ref()),
        );
    }

    fn broadcast(&self, broadcast: Broadcast) {
        let Some(namespace) = self.engine.of(&broadcast.ns) else {
            return;
        };
        let Some(packet) = Packet::from_parts(broadcast.text, broadcast.attachments) else {
            tracing::warn!(
                ns = %broadcast.ns,
                "a broadcast from another node that is not a packet, dropped"
            );
            return;
        };
        let rooms: Vec<&str> = broadcast.rooms.iter().map(String::as_str).collect();
        let except: Vec<&str> = broadcast.except.iter().map(String::as_str).collect();
        self.delivered(namespace.broadcast(
            &packet,
            Target {
                rooms: &rooms,
                except: &except,
            },
        ));
    }

    fn sockets(&self, ns: &str, rooms: &[String]) -> Vec<RemoteSocket> {
        let Some(namespace) = self.engine.of(ns) else {
            return Vec::new();
        };
        let rooms: Vec<&str> = rooms.iter().map(String::as_str).collect();
        namespace
            .sockets(Target {
                rooms: &rooms,
                except: &[],
            })
            .iter()
            .map(|s| RemoteSocket {
                id: s.id().to_string(),
                node: self.node.clone(),
                rooms: s.rooms().iter().map(|r| r.to_string()).collect(),
            })
            .collect()
    }

    fn details(&self, ns: &str) -> Vec<bytes::Bytes> {
        self.local_details_encoded(ns)
    }

    fn apply(&self, ns: &str, id: &str, op: &RemoteOp) -> bool {
        let Some(socket) = self.engine.of(ns).and_then(|n| n.get(id)) else {
            return false;
        };
        match op {
            RemoteOp::Join(rooms) => socket.join(rooms.as_slice()),
            RemoteOp::Leave(rooms) => socket.leave(rooms.as_slice()),
            RemoteOp::Send { text, attachments } => {
                let Some(packet) = Packet::from_parts(text.clone(), attachments.clone()) else {
                    tracing::warn!(ns, "a packet from another node that is not one, dropped");
                    return true;
                };
                self.sent_to_one(&socket, socket.send(&packet));
            }
            RemoteOp::Disconnect => {
                // The reason was sent before, as an event of its own.
                socket
                    .data()
                    .closing
                    .store(true, std::sync::atomic::Ordering::Release);
                socket.disconnect();
            }
        }
        true
    }
}
