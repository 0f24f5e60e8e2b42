//! What sync needs from the store: this device's keys, its convoys, scope
//! keys and roster, the outbox of sealed records, per-device cursors, and
//! applying received records.
//!
//! Received records are applied on the writer thread in one transaction
//! with their cursors and chain state: a record is applied and its cursor
//! advanced together, or neither. A record whose content cannot be applied
//! (malformed Automerge, an event that fails validation, an event claiming
//! another device, content its sender's role does not allow) is
//! quarantined: its cursor advances, nothing of it is applied, and it is
//! listed for the lead.
//!
//! The sync layer decides which certificates and key generations to trust
//! (`qafila-sync`); this module stores what it decided: [`RosterEntry`]s
//! with every [`CertRecord`] version, [`ScopeKey`]s (signed or from before
//! signing), chain heads, and the lead's invite secrets.

use chrono::NaiveDate;
use qafila_domain::convoy_time::ConvoyTime;
use qafila_domain::event::{Event, EventBody};
use qafila_domain::ids::{BeneficiaryId, DeviceId, RoundId, SiteId};
use qafila_domain::names::NameKey;
use qafila_domain::role::Role;
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
    /// Other relays the lead published it on (a revocation goes to each).
    pub relays: Vec<String>,
    /// Its time zone and the hour its day ends (from the lead's plan).
    pub time: ConvoyTime,
}

/// One certificate the lead signed for a device, as checked by the sync
/// layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRecord {
    /// Its version (0: from before roles).
    pub version: u32,
    /// `registrar`, `storekeeper`, `volunteer`, or `legacy` (version 0).
    pub role: String,
    /// `approved` or `revoked`.
    pub standing: String,
    /// The first record of the device's log it governs.
    pub since: u64,
    /// The chain hash of the device's log record before `since`, as the
    /// lead had it (zeros: none or unknown).
    pub prior_hash: [u8; 32],
    /// For a revocation: the key generation made without the device.
    pub rotated_to: u32,
    /// The roles the device held before `since`, as the lead signed them:
    /// `(since, role)` oldest first, role as in [`CertRecord::role`].
    pub earlier: Vec<(u64, String)>,
    /// The signed bytes, to pass on to relays that lack it.
    pub bytes: Vec<u8>,
}

/// What governs one record of a device's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Governing {
    /// What the device could do when it made the record (`None`: it was
    /// certified before roles, and its records are taken as they were).
    pub role: Option<Role>,
    /// Made after the lead's revocation point.
    pub revoked: bool,
}

impl CertRecord {
    /// The role it grants; `None` for a certificate from before roles,
    /// whose records are taken as they were before.
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }

    /// Whether it revokes the device.
    pub fn is_revocation(&self) -> bool {
        self.standing == "revoked"
    }
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
    /// `approved` or `revoked` (final).
    pub status: String,
    /// The newest certificate's role (`lead` for the lead).
    pub role: String,
    /// The newest certificate's version.
    pub version: u32,
    /// Every certificate version known, oldest first (none for the lead).
    pub certificates: Vec<CertRecord>,
}

impl RosterEntry {
    /// What governs record `seq` of this device's log, judged the same on
    /// every device whichever certificates it happened to see: the
    /// revocation (final) or else the newest certificate from its `since`
    /// on; before that, the earlier roles that certificate lists, else the
    /// older certificates this device holds. A revocation from before roles
    /// names no point: the relay alone stopped the device then, and its
    /// records are taken as they were. `None`: no certificate known.
    pub fn governing(&self, seq: u64) -> Option<Governing> {
        let head = self
            .revocation()
            .or_else(|| self.certificates.iter().max_by_key(|c| c.version))?;
        if head.is_revocation() && head.version == 0 {
            return Some(Governing {
                role: None,
                revoked: false,
            });
        }
        if seq >= head.since {
            return Some(Governing {
                role: head.role(),
                revoked: head.is_revocation(),
            });
        }
        let role = match head
            .earlier
            .iter()
            .rev()
            .find(|(since, _)| *since <= seq)
            .or(head.earlier.first())
        {
            Some((_, role)) => Role::parse(role),
            None => self
                .certificates
                .iter()
                .filter(|c| !c.is_revocation() && c.since <= seq)
                .max_by_key(|c| c.version)
                .unwrap_or(head)
                .role(),
        };
        Some(Governing {
            role,
            revoked: false,
        })
    }

