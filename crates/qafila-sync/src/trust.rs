//! What a device believes about its convoy's members and keys, and why:
//! only what the lead key it pinned at enrollment signed. Pure functions,
//! no network, no store: the [`crate::convoy`] driver feeds them what a
//! relay answered and keeps what they accept.
//!
//! - [`roster_from_members`]: the relay's member list, kept only where the
//!   lead's certificate checks out against the member's own keys;
//! - [`merge`]: what this device already knew plus what it just learnt
//!   (versions only go up; a revocation is final);
//! - [`open_grant`] / [`make_grant`]: key generations the lead wraps to one
//!   device and signs, with every revocation so far;
//! - [`newer_than_relay`]: certificates to pass on to a relay that lacks
//!   them.

use std::collections::BTreeMap;

use qafila_domain::ids::DeviceId;
use qafila_proto::Uid;
use qafila_proto::cert::{self, CertRole, Certificate, Standing};
use qafila_proto::control::{B64, Member, WrappedKey};
use qafila_store::sync::{CertRecord, RosterEntry, ScopeKey};

use crate::crypto::{self, Identity};

/// The role name a certificate from before roles is stored under.
pub const LEGACY_ROLE: &str = "legacy";

/// A certificate as the store keeps it.
pub fn record_of(certificate: &Certificate, bytes: Vec<u8>) -> CertRecord {
    CertRecord {
        version: certificate.version,
        role: if certificate.is_legacy() {
            LEGACY_ROLE.into()
        } else {
            certificate.role.as_str().into()
        },
        standing: certificate.standing.as_str().into(),
        since: certificate.since,
        prior_hash: certificate.prior_hash,
        rotated_to: certificate.rotated_to,
        bytes,
    }
}

/// One device's roster entry from one certificate.
pub fn entry_of(certificate: &Certificate, bytes: Vec<u8>) -> RosterEntry {
    let record = record_of(certificate, bytes);
    RosterEntry {
        device: DeviceId::from_bytes(certificate.device.0),
        name: certificate.name.clone(),
        signing: certificate.signing,
        encryption: certificate.encryption,
        status: record.standing.clone(),
        role: record.role.clone(),
        version: record.version,
        certificates: vec![record],
    }
}

/// The lead's own entry: certified by its pinned key, not by a
/// certificate.
pub fn lead_entry(lead: Uid, name: &str, signing: [u8; 32], encryption: [u8; 32]) -> RosterEntry {
    RosterEntry {
        device: DeviceId::from_bytes(lead.0),
        name: name.to_owned(),
        signing,
        encryption,
        status: "approved".into(),
        role: "lead".into(),
        version: 0,
        certificates: Vec::new(),
    }
}

/// The members whose certificates the lead signed for their own keys, with
/// the lead itself (only under its pinned key).
pub fn roster_from_members(
    members: &[Member],
    scope: Uid,
    lead: Uid,
    lead_signing: &[u8; 32],
) -> Vec<RosterEntry> {
    let mut out = Vec::new();
    for member in members {
        let keys = &member.keys;
        let (Some(signing), Some(encryption)) = (keys.signing.key(), keys.encryption.key()) else {
            continue;
        };
        if keys.device == lead {
            if signing == *lead_signing {
                out.push(lead_entry(lead, &keys.name, signing, encryption));
            }
            continue;
        }
        if let Ok(certificate) = cert::verify_member(
            &member.certificate.0,
            scope,
            keys.device,
            &keys.name,
            &signing,
            &encryption,
            lead_signing,
        ) {
            out.push(entry_of(&certificate, member.certificate.0.clone()));
        }
    }
    out
}

