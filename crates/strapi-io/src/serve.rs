//! Serving an app over TCP with the edge bounded ([`Io::serve`]).
//!
//! - **Pending connections.** A connection is *pending* from `accept` until its first
//!   request head is complete, and a new Engine.IO session (a polling handshake, a WebSocket
//!   without `sid`) from its opening request until its client completes the Socket.IO
//!   handshake (see [`SessionPlace`]). At most `connection.maxPendingConnections` are pending
//!   at once, and `connection.maxPendingConnectionsPerIp` from one address (an IPv6 /64 is
//!   one address; trusted proxies count only towards the total). One over a limit is
//!   answered `503` (and its TCP connection closed at once), and counted.
//! - **Timeouts.** HTTP/1 with a timer: a request head must arrive within
//!   `connection.headerTimeout` of the connection's start or of the end of the previous
//!   request (hyper's header read timeout, which also closes idle keep-alive connections),
//!   and a request body within the same time again once its head arrived. A silent or
//!   trickling client is closed; a pending one is counted.
//! - **Stalled writes.** [`GuardedStream`] fails a write that stays pending longer than
//!   `pingInterval + pingTimeout`. A client that stops reading eventually blocks the
//!   WebSocket writer on a full TCP buffer, where socketioxide cannot close it; the failed
//!   write ends the connection, frees its rooms and its place, and is counted.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;

use crate::guard::ClientAddr;
use crate::io::Io;
use crate::live::Live;
use crate::pending::PendingPlace;
use crate::shared::Shared;

/// Largest request head (request line and headers) a client may send.
const MAX_HEAD_BYTES: usize = 32 * 1024;
/// How long a shutdown waits for open HTTP exchanges before returning.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// What a connection over a pending limit is told before it is closed.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\nconnection: close\r\n\r\n";

impl Shared {
    /// Counts a request whose head or body did not arrive in time.
    fn timed_out(&self, what: &str) {
        self.counters
            .timed_out_requests
            .fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_timed_out_requests_total").increment(1);
        tracing::debug!("closing a connection whose request {what} did not arrive in time");
    }
}

