//! Reading beneficiary lists: the first half of `qafila beneficiary import FILE`.
//!
//! Registrars keep their lists in Excel, typed by many hands: Arabic or
//! English headers, a title row above them, national IDs stored as numbers,
//! Eastern Arabic digits, phone numbers that lost their leading zero, and
//! "CSV" files saved by Arabic Excel in Windows-1256. This module turns such
//! a file into rows the store can register and rows it must refuse, with
//! every reason for each; it never touches the store. Registering the
//! accepted rows is the other half of the import.
//!
//! Key items:
//! - [`read_file`] and [`read_bytes`]: the entry points. They give an
//!   [`ImportFile`], or an [`ImportError`] when the file as a whole cannot
//!   be imported (unreadable, no name column, too many rows, ...).
//! - [`Format`]: CSV (UTF-8, UTF-16 or Windows-1256; `,`, `;` or tab),
//!   XLSX, and through calamine XLS and ODS.
//! - [`Field`] and [`Columns`]: which header, Arabic or English, was taken for
//!   which field, and which columns were ignored, for the import report.
//! - [`ImportRow`], [`RefusedRow`] and [`RowProblem`]: one accepted or
//!   refused data row; a refused row lists all its problems, not just the
//!   first.
//!
//! Every problem and error has a stable `code()` for the UI and scripts, and
//! `message_en()` / `message_ar()` that tell the registrar what to fix.
//! [`ImportError`] never echoes cell contents, and the `Debug` output of rows
//! and problems hides names and phone numbers ([`NationalId`] masks itself),
//! so none of them leak personal data into logs.
//!
//! Limits: files over [`MAX_FILE_BYTES`] are refused before they are read
//! whole, and files with more than [`MAX_ROWS`] data rows are refused after
//! counting. Only the first [`MAX_COLUMNS`] columns are read.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::fs::File;
use std::io::{Cursor, Read};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::OnceLock;

use calamine::{
    Data, DataRef, Ods, OdsError, Range, Reader, SheetType, Xls, XlsError, Xlsx, XlsxCellReader,
    XlsxError,
};
use chrono::NaiveDate;
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, WINDOWS_1256};
use qafila_domain::event::MAX_HOUSEHOLD_SIZE;
use qafila_domain::names::NameKey;
use qafila_domain::nid::{NationalId, NidError};

/// Most data rows one import takes; split bigger lists (e.g. by village).
pub const MAX_ROWS: usize = 100_000;

/// Largest file one import reads, in bytes (50 MiB). A list of
/// [`MAX_ROWS`] people is a few megabytes in any format.
pub const MAX_FILE_BYTES: u64 = 50 * 1024 * 1024;

/// How many non-blank rows at the top of a sheet are searched for the
/// header row, since registrars often put a title or a date above it.
pub const HEADER_SEARCH_ROWS: usize = 10;

/// Columns after this many are not read; no beneficiary list is this wide,
/// and the cap keeps a sheet with one stray far-away cell cheap.
pub const MAX_COLUMNS: usize = 256;

/// Longest name, in characters, before the cell is taken for a mistake
/// (e.g. a whole paragraph pasted into it).
pub const MAX_NAME_CHARS: usize = 200;

/// Longest village name, in characters.
pub const MAX_VILLAGE_CHARS: usize = 200;

/// Longest household reference, in characters.
pub const MAX_HOUSEHOLD_REF_CHARS: usize = 100;

/// How much of a bad cell a [`RowProblem`] keeps to show the registrar.
const MAX_QUOTED_CHARS: usize = 40;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// The kind of file, decided by its extension ([`Format::from_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Delimited text: `.csv`, and `.tsv`/`.txt` as Excel's "Unicode text".
    Csv,
    /// Excel 2007 and later: `.xlsx`, `.xlsm`.
    Xlsx,
    /// Excel 97–2003: `.xls`.
    Xls,
    /// OpenDocument (LibreOffice): `.ods`.
    Ods,
}

impl Format {
    /// The format for a file extension (without the dot), ignoring case.
    pub fn from_extension(extension: &str) -> Option<Self> {
        match extension.to_ascii_lowercase().as_str() {
            "csv" | "tsv" | "txt" => Some(Format::Csv),
            "xlsx" | "xlsm" => Some(Format::Xlsx),
            "xls" => Some(Format::Xls),
            "ods" => Some(Format::Ods),
            _ => None,
        }
    }

    /// The format of the file at `path`, or [`ImportError::UnknownFormat`].
    pub fn from_path(path: &Path) -> Result<Self, ImportError> {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::from_extension(&extension)
            .ok_or_else(|| ImportError::UnknownFormat(extension.chars().take(16).collect()))
    }

    /// Stable lowercase name: `"csv"`, `"xlsx"`, `"xls"` or `"ods"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Xls => "xls",
            Format::Ods => "ods",
        }
    }
}

/// A field of a beneficiary row that a column can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Full name, as on the ID card. Required.
    Name,
    /// Egyptian national ID. Optional.
    NationalId,
    /// People in the household. Required.
    HouseholdSize,
    /// Village the household lives in. Required.
    Village,
    /// Egyptian mobile number. Optional.
    Phone,
    /// A reference grouping several people into one household. Optional.
    Household,
}

impl Field {
    /// Every field, in the order rows and reports list them.
    pub const ALL: [Field; 6] = [
        Field::Name,
        Field::NationalId,
        Field::HouseholdSize,
        Field::Village,
        Field::Phone,
        Field::Household,
    ];

    /// Stable snake_case code, as listed in [`ImportError::MissingColumns`].
    pub fn code(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::NationalId => "national_id",
            Field::HouseholdSize => "household_size",
            Field::Village => "village",
            Field::Phone => "phone",
            Field::Household => "household",
        }
    }

    /// The field for a [`Field::code`].
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.code() == code)
    }

    /// Whether a file without a column for this field cannot be imported.
    pub fn is_required(self) -> bool {
        matches!(self, Field::Name | Field::HouseholdSize | Field::Village)
    }

    /// English name for messages.
    pub fn name_en(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::NationalId => "national ID",
            Field::HouseholdSize => "household size",
            Field::Village => "village",
            Field::Phone => "phone number",
            Field::Household => "household reference",
        }
    }

    /// Arabic name for messages.
    pub fn name_ar(self) -> &'static str {
        match self {
            Field::Name => "الاسم",
            Field::NationalId => "الرقم القومي",
            Field::HouseholdSize => "عدد أفراد الأسرة",
            Field::Village => "القرية",
            Field::Phone => "رقم الموبايل",
            Field::Household => "رقم الأسرة",
        }
    }

    /// Arabic headers recognised for this field; the first is the one
    /// messages suggest. Matching ignores hamza, ta marbuta, alef maqsura,
    /// diacritics and spacing, so each spelling is listed once.
    pub fn headers_ar(self) -> &'static [&'static str] {
        match self {
            Field::Name => &[
                "الاسم",
                "اسم",
                "اسم المستفيد",
                "المستفيد",
                "الاسم بالكامل",
                "الاسم كامل",
                "الاسم الكامل",
                "الاسم رباعي",
                "الاسم الرباعي",
                "الاسم ثلاثي",
                "الاسم الثلاثي",
                "اسم المستفيد رباعي",
                "اسم رب الأسرة",
                "رب الأسرة",
            ],
            Field::NationalId => &[
                "الرقم القومي",
                "رقم قومي",
                "الرقم القومي للمستفيد",
                "الرقم القومي لرب الأسرة",
                "رقم البطاقة",
                "رقم بطاقة الرقم القومي",
            ],
            Field::HouseholdSize => &[
                "عدد الأفراد",
                "عدد أفراد الأسرة",
                "أفراد الأسرة",
                "حجم الأسرة",
                "عدد أفراد",
            ],
            Field::Village => &["القرية", "اسم القرية", "البلد"],
            Field::Phone => &[
                "رقم الموبايل",
                "الموبايل",
                "موبايل",
                "رقم المحمول",
                "المحمول",
                "الهاتف",
                "هاتف",
                "رقم الهاتف",
                "التليفون",
                "تليفون",
                "رقم التليفون",
                "التلفون",
                "رقم التلفون",
            ],
            Field::Household => &["رقم الأسرة", "كود الأسرة", "الأسرة"],
        }
    }

    /// English headers recognised for this field; the first is the one
    /// messages suggest. Matching ignores case, `_` and `-`.
    pub fn headers_en(self) -> &'static [&'static str] {
        match self {
            Field::Name => &[
                "name",
                "full name",
                "beneficiary",
                "beneficiary name",
                "name of beneficiary",
                "head of household",
            ],
            Field::NationalId => &[
                "national id",
                "nid",
                "national id number",
                "national number",
                "id number",
            ],
            Field::HouseholdSize => &[
                "household size",
                "family size",
                "members",
                "family members",
                "household members",
                "number of members",
                "hh size",
                "size",
            ],
            Field::Village => &["village", "village name"],
            Field::Phone => &[
                "phone",
                "mobile",
                "phone number",
                "mobile number",
                "mobile phone",
                "telephone",
                "tel",
            ],
            Field::Household => &[
                "household",
                "household id",
                "household ref",
                "household code",
                "family id",
                "family code",
            ],
        }
    }
}

/// One column of the sheet, by position and header text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// 0-based position: 0 is column A.
    pub index: usize,
    /// The header as written (whitespace tidied).
    pub header: String,
}

