//! Where the relay keeps scopes, members, keys and records: one trait, two
//! backends. SQLite ([`sqlite::SqliteStorage`]) is the embedded default for
//! one machine (a site relay on the lead's laptop); PostgreSQL
//! ([`postgres::PgStorage`]) lets several relay processes share one database.
//!
//! Both keep the same tables:
//!
//! | Table | Row |
//! |---|---|
//! | `relay` | this relay's random id (requests are signed for it) |
//! | `scopes` | a scope and its lead |
//! | `members` | a device in a scope: public keys, role, status, the lead's certificate and its version, the invite it enrolled with and its key binding |
//! | `invites` | a one-time code's lookup hash, expiry and uses left |
//! | `wrapped_keys` | a scope key generation granted to one device (with the lead's signature and the revocations it carries) |
//! | `logs` | per (scope, device): the last seq accepted |
//! | `records` | per (scope, device, seq): the record's digest, and its bytes while live |
//! | `nonces` | control requests' nonces until their time window ends |
//!
//! A registry record superseded by a newer version of its key from the same
//! device (or from the scope's lead) keeps its row and digest (so a retried
//! upload is still recognised) but loses its bytes: that is how erasure
//! reaches the relay. Each backend then makes sure no file of its database
//! keeps them (SQLite cuts its WAL, PostgreSQL vacuums): see its module.
//!
//! Databases made by earlier builds are upgraded when opened (SQLite's
//! `user_version`; PostgreSQL's `relay_schema` table): see each backend's
//! `MIGRATIONS`.

pub mod postgres;
pub mod sqlite;

use std::future::Future;

use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Outcome};
use qafila_proto::control::{B64, DeviceKey, DeviceKeys, Enrolled, Invite, Member, WrappedKey};
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
    /// What to show as its role: `lead`, the certificate's role, or
    /// `member` while pending.
    pub role_name: String,
    /// Pending, approved or revoked.
    pub status: Status,
    /// The lead's signed statement (checked before it was stored).
    pub certificate: Vec<u8>,
    /// The certificate's version (0: none, or one from before versions).
    pub version: u32,
    /// The invite it enrolled with (lookup hash).
    pub invite: Option<String>,
    /// The key binding it sent at enrollment.
    pub binding: Vec<u8>,
}

impl MemberRow {
    /// The wire form.
    pub fn to_member(&self) -> Member {
        Member {
            keys: self.keys.clone(),
            role: self.role_name.clone(),
            status: self.status.as_str().into(),
            certificate: B64(self.certificate.clone()),
            version: self.version,
            invite: self.invite.clone(),
            binding: B64(self.binding.clone()),
            last_seen_ms: None,
            made_after_ms: None,
            uploaded_ms: None,
        }
    }
}

/// A certificate the relay has checked against its scope's lead key, as it
/// stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRow {
    /// The device's keys and the certified name.
    pub keys: DeviceKeys,
    /// The role's name.
    pub role: String,
    /// Approved or revoked.
    pub status: Status,
    /// Its version.
    pub version: u32,
    /// The signed bytes.
    pub bytes: Vec<u8>,
}

/// What storing a certificate did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertOutcome {
    /// It replaced what the relay held (or added the member).
    Applied,
    /// The relay already held it (a retry).
    Unchanged,
    /// The device is revoked, and a revocation is final.
    RevokedFinal,
    /// The relay holds a newer certificate for the device.
    Older,
    /// The relay knows the device with other keys.
    WrongKeys,
}

