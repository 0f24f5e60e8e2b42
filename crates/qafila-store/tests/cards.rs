//! Card, issuer and merge projections: a receiving device that gets the
//! events in any order ends with what the sending device has, and a merge
//! makes what the duplicate's household received count for the kept one.

use chrono::NaiveDate;
use qafila_domain::event::{EventBody, HandOut};
use qafila_domain::ids::{BeneficiaryId, CardSerial, RoundId, SiteId, VolunteerId};
use qafila_domain::item::ItemCode;
use qafila_domain::quantity::Quantity;
use qafila_store::Store;
use qafila_store::cards::OwnIssuer;
use qafila_store::registry::Registration;
use qafila_store::sync::{Chain, Remote, RemoteContent};

mod common;

use common::{NOW, SCOPE, store};

fn volunteer() -> VolunteerId {
    VolunteerId::from_parts(1, [2; 10])
}

fn serial_of(key: u16, counter: u32) -> CardSerial {
    CardSerial::new((u64::from(key) << 32) | u64::from(counter))
}

fn person(store: &Store, name: &str) -> (BeneficiaryId, qafila_domain::ids::HouseholdId) {
    store
        .register(
            Registration {
                name: name.into(),
                national_id: None,
                phone: None,
                household: None,
                household_size: 4,
                village: "ميت غمر".into(),
            },
            volunteer(),
            NOW,
        )
        .unwrap()
}

#[test]
fn card_events_project_the_same_in_any_order() {
    let (_a, registrar) = store("registrar");
    let (_b, receiver) = store("volunteer");
    registrar
        .add_own_issuer(
            OwnIssuer {
                key_id: 777,
                secret: [5; 32],
                association: "جمعية".into(),
            },
            [6; 32],
            volunteer(),
            NOW,
        )
        .unwrap();
    let (holder, _) = person(&registrar, "سعاد محمود");
    let (other, _) = person(&registrar, "زينب علي");
    let round = RoundId::from_parts(NOW, [3; 10]);
    let serials = registrar
        .issue_cards(
            777,
            vec![holder, other],
            round,
            volunteer(),
            NOW + 1,
            serial_of,
        )
        .unwrap();
    assert_eq!(serials, vec![serial_of(777, 1), serial_of(777, 2)]);
    let new = registrar
        .reissue_card(777, serials[0], holder, volunteer(), NOW + 2, serial_of)
        .unwrap();
    assert_eq!(new, serial_of(777, 3), "the counter goes on");
    registrar
        .record(
            volunteer(),
            EventBody::CardRevoked {
                serial: serials[1],
                reason: "lost".into(),
            },
            NOW + 3,
        )
        .unwrap();

    // Newest first: revocations and the reissue arrive before the cards.
    let mut log = registrar.unsealed_log(SCOPE, 100).unwrap();
    log.reverse();
    receiver
        .apply_remote(
            SCOPE,
            vec![Remote {
                device: registrar.device().id,
                seq: 1,
                role: None,
                chain: Chain::Keep,
                content: RemoteContent::Changes(log),
            }],
            NOW,
        )
        .unwrap();

    for store in [&registrar, &receiver] {
        let trusted = store.trusted_issuers().unwrap();
        assert_eq!(trusted.len(), 1);
        assert_eq!((trusted[0].key_id, trusted[0].public), (777, [6; 32]));
        let old = store.card(serials[0]).unwrap().unwrap();
        assert_eq!(old.revoked.as_deref(), Some("reissued"));
        assert_eq!(old.replaced_by, Some(new));
        let replacement = store.card(new).unwrap().unwrap();
        assert_eq!(replacement.revoked, None);
        assert_eq!(
            replacement.round,
            Some(round),
            "the reissue keeps the round"
        );
        assert_eq!(
            store.card_revocation(serials[1]).unwrap().as_deref(),
            Some("lost")
        );
        assert_eq!(store.cards_of(holder).unwrap().len(), 2);
    }
    // The secret never left the registrar.
    assert!(registrar.own_issuer().unwrap().is_some());
    assert!(receiver.own_issuer().unwrap().is_none());
}

#[test]
fn a_merged_duplicate_is_served_as_the_kept_household() {
    let (_a, store) = store("registrar");
    let (kept, kept_household) = person(&store, "محمد أحمد السيد");
    let (duplicate, duplicate_household) = person(&store, "محمد احمد السيد");
    let round = RoundId::from_parts(NOW, [3; 10]);
    store
        .record(
            volunteer(),
            EventBody::HandOut(HandOut {
                beneficiary: duplicate,
                household: duplicate_household,
                site: SiteId::from_parts(NOW, [9; 10]),
                day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                round,
                item: ItemCode::FoodBox,
                qty: Quantity::from_milli(1000),
                lot: None,
                card: None,
                override_reason: None,
            }),
            NOW + 1,
        )
        .unwrap();
    let zero = Quantity::from_milli(0);
    assert_eq!(
        store
            .received(kept_household, round, ItemCode::FoodBox)
            .unwrap(),
        zero
    );
    let candidates = store.duplicate_candidates().unwrap();
    assert_eq!(candidates.len(), 2);

    store
        .merge(kept, duplicate, "one person", volunteer(), NOW + 2)
        .unwrap();
    assert_eq!(store.merged_into(duplicate).unwrap(), Some(kept));
    assert_eq!(
        store
            .received(kept_household, round, ItemCode::FoodBox)
            .unwrap(),
        Quantity::from_milli(1000)
    );
    assert_eq!(store.merged_households(kept_household).unwrap().len(), 2);
    let left: Vec<_> = store
        .duplicate_candidates()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, vec![kept], "the duplicate leaves the queue");
    assert_eq!(store.village_beneficiaries("ميت غمر").unwrap().len(), 1);
}
