//! The pure half of a sync: no network, no store, no clock. The
//! [`crate::convoy`] driver feeds it what it read and does what it says.

use std::collections::HashMap;

use qafila_domain::ids::DeviceId;
use qafila_domain::role::Role;
use qafila_proto::Uid;
use qafila_proto::batch::Outcome;
use qafila_proto::record::{Record, RecordKind};
use qafila_store::sync::{
    Chain, Cursor, ERASED_VERSION, RegistryNotes, Remote, RemoteContent, RosterEntry,
};

use crate::crypto;
use crate::payload::{self, Content, Link, OpenError};

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

/// What a device needs to open and judge a scope's records: its key
/// generations, the lead-certified roster, and the registry's index secret.
#[derive(Debug, Default)]
pub struct Keyring {
    /// Scope keys by epoch.
    pub keys: HashMap<u32, [u8; 32]>,
    /// The certified devices, with every certificate version.
    pub roster: HashMap<Uid, RosterEntry>,
    /// The convoy's lead (certified by its pinned key).
    pub lead: Uid,
    /// Makes registry keys; a keyed record's relay key must match it.
    pub index_secret: [u8; 32],
}

/// Where this device stands with one remote device's log during a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogState {
    /// The last record taken.
    pub cursor: u64,
    /// The last log record taken (`None`: unknown, the next is taken on
    /// trust).
    pub chain: Option<(u64, [u8; 32])>,
    /// Nothing more of this log is taken in this sync.
    pub stopped: bool,
}

impl LogState {
    /// A log this device has taken nothing from: the first log record must
    /// name no predecessor.
    pub fn fresh() -> Self {
        LogState {
            cursor: 0,
            chain: Some((0, [0; 32])),
            stopped: false,
        }
    }

    /// From the store's cursor.
    pub fn of(cursor: &Cursor) -> Self {
        LogState {
            cursor: cursor.seq,
            chain: cursor.chain,
            stopped: false,
        }
    }
}

/// Why a record was held back: not taken, cursor not moved, asked for
/// again next time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Sealed with a key generation this device does not hold yet.
    MissingKey {
        /// Whose log.
        device: Uid,
        /// Which generation.
        epoch: u32,
    },
    /// From a device the lead has not certified (as far as this device
    /// knows yet).
    UnknownSigner {
        /// Whose log.
        device: Uid,
    },
    /// Not made by its device: altered or made up on the way (or labelled
    /// with another convoy).
    NotAuthentic {
        /// Whose log it claims to be.
        device: Uid,
        /// Its seq.
        seq: u64,
    },
    /// The record does not follow the last one taken from its device:
    /// records in between were dropped, withheld or reordered.
    Withheld {
        /// Whose log.
        device: Uid,
        /// The last log record taken from it.
        after: u64,
        /// The record that names another predecessor.
        seq: u64,
    },
    /// A registry record its device listed that was neither delivered nor
    /// replaced by a newer version of its key: a relay dropped it.
    RegistryDropped {
        /// Whose.
        device: Uid,
        /// Which.
        seq: u64,
    },
}

impl Hold {
    /// Whether it points at a relay (or network) that tampers, rather than
    /// at something that has not arrived yet.
    pub fn is_tampering(&self) -> bool {
        matches!(
            self,
            Hold::NotAuthentic { .. } | Hold::Withheld { .. } | Hold::RegistryDropped { .. }
        )
    }

    /// What to tell people.
    pub fn describe(&self) -> String {
        match self {
            Hold::MissingKey { device, epoch } => format!(
                "records of {device} are sealed with key generation {epoch}, which this device has not received yet"
            ),
            Hold::UnknownSigner { device } => {
                format!("records of {device}, which the convoy lead has not certified")
            }
            Hold::NotAuthentic { device, seq } => format!(
                "record {device}#{seq} was not made by that device (altered or made up on the way)"
            ),
            Hold::Withheld { device, after, seq } => {
                format!("records of {device} between #{after} and #{seq} were not delivered")
            }
            Hold::RegistryDropped { device, seq } => format!(
                "registry record {device}#{seq} was neither delivered nor replaced by a newer version"
            ),
        }
    }
}

