//! The plugin's monitoring routes (`stats`, `event-log`, `test-event`, `reset-stats`,
//! `roles`, `content-types`, `monitoring/stats`) behind the admin token, plus `/metrics`
//! (Prometheus text) and `/health`. The dashboard page is `dashboard.rs`.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use strapi_io::core::{AudienceKind, TokenType};
use strapi_io::{Io, RawOptions};

use crate::http::auth::AdminToken;
use crate::http::body::read_json;
use crate::http::error::ApiError;
use crate::state::AppState;

/// Sockets listed in full by `stats`.
const LISTED_SOCKETS: usize = 100;
/// The actions `content-types` reports on.
const ACTIONS: [&str; 5] = ["create", "update", "delete", "publish", "unpublish"];

/// The process's resident memory, from `/proc/self/status`.
pub(crate) fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `GET /api/io/stats`: counters, connections (with user info and rooms), audiences,
/// entity subscriptions by content type, events by type and per second, webhooks.
pub(crate) async fn stats(
    _: AdminToken,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let io = &state.io;
    let mut body = serde_json::to_value(io.stats()).unwrap_or_else(|_| json!({}));
    let connections = io.connections(LISTED_SOCKETS);
    let subs_total: usize = connections.entity_subscriptions.values().sum();
    if let Value::Object(map) = &mut body {
        map.insert("sockets".into(), json!(connections.sockets));
        map.insert("socketsListed".into(), json!(LISTED_SOCKETS));
        map.insert("audiences".into(), json!(connections.by_audience));
        map.insert(
            "entitySubscriptions".into(),
            json!({"total": subs_total, "byContentType": connections.entity_subscriptions}),
        );
        map.insert("events".into(), json!(io.event_stats()));
        map.insert("webhooks".into(), state.webhooks.counters.snapshot());
        map.insert("entryEvents".into(), state.entry_events.snapshot());
        map.insert("populate".into(), state.populator.counters().snapshot());
        map.insert("uptimeSeconds".into(), json!(io.uptime().as_secs()));
        if let Some(directory) = &state.strapi_directory {
            map.insert("directoryWatch".into(), json!(directory.watch_stats()));
        }
        // `connections` and the rest above are this node's; the cluster's nodes and total
        // come from every node's heartbeat.
        map.insert("cluster".into(), json!(io.cluster().await));
    }
    Ok(Json(json!({ "data": body })))
}

/// `GET /api/io/event-log?limit=N` (default 50, at most 10,000): newest first.
pub(crate) async fn event_log(
    _: AdminToken,
    State(state): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    let limit = match form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "limit")
    {
        None => 50,
        Some((_, v)) => v.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("limit: expected a whole number, found `{v}`"))
        })?,
    }
    .min(10_000);
    Ok(Json(json!({ "data": state.io.event_log(limit) })))
}

/// `POST /api/io/test-event {event?, data?}`: sends a raw event to every socket of `/`.
pub(crate) async fn test_event(
    _: AdminToken,
    State(state): State<AppState>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let body = read_json(body, state.body_limit, true).await?;
    if !body.is_object() {
        return Err(ApiError::bad_request("The body must be a JSON object"));
    }
    let event = match body.get("event") {
        None | Some(Value::Null) => "test-event".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad_request("event: expected a string")),
    };
    let timestamp = crate::clock::unix_millis();
    let data = body
        .get("data")
        .cloned()
        .unwrap_or_else(|| json!({"message": "Test event from strapi-io", "timestamp": timestamp}));
    state
        .io
        .raw(RawOptions {
            event: event.clone(),
            rooms: None,
            data: data.clone(),
        })
        .await?;
    Ok(Json(
        json!({"data": {"success": true, "event": event, "data": data}}),
    ))
}

/// `POST /api/io/reset-stats`.
pub(crate) async fn reset_stats(
    _: AdminToken,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    state.io.reset_stats();
    Ok(Json(json!({"data": {"success": true}})))
}

