//! The registry: beneficiaries and households, search by normalised Arabic
//! name or national ID, and erasure.
//!
//! Search is a prefix range scan over `name_tokens`, one row per token of
//! each person's [`NameKey`]: "محمد ع" finds every محمد whose later name
//! starts with ع. Candidates found by every query token rank first, then by
//! how well the whole name matches ([`qafila_domain::names::similarity`]).

use chrono::NaiveDate;
use qafila_domain::event::EventBody;
use qafila_domain::ids::{BeneficiaryId, HouseholdId, RoundId, VolunteerId};
use qafila_domain::item::ItemCode;
use qafila_domain::names::{NameKey, similarity};
use qafila_domain::nid::{NationalId, NidHash};
use qafila_domain::quantity::Quantity;
use rusqlite::{OptionalExtension, params};

use crate::Store;
use crate::error::StoreError;
use crate::personal::{self, KEY_LEN, Personal, random};
use crate::writer::Extra;

/// Index entries counted per query token to find the rarest one; counting
/// stops there, which bounds the cost of one-letter queries.
const RARE_TOKEN_PROBE: i64 = 1_000;

/// Query tokens considered; a longer query is not a name.
const MAX_QUERY_TOKENS: usize = 8;

/// A new person for the registry.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Full name, as written.
    pub name: String,
    /// National ID, if known.
    pub national_id: Option<NationalId>,
    /// Phone, if any.
    pub phone: Option<String>,
    /// An existing household to join; `None` starts a new one.
    pub household: Option<HouseholdId>,
    /// People in the household.
    pub household_size: u32,
    /// Their village.
    pub village: String,
}

/// A registry entry as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beneficiary {
    /// The person.
    pub id: BeneficiaryId,
    /// Their household.
    pub household: HouseholdId,
    /// Full name; `None` once erased.
    pub name: Option<String>,
    /// Village.
    pub village: String,
    /// Household size.
    pub household_size: u32,
    /// Phone; `None` when unknown or erased.
    pub phone: Option<String>,
    /// Last four digits of the national ID, for a volunteer to confirm.
    pub nid_last4: Option<String>,
    /// Whether their personal data was erased.
    pub erased: bool,
}

/// A search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The person.
    pub beneficiary: Beneficiary,
    /// How well it matched, 0..=1 (1 for a national-ID match).
    pub score: f32,
}

fn id16(bytes: Vec<u8>) -> rusqlite::Result<[u8; 16]> {
    bytes.try_into().map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, "id".into(), rusqlite::types::Type::Blob)
    })
}

pub(crate) const BENEFICIARY_COLUMNS: &str =
    "b.id, b.household, b.name, b.village, COALESCE(h.size, 0), b.phone, b.nid_last4, b.erased";

pub(crate) fn beneficiary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Beneficiary> {
    Ok(Beneficiary {
        id: BeneficiaryId::from_bytes(id16(r.get(0)?)?),
        household: HouseholdId::from_bytes(id16(r.get(1)?)?),
        name: r.get(2)?,
        village: r.get(3)?,
        household_size: r.get(4)?,
        phone: r.get(5)?,
        nid_last4: r.get(6)?,
        erased: r.get(7)?,
    })
}

/// The smallest string greater than every string starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

impl Store {
    /// The keyed hash of a national ID under this organisation's secret.
    pub fn nid_hash(&self, nid: &NationalId) -> NidHash {
        self.nid_key
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .hash(nid)
    }

    /// Registers a person. A national ID already in the registry is refused,
    /// naming who has it.
    pub fn register(
        &self,
        registration: Registration,
        volunteer: VolunteerId,
        now_ms: u64,
    ) -> Result<(BeneficiaryId, HouseholdId), StoreError> {
        let mut ids = self.register_many(vec![registration], volunteer, now_ms)?;
        ids.pop().ok_or(StoreError::WriterGone)
    }

