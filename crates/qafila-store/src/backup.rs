//! A lead's keys, backed up and restored on another laptop.
//!
//! The backup holds what a lead's laptop alone has and no relay can give
//! back: the device's identity (its id, signing and encryption secrets, the
//! national-ID secret), for each convoy it leads the convoy, every key
//! generation, every certificate it signed and its unexpired invites, the
//! rounds and sites its plan names, and every card-issuing secret. Each is a
//! table's rows as they are, so the backup follows the schema it was taken
//! from ([`Backup::schema`]).
//!
//! The file seals that under a key derived from a backup passphrase
//! (Argon2id, at a higher cost than the key file's, since this file leaves
//! the device) with XChaCha20-Poly1305, the cost bound into the seal.
//!
//! Restoring makes a new store with that identity; it refuses to record
//! anything until the convoy's relay has given back the lead's own log
//! ([`Store::recover_own_log`]), so the restored laptop continues that log
//! rather than forking it. See `ARCHITECTURE.md`, "Keys that survive a lost
//! laptop".

use std::collections::BTreeMap;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use qafila_domain::event::EventBody;
use qafila_domain::ids::VolunteerId;

use crate::Store;
use crate::error::StoreError;
use crate::key::{self, Passphrase};
use crate::personal::random;
use crate::sync::{Chain, Remote, RemoteContent};

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Where a restore makes its store before moving it into the data folder.
const RESTORE_DIR: &str = ".qafila-restore";
/// What a backup file starts with, so a wrong file is named as such.
pub const MAGIC: &str = "qafila-keys";
const FORMAT: u32 = 1;
const AAD: &[u8] = b"qafila-keys-v1";
/// Argon2id for backup files: 64 MiB, 3 passes (about 0.4 s here).
const MEMORY_KIB: u32 = 64 * 1024;
const ITERATIONS: u32 = 3;
/// The most a backup's contents may unpack to.
const MAX_CONTENTS: usize = 64 << 20;
/// Never derive with more than this, whatever a (tampered) file says: the
/// cost is read before the seal can be checked.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
/// New events of a restored lead start this far above the highest the
/// relay gave back: events the lost laptop made and never synced keep
/// their numbers to themselves.
const SEQ_GAP: i64 = 1 << 20;

/// The tables a backup carries, each with the rows it keeps (`?1`: now).
const TABLES: &[(&str, &str)] = &[
    ("identity", "SELECT * FROM identity"),
    ("device", "SELECT * FROM device"),
    ("convoys", "SELECT * FROM convoys WHERE role = 'lead'"),
    (
        "scope_keys",
        "SELECT * FROM scope_keys WHERE scope IN (SELECT id FROM convoys WHERE role = 'lead')",
    ),
    (
        "roster",
        "SELECT * FROM roster WHERE scope IN (SELECT id FROM convoys WHERE role = 'lead')",
    ),
    (
        "roster_certs",
        "SELECT * FROM roster_certs WHERE scope IN (SELECT id FROM convoys WHERE role = 'lead')",
    ),
    (
        "lead_invites",
        "SELECT * FROM lead_invites WHERE expires_ms > ?1
           AND scope IN (SELECT id FROM convoys WHERE role = 'lead')",
    ),
    ("issuer_secrets", "SELECT * FROM issuer_secrets"),
    ("rounds", "SELECT * FROM rounds"),
    ("sites", "SELECT * FROM sites"),
];

/// One column's value, as JSON can carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(String),
}

type Row = BTreeMap<String, Cell>;

/// A lead's keys and what goes with them, in clear (only ever in memory).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    /// The store schema the rows are from.
    pub schema: i64,
    /// When it was taken (the device's clock).
    pub made_ms: u64,
    /// The device it was taken from.
    pub device_name: String,
    /// The convoys it leads, by name.
    pub convoys: Vec<String>,
    tables: BTreeMap<String, Vec<Row>>,
}

