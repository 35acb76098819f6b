//! The `strapi-io` binary: parse the command line, hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use strapi_io_server::cli::Cli;

/// The static (musl) builds allocate with mimalloc: musl's allocator keeps much more memory.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a supervisor (the Strapi plugin, systemd, a log
        // collector) reads plain lines.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    strapi_io_server::execute(Cli::parse().command).await
}
