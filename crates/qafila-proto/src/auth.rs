//! Request signatures: every request names its device and carries an
//! Ed25519 signature over the method, path, time and body hash.
//!
//! ```text
//! Authorization: Qafila device=<uuid>,ts=<unix ms>,sig=<base64url>
//! signed := "qafila-request-v1\n" METHOD "\n" PATH "\n" ts "\n" sha256(body)
//! ```
//!
//! A relay accepts a signature within [`MAX_SKEW_MS`] of its own clock.
//! Replaying a captured request inside that window is harmless: uploads are
//! idempotent, downloads answer only sealed records, and membership changes
//! are idempotent.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::Uid;

/// How far a request's time may be from the relay's.
pub const MAX_SKEW_MS: u64 = 10 * 60 * 1000;

/// The header carrying the signature.
pub const HEADER: &str = "authorization";

fn message(method: &str, path: &str, ts_ms: u64, body: &[u8]) -> Vec<u8> {
    let mut out = format!("qafila-request-v1\n{method}\n{path}\n{ts_ms}\n").into_bytes();
    out.extend_from_slice(&Sha256::digest(body));
    out
}

/// The `Authorization` value for a request.
pub fn sign(
    key: &SigningKey,
    device: Uid,
    method: &str,
    path: &str,
    ts_ms: u64,
    body: &[u8],
) -> String {
    let signature = key.sign(&message(method, path, ts_ms, body));
    format!(
        "Qafila device={device},ts={ts_ms},sig={}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// A parsed `Authorization` value, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Who says they sent it.
    pub device: Uid,
    /// When they say they sent it.
    pub ts_ms: u64,
    signature: [u8; 64],
}

/// Why a request's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No or unreadable header.
    #[error("the request is not signed (missing or malformed Authorization header)")]
    Malformed,
    /// Outside the allowed clock skew.
    #[error("the request's time is too far from the relay's: check the device clock")]
    Skew,
    /// The signature does not match the device's key.
    #[error("the request's signature does not match the device's key")]
    BadSignature,
}

impl Claim {
    /// Parses a header value.
    pub fn parse(value: &str) -> Result<Claim, AuthError> {
        let rest = value.strip_prefix("Qafila ").ok_or(AuthError::Malformed)?;
        let (mut device, mut ts, mut sig) = (None, None, None);
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("device", v)) => device = Uid::parse(v),
                Some(("ts", v)) => ts = v.parse::<u64>().ok(),
                Some(("sig", v)) => {
                    sig = URL_SAFE_NO_PAD
                        .decode(v)
                        .ok()
                        .and_then(|b| <[u8; 64]>::try_from(b).ok());
                }
                _ => return Err(AuthError::Malformed),
            }
        }
        Ok(Claim {
            device: device.ok_or(AuthError::Malformed)?,
            ts_ms: ts.ok_or(AuthError::Malformed)?,
            signature: sig.ok_or(AuthError::Malformed)?,
        })
    }

    /// Checks the claim against the device's public key, the relay's clock
    /// and the request.
    pub fn verify(
        &self,
        public_key: &[u8; 32],
        now_ms: u64,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(), AuthError> {
        if self.ts_ms.abs_diff(now_ms) > MAX_SKEW_MS {
            return Err(AuthError::Skew);
        }
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| AuthError::BadSignature)?;
        key.verify(
            &message(method, path, self.ts_ms, body),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| AuthError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = key.verifying_key().to_bytes();
        let device = Uid([1; 16]);
        let header = sign(&key, device, "POST", "/v1/x", 1_000_000, b"body");
        let claim = Claim::parse(&header).unwrap();
        assert_eq!(claim.device, device);
        assert_eq!(
            claim.verify(&public, 1_000_500, "POST", "/v1/x", b"body"),
            Ok(())
        );
        assert_eq!(
            claim.verify(&public, 1_000_500, "POST", "/v1/x", b"bodY"),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            claim.verify(&public, 1_000_500, "POST", "/v1/y", b"body"),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            claim.verify(
                &public,
                1_000_000 + MAX_SKEW_MS + 1,
                "POST",
                "/v1/x",
                b"body"
            ),
            Err(AuthError::Skew)
        );
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert_eq!(
            claim.verify(&other, 1_000_500, "POST", "/v1/x", b"body"),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in ["", "Bearer x", "Qafila device=1,ts=2,sig=3", "Qafila ts=1"] {
            assert_eq!(Claim::parse(bad), Err(AuthError::Malformed), "{bad}");
        }
    }
}
