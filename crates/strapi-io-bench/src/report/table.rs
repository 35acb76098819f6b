//! The human table of a [`Report`], printed on stdout at the end of a run.

use std::fmt::Write as _;

use super::types::Report;
use crate::fleet::ErrorCount;
use crate::hist::Percentiles;

impl Report {
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
