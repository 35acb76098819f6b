//! HTTP long-polling payloads: several Engine.IO packets in one response or POST body.
//!
//! - v4: packets joined by the record separator `0x1e`; a binary packet is `b` followed by
//!   its base64 (`4hello\x1ebAQIDBA==`). Always text.
//! - v3, string form: each packet as `<length>:<packet>`, the length counting UTF-16 code
//!   units (JavaScript's `String.length`); a binary packet is `b4` followed by its base64
//!   (`5:4hello6:b4AQID`). Used with `b64=1` and JSONP, and whenever a batch has no binary
//!   packet.
//! - v3, binary form: used by XHR2 clients (no `b64`) when a batch has a binary packet. Per
//!   packet: a marker byte (`0` string, `1` binary), the byte length of what follows as
//!   decimal digits each written as a byte value 0-9, `0xFF`, then the packet: a string
//!   packet's UTF-8 text, or a binary packet's type byte `0x04` followed by the raw bytes
//!   (the length counts that `0x04`).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::ProtoError;
use super::engine::{EioVersion, PacketKind, parse_text};

/// The content type of text payloads (v4, v3 string form).
pub const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";
/// The content type of v3 binary-form payloads.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// The v4 record separator between packets.
const SEPARATOR: u8 = 0x1e;

/// Base64 as Node decodes it: the standard alphabet, padding optional, non-zero trailing
/// bits tolerated.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A packet to send, already encoded as Engine.IO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutItem<'a> {
    /// A text packet's full text including its type character (`b"42[\"a\"]"`, `b"2"`).
    /// Expected to be UTF-8 (the v3 length counts UTF-16 units of it).
    Text(&'a [u8]),
    /// A binary message's raw bytes.
    Binary(&'a [u8]),
}

/// A packet received in a POST body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InItem<'a> {
    /// A text packet: its type and the data after the type character.
    Text(PacketKind, Cow<'a, str>),
    /// A binary message's bytes (decoded from base64, or borrowed from a v3 binary form).
    Binary(Cow<'a, [u8]>),
}

/// What [`encode_payload`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// The `Content-Type` of the body: [`TEXT_PLAIN`] or [`OCTET_STREAM`].
    pub content_type: &'static str,
}

/// Appends the payload carrying `items` to `out`.
///
/// v4 is always the record-separated text form. v3 uses the binary form only when `b64`
/// is false and some item is binary; otherwise the string form (with `b64`, for JSONP, or
/// for text-only batches, as the Node server does). An empty batch is empty in v4 and
/// `0:` in v3 (Node's encoding; v3 clients take an empty body for an error).
pub fn encode_payload(
    version: EioVersion,
    b64: bool,
    items: &[OutItem<'_>],
    out: &mut Vec<u8>,
) -> Encoded {
    match version {
        EioVersion::V4 => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(SEPARATOR);
                }
                match item {
                    OutItem::Text(t) => out.extend_from_slice(t),
                    OutItem::Binary(b) => {
                        out.push(b'b');
                        push_base64(out, b);
                    }
                }
            }
            Encoded {
                content_type: TEXT_PLAIN,
            }
        }
        EioVersion::V3 if !b64 && items.iter().any(|i| matches!(i, OutItem::Binary(_))) => {
            for item in items {
                match item {
                    OutItem::Text(t) => {
                        out.push(0);
                        push_digit_bytes(out, t.len());
                        out.push(0xff);
                        out.extend_from_slice(t);
                    }
                    OutItem::Binary(b) => {
                        out.push(1);
                        push_digit_bytes(out, b.len().saturating_add(1));
                        out.push(0xff);
                        out.push(PacketKind::Message as u8);
                        out.extend_from_slice(b);
                    }
                }
            }
            Encoded {
                content_type: OCTET_STREAM,
            }
        }
        EioVersion::V3 => {
            if items.is_empty() {
                out.extend_from_slice(b"0:");
            }
            for item in items {
                match item {
                    OutItem::Text(t) => {
                        push_decimal(out, utf16_len(t));
                        out.push(b':');
                        out.extend_from_slice(t);
                    }
                    OutItem::Binary(b) => {
                        let encoded = base64::encoded_len(b.len(), true).unwrap_or(0);
                        push_decimal(out, encoded.saturating_add(2));
                        out.extend_from_slice(b":b4");
                        push_base64(out, b);
                    }
                }
            }
            Encoded {
                content_type: TEXT_PLAIN,
            }
        }
    }
}

