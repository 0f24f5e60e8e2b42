//! The shared backend: one PostgreSQL database that several relay processes
//! use at once (behind a load balancer). Same tables and the same answers
//! as [`super::sqlite`]; `bytea` for blobs, `bigint` for integers.
//!
//! Connections come from a small pool of its own (a semaphore over at most
//! [`POOL_SIZE`] clients, opened when first needed), so concurrent handlers
//! each get a client of their own for their transactions.
//!
//! Concurrency between processes:
//!
//! - the schema is created under a transaction-scoped advisory lock, so
//!   relays starting together do not race on `CREATE TABLE IF NOT EXISTS`;
//! - `put_records` takes transaction-scoped advisory locks before reading:
//!   one per (scope, device) log it writes (or, for a batch spanning many
//!   devices, one exclusive lock on the whole scope), and one per scope for
//!   its registry when the batch holds keyed records, so two uploads of the
//!   same log, or of two versions of the same registry key, are serialised
//!   exactly as SQLite's single writer serialises them. Locks are always
//!   taken in the same order (scope, registry, then logs by lock id), so
//!   uploads cannot deadlock one another;
//! - `enroll` locks the code's row (`SELECT ... FOR UPDATE`), so a code with
//!   one use left admits one device however many relays are asked at once;
//! - `fetch` reads in one `REPEATABLE READ` snapshot, as SQLite's read
//!   transaction does.
//!
//! A compacted registry entry's bytes are set to NULL, but under MVCC the
//! old row version, bytes and all, stays in the table's pages until vacuum
//! reclaims it, and even then a plain `VACUUM` only marks the space free:
//! it does not zero it. So after a commit that superseded an entry, a
//! background task (`vacuum_loop`, one per process, at most one run at a
//! time, requests made meanwhile folded into one more run) waits for older
//! snapshots on the database to end and rewrites the table with
//! [`VACUUM_RECORDS`]; the old files are cut to nothing then and unlinked
//! at the next checkpoint. PostgreSQL's own WAL (and any archive
//! of it) keeps the bytes until its segments are recycled: that is the
//! operator's `max_wal_size`, `wal_keep_size` and archiving (SECURITY.md).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Outcome};
use qafila_proto::control::{B64, DeviceKey, DeviceKeys, Enrolled, Invite, Member, WrappedKey};
use qafila_proto::record::Record;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, IsolationLevel, NoTls, Row, Statement, Transaction};

use super::{
    CertOutcome, CertificateRow, MemberRow, Page, Role, Status, Storage, StorageError, digest,
    keyed, new_relay_id, supersede,
};

/// Most connections one relay process opens to the database.
pub const POOL_SIZE: usize = 12;

/// A batch writing more logs than this locks its whole scope instead of
/// each log, so one transaction never holds more than a few dozen locks.
const MAX_LOG_LOCKS: usize = 32;

/// Rows read at a time while filling a download page (doubling up to
/// [`FETCH_ROWS_MAX`]), so a small page does not read a whole log.
const FETCH_ROWS_MIN: i32 = 16;
const FETCH_ROWS_MAX: i32 = 512;

/// What runs after a commit that superseded a registry entry (a newer
/// version or an erasure). `FULL`, because a plain `VACUUM` leaves the dead
/// row's bytes in free space (`tests/erasure.rs` finds them there). It
/// locks the table while it rewrites it: registry entries change rarely,
/// and requests that come during a run fold into one more.
pub const VACUUM_RECORDS: &str = "VACUUM FULL records";

/// How long the vacuum task waits before trying a failed vacuum again.
const VACUUM_RETRY: Duration = Duration::from_secs(5);