impl Column {
    /// The column's letter as Excel shows it: `A`, …, `Z`, `AA`, ….
    pub fn letter(&self) -> String {
        column_letter(self.index)
    }
}

/// How the header row was understood, for the import report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// Row of the header, 1-based as in Excel.
    pub header_line: usize,
    /// The column taken for each field found, in [`Field::ALL`] order.
    pub matched: Vec<(Field, Column)>,
    /// Columns with a header that were not used: unknown headers, and a
    /// second column for a field already taken (the first one wins).
    pub ignored: Vec<Column>,
}

impl Columns {
    /// The column taken for `field`, if any.
    pub fn get(&self, field: Field) -> Option<&Column> {
        self.matched
            .iter()
            .find(|(matched, _)| *matched == field)
            .map(|(_, column)| column)
    }

    /// Required fields that have no column.
    pub fn missing_required(&self) -> Vec<Field> {
        Field::ALL
            .into_iter()
            .filter(|field| field.is_required() && self.get(*field).is_none())
            .collect()
    }
}

/// What was read from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFile {
    /// The format actually read; a text file saved as `.xls` reads as CSV.
    pub format: Format,
    /// Text encoding: `"UTF-8"`, `"UTF-16LE"`, `"UTF-16BE"` or
    /// `"windows-1256"` for CSV; `"UTF-8"` for workbooks, which are Unicode.
    pub encoding: &'static str,
    /// The CSV delimiter found: `,`, `;` or tab. `None` for workbooks.
    pub delimiter: Option<char>,
    /// The worksheet read, for workbooks.
    pub sheet: Option<String>,
    /// Other worksheets that hold something and were not read: the report
    /// should say so, in case the list continues there.
    pub other_sheets: Vec<String>,
    /// Which header matched which field.
    pub columns: Columns,
    /// Rows that passed every check, in file order.
    pub rows: Vec<ImportRow>,
    /// Rows with at least one problem, in file order.
    pub refused: Vec<RefusedRow>,
}

/// A data row that passed every check.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Row number as the registrar sees it in Excel: the first row is 1.
    pub line: usize,
    /// Name as written, with spaces trimmed and collapsed and invisible
    /// marks removed; spelling is kept (matching uses [`NameKey`]).
    pub name: String,
    /// National ID, when the cell was filled.
    pub national_id: Option<NationalId>,
    /// People in the household, 1..=[`MAX_HOUSEHOLD_SIZE`].
    pub household_size: u32,
    /// Village as written, spaces tidied.
    pub village: String,
    /// Mobile number as 11 ASCII digits `01XXXXXXXXX`, when filled.
    pub phone: Option<String>,
    /// Household reference as written, when the file has that column and
    /// the cell is filled; rows with the same reference are one household.
    pub household_ref: Option<String>,
}

impl fmt::Debug for ImportRow {
    /// Hides the name and the phone: a `{:?}` in a log must not list people.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportRow")
            .field("line", &self.line)
            .field("name", &Redacted)
            .field("national_id", &self.national_id)
            .field("household_size", &self.household_size)
            .field("village", &self.village)
            .field("phone", &self.phone.as_ref().map(|_| Redacted))
            .field("household_ref", &self.household_ref)
            .finish()
    }
}

/// A data row that cannot be registered, with every reason.
#[derive(Clone, PartialEq, Eq)]
pub struct RefusedRow {
    /// Row number as the registrar sees it in Excel: the first row is 1.
    pub line: usize,
    /// The name cell, tidied like [`ImportRow::name`] (maybe empty), so the
    /// report can say whose row it is.
    pub name: String,
    /// All problems of the row, in column order; never empty.
    pub reasons: Vec<RowProblem>,
}

impl fmt::Debug for RefusedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefusedRow")
            .field("line", &self.line)
            .field("name", &Redacted)
            .field("reasons", &self.reasons)
            .finish()
    }
}

/// Why a data row was refused.
#[derive(Clone, PartialEq, Eq)]
pub enum RowProblem {
    /// The name cell is empty (or holds no letters, or an Excel error such
    /// as `#N/A`).
    MissingName,
    /// The national ID cell is filled but not a valid national ID.
    BadNationalId(NidError),
    /// The national ID was saved in scientific notation (`2.90012E+13`)
    /// and has lost its last digits.
    NationalIdRounded,
    /// The household size cell is empty.
    MissingHouseholdSize,
    /// The household size is not a whole number in 1..=60; holds the cell
    /// as written (shortened).
    BadHouseholdSize(String),
    /// The village cell is empty.
    MissingVillage,
    /// The phone is not an Egyptian mobile number; holds the cell as
    /// written (shortened). `Debug` hides it.
    BadPhone(String),
    /// A text cell is implausibly long.
    TooLong {
        /// Which field.
        field: Field,
        /// The limit, in characters.
        limit: usize,
    },
    /// The same national ID is on an earlier row of the file.
    DuplicateInFile {
        /// The earlier row, 1-based as in Excel.
        first_line: usize,
    },
}

impl RowProblem {
    /// Stable snake_case code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            RowProblem::MissingName => "missing_name",
            RowProblem::BadNationalId(_) => "bad_national_id",
            RowProblem::NationalIdRounded => "national_id_rounded",
            RowProblem::MissingHouseholdSize => "missing_household_size",
            RowProblem::BadHouseholdSize(_) => "bad_household_size",
            RowProblem::MissingVillage => "missing_village",
            RowProblem::BadPhone(_) => "bad_phone",
            RowProblem::TooLong { .. } => "too_long",
            RowProblem::DuplicateInFile { .. } => "duplicate_in_file",
        }
    }

    /// What is wrong and what to do, in English.
    pub fn message_en(&self) -> String {
        match self {
            RowProblem::MissingName => {
                "The name is empty. Type the person's full name as on the ID card.".to_owned()
            }
            RowProblem::BadNationalId(error) => error.to_string(),
            RowProblem::NationalIdRounded => "The national ID was saved by Excel as a rounded number (like 2.90012E+13) and has lost its last digits. In Excel, format the column as Text, type the numbers again, and save the file as .xlsx.".to_owned(),
            RowProblem::MissingHouseholdSize => format!(
                "The household size is empty. Enter how many people live in the household, from 1 to {MAX_HOUSEHOLD_SIZE}."
            ),
            RowProblem::BadHouseholdSize(text) => format!(
                "The household size «{text}» is not a whole number from 1 to {MAX_HOUSEHOLD_SIZE}. Enter the number of people in digits."
            ),
            RowProblem::MissingVillage => {
                "The village is empty. Enter the village where the household lives.".to_owned()
            }
            RowProblem::BadPhone(_) => "The phone is not an Egyptian mobile number. Enter 11 digits starting with 010, 011, 012 or 015, or leave the cell empty.".to_owned(),
            RowProblem::TooLong { field, limit } => format!(
                "The {} is longer than {limit} characters. Check that the cell holds only the {}.",
                field.name_en(),
                field.name_en()
            ),
            RowProblem::DuplicateInFile { first_line } => format!(
                "The same national ID is already on row {first_line} of this file, and a person is registered only once. Keep the right row and correct or delete the other."
            ),
        }
    }

    /// What is wrong and what to do, in Arabic.
    pub fn message_ar(&self) -> String {
        match self {
            RowProblem::MissingName => {
                "الاسم فارغ. اكتب اسم المستفيد كاملًا كما في البطاقة.".to_owned()
            }
            RowProblem::BadNationalId(error) => error.message_ar(),
            RowProblem::NationalIdRounded => "الرقم القومي محفوظ في إكسل كرقم مقرَّب (مثل 2.90012E+13) فضاعت آخر أرقامه. في إكسل اجعل تنسيق العمود «نص»، واكتب الأرقام من جديد، واحفظ الملف بصيغة xlsx.".to_owned(),
            RowProblem::MissingHouseholdSize => format!(
                "عدد أفراد الأسرة فارغ. اكتب عدد من يعيشون في الأسرة، من 1 إلى {MAX_HOUSEHOLD_SIZE}."
            ),
            RowProblem::BadHouseholdSize(text) => format!(
                "عدد أفراد الأسرة «{text}» ليس رقمًا صحيحًا من 1 إلى {MAX_HOUSEHOLD_SIZE}. اكتب عدد الأفراد بالأرقام."
            ),
            RowProblem::MissingVillage => {
                "القرية فارغة. اكتب القرية التي تسكن فيها الأسرة.".to_owned()
            }
            RowProblem::BadPhone(_) => "رقم الموبايل ليس رقم موبايل مصريًا. اكتب 11 رقمًا تبدأ بـ 010 أو 011 أو 012 أو 015، أو اترك الخانة فارغة.".to_owned(),
            RowProblem::TooLong { field, limit } => format!(
                "خانة «{}» أطول من {limit} حرفًا. تأكد أن الخانة فيها {} فقط.",
                field.name_ar(),
                field.name_ar()
            ),
            RowProblem::DuplicateInFile { first_line } => format!(
                "الرقم القومي نفسه موجود في الصف {first_line} من هذا الملف، ولا يُسجَّل الشخص إلا مرة واحدة. أبقِ الصف الصحيح وصحّح الآخر أو احذفه."
            ),
        }
    }
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message_en())
    }
}

