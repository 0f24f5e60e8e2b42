//! The app's one command surface, `Session::call`, as the UI meets it: a
//! fresh machine that must set the device up first, the registrar's list,
//! cards and sheet, the volunteer's scan, basket and undo, arguments that
//! are wrong, and the sync chip before, during and after syncs with a real
//! relay (in this process, on loopback).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use qafila_app::rpc::{COMMANDS, Session, SessionEvent};
use qafila_app::{AppError, ClockFn};
use qafila_cards::{Card, IssuerKey};
use qafila_domain::ids::{BeneficiaryId, CardSerial};
use serde_json::{Value, json};

/// 2026-12-01, 06:40 in Cairo.
const NOW_MS: u64 = 1_796_100_000_000;
const VILLAGE: &str = "ميت غمر";

const PASSPHRASE: &str = "قافلة الخير ٢٠٢٦";

fn clock() -> ClockFn {
    Arc::new(|| NOW_MS)
}

fn ok(session: &Session, command: &str, args: Value) -> Value {
    session
        .call(command, args.clone())
        .unwrap_or_else(|e| panic!("{command} {args}: {} ({})", e.code, e.message))
}

fn fails(session: &Session, command: &str, args: Value) -> AppError {
    match session.call(command, args.clone()) {
        Ok(value) => panic!("{command} {args} should fail, gave {value}"),
        Err(e) => e,
    }
}

fn initialised(dir: &Path) -> Session {
    let session = Session::open(dir, None, clock()).unwrap();
    ok(
        &session,
        "init_device",
        json!({ "name": "موبايل منى", "passphrase": PASSPHRASE }),
    );
    session
}

/// A UTF-8 CSV of `rows` (name, household size) in the village, as the UI
/// sends a picked file.
fn csv_base64(rows: &[(&str, u32)]) -> String {
    let mut csv = String::from("الاسم,عدد أفراد الأسرة,القرية\n");
    for (name, size) in rows {
        csv.push_str(&format!("{name},{size},{VILLAGE}\n"));
    }
    base64::engine::general_purpose::STANDARD.encode(csv.as_bytes())
}

fn import(session: &Session, rows: &[(&str, u32)]) -> Value {
    ok(
        session,
        "import_file",
        json!({ "name": "قائمة ميت غمر.csv", "bytes_base64": csv_base64(rows), "dry_run": false }),
    )
}

/// Records every event a session sends.
fn listen(session: &Session) -> Arc<Mutex<Vec<SessionEvent>>> {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    session.on_change(Box::new(move |event| {
        sink.lock().unwrap().push(event.clone())
    }));
    heard
}

