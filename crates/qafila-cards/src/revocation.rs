//! Signed lists of revoked card serials.
//!
//! Each issuer publishes one list at a time; a list with a higher `sequence`
//! replaces the previous one entirely (it is a full list, not a delta), so
//! devices that see lists in any order converge on the newest.
//!
//! Binary layout (big-endian):
//!
//! | bytes  | field                                   |
//! |-------:|-----------------------------------------|
//! |      2 | issuer [`KeyId`]                        |
//! |      8 | sequence                                |
//! |      4 | count `n`                               |
//! |  8 × n | serials, strictly ascending             |
//! |     64 | Ed25519 signature over `b"qafila-revocations-v1"` followed by everything above |

use std::collections::{BTreeMap, BTreeSet};

use qafila_domain::ids::CardSerial;

use crate::CardError;
use crate::keys::{self, IssuerKey, IssuerPublic, KeyId};

/// The domain tag prefixed to a list before signing.
pub const SIGNING_TAG: &[u8] = b"qafila-revocations-v1";

const HEADER_LEN: usize = 2 + 8 + 4;
const SIGNATURE_LEN: usize = 64;

/// One issuer's revoked serials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationList {
    /// The issuer whose cards these are, and whose key signs the list.
    pub issuer: KeyId,
    /// Higher replaces lower.
    pub sequence: u64,
    /// The revoked serials.
    pub serials: BTreeSet<CardSerial>,
}

impl RevocationList {
    /// An empty list.
    pub fn new(issuer: KeyId, sequence: u64) -> Self {
        Self {
            issuer,
            sequence,
            serials: BTreeSet::new(),
        }
    }

    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 8 * self.serials.len() + SIGNATURE_LEN);
        out.extend_from_slice(&self.issuer.0.to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        // More than u32::MAX serials cannot be held in memory as a card
        // list in practice; saturate rather than panic.
        let count = u32::try_from(self.serials.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for serial in self.serials.iter().take(count as usize) {
            out.extend_from_slice(&serial.get().to_be_bytes());
        }
        out
    }

    /// The signed binary form. The list's `issuer` should be `key`'s id, or
    /// the list will not verify.
    pub fn sign(&self, key: &IssuerKey) -> Vec<u8> {
        let mut out = self.body();
        let signature = key.sign(SIGNING_TAG, &out);
        out.extend_from_slice(&signature);
        out
    }

    /// Parses a signed list and checks its signature against the pinned
    /// issuer keys.
    pub fn verify(bytes: &[u8], pinned: &[IssuerPublic]) -> Result<Self, CardError> {
        if bytes.len() < HEADER_LEN + SIGNATURE_LEN {
            return Err(CardError::Malformed("revocation list too short"));
        }
        let (body, signature) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
        let issuer = KeyId(u16::from_be_bytes([body[0], body[1]]));
        let mut field = [0; 8];
        field.copy_from_slice(&body[2..10]);
        let sequence = u64::from_be_bytes(field);
        let mut count = [0; 4];
        count.copy_from_slice(&body[10..14]);
        let count = u32::from_be_bytes(count) as usize;
        let rest = &body[HEADER_LEN..];
        if rest.len() / 8 != count || rest.len() % 8 != 0 {
            return Err(CardError::Malformed("revocation list length"));
        }
        let mut serials = BTreeSet::new();
        let mut previous = None;
        for chunk in rest.chunks_exact(8) {
            field.copy_from_slice(chunk);
            let serial = u64::from_be_bytes(field);
            if previous.is_some_and(|p| p >= serial) {
                return Err(CardError::Malformed("revocation serials not ascending"));
            }
            previous = Some(serial);
            serials.insert(CardSerial::new(serial));
        }
        let mut sig = [0; SIGNATURE_LEN];
        sig.copy_from_slice(signature);
        keys::check(pinned, issuer, SIGNING_TAG, body, &sig)?;
        Ok(Self {
            issuer,
            sequence,
            serials,
        })
    }
}

/// The newest verified list of each issuer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Revocations {
    lists: BTreeMap<KeyId, RevocationList>,
}

