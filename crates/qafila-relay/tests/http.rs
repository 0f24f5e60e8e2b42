//! The relay over HTTP, as a client sees it: a relay served in-process on a
//! loopback port (SQLite in a temporary directory), talked to with
//! `reqwest` and signed requests. Every refusal must be the documented
//! status with a JSON [`ApiError`] carrying a stable code and messages in
//! English and Arabic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use qafila_proto::auth::Stamp;
use qafila_proto::batch::{Cursors, Fetch, Frame, FrameReader, Outcome, Outcomes, Upload};
use qafila_proto::cert::{CertRole, Certificate, Standing};
use qafila_proto::control::{
    Approve, B64, CertificateOutcomes, Certificates, CreateScope, DeviceKey, DeviceKeys, Enroll,
    Enrolled, Hello, Invite, Member, Revoke, WrappedKey,
};
use qafila_proto::record::{Record, RecordHeader, RecordKind};
use qafila_proto::{ApiError, Uid};
use qafila_relay::storage::sqlite::SqliteStorage;
use qafila_relay::{Config, RelayError};
use reqwest::{Method, Response, StatusCode, header};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const BINARY: &str = "application/x-qafila";
const JSON: &str = "application/json";

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// 32 fixed but random-looking bytes derived from a label.
fn bytes_of(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A relay running in this process until [`Relay::stop`].
struct Relay {
    base: String,
    /// Its id (`GET /v1/hello`): requests are signed for it.
    id: Uid,
    http: reqwest::Client,
    shutdown: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), RelayError>>,
    _dir: tempfile::TempDir,
}

/// A device: its id, signing key and public identity.
struct Device {
    id: Uid,
    key: SigningKey,
    keys: DeviceKeys,
}

impl Device {
    fn new(label: &str) -> Device {
        let id = Uid(bytes_of(&format!("device id {label}"))[..16]
            .try_into()
            .unwrap());
        let key = SigningKey::from_bytes(&bytes_of(&format!("signing key {label}")));
        let keys = DeviceKeys {
            device: id,
            name: format!("Tablet {label}"),
            signing: B64(key.verifying_key().to_bytes().to_vec()),
            encryption: B64(bytes_of(&format!("x25519 {label}")).to_vec()),
        };
        Device { id, key, keys }
    }
}

fn scope_id(label: &str) -> Uid {
    Uid(bytes_of(&format!("scope {label}"))[..16]
        .try_into()
        .unwrap())
}

/// A log record of `device` at `seq` whose ciphertext is `len` bytes
/// derived from `salt`.
fn record(scope: Uid, device: Uid, seq: u64, salt: &str, len: usize) -> Record {
    let mut ciphertext = Vec::with_capacity(len);
    let mut block = 0u32;
    while ciphertext.len() < len {
        ciphertext.extend_from_slice(&bytes_of(&format!("{salt} {device} {seq} {block}")));
        block += 1;
    }
    ciphertext.truncate(len);
    Record {
        header: RecordHeader {
            scope,
            device,
            seq,
            epoch: 1,
            kind: RecordKind::Log,
        },
        ciphertext,
    }
}

/// A configuration that never rate-limits the tests unless they ask.
fn config() -> Config {
    Config {
        rate_per_second: 10_000,
        rate_burst: 10_000,
        address_rate_per_minute: 1_000_000,
        address_rate_burst: 10_000,
        ..Config::default()
    }
}

impl Relay {
    async fn start(config: Config) -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let config = config.with_overrides(None, Some(path.clone()), None);
        let storage = SqliteStorage::open(&path).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = oneshot::channel::<()>();
        let handle = tokio::spawn(qafila_relay::serve_with(
            config,
            storage,
            listener,
            async move {
                let _ = stop.await;
            },
        ));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let hello: Hello = http
            .get(format!("{base}/v1/hello"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(hello.time_ms.abs_diff(now_ms()) < 60_000);
        Relay {
            base,
            id: hello.relay,
            http,
            shutdown,
            handle,
            _dir: dir,
        }
    }

    /// Stops the relay and checks it stopped cleanly.
    async fn stop(self) {
        let Relay {
            http,
            shutdown,
            handle,
            _dir,
            ..
        } = self;
        drop(http);
        shutdown.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(30), handle)
            .await
            .expect("the relay did not stop within 30 s")
            .unwrap()
            .unwrap();
    }

