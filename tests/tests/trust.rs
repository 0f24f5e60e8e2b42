//! The trust model's attacks (`SECURITY.md`), mounted. Devices are real
//! stores in temporary directories driven through the app façade and the
//! real sync client; the relay is `qafila-testkit`'s in-memory one, which
//! turns hostile on command; rogue devices are real devices whose software
//! was changed to record and send whatever they like. Each test fails if
//! its attack works.

use qafila_domain::event::EventBody;
use qafila_domain::ids::{SiteId, VolunteerId};
use qafila_domain::quantity::Quantity;
use qafila_proto::Uid;
use qafila_proto::cert::CertRole;
use qafila_proto::control::{B64, DeviceKeys};
use qafila_proto::record::{Record, RecordHeader, RecordKind};
use qafila_store::sync::{Plan, RemoteContent};
use qafila_sync::SyncError;
use qafila_sync::convoy as ops;
use qafila_sync::crypto::Identity;
use qafila_sync::payload;
use qafila_testkit::relay::MemoryRelay;

use qafila_e2e::inprocess::{Dev, NOW, SITE, block, convoy, enrolled, today};

#[test]
fn a_relay_that_plants_a_key_generation_reads_nothing() {
    let relay = MemoryRelay::new("hostile");
    let (lead, devices) = convoy(&relay, &[CertRole::Registrar]);
    let registrar = &devices[0];
    // The relay wraps a key of its own to the registrar, as generation 9
    // (and as generation 1 again), and signs it with a key of its own.
    let relay_identity = Identity::from_secrets([0x66; 32], [0x67; 32]);
    let planted = qafila_store::sync::ScopeKey {
        epoch: 9,
        key: [0x99; 32],
        index_secret: [0x98; 32],
        nid_secret: None,
        signed: true,
    };
    let encryption = registrar.store().roster(registrar.convoy().id).unwrap();
    let encryption = encryption
        .iter()
        .find(|e| e.device == registrar.store().device().id)
        .unwrap()
        .encryption;
    for epoch in [9, 1] {
        let grant = qafila_sync::trust::make_grant(
            &relay_identity,
            Uid(registrar.convoy().id),
            registrar.id(),
            &encryption,
            &qafila_store::sync::ScopeKey {
                epoch,
                ..planted.clone()
            },
            &[],
        )
        .unwrap();
        relay.set_hostility(|h| h.extra_grants.push((registrar.id(), grant)));
    }
    let secret_name = "Nour Planted-Key Hassan";
    registrar.register(secret_name, Some("29506061234560"));
    registrar.synced(&relay);

    // The registrar took neither generation, and nothing it sent opens
    // with the relay's key.
    let keys = registrar.store().scope_keys(registrar.convoy().id).unwrap();
    assert!(keys.iter().all(|k| k.key != planted.key), "{keys:?}");
    let scope = Uid(registrar.convoy().id);
    let signer = registrar.store().identity().unwrap();
    let signer = Identity::from_secrets(signer.signing, signer.encryption).signing_public();
    let sent: Vec<Record> = relay
        .records(scope)
        .into_iter()
        .filter(|r| r.header.device == registrar.id())
        .collect();
    assert!(!sent.is_empty());
    for record in &sent {
        assert!(
            payload::open(record, &planted.key, &signer).is_err(),
            "the relay read a record with its planted key"
        );
    }
    // The lead, who holds the real key, reads the person.
    lead.synced(&relay);
    let found = lead.app.search("Nour Planted", 5).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn a_relay_that_swaps_a_devices_keys_at_enrollment_is_caught_at_approval() {
    let relay = MemoryRelay::new("swapper");
    let (lead, _) = convoy(&relay, &[]);
    let tablet = enrolled(&lead, &relay, "Tablet");
    let screen = ops::own_fingerprint(tablet.store()).unwrap();
    // The relay shows the lead its own keys under the tablet's id and name.
    let mallory = Identity::from_secrets([0x51; 32], [0x52; 32]);
    relay.set_hostility(|h| {
        h.swapped_keys.insert(
            tablet.id(),
            DeviceKeys {
                device: tablet.id(),
                name: "Tablet".into(),
                signing: B64(mallory.signing_public().to_vec()),
                encryption: B64(mallory.encryption_public().to_vec()),
            },
        );
    });
    let approve = |fingerprint: Option<&str>| {
        block(ops::approve(
            lead.store(),
            &lead.on(&relay),
            &lead.convoy(),
            "Tablet",
            CertRole::Volunteer,
            fingerprint,
            NOW,
        ))
    };
    // The binding to the lead's code does not hold for the relay's keys.
    assert!(
        matches!(approve(None), Err(SyncError::KeyBindingMismatch(_))),
        "approved keys the relay swapped in"
    );
    // Nor does the fingerprint the tablet's own screen shows.
    assert!(approve(Some(&screen)).is_err());
    let devices = block(ops::devices(lead.store(), &lead.on(&relay), &lead.convoy())).unwrap();
    let shown = devices.iter().find(|d| d.device == tablet.id()).unwrap();
    assert_eq!(
        shown.bound,
        Some(false),
        "the lead's list says the keys do not match"
    );
    assert_ne!(
        shown.fingerprint, screen,
        "and shows another fingerprint than the tablet's"
    );
    // Nothing was granted: the relay's keys never received a generation.
    assert_eq!(
        relay.member(Uid(lead.convoy().id), tablet.id()).unwrap().0,
        "pending"
    );

    // An honest relay: the binding holds and the fingerprints agree.
    relay.set_hostility(|h| h.swapped_keys.clear());
    let approved = approve(None).unwrap();
    assert_eq!(approved.fingerprint, screen);
    tablet.synced(&relay);
    assert_eq!(tablet.convoy().status, "approved");
}

#[test]
fn a_device_without_a_binding_is_approved_only_by_its_fingerprint() {
    let relay = MemoryRelay::new("unbound");
    let (lead, _) = convoy(&relay, &[]);
    let tablet = enrolled(&lead, &relay, "Tablet");
    // The lead's device lost the code's secret (another lead device made
    // it): nothing binds the keys.
    let conn = lead.database();
    conn.execute("DELETE FROM lead_invites", []).unwrap();
    drop(conn);
    let approve = |fingerprint: Option<&str>| {
        block(ops::approve(
            lead.store(),
            &lead.on(&relay),
            &lead.convoy(),
            "Tablet",
            CertRole::Volunteer,
            fingerprint,
            NOW,
        ))
    };
    assert!(matches!(
        approve(None),
        Err(SyncError::FingerprintRequired { .. })
    ));
    assert!(matches!(
        approve(Some("AAAA-BBBB-CCCC-DDDD-EEEE")),
        Err(SyncError::FingerprintMismatch(_))
    ));
    let screen = ops::own_fingerprint(tablet.store()).unwrap();
    approve(Some(&screen.to_lowercase().replace('-', " "))).unwrap();
}

#[test]
fn records_dropped_reordered_or_altered_by_the_relay_are_noticed_and_not_applied() {
    let relay = MemoryRelay::new("dropper");
    let (lead, devices) = convoy(&relay, &[CertRole::Volunteer, CertRole::Volunteer]);
    let [v1, v2] = [&devices[0], &devices[1]];
    let person = lead.register("سعاد حسن علي", None);
    lead.synced(&relay);
    v1.synced(&relay);
    // Three syncs: three log records of v1 on the relay.
    for _ in 0..3 {
        v1.hand_out(&person);
        v1.synced(&relay);
    }
    let scope = Uid(lead.convoy().id);
    let v1_logs: Vec<u64> = relay
        .records(scope)
        .into_iter()
        .filter(|r| r.header.device == v1.id() && r.header.kind == RecordKind::Log)
        .map(|r| r.header.seq)
        .collect();
    assert!(v1_logs.len() >= 3, "{v1_logs:?}");
    let middle = v1_logs[v1_logs.len() - 2];

    // The relay drops the middle one: v2 notices, and applies nothing of
    // v1 after the gap.
    relay.set_hostility(|h| {
        h.dropped.insert((v1.id(), middle));
    });
    let error = v2.sync(&relay).unwrap_err();
    assert_eq!(error.code(), "relay_tampering", "{error}");
    assert!(error.to_string().contains("not delivered"), "{error}");
    assert!(v2.handed_out() != "3", "a withheld record went unnoticed");
    let seen = v2.handed_out();

    // Reordered: the same.
    relay.set_hostility(|h| {
        h.dropped.clear();
        h.reorder = true;
    });
    assert_eq!(v2.sync(&relay).unwrap_err().code(), "relay_tampering");
    assert_eq!(v2.handed_out(), seen);

    // Altered: refused as not made by v1.
    relay.set_hostility(|h| {
        h.reorder = false;
        h.altered.insert((v1.id(), middle));
    });
    let error = v2.sync(&relay).unwrap_err();
    assert!(
        error.to_string().contains("not made by that device"),
        "{error}"
    );

    // Duplicated: harmless. And once the relay delivers them all, in
    // order, everything applies, nothing twice.
    relay.set_hostility(|h| {
        h.altered.clear();
        h.duplicate = true;
    });
    v2.synced(&relay);
    assert_eq!(v2.handed_out(), "3");
    assert!(v2.quarantined().is_empty(), "{:?}", v2.quarantined());
}

#[test]
fn records_the_relay_makes_up_are_never_applied() {
    let relay = MemoryRelay::new("forger");
    let (lead, devices) = convoy(&relay, &[CertRole::Volunteer]);
    let v1 = &devices[0];
    let person = lead.register("هدى سمير", None);
    lead.synced(&relay);
    v1.synced(&relay);
    // The relay knows the convoy's member list but no key: it makes up a
    // record in v1's log, and one from a device nobody certified.
    let scope = Uid(lead.convoy().id);
    for (device, seq) in [(v1.id(), 50), (Uid([0x42; 16]), 1)] {
        relay.set_hostility(|h| {
            h.injected.push(Record {
                header: RecordHeader {
                    scope,
                    device,
                    seq,
                    epoch: 1,
                    kind: RecordKind::Log,
                },
                ciphertext: vec![7; 300],
            })
        });
    }
    let error = lead.sync(&relay).unwrap_err();
    assert_eq!(error.code(), "relay_tampering", "{error}");
    v1.hand_out(&person);
    relay.set_hostility(|h| h.injected.clear());
    v1.synced(&relay);
    lead.synced(&relay);
    assert_eq!(lead.handed_out(), "1", "the genuine record still applies");
}

#[test]
fn a_rogue_volunteer_can_do_no_more_than_its_role() {
    let relay = MemoryRelay::new("honest");
    let (lead, devices) = convoy(&relay, &[CertRole::Volunteer, CertRole::Volunteer]);
    let [rogue, honest] = [&devices[0], &devices[1]];
    let person = lead.register("فاطمة محمد عبد الرحمن", Some("29001011234567"));
    let without_card = lead.register("كريم محمود سيد", None);
    lead.app.create_issuer("جمعية الخير").unwrap();
    let card = lead
        .app
        .issue_cards(None, Some(&person), None)
        .unwrap()
        .issued[0]
        .number
        .clone();
    lead.synced(&relay);
    rogue.synced(&relay);
    honest.synced(&relay);
    let round_before = lead.store().current_round().unwrap();

    // Its own software refuses what its role does not allow.
    let refused = rogue.app.create_issuer("جمعية مزيفة").unwrap_err();
    assert_eq!(refused.code, "role_forbidden");
    assert!(!refused.message_ar.is_empty());

    // Changed software records it anyway: an issuing key, a card
    // revocation, an erasure, a stock count and a day close; and a plan
    // with ten times the entitlements.
    rogue.go_rogue();
    rogue.app.create_issuer("جمعية مزيفة").unwrap();
    let rogue_card = rogue
        .app
        .issue_cards(None, Some(&without_card), None)
        .unwrap()
        .issued[0]
        .number
        .clone();
    let volunteer = VolunteerId::from_parts(1, [1; 10]);
    let serial = qafila_app::cards::parse_serial(&card).unwrap();
    let site = rogue.store().site(SITE).unwrap().id;
    let beneficiary = person.parse().unwrap();
    for body in [
        EventBody::CardRevoked {
            serial,
            reason: "forged".into(),
        },
        EventBody::BeneficiaryErased {
            beneficiary,
            reason: "forged".into(),
        },
        EventBody::StockCount {
            site,
            day: today(),
            item: qafila_domain::item::ItemCode::FoodBox,
            counted: Quantity::units(0),
            reason: Some(qafila_domain::event::VarianceReason::Theft),
            note: None,
        },
        EventBody::DayClose {
            site,
            day: today(),
            covered: Vec::new(),
            outstanding: Vec::new(),
            signature: vec![0; 64],
        },
    ] {
        rogue.store().record(volunteer, body, NOW).unwrap();
    }
    let mut plan = Plan {
        name: "قافلة الشتاء".into(),
        day: "2026-12-01".into(),
        sites: vec![(SiteId::from_bytes(site.to_bytes()), SITE.into())],
        rounds: Vec::new(),
        time: Default::default(),
    };
    plan.rounds.push((
        qafila_domain::ids::RoundId::from_parts(NOW, [9; 10]),
        "جولة مزيفة".into(),
        "food_box=10;meat_kg=10".into(),
    ));
    rogue.forge(RemoteContent::Plan(plan));
    // The relay refuses its registry records (a volunteer's), which stops
    // its upload there; everything before went up.
    let _ = rogue.sync(&relay);

    for device in [&lead, honest] {
        device.synced(&relay);
        let store = device.store();
        // The plan's round is the lead's.
        assert_eq!(store.current_round().unwrap().id, round_before.id);
        assert_eq!(
            store.current_round().unwrap().entitlements,
            round_before.entitlements
        );
        // The rogue's issuing key is not trusted.
        assert!(
            store
                .trusted_issuers()
                .unwrap()
                .iter()
                .all(|t| t.association != "جمعية مزيفة"),
            "a volunteer's issuing key is trusted"
        );
        // The card is not revoked, the person not erased.
        assert_eq!(store.card_revocation(serial).unwrap(), None);
        let shown = store.beneficiary(beneficiary).unwrap().unwrap();
        assert_eq!(shown.name.as_deref(), Some("فاطمة محمد عبد الرحمن"));
        // No count, no close.
        let status = device.app.day_status(SITE, None).unwrap();
        assert!(!status.closed);
        assert!(
            status.items.iter().all(|i| i.counted.is_none()),
            "{:?}",
            status.items
        );
        // And the lead is told.
        let quarantined = device.quarantined();
        let reasons: Vec<&str> = quarantined
            .iter()
            .filter(|(d, _, _)| *d == rogue.store().device().id)
            .map(|(_, _, r)| r.as_str())
            .collect();
        assert!(reasons.iter().any(|r| r.contains("may not")), "{reasons:?}");
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("only the convoy lead may change the plan")),
            "{reasons:?}"
        );
    }
    // A card the rogue signed with its own key is refused where it counts.
    let text = rogue.app.card_texts(&[rogue_card]).unwrap().join("");
    let verdict = lead.app.verify_card(&text).unwrap();
    assert!(!verdict.valid, "{verdict:?}");
    assert_eq!(verdict.reason, Some("unknown_issuer"));
}

