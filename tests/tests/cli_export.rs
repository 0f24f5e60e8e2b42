//! Exports end to end: a convoy's day through the real `qafila` binary and a
//! real relay, exported as CSV and XLSX (with and without HXL) and read back
//! by readers that are not ours — Python's `csv` module and openpyxl — with
//! the Arabic intact and no beneficiary's name in them; the registrar's
//! marked personal list; and HQ's roll-up on a device enrolled in two
//! convoys that served the same family on the same day.

use std::path::Path;
use std::process::Command;

use qafila_e2e::{Device, RelayProcess, convoy};
use serde_json::Value;

const SITE: &str = "دير مواس";
const VILLAGE: &str = "كفر الشيخ سالم";
const OTHER_VILLAGE: &str = "نزلة عبيد";
const ASSOCIATION: &str = "جمعية رسالة";
const DISTRICT: &str = "ملوي";
const MINYA: &str = "المنيا";

const FATMA: (&str, &str, &str) = ("فاطمة محمد عبد الرحمن", "5", "29001011234567");
const KARIM: (&str, &str, &str) = ("كريم محمود السيد", "3", "28805151234568");
const HUDA: (&str, &str, &str) = ("هدى سعيد الجمال", "4", "29203031234569");

/// The Python Debian's `python3-openpyxl` installs into (a pyenv `python3`
/// earlier on PATH would not see it).
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn run_python(script: &str, file: &Path) -> Value {
    let out = Command::new(python())
        .args(["-c", script])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("python3 must be installed (make test installs it): {e}"));
    assert!(
        out.status.success(),
        "python3 could not read {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// openpyxl's view of a workbook's active sheet: names, direction, frozen
/// cell, whether the header row is bold, and every value.
const READ_XLSX: &str = r#"
import json, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
ws = wb.active
header = 2 if str(ws["A1"].value).startswith("بيانات شخصية") else 1
print(json.dumps({
    "sheets": wb.sheetnames,
    "rtl": bool(ws.sheet_view.rightToLeft),
    "freeze": ws.freeze_panes,
    "header_bold": bool(ws.cell(row=header, column=1).font.b),
    "rows": [list(r) for r in ws.iter_rows(values_only=True)],
}, ensure_ascii=False, default=str))
"#;

/// Python's `csv` module reading the file as Excel would (BOM stripped).
const READ_CSV: &str = r#"
import csv, json, sys
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    print(json.dumps(list(csv.reader(f)), ensure_ascii=False))
"#;

fn today_range() -> (String, String) {
    // The CLI dates hand-outs with the convoy's day; a day either side
    // keeps a run across the day's end from missing them.
    let today: chrono::NaiveDate = today().parse().unwrap();
    (
        (today - chrono::Days::new(1)).to_string(),
        (today + chrono::Days::new(1)).to_string(),
    )
}

fn today() -> String {
    qafila_e2e::convoy_today()
}

fn register(device: &Device, (name, size, nid): (&str, &str, &str), village: &str) -> String {
    let added = device.ok(&[
        "beneficiary",
        "add",
        "--name",
        name,
        "--household-size",
        size,
        "--village",
        village,
        "--nid",
        nid,
    ]);
    added["beneficiary"].as_str().expect("an id").to_owned()
}

fn hand_out(device: &Device, who: &str, item: &str, qty: &str, site: &str) -> String {
    let done = device.ok(&["handout", "--item", item, "--qty", qty, "--site", site, who]);
    done["event"].as_str().expect("an event id").to_owned()
}

fn export(device: &Device, out: &Path, extra: &[&str]) -> Value {
    let (from, to) = today_range();
    let out = out.display().to_string();
    let mut args = vec!["export", "--from", &from, "--to", &to, "--out", &out];
    args.extend_from_slice(extra);
    device.ok(&args)
}

fn text(cell: &Value) -> &str {
    cell.as_str().unwrap_or_default()
}

fn number(cell: &Value) -> f64 {
    cell.as_f64()
        .or_else(|| cell.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {cell}"))
}

/// The data row of a distribution export for a village and item code.
fn distribution_row<'a>(rows: &'a [Value], village: &str, item: &str) -> &'a Vec<Value> {
    rows.iter()
        .filter_map(Value::as_array)
        .find(|r| r.len() > 8 && text(&r[6]) == village && text(&r[8]) == item)
        .unwrap_or_else(|| panic!("no row for {village} / {item}: {rows:?}"))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Asserts no cell of any row holds a registered name or national ID.
fn assert_no_personal_data(rows: &[Value], what: &str) {
    let all = serde_json::to_string(rows).unwrap();
    for (name, _, nid) in [FATMA, KARIM, HUDA] {
        assert!(!all.contains(name), "{what} holds the name {name}: {all}");
        let first = name.split(' ').next().unwrap();
        assert!(!all.contains(first), "{what} holds the name {first}: {all}");
        assert!(!all.contains(nid), "{what} holds a national ID: {all}");
    }
}

#[test]
fn a_lead_exports_the_day_for_spreadsheets_and_hxl_tools_without_names() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let (lead, volunteers) = convoy(&relay.url, SITE, 1);
    let volunteer = &volunteers[0];

    let fatma = register(&lead, FATMA, VILLAGE);
    let karim = register(&lead, KARIM, VILLAGE);
    let huda = register(&lead, HUDA, OTHER_VILLAGE);
    lead.ok(&["cards", "issuer", "--association", ASSOCIATION]);
    let issued = lead.ok(&["cards", "issue", "--beneficiary", &fatma]);
    let card = issued["issued"][0]["number"].as_str().unwrap().to_owned();
    lead.ok(&["sync"]);
    volunteer.ok(&["sync"]);

    // Offline, both devices serve Fatma's household a food box (one
    // household, two boxes); the lead serves Karim's and Huda's, and voids a
    // food box recorded for Huda by mistake.
    hand_out(volunteer, &fatma, "food_box", "1", SITE);
    hand_out(&lead, &fatma, "food_box", "1", SITE);
    hand_out(&lead, &karim, "food_box", "1", SITE);
    hand_out(&lead, &karim, "blanket", "1", SITE);
    hand_out(&lead, &huda, "meat_kg", "1", SITE);
    let wrong = hand_out(&lead, &huda, "food_box", "1", SITE);
    lead.ok(&["void", &wrong, "--reason", "اتسجل بالغلط"]);
    volunteer.ok(&["sync"]);
    lead.ok(&["sync"]);

    // Before the lead describes the site, the export says what is missing.
    let out = dir.path().join("distribution.csv");
    let written = export(&lead, &out, &[]);
    assert_eq!(
        written["warnings"][0]["code"], "site_not_described",
        "{written}"
    );
    assert_eq!(written["warnings"][0]["site"], SITE);
    assert!(
        text(&written["warnings"][0]["message"]).contains("qafila site describe"),
        "{written}"
    );
    let rows = run_python(READ_CSV, &out);
    let rows = rows.as_array().unwrap();
    assert_eq!(text(&distribution_row(rows, VILLAGE, "food_box")[3]), "");

    lead.ok(&[
        "site",
        "describe",
        SITE,
        "--governorate",
        "24",
        "--district",
        DISTRICT,
        "--association",
        ASSOCIATION,
    ]);

    // CSV without HXL: headers, then data; bytes as Excel wants them.
    let written = export(&lead, &out, &["--format", "csv"]);
    assert_eq!(written["rows"], 3, "{written}");
    assert_eq!(written["hxl"], false);
    assert_eq!(written["personal_data"], false);
    assert_eq!(written["warnings"], serde_json::json!([]));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF], "a UTF-8 byte-order mark");
    assert_eq!(
        bytes.iter().filter(|b| **b == b'\n').count(),
        bytes.windows(2).filter(|w| w == b"\r\n").count(),
        "every line ends in CRLF"
    );
    for (name, _, nid) in [FATMA, KARIM, HUDA] {
        assert!(!contains(&bytes, name), "the CSV holds {name}");
        assert!(!contains(&bytes, nid), "the CSV holds a national ID");
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "exports are for their owner only");
    }
    let rows = run_python(READ_CSV, &out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4, "a header and three rows: {rows:?}");
    assert_eq!(text(&rows[0][0]), "التاريخ (Date)");
    assert!(
        !text(&rows[1][0]).starts_with('#'),
        "no HXL row unless asked"
    );
    let boxes = distribution_row(rows, VILLAGE, "food_box");
    let day = today();
    let expected = [
        day.as_str(),
        SITE,
        ASSOCIATION,
        MINYA,
        "24",
        DISTRICT,
        VILLAGE,
        "كرتونة مواد غذائية",
        "food_box",
        // Three boxes, two households (Fatma's counted once), 5 + 3 people.
        "3",
        "2",
        "8",
    ];
    let got: Vec<&str> = boxes.iter().map(text).collect();
    assert_eq!(got, expected);
    let meat = distribution_row(rows, OTHER_VILLAGE, "meat_kg");
    assert_eq!(text(&meat[7]), "لحوم");
    assert_eq!(
        (text(&meat[9]), text(&meat[10]), text(&meat[11])),
        ("1", "1", "4")
    );
    assert!(
        !rows
            .iter()
            .any(|r| text(&r[6]) == OTHER_VILLAGE && text(&r[8]) == "food_box"),
        "the voided box is not exported: {rows:?}"
    );
    assert_no_personal_data(rows, "the CSV");

    // CSV with HXL: the hashtag row under the headers.
    let hxl_csv = dir.path().join("distribution-hxl.csv");
    let written = export(&lead, &hxl_csv, &["--hxl"]);
    assert_eq!(written["hxl"], true);
    assert_eq!(written["format"], "csv");
    let rows = run_python(READ_CSV, &hxl_csv);
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows[1],
        serde_json::json!([
            "#date",
            "#loc+site",
            "#org+name",
            "#adm1+name",
            "#adm1+code",
            "#adm2+name",
            "#loc+name",
            "#item+name",
            "#item+code",
            "#output+num",
            "#reached+hh",
            "#reached+ind"
        ])
    );
    assert_eq!(rows.len(), 5);
    let blankets = distribution_row(rows, VILLAGE, "blanket");
    assert_eq!((text(&blankets[9]), text(&blankets[10])), ("1", "1"));

    // XLSX, with and without HXL, as openpyxl sees it.
    let xlsx = dir.path().join("distribution.xlsx");
    let written = export(&lead, &xlsx, &["--format", "xlsx", "--hxl"]);
    assert_eq!(written["format"], "xlsx");
    let book = run_python(READ_XLSX, &xlsx);
    assert_eq!(book["rtl"], true, "a right-to-left sheet: {book}");
    assert_eq!(book["freeze"], "A3", "headers and hashtags stay in view");
    assert_eq!(book["header_bold"], true);
    let rows = book["rows"].as_array().unwrap();
    assert_eq!(text(&rows[0][6]), "القرية (Village)");
    assert_eq!(text(&rows[1][9]), "#output+num");
    let boxes = distribution_row(rows, VILLAGE, "food_box");
    assert_eq!(text(&boxes[3]), MINYA);
    assert_eq!(text(&boxes[5]), DISTRICT);
    assert_eq!(text(&boxes[7]), "كرتونة مواد غذائية");
    assert!(boxes[9].is_number(), "quantities are numbers: {boxes:?}");
    assert_eq!(number(&boxes[9]), 3.0);
    assert_eq!(number(&boxes[10]), 2.0);
    assert_eq!(number(&boxes[11]), 8.0);
    assert_no_personal_data(rows, "the XLSX");

    let plain = dir.path().join("distribution-plain.xlsx");
    export(&lead, &plain, &[]);
    let book = run_python(READ_XLSX, &plain);
    assert_eq!(book["rtl"], true);
    assert_eq!(book["freeze"], "A2");
    let rows = book["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "no hashtag row: {rows:?}");
    assert!(!text(&rows[1][0]).starts_with('#'));

    // The 5W summary with HXL.
    let five_w = dir.path().join("5w.csv");
    let written = export(&lead, &five_w, &["--kind", "5w", "--hxl"]);
    assert_eq!(written["kind"], "5w");
    let rows = run_python(READ_CSV, &five_w);
    let rows = rows.as_array().unwrap();
    assert_eq!(text(&rows[1][0]), "#org+name");
    assert_eq!(text(&rows[1][7]), "#date+start");
    let boxes = rows
        .iter()
        .find(|r| text(&r[4]) == VILLAGE && text(&r[6]) == "food_box")
        .unwrap_or_else(|| panic!("{rows:?}"));
    let got: Vec<&str> = boxes.as_array().unwrap().iter().map(text).collect();
    assert_eq!(
        got,
        [
            ASSOCIATION,
            MINYA,
            "24",
            DISTRICT,
            VILLAGE,
            "كرتونة مواد غذائية",
            "food_box",
            today().as_str(),
            today().as_str(),
            "3",
            "2",
            "8"
        ]
    );
    assert_no_personal_data(rows, "the 5W");

    // The registrar's list: names, marked, never under another name.
    let unmarked = dir.path().join("registrar-list.xlsx");
    let (code, stderr) = lead.fails(&[
        "export",
        "--kind",
        "personal",
        "--out",
        &unmarked.display().to_string(),
    ]);
    assert_eq!(code, "personal_name_required", "{stderr}");
    assert!(stderr.contains("registrar-personal-data.xlsx"), "{stderr}");
    assert!(!unmarked.exists());
    let personal = dir.path().join("registrar-personal-data.xlsx");
    let written = lead.ok(&[
        "export",
        "--kind",
        "personal",
        "--out",
        &personal.display().to_string(),
    ]);
    assert_eq!(written["personal_data"], true);
    assert_eq!(written["rows"], 3);
    let book = run_python(READ_XLSX, &personal);
    assert_eq!(book["sheets"][0], "بيانات شخصية - Personal data");
    assert_eq!(book["rtl"], true);
    let rows = book["rows"].as_array().unwrap();
    assert_eq!(
        text(&rows[0][0]),
        "بيانات شخصية — Personal data: handle and delete according to the data policy"
    );
    let fatma_row = rows
        .iter()
        .find(|r| text(&r[0]) == FATMA.0)
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(text(&fatma_row[1]), VILLAGE);
    assert_eq!(number(&fatma_row[2]), 5.0);
    assert_eq!(text(&fatma_row[3]), card);
    let all = serde_json::to_string(rows).unwrap();
    for (_, _, nid) in [FATMA, KARIM, HUDA] {
        assert!(!all.contains(nid), "national IDs stay out even here: {all}");
    }
    let personal_csv = dir.path().join("personal.csv");
    lead.ok(&[
        "export",
        "--kind",
        "personal",
        "--out",
        &personal_csv.display().to_string(),
    ]);
    let rows = run_python(READ_CSV, &personal_csv);
    assert!(text(&rows[0][0]).starts_with("بيانات شخصية — Personal data"));

    // Mistakes get clear answers in both languages.
    let (from, to) = today_range();
    let (code, stderr) = lead.fails(&[
        "export",
        "--format",
        "xlsx",
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        &dir.path().join("x.csv").display().to_string(),
    ]);
    assert_eq!(code, "export_format_mismatch", "{stderr}");
    assert!(
        stderr.contains("--format xlsx") && stderr.contains(".csv"),
        "{stderr}"
    );
    assert!(stderr.contains("خطأ"), "{stderr}");
    let (code, stderr) = lead.fails(&[
        "export",
        "--from",
        &to,
        "--to",
        &from,
        "--out",
        &dir.path().join("x.csv").display().to_string(),
    ]);
    assert_eq!(code, "date_range", "{stderr}");
    let (code, _) = lead.fails(&[
        "export",
        "--from",
        "2026-13-01",
        "--to",
        &to,
        "--out",
        &dir.path().join("x.csv").display().to_string(),
    ]);
    assert_eq!(code, "invalid_date");
    let (code, stderr) = lead.fails(&[
        "export",
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        &out.join("inside-a-file.csv").display().to_string(),
    ]);
    assert_eq!(code, "output_dir_missing", "{stderr}");

    // A person reads what was written.
    let run = lead.run(&[
        "export",
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&out.display().to_string()),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("personal data: none"), "{}", run.stdout);
}

