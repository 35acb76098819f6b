//! What the server has been doing, for the admin routes and `/metrics`: events by type, a
//! sliding window of events per second, the event log, and the Prometheus metrics emitted
//! through the `metrics` facade (the binary installs the exporter).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Seconds of history kept for the events-per-second window.
const WINDOW_SECONDS: u64 = 60;
/// Seconds averaged for `perSecond`.
const RATE_SECONDS: u64 = 10;

/// One line of the event log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventLogEntry {
    /// When it was sent, ms since the epoch.
    pub timestamp: u64,
    /// The event name (`article:create`).
    pub event: String,
    /// `emit`, `raw`, `private`, `broadcast`, `namespace`, `entity`, `test`.
    pub kind: &'static str,
    /// Audiences a payload was prepared for (`emit`), or 1.
    pub audiences: usize,
    /// Target rooms, socket or namespace, when not everyone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
}

/// Event statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventStats {
    /// Events sent since start (or the last reset).
    pub total: u64,
    /// Events by name.
    pub by_type: BTreeMap<String, u64>,
    /// Average over the last 10 seconds.
    pub per_second: f64,
    /// Events in the last 60 seconds.
    pub last_minute: u64,
}

pub(crate) struct Monitor {
    started: Instant,
    total: AtomicU64,
    by_type: Mutex<BTreeMap<String, u64>>,
    /// (second since start, events in that second), oldest first.
    window: Mutex<VecDeque<(u64, u64)>>,
    log: Mutex<VecDeque<EventLogEntry>>,
}

impl Monitor {
    pub(crate) fn new() -> Self {
        Monitor {
            started: Instant::now(),
            total: AtomicU64::new(0),
            by_type: Mutex::new(BTreeMap::new()),
            window: Mutex::new(VecDeque::new()),
            log: Mutex::new(VecDeque::new()),
        }
    }

    fn second(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Records one sent event; `log_size` 0 keeps no log.
    pub(crate) fn record(
        &self,
        event: &str,
        kind: &'static str,
        audiences: usize,
        targets: Vec<String>,
        elapsed: Duration,
        log_size: usize,
    ) {
        self.total.fetch_add(1, Ordering::Relaxed);
        *self
            .by_type
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(event.to_string())
            .or_default() += 1;
        let sec = self.second();
        {
            let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
            match w.back_mut() {
                Some((s, n)) if *s == sec => *n += 1,
                _ => w.push_back((sec, 1)),
            }
            while w.front().is_some_and(|(s, _)| s + WINDOW_SECONDS <= sec) {
                w.pop_front();
            }
        }
        if log_size > 0 {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            log.push_back(EventLogEntry {
                timestamp: u64::try_from(crate::directory::unix_millis()).unwrap_or(0),
                event: event.to_string(),
                kind,
                audiences,
                targets,
            });
            while log.len() > log_size {
                log.pop_front();
            }
        }
        metrics::counter!("strapi_io_events_total", "event" => event.to_string(), "kind" => kind)
            .increment(1);
        metrics::counter!("strapi_io_deliveries_total", "event" => event.to_string())
            .increment(audiences as u64);
        metrics::histogram!("strapi_io_emit_seconds", "kind" => kind).record(elapsed.as_secs_f64());
    }

    pub(crate) fn stats(&self) -> EventStats {
        let sec = self.second();
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let in_last = |span: u64| -> u64 {
            w.iter()
                .filter(|(s, _)| s + span > sec)
                .map(|(_, n)| n)
                .sum()
        };
        let span = RATE_SECONDS.min(sec + 1);
        EventStats {
            total: self.total.load(Ordering::Relaxed),
            by_type: self
                .by_type
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            per_second: in_last(RATE_SECONDS) as f64 / span as f64,
            last_minute: in_last(WINDOW_SECONDS),
        }
    }

    /// The newest `limit` log entries, newest first.
    pub(crate) fn log(&self, limit: usize) -> Vec<EventLogEntry> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().rev().take(limit).cloned().collect()
    }

    pub(crate) fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        self.by_type
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_logs_and_resets() {
        let m = Monitor::new();
        for _ in 0..3 {
            m.record("article:create", "emit", 2, vec![], Duration::ZERO, 2);
        }
        m.record("ping", "raw", 1, vec!["lobby".into()], Duration::ZERO, 2);
        let s = m.stats();
        assert_eq!(s.total, 4);
        assert_eq!(s.by_type["article:create"], 3);
        assert_eq!(s.last_minute, 4);
        assert!(s.per_second > 0.0);
        let log = m.log(10);
        assert_eq!(log.len(), 2, "bounded by the log size");
        assert_eq!(log[0].event, "ping");
        assert_eq!(log[0].targets, vec!["lobby"]);
        m.reset();
        assert_eq!(m.stats().total, 0);
        assert!(m.log(10).is_empty());
    }
}
