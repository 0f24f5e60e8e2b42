//! The floor under every durable write: one SQLite row committed with WAL and
//! `synchronous=FULL` on this machine's disk, right now. DESIGN.md §7 quotes
//! 0.14 ms; shared disks vary by the hour, so the device benchmarks are read
//! against this figure measured in the same run.
//! Run: `cargo bench -p qafila-store --bench commit_floor`

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::Connection;

fn floor(c: &mut Criterion) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/qafila-bench/floor");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let conn = Connection::open(dir.join("floor.db")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("full");
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        .expect("table");
    let body = vec![7u8; 120];
    c.bench_function("sqlite_commit_wal_full", |b| {
        b.iter(|| {
            conn.execute("INSERT INTO t (body) VALUES (?1)", [&body])
                .expect("insert");
        })
    });
}

criterion_group! {
    name = commit;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = floor
}
criterion_main!(commit);
