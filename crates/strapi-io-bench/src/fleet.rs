//! The clients one process holds: spawning their tasks (connects bounded by a semaphore),
//! waiting until each has connected or failed, waiting for the expected deliveries to arrive
//! (drain), stopping them, and folding their outcomes into one mergeable [`FleetReport`] —
//! the unit a worker process sends its parent as one JSON line — with the same counts per
//! server ([`NodeCounts`]) when the clients are spread over several.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::client::{self, ClientOutcome, ClientSpec, NodeAddr, ShardedCounter, Shared};
use crate::config::RunConfig;
use crate::hist::{self, Sharded};
use crate::proto;
use crate::scenario::Scenario;
use crate::tracker::{EmitSummary, Expectation};

/// After the due deliveries are in, how long the deliveries must stay quiet before the
/// clients are stopped.
pub const SETTLE: Duration = Duration::from_millis(100);

/// Distinct error messages kept per kind; the rest are counted under the last entry.
const MAX_ERROR_KINDS: usize = 5;

/// An error message and how often it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// The message (the first seen of its kind).
    pub message: String,
    /// Occurrences.
    pub count: u64,
}

/// Adds `n` occurrences of `message` to `list`, keeping at most a few distinct messages.
pub fn note_error(list: &mut Vec<ErrorCount>, message: &str, n: u64) {
    if let Some(e) = list.iter_mut().find(|e| e.message == message) {
        e.count += n;
    } else if list.len() < MAX_ERROR_KINDS {
        list.push(ErrorCount {
            message: message.to_string(),
            count: n,
        });
    } else {
        const OTHER: &str = "(other errors)";
        if let Some(e) = list.iter_mut().find(|e| e.message == OTHER) {
            e.count += n;
        } else {
            list.push(ErrorCount {
                message: OTHER.to_string(),
                count: n,
            });
        }
    }
}

/// What clients received of the deliveries due to them: the counts every report level
/// (client set, process, node, run) shares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    /// Deliveries the clients had to receive.
    pub expected: u64,
    /// Deliveries received (duplicates included).
    pub received: u64,
    /// Distinct deliveries received.
    pub unique: u64,
    /// Expected deliveries that never came.
    pub missing: u64,
    /// Deliveries of an event a client had already received.
    pub duplicates: u64,
    /// Deliveries after a later event of the same entity.
    pub out_of_order: u64,
    /// Distinct deliveries a client was not due (another entity's event).
    pub unexpected: u64,
}

impl DeliveryCounts {
    /// Adds `o`'s counts.
    pub fn add(&mut self, o: &DeliveryCounts) {
        self.expected += o.expected;
        self.received += o.received;
        self.unique += o.unique;
        self.missing += o.missing;
        self.duplicates += o.duplicates;
        self.out_of_order += o.out_of_order;
        self.unexpected += o.unexpected;
    }
}

/// The counts of the clients of one server (node), within a [`FleetReport`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeCounts {
    /// Clients attempted.
    pub clients: u64,
    /// Clients whose Socket.IO handshake succeeded.
    pub established: u64,
    /// Clients that could not connect.
    pub failed: u64,
    /// Clients that lost their connection before the end.
    pub lost: u64,
    /// Engine.IO pings answered.
    pub pings: u64,
    /// What these clients received.
    #[serde(flatten)]
    pub deliveries: DeliveryCounts,
    /// End-to-end latency (µs), base64 V2 (wire form; empty in-process).
    #[serde(default)]
    pub latency_b64: String,
    /// End-to-end latency of these clients' deliveries, µs.
    #[serde(skip, default = "hist::new_histogram")]
    pub latency: Histogram<u64>,
}

impl NodeCounts {
    /// Zero counts.
    pub fn empty() -> NodeCounts {
        NodeCounts {
            clients: 0,
            established: 0,
            failed: 0,
            lost: 0,
            pings: 0,
            deliveries: DeliveryCounts::default(),
            latency_b64: String::new(),
            latency: hist::new_histogram(),
        }
    }

