//! `qafila cards …` for registrars and `qafila scan` for volunteers.

use std::fs::File;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use qafila_app::App;
use qafila_app::cards::{CardDto, IssuedDto, IssuerDto, ScanDto, SheetDto, VerifyDto};
use serde::Serialize;

use crate::device::open;
use crate::failure::{Failure, Refused};
use crate::output::{Output, Report};

#[derive(Debug, Subcommand)]
pub enum CardsCommand {
    /// Create this device's card-issuing key for an association (its public
    /// half travels to the convoy's devices so they can check its cards).
    Issuer {
        /// The association's name.
        #[arg(long)]
        association: String,
    },
    /// The issuing keys this device trusts.
    Issuers,
    /// Stop trusting an issuing key everywhere (the convoy lead, when the
    /// device holding its secret is lost or revoked): its cards are refused
    /// and must be reissued with another key.
    Withdraw {
        /// The key id (the first five digits of its card numbers).
        key_id: u16,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Issue cards: to everyone in a village who has none yet, or to one person.
    Issue {
        /// Every registered person of this village without an active card.
        #[arg(
            long,
            conflicts_with = "beneficiary",
            required_unless_present = "beneficiary"
        )]
        village: Option<String>,
        /// One person (id or national ID).
        #[arg(long)]
        beneficiary: Option<String>,
        /// Also write the new cards' sheet (FILE.pdf or FILE.html).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also write the new cards' texts, as a scanner types them: one per
        /// line, in the order of the issued list (for tests and benchmarks
        /// that scan many cards).
        #[arg(long, value_name = "FILE")]
        texts: Option<PathBuf>,
    },
    /// Print a card again with the same number (worn or badly printed).
    Reprint {
        /// The card number as printed (e.g. 41203-000017).
        serial: String,
        /// FILE.pdf or FILE.html.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Replace a lost or damaged card: a new number; the old card stops working.
    Reissue {
        /// The old card's number.
        serial: String,
        /// Write the new card's sheet (FILE.pdf or FILE.html).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Revoke a card for good (every device refuses it once synced).
    Revoke {
        /// The card number.
        serial: String,
        /// Why (lost, stolen, misuse…).
        #[arg(long)]
        reason: String,
    },
    /// Printable A4 sheets (10 cards a page) of a village's cards.
    Sheet {
        /// The village.
        #[arg(long)]
        village: String,
        /// FILE.pdf (printed by Chromium) or FILE.html (print from a browser).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a card offline: its text (as a scanner types it) or a photo of it.
    /// Exits 1 when the card is not valid.
    Verify {
        /// The scanned text, or an image file (PNG/JPEG).
        payload_or_image: String,
    },
    /// A person's cards.
    Show {
        /// Beneficiary id or national ID.
        beneficiary: String,
    },
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The scanned text or an image file. Without it, each line typed on
    /// standard input is one scan (a keyboard-wedge scanner ends each with Enter).
    pub payload_or_image: Option<String>,
    /// The site where the beneficiary is checked in.
    #[arg(long)]
    pub site: String,
}

pub fn run(dir: &Path, command: CardsCommand, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    match command {
        CardsCommand::Issuer { association } => {
            output.emit(&app.create_issuer(&association).map_err(Failure::from)?)
        }
        CardsCommand::Issuers => output.emit(&Issuers {
            issuers: app.issuers().map_err(Failure::from)?,
        }),
        CardsCommand::Issue {
            village,
            beneficiary,
            out,
            texts,
        } => issue(&app, village, beneficiary, out, texts, output),
        CardsCommand::Reprint { serial, out } => {
            output.emit(&app.reprint_card(&serial, &out).map_err(Failure::from)?)
        }
        CardsCommand::Reissue { serial, out } => {
            let (card, sheet) = app
                .reissue_card(&serial, out.as_deref())
                .map_err(Failure::from)?;
            output.emit(&Reissued { card, sheet })
        }
        CardsCommand::Withdraw { key_id, reason } => output.emit(
            &app.withdraw_issuer(key_id, &reason)
                .map_err(Failure::from)?,
        ),
        CardsCommand::Revoke { serial, reason } => {
            output.emit(&app.revoke_card(&serial, &reason).map_err(Failure::from)?)
        }
        CardsCommand::Sheet { village, out } => {
            output.emit(&app.village_sheet(&village, &out).map_err(Failure::from)?)
        }
        CardsCommand::Verify { payload_or_image } => {
            let verdict = app.verify_card(&payload_or_image).map_err(Failure::from)?;
            output.emit(&verdict)?;
            if verdict.valid {
                Ok(())
            } else {
                Err(Refused.into())
            }
        }
        CardsCommand::Show { beneficiary } => output.emit(&CardList {
            cards: app.cards_of(&beneficiary).map_err(Failure::from)?,
        }),
    }
}

/// `qafila cards issue`, and the texts file when one is asked for.
fn issue(
    app: &App,
    village: Option<String>,
    beneficiary: Option<String>,
    out: Option<PathBuf>,
    texts: Option<PathBuf>,
    output: &Output,
) -> anyhow::Result<()> {
    // Created before any card is issued: a path that cannot be written fails
    // the command while nothing has changed yet, rather than after the new
    // cards exist with their texts nowhere.
    let texts = match texts {
        Some(path) => {
            let file = File::create(&path).with_context(|| cannot_write(&path))?;
            Some((path, file))
        }
        None => None,
    };
    let issued = match app.issue_cards(village.as_deref(), beneficiary.as_deref(), out.as_deref()) {
        Ok(issued) => issued,
        Err(error) => {
            if let Some((path, _)) = &texts {
                // Nothing was issued: leave no empty file that looks like a result.
                let _ = std::fs::remove_file(path);
            }
            return Err(Failure::from(error).into());
        }
    };
    if let Some((path, file)) = texts {
        let numbers: Vec<String> = issued.issued.iter().map(|c| c.number.clone()).collect();
        let lines = app.card_texts(&numbers).map_err(Failure::from)?;
        write_lines(file, &lines).with_context(|| cannot_write(&path))?;
    }
    output.emit(&issued)
}

fn cannot_write(path: &Path) -> String {
    format!("cannot write the card texts to {}", path.display())
}

/// One line each, flushed to the disk before the command reports success.
fn write_lines(file: File, lines: &[String]) -> io::Result<()> {
    let mut out = io::BufWriter::new(file);
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()
}

/// `qafila scan`: one scan, or one per line of standard input.
pub fn scan(dir: &Path, args: ScanArgs, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    match &args.payload_or_image {
        Some(input) => {
            let result = app.scan(input, &args.site).map_err(Failure::from)?;
            output.emit(&result)?;
            if result.check_in.is_some() {
                Ok(())
            } else {
                Err(Refused.into())
            }
        }
        None => scan_lines(&app, &args.site, output),
    }
}

fn scan_lines(app: &App, site: &str, output: &Output) -> anyhow::Result<()> {
    let stdin = io::stdin();
    let prompt = stdin.is_terminal() && !output.is_json();
    if prompt {
        eprintln!("Scan cards (Ctrl-D to stop) / امسح الكروت");
    }
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        // One bad scan must not end the queue: report it and go on.
        match app.scan(&line, site) {
            Ok(result) => output.emit(&result)?,
            Err(error) => crate::failure::report(&Failure::from(error).into(), output),
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Issuers {
    issuers: Vec<IssuerDto>,
}

#[derive(Serialize)]
struct CardList {
    cards: Vec<CardDto>,
}

#[derive(Serialize)]
struct Reissued {
    card: CardDto,
    sheet: Option<SheetDto>,
}

impl Report for IssuerDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "Issuing key {:05} — {}", self.key_id, self.association)?;
        writeln!(out, "  public  {}", self.public)?;
        if self.own {
            writeln!(
                out,
                "  this device holds its secret: it can issue and print cards"
            )?;
        }
        if self.withdrawn {
            writeln!(
                out,
                "  WITHDRAWN by the convoy lead: its cards are refused / مسحوب"
            )?;
        }
        Ok(())
    }
}

impl Report for Issuers {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.issuers.is_empty() {
            writeln!(out, "No issuing keys yet / مفيش مفاتيح إصدار لسه")?;
        }
        for issuer in &self.issuers {
            issuer.write_text(out)?;
        }
        Ok(())
    }
}

