//! `decode` and `normalize_scanned` on any scanner input: never panic,
//! normalizing is idempotent, and whatever decodes re-encodes its payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qafila_cards::{decode, normalize_scanned};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let normalized = normalize_scanned(&text);
    assert_eq!(normalize_scanned(&normalized), normalized, "not idempotent");
    if let Ok(signed) = decode(&text) {
        assert_eq!(signed.card.version, qafila_cards::CARD_VERSION);
    }
});