#[test]
fn a_fresh_machine_sets_the_device_up_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::open(dir.path(), None, clock()).unwrap();

    let status = ok(&session, "app_status", json!({}));
    assert_eq!(status["initialised"], false, "{status}");
    assert!(status.get("device").is_none(), "{status}");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["sync"]["state"], "local_only", "{status}");
    assert_eq!(status["sync"]["pending"], 0);
    // No arguments may also come as null (a transport that sends none).
    assert_eq!(
        ok(&session, "app_status", Value::Null)["initialised"],
        false
    );

    for command in COMMANDS {
        if [
            "app_status",
            "init_device",
            "restore_keys",
            "unlock",
            "lock",
        ]
        .contains(command)
        {
            continue;
        }
        let error = fails(&session, command, json!({}));
        assert_eq!(error.code, "not_initialised", "{command}");
        assert!(error.message_ar.contains("الجهاز"), "{}", error.message_ar);
        assert!(error.message.contains("set up"), "{}", error.message);
    }
    assert_eq!(
        fails(&session, "launch_rockets", json!({})).code,
        "unknown_command"
    );

    assert_eq!(
        fails(
            &session,
            "init_device",
            json!({ "name": "  ", "passphrase": PASSPHRASE })
        )
        .code,
        "device_name_required"
    );
    let weak = fails(
        &session,
        "init_device",
        json!({ "name": "موبايل منى", "passphrase": "1234" }),
    );
    assert_eq!(weak.code, "weak_passphrase");
    assert!(weak.message_ar.contains("كلمة سر"), "{}", weak.message_ar);
    assert_eq!(
        ok(&session, "app_status", json!({}))["initialised"],
        false,
        "a refused passphrase leaves no store"
    );
    let device = ok(
        &session,
        "init_device",
        json!({ "name": "موبايل منى", "passphrase": PASSPHRASE }),
    );
    assert_eq!(device["name"], "موبايل منى");
    let status = ok(&session, "app_status", json!({}));
    assert_eq!(status["initialised"], true);
    assert_eq!(status["device"]["id"], device["id"]);
    assert_eq!(
        fails(
            &session,
            "init_device",
            json!({ "name": "تاني", "passphrase": PASSPHRASE })
        )
        .code,
        "already_initialised"
    );
    assert_eq!(ok(&session, "anomalies", json!({})), json!([]));

    // The next start finds the store locked: nothing but unlock answers
    // until the passphrase is typed.
    drop(session);
    let again = Session::open(dir.path(), None, clock()).unwrap();
    let status = ok(&again, "app_status", json!({}));
    assert_eq!(status["initialised"], true);
    assert_eq!(status["locked"], true);
    assert_eq!(status["encrypted"], true);
    assert!(status.get("device").is_none(), "{status}");
    for command in COMMANDS {
        if [
            "app_status",
            "init_device",
            "restore_keys",
            "unlock",
            "lock",
        ]
        .contains(command)
        {
            continue;
        }
        assert_eq!(
            fails(&again, command, json!({})).code,
            "locked",
            "{command}"
        );
    }
    // A key backup never replaces the store a device already has.
    assert_eq!(
        fails(
            &again,
            "restore_keys",
            json!({ "file": "{}", "backup_passphrase": "x", "passphrase": PASSPHRASE })
        )
        .code,
        "already_initialised"
    );
    assert_eq!(
        fails(
            &again,
            "init_device",
            json!({ "name": "تاني", "passphrase": PASSPHRASE })
        )
        .code,
        "already_initialised",
        "a locked device cannot be set up again over its data"
    );
    let wrong = fails(
        &again,
        "unlock",
        json!({ "passphrase": "قافلة الخير 2026" }),
    );
    assert_eq!(wrong.code, "wrong_passphrase");
    assert!(wrong.message_ar.contains("غلط"), "{}", wrong.message_ar);
    assert_eq!(
        ok(&again, "unlock", json!({ "passphrase": PASSPHRASE }))["id"],
        device["id"]
    );
    let status = ok(&again, "app_status", json!({}));
    assert_eq!(status["locked"], false);
    assert_eq!(status["device"]["id"], device["id"]);
    assert_eq!(ok(&again, "anomalies", json!({})), json!([]));

    // Locked by hand: the store closes, and the UI hears it.
    let heard = listen(&again);
    ok(&again, "lock", json!({}));
    assert_eq!(fails(&again, "anomalies", json!({})).code, "locked");
    assert!(
        heard
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.name() == "data-changed" && e.payload()["reason"] == "locked")
    );
}

