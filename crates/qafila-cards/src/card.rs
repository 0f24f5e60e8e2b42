//! The card payload and its text form.
//!
//! Binary layout (big-endian):
//!
//! | bytes | field                                   |
//! |------:|-----------------------------------------|
//! |     1 | version, [`CARD_VERSION`]               |
//! |     2 | issuer [`KeyId`]                        |
//! |     8 | [`CardSerial`]                          |
//! |    16 | [`BeneficiaryId`]                       |
//! |    16 | [`RoundId`]                             |
//! |    64 | Ed25519 signature over `b"qafila-card-v1"` followed by the 43 bytes above |
//!
//! 107 bytes in all; the domain tag is signed but not transmitted, so a
//! card signature can never be replayed as any other signed Qafila message.
//!
//! Text form: `QF1` followed by the 107 bytes in [`crate::base32`] (172
//! characters), 175 characters that fit QR alphanumeric mode and survive a
//! keyboard-wedge scanner under an Arabic layout (see
//! [`crate::normalize_scanned`]).

use qafila_domain::ids::{BeneficiaryId, CardSerial, RoundId};

use crate::keys::{self, IssuerKey, IssuerPublic, KeyId};
use crate::revocation::Revocations;
use crate::{CardError, base32, wedge};

/// The payload version this crate writes and reads.
pub const CARD_VERSION: u8 = 1;
/// What every card text starts with.
pub const TEXT_PREFIX: &str = "QF1";
/// The domain tag prefixed to the payload before signing.
pub const SIGNING_TAG: &[u8] = b"qafila-card-v1";
/// Length of the signed payload.
pub const PAYLOAD_LEN: usize = 43;
/// Length of payload and signature.
pub const SIGNED_LEN: usize = PAYLOAD_LEN + 64;
/// Length of a card text, prefix included.
pub const TEXT_LEN: usize = TEXT_PREFIX.len() + base32::encoded_len(SIGNED_LEN);

/// Longest input [`decode`] looks at: generous room for whitespace, bidi
/// marks and two-character ligatures, and a bound on the work an arbitrary
/// string can cause.
const MAX_INPUT_BYTES: usize = 4096;

/// What a card says. Deliberately no name, national ID or phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Card {
    /// Payload version; [`CARD_VERSION`].
    pub version: u8,
    /// Which issuer key signs the card.
    pub key_id: KeyId,
    /// The serial printed on the card.
    pub serial: CardSerial,
    /// Whose card it is.
    pub beneficiary: BeneficiaryId,
    /// The round it is valid for.
    pub round: RoundId,
}

impl Card {
    /// A version-1 card to be signed by `key`.
    pub fn new(
        key: &IssuerKey,
        serial: CardSerial,
        beneficiary: BeneficiaryId,
        round: RoundId,
    ) -> Self {
        Self {
            version: CARD_VERSION,
            key_id: key.key_id(),
            serial,
            beneficiary,
            round,
        }
    }

    /// The 43 signed bytes.
    pub fn payload(&self) -> [u8; PAYLOAD_LEN] {
        let mut out = [0; PAYLOAD_LEN];
        out[0] = self.version;
        out[1..3].copy_from_slice(&self.key_id.0.to_be_bytes());
        out[3..11].copy_from_slice(&self.serial.get().to_be_bytes());
        out[11..27].copy_from_slice(&self.beneficiary.to_bytes());
        out[27..43].copy_from_slice(&self.round.to_bytes());
        out
    }

    fn from_payload(payload: &[u8; PAYLOAD_LEN]) -> Result<Self, CardError> {
        let version = payload[0];
        if version != CARD_VERSION {
            return Err(CardError::Malformed("unknown card version"));
        }
        let mut key_id = [0; 2];
        key_id.copy_from_slice(&payload[1..3]);
        let mut serial = [0; 8];
        serial.copy_from_slice(&payload[3..11]);
        let mut beneficiary = [0; 16];
        beneficiary.copy_from_slice(&payload[11..27]);
        let mut round = [0; 16];
        round.copy_from_slice(&payload[27..43]);
        Ok(Self {
            version,
            key_id: KeyId(u16::from_be_bytes(key_id)),
            serial: CardSerial::new(u64::from_be_bytes(serial)),
            beneficiary: BeneficiaryId::from_bytes(beneficiary),
            round: RoundId::from_bytes(round),
        })
    }

