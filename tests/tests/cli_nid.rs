//! `qafila nid check`, run as a registrar would run it: the real binary,
//! real arguments, exit status, stdout and stderr.

use std::process::{Command, Output};

use serde_json::Value;

/// A valid national ID: born 1990-01-15, Cairo, serial 0123 (male), check 5.
const VALID: &str = "29001150101235";

fn qafila(args: &[&str]) -> Output {
    Command::new(qafila_e2e::workspace_binary("qafila"))
        .env("QAFILA_PASSPHRASE", qafila_e2e::PASSPHRASE)
        .args(args)
        .output()
        .expect("the qafila binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Parses stdout as exactly one JSON object.
fn json(output: &Output) -> Value {
    let text = stdout(output);
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {text}"));
    assert!(value.is_object(), "not an object: {text}");
    value
}

#[test]
fn valid_id_prints_its_fields_for_a_registrar() {
    let output = qafila(&["nid", "check", VALID]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    for expected in [
        VALID,
        "1990-01-15",
        "male",
        "01 Cairo",
        "القاهرة",
        "0123",
        "unverified (algorithm not public)",
        "check digit is not verified",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn eastern_digits_dashes_and_spaces_give_the_same_id() {
    let western = qafila(&["--json", "nid", "check", VALID]);
    let eastern = qafila(&["--json", "nid", "check", "\u{200F}٢-٩٠٠١١٥-٠١ ٠١٢٣ ٥"]);
    assert_eq!(
        eastern.status.code(),
        Some(0),
        "stderr: {}",
        stderr(&eastern)
    );
    assert_eq!(json(&eastern), json(&western));
    assert_eq!(json(&eastern)["national_id"], VALID);

    // Groups typed as separate, unquoted words are joined back together.
    let words = qafila(&["nid", "check", "2", "900115", "01", "0123", "5", "--json"]);
    assert_eq!(words.status.code(), Some(0), "stderr: {}", stderr(&words));
    assert_eq!(json(&words), json(&western));
}

#[test]
fn json_output_has_the_documented_fields() {
    let output = qafila(&["--json", "nid", "check", "30502282112348"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let value = json(&output);
    for (field, expected) in [
        ("national_id", "30502282112348"),
        ("birth_date", "2005-02-28"),
        ("sex", "female"),
        ("governorate_code", "21"),
        ("governorate_en", "Giza"),
        ("governorate_ar", "الجيزة"),
        ("serial", "1234"),
        ("check_digit", "unverified"),
    ] {
        assert_eq!(value[field], expected, "field {field} in {value}");
    }
    assert_eq!(value["check_digit_value"], 8);
    assert!(stderr(&output).is_empty(), "stderr: {}", stderr(&output));
}

#[test]
fn each_invalid_number_exits_1_and_says_what_is_wrong() {
    // (number, what the English message must mention, the stable code)
    let cases = [
        ("2900115010123", "but 13 digits were found", "nid_length"),
        ("2900115O101235", "'O'", "nid_invalid_character"),
        ("59001150101235", "century", "nid_century"),
        (
            "29002300101235",
            "1990-02-30, which is not a real date",
            "nid_date",
        ),
        ("39901010101235", "after today", "nid_future_date"),
        ("29001150701235", "governorate code 07", "nid_governorate"),
    ];
    for (number, english, code) in cases {
        let output = qafila(&["nid", "check", number]);
        assert_eq!(output.status.code(), Some(1), "{number}");
        assert!(
            stdout(&output).is_empty(),
            "{number}: stdout {}",
            stdout(&output)
        );
        let message = stderr(&output);
        assert!(message.contains(english), "{number}: {message}");
        assert!(message.contains(code), "{number}: {message}");
        // The Arabic message follows the English one.
        assert!(message.contains("خطأ: "), "{number}: {message}");
        assert!(message.contains("الرقم القومي"), "{number}: {message}");
    }
}

#[test]
fn json_errors_are_one_error_object_on_stdout() {
    let output = qafila(&["--json", "nid", "check", "19001150101235"]);
    assert_eq!(output.status.code(), Some(1));
    let value = json(&output);
    let error = &value["error"];
    assert_eq!(error["code"], "nid_century");
    let message = error["message"].as_str().expect("message is a string");
    assert!(message.contains("but it is 1"), "{message}");
    let message_ar = error["message_ar"]
        .as_str()
        .expect("message_ar is a string");
    assert!(message_ar.contains("لكنه 1"), "{message_ar}");
    // A person watching the terminal still sees it on stderr.
    assert!(stderr(&output).contains("nid_century"));
}

#[test]
fn missing_number_is_a_usage_error() {
    let output = qafila(&["nid", "check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("NUMBER"), "{}", stderr(&output));
}
