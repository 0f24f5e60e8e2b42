//! Printing HTML to PDF through the Chromium installed on this machine
//! (Debian package `chromium`; `make test` installs it).
//!
//! No test here sets an environment variable: the environment is shared by
//! every test in the binary, so the lookup is tested through
//! `find_chromium_with`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use qafila_app::print::{
    find_chromium, find_chromium_with, html_to_pdf, html_to_pdf_with, write_html_or_pdf,
};
use qafila_cards::sheet::{SheetCard, SheetLang, SheetOptions, render_sheet};

const PAGE: &str = r#"<!doctype html>
<html lang="ar" dir="rtl">
<head>
<meta charset="utf-8">
<title>كشف التوزيع</title>
<style>
  @page { size: A4; margin: 12mm; }
  body { font-family: sans-serif; background: #fff8e1; }
  .card { border: 2px solid #333; padding: 8mm; background: #e0f2f1; }
</style>
</head>
<body>
  <div class="card">
    <h1>محمد أحمد</h1>
    <p>كرتونة غذائية — Qafila convoy card</p>
  </div>
</body>
</html>
"#;

/// The installed Chromium; a clear failure when there is none.
fn chromium() -> PathBuf {
    find_chromium().unwrap_or_else(|e| {
        panic!(
            "these tests print through Chromium: install the Debian package `chromium` \
             (sudo apt-get install chromium; `make test` does it) — {}",
            e.message
        )
    })
}

fn write_page(dir: &Path, name: &str, html: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, html).expect("write the page");
    path
}

/// Files in `dir` other than `keep`.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list the folder")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !keep.contains(&name.as_str()))
        .collect()
}

#[test]
fn an_arabic_page_prints_to_a_pdf() {
    chromium();
    // An Arabic folder name exercises the file:// URL encoding.
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("قافلة كشوف");
    std::fs::create_dir(&folder).expect("folder");
    let html = write_page(&folder, "كشف.html", PAGE);
    let pdf = folder.join("كشف.pdf");

    html_to_pdf(&html, &pdf).expect("prints");

    let bytes = std::fs::read(&pdf).expect("the PDF exists");
    assert!(bytes.starts_with(b"%PDF"), "not a PDF");
    assert_eq!(
        leftovers(&folder, &["كشف.html", "كشف.pdf"]),
        Vec::<String>::new()
    );

    match Command::new("pdftotext").arg(&pdf).arg("-").output() {
        Ok(out) => {
            assert!(out.status.success(), "pdftotext failed: {out:?}");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("Qafila"), "the PDF's text: {text}");
            assert!(text.contains("محمد"), "the PDF's text: {text}");
        }
        Err(e) => eprintln!("pdftotext not found ({e}); install poppler-utils to check the text"),
    }
    // Backgrounds are printed: the middle of the page has the body's colour.
    match Command::new("pdftoppm")
        .args(["-r", "10", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&pdf)
        .arg(folder.join("page"))
        .output()
    {
        Ok(out) => {
            assert!(out.status.success(), "pdftoppm failed: {out:?}");
            let ppm = std::fs::read(folder.join("page.ppm")).expect("the rendered page");
            assert_eq!(
                middle_pixel(&ppm),
                [0xff, 0xf8, 0xe1],
                "the page background"
            );
        }
        Err(e) => eprintln!("pdftoppm not found ({e}); install poppler-utils to check the colours"),
    }
}

/// The middle pixel of a binary PPM (P6) picture.
fn middle_pixel(ppm: &[u8]) -> [u8; 3] {
    let mut fields = ppm.splitn(5, |b| b.is_ascii_whitespace());
    let magic = fields.next().expect("magic");
    assert_eq!(magic, b"P6");
    let number = |f: Option<&[u8]>| -> usize {
        std::str::from_utf8(f.expect("field"))
            .expect("ASCII")
            .parse()
            .expect("a number")
    };
    let (width, height) = (number(fields.next()), number(fields.next()));
    let _max = fields.next();
    let pixels = fields.next().expect("pixels");
    let at = ((height / 2) * width + width / 2) * 3;
    [pixels[at], pixels[at + 1], pixels[at + 2]]
}

