//! Every HTTP route in process ([`crate::app::router`] driven with `tower::ServiceExt::oneshot`,
//! no socket): each one's answer, and every way it refuses a request, with Strapi's error
//! shape. The webhook windows run on tokio's paused clock.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::app;
use crate::config::{self, Loaded};
use crate::state::AppState;

const ADMIN: &str = "demo-admin-token";
const HOOK: &str = "demo-webhook-token";
const ARTICLE: &str = "api::article.article";
const COMMENT: &str = "api::comment.comment";

/// Numbers the data directories of the gateways a test run builds.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The embedded demo's routes and state, with its own data directory (removed on drop).
struct Gateway {
    router: Router,
    state: AppState,
    dir: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The demo config (`examples/blog/strapi-io.toml`) changed by `edit`, built.
async fn gateway(edit: impl FnOnce(&mut Loaded)) -> Gateway {
    gateway_env(|_, _| None, edit).await
}

/// The config the environment `env` (given the data directory) sets, changed by `edit`,
/// built.
async fn gateway_env(
    env: impl Fn(&str, &std::path::Path) -> Option<String>,
    edit: impl FnOnce(&mut Loaded),
) -> Gateway {
    let dir = std::env::temp_dir().join(format!(
        "strapi-io-router-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.display().to_string();
    let env = |key: &str| match key {
        "STRAPI_IO_DATA_DIR" => Some(data.clone()),
        _ => env(key, &dir),
    };
    let mut loaded = config::load(None, &env).unwrap();
    edit(&mut loaded);
    let (state, _socket_io) = app::state(&loaded).await.unwrap();
    Gateway {
        router: app::router(state.clone()),
        state,
        dir,
    }
}

/// The demo as it is.
async fn demo() -> Gateway {
    gateway(|_| {}).await
}

/// A route's answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    /// `{data}` of a 200.
    fn data(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        self.json()["data"].clone()
    }
}

/// Sends one request: `token` as `Authorization: Bearer`, `headers` as they are.
async fn send(
    g: &Gateway,
    method: Method,
    uri: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = g
        .router
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// `POST uri` with the admin token and a JSON body.
async fn admin_post(g: &Gateway, uri: &str, body: Value) -> Answer {
    send(g, Method::POST, uri, Some(ADMIN), &[], body_of(&body)).await
}

/// `POST /api/io/raw` with the admin token, `headers` and a JSON body.
async fn raw_with(g: &Gateway, headers: &[(&str, &str)], body: Value) -> Answer {
    send(
        g,
        Method::POST,
        "/api/io/raw",
        Some(ADMIN),
        headers,
        body_of(&body),
    )
    .await
}

/// `GET uri` with the admin token.
async fn admin_get(g: &Gateway, uri: &str) -> Answer {
    send(g, Method::GET, uri, Some(ADMIN), &[], Body::empty()).await
}

/// `POST /api/io/<method>` with the admin token.
async fn rpc(g: &Gateway, method: &str, body: Value) -> Answer {
    admin_post(g, &format!("/api/io/{method}"), body).await
}

/// `POST /webhooks/strapi` with the webhook token; then lets the window task it may have
/// spawned start its clock.
async fn hook(g: &Gateway, body: Value) -> Answer {
    let a = send(
        g,
        Method::POST,
        "/webhooks/strapi",
        Some(HOOK),
        &[],
        body.to_string(),
    )
    .await;
    settle().await;
    a
}

/// Asserts Strapi's error shape, exactly.
#[track_caller]
fn assert_error(a: &Answer, status: u16, name: &str, message: &str) {
    assert_eq!(
        a.json(),
        json!({"data": null, "error": {"status": status, "name": name, "message": message, "details": {}}}),
        "{}",
        a.text
    );
    assert_eq!(a.status.as_u16(), status);
}

/// A 400 for a body that is not JSON.
#[track_caller]
fn assert_malformed(a: &Answer) {
    assert_error_starts(a, 400, "ValidationError", "Malformed JSON body: ");
}

/// Asserts Strapi's error shape, with a message starting with `start`.
#[track_caller]
fn assert_error_starts(a: &Answer, status: u16, name: &str, start: &str) {
    let body = a.json();
    assert_eq!(a.status.as_u16(), status, "{}", a.text);
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["error"]["status"], status);
    assert_eq!(body["error"]["name"], name);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with(start), "{message}");
}

const UNAUTHORIZED: &str = "Missing or invalid credentials";
const ADMIN_OFF: &str =
    "The admin API is off: set server.adminToken in the config or STRAPI_IO_ADMIN_TOKEN";
const HOOKS_OFF: &str = "Webhooks are off: set server.webhookToken in the config or STRAPI_IO_WEBHOOK_TOKEN, and send it as `Authorization: Bearer <token>` from Strapi";

/// Every admin route, with a body it would accept.
fn admin_routes() -> Vec<(Method, &'static str, Value)> {
    vec![
        (Method::GET, "/api/io/stats", Value::Null),
        (Method::GET, "/api/io/event-log", Value::Null),
        (Method::POST, "/api/io/test-event", json!({})),
        (Method::POST, "/api/io/reset-stats", Value::Null),
        (Method::GET, "/api/io/roles", Value::Null),
        (Method::GET, "/api/io/content-types", Value::Null),
        (Method::GET, "/api/io/monitoring/stats", Value::Null),
        (Method::GET, "/api/io/trends", Value::Null),
        (Method::GET, "/api/io/sockets", Value::Null),
        (Method::GET, "/api/io/rooms", Value::Null),
        (Method::GET, "/api/io/settings", Value::Null),
        (Method::PUT, "/api/io/settings", json!({})),
        (Method::POST, "/api/io/directory/invalidate", Value::Null),
        (Method::POST, "/api/io/emit", json!({})),
        (Method::POST, "/api/io/entryEvents", json!({"events": []})),
        (Method::POST, "/api/io/nope", json!({})),
    ]
}

fn body_of(v: &Value) -> Body {
    if v.is_null() {
        Body::empty()
    } else {
        Body::from(v.to_string())
    }
}

// ---------------------------------------------------------------- the admin token

#[tokio::test]
async fn every_admin_route_wants_the_admin_token() {
    let g = demo().await;
    for (method, uri, body) in admin_routes() {
        let bearer = format!("Bearer {ADMIN}");
        // No token, a wrong one, a prefix of the right one, the right one without the
        // scheme, the right one twice.
        type Way<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)]);
        let ways: [Way; 5] = [
            (None, &[]),
            (Some("wrong"), &[]),
            (Some(&ADMIN[1..]), &[]),
            (None, &[("authorization", ADMIN)]),
            (
                None,
                &[("authorization", &bearer), ("authorization", &bearer)],
            ),
        ];
        let mut refused = Vec::new();
        for (token, headers) in ways {
            refused.push(send(&g, method.clone(), uri, token, headers, body_of(&body)).await);
        }
        for a in &refused {
            assert_error(a, 401, "UnauthorizedError", UNAUTHORIZED);
        }
        // The token's scheme is case-insensitive.
        let a = send(
            &g,
            method.clone(),
            uri,
            None,
            &[("authorization", &format!("bearer {ADMIN}"))],
            body_of(&body),
        )
        .await;
        assert_ne!(a.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
    }
    // A refused request does nothing.
    assert_eq!(g.state.entry_events.snapshot()["rejected"], 0);
}

