//! The shared convoy document: the plan, sites, rounds with their
//! entitlements, and the device roster. Unlike device-day documents, several
//! devices (the lead's, a deputy's, the registrar's) edit it, sometimes the
//! same field offline at the same time. Automerge keeps every concurrent
//! value; this module never drops one: each read returns the value Automerge
//! picked *and* the others, so the UI can ask a person to choose.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use qafila_domain::entitlement::{Entitlement, Round};
use qafila_domain::ids::{DeviceId, RoundId, SiteId};

use crate::device_day::{DocError, apply_untrusted};

/// The convoy document's schema version.
pub const CONVOY_SCHEMA_VERSION: u64 = 1;

/// The genesis change every convoy document starts from (pinned by a test).
pub const CONVOY_GENESIS: &[u8] = include_bytes!("convoy_genesis.automerge");

const SCHEMA: &str = "schema";
const MAPS: [&str; 4] = ["plan", "sites", "rounds", "roster"];

/// A value, with any others written concurrently on devices that could not
/// see each other. `concurrent` empty means no conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<T> {
    /// The value Automerge settled on (deterministic on every device).
    pub value: T,
    /// The other values written concurrently.
    pub concurrent: Vec<T>,
}

/// Builds the convoy genesis deterministically.
pub fn build_convoy_genesis() -> Vec<u8> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from([1u8; 16].as_slice()));
    let _ = doc.put(automerge::ROOT, SCHEMA, CONVOY_SCHEMA_VERSION);
    for map in MAPS {
        let _ = doc.put_object(automerge::ROOT, map, ObjType::Map);
    }
    doc.commit_with(CommitOptions::default().with_time(0));
    doc.save()
}

/// A convoy's shared plan.
#[derive(Debug)]
pub struct ConvoyDoc {
    doc: AutoCommit,
    maps: [ObjId; 4],
}

fn text(value: &Value<'_>) -> Option<String> {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(t) => Some(t.to_string()),
            _ => None,
        },
        Value::Object(_) => None,
    }
}

fn round_text(round: &Round) -> String {
    let rules: Vec<String> = round
        .entitlements
        .iter()
        .map(Entitlement::to_string)
        .collect();
    format!("{}\n{}", round.name, rules.join(";"))
}

