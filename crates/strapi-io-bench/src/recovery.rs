//! The `recovery` scenario: connection state recovery (Socket.IO 4.6 style) under load.
//!
//! N clients connect (spread over the `--target` nodes like the other scenarios) and keep
//! the `pid` of their CONNECT reply (`40{"sid":…,"pid":…}`) and the offset of the last event
//! they received (the last argument of every event, a JSON string). The emitter drives
//! `article:update` events at `--rate` ([`crate::emit`]); `--cut-at` seconds after the first
//! emit every client drops its TCP connection at once (no Socket.IO or WebSocket close: the
//! transport is lost), waits `--reconnect-delay` seconds, and connects again — to the same
//! node, or with `--reconnect-to next` to the next one of the `--target` list — sending its
//! `auth` plus `pid` and `offset`. A reply with the same `sid` and `pid` is a recovery; the
//! server then owes the client every event it missed, in order, once.
//!
//! Measured: clients recovered / not recovered (and why not, when the reconnect failed),
//! deliveries per client against the events emitted (missing, duplicates, out of order —
//! by `benchSeq`, the emits being serialized — and offsets that did not increase), split by
//! recovered and not recovered clients; the time from the cut until each client is
//! connected again and until the last event it missed (stamped before its reconnect,
//! received after it) arrived (p50/p99/max); the servers' `data.recovery` of
//! `GET /api/io/stats` before the cut, while the clients are away and after the recovery;
//! the servers' RSS before connecting, before the cut, while away and after; with
//! `--redis-url`, Redis's `used_memory`, `MEMORY USAGE` of one kept session key (while away),
//! `XLEN` and `MEMORY USAGE` of the stream `strapi-io:log` (through `redis-cli`).
//!
//! `--stay K`: clients `0..K` keep their connection through the cut (so every audience keeps
//! a member connected). One process holds every client (`--processes 1`, at most 19,500 clients).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use strapi_io_core::offset::Offset;

use crate::audience::Audience;
use crate::client::{self, Read, ShardedCounter, Ws, read};
use crate::config::RunConfig;
use crate::emit;
use crate::fleet::{ErrorCount, note_error};
use crate::hist::{self, Percentiles};
use crate::proto::{self, Frame};
use crate::sys::{self, now_us};
use crate::tracker::{Expectation, SeqTracker};

/// Where a client reconnects after the cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReconnectTo {
    /// The node it was on.
    Same,
    /// The next node of the `--target` list (the first after the last).
    Next,
}

/// The settings of a recovery run beyond its [`RunConfig`].
#[derive(Debug, Clone)]
pub struct RecoveryOptions {
    /// Seconds after the first emit when every client drops its connection.
    pub cut_at: Duration,
    /// How long the clients stay away before reconnecting.
    pub reconnect_delay: Duration,
    /// Where they reconnect.
    pub reconnect_to: ReconnectTo,
    /// The cluster's Redis (`redis://127.0.0.1:PORT`), read with `redis-cli`.
    pub redis_url: Option<String>,
    /// Clients `0..stay` keep their connection through the cut (with the default mix, the
    /// first few cover every audience: the audiences are not left empty).
    pub stay: usize,
}

/// `data.recovery` of one server's `GET /api/io/stats` (read in its camelCase, a key it
/// lacks read as 0).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all(deserialize = "camelCase"), default)]
pub struct RecoveryStats {
    /// Whether recovery is on.
    pub enabled: bool,
    /// Sessions kept in memory (standalone).
    pub sessions: u64,
    /// Sessions left behind by lost transports.
    pub kept_sessions: u64,
    /// Events kept.
    pub buffered_packets: u64,
    /// Their bytes.
    pub buffered_bytes: u64,
    /// Sockets recovered.
    pub recovered: u64,
    /// Sessions expired (or events no longer kept).
    pub expired: u64,
    /// Over the caps.
    pub over_cap: u64,
    /// Refused.
    pub refused: u64,
    /// Not looked up (Redis unreachable).
    pub unavailable: u64,
    /// Events replayed.
    pub replayed_packets: u64,
}

impl RecoveryStats {
    fn add(&mut self, o: &RecoveryStats) {
        self.enabled |= o.enabled;
        self.sessions += o.sessions;
        self.kept_sessions += o.kept_sessions;
        self.buffered_packets += o.buffered_packets;
        self.buffered_bytes += o.buffered_bytes;
        self.recovered += o.recovered;
        self.expired += o.expired;
        self.over_cap += o.over_cap;
        self.refused += o.refused;
        self.unavailable += o.unavailable;
        self.replayed_packets += o.replayed_packets;
    }
}

/// Redis figures at one moment (`redis-cli`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RedisReading {
    /// `INFO memory` `used_memory`, bytes.
    pub used_memory: Option<u64>,
    /// `XLEN strapi-io:log`.
    pub log_xlen: Option<u64>,
    /// `MEMORY USAGE strapi-io:log`, bytes.
    pub log_bytes: Option<u64>,
    /// `MEMORY USAGE strapi-io:recovery:<pid>` of one client's session, bytes.
    pub session_key_bytes: Option<u64>,
    /// Keys matching `strapi-io:recovery:*` (`SCAN` count).
    pub session_keys: Option<u64>,
}

