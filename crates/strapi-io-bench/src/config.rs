//! What one run is asked to do: the scenario, the server(s) and every knob, as one
//! serializable [`RunConfig`] (the parent hands it to its workers as JSON), with its
//! validation — loopback targets only, bounded times, at most [`MAX_CLIENTS_PER_PROCESS`]
//! sockets per process — and how clients are spread over several servers (contiguous blocks
//! of client indices, [`RunConfig::node_of`]).

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::audience::{Credentials, Mix};
use crate::scenario::Scenario;

/// The most client sockets one process opens: the open-files limit here is 20,000 (soft =
/// hard), and the process needs a few hundred descriptors of its own.
pub const MAX_CLIENTS_PER_PROCESS: usize = 19_500;

/// The most servers one run spreads its clients over.
pub const MAX_TARGETS: usize = 64;

/// The server under test: an address in 127.0.0.0/8.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Target {
    /// Loopback address of the server.
    pub ip: Ipv4Addr,
    /// Its port.
    pub port: u16,
}

impl Target {
    /// Parses `http://127.0.0.1:1337` (or `localhost`, or `ws://`); refuses anything outside
    /// 127.0.0.0/8.
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("ws://"))
            .ok_or_else(|| anyhow!("target `{url}`: only http:// (or ws://) targets"))?;
        let hostport = rest.trim_end_matches('/');
        if hostport.contains('/') {
            bail!("target `{url}`: give the server's base URL, without a path");
        }
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .with_context(|| format!("target `{url}`: bad port"))?,
            ),
            None => (hostport, 80),
        };
        let ip: Ipv4Addr = if host.eq_ignore_ascii_case("localhost") {
            Ipv4Addr::LOCALHOST
        } else {
            host.parse().map_err(|_| {
                anyhow!("target `{url}`: the host must be an IPv4 address in 127.0.0.0/8")
            })?
        };
        if !ip.is_loopback() {
            bail!("target `{url}`: refusing a target outside 127.0.0.0/8");
        }
        Ok(Target { ip, port })
    }

    /// `http://ip:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}:{}", self.ip, self.port)
    }
}

/// Everything one run needs; the same value drives the parent and its workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// The scenario.
    pub scenario: Scenario,
    /// The servers (nodes): one, or several of a cluster. Client `i` connects to
    /// `targets[node_of(i)]`, contiguous blocks of the client indices per node.
    pub targets: Vec<Target>,
    /// Which of `targets` the emit requests go to (0-based).
    pub emit_target: usize,
    /// Socket.IO path (default `/socket.io`).
    pub path: String,
    /// Bearer token of `POST /api/io/emit`.
    pub admin_token: String,
    /// The servers' pids, for their resident memory and CPU time: empty, or one per target in
    /// the same order.
    pub server_pids: Vec<u32>,
    /// The pid of the Redis server of a cluster, for its CPU time and memory.
    pub redis_pid: Option<u32>,
    /// Clients in total (all processes).
    pub clients: usize,
    /// Audience mix.
    pub mix: Mix,
    /// Credentials of the audiences.
    pub credentials: Credentials,
    /// Content events to drive.
    pub events: u64,
    /// Events per second; 0 = as fast as possible.
    pub rate: f64,
    /// Requests in flight (emits), or connects in flight (storm).
    pub concurrency: usize,
    /// Connects in flight in the connect phase of the other scenarios.
    pub connect_concurrency: usize,
    /// Bytes of text in each event's body.
    pub payload_bytes: usize,
    /// Distinct entities: `seq % entities + 1` is an event's id.
    pub entities: u32,
    /// Entity subscriptions per client (scenario `entity`).
    pub subs_per_client: u32,
    /// How long the connections are held once all connected: the whole of `idle`; before the
    /// first emit of `fanout` and `entity` (0 by default there).
    pub hold: Duration,
    /// Cap of the emit phase.
    pub duration: Duration,
    /// How long to wait for the last deliveries after the last emit.
    pub drain_timeout: Duration,
    /// How long to keep the connections open after the drain of `fanout`/`entity` before the
    /// servers' memory is read once more (the `settled` figure); 0 = skip.
    #[serde(default)]
    pub settle: Duration,
    /// Per-client cap of TCP connect + WebSocket upgrade + Socket.IO handshake (+ subscriptions).
    pub connect_timeout: Duration,
    /// Hard cap of the whole run.
    pub deadline: Duration,
    /// Source addresses 127.0.0.2 … 127.0.0.(1+K); 1 = the default 127.0.0.1.
    pub source_ips: u8,
    /// Where in the local port range the explicit source ports start (varied per run so a
    /// run does not reuse the previous run's ports, still in TIME_WAIT).
    pub port_offset: u32,
    /// Processes holding the clients.
    pub processes: usize,
    /// Send every D-th event twice with the same `benchSeq` (0 = never).
    pub duplicate_every: u64,
    /// Free-form name of the run, copied into the report.
    pub label: Option<String>,
    /// Runtime worker threads per bench process (`None`: one per core).
    #[serde(default)]
    pub threads: Option<usize>,
}

