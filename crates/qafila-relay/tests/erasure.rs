//! Erasure that erases: once the relay has taken a superseded registry
//! entry's bytes, no file of its database holds them any more. These tests
//! look at the files themselves, as someone who seized the disk would,
//! rather than asking the database.
//!
//! - SQLite: `secure_delete` zeroes the entry inside the database file, and
//!   the writer cuts the WAL, which still holds the pages as they were
//!   (`storage/sqlite.rs`).
//! - PostgreSQL: the old row version stays in the table's pages under MVCC
//!   until a vacuum rewrites them (`storage/postgres.rs`, `VACUUM_RECORDS`).
//!   Its own WAL is not looked at: it keeps the bytes until its segments
//!   are recycled, as SECURITY.md says.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qafila_proto::Uid;
use qafila_proto::batch::Outcome;
use qafila_proto::control::{B64, DeviceKeys};
use qafila_proto::record::{Record, RecordHeader, RecordKind};
use qafila_relay::storage::postgres::PgStorage;
use qafila_relay::storage::sqlite::SqliteStorage;
use qafila_relay::storage::{ERASED, Storage};
use qafila_testkit::postgres::TempPostgres;

const SCOPE: Uid = Uid([0x5c; 16]);
const NOW: u64 = 1_750_000_000_000;

/// The lead, who erases.
const LEAD: u8 = 1;
/// A registrar's device, whose entries are erased.
const REGISTRAR: u8 = 2;
/// A device writing ordinary log records around them.
const OTHER: u8 = 3;

fn dev(n: u8) -> Uid {
    Uid([n; 16])
}

fn keys(n: u8) -> DeviceKeys {
    DeviceKeys {
        device: dev(n),
        name: format!("device {n}"),
        signing: B64(vec![n; 32]),
        encryption: B64(vec![n ^ 0xff; 32]),
    }
}

fn record(device: u8, seq: u64, kind: RecordKind, body: Vec<u8>) -> Record {
    Record {
        header: RecordHeader {
            scope: SCOPE,
            device: dev(device),
            seq,
            epoch: 1,
            kind,
        },
        ciphertext: body,
    }
}

fn entry(device: u8, seq: u64, key: u8, version: u64, body: Vec<u8>) -> Record {
    record(
        device,
        seq,
        RecordKind::Keyed {
            key: [key; 32],
            version,
        },
        body,
    )
}

/// `len` bytes that look like ciphertext (no database compresses them),
/// from a seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A distinctive marker for the entry of `key`.
fn marker(key: u8) -> Vec<u8> {
    format!("MARKER-ERASE-ME-{key:03}-7f3a9c").into_bytes()
}

/// Ciphertext of `len` bytes with the key's marker at its start, middle
/// and end: a small one stays inside a database page, a large one goes to
/// overflow pages (SQLite) or TOAST (PostgreSQL).
fn body_of(key: u8, len: usize) -> Vec<u8> {
    let mark = marker(key);
    let mut body = noise(u64::from(key), len);
    for at in [0, len / 2, len - mark.len()] {
        body[at..at + mark.len()].copy_from_slice(&mark);
    }
    body
}

/// The entries erased: two small and two large, for keys 7 to 10.
const ERASED_KEYS: [(u8, usize); 4] = [(7, 600), (8, 6_000), (9, 600), (10, 6_000)];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir` (recursively) that holds `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && contains(&bytes, needle)
            {
                found.push(path);
            }
        }
    }
    found
}

async fn put<S: Storage>(s: &S, authority: &[u8], records: Vec<Record>) -> Vec<Outcome> {
    let authority = authority.iter().map(|n| dev(*n)).collect();
    s.put_records(SCOPE, authority, records).await.unwrap()
}