    /// Signs the card with `key` and returns its text, `QF1` + Base32.
    ///
    /// The payload is written as it is: a card whose `key_id` is not `key`'s
    /// (build it with [`Card::new`]) will fail verification.
    pub fn encode(&self, key: &IssuerKey) -> String {
        let payload = self.payload();
        let signature = key.sign(SIGNING_TAG, &payload);
        let mut bytes = [0; SIGNED_LEN];
        bytes[..PAYLOAD_LEN].copy_from_slice(&payload);
        bytes[PAYLOAD_LEN..].copy_from_slice(&signature);
        let mut text = String::with_capacity(TEXT_LEN);
        text.push_str(TEXT_PREFIX);
        text.push_str(&base32::encode(&bytes));
        text
    }
}

/// A parsed card whose signature has not been checked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignedCard {
    /// What the card claims.
    pub card: Card,
    /// The issuer's signature over `SIGNING_TAG || card.payload()`.
    pub signature: [u8; 64],
}

impl SignedCard {
    /// Checks the signature against the pinned issuer keys.
    pub fn verify_signature(&self, pinned: &[IssuerPublic]) -> Result<Card, CardError> {
        keys::check(
            pinned,
            self.card.key_id,
            SIGNING_TAG,
            &self.card.payload(),
            &self.signature,
        )?;
        Ok(self.card)
    }
}

/// Parses a scanned card text without checking its signature.
///
/// Accepts what a scanner produces: surrounding and embedded whitespace,
/// lowercase, bidi marks and keyboard-wedge input under an Arabic layout
/// (the text is passed through [`crate::normalize_scanned`] first).
pub fn decode(text: &str) -> Result<SignedCard, CardError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(CardError::Malformed("input too long"));
    }
    let normalized = wedge::normalize_scanned(text);
    let Some(body) = normalized.strip_prefix(TEXT_PREFIX) else {
        return Err(CardError::Malformed("not a Qafila card (prefix)"));
    };
    if normalized.len() != TEXT_LEN {
        return Err(CardError::Malformed("wrong length"));
    }
    let bytes = base32::decode(body.as_bytes()).map_err(|error| match error {
        base32::Base32Error::Character => CardError::Malformed("character outside the alphabet"),
        base32::Base32Error::Length | base32::Base32Error::TrailingBits => {
            CardError::Malformed("wrong length")
        }
    })?;
    let Ok(bytes) = <[u8; SIGNED_LEN]>::try_from(bytes.as_slice()) else {
        return Err(CardError::Malformed("wrong length"));
    };
    let mut payload = [0; PAYLOAD_LEN];
    payload.copy_from_slice(&bytes[..PAYLOAD_LEN]);
    let mut signature = [0; 64];
    signature.copy_from_slice(&bytes[PAYLOAD_LEN..]);
    Ok(SignedCard {
        card: Card::from_payload(&payload)?,
        signature,
    })
}

