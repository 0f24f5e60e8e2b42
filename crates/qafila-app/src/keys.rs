//! The lead's keys on paper and in a file, and back on another laptop.
//!
//! `export_keys` seals what only the lead's laptop holds (its identity, the
//! convoy's key generations and certificates, card-issuing secrets) under a
//! backup passphrase ([`qafila_store::backup`]); `keys_sheet` prints the
//! same sealed bytes as QR codes; `App::restore_keys` makes a store from
//! either, which takes the lead's own log back from the convoy's relay at
//! its first sync and carries it on. Design and threat model:
//! `ARCHITECTURE.md`, "Keys that survive a lost laptop", and `SECURITY.md`.

use std::path::Path;

use qafila_store::Store;
use qafila_store::backup::Backup;
use serde::Serialize;
use ts_rs::TS;

use crate::{App, AppError, ClockFn, Passphrase};

/// How many characters of the file each QR code of the sheet carries.
const CHUNK_CHARS: usize = 1200;
/// What each code starts with: `QK1 i/n ` then its part of the file.
const CHUNK_TAG: &str = "QK1";

/// A key backup made.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct KeyBackupDto {
    /// The file's bytes, as text (JSON).
    pub file: String,
    /// A file name to save it under.
    pub file_name: String,
    /// The convoys it lets a new laptop lead.
    pub convoys: Vec<String>,
    /// Card-issuing keys in it.
    pub issuers: u32,
}

fn nothing_to_back_up() -> AppError {
    AppError::new(
        "nothing_to_back_up",
        "this device leads no convoy: only a lead's laptop is backed up this way (another device that is lost is revoked and replaced by a new one)",
        "الجهاز ده مش قائد لأي قافلة: النسخة دي للابتوب القائد بس (أي جهاز تاني يضيع بيتلغي ويتسجل جهاز جديد بداله)",
    )
}

impl App {
    /// Seals this lead's keys and its card-issuing keys under `passphrase`
    /// (at least 8 characters; not the device's own). Only a lead's laptop
    /// is backed up: any other device that is lost is revoked and replaced.
    pub fn export_keys(&self, passphrase: &Passphrase) -> Result<KeyBackupDto, AppError> {
        let backup = self.store().backup(self.clock_now())?;
        let issuers = backup.issuers();
        if backup.convoys.is_empty() {
            return Err(nothing_to_back_up());
        }
        let bytes = backup.seal(passphrase)?;
        let day =
            chrono::DateTime::from_timestamp_millis(i64::try_from(backup.made_ms).unwrap_or(0))
                .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string());
        Ok(KeyBackupDto {
            file: String::from_utf8_lossy(&bytes).into_owned(),
            file_name: format!("qafila-keys-{day}.qafila-keys"),
            convoys: backup.convoys,
            issuers: u32::try_from(issuers).unwrap_or(u32::MAX),
        })
    }

    /// Makes a store in `dir` (which must hold none) from a key backup
    /// (`file`: the file's text, or the text of its QR codes, one per
    /// line, in any order), sealed under the device passphrase `store`.
    /// Nothing can be recorded until its first sync has taken back the
    /// lead's log.
    pub fn restore_keys(
        dir: &Path,
        file: &str,
        backup: &Passphrase,
        store: &Passphrase,
        clock: ClockFn,
    ) -> Result<App, AppError> {
        let bytes = backup_bytes(file)?;
        let opened = Backup::open(&bytes, backup)?;
        let store = Store::restore(dir, &opened, store, clock())?;
        Ok(App::with_store(store, clock))
    }

    /// Whether this store was restored from a key backup and still waits
    /// for its first sync to take back the lead's log.
    pub fn restore_pending(&self) -> Result<bool, AppError> {
        Ok(!self.store().pending_restores()?.is_empty())
    }

    fn clock_now(&self) -> u64 {
        (self.clock)()
    }
}

/// The file's bytes from what a person gives back: the file itself, or the
/// QR codes of its printed sheet, scanned in any order.
pub fn backup_bytes(text: &str) -> Result<Vec<u8>, AppError> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        return Ok(trimmed.as_bytes().to_vec());
    }
    let mut parts: Vec<Option<String>> = Vec::new();
    for line in trimmed.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut fields = line.splitn(3, ' ');
        let (Some(CHUNK_TAG), Some(place), Some(body)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(not_a_sheet(line));
        };
        let Some((i, n)) = place
            .split_once('/')
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .filter(|(i, n)| (1..=*n).contains(i) && *n <= 1000)
        else {
            return Err(not_a_sheet(line));
        };
        if parts.is_empty() {
            parts = vec![None; n];
        }
        if parts.len() != n {
            return Err(not_a_sheet(line));
        }
        parts[i - 1] = Some(body.to_owned());
    }
    let missing: Vec<String> = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_none())
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    if parts.is_empty() || !missing.is_empty() {
        return Err(AppError::new(
            "backup_incomplete",
            format!(
                "codes {} of the key sheet are missing: scan every code of every page",
                missing.join(", ")
            ),
            format!(
                "ناقص الأكواد {} من ورق المفاتيح: امسح كل الأكواد في كل الصفحات",
                missing.join("، ")
            ),
        ));
    }
    Ok(parts.into_iter().flatten().collect::<String>().into_bytes())
}