/// The app locks itself after the idle time set for the device: someone's
/// use keeps it open, the UI's own polling does not, and a clock set back
/// does not lock it.
#[test]
fn an_idle_app_locks_itself_and_the_passphrase_can_change() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(NOW_MS));
    let read = now.clone();
    let session = Session::open(
        dir.path(),
        None,
        Arc::new(move || read.load(Ordering::SeqCst)),
    )
    .unwrap();
    ok(
        &session,
        "init_device",
        json!({ "name": "موبايل منى", "passphrase": PASSPHRASE }),
    );
    ok(&session, "set_lock_after", json!({ "minutes": 5 }));
    assert_eq!(
        ok(&session, "app_status", json!({}))["lock_after_minutes"],
        5
    );
    let minute = 60_000;
    now.fetch_add(4 * minute, Ordering::SeqCst);
    ok(&session, "anomalies", json!({}));
    // Four more minutes of use, then polling only.
    now.fetch_add(4 * minute, Ordering::SeqCst);
    ok(&session, "anomalies", json!({}));
    now.fetch_add(3 * minute, Ordering::SeqCst);
    ok(&session, "sync_status", json!({}));
    now.fetch_add(3 * minute, Ordering::SeqCst);
    assert_eq!(ok(&session, "app_status", json!({}))["locked"], true);
    assert_eq!(fails(&session, "anomalies", json!({})).code, "locked");
    ok(&session, "unlock", json!({ "passphrase": PASSPHRASE }));
    // A clock set back a year is not idleness.
    now.fetch_sub(365 * 24 * 60 * minute, Ordering::SeqCst);
    ok(&session, "anomalies", json!({}));

    // A new passphrase: the old one no longer opens the data.
    assert_eq!(
        fails(
            &session,
            "change_passphrase",
            json!({ "old": "not it at all", "new": "a new passphrase" })
        )
        .code,
        "wrong_passphrase"
    );
    ok(
        &session,
        "change_passphrase",
        json!({ "old": PASSPHRASE, "new": "a new passphrase" }),
    );
    ok(&session, "lock", json!({}));
    assert_eq!(
        fails(&session, "unlock", json!({ "passphrase": PASSPHRASE })).code,
        "wrong_passphrase"
    );
    ok(
        &session,
        "unlock",
        json!({ "passphrase": "a new passphrase" }),
    );
    ok(&session, "set_lock_after", json!({ "minutes": 0 }));
    now.fetch_add(1000 * minute, Ordering::SeqCst);
    ok(&session, "anomalies", json!({}));
}

