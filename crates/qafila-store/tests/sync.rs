//! Applying received records: events and their cursors commit together,
//! retries change nothing, bad content is quarantined (never applied,
//! never fatal), and registry entries bring people in and take them out.

use chrono::NaiveDate;
use qafila_domain::event::{CheckIn, EventBody};
use qafila_domain::ids::{DeviceId, SiteId, VolunteerId};
use qafila_domain::nid::NationalId;
use qafila_store::Store;
use qafila_store::registry::Registration;
use qafila_store::sync::{Chain, Convoy, LogEntry, Remote, RemoteContent};

mod common;

use common::{NOW, SCOPE, store};

fn check_in(store: &Store, n: u8) -> qafila_domain::event::Event {
    let body = EventBody::CheckIn(CheckIn {
        beneficiary: qafila_domain::ids::BeneficiaryId::from_parts(NOW, [n; 10]),
        household: qafila_domain::ids::HouseholdId::from_parts(NOW, [n; 10]),
        site: SiteId::from_parts(NOW, [9; 10]),
        day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        card: None,
        manual_reason: Some("no card".into()),
    });
    store
        .record(
            VolunteerId::from_parts(1, [2; 10]),
            body,
            NOW + u64::from(n),
        )
        .unwrap()
}

/// Each cursor's device and last seq.
fn seqs(cursors: Vec<qafila_store::sync::Cursor>) -> Vec<(DeviceId, u64)> {
    cursors.into_iter().map(|c| (c.device, c.seq)).collect()
}

fn changes(entries: Vec<LogEntry>) -> RemoteContent {
    RemoteContent::Changes(entries)
}

#[test]
fn received_changes_apply_once_with_their_cursor() {
    let (_a, sender) = store("A");
    let (_b, receiver) = store("B");
    let first = check_in(&sender, 1);
    let second = check_in(&sender, 2);
    let log = sender.unsealed_log(SCOPE, 100).unwrap();
    assert_eq!(log.len(), 2);
    let from = sender.device().id;
    let record = Remote {
        device: from,
        seq: 1,
        role: None,
        chain: Chain::Keep,
        content: changes(log.clone()),
    };
    let applied = receiver
        .apply_remote(SCOPE, vec![record.clone()], NOW)
        .unwrap();
    assert_eq!(applied.events, 2);
    assert_eq!(receiver.event(first.id).unwrap(), Some(first));
    assert_eq!(receiver.event(second.id).unwrap(), Some(second));
    assert_eq!(seqs(receiver.cursors(SCOPE).unwrap()), vec![(from, 1)]);
    // Delivered again, or split differently: nothing new.
    let again = receiver
        .apply_remote(
            SCOPE,
            vec![
                record,
                Remote {
                    device: from,
                    seq: 1,
                    role: None,
                    chain: Chain::Keep,
                    content: changes(log[1..].to_vec()),
                },
            ],
            NOW,
        )
        .unwrap();
    assert_eq!(again.events, 0);
    assert_eq!(receiver.event_count().unwrap(), 2);
    assert_eq!(
        seqs(receiver.cursors(SCOPE).unwrap()),
        vec![(from, 1)],
        "a cursor never moves back"
    );
}

