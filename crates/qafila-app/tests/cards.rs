//! The façade's card rules that the end-to-end test does not reach: a card
//! for someone this device does not know, a trusted key signing outside its
//! numbering, issuing twice, sheet formats, and what a merge does to cards
//! and the duplicate queue.

use std::sync::Arc;

use qafila_app::registry::NewBeneficiary;
use qafila_app::{App, ClockFn};
use qafila_cards::{Card, IssuerKey, KeyId};
use qafila_domain::ids::{BeneficiaryId, CardSerial};

fn clock() -> ClockFn {
    // 2026-12-01, 06:40 in Cairo.
    Arc::new(|| 1_796_100_000_000)
}

fn app() -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let app = App::init(
        dir.path(),
        "registrar",
        &qafila_app::Passphrase::new("registrar passphrase"),
        clock(),
    )
    .unwrap();
    (dir, app)
}

fn add(app: &App, name: &str, size: u32) -> String {
    app.add_beneficiary(NewBeneficiary {
        name: name.into(),
        household_size: size,
        village: "ميت غمر".into(),
        ..NewBeneficiary::default()
    })
    .unwrap()
    .beneficiary
}

fn own_key(app: &App) -> IssuerKey {
    let own = app.store().own_issuer().unwrap().unwrap();
    IssuerKey::from_secret_bytes(&own.secret)
}

#[test]
fn genuine_cards_for_unknown_people_or_outside_their_numbering_are_not_checked_in() {
    let (dir, app) = app();
    app.create_issuer("جمعية").unwrap();
    let key = own_key(&app);
    let round = app.current_round_id().unwrap();

    // Signed by our key, for someone this device has never heard of.
    let stranger = BeneficiaryId::from_parts(1_796_000_000_000, [9; 10]);
    let serial = qafila_cards::number::serial(key.key_id(), 99);
    let text = Card::new(&key, serial, stranger, round).encode(&key);
    assert!(app.verify_card(&text).unwrap().valid);
    let scan = app.scan(&text, "ميت غمر").unwrap();
    assert_eq!(scan.status, "unknown_beneficiary");
    assert!(scan.check_in.is_none());

    // A serial from another key's numbering, though the signature is ours.
    let foreign = qafila_cards::number::serial(KeyId(key.key_id().0.wrapping_add(1)), 1);
    let text = Card::new(&key, foreign, stranger, round).encode(&key);
    let verdict = app.verify_card(&text).unwrap();
    assert_eq!(verdict.reason, Some("malformed"), "{verdict:?}");
    drop(dir);
}

#[test]
fn issuing_twice_sheets_and_merges() {
    let (dir, app) = app();
    let kept = add(&app, "محمد أحمد السيد علي", 4);
    let duplicate = add(&app, "محمد احمد السيد على", 4);
    let other = add(&app, "فاطمة محمود حسن", 2);
    assert_eq!(app.duplicates().unwrap().len(), 1);

    let error = app.issue_cards(Some("ميت غمر"), None, None).unwrap_err();
    assert_eq!(error.code, "no_issuer_key");
    app.create_issuer("جمعية").unwrap();
    let issued = app.issue_cards(Some("ميت غمر"), None, None).unwrap();
    assert_eq!(issued.issued.len(), 3);
    let error = app.issue_cards(None, Some(&kept), None).unwrap_err();
    assert_eq!(error.code, "card_exists");
    let error = app
        .issue_cards(Some("قرية مش موجودة"), None, None)
        .unwrap_err();
    assert_eq!(error.code, "unknown_village");
    assert!(
        error.message.contains("ميت غمر"),
        "names the villages it has"
    );

    // Sheets: HTML with one code per card; an unknown extension refused.
    let html = dir.path().join("cards.html");
    let sheet = app.village_sheet("ميت غمر", &html).unwrap();
    assert_eq!((sheet.cards, sheet.pages, sheet.format), (3, 1, "html"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 3);
    assert!(page.contains("فاطمة محمود حسن"));
    let error = app
        .village_sheet("ميت غمر", &dir.path().join("cards.docx"))
        .unwrap_err();
    assert_eq!(error.code, "sheet_format");

    // Merging: the duplicate's card now stands for the kept person.
    let duplicate_card = app.cards_of(&duplicate).unwrap().remove(0);
    app.merge_beneficiaries(&kept, &duplicate, "نفس الشخص")
        .unwrap();
    assert!(app.duplicates().unwrap().is_empty());
    let error = app
        .merge_beneficiaries(&kept, &duplicate, "again")
        .unwrap_err();
    assert_eq!(error.code, "already_merged");
    let serial: u64 = duplicate_card.serial.parse().unwrap();
    let key = own_key(&app);
    let text = Card::new(
        &key,
        CardSerial::new(serial),
        duplicate.parse().unwrap(),
        app.current_round_id().unwrap(),
    )
    .encode(&key);
    let scan = app.scan(&text, "ميت غمر").unwrap();
    assert_eq!(scan.status, "ok");
    let who = &scan.check_in.unwrap().entitlement.beneficiary;
    assert_eq!(who.id, kept, "the merged card checks in the kept person");

    // Dismissing: two different people leave the queue for good.
    let sister = add(&app, "فاطمة محمود حسن", 2);
    assert_eq!(app.duplicates().unwrap().len(), 1);
    app.dismiss_duplicate(&other, &sister).unwrap();
    assert!(app.duplicates().unwrap().is_empty());
}