impl Revocations {
    /// Adds a (verified) list, unless a list of the same issuer with a
    /// higher or equal sequence is already held. Returns whether it was kept.
    pub fn insert(&mut self, list: RevocationList) -> bool {
        match self.lists.get(&list.issuer) {
            Some(held) if held.sequence >= list.sequence => false,
            _ => {
                self.lists.insert(list.issuer, list);
                true
            }
        }
    }

    /// Keeps the higher sequence per issuer from both sets.
    pub fn merge(&mut self, other: Self) {
        for list in other.lists.into_values() {
            self.insert(list);
        }
    }

    /// Whether `issuer` has revoked `serial`.
    pub fn is_revoked(&self, issuer: KeyId, serial: CardSerial) -> bool {
        self.lists
            .get(&issuer)
            .is_some_and(|list| list.serials.contains(&serial))
    }

    /// The list held for `issuer`.
    pub fn list(&self, issuer: KeyId) -> Option<&RevocationList> {
        self.lists.get(&issuer)
    }
}

impl From<RevocationList> for Revocations {
    fn from(list: RevocationList) -> Self {
        let mut out = Self::default();
        out.insert(list);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> IssuerKey {
        IssuerKey::from_secret_bytes(&[seed; 32])
    }

    fn list(key: &IssuerKey, sequence: u64, serials: &[u64]) -> RevocationList {
        RevocationList {
            issuer: key.key_id(),
            sequence,
            serials: serials.iter().copied().map(CardSerial::new).collect(),
        }
    }

    #[test]
    fn sign_verify_round_trip() {
        let issuer = key(1);
        let original = list(&issuer, 5, &[1, 9, 300]);
        let bytes = original.sign(&issuer);
        assert_eq!(bytes.len(), 14 + 3 * 8 + 64);
        assert_eq!(
            RevocationList::verify(&bytes, &[issuer.public()]),
            Ok(original)
        );
        let empty = list(&issuer, 0, &[]);
        assert_eq!(
            RevocationList::verify(&empty.sign(&issuer), &[issuer.public()]),
            Ok(empty)
        );
    }

    #[test]
    fn errors() {
        let issuer = key(1);
        let bytes = list(&issuer, 5, &[1, 9]).sign(&issuer);
        let pinned = [issuer.public()];
        let code = |b: &[u8], p: &[IssuerPublic]| RevocationList::verify(b, p).unwrap_err().code();
        assert_eq!(code(&bytes, &[key(2).public()]), "unknown_issuer");
        let mut altered = bytes.clone();
        altered[12] ^= 1; // count
        assert_eq!(code(&altered, &pinned), "malformed");
        let mut altered = bytes.clone();
        altered[29] ^= 1; // the last serial: 9 becomes 8
        assert_eq!(code(&altered, &pinned), "bad_signature");
        assert_eq!(code(&bytes[..bytes.len() - 1], &pinned), "malformed");
        assert_eq!(code(&[], &pinned), "malformed");
        // Forged by another key under the issuer's id.
        let forged = list(&issuer, 6, &[]).sign(&key(2));
        assert_eq!(code(&forged, &pinned), "bad_signature");
    }

    #[test]
    fn newer_sequence_replaces_older_in_any_order() {
        let a = key(1);
        let b = key(2);
        let old = list(&a, 1, &[1, 2]);
        let new = list(&a, 2, &[2, 3]);
        let other = list(&b, 1, &[1]);

        let mut first = Revocations::from(old.clone());
        first.insert(other.clone());
        let mut second = Revocations::from(new.clone());
        assert!(!second.insert(old.clone()));

        first.merge(second.clone());
        second.merge(Revocations::from(other));
        assert_eq!(first, second);
        assert!(!first.is_revoked(a.key_id(), CardSerial::new(1)));
        assert!(first.is_revoked(a.key_id(), CardSerial::new(3)));
        assert!(first.is_revoked(b.key_id(), CardSerial::new(1)));
        assert!(!first.is_revoked(b.key_id(), CardSerial::new(3)));
        assert_eq!(first.list(a.key_id()), Some(&new));
    }
}
