//! `qafila export` and `qafila hq rollup`: distribution exports (CSV, XLSX,
//! HXL), the 5W summary, the registrar's personal-data list, and HQ's reach.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use qafila_app::export::{
    ExportDto, ExportFormat, ExportKind, ExportRequest, ExportWarningDto, RollupDto,
};

use crate::device::open;
use crate::failure::Failure;
use crate::output::{Output, Report};

/// File format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// UTF-8 with a byte-order mark, so Excel reads the Arabic.
    Csv,
    /// An Excel workbook with right-to-left sheets.
    Xlsx,
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Per village × item × day: quantities and households/people reached.
    Distribution,
    /// Who, what, where, when, for whom: one line per association,
    /// governorate, district, village and item over the range.
    #[value(name = "5w")]
    FiveW,
    /// The registrar's list of beneficiaries: names included, marked as
    /// personal data (the file name must contain `personal`).
    Personal,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// csv or xlsx; by default taken from the --out file's extension, which
    /// must agree with it.
    #[arg(long)]
    pub format: Option<Format>,
    /// distribution (default), 5w, or personal (a registrar's list with names).
    #[arg(long, value_enum, default_value = "distribution")]
    pub kind: Kind,
    /// Add the HXL hashtag row under the headers.
    #[arg(long)]
    pub hxl: bool,
    /// First day, YYYY-MM-DD (not needed for the personal list: it is the
    /// registry as it stands).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day, YYYY-MM-DD.
    #[arg(long)]
    pub to: Option<String>,
    /// Where to write: FILE.csv or FILE.xlsx.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RollupArgs {
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    pub from: String,
    /// Last day, YYYY-MM-DD.
    #[arg(long)]
    pub to: String,
    /// Also write it to FILE.csv or FILE.xlsx.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With --out: add the HXL hashtag row (and leave the total lines out of
    /// the file, since HXL tools would add them up again).
    #[arg(long, requires = "out")]
    pub hxl: bool,
}

pub fn export(dir: &Path, args: ExportArgs, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    let written = app
        .export(&ExportRequest {
            kind: match args.kind {
                Kind::Distribution => ExportKind::Distribution,
                Kind::FiveW => ExportKind::FiveW,
                Kind::Personal => ExportKind::Personal,
            },
            format: args.format.map(|f| match f {
                Format::Csv => ExportFormat::Csv,
                Format::Xlsx => ExportFormat::Xlsx,
            }),
            hxl: args.hxl,
            from: args.from,
            to: args.to,
            out: args.out,
        })
        .map_err(Failure::from)?;
    output.emit(&written)
}

pub fn rollup(dir: &Path, args: RollupArgs, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    let rollup = app
        .hq_rollup(&args.from, &args.to, args.out.as_deref(), args.hxl)
        .map_err(Failure::from)?;
    output.emit(&rollup)
}

fn write_warnings(out: &mut dyn Write, warnings: &[ExportWarningDto]) -> io::Result<()> {
    for w in warnings {
        writeln!(out, "warning [{}]: {}", w.code, w.message)?;
        writeln!(out, "  تنبيه: {}", w.message_ar)?;
    }
    Ok(())
}

impl Report for ExportDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "Wrote {} ({} {}, {} rows) / اتكتب الملف",
            self.out, self.kind, self.format, self.rows
        )?;
        if let (Some(from), Some(to)) = (&self.from, &self.to) {
            writeln!(out, "  days     {from} … {to}")?;
        }
        writeln!(out, "  hxl      {}", if self.hxl { "yes" } else { "no" })?;
        if self.personal_data {
            writeln!(
                out,
                "  PERSONAL DATA: names of beneficiaries — handle and delete according to the data policy"
            )?;
            writeln!(
                out,
                "  بيانات شخصية: أسماء مستفيدين — اتعامل معاها وامسحها حسب سياسة البيانات"
            )?;
        } else {
            writeln!(
                out,
                "  personal data: none (no names, national IDs, phones or ids) / مفيش بيانات شخصية"
            )?;
        }
        write_warnings(out, &self.warnings)
    }
}

impl Report for RollupDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "HQ roll-up {} … {} / إجمالي الوصول للمقر",
            self.from, self.to
        )?;
        if self.rows.is_empty() {
            writeln!(
                out,
                "  no hand-outs in these days on this device / مفيش صرف في الأيام دي"
            )?;
        } else {
            writeln!(
                out,
                "  {:<10}  {:<4}  {:<16}  {:<24}  {:<10}  {:>8}  {:>10}  {:>7}",
                "date",
                "gov",
                "governorate",
                "association",
                "item",
                "quantity",
                "households",
                "people"
            )?;
        }
        for r in &self.rows {
            writeln!(
                out,
                "  {:<10}  {:<4}  {:<16}  {:<24}  {:<10}  {:>8}  {:>10}  {:>7}",
                r.date,
                r.governorate_code,
                r.governorate,
                r.association,
                r.item,
                r.quantity,
                r.households,
                r.people
            )?;
        }
        if !self.totals.is_empty() {
            writeln!(
                out,
                "Per governorate, each household once / إجمالي كل محافظة"
            )?;
        }
        for t in &self.totals {
            writeln!(
                out,
                "  {:<4}  {:<16}  households {:>7}  people {:>8}",
                t.governorate_code, t.governorate, t.households, t.people
            )?;
        }
        write_warnings(out, &self.warnings)?;
        if let Some(file) = &self.file {
            file.write_text(out)?;
        }
        Ok(())
    }
}