    /// Registers several people in one transaction: all or none. Each
    /// national ID is checked against the registry first.
    pub fn register_many(
        &self,
        registrations: Vec<Registration>,
        volunteer: VolunteerId,
        now_ms: u64,
    ) -> Result<Vec<(BeneficiaryId, HouseholdId)>, StoreError> {
        let mut items = Vec::with_capacity(registrations.len());
        let mut ids = Vec::with_capacity(registrations.len());
        for registration in registrations {
            let (beneficiary, household, body, extra) =
                self.prepare_registration(registration, now_ms)?;
            ids.push((beneficiary, household));
            items.push((volunteer, body, extra));
        }
        self.writer.call(move |w| w.record_many(items, now_ms))?;
        Ok(ids)
    }

    fn prepare_registration(
        &self,
        registration: Registration,
        now_ms: u64,
    ) -> Result<(BeneficiaryId, HouseholdId, EventBody, Extra), StoreError> {
        let nid_hash = registration.national_id.as_ref().map(|n| self.nid_hash(n));
        if let Some(hash) = nid_hash
            && let Some(existing) = self.find_by_nid_hash(hash)?
        {
            return Err(StoreError::DuplicateNationalId {
                existing: existing.id,
                name: existing.name.unwrap_or_else(|| "(erased)".into()),
            });
        }
        let beneficiary = BeneficiaryId::from_parts(now_ms, random()?);
        let household = match registration.household {
            Some(h) => h,
            None => HouseholdId::from_parts(now_ms, random()?),
        };
        let key: [u8; KEY_LEN] = random()?;
        let name = registration
            .name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let personal = Personal {
            name: name.clone(),
            national_id: registration
                .national_id
                .as_ref()
                .map(|n| n.as_str().to_owned()),
            phone: registration.phone.clone(),
        };
        let sealed = personal::seal(&key, beneficiary, &personal)?;
        // The national-ID hash stays out of the event (events are logged
        // for good and cannot be erased): only the projection holds it.
        let body = EventBody::BeneficiaryRegistered {
            beneficiary,
            household,
            household_size: registration.household_size,
            village: registration.village.trim().to_owned(),
            nid_hash: None,
            personal: sealed,
        };
        let person = personal;
        let extra: Extra = Box::new(move |tx, _| {
            // Checked again on the writer thread, inside the transaction, so
            // two registrations racing with one national ID cannot both pass.
            if let Some(hash) = nid_hash {
                let taken: Option<(Vec<u8>, Option<String>)> = tx
                    .query_row(
                        "SELECT id, name FROM beneficiaries WHERE nid_hash = ?1 AND id != ?2",
                        params![hash.as_bytes().to_vec(), beneficiary.to_bytes()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((id, name)) = taken {
                    return Err(StoreError::DuplicateNationalId {
                        existing: BeneficiaryId::from_bytes(id16(id)?),
                        name: name.unwrap_or_else(|| "(erased)".into()),
                    });
                }
            }
            tx.execute(
                "INSERT INTO beneficiary_keys (beneficiary, key) VALUES (?1, ?2)",
                params![beneficiary.to_bytes(), key.to_vec()],
            )?;
            crate::sync::write_personal(
                tx,
                beneficiary,
                &person,
                nid_hash.map(|h| h.as_bytes().to_vec()),
            )
        });
        Ok((beneficiary, household, body, extra))
    }

    /// Erases a person's personal data for good: their projection rows lose
    /// name, phone and national-ID hash, their sealing key is destroyed (so
    /// the sealed copies in events and Automerge history can never be opened
    /// again), and the WAL is truncated so no old page keeps a copy. Their
    /// pseudonymous hand-outs keep counting in stock and reports.
    pub fn erase(
        &self,
        beneficiary: BeneficiaryId,
        reason: &str,
        volunteer: VolunteerId,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        if self.beneficiary(beneficiary)?.is_none() {
            return Err(StoreError::UnknownBeneficiary(beneficiary.to_string()));
        }
        let body = EventBody::BeneficiaryErased {
            beneficiary,
            reason: reason.trim().to_owned(),
        };
        // The writer has the WAL truncated once this commits (`checkpoint`).
        self.writer.call(move |w| {
            w.record(volunteer, body, now_ms, |_, _| Ok(()))?;
            Ok(())
        })
    }

    /// One beneficiary.
    pub fn beneficiary(&self, id: BeneficiaryId) -> Result<Option<Beneficiary>, StoreError> {
        let sql = format!(
            "SELECT {BENEFICIARY_COLUMNS} FROM beneficiaries b LEFT JOIN households h ON h.id = b.household WHERE b.id = ?1"
        );
        Ok(self
            .reader()
            .prepare_cached(&sql)?
            .query_row([id.to_bytes()], beneficiary_row)
            .optional()?)
    }

    fn find_by_nid_hash(&self, hash: NidHash) -> Result<Option<Beneficiary>, StoreError> {
        let sql = format!(
            "SELECT {BENEFICIARY_COLUMNS} FROM beneficiaries b LEFT JOIN households h ON h.id = b.household WHERE b.nid_hash = ?1 ORDER BY b.registered, b.id LIMIT 1"
        );
        Ok(self
            .reader()
            .prepare_cached(&sql)?
            .query_row([hash.as_bytes().to_vec()], beneficiary_row)
            .optional()?)
    }

    /// A person already registered in `village` under exactly this
    /// normalised name, so re-importing a list does not register anyone
    /// twice.
    pub fn find_same_name(
        &self,
        name: &str,
        village: &str,
    ) -> Result<Option<Beneficiary>, StoreError> {
        let key = NameKey::new(name);
        let sql = format!(
            "SELECT {BENEFICIARY_COLUMNS} FROM beneficiaries b LEFT JOIN households h ON h.id = b.household
             WHERE b.name_key = ?1 AND b.village = ?2 AND b.erased = 0 LIMIT 1"
        );
        Ok(self
            .reader()
            .query_row(&sql, params![key.as_str(), village.trim()], beneficiary_row)
            .optional()?)
    }

    /// The person holding this national ID, if registered.
    pub fn find_by_national_id(&self, nid: &NationalId) -> Result<Option<Beneficiary>, StoreError> {
        self.find_by_nid_hash(self.nid_hash(nid))
    }

    /// Searches by national ID (any digits, spaces, dashes) or by name,
    /// best match first.
    ///
    /// Every query token must be the start of some token of the name. Most
    /// searches are typed from the start of the name ("محمد احم"), so a range
    /// scan of the whole normalised name answers them first. When that finds
    /// too few, the rarest query token drives a range scan of `name_tokens`
    /// and the others are checked on each candidate's normalised name in the
    /// same query. Candidates are ranked by tokens found in their place and
    /// by whole-name similarity.
    pub fn search(
        &self,
        query: &str,
        today: NaiveDate,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        if let Ok(nid) = NationalId::parse(query, today) {
            return Ok(self
                .find_by_national_id(&nid)?
                .map(|b| SearchHit {
                    beneficiary: b,
                    score: 1.0,
                })
                .into_iter()
                .collect());
        }
        let key = NameKey::new(query);
        let mut tokens: Vec<&str> = key.tokens().collect();
        tokens.dedup();
        if tokens.is_empty() || tokens.len() > MAX_QUERY_TOKENS {
            return Ok(Vec::new());
        }
        let conn = self.reader();
        let mut candidates: Vec<(Beneficiary, String)> = Vec::new();
        {
            let sql = format!(
                "SELECT {BENEFICIARY_COLUMNS}, b.name_key FROM beneficiaries b
                 LEFT JOIN households h ON h.id = b.household
                 WHERE b.name_key >= ?1 AND b.name_key < ?2 AND b.erased = 0 LIMIT ?3"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let cap = i64::try_from(limit.saturating_mul(5).clamp(20, 200)).unwrap_or(200);
            let rows = stmt
                .query_map(params![key.as_str(), prefix_end(key.as_str()), cap], |r| {
                    Ok((beneficiary_row(r)?, r.get::<_, Option<String>>(8)?))
                })?;
            for row in rows {
                if let (b, Some(name_key)) = row? {
                    candidates.push((b, name_key));
                }
            }
        }
        // A name typed from its start that matched is answered; the token path
        // is for one-word queries (a family name) and for names typed out of
        // order or without a middle name.
        if candidates.is_empty() || (tokens.len() == 1 && candidates.len() < limit) {
            let known: std::collections::HashSet<BeneficiaryId> =
                candidates.iter().map(|(b, _)| b.id).collect();
            for found in by_rarest_token(&conn, &tokens, limit)? {
                if !known.contains(&found.0.id) {
                    candidates.push(found);
                }
            }
        }
        let wanted = tokens.len() as f32;
        let mut hits = Vec::with_capacity(candidates.len());
        for (beneficiary, name_key) in candidates {
            let name = NameKey::new(&name_key);
            let name_tokens: Vec<&str> = name.tokens().collect();
            if !tokens
                .iter()
                .all(|q| name_tokens.iter().any(|t| t.starts_with(q)))
            {
                continue;
            }
            let in_place = tokens
                .iter()
                .enumerate()
                .filter(|(i, q)| name_tokens.get(*i).is_some_and(|t| t.starts_with(*q)))
                .count() as f32;
            // Tokens in the right place count most; whole-name similarity
            // orders the rest.
            let score = (in_place / wanted) * 0.5 + similarity(&key, &name) * 0.5;
            hits.push(SearchHit { beneficiary, score });
        }
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.beneficiary.name.cmp(&b.beneficiary.name))
        });
        hits.truncate(limit);
        Ok(hits)
    }

