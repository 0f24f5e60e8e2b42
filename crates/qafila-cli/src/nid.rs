//! `qafila nid ...`: Egyptian national IDs at the registrar's desk.
//!
//! `qafila nid check <NUMBER>` decodes a number the way Qafila will store it
//! and says exactly what is wrong when it cannot, before a list is imported.

use std::io::{self, Write};

use chrono::NaiveDate;
use clap::Subcommand;
use qafila_domain::nid::NationalId;
use serde::Serialize;

use crate::failure::Failure;
use crate::output::{Output, Report};

#[derive(Debug, Subcommand)]
pub enum NidCommand {
    /// Decode a national ID: birth date, sex, governorate and serial.
    ///
    /// Western, Eastern Arabic (٠١٢…) and Persian digits are accepted;
    /// spaces, dashes and invisible direction marks are ignored, so a number
    /// pasted from an Arabic document works as is. The check digit is shown
    /// but not verified: its algorithm is not public.
    Check {
        /// The 14-digit national ID. Quote it, or type its groups as
        /// separate words: `qafila nid check 2 900115 01 0123 5`.
        #[arg(value_name = "NUMBER", required = true)]
        number: Vec<String>,
    },
}

pub fn run(command: NidCommand, output: &Output) -> anyhow::Result<()> {
    match command {
        NidCommand::Check { number } => {
            // The one place the clock is read: the domain takes today as an
            // argument so its rules stay deterministic.
            let today = chrono::Local::now().date_naive();
            check(&number.join(" "), today, output)
        }
    }
}

fn check(number: &str, today: NaiveDate, output: &Output) -> anyhow::Result<()> {
    let nid = NationalId::parse(number, today).map_err(Failure::from)?;
    output.emit(&NidReport::new(&nid))
}

/// What `nid check` prints. The JSON field names are a contract for scripts.
#[derive(Debug, Serialize)]
struct NidReport<'a> {
    national_id: &'a str,
    birth_date: String,
    sex: &'static str,
    sex_ar: &'static str,
    /// Two digits as in the number ("01"), not an integer: codes are labels.
    governorate_code: String,
    governorate_en: &'static str,
    governorate_ar: &'static str,
    serial: &'a str,
    /// Always "unverified" until the algorithm is public.
    check_digit: &'static str,
    check_digit_value: u8,
}

impl<'a> NidReport<'a> {
    fn new(nid: &'a NationalId) -> Self {
        let governorate = nid.governorate();
        Self {
            national_id: nid.as_str(),
            birth_date: nid.birth_date().format("%Y-%m-%d").to_string(),
            sex: nid.sex().as_str(),
            sex_ar: nid.sex().name_ar(),
            governorate_code: format!("{:02}", governorate.code()),
            governorate_en: governorate.name_en(),
            governorate_ar: governorate.name_ar(),
            serial: nid.serial(),
            check_digit: "unverified",
            check_digit_value: nid.check_digit().digit(),
        }
    }
}

impl Report for NidReport<'_> {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        // English label, value, then the Arabic label last on the line:
        // Arabic placed before digits would make bidi terminals reorder them.
        let rows = [
            ("National ID", self.national_id.to_owned(), "الرقم القومي"),
            ("Birth date", self.birth_date.clone(), "تاريخ الميلاد"),
            ("Sex", format!("{} / {}", self.sex, self.sex_ar), "النوع"),
            (
                "Governorate",
                format!(
                    "{} {} / {}",
                    self.governorate_code, self.governorate_en, self.governorate_ar
                ),
                "المحافظة",
            ),
            ("Serial", self.serial.to_owned(), "المسلسل"),
            (
                "Check digit",
                format!(
                    "{} unverified (algorithm not public)",
                    self.check_digit_value
                ),
                "رقم التحقق",
            ),
        ];
        for (english, value, arabic) in rows {
            // Pad by characters, not bytes, so Arabic values line up too.
            let padding = 38usize.saturating_sub(value.chars().count());
            writeln!(out, "{english:<12} {value}{:padding$} {arabic}", "")?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "Note: the check digit is not verified (its algorithm is not public); compare the last digit with the card."
        )?;
        writeln!(
            out,
            "ملاحظة: رقم التحقق (آخر رقم) لم يتم التحقق منه لأن طريقة حسابه غير منشورة؛ قارن آخر رقم بالبطاقة."
        )
    }
}
