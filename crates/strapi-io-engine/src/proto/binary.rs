//! Binary attachments and event arrays.
//!
//! A binary packet's JSON holds a placeholder `{"_placeholder":true,"num":N}` where each
//! attachment goes; the attachments follow as binary messages. The engine hands events to
//! applications as JSON plus attachments, so placeholders are only checked here, never
//! replaced.

use std::borrow::Cow;

use serde_json::Value;
use serde_json::value::RawValue;

use super::ProtoError;
use super::socket::SioKind;

/// Checks every placeholder of `data` as Node's `socket.io-parser` does when it rebuilds a
/// binary packet: an object whose `_placeholder` is `true` must have a `num` that is an
/// index below `attachments` (the whole object stands for that attachment, so what else it
/// holds is not looked at). Objects whose `_placeholder` is anything but `true` are plain
/// objects. Attachments that no placeholder references are allowed, as in Node. With
/// duplicate keys the last one counts, as in JavaScript.
///
/// Stricter than Node: a fractional `num` is refused (Node puts `undefined` in its place).
pub fn check_placeholders(data: &RawValue, attachments: usize) -> Result<(), ProtoError> {
    // serde_json bounds the nesting depth; the walk below keeps its own stack.
    let value: Value = serde_json::from_str(data.get()).map_err(|_| ProtoError::InvalidJson)?;
    let mut pending = vec![&value];
    while let Some(v) = pending.pop() {
        match v {
            Value::Array(items) => pending.extend(items),
            Value::Object(map)
                if map.get("_placeholder") == Some(&Value::Bool(true))
                    && map
                        .get("num")
                        .and_then(index_of)
                        .is_none_or(|n| n >= attachments) =>
            {
                return Err(ProtoError::InvalidPlaceholder);
            }
            // A valid placeholder stands for its attachment: nothing inside is looked at.
            Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => {}
            Value::Object(map) => pending.extend(map.values()),
            _ => {}
        }
    }
    Ok(())
}

/// A JSON number as an index: non-negative and integral (`1.0`, `1e0` and `-0` count).
fn index_of(number: &Value) -> Option<usize> {
    let number = number.as_number()?;
    if let Some(n) = number.as_u64() {
        return usize::try_from(n).ok();
    }
    let x = number.as_f64()?;
    if x.fract() != 0.0 || !(0.0..4_294_967_296.0).contains(&x) {
        return None;
    }
    // An integer below 2^32: exact in `usize` on the targets this crate builds for.
    usize::try_from(x as u64).ok()
}

/// Splits an event's data array into its name and the JSON texts of its arguments,
/// borrowed from `data`. The name is unescaped (borrowed when it has no escapes); a numeric
/// name, which the protocol allows, is returned as the text JavaScript gives that number
/// (`1`, `1.5`, `1e+21`).
pub fn split_event(data: &RawValue) -> Result<(Cow<'_, str>, Vec<&RawValue>), ProtoError> {
    let mut items: Vec<&RawValue> =
        serde_json::from_str(data.get()).map_err(|_| ProtoError::InvalidPayload {
            kind: SioKind::Event,
            reason: "the payload must be a non-empty array",
        })?;
    if items.is_empty() {
        return Err(ProtoError::InvalidPayload {
            kind: SioKind::Event,
            reason: "the payload must be a non-empty array",
        });
    }
    let name = event_name(items.remove(0))?;
    Ok((name, items))
}

/// Splits an ack's data array into the JSON texts of its arguments, borrowed from `data`.
pub fn split_args(data: &RawValue) -> Result<Vec<&RawValue>, ProtoError> {
    serde_json::from_str(data.get()).map_err(|_| ProtoError::InvalidPayload {
        kind: SioKind::Ack,
        reason: "the payload must be an array",
    })
}