#[test]
fn hq_counts_a_family_served_by_two_convoys_on_one_day_once() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let url = relay.url.as_str();
    let site_b = "صنبو";

    // Two convoys of one association; HQ is enrolled in both.
    let lead_a = Device::initialised("Lead A");
    let lead_b = Device::initialised("Lead B");
    let hq = Device::initialised("HQ");
    let create = |lead: &Device, name: &str, site: &str| {
        let created = lead.ok(&[
            "convoy",
            "create",
            "--name",
            name,
            "--date",
            &today(),
            "--site",
            site,
            "--relay",
            url,
            "--codes",
            "2",
        ]);
        let codes: Vec<String> = created["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        (created["id"].as_str().unwrap().to_owned(), codes)
    };
    let (a, codes_a) = create(&lead_a, "قافلة ملوي", SITE);
    let (b, codes_b) = create(&lead_b, "قافلة صنبو", site_b);
    hq.ok(&["enroll", "--relay", url, "--code", &codes_a[0]]);
    hq.ok(&["enroll", "--relay", url, "--code", &codes_b[0]]);
    lead_a.ok(&["convoy", "approve", "HQ", "--convoy", &a]);
    lead_b.ok(&["convoy", "approve", "HQ", "--convoy", &b]);

    // Lead A's device registered the families; it joins convoy B too, so
    // B's lead knows them.
    let fatma = register(&lead_a, FATMA, VILLAGE);
    let karim = register(&lead_a, KARIM, VILLAGE);
    lead_a.ok(&["enroll", "--relay", url, "--code", &codes_b[1]]);
    // As a registrar of B: only lead and registrar devices carry the
    // registry into a convoy.
    lead_b.ok(&[
        "convoy",
        "approve",
        "Lead A",
        "--convoy",
        &b,
        "--role",
        "registrar",
    ]);
    let huda = register(&lead_b, HUDA, OTHER_VILLAGE);
    lead_a.ok(&["sync", "--convoy", &a]);
    lead_a.ok(&["sync", "--convoy", &b]);
    lead_b.ok(&["sync", "--convoy", &b]);

    // The same day: convoy A serves Fatma and Karim, convoy B serves Fatma
    // (again) and Huda; both sites belong to one association in Minya.
    hand_out(&lead_a, &fatma, "food_box", "1", SITE);
    hand_out(&lead_a, &karim, "food_box", "1", SITE);
    hand_out(&lead_b, &fatma, "food_box", "1", site_b);
    hand_out(&lead_b, &huda, "food_box", "1", site_b);
    for (lead, site, district) in [(&lead_a, SITE, DISTRICT), (&lead_b, site_b, "ديروط")] {
        lead.ok(&[
            "site",
            "describe",
            site,
            "--governorate",
            "24",
            "--district",
            district,
            "--association",
            ASSOCIATION,
        ]);
    }
    lead_a.ok(&["sync", "--convoy", &a]);
    lead_b.ok(&["sync", "--convoy", &b]);
    hq.ok(&["sync", "--convoy", &a]);
    hq.ok(&["sync", "--convoy", &b]);

    let (from, to) = today_range();
    let csv = dir.path().join("hq.csv");
    let rollup = hq.ok(&[
        "hq",
        "rollup",
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        &csv.display().to_string(),
    ]);
    let rows = rollup["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        1,
        "one governorate, association, item and day: {rollup}"
    );
    let row = &rows[0];
    assert_eq!(row["governorate_code"], "24");
    assert_eq!(row["governorate"], MINYA);
    assert_eq!(row["association"], ASSOCIATION);
    assert_eq!(row["item"], "food_box");
    assert_eq!(row["date"], today());
    assert_eq!(
        row["quantity"], "4",
        "quantities are strings, every box counted"
    );
    // Fatma's household, served by both convoys, counts once: 3, not 4.
    assert_eq!(row["households"], 3, "{rollup}");
    assert_eq!(row["people"], 12, "5 + 3 + 4 people");
    assert_eq!(
        rollup["totals"],
        serde_json::json!([{
            "governorate_code": "24",
            "governorate": MINYA,
            "households": 3,
            "people": 12
        }])
    );
    assert_eq!(rollup["warnings"], serde_json::json!([]));

    let file = run_python(READ_CSV, &csv);
    let file = file.as_array().unwrap();
    assert_eq!(
        file.len(),
        3,
        "headers, the row and Minya's total: {file:?}"
    );
    let got: Vec<&str> = file[1].as_array().unwrap().iter().map(text).collect();
    assert_eq!(
        got,
        [
            today().as_str(),
            MINYA,
            "24",
            ASSOCIATION,
            "كرتونة مواد غذائية",
            "food_box",
            "4",
            "3",
            "12"
        ]
    );
    assert_eq!(text(&file[2][4]), "الإجمالي (Total)");
    assert_eq!(text(&file[2][7]), "3");
    assert_no_personal_data(file, "the roll-up");

    let xlsx = dir.path().join("hq.xlsx");
    hq.ok(&[
        "hq",
        "rollup",
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        &xlsx.display().to_string(),
        "--hxl",
    ]);
    let book = run_python(READ_XLSX, &xlsx);
    assert_eq!(book["rtl"], true);
    let rows = book["rows"].as_array().unwrap();
    assert_eq!(text(&rows[1][7]), "#reached+hh");
    assert_eq!(rows.len(), 3, "an HXL file has no total lines: {rows:?}");
    assert_eq!(number(&rows[2][7]), 3.0);

    // The table a person reads.
    let run = hq.run(&["hq", "rollup", "--from", &from, "--to", &to]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(MINYA) && run.stdout.contains(ASSOCIATION),
        "{}",
        run.stdout
    );
}