/// The advisory lock held while creating the schema ("Qafila" in ASCII).
const SCHEMA_LOCK: i64 = 0x5161_6669_6c61_0001;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS scopes (
    scope       bytea PRIMARY KEY,
    lead        bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    scope       bytea NOT NULL,
    device      bytea NOT NULL,
    name        text NOT NULL,
    signing     bytea NOT NULL,
    encryption  bytea NOT NULL,
    role        text NOT NULL,
    status      text NOT NULL,
    certificate bytea NOT NULL,
    PRIMARY KEY (scope, device)
);
CREATE TABLE IF NOT EXISTS invites (
    code_hash   text PRIMARY KEY,
    scope       bytea NOT NULL,
    expires_ms  bigint NOT NULL,
    uses_left   bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS wrapped_keys (
    scope       bytea NOT NULL,
    device      bytea NOT NULL,
    epoch       bigint NOT NULL,
    wrapped     bytea NOT NULL,
    PRIMARY KEY (scope, device, epoch)
);
CREATE TABLE IF NOT EXISTS logs (
    scope       bytea NOT NULL,
    device      bytea NOT NULL,
    last        bigint NOT NULL,
    PRIMARY KEY (scope, device)
);
CREATE TABLE IF NOT EXISTS records (
    scope       bytea NOT NULL,
    device      bytea NOT NULL,
    seq         bigint NOT NULL,
    digest      bytea NOT NULL,
    key         bytea,
    version     bigint,
    bytes       bytea,
    PRIMARY KEY (scope, device, seq)
);
CREATE INDEX IF NOT EXISTS records_live_key ON records (scope, key)
    WHERE key IS NOT NULL AND bytes IS NOT NULL;

-- The trust model (schema 2): a relay id, certificate versions, enrollment
-- bindings, signed key grants, and control requests' nonces. Every
-- statement is idempotent, so a database from any earlier build upgrades.
CREATE TABLE IF NOT EXISTS relay (
    singleton   integer PRIMARY KEY CHECK (singleton = 1),
    id          bytea NOT NULL
);
ALTER TABLE members ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN IF NOT EXISTS invite text;
ALTER TABLE members ADD COLUMN IF NOT EXISTS binding bytea NOT NULL DEFAULT ''::bytea;
ALTER TABLE wrapped_keys ADD COLUMN IF NOT EXISTS signature bytea NOT NULL DEFAULT ''::bytea;
ALTER TABLE wrapped_keys ADD COLUMN IF NOT EXISTS revocations text NOT NULL DEFAULT '[]';
CREATE TABLE IF NOT EXISTS nonces (
    nonce       bytea PRIMARY KEY,
    expires_ms  bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_ms);
";

/// The schema version this build writes; a database at a higher one was
/// made by a newer relay and is refused.
const SCHEMA_VERSION: i32 = 2;

const SELECT_MEMBER: &str = "SELECT name, signing, encryption, role, status, certificate,
         version, invite, binding
     FROM members WHERE scope = $1 AND device = $2";
const INSERT_MEMBER: &str = "INSERT INTO members
         (scope, device, name, signing, encryption, role, status, certificate, version, invite, binding)
     VALUES ($1, $2, $3, $4, $5, $6, $7, ''::bytea, 0, $8, $9)
     ON CONFLICT (scope, device) DO NOTHING";
const PUT_CERTIFICATE: &str = "INSERT INTO members
         (scope, device, name, signing, encryption, role, status, certificate, version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (scope, device) DO UPDATE SET name = excluded.name, role = excluded.role,
         status = excluded.status, certificate = excluded.certificate, version = excluded.version";
const PUT_KEY: &str =
    "INSERT INTO wrapped_keys (scope, device, epoch, wrapped, signature, revocations)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (scope, device, epoch) DO UPDATE SET wrapped = excluded.wrapped,
         signature = excluded.signature, revocations = excluded.revocations";
const LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
const LOCK_SHARED: &str = "SELECT pg_advisory_xact_lock_shared($1)";
const SELECT_DIGEST: &str =
    "SELECT digest FROM records WHERE scope = $1 AND device = $2 AND seq = $3";
const SELECT_LAST: &str = "SELECT last FROM logs WHERE scope = $1 AND device = $2";
const SELECT_LIVE_KEY: &str = "SELECT device, seq, version FROM records
     WHERE scope = $1 AND key = $2 AND bytes IS NOT NULL";
const CLEAR_BYTES: &str =
    "UPDATE records SET bytes = NULL WHERE scope = $1 AND device = $2 AND seq = $3";
const INSERT_RECORD: &str = "INSERT INTO records (scope, device, seq, digest, key, version, bytes)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const SET_LAST: &str = "INSERT INTO logs (scope, device, last) VALUES ($1, $2, $3)
     ON CONFLICT (scope, device) DO UPDATE SET last = excluded.last";
const SCOPE_BYTES: &str =
    "SELECT COALESCE(SUM(octet_length(bytes)), 0)::bigint FROM records WHERE scope = $1";
const HEADS: &str = "SELECT device, last FROM logs WHERE scope = $1 ORDER BY device";
const FETCH_LOG: &str = "SELECT seq, bytes FROM records
     WHERE scope = $1 AND device = $2 AND seq > $3 ORDER BY seq";

fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

impl From<tokio_postgres::Error> for StorageError {
    /// With its causes: tokio-postgres' own message is only "db error".
    fn from(e: tokio_postgres::Error) -> Self {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        StorageError::Backend(text)
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

/// A 64-bit advisory lock id for a named thing.
fn lock_id(domain: &[u8], parts: &[&[u8]]) -> i64 {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(domain);
    for part in parts {
        hash.update(part);
    }
    let hash = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    i64::from_le_bytes(first)
}

/// One pooled connection and the statements prepared on it.
#[derive(Debug)]
struct PgConn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

/// Statements are prepared once per connection and reused.
async fn prepared(
    statements: &mut HashMap<&'static str, Statement>,
    client: &Client,
    sql: &'static str,
) -> Result<Statement, StorageError> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql).await?;
    statements.insert(sql, statement.clone());
    Ok(statement)
}

struct Pool {
    config: tokio_postgres::Config,
    /// TLS, when the URL asks for it (`sslmode=require`).
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    idle: Mutex<Vec<PgConn>>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().map_or(0, |idle| idle.len());
        f.debug_struct("Pool")
            .field("size", &POOL_SIZE)
            .field("idle", &idle)
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

/// A connection lent by the pool. Given back with [`Pool::give_back`] once
/// the work finished; dropped instead (a cancelled request), the connection
/// is closed, so a transaction cut short never leaks into the next request.
struct Lease {
    conn: PgConn,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    async fn lease(&self) -> Result<Lease, StorageError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(backend)?;
        loop {
            let conn = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match conn {
                Some(conn) if !conn.client.is_closed() => {
                    return Ok(Lease {
                        conn,
                        _permit: permit,
                    });
                }
                Some(_) => continue,
                None => break,
            }
        }
        let client = match &self.tls {
            None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::warn!(%error, "a PostgreSQL connection failed");
                    }
                });
                client
            }
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::warn!(%error, "a PostgreSQL connection failed");
                    }
                });
                client
            }
        };
        Ok(Lease {
            conn: PgConn {
                client,
                statements: HashMap::new(),
            },
            _permit: permit,
        })
    }

    fn give_back(&self, lease: Lease) {
        let Lease { conn, _permit } = lease;
        if !conn.client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
        // The permit is released only now, with the connection idle again.
        drop(_permit);
    }
}

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PgStorage {
    pool: Arc<Pool>,
    relay: Uid,
    /// Asks the vacuum task for a run; it ends when the last clone drops.
    vacuum: tokio::sync::mpsc::Sender<()>,
}

