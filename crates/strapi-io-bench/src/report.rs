//! The result of a run: the [`Report`] with every number under stable field names (the
//! `--json` document, described in the crate docs), how it is computed from the merged
//! [`FleetReport`], the emitter's result and the [`Readings`] of the servers (and of Redis)
//! taken at the phase boundaries, which counters count as violations, and the human table
//! printed on stdout.

use crate::fleet::DeliveryCounts;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::emit::EmitResult;
use crate::fleet::{ErrorCount, FleetReport, NodeCounts};
use crate::hist::Percentiles;
use crate::peak::PeakTracker;

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

fn one() -> u64 {
    1
}

fn contiguous() -> String {
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

/// The readings one [`Memory`] is made of, KiB.
#[derive(Debug, Clone, Copy, Default)]
struct Rss {
    before: Option<u64>,
    connected: Option<u64>,
    held: Option<u64>,
    after: Option<u64>,
    peak: Option<u64>,
    settled: Option<u64>,
}

/// (`v` − `before`) / `established`, rounded to 0.01 KiB.
fn per_connection(v: Option<u64>, before: Option<u64>, established: u64) -> Option<f64> {
    match (v, before) {
        (Some(v), Some(b)) if established > 0 => {
            Some(round2((v as f64 - b as f64) / established as f64))
        }
        _ => None,
    }
}

/// (`settled` − `before`) / (`connected` − `before`), rounded to 0.001 (`None` unless
/// connecting raised the memory).
fn settled_ratio(before: Option<u64>, connected: Option<u64>, settled: Option<u64>) -> Option<f64> {
    let (b, c, s) = (before? as f64, connected? as f64, settled? as f64);
    (c > b).then(|| round3((s - b) / (c - b)))
}

impl Memory {
    fn of(pids: &[u32], rss: Rss, established: u64) -> Memory {
        let per = |v: Option<u64>| per_connection(v, rss.before, established);
        Memory {
            server_pid: pids.first().copied().unwrap_or(0),
            server_pids: pids.to_vec(),
            rss_before_kib: rss.before,
            rss_connected_kib: rss.connected,
            rss_held_kib: rss.held,
            rss_after_kib: rss.after,
            per_connection_kib: per(rss.after),
            per_connection_connected_kib: per(rss.connected),
            per_connection_held_kib: per(rss.held),
            peak_kib: rss.peak,
            per_connection_peak_kib: per(rss.peak),
            settled_kib: rss.settled,
            per_connection_settled_kib: per(rss.settled),
            settled_to_connected: settled_ratio(rss.before, rss.connected, rss.settled),
        }
    }
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

/// One reading of the processes around the bench.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// When, s since the run started.
    pub at_s: f64,
    /// `VmRSS` of each server, KiB (`--server-pid` order).
    pub server_rss: Vec<Option<u64>>,
    /// CPU seconds of each server so far.
    pub server_cpu: Vec<Option<f64>>,
    /// `VmRSS` of Redis, KiB.
    pub redis_rss: Option<u64>,
    /// CPU seconds of Redis so far.
    pub redis_cpu: Option<f64>,
}

impl Sample {
    /// The sum of the servers' CPU seconds, if every one was read.
    pub fn server_cpu_sum(&self) -> Option<f64> {
        sum_all(&self.server_cpu)
    }
}

fn sum_all<T: Copy + std::iter::Sum<T>>(v: &[Option<T>]) -> Option<T> {
    if v.is_empty() {
        return None;
    }
    v.iter()
        .copied()
        .collect::<Option<Vec<T>>>()
        .map(|v| v.into_iter().sum())
}

/// Counters a gateway exposes on `GET /metrics`, read at the end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerCounters {
    /// `strapi_io_cluster_errors_total`.
    pub cluster_errors: u64,
    /// `strapi_io_heartbeat_disconnects_total`.
    pub heartbeat_disconnects: u64,
}

