//! The relay's HTTP surface: routes, request signatures, limits, metrics and
//! JSON errors. Handlers check who is asking and what they may do, then hand
//! records to [`Storage`] untouched.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use qafila_proto::auth::{AuthError, Claim};
use qafila_proto::batch::{Fetch, Frame, Outcome, Outcomes, Upload};
use qafila_proto::control::{Approve, CreateScope, Enroll, Invite, Revoke};
use qafila_proto::{ApiError, Uid};
use sha2::Digest;

use crate::config::Config;
use crate::limits::RateLimiter;
use crate::metrics::Metrics;
use crate::storage::{MemberRow, Role, Status, Storage, StorageError};

struct Shared<S> {
    storage: S,
    config: Config,
    limiter: RateLimiter,
    metrics: Metrics,
    /// When each member's last signed request was answered, per convoy: kept
    /// in memory (one entry per member), so a restart forgets it and devices
    /// show as not seen until they sync again.
    seen: std::sync::Mutex<std::collections::HashMap<(Uid, Uid), u64>>,
}

type St<S> = State<Arc<Shared<S>>>;

/// An error answer: a status and a JSON body.
#[derive(Debug)]
pub(crate) struct Failure(StatusCode, ApiError, Option<u64>);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (self.0, axum::Json(self.1)).into_response();
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

fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Failure> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request is larger than the relay accepts; send fewer records at a time",
                "الطلب أكبر من المسموح؛ أرسل سجلات أقل في المرة",
            )
        } else {
            bad_request(rejection.body_text())
        }
    })
}

fn auth_failure(e: AuthError) -> Failure {
    let ar = match e {
        AuthError::Skew => "وقت الجهاز بعيد عن وقت الخادم: اضبط ساعة الجهاز",
        _ => "الطلب غير موقّع بمفتاح الجهاز الصحيح",
    };
    fail(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        e.to_string(),
        ar,
    )
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

    fn verify(&self, claim: &Claim, key: &[u8]) -> Result<(), Failure> {
        let key = <[u8; 32]>::try_from(key).map_err(|_| auth_failure(AuthError::BadSignature))?;
        claim
            .verify(
                &key,
                now_ms(),
                self.method.as_str(),
                self.uri.path(),
                &self.body,
            )
            .map_err(auth_failure)
    }
}

impl<S: Storage> Shared<S> {
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
        signed.verify(&claim, &member.keys.signing.0)?;
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
        let member = self.member(scope, signed, true).await?;
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
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(bad_request)
}

async fn create_scope<S: Storage>(State(st): St<S>, signed: Signed) -> Result<StatusCode, Failure> {
    let request: CreateScope = json(&signed.body)?;
    let claim = signed.claim()?;
    if claim.device != request.lead.device {
        return Err(auth_failure(AuthError::BadSignature));
    }
    // An existing scope may only be extended by its lead's registered key.
    let key = match st
        .storage
        .member(request.scope, request.lead.device)
        .await?
    {
        Some(existing) if existing.role == Role::Lead => existing.keys.signing.0,
        Some(_) => {
            return Err(
                StorageError::Conflict("this convoy already exists with another lead").into(),
            );
        }
        None => {
            check_create_token(&st.config, &signed.headers)?;
            request.lead.signing.0.clone()
        }
    };
    signed.verify(&claim, &key)?;
    st.limit(claim.device)?;
    st.storage.create_scope(request).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn check_create_token(config: &Config, headers: &HeaderMap) -> Result<(), Failure> {
    let Some(expected) = &config.create_token else {
        return Ok(());
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
    let invite: Invite = json(&signed.body)?;
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
    signed.verify(&claim, &request.device.signing.0)?;
    st.limit(claim.device)?;
    let code_hash = hex(&sha2::Sha256::digest(request.secret.trim().as_bytes()));
    let enrolled = st.storage.enroll(code_hash, request.device, now_ms()).await.map_err(|e| match e {
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn members<S: Storage>(
    State(st): St<S>,
    Path(scope): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    let scope = scope_of(&scope)?;
    st.member(scope, &signed, true).await?;
    let mut members = st.storage.members(scope).await?;
    if let Ok(seen) = st.seen.lock() {
        for member in &mut members {
            member.last_seen_ms = seen.get(&(scope, member.keys.device)).copied();
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
            .map(|key| qafila_proto::control::DeviceKey { device, key })
            .collect();
        (approve.certificate.0, keys)
    } else {
        let revoke: Revoke = json(&signed.body)?;
        (revoke.certificate.0, revoke.rotation)
    };
    st.storage
        .set_status(scope, device, status, certificate, keys)
        .await?;
    tracing::info!(%scope, %device, status = status.as_str(), "membership changed");
    Ok(StatusCode::NO_CONTENT)
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
    let me = st.member(scope, &signed, true).await?;
    Ok(axum::Json(st.storage.keys(scope, me.keys.device).await?).into_response())
}

async fn heads<S: Storage>(
    State(st): St<S>,
    Path(scope): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    let scope = scope_of(&scope)?;
    st.member(scope, &signed, true).await?;
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
    let me = st.member(scope, &signed, true).await?;
    Metrics::add(&st.metrics.bytes_received, signed.body.len() as u64);
    let upload = Upload::decode(&signed.body).map_err(bad_request)?;
    // Decide which records this device may write: its own log, or (the
    // lead forwarding from another relay) any member's.
    let mut allowed = Vec::with_capacity(upload.records.len());
    let mut verdicts = vec![None; upload.records.len()];
    let mut known: std::collections::HashMap<Uid, bool> = std::collections::HashMap::new();
    for (i, record) in upload.records.into_iter().enumerate() {
        let device = record.header.device;
        let ok = record.header.scope == scope
            && if device == me.keys.device {
                true
            } else if me.role == Role::Lead {
                match known.get(&device) {
                    Some(ok) => *ok,
                    None => {
                        let ok = st.storage.member(scope, device).await?.is_some();
                        known.insert(device, ok);
                        ok
                    }
                }
            } else {
                false
            };
        if ok {
            allowed.push((i, record));
        } else {
            verdicts[i] = Some(Outcome::Forbidden);
        }
    }
    let (positions, records): (Vec<usize>, Vec<_>) = allowed.into_iter().unzip();
    let outcomes = st.storage.put_records(scope, records).await?;
    for (i, outcome) in positions.into_iter().zip(outcomes) {
        verdicts[i] = Some(outcome);
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
    st.member(scope, &signed, true).await?;
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

async fn observe<S: Storage>(State(st): St<S>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    st.metrics.request(&route, status, seconds);
    if route != "/metrics" && route != "/healthz" {
        tracing::info!(%method, %route, status, ms = seconds * 1000.0, "request");
    }
    response
}

pub(crate) fn router<S: Storage>(config: Config, storage: S) -> Router {
    let limit = config.max_body_bytes;
    let shared = Arc::new(Shared {
        limiter: RateLimiter::new(config.rate_per_second, config.rate_burst),
        storage,
        config,
        metrics: Metrics::default(),
        seen: std::sync::Mutex::default(),
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/v1/scopes", post(create_scope::<S>))
        .route("/v1/enroll", post(enroll::<S>))
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
        .route("/v1/scopes/{scope}/keys", get(keys::<S>))
        .route("/v1/scopes/{scope}/heads", get(heads::<S>))
        .route("/v1/scopes/{scope}/records", post(upload::<S>))
        .route("/v1/scopes/{scope}/fetch", post(fetch::<S>))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(shared.clone(), observe::<S>))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}
