//! Issuer keys: each association signs its cards with its own Ed25519 key;
//! devices pin the public halves of the associations they work with.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// A short name for an issuer's public key, carried in every card so a
/// device knows which pinned key to check it against: the first two bytes
/// (big-endian) of SHA-256 of the 32-byte public key.
///
/// Two bytes can collide; verification therefore tries every pinned key with
/// the card's key id, and the signature decides.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub u16);

impl KeyId {
    /// The key id of a public key.
    pub fn of(public: &[u8; 32]) -> Self {
        let digest = Sha256::digest(public);
        Self(u16::from_be_bytes([digest[0], digest[1]]))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}", self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:04x})", self.0)
    }
}

/// An association's card-signing key. Its `Debug` shows the key id only.
#[derive(Clone)]
pub struct IssuerKey {
    signing: SigningKey,
}

impl IssuerKey {
    /// The key from its 32 secret bytes (generated and stored by the caller;
    /// this crate has no randomness).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// The id cards signed with this key carry.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(self.signing.verifying_key().as_bytes())
    }

    /// The public half, for devices to pin.
    pub fn public(&self) -> IssuerPublic {
        IssuerPublic::from_public_bytes(self.signing.verifying_key().to_bytes())
    }

    /// Signs `tag || message`.
    pub(crate) fn sign(&self, tag: &[u8], message: &[u8]) -> [u8; 64] {
        let mut signed = Vec::with_capacity(tag.len() + message.len());
        signed.extend_from_slice(tag);
        signed.extend_from_slice(message);
        self.signing.sign(&signed).to_bytes()
    }
}

impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// An issuer's public key as a device pins it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IssuerPublic {
    /// `KeyId::of(&public)`.
    pub key_id: KeyId,
    /// The Ed25519 public key.
    pub public: [u8; 32],
}

impl IssuerPublic {
    /// Pins a public key, computing its key id.
    pub fn from_public_bytes(public: [u8; 32]) -> Self {
        Self {
            key_id: KeyId::of(&public),
            public,
        }
    }

    /// Whether `signature` is this key's (strict Ed25519) signature over
    /// `tag || message`. An invalid public key verifies nothing.
    pub(crate) fn verifies(&self, tag: &[u8], message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.public) else {
            return false;
        };
        let mut signed = Vec::with_capacity(tag.len() + message.len());
        signed.extend_from_slice(tag);
        signed.extend_from_slice(message);
        key.verify_strict(&signed, &Signature::from_bytes(signature))
            .is_ok()
    }
}

/// Checks `signature` against every pinned key with `key_id`:
/// `UnknownIssuer` when none is pinned, `BadSignature` when none verifies.
pub(crate) fn check(
    pinned: &[IssuerPublic],
    key_id: KeyId,
    tag: &[u8],
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), crate::CardError> {
    let mut candidates = pinned.iter().filter(|p| p.key_id == key_id).peekable();
    if candidates.peek().is_none() {
        return Err(crate::CardError::UnknownIssuer(key_id));
    }
    if candidates.any(|p| p.verifies(tag, message, signature)) {
        Ok(())
    } else {
        Err(crate::CardError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let key = IssuerKey::from_secret_bytes(&[0xAB; 32]);
        let shown = format!("{key:?}");
        assert!(shown.starts_with("IssuerKey { key_id: KeyId("), "{shown}");
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }

    #[test]
    fn key_id_is_the_first_two_bytes_of_the_public_key_hash() {
        let key = IssuerKey::from_secret_bytes(&[1; 32]);
        let public = key.public();
        let digest = Sha256::digest(public.public);
        assert_eq!(
            key.key_id(),
            KeyId(u16::from(digest[0]) << 8 | u16::from(digest[1]))
        );
        assert_eq!(public.key_id, key.key_id());
    }
}
