//! Qafila's sync client.
//!
//! - [`crypto`]: device identity, sealing, key wrapping;
//! - [`enrollment`]: codes, invite lookups, key bindings, fingerprints;
//! - [`trust`]: certificates and key grants, taken only under the lead's
//!   signature;
//! - [`payload`]: what a record holds once opened (signed, compressed,
//!   chained);
//! - [`address`]: relay addresses (`#sha256=` pins for a site relay's own
//!   certificate; plain HTTP to loopback only);
//! - [`transport`]: the [`transport::Relay`] trait every driver uses;
//! - [`client`]: the relay's HTTP API, implementing it;
//! - [`session`]: the pure decisions of a sync — which outbox records go in
//!   which upload, what an upload's outcomes mean, which received records
//!   are authentic and in order — with no IO, so they are tested without a
//!   network;
//! - [`convoy`]: creating a convoy, codes, enrollment, approval with roles,
//!   revocation with key rotation, publishing to another relay,
//!   forwarding, and [`convoy::sync`] itself as its four steps (with
//!   [`convoy::sync_with_retry`] for backoff).
//!
//! What is trusted, and why, is `SECURITY.md`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod address;
pub mod client;
pub mod convoy;
pub mod crypto;
pub mod enrollment;
pub mod payload;
pub mod session;
pub mod transport;
pub mod trust;

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
    "clock_skew",
    "replayed",
    "client_outdated",
    "revoked_final",
    "certificate_older",
    "wrong_keys",
    "bad_certificate",
    "quota_exceeded",
    "request_timeout",
    "relay_busy",
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
    #[error(
        "`{0}` is not a relay address: use https://host (or https://host:port#sha256=… for a site relay, as the convoy lead's invite gives it)"
    )]
    BadRelayUrl(String),
    /// Plain HTTP to another machine.
    #[error(
        "`{0}` is plain http:// to another machine: anyone on the network could read and change what this device sends. Use the relay's https:// address (a site relay's with its #sha256= part) from the convoy lead's invite"
    )]
    InsecureRelay(String),
    /// The relay showed another certificate than the one pinned for it.
    #[error(
        "the relay at {relay} showed a different TLS certificate (sha256 {shown}) from the one this device pinned for it: it may not be your convoy's relay. Nothing was sent; do not sync with it, and ask the convoy lead (if the relay was set up again, the lead gives a new invite)"
    )]
    CertificateMismatch {
        /// The relay's address, with the pin.
        relay: String,
        /// The fingerprint of the certificate it showed.
        shown: String,
    },
    /// The relay answered more than this device reads from it.
    #[error(
        "the relay at {relay} answered more than {limit} bytes at once: refused (a relay never needs to); sync again later, and tell the convoy lead if it goes on"
    )]
    AnswerTooLarge {
        /// The relay.
        relay: String,
        /// The bound.
        limit: u64,
    },
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
    /// The relay served records that were altered, made up, or out of
    /// their devices' order (some were dropped or withheld).
    #[error(
        "the relay at {relay} is not delivering records as their devices made them: {detail}. Everything genuine was applied; sync again, or through another relay, and tell the convoy lead"
    )]
    Tampered {
        /// The relay.
        relay: String,
        /// What was wrong.
        detail: String,
    },
    /// The relay will not learn a revocation this device knows of.
    #[error(
        "this relay still lets {0} sync although the convoy lead revoked it: do not use this relay; sync with the convoy's own relay, or ask the lead to publish the convoy here again"
    )]
    RelayStale(String),
    /// The relay claims records of this device's log that it never made.
    #[error(
        "the relay at {relay} claims to hold records of this device up to #{held}, but this device made only {made}: this device's keys may have been restored on another laptop from a key backup (then stop using this one for the convoy), its data may have been restored from an old copy, or the relay is lying; tell the convoy lead"
    )]
    RelayAhead {
        /// The relay.
        relay: String,
        /// What it claims.
        held: u64,
        /// What this device made.
        made: u64,
    },
    /// A restored lead meets its own records sealed under a key generation
    /// neither its backup nor the relay gives it.
    #[error(
        "the lead's records on the relay cannot all be opened with this backup ({0}): restore a newer key backup"
    )]
    BackupOutdated(String),
    /// The relay holds another record where this device's log has one of
    /// its own: the same keys write on another laptop.
    #[error(
        "the relay at {relay} holds a different record #{seq} of this device's log: this device's keys were restored on another laptop from a key backup (stop using this one for the convoy), or the relay is lying; tell the convoy lead"
    )]
    Forked {
        /// The relay.
        relay: String,
        /// Where the logs part.
        seq: u64,
    },
    /// A pending device's keys are not the ones bound to the code it used.
    #[error(
        "the keys the relay shows for {0} are not the ones that device enrolled with: do not approve it; the relay may be swapping keys"
    )]
    KeyBindingMismatch(String),
    /// Nothing binds the device's keys to this lead's code: the lead must
    /// compare fingerprints.
    #[error(
        "{device} did not enroll with a code this device made: compare the fingerprint its screen shows and approve with --fingerprint"
    )]
    FingerprintRequired {
        /// The device.
        device: String,
    },
    /// The fingerprint typed is not the device's.
    #[error("the fingerprint does not match {0}'s keys as the relay lists them: do not approve it")]
    FingerprintMismatch(String),
    /// A revoked device cannot come back.
    #[error("{0} was revoked, and a revocation is final: enroll it again as a new device")]
    RevokedFinal(String),
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
            SyncError::InsecureRelay(_) => "insecure_relay_url",
            SyncError::CertificateMismatch { .. } => "relay_certificate_mismatch",
            SyncError::AnswerTooLarge { .. } => "relay_answer_too_large",
            SyncError::BadCode(_) => "bad_code",
            SyncError::LeadMismatch => "lead_mismatch",
            SyncError::NoConvoy(_) => "no_convoy",
            SyncError::NotLead => "not_lead",
            SyncError::UnknownDevice(_) => "unknown_device",
            SyncError::Protocol(_) => "sync_protocol",
            SyncError::Tampered { .. } => "relay_tampering",
            SyncError::RelayStale(_) => "relay_stale",
            SyncError::RelayAhead { .. } => "relay_ahead",
            SyncError::Forked { .. } => "log_forked",
            SyncError::BackupOutdated(_) => "backup_outdated",
            SyncError::KeyBindingMismatch(_) => "key_binding_mismatch",
            SyncError::FingerprintRequired { .. } => "fingerprint_required",
            SyncError::FingerprintMismatch(_) => "fingerprint_mismatch",
            SyncError::RevokedFinal(_) => "revoked_final",
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
            SyncError::BadRelayUrl(_) => {
                "عنوان الخادم غير صحيح: استخدم https:// زي ما في دعوة قائد القافلة".into()
            }
            SyncError::InsecureRelay(_) => {
                "العنوان ده http:// لجهاز تاني: أي حد على الشبكة يقدر يقرا ويغيّر اللي بيتبعت. استخدم عنوان https:// اللي في دعوة قائد القافلة".into()
            }
            SyncError::CertificateMismatch { .. } => {
                "الخادم ده ورّى شهادة غير اللي الجهاز مثبّتها له: ممكن ميكونش خادم قافلتك. متزامنش معاه واسأل قائد القافلة (لو الخادم اتعمل من جديد هيديك دعوة جديدة)".into()
            }
            SyncError::AnswerTooLarge { .. } => {
                "الخادم بعت رد أكبر من المسموح فاترفض؛ زامن تاني بعدين وبلّغ قائد القافلة لو اتكرر".into()
            }
            SyncError::BadCode(_) => "كود التسجيل غير صحيح".into(),
            SyncError::LeadMismatch => {
                "قائد القافلة على الخادم لا يطابق الكود: لا تستخدم هذا الخادم وأبلغ القائد".into()
            }
            SyncError::NoConvoy(_) => "هذا الجهاز ليس في قافلة: أنشئ قافلة أو سجّل بكود".into(),
            SyncError::NotLead => "هذا الإجراء لجهاز قائد القافلة فقط".into(),
            SyncError::UnknownDevice(_) => "لا يوجد جهاز بهذا الاسم في القافلة".into(),
            SyncError::Protocol(_) => "رد غير متوقع من الخادم".into(),
            SyncError::Tampered { .. } => {
                "الخادم بيوصّل سجلات متغيرة أو ناقصة: اتطبق السليم بس؛ زامن تاني أو عن طريق خادم تاني وبلّغ قائد القافلة".into()
            }
            SyncError::RelayStale(name) => format!(
                "الخادم ده لسه سايب {name} يزامن مع إن القائد لغاه: متستخدمش الخادم ده وزامن مع خادم القافلة"
            ),
            SyncError::RelayAhead { .. } => {
                "الخادم بيقول إن عنده سجلات للجهاز ده أكتر من اللي اتعملت: ممكن مفاتيح الجهاز اترجّعت على لابتوب تاني من نسخة احتياطية (وقتها بطّل تستخدم ده للقافلة)، أو الخادم بيكدب؛ بلّغ قائد القافلة".into()
            }
            SyncError::BackupOutdated(_) => {
                "سجلات القائد على الخادم مش كلها بتتفتح بالنسخة الاحتياطية دي: رجّع نسخة أحدث".into()
            }
            SyncError::Forked { .. } => {
                "الخادم عنده سجل تاني مكان سجل من سجلات الجهاز ده: مفاتيح الجهاز اترجّعت على لابتوب تاني من نسخة احتياطية (بطّل تستخدم ده للقافلة)، أو الخادم بيكدب؛ بلّغ قائد القافلة".into()
            }
            SyncError::KeyBindingMismatch(name) => format!(
                "مفاتيح {name} على الخادم مش هي اللي اتسجل بيها: متوافقش عليه، الخادم ممكن يكون بيبدّل المفاتيح"
            ),
            SyncError::FingerprintRequired { device } => format!(
                "{device} متسجلش بكود من الجهاز ده: قارن البصمة اللي على شاشته واكتبها علشان توافق"
            ),
            SyncError::FingerprintMismatch(name) => {
                format!("البصمة مش مطابقة لمفاتيح {name}: متوافقش عليه")
            }
            SyncError::RevokedFinal(name) => {
                format!("{name} اتلغى والإلغاء نهائي: سجّله من جديد كجهاز جديد")
            }
            SyncError::Crypto(_) => "فشل التحقق من التشفير".into(),
            SyncError::Store(_) => "خطأ في قاعدة بيانات الجهاز".into(),
        }
    }

    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            SyncError::Unreachable { .. } => true,
            // The relay's time is asked again on the next try.
            SyncError::Relay { error, .. } if error.code == "clock_skew" => true,
            SyncError::Relay { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
