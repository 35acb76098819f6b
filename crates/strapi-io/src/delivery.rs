//! Sending and accounting: a packet to the sockets of rooms on this node and the others,
//! an answer to one socket, and disconnecting a socket with the reason first. A client
//! whose queue is full misses the packet: that is counted, logged, and the client is cut.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use strapi_io_engine::{Delivery, Packet, SendError, Target};

use crate::bus::Broadcast;
use crate::errors::IoError;
use crate::payload::Args;
use crate::shared::{Shared, SocketRef};

/// Events for one socket that may wait to be logged through Redis (cluster mode with
/// recovery); past it they are sent at once, without an offset.
pub(crate) const LOG_QUEUE: usize = 4096;

/// Logs the queued events for one socket through Redis, in order, while the server lives;
/// one that cannot be logged (Redis unreachable) is sent by this node without an offset.
pub(crate) async fn log_queued(
    shared: std::sync::Weak<Shared>,
    mut queued: tokio::sync::mpsc::Receiver<Broadcast>,
) {
    while let Some(logged) = queued.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let (keep, max) = shared
            .recovery_settings(&shared.settings())
            .map_or((0, 0), |s| {
                (s.max_disconnection_duration, s.max_buffered_bytes)
            });
        if let Err(e) = shared.bus.broadcast_logged(&logged, keep, max).await {
            let _ = shared.cluster_error("sending to a socket", e);
            let socket = shared
                .engine
                .of(&logged.ns)
                .and_then(|n| n.get(logged.rooms.first().map_or("", String::as_str)));
            let packet = Packet::from_parts(logged.text, logged.attachments);
            if let (Some(socket), Some(packet)) = (socket, packet) {
                shared.sent_to_one(&socket, socket.send(&packet));
            }
        }
    }
}

/// What an event is answered with.
pub(crate) enum Reply {
    /// One JSON argument (the built-in events).
    Json(Value),
    /// A custom handler's arguments.
    Args(Args),
}

/// The event a socket receives just before the server disconnects it, with `{ reason }`.
pub const DISCONNECT_REASON_EVENT: &str = "server-disconnect";

/// The reason given to a socket that missed a packet because its buffer was full.
pub(crate) const BUFFER_FULL: &str = "Buffer full";

/// What a broadcast reached, as far as this node knows when it returns.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    /// Sockets of this node it was queued for; `None` when every node (this one too)
    /// delivers it from the Redis log, after the send returns.
    pub(crate) here: Option<usize>,
    /// Whether other nodes were sent it too.
    pub(crate) cluster: bool,
    /// Why the other nodes could not be reached (this node's sockets still got it).
    pub(crate) cluster_error: Option<String>,
}

impl Shared {
    /// Sends `event` with `data` to the sockets of namespace `ns` in `rooms` (all when
    /// empty) but those in `except`: here, and on every other node when clustered. When
    /// Redis cannot be reached, this node's sockets still get it and the error is returned
    /// in [`Sent::cluster_error`].
    pub(crate) async fn send<T: serde::Serialize + ?Sized>(
        &self,
        ns: &str,
        rooms: &[String],
        except: &[String],
        event: &str,
        data: &T,
    ) -> Result<Sent, IoError> {
        let namespace = self
            .engine
            .of(ns)
            .ok_or_else(|| IoError::UnknownNamespace(ns.to_string()))?;
        let arg = serde_json::to_string(data).map_err(|e| IoError::InvalidEvent(e.to_string()))?;
        let room_names: Vec<&str> = rooms.iter().map(String::as_str).collect();
        let except_names: Vec<&str> = except.iter().map(String::as_str).collect();
        let target = Target {
            rooms: &room_names,
            except: &except_names,
        };
        let recovery = self.recovery_settings(&self.settings());
        if let Some(settings) = recovery.as_ref().filter(|_| self.clustered()) {
            // Broadcast through Redis: every node, this one included, delivers it in the log's
            // order, with its offset.
            let logged = Broadcast {
                ns: ns.to_string(),
                rooms: rooms.to_vec(),
                except: except.to_vec(),
                text: Packet::event(ns, event, &[&arg], Vec::new()).text_bytes(),
                attachments: Vec::new(),
            };
            let (keep, max) = (
                settings.max_disconnection_duration,
                settings.max_buffered_bytes,
            );
            return match self.bus.broadcast_logged(&logged, keep, max).await {
                Ok(_) => Ok(Sent {
                    here: None,
                    cluster: true,
                    cluster_error: None,
                }),
                Err(e) => {
                    // Redis unreachable: this node's sockets still get it, without an offset.
                    let (_, delivery) = self.recovery.broadcast(
                        namespace,
                        event,
                        &[&arg],
                        Vec::new(),
                        target,
                        Some(settings),
                    );
                    Ok(Sent {
                        here: Some(self.delivered(delivery)),
                        cluster: false,
                        cluster_error: Some(self.cluster_error("broadcast", e).to_string()),
                    })
                }
            };
        }
        let (packet, delivery) = self.recovery.broadcast(
            namespace,
            event,
            &[&arg],
            Vec::new(),
            target,
            recovery.as_ref(),
        );
        let here = Some(self.delivered(delivery));
        if !self.clustered() {
            return Ok(Sent {
                here,
                ..Sent::default()
            });
        }
        let text = packet.text_bytes();
        let cluster_error = match self
            .bus
            .broadcast(ns, rooms, except, &text, packet.attachments())
            .await
        {
            Ok(()) => None,
            Err(e) => Some(self.cluster_error("broadcast", e).to_string()),
        };
        Ok(Sent {
            here,
            cluster: cluster_error.is_none(),
            cluster_error,
        })
    }

