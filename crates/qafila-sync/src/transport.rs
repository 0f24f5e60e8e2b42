//! What a sync needs from a relay, as a trait: the HTTP client
//! ([`crate::client::RelayClient`]) implements it for real relays, and
//! `qafila-testkit`'s in-memory relay implements it for tests, including
//! relays that turn hostile. Every driver in [`crate::convoy`] is written
//! against this trait only, and trusts nothing it answers without checking
//! it against the convoy lead's key.

use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Fetch, Outcomes, Upload};
use qafila_proto::control::{
    Approve, CertificateOutcomes, Certificates, CreateScope, Enroll, Enrolled, Invite, Member,
    Revoke, WrappedKey,
};
use qafila_proto::record::Record;

use crate::SyncError;

/// Where downloaded records go, in batches as they arrive.
pub type Sink<'a> = &'a mut (dyn FnMut(Vec<Record>) -> Result<(), SyncError> + Send);

/// One relay, as one device sees it (the implementation signs for that
/// device). The drivers run each call on one thread (`block_on`), so the
/// futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Relay {
    /// The relay's address, as shown to people and stored with a convoy.
    fn address(&self) -> &str;

    /// How far the relay's clock is ahead of this device's (ms), once a
    /// request has asked it; `None` when not known.
    fn clock_offset(&self) -> Option<i64> {
        None
    }

    /// Registers (or extends) a scope with this device as its lead.
    async fn create_scope(&self, request: &CreateScope) -> Result<(), SyncError>;

    /// Stores an enrollment code's lookup hash.
    async fn invite(&self, scope: Uid, invite: &Invite) -> Result<(), SyncError>;

    /// Joins a scope with a code.
    async fn enroll(&self, request: &Enroll) -> Result<Enrolled, SyncError>;

    /// The scope's members, as the relay lists them.
    async fn members(&self, scope: Uid) -> Result<Vec<Member>, SyncError>;

    /// The lead approves a device (or changes its role).
    async fn approve(&self, scope: Uid, device: Uid, request: &Approve) -> Result<(), SyncError>;

    /// The lead revokes a device and grants the next key generation.
    async fn revoke(&self, scope: Uid, device: Uid, request: &Revoke) -> Result<(), SyncError>;

    /// Passes lead-signed certificates on to the relay.
    async fn certificates(
        &self,
        scope: Uid,
        request: &Certificates,
    ) -> Result<CertificateOutcomes, SyncError>;

    /// The key generations granted to this device.
    async fn keys(&self, scope: Uid) -> Result<Vec<WrappedKey>, SyncError>;

    /// Per device, the last seq the relay holds.
    async fn heads(&self, scope: Uid) -> Result<Cursors, SyncError>;

    /// Uploads records; one outcome per record.
    async fn upload(&self, scope: Uid, upload: &Upload) -> Result<Outcomes, SyncError>;

    /// Downloads records after `fetch`'s cursors into `sink`; whether more
    /// remain.
    async fn fetch(&self, scope: Uid, fetch: &Fetch, sink: Sink<'_>) -> Result<bool, SyncError>;
}
