//! Qafila's device store: the device's source of truth, in one SQLite file.
//!
//! - [`Store`]: opens or creates a store, reads from a read connection that
//!   writing never blocks (WAL), and writes through one writer thread
//!   ([`writer::WriterHandle`]).
//! - Every event, its Automerge change ([`qafila_doc::device_day`]) and its
//!   projection rows ([`projection`]) commit in one transaction with
//!   `synchronous=FULL`: once a write returns, it survives `kill -9` and
//!   power loss.
//! - [`registry`]: beneficiaries, households, normalised-name search, national
//!   ID matching by keyed hash, and erasure. Personal data is sealed per
//!   person ([`personal`]) before it enters an event.
//! - [`migrations`]: append-only, verified at every open; a store from a
//!   newer Qafila is refused, not misread.
//!
//! This is the only crate that sees rusqlite.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod backup;
pub mod cards;
pub mod checkpoint;
pub mod clock;
mod encrypt;
pub mod error;
pub mod key;
pub mod migrations;
pub mod personal;
pub mod projection;
pub mod registry;
pub mod setup;
pub mod sync;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use qafila_domain::event::{Event, EventBody};
use qafila_domain::ids::{DeviceId, VolunteerId};
use rusqlite::{Connection, OpenFlags};

pub use error::StoreError;
pub use key::{Passphrase, StoreKey};
use writer::{Writer, WriterHandle};

/// The store's file name inside a data directory.
pub const DB_FILE: &str = "qafila.db";

/// Who this device is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Its id.
    pub id: DeviceId,
    /// Its human name.
    pub name: String,
}

/// A device's store.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    device: DeviceInfo,
    /// The national-ID key projections are hashed with: the device's own
    /// until it receives a convoy's (`sync::ScopeKey::nid_secret`).
    nid_key: std::sync::Arc<std::sync::RwLock<qafila_domain::nid::NidKey>>,
    read: Mutex<Connection>,
    writer: WriterHandle,
    // Declared last: dropped after the writer, so the final checkpoint sees
    // every write.
    _checkpoint: checkpoint::Checkpointer,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL: readers never wait for the writer. FULL: a commit is on disk when
    // it returns. secure_delete: erased personal data is overwritten, not
    // left in free pages.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    stable_plans(conn)?;
    Ok(())
}

/// Plans that do not depend on bound values (SQLite's query planner
/// stability guarantee). Without it, planning a join marks the statement
/// "re-prepare when this parameter is rebound" (to reconsider a `col = ?`
/// bound to 0 or 1), and `sqlite3_clear_bindings`, which rusqlite's statement
/// cache calls on every statement it takes back, then expires the statement:
/// every cached join was parsed and planned again on each use.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Opens `path` with SQLCipher under `key` and checks the key reads it.
pub(crate) fn connect(
    path: &Path,
    flags: OpenFlags,
    key: &StoreKey,
) -> Result<Connection, StoreError> {
    let sqlite = |e| StoreError::from_sqlite(path, e);
    let conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
    // A page that does not decrypt is our error to report, not a line on
    // the CLI's stderr.
    conn.pragma_update(None, "cipher_log_level", "NONE")
        .map_err(sqlite)?;
    // First, before anything reads a page.
    conn.pragma_update(None, "key", &*key.pragma())
        .map_err(sqlite)?;
    // Before the first read, as SQLCipher asks.
    conn.pragma_update(None, "cipher_hmac_algorithm", key.hmac().pragma())
        .map_err(sqlite)?;
    // A wrong key or a damaged file shows on the first read.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(sqlite)?;
    Ok(conn)
}

/// How the database file in a data directory is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// No store yet.
    Missing,
    /// A store from before encryption: opening it with a passphrase
    /// encrypts it in place.
    Plaintext,
    /// Encrypted, with its key sealed in `qafila.key`.
    Encrypted,
}

/// How the store in `dir` is kept (read from the file's first bytes).
pub fn protection(dir: &Path) -> Protection {
    use std::io::Read;
    let path = dir.join(DB_FILE);
    let Ok(mut file) = std::fs::File::open(&path) else {
        return Protection::Missing;
    };
    let mut header = [0u8; 16];
    match file.read_exact(&mut header) {
        Ok(()) if &header == b"SQLite format 3\0" => Protection::Plaintext,
        _ => Protection::Encrypted,
    }
}

