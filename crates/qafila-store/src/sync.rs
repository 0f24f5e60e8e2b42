//! What sync needs from the store: this device's keys, its convoys, scope
//! keys and roster, the outbox of sealed records, per-device cursors, and
//! applying received records.
//!
//! Received records are applied on the writer thread in one transaction
//! with their cursors: a record is applied and its cursor advanced
//! together, or neither. A record whose content cannot be applied
//! (malformed Automerge, an event that fails validation, an event claiming
//! another device) is quarantined: its cursor advances, nothing of it is
//! applied, and it is listed for the lead.

use chrono::NaiveDate;
use qafila_domain::event::{Event, EventBody};
use qafila_domain::ids::{BeneficiaryId, DeviceId, RoundId, SiteId};
use qafila_domain::names::NameKey;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::StoreError;
use crate::personal::{self, KEY_LEN, Personal, random};
use crate::writer::Writer;
use crate::{Store, projection};

/// This device's secret keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// Ed25519 secret.
    pub signing: [u8; 32],
    /// X25519 secret.
    pub encryption: [u8; 32],
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity(..)")
    }
}

/// A convoy this device belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convoy {
    /// The convoy, which is also the sync scope.
    pub id: [u8; 16],
    /// Its name.
    pub name: String,
    /// Its date (`YYYY-MM-DD`).
    pub day: String,
    /// The relay it syncs through.
    pub relay: String,
    /// `lead` or `member`.
    pub role: String,
    /// `pending`, `approved` or `revoked`.
    pub status: String,
    /// Its lead device.
    pub lead: DeviceId,
    /// The lead's Ed25519 public key, pinned at creation or enrollment.
    pub lead_signing: [u8; 32],
    /// The sites on its route.
    pub sites: Vec<String>,
}

/// A device of a scope, as its lead certified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The device.
    pub device: DeviceId,
    /// Its name.
    pub name: String,
    /// Ed25519 public key.
    pub signing: [u8; 32],
    /// X25519 public key.
    pub encryption: [u8; 32],
    /// `approved` or `revoked`.
    pub status: String,
}

/// A scope key generation.
#[derive(Clone, PartialEq, Eq)]
pub struct ScopeKey {
    /// Its generation.
    pub epoch: u32,
    /// Seals records.
    pub key: [u8; 32],
    /// Derives registry keys (stable across generations).
    pub index_secret: [u8; 32],
}

impl std::fmt::Debug for ScopeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScopeKey(epoch {})", self.epoch)
    }
}

/// One Automerge change of this device's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The event's seq in this device's log.
    pub seq: u64,
    /// The device-day document it belongs to.
    pub day: NaiveDate,
    /// The change.
    pub chunk: Vec<u8>,
}

/// A registry entry to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// The person.
    pub beneficiary: BeneficiaryId,
    /// Their key and registration event (encoded), or `None`: erased.
    pub live: Option<([u8; KEY_LEN], Vec<u8>)>,
}

/// The version a live registry entry is published with; an erasure is
/// published with [`ERASED_VERSION`], which always wins.
pub const LIVE_VERSION: u64 = 1;
/// See [`LIVE_VERSION`].
pub const ERASED_VERSION: u64 = u64::MAX;

/// A convoy's plan as the lead publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The convoy's name.
    pub name: String,
    /// Its date (`YYYY-MM-DD`).
    pub day: String,
    /// Sites with their ids (so every device files stock the same way).
    pub sites: Vec<(SiteId, String)>,
    /// Rounds: id, name, entitlements text; the first is current.
    pub rounds: Vec<(RoundId, String, String)>,
}

/// The content of a received, authenticated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteContent {
    /// Automerge changes of the sender's device-day documents.
    Changes(Vec<LogEntry>),
    /// A registry entry.
    Registry {
        /// The person.
        beneficiary: BeneficiaryId,
        /// Key and encoded registration event, or `None` when erased.
        live: Option<([u8; KEY_LEN], Vec<u8>)>,
    },
    /// The convoy's plan (from its lead).
    Plan(Plan),
    /// Authentic, but unreadable: set aside with a reason.
    Quarantine(String),
}