#[test]
fn bad_records_are_quarantined_whole_and_sync_goes_on() {
    let (_a, sender) = store("A");
    let (_b, receiver) = store("B");
    check_in(&sender, 1);
    let good = sender.unsealed_log(SCOPE, 100).unwrap();
    let from = sender.device().id;
    let impostor = DeviceId::from_parts(NOW, [7; 10]);
    let mut damaged = good.clone();
    let half = damaged[0].chunk.len() / 2;
    damaged[0].chunk.truncate(half);
    let junk = vec![LogEntry {
        seq: 9,
        day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        chunk: b"junk".to_vec(),
    }];
    let applied = receiver
        .apply_remote(
            SCOPE,
            vec![
                Remote {
                    device: from,
                    seq: 1,
                    role: None,
                    chain: Chain::Keep,
                    content: changes(junk),
                },
                Remote {
                    device: from,
                    seq: 2,
                    role: None,
                    chain: Chain::Keep,
                    content: changes(damaged),
                },
                // The sender's genuine change, presented as another device's.
                Remote {
                    device: impostor,
                    seq: 1,
                    role: None,
                    chain: Chain::Keep,
                    content: changes(good.clone()),
                },
                Remote {
                    device: from,
                    seq: 3,
                    role: None,
                    chain: Chain::Keep,
                    content: RemoteContent::Quarantine("does not decrypt".into()),
                },
                Remote {
                    device: from,
                    seq: 4,
                    role: None,
                    chain: Chain::Keep,
                    content: changes(good),
                },
            ],
            NOW,
        )
        .unwrap();
    assert_eq!(applied.quarantined, 4);
    assert_eq!(
        applied.events, 1,
        "the good record in the same batch still applies"
    );
    let set_aside = receiver.quarantined(SCOPE).unwrap();
    assert_eq!(set_aside.len(), 4);
    assert!(
        set_aside
            .iter()
            .any(|(d, _, reason)| *d == impostor && reason.contains("doc_foreign_change")),
        "{set_aside:?}"
    );
    assert!(
        set_aside
            .iter()
            .any(|(_, _, reason)| reason.contains("does not decrypt"))
    );
    let mut cursors = seqs(receiver.cursors(SCOPE).unwrap());
    cursors.sort();
    let mut expected = vec![(from, 4), (impostor, 1)];
    expected.sort();
    assert_eq!(cursors, expected, "cursors move past quarantined records");
}

#[test]
fn registry_entries_bring_people_in_and_erasures_take_them_out() {
    let (_a, registrar) = store("Registrar");
    let (_b, volunteer) = store("Volunteer");
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let (id, _) = registrar
        .register(
            Registration {
                name: "نادية فؤاد السيد".into(),
                national_id: Some(NationalId::parse("29001010123452", today).unwrap()),
                phone: None,
                household: None,
                household_size: 4,
                village: "ميت غمر".into(),
            },
            VolunteerId::from_parts(1, [1; 10]),
            NOW,
        )
        .unwrap();
    let entries = registrar
        .unpublished_registry(SCOPE, &["ميت غمر".into()], 10)
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert!(
        registrar
            .unpublished_registry(SCOPE, &["قرية أخرى".into()], 10)
            .unwrap()
            .is_empty(),
        "only the convoy's villages"
    );
    let entry = entries[0].clone();
    let applied = volunteer
        .apply_remote(
            SCOPE,
            vec![Remote {
                device: registrar.device().id,
                seq: 1,
                role: None,
                chain: Chain::Keep,
                content: RemoteContent::Registry {
                    beneficiary: id,
                    live: entry.live,
                },
            }],
            NOW,
        )
        .unwrap();
    assert_eq!(applied.registry, 1);
    let seen = volunteer.beneficiary(id).unwrap().unwrap();
    assert_eq!(seen.name.as_deref(), Some("نادية فؤاد السيد"));
    let found = volunteer
        .find_by_national_id(&NationalId::parse("29001010123452", today).unwrap())
        .unwrap();
    assert_eq!(
        found.map(|b| b.id),
        Some(id),
        "matched with the receiver's own national-ID key"
    );
    assert_eq!(
        volunteer.unseal(id).unwrap().map(|p| p.name),
        Some("نادية فؤاد السيد".into())
    );

    volunteer
        .apply_remote(
            SCOPE,
            vec![Remote {
                device: registrar.device().id,
                seq: 2,
                role: None,
                chain: Chain::Keep,
                content: RemoteContent::Registry {
                    beneficiary: id,
                    live: None,
                },
            }],
            NOW,
        )
        .unwrap();
    let gone = volunteer.beneficiary(id).unwrap().unwrap();
    assert_eq!(gone.name, None);
    assert_eq!(volunteer.unseal(id).unwrap(), None, "the key is gone");
    // A stale copy of the live entry arriving later does not bring them back.
    volunteer
        .apply_remote(
            SCOPE,
            vec![Remote {
                device: registrar.device().id,
                seq: 1,
                role: None,
                chain: Chain::Keep,
                content: RemoteContent::Registry {
                    beneficiary: id,
                    live: entries[0].live.clone(),
                },
            }],
            NOW,
        )
        .unwrap();
    assert_eq!(
        volunteer.beneficiary(id).unwrap().unwrap().name,
        None,
        "erasure is final"
    );
}