/// An event name from the first element of an event array: a string (unescaped) or a
/// number (as JavaScript writes it).
pub(super) fn event_name(first: &RawValue) -> Result<Cow<'_, str>, ProtoError> {
    let invalid = ProtoError::InvalidPayload {
        kind: SioKind::Event,
        reason: "the event name must be a string or a number",
    };
    let raw = first.get();
    match raw.as_bytes().first() {
        Some(b'"') => {
            if let Ok(s) = serde_json::from_str::<&str>(raw) {
                return Ok(Cow::Borrowed(s));
            }
            // Escapes: unescaped into a new string (fails on lone surrogates).
            serde_json::from_str::<String>(raw)
                .map(Cow::Owned)
                .map_err(|_| invalid)
        }
        Some(b'-' | b'0'..=b'9') => {
            let n: serde_json::Number = serde_json::from_str(raw).map_err(|_| invalid.clone())?;
            let x = n.as_f64().ok_or(invalid)?;
            Ok(Cow::Owned(js_number_text(x)))
        }
        _ => Err(invalid),
    }
}

/// A finite number written as JavaScript's `String(x)` does: plain decimals for
/// 1e-6 <= |x| < 1e21, exponent form (`1e+21`, `1.5e-7`) otherwise.
fn js_number_text(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    let abs = x.abs();
    if (1e-6..1e21).contains(&abs) {
        return format!("{x}");
    }
    let exp = format!("{x:e}");
    match exp.split_once('e') {
        Some((mantissa, power)) if !power.starts_with('-') => format!("{mantissa}e+{power}"),
        _ => exp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).expect("valid JSON")
    }

    fn check(s: &str, attachments: usize) -> Result<(), ProtoError> {
        check_placeholders(raw(s), attachments)
    }

    #[test]
    fn placeholders_in_range_pass() {
        let s = r#"["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        assert_eq!(check(s, 2), Ok(()));
        assert_eq!(
            check(r#"["a",{"x":[{"num":0,"_placeholder":true}]}]"#, 1),
            Ok(())
        );
        assert_eq!(check(r#"["a",{"_placeholder":true,"num":1.0}]"#, 2), Ok(()));
        assert_eq!(check(r#"["a",{"_placeholder":true,"num":1e0}]"#, 2), Ok(()));
        assert_eq!(
            check(r#"["a"]"#, 3),
            Ok(()),
            "unreferenced attachments are fine"
        );
        assert_eq!(
            check(r#" [ "a" , { "_placeholder" : true , "num" : 0 } ] "#, 1),
            Ok(())
        );
    }

    #[test]
    fn placeholders_out_of_range_or_malformed_fail() {
        let bad = Err(ProtoError::InvalidPlaceholder);
        assert_eq!(check(r#"["a",{"_placeholder":true,"num":1}]"#, 1), bad);
        assert_eq!(check(r#"["a",{"_placeholder":true,"num":0}]"#, 0), bad);
        assert_eq!(check(r#"["a",{"_placeholder":true,"num":-1}]"#, 3), bad);
        assert_eq!(check(r#"["a",{"_placeholder":true,"num":0.5}]"#, 3), bad);
        assert_eq!(check(r#"["a",{"_placeholder":true,"num":"0"}]"#, 3), bad);
        assert_eq!(check(r#"["a",{"_placeholder":true,"num":[0]}]"#, 3), bad);
        assert_eq!(check(r#"["a",{"_placeholder":true}]"#, 3), bad);
        assert_eq!(
            check(
                r#"["a",{"_placeholder":true,"num":99999999999999999999999}]"#,
                3
            ),
            bad
        );
        assert_eq!(
            check(r#"["a",[[{"b":{"_placeholder":true,"num":5}}]]]"#, 3),
            bad
        );
        assert_eq!(
            check(r#"{"_placeholder":true,"num":3}"#, 3),
            bad,
            "at the root"
        );
        // An escaped key is the same key.
        assert_eq!(check(r#"["a",{"_placeholde\u0072":true,"num":7}]"#, 3), bad);
        assert_eq!(
            check(r#"["a",{"_placeholder":true,"n\u0075m":0}]"#, 1),
            Ok(())
        );
    }

    #[test]
    fn only_a_true_placeholder_flag_counts() {
        for flag in ["false", "1", "\"true\"", "null", "{}", "[true]"] {
            let s = format!(r#"["a",{{"_placeholder":{flag},"num":99}}]"#);
            assert_eq!(check(&s, 1), Ok(()), "{s}");
        }
        // The last duplicate key wins, as in JavaScript.
        assert_eq!(
            check(
                r#"["a",{"_placeholder":true,"_placeholder":false,"num":9}]"#,
                1
            ),
            Ok(())
        );
        assert_eq!(
            check(
                r#"["a",{"_placeholder":false,"_placeholder":true,"num":9}]"#,
                1
            ),
            Err(ProtoError::InvalidPlaceholder)
        );
        assert_eq!(
            check(r#"["a",{"_placeholder":true,"num":9,"num":0}]"#, 1),
            Ok(())
        );
        // A placeholder stands for the attachment: what else it holds is not looked at.
        assert_eq!(
            check(
                r#"["a",{"_placeholder":true,"num":0,"x":{"_placeholder":true,"num":9}}]"#,
                1
            ),
            Ok(())
        );
        // Strings that look like keys are values, not keys.
        assert_eq!(
            check(r#"["_placeholder","num",{"k":"_placeholder"}]"#, 0),
            Ok(())
        );
        assert_eq!(
            check(r#"["a",{"x":"}","_placeholder":true,"num":0}]"#, 1),
            Ok(())
        );
        assert_eq!(
            check(r#"["a\"]",{"_placeholder":true,"num":4}]"#, 1),
            Err(ProtoError::InvalidPlaceholder)
        );
    }

    #[test]
    fn split_event_borrows_arguments() {
        let data = raw(r#"["message", 1 ,"2",{"3":[true]}, null]"#);
        let (name, args) = split_event(data).expect("splits");
        assert!(matches!(name, Cow::Borrowed("message")));
        let args: Vec<&str> = args.iter().map(|a| a.get()).collect();
        assert_eq!(args, ["1", "\"2\"", r#"{"3":[true]}"#, "null"]);
        let (name, args) = split_event(raw(r#"["only"]"#)).expect("splits");
        assert_eq!((&*name, args.len()), ("only", 0));
    }

    #[test]
    fn split_event_names() {
        let name = |s| split_event(raw(s)).map(|(n, _)| n.into_owned());
        assert_eq!(name(r#"["a\"b\u00e9"]"#), Ok("a\"bé".to_owned()));
        assert_eq!(name("[1]"), Ok("1".to_owned()));
        assert_eq!(name("[-7, 2]"), Ok("-7".to_owned()));
        assert_eq!(name("[1.50]"), Ok("1.5".to_owned()));
        assert_eq!(name("[1e3]"), Ok("1000".to_owned()));
        assert_eq!(name("[-0]"), Ok("0".to_owned()));
        assert_eq!(name("[1e21]"), Ok("1e+21".to_owned()));
        assert_eq!(name("[1.5e-7]"), Ok("1.5e-7".to_owned()));
        assert_eq!(name("[0.000001]"), Ok("0.000001".to_owned()));
        assert_eq!(
            name("[9007199254740993]"),
            Ok("9007199254740992".to_owned())
        );
        let invalid = |reason| {
            Err(ProtoError::InvalidPayload {
                kind: SioKind::Event,
                reason,
            })
        };
        let name_rule = "the event name must be a string or a number";
        let array_rule = "the payload must be a non-empty array";
        assert_eq!(name("[]"), invalid(array_rule));
        assert_eq!(name("{}"), invalid(array_rule));
        assert_eq!(name("\"a\""), invalid(array_rule));
        assert_eq!(name("[null]"), invalid(name_rule));
        assert_eq!(name("[{}]"), invalid(name_rule));
        assert_eq!(name(r#"["\ud800"]"#), invalid(name_rule), "lone surrogate");
    }

    #[test]
    fn split_args_of_acks() {
        let args = split_args(raw(r#"[1, "x" ,{"a":[2]}]"#)).expect("splits");
        let args: Vec<&str> = args.iter().map(|a| a.get()).collect();
        assert_eq!(args, ["1", "\"x\"", r#"{"a":[2]}"#]);
        assert_eq!(split_args(raw("[]")).map(|v| v.len()), Ok(0));
        assert!(matches!(
            split_args(raw("{}")),
            Err(ProtoError::InvalidPayload {
                kind: SioKind::Ack,
                ..
            })
        ));
    }
}
