//! The populate client against a fake Strapi (a local HTTP server), and as the runtime's
//! hook.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use strapi_io::core::Settings;
use strapi_io::core::events::ContentTypeEntry;
use strapi_io::core::populate::PopulateSpec;
use strapi_io::core::schema::{ContentType, Schemas};
use strapi_io::core::settings::SettingsProblem;
use strapi_io::{EmitOptions, IoBuilder, Populate, PopulateFuture};

use super::client::Failure;
use super::{MAX_CONCURRENCY, MAX_TIMEOUT_MS, Options, Populator, check};

/// The snapshot of populate counters with no published-relation reads.
fn populate_counts(refetched: usize, skipped: usize, failed: usize) -> Value {
    json!({
        "refetched": refetched, "skipped": skipped, "failed": failed,
        "publishedRelations": {"swapped": 0, "kept": 0, "failed": 0},
    })
}

/// The demo blog's schemas (`examples/blog`, the embedded default).
fn schemas() -> Schemas {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/blog/src");
    strapi_io::load_schemas(&src).unwrap()
}

fn article() -> ContentType {
    schemas()
        .content_type("api::article.article")
        .unwrap()
        .clone()
}

fn author() -> ContentType {
    schemas()
        .content_type("api::author.author")
        .unwrap()
        .clone()
}

fn entry(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

impl Populator {
    /// [`Populator::populate_entry`] on a JSON entry, as the tests write them.
    async fn populate_value(&self, ct: &ContentType, action: &str, entry: Value) -> Value {
        let Value::Object(map) = entry else {
            panic!("not an entry: {entry}");
        };
        Value::Object(self.populate_entry(ct, action, map).await)
    }
}

// ---------------------------------------------------------------- the strapi section

fn content_types() -> Vec<ContentTypeEntry> {
    serde_json::from_value(json!([
        {"uid": "api::article.article", "populate": ["author"]},
        "api::comment.comment",
    ]))
    .unwrap()
}

/// The section's defaults: nothing set, default bounds.
/// Each problem as the `path: message` line `check` prints.
fn lines(problems: Vec<SettingsProblem>) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

fn defaults() -> Options<'static> {
    Options {
        url: None,
        token: None,
        timeout_ms: super::DEFAULT_TIMEOUT_MS,
        concurrency: super::DEFAULT_CONCURRENCY,
    }
}

#[test]
fn config_check_reports_every_problem_with_its_path() {
    let s = schemas();
    let listed = content_types();
    check(&defaults(), Some(&listed), &s).unwrap();
    let mut c = Options {
        url: Some("http://127.0.0.1:1337/"),
        token: Some("t"),
        ..defaults()
    };
    check(&c, Some(&listed), &s).unwrap();
    // Blank counts as unset.
    let blank = Options {
        url: Some("  "),
        token: Some(""),
        ..defaults()
    };
    check(&blank, Some(&listed), &s).unwrap();
    c.url = Some("https://strapi.example");
    c.token = Some("bad\ntoken");
    c.timeout_ms = 0;
    c.concurrency = MAX_CONCURRENCY + 1;
    let bad: Vec<ContentTypeEntry> = serde_json::from_value(json!([
        "api::comment.comment",
        {"uid": "api::article.article", "populate": ["title"]},
        {"uid": "api::author.author", "populate": 7},
        {"uid": "api::unknown.unknown", "populate": ["x"]},
    ]))
    .unwrap();
    let problems = lines(check(&c, Some(&bad), &s).unwrap_err());
    assert_eq!(problems.len(), 6, "{problems:#?}");
    for (i, start) in [
        "strapi.url: `https://strapi.example`: only http://",
        "strapi.token: ",
        "strapi.populateTimeoutMs: 0 ",
        "strapi.populateConcurrency: 1025 ",
        "contentTypes[1].populate: `title` of api::article.article is not a relation",
        "contentTypes[2].populate: expected",
    ]
    .iter()
    .enumerate()
    {
        assert!(problems[i].starts_with(start), "{}", problems[i]);
    }
    assert!(!problems.join(" ").contains("bad\ntoken"));
    c = Options {
        url: Some("not a url"),
        timeout_ms: MAX_TIMEOUT_MS + 1,
        concurrency: 0,
        ..defaults()
    };
    let problems = lines(check(&c, Some(&listed), &s).unwrap_err());
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("strapi.url: `not a url` is not a URL"));
}

