//! Running a scenario end to end, in one process or several: the phases (readings before,
//! connect, readings and each server's `/health` once connected, hold, readings, emit,
//! drain, readings after and each server's `/metrics` counters, `--settle` and readings,
//! stop, report), the overall deadline, and the line protocol between the parent and its
//! `worker` processes. Readings are the servers' (`--server-pid`, one per target) and
//! Redis's (`--redis-pid`) resident memory and CPU time; the servers' peak memory is sampled
//! in the background ([`crate::peak`]) over the hold of `idle` and from the first emit to
//! the end of the drain of `fanout`/`entity`.
//!
//! Worker protocol (one JSON value per line after a keyword):
//! - worker → parent: `READY <FleetReport of the connect phase>` once every client of its
//!   share has connected or failed; `DRAINED <bool>` after a drain; `REPORT <FleetReport>`
//!   (histograms base64-encoded) at the end, then it exits.
//! - parent → worker (stdin): `DRAIN <EmitSummary | null>`, then `STOP`. End of input
//!   without `STOP` (the parent died) makes the worker stop at once without reporting.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::config::{RunConfig, partition};
use crate::emit::{self, EmitResult};
use crate::fleet::{Fleet, FleetReport};
use crate::peak::{PEAK_INTERVAL, PeakSampler};
use crate::report::{Readings, Report, Sample, ServerCounters};
use crate::scenario::Scenario;
use crate::sys;
use crate::tracker::EmitSummary;

/// How a run is executed beyond its [`RunConfig`].
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// The executable started as `worker` when `processes > 1` (default: the current one).
    pub worker_exe: Option<PathBuf>,
}

/// Connects in flight during the connect phase.
fn connect_concurrency(cfg: &RunConfig) -> usize {
    let per_process = if cfg.scenario == Scenario::Storm {
        cfg.concurrency
    } else {
        cfg.connect_concurrency
    };
    per_process.div_ceil(cfg.processes).max(1)
}

/// Checks that the loopback ports can take the connections.
fn check_ports(cfg: &RunConfig) -> anyhow::Result<()> {
    let per_ip = sys::ephemeral_ports();
    let capacity = per_ip * cfg.source_ips as u64 * 95 / 100;
    if cfg.clients as u64 > capacity {
        let need = (cfg.clients as u64).div_ceil(per_ip * 95 / 100);
        bail!(
            "{} clients need more local ports than {} source address(es) offer ({} each): use --source-ips {}",
            cfg.clients,
            cfg.source_ips,
            per_ip,
            need.max(2)
        );
    }
    Ok(())
}

/// Runs a scenario and returns its report. Bounded by `cfg.deadline`.
pub async fn run(cfg: &RunConfig, launch: &Launch) -> anyhow::Result<Report> {
    cfg.validate()?;
    if cfg.scenario == Scenario::Recovery {
        bail!("the recovery scenario runs through crate::recovery::run");
    }
    check_ports(cfg)?;
    let nofile = sys::raise_nofile_limit();
    if cfg.processes == 1
        && let Some(n) = nofile
        && cfg.clients as u64 + 200 > n
    {
        bail!(
            "{} clients need more open files than the limit of {n}: use --processes {}",
            cfg.clients,
            (cfg.clients as u64).div_ceil(n.saturating_sub(500).max(1))
        );
    }
    tokio::time::timeout(cfg.deadline, phases(cfg, launch, nofile))
        .await
        .map_err(|_| {
            anyhow!(
                "the run exceeded its deadline of {} s",
                cfg.deadline.as_secs()
            )
        })?
}

enum Holders {
    Local(Box<Fleet>),
    Workers(Vec<Worker>),
}

/// Reads the servers' and Redis's memory and CPU time now.
fn sample(cfg: &RunConfig, t0: Instant) -> Sample {
    Sample {
        at_s: t0.elapsed().as_secs_f64(),
        server_rss: cfg.server_pids.iter().map(|&p| sys::rss_kib(p)).collect(),
        server_cpu: cfg
            .server_pids
            .iter()
            .map(|p| sys::cpu_seconds(&p.to_string()))
            .collect(),
        redis_rss: cfg.redis_pid.and_then(sys::rss_kib),
        redis_cpu: cfg.redis_pid.and_then(|p| sys::cpu_seconds(&p.to_string())),
    }
}