/// Runs [`VACUUM_RECORDS`] each time it is asked, one run at a time. The
/// channel holds one request: asks while a run is going fold into a single
/// further run, which covers every commit the current one may have missed.
async fn vacuum_loop(pool: Arc<Pool>, mut wanted: tokio::sync::mpsc::Receiver<()>) {
    while wanted.recv().await.is_some() {
        while let Err(error) = vacuum_once(&pool, &wanted).await {
            tracing::warn!(%error, "vacuuming erased registry entries failed; trying again");
            if wanted.is_closed() {
                return;
            }
            tokio::time::sleep(VACUUM_RETRY).await;
        }
    }
}

/// Sessions on this database, other than this one, holding a snapshot in a
/// transaction that began before `$1`: they may still see a row an erasure
/// replaced, and `VACUUM FULL` copies every row some snapshot can see.
/// (Sessions of other database users show no snapshot to a user without
/// `pg_read_all_stats`, and are not waited for.)
const OLDER_SNAPSHOTS: &str = "SELECT count(*) FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid()
       AND backend_xmin IS NOT NULL AND xact_start < $1";

/// How often the vacuum task looks whether older snapshots are gone.
const SNAPSHOT_POLL: Duration = Duration::from_millis(200);

/// After this long waiting for older snapshots, the vacuum task says so.
const SNAPSHOT_PATIENCE: Duration = Duration::from_secs(60);

/// Waits until every snapshot older than the commits that asked for it is
/// gone (else the rewrite would keep their rows), then rewrites the table.
/// Gives up quietly when the storage is dropped meanwhile.
async fn vacuum_once(
    pool: &Pool,
    wanted: &tokio::sync::mpsc::Receiver<()>,
) -> Result<(), StorageError> {
    let lease = pool.lease().await?;
    let client = &lease.conn.client;
    let result: Result<(), StorageError> = async {
        let woken: std::time::SystemTime = client
            .query_one("SELECT clock_timestamp()", &[])
            .await?
            .try_get(0)?;
        let waiting = std::time::Instant::now();
        let mut told = false;
        loop {
            let older: i64 = client
                .query_one(OLDER_SNAPSHOTS, &[&woken])
                .await?
                .try_get(0)?;
            if older == 0 {
                break;
            }
            if wanted.is_closed() {
                return Ok(());
            }
            if !told && waiting.elapsed() > SNAPSHOT_PATIENCE {
                tracing::warn!(
                    sessions = older,
                    "erased registry entries wait for older transactions on the relay's database to end before the vacuum can remove them"
                );
                told = true;
            }
            tokio::time::sleep(SNAPSHOT_POLL).await;
        }
        // VACUUM cannot run inside a transaction block: a simple query on
        // an idle connection.
        client.batch_execute(VACUUM_RECORDS).await?;
        Ok(())
    }
    .await;
    pool.give_back(lease);
    result
}

