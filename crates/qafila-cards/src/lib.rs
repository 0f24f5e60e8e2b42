//! Qafila's beneficiary cards: the signed payload behind the QR code.
//!
//! A card says "serial S, issued by association K, belongs to beneficiary B
//! for round R", and nothing else: **no name, national ID or phone number**
//! travels in the code, so a lost card or a photographed QR leaks nothing but
//! opaque ids.
//!
//! - [`keys`]: an association's Ed25519 issuing key and the public half that
//!   devices pin;
//! - [`card`]: the 43-byte payload, its 64-byte signature, and the text form
//!   `QF1` + Base32 that goes into the QR code;
//! - [`base32`]: Base32 with Qafila's alphabet, chosen to survive QR
//!   alphanumeric mode and barcode scanners typing under an Arabic keyboard
//!   layout;
//! - [`wedge`]: [`normalize_scanned`], which undoes that Arabic layout;
//! - [`revocation`]: signed lists of revoked serials, one per issuer;
//! - [`sheet`]: printable A4 sheets of ten cards each, one HTML document;
//! - [`CardError`]: the four ways a scan fails, with stable codes and Arabic
//!   messages for the volunteer.
//!
//! The crate is pure: no IO, no clock, no randomness (callers pass keys and
//! ids in). Every decoder takes untrusted input and returns an error, never
//! panics (property tests and the fuzz target in `fuzz/` check it).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod base32;
pub mod card;
pub mod keys;
pub mod number;
pub mod revocation;
pub mod sheet;
pub mod wedge;

pub use card::{CARD_VERSION, Card, SignedCard, TEXT_PREFIX, decode, verify};
pub use keys::{IssuerKey, IssuerPublic, KeyId};
pub use number::{card_number, parse_card_number};
pub use revocation::{RevocationList, Revocations};
pub use wedge::normalize_scanned;

use qafila_domain::ids::CardSerial;

/// Why a scanned card (or a revocation list) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// Not a Qafila card at all, or damaged: wrong prefix, a character
    /// outside the alphabet, wrong length, unknown version.
    #[error("malformed card: {0}")]
    Malformed(&'static str),
    /// Signed by a key this device does not pin.
    #[error("card issued by unknown key {0}")]
    UnknownIssuer(KeyId),
    /// The signature does not match: forged, or altered after signing.
    #[error("card signature does not verify")]
    BadSignature,
    /// The issuer has revoked this serial.
    #[error("card {0} has been revoked")]
    Revoked(CardSerial),
}

impl CardError {
    /// Stable code for the UI, logs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownIssuer(_) => "unknown_issuer",
            Self::BadSignature => "bad_signature",
            Self::Revoked(_) => "revoked",
        }
    }

    /// A short Egyptian-Arabic message telling the volunteer what to do.
    pub fn message_ar(&self) -> &'static str {
        match self {
            Self::Malformed(_) => {
                "الكارت ده مش مقروء؛ امسحه تاني، ولو فضل كده اطلب من المسجّل كارت جديد"
            }
            Self::UnknownIssuer(_) => {
                "الكارت ده من جمعية مش متسجّلة على الجهاز؛ ما تصرفش وكلّم المسؤول"
            }
            Self::BadSignature => "الكارت ده مش سليم؛ ما تصرفش واطلب من المسجّل كارت جديد",
            Self::Revoked(_) => "الكارت ده اتلغى؛ ما تصرفش عليه وابعت صاحبه للمسجّل",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_messages_are_arabic() {
        let all = [
            CardError::Malformed("x"),
            CardError::UnknownIssuer(KeyId(7)),
            CardError::BadSignature,
            CardError::Revoked(CardSerial::new(3)),
        ];
        let codes: Vec<_> = all.iter().map(CardError::code).collect();
        assert_eq!(
            codes,
            ["malformed", "unknown_issuer", "bad_signature", "revoked"]
        );
        for error in &all {
            assert!(error.message_ar().contains("الكارت"));
        }
    }
}
