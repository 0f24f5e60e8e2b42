//! `qafila beneficiary import FILE [--dry-run]`: a whole list at once, with
//! a row-by-row report of what was refused and why.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use qafila_app::App;
use qafila_app::registry_import::ImportReportDto;

use crate::failure::Failure;
use crate::output::{Output, Report};

pub fn run(app: &App, file: &Path, dry_run: bool, output: &Output) -> anyhow::Result<()> {
    let show_progress = !output.is_json() && io::stderr().is_terminal();
    let report = app
        .import_beneficiaries(file, dry_run, |done, total| {
            if show_progress && (done % 100 == 0 || done == total) {
                eprint!("\r{done}/{total}");
            }
        })
        .map_err(Failure::from)?;
    if show_progress {
        eprintln!();
    }
    output.emit(&report)
}

impl Report for ImportReportDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let what = if self.dry_run {
            "Dry run (nobody registered)"
        } else {
            "Imported"
        };
        writeln!(
            out,
            "{what}: {} ({} {})",
            self.file, self.format, self.encoding
        )?;
        if let Some(sheet) = &self.sheet {
            writeln!(out, "  sheet       {sheet}")?;
        }
        writeln!(out, "  rows        {}", self.rows)?;
        let verb = if self.dry_run {
            "would register"
        } else {
            "registered"
        };
        writeln!(out, "  {verb:<11} {}", self.registered)?;
        writeln!(out, "  refused     {}", self.refused.len())?;
        if !self.ignored_columns.is_empty() {
            writeln!(
                out,
                "  ignored columns: {}",
                self.ignored_columns.join(", ")
            )?;
        }
        if !self.other_sheets.is_empty() {
            writeln!(
                out,
                "  not read: sheets {} — import each one as its own file / الأوراق دي ماتقريتش",
                self.other_sheets.join(", ")
            )?;
        }
        if let Some(pairs) = self.likely_duplicates.filter(|n| *n > 0) {
            writeln!(
                out,
                "  {pairs} likely duplicates to review: qafila beneficiary duplicates / في تكرار محتمل لازم يتراجع"
            )?;
        }
        for row in &self.refused {
            for reason in &row.reasons {
                writeln!(
                    out,
                    "  row {:>5} {}: [{}] {}",
                    row.line, row.name, reason.code, reason.message
                )?;
                writeln!(out, "            {}", reason.message_ar)?;
            }
        }
        Ok(())
    }
}