/// The text poppler reads from a PDF; these tests need it (Debian's
/// `poppler-utils`, which `scripts/install-deps.sh` installs).
fn pdf_text(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap_or_else(|e| {
            panic!("this test reads the PDF back with pdftotext: install poppler-utils ({e})")
        });
    assert!(out.status.success(), "pdftotext failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A page with no Content-Security-Policy whose script, if it ran, would
/// rewrite what is printed: only JavaScript being off keeps it as written.
const SCRIPTED: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>scripted</title>
<script>document.title = "SCRIPT RAN IN HEAD";</script>
</head>
<body>
<p id="line">printed as written</p>
<img src="x" onerror="document.body.append(' ONERROR RAN ')">
<script>
  document.getElementById("line").textContent = "SCRIPT RAN";
  document.body.append(" SCRIPT APPENDED ");
</script>
</body>
</html>
"#;

#[test]
fn scripts_do_not_run_in_a_printed_page() {
    chromium();
    let dir = tempfile::tempdir().expect("temp dir");
    let html = write_page(dir.path(), "scripted.html", SCRIPTED);
    let pdf = dir.path().join("scripted.pdf");

    html_to_pdf(&html, &pdf).expect("prints");

    let text = pdf_text(&pdf);
    assert!(
        text.contains("printed as written"),
        "the PDF's text: {text}"
    );
    assert!(!text.contains("RAN"), "a script ran: {text}");
    assert!(!text.contains("APPENDED"), "a script ran: {text}");
}

#[test]
fn a_sheet_with_markup_in_a_name_prints_the_markup_as_text() {
    chromium();
    let hostile = SheetCard {
        text: "QF1HOSTILE".into(),
        name: "<script>document.body.textContent='SCRIPT RAN'</script>".into(),
        village: "<img src=x onerror=\"document.body.textContent='HANDLER RAN'\">".into(),
        number: "41203-000001".into(),
        household_size: 5,
    };
    let options = SheetOptions {
        association: "جمعية الخير".into(),
        title: "كروت".into(),
        lang: SheetLang::En,
    };
    let html = render_sheet(&[hostile], &options);
    assert!(html.contains("Content-Security-Policy"));
    let dir = tempfile::tempdir().expect("temp dir");
    let pdf = dir.path().join("sheet.pdf");

    write_html_or_pdf(&html, &pdf, "pdf", "sheet_write_failed").expect("prints");

    let text = pdf_text(&pdf);
    // The name and village are printed as the characters they are (the
    // name in a right-to-left isolate, where poppler may mirror brackets;
    // long words wrap), and the rest of the card is still there: no script
    // replaced the body.
    assert!(text.contains("script"), "the PDF's text: {text}");
    assert!(
        text.contains("Village: <img src=x"),
        "the PDF's text: {text}"
    );
    assert!(text.contains("onerror="), "the PDF's text: {text}");
    assert!(text.contains("Household size: 5"), "the PDF's text: {text}");
    assert!(text.contains("41203-000001"), "the PDF's text: {text}");
    assert!(
        !text
            .lines()
            .any(|l| l.trim() == "SCRIPT RAN" || l.trim() == "HANDLER RAN"),
        "{text}"
    );
}

#[test]
fn an_existing_pdf_is_replaced() {
    chromium();
    let dir = tempfile::tempdir().expect("temp dir");
    let html = write_page(dir.path(), "page.html", PAGE);
    let pdf = dir.path().join("out.pdf");
    std::fs::write(&pdf, "old").expect("old file");
    html_to_pdf(&html, &pdf).expect("prints");
    assert!(std::fs::read(&pdf).expect("PDF").starts_with(b"%PDF"));
}

#[test]
fn a_chromium_named_in_the_environment_that_does_not_exist_is_missing() {
    let path = std::env::var_os("PATH");
    let e = find_chromium_with(Some(OsString::from("/nonexistent")), path.as_deref())
        .expect_err("no such program");
    assert_eq!(e.code, "chromium_missing");
    assert!(e.message.contains("/nonexistent"), "{}", e.message);

    let e = find_chromium_with(Some(OsString::from("no-such-browser")), path.as_deref())
        .expect_err("no such program");
    assert_eq!(e.code, "chromium_missing");
}

#[test]
fn no_chromium_on_the_path_is_missing() {
    let empty = tempfile::tempdir().expect("temp dir");
    let e = find_chromium_with(None, Some(empty.path().as_os_str())).expect_err("none");
    assert_eq!(e.code, "chromium_missing");
    assert!(
        e.message.contains("apt-get install chromium"),
        "{}",
        e.message
    );
    assert!(e.message_ar.contains("chromium"), "{}", e.message_ar);
    assert_eq!(
        find_chromium_with(None, None).expect_err("none").code,
        "chromium_missing"
    );
}

#[cfg(unix)]
#[test]
fn the_environment_choice_wins_and_is_looked_up_on_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = fake_browser(dir.path(), "my-chrome", "exit 0");
    let path = OsString::from(dir.path());
    assert_eq!(
        find_chromium_with(Some(fake.clone().into_os_string()), None).expect("a path"),
        fake
    );
    assert_eq!(
        find_chromium_with(Some(OsString::from("my-chrome")), Some(&path)).expect("a name"),
        fake
    );
    // Unset or empty: the usual names only.
    assert_eq!(
        find_chromium_with(Some(OsString::new()), Some(&path))
            .expect_err("none")
            .code,
        "chromium_missing"
    );
    let chromium = fake_browser(dir.path(), "chromium", "exit 0");
    assert_eq!(
        find_chromium_with(None, Some(&path)).expect("found"),
        chromium
    );
}

#[test]
fn a_missing_page_or_folder_is_reported_before_printing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let html = write_page(dir.path(), "page.html", PAGE);
    // Nothing is started: any program would do.
    let browser = Path::new("/nonexistent-browser");

    let e = html_to_pdf_with(
        browser,
        &dir.path().join("nope.html"),
        &dir.path().join("out.pdf"),
        Duration::from_secs(5),
    )
    .expect_err("no page");
    assert_eq!(e.code, "html_missing");

    let e = html_to_pdf_with(
        browser,
        &html,
        &dir.path().join("no-folder").join("out.pdf"),
        Duration::from_secs(5),
    )
    .expect_err("no folder");
    assert_eq!(e.code, "output_dir_missing");
    assert!(e.message.contains("no-folder"), "{}", e.message);

    let e =
        html_to_pdf_with(browser, &html, dir.path(), Duration::from_secs(5)).expect_err("a folder");
    assert_eq!(e.code, "output_path_invalid");

    let e = html_to_pdf_with(
        browser,
        &html,
        &dir.path().join("out.pdf"),
        Duration::from_secs(5),
    )
    .expect_err("no browser");
    assert_eq!(e.code, "chromium_missing");
    assert_eq!(leftovers(dir.path(), &["page.html"]), Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn a_browser_that_writes_no_pdf_fails_and_leaves_the_old_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let html = write_page(dir.path(), "page.html", PAGE);
    let pdf = dir.path().join("out.pdf");
    std::fs::write(&pdf, "old").expect("old file");
    let bin = tempfile::tempdir().expect("temp dir");
    // Exits 0 like Chromium does when it cannot write the file.
    let broken = fake_browser(
        bin.path(),
        "broken",
        "echo 'Failed to write file: disk full' >&2\nexit 0",
    );

    let e = html_to_pdf_with(&broken, &html, &pdf, Duration::from_secs(30)).expect_err("no PDF");
    assert_eq!(e.code, "print_failed");
    assert!(e.message.contains("disk full"), "{}", e.message);
    assert_eq!(std::fs::read(&pdf).expect("old file"), b"old");
    assert_eq!(
        leftovers(dir.path(), &["page.html", "out.pdf"]),
        Vec::<String>::new()
    );
}

#[cfg(unix)]
#[test]
fn a_browser_that_hangs_is_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let html = write_page(dir.path(), "page.html", PAGE);
    let pdf = dir.path().join("out.pdf");
    let bin = tempfile::tempdir().expect("temp dir");
    let hung = fake_browser(bin.path(), "hung", "exec sleep 60");

    let started = Instant::now();
    let e = html_to_pdf_with(&hung, &html, &pdf, Duration::from_millis(300)).expect_err("timeout");
    assert_eq!(e.code, "print_timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!pdf.exists());
    assert_eq!(leftovers(dir.path(), &["page.html"]), Vec::<String>::new());
}

/// An executable shell script `name` in `dir` running `body`.
#[cfg(unix)]
fn fake_browser(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let script = format!("#!/bin/sh\n[ \"$1\" = --probe ] && exit 0\n{body}\n");
    std::fs::write(&path, script).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // Another test thread forking at the moment the script was written holds
    // it open for writing until it execs, and running it then fails with
    // "text file busy"; once one run succeeds no writer can be left.
    for _ in 0..200 {
        match Command::new(&path).arg("--probe").status() {
            Ok(_) => return path,
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("cannot run {}: {e}", path.display()),
        }
    }
    panic!("{} stayed busy", path.display())
}
