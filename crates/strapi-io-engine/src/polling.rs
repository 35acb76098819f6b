//! HTTP long-polling: `GET` waits for queued packets (or a noop when an upgrade needs the
//! poll back), `POST` carries the client's packets, and a small task per polling session
//! keeps its heartbeat until a WebSocket takes over.

use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use tokio::time::Instant;

use crate::conn::{Beat, Conn, Phase};
use crate::handler::{DisconnectReason, Handler};
use crate::packet::Out;
use crate::proto::payload::{InItem, OutItem, decode_payload, encode_payload};
use crate::response::{EioError, eio_error, error_response, respond};
use crate::state::Inner;

/// Packets one `POST` may carry.
const MAX_PACKETS_PER_POST: usize = 1024;

pub(crate) async fn request<H, B>(
    inner: &Arc<Inner<H>>,
    conn: Arc<Conn<H>>,
    req: http::Request<B>,
) -> Response<Full<Bytes>>
where
    H: Handler,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match *req.method() {
        Method::GET => get(inner, conn).await,
        Method::POST => post(inner, conn, req.into_body()).await,
        _ => eio_error(EioError::BadRequest),
    }
}

/// Why a request for a session that is gone, no longer polling, or past its deadline is
/// refused; `Ok` when the request may go on.
fn usable<H: Handler>(
    inner: &Arc<Inner<H>>,
    conn: &Arc<Conn<H>>,
    get: bool,
) -> Result<(), EioError> {
    let expired = {
        let st = conn.lock();
        if st.closed.is_some() {
            // A closed session's last poll fetches what was left for it.
            return if get && !st.outbox.is_empty() && st.phase != Phase::Websocket {
                Ok(())
            } else {
                Err(EioError::UnknownSid)
            };
        }
        if st.phase == Phase::Websocket {
            return Err(EioError::BadRequest);
        }
        st.heartbeat.expired(Instant::now(), conn.version)
    };
    if expired {
        inner.close(conn, DisconnectReason::PingTimeout);
        return Err(EioError::UnknownSid);
    }
    Ok(())
}

/// Clears a request's flag when the request ends, answered or dropped.
struct Busy<'a, H: Handler> {
    conn: &'a Conn<H>,
    get: bool,
}

impl<H: Handler> Drop for Busy<'_, H> {
    fn drop(&mut self) {
        let mut st = self.conn.lock();
        if self.get {
            st.polling = false;
        } else {
            st.posting = false;
        }
    }
}

/// What a waiting `GET` answers.
enum Answer {
    Packets(std::collections::VecDeque<Out>),
    Noop,
    Closed(DisconnectReason, std::collections::VecDeque<Out>),
}