// ---------------------------------------------------------------- against a fake Strapi

/// What the fake Strapi saw.
#[derive(Default)]
pub(crate) struct Seen {
    requests: Mutex<Vec<(String, String, Option<String>)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Seen {
    /// Every request: (path, query, `Authorization`).
    pub(crate) fn requests(&self) -> Vec<(String, String, Option<String>)> {
        self.requests.lock().unwrap().clone()
    }
}

fn found(document_id: &str, published: bool) -> Value {
    json!({"data": {
        "id": 2,
        "documentId": document_id,
        "title": "Hello Strapi",
        "publishedAt": if published { json!("2026-11-25T23:35:45.689Z") } else { Value::Null },
        "author": {"id": 1, "documentId": "xg9myu30sc547noh5y1v0prc", "name": "Ada Lovelace"},
        "comments": [],
        "seo": {"id": 2, "metaTitle": "Hello SEO"},
    }, "meta": {}})
}

async fn answer(seen: Arc<Seen>, uri: Uri, headers: HeaderMap) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    seen.requests.lock().unwrap().push((
        uri.path().to_string(),
        uri.query().unwrap_or_default().to_string(),
        auth,
    ));
    let doc = uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let published = uri.query().is_some_and(|q| q.contains("status=published"));
    let json = |v: Value| (StatusCode::OK, axum::Json(v)).into_response();
    match doc.as_str() {
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json(found(&doc, published))
        }
        d if d.starts_with("burst") => {
            let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            seen.in_flight.fetch_sub(1, Ordering::SeqCst);
            json(found(&doc, published))
        }
        "e500" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"data": null, "error": {"status": 500}})),
        )
            .into_response(),
        "redirect" => (StatusCode::FOUND, [(header::LOCATION, "/api/articles/ok")]).into_response(),
        "notjson" => (StatusCode::OK, "<html>").into_response(),
        "list" => json(json!({"data": [], "meta": {}})),
        "nodata" => json(json!({"meta": {}})),
        "scalar" => json(json!([1, 2])),
        "v4" => json(json!({"data": {"id": 2, "attributes": {"title": "t"}}})),
        "other" => json(found("someone-else", published)),
        "big" => json(json!({"data": {"documentId": "big", "body": "x".repeat(4096)}})),
        _ => json(found(&doc, published)),
    }
}

