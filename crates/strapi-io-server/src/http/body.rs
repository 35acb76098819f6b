//! Reading requests: a JSON body within a size limit ([`read_json`]), its parameters into a
//! typed struct ([`params`]), and the `{ data }` envelope of a successful answer ([`data`]).
//! Every failure is an [`ApiError`].

use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::ApiError;

/// Reads a JSON request body of at most `limit` bytes (413 beyond, 400 when malformed).
/// An empty body is `{}` when `empty_is_object`, else an error like any malformed body.
pub(crate) async fn read_json(
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

/// The request's parameters as `T`; a missing or wrong field is a 400 naming its path
/// (`socketId: invalid type: …`).
pub(crate) fn params<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
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

/// The answer `{ data: v }`.
pub(crate) fn data(v: impl serde::Serialize) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "data": v })))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;

    #[tokio::test]
    async fn bodies_up_to_the_limit_are_read_and_larger_ones_drained_then_refused() {
        let ok = read_limited(axum::body::Body::from("x".repeat(100)), 100)
            .await
            .unwrap();
        assert_eq!(ok.len(), 100);
        let over = read_limited(axum::body::Body::from("x".repeat(101)), 100).await;
        assert_eq!(
            over.unwrap_err().into_response().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        // Far past what is drained: still 413, without reading it all.
        let huge = read_limited(axum::body::Body::from("x".repeat(100 * 64)), 100).await;
        assert_eq!(
            huge.unwrap_err().into_response().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            read_json(axum::body::Body::from(""), 10, true)
                .await
                .unwrap(),
            json!({})
        );
    }
}