impl ServerCounters {
    /// From a Prometheus text page (a counter absent from it is 0).
    pub fn parse(text: &str) -> ServerCounters {
        let sum = |name: &str| -> u64 {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let rest = l.strip_prefix(name)?;
                    if !(rest.starts_with(' ') || rest.starts_with('{')) {
                        return None;
                    }
                    let v: f64 = rest.rsplit(' ').next()?.parse().ok()?;
                    Some(v as u64)
                })
                .sum()
        };
        ServerCounters {
            cluster_errors: sum("strapi_io_cluster_errors_total"),
            heartbeat_disconnects: sum("strapi_io_heartbeat_disconnects_total"),
        }
    }
}

/// What the parent read around the phases: before connecting, once connected, after the
/// hold of an emitting scenario, at the end (after the hold or the drain) and after
/// `--settle`; the servers' peak memory in between; each server's `GET /health` connection
/// count once connected.
#[derive(Debug, Clone, Default)]
pub struct Readings {
    /// Before the first connect.
    pub before: Sample,
    /// All clients connected.
    pub connected: Sample,
    /// After `--hold`, before the first emit (`fanout`/`entity` with a hold).
    pub held: Option<Sample>,
    /// After the hold (`idle`) or the drain.
    pub after: Sample,
    /// The servers' peak memory over the hold (`idle`) or from the first emit to the end of
    /// the drain (`fanout`/`entity`), with `--server-pid`.
    pub peak: Option<PeakTracker>,
    /// After `--settle` (`fanout`/`entity`).
    pub settled: Option<Sample>,
    /// `connections` of each server's `GET /health`, once connected.
    pub server_connections: Vec<Option<u64>>,
    /// Each server's counters from `GET /metrics` at the end.
    pub server_counters: Vec<Option<ServerCounters>>,
    /// Server (summed) and bench CPU from "all connected" to the end.
    pub cpu: CpuReadings,
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

/// CPU time used by the server and by the bench (all its processes) from the moment all
/// clients were connected to the end of the hold or drain, seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuReadings {
    /// The server's (with `--server-pid`).
    pub server_s: Option<f64>,
    /// The bench's.
    pub bench_s: Option<f64>,
    /// Over this many seconds.
    pub window_s: f64,
}

impl CpuReadings {
    /// Sets the differences between the `start` and `end` readings (server, bench), taken
    /// `window_s` apart.
    pub fn measure(
        &mut self,
        start: (Option<f64>, Option<f64>),
        end: (Option<f64>, Option<f64>),
        window_s: f64,
    ) {
        let round = |v: f64| (v * 100.0).round() / 100.0;
        self.server_s = start.0.zip(end.0).map(|(a, b)| round(b - a));
        self.bench_s = start.1.zip(end.1).map(|(a, b)| round(b - a));
        self.window_s = (window_s * 1000.0).round() / 1000.0;
    }
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `part` seconds of CPU over `window` seconds, as a percentage of one core.
fn core_pct(part: Option<f64>, window: f64) -> Option<f64> {
    part.filter(|_| window > 0.0)
        .map(|p| (p / window * 1000.0).round() / 10.0)
}

fn delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).map(|(a, b)| round2(b - a))
}

fn phase(name: &str, from: &Sample, to: &Sample) -> PhaseCpu {
    let window = (to.at_s - from.at_s).max(0.0);
    let server = delta(from.server_cpu_sum(), to.server_cpu_sum());
    let redis = delta(from.redis_cpu, to.redis_cpu);
    PhaseCpu {
        name: name.to_string(),
        window_s: round3(window),
        server_cpu_s: server,
        server_core_pct: core_pct(server, window),
        redis_cpu_s: redis,
        redis_core_pct: core_pct(redis, window),
    }
}

