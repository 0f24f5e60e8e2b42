//! Cards, issuer keys, merges and the duplicate queue's decisions.
//!
//! The store keeps bytes and ids only; signing and verifying are
//! `qafila-cards`' job, driven by the app façade. Projections here are
//! order-independent like the others: a revocation that arrives before the
//! card it revokes still revokes it, and of two revocations of one serial the
//! one with the smaller event id is shown, whatever arrived first.

use qafila_domain::event::{Event, EventBody};
use qafila_domain::ids::{BeneficiaryId, CardSerial, HouseholdId, RoundId, VolunteerId};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::Store;
use crate::error::StoreError;

/// An issuer key a device trusts (the public half).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The key's short id.
    pub key_id: u16,
    /// The Ed25519 public key.
    pub public: [u8; 32],
    /// Its association.
    pub association: String,
    /// Why the lead withdrew it, if it did: its cards are refused.
    pub withdrawn: Option<String>,
    /// Whether the device that announced it has been revoked: its cards
    /// are trusted only for numbers this device saw issued.
    pub announcer_revoked: bool,
}

/// This device's own issuing key.
#[derive(Clone)]
pub struct OwnIssuer {
    /// The key's short id.
    pub key_id: u16,
    /// The Ed25519 secret key.
    pub secret: [u8; 32],
    /// Its association.
    pub association: String,
}

impl std::fmt::Debug for OwnIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnIssuer")
            .field("key_id", &self.key_id)
            .field("association", &self.association)
            .finish_non_exhaustive()
    }
}

/// A card as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    /// Its serial.
    pub serial: CardSerial,
    /// Its holder.
    pub beneficiary: BeneficiaryId,
    /// The round it was issued in (unknown for a reissue whose original has
    /// not arrived).
    pub round: Option<RoundId>,
    /// Whether it was revoked (or replaced), and why.
    pub revoked: Option<String>,
    /// The serial that replaced it, for a reissued card.
    pub replaced_by: Option<CardSerial>,
}

/// Serials are stored as SQLite integers bit for bit.
#[allow(clippy::cast_possible_wrap)]
fn serial_sql(serial: CardSerial) -> i64 {
    serial.get() as i64
}

#[allow(clippy::cast_sign_loss)]
fn serial_from_sql(value: i64) -> CardSerial {
    CardSerial::new(value as u64)
}

fn id16(bytes: Vec<u8>) -> rusqlite::Result<[u8; 16]> {
    bytes.try_into().map_err(|b: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            b.len(),
            rusqlite::types::Type::Blob,
            "expected a 16-byte id".into(),
        )
    })
}

/// Card, issuer and merge projections of one event.
pub(crate) fn apply(tx: &Transaction<'_>, event: &Event) -> Result<(), StoreError> {
    let id = event.id.to_bytes();
    match &event.body {
        EventBody::CardIssuerAdded {
            key_id,
            public,
            association,
        } => {
            tx.execute(
                "INSERT INTO card_issuers (key_id, public, association, event) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key_id, public) DO UPDATE SET association = excluded.association,
                     event = excluded.event WHERE excluded.event < card_issuers.event",
                params![key_id, public.to_vec(), association, id],
            )?;
        }
        EventBody::CardIssued {
            serial,
            beneficiary,
            round,
        } => insert_card(tx, *serial, *beneficiary, Some(*round), id)?,
        EventBody::CardReissued {
            old,
            new,
            beneficiary,
        } => {
            // The new card carries on the old one's round; if the old card
            // arrives later, its insert fills the round in (see below).
            let round: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT round FROM cards WHERE serial = ?1",
                    [serial_sql(*old)],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            let round = round.map(id16).transpose()?.map(RoundId::from_bytes);
            insert_card(tx, *new, *beneficiary, round, id)?;
            revoke(tx, *old, "reissued", Some(*new), id)?;
        }
        EventBody::CardRevoked { serial, reason } => revoke(tx, *serial, reason, None, id)?,
        EventBody::CardIssuerWithdrawn { key_id, reason } => {
            tx.execute(
                "INSERT INTO issuer_withdrawals (key_id, event, reason) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key_id) DO UPDATE SET event = excluded.event, reason = excluded.reason
                 WHERE excluded.event < issuer_withdrawals.event",
                params![key_id, id, reason],
            )?;
        }
        EventBody::BeneficiaryMerged { kept, merged, .. } => {
            tx.execute(
                "INSERT INTO merges (merged, kept, event) VALUES (?1, ?2, ?3)
                 ON CONFLICT (merged) DO UPDATE SET kept = excluded.kept, event = excluded.event
                 WHERE excluded.event < merges.event",
                params![merged.to_bytes(), kept.to_bytes(), id],
            )?;
        }
        _ => {}
    }
    Ok(())
}