fn parse_round(id: RoundId, text: &str) -> Option<Round> {
    let (name, rules) = text.split_once('\n')?;
    let entitlements = rules
        .split(';')
        .filter(|r| !r.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<Entitlement>, _>>()
        .ok()?;
    Some(Round {
        id,
        name: name.to_owned(),
        entitlements,
    })
}

impl ConvoyDoc {
    /// A new convoy document edited by `device`.
    pub fn new(device: DeviceId) -> Result<Self, DocError> {
        let mut doc = AutoCommit::load(CONVOY_GENESIS)?;
        doc.set_actor(ActorId::from(device.to_bytes().as_slice()));
        let mut maps = Vec::with_capacity(MAPS.len());
        for map in MAPS {
            match doc.get(automerge::ROOT, map)? {
                Some((Value::Object(ObjType::Map), id)) => maps.push(id),
                _ => return Err(DocError::Schema(None)),
            }
        }
        let maps: [ObjId; 4] = maps.try_into().map_err(|_| DocError::Schema(None))?;
        Ok(Self { doc, maps })
    }

    /// Applies changes from another device (guarded like device-day ones).
    pub fn apply(&mut self, chunk: &[u8]) -> Result<(), DocError> {
        apply_untrusted(&mut self.doc, chunk)
    }

    fn put(
        &mut self,
        map: usize,
        key: String,
        value: String,
        now_s: i64,
    ) -> Result<Vec<u8>, DocError> {
        self.doc.put(&self.maps[map], key, value)?;
        self.doc
            .commit_with(CommitOptions::default().with_time(now_s));
        Ok(self.doc.save_incremental())
    }

    fn read(&self, map: usize) -> Result<Vec<(String, Field<String>)>, DocError> {
        let mut out = Vec::new();
        for key in self.doc.keys(&self.maps[map]) {
            let all = self.doc.get_all(&self.maps[map], key.as_str())?;
            let winner = self.doc.get(&self.maps[map], key.as_str())?;
            let Some(value) = winner.as_ref().and_then(|(v, _)| text(v)) else {
                continue;
            };
            let winner_id = winner.map(|(_, id)| id);
            let concurrent = all
                .iter()
                .filter(|(_, id)| Some(id) != winner_id.as_ref())
                .filter_map(|(v, _)| text(v))
                .collect();
            out.push((key, Field { value, concurrent }));
        }
        Ok(out)
    }

    /// Names the convoy and its date; returns the change to ship.
    pub fn set_plan(
        &mut self,
        name: &str,
        date: chrono::NaiveDate,
        now_s: i64,
    ) -> Result<Vec<u8>, DocError> {
        self.put(0, "name".into(), name.to_owned(), now_s)?;
        self.put(0, "date".into(), date.to_string(), now_s)
    }

    /// The convoy's name and date as written (with concurrent edits).
    pub fn plan(&self) -> Result<Vec<(String, Field<String>)>, DocError> {
        self.read(0)
    }

    /// Adds or renames a site.
    pub fn set_site(&mut self, site: SiteId, name: &str, now_s: i64) -> Result<Vec<u8>, DocError> {
        self.put(1, site.to_string(), name.to_owned(), now_s)
    }

    /// Every site, with concurrent renames.
    pub fn sites(&self) -> Result<Vec<(SiteId, Field<String>)>, DocError> {
        Ok(self
            .read(1)?
            .into_iter()
            .filter_map(|(k, f)| Some((k.parse().ok()?, f)))
            .collect())
    }

    /// Defines or changes a round's entitlements.
    pub fn set_round(&mut self, round: &Round, now_s: i64) -> Result<Vec<u8>, DocError> {
        self.put(2, round.id.to_string(), round_text(round), now_s)
    }

    /// Every round, with concurrent versions of its entitlements.
    pub fn rounds(&self) -> Result<Vec<Field<Round>>, DocError> {
        Ok(self
            .read(2)?
            .into_iter()
            .filter_map(|(k, f)| {
                let id: RoundId = k.parse().ok()?;
                Some(Field {
                    value: parse_round(id, &f.value)?,
                    concurrent: f
                        .concurrent
                        .iter()
                        .filter_map(|t| parse_round(id, t))
                        .collect(),
                })
            })
            .collect())
    }

    /// Adds a device to the roster under a name.
    pub fn set_member(
        &mut self,
        device: DeviceId,
        name: &str,
        now_s: i64,
    ) -> Result<Vec<u8>, DocError> {
        self.put(3, device.to_string(), name.to_owned(), now_s)
    }

    /// The roster.
    pub fn roster(&self) -> Result<Vec<(DeviceId, Field<String>)>, DocError> {
        Ok(self
            .read(3)?
            .into_iter()
            .filter_map(|(k, f)| Some((k.parse().ok()?, f)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qafila_domain::entitlement::Round;

    fn device(n: u8) -> DeviceId {
        DeviceId::from_parts(1, [n; 10])
    }

    #[test]
    fn the_shipped_convoy_genesis_is_the_one_we_build() {
        assert_eq!(build_convoy_genesis(), CONVOY_GENESIS);
    }

    #[test]
    fn concurrent_edits_of_one_field_are_surfaced_on_every_device() {
        let site = SiteId::from_parts(1, [9; 10]);
        let mut lead = ConvoyDoc::new(device(1)).unwrap();
        let mut deputy = ConvoyDoc::new(device(2)).unwrap();
        let base = lead.set_site(site, "مدرسة القرية", 1).unwrap();
        deputy.apply(&base).unwrap();
        // Both rename the site while offline.
        let a = lead.set_site(site, "مدرسة القرية الابتدائية", 2).unwrap();
        let b = deputy.set_site(site, "الوحدة الصحية", 2).unwrap();
        lead.apply(&b).unwrap();
        deputy.apply(&a).unwrap();
        let on_lead = lead.sites().unwrap();
        let on_deputy = deputy.sites().unwrap();
        assert_eq!(
            on_lead, on_deputy,
            "both devices agree on the winner and the conflict"
        );
        let (_, field) = &on_lead[0];
        let mut both = vec![field.value.clone()];
        both.extend(field.concurrent.clone());
        both.sort();
        assert_eq!(
            both,
            vec![
                "الوحدة الصحية".to_owned(),
                "مدرسة القرية الابتدائية".to_owned()
            ]
        );
    }

    #[test]
    fn rounds_roster_and_plan_round_trip() {
        let mut doc = ConvoyDoc::new(device(1)).unwrap();
        let round = Round::with_defaults(RoundId::from_parts(1, [3; 10]), "شتاء");
        let mut other = ConvoyDoc::new(device(2)).unwrap();
        other.apply(&doc.set_round(&round, 1).unwrap()).unwrap();
        other
            .apply(&doc.set_member(device(1), "موبايل منى", 1).unwrap())
            .unwrap();
        let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        doc.set_plan("قافلة كفر الشيخ", date, 1).unwrap();
        assert_eq!(
            other.rounds().unwrap(),
            vec![Field {
                value: round,
                concurrent: vec![]
            }]
        );
        assert_eq!(other.roster().unwrap()[0].1.value, "موبايل منى");
        assert_eq!(doc.plan().unwrap().len(), 2);
        // Garbage changes nothing (Automerge skips what is not a change).
        let before = other.rounds().unwrap();
        let _ = other.apply(b"garbage");
        assert_eq!(other.rounds().unwrap(), before);
    }
}
