//! Append-only schema migrations, verified at every open.
//!
//! Each migration's checksum is recorded when it is applied; at open the
//! recorded ones must match this build's, and a store that has migrations
//! this build does not know is refused (it was written by a newer Qafila and
//! must not be half-understood).

use rusqlite::{Connection, params};

use crate::error::StoreError;

/// The migrations, in order. Never edit a released one; append.
pub const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_sync.sql"),
    include_str!("migrations/0003_cards.sql"),
    include_str!("migrations/0004_outbox_acks.sql"),
    include_str!("migrations/0005_day_end.sql"),
    include_str!("migrations/0006_day_close_index.sql"),
    include_str!("migrations/0007_trust.sql"),
    include_str!("migrations/0008_trust_periods.sql"),
    include_str!("migrations/0009_registry_claims.sql"),
    include_str!("migrations/0010_convoy_time.sql"),
    include_str!("migrations/0011_lock_policy.sql"),
    include_str!("migrations/0012_restores.sql"),
];

/// FNV-1a: a stable checksum (std's hasher may change between releases).
fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Brings the schema up to date, or refuses a store it cannot trust.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version  INTEGER PRIMARY KEY,
             checksum TEXT NOT NULL
         )",
    )?;
    let applied: Vec<(i64, String)> = conn
        .prepare("SELECT version, checksum FROM schema_migrations ORDER BY version")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if let Some((found, _)) = applied.iter().find(|(v, _)| *v > known) {
        return Err(StoreError::NewerSchema {
            found: *found,
            known,
        });
    }
    for (version, sum) in &applied {
        let index = usize::try_from(*version - 1).unwrap_or(usize::MAX);
        if MIGRATIONS.get(index).map(|sql| checksum(sql)) != Some(sum.clone()) {
            return Err(StoreError::MigrationMismatch { version: *version });
        }
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied.len()) {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, checksum) VALUES (?1, ?2)",
            params![version, checksum(sql)],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// The schema version this build writes.
pub fn current_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}
