//! The server the official Socket.IO protocol test suite expects, built only on the
//! library's public API — and the shortest example of embedding strapi-io with custom
//! event handlers.
//!
//! `cargo run --release --example conformance -p strapi-io` listens on 127.0.0.1:3000
//! (`PORT` overrides the port) with pingInterval 300 ms, pingTimeout 200 ms and a 1 s
//! connect timeout. Every socket gets `auth` with its handshake payload; `message` is echoed
//! as `message-back` (binary attachments included); `message-with-ack` is acknowledged with
//! its own arguments. `/custom` is served the same way; other namespaces are refused.
//! Connection state recovery is off, as on the suite's own Node server: with it on, the
//! CONNECT answer carries a `pid` and every event an offset, which the suite does not expect.

use std::sync::Arc;

use serde_json::json;
use strapi_io::core::auth::{AuthError, Credential};
use strapi_io::core::{Audience, ContentType, Schemas, Settings};
use strapi_io::directory::{BoxFuture, DirectoryError};
use strapi_io::{Args, Directory, Identity, IoBuilder};

/// Lets everyone in as Public, whatever the auth payload holds: the suite sends arbitrary
/// payloads such as `{"token":"123"}` and expects them echoed, not verified.
struct Anyone(Arc<Audience>);

impl Directory for Anyone {
    fn authenticate<'a>(
        &'a self,
        _credential: Option<&'a Credential>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        let audience = self.0.clone();
        Box::pin(async move { Ok(Identity::public(audience)) })
    }

    fn audiences(&self) -> Arc<Vec<Arc<Audience>>> {
        Arc::new(vec![self.0.clone()])
    }

    fn entity_exists<'a>(
        &'a self,
        _content_type: &'a ContentType,
        _id: &'a str,
        _include_drafts: bool,
    ) -> BoxFuture<'a, Result<bool, DirectoryError>> {
        Box::pin(async { Ok(false) })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings: Settings = serde_json::from_value(json!({
        "connection": { "pingInterval": 300, "pingTimeout": 200, "connectionTimeout": 1000,
            "recovery": { "maxDisconnectionDuration": 0 } },
        "namespaces": { "enabled": true, "list": { "custom": {} } },
    }))?;
    let public = Arc::new(Audience::role("Public", "public", Vec::new()));
    let (layer, io) = IoBuilder::new(Schemas::new())
        .settings(settings)
        .directory(Arc::new(Anyone(public)))
        .on_connect(|c| async move {
            let _ = c.socket.emit("auth", &Args(vec![c.auth]));
        })
        .on_event("message", |e| async move {
            let _ = e.socket.emit("message-back", &e.args);
            None
        })
        .on_event("message-with-ack", |e| async move { Some(e.args) })
        .build()?;
    let app = axum::Router::new().layer(layer);
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!(
        "conformance server listening on http://{}",
        listener.local_addr()?
    );
    // `Io::serve` bounds the edge (timeouts, pending connections, stalled writes).
    io.serve(listener, app, std::future::pending()).await?;
    Ok(())
}
