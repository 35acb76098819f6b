//! The request guard in front of the transport ([`SessionGuard`]).
//!
//! - **One reading of the query.** A request to the Socket.IO path is refused (400 `Bad
//!   request`) when its query could be read two ways: a key that only percent-decoding turns
//!   into a protocol key (`s%69d`), a protocol key given twice, or a protocol value with
//!   characters the protocol never uses. What passes reads one way only: the engine takes
//!   each key's first occurrence, percent-decoded, which for such a query is the literal
//!   `key=value` segment the guard saw.
//! - **Sessions are bearer secrets**, as in Node: the Engine.IO session id never leaves its
//!   transport (socket ids are drawn separately), so a polling session may continue from
//!   another address (dual-stack clients, proxy pools).
//! - **New sessions are pending.** A request that opens a session (no `sid`) takes a pending
//!   place for its peer address (the limits of [`Io::serve`](crate::Io::serve)), carried in
//!   its extensions until the socket is admitted; over a limit it is answered 503.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, Response, StatusCode, header};
use futures_util::future::BoxFuture;

use crate::live::Live;
use crate::shared::Shared;

/// Serves the Socket.IO path with the engine, other paths with the inner service; see the
/// module docs.
#[derive(Clone)]
pub struct SessionGuard<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
    /// The Socket.IO path (`/socket.io`), matched as the transport matches it.
    pub(crate) path: Arc<str>,
}

/// The peer address of a connection, as [`Io::serve`](crate::Io::serve) puts it in each
/// request's extensions (`ConnectInfo<ClientAddr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The TCP peer of a request, from axum's connect info (`SocketAddr` or [`ClientAddr`]).
pub(crate) fn peer_ip(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .or_else(|| {
            extensions
                .get::<ConnectInfo<ClientAddr>>()
                .map(|c| c.0.0.ip())
        })
}

/// The client address of a request under the live address rules: the peer, or the
/// forwarded address from every `X-Forwarded-For` line when the peer is a trusted proxy.
/// `None` when the peer is not known, or the hop that decides cannot be read.
pub(crate) fn client_ip(
    live: &Live,
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = peer_ip(extensions)?;
    let lines = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.as_bytes());
    live.access.client_ip(peer, lines)
}

/// The query keys the transport or the handshake read.
const PROTOCOL_KEYS: [&str; 7] = ["EIO", "transport", "sid", "b64", "j", "token", "strategy"];

/// Why a query is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ambiguity {
    /// A key that percent-decodes to a protocol key (`s%69d`, `%73id`).
    EncodedKey,
    /// A protocol key given more than once.
    Repeated,
    /// A protocol value (but `token`) with a character outside `[A-Za-z0-9_-]`.
    Value,
}

/// Reads a Socket.IO request's query and returns its literal `sid` (whether the request
/// names a session), or why the query could be read two ways.
pub(crate) fn read_query(query: &str) -> Result<Option<&str>, Ambiguity> {
    let mut seen = [0u8; PROTOCOL_KEYS.len()];
    let mut sid = None;
    for segment in query.split('&') {
        let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
        let decoded: String = form_urlencoded::parse(key.as_bytes())
            .next()
            .map(|(k, _)| k.into_owned())
            .unwrap_or_default();
        if decoded != key
            && PROTOCOL_KEYS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&decoded))
        {
            return Err(Ambiguity::EncodedKey);
        }
        let Some(index) = PROTOCOL_KEYS.iter().position(|p| *p == key) else {
            continue;
        };
        seen[index] += 1;
        if seen[index] > 1 {
            return Err(Ambiguity::Repeated);
        }
        if key != "token"
            && !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Ambiguity::Value);
        }
        if key == "sid" && segment.starts_with("sid=") {
            sid = Some(value);
        }
    }
    Ok(sid)
}

/// Whether `path` is served by the transport mounted at `mount` (its own rule).
fn under(path: &str, mount: &str) -> bool {
    path.strip_prefix(mount)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || mount.ends_with('/'))
}

/// An Engine.IO error answer, as the transport writes its own.
fn refusal(code: u8, message: &str) -> Response<Body> {
    let mut res = Response::new(Body::from(format!(
        "{{\"code\":{code},\"message\":\"{message}\"}}"
    )));
    *res.status_mut() = StatusCode::BAD_REQUEST;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    res
}

