//! Socket.IO packets from a client: namespace connects (decided by the application, then
//! answered), disconnects, events (binary ones once their attachments arrived) handed to
//! the application. Anything the protocol does not allow closes the connection, as Node
//! does.

use std::future::Future;
use std::sync::Arc;
use std::task::Context;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::conn::{Conn, Partial};
use crate::handler::{ConnectError, DisconnectReason, Event, Handler, Joined};
use crate::id::Id;
use crate::packet::Packet;
use crate::proto::binary::{check_placeholders, split_event};
use crate::proto::engine::EioVersion;
use crate::proto::socket::{SioKind, SioPacket, SioVersion, decode};
use crate::state::Inner;

/// Runs a future to completion now if it can, or as a task of its own.
pub(crate) fn run_now_or_spawn<F: Future<Output = ()> + Send + 'static>(f: F) {
    let mut f = Box::pin(f);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    if f.as_mut().poll(&mut cx).is_pending() {
        tokio::spawn(f);
    }
}

fn sio_version<H: Handler>(conn: &Conn<H>) -> SioVersion {
    match conn.version {
        EioVersion::V3 => SioVersion::V4,
        EioVersion::V4 => SioVersion::V5,
    }
}

/// A text message (the Socket.IO packet after Engine.IO's `4`).
pub(crate) fn on_text<H: Handler>(
    inner: &Arc<Inner<H>>,
    conn: &Arc<Conn<H>>,
    text: &str,
) -> Result<(), DisconnectReason> {
    if conn.lock().partial.is_some() {
        // A packet arrived where an attachment was due.
        return Err(DisconnectReason::ParseError);
    }
    let packet = decode(text, sio_version(conn), inner.config.max_attachments)
        .map_err(|_| DisconnectReason::ParseError)?;
    match packet.kind {
        SioKind::Connect => {
            connect(inner, conn, &packet.ns, packet.data);
            Ok(())
        }
        SioKind::Disconnect => {
            if let Some(socket) = conn.socket(&packet.ns) {
                socket.leave_namespace(DisconnectReason::ClientNamespaceDisconnect);
            }
            Ok(())
        }
        SioKind::Event | SioKind::Ack => dispatch(conn, &packet, Vec::new()),
        SioKind::BinaryEvent | SioKind::BinaryAck => {
            // The codec refuses binary packets that announce no attachment.
            conn.lock().partial = Some(Box::new(Partial {
                text: text.to_string(),
                expected: packet.attachments,
                attachments: Vec::with_capacity(packet.attachments),
            }));
            Ok(())
        }
        SioKind::ConnectError => Err(DisconnectReason::ParseError),
    }
}

/// A binary message: the next attachment of the packet being assembled.
pub(crate) fn on_binary<H: Handler>(
    inner: &Arc<Inner<H>>,
    conn: &Arc<Conn<H>>,
    data: &[u8],
) -> Result<(), DisconnectReason> {
    let complete = {
        let mut st = conn.lock();
        let Some(partial) = st.partial.as_mut() else {
            return Err(DisconnectReason::ParseError);
        };
        partial.attachments.push(Bytes::copy_from_slice(data));
        if partial.attachments.len() < partial.expected {
            return Ok(());
        }
        st.partial.take()
    };
    let Some(partial) = complete else {
        return Ok(());
    };
    let packet = decode(
        &partial.text,
        sio_version(conn),
        inner.config.max_attachments,
    )
    .map_err(|_| DisconnectReason::ParseError)?;
    dispatch(conn, &packet, partial.attachments)
}

