//! A convoy from the build before the convoy's day (`tests/fixtures/
//! before-time/`, made by `make-before-time.sh` with the build at 18bacae:
//! store schema 0009, a plan without a time zone): its relay database and
//! two device stores open with this build and migrate; the records keep the
//! day they were filed on, the unsynced check-in goes up, the plan means
//! Cairo with days ending at 04:00, and new records land on the convoy's
//! day.

use std::path::PathBuf;

use qafila_e2e::{Device, RelayProcess};

const SITE: &str = "دير مواس";

fn fixture(name: &str) -> PathBuf {
    qafila_e2e::fixture("before-time", name)
}

fn fixture_text(name: &str) -> String {
    qafila_e2e::fixture_text("before-time", name)
}

fn handed_out(device: &Device, date: &str) -> String {
    let status = device.ok(&["day", "status", "--site", SITE, "--date", date]);
    qafila_e2e::handed_out(&status, "food_box")
}

#[test]
fn stores_and_a_relay_from_before_the_convoys_day_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    std::fs::copy(fixture("relay.db"), &db).unwrap();
    let relay = RelayProcess::sqlite(&db);
    let lead = Device::copy_of(&fixture("lead"));
    let volunteer = Device::copy_of(&fixture("volunteer"));
    for device in [&lead, &volunteer] {
        let conn = rusqlite::Connection::open(device.dir().join("qafila.db")).unwrap();
        conn.execute("UPDATE convoys SET relay = ?1", [&relay.url])
            .unwrap();
    }
    let filed_on = fixture_text("day.txt");
    let person = fixture_text("person.txt");

    // The check-in recorded but never sealed before the upgrade goes up.
    lead.ok(&["sync"]);
    let sent = volunteer.ok(&["sync"]);
    assert_eq!(sent["sealed_events"], 1, "{sent}");
    assert_eq!(sent["quarantined"], 0, "{sent}");
    lead.ok(&["sync"]);
    // The hand-out from before keeps its day.
    assert_eq!(handed_out(&lead, &filed_on), "1");
    // The plan from before means Cairo, days ending at 04:00: a new
    // hand-out lands on the convoy's day, at the lead too.
    volunteer.ok(&[
        "handout", "--item", "blanket", "--qty", "1", "--site", SITE, &person,
    ]);
    volunteer.ok(&["sync"]);
    lead.ok(&["sync"]);
    let today = qafila_e2e::convoy_today();
    let status = lead.ok(&["day", "status", "--site", SITE]);
    assert_eq!(status["date"], today.as_str(), "{status}");
    assert!(status.to_string().contains("blanket"), "{status}");
    let anomalies = lead.ok(&["anomalies"]).to_string();
    assert!(!anomalies.contains("quarantine"), "{anomalies}");
    assert!(!anomalies.contains("clock_wrong"), "{anomalies}");
}
