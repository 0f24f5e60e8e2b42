//! Keys, sealing, signatures and certificates.
//!
//! - A device has an Ed25519 key (signs requests, records and, for a lead,
//!   certificates) and an X25519 key (receives wrapped scope keys).
//! - A scope key generation is 32 bytes for XChaCha20-Poly1305 plus a
//!   32-byte index secret (stable across generations) that turns a
//!   beneficiary id into a registry key the relay cannot invert.
//! - Wrapping: ephemeral X25519 with the recipient's key, HKDF-SHA256 with
//!   both public keys and the scope as context, then XChaCha20-Poly1305.
//! - Certificates and key grants, which the lead signs, are in
//!   [`qafila_proto::cert`] and [`crate::trust`].

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

/// A cryptographic check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Decryption failed: wrong key, or the bytes were altered.
    #[error("the data could not be decrypted: wrong key or altered in transit")]
    Open,
    /// A signature did not verify.
    #[error("a signature does not check out")]
    Signature,
    /// The system's random source failed.
    #[error("the system random source failed")]
    Random,
}

/// Random bytes.
pub fn random<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// This device's keys.
pub struct Identity {
    signing: SigningKey,
    encryption: StaticSecret,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity(..)")
    }
}

impl Identity {
    /// From the secrets the store keeps.
    pub fn from_secrets(signing: [u8; 32], encryption: [u8; 32]) -> Self {
        Identity {
            signing: SigningKey::from_bytes(&signing),
            encryption: StaticSecret::from(encryption),
        }
    }

    /// The Ed25519 key, for request signatures.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Ed25519 public key.
    pub fn signing_public(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// X25519 public key.
    pub fn encryption_public(&self) -> [u8; 32] {
        PublicKey::from(&self.encryption).to_bytes()
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// Opens a key wrapped to this device.
    pub fn unwrap_key(&self, wrapped: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if wrapped.len() < 32 + 24 {
            return Err(CryptoError::Open);
        }
        let (ephemeral, rest) = wrapped.split_at(32);
        let ephemeral: [u8; 32] = ephemeral.try_into().map_err(|_| CryptoError::Open)?;
        let shared = self.encryption.diffie_hellman(&PublicKey::from(ephemeral));
        let key = wrap_key_for(
            shared.as_bytes(),
            &ephemeral,
            &self.encryption_public(),
            context,
        )?;
        open(&key, context, rest)
    }
}

fn wrap_key_for(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
    context: &[u8],
) -> Result<[u8; 32], CryptoError> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let mut info = b"qafila-wrap-v1".to_vec();
    info.extend_from_slice(context);
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(&info, &mut key)
        .map_err(|_| CryptoError::Open)?;
    Ok(key)
}

/// Wraps `secret` to a device's X25519 public key.
pub fn wrap_key(
    recipient: &[u8; 32],
    secret: &[u8],
    context: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let ephemeral = StaticSecret::from(random::<32>()?);
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&PublicKey::from(*recipient));
    let key = wrap_key_for(shared.as_bytes(), &ephemeral_public, recipient, context)?;
    let mut out = ephemeral_public.to_vec();
    out.extend(seal(&key, context, secret)?);
    Ok(out)
}

/// Seals `plaintext` with XChaCha20-Poly1305: `nonce(24) || ciphertext`.
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let nonce: [u8; 24] = random()?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Open)?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(out)
}

/// Opens what [`seal`] made.
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < 24 {
        return Err(CryptoError::Open);
    }
    let (nonce, body) = sealed.split_at(24);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
        .map_err(|_| CryptoError::Open)
}

/// Verifies an Ed25519 signature.
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Result<(), CryptoError> {
    VerifyingKey::from_bytes(public)
        .map_err(|_| CryptoError::Signature)?
        .verify(message, &Signature::from_bytes(signature))
        .map_err(|_| CryptoError::Signature)
}

/// The registry key of a beneficiary in a scope: opaque to the relay.
pub fn registry_key(index_secret: &[u8; 32], beneficiary: &[u8; 16]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(index_secret).unwrap_or_else(|_| {
        // HMAC accepts any key length; this branch cannot be reached.
        <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable!())
    });
    mac.update(b"qafila-registry-v1");
    mac.update(beneficiary);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_opens_only_for_its_recipient_and_context() {
        let alice = Identity::from_secrets([1; 32], [2; 32]);
        let eve = Identity::from_secrets([3; 32], [4; 32]);
        let wrapped = wrap_key(&alice.encryption_public(), b"secret", b"scope").unwrap();
        assert_eq!(alice.unwrap_key(&wrapped, b"scope").unwrap(), b"secret");
        assert_eq!(alice.unwrap_key(&wrapped, b"other"), Err(CryptoError::Open));
        assert_eq!(eve.unwrap_key(&wrapped, b"scope"), Err(CryptoError::Open));
        assert_eq!(
            alice.unwrap_key(&wrapped[..40], b"scope"),
            Err(CryptoError::Open)
        );
    }

    #[test]
    fn sealed_data_with_altered_associated_data_or_bytes_is_refused() {
        let key = [9; 32];
        let sealed = seal(&key, b"header", b"body").unwrap();
        assert_eq!(open(&key, b"header", &sealed).unwrap(), b"body");
        assert_eq!(open(&key, b"headex", &sealed), Err(CryptoError::Open));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key, b"header", &altered), Err(CryptoError::Open));
        assert_eq!(open(&[8; 32], b"header", &sealed), Err(CryptoError::Open));
    }

    #[test]
    fn signatures_and_registry_keys() {
        let id = Identity::from_secrets([5; 32], [6; 32]);
        let sig = id.sign(b"m");
        assert_eq!(verify(&id.signing_public(), b"m", &sig), Ok(()));
        assert_eq!(
            verify(&id.signing_public(), b"n", &sig),
            Err(CryptoError::Signature)
        );
        assert_ne!(
            registry_key(&[1; 32], &[2; 16]),
            registry_key(&[1; 32], &[3; 16])
        );
        assert_ne!(
            registry_key(&[1; 32], &[2; 16]),
            registry_key(&[4; 32], &[2; 16])
        );
    }
}
