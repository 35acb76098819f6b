//! The strapi-io gateway: configuration, the HTTP edge (JSON RPC, webhooks, monitoring,
//! health) and the process around the `strapi-io` runtime. `main.rs` only parses the command
//! line ([`cli`]) and calls [`execute`].

mod app;
pub mod cli;
mod client_bundle;
mod clock;
mod cluster;
mod config;
mod dashboard;
mod entries;
mod forward;
mod http;
mod idempotency;
mod memory;
mod monitoring;
mod populate;
mod published;
mod rpc;
mod sockets;
mod state;
mod store;
mod trends;
mod webhook;

use std::process::ExitCode;

use cli::Command;
use tokio::net::TcpListener;

/// Exit code for an unusable config.
const EXIT_CONFIG: u8 = 2;

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Pending connections the listening socket queues (the kernel caps it at `somaxconn`): a
/// burst of handshakes must not be dropped and retried a second later, as with the usual 128.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (`host:port`) with a deep accept queue.
async fn listen(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for sa in tokio::net::lookup_host(addr).await? {
        let socket = if sa.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(sa).and_then(|()| socket.listen(LISTEN_BACKLOG)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other(format!("{addr}: no address"))))
}

/// Raises the open-file soft limit to the hard limit and returns the new soft limit.
fn raise_nofile_limit() -> Option<u64> {
    let (_, hard) = rlimit::Resource::NOFILE.get().ok()?;
    rlimit::Resource::NOFILE.set(hard, hard).ok()?;
    Some(hard)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {}, _ = stdin_closed() => {} }
}

/// With `STRAPI_IO_STOP_ON_STDIN_EOF=1` (set by a parent that supervises the gateway, such
/// as the Strapi plugin entry), resolves when standard input reaches its end — the parent
/// closed it or died — so that the gateway never outlives its parent. Otherwise never.
///
/// Read on a thread of its own, not tokio's blocking pool: a read pending there would hold
/// the runtime's shutdown (a SIGTERM would then wait for the parent to close stdin).
async fn stdin_closed() {
    if std::env::var("STRAPI_IO_STOP_ON_STDIN_EOF").as_deref() != Ok("1") {
        return std::future::pending().await;
    }
    let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 256];
            // Whatever the parent writes is ignored; end of input or an error ends the wait.
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = closed.send(());
        });
    if spawned.is_err() || on_close.await.is_err() {
        return std::future::pending().await;
    }
    tracing::info!("standard input closed: stopping (STRAPI_IO_STOP_ON_STDIN_EOF)");
}

/// Runs one command; the process exit code comes back.
pub async fn execute(command: Command) -> ExitCode {
    match command {
        Command::HashToken { token, salt } => {
            println!("{}", strapi_io::core::auth::hash_api_token(&token, &salt));
            ExitCode::SUCCESS
        }
        Command::Check { config } => match config::load(config.as_deref(), &env_lookup) {
            Ok(loaded) => {
                let c = config::masked(&loaded.config);
                println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
                eprintln!(
                    "config OK: {} content types",
                    loaded.schemas.content_types().count()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("invalid config:\n{e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Serve { config } => {
            let loaded = match config::load(config.as_deref(), &env_lookup) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("invalid config:\n{e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let nofile = raise_nofile_limit();
            let addr = format!("{}:{}", loaded.gateway.host, loaded.gateway.port);
            let listener = match listen(&addr).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("cannot listen on {addr}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let gateway = match app::app(&loaded).await {
                Ok(built) => built,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return ExitCode::FAILURE;
                }
            };
            let local = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
            print_banner(&loaded, &local, nofile);
            match app::serve(gateway, listener, shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn print_banner(loaded: &config::Loaded, addr: &str, nofile: Option<u64>) {
    let c = &loaded.gateway;
    let types: Vec<&str> = loaded
        .schemas
        .content_types()
        .map(|c| c.uid.as_str())
        .collect();
    println!("strapi-io listening on http://{addr}");
    println!("  socket.io path : {}", c.socket.path);
    println!("  content types  : {}", types.join(", "));
    println!(
        "  admin API      : {}",
        if c.admin_token.is_some() {
            "POST /api/io/<method> (Bearer admin token)"
        } else {
            "off (set STRAPI_IO_ADMIN_TOKEN)"
        }
    );
    if let Some(n) = nofile {
        println!("  open files     : {n}");
    }
    println!(
        "  connect        : io(\"http://{addr}\", {{ auth: {{ strategy: \"jwt\", token: \"<JWT>\" }} }})"
    );
    println!(
        "                   io(\"http://{addr}\", {{ auth: {{ strategy: \"api-token\", token: \"<API token>\" }} }})"
    );
    let (jwt_secret, api_token_salt) = match &c.directory {
        config::Directory::Static {
            jwt_secret,
            api_token_salt,
            ..
        }
        | config::Directory::Strapi {
            jwt_secret,
            api_token_salt,
            ..
        } => (jwt_secret, api_token_salt),
    };
    if loaded.embedded
        || jwt_secret.expose() == "demo-jwt-secret"
        || c.admin_token
            .as_ref()
            .is_some_and(|t| t.expose() == "demo-admin-token")
        || api_token_salt.expose() == "demo-api-token-salt"
    {
        eprintln!();
        eprintln!("WARNING: running with the PUBLIC DEMO SECRETS of examples/blog (jwt secret");
        eprintln!("`demo-jwt-secret`, admin token `demo-admin-token`). Never expose it; pass");
        eprintln!("--config with your own secrets for anything real.");
    }
}