    /// A request with whatever Authorization header the test chooses.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        authorization: Option<String>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, content_type)
            .body(body);
        if let Some(value) = authorization {
            request = request.header(qafila_proto::auth::HEADER, value);
        }
        request.send().await.unwrap()
    }

    /// A stamp for this relay at `ts_ms` with a fresh nonce.
    fn stamp(&self, ts_ms: u64) -> Stamp {
        Stamp {
            relay: self.id,
            ts_ms,
            nonce: fresh_nonce(),
        }
    }

    /// A request signed by `device` at `ts_ms`.
    async fn signed_at(
        &self,
        device: &Device,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        ts_ms: u64,
    ) -> Response {
        let auth = qafila_proto::auth::sign(
            &device.key,
            device.id,
            self.stamp(ts_ms),
            method.as_str(),
            path,
            &body,
        );
        self.raw(method, path, Some(auth), content_type, body).await
    }

    /// A request signed by `device` now.
    async fn signed(
        &self,
        device: &Device,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        self.signed_at(device, method, path, content_type, body, now_ms())
            .await
    }

    async fn post_json<T: serde::Serialize>(
        &self,
        device: &Device,
        path: &str,
        value: &T,
    ) -> Response {
        self.signed(
            device,
            Method::POST,
            path,
            JSON,
            serde_json::to_vec(value).unwrap(),
        )
        .await
    }

    async fn get(&self, device: &Device, path: &str) -> Response {
        self.signed(device, Method::GET, path, JSON, Vec::new())
            .await
    }

    async fn unsigned_get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// Creates `scope` with `lead` as its lead.
    async fn create_scope(&self, lead: &Device, scope: Uid) {
        let request = CreateScope {
            scope,
            lead: lead.keys.clone(),
            members: Vec::new(),
            keys: vec![DeviceKey {
                device: lead.id,
                key: grant(1, b"scope key 1 wrapped to the lead"),
            }],
        };
        let response = self.post_json(lead, "/v1/scopes", &request).await;
        no_content(response).await;
    }

    /// The lead stores the hash of `secret` as a code for `uses` devices.
    async fn invite(&self, lead: &Device, scope: Uid, secret: &str, uses: u32) {
        let invite = Invite {
            code_hash: hex(&Sha256::digest(secret.as_bytes())),
            expires_ms: now_ms() + 3_600_000,
            lifetime_ms: None,
            uses,
        };
        let response = self
            .post_json(lead, &format!("/v1/scopes/{scope}/invites"), &invite)
            .await;
        no_content(response).await;
    }

    async fn enroll(&self, device: &Device, secret: &str) -> Response {
        let request = Enroll {
            code_hash: hex(&Sha256::digest(secret.as_bytes())),
            device: device.keys.clone(),
            binding: B64(bytes_of(&format!("binding {secret}")).to_vec()),
        };
        self.post_json(device, "/v1/enroll", &request).await
    }

    async fn approve(&self, lead: &Device, scope: Uid, device: &Device) -> Response {
        let approve = Approve {
            certificate: B64(certificate(lead, scope, device, Standing::Approved, 1)),
            keys: vec![grant(
                1,
                format!("scope key 1 wrapped to {}", device.id).as_bytes(),
            )],
        };
        self.post_json(
            lead,
            &format!("/v1/scopes/{scope}/members/{}/approve", device.id),
            &approve,
        )
        .await
    }

    /// Enrolls `device` with a fresh code and has `lead` approve it.
    async fn join(&self, lead: &Device, scope: Uid, device: &Device) {
        let secret = format!("code for {}", device.id);
        self.invite(lead, scope, &secret, 1).await;
        let response = self.enroll(device, &secret).await;
        assert_eq!(response.status(), StatusCode::OK);
        no_content(self.approve(lead, scope, device).await).await;
    }

    async fn upload_response(&self, device: &Device, scope: Uid, records: &[Record]) -> Response {
        let body = Upload {
            records: records.to_vec(),
        }
        .encode();
        self.signed(
            device,
            Method::POST,
            &format!("/v1/scopes/{scope}/records"),
            BINARY,
            body,
        )
        .await
    }

    /// Uploads records and returns the relay's verdict on each.
    async fn upload(&self, device: &Device, scope: Uid, records: &[Record]) -> Vec<Outcome> {
        let response = self.upload_response(device, scope, records).await;
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "upload refused: {}",
            String::from_utf8_lossy(&bytes)
        );
        let outcomes = Outcomes::decode(&bytes).unwrap().0;
        assert_eq!(outcomes.len(), records.len(), "one outcome per record");
        outcomes
    }

    /// Downloads what lies after `cursors`: the records and the end
    /// frame's `more`.
    async fn fetch(
        &self,
        device: &Device,
        scope: Uid,
        max_bytes: u32,
        cursors: &Cursors,
    ) -> (Vec<Record>, bool) {
        let body = Fetch {
            max_bytes,
            cursors: cursors.clone(),
        }
        .encode();
        let mut response = self
            .signed(
                device,
                Method::POST,
                &format!("/v1/scopes/{scope}/fetch"),
                BINARY,
                body,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(content_type(&response), BINARY);
        let mut reader = FrameReader::new();
        let mut records = Vec::new();
        let mut end = None;
        while let Some(chunk) = response.chunk().await.unwrap() {
            reader.feed(&chunk);
            while let Some(frame) = reader.next_frame().unwrap() {
                assert!(end.is_none(), "a frame after the end frame");
                match frame {
                    Frame::Record(record) => records.push(record),
                    Frame::End { more } => end = Some(more),
                }
            }
        }
        assert!(reader.ended(), "the stream ended without an end frame");
        (records, end.unwrap())
    }

    async fn heads(&self, device: &Device, scope: Uid) -> Cursors {
        let response = self.get(device, &format!("/v1/scopes/{scope}/heads")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(content_type(&response), BINARY);
        Cursors::decode(&response.bytes().await.unwrap()).unwrap()
    }

    async fn assert_healthy(&self) {
        let response = self.unsigned_get("/healthz").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "ok");
    }
}

fn fresh_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).unwrap();
    nonce
}

