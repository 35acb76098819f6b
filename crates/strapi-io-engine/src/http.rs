//! The HTTP edge of the engine: reads the Engine.IO query (`EIO`, `transport`, `sid`,
//! `b64`), refuses what the protocol does not allow with Engine.IO's error codes, opens
//! sessions, and hands requests to the transport.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response};
use http_body_util::Full;

use crate::conn::Phase;
use crate::handler::Handler;
use crate::id::Id;
use crate::open::{open, open_packet};
use crate::proto::engine::EioVersion;
use crate::response::{EioError, eio_error, refusal, respond};
use crate::state::Inner;

/// The transport a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    Polling,
    Websocket,
}

/// What the engine reads of a query string: the first occurrence of each key,
/// percent-decoded.
#[derive(Debug, Default)]
pub(crate) struct Query {
    eio: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
    b64: bool,
}

impl Query {
    pub(crate) fn parse(query: Option<&str>) -> Query {
        let mut q = Query::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let slot = match &*k {
                "EIO" => &mut q.eio,
                "transport" => &mut q.transport,
                "sid" => &mut q.sid,
                "b64" => {
                    q.b64 |= !v.is_empty() && v != "0" && v != "false";
                    continue;
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v.into_owned());
            }
        }
        q
    }
}

pub(crate) async fn handle<H, B>(
    inner: &Arc<Inner<H>>,
    req: http::Request<B>,
) -> Response<Full<Bytes>>
where
    H: Handler,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let config = &inner.config;
    let q = Query::parse(req.uri().query());
    let wanted = match q.transport.as_deref() {
        Some("polling") if config.polling => Wanted::Polling,
        Some("websocket") if config.websocket => Wanted::Websocket,
        _ => return eio_error(EioError::UnknownTransport),
    };
    // Stricter than Node, which reads any EIO other than "4" as 3: only the two revisions
    // served are accepted.
    let version = match q.eio.as_deref() {
        Some("4") => EioVersion::V4,
        Some("3") if config.allow_eio3 => EioVersion::V3,
        _ => return eio_error(EioError::UnsupportedProtocolVersion),
    };
    match q.sid.as_deref() {
        Some(sid) => {
            let Some(conn) = Id::parse(sid).and_then(|id| inner.session(&id)) else {
                return eio_error(EioError::UnknownSid);
            };
            if conn.version != version {
                return eio_error(EioError::BadRequest);
            }
            match wanted {
                Wanted::Polling => crate::polling::request(inner, conn, req).await,
                Wanted::Websocket => crate::websocket::upgrade(inner, Some(conn), version, req),
            }
        }
        None => {
            if req.method() != Method::GET {
                return eio_error(EioError::BadHandshakeMethod);
            }
            match wanted {
                Wanted::Polling => open_polling(inner, version, q.b64, req),
                Wanted::Websocket => crate::websocket::upgrade(inner, None, version, req),
            }
        }
    }
}

/// Opens a session over long-polling: the open packet is the answer.
fn open_polling<H: Handler, B>(
    inner: &Arc<Inner<H>>,
    version: EioVersion,
    b64: bool,
    req: http::Request<B>,
) -> Response<Full<Bytes>> {
    let (parts, _body) = req.into_parts();
    let conn = match open(inner, version, Phase::Polling, b64, &parts) {
        Ok(conn) => conn,
        Err(r) => return refusal(&r),
    };
    let upgrades: &[&str] = if inner.config.websocket {
        &["websocket"]
    } else {
        &[]
    };
    let open = open_packet(inner, &conn, upgrades);
    tokio::spawn(crate::polling::heartbeat(inner.clone(), conn.clone()));
    let mut out = Vec::new();
    let st = conn.lock();
    let items = [crate::proto::payload::OutItem::Text(open.as_bytes())];
    let encoded = crate::proto::payload::encode_payload(version, st.b64, &items, &mut out);
    drop(st);
    respond(encoded.content_type, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_read_first_occurrence_and_percent_decoded() {
        let q = Query::parse(Some("EIO=4&transport=polling&sid=a%2Bb&sid=zzz&b64=1"));
        assert_eq!(q.eio.as_deref(), Some("4"));
        assert_eq!(q.transport.as_deref(), Some("polling"));
        assert_eq!(q.sid.as_deref(), Some("a+b"));
        assert!(q.b64);
        let q = Query::parse(None);
        assert!(q.eio.is_none() && q.transport.is_none() && !q.b64);
    }
}