async fn get<H: Handler>(inner: &Arc<Inner<H>>, conn: Arc<Conn<H>>) -> Response<Full<Bytes>> {
    if let Err(refused) = usable(inner, &conn, true) {
        return eio_error(refused);
    }
    let overlap = {
        let mut st = conn.lock();
        std::mem::replace(&mut st.polling, true)
    };
    if overlap {
        // Two polls at once: the protocol allows one.
        inner.close(&conn, DisconnectReason::TransportError);
        return eio_error(EioError::BadRequest);
    }
    let _busy = Busy {
        conn: &conn,
        get: true,
    };
    let max = usize::try_from(inner.config.max_payload).unwrap_or(usize::MAX);
    let ready = |conn: &Conn<H>| {
        let mut st = conn.lock();
        if let Some(reason) = st.closed {
            return Some(Answer::Closed(reason, std::mem::take(&mut st.outbox)));
        }
        if !st.outbox.is_empty() {
            return Some(Answer::Packets(Conn::take(&mut st, max)));
        }
        if matches!(st.phase, Phase::Probed | Phase::Websocket) {
            return Some(Answer::Noop);
        }
        None
    };
    let answer = std::future::poll_fn(|cx| {
        // Registered only to wait: a WebSocket that took over must keep its registration.
        if let Some(answer) = ready(&conn) {
            return Poll::Ready(answer);
        }
        conn.waker.register(cx.waker());
        match ready(&conn) {
            Some(answer) => Poll::Ready(answer),
            None => Poll::Pending,
        }
    })
    .await;
    let noop = Out::Text(Bytes::from_static(b"6"));
    let close = Out::Text(Bytes::from_static(b"1"));
    let items = match answer {
        Answer::Packets(items) => items,
        Answer::Noop => [noop].into(),
        // The client closed the session itself: its last poll ends with a noop.
        Answer::Closed(DisconnectReason::ForcedClose, _) => [noop].into(),
        Answer::Closed(_, mut items) => {
            inner.forget(&conn.sid);
            items.push_back(close);
            items
        }
    };
    let b64 = conn.lock().b64;
    let list: Vec<OutItem<'_>> = items
        .iter()
        .map(|o| match o {
            Out::Text(b) => OutItem::Text(b),
            Out::Binary(b) => OutItem::Binary(b),
        })
        .collect();
    let mut body = Vec::new();
    let encoded = encode_payload(conn.version, b64, &list, &mut body);
    respond(encoded.content_type, body)
}

async fn post<H, B>(inner: &Arc<Inner<H>>, conn: Arc<Conn<H>>, body: B) -> Response<Full<Bytes>>
where
    H: Handler,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if let Err(refused) = usable(inner, &conn, false) {
        return eio_error(refused);
    }
    let overlap = {
        let mut st = conn.lock();
        std::mem::replace(&mut st.posting, true)
    };
    if overlap {
        inner.close(&conn, DisconnectReason::TransportError);
        return eio_error(EioError::BadRequest);
    }
    let busy = Busy {
        conn: &conn,
        get: false,
    };
    let max = usize::try_from(inner.config.max_payload).unwrap_or(usize::MAX);
    let bytes = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            drop(busy);
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            inner.close(&conn, DisconnectReason::TransportError);
            return if too_large {
                error_response(StatusCode::PAYLOAD_TOO_LARGE, 3, "Payload too large")
            } else {
                eio_error(EioError::BadRequest)
            };
        }
    };
    drop(busy);
    let items = match decode_payload(conn.version, &bytes, MAX_PACKETS_PER_POST) {
        Ok(items) => items,
        Err(_) => {
            inner.close(&conn, DisconnectReason::ParseError);
            return eio_error(EioError::BadRequest);
        }
    };
    for item in items {
        let result = match item {
            InItem::Text(kind, data) => crate::eio::on_packet(inner, &conn, kind, &data),
            InItem::Binary(data) => crate::sio::on_binary(inner, &conn, &data),
        };
        if let Err(reason) = result {
            inner.close(&conn, reason);
            break;
        }
    }
    respond("text/html", Bytes::from_static(b"ok"))
}

/// The heartbeat of a session while it polls; ends when a WebSocket takes over or the
/// session closes.
pub(crate) async fn heartbeat<H: Handler>(inner: Arc<Inner<H>>, conn: Arc<Conn<H>>) {
    loop {
        let beat = {
            let mut st = conn.lock();
            if st.closed.is_some() || st.phase == Phase::Websocket {
                return;
            }
            if st.overflowed {
                Beat::Close(DisconnectReason::SlowConsumer)
            } else {
                let connected = !st.sockets.is_empty() || !st.joining.is_empty();
                st.heartbeat
                    .beat(Instant::now(), conn.version, connected, &inner.config)
            }
        };
        match beat {
            Beat::Wait(at) => tokio::time::sleep_until(at).await,
            Beat::Pinged(at) => {
                conn.send_control(b"2");
                tokio::time::sleep_until(at).await;
            }
            Beat::Close(reason) => {
                inner.close(&conn, reason);
                return;
            }
        }
    }
}
