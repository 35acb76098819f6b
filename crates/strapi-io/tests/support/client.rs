//! A minimal Socket.IO v5 / Engine.IO v4 client over WebSocket, enough to drive the server
//! from Rust tests: connect with an auth payload, emit with or without ack, receive events.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What [`Client::cut`] puts in the outgoing queue.
const CUT: &str = "\u{0}cut";

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// A connected client.
pub struct Client {
    /// The socket id the server gave.
    pub sid: String,
    /// The private session id for connection state recovery, when the server gave one.
    pub pid: Option<String>,
    /// The Engine.IO session id (from the open packet), which only the transport uses.
    pub engine_sid: String,
    out: mpsc::UnboundedSender<String>,
    events: mpsc::UnboundedReceiver<(String, Value)>,
    acks: mpsc::UnboundedSender<(u64, oneshot::Sender<Value>)>,
    next_ack: u64,
    pending: VecDeque<(String, Value)>,
    closed: oneshot::Receiver<()>,
}

/// Why a connection was refused.
#[derive(Debug)]
pub struct Refused(pub String);

async fn next_text(ws: &mut Ws) -> Option<String> {
    while let Some(msg) = ws.next().await {
        match msg.ok()? {
            Message::Text(t) => return Some(t.to_string()),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
    None
}

impl Client {
    /// Connects to `/` on `addr` with the given auth payload (`Value::Null`: none).
    pub async fn connect(addr: &str, auth: Value) -> Result<Client, Refused> {
        Self::connect_ns(addr, "/", auth).await
    }

    /// Connects to a namespace.
    pub async fn connect_ns(addr: &str, ns: &str, auth: Value) -> Result<Client, Refused> {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("ws connect timed out")
            .expect("ws connect failed");
        let open = next_text(&mut ws).await.expect("no open packet");
        assert!(open.starts_with('0'), "expected open packet, got {open}");
        let engine_sid = serde_json::from_str::<Value>(&open[1..]).unwrap_or_default()["sid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let prefix = if ns == "/" {
            String::new()
        } else {
            format!("{ns},")
        };
        let connect = if auth.is_null() {
            format!("40{prefix}")
        } else {
            format!("40{prefix}{auth}")
        };
        ws.send(Message::Text(connect.into())).await.unwrap();
        let (sid, pid) = loop {
            let msg = tokio::time::timeout(WAIT, next_text(&mut ws))
                .await
                .expect("no connect answer")
                .expect("closed before connect answer");
            if msg == "2" {
                ws.send(Message::Text("3".into())).await.unwrap();
                continue;
            }
            let body = msg
                .strip_prefix("40")
                .map(|b| (true, b))
                .or_else(|| msg.strip_prefix("44").map(|b| (false, b)));
            let Some((ok, body)) = body else { continue };
            let body = body.strip_prefix(&prefix).unwrap_or(body);
            let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            if ok {
                let pid = v["pid"].as_str().map(str::to_string);
                break (v["sid"].as_str().unwrap().to_string(), pid);
            }
            return Err(Refused(
                v["message"].as_str().unwrap_or_default().to_string(),
            ));
        };
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<(u64, oneshot::Sender<Value>)>();
        let (closed_tx, closed_rx) = oneshot::channel();
        let ns_prefix = prefix.clone();
        tokio::spawn(async move {
            let mut waiting: Vec<(u64, oneshot::Sender<Value>)> = Vec::new();
            let mut early: Vec<(u64, Value)> = Vec::new();
            loop {
                tokio::select! {
                    Some(line) = out_rx.recv() => {
                        if line == CUT {
                            // The TCP connection goes, without a close frame.
                            break;
                        }
                        if ws.send(Message::Text(line.into())).await.is_err() { break; }
                    }
                    Some((id, tx)) = ack_rx.recv() => {
                        if let Some(pos) = early.iter().position(|(i, _)| *i == id) {
                            let _ = tx.send(early.remove(pos).1);
                        } else {
                            waiting.push((id, tx));
                        }
                    }
                    msg = next_text(&mut ws) => {
                        let Some(msg) = msg else { break };
                        if msg == "2" {
                            let _ = ws.send(Message::Text("3".into())).await;
                            continue;
                        }
                        if msg.starts_with("41") { break; }
                        if let Some(rest) = msg.strip_prefix("42") {
                            let rest = rest.strip_prefix(&ns_prefix).unwrap_or(rest);
                            let json_start = rest.find('[').unwrap_or(0);
                            let v: Value = serde_json::from_str(&rest[json_start..]).unwrap_or(Value::Null);
                            let name = v[0].as_str().unwrap_or_default().to_string();
                            let _ = ev_tx.send((name, v.get(1).cloned().unwrap_or(Value::Null)));
                        } else if let Some(rest) = msg.strip_prefix("43") {
                            let rest = rest.strip_prefix(&ns_prefix).unwrap_or(rest);
                            let json_start = rest.find('[').unwrap_or(rest.len());
                            let id: u64 = rest[..json_start].parse().unwrap_or(0);
                            let v: Value = serde_json::from_str(&rest[json_start..]).unwrap_or(Value::Null);
                            let arg = v;
                            if let Some(pos) = waiting.iter().position(|(i, _)| *i == id) {
                                let _ = waiting.remove(pos).1.send(arg);
                            } else {
                                early.push((id, arg));
                            }
                        }
                    }
                }
            }
            let _ = closed_tx.send(());
        });
        Ok(Client {
            sid,
            pid,
            engine_sid,
            out: out_tx,
            events: ev_rx,
            acks: ack_tx,
            next_ack: 0,
            pending: VecDeque::new(),
            closed: closed_rx,
        })
    }

    /// Connects anonymously (Public).
    pub async fn public(addr: &str) -> Client {
        Self::connect(addr, Value::Null)
            .await
            .expect("public connect")
    }

    /// Connects with a JWT.
    pub async fn jwt(addr: &str, token: &str) -> Client {
        Self::connect(addr, json!({ "token": token }))
            .await
            .expect("jwt connect")
    }

    /// Connects with an API token.
    pub async fn api_token(addr: &str, token: &str) -> Client {
        Self::connect(addr, json!({ "strategy": "api-token", "token": token }))
            .await
            .expect("api token connect")
    }

    /// Drops the connection as a network failure would: no close frame, no disconnect packet.
    pub fn cut(self) {
        let _ = self.out.send(CUT.to_string());
    }

    /// Sends an Engine.IO text message as it is (`41`: leave `/`).
    pub fn emit_raw(&self, text: &str) {
        let _ = self.out.send(text.to_string());
    }

    /// Emits an event without ack.
    pub fn emit(&self, event: &str, data: Value) {
        let _ = self.out.send(format!("42{}", json!([event, data])));
    }

    /// Emits an event and waits for its ack's first argument.
    pub async fn call(&mut self, event: &str, data: Option<Value>) -> Value {
        let all = self.call_args(event, data).await;
        all.get(0).cloned().unwrap_or(Value::Null)
    }

    /// Emits an event and waits for its ack's arguments (a JSON array).
    pub async fn call_args(&mut self, event: &str, data: Option<Value>) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        let (tx, rx) = oneshot::channel();
        self.acks.send((id, tx)).unwrap();
        let packet = match data {
            Some(d) => json!([event, d]),
            None => json!([event]),
        };
        self.out.send(format!("42{id}{packet}")).unwrap();
        tokio::time::timeout(WAIT, rx)
            .await
            .unwrap_or_else(|_| panic!("no ack for {event}"))
            .expect("connection closed before ack")
    }

    /// Waits for the next event named `name`, keeping others for later.
    pub async fn recv(&mut self, name: &str) -> Value {
        if let Some(pos) = self.pending.iter().position(|(n, _)| n == name) {
            return self.pending.remove(pos).unwrap().1;
        }
        loop {
            let (n, v) = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no {name} event within {WAIT:?}"))
                .expect("connection closed");
            if n == name {
                return v;
            }
            self.pending.push_back((n, v));
        }
    }

    /// Every event received so far named `name` (no waiting beyond what has arrived).
    pub fn drain(&mut self, name: &str) -> Vec<Value> {
        while let Ok(e) = self.events.try_recv() {
            self.pending.push_back(e);
        }
        let (hit, rest): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|(n, _)| n == name);
        self.pending = rest.into();
        hit.into_iter().map(|(_, v)| v).collect()
    }

    /// Waits until the server closes the connection.
    pub async fn closed(self) {
        tokio::time::timeout(WAIT, self.closed)
            .await
            .expect("connection not closed")
            .ok();
    }
}
