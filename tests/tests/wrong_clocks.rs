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

/// The lead creates a convoy on `relay` serving [`SITE`] with two codes.
fn create(lead: &Device, relay: &str, name: &str, date: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "convoy", "create", "--name", name, "--date", date, "--site", SITE, "--relay", relay,
        "--codes", "2",
    ];
    args.extend_from_slice(extra);
    lead.ok(&args)
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

/// Sets up each phone, enrols it on `relay` with the next code of
/// `created` and has the lead approve it as a volunteer; what each
/// enrolment printed.
fn enrol(
    lead: &Device,
    relay: &str,
    created: &serde_json::Value,
    phones: &[(&Device, &str)],
) -> Vec<serde_json::Value> {
    phones
        .iter()
        .enumerate()
        .map(|(i, (phone, name))| {
            phone.ok(&["init", "--device-name", name]);
            let enrolled = phone.ok(&["enroll", "--relay", relay, "--code", &code(created, i)]);
            let approved = lead.ok(&["convoy", "approve", name, "--role", "volunteer"]);
            assert_eq!(approved["fingerprint"], enrolled["fingerprint"], "{name}");
            enrolled
        })
        .collect()
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
    let created = create(&lead, &relay.url, "قافلة الشتاء", "2026-12-01", &[]);
    let old = Device::with_clock(&["2000-01-01 08:00:00"]);
    let fast = Device::with_clock(&["-f", "+1d"]);
    for enrolled in enrol(
        &lead,
        &relay.url,
        &created,
        &[(&old, "Old phone"), (&fast, "Fast phone")],
    ) {
        assert_eq!(enrolled["status"], "pending", "{enrolled}");
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
    // Two hand-outs, and each phone's note that its clock is wrong.
    assert_eq!(received["applied_events"], 4, "{received}");
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

fn food_boxes(status: &serde_json::Value) -> String {
    qafila_e2e::handed_out(status, "food_box")
}

/// A village's site relay whose clock runs three hours fast still serves
/// correct phones (and one at 2000-01-01); their hand-outs are on the
/// convoy's day at the lead, the wrong phone is reported once, and once
/// every phone has synced the lead closes the day without leaving anyone
/// out.
#[test]
fn a_site_relay_hours_fast_serves_phones_and_the_day_closes_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let central = RelayProcess::sqlite(&dir.path().join("central.db"));
    let preload = qafila_e2e::libfaketime_mt();
    let site = RelayProcess::sqlite_with_env(
        &dir.path().join("site.db"),
        &[("LD_PRELOAD", preload.as_str()), ("FAKETIME", "+3h")],
    );
    let lead = Device::initialised("Lead");
    let created = create(&lead, &central.url, "قافلة الشتاء", "٢٠٢٦-١٢-٠١", &[]);
    let right = Device::new();
    let old = Device::with_clock(&["2000-01-01 08:00:00"]);
    enrol(
        &lead,
        &central.url,
        &created,
        &[(&right, "Right phone"), (&old, "Old phone")],
    );
    let first = add_family(&lead, "أسرة أم محمد", "29001010100013");
    let second = add_family(&lead, "أسرة أبو علي", "29001010100023");
    lead.ok(&[
        "stock", "load", "--site", SITE, "--item", "food_box", "--qty", "10",
    ]);
    lead.ok(&["convoy", "publish", "--relay", &site.url]);
    lead.ok(&["sync"]);
    // In the village, only the site relay answers; its clock is 3 h fast.
    for (phone, family) in [(&right, &first), (&old, &second)] {
        phone.ok(&["sync"]);
        phone.ok(&["sync", "--relay", &site.url]);
        hand_out(phone, family);
        let sent = phone.ok(&["sync", "--relay", &site.url]);
        assert!(sent["uploaded"].as_u64().unwrap() >= 1, "{sent}");
    }
    lead.ok(&[
        "relay",
        "forward",
        "--from",
        &site.url,
        "--to",
        &central.url,
    ]);
    // Back in town every phone syncs with the convoy's relay, then the lead.
    for phone in [&right, &old] {
        phone.ok(&["sync"]);
    }
    lead.ok(&["sync"]);

    let status = lead.ok(&["day", "status", "--site", SITE]);
    assert_eq!(food_boxes(&status), "2", "{status}");
    assert_eq!(status["date"], qafila_e2e::convoy_today(), "{status}");
    let anomalies = lead.ok(&["anomalies"]);
    let clocks: Vec<&serde_json::Value> = anomalies["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["code"] == "clock_wrong")
        .collect();
    assert_eq!(clocks.len(), 1, "{anomalies}");
    assert!(
        clocks[0]["message"].as_str().unwrap().contains("Old phone"),
        "{anomalies}"
    );
    let waiting = lead.ok(&["day", "devices", "--site", SITE]);
    assert!(
        waiting["devices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["outstanding"] == false),
        "{waiting}"
    );
    // The clock anomaly is reviewed like any other (as are the hand-outs
    // made without a check-in), then the day closes with nobody left out.
    let open = lead.ok(&["anomalies", "--open"]);
    for anomaly in open["anomalies"].as_array().unwrap() {
        let id = anomaly["id"].as_str().unwrap();
        lead.ok(&[
            "anomalies",
            "--resolve",
            &id[..8],
            "--note",
            "بطارية الموبايل فضيت؛ الساعة اتظبطت من الخادم",
        ]);
    }
    lead.ok(&["day", "reconcile", "--site", SITE, "--count", "food_box=8"]);
    let closed = lead.ok(&["day", "close", "--site", SITE]);
    assert_eq!(closed["outstanding"], serde_json::json!([]), "{closed}");
    assert_eq!(closed["signature_valid"], true, "{closed}");
    assert!(
        closed["signed_text"]
            .as_str()
            .unwrap()
            .contains("handed_out 2"),
        "{closed}"
    );

    // The report and the export of the convoy's day carry both hand-outs.
    let today = qafila_e2e::convoy_today();
    let out = dir.path().join("day.html");
    let report = lead.ok(&[
        "report",
        "day",
        "--site",
        SITE,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(report["households"], 2, "{report}");
    assert_eq!(report["date"], today.as_str(), "{report}");
    let out = dir.path().join("day.csv");
    let export = lead.ok(&[
        "export",
        "--format",
        "csv",
        "--from",
        &today,
        "--to",
        &today,
        "--out",
        out.to_str().unwrap(),
    ]);
    // One row for the site's food boxes that day: two boxes, two households.
    assert_eq!(export["rows"], 1, "{export}");
    let csv = std::fs::read_to_string(&out).unwrap();
    let row = csv
        .lines()
        .find(|line| line.starts_with(&today))
        .unwrap_or_else(|| panic!("no row for {today}: {csv}"));
    let cells: Vec<&str> = row.split(',').collect();
    assert_eq!(
        cells.iter().filter(|c| **c == "2").count(),
        2,
        "quantity and households: {row}"
    );
}

/// 2026-07-14 21:30 UTC: 00:30 on the 15th in Cairo, summer time.
const SUMMER_NIGHT_MS: u64 = 1_784_064_600_000;

/// A phone set to UTC and one whose zone has no daylight saving (as a
/// phone with zone data from before Egypt brought it back in 2023) file a
/// summer hand-out at 00:30 Cairo time on the convoy's day, the 15th:
/// dates come from the time-zone data Qafila ships, never the phone's.
#[test]
fn phones_in_another_zone_or_without_the_2023_rule_file_on_the_convoys_day() {
    let dir = tempfile::tempdir().unwrap();
    let preload = qafila_e2e::libfaketime_mt();
    let at = qafila_e2e::faketime_at(SUMMER_NIGHT_MS);
    let clock = [("LD_PRELOAD", preload.as_str()), ("FAKETIME", at.as_str())];
    let relay = RelayProcess::sqlite_with_env(&dir.path().join("relay.db"), &clock);
    let lead = Device::with_env(&[clock[0], clock[1], ("TZ", "Africa/Cairo")]);
    lead.ok(&["init", "--device-name", "Lead"]);
    let created = create(
        &lead,
        &relay.url,
        "قافلة الصيف",
        "2026-07-14",
        &["--day-ends", "00:00"],
    );
    let utc = Device::with_env(&[clock[0], clock[1], ("TZ", "UTC")]);
    let no_dst = Device::with_env(&[clock[0], clock[1], ("TZ", "EET-2")]);
    enrol(
        &lead,
        &relay.url,
        &created,
        &[(&utc, "UTC phone"), (&no_dst, "Old zone phone")],
    );
    let first = add_family(&lead, "أسرة أم محمد", "29001010100013");
    let second = add_family(&lead, "أسرة أبو علي", "29001010100023");
    lead.ok(&["sync"]);
    for (phone, family) in [(&utc, &first), (&no_dst, &second)] {
        phone.ok(&["sync"]);
        hand_out(phone, family);
        phone.ok(&["sync"]);
    }
    lead.ok(&["sync"]);
    let status = lead.ok(&["day", "status", "--site", SITE]);
    assert_eq!(status["date"], "2026-07-15", "{status}");
    assert_eq!(food_boxes(&status), "2", "{status}");
    let before = lead.ok(&["day", "status", "--site", SITE, "--date", "2026-07-14"]);
    assert_eq!(food_boxes(&before), "0", "{before}");
    // Neither phone's clock is wrong: nothing to report.
    let anomalies = lead.ok(&["anomalies"]);
    assert!(
        !anomalies.to_string().contains("clock_wrong"),
        "{anomalies}"
    );
}

/// A phone whose clock jumps a day ahead after its last word from the
/// relay stamps its hand-out tomorrow (on the site-day the lead opened).
/// Whether the lead waits for the other phones is decided from the relay's
/// own times, so once everyone has synced nobody is outstanding.
#[test]
fn a_phone_a_day_fast_cannot_make_every_device_look_outstanding() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let lead = Device::initialised("Lead");
    let created = create(&lead, &relay.url, "قافلة الشتاء", "2026-12-01", &[]);
    let mut fast = Device::new();
    let steady = Device::new();
    enrol(
        &lead,
        &relay.url,
        &created,
        &[(&fast, "Fast phone"), (&steady, "Steady phone")],
    );
    let first = add_family(&lead, "أسرة أم محمد", "29001010100013");
    let second = add_family(&lead, "أسرة أبو علي", "29001010100023");
    lead.ok(&[
        "stock", "load", "--site", SITE, "--item", "food_box", "--qty", "10",
    ]);
    lead.ok(&["day", "open", "--site", SITE, "--label", "اليوم الأول"]);
    lead.ok(&["sync"]);
    for phone in [&fast, &steady] {
        phone.ok(&["sync"]);
    }
    steady.ok(&["checkin", "--site", SITE, &second]);
    hand_out(&steady, &second);
    // Offline, the fast phone's clock jumps a day ahead.
    let preload = qafila_e2e::libfaketime_mt();
    fast.set_env(&[("LD_PRELOAD", preload.as_str()), ("FAKETIME", "+1d")]);
    fast.ok(&["checkin", "--site", SITE, &first]);
    hand_out(&fast, &first);
    for phone in [&fast, &steady] {
        phone.ok(&["sync"]);
    }
    lead.ok(&["sync"]);
    let status = lead.ok(&["day", "status", "--site", SITE]);
    assert_eq!(food_boxes(&status), "2", "{status}");
    let waiting = lead.ok(&["day", "devices", "--site", SITE]);
    let outstanding: Vec<&serde_json::Value> = waiting["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["outstanding"] == true)
        .collect();
    assert!(outstanding.is_empty(), "{waiting}");
    lead.ok(&["day", "reconcile", "--site", SITE, "--count", "food_box=8"]);
    let open = lead.ok(&["anomalies", "--open"]);
    for anomaly in open["anomalies"].as_array().unwrap() {
        let id = anomaly["id"].as_str().unwrap();
        lead.ok(&["anomalies", "--resolve", &id[..8], "--note", "اتراجعت"]);
    }
    let closed = lead.ok(&["day", "close", "--site", SITE]);
    assert_eq!(closed["outstanding"], serde_json::json!([]), "{closed}");
}
