//! The engine alone, behaving as the official Socket.IO protocol test-suite expects: every
//! socket gets `auth` with its handshake payload, `message` is echoed as `message-back`
//! (binary attachments included), `message-with-ack` is acknowledged with its own
//! arguments; `/` and `/custom` are served.
//!
//! `cargo run --example echo -p strapi-io-engine` listens on 127.0.0.1:3000 (`PORT`
//! overrides it) with pingInterval 300 ms, pingTimeout 200 ms, connect timeout 1 s.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::value::RawValue;
use strapi_io_engine::{
    Conn, ConnectError, DisconnectReason, Engine, EngineConfig, Event, Handler, Joined, Packet,
    Refusal, SocketRef,
};

struct Echo;

impl Handler for Echo {
    type Conn = ();
    type Socket = ();

    fn open(&self, _request: &http::request::Parts) -> Result<(), Refusal> {
        Ok(())
    }

    fn connect(
        &self,
        _conn: &Arc<Conn<Self>>,
        _ns: &str,
        _auth: Option<&RawValue>,
    ) -> impl Future<Output = Result<Joined<()>, ConnectError>> + Send + 'static {
        std::future::ready(Ok(Joined::new(())))
    }

    fn connected(
        &self,
        socket: SocketRef<Self>,
        auth: Option<Box<RawValue>>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let auth = auth.map_or_else(|| "{}".to_string(), |a| a.get().to_string());
        let _ = socket.send(&Packet::event(socket.ns(), "auth", &[&auth], Vec::new()));
        std::future::ready(())
    }

    fn event(
        &self,
        socket: SocketRef<Self>,
        event: Event,
    ) -> impl Future<Output = ()> + Send + 'static {
        let args: Vec<&RawValue> = serde_json::from_str(event.args.get()).unwrap_or_default();
        let args: Vec<&str> = args.iter().map(|a| a.get()).collect();
        match (event.name.as_str(), event.ack) {
            ("message", _) => {
                let _ = socket.send(&Packet::event(
                    socket.ns(),
                    "message-back",
                    &args,
                    event.attachments.clone(),
                ));
            }
            ("message-with-ack", Some(id)) => {
                let _ = socket.ack(id, &args, event.attachments.clone());
            }
            _ => {}
        }
        std::future::ready(())
    }

    fn disconnected(&self, _socket: &SocketRef<Self>, _reason: DisconnectReason) {}
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = EngineConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        connect_timeout: Duration::from_millis(1000),
        ..EngineConfig::default()
    };
    let engine = Engine::new(config, Echo, &["/custom"]);
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!(
        "conformance server listening on http://{}",
        listener.local_addr()?
    );
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let engine = engine.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let engine = engine.clone();
                async move {
                    if req.uri().path() == "/socket.io/" || req.uri().path() == "/socket.io" {
                        Ok::<_, Infallible>(engine.handle(req).await)
                    } else {
                        Ok(http::Response::builder()
                            .status(404)
                            .body(http_body_util::Full::new(bytes::Bytes::new()))
                            .unwrap_or_default())
                    }
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}