/// What this device knew, plus what it learnt: every certificate version
/// of each device, its status and role from the newest one, and revoked
/// for good once any certificate revoked it. Entries whose keys differ from
/// what is already known for the device are ignored.
pub fn merge(known: &[RosterEntry], learnt: Vec<RosterEntry>) -> Vec<RosterEntry> {
    let mut by_device: BTreeMap<DeviceId, RosterEntry> =
        known.iter().map(|e| (e.device, e.clone())).collect();
    for entry in learnt {
        match by_device.get_mut(&entry.device) {
            None => {
                by_device.insert(entry.device, entry);
            }
            Some(current) => {
                if current.signing != entry.signing || current.encryption != entry.encryption {
                    continue;
                }
                for certificate in entry.certificates {
                    if !current
                        .certificates
                        .iter()
                        .any(|c| c.version == certificate.version)
                    {
                        if certificate.version >= current.version {
                            current.name.clone_from(&entry.name);
                        }
                        current.certificates.push(certificate);
                    }
                }
            }
        }
    }
    by_device
        .into_values()
        .map(|mut entry| {
            entry.certificates.sort_by_key(|c| c.version);
            if let Some(newest) = entry.certificates.last() {
                entry.role.clone_from(&newest.role);
                entry.version = newest.version;
                entry.status = if entry.certificates.iter().any(CertRecord::is_revocation) {
                    "revoked".into()
                } else {
                    newest.standing.clone()
                };
            }
            entry
        })
        .collect()
}

/// Every revocation certificate in a roster, as signed.
pub fn revocations(roster: &[RosterEntry]) -> Vec<Vec<u8>> {
    roster
        .iter()
        .filter_map(RosterEntry::revocation)
        .filter(|c| c.version > 0)
        .map(|c| c.bytes.clone())
        .collect()
}

/// The newest key generation any revocation in the roster says devices
/// must seal with (0: none).
pub fn required_epoch(roster: &[RosterEntry]) -> u32 {
    roster
        .iter()
        .filter_map(RosterEntry::revocation)
        .map(|c| c.rotated_to)
        .max()
        .unwrap_or(0)
}

/// Why a key grant was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// Not signed by the pinned lead key (made by the relay, or by the
    /// lead before grants were signed).
    #[error("key generation {0} is not signed by the convoy lead")]
    Unsigned(u32),
    /// Signed, but it does not open for this device.
    #[error("key generation {0} does not open on this device")]
    Open(u32),
}

/// The bytes a key generation wraps: key, index secret and (for convoys
/// made since it exists) the national-ID secret.
fn bundle(key: &ScopeKey) -> Vec<u8> {
    let mut out = key.key.to_vec();
    out.extend_from_slice(&key.index_secret);
    if let Some(nid) = key.nid_secret {
        out.extend_from_slice(&nid);
    }
    out
}

/// Opens a grant to this device: checks the lead's signature first, then
/// unwraps. Returns the generation and the revocations the grant carries
/// (each checked against the lead key).
pub fn open_grant(
    grant: &WrappedKey,
    scope: Uid,
    me: &Identity,
    device: Uid,
    lead_signing: &[u8; 32],
) -> Result<(ScopeKey, Vec<RosterEntry>), GrantError> {
    let revocations: Vec<Vec<u8>> = grant.revocations.iter().map(|r| r.0.clone()).collect();
    let message = cert::grant_message(
        scope,
        device,
        &me.encryption_public(),
        grant.epoch,
        &grant.wrapped.0,
        &revocations,
    );
    cert::verify_grant(lead_signing, &message, &grant.signature.0)
        .map_err(|_| GrantError::Unsigned(grant.epoch))?;
    let bundle = me
        .unwrap_key(&grant.wrapped.0, &scope.0)
        .map_err(|_| GrantError::Open(grant.epoch))?;
    let part = |i: usize| -> Option<[u8; 32]> { bundle.get(i * 32..(i + 1) * 32)?.try_into().ok() };
    let (Some(key), Some(index_secret)) = (part(0), part(1)) else {
        return Err(GrantError::Open(grant.epoch));
    };
    let nid_secret = if bundle.len() == 96 { part(2) } else { None };
    let mut revoked = Vec::new();
    for bytes in revocations {
        if let Ok(certificate) = Certificate::open(&bytes, lead_signing)
            && certificate.scope == scope
            && certificate.standing == Standing::Revoked
        {
            revoked.push(entry_of(&certificate, bytes));
        }
    }
    Ok((
        ScopeKey {
            epoch: grant.epoch,
            key,
            index_secret,
            nid_secret,
            signed: true,
        },
        revoked,
    ))
}