#[tokio::test]
async fn without_an_admin_token_the_admin_routes_are_off() {
    for off in [None, Some(String::new())] {
        let g = gateway(|l| l.gateway.admin_token = off.map(Into::into)).await;
        for (method, uri, body) in admin_routes() {
            for token in [None, Some(ADMIN), Some("")] {
                let a = send(&g, method.clone(), uri, token, &[], body_of(&body)).await;
                assert_error(&a, 503, "ServiceUnavailableError", ADMIN_OFF);
            }
        }
        // The public routes stay on.
        let a = send(&g, Method::GET, "/health", None, &[], Body::empty()).await;
        assert_eq!(a.status, StatusCode::OK);
    }
}

// ---------------------------------------------------------------- POST /api/io/<method>

#[tokio::test]
async fn every_method_answers_its_data() {
    let g = demo().await;
    let article = json!({"id": 1, "documentId": "article-1", "title": "Hello",
                         "publishedAt": "2026-11-26T00:00:00.000Z"});
    let calls = [
        (
            "emit",
            json!({"event": "create", "schema": ARTICLE, "data": article}),
            json!({"data": null}),
        ),
        (
            "raw",
            json!({"event": "news", "rooms": ["r"], "data": {"x": 1}}),
            json!({"data": null}),
        ),
        (
            "joinRoom",
            json!({"socketId": "nobody", "roomName": "r"}),
            json!({"data": false}),
        ),
        (
            "leaveRoom",
            json!({"socketId": "nobody", "roomName": "r"}),
            json!({"data": false}),
        ),
        (
            "getSocketsInRoom",
            json!({"roomName": "r"}),
            json!({"data": []}),
        ),
        (
            "sendPrivateMessage",
            json!({"socketId": "nobody", "event": "hi", "data": 1}),
            json!({"data": null}),
        ),
        (
            "broadcast",
            json!({"socketId": "nobody", "event": "hi"}),
            json!({"data": null}),
        ),
        (
            "emitToNamespace",
            json!({"namespace": "/", "event": "hi", "data": {}}),
            json!({"data": null}),
        ),
        (
            "disconnectSocket",
            json!({"socketId": "nobody", "reason": "bye"}),
            json!({"data": false}),
        ),
        (
            "emitToEntity",
            json!({"uid": ARTICLE, "id": 1, "event": "hi", "data": {}}),
            json!({"data": null}),
        ),
        (
            "getEntityRoomSockets",
            json!({"uid": ARTICLE, "id": "article-1"}),
            json!({"data": []}),
        ),
    ];
    for (method, body, expected) in calls {
        let a = rpc(&g, method, body).await;
        assert_eq!(a.status, StatusCode::OK, "{method}: {}", a.text);
        assert_eq!(a.json(), expected, "{method}");
    }
    for method in ["subscribeToEntity", "unsubscribeFromEntity"] {
        let a = rpc(
            &g,
            method,
            json!({"socketId": "nobody", "uid": ARTICLE, "id": 1}),
        )
        .await;
        assert_eq!(a.data()["success"], false, "{method}: {}", a.text);
    }
    let a = rpc(&g, "getEntitySubscriptions", json!({"socketId": "nobody"})).await;
    assert_eq!(a.data()["success"], false, "{}", a.text);
    // Every emit went through the Io.
    // What went out went through the Io (a private message to nobody is not sent).
    assert_eq!(
        g.state.io.event_stats().total,
        5,
        "emit, raw, broadcast, namespace, entity"
    );
}

