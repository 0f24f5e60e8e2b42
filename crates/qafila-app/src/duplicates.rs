//! The registrar's duplicate queue: entries that are likely one person,
//! found by national-ID hash and by Arabic name similarity within the same
//! village and household size. Nothing is ever merged automatically: the
//! registrar merges a pair (a `beneficiary_merged` event that travels) or
//! dismisses it as two people (remembered on this device).

use std::collections::{BTreeSet, HashMap};

use qafila_domain::ids::BeneficiaryId;
use qafila_domain::names::{NameKey, similarity};
use qafila_store::cards::Candidate;
use serde::Serialize;
use ts_rs::TS;

use crate::dto::BeneficiaryDto;
use crate::registry::to_dto;
use crate::{App, AppError};

/// Similarity from which two names in one village and household size are
/// listed (`qafila_domain::names::is_likely_duplicate`'s threshold).
const NAME_THRESHOLD: f32 = qafila_domain::names::LIKELY_DUPLICATE;

/// Why a pair is in the queue.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    /// Both carry the same national ID.
    SameNationalId,
    /// Similar names, same village, same household size.
    SimilarName,
}

impl DuplicateReason {
    fn code(self) -> &'static str {
        match self {
            Self::SameNationalId => "same_national_id",
            Self::SimilarName => "similar_name",
        }
    }
}

/// A pair found by matching, as indexes into the candidate list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// The older entry.
    pub a: usize,
    /// The newer entry.
    pub b: usize,
    /// Why.
    pub reason: DuplicateReason,
    /// Name similarity (1.0 for a national-ID match).
    pub score: f32,
}

/// Likely duplicate pairs among `candidates`, strongest first. Pure: the
/// same candidates give the same pairs.
///
/// Names are compared only within one village and household size, and
/// within that only between names whose normalised first letter agrees
/// (the given name gates the similarity anyway), so a village of thousands
/// costs thousands of comparisons, not millions.
pub fn likely_duplicates(candidates: &[Candidate]) -> Vec<Match> {
    let mut pairs: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut out = Vec::new();
    let mut by_nid: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        if let Some(hash) = &c.nid_hash {
            by_nid.entry(hash.as_slice()).or_default().push(i);
        }
    }
    for group in by_nid.values() {
        for (x, &i) in group.iter().enumerate() {
            for &j in &group[x + 1..] {
                let (a, b) = ordered(candidates, i, j);
                if pairs.insert((a, b)) {
                    out.push(Match {
                        a,
                        b,
                        reason: DuplicateReason::SameNationalId,
                        score: 1.0,
                    });
                }
            }
        }
    }
    let keys: Vec<NameKey> = candidates
        .iter()
        .map(|c| NameKey::new(&c.name_key))
        .collect();
    let mut blocks: HashMap<(&str, u32, Option<char>), Vec<usize>> = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        if keys[i].is_empty() {
            continue;
        }
        let first = keys[i].as_str().chars().next();
        blocks
            .entry((c.village.as_str(), c.household_size, first))
            .or_default()
            .push(i);
    }
    for block in blocks.values() {
        for (x, &i) in block.iter().enumerate() {
            for &j in &block[x + 1..] {
                let score = similarity(&keys[i], &keys[j]);
                if score < NAME_THRESHOLD {
                    continue;
                }
                let (a, b) = ordered(candidates, i, j);
                if pairs.insert((a, b)) {
                    out.push(Match {
                        a,
                        b,
                        reason: DuplicateReason::SimilarName,
                        score,
                    });
                }
            }
        }
    }
    out.sort_by(|x, y| {
        x.reason
            .cmp(&y.reason)
            .then(y.score.total_cmp(&x.score))
            .then((x.a, x.b).cmp(&(y.a, y.b)))
    });
    out
}

/// The older entry first.
fn ordered(candidates: &[Candidate], i: usize, j: usize) -> (usize, usize) {
    let key = |k: usize| (candidates[k].registered, candidates[k].id);
    if key(i) <= key(j) { (i, j) } else { (j, i) }
}

/// One pair of the queue.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct DuplicateDto {
    /// `same_national_id` or `similar_name`.
    pub reason: &'static str,
    /// Name similarity, 0..=1.
    pub score: f32,
    /// The older entry (the one to keep, usually).
    pub a: BeneficiaryDto,
    /// The newer entry.
    pub b: BeneficiaryDto,
}

/// A merge done.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct MergedDto {
    /// The entry kept.
    pub kept: String,
    /// The entry retired into it.
    pub merged: String,
    /// The event.
    pub event: String,
}

impl App {
    /// The duplicate queue: likely pairs not yet merged or dismissed.
    pub fn duplicates(&self) -> Result<Vec<DuplicateDto>, AppError> {
        self.queue(self.store.duplicate_candidates()?)
    }