/// Wraps one key generation to one device and signs the grant with the
/// lead's key, carrying `revocations`.
pub fn make_grant(
    lead: &Identity,
    scope: Uid,
    device: Uid,
    encryption: &[u8; 32],
    key: &ScopeKey,
    revocations: &[Vec<u8>],
) -> Result<WrappedKey, crypto::CryptoError> {
    let wrapped = crypto::wrap_key(encryption, &bundle(key), &scope.0)?;
    let message = cert::grant_message(scope, device, encryption, key.epoch, &wrapped, revocations);
    Ok(WrappedKey {
        epoch: key.epoch,
        wrapped: B64(wrapped),
        signature: B64(lead.sign(&message).to_vec()),
        revocations: revocations.iter().cloned().map(B64).collect(),
    })
}

/// Signs a certificate with the lead's identity.
pub fn sign_certificate(lead: &Identity, certificate: &Certificate) -> Vec<u8> {
    certificate.sign(lead.signing_key())
}

/// The certificates this device holds that the relay's member list lacks
/// (a newer version, or a revocation it shows as approved): to pass on.
pub fn newer_than_relay(roster: &[RosterEntry], members: &[Member]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for entry in roster {
        let Some(newest) = entry.certificates.last() else {
            continue;
        };
        if newest.version == 0 {
            continue;
        }
        let listed = members
            .iter()
            .find(|m| m.keys.device.0 == entry.device.to_bytes());
        let behind = match listed {
            None => true,
            Some(m) => {
                m.version < newest.version || (entry.status == "revoked" && m.status != "revoked")
            }
        };
        if behind {
            out.push(newest.bytes.clone());
        }
    }
    out
}

