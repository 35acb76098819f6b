//! The wire: Engine.IO v4 / Socket.IO v5 text frames over a WebSocket, only as far as the
//! bench needs them. Owns building the few frames a client sends (`40…` connect, `3` pong,
//! `42<id>[…]` events with an ack) and the cheap classification and scanning of the frames it
//! receives — without parsing whole payloads into JSON on the hot path. Knows nothing of
//! scenarios or counters.

use serde_json::Value;

/// Engine.IO pong, the answer to a server ping (`2`).
pub const PONG: &str = "3";

/// The WebSocket URL of a Socket.IO server's root namespace, transport `websocket` from the
/// start (no long-polling upgrade).
pub fn ws_url(host: &str, port: u16, path: &str) -> String {
    let path = path.trim_end_matches('/');
    format!("ws://{host}:{port}{path}/?EIO=4&transport=websocket")
}

/// The Socket.IO CONNECT packet for the root namespace: `40` without auth, `40{…}` with.
pub fn connect_frame(auth: Option<&Value>) -> String {
    match auth {
        None => "40".to_string(),
        Some(a) => format!("40{a}"),
    }
}

/// A Socket.IO EVENT packet that asks for an ack: `42<id>["event",arg]`.
pub fn event_with_ack(ack_id: u64, event: &str, arg: &Value) -> String {
    let name = Value::String(event.to_string());
    format!("42{ack_id}[{name},{arg}]")
}

/// What a received text frame is, borrowing from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Engine.IO OPEN (`0{sid, pingInterval, …}`).
    Open,
    /// Engine.IO CLOSE (`1`).
    Close,
    /// Engine.IO PING (`2`): must be answered with [`PONG`].
    Ping,
    /// Engine.IO NOOP (`6`) or anything else the bench ignores.
    Ignored,
    /// Socket.IO CONNECT accepted (`40` / `40{"sid":…}`).
    Connected,
    /// Socket.IO CONNECT_ERROR (`44{…}`), with the JSON after `44`.
    ConnectError(&'a str),
    /// Socket.IO DISCONNECT (`41`).
    Disconnect,
    /// Socket.IO EVENT (`42[…]`, root namespace, no ack id), with the JSON array.
    Event(&'a str),
    /// Socket.IO ACK (`43<id>[…]`), with the id and the JSON array.
    Ack(u64, &'a str),
}

/// Classifies a text frame by its first bytes.
pub fn classify(text: &str) -> Frame<'_> {
    let b = text.as_bytes();
    match b.first() {
        Some(b'0') => Frame::Open,
        Some(b'1') => Frame::Close,
        Some(b'2') => Frame::Ping,
        Some(b'4') => match b.get(1) {
            Some(b'0') => Frame::Connected,
            Some(b'1') => Frame::Disconnect,
            Some(b'2') => Frame::Event(&text[2..]),
            Some(b'3') => {
                let rest = &text[2..];
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                match rest[..digits].parse() {
                    Ok(id) => Frame::Ack(id, &rest[digits..]),
                    Err(_) => Frame::Ignored,
                }
            }
            Some(b'4') => Frame::ConnectError(&text[2..]),
            _ => Frame::Ignored,
        },
        _ => Frame::Ignored,
    }
}

/// The `message` of a CONNECT_ERROR payload (`{"message":"…"}`), or the raw payload.
pub fn connect_error_message(payload: &str) -> String {
    serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| payload.to_string())
}

/// The event name of an EVENT payload (`["name",…]`), when it is a plain string.
pub fn event_name(payload: &str) -> Option<&str> {
    let rest = payload.strip_prefix("[\"")?;
    let end = rest.find('"')?;
    let name = &rest[..end];
    (!name.contains('\\')).then_some(name)
}

/// Finds `"key":<unsigned integer>` in a JSON text by scanning, without parsing the rest.
/// `quoted_key` is the key with its quotes and colon, e.g. `"benchSeq":`. Whitespace after
/// the colon is allowed. Only the first occurrence counts.
pub fn find_u64(text: &str, quoted_key: &str) -> Option<u64> {
    let at = text.find(quoted_key)? + quoted_key.len();
    leading_u64(&text[at..])
}