/// Runs `$body` with a pooled connection bound to `$conn`, then gives the
/// connection back.
macro_rules! with_conn {
    ($self:ident, $conn:ident => $body:expr) => {{
        let mut lease = $self.pool.lease().await?;
        let result = {
            let $conn = &mut lease.conn;
            $body.await
        };
        $self.pool.give_back(lease);
        result
    }};
}

/// TLS to PostgreSQL, for a URL with `sslmode=require`: the server's
/// certificate is checked against the system's trusted roots, plus the
/// PEM certificates in `ca` (a private CA), and its name (stricter than
/// libpq's `require`, which checks neither: a relay's database traffic is
/// not to be read or altered on the way).
fn postgres_tls(
    ca: Option<&Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StorageError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let failed = |e: &dyn std::fmt::Display| {
        StorageError::Backend(format!("cannot set up TLS to PostgreSQL: {e}"))
    };
    let extra = match ca {
        None => Vec::new(),
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| failed(&format!("{}: {e}", path.display())))?,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| failed(&e))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl PgStorage {
    /// Connects to the database at `url` (a `postgres://` URL or a
    /// `key=value` connection string) and creates the tables if missing.
    /// Safe when several relays start at once against the same database.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Self::connect_with(url, None).await
    }

    /// Like [`PgStorage::connect`], trusting the PEM certificates in `ca`
    /// too for a URL with `sslmode=require`.
    pub async fn connect_with(url: &str, ca: Option<&Path>) -> Result<Self, StorageError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StorageError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("qafila-relay");
        }
        let tls = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            Some(postgres_tls(ca)?)
        } else {
            None
        };
        let (vacuum, wanted) = tokio::sync::mpsc::channel(1);
        let mut storage = PgStorage {
            pool: Arc::new(Pool {
                tls,
                config,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(POOL_SIZE)),
            }),
            relay: Uid::default(),
            vacuum,
        };
        storage.relay = with_conn!(storage, conn => create_schema(conn))?;
        tokio::spawn(vacuum_loop(storage.pool.clone(), wanted));
        Ok(storage)
    }
}

