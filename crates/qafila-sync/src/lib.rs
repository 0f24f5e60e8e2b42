//! Qafila's sync client.
//!
//! - [`crypto`]: device identity, sealing, key wrapping, certificates;
//! - [`payload`]: what a record holds once opened (signed, compressed);
//! - [`client`]: the relay's HTTP API;
//! - [`session`]: the pure decisions of a sync — which outbox records go in
//!   which upload, what an upload's outcomes mean, which received records
//!   are authentic — with no IO, so they are tested without a network;
//! - [`convoy`]: creating a convoy, codes, enrollment, approval,
//!   revocation with key rotation, publishing to another relay, and
//!   [`convoy::sync`] itself (with [`convoy::sync_with_retry`] for backoff).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod client;
pub mod convoy;
pub mod crypto;
pub mod payload;
pub mod session;

use qafila_proto::ApiError;
use qafila_store::StoreError;

/// The error codes a relay answers with (see `qafila-relay`).
pub const RELAY_CODES: &[&str] = &[
    "not_found",
    "conflict",
    "code_spent",
    "storage_unavailable",
    "malformed",
    "too_large",
    "unauthenticated",
    "rate_limited",
    "unknown_device",
    "device_revoked",
    "pending_approval",
    "not_lead",
    "unknown_code",
    "no_route",
    "wrong_method",
    "create_token_required",
];

/// Why a sync step failed, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The relay could not be reached, or the connection broke.
    #[error(
        "the relay at {relay} cannot be reached ({detail}); nothing was lost: sync again when there is a connection"
    )]
    Unreachable {
        /// Its address.
        relay: String,
        /// What failed.
        detail: String,
    },
    /// The relay refused.
    #[error("the relay refused: {} ({})", error.message, error.code)]
    Relay {
        /// HTTP status.
        status: u16,
        /// Its explanation.
        error: ApiError,
    },
    /// Not a usable relay address.
    #[error("`{0}` is not a relay address: use http://host:port or https://host")]
    BadRelayUrl(String),
    /// Not a well-formed enrollment code.
    #[error("`{0}` is not an enrollment code: it looks like ABCDE-FGHIJ-KLMNOP")]
    BadCode(String),
    /// The relay answered with a lead whose key does not match the code.
    #[error(
        "the relay's convoy lead does not match this code: do not use this relay, tell the convoy lead"
    )]
    LeadMismatch,
    /// No such convoy on this device.
    #[error(
        "this device is not in a convoy{0}: create one (`qafila convoy create`) or enroll (`qafila enroll`)"
    )]
    NoConvoy(String),
    /// Only the lead may do this.
    #[error("only the convoy lead's device can do this")]
    NotLead,
    /// No such device in the convoy.
    #[error("no device matching `{0}` in this convoy: see `qafila convoy devices`")]
    UnknownDevice(String),
    /// The relay broke the protocol.
    #[error("the relay answered something unexpected: {0}")]
    Protocol(String),
    /// A cryptographic check failed.
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Unreachable { .. } => "relay_unreachable",
            SyncError::Relay { error, .. } => RELAY_CODES
                .iter()
                .find(|c| **c == error.code)
                .copied()
                .unwrap_or("relay_refused"),
            SyncError::BadRelayUrl(_) => "bad_relay_url",
            SyncError::BadCode(_) => "bad_code",
            SyncError::LeadMismatch => "lead_mismatch",
            SyncError::NoConvoy(_) => "no_convoy",
            SyncError::NotLead => "not_lead",
            SyncError::UnknownDevice(_) => "unknown_device",
            SyncError::Protocol(_) => "sync_protocol",
            SyncError::Crypto(_) => "sync_crypto",
            SyncError::Store(e) => e.code(),
        }
    }

    /// The message in Arabic.
    pub fn message_ar(&self) -> String {
        match self {
            SyncError::Unreachable { .. } => {
                "لا يمكن الوصول إلى الخادم؛ لم يضِع شيء: زامن مرة أخرى عند توفر الاتصال".into()
            }
            SyncError::Relay { error, .. } => error.message_ar.clone(),
            SyncError::BadRelayUrl(_) => "عنوان الخادم غير صحيح: استخدم http://host:port".into(),
            SyncError::BadCode(_) => "كود التسجيل غير صحيح".into(),
            SyncError::LeadMismatch => {
                "قائد القافلة على الخادم لا يطابق الكود: لا تستخدم هذا الخادم وأبلغ القائد".into()
            }
            SyncError::NoConvoy(_) => "هذا الجهاز ليس في قافلة: أنشئ قافلة أو سجّل بكود".into(),
            SyncError::NotLead => "هذا الإجراء لجهاز قائد القافلة فقط".into(),
            SyncError::UnknownDevice(_) => "لا يوجد جهاز بهذا الاسم في القافلة".into(),
            SyncError::Protocol(_) => "رد غير متوقع من الخادم".into(),
            SyncError::Crypto(_) => "فشل التحقق من التشفير".into(),
            SyncError::Store(_) => "خطأ في قاعدة بيانات الجهاز".into(),
        }
    }

    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            SyncError::Unreachable { .. } => true,
            SyncError::Relay { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
