//! `POST /api/io/<methodName>`: every `$io` method as JSON RPC with the reference's
//! parameter names, answering `{ data }`, behind the admin bearer token; errors in Strapi's
//! shape.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use strapi_io::core::Settings;
use strapi_io::core::auth::constant_time_eq;
use strapi_io::{EmitOptions, Io, IoError, RawOptions};

use crate::populate::Populator;
use crate::store::SettingsStore;

/// What the RPC handlers share.
pub struct RpcState {
    /// The server.
    pub io: Io,
    /// Where the live settings are persisted.
    pub store: SettingsStore,
    /// The Strapi database directory, when it is the one in use (for invalidation).
    pub strapi_directory: Option<Arc<strapi_io::StrapiDirectory>>,
    /// What the webhook route has seen.
    pub webhooks: Arc<crate::entries::EntryCounters>,
    /// What the plugin entry's forwarder has sent (`entryEvents`).
    pub entry_events: Arc<crate::entries::EntryCounters>,
    /// Populates `emit` entries from Strapi's REST API (shared with the webhook route).
    pub populator: Populator,
    /// The bearer token; `None` turns the routes off (503).
    pub admin_token: Option<String>,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// `Idempotency-Key`s answered lately.
    pub idempotency: crate::idempotency::Idempotency,
}

/// An error in Strapi's shape: `{ data: null, error: { status, name, message, details } }`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    name: &'static str,
    message: String,
    details: Value,
}

impl ApiError {
    /// 400 ValidationError.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            name: "ValidationError",
            message: message.into(),
            details: json!({}),
        }
    }

    /// 401 UnauthorizedError.
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            "Missing or invalid credentials",
        )
    }

    /// 503 ServiceUnavailableError.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableError",
            message,
        )
    }

    /// 413 PayloadTooLargeError.
    pub fn too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeError",
            format!("Request body larger than {limit} bytes"),
        )
    }

    /// 404 NotFoundError.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "NotFoundError", message)
    }

    /// 422 ValidationError with every problem in `details.errors`.
    pub fn invalid(message: impl Into<String>, errors: Value) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            name: "ValidationError",
            message: message.into(),
            details: json!({ "errors": errors }),
        }
    }

    fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            name,
            message: message.into(),
            details: json!({}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "data": null,
            "error": {
                "status": self.status.as_u16(),
                "name": self.name,
                "message": self.message,
                "details": self.details,
            }
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<IoError> for ApiError {
    fn from(e: IoError) -> Self {
        match e {
            IoError::PayloadTooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeError",
                e.to_string(),
            ),
            IoError::Cluster(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableError",
                e.to_string(),
            ),
            IoError::Transport(_) => {
                tracing::error!(error = %e, "broadcast failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableError",
                    e.to_string(),
                )
            }
            _ => ApiError::bad_request(e.to_string()),
        }
    }
}

/// Reads a JSON request body of at most `limit` bytes (413 beyond, 400 when malformed).
/// An empty body is `{}` when `empty_is_object`, else an error like any malformed body.
pub async fn read_json(
    body: axum::body::Body,
    limit: usize,
    empty_is_object: bool,
) -> Result<Value, ApiError> {
    let bytes = read_limited(body, limit).await?;
    if empty_is_object && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}")))
}

/// Bytes of an oversized body read and dropped before answering 413 (a multiple of the
/// limit), so that the client, still sending, reads the answer instead of a reset.
const DRAIN_FACTOR: usize = 16;

/// A request body of at most `limit` bytes. Past the limit the rest is read and dropped (up
/// to [`DRAIN_FACTOR`] × the limit; the edge's body deadline bounds the time) before the 413:
/// closing a connection with unread input resets it, and a client still uploading then sees
/// the reset, not the answer.
async fn read_limited(
    mut body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let drain_max = limit.saturating_mul(DRAIN_FACTOR);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::bad_request("The request body could not be read"));
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > limit {
            kept = Vec::new();
            if seen > drain_max {
                break;
            }
        } else {
            kept.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(ApiError::too_large(limit));
    }
    Ok(axum::body::Bytes::from(kept))
}

