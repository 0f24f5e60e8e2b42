//! Two relay processes sharing one real PostgreSQL database (started in a
//! temp directory by the test): devices syncing through either converge.

use qafila_e2e::{RelayProcess, convoy};
use qafila_testkit::postgres::TempPostgres;

const SITE: &str = "أبو قرقاص";

#[test]
fn two_relays_on_one_postgresql_serve_one_convoy() {
    let server = TempPostgres::start();
    let url = server.create_database("relay_e2e");
    let first = RelayProcess::postgres(&url);
    let second = RelayProcess::postgres(&url);
    let (lead, volunteers) = convoy(&first.url, SITE, 2);
    let [v1, v2] = [&volunteers[0], &volunteers[1]];
    let person = lead.ok(&[
        "beneficiary",
        "add",
        "--name",
        "هدى سمير",
        "--household-size",
        "3",
        "--village",
        SITE,
    ]);
    let person = person["beneficiary"].as_str().unwrap().to_owned();
    lead.ok(&["sync"]);
    // v1 talks to one process, v2 to the other.
    v1.ok(&["sync", "--relay", &first.url]);
    v2.ok(&["sync", "--relay", &second.url]);
    v1.ok(&[
        "handout", "--item", "food_box", "--qty", "1", "--site", SITE, &person,
    ]);
    v2.ok(&[
        "handout", "--item", "food_box", "--qty", "1", "--site", SITE, &person,
    ]);
    v1.ok(&["sync", "--relay", &first.url]);
    v2.ok(&["sync", "--relay", &second.url]);
    v1.ok(&["sync", "--relay", &first.url]);
    lead.ok(&["sync", "--relay", &second.url]);
    for device in [&lead, v1, v2] {
        let anomalies = device.ok(&["anomalies"]);
        assert!(
            anomalies.to_string().contains("double_hand_out"),
            "{anomalies}"
        );
    }
}