impl RunConfig {
    /// A config with the defaults of the command line, for `scenario` against `target`.
    pub fn new(scenario: Scenario, target: Target) -> RunConfig {
        RunConfig {
            scenario,
            targets: vec![target],
            emit_target: 0,
            path: "/socket.io".to_string(),
            admin_token: "demo-admin-token".to_string(),
            server_pids: Vec::new(),
            redis_pid: None,
            clients: 100,
            mix: Mix::default_for(scenario),
            credentials: Credentials::default(),
            events: 100,
            rate: 100.0,
            concurrency: if scenario == Scenario::Storm { 500 } else { 1 },
            connect_concurrency: 100,
            payload_bytes: 200,
            entities: 1000,
            subs_per_client: 10,
            hold: Duration::from_secs(if scenario == Scenario::Idle { 10 } else { 0 }),
            duration: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(5),
            settle: Duration::ZERO,
            connect_timeout: Duration::from_secs(20),
            deadline: Duration::from_secs(900),
            source_ips: 1,
            port_offset: (crate::sys::now_us() / 1000 % 65_536) as u32,
            processes: 1,
            duplicate_every: 0,
            label: None,
            threads: None,
        }
    }

    /// The server the emit requests go to.
    pub fn emit_target(&self) -> &Target {
        &self.targets[self.emit_target.min(self.targets.len().saturating_sub(1))]
    }

    /// The server (index into `targets`) client `index` connects to: contiguous blocks,
    /// `partition(clients, nodes, n)` for node `n`, so every node gets the same share of
    /// the audience mix (the mix repeats every few indices) and the worker processes, which
    /// also hold contiguous shares, each talk to as few nodes as possible.
    pub fn node_of(&self, index: usize) -> usize {
        node_of(self.clients, self.targets.len(), index)
    }

    /// Checks the bounds; the error says what to change.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.targets.is_empty() {
            bail!("give at least one --target");
        }
        if self.targets.len() > MAX_TARGETS {
            bail!("at most {MAX_TARGETS} targets");
        }
        for (i, t) in self.targets.iter().enumerate() {
            if !t.ip.is_loopback() {
                bail!("refusing a target outside 127.0.0.0/8");
            }
            if self.targets[..i].contains(t) {
                bail!("target {} is given twice", t.base_url());
            }
        }
        if self.emit_target >= self.targets.len() {
            bail!(
                "--emit-target {} is not one of the {} target(s)",
                self.emit_target + 1,
                self.targets.len()
            );
        }
        if !self.server_pids.is_empty() && self.server_pids.len() != self.targets.len() {
            bail!(
                "{} --server-pid for {} --target: give one pid per target, in the same order",
                self.server_pids.len(),
                self.targets.len()
            );
        }
        if self.clients == 0 {
            bail!("--clients must be at least 1");
        }
        if self.clients < self.targets.len() {
            bail!(
                "--clients {} is fewer than the {} targets",
                self.clients,
                self.targets.len()
            );
        }
        if self.processes == 0 {
            bail!("--processes must be at least 1");
        }
        if self.processes > self.clients {
            bail!(
                "--processes {} is more than --clients {}",
                self.processes,
                self.clients
            );
        }
        let per_process = self.clients.div_ceil(self.processes);
        if per_process > MAX_CLIENTS_PER_PROCESS {
            let need = self.clients.div_ceil(MAX_CLIENTS_PER_PROCESS);
            bail!(
                "{} clients in {} process(es) is {per_process} sockets per process; one process holds at \
                 most {MAX_CLIENTS_PER_PROCESS} (20,000 open files here): use --processes {need} or more",
                self.clients,
                self.processes
            );
        }
        if self.source_ips == 0 || self.source_ips > 254 {
            bail!("--source-ips must be 1..=254");
        }
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        if self.concurrency == 0 || self.connect_concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            bail!("--rate must be a number ≥ 0");
        }
        if self.scenario.emits() {
            if self.events == 0 {
                bail!("--events must be at least 1");
            }
            if self.events > 100_000_000 {
                bail!("--events is capped at 100,000,000");
            }
            // Each client keeps one bit per event.
            let bytes =
                (self.clients / self.processes + 1) as u128 * self.events.div_ceil(8) as u128;
            if bytes > 4 << 30 {
                bail!(
                    "{} events × {} clients per process needs {} MiB of delivery bitsets; lower --events",
                    self.events,
                    self.clients / self.processes,
                    bytes >> 20
                );
            }
        }
        if self.entities == 0 {
            bail!("--entities must be at least 1");
        }
        if self.scenario == Scenario::Entity {
            if self.subs_per_client == 0 {
                bail!("--subs-per-client must be at least 1");
            }
            if self.subs_per_client > self.entities {
                bail!("--subs-per-client must not exceed --entities");
            }
        }
        if !self.settle.is_zero() && !self.scenario.emits() {
            bail!(
                "--settle applies to fanout and entity (after their emits); {} has none{}",
                self.scenario.name(),
                if self.scenario == Scenario::Idle {
                    ": its --hold is the wait"
                } else {
                    ""
                }
            );
        }
        let phases = self.hold + self.duration + self.drain_timeout + self.settle;
        if phases >= self.deadline {
            bail!(
                "--deadline ({}s) must exceed hold + duration + drain timeout + settle ({}s)",
                self.deadline.as_secs(),
                phases.as_secs()
            );
        }
        Ok(())
    }

    /// The source address and preferred port of client `index` (`None`: let the kernel
    /// choose, from 127.0.0.1). With several source addresses the bench picks the ports
    /// itself — `bind(ip, 0)` searches the whole port table under a lock and crawls once
    /// thousands of ports are taken — spreading clients over `ports` (the local port range
    /// `lo..lo+len`) so no two clients of a run share an address and port.
    pub fn source_of(&self, index: usize, ports: (u16, u32)) -> Option<(Ipv4Addr, u16)> {
        if self.source_ips <= 1 {
            return None;
        }
        let k = self.source_ips as usize;
        let ip = Ipv4Addr::new(127, 0, 0, 2 + (index % k) as u8);
        let (lo, len) = ports;
        let slot = (index / k) as u64 + self.port_offset as u64;
        let port = lo as u64 + slot % len.max(1) as u64;
        Some((ip, port.min(u16::MAX as u64) as u16))
    }

    /// The entity ids client `index` subscribes to (scenario `entity`): `(i*k + j) % M + 1`.
    pub fn subscriptions_of(&self, index: usize) -> Vec<u32> {
        if self.scenario != Scenario::Entity {
            return Vec::new();
        }
        let (k, m) = (self.subs_per_client as u64, self.entities as u64);
        (0..k)
            .map(|j| ((index as u64 * k + j) % m + 1) as u32)
            .collect()
    }
}