/// Parses a scanned card, checks its signature against the pinned issuer
/// keys, then checks it is not revoked.
pub fn verify(
    text: &str,
    pinned: &[IssuerPublic],
    revoked: &Revocations,
) -> Result<Card, CardError> {
    let card = decode(text)?.verify_signature(pinned)?;
    if revoked.is_revoked(card.key_id, card.serial) {
        return Err(CardError::Revoked(card.serial));
    }
    Ok(card)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RevocationList;

    fn key(seed: u8) -> IssuerKey {
        IssuerKey::from_secret_bytes(&[seed; 32])
    }

    fn card(key: &IssuerKey, serial: u64) -> Card {
        Card::new(
            key,
            CardSerial::new(serial),
            BeneficiaryId::from_parts(1_800_000_000_000, [7; 10]),
            RoundId::from_parts(1_800_000_000_001, [9; 10]),
        )
    }

    fn none() -> Revocations {
        Revocations::default()
    }

    #[test]
    fn round_trip_and_shape() {
        let issuer = key(1);
        let card = card(&issuer, 42);
        let text = card.encode(&issuer);
        assert_eq!(text.len(), TEXT_LEN);
        assert_eq!(TEXT_LEN, 175);
        assert!(text.starts_with("QF1"));
        assert!(
            text.bytes()
                .all(|c| base32::ALPHABET.contains(&c) || b"QF1".contains(&c))
        );
        assert_eq!(verify(&text, &[issuer.public()], &none()), Ok(card));
        assert_eq!(decode(&text).map(|s| s.card), Ok(card));
    }

    #[test]
    fn lowercase_and_whitespace_are_accepted() {
        let issuer = key(1);
        let card = card(&issuer, 42);
        let text = card.encode(&issuer);
        let messy = format!(
            "  {}\r\n\t{} \n",
            text[..80].to_lowercase(),
            text[80..]
                .chars()
                .map(|c| format!("{c} "))
                .collect::<String>()
        );
        assert_eq!(verify(&messy, &[issuer.public()], &none()), Ok(card));
        let marked = format!("\u{200F}{text}\u{200E}\u{2069}");
        assert_eq!(verify(&marked, &[issuer.public()], &none()), Ok(card));
    }

    #[test]
    fn forged_with_another_key_is_a_bad_signature() {
        let issuer = key(1);
        let forger = key(2);
        // The forger claims the issuer's key id.
        let forged = card(&issuer, 42).encode(&forger);
        let error = verify(&forged, &[issuer.public()], &none()).unwrap_err();
        assert_eq!(error.code(), "bad_signature");
    }

    #[test]
    fn unknown_issuer() {
        let issuer = key(1);
        let other = key(3);
        let text = card(&issuer, 42).encode(&issuer);
        let error = verify(&text, &[other.public()], &none()).unwrap_err();
        assert_eq!(error, CardError::UnknownIssuer(issuer.key_id()));
        assert_eq!(error.code(), "unknown_issuer");
        assert_eq!(
            verify(&text, &[], &none()).unwrap_err().code(),
            "unknown_issuer"
        );
    }

    #[test]
    fn every_altered_character_is_refused() {
        let issuer = key(1);
        let text = card(&issuer, 42).encode(&issuer);
        let pinned = [issuer.public()];
        for position in 3..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[position] = if bytes[position] == b'A' { b'C' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            let code = verify(&altered, &pinned, &none()).unwrap_err().code();
            assert!(
                ["bad_signature", "malformed", "unknown_issuer"].contains(&code),
                "position {position}: {code}"
            );
        }
        // Outside the version, key id and trailing character, an altered
        // character still parses and it is the signature that refuses it.
        let mut bytes = text.clone().into_bytes();
        bytes[40] = if bytes[40] == b'A' { b'C' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            verify(&altered, &pinned, &none()).unwrap_err(),
            CardError::BadSignature
        );
    }

    #[test]
    fn revoked_serial() {
        let issuer = key(1);
        let text = card(&issuer, 42).encode(&issuer);
        let mut list = RevocationList::new(issuer.key_id(), 1);
        list.serials.insert(CardSerial::new(42));
        let mut revocations = Revocations::default();
        revocations.insert(list);
        let error = verify(&text, &[issuer.public()], &revocations).unwrap_err();
        assert_eq!(error, CardError::Revoked(CardSerial::new(42)));
        assert_eq!(error.code(), "revoked");
        // Another serial of the same issuer is still fine.
        let other = card(&issuer, 43).encode(&issuer);
        assert!(verify(&other, &[issuer.public()], &revocations).is_ok());
    }

    #[test]
    fn malformed_inputs() {
        let issuer = key(1);
        let text = card(&issuer, 42).encode(&issuer);
        let pinned = [issuer.public()];
        let cases = [
            String::new(),
            "QF1".to_owned(),
            format!("QF2{}", &text[3..]),
            format!("XX{text}"),
            text[..text.len() - 1].to_owned(),
            format!("{text}0"),
            format!("{}B{}", &text[..50], &text[51..]),
            format!("{}!{}", &text[..50], &text[51..]),
            "QF1".repeat(5000),
        ];
        for case in &cases {
            let error = verify(case, &pinned, &none()).unwrap_err();
            assert_eq!(error.code(), "malformed", "{case:?}: {error}");
        }
        let mut wrong_version = card(&issuer, 42);
        wrong_version.version = 2;
        let error = decode(&wrong_version.encode(&issuer)).unwrap_err();
        assert_eq!(error, CardError::Malformed("unknown card version"));
    }
}
