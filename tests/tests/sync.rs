//! Sync end to end: real `qafila` devices, each with its own store, and a
//! real relay process, driven through the CLI as a lead and volunteers
//! would.

use qafila_e2e::{CutProxy, Device, RelayProcess, convoy, convoy_with_roles};
use serde_json::Value;

const SITE: &str = "دير مواس";

fn register(device: &Device, name: &str, nid: &str) -> String {
    let added = device.ok(&[
        "beneficiary",
        "add",
        "--name",
        name,
        "--household-size",
        "5",
        "--village",
        SITE,
        "--nid",
        nid,
    ]);
    added["beneficiary"].as_str().expect("an id").to_owned()
}

fn status(device: &Device) -> Value {
    let mut status = device.ok(&["day", "status", "--site", SITE]);
    // The anomaly list is compared as a set: its order is the fold's.
    if let Some(list) = status["anomalies"].as_array_mut() {
        list.sort_by_key(|a| a.to_string());
    }
    status
}

fn codes(status: &Value) -> Vec<String> {
    status["anomalies"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| a["code"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn sync_all(devices: &[&Device]) {
    // Twice round: everything one device sends reaches all the others.
    for _ in 0..2 {
        for device in devices {
            device.ok(&["sync"]);
        }
    }
}

fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap_or_default();
    let wal = path.with_file_name(format!(
        "{}-wal",
        path.file_name().unwrap().to_string_lossy()
    ));
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn three_volunteers_offline_converge_and_all_see_the_double_hand_out() {
    let dir = tempfile::tempdir().unwrap();
    let relay_db = dir.path().join("relay.db");
    let relay = RelayProcess::sqlite(&relay_db);
    let (lead, volunteers) = convoy(&relay.url, SITE, 3);
    let [v1, v2, v3] = [&volunteers[0], &volunteers[1], &volunteers[2]];

    // The lead registers two families and loads stock; everyone syncs.
    let fatma = register(&lead, "فاطمة محمد عبد الرحمن", "29001011234567");
    let karim = register(&lead, "Karim Mahmoud Sayed", "28805151234568");
    lead.ok(&[
        "stock", "load", "--site", SITE, "--item", "food_box", "--qty", "100",
    ]);
    sync_all(&[&lead, v1, v2, v3]);
    let found = v3.ok(&["beneficiary", "search", "فاطمه"]);
    assert!(
        found.to_string().contains(&fatma),
        "a family the lead registered reaches volunteers: {found}"
    );

    // Offline: v1 and v2 both serve Fatma's household; v3 serves Karim's.
    for v in [v1, v2] {
        v.ok(&["checkin", "--site", SITE, &fatma]);
        v.ok(&[
            "handout", "--item", "food_box", "--qty", "1", "--site", SITE, &fatma,
        ]);
    }
    v3.ok(&["checkin", "--site", SITE, &karim]);
    v3.ok(&[
        "handout", "--item", "food_box", "--qty", "1", "--site", SITE, &karim,
    ]);

    sync_all(&[v1, v2, v3, &lead]);
    let expected = status(&lead);
    assert_eq!(expected["items"][0]["handed_out"], "3", "{expected}");
    assert_eq!(expected["items"][0]["expected"], "97");
    assert!(
        codes(&expected).contains(&"double_hand_out".to_owned()),
        "{expected}"
    );
    for v in [v1, v2, v3] {
        assert_eq!(status(v), expected, "every device sees the same day");
    }

    // The relay stored nothing readable about the families.
    let bytes = file_bytes(&relay_db);
    assert!(bytes.len() > 10_000, "the relay holds the records");
    for secret in [
        "فاطمة",
        "Karim",
        "Mahmoud",
        "29001011234567",
        "28805151234568",
        "1234567",
    ] {
        assert!(
            !contains(&bytes, secret),
            "the relay's database holds `{secret}` in clear"
        );
    }
}

/// Syncs through links cut after 600, 1,200, 1,800... bytes until one
/// sync gets through; returns how many were cut.
fn sync_through_cuts(
    device: &Device,
    relay: &str,
    limits: impl Fn(usize) -> (usize, usize),
) -> usize {
    for attempt in 1..200 {
        let (request, answer) = limits(attempt * 600);
        let proxy = CutProxy::start(relay, request, answer);
        let run = device.run(&["--json", "sync", "--relay", &proxy.url]);
        if run.status == 0 {
            return attempt - 1;
        }
        assert!(
            run.stdout.contains("relay_unreachable"),
            "a cut link is reported as such: {}",
            run.stdout
        );
    }
    panic!("no sync got through");
}

#[test]
fn a_cut_connection_and_a_relay_crash_lose_nothing_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let (lead, volunteers) = convoy(&relay.url, SITE, 2);
    let [v1, v2] = [&volunteers[0], &volunteers[1]];
    let mut people = Vec::new();
    for i in 0..30 {
        people.push(register(
            &lead,
            &format!("مستفيد رقم {i}"),
            &format!("290010101{i:04}1"),
        ));
    }
    lead.ok(&[
        "stock", "load", "--site", SITE, "--item", "blanket", "--qty", "500",
    ]);
    lead.ok(&["sync"]);
    v1.ok(&["sync"]);
    for person in &people {
        v1.ok(&[
            "handout", "--item", "blanket", "--qty", "1", "--site", SITE, person,
        ]);
    }

    // v1's sync goes through a link that drops after ever more bytes sent,
    // until one gets through; every cut fails cleanly.
    let cuts = sync_through_cuts(v1, &relay.url, |n| (n, usize::MAX));
    assert!(cuts >= 3, "the upload was cut {cuts} times");
    // The relay dies and comes back on the same port and database.
    relay.restart();
    v1.ok(&["sync"]);
    // v2's download drops after ever more bytes received.
    let cuts = sync_through_cuts(v2, &relay.url, |n| (usize::MAX, n));
    assert!(cuts >= 3, "the download was cut {cuts} times");
    relay.kill();
    let (code, stderr) = v2.fails(&["sync"]);
    assert_eq!(code, "relay_unreachable", "{stderr}");
    assert!(stderr.contains("nothing was lost"), "{stderr}");
    relay.restart();
    v2.ok(&["sync"]);

    let mine = status(v1);
    assert_eq!(
        mine["items"][0]["handed_out"], "30",
        "no hand-out lost or doubled: {mine}"
    );
    assert_eq!(status(v2), mine);
    assert!(
        !codes(&mine).contains(&"double_hand_out".to_owned()),
        "retries made no duplicate: {mine}"
    );
}

#[test]
fn a_revoked_device_is_refused_and_the_convoy_key_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let (lead, volunteers) = convoy(&relay.url, SITE, 2);
    let [v1, lost] = [&volunteers[0], &volunteers[1]];
    let revoked = lead.ok(&["convoy", "revoke", "Volunteer 2"]);
    assert_eq!(revoked["status"], "revoked");
    let devices = lead.ok(&["convoy", "devices"]);
    let statuses: Vec<&str> = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "revoked").count(),
        1,
        "{devices}"
    );

    let (code, _) = lost.fails(&["sync"]);
    assert_eq!(code, "device_revoked");
    // The remaining devices carry on under the new key.
    let person = register(&lead, "سعاد حسن", "29203041234561");
    lead.ok(&["sync"]);
    let synced = v1.ok(&["sync"]);
    assert!(synced["applied_events"].as_u64().unwrap() >= 1, "{synced}");
    v1.ok(&[
        "handout", "--item", "food_box", "--qty", "1", "--site", SITE, &person,
    ]);
    v1.ok(&["sync"]);
    lead.ok(&["sync"]);
    assert_eq!(status(&lead)["items"][0]["handed_out"], "1");
    let (code, _) = lost.fails(&["sync"]);
    assert_eq!(code, "device_revoked", "still refused");
}