impl fmt::Debug for RowProblem {
    /// Like a derived `Debug`, but hides the phone number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowProblem::MissingName => f.write_str("MissingName"),
            RowProblem::BadNationalId(error) => {
                f.debug_tuple("BadNationalId").field(error).finish()
            }
            RowProblem::NationalIdRounded => f.write_str("NationalIdRounded"),
            RowProblem::MissingHouseholdSize => f.write_str("MissingHouseholdSize"),
            RowProblem::BadHouseholdSize(text) => {
                f.debug_tuple("BadHouseholdSize").field(text).finish()
            }
            RowProblem::MissingVillage => f.write_str("MissingVillage"),
            RowProblem::BadPhone(_) => f.debug_tuple("BadPhone").field(&Redacted).finish(),
            RowProblem::TooLong { field, limit } => f
                .debug_struct("TooLong")
                .field("field", field)
                .field("limit", limit)
                .finish(),
            RowProblem::DuplicateInFile { first_line } => f
                .debug_struct("DuplicateInFile")
                .field("first_line", first_line)
                .finish(),
        }
    }
}

/// Why a file cannot be imported at all.
///
/// No variant holds cell contents, so these errors are safe to log.
#[derive(Debug)]
pub enum ImportError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// The extension is not one [`Format::from_extension`] knows; holds the
    /// extension without the dot (maybe empty).
    UnknownFormat(String),
    /// The file is bigger than [`MAX_FILE_BYTES`].
    FileTooLarge {
        /// Size of the file.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The CSV text could not be split into cells; holds a short technical
    /// description, never cell text.
    Csv(String),
    /// The workbook (`.xlsx`, `.xls` or `.ods`) is damaged or not really a
    /// workbook; holds a short technical description, never cell text.
    Xlsx(String),
    /// The workbook is protected with a password.
    Protected,
    /// The workbook has no worksheet.
    NoSheet,
    /// No sheet has a header row with all required columns; lists the
    /// [`Field::code`]s of those missing, e.g. `["name", "village"]`.
    MissingColumns(Vec<&'static str>),
    /// The file has no data rows.
    Empty,
    /// The file has more than [`MAX_ROWS`] data rows.
    TooLarge {
        /// Data rows in the file.
        rows: usize,
        /// The limit.
        limit: usize,
    },
}

impl ImportError {
    /// Stable snake_case code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::Io(_) => "import_io",
            ImportError::UnknownFormat(_) => "import_unknown_format",
            ImportError::FileTooLarge { .. } => "import_file_too_large",
            ImportError::Csv(_) => "import_csv",
            ImportError::Xlsx(_) => "import_xlsx",
            ImportError::Protected => "import_protected",
            ImportError::NoSheet => "import_no_sheet",
            ImportError::MissingColumns(_) => "import_missing_columns",
            ImportError::Empty => "import_empty",
            ImportError::TooLarge { .. } => "import_too_large",
        }
    }

    /// What is wrong and what to do, in English.
    pub fn message_en(&self) -> String {
        match self {
            ImportError::Io(error) => format!(
                "The file could not be read ({error}). Check that it still exists, that you may open it and that it is not open in another program, then try again."
            ),
            ImportError::UnknownFormat(extension) if extension.is_empty() => "The file name has no extension, so Qafila cannot tell what kind of file it is. Open the list in Excel, save it as .xlsx, and import that file.".to_owned(),
            ImportError::UnknownFormat(extension) => format!(
                "Qafila cannot read .{extension} files. Open the list in Excel, save it as .xlsx (or .csv), and import that file."
            ),
            ImportError::FileTooLarge { bytes, limit } => format!(
                "The file is {} MB; one import reads at most {} MB. Split the list into several files (for example one per village) and import them one by one.",
                megabytes(*bytes),
                megabytes(*limit)
            ),
            ImportError::Csv(detail) => format!(
                "The CSV file could not be read ({detail}). Open it in Excel, save it as .xlsx, and import that file."
            ),
            ImportError::Xlsx(detail) => format!(
                "The spreadsheet could not be read: {detail}. Open it in Excel to check that it is not damaged, save it again as .xlsx, and import the new file."
            ),
            ImportError::Protected => "The workbook is protected with a password. Open it in Excel, remove the password (File › Info › Protect Workbook), save it, and import it again.".to_owned(),
            ImportError::NoSheet => "The workbook has no worksheet. Put the list on a worksheet, save, and import again.".to_owned(),
            ImportError::MissingColumns(codes) => {
                let wanted: Vec<String> = codes
                    .iter()
                    .map(|code| match Field::from_code(code) {
                        Some(field) => format!(
                            "the {} (add a header named «{}» or «{}»)",
                            field.name_en(),
                            field.headers_ar().first().copied().unwrap_or_default(),
                            field.headers_en().first().copied().unwrap_or_default()
                        ),
                        None => (*code).to_owned(),
                    })
                    .collect();
                format!(
                    "The file has no column for {}. Headers are looked for in the first {HEADER_SEARCH_ROWS} rows of each sheet.",
                    wanted.join("; ")
                )
            }
            ImportError::Empty => "The file has no rows of people under the header row. Check that you chose the right file and that the list is on a worksheet of it.".to_owned(),
            ImportError::TooLarge { rows, limit } => format!(
                "The file has {rows} rows of people; one import takes at most {limit}. Split the list into several files (for example one per village) and import them one by one."
            ),
        }
    }

    /// What is wrong and what to do, in Arabic.
    pub fn message_ar(&self) -> String {
        match self {
            ImportError::Io(error) => format!(
                "تعذّرت قراءة الملف ({error}). تأكد أن الملف ما زال موجودًا وأن لديك صلاحية فتحه وأنه غير مفتوح في برنامج آخر، ثم حاول مرة أخرى."
            ),
            ImportError::UnknownFormat(extension) if extension.is_empty() => "اسم الملف بلا امتداد، فلا يعرف «قافلة» نوعه. افتح القائمة في إكسل واحفظها بصيغة xlsx ثم استورد ذلك الملف.".to_owned(),
            ImportError::UnknownFormat(extension) => format!(
                "لا يقرأ «قافلة» ملفات ‎.{extension}. افتح القائمة في إكسل واحفظها بصيغة xlsx (أو csv) ثم استورد ذلك الملف."
            ),
            ImportError::FileTooLarge { bytes, limit } => format!(
                "حجم الملف {} ميجابايت، والحد الأقصى للاستيراد الواحد {} ميجابايت. قسّم القائمة على عدة ملفات (مثلًا ملف لكل قرية) واستوردها واحدًا بعد الآخر.",
                megabytes(*bytes),
                megabytes(*limit)
            ),
            ImportError::Csv(detail) => format!(
                "تعذّرت قراءة ملف CSV (التفاصيل: {detail}). افتحه في إكسل واحفظه بصيغة xlsx ثم استورد ذلك الملف."
            ),
            ImportError::Xlsx(detail) => format!(
                "تعذّرت قراءة ملف الإكسل (التفاصيل: {detail}). افتحه في إكسل للتأكد أنه سليم، واحفظه من جديد بصيغة xlsx، ثم استورد الملف الجديد."
            ),
            ImportError::Protected => "ملف الإكسل محمي بكلمة سر. افتحه في إكسل وأزل كلمة السر (ملف ← معلومات ← حماية المصنف)، واحفظه، ثم استورده من جديد.".to_owned(),
            ImportError::NoSheet => "ملف الإكسل ليس فيه ورقة عمل. ضع القائمة في ورقة عمل واحفظ الملف ثم استورده من جديد.".to_owned(),
            ImportError::MissingColumns(codes) => {
                let wanted: Vec<String> = codes
                    .iter()
                    .map(|code| match Field::from_code(code) {
                        Some(field) => format!(
                            "{} (أضف عنوانًا باسم «{}» أو «{}»)",
                            field.name_ar(),
                            field.headers_ar().first().copied().unwrap_or_default(),
                            field.headers_en().first().copied().unwrap_or_default()
                        ),
                        None => (*code).to_owned(),
                    })
                    .collect();
                format!(
                    "الملف ليس فيه عمود لـ: {}. يُبحث عن العناوين في أول {HEADER_SEARCH_ROWS} صفوف من كل ورقة.",
                    wanted.join("؛ ")
                )
            }
            ImportError::Empty => "الملف ليس فيه صفوف لأشخاص تحت صف العناوين. تأكد أنك اخترت الملف الصحيح وأن القائمة في ورقة عمل منه.".to_owned(),
            ImportError::TooLarge { rows, limit } => format!(
                "في الملف {rows} صفًا لأشخاص، والحد الأقصى للاستيراد الواحد {limit}. قسّم القائمة على عدة ملفات (مثلًا ملف لكل قرية) واستوردها واحدًا بعد الآخر."
            ),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message_en())
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImportError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<std::io::Error> for ImportError {
    fn from(error: std::io::Error) -> Self {
        ImportError::Io(error)
    }
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Reads the list at `path`, its format decided by the extension.
///
/// `today` is the caller's date; national IDs with a later birth date are
/// refused. Files over [`MAX_FILE_BYTES`] are refused before being read.
pub fn read_file(path: &Path, today: NaiveDate) -> Result<ImportFile, ImportError> {
    let format = Format::from_path(path)?;
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    if size > MAX_FILE_BYTES {
        return Err(ImportError::FileTooLarge {
            bytes: size,
            limit: MAX_FILE_BYTES,
        });
    }
    // The file may grow between the check and the read; `take` keeps the
    // limit true whatever happens, and `read_bytes` checks again.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    read_bytes(&bytes, format, today)
}

/// Reads a list already in memory, e.g. uploaded through the UI.
///
/// Never panics, whatever the bytes: anything unreadable is an
/// [`ImportError`], and anything wrong in a row is a [`RowProblem`].
pub fn read_bytes(
    bytes: &[u8],
    format: Format,
    today: NaiveDate,
) -> Result<ImportFile, ImportError> {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_FILE_BYTES {
        return Err(ImportError::FileTooLarge {
            bytes: size,
            limit: MAX_FILE_BYTES,
        });
    }
    match format {
        Format::Csv => read_csv(bytes, today),
        Format::Xlsx | Format::Xls | Format::Ods => read_workbook(bytes, format, today),
    }
}

/// Normalises a typed Egyptian mobile number to 11 ASCII digits
/// `01[0125]XXXXXXXX`, or `None` if it is not one.
///
/// Accepts Eastern Arabic and Persian digits; spaces, dashes, dots,
/// brackets and bidi marks; a `+20` or `0020` country code; and, as Excel
/// leaves them when the column holds numbers, `20…` without the plus and
/// ten digits without the leading zero.
pub fn normalise_phone(text: &str) -> Option<String> {
    let mut digits = String::with_capacity(16);
    let mut plus = false;
    for c in text.chars() {
        if let Some(digit) = ascii_digit(c) {
            digits.push(digit);
        } else if c == '+' && digits.is_empty() && !plus {
            plus = true;
        } else if !(c.is_whitespace()
            || is_invisible(c)
            || matches!(c, '-' | '.' | '(' | ')' | '/' | '\''))
        {
            return None;
        }
    }
    let national = if plus {
        digits.strip_prefix("20")?
    } else if let Some(rest) = digits.strip_prefix("0020") {
        rest
    } else if digits.len() == 12 {
        digits.strip_prefix("20").unwrap_or(&digits)
    } else {
        &digits
    };
    let local = if national.starts_with('0') {
        national.to_owned()
    } else {
        format!("0{national}")
    };
    let bytes = local.as_bytes();
    let mobile = bytes.len() == 11
        && bytes.starts_with(b"01")
        && matches!(bytes.get(2), Some(b'0' | b'1' | b'2' | b'5'));
    mobile.then_some(local)
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

/// Delimiters tried, in order of preference when nothing else decides.
const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

fn read_csv(bytes: &[u8], today: NaiveDate) -> Result<ImportFile, ImportError> {
    let (text, encoding) = decode_text(bytes);
    let delimiter = detect_delimiter(&text);
    let table = match read_table(csv_rows(&text, delimiter), today)? {
        SheetOutcome::Blank => return Err(ImportError::Empty),
        SheetOutcome::NoHeader { missing, .. } => return Err(missing_columns(&missing)),
        SheetOutcome::Read(table) if table.data_rows == 0 => return Err(ImportError::Empty),
        SheetOutcome::Read(table) => table,
    };
    Ok(ImportFile {
        format: Format::Csv,
        encoding,
        delimiter: Some(char::from(delimiter)),
        sheet: None,
        other_sheets: Vec::new(),
        columns: table.columns,
        rows: table.rows,
        refused: table.refused,
    })
}

/// Decodes CSV bytes, dropping any byte-order mark: a BOM decides; then
/// UTF-16 without a BOM (NUL bytes in every other place); then valid UTF-8;
/// anything else is taken as Windows-1256, what Arabic Excel calls "CSV".
fn decode_text(bytes: &[u8]) -> (String, &'static str) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return (String::from_utf8_lossy(rest).into_owned(), "UTF-8");
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return decode_with(UTF_16LE, rest);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return decode_with(UTF_16BE, rest);
    }
    if let Some(encoding) = sniff_utf16(bytes) {
        return decode_with(encoding, bytes);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), "UTF-8"),
        Err(_) => decode_with(WINDOWS_1256, bytes),
    }
}

