//! The emit hot path without I/O: sanitize an article for one audience and serialize the
//! wire payload, per audience kind; and the same with many unrelated content types loaded,
//! to show the cost does not grow with them.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use strapi_io_core::format::to_wire;
use strapi_io_core::sanitize::{Sanitizer, SensitiveFields};
use strapi_io_core::schema::{Component, ContentType, Schemas};
use strapi_io_core::settings::Format;
use strapi_io_core::{Audience, TokenType};

const ARTICLE: &str =
    include_str!("../../../examples/blog/src/api/article/content-types/article/schema.json");
const AUTHOR: &str =
    include_str!("../../../examples/blog/src/api/author/content-types/author/schema.json");
const COMMENT: &str =
    include_str!("../../../examples/blog/src/api/comment/content-types/comment/schema.json");
const SEO: &str = include_str!("../../../examples/blog/src/components/shared/seo.json");

fn schemas(extra_types: usize) -> Schemas {
    let mut s = Schemas::new();
    for (uid, text) in [
        ("api::article.article", ARTICLE),
        ("api::author.author", AUTHOR),
        ("api::comment.comment", COMMENT),
    ] {
        s.add_content_type(uid, ContentType::parse(uid, uid, text).unwrap())
            .unwrap();
    }
    for i in 0..extra_types {
        let uid = format!("api::extra{i}.extra{i}");
        let text = json!({"info": {"singularName": format!("extra{i}")},
            "attributes": {"name": {"type": "string"}, "secret": {"type": "string", "private": true}}})
        .to_string();
        s.add_content_type(&uid, ContentType::parse(&uid, &uid, &text).unwrap())
            .unwrap();
    }
    s.add_component(
        "shared.seo",
        Component::parse("shared.seo", "seo", SEO).unwrap(),
    )
    .unwrap();
    s
}

fn article() -> Value {
    json!({
        "id": 42, "documentId": "k2l3m4n5o6p7q8r9s0t1u2v3",
        "title": "Realtime content with Strapi", "body": "x".repeat(1500),
        "internalNotes": "editor only", "publishedAt": "2026-11-26T00:00:00.000Z",
        "createdAt": "2026-11-25T10:00:00.000Z", "updatedAt": "2026-11-26T00:00:00.000Z",
        "createdBy": {"id": 1, "email": "admin@example.com"},
        "author": {"id": 1, "documentId": "a1", "name": "Ada Lovelace", "email": "ada@example.com",
                   "articles": [{"id": 42}, {"id": 43}]},
        "comments": (0..10).map(|i| json!({"id": i, "documentId": format!("c{i}"), "text": "Great article!"})).collect::<Vec<_>>(),
        "seo": {"id": 7, "metaTitle": "Realtime", "metaSecret": "s"}
    })
}

fn audiences() -> Vec<(&'static str, Audience)> {
    let read = |uids: &[&str]| -> Vec<String> {
        uids.iter()
            .flat_map(|u| [format!("{u}.find"), format!("{u}.findOne")])
            .collect()
    };
    vec![
        (
            "public",
            Audience::role(
                "Public",
                "public",
                read(&["api::article.article", "api::comment.comment"]),
            ),
        ),
        (
            "authenticated",
            Audience::role(
                "Authenticated",
                "authenticated",
                read(&[
                    "api::article.article",
                    "api::comment.comment",
                    "api::author.author",
                ]),
            ),
        ),
        (
            "read-only token",
            Audience::api_token("dashboard", TokenType::ReadOnly, []),
        ),
        (
            "custom token",
            Audience::api_token(
                "comments",
                TokenType::Custom,
                read(&["api::comment.comment"]),
            ),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let entry = article();
    let sensitive = SensitiveFields::new(&[]);
    for extra in [0usize, 200] {
        let schemas = schemas(extra);
        let sanitizer = Sanitizer {
            schemas: &schemas,
            sensitive: &sensitive,
            exclude_fields: &[],
        };
        let mut group =
            c.benchmark_group(format!("sanitize+serialize ({} content types)", 3 + extra));
        for (name, audience) in audiences() {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let clean = sanitizer.entry("api::article.article", &entry, &audience);
                    let wire = to_wire(Format::V5, &schemas, "api::article.article", clean);
                    serde_json::to_vec(&wire).unwrap()
                })
            });
        }
        group.finish();
    }
    let schemas = schemas(0);
    let sanitizer = Sanitizer {
        schemas: &schemas,
        sensitive: &sensitive,
        exclude_fields: &[],
    };
    let all = audiences();
    let mut group = c.benchmark_group("one event, every audience");
    for n in [4usize, 16] {
        let list: Vec<&Audience> = all.iter().map(|(_, a)| a).cycle().take(n).collect();
        group.bench_function(format!("{n} audiences"), |b| {
            b.iter(|| {
                list.iter()
                    .map(|a| {
                        let clean = sanitizer.entry("api::article.article", &entry, a);
                        serde_json::to_vec(&to_wire(
                            Format::V5,
                            &schemas,
                            "api::article.article",
                            clean,
                        ))
                        .unwrap()
                        .len()
                    })
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
