//! Reading beneficiary lists (`qafila_app::import`): data-driven cases over
//! CSV in every encoding and delimiter registrars produce, XLSX workbooks
//! generated here with rust_xlsxwriter, broken files, and seeded random
//! input that must never panic.
//!
//! Each case renders the result as text (see [`render`]) and compares it
//! with the expected text, so a failure shows the whole difference.

use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDate;
use qafila_app::import::{
    Field, Format, ImportError, ImportFile, MAX_FILE_BYTES, MAX_ROWS, RowProblem, read_bytes,
    read_file,
};
use rust_xlsxwriter::Workbook;

/// Valid national IDs: Cairo 1990-01-15, Dakahlia 1985-05-12, Gharbia 2002-03-01.
const ID_A: &str = "29001150101235";
const ID_B: &str = "28505121201234";
const ID_C: &str = "30203011600321";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()
}

// ---------------------------------------------------------------------------
// Rendering and the check helper
// ---------------------------------------------------------------------------

/// The result as text: a summary line, the columns, then one line per
/// data row, accepted (`ok`) or `refused` with its problem codes.
fn render(result: &Result<ImportFile, ImportError>) -> String {
    let file = match result {
        Ok(file) => file,
        Err(error) => {
            let detail = match error {
                ImportError::MissingColumns(fields) => format!(" {}", fields.join(",")),
                ImportError::TooLarge { rows, limit } => format!(" rows={rows} limit={limit}"),
                _ => String::new(),
            };
            return format!("error {}{detail}", error.code());
        }
    };
    let mut out = String::new();
    let delimiter = match file.delimiter {
        Some('\t') => "tab".to_owned(),
        Some(c) => c.to_string(),
        None => "-".to_owned(),
    };
    writeln!(
        out,
        "{} {} delimiter={delimiter} sheet={} header={}",
        file.format.as_str(),
        file.encoding,
        file.sheet.as_deref().unwrap_or("-"),
        file.columns.header_line
    )
    .unwrap();
    let columns: Vec<String> = file
        .columns
        .matched
        .iter()
        .map(|(field, column)| format!("{}={}«{}»", field.code(), column.letter(), column.header))
        .collect();
    writeln!(out, "columns {}", columns.join(" ")).unwrap();
    if !file.columns.ignored.is_empty() {
        let ignored: Vec<String> = file
            .columns
            .ignored
            .iter()
            .map(|column| format!("{}«{}»", column.letter(), column.header))
            .collect();
        writeln!(out, "ignored {}", ignored.join(" ")).unwrap();
    }
    if !file.other_sheets.is_empty() {
        writeln!(out, "other sheets {}", file.other_sheets.join(", ")).unwrap();
    }
    let mut lines: Vec<(usize, String)> = Vec::new();
    for row in &file.rows {
        lines.push((
            row.line,
            format!(
                "{} ok {} | {} | {} | {} | {} | {}",
                row.line,
                row.name,
                row.national_id.as_ref().map_or("-", |id| id.as_str()),
                row.household_size,
                row.village,
                row.phone.as_deref().unwrap_or("-"),
                row.household_ref.as_deref().unwrap_or("-"),
            ),
        ));
    }
    for row in &file.refused {
        let reasons: Vec<String> = row.reasons.iter().map(problem).collect();
        lines.push((
            row.line,
            format!("{} refused «{}» {}", row.line, row.name, reasons.join(" ")),
        ));
    }
    lines.sort();
    for (_, line) in lines {
        writeln!(out, "{line}").unwrap();
    }
    out
}

/// A problem's code, with the detail worth checking.
fn problem(problem: &RowProblem) -> String {
    match problem {
        RowProblem::BadNationalId(error) => format!("bad_national_id:{}", error.code()),
        RowProblem::BadHouseholdSize(text) => format!("bad_household_size:{text}"),
        RowProblem::BadPhone(text) => format!("bad_phone:{text}"),
        RowProblem::TooLong { field, limit } => format!("too_long:{}:{limit}", field.code()),
        RowProblem::DuplicateInFile { first_line } => format!("duplicate_in_file:{first_line}"),
        other => other.code().to_owned(),
    }
}

/// Lines with surrounding whitespace and blank lines removed, so expected
/// text can be indented in the source.
fn tidy(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

/// Compares one result with the expected text; `Err` describes a mismatch.
fn check(
    name: &str,
    result: &Result<ImportFile, ImportError>,
    expected: &str,
) -> Result<(), String> {
    let got = render(result);
    if tidy(&got) == tidy(expected) {
        Ok(())
    } else {
        Err(format!(
            "--- {name}: expected\n{}\n--- got\n{}",
            tidy(expected).join("\n"),
            tidy(&got).join("\n")
        ))
    }
}

/// Runs cases and reports every failure at once.
fn check_all(cases: Vec<(&str, Result<ImportFile, ImportError>, &str)>) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, result, expected)| check(name, result, expected).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn csv(text: &str) -> Result<ImportFile, ImportError> {
    read_bytes(text.as_bytes(), Format::Csv, today())
}

