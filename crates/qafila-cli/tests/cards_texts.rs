//! `qafila cards issue --texts FILE`: the new cards' texts, one a line, in the
//! order of the issued list, so a script pairs each text with its card; and a
//! path that cannot be written fails before any card is issued.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const VILLAGE: &str = "كفر الشيخ سالم";

fn qafila(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qafila"))
        .arg("--json")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("QAFILA_DATA_DIR")
        .env("QAFILA_PASSPHRASE", "cards texts passphrase")
        .output()
        .expect("the qafila binary runs")
}

fn ok(dir: &Path, args: &[&str]) -> Value {
    let out = qafila(dir, args);
    assert!(
        out.status.success(),
        "qafila {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn issue_writes_each_new_card_text_in_the_issued_order() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("registrar");
    ok(&dir, &["init", "--device-name", "تابلت التسجيل"]);
    ok(&dir, &["cards", "issuer", "--association", "جمعية الخير"]);
    for (name, size) in [
        ("محمد أحمد عبد الله", "5"),
        ("فاطمة محمود حسن", "3"),
        ("يوسف عادل عبد العزيز", "4"),
    ] {
        ok(
            &dir,
            &[
                "beneficiary",
                "add",
                "--name",
                name,
                "--household-size",
                size,
                "--village",
                VILLAGE,
            ],
        );
    }

    // A texts file that cannot be created: refused, and no card issued.
    let nowhere = temp.path().join("missing").join("texts.txt");
    let refused = qafila(
        &dir,
        &[
            "cards",
            "issue",
            "--village",
            VILLAGE,
            "--texts",
            nowhere.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    let error: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot write the card texts"),
        "{error}"
    );

    let path = temp.path().join("texts.txt");
    let issued = ok(
        &dir,
        &[
            "cards",
            "issue",
            "--village",
            VILLAGE,
            "--texts",
            path.to_str().unwrap(),
        ],
    );
    let cards = issued["issued"].as_array().unwrap();
    assert_eq!(cards.len(), 3, "the refused run issued nothing: {issued}");
    let texts = lines(&path);
    assert_eq!(texts.len(), 3);
    for (card, text) in cards.iter().zip(&texts) {
        // Line i is issued card i, and reads back as that card and holder.
        let verdict = ok(&dir, &["cards", "verify", text]);
        assert_eq!(verdict["valid"], true, "{verdict}");
        assert_eq!(verdict["number"], card["number"], "{verdict}");
        assert_eq!(
            verdict["beneficiary"], card["beneficiary"]["id"],
            "{verdict}"
        );
    }

    // Everyone has a card now: nothing new, so an empty file.
    let again = ok(
        &dir,
        &[
            "cards",
            "issue",
            "--village",
            VILLAGE,
            "--texts",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(again["issued"], serde_json::json!([]));
    assert_eq!(lines(&path), Vec::<String>::new());
}
