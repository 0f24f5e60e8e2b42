//! What this device knows about the time besides its own clock: the last
//! offset its convoy's relay showed it, and whether it has already noted
//! its own clock as wrong (one `ClockNote` per episode).

use qafila_domain::hlc::Timestamp;
use rusqlite::{OptionalExtension, params};

use crate::{Store, StoreError};

/// The relay's clock as last seen from this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayClock {
    /// The relay's clock minus this device's, in ms.
    pub offset_ms: i64,
    /// This device's clock when it learnt it.
    pub learnt_ms: u64,
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// The convoy relay's clock as this device last saw it.
    pub fn relay_clock(&self) -> Result<Option<RelayClock>, StoreError> {
        Ok(self.clock_reference()?.0)
    }

    /// The relay's clock as last seen, and the clock error this device
    /// last noted (`None`: its clock is right), in one read.
    pub fn clock_reference(&self) -> Result<(Option<RelayClock>, Option<i64>), StoreError> {
        let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = self
            .reader()
            .prepare_cached(
                "SELECT offset_ms, learnt_ms, noted_error_ms FROM clock_reference WHERE singleton = 1",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        Ok(match row {
            Some((offset, learnt, noted)) => (
                offset.zip(learnt).map(|(offset_ms, learnt)| RelayClock {
                    offset_ms,
                    learnt_ms: u64::try_from(learnt).unwrap_or(0),
                }),
                noted,
            ),
            None => (None, None),
        })
    }

    /// Remembers how far `relay`'s clock is from this device's.
    pub fn note_relay_clock(&self, relay: &str, clock: RelayClock) -> Result<(), StoreError> {
        let relay = relay.to_owned();
        self.writer.call(move |w| {
            w.conn.execute(
                "UPDATE clock_reference SET relay = ?1, offset_ms = ?2, learnt_ms = ?3 WHERE singleton = 1",
                params![relay, clock.offset_ms, i64_of(clock.learnt_ms)],
            )?;
            Ok(())
        })
    }

    /// The clock error this device last noted (`None`: its clock is right).
    pub fn noted_clock_error(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.clock_reference()?.1)
    }

    /// Remembers the clock error just noted, or that the clock is right.
    pub fn set_noted_clock_error(&self, error_ms: Option<i64>) -> Result<(), StoreError> {
        self.writer.call(move |w| {
            w.conn.execute(
                "UPDATE clock_reference SET noted_error_ms = ?1 WHERE singleton = 1",
                [error_ms],
            )?;
            Ok(())
        })
    }

    /// The newest timestamp this device has issued or taken in.
    pub fn last_stamp(&self) -> Result<Timestamp, StoreError> {
        let clock: i64 = self
            .reader()
            .prepare_cached("SELECT clock FROM device WHERE singleton = 1")?
            .query_row([], |r| r.get(0))?;
        Ok(Timestamp::from_u64(u64::try_from(clock).unwrap_or(0)))
    }
}