/// What opening a batch gave: records to apply (or quarantine) with their
/// cursors, and records held back.
#[derive(Debug, Default)]
pub struct Opened {
    /// For the store.
    pub remotes: Vec<Remote>,
    /// Held back, with why.
    pub held: Vec<Hold>,
    /// What the records say about registry records, for the store.
    pub notes: RegistryNotes,
}

impl Opened {
    /// Takes `remote`, made of `record`, noting a registry record's key and
    /// version as delivered.
    fn take(&mut self, record: &Record, remote: Remote) {
        if let RecordKind::Keyed { key, version } = record.header.kind {
            self.notes.seen.push((key, version));
        }
        self.remotes.push(remote);
    }
}

/// Opens received records, checking each as `SECURITY.md` says, in order:
/// scope, signer, revocation point, key, authenticity, chain, registry key;
/// roles are checked by the store on the events themselves. `logs` carries
/// each device's state across the batches of a sync.
pub fn open_records(
    records: &[Record],
    scope: Uid,
    own: Uid,
    keyring: &Keyring,
    logs: &mut HashMap<Uid, LogState>,
) -> Opened {
    let mut opened = Opened::default();
    for record in records {
        let (device, seq) = (record.header.device, record.header.seq);
        if device == own {
            continue;
        }
        let state = logs.entry(device).or_insert_with(LogState::fresh);
        if state.stopped || seq <= state.cursor {
            continue;
        }
        let mut hold = |state: &mut LogState, why: Hold| {
            state.stopped = true;
            opened.held.push(why);
        };
        if record.header.scope != scope {
            hold(state, Hold::NotAuthentic { device, seq });
            continue;
        }
        let Some(signer) = keyring.roster.get(&device) else {
            hold(state, Hold::UnknownSigner { device });
            continue;
        };
        let governing = signer.governing(seq);
        let role = if device == keyring.lead {
            Some(Role::Lead)
        } else {
            governing.and_then(|g| g.role)
        };
        let remote = |content, chain| Remote {
            device: DeviceId::from_bytes(device.0),
            seq,
            role,
            chain,
            content,
        };
        if device != keyring.lead && governing.is_some_and(|g| g.revoked) {
            // Quarantined unopened: what a revoked device sealed after the
            // lead's point is nobody's business.
            state.cursor = seq;
            opened.take(
                record,
                remote(
                    RemoteContent::Quarantine(
                        "sealed after the convoy lead revoked the device".into(),
                    ),
                    Chain::Keep,
                ),
            );
            continue;
        }
        let Some(key) = keyring.keys.get(&record.header.epoch) else {
            hold(
                state,
                Hold::MissingKey {
                    device,
                    epoch: record.header.epoch,
                },
            );
            continue;
        };
        let payload = match payload::open(record, key, &signer.signing) {
            Ok(payload) => payload,
            Err(OpenError::Decrypt { .. } | OpenError::Signature { .. }) => {
                hold(state, Hold::NotAuthentic { device, seq });
                continue;
            }
            Err(e @ OpenError::Malformed { .. }) => {
                // Signed by the device, so its next record chains to it.
                let chain = authentic_place(record, state);
                opened.take(
                    record,
                    remote(RemoteContent::Quarantine(e.to_string()), chain),
                );
                continue;
            }
        };
        let logged = matches!(record.header.kind, RecordKind::Log);
        let (content, chain) = match (payload.link, payload.content) {
            (
                Link::After {
                    seq: prev,
                    hash,
                    listed,
                },
                content,
            ) if logged => {
                if let Some(expected) = state.chain
                    && expected != (prev, hash)
                {
                    hold(
                        state,
                        Hold::Withheld {
                            device,
                            after: expected.0,
                            seq,
                        },
                    );
                    continue;
                }
                let this = payload::chain_hash(record);
                let content = match content {
                    Content::Store(content) => {
                        forked(signer, seq, &this).map_or(content, RemoteContent::Quarantine)
                    }
                    Content::Filler => {
                        RemoteContent::Quarantine("a filler inside the chain of log records".into())
                    }
                };
                // The registry records it vouches for stand between the
                // log record it names and itself.
                let content = if listed.iter().all(|l| prev < l.seq && l.seq < seq) {
                    opened
                        .notes
                        .claims
                        .extend(listed.iter().map(|l| qafila_store::sync::Claim {
                            device: DeviceId::from_bytes(device.0),
                            seq: l.seq,
                            key: l.key,
                            version: l.version,
                        }));
                    content
                } else {
                    RemoteContent::Quarantine(
                        "lists registry records outside its place in the log".into(),
                    )
                };
                (content, Chain::Set(seq, this))
            }
            // Records sealed before chains: only from the lead or a device
            // certified before roles, and only before its first chained
            // record (a device never goes back).
            (Link::Legacy, Content::Store(content))
                if (device == keyring.lead || signer.certified_before_roles())
                    && state.chain.is_none_or(|(seq, _)| seq == 0) =>
            {
                if logged {
                    (content, Chain::Unknown)
                } else {
                    (keyed(record, content, keyring), Chain::Keep)
                }
            }
            (Link::Outside, Content::Filler) if logged => {
                opened
                    .notes
                    .fillers
                    .push((DeviceId::from_bytes(device.0), seq));
                (RemoteContent::Changes(Vec::new()), Chain::Keep)
            }
            (Link::Outside, Content::Store(content)) if !logged => {
                (keyed(record, content, keyring), Chain::Keep)
            }
            _ => {
                let chain = authentic_place(record, state);
                opened.take(
                    record,
                    remote(
                        RemoteContent::Quarantine("a record outside its place in the log".into()),
                        chain,
                    ),
                );
                continue;
            }
        };
        state.cursor = seq;
        match chain {
            Chain::Set(seq, hash) => state.chain = Some((seq, hash)),
            Chain::Unknown => state.chain = None,
            Chain::Keep => {}
        }
        opened.take(record, remote(content, chain));
    }
    opened
}