    /// Whether the device was certified before roles at some point (or is
    /// known from before certificates were kept): its log may start with
    /// records sealed before chains.
    pub fn certified_before_roles(&self) -> bool {
        self.certificates.is_empty()
            || self.certificates.iter().any(|c| {
                c.version == 0
                    || c.earlier
                        .iter()
                        .any(|(_, role)| Role::parse(role).is_none())
            })
    }

    /// The revocation, if the device is revoked: the first one (a
    /// revocation is final), a current one before one from before roles.
    pub fn revocation(&self) -> Option<&CertRecord> {
        self.certificates
            .iter()
            .filter(|c| c.is_revocation())
            .min_by_key(|c| (c.version == 0, c.version))
    }
}

/// Reads the `earlier` column: "since role" lines.
fn periods(text: &str) -> Vec<(u64, String)> {
    text.lines()
        .filter_map(|line| {
            let (since, role) = line.split_once(' ')?;
            Some((since.parse().ok()?, role.to_owned()))
        })
        .collect()
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
    /// Keys national-ID hashes on every device of the convoy (stable;
    /// `None` for convoys made before it existed).
    pub nid_secret: Option<[u8; 32]>,
    /// Whether it came in a grant the lead signed (or was made here).
    pub signed: bool,
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
    /// The convoy's time zone and the hour its day ends.
    pub time: ConvoyTime,
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
    /// The role its sender was certified for at this seq (`None`: a
    /// certificate from before roles, taken as before).
    pub role: Option<Role>,
    /// What it does to the sender's chain.
    pub chain: Chain,
    /// What it holds.
    pub content: RemoteContent,
}

/// A registry record a device's log record says it sealed: the receiver
/// must hold it, a newer version of its key, or the device's filler in its
/// place (a relay drops only a record a newer version replaced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Whose.
    pub device: DeviceId,
    /// Its seq.
    pub seq: u64,
    /// Its key.
    pub key: [u8; 32],
    /// Its version.
    pub version: u64,
}

/// What a batch of received records says about registry records, kept with
/// the records in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryNotes {
    /// Registry records received: key and version.
    pub seen: Vec<([u8; 32], u64)>,
    /// Fillers received: whose and which seq.
    pub fillers: Vec<(DeviceId, u64)>,
    /// Registry records listed by log records received.
    pub claims: Vec<Claim>,
    /// The relay they came from.
    pub relay: String,
}

/// What a received record does to the chain kept for its sender's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// Nothing (a registry record or a filler).
    Keep,
    /// This is now the last log record taken: its seq and hash.
    Set(u64, [u8; 32]),
    /// A record from before chains: the next one is taken on trust.
    Unknown,
}

/// Where this device stands with one remote device's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The device.
    pub device: DeviceId,
    /// The last record taken (applied or set aside).
    pub seq: u64,
    /// The last log record taken: seq and hash (`None`: not known).
    pub chain: Option<(u64, [u8; 32])>,
}

