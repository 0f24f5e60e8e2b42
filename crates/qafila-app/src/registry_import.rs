//! Registering a whole beneficiary list: read and check every row
//! ([`crate::import`]), then register the good ones, with a row-by-row report
//! of what was refused and why. A dry run checks everything, registry
//! duplicates included, and registers nobody.

use std::collections::HashMap;
use std::path::Path;

use qafila_domain::ids::HouseholdId;
use qafila_store::registry::Registration;
use serde::Serialize;
use ts_rs::TS;

use crate::import::{ImportFile, read_file};
use crate::{App, AppError};

/// One problem of one row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct RowProblemDto {
    /// Stable code.
    pub code: &'static str,
    /// English.
    pub message: String,
    /// Arabic.
    pub message_ar: String,
}

/// A refused row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct RefusedRowDto {
    /// Row number as in the spreadsheet.
    pub line: usize,
    /// The name cell, to find the row.
    pub name: String,
    /// Every reason.
    pub reasons: Vec<RowProblemDto>,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct ImportReportDto {
    /// The file.
    pub file: String,
    /// csv or xlsx.
    pub format: &'static str,
    /// Text encoding read.
    pub encoding: &'static str,
    /// Worksheet read.
    pub sheet: Option<String>,
    /// Whether nothing was registered on purpose.
    pub dry_run: bool,
    /// Data rows read.
    pub rows: usize,
    /// Rows registered (or that would be).
    pub registered: usize,
    /// Rows refused, with reasons.
    pub refused: Vec<RefusedRowDto>,
    /// Headers that matched no field.
    pub ignored_columns: Vec<String>,
    /// Other worksheets with content that were not read (one sheet is
    /// imported at a time).
    pub other_sheets: Vec<String>,
    /// After a real import: pairs in the duplicate queue (likely the same
    /// person twice), for the registrar to work through. Not computed in a
    /// dry run.
    pub likely_duplicates: Option<usize>,
}

/// Rows registered per transaction: one disk flush per batch instead of per
/// row, and a batch is all or nothing.
const IMPORT_BATCH: usize = 500;

fn new_household(now_ms: u64) -> Result<HouseholdId, AppError> {
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).map_err(|e| {
        AppError::new(
            "random_unavailable",
            format!("the system random source failed: {e}"),
            "مصدر الأرقام العشوائية في النظام مش شغال",
        )
    })?;
    Ok(HouseholdId::from_parts(now_ms, random))
}

fn problem(code: &'static str, message: String, message_ar: String) -> RowProblemDto {
    RowProblemDto {
        code,
        message,
        message_ar,
    }
}

impl App {
    /// Imports a CSV or XLSX beneficiary list. `progress` is called with
    /// (rows done, rows total) as registration goes.
    pub fn import_beneficiaries(
        &self,
        path: &Path,
        dry_run: bool,
        progress: impl FnMut(usize, usize),
    ) -> Result<ImportReportDto, AppError> {
        let (_, today) = self.now();
        let file: ImportFile = read_file(path, today)
            .map_err(|e| AppError::new(e.code(), e.message_en(), e.message_ar()))?;
        let mut report = self.import_read(file, dry_run, progress)?;
        report.file = path.display().to_string();
        Ok(report)
    }

    /// Imports a list already in memory (the app's picked file): nothing
    /// of it is written anywhere but into the encrypted store.
    pub fn import_beneficiary_bytes(
        &self,
        bytes: &[u8],
        format: crate::import::Format,
        dry_run: bool,
        progress: impl FnMut(usize, usize),
    ) -> Result<ImportReportDto, AppError> {
        let (_, today) = self.now();
        let file = crate::import::read_bytes(bytes, format, today)
            .map_err(|e| AppError::new(e.code(), e.message_en(), e.message_ar()))?;
        self.import_read(file, dry_run, progress)
    }

    fn import_read(
        &self,
        file: ImportFile,
        dry_run: bool,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ImportReportDto, AppError> {
        let mut refused: Vec<RefusedRowDto> = file
            .refused
            .iter()
            .map(|r| RefusedRowDto {
                line: r.line,
                name: r.name.clone(),
                reasons: r
                    .reasons
                    .iter()
                    .map(|p| problem(p.code(), p.message_en(), p.message_ar()))
                    .collect(),
            })
            .collect();
        let total = file.rows.len();
        let mut registered = 0;
        // Rows sharing a household reference become one household.
        let mut households: HashMap<String, HouseholdId> = HashMap::new();
        let mut done = 0;
        for chunk in file.rows.chunks(IMPORT_BATCH) {
            let mut batch = Vec::with_capacity(chunk.len());
            for row in chunk {
                let already = match &row.national_id {
                    Some(nid) => self.store.find_by_national_id(nid)?,
                    None => self.store.find_same_name(&row.name, &row.village)?,
                };
                if let Some(existing) = already {
                    let name = existing.name.unwrap_or_default();
                    refused.push(RefusedRowDto {
                        line: row.line,
                        name: row.name.clone(),
                        reasons: vec![problem(
                            "already_registered",
                            format!("already registered as {name} ({})", existing.id),
                            format!("متسجّل قبل كده باسم {name}"),
                        )],
                    });
                    continue;
                }
                let household = match &row.household_ref {
                    Some(r) => Some(match households.get(r) {
                        Some(h) => *h,
                        None => {
                            let h = new_household(self.now().0)?;
                            households.insert(r.clone(), h);
                            h
                        }
                    }),
                    None => None,
                };
                batch.push(Registration {
                    name: row.name.clone(),
                    national_id: row.national_id.clone(),
                    phone: row.phone.clone(),
                    household,
                    household_size: row.household_size,
                    village: row.village.clone(),
                });
            }
            registered += batch.len();
            if !dry_run && !batch.is_empty() {
                let (now, _) = self.now();
                self.store.register_many(batch, self.volunteer, now)?;
            }
            done += chunk.len();
            progress(done, total);
        }
        refused.sort_by_key(|r| r.line);
        let likely_duplicates = if dry_run {
            None
        } else {
            Some(self.duplicates()?.len())
        };
        Ok(ImportReportDto {
            likely_duplicates,
            // The caller names it (a path, or the picked file's name).
            file: String::new(),
            format: file.format.as_str(),
            encoding: file.encoding,
            sheet: file.sheet.clone(),
            dry_run,
            rows: total + file.refused.len(),
            registered,
            refused,
            ignored_columns: file
                .columns
                .ignored
                .iter()
                .map(|c| c.header.clone())
                .collect(),
            other_sheets: file.other_sheets,
        })
    }
}