fn decode_with(encoding: &'static Encoding, bytes: &[u8]) -> (String, &'static str) {
    let (text, _had_errors) = encoding.decode_without_bom_handling(bytes);
    (text.into_owned(), encoding.name())
}

/// UTF-16 without a BOM: text CSVs never contain NUL bytes, while UTF-16
/// puts one next to every ASCII character (the comma, the newline).
fn sniff_utf16(bytes: &[u8]) -> Option<&'static Encoding> {
    let sample = bytes.get(..1024).unwrap_or(bytes);
    let (mut even, mut odd) = (0usize, 0usize);
    for (index, byte) in sample.iter().enumerate() {
        if *byte == 0 {
            if index % 2 == 0 {
                even += 1;
            } else {
                odd += 1;
            }
        }
    }
    let enough = sample.len() / 8;
    if odd > enough && odd > 4 * even {
        Some(UTF_16LE)
    } else if even > enough && even > 4 * odd {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Picks the delimiter under which the header row is best understood;
/// when no header is recognised, the one most frequent on the first line.
fn detect_delimiter(text: &str) -> u8 {
    let first_line = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    let mut best = (DELIMITERS[0], (0, 0, 0));
    for delimiter in DELIMITERS {
        let preview: Vec<SourceRow> = csv_rows(text, delimiter)
            .filter_map(Result::ok)
            .filter(|row| !row.is_blank())
            .take(HEADER_SEARCH_ROWS)
            .collect();
        let (required, matched) = find_header(&preview).map_or((0, 0), |(_, columns)| {
            (required_count(&columns), columns.matched.len())
        });
        let count = first_line.matches(char::from(delimiter)).count();
        let score = (required, matched, count);
        if score > best.1 {
            best = (delimiter, score);
        }
    }
    best.0
}

/// The records of CSV text, numbered as Excel numbers rows: blank lines
/// count, and a quoted cell spanning several lines is still one row.
fn csv_rows(
    text: &str,
    delimiter: u8,
) -> impl Iterator<Item = Result<SourceRow, ImportError>> + '_ {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    // The reader's own line numbers count the breaks inside quoted cells
    // and not the blank lines it skips, so rows are numbered here: the line
    // breaks before the record, less those inside earlier records' cells.
    let mut scanned = 0usize;
    let mut breaks = 0usize;
    let mut breaks_in_cells = 0usize;
    let mut previous = 0usize;
    reader.into_records().map(move |record| {
        let record = record.map_err(|error| {
            let place = error
                .position()
                .map_or_else(String::new, |p| format!(" near line {}", p.line()));
            ImportError::Csv(format!("the text could not be split into cells{place}"))
        })?;
        // The reported position is just after the previous record's line
        // break; the record itself starts after any blank lines.
        let from = record
            .position()
            .and_then(|p| usize::try_from(p.byte()).ok())
            .unwrap_or(scanned)
            .max(scanned);
        let skipped = text.get(from..).map_or(0, |rest| {
            rest.len() - rest.trim_start_matches(['\r', '\n']).len()
        });
        let start = from + skipped;
        breaks += text.get(scanned..start).map_or(0, line_breaks);
        scanned = start;
        let line = (breaks - breaks_in_cells.min(breaks))
            .saturating_add(1)
            .max(previous.saturating_add(1));
        breaks_in_cells += record.iter().map(line_breaks).sum::<usize>();
        previous = line;
        Ok(SourceRow {
            line,
            cells: record.iter().take(MAX_COLUMNS).map(str::to_owned).collect(),
        })
    })
}

/// Line breaks in `text`, with `\r\n`, a lone `\r` and a lone `\n` each
/// counting once, as the CSV reader splits lines.
fn line_breaks(text: &str) -> usize {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|&(index, &byte)| {
            byte == b'\n' || (byte == b'\r' && bytes.get(index + 1) != Some(&b'\n'))
        })
        .count()
}

// ---------------------------------------------------------------------------
// Workbooks
// ---------------------------------------------------------------------------

/// Compound File Binary signature: `.xls`, and also password-encrypted
/// `.xlsx` files, which are not zip archives.
const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Stream name of an encrypted Office document, in UTF-16LE.
const ENCRYPTED_PACKAGE: &[u8] = b"E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e\0";

const NOT_A_WORKBOOK: &str = "the file is not an Excel or OpenDocument workbook";

fn read_workbook(
    bytes: &[u8],
    format: Format,
    today: NaiveDate,
) -> Result<ImportFile, ImportError> {
    // calamine parses untrusted bytes. Should it ever panic on a malformed
    // file, the registrar gets an error to act on instead of a crash;
    // nothing built before the panic is kept.
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        read_workbook_unguarded(bytes, format, today)
    }))
    .unwrap_or_else(|_| Err(ImportError::Xlsx(damaged(format.as_str()))))
}