#[tokio::test]
async fn an_empty_body_is_an_empty_object() {
    let g = demo().await;
    let a = send(&g, Method::POST, "/api/io/emit", Some(ADMIN), &[], "  ").await;
    assert_error(&a, 400, "ValidationError", "missing field `event`");
    let a = send(
        &g,
        Method::POST,
        "/api/io/getSocketsInRoom",
        Some(ADMIN),
        &[],
        Body::empty(),
    )
    .await;
    assert_error(&a, 400, "ValidationError", "missing field `roomName`");
}

#[tokio::test]
async fn the_rpc_route_refuses_what_it_cannot_run() {
    let g = gateway(|l| l.gateway.socket.max_http_buffer_size = 100).await;
    let limit = 100 + 64 * 1024;
    let raw_post =
        |body: &'static str| send(&g, Method::POST, "/api/io/emit", Some(ADMIN), &[], body);
    assert_malformed(&raw_post("{").await);
    assert_error(
        &raw_post("[1]").await,
        400,
        "ValidationError",
        "The body must be a JSON object",
    );
    let big = format!(
        "{{\"event\": \"create\", \"x\": \"{}\"}}",
        "x".repeat(limit)
    );
    let a = send(&g, Method::POST, "/api/io/emit", Some(ADMIN), &[], big).await;
    assert_error(
        &a,
        413,
        "PayloadTooLargeError",
        &format!("Request body larger than {limit} bytes"),
    );
    assert_error(
        &rpc(&g, "nope", json!({})).await,
        404,
        "NotFoundError",
        "Unknown method: nope",
    );
    // Parameters: missing, of the wrong type, unknown content types, names and namespaces.
    for (method, body, message) in [
        (
            "joinRoom",
            json!({"roomName": "r"}),
            "missing field `socketId`",
        ),
        (
            "joinRoom",
            json!({"socketId": 1, "roomName": "r"}),
            "socketId: invalid type: integer `1`, expected a string",
        ),
        (
            "emit",
            json!({"event": "create", "schema": "api::nope.nope", "data": {"id": 1}}),
            "Unknown content type: api::nope.nope",
        ),
        (
            "emitToNamespace",
            json!({"namespace": "nope", "event": "hi"}),
            "Unknown namespace: nope",
        ),
        (
            "entryEvents",
            json!({"events": [{"uid": ARTICLE, "entry": {}}]}),
            "events[0].event: missing or not a string",
        ),
    ] {
        assert_error(
            &rpc(&g, method, body).await,
            400,
            "ValidationError",
            message,
        );
    }
    assert_error_starts(
        &rpc(&g, "raw", json!({"event": "connect", "data": 1})).await,
        400,
        "ValidationError",
        "Invalid event name: ",
    );
    assert_error_starts(
        &rpc(&g, "entryEvents", json!({"events": [], "more": 1})).await,
        400,
        "ValidationError",
        "entryEvents takes {events: [...]}: unknown field `more`",
    );
    let many: Vec<Value> = (0..10_001).map(|_| json!({})).collect();
    assert_error(
        &rpc(&g, "entryEvents", json!({ "events": many })).await,
        400,
        "ValidationError",
        "events: at most 10000 per call, got 10001",
    );
    assert_eq!(g.state.entry_events.snapshot()["rejected"], 3);
    // A payload over maxHttpBufferSize.
    let a = rpc(&g, "raw", json!({"event": "news", "data": "x".repeat(200)})).await;
    assert_error_starts(&a, 413, "PayloadTooLargeError", "Payload too large: ");
    // Not a route of this method.
    let a = send(
        &g,
        Method::GET,
        "/api/io/emit",
        Some(ADMIN),
        &[],
        Body::empty(),
    )
    .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn entry_events_are_merged_per_document_and_emitted() {
    let g = demo().await;
    let draft = json!({"id": 1, "documentId": "d1", "title": "t", "publishedAt": null});
    let published = json!({"id": 2, "documentId": "d1", "title": "t",
                           "publishedAt": "2026-11-26T00:00:00.000Z"});
    let a = rpc(
        &g,
        "entryEvents",
        json!({"events": [
            {"event": "entry.create", "uid": ARTICLE, "entry": draft},
            {"event": "entry.publish", "uid": ARTICLE, "entry": published},
            {"event": "media.create", "media": {}},
            {"event": "entry.create", "uid": COMMENT, "entry": {"id": 5, "documentId": "c5"}},
        ]}),
    )
    .await;
    let data = a.data();
    assert_eq!(
        (
            &data["accepted"],
            &data["ignored"],
            &data["emitted"],
            &data["failed"]
        ),
        (&json!(3), &json!(1), &json!(2), &json!(0)),
        "{data}"
    );
    assert_eq!(data["events"][0]["documentId"], "d1");
    assert_eq!(data["events"][0]["requests"], 2);
    assert_eq!(data["events"][0]["report"]["event"], "article:create");
    assert_eq!(data["events"][1]["report"]["event"], "comment:create");
    let counted = g.state.entry_events.snapshot();
    assert_eq!(
        (&counted["merged"], &counted["emitted"]),
        (&json!(1), &json!(2))
    );
}

#[tokio::test]
async fn an_idempotency_key_answers_a_retry_without_running_it_again() {
    let g = demo().await;
    let call = || {
        raw_with(
            &g,
            &[("idempotency-key", "k-1")],
            json!({"event": "news", "data": 1}),
        )
    };
    assert_eq!(call().await.json(), json!({"data": null}));
    assert_eq!(
        call().await.json(),
        json!({"data": null, "meta": {"duplicate": true}})
    );
    assert_eq!(g.state.io.event_stats().total, 1, "run once");
    let too_long = "k".repeat(201);
    for headers in [
        vec![("idempotency-key", "")],
        vec![("idempotency-key", "two words")],
        vec![("idempotency-key", too_long.as_str())],
        vec![("idempotency-key", "a"), ("idempotency-key", "b")],
    ] {
        let a = raw_with(&g, &headers, json!({"event": "news", "data": 1})).await;
        assert_error(
            &a,
            400,
            "ValidationError",
            "Idempotency-Key: one line of 1 to 200 visible ASCII characters",
        );
    }
    // A retry while the first call runs.
    use crate::idempotency::Begin;
    let running = g
        .state
        .idempotency
        .begin("raw\u{0}k-3", std::time::Instant::now());
    assert!(matches!(running, Begin::New));
    let a = raw_with(
        &g,
        &[("idempotency-key", "k-3")],
        json!({"event": "news", "data": 1}),
    )
    .await;
    assert_error(
        &a,
        409,
        "ConflictError",
        "A request with this Idempotency-Key is still running; retry later",
    );
    // A call that failed forgets its key.
    let failing = || {
        raw_with(
            &g,
            &[("idempotency-key", "k-2")],
            json!({"event": "connect"}),
        )
    };
    assert_eq!(failing().await.status, StatusCode::BAD_REQUEST);
    assert_eq!(failing().await.status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------- settings, directory

#[tokio::test]
async fn settings_are_read_validated_saved_and_applied() {
    let g = gateway(|l| l.gateway.socket.max_http_buffer_size = 100).await;
    let current = admin_get(&g, "/api/io/settings").await.data();
    assert_eq!(current, json!(g.state.io.settings()));
    assert_eq!(current["events"]["onlyPublished"], false);

    let mut changed = current.clone();
    changed["events"]["onlyPublished"] = json!(true);
    let put = |body: String| send(&g, Method::PUT, "/api/io/settings", Some(ADMIN), &[], body);
    let a = put(changed.to_string()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let answer = a.json();
    assert_eq!(answer["reloaded"], true);
    assert_eq!(answer["disconnected"], 0);
    assert_eq!(answer["data"]["events"]["onlyPublished"], true);
    assert!(answer.get("cluster").is_none(), "standalone: {answer}");
    assert!(g.state.io.settings().events.only_published, "applied");
    let stored = g.state.store.load().await.unwrap().unwrap();
    assert!(stored.events.only_published, "saved");
    assert_eq!(
        admin_get(&g, "/api/io/settings").await.data()["events"]["onlyPublished"],
        true
    );

    // Every problem, with its path; nothing changes.
    let a = put(json!({"connection": {"pingTimeout": "soon"}, "nope": 1}).to_string()).await;
    let body = a.json();
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["error"]["status"], 422);
    assert_eq!(body["error"]["name"], "ValidationError");
    let errors = body["error"]["details"]["errors"].as_array().unwrap();
    assert_eq!(
        body["error"]["message"],
        format!("Invalid settings: {} problem(s)", errors.len())
    );
    assert!(errors.len() >= 2, "{body}");
    assert!(
        errors
            .iter()
            .all(|e| e["path"].is_string() && e["message"].is_string())
    );
    assert!(g.state.io.settings().events.only_published, "unchanged");

    assert_malformed(&put("{".into()).await);
    assert_malformed(&put(String::new()).await);
    let limit = 100 + 64 * 1024;
    assert_error(
        &put(format!("\"{}\"", "x".repeat(limit))).await,
        413,
        "PayloadTooLargeError",
        &format!("Request body larger than {limit} bytes"),
    );
}

#[tokio::test]
async fn a_failed_save_changes_nothing() {
    let g = demo().await;
    // The table the settings are saved in is gone.
    let url = format!("sqlite://{}", g.state.store.path().display());
    let other = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DROP TABLE settings")
        .execute(&other)
        .await
        .unwrap();
    let mut changed = json!(g.state.io.settings());
    changed["events"]["onlyPublished"] = json!(true);
    let a = send(
        &g,
        Method::PUT,
        "/api/io/settings",
        Some(ADMIN),
        &[],
        changed.to_string(),
    )
    .await;
    assert_error_starts(
        &a,
        503,
        "ServiceUnavailableError",
        "The settings could not be saved, nothing changed: settings database ",
    );
    assert!(!g.state.io.settings().events.only_published, "not applied");
}

#[tokio::test]
async fn the_strapi_directory_drops_its_cache_on_demand() {
    let blog = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/blog");
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../strapi-io/tests/fixtures/strapi5.db");
    let g = gateway_env(
        |key, dir| {
            let db = dir.join("strapi.db");
            if !db.exists() {
                std::fs::copy(&fixture, &db).unwrap();
            }
            match key {
                "STRAPI_IO_DIRECTORY" => Some("strapi".into()),
                "STRAPI_IO_DATABASE_URL" => Some(format!("sqlite://{}", db.display())),
                "STRAPI_IO_STRAPI_PROJECT_DIR" => Some(blog.display().to_string()),
                "STRAPI_IO_JWT_SECRET" => Some("fixture-jwt-secret".into()),
                "STRAPI_IO_API_TOKEN_SALT" => Some("fixture-api-token-salt".into()),
                "STRAPI_IO_ADMIN_TOKEN" => Some(ADMIN.into()),
                _ => None,
            }
        },
        |_| {},
    )
    .await;
    let a = admin_post(&g, "/api/io/directory/invalidate", Value::Null).await;
    assert_eq!(
        a.json(),
        json!({"data": {"invalidated": true}}),
        "{}",
        a.text
    );
    assert!(
        admin_get(&g, "/api/io/stats").await.data()["directoryWatch"].is_object(),
        "the Strapi directory's watch is shown"
    );
    // The database loses a table the directory reads.
    let url = format!("sqlite://{}", g.dir.join("strapi.db").display());
    let other = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DROP TABLE up_roles")
        .execute(&other)
        .await
        .unwrap();
    let a = admin_post(&g, "/api/io/directory/invalidate", Value::Null).await;
    assert_error_starts(
        &a,
        503,
        "ServiceUnavailableError",
        "The Strapi database could not be read: ",
    );
}

#[tokio::test]
async fn the_static_directory_has_no_cache_to_drop() {
    let g = demo().await;
    assert_error(
        &admin_post(&g, "/api/io/directory/invalidate", Value::Null).await,
        400,
        "ValidationError",
        "The static directory has no cache: it reads the config file",
    );
}

// ---------------------------------------------------------------- monitoring

#[tokio::test]
async fn stats_show_every_counter() {
    let g = demo().await;
    let stats = admin_get(&g, "/api/io/stats").await.data();
    for key in [
        "connections",
        "sockets",
        "socketsListed",
        "audiences",
        "entitySubscriptions",
        "events",
        "webhooks",
        "entryEvents",
        "populate",
        "uptimeSeconds",
        "cluster",
    ] {
        assert!(stats.get(key).is_some(), "{key}: {stats}");
    }
    assert!(stats.get("directoryWatch").is_none(), "static: {stats}");
    assert_eq!(
        stats["populate"],
        json!({"refetched": 0, "skipped": 0, "failed": 0,
               "publishedRelations": {"swapped": 0, "kept": 0, "failed": 0}})
    );
    assert_eq!(
        stats["webhooks"],
        json!({"accepted": 0, "emitted": 0, "ignored": 0, "rejected": 0, "merged": 0, "failed": 0})
    );
    assert_eq!(stats["entryEvents"], stats["webhooks"]);
    assert_eq!(stats["socketsListed"], 100);
}

#[tokio::test]
async fn the_dashboard_lists_sockets_rooms_and_trends() {
    let g = demo().await;
    let a = admin_get(&g, "/api/io/sockets?search=x&page=1&pageSize=10").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.data(), json!([]), "no socket in process");
    assert_eq!(
        a.json()["meta"],
        json!({"pagination": {"page": 1, "pageSize": 10, "pageCount": 0, "total": 0}, "truncated": false})
    );
    let a = admin_get(&g, "/api/io/rooms").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.data(), json!([]));
    for bad in [
        "/api/io/sockets?pageSize=1000",
        "/api/io/sockets?page=0",
        "/api/io/sockets?order=id",
        "/api/io/sockets?room=a&room=b",
        "/api/io/rooms?room=lobby",
    ] {
        let a = admin_get(&g, bad).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text);
        assert_eq!(a.json()["error"]["name"], "ValidationError", "{bad}");
    }
    // Trends: sampled while the gateway serves (none in process), with their period.
    let a = admin_get(&g, "/api/io/trends").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.data(),
        json!({"intervalSeconds": 10, "capacity": 360, "samples": []})
    );
}

