//! The lead's idle-lock limit: set on the lead's laptop, it reaches every
//! device of the convoy by sync, shortens a device's own idle time, and a
//! device can no longer be set to sit unlocked longer (or forever). Only
//! the lead may set it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use qafila_app::Passphrase;
use qafila_app::rpc::Session;
use qafila_e2e::{PASSPHRASE, RelayProcess};
use serde_json::json;

const SITE: &str = "دير مواس";
const MINUTE: u64 = 60_000;

#[test]
fn the_leads_idle_limit_reaches_every_device_and_binds_it() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let (lead, members) = qafila_e2e::convoy_with_roles(&relay.url, SITE, &["registrar"]);
    let member = &members[0];

    // A registrar may not set it; the lead may.
    let (code, stderr) = member.fails(&["convoy", "lock-after", "60"]);
    assert_eq!(code, "role_forbidden", "{stderr}");
    let (code, stderr) = lead.fails(&["convoy", "lock-after", "0"]);
    assert_eq!(code, "lock_minutes", "{stderr}");
    lead.ok(&["convoy", "lock-after", "5"]);
    lead.ok(&["sync"]);
    member.ok(&["sync"]);

    // The member's own setting (10 minutes, the default) gives way.
    let now = Arc::new(AtomicU64::new(1_800_000_000_000));
    let read = now.clone();
    let session = Session::open(
        member.dir(),
        Some(&Passphrase::new(PASSPHRASE)),
        Arc::new(move || read.load(Ordering::SeqCst)),
    )
    .unwrap();
    let status = session.call("app_status", json!({})).unwrap();
    assert_eq!(status["lock_after_minutes"], 5, "{status}");
    assert_eq!(status["lock_policy_minutes"], 5, "{status}");
    session.call("anomalies", json!({})).unwrap();
    now.fetch_add(5 * MINUTE, Ordering::SeqCst);
    let status = session.call("app_status", json!({})).unwrap();
    assert_eq!(status["locked"], true, "{status}");

    // Longer, or never, is refused; shorter is the device's choice.
    session
        .call("unlock", json!({ "passphrase": PASSPHRASE }))
        .unwrap();
    for minutes in [30, 0] {
        let refused = session
            .call("set_lock_after", json!({ "minutes": minutes }))
            .unwrap_err();
        assert_eq!(refused.code, "lock_policy", "{}", refused.message);
    }
    session
        .call("set_lock_after", json!({ "minutes": 3 }))
        .unwrap();
    let status = session.call("app_status", json!({})).unwrap();
    assert_eq!(status["lock_after_minutes"], 3, "{status}");
    drop(session);

    // The command line keeps to the same limit.
    let (code, stderr) = member.fails(&["device", "lock-after", "60"]);
    assert_eq!(code, "lock_policy", "{stderr}");
    assert!(stderr.contains("at most 5 minutes"), "{stderr}");
}