fn read_workbook_unguarded(
    bytes: &[u8],
    format: Format,
    today: NaiveDate,
) -> Result<ImportFile, ImportError> {
    // What the bytes are beats what the name says: systems that "export to
    // Excel" often write an HTML page or tab-separated text named `.xls`,
    // and an old `.xls` is sometimes renamed `.xlsx`.
    let format = if bytes.starts_with(&CFB_MAGIC) {
        if bytes
            .windows(ENCRYPTED_PACKAGE.len())
            .any(|window| window == ENCRYPTED_PACKAGE)
        {
            return Err(ImportError::Protected);
        }
        Format::Xls
    } else if bytes.starts_with(b"PK") {
        if format == Format::Xls {
            Format::Xlsx
        } else {
            format
        }
    } else {
        return read_text_as_workbook(bytes, today);
    };

    let mut workbook = Workbook::open(bytes, format)?;
    let names = workbook.worksheet_names();
    if names.is_empty() {
        return Err(ImportError::NoSheet);
    }

    let mut had_content = Vec::with_capacity(names.len());
    let mut best_missing: Option<(usize, Vec<Field>)> = None;
    let mut header_only = false;
    let mut chosen = None;
    for (index, name) in names.iter().enumerate() {
        match workbook.read_sheet(name, today)? {
            SheetOutcome::Blank => had_content.push(false),
            SheetOutcome::NoHeader { missing, matched } => {
                had_content.push(true);
                if best_missing
                    .as_ref()
                    .is_none_or(|(best, _)| matched > *best)
                {
                    best_missing = Some((matched, missing));
                }
            }
            SheetOutcome::Read(table) if table.data_rows == 0 => {
                had_content.push(true);
                header_only = true;
            }
            SheetOutcome::Read(table) => {
                chosen = Some((index, table));
                break;
            }
        }
    }
    let Some((chosen_index, table)) = chosen else {
        return Err(match best_missing {
            Some((_, missing)) if !header_only => missing_columns(&missing),
            _ => ImportError::Empty,
        });
    };

    let mut other_sheets: Vec<String> = names
        .iter()
        .zip(&had_content)
        .filter(|(_, content)| **content)
        .map(|(name, _)| name.clone())
        .collect();
    for name in names.iter().skip(chosen_index + 1) {
        if workbook.has_content(name)? {
            other_sheets.push(name.clone());
        }
    }

    Ok(ImportFile {
        format,
        encoding: "UTF-8",
        delimiter: None,
        sheet: names.get(chosen_index).cloned(),
        other_sheets,
        columns: table.columns,
        rows: table.rows,
        refused: table.refused,
    })
}

/// A "workbook" that is really text: an HTML page is refused with a clear
/// message; delimited text is read as CSV if it has a recognisable header.
fn read_text_as_workbook(bytes: &[u8], today: NaiveDate) -> Result<ImportFile, ImportError> {
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
        return Err(ImportError::Xlsx(
            "the file is a web page (HTML or XML) with a spreadsheet name, not a real workbook"
                .to_owned(),
        ));
    }
    match read_csv(bytes, today) {
        Ok(file) => Ok(file),
        // A header was recognised, so this is a list: say what it lacks.
        Err(ImportError::MissingColumns(missing)) if missing.len() < required_fields().len() => {
            Err(ImportError::MissingColumns(missing))
        }
        Err(error @ (ImportError::TooLarge { .. } | ImportError::Empty)) => Err(error),
        Err(_) => Err(ImportError::Xlsx(NOT_A_WORKBOOK.to_owned())),
    }
}