#[test]
fn a_revoked_device_counts_nowhere_after_its_revocation_point_even_through_a_stale_relay() {
    let central = MemoryRelay::new("central");
    let site = MemoryRelay::new("site");
    let (lead, devices) = convoy(&central, &[CertRole::Volunteer, CertRole::Volunteer]);
    let [v1, lost] = [&devices[0], &devices[1]];
    let person = lead.register("منى عادل", None);
    lead.synced(&central);
    // The convoy is on the site relay too.
    block(ops::publish(
        lead.store(),
        &lead.on(&central),
        &lead.on(&site),
        &lead.convoy(),
    ))
    .unwrap();
    for device in [v1, lost] {
        device.synced(&central);
        device.synced(&site);
    }
    // Before it is lost, the phone hands out once; the lead receives it.
    lost.hand_out(&person);
    lost.synced(&central);
    lead.synced(&central);
    assert_eq!(lead.handed_out(), "1");

    // The lead revokes it; the site relay is out of reach.
    let revoked = block(ops::revoke(
        lead.store(),
        &lead.on(&central),
        &[],
        &lead.convoy(),
        &lost.name,
        NOW,
    ))
    .unwrap();
    assert_eq!(revoked.device.status, "revoked");

    // The thief keeps using it through the site relay, which has not heard.
    lost.hand_out(&person);
    lost.hand_out(&person);
    lost.synced(&site);
    // The central relay refuses it.
    assert_eq!(lost.sync(&central).unwrap_err().code(), "device_revoked");

    // v1 learns of the revocation from the central relay, then syncs with
    // the site relay: it passes the revocation on, and takes none of what
    // the lost phone sent after its revocation point.
    v1.synced(&central);
    let report = v1.synced(&site);
    assert!(report.applied.quarantined >= 1, "{report:?}");
    assert_eq!(
        v1.handed_out(),
        "1",
        "only what came before the revocation counts"
    );
    assert_eq!(
        site.member(Uid(lead.convoy().id), lost.id()).unwrap().0,
        "revoked",
        "the site relay learnt the revocation from a volunteer"
    );
    assert_eq!(lost.sync(&site).unwrap_err().code(), "device_revoked");

    // A relay that will not learn it is refused by devices that know.
    let stale = MemoryRelay::new("stale");
    block(ops::publish(
        lead.store(),
        &lead.on(&central),
        &lead.on(&stale),
        &lead.convoy(),
    ))
    .unwrap();
    stale.set_hostility(|h| h.stale = true);
    assert_eq!(v1.sync(&stale).unwrap_err().code(), "relay_stale");

    // The new key generation reached v1 and the lead; the lost phone,
    // which kept the old ones, cannot open what v1 seals now.
    let keys = v1.store().scope_keys(v1.convoy().id).unwrap();
    assert_eq!(keys.last().unwrap().epoch, 2);
    v1.hand_out(&person);
    v1.synced(&central);
    let lost_keys = lost.store().scope_keys(lost.convoy().id).unwrap();
    assert!(lost_keys.iter().all(|k| k.epoch < 2));
    let newest: Vec<Record> = central
        .records(Uid(lead.convoy().id))
        .into_iter()
        .filter(|r| r.header.device == v1.id() && r.header.epoch == 2)
        .collect();
    assert!(!newest.is_empty());
    let v1_signer = v1.store().identity().unwrap();
    let v1_signer =
        Identity::from_secrets(v1_signer.signing, v1_signer.encryption).signing_public();
    for record in &newest {
        for key in &lost_keys {
            assert!(payload::open(record, &key.key, &v1_signer).is_err());
        }
    }
    // An old approval served again by a hostile relay brings nothing back.
    let approval = central.member(Uid(lead.convoy().id), lost.id()).unwrap();
    assert_eq!(approval.0, "revoked");
    lead.synced(&central);
    assert_eq!(
        lead.handed_out(),
        "2",
        "the lead counts the one before, and v1's"
    );
}