/// Where the chain stands after an authentic record that is quarantined:
/// a log record takes its place in the chain (the device's next record
/// names it; nothing can reset the chain to skip its check), a keyed one
/// stands outside it.
fn authentic_place(record: &Record, state: &mut LogState) -> Chain {
    state.cursor = record.header.seq;
    if matches!(record.header.kind, RecordKind::Log) {
        let this = payload::chain_hash(record);
        state.chain = Some((record.header.seq, this));
        Chain::Set(record.header.seq, this)
    } else {
        Chain::Keep
    }
}

fn keyed_version(record: &Record) -> u64 {
    match record.header.kind {
        RecordKind::Keyed { version, .. } => version,
        RecordKind::Log => 0,
    }
}

/// A keyed record's content, if it is what its header says: a registry
/// entry filed under its own person's key, erased exactly when its
/// version says so (the relay, which cannot read it, acts on the header).
fn keyed(record: &Record, content: RemoteContent, keyring: &Keyring) -> RemoteContent {
    let version = keyed_version(record);
    match &content {
        RemoteContent::Registry { beneficiary, .. }
            if record.header.kind
                != (RecordKind::Keyed {
                    key: crypto::registry_key(&keyring.index_secret, &beneficiary.to_bytes()),
                    version,
                }) =>
        {
            RemoteContent::Quarantine("a registry entry filed under another person's key".into())
        }
        RemoteContent::Registry { live, .. } if live.is_none() != (version == ERASED_VERSION) => {
            RemoteContent::Quarantine(
                "a registry entry whose version says erased and content says not, or the reverse"
                    .into(),
            )
        }
        RemoteContent::Registry { .. } => content,
        _ => RemoteContent::Quarantine("a keyed record that is not a registry entry".into()),
    }
}