#[test]
fn enrollment_codes_are_one_time_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let lead = Device::initialised("Lead");
    let created = lead.ok(&[
        "convoy",
        "create",
        "--name",
        "ق",
        "--date",
        "2026-12-01",
        "--relay",
        &relay.url,
    ]);
    let code = created["codes"][0].as_str().unwrap().to_owned();
    Device::initialised("A").ok(&["enroll", "--relay", &relay.url, "--code", &code]);
    let (used, _) =
        Device::initialised("B").fails(&["enroll", "--relay", &relay.url, "--code", &code]);
    assert_eq!(used, "code_spent");
    let (bad, _) =
        Device::initialised("C").fails(&["enroll", "--relay", &relay.url, "--code", "nonsense"]);
    assert_eq!(bad, "bad_code");
    // A code from the version before (16 characters, a 30-bit lead
    // fingerprint): refused, and the person is told why.
    let old = Device::initialised("D0").run(&[
        "enroll",
        "--relay",
        &relay.url,
        "--code",
        "ABCDE-FGHJK-MNPQRS",
    ]);
    assert_ne!(old.status, 0);
    assert!(old.stderr.contains("earlier version"), "{}", old.stderr);
    // A well-formed code the relay does not know.
    let mut unknown_code = code.clone();
    unknown_code.replace_range(0..4, "0000");
    let (unknown, _) =
        Device::initialised("D").fails(&["enroll", "--relay", &relay.url, "--code", &unknown_code]);
    assert_eq!(unknown, "unknown_code");
    // A code whose fingerprint does not match the convoy's lead is refused.
    let more = lead.ok(&["convoy", "invite"]);
    let mut forged = more["codes"][0].as_str().unwrap().to_owned();
    let last = if forged.ends_with("0000") {
        "1111"
    } else {
        "0000"
    };
    forged.replace_range(35..39, last);
    let (mismatch, _) =
        Device::initialised("E").fails(&["enroll", "--relay", &relay.url, "--code", &forged]);
    assert_eq!(mismatch, "lead_mismatch");
    let (unreachable, _) = Device::initialised("F").fails(&[
        "enroll",
        "--relay",
        "http://127.0.0.1:9",
        "--code",
        &code,
    ]);
    assert_eq!(unreachable, "relay_unreachable");
}

