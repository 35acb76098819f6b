//! Per-audience sanitizing of content entries (SPEC §3, *Sanitization*): removes private and
//! `password` attributes, `createdBy`/`updatedBy`, the globally excluded fields, relations and
//! media the audience may not read, and every key matching the sensitive-field list, at every
//! depth through relations, media, components and dynamic zones.
//!
//! # Sensitive keys
//!
//! A key is split into lower-cased words: boundaries at every character that is not a letter
//! or digit (`_`, `-`, `.`, space, …), at a lowercase/digit → uppercase transition, and before
//! the last capital of an uppercase run followed by a lowercase letter (`APIKey` → `api`,
//! `key`). A key matches a sensitive entry when the entry's words appear as a contiguous run of
//! the key's words: `userPassword`, `stripe_api_key`, `tokenCount`, `client_secret` match;
//! `tokenizer`, `secretary`, `hashtag`, `passwords` do not. Keys written without word
//! boundaries match too: a key whose letters and digits, lower-cased, end with an entry's
//! (`PassWord`, `APIKEY`, `secretkey`, `userpassword`). This is stricter than an exact,
//! case-insensitive match and avoids the plugin's substring false positives.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::audience::Audience;
use crate::schema::{Attribute, MEDIA_UID, Schemas};

/// Values nested deeper than this are replaced with `null`.
const MAX_DEPTH: usize = 64;

/// Keys that are never sent (the plugin's defaults plus configured ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensitiveFields {
    /// Normalized word sequences (`_api_key_`), without entries implied by shorter ones.
    patterns: Vec<String>,
    /// Lower-cased letters and digits only (`apikey`), for keys written without word
    /// boundaries (`APIKEY`, `secretkey`, `PassWord`): matched as a suffix of the key's
    /// compact form.
    compact: Vec<String>,
}

impl SensitiveFields {
    /// The plugin's default sensitive field names.
    pub const DEFAULTS: [&'static str; 15] = [
        "password",
        "salt",
        "hash",
        "resetPasswordToken",
        "confirmationToken",
        "registrationToken",
        "refreshToken",
        "accessToken",
        "token",
        "secret",
        "secretKey",
        "apiKey",
        "api_key",
        "privateKey",
        "private_key",
    ];

    /// The defaults plus `extra` (configured `sensitiveFields`); entries without any letter or
    /// digit are ignored.
    pub fn new(extra: &[String]) -> Self {
        let mut all: Vec<String> = Self::DEFAULTS
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
            .map(normalize)
            .filter(|p| p.len() > 1)
            .collect();
        // Shorter patterns first, so that any pattern containing a kept one is dropped.
        all.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        let mut patterns: Vec<String> = Vec::with_capacity(all.len());
        for p in all {
            if !patterns.iter().any(|kept| p.contains(kept.as_str())) {
                patterns.push(p);
            }
        }
        let mut compacts: Vec<String> = Self::DEFAULTS
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
            .map(compact)
            .filter(|c| !c.is_empty())
            .collect();
        compacts.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        let mut compact_kept: Vec<String> = Vec::with_capacity(compacts.len());
        for c in compacts {
            if !compact_kept.iter().any(|kept| c.ends_with(kept.as_str())) {
                compact_kept.push(c);
            }
        }
        SensitiveFields {
            patterns,
            compact: compact_kept,
        }
    }

    /// Whether `key` must never be sent.
    pub fn matches(&self, key: &str) -> bool {
        let normalized = normalize(key);
        if self
            .patterns
            .iter()
            .any(|p| normalized.contains(p.as_str()))
        {
            return true;
        }
        let compact_key = compact(key);
        self.compact
            .iter()
            .any(|c| compact_key.ends_with(c.as_str()))
    }
}

impl Default for SensitiveFields {
    fn default() -> Self {
        Self::new(&[])
    }
}

