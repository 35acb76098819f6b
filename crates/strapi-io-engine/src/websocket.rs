//! WebSocket: the upgrade (a new session, or a polling session probing its way over), and
//! the one task that then runs the connection — reads, writes and heartbeat.
//!
//! Memory per connection is the point: reads land in a per-thread scratch buffer and only
//! an unfinished frame is kept; writes are framed into a per-thread buffer straight from
//! the shared packets and written at once, only an unwritten rest is kept; the queue lives
//! in the session and is freed when drained.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::conn::{Beat, Conn, Phase};
use crate::handler::{DisconnectReason, Handler};
use crate::open::{open, open_packet};
use crate::packet::Out;
use crate::proto::engine::{EioVersion, PacketKind, parse_text};
use crate::response::{EioError, eio_error, error_response};
use crate::state::Inner;
use crate::ws::{Decoder, Message, OpCode, close_frame, write_header};

/// Bytes read at once into the per-thread scratch buffer.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes of queued packets framed and written at once.
const WRITE_BATCH: usize = 64 * 1024;
/// Queues shorter than this wait one scheduler round before being written (see
/// `poll_flush`).
const DEFER_BELOW: usize = 32;
/// A per-thread write buffer larger than this is given back after use.
const WRITE_KEEP: usize = 256 * 1024;
/// How long a polling session's WebSocket may take to finish its upgrade.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the last writes (queued packets, the close frame) may take at the end.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

