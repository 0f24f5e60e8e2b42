//! What the convoy's lead signs about devices: **certificates** (a device's
//! keys, role and standing) and **key grants** (a scope key generation
//! wrapped to one device). The relay checks certificates against the lead's
//! key before it stores them; devices check both against the lead key they
//! pinned at enrollment. See `SECURITY.md`.
//!
//! ```text
//! certificate := 3 scope:[16] device:[16] name:str signing:[32] encryption:[32]
//!                role:u8 standing:u8 version:u32 since:u64 prior_hash:[32]
//!                rotated_to:u32 count:u8 (since:u64 role:u8)* signature:[64]
//! signed      := "qafila-certificate-v2" certificate-without-signature
//! grant       := "qafila-key-grant-v1" scope:[16] device:[16] encryption:[32]
//!                epoch:u32 sha256(wrapped) count:u32 sha256(revocation)*
//! ```
//!
//! Format 2 is format 3 without the earlier periods (read as listing none).
//! A certificate made before roles existed is a bare 64-byte signature over
//! `qafila-certificate-v1 ‖ scope ‖ device ‖ signing ‖ encryption ‖ approved`;
//! [`verify_member`] still reads it as version 0 (a version no current
//! certificate has: receivers treat its records as they did before roles).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::wire::{In, Out};
use crate::{DecodeError, Uid};

/// Longest device name a certificate carries, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// Most earlier periods a certificate lists (a device whose role changed
/// more often is enrolled again).
pub const MAX_PERIODS: usize = 64;

/// Part of a device's log before a certificate's `since`: from record
/// `since` on (to the next period, or the certificate's own `since`), the
/// device held `role` (`None`: a certificate from before roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    /// Its first record.
    pub since: u64,
    /// What the device could do then.
    pub role: Option<CertRole>,
}

/// What a certified device may do (the lead is not certified: its key is
/// the convoy's root).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CertRole {
    /// Registers, corrects, merges and erases beneficiaries; issues cards.
    Registrar,
    /// Records stock movements and counts; closes days.
    Storekeeper,
    /// Checks in and hands out.
    Volunteer,
}

impl CertRole {
    /// Every role, in the order screens list them.
    pub const ALL: [CertRole; 3] = [
        CertRole::Volunteer,
        CertRole::Registrar,
        CertRole::Storekeeper,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            CertRole::Registrar => "registrar",
            CertRole::Storekeeper => "storekeeper",
            CertRole::Volunteer => "volunteer",
        }
    }

    /// From its stable name.
    pub fn parse(text: &str) -> Option<CertRole> {
        CertRole::ALL
            .into_iter()
            .find(|r| r.as_str() == text.trim().to_ascii_lowercase())
    }

    fn code(self) -> u8 {
        match self {
            CertRole::Registrar => 1,
            CertRole::Storekeeper => 2,
            CertRole::Volunteer => 3,
        }
    }

    fn from_code(code: u8) -> Option<CertRole> {
        CertRole::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// Whether the device may sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Standing {
    /// It may.
    Approved,
    /// Never again.
    Revoked,
}

impl Standing {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Approved => "approved",
            Standing::Revoked => "revoked",
        }
    }
}

/// The lead's statement about one device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Certificate {
    /// The convoy.
    pub scope: Uid,
    /// The device.
    pub device: Uid,
    /// The name the lead saw when certifying.
    pub name: String,
    /// Its Ed25519 key.
    pub signing: [u8; 32],
    /// Its X25519 key.
    pub encryption: [u8; 32],
    /// What it may do.
    pub role: CertRole,
    /// Approved or revoked.
    pub standing: Standing,
    /// Higher versions replace lower ones; nothing replaces a revocation.
    /// Current certificates start at 1.
    pub version: u32,
    /// The first record (`seq`) of the device's log this certificate
    /// governs; earlier records keep the certificate they were made under.
    /// For a revocation, records from here on are refused.
    pub since: u64,
    /// The chain hash of the device's last log record before `since`, as
    /// the lead received it (all zeros: none, or not known).
    pub prior_hash: [u8; 32],
    /// For a revocation: the key generation made without the device. A
    /// device that knows of it seals nothing with an older one.
    pub rotated_to: u32,
    /// The roles the device held before `since`, oldest first: a device
    /// that never saw the earlier certificates (the relay keeps only the
    /// newest) judges the earlier records as every other device does.
    pub earlier: Vec<Period>,
}

/// The format written: with the earlier periods.
const CERT_V3: u8 = 3;
/// The first format with roles, read still: no earlier periods.
const CERT_V2: u8 = 2;

