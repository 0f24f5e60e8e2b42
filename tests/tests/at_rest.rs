//! A lost laptop (issue 14): the data folder copied while the app has it
//! open — database, WAL, key file and anything else in it — holds no byte of
//! a registered name, phone or national ID in any encoding, and does not
//! open without the passphrase; a wrong passphrase is a clear error that
//! changes nothing; the right one opens the copy with every record.

use std::path::Path;
use std::sync::Arc;

use qafila_app::registry::NewBeneficiary;
use qafila_app::{App, Passphrase};
use qafila_e2e::{Device, PASSPHRASE};

const NOW_MS: u64 = 1_796_100_000_000;

/// The three people the test looks for, among many generated ones.
const PEOPLE: [(&str, &str, &str); 3] = [
    ("فاطمة عبد الرحمن الشناوي", "29001150101235", "01001234567"),
    ("محمود إبراهيم أبو زيد", "28507010201234", "01287654321"),
    ("سعاد مصطفى عبدالعزيز", "29912310301239", "01598765432"),
];

/// Every way the bytes of `text` may sit in a file: UTF-8, UTF-16 either
/// way round, Windows-1256 (Arabic spreadsheets), and its search key.
fn encodings(text: &str) -> Vec<Vec<u8>> {
    let mut out = vec![
        text.as_bytes().to_vec(),
        text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
    ];
    // Eastern digits have no Windows-1256 form (spreadsheets store them as
    // Western ones, which are checked on their own).
    let (cp1256, _, lossy) = encoding_rs::WINDOWS_1256.encode(text);
    if !lossy && cp1256.as_ref() != text.as_bytes() {
        out.push(cp1256.into_owned());
    }
    let key = qafila_domain::names::NameKey::new(text);
    out.push(key.as_str().as_bytes().to_vec());
    out
}

/// Eastern Arabic digits, as some phones type national IDs.
fn eastern(digits: &str) -> String {
    digits
        .chars()
        .map(|c| char::from_u32(0x0660 + c.to_digit(10).unwrap()).unwrap())
        .collect()
}

fn needles() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, nid, phone) in PEOPLE {
        let mut texts = vec![
            name.to_owned(),
            nid.to_owned(),
            eastern(nid),
            phone.to_owned(),
        ];
        // Each long part of the name on its own.
        texts.extend(
            name.split(' ')
                .filter(|p| p.chars().count() >= 5)
                .map(str::to_owned),
        );
        for text in texts {
            for bytes in encodings(&text) {
                out.push((text.clone(), bytes));
            }
        }
    }
    out
}

fn copy_folder(from: &Path, to: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names
}

#[test]
fn a_copied_data_folder_gives_nothing_away_and_opens_only_with_the_passphrase() {
    let device = Device::new();
    let app = App::init(
        device.dir(),
        "لابتوب التسجيل",
        &Passphrase::new(PASSPHRASE),
        Arc::new(|| NOW_MS),
    )
    .unwrap();
    for (name, nid, phone) in PEOPLE {
        app.add_beneficiary(NewBeneficiary {
            name: name.into(),
            household_size: 5,
            village: "ميت غمر".into(),
            national_id: Some(nid.into()),
            phone: Some(phone.into()),
            household: None,
        })
        .unwrap();
    }
    for i in 0..300 {
        let p = qafila_testkit::names::person(7, i);
        app.add_beneficiary(NewBeneficiary {
            name: p.name,
            household_size: p.household_size,
            village: p.village,
            national_id: Some(p.national_id),
            phone: None,
            household: None,
        })
        .unwrap();
    }

    // Copied while the app runs: the WAL holds the latest pages.
    let copy = tempfile::tempdir().unwrap();
    let files = copy_folder(device.dir(), copy.path());
    assert!(files.contains(&"qafila.db".to_owned()), "{files:?}");
    assert!(files.contains(&"qafila.key".to_owned()), "{files:?}");
    let wal = std::fs::metadata(copy.path().join("qafila.db-wal")).map_or(0, |m| m.len());
    assert!(wal > 0, "the copy was taken with the WAL in use");
    drop(app);

    let mut all = Vec::new();
    for file in &files {
        all.extend(std::fs::read(copy.path().join(file)).unwrap());
    }
    for (text, bytes) in needles() {
        assert!(
            memchr::memmem::find(&all, &bytes).is_none(),
            "«{text}» is readable in the copied folder"
        );
    }
    assert!(memchr::memmem::find(&all, b"SQLite format 3").is_none());

    // SQLite without the key sees no database.
    let plain = rusqlite::Connection::open(copy.path().join("qafila.db")).unwrap();
    assert!(
        plain
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r
                .get::<_, i64>(0))
            .is_err()
    );
    drop(plain);

    // The command line with a wrong passphrase: a clear error, nothing changed.
    let thief = Device::with_env(&[("QAFILA_PASSPHRASE", "كلمة سر غلط")]);
    copy_folder(copy.path(), thief.dir());
    let before = std::fs::read(thief.dir().join("qafila.db")).unwrap();
    let (code, stderr) = thief.fails(&["beneficiary", "search", "فاطمة"]);
    assert_eq!(code, "wrong_passphrase", "{stderr}");
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    assert_eq!(
        std::fs::read(thief.dir().join("qafila.db")).unwrap(),
        before
    );

    // The owner's passphrase opens the copy with every record.
    let owner = Device::new();
    copy_folder(copy.path(), owner.dir());
    let found = owner.ok(&["beneficiary", "search", "29001150101235"]);
    assert_eq!(
        found["results"][0]["name"], PEOPLE[0].0,
        "the copy opens, WAL and all: {found}"
    );
}