thread_local! {
    static READ: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
    static WRITE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Answers a WebSocket upgrade request: `101` and a task for the connection, or an error.
pub(crate) fn upgrade<H: Handler, B>(
    inner: &Arc<Inner<H>>,
    existing: Option<Arc<Conn<H>>>,
    version: EioVersion,
    mut req: http::Request<B>,
) -> Response<Full<Bytes>> {
    let key = match crate::ws::check_upgrade_request(req.method(), req.headers()) {
        Ok(key) => key.to_vec(),
        Err(_) => return eio_error(EioError::BadRequest),
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            3,
            "Upgrades are not served here",
        );
    };
    let (parts, _body) = req.into_parts();
    let (conn, probing) = match existing {
        Some(conn) => {
            let mut st = conn.lock();
            if st.closed.is_some() || st.phase != Phase::Polling {
                return eio_error(EioError::BadRequest);
            }
            st.phase = Phase::Upgrading;
            drop(st);
            (conn, true)
        }
        None => match open(inner, version, Phase::Websocket, false, &parts) {
            Ok(conn) => (conn, false),
            Err(r) => return error_response(r.status, r.code, &r.message),
        },
    };
    drop(parts);
    let inner = inner.clone();
    let running = inner.running.enter();
    tokio::spawn(async move {
        let _running = running;
        match on_upgrade.await {
            Ok(upgraded) => run(inner, conn, TokioIo::new(upgraded), probing).await,
            Err(_) if probing => cancel_upgrade(&conn),
            Err(_) => inner.close(&conn, DisconnectReason::TransportError),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, crate::ws::accept_key(&key))
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}

/// A probing WebSocket went away: the session goes on polling.
fn cancel_upgrade<H: Handler>(conn: &Conn<H>) {
    let mut st = conn.lock();
    if matches!(st.phase, Phase::Upgrading | Phase::Probed) {
        st.phase = Phase::Polling;
    }
}

/// How a connection ends.
#[derive(Debug, Clone, Copy)]
struct Exit {
    reason: DisconnectReason,
    /// The close code to send, if a close frame is still due.
    code: Option<u16>,
}

impl Exit {
    fn new(reason: DisconnectReason, code: u16) -> Self {
        Exit {
            reason,
            code: Some(code),
        }
    }
}

/// The connection's state, owned by its task.
struct Ws<H: Handler, S> {
    inner: Arc<Inner<H>>,
    conn: Arc<Conn<H>>,
    io: S,
    decoder: Decoder,
    /// Framed bytes not written yet.
    tail: Vec<u8>,
    /// Since when a write has been waiting for the client to read.
    blocked_since: Option<Instant>,
    /// Still proving the upgrade of a polling session.
    probing: bool,
    /// A short queue was left for one scheduler round so that more packets could join it.
    deferred: bool,
    /// Set while handling read messages: why to stop.
    exit: Option<Exit>,
}

async fn run<H, S>(inner: Arc<Inner<H>>, conn: Arc<Conn<H>>, io: S, probing: bool)
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let max = usize::try_from(inner.config.max_payload).unwrap_or(usize::MAX);
    let mut ws = Ws {
        decoder: Decoder::new(max),
        tail: Vec::new(),
        blocked_since: None,
        probing,
        deferred: false,
        exit: None,
        inner,
        conn,
        io,
    };
    if !probing {
        let open = open_packet(&ws.inner, &ws.conn, &[]);
        write_header(&mut ws.tail, OpCode::Text, open.len());
        ws.tail.extend_from_slice(open.as_bytes());
    }
    let first = if probing {
        Instant::now() + UPGRADE_TIMEOUT
    } else {
        Instant::now()
    };
    let mut sleep = std::pin::pin!(tokio::time::sleep_until(first));
    let exit = std::future::poll_fn(|cx| ws.poll(cx, sleep.as_mut())).await;
    ws.finish(exit).await;
}

impl<H, S> Ws<H, S>
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Drives the connection until it ends.
    fn poll(&mut self, cx: &mut Context<'_>, mut sleep: Pin<&mut Sleep>) -> Poll<Exit> {
        loop {
            let mut again = false;
            if let Some(exit) = self.exit.take() {
                return Poll::Ready(exit);
            }
            if !self.probing {
                self.conn.waker.register(cx.waker());
                if let Some(reason) = self.conn.lock().closed {
                    return Poll::Ready(Exit::new(reason, 1000));
                }
            }
            if sleep.as_mut().poll(cx).is_ready() {
                match self.beat() {
                    Ok(at) => sleep.as_mut().reset(at),
                    Err(exit) => return Poll::Ready(exit),
                }
                again = true;
            }
            if !self.probing {
                match self.poll_flush(cx) {
                    Ok(blocked) => {
                        if blocked && self.blocked_since.is_none() {
                            let now = Instant::now();
                            self.blocked_since = Some(now);
                            let stall = now + self.inner.config.stall_timeout();
                            if stall < sleep.deadline() {
                                sleep.as_mut().reset(stall);
                                again = true;
                            }
                        } else if !blocked {
                            self.blocked_since = None;
                        }
                    }
                    Err(exit) => return Poll::Ready(exit),
                }
            } else if !self.tail.is_empty() {
                // The probe's answer.
                if let Err(exit) = self.poll_flush(cx) {
                    return Poll::Ready(exit);
                }
            }
            let was_probing = self.probing;
            match self.poll_read(cx) {
                Poll::Ready(Ok(())) => {
                    again = true;
                    if was_probing && !self.probing {
                        // Upgraded: the heartbeat is this task's from now.
                        sleep.as_mut().reset(Instant::now());
                    }
                }
                Poll::Ready(Err(exit)) => return Poll::Ready(exit),
                Poll::Pending => {}
            }
            if !again {
                return Poll::Pending;
            }
        }
    }

    /// The heartbeat (or the upgrade's deadline): `Ok(next wake-up)` or why to stop.
    fn beat(&mut self) -> Result<Instant, Exit> {
        let now = Instant::now();
        if self.probing {
            return Err(Exit::new(DisconnectReason::TransportClose, 1000));
        }
        if let Some(since) = self.blocked_since
            && now.duration_since(since) >= self.inner.config.stall_timeout()
        {
            return Err(Exit {
                reason: DisconnectReason::SlowConsumer,
                code: None,
            });
        }
        let beat = {
            let mut st = self.conn.lock();
            if st.overflowed {
                Beat::Close(DisconnectReason::SlowConsumer)
            } else {
                let connected = !st.sockets.is_empty() || !st.joining.is_empty();
                st.heartbeat
                    .beat(now, self.conn.version, connected, &self.inner.config)
            }
        };
        let next = match beat {
            Beat::Wait(at) => at,
            Beat::Pinged(at) => {
                self.conn.send_control(b"2");
                at
            }
            Beat::Close(reason) => return Err(Exit::new(reason, 1000)),
        };
        Ok(match self.blocked_since {
            Some(since) => next.min(since + self.inner.config.stall_timeout()),
            None => next,
        })
    }

    /// Writes what is queued: `Ok(true)` when bytes are left waiting for the client.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Result<bool, Exit> {
        loop {
            if !self.tail.is_empty() {
                match write_some(&mut self.io, cx, &self.tail)? {
                    Some(n) if n == self.tail.len() => {
                        self.tail = Vec::new();
                    }
                    Some(n) => {
                        self.tail.drain(..n);
                        continue;
                    }
                    None => return Ok(true),
                }
            }
            if self.probing {
                return Ok(false);
            }
            let batch = {
                let mut st = self.conn.lock();
                if st.outbox.is_empty() {
                    return Ok(false);
                }
                // Batched writes: a short queue waits until the worker has run the tasks
                // ready now (a yield, deferred past them), so that packets a broadcast is
                // still queueing go out in the same write.
                if !self.deferred && st.outbox.len() < DEFER_BELOW {
                    self.deferred = true;
                    drop(st);
                    let mut yielded = std::pin::pin!(tokio::task::yield_now());
                    if yielded.as_mut().poll(cx).is_pending() {
                        return Ok(false);
                    }
                    continue;
                }
                self.deferred = false;
                Conn::take(&mut st, WRITE_BATCH)
            };
            if self.write_batch(cx, batch)? {
                return Ok(true);
            }
        }
    }

    /// Frames `batch` into the thread's write buffer and writes it; the unwritten rest goes
    /// to `tail`. `Ok(true)` when the client stopped taking bytes.
    fn write_batch(&mut self, cx: &mut Context<'_>, batch: VecDeque<Out>) -> Result<bool, Exit> {
        WRITE.with_borrow_mut(|buf| {
            buf.clear();
            for out in &batch {
                let (op, bytes) = match out {
                    Out::Text(b) => (OpCode::Text, b),
                    Out::Binary(b) => (OpCode::Binary, b),
                };
                write_header(buf, op, bytes.len());
                buf.extend_from_slice(bytes);
            }
            drop(batch);
            let mut written = 0;
            let mut result = Ok(false);
            while written < buf.len() {
                match write_some(&mut self.io, cx, &buf[written..]) {
                    Ok(Some(n)) => written += n,
                    Ok(None) => {
                        self.tail.extend_from_slice(&buf[written..]);
                        result = Ok(true);
                        break;
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            buf.clear();
            if buf.capacity() > WRITE_KEEP {
                *buf = Vec::new();
            }
            result
        })
    }

    /// Reads once into the thread's scratch buffer and handles every complete message.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Exit>> {
        READ.with_borrow_mut(|buf| {
            let n = {
                let mut rb = ReadBuf::new(&mut buf[..]);
                match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(_)) => {
                        return Poll::Ready(Err(Exit {
                            reason: DisconnectReason::TransportError,
                            code: None,
                        }));
                    }
                    Poll::Ready(Ok(())) => rb.filled().len(),
                }
            };
            if n == 0 {
                return Poll::Ready(Err(Exit {
                    reason: DisconnectReason::TransportClose,
                    code: None,
                }));
            }
            let Ws {
                inner,
                conn,
                decoder,
                tail,
                probing,
                exit,
                ..
            } = self;
            let fed = decoder.feed(&mut buf[..n], &mut |message| match on_message(
                inner, conn, tail, probing, message,
            ) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    *exit = Some(e);
                    ControlFlow::Break(())
                }
            });
            if let Err(e) = fed {
                let reason = if e.code == 1009 {
                    DisconnectReason::TransportError
                } else {
                    DisconnectReason::ParseError
                };
                return Poll::Ready(Err(Exit::new(reason, e.code)));
            }
            Poll::Ready(Ok(()))
        })
    }

    /// Ends the connection: the session closes (if nothing closed it yet), queued packets
    /// and a close frame are written within a grace period, and the socket is shut.
    async fn finish(mut self, exit: Exit) {
        if self.probing {
            cancel_upgrade(&self.conn);
        } else {
            self.inner.close(&self.conn, exit.reason);
        }
        let Some(code) = exit.code else {
            return;
        };
        if !self.probing {
            let rest = Conn::take(&mut self.conn.lock(), usize::MAX);
            for out in rest {
                let (op, bytes) = match &out {
                    Out::Text(b) => (OpCode::Text, b),
                    Out::Binary(b) => (OpCode::Binary, b),
                };
                write_header(&mut self.tail, op, bytes.len());
                self.tail.extend_from_slice(bytes);
            }
        }
        self.tail.extend_from_slice(&close_frame(code, ""));
        let tail = std::mem::take(&mut self.tail);
        let io = &mut self.io;
        // A lingering close: after the close frame, what the client still sends is read and
        // dropped until it closes too (or the grace ends). Closing a socket with unread input
        // resets the connection, and a reset makes the client drop what it had received but
        // not read yet — the last packets, the very ones saying why.
        let _ = tokio::time::timeout(CLOSE_GRACE, async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            io.write_all(&tail).await?;
            io.shutdown().await?;
            let mut sink = [0u8; 512];
            while io.read(&mut sink).await? > 0 {}
            Ok::<(), std::io::Error>(())
        })
        .await;
    }
}

