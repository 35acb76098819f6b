//! The JSON report (`--json FILE`): every struct of the document, with stable field names
//! (described in the crate docs; `bench/summarize.py` and `bench/results/*.json` rely on them).
//! Fields added after the first reports have a `#[serde(default)]`, so older reports still read.

use serde::{Deserialize, Serialize};

use super::readings::CpuReadings;
use crate::fleet::{DeliveryCounts, ErrorCount};
use crate::hist::Percentiles;

/// The run's settings, as reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportConfig {
    /// Clients requested.
    pub clients: u64,
    /// Processes holding them.
    pub processes: u64,
    /// Audience mix.
    pub mix: String,
    /// Source addresses.
    pub source_ips: u64,
    /// Events planned.
    pub events: u64,
    /// Target events per second (0 = as fast as possible).
    pub rate: f64,
    /// Requests (or connects, for `storm`) in flight.
    pub concurrency: u64,
    /// Bytes of text per event.
    pub payload_bytes: u64,
    /// Entities.
    pub entities: u64,
    /// Subscriptions per client (`entity`).
    pub subs_per_client: u64,
    /// Idle hold, s.
    pub hold_s: f64,
    /// Emit phase cap, s.
    pub duration_s: f64,
    /// Drain timeout, s.
    pub drain_timeout_s: f64,
    /// `--settle`: connections kept open after the drain before the last memory reading, s.
    #[serde(default)]
    pub settle_s: f64,
    /// Duplicate every D-th event (0 = off).
    pub duplicate_every: u64,
    /// Runtime worker threads per bench process (`null`: one per core).
    pub threads: Option<u64>,
    /// Servers the clients are spread over.
    #[serde(default = "one")]
    pub nodes: u64,
    /// How: `contiguous` (client `i` of N on node ⌊i·nodes/N⌋, blocks of consecutive indices).
    #[serde(default = "contiguous")]
    pub spread: String,
}

pub(super) fn one() -> u64 {
    1
}

pub(super) fn contiguous() -> String {
    "contiguous".to_string()
}

/// Connections.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connections {
    /// Attempted.
    pub attempted: u64,
    /// Socket.IO handshake completed.
    pub established: u64,
    /// Could not connect.
    pub failed: u64,
    /// Why, by message (the first few kinds).
    pub errors: Vec<ErrorCount>,
    /// Established connections per second, first attempt to last handshake.
    pub handshake_rate_per_s: f64,
    /// That window, s.
    pub handshake_window_s: f64,
    /// Handshake time (TCP connect to Socket.IO CONNECT ack).
    pub handshake_ms: Percentiles,
    /// Connections lost before the end of the run.
    pub lost: u64,
    /// Why, by message.
    pub lost_errors: Vec<ErrorCount>,
    /// Engine.IO pings answered, all clients.
    pub pings: u64,
}

/// `subscribe-entity` outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscriptions {
    /// Sent.
    pub requested: u64,
    /// Acknowledged with success.
    pub ok: u64,
    /// Refused.
    pub failed: u64,
    /// Refusals by message.
    pub errors: Vec<ErrorCount>,
    /// Sent again because no ack came within 2 s (see `warnings`).
    pub resent: u64,
}