/// The key's letters and digits, lower-cased: `API_Key` → `apikey`.
fn compact(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `_word_word_`: the key's lower-cased words, each followed by `_`, after a leading `_`.
/// A key without letters or digits normalizes to `_`.
fn normalize(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    out.push('_');
    let mut in_word = false;
    let mut prev = '\0';
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_alphanumeric() {
            if in_word {
                out.push('_');
                in_word = false;
            }
            prev = c;
            continue;
        }
        if in_word && c.is_uppercase() {
            let boundary = prev.is_lowercase()
                || prev.is_numeric()
                || (prev.is_uppercase() && chars.peek().is_some_and(|n| n.is_lowercase()));
            if boundary {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
        in_word = true;
        prev = c;
    }
    if in_word {
        out.push('_');
    }
    out
}

type Attributes = BTreeMap<String, Attribute>;

/// Keys Strapi puts on every entry beside its attributes; kept when they hold a scalar.
pub const ENTRY_SYSTEM_KEYS: [&str; 6] = [
    "id",
    "documentId",
    "createdAt",
    "updatedAt",
    "publishedAt",
    "locale",
];

/// Keys Strapi puts on every component item; kept when they hold a scalar.
pub const COMPONENT_SYSTEM_KEYS: [&str; 2] = ["id", "__component"];

/// The fields Strapi 5's REST API sends of an uploaded file, for projects whose `src/` has no
/// schema of `plugin::upload.file` (the usual case): values sanitized like JSON attributes.
pub const MEDIA_FIELDS: [&str; 15] = [
    "name",
    "alternativeText",
    "caption",
    "focalPoint",
    "width",
    "height",
    "formats",
    "hash",
    "ext",
    "mime",
    "size",
    "url",
    "previewUrl",
    "provider",
    "provider_metadata",
];

/// Which generic rules apply to keys outside a schema.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `emit`: sensitive keys, `createdBy`/`updatedBy` and the excluded fields.
    Entry,
    /// `raw`: sensitive keys only.
    Raw,
}

/// What an object in an entry is: the declared attributes it may hold, and its system keys.
#[derive(Clone, Copy)]
struct Shape<'s> {
    /// The content type or component uid, for reporting undeclared keys.
    owner: &'s str,
    /// Its attributes; `None` when the project has no schema for it (only system keys pass).
    attrs: Option<&'s Attributes>,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An entry of a content type: [`ENTRY_SYSTEM_KEYS`], `localizations`.
    Entry,
    /// A component item: [`COMPONENT_SYSTEM_KEYS`].
    Component,
    /// An uploaded file without a project schema: [`ENTRY_SYSTEM_KEYS`] and [`MEDIA_FIELDS`].
    Media,
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// Receives each key dropped because no schema declares it: (content type or component uid,
/// key).
pub type Undeclared<'r> = &'r mut dyn FnMut(&str, &str);

/// Sanitizes entries and raw payloads with a project's schemas and the configured field lists.
///
/// Entries are sanitized **deny-by-default**: an object keeps only what its schema declares
/// (each attribute as the audience may see it) and Strapi's system keys holding scalars
/// ([`ENTRY_SYSTEM_KEYS`], [`COMPONENT_SYSTEM_KEYS`]); `localizations` are entries of the
/// same content type; a relation counted as `{count: N}` is dropped (the count says nothing
/// the client can use, and `populate` refetches such a relation when configured). Any other
/// key is dropped and reported ([`Sanitizer::entry_reporting`]).
#[derive(Debug, Clone, Copy)]
pub struct Sanitizer<'a> {
    /// The project's content types and components.
    pub schemas: &'a Schemas,
    /// Keys removed everywhere.
    pub sensitive: &'a SensitiveFields,
    /// `events.excludeFields`: key names removed at every depth (exact match).
    pub exclude_fields: &'a [String],
}

impl Sanitizer<'_> {
    /// The entry as `audience` may see it (an entry of content type `uid`; with no schema for
    /// `uid`, only the system keys pass).
    pub fn entry(&self, uid: &str, entry: &Value, audience: &Audience) -> Value {
        self.entry_reporting(uid, entry, audience, &mut |_, _| {})
    }

    /// [`Sanitizer::entry`], handing each undeclared key it drops to `undeclared`.
    pub fn entry_reporting(
        &self,
        uid: &str,
        entry: &Value,
        audience: &Audience,
        undeclared: Undeclared<'_>,
    ) -> Value {
        let shape = self.entry_shape(uid);
        let mut pass = Pass {
            sanitizer: self,
            audience,
            undeclared,
        };
        pass.node(entry, shape, 0)
    }

    /// Generic pass for `raw` payloads: removes keys matching the sensitive-field list at
    /// every depth (nothing else).
    pub fn strip_sensitive(&self, value: &Value) -> Value {
        self.generic(value, Mode::Raw, 0)
    }

    fn entry_shape<'s>(&'s self, uid: &'s str) -> Shape<'s> {
        Shape {
            owner: uid,
            attrs: self.schemas.content_type(uid).map(|c| &c.attributes),
            kind: Kind::Entry,
        }
    }

    fn media_shape(&self) -> Shape<'_> {
        match self.schemas.content_type(MEDIA_UID) {
            Some(c) => Shape {
                owner: MEDIA_UID,
                attrs: Some(&c.attributes),
                kind: Kind::Entry,
            },
            None => Shape {
                owner: MEDIA_UID,
                attrs: None,
                kind: Kind::Media,
            },
        }
    }

    /// Whether a key is removed wherever it appears in an entry.
    fn drop_key(&self, key: &str) -> bool {
        key == "createdBy"
            || key == "updatedBy"
            || self.exclude_fields.iter().any(|f| f == key)
            || self.sensitive.matches(key)
    }

    /// The generic rules, recursively (for JSON attributes and raw payloads).
    fn generic(&self, value: &Value, mode: Mode, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let dropped = match mode {
                        Mode::Entry => self.drop_key(k),
                        Mode::Raw => self.sensitive.matches(k),
                    };
                    if !dropped {
                        out.insert(k.clone(), self.generic(v, mode, depth + 1));
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.generic(v, mode, depth + 1))
                    .collect(),
            ),
            scalar => scalar.clone(),
        }
    }
}

