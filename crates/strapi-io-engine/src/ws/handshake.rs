//! The opening handshake (RFC 6455 §4.2): checking a client's upgrade request and computing
//! the `Sec-WebSocket-Accept` value. Writing the `101 Switching Protocols` response is the
//! caller's.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// The GUID RFC 6455 appends to the client's key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key` (base64 of the SHA-1 of
/// the key followed by the RFC 6455 GUID).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    STANDARD.encode(sha.finalize())
}

/// Which check of an upgrade request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The method is not `GET`.
    #[error("a WebSocket upgrade must be a GET request")]
    Method,
    /// No `Upgrade` header has the token `websocket`.
    #[error("missing `Upgrade: websocket`")]
    Upgrade,
    /// No `Connection` header has the token `upgrade`.
    #[error("missing `Connection: upgrade`")]
    Connection,
    /// `Sec-WebSocket-Version` is missing, repeated or not `13`.
    #[error("unsupported Sec-WebSocket-Version (only 13 is)")]
    Version,
    /// `Sec-WebSocket-Key` is missing.
    #[error("missing Sec-WebSocket-Key")]
    KeyMissing,
    /// `Sec-WebSocket-Key` is given more than once.
    #[error("repeated Sec-WebSocket-Key")]
    KeyRepeated,
    /// `Sec-WebSocket-Key` is not the base64 of 16 bytes.
    #[error("Sec-WebSocket-Key is not the base64 of 16 bytes")]
    KeyInvalid,
}

impl HandshakeError {
    /// The HTTP status to answer with: 405 for the method, 426 (with
    /// `Sec-WebSocket-Version: 13`) for the version, else 400.
    pub fn status(self) -> u16 {
        match self {
            Self::Method => 405,
            Self::Version => 426,
            _ => 400,
        }
    }
}

/// Checks an upgrade request: the method is `GET`; an `Upgrade` header has the token
/// `websocket` and a `Connection` header the token `upgrade` (both case-insensitive, in
/// comma-separated lists); `Sec-WebSocket-Version` is exactly `13`; `Sec-WebSocket-Key` is
/// given once and is the base64 of 16 bytes.
///
/// `headers(name)` yields the values of the header `name` (lowercase) in order, e.g.
/// `|name| map.get_all(name).iter().map(|v| v.as_bytes())` for an `http::HeaderMap`
/// (see [`check_upgrade_request`]). Returns the key, trimmed, for [`accept_key`].
pub fn check_upgrade<'h, F, I>(method: &str, headers: F) -> Result<&'h [u8], HandshakeError>
where
    F: Fn(&str) -> I,
    I: IntoIterator<Item = &'h [u8]>,
{
    if method != "GET" {
        return Err(HandshakeError::Method);
    }
    if !headers("upgrade")
        .into_iter()
        .any(|v| has_token(v, b"websocket"))
    {
        return Err(HandshakeError::Upgrade);
    }
    if !headers("connection")
        .into_iter()
        .any(|v| has_token(v, b"upgrade"))
    {
        return Err(HandshakeError::Connection);
    }
    let mut versions = headers("sec-websocket-version").into_iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.trim_ascii() == b"13" => {}
        _ => return Err(HandshakeError::Version),
    }
    let mut keys = headers("sec-websocket-key").into_iter();
    let key = match (keys.next(), keys.next()) {
        (None, _) => return Err(HandshakeError::KeyMissing),
        (Some(_), Some(_)) => return Err(HandshakeError::KeyRepeated),
        (Some(key), None) => key.trim_ascii(),
    };
    // 16 bytes are 24 base64 characters, the last two `==`.
    let mut decoded = [0; 18];
    match STANDARD.decode_slice(key, &mut decoded) {
        Ok(16) if key.len() == 24 => Ok(key),
        _ => Err(HandshakeError::KeyInvalid),
    }
}

/// [`check_upgrade`] for an `http` request's method and headers.
pub fn check_upgrade_request<'h>(
    method: &http::Method,
    headers: &'h http::HeaderMap,
) -> Result<&'h [u8], HandshakeError> {
    check_upgrade(method.as_str(), |name| {
        headers
            .get_all(name)
            .iter()
            .map(http::HeaderValue::as_bytes)
    })
}