fn csv_bytes(bytes: &[u8]) -> Result<ImportFile, ImportError> {
    read_bytes(bytes, Format::Csv, today())
}

// ---------------------------------------------------------------------------
// XLSX generation
// ---------------------------------------------------------------------------

/// A cell for a generated workbook.
#[derive(Clone, Copy)]
enum Cell<'a> {
    Text(&'a str),
    Number(f64),
    Blank,
}
use Cell::{Blank, Number, Text};

/// Writes a workbook of named sheets, each given as rows of cells.
fn write_xlsx(path: &Path, sheets: &[(&str, Vec<Vec<Cell<'_>>>)]) {
    let mut workbook = Workbook::new();
    for (name, rows) in sheets {
        let sheet = workbook.add_worksheet();
        sheet.set_name(*name).unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (u32::try_from(r).unwrap(), u16::try_from(c).unwrap());
                match cell {
                    Text(text) => {
                        sheet.write_string(r, c, *text).unwrap();
                    }
                    Number(number) => {
                        sheet.write_number(r, c, *number).unwrap();
                    }
                    Blank => {}
                }
            }
        }
    }
    workbook.save(path).unwrap();
}

fn xlsx(
    dir: &Path,
    file: &str,
    sheets: &[(&str, Vec<Vec<Cell<'_>>>)],
) -> Result<ImportFile, ImportError> {
    let path = dir.join(file);
    write_xlsx(&path, sheets);
    read_file(&path, today())
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

#[test]
fn csv_files() {
    let windows_1256 = {
        let text = "الاسم;الرقم القومي;عدد الافراد;القرية\r\n\
                    \"عبد الله؛ محمد\";28505121201234;4;كفر الشيخ\r\n\
                    شيماء عادل;;2;\"قرية; بعيدة\"\r\n";
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1256.encode(text);
        assert!(!unmappable);
        bytes.into_owned()
    };
    let utf16 = {
        let text = "Name\tVillage\tMembers\r\nSara Ali\tميت غمر\t3\r\n";
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    };
    let cases = vec![
        (
            "arabic headers, UTF-8 without BOM, an unknown column",
            csv(&format!(
                "الاسم,الرقم القومي,عدد الافراد,القرية,الموبايل,ملاحظات\n\
                 محمد أحمد علي حسن,{ID_A},5,ميت غمر,01001234567,أرملة\n  \
                 فاطمة   محمود السيد ,,3,ميت غمر,,\n"
            )),
            "csv UTF-8 delimiter=, sheet=- header=1
             columns name=A«الاسم» national_id=B«الرقم القومي» household_size=C«عدد الافراد» village=D«القرية» phone=E«الموبايل»
             ignored F«ملاحظات»
             2 ok محمد أحمد علي حسن | 29001150101235 | 5 | ميت غمر | 01001234567 | -
             3 ok فاطمة محمود السيد | - | 3 | ميت غمر | - | -",
        ),
        (
            "UTF-8 BOM, English headers, CRLF, household column",
            csv(&format!(
                "\u{FEFF}Name,National ID,Household Size,Village,Phone,Household ID\r\n\
                 Ahmed Mohamed,{ID_A},4,Mit Ghamr,+20 100 123 4567,H-7\r\n\
                 Mona Ahmed,{ID_B},4,Mit Ghamr,,H-7\r\n"
            )),
            "csv UTF-8 delimiter=, sheet=- header=1
             columns name=A«Name» national_id=B«National ID» household_size=C«Household Size» village=D«Village» phone=E«Phone» household=F«Household ID»
             2 ok Ahmed Mohamed | 29001150101235 | 4 | Mit Ghamr | 01001234567 | H-7
             3 ok Mona Ahmed | 28505121201234 | 4 | Mit Ghamr | - | H-7",
        ),
        (
            "Windows-1256 with semicolons and quoted cells",
            csv_bytes(&windows_1256),
            "csv windows-1256 delimiter=; sheet=- header=1
             columns name=A«الاسم» national_id=B«الرقم القومي» household_size=C«عدد الافراد» village=D«القرية»
             2 ok عبد الله؛ محمد | 28505121201234 | 4 | كفر الشيخ | - | -
             3 ok شيماء عادل | - | 2 | قرية; بعيدة | - | -",
        ),
        (
            "UTF-16LE with BOM and tabs (Excel's Unicode text)",
            csv_bytes(&utf16),
            "csv UTF-16LE delimiter=tab sheet=- header=1
             columns name=A«Name» household_size=C«Members» village=B«Village»
             2 ok Sara Ali | - | 3 | ميت غمر | - | -",
        ),
        (
            "tab delimiter, English header variants",
            csv(&format!(
                "Full_Name\tNID\tFamily Size\tVILLAGE\tMobile\n\
                 Sara Ali\t{ID_C}\t2\tTala\t01551234567\n"
            )),
            "csv UTF-8 delimiter=tab sheet=- header=1
             columns name=A«Full_Name» national_id=B«NID» household_size=C«Family Size» village=D«VILLAGE» phone=E«Mobile»
             2 ok Sara Ali | 30203011600321 | 2 | Tala | 01551234567 | -",
        ),
        (
            "semicolon with commas inside names",
            csv("name;village;members\nAli, Hassan;Tala;1\n"),
            "csv UTF-8 delimiter=; sheet=- header=1
             columns name=A«name» household_size=C«members» village=B«village»
             2 ok Ali, Hassan | - | 1 | Tala | - | -",
        ),
        (
            "bilingual headers and a title row above them",
            csv("كشف المستفيدين - قافلة مارس\n\
                 الاسم / Name,القرية / Village,عدد الأفراد / Members,م\n\
                 حسن علي,تلا,6,1\n"),
            "csv UTF-8 delimiter=, sheet=- header=2
             columns name=A«الاسم / Name» household_size=C«عدد الأفراد / Members» village=B«القرية / Village»
             ignored D«م»
             3 ok حسن علي | - | 6 | تلا | - | -",
        ),
        (
            "Eastern Arabic and Persian digits",
            csv("الاسم,الرقم القومي,عدد الافراد,القرية,الموبايل\n\
                 علي حسن,٢٩٠٠١١٥٠١٠١٢٣٥,٥,ميت غمر,٠١٠٠١٢٣٤٥٦٧\n\
                 منى سعيد,۲۸۵۰۵۱۲۱۲۰۱۲۳۴,۱۲,ميت غمر,۰۱۱ ۲۲۳ ۴۴۵۵۶\n\
                 سعاد علي,٣٠٢٠٣٠١١٦٠٠٣٢١,٦١,ميت غمر,٠١٣٠٠١٢٣٤٥٦\n"),
            "csv UTF-8 delimiter=, sheet=- header=1
             columns name=A«الاسم» national_id=B«الرقم القومي» household_size=C«عدد الافراد» village=D«القرية» phone=E«الموبايل»
             2 ok علي حسن | 29001150101235 | 5 | ميت غمر | 01001234567 | -
             3 ok منى سعيد | 28505121201234 | 12 | ميت غمر | 01122344556 | -
             4 refused «سعاد علي» bad_household_size:٦١ bad_phone:٠١٣٠٠١٢٣٤٥٦",
        ),
        (
            "every problem of a row is listed",
            csv("name,national id,household size,village,phone\n\
                 ,2900115010123,0,,123\n\
                 Ali,39901010100011,x,Tala,\n\
                 Mona,2.90012E+13,3,#N/A,\n\
                 #N/A,,,,\n"),
            "csv UTF-8 delimiter=, sheet=- header=1
             columns name=A«name» national_id=B«national id» household_size=C«household size» village=D«village» phone=E«phone»
             2 refused «» missing_name bad_national_id:nid_length bad_household_size:0 missing_village bad_phone:123
             3 refused «Ali» bad_national_id:nid_future_date bad_household_size:x
             4 refused «Mona» national_id_rounded missing_village
             5 refused «#N/A» missing_name missing_household_size missing_village",
        ),
        (
            "a national ID Excel wrote in full scientific notation is exact",
            csv("name,nid,size,village\nAli,2.9001150101235E+13,3,Tala\n"),
            "csv UTF-8 delimiter=, sheet=- header=1
             columns name=A«name» national_id=B«nid» household_size=C«size» village=D«village»
             2 ok Ali | 29001150101235 | 3 | Tala | - | -",
        ),
        (
            "duplicate national ID, however it is typed",
            csv(&format!(
                "name,nid,size,village\n\
                 Ali,{ID_A},3,Tala\n\
                 Hassan,{ID_B},3,Tala\n\
                 Ali again,٢٩٠-٠١١٥-٠١٠١٢٣٥,3,Tala\n\
                 Ali thrice,{ID_A},0,Tala\n"
            )),
            "csv UTF-8 delimiter=, sheet=- header=1
             columns name=A«name» national_id=B«nid» household_size=C«size» village=D«village»
             2 ok Ali | 29001150101235 | 3 | Tala | - | -
             3 ok Hassan | 28505121201234 | 3 | Tala | - | -
             4 refused «Ali again» duplicate_in_file:2
             5 refused «Ali thrice» bad_household_size:0 duplicate_in_file:2",
        ),
        (
            "blank rows are skipped but counted in row numbers",
            csv("م,الاسم,القرية,عدد الافراد\n\
                 \n\
                 1,علي,تلا,3\n\
                 2,,,\n\
                 ,,,\n\
                 \u{200F} , ,\t,\n\
                 \n\
                 3,منى,تلا,4\n\
                 4,,,\n\
                 5,,,\n"),
            "csv UTF-8 delimiter=, sheet=- header=1
             columns name=B«الاسم» household_size=D«عدد الافراد» village=C«القرية»
             ignored A«م»
             3 ok علي | - | 3 | تلا | - | -
             8 ok منى | - | 4 | تلا | - | -",
        ),
        (
            "a repeated header row is skipped",
            csv("name,village,size\nAli,Tala,3\nname,village,size\nMona,Tala,2\nname,Tala,2\n"),
            "csv UTF-8 delimiter=, sheet=- header=1
             columns name=A«name» household_size=C«size» village=B«village»
             2 ok Ali | - | 3 | Tala | - | -
             4 ok Mona | - | 2 | Tala | - | -
             5 ok name | - | 2 | Tala | - | -",
        ),
        (
            "a quoted cell over several lines is one row",
            csv("name,village,size\n\"Ali\nHassan\",Tala,3\nMona,Tala,2\n"),
            "csv UTF-8 delimiter=, sheet=- header=1
             columns name=A«name» household_size=C«size» village=B«village»
             2 ok Ali Hassan | - | 3 | Tala | - | -
             3 ok Mona | - | 2 | Tala | - | -",
        ),
        (
            "a second column for a field is ignored, the first wins",
            csv("name,village,size,full name\nAli,Tala,3,Ali Hassan\n"),
            "csv UTF-8 delimiter=, sheet=- header=1
             columns name=A«name» household_size=C«size» village=B«village»
             ignored D«full name»
             2 ok Ali | - | 3 | Tala | - | -",
        ),
        (
            "missing required columns are all listed",
            csv("الاسم,الرقم القومي\nعلي,29001150101235\n"),
            "error import_missing_columns household_size,village",
        ),
        (
            "no header at all",
            csv("a,b,c\n1,2,3\n"),
            "error import_missing_columns name,household_size,village",
        ),
        (
            "header only",
            csv("name,village,size\n,,\n\n"),
            "error import_empty",
        ),
        ("empty file", csv(""), "error import_empty"),
        ("blank file", csv(" \n\n,,\n\u{FEFF}"), "error import_empty"),
    ];
    check_all(cases);
}

#[test]
fn too_long_cells() {
    let long = "ا".repeat(201);
    let file = csv(&format!(
        "name,village,size,household\n{long},Tala,3,\nAli,{long},3,\nMona,Tala,3,{long}\nSara,Tala,3,{}\n",
        "x".repeat(100)
    ))
    .unwrap();
    let reasons: Vec<(usize, Vec<String>)> = file
        .refused
        .iter()
        .map(|row| (row.line, row.reasons.iter().map(problem).collect()))
        .collect();
    assert_eq!(
        reasons,
        [
            (2, vec!["too_long:name:200".to_owned()]),
            (3, vec!["too_long:village:200".to_owned()]),
            (4, vec!["too_long:household:100".to_owned()]),
        ]
    );
    assert_eq!(file.rows.len(), 1);
}

#[test]
fn too_many_rows() {
    let mut text = String::from("name,village,size\n");
    for _ in 0..=MAX_ROWS {
        text.push_str("a,v,1\n");
    }
    check_all(vec![(
        "one row over the limit",
        csv(&text),
        &format!(
            "error import_too_large rows={} limit={MAX_ROWS}",
            MAX_ROWS + 1
        ),
    )]);
}

#[test]
fn too_large_files_are_refused_before_reading() {
    let bytes = vec![b'a'; usize::try_from(MAX_FILE_BYTES).unwrap() + 1];
    let error = read_bytes(&bytes, Format::Csv, today()).unwrap_err();
    assert_eq!(error.code(), "import_file_too_large");

    // A sparse file: refused from its size alone, without reading 60 MB.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.csv");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(60 * 1024 * 1024)
        .unwrap();
    let error = read_file(&path, today()).unwrap_err();
    assert_eq!(error.code(), "import_file_too_large");
    assert!(
        error.message_en().contains("60.0 MB"),
        "{}",
        error.message_en()
    );
}

// ---------------------------------------------------------------------------
// Workbooks
// ---------------------------------------------------------------------------

#[test]
fn xlsx_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let header = || {
        vec![
            Blank,
            Text("الاسم الرباعي"),
            Text("الرقم القومى"),
            Text("عدد أفراد الأسرة"),
            Text("القريه"),
            Text("رقم التليفون"),
            Text("كود الأسرة"),
        ]
    };
    let cases = vec![
        (
            "title row, numbers for IDs, sizes and phones, header from column B",
            xlsx(
                d,
                "title.xlsx",
                &[(
                    "المستفيدين",
                    vec![
                        vec![Blank, Text("كشف المستفيدين — قافلة الشتاء")],
                        vec![],
                        header(),
                        vec![
                            Blank,
                            Text("محمد أحمد علي"),
                            Number(2.9001150101235E13),
                            Number(5.0),
                            Text("ميت غمر"),
                            Number(1001234567.0),
                            Number(12.0),
                        ],
                        vec![
                            Blank,
                            Text("منى سعيد"),
                            Text(ID_B),
                            Text("٤"),
                            Text("ميت غمر"),
                            Number(201001234567.0),
                            Number(12.0),
                        ],
                        vec![
                            Blank,
                            Text("حسن محمود"),
                            Number(290011501012350.0),
                            Number(5.5),
                            Text("ميت غمر"),
                            Blank,
                            Blank,
                        ],
                        vec![],
                        vec![Blank, Blank, Blank, Blank, Blank, Blank, Blank],
                        vec![
                            Blank,
                            Text("سعاد"),
                            Text(ID_C),
                            Number(2.0),
                            Text("تلا"),
                            Blank,
                            Blank,
                        ],
                    ],
                )],
            ),
            "xlsx UTF-8 delimiter=- sheet=المستفيدين header=3
             columns name=B«الاسم الرباعي» national_id=C«الرقم القومى» household_size=D«عدد أفراد الأسرة» village=E«القريه» phone=F«رقم التليفون» household=G«كود الأسرة»
             4 ok محمد أحمد علي | 29001150101235 | 5 | ميت غمر | 01001234567 | 12
             5 ok منى سعيد | 28505121201234 | 4 | ميت غمر | 01001234567 | 12
             6 refused «حسن محمود» bad_national_id:nid_length bad_household_size:5.5
             9 ok سعاد | 30203011600321 | 2 | تلا | - | -",
        ),
        (
            "first sheet with a header is read; others with content are listed",
            xlsx(
                d,
                "sheets.xlsx",
                &[
                    (
                        "تعليمات",
                        vec![vec![Text("اكتب الاسم رباعيًا")], vec![Text("الاسم")]],
                    ),
                    ("فارغة", vec![]),
                    (
                        "قرية تلا",
                        vec![
                            vec![Text("name"), Text("village"), Text("size")],
                            vec![Text("Ali"), Text("Tala"), Number(3.0)],
                        ],
                    ),
                    (
                        "قرية ميت غمر",
                        vec![
                            vec![Text("name"), Text("village"), Text("size")],
                            vec![Text("Mona"), Text("Mit Ghamr"), Number(2.0)],
                        ],
                    ),
                    ("فارغة 2", vec![vec![Blank, Text(" ")]]),
                ],
            ),
            "xlsx UTF-8 delimiter=- sheet=قرية تلا header=1
             columns name=A«name» household_size=C«size» village=B«village»
             other sheets تعليمات, قرية ميت غمر
             2 ok Ali | - | 3 | Tala | - | -",
        ),
        (
            "no sheet has all required columns: the best one is reported",
            xlsx(
                d,
                "missing.xlsx",
                &[
                    ("أ", vec![vec![Text("الاسم")], vec![Text("علي")]]),
                    (
                        "ب",
                        vec![
                            vec![Text("الاسم"), Text("القرية")],
                            vec![Text("علي"), Text("تلا")],
                        ],
                    ),
                ],
            ),
            "error import_missing_columns household_size",
        ),
        (
            "header without rows",
            xlsx(
                d,
                "header-only.xlsx",
                &[("1", vec![vec![Text("name"), Text("village"), Text("size")]])],
            ),
            "error import_empty",
        ),
        (
            "empty workbook",
            xlsx(d, "empty.xlsx", &[("1", vec![])]),
            "error import_empty",
        ),
    ];
    check_all(cases);
}

#[test]
fn broken_and_disguised_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.xlsx");
    write_xlsx(
        &good,
        &[(
            "1",
            vec![
                vec![Text("name"), Text("village"), Text("size")],
                vec![Text("Ali"), Text("Tala"), Number(3.0)],
            ],
        )],
    );
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.path().join("truncated.xlsx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = dir.path().join("garbage.xlsx");
    std::fs::write(&garbage, b"PK\x03\x04 this is not a zip archive at all").unwrap();
    let random = dir.path().join("random.xlsx");
    std::fs::write(&random, [0x8Fu8, 0x00, 0xFF, 0x13, 0x37].repeat(200)).unwrap();
    let renamed = dir.path().join("really-xlsx.xls");
    std::fs::write(&renamed, &bytes).unwrap();

    let mut encrypted = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    encrypted.extend([0u8; 200]);
    encrypted.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
    encrypted.extend([0u8; 200]);

    let html = "<html><body><table><tr><td>الاسم</td></tr></table></body></html>";
    let tsv = "name\tvillage\tsize\nAli\tTala\t3\n";

    let cases = vec![
        (
            "truncated xlsx",
            read_file(&truncated, today()),
            "error import_xlsx",
        ),
        (
            "garbage after a zip signature",
            read_file(&garbage, today()),
            "error import_xlsx",
        ),
        (
            "random bytes",
            read_file(&random, today()),
            "error import_xlsx",
        ),
        (
            "an encrypted workbook",
            read_bytes(&encrypted, Format::Xlsx, today()),
            "error import_protected",
        ),
        (
            "an old-format file that is not a real xls",
            read_bytes(&encrypted[..208], Format::Xls, today()),
            "error import_xlsx",
        ),
        (
            "an HTML page named .xls",
            read_bytes(html.as_bytes(), Format::Xls, today()),
            "error import_xlsx",
        ),
        (
            "tab-separated text named .xls is read as CSV",
            read_bytes(tsv.as_bytes(), Format::Xls, today()),
            "csv UTF-8 delimiter=tab sheet=- header=1
             columns name=A«name» household_size=C«size» village=B«village»
             2 ok Ali | - | 3 | Tala | - | -",
        ),
        (
            "an xlsx named .xls is read as xlsx",
            read_file(&renamed, today()),
            "xlsx UTF-8 delimiter=- sheet=1 header=1
             columns name=A«name» household_size=C«size» village=B«village»
             2 ok Ali | - | 3 | Tala | - | -",
        ),
        (
            "unknown extension",
            read_file(Path::new("list.pdf"), today()),
            "error import_unknown_format",
        ),
        (
            "no extension",
            read_file(Path::new("list"), today()),
            "error import_unknown_format",
        ),
        (
            "a file that does not exist",
            read_file(&dir.path().join("missing.csv"), today()),
            "error import_io",
        ),
    ];
    check_all(cases);

    let html_error = read_bytes(html.as_bytes(), Format::Xls, today()).unwrap_err();
    assert!(html_error.message_en().contains("web page"), "{html_error}");
    match read_file(Path::new("list.PDF"), today()) {
        Err(ImportError::UnknownFormat(extension)) => assert_eq!(extension, "PDF"),
        other => panic!("{other:?}"),
    }
    assert_eq!(Format::from_extension("XLSX"), Some(Format::Xlsx));
    assert_eq!(Format::from_extension("ods"), Some(Format::Ods));
    assert_eq!(Format::from_extension("docx"), None);
}

// ---------------------------------------------------------------------------
// Messages and privacy
// ---------------------------------------------------------------------------

fn all_problems() -> Vec<RowProblem> {
    let nid_error = qafila_domain::nid::NationalId::parse("123", today()).unwrap_err();
    vec![
        RowProblem::MissingName,
        RowProblem::BadNationalId(nid_error),
        RowProblem::NationalIdRounded,
        RowProblem::MissingHouseholdSize,
        RowProblem::BadHouseholdSize("خمسة".to_owned()),
        RowProblem::MissingVillage,
        RowProblem::BadPhone("0100".to_owned()),
        RowProblem::TooLong {
            field: Field::Village,
            limit: 200,
        },
        RowProblem::DuplicateInFile { first_line: 7 },
    ]
}

fn all_errors() -> Vec<ImportError> {
    vec![
        ImportError::Io(std::io::Error::from(std::io::ErrorKind::NotFound)),
        ImportError::UnknownFormat("pdf".to_owned()),
        ImportError::UnknownFormat(String::new()),
        ImportError::FileTooLarge {
            bytes: 60 << 20,
            limit: MAX_FILE_BYTES,
        },
        ImportError::Csv("x".to_owned()),
        ImportError::Xlsx("x".to_owned()),
        ImportError::Protected,
        ImportError::NoSheet,
        ImportError::MissingColumns(vec!["name", "village"]),
        ImportError::Empty,
        ImportError::TooLarge {
            rows: 100_001,
            limit: MAX_ROWS,
        },
    ]
}

fn has_arabic(text: &str) -> bool {
    text.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
}

#[test]
fn every_message_is_complete() {
    let mut codes = std::collections::HashSet::new();
    for problem in all_problems() {
        assert!(codes.insert(problem.code()), "{} twice", problem.code());
        assert!(!problem.message_en().is_empty());
        assert_eq!(problem.to_string(), problem.message_en());
        assert!(has_arabic(&problem.message_ar()), "{}", problem.code());
    }
    let mut codes = std::collections::HashSet::new();
    for error in all_errors() {
        codes.insert(error.code());
        assert!(error.code().starts_with("import_"));
        assert!(!error.message_en().is_empty());
        assert_eq!(error.to_string(), error.message_en());
        assert!(has_arabic(&error.message_ar()), "{}", error.code());
    }
    assert_eq!(codes.len(), 10);

    let missing = ImportError::MissingColumns(vec!["name", "village"]);
    let (en, ar) = (missing.message_en(), missing.message_ar());
    assert!(en.contains("«الاسم» or «name»"), "{en}");
    assert!(en.contains("«القرية» or «village»"), "{en}");
    assert!(ar.contains("«الاسم» أو «name»"), "{ar}");
    for field in Field::ALL {
        assert_eq!(Field::from_code(field.code()), Some(field));
        assert!(has_arabic(field.name_ar()));
    }
}

#[test]
fn no_personal_data_in_debug_or_errors() {
    let phone = "01001234567";
    let result = csv(&format!(
        "name,nid,size,village,phone\n\
         Ali Hassan Mahmoud,{ID_A},3,Tala,{phone}\n\
         Mona Saeed,{ID_B},0,Tala,0100999\n"
    ));
    let file = result.unwrap();
    let debug = format!("{file:?}");
    for secret in [ID_A, ID_B, "Ali Hassan", "Mona Saeed", phone, "0100999"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    // Errors about a file full of personal data quote none of it.
    let text = format!("nid,phone\n{ID_A},{phone}\n");
    let error = csv(&text).unwrap_err();
    for shown in [error.to_string(), format!("{error:?}"), error.message_ar()] {
        assert!(!shown.contains(ID_A) && !shown.contains(phone), "{shown}");
    }
    // A duplicate or bad national ID is never spelled out in its message.
    let file = csv(&format!(
        "name,nid,size,village\nA,{ID_A},1,v\nB,{ID_A},1,v\nC,2900115010123,1,v\n"
    ))
    .unwrap();
    for row in &file.refused {
        for reason in &row.reasons {
            for shown in [
                reason.message_en(),
                reason.message_ar(),
                format!("{reason:?}"),
            ] {
                assert!(
                    !shown.contains(ID_A) && !shown.contains("2900115010123"),
                    "{shown}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Seeded random input
// ---------------------------------------------------------------------------

/// A small deterministic generator (xorshift64*), so a failure names a
/// seed that replays it.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Pieces random files are made of: what the parsers branch on.
const FRAGMENTS: &[&[u8]] = &[
    b",",
    b";",
    b"\t",
    b"\n",
    b"\r\n",
    b"\r",
    b"\"",
    b"\"\"",
    b" ",
    b"'",
    b"#N/A",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\xFE\xFF",
    b"\0",
    b"\xC7\xE1",
    b"\xFF",
    b"\x80",
    "الاسم".as_bytes(),
    "القرية".as_bytes(),
    "عدد الافراد".as_bytes(),
    "الرقم القومي".as_bytes(),
    b"name",
    b"village",
    b"size",
    b"phone",
    b"nid",
    b"household",
    b"29001150101235",
    "٢٩٠٠١١٥٠١٠١٢٣٥".as_bytes(),
    b"2.90012E+13",
    b"2.9001150101235E+13",
    b"5",
    "٥".as_bytes(),
    b"0",
    b"61",
    b"5.0",
    b"+20",
    b"01001234567",
    b"E+99999",
    "\u{200F}".as_bytes(),
    "ﻣﺤﻤﺪ".as_bytes(),
    b"PK\x03\x04",
    b"2.9E+18446744073709551615",
];

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = Vec::new();
    let pieces = rng.below(200);
    for _ in 0..pieces {
        if rng.below(4) == 0 {
            bytes.push(u8::try_from(rng.below(256)).unwrap());
        } else {
            let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())];
            bytes.extend_from_slice(fragment);
        }
    }
    bytes
}

#[test]
fn random_bytes_never_panic() {
    for seed in 0..3_000u64 {
        let mut rng = Rng::new(seed);
        let mut bytes = random_bytes(&mut rng);
        // Start some with a real header so the row checks run too.
        if seed % 3 == 0 {
            let mut with_header = b"name,village,size,nid,phone,household\n".to_vec();
            with_header.extend(bytes);
            bytes = with_header;
        }
        let result = std::panic::catch_unwind(|| read_bytes(&bytes, Format::Csv, today()));
        let Ok(result) = result else {
            panic!("seed {seed} panicked on {bytes:?}");
        };
        if let Ok(file) = result {
            let lines: Vec<usize> = file
                .rows
                .iter()
                .map(|r| r.line)
                .chain(file.refused.iter().map(|r| r.line))
                .collect();
            assert!(
                lines.iter().all(|l| *l > file.columns.header_line),
                "seed {seed}"
            );
            assert!(
                file.refused.iter().all(|r| !r.reasons.is_empty()),
                "seed {seed}"
            );
        }
    }
}

#[test]
fn random_workbook_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.xlsx");
    write_xlsx(
        &path,
        &[(
            "1",
            vec![
                vec![Text("name"), Text("village"), Text("size")],
                vec![Text("Ali"), Text("Tala"), Number(3.0)],
            ],
        )],
    );
    let good = std::fs::read(&path).unwrap();
    for seed in 0..1_000u64 {
        let mut rng = Rng::new(seed);
        // Flip a few bytes of a real workbook, or cut it short.
        let mut bytes = good.clone();
        for _ in 0..=rng.below(8) {
            let at = rng.below(bytes.len());
            bytes[at] = u8::try_from(rng.below(256)).unwrap();
        }
        if rng.below(4) == 0 {
            bytes.truncate(rng.below(bytes.len()));
        }
        // And an old-format (CFB) header followed by noise.
        let mut cfb = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        cfb.extend(random_bytes(&mut rng));
        cfb.resize(cfb.len().max(512 + rng.below(2048)), 0);
        for byte in cfb.iter_mut().skip(8) {
            if rng.below(3) == 0 {
                *byte = u8::try_from(rng.below(256)).unwrap();
            }
        }
        for format in [Format::Xlsx, Format::Xls, Format::Ods] {
            for input in [&bytes, &cfb] {
                let outcome = std::panic::catch_unwind(|| read_bytes(input, format, today()));
                assert!(outcome.is_ok(), "seed {seed} panicked as {format:?}");
            }
        }
    }
}

/// One field's candidate values, each with the problem it should raise.
type Pool = &'static [(&'static str, Option<&'static str>)];

const NAMES: Pool = &[
    ("محمد أحمد علي", None),
    ("  فاطمة  محمود ", None),
    ("Sara Ali", None),
    ("", Some("missing_name")),
    ("#N/A", Some("missing_name")),
    ("-", Some("missing_name")),
];
const IDS: Pool = &[
    ("", None),
    ("29001150101235", None),
    ("٢٨٥٠٥١٢١٢٠١٢٣٤", None),
    ("302-0301-1600321", None),
    ("2900115010123", Some("bad_national_id")),
    ("19001150101235", Some("bad_national_id")),
    ("2.90012E+13", Some("national_id_rounded")),
];
const SIZES: Pool = &[
    ("5", None),
    ("٦٠", None),
    ("3.0", None),
    ("", Some("missing_household_size")),
    ("0", Some("bad_household_size")),
    ("٦١", Some("bad_household_size")),
    ("two", Some("bad_household_size")),
];
const VILLAGES: Pool = &[
    ("ميت غمر", None),
    ("Tala", None),
    ("", Some("missing_village")),
];
const PHONES: Pool = &[
    ("", None),
    ("01001234567", None),
    ("+20 155 123 4567", None),
    ("٠١٢٢٣٤٥٦٧٨٩", None),
    ("0482345678", Some("bad_phone")),
    ("010", Some("bad_phone")),
];

#[test]
fn generated_rows_match_a_reference() {
    for seed in 0..20u64 {
        let mut rng = Rng::new(seed);
        let delimiter = *rng.pick(&[',', ';', '\t']);
        let mut text = ["الاسم", "الرقم القومي", "عدد الافراد", "القرية", "الموبايل"]
            .join(&delimiter.to_string());
        text.push('\n');
        let mut expected: Vec<(usize, Vec<String>)> = Vec::new();
        let mut seen: Vec<(String, usize)> = Vec::new();
        let mut line = 1;
        for _ in 0..300 {
            line += 1;
            if rng.below(10) == 0 {
                text.push('\n'); // a blank line: skipped, but counted
                continue;
            }
            let cells = [NAMES, IDS, SIZES, VILLAGES, PHONES].map(|pool| *rng.pick(pool));
            let values: Vec<&str> = cells.iter().map(|(value, _)| *value).collect();
            text.push_str(&values.join(&delimiter.to_string()));
            text.push('\n');
            if values.iter().all(|v| v.trim().is_empty()) {
                continue;
            }
            let mut codes: Vec<String> = cells
                .iter()
                .filter_map(|(_, problem)| problem.map(str::to_owned))
                .collect();
            let (id, id_problem) = cells[1];
            if !id.is_empty() && id_problem.is_none() {
                let canonical = qafila_domain::nid::NationalId::parse(id, today())
                    .unwrap()
                    .as_str()
                    .to_owned();
                match seen.iter().find(|(seen_id, _)| *seen_id == canonical) {
                    Some(_) => codes.push("duplicate_in_file".to_owned()),
                    None => seen.push((canonical, line)),
                }
            }
            expected.push((line, codes));
        }
        let file = read_bytes(text.as_bytes(), Format::Csv, today())
            .unwrap_or_else(|error| panic!("seed {seed}: {error:?}"));
        assert_eq!(file.delimiter, Some(delimiter), "seed {seed}");
        let mut got: Vec<(usize, Vec<String>)> = file
            .rows
            .iter()
            .map(|row| (row.line, Vec::new()))
            .chain(file.refused.iter().map(|row| {
                (
                    row.line,
                    row.reasons.iter().map(|r| r.code().to_owned()).collect(),
                )
            }))
            .collect();
        got.sort();
        assert_eq!(got, expected, "seed {seed}");
        for row in &file.rows {
            assert!((1..=60).contains(&row.household_size), "seed {seed}");
            assert!(
                !row.name.starts_with(' ') && !row.name.contains("  "),
                "seed {seed}"
            );
            if let Some(phone) = &row.phone {
                assert!(phone.len() == 11 && phone.starts_with("01"), "seed {seed}");
            }
        }
    }
}
