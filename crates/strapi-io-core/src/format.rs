//! The wire formats of content events (SPEC §3, *Wire format*): Strapi 5's flat REST shape
//! (`v5`) and the plugin's Strapi 4 shape (`v4`, `{ id, attributes }` with relations and
//! media wrapped in `{ "data": ... }`), plus the `{ id, documentId }` body of delete events.
//!
//! Formatting runs after sanitizing and never removes data.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::schema::{Attribute, MEDIA_UID, Schemas};
use crate::settings::Format;

/// Beyond this depth values are passed through untransformed (sanitized input is shallower).
const MAX_DEPTH: usize = 128;

type Attributes = BTreeMap<String, Attribute>;

/// The payload clients receive: v5 `{ "data": {id, documentId, ...}, "meta": {} }`; v4 `{ "data": { "id", "attributes": {...} }, "meta": {} }`.
pub fn to_wire(format: Format, schemas: &Schemas, uid: &str, entry: Value) -> Value {
    let data = match format {
        Format::V5 => entry,
        Format::V4 => {
            let attrs = schemas.content_type(uid).map(|c| &c.attributes);
            V4 { schemas }.entry(entry, attrs, 0)
        }
    };
    let mut out = Map::new();
    out.insert("data".to_string(), data);
    out.insert("meta".to_string(), Value::Object(Map::new()));
    Value::Object(out)
}