#[test]
fn an_old_approval_served_after_a_revocation_changes_nothing() {
    let relay = MemoryRelay::new("replayer");
    let (lead, devices) = convoy(&relay, &[CertRole::Volunteer, CertRole::Volunteer]);
    let [v1, lost] = [&devices[0], &devices[1]];
    let scope = Uid(lead.convoy().id);
    // The approval as the relay listed it, kept by a hostile relay.
    let roster = v1.store().roster(scope.0).unwrap();
    let old = roster
        .iter()
        .find(|e| e.device == lost.store().device().id)
        .unwrap()
        .certificates[0]
        .bytes
        .clone();
    block(ops::revoke(
        lead.store(),
        &lead.on(&relay),
        &[],
        &lead.convoy(),
        &lost.name,
        NOW,
    ))
    .unwrap();
    v1.synced(&relay);
    relay.set_hostility(|h| {
        h.served_certificates
            .insert(lost.id(), (old, "approved".into()));
    });
    v1.synced(&relay);
    let entry = v1
        .store()
        .roster(scope.0)
        .unwrap()
        .into_iter()
        .find(|e| e.device == lost.store().device().id)
        .unwrap();
    assert_eq!(entry.status, "revoked", "revoked is final");
}

#[test]
fn the_relay_lets_no_device_wipe_anothers_registry_entry_and_a_forwarded_forgery_stops_at_the_lead()
{
    let central = MemoryRelay::new("central");
    let site = MemoryRelay::new("site");
    let (lead, devices) = convoy(&central, &[CertRole::Registrar, CertRole::Volunteer]);
    let [registrar, volunteer] = [&devices[0], &devices[1]];
    block(ops::publish(
        lead.store(),
        &lead.on(&central),
        &lead.on(&site),
        &lead.convoy(),
    ))
    .unwrap();
    let person = registrar.register("زينب علي حسن", Some("29505051234563"));
    registrar.synced(&site);
    // The site relay makes up a record in the volunteer's log; the lead
    // forwards the site's records to the central relay.
    let scope = Uid(lead.convoy().id);
    site.set_hostility(|h| {
        h.injected.push(Record {
            header: RecordHeader {
                scope,
                device: volunteer.id(),
                seq: 1,
                epoch: 1,
                kind: RecordKind::Log,
            },
            ciphertext: vec![3; 200],
        });
    });
    let forwarded = block(ops::forward(
        lead.store(),
        &lead.convoy(),
        &lead.on(&site),
        &lead.on(&central),
    ))
    .unwrap();
    assert!(forwarded.refused >= 1, "{forwarded:?}");
    assert!(forwarded.moved >= 1, "{forwarded:?}");
    assert!(
        central
            .records(scope)
            .iter()
            .all(|r| r.header.device != volunteer.id() || r.ciphertext != vec![3; 200]),
        "the forgery reached the central relay"
    );
    lead.synced(&central);
    assert_eq!(lead.app.search("زينب", 5).unwrap().len(), 1);
    let _ = person;
}

