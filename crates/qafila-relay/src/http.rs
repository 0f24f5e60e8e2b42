//! The relay's HTTP surface: routes, request signatures, limits, metrics and
//! JSON errors. Handlers check who is asking and what they may do, then hand
//! records to [`Storage`] untouched.
//!
//! [`admit`] runs before any body is read: it refuses an address that
//! failed signatures too often, limits enrollments and convoy creations per
//! address, refuses a convoy creation without the operator's token and a
//! signed request from a device the convoy does not know, and takes the
//! body's size from a budget shared by all requests, so bodies nobody will
//! accept are never read into memory.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use qafila_proto::auth::{AuthError, Claim, MAX_SKEW_MS};
use qafila_proto::batch::{Fetch, Frame, Outcome, Outcomes, Upload};
use qafila_proto::cert::{CertRole, Certificate, Standing};
use qafila_proto::control::{
    Approve, CertificateOutcomes, Certificates, CreateScope, DeviceKey, DeviceKeys, Enroll, Hello,
    Invite, Revoke,
};
use qafila_proto::record::RecordKind;
use qafila_proto::{ApiError, Uid};

use crate::config::Config;
use crate::limits::{Nonces, RateLimiter};
use crate::metrics::Metrics;
use crate::storage::{CertOutcome, CertificateRow, MemberRow, Role, Status, Storage, StorageError};

struct Shared<S> {
    storage: S,
    config: Config,
    limiter: RateLimiter,
    metrics: Metrics,
    /// This relay's id: requests signed for another relay are refused.
    relay: Uid,
    /// Nonces of recent requests, in memory (control requests are also
    /// remembered in the database).
    nonces: Nonces,
    /// When each member's last signed request was answered, per convoy: kept
    /// in memory (one entry per member), so a restart forgets it and devices
    /// show as not seen until they sync again.
    seen: std::sync::Mutex<std::collections::HashMap<(Uid, Uid), u64>>,
    /// Per convoy and device, when the relay stored records of its log
    /// before the latest upload that brought new ones, and when that was:
    /// what its newest records were made after (a device seals right before
    /// it uploads). In memory, like `seen`.
    uploads: std::sync::Mutex<std::collections::HashMap<(Uid, Uid), Uploads>>,
    /// Enrollments and convoy creations per network address.
    addresses: RateLimiter<IpAddr>,
    /// Failed signatures per network address: one without tokens left is
    /// refused before anything it sends is read.
    failures: RateLimiter<IpAddr>,
    /// Request-body bytes being read, over all requests (in KiB).
    body_budget: Arc<tokio::sync::Semaphore>,
    /// Record bytes each convoy stores, as far as this process knows (read
    /// from storage at a convoy's first upload, then counted).
    usage: std::sync::Mutex<std::collections::HashMap<Uid, u64>>,
    /// Whether only this machine can reach the relay: then anyone may
    /// create convoys without the operator's token.
    loopback_only: bool,
}

/// Largest enrollment request: a device's keys, name and binding.
const ENROLL_MAX_BYTES: usize = 16 << 10;

/// When a device's previous upload with new records was stored (if any),
/// and its latest.
type Uploads = (Option<u64>, u64);

type St<S> = State<Arc<Shared<S>>>;

/// An error answer: a status and a JSON body.
#[derive(Debug)]
pub(crate) struct Failure(StatusCode, ApiError, Option<u64>);

/// Marks an answer that counts as a failed signature against the caller's
/// address (see [`admit`]).
#[derive(Debug, Clone, Copy)]
struct FailedSignature;

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let failed = self.0 == StatusCode::UNAUTHORIZED || self.1.code == "unknown_device";
        let mut response = (self.0, axum::Json(self.1)).into_response();
        if failed {
            response.extensions_mut().insert(FailedSignature);
        }
        if let Some(seconds) = self.2
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

fn fail(status: StatusCode, code: &str, en: impl Into<String>, ar: impl Into<String>) -> Failure {
    Failure(status, ApiError::new(code, en, ar), None)
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => fail(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found on this relay"),
                "غير موجود على هذا الخادم",
            ),
            StorageError::Conflict(why) => fail(
                StatusCode::CONFLICT,
                "conflict",
                why,
                "تعارض مع بيانات موجودة",
            ),
            StorageError::CodeSpent => fail(
                StatusCode::GONE,
                "code_spent",
                "this enrollment code has expired or was already used: ask the convoy lead for a new one",
                "كود التسجيل انتهت صلاحيته أو استُخدم: اطلب كودًا جديدًا من قائد القافلة",
            ),
            StorageError::Backend(detail) => {
                tracing::error!(%detail, "storage failed");
                fail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the relay's database is unavailable; try again shortly",
                    "قاعدة بيانات الخادم غير متاحة؛ حاول بعد قليل",
                )
            }
        }
    }
}

