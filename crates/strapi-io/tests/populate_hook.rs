#![allow(missing_docs)]
//! The populate hook in the emit pipeline: called only for events that go out, after the
//! emit checks, and what it returns is sanitized for each audience.

mod support;

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use strapi_io::core::ContentType;
use strapi_io::{EmitOptions, Populate, PopulateFuture};
use support::{Client, TestServer, demo_settings, jwt};

const ARTICLE: &str = "api::article.article";

/// Adds an author (with a password) and a private note to every entry, and remembers each
/// call as `(uid, action, documentId)`.
#[derive(Default)]
struct AddAuthor {
    calls: Mutex<Vec<(String, String, Value)>>,
}

impl AddAuthor {
    fn calls(&self) -> Vec<(String, String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Populate for AddAuthor {
    fn populate<'a>(
        &'a self,
        ct: &'a ContentType,
        action: &'a str,
        mut entry: Map<String, Value>,
    ) -> PopulateFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                ct.uid.clone(),
                action.to_string(),
                entry.get("documentId").cloned().unwrap_or(Value::Null),
            ));
            entry.insert(
                "author".into(),
                json!({"id": 1, "documentId": "author-1", "name": "Ada", "password": "x"}),
            );
            entry.insert("internalNotes".into(), json!("from the hook"));
            entry
        })
    }
}

fn bare(document_id: &str) -> Value {
    json!({"id": 1, "documentId": document_id, "title": "Hello", "author": 1,
           "publishedAt": "2026-11-26T00:00:00.000Z"})
}

#[tokio::test]
async fn the_hook_completes_entries_that_go_out_before_they_are_sanitized() {
    let hook = Arc::new(AddAuthor::default());
    let installed = hook.clone();
    let server = TestServer::start_built(demo_settings(), move |b| b.populate(installed)).await;
    let mut public = Client::public(&server.addr).await;
    let mut reader = Client::jwt(&server.addr, &jwt(2)).await;

    let report = server
        .io
        .emit(EmitOptions::new("create", ARTICLE, bare("article-1")))
        .await
        .unwrap();
    assert_eq!(report.event.as_deref(), Some("article:create"));
    assert_eq!(
        hook.calls(),
        vec![(
            ARTICLE.to_string(),
            "create".to_string(),
            json!("article-1")
        )]
    );
    let r = reader.recv("article:create").await;
    assert_eq!(r["data"]["author"]["name"], "Ada", "the hook's entry: {r}");
    assert!(r["data"]["author"].get("password").is_none(), "{r}");
    assert!(r["data"].get("internalNotes").is_none(), "{r}");
    let p = public.recv("article:create").await;
    assert_eq!(p["data"]["title"], "Hello");
    assert!(
        p["data"].get("author").is_none(),
        "public may not read authors: {p}"
    );
}

#[tokio::test]
async fn events_that_do_not_go_out_are_never_populated() {
    let hook = Arc::new(AddAuthor::default());
    let installed = hook.clone();
    let server = TestServer::start_built(demo_settings(), move |b| b.populate(installed)).await;
    let io = &server.io;
    let emit = |event: &str, schema: Value, data: Value| {
        io.emit(EmitOptions {
            meta: Default::default(),
            event: event.into(),
            schema,
            data,
        })
    };
    // Sent, but a delete has no entry left to complete.
    let report = emit("delete", json!(ARTICLE), bare("article-1"))
        .await
        .unwrap();
    assert_eq!(report.event.as_deref(), Some("article:delete"));
    // Skipped by the emit checks.
    for (event, data) in [("create", Value::Null), ("archive", bare("article-1"))] {
        let report = emit(event, json!(ARTICLE), data).await.unwrap();
        assert!(report.skipped.is_some(), "{event}: {report:?}");
    }
    // Refused.
    assert!(
        emit("create", json!("api::nope.nope"), bare("x"))
            .await
            .is_err()
    );
    assert!(emit("disconnect", json!(ARTICLE), bare("x")).await.is_err());
    // Sent, but not an entry the hook can complete.
    let report = emit("create", json!(ARTICLE), json!([1])).await.unwrap();
    assert_eq!(report.event.as_deref(), Some("article:create"));
    // A draft under onlyPublished, then everything off.
    let mut settings = demo_settings();
    settings.events.only_published = true;
    io.apply_settings(settings.clone()).unwrap();
    let mut draft = bare("article-2");
    draft["publishedAt"] = Value::Null;
    let report = emit("update", json!(ARTICLE), draft).await.unwrap();
    assert!(report.skipped.is_some(), "{report:?}");
    settings.enabled = false;
    io.apply_settings(settings).unwrap();
    let report = emit("update", json!(ARTICLE), bare("article-3"))
        .await
        .unwrap();
    assert!(report.skipped.is_some(), "{report:?}");
    assert!(hook.calls().is_empty(), "{:?}", hook.calls());

    // The same entry on a live event, by schema object.
    io.apply_settings(demo_settings()).unwrap();
    let report = emit(
        "update",
        json!({"singularName": "article"}),
        bare("article-3"),
    )
    .await
    .unwrap();
    assert_eq!(report.event.as_deref(), Some("article:update"));
    assert_eq!(
        hook.calls(),
        vec![(
            ARTICLE.to_string(),
            "update".to_string(),
            json!("article-3")
        )]
    );
}

/// Returns every entry as a draft, as the refetch of an `unpublish` does.
struct AsDraft;

impl Populate for AsDraft {
    fn populate<'a>(
        &'a self,
        _: &'a ContentType,
        _: &'a str,
        mut entry: Map<String, Value>,
    ) -> PopulateFuture<'a> {
        entry.insert("publishedAt".into(), Value::Null);
        Box::pin(std::future::ready(entry))
    }
}

#[tokio::test]
async fn under_only_published_an_entry_populated_into_a_draft_is_not_sent() {
    let server = TestServer::start_built(demo_settings(), |b| b.populate(Arc::new(AsDraft))).await;
    let emit = || {
        server
            .io
            .emit(EmitOptions::new("update", ARTICLE, bare("article-1")))
    };
    let report = emit().await.unwrap();
    assert_eq!(
        report.event.as_deref(),
        Some("article:update"),
        "{report:?}"
    );
    let mut settings = demo_settings();
    settings.events.only_published = true;
    server.io.apply_settings(settings).unwrap();
    let report = emit().await.unwrap();
    assert_eq!(report.event, None);
    assert_eq!(
        report.skipped,
        Some("draft entry while onlyPublished is on"),
        "{report:?}"
    );
}