    /// Adds another process's counts of the same node.
    pub fn merge(&mut self, o: &NodeCounts) {
        self.clients += o.clients;
        self.established += o.established;
        self.failed += o.failed;
        self.lost += o.lost;
        self.pings += o.pings;
        self.deliveries.add(&o.deliveries);
        hist::merge(&mut self.latency, &o.latency);
    }
}

/// Counts of one process's clients (or of several, merged).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetReport {
    /// Clients attempted.
    pub clients: u64,
    /// Clients whose Socket.IO handshake succeeded.
    pub established: u64,
    /// Clients that could not connect.
    pub failed: u64,
    /// Why, by message.
    pub connect_errors: Vec<ErrorCount>,
    /// First connect attempt, µs since epoch (0 = none).
    pub first_attempt_us: u64,
    /// Last successful handshake, µs since epoch (0 = none).
    pub last_handshake_us: u64,
    /// `subscribe-entity` sent.
    pub subscriptions_requested: u64,
    /// … acknowledged with success.
    pub subscriptions_ok: u64,
    /// … refused.
    pub subscriptions_failed: u64,
    /// Refusals by message.
    pub subscription_errors: Vec<ErrorCount>,
    /// `subscribe-entity` sent again because no ack came within 2 s.
    pub subscriptions_resent: u64,
    /// Clients routed the scenario's event as a whole audience.
    pub routed_clients: u64,
    /// Clients that get events through entity subscriptions only.
    pub subscriber_clients: u64,
    /// What the clients received.
    #[serde(flatten)]
    pub deliveries: DeliveryCounts,
    /// Clients with at least one missing delivery.
    pub clients_with_missing: u64,
    /// Deliveries after a later event of another entity (informational).
    pub reordered_across_streams: u64,
    /// Deliveries with a seq the run never emitted.
    pub out_of_range: u64,
    /// Scenario events without `benchSeq`/`benchSentAt`.
    pub malformed: u64,
    /// Other events received.
    pub other_events: u64,
    /// Clients that lost their connection before the end.
    pub lost: u64,
    /// Why, by message.
    pub lost_errors: Vec<ErrorCount>,
    /// Engine.IO pings answered.
    pub pings: u64,
    /// Last new delivery, µs since epoch (0 = none).
    pub last_receipt_us: u64,
    /// Whether every expected delivery arrived before the drain timeout.
    pub drained: bool,
    /// CPU seconds this process used from the end of the connect phase to the end of the
    /// drain (workers only; the parent measures its own).
    #[serde(default)]
    pub cpu_s: f64,
    /// End-to-end latency (µs), base64 V2 (wire form; empty in-process).
    #[serde(default)]
    pub latency_b64: String,
    /// Handshake time (µs), base64 V2 (wire form; empty in-process).
    #[serde(default)]
    pub handshake_b64: String,
    /// End-to-end latency, µs.
    #[serde(skip, default = "hist::new_histogram")]
    pub latency: Histogram<u64>,
    /// Handshake time, µs.
    #[serde(skip, default = "hist::new_histogram")]
    pub handshake: Histogram<u64>,
    /// The same counts per server, indexed like the run's targets.
    #[serde(default)]
    pub nodes: Vec<NodeCounts>,
}

impl FleetReport {
    /// An empty report ready to be merged into.
    pub fn empty() -> FleetReport {
        FleetReport {
            clients: 0,
            established: 0,
            failed: 0,
            connect_errors: Vec::new(),
            first_attempt_us: 0,
            last_handshake_us: 0,
            subscriptions_requested: 0,
            subscriptions_ok: 0,
            subscriptions_failed: 0,
            subscription_errors: Vec::new(),
            subscriptions_resent: 0,
            routed_clients: 0,
            subscriber_clients: 0,
            deliveries: DeliveryCounts::default(),
            clients_with_missing: 0,
            reordered_across_streams: 0,
            out_of_range: 0,
            malformed: 0,
            other_events: 0,
            lost: 0,
            lost_errors: Vec::new(),
            pings: 0,
            last_receipt_us: 0,
            drained: true,
            cpu_s: 0.0,
            latency_b64: String::new(),
            handshake_b64: String::new(),
            latency: hist::new_histogram(),
            handshake: hist::new_histogram(),
            nodes: Vec::new(),
        }
    }

