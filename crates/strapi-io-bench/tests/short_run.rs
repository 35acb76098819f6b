//! A short run of the bench against the real gateway binary, proving the counters: every
//! delivery accounted for, an intentional duplicate reported as such, entity subscriptions
//! delivering exactly their entities' events, the multi-process path merging workers, and
//! clients spread over two gateways counted per node.
//!
//! The binary is `$STRAPI_IO_BIN`, by default `<workspace>/target/debug/strapi-io` (built by
//! `cargo test --workspace`); the test fails, never skips, when it is missing.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use strapi_io_bench::audience::Mix;
use strapi_io_bench::config::{RunConfig, Target};
use strapi_io_bench::report::Report;
use strapi_io_bench::run::{self, Launch};
use strapi_io_bench::scenario::Scenario;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_server(tag: &str) -> Server {
    let bin = std::env::var_os("STRAPI_IO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/debug/strapi-io"));
    assert!(
        bin.is_file(),
        "the gateway binary {} is missing: build it first (`cargo build -p strapi-io-server`, \
         which `cargo test --workspace` does) or point STRAPI_IO_BIN at it",
        bin.display()
    );
    let dir = std::env::temp_dir().join(format!(
        "strapi-io-bench-short-run-{}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut child = Command::new(&bin)
        .arg("serve")
        .arg("--config")
        .arg(workspace().join("bench/configs/bench.toml"))
        .env("STRAPI_IO_PORT", "0")
        .env("STRAPI_IO_DATA_DIR", dir.join("data"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep reading so the server never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("strapi-io listening on http://127.0.0.1:") {
                let _ = tx.send(rest.trim().parse::<u16>().ok());
            }
        }
    });
    let mut server = Server {
        child,
        port: 0,
        dir,
    };
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Some(port)) => server.port = port,
        other => {
            let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
            panic!("the gateway did not report its port ({other:?}); its log:\n{log}");
        }
    }
    server
}

fn target(server: &Server) -> Target {
    Target::parse(&format!("http://127.0.0.1:{}", server.port)).unwrap()
}

fn config(server: &Server, scenario: Scenario) -> RunConfig {
    let mut c = RunConfig::new(scenario, target(server));
    c.server_pids = vec![server.child.id()];
    c.connect_timeout = Duration::from_secs(10);
    // Below the gateway's listen backlog (128), so no SYN is dropped.
    c.connect_concurrency = 64;
    c.drain_timeout = Duration::from_secs(5);
    c.duration = Duration::from_secs(10);
    c.deadline = Duration::from_secs(25);
    c
}

async fn run(c: &RunConfig) -> Report {
    let launch = Launch {
        worker_exe: Some(PathBuf::from(env!("CARGO_BIN_EXE_strapi-io-bench"))),
    };
    let r = run::run(c, &launch).await.expect("the run completes");
    println!("{}", r.table());
    r
}

