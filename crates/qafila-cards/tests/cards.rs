//! Property tests: round trips, decoders that never panic, and scans typed by
//! a keyboard-wedge scanner under an Arabic layout.

use proptest::prelude::*;
use qafila_cards::{
    Card, IssuerKey, RevocationList, Revocations, decode, normalize_scanned, verify,
};
use qafila_domain::ids::{BeneficiaryId, CardSerial, RoundId};

fn issuer() -> IssuerKey {
    IssuerKey::from_secret_bytes(&[0x5A; 32])
}

fn card_strategy() -> impl Strategy<Value = Card> {
    (any::<u64>(), any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(serial, beneficiary, round)| {
        Card::new(
            &issuer(),
            CardSerial::new(serial),
            BeneficiaryId::from_bytes(beneficiary),
            RoundId::from_bytes(round),
        )
    })
}

/// What the Arabic (101) layout types for one key of a US keyboard.
#[derive(Debug, Clone, Copy)]
struct Typing {
    /// The scanner holds Shift for uppercase letters (otherwise it sends the
    /// bare key, as with Caps Lock handling).
    shift: bool,
    /// Ligature keys produce the two characters lam + alef rather than the
    /// presentation-form code point.
    decomposed: bool,
    /// 0: ASCII digits, 1: Eastern Arabic, 2: Persian.
    digits: u8,
}

/// The inverse of `normalize_scanned`, written independently from the
/// layout tables.
fn type_on_arabic_layout(text: &str, how: Typing) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            let base = match how.digits {
                0 => '0' as u32,
                1 => 0x0660,
                _ => 0x06F0,
            };
            out.push(char::from_u32(base + d).unwrap());
            continue;
        }
        let unshifted = match c {
            'Q' => "ض",
            'W' => "ص",
            'E' => "ث",
            'R' => "ق",
            'T' => "ف",
            'Y' => "غ",
            'U' => "ع",
            'I' => "ه",
            'O' => "خ",
            'P' => "ح",
            'A' => "ش",
            'S' => "س",
            'D' => "ي",
            'F' => "ب",
            'G' => "ل",
            'H' => "ا",
            'J' => "ت",
            'K' => "ن",
            'L' => "م",
            'Z' => "ئ",
            'X' => "ء",
            'C' => "ؤ",
            'V' => "ر",
            'B' if how.decomposed => "لا",
            'B' => "\u{FEFB}",
            'N' => "ى",
            'M' => "ة",
            other => panic!("no key for {other:?}"),
        };
        let shifted = match c {
            'Q' => "\u{064E}",
            'W' => "\u{064B}",
            'E' => "\u{064F}",
            'R' => "\u{064C}",
            'T' if how.decomposed => "لإ",
            'T' => "\u{FEF9}",
            'Y' => "إ",
            'U' => "`",
            'I' => "÷",
            'O' => "×",
            'P' => "؛",
            'A' => "\u{0650}",
            'S' => "\u{064D}",
            'D' => "]",
            'F' => "[",
            'G' if how.decomposed => "لأ",
            'G' => "\u{FEF7}",
            'H' => "أ",
            'J' => "ـ",
            'K' => "،",
            'L' => "/",
            'Z' => "~",
            'X' => "\u{0652}",
            'C' => "}",
            'V' => "{",
            'B' if how.decomposed => "لآ",
            'B' => "\u{FEF5}",
            'N' => "آ",
            'M' => "'",
            _ => unreachable!(),
        };
        out.push_str(if how.shift { shifted } else { unshifted });
    }
    out
}

fn typing_strategy() -> impl Strategy<Value = Typing> {
    (any::<bool>(), any::<bool>(), 0u8..3).prop_map(|(shift, decomposed, digits)| Typing {
        shift,
        decomposed,
        digits,
    })
}

proptest! {
    #[test]
    fn encode_verify_round_trip(card in card_strategy()) {
        let key = issuer();
        let text = card.encode(&key);
        prop_assert_eq!(text.len(), 175);
        prop_assert_eq!(verify(&text, &[key.public()], &Revocations::default()), Ok(card));
        prop_assert_eq!(verify(&text.to_lowercase(), &[key.public()], &Revocations::default()), Ok(card));
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_strings(text in any::<String>()) {
        let _ = decode(&text);
        let normalized = normalize_scanned(&text);
        prop_assert_eq!(normalize_scanned(&normalized), normalized);
    }

    #[test]
    fn decoder_never_panics_on_arabic_and_card_like_text(
        text in "(QF1)?[\u{0600}-\u{06FF}\u{FEF5}-\u{FEFC}\u{200E}\u{200F}0-9A-Za-z ]{0,200}"
    ) {
        let _ = decode(&text);
    }

    #[test]
    fn revocation_verify_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = RevocationList::verify(&bytes, &[issuer().public()]);
    }

    #[test]
    fn wedge_scan_under_arabic_layout_verifies(card in card_strategy(), how in typing_strategy()) {
        let key = issuer();
        let text = card.encode(&key);
        let typed = type_on_arabic_layout(&text, how);
        prop_assert!(!typed.is_ascii() || how.shift);
        prop_assert_eq!(
            verify(&normalize_scanned(&typed), &[key.public()], &Revocations::default()),
            Ok(card)
        );
        // `decode` normalizes on its own too.
        prop_assert_eq!(verify(&typed, &[key.public()], &Revocations::default()), Ok(card));
    }
}

#[test]
fn wedge_scan_with_eastern_arabic_digits_and_decomposed_ligatures() {
    let key = issuer();
    let card = Card::new(
        &key,
        CardSerial::new(1234),
        BeneficiaryId::from_parts(1_800_000_000_000, [3; 10]),
        RoundId::from_parts(1_800_000_000_000, [4; 10]),
    );
    let text = card.encode(&key);
    for shift in [false, true] {
        let typed = type_on_arabic_layout(
            &text,
            Typing {
                shift,
                decomposed: true,
                digits: 1,
            },
        );
        assert!(
            typed
                .chars()
                .any(|c| ('\u{0660}'..='\u{0669}').contains(&c))
        );
        let scanned = format!("\u{200F}{typed}\r\n");
        assert_eq!(
            verify(
                &normalize_scanned(&scanned),
                &[key.public()],
                &Revocations::default()
            ),
            Ok(card)
        );
    }
}