    /// Fills the base64 fields from the histograms.
    pub fn encode_histograms(&mut self) {
        self.latency_b64 = hist::encode(&self.latency);
        self.handshake_b64 = hist::encode(&self.handshake);
        for n in &mut self.nodes {
            n.latency_b64 = hist::encode(&n.latency);
        }
    }

    /// Restores the histograms from the base64 fields.
    pub fn decode_histograms(&mut self) -> anyhow::Result<()> {
        self.latency = hist::decode(&self.latency_b64)?;
        self.handshake = hist::decode(&self.handshake_b64)?;
        self.latency_b64.clear();
        self.handshake_b64.clear();
        for n in &mut self.nodes {
            n.latency = hist::decode(&n.latency_b64)?;
            n.latency_b64.clear();
        }
        Ok(())
    }

    /// Adds another process's counts.
    pub fn merge(&mut self, o: &FleetReport) {
        self.clients += o.clients;
        self.established += o.established;
        self.failed += o.failed;
        for e in &o.connect_errors {
            note_error(&mut self.connect_errors, &e.message, e.count);
        }
        self.first_attempt_us = min_nonzero(self.first_attempt_us, o.first_attempt_us);
        self.last_handshake_us = self.last_handshake_us.max(o.last_handshake_us);
        self.subscriptions_requested += o.subscriptions_requested;
        self.subscriptions_ok += o.subscriptions_ok;
        self.subscriptions_failed += o.subscriptions_failed;
        self.subscriptions_resent += o.subscriptions_resent;
        for e in &o.subscription_errors {
            note_error(&mut self.subscription_errors, &e.message, e.count);
        }
        self.routed_clients += o.routed_clients;
        self.subscriber_clients += o.subscriber_clients;
        self.deliveries.add(&o.deliveries);
        self.clients_with_missing += o.clients_with_missing;
        self.reordered_across_streams += o.reordered_across_streams;
        self.out_of_range += o.out_of_range;
        self.malformed += o.malformed;
        self.other_events += o.other_events;
        self.lost += o.lost;
        for e in &o.lost_errors {
            note_error(&mut self.lost_errors, &e.message, e.count);
        }
        self.pings += o.pings;
        self.last_receipt_us = self.last_receipt_us.max(o.last_receipt_us);
        self.drained &= o.drained;
        self.cpu_s += o.cpu_s;
        hist::merge(&mut self.latency, &o.latency);
        hist::merge(&mut self.handshake, &o.handshake);
        if self.nodes.len() < o.nodes.len() {
            self.nodes.resize_with(o.nodes.len(), NodeCounts::empty);
        }
        for (mine, theirs) in self.nodes.iter_mut().zip(&o.nodes) {
            mine.merge(theirs);
        }
    }
}

fn min_nonzero(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}

struct Member {
    node: usize,
    routed: bool,
    subscribed: Vec<u32>,
}

/// The clients of this process.
pub struct Fleet {
    scenario: Scenario,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<ClientOutcome>>,
    members: HashMap<usize, Member>,
    report: FleetReport,
    expected_total: Option<u64>,
    expectation: Option<Expectation>,
}