/// `GET /api/io/roles`: every audience with its room and connected sockets.
pub(crate) async fn roles(
    _: AdminToken,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let counts = state.io.connections(0).by_audience;
    let list: Vec<Value> = state
        .io
        .audiences()
        .iter()
        .map(|a| {
            let (kind, kind_type) = match &a.kind {
                AudienceKind::Role { role_type } => ("role", role_type.clone()),
                AudienceKind::ApiToken { token_type } => (
                    "api-token",
                    match token_type {
                        TokenType::ReadOnly => "read-only",
                        TokenType::FullAccess => "full-access",
                        TokenType::Custom => "custom",
                    }
                    .to_string(),
                ),
            };
            json!({
                "name": a.name,
                "type": kind_type,
                "kind": kind,
                "room": a.room,
                "connections": counts.get(&a.room).copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(Json(json!({ "data": list })))
}

/// `GET /api/io/content-types`: loaded content types, their enabled actions and events.
pub(crate) async fn content_types(
    _: AdminToken,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "data": content_type_list(&state.io) })))
}

fn content_type_list(io: &Io) -> Vec<Value> {
    io.schemas()
        .content_types()
        .map(|ct| {
            let actions: Vec<&str> = ACTIONS
                .iter()
                .copied()
                .filter(|a| io.is_enabled(&ct.uid, a))
                .collect();
            json!({
                "uid": ct.uid,
                "singularName": ct.singular_name,
                "pluralName": ct.plural_name,
                "kind": ct.kind,
                "draftAndPublish": ct.draft_and_publish,
                "actions": actions,
            })
        })
        .collect()
}

/// `GET /api/io/monitoring/stats`: the light numbers the dashboard polls.
pub(crate) async fn monitoring_stats(
    _: AdminToken,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let io = &state.io;
    let events = io.event_stats();
    let connections = io.connections(0);
    Ok(Json(json!({"data": {
        "connections": connections.total,
        "audiences": connections.by_audience,
        "eventsPerSecond": events.per_second,
        "eventsLastMinute": events.last_minute,
        "eventsTotal": events.total,
        "uptimeSeconds": io.uptime().as_secs(),
        "memoryBytes": rss_bytes(),
    }})))
}

fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("seconds".into()),
                    &[
                        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
                        0.05, 0.1, 0.25, 0.5, 1.0,
                    ],
                )
                .and_then(|b| b.install_recorder())
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// Installs the Prometheus recorder (once per process).
pub(crate) fn install_metrics() {
    let _ = prometheus();
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(io): State<Io>) -> Response {
    let Some(handle) = prometheus() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable\n",
        )
            .into_response();
    };
    let stats = io.stats();
    let mut text = handle.render();
    text.push_str(&format!(
        "# TYPE strapi_io_connected_sockets gauge\nstrapi_io_connected_sockets {}\n",
        stats.connections
    ));
    text.push_str(&format!(
        "# TYPE strapi_io_pending_connections gauge\nstrapi_io_pending_connections {}\n",
        stats.pending_connections
    ));
    let recovery = &stats.recovery;
    for (name, value) in [
        ("strapi_io_recovery_sessions", recovery.sessions),
        (
            "strapi_io_recovery_buffered_packets",
            recovery.buffered_packets,
        ),
        ("strapi_io_recovery_buffered_bytes", recovery.buffered_bytes),
    ] {
        text.push_str(&format!("# TYPE {name} gauge\n{name} {value}\n"));
    }
    if let Some(rss) = rss_bytes() {
        text.push_str(&format!(
            "# TYPE strapi_io_resident_memory_bytes gauge\nstrapi_io_resident_memory_bytes {rss}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// `GET /health`: `{status, ready, connections, uptimeSeconds}`, plus `directory {ready,
/// reason}` with the Strapi directory and `cluster {ready, reason}` in cluster mode. 503 with
/// `status: "degraded"` while the directory is not ready: the Strapi database is
/// unavailable, so handshakes that need it are refused (connected sockets keep working).
/// A node cut off from Redis answers 200 with `status: "degraded"` and `cluster.ready:
/// false`: it serves its own clients. Reasons name no address with credentials.
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let directory = state.strapi_directory.as_ref().map(|d| d.health());
    let ready = directory.as_ref().is_none_or(|d| d.ready);
    let mut body = json!({
        "status": if ready { "ok" } else { "degraded" },
        "ready": ready,
        "connections": state.io.connection_count(),
        "uptimeSeconds": state.io.uptime().as_secs(),
    });
    if let (Some(directory), Value::Object(map)) = (directory, &mut body) {
        map.insert("directory".into(), json!(directory));
    }
    // A node that lost Redis still serves its own clients (200), but says it is cut off.
    let cluster = state.io.cluster_status();
    if cluster.enabled {
        if !cluster.connected {
            body["status"] = json!("degraded");
        }
        body["cluster"] = json!({
            "ready": cluster.connected,
            "reason": cluster.reason,
        });
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