    /// Accounts for a broadcast: packets not queued because a client's buffer is full are
    /// counted and logged (the engine closes those clients at their next heartbeat).
    pub(crate) fn delivered(&self, delivery: Delivery) -> usize {
        self.counters
            .deliveries
            .fetch_add(delivery.sent as u64, Ordering::Relaxed);
        metrics::counter!("strapi_io_socket_deliveries_total").increment(delivery.sent as u64);
        if delivery.full > 0 {
            let full = delivery.full as u64;
            self.counters.buffer_full.fetch_add(full, Ordering::Relaxed);
            metrics::counter!("strapi_io_buffer_full_total").increment(full);
            tracing::warn!(
                clients = full,
                "client buffer full: packet not queued, the client is closed at its next heartbeat"
            );
        }
        delivery.sent
    }

    /// Accounts for a packet sent to one socket: one that could not be queued because the
    /// socket's buffer is full is counted and logged, and — as the socket has now missed a
    /// packet — the socket is disconnected with the reason `Buffer full`. A closed socket is
    /// simply gone.
    pub(crate) fn sent_to_one(&self, socket: &SocketRef, sent: Result<(), SendError>) {
        if sent.is_ok() {
            self.counters.deliveries.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("strapi_io_socket_deliveries_total").increment(1);
        }
        if let Err(SendError::Full) = sent {
            self.counters.buffer_full.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("strapi_io_buffer_full_total").increment(1);
            tracing::warn!(
                socket = %socket.id(),
                "client buffer full: packet not queued, disconnecting the client"
            );
            disconnect_with_reason(socket, BUFFER_FULL);
        }
    }

    /// Sends an event with these arguments (JSON texts; binary ones as placeholders indexing
    /// `attachments`) to one socket, kept for its recovery when that is on; accounted as in
    /// [`Shared::sent_to_one`].
    pub(crate) fn send_to(
        &self,
        socket: &SocketRef,
        event: &str,
        args: &[&str],
        attachments: Vec<bytes::Bytes>,
    ) -> Result<(), SendError> {
        let recovery = self.recovery_settings(&self.settings());
        if recovery.is_some() && self.clustered() && socket.connected() {
            // Broadcast through Redis, in order with the other events for one socket.
            let packet = Packet::event(socket.ns(), event, args, attachments);
            let logged = Broadcast {
                ns: socket.ns().to_string(),
                rooms: vec![socket.id().to_string()],
                except: Vec::new(),
                text: packet.text_bytes(),
                attachments: packet.attachments().to_vec(),
            };
            return match self.log_queue.try_send(logged) {
                Ok(()) => Ok(()),
                Err(_) => {
                    tracing::warn!(
                        "the recovery log queue is full: an event sent without an offset"
                    );
                    let sent = socket.send(&packet);
                    self.sent_to_one(socket, sent);
                    sent
                }
            };
        }
        let sent = self
            .recovery
            .send_to(socket, event, args, attachments, recovery.as_ref());
        self.sent_to_one(socket, sent);
        sent
    }

    /// Answers a client event's ack `id`, accounted as in [`Shared::sent_to_one`].
    pub(crate) fn answer(&self, socket: &SocketRef, id: u64, reply: &Reply) {
        let sent = match reply {
            Reply::Json(v) => socket.ack(id, &[&v.to_string()], Vec::new()),
            Reply::Args(args) => {
                let (texts, attachments) = args.to_wire();
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                socket.ack(id, &texts, attachments)
            }
        };
        self.sent_to_one(socket, sent);
    }
}

/// Tells a socket why (`server-disconnect { reason }`), then disconnects it (its client
/// gets both in order, also when its buffer is full). Returns `false` when the socket was
/// already on its way out.
pub(crate) fn disconnect_with_reason(socket: &SocketRef, reason: &str) -> bool {
    if socket.data().closing.swap(true, Ordering::AcqRel) {
        return false;
    }
    if let Ok(packet) = Packet::event_json(
        socket.ns(),
        DISCONNECT_REASON_EVENT,
        &json!({ "reason": reason }),
    ) {
        let _ = socket.send_urgent(&packet);
    }
    socket.disconnect();
    true
}

/// Tells a socket why it is about to lose its connection (`server-disconnect {reason}`,
/// past the buffer bound) without disconnecting it from its namespace: at shutdown the
/// transport closes next, and the client reconnects by itself. Its further events are
/// ignored.
pub(crate) fn tell_closing(socket: &SocketRef, reason: &str) {
    socket.data().closing.store(true, Ordering::Release);
    if let Ok(packet) = Packet::event_json(
        socket.ns(),
        DISCONNECT_REASON_EVENT,
        &json!({ "reason": reason }),
    ) {
        let _ = socket.send_urgent(&packet);
    }
}
