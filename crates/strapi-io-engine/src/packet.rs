//! [`Packet`]: a Socket.IO packet encoded once — its Engine.IO text and its binary
//! attachments — and shared by every recipient; and [`Out`], one queued Engine.IO message.

use bytes::Bytes;

use crate::proto::socket::{SioKind, SioVersion, encode, event_array};

/// One Engine.IO message waiting in a connection's queue.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// A text packet, its type character included (`"2"`, `"42[…]"`).
    Text(Bytes),
    /// A binary message (a Socket.IO attachment).
    Binary(Bytes),
}

impl Out {
    /// The bytes the message carries.
    pub(crate) fn len(&self) -> usize {
        match self {
            Out::Text(b) | Out::Binary(b) => b.len(),
        }
    }
}

/// A Socket.IO packet ready to send: encoded once, cheap to clone.
#[derive(Debug, Clone)]
pub struct Packet {
    pub(crate) text: Bytes,
    pub(crate) attachments: Vec<Bytes>,
}

impl Packet {
    /// An event with these arguments (each a JSON text; binary ones as placeholders
    /// indexing `attachments`).
    pub fn event(ns: &str, event: &str, args: &[&str], attachments: Vec<Bytes>) -> Packet {
        let kind = if attachments.is_empty() {
            SioKind::Event
        } else {
            SioKind::BinaryEvent
        };
        let mut data = Vec::new();
        event_array(&mut data, event, args);
        Packet::build(kind, ns, None, attachments, &data)
    }

    /// An event whose arguments end with a recovery offset (Socket.IO 4.6 connection state
    /// recovery: the client keeps the last offset it got and presents it when it
    /// reconnects). The offset is encoded once with the packet, the same for every
    /// recipient.
    pub fn event_with_offset(
        ns: &str,
        event: &str,
        args: &[&str],
        attachments: Vec<Bytes>,
        offset: &str,
    ) -> Packet {
        let offset = serde_json::Value::from(offset).to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.push(&offset);
        Packet::event(ns, event, &all, attachments)
    }

    /// This event with `offset` added as its last argument (see
    /// [`Packet::event_with_offset`]), for an event encoded before its offset was known
    /// (another node's). `None` when the packet is not an event.
    pub fn with_offset(&self, offset: &str) -> Option<Packet> {
        let sio = std::str::from_utf8(&self.text).ok()?.strip_prefix('4')?;
        let kind = sio.as_bytes().first()?;
        if !matches!(kind, b'2' | b'5') || !sio.ends_with(']') {
            return None;
        }
        let offset = serde_json::Value::from(offset).to_string();
        let mut text = Vec::with_capacity(self.text.len() + offset.len() + 1);
        text.extend_from_slice(&self.text[..self.text.len() - 1]);
        text.push(b',');
        text.extend_from_slice(offset.as_bytes());
        text.push(b']');
        Some(Packet {
            text: Bytes::from(text),
            attachments: self.attachments.clone(),
        })
    }

    /// An event with one argument, serialized from `data`.
    pub fn event_json<T: serde::Serialize + ?Sized>(
        ns: &str,
        event: &str,
        data: &T,
    ) -> Result<Packet, serde_json::Error> {
        let arg = serde_json::to_string(data)?;
        Ok(Packet::event(ns, event, &[&arg], Vec::new()))
    }