#[test]
fn a_registered_household_is_carded_scanned_served_and_the_mistake_undone() {
    let dir = tempfile::tempdir().unwrap();
    let session = initialised(dir.path());
    let heard = listen(&session);

    // The registrar's list: a dry run registers nobody.
    let rows = [("محمد أحمد السيد علي", 5), ("فاطمة محمود حسن", 3)];
    let dry = ok(
        &session,
        "import_file",
        json!({ "name": "قائمة.csv", "bytes_base64": csv_base64(&rows), "dry_run": true }),
    );
    assert_eq!(dry["registered"], 2, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(ok(&session, "villages", json!({})), json!([]));
    let report = import(&session, &rows);
    assert_eq!(report["registered"], 2, "{report}");
    assert_eq!(report["format"], "csv");
    assert_eq!(
        report["file"], "قائمة ميت غمر.csv",
        "the name, not the temp copy"
    );
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("import"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the uploaded copy is deleted: {leftovers:?}"
    );
    assert_eq!(
        ok(&session, "villages", json!({})),
        json!([{ "name": VILLAGE, "count": 2 }])
    );
    let found = ok(
        &session,
        "search",
        json!({ "query": "محمد احمد", "limit": 5 }),
    );
    assert_eq!(found[0]["name"], "محمد أحمد السيد علي", "{found}");

    // Cards need this device's issuing key.
    let no_key = fails(&session, "issue_cards", json!({ "village": VILLAGE }));
    assert_eq!(no_key.code, "no_issuer_key");
    let app = session.app_if_initialised().unwrap();
    app.create_issuer("جمعية الخير").unwrap();
    let issued = ok(&session, "issue_cards", json!({ "village": VILLAGE }));
    let cards = issued["issued"].as_array().unwrap();
    assert_eq!(cards.len(), 2, "{issued}");
    let sheet = ok(&session, "card_sheet", json!({ "village": VILLAGE }));
    assert!(sheet["html"].as_str().unwrap().contains("<svg"));
    assert_eq!(sheet["cards"], 2);
    assert_eq!(sheet["pages"], 1);

    // The card as printed, scanned at the site.
    let card = cards
        .iter()
        .find(|c| c["beneficiary"]["household_size"] == 5)
        .unwrap();
    let own = app.store().own_issuer().unwrap().unwrap();
    let key = IssuerKey::from_secret_bytes(&own.secret);
    let serial: u64 = card["serial"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        qafila_cards::number::split(CardSerial::new(serial)).map(|(k, _)| k),
        Some(key.key_id()),
        "signed with this device's key"
    );
    let holder: BeneficiaryId = card["beneficiary"]["id"].as_str().unwrap().parse().unwrap();
    let text = Card::new(
        &key,
        CardSerial::new(serial),
        holder,
        app.current_round_id().unwrap(),
    )
    .encode(&key);
    let scan = ok(&session, "scan", json!({ "input": text, "site": VILLAGE }));
    assert_eq!(scan["status"], "ok", "{scan}");
    assert_eq!(scan["card"]["valid"], true);
    let entitlement = &scan["check_in"]["entitlement"];
    assert_eq!(entitlement["beneficiary"]["id"], holder.to_string());

    // The whole basket in one go: no medicine, no check-up.
    let basket = ok(
        &session,
        "hand_out_basket",
        json!({ "beneficiary": holder.to_string(), "site": VILLAGE, "card": card["serial"] }),
    );
    let items: Vec<&str> = basket
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["item"].as_str().unwrap())
        .collect();
    assert!(items.contains(&"food_box"), "{basket}");
    assert!(
        !items.contains(&"checkup") && !items.contains(&"medicine"),
        "{basket}"
    );
    for line in basket.as_array().unwrap() {
        assert_eq!(line["remaining"], "0", "{line}");
        assert_eq!(line["overridden"], false);
    }
    let blanket = basket
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["item"] == "blanket")
        .unwrap();
    assert_eq!(blanket["qty"], "3", "a blanket per two of five");

    // Back in the queue: already served, and nothing more to hand out.
    let again = ok(&session, "scan", json!({ "input": text, "site": VILLAGE }));
    assert_eq!(again["status"], "already_served", "{again}");
    assert_eq!(again["check_in"]["already_checked_in"], true);
    let empty = fails(
        &session,
        "hand_out_basket",
        json!({ "beneficiary": holder.to_string(), "site": VILLAGE }),
    );
    assert_eq!(empty.code, "basket_empty");

    // The volunteer undoes the last hand-out: the card is good for it again.
    let last = basket.as_array().unwrap().last().unwrap()["event"].clone();
    let voided = ok(
        &session,
        "void",
        json!({ "event": last, "reason": "ضغطت غلط" }),
    );
    assert_eq!(voided["kind"], "void");
    let after = ok(&session, "scan", json!({ "input": text, "site": VILLAGE }));
    assert_eq!(after["status"], "ok", "{after}");

    // One more item by hand, with the card's printed number.
    let checkup = ok(
        &session,
        "hand_out",
        json!({ "beneficiary": holder.to_string(), "site": VILLAGE, "item": "checkup", "qty": "1",
                "card": card["number"] }),
    );
    assert_eq!(checkup["item"], "checkup");
    assert_eq!(checkup["remaining"], "4", "a check-up each for five");

    let day = ok(&session, "day_status", json!({ "site": VILLAGE }));
    assert_eq!(day["site"], VILLAGE);
    assert_eq!(day["date"], "2026-12-01");
    let status = ok(&session, "app_status", json!({}));
    assert_eq!(status["sites"], json!([VILLAGE]));

    // A person without their card, checked in by hand with a reason.
    let other = cards
        .iter()
        .find(|c| c["beneficiary"]["household_size"] == 3)
        .unwrap();
    let manual = ok(
        &session,
        "check_in_manual",
        json!({ "beneficiary": other["beneficiary"]["id"], "site": VILLAGE, "reason": "نسي الكارت" }),
    );
    assert_eq!(manual["already_checked_in"], false);
    assert_eq!(
        fails(
            &session,
            "check_in_manual",
            json!({ "beneficiary": other["beneficiary"]["id"], "site": VILLAGE, "reason": " " })
        )
        .code,
        "reason_required"
    );

    // The duplicate queue is empty; dismissing answers an empty object.
    assert_eq!(ok(&session, "duplicates", json!({})), json!([]));
    let a = holder.to_string();
    let b = other["beneficiary"]["id"].as_str().unwrap();
    assert_eq!(
        ok(&session, "dismiss", json!({ "a": a, "b": b })),
        json!({})
    );

    // Every recording command told the shell that data changed.
    let heard = heard.lock().unwrap();
    assert!(
        heard
            .iter()
            .filter(|e| e.name() == "data-changed")
            .all(|e| e.payload() == json!({ "reason": "local" })),
        "{heard:?}"
    );
    assert!(heard.iter().filter(|e| e.name() == "data-changed").count() >= 8);
    assert!(heard.iter().any(|e| e.name() == "sync-status"));
}