/// `benchSeq` and `benchSentAt` of an event payload, found by one forward scan for `"bench`
/// keys (they come first in the bench's events, and first again when a server sorts keys),
/// stopping as soon as both are known.
pub fn bench_fields(text: &str) -> (Option<u64>, Option<u64>) {
    const KEY: &[u8] = b"\"bench";
    let b = text.as_bytes();
    let (mut seq, mut sent) = (None, None);
    let mut i = 0;
    while i + KEY.len() < b.len() {
        let Some(off) = b[i..].iter().position(|&c| c == b'"') else {
            break;
        };
        i += off;
        if !b[i..].starts_with(KEY) {
            i += 1;
            continue;
        }
        let rest = &text[i + KEY.len()..];
        if let Some(r) = rest.strip_prefix("Seq\":") {
            seq = leading_u64(r);
        } else if let Some(r) = rest.strip_prefix("SentAt\":") {
            sent = leading_u64(r);
        }
        if seq.is_some() && sent.is_some() {
            break;
        }
        i += KEY.len();
    }
    (seq, sent)
}

fn leading_u64(text: &str) -> Option<u64> {
    let rest = text.trim_start_matches([' ', '\t', '\n', '\r']);
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    rest[..digits].parse().ok()
}

/// Whether an ACK payload (`[{"success":true,…}]`) reports success, and the error otherwise.
pub fn ack_result(payload: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(payload).map_err(|_| format!("bad ack: {payload}"))?;
    let first = v.get(0).unwrap_or(&Value::Null);
    if first.get("success").and_then(Value::as_bool) == Some(true) {
        Ok(())
    } else {
        Err(first
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| payload.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_are_classified() {
        assert_eq!(classify("0{\"sid\":\"x\"}"), Frame::Open);
        assert_eq!(classify("2"), Frame::Ping);
        assert_eq!(classify("40{\"sid\":\"a\"}"), Frame::Connected);
        assert_eq!(classify("41"), Frame::Disconnect);
        assert_eq!(
            classify("44{\"message\":\"no\"}"),
            Frame::ConnectError("{\"message\":\"no\"}")
        );
        assert_eq!(classify("42[\"a\",1]"), Frame::Event("[\"a\",1]"));
        assert_eq!(classify("4312[{}]"), Frame::Ack(12, "[{}]"));
        assert_eq!(classify("6"), Frame::Ignored);
        assert_eq!(classify(""), Frame::Ignored);
        assert_eq!(
            connect_error_message("{\"message\":\"Invalid credentials\"}"),
            "Invalid credentials"
        );
    }

    #[test]
    fn frames_are_built() {
        assert_eq!(connect_frame(None), "40");
        assert_eq!(
            connect_frame(Some(&json!({"token": "t"}))),
            "40{\"token\":\"t\"}"
        );
        assert_eq!(
            event_with_ack(3, "subscribe-entity", &json!({"id": 1})),
            "423[\"subscribe-entity\",{\"id\":1}]"
        );
        assert_eq!(
            ws_url("127.0.0.1", 80, "/socket.io/"),
            "ws://127.0.0.1:80/socket.io/?EIO=4&transport=websocket"
        );
    }

    #[test]
    fn scans_numbers_and_names() {
        let p = r#"["article:update",{"data":{"benchSentAt":1700000000000000,"benchSeq": 42,"body":"x"},"meta":{}}]"#;
        assert_eq!(event_name(p), Some("article:update"));
        assert_eq!(find_u64(p, "\"benchSeq\":"), Some(42));
        assert_eq!(find_u64(p, "\"benchSentAt\":"), Some(1_700_000_000_000_000));
        assert_eq!(find_u64(p, "\"missing\":"), None);
        assert_eq!(find_u64(r#"{"benchSeq":"7"}"#, "\"benchSeq\":"), None);
        assert_eq!(bench_fields(p), (Some(42), Some(1_700_000_000_000_000)));
        let node = r#"["article:update",{"data":{"benchSeq":3,"benchSentAt":9,"id":4},"meta":{}}]"#;
        assert_eq!(bench_fields(node), (Some(3), Some(9)));
        assert_eq!(
            bench_fields(r#"["a",{"benchmark":1,"benchSeq":5}]"#),
            (Some(5), None)
        );
        assert_eq!(bench_fields(r#"["a",{"x":"\"bench"}]"#), (None, None));
        assert_eq!(bench_fields(""), (None, None));
        assert_eq!(ack_result(r#"[{"success":true,"room":"r"}]"#), Ok(()));
        assert_eq!(
            ack_result(r#"[{"success":false,"error":"Entity not found"}]"#),
            Err("Entity not found".to_string())
        );
    }
}