#[test]
fn one_person_registered_on_two_offline_registrars_is_a_likely_duplicate_everywhere() {
    let relay = MemoryRelay::new("registry");
    let (lead, devices) = convoy(
        &relay,
        &[
            CertRole::Registrar,
            CertRole::Registrar,
            CertRole::Volunteer,
        ],
    );
    let [a, b, volunteer] = [&devices[0], &devices[1], &devices[2]];
    // Offline, two spellings of one person with one national ID.
    a.register("فاطمة محمد عبد الرحمن", Some("29001011234567"));
    b.register("فاطمه محمد عبدالرحمن", Some("٢٩٠٠١٠١١٢٣٤٥٦٧"));
    for _ in 0..2 {
        for device in [a, b, &lead, volunteer] {
            device.synced(&relay);
        }
    }
    for device in [&lead, a, b, volunteer] {
        let pairs = device.app.duplicates().unwrap();
        assert_eq!(pairs.len(), 1, "{}: {pairs:?}", device.name);
    }
    // No logged event carries a national-ID hash: the secret every device
    // holds cannot be tried against the logs.
    for device in [&lead, a, b, volunteer] {
        for event in device.store().events().unwrap() {
            if let EventBody::BeneficiaryRegistered { nid_hash, .. } = &event.body {
                assert_eq!(*nid_hash, None, "a national-ID hash in a logged event");
            }
        }
    }
}

