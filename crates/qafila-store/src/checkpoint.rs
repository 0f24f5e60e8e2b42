//! WAL checkpoints off the write path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the
//! threshold, so one hand-out in a thousand would pay for copying the WAL
//! into the database and flushing it: the p99 a volunteer feels. The writer
//! connection turns automatic checkpoints off, and this thread runs a
//! PASSIVE checkpoint (which never blocks the writer or readers) on its own
//! connection every second.
//!
//! After a commit that erased someone's personal data, the next checkpoint
//! is a TRUNCATE: the WAL keeps the pages as they were before the erasure
//! until it is cut, and SQLite's `secure_delete` only covers the database.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::OpenFlags;

use crate::error::StoreError;
use crate::key::StoreKey;

/// How often the WAL is folded back into the database.
const INTERVAL: Duration = Duration::from_secs(1);

/// The checkpoint thread; stops (after a last checkpoint) when dropped.
#[derive(Debug)]
pub struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`.
    pub fn start(path: &Path, key: &StoreKey, wipe: Arc<AtomicBool>) -> Result<Self, StoreError> {
        let conn = crate::connect(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            key,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("qafila-store-checkpoint".into())
            .spawn(move || {
                loop {
                    let done = !matches!(
                        stopped.recv_timeout(INTERVAL),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    );
                    // A failed checkpoint is retried on the next tick; the WAL
                    // stays valid in the meantime, only larger.
                    if wipe.load(Ordering::SeqCst) {
                        // After an erasure: every frame copied back and the
                        // file cut to nothing, so no old page survives in it.
                        // Busy (a reader on an older snapshot): next tick.
                        let busy = conn
                            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                                r.get::<_, i64>(0)
                            })
                            .unwrap_or(1);
                        if busy == 0 {
                            wipe.store(false, Ordering::SeqCst);
                        }
                    } else {
                        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    }
                    if done {
                        break;
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