/// Decodes a POST body into its packets.
///
/// v4: the record-separated form. v3: the binary form when the body starts with a `0x00`
/// or `0x01` marker, the string form otherwise; lengths must match the data exactly.
/// Refuses (never panics on) empty packets, malformed or mismatched lengths, bad base64,
/// text that is not UTF-8, unknown packet types, binary packets that are not messages,
/// and more than `max_packets` packets. Nothing is allocated from a claimed length.
pub fn decode_payload(
    version: EioVersion,
    body: &[u8],
    max_packets: usize,
) -> Result<Vec<InItem<'_>>, ProtoError> {
    let mut items = Vec::new();
    match version {
        EioVersion::V4 => {
            for piece in body.split(|&b| b == SEPARATOR) {
                room_for_one(&items, max_packets)?;
                items.push(decode_v4_packet(piece)?);
            }
        }
        EioVersion::V3 => match body.first() {
            None => return Err(ProtoError::EmptyPacket),
            Some(0 | 1) => decode_v3_binary(body, max_packets, &mut items)?,
            Some(_) => decode_v3_string(body, max_packets, &mut items)?,
        },
    }
    Ok(items)
}

fn room_for_one(items: &[InItem<'_>], max: usize) -> Result<(), ProtoError> {
    if items.len() >= max {
        return Err(ProtoError::TooManyPackets { max });
    }
    Ok(())
}

/// One v4 packet: `b<base64>` or `<type><text>`.
fn decode_v4_packet(piece: &[u8]) -> Result<InItem<'_>, ProtoError> {
    match piece.split_first() {
        None => Err(ProtoError::EmptyPacket),
        Some((b'b', b64)) => decode_base64(b64),
        Some(_) => decode_text(piece),
    }
}

fn decode_base64(b64: &[u8]) -> Result<InItem<'static>, ProtoError> {
    LENIENT_BASE64
        .decode(b64)
        .map(|bytes| InItem::Binary(Cow::Owned(bytes)))
        .map_err(|_| ProtoError::InvalidBase64)
}

fn decode_text(bytes: &[u8]) -> Result<InItem<'_>, ProtoError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ProtoError::InvalidUtf8)?;
    let (kind, data) = parse_text(text)?;
    Ok(InItem::Text(kind, Cow::Borrowed(data)))
}

/// One v3 string packet: `b4<base64>` or `<type><text>`.
fn decode_v3_packet(packet: &[u8]) -> Result<InItem<'_>, ProtoError> {
    match packet {
        [] => Err(ProtoError::EmptyPacket),
        [b'b', b'4', b64 @ ..] => decode_base64(b64),
        [b'b', ..] => Err(ProtoError::BinaryNotMessage),
        _ => decode_text(packet),
    }
}

/// `<length>:<packet>…`, lengths in UTF-16 code units.
fn decode_v3_string<'a>(
    body: &'a [u8],
    max: usize,
    items: &mut Vec<InItem<'a>>,
) -> Result<(), ProtoError> {
    let mut rest = std::str::from_utf8(body).map_err(|_| ProtoError::InvalidUtf8)?;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || rest.as_bytes().get(digits) != Some(&b':') {
            return Err(ProtoError::InvalidLength);
        }
        let claimed = parse_decimal(rest.as_bytes().get(..digits).unwrap_or_default(), b'0')
            .ok_or(ProtoError::LengthMismatch)?;
        let after = rest.get(digits + 1..).unwrap_or_default();
        let end = utf16_prefix(after, claimed).ok_or(ProtoError::LengthMismatch)?;
        let (packet, tail) = after
            .split_at_checked(end)
            .ok_or(ProtoError::LengthMismatch)?;
        room_for_one(items, max)?;
        items.push(decode_v3_packet(packet.as_bytes())?);
        rest = tail;
    }
    Ok(())
}

