//! The pure half of a sync: no network, no store, no clock. The
//! [`crate::convoy`] driver feeds it what it read and does what it says.

use std::collections::HashMap;

use qafila_domain::ids::DeviceId;
use qafila_proto::Uid;
use qafila_proto::batch::Outcome;
use qafila_proto::control::Member;
use qafila_proto::record::Record;
use qafila_store::sync::{Remote, RemoteContent, RosterEntry};

use crate::crypto;
use crate::payload::{self, OpenError};

/// Most bytes sent in one upload.
pub const UPLOAD_BYTES: usize = 4 << 20;

/// Splits the outbox into uploads the relay accepts, in seq order.
pub fn upload_batches(outbox: Vec<(u64, Vec<u8>)>) -> Result<Vec<Vec<(u64, Record)>>, String> {
    let mut batches: Vec<Vec<(u64, Record)>> = Vec::new();
    let mut size = 0;
    for (seq, bytes) in outbox {
        let record =
            Record::decode(&bytes).map_err(|e| format!("outbox record {seq} is damaged: {e}"))?;
        let len = record.wire_len();
        match batches.last_mut() {
            Some(batch)
                if batch.len() < qafila_proto::MAX_RECORDS_PER_UPLOAD
                    && size + len <= UPLOAD_BYTES =>
            {
                size += len;
                batch.push((seq, record));
            }
            _ => {
                size = len;
                batches.push(vec![(seq, record)]);
            }
        }
    }
    Ok(batches)
}

/// What an upload's outcomes mean for the outbox.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settlement {
    /// Seqs the relay now holds: drop them from the outbox.
    pub done: Vec<u64>,
    /// Newly stored on the relay (not retries).
    pub stored: usize,
    /// Something is wrong that retrying will not fix.
    pub problem: Option<String>,
}

/// Reads an upload's outcomes.
pub fn settle(sent: &[u64], outcomes: &[Outcome]) -> Settlement {
    let mut settlement = Settlement::default();
    for (seq, outcome) in sent.iter().zip(outcomes) {
        match outcome {
            Outcome::Stored => {
                settlement.stored += 1;
                settlement.done.push(*seq);
            }
            Outcome::Duplicate | Outcome::Superseded => settlement.done.push(*seq),
            Outcome::Gap { expected } => {
                settlement.problem.get_or_insert(format!(
                    "the relay is missing this device's records from #{expected}: it may have lost data; tell the relay's operator"
                ));
            }
            Outcome::Conflict => {
                settlement.problem.get_or_insert(format!(
                    "the relay holds a different record #{seq} for this device: this device's data may have been restored from an old copy; tell the convoy lead"
                ));
            }
            Outcome::Forbidden => {
                settlement.problem.get_or_insert(
                    "the relay refused this device's records (revoked, or not in this convoy)"
                        .into(),
                );
            }
        }
    }
    settlement
}

/// The keys needed to open a scope's records.
#[derive(Debug, Default)]
pub struct Keyring {
    /// Scope keys by epoch.
    pub keys: HashMap<u32, [u8; 32]>,
    /// Devices' Ed25519 keys, from the verified roster.
    pub signers: HashMap<Uid, [u8; 32]>,
}

/// Opens received records. Records that are not authentic or not
/// readable become quarantine entries: the cursor moves past them, nothing
/// of them is applied, and the lead sees why.
pub fn open_records(records: &[Record], scope: Uid, own: Uid, keyring: &Keyring) -> Vec<Remote> {
    records
        .iter()
        .filter(|r| r.header.device != own)
        .map(|record| {
            let device = DeviceId::from_bytes(record.header.device.0);
            let content = if record.header.scope != scope {
                RemoteContent::Quarantine("record of another convoy".into())
            } else {
                match (
                    keyring.keys.get(&record.header.epoch),
                    keyring.signers.get(&record.header.device),
                ) {
                    (None, _) => RemoteContent::Quarantine(format!(
                        "sealed with key generation {} that this device does not hold",
                        record.header.epoch
                    )),
                    (_, None) => RemoteContent::Quarantine(
                        "from a device the convoy lead has not certified".into(),
                    ),
                    (Some(key), Some(signer)) => match payload::open(record, key, signer) {
                        Ok(content) => content,
                        Err(
                            e @ (OpenError::Decrypt { .. }
                            | OpenError::Signature { .. }
                            | OpenError::Malformed { .. }),
                        ) => RemoteContent::Quarantine(e.to_string()),
                    },
                }
            };
            Remote {
                device,
                seq: record.header.seq,
                content,
            }
        })
        .collect()
}