/// One write attempt: `Some(n)` bytes written, `None` when the socket is full.
fn write_some<S: AsyncWrite + Unpin>(
    io: &mut S,
    cx: &mut Context<'_>,
    bytes: &[u8],
) -> Result<Option<usize>, Exit> {
    match Pin::new(io).poll_write(cx, bytes) {
        Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Err(Exit {
            reason: DisconnectReason::TransportError,
            code: None,
        }),
        Poll::Ready(Ok(n)) => Ok(Some(n)),
        Poll::Pending => Ok(None),
    }
}

/// One message from the client.
fn on_message<H: Handler>(
    inner: &Arc<Inner<H>>,
    conn: &Arc<Conn<H>>,
    tail: &mut Vec<u8>,
    probing: &mut bool,
    message: Message<'_>,
) -> Result<(), Exit> {
    let protocol = |reason| Exit::new(reason, 1000);
    match message {
        Message::Text(text) => {
            let (kind, data) =
                parse_text(text).map_err(|_| Exit::new(DisconnectReason::ParseError, 1002))?;
            if *probing {
                return probe(conn, tail, probing, kind, data);
            }
            crate::eio::on_packet(inner, conn, kind, data).map_err(protocol)
        }
        Message::Binary(data) => {
            if *probing {
                return Err(Exit::new(DisconnectReason::ParseError, 1002));
            }
            crate::sio::on_binary(inner, conn, data).map_err(protocol)
        }
        Message::Ping(payload) => {
            write_header(tail, OpCode::Pong, payload.len());
            tail.extend_from_slice(payload);
            Ok(())
        }
        Message::Pong(_) => Ok(()),
        Message::Close(frame) => Err(Exit::new(
            DisconnectReason::TransportClose,
            frame.map_or(1000, |f| f.code),
        )),
    }
}

