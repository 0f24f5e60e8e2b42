//! Card serials and the short number printed on a card.
//!
//! A serial is `key id × 2³² + counter`: each issuing key numbers its own
//! cards from 1, and serials from different keys never collide, so a
//! revocation names one card without saying which key issued it.
//!
//! Printed, a serial reads `KKKKK-NNNNNN` (the key id in five digits, the
//! counter in at least six), short enough to read out over the phone, and
//! digits only so it reads the same in Arabic and English.

use qafila_domain::ids::CardSerial;

use crate::keys::KeyId;

/// The serial of an issuing key's `counter`-th card.
pub fn serial(key: KeyId, counter: u32) -> CardSerial {
    CardSerial::new((u64::from(key.0) << 32) | u64::from(counter))
}

/// The key id and counter a serial was built from, if it is a well-formed
/// Qafila serial (no bits above the key id).
pub fn split(serial: CardSerial) -> Option<(KeyId, u32)> {
    let value = serial.get();
    if value >> 48 != 0 {
        return None;
    }
    let key = u16::try_from(value >> 32).ok()?;
    let counter = u32::try_from(value & 0xffff_ffff).ok()?;
    Some((KeyId(key), counter))
}

/// The number printed on a card: `KKKKK-NNNNNN`, or the raw serial for one
/// that is not Qafila-built.
pub fn card_number(serial: CardSerial) -> String {
    match split(serial) {
        Some((key, counter)) => format!("{:05}-{counter:06}", key.0),
        None => serial.get().to_string(),
    }
}

/// Reads a card number as a person types it: `41203-000017`, with Eastern
/// Arabic or Persian digits, spaces, no dash at all (`41203000017`: eleven
/// digits), or a raw serial (any other run of digits). `None` when it is none of these.
pub fn parse_card_number(text: &str) -> Option<CardSerial> {
    let mut digits = String::with_capacity(text.len());
    let mut dash_at = None;
    for c in text.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            '\u{0660}'..='\u{0669}' => digits.push(char::from(b'0' + (c as u32 - 0x0660) as u8)),
            '\u{06F0}'..='\u{06F9}' => digits.push(char::from(b'0' + (c as u32 - 0x06F0) as u8)),
            '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' if dash_at.is_none() => {
                dash_at = Some(digits.len());
            }
            ' ' | '\u{200E}' | '\u{200F}' | '\u{061C}' => {}
            _ => return None,
        }
    }
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let (key, counter) = match dash_at {
        Some(5) => digits.split_at(5),
        Some(_) => return None,
        // The printed form typed without its dash; longer runs are raw serials.
        None if digits.len() == 11 => digits.split_at(5),
        None => return digits.parse().ok().map(CardSerial::new),
    };
    let key: u16 = key.parse().ok()?;
    let counter: u32 = counter.parse().ok()?;
    Some(serial(KeyId(key), counter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn printed_form() {
        let s = serial(KeyId(41203), 17);
        assert_eq!(card_number(s), "41203-000017");
        assert_eq!(card_number(serial(KeyId(7), 1_234_567)), "00007-1234567");
        assert_eq!(split(s), Some((KeyId(41203), 17)));
    }

    #[test]
    fn typed_forms() {
        let s = serial(KeyId(41203), 17);
        for typed in [
            "41203-000017",
            " 41203 - 000017 ",
            "41203000017",
            "٤١٢٠٣-٠٠٠٠١٧",
            "۴۱۲۰۳‐۰۰۰۰۱۷",
            "\u{200F}41203-000017",
        ] {
            assert_eq!(parse_card_number(typed), Some(s), "{typed}");
        }
        assert_eq!(parse_card_number(&s.get().to_string()), Some(s));
        for bad in [
            "",
            "-",
            "4120-3000017",
            "41203-00a017",
            "1-2-3",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_card_number(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn printed_numbers_read_back(key in any::<u16>(), counter in any::<u32>()) {
            let s = serial(KeyId(key), counter);
            prop_assert_eq!(parse_card_number(&card_number(s)), Some(s));
        }

        #[test]
        fn parsing_never_panics(text in ".{0,40}") {
            let _ = parse_card_number(&text);
        }
    }
}
