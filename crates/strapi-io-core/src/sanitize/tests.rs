//! The sanitizer's tests: fixed cases per rule, and properties over random entries.

use super::*;
use crate::audience::TokenType;
use crate::schema::{Component, ContentType};
use proptest::prelude::*;
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

mod entries {
    //! proptest strategies for Strapi-shaped entries of the test schemas: random subsets of
    //! each schema's keys (and a few undeclared or sensitive ones), relations in every shape
    //! Strapi sends, components and dynamic zones.

    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::GENERIC_KEYS;

    /// Deepest nesting generated; below it only schema-less values.
    const MAX_DEPTH: u32 = 6;

    /// A schema-less value: scalars, generic keys, objects and arrays of them.
    pub(super) fn generic_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            (0u64..100).prop_map(|n| json!(n)),
            prop::sample::select(&GENERIC_KEYS[..]).prop_map(|k| json!(k)),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                2 => prop::collection::vec((prop::sample::select(&GENERIC_KEYS[..]), inner.clone()), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
                1 => prop::collection::vec(inner, 0..3).prop_map(Value::Array),
            ]
        })
    }

    /// What an object stands for.
    #[derive(Clone, Copy, Debug)]
    pub(super) enum Kind {
        Article,
        Author,
        Comment,
        Seo,
        Quote,
        /// No schema (the `ghost` target, media): only harmless and sensitive keys.
        Unknown,
    }

    impl Kind {
        fn keys(self) -> &'static [&'static str] {
            match self {
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
            }
        }
    }

    /// An object of `kind` with a random subset of its keys, each with a value of its shape
    /// (or, one time in eight, any schema-less value).
    pub(super) fn object(kind: Kind, depth: u32) -> BoxedStrategy<Value> {
        let field = prop::sample::select(kind.keys())
            .prop_flat_map(move |k| (Just(k), field_value(k, kind, depth + 1)));
        prop::collection::vec(field, 0..8)
            .prop_map(|fields| {
                Value::Object(
                    fields
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            })
            .boxed()
    }

    /// The value of key `k` in an object of `kind`.
    fn field_value(k: &'static str, kind: Kind, depth: u32) -> BoxedStrategy<Value> {
        if depth > MAX_DEPTH {
            return generic_value().boxed();
        }
        let shaped = match k {
            "author" => relation(Kind::Author, depth),
            "comments" => relation(Kind::Comment, depth),
            "articles" | "article" | "related" => relation(Kind::Article, depth),
            "ghost" | "cover" | "gallery" => relation(Kind::Unknown, depth),
            "seo" => object(Kind::Seo, depth),
            "seos" => prop::collection::vec(object(Kind::Seo, depth), 0..3)
                .prop_map(Value::Array)
                .boxed(),
            "blocks" => prop::collection::vec(block(depth), 0..4)
                .prop_map(Value::Array)
                .boxed(),
            "attributes" => object(kind, depth),
            _ => Just(json!(k)).boxed(),
        };
        prop_oneof![1 => generic_value().boxed(), 7 => shaped].boxed()
    }

    /// A dynamic-zone item: a known, an undeclared or an unknown component, its
    /// `__component` key sometimes missing.
    fn block(depth: u32) -> BoxedStrategy<Value> {
        (
            prop::sample::select(
                &[
                    ("shared.seo", Kind::Seo),
                    ("shared.quote", Kind::Quote),
                    ("shared.other", Kind::Quote),
                    ("shared.unknown", Kind::Seo),
                ][..],
            ),
            any::<bool>(),
        )
            .prop_flat_map(move |((uid, kind), tagged)| {
                object(kind, depth).prop_map(move |mut item| {
                    if let (Value::Object(m), true) = (&mut item, tagged) {
                        m.insert("__component".into(), json!(uid));
                    }
                    item
                })
            })
            .boxed()
    }

    /// A relation value in any of its shapes: null, an id, `{count}`, `{data}`, a list or
    /// one object. Built lazily, so that the recursion stops at [`MAX_DEPTH`].
    pub(super) fn relation(kind: Kind, depth: u32) -> BoxedStrategy<Value> {
        if depth > MAX_DEPTH {
            return generic_value().boxed();
        }
        (0u8..7)
            .prop_flat_map(move |shape| match shape {
                0 => Just(Value::Null).boxed(),
                1 => (0u64..50).prop_map(|n| json!(n)).boxed(),
                2 => (0u64..9).prop_map(|n| json!({ "count": n })).boxed(),
                3 => relation(kind, depth + 1)
                    .prop_map(|r| json!({ "data": r }))
                    .boxed(),
                4 => prop::collection::vec(object(kind, depth + 1), 0..3)
                    .prop_map(Value::Array)
                    .boxed(),
                _ => object(kind, depth + 1),
            })
            .boxed()
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

/// Keys no audience may see, whatever the entry.
const NEVER: [&str; 12] = [
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

/// Keys only the article-only audience may not see (it cannot read authors, comments or
/// media).
const NOT_FOR_ARTICLES_ONLY: [&str; 6] =
    ["author", "comments", "cover", "gallery", "name", "articles"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    /// Random entries, with private attributes, sensitive keys and unreadable relations at
    /// any depth, never reach an audience with a key it may not see.
    #[test]
    fn random_entries_never_leak_private_keys(
        mut entry in entries::object(entries::Kind::Article, 0),
        plant in any::<bool>(),
    ) {
        if let (Value::Object(m), true) = (&mut entry, plant) {
            m.insert("internalNotes".into(), json!("n"));
            m.insert("seo".into(), json!({"metaTitle": "t", "metaSecret": "s"}));
            m.insert(
                "author".into(),
                json!({"id": 1, "email": "e", "name": "n", "articles": [{"internalNotes": "x"}]}),
            );
        }
        let (s, sensitive) = (schemas(), SensitiveFields::default());
        let sanitizer = default_sanitizer(&s, &sensitive);
        for (audience, forbidden) in [(articles_only(), &NOT_FOR_ARTICLES_ONLY[..]), (reader(), &[][..])] {
            let out = sanitizer.entry(ARTICLE_UID, &entry, &audience);
            let mut found = Vec::new();
            keys(&out, &mut found);
            for k in NEVER.iter().chain(forbidden) {
                prop_assert!(!found.iter().any(|f| f == k), "{k} leaked to {}: {entry} -> {out}", audience.name);
            }
        }
    }

    /// Schema-less values (media, unknown targets) lose their sensitive keys at any depth.
    #[test]
    fn schema_less_values_lose_sensitive_keys(value in entries::generic_value()) {
        let (s, sensitive) = (schemas(), SensitiveFields::default());
        let sanitizer = default_sanitizer(&s, &sensitive);
        let entry = json!({"id": 1, "title": "t", "cover": value});
        let out = sanitizer.entry(ARTICLE_UID, &entry, &reader());
        let mut found = Vec::new();
        keys(&out, &mut found);
        for k in ["password", "apiKey", "createdBy"] {
            prop_assert!(!found.iter().any(|f| f == k), "{k} leaked: {entry} -> {out}");
        }
    }
}

/// The strategies do reach readable nested relations: the reader sees an author's name,
/// so the property above exercises the recursion, not only the top level.
#[test]
fn the_reader_sees_a_readable_nested_relation() {
    let (s, sensitive) = (schemas(), SensitiveFields::default());
    let sanitizer = default_sanitizer(&s, &sensitive);
    let entry = json!({"id": 1, "author": {"data": {"id": 2, "name": "n", "email": "e"}}});
    let out = sanitizer.entry(ARTICLE_UID, &entry, &reader());
    let mut found = Vec::new();
    keys(&out, &mut found);
    assert!(found.iter().any(|k| k == "name"), "{out}");
    assert!(!found.iter().any(|k| k == "email"), "{out}");
}