/// The servers (and Redis) at one moment of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reading {
    /// Seconds since the start of the run.
    pub at_s: f64,
    /// Each server's RSS, KiB (with `--server-pid`).
    pub rss_kib: Vec<Option<u64>>,
    /// Their sum.
    pub rss_total_kib: Option<u64>,
    /// Each server's `data.recovery` (`None` where it did not answer).
    pub stats: Vec<Option<RecoveryStats>>,
    /// Their sum.
    pub stats_total: RecoveryStats,
    /// With `--redis-url`.
    pub redis: Option<RedisReading>,
    /// Redis's RSS, KiB (with `--redis-pid`).
    pub redis_rss_kib: Option<u64>,
}

/// Deliveries of a set of clients.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Deliveries {
    /// Clients.
    pub clients: u64,
    /// Deliveries due (every event emitted successfully, per client).
    pub expected: u64,
    /// Deliveries received (duplicates included).
    pub received: u64,
    /// Distinct.
    pub unique: u64,
    /// Due and never received.
    pub missing: u64,
    /// Clients with at least one missing.
    pub clients_with_missing: u64,
    /// Received again.
    pub duplicates: u64,
    /// Received after a later event (the emits are serialized: any inversion counts).
    pub out_of_order: u64,
    /// Events whose offset was not above the previous one's.
    pub offset_regressions: u64,
    /// Events without an offset as their last argument.
    pub without_offset: u64,
    /// Events stamped before the client's reconnect and received after it (replayed).
    pub replayed: u64,
}

/// The report of a recovery run (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    /// `strapi-io-bench`.
    pub tool: &'static str,
    /// Its version.
    pub version: &'static str,
    /// `recovery`.
    pub scenario: &'static str,
    /// `--label`.
    pub label: Option<String>,
    /// Start, ms since epoch.
    pub started_at_unix_ms: u64,
    /// Duration of the run.
    pub elapsed_s: f64,
    /// The servers.
    pub targets: Vec<String>,
    /// The settings.
    pub config: Value,
    /// Clients attempted.
    pub clients: u64,
    /// Clients connected before the cut.
    pub established: u64,
    /// Clients that could not connect.
    pub failed: u64,
    /// Why.
    pub connect_errors: Vec<ErrorCount>,
    /// Clients that lost their connection other than by the cut.
    pub lost: u64,
    /// Why.
    pub lost_errors: Vec<ErrorCount>,
    /// Clients cut.
    pub cut: u64,
    /// Clients connected again after the cut.
    pub reconnected: u64,
    /// … with their old sid and pid.
    pub recovered: u64,
    /// … with a new sid (a new session).
    pub not_recovered: u64,
    /// … with the old pid but a new sid, or the reverse (should be 0).
    pub inconsistent: u64,
    /// Reconnects that failed.
    pub reconnect_failed: u64,
    /// Why.
    pub reconnect_errors: Vec<ErrorCount>,
    /// Reconnected clients, per node they reconnected to.
    pub reconnected_per_node: Vec<u64>,
    /// Time from the cut to the CONNECT reply of the reconnect, ms (includes the delay).
    pub reconnect_ms: Percentiles,
    /// From the cut until the last connected client got its reply, ms.
    pub all_reconnected_ms: f64,
    /// Time from the cut until the last event each recovered client missed arrived, ms.
    pub caught_up_ms: Percentiles,
    /// From the cut until every recovered client had caught up, ms.
    pub all_caught_up_ms: f64,
    /// The emitter: planned, dispatched, failed, achieved rate.
    pub emit: Value,
    /// The events emitted before the cut and while the clients were away (by `benchSentAt`).
    pub emitted_while_away: u64,
    /// Every client.
    pub deliveries: Deliveries,
    /// Recovered clients.
    pub deliveries_recovered: Deliveries,
    /// Clients not recovered (they miss what was sent while they were away).
    pub deliveries_not_recovered: Deliveries,
    /// Whether every due delivery of the recovered clients arrived within the drain timeout.
    pub drained: bool,
    /// Before connecting.
    pub before_connect: Reading,
    /// Just before the cut.
    pub before_cut: Reading,
    /// While the clients are away (at 70 % of the delay).
    pub away: Reading,
    /// Once every client is back and drained.
    pub after: Reading,
    /// `replayedPackets` after − before the cut, summed over the servers.
    pub replayed_packets: u64,
    /// (RSS away − RSS before connecting) / kept sessions, KiB.
    pub rss_away_per_kept_session_kib: Option<f64>,
    /// (Redis used_memory away − before the cut) / clients cut, bytes.
    pub redis_bytes_per_session: Option<f64>,
    /// What should have been zero: duplicates, out of order, missing of recovered clients,
    /// clients not recovered, offset regressions.
    pub violations: Vec<String>,
    /// `violations` is empty.
    pub ok: bool,
}

