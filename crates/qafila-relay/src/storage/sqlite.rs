//! The embedded backend: one SQLite file (WAL, `synchronous=FULL`,
//! `secure_delete` so a compacted registry entry's bytes are overwritten,
//! and the WAL cut after every commit that compacted one: see
//! `write_loop`).
//! Reads run on tokio's blocking pool on their own connection, so downloads
//! never wait behind uploads. Writes go to one writer thread that commits
//! every write waiting in one transaction (each in its own savepoint) and
//! answers them only after that commit: under load, many uploads share one
//! fsync.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Outcome};
use qafila_proto::control::{B64, DeviceKey, DeviceKeys, Enrolled, Invite, Member, WrappedKey};
use qafila_proto::record::Record;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    CertOutcome, CertificateRow, MemberRow, Page, Role, Status, Storage, StorageError, digest,
    keyed, new_relay_id, supersede,
};

/// Schema changes, in order; `PRAGMA user_version` says how many a database
/// has had. The first is the schema of the builds before versioning (whose
/// databases have `user_version` 0 and these tables already).
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS scopes (
    scope       BLOB PRIMARY KEY,
    lead        BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    scope       BLOB NOT NULL,
    device      BLOB NOT NULL,
    name        TEXT NOT NULL,
    signing     BLOB NOT NULL,
    encryption  BLOB NOT NULL,
    role        TEXT NOT NULL,
    status      TEXT NOT NULL,
    certificate BLOB NOT NULL,
    PRIMARY KEY (scope, device)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invites (
    code_hash   TEXT PRIMARY KEY,
    scope       BLOB NOT NULL,
    expires_ms  INTEGER NOT NULL,
    uses_left   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wrapped_keys (
    scope       BLOB NOT NULL,
    device      BLOB NOT NULL,
    epoch       INTEGER NOT NULL,
    wrapped     BLOB NOT NULL,
    PRIMARY KEY (scope, device, epoch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    scope       BLOB NOT NULL,
    device      BLOB NOT NULL,
    last        INTEGER NOT NULL,
    PRIMARY KEY (scope, device)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    scope       BLOB NOT NULL,
    device      BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    digest      BLOB NOT NULL,
    key         BLOB,
    version     INTEGER,
    bytes       BLOB,
    PRIMARY KEY (scope, device, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_live_key ON records (scope, key) WHERE key IS NOT NULL AND bytes IS NOT NULL;
",
    // The trust model: a relay id, certificate versions, enrollment
    // bindings, signed key grants, and control requests' nonces.
    "
CREATE TABLE relay (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    id          BLOB NOT NULL
);
ALTER TABLE members ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN invite TEXT;
ALTER TABLE members ADD COLUMN binding BLOB NOT NULL DEFAULT x'';
ALTER TABLE wrapped_keys ADD COLUMN signature BLOB NOT NULL DEFAULT x'';
ALTER TABLE wrapped_keys ADD COLUMN revocations TEXT NOT NULL DEFAULT '[]';
CREATE TABLE nonces (
    nonce       BLOB PRIMARY KEY,
    expires_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces (expires_ms);
",
];

/// Brings a database to the newest schema, each step in its own
/// transaction; a database from a newer build is refused.
fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let at: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map(|v| usize::try_from(v).unwrap_or(usize::MAX))?;
    if at > MIGRATIONS.len() {
        return Err(StorageError::Backend(format!(
            "this relay database was written by a newer Qafila (schema {at}, this build knows {}): run the newer relay",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(at) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    let id = new_relay_id()?;
    conn.execute(
        "INSERT OR IGNORE INTO relay (singleton, id) VALUES (1, ?1)",
        [id.0],
    )?;
    Ok(())
}

/// SQLite storage.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    // Declared before `writer_thread`: the last clone's sender closes the
    // channel before the thread is joined.
    jobs: mpsc::Sender<WriteJob>,
    read: Arc<Readers>,
    truncate: Arc<AtomicBool>,
    relay: Uid,
    _writer_thread: Arc<WriterThread>,
}

/// Called once the batch holding a write has committed (or failed to).
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write: runs in its own savepoint; `false` rolls that savepoint back.
type WriteJob = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// Read connections: reads run side by side (WAL), on tokio's blocking pool.
const READERS: usize = 4;

#[derive(Debug)]
struct Readers {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    /// A free connection if there is one, else the next in turn.
    fn take(&self) -> std::sync::MutexGuard<'_, Connection> {
        for conn in &self.connections {
            if let Ok(guard) = conn.try_lock() {
                return guard;
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[i]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// Most writes committed together.
const GROUP: usize = 256;

#[derive(Debug)]
struct WriterThread(Mutex<Option<std::thread::JoinHandle<()>>>);

impl Drop for WriterThread {
    fn drop(&mut self) {
        if let Some(thread) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

/// How long the writer waits for readers on an older snapshot when it cuts
/// the WAL before giving up until the next try (writes queue meanwhile).
const TRUNCATE_WAIT: Duration = Duration::from_millis(100);

/// How soon an owed WAL truncation is tried again when no write comes.
const TRUNCATE_RETRY: Duration = Duration::from_millis(250);

/// How long a write waits for the database before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The writer thread: takes every write waiting, runs each in a savepoint
/// of one transaction, commits once (one fsync for them all), and only
/// then answers them. Under load, many devices' uploads share a commit.
///
/// After answering a batch that superseded a registry entry, it cuts the
/// WAL (a TRUNCATE checkpoint): the WAL still holds the entry's pages as
/// they were, and `secure_delete` only covers the database file. While a
/// reader holds an older snapshot the cut cannot happen; it stays owed and
/// is tried again after the next batch, or after [`TRUNCATE_RETRY`] when
/// no write comes. The request that erased is answered before the cut, so
/// it never waits for it; a write answered later was taken after the cut
/// was tried.
fn write_loop(mut conn: Connection, jobs: mpsc::Receiver<WriteJob>, truncate: Arc<AtomicBool>) {
    let mut owed = false;
    loop {
        let first = if owed {
            match jobs.recv_timeout(TRUNCATE_RETRY) {
                Ok(job) => Some(job),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match jobs.recv() {
                Ok(job) => Some(job),
                Err(mpsc::RecvError) => break,
            }
        };
        if let Some(first) = first {
            write_batch(&mut conn, first, &jobs);
        }
        owed |= truncate.swap(false, Ordering::SeqCst);
        if owed {
            owed = !truncate_wal(&conn, TRUNCATE_WAIT);
        }
    }
    // Stopping with a cut owed: wait for readers as long as any write would.
    if owed || truncate.load(Ordering::SeqCst) {
        let _ = truncate_wal(&conn, BUSY_TIMEOUT);
    }
}

/// Commits `first` and every write waiting behind it, then answers them.
fn write_batch(conn: &mut Connection, first: WriteJob, jobs: &mpsc::Receiver<WriteJob>) {
    let mut batch = vec![first];
    while batch.len() < GROUP {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    let mut done: Vec<Completion> = Vec::with_capacity(batch.len());
    let committed = (|| -> rusqlite::Result<()> {
        let mut tx = conn.transaction()?;
        for job in batch {
            let savepoint = tx.savepoint()?;
            let (ok, completion) = job(&savepoint);
            done.push(completion);
            if ok {
                savepoint.commit()?;
            }
        }
        tx.commit()
    })();
    let result = committed.map_err(|e| e.to_string());
    for completion in done {
        completion(result.clone());
    }
}

/// Copies every WAL frame into the database and cuts the WAL to nothing,
/// waiting up to `wait` for readers on an older snapshot; whether it did.
/// An error counts as not done: the cut stays owed.
fn truncate_wal(conn: &Connection, wait: Duration) -> bool {
    if conn.busy_timeout(wait).is_err() {
        return false;
    }
    let busy = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap_or(1);
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    busy == 0
}

fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        backend(e)
    }
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn uid(bytes: Vec<u8>) -> Uid {
    Uid(<[u8; 16]>::try_from(bytes.as_slice()).unwrap_or_default())
}

impl SqliteStorage {
    /// Opens (or creates) the relay database at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(backend)?;
        }
        let mut write = Connection::open(path)?;
        write.busy_timeout(BUSY_TIMEOUT)?;
        write.pragma_update(None, "journal_mode", "WAL")?;
        write.pragma_update(None, "synchronous", "FULL")?;
        write.pragma_update(None, "secure_delete", "ON")?;
        migrate(&mut write)?;
        let relay = uid(write.query_row("SELECT id FROM relay", [], |r| r.get(0))?);
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let read = Connection::open(path)?;
            read.busy_timeout(BUSY_TIMEOUT)?;
            // Readers never write today; should one ever free a page, it is
            // zeroed like the writer's.
            read.pragma_update(None, "secure_delete", "ON")?;
            // Downloads read every record they send: keep hot pages cached.
            // (Mapping the file measured no faster on the benchmarks.)
            read.pragma_update(None, "cache_size", -32_768)?;
            readers.push(Mutex::new(read));
        }
        let (jobs, receive) = mpsc::channel();
        let truncate = Arc::new(AtomicBool::new(false));
        let flag = truncate.clone();
        let thread = std::thread::Builder::new()
            .name("qafila-relay-writer".into())
            .spawn(move || write_loop(write, receive, flag))
            .map_err(backend)?;
        Ok(SqliteStorage {
            jobs,
            read: Arc::new(Readers {
                connections: readers,
                next: AtomicUsize::new(0),
            }),
            truncate,
            relay,
            _writer_thread: Arc::new(WriterThread(Mutex::new(Some(thread)))),
        })
    }

    /// Runs a read on the read connection, on tokio's blocking pool.
    async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError> {
        let readers = self.read.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = readers.take();
            f(&mut conn)
        })
        .await
        .map_err(backend)?
    }

    /// Runs a write on the writer thread; answers once it is committed.
    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: WriteJob = Box::new(move |conn| match f(conn) {
            Ok(value) => (
                true,
                Box::new(move |committed: Result<(), String>| {
                    let _ = reply.send(committed.map(|()| value).map_err(StorageError::Backend));
                }),
            ),
            Err(error) => (
                false,
                Box::new(move |_| {
                    let _ = reply.send(Err(error));
                }),
            ),
        });
        let stopped = || backend("the relay's database writer has stopped");
        self.jobs.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

const MEMBER_COLUMNS: &str =
    "name, signing, encryption, role, status, certificate, version, invite, binding";

fn member_of(device: Uid, r: &rusqlite::Row<'_>) -> rusqlite::Result<MemberRow> {
    let role_name: String = r.get(3)?;
    Ok(MemberRow {
        keys: DeviceKeys {
            device,
            name: r.get(0)?,
            signing: B64(r.get(1)?),
            encryption: B64(r.get(2)?),
        },
        role: Role::parse(&role_name),
        role_name,
        status: Status::parse(&r.get::<_, String>(4)?),
        certificate: r.get(5)?,
        version: u32::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
        invite: r.get(7)?,
        binding: r.get(8)?,
    })
}

fn member_row(tx: &Connection, scope: Uid, device: Uid) -> Result<Option<MemberRow>, StorageError> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE scope = ?1 AND device = ?2"
        ))?
        .query_row(params![scope.0, device.0], |r| member_of(device, r))
        .optional()?)
}

/// Adds a member (the lead, or a device enrolling), leaving an existing
/// row as it is.
fn insert_member(
    tx: &Connection,
    scope: Uid,
    keys: &DeviceKeys,
    role: &str,
    status: Status,
    invite: Option<&str>,
    binding: &[u8],
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO members
             (scope, device, name, signing, encryption, role, status, certificate, version, invite, binding)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, x'', 0, ?8, ?9)",
    )?
    .execute(params![
        scope.0,
        keys.device.0,
        keys.name,
        keys.signing.0,
        keys.encryption.0,
        role,
        status.as_str(),
        invite,
        binding
    ])?;
    Ok(())
}

fn put_key(tx: &Connection, scope: Uid, key: &DeviceKey) -> Result<(), StorageError> {
    let revocations = serde_json::to_string(&key.key.revocations).map_err(backend)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO wrapped_keys (scope, device, epoch, wrapped, signature, revocations)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        scope.0,
        key.device.0,
        key.key.epoch,
        key.key.wrapped.0,
        key.key.signature.0,
        revocations
    ])?;
    Ok(())
}

/// Stores one record; `superseded` is set when it took the bytes of an
/// earlier registry entry (replaced or erased).
fn put_record(
    tx: &Connection,
    scope: Uid,
    authority: &[Uid],
    record: &Record,
    superseded: &mut bool,
) -> Result<Outcome, StorageError> {
    let header = &record.header;
    let bytes = record.encode();
    let hash = digest(&bytes);
    let existing: Option<Vec<u8>> = tx
        .prepare_cached("SELECT digest FROM records WHERE scope = ?1 AND device = ?2 AND seq = ?3")?
        .query_row(params![scope.0, header.device.0, i64_of(header.seq)], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(existing) = existing {
        return Ok(if existing == hash {
            Outcome::Duplicate
        } else {
            Outcome::Conflict
        });
    }
    let last: u64 = tx
        .prepare_cached("SELECT last FROM logs WHERE scope = ?1 AND device = ?2")?
        .query_row(params![scope.0, header.device.0], |r| r.get::<_, i64>(0))
        .optional()?
        .map_or(0, u64_of);
    if header.seq != last + 1 {
        return Ok(Outcome::Gap { expected: last + 1 });
    }
    let mut live = true;
    if let Some((key, version)) = keyed(record) {
        let current: Vec<(Vec<u8>, i64, i64)> = tx
            .prepare_cached(
                "SELECT device, seq, version FROM records
                 WHERE scope = ?1 AND key = ?2 AND bytes IS NOT NULL",
            )?
            .query_map(params![scope.0, key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let (is_live, cleared) = supersede(&header.device.0, version, authority, &current);
        live = is_live;
        *superseded |= !cleared.is_empty();
        for (device, seq) in cleared {
            tx.prepare_cached(
                "UPDATE records SET bytes = NULL WHERE scope = ?1 AND device = ?2 AND seq = ?3",
            )?
            .execute(params![scope.0, device, seq])?;
        }
    }
    let (key, version) = keyed(record).map_or((None, None), |(k, v)| (Some(k), Some(i64_of(v))));
    tx.prepare_cached(
        "INSERT INTO records (scope, device, seq, digest, key, version, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        scope.0,
        header.device.0,
        i64_of(header.seq),
        hash,
        key,
        version,
        live.then_some(bytes)
    ])?;
    tx.prepare_cached(
        "INSERT INTO logs (scope, device, last) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope, device) DO UPDATE SET last = excluded.last",
    )?
    .execute(params![scope.0, header.device.0, i64_of(header.seq)])?;
    Ok(if live {
        Outcome::Stored
    } else {
        Outcome::Superseded
    })
}

fn heads_of(conn: &Connection, scope: Uid) -> Result<Cursors, StorageError> {
    let rows = conn
        .prepare_cached("SELECT device, last FROM logs WHERE scope = ?1 ORDER BY device")?
        .query_map(params![scope.0], |r| {
            Ok((uid(r.get(0)?), u64_of(r.get(1)?)))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Cursors(rows))
}

impl Storage for SqliteStorage {
    async fn ready(&self) -> Result<(), StorageError> {
        self.with(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    fn relay_id(&self) -> Uid {
        self.relay
    }

    async fn use_nonce(
        &self,
        nonce: [u8; 16],
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<bool, StorageError> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM nonces WHERE expires_ms < ?1")?
                .execute([i64_of(now_ms)])?;
            let fresh = c
                .prepare_cached("INSERT OR IGNORE INTO nonces (nonce, expires_ms) VALUES (?1, ?2)")?
                .execute(params![nonce, i64_of(expires_ms)])?;
            Ok(fresh == 1)
        })
        .await
    }

    async fn create_scope(
        &self,
        scope: Uid,
        lead: DeviceKeys,
        keys: Vec<DeviceKey>,
    ) -> Result<(), StorageError> {
        self.write(move |c| {
            let existing: Option<Vec<u8>> = c
                .query_row("SELECT lead FROM scopes WHERE scope = ?1", [scope.0], |r| {
                    r.get(0)
                })
                .optional()?;
            match existing {
                Some(existing) if existing != lead.device.0 => {
                    return Err(StorageError::Conflict(
                        "this convoy already exists with another lead",
                    ));
                }
                Some(_) => {}
                None => {
                    c.execute(
                        "INSERT INTO scopes (scope, lead) VALUES (?1, ?2)",
                        params![scope.0, lead.device.0],
                    )?;
                }
            }
            insert_member(c, scope, &lead, "lead", Status::Approved, None, &[])?;
            for key in &keys {
                put_key(c, scope, key)?;
            }
            Ok(())
        })
        .await
    }

    async fn member(&self, scope: Uid, device: Uid) -> Result<Option<MemberRow>, StorageError> {
        self.with(move |c| member_row(c, scope, device)).await
    }

    async fn members(&self, scope: Uid) -> Result<Vec<Member>, StorageError> {
        self.with(move |c| {
            let rows = c
                .prepare_cached(&format!(
                    "SELECT {MEMBER_COLUMNS}, device FROM members WHERE scope = ?1 ORDER BY device"
                ))?
                .query_map([scope.0], |r| {
                    member_of(uid(r.get(9)?), r).map(|m| m.to_member())
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn add_invite(&self, scope: Uid, invite: Invite) -> Result<(), StorageError> {
        self.write(move |c| {
            let added = c.execute(
                "INSERT OR IGNORE INTO invites (code_hash, scope, expires_ms, uses_left)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    invite.code_hash,
                    scope.0,
                    i64_of(invite.expires_ms),
                    invite.uses
                ],
            )?;
            if added == 0 {
                return Err(StorageError::Conflict(
                    "this enrollment code already exists",
                ));
            }
            Ok(())
        })
        .await
    }

    async fn enroll(
        &self,
        code_hash: String,
        device: DeviceKeys,
        binding: Vec<u8>,
        now_ms: u64,
    ) -> Result<Enrolled, StorageError> {
        self.write(move |c| {
            let (scope, expires, uses): (Vec<u8>, i64, i64) = c
                .query_row(
                    "SELECT scope, expires_ms, uses_left FROM invites WHERE code_hash = ?1",
                    [&code_hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?
                .ok_or(StorageError::NotFound("enrollment code"))?;
            let scope = uid(scope);
            let lead: Vec<u8> = c
                .query_row("SELECT lead FROM scopes WHERE scope = ?1", [scope.0], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or(StorageError::NotFound("convoy"))?;
            let lead =
                member_row(c, scope, uid(lead))?.ok_or(StorageError::NotFound("convoy lead"))?;
            match member_row(c, scope, device.device)? {
                Some(existing) if existing.keys == device => {}
                Some(_) => {
                    return Err(StorageError::Conflict(
                        "this device id is already enrolled with other keys",
                    ));
                }
                None => {
                    if u64_of(expires) < now_ms || uses <= 0 {
                        return Err(StorageError::CodeSpent);
                    }
                    c.execute(
                        "UPDATE invites SET uses_left = uses_left - 1 WHERE code_hash = ?1",
                        [&code_hash],
                    )?;
                    insert_member(
                        c,
                        scope,
                        &device,
                        "member",
                        Status::Pending,
                        Some(&code_hash),
                        &binding,
                    )?;
                }
            }
            Ok(Enrolled {
                scope,
                lead: lead.keys,
            })
        })
        .await
    }

    async fn put_certificate(
        &self,
        scope: Uid,
        certificate: CertificateRow,
        keys: Vec<DeviceKey>,
    ) -> Result<CertOutcome, StorageError> {
        self.write(move |c| {
            let existing = member_row(c, scope, certificate.keys.device)?;
            let outcome = CertOutcome::decide(existing.as_ref(), &certificate);
            if outcome == CertOutcome::Applied {
                let k = &certificate.keys;
                c.prepare_cached(
                    "INSERT INTO members
                         (scope, device, name, signing, encryption, role, status, certificate, version, binding)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, x'')
                     ON CONFLICT (scope, device) DO UPDATE SET name = excluded.name,
                         role = excluded.role, status = excluded.status,
                         certificate = excluded.certificate, version = excluded.version",
                )?
                .execute(params![
                    scope.0,
                    k.device.0,
                    k.name,
                    k.signing.0,
                    k.encryption.0,
                    certificate.role,
                    certificate.status.as_str(),
                    certificate.bytes,
                    certificate.version
                ])?;
            }
            if matches!(outcome, CertOutcome::Applied | CertOutcome::Unchanged) {
                for key in &keys {
                    put_key(c, scope, key)?;
                }
            }
            Ok(outcome)
        })
        .await
    }

    async fn keys(&self, scope: Uid, device: Uid) -> Result<Vec<WrappedKey>, StorageError> {
        self.with(move |c| {
            let rows: Vec<(u32, Vec<u8>, Vec<u8>, String)> = c
                .prepare_cached(
                    "SELECT epoch, wrapped, signature, revocations FROM wrapped_keys
                     WHERE scope = ?1 AND device = ?2 ORDER BY epoch",
                )?
                .query_map(params![scope.0, device.0], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<Result<_, _>>()?;
            rows.into_iter()
                .map(|(epoch, wrapped, signature, revocations)| {
                    Ok(WrappedKey {
                        epoch,
                        wrapped: B64(wrapped),
                        signature: B64(signature),
                        revocations: serde_json::from_str(&revocations).map_err(backend)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn put_records(
        &self,
        scope: Uid,
        authority: Vec<Uid>,
        records: Vec<Record>,
    ) -> Result<Vec<Outcome>, StorageError> {
        let truncate = self.truncate.clone();
        self.write(move |c| {
            let mut order: Vec<usize> = (0..records.len()).collect();
            order.sort_by_key(|&i| (records[i].header.device, records[i].header.seq));
            let mut outcomes = vec![Outcome::Forbidden; records.len()];
            let mut superseded = false;
            for i in order {
                outcomes[i] = put_record(c, scope, &authority, &records[i], &mut superseded)?;
            }
            // A registry entry replaced by a newer version (an erasure) must
            // not survive in the WAL either: secure_delete zeroes it in the
            // database's pages; the writer cuts the WAL after answering.
            if superseded {
                truncate.store(true, Ordering::SeqCst);
            }
            Ok(outcomes)
        })
        .await
    }

    async fn fetch(
        &self,
        scope: Uid,
        cursors: Cursors,
        max_bytes: usize,
    ) -> Result<Page, StorageError> {
        self.with(move |c| {
            let tx = c.transaction()?;
            let heads = heads_of(&tx, scope)?;
            let held: std::collections::HashMap<Uid, u64> = cursors.0.into_iter().collect();
            let mut page = Page::default();
            let mut size = 0usize;
            for (device, last) in heads.0 {
                let after = held.get(&device).copied().unwrap_or(0);
                if after >= last || page.more {
                    page.cursors.0.push((device, after));
                    continue;
                }
                let mut reached = after;
                let mut stmt = tx.prepare_cached(
                    "SELECT seq, bytes FROM records
                     WHERE scope = ?1 AND device = ?2 AND seq > ?3 ORDER BY seq",
                )?;
                let mut rows = stmt.query(params![scope.0, device.0, i64_of(after)])?;
                while let Some(row) = rows.next()? {
                    if size >= max_bytes {
                        page.more = true;
                        break;
                    }
                    reached = u64_of(row.get(0)?);
                    if let Some(bytes) = row.get::<_, Option<Vec<u8>>>(1)? {
                        size += bytes.len();
                        page.records.push(bytes);
                    }
                }
                page.cursors.0.push((device, reached));
            }
            Ok(page)
        })
        .await
    }

    async fn heads(&self, scope: Uid) -> Result<Cursors, StorageError> {
        self.with(move |c| heads_of(c, scope)).await
    }

    async fn scope_bytes(&self, scope: Uid) -> Result<u64, StorageError> {
        self.with(move |c| {
            let bytes: i64 = c
                .prepare_cached(
                    "SELECT COALESCE(SUM(LENGTH(bytes)), 0) FROM records WHERE scope = ?1",
                )?
                .query_row(params![scope.0], |r| r.get(0))?;
            Ok(u64_of(bytes))
        })
        .await
    }
}
