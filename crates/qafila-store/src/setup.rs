//! A new store's identity, and the local plan: rounds with their
//! entitlements, and sites by name.

use qafila_domain::entitlement::{Entitlement, Round};
use qafila_domain::ids::{DeviceId, RoundId, SiteId};
use qafila_domain::names::NameKey;
use rusqlite::{Connection, OptionalExtension, params};

use crate::Store;
use crate::error::StoreError;
use crate::personal::random;

/// The name of the round a new store starts with.
pub const DEFAULT_ROUND_NAME: &str = "الجولة الأولى";

/// Writes the device row and the default round into a fresh store.
pub(crate) fn initialise(
    conn: &mut Connection,
    device_name: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    let device = DeviceId::from_parts(now_ms, random()?);
    let secret: [u8; 32] = random()?;
    let round = Round::with_defaults(RoundId::from_parts(now_ms, random()?), DEFAULT_ROUND_NAME);
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO device (singleton, id, name, nid_secret, clock, next_seq, created_ms)
         VALUES (1, ?1, ?2, ?3, 0, 1, ?4)",
        params![device.to_bytes(), device_name.trim(), secret, now],
    )?;
    insert_round(&tx, &round, now, true)?;
    tx.commit()?;
    Ok(())
}

fn entitlements_text(round: &Round) -> String {
    round
        .entitlements
        .iter()
        .map(Entitlement::to_string)
        .collect::<Vec<_>>()
        .join(";")
}

fn insert_round(
    conn: &Connection,
    round: &Round,
    now: i64,
    current: bool,
) -> Result<(), StoreError> {
    if current {
        conn.execute("UPDATE rounds SET is_current = 0", [])?;
    }
    conn.execute(
        "INSERT INTO rounds (id, name, entitlements, created_ms, is_current) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![round.id.to_bytes(), round.name, entitlements_text(round), now, current],
    )?;
    Ok(())
}

/// A round as stored, with whether it is the one hand-outs draw on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRound {
    /// The round.
    pub round: Round,
    /// Whether new hand-outs count against it.
    pub current: bool,
}

/// A site as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Its id.
    pub id: SiteId,
    /// Its name as first written.
    pub name: String,
}

fn parse_round(id: Vec<u8>, name: String, text: String, current: bool) -> Option<StoredRound> {
    let id = RoundId::from_bytes(id.try_into().ok()?);
    let entitlements = text
        .split(';')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<Entitlement>, _>>()
        .ok()?;
    Some(StoredRound {
        round: Round {
            id,
            name,
            entitlements,
        },
        current,
    })
}

impl Store {
    /// Creates a round; with `current`, new hand-outs count against it.
    /// A round name is unique.
    pub fn create_round(
        &self,
        name: &str,
        entitlements: Vec<Entitlement>,
        current: bool,
        now_ms: u64,
    ) -> Result<StoredRound, StoreError> {
        let name = name.trim().to_owned();
        let round = Round {
            id: RoundId::from_parts(now_ms, random()?),
            name,
            entitlements,
        };
        let stored = StoredRound { round, current };
        let write = stored.clone();
        self.writer.call(move |w| {
            w.transaction(|tx| {
                insert_round(
                    tx,
                    &write.round,
                    i64::try_from(now_ms).unwrap_or(i64::MAX),
                    write.current,
                )
            })
        })?;
        Ok(stored)
    }

    /// Every round, oldest first.
    pub fn rounds(&self) -> Result<Vec<StoredRound>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, entitlements, is_current FROM rounds ORDER BY created_ms, name",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, text, current) = row?;
            out.push(
                parse_round(id, name, text, current).ok_or_else(|| StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: "a stored round is damaged".into(),
                })?,
            );
        }
        Ok(out)
    }

    /// The round new hand-outs count against.
    pub fn current_round(&self) -> Result<Round, StoreError> {
        self.rounds()?
            .into_iter()
            .find(|r| r.current)
            .map(|r| r.round)
            .ok_or_else(|| StoreError::Corrupt {
                path: self.path.clone(),
                detail: "no current round".into(),
            })
    }

    /// The site with this name (compared as a normalised Arabic key), created
    /// on first use.
    pub fn site(&self, name: &str) -> Result<Site, StoreError> {
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        let key = NameKey::new(&name).as_str().to_owned();
        if key.is_empty() {
            return Err(StoreError::Invalid(
                qafila_domain::event::InvalidEvent::ReasonRequired {
                    what: "the site name",
                },
            ));
        }
        if let Some(site) = self.find_site(&key)? {
            return Ok(site);
        }
        let id = SiteId::from_parts(0, random()?);
        self.writer.call(move |w| {
            w.transaction(|tx| {
                tx.execute(
                    "INSERT OR IGNORE INTO sites (id, name, name_key) VALUES (?1, ?2, ?3)",
                    params![id.to_bytes(), name, key],
                )?;
                let (id, name): (Vec<u8>, String) = tx.query_row(
                    "SELECT id, name FROM sites WHERE name_key = ?1",
                    [&key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                Ok(Site {
                    id: SiteId::from_bytes(id.try_into().unwrap_or([0; 16])),
                    name,
                })
            })
        })
    }

    /// The site with this name, if it exists.
    pub fn find_site(&self, key: &str) -> Result<Option<Site>, StoreError> {
        let row: Option<(Vec<u8>, String)> = self
            .reader()
            .query_row(
                "SELECT id, name FROM sites WHERE name_key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(id, name)| Site {
            id: SiteId::from_bytes(id.try_into().unwrap_or([0; 16])),
            name,
        }))
    }

    /// Every site.
    pub fn sites(&self) -> Result<Vec<Site>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached("SELECT id, name FROM sites ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name) = row?;
            out.push(Site {
                id: SiteId::from_bytes(id.try_into().unwrap_or([0; 16])),
                name,
            });
        }
        Ok(out)
    }

    /// The name of a site by id.
    pub fn site_name(&self, id: SiteId) -> Result<Option<String>, StoreError> {
        Ok(self
            .reader()
            .query_row(
                "SELECT name FROM sites WHERE id = ?1",
                [id.to_bytes()],
                |r| r.get(0),
            )
            .optional()?)
    }
}
