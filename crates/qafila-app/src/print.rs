//! Printing: a self-contained HTML page (cards, distribution lists) to a
//! PDF, through a headless Chromium.
//!
//! Chromium lays out and shapes Arabic right to left with the fonts the
//! system has. It runs with a fresh temporary profile and configuration
//! folder (`$XDG_CONFIG_HOME`, where its crash reporter would otherwise
//! write), so it never touches the user's own browser. The pages it prints
//! hold names from spreadsheets, so it prints with JavaScript off (the
//! profile's preferences, [`NO_SCRIPT_PREFERENCES`]) and inside its sandbox,
//! which it leaves only when it must: as root, where the sandbox refuses to
//! start ([`needs_no_sandbox`]). The PDF is written to a temporary file next to
//! the target and renamed into place once it is known to be a PDF, so a
//! failed print never leaves half a file behind. The finished PDF is
//! readable by its owner only: it lists beneficiaries.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::AppError;

/// How long Chromium may take to print one document before it is stopped.
pub const PRINT_TIMEOUT: Duration = Duration::from_secs(120);

/// The environment variable naming the Chromium to use.
pub const CHROMIUM_ENV: &str = "QAFILA_CHROMIUM";

/// Program names looked up on `PATH`, in order.
const CHROMIUM_NAMES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// How much of Chromium's error output is kept for messages.
const STDERR_KEEP: usize = 64 * 1024;

/// How many lines of Chromium's error output a message quotes.
const STDERR_TAIL_LINES: usize = 12;

/// The temporary profile's `Default/Preferences`: JavaScript blocked for
/// every page (content setting 2, "block"). The switch
/// `--blink-settings=scriptEnabled=false` would do the same, but headless
/// Chromium then silently writes no PDF at all.
pub const NO_SCRIPT_PREFERENCES: &str =
    r#"{"profile":{"default_content_setting_values":{"javascript":2}}}"#;

/// Whether Chromium must be started with `--no-sandbox`, given the
/// effective user id (`None` where there is none, as on Windows).
///
/// Only as root (uid 0): Chromium's sandbox refuses to start there (CI
/// containers, some field laptops), and there is no other way to print.
/// Anywhere else the sandbox stays on: the pages hold text from
/// spreadsheets, and the sandbox is what contains a renderer that such
/// text might subvert despite the escaping, the CSP and JavaScript off.
pub fn needs_no_sandbox(effective_uid: Option<u32>) -> bool {
    effective_uid == Some(0)
}