fn node_report(
    cfg: &RunConfig,
    i: usize,
    n: &NodeCounts,
    readings: &Readings,
    emits: bool,
) -> NodeReport {
    let pid = cfg.server_pids.get(i).copied();
    let rss = |s: &Sample| s.server_rss.get(i).copied().flatten();
    let cpu = |s: &Sample| s.server_cpu.get(i).copied().flatten();
    let counters = readings.server_counters.get(i).copied().flatten();
    NodeReport {
        node: i as u64 + 1,
        url: cfg.targets[i].base_url(),
        emits,
        clients: n.clients,
        established: n.established,
        failed: n.failed,
        lost: n.lost,
        pings: n.pings,
        server_connections: readings.server_connections.get(i).copied().flatten(),
        server_cluster_errors: counters.map(|c| c.cluster_errors),
        server_heartbeat_disconnects: counters.map(|c| c.heartbeat_disconnects),
        memory: pid.map(|pid| {
            Memory::of(
                &[pid],
                Rss {
                    before: rss(&readings.before),
                    connected: rss(&readings.connected),
                    held: readings.held.as_ref().and_then(rss),
                    after: rss(&readings.after),
                    peak: readings.peak.as_ref().and_then(|p| p.server(i)),
                    settled: readings.settled.as_ref().and_then(rss),
                },
                n.established,
            )
        }),
        cpu_s: pid.and(delta(cpu(&readings.connected), cpu(&readings.after))),
        deliveries: n.deliveries,
        latency_ms: Percentiles::of(&n.latency),
    }
}

fn per_second(n: u64, window_s: f64) -> f64 {
    if window_s > 0.0 {
        ((n as f64 / window_s) * 10.0).round() / 10.0
    } else {
        0.0
    }
}