/// Log records of another device, from `seq` on, small and large, to sit
/// around the entries: what vacuum must keep, on the same pages.
fn fillers(seq: u64) -> Vec<Record> {
    (0..FILLERS)
        .map(|i| {
            let len = if i % 4 == 3 { 6_000 } else { 300 };
            record(OTHER, seq + i, RecordKind::Log, noise(1000 + seq + i, len))
        })
        .collect()
}

/// Log records stored before and after each batch of entries.
const FILLERS: u64 = 8;

/// Stores the entries of `keys` (from the registrar, from `seq` on)
/// between log records of another device (from `log_seq` on, twice
/// [`FILLERS`] of them), so they sit among rows that stay: a dead row at
/// the end of a table is simply cut off by vacuum, one in the middle is not.
async fn store_entries<S: Storage>(s: &S, keys: &[(u8, usize)], seq: u64, log_seq: u64) {
    let outcomes = put(s, &[], fillers(log_seq)).await;
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Stored),
        "{outcomes:?}"
    );
    let entries: Vec<Record> = keys
        .iter()
        .zip(seq..)
        .map(|(&(key, len), seq)| entry(REGISTRAR, seq, key, 1, body_of(key, len)))
        .collect();
    let outcomes = put(s, &[], entries).await;
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Stored),
        "{outcomes:?}"
    );
    let outcomes = put(s, &[], fillers(log_seq + FILLERS)).await;
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Stored),
        "{outcomes:?}"
    );
}