/// Whether this record contradicts what the lead had received when it
/// signed one of the device's certificates: at the last record before a
/// certificate's `since`, the hash must be the one the lead had (a device
/// cannot rewrite its past under another role, or after its revocation).
fn forked(signer: &RosterEntry, seq: u64, hash: &[u8; 32]) -> Option<String> {
    signer
        .certificates
        .iter()
        .any(|c| c.prior_hash != [0; 32] && c.since == seq + 1 && c.prior_hash != *hash)
        .then(|| {
            "differs from what the convoy lead had received when it signed the device's certificate"
                .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Identity;
    use crate::trust;
    use qafila_proto::cert::{CertRole, Certificate, Standing};
    use qafila_proto::record::RecordHeader;
    use qafila_store::sync::Plan;

    const SCOPE: Uid = Uid([1; 16]);
    const ME: Uid = Uid([0xc; 16]);
    const A: Uid = Uid([0xa; 16]);

    fn lead() -> Identity {
        Identity::from_secrets([1; 32], [2; 32])
    }

    fn alice() -> Identity {
        Identity::from_secrets([3; 32], [4; 32])
    }

    fn certified(
        who: &Identity,
        id: Uid,
        role: CertRole,
        standing: Standing,
        since: u64,
    ) -> RosterEntry {
        let c = Certificate {
            scope: SCOPE,
            device: id,
            name: "a".into(),
            signing: who.signing_public(),
            encryption: who.encryption_public(),
            role,
            standing,
            version: if standing == Standing::Revoked { 2 } else { 1 },
            since,
            prior_hash: [0; 32],
            rotated_to: 0,
            earlier: Vec::new(),
        };
        trust::entry_of(&c, c.sign(lead().signing_key()))
    }

    fn keyring(entries: Vec<RosterEntry>) -> Keyring {
        let mut keyring = Keyring {
            lead: Uid([0xf; 16]),
            ..Keyring::default()
        };
        keyring.keys.insert(1, [7; 32]);
        for entry in entries {
            keyring.roster.insert(Uid(entry.device.to_bytes()), entry);
        }
        keyring
    }

    /// A chain of `n` log records of `who` as `device`, each naming the one
    /// before.
    fn chain(who: &Identity, device: Uid, n: u64) -> Vec<Record> {
        let mut prev = (0, [0; 32]);
        (1..=n)
            .map(|seq| {
                let header = RecordHeader {
                    scope: SCOPE,
                    device,
                    seq,
                    epoch: 1,
                    kind: RecordKind::Log,
                };
                let record = payload::seal(
                    header,
                    &Content::Store(RemoteContent::Changes(Vec::new())),
                    Link::After {
                        seq: prev.0,
                        hash: prev.1,
                        listed: Vec::new(),
                    },
                    who,
                    &[7; 32],
                )
                .unwrap();
                prev = (seq, payload::chain_hash(&record));
                record
            })
            .collect()
    }

    fn open(records: &[Record], keyring: &Keyring) -> Opened {
        open_records(records, SCOPE, ME, keyring, &mut HashMap::new())
    }

    #[test]
    fn authentic_records_in_order_are_taken_with_their_role() {
        let keyring = keyring(vec![certified(
            &alice(),
            A,
            CertRole::Volunteer,
            Standing::Approved,
            1,
        )]);
        let opened = open(&chain(&alice(), A, 3), &keyring);
        assert!(opened.held.is_empty(), "{:?}", opened.held);
        assert_eq!(opened.remotes.len(), 3);
        assert!(
            opened
                .remotes
                .iter()
                .all(|r| r.role == Some(Role::Volunteer))
        );
        assert!(matches!(opened.remotes[2].chain, Chain::Set(3, _)));
    }

    #[test]
    fn a_dropped_or_reordered_record_stops_that_log_and_is_reported() {
        let keyring = keyring(vec![certified(
            &alice(),
            A,
            CertRole::Volunteer,
            Standing::Approved,
            1,
        )]);
        let records = chain(&alice(), A, 4);
        // The relay drops #2.
        let dropped = [records[0].clone(), records[2].clone(), records[3].clone()];
        let opened = open(&dropped, &keyring);
        assert_eq!(opened.remotes.len(), 1, "only #1 is taken");
        assert_eq!(
            opened.held,
            vec![Hold::Withheld {
                device: A,
                after: 1,
                seq: 3
            }]
        );
        assert!(opened.held[0].is_tampering());
        // Reordered: #2 after #3.
        let reordered = [records[0].clone(), records[2].clone(), records[1].clone()];
        let opened = open(&reordered, &keyring);
        assert_eq!(opened.remotes.len(), 1);
        // Replayed: duplicates are skipped, nothing is held.
        let replayed = [
            records[0].clone(),
            records[0].clone(),
            records[1].clone(),
            records[1].clone(),
        ];
        let opened = open(&replayed, &keyring);
        assert_eq!((opened.remotes.len(), opened.held.len()), (2, 0));
    }

    #[test]
    fn records_not_made_by_their_device_are_held_not_taken() {
        let mallory = Identity::from_secrets([5; 32], [6; 32]);
        let keyring = keyring(vec![certified(
            &alice(),
            A,
            CertRole::Volunteer,
            Standing::Approved,
            1,
        )]);
        let mut tampered = chain(&alice(), A, 1);
        tampered[0].ciphertext[30] ^= 1;
        let opened = open(&tampered, &keyring);
        assert_eq!(opened.held, vec![Hold::NotAuthentic { device: A, seq: 1 }]);
        // A member who knows the scope key signs as someone else.
        let forged = chain(&mallory, A, 1);
        assert_eq!(
            open(&forged, &keyring).held,
            vec![Hold::NotAuthentic { device: A, seq: 1 }]
        );
        // Uncertified, and a key generation not held: held, not quarantined.
        let stranger = chain(&mallory, Uid([0xb; 16]), 1);
        assert!(matches!(
            open(&stranger, &keyring).held[0],
            Hold::UnknownSigner { .. }
        ));
        let mut later = chain(&alice(), A, 1);
        later[0].header.epoch = 9;
        assert!(matches!(
            open(&later, &keyring).held[0],
            Hold::MissingKey { epoch: 9, .. }
        ));
    }

    #[test]
    fn records_after_the_revocation_point_are_quarantined_unopened() {
        let revoked = certified(&alice(), A, CertRole::Volunteer, Standing::Revoked, 3);
        let mut approved = certified(&alice(), A, CertRole::Volunteer, Standing::Approved, 1);
        approved.certificates.extend(revoked.certificates);
        let keyring = keyring(vec![approved]);
        let mut records = chain(&alice(), A, 4);
        // What it sealed after being revoked does not even need to open.
        records[3].ciphertext.truncate(10);
        let opened = open(&records, &keyring);
        assert!(opened.held.is_empty(), "{:?}", opened.held);
        let quarantined: Vec<u64> = opened
            .remotes
            .iter()
            .filter(|r| matches!(r.content, RemoteContent::Quarantine(_)))
            .map(|r| r.seq)
            .collect();
        assert_eq!(quarantined, vec![3, 4]);
    }

    fn sealed(
        who: &Identity,
        device: Uid,
        kind: RecordKind,
        link: Link,
        content: RemoteContent,
    ) -> Record {
        let header = RecordHeader {
            scope: SCOPE,
            device,
            seq: 1,
            epoch: 1,
            kind,
        };
        payload::seal(header, &Content::Store(content), link, who, &[7; 32]).unwrap()
    }

    fn reason(opened: &Opened) -> String {
        match &opened.remotes[..] {
            [one] => match &one.content {
                RemoteContent::Quarantine(reason) => reason.clone(),
                _ => String::new(),
            },
            other => panic!("one record expected: {other:?}"),
        }
    }

    #[test]
    fn a_certified_device_cannot_step_out_of_its_chain() {
        // Sealed as before chains, by a device certified since: it would
        // reset the chain and skip the checks chained records get.
        let ring = keyring(vec![certified(
            &alice(),
            A,
            CertRole::Volunteer,
            Standing::Approved,
            1,
        )]);
        let unchained = sealed(
            &alice(),
            A,
            RecordKind::Log,
            Link::Legacy,
            RemoteContent::Changes(Vec::new()),
        );
        assert!(
            reason(&open(std::slice::from_ref(&unchained), &ring)).contains("outside its place")
        );
        // A device certified before roles still sends them.
        let mut legacy = certified(&alice(), A, CertRole::Volunteer, Standing::Approved, 0);
        legacy.certificates[0].version = 0;
        legacy.certificates[0].role = trust::LEGACY_ROLE.into();
        let opened = open(&[unchained], &keyring(vec![legacy]));
        assert_eq!(reason(&opened), "");
    }

    /// Log record `seq` of `who` as `device`, with `link`.
    fn log_at(who: &Identity, device: Uid, seq: u64, link: Link, note: u8) -> Record {
        let header = RecordHeader {
            scope: SCOPE,
            device,
            seq,
            epoch: 1,
            kind: RecordKind::Log,
        };
        // `note` makes two records of one seq differ.
        let content = RemoteContent::Plan(Plan {
            name: note.to_string(),
            ..Plan::default()
        });
        payload::seal(header, &Content::Store(content), link, who, &[7; 32]).unwrap()
    }

    fn after(record: &Record) -> Link {
        Link::After {
            seq: record.header.seq,
            hash: payload::chain_hash(record),
            listed: Vec::new(),
        }
    }

    /// A device certified before roles, given `role` from `since`.
    fn converted(role: CertRole, since: u64) -> RosterEntry {
        let c = Certificate {
            scope: SCOPE,
            device: A,
            name: "a".into(),
            signing: alice().signing_public(),
            encryption: alice().encryption_public(),
            role,
            standing: Standing::Approved,
            version: 1,
            since,
            prior_hash: [0; 32],
            rotated_to: 0,
            earlier: vec![qafila_proto::cert::Period {
                since: 0,
                role: None,
            }],
        };
        trust::entry_of(&c, c.sign(lead().signing_key()))
    }

    #[test]
    fn records_sealed_before_chains_are_taken_only_before_the_first_chained_one() {
        let ring = keyring(vec![converted(CertRole::Volunteer, 3)]);
        let one = log_at(&alice(), A, 1, Link::Legacy, 1);
        let two = log_at(&alice(), A, 2, Link::Legacy, 2);
        // Sealed before the upgrade, sent after the lead gave it a role:
        // taken, under that role.
        let three = log_at(&alice(), A, 3, Link::Legacy, 3);
        let four = log_at(&alice(), A, 4, after(&three), 4);
        let opened = open(&[one, two, three.clone(), four.clone()], &ring);
        assert!(opened.held.is_empty(), "{:?}", opened.held);
        assert!(
            opened
                .remotes
                .iter()
                .all(|r| !matches!(r.content, RemoteContent::Quarantine(_)))
        );
        assert_eq!(opened.remotes[2].role, Some(Role::Volunteer));
        // Once chained, an unchained record is set aside, and it keeps its
        // place: the genuine record that would follow the one it replaced
        // does not link to it, and that log stops there (reported).
        let five = log_at(&alice(), A, 5, after(&four), 5);
        let rewritten = log_at(&alice(), A, 5, Link::Legacy, 55);
        let six = log_at(&alice(), A, 6, after(&five), 6);
        let mut logs = HashMap::new();
        open_records(&[three.clone(), four.clone()], SCOPE, ME, &ring, &mut logs);
        let opened = open_records(&[rewritten, six], SCOPE, ME, &ring, &mut logs);
        assert!(
            reason(&Opened {
                remotes: opened.remotes[..1].to_vec(),
                ..Opened::default()
            })
            .contains("outside its place")
        );
        assert!(matches!(opened.held[..], [Hold::Withheld { seq: 6, .. }]));
    }

    #[test]
    fn a_device_cannot_rewrite_what_the_lead_had_when_it_changed_its_role() {
        let first = chain(&alice(), A, 4);
        let mut registrar = converted(CertRole::Registrar, 5);
        registrar.certificates[0].prior_hash = payload::chain_hash(&first[3]);
        let ring = keyring(vec![registrar]);
        // The same past, served to a device that joins later: taken.
        let opened = open(&first, &ring);
        assert!(
            opened
                .remotes
                .iter()
                .all(|r| !matches!(r.content, RemoteContent::Quarantine(_)))
        );
        // Another past, chained as well, up to the role change: the record
        // before the change is set aside.
        let mut other = chain(&alice(), A, 3);
        other.push(log_at(&alice(), A, 4, after(&other[2]), 9));
        let opened = open(&other, &ring);
        let quarantined: Vec<u64> = opened
            .remotes
            .iter()
            .filter(|r| matches!(r.content, RemoteContent::Quarantine(_)))
            .map(|r| r.seq)
            .collect();
        assert_eq!(quarantined, vec![4]);
    }

    #[test]
    fn a_registry_entry_is_what_its_header_says() {
        use qafila_domain::ids::BeneficiaryId;
        let ring = keyring(vec![certified(
            &alice(),
            A,
            CertRole::Registrar,
            Standing::Approved,
            1,
        )]);
        let person = BeneficiaryId::from_parts(1, [5; 10]);
        let key = crypto::registry_key(&ring.index_secret, &person.to_bytes());
        let entry = |version, live: Option<([u8; 32], Vec<u8>)>| {
            sealed(
                &alice(),
                A,
                RecordKind::Keyed { key, version },
                Link::Outside,
                RemoteContent::Registry {
                    beneficiary: person,
                    live,
                },
            )
        };
        // Live content at the version a relay takes for an erasure (it
        // would wipe every copy while devices kept the entry), and an
        // erasure at a live version.
        for record in [
            entry(ERASED_VERSION, Some(([1; 32], vec![1, 2, 3]))),
            entry(1, None),
        ] {
            assert!(
                reason(&open(&[record], &ring)).contains("says erased"),
                "taken"
            );
        }
        assert_eq!(reason(&open(&[entry(ERASED_VERSION, None)], &ring)), "");
        assert_eq!(
            reason(&open(&[entry(1, Some(([1; 32], vec![1])))], &ring)),
            ""
        );
        // Filed under another person's key, chained or not.
        let other = BeneficiaryId::from_parts(1, [6; 10]);
        for link in [Link::Outside, Link::Legacy] {
            let misfiled = sealed(
                &alice(),
                A,
                RecordKind::Keyed { key, version: 1 },
                link,
                RemoteContent::Registry {
                    beneficiary: other,
                    live: None,
                },
            );
            let mut legacy = certified(&alice(), A, CertRole::Registrar, Standing::Approved, 0);
            legacy.certificates[0].version = 0;
            legacy.certificates[0].role = trust::LEGACY_ROLE.into();
            assert!(reason(&open(&[misfiled], &keyring(vec![legacy]))).contains("another person"),);
        }
    }

    #[test]
    fn only_the_lead_is_the_lead() {
        let lead = lead();
        let mut keyring = keyring(vec![]);
        keyring.lead = A;
        keyring.roster.insert(
            A,
            trust::lead_entry(A, "lead", lead.signing_public(), lead.encryption_public()),
        );
        let header = RecordHeader {
            scope: SCOPE,
            device: A,
            seq: 1,
            epoch: 1,
            kind: RecordKind::Log,
        };
        let plan = payload::seal(
            header,
            &Content::Store(RemoteContent::Plan(Plan::default())),
            Link::After {
                seq: 0,
                hash: [0; 32],
                listed: Vec::new(),
            },
            &lead,
            &[7; 32],
        )
        .unwrap();
        let opened = open(&[plan], &keyring);
        assert_eq!(opened.remotes[0].role, Some(Role::Lead));
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