impl Fleet {
    /// Starts the clients `indices` of the run and returns once each has connected (and
    /// subscribed) or failed. `concurrency` bounds the connects in flight.
    pub async fn connect(
        cfg: &RunConfig,
        indices: Range<usize>,
        concurrency: usize,
    ) -> anyhow::Result<Fleet> {
        let shards = client::shard_count();
        let nodes: Vec<NodeAddr> = cfg
            .targets
            .iter()
            .map(|t| NodeAddr {
                addr: SocketAddr::new(t.ip.into(), t.port),
                url: proto::ws_url(&t.ip.to_string(), t.port, &cfg.path),
            })
            .collect();
        // Latency histograms only for the nodes this process has clients on.
        let held: Vec<bool> = (0..nodes.len())
            .map(|n| indices.clone().any(|i| cfg.node_of(i) == n))
            .collect();
        let shared = Arc::new(Shared {
            latency: held
                .iter()
                .map(|&h| Sharded::new(if h { shards } else { 1 }))
                .collect(),
            nodes,
            connect_timeout: cfg.connect_timeout,
            connect_slots: Semaphore::new(concurrency),
            event_prefix: format!("[\"{}\",", cfg.scenario.event_name()),
            seq_limit: if cfg.scenario.emits() { cfg.events } else { 0 },
            modulus: cfg.entities as u64,
            subscribe_uid: cfg.scenario.schema().to_string(),
            unique: ShardedCounter::new(shards),
            received: ShardedCounter::new(shards),
            ws_config: client::ws_config(cfg.payload_bytes),
        });
        // One CONNECT frame per audience, signed once.
        let mut frames: HashMap<_, Arc<str>> = HashMap::new();
        for a in cfg.mix.audiences() {
            let auth = a.auth(&cfg.credentials)?;
            frames.insert(a, Arc::from(proto::connect_frame(auth.as_ref())));
        }
        let ports = crate::sys::port_range();
        let (stop, stop_rx) = watch::channel(false);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut tasks = Vec::with_capacity(indices.len());
        let mut members = HashMap::with_capacity(indices.len());
        let mut report = FleetReport::empty();
        report.nodes = vec![NodeCounts::empty(); cfg.targets.len()];
        for index in indices {
            let audience = cfg.mix.audience_of(index);
            let node = cfg.node_of(index);
            report.nodes[node].clients += 1;
            let spec = ClientSpec {
                index,
                node,
                audience,
                connect_frame: frames[&audience].clone(),
                subscriptions: cfg.subscriptions_of(index),
                source: cfg.source_of(index, ports),
            };
            report.subscriptions_requested += spec.subscriptions.len() as u64;
            members.insert(
                index,
                Member {
                    node,
                    routed: audience.routed(cfg.scenario),
                    subscribed: Vec::new(),
                },
            );
            tasks.push(tokio::spawn(client::run_client(
                spec,
                shared.clone(),
                tx.clone(),
                stop_rx.clone(),
            )));
        }
        drop(tx);
        report.clients = tasks.len() as u64;
        while let Some(c) = rx.recv().await {
            report.first_attempt_us = min_nonzero(report.first_attempt_us, c.started_us);
            let node = cfg.node_of(c.index);
            match c.result {
                Ok(us) => {
                    report.established += 1;
                    report.nodes[node].established += 1;
                    report.last_handshake_us = report.last_handshake_us.max(c.finished_us);
                    hist::record(&mut report.handshake, us);
                    report.subscriptions_failed += c.subscribe_failed as u64;
                    report.subscriptions_resent += c.subscribe_resent as u64;
                    if let Some(e) = &c.subscribe_error {
                        note_error(
                            &mut report.subscription_errors,
                            e,
                            c.subscribe_failed as u64,
                        );
                    }
                    if let Some(m) = members.get_mut(&c.index) {
                        m.subscribed = c.subscribed;
                        report.subscriptions_ok += m.subscribed.len() as u64;
                    }
                }
                Err(e) => {
                    report.failed += 1;
                    report.nodes[node].failed += 1;
                    note_error(&mut report.connect_errors, &e, 1);
                    members.remove(&c.index);
                }
            }
            if report.established + report.failed == report.clients {
                break;
            }
        }
        Ok(Fleet {
            scenario: cfg.scenario,
            shared,
            stop,
            tasks,
            members,
            report,
            expected_total: None,
            expectation: None,
        })
    }

