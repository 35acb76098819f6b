//! `POST /webhooks/strapi`: Strapi's own webhooks as a source of content events. Entry
//! events become `emit` calls; media events and unknown models are acknowledged (202) and
//! counted, not emitted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use strapi_io::core::auth::constant_time_eq;
use strapi_io::{EmitOptions, Io};

use crate::rpc::{ApiError, read_json};

/// Largest webhook body accepted.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// What the webhook route shares.
pub struct WebhookState {
    /// The server.
    pub io: Io,
    /// The expected bearer token; `None` turns the route off (503).
    pub token: Option<String>,
    /// Counters.
    pub counters: Arc<WebhookCounters>,
}

/// What the webhook route has seen.
#[derive(Debug, Default)]
pub struct WebhookCounters {
    /// Requests turned into an emit.
    pub emitted: AtomicU64,
    /// Requests acknowledged and ignored (media events, unknown models, other events).
    pub ignored: AtomicU64,
    /// Requests refused (bad token, malformed body).
    pub rejected: AtomicU64,
}

impl WebhookCounters {
    /// `{emitted, ignored, rejected}`.
    pub fn snapshot(&self) -> Value {
        json!({
            "emitted": self.emitted.load(Ordering::Relaxed),
            "ignored": self.ignored.load(Ordering::Relaxed),
            "rejected": self.rejected.load(Ordering::Relaxed),
        })
    }
}

fn check_token(state: &WebhookState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.token else {
        return Err(ApiError::unavailable(
            "Webhooks are off: set server.webhookToken in the config or STRAPI_IO_WEBHOOK_TOKEN, and send it as `Authorization: Bearer <token>` from Strapi",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let v = v.trim();
            match v.split_once(' ') {
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
                _ => v,
            }
        });
    match given {
        Some(t) if constant_time_eq(t, expected) => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

fn ignored(state: &WebhookState, reason: &str) -> Response {
    state.counters.ignored.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(reason, "webhook ignored");
    (
        StatusCode::ACCEPTED,
        Json(json!({"data": {"ignored": true, "reason": reason}})),
    )
        .into_response()
}

/// The action an entry event becomes: `entry.publish`/`entry.unpublish` map to `update`
/// unless the content type enables `publish`/`unpublish` as actions of their own.
fn action_for(io: &Io, uid: &str, event: &str) -> Option<&'static str> {
    Some(match event {
        "entry.create" => "create",
        "entry.update" => "update",
        "entry.delete" => "delete",
        "entry.publish" if io.is_enabled(uid, "publish") => "publish",
        "entry.unpublish" if io.is_enabled(uid, "unpublish") => "unpublish",
        "entry.publish" | "entry.unpublish" => "update",
        _ => return None,
    })
}

/// The axum handler.
pub async fn handler(
    State(state): State<Arc<WebhookState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    match handle(&state, &headers, body).await {
        Ok(r) => r,
        Err(e) => {
            state.counters.rejected.fetch_add(1, Ordering::Relaxed);
            e.into_response()
        }
    }
}

async fn handle(
    state: &WebhookState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    check_token(state, headers)?;
    let body = read_json(body, BODY_LIMIT, false).await?;
    let Some(event) = body.get("event").and_then(Value::as_str) else {
        return Err(ApiError::bad_request("event: missing or not a string"));
    };
    if event.starts_with("media.") {
        return Ok(ignored(state, "media events are ignored"));
    }
    if !event.starts_with("entry.") {
        return Ok(ignored(state, "not an entry event"));
    }
    let uid = match (body.get("uid"), body.get("model")) {
        (Some(Value::String(uid)), _) => uid.clone(),
        (None, Some(Value::String(model))) => match state.io.schemas().resolve(&json!(model)) {
            Some(ct) => ct.uid.clone(),
            None => return Ok(ignored(state, "unknown model")),
        },
        _ => return Err(ApiError::bad_request("uid: missing or not a string")),
    };
    let Some(entry) = body.get("entry").filter(|e| e.is_object()) else {
        return Err(ApiError::bad_request("entry: missing or not an object"));
    };
    if state.io.schemas().content_type(&uid).is_none() {
        return Ok(ignored(state, "unknown model"));
    }
    let Some(action) = action_for(&state.io, &uid, event) else {
        return Ok(ignored(state, "unsupported entry event"));
    };
    let report = state
        .io
        .emit(EmitOptions::new(action, &uid, entry.clone()))
        .await?;
    state.counters.emitted.fetch_add(1, Ordering::Relaxed);
    Ok(Json(json!({"data": report})).into_response())
}
