//! One device doing its whole job offline through the real `qafila` binary:
//! a registrar registers and finds people, a volunteer checks them in and
//! hands items out within their entitlement, a lead loads and counts stock.

use qafila_e2e::Device;
use serde_json::Value;

fn item<'a>(status: &'a Value, code: &str) -> &'a Value {
    status["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == code)
        .unwrap_or_else(|| panic!("no {code} line in {status}"))
}

#[test]
fn a_store_must_exist_and_is_created_once() {
    let device = Device::new();
    let (code, stderr) = device.fails(&["beneficiary", "search", "محمد"]);
    assert_eq!(code, "store_not_initialised");
    assert!(stderr.contains("qafila init"), "{stderr}");
    let created = device.ok(&["init", "--device-name", "هاتف منى"]);
    assert_eq!(created["name"], "هاتف منى");
    let (code, _) = device.fails(&["init", "--device-name", "again"]);
    assert_eq!(code, "store_already_initialised");

    // QAFILA_DATA_DIR selects the store as --data-dir does.
    let out = std::process::Command::new(qafila_e2e::workspace_binary("qafila"))
        .env("QAFILA_PASSPHRASE", qafila_e2e::PASSPHRASE)
        .args(["--json", "round", "list"])
        .env("QAFILA_DATA_DIR", device.dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_damaged_store_is_a_clear_error() {
    let device = Device::initialised("d");
    std::fs::write(device.dir().join("qafila.db"), vec![0x42; 64 * 1024]).unwrap();
    let _ = std::fs::remove_file(device.dir().join("qafila.db-wal"));
    let (code, stderr) = device.fails(&["round", "list"]);
    assert_eq!(code, "store_corrupt", "{stderr}");
    assert!(stderr.contains("backup"), "{stderr}");
}

#[test]
fn registrar_registers_finds_and_erases_people() {
    let device = Device::initialised("registrar");
    let fatma = device.ok(&[
        "beneficiary",
        "add",
        "--name",
        "فاطمة السيد عبد الله",
        "--household-size",
        "5",
        "--village",
        "كفر الشيخ سالم",
        "--nid",
        "29001150101235",
        "--phone",
        "01001234567",
    ]);
    let id = fatma["beneficiary"].as_str().unwrap();
    assert!(fatma["household"].as_str().is_some());

    // The same national ID typed in Eastern Arabic digits with dashes is refused,
    // naming who already has it.
    let (code, stderr) = device.fails(&[
        "beneficiary",
        "add",
        "--name",
        "فاطمه السيد",
        "--household-size",
        "5",
        "--village",
        "كفر الشيخ سالم",
        "--nid",
        "٢٩٠٠١١٥-٠١٠١٢٣٥",
    ]);
    assert_eq!(code, "duplicate_national_id");
    assert!(stderr.contains("فاطمة السيد عبد الله"), "{stderr}");

    let (code, _) = device.fails(&[
        "beneficiary",
        "add",
        "--name",
        "x",
        "--household-size",
        "2",
        "--village",
        "v",
        "--nid",
        "123",
    ]);
    assert_eq!(code, "nid_length");
    let (code, _) = device.fails(&[
        "beneficiary",
        "add",
        "--name",
        "x",
        "--household-size",
        "0",
        "--village",
        "v",
    ]);
    assert_eq!(code, "household_size");

    device.ok(&[
        "beneficiary",
        "add",
        "--name",
        "أحمد محمود إبراهيم",
        "--household-size",
        "3",
        "--village",
        "ميت غمر",
    ]);
    device.ok(&[
        "beneficiary",
        "add",
        "--name",
        "محمد أحمد علي",
        "--household-size",
        "2",
        "--village",
        "ميت غمر",
    ]);

    let found = |query: &str| -> Vec<String> {
        device.ok(&["beneficiary", "search", query])["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // Any hamza, ta marbuta, diacritics, partial names, Eastern digits.
    assert_eq!(found("فاطمه"), vec!["فاطمة السيد عبد الله"]);
    assert_eq!(found("فَاطِمَة عبدالله"), vec!["فاطمة السيد عبد الله"]);
    assert_eq!(found("احمد ابراهيم"), vec!["أحمد محمود إبراهيم"]);
    assert_eq!(
        found("اح")[0],
        "أحمد محمود إبراهيم",
        "the given name ranks first"
    );
    assert_eq!(found("٢٩٠٠١١٥٠١٠١٢٣٥"), vec!["فاطمة السيد عبد الله"]);
    assert!(found("زينب").is_empty());

    let shown = device.ok(&["beneficiary", "show", id]);
    assert_eq!(shown["national_id_last4"], "1235");

    let (code, _) = device.fails(&["beneficiary", "erase", id, "--reason", " "]);
    assert_eq!(code, "reason_required");
    let erased = device.ok(&["beneficiary", "erase", id, "--reason", "طلب المستفيدة"]);
    assert_eq!(erased["erased"], true);
    assert!(erased["name"].is_null());
    assert!(found("فاطمة").is_empty());
}

#[test]
fn a_volunteer_serves_a_household_within_its_entitlement() {
    let device = Device::initialised("volunteer");
    let site = "مدرسة ميت غمر";
    let family = device.ok(&[
        "beneficiary",
        "add",
        "--name",
        "سعاد عبد الرحمن",
        "--household-size",
        "5",
        "--village",
        "ميت غمر",
    ]);
    let who = family["beneficiary"].as_str().unwrap();
    device.ok(&[
        "stock",
        "load",
        "--site",
        site,
        "--item",
        "blanket",
        "--qty",
        "100",
        "--waybill",
        "WB-77",
    ]);
    device.ok(&[
        "stock", "load", "--site", site, "--item", "food_box", "--qty", "40",
    ]);

    let checked = device.ok(&["checkin", who, "--site", site]);
    let blankets = checked["entitlement"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "blanket")
        .unwrap()
        .clone();
    assert_eq!(
        blankets["allowed"], "3",
        "one blanket per two members, rounded up"
    );

    let first = device.ok(&[
        "handout", who, "--item", "blanket", "--qty", "2", "--site", site,
    ]);
    assert_eq!(first["remaining"], "1");
    let (code, stderr) = device.fails(&[
        "handout", who, "--item", "blanket", "--qty", "2", "--site", site,
    ]);
    assert_eq!(code, "over_entitlement");
    assert!(stderr.contains('1'), "says what remains: {stderr}");
    let (code, _) = device.fails(&[
        "handout", who, "--item", "food_box", "--qty", "1.5", "--site", site,
    ]);
    assert_eq!(code, "fractional_quantity");
    let (code, _) = device.fails(&[
        "handout", who, "--item", "rice", "--qty", "1", "--site", site,
    ]);
    assert_eq!(code, "unknown_item");
    let (code, _) = device.fails(&[
        "handout", who, "--item", "medicine", "--qty", "1", "--site", site,
    ]);
    assert_eq!(
        code, "over_entitlement",
        "medicine is not in the default round"
    );

    let overridden = device.ok(&[
        "handout",
        who,
        "--item",
        "blanket",
        "--qty",
        "2",
        "--site",
        site,
        "--override",
        "--reason",
        "رضيع في البرد",
    ]);
    assert_eq!(overridden["overridden"], true);
    device.ok(&[
        "handout", who, "--item", "food_box", "--qty", "1", "--site", site,
    ]);

    // A mistaken hand-out is voided; it stays in history, and stops counting.
    let wrong = device.ok(&[
        "handout", who, "--item", "meat_kg", "--qty", "1", "--site", site,
    ]);
    let (code, _) = device.fails(&["void", wrong["event"].as_str().unwrap(), "--reason", ""]);
    assert_eq!(code, "reason_required");
    device.ok(&[
        "void",
        wrong["event"].as_str().unwrap(),
        "--reason",
        "اتسجل بالغلط",
    ]);
    let (code, _) = device.fails(&["void", wrong["event"].as_str().unwrap(), "--reason", "تاني"]);
    assert_eq!(code, "already_voided");
    let again = device.ok(&["checkin", who, "--site", site]);
    assert_eq!(again["already_checked_in"], true);
    let meat = again["entitlement"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "meat_kg")
        .unwrap()
        .clone();
    assert_eq!(meat["remaining"], "1");

    let status = device.ok(&["day", "status", "--site", site]);
    let b = item(&status, "blanket");
    assert_eq!(
        (
            b["loaded"].as_str(),
            b["handed_out"].as_str(),
            b["expected"].as_str()
        ),
        (Some("100"), Some("4"), Some("96"))
    );
    assert_eq!(item(&status, "food_box")["expected"], "39");
    let codes: Vec<&str> = status["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"over_entitlement") && codes.contains(&"override"),
        "{codes:?}"
    );
}

#[test]
fn a_lead_moves_and_counts_stock_and_variances_need_reasons() {
    let device = Device::initialised("lead");
    let site = "ساحة القرية";
    device.ok(&[
        "stock", "load", "--site", site, "--item", "food_box", "--qty", "50",
    ]);
    device.ok(&[
        "stock",
        "transfer",
        "--site",
        site,
        "--to",
        "الوحدة الصحية",
        "--item",
        "food_box",
        "--qty",
        "10",
    ]);
    device.ok(&[
        "stock", "return", "--site", site, "--item", "food_box", "--qty", "5",
    ]);
    let (code, _) = device.fails(&[
        "stock", "loss", "--site", site, "--item", "food_box", "--qty", "2", "--reason", "lost",
    ]);
    assert_eq!(code, "unknown_reason_code");
    let (code, _) = device.fails(&[
        "stock", "loss", "--site", site, "--item", "food_box", "--qty", "2", "--reason", "other",
    ]);
    assert_eq!(code, "reason_required");
    device.ok(&[
        "stock", "loss", "--site", site, "--item", "food_box", "--qty", "2", "--reason", "damaged",
    ]);
    let (code, _) = device.fails(&[
        "stock", "load", "--site", site, "--item", "medicine", "--qty", "20",
    ]);
    assert_eq!(code, "lot_required");
    device.ok(&[
        "stock",
        "load",
        "--site",
        site,
        "--item",
        "medicine",
        "--qty",
        "20",
        "--lot",
        "L-2291",
        "--expiry",
        "2027-06-30",
    ]);
    let (code, _) = device.fails(&[
        "stock", "load", "--site", site, "--item", "checkup", "--qty", "5",
    ]);
    assert_eq!(code, "service_has_no_stock");

    let (code, stderr) = device.fails(&[
        "stock", "count", "--site", site, "--item", "food_box", "--qty", "31",
    ]);
    assert_eq!(code, "variance_reason_required");
    assert!(
        stderr.contains("33"),
        "states the expected figure: {stderr}"
    );
    device.ok(&[
        "stock", "count", "--site", site, "--item", "food_box", "--qty", "33",
    ]);
    device.ok(&[
        "stock", "count", "--site", site, "--item", "food_box", "--qty", "31", "--reason", "theft",
    ]);

    let status = device.ok(&["day", "status", "--site", site]);
    let line = item(&status, "food_box");
    assert_eq!(line["transferred_out"], "10");
    assert_eq!(line["returned"], "5");
    assert_eq!(line["lost"], "2");
    assert_eq!(line["expected"], "33");
    assert_eq!(line["counted"], "31");
    assert_eq!(line["variance"], "-2");
    assert_eq!(line["variance_reason"], "theft");
    assert_eq!(item(&status, "medicine")["loaded"], "20");
    let other = device.ok(&["day", "status", "--site", "الوحدة الصحية"]);
    assert_eq!(item(&other, "food_box")["transferred_in"], "10");
    let text = device.run(&["day", "status", "--site", site]);
    assert!(
        text.stdout.contains("food_box") && text.stdout.contains("theft"),
        "{}",
        text.stdout
    );
}

#[test]
fn rounds_define_what_households_may_receive() {
    let device = Device::initialised("registrar");
    let rounds = device.ok(&["round", "list"]);
    let first = &rounds["rounds"][0];
    assert_eq!(first["current"], true);
    assert_eq!(
        first["entitlements"],
        serde_json::json!(["food_box=1", "meat_kg=1", "blanket=1/2", "checkup=1/person"])
    );
    let (code, _) = device.fails(&["round", "create", "شتاء", "--entitlement", "blanket=1/0"]);
    assert_eq!(code, "invalid_entitlement");
    let winter = device.ok(&[
        "round",
        "create",
        "شتاء ٢٠٢٦",
        "--entitlement",
        "blanket=1/2,cap=2",
        "--entitlement",
        "hot_meal=1/person",
    ]);
    assert_eq!(winter["current"], true);
    let (code, _) = device.fails(&["round", "create", "شتاء ٢٠٢٦"]);
    assert_eq!(code, "round_exists");

    let family = device.ok(&[
        "beneficiary",
        "add",
        "--name",
        "هدى",
        "--household-size",
        "7",
        "--village",
        "ميت غمر",
    ]);
    let who = family["beneficiary"].as_str().unwrap();
    let checked = device.ok(&["checkin", who, "--site", "s"]);
    let items = checked["entitlement"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["allowed"], "2", "capped");
    assert_eq!(items[1]["allowed"], "7", "one meal per person");
}
