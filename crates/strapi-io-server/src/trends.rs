//! The dashboard's trends: every [`INTERVAL`] the gateway's figures are sampled into a
//! ring of [`CAPACITY`] samples (the last hour), served by `GET /api/io/trends`. A sample is
//! a few numbers and the handshake refusals of its interval by reason (a fixed set of
//! messages), so the ring's size is fixed: about 100 KB when full.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Value, json};
use strapi_io::Io;

use crate::http::auth::AdminToken;
use crate::state::AppState;

/// Time between two samples.
pub(crate) const INTERVAL: Duration = Duration::from_secs(10);
/// Samples kept: one hour.
pub(crate) const CAPACITY: usize = 360;

/// The gateway's running totals at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Totals {
    /// When, ms since the epoch.
    pub(crate) at: u64,
    pub(crate) connections: usize,
    pub(crate) events: u64,
    pub(crate) deliveries: u64,
    pub(crate) refused: BTreeMap<String, u64>,
    pub(crate) buffer_full: u64,
    pub(crate) slow_consumers: u64,
    pub(crate) rss_bytes: Option<u64>,
}

impl Totals {
    /// Reads them from the server.
    pub(crate) fn read(io: &Io, at: u64) -> Totals {
        let stats = io.stats();
        Totals {
            at,
            connections: stats.connections,
            events: io.event_stats().total,
            deliveries: stats.deliveries,
            refused: stats.refused_handshakes_by_reason,
            buffer_full: stats.buffer_full,
            slow_consumers: stats.slow_consumer_disconnects,
            rss_bytes: crate::monitoring::rss_bytes(),
        }
    }
}

/// One point of the trends: the state at its end, and what happened since the previous.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sample {
    /// When it was taken, ms since the epoch.
    pub(crate) at: u64,
    /// Connected sockets (this node).
    pub(crate) connections: usize,
    /// Events sent per second over the interval.
    pub(crate) events_per_second: f64,
    /// Packets queued for sockets per second over the interval.
    pub(crate) deliveries_per_second: f64,
    /// Handshakes refused in the interval, by reason.
    pub(crate) refused_handshakes: BTreeMap<String, u64>,
    /// Packets not queued because a client's buffer was full, in the interval.
    pub(crate) buffer_full: u64,
    /// Clients closed for not reading, in the interval.
    pub(crate) slow_consumers: u64,
    /// Resident memory at the end (none where `/proc` cannot be read).
    pub(crate) rss_bytes: Option<u64>,
}

impl Sample {
    /// The sample ending at `now`, after `before` (counts reset meanwhile count from 0).
    pub(crate) fn between(before: &Totals, now: &Totals) -> Sample {
        let seconds = (now.at.saturating_sub(before.at) as f64 / 1000.0).max(0.001);
        let delta = |a: u64, b: u64| if b >= a { b - a } else { b };
        let refused = now
            .refused
            .iter()
            .map(|(reason, &n)| {
                let was = before.refused.get(reason).copied().unwrap_or(0);
                (reason.clone(), delta(was, n))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        Sample {
            at: now.at,
            connections: now.connections,
            events_per_second: delta(before.events, now.events) as f64 / seconds,
            deliveries_per_second: delta(before.deliveries, now.deliveries) as f64 / seconds,
            refused_handshakes: refused,
            buffer_full: delta(before.buffer_full, now.buffer_full),
            slow_consumers: delta(before.slow_consumers, now.slow_consumers),
            rss_bytes: now.rss_bytes,
        }
    }
}

/// The ring of samples and the totals of the last one.
#[derive(Debug, Default)]
pub(crate) struct Trends {
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    samples: VecDeque<Sample>,
    last: Option<Totals>,
}

impl Trends {
    /// Records the totals read now: a sample from the previous ones (the first reading only
    /// sets the start), the oldest dropped past [`CAPACITY`].
    pub(crate) fn record(&self, now: Totals) {
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(before) = &ring.last {
            let sample = Sample::between(before, &now);
            ring.samples.push_back(sample);
            while ring.samples.len() > CAPACITY {
                ring.samples.pop_front();
            }
        }
        ring.last = Some(now);
    }

    /// The samples, oldest first.
    pub(crate) fn samples(&self) -> Vec<Sample> {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        ring.samples.iter().cloned().collect()
    }
}

/// Samples `io` every [`INTERVAL`] into `trends` until aborted.
pub(crate) fn spawn_sampler(io: Io, trends: std::sync::Arc<Trends>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = u64::try_from(crate::clock::unix_millis()).unwrap_or(0);
            trends.record(Totals::read(&io, now));
        }
    })
}

/// `GET /api/io/trends`: this node's samples of the last hour, oldest first.
pub(crate) async fn trends(_: AdminToken, State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "data": {
            "intervalSeconds": INTERVAL.as_secs(),
            "capacity": CAPACITY,
            "samples": state.trends.samples(),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(at: u64, events: u64, refused: &[(&str, u64)]) -> Totals {
        Totals {
            at,
            connections: 3,
            events,
            deliveries: events * 10,
            refused: refused.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            buffer_full: events / 2,
            slow_consumers: 1,
            rss_bytes: Some(1 << 20),
        }
    }

    #[test]
    fn a_sample_is_the_rates_and_counts_of_its_interval() {
        let s = Sample::between(
            &totals(0, 100, &[("Token expired", 2)]),
            &totals(
                10_000,
                300,
                &[("Token expired", 5), ("Authentication required", 1)],
            ),
        );
        assert_eq!(s.at, 10_000);
        assert_eq!(s.connections, 3);
        assert_eq!(s.events_per_second, 20.0);
        assert_eq!(s.deliveries_per_second, 200.0);
        assert_eq!(s.buffer_full, 100);
        assert_eq!(s.slow_consumers, 0);
        assert_eq!(
            s.refused_handshakes,
            BTreeMap::from([
                ("Authentication required".to_string(), 1),
                ("Token expired".to_string(), 3)
            ])
        );
        // Counters reset meanwhile (reset-stats): counted from zero, never negative.
        let s = Sample::between(
            &totals(0, 300, &[("x", 9)]),
            &totals(10_000, 40, &[("x", 2)]),
        );
        assert_eq!(s.events_per_second, 4.0);
        assert_eq!(s.refused_handshakes["x"], 2);
    }

    #[test]
    fn the_ring_keeps_the_last_hour() {
        let trends = Trends::default();
        trends.record(totals(0, 0, &[]));
        assert!(
            trends.samples().is_empty(),
            "the first reading only sets the start"
        );
        for i in 1..=(CAPACITY as u64 + 5) {
            trends.record(totals(i * 10_000, i, &[]));
        }
        let samples = trends.samples();
        assert_eq!(samples.len(), CAPACITY);
        assert_eq!(samples[0].at, 6 * 10_000, "the oldest dropped");
        assert_eq!(samples.last().unwrap().at, (CAPACITY as u64 + 5) * 10_000);
    }
}
