//! `strapi-io-bench`: the command line of the load generator (see the library docs).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use strapi_io_bench::audience::{Credentials, Mix};
use strapi_io_bench::config::{RunConfig, Target, parse_emit_target};
use strapi_io_bench::genconfig::{self, ConfigEdit};
use strapi_io_bench::recovery::{self, ReconnectTo, RecoveryOptions};
use strapi_io_bench::run::{self, Launch};
use strapi_io_bench::scenario::Scenario;

#[derive(Parser)]
#[command(
    name = "strapi-io-bench",
    version,
    about = "Load generator for strapi-io and the Node reference (Socket.IO over WebSocket)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Connect N clients, hold them, report the server's memory per connection.
    Idle(RunArgs),
    /// N clients in an audience mix; drive `article:update` events to all of them.
    Fanout(RunArgs),
    /// N clients subscribe to entities; drive `comment:update` events over the entities.
    Entity(RunArgs),
    /// N connects as fast as possible: handshake rate and time.
    Storm(RunArgs),
    /// Events flow; every client drops its connection at once and reconnects with its pid
    /// and last offset: connection state recovery (see the `recovery` module).
    Recovery(RecoveryArgs),
    /// Write a server config derived from bench/configs/bench.toml.
    Config(ConfigArgs),
    /// Internal: hold a share of the clients for a parent run.
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        index: usize,
        #[arg(long)]
        of: usize,
        #[arg(long)]
        run: String,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Server base URL (127.0.0.0/8 only). Repeat it (or separate URLs with commas) to spread
    /// the clients over several nodes of a cluster, in contiguous blocks of client indices.
    #[arg(long, default_value = "http://127.0.0.1:1337", value_delimiter = ',')]
    target: Vec<String>,
    /// The node the emit requests go to: its number (1 = the first --target) or its URL.
    #[arg(long, default_value = "1")]
    emit_target: String,
    /// Bearer token of POST /api/io/emit.
    #[arg(long, default_value = "demo-admin-token")]
    admin_token: String,
    /// The server's pid, to read its resident memory and CPU time; one per --target, in the
    /// same order (repeat it, or separate pids with commas).
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// The pid of a cluster's Redis server, to read its CPU time and memory.
    #[arg(long)]
    redis_pid: Option<u32>,
    /// Clients in total.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Audience mix, e.g. public=1,reader=1,editor=1,dashboard=1 (also comments, extra-1..12).
    /// Default: those four (entity: public=1).
    #[arg(long)]
    mix: Option<String>,
    /// Content events to drive.
    #[arg(long, default_value_t = 100)]
    events: u64,
    /// Events per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Emit requests in flight (storm: connects in flight). Default 1 (storm 500).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Connects in flight while connecting (all scenarios but storm).
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
    /// Bytes of text in each event.
    #[arg(long, default_value_t = 200)]
    payload_bytes: usize,
    /// Distinct entities (event seq → id seq % M + 1).
    #[arg(long, default_value_t = 1000)]
    entities: u32,
    /// Entity subscriptions per client (entity).
    #[arg(long, default_value_t = 10)]
    subs_per_client: u32,
    /// Seconds to hold the connections once all connected: the whole of idle (default 10);
    /// before the first emit of fanout/entity (default 0). Ignored by storm.
    #[arg(long)]
    hold: Option<f64>,
    /// Cap of the emit phase, seconds.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seconds to wait for the last deliveries.
    #[arg(long, default_value_t = 5.0)]
    drain_timeout: f64,
    /// fanout/entity: seconds to keep the connections open (heartbeats only) after the emits
    /// are drained, then read the server's memory again (the "settled" figure, to compare
    /// with the one read once connected). 0 = skip.
    #[arg(long, default_value_t = 0.0)]
    settle: f64,
    /// Per-client cap of connect + handshake (+ subscriptions), seconds.
    #[arg(long, default_value_t = 20.0)]
    connect_timeout: f64,
    /// Hard cap of the whole run, seconds (default: hold + duration + drain + settle + 600).
    #[arg(long)]
    deadline: Option<f64>,
    /// Bind clients to 127.0.0.2 … 127.0.0.(1+K); 1 = 127.0.0.1.
    #[arg(long, default_value_t = 1)]
    source_ips: u8,
    /// Processes holding the clients (one holds at most 19,500).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Testing aid: send every D-th event twice with the same benchSeq.
    #[arg(long, default_value_t = 0)]
    duplicate_every: u64,
    /// A name for the run, copied into the report.
    #[arg(long)]
    label: Option<String>,
    /// Runtime worker threads per bench process (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Socket.IO path.
    #[arg(long, default_value = "/socket.io")]
    path: String,
    /// HS256 secret of the reader/editor JWTs.
    #[arg(long, default_value = "demo-jwt-secret")]
    jwt_secret: String,
    /// Plain API token of the dashboard audience.
    #[arg(long, default_value = "demo-token-dashboard")]
    dashboard_token: String,
    /// Plain API token of the comments audience.
    #[arg(long, default_value = "demo-token-comments-only")]
    comments_token: String,
}

