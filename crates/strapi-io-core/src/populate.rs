//! The `populate` option of a content type (SPEC §3 "Populate"), without the HTTP: reading
//! and checking it against the schemas, deciding whether an entry handed to `emit` lacks what
//! it asks for, the query of the refetch in Strapi's `qs` style, reading Strapi's answer, and
//! merging it into the entry. The refetch itself is the gateway's (`strapi-io-server`).
//!
//! When an entry "lacks" its populate:
//! - a list (`["author", "comments"]`, or `"author,comments"`): when a listed key is absent
//!   or holds a bare reference — an id, a documentId, an object with nothing but `id` and
//!   `documentId`, a write instruction (`connect`, `disconnect`, `set`), a Content Manager
//!   `{count: N}`, or an array with any of these. `null` and `[]` are populated (an empty
//!   relation). A dotted name (`author.avatar`) always refetches: its depth is not checked;
//! - `"*"`: the same test on every relation, media, component and dynamic zone of the schema
//!   that is not private;
//! - a populate object (`{author: {fields: ["name"]}}`): always, since depth, fields and
//!   filters cannot be checked on the entry.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::events::ContentTypeEntry;
use crate::schema::{Attribute, ContentType, Schemas};
use crate::settings::SettingsProblem;

/// What a content type asks to populate.
#[derive(Debug, Clone, PartialEq)]
pub enum PopulateSpec {
    /// `"*"`: every relation, media, component and dynamic zone, one level deep.
    All,
    /// Attribute names (`["author", "comments"]` or `"author,comments"`); a dotted name
    /// (`author.avatar`) reaches deeper.
    List(Vec<String>),
    /// Strapi's populate object (`{author: {fields: ["name"]}}`), sent as it is.
    Object(Map<String, Value>),
}