/// The lead erases every entry of `ERASED_KEYS`.
async fn erase_all<S: Storage>(s: &S) {
    let tombstones: Vec<Record> = ERASED_KEYS
        .iter()
        .zip(1..)
        .map(|(&(key, _), seq)| entry(LEAD, seq, key, ERASED, b"tombstone".to_vec()))
        .collect();
    assert_eq!(
        put(s, &[LEAD], tombstones).await,
        [Outcome::Stored; ERASED_KEYS.len()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_erased_entry_is_in_no_file_of_the_relay_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let s = SqliteStorage::open(&path).unwrap();
    s.create_scope(SCOPE, keys(LEAD), vec![]).await.unwrap();

    // Keys 7 and 8 reach the database file itself (a checkpoint from
    // outside, as SQLite's automatic one would): there, `secure_delete`
    // must zero them. Keys 9 and 10 are only in the WAL when erased: there,
    // the cut must remove them.
    store_entries(&s, &ERASED_KEYS[..2], 1, 1).await;
    let outside = rusqlite::Connection::open(&path).unwrap();
    let busy: i64 = outside
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(busy, 0);
    drop(outside);
    store_entries(&s, &ERASED_KEYS[2..], 3, 2 * FILLERS + 1).await;
    for (key, _) in ERASED_KEYS {
        assert!(
            !files_holding(dir.path(), &marker(key)).is_empty(),
            "the probe does not see entry {key}"
        );
    }

    erase_all(&s).await;
    // The writer answers a batch, then cuts the WAL, then takes the next
    // batch: a write answered now was taken after the cut was tried (and
    // no reader was there to hold it up).
    assert!(s.use_nonce([7; 16], NOW, NOW + 1).await.unwrap());

    for (key, _) in ERASED_KEYS {
        let found = files_holding(dir.path(), &marker(key));
        assert!(found.is_empty(), "entry {key}'s bytes remain in {found:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_reader_delays_the_wal_cut_but_does_not_stop_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let wal = dir.path().join("relay.db-wal");
    let s = SqliteStorage::open(&path).unwrap();
    s.create_scope(SCOPE, keys(LEAD), vec![]).await.unwrap();
    store_entries(&s, &ERASED_KEYS, 1, 1).await;

    // A reader in the middle of a read transaction, on the snapshot from
    // before the erasure: the WAL cannot be cut while it reads.
    let reader = rusqlite::Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let rows: i64 = reader
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 4 + 2 * 8);
    erase_all(&s).await;
    assert!(s.use_nonce([7; 16], NOW, NOW + 1).await.unwrap());
    assert!(
        !files_holding(dir.path(), &marker(9)).is_empty(),
        "the WAL was cut under a reader's snapshot"
    );

    // Once it is done, the writer tries again on its own, with no further
    // write to prompt it.
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 0 {
        assert!(
            Instant::now() < deadline,
            "the WAL was not cut once the reader was gone"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (key, _) in ERASED_KEYS {
        let found = files_holding(dir.path(), &marker(key));
        assert!(found.is_empty(), "entry {key}'s bytes remain in {found:?}");
    }
}

/// The directory of the test database's files, from the server itself.
async fn database_dir(client: &tokio_postgres::Client) -> PathBuf {
    let row = client
        .query_one(
            "SELECT current_setting('data_directory'),
                    (SELECT oid FROM pg_database WHERE datname = current_database())::text",
            &[],
        )
        .await
        .unwrap();
    let data: String = row.get(0);
    let oid: String = row.get(1);
    PathBuf::from(data).join("base").join(oid)
}

/// A throwaway server, the relay's storage on a database of its own, its
/// URL, a client of the test's and the database's directory; `None` with
/// a server from the environment, whose files may be on another machine.
async fn postgres() -> Option<(
    TempPostgres,
    PgStorage,
    String,
    tokio_postgres::Client,
    PathBuf,
)> {
    if std::env::var_os(qafila_testkit::postgres::DATABASE_URL_VAR).is_some() {
        eprintln!("skipped: the files of a server given in the environment cannot be read");
        return None;
    }
    let (server, url) = tokio::task::spawn_blocking(|| {
        let server = TempPostgres::start();
        let url = server.create_database("erasure");
        (server, url)
    })
    .await
    .unwrap();
    let s = PgStorage::connect(&url).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let dir = database_dir(&client).await;
    s.create_scope(SCOPE, keys(LEAD), vec![]).await.unwrap();
    Some((server, s, url, client, dir))
}

/// Waits until no file of the database holds an erased entry: the vacuum
/// runs after the answer, in the background. Each look first has the
/// server write its buffers to its files.
async fn until_gone(client: &tokio_postgres::Client, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        client.batch_execute("CHECKPOINT").await.unwrap();
        let left: Vec<(u8, Vec<PathBuf>)> = ERASED_KEYS
            .iter()
            .map(|&(key, _)| (key, files_holding(dir, &marker(key))))
            .filter(|(_, found)| !found.is_empty())
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "erased entries' bytes remain: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn stop(server: TempPostgres) {
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_erased_entry_is_in_no_file_of_the_relay_database() {
    let Some((server, s, _, client, dir)) = postgres().await else {
        return;
    };
    store_entries(&s, &ERASED_KEYS, 1, 1).await;
    client.batch_execute("CHECKPOINT").await.unwrap();
    for (key, _) in ERASED_KEYS {
        assert!(
            !files_holding(&dir, &marker(key)).is_empty(),
            "the probe does not see entry {key}"
        );
    }
    erase_all(&s).await;
    until_gone(&client, &dir).await;
    // What is left is still there.
    assert_eq!(s.heads(SCOPE).await.unwrap().0.len(), 3);
    drop((s, client));
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_older_snapshot_delays_the_vacuum_but_does_not_stop_it() {
    let Some((server, s, url, client, dir)) = postgres().await else {
        return;
    };
    store_entries(&s, &ERASED_KEYS, 1, 1).await;
    // A transaction that took its snapshot before the erasure, on another
    // table: it takes no lock on `records`, so nothing but the vacuum
    // task's own care keeps a rewrite from copying the rows it can see.
    let (older, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    older
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM logs")
        .await
        .unwrap();
    erase_all(&s).await;
    // Time for a vacuum that did not wait to run under that snapshot.
    tokio::time::sleep(Duration::from_secs(2)).await;
    older.batch_execute("COMMIT").await.unwrap();
    until_gone(&client, &dir).await;
    drop((s, client, older));
    stop(server).await;
}