/// Creates or upgrades the schema and returns the relay's id.
async fn create_schema(conn: &mut PgConn) -> Result<Uid, StorageError> {
    let tx = conn.client.transaction().await?;
    tx.execute(LOCK, &[&SCHEMA_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS relay_schema (
             singleton   integer PRIMARY KEY CHECK (singleton = 1),
             version     integer NOT NULL
         )",
    )
    .await?;
    if let Some(row) = tx
        .query_opt("SELECT version FROM relay_schema WHERE singleton = 1", &[])
        .await?
    {
        let version: i32 = row.try_get(0)?;
        if version > SCHEMA_VERSION {
            return Err(StorageError::Backend(format!(
                "this relay database was written by a newer Qafila (schema {version}, this build knows {SCHEMA_VERSION}): run the newer relay"
            )));
        }
    }
    tx.batch_execute(SCHEMA).await?;
    tx.execute(
        "INSERT INTO relay_schema (singleton, version) VALUES (1, $1)
         ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
        &[&SCHEMA_VERSION],
    )
    .await?;
    tx.execute(
        "INSERT INTO relay (singleton, id) VALUES (1, $1) ON CONFLICT (singleton) DO NOTHING",
        &[&&new_relay_id()?.0[..]],
    )
    .await?;
    let id: Vec<u8> = tx
        .query_one("SELECT id FROM relay WHERE singleton = 1", &[])
        .await?
        .try_get(0)?;
    tx.commit().await?;
    Ok(uid(id))
}

fn member_of(device: Uid, row: &Row) -> Result<MemberRow, StorageError> {
    let role_name: String = row.try_get(3)?;
    let version: i64 = row.try_get(6)?;
    Ok(MemberRow {
        keys: DeviceKeys {
            device,
            name: row.try_get(0)?,
            signing: B64(row.try_get(1)?),
            encryption: B64(row.try_get(2)?),
        },
        role: Role::parse(&role_name),
        role_name,
        status: Status::parse(row.try_get(4)?),
        certificate: row.try_get(5)?,
        version: u32::try_from(version).unwrap_or(0),
        invite: row.try_get(7)?,
        binding: row.try_get(8)?,
    })
}

async fn member_row(
    statements: &mut HashMap<&'static str, Statement>,
    client: &Client,
    scope: Uid,
    device: Uid,
) -> Result<Option<MemberRow>, StorageError> {
    let statement = prepared(statements, client, SELECT_MEMBER).await?;
    let row = client
        .query_opt(&statement, &[&&scope.0[..], &&device.0[..]])
        .await?;
    row.map(|row| member_of(device, &row)).transpose()
}

/// Adds a member (the lead, or a device enrolling), leaving an existing
/// row as it is; how many rows it added.
#[allow(clippy::too_many_arguments)] // the member's fields, as in sqlite.rs, plus the statement cache
async fn insert_member(
    statements: &mut HashMap<&'static str, Statement>,
    tx: &Transaction<'_>,
    scope: Uid,
    keys: &DeviceKeys,
    role: &str,
    status: Status,
    invite: Option<&str>,
    binding: &[u8],
) -> Result<u64, StorageError> {
    let statement = prepared(statements, tx.client(), INSERT_MEMBER).await?;
    Ok(tx
        .execute(
            &statement,
            &[
                &&scope.0[..],
                &&keys.device.0[..],
                &keys.name,
                &keys.signing.0,
                &keys.encryption.0,
                &role,
                &status.as_str(),
                &invite,
                &binding,
            ],
        )
        .await?)
}

async fn put_key(
    statements: &mut HashMap<&'static str, Statement>,
    tx: &Transaction<'_>,
    scope: Uid,
    key: &DeviceKey,
) -> Result<(), StorageError> {
    let statement = prepared(statements, tx.client(), PUT_KEY).await?;
    let revocations = serde_json::to_string(&key.key.revocations).map_err(backend)?;
    tx.execute(
        &statement,
        &[
            &&scope.0[..],
            &&key.device.0[..],
            &i64::from(key.key.epoch),
            &key.key.wrapped.0,
            &key.key.signature.0,
            &revocations,
        ],
    )
    .await?;
    Ok(())
}

async fn heads_of(
    statements: &mut HashMap<&'static str, Statement>,
    client: &Client,
    scope: Uid,
) -> Result<Cursors, StorageError> {
    let statement = prepared(statements, client, HEADS).await?;
    let rows = client.query(&statement, &[&&scope.0[..]]).await?;
    let heads = rows
        .iter()
        .map(|row| Ok((uid(row.try_get(0)?), u64_of(row.try_get(1)?))))
        .collect::<Result<Vec<_>, StorageError>>()?;
    Ok(Cursors(heads))
}

/// Serialises this batch against every other upload to the same logs and,
/// for keyed records, to the same registry (see the module docs).
async fn lock_for_upload(
    statements: &mut HashMap<&'static str, Statement>,
    tx: &Transaction<'_>,
    scope: Uid,
    records: &[Record],
) -> Result<(), StorageError> {
    if records.is_empty() {
        return Ok(());
    }
    let lock = prepared(statements, tx.client(), LOCK).await?;
    let shared = prepared(statements, tx.client(), LOCK_SHARED).await?;
    let devices: BTreeSet<Uid> = records.iter().map(|r| r.header.device).collect();
    let whole_scope = devices.len() > MAX_LOG_LOCKS;
    let scope_lock = lock_id(b"qafila-relay/scope", &[&scope.0]);
    if whole_scope {
        tx.execute(&lock, &[&scope_lock]).await?;
    } else {
        tx.execute(&shared, &[&scope_lock]).await?;
    }
    if records.iter().any(|r| keyed(r).is_some()) {
        tx.execute(&lock, &[&lock_id(b"qafila-relay/registry", &[&scope.0])])
            .await?;
    }
    if !whole_scope {
        let mut ids: Vec<i64> = devices
            .iter()
            .map(|device| lock_id(b"qafila-relay/log", &[&scope.0, &device.0]))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            tx.execute(&lock, &[&id]).await?;
        }
    }
    Ok(())
}

/// Stores one record; `superseded` is set when it took the bytes of an
/// earlier registry entry (replaced or erased).
async fn put_record(
    statements: &mut HashMap<&'static str, Statement>,
    tx: &Transaction<'_>,
    scope: Uid,
    authority: &[Uid],
    record: &Record,
    superseded: &mut bool,
) -> Result<Outcome, StorageError> {
    let header = &record.header;
    let bytes = record.encode();
    let hash = digest(&bytes);
    let scope_id: &[u8] = &scope.0;
    let device: &[u8] = &header.device.0;
    let seq = i64_of(header.seq);

    let statement = prepared(statements, tx.client(), SELECT_DIGEST).await?;
    if let Some(row) = tx
        .query_opt(&statement, &[&scope_id, &device, &seq])
        .await?
    {
        let existing: Vec<u8> = row.try_get(0)?;
        return Ok(if existing == hash {
            Outcome::Duplicate
        } else {
            Outcome::Conflict
        });
    }
    let statement = prepared(statements, tx.client(), SELECT_LAST).await?;
    let last = match tx.query_opt(&statement, &[&scope_id, &device]).await? {
        Some(row) => u64_of(row.try_get(0)?),
        None => 0,
    };
    if header.seq != last + 1 {
        return Ok(Outcome::Gap { expected: last + 1 });
    }
    let mut live = true;
    if let Some((key, version)) = keyed(record) {
        let statement = prepared(statements, tx.client(), SELECT_LIVE_KEY).await?;
        let current: Vec<(Vec<u8>, i64, i64)> = tx
            .query(&statement, &[&scope_id, &&key[..]])
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
            .collect::<Result<_, StorageError>>()?;
        let (is_live, cleared) = supersede(device, version, authority, &current);
        live = is_live;
        *superseded |= !cleared.is_empty();
        for (d, seq) in cleared {
            let statement = prepared(statements, tx.client(), CLEAR_BYTES).await?;
            tx.execute(&statement, &[&scope_id, &d, &seq]).await?;
        }
    }
    let (key, version) = keyed(record).map_or((None, None), |(k, v)| (Some(k), Some(i64_of(v))));
    let key: Option<&[u8]> = key.as_ref().map(|k| &k[..]);
    let stored: Option<&[u8]> = live.then_some(&bytes[..]);
    let statement = prepared(statements, tx.client(), INSERT_RECORD).await?;
    tx.execute(
        &statement,
        &[&scope_id, &device, &seq, &hash, &key, &version, &stored],
    )
    .await?;
    let statement = prepared(statements, tx.client(), SET_LAST).await?;
    tx.execute(&statement, &[&scope_id, &device, &seq]).await?;
    Ok(if live {
        Outcome::Stored
    } else {
        Outcome::Superseded
    })
}