impl RecoveryReport {
    /// A human-readable summary.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let d = &self.deliveries;
        s.push_str(&format!(
            "recovery: {} clients on {} node(s), {} connected, {} cut, {} reconnected: {} recovered, {} not recovered, {} failed\n",
            self.clients,
            self.targets.len(),
            self.established,
            self.cut,
            self.reconnected,
            self.recovered,
            self.not_recovered,
            self.reconnect_failed
        ));
        s.push_str(&format!(
            "reconnect after the cut (ms): p50 {:.0} p99 {:.0} max {:.0}; all reconnected {:.0}\n",
            self.reconnect_ms.p50,
            self.reconnect_ms.p99,
            self.reconnect_ms.max,
            self.all_reconnected_ms
        ));
        s.push_str(&format!(
            "caught up after the cut (ms): p50 {:.0} p99 {:.0} max {:.0}; all caught up {:.0}\n",
            self.caught_up_ms.p50,
            self.caught_up_ms.p99,
            self.caught_up_ms.max,
            self.all_caught_up_ms
        ));
        s.push_str(&format!(
            "deliveries: expected {} received {} unique {} missing {} duplicates {} out of order {} offset regressions {} replayed (client view) {}\n",
            d.expected, d.received, d.unique, d.missing, d.duplicates, d.out_of_order, d.offset_regressions, d.replayed
        ));
        s.push_str(&format!(
            "  recovered clients: missing {} duplicates {} out of order {}; not recovered: missing {} (events sent while away: {})\n",
            self.deliveries_recovered.missing,
            self.deliveries_recovered.duplicates,
            self.deliveries_recovered.out_of_order,
            self.deliveries_not_recovered.missing,
            self.emitted_while_away
        ));
        s.push_str(&format!(
            "server replayedPackets {}; stats after: recovered {} expired {} overCap {} refused {} unavailable {}\n",
            self.replayed_packets,
            self.after.stats_total.recovered,
            self.after.stats_total.expired,
            self.after.stats_total.over_cap,
            self.after.stats_total.refused,
            self.after.stats_total.unavailable
        ));
        let kib = |r: &Reading| {
            r.rss_total_kib
                .map_or("-".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
        };
        s.push_str(&format!(
            "server RSS: before connect {}, before cut {}, away {}, after {}; away per kept session {}\n",
            kib(&self.before_connect),
            kib(&self.before_cut),
            kib(&self.away),
            kib(&self.after),
            self.rss_away_per_kept_session_kib
                .map_or("-".to_string(), |k| format!("{k:.2} KiB"))
        ));
        if let (Some(b), Some(a)) = (&self.before_cut.redis, &self.away.redis) {
            s.push_str(&format!(
                "redis used_memory: before cut {:?}, away {:?}; per session {:?} B; one session key {:?} B; session keys {:?}; log XLEN {:?} ({:?} B)\n",
                b.used_memory,
                a.used_memory,
                self.redis_bytes_per_session.map(|v| v.round()),
                a.session_key_bytes,
                a.session_keys,
                a.log_xlen,
                a.log_bytes
            ));
        }
        if self.violations.is_empty() {
            s.push_str("ok\n");
        } else {
            for v in &self.violations {
                s.push_str(&format!("VIOLATION: {v}\n"));
            }
        }
        s
    }
}

/// What the driver tells the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Run,
    Cut,
    Stop,
}

/// Sent by a client as it goes.
enum Note {
    Connected {
        index: usize,
        result: Result<String, String>,
    },
    Reconnected,
}

struct Shared {
    urls: Vec<(SocketAddr, String)>,
    ws_config: WebSocketConfig,
    connect_timeout: Duration,
    slots: Semaphore,
    event_prefix: String,
    seq_limit: u64,
    delay: Duration,
    reconnect_to: ReconnectTo,
    unique: ShardedCounter,
}

struct Spec {
    index: usize,
    cuts: bool,
    node: usize,
    auth: Option<Value>,
    source: Option<(std::net::Ipv4Addr, u16)>,
}

/// How one client ended.
struct Outcome {
    connected: bool,
    lost: Option<String>,
    cut_us: u64,
    reconnect: Option<Result<Reconnect, String>>,
    tracker: SeqTracker,
    last_offset: Option<Offset>,
    offset_regressions: u64,
    without_offset: u64,
    replayed: u64,
    caught_up_us: u64,
}

#[derive(Debug, Clone, Copy)]
struct Reconnect {
    at_us: u64,
    node: usize,
    same_sid: bool,
    same_pid: bool,
}

