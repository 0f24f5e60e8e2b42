//! `qafila selftest handouts`: records hand-outs in a loop and prints each
//! event id the moment the store acknowledges it (durably committed).
//!
//! A field diagnostic (does this phone's storage keep up, and keep what it
//! acknowledged?) and the driver of the crash test, which kills this process
//! with SIGKILL at random moments and checks that every printed id survived.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::Args;
use qafila_app::distribution::HandOutRequest;

use crate::device::open;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct HandoutsArgs {
    /// Beneficiary id or national ID to serve.
    #[arg(long)]
    beneficiary: String,
    /// Item code.
    #[arg(long, default_value = "hot_meal")]
    item: String,
    /// Site.
    #[arg(long)]
    site: String,
    /// How many hand-outs.
    #[arg(long, default_value_t = 1000)]
    count: u32,
}

pub fn handouts(dir: &Path, args: HandoutsArgs, _output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    let mut stdout = std::io::stdout().lock();
    for _ in 0..args.count {
        let done = app
            .hand_out(HandOutRequest {
                beneficiary: args.beneficiary.clone(),
                item: args.item.clone(),
                qty: "1".into(),
                site: args.site.clone(),
                ..HandOutRequest::default()
            })
            .map_err(Failure::from)?;
        // One line per acknowledged event, flushed before the next write
        // starts: whatever is printed was committed.
        writeln!(stdout, "{}", done.event).context("could not write output")?;
        stdout.flush().context("could not write output")?;
    }
    Ok(())
}