impl Report {
    /// Builds the report of a finished run.
    pub fn build(
        cfg: &RunConfig,
        fleet: &FleetReport,
        emit: Option<&EmitResult>,
        readings: &Readings,
        nofile_limit: Option<u64>,
        started_at_unix_ms: u64,
        elapsed_s: f64,
    ) -> Report {
        let hs_window = if fleet.last_handshake_us > fleet.first_attempt_us {
            secs(fleet.last_handshake_us - fleet.first_attempt_us)
        } else {
            0.0
        };
        let memory = (!cfg.server_pids.is_empty()).then(|| {
            Memory::of(
                &cfg.server_pids,
                Rss {
                    before: sum_all(&readings.before.server_rss),
                    connected: sum_all(&readings.connected.server_rss),
                    held: readings.held.as_ref().and_then(|s| sum_all(&s.server_rss)),
                    after: sum_all(&readings.after.server_rss),
                    peak: readings.peak.as_ref().and_then(|p| p.sum),
                    settled: readings
                        .settled
                        .as_ref()
                        .and_then(|s| sum_all(&s.server_rss)),
                },
                fleet.established,
            )
        });
        let nodes: Vec<NodeReport> = (0..cfg.targets.len())
            .map(|i| {
                let empty = NodeCounts::empty();
                let n = fleet.nodes.get(i).unwrap_or(&empty);
                let emits = cfg.scenario.emits() && i == cfg.emit_target;
                node_report(cfg, i, n, readings, emits)
            })
            .collect();
        let redis = cfg.redis_pid.map(|pid| {
            let window = (readings.after.at_s - readings.before.at_s).max(0.0);
            let cpu = delta(readings.before.redis_cpu, readings.after.redis_cpu);
            RedisReport {
                pid,
                cpu_s: cpu,
                window_s: round3(window),
                core_pct: core_pct(cpu, window),
                rss_before_kib: readings.before.redis_rss,
                rss_after_kib: readings.after.redis_rss,
            }
        });
        let mut phases = vec![phase("connect", &readings.before, &readings.connected)];
        match (&readings.held, cfg.scenario.emits()) {
            (Some(held), _) => {
                phases.push(phase("hold", &readings.connected, held));
                phases.push(phase("emit", held, &readings.after));
            }
            (None, true) => phases.push(phase("emit", &readings.connected, &readings.after)),
            (None, false) if cfg.scenario == crate::config::Scenario::Idle => {
                phases.push(phase("hold", &readings.connected, &readings.after));
            }
            (None, false) => {}
        }
        if let Some(settled) = &readings.settled {
            phases.push(phase("settle", &readings.after, settled));
        }
        let emit_section = emit.map(|e| {
            let window = e.elapsed.as_secs_f64();
            Emit {
                planned: e.summary.planned,
                dispatched: e.summary.dispatched,
                ok: e.summary.dispatched - e.summary.failed.len() as u64,
                failed: e.summary.failed.len() as u64,
                requests: e.requests,
                duplicate_sends: e.duplicate_sends,
                target_rate: cfg.rate,
                achieved_rate: per_second(e.summary.dispatched, window),
                window_s: (window * 1000.0).round() / 1000.0,
                rpc_ms: Percentiles::of(&e.rpc),
                errors: e.errors.clone(),
            }
        });
        let window_s = match emit {
            Some(e) if fleet.last_receipt_us > e.start_us => {
                secs(fleet.last_receipt_us - e.start_us)
            }
            _ => 0.0,
        };
        let deliveries = Deliveries {
            counts: fleet.deliveries,
            clients_with_missing: fleet.clients_with_missing,
            reordered_across_streams: fleet.reordered_across_streams,
            out_of_range: fleet.out_of_range,
            malformed: fleet.malformed,
            other_events: fleet.other_events,
            per_second: per_second(fleet.deliveries.unique, window_s),
            window_s: (window_s * 1000.0).round() / 1000.0,
            drained: fleet.drained,
            routed_clients: fleet.routed_clients,
            subscriber_clients: fleet.subscriber_clients,
        };
        let mut violations = Vec::new();
        let mut check = |n: u64, what: &str| {
            if n > 0 {
                violations.push(format!("{n} {what}"));
            }
        };
        check(fleet.failed, "connections failed");
        check(fleet.lost, "connections lost");
        check(fleet.subscriptions_failed, "subscriptions refused");
        check(fleet.deliveries.missing, "missing deliveries");
        check(fleet.deliveries.duplicates, "duplicated deliveries");
        check(fleet.deliveries.out_of_order, "out-of-order deliveries");
        check(fleet.deliveries.unexpected, "unexpected deliveries");
        check(fleet.out_of_range, "deliveries of never-emitted events");
        check(fleet.malformed, "malformed deliveries");
        if let Some(e) = &emit_section {
            check(e.failed, "emit requests failed");
        }
        let ok = violations.is_empty();
        let mut warnings = Vec::new();
        if fleet.subscriptions_resent > 0 {
            warnings.push(format!(
                "{} subscribe-entity got no ack within 2 s and were sent again (does the server drop \
                 events that arrive right after its CONNECT ack?)",
                fleet.subscriptions_resent
            ));
        }
        if fleet.handshake.max() >= 1_000_000 {
            warnings.push(
                "some handshakes took ≥ 1 s: a dropped SYN is retried after 1 s (listen backlog \
                 full? see TcpExtListenOverflows in nstat)"
                    .to_string(),
            );
        }
        if let Some(e) = &emit_section
            && cfg.rate > 0.0
            && e.achieved_rate < cfg.rate * 0.95
        {
            warnings.push(format!(
                "the emitter fell behind ({:.1}/s of {}/s): requests took longer than 1/rate with \
                 {} in flight; raise --concurrency (order stays checked per entity)",
                e.achieved_rate, cfg.rate, cfg.concurrency
            ));
        }
        let cluster_errors: u64 = nodes.iter().filter_map(|n| n.server_cluster_errors).sum();
        if cluster_errors > 0 {
            warnings.push(format!(
                "the servers counted {cluster_errors} cluster errors (strapi_io_cluster_errors_total: \
                 operations that could not reach the other nodes; an emit that fails so reaches only \
                 the emitting node's clients)"
            ));
        }
        for n in &nodes {
            if let Some(seen) = n.server_connections
                && seen != n.established
            {
                warnings.push(format!(
                    "node {} ({}) reported {seen} connections on GET /health once all were \
                     connected; the bench holds {} there",
                    n.node, n.url, n.established
                ));
            }
        }
        if fleet.reordered_across_streams > 0 && cfg.concurrency == 1 {
            warnings.push(format!(
                "{} deliveries arrived after a later event of another entity although the emits were \
                 serialized",
                fleet.reordered_across_streams
            ));
        }
        Report {
            tool: "strapi-io-bench".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            label: cfg.label.clone(),
            scenario: cfg.scenario.name().to_string(),
            target: cfg.emit_target().base_url(),
            targets: cfg.targets.iter().map(|t| t.base_url()).collect(),
            emit_node: cfg.emit_target as u64 + 1,
            started_at_unix_ms,
            elapsed_s: (elapsed_s * 1000.0).round() / 1000.0,
            config: ReportConfig {
                clients: cfg.clients as u64,
                processes: cfg.processes as u64,
                mix: cfg.mix.to_string(),
                source_ips: cfg.source_ips as u64,
                events: cfg.events,
                rate: cfg.rate,
                concurrency: cfg.concurrency as u64,
                payload_bytes: cfg.payload_bytes as u64,
                entities: cfg.entities as u64,
                subs_per_client: cfg.subs_per_client as u64,
                hold_s: cfg.hold.as_secs_f64(),
                duration_s: cfg.duration.as_secs_f64(),
                drain_timeout_s: cfg.drain_timeout.as_secs_f64(),
                settle_s: cfg.settle.as_secs_f64(),
                duplicate_every: cfg.duplicate_every,
                threads: cfg.threads.map(|t| t as u64),
                nodes: cfg.targets.len() as u64,
                spread: contiguous(),
            },
            nofile_limit,
            connections: Connections {
                attempted: fleet.clients,
                established: fleet.established,
                failed: fleet.failed,
                errors: fleet.connect_errors.clone(),
                handshake_rate_per_s: per_second(fleet.established, hs_window),
                handshake_window_s: (hs_window * 1000.0).round() / 1000.0,
                handshake_ms: Percentiles::of(&fleet.handshake),
                lost: fleet.lost,
                lost_errors: fleet.lost_errors.clone(),
                pings: fleet.pings,
            },
            subscriptions: Subscriptions {
                requested: fleet.subscriptions_requested,
                ok: fleet.subscriptions_ok,
                failed: fleet.subscriptions_failed,
                errors: fleet.subscription_errors.clone(),
                resent: fleet.subscriptions_resent,
            },
            memory,
            cpu: readings.cpu,
            phases,
            nodes,
            redis,
            emit: emit_section,
            deliveries,
            latency_ms: Percentiles::of(&fleet.latency),
            violations,
            warnings,
            ok,
        }
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(s, "  {k:<28} {v}");
        };
        let pct = |p: &Percentiles| {
            format!(
                "p50 {:.3}  p99 {:.3}  p999 {:.3}  max {:.3} ms  (n={})",
                p.p50, p.p99, p.p999, p.max, p.count
            )
        };
        let errs = |e: &[ErrorCount]| {
            e.iter()
                .map(|e| format!("{}× {}", e.count, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let c = &self.config;
        let to = if self.targets.len() > 1 {
            format!(
                "{} nodes ({}), emits through node {}",
                self.targets.len(),
                self.targets.join(" "),
                self.emit_node
            )
        } else {
            self.target.clone()
        };
        let title = match &self.label {
            Some(l) => format!("strapi-io-bench {} [{}] → {}", self.scenario, l, to),
            None => format!("strapi-io-bench {} → {}", self.scenario, to),
        };
        row("run", title);
        row(
            "clients / processes",
            format!(
                "{} / {} (mix {}, source IPs {})",
                c.clients, c.processes, c.mix, c.source_ips
            ),
        );
        row(
            "open-files limit",
            self.nofile_limit
                .map_or("unknown".to_string(), |n| n.to_string()),
        );
        let k = &self.connections;
        row(
            "connections",
            format!(
                "{} established, {} failed, {} lost",
                k.established, k.failed, k.lost
            ),
        );
        if !k.errors.is_empty() {
            row("connect errors", errs(&k.errors));
        }
        if !k.lost_errors.is_empty() {
            row("lost because", errs(&k.lost_errors));
        }
        row(
            "handshake rate",
            format!(
                "{:.1} conn/s over {:.3} s",
                k.handshake_rate_per_s, k.handshake_window_s
            ),
        );
        row("handshake time", pct(&k.handshake_ms));
        row("pings answered", k.pings.to_string());
        if self.subscriptions.requested > 0 {
            let sb = &self.subscriptions;
            row(
                "subscriptions",
                format!(
                    "{} requested, {} ok, {} refused",
                    sb.requested, sb.ok, sb.failed
                ),
            );
            if !sb.errors.is_empty() {
                row("subscription errors", errs(&sb.errors));
            }
            if sb.resent > 0 {
                row("subscriptions resent", sb.resent.to_string());
            }
        }
        if let Some(m) = &self.memory {
            let kib = |v: Option<u64>| v.map_or("?".to_string(), |v| format!("{v} KiB"));
            let per = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.2} KiB"));
            let held = m
                .rss_held_kib
                .map_or(String::new(), |_| format!(", held {}", kib(m.rss_held_kib)));
            let pids = if m.server_pids.len() > 1 {
                format!("{} servers summed", m.server_pids.len())
            } else {
                format!("pid {}", m.server_pid)
            };
            let peak = m
                .peak_kib
                .map_or(String::new(), |_| format!(", peak {}", kib(m.peak_kib)));
            let settled = m.settled_kib.map_or(String::new(), |_| {
                format!(
                    ", settled {} ({} s later)",
                    kib(m.settled_kib),
                    self.config.settle_s
                )
            });
            row(
                "server RSS",
                format!(
                    "before {}, connected {}{held}{peak}, after {}{settled} ({pids})",
                    kib(m.rss_before_kib),
                    kib(m.rss_connected_kib),
                    kib(m.rss_after_kib),
                ),
            );
            let held = m
                .per_connection_held_kib
                .map_or(String::new(), |v| format!(", {v:.2} KiB after the hold"));
            let peak = m
                .per_connection_peak_kib
                .map_or(String::new(), |v| format!(", {v:.2} KiB at the peak"));
            let settled = m.per_connection_settled_kib.map_or(String::new(), |v| {
                format!(
                    ", {v:.2} KiB settled ({} the connected figure)",
                    m.settled_to_connected
                        .map_or("?".to_string(), |r| format!("{r:.3} ×"))
                )
            });
            row(
                "RSS per connection",
                format!(
                    "{} after, {} when connected{held}{peak}{settled}",
                    per(m.per_connection_kib),
                    per(m.per_connection_connected_kib)
                ),
            );
        }
        if let Some(e) = &self.emit {
            row(
                "emits",
                format!(
                    "{} ok / {} sent / {} planned, {} failed, {} duplicated on purpose",
                    e.ok, e.dispatched, e.planned, e.failed, e.duplicate_sends
                ),
            );
            row(
                "emit rate",
                format!(
                    "{:.1}/s achieved (target {}), window {:.3} s",
                    e.achieved_rate,
                    if e.target_rate > 0.0 {
                        format!("{}/s", e.target_rate)
                    } else {
                        "max".to_string()
                    },
                    e.window_s
                ),
            );
            row("emit request time", pct(&e.rpc_ms));
            if !e.errors.is_empty() {
                row("emit errors", errs(&e.errors));
            }
            let d = &self.deliveries;
            row(
                "deliveries",
                format!(
                    "{} unique / {} expected ({} received incl. duplicates)",
                    d.counts.unique, d.counts.expected, d.counts.received
                ),
            );
            row(
                "recipients",
                format!(
                    "{} routed, {} via subscriptions",
                    d.routed_clients, d.subscriber_clients
                ),
            );
            row(
                "deliveries per second",
                format!("{:.1}/s over {:.3} s", d.per_second, d.window_s),
            );
            row(
                "missing / dup / out-of-order",
                format!(
                    "{} / {} / {}  (unexpected {}, cross-entity reorders {}, drained {})",
                    d.counts.missing,
                    d.counts.duplicates,
                    d.counts.out_of_order,
                    d.counts.unexpected,
                    d.reordered_across_streams,
                    d.drained
                ),
            );
            row("end-to-end latency", pct(&self.latency_ms));
        }
        if self.nodes.len() > 1 {
            for n in &self.nodes {
                let d = &n.deliveries;
                let mut line = format!(
                    "{}{}: {}/{} connected, {} lost, /health {}",
                    n.url,
                    if n.emits { " (emits)" } else { "" },
                    n.established,
                    n.clients,
                    n.lost,
                    n.server_connections
                        .map_or("?".to_string(), |c| c.to_string()),
                );
                if let (Some(c), Some(h)) =
                    (n.server_cluster_errors, n.server_heartbeat_disconnects)
                {
                    let _ = write!(line, ", cluster errors {c}, heartbeat closes {h}");
                }
                if let Some(m) = &n.memory {
                    let kib = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
                    let per = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.1}"));
                    let _ = write!(
                        line,
                        "; RSS {} → {} → {} KiB ({} / {} KiB per conn)",
                        kib(m.rss_before_kib),
                        kib(m.rss_connected_kib),
                        kib(m.rss_after_kib),
                        per(m.per_connection_connected_kib),
                        per(m.per_connection_kib),
                    );
                    if m.peak_kib.is_some() {
                        let _ = write!(
                            line,
                            ", peak {} KiB ({} per conn)",
                            kib(m.peak_kib),
                            per(m.per_connection_peak_kib)
                        );
                    }
                    if m.settled_kib.is_some() {
                        let _ = write!(
                            line,
                            ", settled {} KiB ({} per conn)",
                            kib(m.settled_kib),
                            per(m.per_connection_settled_kib)
                        );
                    }
                    let _ = write!(
                        line,
                        "; CPU {}",
                        n.cpu_s.map_or("?".to_string(), |v| format!("{v:.2} s"))
                    );
                }
                if d.expected > 0 || d.received > 0 {
                    let _ = write!(
                        line,
                        "; {} / {} delivered, missing/dup/ooo {}/{}/{}; p50 {:.1} p99 {:.1} p999 {:.1} ms",
                        d.unique,
                        d.expected,
                        d.missing,
                        d.duplicates,
                        d.out_of_order,
                        n.latency_ms.p50,
                        n.latency_ms.p99,
                        n.latency_ms.p999
                    );
                }
                row(&format!("node {}", n.node), line);
            }
        }
        if let Some(r) = &self.redis {
            row(
                "Redis",
                format!(
                    "CPU {} over {:.3} s ({} of a core), RSS {} → {} KiB (pid {})",
                    r.cpu_s.map_or("?".to_string(), |v| format!("{v:.2} s")),
                    r.window_s,
                    r.core_pct.map_or("?".to_string(), |v| format!("{v:.1} %")),
                    r.rss_before_kib.map_or("?".to_string(), |v| v.to_string()),
                    r.rss_after_kib.map_or("?".to_string(), |v| v.to_string()),
                    r.pid
                ),
            );
        }
        if self.nodes.len() > 1
            || self.redis.is_some()
            || self.config.hold_s > 0.0
            || self.config.settle_s > 0.0
        {
            let pct = |s: Option<f64>, p: Option<f64>| match (s, p) {
                (Some(s), Some(p)) => format!("{s:.2} s ({p:.0} %)"),
                _ => "?".to_string(),
            };
            for p in &self.phases {
                let redis = if self.redis.is_some() {
                    format!(", Redis {}", pct(p.redis_cpu_s, p.redis_core_pct))
                } else {
                    String::new()
                };
                row(
                    &format!("CPU in phase {}", p.name),
                    format!(
                        "{:.3} s: servers {}{redis}",
                        p.window_s,
                        pct(p.server_cpu_s, p.server_core_pct),
                    ),
                );
            }
        }
        let cpu = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.2} s"));
        row(
            "CPU (after connect)",
            format!(
                "server {}, bench {} over {:.3} s",
                cpu(self.cpu.server_s),
                cpu(self.cpu.bench_s),
                self.cpu.window_s
            ),
        );
        row("elapsed", format!("{:.3} s", self.elapsed_s));
        for w in &self.warnings {
            row("warning", w.clone());
        }
        row(
            "verdict",
            if self.ok {
                "OK".to_string()
            } else {
                format!("VIOLATIONS: {}", self.violations.join(", "))
            },
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_from_metrics_text() {
        let text = "# TYPE strapi_io_cluster_errors_total counter\nstrapi_io_cluster_errors_total 4\n\
                    strapi_io_cluster_errors_total_other 9\n\
                    strapi_io_heartbeat_disconnects_total{reason=\"a\"} 2\n\
                    strapi_io_heartbeat_disconnects_total{reason=\"b\"} 3\n";
        assert_eq!(
            ServerCounters::parse(text),
            ServerCounters {
                cluster_errors: 4,
                heartbeat_disconnects: 5
            }
        );
        assert_eq!(ServerCounters::parse(""), ServerCounters::default());
    }

    #[test]
    fn memory_per_connection() {
        let rss = Rss {
            before: Some(10_000),
            connected: Some(30_000),
            held: None,
            after: Some(34_000),
            peak: Some(50_000),
            settled: Some(35_000),
        };
        let m = Memory::of(&[7, 8], rss, 1_000);
        assert_eq!((m.server_pid, m.server_pids.clone()), (7, vec![7, 8]));
        assert_eq!(m.per_connection_connected_kib, Some(20.0));
        assert_eq!(m.per_connection_kib, Some(24.0));
        assert_eq!(m.per_connection_held_kib, None);
        assert_eq!(m.peak_kib, Some(50_000));
        assert_eq!(m.per_connection_peak_kib, Some(40.0));
        assert_eq!(m.settled_kib, Some(35_000));
        assert_eq!(m.per_connection_settled_kib, Some(25.0));
        // (35000 − 10000) / (30000 − 10000)
        assert_eq!(m.settled_to_connected, Some(1.25));
        // Rounded to 0.01 KiB, and negative when the server shrank below its start.
        assert_eq!(per_connection(Some(10_001), Some(10_000), 3), Some(0.33));
        assert_eq!(per_connection(Some(9_000), Some(10_000), 100), Some(-10.0));
        assert_eq!(per_connection(Some(1), Some(0), 0), None);
        assert_eq!(per_connection(None, Some(0), 5), None);
        assert_eq!(settled_ratio(Some(10), Some(40), Some(20)), Some(0.333));
        assert_eq!(settled_ratio(Some(10), Some(10), Some(20)), None);
        assert_eq!(settled_ratio(Some(10), Some(40), None), None);
        // Nothing sampled, nothing settled: the new figures are absent.
        let m = Memory::of(
            &[7],
            Rss {
                before: Some(1),
                connected: Some(2),
                ..Rss::default()
            },
            1,
        );
        assert_eq!((m.peak_kib, m.per_connection_peak_kib), (None, None));
        assert_eq!((m.settled_kib, m.settled_to_connected), (None, None));
    }

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

    #[test]
    fn cpu_shares() {
        assert_eq!(core_pct(Some(0.5), 2.0), Some(25.0));
        assert_eq!(core_pct(Some(1.0), 0.0), None);
        assert_eq!(sum_all(&[Some(1u64), Some(2)]), Some(3));
        assert_eq!(sum_all(&[Some(1u64), None]), None);
        assert_eq!(sum_all::<u64>(&[]), None);
    }
}
