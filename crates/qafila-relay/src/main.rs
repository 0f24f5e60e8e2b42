//! `qafila-relay`: the relay as its own small binary (the same as
//! `qafila relay serve`), for servers that do not need the device CLI.

use std::process::ExitCode;

use clap::Parser;

/// Qafila's blind relay: stores and forwards sealed per-device logs.
#[derive(Debug, Parser)]
#[command(name = "qafila-relay", version)]
struct Args {
    #[command(flatten)]
    flags: qafila_relay::Flags,
}

fn main() -> ExitCode {
    let config = match Args::parse().flags.load() {
        Ok(config) => config,
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