    /// What a household has received of an item in a round (voids excluded).
    pub fn received(
        &self,
        household: HouseholdId,
        round: RoundId,
        item: ItemCode,
    ) -> Result<Quantity, StoreError> {
        // Hand-outs to an entry later merged into one of this household's
        // members count here too: one person registered twice is served once.
        let milli: Option<i64> = self
            .reader()
            .prepare_cached(
                "SELECT SUM(received_milli) FROM served WHERE round = ?2 AND item = ?3 AND household IN (
                     SELECT ?1 UNION
                     SELECT d.household FROM beneficiaries k
                     JOIN merges m ON m.kept = k.id
                     JOIN beneficiaries d ON d.id = m.merged
                     WHERE k.household = ?1)",
            )?
            .query_row(params![household.to_bytes(), round.to_bytes(), item.code()], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(Quantity::from_milli(
            u64::try_from(milli.unwrap_or(0)).unwrap_or(0),
        ))
    }

    /// What a household has received of each item in a round (voids
    /// excluded), merged entries' hand-outs included as in [`Self::received`]:
    /// one query for the whole entitlement screen instead of one per item.
    /// Items with nothing received are absent.
    pub fn received_in_round(
        &self,
        household: HouseholdId,
        round: RoundId,
    ) -> Result<Vec<(String, Quantity)>, StoreError> {
        let conn = self.reader();
        let mut statement = conn.prepare_cached(
            "SELECT item, SUM(received_milli) FROM served WHERE round = ?2 AND household IN (
                 SELECT ?1 UNION
                 SELECT d.household FROM beneficiaries k
                 JOIN merges m ON m.kept = k.id
                 JOIN beneficiaries d ON d.id = m.merged
                 WHERE k.household = ?1)
             GROUP BY item",
        )?;
        let rows = statement.query_map(params![household.to_bytes(), round.to_bytes()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (item, milli) = row?;
            out.push((
                item,
                Quantity::from_milli(u64::try_from(milli).unwrap_or(0)),
            ));
        }
        Ok(out)
    }