/// `"sid"` and `"pid"` of a CONNECT reply payload (`{"sid":…,"pid":…}`).
pub fn connect_ids(frame: &str) -> (Option<String>, Option<String>) {
    let v: Option<Value> = frame
        .strip_prefix("40")
        .and_then(|p| serde_json::from_str(p).ok());
    let get = |k: &str| {
        v.as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    (get("sid"), get("pid"))
}

/// The offset of an event payload: its last argument when that is a JSON string, raw.
pub fn event_offset(payload: &str) -> Option<&str> {
    let body = payload.trim_end().strip_suffix("\"]")?;
    let start = body.rfind('"')? + 1;
    let off = &body[start..];
    body[..start - 1]
        .trim_end()
        .ends_with(',')
        .then_some(off)
        .filter(|o| !o.is_empty() && !o.contains('\\'))
}

/// The CONNECT frame of a reconnect: the audience's auth plus `pid` and `offset` when the
/// first CONNECT reply gave a pid (none when recovery is off on the server).
pub fn recovery_connect_frame(
    auth: Option<&Value>,
    pid: Option<&str>,
    offset: Option<&str>,
) -> String {
    let mut obj = match auth {
        Some(Value::Object(m)) => m.clone(),
        _ => serde_json::Map::new(),
    };
    if let Some(pid) = pid {
        obj.insert("pid".to_string(), Value::String(pid.to_string()));
        if let Some(o) = offset {
            obj.insert("offset".to_string(), Value::String(o.to_string()));
        }
    }
    format!("40{}", Value::Object(obj))
}

async fn handshake(
    shared: &Shared,
    node: usize,
    source: Option<(std::net::Ipv4Addr, u16)>,
    frame: &str,
) -> Result<(Ws, String), String> {
    let (addr, url) = &shared.urls[node];
    let stream = client::connect_tcp(source, *addr).await?;
    let _ = stream.set_nodelay(true);
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(shared.ws_config))
            .await
            .map_err(|e| format!("websocket upgrade: {e}"))?;
    let mut opened = false;
    loop {
        let text = match ws.next().await {
            Some(Ok(Message::Text(t))) => t.as_str().to_string(),
            Some(Ok(Message::Close(_))) | None => return Err("closed during the handshake".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("websocket: {e}")),
        };
        match proto::classify(&text) {
            Frame::Open if !opened => {
                opened = true;
                ws.send(Message::text(frame))
                    .await
                    .map_err(|e| format!("send connect: {e}"))?;
            }
            Frame::Ping => ws
                .send(Message::text(proto::PONG))
                .await
                .map_err(|e| format!("send pong: {e}"))?,
            Frame::Connected if opened => return Ok((ws, text)),
            Frame::ConnectError(p) => return Err(proto::connect_error_message(p)),
            Frame::Close | Frame::Disconnect => return Err("closed during the handshake".into()),
            _ => {}
        }
    }
}

async fn connect_bounded(
    shared: &Shared,
    node: usize,
    source: Option<(std::net::Ipv4Addr, u16)>,
    frame: &str,
) -> Result<(Ws, String), String> {
    let _permit = shared
        .slots
        .acquire()
        .await
        .map_err(|_| "closed".to_string())?;
    tokio::time::timeout(
        shared.connect_timeout,
        handshake(shared, node, source, frame),
    )
    .await
    .unwrap_or_else(|_| Err("connect timed out".to_string()))
}

