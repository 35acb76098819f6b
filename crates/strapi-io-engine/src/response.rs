//! The engine's HTTP answers: Engine.IO's error codes (`{"code", "message"}`), an
//! application's refusal, and plain bodies.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;

use crate::handler::Refusal;

/// Engine.IO's errors, answered with 400 and `{"code", "message"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EioError {
    UnknownTransport,
    UnknownSid,
    BadHandshakeMethod,
    BadRequest,
    UnsupportedProtocolVersion,
}

impl EioError {
    pub(crate) fn code_message(self) -> (u8, &'static str) {
        match self {
            EioError::UnknownTransport => (0, "Transport unknown"),
            EioError::UnknownSid => (1, "Session ID unknown"),
            EioError::BadHandshakeMethod => (2, "Bad handshake method"),
            EioError::BadRequest => (3, "Bad request"),
            EioError::UnsupportedProtocolVersion => (5, "Unsupported protocol version"),
        }
    }
}

/// A JSON error answer.
pub(crate) fn error_response(status: StatusCode, code: u8, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

pub(crate) fn eio_error(e: EioError) -> Response<Full<Bytes>> {
    let (code, message) = e.code_message();
    error_response(StatusCode::BAD_REQUEST, code, message)
}

pub(crate) fn refusal(r: &Refusal) -> Response<Full<Bytes>> {
    error_response(r.status, r.code, &r.message)
}

/// A plain answer with a body.
pub(crate) fn respond(content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_engine_io_codes() {
        assert_eq!(EioError::UnknownTransport.code_message().0, 0);
        assert_eq!(EioError::UnknownSid.code_message().1, "Session ID unknown");
        assert_eq!(EioError::UnsupportedProtocolVersion.code_message().0, 5);
    }
}
