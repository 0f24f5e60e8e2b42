//! `qafila beneficiary ...`: the registrar's registry commands.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use qafila_app::dto::{BeneficiaryDto, RegisteredDto};
use qafila_app::duplicates::{DuplicateDto, MergedDto};
use qafila_app::registry::NewBeneficiary;
use serde::Serialize;

use crate::device::open;
use crate::failure::Failure;
use crate::output::{Output, Report};

#[derive(Debug, Subcommand)]
pub enum BeneficiaryCommand {
    /// Register one person; prints their beneficiary and household ids.
    Add {
        /// Full name, as on the ID card.
        #[arg(long)]
        name: String,
        /// People in the household, the person included.
        #[arg(long)]
        household_size: u32,
        /// Village.
        #[arg(long)]
        village: String,
        /// National ID (Western or Eastern Arabic digits).
        #[arg(long)]
        nid: Option<String>,
        /// Phone number.
        #[arg(long)]
        phone: Option<String>,
        /// Join an existing household (its id) instead of starting one.
        #[arg(long)]
        household: Option<String>,
    },
    /// Import a beneficiary list (CSV or XLSX, Arabic or English headers).
    Import {
        /// The file.
        file: PathBuf,
        /// Check every row and report, without registering anyone.
        #[arg(long)]
        dry_run: bool,
    },
    /// Find people by name (any spelling) or national ID, best match first.
    Search {
        /// Name, part of a name, or national ID.
        #[arg(required = true)]
        query: Vec<String>,
        /// At most this many results.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Show one person by id or national ID.
    Show {
        /// Beneficiary id or national ID.
        beneficiary: String,
    },
    /// The duplicate queue: entries that are likely one person (same national
    /// ID, or a similar name in the same village and household size).
    Duplicates,
    /// Merge a duplicate into the entry to keep (nothing merges by itself).
    Merge {
        /// The entry to keep (id or national ID).
        kept: String,
        /// The duplicate to retire into it (id).
        merged: String,
        /// Why they are one person.
        #[arg(long, default_value = "duplicate registration")]
        reason: String,
    },
    /// Take a pair off the duplicate queue: they are two different people.
    Dismiss {
        /// One entry's id.
        a: String,
        /// The other's id.
        b: String,
    },
    /// Erase a person's personal data for good (their hand-outs keep counting).
    Erase {
        /// Beneficiary id or national ID.
        beneficiary: String,
        /// Why (e.g. their request).
        #[arg(long)]
        reason: String,
    },
}

pub fn run(dir: &Path, command: BeneficiaryCommand, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    match command {
        BeneficiaryCommand::Add {
            name,
            household_size,
            village,
            nid,
            phone,
            household,
        } => {
            let added = app
                .add_beneficiary(NewBeneficiary {
                    name,
                    household_size,
                    village,
                    national_id: nid,
                    phone,
                    household,
                })
                .map_err(Failure::from)?;
            output.emit(&added)
        }
        BeneficiaryCommand::Import { file, dry_run } => {
            crate::beneficiary_import::run(&app, &file, dry_run, output)
        }
        BeneficiaryCommand::Search { query, limit } => {
            let results = app.search(&query.join(" "), limit).map_err(Failure::from)?;
            output.emit(&SearchResults { results })
        }
        BeneficiaryCommand::Show { beneficiary } => {
            output.emit(&app.beneficiary(&beneficiary).map_err(Failure::from)?)
        }
        BeneficiaryCommand::Duplicates => output.emit(&Duplicates {
            pairs: app.duplicates().map_err(Failure::from)?,
        }),
        BeneficiaryCommand::Merge {
            kept,
            merged,
            reason,
        } => output.emit(
            &app.merge_beneficiaries(&kept, &merged, &reason)
                .map_err(Failure::from)?,
        ),
        BeneficiaryCommand::Dismiss { a, b } => {
            app.dismiss_duplicate(&a, &b).map_err(Failure::from)?;
            output.emit(&Dismissed { a, b })
        }
        BeneficiaryCommand::Erase {
            beneficiary,
            reason,
        } => output.emit(
            &app.erase_beneficiary(&beneficiary, &reason)
                .map_err(Failure::from)?,
        ),
    }
}

impl Report for RegisteredDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "Registered / تم التسجيل")?;
        writeln!(out, "  beneficiary  {}", self.beneficiary)?;
        writeln!(out, "  household    {}", self.household)?;
        if !self.likely_duplicates.is_empty() {
            writeln!(
                out,
                "Likely the same person as / غالباً نفس الشخص ده (qafila beneficiary duplicates):"
            )?;
            for other in &self.likely_duplicates {
                write_person(out, other)?;
            }
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct Duplicates {
    pairs: Vec<DuplicateDto>,
}

impl Report for Duplicates {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.pairs.is_empty() {
            return writeln!(out, "No likely duplicates / مفيش تكرار محتمل");
        }
        writeln!(
            out,
            "{} likely duplicates; merge with `qafila beneficiary merge KEPT MERGED`, or dismiss",
            self.pairs.len()
        )?;
        for (i, pair) in self.pairs.iter().enumerate() {
            writeln!(out, "{}. [{}] {:.2}", i + 1, pair.reason, pair.score)?;
            write_person(out, &pair.a)?;
            write_person(out, &pair.b)?;
        }
        Ok(())
    }
}

impl Report for MergedDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "Merged / اتدمجوا")?;
        writeln!(out, "  kept    {}", self.kept)?;
        writeln!(out, "  merged  {}", self.merged)
    }
}

#[derive(Serialize)]
struct Dismissed {
    a: String,
    b: String,
}

impl Report for Dismissed {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "Not the same person; off the queue / مش نفس الشخص")
    }
}

fn write_person(out: &mut dyn Write, b: &BeneficiaryDto) -> io::Result<()> {
    let name = b.name.as_deref().unwrap_or("(erased / ممسوح)");
    writeln!(
        out,
        "{name} — {} — household of {}",
        b.village, b.household_size
    )?;
    writeln!(out, "  beneficiary  {}", b.id)?;
    writeln!(out, "  household    {}", b.household)?;
    if let Some(last4) = &b.national_id_last4 {
        writeln!(out, "  national ID  …{last4}")?;
    }
    if let Some(phone) = &b.phone {
        writeln!(out, "  phone        {phone}")?;
    }
    Ok(())
}

impl Report for BeneficiaryDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        write_person(out, self)
    }
}

#[derive(Debug, Serialize)]
struct SearchResults {
    results: Vec<BeneficiaryDto>,
}

impl Report for SearchResults {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.results.is_empty() {
            return writeln!(out, "No match / لا توجد نتائج");
        }
        for b in &self.results {
            write_person(out, b)?;
        }
        Ok(())
    }
}
