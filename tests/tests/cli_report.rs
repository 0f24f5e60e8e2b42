//! A convoy lead's sunset, end to end through the real `qafila` binary, a
//! real relay, Debian's Chromium and poppler: a volunteer hands out food
//! boxes and syncs, the lead prints the provisional day report, counts
//! (one box short), reviews the day's anomaly, closes without the volunteer
//! who never synced, and prints the signed report in Arabic and English.
//! What `pdftotext` reads back from the PDFs must be what happened; page 1
//! of each is rendered to `target/screenshots/` for a reviewer to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

use qafila_e2e::{Device, RelayProcess, convoy_with_roles};
use serde_json::Value;
use sha2::{Digest, Sha256};

const SITE: &str = "كفر الشيخ سالم";
const ASSOCIATION: &str = "جمعية الخير بالمنيا";
/// The food box's Arabic name, written here independently of the domain.
const FOOD_BOX_AR: &str = "كرتونة مواد غذائية";

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

/// The text of a PDF as poppler reads it, without the bidi control
/// characters it wraps right-to-left and number runs in.
fn pdf_text(pdf: &Path, layout: bool) -> String {
    let mut args = vec![];
    if layout {
        args.push("-layout");
    }
    args.extend([pdf.to_str().unwrap(), "-"]);
    tool("pdftotext", &args)
        .chars()
        .filter(|c| !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect()
}

/// Whether some line of `text` holds `tokens` one after the other.
fn has_row(text: &str, tokens: &[&str]) -> bool {
    text.lines().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.windows(tokens.len()).any(|w| w == tokens)
    })
}