/// One entry being sanitized for one audience.
struct Pass<'p, 'a, 'r> {
    sanitizer: &'p Sanitizer<'a>,
    audience: &'p Audience,
    undeclared: Undeclared<'r>,
}

impl Pass<'_, '_, '_> {
    /// An object sanitized against its shape; scalars pass, arrays are sanitized item by item.
    fn node(&mut self, value: &Value, shape: Shape<'_>, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        let map = match value {
            Value::Object(map) => map,
            Value::Array(items) => {
                return Value::Array(
                    items
                        .iter()
                        .map(|v| self.node(v, shape, depth + 1))
                        .collect(),
                );
            }
            scalar => return scalar.clone(),
        };
        let s = self.sanitizer;
        let mut out = Map::new();
        for (k, v) in map {
            if s.drop_key(k) {
                continue;
            }
            if let Some(attr) = shape.attrs.and_then(|a| a.get(k)) {
                if let Some(v) = self.attribute(attr, v, depth + 1) {
                    out.insert(k.clone(), v);
                }
                continue;
            }
            let system = match shape.kind {
                Kind::Entry | Kind::Media => ENTRY_SYSTEM_KEYS.contains(&k.as_str()),
                Kind::Component => COMPONENT_SYSTEM_KEYS.contains(&k.as_str()),
            };
            let kept = if system {
                is_scalar(v).then(|| v.clone())
            } else if shape.kind == Kind::Entry && k == "localizations" {
                // Other locales of the same document: entries of the same content type.
                v.is_array().then(|| self.node(v, shape, depth + 1))
            } else if shape.kind == Kind::Entry && k == "attributes" && v.is_object() {
                // v4 shape `{ id, attributes: { ... } }`: the inner object holds the attributes.
                Some(self.node(v, shape, depth + 1))
            } else if shape.kind == Kind::Media && MEDIA_FIELDS.contains(&k.as_str()) {
                Some(s.generic(v, Mode::Entry, depth + 1))
            } else {
                (self.undeclared)(shape.owner, k);
                None
            };
            if let Some(v) = kept {
                out.insert(k.clone(), v);
            }
        }
        Value::Object(out)
    }

    /// The value of one schema attribute, or `None` when the attribute must not be sent.
    fn attribute(&mut self, attr: &Attribute, value: &Value, depth: usize) -> Option<Value> {
        if attr.is_hidden() {
            return None;
        }
        if depth > MAX_DEPTH {
            return Some(Value::Null);
        }
        let s = self.sanitizer;
        match attr {
            Attribute::Password => None,
            Attribute::Relation { target: None, .. } => None,
            Attribute::Relation {
                target: Some(target),
                ..
            } => {
                if !self.audience.can_read(target) {
                    return None;
                }
                self.related(value, s.entry_shape(target), depth)
            }
            Attribute::Media { .. } => {
                if !self.audience.can_read(MEDIA_UID) {
                    return None;
                }
                self.related(value, s.media_shape(), depth)
            }
            Attribute::Component { component, .. } => {
                let shape = Shape {
                    owner: component,
                    attrs: s.schemas.component(component).map(|c| &c.attributes),
                    kind: Kind::Component,
                };
                Some(self.node(value, shape, depth))
            }
            Attribute::DynamicZone { components, .. } => match value {
                Value::Null => Some(Value::Null),
                Value::Array(items) => Some(Value::Array(
                    items
                        .iter()
                        .filter_map(|item| {
                            let uid = item.get("__component")?.as_str()?;
                            if !components.iter().any(|c| c == uid) {
                                return None;
                            }
                            let component = s.schemas.component(uid)?;
                            let shape = Shape {
                                owner: uid,
                                attrs: Some(&component.attributes),
                                kind: Kind::Component,
                            };
                            Some(self.node(item, shape, depth + 1))
                        })
                        .collect(),
                )),
                // Not shaped like a dynamic zone: nothing safe to send.
                _ => None,
            },
            Attribute::Scalar { .. } => Some(s.generic(value, Mode::Entry, depth)),
        }
    }

    /// A relation or media value: `null`, an id, an object, an array of those, or the v4
    /// wrapper `{ "data": ... }` (kept, its content sanitized). `None` for a relation counted
    /// as `{count: N}` (the Content Manager's shape), which is dropped.
    fn related(&mut self, value: &Value, shape: Shape<'_>, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return Some(Value::Null);
        }
        match value {
            Value::Object(map) if map.len() == 1 && map.contains_key("count") => None,
            Value::Object(map) if map.len() == 1 && map.contains_key("data") => {
                let inner = self.related(&map["data"], shape, depth + 1)?;
                let mut out = Map::new();
                out.insert("data".to_string(), inner);
                Some(Value::Object(out))
            }
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .filter(|v| !v.is_array())
                    .filter_map(|v| self.related(v, shape, depth + 1))
                    .collect(),
            )),
            other => Some(self.node(other, shape, depth)),
        }
    }
}

#[cfg(test)]
mod tests;