fn bad_request(what: impl std::fmt::Display) -> Failure {
    fail(
        StatusCode::BAD_REQUEST,
        "malformed",
        format!("the request is malformed: {what}"),
        "الطلب غير سليم",
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn scope_of(text: &str) -> Result<Uid, Failure> {
    Uid::parse(text).ok_or_else(|| bad_request("the convoy id is not a UUID"))
}

fn too_large() -> Failure {
    fail(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "the request is larger than the relay accepts; send fewer records at a time",
        "الطلب أكبر من المسموح؛ أرسل سجلات أقل في المرة",
    )
}

fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Failure> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            bad_request(rejection.body_text())
        }
    })
}

fn auth_failure(e: AuthError) -> Failure {
    let ar = match e {
        AuthError::Skew => "الطلب اتعمل بوقت بعيد عن ساعة الخادم: زامن تاني",
        AuthError::Outdated => "التطبيق أقدم من الخادم: حدّث قافلة على الجهاز ده",
        AuthError::Replayed => "الطلب ده اتبعت قبل كده: الإعادة مرفوضة",
        _ => "الطلب غير موقّع بمفتاح الجهاز الصحيح لهذا الخادم",
    };
    let status = if e == AuthError::Outdated {
        StatusCode::UPGRADE_REQUIRED
    } else {
        StatusCode::UNAUTHORIZED
    };
    fail(status, e.code(), e.to_string(), ar)
}

/// A request stamped outside the window: by how much, and the relay's time,
/// in words. The device's app asks the relay's time again and retries by
/// itself; this reaches a person only when the device's clock keeps jumping.
fn skew_failure(stamped_ms: u64, now: u64) -> Failure {
    let off_min = stamped_ms.abs_diff(now) / 60_000;
    let (way, way_ar) = if stamped_ms > now {
        ("ahead of", "قدّام")
    } else {
        ("behind", "ورا")
    };
    let relay_time = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(
        i64::try_from(now).unwrap_or(i64::MAX),
    )
    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
    .unwrap_or_default();
    fail(
        StatusCode::UNAUTHORIZED,
        AuthError::Skew.code(),
        format!(
            "the request was stamped {off_min} min {way} the relay's clock (the relay's time is {relay_time}); sync again: the app takes the relay's time and nothing recorded is lost"
        ),
        format!(
            "الطلب متسجل بوقت {off_min} دقيقة {way_ar} ساعة الخادم (وقت الخادم {relay_time})؛ زامن تاني: التطبيق بياخد وقت الخادم ومفيش حاجة متسجلة بتضيع"
        ),
    )
}

/// Whether a request changes membership or codes: its nonce is remembered in
/// the database too, so neither a restart nor another relay process on the
/// same database lets it be replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Control,
    Data,
}

/// A request as signed: what the signature covers, read once by the
/// extractor (the body within the size limit, or a JSON 413/400).
struct Signed {
    headers: HeaderMap,
    method: Method,
    uri: Uri,
    body: Bytes,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Signed {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &S) -> Result<Self, Failure> {
        let (method, uri, headers) = (
            request.method().clone(),
            request.uri().clone(),
            request.headers().clone(),
        );
        let body = body_of(Bytes::from_request(request, state).await)?;
        Ok(Signed {
            headers,
            method,
            uri,
            body,
        })
    }
}

impl Signed {
    fn claim(&self) -> Result<Claim, Failure> {
        let value = self
            .headers
            .get(qafila_proto::auth::HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| auth_failure(AuthError::Malformed))?;
        Claim::parse(value).map_err(auth_failure)
    }

    /// Checks the signature (for this relay, within the clock window) and
    /// that the nonce is fresh.
    async fn verify<S: Storage>(
        &self,
        st: &Shared<S>,
        claim: &Claim,
        key: &[u8],
        kind: Kind,
    ) -> Result<(), Failure> {
        let key = <[u8; 32]>::try_from(key).map_err(|_| auth_failure(AuthError::BadSignature))?;
        let now = now_ms();
        claim
            .verify(
                &key,
                st.relay,
                now,
                self.method.as_str(),
                self.uri.path(),
                &self.body,
            )
            .map_err(|e| match e {
                AuthError::Skew => skew_failure(claim.ts_ms, now),
                other => auth_failure(other),
            })?;
        if !st.nonces.insert(claim.nonce, now) {
            return Err(auth_failure(AuthError::Replayed));
        }
        if kind == Kind::Control {
            let expires = now.saturating_add(2 * MAX_SKEW_MS);
            if !st.storage.use_nonce(claim.nonce, now, expires).await? {
                return Err(auth_failure(AuthError::Replayed));
            }
        }
        Ok(())
    }
}

impl<S: Storage> Shared<S> {
    /// Record bytes `scope` stores (counted here after the first look).
    async fn usage(&self, scope: Uid) -> Result<u64, Failure> {
        if let Some(used) = self.usage.lock().ok().and_then(|u| u.get(&scope).copied()) {
            return Ok(used);
        }
        let used = self.storage.scope_bytes(scope).await?;
        if let Ok(mut usage) = self.usage.lock() {
            usage.entry(scope).or_insert(used);
        }
        Ok(used)
    }

