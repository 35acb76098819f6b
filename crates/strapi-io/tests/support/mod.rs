//! Test fixture: the demo blog served by the library on 127.0.0.1:0, with ready clients.

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod client;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use strapi_io::core::Settings;
use strapi_io::{Io, IoBuilder, StaticDirectory, StaticDirectoryConfig, load_schemas};

pub use client::Client;

pub const JWT_SECRET: &str = "demo-jwt-secret";
pub const SALT: &str = "demo-api-token-salt";

/// The demo directory: Public, Authenticated, Editor; users editor(1), reader(2),
/// banned(3); tokens dashboard (read-only) and comments-only (custom).
pub fn demo_directory() -> StaticDirectoryConfig {
    let crud = |uid: &str| {
        ["find", "findOne", "create", "update", "delete"]
            .iter()
            .map(|a| format!("{uid}.{a}"))
            .collect::<Vec<_>>()
    };
    let read = |uid: &str| vec![format!("{uid}.find"), format!("{uid}.findOne")];
    let article = "api::article.article";
    let comment = "api::comment.comment";
    let author = "api::author.author";
    serde_json::from_value(json!({
        "roles": [
            {"name": "Public", "type": "public", "permissions": ([read(article), read(comment)].concat())},
            {"name": "Authenticated", "type": "authenticated", "permissions": ([read(article), read(comment), read(author)].concat())},
            {"name": "Editor", "type": "editor", "permissions": ([crud(article), crud(comment), crud(author)].concat())},
        ],
        "users": [
            {"id": 1, "username": "editor", "email": "editor@example.com", "role": "editor"},
            {"id": 2, "username": "reader", "email": "reader@example.com", "role": "authenticated"},
            {"id": 3, "username": "banned", "email": "banned@example.com", "role": "authenticated", "blocked": true},
        ],
        "apiTokens": [
            {"name": "dashboard", "type": "read-only", "accessKey": strapi_io::core::auth::hash_api_token("demo-token-dashboard", SALT)},
            {"name": "comments-only", "type": "custom", "permissions": read(comment), "accessKey": strapi_io::core::auth::hash_api_token("demo-token-comments-only", SALT)},
        ],
        "entities": {
            "api::article.article": [1, 2, 3, "article-1", "article-2", "article-3"],
            "api::author.author": [1, 2],
            "api::comment.comment": [1, 2, 3],
        }
    }))
    .unwrap()
}

/// Demo settings: private rooms on, namespace `/admin` with requireAuth.
pub fn demo_settings() -> Settings {
    serde_json::from_value(json!({
        "rooms": {"enablePrivateRooms": true},
        "namespaces": {"enabled": true, "list": {"admin": {"requireAuth": true}, "chat": {}}},
        "rolePermissions": {
            "public": {"contentTypes": {
                "api::article.article": {"create": true, "update": true, "delete": true},
                "api::comment.comment": {"create": true}
            }},
            "authenticated": {"contentTypes": {
                "api::author.author": {"create": false, "update": false, "delete": false}
            }}
        }
    }))
    .unwrap()
}

/// A running server.
pub struct TestServer {
    pub addr: String,
    pub io: Io,
}

pub fn blog_src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/blog/src")
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(demo_settings()).await
    }

    pub async fn start_with(settings: Settings) -> TestServer {
        Self::start_built(settings, |b| b).await
    }

    /// With `more` applied to the builder (hooks, content types) before it builds.
    pub async fn start_built(
        settings: Settings,
        more: impl FnOnce(IoBuilder) -> IoBuilder,
    ) -> TestServer {
        let schemas = load_schemas(&blog_src()).expect("demo schemas");
        let directory = StaticDirectory::new(&demo_directory(), JWT_SECRET, SALT).unwrap();
        let (layer, io) = more(
            IoBuilder::new(schemas)
                .settings(settings)
                .directory(Arc::new(directory)),
        )
        .build()
        .unwrap();
        let app = axum::Router::new().layer(layer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let serving = io.clone();
        tokio::spawn(async move {
            serving
                .serve(listener, app, std::future::pending())
                .await
                .unwrap();
        });
        TestServer { addr, io }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs HS256 claims.
pub fn sign(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A legacy-form JWT `{id, iat, exp}` for a user.
pub fn jwt(user_id: u64) -> String {
    sign(
        json!({"id": user_id, "iat": now(), "exp": now() + 600}),
        JWT_SECRET,
    )
}

/// A refresh-mode access token `{userId, sessionId, type, iat, exp}`.
pub fn access_jwt(user_id: u64) -> String {
    sign(
        json!({"userId": user_id.to_string(), "sessionId": "s1", "type": "access", "iat": now(), "exp": now() + 600}),
        JWT_SECRET,
    )
}

/// An article with everything a sanitizer must deal with.
pub fn article(id: u64, document_id: &str) -> Value {
    json!({
        "id": id,
        "documentId": document_id,
        "title": "Hello",
        "body": "text",
        "internalNotes": "do not leak",
        "publishedAt": "2026-11-26T00:00:00.000Z",
        "author": {"id": 1, "documentId": "author-1", "name": "Ada", "email": "ada@example.com", "password": "x"},
        "comments": [{"id": 1, "text": "Nice"}],
        "seo": {"id": 4, "metaTitle": "T", "metaSecret": "S"},
        "createdBy": {"id": 1, "email": "admin@example.com"},
        "apiKey": "k"
    })
}