/// A fake Strapi REST API on 127.0.0.1: its base URL and what it sees. A document named
/// `slow`, `e500`, `notjson`… answers that way; any other is found.
pub(crate) async fn fake_strapi() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let s = s.clone();
        async move { answer(s, uri, headers).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn populator(url: Option<&str>, timeout_ms: u64, concurrency: usize) -> Populator {
    let options = Options {
        url,
        token: Some("strapi-secret"),
        timeout_ms,
        concurrency,
    };
    let entries: Vec<ContentTypeEntry> = serde_json::from_value(json!([
        {"uid": "api::article.article", "populate": ["author", "comments", "seo"]},
        {"uid": "api::author.author", "populate": "*"},
        "api::comment.comment",
    ]))
    .unwrap();
    Populator::new(&options, Some(&entries), &schemas()).unwrap()
}

fn counts(p: &Populator) -> Value {
    p.counters().snapshot()
}

#[tokio::test]
async fn a_lacking_entry_is_refetched_with_populate_status_and_token() {
    let (url, seen) = fake_strapi().await;
    let p = populator(Some(&format!("{url}/")), 3_000, 4);
    let out = p
        .populate_value(
            &article(),
            "create",
            json!({"id": 7, "documentId": "doc-1", "title": "Mine", "publishedAt": null,
                   "internalNotes": "kept for the sanitizer", "author": 1}),
        )
        .await;
    assert_eq!(out["id"], 7, "the entry's own id");
    assert_eq!(out["documentId"], "doc-1");
    assert_eq!(out["title"], "Hello Strapi", "Strapi's answer wins");
    assert_eq!(out["author"]["name"], "Ada Lovelace");
    assert_eq!(out["seo"]["metaTitle"], "Hello SEO");
    assert_eq!(out["internalNotes"], "kept for the sanitizer");
    assert_eq!(
        seen.requests(),
        vec![(
            "/api/articles/doc-1".to_string(),
            "populate%5B0%5D=author&populate%5B1%5D=comments&populate%5B2%5D=seo&status=draft"
                .to_string(),
            Some("Bearer strapi-secret".to_string()),
        )]
    );
    p.populate_value(&article(), "create",
        json!({"id": 8, "documentId": "doc-2", "publishedAt": "2026-01-01T00:00:00Z", "locale": "fr"}),
    )
    .await;
    let (_, query, _) = seen.requests().pop().unwrap();
    assert!(query.ends_with("&status=published&locale=fr"), "{query}");
    // An unpublish carries the published row just removed: the draft is what is left.
    p.populate_value(
        &article(),
        "unpublish",
        json!({"id": 9, "documentId": "doc-3", "publishedAt": "2026-01-01T00:00:00Z"}),
    )
    .await;
    let (_, query, _) = seen.requests().pop().unwrap();
    assert!(query.ends_with("&status=draft"), "{query}");
    // Not draft-and-publish: no status.
    let out = p
        .populate_value(
            &author(),
            "create",
            json!({"id": 1, "documentId": "au-1", "name": "Ada"}),
        )
        .await;
    assert_eq!(out["title"], "Hello Strapi");
    let (path, query, _) = seen.requests().pop().unwrap();
    assert_eq!(
        (path.as_str(), query.as_str()),
        ("/api/authors/au-1", "populate=*")
    );
    assert_eq!(counts(&p), populate_counts(4, 0, 0));
}

#[tokio::test]
async fn a_complete_entry_is_not_refetched() {
    let (url, seen) = fake_strapi().await;
    let p = populator(Some(&url), 3_000, 4);
    let e = json!({"id": 7, "documentId": "doc-1", "author": {"id": 1, "name": "Ada"},
                   "comments": [], "seo": null});
    assert_eq!(p.populate_value(&article(), "create", e.clone()).await, e);
    assert!(seen.requests().is_empty());
    // Even without a Strapi to ask.
    let offline = populator(None, 3_000, 4);
    assert_eq!(
        offline
            .populate_value(&article(), "create", e.clone())
            .await,
        e
    );
    assert_eq!(counts(&p), populate_counts(0, 1, 0));
    assert_eq!(counts(&offline), populate_counts(0, 1, 0));
}

#[tokio::test]
async fn every_failure_sends_the_entry_unpopulated_and_counts_it() {
    let (url, _seen) = fake_strapi().await;
    let mut p = populator(Some(&url), 300, 4);
    Arc::get_mut(&mut p.inner).unwrap().max_body = 1_000;
    let a = article();
    let spec = PopulateSpec::parse(&json!(["author"])).unwrap();
    type Expected = fn(&Failure) -> bool;
    let cases: Vec<(&str, Expected)> = vec![
        ("slow", |f| matches!(f, Failure::Timeout(300))),
        ("e500", |f| matches!(f, Failure::Status(500))),
        ("redirect", |f| matches!(f, Failure::Status(302))),
        ("notjson", |f| matches!(f, Failure::Shape("not JSON"))),
        ("scalar", |f| {
            matches!(f, Failure::Shape("not a JSON object"))
        }),
        ("list", |f| {
            matches!(f, Failure::Shape("without a `data` object"))
        }),
        ("nodata", |f| {
            matches!(f, Failure::Shape("without a `data` object"))
        }),
        (
            "v4",
            |f| matches!(f, Failure::Shape(s) if s.contains("Strapi 4")),
        ),
        (
            "other",
            |f| matches!(f, Failure::OtherDocument(d) if d == "someone-else"),
        ),
        ("big", |f| matches!(f, Failure::TooLarge(1_000))),
    ];
    for (doc, expected) in &cases {
        let e = json!({"id": 1, "documentId": doc, "title": "Mine"});
        let failure = p
            .refetch(&a, "create", &spec, &entry(e.clone()))
            .await
            .unwrap_err();
        assert!(expected(&failure), "{doc}: {failure}");
        assert_eq!(p.populate_value(&a, "create", e.clone()).await, e, "{doc}");
    }
    let no_id = json!({"id": 1, "title": "Mine"});
    assert!(matches!(
        p.refetch(&a, "create", &spec, &entry(no_id.clone())).await,
        Err(Failure::NoDocumentId)
    ));
    assert_eq!(p.populate_value(&a, "create", no_id.clone()).await, no_id);
    let offline = populator(None, 300, 4);
    assert!(matches!(
        offline
            .refetch(&a, "create", &spec, &entry(json!({"documentId": "d"})))
            .await,
        Err(Failure::NoUrl)
    ));
    assert_eq!(
        offline
            .populate_value(&a, "create", json!({"documentId": "d"}))
            .await,
        json!({"documentId": "d"})
    );
    assert_eq!(counts(&p), populate_counts(0, 0, cases.len() + 1));
    assert_eq!(counts(&offline)["failed"], 1);
}

#[tokio::test]
async fn a_strapi_that_is_down_is_a_failure_naming_the_cause() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = populator(Some(&format!("http://user:pw@127.0.0.1:{port}")), 2_000, 4);
    let spec = PopulateSpec::parse(&json!(["author"])).unwrap();
    let failure = p
        .refetch(
            &article(),
            "create",
            &spec,
            &entry(json!({"documentId": "d"})),
        )
        .await
        .unwrap_err();
    let text = failure.to_string();
    assert!(matches!(failure, Failure::Unreachable(_)), "{text}");
    assert!(!text.contains("pw"), "no credentials in the reason: {text}");
    let e = json!({"documentId": "d", "title": "x"});
    assert_eq!(p.populate_value(&article(), "create", e.clone()).await, e);
    assert_eq!(counts(&p)["failed"], 1);
}

