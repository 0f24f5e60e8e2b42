//! A registrar imports a beneficiary list through the real `qafila` binary:
//! a dry run first, then the import, with a row-by-row report; importing the
//! same list again registers nobody twice.

use qafila_e2e::Device;

const CSV: &str = "\u{feff}الاسم,الرقم القومي,عدد أفراد الأسرة,القرية,الموبايل\n\
فاطمة السيد عبد الله,29001150101235,5,كفر الشيخ سالم,01001234567\n\
أحمد محمود إبراهيم,٢٨٥١٢٢٥٠٢٠١٢٣٤,٦,كفر الشيخ سالم,\n\
,29001150101236,3,كفر الشيخ سالم,\n\
منى علي,123,0,,\n\
هدى حسن محمد,,4,ميت غمر,\n";

fn codes(report: &serde_json::Value) -> Vec<(u64, String)> {
    report["refused"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            let line = row["line"].as_u64().unwrap();
            row["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |r| (line, r["code"].as_str().unwrap().to_owned()))
        })
        .collect()
}

#[test]
fn a_csv_list_is_checked_then_imported_once() {
    let device = Device::initialised("registrar");
    let file = device.dir().join("families.csv");
    std::fs::write(&file, CSV).unwrap();
    let path = file.to_str().unwrap();

    let dry = device.ok(&["beneficiary", "import", path, "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["registered"], 3);
    let refused = codes(&dry);
    assert!(refused.contains(&(4, "missing_name".into())), "{refused:?}");
    assert!(
        refused.iter().filter(|(line, _)| *line == 5).count() >= 3,
        "every problem of row 5: {refused:?}"
    );
    assert!(
        device.ok(&["beneficiary", "search", "فاطمة"])["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let done = device.ok(&["beneficiary", "import", path]);
    assert_eq!(done["registered"], 3);
    assert_eq!(
        device.ok(&["beneficiary", "search", "فاطمه"])["results"][0]["household_size"],
        5
    );
    let ahmed = device.ok(&["beneficiary", "search", "٢٨٥١٢٢٥٠٢٠١٢٣٤"]);
    assert_eq!(ahmed["results"][0]["name"], "أحمد محمود إبراهيم");

    let again = device.ok(&["beneficiary", "import", path]);
    assert_eq!(again["registered"], 0);
    let refused = codes(&again);
    assert_eq!(
        refused
            .iter()
            .filter(|(_, c)| c == "already_registered")
            .count(),
        3,
        "{refused:?}"
    );

    let text = device.run(&["beneficiary", "import", path, "--dry-run"]);
    assert!(text.stdout.contains("row     5"), "{}", text.stdout);
}

#[test]
fn an_xlsx_list_with_english_headers_and_a_title_row_imports() {
    let device = Device::initialised("registrar");
    let file = device.dir().join("families.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet
        .write_string(0, 0, "Beneficiary list — Kafr El Sheikh, winter 2026")
        .unwrap();
    for (col, header) in [
        "Name",
        "National ID",
        "Household size",
        "Village",
        "Household",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(1, col as u16, *header).unwrap();
    }
    let rows = [
        (
            "سعاد عبد الرحمن",
            Some(29001150101235.0),
            4.0,
            "ميت غمر",
            "H1",
        ),
        ("عبد الله سعاد عبد الرحمن", None, 4.0, "ميت غمر", "H1"),
        ("زينب محمود", Some(28512250201234.0), 2.0, "ميت غمر", "H2"),
    ];
    for (i, (name, nid, size, village, household)) in rows.iter().enumerate() {
        let r = i as u32 + 2;
        sheet.write_string(r, 0, *name).unwrap();
        if let Some(nid) = nid {
            sheet.write_number(r, 1, *nid).unwrap();
        }
        sheet.write_number(r, 2, *size).unwrap();
        sheet.write_string(r, 3, *village).unwrap();
        sheet.write_string(r, 4, *household).unwrap();
    }
    book.save(&file).unwrap();

    let done = device.ok(&["beneficiary", "import", file.to_str().unwrap()]);
    assert_eq!(done["format"], "xlsx");
    assert_eq!(done["registered"], 3, "{done}");
    let suad = &device.ok(&["beneficiary", "search", "سعاد عبدالرحمن"])["results"][0];
    let son = &device.ok(&["beneficiary", "search", "عبدالله سعاد"])["results"][0];
    assert_eq!(
        suad["household"], son["household"],
        "rows with one household reference share a household"
    );
    assert_eq!(
        suad["national_id_last4"], "1235",
        "a numeric cell keeps all 14 digits"
    );

    std::fs::write(
        device.dir().join("broken.xlsx"),
        b"PK\x03\x04 not really a workbook",
    )
    .unwrap();
    let (code, _) = device.fails(&[
        "beneficiary",
        "import",
        device.dir().join("broken.xlsx").to_str().unwrap(),
    ]);
    assert!(code.starts_with("import_"), "{code}");
}
