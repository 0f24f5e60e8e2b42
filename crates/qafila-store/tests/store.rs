//! The device store as a real SQLite file in a temp directory: lifecycle,
//! damaged files, registry, search, erasure, and projections against the
//! domain fold.

use chrono::NaiveDate;
use proptest::prelude::*;
use qafila_domain::event::{CheckIn, EventBody, HandOut};
use qafila_domain::fold::State;
use qafila_domain::ids::{CardSerial, VolunteerId};
use qafila_domain::item::ItemCode;
use qafila_domain::nid::NationalId;
use qafila_domain::quantity::Quantity;
use qafila_store::registry::Registration;
use qafila_store::{DB_FILE, Passphrase, Store, StoreError};

const NOW: u64 = 1_796_000_000_000;

fn pass() -> Passphrase {
    Passphrase::new("رمضان كريم 2026")
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
}

fn volunteer() -> VolunteerId {
    VolunteerId::from_parts(1, [1; 10])
}

fn person(name: &str, nid: Option<&str>, size: u32) -> Registration {
    Registration {
        name: name.into(),
        national_id: nid.map(|n| NationalId::parse(n, today()).unwrap()),
        phone: Some("01001234567".into()),
        household: None,
        household_size: size,
        village: "ميت غمر".into(),
    }
}

#[test]
fn a_store_is_created_once_and_reopened_with_its_identity() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Store::open(dir.path(), &pass(), NOW).unwrap_err();
    assert_eq!(missing.code(), "store_not_initialised");
    let store = Store::create(dir.path(), "هاتف منى", &pass(), NOW).unwrap();
    let device = store.device().clone();
    drop(store);
    let again = Store::create(dir.path(), "other", &pass(), NOW).unwrap_err();
    assert_eq!(again.code(), "store_already_initialised");
    let store = Store::open(dir.path(), &pass(), NOW).unwrap();
    assert_eq!(store.device(), &device);
    assert_eq!(store.current_round().unwrap().entitlements.len(), 4);
}

#[test]
fn damaged_and_newer_stores_are_clear_errors() {
    // Not a database at all.
    let dir = tempfile::tempdir().unwrap();
    drop(Store::create(dir.path(), "d", &pass(), NOW).unwrap());
    std::fs::write(
        dir.path().join(DB_FILE),
        b"this is not a database, just some text".repeat(200),
    )
    .unwrap();
    let _ = std::fs::remove_file(dir.path().join(format!("{DB_FILE}-wal")));
    assert_eq!(
        Store::open(dir.path(), &pass(), NOW).unwrap_err().code(),
        "store_corrupt"
    );
    // A store whose key file is gone.
    std::fs::remove_file(dir.path().join(qafila_store::key::KEY_FILE)).unwrap();
    let err = Store::open(dir.path(), &pass(), NOW).unwrap_err();
    assert_eq!(err.code(), "key_file_damaged", "{err}");

    // A real store cut in half.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), "d", &pass(), NOW).unwrap();
    for i in 0..200 {
        store
            .register(
                person(&format!("محمد احمد {i}"), None, 3),
                volunteer(),
                NOW + i,
            )
            .unwrap();
    }
    drop(store);
    let path = dir.path().join(DB_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let _ = std::fs::remove_file(dir.path().join(format!("{DB_FILE}-wal")));
    match Store::open(dir.path(), &pass(), NOW) {
        Err(e) => assert_eq!(e.code(), "store_corrupt", "{e}"),
        // SQLite may open a truncated file lazily; the damage must then
        // surface as an error on first use, never as a panic.
        Ok(store) => assert!(store.events().is_err() || store.search("محمد", today(), 5).is_err()),
    }

    // Written by a newer Qafila.
    let dir = tempfile::tempdir().unwrap();
    drop(Store::create(dir.path(), "d", &pass(), NOW).unwrap());
    let conn = rusqlite_connection(dir.path());
    conn.execute(
        "INSERT INTO schema_migrations (version, checksum) VALUES (99, 'x')",
        [],
    )
    .unwrap();
    drop(conn);
    let err = Store::open(dir.path(), &pass(), NOW).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
}

fn rusqlite_connection(dir: &std::path::Path) -> rusqlite::Connection {
    let key = Store::unlock(dir, &pass(), NOW).unwrap();
    Store::raw_connection(dir, &key).unwrap()
}

#[test]
fn registry_refuses_a_known_national_id_and_finds_people_by_any_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), "d", &pass(), NOW).unwrap();
    let (fatma, _) = store
        .register(
            person("فاطمة السيد عبد الله", Some("29001150101235"), 4),
            volunteer(),
            NOW,
        )
        .unwrap();
    store
        .register(
            person("أحمد محمود إبراهيم", Some("28512250201234"), 6),
            volunteer(),
            NOW + 1,
        )
        .unwrap();
    store
        .register(person("محمد أحمد علي", None, 2), volunteer(), NOW + 2)
        .unwrap();

    let dup = store
        .register(
            person("فاطمه السيد", Some("٢٩٠٠١١٥٠١٠١٢٣٥"), 4),
            volunteer(),
            NOW + 3,
        )
        .unwrap_err();
    assert_eq!(dup.code(), "duplicate_national_id");
    assert!(dup.to_string().contains("فاطمة السيد عبد الله"), "{dup}");

    let names = |q: &str| -> Vec<String> {
        store
            .search(q, today(), 10)
            .unwrap()
            .into_iter()
            .map(|h| h.beneficiary.name.unwrap())
            .collect()
    };
    assert_eq!(names("فاطمه"), vec!["فاطمة السيد عبد الله"]);
    assert_eq!(names("فاطمة عبدالله"), vec!["فاطمة السيد عبد الله"]);
    assert_eq!(names("احمد محمود ابراهيم"), vec!["أحمد محمود إبراهيم"]);
    assert_eq!(
        names("اح"),
        vec!["أحمد محمود إبراهيم", "محمد أحمد علي"],
        "a prefix; given name first"
    );
    assert_eq!(names("٢٩٠٠١١٥-٠١٠١٢٣٥"), vec!["فاطمة السيد عبد الله"]);
    assert!(names("زينب").is_empty());
    let hit = store.beneficiary(fatma).unwrap().unwrap();
    assert_eq!(
        (hit.household_size, hit.nid_last4.as_deref()),
        (4, Some("1235"))
    );
}

