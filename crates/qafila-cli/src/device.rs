//! `qafila init`: create this device's store.

use std::io::{self, Write};
use std::path::Path;

use clap::Args;
use qafila_app::dto::DeviceDto;
use qafila_app::{App, system_clock};

use crate::failure::Failure;
use crate::output::{Output, Report};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A name people recognise for this device ("Mona's phone").
    #[arg(long, value_name = "NAME")]
    device_name: String,
}

/// Opens the device store in `dir`, as every device command does first.
pub fn open(dir: &Path) -> Result<App, Failure> {
    App::open(dir, system_clock()).map_err(Failure::from)
}

pub fn init(dir: &Path, args: InitArgs, output: &Output) -> anyhow::Result<()> {
    let app = App::init(dir, &args.device_name, system_clock()).map_err(Failure::from)?;
    output.emit(&app.device())
}

impl Report for DeviceDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "Device «{}» is ready / الجهاز جاهز", self.name)?;
        writeln!(out, "  id           {}", self.id)?;
        writeln!(out, "  store        {}", self.store)?;
        writeln!(out, "  fingerprint  {}", self.fingerprint)
    }
}
