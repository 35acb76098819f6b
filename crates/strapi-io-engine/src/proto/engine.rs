//! Engine.IO packets: a type character followed by the data (`4hello`, `2probe`, `6`), and
//! the open packet that starts a session.
//!
//! Binary packets travel without a type over WebSocket (always messages) and in their own
//! forms inside polling payloads (see [`super::payload`]).

use super::ProtoError;

/// The Engine.IO protocol revision of a session (the `EIO` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EioVersion {
    /// `EIO=3`: socket.io 2.x clients (length-prefixed polling payloads, server pings).
    V3,
    /// `EIO=4`: socket.io 3+ clients (record-separated payloads, client pongs).
    V4,
}

/// The type of an Engine.IO packet, written as one ASCII digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketKind {
    /// `0`: the server opens a session (JSON handshake data follows).
    Open = 0,
    /// `1`: either side closes the session.
    Close = 1,
    /// `2`: a ping (`2probe` while upgrading).
    Ping = 2,
    /// `3`: a pong (`3probe` while upgrading).
    Pong = 3,
    /// `4`: a message (a Socket.IO packet).
    Message = 4,
    /// `5`: the client completes the upgrade to WebSocket.
    Upgrade = 5,
    /// `6`: nothing, used to end a pending poll during an upgrade.
    Noop = 6,
}

impl PacketKind {
    /// The ASCII digit of this type (`b'4'` for a message).
    pub fn as_char(self) -> u8 {
        b'0' + self as u8
    }

    /// The type of an ASCII digit `0`-`6`, `None` for any other byte.
    pub fn from_char(c: u8) -> Option<Self> {
        Some(match c {
            b'0' => Self::Open,
            b'1' => Self::Close,
            b'2' => Self::Ping,
            b'3' => Self::Pong,
            b'4' => Self::Message,
            b'5' => Self::Upgrade,
            b'6' => Self::Noop,
            _ => return None,
        })
    }
}

/// Splits a text packet as it travels (`"4hello"`, `"2probe"`) into its type and the rest
/// (possibly empty: `"2"` is a ping without data).
///
/// Fails on an empty text and on a first byte that is not a packet type.
pub fn parse_text(s: &str) -> Result<(PacketKind, &str), ProtoError> {
    let first = *s.as_bytes().first().ok_or(ProtoError::EmptyPacket)?;
    let kind = PacketKind::from_char(first).ok_or(ProtoError::UnknownEngineType(first))?;
    // The first byte is ASCII, so index 1 is a character boundary.
    Ok((kind, s.get(1..).unwrap_or_default()))
}

/// The open packet, `0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}`,
/// with the keys in the order the Node server writes them. v3 has no `maxPayload`
/// (`max_payload` is then ignored).
pub fn open_packet(
    version: EioVersion,
    sid: &str,
    upgrades: &[&str],
    ping_interval_ms: u64,
    ping_timeout_ms: u64,
    max_payload: u64,
) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("0{\"sid\":");
    push_json_string(&mut out, sid);
    out.push_str(",\"upgrades\":[");
    for (i, u) in upgrades.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, u);
    }
    out.push_str("],\"pingInterval\":");
    out.push_str(&ping_interval_ms.to_string());
    out.push_str(",\"pingTimeout\":");
    out.push_str(&ping_timeout_ms.to_string());
    if version == EioVersion::V4 {
        out.push_str(",\"maxPayload\":");
        out.push_str(&max_payload.to_string());
    }
    out.push('}');
    out
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    // Serializing a `str` cannot fail; the fallback keeps the output valid JSON anyway.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_digit() {
        for c in b'0'..=b'6' {
            let kind = PacketKind::from_char(c).expect("a packet type");
            assert_eq!(kind.as_char(), c);
        }
        assert_eq!(PacketKind::Message.as_char(), b'4');
        for c in [b'7', b'9', b'/', b'a', b'b', 0, 0xff] {
            assert_eq!(PacketKind::from_char(c), None, "byte {c}");
        }
    }

    #[test]
    fn text_packets_split_into_kind_and_data() {
        assert_eq!(parse_text("4hello"), Ok((PacketKind::Message, "hello")));
        assert_eq!(parse_text("2probe"), Ok((PacketKind::Ping, "probe")));
        assert_eq!(parse_text("2"), Ok((PacketKind::Ping, "")));
        assert_eq!(parse_text("6"), Ok((PacketKind::Noop, "")));
        assert_eq!(parse_text("4é😀"), Ok((PacketKind::Message, "é😀")));
        assert_eq!(parse_text(""), Err(ProtoError::EmptyPacket));
        assert_eq!(parse_text("7"), Err(ProtoError::UnknownEngineType(b'7')));
        assert_eq!(
            parse_text("hello"),
            Err(ProtoError::UnknownEngineType(b'h'))
        );
        assert_eq!(parse_text("é"), Err(ProtoError::UnknownEngineType(0xc3)));
    }

    #[test]
    fn open_packet_v4_has_max_payload() {
        let p = open_packet(
            EioVersion::V4,
            "abc",
            &["websocket"],
            25000,
            20000,
            1_000_000,
        );
        assert_eq!(
            p,
            r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        let v: serde_json::Value = serde_json::from_str(&p[1..]).expect("JSON");
        assert_eq!(v["maxPayload"], 1_000_000);
    }

    #[test]
    fn open_packet_v3_omits_max_payload_and_escapes() {
        let p = open_packet(EioVersion::V3, "a\"b", &[], 1, 2, 3);
        assert_eq!(
            p,
            r#"0{"sid":"a\"b","upgrades":[],"pingInterval":1,"pingTimeout":2}"#
        );
        let v: serde_json::Value = serde_json::from_str(&p[1..]).expect("JSON");
        assert_eq!(v["sid"], "a\"b");
        assert!(v.get("maxPayload").is_none());
    }
}