#[test]
fn wrong_arguments_and_unknown_commands_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let session = initialised(dir.path());

    let missing = fails(&session, "scan", json!({ "site": VILLAGE }));
    assert_eq!(missing.code, "invalid_arguments");
    assert!(missing.message.contains("input"), "{}", missing.message);
    assert!(missing.message.contains("scan"), "{}", missing.message);
    assert!(!missing.message_ar.is_empty());

    let extra = fails(
        &session,
        "search",
        json!({ "query": "محمد", "limit": 5, "fuzzy": true }),
    );
    assert_eq!(extra.code, "invalid_arguments");
    assert!(extra.message.contains("fuzzy"), "{}", extra.message);

    let wrong_type = fails(
        &session,
        "search",
        json!({ "query": "محمد", "limit": "ten" }),
    );
    assert_eq!(wrong_type.code, "invalid_arguments");
    assert_eq!(
        fails(&session, "app_status", json!({ "verbose": true })).code,
        "invalid_arguments"
    );
    assert_eq!(
        fails(&session, "void", json!(["event", "reason"])).code,
        "invalid_arguments"
    );

    let not_base64 = fails(
        &session,
        "import_file",
        json!({ "name": "list.csv", "bytes_base64": "%%%", "dry_run": true }),
    );
    assert_eq!(not_base64.code, "invalid_arguments");
    let pdf = fails(
        &session,
        "import_file",
        json!({ "name": "list.pdf", "bytes_base64": "", "dry_run": true }),
    );
    assert_eq!(pdf.code, "import_format");
    assert!(pdf.message_ar.contains("xlsx"), "{}", pdf.message_ar);

    assert_eq!(
        fails(
            &session,
            "hand_out",
            json!({ "beneficiary": "x", "site": VILLAGE,
            "item": "food_box", "qty": "1", "card": "no such card" })
        )
        .code,
        "invalid_card_number"
    );
    // The façade's own errors come through as they are.
    assert_eq!(
        fails(&session, "void", json!({ "event": "nope", "reason": "x" })).code,
        "invalid_id"
    );

    let unknown = fails(&session, "delete_everything", json!({}));
    assert_eq!(unknown.code, "unknown_command");
    assert!(unknown.message.contains("app_status"), "lists the commands");
    assert!(!unknown.message_ar.is_empty());
}

