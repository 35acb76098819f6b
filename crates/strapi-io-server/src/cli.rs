//! The command line: `serve`, `check`, `hash-token`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// strapi-io: permission-aware Socket.IO for Strapi.
#[derive(Debug, Parser)]
#[command(name = "strapi-io", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the embedded demo blog without --config).
    Serve {
        /// Config file (TOML, or JSON with a .json extension).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a config (the one `serve` would use without --config: the embedded demo,
    /// or the environment's) and print the effective settings with secrets masked.
    Check {
        /// Config file (TOML, or JSON with a .json extension).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the hash Strapi stores for an API token (HMAC-SHA512 keyed by the salt, hex).
    HashToken {
        /// The plain token.
        token: String,
        /// Strapi's API_TOKEN_SALT.
        #[arg(long)]
        salt: String,
    },
}