impl Certificate {
    fn body(&self) -> Vec<u8> {
        let mut out = Out::default();
        out.u8(CERT_V3);
        out.raw(&self.scope.0);
        out.raw(&self.device.0);
        out.bytes(self.name.as_bytes());
        out.raw(&self.signing);
        out.raw(&self.encryption);
        out.u8(self.role.code());
        out.u8(match self.standing {
            Standing::Approved => 1,
            Standing::Revoked => 2,
        });
        out.u32(self.version);
        out.u64(self.since);
        out.raw(&self.prior_hash);
        out.u32(self.rotated_to);
        out.u8(u8::try_from(self.earlier.len()).unwrap_or(u8::MAX));
        for period in &self.earlier {
            out.u64(period.since);
            out.u8(period.role.map_or(0, CertRole::code));
        }
        out.0
    }

    fn message(body: &[u8]) -> Vec<u8> {
        let mut out = b"qafila-certificate-v2".to_vec();
        out.extend_from_slice(body);
        out
    }

    /// Signs it with the lead's key: the bytes a relay stores and devices
    /// check.
    pub fn sign(&self, lead: &SigningKey) -> Vec<u8> {
        let mut bytes = self.body();
        let signature = lead.sign(&Certificate::message(&bytes));
        bytes.extend_from_slice(&signature.to_bytes());
        bytes
    }

    /// Reads signed bytes and checks the signature against `lead`.
    pub fn open(bytes: &[u8], lead: &[u8; 32]) -> Result<Certificate, CertError> {
        let certificate = Certificate::decode(bytes)?;
        let (body, signature) = bytes.split_at(bytes.len() - 64);
        verify(lead, &Certificate::message(body), signature)?;
        Ok(certificate)
    }

    /// Reads signed bytes without checking the signature (for a relay's
    /// member list before its lead is known, and for fuzzing).
    pub fn decode(bytes: &[u8]) -> Result<Certificate, CertError> {
        let mut input = In::new(bytes);
        let format = input.u8()?;
        if format != CERT_V2 && format != CERT_V3 {
            return Err(CertError::Malformed(DecodeError::Invalid(
                "certificate version",
            )));
        }
        let scope = Uid(input.array()?);
        let device = Uid(input.array()?);
        let name = String::from_utf8(input.bytes(MAX_NAME_BYTES)?.to_vec())
            .map_err(|_| DecodeError::Invalid("certificate name"))?;
        let signing = input.array()?;
        let encryption = input.array()?;
        let role =
            CertRole::from_code(input.u8()?).ok_or(DecodeError::Invalid("certificate role"))?;
        let standing = match input.u8()? {
            1 => Standing::Approved,
            2 => Standing::Revoked,
            _ => return Err(DecodeError::Invalid("certificate standing").into()),
        };
        let version = input.u32()?;
        let since = input.u64()?;
        let prior_hash = input.array()?;
        let rotated_to = input.u32()?;
        let count = if format == CERT_V3 {
            usize::from(input.u8()?)
        } else {
            0
        };
        if count > MAX_PERIODS {
            return Err(DecodeError::Invalid("certificate periods").into());
        }
        let mut earlier = Vec::with_capacity(count);
        for _ in 0..count {
            let since = input.u64()?;
            let role = match input.u8()? {
                0 => None,
                code => Some(
                    CertRole::from_code(code).ok_or(DecodeError::Invalid("certificate role"))?,
                ),
            };
            earlier.push(Period { since, role });
        }
        if earlier.windows(2).any(|w| w[0].since >= w[1].since)
            || earlier.last().is_some_and(|p| p.since > since)
        {
            return Err(DecodeError::Invalid("certificate periods out of order").into());
        }
        let _signature: [u8; 64] = input.array()?;
        input.finish()?;
        Ok(Certificate {
            scope,
            device,
            name,
            signing,
            encryption,
            role,
            standing,
            version,
            since,
            prior_hash,
            rotated_to,
            earlier,
        })
    }

    /// Whether this is a bare signature from before roles and versions.
    pub fn is_legacy(&self) -> bool {
        self.version == 0
    }

    /// Whether `newer` may replace `self` (the rule the relay and every
    /// device apply): a revocation is final, otherwise versions go up.
    pub fn is_replaced_by(&self, newer: &Certificate) -> bool {
        match (self.standing, newer.standing) {
            (Standing::Revoked, _) => false,
            (Standing::Approved, _) => newer.version > self.version,
        }
    }