/// A key grant as the relay stores it (the relay never opens grants).
fn grant(epoch: u32, wrapped: &[u8]) -> WrappedKey {
    WrappedKey {
        epoch,
        wrapped: B64(wrapped.to_vec()),
        signature: B64(vec![7; 64]),
        revocations: Vec::new(),
    }
}

/// A certificate `lead` signs for `device`.
fn certificate(
    lead: &Device,
    scope: Uid,
    device: &Device,
    standing: Standing,
    version: u32,
) -> Vec<u8> {
    Certificate {
        scope,
        device: device.id,
        name: device.keys.name.clone(),
        signing: device.keys.signing.key().unwrap(),
        encryption: device.keys.encryption.key().unwrap(),
        role: CertRole::Volunteer,
        standing,
        version,
        since: 1,
        prior_hash: [0; 32],
        rotated_to: 0,
        earlier: Vec::new(),
    }
    .sign(&lead.key)
}

fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn no_content(response: Response) {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn json_of<T: serde::de::DeserializeOwned>(response: Response) -> T {
    let status = response.status();
    let body = response.bytes().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// Checks that `response` is the refusal `status` with a JSON [`ApiError`]
/// whose code is `code` and whose messages are not empty.
async fn api_error(response: Response, status: StatusCode, code: &str) -> ApiError {
    let got = response.status();
    let kind = content_type(&response);
    let body = response.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&body);
    assert_eq!(got, status, "expected {status} {code}, got {got}: {text}");
    assert!(
        kind.starts_with(JSON),
        "the {got} answer is {kind:?}, not JSON: {text}"
    );
    let error: ApiError = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("the {got} answer is not an ApiError ({e}): {text}"));
    assert_eq!(error.code, code, "{text}");
    assert!(!error.message.trim().is_empty(), "{text}");
    assert!(!error.message_ar.trim().is_empty(), "{text}");
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_upload_download_and_revocation_over_http() {
    let relay = Relay::start(config()).await;
    let scope = scope_id("happy");
    let lead = Device::new("lead");
    let tablet = Device::new("tablet");

    // The lead registers the convoy and an enrollment code.
    relay.create_scope(&lead, scope).await;
    let secret = "QFL-7Q2M-K9XD";
    relay.invite(&lead, scope, secret, 1).await;

    // A tablet enrolls and learns who leads the convoy.
    let enrolled: Enrolled = json_of(relay.enroll(&tablet, secret).await).await;
    assert_eq!(enrolled.scope, scope);
    assert_eq!(enrolled.lead, lead.keys);

    // Until the lead approves, it gets no keys.
    let keys_path = format!("/v1/scopes/{scope}/keys");
    api_error(
        relay.get(&tablet, &keys_path).await,
        StatusCode::FORBIDDEN,
        "pending_approval",
    )
    .await;

    no_content(relay.approve(&lead, scope, &tablet).await).await;
    let keys: Vec<WrappedKey> = json_of(relay.get(&tablet, &keys_path).await).await;
    assert_eq!(
        keys,
        vec![grant(
            1,
            format!("scope key 1 wrapped to {}", tablet.id).as_bytes()
        )]
    );
    let members: Vec<Member> = json_of(
        relay
            .get(&lead, &format!("/v1/scopes/{scope}/members"))
            .await,
    )
    .await;
    let member = members
        .iter()
        .find(|m| m.keys.device == tablet.id)
        .expect("the tablet is listed");
    assert_eq!(member.status, "approved");
    assert_eq!(member.role, "volunteer");
    assert_eq!(member.version, 1);
    assert_eq!(
        member.certificate,
        B64(certificate(&lead, scope, &tablet, Standing::Approved, 1))
    );

    // The tablet uploads its log; a retry is harmless.
    let records: Vec<Record> = (1..=3)
        .map(|seq| record(scope, tablet.id, seq, "log", 100))
        .collect();
    assert_eq!(
        relay.upload(&tablet, scope, &records).await,
        vec![Outcome::Stored; 3]
    );
    assert_eq!(
        relay.upload(&tablet, scope, &records).await,
        vec![Outcome::Duplicate; 3]
    );

    // Another record at a taken seq, a gap, and someone else's log.
    let other_at_2 = record(scope, tablet.id, 2, "forged", 100);
    assert_eq!(
        relay
            .upload(&tablet, scope, std::slice::from_ref(&other_at_2))
            .await,
        vec![Outcome::Conflict]
    );
    let at_5 = record(scope, tablet.id, 5, "log", 100);
    assert_eq!(
        relay
            .upload(&tablet, scope, std::slice::from_ref(&at_5))
            .await,
        vec![Outcome::Gap { expected: 4 }]
    );
    let leads = record(scope, lead.id, 1, "log", 100);
    assert_eq!(
        relay
            .upload(&tablet, scope, std::slice::from_ref(&leads))
            .await,
        vec![Outcome::Forbidden]
    );
    // Mixed in one batch, each verdict lands at its record's position.
    assert_eq!(
        relay
            .upload(
                &tablet,
                scope,
                &[leads, at_5, other_at_2, records[2].clone()]
            )
            .await,
        vec![
            Outcome::Forbidden,
            Outcome::Gap { expected: 4 },
            Outcome::Conflict,
            Outcome::Duplicate
        ]
    );

    // The lead downloads exactly those three records.
    let (got, more) = relay
        .fetch(&lead, scope, 1 << 20, &Cursors::default())
        .await;
    assert_eq!(got, records);
    assert!(!more);

    // In small pages, following the cursors, each comes exactly once.
    let mut cursors = Cursors::default();
    let mut paged = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 10, "paging does not end");
        let (page, more) = relay.fetch(&lead, scope, 1, &cursors).await;
        if more {
            assert!(!page.is_empty(), "a page that says more but holds nothing");
        }
        if let Some(last) = page.last() {
            cursors = Cursors(vec![(tablet.id, last.header.seq)]);
        }
        paged.extend(page);
        if !more {
            break;
        }
    }
    assert!(pages > 1, "a 1-byte budget should need several pages");
    assert_eq!(paged, records);
    let (rest, more) = relay
        .fetch(&lead, scope, 1 << 20, &Cursors(vec![(tablet.id, 3)]))
        .await;
    assert!(rest.is_empty());
    assert!(!more);

    assert_eq!(
        relay.heads(&lead, scope).await,
        Cursors(vec![(tablet.id, 3)])
    );

    // The lead revokes the tablet: it is refused from then on.
    let revoke = Revoke {
        certificate: B64(certificate(&lead, scope, &tablet, Standing::Revoked, 2)),
        rotation: Vec::new(),
    };
    no_content(
        relay
            .post_json(
                &lead,
                &format!("/v1/scopes/{scope}/members/{}/revoke", tablet.id),
                &revoke,
            )
            .await,
    )
    .await;
    api_error(
        relay
            .get(&tablet, &format!("/v1/scopes/{scope}/heads"))
            .await,
        StatusCode::FORBIDDEN,
        "device_revoked",
    )
    .await;

    // The one-use code is spent; an unknown code is not found.
    let phone = Device::new("phone");
    api_error(
        relay.enroll(&phone, secret).await,
        StatusCode::GONE,
        "code_spent",
    )
    .await;
    api_error(
        relay.enroll(&phone, "QFL-NOPE-NOPE").await,
        StatusCode::NOT_FOUND,
        "unknown_code",
    )
    .await;

    relay.assert_healthy().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_the_relay_keeps_serving() {
    let relay = Relay::start(Config {
        max_body_bytes: 64 << 10,
        ..config()
    })
    .await;
    let scope = scope_id("bad input");
    let lead = Device::new("bad lead");
    let member = Device::new("bad member");
    relay.create_scope(&lead, scope).await;
    relay.join(&lead, scope, &member).await;
    let heads = format!("/v1/scopes/{scope}/heads");
    let records = format!("/v1/scopes/{scope}/records");

    // No signature at all, or an unreadable one.
    api_error(
        relay.raw(Method::GET, &heads, None, JSON, Vec::new()).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    api_error(
        relay
            .raw(
                Method::GET,
                &heads,
                Some("Bearer abc".into()),
                JSON,
                Vec::new(),
            )
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let create = serde_json::to_vec(&CreateScope {
        scope: scope_id("unsigned"),
        lead: lead.keys.clone(),
        members: Vec::new(),
        keys: Vec::new(),
    })
    .unwrap();
    api_error(
        relay
            .raw(Method::POST, "/v1/scopes", None, JSON, create)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    // Signed by another key in the lead's name.
    let impostor = Device {
        key: SigningKey::from_bytes(&bytes_of("impostor key")),
        ..Device::new("bad lead")
    };
    let error = api_error(
        relay.get(&impostor, &heads).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert!(error.message.contains("signature"), "{error:?}");

    // An hour off the relay's clock, either way.
    for ts in [now_ms() - 3_600_000, now_ms() + 3_600_000] {
        let error = api_error(
            relay
                .signed_at(&lead, Method::GET, &heads, JSON, Vec::new(), ts)
                .await,
            StatusCode::UNAUTHORIZED,
            "clock_skew",
        )
        .await;
        assert!(error.message.contains("clock"), "{error:?}");
    }

    // A body changed after it was signed.
    let signed_body = Upload {
        records: vec![record(scope, lead.id, 1, "signed", 64)],
    }
    .encode();
    let sent_body = Upload {
        records: vec![record(scope, lead.id, 1, "altered", 64)],
    }
    .encode();
    let auth = qafila_proto::auth::sign(
        &lead.key,
        lead.id,
        relay.stamp(now_ms()),
        "POST",
        &records,
        &signed_body,
    );
    api_error(
        relay
            .raw(Method::POST, &records, Some(auth), BINARY, sent_body)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    // A signature for another path.
    let auth = qafila_proto::auth::sign(
        &lead.key,
        lead.id,
        relay.stamp(now_ms()),
        "GET",
        &format!("/v1/scopes/{scope}/keys"),
        &[],
    );
    api_error(
        relay
            .raw(Method::GET, &heads, Some(auth), JSON, Vec::new())
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    // A device this convoy does not know.
    let stranger = Device::new("stranger");
    api_error(
        relay.get(&stranger, &heads).await,
        StatusCode::FORBIDDEN,
        "unknown_device",
    )
    .await;
    api_error(
        relay
            .get(
                &lead,
                &format!("/v1/scopes/{}/heads", scope_id("elsewhere")),
            )
            .await,
        StatusCode::FORBIDDEN,
        "unknown_device",
    )
    .await;

    // Bytes that are not an upload.
    for garbage in [
        b"\x01garbage".to_vec(),
        Vec::new(),
        vec![9, 0, 0, 0, 0],
        vec![1, 1, 0, 0, 0],
    ] {
        api_error(
            relay
                .signed(&lead, Method::POST, &records, BINARY, garbage)
                .await,
            StatusCode::BAD_REQUEST,
            "malformed",
        )
        .await;
    }
    // JSON that is not the expected body.
    api_error(
        relay
            .signed(
                &lead,
                Method::POST,
                &format!("/v1/scopes/{scope}/invites"),
                JSON,
                b"{\"code_hash\": 5".to_vec(),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "malformed",
    )
    .await;

    // Over the body limit: 100 KiB against 64 KiB.
    let big = Upload {
        records: vec![record(scope, lead.id, 1, "big", 100 << 10)],
    }
    .encode();
    api_error(
        relay
            .signed(&lead, Method::POST, &records, BINARY, big)
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    )
    .await;

    // A convoy id that is not a UUID, and a route that does not exist.
    api_error(
        relay.get(&lead, "/v1/scopes/not-a-uuid/heads").await,
        StatusCode::BAD_REQUEST,
        "malformed",
    )
    .await;
    api_error(
        relay.get(&lead, "/v1/nowhere").await,
        StatusCode::NOT_FOUND,
        "no_route",
    )
    .await;
    api_error(
        relay.unsigned_get("/").await,
        StatusCode::NOT_FOUND,
        "no_route",
    )
    .await;

    // Only the lead approves.
    let newcomer = Device::new("newcomer");
    relay.invite(&lead, scope, "newcomer code", 1).await;
    assert_eq!(
        relay.enroll(&newcomer, "newcomer code").await.status(),
        StatusCode::OK
    );
    api_error(
        relay.approve(&member, scope, &newcomer).await,
        StatusCode::FORBIDDEN,
        "not_lead",
    )
    .await;

    // After all that, the relay still serves, and nothing was stored.
    assert_eq!(relay.heads(&lead, scope).await, Cursors::default());
    relay.assert_healthy().await;
    relay.stop().await;

    // Rate limits, on a relay allowing 1 request per second in bursts of 3.
    let relay = Relay::start(Config {
        rate_per_second: 1,
        rate_burst: 3,
        ..Config::default()
    })
    .await;
    let scope = scope_id("rate");
    let lead = Device::new("hasty lead");
    relay.create_scope(&lead, scope).await;
    let heads = format!("/v1/scopes/{scope}/heads");
    // The burst allows two more; within a few more the limit answers.
    let mut limited = None;
    for attempt in 0..8 {
        let response = relay.get(&lead, &heads).await;
        if attempt < 2 {
            assert_eq!(response.status(), StatusCode::OK, "within the burst");
            continue;
        }
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = limited.expect("the rate limit never answered 429");
    let retry_after: u64 = response
        .headers()
        .get(header::RETRY_AFTER)
        .expect("a retry-after header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "retry-after {retry_after}");
    api_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another device is not held back by this one.
    let other = Device::new("patient lead");
    let other_scope = scope_id("patient");
    relay.create_scope(&other, other_scope).await;
    assert_eq!(relay.heads(&other, other_scope).await, Cursors::default());
    // And the hasty one is served again once it waited as told.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(relay.get(&lead, &heads).await.status(), StatusCode::OK);
    relay.assert_healthy().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_metrics() {
    let relay = Relay::start(config()).await;
    let response = relay.unsigned_get("/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ready");

    let scope = scope_id("metrics");
    let lead = Device::new("metrics lead");
    relay.create_scope(&lead, scope).await;
    let records: Vec<Record> = (1..=4)
        .map(|seq| record(scope, lead.id, seq, "metrics", 50))
        .collect();
    assert_eq!(
        relay.upload(&lead, scope, &records).await,
        vec![Outcome::Stored; 4]
    );
    assert_eq!(
        relay.upload(&lead, scope, &records[..1]).await,
        vec![Outcome::Duplicate]
    );

    let response = relay.unsigned_get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(content_type(&response).starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        text.lines().any(|line| line.starts_with(
            "qafila_relay_requests_total{route=\"/v1/scopes/{scope}/records\",status=\"200\"}"
        )),
        "{text}"
    );
    assert!(value("qafila_relay_records_stored_total") >= 4, "{text}");
    assert!(value("qafila_relay_records_duplicate_total") >= 1, "{text}");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_downloads_stream_across_storage_pages() {
    let relay = Relay::start(config()).await;
    let scope = scope_id("large");
    let lead = Device::new("large lead");
    let member = Device::new("large member");
    relay.create_scope(&lead, scope).await;
    relay.join(&lead, scope, &member).await;
    // 600 KiB in six records: more than one storage page (256 KiB).
    let mut expected = Vec::new();
    for device in [&lead, &member] {
        let records: Vec<Record> = (1..=3)
            .map(|seq| record(scope, device.id, seq, "large", 100 << 10))
            .collect();
        assert_eq!(
            relay.upload(device, scope, &records).await,
            vec![Outcome::Stored; 3]
        );
        expected.extend(records);
    }
    // Devices in id order, records in seq order.
    expected.sort_by_key(|r| (r.header.device, r.header.seq));

    let (got, more) = relay
        .fetch(&member, scope, 4 << 20, &Cursors::default())
        .await;
    assert!(!more);
    assert_eq!(got, expected);

    // With a budget under the total, pages follow the cursors to the end
    // and every record comes exactly once.
    let mut held: std::collections::BTreeMap<Uid, u64> = std::collections::BTreeMap::new();
    let mut paged = Vec::new();
    for pages in 1.. {
        assert!(pages <= 10, "paging does not end");
        let cursors = Cursors(held.iter().map(|(d, s)| (*d, *s)).collect());
        let (page, more) = relay.fetch(&member, scope, 250 << 10, &cursors).await;
        for record in &page {
            held.insert(record.header.device, record.header.seq);
        }
        paged.extend(page);
        if !more {
            assert!(pages > 1, "a 250 KiB budget should need several pages");
            break;
        }
    }
    assert_eq!(paged, expected);
    relay.stop().await;
}

/// Every 4xx carries a JSON [`ApiError`], including a method a route does
/// not accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_answered_with_a_json_error() {
    let relay = Relay::start(config()).await;
    for (method, path) in [
        (Method::GET, "/v1/enroll".to_owned()),
        (Method::DELETE, "/healthz".to_owned()),
        (
            Method::GET,
            format!("/v1/scopes/{}/records", scope_id("method")),
        ),
    ] {
        let response = relay
            .raw(method.clone(), &path, None, JSON, Vec::new())
            .await;
        let status = response.status();
        let kind = content_type(&response);
        let body = response.bytes().await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            kind.starts_with(JSON),
            "{method} {path}: the 405 answer is {kind:?}, not JSON: {text:?}"
        );
        let error: ApiError = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{method} {path}: not an ApiError ({e}): {text:?}"));
        assert!(!error.code.is_empty());
        assert!(!error.message.trim().is_empty());
        assert!(!error.message_ar.trim().is_empty());
    }
    relay.assert_healthy().await;
    relay.stop().await;
}

/// The relay's own part in the trust model (`SECURITY.md`), attacked
/// directly over HTTP: replayed and misdirected requests, certificates the
/// lead did not sign, an approval after a revocation, old certificates
/// served again, and registry records that would wipe another device's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_replays_forgeries_and_undoing_a_revocation() {
    let relay = Relay::start(config()).await;
    let scope = scope_id("attacks");
    let lead = Device::new("attack lead");
    let tablet = Device::new("attack tablet");
    relay.create_scope(&lead, scope).await;
    let heads = format!("/v1/scopes/{scope}/heads");

    // A captured request, sent again: refused, for data and control alike.
    let auth = qafila_proto::auth::sign(
        &lead.key,
        lead.id,
        relay.stamp(now_ms()),
        "GET",
        &heads,
        &[],
    );
    let first = relay
        .raw(Method::GET, &heads, Some(auth.clone()), JSON, Vec::new())
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    api_error(
        relay
            .raw(Method::GET, &heads, Some(auth), JSON, Vec::new())
            .await,
        StatusCode::UNAUTHORIZED,
        "replayed",
    )
    .await;
    let invite = Invite {
        code_hash: hex(&Sha256::digest(b"attack code")),
        expires_ms: now_ms() + 3_600_000,
        lifetime_ms: None,
        uses: 1,
    };
    let body = serde_json::to_vec(&invite).unwrap();
    let path = format!("/v1/scopes/{scope}/invites");
    let auth = qafila_proto::auth::sign(
        &lead.key,
        lead.id,
        relay.stamp(now_ms()),
        "POST",
        &path,
        &body,
    );
    no_content(
        relay
            .raw(Method::POST, &path, Some(auth.clone()), JSON, body.clone())
            .await,
    )
    .await;
    // Replayed after the code was used, to give it its use back: refused
    // as a replay, and as a fresh request the code is not renewed either.
    assert_eq!(
        relay.enroll(&tablet, "attack code").await.status(),
        StatusCode::OK
    );
    api_error(
        relay.raw(Method::POST, &path, Some(auth), JSON, body).await,
        StatusCode::UNAUTHORIZED,
        "replayed",
    )
    .await;
    api_error(
        relay.post_json(&lead, &path, &invite).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    api_error(
        relay.enroll(&Device::new("late"), "attack code").await,
        StatusCode::GONE,
        "code_spent",
    )
    .await;

    // Signed for another relay's id: refused here.
    let elsewhere = Stamp {
        relay: Uid([0x99; 16]),
        ts_ms: now_ms(),
        nonce: fresh_nonce(),
    };
    let auth = qafila_proto::auth::sign(&lead.key, lead.id, elsewhere, "GET", &heads, &[]);
    api_error(
        relay
            .raw(Method::GET, &heads, Some(auth), JSON, Vec::new())
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    // The way the previous version signed (no nonce): told to update.
    api_error(
        relay
            .raw(
                Method::GET,
                &heads,
                Some(format!(
                    "Qafila device={},ts={},sig={}",
                    lead.id,
                    now_ms(),
                    "A".repeat(86)
                )),
                JSON,
                Vec::new(),
            )
            .await,
        StatusCode::UPGRADE_REQUIRED,
        "client_outdated",
    )
    .await;

    // An approval the lead did not sign (the relay's own, say): refused.
    let mallory = Device::new("mallory");
    let approve_path = format!("/v1/scopes/{scope}/members/{}/approve", tablet.id);
    api_error(
        relay
            .post_json(
                &lead,
                &approve_path,
                &Approve {
                    certificate: B64(certificate(&mallory, scope, &tablet, Standing::Approved, 1)),
                    keys: Vec::new(),
                },
            )
            .await,
        StatusCode::BAD_REQUEST,
        "bad_certificate",
    )
    .await;
    // A genuine approval, then a revocation.
    no_content(relay.approve(&lead, scope, &tablet).await).await;
    let approval = certificate(&lead, scope, &tablet, Standing::Approved, 1);
    let revoke_path = format!("/v1/scopes/{scope}/members/{}/revoke", tablet.id);
    let revocation = certificate(&lead, scope, &tablet, Standing::Revoked, 2);
    no_content(
        relay
            .post_json(
                &lead,
                &revoke_path,
                &Revoke {
                    certificate: B64(revocation.clone()),
                    rotation: Vec::new(),
                },
            )
            .await,
    )
    .await;
    // Neither the old approval, nor a newer one, brings it back.
    for version in [1, 3] {
        api_error(
            relay
                .post_json(
                    &lead,
                    &approve_path,
                    &Approve {
                        certificate: B64(certificate(
                            &lead,
                            scope,
                            &tablet,
                            Standing::Approved,
                            version,
                        )),
                        keys: Vec::new(),
                    },
                )
                .await,
            StatusCode::CONFLICT,
            "revoked_final",
        )
        .await;
    }
    api_error(
        relay.get(&tablet, &heads).await,
        StatusCode::FORBIDDEN,
        "device_revoked",
    )
    .await;
    // Publishing an old roster with the approval: refused too.
    let republish = CreateScope {
        scope,
        lead: lead.keys.clone(),
        members: vec![Member {
            keys: tablet.keys.clone(),
            role: "volunteer".into(),
            status: "approved".into(),
            certificate: B64(approval.clone()),
            version: 1,
            invite: None,
            binding: B64::default(),
            last_seen_ms: None,
            made_after_ms: None,
            uploaded_ms: None,
        }],
        keys: Vec::new(),
    };
    api_error(
        relay.post_json(&lead, "/v1/scopes", &republish).await,
        StatusCode::CONFLICT,
        "revoked_final",
    )
    .await;
    let members: Vec<Member> = json_of(
        relay
            .get(&lead, &format!("/v1/scopes/{scope}/members"))
            .await,
    )
    .await;
    let listed = members.iter().find(|m| m.keys.device == tablet.id).unwrap();
    assert_eq!(listed.status, "revoked");
    assert_eq!(listed.certificate, B64(revocation));

    // Any member may pass on the lead's certificates (a revocation reaching
    // a site relay through a volunteer); forgeries are refused.
    let phone = Device::new("attack phone");
    relay.join(&lead, scope, &phone).await;
    let newer = certificate(&lead, scope, &phone, Standing::Approved, 2);
    let forged = certificate(&phone, scope, &phone, Standing::Approved, 9);
    let outcomes: CertificateOutcomes = json_of(
        relay
            .post_json(
                &phone,
                &format!("/v1/scopes/{scope}/certificates"),
                &Certificates {
                    certificates: vec![B64(newer), B64(forged), B64(approval)],
                },
            )
            .await,
    )
    .await;
    assert_eq!(outcomes.outcomes, vec!["applied", "refused", "refused"]);

    relay.stop().await;
}

/// A registry record replaces only its own device's earlier versions; an
/// erasure by the lead or a registrar replaces every device's; volunteers
/// may not upload registry records at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_records_supersede_only_their_own_devices_entries() {
    let relay = Relay::start(config()).await;
    let scope = scope_id("registry");
    let lead = Device::new("registry lead");
    let (registrar_a, registrar_b, volunteer) = (
        Device::new("registrar a"),
        Device::new("registrar b"),
        Device::new("registry volunteer"),
    );
    relay.create_scope(&lead, scope).await;
    for (device, role) in [
        (&registrar_a, CertRole::Registrar),
        (&registrar_b, CertRole::Registrar),
        (&volunteer, CertRole::Volunteer),
    ] {
        let secret = format!("code for {}", device.id);
        relay.invite(&lead, scope, &secret, 1).await;
        assert_eq!(relay.enroll(device, &secret).await.status(), StatusCode::OK);
        let bytes = Certificate {
            scope,
            device: device.id,
            name: device.keys.name.clone(),
            signing: device.keys.signing.key().unwrap(),
            encryption: device.keys.encryption.key().unwrap(),
            role,
            standing: Standing::Approved,
            version: 1,
            since: 1,
            prior_hash: [0; 32],
            rotated_to: 0,
            earlier: Vec::new(),
        }
        .sign(&lead.key);
        no_content(
            relay
                .post_json(
                    &lead,
                    &format!("/v1/scopes/{scope}/members/{}/approve", device.id),
                    &Approve {
                        certificate: B64(bytes),
                        keys: Vec::new(),
                    },
                )
                .await,
        )
        .await;
    }
    let keyed = |device: &Device, seq: u64, version: u64| {
        let mut r = record(scope, device.id, seq, "entry", 80);
        r.header.kind = RecordKind::Keyed {
            key: [5; 32],
            version,
        };
        r
    };
    let live = |records: &[Record]| -> usize {
        records
            .iter()
            .filter(|r| matches!(r.header.kind, RecordKind::Keyed { .. }))
            .count()
    };
    // Two registrars publish one person: both entries stay.
    assert_eq!(
        relay
            .upload(&registrar_a, scope, &[keyed(&registrar_a, 1, 1)])
            .await,
        vec![Outcome::Stored]
    );
    assert_eq!(
        relay
            .upload(&registrar_b, scope, &[keyed(&registrar_b, 1, 1)])
            .await,
        vec![Outcome::Stored]
    );
    let (records, _) = relay
        .fetch(&lead, scope, 1 << 20, &Cursors::default())
        .await;
    assert_eq!(live(&records), 2, "a registrar cannot wipe another's entry");
    // A volunteer may not upload registry records.
    assert_eq!(
        relay
            .upload(&volunteer, scope, &[keyed(&volunteer, 1, u64::MAX)])
            .await,
        vec![Outcome::Forbidden]
    );
    // A registrar's erasure wipes every copy, and nothing older comes back.
    assert_eq!(
        relay
            .upload(&registrar_b, scope, &[keyed(&registrar_b, 2, u64::MAX)])
            .await,
        vec![Outcome::Stored]
    );
    let (records, _) = relay
        .fetch(&lead, scope, 1 << 20, &Cursors::default())
        .await;
    assert_eq!(live(&records), 1, "only the tombstone is served");
    assert_eq!(
        relay
            .upload(&registrar_a, scope, &[keyed(&registrar_a, 2, 1)])
            .await,
        vec![Outcome::Superseded],
        "an erased person cannot be published again"
    );
    relay.stop().await;
}

/// A convoy cannot store more than its quota on a relay: the upload that
/// would pass it is refused whole with a JSON 507 that says what to do,
/// and the convoy's records up to then stay served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_convoy_over_its_quota_is_refused_with_507() {
    let relay = Relay::start(Config {
        convoy_quota_bytes: 40_000,
        ..config()
    })
    .await;
    let lead = Device::new("quota lead");
    let scope = scope_id("quota");
    relay.create_scope(&lead, scope).await;
    let first: Vec<Record> = (1..=3)
        .map(|seq| record(scope, lead.id, seq, "quota", 10_000))
        .collect();
    assert!(
        relay
            .upload(&lead, scope, &first)
            .await
            .iter()
            .all(|o| *o == Outcome::Stored)
    );
    let over: Vec<Record> = (4..=5)
        .map(|seq| record(scope, lead.id, seq, "quota", 10_000))
        .collect();
    let refused = api_error(
        relay.upload_response(&lead, scope, &over).await,
        StatusCode::INSUFFICIENT_STORAGE,
        "quota_exceeded",
    )
    .await;
    assert!(refused.message.contains("storage"), "{}", refused.message);
    let heads = relay.heads(&lead, scope).await;
    assert_eq!(heads.0, vec![(lead.id, 3)], "nothing of the refused upload");
    // Another convoy on the same relay has its own room.
    let other = Device::new("quota other");
    let other_scope = scope_id("quota other");
    relay.create_scope(&other, other_scope).await;
    relay
        .upload(
            &other,
            other_scope,
            &[record(other_scope, other.id, 1, "o", 10_000)],
        )
        .await;
    relay.stop().await;
}

/// One address cannot take every connection: past its share, its new
/// connections are closed at once, and another address is still served
/// (`/healthz` included); its share comes back when it lets go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let relay = Relay::start(Config {
        max_connections_per_address: 4,
        // Longer than the test waits: only the limit may close the fifth.
        header_read_timeout_ms: 120_000,
        ..config()
    })
    .await;
    let port: u16 = relay.base.rsplit(':').next().unwrap().parse().unwrap();
    let from = |last: u8| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, last], 0)))
            .unwrap();
        socket.connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(from(9).await.unwrap());
    }
    // The fifth from the same address is closed without an answer.
    let fifth = from(9).await.unwrap();
    let mut buffer = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            fifth.readable().await.unwrap();
            match fifth.try_read(&mut buffer) {
                Ok(n) => return n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return 0,
            }
        }
    })
    .await
    .expect("the fifth connection is closed");
    assert_eq!(closed, 0, "closed without an answer");
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 10]))
        .build()
        .unwrap();
    let health = other
        .get(format!("{}/healthz", relay.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK, "another address is served");
    drop(held);
    let again = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 9]))
        .build()
        .unwrap();
    let mut answered = false;
    for _ in 0..100 {
        // The relay notices the closed connections as it reads them.
        if let Ok(response) = again.get(format!("{}/healthz", relay.base)).send().await {
            answered = response.status() == StatusCode::OK;
            if answered {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "its share comes back once it lets go");
    relay.stop().await;
}
