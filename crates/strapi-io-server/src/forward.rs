//! Custom client events in the gateway: each configured event is forwarded to a backend
//! URL as `POST {event, socket: {id, user, role}, args}`; the backend's JSON reply becomes
//! the ack. Timeouts and backend errors answer `{success: false, error}`.

use std::time::Duration;

use serde_json::{Value, json};
use strapi_io::{Args, ClientEvent, IoBuilder, Payload};

use crate::config::ForwardedEvent;

/// Installs a forwarding handler for every configured event.
pub(crate) fn install(mut builder: IoBuilder, events: &[ForwardedEvent]) -> IoBuilder {
    if events.is_empty() {
        return builder;
    }
    let client = reqwest::Client::new();
    for e in events {
        let client = client.clone();
        let url = e.url.clone();
        let timeout = Duration::from_millis(e.timeout_ms);
        builder = builder.on_event(e.name.clone(), move |event: ClientEvent| {
            let client = client.clone();
            let url = url.clone();
            async move {
                Some(Args(vec![Payload::from(
                    forward(&client, &url, timeout, event).await,
                )]))
            }
        });
    }
    builder
}

async fn forward(client: &reqwest::Client, url: &str, timeout: Duration, e: ClientEvent) -> Value {
    let body = json!({
        "event": e.event,
        "socket": {
            "id": e.socket.id(),
            "user": e.socket.user(),
            "role": e.socket.role(),
        },
        "args": e.args.to_json(),
    });
    let failure = |error: String| json!({"success": false, "error": error});
    let response = match client.post(url).json(&body).timeout(timeout).send().await {
        Ok(r) => r,
        Err(err) if err.is_timeout() => {
            tracing::warn!(event = %e.event, url, "backend timed out");
            return failure("Backend timeout".into());
        }
        Err(err) => {
            tracing::warn!(event = %e.event, url, error = %err, "backend unreachable");
            return failure("Backend unavailable".into());
        }
    };
    let status = response.status();
    if !status.is_success() {
        tracing::warn!(event = %e.event, url, %status, "backend error");
        return failure(format!("Backend error: HTTP {}", status.as_u16()));
    }
    match response.json::<Value>().await {
        Ok(v) => v,
        Err(err) if err.is_timeout() => failure("Backend timeout".into()),
        Err(_) => failure("Backend answered with invalid JSON".into()),
    }
}
