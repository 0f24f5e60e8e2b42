//! Erasure that erases (issue 14): a person registered by the lead and
//! synced to a registrar through a real relay, then erased by the lead and
//! synced again. Afterwards no byte of their name, phone or national ID is
//! in any file of either device or of the relay, and not in either device's
//! database even read with its key: the WAL that held the old pages is cut
//! on the device that received the erasure as on the one that made it.

use qafila_e2e::{Device, RelayProcess, convoy_with_roles};

const SITE: &str = "مدرسة ميت غمر";
const NAME: &str = "زينب عبد الحميد الشرقاوي";
const NID: &str = "29001150101235";
const PHONE: &str = "01001234567";

fn needles() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for text in [NAME, "الشرقاوي", NID, PHONE] {
        out.push((text.to_owned(), text.as_bytes().to_vec()));
        out.push((
            format!("{text} (UTF-16)"),
            text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ));
    }
    let key = qafila_domain::names::NameKey::new(NAME);
    out.push((
        "the name's search key".into(),
        key.as_str().as_bytes().to_vec(),
    ));
    out
}

fn assert_absent(what: &str, bytes: &[u8]) {
    for (text, needle) in needles() {
        assert!(
            memchr::memmem::find(bytes, &needle).is_none(),
            "«{text}» is still in {what}"
        );
    }
}

fn folder(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(path).unwrap());
        }
    }
    all
}

/// The device's database decrypted with its key: what the tables hold.
fn decrypted(device: &Device) -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    let plain = out.path().join("plain.db");
    let conn = device.database();
    conn.execute(
        "ATTACH DATABASE ?1 AS plain KEY ''",
        [plain.to_str().unwrap()],
    )
    .unwrap();
    conn.query_row("SELECT sqlcipher_export('plain')", [], |_| Ok(()))
        .unwrap();
    conn.execute("DETACH DATABASE plain", []).unwrap();
    drop(conn);
    std::fs::read(plain).unwrap()
}

fn wal_len(device: &Device) -> u64 {
    std::fs::metadata(device.dir().join("qafila.db-wal")).map_or(0, |m| m.len())
}

#[test]
fn an_erasure_synced_to_a_registrar_leaves_no_byte_of_the_person_anywhere() {
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&relay_dir.path().join("relay.db"));
    let (lead, devices) = convoy_with_roles(&relay.url, SITE, &["registrar"]);
    let registrar = &devices[0];
    let added = lead.ok(&[
        "beneficiary",
        "add",
        "--name",
        NAME,
        "--household-size",
        "4",
        "--village",
        SITE,
        "--nid",
        NID,
        "--phone",
        PHONE,
    ]);
    let id = added["beneficiary"].as_str().unwrap().to_owned();
    lead.ok(&["sync"]);
    registrar.ok(&["sync"]);
    let held = registrar.ok(&["beneficiary", "show", &id]);
    assert_eq!(held["name"], NAME, "the registrar holds the person: {held}");
    // Before the erasure the decrypted database does hold them (their
    // search key): the checks below can see what they look for.
    let key = qafila_domain::names::NameKey::new(NAME);
    assert!(memchr::memmem::find(&decrypted(registrar), key.as_str().as_bytes()).is_some());

    let erased = lead.ok(&["beneficiary", "erase", &id, "--reason", "طلب المستفيدة"]);
    assert_eq!(erased["erased"], true);
    lead.ok(&["sync"]);
    registrar.ok(&["sync"]);
    let gone = registrar.ok(&["beneficiary", "show", &id]);
    assert_eq!(gone["erased"], true, "{gone}");
    assert!(gone["name"].is_null(), "{gone}");

    for (who, device) in [("the lead", &lead), ("the registrar", registrar)] {
        assert_eq!(wal_len(device), 0, "{who}'s WAL still holds pages");
        assert_absent(&format!("{who}'s data folder"), &folder(device.dir()));
        assert_absent(&format!("{who}'s decrypted database"), &decrypted(device));
    }
    assert_absent("the relay's files", &folder(relay_dir.path()));
}

/// The app keeps its store open for hours: a received erasure must cut the
/// WAL while it runs, not only when the process ends.
#[test]
fn a_received_erasure_cuts_the_wal_of_a_store_that_stays_open() {
    use qafila_e2e::inprocess::convoy;
    use qafila_proto::cert::CertRole;
    use qafila_testkit::relay::MemoryRelay;

    let relay = MemoryRelay::new("erasure");
    let (lead, devices) = convoy(&relay, &[CertRole::Registrar]);
    let registrar = &devices[0];
    let person = lead.register(NAME, Some(NID));
    lead.synced(&relay);
    registrar.synced(&relay);
    lead.app
        .erase_beneficiary(&person, "طلب المستفيدة")
        .unwrap();
    lead.synced(&relay);
    registrar.synced(&relay);

    let wal = registrar.store().path().with_extension("db-wal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the registrar's WAL was never cut after the erasure it received"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
