//! [`ApiError`]: every error an HTTP route answers, in Strapi's shape
//! `{ data: null, error: { status, name, message, details } }`, and how the runtime's
//! [`IoError`]s map onto it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use strapi_io::IoError;

/// An error in Strapi's shape: `{ data: null, error: { status, name, message, details } }`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    name: &'static str,
    message: String,
    details: Value,
}

impl ApiError {
    /// 400 ValidationError.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            name: "ValidationError",
            message: message.into(),
            details: json!({}),
        }
    }

    /// 401 UnauthorizedError.
    pub(crate) fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            "Missing or invalid credentials",
        )
    }

    /// 503 ServiceUnavailableError.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableError",
            message,
        )
    }

    /// 413 PayloadTooLargeError.
    pub(crate) fn too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeError",
            format!("Request body larger than {limit} bytes"),
        )
    }

    /// 404 NotFoundError.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "NotFoundError", message)
    }

    /// 422 ValidationError with every problem in `details.errors`.
    pub(crate) fn invalid(message: impl Into<String>, errors: Value) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            name: "ValidationError",
            message: message.into(),
            details: json!({ "errors": errors }),
        }
    }

    /// Any status, with Strapi's error name for it.
    pub(crate) fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
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