#[tokio::test]
async fn the_event_log_reads_its_limit() {
    let g = demo().await;
    let a = admin_get(&g, "/api/io/event-log").await;
    assert!(a.data().is_array(), "{}", a.text);
    assert!(
        admin_get(&g, "/api/io/event-log?limit=20000")
            .await
            .data()
            .is_array()
    );
    for bad in ["x", "-1", "1.5", ""] {
        let a = admin_get(&g, &format!("/api/io/event-log?limit={bad}")).await;
        assert_error(
            &a,
            400,
            "ValidationError",
            &format!("limit: expected a whole number, found `{bad}`"),
        );
    }
}

#[tokio::test]
async fn a_test_event_goes_to_every_client() {
    let g = gateway(|l| l.gateway.socket.max_http_buffer_size = 100).await;
    let a = admin_post(&g, "/api/io/test-event", Value::Null).await;
    let data = a.data();
    assert_eq!(data["success"], true);
    assert_eq!(data["event"], "test-event");
    assert_eq!(data["data"]["message"], "Test event from strapi-io");
    assert!(data["data"]["timestamp"].is_u64(), "{data}");
    let a = admin_post(
        &g,
        "/api/io/test-event",
        json!({"event": "ping", "data": [1]}),
    )
    .await;
    assert_eq!(
        a.json(),
        json!({"data": {"success": true, "event": "ping", "data": [1]}})
    );
    assert_eq!(g.state.io.event_stats().total, 2);
    for (body, message) in [
        (json!({"event": 1}), "event: expected a string"),
        (json!([]), "The body must be a JSON object"),
    ] {
        let a = admin_post(&g, "/api/io/test-event", body).await;
        assert_error(&a, 400, "ValidationError", message);
    }
    let a = send(
        &g,
        Method::POST,
        "/api/io/test-event",
        Some(ADMIN),
        &[],
        "{",
    )
    .await;
    assert_error_starts(&a, 400, "ValidationError", "Malformed JSON body: ");
    let a = admin_post(&g, "/api/io/test-event", json!({"data": "x".repeat(200)})).await;
    assert_error_starts(&a, 413, "PayloadTooLargeError", "Payload too large: ");
    let a = admin_post(&g, "/api/io/test-event", json!({"event": "connect"})).await;
    assert_error_starts(&a, 400, "ValidationError", "Invalid event name: ");
    let limit = 100 + 64 * 1024;
    let a = send(
        &g,
        Method::POST,
        "/api/io/test-event",
        Some(ADMIN),
        &[],
        format!("\"{}\"", "x".repeat(limit)),
    )
    .await;
    assert_error(
        &a,
        413,
        "PayloadTooLargeError",
        &format!("Request body larger than {limit} bytes"),
    );
}