/// A card signed with its issuer's key for a number never issued.
fn unissued_card(registrar: &Dev, beneficiary: &str) -> String {
    let own = registrar.store().own_issuer().unwrap().unwrap();
    let key = qafila_cards::IssuerKey::from_secret_bytes(&own.secret);
    let serial = qafila_domain::ids::CardSerial::new((u64::from(own.key_id) << 32) | 999);
    let round = registrar.store().current_round().unwrap().id;
    qafila_cards::Card::new(&key, serial, beneficiary.parse().unwrap(), round).encode(&key)
}

#[test]
fn card_issuers_are_trusted_under_the_right_signature_only() {
    let relay = MemoryRelay::new("cards");
    let (lead, devices) = convoy(&relay, &[CertRole::Registrar, CertRole::Volunteer]);
    let [registrar, volunteer] = [&devices[0], &devices[1]];
    let person = registrar.register("هالة منصور", None);
    registrar.app.create_issuer("جمعية النور").unwrap();
    let number = registrar
        .app
        .issue_cards(None, Some(&person), None)
        .unwrap()
        .issued[0]
        .number
        .clone();
    let text = registrar
        .app
        .card_texts(std::slice::from_ref(&number))
        .unwrap()
        .remove(0);
    registrar.synced(&relay);
    lead.synced(&relay);
    volunteer.synced(&relay);

    // A registrar's key, announced under a registrar's certificate: trusted.
    let verdict = volunteer.app.verify_card(&text).unwrap();
    assert!(verdict.valid, "{verdict:?}");
    assert_eq!(verdict.warning, None);
    // A genuine signature on a number never issued: a warning.
    let forged = unissued_card(registrar, &person);
    let verdict = volunteer.app.verify_card(&forged).unwrap();
    assert!(verdict.valid, "{verdict:?}");
    assert_eq!(verdict.warning, Some("not_issued"));
    assert!(verdict.warning_message_ar.is_some());

    // A volunteer cannot revoke the card.
    let refused = volunteer.app.revoke_card(&number, "x");
    assert_eq!(refused.unwrap_err().code, "role_forbidden");

    // The registrar's phone is lost: the lead revokes it. Cards its key
    // signed that were issued stay good; any other number it signs now is
    // refused.
    block(ops::revoke(
        lead.store(),
        &lead.on(&relay),
        &[],
        &lead.convoy(),
        &registrar.name,
        NOW,
    ))
    .unwrap();
    volunteer.synced(&relay);
    assert!(volunteer.app.verify_card(&text).unwrap().valid);
    let verdict = volunteer.app.verify_card(&forged).unwrap();
    assert!(!verdict.valid);
    assert_eq!(verdict.reason, Some("issuer_device_revoked"));

    // Only the lead may withdraw a key; once it does, every card it signed
    // is refused on every device that syncs.
    let key_id = registrar.store().own_issuer().unwrap().unwrap().key_id;
    assert_eq!(
        volunteer
            .app
            .withdraw_issuer(key_id, "stolen")
            .unwrap_err()
            .code,
        "role_forbidden"
    );
    lead.app
        .withdraw_issuer(key_id, "the phone was stolen")
        .unwrap();
    lead.synced(&relay);
    volunteer.synced(&relay);
    for device in [&lead, volunteer] {
        let verdict = device.app.verify_card(&text).unwrap();
        assert!(!verdict.valid);
        assert_eq!(verdict.reason, Some("issuer_withdrawn"));
    }
}

#[test]
fn only_the_lead_voids_another_devices_records() {
    let relay = MemoryRelay::new("voids");
    let (lead, devices) = convoy(&relay, &[CertRole::Volunteer, CertRole::Volunteer]);
    let [v1, rogue] = [&devices[0], &devices[1]];
    let person = lead.register("سامية رجب", None);
    lead.synced(&relay);
    v1.synced(&relay);
    let event = v1.hand_out(&person);
    v1.synced(&relay);
    rogue.synced(&relay);
    // The app refuses it to a volunteer.
    assert_eq!(
        rogue.app.void(&event, "mistake").unwrap_err().code,
        "role_forbidden"
    );
    // Changed software sends it anyway, three ways: naming v1's device, as
    // an old-style void naming none, and naming itself (which a volunteer
    // may send, but which cancels nothing of another device's).
    rogue.go_rogue();
    let target = event.parse().unwrap();
    let volunteer = VolunteerId::from_parts(1, [1; 10]);
    for target_device in [
        Some(v1.store().device().id),
        None,
        Some(rogue.store().device().id),
    ] {
        rogue
            .store()
            .record(
                volunteer,
                EventBody::Void {
                    target,
                    target_device,
                    reason: "mistake".into(),
                },
                NOW,
            )
            .unwrap();
    }
    let _ = rogue.sync(&relay);
    lead.synced(&relay);
    v1.synced(&relay);
    for device in [&lead, v1] {
        assert_eq!(
            device.handed_out(),
            "1",
            "a volunteer voided another's hand-out"
        );
    }
    // The lead may.
    lead.app.void(&event, "served the wrong family").unwrap();
    lead.synced(&relay);
    v1.synced(&relay);
    for device in [&lead, v1] {
        assert_eq!(device.handed_out(), "0");
    }
}

