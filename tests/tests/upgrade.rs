//! A convoy from the build before the trust model (`tests/fixtures/
//! before-trust/`, made by `make-before-trust.sh`): its relay database (in
//! SQLite and in PostgreSQL) and three device stores — the lead, a
//! volunteer with an unsynced check-in, and a device the lead revoked —
//! open with this build, migrate, and carry on: nothing recorded is lost,
//! the revocation stays final, and devices certified before roles keep
//! working until the lead gives them a role.

use std::path::PathBuf;

use qafila_e2e::{Device, RelayProcess};
use qafila_testkit::postgres::TempPostgres;

const SITE: &str = "دير مواس";

fn fixture(name: &str) -> PathBuf {
    qafila_e2e::fixture("before-trust", name)
}

fn fixture_text(name: &str) -> String {
    qafila_e2e::fixture_text("before-trust", name)
}

/// The fixtures recorded a relay on a port long gone: the devices are
/// pointed at the same relay, now serving on `url`.
fn at_relay(device: &Device, url: &str) {
    let conn = rusqlite::Connection::open(device.dir().join("qafila.db")).unwrap();
    conn.execute("UPDATE convoys SET relay = ?1", [url])
        .unwrap();
}

fn carries_on(url: &str) {
    let lead = Device::copy_of(&fixture("lead"));
    let volunteer = Device::copy_of(&fixture("volunteer"));
    let revoked = Device::copy_of(&fixture("revoked"));
    for device in [&lead, &volunteer, &revoked] {
        at_relay(device, url);
    }
    let lead_person = fixture_text("lead-person.txt");
    let volunteer_person = fixture_text("volunteer-person.txt");

    // Everyone syncs with the upgraded relay; the volunteer's check-in,
    // recorded but never sealed before the upgrade, goes up chained.
    lead.ok(&["sync"]);
    let sent = volunteer.ok(&["sync"]);
    assert_eq!(sent["sealed_events"], 1, "{sent}");
    let (code, _) = revoked.fails(&["sync"]);
    assert_eq!(
        code, "device_revoked",
        "a revocation from before stays final"
    );
    lead.ok(&["sync"]);
    let anomalies = lead.ok(&["anomalies"]).to_string();
    assert!(
        !anomalies.contains("quarantine"),
        "nothing from before was set aside: {anomalies}"
    );
    // Both households and both hand-outs from before are there, and the
    // volunteer's check-in.
    for person in [&lead_person, &volunteer_person] {
        let shown = lead.ok(&["beneficiary", "show", person]);
        assert!(shown["name"].is_string(), "{shown}");
    }
    let day = lead.ok(&["day", "status", "--site", SITE, "--date", "2026-12-07"]);
    assert_eq!(day["items"][0]["handed_out"], "2", "{day}");

    // Devices certified before roles are shown so, and keep working.
    let devices = lead.ok(&["convoy", "devices"]).to_string();
    assert!(devices.contains("legacy"), "{devices}");
    volunteer.ok(&[
        "beneficiary",
        "add",
        "--name",
        "سيدة قديمة",
        "--household-size",
        "2",
        "--village",
        SITE,
    ]);
    volunteer.ok(&["sync"]);
    lead.ok(&["sync"]);
    // The lead gives the volunteer a role: from the first record the lead
    // has not received on, it is held to it; what it did before counts.
    let role = lead.ok(&["convoy", "role", "volunteer", "volunteer"]);
    assert_eq!(role["role"], "volunteer", "{role}");
    volunteer.ok(&["sync"]);
    let (code, _) = volunteer.fails(&[
        "beneficiary",
        "add",
        "--name",
        "سيدة جديدة",
        "--household-size",
        "2",
        "--village",
        SITE,
    ]);
    assert_eq!(code, "role_forbidden");
    volunteer.ok(&[
        "handout",
        "--item",
        "blanket",
        "--qty",
        "1",
        "--site",
        SITE,
        &volunteer_person,
    ]);
    volunteer.ok(&["sync"]);
    lead.ok(&["sync"]);
    let found = lead
        .ok(&["beneficiary", "search", "سيدة قديمة"])
        .to_string();
    assert!(found.contains("سيدة قديمة"), "{found}");
    let day = lead.ok(&["day", "status", "--site", SITE]).to_string();
    assert!(
        day.contains("blanket"),
        "the hand-out after the upgrade arrived: {day}"
    );
    // The card the lead issued before still verifies, and new devices join
    // the upgraded convoy with the new codes.
    let invite = lead.ok(&["convoy", "invite"]);
    let code = invite["codes"][0].as_str().unwrap();
    let newcomer = Device::initialised("Newcomer");
    newcomer.ok(&["enroll", "--relay", url, "--code", code]);
    lead.ok(&["convoy", "approve", "Newcomer"]);
    newcomer.ok(&["sync"]);
    let found = newcomer.ok(&["beneficiary", "search", "فاطمة"]).to_string();
    assert!(found.contains(&lead_person), "{found}");
    // It counts what the revoked phone did before its revocation as every
    // device did before the upgrade (a revocation then named no point).
    let day = newcomer.ok(&["day", "status", "--site", SITE, "--date", "2026-12-07"]);
    assert_eq!(day["items"][0]["handed_out"], "2", "{day}");
}

#[test]
fn a_sqlite_relay_and_stores_from_before_the_trust_model_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    std::fs::copy(fixture("relay.db"), &db).unwrap();
    let relay = RelayProcess::sqlite(&db);
    carries_on(&relay.url);
}

#[test]
fn a_postgres_relay_from_before_the_trust_model_carries_on() {
    let server = TempPostgres::start();
    let url = server.create_database_from("upgrade", &fixture("relay.pg.sql"));
    let relay = RelayProcess::postgres(&url);
    carries_on(&relay.url);
}