    fn limit(&self, device: Uid) -> Result<(), Failure> {
        self.limiter.take(device).map_err(|seconds| {
            Failure(
                StatusCode::TOO_MANY_REQUESTS,
                ApiError::new(
                    "rate_limited",
                    format!("too many requests from this device; retry in {seconds} s"),
                    "طلبات كثيرة من هذا الجهاز؛ أعد المحاولة بعد قليل",
                ),
                Some(seconds),
            )
        })
    }

    /// Who signed this request, as a member of `scope`, at least `pending`
    /// (or `approved` when `approved` is set).
    async fn member(
        &self,
        scope: Uid,
        signed: &Signed,
        approved: bool,
        kind: Kind,
    ) -> Result<MemberRow, Failure> {
        let claim = signed.claim()?;
        let Some(member) = self.storage.member(scope, claim.device).await? else {
            return Err(fail(
                StatusCode::FORBIDDEN,
                "unknown_device",
                "this device is not enrolled in this convoy on this relay: enroll with a code from the convoy lead",
                "هذا الجهاز غير مسجل في هذه القافلة: سجّل بكود من قائد القافلة",
            ));
        };
        signed
            .verify(self, &claim, &member.keys.signing.0, kind)
            .await?;
        self.limit(claim.device)?;
        if member.status != Status::Revoked
            && let Ok(mut seen) = self.seen.lock()
        {
            seen.insert((scope, claim.device), now_ms());
        }
        match member.status {
            Status::Revoked => Err(fail(
                StatusCode::FORBIDDEN,
                "device_revoked",
                "this device was revoked by the convoy lead and can no longer sync",
                "تم إلغاء هذا الجهاز من قائد القافلة ولا يمكنه المزامنة",
            )),
            Status::Pending if approved => Err(fail(
                StatusCode::FORBIDDEN,
                "pending_approval",
                "the convoy lead has not approved this device yet: ask them to run `qafila convoy approve`",
                "لم يوافق قائد القافلة على هذا الجهاز بعد",
            )),
            _ => Ok(member),
        }
    }

    async fn lead(&self, scope: Uid, signed: &Signed) -> Result<MemberRow, Failure> {
        let member = self.member(scope, signed, true, Kind::Control).await?;
        if member.role != Role::Lead {
            return Err(fail(
                StatusCode::FORBIDDEN,
                "not_lead",
                "only the convoy lead may do this",
                "هذا الإجراء لقائد القافلة فقط",
            ));
        }
        Ok(member)
    }

    /// The scope's lead (its signing key checks certificates).
    async fn lead_of(&self, scope: Uid) -> Result<MemberRow, Failure> {
        let members = self.storage.members(scope).await?;
        let lead = members
            .into_iter()
            .find(|m| m.role == "lead")
            .ok_or(StorageError::NotFound("convoy"))?;
        Ok(MemberRow {
            role: Role::Lead,
            role_name: lead.role.clone(),
            status: Status::Approved,
            certificate: Vec::new(),
            version: 0,
            invite: None,
            binding: Vec::new(),
            keys: lead.keys,
        })
    }

    /// Checks a certificate against the scope's lead key and stores it
    /// (with the key grants that come with it) under the rules that make a
    /// revocation final and versions only go up.
    async fn certify(
        &self,
        scope: Uid,
        lead: &DeviceKeys,
        bytes: Vec<u8>,
        keys: Vec<DeviceKey>,
    ) -> Result<(Certificate, CertOutcome), Failure> {
        let lead_key = lead
            .signing
            .key()
            .ok_or_else(|| bad_request("the lead's key is malformed"))?;
        let certificate = Certificate::open(&bytes, &lead_key).map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                "bad_certificate",
                format!("{e}: only the convoy lead's device can certify devices"),
                "الشهادة مش موقعة من قائد القافلة",
            )
        })?;
        if certificate.scope != scope || certificate.device == lead.device {
            return Err(bad_request(
                "the certificate is for another convoy or the lead",
            ));
        }
        let row = CertificateRow {
            keys: DeviceKeys {
                device: certificate.device,
                name: certificate.name.clone(),
                signing: qafila_proto::control::B64(certificate.signing.to_vec()),
                encryption: qafila_proto::control::B64(certificate.encryption.to_vec()),
            },
            role: certificate.role.as_str().to_owned(),
            status: match certificate.standing {
                Standing::Approved => Status::Approved,
                Standing::Revoked => Status::Revoked,
            },
            version: certificate.version,
            bytes,
        };
        let outcome = self.storage.put_certificate(scope, row, keys).await?;
        Ok((certificate, outcome))
    }
}

fn certificate_refused(outcome: CertOutcome) -> Option<Failure> {
    let (code, en, ar) = match outcome {
        CertOutcome::Applied | CertOutcome::Unchanged => return None,
        CertOutcome::RevokedFinal => (
            "revoked_final",
            "this device was revoked, and a revocation is final: enroll it again as a new device",
            "الجهاز ده اتلغى والإلغاء نهائي: سجّله من جديد كجهاز جديد",
        ),
        CertOutcome::Older => (
            "certificate_older",
            "this relay holds a newer certificate for the device",
            "الخادم عنده شهادة أحدث للجهاز ده",
        ),
        CertOutcome::WrongKeys => (
            "wrong_keys",
            "this relay knows the device with other keys",
            "الخادم يعرف الجهاز ده بمفاتيح تانية",
        ),
    };
    Some(fail(StatusCode::CONFLICT, code, en, ar))
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(bad_request)
}