/// The lead changes a role or revokes with `who`'s keys as the relay lists
/// them.
fn role_change(
    lead: &Dev,
    relay: &MemoryRelay,
    who: &str,
    role: CertRole,
) -> Result<(), SyncError> {
    block(ops::approve(
        lead.store(),
        &lead.on(relay),
        &lead.convoy(),
        who,
        role,
        None,
        NOW,
    ))
    .map(|_| ())
}

fn revoke(lead: &Dev, relay: &MemoryRelay, who: &str) -> Result<ops::Revoked, SyncError> {
    block(ops::revoke(
        lead.store(),
        &lead.on(relay),
        &[],
        &lead.convoy(),
        who,
        NOW,
    ))
}

fn status_of(device: &Dev, of: &Dev) -> String {
    device
        .store()
        .roster(device.convoy().id)
        .unwrap()
        .into_iter()
        .find(|e| e.device == of.store().device().id)
        .map(|e| e.status)
        .unwrap_or_default()
}

#[test]
fn a_relay_that_swaps_keys_when_the_lead_revokes_or_changes_a_role_changes_nothing() {
    let relay = MemoryRelay::new("swapper");
    let (lead, devices) = convoy(&relay, &[CertRole::Volunteer, CertRole::Volunteer]);
    let [v1, lost] = [&devices[0], &devices[1]];
    // The relay lists its own keys under the lost phone's id: a revocation
    // signed for them would revoke nobody.
    let mallory = Identity::from_secrets([0x61; 32], [0x62; 32]);
    relay.set_hostility(|h| {
        h.swapped_keys.insert(
            lost.id(),
            DeviceKeys {
                device: lost.id(),
                name: lost.name.clone(),
                signing: B64(mallory.signing_public().to_vec()),
                encryption: B64(mallory.encryption_public().to_vec()),
            },
        );
    });
    // A role change is refused: the keys are not the ones the lead certified.
    assert!(matches!(
        role_change(&lead, &relay, &lost.name, CertRole::Registrar),
        Err(SyncError::KeyBindingMismatch(_))
    ));
    // A revocation goes through, about the keys the lead certified.
    revoke(&lead, &relay, &lost.name).unwrap();
    assert_eq!(status_of(&lead, lost), "revoked");
    v1.synced(&relay);
    assert_eq!(status_of(v1, lost), "revoked");
    assert_eq!(lost.sync(&relay).unwrap_err().code(), "device_revoked");
}

#[test]
fn a_relay_that_lists_other_certificate_versions_decides_no_version() {
    let relay = MemoryRelay::new("versions");
    let (lead, devices) = convoy(&relay, &[CertRole::Volunteer]);
    let scope = Uid(lead.convoy().id);
    let tablet = enrolled(&lead, &relay, "Tablet");
    // Versions one short of wrapping: a version that wrapped to 0 would be
    // one from before roles (unrestricted), and one at the top would leave
    // no version for the revocation.
    relay.set_hostility(|h| {
        h.listed_versions.insert(tablet.id(), u32::MAX - 1);
        h.listed_versions.insert(devices[0].id(), u32::MAX);
    });
    role_change(&lead, &relay, "Tablet", CertRole::Volunteer).unwrap();
    assert_eq!(
        relay.member(scope, tablet.id()).unwrap(),
        ("approved".to_owned(), 1)
    );
    // Each next version follows the lead's own.
    role_change(&lead, &relay, &devices[0].name, CertRole::Storekeeper).unwrap();
    assert_eq!(
        relay.member(scope, devices[0].id()).unwrap(),
        ("approved".to_owned(), 2)
    );
    revoke(&lead, &relay, "Tablet").unwrap();
    assert_eq!(
        relay.member(scope, tablet.id()).unwrap(),
        ("revoked".to_owned(), 2)
    );
}

#[test]
fn a_used_code_binds_no_second_device_whatever_the_relay_allows() {
    let relay = MemoryRelay::new("reuse");
    let (lead, _) = convoy(&relay, &[]);
    relay.set_hostility(|h| h.codes_never_spent = true);
    let codes = block(ops::invite(
        lead.store(),
        &lead.on(&relay),
        &lead.convoy(),
        1,
        ops::CODE_LIFETIME_MS,
        NOW,
    ))
    .unwrap();
    let tablet = Dev::new("Tablet");
    block(ops::enroll(tablet.store(), &tablet.on(&relay), &codes[0])).unwrap();
    role_change(&lead, &relay, "Tablet", CertRole::Volunteer).unwrap();
    // Someone who photographed the code enrolls with it too.
    let thief = Dev::new("Tablet 2");
    block(ops::enroll(thief.store(), &thief.on(&relay), &codes[0])).unwrap();
    assert!(matches!(
        role_change(&lead, &relay, "Tablet 2", CertRole::Volunteer),
        Err(SyncError::FingerprintRequired { .. })
    ));
    let devices = block(ops::devices(lead.store(), &lead.on(&relay), &lead.convoy())).unwrap();
    let shown = devices.iter().find(|d| d.device == thief.id()).unwrap();
    assert_eq!(shown.bound, None, "shown as bound to nothing: {shown:?}");
}

