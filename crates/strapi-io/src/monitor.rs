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
    /// Who it went to, when not everyone: the audience rooms of a content event (or the
    /// entity rooms of an audience that may read but not list), the rooms of a raw event,
    /// the socket of a private message, the namespace, the entity room.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Sockets of this node it was queued for; absent when every node delivers it from
    /// the Redis log (cluster mode with connection recovery), after it was logged here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<usize>,
    /// Whether it was also sent to the other nodes of the cluster (their recipients are
    /// counted there).
    pub other_nodes: bool,
}

/// Who an event reached, as [`EventLogEntry`] reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Reach {
    /// Target rooms, socket or namespace (empty: everyone).
    pub(crate) targets: Vec<String>,
    /// Sockets of this node it was queued for, when known.
    pub(crate) recipients: Option<usize>,
    /// Sent to the other nodes too.
    pub(crate) other_nodes: bool,
}

impl Reach {
    /// Adds what one send reached.
    pub(crate) fn add(&mut self, sent: &crate::delivery::Sent) {
        self.recipients = match (self.recipients, sent.here) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        self.other_nodes |= sent.cluster;
    }

    /// What one send to `targets` reached.
    pub(crate) fn of(targets: Vec<String>, sent: &crate::delivery::Sent) -> Reach {
        Reach {
            targets,
            recipients: sent.here,
            other_nodes: sent.cluster,
        }
    }
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
        reach: Reach,
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
                targets: reach.targets,
                recipients: reach.recipients,
                other_nodes: reach.other_nodes,
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
            m.record(
                "article:create",
                "emit",
                2,
                Reach::default(),
                Duration::ZERO,
                2,
            );
        }
        let sent = crate::delivery::Sent {
            here: Some(4),
            cluster: true,
            cluster_error: None,
        };
        m.record(
            "ping",
            "raw",
            1,
            Reach::of(vec!["lobby".into()], &sent),
            Duration::ZERO,
            2,
        );
        let s = m.stats();
        assert_eq!(s.total, 4);
        assert_eq!(s.by_type["article:create"], 3);
        assert_eq!(s.last_minute, 4);
        assert!(s.per_second > 0.0);
        let log = m.log(10);
        assert_eq!(log.len(), 2, "bounded by the log size");
        assert_eq!(log[0].event, "ping");
        assert_eq!(log[0].targets, vec!["lobby"]);
        assert_eq!((log[0].recipients, log[0].other_nodes), (Some(4), true));
        let mut reach = Reach::of(vec!["a".into()], &sent);
        reach.add(&crate::delivery::Sent {
            here: None,
            ..Default::default()
        });
        assert_eq!(
            reach.recipients, None,
            "unknown once one send is delivered later"
        );
        m.reset();
        assert_eq!(m.stats().total, 0);
        assert!(m.log(10).is_empty());
    }
}