#[test]
fn erasing_a_person_reaches_every_device_and_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let relay_db = dir.path().join("relay.db");
    let relay = RelayProcess::sqlite(&relay_db);
    let (lead, volunteers) = convoy_with_roles(&relay.url, SITE, &["registrar"]);
    let v1 = &volunteers[0];
    // A registrar's device registers; the lead receives it.
    let person = register(v1, "Zeinab Erasable Person", "29505051234563");
    v1.ok(&["sync"]);
    lead.ok(&["sync"]);
    let shown = lead.ok(&["beneficiary", "show", &person]);
    assert!(shown.to_string().contains("Zeinab"), "{shown}");
    // The relay holds the person's entry (sealed) before erasure.
    let entries_before = std::fs::metadata(&relay_db).unwrap().len();
    assert!(entries_before > 0);

    lead.ok(&["beneficiary", "erase", &person, "--reason", "طلب الشخص"]);
    lead.ok(&["sync"]);
    v1.ok(&["sync"]);
    let shown = v1.ok(&["beneficiary", "show", &person]);
    assert!(
        !shown.to_string().contains("Zeinab"),
        "erased on the registrar's device too: {shown}"
    );
    let found = v1.ok(&["beneficiary", "search", "Zeinab"]);
    assert!(!found.to_string().contains(&person), "{found}");
    // The relay dropped the live registry entry: only the tombstone is served.
    let conn = rusqlite_count(&relay_db);
    assert_eq!(
        conn, 1,
        "one live registry entry (the tombstone) remains on the relay"
    );
}

/// Live registry entries on a relay database.
fn rusqlite_count(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM records WHERE key IS NOT NULL AND bytes IS NOT NULL",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_site_relay_on_the_leads_laptop_chains_to_the_central_relay() {
    let dir = tempfile::tempdir().unwrap();
    let central = RelayProcess::sqlite(&dir.path().join("central.db"));
    let site = RelayProcess::sqlite(&dir.path().join("site.db"));
    let (lead, volunteers) = convoy(&central.url, SITE, 3);
    let [v1, v2, v3] = [&volunteers[0], &volunteers[1], &volunteers[2]];
    let person = register(&lead, "منى عادل", "29106061234562");
    lead.ok(&["convoy", "publish", "--relay", &site.url]);
    lead.ok(&["sync", "--relay", &site.url]);
    // In the village: no internet, only the laptop's hotspot.
    for v in [v1, v2] {
        v.ok(&["sync", "--relay", &site.url]);
    }
    v1.ok(&["checkin", "--site", SITE, &person]);
    v1.ok(&[
        "handout", "--item", "food_box", "--qty", "1", "--site", SITE, &person,
    ]);
    v1.ok(&["sync", "--relay", &site.url]);
    v2.ok(&["sync", "--relay", &site.url]);
    assert_eq!(status(v2)["items"].as_array().map(Vec::len), Some(1));
    // Back in town, the lead forwards the site's records to the central relay.
    let forwarded = lead.ok(&[
        "relay",
        "forward",
        "--from",
        &site.url,
        "--to",
        &central.url,
    ]);
    assert!(forwarded["moved"].as_u64().unwrap() >= 2, "{forwarded}");
    v3.ok(&["sync"]);
    let seen = status(v3);
    assert!(seen.to_string().contains("\"handed_out\":\"1\""), "{seen}");
    // Forwarding again moves nothing.
    let again = lead.ok(&[
        "relay",
        "forward",
        "--from",
        &site.url,
        "--to",
        &central.url,
    ]);
    assert_eq!(again["moved"], 0);
}