/// Where screenshots go: `QAFILA_SCREENSHOT_DIR`, or `target/screenshots`
/// next to the binaries under test.
fn screenshot_dir() -> PathBuf {
    let dir = match std::env::var_os("QAFILA_SCREENSHOT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => qafila_e2e::workspace_binary("qafila")
            .parent()
            .and_then(Path::parent)
            .expect("binaries live in target/<profile>/")
            .join("screenshots"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Renders page 1 of a PDF at 80 dpi to `target/screenshots/NAME.png`.
fn screenshot(pdf: &Path, name: &str) -> PathBuf {
    let prefix = screenshot_dir().join(name);
    tool(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            pdf.to_str().unwrap(),
            prefix.to_str().unwrap(),
        ],
    );
    let png = prefix.with_extension("png");
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "{}", png.display());
    png
}

fn register(device: &Device, name: &str, size: u32) -> String {
    let added = device.ok(&[
        "beneficiary",
        "add",
        "--name",
        name,
        "--household-size",
        &size.to_string(),
        "--village",
        SITE,
    ]);
    added["beneficiary"].as_str().unwrap().to_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_day_report_prints_what_happened_and_where_to_sign() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&data.path().join("relay.db"));
    let (lead, volunteers) = convoy_with_roles(&relay.url, SITE, &["registrar", "volunteer"]);
    let volunteer = &volunteers[0];

    lead.ok(&[
        "site",
        "describe",
        SITE,
        "--governorate",
        "24",
        "--district",
        "مطاي",
        "--association",
        ASSOCIATION,
    ]);
    lead.ok(&[
        "stock",
        "load",
        "--site",
        SITE,
        "--item",
        "food_box",
        "--qty",
        "137",
        "--waybill",
        "WB-17",
    ]);

    // Four households (5 + 3 + 4 + 2 = 14 people), one food box each; the
    // last one was not checked in, which the lead must review.
    let families = [
        ("محمد أحمد عبد الله السيد", 5),
        ("فاطمة الزهراء محمود", 3),
        ("هدى سعيد الجمال", 4),
        ("يوسف عادل عبد العزيز", 2),
    ];
    for (i, (name, size)) in families.iter().enumerate() {
        let id = register(volunteer, name, *size);
        if i < 3 {
            volunteer.ok(&["checkin", &id, "--site", SITE]);
        }
        volunteer.ok(&[
            "handout", &id, "--item", "food_box", "--qty", "1", "--site", SITE,
        ]);
    }
    // A fifth hand-out, to the wrong family, cancelled: it counts nowhere.
    let wrong = register(volunteer, "سيدة عبد الفتاح حسن", 7);
    volunteer.ok(&["checkin", &wrong, "--site", SITE]);
    let handed = volunteer.ok(&[
        "handout", &wrong, "--item", "food_box", "--qty", "1", "--site", SITE,
    ]);
    volunteer.ok(&[
        "void",
        handed["event"].as_str().unwrap(),
        "--reason",
        "wrong family",
    ]);
    volunteer.ok(&["sync"]);
    lead.ok(&["sync"]);

    // Before the count and the close: provisional, and says so.
    let open_pdf = data.path().join("open.pdf");
    let written = lead.ok(&[
        "report",
        "day",
        "--site",
        SITE,
        "--out",
        open_pdf.to_str().unwrap(),
    ]);
    assert_eq!(written["closed"], false, "{written}");
    assert_eq!(written["format"], "pdf");
    assert_eq!(written["households"], 4);
    assert_eq!(written["people"], 14);
    assert_eq!(written["fingerprint"], Value::Null);
    let open_text = pdf_text(&open_pdf, false);
    assert!(open_text.contains("تقرير مؤقت"), "{open_text}");
    assert!(open_text.contains(FOOD_BOX_AR), "{open_text}");

    // The blind count: one box short, a counting error.
    let reconciled = lead.ok(&[
        "day",
        "reconcile",
        "--site",
        SITE,
        "--count",
        "food_box=132",
        "--reason",
        "food_box=counting_error",
        "--note",
        "food_box=كرتونة ناقصة من التحميل",
    ]);
    assert_eq!(reconciled["recorded"], true, "{reconciled}");
    let anomalies = lead.ok(&["anomalies", "--open"]);
    let open: Vec<&Value> = anomalies["anomalies"].as_array().unwrap().iter().collect();
    assert_eq!(open.len(), 1, "{anomalies}");
    assert_eq!(open[0]["code"], "hand_out_without_check_in");
    let anomaly = open[0]["id"].as_str().unwrap();
    lead.ok(&[
        "anomalies",
        "--resolve",
        anomaly,
        "--note",
        "the volunteer forgot the check-in",
    ]);
    // Volunteer 2 never synced after the hand-outs: the lead closes without it.
    let closed = lead.ok(&["day", "close", "--site", SITE, "--without-outstanding"]);
    assert_eq!(closed["outstanding"], serde_json::json!(["Volunteer 2"]));
    let signed_text = closed["signed_text"].as_str().unwrap();
    let fingerprint: String = Sha256::digest(signed_text.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let grouped = format!(
        "{} {} {} {}",
        &fingerprint[0..4],
        &fingerprint[4..8],
        &fingerprint[8..12],
        &fingerprint[12..16]
    );

    // The signed report, in Arabic.
    let ar_pdf = data.path().join("تقرير اليوم.pdf");
    let written = lead.ok(&[
        "report",
        "day",
        "--site",
        SITE,
        "--out",
        ar_pdf.to_str().unwrap(),
    ]);
    assert_eq!(written["closed"], true, "{written}");
    assert_eq!(written["signature_valid"], true);
    assert_eq!(written["lang"], "ar");
    assert_eq!(written["fingerprint"], fingerprint.as_str());
    assert_eq!(written["site"], SITE);
    #[cfg(unix)]
    assert_eq!(mode(&ar_pdf), 0o600);
    let text = pdf_text(&ar_pdf, false);
    for expected in [
        SITE,
        ASSOCIATION,
        FOOD_BOX_AR,
        "المنيا",
        "قائد القافلة",
        "أمين المخزن",
        "مندوب الجمعية",
        "التوقيعات",
        "Volunteer 2",
        grouped.as_str(),
        // The Arabic report writes figures in Eastern Arabic digits.
        "-١",
        "١٣٢",
        "١٣٧",
        "كرتونة ناقصة من التحميل",
        "the volunteer forgot the check-in",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from:\n{text}"
        );
    }
    assert!(
        !text.contains("تقرير مؤقت"),
        "a closed day is not provisional"
    );
    // Three signature blocks, each with its three lines; the "date" label
    // also heads the page once.
    assert!(text.matches("التوقيع").count() >= 5, "{text}");
    assert!(text.matches("التاريخ").count() >= 4, "{text}");
    // The stock row, as laid out right to left: reason, variance, counted,
    // expected, lost, returned, handed out (4), out, in, loaded (137), opening.
    let layout = pdf_text(&ar_pdf, true);
    assert!(
        has_row(
            &layout,
            &["-١", "١٣٢", "١٣٣", "٠", "٠", "٤", "٠", "٠", "١٣٧", "٠"]
        ),
        "{layout}"
    );
    let png = screenshot(&ar_pdf, "day-report-ar");
    eprintln!("day report (Arabic): {}", png.display());

    // The same report in English.
    let en_pdf = data.path().join("day-report.pdf");
    let written = lead.ok(&[
        "report",
        "day",
        "--site",
        SITE,
        "--out",
        en_pdf.to_str().unwrap(),
        "--english",
    ]);
    assert_eq!(written["lang"], "en");
    assert_eq!(written["fingerprint"], fingerprint.as_str());
    let text = pdf_text(&en_pdf, true);
    for expected in [
        "Day report",
        "Closed and signed",
        "Stock reconciliation",
        "Counting error",
        "Explained",
        "Convoy lead",
        "Stock keeper",
        "Association representative",
        "Minya",
        "Volunteer 2",
        grouped.as_str(),
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from:\n{text}"
        );
    }
    assert!(!text.contains("NOT CLOSED"));
    assert!(has_row(
        &text,
        &[
            "Food", "box", "0", "137", "0", "0", "4", "0", "0", "133", "132", "-1"
        ]
    ));
    // Reach: 4 households, 14 people; 4 boxes to 4 households.
    assert!(has_row(&text, &["4", "14"]), "{text}");
    assert!(has_row(&text, &["Food", "box", "4", "box", "4"]), "{text}");
    for label in ["Name", "Signature", "Date"] {
        assert!(text.matches(label).count() >= 3, "{label}");
    }
    let png = screenshot(&en_pdf, "day-report-en");
    eprintln!("day report (English): {}", png.display());

    // The HTML is the same document, written as is.
    let html_out = data.path().join("day.html");
    lead.ok(&[
        "report",
        "day",
        "--site",
        SITE,
        "--out",
        html_out.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&html_out).unwrap();
    assert!(html.contains("<html lang=\"ar\" dir=\"rtl\">"));
    #[cfg(unix)]
    assert_eq!(mode(&html_out), 0o600);
}