impl CertOutcome {
    /// The decision, given what the relay holds for the device (`None`: an
    /// unknown device). Both backends call this inside their transaction.
    pub fn decide(existing: Option<&MemberRow>, new: &CertificateRow) -> CertOutcome {
        let Some(existing) = existing else {
            return CertOutcome::Applied;
        };
        if existing.keys.signing != new.keys.signing
            || existing.keys.encryption != new.keys.encryption
        {
            return CertOutcome::WrongKeys;
        }
        if existing.certificate == new.bytes {
            return CertOutcome::Unchanged;
        }
        match (existing.status, new.status) {
            (Status::Revoked, _) => CertOutcome::RevokedFinal,
            (Status::Pending, _) | (Status::Approved, Status::Revoked) => CertOutcome::Applied,
            (Status::Approved, _) if new.version > existing.version => CertOutcome::Applied,
            _ => CertOutcome::Older,
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

    /// This relay's id (made with the database, the same for every process
    /// sharing it).
    fn relay_id(&self) -> Uid;

    /// Remembers a control request's nonce until `expires_ms`; `false` when
    /// it was already there (a replay).
    fn use_nonce(
        &self,
        nonce: [u8; 16],
        now_ms: u64,
        expires_ms: u64,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Registers a scope with its lead, or (same lead) adds key grants to
    /// it. Another lead for an existing scope is a conflict.
    fn create_scope(
        &self,
        scope: Uid,
        lead: DeviceKeys,
        keys: Vec<DeviceKey>,
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

    /// Stores an enrollment code's hash (a code already stored is a
    /// conflict: a replayed invite cannot renew its uses).
    fn add_invite(
        &self,
        scope: Uid,
        invite: Invite,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Spends one use of a code and adds the device as pending, with the
    /// invite and its key binding. Enrolling the same device again with the
    /// same keys is harmless.
    fn enroll(
        &self,
        code_hash: String,
        device: DeviceKeys,
        binding: Vec<u8>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Enrolled, StorageError>> + Send;

    /// Stores a certificate checked against the lead's key under the rules
    /// of [`CertOutcome::decide`] (adding the member when new), and, when
    /// it applies or is a retry, the key grants that come with it.
    fn put_certificate(
        &self,
        scope: Uid,
        certificate: CertificateRow,
        keys: Vec<DeviceKey>,
    ) -> impl Future<Output = Result<CertOutcome, StorageError>> + Send;

    /// The key generations wrapped to a device.
    fn keys(
        &self,
        scope: Uid,
        device: Uid,
    ) -> impl Future<Output = Result<Vec<WrappedKey>, StorageError>> + Send;

    /// Stores records (already authorised) and says what became of each. A
    /// keyed record supersedes only the same device's earlier versions of
    /// its key, except an erasure ([`ERASED`]) by one of `authority` (the
    /// lead and registrars), which supersedes every device's.
    fn put_records(
        &self,
        scope: Uid,
        authority: Vec<Uid>,
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

    /// Bytes of live records `scope` stores (what its quota counts).
    fn scope_bytes(&self, scope: Uid) -> impl Future<Output = Result<u64, StorageError>> + Send;
}

/// The version of a registry record that erases its entry.
pub const ERASED: u64 = u64::MAX;

/// What a new keyed record of `device` at `version` does to the live
/// records of its key (`current`: device, seq, version): whether it is
/// itself live, and which of them lose their bytes. An entry is replaced
/// only by a newer version from its own device, or by an erasure from one
/// of `authority`; and a record is dead on arrival when its own device, or
/// an erasure by `authority`, already holds a version at least as new.
pub fn supersede<D: AsRef<[u8]> + Clone>(
    device: &[u8],
    version: u64,
    authority: &[Uid],
    current: &[(D, i64, i64)],
) -> (bool, Vec<(D, i64)>) {
    let is_authority = |d: &[u8]| authority.iter().any(|a| a.0 == d);
    let as_version = |v: i64| u64::try_from(v).unwrap_or(0);
    // Databases store versions as signed 64-bit integers, so an erasure is
    // kept as i64::MAX: anything from there up is one.
    let erasure = |v: u64| v >= i64::MAX.unsigned_abs();
    let live = !current.iter().any(|(d, _, v)| {
        let v = as_version(*v);
        v >= version.min(i64::MAX.unsigned_abs())
            && (d.as_ref() == device || (erasure(v) && is_authority(d.as_ref())))
    });
    if !live {
        return (false, Vec::new());
    }
    let erasing = erasure(version) && is_authority(device);
    let cleared = current
        .iter()
        .filter(|(d, _, v)| {
            as_version(*v) < version.min(i64::MAX.unsigned_abs())
                && (d.as_ref() == device || erasing)
        })
        .map(|(d, seq, _)| (d.clone(), *seq))
        .collect();
    (true, cleared)
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

/// A new relay id.
pub fn new_relay_id() -> Result<Uid, StorageError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| StorageError::Backend(e.to_string()))?;
    Ok(Uid(id))
}