    /// Whether this certificate governs record `seq` of the device's log.
    pub fn governs(&self, seq: u64) -> bool {
        seq >= self.since
    }
}

/// Why a certificate or grant was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Not a certificate.
    #[error("the certificate is malformed: {0}")]
    Malformed(#[from] DecodeError),
    /// Not signed by the lead.
    #[error("the certificate is not signed by the convoy's lead")]
    Signature,
    /// Signed, but about other keys or another device.
    #[error("the certificate is about other keys than the device's")]
    WrongKeys,
}

fn verify(key: &[u8; 32], message: &[u8], signature: &[u8]) -> Result<(), CertError> {
    let signature = <[u8; 64]>::try_from(signature).map_err(|_| CertError::Signature)?;
    VerifyingKey::from_bytes(key)
        .map_err(|_| CertError::Signature)?
        .verify(message, &Signature::from_bytes(&signature))
        .map_err(|_| CertError::Signature)
}

/// What a certificate from before roles existed signed.
pub fn legacy_message(
    scope: &Uid,
    device: &Uid,
    signing: &[u8; 32],
    encryption: &[u8; 32],
    approved: bool,
) -> Vec<u8> {
    let mut out = b"qafila-certificate-v1".to_vec();
    out.extend_from_slice(&scope.0);
    out.extend_from_slice(&device.0);
    out.extend_from_slice(signing);
    out.extend_from_slice(encryption);
    out.push(u8::from(approved));
    out
}

/// The certificate a relay lists for a member with these keys, checked
/// against the lead's key and the keys: a current one, or a legacy bare
/// signature (version 0, role volunteer).
pub fn verify_member(
    bytes: &[u8],
    scope: Uid,
    device: Uid,
    name: &str,
    signing: &[u8; 32],
    encryption: &[u8; 32],
    lead: &[u8; 32],
) -> Result<Certificate, CertError> {
    if bytes.len() == 64 {
        for standing in [Standing::Approved, Standing::Revoked] {
            let message = legacy_message(
                &scope,
                &device,
                signing,
                encryption,
                standing == Standing::Approved,
            );
            if verify(lead, &message, bytes).is_ok() {
                return Ok(Certificate {
                    scope,
                    device,
                    name: name.to_owned(),
                    signing: *signing,
                    encryption: *encryption,
                    role: CertRole::Volunteer,
                    standing,
                    version: 0,
                    since: 0,
                    prior_hash: [0; 32],
                    rotated_to: 0,
                    earlier: Vec::new(),
                });
            }
        }
        return Err(CertError::Signature);
    }
    let certificate = Certificate::open(bytes, lead)?;
    if certificate.scope != scope
        || certificate.device != device
        || certificate.signing != *signing
        || certificate.encryption != *encryption
    {
        return Err(CertError::WrongKeys);
    }
    Ok(certificate)
}

