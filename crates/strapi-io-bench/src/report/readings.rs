//! What the parent reads of the processes around the bench: [`Sample`]s of the servers' (and
//! Redis's) memory and CPU at the phase boundaries, the servers' `GET /metrics` counters, the
//! CPU over the working phase, all gathered in [`Readings`].

use serde::{Deserialize, Serialize};

use crate::peak::PeakTracker;

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

pub(super) fn sum_all<T: Copy + std::iter::Sum<T>>(v: &[Option<T>]) -> Option<T> {
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
    fn sums_need_every_reading() {
        assert_eq!(sum_all(&[Some(1u64), Some(2)]), Some(3));
        assert_eq!(sum_all(&[Some(1u64), None]), None);
        assert_eq!(sum_all::<u64>(&[]), None);
    }
}