/// `connections` of each server's `GET /health` (`None` where it does not answer within 2 s
/// or has no such field).
async fn server_connections(cfg: &RunConfig) -> Vec<Option<u64>> {
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return vec![None; cfg.targets.len()];
    };
    let reads = cfg.targets.iter().map(|t| {
        let client = client.clone();
        let url = format!("{}/health", t.base_url());
        async move {
            let body: serde_json::Value = client.get(url).send().await.ok()?.json().await.ok()?;
            body.get("connections")?.as_u64()
        }
    });
    futures_util::future::join_all(reads).await
}

/// Each server's counters from `GET /metrics` (`None` where it does not answer 200 within 2 s).
async fn server_counters(cfg: &RunConfig) -> Vec<Option<ServerCounters>> {
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return vec![None; cfg.targets.len()];
    };
    let reads = cfg.targets.iter().map(|t| {
        let client = client.clone();
        let url = format!("{}/metrics", t.base_url());
        async move {
            let r = client.get(url).send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            Some(ServerCounters::parse(&r.text().await.ok()?))
        }
    });
    futures_util::future::join_all(reads).await
}

async fn phases(cfg: &RunConfig, launch: &Launch, nofile: Option<u64>) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let started_ms = sys::now_us() / 1000;
    let mut readings = Readings {
        before: sample(cfg, t0),
        ..Readings::default()
    };
    for (pid, rss) in cfg.server_pids.iter().zip(&readings.before.server_rss) {
        if rss.is_none() {
            bail!("cannot read /proc/{pid}/status (--server-pid)");
        }
    }
    if let Some(pid) = cfg.redis_pid
        && readings.before.redis_cpu.is_none()
    {
        bail!("cannot read /proc/{pid}/stat (--redis-pid)");
    }
    let holders = if cfg.processes == 1 {
        Holders::Local(Box::new(
            Fleet::connect(cfg, 0..cfg.clients, connect_concurrency(cfg)).await?,
        ))
    } else {
        Holders::Workers(start_workers(cfg, launch).await?)
    };
    readings.connected = sample(cfg, t0);
    readings.server_connections = server_connections(cfg).await;
    let bench_cpu_start = sys::cpu_seconds("self");
    let cpu_t0 = Instant::now();
    // The servers' peak memory: over the hold of `idle`, from the first emit to the end of
    // the drain of `fanout`/`entity`.
    let sampler = |on: bool| {
        (on && !cfg.server_pids.is_empty())
            .then(|| PeakSampler::start(cfg.server_pids.clone(), PEAK_INTERVAL))
    };
    let mut peak = sampler(cfg.scenario == Scenario::Idle);
    if !cfg.hold.is_zero() {
        tokio::time::sleep(cfg.hold).await;
        if cfg.scenario.emits() {
            readings.held = Some(sample(cfg, t0));
        }
    }
    if cfg.scenario.emits() {
        peak = sampler(true);
    }
    let emitted: Option<EmitResult> = match cfg.scenario {
        Scenario::Fanout | Scenario::Entity => Some(emit::emit(cfg).await?),
        Scenario::Idle | Scenario::Storm | Scenario::Recovery => None,
    };
    let summary = emitted.as_ref().map(|e| e.summary.clone());
    let finish = |readings: &mut Readings, peak: Option<PeakSampler>| {
        readings.after = sample(cfg, t0);
        readings.peak = peak.map(|p| p.stop(&readings.after.server_rss));
        readings.cpu.measure(
            (readings.connected.server_cpu_sum(), bench_cpu_start),
            (readings.after.server_cpu_sum(), sys::cpu_seconds("self")),
            cpu_t0.elapsed().as_secs_f64(),
        );
    };
    let fleet = match holders {
        Holders::Local(mut f) => {
            f.drain(summary.as_ref(), cfg.drain_timeout).await;
            finish(&mut readings, peak);
            readings.server_counters = server_counters(cfg).await;
            settle(cfg, t0, &mut readings).await;
            f.stop().await
        }
        Holders::Workers(mut ws) => {
            for w in ws.iter_mut() {
                w.send(&format!("DRAIN {}", serde_json::to_string(&summary)?))
                    .await?;
            }
            for w in ws.iter_mut() {
                w.expect("DRAINED").await?;
            }
            finish(&mut readings, peak);
            readings.server_counters = server_counters(cfg).await;
            settle(cfg, t0, &mut readings).await;
            for w in ws.iter_mut() {
                w.send("STOP").await?;
            }
            let mut merged = FleetReport::empty();
            for w in ws.iter_mut() {
                let line = w.expect("REPORT").await?;
                let mut r: FleetReport =
                    serde_json::from_str(&line).context("a worker's REPORT line")?;
                r.decode_histograms()?;
                merged.merge(&r);
            }
            for w in ws.iter_mut() {
                let _ = w.child.wait().await;
            }
            merged
        }
    };
    readings.cpu.bench_s = readings.cpu.bench_s.map(|own| own + fleet.cpu_s);
    Ok(Report::build(
        cfg,
        &fleet,
        emitted.as_ref(),
        &readings,
        nofile,
        started_ms,
        t0.elapsed().as_secs_f64(),
    ))
}

