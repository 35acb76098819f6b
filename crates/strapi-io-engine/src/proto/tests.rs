//! Property tests across the codecs: no decoder panics on any input, and what the encoders
//! write decodes back to what they were given.

use std::borrow::Cow;

use proptest::prelude::*;
use serde_json::Value;
use serde_json::value::RawValue;

use super::binary::{check_placeholders, split_args, split_event};
use super::engine::{EioVersion, PacketKind, parse_text};
use super::payload::{InItem, OutItem, decode_payload, encode_payload};
use super::socket::{RESERVED_EVENTS, SioKind, SioVersion, decode, encode, event_array};

/// Characters the codecs give a meaning to, and some multi-byte ones.
const ALPHABET: &[char] = &[
    '0', '1', '2', '3', '4', '5', '6', '7', '9', '-', '/', ',', '?', ':', '[', ']', '{', '}', '"',
    '\\', 'b', 'a', 'u', 'n', ' ', '.', 'e', '\u{1e}', '\u{0}', '\u{1}', 'é', '😀',
];

fn protocolish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..40)
        .prop_map(|v| v.into_iter().collect())
}

fn protocolish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(&[0u8, 1, 2, 4, 9, 0xff, 0x1e, b'0', b'1', b'2', b'4', b':', b'b', b'A', b'='][..]),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..60)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "[a-z\"\\\\é😀\u{1}_]{0,8}".prop_map(Value::String),
        (0u64..4).prop_map(|n| serde_json::json!({"_placeholder": true, "num": n})),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Whether a value holds a placeholder object whose num is not below `attachments`
/// (placeholders nested inside a placeholder are hidden by it).
fn has_bad_placeholder(v: &Value, attachments: u64) -> bool {
    match v {
        Value::Object(m) if m.get("_placeholder") == Some(&Value::Bool(true)) => !m
            .get("num")
            .and_then(Value::as_f64)
            .is_some_and(|n| n.fract() == 0.0 && n >= 0.0 && n < attachments as f64),
        Value::Object(m) => m.values().any(|v| has_bad_placeholder(v, attachments)),
        Value::Array(a) => a.iter().any(|v| has_bad_placeholder(v, attachments)),
        _ => false,
    }
}

fn event_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_é😀\"\\\\ -]{0,12}"
        .prop_filter("not reserved", |n| !RESERVED_EVENTS.contains(&n.as_str()))
}

fn kind() -> impl Strategy<Value = SioKind> {
    prop::sample::select(
        &[
            SioKind::Connect,
            SioKind::Disconnect,
            SioKind::Event,
            SioKind::Ack,
            SioKind::ConnectError,
            SioKind::BinaryEvent,
            SioKind::BinaryAck,
        ][..],
    )
}

/// A packet's parts: kind, namespace, id, attachments, data.
type Parts = (SioKind, String, Option<u64>, usize, Option<String>);

