//! `qafila-relay`: the relay as its own small binary (the same as
//! `qafila relay serve`), for servers that do not need the device CLI.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Qafila's blind relay: stores and forwards sealed per-device logs.
#[derive(Debug, Parser)]
#[command(name = "qafila-relay", version)]
struct Args {
    /// Address to listen on, e.g. 0.0.0.0:8443.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// SQLite database file (the default storage).
    #[arg(long, conflicts_with = "database_url")]
    db: Option<PathBuf>,
    /// PostgreSQL URL, for several relays sharing one database.
    #[arg(long)]
    database_url: Option<String>,
    /// A TOML configuration file.
    #[arg(long, env = "QAFILA_RELAY_CONFIG")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config =
        match qafila_relay::Config::load(args.config.as_deref(), |name| std::env::var(name).ok()) {
            Ok(config) => config.with_overrides(args.listen, args.db, args.database_url),
            Err(e) => {
                eprintln!("error [relay_config]: {e}");
                return ExitCode::FAILURE;
            }
        };
    match qafila_relay::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error [relay_failed]: {e}");
            ExitCode::FAILURE
        }
    }
}