/// Where this device's own log stands in a scope, for chaining the next
/// record it seals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainHead {
    /// The last log record sealed: its seq and chain hash.
    Known(u64, [u8; 32]),
    /// Not recorded (sealed before chains): the last log record's seq and
    /// bytes, for the sync layer to hash.
    Last(u64, Vec<u8>),
    /// No log record sealed yet.
    Empty,
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
    /// Events stamped further ahead of this device's time than its hybrid
    /// clock's drift limit: kept, but not adopted as this device's time
    /// (their phone's clock was wrong).
    pub future_stamps: u64,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
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
                    "INSERT INTO convoys (id, name, day, relay, role, status, lead, lead_signing, sites, joined_ms, relays, zone, day_ends)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?11, ?12)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, day = excluded.day,
                         relay = excluded.relay, status = excluded.status, sites = excluded.sites,
                         relays = excluded.relays, zone = excluded.zone, day_ends = excluded.day_ends",
                    params![
                        convoy.id,
                        convoy.name,
                        convoy.day,
                        convoy.relay,
                        convoy.role,
                        convoy.status,
                        convoy.lead.to_bytes(),
                        convoy.lead_signing,
                        convoy.sites.join("\n"),
                        convoy.relays.join("\n"),
                        convoy.time.zone_name(),
                        convoy.time.day_ends()
                    ],
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO outbox_state (scope, next_record, sealed_through)
                     VALUES (?1, 1, (SELECT next_seq - 1 FROM device))",
                    [convoy.id],
                )?;
                Ok(())
            })?;
            w.own_roles = None;
            Ok(())
        })
    }

    /// Every convoy this device belongs to, newest first.
    pub fn convoys(&self) -> Result<Vec<Convoy>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, day, relay, role, status, lead, lead_signing, sites, relays, zone, day_ends FROM convoys ORDER BY id DESC",
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
                sites: lines(&r.get::<_, String>(8)?),
                relays: lines(&r.get::<_, String>(9)?),
                time: ConvoyTime::new(&r.get::<_, String>(10)?, r.get(11)?).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores scope key generations (already unwrapped and, when
    /// `signed`, checked against the lead's grant). A signed generation
    /// replaces an unsigned one of the same epoch (which a relay could have
    /// planted before grants were signed). The first national-ID secret the
    /// device receives keys its projections from then on.
    pub fn put_scope_keys(&self, scope: [u8; 16], keys: Vec<ScopeKey>) -> Result<(), StoreError> {
        let nid = self.nid_key.clone();
        self.writer.call(move |w| {
            w.transaction(|tx| {
                for key in &keys {
                    tx.execute(
                        "INSERT INTO scope_keys (scope, epoch, key, index_secret, nid_secret, signed)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (scope, epoch) DO UPDATE SET key = excluded.key,
                             index_secret = excluded.index_secret, nid_secret = excluded.nid_secret,
                             signed = 1
                         WHERE scope_keys.signed = 0 AND excluded.signed = 1",
                        params![
                            scope,
                            key.epoch,
                            key.key,
                            key.index_secret,
                            key.nid_secret.map(|s| s.to_vec()),
                            key.signed
                        ],
                    )?;
                }
                match keys.iter().find_map(|k| k.nid_secret) {
                    Some(secret) => adopt_nid_secret(tx, scope, secret),
                    None => Ok(None),
                }
            })
            .map(|adopted| {
                if let Some(key) = adopted {
                    *nid.write().unwrap_or_else(std::sync::PoisonError::into_inner) = key;
                }
            })
        })
    }

    /// A scope's key generations, oldest first.
    pub fn scope_keys(&self, scope: [u8; 16]) -> Result<Vec<ScopeKey>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT epoch, key, index_secret, nid_secret, signed FROM scope_keys WHERE scope = ?1 ORDER BY epoch",
        )?;
        let rows = stmt.query_map([scope], |r| {
            Ok(ScopeKey {
                epoch: r.get(0)?,
                key: id32(r.get(1)?),
                index_secret: id32(r.get(2)?),
                nid_secret: r.get::<_, Option<Vec<u8>>>(3)?.map(id32),
                signed: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Merges certificates into a scope's roster: new versions are added,
    /// and a device's status and role follow its newest certificate, except
    /// that a revoked device stays revoked.
    pub fn put_roster(&self, scope: [u8; 16], roster: Vec<RosterEntry>) -> Result<(), StoreError> {
        self.writer.call(move |w| {
            w.transaction(|tx| {
                for entry in &roster {
                    tx.execute(
                        "INSERT INTO roster (scope, device, name, signing, encryption, status, role, version)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT (scope, device) DO UPDATE SET
                             name = CASE WHEN excluded.version >= roster.version THEN excluded.name ELSE roster.name END,
                             role = CASE WHEN excluded.version >= roster.version THEN excluded.role ELSE roster.role END,
                             version = MAX(roster.version, excluded.version),
                             status = CASE WHEN roster.status = 'revoked' THEN 'revoked' ELSE excluded.status END",
                        params![
                            scope,
                            entry.device.to_bytes(),
                            entry.name,
                            entry.signing,
                            entry.encryption,
                            entry.status,
                            entry.role,
                            entry.version
                        ],
                    )?;
                    for cert in &entry.certificates {
                        let earlier: Vec<String> = cert
                            .earlier
                            .iter()
                            .map(|(since, role)| format!("{since} {role}"))
                            .collect();
                        tx.execute(
                            "INSERT OR IGNORE INTO roster_certs
                                 (scope, device, version, role, standing, since, prior_hash, rotated_to, certificate, earlier)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                            params![
                                scope,
                                entry.device.to_bytes(),
                                cert.version,
                                cert.role,
                                cert.standing,
                                i64_of(cert.since),
                                cert.prior_hash,
                                cert.rotated_to,
                                cert.bytes,
                                earlier.join("\n")
                            ],
                        )?;
                    }
                }
                Ok(())
            })?;
            w.own_roles = None;
            Ok(())
        })
    }

    /// A scope's roster, with every certificate version of each device.
    pub fn roster(&self, scope: [u8; 16]) -> Result<Vec<RosterEntry>, StoreError> {
        let conn = self.reader();
        let mut certs: std::collections::HashMap<Vec<u8>, Vec<CertRecord>> =
            std::collections::HashMap::new();
        let mut stmt = conn.prepare_cached(
            "SELECT device, version, role, standing, since, prior_hash, rotated_to, certificate, earlier
             FROM roster_certs WHERE scope = ?1 ORDER BY device, version, standing",
        )?;
        let rows = stmt.query_map([scope], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                CertRecord {
                    version: r.get(1)?,
                    role: r.get(2)?,
                    standing: r.get(3)?,
                    since: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(u64::MAX),
                    prior_hash: id32(r.get(5)?),
                    rotated_to: r.get(6)?,
                    bytes: r.get(7)?,
                    earlier: periods(&r.get::<_, String>(8)?),
                },
            ))
        })?;
        for row in rows {
            let (device, cert) = row?;
            certs.entry(device).or_default().push(cert);
        }
        let mut stmt = conn.prepare_cached(
            "SELECT device, name, signing, encryption, status, role, version FROM roster
             WHERE scope = ?1 ORDER BY device",
        )?;
        let rows = stmt.query_map([scope], |r| {
            let device: Vec<u8> = r.get(0)?;
            Ok(RosterEntry {
                certificates: certs.remove(&device).unwrap_or_default(),
                device: DeviceId::from_bytes(id16(device)),
                name: r.get(1)?,
                signing: id32(r.get(2)?),
                encryption: id32(r.get(3)?),
                status: r.get(4)?,
                role: r.get(5)?,
                version: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Where this device's own log in `scope` stands, for chaining the next
    /// log record it seals.
    pub fn chain_head(&self, scope: [u8; 16]) -> Result<ChainHead, StoreError> {
        let conn = self.reader();
        let known: Option<(Option<i64>, Option<Vec<u8>>)> = conn
            .query_row(
                "SELECT chain_seq, chain_hash FROM outbox_state WHERE scope = ?1",
                [scope],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((Some(seq), Some(hash))) = known {
            return Ok(ChainHead::Known(
                u64::try_from(seq).unwrap_or(0),
                id32(hash),
            ));
        }
        let last: Option<(i64, Vec<u8>)> = conn
            .query_row(
                "SELECT seq, bytes FROM outbox WHERE scope = ?1 AND keyed = 0 ORDER BY seq DESC LIMIT 1",
                [scope],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match last {
            Some((seq, bytes)) => ChainHead::Last(u64::try_from(seq).unwrap_or(0), bytes),
            None => ChainHead::Empty,
        })
    }

    /// Keeps an invite code's secret (on the lead), to check the binding of
    /// the device that enrolls with it.
    pub fn put_lead_invite(
        &self,
        scope: [u8; 16],
        code_hash: String,
        secret: String,
        expires_ms: u64,
    ) -> Result<(), StoreError> {
        self.writer.call(move |w| {
            w.transaction(|tx| {
                tx.execute(
                    "INSERT OR REPLACE INTO lead_invites (code_hash, scope, secret, expires_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![code_hash, scope, secret, i64_of(expires_ms)],
                )?;
                Ok(())
            })
        })
    }

    /// The secret of an invite this lead made, by its lookup hash, and the
    /// device whose keys it bound at an approval, if any.
    pub fn lead_invite(
        &self,
        code_hash: &str,
    ) -> Result<Option<(String, Option<DeviceId>)>, StoreError> {
        Ok(self
            .reader()
            .query_row(
                "SELECT secret, used_by FROM lead_invites WHERE code_hash = ?1",
                [code_hash],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, Option<Vec<u8>>>(1)?
                            .map(|d| DeviceId::from_bytes(id16(d))),
                    ))
                },
            )
            .optional()?)
    }

    /// Records that an invite bound `device`'s keys at its approval: the
    /// code binds no other device after.
    pub fn use_lead_invite(&self, code_hash: String, device: DeviceId) -> Result<(), StoreError> {
        self.writer.call(move |w| {
            w.conn.execute(
                "UPDATE lead_invites SET used_by = ?2 WHERE code_hash = ?1 AND used_by IS NULL",
                params![code_hash, device.to_bytes()],
            )?;
            Ok(())
        })
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
    /// `chain` is the last log record among them (seq and chain hash).
    pub fn add_outbox(
        &self,
        scope: [u8; 16],
        records: Vec<(u64, Vec<u8>, bool)>,
        sealed_through: Option<u64>,
        published: Vec<(BeneficiaryId, u64, [u8; 32])>,
        chain: Option<(u64, [u8; 32])>,
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
                for (beneficiary, version, key) in &published {
                    mark_published(tx, scope, *beneficiary, *version)?;
                    note_key(tx, scope, *key, *version)?;
                }
                if let Some((seq, hash)) = chain {
                    tx.execute(
                        "UPDATE outbox_state SET chain_seq = ?2, chain_hash = ?3 WHERE scope = ?1",
                        params![scope, i64_of(seq), hash],
                    )?;
                }
                Ok(())
            })
        })
    }

    /// This device's record `seq` of `scope`, if no relay has confirmed
    /// holding it yet.
    pub fn unconfirmed_record(
        &self,
        scope: [u8; 16],
        seq: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .reader()
            .query_row(
                "SELECT bytes FROM outbox WHERE scope = ?1 AND seq = ?2 AND acked = 0",
                params![scope, i64_of(seq)],
                |r| r.get(0),
            )
            .optional()?)
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

    /// Per remote device, the last record taken from `scope`, and the last
    /// log record's chain.
    pub fn cursors(&self, scope: [u8; 16]) -> Result<Vec<Cursor>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT device, seq, chain_seq, chain_hash FROM sync_cursors WHERE scope = ?1 ORDER BY device",
        )?;
        let rows = stmt.query_map([scope], |r| {
            let chain_seq: Option<i64> = r.get(2)?;
            let chain_hash: Option<Vec<u8>> = r.get(3)?;
            Ok(Cursor {
                device: DeviceId::from_bytes(id16(r.get(0)?)),
                seq: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                chain: match (chain_seq, chain_hash) {
                    (Some(seq), Some(hash)) => Some((u64::try_from(seq).unwrap_or(0), id32(hash))),
                    _ => None,
                },
            })
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
        self.apply_remote_noting(scope, records, RegistryNotes::default(), now_ms)
    }

    /// [`Store::apply_remote`], keeping in the same transaction what the
    /// records say about registry records.
    pub fn apply_remote_noting(
        &self,
        scope: [u8; 16],
        records: Vec<Remote>,
        notes: RegistryNotes,
        now_ms: u64,
    ) -> Result<Applied, StoreError> {
        let own = self.device().id;
        let nid_key = self.nid_key.clone();
        self.writer
            .call(move |w| apply_all(w, scope, own, &nid_key, records, &notes, now_ms))
    }

    /// Accounts for the registry records `relay` listed to this device:
    /// those it now holds (or a newer version of their key, or a filler in
    /// their place) are forgotten, and the rest returned. With `settle`
    /// (a sync with `relay` that held nothing back), the rest are set aside
    /// for good: listed with the lead's other anomalies as dropped by the
    /// relay. Claims another relay listed wait for a clean sync with it.
    pub fn account_claims(
        &self,
        scope: [u8; 16],
        relay: &str,
        settle: bool,
        now_ms: u64,
    ) -> Result<Vec<Claim>, StoreError> {
        let relay = relay.to_owned();
        self.writer.call(move |w| {
            w.transaction(|tx| {
                tx.execute(
                    "DELETE FROM registry_claims WHERE scope = ?1 AND (
                         EXISTS (SELECT 1 FROM registry_keys k WHERE k.scope = ?1
                                 AND k.key = registry_claims.key AND k.version >= registry_claims.version)
                      OR EXISTS (SELECT 1 FROM registry_fillers f WHERE f.scope = ?1
                                 AND f.device = registry_claims.device AND f.seq = registry_claims.seq))",
                    [scope],
                )?;
                let open: Vec<Claim> = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT device, seq, key, version FROM registry_claims
                         WHERE scope = ?1 AND relay = ?2 ORDER BY device, seq",
                    )?;
                    let rows = stmt.query_map(params![scope, relay], |r| {
                        Ok(Claim {
                            device: DeviceId::from_bytes(id16(r.get(0)?)),
                            seq: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                            key: id32(r.get(2)?),
                            version: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(u64::MAX),
                        })
                    })?;
                    rows.collect::<Result<_, _>>()?
                };
                if !settle {
                    return Ok(open);
                }
                for claim in &open {
                    tx.execute(
                        "INSERT OR IGNORE INTO quarantine (scope, device, seq, reason, received_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            scope,
                            claim.device.to_bytes(),
                            i64_of(claim.seq),
                            "a registry record its device listed, dropped by the relay (neither delivered nor replaced by a newer version)",
                            i64_of(now_ms)
                        ],
                    )?;
                }
                tx.execute(
                    "DELETE FROM registry_claims WHERE scope = ?1 AND relay = ?2",
                    params![scope, relay],
                )?;
                Ok(open)
            })
        })
    }

    /// Every person this device has published or received a registry
    /// entry of in `scope`, with the newest version: for a store from
    /// before registry keys were noted, to note them.
    pub fn registry_versions(
        &self,
        scope: [u8; 16],
    ) -> Result<Vec<(BeneficiaryId, u64)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT beneficiary, version FROM registry_published WHERE scope = ?1",
        )?;
        let rows = stmt.query_map([scope], |r| {
            Ok((
                BeneficiaryId::from_bytes(id16(r.get(0)?)),
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(u64::MAX),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Notes registry keys seen (their newest version), outside a batch.
    pub fn note_registry_keys(
        &self,
        scope: [u8; 16],
        keys: Vec<([u8; 32], u64)>,
    ) -> Result<(), StoreError> {
        self.writer.call(move |w| {
            w.transaction(|tx| {
                for (key, version) in keys {
                    note_key(tx, scope, key, version)?;
                }
                Ok(())
            })
        })
    }
}

/// Keys this device's national-ID hashes with a convoy's secret, the first
/// time it receives one: every hash in the projections is computed again
/// from the sealed national IDs. Returns the new key when it adopted it.
fn adopt_nid_secret(
    tx: &Transaction<'_>,
    scope: [u8; 16],
    secret: [u8; 32],
) -> Result<Option<qafila_domain::nid::NidKey>, StoreError> {
    let adopted: Option<Vec<u8>> = tx.query_row(
        "SELECT nid_scope FROM device WHERE singleton = 1",
        [],
        |r| r.get(0),
    )?;
    if adopted.is_some() {
        return Ok(None);
    }
    let key = qafila_domain::nid::NidKey::new(&secret).map_err(|_| StoreError::Seal)?;
    tx.execute(
        "UPDATE device SET nid_secret = ?1, nid_scope = ?2 WHERE singleton = 1",
        params![secret.to_vec(), scope],
    )?;
    let people: Vec<(Vec<u8>, Vec<u8>)> = tx
        .prepare(
            "SELECT b.id, k.key FROM beneficiaries b JOIN beneficiary_keys k ON k.beneficiary = b.id
             WHERE b.erased = 0",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, person_key) in people {
        let beneficiary = BeneficiaryId::from_bytes(id16(id));
        let Ok(person_key) = <[u8; KEY_LEN]>::try_from(person_key) else {
            continue;
        };
        let hash = current_national_id(tx, beneficiary, &person_key)?
            .map(|nid| key.hash(&nid).as_bytes().to_vec());
        tx.execute(
            "UPDATE beneficiaries SET nid_hash = ?2 WHERE id = ?1",
            params![beneficiary.to_bytes(), hash],
        )?;
    }
    Ok(Some(key))
}

/// A person's national ID, unsealed from their registration.
fn current_national_id(
    conn: &rusqlite::Connection,
    beneficiary: BeneficiaryId,
    key: &[u8; KEY_LEN],
) -> Result<Option<qafila_domain::nid::NationalId>, StoreError> {
    let Some(body) = registration_event(conn, beneficiary)? else {
        return Ok(None);
    };
    let event = qafila_doc::codec::decode(&body)?;
    let EventBody::BeneficiaryRegistered {
        personal: sealed, ..
    } = &event.body
    else {
        return Ok(None);
    };
    let Ok(person) = personal::open(key, beneficiary, sealed) else {
        return Ok(None);
    };
    Ok(person
        .national_id
        .as_deref()
        .and_then(|n| qafila_domain::nid::NationalId::parse(n, NaiveDate::MAX).ok()))
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

/// Keeps the newest version seen of a registry key.
fn note_key(
    tx: &Transaction<'_>,
    scope: [u8; 16],
    key: [u8; 32],
    version: u64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO registry_keys (scope, key, version) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope, key) DO UPDATE SET version = MAX(version, excluded.version)",
    )?
    .execute(params![scope, key, i64_of(version)])?;
    Ok(())
}

fn note_registry(
    tx: &Transaction<'_>,
    scope: [u8; 16],
    notes: &RegistryNotes,
) -> Result<(), StoreError> {
    for (key, version) in &notes.seen {
        note_key(tx, scope, *key, *version)?;
    }
    for (device, seq) in &notes.fillers {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO registry_fillers (scope, device, seq) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![scope, device.to_bytes(), i64_of(*seq)])?;
    }
    for claim in &notes.claims {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO registry_claims (scope, device, seq, key, version, relay)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            scope,
            claim.device.to_bytes(),
            i64_of(claim.seq),
            claim.key,
            i64_of(claim.version),
            notes.relay
        ])?;
    }
    Ok(())
}