/// The client indices process `index` of `parts` holds: a contiguous share of `0..n`.
/// Audiences and subscriptions depend on the global index, so a run is the same whether one
/// process or many hold the clients.
pub fn partition(n: usize, parts: usize, index: usize) -> std::ops::Range<usize> {
    let start = n * index / parts;
    let end = n * (index + 1) / parts;
    start..end
}

/// The share of [`partition`]`(n, parts, ·)` that holds client `index` (`index < n`).
pub fn node_of(n: usize, parts: usize, index: usize) -> usize {
    if parts <= 1 || n == 0 {
        return 0;
    }
    // partition(n, parts, k) starts at ⌊n·k/parts⌋ ≤ index  ⇔  k < (index+1)·parts/n.
    (((index as u128 + 1) * parts as u128 - 1) / n as u128).min(parts as u128 - 1) as usize
}

/// Which target `spec` names: a 1-based node number (`2`) or one of the targets' URLs.
pub fn parse_emit_target(spec: &str, targets: &[Target]) -> anyhow::Result<usize> {
    if let Ok(n) = spec.trim().parse::<usize>() {
        if n == 0 || n > targets.len() {
            bail!(
                "--emit-target {n}: give a node number from 1 to {} (or one of the --target URLs)",
                targets.len()
            );
        }
        return Ok(n - 1);
    }
    let t = Target::parse(spec.trim())?;
    targets
        .iter()
        .position(|x| *x == t)
        .ok_or_else(|| anyhow!("--emit-target {spec} is not one of the --target URLs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_be_loopback() {
        let t = Target::parse("http://127.0.0.1:1337").unwrap();
        assert_eq!((t.ip, t.port), (Ipv4Addr::LOCALHOST, 1337));
        assert_eq!(Target::parse("http://localhost:9/").unwrap().port, 9);
        assert_eq!(
            Target::parse("http://127.1.2.3:5").unwrap().ip,
            Ipv4Addr::new(127, 1, 2, 3)
        );
        assert!(Target::parse("http://10.0.0.1:1337").is_err());
        assert!(Target::parse("http://example.com:1337").is_err());
        assert!(Target::parse("https://127.0.0.1:1337").is_err());
        assert!(Target::parse("http://[::1]:1337").is_err());
        assert!(Target::parse("http://127.0.0.1:1337/api").is_err());
    }

    #[test]
    fn partitions_cover_everything_once() {
        for (n, parts) in [(10, 3), (19_999, 2), (7, 7), (100, 1)] {
            let mut seen = vec![0u8; n];
            for i in 0..parts {
                for c in partition(n, parts, i) {
                    seen[c] += 1;
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "n={n} parts={parts}");
        }
        assert_eq!(partition(10, 3, 0), 0..3);
        assert_eq!(partition(10, 3, 2), 6..10);
    }

    #[test]
    fn node_of_inverts_partition() {
        for (n, parts) in [(10, 3), (10_000, 2), (100_000, 6), (7, 7), (100, 1), (5, 4)] {
            for k in 0..parts {
                for i in partition(n, parts, k) {
                    assert_eq!(node_of(n, parts, i), k, "n={n} parts={parts} i={i}");
                }
            }
        }
    }

    #[test]
    fn several_targets() {
        let t = |p: u16| Target::parse(&format!("http://127.0.0.1:{p}")).unwrap();
        let mut c = RunConfig::new(Scenario::Fanout, t(1));
        c.targets = vec![t(1), t(2), t(3)];
        c.clients = 10;
        c.validate().unwrap();
        let nodes: Vec<usize> = (0..10).map(|i| c.node_of(i)).collect();
        assert_eq!(nodes, vec![0, 0, 0, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(c.emit_target().port, 1);
        c.emit_target = parse_emit_target("3", &c.targets).unwrap();
        assert_eq!(c.emit_target().port, 3);
        assert_eq!(
            parse_emit_target("http://127.0.0.1:2", &c.targets).unwrap(),
            1
        );
        assert!(parse_emit_target("0", &c.targets).is_err());
        assert!(parse_emit_target("4", &c.targets).is_err());
        assert!(parse_emit_target("http://127.0.0.1:9", &c.targets).is_err());
        c.server_pids = vec![1, 2];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("one pid per target")
        );
        c.server_pids = vec![1, 2, 3];
        c.validate().unwrap();
        c.targets.push(t(2));
        assert!(c.validate().unwrap_err().to_string().contains("twice"));
        c.targets = vec![t(1), t(2)];
        c.server_pids.clear();
        c.emit_target = 2;
        assert!(c.validate().is_err());
        c.emit_target = 0;
        c.clients = 1;
        assert!(c.validate().is_err());
    }

    #[test]
    fn per_process_cap() {
        let mut c = RunConfig::new(Scenario::Idle, Target::parse("http://127.0.0.1:1").unwrap());
        c.clients = 19_500;
        c.validate().unwrap();
        c.clients = 19_501;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--processes 2"), "{e}");
        c.processes = 2;
        c.validate().unwrap();
    }

    #[test]
    fn settle_needs_emits_and_room_before_the_deadline() {
        let t = Target::parse("http://127.0.0.1:1").unwrap();
        let mut c = RunConfig::new(Scenario::Fanout, t.clone());
        c.settle = Duration::from_secs(30);
        c.validate().unwrap();
        // 60 s duration + 5 s drain + 30 s settle = 95 s: a 90 s deadline is too short.
        c.deadline = Duration::from_secs(90);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("settle"), "{e}");
        c.deadline = Duration::from_secs(96);
        c.validate().unwrap();
        for scenario in [Scenario::Idle, Scenario::Storm] {
            let mut c = RunConfig::new(scenario, t.clone());
            c.settle = Duration::from_secs(1);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("--settle applies to fanout and entity"), "{e}");
        }
        // A worker given the JSON of an older parent (no `settle`) settles for 0 s.
        let mut v = serde_json::to_value(RunConfig::new(Scenario::Entity, t)).unwrap();
        v.as_object_mut().unwrap().remove("settle");
        let back: RunConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back.settle, Duration::ZERO);
    }

    #[test]
    fn subscriptions_and_sources() {
        let mut c = RunConfig::new(
            Scenario::Entity,
            Target::parse("http://127.0.0.1:1").unwrap(),
        );
        c.subs_per_client = 3;
        c.entities = 30;
        assert_eq!(c.subscriptions_of(0), vec![1, 2, 3]);
        assert_eq!(c.subscriptions_of(11), vec![4, 5, 6]);
        c.port_offset = 10;
        assert_eq!(c.source_of(5, (32768, 100)), None);
        c.source_ips = 4;
        assert_eq!(
            c.source_of(5, (32768, 100)),
            Some((Ipv4Addr::new(127, 0, 0, 3), 32779))
        );
        assert_eq!(
            c.source_of(4 * 95, (32768, 100)),
            Some((Ipv4Addr::new(127, 0, 0, 2), 32773))
        );
        // Distinct clients never share an address and port while the range lasts.
        let mut seen = std::collections::HashSet::new();
        for i in 0..400 {
            assert!(seen.insert(c.source_of(i, (32768, 100)).unwrap()));
        }
    }
}
