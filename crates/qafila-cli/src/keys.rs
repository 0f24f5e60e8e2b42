//! `qafila keys export` / `qafila keys import`: the lead's keys in a
//! passphrase-sealed file (and on printable QR pages), and a laptop that
//! carries the convoy on from them.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use qafila_app::{App, system_clock};
use serde::Serialize;

use crate::device::{open, read_passphrase};
use crate::failure::Failure;
use crate::output::{Output, Report};

/// Where scripts give the backup's passphrase.
const BACKUP_PASSPHRASE_ENV: &str = "QAFILA_BACKUP_PASSPHRASE";

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Seal this lead's keys (its identity, the convoy's key generations
    /// and certificates) and its card-issuing keys in a file under a backup
    /// passphrase (QAFILA_BACKUP_PASSPHRASE when scripted). Keep it apart
    /// from the laptop.
    Export(ExportArgs),
    /// Make this (empty) data folder the lead's laptop from a backup file,
    /// or from its sheet's codes scanned into a text file, then take the
    /// lead's records back from the convoy's relay and carry on.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The backup file to write.
    #[arg(long)]
    out: PathBuf,
    /// Also write its printable QR pages (HTML) here.
    #[arg(long)]
    sheet: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The backup file, or a text file of its sheet's codes.
    file: PathBuf,
    /// Make the store only; take the lead's records back at the next
    /// `qafila sync` (nothing can be recorded until then).
    #[arg(long)]
    no_sync: bool,
}

#[derive(Debug, Serialize)]
struct Exported {
    file: String,
    sheet: Option<String>,
    convoys: Vec<String>,
    issuers: u32,
    codes: usize,
}

impl Report for Exported {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "Keys backed up to {} / اتعملت نسخة احتياطية للمفاتيح",
            self.file
        )?;
        for convoy in &self.convoys {
            writeln!(out, "  convoy   {convoy}")?;
        }
        writeln!(out, "  issuers  {}", self.issuers)?;
        if let Some(sheet) = &self.sheet {
            writeln!(out, "  sheet    {sheet} ({} codes)", self.codes)?;
        }
        writeln!(
            out,
            "Keep it away from this laptop, with its passphrase somewhere else / خليها بعيد عن اللابتوب، وكلمة سرها في مكان تاني"
        )
    }
}

#[derive(Debug, Serialize)]
struct Imported {
    device: qafila_app::dto::DeviceDto,
    recovered_events: Option<u64>,
}

impl Report for Imported {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "This laptop now holds the keys of «{}» / اللابتوب ده بقى معاه مفاتيح «{}»",
            self.device.name, self.device.name
        )?;
        match self.recovered_events {
            Some(n) => writeln!(
                out,
                "Took back the lead's records from the relay ({n} events) and carries on / رجّع سجلات القائد من السيرفر وكمّل"
            ),
            None => writeln!(
                out,
                "Run `qafila sync` to take back the lead's records before recording anything / زامن الأول قبل ما تسجّل أي حاجة"
            ),
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure {
        code: "write_failed",
        message: format!("could not write {}: {e}", path.display()),
        message_ar: format!("مش قادر أكتب الملف {}", path.display()),
    })
}

pub fn run(dir: &Path, command: KeysCommand, output: &Output) -> anyhow::Result<()> {
    match command {
        KeysCommand::Export(args) => {
            let app = open(dir)?;
            let passphrase = read_passphrase(
                BACKUP_PASSPHRASE_ENV,
                "Choose a passphrase for the backup (not this device's) / اختار كلمة سر للنسخة الاحتياطية: ",
                true,
            )?;
            let backup = app.export_keys(&passphrase).map_err(Failure::from)?;
            write_file(&args.out, backup.file.as_bytes())?;
            let mut codes = 0;
            if let Some(sheet) = &args.sheet {
                let html = qafila_app::keys::keys_sheet(&backup).map_err(Failure::from)?;
                codes = qafila_app::keys::sheet_codes(&backup.file).len();
                write_file(sheet, html.as_bytes())?;
            }
            output.emit(&Exported {
                file: args.out.display().to_string(),
                sheet: args.sheet.map(|s| s.display().to_string()),
                convoys: backup.convoys,
                issuers: backup.issuers,
                codes,
            })
        }
        KeysCommand::Import(args) => {
            let text = std::fs::read_to_string(&args.file).map_err(|e| Failure {
                code: "read_failed",
                message: format!("could not read {}: {e}", args.file.display()),
                message_ar: format!("مش قادر أقرا الملف {}", args.file.display()),
            })?;
            let backup = read_passphrase(
                BACKUP_PASSPHRASE_ENV,
                "The backup's passphrase / كلمة سر النسخة الاحتياطية: ",
                false,
            )?;
            let store = crate::device::new_passphrase()?;
            let app = App::restore_keys(dir, &text, &backup, &store, system_clock())
                .map_err(Failure::from)?;
            let recovered_events = if args.no_sync {
                None
            } else {
                Some(
                    app.sync(None, None, 3)
                        .map_err(Failure::from)?
                        .applied_events,
                )
            };
            output.emit(&Imported {
                device: app.device(),
                recovered_events,
            })
        }
    }
}