/// `<marker><digit bytes>0xFF<packet>…`, lengths in bytes.
fn decode_v3_binary<'a>(
    body: &'a [u8],
    max: usize,
    items: &mut Vec<InItem<'a>>,
) -> Result<(), ProtoError> {
    let mut rest = body;
    while let Some((&marker, after_marker)) = rest.split_first() {
        if marker > 1 {
            return Err(ProtoError::InvalidLength);
        }
        let digits = after_marker.iter().take_while(|&&b| b <= 9).count();
        if digits == 0 || after_marker.get(digits) != Some(&0xff) {
            return Err(ProtoError::InvalidLength);
        }
        let claimed = parse_decimal(after_marker.get(..digits).unwrap_or_default(), 0)
            .ok_or(ProtoError::LengthMismatch)?;
        let data = after_marker.get(digits + 1..).unwrap_or_default();
        let (packet, tail) = data
            .split_at_checked(claimed)
            .ok_or(ProtoError::LengthMismatch)?;
        room_for_one(items, max)?;
        let item = match (marker, packet.split_first()) {
            (_, None) => return Err(ProtoError::EmptyPacket),
            (0, _) => decode_v3_packet(packet)?,
            (_, Some((&4, raw))) => InItem::Binary(Cow::Borrowed(raw)),
            (_, Some(_)) => return Err(ProtoError::BinaryNotMessage),
        };
        items.push(item);
        rest = tail;
    }
    Ok(())
}

/// The number written by `digits`, each `zero + value`; `None` on overflow.
fn parse_decimal(digits: &[u8], zero: u8) -> Option<usize> {
    digits.iter().try_fold(0usize, |n, &d| {
        n.checked_mul(10)?
            .checked_add(usize::from(d.wrapping_sub(zero)))
    })
}

/// The byte length of the prefix of `s` that is `units` UTF-16 code units long; `None` if
/// `s` is shorter or the count ends inside a surrogate pair.
fn utf16_prefix(s: &str, units: usize) -> Option<usize> {
    let mut seen = 0usize;
    for (at, ch) in s.char_indices() {
        if seen == units {
            return Some(at);
        }
        seen += ch.len_utf16();
        if seen > units {
            return None;
        }
    }
    (seen == units).then_some(s.len())
}

/// The UTF-16 length of UTF-8 text (each byte that starts a character counts 1, those
/// starting a 4-byte character 2); never fails, even on bytes that are not UTF-8.
fn utf16_len(text: &[u8]) -> usize {
    text.iter()
        .map(|&b| match b {
            0x80..=0xbf => 0,
            0xf0..=0xff => 2,
            _ => 1,
        })
        .sum()
}

fn push_base64(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = out
        .get_mut(start..)
        .and_then(|dst| STANDARD.encode_slice(data, dst).ok())
        .unwrap_or(0);
    out.truncate(start + written);
}