/// Whether the comma-separated list `value` has `token` (ASCII case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// A valid request's headers, with `edit` applied.
    fn check(
        method: &str,
        edit: impl FnOnce(&mut Vec<(&'static str, &'static str)>),
    ) -> Result<Vec<u8>, HandshakeError> {
        let mut headers = vec![
            ("host", "example.com"),
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", KEY),
        ];
        edit(&mut headers);
        check_upgrade(method, |name| {
            headers
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_bytes())
                .collect::<Vec<_>>()
        })
        .map(<[u8]>::to_vec)
    }

    fn set(
        headers: &mut Vec<(&'static str, &'static str)>,
        name: &'static str,
        value: &'static str,
    ) {
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value));
    }

    fn remove(headers: &mut Vec<(&'static str, &'static str)>, name: &'static str) {
        headers.retain(|(n, _)| *n != name);
    }

    #[test]
    fn valid_request_returns_the_key() {
        assert_eq!(check("GET", |_| {}), Ok(KEY.as_bytes().to_vec()));
    }

    #[test]
    fn token_lists_are_case_insensitive() {
        let r = check("GET", |h| {
            set(h, "upgrade", "h2c, WebSocket");
            set(h, "connection", "keep-alive, UPGRADE");
        });
        assert_eq!(r, Ok(KEY.as_bytes().to_vec()));
        // A token spread over several header lines.
        let r = check("GET", |h| {
            set(h, "connection", "keep-alive");
            h.push(("connection", "upgrade"));
        });
        assert_eq!(r, Ok(KEY.as_bytes().to_vec()));
        // The key is trimmed.
        let r = check("GET", |h| {
            set(h, "sec-websocket-key", " dGhlIHNhbXBsZSBub25jZQ== ")
        });
        assert_eq!(r, Ok(KEY.as_bytes().to_vec()));
    }

    #[test]
    fn method_must_be_get() {
        assert_eq!(check("POST", |_| {}), Err(HandshakeError::Method));
        assert_eq!(check("get", |_| {}), Err(HandshakeError::Method));
        assert_eq!(HandshakeError::Method.status(), 405);
    }

    #[test]
    fn upgrade_must_name_websocket() {
        assert_eq!(
            check("GET", |h| remove(h, "upgrade")),
            Err(HandshakeError::Upgrade)
        );
        assert_eq!(
            check("GET", |h| set(h, "upgrade", "h2c")),
            Err(HandshakeError::Upgrade)
        );
        // A token, not a substring.
        assert_eq!(
            check("GET", |h| set(h, "upgrade", "websockets")),
            Err(HandshakeError::Upgrade)
        );
        assert_eq!(HandshakeError::Upgrade.status(), 400);
    }

    #[test]
    fn connection_must_name_upgrade() {
        assert_eq!(
            check("GET", |h| remove(h, "connection")),
            Err(HandshakeError::Connection)
        );
        assert_eq!(
            check("GET", |h| set(h, "connection", "keep-alive")),
            Err(HandshakeError::Connection)
        );
        assert_eq!(
            check("GET", |h| set(h, "connection", "keep-alive upgrade")),
            Err(HandshakeError::Connection)
        );
    }

    #[test]
    fn version_must_be_13() {
        assert_eq!(
            check("GET", |h| remove(h, "sec-websocket-version")),
            Err(HandshakeError::Version)
        );
        assert_eq!(
            check("GET", |h| set(h, "sec-websocket-version", "8")),
            Err(HandshakeError::Version)
        );
        assert_eq!(
            check("GET", |h| set(h, "sec-websocket-version", "13, 8")),
            Err(HandshakeError::Version)
        );
        assert_eq!(
            check("GET", |h| h.push(("sec-websocket-version", "13"))),
            Err(HandshakeError::Version)
        );
        assert_eq!(HandshakeError::Version.status(), 426);
    }

    #[test]
    fn key_must_be_one_base64_of_16_bytes() {
        assert_eq!(
            check("GET", |h| remove(h, "sec-websocket-key")),
            Err(HandshakeError::KeyMissing)
        );
        assert_eq!(
            check("GET", |h| h.push(("sec-websocket-key", KEY))),
            Err(HandshakeError::KeyRepeated)
        );
        for bad in [
            "",
            "not base64!!",
            // 15 bytes.
            "AAAAAAAAAAAAAAAAAAAA",
            // 17 bytes.
            "AAAAAAAAAAAAAAAAAAAAAAA=",
            // 16 bytes without padding.
            "dGhlIHNhbXBsZSBub25jZQ",
            // Bad characters in a 24-character key.
            "dGhlIHNhbXBsZSBub25jZ*==",
        ] {
            assert_eq!(
                check("GET", |h| set(h, "sec-websocket-key", bad)),
                Err(HandshakeError::KeyInvalid),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn http_request_adapter() {
        let mut map = http::HeaderMap::new();
        map.insert(
            http::header::UPGRADE,
            http::HeaderValue::from_static("websocket"),
        );
        map.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("Upgrade"),
        );
        map.insert(
            http::header::SEC_WEBSOCKET_VERSION,
            http::HeaderValue::from_static("13"),
        );
        map.insert(
            http::header::SEC_WEBSOCKET_KEY,
            http::HeaderValue::from_static(KEY),
        );
        assert_eq!(
            check_upgrade_request(&http::Method::GET, &map),
            Ok(KEY.as_bytes())
        );
        assert_eq!(
            check_upgrade_request(&http::Method::POST, &map),
            Err(HandshakeError::Method)
        );
        map.append(
            http::header::SEC_WEBSOCKET_KEY,
            http::HeaderValue::from_static(KEY),
        );
        assert_eq!(
            check_upgrade_request(&http::Method::GET, &map),
            Err(HandshakeError::KeyRepeated)
        );
    }
}