#[test]
fn background_sync_sends_records_as_soon_as_the_relay_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let (lead, volunteers) = convoy(&relay.url, SITE, 1);
    let v1 = &volunteers[0];
    let person = register(&lead, "رحاب عبد الله", "29107071234560");
    lead.ok(&["sync"]);
    v1.ok(&["sync"]);
    relay.kill();
    v1.ok(&[
        "handout", "--item", "food_box", "--qty", "1", "--site", SITE, &person,
    ]);
    let watcher = std::process::Command::new(qafila_e2e::workspace_binary("qafila"))
        .env("QAFILA_PASSPHRASE", qafila_e2e::PASSPHRASE)
        .args([
            "--data-dir",
            &v1.dir().display().to_string(),
            "--json",
            "sync",
            "--watch",
            "--interval",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    relay.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        lead.ok(&["sync"]);
        if status(&lead)["items"][0]["handed_out"] == "1" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hand-out never reached the lead"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(watcher.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = watcher.wait_with_output().unwrap();
    assert!(out.status.success(), "the watcher stops cleanly on SIGTERM");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("relay_unreachable"),
        "it reported the dead relay while waiting: {log}"
    );
}

#[test]
fn the_relay_binary_serves_health_and_metrics_and_stops_on_sigterm() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndb = \"{}\"\n",
            dir.path().join("r.db").display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(qafila_e2e::workspace_binary("qafila-relay"))
        .arg("--config")
        .arg(&config)
        .env("QAFILA_RELAY_RATE_BURST", "500")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = format!(
        "http://{}",
        line.trim().strip_prefix("listening on ").unwrap()
    );
    let health = ureq::get(&format!("{url}/healthz"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert_eq!(health, "ok");
    let ready = ureq::get(&format!("{url}/readyz"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert_eq!(ready, "ready");
    let metrics = ureq::get(&format!("{url}/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("qafila_relay_requests_total{route=\"/healthz\",status=\"200\"} 1"),
        "{metrics}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let logs = String::from_utf8_lossy(&out.stderr);
    let first = logs.lines().next().unwrap_or_default();
    let parsed: Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("logs are JSON lines ({e}): {logs}"));
    assert_eq!(parsed["level"], "INFO", "{first}");
    assert!(logs.contains("relay stopped"), "{logs}");
}

#[test]
fn one_process_syncs_again_and_again() {
    // The desktop app and `sync --watch` sync many times in one process,
    // each time on a fresh runtime: nothing may outlive the one before.
    use qafila_app::stock::{Movement, StockRequest};
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let (lead, volunteers) = convoy_with_roles(&relay.url, SITE, &["storekeeper"]);
    let app = qafila_app::App::open(
        volunteers[0].dir(),
        &qafila_app::Passphrase::new(qafila_e2e::PASSPHRASE),
        qafila_app::system_clock(),
    )
    .unwrap();
    for round in 1..=3u32 {
        app.stock(
            Movement::Load,
            StockRequest {
                site: SITE.into(),
                item: "blanket".into(),
                qty: "10".into(),
                to: None,
                lot: None,
                expiry: None,
                waybill: Some(format!("WB-{round}")),
                reason: None,
                note: None,
            },
        )
        .unwrap();
        let report = app
            .sync(None, None, 1)
            .unwrap_or_else(|e| panic!("sync {round} in one process: {e:?}"));
        assert_eq!(report.sealed_events, 1, "{report:?}");
        lead.ok(&["sync"]);
        let loaded = status(&lead)["items"][0]["loaded"].clone();
        assert_eq!(loaded, (10 * round).to_string(), "after sync {round}");
    }
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn a_relay_with_a_creation_token_accepts_new_convoys_only_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite_with_env(
        &dir.path().join("relay.db"),
        &[("QAFILA_RELAY_CREATE_TOKEN", "s3cret-token")],
    );
    let lead = Device::initialised("Lead");
    let create = |token: Option<&str>| {
        let mut args = vec![
            "convoy",
            "create",
            "--name",
            "ق",
            "--date",
            "2026-12-01",
            "--relay",
            &relay.url,
        ];
        if let Some(token) = token {
            args.extend(["--relay-token", token]);
        }
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let (code, _) = lead.fails(&refs(&create(None)));
    assert_eq!(code, "create_token_required");
    let (code, _) = lead.fails(&refs(&create(Some("guess"))));
    assert_eq!(code, "create_token_required");
    assert_eq!(
        lead.ok(&["convoy", "list"])["convoys"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "nothing half-created"
    );
    let created = lead.ok(&refs(&create(Some("s3cret-token"))));
    // Volunteers need no token: the lead's code is their invitation.
    let volunteer = Device::initialised("V");
    volunteer.ok(&[
        "enroll",
        "--relay",
        &relay.url,
        "--code",
        created["codes"][0].as_str().unwrap(),
    ]);
    lead.ok(&["convoy", "approve", "V"]);
    volunteer.ok(&["sync"]);
}
