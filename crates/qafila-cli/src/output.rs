//! How subcommands print results: text for a person, or one JSON object for a
//! script, chosen once by the global `--json` flag.

use std::io::{self, Write};

use anyhow::Context;
use serde::Serialize;

/// A subcommand's result, printable both ways. The JSON form is the stable
/// contract for scripts; the text form may change to read better.
pub trait Report: Serialize {
    /// Writes the human-readable form.
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()>;
}

/// Where and how results go. Commands never print directly, so every one of
/// them honours `--json` the same way.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    pub fn is_json(self) -> bool {
        self.json
    }

    /// Prints a result on stdout. Write errors (a closed pipe, a full disk)
    /// come back as errors instead of the panic `println!` would raise.
    pub fn emit(self, report: &impl Report) -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        if self.json {
            serde_json::to_writer(&mut out, report).context("could not write JSON output")?;
            writeln!(out).context("could not write JSON output")?;
        } else {
            report
                .write_text(&mut out)
                .context("could not write output")?;
        }
        out.flush().context("could not write output")
    }
}