fn write_card(out: &mut dyn Write, card: &CardDto) -> io::Result<()> {
    let name = card.beneficiary.name.as_deref().unwrap_or("?");
    writeln!(
        out,
        "  {}  {:<8} {name} — {}",
        card.number, card.status, card.beneficiary.village
    )?;
    if let Some(reason) = &card.revoked_reason {
        writeln!(out, "      revoked: {reason}")?;
    }
    if let Some(by) = &card.replaced_by {
        writeln!(out, "      replaced by {by}")?;
    }
    Ok(())
}

fn write_sheet(out: &mut dyn Write, sheet: &SheetDto) -> io::Result<()> {
    writeln!(
        out,
        "Sheet: {} ({}, {} cards on {} pages) / ورق الكروت جاهز للطباعة",
        sheet.out, sheet.format, sheet.cards, sheet.pages
    )
}

impl Report for CardDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        write_card(out, self)
    }
}

impl Report for CardList {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.cards.is_empty() {
            writeln!(out, "No cards / مفيش كروت")?;
        }
        for card in &self.cards {
            write_card(out, card)?;
        }
        Ok(())
    }
}

impl Report for Reissued {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "New card / كارت جديد")?;
        write_card(out, &self.card)?;
        if let Some(sheet) = &self.sheet {
            write_sheet(out, sheet)?;
        }
        Ok(())
    }
}

