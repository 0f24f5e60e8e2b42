//! `qafila`: the command line over Qafila's core, for registrars, convoy
//! leads and operators.
//!
//! Layout: [`Cli`] is the clap parser with the global `--json` flag; each
//! subcommand group lives in its own module (`qafila nid ...` in [`nid`]) and
//! returns `anyhow::Result<()>`. New groups (`init`, `beneficiary`, `sync`, ...)
//! add a variant to [`Command`] and a module beside `nid.rs`.
//!
//! Output contract, shared by every subcommand through [`output::Output`]:
//! - text for a person by default, or exactly one JSON object on stdout with
//!   `--json`;
//! - a problem the user can fix is a [`failure::Failure`] with a stable code and
//!   a message in English and Arabic: it goes to stderr (and, with `--json`,
//!   as `{"error": {...}}` to stdout) and the exit status is 1;
//! - usage mistakes are clap's, with exit status 2.
//!
//! This binary is an edge: it may read the clock, files and the network, and
//! passes what it read (such as today's date) into the pure domain crate.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod failure;
mod nid;
mod output;

use output::Output;

/// Qafila (قافلة): offline-first aid distribution.
#[derive(Debug, Parser)]
#[command(name = "qafila", version, propagate_version = true)]
struct Cli {
    /// Print exactly one JSON object on stdout instead of text, for scripts.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Egyptian national IDs (الرقم القومي).
    #[command(subcommand)]
    Nid(nid::NidCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = Output::new(cli.json);
    let result = match cli.command {
        Command::Nid(command) => nid::run(command, &output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            failure::report(&error, &output);
            ExitCode::FAILURE
        }
    }
}