#[derive(Args)]
struct RecoveryArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Seconds after the first emit when every client drops its TCP connection.
    #[arg(long, default_value_t = 5.0)]
    cut_at: f64,
    /// Seconds the clients stay away before reconnecting.
    #[arg(long, default_value_t = 1.0)]
    reconnect_delay: f64,
    /// Where the clients reconnect: `same` node or the `next` of the --target list.
    #[arg(long, default_value = "same")]
    reconnect_to: String,
    /// The cluster's Redis (redis://127.0.0.1:PORT), read with redis-cli for its memory.
    #[arg(long)]
    redis_url: Option<String>,
    /// Clients 0..K keep their connection through the cut (every audience keeps a member).
    #[arg(long, default_value_t = 0)]
    stay: usize,
}

#[derive(Args)]
struct ConfigArgs {
    /// The config to start from.
    #[arg(long, default_value = "bench/configs/bench.toml")]
    base: PathBuf,
    /// settings.connection.pingInterval, ms.
    #[arg(long)]
    ping_interval: Option<u64>,
    /// settings.connection.pingTimeout, ms.
    #[arg(long)]
    ping_timeout: Option<u64>,
    /// Add read-only API tokens bench-extra-1 … bench-extra-N (audiences extra-1 … extra-N).
    #[arg(long, default_value_t = 0)]
    extra_tokens: u16,
    /// settings.connection.recovery.maxDisconnectionDuration, ms (0 = recovery off).
    #[arg(long)]
    recovery_max_disconnection: Option<u64>,
    /// Where to write it (stdout without).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn secs(v: f64, name: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| anyhow::anyhow!("--{name}: not a duration in seconds"))
}