/// `*.qafila-keys` as stored.
#[derive(Debug, Serialize, Deserialize)]
struct BackupFile {
    kind: String,
    format: u32,
    kdf: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
    nonce: String,
    sealed: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn not_backup(detail: impl Into<String>) -> StoreError {
    StoreError::BackupDamaged(detail.into())
}

impl BackupFile {
    fn aad(&self) -> Vec<u8> {
        let mut aad = AAD.to_vec();
        for n in [self.memory_kib, self.iterations, self.parallelism] {
            aad.extend_from_slice(&n.to_le_bytes());
        }
        aad
    }
}

impl Backup {
    /// Seals the backup under `passphrase`: the bytes of a backup file.
    pub fn seal(&self, passphrase: &Passphrase) -> Result<Vec<u8>, StoreError> {
        passphrase.check_strength()?;
        let salt = random::<16>()?;
        let nonce = random::<24>()?;
        let mut file = BackupFile {
            kind: MAGIC.into(),
            format: FORMAT,
            kdf: "argon2id-v19".into(),
            memory_kib: MEMORY_KIB,
            iterations: ITERATIONS,
            parallelism: 1,
            salt: hex(&salt),
            nonce: hex(&nonce),
            sealed: String::new(),
        };
        let kek = key::derive(passphrase, &salt, MEMORY_KIB, ITERATIONS, 1)?;
        let json = Zeroizing::new(
            serde_json::to_vec(self).map_err(|e| not_backup(format!("could not encode: {e}")))?,
        );
        // Compressed, so the printed sheet needs fewer codes.
        let plain = Zeroizing::new(miniz_oxide::deflate::compress_to_vec(&json, 9));
        let sealed = XChaCha20Poly1305::new(kek.as_ref().into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_ref(),
                    aad: &file.aad(),
                },
            )
            .map_err(|_| StoreError::Seal)?;
        file.sealed = hex(&sealed);
        // One line: each QR code of the printed sheet carries a stretch of it.
        serde_json::to_vec(&file).map_err(|e| not_backup(format!("could not encode: {e}")))
    }

    /// Opens a backup file's bytes with `passphrase`.
    pub fn open(bytes: &[u8], passphrase: &Passphrase) -> Result<Backup, StoreError> {
        let file: BackupFile = serde_json::from_slice(bytes)
            .map_err(|e| not_backup(format!("not a Qafila key backup ({e})")))?;
        if file.kind != MAGIC || file.format != FORMAT || file.kdf != "argon2id-v19" {
            return Err(not_backup(format!(
                "a {} file of format {} ({}), which this build does not read",
                file.kind, file.format, file.kdf
            )));
        }
        if !(8 * 1024..=MAX_MEMORY_KIB).contains(&file.memory_kib)
            || !(1..=8).contains(&file.iterations)
            || !(1..=4).contains(&file.parallelism)
        {
            return Err(not_backup("its Argon2id cost is out of range"));
        }
        let salt: [u8; 16] = unhex(&file.salt)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| not_backup("bad salt"))?;
        let nonce: [u8; 24] = unhex(&file.nonce)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| not_backup("bad nonce"))?;
        let sealed = unhex(&file.sealed).ok_or_else(|| not_backup("bad sealed text"))?;
        let kek = key::derive(
            passphrase,
            &salt,
            file.memory_kib,
            file.iterations,
            file.parallelism,
        )?;
        let plain = Zeroizing::new(
            XChaCha20Poly1305::new(kek.as_ref().into())
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed,
                        aad: &file.aad(),
                    },
                )
                .map_err(|_| StoreError::WrongBackupPassphrase)?,
        );
        let json = Zeroizing::new(
            miniz_oxide::inflate::decompress_to_vec_with_limit(&plain, MAX_CONTENTS)
                .map_err(|_| not_backup("its contents do not unpack"))?,
        );
        serde_json::from_slice(&json).map_err(|e| not_backup(format!("its contents: {e}")))
    }

    /// How many card-issuing keys it holds.
    pub fn issuers(&self) -> usize {
        self.rows("issuer_secrets").len()
    }

    fn rows(&self, table: &str) -> &[Row] {
        self.tables.get(table).map_or(&[], Vec::as_slice)
    }
}