/// The upgrade of a polling session: `2probe` is answered `3probe` (and the waiting poll
/// gets a noop), then `5` moves the session onto this WebSocket.
fn probe<H: Handler>(
    conn: &Arc<Conn<H>>,
    tail: &mut Vec<u8>,
    probing: &mut bool,
    kind: PacketKind,
    data: &str,
) -> Result<(), Exit> {
    let refused = Exit::new(DisconnectReason::ParseError, 1002);
    match kind {
        PacketKind::Ping if data == "probe" => {
            write_header(tail, OpCode::Text, 6);
            tail.extend_from_slice(b"3probe");
            let mut st = conn.lock();
            if st.phase == Phase::Upgrading {
                st.phase = Phase::Probed;
            }
            drop(st);
            conn.waker.wake();
            Ok(())
        }
        PacketKind::Upgrade => {
            let mut st = conn.lock();
            if !matches!(st.phase, Phase::Upgrading | Phase::Probed) {
                return Err(refused);
            }
            st.phase = Phase::Websocket;
            let closed = st.closed;
            drop(st);
            // The waiting poll, if any, ends; from here on this task writes.
            conn.waker.wake();
            *probing = false;
            // Closed while the client had paused polling to upgrade: what was queued for it
            // goes out here, then the close.
            match closed {
                Some(reason) => Err(Exit::new(reason, 1000)),
                None => Ok(()),
            }
        }
        _ => Err(refused),
    }
}