#[test]
fn a_device_that_joins_later_judges_earlier_records_as_everyone_did() {
    let relay = MemoryRelay::new("history");
    let (lead, devices) = convoy(
        &relay,
        &[
            CertRole::Volunteer,
            CertRole::Volunteer,
            CertRole::Volunteer,
        ],
    );
    let [rogue, old, lost] = [&devices[0], &devices[1], &devices[2]];
    let person = lead.register("هدى سالم", None);
    lead.synced(&relay);
    lost.synced(&relay);
    // As a volunteer, the rogue makes itself an issuing key.
    rogue.go_rogue();
    rogue.app.create_issuer("جمعية مزيفة").unwrap();
    rogue.synced(&relay);
    // The lost phone hands out once, as it may.
    lost.hand_out(&person);
    lost.synced(&relay);
    old.synced(&relay);
    lead.synced(&relay);
    // Then the lead makes the rogue a registrar and revokes the lost
    // phone: the relay keeps only each one's newest certificate.
    role_change(&lead, &relay, &rogue.name, CertRole::Registrar).unwrap();
    revoke(&lead, &relay, &lost.name).unwrap();
    old.synced(&relay);
    lead.synced(&relay);
    let newcomer = enrolled(&lead, &relay, "Newcomer");
    role_change(&lead, &relay, "Newcomer", CertRole::Volunteer).unwrap();
    newcomer.synced(&relay);
    for device in [&lead, old, &newcomer] {
        assert!(
            device
                .store()
                .trusted_issuers()
                .unwrap()
                .iter()
                .all(|t| t.association != "جمعية مزيفة"),
            "{}: a key a volunteer made counts once it is a registrar",
            device.name
        );
        assert_eq!(
            device.handed_out(),
            "1",
            "{}: the lost phone's hand-out before its revocation",
            device.name
        );
    }
}

#[test]
fn a_void_naming_the_wrong_device_cannot_take_the_place_of_the_leads() {
    let relay = MemoryRelay::new("voids");
    let (lead, devices) = convoy(
        &relay,
        &[
            CertRole::Volunteer,
            CertRole::Volunteer,
            CertRole::Volunteer,
        ],
    );
    let [v1, rogue, late] = [&devices[0], &devices[1], &devices[2]];
    let scope = Uid(lead.convoy().id);
    let person = lead.register("سامية رجب", None);
    lead.synced(&relay);
    v1.synced(&relay);
    late.synced(&relay);
    let event = v1.hand_out(&person);
    v1.synced(&relay);
    lead.synced(&relay);
    rogue.synced(&relay);
    let last_of = |device: &Dev| {
        relay
            .records(scope)
            .iter()
            .filter(|r| r.header.device == device.id())
            .map(|r| r.header.seq)
            .max()
            .unwrap()
    };
    // The late device will get the hand-out last.
    let hand_out = (v1.id(), last_of(v1));
    relay.set_hostility(|h| {
        h.dropped.insert(hand_out);
    });
    // The rogue voids it naming itself (which cancels nothing), and the
    // lead voids it for real; the late device gets the rogue's first.
    rogue.go_rogue();
    rogue
        .store()
        .record(
            VolunteerId::from_parts(1, [1; 10]),
            EventBody::Void {
                target: event.parse().unwrap(),
                target_device: Some(rogue.store().device().id),
                reason: "mistake".into(),
            },
            NOW,
        )
        .unwrap();
    rogue.synced(&relay);
    lead.app.void(&event, "served the wrong family").unwrap();
    lead.synced(&relay);
    let lead_void = (lead.id(), last_of(&lead));
    relay.set_hostility(|h| {
        h.dropped.insert(lead_void);
    });
    late.synced(&relay);
    relay.set_hostility(|h| {
        h.dropped.remove(&lead_void);
    });
    late.synced(&relay);
    relay.set_hostility(|h| h.dropped.clear());
    late.synced(&relay);
    assert!(late.store().is_voided(event.parse().unwrap()).unwrap());
    for device in [&lead, late] {
        assert_eq!(device.handed_out(), "0", "{}", device.name);
    }
}

#[test]
fn two_syncs_of_one_device_at_once_both_finish_and_lose_nothing() {
    // The background sync and a lead's revocation (which syncs first) may
    // run at the same time on one device.
    let relay = MemoryRelay::new("busy");
    let (lead, devices) = convoy(&relay, &[CertRole::Volunteer]);
    let volunteer = &devices[0];
    let person = lead.register("رحمة فتحي", None);
    lead.synced(&relay);
    volunteer.synced(&relay);
    for round in 0..8 {
        volunteer.hand_out(&person);
        std::thread::scope(|s| {
            let syncs = [
                s.spawn(|| volunteer.sync(&relay)),
                s.spawn(|| volunteer.sync(&relay)),
            ];
            for sync in syncs {
                let done = sync.join().unwrap();
                assert!(done.is_ok(), "round {round}: {done:?}");
            }
        });
    }
    lead.synced(&relay);
    assert_eq!(lead.handed_out(), "8");
}

#[test]
fn a_relay_that_renames_devices_cannot_choose_whom_the_lead_promotes_or_revokes() {
    let relay = MemoryRelay::new("renamer");
    let (lead, devices) = convoy(&relay, &[CertRole::Volunteer, CertRole::Volunteer]);
    let [alice, bob] = [&devices[0], &devices[1]];
    // The relay hides Alice and lists Bob (its accomplice) under her name.
    relay.set_hostility(|h| {
        h.hidden.insert(alice.id());
        h.renamed.insert(bob.id(), alice.name.clone());
    });
    assert!(role_change(&lead, &relay, &alice.name, CertRole::Registrar).is_err());
    assert!(revoke(&lead, &relay, &alice.name).is_err());
    let roster = lead.store().roster(lead.convoy().id).unwrap();
    let bob_now = roster
        .iter()
        .find(|e| e.device == bob.store().device().id)
        .unwrap();
    assert_eq!(
        (
            bob_now.role.as_str(),
            bob_now.status.as_str(),
            bob_now.name.as_str()
        ),
        ("volunteer", "approved", bob.name.as_str()),
        "the lead signed for the device the relay chose"
    );
    // Through an honest relay, the lead reaches Alice by her name.
    relay.set_hostility(|h| {
        h.hidden.clear();
        h.renamed.clear();
    });
    role_change(&lead, &relay, &alice.name, CertRole::Registrar).unwrap();
    let roster = lead.store().roster(lead.convoy().id).unwrap();
    let roles: Vec<(&str, &str)> = [alice, bob]
        .iter()
        .map(|d| {
            let e = roster
                .iter()
                .find(|e| e.device == d.store().device().id)
                .unwrap();
            (e.name.as_str(), e.role.as_str())
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            (alice.name.as_str(), "registrar"),
            (bob.name.as_str(), "volunteer")
        ]
    );
}