#[test]
fn erasing_a_person_removes_their_personal_data_but_keeps_their_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), "d", &pass(), NOW).unwrap();
    let (who, household) = store
        .register(
            person("زينب عبد الرحمن", Some("29001150101235"), 3),
            volunteer(),
            NOW,
        )
        .unwrap();
    let round = store.current_round().unwrap();
    let site = store.site("مدرسة ميت غمر").unwrap();
    store
        .record(
            volunteer(),
            EventBody::HandOut(HandOut {
                beneficiary: who,
                household,
                site: site.id,
                day: today(),
                round: round.id,
                item: ItemCode::FoodBox,
                qty: Quantity::units(1),
                lot: None,
                card: None,
                override_reason: None,
            }),
            NOW + 1,
        )
        .unwrap();
    assert!(store.unseal(who).unwrap().is_some());
    store
        .erase(who, "طلب المستفيدة", volunteer(), NOW + 2)
        .unwrap();

    let after = store.beneficiary(who).unwrap().unwrap();
    assert!(
        after.erased && after.name.is_none() && after.phone.is_none() && after.nid_last4.is_none()
    );
    assert!(store.search("زينب", today(), 5).unwrap().is_empty());
    assert!(
        store.unseal(who).unwrap().is_none(),
        "the sealing key is gone"
    );
    assert_eq!(
        store
            .received(household, round.id, ItemCode::FoodBox)
            .unwrap(),
        Quantity::units(1)
    );
    // The same national ID may be registered again (a new person record).
    let nid = NationalId::parse("29001150101235", today()).unwrap();
    assert!(store.find_by_national_id(&nid).unwrap().is_none());

    // The WAL, which held the pages as they were, is cut while the store
    // is still open (by the checkpoint thread, within a few ticks).
    let wal = dir.path().join(format!("{DB_FILE}-wal"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was never truncated after the erasure"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(store);

    // Even with the key, not a byte of the name or national ID is left in
    // the decrypted database, and the WAL holds nothing.
    let plain = decrypted_copy(dir.path());
    for needle in [
        "زينب".as_bytes().to_vec(),
        utf16le("زينب"),
        b"29001150101235".to_vec(),
        b"0101235".to_vec(),
    ] {
        assert!(!holds(&plain, &needle), "{needle:?} survived the erasure");
    }
    assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0);
}

/// The database in `dir` decrypted with its key, as one plaintext file's
/// bytes. `sqlcipher_export` copies what the tables hold, not free space:
/// free pages and cells are `secure_delete`'s to zero.
fn decrypted_copy(dir: &std::path::Path) -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("plain.db");
    let conn = rusqlite_connection(dir);
    conn.execute(
        "ATTACH DATABASE ?1 AS plain KEY ''",
        [target.to_str().unwrap()],
    )
    .unwrap();
    conn.query_row("SELECT sqlcipher_export('plain')", [], |_| Ok(()))
        .unwrap();
    conn.execute("DETACH DATABASE plain", []).unwrap();
    drop(conn);
    let bytes = std::fs::read(&target).unwrap();
    assert!(holds(&bytes, b"SQLite format 3"), "the copy is plaintext");
    bytes
}

