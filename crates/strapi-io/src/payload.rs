//! [`Payload`]: one argument of a client event as it travelled, JSON with binary
//! attachments kept as bytes, and [`Args`], the whole argument list. Handlers of custom
//! events read and answer with these, so binary data survives a round trip and no transport
//! type leaks out of the runtime.

use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// A JSON value that may contain binary attachments.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// A binary attachment (a `Buffer`/`ArrayBuffer` on the JS side).
    Binary(Vec<u8>),
    /// An array.
    Array(Vec<Payload>),
    /// An object.
    Object(Vec<(String, Payload)>),
}

impl Payload {
    /// The value as JSON; binary attachments become `{ "_binary": [bytes…] }`.
    pub fn to_json(&self) -> Value {
        match self {
            Payload::Null => Value::Null,
            Payload::Bool(b) => Value::Bool(*b),
            Payload::Number(n) => Value::Number(n.clone()),
            Payload::String(s) => Value::String(s.clone()),
            Payload::Binary(b) => {
                serde_json::json!({ "_binary": b })
            }
            Payload::Array(a) => Value::Array(a.iter().map(Payload::to_json).collect()),
            Payload::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }

    /// Whether any binary attachment is inside.
    pub fn has_binary(&self) -> bool {
        match self {
            Payload::Binary(_) => true,
            Payload::Array(a) => a.iter().any(Payload::has_binary),
            Payload::Object(o) => o.iter().any(|(_, v)| v.has_binary()),
            _ => false,
        }
    }
}

impl From<Value> for Payload {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => Payload::Null,
            Value::Bool(b) => Payload::Bool(b),
            Value::Number(n) => Payload::Number(n),
            Value::String(s) => Payload::String(s),
            Value::Array(a) => Payload::Array(a.into_iter().map(Payload::from).collect()),
            Value::Object(o) => {
                Payload::Object(o.into_iter().map(|(k, v)| (k, Payload::from(v))).collect())
            }
        }
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Null => s.serialize_unit(),
            Payload::Bool(b) => s.serialize_bool(*b),
            Payload::Number(n) => n.serialize(s),
            Payload::String(v) => s.serialize_str(v),
            Payload::Binary(b) => s.serialize_bytes(b),
            Payload::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Payload::Object(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Payload;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value or binary data")
    }
    fn visit_unit<E>(self) -> Result<Payload, E> {
        Ok(Payload::Null)
    }
    fn visit_none<E>(self) -> Result<Payload, E> {
        Ok(Payload::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Payload, D::Error> {
        Payload::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Payload, E> {
        Ok(Payload::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Payload, E> {
        Ok(Payload::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Payload, E> {
        Ok(Payload::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Payload, E> {
        Ok(Number::from_f64(v).map_or(Payload::Null, Payload::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Payload, E> {
        Ok(Payload::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Payload, E> {
        Ok(Payload::String(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Payload, E> {
        Ok(Payload::Binary(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Payload, E> {
        Ok(Payload::Binary(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element::<Payload>()? {
            out.push(v);
        }
        Ok(Payload::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some((k, v)) = map.next_entry::<String, Payload>()? {
            out.push((k, v));
        }
        Ok(Payload::Object(out))
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PayloadVisitor)
    }
}

/// Every argument of an event, in order. (De)serializes as a tuple, so that Socket.IO
/// spreads it into separate arguments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Args(pub Vec<Payload>);

impl Args {
    /// The arguments as JSON values (binary as `{ "_binary": [...] }`).
    pub fn to_json(&self) -> Vec<Value> {
        self.0.iter().map(Payload::to_json).collect()
    }

    /// The first argument, or `Payload::Null`.
    pub fn first(&self) -> &Payload {
        self.0.first().unwrap_or(&Payload::Null)
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(self.0.len())?;
        for v in &self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

struct ArgsVisitor;

impl<'de> Visitor<'de> for ArgsVisitor {
    type Value = Args;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("event arguments")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Payload>()? {
            out.push(v);
        }
        Ok(Args(out))
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A tuple: every argument, not just the first.
        d.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

impl Payload {
    /// Rebuilds a value as it travelled: placeholders `{"_placeholder":true,"num":N}`
    /// become the attachment `N` (the engine checked every `N` is in range).
    fn from_wire(v: Value, attachments: &[bytes::Bytes]) -> Payload {
        match v {
            Value::Object(o) => {
                if o.get("_placeholder") == Some(&Value::Bool(true))
                    && let Some(bytes) = o
                        .get("num")
                        .and_then(Value::as_u64)
                        .and_then(|n| attachments.get(usize::try_from(n).ok()?))
                {
                    return Payload::Binary(bytes.to_vec());
                }
                Payload::Object(
                    o.into_iter()
                        .map(|(k, v)| (k, Payload::from_wire(v, attachments)))
                        .collect(),
                )
            }
            Value::Array(a) => Payload::Array(
                a.into_iter()
                    .map(|v| Payload::from_wire(v, attachments))
                    .collect(),
            ),
            other => Payload::from(other),
        }
    }

    /// The value as it travels: binaries become placeholders, appended to `attachments`.
    fn to_wire(&self, attachments: &mut Vec<bytes::Bytes>) -> Value {
        match self {
            Payload::Binary(b) => {
                attachments.push(bytes::Bytes::copy_from_slice(b));
                serde_json::json!({"_placeholder": true, "num": attachments.len() - 1})
            }
            Payload::Array(a) => Value::Array(a.iter().map(|v| v.to_wire(attachments)).collect()),
            Payload::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), v.to_wire(attachments)))
                    .collect(),
            ),
            other => other.to_json(),
        }
    }
}

impl Args {
    /// The arguments of a client event: a JSON array with placeholders, and the
    /// attachments they index.
    pub(crate) fn from_wire(args: &str, attachments: &[bytes::Bytes]) -> Args {
        match serde_json::from_str::<Value>(args) {
            Ok(Value::Array(values)) => Args(
                values
                    .into_iter()
                    .map(|v| Payload::from_wire(v, attachments))
                    .collect(),
            ),
            _ => Args::default(),
        }
    }

    /// The arguments as they travel: each one's JSON text, and the attachments.
    pub(crate) fn to_wire(&self) -> (Vec<String>, Vec<bytes::Bytes>) {
        let mut attachments = Vec::new();
        let texts = self
            .0
            .iter()
            .map(|p| p.to_wire(&mut attachments).to_string())
            .collect();
        (texts, attachments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binaries_travel_as_placeholders_and_come_back() {
        let args = Args(vec![
            Payload::String("x".into()),
            Payload::Object(vec![("file".into(), Payload::Binary(vec![1, 2]))]),
            Payload::Array(vec![Payload::Binary(vec![3])]),
        ]);
        let (texts, attachments) = args.to_wire();
        assert_eq!(texts[1], r#"{"file":{"_placeholder":true,"num":0}}"#);
        assert_eq!(texts[2], r#"[{"_placeholder":true,"num":1}]"#);
        assert_eq!(attachments.len(), 2);
        let back = Args::from_wire(&format!("[{}]", texts.join(",")), &attachments);
        assert_eq!(back, args);
        // A placeholder-looking object without its attachment stays an object.
        let kept = Args::from_wire(r#"[{"_placeholder":true,"num":5}]"#, &[]);
        assert!(!kept.first().has_binary());
        assert_eq!(Args::from_wire("not json", &[]), Args::default());
    }

    #[test]
    fn json_roundtrip() {
        let v = json!({"a": [1, "2", {"3": [true, null]}], "f": 1.5});
        let p: Payload = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(p.to_json(), v);
        assert_eq!(serde_json::to_value(&p).unwrap(), v);
        assert!(!p.has_binary());
        assert!(Payload::Array(vec![Payload::Binary(vec![1])]).has_binary());
        assert_eq!(
            Payload::Binary(vec![1, 2]).to_json(),
            json!({"_binary": [1, 2]})
        );
    }

    #[test]
    fn args_are_a_tuple() {
        let a: Args = serde_json::from_value(json!([1, "x"])).unwrap();
        assert_eq!(a.0.len(), 2);
        assert_eq!(serde_json::to_value(&a).unwrap(), json!([1, "x"]));
        assert_eq!(a.first(), &Payload::Number(1.into()));
        assert_eq!(Args::default().first(), &Payload::Null);
    }
}