#[tokio::test]
async fn single_types_and_path_prefixes() {
    let (url, seen) = fake_strapi().await;
    let mut p = populator(Some(&format!("{url}/cms")), 3_000, 4);
    let home = ContentType::parse(
        "api::homepage.homepage",
        "test",
        r#"{"kind": "singleType", "info": {"singularName": "homepage", "pluralName": "homepages"},
            "attributes": {"hero": {"type": "media"}}}"#,
    )
    .unwrap();
    Arc::get_mut(&mut p.inner)
        .unwrap()
        .targets
        .insert(home.uid.clone(), PopulateSpec::All);
    let out = p.populate_value(&home, "create", json!({"id": 1})).await;
    assert_eq!(out["id"], 1);
    let (path, query, _) = seen.requests().pop().unwrap();
    assert_eq!(
        (path.as_str(), query.as_str()),
        ("/cms/api/homepage", "populate=*")
    );
    // A documentId with URL syntax stays one path segment.
    p.populate_value(&article(), "create", json!({"documentId": "a/b?c"}))
        .await;
    let (path, _, _) = seen.requests().pop().unwrap();
    assert_eq!(path, "/cms/api/articles/a%2Fb%3Fc");
}

#[tokio::test]
async fn no_more_than_the_concurrency_bound_in_flight() {
    let (url, seen) = fake_strapi().await;
    let p = populator(Some(&url), 5_000, 2);
    let a = article();
    let runs = (0..6).map(|i| {
        p.populate_value(
            &a,
            "create",
            json!({"id": i, "documentId": format!("burst-{i}")}),
        )
    });
    let outs = futures_join(runs).await;
    assert!(outs.iter().all(|o| o["author"]["name"] == "Ada Lovelace"));
    assert_eq!(seen.max_in_flight.load(Ordering::SeqCst), 2);
    assert_eq!(counts(&p)["refetched"], 6);
}