async fn hello<S: Storage>(State(st): St<S>) -> Response {
    axum::Json(Hello {
        relay: st.relay,
        time_ms: now_ms(),
        protocol: qafila_proto::VERSION,
    })
    .into_response()
}

async fn create_scope<S: Storage>(State(st): St<S>, signed: Signed) -> Result<StatusCode, Failure> {
    let request: CreateScope = json(&signed.body)?;
    if request.lead.name.len() > qafila_proto::cert::MAX_NAME_BYTES
        || request.members.len() > 10_000
        || request.keys.len() > 100_000
    {
        return Err(bad_request(
            "the lead's name is too long, or too many members or keys",
        ));
    }
    let claim = signed.claim()?;
    if claim.device != request.lead.device {
        return Err(auth_failure(AuthError::BadSignature));
    }
    // An existing scope may only be extended by its lead's registered key.
    let lead = match st
        .storage
        .member(request.scope, request.lead.device)
        .await?
    {
        Some(existing) if existing.role == Role::Lead => existing.keys,
        Some(_) => {
            return Err(
                StorageError::Conflict("this convoy already exists with another lead").into(),
            );
        }
        None => {
            check_create_token(&st.config, st.loopback_only, &signed.headers)?;
            request.lead.clone()
        }
    };
    signed
        .verify(&st, &claim, &lead.signing.0, Kind::Control)
        .await?;
    st.limit(claim.device)?;
    st.storage
        .create_scope(request.scope, lead.clone(), Vec::new())
        .await?;
    // Members published from another relay come with the lead's
    // certificates: each is checked like an approval or a revocation.
    for (member, keys) in request.certified_members() {
        let (_, outcome) = st
            .certify(request.scope, &lead, member.certificate.0.clone(), keys)
            .await?;
        if let Some(refused) = certificate_refused(outcome)
            && outcome != CertOutcome::Older
        {
            return Err(refused);
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

fn check_create_token(
    config: &Config,
    loopback_only: bool,
    headers: &HeaderMap,
) -> Result<(), Failure> {
    let Some(expected) = &config.create_token else {
        if loopback_only {
            return Ok(());
        }
        return Err(fail(
            StatusCode::FORBIDDEN,
            "create_token_required",
            "this relay takes no new convoys: its operator has not set an operator token (qafila relay serve --operator-token)",
            "هذا الخادم لا يقبل قوافل جديدة: مسؤول الخادم لم يحدد كود المشغل",
        ));
    };
    let given = headers
        .get(qafila_proto::control::CREATE_TOKEN_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    // Compare in constant time: the token is a secret.
    let same = given.len() == expected.len()
        && given
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(fail(
            StatusCode::FORBIDDEN,
            "create_token_required",
            "this relay only accepts new convoys with its creation token: ask the relay's operator (--relay-token)",
            "هذا الخادم يحتاج كود إنشاء القوافل: اطلبه من مسؤول الخادم",
        ))
    }
}

async fn invite<S: Storage>(
    State(st): St<S>,
    Path(scope): Path<String>,
    signed: Signed,
) -> Result<StatusCode, Failure> {
    let scope = scope_of(&scope)?;
    st.lead(scope, &signed).await?;
    let mut invite: Invite = json(&signed.body)?;
    if invite.uses == 0 || invite.uses > 1000 {
        return Err(bad_request("an invite admits 1 to 1,000 devices"));
    }
    // Counted on this relay's clock when the lead says how long, whatever
    // the lead device's own clock says; never more than three days.
    const MAX_LIFETIME_MS: u64 = 72 * 3600 * 1000;
    if let Some(lifetime) = invite.lifetime_ms {
        invite.expires_ms = now_ms().saturating_add(lifetime.min(MAX_LIFETIME_MS));
    }
    if invite.code_hash.len() != 64 || !invite.code_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad_request("code_hash must be a hex SHA-256"));
    }
    st.storage.add_invite(scope, invite).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn enroll<S: Storage>(State(st): St<S>, signed: Signed) -> Result<Response, Failure> {
    let request: Enroll = json(&signed.body)?;
    let claim = signed.claim()?;
    if claim.device != request.device.device {
        return Err(auth_failure(AuthError::BadSignature));
    }
    signed
        .verify(&st, &claim, &request.device.signing.0, Kind::Control)
        .await?;
    st.limit(claim.device)?;
    let code_hash = request.code_hash.trim().to_ascii_lowercase();
    if code_hash.len() != 64 || !code_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad_request("code_hash must be a hex SHA-256"));
    }
    if request.binding.0.len() != 32
        || request.device.signing.key().is_none()
        || request.device.encryption.key().is_none()
        || request.device.name.len() > qafila_proto::cert::MAX_NAME_BYTES
    {
        return Err(bad_request(
            "the device's keys, name or key binding are malformed",
        ));
    }
    let enrolled = st
        .storage
        .enroll(code_hash, request.device, request.binding.0, now_ms())
        .await
        .map_err(|e| match e {
        StorageError::NotFound(_) => fail(
            StatusCode::NOT_FOUND,
            "unknown_code",
            "this enrollment code is not known to this relay: check the code and the relay address",
            "كود التسجيل غير معروف لهذا الخادم: راجع الكود وعنوان الخادم",
        ),
        other => other.into(),
    })?;
    Ok(axum::Json(enrolled).into_response())
}