/// The readers calamine has for the formats Qafila accepts. XLSX is read
/// cell by cell, so a huge or sparse sheet costs only what it holds.
enum Workbook<'a> {
    Xlsx(Xlsx<Cursor<&'a [u8]>>),
    Xls(Xls<Cursor<&'a [u8]>>),
    Ods(Ods<Cursor<&'a [u8]>>),
}

impl<'a> Workbook<'a> {
    fn open(bytes: &'a [u8], format: Format) -> Result<Self, ImportError> {
        let cursor = Cursor::new(bytes);
        match format {
            Format::Xls => Xls::new(cursor).map(Workbook::Xls).map_err(xls_error),
            Format::Ods => Ods::new(cursor).map(Workbook::Ods).map_err(ods_error),
            Format::Xlsx | Format::Csv => Xlsx::new(cursor).map(Workbook::Xlsx).map_err(xlsx_error),
        }
    }

    /// Names of the worksheets (not chart or macro sheets), in tab order.
    fn worksheet_names(&self) -> Vec<String> {
        let sheets = match self {
            Workbook::Xlsx(book) => book.sheets_metadata(),
            Workbook::Xls(book) => book.sheets_metadata(),
            Workbook::Ods(book) => book.sheets_metadata(),
        };
        sheets
            .iter()
            .filter(|sheet| sheet.typ == SheetType::WorkSheet)
            .map(|sheet| sheet.name.clone())
            .collect()
    }

    fn read_sheet(&mut self, name: &str, today: NaiveDate) -> Result<SheetOutcome, ImportError> {
        match self {
            Workbook::Xlsx(book) => {
                let cells = book.worksheet_cells_reader(name).map_err(xlsx_error)?;
                read_table(XlsxRows::new(cells), today)
            }
            Workbook::Xls(book) => {
                let range = book.worksheet_range(name).map_err(xls_error)?;
                read_table(range_rows(&range), today)
            }
            Workbook::Ods(book) => {
                let range = book.worksheet_range(name).map_err(ods_error)?;
                read_table(range_rows(&range), today)
            }
        }
    }

    /// Whether the sheet has any non-blank cell.
    fn has_content(&mut self, name: &str) -> Result<bool, ImportError> {
        match self {
            Workbook::Xlsx(book) => {
                let cells = book.worksheet_cells_reader(name).map_err(xlsx_error)?;
                for row in XlsxRows::new(cells) {
                    if !row?.is_blank() {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Workbook::Xls(book) => {
                let range = book.worksheet_range(name).map_err(xls_error)?;
                Ok(range_has_content(&range))
            }
            Workbook::Ods(book) => {
                let range = book.worksheet_range(name).map_err(ods_error)?;
                Ok(range_has_content(&range))
            }
        }
    }
}

fn range_has_content(range: &Range<Data>) -> bool {
    range
        .used_cells()
        .any(|(_, _, cell)| !is_blank(&data_text(cell)))
}

/// Rows of a fully loaded sheet (XLS, ODS), numbered as in Excel.
fn range_rows(range: &Range<Data>) -> impl Iterator<Item = Result<SourceRow, ImportError>> + '_ {
    let (first_row, first_column) = range.start().unwrap_or((0, 0));
    let first_column = usize::try_from(first_column).unwrap_or(usize::MAX);
    let first_line = usize::try_from(first_row).unwrap_or(usize::MAX);
    range.rows().enumerate().map(move |(index, cells)| {
        let lead = first_column.min(MAX_COLUMNS);
        let mut texts = vec![String::new(); lead];
        texts.extend(cells.iter().take(MAX_COLUMNS - lead).map(data_text));
        Ok(SourceRow {
            line: first_line.saturating_add(index).saturating_add(1),
            cells: texts,
        })
    })
}

/// Rows of an XLSX sheet, streamed from its XML one cell at a time and
/// grouped by row. Rows without cells are absent, as they are in the file.
struct XlsxRows<'r, 'b> {
    cells: XlsxCellReader<'r, Cursor<&'b [u8]>>,
    /// A cell already read that starts the next row.
    pending: Option<(u32, u32, String)>,
    done: bool,
}

impl<'r, 'b> XlsxRows<'r, 'b> {
    fn new(cells: XlsxCellReader<'r, Cursor<&'b [u8]>>) -> Self {
        Self {
            cells,
            pending: None,
            done: false,
        }
    }

    fn next_cell(&mut self) -> Result<Option<(u32, u32, String)>, ImportError> {
        if let Some(cell) = self.pending.take() {
            return Ok(Some(cell));
        }
        match self.cells.next_cell() {
            Ok(Some(cell)) => {
                let (row, column) = cell.get_position();
                Ok(Some((row, column, data_ref_text(cell.get_value()))))
            }
            Ok(None) => Ok(None),
            Err(error) => Err(xlsx_error(error)),
        }
    }
}

impl Iterator for XlsxRows<'_, '_> {
    type Item = Result<SourceRow, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut current: Option<(u32, Vec<String>)> = None;
        loop {
            let cell = match self.next_cell() {
                Ok(cell) => cell,
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            };
            let Some((row, column, text)) = cell else {
                self.done = true;
                return current.map(|(row, cells)| Ok(SourceRow::new(row, cells)));
            };
            match &mut current {
                Some((current_row, _)) if *current_row != row => {
                    self.pending = Some((row, column, text));
                    return current.map(|(row, cells)| Ok(SourceRow::new(row, cells)));
                }
                Some((_, cells)) => place(cells, column, text),
                None => {
                    let mut cells = Vec::new();
                    place(&mut cells, column, text);
                    current = Some((row, cells));
                }
            }
        }
    }
}

/// Puts a cell's text at its column, within [`MAX_COLUMNS`].
fn place(cells: &mut Vec<String>, column: u32, text: String) {
    let Ok(column) = usize::try_from(column) else {
        return;
    };
    if column >= MAX_COLUMNS || text.is_empty() {
        return;
    }
    if cells.len() <= column {
        cells.resize(column + 1, String::new());
    }
    if let Some(slot) = cells.get_mut(column) {
        *slot = text;
    }
}

fn data_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => text.clone(),
        Data::Int(number) => number.to_string(),
        Data::Float(number) => number_text(*number),
        Data::Bool(value) => bool_text(*value),
        // Dates mean nothing in an import yet; the serial number at least
        // fails the checks of any field it lands in.
        Data::DateTime(date) => number_text(date.as_f64()),
        Data::Error(error) => error.to_string(),
    }
}

fn data_ref_text(cell: &DataRef<'_>) -> String {
    match cell {
        DataRef::Empty => String::new(),
        DataRef::SharedString(text) => (*text).to_owned(),
        DataRef::String(text) | DataRef::DateTimeIso(text) | DataRef::DurationIso(text) => {
            text.clone()
        }
        DataRef::Int(number) => number.to_string(),
        DataRef::Float(number) => number_text(*number),
        DataRef::Bool(value) => bool_text(*value),
        DataRef::DateTime(date) => number_text(date.as_f64()),
        DataRef::Error(error) => error.to_string(),
    }
}

fn bool_text(value: bool) -> String {
    if value { "TRUE" } else { "FALSE" }.to_owned()
}

/// A numeric cell as text. Whole numbers below 2^53 are exact in a double,
/// which covers every 14-digit national ID and 12-digit phone number, so
/// `2.9001150101235E13` becomes `29001150101235` and `5.0` becomes `5`.
fn number_text(number: f64) -> String {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if number.is_finite() && number.fract() == 0.0 && number.abs() < EXACT {
        // In range and whole, so the conversion is exact.
        format!("{}", number as i64)
    } else {
        format!("{number}")
    }
}

fn xlsx_error(error: XlsxError) -> ImportError {
    match error {
        XlsxError::Password => ImportError::Protected,
        XlsxError::Zip(error) => {
            ImportError::Xlsx(format!("it is not a valid .xlsx file ({error})"))
        }
        XlsxError::Io(error) => ImportError::Xlsx(format!("it could not be read ({error})")),
        _ => ImportError::Xlsx(damaged("xlsx")),
    }
}

fn xls_error(error: XlsError) -> ImportError {
    match error {
        XlsError::Password => ImportError::Protected,
        XlsError::Io(error) => ImportError::Xlsx(format!("it could not be read ({error})")),
        _ => ImportError::Xlsx(damaged("xls")),
    }
}

fn ods_error(error: OdsError) -> ImportError {
    match error {
        OdsError::Password => ImportError::Protected,
        OdsError::Zip(error) => ImportError::Xlsx(format!("it is not a valid .ods file ({error})")),
        OdsError::Io(error) => ImportError::Xlsx(format!("it could not be read ({error})")),
        _ => ImportError::Xlsx(damaged("ods")),
    }
}

/// Calamine's other errors can quote bits of the sheet's XML, i.e. cell
/// text, so they are summarised instead of shown.
fn damaged(kind: &str) -> String {
    format!("the .{kind} file is damaged or uses a feature Qafila cannot read")
}

// ---------------------------------------------------------------------------
// Header and rows, whatever the format
// ---------------------------------------------------------------------------

/// One row of cells as text, numbered as in Excel.
struct SourceRow {
    line: usize,
    /// Cell texts by 0-based column; short rows are simply short.
    cells: Vec<String>,
}

impl SourceRow {
    fn new(row: u32, cells: Vec<String>) -> Self {
        let line = usize::try_from(row).unwrap_or(usize::MAX).saturating_add(1);
        Self { line, cells }
    }

    fn is_blank(&self) -> bool {
        self.cells.iter().all(|cell| is_blank(cell))
    }

    fn cell(&self, column: Option<&Column>) -> &str {
        column
            .and_then(|column| self.cells.get(column.index))
            .map_or("", String::as_str)
    }
}

enum SheetOutcome {
    /// Nothing but blank cells.
    Blank,
    /// No header row with every required field.
    NoHeader { missing: Vec<Field>, matched: usize },
    /// A header row was found and the rows under it read.
    Read(Table),
}

struct Table {
    columns: Columns,
    rows: Vec<ImportRow>,
    refused: Vec<RefusedRow>,
    /// Non-blank rows under the header, accepted or refused.
    data_rows: usize,
}

/// Finds the header among the first [`HEADER_SEARCH_ROWS`] non-blank rows,
/// then validates every row under it.
fn read_table<I>(mut source: I, today: NaiveDate) -> Result<SheetOutcome, ImportError>
where
    I: Iterator<Item = Result<SourceRow, ImportError>>,
{
    let mut preview = Vec::with_capacity(HEADER_SEARCH_ROWS);
    while preview.len() < HEADER_SEARCH_ROWS {
        match source.next() {
            Some(row) => {
                let row = row?;
                if !row.is_blank() {
                    preview.push(row);
                }
            }
            None => break,
        }
    }
    let Some((header_index, columns)) = find_header(&preview) else {
        return Ok(if preview.is_empty() {
            SheetOutcome::Blank
        } else {
            SheetOutcome::NoHeader {
                missing: required_fields(),
                matched: 0,
            }
        });
    };
    let missing = columns.missing_required();
    if !missing.is_empty() {
        return Ok(SheetOutcome::NoHeader {
            missing,
            matched: columns.matched.len(),
        });
    }

    let mut validator = Validator::new(columns, today);
    for row in preview.iter().skip(header_index + 1) {
        validator.push(row);
    }
    for row in source {
        validator.push(&row?);
    }
    validator.finish()
}

/// The row that best looks like a header: most required fields, then most
/// fields; the earliest on a tie.
fn find_header(preview: &[SourceRow]) -> Option<(usize, Columns)> {
    let mut best: Option<(usize, Columns)> = None;
    for (index, row) in preview.iter().enumerate() {
        let columns = match_columns(row);
        if columns.matched.is_empty() {
            continue;
        }
        let score = (required_count(&columns), columns.matched.len());
        let better = best
            .as_ref()
            .is_none_or(|(_, best)| score > (required_count(best), best.matched.len()));
        if better {
            best = Some((index, columns));
        }
    }
    best
}

fn required_count(columns: &Columns) -> usize {
    columns
        .matched
        .iter()
        .filter(|(field, _)| field.is_required())
        .count()
}

fn required_fields() -> Vec<Field> {
    Field::ALL.into_iter().filter(|f| f.is_required()).collect()
}

fn missing_columns(missing: &[Field]) -> ImportError {
    ImportError::MissingColumns(missing.iter().map(|field| field.code()).collect())
}

fn match_columns(row: &SourceRow) -> Columns {
    let matcher = HeaderMatcher::get();
    let mut columns = Columns {
        header_line: row.line,
        ..Columns::default()
    };
    for (index, cell) in row.cells.iter().enumerate() {
        let header = clean_text(cell);
        if header.is_empty() {
            continue;
        }
        let column = Column { index, header };
        match matcher.field(&column.header) {
            Some(field) if columns.get(field).is_none() => columns.matched.push((field, column)),
            _ => columns.ignored.push(column),
        }
    }
    columns.matched.sort_by_key(|(field, _)| *field);
    columns
}

/// Recognises headers by their normalised key: [`NameKey`] folds Arabic
/// spelling variants, diacritics, case, punctuation such as `_` and spacing.
#[derive(Debug)]
struct HeaderMatcher {
    keys: HashMap<String, Field>,
}

/// Where a bilingual header such as `الاسم / Name` or `Phone (الهاتف)` is
/// split when the whole of it is not a known header.
const HEADER_SEPARATORS: &[char] = &['/', '\\', '|', '(', ')', '[', ']', ':', '\n', '-', '–'];

impl HeaderMatcher {
    fn get() -> &'static Self {
        static MATCHER: OnceLock<HeaderMatcher> = OnceLock::new();
        MATCHER.get_or_init(|| {
            let mut keys = HashMap::new();
            for field in Field::ALL {
                for header in field.headers_ar().iter().chain(field.headers_en()) {
                    keys.entry(header_key(header)).or_insert(field);
                }
            }
            HeaderMatcher { keys }
        })
    }

    fn field(&self, header: &str) -> Option<Field> {
        if let Some(field) = self.exact(header) {
            return Some(field);
        }
        // Every part that is a known header must agree on the field.
        let mut found = None;
        for part in header.split(HEADER_SEPARATORS) {
            match (found, self.exact(part)) {
                (_, None) => {}
                (None, Some(field)) => found = Some(field),
                (Some(previous), Some(field)) if previous != field => return None,
                (Some(_), Some(_)) => {}
            }
        }
        found
    }

    fn exact(&self, text: &str) -> Option<Field> {
        self.keys.get(&header_key(text)).copied()
    }
}

fn header_key(text: &str) -> String {
    NameKey::new(text).as_str().to_owned()
}

/// Checks data rows one by one, remembering national IDs to find
/// duplicates within the file.
struct Validator {
    columns: Columns,
    today: NaiveDate,
    seen: HashMap<NationalId, usize>,
    rows: Vec<ImportRow>,
    refused: Vec<RefusedRow>,
    data_rows: usize,
}

impl Validator {
    fn new(columns: Columns, today: NaiveDate) -> Self {
        Self {
            columns,
            today,
            seen: HashMap::new(),
            rows: Vec::new(),
            refused: Vec::new(),
            data_rows: 0,
        }
    }