/// This process's effective user id (what Chromium checks), where there is one.
fn effective_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(nix::unistd::geteuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Finds a Chromium: $QAFILA_CHROMIUM, then `chromium`, `chromium-browser`, `google-chrome` on PATH.
pub fn find_chromium() -> Result<PathBuf, AppError> {
    find_chromium_with(
        std::env::var_os(CHROMIUM_ENV),
        std::env::var_os("PATH").as_deref(),
    )
}

/// [`find_chromium`] with the environment passed in: `chosen` is the value
/// of `$QAFILA_CHROMIUM` (a path, or a program name looked up on `path`),
/// `path` the value of `$PATH`. An empty `chosen` counts as unset; a
/// `chosen` that does not exist is an error, never silently replaced by
/// another browser.
pub fn find_chromium_with(
    chosen: Option<OsString>,
    path: Option<&OsStr>,
) -> Result<PathBuf, AppError> {
    if let Some(chosen) = chosen.filter(|c| !c.is_empty()) {
        let as_path = PathBuf::from(&chosen);
        let found = if as_path.components().count() > 1 {
            is_executable(&as_path).then_some(as_path)
        } else {
            search_path(&chosen, path)
        };
        return found.ok_or_else(|| {
            let shown = Path::new(&chosen).display().to_string();
            AppError::new(
                "chromium_missing",
                format!(
                    "{CHROMIUM_ENV} is set to `{shown}`, which is not a program that can run; \
                     point it at Chromium (e.g. /usr/bin/chromium) or unset it"
                ),
                format!(
                    "المتغير {CHROMIUM_ENV} بيشاور على «{shown}» وده مش برنامج شغّال؛ \
                     خلّيه يشاور على كروميوم (مثلاً /usr/bin/chromium) أو امسحه"
                ),
            )
        });
    }
    CHROMIUM_NAMES
        .iter()
        .find_map(|name| search_path(OsStr::new(name), path))
        .ok_or_else(|| {
            AppError::new(
                "chromium_missing",
                "printing needs Chromium and none was found; install the Debian package \
                 `chromium` (sudo apt-get install chromium), or set QAFILA_CHROMIUM to the \
                 path of a Chromium or Chrome",
                "الطباعة محتاجة برنامج كروميوم ومش لاقيه؛ نزّل باكدج chromium \
                 (sudo apt-get install chromium)، أو حط مكانه في المتغير QAFILA_CHROMIUM",
            )
        })
}

/// Writes a self-contained HTML document to `out`: the HTML itself when
/// `format` is `html`, otherwise a PDF printed by Chromium from a temporary
/// HTML file (removed afterwards: card sheets and reports hold names). Either
/// way the file appears whole, with mode 0600 (temporary files are created
/// so, and renaming keeps it). Write failures carry `code`.
pub fn write_html_or_pdf(
    html: &str,
    out: &Path,
    format: &str,
    code: &'static str,
) -> Result<(), AppError> {
    let io_error = |e: std::io::Error| {
        AppError::new(
            code,
            format!(
                "cannot write {}: {e}; check the folder exists and is writable",
                out.display()
            ),
            format!(
                "مش قادر أكتب الملف {}: اتأكد إن الفولدر موجود ومسموح الكتابة فيه",
                out.display()
            ),
        )
    };
    if format == "html" {
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = tempfile::Builder::new()
            .prefix(".qafila-")
            .suffix(".html.part")
            .tempfile_in(dir)
            .map_err(io_error)?;
        std::fs::write(temp.path(), html).map_err(io_error)?;
        temp.persist(out).map_err(|e| io_error(e.error))?;
        return Ok(());
    }
    let dir = tempfile::tempdir().map_err(io_error)?;
    let page = dir.path().join("document.html");
    std::fs::write(&page, html).map_err(io_error)?;
    html_to_pdf(&page, out)
}

/// Prints a self-contained HTML file to a PDF (A4 as the HTML's @page says, no header/footer, backgrounds printed).
pub fn html_to_pdf(html: &Path, pdf: &Path) -> Result<(), AppError> {
    html_to_pdf_with(&find_chromium()?, html, pdf, PRINT_TIMEOUT)
}

/// [`html_to_pdf`] with a given Chromium and time limit.
pub fn html_to_pdf_with(
    chromium: &Path,
    html: &Path,
    pdf: &Path,
    timeout: Duration,
) -> Result<(), AppError> {
    let html_shown = html.display().to_string();
    let html_abs = std::fs::canonicalize(html)
        .ok()
        .filter(|p| p.is_file())
        .ok_or_else(|| {
            // Chromium would happily "print" its own file-not-found page.
            AppError::new(
                "html_missing",
                format!("there is no page to print at `{html_shown}`; create it again and retry"),
                format!("مفيش صفحة للطباعة في «{html_shown}»؛ جهّزها تاني وحاول تاني"),
            )
        })?;

    let pdf_shown = pdf.display().to_string();
    if pdf.file_name().is_none() || pdf.is_dir() {
        return Err(AppError::new(
            "output_path_invalid",
            format!("`{pdf_shown}` is not a file name to save the PDF as; give one ending in .pdf"),
            format!("«{pdf_shown}» مش اسم ملف ينفع نحفظ فيه الـPDF؛ اكتب اسم ملف آخره ‎.pdf"),
        ));
    }
    let dir = match pdf.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        let dir_shown = dir.display().to_string();
        return Err(AppError::new(
            "output_dir_missing",
            format!(
                "the folder `{dir_shown}` does not exist; create it or save the PDF in another folder"
            ),
            format!("الفولدر «{dir_shown}» مش موجود؛ اعمله الأول أو احفظ الـPDF في فولدر تاني"),
        ));
    }

    let cannot_write = |e: std::io::Error| {
        let dir_shown = dir.display().to_string();
        AppError::new(
            "print_failed",
            format!(
                "cannot write in the folder `{dir_shown}` ({e}); save the PDF in a folder you \
                 can write to, or free some disk space"
            ),
            format!(
                "مش قادر أكتب في الفولدر «{dir_shown}»؛ احفظ الـPDF في فولدر تاني أو فضّي مساحة على الجهاز"
            ),
        )
    };
    let partial = tempfile::Builder::new()
        .prefix(".qafila-print-")
        .suffix(".pdf.part")
        .tempfile_in(dir)
        .map_err(cannot_write)?;
    let partial_abs = std::path::absolute(partial.path()).map_err(cannot_write)?;
    let profile = tempfile::Builder::new()
        .prefix("qafila-chromium-")
        .tempdir()
        .map_err(|e| print_failed(format!("cannot create a temporary browser profile ({e})")))?;

    let profile_dir = profile.path().join("profile");
    let preferences = profile_dir.join("Default");
    std::fs::create_dir_all(&preferences)
        .and_then(|()| std::fs::write(preferences.join("Preferences"), NO_SCRIPT_PREFERENCES))
        .map_err(|e| {
            print_failed(format!(
                "cannot prepare the temporary browser profile ({e})"
            ))
        })?;

    let mut command = Command::new(chromium);
    command.arg("--headless");
    if needs_no_sandbox(effective_uid()) {
        // As root the sandbox refuses to start (see `needs_no_sandbox`).
        command.arg("--no-sandbox");
    }
    command
        .arg("--disable-gpu")
        .arg("--disable-dev-shm-usage")
        .arg("--no-first-run")
        .arg("--no-default-browser-check")
        .arg("--disable-extensions")
        .arg("--disable-sync")
        .arg("--disable-background-networking")
        .arg("--disable-component-update")
        .arg("--no-pdf-header-footer")
        .arg(joined("--user-data-dir=", &profile_dir))
        .arg(joined("--print-to-pdf=", &partial_abs))
        .arg(file_url(&html_abs))
        // Chromium's crash reporter ignores --user-data-dir and keeps its
        // database in the user's ~/.config/chromium.
        .env("XDG_CONFIG_HOME", profile.path().join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| {
        let shown = chromium.display().to_string();
        if e.kind() == std::io::ErrorKind::NotFound {
            AppError::new(
                "chromium_missing",
                format!(
                    "cannot start Chromium at `{shown}` ({e}); install the Debian package \
                     `chromium`, or set QAFILA_CHROMIUM to a Chromium that exists"
                ),
                format!("مش قادر أشغّل كروميوم من «{shown}»؛ نزّل باكدج chromium أو صحّح المتغير QAFILA_CHROMIUM"),
            )
        } else {
            print_failed(format!("cannot start Chromium at `{shown}` ({e})"))
        }
    })?;

    // Chromium writes a lot to stderr; it is read while it runs so that a
    // full pipe never blocks it.
    let output = Arc::new(Mutex::new(Vec::new()));
    let (done, finished) = mpsc::channel();
    if let Some(mut stderr) = child.stderr.take() {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut chunk = [0_u8; 8192];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                if let Ok(mut kept) = output.lock() {
                    kept.extend_from_slice(&chunk[..n]);
                    let excess = kept.len().saturating_sub(STDERR_KEEP);
                    kept.drain(..excess);
                }
            }
            let _ = done.send(());
        });
    }

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Chromium's helper processes exit when the browser process
                // goes away.
                let _ = child.kill();
                let _ = child.wait();
                let seconds = timeout.as_secs();
                let mut e = AppError::new(
                    "print_timeout",
                    format!(
                        "Chromium did not finish printing within {seconds} s and was stopped; \
                         close other programs and try again, or print fewer pages at a time"
                    ),
                    format!(
                        "كروميوم ماخلّصش الطباعة في {seconds} ثانية فوقّفناه؛ اقفل البرامج التانية وحاول تاني، \
                         أو اطبع صفحات أقل في المرة"
                    ),
                );
                e.retryable = true;
                return Err(e);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(print_failed(format!("lost track of Chromium ({e})")));
            }
        }
    };
    // Helper processes may hold the pipe open for a moment after the
    // browser exits; do not wait on them for long.
    let _ = finished.recv_timeout(Duration::from_secs(2));
    let stderr_tail = output
        .lock()
        .map(|kept| tail(&String::from_utf8_lossy(&kept)))
        .unwrap_or_default();

    // Chromium exits with 0 even when it could not write the PDF.
    let mut head = [0_u8; 4];
    let is_pdf = std::fs::File::open(&partial_abs)
        .and_then(|mut file| file.read_exact(&mut head))
        .is_ok()
        && &head == b"%PDF";
    if !is_pdf {
        return Err(print_failed(format!(
            "Chromium ({status}) did not produce a PDF; its last messages:\n{stderr_tail}"
        )));
    }
    partial.persist(pdf).map_err(|e| {
        AppError::new(
            "print_failed",
            format!(
                "cannot save the PDF as `{pdf_shown}` ({}); close it if it is open in another \
                 program, or choose another name",
                e.error
            ),
            format!("مش قادر أحفظ الـPDF باسم «{pdf_shown}»؛ اقفله لو مفتوح في برنامج تاني، أو اختار اسم تاني"),
        )
    })?;
    Ok(())
}

