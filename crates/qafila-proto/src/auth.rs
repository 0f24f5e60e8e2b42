//! Request signatures: every request names its device and carries an
//! Ed25519 signature over the relay it is meant for, the method, path,
//! time, a fresh nonce and the body hash.
//!
//! ```text
//! Authorization: Qafila device=<uuid>,ts=<unix ms>,nonce=<base64url 16 B>,sig=<base64url>
//! signed := "qafila-request-v2\n" relay-id "\n" METHOD "\n" PATH "\n" ts "\n" nonce "\n" sha256(body)
//! ```
//!
//! A relay accepts a signature within [`MAX_SKEW_MS`] of its own clock
//! (devices sign with the relay's clock, learnt from `GET /v1/hello`), made
//! for its own id, and with a nonce it has not seen in that window: a
//! captured request can be replayed neither to the same relay nor to
//! another one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::Uid;

/// How far a request's time may be from the relay's.
pub const MAX_SKEW_MS: u64 = 10 * 60 * 1000;

/// The header carrying the signature.
pub const HEADER: &str = "authorization";

fn message(
    relay: Uid,
    method: &str,
    path: &str,
    ts_ms: u64,
    nonce: &[u8; 16],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!(
        "qafila-request-v2\n{relay}\n{method}\n{path}\n{ts_ms}\n{}\n",
        URL_SAFE_NO_PAD.encode(nonce)
    )
    .into_bytes();
    out.extend_from_slice(&Sha256::digest(body));
    out
}

/// What a request is signed for: the relay, and when and once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The relay's id (`GET /v1/hello`).
    pub relay: Uid,
    /// The relay's clock, as the device estimates it.
    pub ts_ms: u64,
    /// Fresh random bytes: never sent twice.
    pub nonce: [u8; 16],
}

/// The `Authorization` value for a request.
pub fn sign(
    key: &SigningKey,
    device: Uid,
    stamp: Stamp,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    let signature = key.sign(&message(
        stamp.relay,
        method,
        path,
        stamp.ts_ms,
        &stamp.nonce,
        body,
    ));
    format!(
        "Qafila device={device},ts={},nonce={},sig={}",
        stamp.ts_ms,
        URL_SAFE_NO_PAD.encode(stamp.nonce),
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
    /// The request's one-time value.
    pub nonce: [u8; 16],
    signature: [u8; 64],
}

/// Why a request's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No or unreadable header.
    #[error("the request is not signed (missing or malformed Authorization header)")]
    Malformed,
    /// Signed the way an earlier version of Qafila signed (no nonce).
    #[error("the app is older than this relay: update Qafila on this device")]
    Outdated,
    /// Outside the allowed clock skew.
    #[error("the request's time is too far from the relay's clock")]
    Skew,
    /// The signature does not match the device's key, this relay, or the
    /// request.
    #[error("the request's signature does not match the device's key and this relay")]
    BadSignature,
    /// The nonce was seen before: a replayed request.
    #[error("this request was already received once: a replay is refused")]
    Replayed,
}

impl AuthError {
    /// The stable code a relay answers with.
    pub fn code(self) -> &'static str {
        match self {
            AuthError::Outdated => "client_outdated",
            AuthError::Replayed => "replayed",
            AuthError::Skew => "clock_skew",
            AuthError::Malformed | AuthError::BadSignature => "unauthenticated",
        }
    }
}

impl Claim {
    /// Parses a header value.
    pub fn parse(value: &str) -> Result<Claim, AuthError> {
        let rest = value.strip_prefix("Qafila ").ok_or(AuthError::Malformed)?;
        let (mut device, mut ts, mut nonce, mut sig) = (None, None, None, None);
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("device", v)) => device = Uid::parse(v),
                Some(("ts", v)) => ts = v.parse::<u64>().ok(),
                Some(("nonce", v)) => {
                    nonce = URL_SAFE_NO_PAD
                        .decode(v)
                        .ok()
                        .and_then(|b| <[u8; 16]>::try_from(b).ok());
                }
                Some(("sig", v)) => {
                    sig = URL_SAFE_NO_PAD
                        .decode(v)
                        .ok()
                        .and_then(|b| <[u8; 64]>::try_from(b).ok());
                }
                _ => return Err(AuthError::Malformed),
            }
        }
        let (Some(device), Some(ts_ms), Some(signature)) = (device, ts, sig) else {
            return Err(AuthError::Malformed);
        };
        Ok(Claim {
            device,
            ts_ms,
            nonce: nonce.ok_or(AuthError::Outdated)?,
            signature,
        })
    }

    /// Checks the claim against the device's public key, this relay's id
    /// and clock, and the request. (The relay checks the nonce itself.)
    pub fn verify(
        &self,
        public_key: &[u8; 32],
        relay: Uid,
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
            &message(relay, method, path, self.ts_ms, &self.nonce, body),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| AuthError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: Uid = Uid([5; 16]);

    fn stamp(ts_ms: u64) -> Stamp {
        Stamp {
            relay: RELAY,
            ts_ms,
            nonce: [6; 16],
        }
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = key.verifying_key().to_bytes();
        let device = Uid([1; 16]);
        let header = sign(&key, device, stamp(1_000_000), "POST", "/v1/x", b"body");
        let claim = Claim::parse(&header).unwrap();
        assert_eq!(claim.device, device);
        assert_eq!(claim.nonce, [6; 16]);
        let check = |relay, now, path: &str, body: &[u8]| {
            claim.verify(&public, relay, now, "POST", path, body)
        };
        assert_eq!(check(RELAY, 1_000_500, "/v1/x", b"body"), Ok(()));
        assert_eq!(
            check(RELAY, 1_000_500, "/v1/x", b"bodY"),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            check(RELAY, 1_000_500, "/v1/y", b"body"),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            check(Uid([9; 16]), 1_000_500, "/v1/x", b"body"),
            Err(AuthError::BadSignature),
            "made for another relay"
        );
        assert_eq!(
            check(RELAY, 1_000_000 + MAX_SKEW_MS + 1, "/v1/x", b"body"),
            Err(AuthError::Skew)
        );
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert_eq!(
            claim.verify(&other, RELAY, 1_000_500, "POST", "/v1/x", b"body"),
            Err(AuthError::BadSignature)
        );
        // Another nonce in the header: the signature no longer matches.
        let forged = header.replace(
            &URL_SAFE_NO_PAD.encode([6u8; 16]),
            &URL_SAFE_NO_PAD.encode([7u8; 16]),
        );
        let forged = Claim::parse(&forged).unwrap();
        assert_eq!(
            forged.verify(&public, RELAY, 1_000_500, "POST", "/v1/x", b"body"),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn malformed_and_outdated_headers_are_refused() {
        for bad in ["", "Bearer x", "Qafila device=1,ts=2,sig=3", "Qafila ts=1"] {
            assert_eq!(Claim::parse(bad), Err(AuthError::Malformed), "{bad}");
        }
        let key = SigningKey::from_bytes(&[7; 32]);
        let header = sign(&key, Uid([1; 16]), stamp(5), "GET", "/", b"");
        let without_nonce: Vec<&str> = header
            .split(',')
            .filter(|p| !p.starts_with("nonce="))
            .collect();
        assert_eq!(
            Claim::parse(&without_nonce.join(",")),
            Err(AuthError::Outdated)
        );
    }
}
