//! Phones whose clocks are wrong, on the real processes: every request is
//! stamped with the relay's clock (learnt from its hello and kept as an
//! offset), never the phone's own, so a phone set to 2000-01-01 and one a
//! day fast still enrol, are approved, sync, have their hand-outs reach the
//! lead, and learn their revocation. The relay refuses a stamp outside its
//! window; these phones' own clocks are far outside it.

use qafila_e2e::{Device, RelayProcess};

const SITE: &str = "نزلة السمان";

fn code(created: &serde_json::Value, i: usize) -> String {
    created["codes"][i].as_str().expect("a code").to_owned()
}

fn add_family(lead: &Device, name: &str, nid: &str) -> String {
    let added = lead.ok(&[
        "beneficiary",
        "add",
        "--name",
        name,
        "--household-size",
        "4",
        "--village",
        SITE,
        "--nid",
        nid,
    ]);
    added["beneficiary"].as_str().expect("an id").to_owned()
}

fn hand_out(device: &Device, beneficiary: &str) -> serde_json::Value {
    device.ok(&[
        "handout",
        "--item",
        "food_box",
        "--qty",
        "1",
        "--site",
        SITE,
        beneficiary,
    ])
}

#[test]
fn phones_with_wrong_clocks_enrol_sync_and_learn_their_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let lead = Device::initialised("Lead");
    let created = lead.ok(&[
        "convoy",
        "create",
        "--name",
        "قافلة الشتاء",
        "--date",
        "2026-12-01",
        "--site",
        SITE,
        "--relay",
        &relay.url,
        "--codes",
        "2",
    ]);
    let old = Device::with_clock(&["2000-01-01 08:00:00"]);
    let fast = Device::with_clock(&["-f", "+1d"]);
    for (i, (phone, name)) in [(&old, "Old phone"), (&fast, "Fast phone")]
        .into_iter()
        .enumerate()
    {
        phone.ok(&["init", "--device-name", name]);
        let enrolled = phone.ok(&[
            "enroll",
            "--relay",
            &relay.url,
            "--code",
            &code(&created, i),
        ]);
        assert_eq!(enrolled["status"], "pending", "{name}: {enrolled}");
        let approved = lead.ok(&["convoy", "approve", name, "--role", "volunteer"]);
        assert_eq!(approved["fingerprint"], enrolled["fingerprint"], "{name}");
    }
    let first = add_family(&lead, "أسرة أم محمد", "29001010100013");
    let second = add_family(&lead, "أسرة أبو علي", "29001010100023");
    lead.ok(&[
        "stock", "load", "--site", SITE, "--item", "food_box", "--qty", "10",
    ]);
    lead.ok(&["sync"]);

    for (phone, family) in [(&old, &first), (&fast, &second)] {
        let synced = phone.ok(&["sync"]);
        assert_eq!(synced["applied_registry"], 2, "{synced}");
        assert_eq!(synced["quarantined"], 0, "{synced}");
        hand_out(phone, family);
        let sent = phone.ok(&["sync"]);
        assert_eq!(sent["uploaded"], 1, "{sent}");
    }
    let received = lead.ok(&["sync"]);
    assert_eq!(received["applied_events"], 2, "{received}");
    assert_eq!(received["quarantined"], 0, "{received}");
    // Both hand-outs count at the lead: neither family may be served again.
    for family in [&first, &second] {
        let (code, _) = lead.fails(&[
            "handout", "--item", "food_box", "--qty", "1", "--site", SITE, family,
        ]);
        assert_eq!(code, "over_entitlement");
    }

    // A revocation reaches a phone whatever its clock says.
    lead.ok(&["convoy", "revoke", "Old phone"]);
    let (code, _) = old.fails(&["sync"]);
    assert_eq!(code, "device_revoked");
    // The other phone carries on.
    assert_eq!(fast.ok(&["sync"])["quarantined"], 0);
}