    /// Whether a household has checked in on a day.
    pub fn checked_in(&self, household: HouseholdId, day: NaiveDate) -> Result<bool, StoreError> {
        let count: Option<i64> = self
            .reader()
            .prepare_cached("SELECT count FROM check_ins WHERE household = ?1 AND day = ?2")?
            .query_row(params![household.to_bytes(), day.to_string()], |r| r.get(0))
            .optional()?;
        Ok(count.unwrap_or(0) > 0)
    }

    /// How many beneficiaries the registry holds (erased ones included).
    pub fn beneficiary_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .reader()
            .query_row("SELECT COUNT(*) FROM beneficiaries", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Opens a beneficiary's sealed personal data from their registration,
    /// proving the key still exists (it does not once they are erased).
    pub fn unseal(&self, beneficiary: BeneficiaryId) -> Result<Option<Personal>, StoreError> {
        let conn = self.reader();
        let key: Option<Vec<u8>> = conn
            .query_row(
                "SELECT key FROM beneficiary_keys WHERE beneficiary = ?1",
                [beneficiary.to_bytes()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(key) = key else { return Ok(None) };
        let key: [u8; KEY_LEN] = key.try_into().map_err(|_| StoreError::Seal)?;
        let Some(body) = crate::sync::registration_event(&conn, beneficiary)? else {
            return Ok(None);
        };
        match qafila_doc::codec::decode(&body)?.body {
            EventBody::BeneficiaryRegistered { personal, .. } => {
                personal::open(&key, beneficiary, &personal).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// Candidates whose name has a token starting with the rarest query token
/// and, checked in the same query, the other tokens as word starts.
fn by_rarest_token(
    conn: &rusqlite::Connection,
    tokens: &[&str],
    limit: usize,
) -> Result<Vec<(Beneficiary, String)>, StoreError> {
    let mut rarest = (usize::MAX, 0);
    {
        let mut count = conn.prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM name_tokens WHERE token >= ?1 AND token < ?2 LIMIT ?3)",
        )?;
        for (index, token) in tokens.iter().enumerate() {
            let n: i64 = count
                .query_row(params![token, prefix_end(token), RARE_TOKEN_PROBE], |r| {
                    r.get(0)
                })?;
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n < rarest.0 {
                rarest = (n, index);
            }
        }
    }
    if rarest.0 == 0 {
        return Ok(Vec::new());
    }
    let driver = tokens[rarest.1];
    let others: Vec<String> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != rarest.1)
        .map(|(_, t)| format!(" {t}"))
        .collect();
    let mut sql = format!(
        "SELECT DISTINCT {BENEFICIARY_COLUMNS}, b.name_key FROM name_tokens t
         JOIN beneficiaries b ON b.id = t.beneficiary
         LEFT JOIN households h ON h.id = b.household
         WHERE t.token >= ?1 AND t.token < ?2 AND b.erased = 0"
    );
    // Up to three other tokens are checked in SQL; any more in Rust.
    for n in 0..others.len().min(3) {
        sql.push_str(&format!(" AND instr(' ' || b.name_key, ?{}) > 0", n + 3));
    }
    sql.push_str(&format!(
        " LIMIT {}",
        limit.saturating_mul(5).clamp(20, 200)
    ));
    let mut stmt = conn.prepare_cached(&sql)?;
    let end = prefix_end(driver);
    let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&driver, &end];
    for other in others.iter().take(3) {
        bound.push(other);
    }
    let rows = stmt.query_map(bound.as_slice(), |r| {
        Ok((beneficiary_row(r)?, r.get::<_, Option<String>>(8)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        if let (b, Some(name_key)) = row? {
            out.push((b, name_key));
        }
    }
    Ok(out)
}