    fn queue(&self, candidates: Vec<Candidate>) -> Result<Vec<DuplicateDto>, AppError> {
        let dismissed: BTreeSet<(BeneficiaryId, BeneficiaryId)> =
            self.store.dismissed_duplicates()?.into_iter().collect();
        let mut out = Vec::new();
        for m in likely_duplicates(&candidates) {
            let (a, b) = (candidates[m.a].id, candidates[m.b].id);
            let pair = if a <= b { (a, b) } else { (b, a) };
            if dismissed.contains(&pair) {
                continue;
            }
            let (Some(first), Some(second)) =
                (self.store.beneficiary(a)?, self.store.beneficiary(b)?)
            else {
                continue;
            };
            out.push(DuplicateDto {
                reason: m.reason.code(),
                score: m.score,
                a: to_dto(first, None),
                b: to_dto(second, None),
            });
        }
        Ok(out)
    }

    /// Entries already registered that look like `new` (used right after a
    /// registration, to flag it).
    pub fn duplicates_of(
        &self,
        beneficiary: BeneficiaryId,
    ) -> Result<Vec<BeneficiaryDto>, AppError> {
        Ok(self
            .queue(self.store.duplicate_candidates_for(beneficiary)?)?
            .into_iter()
            .filter_map(|d| {
                let id = beneficiary.to_string();
                if d.a.id == id {
                    Some(d.b)
                } else if d.b.id == id {
                    Some(d.a)
                } else {
                    None
                }
            })
            .collect())
    }

    /// Merges `merged` into `kept`: one person registered twice. The
    /// duplicate disappears from searches and the queue, its cards identify
    /// `kept`, and what its household received counts for `kept`'s.
    pub fn merge_beneficiaries(
        &self,
        kept: &str,
        merged: &str,
        reason: &str,
    ) -> Result<MergedDto, AppError> {
        let kept = self.find_beneficiary(kept)?;
        let merged_id = crate::parse_id::<BeneficiaryId>(merged, "beneficiary")?;
        if self.store.beneficiary(merged_id)?.is_none() {
            return Err(self.find_beneficiary(merged).err().unwrap_or_else(|| {
                AppError::new(
                    "unknown_beneficiary",
                    "unknown beneficiary",
                    "المستفيد مش موجود",
                )
            }));
        }
        if let Some(into) = self.store.merged_into(merged_id)? {
            return Err(AppError::new(
                "already_merged",
                format!("{merged_id} was already merged into {into}"),
                format!("الإدخال ده اتدمج قبل كده في {into}"),
            ));
        }
        if kept.id == merged_id {
            return Err(AppError::new(
                "self_merge",
                "these are the same entry: pick the two entries the queue lists",
                "ده نفس الإدخال: اختار الاتنين اللي ظاهرين في قايمة التكرار",
            ));
        }
        let reason = if reason.trim().is_empty() {
            "duplicate registration"
        } else {
            reason.trim()
        };
        let (now, _) = self.now();
        let event = self
            .store
            .merge(kept.id, merged_id, reason, self.volunteer, now)?;
        Ok(MergedDto {
            kept: kept.id.to_string(),
            merged: merged_id.to_string(),
            event: event.id.to_string(),
        })
    }

    /// Records that two entries are different people.
    pub fn dismiss_duplicate(&self, a: &str, b: &str) -> Result<(), AppError> {
        let a = crate::parse_id::<BeneficiaryId>(a, "beneficiary")?;
        let b = crate::parse_id::<BeneficiaryId>(b, "beneficiary")?;
        Ok(self.store.dismiss_duplicate(a, b)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qafila_domain::ids::HouseholdId;

    fn candidate(n: u8, village: &str, size: u32, name: &str, nid: Option<u8>) -> Candidate {
        Candidate {
            id: BeneficiaryId::from_parts(1, [n; 10]),
            household: HouseholdId::from_parts(1, [n; 10]),
            village: village.into(),
            household_size: size,
            name_key: NameKey::new(name).as_str().to_owned(),
            nid_hash: nid.map(|b| vec![b; 32]),
            registered: i64::from(n),
        }
    }

    #[test]
    fn same_national_id_and_similar_names_are_paired_older_first() {
        let list = [
            candidate(3, "ميت غمر", 5, "محمد احمد السيد علي", Some(1)),
            candidate(1, "ميت غمر", 5, "محمد أحمد السيد على", None),
            candidate(2, "طنطا", 4, "فاطمة محمود", Some(1)),
            candidate(4, "ميت غمر", 5, "محمود احمد السيد علي", None),
            candidate(5, "ميت غمر", 6, "محمد احمد السيد علي", None),
        ];
        let pairs = likely_duplicates(&list);
        assert_eq!(pairs[0].reason, DuplicateReason::SameNationalId);
        assert_eq!((pairs[0].a, pairs[0].b), (2, 0));
        assert!(
            pairs
                .iter()
                .any(|p| p.reason == DuplicateReason::SimilarName && (p.a, p.b) == (1, 0)),
            "{pairs:?}"
        );
        // A brother (different given name) and another household size are
        // not listed.
        assert!(
            !pairs
                .iter()
                .any(|p| p.a == 3 || p.b == 3 || p.a == 4 || p.b == 4),
            "{pairs:?}"
        );
    }
}
