//! Binary attachments and event arrays.
//!
//! A binary packet's JSON holds a placeholder `{"_placeholder":true,"num":N}` where each
//! attachment goes; the attachments follow as binary messages. The engine hands events to
//! applications as JSON plus attachments, so placeholders are only checked here, never
//! replaced.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::ProtoError;
use super::socket::SioKind;

/// Checks every placeholder of `data` as Node's `socket.io-parser` does when it rebuilds a
/// binary packet: an object whose `_placeholder` is `true` must have a `num` that is an
/// index below `attachments` (the whole object stands for that attachment, so what else it
/// holds is not looked at). Objects whose `_placeholder` is anything but `true` are plain
/// objects. Attachments that no placeholder references are allowed, as in Node.
///
/// Stricter than Node: a fractional `num` is refused (Node puts `undefined` in its place),
/// and with duplicate keys an earlier, overwritten value is still checked.
pub fn check_placeholders(data: &RawValue, attachments: usize) -> Result<(), ProtoError> {
    let text = data.get();
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b':' => i += 1,
            b',' => {
                if let Some(f) = stack.last_mut()
                    && f.object
                {
                    f.expect_key = true;
                }
                i += 1;
            }
            b'{' | b'[' => {
                note_value(&mut stack, Scalar::Other);
                stack.push(Frame::new(c == b'{'));
                i += 1;
            }
            b'}' | b']' => {
                let f = stack.pop().ok_or(ProtoError::InvalidJson)?;
                let bad = if f.object && f.placeholder {
                    f.num.is_none_or(|n| n >= attachments)
                } else {
                    f.bad
                };
                match stack.last_mut() {
                    Some(parent) => parent.bad |= bad,
                    None if bad => return Err(ProtoError::InvalidPlaceholder),
                    None => {}
                }
                i += 1;
            }
            b'"' => {
                let end = string_end(bytes, i).ok_or(ProtoError::InvalidJson)?;
                let literal = text.get(i..end).ok_or(ProtoError::InvalidJson)?;
                match stack.last_mut() {
                    Some(f) if f.object && f.expect_key => {
                        f.key = Key::of(literal);
                        f.expect_key = false;
                    }
                    _ => note_value(&mut stack, Scalar::Other),
                }
                i = end;
            }
            b't' | b'f' | b'n' => {
                let end = bytes
                    .iter()
                    .skip(i)
                    .position(|b| !b.is_ascii_alphabetic())
                    .map_or(bytes.len(), |n| i + n);
                let word = text.get(i..end).ok_or(ProtoError::InvalidJson)?;
                let scalar = match word {
                    "true" => Scalar::True,
                    "false" | "null" => Scalar::Other,
                    _ => return Err(ProtoError::InvalidJson),
                };
                note_value(&mut stack, scalar);
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let end = bytes
                    .iter()
                    .skip(i)
                    .position(|&b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .map_or(bytes.len(), |n| i + n);
                let number = text.get(i..end).ok_or(ProtoError::InvalidJson)?;
                note_value(&mut stack, Scalar::Number(index_of(number)));
                i = end;
            }
            _ => return Err(ProtoError::InvalidJson),
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(ProtoError::InvalidJson)
    }
}

/// An open object or array while scanning for placeholders.
struct Frame {
    object: bool,
    /// The next string in this object is a key.
    expect_key: bool,
    /// The key of the value being read.
    key: Key,
    /// The last `_placeholder` value was `true`.
    placeholder: bool,
    /// The last `num` value, if it was a non-negative integer.
    num: Option<usize>,
    /// Some value inside holds an invalid placeholder.
    bad: bool,
}

impl Frame {
    fn new(object: bool) -> Self {
        Frame {
            object,
            expect_key: object,
            key: Key::Other,
            placeholder: false,
            num: None,
            bad: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Placeholder,
    Num,
    Other,
}

impl Key {
    /// The key of a JSON string literal (quotes included), unescaped if needed.
    fn of(literal: &str) -> Key {
        let unescaped: Cow<'_, str> = if literal.contains('\\') {
            match serde_json::from_str::<String>(literal) {
                Ok(s) => Cow::Owned(s),
                Err(_) => return Key::Other,
            }
        } else {
            Cow::Borrowed(
                literal
                    .get(1..literal.len().saturating_sub(1))
                    .unwrap_or_default(),
            )
        };
        match &*unescaped {
            "_placeholder" => Key::Placeholder,
            "num" => Key::Num,
            _ => Key::Other,
        }
    }
}

/// A value as far as placeholders care.
enum Scalar {
    True,
    /// A number: `Some(index)` if it is a non-negative integer.
    Number(Option<usize>),
    Other,
}

/// Records a value read in the innermost container (what matters: `_placeholder` and `num`).
fn note_value(stack: &mut [Frame], value: Scalar) {
    let Some(f) = stack.last_mut() else {
        return;
    };
    if !f.object {
        return;
    }
    match f.key {
        Key::Placeholder => f.placeholder = matches!(value, Scalar::True),
        Key::Num => {
            f.num = match value {
                Scalar::Number(n) => n,
                _ => None,
            }
        }
        Key::Other => {}
    }
}

/// A JSON number as an index: non-negative and integral (`1.0`, `1e0` and `-0` count).
fn index_of(number: &str) -> Option<usize> {
    if number.bytes().all(|b| b.is_ascii_digit()) {
        return number.parse().ok();
    }
    let x: f64 = number.parse().ok()?;
    if x.fract() != 0.0 || !(0.0..4_294_967_296.0).contains(&x) {
        return None;
    }
    // An integer below 2^32: exact in `usize` on the targets this crate builds for.
    usize::try_from(x as u64).ok()
}

/// The index just after the string literal starting at `start` (a `"`).
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut j = start + 1;
    loop {
        match bytes.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
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