fn apply_all(
    w: &mut Writer,
    scope: [u8; 16],
    own: DeviceId,
    nid_key: &std::sync::RwLock<qafila_domain::nid::NidKey>,
    records: Vec<Remote>,
    notes: &RegistryNotes,
    now_ms: u64,
) -> Result<Applied, StoreError> {
    let mut applied = Applied::default();
    // Decode and check every record before writing anything, so a bad
    // record is quarantined whole.
    let mut prepared = Vec::with_capacity(records.len());
    for record in records {
        let content = match record.content {
            RemoteContent::Changes(entries) => {
                match remote_events(record.device, record.role, &entries) {
                    Ok(events) => Prepared::Events(events),
                    Err(reason) => Prepared::Quarantine(reason),
                }
            }
            RemoteContent::Quarantine(reason) => Prepared::Quarantine(reason),
            RemoteContent::Registry { .. } if !keeps_registry(record.role) => {
                Prepared::Quarantine(forbidden(record.role, "registry entries"))
            }
            RemoteContent::Registry { beneficiary, live } => Prepared::Registry(beneficiary, live),
            RemoteContent::Plan(_) if record.role != Some(Role::Lead) => {
                Prepared::Quarantine("only the convoy lead may change the plan".into())
            }
            RemoteContent::Plan(plan) => Prepared::Plan(plan),
        };
        prepared.push((record.device, record.seq, record.chain, content));
    }
    let nid_key = nid_key.read().map_err(|_| StoreError::WriterGone)?.clone();
    let mut wipe = false;
    let tx = w.conn.transaction()?;
    for (device, seq, chain, content) in prepared {
        if device == own {
            continue;
        }
        match content {
            Prepared::Events(events) => {
                for event in events {
                    if matches!(event.body, EventBody::BeneficiaryErased { .. }) {
                        wipe = true;
                    }
                    if insert_remote_event(&tx, &event)? {
                        applied.events += 1;
                        if w.clock.observe(event.at, now_ms).is_err() {
                            applied.future_stamps += 1;
                        }
                    }
                }
            }
            Prepared::Registry(beneficiary, live) => {
                // An entry may replace (erase) the one before it.
                wipe = true;
                applied.registry += 1;
                take_registry(&tx, scope, beneficiary, live, &nid_key)?;
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
        let (chain_seq, chain_hash): (Option<i64>, Option<Vec<u8>>) = match chain {
            Chain::Set(seq, hash) => (Some(i64_of(seq)), Some(hash.to_vec())),
            Chain::Keep | Chain::Unknown => (None, None),
        };
        tx.prepare_cached(
            "INSERT INTO sync_cursors (scope, device, seq, chain_seq, chain_hash) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (scope, device) DO UPDATE SET seq = MAX(seq, excluded.seq),
                 chain_seq = CASE ?6 WHEN 0 THEN chain_seq ELSE excluded.chain_seq END,
                 chain_hash = CASE ?6 WHEN 0 THEN chain_hash ELSE excluded.chain_hash END",
        )?
        .execute(params![
            scope,
            device.to_bytes(),
            i64_of(seq),
            chain_seq,
            chain_hash,
            i64::from(chain != Chain::Keep)
        ])?;
    }
    note_registry(&tx, scope, notes)?;
    tx.execute(
        "UPDATE device SET clock = ?1 WHERE singleton = 1",
        [i64::try_from(w.clock.last().to_u64()).unwrap_or(i64::MAX)],
    )?;
    tx.commit()?;
    if wipe {
        w.wipe_wal();
    }
    Ok(applied)
}

/// Whether a sender certified as `role` may publish registry entries
/// (`None`: certified before roles, taken as before).
fn keeps_registry(role: Option<Role>) -> bool {
    role.is_none_or(|r| matches!(r, Role::Lead | Role::Registrar))
}

fn forbidden(role: Option<Role>, what: &str) -> String {
    format!(
        "a device certified as {} may not send {what}",
        role.map_or("legacy", Role::code)
    )
}

enum Prepared {
    Events(Vec<Event>),
    Registry(BeneficiaryId, Option<([u8; KEY_LEN], Vec<u8>)>),
    Plan(Plan),
    Quarantine(String),
}

/// The events a record's changes add, checked: each names its sender, is
/// valid, and is work the sender's role may do. Err is a quarantine reason.
fn remote_events(
    device: DeviceId,
    role: Option<Role>,
    entries: &[LogEntry],
) -> Result<Vec<Event>, String> {
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
            if let Some(role) = role
                && let Err(e) = qafila_domain::role::permits(role, device, &event.body)
            {
                return Err(format!("event {}: {e}", event.id));
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

pub(crate) fn take_registry(
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

pub(crate) fn apply_plan(
    tx: &Transaction<'_>,
    scope: [u8; 16],
    plan: &Plan,
) -> Result<(), StoreError> {
    let names: Vec<&str> = plan.sites.iter().map(|(_, n)| n.as_str()).collect();
    tx.execute(
        "UPDATE convoys SET name = ?2, day = ?3, sites = ?4, zone = ?5, day_ends = ?6 WHERE id = ?1",
        params![
            scope,
            plan.name,
            plan.day,
            names.join("\n"),
            plan.time.zone_name(),
            plan.time.day_ends()
        ],
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