/// A request body that fails once `deadline` passes before it has fully arrived.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    shared: Arc<Shared>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.shared.timed_out("body");
            return Poll::Ready(Some(Err("request body timed out".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The service of one connection: settles its pending place, adds the peer address and
/// the body deadline, and hands the request to the router.
struct ConnectionService {
    router: Router,
    shared: Arc<Shared>,
    peer: SocketAddr,
    place: Arc<PendingPlace>,
    body_timeout: Duration,
}

impl hyper::service::Service<axum::http::Request<Incoming>> for ConnectionService {
    type Response = axum::http::Response<Body>;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn call(&self, req: axum::http::Request<Incoming>) -> Self::Future {
        self.place.settle();
        let (mut parts, incoming) = req.into_parts();
        parts.extensions.insert(ConnectInfo(ClientAddr(self.peer)));
        let body = if incoming.is_end_stream() {
            Body::new(incoming)
        } else {
            Body::new(DeadlineBody {
                inner: incoming,
                deadline: Box::pin(tokio::time::sleep(self.body_timeout)),
                shared: self.shared.clone(),
            })
        };
        let mut router = self.router.clone();
        tower::Service::call(&mut router, axum::http::Request::from_parts(parts, body))
    }
}

impl Io {
    /// Serves `router` (which carries this server's [`IoLayer`](crate::IoLayer)) on
    /// `listener` until `shutdown` resolves; then stops accepting, closes every socket with
    /// `server-disconnect {reason: "Server shutting down"}`, lets open HTTP exchanges finish
    /// and returns (within about 5 s). The peer address reaches handlers as
    /// `ConnectInfo<ClientAddr>`.
    ///
    /// The edge is bounded by the live `connection` settings: at most
    /// `maxPendingConnections` connections (`maxPendingConnectionsPerIp` from one address,
    /// an IPv6 /64 counting as one; trusted proxies only towards the total) may be waiting
    /// for their first request head, and one over is answered 503 and closed; a request
    /// head must arrive within `headerTimeout` (of the connection's start, or of the end of
    /// the previous request, so idle keep-alive connections close too), and its body within
    /// `headerTimeout` again; a write stalled for `pingInterval + pingTimeout` closes its
    /// connection (a client that stopped reading).
    pub async fn serve(
        &self,
        listener: TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<()> {
        let shared = self.shared.clone();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // Every connection task holds a sender; all gone = every connection closed.
        let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(1);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a moment, as axum does.
                        tracing::error!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let live = shared.settings();
            let Some(place) = shared.pending.admit(peer.ip(), &live) else {
                refuse(&shared, &tcp, peer);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let header_timeout = Duration::from_millis(live.connection.header_timeout);
            let stream = GuardedStream::new(tcp, stall_timeout(&live), shared.clone());
            let place = Arc::new(place);
            let service = ConnectionService {
                router: router.clone(),
                shared: shared.clone(),
                peer,
                place: place.clone(),
                body_timeout: header_timeout,
            };
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let shared = shared.clone();
            let accepted = tokio::time::Instant::now();
            let mut stop = stop_rx.clone();
            let open = open_tx.clone();
            tokio::spawn(async move {
                let mut conn = std::pin::pin!(conn);
                let stopping = async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                };
                let result = tokio::select! {
                    r = conn.as_mut() => r,
                    () = stopping => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                // hyper closes a silent connection quietly and a half-sent one with an
                // error: either way, a connection that never sent a head and lived out the
                // header timeout timed out (one its client closed earlier did not).
                if !place.is_settled() && accepted.elapsed() >= header_timeout {
                    shared.timed_out("head");
                }
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                drop(open);
            });
        }
        drop(listener);
        tracing::info!("shutting down: closing sockets");
        self.close_with_reason("Server shutting down").await;
        let _ = stop_tx.send(true);
        drop(open_tx);
        if tokio::time::timeout(SHUTDOWN_GRACE, open_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!("connections still open 5 s after shutdown; returning");
        }
        Ok(())
    }
}

/// How long a write may stay pending before its connection counts as stalled.
fn stall_timeout(live: &Live) -> Duration {
    Duration::from_millis(
        live.connection
            .ping_interval
            .saturating_add(live.connection.ping_timeout)
            .max(1000),
    )
}

impl Shared {
    /// Counts a connection or session refused over a pending limit.
    pub(crate) fn refused_pending(&self, peer: IpAddr) {
        self.counters
            .refused_connections
            .fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_refused_connections_total").increment(1);
        tracing::warn!(%peer, "too many connections waiting for a request or handshake: refused");
    }
}

/// Answers a connection over a pending limit with 503 and closes it.
fn refuse(shared: &Shared, tcp: &TcpStream, peer: SocketAddr) {
    shared.refused_pending(peer.ip());
    // A fresh socket's send buffer is empty: this never blocks, and a short write is fine.
    let _ = tcp.try_write(BUSY);
}

/// A connection served by [`Io::serve`]: writes that stay pending longer than a timeout
/// fail and shut the connection down; see the module docs.
pub(crate) struct GuardedStream {
    inner: Pin<Box<TimeoutStream<TcpStream>>>,
    shared: Arc<Shared>,
    /// Set once a write stalled: the connection is shut down both ways, so the reader ends
    /// (and with it the session) and later writes fail at once.
    stalled: bool,
}

impl std::fmt::Debug for GuardedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuardedStream")
    }
}

impl GuardedStream {
    fn new(tcp: TcpStream, write_timeout: Duration, shared: Arc<Shared>) -> Self {
        let mut timed = TimeoutStream::new(tcp);
        timed.set_write_timeout(Some(write_timeout));
        GuardedStream {
            inner: Box::pin(timed),
            shared,
            stalled: false,
        }
    }

    /// Watches write results: the first timed-out write shuts the connection down.
    fn watch<T>(&mut self, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(e)) = &r
            && e.kind() == io::ErrorKind::TimedOut
            && !self.stalled
        {
            self.stalled = true;
            self.shared
                .counters
                .stalled_writes
                .fetch_add(1, Ordering::Relaxed);
            metrics::counter!("strapi_io_slow_consumer_disconnects_total").increment(1);
            tracing::warn!("closing a connection whose client stopped reading");
            let tcp: &TcpStream = self.inner.get_ref();
            let _ = socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Both);
        }
        r
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = self.inner.as_mut().poll_write(cx, buf);
        self.watch(r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = self.inner.as_mut().poll_flush(cx);
        self.watch(r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = self.inner.as_mut().poll_write_vectored(cx, bufs);
        self.watch(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
