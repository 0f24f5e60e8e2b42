//! The convoy lead's day end through the CLI: three volunteer devices and a
//! lead on a real relay; the blind count, anomaly review, waiting for
//! devices, the signed close, a late record, and a closed day refusing
//! records.

use qafila_e2e::{Device, RelayProcess, convoy};
use serde_json::Value;

const SITE: &str = "دير مواس";

fn register(device: &Device, name: &str, nid: &str) -> String {
    let added = device.ok(&[
        "beneficiary",
        "add",
        "--name",
        name,
        "--household-size",
        "4",
        "--village",
        "نزلة عبيد",
        "--nid",
        nid,
    ]);
    added["beneficiary"].as_str().expect("an id").to_owned()
}

fn serve(device: &Device, who: &str) {
    device.ok(&["checkin", "--site", SITE, who]);
    device.ok(&[
        "handout", "--item", "food_box", "--qty", "1", "--site", SITE, who,
    ]);
}

fn food_box(status: &Value) -> &Value {
    status["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["item"] == "food_box"))
        .unwrap_or_else(|| panic!("no food_box line: {status}"))
}

fn waiting(lead: &Device) -> Vec<String> {
    let devices = lead.ok(&["day", "devices", "--site", SITE]);
    devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter(|d| d["outstanding"] == true)
        .map(|d| d["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_lead_reconciles_reviews_and_closes_a_day_with_three_volunteers() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::sqlite(&dir.path().join("relay.db"));
    let (lead, volunteers) = convoy(&relay.url, SITE, 3);
    let [v1, v2, v3] = [&volunteers[0], &volunteers[1], &volunteers[2]];

    let fatma = register(&lead, "فاطمة محمد عبد الرحمن", "29001011234567");
    let karim = register(&lead, "كريم محمود سيد", "28805151234568");
    let mona = register(&lead, "منى علي حسن", "29203031234561");
    lead.ok(&[
        "stock", "load", "--site", SITE, "--item", "food_box", "--qty", "100",
    ]);
    lead.ok(&[
        "site",
        "describe",
        SITE,
        "--governorate",
        "24",
        "--district",
        "ديرمواس",
        "--association",
        "جمعية الأورمان",
    ]);
    for d in [&lead, v1, v2, v3] {
        d.ok(&["sync"]);
    }

    // Offline, two volunteers serve Fatma's household; the third serves Karim.
    serve(v1, &fatma);
    serve(v2, &fatma);
    serve(v3, &karim);
    for d in [v1, v2, v3, &lead] {
        d.ok(&["sync"]);
    }
    // Later, v2 serves Mona and syncs: v1 and v3 have not synced since.
    serve(v2, &mona);
    v2.ok(&["sync"]);
    lead.ok(&["sync"]);
    let status = lead.ok(&["day", "status", "--site", SITE]);
    assert_eq!(food_box(&status)["handed_out"], "4", "{status}");
    assert_eq!(food_box(&status)["expected"], "96");
    assert_eq!(
        waiting(&lead),
        vec!["Volunteer 1".to_owned(), "Volunteer 3".to_owned()]
    );

    // The blind count: 95 boxes on the truck. A variance needs a reason and
    // nothing is recorded without one.
    let run = lead.run(&[
        "--json",
        "day",
        "reconcile",
        "--site",
        SITE,
        "--count",
        "food_box=95",
    ]);
    assert_eq!(run.status, 1, "{}\n{}", run.stdout, run.stderr);
    let refused: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(refused["recorded"], false);
    assert_eq!(refused["missing_reasons"][0], "food_box");
    assert_eq!(refused["lines"][0]["variance"], "-1");
    let status = lead.ok(&["day", "status", "--site", SITE]);
    assert!(food_box(&status)["counted"].is_null(), "{status}");
    let counted = lead.ok(&[
        "day",
        "reconcile",
        "--site",
        SITE,
        "--count",
        "food_box=95",
        "--reason",
        "food_box=counting_error",
        "--note",
        "food_box=one box torn open on the truck",
    ]);
    assert_eq!(counted["recorded"], true, "{counted}");
    let status = lead.ok(&["day", "status", "--site", SITE]);
    assert_eq!(food_box(&status)["counted"], "95");
    assert_eq!(food_box(&status)["variance_reason"], "counting_error");

    // The double hand-out must be reviewed before closing.
    let (code, _) = lead.fails(&["day", "close", "--site", SITE]);
    assert_eq!(code, "anomalies_unreviewed");
    let open = lead.ok(&["anomalies", "--open"]);
    let list = open["anomalies"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{open}");
    assert_eq!(list[0]["code"], "double_hand_out");
    let id = list[0]["id"].as_str().unwrap();
    let (code, _) = lead.fails(&["anomalies", "--resolve", &id[..8]]);
    assert_eq!(code, "reason_required", "explaining needs a note");
    lead.ok(&[
        "anomalies",
        "--resolve",
        &id[..8],
        "--note",
        "زوج وزوجة جم كل واحد لوحده؛ الكرتونة التانية اترجعت",
    ]);
    let all = lead.ok(&["anomalies"]);
    assert_eq!(
        all["anomalies"][0]["review"]["outcome"], "explained",
        "the anomaly stays, reviewed: {all}"
    );
    assert_eq!(
        lead.ok(&["anomalies", "--open"])["anomalies"],
        Value::Array(vec![])
    );

    // Closing waits for devices not synced since the last hand-out.
    let (code, message) = lead.fails(&["day", "close", "--site", SITE]);
    assert_eq!(code, "devices_outstanding");
    assert!(
        message.contains("Volunteer 1") && message.contains("Volunteer 3"),
        "{message}"
    );
    v1.ok(&["sync"]);
    assert_eq!(waiting(&lead), vec!["Volunteer 3".to_owned()]);
    let closed = lead.ok(&["day", "close", "--site", SITE, "--without-outstanding"]);
    assert_eq!(closed["outstanding"], serde_json::json!(["Volunteer 3"]));
    assert_eq!(closed["signature_valid"], true, "{closed}");
    assert!(
        closed["signed_text"]
            .as_str()
            .unwrap()
            .contains("item food_box opening 0 loaded 100 in 0 out 0 handed_out 4 returned 0 lost 0 expected 96 counted 95 reason counting_error"),
        "{closed}"
    );

    // A closed day refuses new records on the lead's device.
    let (code, _) = lead.fails(&[
        "stock", "load", "--site", SITE, "--item", "food_box", "--qty", "5",
    ]);
    assert_eq!(code, "day_closed");
    let (code, _) = lead.fails(&["day", "close", "--site", SITE]);
    assert_eq!(code, "day_closed");

    // v3, offline, serves Mona again after the close: a late record, flagged
    // and kept out of the closed figures, which still verify.
    serve(v3, &mona);
    v3.ok(&["sync"]);
    lead.ok(&["sync"]);
    let status = lead.ok(&["day", "status", "--site", SITE]);
    assert_eq!(status["closed"], true);
    assert_eq!(food_box(&status)["handed_out"], "4", "{status}");
    let codes: Vec<&str> = status["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"late_record"), "{codes:?}");
    assert_eq!(
        lead.ok(&["day", "verify", "--site", SITE])["signature_valid"],
        true
    );

    // Every volunteer device checks the lead's signature the same way.
    v1.ok(&["sync"]);
    let seen = v1.ok(&["day", "verify", "--site", SITE]);
    assert_eq!(seen["signature_valid"], true, "{seen}");
    assert_eq!(seen["closed_by"], "Lead");
}

#[test]
fn a_count_on_a_terminal_is_blind_until_typed() {
    // The interactive count runs under a pseudo-terminal (`script`): the
    // expected figure must not appear before the count is typed.
    let lead = Device::initialised("Lead");
    lead.ok(&[
        "stock", "load", "--site", SITE, "--item", "food_box", "--qty", "37",
    ]);
    let command = format!(
        "{} --data-dir {} day reconcile --site '{SITE}'",
        qafila_e2e::workspace_binary("qafila").display(),
        lead.dir().display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("QAFILA_PASSPHRASE", qafila_e2e::PASSPHRASE)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs");
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        // 35 boxes counted, then reason 1 (counting error), then a note.
        stdin.write_all("35\n1\nعد غلط\n".as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let asked = text
        .find("كرتونة")
        .or_else(|| text.find("Food box"))
        .expect("the item is asked for");
    let shown = text
        .find("37")
        .expect("the expected figure is shown after the count");
    assert!(
        asked < shown,
        "the expected figure came before the count:\n{text}"
    );
    assert!(text.contains("-2"), "{text}");
    let status = lead.ok(&["day", "status", "--site", SITE]);
    assert_eq!(food_box(&status)["counted"], "35", "{status}");
    assert_eq!(food_box(&status)["variance_reason"], "counting_error");
}