async fn create_scope_on(
    conn: &mut PgConn,
    scope: Uid,
    lead: DeviceKeys,
    keys: Vec<DeviceKey>,
) -> Result<(), StorageError> {
    let PgConn { client, statements } = conn;
    let tx = client.transaction().await?;
    let scope_id: &[u8] = &scope.0;
    // Insert first, then compare: two relays creating the same scope at
    // once see one winner, and the loser a conflict (or a no-op).
    tx.execute(
        "INSERT INTO scopes (scope, lead) VALUES ($1, $2) ON CONFLICT (scope) DO NOTHING",
        &[&scope_id, &&lead.device.0[..]],
    )
    .await?;
    let existing: Vec<u8> = tx
        .query_one("SELECT lead FROM scopes WHERE scope = $1", &[&scope_id])
        .await?
        .try_get(0)?;
    if existing != lead.device.0 {
        return Err(StorageError::Conflict(
            "this convoy already exists with another lead",
        ));
    }
    insert_member(
        statements,
        &tx,
        scope,
        &lead,
        "lead",
        Status::Approved,
        None,
        &[],
    )
    .await?;
    let mut keys = keys;
    keys.sort_by_key(|k| (k.device, k.key.epoch));
    for key in &keys {
        put_key(statements, &tx, scope, key).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn put_certificate_on(
    conn: &mut PgConn,
    scope: Uid,
    certificate: CertificateRow,
    keys: Vec<DeviceKey>,
) -> Result<CertOutcome, StorageError> {
    let PgConn { client, statements } = conn;
    let tx = client.transaction().await?;
    // One certificate change per device at a time, across relay processes.
    tx.execute(
        LOCK,
        &[&lock_id(
            b"qafila-relay/member",
            &[&scope.0, &certificate.keys.device.0],
        )],
    )
    .await?;
    let existing = member_row(statements, tx.client(), scope, certificate.keys.device).await?;
    let outcome = CertOutcome::decide(existing.as_ref(), &certificate);
    if outcome == CertOutcome::Applied {
        let k = &certificate.keys;
        let statement = prepared(statements, tx.client(), PUT_CERTIFICATE).await?;
        tx.execute(
            &statement,
            &[
                &&scope.0[..],
                &&k.device.0[..],
                &k.name,
                &k.signing.0,
                &k.encryption.0,
                &certificate.role,
                &certificate.status.as_str(),
                &certificate.bytes,
                &i64::from(certificate.version),
            ],
        )
        .await?;
    }
    if matches!(outcome, CertOutcome::Applied | CertOutcome::Unchanged) {
        let mut keys = keys;
        keys.sort_by_key(|k| (k.device, k.key.epoch));
        for key in &keys {
            put_key(statements, &tx, scope, key).await?;
        }
    }
    tx.commit().await?;
    Ok(outcome)
}

async fn use_nonce_on(
    conn: &mut PgConn,
    nonce: [u8; 16],
    now_ms: u64,
    expires_ms: u64,
) -> Result<bool, StorageError> {
    conn.client
        .execute(
            "DELETE FROM nonces WHERE expires_ms < $1",
            &[&i64_of(now_ms)],
        )
        .await?;
    let fresh = conn
        .client
        .execute(
            "INSERT INTO nonces (nonce, expires_ms) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
            &[&&nonce[..], &i64_of(expires_ms)],
        )
        .await?;
    Ok(fresh == 1)
}

async fn members_on(conn: &mut PgConn, scope: Uid) -> Result<Vec<Member>, StorageError> {
    let rows = conn
        .client
        .query(
            "SELECT name, signing, encryption, role, status, certificate,
                 version, invite, binding, device
             FROM members WHERE scope = $1 ORDER BY device",
            &[&&scope.0[..]],
        )
        .await?;
    rows.iter()
        .map(|row| Ok(member_of(uid(row.try_get(9)?), row)?.to_member()))
        .collect()
}

async fn add_invite_on(conn: &mut PgConn, scope: Uid, invite: Invite) -> Result<(), StorageError> {
    let added = conn
        .client
        .execute(
            "INSERT INTO invites (code_hash, scope, expires_ms, uses_left) VALUES ($1, $2, $3, $4)
             ON CONFLICT (code_hash) DO NOTHING",
            &[
                &invite.code_hash,
                &&scope.0[..],
                &i64_of(invite.expires_ms),
                &i64::from(invite.uses),
            ],
        )
        .await?;
    if added == 0 {
        return Err(StorageError::Conflict(
            "this enrollment code already exists",
        ));
    }
    Ok(())
}

async fn enroll_on(
    conn: &mut PgConn,
    code_hash: String,
    device: DeviceKeys,
    binding: Vec<u8>,
    now_ms: u64,
) -> Result<Enrolled, StorageError> {
    let PgConn { client, statements } = conn;
    let tx = client.transaction().await?;
    // The row lock makes concurrent uses of one code take turns, each
    // seeing the uses the previous one left.
    let invite = tx
        .query_opt(
            "SELECT scope, expires_ms, uses_left FROM invites WHERE code_hash = $1 FOR UPDATE",
            &[&code_hash],
        )
        .await?
        .ok_or(StorageError::NotFound("enrollment code"))?;
    let scope = uid(invite.try_get(0)?);
    let expires: i64 = invite.try_get(1)?;
    let uses: i64 = invite.try_get(2)?;
    let lead: Vec<u8> = tx
        .query_opt("SELECT lead FROM scopes WHERE scope = $1", &[&&scope.0[..]])
        .await?
        .ok_or_else(|| StorageError::Backend("the enrollment code's convoy is missing".into()))?
        .try_get(0)?;
    let lead = member_row(statements, tx.client(), scope, uid(lead))
        .await?
        .ok_or(StorageError::NotFound("convoy lead"))?;
    match member_row(statements, tx.client(), scope, device.device).await? {
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
            let inserted = insert_member(
                statements,
                &tx,
                scope,
                &device,
                "member",
                Status::Pending,
                Some(&code_hash),
                &binding,
            )
            .await?;
            if inserted == 0 {
                // Enrolled meanwhile through another code: as if it had
                // been there when we looked.
                match member_row(statements, tx.client(), scope, device.device).await? {
                    Some(existing) if existing.keys == device => {}
                    _ => {
                        return Err(StorageError::Conflict(
                            "this device id is already enrolled with other keys",
                        ));
                    }
                }
            } else {
                tx.execute(
                    "UPDATE invites SET uses_left = uses_left - 1 WHERE code_hash = $1",
                    &[&code_hash],
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(Enrolled {
        scope,
        lead: lead.keys,
    })
}

async fn keys_on(
    conn: &mut PgConn,
    scope: Uid,
    device: Uid,
) -> Result<Vec<WrappedKey>, StorageError> {
    let rows = conn
        .client
        .query(
            "SELECT epoch, wrapped, signature, revocations FROM wrapped_keys
             WHERE scope = $1 AND device = $2 ORDER BY epoch",
            &[&&scope.0[..], &&device.0[..]],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let epoch: i64 = row.try_get(0)?;
            let revocations: String = row.try_get(3)?;
            Ok(WrappedKey {
                epoch: u32::try_from(epoch).map_err(backend)?,
                wrapped: B64(row.try_get(1)?),
                signature: B64(row.try_get(2)?),
                revocations: serde_json::from_str(&revocations).map_err(backend)?,
            })
        })
        .collect()
}

async fn put_records_on(
    conn: &mut PgConn,
    scope: Uid,
    authority: Vec<Uid>,
    records: Vec<Record>,
) -> Result<(Vec<Outcome>, bool), StorageError> {
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by_key(|&i| (records[i].header.device, records[i].header.seq));
    let mut outcomes = vec![Outcome::Forbidden; records.len()];
    let mut superseded = false;
    let PgConn { client, statements } = conn;
    let tx = client.transaction().await?;
    lock_for_upload(statements, &tx, scope, &records).await?;
    for i in order {
        outcomes[i] = put_record(
            statements,
            &tx,
            scope,
            &authority,
            &records[i],
            &mut superseded,
        )
        .await?;
    }
    tx.commit().await?;
    Ok((outcomes, superseded))
}

async fn fetch_on(
    conn: &mut PgConn,
    scope: Uid,
    cursors: Cursors,
    max_bytes: usize,
) -> Result<Page, StorageError> {
    let PgConn { client, statements } = conn;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let heads = heads_of(statements, tx.client(), scope).await?;
    let held: HashMap<Uid, u64> = cursors.0.into_iter().collect();
    let statement = prepared(statements, tx.client(), FETCH_LOG).await?;
    let scope_id: &[u8] = &scope.0;
    let mut page = Page::default();
    let mut size = 0usize;
    for (device, last) in heads.0 {
        let after = held.get(&device).copied().unwrap_or(0);
        if after >= last || page.more {
            page.cursors.0.push((device, after));
            continue;
        }
        let mut reached = after;
        let portal = tx
            .bind(&statement, &[&scope_id, &&device.0[..], &i64_of(after)])
            .await?;
        let mut batch = FETCH_ROWS_MIN;
        'rows: loop {
            let rows = tx.query_portal(&portal, batch).await?;
            for row in &rows {
                if size >= max_bytes {
                    page.more = true;
                    break 'rows;
                }
                reached = u64_of(row.try_get(0)?);
                if let Some(bytes) = row.try_get::<_, Option<Vec<u8>>>(1)? {
                    size += bytes.len();
                    page.records.push(bytes);
                }
            }
            if rows.len() < usize::try_from(batch).unwrap_or(usize::MAX) {
                break;
            }
            batch = (batch * 2).min(FETCH_ROWS_MAX);
        }
        page.cursors.0.push((device, reached));
    }
    tx.commit().await?;
    Ok(page)
}

impl Storage for PgStorage {
    async fn ready(&self) -> Result<(), StorageError> {
        with_conn!(self, conn => conn.client.batch_execute("SELECT 1")).map_err(StorageError::from)
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
        with_conn!(self, conn => use_nonce_on(conn, nonce, now_ms, expires_ms))
    }

    async fn create_scope(
        &self,
        scope: Uid,
        lead: DeviceKeys,
        keys: Vec<DeviceKey>,
    ) -> Result<(), StorageError> {
        with_conn!(self, conn => create_scope_on(conn, scope, lead, keys))
    }

    async fn member(&self, scope: Uid, device: Uid) -> Result<Option<MemberRow>, StorageError> {
        with_conn!(self, conn => member_row(&mut conn.statements, &conn.client, scope, device))
    }

    async fn members(&self, scope: Uid) -> Result<Vec<Member>, StorageError> {
        with_conn!(self, conn => members_on(conn, scope))
    }

    async fn add_invite(&self, scope: Uid, invite: Invite) -> Result<(), StorageError> {
        with_conn!(self, conn => add_invite_on(conn, scope, invite))
    }

    async fn enroll(
        &self,
        code_hash: String,
        device: DeviceKeys,
        binding: Vec<u8>,
        now_ms: u64,
    ) -> Result<Enrolled, StorageError> {
        with_conn!(self, conn => enroll_on(conn, code_hash, device, binding, now_ms))
    }

    async fn put_certificate(
        &self,
        scope: Uid,
        certificate: CertificateRow,
        keys: Vec<DeviceKey>,
    ) -> Result<CertOutcome, StorageError> {
        with_conn!(self, conn => put_certificate_on(conn, scope, certificate, keys))
    }

    async fn keys(&self, scope: Uid, device: Uid) -> Result<Vec<WrappedKey>, StorageError> {
        with_conn!(self, conn => keys_on(conn, scope, device))
    }

    async fn put_records(
        &self,
        scope: Uid,
        authority: Vec<Uid>,
        records: Vec<Record>,
    ) -> Result<Vec<Outcome>, StorageError> {
        let (outcomes, superseded) =
            with_conn!(self, conn => put_records_on(conn, scope, authority, records))?;
        if superseded {
            // The old row versions still hold the bytes: vacuum, after the
            // answer. A full channel means a run is already asked for.
            let _ = self.vacuum.try_send(());
        }
        Ok(outcomes)
    }

    async fn fetch(
        &self,
        scope: Uid,
        cursors: Cursors,
        max_bytes: usize,
    ) -> Result<Page, StorageError> {
        with_conn!(self, conn => fetch_on(conn, scope, cursors, max_bytes))
    }

    async fn heads(&self, scope: Uid) -> Result<Cursors, StorageError> {
        with_conn!(self, conn => heads_of(&mut conn.statements, &conn.client, scope))
    }

    async fn scope_bytes(&self, scope: Uid) -> Result<u64, StorageError> {
        with_conn!(self, conn => async {
            let statement = prepared(&mut conn.statements, &conn.client, SCOPE_BYTES).await?;
            let row = conn.client.query_one(&statement, &[&&scope.0[..]]).await?;
            Ok(u64_of(row.try_get(0)?))
        })
    }
}