/// The servers' resident memory: of one node, or summed over the nodes (top-level
/// `memory`), per connection against the clients established on them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Memory {
    /// Its pid (the first node's, when summed).
    pub server_pid: u32,
    /// Every pid summed here.
    #[serde(default)]
    pub server_pids: Vec<u32>,
    /// Before the clients connected, KiB.
    pub rss_before_kib: Option<u64>,
    /// When all clients were connected, KiB.
    pub rss_connected_kib: Option<u64>,
    /// After the hold of `fanout`/`entity` (`--hold`), before the first emit, KiB.
    #[serde(default)]
    pub rss_held_kib: Option<u64>,
    /// After the hold (`idle`) or the drain (others), KiB.
    pub rss_after_kib: Option<u64>,
    /// (after − before) / established, KiB.
    pub per_connection_kib: Option<f64>,
    /// (connected − before) / established, KiB.
    pub per_connection_connected_kib: Option<f64>,
    /// (held − before) / established, KiB.
    #[serde(default)]
    pub per_connection_held_kib: Option<f64>,
    /// The highest reading while the server worked (sampled every 50 ms): from the first emit
    /// to the end of the drain (`fanout`/`entity`), over the hold (`idle`), KiB; summed over
    /// the servers, the highest sum read at one instant.
    #[serde(default)]
    pub peak_kib: Option<u64>,
    /// (peak − before) / established, KiB.
    #[serde(default)]
    pub per_connection_peak_kib: Option<f64>,
    /// After `--settle` seconds with the connections open after the drain, KiB.
    #[serde(default)]
    pub settled_kib: Option<u64>,
    /// (settled − before) / established, KiB.
    #[serde(default)]
    pub per_connection_settled_kib: Option<f64>,
    /// (settled − before) / (connected − before): the settled per-connection figure over the
    /// one read once connected (1 = back to it; `null` when connecting added nothing).
    #[serde(default)]
    pub settled_to_connected: Option<f64>,
}

/// One server (node) of the run and its clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeReport {
    /// Its number, 1-based, in `--target` order.
    pub node: u64,
    /// Its base URL.
    pub url: String,
    /// Whether the emit requests went to it.
    pub emits: bool,
    /// Clients assigned to it.
    pub clients: u64,
    /// … connected.
    pub established: u64,
    /// … that could not connect.
    pub failed: u64,
    /// … that lost their connection before the end.
    pub lost: u64,
    /// Engine.IO pings its clients answered.
    pub pings: u64,
    /// `connections` of its `GET /health` once all clients were connected (`null`: no
    /// answer).
    pub server_connections: Option<u64>,
    /// `strapi_io_cluster_errors_total` of its `GET /metrics` at the end (`null`: no answer):
    /// operations that could not reach the other nodes.
    #[serde(default)]
    pub server_cluster_errors: Option<u64>,
    /// `strapi_io_heartbeat_disconnects_total` of its `GET /metrics` at the end: sockets it
    /// closed for not answering pings.
    #[serde(default)]
    pub server_heartbeat_disconnects: Option<u64>,
    /// Its memory (with `--server-pid`).
    pub memory: Option<Memory>,
    /// Its CPU seconds (user + system) over `cpu.window_s` (with `--server-pid`).
    pub cpu_s: Option<f64>,
    /// Deliveries to its clients.
    pub deliveries: DeliveryCounts,
    /// End-to-end latency of those deliveries.
    pub latency_ms: Percentiles,
}

/// The Redis server of a cluster (`--redis-pid`), over the whole run (before connecting to
/// the end of the hold or drain).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedisReport {
    /// Its pid.
    pub pid: u32,
    /// CPU seconds (user + system).
    pub cpu_s: Option<f64>,
    /// Over this many seconds.
    pub window_s: f64,
    /// `cpu_s` as a percentage of one core over the window.
    pub core_pct: Option<f64>,
    /// Resident memory before connecting, KiB.
    pub rss_before_kib: Option<u64>,
    /// … at the end, KiB.
    pub rss_after_kib: Option<u64>,
}

/// CPU use in one phase of the run: `connect` (all clients connecting), `hold` (connected,
/// idle: heartbeats only), `emit` (first emit to the end of the drain).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseCpu {
    /// `connect`, `hold` or `emit`.
    pub name: String,
    /// Its length, s.
    pub window_s: f64,
    /// CPU seconds of all servers together (with `--server-pid`).
    pub server_cpu_s: Option<f64>,
    /// `server_cpu_s` as a percentage of one core.
    pub server_core_pct: Option<f64>,
    /// CPU seconds of Redis (with `--redis-pid`).
    pub redis_cpu_s: Option<f64>,
    /// `redis_cpu_s` as a percentage of one core.
    pub redis_core_pct: Option<f64>,
}

