//! Socket.IO packets (the text after Engine.IO's `4`):
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`.
//!
//! Decoding follows Node's `socket.io-parser` (4.2 for protocol v5, 3.x for v4), except
//! that it is stricter where Node's number parsing is lax: the attachment count and the ack
//! id must be plain ASCII digits (Node's `Number()` also takes spaces, `0x1`, `1e0`, …), an
//! empty text is refused (Node reads it as a `CONNECT`), and ack packets need an id and an
//! array, as the protocol says (Node lets them through and ignores them).

use std::borrow::Cow;

use serde::Deserialize as _;
use serde_json::value::RawValue;

use super::ProtoError;
use super::binary::event_name;

/// Event names clients may not send (they have a meaning in the Socket.IO API).
pub const RESERVED_EVENTS: &[&str] = &[
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The Socket.IO protocol revision of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SioVersion {
    /// Protocol v4: socket.io 2.x clients, over Engine.IO v3. `CONNECT` may carry a query
    /// in the namespace (`0/admin?token=1,`).
    V4,
    /// Protocol v5: socket.io 3+ clients, over Engine.IO v4. `CONNECT` may carry an object.
    V5,
}

/// The type of a Socket.IO packet, written as one ASCII digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SioKind {
    /// `0`: join a namespace (client), or its acceptance (server).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event, `["name", args…]`.
    Event = 2,
    /// `3`: the answer to an event that asked for one (`[args…]`).
    Ack = 3,
    /// `4`: a refused namespace connection (`ERROR` in protocol v4).
    ConnectError = 4,
    /// `5`: an event with binary attachments.
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments.
    BinaryAck = 6,
}

impl SioKind {
    /// The ASCII digit of this type.
    pub fn as_char(self) -> u8 {
        b'0' + self as u8
    }

    /// The type of an ASCII digit `0`-`6`, `None` for any other byte.
    pub fn from_char(c: u8) -> Option<Self> {
        Some(match c {
            b'0' => Self::Connect,
            b'1' => Self::Disconnect,
            b'2' => Self::Event,
            b'3' => Self::Ack,
            b'4' => Self::ConnectError,
            b'5' => Self::BinaryEvent,
            b'6' => Self::BinaryAck,
            _ => return None,
        })
    }

    /// Whether packets of this type announce binary attachments (`5`, `6`).
    pub fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }
}

/// A decoded Socket.IO packet, borrowing from the text it was read from.
#[derive(Debug, Clone)]
pub struct SioPacket<'a> {
    /// The packet type.
    pub kind: SioKind,
    /// The namespace, `/` when absent. For a protocol v4 `CONNECT`, without its `?query`.
    pub ns: Cow<'a, str>,
    /// Protocol v4 `CONNECT` only: what followed `?` in the namespace.
    pub query: Option<&'a str>,
    /// The ack id.
    pub id: Option<u64>,
    /// The number of binary attachments that follow (binary kinds only, at least 1;
    /// 0 otherwise).
    pub attachments: usize,
    /// The JSON payload (validated for its packet type; binary placeholders not checked).
    pub data: Option<&'a RawValue>,
}

/// Decodes and validates a Socket.IO packet.
///
/// Refused, as by Node's parser: an unknown type; an attachment count on a binary kind that
/// is not `<digits>-`, is 0, or exceeds `max_attachments`; an ack id overflowing `u64`; a
/// payload that is not JSON or has the wrong shape: `CONNECT` an object (v5) or an
/// object, array or `null` (v4, as `typeof "object"`), `DISCONNECT` none, `CONNECT_ERROR`
/// a string or object, events a non-empty array whose first element is a number or a
/// string other than the [`RESERVED_EVENTS`] (checked in both versions), acks an array.
/// Events and acks need their payload, acks their id.
pub fn decode(
    s: &str,
    version: SioVersion,
    max_attachments: usize,
) -> Result<SioPacket<'_>, ProtoError> {
    let first = *s.as_bytes().first().ok_or(ProtoError::EmptyPacket)?;
    let kind = SioKind::from_char(first).ok_or(ProtoError::UnknownSocketType(first))?;
    // The first byte is ASCII, so index 1 is a character boundary.
    let mut rest = s.get(1..).unwrap_or_default();

    let mut attachments = 0;
    if kind.is_binary() {
        let digits = leading_digits(rest);
        if digits == 0 || rest.as_bytes().get(digits) != Some(&b'-') {
            return Err(ProtoError::IllegalAttachments);
        }
        let too_many = ProtoError::TooManyAttachments {
            max: max_attachments,
        };
        let n = parse_digits(rest.get(..digits).unwrap_or_default()).ok_or(too_many.clone())?;
        if n == 0 {
            return Err(ProtoError::IllegalAttachments);
        }
        attachments = usize::try_from(n).map_err(|_| too_many.clone())?;
        if attachments > max_attachments {
            return Err(too_many);
        }
        rest = rest.get(digits + 1..).unwrap_or_default();
    }

    let mut ns = "/";
    if rest.starts_with('/') {
        (ns, rest) = rest.split_once(',').unwrap_or((rest, ""));
    }
    let mut query = None;
    if version == SioVersion::V4
        && kind == SioKind::Connect
        && let Some((path, q)) = ns.split_once('?')
    {
        ns = path;
        query = Some(q);
    }

    let digits = leading_digits(rest);
    let id = match digits {
        0 => None,
        _ => Some(
            parse_digits(rest.get(..digits).unwrap_or_default())
                .ok_or(ProtoError::AckIdOverflow)?,
        ),
    };
    rest = rest.get(digits..).unwrap_or_default();

    let data = match rest {
        "" => None,
        json => Some(serde_json::from_str::<&RawValue>(json).map_err(|_| ProtoError::InvalidJson)?),
    };
    validate(kind, version, id, data)?;
    Ok(SioPacket {
        kind,
        ns: Cow::Borrowed(ns),
        query,
        id,
        attachments,
        data,
    })
}

/// The JSON type of a validated value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    String,
    Null,
    Other,
}

fn json_type(v: &RawValue) -> JsonType {
    match v.get().trim_start().as_bytes().first() {
        Some(b'{') => JsonType::Object,
        Some(b'[') => JsonType::Array,
        Some(b'"') => JsonType::String,
        Some(b'n') => JsonType::Null,
        _ => JsonType::Other,
    }
}

fn validate(
    kind: SioKind,
    version: SioVersion,
    id: Option<u64>,
    data: Option<&RawValue>,
) -> Result<(), ProtoError> {
    let invalid = |reason| Err(ProtoError::InvalidPayload { kind, reason });
    let ty = data.map(json_type);
    // Protocol v4 checked `typeof payload === "object"`: objects, arrays and null.
    let object_like = |t| match version {
        SioVersion::V5 => t == JsonType::Object,
        SioVersion::V4 => matches!(t, JsonType::Object | JsonType::Array | JsonType::Null),
    };
    match kind {
        SioKind::Connect => match ty {
            Some(t) if !object_like(t) => invalid("the payload must be an object"),
            _ => Ok(()),
        },
        SioKind::Disconnect => match ty {
            Some(_) => invalid("no payload allowed"),
            None => Ok(()),
        },
        SioKind::ConnectError => match ty {
            Some(t) if t != JsonType::String && !object_like(t) => {
                invalid("the payload must be a string or an object")
            }
            _ => Ok(()),
        },
        SioKind::Event | SioKind::BinaryEvent => {
            let Some(data) = data else {
                return invalid("an event needs a payload");
            };
            let Some(first) = first_element(data) else {
                return invalid("the payload must be a non-empty array");
            };
            let name = event_name(first).map_err(|_| ProtoError::InvalidPayload {
                kind,
                reason: "the event name must be a string or a number",
            })?;
            if RESERVED_EVENTS.contains(&&*name) {
                return Err(ProtoError::ReservedEventName);
            }
            Ok(())
        }
        SioKind::Ack | SioKind::BinaryAck => {
            if id.is_none() {
                return Err(ProtoError::MissingAckId);
            }
            match ty {
                Some(JsonType::Array) => Ok(()),
                _ => invalid("the payload must be an array"),
            }
        }
    }
}

/// The first element of a JSON array (already validated), read without parsing the rest;
/// `None` if `v` is not an array or is empty.
fn first_element(v: &RawValue) -> Option<&RawValue> {
    let inner = v.get().trim_start().strip_prefix('[')?.trim_start();
    if inner.starts_with(']') {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(inner);
    <&RawValue>::deserialize(&mut de).ok()
}

fn leading_digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

/// ASCII digits as a number; `None` on overflow.
fn parse_digits(digits: &str) -> Option<u64> {
    digits.bytes().try_fold(0u64, |n, d| {
        n.checked_mul(10)?
            .checked_add(u64::from(d.wrapping_sub(b'0')))
    })
}

/// Appends a Socket.IO packet to `out` (after whatever the caller wrote, e.g. Engine.IO's
/// `4`): the type, `N-` for binary kinds, the namespace followed by `,` unless it is `/`
/// (or empty), the ack id, then `data` (JSON text, written as is).
///
/// The comma is written even when nothing follows (`1/admin,`), as Node does; decoders
/// accept both. `ns` is expected to start with `/`.
pub fn encode(
    out: &mut Vec<u8>,
    kind: SioKind,
    ns: &str,
    id: Option<u64>,
    attachments: usize,
    data: Option<&str>,
) {
    out.push(kind.as_char());
    if kind.is_binary() {
        push_decimal(out, attachments as u64);
        out.push(b'-');
    }
    if !ns.is_empty() && ns != "/" {
        out.extend_from_slice(ns.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        push_decimal(out, id);
    }
    if let Some(data) = data {
        out.extend_from_slice(data.as_bytes());
    }
}

/// Appends an event's data array, `["name",a1,a2]`, from the name and the JSON texts of the
/// arguments (written as they are, not re-serialized).
pub fn event_array(out: &mut Vec<u8>, event: &str, args: &[&str]) {
    out.push(b'[');
    push_json_string(out, event);
    for a in args {
        out.push(b',');
        out.extend_from_slice(a.as_bytes());
    }
    out.push(b']');
}

/// Appends `s` as a JSON string literal, escaped as `JSON.stringify` does.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut n = n;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(at..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> SioPacket<'_> {
        match decode(s, SioVersion::V5, 10) {
            Ok(p) => p,
            Err(e) => panic!("{s:?} should decode: {e}"),
        }
    }

    fn data<'a>(p: &SioPacket<'a>) -> Option<&'a str> {
        p.data.map(RawValue::get)
    }

    fn enc(kind: SioKind, ns: &str, id: Option<u64>, att: usize, data: Option<&str>) -> String {
        let mut out = b"4".to_vec();
        encode(&mut out, kind, ns, id, att, data);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn official_suite_packets_decode() {
        let p = ok("0");
        assert_eq!(
            (p.kind, &*p.ns, p.id, p.attachments),
            (SioKind::Connect, "/", None, 0)
        );
        assert_eq!(data(&p), None);
        let p = ok(r#"0{"token":"123"}"#);
        assert_eq!((&*p.ns, data(&p)), ("/", Some(r#"{"token":"123"}"#)));
        let p = ok("0/custom,");
        assert_eq!((&*p.ns, data(&p)), ("/custom", None));
        let p = ok(r#"0/custom,{"token":"abc"}"#);
        assert_eq!((&*p.ns, data(&p)), ("/custom", Some(r#"{"token":"abc"}"#)));
        assert_eq!(ok("0/random").ns, "/random");
        let p = ok("1");
        assert_eq!((p.kind, &*p.ns), (SioKind::Disconnect, "/"));
        assert_eq!(ok("1/custom").ns, "/custom");
        assert_eq!(ok("1/custom,").ns, "/custom");
        let p = ok(r#"2["message",1,"2",{"3":[true]}]"#);
        assert_eq!((p.kind, p.id), (SioKind::Event, None));
        assert_eq!(data(&p), Some(r#"["message",1,"2",{"3":[true]}]"#));
        let p = ok(r#"2456["message-with-ack",1]"#);
        assert_eq!(
            (p.id, data(&p)),
            (Some(456), Some(r#"["message-with-ack",1]"#))
        );
        let text = r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        let p = ok(text);
        assert_eq!(
            (p.kind, p.attachments, p.id),
            (SioKind::BinaryEvent, 2, None)
        );
        assert_eq!(data(&p), text.get(3..));
        let p = ok(
            r#"52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
        assert_eq!((p.attachments, p.id), (2, Some(789)));
        let p = ok("3456[1]");
        assert_eq!(
            (p.kind, p.id, data(&p)),
            (SioKind::Ack, Some(456), Some("[1]"))
        );
        let p = ok(r#"61-15["bar",{"_placeholder":true,"num":0}]"#);
        assert_eq!(
            (p.kind, p.attachments, p.id),
            (SioKind::BinaryAck, 1, Some(15))
        );
        let p = ok(r#"3/admin,13["bar"]"#);
        assert_eq!(
            (&*p.ns, p.id, data(&p)),
            ("/admin", Some(13), Some(r#"["bar"]"#))
        );
        let p = ok(r#"4{"message":"Not authorized"}"#);
        assert_eq!(p.kind, SioKind::ConnectError);
        assert_eq!(ok(r#"4"refused""#).kind, SioKind::ConnectError);
    }

    #[test]
    fn official_suite_packets_that_close() {
        let d = |s| decode(s, SioVersion::V5, 10).map(|p| p.kind);
        assert_eq!(d("abc"), Err(ProtoError::UnknownSocketType(b'a')));
        assert_eq!(
            d("2{}"),
            Err(ProtoError::InvalidPayload {
                kind: SioKind::Event,
                reason: "the payload must be a non-empty array"
            })
        );
        assert_eq!(
            d(r#"2abc["message-with-ack",1]"#),
            Err(ProtoError::InvalidJson)
        );
    }

    #[test]
    fn each_rule_refuses() {
        let d = |s| decode(s, SioVersion::V5, 3).map(|p| p.kind);
        assert_eq!(d(""), Err(ProtoError::EmptyPacket));
        assert_eq!(d("7"), Err(ProtoError::UnknownSocketType(b'7')));
        assert_eq!(d(" 0"), Err(ProtoError::UnknownSocketType(b' ')));
        // attachments
        assert_eq!(d(r#"5-["a"]"#), Err(ProtoError::IllegalAttachments));
        assert_eq!(d(r#"50-["a"]"#), Err(ProtoError::IllegalAttachments));
        assert_eq!(d(r#"51["a"]"#), Err(ProtoError::IllegalAttachments));
        assert_eq!(d(r#"5x1-["a"]"#), Err(ProtoError::IllegalAttachments));
        assert_eq!(d("51"), Err(ProtoError::IllegalAttachments));
        assert_eq!(
            d(r#"54-["a"]"#),
            Err(ProtoError::TooManyAttachments { max: 3 })
        );
        assert_eq!(
            d(r#"599999999999999999999999-["a"]"#),
            Err(ProtoError::TooManyAttachments { max: 3 })
        );
        assert_eq!(d(r#"53-["a"]"#), Ok(SioKind::BinaryEvent));
        assert_eq!(d(r#"603-1["a"]"#), Ok(SioKind::BinaryAck), "leading zeros");
        // ack id
        assert_eq!(d(r#"218446744073709551615["a"]"#), Ok(SioKind::Event));
        assert_eq!(
            d(r#"218446744073709551616["a"]"#),
            Err(ProtoError::AckIdOverflow)
        );
        assert_eq!(d("3[]"), Err(ProtoError::MissingAckId));
        assert_eq!(d(r#"61-["a"]"#), Err(ProtoError::MissingAckId));
        // JSON
        assert_eq!(d("2[\"a\""), Err(ProtoError::InvalidJson));
        assert_eq!(d("2[\"a\"] x"), Err(ProtoError::InvalidJson));
        assert_eq!(d("0 "), Err(ProtoError::InvalidJson));
        assert_eq!(d("1/a,x"), Err(ProtoError::InvalidJson));
        // payload shapes
        let shape = |kind, reason| Err(ProtoError::InvalidPayload { kind, reason });
        assert_eq!(
            d("0[]"),
            shape(SioKind::Connect, "the payload must be an object")
        );
        assert_eq!(
            d("0\"x\""),
            shape(SioKind::Connect, "the payload must be an object")
        );
        assert_eq!(
            d("0null"),
            shape(SioKind::Connect, "the payload must be an object")
        );
        assert_eq!(d("1{}"), shape(SioKind::Disconnect, "no payload allowed"));
        assert_eq!(
            d("1/a,[]"),
            shape(SioKind::Disconnect, "no payload allowed")
        );
        let ce = "the payload must be a string or an object";
        assert_eq!(d("4[]"), shape(SioKind::ConnectError, ce));
        assert_eq!(d("4true"), shape(SioKind::ConnectError, ce));
        assert_eq!(d("41"), Ok(SioKind::ConnectError), "an id, no payload");
        assert_eq!(d("4"), Ok(SioKind::ConnectError));
        let ev = "the payload must be a non-empty array";
        assert_eq!(d("2"), shape(SioKind::Event, "an event needs a payload"));
        assert_eq!(d("2[]"), shape(SioKind::Event, ev));
        assert_eq!(d("2 [ ] "), shape(SioKind::Event, ev));
        assert_eq!(d("2\"a\""), shape(SioKind::Event, ev));
        let name = "the event name must be a string or a number";
        assert_eq!(d("2[null]"), shape(SioKind::Event, name));
        assert_eq!(d("2[[\"a\"]]"), shape(SioKind::Event, name));
        assert_eq!(d("2[true,1]"), shape(SioKind::Event, name));
        assert_eq!(d(r#"51-[{"a":1}]"#), shape(SioKind::BinaryEvent, name));
        assert_eq!(d("2[1]"), Ok(SioKind::Event), "numeric names are allowed");
        assert_eq!(d("2[-1.5e3,\"x\"]"), Ok(SioKind::Event));
        assert_eq!(d("212{}"), shape(SioKind::Event, ev));
        assert_eq!(
            d("31{}"),
            shape(SioKind::Ack, "the payload must be an array")
        );
        assert_eq!(d("31"), shape(SioKind::Ack, "the payload must be an array"));
        assert_eq!(
            d(r#"61-1{"a":1}"#),
            shape(SioKind::BinaryAck, "the payload must be an array")
        );
        assert_eq!(d("31[]"), Ok(SioKind::Ack));
    }

    #[test]
    fn reserved_event_names_are_refused() {
        for name in RESERVED_EVENTS {
            for version in [SioVersion::V4, SioVersion::V5] {
                let text = format!("2[\"{name}\",1]");
                assert_eq!(
                    decode(&text, version, 1).map(|p| p.kind),
                    Err(ProtoError::ReservedEventName),
                    "{text}"
                );
            }
        }
        // Escaped spelling of a reserved name is the same name.
        assert_eq!(
            decode(r#"2["\u0063onnect"]"#, SioVersion::V5, 1).map(|p| p.kind),
            Err(ProtoError::ReservedEventName)
        );
        assert_eq!(ok(r#"2["connected"]"#).kind, SioKind::Event);
        assert_eq!(ok(r#"2["Connect"]"#).kind, SioKind::Event);
    }

    #[test]
    fn whitespace_around_json_is_accepted() {
        let p = ok("2 [\"a\", 1] ");
        assert_eq!(data(&p), Some("[\"a\", 1]"));
        assert_eq!(ok("0 { } ").kind, SioKind::Connect);
    }

    #[test]
    fn v4_connect_splits_the_query() {
        let p = decode("0/admin?token=1&x=2,", SioVersion::V4, 10).expect("decodes");
        assert_eq!((&*p.ns, p.query), ("/admin", Some("token=1&x=2")));
        let p = decode("0/admin?token=1", SioVersion::V4, 10).expect("decodes");
        assert_eq!((&*p.ns, p.query), ("/admin", Some("token=1")));
        let p = decode("0/?a=b,", SioVersion::V4, 10).expect("decodes");
        assert_eq!((&*p.ns, p.query), ("/", Some("a=b")));
        let p = decode("0/admin,", SioVersion::V4, 10).expect("decodes");
        assert_eq!((&*p.ns, p.query), ("/admin", None));
        // Only for CONNECT, and only in v4.
        let p = decode("1/admin?x", SioVersion::V4, 10).expect("decodes");
        assert_eq!((&*p.ns, p.query), ("/admin?x", None));
        let p = decode("0/admin?x", SioVersion::V5, 10).expect("decodes");
        assert_eq!((&*p.ns, p.query), ("/admin?x", None));
    }

    #[test]
    fn v4_payload_rules_follow_parser_3() {
        let d = |s| decode(s, SioVersion::V4, 10).map(|p| p.kind);
        assert_eq!(d("0/a,{}"), Ok(SioKind::Connect));
        assert_eq!(d("0/a,[]"), Ok(SioKind::Connect));
        assert_eq!(d("0/a,null"), Ok(SioKind::Connect));
        assert!(matches!(
            d("0/a,\"x\""),
            Err(ProtoError::InvalidPayload { .. })
        ));
        assert!(matches!(
            d("0/a,true"),
            Err(ProtoError::InvalidPayload { .. })
        ));
        assert_eq!(d("4\"x\""), Ok(SioKind::ConnectError));
        assert_eq!(d("4null"), Ok(SioKind::ConnectError));
        assert!(matches!(d("4true"), Err(ProtoError::InvalidPayload { .. })));
        assert!(matches!(d("2[]"), Err(ProtoError::InvalidPayload { .. })));
        assert_eq!(d("2[\"a\"]"), Ok(SioKind::Event));
    }

    #[test]
    fn namespace_edge_cases() {
        // No `/` right after the type: no namespace, the rest is id and data.
        assert!(matches!(
            decode("2,[\"a\"]", SioVersion::V5, 1),
            Err(ProtoError::InvalidJson)
        ));
        // A namespace without comma runs to the end, even across what looks like JSON.
        assert_eq!(ok("1/a[1]").ns, "/a[1]");
        assert!(decode("2/a[\"x\",1]", SioVersion::V5, 1).is_err());
        // Namespaces with `/` inside, and multi-byte characters.
        assert_eq!(ok("2/a/b,[\"x\"]").ns, "/a/b");
        assert_eq!(ok("2/é😀,7[\"x\"]").ns, "/é😀");
    }

    #[test]
    fn encoding_matches_node() {
        use SioKind::*;
        assert_eq!(enc(Connect, "/", None, 0, None), "40");
        assert_eq!(
            enc(Connect, "", None, 0, Some(r#"{"sid":"x"}"#)),
            r#"40{"sid":"x"}"#
        );
        assert_eq!(
            enc(Connect, "/admin", None, 0, Some(r#"{"sid":"x"}"#)),
            r#"40/admin,{"sid":"x"}"#
        );
        assert_eq!(enc(Disconnect, "/admin", None, 0, None), "41/admin,");
        assert_eq!(enc(Disconnect, "/", None, 0, None), "41");
        assert_eq!(
            enc(Event, "/", Some(12), 0, Some(r#"["foo"]"#)),
            r#"4212["foo"]"#
        );
        assert_eq!(
            enc(Ack, "/admin", Some(13), 0, Some(r#"["bar"]"#)),
            r#"43/admin,13["bar"]"#
        );
        assert_eq!(
            enc(BinaryEvent, "/admin", None, 2, Some("[]")),
            "452-/admin,[]"
        );
        assert_eq!(enc(BinaryAck, "/", Some(15), 1, Some("[]")), "461-15[]");
        assert_eq!(
            enc(Event, "/", Some(u64::MAX), 7, None),
            format!("42{}", u64::MAX)
        );
        assert_eq!(
            enc(
                ConnectError,
                "/random",
                None,
                0,
                Some(r#"{"message":"Invalid namespace"}"#)
            ),
            r#"44/random,{"message":"Invalid namespace"}"#
        );
    }

    #[test]
    fn event_arrays_escape_the_name_only() {
        let mut out = Vec::new();
        event_array(&mut out, "auth", &["{}"]);
        assert_eq!(out, br#"["auth",{}]"#);
        let mut out = Vec::new();
        event_array(
            &mut out,
            "a\"b\\c\n\u{1}é",
            &["1", "\"2\"", "{\"3\":[true]}"],
        );
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(text, r#"["a\"b\\c\n\u0001é",1,"2",{"3":[true]}]"#);
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v[0], "a\"b\\c\n\u{1}é");
        let mut out = Vec::new();
        event_array(&mut out, "", &[]);
        assert_eq!(out, br#"[""]"#);
        let mut all = String::new();
        for c in (0u8..0x20).chain([b'"', b'\\', b'a']) {
            all.push(char::from(c));
        }
        let mut out = Vec::new();
        event_array(&mut out, &all, &[]);
        let expected = serde_json::to_string(&[&all]).expect("JSON");
        assert_eq!(String::from_utf8(out).expect("UTF-8"), expected);
    }

    #[test]
    fn round_trip_every_kind() {
        type Case<'a> = (SioKind, &'a str, Option<u64>, usize, Option<&'a str>);
        let cases: &[Case<'_>] = &[
            (SioKind::Connect, "/", None, 0, None),
            (
                SioKind::Connect,
                "/admin",
                None,
                0,
                Some(r#"{"token":"é"}"#),
            ),
            (SioKind::Disconnect, "/", None, 0, None),
            (SioKind::Disconnect, "/x", None, 0, None),
            (SioKind::Event, "/", None, 0, Some(r#"["a",1]"#)),
            (SioKind::Event, "/chat", Some(0), 0, Some(r#"[7,{"b":[]}]"#)),
            (SioKind::Ack, "/", Some(99), 0, Some("[]")),
            (SioKind::Ack, "/q", Some(1), 0, Some(r#"[null,"x"]"#)),
            (
                SioKind::ConnectError,
                "/",
                None,
                0,
                Some(r#"{"message":"no"}"#),
            ),
            (SioKind::ConnectError, "/n", None, 0, Some(r#""no""#)),
            (
                SioKind::BinaryEvent,
                "/",
                None,
                1,
                Some(r#"["a",{"_placeholder":true,"num":0}]"#),
            ),
            (SioKind::BinaryEvent, "/b", Some(5), 10, Some(r#"["a"]"#)),
            (SioKind::BinaryAck, "/", Some(3), 2, Some("[]")),
            (SioKind::BinaryAck, "/b", Some(4), 1, Some("[1]")),
        ];
        for &(kind, ns, id, att, data) in cases {
            let mut out = Vec::new();
            encode(&mut out, kind, ns, id, att, data);
            let text = String::from_utf8(out).expect("UTF-8");
            let p = match decode(&text, SioVersion::V5, 10) {
                Ok(p) => p,
                Err(e) => panic!("{text:?}: {e}"),
            };
            assert_eq!(p.kind, kind, "{text}");
            assert_eq!(p.ns, ns, "{text}");
            assert_eq!(p.id, id, "{text}");
            assert_eq!(p.attachments, att, "{text}");
            assert_eq!(p.data.map(RawValue::get), data, "{text}");
        }
    }
}