impl Shared {
    /// `Some(answer)` when the request must not reach the engine.
    fn guard<B>(&self, req: &mut Request<B>) -> Option<Response<Body>> {
        let query = req.uri().query().unwrap_or_default();
        match read_query(query) {
            Ok(Some(_)) => None,
            Ok(None) => self.hold_session_place(req),
            Err(why) => {
                self.counters
                    .ambiguous_requests
                    .fetch_add(1, Ordering::Relaxed);
                metrics::counter!("strapi_io_ambiguous_requests_total").increment(1);
                tracing::warn!(?why, "request with a query that reads two ways refused");
                Some(refusal(3, "Bad request"))
            }
        }
    }

    /// A request that opens a session takes a pending place for it (see
    /// [`SessionPlace`](crate::pending::SessionPlace)); over a pending limit it is answered 503.
    fn hold_session_place<B>(&self, req: &mut Request<B>) -> Option<Response<Body>> {
        let peer = peer_ip(req.extensions())?;
        match self.pending.admit(peer, &self.settings()) {
            Some(place) => {
                req.extensions_mut()
                    .insert(crate::pending::SessionPlace(Arc::new(place)));
                None
            }
            None => {
                self.refused_pending(peer);
                let mut res = refusal(4, "Too many connections waiting for their handshake");
                *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                res.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                Some(res)
            }
        }
    }
}

impl<S, B, R> tower::Service<Request<B>> for SessionGuard<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: HttpBody<Data = Bytes> + Send + 'static,
    R::Error: Into<axum::BoxError>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if !under(req.uri().path(), &self.path) {
            let fut = self.inner.call(req);
            return Box::pin(async move { fut.await.map(|res| res.map(Body::new)) });
        }
        if let Some(answer) = self.shared.guard(&mut req) {
            return Box::pin(std::future::ready(Ok(answer)));
        }
        let shared = self.shared.clone();
        Box::pin(async move { Ok(shared.engine.handle(req).await.map(Body::new)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sid_is_the_first_literal_one() {
        assert_eq!(read_query("EIO=4&transport=polling"), Ok(None));
        assert_eq!(
            read_query("EIO=4&transport=polling&sid=AAAAAAAAAAAAAAHs"),
            Ok(Some("AAAAAAAAAAAAAAHs"))
        );
        assert_eq!(read_query("sid=abc&t=P1x&EIO=4"), Ok(Some("abc")));
        assert_eq!(read_query(""), Ok(None));
        assert_eq!(read_query("sid="), Ok(Some("")));
        // what only a decoder would call something else is left to the transport
        assert_eq!(read_query("Sid=x&sid=y"), Ok(Some("y")));
        assert_eq!(read_query("token=a%2Bb%3D&EIO=4"), Ok(None));
    }

    #[test]
    fn queries_that_read_two_ways_are_refused() {
        for (q, why) in [
            // the decoy of the report: a decoder sees `sid=x` first
            (
                "EIO=4&transport=polling&s%69d=x&sid=VICTIM",
                Ambiguity::EncodedKey,
            ),
            ("EIO=4&%73id=x", Ambiguity::EncodedKey),
            ("EIO=4&transport=polling&%53ID=x", Ambiguity::EncodedKey),
            ("E%49O=3&EIO=4", Ambiguity::EncodedKey),
            (
                "tr%61nsport=websocket&transport=polling",
                Ambiguity::EncodedKey,
            ),
            ("tok%65n=x", Ambiguity::EncodedKey),
            ("EIO=4&sid=a&sid=b", Ambiguity::Repeated),
            ("EIO=4&EIO=3", Ambiguity::Repeated),
            ("EIO&EIO=4", Ambiguity::Repeated),
            ("transport=polling&transport=websocket", Ambiguity::Repeated),
            ("token=a&token=b", Ambiguity::Repeated),
            ("EIO=4&sid=a%42", Ambiguity::Value),
            ("EIO=4&sid=a+b", Ambiguity::Value),
            ("EIO=4=3", Ambiguity::Value),
            ("EIO=4&transport=polling&sid=x=y", Ambiguity::Value),
            ("b64=1%00", Ambiguity::Value),
        ] {
            assert_eq!(read_query(q), Err(why), "{q}");
        }
    }

    #[test]
    fn the_mount_is_matched_as_the_transport_does() {
        assert!(under("/socket.io", "/socket.io"));
        assert!(under("/socket.io/", "/socket.io"));
        assert!(!under("/socket.iox", "/socket.io"));
        assert!(!under("/api/io/stats", "/socket.io"));
        assert!(under("/socket.io/x", "/socket.io/"));
    }
}