#[test]
fn the_first_convoy_national_id_secret_rekeys_every_hash_on_the_device() {
    let (_dir, registrar) = store("Registrar");
    let nid = NationalId::parse("29001011234567", NaiveDate::MAX).unwrap();
    let before = registrar.nid_hash(&nid);
    registrar
        .register(
            Registration {
                name: "فاطمة محمد".into(),
                national_id: Some(nid.clone()),
                phone: None,
                household: None,
                household_size: 3,
                village: "ميت غمر".into(),
            },
            VolunteerId::from_parts(1, [2; 10]),
            NOW,
        )
        .unwrap();
    let key = |epoch, nid_secret| qafila_store::sync::ScopeKey {
        epoch,
        key: [1; 32],
        index_secret: [2; 32],
        nid_secret,
        signed: true,
    };
    registrar
        .put_scope_keys(SCOPE, vec![key(1, Some([7; 32]))])
        .unwrap();
    let after = registrar.nid_hash(&nid);
    assert_ne!(before, after, "hashed with the convoy's secret now");
    // The person registered before is found under the new key: the same
    // national ID is refused again.
    let again = registrar.register(
        Registration {
            name: "فاطمه محمد".into(),
            national_id: Some(nid.clone()),
            phone: None,
            household: None,
            household_size: 3,
            village: "ميت غمر".into(),
        },
        VolunteerId::from_parts(1, [2; 10]),
        NOW,
    );
    assert!(
        matches!(
            again,
            Err(qafila_store::StoreError::DuplicateNationalId { .. })
        ),
        "{again:?}"
    );
    // A second convoy's secret changes nothing: one key per device.
    registrar
        .put_scope_keys([9; 16], vec![key(1, Some([8; 32]))])
        .unwrap();
    assert_eq!(registrar.nid_hash(&nid), after);
    // And the registration event itself carries no hash.
    for event in registrar.events().unwrap() {
        if let EventBody::BeneficiaryRegistered { nid_hash, .. } = event.body {
            assert_eq!(nid_hash, None);
        }
    }
}

#[test]
fn this_devices_role_decides_what_it_may_record() {
    let (_dir, device) = store("Tablet");
    let record = |body| device.record(VolunteerId::from_parts(1, [2; 10]), body, NOW);
    let count = || EventBody::StockCount {
        site: SiteId::from_parts(NOW, [9; 10]),
        day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        item: qafila_domain::item::ItemCode::FoodBox,
        counted: qafila_domain::quantity::Quantity::units(3),
        reason: None,
        note: None,
    };
    // Certified before roles: as before.
    record(count()).unwrap();
    // Certified as a volunteer: a count is refused, a check-in is not.
    let entry = |role: &str, version| qafila_store::sync::RosterEntry {
        device: device.device().id,
        name: "Tablet".into(),
        signing: [0; 32],
        encryption: [0; 32],
        status: "approved".into(),
        role: role.into(),
        version,
        certificates: Vec::new(),
    };
    device
        .put_roster(SCOPE, vec![entry("volunteer", 1)])
        .unwrap();
    let refused = record(count()).unwrap_err();
    assert_eq!(refused.code(), "role_forbidden", "{refused}");
    check_in(&device, 3);
    // A storekeeper may.
    device
        .put_roster(SCOPE, vec![entry("storekeeper", 2)])
        .unwrap();
    record(count()).unwrap();
    // Outside every convoy (revoked from its only one), a device is on its own.
    let convoy = device.convoys().unwrap().remove(0);
    device
        .put_roster(SCOPE, vec![entry("volunteer", 3)])
        .unwrap();
    device
        .put_convoy(Convoy {
            status: "revoked".into(),
            ..convoy
        })
        .unwrap();
    record(count()).unwrap();
}