/// The emitter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Emit {
    /// Events planned.
    pub planned: u64,
    /// Events sent (the rest cut by `--duration`).
    pub dispatched: u64,
    /// Events whose request succeeded.
    pub ok: u64,
    /// Events whose request failed.
    pub failed: u64,
    /// HTTP requests (duplicates included).
    pub requests: u64,
    /// Events sent twice on purpose.
    pub duplicate_sends: u64,
    /// Target rate (0 = as fast as possible).
    pub target_rate: f64,
    /// Events sent per second.
    pub achieved_rate: f64,
    /// First request to last response, s.
    pub window_s: f64,
    /// Request round trip.
    pub rpc_ms: Percentiles,
    /// Failures by message.
    pub errors: Vec<ErrorCount>,
}

/// Deliveries to the clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deliveries {
    /// Due (routed clients × events, subscribers × their entities' events), received,
    /// missing, duplicated, out of order, unexpected.
    #[serde(flatten)]
    pub counts: DeliveryCounts,
    /// Clients with something missing.
    pub clients_with_missing: u64,
    /// Received after a later event of another entity (informational).
    pub reordered_across_streams: u64,
    /// Deliveries with a seq never emitted.
    pub out_of_range: u64,
    /// Scenario events without readable `benchSeq`/`benchSentAt`.
    pub malformed: u64,
    /// Other events received.
    pub other_events: u64,
    /// Distinct deliveries per second over the window.
    pub per_second: f64,
    /// First emit request to last delivery, s.
    pub window_s: f64,
    /// All due deliveries arrived within the drain timeout.
    pub drained: bool,
    /// Clients routed the event as a whole audience.
    pub routed_clients: u64,
    /// Clients reached through entity subscriptions only.
    pub subscriber_clients: u64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// `strapi-io-bench`.
    pub tool: String,
    /// The bench's version.
    pub version: String,
    /// `--label`.
    pub label: Option<String>,
    /// Scenario name.
    pub scenario: String,
    /// Base URL of the server the emits went to (the only one of a single-node run).
    pub target: String,
    /// Every server, in `--target` order.
    #[serde(default)]
    pub targets: Vec<String>,
    /// The number (1-based) of the server the emits went to.
    #[serde(default = "one")]
    pub emit_node: u64,
    /// Start, ms since epoch.
    pub started_at_unix_ms: u64,
    /// Whole run, s.
    pub elapsed_s: f64,
    /// Settings.
    pub config: ReportConfig,
    /// Open-files limit the bench raised itself to.
    pub nofile_limit: Option<u64>,
    /// Connections.
    pub connections: Connections,
    /// Entity subscriptions.
    pub subscriptions: Subscriptions,
    /// Server memory (with `--server-pid`), summed over the servers.
    pub memory: Option<Memory>,
    /// CPU seconds used by the server(s, summed) and the bench from "all connected" to the
    /// end of the hold or drain.
    pub cpu: CpuReadings,
    /// CPU by phase (`connect`, `hold`, `emit`), servers summed, and Redis.
    #[serde(default)]
    pub phases: Vec<PhaseCpu>,
    /// Each server and its clients.
    #[serde(default)]
    pub nodes: Vec<NodeReport>,
    /// The Redis server (with `--redis-pid`).
    #[serde(default)]
    pub redis: Option<RedisReport>,
    /// Emits (`fanout`, `entity`).
    pub emit: Option<Emit>,
    /// Deliveries.
    pub deliveries: Deliveries,
    /// End-to-end latency, `benchSentAt` to receipt.
    pub latency_ms: Percentiles,
    /// What should have been zero and was not.
    pub violations: Vec<String>,
    /// Signs of server trouble that are not correctness violations.
    pub warnings: Vec<String>,
    /// No violations.
    pub ok: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_of_an_older_report_still_reads() {
        let old = r#"{"server_pid":1,"rss_before_kib":1,"rss_connected_kib":2,"rss_after_kib":3,
                      "per_connection_kib":1.0,"per_connection_connected_kib":0.5}"#;
        let m: Memory = serde_json::from_str(old).unwrap();
        assert_eq!(m.rss_after_kib, Some(3));
        assert_eq!(
            (m.peak_kib, m.settled_kib, m.settled_to_connected),
            (None, None, None)
        );
    }
}
