//! The single writer: one thread owns the write connection, the device's
//! hybrid clock and its open Automerge documents.
//!
//! Every write goes through [`WriterHandle::call`], which runs a closure on
//! that thread and waits for its answer. One writer means no lock contention
//! inside SQLite, a clock that can never issue the same timestamp twice, and
//! writes that never run on an async executor or the UI thread.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use chrono::NaiveDate;
use qafila_doc::device_day::DeviceDayDoc;
use qafila_domain::event::{Event, EventBody};
use qafila_domain::hlc::{Clock, Timestamp};
use qafila_domain::ids::{DeviceId, EventId, VolunteerId};
use qafila_domain::role::Role;
use rusqlite::{Connection, Transaction, params};

use crate::error::StoreError;
use crate::personal::random;
use crate::projection;

type Job = Box<dyn FnOnce(&mut Writer) + Send>;

/// Extra writes that commit together with an event.
pub type Extra = Box<dyn FnOnce(&Transaction<'_>, &Event) -> Result<(), StoreError> + Send>;

/// The state only the writer thread touches.
#[derive(Debug)]
pub struct Writer {
    pub(crate) conn: Connection,
    pub(crate) device: DeviceId,
    pub(crate) clock: Clock,
    next_seq: i64,
    docs: HashMap<NaiveDate, DeviceDayDoc>,
    /// This device's roles in its convoys, cached (`None`: to be read
    /// again, after the convoys or the roster changed).
    pub(crate) own_roles: Option<OwnRoles>,
    /// Set after a commit that erased personal data: the checkpoint thread
    /// then truncates the WAL, which still holds the pages as they were.
    wipe: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What this device may record: `Any` outside a convoy (or certified
/// before roles existed), else what one of its roles allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnRoles {
    Any,
    Roles(Vec<Role>),
    /// Restored from a key backup, its own log not yet back: nothing.
    Restoring,
}

impl OwnRoles {
    /// Reads them: the lead of its own convoys, the role its newest
    /// certificate gives it in the others (`volunteer` while pending).
    fn load(conn: &Connection, device: DeviceId) -> Result<OwnRoles, StoreError> {
        let restoring: i64 = conn.query_row(
            "SELECT COUNT(*) FROM restores WHERE recovered = 0",
            [],
            |r| r.get(0),
        )?;
        if restoring > 0 {
            return Ok(OwnRoles::Restoring);
        }
        let rows: Vec<(Vec<u8>, Option<String>)> = conn
            .prepare_cached(
                "SELECT c.lead, r.role FROM convoys c
                 LEFT JOIN roster r ON r.scope = c.id AND r.device = ?1
                 WHERE c.status != 'revoked'",
            )?
            .query_map([device.to_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if rows.is_empty() {
            return Ok(OwnRoles::Any);
        }
        let mut roles = Vec::with_capacity(rows.len());
        for (lead, role) in rows {
            let role = if lead == device.to_bytes() {
                Role::Lead
            } else {
                match role.as_deref() {
                    Some("legacy") => return Ok(OwnRoles::Any),
                    Some(name) => Role::parse(name).unwrap_or(Role::Volunteer),
                    None => Role::Volunteer,
                }
            };
            roles.push(role);
        }
        Ok(OwnRoles::Roles(roles))
    }

    fn permits(&self, device: DeviceId, body: &EventBody) -> Result<(), StoreError> {
        let roles = match self {
            OwnRoles::Any => return Ok(()),
            OwnRoles::Restoring => return Err(StoreError::RestorePending),
            OwnRoles::Roles(roles) => roles,
        };
        let mut refusal = None;
        for role in roles {
            match qafila_domain::role::permits(*role, device, body) {
                Ok(()) => return Ok(()),
                Err(e) => refusal = Some(e),
            }
        }
        match refusal {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// The UTC day of a hybrid timestamp: which device-day document an event
/// belongs to. UTC, so every device files the same event the same way.
pub fn doc_day(at: Timestamp) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(i64::try_from(at.wall_ms()).unwrap_or(i64::MAX))
        .map_or(NaiveDate::MIN, |t| t.date_naive())
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        path: PathBuf,
        wipe: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Self, StoreError> {
        // Checkpoints run on their own thread (`checkpoint.rs`), not inside
        // the commit that happens to cross SQLite's threshold.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (device, clock, next_seq): (Vec<u8>, i64, i64) = conn.query_row(
            "SELECT id, clock, next_seq FROM device WHERE singleton = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let device = DeviceId::from_bytes(device.try_into().map_err(|_| StoreError::Corrupt {
            path: path.clone(),
            detail: "the device id is damaged".into(),
        })?);
        Ok(Self {
            conn,
            device,
            clock: Clock::new(Timestamp::from_u64(u64::try_from(clock).unwrap_or(0))),
            next_seq,
            docs: HashMap::new(),
            own_roles: None,
            wipe,
        })
    }

    /// Carries on this device's log at `next_seq` after its records came
    /// back from a relay (a restore): the open documents and roles are read
    /// again from what was committed.
    pub(crate) fn restart_log(&mut self, next_seq: i64) {
        self.next_seq = next_seq;
        self.docs.clear();
        self.own_roles = None;
    }

    /// Asks for the WAL to be truncated: the last commit erased someone.
    pub(crate) fn wipe_wal(&self) {
        self.wipe.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn doc_for(&mut self, day: NaiveDate) -> Result<&mut DeviceDayDoc, StoreError> {
        if !self.docs.contains_key(&day) {
            // Only today's document is normally open; drop older ones.
            self.docs.retain(|d, _| *d > day);
            let chunks: Vec<Vec<u8>> = self
                .conn
                .prepare_cached(
                    "SELECT bytes FROM doc_chunks WHERE device = ?1 AND day = ?2 ORDER BY seq",
                )?
                .query_map(params![self.device.to_bytes(), day.to_string()], |r| {
                    r.get(0)
                })?
                .collect::<Result<_, _>>()?;
            let doc = DeviceDayDoc::from_chunks(self.device, chunks.iter().map(Vec::as_slice))?;
            self.docs.insert(day, doc);
        }
        self.docs.get_mut(&day).ok_or(StoreError::WriterGone)
    }

    /// Records a new local event durably: the event row, its Automerge change
    /// and its projections commit in one transaction, with `extra` writes
    /// (registry rows, keys) in the same transaction. Returns once the commit
    /// is on disk.
    pub fn record(
        &mut self,
        volunteer: VolunteerId,
        body: EventBody,
        now_ms: u64,
        extra: impl FnOnce(&Transaction<'_>, &Event) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<Event, StoreError> {
        let mut events =
            self.record_many(vec![(volunteer, body, Box::new(extra) as Extra)], now_ms)?;
        events.pop().ok_or(StoreError::WriterGone)
    }

    /// Records several events in one transaction: all of them or none. Used
    /// for imports, where one disk flush per row would make a 5,000-family
    /// list take minutes on a phone.
    pub fn record_many(
        &mut self,
        items: Vec<(VolunteerId, EventBody, Extra)>,
        now_ms: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let mut touched = BTreeSet::new();
        let outcome = self.try_record_many(items, now_ms, &mut touched);
        if outcome.is_err() {
            // Changes may be in cached documents but not on disk: drop those
            // documents so the next write reloads them from what was committed.
            for day in touched {
                self.docs.remove(&day);
            }
        }
        outcome
    }

    fn try_record_many(
        &mut self,
        items: Vec<(VolunteerId, EventBody, Extra)>,
        now_ms: u64,
        touched: &mut BTreeSet<NaiveDate>,
    ) -> Result<Vec<Event>, StoreError> {
        if self.own_roles.is_none() {
            self.own_roles = Some(OwnRoles::load(&self.conn, self.device)?);
        }
        if let Some(roles) = &self.own_roles {
            for (_, body, _) in &items {
                roles.permits(self.device, body)?;
            }
        }
        let mut prepared = Vec::with_capacity(items.len());
        for (volunteer, body, extra) in items {
            let at = self.clock.tick(now_ms);
            let event = Event {
                id: EventId::from_parts(at.wall_ms(), random()?),
                device: self.device,
                volunteer,
                at,
                body,
            };
            event.validate()?;
            let day = doc_day(at);
            touched.insert(day);
            let chunk = self.doc_for(day)?.record(&event)?;
            prepared.push((event, day, chunk, extra));
        }
        let mut seq = self.next_seq;
        let tx = self.conn.transaction()?;
        let mut events = Vec::with_capacity(prepared.len());
        for (event, day, chunk, extra) in prepared {
            tx.prepare_cached(
                "INSERT INTO events (id, device, seq, at, kind, household, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                event.id.to_bytes(),
                event.device.to_bytes(),
                seq,
                i64::try_from(event.at.to_u64()).unwrap_or(i64::MAX),
                projection::kind(&event),
                projection::household(&event),
                qafila_doc::codec::encode(&event)
            ])?;
            tx.prepare_cached(
                "INSERT INTO doc_chunks (device, day, seq, bytes) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                event.device.to_bytes(),
                day.to_string(),
                seq,
                chunk
            ])?;
            projection::apply(&tx, &event)?;
            extra(&tx, &event)?;
            seq += 1;
            events.push(event);
        }
        tx.prepare_cached("UPDATE device SET clock = ?1, next_seq = ?2 WHERE singleton = 1")?
            .execute(params![
                i64::try_from(self.clock.last().to_u64()).unwrap_or(i64::MAX),
                seq
            ])?;
        tx.commit()?;
        self.next_seq = seq;
        if events
            .iter()
            .any(|e| matches!(e.body, EventBody::BeneficiaryErased { .. }))
        {
            self.wipe_wal();
        }
        Ok(events)
    }

    /// Runs `f` in a transaction on the writer connection (for writes that
    /// are not events, such as rounds and sites).
    pub fn transaction<R>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let tx = self.conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// A handle to the writer thread.
#[derive(Debug)]
pub struct WriterHandle {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    /// Starts the writer thread.
    pub fn start(writer: Writer) -> Result<Self, StoreError> {
        let (jobs, receive) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("qafila-store-writer".into())
            .spawn(move || {
                let mut writer = writer;
                for job in receive {
                    job(&mut writer);
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `f` on the writer thread and returns its result.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let jobs = self.jobs.as_ref().ok_or(StoreError::WriterGone)?;
        jobs.send(Box::new(move |w: &mut Writer| {
            let _ = reply.send(f(w));
        }))
        .map_err(|_| StoreError::WriterGone)?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop after queued writes.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