#[test]
fn every_event_is_also_in_todays_automerge_document() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), "d", &pass(), NOW).unwrap();
    for i in 0..30 {
        store
            .register(person(&format!("سعاد {i}"), None, 2), volunteer(), NOW + i)
            .unwrap();
    }
    let day = qafila_store::writer::doc_day(store.events().unwrap()[0].at);
    let mut from_doc = store.own_doc_events(day).unwrap();
    from_doc.sort_by_key(|e| (e.at, e.id));
    assert_eq!(from_doc, store.events().unwrap());
}

/// A generated action on one household set: what a volunteer does.
#[derive(Debug, Clone)]
enum Action {
    CheckIn(usize),
    HandOut(usize, usize, u32),
    VoidLast,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0usize..4).prop_map(Action::CheckIn),
        (0usize..4, 0usize..3, 1u32..3).prop_map(|(h, i, q)| Action::HandOut(h, i, q)),
        Just(Action::VoidLast),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn projections_agree_with_the_domain_fold(actions in proptest::collection::vec(action(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path(), "d", &pass(), NOW).unwrap();
        let round = store.current_round().unwrap();
        let site = store.site("الساحة").unwrap();
        let mut people = Vec::new();
        for i in 0..4u32 {
            people.push(store.register(person(&format!("اسم {i}"), None, i + 1), volunteer(), NOW).unwrap());
        }
        let items = [ItemCode::FoodBox, ItemCode::Blanket, ItemCode::Checkup];
        let mut last = None;
        for (n, action) in actions.into_iter().enumerate() {
            let now = NOW + 10 + n as u64;
            match action {
                Action::CheckIn(h) => {
                    let (beneficiary, household) = people[h];
                    store.record(volunteer(), EventBody::CheckIn(CheckIn {
                        beneficiary, household, site: site.id, day: today(), card: Some(CardSerial::new(1)), manual_reason: None,
                    }), now).unwrap();
                }
                Action::HandOut(h, i, q) => {
                    let (beneficiary, household) = people[h];
                    let event = store.record(volunteer(), EventBody::HandOut(HandOut {
                        beneficiary, household, site: site.id, day: today(), round: round.id,
                        item: items[i], qty: Quantity::units(q), lot: None, card: None, override_reason: None,
                    }), now).unwrap();
                    last = Some(event.id);
                }
                Action::VoidLast => {
                    if let Some(target) = last.take() {
                        store.record(volunteer(), EventBody::Void { target, target_device: Some(store.device().id), reason: "خطأ".into() }, now).unwrap();
                    }
                }
            }
        }
        let state = State::fold(std::slice::from_ref(&round), &store.events().unwrap());
        for (_, household) in &people {
            for item in items {
                let folded = state.served(*household, round.id, item).map_or(Quantity::ZERO, |s| s.received);
                prop_assert_eq!(store.received(*household, round.id, item).unwrap(), folded);
            }
            prop_assert_eq!(store.checked_in(*household, today()).unwrap(), state_checked_in(&store, *household));
        }
    }
}

fn state_checked_in(store: &Store, household: qafila_domain::ids::HouseholdId) -> bool {
    let events = store.events().unwrap();
    events.iter().any(|e| {
        matches!(&e.body, EventBody::CheckIn(c) if c.household == household && c.day == today())
            && !store.is_voided(e.id).unwrap()
    })
}

/// Stores written by released schemas are kept as fixtures and must open
/// (and upgrade) with every later build, their records intact.
#[test]
fn a_store_saved_with_schema_1_opens_with_its_records() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/schema1.qafila.db"
        ),
        dir.path().join(DB_FILE),
    )
    .unwrap();
    let store = Store::open(dir.path(), &pass(), NOW).unwrap();
    assert_eq!(store.device().name, "fixture v1");
    assert_eq!(store.event_count().unwrap(), 4);
    let nid = NationalId::parse("29001150101235", today()).unwrap();
    let suad = store.find_by_national_id(&nid).unwrap().unwrap();
    assert_eq!(suad.name.as_deref(), Some("سعاد عبد الرحمن"));
    let round = store.current_round().unwrap();
    assert_eq!(
        store
            .received(suad.household, round.id, ItemCode::FoodBox)
            .unwrap(),
        Quantity::units(1)
    );
    assert_eq!(
        store
            .unseal(suad.id)
            .unwrap()
            .unwrap()
            .national_id
            .as_deref(),
        Some("29001150101235")
    );
}