    /// Counts so far (connect phase).
    pub fn report(&self) -> &FleetReport {
        &self.report
    }

    /// Distinct deliveries so far.
    pub fn unique(&self) -> u64 {
        self.shared.unique.sum()
    }

    /// Sets what the clients must have received and waits (at most `timeout`) until the
    /// deliveries are all there, then until no delivery (duplicates included) has arrived for
    /// [`SETTLE`] — so late duplicates are counted too. Returns whether all due deliveries
    /// arrived.
    pub async fn drain(&mut self, summary: Option<&EmitSummary>, timeout: Duration) -> bool {
        let Some(summary) = summary else {
            return true;
        };
        let exp = Expectation::new(summary);
        let total: u64 = self
            .members
            .values()
            .map(|m| exp.expected_count(m.routed, &m.subscribed))
            .sum();
        self.expected_total = Some(total);
        self.expectation = Some(exp);
        let deadline = Instant::now() + timeout;
        loop {
            if self.unique() >= total {
                break;
            }
            if Instant::now() >= deadline {
                self.report.drained = false;
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.report.drained = true;
        let mut last = self.shared.received.sum();
        while Instant::now() < deadline {
            tokio::time::sleep(SETTLE).await;
            let now = self.shared.received.sum();
            if now == last {
                break;
            }
            last = now;
        }
        true
    }

    /// Stops every client and folds their outcomes into the report.
    pub async fn stop(mut self) -> FleetReport {
        let _ = self.stop.send(true);
        let mut r = std::mem::replace(&mut self.report, FleetReport::empty());
        for t in self.tasks.drain(..) {
            let o = match t.await {
                Ok(o) => o,
                Err(e) => {
                    note_error(&mut r.lost_errors, &format!("client task failed: {e}"), 1);
                    r.lost += 1;
                    continue;
                }
            };
            if !o.connected {
                continue;
            }
            let member = self.members.get(&o.index);
            let Some(node) = member.map(|m| m.node) else {
                continue;
            };
            let routed = member.is_some_and(|m| m.routed);
            if routed {
                r.routed_clients += 1;
            } else if member.is_some_and(|m| !m.subscribed.is_empty()) {
                r.subscriber_clients += 1;
            }
            let t = &o.tracker;
            let mut counts = DeliveryCounts {
                received: t.received,
                unique: t.unique,
                duplicates: t.duplicates,
                out_of_order: t.out_of_order,
                ..DeliveryCounts::default()
            };
            if let (Some(exp), Some(m)) = (&self.expectation, member) {
                let v = exp.judge(t, m.routed, &m.subscribed);
                counts.expected = v.expected;
                counts.missing = v.missing;
                counts.unexpected = v.unexpected;
                if v.missing > 0 {
                    r.clients_with_missing += 1;
                }
            } else if self.scenario.emits() {
                // Never drained: nothing was emitted.
                counts.unexpected = t.unique;
            }
            r.deliveries.add(&counts);
            r.reordered_across_streams += t.reordered_across_streams;
            r.out_of_range += t.out_of_range;
            r.malformed += o.malformed;
            r.other_events += o.other_events;
            r.pings += o.pings;
            r.last_receipt_us = r.last_receipt_us.max(o.last_receipt_us);
            let n = &mut r.nodes[node];
            n.deliveries.add(&counts);
            n.pings += o.pings;
            if let Some(e) = &o.lost {
                r.lost += 1;
                r.nodes[node].lost += 1;
                note_error(&mut r.lost_errors, e, 1);
            }
        }
        for (n, latency) in r.nodes.iter_mut().zip(&self.shared.latency) {
            n.latency = latency.merged();
            hist::merge(&mut r.latency, &n.latency);
        }
        r
    }
}
