//! Sync in the background: a thread that syncs every convoy this device
//! belongs to, every `interval` and whenever triggered (a volunteer taps
//! "sync now", or the shell sees the network come back). While the relay
//! is unreachable it retries with backoff (5 s, 10 s, ... up to 5 min), so
//! records leave as soon as connectivity returns.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::convoy::SyncDto;
use crate::{App, AppError};

/// The longest wait between attempts while the relay is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

enum Signal {
    Now,
    Stop,
}

/// The last outcome, per convoy.
pub type LastSync = Arc<Mutex<Vec<Result<SyncDto, AppError>>>>;

/// A running background sync; stops when dropped.
#[derive(Debug)]
pub struct BackgroundSync {
    signal: Sender<Signal>,
    thread: Option<JoinHandle<()>>,
    last: LastSync,
}

impl BackgroundSync {
    /// Starts syncing `app`'s convoys every `interval`; `on_result` hears
    /// every attempt (for a status line or a log).
    pub fn start(
        app: Arc<App>,
        interval: Duration,
        on_result: impl Fn(&Result<SyncDto, AppError>) + Send + 'static,
    ) -> Result<BackgroundSync, AppError> {
        Self::start_with(interval, move || sync_all(&app), on_result)
    }

    /// Like [`BackgroundSync::start`], with the sync itself supplied: one
    /// result per convoy. The app's session passes its own, which keeps the
    /// sync chip's state and never runs two syncs at once.
    pub fn start_with(
        interval: Duration,
        sync: impl Fn() -> Vec<Result<SyncDto, AppError>> + Send + 'static,
        on_result: impl Fn(&Result<SyncDto, AppError>) + Send + 'static,
    ) -> Result<BackgroundSync, AppError> {
        let (signal, signals) = mpsc::channel();
        let last: LastSync = Arc::new(Mutex::new(Vec::new()));
        let shared = last.clone();
        let thread = std::thread::Builder::new()
            .name("qafila-sync".into())
            .spawn(move || {
                let mut wait = Duration::ZERO;
                loop {
                    match signals.recv_timeout(wait) {
                        Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                        Ok(Signal::Now) | Err(RecvTimeoutError::Timeout) => {}
                    }
                    let results = sync();
                    let unreachable = results
                        .iter()
                        .any(|r| r.as_ref().is_err_and(|e| e.retryable));
                    for result in &results {
                        on_result(result);
                    }
                    wait = if unreachable {
                        (wait * 2).clamp(Duration::from_secs(5).min(interval), MAX_BACKOFF)
                    } else {
                        interval
                    };
                    *shared.lock().unwrap_or_else(|p| p.into_inner()) = results;
                }
            })
            .map_err(|e| {
                AppError::new(
                    "sync_thread",
                    format!("could not start background sync: {e}"),
                    "تعذر بدء المزامنة في الخلفية",
                )
            })?;
        Ok(BackgroundSync {
            signal,
            thread: Some(thread),
            last,
        })
    }

    /// Syncs as soon as possible.
    pub fn trigger(&self) {
        let _ = self.signal.send(Signal::Now);
    }

    /// What the last attempt did, per convoy.
    pub fn last(&self) -> Vec<Result<SyncDto, AppError>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        let _ = self.signal.send(Signal::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Syncs every convoy `app` belongs to (except those it was revoked from),
/// once each, without retrying.
pub fn sync_all(app: &App) -> Vec<Result<SyncDto, AppError>> {
    match app.convoys() {
        Ok(convoys) => convoys
            .iter()
            .filter(|c| c.status != "revoked")
            .map(|c| app.sync(Some(&c.id), None, 1))
            .collect(),
        Err(e) => vec![Err(e)],
    }
}
