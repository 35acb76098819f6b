//! One simulated client: one lightweight task per socket that connects to its server (from
//! its source address), upgrades to WebSocket, does the Socket.IO handshake with its audience's `auth`,
//! subscribes to its entities, then answers pings and accounts every delivery until told to
//! stop. Owns the per-client hot path: a received event costs a prefix check, two number
//! scans, a bit in the tracker and a slot in a small latency batch — no JSON parsing.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::audience::Audience;
use crate::hist::Sharded;
use crate::proto::{self, Frame};
use crate::sys::now_us;
use crate::tracker::{Recorded, SeqTracker};

/// Latency samples a client collects before taking a shard lock.
const BATCH: usize = 32;

/// How long a `subscribe-entity` may stay unanswered before it is sent again.
pub const ACK_RESEND_AFTER: Duration = Duration::from_secs(2);

/// How often an unanswered `subscribe-entity` is sent again.
pub const ACK_RESENDS: usize = 2;

/// Counters summed over many tasks without contending on one cache line.
#[derive(Debug)]
pub struct ShardedCounter {
    shards: Vec<PaddedU64>,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct PaddedU64(AtomicU64);

impl ShardedCounter {
    /// `n` shards.
    pub fn new(n: usize) -> ShardedCounter {
        ShardedCounter {
            shards: (0..n.max(1)).map(|_| PaddedU64::default()).collect(),
        }
    }

    /// Adds `v` to shard `key % n`.
    #[inline]
    pub fn add(&self, key: usize, v: u64) {
        self.shards[key % self.shards.len()]
            .0
            .fetch_add(v, Ordering::Relaxed);
    }

    /// The sum.
    pub fn sum(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

/// Where the clients of one server (node) connect.
#[derive(Debug, Clone)]
pub struct NodeAddr {
    /// Server address.
    pub addr: SocketAddr,
    /// `ws://…/socket.io/?EIO=4&transport=websocket`.
    pub url: String,
}

/// What every client of a process shares.
#[derive(Debug)]
pub struct Shared {
    /// The servers, indexed like the run's targets.
    pub nodes: Vec<NodeAddr>,
    /// Per-client cap of connect + upgrade + handshake + subscriptions.
    pub connect_timeout: Duration,
    /// Connects in flight.
    pub connect_slots: Semaphore,
    /// `["<event>",` — the prefix of the payload of the events that count.
    pub event_prefix: String,
    /// Seqs `0..limit` exist.
    pub seq_limit: u64,
    /// Streams: seq `s` is about entity `s % modulus + 1`.
    pub modulus: u64,
    /// Content type of `subscribe-entity`.
    pub subscribe_uid: String,
    /// End-to-end latency, µs, per server (the node the receiving client is on).
    pub latency: Vec<Sharded>,
    /// Distinct deliveries so far (drain detection).
    pub unique: ShardedCounter,
    /// Deliveries so far, duplicates included (settling after the drain).
    pub received: ShardedCounter,
    /// WebSocket settings (small read buffer: the bench holds many sockets).
    pub ws_config: WebSocketConfig,
}

/// What one read of a bench client's WebSocket gave, an Engine.IO ping answered.
pub(crate) enum Read {
    /// A text frame other than a ping.
    Text(Utf8Bytes),
    /// An Engine.IO ping, answered with a pong.
    Pinged,
    /// A frame the bench does not read (binary, WebSocket ping or pong).
    Skip,
    /// The connection is gone, and why.
    Lost(String),
}

/// Sorts the result of `ws.next()`, answering an Engine.IO ping on `ws`.
pub(crate) async fn read(ws: &mut Ws, msg: Option<Result<Message, WsError>>) -> Read {
    let text = match msg {
        Some(Ok(Message::Text(t))) => t,
        Some(Ok(Message::Close(_))) | None => {
            return Read::Lost("connection closed by the server".into());
        }
        Some(Ok(_)) => return Read::Skip,
        Some(Err(e)) => return Read::Lost(format!("connection error: {e}")),
    };
    if proto::classify(text.as_str()) != Frame::Ping {
        return Read::Text(text);
    }
    match ws.send(Message::text(proto::PONG)).await {
        Ok(()) => Read::Pinged,
        Err(e) => Read::Lost(format!("cannot answer a ping: {e}")),
    }
}

/// How many shards the shared histograms and counters have: a few per core.
pub fn shard_count() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 4)
}

/// The WebSocket settings of the bench's clients: a read buffer just above the expected frame
/// size (tungstenite's default of 128 KiB per socket would cost gigabytes at 19k clients, and
/// it zero-fills the free part of the buffer before every read) and no write batching.
pub fn ws_config(payload_bytes: usize) -> WebSocketConfig {
    let read_buffer = (payload_bytes + 600)
        .next_power_of_two()
        .clamp(1024, 16 << 10);
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(0)
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20))
}

