//! The store's errors, each with a stable code.

use std::path::PathBuf;

use qafila_domain::event::InvalidEvent;
use qafila_domain::ids::BeneficiaryId;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No store in the data directory.
    #[error("no Qafila store in {0}: create one with `qafila init --device-name NAME`")]
    NotInitialised(PathBuf),
    /// `init` on a directory that already holds a store.
    #[error("{0} already holds a Qafila store; nothing was changed")]
    AlreadyInitialised(PathBuf),
    /// The file is not a SQLite database or is damaged.
    #[error(
        "the store {path} is damaged or is not a Qafila store ({detail}); \
         keep the file for recovery and restore the latest backup or sync a fresh device"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// A store written by a newer Qafila.
    #[error(
        "this store was written by a newer Qafila (schema {found}, this build knows {known}); \
         update Qafila to open it — nothing was changed"
    )]
    NewerSchema {
        /// The store's schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// An applied migration differs from the one this build ships.
    #[error(
        "migration {version} of this store does not match this build's; the store was not opened"
    )]
    MigrationMismatch {
        /// The migration.
        version: i64,
    },
    /// Another process holds the store.
    #[error("the store is busy in another Qafila process; close it and try again")]
    Busy,
    /// The event breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidEvent),
    /// This device's role in its convoys does not allow the event.
    #[error("{0}: ask the convoy lead to change this device's role")]
    Forbidden(#[from] qafila_domain::role::Forbidden),
    /// A national ID that is already registered.
    #[error("this national ID is already registered to {name} ({existing})")]
    DuplicateNationalId {
        /// Who has it.
        existing: BeneficiaryId,
        /// Their name (or a placeholder when erased).
        name: String,
    },
    /// A beneficiary that is not in the registry.
    #[error("no beneficiary {0} in this store")]
    UnknownBeneficiary(String),
    /// The document layer failed.
    #[error(transparent)]
    Doc(#[from] qafila_doc::device_day::DocError),
    /// A stored event that no longer decodes.
    #[error("a stored event is damaged: {0}")]
    Decode(#[from] qafila_doc::codec::DecodeError),
    /// The writer thread has stopped.
    #[error("the store's writer stopped; restart Qafila")]
    WriterGone,
    /// An issuing key has numbered all the cards it can.
    #[error(
        "this issuing key has used all its card numbers; create a new key with `qafila cards issuer`"
    )]
    CardSerialsExhausted,
    /// The OS random source failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
    /// Sealing or unsealing personal data failed.
    #[error("personal data could not be sealed or opened")]
    Seal,
    /// Filesystem trouble.
    #[error("cannot use the data directory: {0}")]
    Io(#[from] std::io::Error),
    /// The passphrase does not open the store's key.
    #[error(
        "wrong passphrase for this device's data{}",
        wrong_passphrase_hint(*attempts_left, *retry_in_s)
    )]
    WrongPassphrase {
        /// Guesses left before each further one has to wait.
        attempts_left: u32,
        /// Seconds before the next guess is accepted (0: now).
        retry_in_s: u64,
    },
    /// Too many wrong passphrases: the next guess must wait.
    #[error("too many wrong passphrases: wait {retry_in_s} s and try again")]
    TooManyAttempts {
        /// Seconds left to wait.
        retry_in_s: u64,
    },
    /// A passphrase too short to protect a copied folder.
    #[error(
        "choose a passphrase of at least {min_chars} characters (a few words are easiest to remember)"
    )]
    WeakPassphrase {
        /// The shortest accepted.
        min_chars: usize,
    },
    /// A store needs a passphrase and none was given.
    #[error(
        "this device's data is protected by a passphrase: set QAFILA_PASSPHRASE or run the command in a terminal to type it"
    )]
    PassphraseRequired,
    /// `qafila.key` is missing, unreadable or altered.
    #[error(
        "the key file {path} is damaged ({detail}); restore it from this device's backup — without it the data cannot be opened"
    )]
    KeyFileDamaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A key backup file that is not one, or is damaged.
    #[error("this is not a Qafila key backup this build can read: {0}")]
    BackupDamaged(String),
    /// The backup passphrase does not open the file (or the file was
    /// altered).
    #[error("wrong backup passphrase, or the backup file was altered; nothing was restored")]
    WrongBackupPassphrase,
    /// A restored lead records nothing before its log is back.
    #[error(
        "this laptop was restored from a key backup and has not yet taken back the lead's records: \
         sync with the convoy's relay first (`qafila sync`)"
    )]
    RestorePending,
    /// Any other SQLite error.
    #[error("storage error: {0}")]
    Sqlite(rusqlite::Error),
}

impl StoreError {
    /// Stable code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotInitialised(_) => "store_not_initialised",
            StoreError::AlreadyInitialised(_) => "store_already_initialised",
            StoreError::Corrupt { .. } => "store_corrupt",
            StoreError::NewerSchema { .. } => "store_newer_schema",
            StoreError::MigrationMismatch { .. } => "store_migration_mismatch",
            StoreError::Busy => "store_busy",
            StoreError::Invalid(e) => e.code(),
            StoreError::Forbidden(e) => e.code(),
            StoreError::DuplicateNationalId { .. } => "duplicate_national_id",
            StoreError::UnknownBeneficiary(_) => "unknown_beneficiary",
            StoreError::Doc(e) => e.code(),
            StoreError::Decode(_) => "store_event_damaged",
            StoreError::WriterGone => "store_writer_stopped",
            StoreError::CardSerialsExhausted => "card_serials_exhausted",
            StoreError::Random(_) => "random_unavailable",
            StoreError::Seal => "seal_failed",
            StoreError::Io(_) => "io",
            StoreError::WrongPassphrase { .. } => "wrong_passphrase",
            StoreError::TooManyAttempts { .. } => "too_many_attempts",
            StoreError::WeakPassphrase { .. } => "weak_passphrase",
            StoreError::PassphraseRequired => "passphrase_required",
            StoreError::KeyFileDamaged { .. } => "key_file_damaged",
            StoreError::BackupDamaged(_) => "backup_damaged",
            StoreError::WrongBackupPassphrase => "wrong_backup_passphrase",
            StoreError::RestorePending => "restore_pending",
            StoreError::Sqlite(_) => "storage",
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Busy | StoreError::TooManyAttempts { .. })
    }

    /// Classifies a SQLite error against the file it came from.
    pub(crate) fn from_sqlite(path: &std::path::Path, e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path: path.to_owned(),
                detail: e.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sqlite(e),
        }
    }
}

fn wrong_passphrase_hint(attempts_left: u32, retry_in_s: u64) -> String {
    match (attempts_left, retry_in_s) {
        (_, 0) => format!(" ({attempts_left} tries left before a wait)"),
        (_, wait) => format!("; wait {wait} s before the next try"),
    }
}