/// The site of the `before-sha256` fixture.
const OLD_SITE: &str = "دير مواس";

fn food_boxes_handed_out(device: &Device, date: &str) -> String {
    let status = device.ok(&["day", "status", "--site", OLD_SITE, "--date", date]);
    qafila_e2e::handed_out(&status, "food_box")
}

#[test]
fn a_store_from_the_first_encrypting_build_opens_and_keeps_being_written() {
    // `tests/fixtures/before-sha256`: pages authenticated with HMAC-SHA512,
    // a key file that does not say so.
    let lead = Device::copy_of(&qafila_e2e::fixture("before-sha256", "lead"));
    let person = qafila_e2e::fixture_text("before-sha256", "person.txt");
    // Each hand-out counts on the convoy's day it was made: the fixture's
    // then, this test's today.
    let filed_on = qafila_e2e::fixture_text("before-sha256", "day.txt");
    let today = qafila_e2e::convoy_today();
    let on_both = if today == filed_on { "2" } else { "1" };
    let found = lead.ok(&["beneficiary", "search", "29001011234567"]);
    assert_eq!(
        found["results"][0]["name"], "فاطمة محمد عبد الرحمن",
        "{found}"
    );
    assert_eq!(food_boxes_handed_out(&lead, &filed_on), "1");
    lead.ok(&[
        "handout",
        "--item",
        "food_box",
        "--qty",
        "1",
        "--site",
        OLD_SITE,
        &person,
        "--override",
        "--reason",
        "a second family in the house",
    ]);
    assert_eq!(food_boxes_handed_out(&lead, &today), on_both);
    // Its passphrase changes without its pages being rewritten under
    // another authentication.
    let renamed = Device::with_env(&[
        ("QAFILA_PASSPHRASE", PASSPHRASE),
        ("QAFILA_NEW_PASSPHRASE", "قافلة الاختبار الجديدة"),
    ]);
    copy_folder(lead.dir(), renamed.dir());
    renamed.ok(&["device", "passphrase"]);
    let reopened = Device::with_env(&[("QAFILA_PASSPHRASE", "قافلة الاختبار الجديدة")]);
    copy_folder(renamed.dir(), reopened.dir());
    assert_eq!(food_boxes_handed_out(&reopened, &today), on_both);
    assert_eq!(food_boxes_handed_out(&reopened, &filed_on), on_both);
}

#[test]
fn new_stores_authenticate_their_pages_with_hmac_sha256() {
    let device = Device::initialised("phone");
    let key_file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(device.dir().join("qafila.key")).unwrap()).unwrap();
    assert_eq!(key_file["page_hmac"], "HMAC_SHA256", "{key_file}");
    assert_eq!(key_file["format"], 2, "{key_file}");
    // The setting is applied, not only written down: told SQLCipher's
    // default (SHA-512), the same key finds pages that do not authenticate.
    let copy = Device::new();
    copy_folder(device.dir(), copy.dir());
    let mut edited = key_file.clone();
    edited.as_object_mut().unwrap().remove("page_hmac");
    edited["format"] = 1.into();
    std::fs::write(copy.dir().join("qafila.key"), edited.to_string()).unwrap();
    let (code, stderr) = copy.fails(&["beneficiary", "search", "فاطمة"]);
    assert_ne!(code, "wrong_passphrase", "{stderr}");
    device.ok(&["beneficiary", "search", "فاطمة"]);
}