async fn members<S: Storage>(
    State(st): St<S>,
    Path(scope): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    let scope = scope_of(&scope)?;
    st.member(scope, &signed, true, Kind::Data).await?;
    let mut members = st.storage.members(scope).await?;
    if let (Ok(seen), Ok(uploads)) = (st.seen.lock(), st.uploads.lock()) {
        for member in &mut members {
            let key = (scope, member.keys.device);
            member.last_seen_ms = seen.get(&key).copied();
            member.made_after_ms = uploads.get(&key).and_then(|(before, _)| *before);
            member.uploaded_ms = uploads.get(&key).map(|(_, latest)| *latest);
        }
    }
    Ok(axum::Json(members).into_response())
}

async fn set_status<S: Storage>(
    st: &Shared<S>,
    scope: &str,
    device: &str,
    signed: Signed,
    status: Status,
) -> Result<StatusCode, Failure> {
    let scope = scope_of(scope)?;
    let device = Uid::parse(device).ok_or_else(|| bad_request("the device id is not a UUID"))?;
    let lead = st.lead(scope, &signed).await?;
    if lead.keys.device == device {
        return Err(bad_request("the lead cannot change its own status"));
    }
    let (certificate, keys) = if status == Status::Approved {
        let approve: Approve = json(&signed.body)?;
        let keys = approve
            .keys
            .into_iter()
            .map(|key| DeviceKey { device, key })
            .collect();
        (approve.certificate.0, keys)
    } else {
        let revoke: Revoke = json(&signed.body)?;
        (revoke.certificate.0, revoke.rotation)
    };
    let wanted = if status == Status::Approved {
        Standing::Approved
    } else {
        Standing::Revoked
    };
    let parsed = Certificate::decode(&certificate).ok();
    if parsed.is_none_or(|c| c.device != device || c.standing != wanted) {
        return Err(bad_request(
            "the certificate does not name this device with this status",
        ));
    }
    let (_, outcome) = st.certify(scope, &lead.keys, certificate, keys).await?;
    if let Some(refused) = certificate_refused(outcome) {
        return Err(refused);
    }
    tracing::info!(%scope, %device, status = status.as_str(), "membership changed");
    Ok(StatusCode::NO_CONTENT)
}

async fn certificates<S: Storage>(
    State(st): St<S>,
    Path(scope): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    let scope = scope_of(&scope)?;
    st.member(scope, &signed, true, Kind::Control).await?;
    let request: Certificates = json(&signed.body)?;
    if request.certificates.len() > 10_000 {
        return Err(bad_request("too many certificates at once"));
    }
    let lead = st.lead_of(scope).await?;
    let mut outcomes = Vec::with_capacity(request.certificates.len());
    for bytes in request.certificates {
        let outcome = match st.certify(scope, &lead.keys, bytes.0, Vec::new()).await {
            Ok((_, CertOutcome::Applied)) => "applied",
            Ok((_, CertOutcome::Unchanged | CertOutcome::Older)) => "unchanged",
            Ok(_) | Err(_) => "refused",
        };
        outcomes.push(outcome.to_owned());
    }
    Ok(axum::Json(CertificateOutcomes { outcomes }).into_response())
}

async fn approve<S: Storage>(
    State(st): St<S>,
    Path((scope, device)): Path<(String, String)>,
    signed: Signed,
) -> Result<StatusCode, Failure> {
    set_status(&st, &scope, &device, signed, Status::Approved).await
}

async fn revoke<S: Storage>(
    State(st): St<S>,
    Path((scope, device)): Path<(String, String)>,
    signed: Signed,
) -> Result<StatusCode, Failure> {
    set_status(&st, &scope, &device, signed, Status::Revoked).await
}

async fn keys<S: Storage>(
    State(st): St<S>,
    Path(scope): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    let scope = scope_of(&scope)?;
    let me = st.member(scope, &signed, true, Kind::Data).await?;
    Ok(axum::Json(st.storage.keys(scope, me.keys.device).await?).into_response())
}

async fn heads<S: Storage>(
    State(st): St<S>,
    Path(scope): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    let scope = scope_of(&scope)?;
    st.member(scope, &signed, true, Kind::Data).await?;
    Ok(binary(st.storage.heads(scope).await?.encode()))
}

fn binary(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/x-qafila")], bytes).into_response()
}