fn assert_clean(r: &Report) {
    let d = &r.deliveries;
    assert_eq!(r.connections.failed, 0, "{:?}", r.connections.errors);
    assert_eq!(r.connections.lost, 0, "{:?}", r.connections.lost_errors);
    assert_eq!(d.counts.missing, 0);
    assert_eq!(d.counts.duplicates, 0);
    assert_eq!(d.counts.out_of_order, 0);
    assert_eq!(d.counts.unexpected, 0);
    assert_eq!(d.malformed, 0);
    assert_eq!(d.counts.unique, d.counts.expected);
    assert!(d.drained);
    assert!(r.ok, "{:?}", r.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_runs_against_the_gateway() {
    let server = start_server("one");
    tokio::time::timeout(Duration::from_secs(30), async {
        // Fan-out: 200 clients of the four routed audiences, 50 events at 100/s.
        let mut c = config(&server, Scenario::Fanout);
        c.clients = 200;
        c.events = 50;
        c.rate = 100.0;
        c.settle = Duration::from_millis(300);
        let r = run(&c).await;
        assert_clean(&r);
        // The peak was sampled over the emits (it includes the reading after the drain), and
        // the memory read again after the settle, with its CPU phase.
        let m = r.memory.as_ref().unwrap();
        assert!(m.peak_kib.unwrap() >= m.rss_after_kib.unwrap(), "{m:?}");
        assert!(m.per_connection_peak_kib.unwrap() >= m.per_connection_kib.unwrap());
        assert!(m.settled_kib.is_some() && m.per_connection_settled_kib.is_some());
        assert_eq!(r.config.settle_s, 0.3);
        assert!(
            r.phases.iter().any(|p| p.name == "settle"),
            "{:?}",
            r.phases
        );
        c.settle = Duration::ZERO;
        assert_eq!(r.connections.established, 200);
        assert_eq!(r.deliveries.routed_clients, 200);
        assert_eq!(r.deliveries.counts.expected, 200 * 50);
        assert_eq!(r.emit.as_ref().unwrap().ok, 50);
        assert_eq!(r.latency_ms.count, 200 * 50);
        assert!(r.memory.as_ref().unwrap().rss_after_kib.unwrap() > 0);
        assert!(r.nofile_limit.unwrap() > 0);

        // The same with every 10th event sent twice, and a non-routed audience in the mix
        // (comments-only hears no article events): the duplicates must show.
        c.duplicate_every = 10;
        c.mix = Mix::parse("public=1,reader=1,editor=1,dashboard=1,comments=1").unwrap();
        let r = run(&c).await;
        let routed = r.deliveries.routed_clients;
        assert_eq!(routed, 160);
        assert_eq!(r.deliveries.counts.duplicates, 5 * routed);
        assert_eq!(r.deliveries.counts.missing, 0);
        assert_eq!(r.deliveries.counts.out_of_order, 0);
        assert_eq!(r.deliveries.counts.unexpected, 0);
        assert_eq!(r.deliveries.counts.unique, 50 * routed);
        assert_eq!(r.deliveries.counts.received, 55 * routed);
        assert!(!r.ok);
        assert!(
            r.violations.iter().any(|v| v.contains("duplicated")),
            "{:?}",
            r.violations
        );

        // Entity subscriptions: 100 Public clients × 3 of 30 entities, 30 events.
        let mut c = config(&server, Scenario::Entity);
        c.clients = 100;
        c.subs_per_client = 3;
        c.entities = 30;
        c.events = 30;
        c.rate = 200.0;
        let r = run(&c).await;
        assert_clean(&r);
        assert_eq!(r.subscriptions.ok, 300);
        assert_eq!(
            r.subscriptions.resent, 0,
            "every subscribe-entity sent right after connecting was answered"
        );
        assert_eq!(r.deliveries.subscriber_clients, 100);
        assert_eq!(r.deliveries.counts.expected, 300);

        // Two worker processes, merged by the parent.
        let mut c = config(&server, Scenario::Fanout);
        c.clients = 120;
        c.events = 20;
        c.rate = 0.0;
        c.concurrency = 4;
        c.processes = 2;
        let r = run(&c).await;
        assert_clean(&r);
        assert_eq!(r.connections.established, 120);
        assert_eq!(r.deliveries.counts.expected, 120 * 20);
        assert_eq!(r.latency_ms.count, 120 * 20);

        // A small storm, from two source addresses.
        let mut c = config(&server, Scenario::Storm);
        c.clients = 200;
        c.concurrency = 50;
        c.source_ips = 2;
        let r = run(&c).await;
        assert_eq!(r.connections.established, 200);
        assert!(r.connections.handshake_rate_per_s > 0.0);
        assert_eq!(r.connections.handshake_ms.count, 200);
        assert!(r.ok, "{:?}", r.violations);
    })
    .await
    .expect("the short runs finish within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_spread_over_two_gateways() {
    // Two standalone gateways (no Redis): the spreading and the per-node accounting are the
    // bench's; an emit reaches only the clients of the node it went to.
    let (a, b) = (start_server("spread-a"), start_server("spread-b"));
    let pids = vec![a.child.id(), b.child.id()];
    tokio::time::timeout(Duration::from_secs(30), async {
        // Idle: 101 clients in contiguous blocks, 50 on the first node and 51 on the second;
        // each gateway's /health counts what the bench says it holds there.
        let mut c = config(&a, Scenario::Idle);
        c.targets = vec![target(&a), target(&b)];
        c.server_pids = pids.clone();
        c.clients = 101;
        c.hold = Duration::from_millis(500);
        let r = run(&c).await;
        assert!(r.ok, "{:?}", r.violations);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.targets.len(), 2);
        assert_eq!(r.config.nodes, 2);
        let per_node: Vec<_> = r.nodes.iter().map(|n| (n.clients, n.established)).collect();
        assert_eq!(per_node, vec![(50, 50), (51, 51)]);
        assert_eq!(r.nodes[0].server_connections, Some(50));
        assert_eq!(r.nodes[1].server_connections, Some(51));
        let m = r.memory.as_ref().unwrap();
        assert_eq!(m.server_pids, pids);
        let node_rss: Vec<u64> = r
            .nodes
            .iter()
            .map(|n| n.memory.as_ref().unwrap().rss_after_kib.unwrap())
            .collect();
        assert_eq!(m.rss_after_kib, Some(node_rss.iter().sum::<u64>()));
        // Idle: the peak over the hold, per node and of the sum (the highest simultaneous
        // total, at most the sum of the nodes' peaks); no settle.
        let node_peaks: Vec<u64> = r
            .nodes
            .iter()
            .map(|n| n.memory.as_ref().unwrap().peak_kib.unwrap())
            .collect();
        assert!(node_peaks.iter().zip(&node_rss).all(|(p, a)| p >= a));
        let peak = m.peak_kib.unwrap();
        assert!(peak >= m.rss_after_kib.unwrap() && peak <= node_peaks.iter().sum::<u64>());
        assert_eq!(m.settled_kib, None);
        assert!(r.nodes.iter().all(|n| n.cpu_s.is_some()));
        // Each gateway's /metrics was read at the end: no cluster, no cluster errors.
        assert!(r.nodes.iter().all(|n| n.server_cluster_errors == Some(0)));
        assert_eq!(r.phases.len(), 2, "connect and hold: {:?}", r.phases);

        // Fan-out through node 2, three worker processes (the middle one holds clients of
        // both nodes): node 2's 40 clients get all 10 events, node 1's 40 clients none — each
        // of those 400 deliveries counted missing, on node 1.
        let mut c = config(&a, Scenario::Fanout);
        c.targets = vec![target(&a), target(&b)];
        c.server_pids = pids.clone();
        c.emit_target = 1;
        c.clients = 80;
        c.processes = 3;
        c.events = 10;
        c.rate = 100.0;
        c.drain_timeout = Duration::from_secs(1);
        let r = run(&c).await;
        assert_eq!(r.target, r.targets[1]);
        assert_eq!(r.emit_node, 2);
        assert!(!r.nodes[0].emits && r.nodes[1].emits);
        let (n1, n2) = (&r.nodes[0].deliveries, &r.nodes[1].deliveries);
        assert_eq!((n1.expected, n1.unique, n1.missing), (400, 0, 400));
        assert_eq!((n2.expected, n2.unique, n2.missing), (400, 400, 0));
        assert_eq!(n2.duplicates + n2.out_of_order + n2.unexpected, 0);
        assert_eq!(r.deliveries.counts.missing, 400);
        assert_eq!(r.deliveries.clients_with_missing, 40);
        assert_eq!(r.nodes[1].latency_ms.count, 400);
        assert_eq!(r.latency_ms.count, 400);
        assert!(!r.ok);
    })
    .await
    .expect("the two-node runs finish within 30 s");
}
