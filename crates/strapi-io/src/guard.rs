//! Transport-level protections in front of socketioxide.
//!
//! - [`SessionGuard`]: socketioxide uses the Engine.IO session id as the socket id, and
//!   socket ids are shown to other clients (`private-message.from`) and to server code. A
//!   long-polling session can be driven by anyone who knows its id, so a polling or upgrade
//!   request that names a session is only let through from the address the socket
//!   connected from; from anywhere else its `sid` is replaced by an invalid one and the
//!   transport answers 400 as for an unknown session.
//! - [`GuardedListener`]: a TCP listener whose connections fail a write that stays pending
//!   longer than a timeout. A client that stops reading eventually blocks the WebSocket
//!   writer on a full TCP buffer, where socketioxide cannot close it; the failed write ends
//!   the connection, frees its rooms and its place, and is counted.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::extract::connect_info::Connected;
use axum::http::Request;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;

use crate::io::Shared;

/// Wraps the socketioxide service; see the module docs.
#[derive(Clone)]
pub struct SessionGuard<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

/// The peer address of a connection, as [`GuardedListener`] reports it to axum's
/// `into_make_service_with_connect_info::<ClientAddr>()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, GuardedListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

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

impl Shared {
    /// Replaces the `sid` of a request that does not come from the socket's own address.
    fn guard_session<B>(&self, req: &mut Request<B>) {
        let Some(query) = req.uri().query() else {
            return;
        };
        let Some(sid) = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "sid")
            .map(|(_, v)| v.into_owned())
        else {
            return;
        };
        let Some(owner_ip) = self
            .socket_session(&sid)
            .and_then(|(_, session)| session.ip)
        else {
            return;
        };
        let Some(peer) = peer_ip(req.extensions()) else {
            return;
        };
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let client = self.settings().access.client_ip(peer, forwarded);
        if client == owner_ip {
            return;
        }
        self.counters
            .foreign_session_requests
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%client, "request for another address's session refused");
        let rewritten: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(query.as_bytes()).map(|(k, v)| {
                if k == "sid" {
                    (k, "refused".into())
                } else {
                    (k, v)
                }
            }))
            .finish();
        let path = req.uri().path().to_string();
        if let Ok(uri) = format!("{path}?{rewritten}").parse() {
            *req.uri_mut() = uri;
        }
    }
}

/// Rebuilds a request's URI and headers in fresh allocations.
///
/// hyper parses a request in place: its URI and header values are views into the
/// connection's 16 KiB read buffer, and so is axum's `OriginalUri` extension. Engine.IO
/// keeps the upgrade request's parts for the socket's whole life, which would keep that
/// buffer alive per connection; a copy of the few bytes that matter frees it.
fn detach<B>(req: Request<B>) -> Request<B> {
    let (parts, body) = req.into_parts();
    let mut fresh = Request::new(body);
    *fresh.method_mut() = parts.method.clone();
    *fresh.version_mut() = parts.version;
    *fresh.uri_mut() = parts
        .uri
        .to_string()
        .parse()
        .unwrap_or_else(|_| parts.uri.clone());
    let headers = fresh.headers_mut();
    headers.reserve(parts.headers.len());
    for (name, value) in &parts.headers {
        let name = axum::http::HeaderName::from_bytes(name.as_str().as_bytes())
            .unwrap_or_else(|_| name.clone());
        let value =
            axum::http::HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        headers.append(name, value);
    }
    // Extensions stay: hyper's upgrade handle and the connect info live there. (axum's
    // `OriginalUri`, another view into the buffer, is not built: its feature is off.)
    *fresh.extensions_mut() = parts.extensions;
    fresh
}

impl<S, B> tower::Service<Request<B>> for SessionGuard<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let mut req = detach(req);
        self.shared.guard_session(&mut req);
        self.inner.call(req)
    }
}

/// A TCP listener whose connections fail writes stalled longer than a timeout; see the
/// module docs. Serve it with `into_make_service_with_connect_info::<ClientAddr>()`.
pub struct GuardedListener {
    listener: TcpListener,
    write_timeout: Duration,
    shared: Arc<Shared>,
}

impl GuardedListener {
    pub(crate) fn new(listener: TcpListener, write_timeout: Duration, shared: Arc<Shared>) -> Self {
        GuardedListener {
            listener,
            write_timeout,
            shared,
        }
    }
}

/// A connection of a [`GuardedListener`].
pub struct GuardedStream {
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

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let mut timed = TimeoutStream::new(stream);
                    timed.set_write_timeout(Some(self.write_timeout));
                    return (
                        GuardedStream {
                            inner: Box::pin(timed),
                            shared: self.shared.clone(),
                            stalled: false,
                        },
                        addr,
                    );
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, as axum does.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