#[tokio::test]
async fn reset_stats_zeroes_the_event_counts() {
    let g = demo().await;
    rpc(&g, "raw", json!({"event": "news", "data": 1}))
        .await
        .data();
    let light = admin_get(&g, "/api/io/monitoring/stats").await.data();
    assert_eq!(light["eventsTotal"], 1);
    assert_eq!(
        admin_post(&g, "/api/io/reset-stats", Value::Null)
            .await
            .json(),
        json!({"data": {"success": true}})
    );
    let light = admin_get(&g, "/api/io/monitoring/stats").await.data();
    assert_eq!(light["eventsTotal"], 0);
    for key in [
        "connections",
        "audiences",
        "eventsPerSecond",
        "eventsLastMinute",
        "uptimeSeconds",
        "memoryBytes",
    ] {
        assert!(light.get(key).is_some(), "{key}: {light}");
    }
}

#[tokio::test]
async fn roles_and_content_types_list_the_project() {
    let g = demo().await;
    let roles = admin_get(&g, "/api/io/roles").await.data();
    let names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for name in [
        "Public",
        "Authenticated",
        "Editor",
        "dashboard",
        "comments-only",
    ] {
        assert!(names.contains(&name), "{name}: {roles}");
    }
    let dashboard = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "dashboard")
        .unwrap();
    assert_eq!(
        (
            &dashboard["kind"],
            &dashboard["type"],
            &dashboard["connections"]
        ),
        (&json!("api-token"), &json!("read-only"), &json!(0))
    );
    let types = admin_get(&g, "/api/io/content-types").await.data();
    let article = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["uid"] == ARTICLE)
        .unwrap();
    assert_eq!(article["singularName"], "article");
    assert_eq!(article["draftAndPublish"], true);
    assert_eq!(article["actions"], json!(["create", "update", "delete"]));
}