fn print_failed(detail: String) -> AppError {
    let mut e = AppError::new(
        "print_failed",
        format!("printing to PDF failed: {detail}"),
        "الطباعة لـPDF فشلت؛ حاول تاني، ولو المشكلة اتكررت ابعت رسالة الخطأ للمسؤول عن البرنامج",
    );
    e.retryable = true;
    e
}

/// The last lines of Chromium's output, without the D-Bus complaints every
/// headless run on a server makes.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.contains("dbus"))
        .collect();
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    if lines.is_empty() {
        "(none)".to_owned()
    } else {
        lines[start..].join("\n")
    }
}

/// `flag` followed by `path`, keeping a path that is not UTF-8 intact.
fn joined(flag: &str, path: &Path) -> OsString {
    let mut arg = OsString::from(flag);
    arg.push(path);
    arg
}

/// A `file://` URL for an absolute path, percent-encoding every byte but
/// unreserved characters and separators (Arabic folder names included).
fn file_url(path: &Path) -> String {
    let bytes = path_bytes(path);
    let mut url = String::from("file://");
    if bytes.first() != Some(&b'/') {
        // A Windows drive path: file:///C:/...
        url.push('/');
    }
    for byte in bytes {
        if byte.is_ascii_alphanumeric() || b"/-._~:".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

/// The path's bytes; names that are not UTF-8 stay intact on Unix.
#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    let text = path.to_string_lossy().replace('\\', "/");
    // `canonicalize` gives verbatim paths (\\?\C:\...) on Windows.
    let text = text.strip_prefix("//?/").map(str::to_owned).unwrap_or(text);
    text.into_bytes()
}

/// The first executable called `name` in the `path` list.
fn search_path(name: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    let path = path?;
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(|dir| candidates(&dir, name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(not(windows))]
fn candidates(dir: &Path, name: &OsStr) -> Vec<PathBuf> {
    vec![dir.join(name)]
}

#[cfg(windows)]
fn candidates(dir: &Path, name: &OsStr) -> Vec<PathBuf> {
    let mut exe = name.to_owned();
    exe.push(".exe");
    vec![dir.join(name), dir.join(exe)]
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chromium_keeps_its_sandbox_unless_run_as_root() {
        assert!(
            needs_no_sandbox(Some(0)),
            "root: the sandbox will not start"
        );
        for uid in [1, 1000, 65534, u32::MAX] {
            assert!(!needs_no_sandbox(Some(uid)), "uid {uid}");
        }
        assert!(!needs_no_sandbox(None), "no uids (Windows)");
    }

    #[test]
    fn the_profile_blocks_javascript() {
        let preferences: serde_json::Value =
            serde_json::from_str(NO_SCRIPT_PREFERENCES).expect("JSON");
        assert_eq!(
            preferences["profile"]["default_content_setting_values"]["javascript"],
            2
        );
    }
}
