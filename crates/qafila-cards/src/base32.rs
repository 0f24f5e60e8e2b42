//! Base32 with Qafila's alphabet (not RFC 4648), no padding.
//!
//! The alphabet is
//!
//! ```text
//! 0123456789ACDEFHJKLMNPQRSTUVWXYZ
//! ```
//!
//! the ten digits and the uppercase letters without `B`, `G`, `I` and `O`.
//! Why:
//!
//! - **QR alphanumeric mode** holds `0-9 A-Z space $%*+-./:`; a text made of
//!   it packs 5.5 bits per character instead of 8 in byte mode. The
//!   punctuation is left out because a barcode scanner in keyboard mode
//!   ("wedge") types it with layout-dependent Shift combinations.
//! - **The Arabic keyboard layout.** A wedge scanner sends key presses, so
//!   under an Arabic layout the computer receives the Arabic characters of
//!   those keys, which [`crate::normalize_scanned`] maps back. That is only
//!   possible where the layout is one-to-one, and it is not around lam
//!   (`ل`, the `G` key): the `B` key types the lam-alef ligature, often as
//!   the two characters `ل` + `ا`, which is exactly what `G` then `H` types;
//!   Shift+`T`, Shift+`G` and Shift+`B` likewise type `ل` followed by an alef
//!   with hamza or madda, which `G` then Shift+`Y`/`H`/`N` also types.
//!   Leaving `G` out means a lone `ل` never belongs to a card, so `ل`
//!   followed by an alef is always a single ligature key; leaving `B` out
//!   removes the `B`/`GH` question altogether, so the decoder never has to
//!   guess.
//! - **People.** `I`/`1` and `O`/`0` look alike when a volunteer reads a
//!   code aloud or types it by hand; dropping `I` and `O` leaves exactly 32.
//!
//! Encodings are canonical: the length must be the shortest for its bytes and
//! the unused low bits of the last character must be zero, so each byte
//! string has exactly one text.

/// The 32 symbols, in value order.
pub const ALPHABET: &[u8; 32] = b"0123456789ACDEFHJKLMNPQRSTUVWXYZ";

const INVALID: u8 = 0xFF;

const DECODE: [u8; 128] = {
    let mut table = [INVALID; 128];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why a text is not canonical Base32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Base32Error {
    /// A character outside the alphabet (lowercase included).
    #[error("character outside the alphabet")]
    Character,
    /// A length no byte string encodes to.
    #[error("impossible length")]
    Length,
    /// Nonzero unused bits in the last character.
    #[error("non-canonical trailing bits")]
    TrailingBits,
}

/// Length of the encoding of `bytes` bytes.
pub const fn encoded_len(bytes: usize) -> usize {
    (bytes * 8).div_ceil(5)
}

/// Encodes `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(encoded_len(bytes.len()));
    let mut buffer: u32 = 0;
    let mut bits: u32 = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes canonical Base32 in Qafila's alphabet (uppercase only).
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base32Error> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits: u32 = 0;
    for &c in text {
        let value = DECODE.get(usize::from(c)).copied().unwrap_or(INVALID);
        if value == INVALID {
            return Err(Base32Error::Character);
        }
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    if bits >= 5 {
        return Err(Base32Error::Length);
    }
    if buffer != 0 {
        return Err(Base32Error::TrailingBits);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_is_32_distinct_qr_alphanumeric_symbols_without_b_g_i_o() {
        let mut sorted = ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
        for &c in ALPHABET {
            assert!(c.is_ascii_digit() || c.is_ascii_uppercase());
            assert!(!b"BGIO".contains(&c));
        }
    }

    #[test]
    fn known_vectors() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(&[0]), "00");
        assert_eq!(encode(&[0xFF]), "ZW");
        assert_eq!(decode(b"ZW"), Ok(vec![0xFF]));
        assert_eq!(encode(&[0xFF; 5]), "ZZZZZZZZ");
    }

    #[test]
    fn rejects_non_canonical_text() {
        assert_eq!(decode(b"ZZ"), Err(Base32Error::TrailingBits));
        assert_eq!(decode(b"Z"), Err(Base32Error::Length));
        assert_eq!(decode(b"zw"), Err(Base32Error::Character));
        assert_eq!(decode(b"B0"), Err(Base32Error::Character));
        assert_eq!(decode("٠".as_bytes()), Err(Base32Error::Character));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let text = encode(&bytes);
            proptest::prop_assert_eq!(text.len(), encoded_len(bytes.len()));
            proptest::prop_assert_eq!(decode(text.as_bytes()), Ok(bytes));
        }
    }
}
