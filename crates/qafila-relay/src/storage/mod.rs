//! Where the relay keeps scopes, members, keys and records: one trait, two
//! backends. SQLite ([`sqlite::SqliteStorage`]) is the embedded default for
//! one machine (a site relay on the lead's laptop); PostgreSQL
//! ([`postgres::PgStorage`]) lets several relay processes share one database.
//!
//! Both keep the same tables:
//!
//! | Table | Row |
//! |---|---|
//! | `scopes` | a scope and its lead |
//! | `members` | a device in a scope: public keys, role, status, certificate |
//! | `invites` | a one-time code's hash, expiry and uses left |
//! | `wrapped_keys` | a scope key generation wrapped to one device |
//! | `logs` | per (scope, device): the last seq accepted |
//! | `records` | per (scope, device, seq): the record's digest, and its bytes while live |
//!
//! A registry record superseded by a newer version of its key keeps its
//! row and digest (so a retried upload is still recognised) but loses its
//! bytes: that is how erasure reaches the relay.

pub mod postgres;
pub mod sqlite;

use std::future::Future;

use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Outcome};
use qafila_proto::control::{
    CreateScope, DeviceKey, DeviceKeys, Enrolled, Invite, Member, WrappedKey,
};
use qafila_proto::record::Record;

/// A device's role in a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Approves and revokes devices; may forward others' records.
    Lead,
    /// Writes its own log, reads everyone's.
    Member,
}

/// Where a device stands in a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Enrolled with a code, waiting for the lead.
    Pending,
    /// May sync.
    Approved,
    /// Refused from now on.
    Revoked,
}

impl Role {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Lead => "lead",
            Role::Member => "member",
        }
    }
    /// From storage.
    pub fn parse(text: &str) -> Role {
        if text == "lead" {
            Role::Lead
        } else {
            Role::Member
        }
    }
}

impl Status {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Revoked => "revoked",
        }
    }
    /// From storage; anything unknown counts as revoked (fail closed).
    pub fn parse(text: &str) -> Status {
        match text {
            "pending" => Status::Pending,
            "approved" => Status::Approved,
            _ => Status::Revoked,
        }
    }
}

/// One member, as the relay uses it to authenticate and authorise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// Public keys and name.
    pub keys: DeviceKeys,
    /// Lead or member.
    pub role: Role,
    /// Pending, approved or revoked.
    pub status: Status,
    /// The lead's signed statement, opaque to the relay.
    pub certificate: Vec<u8>,
}

impl MemberRow {
    /// The wire form.
    pub fn to_member(&self) -> Member {
        Member {
            keys: self.keys.clone(),
            role: self.role.as_str().into(),
            status: self.status.as_str().into(),
            certificate: qafila_proto::control::B64(self.certificate.clone()),
            last_seen_ms: None,
        }
    }
}

/// Why storage refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No such scope, member or code.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Already exists differently.
    #[error("{0}")]
    Conflict(&'static str),
    /// An enrollment code that was used up or expired.
    #[error("the enrollment code has expired or was already used")]
    CodeSpent,
    /// The database failed.
    #[error("storage failed: {0}")]
    Backend(String),
}

/// A page of a download: encoded records and whether more remain.
#[derive(Debug, Default)]
pub struct Page {
    /// Each a whole encoded record.
    pub records: Vec<Vec<u8>>,
    /// The cursors after this page.
    pub cursors: Cursors,
    /// Whether the page stopped at the size limit.
    pub more: bool,
}

/// What every backend provides. Methods are async; backends that block
/// (SQLite) run their work on tokio's blocking pool.
pub trait Storage: Send + Sync + 'static {
    /// Whether the database answers (for `/readyz`).
    fn ready(&self) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Registers a scope with its lead, or (same lead) adds the listed
    /// members and keys to it. Another lead for an existing scope is a
    /// conflict.
    fn create_scope(
        &self,
        request: CreateScope,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// One member of a scope.
    fn member(
        &self,
        scope: Uid,
        device: Uid,
    ) -> impl Future<Output = Result<Option<MemberRow>, StorageError>> + Send;

    /// Every member of a scope.
    fn members(&self, scope: Uid)
    -> impl Future<Output = Result<Vec<Member>, StorageError>> + Send;

    /// Stores an enrollment code's hash.
    fn add_invite(
        &self,
        scope: Uid,
        invite: Invite,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Spends one use of a code and adds the device as pending. Enrolling
    /// the same device again with the same keys is harmless.
    fn enroll(
        &self,
        code_hash: String,
        device: DeviceKeys,
        now_ms: u64,
    ) -> impl Future<Output = Result<Enrolled, StorageError>> + Send;

    /// Sets a member's status and certificate, and stores wrapped keys
    /// (for that device on approval, for the others on rotation).
    fn set_status(
        &self,
        scope: Uid,
        device: Uid,
        status: Status,
        certificate: Vec<u8>,
        keys: Vec<DeviceKey>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The key generations wrapped to a device.
    fn keys(
        &self,
        scope: Uid,
        device: Uid,
    ) -> impl Future<Output = Result<Vec<WrappedKey>, StorageError>> + Send;

    /// Stores records (already authorised) and says what became of each.
    fn put_records(
        &self,
        scope: Uid,
        records: Vec<Record>,
    ) -> impl Future<Output = Result<Vec<Outcome>, StorageError>> + Send;

    /// Live records after the cursors, up to about `max_bytes`.
    fn fetch(
        &self,
        scope: Uid,
        cursors: Cursors,
        max_bytes: usize,
    ) -> impl Future<Output = Result<Page, StorageError>> + Send;

    /// Per device, the last seq accepted.
    fn heads(&self, scope: Uid) -> impl Future<Output = Result<Cursors, StorageError>> + Send;
}

/// The SHA-256 digest of a record's bytes: how a retry is told from a
/// conflicting record at the same seq.
pub fn digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// The keyed part of a record: (key, version), for compaction.
pub fn keyed(record: &Record) -> Option<([u8; 32], u64)> {
    match record.header.kind {
        qafila_proto::record::RecordKind::Log => None,
        qafila_proto::record::RecordKind::Keyed { key, version } => Some((key, version)),
    }
}
