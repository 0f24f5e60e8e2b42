//! A real relay process whose operator turns hostile and edits its
//! database while devices use it through the `qafila` command line: a key
//! generation of the operator's own, a pending device's keys swapped, an
//! old approval written back over a revocation, a record deleted from a
//! device's log. Each attack must fail (`SECURITY.md`).

use qafila_e2e::{Device, RelayProcess, convoy};
use serde_json::Value;

const SITE: &str = "ملوي";

fn relay_db(dir: &tempfile::TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("relay.db")).unwrap()
}

fn hand_out(device: &Device, person: &str) {
    device.ok(&[
        "handout",
        "--item",
        "food_box",
        "--qty",
        "1",
        "--site",
        SITE,
        "--override",
        "--reason",
        "again",
        person,
    ]);
}

fn handed_out(device: &Device) -> Value {
    device.ok(&["day", "status", "--site", SITE])["items"][0]["handed_out"].clone()
}

fn device_id(device: &Device) -> Vec<u8> {
    let conn = device.database();
    conn.query_row("SELECT id FROM device", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn an_operator_who_edits_the_relay_database_reads_nothing_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let (lead, volunteers) = convoy(&relay.url, SITE, 2);
    let [v1, v2] = [&volunteers[0], &volunteers[1]];
    let person = lead.ok(&[
        "beneficiary",
        "add",
        "--name",
        "نادية فتحي السيد",
        "--household-size",
        "3",
        "--village",
        SITE,
        "--nid",
        "29207071234565",
    ])["beneficiary"]
        .as_str()
        .unwrap()
        .to_owned();
    lead.ok(&["sync"]);
    v1.ok(&["sync"]);
    v2.ok(&["sync"]);

    // 1. The operator grants v1 a key generation of its own (generation 7,
    //    any bytes, any signature): v1 takes none, and seals nothing with it.
    let v1_id = device_id(v1);
    let scope: Vec<u8> = relay_db(&dir)
        .query_row("SELECT scope FROM scopes", [], |r| r.get(0))
        .unwrap();
    relay_db(&dir)
        .execute(
            "INSERT INTO wrapped_keys (scope, device, epoch, wrapped, signature, revocations)
             VALUES (?1, ?2, 7, ?3, ?4, '[]')",
            rusqlite::params![scope, v1_id, vec![5u8; 120], vec![6u8; 64]],
        )
        .unwrap();
    hand_out(v1, &person);
    v1.ok(&["sync"]);
    let planted: i64 = v1
        .database()
        .query_row("SELECT COUNT(*) FROM scope_keys WHERE epoch = 7", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(planted, 0, "v1 took the operator's key generation");
    let sealed_with_7: i64 = relay_db(&dir)
        .query_row(
            "SELECT COUNT(*) FROM records WHERE device = ?1 AND substr(bytes, 42, 4) = x'07000000'",
            [&v1_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sealed_with_7, 0);
    let sealed_with_1: i64 = relay_db(&dir)
        .query_row(
            "SELECT COUNT(*) FROM records WHERE device = ?1 AND substr(bytes, 42, 4) = x'01000000'",
            [&v1_id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(sealed_with_1 > 0, "the probe reads the epoch where it is");
    lead.ok(&["sync"]);
    assert_eq!(handed_out(&lead), "1");

    // 2. A pending device's keys swapped for the operator's: the lead's
    //    approval finds them unbound to its code, and the device's own
    //    fingerprint does not match them either.
    let invite = lead.ok(&["convoy", "invite"]);
    let tablet = Device::initialised("Tablet");
    let enrolled = tablet.ok(&[
        "enroll",
        "--relay",
        &relay.url,
        "--code",
        invite["codes"][0].as_str().unwrap(),
    ]);
    let screen = enrolled["fingerprint"].as_str().unwrap().to_owned();
    relay_db(&dir)
        .execute(
            "UPDATE members SET signing = ?1, encryption = ?2 WHERE name = 'Tablet'",
            rusqlite::params![vec![9u8; 32], vec![8u8; 32]],
        )
        .unwrap();
    let (code, _) = lead.fails(&["convoy", "approve", "Tablet"]);
    assert_eq!(code, "key_binding_mismatch");
    let (code, _) = lead.fails(&["convoy", "approve", "Tablet", "--fingerprint", &screen]);
    assert_eq!(
        code, "key_binding_mismatch",
        "the device's screen cannot vouch for other keys"
    );
    let devices = lead.ok(&["convoy", "devices"]).to_string();
    assert!(devices.contains("\"bound\":false"), "{devices}");

    // 3. After the lead revokes v2, the operator writes v2's old approval
    //    back, so the relay takes v2's uploads again: no device counts them.
    let old: Vec<u8> = relay_db(&dir)
        .query_row(
            "SELECT certificate FROM members WHERE name = 'Volunteer 2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    lead.ok(&["convoy", "revoke", "Volunteer 2"]);
    v1.ok(&["sync"]);
    relay_db(&dir)
        .execute(
            "UPDATE members SET status = 'approved', certificate = ?1, version = 1
             WHERE name = 'Volunteer 2'",
            [old],
        )
        .unwrap();
    hand_out(v2, &person);
    hand_out(v2, &person);
    v2.ok(&["sync"]);
    lead.ok(&["sync"]);
    v1.ok(&["sync"]);
    assert_eq!(
        handed_out(&lead),
        "1",
        "a revoked device's hand-outs counted"
    );
    assert_eq!(handed_out(v1), "1");
    let set_aside = lead.ok(&["anomalies"]).to_string();
    assert!(set_aside.contains("revoked"), "{set_aside}");

    // 4. The operator deletes a record from the middle of v1's log: the
    //    lead notices and says so, instead of silently missing it.
    for _ in 0..2 {
        hand_out(v1, &person);
        v1.ok(&["sync"]);
    }
    let logs: Vec<i64> = relay_db(&dir)
        .prepare("SELECT seq FROM records WHERE device = ?1 AND key IS NULL ORDER BY seq")
        .unwrap()
        .query_map([&v1_id], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let middle = logs[logs.len() - 2];
    relay_db(&dir)
        .execute(
            "DELETE FROM records WHERE device = ?1 AND seq = ?2",
            rusqlite::params![v1_id, middle],
        )
        .unwrap();
    let (code, message) = lead.fails(&["sync"]);
    assert_eq!(code, "relay_tampering", "{message}");
    assert!(message.contains("not delivered"), "{message}");
}