/// Parses a role name as a certificate role.
pub fn cert_role(text: &str) -> Option<CertRole> {
    CertRole::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qafila_proto::control::DeviceKeys;

    const SCOPE: Uid = Uid([1; 16]);

    fn certificate(device: &Identity, id: u8, version: u32, standing: Standing) -> Certificate {
        Certificate {
            scope: SCOPE,
            device: Uid([id; 16]),
            name: format!("d{id}"),
            signing: device.signing_public(),
            encryption: device.encryption_public(),
            role: CertRole::Volunteer,
            standing,
            version,
            since: 1,
            prior_hash: [0; 32],
            rotated_to: if standing == Standing::Revoked { 2 } else { 0 },
        }
    }

    fn member(who: &Identity, id: u8, certificate: Vec<u8>) -> Member {
        Member {
            keys: DeviceKeys {
                device: Uid([id; 16]),
                name: format!("relay says d{id}"),
                signing: B64(who.signing_public().to_vec()),
                encryption: B64(who.encryption_public().to_vec()),
            },
            role: "member".into(),
            status: "approved".into(),
            certificate: B64(certificate),
            version: 0,
            invite: None,
            binding: B64::default(),
            last_seen_ms: None,
        }
    }

    #[test]
    fn the_roster_keeps_only_devices_the_lead_certified_for_their_own_keys() {
        let lead = Identity::from_secrets([1; 32], [2; 32]);
        let device = Identity::from_secrets([3; 32], [4; 32]);
        let mallory = Identity::from_secrets([5; 32], [6; 32]);
        let signed = |c: &Certificate| c.sign(lead.signing_key());
        let members = vec![
            member(&lead, 1, vec![]),
            member(
                &device,
                2,
                signed(&certificate(&device, 2, 1, Standing::Approved)),
            ),
            member(
                &device,
                3,
                signed(&certificate(&device, 3, 2, Standing::Revoked)),
            ),
            // The relay swapped the keys under a genuine certificate.
            member(
                &mallory,
                4,
                signed(&certificate(&device, 4, 1, Standing::Approved)),
            ),
            // A certificate for someone else.
            member(
                &device,
                5,
                signed(&certificate(&device, 2, 1, Standing::Approved)),
            ),
            // Forged by the relay.
            member(
                &device,
                6,
                certificate(&device, 6, 1, Standing::Approved).sign(mallory.signing_key()),
            ),
        ];
        let roster = roster_from_members(&members, SCOPE, Uid([1; 16]), &lead.signing_public());
        let seen: Vec<(u8, &str, &str)> = roster
            .iter()
            .map(|r| (r.device.to_bytes()[0], r.status.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (1, "approved", "relay says d1"),
                (2, "approved", "d2"),
                (3, "revoked", "d3")
            ],
            "names come from certificates, not from the relay"
        );
    }

    #[test]
    fn merging_keeps_versions_going_up_and_revocations_final() {
        let lead = Identity::from_secrets([1; 32], [2; 32]);
        let device = Identity::from_secrets([3; 32], [4; 32]);
        let entry = |version, standing| {
            let c = certificate(&device, 2, version, standing);
            entry_of(&c, c.sign(lead.signing_key()))
        };
        let known = merge(&[], vec![entry(1, Standing::Approved)]);
        let revoked = merge(&known, vec![entry(2, Standing::Revoked)]);
        assert_eq!(revoked[0].status, "revoked");
        // An old approval served again, or a later one, changes nothing.
        let again = merge(
            &revoked,
            vec![entry(1, Standing::Approved), entry(3, Standing::Approved)],
        );
        assert_eq!(again[0].status, "revoked");
        assert_eq!(revoked.len(), 1);
        assert_eq!(revocations(&again).len(), 1);
        assert_eq!(required_epoch(&again), 2);
    }

    #[test]
    fn a_grant_opens_only_when_the_lead_signed_it_for_this_device() {
        let lead = Identity::from_secrets([1; 32], [2; 32]);
        let me = Identity::from_secrets([3; 32], [4; 32]);
        let relay = Identity::from_secrets([5; 32], [6; 32]);
        let key = ScopeKey {
            epoch: 2,
            key: [7; 32],
            index_secret: [8; 32],
            nid_secret: Some([9; 32]),
            signed: true,
        };
        let revoked = certificate(&relay, 9, 2, Standing::Revoked).sign(lead.signing_key());
        let me_id = Uid([3; 16]);
        let grant = make_grant(
            &lead,
            SCOPE,
            me_id,
            &me.encryption_public(),
            &key,
            &[revoked],
        )
        .unwrap();
        let (opened, revocations) =
            open_grant(&grant, SCOPE, &me, me_id, &lead.signing_public()).unwrap();
        assert_eq!(opened, key);
        assert_eq!(revocations.len(), 1);
        // The relay's own generation, wrapped to this device: refused.
        let planted = make_grant(&relay, SCOPE, me_id, &me.encryption_public(), &key, &[]).unwrap();
        assert_eq!(
            open_grant(&planted, SCOPE, &me, me_id, &lead.signing_public()),
            Err(GrantError::Unsigned(2))
        );
        // The lead's grant with its revocations stripped: refused.
        let mut stripped = grant.clone();
        stripped.revocations.clear();
        assert_eq!(
            open_grant(&stripped, SCOPE, &me, me_id, &lead.signing_public()),
            Err(GrantError::Unsigned(2))
        );
        // Another device's grant replayed to this one: refused.
        assert!(open_grant(&grant, SCOPE, &me, Uid([4; 16]), &lead.signing_public()).is_err());
    }
}
