//! Encrypting a store from before encryption, in place, on its first open.
//!
//! 1. The key file is written first (or, after an interrupted run, opened
//!    with the same passphrase), so the key exists before anything is
//!    sealed with it.
//! 2. The plaintext database's WAL is folded in and truncated, and
//!    `sqlcipher_export` copies every table, index and the schema version
//!    into `qafila.db.encrypting` under the key.
//! 3. That file is flushed and renamed over `qafila.db` (atomic: a crash
//!    leaves the old plaintext store, which the next open encrypts again,
//!    or the new encrypted one); the old WAL and shared-memory files go.
//!
//! The plaintext file's blocks are freed, not overwritten: on flash storage
//! an overwrite is not guaranteed to reach the same cells, so the promise
//! is about the files in the folder, not the free space of the disk.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::StoreError;
use crate::key::{self, Passphrase, StoreKey};
use crate::{DB_FILE, Protection};

const TEMP_FILE: &str = "qafila.db.encrypting";

/// Encrypts the plaintext store in `dir` and returns its new key.
pub(crate) fn in_place(
    dir: &Path,
    passphrase: &Passphrase,
    now_ms: u64,
) -> Result<StoreKey, StoreError> {
    let path = dir.join(DB_FILE);
    let key = if key::has_key_file(dir) {
        key::unlock(dir, passphrase, now_ms)?
    } else {
        key::create(dir, passphrase)?
    };
    let temp = dir.join(TEMP_FILE);
    remove_with_sidecars(&temp)?;
    let sqlite = |e| StoreError::from_sqlite(&path, e);
    {
        let conn = with_export(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(sqlite)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sqlite)?;
        let temp_text = temp.to_str().ok_or_else(|| StoreError::Corrupt {
            path: path.clone(),
            detail: "the data directory's path is not valid UTF-8".into(),
        })?;
        conn.execute(
            "ATTACH DATABASE ?1 AS encrypted KEY ?2",
            rusqlite::params![temp_text, &*key.pragma()],
        )
        .map_err(sqlite)?;
        conn.pragma_update(
            Some("encrypted"),
            "cipher_hmac_algorithm",
            key.hmac().pragma(),
        )
        .map_err(sqlite)?;
        conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))
            .map_err(sqlite)?;
        conn.pragma_update(Some("encrypted"), "user_version", version)
            .map_err(sqlite)?;
        conn.execute("DETACH DATABASE encrypted", [])
            .map_err(sqlite)?;
    }
    std::fs::File::open(&temp)?.sync_all()?;
    std::fs::rename(&temp, &path)?;
    for sidecar in ["-wal", "-shm"] {
        remove_if_there(&dir.join(format!("{DB_FILE}{sidecar}")))?;
    }
    key::sync_dir(dir);
    debug_assert_eq!(crate::protection(dir), Protection::Encrypted);
    Ok(key)
}

/// A plaintext connection to `path` on which `sqlcipher_export` exists.
///
/// SQLCipher 4.20 registers that function as an auto-extension just after
/// it marks itself initialised: a connection opened by another thread in
/// that instant, at process start, lacks it. Opening again finds it.
fn with_export(path: &Path) -> Result<Connection, StoreError> {
    let sqlite = |e| StoreError::from_sqlite(path, e);
    let mut tries = 0;
    loop {
        // CREATE: ATTACH makes the new file with the main file's flags.
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        let present: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM pragma_function_list WHERE name = 'sqlcipher_export')",
                [],
                |r| r.get(0),
            )
            .map_err(sqlite)?;
        tries += 1;
        if present || tries >= 50 {
            return Ok(conn);
        }
        drop(conn);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn remove_with_sidecars(path: &Path) -> Result<(), StoreError> {
    remove_if_there(path)?;
    for sidecar in ["-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(sidecar);
        remove_if_there(Path::new(&name))?;
    }
    Ok(())
}

fn remove_if_there(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}