/// What a delete event carries: `{ id, documentId }` only (keys present in the entry; missing ones omitted).
pub fn delete_entry(entry: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(map) = entry {
        for key in ["id", "documentId"] {
            if let Some(v) = map.get(key) {
                out.insert(key.to_string(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The v4 transform (Strapi 4's `transformResponse`, as the plugin applies it).
struct V4<'a> {
    schemas: &'a Schemas,
}

impl V4<'_> {
    /// An entry (or array of entries) as `{ id, attributes: { ... } }`.
    fn entry(&self, entry: Value, attrs: Option<&Attributes>, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return entry;
        }
        match entry {
            Value::Object(mut map) => {
                let id = map.remove("id");
                let attributes = self.fields(map, attrs, depth);
                let mut out = Map::new();
                if let Some(id) = id {
                    out.insert("id".to_string(), id);
                }
                out.insert("attributes".to_string(), Value::Object(attributes));
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| self.entry(v, attrs, depth + 1))
                    .collect(),
            ),
            other => other,
        }
    }

    /// Each field of an object, relations, media, components and dynamic zones transformed.
    fn fields(
        &self,
        map: Map<String, Value>,
        attrs: Option<&Attributes>,
        depth: usize,
    ) -> Map<String, Value> {
        map.into_iter()
            .map(|(k, v)| {
                let v = match attrs.and_then(|a| a.get(&k)) {
                    Some(attr) => self.attribute(attr, v, depth + 1),
                    None => v,
                };
                (k, v)
            })
            .collect()
    }

    fn attribute(&self, attr: &Attribute, value: Value, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return value;
        }
        match attr {
            Attribute::Relation { target, .. } => {
                let attrs = target
                    .as_deref()
                    .and_then(|t| self.schemas.content_type(t))
                    .map(|c| &c.attributes);
                self.related(value, attrs, depth)
            }
            Attribute::Media { .. } => {
                let attrs = self.schemas.content_type(MEDIA_UID).map(|c| &c.attributes);
                self.related(value, attrs, depth)
            }
            Attribute::Component { component, .. } => {
                let attrs = self.schemas.component(component).map(|c| &c.attributes);
                self.component(value, attrs, depth)
            }
            Attribute::DynamicZone { .. } => match value {
                Value::Array(items) => Value::Array(
                    items
                        .into_iter()
                        .map(|item| {
                            let attrs = item
                                .get("__component")
                                .and_then(Value::as_str)
                                .and_then(|c| self.schemas.component(c))
                                .map(|c| &c.attributes);
                            self.component(item, attrs, depth + 1)
                        })
                        .collect(),
                ),
                other => other,
            },
            Attribute::Password | Attribute::Scalar { .. } => value,
        }
    }

    /// A relation or media value as `{ "data": ... }`; values already wrapped are left alone.
    fn related(&self, value: Value, attrs: Option<&Attributes>, depth: usize) -> Value {
        let data = match value {
            Value::Object(map) if map.len() == 1 && map.contains_key("data") => {
                return Value::Object(map);
            }
            Value::Null => Value::Null,
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| self.related_item(v, attrs, depth + 1))
                    .collect(),
            ),
            other => self.related_item(other, attrs, depth),
        };
        let mut out = Map::new();
        out.insert("data".to_string(), data);
        Value::Object(out)
    }

    /// One related entry; a bare id becomes `{ id, attributes: {} }`.
    fn related_item(&self, value: Value, attrs: Option<&Attributes>, depth: usize) -> Value {
        match value {
            id @ (Value::Number(_) | Value::String(_)) => {
                let mut out = Map::new();
                out.insert("id".to_string(), id);
                out.insert("attributes".to_string(), Value::Object(Map::new()));
                Value::Object(out)
            }
            other => self.entry(other, attrs, depth),
        }
    }

    /// A component value (object or array of objects): stays flat, its relations transformed.
    fn component(&self, value: Value, attrs: Option<&Attributes>, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return value;
        }
        match value {
            Value::Object(map) => Value::Object(self.fields(map, attrs, depth)),
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| self.component(v, attrs, depth + 1))
                    .collect(),
            ),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Component, ContentType};
    use serde_json::json;

    const ARTICLE: &str = r#"{"kind":"collectionType","info":{"singularName":"article","pluralName":"articles"},
      "options":{"draftAndPublish":true},
      "attributes":{
        "title":{"type":"string"},
        "extra":{"type":"json"},
        "author":{"type":"relation","relation":"manyToOne","target":"api::author.author"},
        "comments":{"type":"relation","relation":"oneToMany","target":"api::comment.comment"},
        "related":{"type":"relation","relation":"morphToMany"},
        "cover":{"type":"media"},
        "gallery":{"type":"media","multiple":true},
        "seo":{"type":"component","component":"shared.seo"},
        "seos":{"type":"component","repeatable":true,"component":"shared.seo"},
        "blocks":{"type":"dynamiczone","components":["shared.seo","shared.quote"]}}}"#;

    const AUTHOR: &str = r#"{"info":{"singularName":"author","pluralName":"authors"},
      "attributes":{"name":{"type":"string"},
        "articles":{"type":"relation","relation":"oneToMany","target":"api::article.article"},
        "avatar":{"type":"media"}}}"#;

    const COMMENT: &str = r#"{"info":{"singularName":"comment","pluralName":"comments"},
      "attributes":{"text":{"type":"text"}}}"#;

    const SEO: &str = r#"{"attributes":{"metaTitle":{"type":"string"},"image":{"type":"media"},
      "author":{"type":"relation","relation":"oneToOne","target":"api::author.author"}}}"#;

    const QUOTE: &str = r#"{"attributes":{"text":{"type":"text"},
      "by":{"type":"relation","relation":"oneToOne","target":"api::author.author"}}}"#;

    const ARTICLE_UID: &str = "api::article.article";

    fn schemas() -> Schemas {
        let mut s = Schemas::new();
        for (uid, text) in [
            (ARTICLE_UID, ARTICLE),
            ("api::author.author", AUTHOR),
            ("api::comment.comment", COMMENT),
        ] {
            s.add_content_type(uid, ContentType::parse(uid, uid, text).unwrap())
                .unwrap();
        }
        for (uid, text) in [("shared.seo", SEO), ("shared.quote", QUOTE)] {
            s.add_component(uid, Component::parse(uid, uid, text).unwrap())
                .unwrap();
        }
        s.validate().unwrap();
        s
    }

    fn sample() -> Value {
        json!({
            "id": 1,
            "documentId": "art1",
            "title": "Hello",
            "publishedAt": "2025-01-01T00:00:00.000Z",
            "extra": {"author": {"id": 9}},
            "author": {"id": 2, "documentId": "au2", "name": "Ann",
                       "avatar": {"id": 7, "url": "/a.png"},
                       "articles": [{"id": 1, "title": "Hello"}]},
            "comments": [{"id": 5, "text": "hi"}, {"id": 6, "text": "yo"}],
            "related": [{"id": 3, "__type": "api::comment.comment"}],
            "cover": null,
            "gallery": [{"id": 8, "url": "/b.png"}],
            "seo": {"id": 11, "metaTitle": "M", "image": {"id": 12, "url": "/c.png"}, "author": null},
            "seos": [{"id": 13, "metaTitle": "N", "author": {"id": 2, "name": "Ann"}}],
            "blocks": [
                {"__component": "shared.quote", "id": 14, "text": "q", "by": {"id": 2, "name": "Ann"}},
                {"__component": "shared.seo", "id": 15, "metaTitle": "S", "image": null}
            ]
        })
    }

    #[test]
    fn v5_wraps_the_entry_unchanged() {
        let s = schemas();
        let out = to_wire(Format::V5, &s, ARTICLE_UID, sample());
        assert_eq!(out, json!({"data": sample(), "meta": {}}));
        let out = to_wire(Format::V5, &s, "api::nope.nope", json!({"id": 1}));
        assert_eq!(out, json!({"data": {"id": 1}, "meta": {}}));
    }

    #[test]
    fn v4_transforms_relations_media_components_and_zones() {
        let s = schemas();
        let out = to_wire(Format::V4, &s, ARTICLE_UID, sample());
        let expected = json!({
            "data": {
                "id": 1,
                "attributes": {
                    "documentId": "art1",
                    "title": "Hello",
                    "publishedAt": "2025-01-01T00:00:00.000Z",
                    "extra": {"author": {"id": 9}},
                    "author": {"data": {"id": 2, "attributes": {
                        "documentId": "au2",
                        "name": "Ann",
                        "avatar": {"data": {"id": 7, "attributes": {"url": "/a.png"}}},
                        "articles": {"data": [{"id": 1, "attributes": {"title": "Hello"}}]}
                    }}},
                    "comments": {"data": [
                        {"id": 5, "attributes": {"text": "hi"}},
                        {"id": 6, "attributes": {"text": "yo"}}
                    ]},
                    "related": {"data": [{"id": 3, "attributes": {"__type": "api::comment.comment"}}]},
                    "cover": {"data": null},
                    "gallery": {"data": [{"id": 8, "attributes": {"url": "/b.png"}}]},
                    "seo": {"id": 11, "metaTitle": "M",
                            "image": {"data": {"id": 12, "attributes": {"url": "/c.png"}}},
                            "author": {"data": null}},
                    "seos": [{"id": 13, "metaTitle": "N",
                              "author": {"data": {"id": 2, "attributes": {"name": "Ann"}}}}],
                    "blocks": [
                        {"__component": "shared.quote", "id": 14, "text": "q",
                         "by": {"data": {"id": 2, "attributes": {"name": "Ann"}}}},
                        {"__component": "shared.seo", "id": 15, "metaTitle": "S", "image": {"data": null}}
                    ]
                }
            },
            "meta": {}
        });
        assert_eq!(out, expected);
    }

    #[test]
    fn v4_leaves_wrapped_relations_alone_and_wraps_bare_ids() {
        let s = schemas();
        let out = to_wire(
            Format::V4,
            &s,
            ARTICLE_UID,
            json!({
                "id": 1,
                "author": {"data": {"id": 2, "attributes": {"name": "Ann"}}},
                "comments": [5, "doc6"],
                "cover": 7,
                "seo": null,
                "blocks": null
            }),
        );
        assert_eq!(
            out,
            json!({"data": {"id": 1, "attributes": {
                "author": {"data": {"id": 2, "attributes": {"name": "Ann"}}},
                "comments": {"data": [{"id": 5, "attributes": {}}, {"id": "doc6", "attributes": {}}]},
                "cover": {"data": {"id": 7, "attributes": {}}},
                "seo": null,
                "blocks": null
            }}, "meta": {}})
        );
    }

    #[test]
    fn v4_unknown_uid_wraps_generically() {
        let s = schemas();
        let out = to_wire(
            Format::V4,
            &s,
            "api::nope.nope",
            json!({"id": 4, "documentId": "d", "author": {"id": 2}}),
        );
        assert_eq!(
            out,
            json!({"data": {"id": 4, "attributes": {"documentId": "d", "author": {"id": 2}}}, "meta": {}})
        );
        // No id: only attributes.
        let out = to_wire(Format::V4, &s, ARTICLE_UID, json!({"title": "T"}));
        assert_eq!(
            out,
            json!({"data": {"attributes": {"title": "T"}}, "meta": {}})
        );
        // Not an object: passed through.
        let out = to_wire(Format::V4, &s, ARTICLE_UID, Value::Null);
        assert_eq!(out, json!({"data": null, "meta": {}}));
    }

    #[test]
    fn v4_unknown_dynamic_zone_items_stay_plain() {
        let s = schemas();
        let out = to_wire(
            Format::V4,
            &s,
            ARTICLE_UID,
            json!({"id": 1, "blocks": [{"__component": "shared.nope", "by": {"id": 2}}, 3]}),
        );
        assert_eq!(
            out,
            json!({"data": {"id": 1, "attributes": {
                "blocks": [{"__component": "shared.nope", "by": {"id": 2}}, 3]
            }}, "meta": {}})
        );
    }

    #[test]
    fn v4_deep_values_do_not_overflow() {
        let s = schemas();
        let mut chain = json!({"id": 0});
        for i in 0..500 {
            chain = json!({"id": i, "articles": [{"id": i, "author": chain}]});
        }
        let out = to_wire(Format::V4, &s, "api::author.author", chain);
        assert!(
            out["data"]["attributes"]["articles"]["data"][0]["attributes"]["author"]["data"]
                .is_object()
        );
    }

    #[test]
    fn delete_carries_ids_only() {
        assert_eq!(
            delete_entry(&sample()),
            json!({"id": 1, "documentId": "art1"})
        );
        assert_eq!(
            delete_entry(&json!({"id": 3, "title": "x"})),
            json!({"id": 3})
        );
        assert_eq!(
            delete_entry(&json!({"documentId": "d", "secret": 1})),
            json!({"documentId": "d"})
        );
        assert_eq!(delete_entry(&json!({"title": "x"})), json!({}));
        assert_eq!(delete_entry(&json!(5)), json!({}));
    }
}