fn insert_card(
    tx: &Transaction<'_>,
    serial: CardSerial,
    beneficiary: BeneficiaryId,
    round: Option<RoundId>,
    event: [u8; 16],
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO cards (serial, beneficiary, round, event) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (serial) DO UPDATE SET beneficiary = excluded.beneficiary,
             round = COALESCE(excluded.round, cards.round), event = excluded.event
         WHERE excluded.event < cards.event",
        params![
            serial_sql(serial),
            beneficiary.to_bytes(),
            round.map(|r| r.to_bytes()),
            event
        ],
    )?;
    // A reissue that arrived before the card it replaces did not know the
    // round: the replacement inherits it now.
    if let Some(round) = round {
        tx.execute(
            "UPDATE cards SET round = ?2 WHERE round IS NULL AND serial IN (
                 SELECT replaced_by FROM card_revocations WHERE serial = ?1 AND replaced_by IS NOT NULL)",
            params![serial_sql(serial), round.to_bytes()],
        )?;
    }
    Ok(())
}

fn revoke(
    tx: &Transaction<'_>,
    serial: CardSerial,
    reason: &str,
    replaced_by: Option<CardSerial>,
    event: [u8; 16],
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO card_revocations (serial, event, reason, replaced_by) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (serial) DO UPDATE SET event = excluded.event, reason = excluded.reason,
             replaced_by = excluded.replaced_by
         WHERE excluded.event < card_revocations.event",
        params![
            serial_sql(serial),
            event,
            reason,
            replaced_by.map(serial_sql)
        ],
    )?;
    Ok(())
}

fn card_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CardRecord> {
    let round: Option<Vec<u8>> = r.get(2)?;
    Ok(CardRecord {
        serial: serial_from_sql(r.get(0)?),
        beneficiary: BeneficiaryId::from_bytes(id16(r.get(1)?)?),
        round: round.map(id16).transpose()?.map(RoundId::from_bytes),
        revoked: r.get(3)?,
        replaced_by: r.get::<_, Option<i64>>(4)?.map(serial_from_sql),
    })
}

const CARD_COLUMNS: &str = "c.serial, c.beneficiary, c.round, v.reason, v.replaced_by";

