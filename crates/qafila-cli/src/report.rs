//! `qafila report day`: the printable, signed-off day report (HTML or PDF).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use qafila_app::report::{DayReportFileDto, Lang};

use crate::device::open;
use crate::failure::Failure;
use crate::output::{Output, Report};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// A site's day: stock reconciliation, reach, anomalies and their
    /// reviews, the close and its signature, with signature lines. Arabic,
    /// right to left.
    Day {
        /// The site.
        #[arg(long)]
        site: String,
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
        /// FILE.pdf (printed by Chromium) or FILE.html.
        #[arg(long)]
        out: PathBuf,
        /// Write the report in English instead of Arabic.
        #[arg(long)]
        english: bool,
    },
}

pub fn run(dir: &Path, command: ReportCommand, output: &Output) -> anyhow::Result<()> {
    match command {
        ReportCommand::Day {
            site,
            date,
            out,
            english,
        } => {
            let app = open(dir)?;
            let lang = if english { Lang::En } else { Lang::Ar };
            let written = app
                .write_day_report(&site, date.as_deref(), lang, &out)
                .map_err(Failure::from)?;
            output.emit(&written)
        }
    }
}

impl Report for DayReportFileDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "Day report: {} ({}) / تقرير اليوم جاهز",
            self.out, self.format
        )?;
        writeln!(out, "  site / الموقع   {}", self.site)?;
        writeln!(out, "  date / التاريخ  {}", self.date)?;
        let status = match (self.closed, self.signature_valid) {
            (false, _) => "NOT closed: provisional / اليوم مش مقفول: تقرير مؤقت",
            (true, Some(false)) => {
                "closed, but the signature is NOT valid / مقفول لكن التوقيع غير سليم"
            }
            (true, _) => "closed and signed / مقفول وموقّع",
        };
        writeln!(out, "  status / الحالة {status}")?;
        if let Some(fingerprint) = &self.fingerprint {
            writeln!(out, "  fingerprint / البصمة {fingerprint}")?;
        }
        writeln!(
            out,
            "  reach / الوصول {} households, {} people / {} أسرة، {} فرد",
            self.households, self.people, self.households, self.people
        )
    }
}