fn read_rows(conn: &Connection, sql: &str, now_ms: u64) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let takes_now = stmt.parameter_count() > 0;
    let mut rows = if takes_now {
        stmt.query(params![i64_of(now_ms)])?
    } else {
        stmt.query([])?
    };
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut cells = Row::new();
        for (i, name) in names.iter().enumerate() {
            let cell = match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(n) => Cell::Int(n),
                ValueRef::Real(x) => Cell::Real(x),
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Cell::Bytes(hex(b)),
            };
            cells.insert(name.clone(), cell);
        }
        out.push(cells);
    }
    Ok(out)
}

fn value(cell: &Cell) -> Result<Value, StoreError> {
    Ok(match cell {
        Cell::Null => Value::Null,
        Cell::Int(n) => Value::Integer(*n),
        Cell::Real(x) => Value::Real(*x),
        Cell::Text(t) => Value::Text(t.clone()),
        Cell::Bytes(h) => Value::Blob(unhex(h).ok_or_else(|| not_backup("bad bytes in a row"))?),
    })
}

/// Inserts `rows` into `table`, naming only columns this schema has.
fn insert_rows(tx: &Connection, table: &str, rows: &[Row]) -> Result<(), StoreError> {
    let known: Vec<String> = tx
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for row in rows {
        let columns: Vec<&String> = row.keys().filter(|c| known.contains(c)).collect();
        if columns.is_empty() {
            continue;
        }
        let sql = format!(
            "INSERT OR REPLACE INTO {table} ({}) VALUES ({})",
            columns
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", "),
            (1..=columns.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let values = columns
            .iter()
            .map(|c| value(&row[*c]))
            .collect::<Result<Vec<_>, _>>()?;
        tx.execute(&sql, rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

impl Store {
    /// What a backup of this device's lead keys holds, read now.
    pub fn backup(&self, now_ms: u64) -> Result<Backup, StoreError> {
        // The device's keys exist once it has synced or led; make sure.
        self.identity()?;
        let conn = self.reader();
        let schema: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let mut tables = BTreeMap::new();
        for (table, sql) in TABLES {
            tables.insert((*table).to_owned(), read_rows(&conn, sql, now_ms)?);
        }
        let convoys: Vec<String> = conn
            .prepare("SELECT name FROM convoys WHERE role = 'lead' ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(Backup {
            schema,
            made_ms: now_ms,
            device_name: self.device().name.clone(),
            convoys,
            tables,
        })
    }

    /// Makes a store in `dir` (which must hold none) from `backup`, sealed
    /// under `passphrase`. It records nothing until each convoy it leads has
    /// had its own log back from the relay.
    pub fn restore(
        dir: &Path,
        backup: &Backup,
        passphrase: &Passphrase,
        now_ms: u64,
    ) -> Result<Store, StoreError> {
        if backup.rows("device").len() != 1 || backup.rows("identity").len() != 1 {
            return Err(not_backup("it holds no device identity"));
        }
        if backup.rows("convoys").is_empty() {
            return Err(not_backup("it leads no convoy"));
        }
        if crate::protection(dir) != crate::Protection::Missing {
            return Err(StoreError::AlreadyInitialised(dir.to_owned()));
        }
        // Made whole in a folder beside it, then moved in (the key first,
        // the database last): a crash leaves no half-made store in `dir`.
        let temp = dir.join(RESTORE_DIR);
        let _ = std::fs::remove_dir_all(&temp);
        let store = Store::create(&temp, &backup.device_name, passphrase, now_ms)?;
        let key = Store::fill_restored(store, &temp, backup, passphrase, now_ms)?;
        for name in [
            key::KEY_FILE.to_owned(),
            format!("{}-wal", crate::DB_FILE),
            format!("{}-shm", crate::DB_FILE),
            crate::DB_FILE.to_owned(),
        ] {
            let from = temp.join(&name);
            if from.exists() {
                std::fs::rename(&from, dir.join(&name))?;
            }
        }
        key::sync_dir(dir);
        let _ = std::fs::remove_dir_all(&temp);
        Store::open_with_key(dir, &key)
    }

    /// Writes `backup` into the new store in `dir`; returns its key.
    fn fill_restored(
        store: Store,
        dir: &Path,
        backup: &Backup,
        passphrase: &Passphrase,
        now_ms: u64,
    ) -> Result<crate::StoreKey, StoreError> {
        let schema = {
            let conn = store.reader();
            conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?
        };
        if backup.schema > schema {
            drop(store);
            return Err(StoreError::NewerSchema {
                found: backup.schema,
                known: schema,
            });
        }
        let backup = backup.clone();
        store.writer.call(move |w| {
            w.transaction(|tx| {
                tx.execute("DELETE FROM device", [])?;
                tx.execute("DELETE FROM identity", [])?;
                tx.execute("DELETE FROM rounds", [])?;
                tx.execute("DELETE FROM sites", [])?;
                for (table, _) in TABLES {
                    insert_rows(tx, table, backup.rows(table))?;
                }
                // The log comes back from the relay; until then nothing is
                // recorded, so nothing can collide with it.
                tx.execute("UPDATE device SET next_seq = 1", [])?;
                tx.execute(
                    "UPDATE issuer_secrets SET next_counter = next_counter + ?1",
                    [ISSUER_GAP],
                )?;
                tx.execute(
                    "INSERT OR REPLACE INTO restores (scope, backup_made_ms, restored_ms, recovered)
                     SELECT id, ?1, ?2, 0 FROM convoys WHERE role = 'lead'",
                    params![i64_of(backup.made_ms), i64_of(now_ms)],
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO outbox_state (scope, next_record, sealed_through)
                     SELECT id, 1, 0 FROM convoys WHERE role = 'lead'",
                    [],
                )?;
                Ok(())
            })
        })?;
        let key = Store::unlock(dir, passphrase, now_ms)?;
        drop(store);
        Ok(key)
    }

    /// The convoys whose lead log this restored store still has to take
    /// back from their relay.
    pub fn pending_restores(&self) -> Result<Vec<[u8; 16]>, StoreError> {
        let conn = self.reader();
        let rows: Vec<Vec<u8>> = conn
            .prepare_cached("SELECT scope FROM restores WHERE recovered = 0")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows
            .into_iter()
            .map(|s| s.try_into().unwrap_or([0; 16]))
            .collect())
    }

    /// When the backup this store was restored from in `scope` was taken.
    pub fn restored_from(&self, scope: [u8; 16]) -> Result<Option<u64>, StoreError> {
        use rusqlite::OptionalExtension;
        let made: Option<i64> = self
            .reader()
            .query_row(
                "SELECT backup_made_ms FROM restores WHERE scope = ?1",
                [scope],
                |r| r.get(0),
            )
            .optional()?;
        Ok(made.map(|m| u64::try_from(m).unwrap_or(0)))
    }

    /// Takes back this device's own records of `scope`, opened and checked
    /// by the sync layer as any receiver's, and continues the log after
    /// them: events and their Automerge changes, registry entries and the
    /// plan go in as they were made; the chain, the next record and the
    /// event sequence carry on after the last. Marks the restore done.
    /// `kept`: the records' own bytes (seq, bytes, keyed); log records are
    /// kept in the outbox, confirmed, as a lead keeps its own for relays
    /// that lack them.
    pub fn recover_own_log(
        &self,
        scope: [u8; 16],
        records: Vec<Remote>,
        kept: Vec<(u64, Vec<u8>, bool)>,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let own = self.device().id;
        let nid_key = self.nid_key.clone();
        self.writer.call(move |w| {
            let nid_key = nid_key.read().map_err(|_| StoreError::WriterGone)?.clone();
            let tx = w.conn.transaction()?;
            let mut next_record = kept.iter().map(|(seq, _, _)| seq + 1).max().unwrap_or(1);
            for (seq, bytes, keyed) in kept.iter().filter(|(_, _, keyed)| !keyed) {
                tx.execute(
                    "INSERT OR IGNORE INTO outbox (scope, seq, keyed, bytes, events, acked)
                     VALUES (?1, ?2, ?3, ?4, 0, 1)",
                    params![scope, i64_of(*seq), keyed, bytes],
                )?;
            }
            let mut events = 0u64;
            let mut last_entry = 0i64;
            let mut chain = None;
            for record in records {
                if record.device != own {
                    continue;
                }
                next_record = next_record.max(record.seq + 1);
                if let Chain::Set(seq, hash) = record.chain {
                    chain = Some((seq, hash));
                }
                match record.content {
                    RemoteContent::Changes(entries) => {
                        for entry in entries {
                            let seq = i64_of(entry.seq);
                            last_entry = last_entry.max(seq);
                            tx.execute(
                                "INSERT OR IGNORE INTO doc_chunks (device, day, seq, bytes) VALUES (?1, ?2, ?3, ?4)",
                                params![own.to_bytes(), entry.day.to_string(), seq, entry.chunk],
                            )?;
                            // A change this build cannot read (a newer
                            // event) stays in the document, as made; its
                            // events are set aside, as receivers do.
                            let Ok(added) =
                                qafila_doc::device_day::events_in_change(own, &entry.chunk)
                            else {
                                continue;
                            };
                            for event in added.into_iter().filter(|e| e.validate().is_ok()) {
                                let inserted = tx.execute(
                                    "INSERT OR IGNORE INTO events (id, device, seq, at, kind, household, body)
                                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                    params![
                                        event.id.to_bytes(),
                                        own.to_bytes(),
                                        seq,
                                        i64_of(event.at.to_u64()),
                                        crate::projection::kind(&event),
                                        crate::projection::household(&event),
                                        qafila_doc::codec::encode(&event)
                                    ],
                                )?;
                                if inserted > 0 {
                                    crate::projection::apply(&tx, &event)?;
                                    events += 1;
                                }
                                let _ = w.clock.observe(event.at, event.at.wall_ms());
                            }
                        }
                    }
                    RemoteContent::Registry { beneficiary, live } => {
                        crate::sync::take_registry(&tx, scope, beneficiary, live, &nid_key)?;
                    }
                    RemoteContent::Plan(plan) => crate::sync::apply_plan(&tx, scope, &plan)?,
                    RemoteContent::Quarantine(_) => {}
                }
            }
            let next_seq = last_entry + 1 + SEQ_GAP;
            tx.execute(
                "UPDATE device SET next_seq = ?1, clock = MAX(clock, ?2)",
                params![next_seq, i64_of(w.clock.last().to_u64())],
            )?;
            tx.execute(
                "UPDATE outbox_state SET next_record = MAX(next_record, ?2),
                     sealed_through = MAX(sealed_through, ?3),
                     chain_seq = ?4, chain_hash = ?5
                 WHERE scope = ?1",
                params![
                    scope,
                    i64_of(next_record),
                    last_entry,
                    chain.map(|(s, _)| i64_of(s)),
                    chain.map(|(_, h)| h.to_vec())
                ],
            )?;
            tx.execute("UPDATE restores SET recovered = 1 WHERE scope = ?1", [scope])?;
            let made: i64 = tx.query_row(
                "SELECT backup_made_ms FROM restores WHERE scope = ?1",
                [scope],
                |r| r.get(0),
            )?;
            let pending: i64 =
                tx.query_row("SELECT COUNT(*) FROM restores WHERE recovered = 0", [], |r| {
                    r.get(0)
                })?;
            tx.commit()?;
            w.restart_log(next_seq);
            // The hand-over, first in the log it continues (once every
            // convoy this laptop leads has its log back).
            if pending == 0 {
                w.record(
                    VolunteerId::from_bytes(own.to_bytes()),
                    EventBody::LeadRestored {
                        backup_made_ms: u64::try_from(made).unwrap_or(0),
                        after_record: next_record - 1,
                    },
                    now_ms,
                    |_, _| Ok(()),
                )?;
            }
            Ok(events)
        })
    }
}

/// Card counters of a restored issuer start this far above the backup's:
/// cards the lost laptop issued after the backup keep their serials.
const ISSUER_GAP: i64 = 1 << 16;