/// A packet valid for protocol v5.
fn packet() -> impl Strategy<Value = Parts> {
    (
        kind(),
        "/[a-z]{0,8}",
        any::<u64>(),
        1usize..=10,
        event_name(),
        prop::collection::vec(json_value(), 0..4),
        prop::collection::btree_map("[a-z]{1,5}", json_value(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(kind, ns, id, att, name, args, obj, flag)| {
            let args_text: Vec<String> = args.iter().map(Value::to_string).collect();
            let args_ref: Vec<&str> = args_text.iter().map(String::as_str).collect();
            let event = || {
                let mut out = Vec::new();
                event_array(&mut out, &name, &args_ref);
                String::from_utf8(out).ok()
            };
            let object = Value::Object(obj.into_iter().collect()).to_string();
            match kind {
                SioKind::Connect => (kind, ns, None, 0, flag.then_some(object)),
                SioKind::Disconnect => (kind, ns, None, 0, None),
                SioKind::Event => (kind, ns, flag.then_some(id), 0, event()),
                SioKind::BinaryEvent => (kind, ns, flag.then_some(id), att, event()),
                SioKind::Ack => (kind, ns, Some(id), 0, Some(Value::Array(args).to_string())),
                SioKind::BinaryAck => (
                    kind,
                    ns,
                    Some(id),
                    att,
                    Some(Value::Array(args).to_string()),
                ),
                SioKind::ConnectError if flag => (kind, ns, None, 0, Some(object)),
                SioKind::ConnectError => (kind, ns, None, 0, Some(Value::String(name).to_string())),
            }
        })
}

#[derive(Debug, Clone)]
enum Item {
    Text(PacketKind, String),
    Binary(Vec<u8>),
}

fn items(v4: bool) -> impl Strategy<Value = Vec<Item>> {
    let kind = prop::sample::select(
        &[
            PacketKind::Open,
            PacketKind::Close,
            PacketKind::Ping,
            PacketKind::Pong,
            PacketKind::Message,
            PacketKind::Upgrade,
            PacketKind::Noop,
        ][..],
    );
    let text = if v4 { "[^\u{1e}]{0,20}" } else { "\\PC{0,20}" };
    let item = prop_oneof![
        (kind, text).prop_map(|(k, s)| Item::Text(k, s)),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Item::Binary),
    ];
    prop::collection::vec(item, 1..8)
}

fn round_trip(version: EioVersion, b64: bool, items: &[Item]) -> Result<(), TestCaseError> {
    let texts: Vec<Vec<u8>> = items
        .iter()
        .map(|i| match i {
            Item::Text(k, s) => {
                let mut t = vec![k.as_char()];
                t.extend_from_slice(s.as_bytes());
                t
            }
            Item::Binary(_) => Vec::new(),
        })
        .collect();
    let out_items: Vec<OutItem<'_>> = items
        .iter()
        .zip(&texts)
        .map(|(i, t)| match i {
            Item::Text(..) => OutItem::Text(t),
            Item::Binary(b) => OutItem::Binary(b),
        })
        .collect();
    let mut body = Vec::new();
    let encoded = encode_payload(version, b64, &out_items, &mut body);
    let binary_form =
        version == EioVersion::V3 && !b64 && items.iter().any(|i| matches!(i, Item::Binary(_)));
    let expected_type = if binary_form {
        "application/octet-stream"
    } else {
        "text/plain; charset=UTF-8"
    };
    prop_assert_eq!(encoded.content_type, expected_type);
    let decoded = decode_payload(version, &body, items.len())
        .map_err(|e| TestCaseError::fail(format!("{e}: {body:?}")))?;
    prop_assert_eq!(decoded.len(), items.len());
    for (got, want) in decoded.iter().zip(items) {
        match (got, want) {
            (InItem::Text(k, s), Item::Text(wk, ws)) => {
                prop_assert_eq!(k, wk);
                prop_assert_eq!(&**s, ws.as_str());
            }
            (InItem::Binary(b), Item::Binary(wb)) => prop_assert_eq!(&**b, wb.as_slice()),
            _ => prop_assert!(false, "{got:?} for {want:?}"),
        }
    }
    // One packet fewer allowed: refused.
    prop_assert!(decode_payload(version, &body, items.len() - 1).is_err());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn payload_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80), max in 0usize..6) {
        for version in [EioVersion::V3, EioVersion::V4] {
            if let Ok(items) = decode_payload(version, &bytes, max) {
                prop_assert!(!items.is_empty() && items.len() <= max);
            }
        }
    }

    #[test]
    fn payload_decoders_never_panic_on_near_misses(bytes in protocolish_bytes(), max in 0usize..6) {
        for version in [EioVersion::V3, EioVersion::V4] {
            if let Ok(items) = decode_payload(version, &bytes, max) {
                prop_assert!(!items.is_empty() && items.len() <= max);
            }
        }
    }

    #[test]
    fn text_decoders_never_panic(s in any::<String>()) {
        if let Ok((kind, rest)) = parse_text(&s) {
            prop_assert_eq!(s.len(), rest.len() + 1);
            prop_assert_eq!(Some(kind), PacketKind::from_char(s.as_bytes()[0]));
        }
        for version in [SioVersion::V4, SioVersion::V5] {
            if let Ok(p) = decode(&s, version, 5) {
                prop_assert!(p.attachments <= 5);
            }
        }
    }

    #[test]
    fn socket_decoder_never_panics_on_near_misses(s in protocolish(), max in 0usize..4) {
        for version in [SioVersion::V4, SioVersion::V5] {
            if let Ok(p) = decode(&s, version, max) {
                prop_assert!(p.attachments <= max);
                prop_assert_eq!(p.kind.is_binary(), p.attachments > 0);
                prop_assert!(p.ns.starts_with('/'));
                if let Some(data) = p.data {
                    prop_assert!(serde_json::from_str::<&RawValue>(data.get()).is_ok());
                    if matches!(p.kind, SioKind::Event | SioKind::BinaryEvent) {
                        prop_assert!(split_event(data).is_ok());
                    }
                }
                if let Some(data) = p.data
                    && check_placeholders(data, max).is_err()
                {
                    prop_assert!(data.get().contains("_placeholder"));
                }
            }
        }
    }

    #[test]
    fn binary_helpers_agree_with_a_value_walk(v in json_value(), attachments in 0usize..4) {
        let text = v.to_string();
        let raw: &RawValue = serde_json::from_str(&text).expect("serialized JSON");
        let bad = has_bad_placeholder(&v, attachments as u64);
        prop_assert_eq!(check_placeholders(raw, attachments).is_err(), bad, "{}", text);
        match &v {
            Value::Array(a) => {
                let args = split_args(raw).expect("an array");
                prop_assert_eq!(args.len(), a.len());
                for (arg, want) in args.iter().zip(a) {
                    // Parsed the same way on both sides (serde_json's float parsing is not
                    // exact without `float_roundtrip`).
                    let got: Value = serde_json::from_str(arg.get()).expect("JSON");
                    let want: Value = serde_json::from_str(&want.to_string()).expect("JSON");
                    prop_assert_eq!(got, want);
                }
                match (split_event(raw), a.first()) {
                    (Ok((name, rest)), Some(Value::String(s))) => {
                        prop_assert_eq!(&*name, s.as_str());
                        prop_assert_eq!(rest.len(), a.len() - 1);
                    }
                    (Ok(_), Some(Value::Number(_))) => {}
                    (Err(_), None | Some(Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_))) => {}
                    (got, first) => prop_assert!(false, "{got:?} for first element {first:?}"),
                }
            }
            _ => {
                prop_assert!(split_args(raw).is_err());
                prop_assert!(split_event(raw).is_err());
            }
        }
    }

    #[test]
    fn socket_packets_round_trip((kind, ns, id, att, data) in packet()) {
        let mut out = b"4".to_vec();
        encode(&mut out, kind, &ns, id, att, data.as_deref());
        let text = std::str::from_utf8(&out[1..]).expect("UTF-8");
        let p = decode(text, SioVersion::V5, 10).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(p.kind, kind);
        prop_assert_eq!(&*p.ns, if ns.is_empty() { "/" } else { ns.as_str() });
        prop_assert_eq!(p.query, None);
        prop_assert_eq!(p.id, id);
        prop_assert_eq!(p.attachments, att);
        prop_assert_eq!(p.data.map(RawValue::get), data.as_deref());
        if matches!(kind, SioKind::Event | SioKind::BinaryEvent) {
            let (name, args) = split_event(p.data.expect("data")).expect("splits");
            let back: Value = serde_json::from_str(data.as_deref().unwrap_or_default()).expect("JSON");
            prop_assert_eq!(Some(&Value::String(name.into_owned())), back.get(0));
            prop_assert_eq!(args.len() + 1, back.as_array().map_or(0, Vec::len));
        }
    }

    #[test]
    fn v4_payloads_round_trip(items in items(true), b64 in any::<bool>()) {
        round_trip(EioVersion::V4, b64, &items)?;
    }

    #[test]
    fn v3_payloads_round_trip(items in items(false), b64 in any::<bool>()) {
        round_trip(EioVersion::V3, b64, &items)?;
    }
}

#[test]
fn decoded_text_is_borrowed() {
    let body = "4é\u{1e}2".as_bytes();
    let items = decode_payload(EioVersion::V4, body, 2).expect("decodes");
    assert!(matches!(
        &items[0],
        InItem::Text(PacketKind::Message, Cow::Borrowed("é"))
    ));
    let p = decode("2/a,1[\"x\"]", SioVersion::V5, 1).expect("decodes");
    assert!(matches!(p.ns, Cow::Borrowed("/a")));
}