async fn upload<S: Storage>(
    State(st): St<S>,
    Path(scope): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    let scope = scope_of(&scope)?;
    let me = st.member(scope, &signed, true, Kind::Data).await?;
    Metrics::add(&st.metrics.bytes_received, signed.body.len() as u64);
    let used = st.usage(scope).await?;
    if used.saturating_add(signed.body.len() as u64) > st.config.convoy_quota_bytes {
        tracing::warn!(%scope, used, quota = st.config.convoy_quota_bytes, "convoy over its storage quota: upload refused");
        return Err(fail(
            StatusCode::INSUFFICIENT_STORAGE,
            "quota_exceeded",
            format!(
                "this convoy has used its storage on this relay ({} MiB): ask the relay's operator for more room, or use another relay; nothing on this device was lost",
                st.config.convoy_quota_bytes >> 20
            ),
            "القافلة استهلكت مساحتها على الخادم: اطلب مساحة أكبر من مسؤول الخادم أو استخدم خادم تاني؛ مفيش حاجة ضاعت من الجهاز",
        ));
    }
    let upload = Upload::decode(&signed.body).map_err(bad_request)?;
    // Decide which records this device may write: its own log, or (the
    // lead forwarding from another relay) any member's. Registry records
    // only from devices whose role keeps the registry (the lead,
    // registrars, and devices certified before roles existed).
    let registry_role = |m: &MemberRow| {
        m.role == Role::Lead
            || CertRole::parse(&m.role_name).is_none_or(|r| r == CertRole::Registrar)
    };
    let mut allowed = Vec::with_capacity(upload.records.len());
    let mut verdicts = vec![None; upload.records.len()];
    let mut known: std::collections::HashMap<Uid, Option<MemberRow>> =
        std::collections::HashMap::new();
    known.insert(me.keys.device, Some(me.clone()));
    for (i, record) in upload.records.into_iter().enumerate() {
        let device = record.header.device;
        if record.header.scope != scope || (device != me.keys.device && me.role != Role::Lead) {
            verdicts[i] = Some(Outcome::Forbidden);
            continue;
        }
        let writer = match known.get(&device) {
            Some(writer) => writer.clone(),
            None => {
                let writer = st.storage.member(scope, device).await?;
                known.insert(device, writer.clone());
                writer
            }
        };
        let ok = writer
            .is_some_and(|w| matches!(record.header.kind, RecordKind::Log) || registry_role(&w));
        if ok {
            allowed.push((i, record));
        } else {
            verdicts[i] = Some(Outcome::Forbidden);
        }
    }
    // Whose erasures replace every device's copy of an entry.
    let authority = if allowed
        .iter()
        .any(|(_, r)| matches!(r.header.kind, RecordKind::Keyed { .. }))
    {
        st.storage
            .members(scope)
            .await?
            .into_iter()
            .filter(|m| m.role == "lead" || m.role == CertRole::Registrar.as_str())
            .map(|m| m.keys.device)
            .collect()
    } else {
        Vec::new()
    };
    let (positions, records): (Vec<usize>, Vec<_>) = allowed.into_iter().unzip();
    let logs: Vec<(Uid, u64)> = records
        .iter()
        .map(|r| (r.header.device, r.encode().len() as u64))
        .collect();
    let outcomes = st.storage.put_records(scope, authority, records).await?;
    let mut stored = std::collections::BTreeSet::new();
    let mut added = 0u64;
    for ((i, outcome), (device, size)) in positions.into_iter().zip(outcomes).zip(logs) {
        if matches!(outcome, Outcome::Stored | Outcome::Superseded) {
            added = added.saturating_add(size);
        }
        if outcome == Outcome::Stored {
            stored.insert(device);
        }
        verdicts[i] = Some(outcome);
    }
    if let Ok(mut usage) = st.usage.lock() {
        let used = usage.entry(scope).or_insert(used);
        *used = used.saturating_add(added);
    }
    if let Ok(mut uploads) = st.uploads.lock() {
        let now = now_ms();
        for device in stored {
            let latest = uploads.get(&(scope, device)).map(|(_, latest)| *latest);
            uploads.insert((scope, device), (latest, now));
        }
    }
    let outcomes: Vec<Outcome> = verdicts
        .into_iter()
        .map(|v| v.unwrap_or(Outcome::Forbidden))
        .collect();
    for outcome in &outcomes {
        let counter = match outcome {
            Outcome::Stored | Outcome::Superseded => &st.metrics.records_stored,
            Outcome::Duplicate => &st.metrics.records_duplicate,
            _ => &st.metrics.records_refused,
        };
        Metrics::add(counter, 1);
    }
    Ok(binary(Outcomes(outcomes).encode()))
}

/// Bytes of records per storage page while streaming a download.
const PAGE_BYTES: usize = 256 << 10;