fn build(scenario: Scenario, a: &RunArgs) -> anyhow::Result<RunConfig> {
    let targets = a
        .target
        .iter()
        .map(|t| Target::parse(t.trim()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let Some(first) = targets.first() else {
        anyhow::bail!("give at least one --target");
    };
    let mut c = RunConfig::new(scenario, first.clone());
    c.emit_target = parse_emit_target(&a.emit_target, &targets)?;
    c.targets = targets;
    c.path = a.path.clone();
    c.admin_token = a.admin_token.clone();
    c.server_pids = a.server_pid.clone();
    c.redis_pid = a.redis_pid;
    c.clients = a.clients;
    if let Some(m) = &a.mix {
        c.mix = Mix::parse(m)?;
    }
    c.credentials = Credentials {
        jwt_secret: a.jwt_secret.clone(),
        dashboard_token: a.dashboard_token.clone(),
        comments_token: a.comments_token.clone(),
    };
    c.events = a.events;
    c.rate = a.rate;
    if let Some(n) = a.concurrency {
        c.concurrency = n;
    }
    c.connect_concurrency = a.connect_concurrency;
    c.payload_bytes = a.payload_bytes;
    c.entities = a.entities;
    c.subs_per_client = a.subs_per_client;
    c.hold = match (scenario, a.hold) {
        (Scenario::Storm, _) => Duration::ZERO,
        (Scenario::Idle, None) => Duration::from_secs(10),
        (_, None) => Duration::ZERO,
        (_, Some(h)) => secs(h, "hold")?,
    };
    c.duration = secs(a.duration, "duration")?;
    c.drain_timeout = secs(a.drain_timeout, "drain-timeout")?;
    c.settle = secs(a.settle, "settle")?;
    c.connect_timeout = secs(a.connect_timeout, "connect-timeout")?;
    c.deadline = match a.deadline {
        Some(d) => secs(d, "deadline")?,
        None => c.hold + c.duration + c.drain_timeout + c.settle + Duration::from_secs(600),
    };
    c.source_ips = a.source_ips;
    c.processes = a.processes;
    c.duplicate_every = a.duplicate_every;
    c.label = a.label.clone();
    c.threads = a.threads;
    c.validate()?;
    Ok(c)
}

fn recovery(a: RecoveryArgs) -> ExitCode {
    let opts = (|| {
        let cfg = build(Scenario::Recovery, &a.run)?;
        let reconnect_to = match a.reconnect_to.as_str() {
            "same" => ReconnectTo::Same,
            "next" => ReconnectTo::Next,
            other => anyhow::bail!("--reconnect-to {other}: same or next"),
        };
        if let Some(u) = &a.redis_url
            && !u.starts_with("redis://127.")
        {
            anyhow::bail!("--redis-url must be redis://127.x.y.z:PORT");
        }
        let opts = RecoveryOptions {
            cut_at: secs(a.cut_at, "cut-at")?,
            reconnect_delay: secs(a.reconnect_delay, "reconnect-delay")?,
            reconnect_to,
            redis_url: a.redis_url.clone(),
            stay: a.stay,
        };
        Ok::<_, anyhow::Error>((cfg, opts))
    })();
    let (cfg, opts) = match opts {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime(cfg.threads).block_on(recovery::run(&cfg, &opts)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    finish(&report.table(), &report, report.ok, a.run.json.as_deref())
}

fn runtime(threads: Option<usize>) -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        b.worker_threads(n);
    }
    b.enable_all().build().expect("tokio runtime")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (scenario, args) = match cli.command {
        Command::Idle(a) => (Scenario::Idle, a),
        Command::Fanout(a) => (Scenario::Fanout, a),
        Command::Entity(a) => (Scenario::Entity, a),
        Command::Storm(a) => (Scenario::Storm, a),
        Command::Recovery(a) => return recovery(a),
        Command::Config(a) => {
            let edit = ConfigEdit {
                base: a.base,
                ping_interval: a.ping_interval,
                ping_timeout: a.ping_timeout,
                extra_tokens: a.extra_tokens,
                recovery_max_disconnection: a.recovery_max_disconnection,
            };
            let result = genconfig::generate(&edit).and_then(|text| match &a.out {
                Some(p) => {
                    std::fs::write(p, text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
                }
                None => {
                    print!("{text}");
                    Ok(())
                }
            });
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Worker { index, of, run } => {
            let result = serde_json::from_str::<RunConfig>(&run)
                .map_err(anyhow::Error::from)
                .and_then(|cfg| runtime(cfg.threads).block_on(run::worker(&cfg, index, of)));
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("worker {index}: error: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let cfg = match build(scenario, &args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime(cfg.threads).block_on(run::run(&cfg, &Launch::default())) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    finish(&report.table(), &report, report.ok, args.json.as_deref())
}

/// Prints a run's table, writes its JSON report when asked, and says how the run ended:
/// 0 when its checks passed, 3 when not, 1 when the report could not be written.
fn finish(
    table: &str,
    report: &impl serde::Serialize,
    ok: bool,
    json: Option<&std::path::Path>,
) -> ExitCode {
    print!("{table}");
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(report).expect("report serializes");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}
