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
use qafila_store::{DB_FILE, Store, StoreError};

const NOW: u64 = 1_796_000_000_000;

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
    let missing = Store::open(dir.path()).unwrap_err();
    assert_eq!(missing.code(), "store_not_initialised");
    let store = Store::create(dir.path(), "هاتف منى", NOW).unwrap();
    let device = store.device().clone();
    drop(store);
    let again = Store::create(dir.path(), "other", NOW).unwrap_err();
    assert_eq!(again.code(), "store_already_initialised");
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.device(), &device);
    assert_eq!(store.current_round().unwrap().entitlements.len(), 4);
}

#[test]
fn damaged_and_newer_stores_are_clear_errors() {
    // Not a database at all.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(DB_FILE),
        b"this is not a database, just some text".repeat(200),
    )
    .unwrap();
    assert_eq!(Store::open(dir.path()).unwrap_err().code(), "store_corrupt");

    // A real store cut in half.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), "d", NOW).unwrap();
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
    match Store::open(dir.path()) {
        Err(e) => assert_eq!(e.code(), "store_corrupt", "{e}"),
        // SQLite may open a truncated file lazily; the damage must then
        // surface as an error on first use, never as a panic.
        Ok(store) => assert!(store.events().is_err() || store.search("محمد", today(), 5).is_err()),
    }

    // Written by a newer Qafila.
    let dir = tempfile::tempdir().unwrap();
    drop(Store::create(dir.path(), "d", NOW).unwrap());
    let conn = rusqlite_connection(dir.path());
    conn.execute(
        "INSERT INTO schema_migrations (version, checksum) VALUES (99, 'x')",
        [],
    )
    .unwrap();
    drop(conn);
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
}

fn rusqlite_connection(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(DB_FILE)).unwrap()
}

#[test]
fn registry_refuses_a_known_national_id_and_finds_people_by_any_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), "d", NOW).unwrap();
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
    let store = Store::create(dir.path(), "d", NOW).unwrap();
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
    drop(store);

    // Not a byte of the name is left in the database file or its WAL.
    let needle = "زينب".as_bytes();
    for file in [DB_FILE.to_owned(), format!("{DB_FILE}-wal")] {
        if let Ok(bytes) = std::fs::read(dir.path().join(&file)) {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{file} still holds the name"
            );
        }
    }
}

#[test]
fn every_event_is_also_in_todays_automerge_document() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), "d", NOW).unwrap();
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
        let store = Store::create(dir.path(), "d", NOW).unwrap();
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
    let store = Store::open(dir.path()).unwrap();
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
    let store = Store::create(dir.path(), "d", NOW).unwrap();
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