impl Store {
    /// Creates a new store for a device named `device_name` in `dir`,
    /// encrypted under a new key sealed with `passphrase`.
    pub fn create(
        dir: &Path,
        device_name: &str,
        passphrase: &Passphrase,
        now_ms: u64,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        if path.exists() {
            return Err(StoreError::AlreadyInitialised(dir.to_owned()));
        }
        // A key file without a database is what a create interrupted
        // before its first commit leaves: nothing it sealed exists.
        let key = key::create(dir, passphrase)?;
        let mut conn = connect(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            &key,
        )?;
        configure(&conn).map_err(|e| StoreError::from_sqlite(&path, e))?;
        migrations::migrate(&mut conn)?;
        setup::initialise(&mut conn, device_name, now_ms)?;
        drop(conn);
        Store::open_with_key(dir, &key)
    }

    /// Opens the store in `dir` with `passphrase` (a guess counts against
    /// the limit at `now_ms`). A store from before encryption is encrypted
    /// in place first, under a new key sealed with `passphrase`.
    pub fn open(dir: &Path, passphrase: &Passphrase, now_ms: u64) -> Result<Store, StoreError> {
        Store::open_with_key(dir, &Store::unlock(dir, passphrase, now_ms)?)
    }

    /// The key of the store in `dir`, opened with `passphrase` (encrypting a
    /// store from before encryption first).
    pub fn unlock(
        dir: &Path,
        passphrase: &Passphrase,
        now_ms: u64,
    ) -> Result<StoreKey, StoreError> {
        match protection(dir) {
            Protection::Missing => Err(StoreError::NotInitialised(dir.to_owned())),
            Protection::Plaintext => encrypt::in_place(dir, passphrase, now_ms),
            Protection::Encrypted => key::unlock(dir, passphrase, now_ms),
        }
    }