    fn push(&mut self, row: &SourceRow) {
        let [name, national_id, size, village, phone, household] =
            Field::ALL.map(|field| row.cell(self.columns.get(field)));
        // Only the fields decide whether a row is blank, so a template
        // whose serial-number column runs on below the list adds nothing.
        if [name, national_id, size, village, phone, household]
            .iter()
            .all(|cell| is_blank(cell))
        {
            return;
        }
        if self.repeats_header(row) {
            return;
        }
        self.data_rows += 1;
        if self.data_rows > MAX_ROWS {
            return; // Only counted: `finish` refuses the file.
        }

        let mut problems = Vec::new();
        let name = clean_text(name);
        if !has_letters(&name) || is_excel_error(&name) {
            problems.push(RowProblem::MissingName);
        } else if name.chars().count() > MAX_NAME_CHARS {
            problems.push(RowProblem::TooLong {
                field: Field::Name,
                limit: MAX_NAME_CHARS,
            });
        }
        let national_id = parse_national_id(national_id, self.today).unwrap_or_else(|problem| {
            problems.push(problem);
            None
        });
        let household_size = parse_household_size(size).unwrap_or_else(|problem| {
            problems.push(problem);
            0
        });
        let village = clean_text(village);
        if !has_letters(&village) || is_excel_error(&village) {
            problems.push(RowProblem::MissingVillage);
        } else if village.chars().count() > MAX_VILLAGE_CHARS {
            problems.push(RowProblem::TooLong {
                field: Field::Village,
                limit: MAX_VILLAGE_CHARS,
            });
        }
        let phone = if is_blank(phone) {
            None
        } else {
            normalise_phone(phone).or_else(|| {
                problems.push(RowProblem::BadPhone(quote(phone)));
                None
            })
        };
        let household_ref = Some(clean_text(household)).filter(|text| !text.is_empty());
        if household_ref
            .as_ref()
            .is_some_and(|text| text.chars().count() > MAX_HOUSEHOLD_REF_CHARS)
        {
            problems.push(RowProblem::TooLong {
                field: Field::Household,
                limit: MAX_HOUSEHOLD_REF_CHARS,
            });
        }
        if let Some(id) = &national_id {
            match self.seen.entry(id.clone()) {
                Entry::Occupied(first) => problems.push(RowProblem::DuplicateInFile {
                    first_line: *first.get(),
                }),
                Entry::Vacant(slot) => {
                    slot.insert(row.line);
                }
            }
        }

        if problems.is_empty() {
            self.rows.push(ImportRow {
                line: row.line,
                name,
                national_id,
                household_size,
                village,
                phone,
                household_ref,
            });
        } else {
            self.refused.push(RefusedRow {
                line: row.line,
                name,
                reasons: problems,
            });
        }
    }

    /// Whether the row repeats the header, as when several lists were
    /// pasted one under the other; such a row is not a person.
    fn repeats_header(&self, row: &SourceRow) -> bool {
        let name = row.cell(self.columns.get(Field::Name));
        self.columns
            .get(Field::Name)
            .is_some_and(|column| clean_text(name) == column.header)
            && self
                .columns
                .matched
                .iter()
                .all(|(_, column)| clean_text(row.cell(Some(column))) == column.header)
    }

    fn finish(self) -> Result<SheetOutcome, ImportError> {
        if self.data_rows > MAX_ROWS {
            return Err(ImportError::TooLarge {
                rows: self.data_rows,
                limit: MAX_ROWS,
            });
        }
        Ok(SheetOutcome::Read(Table {
            columns: self.columns,
            rows: self.rows,
            refused: self.refused,
            data_rows: self.data_rows,
        }))
    }
}

// ---------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------

fn parse_national_id(raw: &str, today: NaiveDate) -> Result<Option<NationalId>, RowProblem> {
    let text = clean_text(raw);
    // A leading apostrophe is how Excel users force a number to stay text.
    let text = text.trim_start_matches('\'').trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = match expand_scientific(text) {
        Some(Scientific::Exact(digits)) => NationalId::parse(&digits, today),
        Some(Scientific::Rounded) => return Err(RowProblem::NationalIdRounded),
        None => NationalId::parse(text, today),
    };
    parsed.map(Some).map_err(RowProblem::BadNationalId)
}

/// A number in scientific notation, as Excel writes big numbers into CSV.
#[derive(Debug, PartialEq, Eq)]
enum Scientific {
    /// All digits are there, e.g. `2.9001150101235E+13`.
    Exact(String),
    /// A 14-digit number shown with fewer digits, e.g. `2.90012E+13`:
    /// the rest are lost.
    Rounded,
}

fn expand_scientific(text: &str) -> Option<Scientific> {
    let (mantissa, exponent) = text.split_once(['e', 'E'])?;
    let exponent = exponent.trim();
    let exponent: usize = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .ok()?;
    let mantissa = mantissa.trim();
    let (whole, fraction) = mantissa
        .split_once(['.', ',', '٫'])
        .unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() != 1 || !digits(whole) || !digits(fraction) {
        return None;
    }
    if fraction.len() >= exponent {
        let (kept, dropped) = fraction.split_at(exponent);
        // Digits after the decimal point of the full number must be zeros.
        return dropped
            .bytes()
            .all(|b| b == b'0')
            .then(|| Scientific::Exact(format!("{whole}{kept}")));
    }
    (exponent == qafila_domain::nid::NID_DIGITS - 1).then_some(Scientific::Rounded)
}

fn parse_household_size(raw: &str) -> Result<u32, RowProblem> {
    let text = clean_text(raw);
    if text.is_empty() || is_excel_error(&text) {
        return Err(RowProblem::MissingHouseholdSize);
    }
    let folded: String = text
        .chars()
        .map(|c| ascii_digit(c).unwrap_or(c))
        .filter(|c| !c.is_whitespace())
        .collect();
    // `5.0` is how some programs write a whole number.
    let whole = match folded.split_once(['.', ',', '٫']) {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => {
            whole
        }
        _ => folded.as_str(),
    };
    let size = (!whole.is_empty() && whole.len() <= 9 && whole.bytes().all(|b| b.is_ascii_digit()))
        .then(|| whole.parse::<u32>().ok())
        .flatten();
    match size {
        Some(size) if (1..=MAX_HOUSEHOLD_SIZE).contains(&size) => Ok(size),
        _ => Err(RowProblem::BadHouseholdSize(quote(&text))),
    }
}

/// The ASCII digit for an ASCII, Eastern Arabic (`٠`–`٩`) or Persian
/// (`۰`–`۹`) digit.
fn ascii_digit(c: char) -> Option<char> {
    let zero = match c {
        '0'..='9' => return Some(c),
        '\u{0660}'..='\u{0669}' => 0x0660,
        '\u{06F0}'..='\u{06F9}' => 0x06F0,
        _ => return None,
    };
    let value = u32::from(c) - zero;
    char::from_digit(value, 10)
}

/// Invisible characters that copy-paste from Arabic documents leaves in
/// cells: zero-width characters, bidi marks and isolates, BOM, soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
}