/// WAL: a write transaction held open elsewhere does not stop reads (a
/// volunteer can search while a long import is committing).
#[test]
fn reads_are_not_blocked_by_an_open_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), "d", &pass(), NOW).unwrap();
    store
        .register(person("هدى حسن", None, 3), volunteer(), NOW)
        .unwrap();
    let writer = rusqlite_connection(dir.path());
    // EXCLUSIVE would lock readers out of a rollback-journal database; in
    // WAL mode they go on reading the last committed state.
    writer
        .execute_batch("BEGIN EXCLUSIVE; DELETE FROM name_tokens;")
        .unwrap();
    let found = store.search("هدى", today(), 5).unwrap();
    assert_eq!(found.len(), 1, "the reader sees the last committed state");
    writer.execute_batch("ROLLBACK").unwrap();
}

fn fixture_v1(dir: &std::path::Path) {
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/schema1.qafila.db"
        ),
        dir.join(DB_FILE),
    )
    .unwrap();
}

/// Every file in `dir`, concatenated.
fn folder_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(path).unwrap());
        }
    }
    all
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A store from before encryption opens with the passphrase its person
/// chooses, is encrypted in place with every record kept, and from then on
/// opens only with that passphrase.
#[test]
fn a_plaintext_store_is_encrypted_in_place_on_first_open() {
    use qafila_store::Protection;
    let dir = tempfile::tempdir().unwrap();
    fixture_v1(dir.path());
    assert_eq!(qafila_store::protection(dir.path()), Protection::Plaintext);
    let before = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    assert!(holds(&before, b"SQLite format 3"));

    // A passphrase too short changes nothing.
    let err = Store::open(dir.path(), &Passphrase::new("1234"), NOW).unwrap_err();
    assert_eq!(err.code(), "weak_passphrase");
    assert_eq!(std::fs::read(dir.path().join(DB_FILE)).unwrap(), before);

    let store = Store::open(dir.path(), &pass(), NOW).unwrap();
    assert_eq!(store.event_count().unwrap(), 4);
    drop(store);
    assert_eq!(qafila_store::protection(dir.path()), Protection::Encrypted);
    let after = folder_bytes(dir.path());
    for needle in [
        b"SQLite format 3".to_vec(),
        "سعاد".as_bytes().to_vec(),
        "سعاد عبد الرحمن".as_bytes().to_vec(),
        utf16le("سعاد"),
        b"29001150101235".to_vec(),
        utf16le("29001150101235"),
        b"CREATE TABLE".to_vec(),
    ] {
        assert!(
            !holds(&after, &needle),
            "{needle:?} is readable in the folder"
        );
    }
    let err = Store::open(dir.path(), &Passphrase::new("not the passphrase"), NOW).unwrap_err();
    assert_eq!(err.code(), "wrong_passphrase", "{err}");
    // Without the key SQLite cannot read it either.
    let plain = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    assert!(
        plain
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r
                .get::<_, i64>(0))
            .is_err()
    );
    let store = Store::open(dir.path(), &pass(), NOW).unwrap();
    assert_eq!(store.event_count().unwrap(), 4);
    assert_eq!(store.device().name, "fixture v1");
}

/// An encryption cut short after the key file was written (and a half
/// written copy left behind) is finished by the next open with the same
/// passphrase; another passphrase leaves the plaintext store as it was.
#[test]
fn an_interrupted_encryption_finishes_on_the_next_open() {
    let first = tempfile::tempdir().unwrap();
    fixture_v1(first.path());
    drop(Store::open(first.path(), &pass(), NOW).unwrap());

    let dir = tempfile::tempdir().unwrap();
    fixture_v1(dir.path());
    let key = qafila_store::key::KEY_FILE;
    std::fs::copy(first.path().join(key), dir.path().join(key)).unwrap();
    std::fs::write(dir.path().join("qafila.db.encrypting"), b"half a copy").unwrap();
    let before = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    let err = Store::open(dir.path(), &Passphrase::new("someone else's"), NOW).unwrap_err();
    assert_eq!(err.code(), "wrong_passphrase");
    assert_eq!(std::fs::read(dir.path().join(DB_FILE)).unwrap(), before);

    let store = Store::open(dir.path(), &pass(), NOW).unwrap();
    assert_eq!(store.event_count().unwrap(), 4);
    assert!(!dir.path().join("qafila.db.encrypting").exists());
}