#[test]
fn every_certificate_is_kept_with_the_roles_it_lists_before_it() {
    use qafila_store::sync::{CertRecord, RosterEntry};
    let (_dir, store) = store("Lead");
    let other = DeviceId::from_parts(2, [7; 10]);
    let cert = |version, standing: &str, since, earlier: Vec<(u64, String)>| CertRecord {
        version,
        role: if version == 0 { "legacy" } else { "registrar" }.into(),
        standing: standing.into(),
        since,
        prior_hash: [0; 32],
        rotated_to: 0,
        earlier,
        bytes: vec![version as u8; 64],
    };
    let entry = |certificates: Vec<CertRecord>| RosterEntry {
        device: other,
        name: "تابلت".into(),
        signing: [1; 32],
        encryption: [2; 32],
        status: certificates.last().unwrap().standing.clone(),
        role: "registrar".into(),
        version: certificates.last().unwrap().version,
        certificates,
    };
    // The approval and the revocation from before roles share version 0.
    store
        .put_roster(SCOPE, vec![entry(vec![cert(0, "approved", 0, Vec::new())])])
        .unwrap();
    store
        .put_roster(SCOPE, vec![entry(vec![cert(0, "revoked", 0, Vec::new())])])
        .unwrap();
    let periods = vec![(0, "legacy".to_owned()), (4, "volunteer".to_owned())];
    store
        .put_roster(
            SCOPE,
            vec![entry(vec![cert(2, "approved", 9, periods.clone())])],
        )
        .unwrap();
    let roster = store.roster(SCOPE).unwrap();
    let kept = roster.iter().find(|e| e.device == other).unwrap();
    assert_eq!(kept.status, "revoked");
    let standings: Vec<(u32, &str)> = kept
        .certificates
        .iter()
        .map(|c| (c.version, c.standing.as_str()))
        .collect();
    assert_eq!(
        standings,
        vec![(0, "approved"), (0, "revoked"), (2, "approved")]
    );
    assert_eq!(kept.certificates[2].earlier, periods);
}

#[test]
fn a_claim_is_settled_only_by_a_clean_sync_with_the_relay_that_listed_it() {
    use qafila_store::sync::{Claim, RegistryNotes};
    let (_dir, store) = store("Lead");
    let other = DeviceId::from_parts(2, [7; 10]);
    let claim = |seq, key| Claim {
        device: other,
        seq,
        key,
        version: 1,
    };
    store
        .apply_remote_noting(
            SCOPE,
            Vec::new(),
            RegistryNotes {
                seen: vec![([3; 32], 1)],
                fillers: vec![(other, 5)],
                claims: vec![claim(4, [3; 32]), claim(5, [5; 32]), claim(6, [6; 32])],
                relay: "https://site".into(),
            },
            NOW,
        )
        .unwrap();
    // Held (#4) and filled (#5): accounted for; #6 waits for the site relay.
    let open = store
        .account_claims(SCOPE, "https://central", true, NOW)
        .unwrap();
    assert!(open.is_empty(), "{open:?}");
    let open = store
        .account_claims(SCOPE, "https://site", false, NOW)
        .unwrap();
    assert_eq!(open, vec![claim(6, [6; 32])]);
    assert!(store.quarantined(SCOPE).unwrap().is_empty());
    let dropped = store
        .account_claims(SCOPE, "https://site", true, NOW)
        .unwrap();
    assert_eq!(dropped, vec![claim(6, [6; 32])]);
    let quarantined = store.quarantined(SCOPE).unwrap();
    assert_eq!(quarantined.len(), 1);
    assert!(quarantined[0].2.contains("dropped by the relay"));
    assert!(
        store
            .account_claims(SCOPE, "https://site", true, NOW)
            .unwrap()
            .is_empty()
    );
}