#[tokio::test]
async fn health_metrics_and_the_dashboard_are_public() {
    let g = demo().await;
    let a = send(&g, Method::GET, "/health", None, &[], Body::empty()).await;
    let body = a.json();
    assert_eq!(a.status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["ready"], true);
    assert_eq!(body["connections"], 0);
    assert!(body["uptimeSeconds"].is_u64());
    assert!(
        body.get("directory").is_none() && body.get("cluster").is_none(),
        "{body}"
    );

    let a = send(&g, Method::GET, "/metrics", None, &[], Body::empty()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/plain; version=0.0.4");
    assert!(
        a.text.contains("strapi_io_connected_sockets "),
        "{}",
        a.text
    );
    assert!(
        a.text.contains("strapi_io_pending_connections "),
        "{}",
        a.text
    );

    let a = send(&g, Method::GET, "/dashboard", None, &[], Body::empty()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    let csp = a.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(
        csp.contains("connect-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(a.headers[header::X_FRAME_OPTIONS], "DENY");
    assert!(
        a.text.contains("<html"),
        "{}",
        &a.text[..a.text.len().min(200)]
    );
}

// ---------------------------------------------------------------- POST /webhooks/strapi

#[tokio::test]
async fn the_webhook_route_wants_its_token() {
    let g = demo().await;
    let body = json!({"event": "entry.create", "uid": COMMENT, "entry": {"id": 1}});
    for (token, headers) in [
        (None, vec![]),
        (Some("wrong"), vec![]),
        (Some(ADMIN), vec![]),
        (None, vec![("authorization", HOOK)]),
        (None, vec![("authorization", "Token demo-webhook-token")]),
    ] {
        let a = send(
            &g,
            Method::POST,
            "/webhooks/strapi",
            token,
            &headers,
            body.to_string(),
        )
        .await;
        assert_error(&a, 401, "UnauthorizedError", UNAUTHORIZED);
    }
    let counted = g.state.webhooks.counters.snapshot();
    assert_eq!(
        (&counted["rejected"], &counted["accepted"]),
        (&json!(5), &json!(0))
    );

    for off in [None, Some(String::new())] {
        let g = gateway(|l| l.gateway.webhook_token = off.clone().map(Into::into)).await;
        let a = hook(&g, body.clone()).await;
        assert_error(&a, 503, "ServiceUnavailableError", HOOKS_OFF);
        assert_eq!(g.state.webhooks.counters.snapshot()["rejected"], 1);
    }
}

#[tokio::test]
async fn the_webhook_route_refuses_malformed_bodies_and_ignores_other_events() {
    let g = demo().await;
    let post = |body: String| send(&g, Method::POST, "/webhooks/strapi", Some(HOOK), &[], body);
    assert_malformed(&post("{".into()).await);
    assert_malformed(&post(String::new()).await);
    for (body, message) in [
        (
            json!({"uid": COMMENT, "entry": {}}),
            "event: missing or not a string",
        ),
        (
            json!({"event": "entry.create", "entry": {}}),
            "uid: missing or not a string",
        ),
        (
            json!({"event": "entry.create", "uid": COMMENT}),
            "entry: missing or not an object",
        ),
    ] {
        assert_error(&hook(&g, body).await, 400, "ValidationError", message);
    }
    let limit = 4 * 1024 * 1024;
    let a = post(format!("\"{}\"", "x".repeat(limit))).await;
    assert_error(
        &a,
        413,
        "PayloadTooLargeError",
        &format!("Request body larger than {limit} bytes"),
    );
    for (body, reason) in [
        (
            json!({"event": "media.create", "media": {}}),
            "media events are ignored",
        ),
        (json!({"event": "trigger-test"}), "not an entry event"),
        (
            json!({"event": "entry.create", "uid": "api::nope.nope", "entry": {}}),
            "unknown model",
        ),
    ] {
        let a = hook(&g, body).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
        assert_eq!(
            a.json(),
            json!({"data": {"ignored": true, "reason": reason}})
        );
    }
    let counted = g.state.webhooks.counters.snapshot();
    assert_eq!(
        (
            &counted["rejected"],
            &counted["ignored"],
            &counted["accepted"]
        ),
        (&json!(6), &json!(3), &json!(0))
    );
}

#[tokio::test]
async fn without_a_window_each_request_is_emitted_as_it_arrives() {
    let g = gateway(|l| l.gateway.webhook_coalesce = Duration::ZERO).await;
    let a = hook(
        &g,
        json!({"event": "entry.create", "uid": ARTICLE,
               "entry": {"id": 1, "documentId": "d1", "publishedAt": null}}),
    )
    .await;
    let report = a.data();
    assert_eq!(report["event"], "article:create", "{report}");
    assert_eq!(report["audiences"], 0);
    // Nothing to merge by: emitted at once too, whatever the window.
    let g = demo().await;
    let a = hook(
        &g,
        json!({"event": "entry.update", "uid": ARTICLE, "entry": {"title": "no ids"}}),
    )
    .await;
    assert_eq!(a.data()["event"], "article:update");
    let counted = g.state.webhooks.counters.snapshot();
    assert_eq!(
        (&counted["accepted"], &counted["emitted"]),
        (&json!(1), &json!(1))
    );
}

/// Lets the spawned window tasks run (the clock is paused: nothing else moves it).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

fn emitted(g: &Gateway) -> Value {
    g.state.webhooks.counters.snapshot()["emitted"].clone()
}

fn update(document: &str) -> Value {
    json!({"event": "entry.update", "uid": ARTICLE,
           "entry": {"id": 1, "documentId": document, "title": "t", "publishedAt": null}})
}

#[tokio::test]
async fn a_window_holds_an_action_then_emits_it_once() {
    let g = demo().await;
    tokio::time::pause();
    let a = hook(&g, update("d1")).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    assert_eq!(
        a.json(),
        json!({"data": {"queued": true, "uid": ARTICLE, "document": "d1", "coalesced": false,
                        "windowMs": 15, "coalesceMs": 300}})
    );
    // A second request of the same document joins the window.
    tokio::time::advance(Duration::from_millis(5)).await;
    let a = hook(&g, update("d1")).await;
    assert_eq!(a.json()["data"]["coalesced"], true, "{}", a.text);
    tokio::time::advance(Duration::from_millis(9)).await;
    settle().await;
    assert_eq!(emitted(&g), 0, "still in its window");
    tokio::time::advance(Duration::from_millis(2)).await;
    settle().await;
    assert_eq!(emitted(&g), 1);
    let counted = g.state.webhooks.counters.snapshot();
    assert_eq!(
        (&counted["accepted"], &counted["merged"], &counted["failed"]),
        (&json!(2), &json!(1), &json!(0))
    );
    // A type without draft & publish needs no window.
    let a = hook(
        &g,
        json!({"event": "entry.create", "uid": COMMENT, "entry": {"id": 3, "documentId": "c3"}}),
    )
    .await;
    assert_eq!(a.json()["data"]["windowMs"], 0, "{}", a.text);
    // Within the timer's resolution (1 ms).
    tokio::time::advance(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(emitted(&g), 2);
}

#[tokio::test]
async fn a_complete_action_closes_its_window_at_once() {
    let g = demo().await;
    tokio::time::pause();
    hook(&g, update("d1")).await;
    let publish = json!({"event": "entry.publish", "uid": ARTICLE,
        "entry": {"id": 2, "documentId": "d1", "title": "t", "publishedAt": "2026-11-26T00:00:00.000Z"}});
    assert_eq!(hook(&g, publish).await.json()["data"]["coalesced"], true);
    settle().await;
    assert_eq!(emitted(&g), 1, "no need to wait");
}

#[tokio::test]
async fn a_request_just_after_its_window_grows_the_window() {
    let g = demo().await;
    tokio::time::pause();
    hook(&g, update("d1")).await;
    tokio::time::advance(Duration::from_millis(20)).await;
    settle().await;
    assert_eq!(emitted(&g), 1);
    // The publish of the same action, 20 ms after its first request: too late.
    let publish = json!({"event": "entry.publish", "uid": ARTICLE,
        "entry": {"id": 2, "documentId": "d1", "publishedAt": "2026-11-26T00:00:00.000Z"}});
    let a = hook(&g, publish).await;
    assert_eq!(
        a.json()["data"]["windowMs"],
        2 * 20 + 5,
        "twice the gap plus the margin: {}",
        a.text
    );
    // Every action's window is the longer one now.
    assert_eq!(hook(&g, update("d2")).await.json()["data"]["windowMs"], 45);
}

#[tokio::test]
async fn shutdown_closes_every_window_at_once() {
    let g = demo().await;
    tokio::time::pause();
    hook(&g, update("d1")).await;
    hook(&g, update("d2")).await;
    assert_eq!(emitted(&g), 0);
    g.state.webhooks.close_windows(Duration::from_secs(5)).await;
    assert_eq!(emitted(&g), 2, "without waiting for the windows");
    // From now on, requests are emitted as they arrive.
    let a = hook(&g, update("d3")).await;
    assert_eq!(a.data()["event"], "article:update", "{}", a.text);
    assert_eq!(emitted(&g), 3);
}

// ---------------------------------------------------------------- populate, through the Io

#[tokio::test]
async fn every_source_of_emit_populates_through_the_io() {
    let (url, seen) = crate::populate::tests::fake_strapi().await;
    let g = gateway(|l| {
        l.gateway.strapi.url = Some(url);
        l.gateway.webhook_coalesce = Duration::ZERO;
        l.gateway.content_types = Some(
            serde_json::from_value(json!([
                {"uid": ARTICLE, "populate": ["author"]},
                COMMENT,
            ]))
            .unwrap(),
        );
    })
    .await;
    let lacking = json!({"id": 1, "documentId": "doc-1", "publishedAt": null, "author": 1});
    let refetched = |g: &Gateway| g.state.populator.counters().snapshot()["refetched"].clone();
    rpc(
        &g,
        "emit",
        json!({"event": "create", "schema": ARTICLE, "data": lacking}),
    )
    .await
    .data();
    assert_eq!(refetched(&g), 1);
    hook(
        &g,
        json!({"event": "entry.update", "uid": ARTICLE, "entry": lacking}),
    )
    .await
    .data();
    assert_eq!(refetched(&g), 2);
    rpc(
        &g,
        "entryEvents",
        json!({"events": [{"event": "entry.update", "uid": ARTICLE, "entry": lacking}]}),
    )
    .await
    .data();
    assert_eq!(refetched(&g), 3);
    // Events that do not go out, and types without populate, are not refetched.
    rpc(
        &g,
        "emit",
        json!({"event": "delete", "schema": ARTICLE, "data": lacking}),
    )
    .await
    .data();
    rpc(
        &g,
        "emit",
        json!({"event": "create", "schema": COMMENT, "data": {"id": 1}}),
    )
    .await
    .data();
    let skipped = rpc(
        &g,
        "emit",
        json!({"event": "archive", "schema": ARTICLE, "data": lacking}),
    )
    .await;
    assert_eq!(skipped.status, StatusCode::OK, "{}", skipped.text);
    let paths: Vec<String> = seen.requests().into_iter().map(|(p, _, _)| p).collect();
    assert_eq!(paths, vec!["/api/articles/doc-1"; 3]);
    let stats = admin_get(&g, "/api/io/stats").await.data();
    assert_eq!(stats["populate"]["refetched"], 3);
    assert_eq!(stats["populate"]["publishedRelations"]["swapped"], 0);
}