/// Who one client is.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Global client index.
    pub index: usize,
    /// The server it connects to (index into the run's targets).
    pub node: usize,
    /// Its audience.
    pub audience: Audience,
    /// The CONNECT frame (`40…`) with its audience's auth.
    pub connect_frame: Arc<str>,
    /// Entity ids to subscribe to.
    pub subscriptions: Vec<u32>,
    /// Source address and preferred port to bind, if not the default.
    pub source: Option<(Ipv4Addr, u16)>,
}

/// How a client's connect phase went, sent as soon as it is known.
#[derive(Debug, Clone)]
pub struct ConnectReport {
    /// Global client index.
    pub index: usize,
    /// When the attempt started (µs since epoch; after waiting for a connect slot).
    pub started_us: u64,
    /// When the handshake completed or failed (µs since epoch).
    pub finished_us: u64,
    /// Handshake time (TCP connect to Socket.IO CONNECT ack), µs; the error otherwise.
    pub result: Result<u64, String>,
    /// Entity ids whose subscription was acknowledged.
    pub subscribed: Vec<u32>,
    /// Subscriptions refused.
    pub subscribe_failed: u32,
    /// The first subscription error.
    pub subscribe_error: Option<String>,
    /// Subscriptions sent again because their ack did not come.
    pub subscribe_resent: u32,
}

/// How a client ended.
#[derive(Debug)]
pub struct ClientOutcome {
    /// Global client index.
    pub index: usize,
    /// Its audience.
    pub audience: Audience,
    /// Whether it connected.
    pub connected: bool,
    /// Its deliveries.
    pub tracker: SeqTracker,
    /// Pings answered.
    pub pings: u64,
    /// Why it lost its connection before being told to stop.
    pub lost: Option<String>,
    /// Events other than the scenario's.
    pub other_events: u64,
    /// Scenario events without a readable `benchSeq`/`benchSentAt`.
    pub malformed: u64,
    /// When the last new delivery arrived (µs since epoch; 0 if none).
    pub last_receipt_us: u64,
}