    /// The answer to the client's ack `id`, with these arguments.
    pub fn ack(ns: &str, id: u64, args: &[&str], attachments: Vec<Bytes>) -> Packet {
        let kind = if attachments.is_empty() {
            SioKind::Ack
        } else {
            SioKind::BinaryAck
        };
        let mut data = Vec::with_capacity(2 + args.iter().map(|a| a.len() + 1).sum::<usize>());
        data.push(b'[');
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                data.push(b',');
            }
            data.extend_from_slice(a.as_bytes());
        }
        data.push(b']');
        Packet::build(kind, ns, Some(id), attachments, &data)
    }

    /// `CONNECT` answering a client's: `{"sid": id}` (and `"pid"` with connection state
    /// recovery) for v5 clients, nothing for v4.
    pub(crate) fn connect(ns: &str, sid: Option<&str>, pid: Option<&str>) -> Packet {
        let data = sid.map(|sid| {
            let mut body = serde_json::Map::new();
            body.insert("sid".into(), sid.into());
            if let Some(pid) = pid {
                body.insert("pid".into(), pid.into());
            }
            serde_json::Value::Object(body).to_string()
        });
        Packet::build_text(SioKind::Connect, ns, data.as_deref())
    }

    /// `CONNECT_ERROR {message, data}`.
    pub(crate) fn connect_error(
        ns: &str,
        message: &str,
        data: Option<&serde_json::Value>,
    ) -> Packet {
        let mut body = serde_json::Map::new();
        body.insert("message".into(), message.into());
        if let Some(d) = data {
            body.insert("data".into(), d.clone());
        }
        let text = serde_json::Value::Object(body).to_string();
        Packet::build_text(SioKind::ConnectError, ns, Some(&text))
    }

    /// `DISCONNECT` of a namespace.
    pub(crate) fn disconnect(ns: &str) -> Packet {
        Packet::build_text(SioKind::Disconnect, ns, None)
    }

    fn build_text(kind: SioKind, ns: &str, data: Option<&str>) -> Packet {
        let mut out = vec![b'4'];
        encode(&mut out, kind, ns, None, 0, data);
        Packet {
            text: Bytes::from(out),
            attachments: Vec::new(),
        }
    }

    fn build(
        kind: SioKind,
        ns: &str,
        id: Option<u64>,
        attachments: Vec<Bytes>,
        data: &[u8],
    ) -> Packet {
        let mut out = Vec::with_capacity(data.len() + ns.len() + 24);
        out.push(b'4');
        // `data` was built from `&str` pieces only.
        let data = std::str::from_utf8(data).unwrap_or("[]");
        encode(&mut out, kind, ns, id, attachments.len(), Some(data));
        Packet {
            text: Bytes::from(out),
            attachments,
        }
    }

    /// The Engine.IO text (`"42[…]"`).
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The Engine.IO text, shared (no copy).
    pub fn text_bytes(&self) -> Bytes {
        self.text.clone()
    }

    /// The binary attachments.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// Rebuilds a packet from its parts (as another node sent them), or `None` when they are
    /// not one: the text must be an Engine.IO message holding a Socket.IO event or ack that
    /// announces exactly these attachments.
    pub fn from_parts(text: Bytes, attachments: Vec<Bytes>) -> Option<Packet> {
        let sio = std::str::from_utf8(&text).ok()?.strip_prefix('4')?;
        let packet = crate::proto::socket::decode(sio, SioVersion::V5, attachments.len()).ok()?;
        let sendable = matches!(
            packet.kind,
            SioKind::Event | SioKind::BinaryEvent | SioKind::Ack | SioKind::BinaryAck
        );
        (sendable && packet.attachments == attachments.len())
            .then_some(Packet { text, attachments })
    }

    /// The messages this packet is queued as.
    pub(crate) fn messages(&self) -> usize {
        1 + self.attachments.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_added_later_is_the_same_as_one_encoded_with_the_event() {
        for (args, attachments) in [
            (vec!["1", "{\"a\":[2]}"], Vec::new()),
            (vec![], Vec::new()),
            (
                vec![r#"{"_placeholder":true,"num":0}"#],
                vec![Bytes::from_static(b"x")],
            ),
        ] {
            let plain = Packet::event("/chat", "e", &args, attachments.clone());
            let direct = Packet::event_with_offset("/chat", "e", &args, attachments, "7-1");
            let later = plain.with_offset("7-1").expect("an event");
            assert_eq!(later.text(), direct.text());
            assert_eq!(later.attachments(), direct.attachments());
        }
        assert!(
            Packet::ack("/", 1, &["1"], Vec::new())
                .with_offset("1")
                .is_none()
        );
        assert!(
            Packet::connect("/", Some("x"), None)
                .with_offset("1")
                .is_none()
        );
    }

    #[test]
    fn parts_from_another_node_are_taken_only_when_they_are_a_packet() {
        let event = Packet::event("/", "e", &["1"], Vec::new());
        let back = Packet::from_parts(event.text_bytes(), Vec::new()).expect("an event");
        assert_eq!(back.text(), event.text());
        let binary = Packet::event(
            "/a",
            "e",
            &[r#"{"_placeholder":true,"num":0}"#],
            vec![Bytes::from_static(b"x")],
        );
        assert!(Packet::from_parts(binary.text_bytes(), binary.attachments().to_vec()).is_some());
        // Attachments that do not match what the text announces.
        assert!(Packet::from_parts(binary.text_bytes(), Vec::new()).is_none());
        assert!(Packet::from_parts(event.text_bytes(), vec![Bytes::from_static(b"x")]).is_none());
        // Not an Engine.IO message, not UTF-8, not a Socket.IO packet, not sendable.
        for text in [
            &b"2"[..],
            b"42{}",
            b"\xff\xfe",
            b"4abc",
            b"40",
            b"41",
            b"44{\"message\":\"x\"}",
        ] {
            assert!(
                Packet::from_parts(Bytes::copy_from_slice(text), Vec::new()).is_none(),
                "{text:?}"
            );
        }
    }
}