impl Store {
    /// Stores this device's new issuing key and announces its public half to
    /// the convoy, in one transaction.
    pub fn add_own_issuer(
        &self,
        issuer: OwnIssuer,
        public: [u8; 32],
        volunteer: VolunteerId,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let body = EventBody::CardIssuerAdded {
            key_id: issuer.key_id,
            public,
            association: issuer.association.clone(),
        };
        let created = i64::try_from(now_ms).unwrap_or(i64::MAX);
        self.writer.call(move |w| {
            w.record(volunteer, body, now_ms, move |tx, _| {
                tx.execute(
                    "INSERT INTO issuer_secrets (key_id, secret, association, created_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        issuer.key_id,
                        issuer.secret.to_vec(),
                        issuer.association,
                        created
                    ],
                )?;
                Ok(())
            })
            .map(|_| ())
        })
    }

    /// This device's issuing key, if it has one (the newest).
    pub fn own_issuer(&self) -> Result<Option<OwnIssuer>, StoreError> {
        let row: Option<(u16, Vec<u8>, String)> = self
            .reader()
            .query_row(
                "SELECT key_id, secret, association FROM issuer_secrets ORDER BY created_ms DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(row.and_then(|(key_id, secret, association)| {
            Some(OwnIssuer {
                key_id,
                secret: secret.try_into().ok()?,
                association,
            })
        }))
    }

    /// This device's issuing key with the given id.
    pub fn own_issuer_by_id(&self, key_id: u16) -> Result<Option<OwnIssuer>, StoreError> {
        let row: Option<(Vec<u8>, String)> = self
            .reader()
            .query_row(
                "SELECT secret, association FROM issuer_secrets WHERE key_id = ?1",
                [key_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(secret, association)| {
            Some(OwnIssuer {
                key_id,
                secret: secret.try_into().ok()?,
                association,
            })
        }))
    }

    /// Every issuer key this device trusts.
    pub fn trusted_issuers(&self) -> Result<Vec<TrustedIssuer>, StoreError> {
        let reader = self.reader();
        // Who announced each key, whether the lead withdrew it, and whether
        // the announcing device has since been revoked in a convoy (its
        // secret may be in a thief's hands).
        let mut statement = reader.prepare_cached(
            "SELECT ci.key_id, ci.public, ci.association, w.reason,
                    EXISTS (SELECT 1 FROM events e JOIN roster r ON r.device = e.device
                            WHERE e.id = ci.event AND r.status = 'revoked')
             FROM card_issuers ci LEFT JOIN issuer_withdrawals w ON w.key_id = ci.key_id
             ORDER BY ci.key_id",
        )?;
        let rows = statement.query_map([], |r| {
            Ok((
                r.get::<_, u16>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key_id, public, association, withdrawn, announcer_revoked) = row?;
            if let Ok(public) = public.try_into() {
                out.push(TrustedIssuer {
                    key_id,
                    public,
                    association,
                    withdrawn,
                    announcer_revoked,
                });
            }
        }
        Ok(out)
    }

    /// Records new cards with serials taken from the issuer's counter, in one
    /// transaction: either every holder gets a card or none does.
    /// `serial_of(counter)` builds the serial from the key's next counter
    /// value. Returns the serials in the order of `holders`.
    pub fn issue_cards(
        &self,
        key_id: u16,
        holders: Vec<BeneficiaryId>,
        round: RoundId,
        volunteer: VolunteerId,
        now_ms: u64,
        serial_of: fn(u16, u32) -> CardSerial,
    ) -> Result<Vec<CardSerial>, StoreError> {
        self.writer.call(move |w| {
            let first: u32 = w.transaction(|tx| {
                let next: i64 = tx.query_row(
                    "SELECT next_counter FROM issuer_secrets WHERE key_id = ?1",
                    [key_id],
                    |r| r.get(0),
                )?;
                let count = i64::try_from(holders.len()).unwrap_or(i64::MAX);
                let last = next.saturating_add(count);
                if last > i64::from(u32::MAX) {
                    return Err(StoreError::CardSerialsExhausted);
                }
                tx.execute(
                    "UPDATE issuer_secrets SET next_counter = ?2 WHERE key_id = ?1",
                    params![key_id, last],
                )?;
                u32::try_from(next).map_err(|_| StoreError::CardSerialsExhausted)
            })?;
            // The counter moves first and on its own: a failed batch leaves a
            // gap in the numbering, never two cards with one serial.
            let mut serials = Vec::with_capacity(holders.len());
            let mut items = Vec::with_capacity(holders.len());
            for (offset, beneficiary) in holders.into_iter().enumerate() {
                let counter = first + u32::try_from(offset).unwrap_or(u32::MAX);
                let serial = serial_of(key_id, counter);
                serials.push(serial);
                let body = EventBody::CardIssued {
                    serial,
                    beneficiary,
                    round,
                };
                items.push((
                    volunteer,
                    body,
                    Box::new(|_: &Transaction<'_>, _: &Event| Ok(())) as crate::writer::Extra,
                ));
            }
            w.record_many(items, now_ms)?;
            Ok(serials)
        })
    }

    /// Replaces a card with a new serial from the issuer's counter; the old
    /// one is revoked by the same event.
    pub fn reissue_card(
        &self,
        key_id: u16,
        old: CardSerial,
        beneficiary: BeneficiaryId,
        volunteer: VolunteerId,
        now_ms: u64,
        serial_of: fn(u16, u32) -> CardSerial,
    ) -> Result<CardSerial, StoreError> {
        self.writer.call(move |w| {
            let counter: u32 = w.transaction(|tx| {
                let next: i64 = tx.query_row(
                    "SELECT next_counter FROM issuer_secrets WHERE key_id = ?1",
                    [key_id],
                    |r| r.get(0),
                )?;
                if next >= i64::from(u32::MAX) {
                    return Err(StoreError::CardSerialsExhausted);
                }
                tx.execute(
                    "UPDATE issuer_secrets SET next_counter = ?2 WHERE key_id = ?1",
                    params![key_id, next + 1],
                )?;
                u32::try_from(next).map_err(|_| StoreError::CardSerialsExhausted)
            })?;
            let new = serial_of(key_id, counter);
            let body = EventBody::CardReissued {
                old,
                new,
                beneficiary,
            };
            w.record(volunteer, body, now_ms, |_, _| Ok(()))?;
            Ok(new)
        })
    }

    /// One card.
    pub fn card(&self, serial: CardSerial) -> Result<Option<CardRecord>, StoreError> {
        let sql = format!(
            "SELECT {CARD_COLUMNS} FROM cards c LEFT JOIN card_revocations v ON v.serial = c.serial
             WHERE c.serial = ?1"
        );
        Ok(self
            .reader()
            .prepare_cached(&sql)?
            .query_row([serial_sql(serial)], card_row)
            .optional()?)
    }

    /// Why a serial was revoked, if it was (known even when the card's own
    /// issue has not arrived).
    pub fn card_revocation(&self, serial: CardSerial) -> Result<Option<String>, StoreError> {
        Ok(self
            .reader()
            .prepare_cached("SELECT reason FROM card_revocations WHERE serial = ?1")?
            .query_row([serial_sql(serial)], |r| r.get(0))
            .optional()?)
    }

    /// A person's cards, newest serial first.
    pub fn cards_of(&self, beneficiary: BeneficiaryId) -> Result<Vec<CardRecord>, StoreError> {
        let sql = format!(
            "SELECT {CARD_COLUMNS} FROM cards c LEFT JOIN card_revocations v ON v.serial = c.serial
             WHERE c.beneficiary = ?1 ORDER BY c.serial DESC"
        );
        let reader = self.reader();
        let mut statement = reader.prepare_cached(&sql)?;
        let rows = statement.query_map([beneficiary.to_bytes()], card_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a merge: `merged` is the same person as `kept`.
    pub fn merge(
        &self,
        kept: BeneficiaryId,
        merged: BeneficiaryId,
        reason: &str,
        volunteer: VolunteerId,
        now_ms: u64,
    ) -> Result<Event, StoreError> {
        self.record(
            volunteer,
            EventBody::BeneficiaryMerged {
                kept,
                merged,
                reason: reason.to_owned(),
            },
            now_ms,
        )
    }

    /// The entry a duplicate was merged into, if it was.
    pub fn merged_into(
        &self,
        beneficiary: BeneficiaryId,
    ) -> Result<Option<BeneficiaryId>, StoreError> {
        let kept: Option<Vec<u8>> = self
            .reader()
            .prepare_cached("SELECT kept FROM merges WHERE merged = ?1")?
            .query_row([beneficiary.to_bytes()], |r| r.get(0))
            .optional()?;
        Ok(kept.map(id16).transpose()?.map(BeneficiaryId::from_bytes))
    }

    /// Households whose hand-outs count for `household`: itself and those of
    /// every entry merged into one of its members.
    pub fn merged_households(
        &self,
        household: HouseholdId,
    ) -> Result<Vec<HouseholdId>, StoreError> {
        let reader = self.reader();
        let mut statement = reader.prepare_cached(
            "SELECT DISTINCT d.household FROM merges m
             JOIN beneficiaries k ON k.id = m.kept
             JOIN beneficiaries d ON d.id = m.merged
             WHERE k.household = ?1 AND d.household != ?1",
        )?;
        let rows = statement.query_map([household.to_bytes()], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = vec![household];
        for row in rows {
            out.push(HouseholdId::from_bytes(id16(row?)?));
        }
        Ok(out)
    }

    /// Remembers that a registrar judged two entries to be different people.
    pub fn dismiss_duplicate(&self, a: BeneficiaryId, b: BeneficiaryId) -> Result<(), StoreError> {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        self.writer.call(move |w| {
            w.transaction(|tx| {
                tx.execute(
                    "INSERT OR IGNORE INTO duplicate_dismissals (a, b) VALUES (?1, ?2)",
                    params![a.to_bytes(), b.to_bytes()],
                )?;
                Ok(())
            })
        })
    }

    /// Pairs dismissed on this device, smaller id first.
    pub fn dismissed_duplicates(&self) -> Result<Vec<(BeneficiaryId, BeneficiaryId)>, StoreError> {
        let reader = self.reader();
        let mut statement = reader.prepare_cached("SELECT a, b FROM duplicate_dismissals")?;
        let rows = statement.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (a, b) = row?;
            out.push((
                BeneficiaryId::from_bytes(id16(a)?),
                BeneficiaryId::from_bytes(id16(b)?),
            ));
        }
        Ok(out)
    }

    /// Live (not erased, not merged) entries of a village, oldest first.
    pub fn village_beneficiaries(
        &self,
        village: &str,
    ) -> Result<Vec<crate::registry::Beneficiary>, StoreError> {
        let sql = format!(
            "SELECT {} FROM beneficiaries b LEFT JOIN households h ON h.id = b.household
             WHERE b.village = ?1 AND b.erased = 0
               AND NOT EXISTS (SELECT 1 FROM merges m WHERE m.merged = b.id)
             ORDER BY b.registered, b.id",
            crate::registry::BENEFICIARY_COLUMNS
        );
        let reader = self.reader();
        let mut statement = reader.prepare(&sql)?;
        let rows = statement.query_map([village.trim()], crate::registry::beneficiary_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The villages of the registry, as written, with how many live entries
    /// each has.
    pub fn villages(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let reader = self.reader();
        let mut statement = reader.prepare(
            "SELECT village, COUNT(*) FROM beneficiaries WHERE erased = 0 GROUP BY village ORDER BY village",
        )?;
        let rows = statement.query_map([], |r| {
            Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every live (not erased, not merged) entry with what duplicate
    /// matching needs: id, household, village, size, normalised name and
    /// national-ID hash.
    pub fn duplicate_candidates(&self) -> Result<Vec<Candidate>, StoreError> {
        self.candidates_where("1", [])
    }

    /// The entries one person could be a duplicate of: themselves, everyone
    /// of their village, and anyone with their national-ID hash.
    pub fn duplicate_candidates_for(
        &self,
        beneficiary: BeneficiaryId,
    ) -> Result<Vec<Candidate>, StoreError> {
        self.candidates_where(
            "(b.id = ?1
              OR b.village = (SELECT village FROM beneficiaries WHERE id = ?1)
              OR b.nid_hash = (SELECT nid_hash FROM beneficiaries WHERE id = ?1))",
            [beneficiary.to_bytes()],
        )
    }

    fn candidates_where<P: rusqlite::Params>(
        &self,
        filter: &str,
        params: P,
    ) -> Result<Vec<Candidate>, StoreError> {
        let reader = self.reader();
        let mut statement = reader.prepare(&format!(
            "SELECT b.id, b.household, b.village, COALESCE(h.size, 0), b.name_key, b.nid_hash, b.registered
             FROM beneficiaries b LEFT JOIN households h ON h.id = b.household
             WHERE b.erased = 0 AND NOT EXISTS (SELECT 1 FROM merges m WHERE m.merged = b.id) AND {filter}"
        ))?;
        let rows = statement.query_map(params, |r| {
            Ok(Candidate {
                id: BeneficiaryId::from_bytes(id16(r.get(0)?)?),
                household: HouseholdId::from_bytes(id16(r.get(1)?)?),
                village: r.get(2)?,
                household_size: r.get(3)?,
                name_key: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                nid_hash: r.get(5)?,
                registered: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// An entry as duplicate matching sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The person.
    pub id: BeneficiaryId,
    /// Their household.
    pub household: HouseholdId,
    /// Village.
    pub village: String,
    /// Household size.
    pub household_size: u32,
    /// Normalised name (`NameKey`'s text); empty when unknown.
    pub name_key: String,
    /// National-ID hash under this device's secret.
    pub nid_hash: Option<Vec<u8>>,
    /// When registered (hybrid timestamp), to keep the older entry first.
    pub registered: i64,
}