/// A bench client's WebSocket.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Runs one client until `stop` turns true (or its connection ends).
pub async fn run_client(
    spec: ClientSpec,
    shared: Arc<Shared>,
    connects: mpsc::UnboundedSender<ConnectReport>,
    mut stop: watch::Receiver<bool>,
) -> ClientOutcome {
    let mut out = ClientOutcome {
        index: spec.index,
        audience: spec.audience,
        connected: false,
        tracker: SeqTracker::new(shared.seq_limit, shared.modulus),
        pings: 0,
        lost: None,
        other_events: 0,
        malformed: 0,
        last_receipt_us: 0,
    };
    let permit = tokio::select! {
        p = shared.connect_slots.acquire() => p.ok(),
        _ = stopped(&mut stop) => None,
    };
    let Some(permit) = permit else {
        let _ = connects.send(ConnectReport {
            index: spec.index,
            started_us: now_us(),
            finished_us: now_us(),
            result: Err("stopped before connecting".to_string()),
            subscribed: Vec::new(),
            subscribe_failed: 0,
            subscribe_error: None,
            subscribe_resent: 0,
        });
        return out;
    };
    let started_us = now_us();
    let t0 = Instant::now();
    let mut phase = "tcp connect";
    let attempt = tokio::time::timeout(shared.connect_timeout, async {
        let mut ws = open(&spec, &shared, &mut phase).await?;
        let handshake_us = t0.elapsed().as_micros() as u64;
        phase = "subscribe-entity acks";
        let subs = subscribe(&mut ws, &spec, &shared, &mut out.pings).await?;
        Ok::<_, String>((ws, handshake_us, subs))
    })
    .await
    .unwrap_or_else(|_| {
        Err(format!(
            "timed out after {} s waiting for {phase}",
            shared.connect_timeout.as_secs()
        ))
    });
    drop(permit);
    let mut ws = match attempt {
        Ok((ws, handshake_us, subs)) => {
            out.connected = true;
            let _ = connects.send(ConnectReport {
                index: spec.index,
                started_us,
                finished_us: started_us + handshake_us,
                result: Ok(handshake_us),
                subscribed: subs.ok,
                subscribe_failed: subs.failed,
                subscribe_error: subs.first_error,
                subscribe_resent: subs.resent,
            });
            ws
        }
        Err(e) => {
            let _ = connects.send(ConnectReport {
                index: spec.index,
                started_us,
                finished_us: now_us(),
                result: Err(e),
                subscribed: Vec::new(),
                subscribe_failed: 0,
                subscribe_error: None,
                subscribe_resent: 0,
            });
            return out;
        }
    };

    let mut batch = [0u64; BATCH];
    let mut n = 0;
    let stop_signal = stop.changed();
    tokio::pin!(stop_signal);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop_signal => break,
            msg = ws.next() => {
                let text = match read(&mut ws, msg).await {
                    Read::Text(t) => t,
                    Read::Pinged => {
                        out.pings += 1;
                        continue;
                    }
                    Read::Skip => continue,
                    Read::Lost(why) => {
                        out.lost = Some(why);
                        break;
                    }
                };
                match proto::classify(text.as_str()) {
                    Frame::Event(p) if p.starts_with(&shared.event_prefix) => {
                        let (Some(seq), Some(sent)) = proto::bench_fields(p) else {
                            out.malformed += 1;
                            continue;
                        };
                        shared.received.add(spec.index, 1);
                        if out.tracker.record(seq) == Recorded::New {
                            let now = now_us();
                            out.last_receipt_us = now;
                            shared.unique.add(spec.index, 1);
                            batch[n] = now.saturating_sub(sent);
                            n += 1;
                            if n == BATCH {
                                shared.latency[spec.node].record_batch(spec.index, &batch);
                                n = 0;
                            }
                        }
                    }
                    Frame::Event(p) => {
                        out.other_events += 1;
                        if proto::event_name(p) == Some("server-disconnect") {
                            out.lost = Some(format!("server-disconnect: {p}"));
                        }
                    }
                    Frame::Disconnect => {
                        out.lost = Some("disconnected by the server (41)".to_string());
                        break;
                    }
                    Frame::Close => {
                        out.lost = Some("Engine.IO close from the server".to_string());
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    shared.latency[spec.node].record_batch(spec.index, &batch[..n]);
    out
}

/// TCP connect (from the client's source address), WebSocket upgrade, Engine.IO OPEN,
/// Socket.IO CONNECT.
async fn open(spec: &ClientSpec, shared: &Shared, phase: &mut &'static str) -> Result<Ws, String> {
    let node = &shared.nodes[spec.node];
    let stream = connect_tcp(spec.source, node.addr).await?;
    let _ = stream.set_nodelay(true);
    *phase = "websocket upgrade";
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(
        node.url.as_str(),
        stream,
        Some(shared.ws_config),
    )
    .await
    .map_err(|e| format!("websocket upgrade: {e}"))?;
    let mut opened = false;
    *phase = "Engine.IO open";
    loop {
        let text = next_text(&mut ws).await?;
        match proto::classify(&text) {
            Frame::Open if !opened => {
                opened = true;
                *phase = "Socket.IO connect ack";
                ws.send(Message::text(&*spec.connect_frame))
                    .await
                    .map_err(|e| format!("send connect: {e}"))?;
            }
            Frame::Ping => ws
                .send(Message::text(proto::PONG))
                .await
                .map_err(|e| format!("send pong: {e}"))?,
            Frame::Connected if opened => return Ok(ws),
            Frame::ConnectError(p) => return Err(proto::connect_error_message(p)),
            Frame::Close | Frame::Disconnect => {
                return Err("closed during the handshake".to_string());
            }
            _ => {}
        }
    }
}

/// The outcome of a client's subscriptions.
#[derive(Debug, Default)]
struct Subscribed {
    ok: Vec<u32>,
    failed: u32,
    first_error: Option<String>,
    resent: u32,
}

/// A TCP connection to `addr`, from `source` when given: its preferred port first, and the
/// kernel's choice when that port is taken or its previous connection is still in TIME_WAIT.
pub async fn connect_tcp(
    source: Option<(Ipv4Addr, u16)>,
    addr: SocketAddr,
) -> Result<TcpStream, String> {
    let Some((ip, port)) = source else {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        return socket
            .connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"));
    };
    let bound = |port: u16| -> std::io::Result<TcpSocket> {
        let socket = TcpSocket::new_v4()?;
        // Without SO_REUSEADDR, bind() refuses every port still in TIME_WAIT from earlier
        // runs (the bench closes first, so they pile up on its side).
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::new(ip.into(), port))?;
        Ok(socket)
    };
    if let Ok(socket) = bound(port)
        && let Ok(stream) = socket.connect(addr).await
    {
        return Ok(stream);
    }
    let socket = bound(0).map_err(|e| format!("bind {ip}: {e}"))?;
    socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect from {ip}: {e}"))
}

/// Sends `subscribe-entity` for the entities at `which` (ack ids `round * k + j`).
async fn send_subscriptions(
    ws: &mut Ws,
    spec: &ClientSpec,
    shared: &Shared,
    round: usize,
    which: impl Iterator<Item = usize>,
) -> Result<(), String> {
    let k = spec.subscriptions.len();
    for j in which {
        let arg = serde_json::json!({"uid": shared.subscribe_uid, "id": spec.subscriptions[j]});
        let frame = proto::event_with_ack((round * k + j) as u64, "subscribe-entity", &arg);
        ws.feed(Message::text(frame))
            .await
            .map_err(|e| format!("send subscribe-entity: {e}"))?;
    }
    ws.flush()
        .await
        .map_err(|e| format!("send subscribe-entity: {e}"))
}

/// Sends every `subscribe-entity` at once and collects the acks. Subscriptions still
/// unanswered after [`ACK_RESEND_AFTER`] are sent again (at most [`ACK_RESENDS`] times) and
/// counted: a server that drops events arriving right after the CONNECT ack (before its
/// handlers are installed) shows up there.
async fn subscribe(
    ws: &mut Ws,
    spec: &ClientSpec,
    shared: &Shared,
    pings: &mut u64,
) -> Result<Subscribed, String> {
    let k = spec.subscriptions.len();
    let mut out = Subscribed::default();
    if k == 0 {
        return Ok(out);
    }
    send_subscriptions(ws, spec, shared, 0, 0..k).await?;
    let mut answered = vec![false; k];
    let mut left = k;
    let mut round = 0;
    let mut resend_at = tokio::time::Instant::now() + ACK_RESEND_AFTER;
    while left > 0 {
        let text = match tokio::time::timeout_at(resend_at, next_text(ws)).await {
            Ok(t) => t?,
            Err(_) => {
                resend_at = tokio::time::Instant::now() + ACK_RESEND_AFTER;
                if round < ACK_RESENDS {
                    round += 1;
                    out.resent += left as u32;
                    let missing: Vec<usize> = (0..k).filter(|j| !answered[*j]).collect();
                    send_subscriptions(ws, spec, shared, round, missing.into_iter()).await?;
                }
                continue;
            }
        };
        match proto::classify(&text) {
            Frame::Ack(id, payload) => {
                let (r, j) = (id as usize / k, id as usize % k);
                if r > round || answered[j] {
                    continue;
                }
                answered[j] = true;
                left -= 1;
                match proto::ack_result(payload) {
                    Ok(()) => out.ok.push(spec.subscriptions[j]),
                    Err(e) => {
                        out.failed += 1;
                        out.first_error.get_or_insert(e);
                    }
                }
            }
            Frame::Ping => {
                *pings += 1;
                ws.send(Message::text(proto::PONG))
                    .await
                    .map_err(|e| format!("send pong: {e}"))?;
            }
            Frame::Close | Frame::Disconnect => {
                return Err("closed while subscribing".to_string());
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_string()),
            Some(Ok(Message::Close(_))) | None => {
                return Err("connection closed by the server".to_string());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("websocket: {e}")),
        }
    }
}