#[test]
fn a_relay_that_drops_a_registry_record_is_found_out_and_one_replaced_is_not() {
    let relay = MemoryRelay::new("registry");
    let (lead, devices) = convoy(&relay, &[CertRole::Registrar, CertRole::Volunteer]);
    let [registrar, volunteer] = [&devices[0], &devices[1]];
    let scope = Uid(lead.convoy().id);
    registrar.register("نادية حسن", None);
    let erased = registrar.register("سعاد علي", None);
    registrar.synced(&relay);
    // An erasure replaces the person's entry: the relay drops the older
    // copy's bytes, as it must, and nobody cries foul.
    registrar
        .app
        .erase_beneficiary(&erased, "asked to be removed")
        .unwrap();
    registrar.synced(&relay);
    volunteer.synced(&relay);
    assert_eq!(volunteer.app.search("نادية", 5).unwrap().len(), 1);
    assert!(
        volunteer.quarantined().is_empty(),
        "{:?}",
        volunteer.quarantined()
    );

    // A device that joins now, through a relay that drops the live entry.
    let live: Vec<u64> = relay
        .records(scope)
        .iter()
        .filter(|r| r.header.device == registrar.id())
        .filter(|r| matches!(r.header.kind, RecordKind::Keyed { version: 1, .. }))
        .map(|r| r.header.seq)
        .collect();
    assert_eq!(live.len(), 1, "one live entry left: {live:?}");
    relay.set_hostility(|h| {
        h.dropped.insert((registrar.id(), live[0]));
    });
    let newcomer = enrolled(&lead, &relay, "Newcomer");
    role_change(&lead, &relay, "Newcomer", CertRole::Volunteer).unwrap();
    let error = newcomer.sync(&relay).unwrap_err();
    assert_eq!(error.code(), "relay_tampering", "{error}");
    assert!(error.to_string().contains("registry record"), "{error}");
    // Everything else was applied, and the lead's list of anomalies on
    // this device names the dropped record; the next sync goes on.
    assert!(newcomer.app.search("نادية", 5).unwrap().is_empty());
    assert!(
        newcomer
            .quarantined()
            .iter()
            .any(|(d, seq, why)| *d == registrar.store().device().id
                && *seq == live[0]
                && why.contains("dropped by the relay")),
        "{:?}",
        newcomer.quarantined()
    );
    newcomer.synced(&relay);
}

#[test]
fn a_filler_on_a_site_relay_stands_for_a_registry_record_the_device_no_longer_holds() {
    let central = MemoryRelay::new("central");
    let site = MemoryRelay::new("site");
    let (lead, devices) = convoy(&central, &[CertRole::Volunteer]);
    let volunteer = &devices[0];
    block(ops::publish(
        lead.store(),
        &lead.on(&central),
        &lead.on(&site),
        &lead.convoy(),
    ))
    .unwrap();
    lead.register("زينب محمود", None);
    // Once the central relay holds the entry, the lead keeps no copy of
    // the sealed record: on the site relay a signed filler takes its seq.
    lead.synced(&central);
    lead.synced(&site);
    let scope = Uid(lead.convoy().id);
    assert!(
        site.records(scope)
            .iter()
            .all(|r| r.header.device != lead.id() || r.header.kind == RecordKind::Log),
        "the site relay got the entry itself"
    );
    let report = volunteer.synced(&site);
    assert_eq!(report.applied.quarantined, 0, "{report:?}");
    assert!(
        volunteer.quarantined().is_empty(),
        "{:?}",
        volunteer.quarantined()
    );
    let scope_claims: i64 = volunteer
        .database()
        .query_row("SELECT COUNT(*) FROM registry_claims", [], |r| r.get(0))
        .unwrap();
    assert_eq!(scope_claims, 0, "the filler accounts for the listed entry");
}

#[test]
fn an_entry_replaced_by_an_erasure_from_before_the_upgrade_raises_no_alarm() {
    let relay = MemoryRelay::new("backfill");
    let (lead, devices) = convoy(&relay, &[CertRole::Registrar]);
    let registrar = &devices[0];
    let person = lead.register("منيرة عبد الله", None);
    lead.synced(&relay);
    registrar.synced(&relay);
    lead.app.erase_beneficiary(&person, "moved away").unwrap();
    lead.synced(&relay);
    let sql = |device: &Dev, statement: &str| device.database().execute(statement, []).unwrap();
    // The registrar carries the person in, still live on its device (it
    // has not heard of the erasure): the relay drops the entry on arrival,
    // an erasure being there already.
    sql(registrar, "DELETE FROM registry_published");
    registrar.synced(&relay);
    // The lead's store is from before registry keys were noted: it knows
    // the erasure only by the person.
    sql(&lead, "DELETE FROM registry_keys");
    let report = lead.synced(&relay);
    assert_eq!(report.applied.quarantined, 0, "{report:?}");
}
