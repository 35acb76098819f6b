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
mod tests {
    use super::*;
    use crate::audience::TokenType;
    use crate::schema::{Component, ContentType};
    use serde_json::json;

    const ARTICLE: &str = r#"{"kind":"collectionType","collectionName":"articles",
      "info":{"singularName":"article","pluralName":"articles"},
      "options":{"draftAndPublish":true},
      "attributes":{
        "title":{"type":"string","required":true},
        "body":{"type":"richtext"},
        "internalNotes":{"type":"string","private":true},
        "pw":{"type":"password"},
        "extra":{"type":"json"},
        "author":{"type":"relation","relation":"manyToOne","target":"api::author.author","inversedBy":"articles"},
        "comments":{"type":"relation","relation":"oneToMany","target":"api::comment.comment","mappedBy":"article"},
        "ghost":{"type":"relation","relation":"oneToOne","target":"api::ghost.ghost"},
        "related":{"type":"relation","relation":"morphToMany"},
        "cover":{"type":"media"},
        "gallery":{"type":"media","multiple":true},
        "seo":{"type":"component","repeatable":false,"component":"shared.seo"},
        "seos":{"type":"component","repeatable":true,"component":"shared.seo"},
        "blocks":{"type":"dynamiczone","components":["shared.seo","shared.quote"]}}}"#;

    const AUTHOR: &str = r#"{"kind":"collectionType","collectionName":"authors",
      "info":{"singularName":"author","pluralName":"authors"},
      "options":{"draftAndPublish":false},
      "attributes":{
        "name":{"type":"string"},
        "email":{"type":"email","private":true},
        "articles":{"type":"relation","relation":"oneToMany","target":"api::article.article","mappedBy":"author"}}}"#;

    const COMMENT: &str = r#"{"kind":"collectionType","collectionName":"comments",
      "info":{"singularName":"comment","pluralName":"comments"},
      "options":{"draftAndPublish":false},
      "attributes":{
        "text":{"type":"text"},
        "article":{"type":"relation","relation":"manyToOne","target":"api::article.article","inversedBy":"comments"}}}"#;

    const SEO: &str = r#"{"collectionName":"components_shared_seos","info":{"displayName":"Seo"},
      "options":{},"attributes":{"metaTitle":{"type":"string"},"metaSecret":{"type":"string","private":true}}}"#;

    const QUOTE: &str =
        r#"{"attributes":{"text":{"type":"text"},"hiddenNote":{"type":"string","private":true}}}"#;

    // A component that exists but is not allowed in the article's dynamic zone.
    const OTHER: &str = r#"{"attributes":{"x":{"type":"string"}}}"#;

    const ARTICLE_UID: &str = "api::article.article";
    const AUTHOR_UID: &str = "api::author.author";

    fn schemas() -> Schemas {
        let mut s = Schemas::new();
        for (uid, text) in [
            (ARTICLE_UID, ARTICLE),
            (AUTHOR_UID, AUTHOR),
            ("api::comment.comment", COMMENT),
        ] {
            let ct = ContentType::parse(uid, uid, text).unwrap();
            s.add_content_type(uid, ct).unwrap();
        }
        for (uid, text) in [
            ("shared.seo", SEO),
            ("shared.quote", QUOTE),
            ("shared.other", OTHER),
        ] {
            let c = Component::parse(uid, uid, text).unwrap();
            s.add_component(uid, c).unwrap();
        }
        s.validate().unwrap();
        s
    }

    fn role(abilities: &[&str]) -> Audience {
        Audience::role("Public", "public", abilities.iter().map(|a| a.to_string()))
    }

    /// May read articles, authors, comments, media and the ghost type.
    fn reader() -> Audience {
        role(&[
            "api::article.article.find",
            "api::author.author.find",
            "api::comment.comment.findOne",
            "api::ghost.ghost.find",
            "plugin::upload.content-api.find",
        ])
    }

    /// May read articles only.
    fn articles_only() -> Audience {
        role(&["api::article.article.find"])
    }

    fn run(entry: Value, audience: &Audience) -> Value {
        run_with(entry, audience, &[], &[])
    }

    /// The test schemas' sanitizer with the default sensitive fields and no excluded fields.
    fn default_sanitizer<'a>(s: &'a Schemas, sensitive: &'a SensitiveFields) -> Sanitizer<'a> {
        Sanitizer {
            schemas: s,
            sensitive,
            exclude_fields: &[],
        }
    }

    fn run_with(entry: Value, audience: &Audience, extra: &[&str], exclude: &[&str]) -> Value {
        let s = schemas();
        let extra: Vec<String> = extra.iter().map(|e| e.to_string()).collect();
        let exclude: Vec<String> = exclude.iter().map(|e| e.to_string()).collect();
        let sensitive = SensitiveFields::new(&extra);
        let sanitizer = Sanitizer {
            schemas: &s,
            sensitive: &sensitive,
            exclude_fields: &exclude,
        };
        sanitizer.entry(ARTICLE_UID, &entry, audience)
    }

    #[test]
    fn sensitive_matching_table() {
        let f = SensitiveFields::new(&[]);
        for key in [
            "password",
            "Password",
            "PASSWORD",
            "userPassword",
            "passwordConfirmation",
            "api_key",
            "apiKey",
            "APIKey",
            "API_KEY",
            "stripeApiKey",
            "stripe-api-key",
            "resetToken",
            "tokenCount",
            "client_secret",
            "clientSecret",
            "salt",
            "hash",
            "passwordHash",
            "resetPasswordToken",
            "RESET_PASSWORD_TOKEN",
            "private_key",
            "privateKey",
            "my.private.key",
            "jwt token",
            "token",
            "Token",
            "x2Token",
            "privatekey",
            "PassWord",
            "secretkey",
            "APIKEY",
            "apikey",
            "refreshtoken",
            "userpassword",
        ] {
            assert!(f.matches(key), "{key} should match");
        }
        for key in [
            "tokenizer",
            "secretary",
            "hashtag",
            "title",
            "saltiness",
            "passwords",
            "apikeys",
            "keyApi",
            "id",
            "documentId",
            "",
            "___",
            "private",
            "key",
            "api",
        ] {
            assert!(!f.matches(key), "{key} should not match");
        }
    }

    #[test]
    fn normalization_splits_words() {
        assert_eq!(normalize("APIKey"), "_api_key_");
        assert_eq!(normalize("stripeApiKey"), "_stripe_api_key_");
        assert_eq!(normalize("user2FASecret"), "_user2_fa_secret_");
        assert_eq!(normalize("__a--b..c  d"), "_a_b_c_d_");
        assert_eq!(normalize("PASSWORD"), "_password_");
        assert_eq!(normalize(""), "_");
    }

    #[test]
    fn extra_sensitive_fields_and_redundant_patterns() {
        let f = SensitiveFields::new(&["ssn".into(), "creditCard".into(), "".into(), "-".into()]);
        assert!(f.matches("ssn"));
        assert!(f.matches("userSSN"));
        assert!(f.matches("credit_card_number"));
        assert!(!f.matches("card"));
        assert!(!f.matches("title"));
        // `resetPasswordToken` etc. are implied by `password`/`token`.
        assert!(f.patterns.iter().all(|p| p != "_reset_password_token_"));
        assert!(f.patterns.contains(&"_token_".to_string()));
    }

    #[test]
    fn private_scalar_is_removed() {
        let out = run(
            json!({"id": 1, "documentId": "abc", "title": "T", "internalNotes": "secret plan"}),
            &reader(),
        );
        assert_eq!(out, json!({"id": 1, "documentId": "abc", "title": "T"}));
    }

    #[test]
    fn password_type_is_removed() {
        let out = run(json!({"id": 1, "pw": "hunter2", "title": "T"}), &reader());
        assert_eq!(out, json!({"id": 1, "title": "T"}));
    }

    #[test]
    fn created_by_and_updated_by_are_removed_everywhere() {
        let out = run(
            json!({
                "id": 1,
                "createdBy": {"id": 1, "email": "admin@x"},
                "updatedBy": 3,
                "author": {"id": 2, "name": "A", "createdBy": {"id": 1}},
                "extra": {"updatedBy": 1, "ok": true}
            }),
            &reader(),
        );
        assert_eq!(
            out,
            json!({"id": 1, "author": {"id": 2, "name": "A"}, "extra": {"ok": true}})
        );
    }

    #[test]
    fn relation_to_unreadable_target_is_removed() {
        let out = run(
            json!({"id": 1, "title": "T", "author": {"id": 2, "name": "A"}, "comments": [1, 2]}),
            &articles_only(),
        );
        assert_eq!(out, json!({"id": 1, "title": "T"}));
    }

    #[test]
    fn readable_relation_is_sanitized_recursively() {
        let out = run(
            json!({
                "id": 1,
                "author": {
                    "id": 2,
                    "name": "A",
                    "email": "a@x",
                    "apiKey": "k",
                    "articles": [{"id": 1, "title": "T", "internalNotes": "n"}, 7]
                },
                "comments": [{"id": 5, "text": "hi", "token": "t"}]
            }),
            &reader(),
        );
        assert_eq!(
            out,
            json!({
                "id": 1,
                "author": {"id": 2, "name": "A", "articles": [{"id": 1, "title": "T"}, 7]},
                "comments": [{"id": 5, "text": "hi"}]
            })
        );
    }

    #[test]
    fn relation_ids_and_nulls_are_kept() {
        let out = run(
            json!({"author": 2, "comments": ["doc1", "doc2"], "ghost": null}),
            &reader(),
        );
        assert_eq!(
            out,
            json!({"author": 2, "comments": ["doc1", "doc2"], "ghost": null})
        );
    }

    #[test]
    fn relation_to_a_target_without_schema_keeps_only_system_keys() {
        let out = run(
            json!({"ghost": {"id": 9, "documentId": "g9", "secret": "s", "createdBy": 1, "name": "g"}}),
            &reader(),
        );
        assert_eq!(out, json!({"ghost": {"id": 9, "documentId": "g9"}}));
    }

    #[test]
    fn polymorphic_relation_is_removed() {
        let out = run(
            json!({"id": 1, "related": [{"id": 3, "__type": "api::author.author"}]}),
            &reader(),
        );
        assert_eq!(out, json!({"id": 1}));
    }

    #[test]
    fn v4_relation_wrappers_are_kept_and_sanitized() {
        let out = run(
            json!({
                "id": 1,
                "author": {"data": {"id": 2, "attributes": {"name": "A", "email": "a@x"}}},
                "comments": {"data": [{"id": 5, "text": "hi", "salt": "s"}]},
                "ghost": {"data": null}
            }),
            &reader(),
        );
        assert_eq!(
            out,
            json!({
                "id": 1,
                "author": {"data": {"id": 2, "attributes": {"name": "A"}}},
                "comments": {"data": [{"id": 5, "text": "hi"}]},
                "ghost": {"data": null}
            })
        );
        let hidden = run(
            json!({"id": 1, "author": {"data": {"id": 2}}}),
            &articles_only(),
        );
        assert_eq!(hidden, json!({"id": 1}));
    }

    #[test]
    fn count_relation_values_are_dropped() {
        // The Content Manager's shape of an unpopulated relation.
        let out = run(
            json!({"id": 1, "comments": {"count": 3}, "author": {"count": 1}}),
            &reader(),
        );
        assert_eq!(out, json!({"id": 1}));
        // a related entry that happens to have a `count` attribute beside others is an entry
        let out = run(json!({"comments": [{"count": 3, "id": 4}]}), &reader());
        assert_eq!(out, json!({"comments": [{"id": 4}]}));
    }

    #[test]
    fn media_follows_upload_permission() {
        let entry = json!({
            "id": 1,
            "cover": {"id": 4, "url": "/a.png", "createdBy": 1, "hash": "a_1f2e"},
            "gallery": [{"id": 5, "url": "/b.png"}]
        });
        assert_eq!(run(entry.clone(), &articles_only()), json!({"id": 1}));
        assert_eq!(
            run(entry, &reader()),
            json!({
                "id": 1,
                "cover": {"id": 4, "url": "/a.png"},
                "gallery": [{"id": 5, "url": "/b.png"}]
            })
        );
        let by_find = role(&["plugin::upload.file.find"]);
        assert_eq!(
            run(json!({"cover": {"id": 4}}), &by_find),
            json!({"cover": {"id": 4}})
        );
    }

    #[test]
    fn component_private_field_is_removed() {
        let out = run(
            json!({"seo": {"id": 1, "metaTitle": "M", "metaSecret": "S"}}),
            &articles_only(),
        );
        assert_eq!(out, json!({"seo": {"id": 1, "metaTitle": "M"}}));
        assert_eq!(
            run(json!({"seo": null}), &articles_only()),
            json!({"seo": null})
        );
    }

    #[test]
    fn repeatable_component_items_are_sanitized() {
        let out = run(
            json!({"seos": [
                {"id": 1, "metaTitle": "a", "metaSecret": "x"},
                {"id": 2, "metaTitle": "b", "metaSecret": "y", "refreshToken": "r"}
            ]}),
            &articles_only(),
        );
        assert_eq!(
            out,
            json!({"seos": [{"id": 1, "metaTitle": "a"}, {"id": 2, "metaTitle": "b"}]})
        );
    }

    #[test]
    fn dynamic_zone_keeps_known_items_only() {
        let out = run(
            json!({"blocks": [
                {"__component": "shared.seo", "id": 1, "metaTitle": "m", "metaSecret": "s"},
                {"__component": "shared.quote", "id": 2, "text": "q", "hiddenNote": "h"},
                {"__component": "shared.other", "id": 3, "x": "not allowed in the zone"},
                {"__component": "shared.unknown", "id": 4},
                {"id": 5, "metaTitle": "no component"},
                "junk",
                {"__component": 7}
            ]}),
            &articles_only(),
        );
        assert_eq!(
            out,
            json!({"blocks": [
                {"__component": "shared.seo", "id": 1, "metaTitle": "m"},
                {"__component": "shared.quote", "id": 2, "text": "q"}
            ]})
        );
        assert_eq!(
            run(json!({"blocks": null}), &articles_only()),
            json!({"blocks": null})
        );
        assert_eq!(
            run(
                json!({"id": 1, "blocks": {"__component": "shared.seo"}}),
                &articles_only()
            ),
            json!({"id": 1})
        );
    }

    #[test]
    fn excluded_fields_are_removed_at_every_depth() {
        let out = run_with(
            json!({
                "id": 1,
                "title": "T",
                "views": 3,
                "author": {"id": 2, "name": "A", "views": 4},
                "seo": {"metaTitle": "m", "views": 5},
                "extra": [{"views": 6, "keep": 1}],
                "body": "b"
            }),
            &reader(),
            &[],
            &["views", "title"],
        );
        assert_eq!(
            out,
            json!({
                "id": 1,
                "author": {"id": 2, "name": "A"},
                "seo": {"metaTitle": "m"},
                "extra": [{"keep": 1}],
                "body": "b"
            })
        );
    }

    #[test]
    fn json_scalar_nested_secrets_are_removed() {
        let out = run(
            json!({"extra": {"config": {"stripeApiKey": "sk", "mode": "live", "list": [{"password": "p", "n": 1}]}}}),
            &articles_only(),
        );
        assert_eq!(
            out,
            json!({"extra": {"config": {"mode": "live", "list": [{"n": 1}]}}})
        );
    }

    #[test]
    fn system_keys_and_localizations_pass() {
        let out = run(
            json!({"id": 1, "documentId": "d", "createdAt": "t", "publishedAt": null, "locale": "en",
                   "localizations": [{"id": 2, "accessToken": "a"}]}),
            &articles_only(),
        );
        assert_eq!(
            out,
            json!({"id": 1, "documentId": "d", "createdAt": "t", "publishedAt": null, "locale": "en",
                   "localizations": [{"id": 2}]})
        );
    }

    #[test]
    fn unknown_uid_keeps_system_keys_and_non_object_entries_pass() {
        let (s, sensitive) = (schemas(), SensitiveFields::default());
        let sanitizer = default_sanitizer(&s, &sensitive);
        let out = sanitizer.entry(
            "api::nope.nope",
            &json!({"id": 1, "internalNotes": "kept: no schema", "password": "p", "createdBy": 1}),
            &reader(),
        );
        assert_eq!(out, json!({"id": 1}));
        let out = sanitizer.entry(
            ARTICLE_UID,
            &json!([{"title": "T", "token": "t"}, 3]),
            &reader(),
        );
        assert_eq!(out, json!([{"title": "T"}, 3]));
        assert_eq!(sanitizer.entry(ARTICLE_UID, &json!(5), &reader()), json!(5));
    }

    #[test]
    fn full_access_token_still_loses_private_fields() {
        let token = Audience::api_token("admin", TokenType::FullAccess, Vec::new());
        let out = run(
            json!({"id": 1, "internalNotes": "n", "author": {"id": 2, "email": "e", "name": "A"}}),
            &token,
        );
        assert_eq!(out, json!({"id": 1, "author": {"id": 2, "name": "A"}}));
    }

    fn nested(depth: usize) -> Value {
        let mut v = json!({"leaf": true, "password": "p"});
        for i in 0..depth {
            v = if i % 2 == 0 {
                json!({"child": v, "secret": 1})
            } else {
                json!([v])
            };
        }
        v
    }

    fn max_depth(v: &Value) -> usize {
        // Iterative, so that measuring cannot overflow either.
        let mut stack = vec![(v, 0usize)];
        let mut max = 0;
        while let Some((v, d)) = stack.pop() {
            max = max.max(d);
            match v {
                Value::Object(m) => stack.extend(m.values().map(|c| (c, d + 1))),
                Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
                _ => {}
            }
        }
        max
    }

    #[test]
    fn depth_limit_truncates_without_panicking() {
        let deep = nested(200);
        let out = run(
            json!({"id": 1, "extra": deep.clone(), "unknown": deep.clone()}),
            &reader(),
        );
        assert!(max_depth(&out) <= MAX_DEPTH + 2, "{}", max_depth(&out));
        assert!(!out.to_string().contains("secret"));
        let (s, sensitive) = (schemas(), SensitiveFields::default());
        let sanitizer = default_sanitizer(&s, &sensitive);
        let raw = sanitizer.strip_sensitive(&deep);
        assert!(max_depth(&raw) <= MAX_DEPTH + 1);
        // Shallow values are untouched by the limit.
        let shallow = nested(10);
        let raw = sanitizer.strip_sensitive(&shallow);
        assert!(raw.to_string().contains("leaf"));
        // Deeply nested relations (author → articles → author → …) are bounded too.
        let mut chain = json!({"id": 0, "name": "end"});
        for i in 0..200 {
            chain = if i % 2 == 0 {
                json!({"id": i, "articles": [chain]})
            } else {
                json!({"id": i, "author": {"data": chain}})
            };
        }
        let out = sanitizer.entry(ARTICLE_UID, &json!({"author": chain}), &reader());
        assert!(max_depth(&out) <= MAX_DEPTH + 2);
    }

    #[test]
    fn raw_strip_sensitive_removes_only_sensitive_keys() {
        let s = schemas();
        let sensitive = SensitiveFields::new(&["ssn".into()]);
        let exclude = vec!["title".to_string()];
        let sanitizer = Sanitizer {
            schemas: &s,
            sensitive: &sensitive,
            exclude_fields: &exclude,
        };
        let out = sanitizer.strip_sensitive(&json!({
            "title": "kept",
            "createdBy": 1,
            "internalNotes": "kept: raw has no schema",
            "Password": "p",
            "user": {"ssn": "1", "tokenizer": "kept", "nested": [{"API_KEY": "k", "ok": 1}]}
        }));
        assert_eq!(
            out,
            json!({
                "title": "kept",
                "createdBy": 1,
                "internalNotes": "kept: raw has no schema",
                "user": {"tokenizer": "kept", "nested": [{"ok": 1}]}
            })
        );
        assert_eq!(sanitizer.strip_sensitive(&json!("x")), json!("x"));
    }

    #[test]
    fn undeclared_keys_are_dropped_and_reported_with_their_owner() {
        let (s, sensitive) = (schemas(), SensitiveFields::default());
        let sanitizer = default_sanitizer(&s, &sensitive);
        let mut seen = Vec::new();
        let out = sanitizer.entry_reporting(
            ARTICLE_UID,
            &json!({"id": 1, "title": "T", "viewsTotal": 9, "id2": {"x": 1},
                    "documentId": {"nested": "objects are not system values"},
                    "seo": {"id": 3, "metaTitle": "m", "sneaky": "s", "__component": "shared.seo"},
                    "author": {"id": 2, "name": "A", "shadow": true},
                    "createdBy": {"id": 1}, "password": "p"}),
            &reader(),
            &mut |owner, key| seen.push(format!("{owner}.{key}")),
        );
        assert_eq!(
            out,
            json!({"id": 1, "title": "T", "seo": {"id": 3, "metaTitle": "m", "__component": "shared.seo"},
                   "author": {"id": 2, "name": "A"}})
        );
        seen.sort();
        assert_eq!(
            seen,
            [
                "api::article.article.id2",
                "api::article.article.viewsTotal",
                "api::author.author.shadow",
                "shared.seo.sneaky",
            ],
            "known rules (createdBy, sensitive keys) and system keys are not reported"
        );
    }

    #[test]
    fn localizations_are_entries_of_the_same_type() {
        // Content Manager unpublish (issue 13): other locales came with their private fields.
        let out = run(
            json!({"id": 2, "documentId": "d", "publishedAt": null,
                   "localizations": [{"id": 7, "documentId": "d", "locale": "fr", "title": "T",
                                      "internalNotes": "private", "seo": {"metaSecret": "s", "metaTitle": "m"},
                                      "localizations": [{"id": 8, "internalNotes": "deeper"}]}]}),
            &reader(),
        );
        assert_eq!(
            out,
            json!({"id": 2, "documentId": "d", "publishedAt": null,
                   "localizations": [{"id": 7, "documentId": "d", "locale": "fr", "title": "T",
                                      "seo": {"metaTitle": "m"}, "localizations": [{"id": 8}]}]})
        );
        // anything but a list of entries is dropped
        assert_eq!(
            run(json!({"id": 2, "localizations": {"count": 1}}), &reader()),
            json!({"id": 2})
        );
    }

    #[test]
    fn media_without_a_project_schema_keeps_strapis_file_fields() {
        let out = run(
            json!({"cover": {"id": 5, "documentId": "f5", "name": "a.png", "url": "/uploads/a.png",
                             "formats": {"thumbnail": {"url": "/uploads/t.png", "secret": "s"}},
                             "folderPath": "/1", "related": [{"id": 1}], "createdBy": 1}}),
            &reader(),
        );
        assert_eq!(
            out,
            json!({"cover": {"id": 5, "documentId": "f5", "name": "a.png", "url": "/uploads/a.png",
                             "formats": {"thumbnail": {"url": "/uploads/t.png"}}}})
        );
    }

    mod undeclared_keys_never_pass {
        use super::*;
        use proptest::prelude::*;

        /// Arbitrary JSON whose object keys are undeclared (`zz…`) or look declared.
        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                "[a-z]{0,6}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(
                        prop_oneof![
                            "zz[a-z]{0,4}",
                            Just("title".to_string()),
                            Just("id".to_string())
                        ],
                        inner,
                        0..4
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// Undeclared keys with arbitrary values, to put beside an object's own keys.
        fn extras() -> impl Strategy<Value = Vec<(String, Value)>> {
            prop::collection::vec(("zz[a-z]{0,6}", json_value()), 0..4)
        }

        fn with(mut base: Value, extra: Vec<(String, Value)>) -> Value {
            if let Value::Object(map) = &mut base {
                map.extend(extra);
            }
            base
        }

        fn undeclared_keys(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        if k.starts_with("zz") {
                            out.push(k.clone());
                        }
                        undeclared_keys(x, out);
                    }
                }
                Value::Array(items) => items.iter().for_each(|x| undeclared_keys(x, out)),
                _ => {}
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn beside_any_schema_object(
                top in extras(), author in extras(), comment in extras(), seo in extras(),
                block in extras(), locale in extras(), cover in extras(), system in json_value(),
            ) {
                let entry = json!({
                    "id": 1,
                    "documentId": system,
                    "title": "T",
                    "author": with(json!({"id": 2, "name": "A"}), author),
                    "comments": [with(json!({"id": 3, "text": "c"}), comment), {"count": 2}],
                    "seo": with(json!({"id": 4, "metaTitle": "m"}), seo),
                    "blocks": [with(json!({"__component": "shared.quote", "text": "q"}), block)],
                    "cover": with(json!({"id": 5, "url": "/u.png"}), cover),
                    "localizations": [with(json!({"id": 6, "locale": "fr", "title": "L"}), locale)],
                });
                let entry = with(entry, top);
                let token = Audience::api_token("ops", TokenType::FullAccess, Vec::new());
                for audience in [reader(), articles_only(), token, role(&[])] {
                    let out = run(entry.clone(), &audience);
                    let mut leaked = Vec::new();
                    undeclared_keys(&out, &mut leaked);
                    prop_assert!(leaked.is_empty(), "{leaked:?} reached {}: {out}", audience.name);
                    prop_assert!(out["documentId"].is_null() || !out["documentId"].is_object() && !out["documentId"].is_array());
                }
            }
        }
    }

    /// Tiny xorshift PRNG, so the test needs no extra crates.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn pick<'k>(rng: &mut Rng, from: &[&'k str]) -> &'k str {
        from[rng.below(from.len() as u64) as usize]
    }

    /// Keys that schema-less values may hold: harmless ones and sensitive ones (removed
    /// everywhere), but no private attribute names (those are legitimate outside the schema).
    const GENERIC_KEYS: [&str; 9] = [
        "id",
        "title",
        "data",
        "attributes",
        "count",
        "password",
        "apiKey",
        "createdBy",
        "misc",
    ];

    fn generic_value(rng: &mut Rng, depth: usize) -> Value {
        match if depth > 4 {
            rng.below(3)
        } else {
            rng.below(6)
        } {
            0 => Value::Null,
            1 => json!(rng.below(100)),
            2 => json!(pick(rng, &GENERIC_KEYS)),
            3 | 4 => {
                let mut m = Map::new();
                for _ in 0..rng.below(4) {
                    m.insert(
                        pick(rng, &GENERIC_KEYS).into(),
                        generic_value(rng, depth + 1),
                    );
                }
                Value::Object(m)
            }
            _ => Value::Array(
                (0..rng.below(3))
                    .map(|_| generic_value(rng, depth + 1))
                    .collect(),
            ),
        }
    }

    #[derive(Clone, Copy)]
    enum Kind {
        Article,
        Author,
        Comment,
        Seo,
        Quote,
        /// No schema (the `ghost` target, media): only harmless and sensitive keys.
        Unknown,
    }

    /// An object of `kind` with a random subset of its schema's keys (and a few others).
    fn object(rng: &mut Rng, kind: Kind, depth: usize) -> Value {
        let keys: &[&str] = match kind {
            Kind::Article => &[
                "id",
                "documentId",
                "title",
                "body",
                "internalNotes",
                "pw",
                "password",
                "extra",
                "author",
                "comments",
                "ghost",
                "related",
                "cover",
                "gallery",
                "seo",
                "seos",
                "blocks",
                "createdBy",
                "attributes",
            ],
            Kind::Author => &["id", "name", "email", "articles", "password", "updatedBy"],
            Kind::Comment => &["id", "text", "article", "token"],
            Kind::Seo => &["id", "metaTitle", "metaSecret", "secretKey"],
            Kind::Quote => &["id", "text", "hiddenNote"],
            Kind::Unknown => &GENERIC_KEYS,
        };
        let mut m = Map::new();
        for _ in 0..rng.below(8) {
            let k = pick(rng, keys);
            let v = if depth > 5 || rng.below(8) == 0 {
                generic_value(rng, depth + 1)
            } else {
                match k {
                    "author" => relation(rng, Kind::Author, depth + 1),
                    "comments" => relation(rng, Kind::Comment, depth + 1),
                    "articles" | "article" | "related" => relation(rng, Kind::Article, depth + 1),
                    "ghost" | "cover" | "gallery" => relation(rng, Kind::Unknown, depth + 1),
                    "seo" => object(rng, Kind::Seo, depth + 1),
                    "seos" => Value::Array(
                        (0..rng.below(3))
                            .map(|_| object(rng, Kind::Seo, depth + 1))
                            .collect(),
                    ),
                    "blocks" => Value::Array(
                        (0..rng.below(4))
                            .map(|_| {
                                let (uid, kind) = match rng.below(4) {
                                    0 => ("shared.seo", Kind::Seo),
                                    1 => ("shared.quote", Kind::Quote),
                                    2 => ("shared.other", Kind::Quote),
                                    _ => ("shared.unknown", Kind::Seo),
                                };
                                let mut item = object(rng, kind, depth + 1);
                                if let (Value::Object(m), true) = (&mut item, rng.below(5) != 0) {
                                    m.insert("__component".into(), json!(uid));
                                }
                                item
                            })
                            .collect(),
                    ),
                    "attributes" => object(rng, kind, depth + 1),
                    _ => json!(k),
                }
            };
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    }

    /// A relation value in any of its shapes.
    fn relation(rng: &mut Rng, kind: Kind, depth: usize) -> Value {
        match rng.below(7) {
            0 => Value::Null,
            1 => json!(rng.below(50)),
            2 => json!({"count": rng.below(9)}),
            3 => json!({"data": relation(rng, kind, depth + 1)}),
            4 => Value::Array(
                (0..rng.below(3))
                    .map(|_| object(rng, kind, depth + 1))
                    .collect(),
            ),
            _ => object(rng, kind, depth + 1),
        }
    }

    /// Every key in the value, at any depth.
    fn keys(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    out.push(k.clone());
                    keys(c, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|c| keys(c, out)),
            _ => {}
        }
    }

    #[test]
    fn randomized_entries_never_leak_private_keys() {
        let (s, sensitive) = (schemas(), SensitiveFields::default());
        let sanitizer = default_sanitizer(&s, &sensitive);
        let always = [
            "internalNotes",
            "pw",
            "password",
            "metaSecret",
            "hiddenNote",
            "createdBy",
            "updatedBy",
            "apiKey",
            "secretKey",
            "token",
            "related",
            "email",
        ];
        let cases = [
            (
                articles_only(),
                vec!["author", "comments", "cover", "gallery", "name", "articles"],
            ),
            (reader(), vec![]),
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut seen_author_name = false;
        for i in 0..2000 {
            let mut entry = object(&mut rng, Kind::Article, 0);
            if let (Value::Object(m), true) = (&mut entry, i % 3 == 0) {
                m.insert("internalNotes".into(), json!("n"));
                m.insert("seo".into(), json!({"metaTitle": "t", "metaSecret": "s"}));
                m.insert(
                    "author".into(),
                    json!({"id": 1, "email": "e", "name": "n", "articles": [{"internalNotes": "x"}]}),
                );
            }
            for (audience, forbidden) in &cases {
                let out = sanitizer.entry(ARTICLE_UID, &entry, audience);
                let mut found = Vec::new();
                keys(&out, &mut found);
                seen_author_name |= found.iter().any(|k| k == "name");
                for k in always.iter().chain(forbidden.iter()) {
                    assert!(
                        !found.iter().any(|f| f == k),
                        "{k} leaked: {entry} -> {out}"
                    );
                }
            }
        }
        // The readable audience does see the author, so the test exercises recursion.
        assert!(seen_author_name);
    }
}
