//! How a [`Report`] is assembled from a finished run: the merged [`FleetReport`], the
//! emitter's result and the [`Readings`] taken at the phase boundaries — memory per
//! connection, CPU per phase, each node's figures — and which counters count as violations
//! or warnings.

use super::readings::{Readings, Sample, sum_all};
use super::types::{
    Connections, Deliveries, Emit, Memory, NodeReport, PhaseCpu, RedisReport, Report, ReportConfig,
    Subscriptions, contiguous,
};
use crate::config::RunConfig;
use crate::emit::EmitResult;
use crate::fleet::{FleetReport, NodeCounts};
use crate::hist::Percentiles;

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
            (None, false) if cfg.scenario == crate::scenario::Scenario::Idle => {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn cpu_shares() {
        assert_eq!(core_pct(Some(0.5), 2.0), Some(25.0));
        assert_eq!(core_pct(Some(1.0), 0.0), None);
    }
}
