//! A lead's laptop is lost: its keys, backed up to a file (or a printed
//! sheet), make another laptop the lead. It takes the lead's records back
//! from the relay, records after the backup included, carries the same log
//! on (members take its records, nothing is quarantined), approves a new
//! device, and the old laptop, found again, is refused. A wrong passphrase
//! or an altered file restores nothing; neither the file nor the sheet
//! holds a secret or a name in clear.

use qafila_e2e::{Device, PASSPHRASE, RelayProcess};

const SITE: &str = "دير مواس";
const BACKUP_PASSPHRASE: &str = "ورقة في الخزنة ٢٠٢٦";
const NAME: &str = "فاطمة محمد عبد الرحمن";

fn with_backup_passphrase(passphrase: &str) -> Device {
    Device::with_env(&[
        ("QAFILA_PASSPHRASE", PASSPHRASE),
        ("QAFILA_BACKUP_PASSPHRASE", passphrase),
    ])
}

fn food_boxes(device: &Device) -> String {
    let status = device.ok(&["day", "status", "--site", SITE]);
    qafila_e2e::handed_out(&status, "food_box")
}

fn count(device: &Device, sql: &str) -> i64 {
    device.database().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_lost_lead_laptop_is_replaced_from_its_key_backup() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let (mut lead, mut members) =
        qafila_e2e::convoy_with_roles(&relay.url, SITE, &["registrar", "volunteer"]);
    let registrar = &mut members[0];
    // Only a lead's laptop is backed up: any other lost device is replaced.
    registrar.set_env(&[
        ("QAFILA_PASSPHRASE", PASSPHRASE),
        ("QAFILA_BACKUP_PASSPHRASE", BACKUP_PASSPHRASE),
    ]);
    let elsewhere = dir.path().join("registrar.qafila-keys");
    let (code, stderr) = registrar.fails(&["keys", "export", "--out", elsewhere.to_str().unwrap()]);
    assert_eq!(code, "nothing_to_back_up", "{stderr}");
    assert!(!elsewhere.exists());
    let registrar = &members[0];
    lead.ok(&[
        "stock", "load", "--site", SITE, "--item", "food_box", "--qty", "50",
    ]);
    let person = lead.ok(&[
        "beneficiary",
        "add",
        "--name",
        NAME,
        "--household-size",
        "5",
        "--village",
        SITE,
        "--nid",
        "29001011234567",
    ])["beneficiary"]
        .as_str()
        .unwrap()
        .to_owned();
    lead.ok(&[
        "handout", "--item", "food_box", "--qty", "1", "--site", SITE, &person,
    ]);
    lead.ok(&["sync"]);

    // The backup, and its sheet.
    lead.set_env(&[
        ("QAFILA_PASSPHRASE", PASSPHRASE),
        ("QAFILA_BACKUP_PASSPHRASE", BACKUP_PASSPHRASE),
    ]);
    let file = dir.path().join("lead.qafila-keys");
    let sheet = dir.path().join("lead-keys.html");
    let exported = lead.ok(&[
        "keys",
        "export",
        "--out",
        file.to_str().unwrap(),
        "--sheet",
        sheet.to_str().unwrap(),
    ]);
    assert_eq!(exported["convoys"][0], "قافلة الشتاء", "{exported}");
    let codes = exported["codes"].as_u64().unwrap();
    let html = std::fs::read_to_string(&sheet).unwrap();
    assert_eq!(html.matches("<figure>").count() as u64, codes);
    assert!(html.contains("Content-Security-Policy"));
    assert!(!html.contains("<script"));

    // Nothing secret or personal in clear, in the file or on the sheet.
    let signing: Vec<u8> = lead
        .database()
        .query_row("SELECT signing FROM identity", [], |r| r.get(0))
        .unwrap();
    let nid_secret: Vec<u8> = lead
        .database()
        .query_row("SELECT nid_secret FROM device", [], |r| r.get(0))
        .unwrap();
    let written = [std::fs::read(&file).unwrap(), html.into_bytes()].concat();
    for secret in [&signing, &nid_secret] {
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        assert!(memchr::memmem::find(&written, secret).is_none());
        assert!(memchr::memmem::find(&written, hex.as_bytes()).is_none());
    }
    assert!(memchr::memmem::find(&written, NAME.as_bytes()).is_none());

    // The lead goes on after the backup: a lost phone revoked (a new key
    // generation, which the backup does not hold)...
    lead.ok(&["convoy", "revoke", "Volunteer 2"]);
    // ...a hand-out sealed under it, then the laptop is lost.
    lead.ok(&[
        "handout",
        "--item",
        "food_box",
        "--qty",
        "1",
        "--site",
        SITE,
        &person,
        "--override",
        "--reason",
        "second family in the house",
    ]);
    lead.ok(&["sync"]);
    registrar.ok(&["sync"]);
    // Made on the old laptop and never synced: lost with it.
    let unsynced = lead.ok(&[
        "beneficiary",
        "add",
        "--name",
        "منى سعيد",
        "--household-size",
        "2",
        "--village",
        SITE,
    ])["beneficiary"]
        .as_str()
        .unwrap()
        .to_owned();
    lead.ok(&[
        "handout", "--item", "food_box", "--qty", "1", "--site", SITE, &unsynced,
    ]);

    // A wrong passphrase, or an altered file, restores nothing.
    let wrong = with_backup_passphrase("not the backup passphrase");
    let (code, stderr) = wrong.fails(&["keys", "import", file.to_str().unwrap()]);
    assert_eq!(code, "wrong_backup_passphrase", "{stderr}");
    assert!(!wrong.dir().join("qafila.db").exists());
    let mut altered = std::fs::read_to_string(&file).unwrap();
    let at = altered.find("\"sealed\":\"").unwrap() + 20;
    let flipped = if &altered[at..=at] == "0" { "1" } else { "0" };
    altered.replace_range(at..=at, flipped);
    let altered_file = dir.path().join("altered.qafila-keys");
    std::fs::write(&altered_file, altered).unwrap();
    let tampered = with_backup_passphrase(BACKUP_PASSPHRASE);
    let (code, stderr) = tampered.fails(&["keys", "import", altered_file.to_str().unwrap()]);
    assert_eq!(code, "wrong_backup_passphrase", "{stderr}");
    assert!(!tampered.dir().join("qafila.db").exists());
    let (code, _) = tampered.fails(&["keys", "import", sheet.to_str().unwrap()]);
    assert_eq!(code, "backup_damaged");

    // The new laptop, from the sheet's codes scanned in any order.
    let mut scanned = qafila_app::keys::sheet_codes(&std::fs::read_to_string(&file).unwrap());
    scanned.reverse();
    let scanned_file = dir.path().join("scanned.txt");
    std::fs::write(&scanned_file, scanned.join("\n")).unwrap();
    let restored = with_backup_passphrase(BACKUP_PASSPHRASE);
    restored.ok(&[
        "keys",
        "import",
        "--no-sync",
        scanned_file.to_str().unwrap(),
    ]);
    // Nothing is recorded before the lead's log is back.
    let (code, stderr) = restored.fails(&[
        "stock", "load", "--site", SITE, "--item", "blanket", "--qty", "10",
    ]);
    assert_eq!(code, "restore_pending", "{stderr}");
    let synced = restored.ok(&["sync"]);
    assert_eq!(synced["quarantined"], 0, "{synced}");
    // The old laptop, found, cannot put its own records where the restored
    // laptop's now are.
    let (code, stderr) = lead.fails(&["sync"]);
    assert_eq!(code, "log_forked", "{stderr}");
    assert!(stderr.contains("restored on another laptop"), "{stderr}");
    // Both hand-outs, the one after the backup too.
    assert_eq!(food_boxes(&restored), "2");
    let found = restored.ok(&["beneficiary", "search", "29001011234567"]);
    assert_eq!(found["results"][0]["name"], NAME, "{found}");

    // It carries the same log on: the registrar takes its records.
    restored.ok(&[
        "handout",
        "--item",
        "food_box",
        "--qty",
        "1",
        "--site",
        SITE,
        &person,
        "--override",
        "--reason",
        "a third family",
    ]);
    restored.ok(&["sync"]);
    let taken = registrar.ok(&["sync"]);
    assert_eq!(taken["quarantined"], 0, "{taken}");
    assert_eq!(food_boxes(registrar), "3");
    assert_eq!(
        count(
            registrar,
            "SELECT COUNT(*) FROM events WHERE kind = 'lead_restored'"
        ),
        1
    );
    assert_eq!(count(registrar, "SELECT COUNT(*) FROM quarantine"), 0);

    // It leads: a new device enrolls with its code and is approved.
    let invited = restored.ok(&["convoy", "invite"]);
    let code = invited["codes"][0].as_str().unwrap().to_owned();
    let newcomer = Device::initialised("Volunteer 3");
    newcomer.ok(&["enroll", "--relay", &relay.url, "--code", &code]);
    restored.ok(&["convoy", "approve", "Volunteer 3", "--role", "volunteer"]);
    restored.ok(&["sync"]);
    newcomer.ok(&["sync"]);
    assert_eq!(food_boxes(&newcomer), "3");

    // The old laptop stays refused; the convoy never took what it made.
    let (code, stderr) = lead.fails(&["sync"]);
    assert!(
        ["relay_ahead", "log_forked"].contains(&code.as_str()),
        "{code}: {stderr}"
    );
    assert!(stderr.contains("restored on another laptop"), "{stderr}");
    let found = registrar.ok(&["beneficiary", "search", "منى سعيد"]);
    assert_eq!(
        found["results"].as_array().map_or(0, Vec::len),
        0,
        "{found}"
    );
    assert_eq!(food_boxes(registrar), "3");
}