async fn fetch<S: Storage>(
    State(st): St<S>,
    Path(scope): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    let scope = scope_of(&scope)?;
    st.member(scope, &signed, true, Kind::Data).await?;
    let request = Fetch::decode(&signed.body).map_err(bad_request)?;
    let budget = usize::try_from(request.max_bytes)
        .unwrap_or(usize::MAX)
        .clamp(1, st.config.fetch_max_bytes);
    // The first page is read before answering, so a storage failure is a
    // clean 503 rather than a cut stream.
    let first = st
        .storage
        .fetch(scope, request.cursors, budget.min(PAGE_BYTES))
        .await?;
    struct Cursor<S> {
        st: Arc<Shared<S>>,
        scope: Uid,
        next: Option<crate::storage::Page>,
        left: usize,
        done: bool,
    }
    let start = Cursor {
        st: st.clone(),
        scope,
        next: Some(first),
        left: budget,
        done: false,
    };
    let stream = futures_util::stream::unfold(start, |mut c| async move {
        if c.done {
            return None;
        }
        let page = c.next.take()?;
        let mut out = Vec::new();
        let mut size = 0usize;
        for record in &page.records {
            out.push(1u8);
            out.extend_from_slice(record);
            size += record.len();
        }
        Metrics::add(&c.st.metrics.records_served, page.records.len() as u64);
        Metrics::add(&c.st.metrics.bytes_served, size as u64);
        c.left = c.left.saturating_sub(size.max(1));
        if page.more && c.left > 0 {
            match c
                .st
                .storage
                .fetch(c.scope, page.cursors, c.left.min(PAGE_BYTES))
                .await
            {
                Ok(next) => c.next = Some(next),
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), c)),
            }
        } else {
            out.extend_from_slice(&Frame::End { more: page.more }.encode());
            c.done = true;
        }
        Some((Ok::<_, std::io::Error>(Bytes::from(out)), c))
    });
    let head =
        futures_util::stream::once(async { Ok(Bytes::from(qafila_proto::batch::stream_start())) });
    let body = Body::from_stream(futures_util::StreamExt::chain(head, stream));
    Ok(([(header::CONTENT_TYPE, "application/x-qafila")], body).into_response())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz<S: Storage>(State(st): St<S>) -> Result<&'static str, Failure> {
    st.storage.ready().await?;
    Ok("ready")
}

async fn metrics<S: Storage>(State(st): St<S>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> Failure {
    fail(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such relay endpoint",
        "لا يوجد مسار بهذا الاسم",
    )
}

async fn wrong_method() -> Failure {
    fail(
        StatusCode::METHOD_NOT_ALLOWED,
        "wrong_method",
        "this relay endpoint does not take that HTTP method",
        "هذا المسار لا يقبل هذه الطريقة",
    )
}

/// A JSON 408, for a request that took longer than the relay allows.
pub(crate) fn request_timed_out() -> Response {
    fail(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request took too long to arrive; sync again (on a slow connection, with fewer records at a time)",
        "الطلب اتأخر أكتر من اللازم؛ زامن تاني",
    )
    .into_response()
}

fn too_many(seconds: u64, what: &str) -> Response {
    Failure(
        StatusCode::TOO_MANY_REQUESTS,
        ApiError::new(
            "rate_limited",
            format!("too many {what} from this network address; retry in {seconds} s"),
            "طلبات كثيرة من هذا العنوان؛ أعد المحاولة بعد قليل",
        ),
        Some(seconds),
    )
    .into_response()
}

/// Whether a signed request's sender could be who it claims, judged from
/// its headers alone: a readable signature header and a device the convoy
/// in its path knows. Its body is read only after this.
async fn plausibly_signed<S: Storage>(
    st: &Shared<S>,
    auth: Option<&str>,
    path: &str,
) -> Result<(), Failure> {
    let claim = auth
        .ok_or_else(|| auth_failure(AuthError::Malformed))
        .and_then(|v| Claim::parse(v).map_err(auth_failure))?;
    let scope = path
        .strip_prefix("/v1/scopes/")
        .and_then(|rest| rest.split('/').next())
        .and_then(Uid::parse)
        .ok_or_else(|| bad_request("the convoy id is not a UUID"))?;
    if st.storage.member(scope, claim.device).await?.is_none() {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "unknown_device",
            "this device is not enrolled in this convoy on this relay: enroll with a code from the convoy lead",
            "هذا الجهاز غير مسجل في هذه القافلة: سجّل بكود من قائد القافلة",
        ));
    }
    Ok(())
}