    /// Opens the store in `dir` with its key.
    pub fn open_with_key(dir: &Path, key: &StoreKey) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Err(StoreError::NotInitialised(dir.to_owned()));
        }
        let sqlite = |e| StoreError::from_sqlite(&path, e);
        let mut conn = connect(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            key,
        )?;
        configure(&conn).map_err(sqlite)?;
        migrations::migrate(&mut conn).map_err(|e| match e {
            StoreError::Sqlite(inner) => StoreError::from_sqlite(&path, inner),
            other => other,
        })?;
        let (name, secret): (String, Vec<u8>) = conn
            .query_row(
                "SELECT name, nid_secret FROM device WHERE singleton = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sqlite)?;
        let nid_key =
            qafila_domain::nid::NidKey::new(&secret).map_err(|_| StoreError::Corrupt {
                path: path.clone(),
                detail: "the national-ID key is damaged".into(),
            })?;
        let wipe = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = Writer::new(conn, path.clone(), wipe.clone())?;
        let device = DeviceInfo {
            id: writer.device,
            name,
        };
        let read = connect(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            key,
        )?;
        read.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite)?;
        // Every page read from disk is decrypted and authenticated: the
        // read connection keeps more of them decrypted in memory (16 MiB
        // rather than SQLite's 2 MiB), so a scan on a 250,000-person
        // registry rarely pays for one. Not the writer: SQLite walks its
        // whole page-cache hash at every commit (`pager_end_transaction`),
        // which at 16 MiB cost a hand-out more than the pages it saved.
        read.pragma_update(None, "cache_size", -16_384)
            .map_err(sqlite)?;
        stable_plans(&read).map_err(sqlite)?;
        let checkpoint = checkpoint::Checkpointer::start(&path, key, wipe)?;
        Ok(Store {
            path,
            device,
            nid_key: std::sync::Arc::new(std::sync::RwLock::new(nid_key)),
            read: Mutex::new(read),
            writer: WriterHandle::start(writer)?,
            _checkpoint: checkpoint,
        })
    }

    /// A connection to the decrypted database in `dir`, for tests and
    /// recovery tools that read tables directly. Nothing in Qafila writes
    /// through it.
    pub fn raw_connection(dir: &Path, key: &StoreKey) -> Result<Connection, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Err(StoreError::NotInitialised(dir.to_owned()));
        }
        // CREATE only so that ATTACH may make a file (an export).
        connect(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            key,
        )
    }

    /// This device.
    pub fn device(&self) -> &DeviceInfo {
        &self.device
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The read connection. Poisoning is harmless here (a panicked reader
    /// leaves no half-written state), so it is recovered.
    pub(crate) fn reader(&self) -> MutexGuard<'_, Connection> {
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event made on this device and returns it once durable.
    pub fn record(
        &self,
        volunteer: VolunteerId,
        body: EventBody,
        now_ms: u64,
    ) -> Result<Event, StoreError> {
        self.writer
            .call(move |w| w.record(volunteer, body, now_ms, |_, _| Ok(())))
    }

    /// Records several events made on this device in one transaction: all
    /// of them or none, returned once durable.
    pub fn record_all(
        &self,
        volunteer: VolunteerId,
        bodies: Vec<EventBody>,
        now_ms: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let items = bodies
            .into_iter()
            .map(|body| {
                let extra: writer::Extra = Box::new(|_, _| Ok(()));
                (volunteer, body, extra)
            })
            .collect();
        self.writer.call(move |w| w.record_many(items, now_ms))
    }

    /// Looks up one event.
    pub fn event(&self, id: qafila_domain::ids::EventId) -> Result<Option<Event>, StoreError> {
        use rusqlite::OptionalExtension;
        let body: Option<Vec<u8>> = self
            .reader()
            .query_row(
                "SELECT body FROM events WHERE id = ?1",
                [id.to_bytes()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(body.map(|b| qafila_doc::codec::decode(&b)).transpose()?)
    }

    /// Every event in the store, in canonical (timestamp, id) order.
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached("SELECT body FROM events ORDER BY at, id")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(qafila_doc::codec::decode(&body?)?);
        }
        Ok(out)
    }

    /// Every day close in the store (few: one per site and day), read
    /// through a partial index so a hand-out can check its day is open.
    pub fn day_closes(&self) -> Result<Vec<Event>, StoreError> {
        self.few_events("SELECT body FROM events WHERE kind = 'day_close' ORDER BY at, id")
    }

    /// Every site-day a lead opened (few), through a partial index.
    pub fn site_days_opened(&self) -> Result<Vec<Event>, StoreError> {
        self.few_events("SELECT body FROM events WHERE kind = 'site_day_opened' ORDER BY at, id")
    }

    /// The idle minutes the lead allows at most (the newest
    /// `LockPolicy`), if it set any.
    pub fn lock_policy(&self) -> Result<Option<u32>, StoreError> {
        let newest = self.few_events(
            "SELECT body FROM events WHERE kind = 'lock_policy' ORDER BY at DESC, id DESC LIMIT 1",
        )?;
        Ok(newest.into_iter().find_map(|e| match e.body {
            qafila_domain::event::EventBody::LockPolicy { minutes } => Some(minutes),
            _ => None,
        }))
    }

    fn few_events(&self, sql: &str) -> Result<Vec<Event>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(qafila_doc::codec::decode(&body?)?);
        }
        Ok(out)
    }

    /// How many events the store holds.
    pub fn event_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .reader()
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether an event has been voided.
    pub fn is_voided(&self, id: qafila_domain::ids::EventId) -> Result<bool, StoreError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .reader()
            .query_row(
                "SELECT 1 FROM voided v JOIN events e ON e.id = v.target
                 WHERE v.target = ?1 AND (v.target_device IS NULL OR v.target_device = e.device)",
                [id.to_bytes()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Rebuilds this device's Automerge documents from the stored chunks
    /// and returns their events: what the sync issue ships.
    pub fn own_doc_events(&self, day: chrono::NaiveDate) -> Result<Vec<Event>, StoreError> {
        let chunks: Vec<Vec<u8>> = self
            .reader()
            .prepare_cached(
                "SELECT bytes FROM doc_chunks WHERE device = ?1 AND day = ?2 ORDER BY seq",
            )?
            .query_map(
                rusqlite::params![self.device.id.to_bytes(), day.to_string()],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        let doc = qafila_doc::device_day::DeviceDayDoc::from_chunks(
            self.device.id,
            chunks.iter().map(Vec::as_slice),
        )?;
        Ok(doc.events()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-out checks that its day is open on every call: that read must
    /// stay on the small partial index, never a scan of every event.
    #[test]
    fn reading_the_day_closes_uses_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(
            dir.path(),
            "test",
            &Passphrase::new("test passphrase"),
            1_796_000_000_000,
        )
        .unwrap();
        let plan: Vec<String> = store
            .reader()
            .prepare("EXPLAIN QUERY PLAN SELECT body FROM events WHERE kind = 'day_close' ORDER BY at, id")
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX events_day_close")),
            "{plan:?}"
        );
        assert!(store.day_closes().unwrap().is_empty());
    }
}