#[test]
fn refusals_are_clear_and_write_nothing() {
    let lead = Device::initialised("Lead");
    lead.ok(&[
        "stock", "load", "--site", SITE, "--item", "food_box", "--qty", "10",
    ]);
    let data = tempfile::tempdir().unwrap();

    let docx = data.path().join("day.docx");
    let (code, stderr) = lead.fails(&[
        "report",
        "day",
        "--site",
        SITE,
        "--out",
        docx.to_str().unwrap(),
    ]);
    assert_eq!(code, "report_format");
    assert!(
        stderr.contains(".pdf") && stderr.contains("خطأ"),
        "{stderr}"
    );

    let pdf = data.path().join("day.pdf");
    let (code, stderr) = lead.fails(&[
        "report",
        "day",
        "--site",
        "كفر الشيخ",
        "--out",
        pdf.to_str().unwrap(),
    ]);
    assert_eq!(code, "unknown_site", "{stderr}");
    assert!(stderr.contains(SITE), "names the sites it knows: {stderr}");

    let (code, _) = lead.fails(&[
        "report",
        "day",
        "--site",
        SITE,
        "--date",
        "1-12-2026",
        "--out",
        pdf.to_str().unwrap(),
    ]);
    assert_eq!(code, "invalid_date");

    let missing = data.path().join("no such folder").join("day.pdf");
    let (code, _) = lead.fails(&[
        "report",
        "day",
        "--site",
        SITE,
        "--out",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, "output_dir_missing");

    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);

    // A day with nothing recorded is still a report, and says so.
    let html = data.path().join("empty.html");
    let written = lead.ok(&[
        "report",
        "day",
        "--site",
        SITE,
        "--date",
        "2020-01-01",
        "--out",
        html.to_str().unwrap(),
        "--english",
    ]);
    assert_eq!(written["closed"], false);
    assert_eq!(written["households"], 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("No stock moved on this day."));
    assert!(page.contains("NOT CLOSED — provisional"));
}