/// Refuses, before the body is read, what no body could make acceptable
/// (see the module docs), and logs the refused peer's address.
async fn admit<S: Storage>(State(st): St<S>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = peer.map(|p| p.ip());
    let path = request.uri().path().to_owned();
    let post = request.method() == Method::POST;
    let open = post && (path == "/v1/enroll" || path == "/v1/scopes");
    let signed = path.starts_with("/v1/scopes/");
    // A route taking another method is answered 405 by the router.
    let reading = ["/members", "/keys", "/heads"]
        .iter()
        .any(|end| path.ends_with(end));
    let guarded = path == "/v1/enroll" || path == "/v1/scopes" || signed;
    let method = if reading && signed {
        Method::GET
    } else {
        Method::POST
    };
    if guarded && *request.method() != method {
        return next.run(request).await;
    }
    let refuse = |mut response: Response, why: &str| {
        if let Some(peer) = peer {
            tracing::warn!(%peer, route = %path, status = response.status().as_u16(), why, "request refused");
        }
        // Its body was not read: the connection cannot carry another
        // request, and the client must not try.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    };
    if let Some(ip) = ip
        && (open || signed)
    {
        if let Err(seconds) = st.failures.check(ip) {
            return refuse(too_many(seconds, "failed signatures"), "failed signatures");
        }
        if open && let Err(seconds) = st.addresses.take(ip) {
            return refuse(
                too_many(seconds, "enrollments or new convoys"),
                "address rate",
            );
        }
    }
    if post && path == "/v1/scopes" {
        // A new convoy needs the operator's token (and an existing one is
        // published again by its lead with the token too): checked before
        // megabytes of members are read.
        if let Err(refused) = check_create_token(&st.config, st.loopback_only, request.headers()) {
            return refuse(refused.into_response(), "no operator token");
        }
    }
    let auth = request
        .headers()
        .get(qafila_proto::auth::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if signed && let Err(refused) = plausibly_signed(&st, auth.as_deref(), &path).await {
        if let Some(ip) = ip
            && refused.0 != StatusCode::SERVICE_UNAVAILABLE
        {
            let _ = st.failures.take(ip);
        }
        return refuse(refused.into_response(), "not a member's request");
    }
    let mut permit = None;
    if post {
        let limit = if path == "/v1/enroll" {
            ENROLL_MAX_BYTES
        } else {
            st.config.max_body_bytes
        };
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return refuse(too_large().into_response(), "body too large");
        }
        let charge = declared.map_or(limit, |n| usize::try_from(n).unwrap_or(limit));
        let kib = u32::try_from(charge.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        match st.body_budget.clone().try_acquire_many_owned(kib) {
            Ok(taken) => permit = Some(taken),
            Err(_) => {
                return refuse(
                    Failure(
                        StatusCode::SERVICE_UNAVAILABLE,
                        ApiError::new(
                            "relay_busy",
                            "the relay is receiving too much at once; sync again in a moment",
                            "الخادم مشغول؛ زامن تاني بعد لحظة",
                        ),
                        Some(1),
                    )
                    .into_response(),
                    "body budget spent",
                );
            }
        }
    }
    let response = next.run(request).await;
    drop(permit);
    if response.extensions().get::<FailedSignature>().is_some() {
        if let Some(ip) = ip {
            let _ = st.failures.take(ip);
        }
        return refuse(response, "failed signature");
    }
    response
}

async fn observe<S: Storage>(State(st): St<S>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    st.metrics.request(&route, status, seconds);
    if route != "/metrics" && route != "/healthz" {
        // A refused request names who sent it (an address, never a body).
        match peer.filter(|_| status >= 400) {
            Some(peer) => {
                tracing::info!(%method, %route, status, %peer, ms = seconds * 1000.0, "request");
            }
            None => tracing::info!(%method, %route, status, ms = seconds * 1000.0, "request"),
        }
    }
    response
}

pub(crate) fn router<S: Storage>(config: Config, storage: S, loopback_only: bool) -> Router {
    let limit = config.max_body_bytes;
    let per_address = f64::from(config.address_rate_per_minute) / 60.0;
    let shared = Arc::new(Shared {
        addresses: RateLimiter::per_second(per_address, config.address_rate_burst),
        failures: RateLimiter::per_second(per_address, config.address_rate_burst),
        body_budget: Arc::new(tokio::sync::Semaphore::new(
            (config.body_budget_bytes >> 10).clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
        )),
        usage: std::sync::Mutex::default(),
        loopback_only,
        limiter: RateLimiter::new(config.rate_per_second, config.rate_burst),
        relay: storage.relay_id(),
        nonces: Nonces::new(MAX_SKEW_MS),
        storage,
        config,
        metrics: Metrics::default(),
        seen: std::sync::Mutex::default(),
        uploads: std::sync::Mutex::default(),
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/v1/hello", get(hello::<S>))
        .route("/v1/scopes", post(create_scope::<S>))
        .route(
            "/v1/enroll",
            post(enroll::<S>).layer(DefaultBodyLimit::max(ENROLL_MAX_BYTES)),
        )
        .route("/v1/scopes/{scope}/invites", post(invite::<S>))
        .route("/v1/scopes/{scope}/members", get(members::<S>))
        .route(
            "/v1/scopes/{scope}/members/{device}/approve",
            post(approve::<S>),
        )
        .route(
            "/v1/scopes/{scope}/members/{device}/revoke",
            post(revoke::<S>),
        )
        .route("/v1/scopes/{scope}/certificates", post(certificates::<S>))
        .route("/v1/scopes/{scope}/keys", get(keys::<S>))
        .route("/v1/scopes/{scope}/heads", get(heads::<S>))
        .route("/v1/scopes/{scope}/records", post(upload::<S>))
        .route("/v1/scopes/{scope}/fetch", post(fetch::<S>))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        // Only on matched routes: a wrong method is a 405, whoever asks.
        .route_layer(middleware::from_fn_with_state(shared.clone(), admit::<S>))
        .layer(middleware::from_fn_with_state(shared.clone(), observe::<S>))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}
