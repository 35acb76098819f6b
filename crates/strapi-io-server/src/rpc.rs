//! `POST /api/io/<methodName>`: every `$io` method as JSON RPC with the reference's
//! parameter names, answering `{ data }`, behind the admin bearer token; errors in Strapi's
//! shape. Also the admin routes of the settings (`GET`/`PUT /api/io/settings`) and of the
//! Strapi directory (`POST /api/io/directory/invalidate`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use strapi_io::core::Settings;
use strapi_io::core::settings::SettingsProblem;
use strapi_io::{EmitOptions, RawOptions};

use crate::http::auth::AdminToken;
use crate::http::body::{data, params, read_json};
use crate::http::error::ApiError;
use crate::state::AppState;

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

/// Calls one `$io` method by its reference name, or `entryEvents`, the plugin entry's
/// forwarded Strapi entry events ([`crate::entries`]).
async fn call(state: &AppState, method: &str, body: Value) -> Result<Json<Value>, ApiError> {
    let io = &state.io;
    match method {
        "entryEvents" => data(
            crate::entries::emit_batch(io, &state.populator, &state.entry_events, body)
                .await
                .map_err(ApiError::bad_request)?,
        ),
        "emit" => {
            let o: EmitOptions = params(body)?;
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
pub(crate) async fn invalidate_directory(
    _: AdminToken,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
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
pub(crate) async fn get_settings(
    _: AdminToken,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    data(state.io.settings())
}

/// 422 with every problem as `{path, message}` in `details.errors`.
fn invalid_settings(problems: Vec<SettingsProblem>) -> ApiError {
    ApiError::invalid(
        format!("Invalid settings: {} problem(s)", problems.len()),
        json!(problems),
    )
}

/// `PUT /api/io/settings`: validates the whole document (422 with every problem), persists
/// it (a failed write leaves the live settings unchanged), applies it without restart, and
/// answers `{data: settings, reloaded: true}`.
pub(crate) async fn put_settings(
    _: AdminToken,
    State(state): State<AppState>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let doc = read_json(body, state.body_limit, false).await?;
    let settings = Settings::from_document(&doc).map_err(invalid_settings)?;
    if let Err(e) = state.store.save(&settings).await {
        tracing::error!(error = %e, "could not persist the settings");
        return Err(ApiError::unavailable(format!(
            "The settings could not be saved, nothing changed: {e}"
        )));
    }
    let dropped = state
        .io
        .apply_settings(settings.clone())
        .map_err(invalid_settings)?;
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
pub(crate) async fn handler(
    State(state): State<AppState>,
    Path(method): Path<String>,
    _: AdminToken,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
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