/// An event or ack of a connected namespace.
fn dispatch<H: Handler>(
    conn: &Arc<Conn<H>>,
    packet: &SioPacket<'_>,
    attachments: Vec<Bytes>,
) -> Result<(), DisconnectReason> {
    // A packet for a namespace the client has not joined breaks the protocol.
    let socket = conn
        .socket(&packet.ns)
        .ok_or(DisconnectReason::ParseError)?;
    let data = packet.data.ok_or(DisconnectReason::ParseError)?;
    if !attachments.is_empty() || matches!(packet.kind, SioKind::BinaryEvent | SioKind::BinaryAck) {
        check_placeholders(data, attachments.len()).map_err(|_| DisconnectReason::ParseError)?;
    }
    match packet.kind {
        SioKind::Event | SioKind::BinaryEvent => {
            let (name, args) = split_event(data).map_err(|_| DisconnectReason::ParseError)?;
            let mut text = String::with_capacity(data.get().len());
            text.push('[');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(a.get());
            }
            text.push(']');
            let args = RawValue::from_string(text).map_err(|_| DisconnectReason::ParseError)?;
            let event = Event {
                name: name.into_owned(),
                args,
                attachments,
                ack: packet.id,
            };
            let handler = socket.namespace().handler.clone();
            run_now_or_spawn(handler.event(socket, event));
            Ok(())
        }
        // The server never asks clients for acks: an answer to none is ignored, as Node
        // ignores acks it does not know.
        _ => Ok(()),
    }
}

/// A client asks to join `ns`: unknown namespaces are refused at once, others are decided
/// by the application.
pub(crate) fn connect<H: Handler>(
    inner: &Arc<Inner<H>>,
    conn: &Arc<Conn<H>>,
    ns: &str,
    auth: Option<&RawValue>,
) {
    let Some(namespace) = inner.namespaces.get(ns).cloned() else {
        let _ = conn.send(
            &Packet::connect_error(ns, "Invalid namespace", None),
            usize::MAX,
        );
        return;
    };
    {
        let mut st = conn.lock();
        if st.closed.is_some()
            || st.sockets.iter().any(|s| s.ns() == ns)
            || st.joining.iter().any(|j| &**j == ns)
        {
            // Connected (or connecting) already: a repeated CONNECT is ignored.
            return;
        }
        st.joining.push(ns.into());
    }
    let decided = inner.handler.connect(conn, ns, auth);
    let auth = auth.map(|a| a.to_owned());
    let inner = inner.clone();
    let conn = conn.clone();
    run_now_or_spawn(async move {
        let result = decided.await;
        joined(&inner, &conn, &namespace, result, auth);
    });
}

/// Answers a decided connect.
fn joined<H: Handler>(
    inner: &Arc<Inner<H>>,
    conn: &Arc<Conn<H>>,
    namespace: &Arc<crate::namespace::Namespace<H>>,
    result: Result<Joined<H::Socket>, ConnectError>,
    auth: Option<Box<RawValue>>,
) {
    let ns = namespace.name();
    {
        let mut st = conn.lock();
        st.joining.retain(|j| &**j != ns);
        if st.closed.is_some() {
            return;
        }
    }
    let joined = match result {
        Ok(joined) => joined,
        Err(e) => {
            let _ = conn.send(
                &Packet::connect_error(ns, &e.message, e.data.as_ref()),
                usize::MAX,
            );
            return;
        }
    };
    // A restored socket keeps its id, unless a socket still holds it.
    let restore = joined
        .restore
        .filter(|r| namespace.get(r.id.as_str()).is_none());
    let id = restore.as_ref().map_or_else(Id::new, |r| r.id);
    // The reply goes first: anything sent to the socket from here on follows it.
    let reply = match conn.version {
        EioVersion::V4 => Packet::connect(ns, Some(id.as_str()), joined.pid.as_deref()),
        EioVersion::V3 => Packet::connect(ns, None, None),
    };
    if conn.send(&reply, usize::MAX).is_err() {
        return;
    }
    let data = joined.data;
    let rooms = restore.map(|r| r.rooms).unwrap_or_default();
    let socket = inner.handler.attach(ns, || {
        let socket = namespace.add(id, conn.clone(), data);
        if !rooms.is_empty() {
            socket.join(rooms.as_slice());
        }
        socket
    });
    let closed = {
        let mut st = conn.lock();
        if st.closed.is_none() {
            st.sockets.push(socket.clone());
            st.heartbeat.connect_by = None;
        }
        st.closed.is_some()
    };
    if closed {
        namespace.remove(&socket);
        return;
    }
    run_now_or_spawn(inner.handler.connected(socket, auth));
}