/// A relay in this process, on a loopback port, with its database in a
/// temp dir; stopped when dropped.
struct Relay {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Relay {
    fn start() -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let storage =
            qafila_relay::storage::sqlite::SqliteStorage::open(&dir.path().join("relay.db"))
                .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let config = qafila_relay::Config {
                    rate_per_second: 1_000,
                    rate_burst: 1_000,
                    ..Default::default()
                };
                qafila_relay::serve_with(config, storage, listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Relay {
            url,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn chip(session: &Session) -> Value {
    ok(session, "sync_status", json!({}))
}

#[test]
fn the_sync_chip_counts_what_waits_to_leave_and_says_when_the_relay_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let session = initialised(dir.path());
    let heard = listen(&session);

    // Outside a convoy everything stays here: nothing is waiting.
    import(&session, &[("محمد أحمد السيد علي", 5)]);
    assert_eq!(
        chip(&session),
        json!({ "state": "local_only", "pending": 0 })
    );
    assert_eq!(
        ok(&session, "sync_now", json!({})),
        json!({ "state": "local_only", "pending": 0 })
    );

    // The lead creates a convoy: from now on events wait for the relay.
    let relay = Relay::start();
    let app = session.app_if_initialised().unwrap();
    app.convoy_create(
        &qafila_app::convoy::NewConvoy {
            name: "قافلة الشتاء",
            day: "2026-12-01",
            sites: &[VILLAGE.to_owned()],
            codes: 1,
            time: Default::default(),
        },
        &relay.url,
        None,
    )
    .unwrap();
    let before = chip(&session);
    assert_eq!(before["state"], "never", "{before}");
    assert_eq!(before["pending"], 0, "earlier events stay local: {before}");
    import(&session, &[("فاطمة محمود حسن", 3), ("سيد عبد الله", 2)]);
    let waiting = chip(&session);
    assert_eq!(waiting["state"], "never");
    assert_eq!(waiting["pending"], 2, "{waiting}");
    let status = ok(&session, "app_status", json!({}));
    assert_eq!(status["sync"], waiting);
    assert_eq!(status["convoys"][0]["name"], "قافلة الشتاء");

    // A sync sends them.
    let synced = ok(&session, "sync_now", json!({}));
    assert_eq!(
        synced,
        json!({ "state": "idle", "pending": 0, "last_synced_ms": NOW_MS })
    );
    let states: Vec<Value> = heard
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.name() == "sync-status")
        .map(|e| e.payload()["state"].clone())
        .collect();
    assert!(states.contains(&json!("syncing")), "{states:?}");
    assert_eq!(states.last(), Some(&json!("idle")));

    // A check-in later, the relay is gone: the chip says offline and keeps
    // counting; nothing is lost.
    let someone = ok(&session, "search", json!({ "query": "سيد" }))[0]["id"].clone();
    ok(
        &session,
        "check_in_manual",
        json!({ "beneficiary": someone, "site": VILLAGE, "reason": "نسي الكارت" }),
    );
    assert_eq!(chip(&session)["pending"], 1);
    drop(relay);
    let offline = ok(&session, "sync_now", json!({}));
    assert_eq!(offline["state"], "offline", "{offline}");
    assert_eq!(offline["pending"], 1);
    assert_eq!(offline["last_synced_ms"], NOW_MS);
    assert_eq!(offline["error"]["code"], "relay_unreachable");
    assert!(!offline["error"]["message_ar"].as_str().unwrap().is_empty());
}

#[test]
fn the_background_sync_starts_once_the_device_is_in_a_convoy() {
    let dir = tempfile::tempdir().unwrap();
    let session = initialised(dir.path());
    session.start_background_sync(Duration::from_millis(200));
    let relay = Relay::start();
    let app = session.app_if_initialised().unwrap();
    app.convoy_create(
        &qafila_app::convoy::NewConvoy {
            name: "قافلة",
            day: "2026-12-01",
            sites: &[],
            codes: 1,
            time: Default::default(),
        },
        &relay.url,
        None,
    )
    .unwrap();
    import(&session, &[("محمد أحمد السيد علي", 5)]);
    // Joining through the façade directly (as here) is noticed at the next
    // recording command; `enroll` through the session starts it at once.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let chip = chip(&session);
        if chip["state"] == "idle" && chip["pending"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "never synced: {chip}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(session);
}