async fn run_client(
    spec: Spec,
    shared: Arc<Shared>,
    notes: mpsc::UnboundedSender<Note>,
    mut phase: watch::Receiver<Phase>,
) -> Outcome {
    let mut out = Outcome {
        connected: false,
        lost: None,
        cut_us: 0,
        reconnect: None,
        tracker: SeqTracker::new(shared.seq_limit, 1),
        last_offset: None,
        offset_regressions: 0,
        without_offset: 0,
        replayed: 0,
        caught_up_us: 0,
    };
    let first = proto::connect_frame(spec.auth.as_ref());
    let (mut ws, reply) = match connect_bounded(&shared, spec.node, spec.source, &first).await {
        Ok(c) => c,
        Err(e) => {
            let _ = notes.send(Note::Connected {
                index: spec.index,
                result: Err(e),
            });
            return out;
        }
    };
    let (sid, pid) = connect_ids(&reply);
    out.connected = true;
    let _ = notes.send(Note::Connected {
        index: spec.index,
        result: Ok(pid.clone().unwrap_or_default()),
    });
    let mut offset: Option<String> = None;
    let mut reconnected_us = 0u64;
    loop {
        tokio::select! {
            biased;
            changed = phase.changed() => {
                let p = if changed.is_ok() { *phase.borrow() } else { Phase::Stop };
                match p {
                    Phase::Run => continue,
                    Phase::Stop => break,
                    Phase::Cut if out.cut_us != 0 || !spec.cuts => continue,
                    Phase::Cut => {}
                }
                // The cut: drop the TCP connection without a close frame.
                out.cut_us = now_us();
                drop(ws);
                tokio::select! {
                    _ = tokio::time::sleep(shared.delay) => {}
                    _ = phase.wait_for(|p| *p == Phase::Stop) => return out,
                }
                let node = match shared.reconnect_to {
                    ReconnectTo::Same => spec.node,
                    ReconnectTo::Next => (spec.node + 1) % shared.urls.len(),
                };
                // Without a pid (recovery off on the server) the client reconnects as a new
                // session, as the official client does; it counts as not recovered.
                let frame = recovery_connect_frame(spec.auth.as_ref(), pid.as_deref(), offset.as_deref());
                match connect_bounded(&shared, node, spec.source, &frame).await {
                    Ok((w, reply)) => {
                        reconnected_us = now_us();
                        let (s2, p2) = connect_ids(&reply);
                        out.reconnect = Some(Ok(Reconnect {
                            at_us: reconnected_us,
                            node,
                            same_sid: s2.is_some() && s2 == sid,
                            same_pid: p2.is_some() && p2 == pid,
                        }));
                        out.caught_up_us = reconnected_us;
                        let _ = notes.send(Note::Reconnected);
                        ws = w;
                    }
                    Err(e) => {
                        out.reconnect = Some(Err(e));
                        let _ = notes.send(Note::Reconnected);
                        let _ = phase.wait_for(|p| *p == Phase::Stop).await;
                        return out;
                    }
                }
            }
            msg = ws.next() => {
                let text = match read(&mut ws, msg).await {
                    Read::Text(t) => t,
                    Read::Pinged | Read::Skip => continue,
                    Read::Lost(why) => {
                        out.lost = Some(why);
                        break;
                    }
                };
                match proto::classify(text.as_str()) {
                    Frame::Event(p) if p.starts_with(&shared.event_prefix) => {
                        let (Some(seq), Some(sent)) = proto::bench_fields(p) else {
                            continue;
                        };
                        match event_offset(p) {
                            Some(o) => {
                                if let Some(pair) = Offset::parse(o) {
                                    if out.last_offset.is_some_and(|last| pair <= last) {
                                        out.offset_regressions += 1;
                                    }
                                    out.last_offset = Some(pair);
                                }
                                offset = Some(o.to_string());
                            }
                            None => out.without_offset += 1,
                        }
                        if out.tracker.record(seq) == crate::tracker::Recorded::New {
                            shared.unique.add(spec.index, 1);
                        }
                        if reconnected_us != 0 && sent < reconnected_us {
                            out.replayed += 1;
                            out.caught_up_us = now_us();
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
    out
}

async fn stats(client: &reqwest::Client, cfg: &RunConfig) -> Vec<Option<RecoveryStats>> {
    let reads = cfg.targets.iter().map(|t| {
        let url = format!("{}/api/io/stats", t.base_url());
        let auth = format!("Bearer {}", cfg.admin_token);
        async move {
            let r = client
                .get(url)
                .header("Authorization", auth)
                .send()
                .await
                .ok()?;
            let v: Value = r.json().await.ok()?;
            let rec = v.get("data")?.get("recovery")?;
            serde_json::from_value(rec.clone()).ok()
        }
    });
    futures_util::future::join_all(reads).await
}

async fn redis_cli(url: &str, args: &[&str]) -> Option<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::process::Command::new("redis-cli")
            .arg("-u")
            .arg(url)
            .args(args)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

async fn redis_reading(url: &str, session_pid: Option<&str>) -> RedisReading {
    let num = |s: Option<String>| s.and_then(|s| s.trim().parse::<u64>().ok());
    let info = redis_cli(url, &["INFO", "memory"]).await;
    let used_memory = info.as_deref().and_then(|t| {
        t.lines()
            .find_map(|l| l.trim().strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
    });
    let session_key_bytes = match session_pid {
        Some(pid) => {
            let key = format!("strapi-io:recovery:{pid}");
            num(redis_cli(url, &["MEMORY", "USAGE", &key]).await)
        }
        None => None,
    };
    // The sessions' keys, counted by one SCAN walk (bounded: the keyspace is small).
    let mut session_keys = 0u64;
    let mut cursor = "0".to_string();
    let mut complete = false;
    for _ in 0..10_000 {
        let Some(text) = redis_cli(
            url,
            &[
                "SCAN",
                &cursor,
                "MATCH",
                "strapi-io:recovery:*",
                "COUNT",
                "10000",
            ],
        )
        .await
        else {
            break;
        };
        let mut lines = text.lines();
        cursor = lines.next().unwrap_or("0").trim().to_string();
        session_keys += lines.filter(|l| !l.trim().is_empty()).count() as u64;
        if cursor == "0" {
            complete = true;
            break;
        }
    }
    RedisReading {
        used_memory,
        log_xlen: num(redis_cli(url, &["XLEN", "strapi-io:log"]).await),
        log_bytes: num(redis_cli(url, &["MEMORY", "USAGE", "strapi-io:log"]).await),
        session_key_bytes,
        session_keys: complete.then_some(session_keys),
    }
}

async fn reading(
    client: &reqwest::Client,
    cfg: &RunConfig,
    opts: &RecoveryOptions,
    t0: Instant,
    session_pid: Option<&str>,
) -> Reading {
    let rss: Vec<Option<u64>> = cfg.server_pids.iter().map(|&p| sys::rss_kib(p)).collect();
    let stats = stats(client, cfg).await;
    let mut total = RecoveryStats::default();
    for s in stats.iter().flatten() {
        total.add(s);
    }
    let redis = match &opts.redis_url {
        Some(u) => Some(redis_reading(u, session_pid).await),
        None => None,
    };
    Reading {
        at_s: t0.elapsed().as_secs_f64(),
        rss_total_kib: (!rss.is_empty() && rss.iter().all(Option::is_some))
            .then(|| rss.iter().flatten().sum()),
        rss_kib: rss,
        stats,
        stats_total: total,
        redis,
        redis_rss_kib: cfg.redis_pid.and_then(sys::rss_kib),
    }
}

/// Runs the recovery scenario; bounded by `cfg.deadline`.
pub async fn run(cfg: &RunConfig, opts: &RecoveryOptions) -> anyhow::Result<RecoveryReport> {
    cfg.validate()?;
    if cfg.processes != 1 {
        bail!("recovery runs in one process (--processes 1, at most 19,500 clients)");
    }
    if cfg.rate <= 0.0 {
        bail!("recovery needs a --rate > 0 (events flowing across the cut)");
    }
    if opts.cut_at >= cfg.duration {
        bail!("--cut-at must be before the end of the emits (--duration)");
    }
    let nofile = sys::raise_nofile_limit();
    if let Some(n) = nofile
        && cfg.clients as u64 + 200 > n
    {
        bail!("{} clients need more open files than {n}", cfg.clients);
    }
    tokio::time::timeout(cfg.deadline, phases(cfg, opts))
        .await
        .map_err(|_| anyhow::anyhow!("the run exceeded its deadline"))?
}

async fn phases(cfg: &RunConfig, opts: &RecoveryOptions) -> anyhow::Result<RecoveryReport> {
    let t0 = Instant::now();
    let started_ms = now_us() / 1000;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .context("HTTP client")?;
    let before_connect = reading(&http, cfg, opts, t0, None).await;
    let shared = Arc::new(Shared {
        urls: cfg
            .targets
            .iter()
            .map(|t| {
                (
                    SocketAddr::new(t.ip.into(), t.port),
                    proto::ws_url(&t.ip.to_string(), t.port, &cfg.path),
                )
            })
            .collect(),
        ws_config: client::ws_config(cfg.payload_bytes),
        connect_timeout: cfg.connect_timeout,
        slots: Semaphore::new(cfg.connect_concurrency),
        event_prefix: format!("[\"{}\",", cfg.scenario.event_name()),
        seq_limit: cfg.events,
        delay: opts.reconnect_delay,
        reconnect_to: opts.reconnect_to,
        unique: ShardedCounter::new(client::shard_count()),
    });
    let mut auths: HashMap<Audience, Option<Value>> = HashMap::new();
    for a in cfg.mix.audiences() {
        auths.insert(a, a.auth(&cfg.credentials)?);
    }
    let ports = sys::port_range();
    let (phase_tx, phase_rx) = watch::channel(Phase::Run);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::with_capacity(cfg.clients);
    let mut routed = Vec::with_capacity(cfg.clients);
    for index in 0..cfg.clients {
        let audience = cfg.mix.audience_of(index);
        routed.push(audience.routed(cfg.scenario));
        let spec = Spec {
            index,
            cuts: index >= opts.stay,
            node: cfg.node_of(index),
            auth: auths.get(&audience).cloned().flatten(),
            source: cfg.source_of(index, ports),
        };
        tasks.push(tokio::spawn(run_client(
            spec,
            shared.clone(),
            tx.clone(),
            phase_rx.clone(),
        )));
    }
    drop(tx);
    let (mut established, mut failed) = (0u64, 0u64);
    let mut connect_errors = Vec::new();
    let mut session_pid: Option<String> = None;
    let mut routed_established = 0u64;
    let mut staying = 0u64;
    while established + failed < cfg.clients as u64 {
        match rx.recv().await {
            Some(Note::Connected { index, result }) => match result {
                Ok(pid) => {
                    established += 1;
                    routed_established += routed[index] as u64;
                    staying += (index < opts.stay) as u64;
                    if index == 0 || session_pid.is_none() {
                        session_pid = Some(pid).filter(|p| !p.is_empty());
                    }
                }
                Err(e) => {
                    failed += 1;
                    note_error(&mut connect_errors, &e, 1);
                }
            },
            Some(Note::Reconnected) => {}
            None => break,
        }
    }
    eprintln!(
        "recovery: {established} connected, {failed} failed ({:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    // Events flow; the cut comes `cut_at` after the first emit.
    let emit_cfg = cfg.clone();
    let emitter = tokio::spawn(async move { emit::emit(&emit_cfg).await });
    tokio::time::sleep(opts.cut_at).await;
    let before_cut = reading(&http, cfg, opts, t0, session_pid.as_deref()).await;
    let cut_us = now_us();
    let _ = phase_tx.send(Phase::Cut);
    eprintln!("recovery: cut at {:.1} s", t0.elapsed().as_secs_f64());
    tokio::time::sleep(opts.reconnect_delay.mul_f64(0.7)).await;
    let away = reading(&http, cfg, opts, t0, session_pid.as_deref()).await;
    // Every connected client reconnects (or fails).
    let mut back = 0u64;
    let wait_back = async {
        while back < established - staying {
            match rx.recv().await {
                Some(Note::Reconnected) => back += 1,
                Some(_) => {}
                None => break,
            }
        }
    };
    let _ = tokio::time::timeout(
        opts.reconnect_delay + cfg.connect_timeout + Duration::from_secs(5),
        wait_back,
    )
    .await;
    eprintln!(
        "recovery: {back} reconnect attempts done at {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let emitted = emitter.await.context("the emitter")??;
    // Drain: every due delivery of every client that reconnected.
    let exp = Expectation::new(&emitted.summary);
    let due = routed_established * exp.expected_count(true, &[]);
    let deadline = Instant::now() + cfg.drain_timeout;
    let mut drained = false;
    while Instant::now() < deadline {
        if shared.unique.sum() >= due {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = reading(&http, cfg, opts, t0, None).await;
    let _ = phase_tx.send(Phase::Stop);

    // Fold the outcomes.
    let mut r_all = Deliveries::default();
    let mut r_rec = Deliveries::default();
    let mut r_not = Deliveries::default();
    let (mut lost, mut cut, mut recovered, mut not_recovered, mut inconsistent) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut reconnect_failed = 0u64;
    let mut lost_errors = Vec::new();
    let mut reconnect_errors = Vec::new();
    let mut per_node = vec![0u64; cfg.targets.len()];
    let mut reconnect_h = hist::new_histogram();
    let mut caught_h: Histogram<u64> = hist::new_histogram();
    let (mut last_back, mut last_caught) = (0u64, 0u64);
    for (i, t) in tasks.into_iter().enumerate() {
        let Ok(o) = t.await else {
            lost += 1;
            note_error(&mut lost_errors, "client task failed", 1);
            continue;
        };
        if !o.connected {
            continue;
        }
        if let Some(e) = &o.lost {
            lost += 1;
            note_error(&mut lost_errors, e, 1);
        }
        let mut is_recovered = false;
        if o.cut_us != 0 {
            cut += 1;
        }
        match &o.reconnect {
            Some(Ok(rc)) => {
                per_node[rc.node] += 1;
                let since = rc.at_us.saturating_sub(o.cut_us);
                hist::record(&mut reconnect_h, since);
                last_back = last_back.max(rc.at_us);
                match (rc.same_sid, rc.same_pid) {
                    (true, true) => {
                        recovered += 1;
                        is_recovered = true;
                        hist::record(&mut caught_h, o.caught_up_us.saturating_sub(o.cut_us));
                        last_caught = last_caught.max(o.caught_up_us);
                    }
                    (false, false) => not_recovered += 1,
                    _ => inconsistent += 1,
                }
            }
            Some(Err(e)) => {
                reconnect_failed += 1;
                note_error(&mut reconnect_errors, e, 1);
            }
            None => {}
        }
        let v = exp.judge(&o.tracker, routed[i], &[]);
        let tr = &o.tracker;
        let d = Deliveries {
            clients: 1,
            expected: v.expected,
            received: tr.received,
            unique: tr.unique,
            missing: v.missing,
            clients_with_missing: (v.missing > 0) as u64,
            duplicates: tr.duplicates,
            out_of_order: tr.out_of_order + tr.reordered_across_streams,
            offset_regressions: o.offset_regressions,
            without_offset: o.without_offset,
            replayed: o.replayed,
        };
        add(&mut r_all, &d);
        if is_recovered {
            add(&mut r_rec, &d);
        } else {
            add(&mut r_not, &d);
        }
    }
    let emitted_while_away = {
        // Events are paced: seq s is stamped about s / rate after the first request.
        let away_s = (last_back.saturating_sub(cut_us)) as f64 / 1e6;
        (away_s * cfg.rate).round() as u64
    };
    let ms = |us: u64, from: u64| {
        if us == 0 {
            0.0
        } else {
            us.saturating_sub(from) as f64 / 1000.0
        }
    };
    let replayed_packets = after
        .stats_total
        .replayed_packets
        .saturating_sub(before_cut.stats_total.replayed_packets);
    let kept = away
        .stats_total
        .kept_sessions
        .saturating_sub(before_cut.stats_total.kept_sessions);
    let rss_away_per_kept_session_kib = match (away.rss_total_kib, before_connect.rss_total_kib) {
        (Some(a), Some(b)) if kept > 0 => Some((a as f64 - b as f64) / kept as f64),
        _ => None,
    };
    let redis_bytes_per_session = match (
        away.redis.as_ref().and_then(|r| r.used_memory),
        before_cut.redis.as_ref().and_then(|r| r.used_memory),
    ) {
        (Some(a), Some(b)) if cut > 0 => Some((a as f64 - b as f64) / cut as f64),
        _ => None,
    };
    let mut violations = Vec::new();
    // With recovery off on the server every cut client is a new session and events carry no
    // offset: a baseline run, judged only on what it still promises.
    let enabled = after.stats_total.enabled;
    if enabled && recovered < cut {
        violations.push(format!(
            "{} of {cut} clients cut not recovered ({not_recovered} new session, {inconsistent} inconsistent ids, {reconnect_failed} reconnect failed)",
            cut - recovered
        ));
    }
    for (name, n) in [
        ("duplicates", r_all.duplicates),
        ("out of order", r_all.out_of_order),
        ("missing (recovered clients)", r_rec.missing),
        ("offset regressions", r_all.offset_regressions),
        ("events without offset", r_all.without_offset),
        ("lost connections", lost),
    ] {
        let about_recovery = name.contains("offset") || name.contains("recovered");
        if n > 0 && (enabled || !about_recovery) {
            violations.push(format!("{name}: {n}"));
        }
    }
    if !emitted.summary.failed.is_empty() {
        violations.push(format!(
            "emit requests failed: {}",
            emitted.summary.failed.len()
        ));
    }
    let config = serde_json::json!({
        "clients": cfg.clients,
        "mix": cfg.mix.to_string(),
        "events": cfg.events,
        "rate": cfg.rate,
        "payload_bytes": cfg.payload_bytes,
        "connect_concurrency": cfg.connect_concurrency,
        "source_ips": cfg.source_ips,
        "nodes": cfg.targets.len(),
        "emit_node": cfg.emit_target + 1,
        "cut_at_s": opts.cut_at.as_secs_f64(),
        "reconnect_delay_s": opts.reconnect_delay.as_secs_f64(),
        "reconnect_to": opts.reconnect_to,
        "stay": opts.stay,
        "redis_url": opts.redis_url,
        "drain_timeout_s": cfg.drain_timeout.as_secs_f64(),
    });
    let emit = serde_json::json!({
        "planned": emitted.summary.planned,
        "dispatched": emitted.summary.dispatched,
        "failed": emitted.summary.failed.len(),
        "requests": emitted.requests,
        "errors": emitted.errors,
        "window_s": emitted.elapsed.as_secs_f64(),
        "achieved_rate": emitted.summary.dispatched as f64 / emitted.elapsed.as_secs_f64().max(1e-9),
    });
    Ok(RecoveryReport {
        tool: "strapi-io-bench",
        version: env!("CARGO_PKG_VERSION"),
        scenario: "recovery",
        label: cfg.label.clone(),
        started_at_unix_ms: started_ms,
        elapsed_s: t0.elapsed().as_secs_f64(),
        targets: cfg.targets.iter().map(|t| t.base_url()).collect(),
        config,
        clients: cfg.clients as u64,
        established,
        failed,
        connect_errors,
        lost,
        lost_errors,
        cut,
        reconnected: recovered + not_recovered + inconsistent,
        recovered,
        not_recovered,
        inconsistent,
        reconnect_failed,
        reconnect_errors,
        reconnected_per_node: per_node,
        reconnect_ms: Percentiles::of(&reconnect_h),
        all_reconnected_ms: ms(last_back, cut_us),
        caught_up_ms: Percentiles::of(&caught_h),
        all_caught_up_ms: ms(last_caught, cut_us),
        emit,
        emitted_while_away,
        deliveries: r_all,
        deliveries_recovered: r_rec,
        deliveries_not_recovered: r_not,
        drained,
        before_connect,
        before_cut,
        away,
        after,
        replayed_packets,
        rss_away_per_kept_session_kib,
        redis_bytes_per_session,
        ok: violations.is_empty(),
        violations,
    })
}

fn add(into: &mut Deliveries, d: &Deliveries) {
    into.clients += d.clients;
    into.expected += d.expected;
    into.received += d.received;
    into.unique += d.unique;
    into.missing += d.missing;
    into.clients_with_missing += d.clients_with_missing;
    into.duplicates += d.duplicates;
    into.out_of_order += d.out_of_order;
    into.offset_regressions += d.offset_regressions;
    into.without_offset += d.without_offset;
    into.replayed += d.replayed;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_servers_recovery_stats() {
        let s: RecoveryStats = serde_json::from_value(
            json!({"enabled": true, "keptSessions": 3, "replayedPackets": 7, "overCap": 1}),
        )
        .unwrap();
        assert!(s.enabled);
        assert_eq!(
            (s.kept_sessions, s.replayed_packets, s.over_cap, s.recovered),
            (3, 7, 1, 0)
        );
        let out = serde_json::to_value(&s).unwrap();
        assert_eq!(
            out["kept_sessions"], 3,
            "reported in the bench's snake_case"
        );
    }

    #[test]
    fn reads_ids_and_offsets() {
        assert_eq!(
            connect_ids(r#"40{"sid":"a","pid":"b"}"#),
            (Some("a".to_string()), Some("b".to_string()))
        );
        assert_eq!(connect_ids("40"), (None, None));
        let p = r#"["article:update",{"data":{"benchSeq":1}},"0-17"]"#;
        assert_eq!(event_offset(p), Some("0-17"));
        assert_eq!(event_offset(r#"["a",{"x":1}]"#), None);
        assert_eq!(event_offset(r#"["a","x"]"#), Some("x"));
        assert_eq!(
            recovery_connect_frame(Some(&json!({"token": "t"})), Some("p"), Some("0-1")),
            r#"40{"offset":"0-1","pid":"p","token":"t"}"#
        );
        assert_eq!(
            recovery_connect_frame(None, Some("p"), None),
            r#"40{"pid":"p"}"#
        );
        // No pid (recovery off): a plain reconnect, an offset alone is not sent.
        assert_eq!(
            recovery_connect_frame(Some(&json!({"token": "t"})), None, Some("0-1")),
            r#"40{"token":"t"}"#
        );
    }
}
