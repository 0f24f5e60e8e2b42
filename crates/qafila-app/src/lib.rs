//! Qafila's application façade: the API every shell (the Tauri app, the CLI)
//! calls, and the only crate that knows UI-facing JSON shapes ([`dto`]).
//!
//! [`App`] wraps one device's [`qafila_store::Store`] and turns requests in
//! field terms ("hand this family a food box at this site") into validated
//! events, checking entitlements and stock rules first. Errors are
//! [`AppError`]s with a stable code and Arabic and English messages. The
//! clock is read here (never in the domain) and can be replaced in tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod background;
pub mod cards;
pub mod convoy;
pub mod dayend;
pub mod distribution;
pub mod dto;
pub mod duplicates;
pub mod error;
pub mod export;
pub mod import;
pub mod keys;
pub mod lock;
pub mod print;
pub mod registry;
pub mod registry_import;
pub mod report;
pub mod rpc;
pub mod scan_image;
pub mod stock;
pub mod time;

use std::path::Path;
use std::sync::Arc;

use qafila_domain::ids::VolunteerId;
use qafila_store::Store;

pub use error::AppError;
pub use qafila_store::key::{
    DEFAULT_LOCK_AFTER_MINUTES, MIN_PASSPHRASE_CHARS, change_passphrase, lock_after_minutes,
    set_lock_after_minutes,
};
pub use qafila_store::{Passphrase, Protection, protection};

/// Reads the device's own clock: milliseconds since the Unix epoch. Dates
/// never come from the device's zone: see [`time`].
pub type ClockFn = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> ClockFn {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    })
}

/// One device's application.
pub struct App {
    store: Store,
    volunteer: VolunteerId,
    clock: ClockFn,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Creates a device store in `dir`, encrypted, its key sealed with
    /// `passphrase`.
    pub fn init(
        dir: &Path,
        device_name: &str,
        passphrase: &Passphrase,
        clock: ClockFn,
    ) -> Result<App, AppError> {
        if device_name.trim().is_empty() {
            return Err(AppError::new(
                "device_name_required",
                "give this device a name people recognise, e.g. --device-name \"Mona's phone\"",
                "اكتب اسم للجهاز يعرفه الناس، مثلاً: موبايل منى",
            ));
        }
        let store = Store::create(dir, device_name, passphrase, clock())?;
        Ok(Self::with_store(store, clock))
    }

    /// Opens the device store in `dir` with its passphrase (a store from
    /// before encryption is encrypted under it first).
    pub fn open(dir: &Path, passphrase: &Passphrase, clock: ClockFn) -> Result<App, AppError> {
        let now = clock();
        Ok(Self::with_store(Store::open(dir, passphrase, now)?, clock))
    }

    fn with_store(store: Store, clock: ClockFn) -> App {
        // Until volunteers sign in (the app issue), records are attributed
        // to the device's own volunteer identity.
        let volunteer = VolunteerId::from_bytes(store.device().id.to_bytes());
        App {
            store,
            volunteer,
            clock,
        }
    }

    /// This device.
    pub fn device(&self) -> dto::DeviceDto {
        dto::DeviceDto {
            id: self.store.device().id.to_string(),
            name: self.store.device().name.clone(),
            store: self.store.path().display().to_string(),
            fingerprint: qafila_sync::convoy::own_fingerprint(&self.store).unwrap_or_default(),
        }
    }

    /// The underlying store (for benchmarks and tests).
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Parses an id argument, with a message naming what was expected.
pub(crate) fn parse_id<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, AppError> {
    text.trim().parse().map_err(|_| {
        AppError::new(
            "invalid_id",
            format!(
                "`{text}` is not a valid {what} id; copy it from the output of an earlier command"
            ),
            format!("«{text}» مش رقم {what} صحيح؛ انسخه من نتيجة أمر سابق"),
        )
    })
}