/// What the lead signs to grant one key generation to one device: the
/// wrapped bytes, and every revocation certificate the grant carries (so a
/// device taking the generation learns of them).
pub fn grant_message(
    scope: Uid,
    device: Uid,
    encryption: &[u8; 32],
    epoch: u32,
    wrapped: &[u8],
    revocations: &[Vec<u8>],
) -> Vec<u8> {
    let mut out = b"qafila-key-grant-v1".to_vec();
    out.extend_from_slice(&scope.0);
    out.extend_from_slice(&device.0);
    out.extend_from_slice(encryption);
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(&Sha256::digest(wrapped));
    out.extend_from_slice(
        &u32::try_from(revocations.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    for revocation in revocations {
        out.extend_from_slice(&Sha256::digest(revocation));
    }
    out
}

/// Checks a grant's signature against the lead's key.
pub fn verify_grant(lead: &[u8; 32], message: &[u8], signature: &[u8]) -> Result<(), CertError> {
    verify(lead, message, signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate() -> Certificate {
        Certificate {
            scope: Uid([1; 16]),
            device: Uid([2; 16]),
            name: "تابلت ١".into(),
            signing: [3; 32],
            encryption: [4; 32],
            role: CertRole::Registrar,
            standing: Standing::Approved,
            version: 3,
            since: 10,
            prior_hash: [0; 32],
            rotated_to: 0,
            earlier: vec![
                Period {
                    since: 0,
                    role: None,
                },
                Period {
                    since: 5,
                    role: Some(CertRole::Volunteer),
                },
            ],
        }
    }

    #[test]
    fn a_certificate_opens_under_its_lead_only_and_any_change_breaks_it() {
        let lead = SigningKey::from_bytes(&[9; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let bytes = certificate().sign(&lead);
        let key = lead.verifying_key().to_bytes();
        assert_eq!(Certificate::open(&bytes, &key).unwrap(), certificate());
        assert_eq!(
            Certificate::open(&bytes, &other.verifying_key().to_bytes()),
            Err(CertError::Signature)
        );
        for i in 0..bytes.len() - 64 {
            let mut altered = bytes.clone();
            altered[i] ^= 1;
            assert!(Certificate::open(&altered, &key).is_err(), "byte {i}");
        }
        assert!(Certificate::open(&bytes[..bytes.len() - 1], &key).is_err());
    }

    #[test]
    fn a_certificate_in_the_format_before_periods_still_opens() {
        let lead = SigningKey::from_bytes(&[9; 32]);
        let key = lead.verifying_key().to_bytes();
        let plain = Certificate {
            earlier: Vec::new(),
            ..certificate()
        };
        // Format 2: tag 2, and no period count.
        let mut body = plain.body();
        body[0] = CERT_V2;
        body.pop();
        let signature = lead.sign(&Certificate::message(&body));
        body.extend_from_slice(&signature.to_bytes());
        assert_eq!(Certificate::open(&body, &key).unwrap(), plain);
        body[0] = 4;
        assert!(Certificate::decode(&body).is_err());
    }

    #[test]
    fn earlier_periods_are_signed_in_order_and_bounded() {
        let lead = SigningKey::from_bytes(&[9; 32]);
        let key = lead.verifying_key().to_bytes();
        let reordered = Certificate {
            earlier: certificate().earlier.into_iter().rev().collect(),
            ..certificate()
        };
        assert!(Certificate::open(&reordered.sign(&lead), &key).is_err());
        let past_since = Certificate {
            since: 4,
            ..certificate()
        };
        assert!(Certificate::open(&past_since.sign(&lead), &key).is_err());
        let many = Certificate {
            since: 1_000,
            earlier: (0..=MAX_PERIODS as u64)
                .map(|since| Period {
                    since,
                    role: Some(CertRole::Volunteer),
                })
                .collect(),
            ..certificate()
        };
        assert!(Certificate::open(&many.sign(&lead), &key).is_err());
        let most = Certificate {
            earlier: many.earlier[..MAX_PERIODS].to_vec(),
            ..many
        };
        assert_eq!(Certificate::open(&most.sign(&lead), &key).unwrap(), most);
    }

    #[test]
    fn revocation_is_final_and_versions_only_go_up() {
        let approved = certificate();
        let newer = Certificate {
            version: 4,
            ..certificate()
        };
        let revoked = Certificate {
            standing: Standing::Revoked,
            version: 5,
            since: 13,
            rotated_to: 2,
            ..certificate()
        };
        assert!(approved.is_replaced_by(&newer));
        assert!(!newer.is_replaced_by(&approved));
        assert!(newer.is_replaced_by(&revoked));
        let back = Certificate {
            version: 99,
            ..certificate()
        };
        assert!(
            !revoked.is_replaced_by(&back),
            "no later approval undoes it"
        );
        assert!(!revoked.governs(12) && revoked.governs(13));
    }

    #[test]
    fn members_are_checked_against_their_own_keys_and_legacy_signatures_still_read() {
        let lead = SigningKey::from_bytes(&[9; 32]);
        let key = lead.verifying_key().to_bytes();
        let c = certificate();
        let bytes = c.sign(&lead);
        let ok = verify_member(
            &bytes,
            c.scope,
            c.device,
            "x",
            &c.signing,
            &c.encryption,
            &key,
        );
        assert_eq!(
            ok.unwrap().name,
            "تابلت ١",
            "the certified name, not the listed one"
        );
        assert_eq!(
            verify_member(
                &bytes,
                c.scope,
                c.device,
                "x",
                &[7; 32],
                &c.encryption,
                &key
            ),
            Err(CertError::WrongKeys),
            "a relay that swapped the keys"
        );
        let legacy = lead
            .sign(&legacy_message(
                &c.scope,
                &c.device,
                &c.signing,
                &c.encryption,
                false,
            ))
            .to_bytes();
        let read = verify_member(
            &legacy,
            c.scope,
            c.device,
            "x",
            &c.signing,
            &c.encryption,
            &key,
        )
        .unwrap();
        assert_eq!((read.standing, read.version), (Standing::Revoked, 0));
        assert!(read.is_legacy());
    }
}