/// Runs futures concurrently on this task (no extra dependency).
async fn futures_join<F: std::future::Future<Output = Value>>(
    futures: impl Iterator<Item = F>,
) -> Vec<Value> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out = vec![Value::Null; set.len()];
    let mut done = vec![false; set.len()];
    std::future::poll_fn(|cx| {
        for (i, f) in set.iter_mut().enumerate() {
            if !done[i]
                && let std::task::Poll::Ready(v) = f.as_mut().poll(cx)
            {
                out[i] = v;
                done[i] = true;
            }
        }
        if done.iter().all(|d| *d) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out
}

/// The populator as the runtime's hook, remembering every entry it hands back.
struct Recorded {
    populator: Populator,
    out: Mutex<Vec<Value>>,
}

impl Populate for Recorded {
    fn populate<'a>(
        &'a self,
        ct: &'a ContentType,
        action: &'a str,
        entry: Map<String, Value>,
    ) -> PopulateFuture<'a> {
        Box::pin(async move {
            let out = self.populator.populate_entry(ct, action, entry).await;
            self.out.lock().unwrap().push(Value::Object(out.clone()));
            out
        })
    }
}

#[tokio::test]
async fn populate_leaves_alone_the_events_that_will_not_go_out() {
    let (url, seen) = fake_strapi().await;
    let p = populator(Some(&url), 3_000, 4);
    let hook = Arc::new(Recorded {
        populator: p.clone(),
        out: Mutex::default(),
    });
    let build = |settings: Settings| {
        let entries: Vec<ContentTypeEntry> = serde_json::from_value(json!([
            {"uid": "api::article.article", "populate": ["author"]},
            "api::comment.comment",
        ]))
        .unwrap();
        IoBuilder::new(schemas())
            .settings(settings)
            .content_types(entries)
            .populate(hook.clone())
            .build()
            .unwrap()
            .1
    };
    let io = build(Settings::default());
    let lacking = json!({"id": 1, "documentId": "doc-1", "publishedAt": null});
    for (event, schema, data, sent) in [
        (
            "delete",
            json!("api::article.article"),
            lacking.clone(),
            true,
        ),
        (
            "publish",
            json!("api::article.article"),
            lacking.clone(),
            false,
        ),
        (
            "create",
            json!("api::comment.comment"),
            lacking.clone(),
            true,
        ),
        ("create", json!("api::article.article"), json!(null), false),
        ("create", json!("api::article.article"), json!([1]), true),
    ] {
        let o = EmitOptions {
            meta: Default::default(),
            event: event.into(),
            schema: schema.clone(),
            data: data.clone(),
        };
        let report = io.emit(o).await.unwrap();
        assert_eq!(report.event.is_some(), sent, "{event} {schema}: {report:?}");
    }
    let unknown = EmitOptions::new("create", "api::nope.nope", lacking.clone());
    assert!(io.emit(unknown).await.is_err());
    // Not a populate target: handed back as it came.
    assert_eq!(*hook.out.lock().unwrap(), vec![lacking.clone()]);
    let off = Settings {
        enabled: false,
        ..Settings::default()
    };
    let mut only_published = Settings::default();
    only_published.events.only_published = true;
    for io in [build(off), build(only_published)] {
        let o = EmitOptions::new("create", "api::article.article", lacking.clone());
        assert!(io.emit(o).await.unwrap().skipped.is_some());
    }
    assert!(seen.requests().is_empty());
    assert_eq!(counts(&p), populate_counts(0, 0, 0));
    // The same entry on a live event, by uid or by schema object.
    let o = EmitOptions {
        meta: Default::default(),
        event: "update".into(),
        schema: json!({"singularName": "article"}),
        data: lacking.clone(),
    };
    assert_eq!(
        io.emit(o).await.unwrap().event.as_deref(),
        Some("article:update")
    );
    let out = hook.out.lock().unwrap().last().cloned().unwrap();
    assert_eq!(out["author"]["name"], "Ada Lovelace");
    assert_eq!(seen.requests().len(), 1);
    assert_eq!(counts(&p)["refetched"], 1);
}

#[test]
fn debug_hides_the_token() {
    let p = populator(Some("http://127.0.0.1:1"), 3_000, 4);
    let text = format!("{p:?}");
    assert!(
        !text.contains("strapi-secret") && text.contains("***"),
        "{text}"
    );
}