/// `--settle`: keeps the connections open (heartbeats only) for that long after the drain,
/// then reads the servers again.
async fn settle(cfg: &RunConfig, t0: Instant, readings: &mut Readings) {
    if cfg.settle.is_zero() || !cfg.scenario.emits() {
        return;
    }
    tokio::time::sleep(cfg.settle).await;
    readings.settled = Some(sample(cfg, t0));
}

struct Worker {
    index: usize,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .with_context(|| format!("worker {} is gone", self.index))?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// Waits for the line starting with `keyword`; returns what follows it.
    async fn expect(&mut self, keyword: &str) -> anyhow::Result<String> {
        loop {
            let Some(line) = self.lines.next_line().await? else {
                bail!("worker {} exited before {keyword}", self.index);
            };
            if let Some(rest) = line.strip_prefix(keyword) {
                return Ok(rest.trim().to_string());
            }
            eprintln!("[worker {}] {line}", self.index);
        }
    }
}

async fn start_workers(cfg: &RunConfig, launch: &Launch) -> anyhow::Result<Vec<Worker>> {
    let exe = match &launch.worker_exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("the bench's own executable")?,
    };
    let json = serde_json::to_string(cfg)?;
    let mut workers = Vec::with_capacity(cfg.processes);
    for index in 0..cfg.processes {
        let mut child = Command::new(&exe)
            .arg("worker")
            .arg("--index")
            .arg(index.to_string())
            .arg("--of")
            .arg(cfg.processes.to_string())
            .arg("--run")
            .arg(&json)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting worker {index} ({})", exe.display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        workers.push(Worker {
            index,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        });
    }
    for w in workers.iter_mut() {
        w.expect("READY").await?;
    }
    Ok(workers)
}

/// The `worker` side: holds clients `partition(clients, of, index)` and follows the parent's
/// lines on stdin.
pub async fn worker(cfg: &RunConfig, index: usize, of: usize) -> anyhow::Result<()> {
    if of == 0 || index >= of {
        bail!("worker {index} of {of}: bad index");
    }
    sys::raise_nofile_limit();
    let body = async {
        let range = partition(cfg.clients, of, index);
        let mut fleet = Fleet::connect(cfg, range, connect_concurrency(cfg)).await?;
        println!("READY {}", serde_json::to_string(fleet.report())?);
        let cpu_ready = sys::cpu_seconds("self").unwrap_or(0.0);
        let mut cpu_used = 0.0;
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        loop {
            let Some(line) = lines.next_line().await? else {
                // The parent is gone: stop without a report.
                return Ok(());
            };
            if let Some(rest) = line.strip_prefix("DRAIN") {
                let summary: Option<EmitSummary> = serde_json::from_str(rest.trim())?;
                let done = fleet.drain(summary.as_ref(), cfg.drain_timeout).await;
                cpu_used = sys::cpu_seconds("self").unwrap_or(0.0) - cpu_ready;
                println!("DRAINED {done}");
            } else if line.trim() == "STOP" {
                let mut r = fleet.stop().await;
                r.cpu_s = cpu_used;
                r.encode_histograms();
                println!("REPORT {}", serde_json::to_string(&r)?);
                return Ok(());
            }
        }
    };
    tokio::time::timeout(cfg.deadline + Duration::from_secs(30), body)
        .await
        .map_err(|_| anyhow!("worker {index}: deadline exceeded"))?
}