/// A cell's text with invisible and control characters removed and
/// whitespace trimmed and collapsed to single spaces.
fn clean_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else if !(c.is_control() || is_invisible(c)) {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Whether the text has a letter or a digit: a name or village of only
/// dashes, dots or diacritics is as good as empty.
fn has_letters(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// Excel's error values, which a failed formula (e.g. a `VLOOKUP`) leaves
/// in a cell and a CSV export writes as text.
fn is_excel_error(text: &str) -> bool {
    matches!(
        text,
        "#N/A" | "#VALUE!" | "#REF!" | "#DIV/0!" | "#NUM!" | "#NAME?" | "#NULL!" | "#DATA!"
    )
}

/// A bad cell shortened for a message.
fn quote(raw: &str) -> String {
    let text = clean_text(raw);
    if text.chars().count() > MAX_QUOTED_CHARS {
        let mut short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
        short.push('…');
        short
    } else {
        text
    }
}

fn column_letter(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index.saturating_add(1);
    while n > 0 {
        let rest = (n - 1) % 26;
        letters.push(char::from(b'A' + u8::try_from(rest).unwrap_or(0)));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// Stands in for personal data in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()
    }

    #[test]
    fn phones() {
        let cases: &[(&str, Option<&str>)] = &[
            ("01001234567", Some("01001234567")),
            ("٠١٠٠١٢٣٤٥٦٧", Some("01001234567")),
            ("۰۱۲۲۳۴۵۶۷۸۹", Some("01223456789")),
            ("+201001234567", Some("01001234567")),
            ("+20 100 123 4567", Some("01001234567")),
            ("00201551234567", Some("01551234567")),
            ("201001234567", Some("01001234567")),
            ("1001234567", Some("01001234567")),
            ("+2001001234567", Some("01001234567")),
            ("010-0123-4567", Some("01001234567")),
            ("0100 123 4567", Some("01001234567")),
            ("(010) 01234567", Some("01001234567")),
            ("'01001234567", Some("01001234567")),
            ("\u{200F}01001234567\u{200F}", Some("01001234567")),
            ("01301234567", None),
            ("0100123456", None),
            ("010012345678", None),
            ("+441001234567", None),
            ("0482345678", None),
            ("01001234567 / 01101234567", None),
            ("abc", None),
            ("", None),
            ("+", None),
            ("++201001234567", None),
        ];
        for (input, expected) in cases {
            assert_eq!(normalise_phone(input).as_deref(), *expected, "{input:?}");
        }
    }

    #[test]
    fn household_sizes() {
        let cases: &[(&str, Result<u32, &str>)] = &[
            ("5", Ok(5)),
            (" 12 ", Ok(12)),
            ("٥", Ok(5)),
            ("۱۲", Ok(12)),
            ("5.0", Ok(5)),
            ("٥٫٠", Ok(5)),
            ("05", Ok(5)),
            ("60", Ok(60)),
            ("1", Ok(1)),
            ("", Err("missing_household_size")),
            ("  ", Err("missing_household_size")),
            ("#N/A", Err("missing_household_size")),
            ("0", Err("bad_household_size")),
            ("61", Err("bad_household_size")),
            ("5.5", Err("bad_household_size")),
            ("-3", Err("bad_household_size")),
            ("خمسة", Err("bad_household_size")),
            ("99999999999999999999", Err("bad_household_size")),
            ("5 افراد", Err("bad_household_size")),
        ];
        for (input, expected) in cases {
            let got = parse_household_size(input).map_err(|p| p.code());
            assert_eq!(got, *expected, "{input:?}");
        }
    }

    #[test]
    fn numbers_from_cells() {
        assert_eq!(number_text(2.9001150101235E13), "29001150101235");
        assert_eq!(number_text(5.0), "5");
        assert_eq!(number_text(5.5), "5.5");
        assert_eq!(number_text(-0.0), "0");
        assert_eq!(number_text(201001234567.0), "201001234567");
        assert_eq!(number_text(f64::NAN), "NaN");
        assert_eq!(number_text(1e300).len(), 301);
    }

    #[test]
    fn scientific_notation() {
        let exact = |s: &str| Some(Scientific::Exact(s.to_owned()));
        assert_eq!(
            expand_scientific("2.9001150101235E+13"),
            exact("29001150101235")
        );
        assert_eq!(
            expand_scientific("2.9001150101235e13"),
            exact("29001150101235")
        );
        assert_eq!(
            expand_scientific("2,9001150101235E+13"),
            exact("29001150101235")
        );
        assert_eq!(
            expand_scientific("2.90011501012350E+13"),
            exact("29001150101235")
        );
        assert_eq!(expand_scientific("2.90012E+13"), Some(Scientific::Rounded));
        assert_eq!(expand_scientific("3E+13"), Some(Scientific::Rounded));
        assert_eq!(expand_scientific("1.5E+3"), None);
        assert_eq!(expand_scientific("1.5E+1"), exact("15"));
        assert_eq!(expand_scientific("1.55E+1"), None);
        assert_eq!(expand_scientific("12.5E+3"), None);
        assert_eq!(expand_scientific("2.9E-13"), None);
        assert_eq!(expand_scientific("29001150101235"), None);
        assert_eq!(expand_scientific("E"), None);
        assert_eq!(expand_scientific("2.9E+99999999999999999999"), None);
        assert_eq!(expand_scientific("2.9E+18446744073709551615"), None);
    }

    #[test]
    fn scientific_ids_are_parsed_or_flagged() {
        let id = parse_national_id("2.9001150101235E+13", today())
            .unwrap()
            .unwrap();
        assert_eq!(id.as_str(), "29001150101235");
        assert_eq!(
            parse_national_id("2.90012E+13", today()),
            Err(RowProblem::NationalIdRounded)
        );
        assert_eq!(parse_national_id("  ", today()), Ok(None));
        assert!(
            parse_national_id("'29001150101235", today())
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn headers() {
        let matcher = HeaderMatcher::get();
        let cases: &[(&str, Option<Field>)] = &[
            ("name", Some(Field::Name)),
            ("Full Name", Some(Field::Name)),
            ("FULL_NAME", Some(Field::Name)),
            ("Beneficiary", Some(Field::Name)),
            ("الاسم", Some(Field::Name)),
            ("اسم المستفيد", Some(Field::Name)),
            ("الاسم بالكامل", Some(Field::Name)),
            ("الاسم رباعي", Some(Field::Name)),
            ("الإسم", Some(Field::Name)),
            ("الاسـم", Some(Field::Name)),
            ("national id", Some(Field::NationalId)),
            ("National ID", Some(Field::NationalId)),
            ("NID", Some(Field::NationalId)),
            ("national_id", Some(Field::NationalId)),
            ("national-id", Some(Field::NationalId)),
            ("الرقم القومي", Some(Field::NationalId)),
            ("رقم قومي", Some(Field::NationalId)),
            ("الرقم القومى", Some(Field::NationalId)),
            ("household size", Some(Field::HouseholdSize)),
            ("Family Size", Some(Field::HouseholdSize)),
            ("members", Some(Field::HouseholdSize)),
            ("عدد الافراد", Some(Field::HouseholdSize)),
            ("عدد أفراد الأسرة", Some(Field::HouseholdSize)),
            ("عدد افراد الاسرة", Some(Field::HouseholdSize)),
            ("عدد افراد الاسره", Some(Field::HouseholdSize)),
            ("village", Some(Field::Village)),
            ("القرية", Some(Field::Village)),
            ("القريه", Some(Field::Village)),
            ("البلد", Some(Field::Village)),
            ("phone", Some(Field::Phone)),
            ("Mobile", Some(Field::Phone)),
            ("الهاتف", Some(Field::Phone)),
            ("الموبايل", Some(Field::Phone)),
            ("رقم التليفون", Some(Field::Phone)),
            ("رقم الهاتف", Some(Field::Phone)),
            ("التليفون", Some(Field::Phone)),
            ("household", Some(Field::Household)),
            ("Household ID", Some(Field::Household)),
            ("family id", Some(Field::Household)),
            ("رقم الأسرة", Some(Field::Household)),
            ("كود الأسرة", Some(Field::Household)),
            // Bilingual headers.
            ("الاسم / Name", Some(Field::Name)),
            ("Phone (الهاتف)", Some(Field::Phone)),
            ("القرية/العزبة", Some(Field::Village)),
            ("الاسم / village", None),
            // Not ours.
            ("م", None),
            ("ملاحظات", None),
            ("id", None),
            ("", None),
            ("نوع المساعدة", None),
        ];
        for (header, expected) in cases {
            assert_eq!(matcher.field(header), *expected, "{header:?}");
        }
    }

    #[test]
    fn no_header_means_two_fields() {
        let mut owner: HashMap<String, Field> = HashMap::new();
        for field in Field::ALL {
            for header in field.headers_ar().iter().chain(field.headers_en()) {
                let key = header_key(header);
                assert!(!key.is_empty(), "{header:?}");
                if let Some(other) = owner.insert(key, field) {
                    assert_eq!(other, field, "{header:?} is claimed by two fields");
                }
            }
        }
    }

    #[test]
    fn encodings() {
        let (text, encoding) = decode_text(b"\xEF\xBB\xBFname");
        assert_eq!((text.as_str(), encoding), ("name", "UTF-8"));
        let (text, encoding) = decode_text(b"\xFF\xFEn\0a\0");
        assert_eq!((text.as_str(), encoding), ("na", "UTF-16LE"));
        let (text, encoding) = decode_text(b"\xFE\xFF\0n\0a");
        assert_eq!((text.as_str(), encoding), ("na", "UTF-16BE"));
        let (text, encoding) = decode_text(b"n\0a\0m\0e\0,\0v\0\n\0");
        assert_eq!((text.as_str(), encoding), ("name,v\n", "UTF-16LE"));
        let (text, encoding) = decode_text("الاسم".as_bytes());
        assert_eq!((text.as_str(), encoding), ("الاسم", "UTF-8"));
        let (bytes, _, _) = WINDOWS_1256.encode("الاسم");
        let (text, encoding) = decode_text(&bytes);
        assert_eq!((text.as_str(), encoding), ("الاسم", "windows-1256"));
        let (text, encoding) = decode_text(b"");
        assert_eq!((text.as_str(), encoding), ("", "UTF-8"));
    }

    #[test]
    fn csv_rows_are_numbered_like_excel() {
        let text = "a,b\n\n\"multi\nline\",x\r\nc,d\n,\nlast,\"two\n\nbreaks\"\nend,e";
        let lines: Vec<(usize, String)> = csv_rows(text, b',')
            .map(|row| {
                let row = row.unwrap();
                (row.line, row.cells.first().cloned().unwrap_or_default())
            })
            .collect();
        assert_eq!(
            lines,
            [
                (1, "a".to_owned()),
                (3, "multi\nline".to_owned()),
                (4, "c".to_owned()),
                (5, String::new()),
                (6, "last".to_owned()),
                (7, "end".to_owned()),
            ]
        );
        // Bare carriage returns still give increasing numbers.
        let lines: Vec<usize> = csv_rows("a\rb\rc", b',').map(|r| r.unwrap().line).collect();
        assert_eq!(lines, [1, 2, 3]);
    }

    #[test]
    fn text_cleaning() {
        assert_eq!(clean_text("  محمد   احمد\t علي \n"), "محمد احمد علي");
        assert_eq!(clean_text("\u{200F}محمد\u{200E}"), "محمد");
        assert_eq!(clean_text("a\u{0}b"), "ab");
        assert_eq!(clean_text(" \u{FEFF} "), "");
        assert!(is_blank(" \u{200F}\t"));
        assert!(!is_blank(" x "));
        assert_eq!(
            quote(&"x".repeat(100)).chars().count(),
            MAX_QUOTED_CHARS + 1
        );
    }

    #[test]
    fn column_letters() {
        let letters: Vec<String> = [0, 1, 25, 26, 27, 51, 52, 701, 702, 16383]
            .into_iter()
            .map(column_letter)
            .collect();
        assert_eq!(
            letters,
            ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA", "XFD"]
        );
    }

    #[test]
    fn digits() {
        assert_eq!(ascii_digit('٧'), Some('7'));
        assert_eq!(ascii_digit('۹'), Some('9'));
        assert_eq!(ascii_digit('0'), Some('0'));
        assert_eq!(ascii_digit('a'), None);
    }
}