/// A received record, decrypted and verified by the sync layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Whose log.
    pub device: DeviceId,
    /// Its seq in that log (the cursor).
    pub seq: u64,
    /// What it holds.
    pub content: RemoteContent,
}

/// What applying received records did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// New events.
    pub events: u64,
    /// Registry entries taken in (or erased).
    pub registry: u64,
    /// Records set aside.
    pub quarantined: u64,
}

fn id16(bytes: Vec<u8>) -> [u8; 16] {
    bytes.try_into().unwrap_or([0; 16])
}

fn id32(bytes: Vec<u8>) -> [u8; 32] {
    bytes.try_into().unwrap_or([0; 32])
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// This device's keys, created on first use.
    pub fn identity(&self) -> Result<Identity, StoreError> {
        self.writer.call(|w| {
            w.transaction(|tx| {
                let existing: Option<(Vec<u8>, Vec<u8>)> = tx
                    .query_row("SELECT signing, encryption FROM identity", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                if let Some((signing, encryption)) = existing {
                    return Ok(Identity {
                        signing: id32(signing),
                        encryption: id32(encryption),
                    });
                }
                let identity = Identity {
                    signing: random()?,
                    encryption: random()?,
                };
                tx.execute(
                    "INSERT INTO identity (singleton, signing, encryption) VALUES (1, ?1, ?2)",
                    params![identity.signing, identity.encryption],
                )?;
                Ok(identity)
            })
        })
    }

    /// Adds (or updates) a convoy. A new convoy carries what this device
    /// records from now on; earlier events stay local.
    pub fn put_convoy(&self, convoy: Convoy) -> Result<(), StoreError> {
        self.writer.call(move |w| {
            w.transaction(|tx| {
                tx.execute(
                    "INSERT INTO convoys (id, name, day, relay, role, status, lead, lead_signing, sites, joined_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, day = excluded.day,
                         relay = excluded.relay, status = excluded.status, sites = excluded.sites",
                    params![
                        convoy.id,
                        convoy.name,
                        convoy.day,
                        convoy.relay,
                        convoy.role,
                        convoy.status,
                        convoy.lead.to_bytes(),
                        convoy.lead_signing,
                        convoy.sites.join("\n")
                    ],
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO outbox_state (scope, next_record, sealed_through)
                     VALUES (?1, 1, (SELECT next_seq - 1 FROM device))",
                    [convoy.id],
                )?;
                Ok(())
            })
        })
    }

    /// Every convoy this device belongs to, newest first.
    pub fn convoys(&self) -> Result<Vec<Convoy>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT id, name, day, relay, role, status, lead, lead_signing, sites FROM convoys ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Convoy {
                id: id16(r.get(0)?),
                name: r.get(1)?,
                day: r.get(2)?,
                relay: r.get(3)?,
                role: r.get(4)?,
                status: r.get(5)?,
                lead: DeviceId::from_bytes(id16(r.get(6)?)),
                lead_signing: id32(r.get(7)?),
                sites: r
                    .get::<_, String>(8)?
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores scope key generations (already unwrapped).
    pub fn put_scope_keys(&self, scope: [u8; 16], keys: Vec<ScopeKey>) -> Result<(), StoreError> {
        self.writer.call(move |w| {
            w.transaction(|tx| {
                for key in &keys {
                    tx.execute(
                        "INSERT OR IGNORE INTO scope_keys (scope, epoch, key, index_secret) VALUES (?1, ?2, ?3, ?4)",
                        params![scope, key.epoch, key.key, key.index_secret],
                    )?;
                }
                Ok(())
            })
        })
    }

    /// A scope's key generations, oldest first.
    pub fn scope_keys(&self, scope: [u8; 16]) -> Result<Vec<ScopeKey>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT epoch, key, index_secret FROM scope_keys WHERE scope = ?1 ORDER BY epoch",
        )?;
        let rows = stmt.query_map([scope], |r| {
            Ok(ScopeKey {
                epoch: r.get(0)?,
                key: id32(r.get(1)?),
                index_secret: id32(r.get(2)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces a scope's roster.
    pub fn put_roster(&self, scope: [u8; 16], roster: Vec<RosterEntry>) -> Result<(), StoreError> {
        self.writer.call(move |w| {
            w.transaction(|tx| {
                for entry in &roster {
                    tx.execute(
                        "INSERT INTO roster (scope, device, name, signing, encryption, status)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (scope, device) DO UPDATE SET status = excluded.status, name = excluded.name",
                        params![
                            scope,
                            entry.device.to_bytes(),
                            entry.name,
                            entry.signing,
                            entry.encryption,
                            entry.status
                        ],
                    )?;
                }
                Ok(())
            })
        })
    }

    /// A scope's roster.
    pub fn roster(&self, scope: [u8; 16]) -> Result<Vec<RosterEntry>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT device, name, signing, encryption, status FROM roster WHERE scope = ?1 ORDER BY device",
        )?;
        let rows = stmt.query_map([scope], |r| {
            Ok(RosterEntry {
                device: DeviceId::from_bytes(id16(r.get(0)?)),
                name: r.get(1)?,
                signing: id32(r.get(2)?),
                encryption: id32(r.get(3)?),
                status: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// This device's changes not yet sealed into a record of `scope`, in
    /// log order, at most `limit`.
    pub fn unsealed_log(&self, scope: [u8; 16], limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, day, bytes FROM doc_chunks
             WHERE device = ?1 AND seq > (SELECT sealed_through FROM outbox_state WHERE scope = ?2)
             ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                self.device().id.to_bytes(),
                scope,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, day, chunk) = row?;
            out.push(LogEntry {
                seq: u64::try_from(seq).unwrap_or(0),
                day: day.parse().unwrap_or(NaiveDate::MIN),
                chunk,
            });
        }
        Ok(out)
    }

    /// Registry entries `scope` should receive from this device and has
    /// not: people in the convoy's villages (all, if it lists no sites)
    /// whose key this device holds, and erasures of people it published.
    pub fn unpublished_registry(
        &self,
        scope: [u8; 16],
        villages: &[String],
        limit: usize,
    ) -> Result<Vec<RegistryEntry>, StoreError> {
        let wanted: Vec<String> = villages
            .iter()
            .map(|v| NameKey::new(v).as_str().to_owned())
            .collect();
        let conn = self.reader();
        let mut out = Vec::new();
        let mut erased = conn.prepare_cached(
            "SELECT p.beneficiary FROM registry_published p JOIN beneficiaries b ON b.id = p.beneficiary
             WHERE p.scope = ?1 AND p.version < ?2 AND b.erased = 1 LIMIT ?3",
        )?;
        for row in erased.query_map(
            params![scope, i64_of(ERASED_VERSION), i64_of(limit as u64)],
            |r| r.get(0),
        )? {
            out.push(RegistryEntry {
                beneficiary: BeneficiaryId::from_bytes(id16(row?)),
                live: None,
            });
        }
        let mut live = conn.prepare_cached(
            "SELECT b.id, b.village, k.key FROM beneficiaries b JOIN beneficiary_keys k ON k.beneficiary = b.id
             WHERE b.erased = 0
               AND NOT EXISTS (SELECT 1 FROM registry_published p WHERE p.scope = ?1 AND p.beneficiary = b.id)",
        )?;
        let mut rows = live.query(params![scope])?;
        while let Some(row) = rows.next()? {
            if out.len() >= limit {
                break;
            }
            let village: String = row.get(1)?;
            if !wanted.is_empty() && !wanted.contains(&NameKey::new(&village).as_str().to_owned()) {
                continue;
            }
            let beneficiary = BeneficiaryId::from_bytes(id16(row.get(0)?));
            let key: [u8; KEY_LEN] = row
                .get::<_, Vec<u8>>(2)?
                .try_into()
                .map_err(|_| StoreError::Seal)?;
            let Some(event) = registration_event(&conn, beneficiary)? else {
                continue;
            };
            out.push(RegistryEntry {
                beneficiary,
                live: Some((key, event)),
            });
        }
        Ok(out)
    }

    /// The next record seq of this device's log in `scope`.
    pub fn next_record(&self, scope: [u8; 16]) -> Result<u64, StoreError> {
        let n: Option<i64> = self
            .reader()
            .query_row(
                "SELECT next_record FROM outbox_state WHERE scope = ?1",
                [scope],
                |r| r.get(0),
            )
            .optional()?;
        Ok(n.map_or(1, |n| u64::try_from(n).unwrap_or(1)))
    }

    /// Files sealed records in the outbox, with how far the log is now
    /// sealed and which registry entries they publish, in one transaction.
    /// The events newly sealed (up to `sealed_through`) are counted against
    /// the last log record of the batch, until a relay confirms holding it
    /// ([`Store::pending_upload`]).
    pub fn add_outbox(
        &self,
        scope: [u8; 16],
        records: Vec<(u64, Vec<u8>, bool)>,
        sealed_through: Option<u64>,
        published: Vec<(BeneficiaryId, u64)>,
    ) -> Result<(), StoreError> {
        let device = self.device().id.to_bytes();
        self.writer.call(move |w| {
            w.transaction(|tx| {
                let sealed_now: i64 = match sealed_through {
                    Some(through) => tx.query_row(
                        "SELECT COUNT(*) FROM doc_chunks WHERE device = ?1 AND seq <= ?3
                           AND seq > (SELECT sealed_through FROM outbox_state WHERE scope = ?2)",
                        params![device, scope, i64_of(through)],
                        |r| r.get(0),
                    )?,
                    None => 0,
                };
                let carrier = records
                    .iter()
                    .rev()
                    .find(|(_, _, keyed)| !keyed)
                    .map(|(seq, _, _)| *seq);
                let mut next = 0;
                for (seq, bytes, keyed) in &records {
                    let events = if Some(*seq) == carrier { sealed_now } else { 0 };
                    tx.execute(
                        "INSERT INTO outbox (scope, seq, keyed, bytes, events, acked)
                         VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                        params![scope, i64_of(*seq), keyed, bytes, events],
                    )?;
                    next = next.max(*seq + 1);
                }
                if next > 0 {
                    tx.execute(
                        "UPDATE outbox_state SET next_record = MAX(next_record, ?2) WHERE scope = ?1",
                        params![scope, i64_of(next)],
                    )?;
                }
                if let Some(through) = sealed_through {
                    tx.execute(
                        "UPDATE outbox_state SET sealed_through = ?2 WHERE scope = ?1",
                        params![scope, i64_of(through)],
                    )?;
                }
                for (beneficiary, version) in &published {
                    mark_published(tx, scope, *beneficiary, *version)?;
                }
                Ok(())
            })
        })
    }

    /// Sealed records after `after`, in seq order, at most `limit`.
    pub fn outbox_after(
        &self,
        scope: [u8; 16],
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, bytes FROM outbox WHERE scope = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![scope, i64_of(after), i64_of(limit as u64)], |r| {
            Ok((u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A relay holds these records: drop the registry ones (they carry
    /// personal data); keep log records for other relays, marked as
    /// confirmed.
    pub fn outbox_done(&self, scope: [u8; 16], seqs: Vec<u64>) -> Result<(), StoreError> {
        self.writer.call(move |w| {
            w.transaction(|tx| {
                for seq in &seqs {
                    tx.execute(
                        "DELETE FROM outbox WHERE scope = ?1 AND seq = ?2 AND keyed = 1",
                        params![scope, i64_of(*seq)],
                    )?;
                    tx.execute(
                        "UPDATE outbox SET acked = 1 WHERE scope = ?1 AND seq = ?2 AND acked = 0",
                        params![scope, i64_of(*seq)],
                    )?;
                }
                Ok(())
            })
        })
    }

    /// A relay's head for this device's log in `scope` is `through`: it
    /// holds every record up to there (logs have no holes), whoever
    /// uploaded them (this device, or a lead forwarding between relays).
    pub fn outbox_held(&self, scope: [u8; 16], through: u64) -> Result<(), StoreError> {
        if through == 0 {
            return Ok(());
        }
        self.writer.call(move |w| {
            w.transaction(|tx| {
                tx.execute(
                    "UPDATE outbox SET acked = 1 WHERE scope = ?1 AND seq <= ?2 AND acked = 0 AND keyed = 0",
                    params![scope, i64_of(through)],
                )?;
                Ok(())
            })
        })
    }

    /// This device's events that no relay of `scope` holds yet: those not
    /// sealed into a record, plus those in log records no relay has
    /// confirmed. Events recorded before the device joined the convoy stay
    /// local and are not counted; zero for a scope the device is not in.
    pub fn pending_upload(&self, scope: [u8; 16]) -> Result<u64, StoreError> {
        let n: i64 = self.reader().query_row(
            "SELECT
                 (SELECT COUNT(*) FROM doc_chunks WHERE device = ?1
                    AND seq > (SELECT sealed_through FROM outbox_state WHERE scope = ?2))
               + (SELECT COALESCE(SUM(events), 0) FROM outbox
                    WHERE scope = ?2 AND keyed = 0 AND acked = 0)",
            params![self.device().id.to_bytes(), scope],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Per remote device, the last record applied from `scope`.
    pub fn cursors(&self, scope: [u8; 16]) -> Result<Vec<(DeviceId, u64)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT device, seq FROM sync_cursors WHERE scope = ?1 ORDER BY device",
        )?;
        let rows = stmt.query_map([scope], |r| {
            Ok((
                DeviceId::from_bytes(id16(r.get(0)?)),
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records set aside in `scope`: (device, seq, reason).
    pub fn quarantined(&self, scope: [u8; 16]) -> Result<Vec<(DeviceId, u64, String)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT device, seq, reason FROM quarantine WHERE scope = ?1 ORDER BY device, seq",
        )?;
        let rows = stmt.query_map([scope], |r| {
            Ok((
                DeviceId::from_bytes(id16(r.get(0)?)),
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                r.get(2)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Applies received records and advances their cursors, in one
    /// transaction.
    pub fn apply_remote(
        &self,
        scope: [u8; 16],
        records: Vec<Remote>,
        now_ms: u64,
    ) -> Result<Applied, StoreError> {
        let own = self.device().id;
        let nid_key = self.nid_key.clone();
        self.writer
            .call(move |w| apply_all(w, scope, own, &nid_key, records, now_ms))
    }
}

/// The encoded registration event of a person, if this device holds it.
pub(crate) fn registration_event(
    conn: &rusqlite::Connection,
    beneficiary: BeneficiaryId,
) -> Result<Option<Vec<u8>>, StoreError> {
    let bodies: Vec<Vec<u8>> = conn
        .prepare_cached(
            "SELECT body FROM events WHERE kind = 'beneficiary_registered'
             AND household = (SELECT household FROM beneficiaries WHERE id = ?1) ORDER BY at",
        )?
        .query_map([beneficiary.to_bytes()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for body in bodies {
        let event = qafila_doc::codec::decode(&body)?;
        if matches!(&event.body, EventBody::BeneficiaryRegistered { beneficiary: b, .. } if *b == beneficiary)
        {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

fn mark_published(
    tx: &Transaction<'_>,
    scope: [u8; 16],
    beneficiary: BeneficiaryId,
    version: u64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO registry_published (scope, beneficiary, version) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope, beneficiary) DO UPDATE SET version = MAX(version, excluded.version)",
        params![scope, beneficiary.to_bytes(), i64_of(version)],
    )?;
    Ok(())
}

fn apply_all(
    w: &mut Writer,
    scope: [u8; 16],
    own: DeviceId,
    nid_key: &qafila_domain::nid::NidKey,
    records: Vec<Remote>,
    now_ms: u64,
) -> Result<Applied, StoreError> {
    let mut applied = Applied::default();
    // Decode and check every record before writing anything, so a bad
    // record is quarantined whole.
    let mut prepared = Vec::with_capacity(records.len());
    for record in records {
        let content = match record.content {
            RemoteContent::Changes(entries) => match remote_events(record.device, &entries) {
                Ok(events) => Prepared::Events(events),
                Err(reason) => Prepared::Quarantine(reason),
            },
            RemoteContent::Quarantine(reason) => Prepared::Quarantine(reason),
            RemoteContent::Registry { beneficiary, live } => Prepared::Registry(beneficiary, live),
            RemoteContent::Plan(plan) => Prepared::Plan(plan),
        };
        prepared.push((record.device, record.seq, content));
    }
    let tx = w.conn.transaction()?;
    for (device, seq, content) in prepared {
        if device == own {
            continue;
        }
        match content {
            Prepared::Events(events) => {
                for event in events {
                    if insert_remote_event(&tx, &event)? {
                        applied.events += 1;
                    }
                }
            }
            Prepared::Registry(beneficiary, live) => {
                applied.registry += 1;
                take_registry(&tx, scope, beneficiary, live, nid_key)?;
            }
            Prepared::Plan(plan) => apply_plan(&tx, scope, &plan)?,
            Prepared::Quarantine(reason) => {
                applied.quarantined += 1;
                tx.execute(
                    "INSERT OR REPLACE INTO quarantine (scope, device, seq, reason, received_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![scope, device.to_bytes(), i64_of(seq), reason, i64_of(now_ms)],
                )?;
            }
        }
        tx.prepare_cached(
            "INSERT INTO sync_cursors (scope, device, seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (scope, device) DO UPDATE SET seq = MAX(seq, excluded.seq)",
        )?
        .execute(params![scope, device.to_bytes(), i64_of(seq)])?;
    }
    tx.commit()?;
    Ok(applied)
}

enum Prepared {
    Events(Vec<Event>),
    Registry(BeneficiaryId, Option<([u8; KEY_LEN], Vec<u8>)>),
    Plan(Plan),
    Quarantine(String),
}

/// The events a record's changes add, checked. Err is a quarantine reason.
fn remote_events(device: DeviceId, entries: &[LogEntry]) -> Result<Vec<Event>, String> {
    let mut events = Vec::with_capacity(entries.len());
    for entry in entries {
        let added = qafila_doc::device_day::events_in_change(device, &entry.chunk)
            .map_err(|e| format!("change #{}: {}: {e}", entry.seq, e.code()))?;
        for event in added {
            if event.device != device {
                return Err(format!("event {} claims another device", event.id));
            }
            if let Err(e) = event.validate() {
                return Err(format!("event {} is invalid: {}", event.id, e.code()));
            }
            events.push(event);
        }
    }
    Ok(events)
}

/// Inserts a received event and its projections, unless already present.
fn insert_remote_event(tx: &Transaction<'_>, event: &Event) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO events (id, device, seq, at, kind, household, body)
             VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            event.id.to_bytes(),
            event.device.to_bytes(),
            i64_of(event.at.to_u64()),
            projection::kind(event),
            projection::household(event),
            qafila_doc::codec::encode(event)
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    projection::apply(tx, event)?;
    Ok(true)
}

fn take_registry(
    tx: &Transaction<'_>,
    scope: [u8; 16],
    beneficiary: BeneficiaryId,
    live: Option<([u8; KEY_LEN], Vec<u8>)>,
    nid_key: &qafila_domain::nid::NidKey,
) -> Result<(), StoreError> {
    let Some((key, body)) = live else {
        projection::erase_personal(tx, beneficiary.to_bytes())?;
        tx.execute(
            "INSERT OR IGNORE INTO beneficiaries (id, household, village, erased, registered) VALUES (?1, ?2, '', 1, 0)",
            params![beneficiary.to_bytes(), [0u8; 16]],
        )?;
        mark_published(tx, scope, beneficiary, ERASED_VERSION)?;
        return Ok(());
    };
    mark_published(tx, scope, beneficiary, LIVE_VERSION)?;
    let erased: Option<i64> = tx
        .query_row(
            "SELECT erased FROM beneficiaries WHERE id = ?1",
            [beneficiary.to_bytes()],
            |r| r.get(0),
        )
        .optional()?;
    if erased == Some(1) {
        return Ok(()); // erasure is final
    }
    let Ok(event) = qafila_doc::codec::decode(&body) else {
        return Ok(());
    };
    let EventBody::BeneficiaryRegistered {
        beneficiary: b,
        personal: sealed,
        ..
    } = &event.body
    else {
        return Ok(());
    };
    if *b != beneficiary || event.validate().is_err() {
        return Ok(());
    }
    insert_remote_event(tx, &event)?;
    let Ok(person) = personal::open(&key, beneficiary, sealed) else {
        return Ok(());
    };
    tx.execute(
        "INSERT OR IGNORE INTO beneficiary_keys (beneficiary, key) VALUES (?1, ?2)",
        params![beneficiary.to_bytes(), key.to_vec()],
    )?;
    // Matching uses this device's own national-ID key.
    let nid_hash = person
        .national_id
        .as_deref()
        .and_then(|n| qafila_domain::nid::NationalId::parse(n, NaiveDate::MAX).ok())
        .map(|n| nid_key.hash(&n).as_bytes().to_vec());
    write_personal(tx, beneficiary, &person, nid_hash)?;
    Ok(())
}

/// Writes a person's searchable projection rows from their personal data.
pub(crate) fn write_personal(
    tx: &Transaction<'_>,
    beneficiary: BeneficiaryId,
    person: &Personal,
    nid_hash: Option<Vec<u8>>,
) -> Result<(), StoreError> {
    let name_key = NameKey::new(&person.name);
    let last4 = person
        .national_id
        .as_ref()
        .map(|n| n.chars().skip(10).collect::<String>());
    tx.execute(
        "UPDATE beneficiaries SET name = ?2, name_key = ?3, phone = ?4, nid_last4 = ?5 WHERE id = ?1",
        params![beneficiary.to_bytes(), person.name, name_key.as_str(), person.phone, last4],
    )?;
    if let Some(hash) = nid_hash {
        tx.execute(
            "UPDATE OR IGNORE beneficiaries SET nid_hash = ?2 WHERE id = ?1",
            params![beneficiary.to_bytes(), hash],
        )?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO name_tokens (token, beneficiary, position) VALUES (?1, ?2, ?3)",
    )?;
    for (position, token) in name_key.tokens().enumerate() {
        insert.execute(params![
            token,
            beneficiary.to_bytes(),
            i64::try_from(position).unwrap_or(i64::MAX)
        ])?;
    }
    Ok(())
}

fn apply_plan(tx: &Transaction<'_>, scope: [u8; 16], plan: &Plan) -> Result<(), StoreError> {
    let names: Vec<&str> = plan.sites.iter().map(|(_, n)| n.as_str()).collect();
    tx.execute(
        "UPDATE convoys SET name = ?2, day = ?3, sites = ?4 WHERE id = ?1",
        params![scope, plan.name, plan.day, names.join("\n")],
    )?;
    for (id, name) in &plan.sites {
        let key = NameKey::new(name).as_str().to_owned();
        tx.execute(
            "INSERT INTO sites (id, name, name_key) VALUES (?1, ?2, ?3)
             ON CONFLICT (name_key) DO UPDATE SET id = excluded.id",
            params![id.to_bytes(), name, key],
        )?;
    }
    for (index, (id, name, entitlements)) in plan.rounds.iter().enumerate() {
        let exists: Option<i64> = tx
            .query_row("SELECT 1 FROM rounds WHERE id = ?1", [id.to_bytes()], |r| {
                r.get(0)
            })
            .optional()?;
        if exists.is_none() {
            let taken: Option<i64> = tx
                .query_row("SELECT 1 FROM rounds WHERE name = ?1", [name], |r| r.get(0))
                .optional()?;
            let name = if taken.is_some() {
                format!("{name} ({})", &id.to_string()[..8])
            } else {
                name.clone()
            };
            tx.execute(
                "INSERT INTO rounds (id, name, entitlements, created_ms, is_current) VALUES (?1, ?2, ?3, 0, 0)",
                params![id.to_bytes(), name, entitlements],
            )?;
        }
        if index == 0 {
            tx.execute("UPDATE rounds SET is_current = (id = ?1)", [id.to_bytes()])?;
        }
    }
    Ok(())
}