fn not_a_sheet(line: &str) -> AppError {
    let shown: String = line.chars().take(24).collect();
    AppError::new(
        "backup_damaged",
        format!("«{shown}…» is not a code of a Qafila key sheet or a key backup file"),
        format!("«{shown}…» مش كود من ورق مفاتيح قافلة ولا ملف نسخة احتياطية"),
    )
}

/// The QR codes' texts for a backup file (one line of ASCII): numbered
/// stretches of it, each typed whole by a wedge scanner or read by the
/// camera.
pub fn sheet_codes(file: &str) -> Vec<String> {
    let chunks: Vec<&str> = file
        .as_bytes()
        .chunks(CHUNK_CHARS)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    let n = chunks.len();
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{CHUNK_TAG} {}/{n} {c}", i + 1))
        .collect()
}

/// The printable sheet of a backup: its codes, four to a page, each
/// numbered, under the card sheets' Content-Security-Policy (inline style
/// only: no script, no request). The codes are as sealed as the file: the
/// passphrase stays off the paper.
pub fn keys_sheet(backup: &KeyBackupDto) -> Result<String, AppError> {
    use qafila_cards::sheet::{SHEET_CSP, qr_svg};
    let codes = sheet_codes(&backup.file);
    let n = codes.len();
    let mut html = String::with_capacity(64 * 1024 * n);
    html.push_str(&format!(
        "<!doctype html><html lang=\"ar\" dir=\"rtl\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{SHEET_CSP}\">\
         <title>مفاتيح قافلة — Qafila keys</title><style>\
         body{{font-family:sans-serif;margin:1cm}}\
         .page{{display:grid;grid-template-columns:1fr 1fr;gap:1cm;break-after:page}}\
         .page:last-child{{break-after:auto}}\
         figure{{margin:0;text-align:center}} svg{{width:8cm;height:8cm}}\
         figcaption{{font-size:14pt}} p{{font-size:12pt}}</style></head><body>\
         <h1>مفاتيح القافلة — نسخة احتياطية</h1>\
         <p>امسح الأكواد كلها بأي ترتيب في «رجّع مفاتيح قائد» على لابتوب جديد. الأكواد متشفّرة: من غير كلمة سر النسخة مالهاش لازمة، فاحفظ كلمة السر في مكان تاني.</p>\
         <p lang=\"en\" dir=\"ltr\">Qafila lead keys. Scan every code, in any order, into “Restore a lead” on a new laptop \
         (or into a text file for <code>qafila keys import</code>). The codes are sealed: useless without the backup's passphrase, which must not be kept with this paper.</p>\
         <p>{} — {}</p>",
        n,
        backup.file_name
    ));
    for (page, group) in codes.chunks(4).enumerate() {
        html.push_str(&format!(
            "<section class=\"page\" data-page=\"{}\">",
            page + 1
        ));
        for (k, code) in group.iter().enumerate() {
            let svg = qr_svg(code).map_err(|e| {
                AppError::new(
                    "sheet_failed",
                    format!("could not draw code {}: {e}", page * 4 + k + 1),
                    "مش قادر أرسم كود من الأكواد",
                )
            })?;
            html.push_str(&format!(
                "<figure>{svg}<figcaption>{} / {n}</figcaption></figure>",
                page * 4 + k + 1
            ));
        }
        html.push_str("</section>");
    }
    html.push_str("</body></html>");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sheets_codes_give_the_file_back_in_any_order() {
        let file: String = (0..5000u32)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect();
        let file = format!("{{{file}}}");
        let mut codes = sheet_codes(&file);
        assert!(codes.len() > 3);
        codes.reverse();
        assert_eq!(backup_bytes(&codes.join("\n")).unwrap(), file.as_bytes());
        let missing = codes[1..].join("\n");
        assert_eq!(
            backup_bytes(&missing).unwrap_err().code,
            "backup_incomplete"
        );
        assert_eq!(backup_bytes("hello").unwrap_err().code, "backup_damaged");
    }
}
