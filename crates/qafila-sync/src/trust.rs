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
use qafila_proto::cert::{self, CertRole, Certificate, Period, Standing};
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
        earlier: certificate
            .earlier
            .iter()
            .map(|p| (p.since, role_name(p.role).to_owned()))
            .collect(),
        bytes,
    }
}

fn role_name(role: Option<CertRole>) -> &'static str {
    role.map_or(LEGACY_ROLE, CertRole::as_str)
}

/// Why the lead cannot sign a device's next certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The device's role changed too often for one certificate to list.
    #[error(
        "the device's role changed more than {} times: enrol it again",
        cert::MAX_PERIODS
    )]
    TooManyPeriods,
}

/// The earlier periods the lead signs into a device's next certificate,
/// which governs from `since`: built from every certificate it holds for
/// the device, oldest first (a certificate's own periods are taken as said;
/// one from before periods adds only its own), without the periods from
/// `since` on, neighbours with the same role made one. More than `limit`
/// is refused.
pub fn earlier_for(
    known: Option<&RosterEntry>,
    since: u64,
    limit: usize,
) -> Result<Vec<Period>, HistoryError> {
    let mut certificates: Vec<&CertRecord> = known
        .map(|e| {
            e.certificates
                .iter()
                .filter(|c| !c.is_revocation())
                .collect()
        })
        .unwrap_or_default();
    certificates.sort_by_key(|c| c.version);
    let mut periods: Vec<Period> = Vec::new();
    for certificate in certificates {
        if !certificate.earlier.is_empty() {
            periods = certificate
                .earlier
                .iter()
                .map(|(since, role)| Period {
                    since: *since,
                    role: CertRole::parse(role),
                })
                .collect();
        }
        periods.retain(|p| p.since < certificate.since);
        periods.push(Period {
            since: certificate.since,
            role: CertRole::parse(&certificate.role),
        });
    }
    periods.retain(|p| p.since < since);
    periods.dedup_by(|later, earlier| later.role == earlier.role);
    if periods.len() > limit {
        return Err(HistoryError::TooManyPeriods);
    }
    Ok(periods)
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
                    // The approval and the revocation from before roles are
                    // both version 0: both are kept.
                    if !current.certificates.iter().any(|c| {
                        c.version == certificate.version && c.standing == certificate.standing
                    }) {
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
            entry
                .certificates
                .sort_by_key(|c| (c.version, c.is_revocation()));
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

/// The generation a device seals with: the newest the lead signed; one
/// from before signed grants only while there is none (a relay could have
/// planted a newer one then).
pub fn sealing_key(keys: &[ScopeKey]) -> Option<&ScopeKey> {
    keys.iter().rev().find(|k| k.signed).or(keys.last())
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
            earlier: Vec::new(),
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
            made_after_ms: None,
            uploaded_ms: None,
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
    fn an_old_approval_cannot_undo_a_revocation_from_before_roles() {
        let lead = Identity::from_secrets([1; 32], [2; 32]);
        let device = Identity::from_secrets([3; 32], [4; 32]);
        let scope = SCOPE;
        let id = Uid([2; 16]);
        let legacy = |approved| {
            let message = cert::legacy_message(
                &scope,
                &id,
                &device.signing_public(),
                &device.encryption_public(),
                approved,
            );
            let mut keys = member(&device, 2, Vec::new());
            keys.certificate = B64(lead.sign(&message).to_vec());
            roster_from_members(&[keys], scope, Uid([1; 16]), &lead.signing_public())
        };
        // Both signatures are version 0: whichever arrives first, the
        // device ends revoked, and stays so after the store keeps it.
        for (first, then) in [(true, false), (false, true)] {
            let merged = merge(&merge(&[], legacy(first)), legacy(then));
            assert_eq!(merged[0].status, "revoked");
            assert_eq!(merged[0].certificates.len(), 2);
            let again = merge(&merged, legacy(true));
            assert_eq!(again[0].status, "revoked");
            // A revocation from before roles names no point: the device's
            // records are taken as every device took them then.
            assert_eq!(
                again[0].governing(5),
                Some(qafila_store::sync::Governing {
                    role: None,
                    revoked: false
                })
            );
        }
    }

    #[test]
    fn earlier_roles_travel_in_the_next_certificate_and_govern_older_records() {
        use qafila_domain::role::Role;
        use qafila_store::sync::Governing;
        let lead = Identity::from_secrets([1; 32], [2; 32]);
        let device = Identity::from_secrets([3; 32], [4; 32]);
        let sign = |c: &Certificate| entry_of(c, c.sign(lead.signing_key()));
        // Before roles, then a volunteer from 1, a registrar from 50, and
        // revoked from 80.
        let legacy = Certificate {
            role: CertRole::Volunteer,
            version: 0,
            since: 0,
            ..certificate(&device, 2, 0, Standing::Approved)
        };
        let mut known = entry_of(&legacy, vec![0; 64]);
        known.certificates[0].role = LEGACY_ROLE.into();
        let mut steps = vec![
            (1, CertRole::Volunteer, Standing::Approved),
            (50, CertRole::Registrar, Standing::Approved),
            (80, CertRole::Registrar, Standing::Revoked),
        ];
        let mut newest = None;
        for (version, (since, role, standing)) in (1..).zip(steps.drain(..)) {
            let c = Certificate {
                role,
                since,
                version,
                earlier: earlier_for(Some(&known), since, cert::MAX_PERIODS).unwrap(),
                ..certificate(&device, 2, version, standing)
            };
            known = merge(std::slice::from_ref(&known), vec![sign(&c)]).remove(0);
            newest = Some(c);
        }
        let newest = newest.unwrap();
        assert_eq!(
            newest.earlier,
            vec![
                Period {
                    since: 0,
                    role: None
                },
                Period {
                    since: 1,
                    role: Some(CertRole::Volunteer)
                },
                Period {
                    since: 50,
                    role: Some(CertRole::Registrar)
                },
            ]
        );
        // A device that only ever saw the revocation judges as the lead.
        let only_revocation = sign(&newest);
        for entry in [&known, &only_revocation] {
            let at = |seq| entry.governing(seq).unwrap();
            assert_eq!(
                at(12),
                Governing {
                    role: Some(Role::Volunteer),
                    revoked: false
                }
            );
            assert_eq!(at(50).role, Some(Role::Registrar));
            assert!(!at(79).revoked);
            assert!(at(80).revoked);
        }
    }

    #[test]
    fn periods_come_from_every_certificate_held_and_repeat_no_role() {
        let record = |version, role: &str, since| CertRecord {
            version,
            role: role.into(),
            standing: "approved".into(),
            since,
            prior_hash: [0; 32],
            rotated_to: 0,
            earlier: Vec::new(),
            bytes: Vec::new(),
        };
        // From before roles, then certificates from before periods: a
        // volunteer from 20, approved again as one from 30.
        let mut entry = entry_of(
            &certificate(
                &Identity::from_secrets([3; 32], [4; 32]),
                2,
                0,
                Standing::Approved,
            ),
            Vec::new(),
        );
        entry.certificates = vec![
            record(0, LEGACY_ROLE, 0),
            record(1, "volunteer", 20),
            record(2, "volunteer", 30),
        ];
        let periods = earlier_for(Some(&entry), 80, cert::MAX_PERIODS).unwrap();
        assert_eq!(
            periods,
            vec![
                Period {
                    since: 0,
                    role: None
                },
                Period {
                    since: 20,
                    role: Some(CertRole::Volunteer)
                }
            ]
        );
        // A certificate from 25 drops what started after it.
        assert_eq!(earlier_for(Some(&entry), 25, 64).unwrap().len(), 2);
        assert_eq!(earlier_for(Some(&entry), 20, 64).unwrap().len(), 1);
        assert_eq!(
            earlier_for(Some(&entry), 80, 1),
            Err(HistoryError::TooManyPeriods)
        );
        assert_eq!(earlier_for(None, 80, 1), Ok(Vec::new()));
    }

    #[test]
    fn a_device_seals_with_the_newest_generation_the_lead_signed() {
        let key = |epoch, signed| ScopeKey {
            epoch,
            key: [epoch as u8; 32],
            index_secret: [0; 32],
            nid_secret: None,
            signed,
        };
        // A generation planted before grants were signed is passed over
        // once the lead has signed one.
        let keys = [key(1, false), key(2, true), key(9, false)];
        assert_eq!(sealing_key(&keys).unwrap().epoch, 2);
        let before = [key(1, false), key(2, false)];
        assert_eq!(sealing_key(&before).unwrap().epoch, 2);
        assert!(sealing_key(&[]).is_none());
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