impl PopulateSpec {
    /// Reads a `populate` value: `"*"`, a list of names (array or comma-separated string),
    /// or a non-empty object. Anything else is refused with the reason.
    pub fn parse(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) if s.trim() == "*" => Ok(PopulateSpec::All),
            Value::String(s) => names(s.split(',').map(str::trim)),
            Value::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => list.push(s.trim()),
                        other => {
                            return Err(format!(
                                "expected attribute names, found {}",
                                kind_of(other)
                            ));
                        }
                    }
                }
                names(list.into_iter())
            }
            Value::Object(m) if m.is_empty() => {
                Err("an empty object populates nothing: remove it".into())
            }
            Value::Object(m) => Ok(PopulateSpec::Object(m.clone())),
            other => Err(format!(
                "expected \"*\", a list of attribute names or a Strapi populate object, found {}",
                kind_of(other)
            )),
        }
    }

    /// Checks the names it populates against the content type: each must be a relation,
    /// media, component or dynamic zone that is not private (Strapi's REST API never returns
    /// those). Only the first segment of a dotted name and the top-level keys of an object
    /// are checked.
    pub fn check(&self, ct: &ContentType) -> Result<(), String> {
        let names: Vec<&str> = match self {
            PopulateSpec::All => return Ok(()),
            PopulateSpec::List(list) => list.iter().map(|n| head(n)).collect(),
            PopulateSpec::Object(m) => m.keys().map(String::as_str).collect(),
        };
        for name in names {
            match ct.attributes.get(name) {
                None => return Err(format!("`{name}` is not an attribute of {}", ct.uid)),
                Some(a) if !populatable(a) => {
                    return Err(format!(
                        "`{name}` of {} is not a relation, media, component or dynamic zone",
                        ct.uid
                    ));
                }
                Some(a) if a.is_hidden() => {
                    return Err(format!(
                        "`{name}` of {} is private: Strapi's REST API never returns it",
                        ct.uid
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Whether `entry` lacks what this asks for, so that it must be refetched (see the
    /// module docs for the exact rule).
    pub fn lacks(&self, ct: &ContentType, entry: &Map<String, Value>) -> bool {
        match self {
            PopulateSpec::Object(_) => true,
            PopulateSpec::List(list) => list
                .iter()
                .any(|n| n.contains('.') || unpopulated(entry.get(n.as_str()))),
            PopulateSpec::All => ct
                .attributes
                .iter()
                .filter(|(_, a)| populatable(a) && !a.is_hidden())
                .any(|(n, _)| unpopulated(entry.get(n.as_str()))),
        }
    }

    /// The `populate` query pairs: `populate=*`, `populate[0]=author&…`, or the object
    /// flattened by [`encode_qs`].
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match self {
            PopulateSpec::All => out.push(("populate".into(), "*".into())),
            PopulateSpec::List(list) => {
                for (i, name) in list.iter().enumerate() {
                    out.push((format!("populate[{i}]"), name.clone()));
                }
            }
            PopulateSpec::Object(m) => encode_qs("populate", &Value::Object(m.clone()), &mut out),
        }
        out
    }
}

fn names<'a>(items: impl Iterator<Item = &'a str>) -> Result<PopulateSpec, String> {
    let mut list: Vec<String> = Vec::new();
    for name in items {
        if name == "*" {
            return Err("\"*\" must stand alone: populate = \"*\"".into());
        }
        if name.is_empty() || name.split('.').any(str::is_empty) {
            return Err(format!("`{name}` is not an attribute name"));
        }
        if !list.iter().any(|n| n == name) {
            list.push(name.to_string());
        }
    }
    if list.is_empty() {
        return Err("an empty list populates nothing: remove it".into());
    }
    Ok(PopulateSpec::List(list))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn head(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

fn populatable(a: &Attribute) -> bool {
    matches!(
        a,
        Attribute::Relation { .. }
            | Attribute::Media { .. }
            | Attribute::Component { .. }
            | Attribute::DynamicZone { .. }
    )
}

/// Absent, or a bare reference instead of the related data.
fn unpopulated(value: Option<&Value>) -> bool {
    value.is_none_or(is_reference)
}

fn is_reference(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
        Value::Array(items) => items.iter().any(is_reference),
        Value::Object(m) => {
            m.is_empty()
                || m.keys().all(|k| k == "id" || k == "documentId")
                // the Content Manager's `{count: N}` of an unpopulated relation
                || (m.len() == 1 && m.contains_key("count"))
                || ["connect", "disconnect", "set"]
                    .iter()
                    .any(|k| m.contains_key(*k))
        }
    }
}

/// Flattens `value` into `qs`-style pairs under `key`, as Strapi's query parser reads them:
/// object members as `key[name]`, array items as `key[0]`, `key[1]`, …, scalars as their
/// text. `null`, `[]` and `{}` add nothing (as `qs.stringify` with `skipNulls`).
pub fn encode_qs(key: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((key.to_string(), b.to_string())),
        Value::Number(n) => out.push((key.to_string(), n.to_string())),
        Value::String(s) => out.push((key.to_string(), s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                encode_qs(&format!("{key}[{i}]"), item, out);
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                encode_qs(&format!("{key}[{k}]"), v, out);
            }
        }
    }
}

/// `k=v&…`, form-encoded: brackets become `%5B`/`%5D` (which `qs` decodes), spaces `+`.
pub fn query_string(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The populate of every listed content type, checked against the schemas (a uid the
/// schemas do not know is left to the runtime's builder to report). Each problem names its
/// entry: `contentTypes[i].populate: …`.
pub fn targets(
    entries: Option<&[ContentTypeEntry]>,
    schemas: &Schemas,
) -> Result<HashMap<String, PopulateSpec>, Vec<SettingsProblem>> {
    let mut out = HashMap::new();
    let mut problems = Vec::new();
    for (i, entry) in entries.unwrap_or_default().iter().enumerate() {
        let ContentTypeEntry::Detailed(o) = entry else {
            continue;
        };
        let Some(value) = &o.populate else { continue };
        let checked = PopulateSpec::parse(value).and_then(|spec| {
            match schemas.content_type(&o.uid) {
                Some(ct) => spec.check(ct)?,
                None => return Ok(None),
            }
            Ok(Some(spec))
        });
        match checked {
            Ok(Some(spec)) => {
                out.insert(o.uid.clone(), spec);
            }
            Ok(None) => {}
            Err(e) => problems.push(SettingsProblem {
                path: format!("contentTypes[{i}].populate"),
                message: e.to_string(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// A draft, as the emit gate sees it: `publishedAt` absent or `null`.
pub fn is_draft(entry: &Map<String, Value>) -> bool {
    entry.get("publishedAt").is_none_or(Value::is_null)
}

/// The entry's `documentId`, when it has a non-empty one.
pub fn document_id(entry: &Map<String, Value>) -> Option<&str> {
    entry
        .get("documentId")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
}

/// The query of the refetch of an `action` event's entry: the populate pairs, then the
/// `status` of a draft-and-publish type — the entry's own (`publishedAt` null or absent:
/// `draft`), except for `unpublish`, whose entry is the published row just removed: the
/// draft is what is left — then the entry's `locale`, if any.
pub fn refetch_query(
    ct: &ContentType,
    action: &str,
    spec: &PopulateSpec,
    entry: &Map<String, Value>,
) -> Vec<(String, String)> {
    let mut pairs = spec.query_pairs();
    if ct.draft_and_publish {
        let status = if action == "unpublish" || is_draft(entry) {
            "draft"
        } else {
            "published"
        };
        pairs.push(("status".into(), status.into()));
    }
    if let Some(locale) = entry
        .get("locale")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
    {
        pairs.push(("locale".into(), locale.into()));
    }
    pairs
}

/// The query that reads a document's published row (no populate): `status=published`, then
/// `locale` when given.
pub fn published_query(locale: Option<&str>) -> Vec<(String, String)> {
    let mut pairs = vec![("status".to_string(), "published".to_string())];
    if let Some(locale) = locale {
        pairs.push(("locale".into(), locale.into()));
    }
    pairs
}

/// The `data` object of a Strapi 5 `findOne` answer; otherwise what the answer is instead
/// (`"not JSON"`, `"not a JSON object"`, `"without a \`data\` object"`, or Strapi 4's shape).
pub fn document_of(body: &[u8]) -> Result<Map<String, Value>, &'static str> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Err("not JSON");
    };
    let Value::Object(mut top) = value else {
        return Err("not a JSON object");
    };
    match top.remove("data") {
        Some(Value::Object(data)) => {
            if data.get("attributes").is_some_and(Value::is_object)
                && !data.contains_key("documentId")
            {
                return Err("in Strapi 4's {id, attributes} format, not Strapi 5's");
            }
            Ok(data)
        }
        _ => Err("without a `data` object"),
    }
}

/// The refetched entry, with the entry's own `id` and `documentId` (they address the event)
/// and every key of the entry that Strapi's answer does not have.
pub fn merge(entry: Map<String, Value>, mut fetched: Map<String, Value>) -> Map<String, Value> {
    for (key, value) in entry {
        if (key == "id" || key == "documentId") && !value.is_null() {
            fetched.insert(key, value);
        } else {
            fetched.entry(key).or_insert(value);
        }
    }
    fetched
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The demo blog's schemas (`examples/blog`).
    fn schemas() -> Schemas {
        let mut s = Schemas::new();
        for (uid, text) in [
            (
                "api::article.article",
                include_str!(
                    "../../../examples/blog/src/api/article/content-types/article/schema.json"
                ),
            ),
            (
                "api::author.author",
                include_str!(
                    "../../../examples/blog/src/api/author/content-types/author/schema.json"
                ),
            ),
            (
                "api::comment.comment",
                include_str!(
                    "../../../examples/blog/src/api/comment/content-types/comment/schema.json"
                ),
            ),
        ] {
            s.add_content_type(uid, ContentType::parse(uid, uid, text).unwrap())
                .unwrap();
        }
        let seo = include_str!("../../../examples/blog/src/components/shared/seo.json");
        s.add_component(
            "shared.seo",
            crate::schema::Component::parse("shared.seo", "shared.seo", seo).unwrap(),
        )
        .unwrap();
        s.validate().unwrap();
        s
    }

    fn article() -> ContentType {
        schemas()
            .content_type("api::article.article")
            .unwrap()
            .clone()
    }

    fn entry(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn pairs(spec: &PopulateSpec) -> Vec<(String, String)> {
        spec.query_pairs()
    }

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // ---------------------------------------------------------------- qs encoding

    #[test]
    fn star_and_lists_encode_as_strapi_reads_them() {
        assert_eq!(pairs(&PopulateSpec::All), owned(&[("populate", "*")]));
        let list = PopulateSpec::parse(&json!(["author", "comments"])).unwrap();
        assert_eq!(
            pairs(&list),
            owned(&[("populate[0]", "author"), ("populate[1]", "comments")])
        );
        assert_eq!(
            query_string(&pairs(&list)),
            "populate%5B0%5D=author&populate%5B1%5D=comments"
        );
        assert_eq!(query_string(&pairs(&PopulateSpec::All)), "populate=*");
    }

    #[test]
    fn objects_encode_nested_with_brackets() {
        let spec = PopulateSpec::parse(&json!({
            "author": {"fields": ["name", "email"], "populate": {"avatar": true}},
            "comments": {"filters": {"text": {"$contains": "a b&c"}}, "limit": 5, "sort": null},
            "seo": {"fields": []},
        }))
        .unwrap();
        assert_eq!(
            pairs(&spec),
            owned(&[
                ("populate[author][fields][0]", "name"),
                ("populate[author][fields][1]", "email"),
                ("populate[author][populate][avatar]", "true"),
                ("populate[comments][filters][text][$contains]", "a b&c"),
                ("populate[comments][limit]", "5"),
            ])
        );
        let q = query_string(&pairs(&spec));
        assert!(
            q.contains("populate%5Bcomments%5D%5Bfilters%5D%5Btext%5D%5B%24contains%5D=a+b%26c"),
            "{q}"
        );
        assert!(
            q.starts_with("populate%5Bauthor%5D%5Bfields%5D%5B0%5D=name&"),
            "{q}"
        );
    }

    #[test]
    fn encoder_skips_nulls_and_empty_containers() {
        let mut out = Vec::new();
        encode_qs("p", &json!(null), &mut out);
        encode_qs("p", &json!([]), &mut out);
        encode_qs("p", &json!({}), &mut out);
        assert!(out.is_empty());
        encode_qs("p", &json!([[1, 2.5], {"x": false}]), &mut out);
        assert_eq!(
            out,
            owned(&[("p[0][0]", "1"), ("p[0][1]", "2.5"), ("p[1][x]", "false")])
        );
    }

    #[test]
    fn the_refetch_query_carries_the_entrys_status_and_locale() {
        let a = article();
        let spec = PopulateSpec::parse(&json!(["author"])).unwrap();
        let q = |action: &str, e: Value| query_string(&refetch_query(&a, action, &spec, &entry(e)));
        assert_eq!(
            q("create", json!({"publishedAt": null})),
            "populate%5B0%5D=author&status=draft"
        );
        assert_eq!(
            q(
                "create",
                json!({"publishedAt": "2026-01-01T00:00:00Z", "locale": "fr"})
            ),
            "populate%5B0%5D=author&status=published&locale=fr"
        );
        assert_eq!(
            q("unpublish", json!({"publishedAt": "2026-01-01T00:00:00Z"})),
            "populate%5B0%5D=author&status=draft",
            "an unpublish leaves the draft"
        );
        let s = schemas();
        let author = s.content_type("api::author.author").unwrap();
        assert_eq!(
            query_string(&refetch_query(
                author,
                "create",
                &PopulateSpec::All,
                &entry(json!({"locale": ""}))
            )),
            "populate=*",
            "no status without draft & publish, no empty locale"
        );
        assert_eq!(
            query_string(&published_query(Some("fr"))),
            "status=published&locale=fr"
        );
        assert_eq!(query_string(&published_query(None)), "status=published");
    }

    // ---------------------------------------------------------------- parsing, checking

    #[test]
    fn parse_accepts_the_three_forms() {
        assert_eq!(PopulateSpec::parse(&json!("*")).unwrap(), PopulateSpec::All);
        assert_eq!(
            PopulateSpec::parse(&json!(" author , comments,author")).unwrap(),
            PopulateSpec::List(vec!["author".into(), "comments".into()])
        );
        assert_eq!(
            PopulateSpec::parse(&json!(["author.avatar"])).unwrap(),
            PopulateSpec::List(vec!["author.avatar".into()])
        );
        assert!(matches!(
            PopulateSpec::parse(&json!({"author": true})).unwrap(),
            PopulateSpec::Object(_)
        ));
    }

    #[test]
    fn parse_refuses_what_populates_nothing_or_is_not_populate() {
        for (value, needle) in [
            (json!([]), "empty list"),
            (json!(""), "not an attribute name"),
            (json!("author,,comments"), "not an attribute name"),
            (json!(["author."]), "not an attribute name"),
            (json!(["*", "author"]), "must stand alone"),
            (json!([1]), "found a number"),
            (json!({}), "empty object"),
            (json!(true), "found a boolean"),
            (json!(3), "found a number"),
            (json!(null), "found null"),
        ] {
            let err = PopulateSpec::parse(&value).unwrap_err();
            assert!(err.contains(needle), "{value}: {err}");
        }
    }

    #[test]
    fn check_wants_public_relations_media_components_and_zones() {
        let a = article();
        for ok in [
            json!("*"),
            json!(["author", "comments", "seo"]),
            json!(["author.articles"]),
            json!({"author": {"fields": ["name"]}}),
        ] {
            PopulateSpec::parse(&ok).unwrap().check(&a).unwrap();
        }
        let err = PopulateSpec::parse(&json!(["autor"]))
            .unwrap()
            .check(&a)
            .unwrap_err();
        assert_eq!(err, "`autor` is not an attribute of api::article.article");
        let err = PopulateSpec::parse(&json!({"title": true}))
            .unwrap()
            .check(&a)
            .unwrap_err();
        assert!(err.contains("not a relation, media"), "{err}");
        let mut private = a.clone();
        private.attributes.insert(
            "owner".into(),
            Attribute::Relation {
                target: Some("api::author.author".into()),
                private: true,
            },
        );
        let err = PopulateSpec::parse(&json!(["owner"]))
            .unwrap()
            .check(&private)
            .unwrap_err();
        assert!(err.contains("is private"), "{err}");
    }

    #[test]
    fn targets_are_checked_and_named_by_their_entry() {
        let s = schemas();
        let entries: Vec<ContentTypeEntry> = serde_json::from_value(json!([
            "api::comment.comment",
            {"uid": "api::article.article", "populate": ["author"]},
            {"uid": "api::author.author", "populate": "*"},
            {"uid": "api::unknown.unknown", "populate": ["x"]},
            {"uid": "api::comment.comment", "actions": ["create"]},
        ]))
        .unwrap();
        let found = targets(Some(&entries), &s).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found["api::author.author"], PopulateSpec::All);
        assert!(targets(None, &s).unwrap().is_empty());
        let bad: Vec<ContentTypeEntry> = serde_json::from_value(json!([
            "api::comment.comment",
            {"uid": "api::article.article", "populate": ["title"]},
            {"uid": "api::author.author", "populate": 7},
        ]))
        .unwrap();
        let problems = targets(Some(&bad), &s).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].to_string().starts_with(
                "contentTypes[1].populate: `title` of api::article.article is not a relation"
            ),
            "{}",
            problems[0]
        );
        assert_eq!(problems[1].path, "contentTypes[2].populate");
        assert!(
            problems[1].message.starts_with("expected"),
            "{}",
            problems[1]
        );
    }

    // ---------------------------------------------------------------- lacks

    #[test]
    fn a_list_lacks_absent_keys_and_bare_references() {
        let a = article();
        let spec = PopulateSpec::parse(&json!(["author", "comments"])).unwrap();
        let author = json!({"id": 1, "documentId": "a1", "name": "Ada"});
        let complete = |author: Value, comments: Value| {
            !spec.lacks(
                &a,
                &entry(json!({"id": 1, "author": author, "comments": comments})),
            )
        };
        assert!(complete(author.clone(), json!([])));
        assert!(complete(Value::Null, json!([{"id": 3, "text": "hi"}])));
        assert!(!complete(json!(1), json!([])), "a bare id");
        assert!(!complete(json!("a1"), json!([])), "a bare documentId");
        assert!(!complete(json!({"id": 1}), json!([])), "an {{id}} object");
        assert!(!complete(json!({"id": 1, "documentId": "a1"}), json!([])));
        assert!(!complete(json!({}), json!([])));
        assert!(
            !complete(json!({"connect": [1]}), json!([])),
            "a write shape"
        );
        assert!(!complete(json!({"set": []}), json!([])));
        assert!(
            !complete(json!({"count": 1}), json!([])),
            "the Content Manager's count"
        );
        assert!(!complete(author.clone(), json!([1, 2])), "ids in a list");
        assert!(!complete(
            author.clone(),
            json!([{"id": 3, "text": "x"}, 4])
        ));
        assert!(
            spec.lacks(&a, &entry(json!({"id": 1, "comments": []}))),
            "absent"
        );
        let dotted = PopulateSpec::parse(&json!(["author.articles"])).unwrap();
        assert!(
            dotted.lacks(&a, &entry(json!({"author": author}))),
            "depth unknown"
        );
    }

    #[test]
    fn star_lacks_any_public_relation_media_component_or_zone() {
        let a = article();
        let full = json!({"id": 1, "title": "t", "author": null, "comments": [], "seo": null});
        assert!(!PopulateSpec::All.lacks(&a, &entry(full.clone())));
        for key in ["author", "comments", "seo"] {
            let mut e = entry(full.clone());
            e.remove(key);
            assert!(PopulateSpec::All.lacks(&a, &e), "{key} absent");
        }
        let mut e = entry(full);
        e.insert("seo".into(), json!(4));
        assert!(PopulateSpec::All.lacks(&a, &e), "bare component id");
        // Scalars, private ones included, are not populate's business.
        let mut private = a.clone();
        private.attributes.insert(
            "owner".into(),
            Attribute::Relation {
                target: None,
                private: true,
            },
        );
        assert!(!PopulateSpec::All.lacks(
            &private,
            &entry(json!({"author": null, "comments": [], "seo": null}))
        ));
    }

    #[test]
    fn an_object_always_lacks() {
        let spec = PopulateSpec::parse(&json!({"author": {"fields": ["name"]}})).unwrap();
        assert!(spec.lacks(
            &article(),
            &entry(json!({"author": {"id": 1, "name": "Ada"}}))
        ));
    }

    // ---------------------------------------------------------------- answers, merging

    #[test]
    fn only_a_strapi_5_document_is_an_answer() {
        let doc = document_of(br#"{"data": {"documentId": "d", "title": "t"}, "meta": {}}"#);
        assert_eq!(doc.unwrap()["title"], "t");
        assert_eq!(document_of(b"<html>").unwrap_err(), "not JSON");
        assert_eq!(document_of(b"[1, 2]").unwrap_err(), "not a JSON object");
        assert_eq!(
            document_of(br#"{"data": [], "meta": {}}"#).unwrap_err(),
            "without a `data` object"
        );
        assert_eq!(
            document_of(br#"{"meta": {}}"#).unwrap_err(),
            "without a `data` object"
        );
        assert!(
            document_of(br#"{"data": {"id": 2, "attributes": {"title": "t"}}}"#)
                .unwrap_err()
                .contains("Strapi 4")
        );
    }

    #[test]
    fn a_merge_keeps_the_entrys_ids_and_its_extra_keys() {
        let merged = merge(
            entry(
                json!({"id": 7, "documentId": "d", "title": "Mine", "note": "kept", "locale": null}),
            ),
            entry(json!({"id": 2, "documentId": "d", "title": "Theirs", "locale": "en"})),
        );
        assert_eq!(
            Value::Object(merged),
            json!({"id": 7, "documentId": "d", "title": "Theirs", "note": "kept", "locale": "en"})
        );
        let merged = merge(entry(json!({"id": null})), entry(json!({"id": 2})));
        assert_eq!(merged["id"], 2, "a null id does not win");
        assert!(is_draft(&entry(json!({"publishedAt": null}))));
        assert!(is_draft(&entry(json!({}))));
        assert!(!is_draft(&entry(json!({"publishedAt": "2026-01-01"}))));
        assert_eq!(document_id(&entry(json!({"documentId": ""}))), None);
        assert_eq!(document_id(&entry(json!({"documentId": "d"}))), Some("d"));
    }
}