/// The decimal digits of `n`, most significant first, as values 0-9.
fn digits_of(n: usize) -> impl Iterator<Item = u8> {
    let mut buf = [0u8; 20];
    let mut len = 0;
    let mut n = n;
    loop {
        buf[len] = (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.into_iter().take(len).rev()
}

fn push_decimal(out: &mut Vec<u8>, n: usize) {
    out.extend(digits_of(n).map(|d| b'0' + d));
}

fn push_digit_bytes(out: &mut Vec<u8>, n: usize) {
    out.extend(digits_of(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(version: EioVersion, b64: bool, items: &[OutItem<'_>]) -> (Vec<u8>, &'static str) {
        let mut out = Vec::new();
        let e = encode_payload(version, b64, items, &mut out);
        (out, e.content_type)
    }

    fn text(kind: PacketKind, s: &str) -> InItem<'_> {
        InItem::Text(kind, Cow::Borrowed(s))
    }

    fn bin(b: &[u8]) -> InItem<'_> {
        InItem::Binary(Cow::Borrowed(b))
    }

    #[test]
    fn v4_joins_with_record_separator_and_base64() {
        let items = [
            OutItem::Text(b"4hello"),
            OutItem::Text(b"2"),
            OutItem::Binary(&[1, 2, 3, 4]),
            OutItem::Text(b"4world"),
        ];
        let (out, ct) = encode(EioVersion::V4, false, &items);
        assert_eq!(out, b"4hello\x1e2\x1ebAQIDBA==\x1e4world");
        assert_eq!(ct, TEXT_PLAIN);
        let back = decode_payload(EioVersion::V4, &out, 10).expect("decodes");
        assert_eq!(
            back,
            [
                text(PacketKind::Message, "hello"),
                text(PacketKind::Ping, ""),
                bin(&[1, 2, 3, 4]),
                text(PacketKind::Message, "world"),
            ]
        );
    }

    #[test]
    fn v4_single_and_empty() {
        assert_eq!(
            encode(EioVersion::V4, false, &[OutItem::Text(b"6")]).0,
            b"6"
        );
        assert_eq!(encode(EioVersion::V4, true, &[]).0, b"");
        assert_eq!(
            decode_payload(EioVersion::V4, b"b", 4),
            Ok(vec![bin(&[])]),
            "an empty binary message"
        );
    }

    #[test]
    fn v4_decode_errors() {
        fn d(b: &[u8]) -> Result<Vec<InItem<'_>>, ProtoError> {
            decode_payload(EioVersion::V4, b, 3)
        }
        assert_eq!(d(b""), Err(ProtoError::EmptyPacket));
        assert_eq!(d(b"4a\x1e\x1e4b"), Err(ProtoError::EmptyPacket));
        assert_eq!(d(b"4a\x1e"), Err(ProtoError::EmptyPacket));
        assert_eq!(d(b"8x"), Err(ProtoError::UnknownEngineType(b'8')));
        assert_eq!(d(b"b!!!"), Err(ProtoError::InvalidBase64));
        assert_eq!(d(b"4\xff"), Err(ProtoError::InvalidUtf8));
        assert_eq!(
            d(b"2\x1e2\x1e2\x1e2"),
            Err(ProtoError::TooManyPackets { max: 3 })
        );
        assert_eq!(d(b"2\x1e2\x1e2").map(|v| v.len()), Ok(3));
    }

    #[test]
    fn v4_base64_is_lenient_about_padding() {
        fn d(b: &[u8]) -> Result<Vec<InItem<'_>>, ProtoError> {
            decode_payload(EioVersion::V4, b, 3)
        }
        assert_eq!(d(b"bAQIDBA"), Ok(vec![bin(&[1, 2, 3, 4])]));
        assert_eq!(d(b"bAQIDBA=="), Ok(vec![bin(&[1, 2, 3, 4])]));
    }

    #[test]
    fn v3_string_form_counts_utf16_units() {
        let items = [
            OutItem::Text("4é".as_bytes()),
            OutItem::Text("4😀".as_bytes()),
            OutItem::Text(b"2"),
        ];
        let (out, ct) = encode(EioVersion::V3, false, &items);
        assert_eq!(out, "2:4é3:4😀1:2".as_bytes());
        assert_eq!(ct, TEXT_PLAIN);
        let back = decode_payload(EioVersion::V3, &out, 10).expect("decodes");
        assert_eq!(
            back,
            [
                text(PacketKind::Message, "é"),
                text(PacketKind::Message, "😀"),
                text(PacketKind::Ping, ""),
            ]
        );
    }

    #[test]
    fn v3_string_form_with_binary_when_b64() {
        let items = [OutItem::Text(b"4hi"), OutItem::Binary(&[1, 2, 3])];
        let (out, ct) = encode(EioVersion::V3, true, &items);
        assert_eq!(out, b"3:4hi6:b4AQID");
        assert_eq!(ct, TEXT_PLAIN);
        let back = decode_payload(EioVersion::V3, &out, 10).expect("decodes");
        assert_eq!(back, [text(PacketKind::Message, "hi"), bin(&[1, 2, 3])]);
    }

    #[test]
    fn v3_empty_batch_is_zero_colon() {
        assert_eq!(
            encode(EioVersion::V3, false, &[]),
            (b"0:".to_vec(), TEXT_PLAIN)
        );
        assert_eq!(
            encode(EioVersion::V3, true, &[]),
            (b"0:".to_vec(), TEXT_PLAIN)
        );
    }

    #[test]
    fn v3_binary_form_for_xhr2_batches_with_binary() {
        let long = [7u8; 12];
        let items = [
            OutItem::Text("4é".as_bytes()),
            OutItem::Binary(&[1, 2, 3]),
            OutItem::Binary(&long),
            OutItem::Text(b"2"),
        ];
        let (out, ct) = encode(EioVersion::V3, false, &items);
        assert_eq!(ct, OCTET_STREAM);
        let mut expected = vec![0, 3, 0xff, b'4', 0xc3, 0xa9];
        expected.extend_from_slice(&[1, 4, 0xff, 4, 1, 2, 3]);
        expected.extend_from_slice(&[1, 1, 3, 0xff, 4]);
        expected.extend_from_slice(&long);
        expected.extend_from_slice(&[0, 1, 0xff, b'2']);
        assert_eq!(out, expected);
        let back = decode_payload(EioVersion::V3, &out, 10).expect("decodes");
        assert_eq!(
            back,
            [
                text(PacketKind::Message, "é"),
                bin(&[1, 2, 3]),
                bin(&long),
                text(PacketKind::Ping, ""),
            ]
        );
        // Borrowed from the body, not copied.
        assert!(matches!(back[1], InItem::Binary(Cow::Borrowed(_))));
    }

    #[test]
    fn v3_text_only_batches_use_the_string_form_even_for_xhr2() {
        let (out, ct) = encode(EioVersion::V3, false, &[OutItem::Text(b"40")]);
        assert_eq!((out.as_slice(), ct), (&b"2:40"[..], TEXT_PLAIN));
    }

    #[test]
    fn v3_string_form_errors() {
        fn d(b: &[u8]) -> Result<Vec<InItem<'_>>, ProtoError> {
            decode_payload(EioVersion::V3, b, 3)
        }
        assert_eq!(d(b""), Err(ProtoError::EmptyPacket));
        assert_eq!(d(b"0:"), Err(ProtoError::EmptyPacket));
        assert_eq!(d(b"2:4a0:"), Err(ProtoError::EmptyPacket));
        assert_eq!(d(b":4a"), Err(ProtoError::InvalidLength));
        assert_eq!(d(b"2x4a"), Err(ProtoError::InvalidLength));
        assert_eq!(d(b"24a"), Err(ProtoError::InvalidLength));
        assert_eq!(
            d(b"2:4a3"),
            Err(ProtoError::InvalidLength),
            "trailing length"
        );
        assert_eq!(d(b"3:4a"), Err(ProtoError::LengthMismatch), "too long");
        assert_eq!(d(b"1:4a"), Err(ProtoError::InvalidLength), "too short");
        assert_eq!(
            d(b"99999999999999999999999:4"),
            Err(ProtoError::LengthMismatch)
        );
        assert_eq!(
            d("3:4é".as_bytes()),
            Err(ProtoError::LengthMismatch),
            "bytes, not units"
        );
        assert_eq!(
            d("2:4😀".as_bytes()),
            Err(ProtoError::LengthMismatch),
            "half a pair"
        );
        assert_eq!(d(b"2:4\xff"), Err(ProtoError::InvalidUtf8));
        assert_eq!(d(b"1:9"), Err(ProtoError::UnknownEngineType(b'9')));
        assert_eq!(d(b"4:b4!!"), Err(ProtoError::InvalidBase64));
        assert_eq!(d(b"4:b2AA"), Err(ProtoError::BinaryNotMessage));
        assert_eq!(
            d(b"1:21:21:21:2"),
            Err(ProtoError::TooManyPackets { max: 3 })
        );
        assert_eq!(d(b"1:21:21:2").map(|v| v.len()), Ok(3));
    }

    #[test]
    fn v3_binary_form_errors() {
        fn d(b: &[u8]) -> Result<Vec<InItem<'_>>, ProtoError> {
            decode_payload(EioVersion::V3, b, 3)
        }
        assert_eq!(d(&[0, 0xff]), Err(ProtoError::InvalidLength), "no digits");
        assert_eq!(
            d(&[0, 1, 2]),
            Err(ProtoError::InvalidLength),
            "no terminator"
        );
        assert_eq!(
            d(&[0, 10, 0xff, b'2']),
            Err(ProtoError::InvalidLength),
            "digit > 9"
        );
        assert_eq!(
            d(&[0, 1, 0xff, b'2', 2]),
            Err(ProtoError::InvalidLength),
            "marker 2"
        );
        assert_eq!(
            d(&[0, 9, 0xff, b'2']),
            Err(ProtoError::LengthMismatch),
            "truncated"
        );
        let huge = [
            1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0xff,
        ];
        assert_eq!(
            d(&huge),
            Err(ProtoError::LengthMismatch),
            "overflowing length"
        );
        assert_eq!(d(&[0, 0, 0xff]), Err(ProtoError::EmptyPacket));
        assert_eq!(d(&[1, 0, 0xff]), Err(ProtoError::EmptyPacket));
        assert_eq!(d(&[1, 2, 0xff, 2, 9]), Err(ProtoError::BinaryNotMessage));
        assert_eq!(d(&[0, 1, 0xff, 0xc3]), Err(ProtoError::InvalidUtf8));
        assert_eq!(
            d(&[0, 1, 0xff, b'x']),
            Err(ProtoError::UnknownEngineType(b'x'))
        );
        let four = [1, 1, 0xff, 4].repeat(4);
        assert_eq!(d(&four), Err(ProtoError::TooManyPackets { max: 3 }));
        assert_eq!(d(&four[4..]), Ok(vec![bin(&[]), bin(&[]), bin(&[])]));
    }

    #[test]
    fn v3_binary_form_accepts_base64_string_packets() {
        let body = [0, 6, 0xff, b'b', b'4', b'A', b'Q', b'I', b'D'];
        assert_eq!(
            decode_payload(EioVersion::V3, &body, 3),
            Ok(vec![bin(&[1, 2, 3])])
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(utf16_len("aé😀".as_bytes()), 4);
        assert_eq!(utf16_len(b"\xff\x80"), 2, "invalid UTF-8 still counts");
        assert_eq!(utf16_prefix("a😀b", 3), Some(5));
        assert_eq!(utf16_prefix("a😀b", 2), None);
        assert_eq!(utf16_prefix("a😀b", 4), Some(6));
        assert_eq!(utf16_prefix("a😀b", 5), None);
        assert_eq!(utf16_prefix("", 0), Some(0));
        let mut v = Vec::new();
        push_decimal(&mut v, 0);
        push_decimal(&mut v, 1230);
        push_digit_bytes(&mut v, 405);
        push_decimal(&mut v, usize::MAX);
        let mut expected = b"01230".to_vec();
        expected.extend_from_slice(&[4, 0, 5]);
        expected.extend_from_slice(usize::MAX.to_string().as_bytes());
        assert_eq!(v, expected);
        assert_eq!(parse_decimal(b"0042", b'0'), Some(42));
        assert_eq!(parse_decimal(&[4, 2], 0), Some(42));
        assert_eq!(parse_decimal(b"99999999999999999999999", b'0'), None);
    }
}
