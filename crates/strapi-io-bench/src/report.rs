//! The result of a run: the [`Report`] with every number under stable field names (the
//! `--json` document, described in the crate docs), how it is computed from the merged
//! [`FleetReport`], the emitter's result and the memory readings, which counters count as
//! violations, and the human table printed on stdout.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::emit::EmitResult;
use crate::fleet::{ErrorCount, FleetReport};
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
    /// Duplicate every D-th event (0 = off).
    pub duplicate_every: u64,
    /// Runtime worker threads per bench process (`null`: one per core).
    pub threads: Option<u64>,
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

/// The server's resident memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Memory {
    /// Its pid.
    pub server_pid: u32,
    /// Before the clients connected, KiB.
    pub rss_before_kib: Option<u64>,
    /// When all clients were connected, KiB.
    pub rss_connected_kib: Option<u64>,
    /// After the hold (`idle`) or the drain (others), KiB.
    pub rss_after_kib: Option<u64>,
    /// (after − before) / established, KiB.
    pub per_connection_kib: Option<f64>,
    /// (connected − before) / established, KiB.
    pub per_connection_connected_kib: Option<f64>,
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
    /// Due (routed clients × events, subscribers × their entities' events).
    pub expected: u64,
    /// Received, duplicates included.
    pub received: u64,
    /// Distinct deliveries received.
    pub unique: u64,
    /// Due but never received.
    pub missing: u64,
    /// Clients with something missing.
    pub clients_with_missing: u64,
    /// Received again.
    pub duplicates: u64,
    /// Received after a later event of the same entity.
    pub out_of_order: u64,
    /// Received after a later event of another entity (informational).
    pub reordered_across_streams: u64,
    /// Distinct deliveries of events a client was not due.
    pub unexpected: u64,
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
    /// Target base URL.
    pub target: String,
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
    /// Server memory (with `--server-pid`).
    pub memory: Option<Memory>,
    /// CPU seconds used by the server and the bench from "all connected" to the end of the
    /// hold or drain.
    pub cpu: CpuReadings,
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

/// Memory readings taken by the parent, KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct RssReadings {
    /// Before connecting.
    pub before: Option<u64>,
    /// All connected.
    pub connected: Option<u64>,
    /// After hold or drain.
    pub after: Option<u64>,
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
        (rss, cpu): (RssReadings, CpuReadings),
        nofile_limit: Option<u64>,
        started_at_unix_ms: u64,
        elapsed_s: f64,
    ) -> Report {
        let hs_window = if fleet.last_handshake_us > fleet.first_attempt_us {
            secs(fleet.last_handshake_us - fleet.first_attempt_us)
        } else {
            0.0
        };
        let memory = cfg.server_pid.map(|pid| {
            let per = |v: Option<u64>| match (v, rss.before) {
                (Some(v), Some(b)) if fleet.established > 0 => {
                    Some(((v as f64 - b as f64) / fleet.established as f64 * 100.0).round() / 100.0)
                }
                _ => None,
            };
            Memory {
                server_pid: pid,
                rss_before_kib: rss.before,
                rss_connected_kib: rss.connected,
                rss_after_kib: rss.after,
                per_connection_kib: per(rss.after),
                per_connection_connected_kib: per(rss.connected),
            }
        });
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
            expected: fleet.expected,
            received: fleet.received,
            unique: fleet.unique,
            missing: fleet.missing,
            clients_with_missing: fleet.clients_with_missing,
            duplicates: fleet.duplicates,
            out_of_order: fleet.out_of_order,
            reordered_across_streams: fleet.reordered_across_streams,
            unexpected: fleet.unexpected,
            out_of_range: fleet.out_of_range,
            malformed: fleet.malformed,
            other_events: fleet.other_events,
            per_second: per_second(fleet.unique, window_s),
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
        check(fleet.missing, "missing deliveries");
        check(fleet.duplicates, "duplicated deliveries");
        check(fleet.out_of_order, "out-of-order deliveries");
        check(fleet.unexpected, "unexpected deliveries");
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
            target: cfg.target.base_url(),
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
                duplicate_every: cfg.duplicate_every,
                threads: cfg.threads.map(|t| t as u64),
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
            cpu,
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
        let title = match &self.label {
            Some(l) => format!(
                "strapi-io-bench {} [{}] → {}",
                self.scenario, l, self.target
            ),
            None => format!("strapi-io-bench {} → {}", self.scenario, self.target),
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
            row(
                "server RSS",
                format!(
                    "before {}, connected {}, after {} (pid {})",
                    kib(m.rss_before_kib),
                    kib(m.rss_connected_kib),
                    kib(m.rss_after_kib),
                    m.server_pid
                ),
            );
            row(
                "RSS per connection",
                format!(
                    "{} after, {} when connected",
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
                    d.unique, d.expected, d.received
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
                    d.missing,
                    d.duplicates,
                    d.out_of_order,
                    d.unexpected,
                    d.reordered_across_streams,
                    d.drained
                ),
            );
            row("end-to-end latency", pct(&self.latency_ms));
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