/// The members whose certificates the lead signed, with the lead itself.
pub fn verified_roster(
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
        let status = if keys.device == lead {
            if signing != *lead_signing {
                continue;
            }
            "approved"
        } else {
            let Ok(signature) = <[u8; 64]>::try_from(member.certificate.0.as_slice()) else {
                continue;
            };
            let approved =
                crypto::certificate_message(&scope.0, &keys.device.0, &signing, &encryption, true);
            let revoked =
                crypto::certificate_message(&scope.0, &keys.device.0, &signing, &encryption, false);
            if crypto::verify(lead_signing, &approved, &signature).is_ok() {
                "approved"
            } else if crypto::verify(lead_signing, &revoked, &signature).is_ok() {
                "revoked"
            } else {
                continue;
            }
        };
        out.push(RosterEntry {
            device: DeviceId::from_bytes(keys.device.0),
            name: keys.name.clone(),
            signing,
            encryption,
            status: status.into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Identity;
    use qafila_proto::record::{RecordHeader, RecordKind};
    use qafila_store::sync::Plan;

    fn sealed(identity: &Identity, device: Uid, scope: Uid, epoch: u32, key: &[u8; 32]) -> Record {
        let header = RecordHeader {
            scope,
            device,
            seq: 1,
            epoch,
            kind: RecordKind::Log,
        };
        crate::payload::seal(header, &RemoteContent::Plan(Plan::default()), identity, key).unwrap()
    }

    #[test]
    fn only_authentic_readable_records_are_opened_the_rest_quarantined() {
        let scope = Uid([1; 16]);
        let (alice, bob) = (
            Identity::from_secrets([1; 32], [2; 32]),
            Identity::from_secrets([3; 32], [4; 32]),
        );
        let (a, b, me) = (Uid([0xa; 16]), Uid([0xb; 16]), Uid([0xc; 16]));
        let mut keyring = Keyring::default();
        keyring.keys.insert(1, [7; 32]);
        keyring.signers.insert(a, alice.signing_public());
        let good = sealed(&alice, a, scope, 1, &[7; 32]);
        let mut tampered = good.clone();
        tampered.ciphertext[30] ^= 1;
        let records = vec![
            good.clone(),
            tampered,
            sealed(&alice, a, scope, 2, &[8; 32]), // a key generation we lack
            sealed(&bob, b, scope, 1, &[7; 32]),   // an uncertified device
            sealed(&bob, a, scope, 1, &[7; 32]),   // signed by someone else
            sealed(&alice, a, Uid([2; 16]), 1, &[7; 32]), // another convoy
            sealed(&alice, me, scope, 1, &[7; 32]), // our own: skipped
        ];
        let opened = open_records(&records, scope, me, &keyring);
        assert_eq!(opened.len(), 6);
        assert!(matches!(opened[0].content, RemoteContent::Plan(_)));
        for (i, remote) in opened.iter().enumerate().skip(1) {
            assert!(
                matches!(remote.content, RemoteContent::Quarantine(_)),
                "record {i}: {:?}",
                remote.content
            );
        }
    }

    #[test]
    fn the_roster_keeps_only_devices_the_lead_certified() {
        use qafila_proto::control::{B64, DeviceKeys, Member};
        let scope = Uid([1; 16]);
        let lead = Identity::from_secrets([1; 32], [2; 32]);
        let device = Identity::from_secrets([3; 32], [4; 32]);
        let member = |id: u8, who: &Identity, certificate: Vec<u8>| Member {
            keys: DeviceKeys {
                device: Uid([id; 16]),
                name: format!("d{id}"),
                signing: B64(who.signing_public().to_vec()),
                encryption: B64(who.encryption_public().to_vec()),
            },
            role: "member".into(),
            status: "approved".into(),
            certificate: B64(certificate),
            last_seen_ms: None,
        };
        let certify = |id: u8, approved: bool| {
            lead.sign(&crypto::certificate_message(
                &scope.0,
                &[id; 16],
                &device.signing_public(),
                &device.encryption_public(),
                approved,
            ))
            .to_vec()
        };
        let members = vec![
            member(1, &lead, vec![]), // the lead itself, by its pinned key
            member(2, &device, certify(2, true)),
            member(3, &device, certify(3, false)),
            member(4, &device, certify(2, true)), // a certificate for someone else
            member(5, &device, vec![9; 64]),      // forged
        ];
        let roster = verified_roster(&members, scope, Uid([1; 16]), &lead.signing_public());
        let seen: Vec<(u8, &str)> = roster
            .iter()
            .map(|r| (r.device.to_bytes()[0], r.status.as_str()))
            .collect();
        assert_eq!(seen, vec![(1, "approved"), (2, "approved"), (3, "revoked")]);
    }

    #[test]
    fn outcomes_settle_the_outbox() {
        let s = settle(
            &[1, 2, 3],
            &[Outcome::Stored, Outcome::Duplicate, Outcome::Superseded],
        );
        assert_eq!(s.done, vec![1, 2, 3]);
        assert_eq!(s.stored, 1);
        assert_eq!(s.problem, None);
        let s = settle(&[4, 5], &[Outcome::Stored, Outcome::Conflict]);
        assert_eq!(s.done, vec![4]);
        assert!(s.problem.unwrap().contains("different record #5"));
        assert!(
            settle(&[1], &[Outcome::Gap { expected: 1 }])
                .problem
                .is_some()
        );
        assert!(settle(&[1], &[Outcome::Forbidden]).problem.is_some());
    }
}