impl Report for SheetDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        write_sheet(out, self)
    }
}

impl Report for IssuedDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "Issued {} cards, skipped {} / اتصدر {} كارت",
            self.issued.len(),
            self.skipped.len(),
            self.issued.len()
        )?;
        for card in &self.issued {
            write_card(out, card)?;
        }
        for skipped in &self.skipped {
            writeln!(
                out,
                "  skipped {}: {}",
                skipped.beneficiary.name.as_deref().unwrap_or("?"),
                skipped.message
            )?;
        }
        if let Some(sheet) = &self.sheet {
            write_sheet(out, sheet)?;
        }
        Ok(())
    }
}

impl Report for VerifyDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.valid {
            writeln!(
                out,
                "VALID card {} / الكارت سليم",
                self.number.as_deref().unwrap_or("?")
            )?;
            writeln!(
                out,
                "  beneficiary  {}",
                self.beneficiary.as_deref().unwrap_or("?")
            )?;
            if let Some(association) = &self.association {
                writeln!(out, "  issued by    {association}")?;
            }
            if let Some(warning) = &self.warning_message {
                writeln!(out, "  WARNING: {warning}")?;
            }
        } else {
            writeln!(out, "REFUSED [{}]", self.reason.unwrap_or("malformed"))?;
            writeln!(out, "  {}", self.message.as_deref().unwrap_or(""))?;
            writeln!(out, "  {}", self.message_ar.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }
}

impl Report for ScanDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "[{}] {}", self.status, self.message_ar)?;
        writeln!(out, "  {}", self.message)?;
        if let Some(check_in) = &self.check_in {
            let who = &check_in.entitlement.beneficiary;
            writeln!(
                out,
                "  {} — {} — household of {}",
                who.name.as_deref().unwrap_or("?"),
                who.village,
                who.household_size
            )?;
            if let Some(number) = &self.card.number {
                writeln!(out, "  card {number}")?;
            }
            for item in &check_in.entitlement.items {
                writeln!(
                    out,
                    "  {:<10} {:>6} left of {:>6}  ({})",
                    item.item, item.remaining, item.allowed, item.item_ar
                )?;
            }
        }
        Ok(())
    }
}