/// Checks `Authorization: Bearer <admin token>` in constant time.
pub fn check_admin(state: &RpcState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.admin_token else {
        return Err(ApiError::unavailable(
            "The admin API is off: set server.adminToken in the config or STRAPI_IO_ADMIN_TOKEN",
        ));
    };
    match bearer_token(headers) {
        Some(t) if constant_time_eq(t, expected) => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

/// The token of the request's one `Authorization: Bearer <token>` line (the scheme
/// case-insensitive). `None` for any other scheme, a bare token, an empty token, or more
/// than one `Authorization` line (a request that could be read two ways).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut lines = headers.get_all(header::AUTHORIZATION).iter();
    let line = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    let (scheme, token) = line.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

fn params<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            ApiError::bad_request(inner)
        } else {
            ApiError::bad_request(format!("{path}: {inner}"))
        }
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SocketRoom {
    socket_id: String,
    room_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoomName {
    room_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SocketEvent {
    socket_id: String,
    event: String,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct NamespaceEvent {
    namespace: String,
    event: String,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Disconnect {
    socket_id: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SocketEntity {
    socket_id: String,
    uid: String,
    id: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SocketId {
    socket_id: String,
}

#[derive(Deserialize)]
struct EntityEvent {
    uid: String,
    id: Value,
    event: String,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct Entity {
    uid: String,
    id: Value,
}

fn data(v: impl serde::Serialize) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "data": v })))
}

/// Calls one `$io` method by its reference name (`emit` populates its entry first), or
/// `entryEvents`, the plugin entry's forwarded Strapi entry events ([`crate::entries`]).
pub async fn call(state: &RpcState, method: &str, body: Value) -> Result<Json<Value>, ApiError> {
    let (io, populator) = (&state.io, &state.populator);
    match method {
        "entryEvents" => {
            data(crate::entries::emit_batch(io, populator, &state.entry_events, body).await?)
        }
        "emit" => {
            let o: EmitOptions = params(body)?;
            let o = populator.populate(io, o).await;
            let report = io.emit(o).await?;
            match report.cluster_error {
                // Delivered to this node's clients only: say so, the call itself worked.
                Some(e) => Ok(Json(json!({"data": null, "meta": {"clusterError": e}}))),
                None => data(Value::Null),
            }
        }
        "raw" => {
            let o: RawOptions = params(body)?;
            io.raw(o).await?;
            data(Value::Null)
        }
        "joinRoom" => {
            let p: SocketRoom = params(body)?;
            data(io.join_room(&p.socket_id, &p.room_name).await?)
        }
        "leaveRoom" => {
            let p: SocketRoom = params(body)?;
            data(io.leave_room(&p.socket_id, &p.room_name).await?)
        }
        "getSocketsInRoom" => {
            let p: RoomName = params(body)?;
            data(io.sockets_in_room(&p.room_name).await?)
        }
        "sendPrivateMessage" => {
            let p: SocketEvent = params(body)?;
            io.send_private_message(&p.socket_id, &p.event, &p.data)
                .await?;
            data(Value::Null)
        }
        "broadcast" => {
            let p: SocketEvent = params(body)?;
            io.broadcast(&p.socket_id, &p.event, &p.data).await?;
            data(Value::Null)
        }
        "emitToNamespace" => {
            let p: NamespaceEvent = params(body)?;
            io.emit_to_namespace(&p.namespace, &p.event, &p.data)
                .await?;
            data(Value::Null)
        }
        "disconnectSocket" => {
            let p: Disconnect = params(body)?;
            data(
                io.disconnect_socket(&p.socket_id, p.reason.as_deref())
                    .await?,
            )
        }
        "subscribeToEntity" => {
            let p: SocketEntity = params(body)?;
            data(io.subscribe_to_entity(&p.socket_id, &p.uid, &p.id).await)
        }
        "unsubscribeFromEntity" => {
            let p: SocketEntity = params(body)?;
            data(
                io.unsubscribe_from_entity(&p.socket_id, &p.uid, &p.id)
                    .await,
            )
        }
        "getEntitySubscriptions" => {
            let p: SocketId = params(body)?;
            data(io.entity_subscriptions(&p.socket_id).await)
        }
        "emitToEntity" => {
            let p: EntityEvent = params(body)?;
            io.emit_to_entity(&p.uid, &p.id, &p.event, &p.data).await?;
            data(Value::Null)
        }
        "getEntityRoomSockets" => {
            let p: Entity = params(body)?;
            data(io.entity_room_sockets(&p.uid, &p.id).await?)
        }
        other => Err(ApiError::not_found(format!("Unknown method: {other}"))),
    }
}

/// `POST /api/io/directory/invalidate`: drops the Strapi directory's cache, so that a change
/// in Strapi's users, roles, permissions or tokens is seen at the next handshake.
pub async fn invalidate_directory(
    State(state): State<Arc<RpcState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    check_admin(&state, &headers)?;
    let Some(directory) = &state.strapi_directory else {
        return Err(ApiError::bad_request(
            "The static directory has no cache: it reads the config file",
        ));
    };
    directory.invalidate().await.map_err(|e| {
        tracing::error!(error = %e, "directory reload failed");
        ApiError::unavailable(format!("The Strapi database could not be read: {e}"))
    })?;
    data(json!({"invalidated": true}))
}

/// `GET /api/io/settings`: `{data: settings}`.
pub async fn get_settings(
    State(state): State<Arc<RpcState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    check_admin(&state, &headers)?;
    data(state.io.settings())
}

/// `PUT /api/io/settings`: validates the whole document (422 with every problem), persists
/// it (a failed write leaves the live settings unchanged), applies it without restart, and
/// answers `{data: settings, reloaded: true}`.
pub async fn put_settings(
    State(state): State<Arc<RpcState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    check_admin(&state, &headers)?;
    let doc = read_json(body, state.body_limit, false).await?;
    let settings = Settings::from_document(&doc).map_err(|problems| {
        let list: Vec<Value> = problems
            .iter()
            .map(|p| json!({"path": p.path, "message": p.message}))
            .collect();
        ApiError::invalid(
            format!("Invalid settings: {} problem(s)", list.len()),
            Value::Array(list),
        )
    })?;
    if let Err(e) = state.store.save(&settings).await {
        tracing::error!(error = %e, "could not persist the settings");
        return Err(ApiError::unavailable(format!(
            "The settings could not be saved, nothing changed: {e}"
        )));
    }
    let dropped = state
        .io
        .apply_settings(settings.clone())
        .map_err(|problems| ApiError::invalid("Invalid settings", json!(problems)))?;
    let mut answer = json!({"data": settings, "reloaded": true, "disconnected": dropped});
    if state.io.cluster_status().enabled {
        // Applied here either way; the other nodes get them when Redis answers.
        answer["cluster"] = match state.io.share_settings(&settings).await {
            Ok(()) => json!({"shared": true}),
            Err(e) => json!({"shared": false, "error": e.to_string()}),
        };
    }
    Ok(Json(answer))
}

/// The axum handler for `POST /api/io/{method}`.
pub async fn handler(
    State(state): State<Arc<RpcState>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    check_admin(&state, &headers)?;
    let key = idempotency_key(&headers)?;
    let body = read_json(body, state.body_limit, true).await?;
    if !body.is_object() {
        return Err(ApiError::bad_request("The body must be a JSON object"));
    }
    let Some(key) = key else {
        return call(&state, &method, body).await;
    };
    use crate::idempotency::Begin;
    let key = format!("{method}\u{0}{key}");
    match state.idempotency.begin(&key, std::time::Instant::now()) {
        Begin::Replay(mut answer) => {
            if let Value::Object(map) = &mut answer {
                let meta = map.entry("meta").or_insert_with(|| json!({}));
                if let Value::Object(meta) = meta {
                    meta.insert("duplicate".into(), Value::Bool(true));
                }
            }
            Ok(Json(answer))
        }
        Begin::InFlight => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ConflictError",
            "A request with this Idempotency-Key is still running; retry later",
        )),
        Begin::New => {
            let result = call(&state, &method, body).await;
            state
                .idempotency
                .finish(&key, result.as_ref().ok().map(|Json(v)| v));
            result
        }
    }
}

/// The request's `Idempotency-Key` (one line, 1 to 200 visible ASCII characters), if any.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut lines = headers.get_all("idempotency-key").iter();
    let Some(line) = lines.next() else {
        return Ok(None);
    };
    let key = line
        .to_str()
        .ok()
        .filter(|k| crate::idempotency::valid_key(k));
    match (key, lines.next()) {
        (Some(k), None) => Ok(Some(k.to_string())),
        _ => Err(ApiError::bad_request(
            "Idempotency-Key: one line of 1 to 200 visible ASCII characters",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_up_to_the_limit_are_read_and_larger_ones_drained_then_refused() {
        let ok = read_limited(axum::body::Body::from("x".repeat(100)), 100)
            .await
            .unwrap();
        assert_eq!(ok.len(), 100);
        let over = read_limited(axum::body::Body::from("x".repeat(101)), 100).await;
        assert_eq!(over.unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
        // Far past what is drained: still 413, without reading it all.
        let huge = read_limited(axum::body::Body::from("x".repeat(100 * 64)), 100).await;
        assert_eq!(huge.unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            read_json(axum::body::Body::from(""), 10, true)
                .await
                .unwrap(),
            json!({})
        );
    }
}
