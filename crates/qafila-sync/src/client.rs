//! The relay's HTTP client: every request signed with the device key for
//! this relay (its id from `GET /v1/hello`), with the relay's clock and a
//! fresh nonce; every error answer turned into a [`SyncError`] that says
//! what to do. Its TLS follows the relay's address ([`crate::address`]):
//! a pinned certificate, or WebPKI, or plain HTTP to loopback only. What it
//! reads from a relay is bounded: an answer larger than it could need is
//! refused, downloads included.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use qafila_proto::auth::Stamp;
use qafila_proto::batch::{Cursors, Fetch, Frame, FrameReader, Outcomes, Upload};
use qafila_proto::control::{
    Approve, CertificateOutcomes, Certificates, CreateScope, Enroll, Enrolled, Hello, Invite,
    Member, Revoke, WrappedKey,
};
use qafila_proto::{ApiError, Uid};

use crate::SyncError;
use crate::address::{PinnedCertificate, Refused, RelayAddress};
use crate::transport::{Relay, Sink};

/// Most bytes read from a relay's JSON or binary answer (a convoy's
/// member list with certificates, key grants, heads, outcomes).
pub const MAX_ANSWER_BYTES: u64 = 16 << 20;
/// Most bytes read from an error answer.
const MAX_ERROR_BYTES: u64 = 64 << 10;
/// What a download may carry beyond what it asked for: a relay fills a
/// page past its budget by at most one record, and frames its stream.
const FETCH_SLACK_BYTES: u64 = qafila_proto::MAX_UPLOAD_BYTES as u64 + (64 << 10);

/// A connection to one relay, as one device.
#[derive(Debug, Clone)]
pub struct RelayClient {
    http: reqwest::Client,
    /// Where requests go (`scheme://host:port`).
    base: String,
    /// The address as stored and shown (with its pin).
    address: String,
    /// Where the pinned verifier leaves a refused certificate's fingerprint.
    refused: Option<Refused>,
    device: Uid,
    key: SigningKey,
    create_token: Option<String>,
    /// The relay's id and how far its clock is from ours (ms, relay minus
    /// ours), once asked.
    hello: Arc<Mutex<Option<(Uid, i64)>>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RelayClient {
    /// A client for the relay at `address` (see [`crate::address`]):
    /// refuses plain HTTP to another machine before connecting.
    pub fn new(address: &str, device: Uid, key: SigningKey) -> Result<Self, SyncError> {
        let parsed = RelayAddress::parse(address)?;
        // One client per connection to a relay: a reqwest client's pooled
        // connections belong to the tokio runtime that opened them, and
        // each sync may run on its own runtime.
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            // A relay closes a connection idle for its header-read timeout
            // (10 s by default, 2 s in tests): let go of idle ones sooner, so
            // a request is never sent on a connection the relay is closing.
            // A sync's requests follow each other within milliseconds.
            .pool_idle_timeout(Duration::from_secs(1))
            // A relay never redirects; following one could leave the pin.
            .redirect(reqwest::redirect::Policy::none());
        let mut refused = None;
        if let Some(pin) = parsed.pin {
            let (config, seen) = PinnedCertificate::config(pin)?;
            builder = builder.tls_backend_preconfigured(config);
            refused = Some(seen);
        }
        let http = builder
            .build()
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        Ok(RelayClient {
            http,
            address: parsed.text(),
            base: parsed.base,
            refused,
            device,
            key,
            create_token: None,
            hello: Arc::new(Mutex::new(None)),
        })
    }

    /// Sends the relay operator's convoy-creation token (needed only to
    /// create a convoy on a relay that requires one).
    pub fn with_create_token(mut self, token: Option<&str>) -> Self {
        self.create_token = token.map(str::to_owned).filter(|t| !t.is_empty());
        self
    }

    /// Where requests go (`scheme://host:port`, without the pin).
    pub fn base(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: &reqwest::Error) -> SyncError {
        if let Some(shown) = self
            .refused
            .as_ref()
            .and_then(|r| r.lock().unwrap_or_else(|p| p.into_inner()).take())
        {
            return SyncError::CertificateMismatch {
                relay: self.address.clone(),
                shown,
            };
        }
        // The whole chain: "error sending request" alone says nothing.
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        SyncError::Unreachable {
            relay: self.address.clone(),
            detail,
        }
    }

    /// Reads an answer's body, refusing one longer than `limit`.
    async fn read(&self, response: reqwest::Response, limit: u64) -> Result<Vec<u8>, SyncError> {
        let too_large = || SyncError::AnswerTooLarge {
            relay: self.address.clone(),
            limit,
        };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut stream = response.bytes_stream();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(&e))?;
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// How far the relay's clock is ahead of this device's (ms), asking
    /// the relay if this client has not yet.
    pub async fn relay_clock(&self) -> Result<i64, SyncError> {
        Ok(self.hello(false).await?.1)
    }

    /// The relay's id and its clock's offset from ours, asked once per
    /// client (again after the relay said our time was off).
    async fn hello(&self, fresh: bool) -> Result<(Uid, i64), SyncError> {
        if !fresh && let Some(known) = *self.hello.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(known);
        }
        let asked = now_ms();
        let response = self
            .http
            .get(format!("{}/v1/hello", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if !response.status().is_success() {
            return Err(SyncError::Protocol(format!(
                "{} is not a Qafila relay (its /v1/hello answered {})",
                self.base,
                response.status()
            )));
        }
        let bytes = self.read(response, MAX_ERROR_BYTES).await?;
        let hello: Hello = serde_json::from_slice(&bytes).map_err(|e| {
            SyncError::Protocol(format!("{} is not a Qafila relay: {e}", self.base))
        })?;
        // Half the round trip is a fair guess of when the relay read its clock.
        let midpoint = asked + (now_ms().saturating_sub(asked)) / 2;
        let offset = i64::try_from(hello.time_ms).unwrap_or(i64::MAX)
            - i64::try_from(midpoint).unwrap_or(i64::MAX);
        let known = (hello.relay, offset);
        *self.hello.lock().unwrap_or_else(|p| p.into_inner()) = Some(known);
        Ok(known)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        json: bool,
    ) -> Result<reqwest::Response, SyncError> {
        match self
            .send_once(method.clone(), path, body.clone(), json, false)
            .await
        {
            // Our idea of the relay's clock went stale (a phone's clock
            // jumped): ask again, once.
            Err(SyncError::Relay { error, .. }) if error.code == "clock_skew" => {
                self.send_once(method, path, body, json, true).await
            }
            other => other,
        }
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        json: bool,
        fresh: bool,
    ) -> Result<reqwest::Response, SyncError> {
        let (relay, offset) = self.hello(fresh).await?;
        let stamp = Stamp {
            relay,
            ts_ms: now_ms().saturating_add_signed(offset),
            nonce: crate::crypto::random()?,
        };
        let auth =
            qafila_proto::auth::sign(&self.key, self.device, stamp, method.as_str(), path, &body);
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(qafila_proto::auth::HEADER, auth);
        if let Some(token) = &self.create_token {
            request = request.header(qafila_proto::control::CREATE_TOKEN_HEADER, token);
        }
        let response = request
            .header(
                reqwest::header::CONTENT_TYPE,
                if json {
                    "application/json"
                } else {
                    "application/x-qafila"
                },
            )
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let bytes = self.read(response, MAX_ERROR_BYTES).await?;
        let error = serde_json::from_slice::<ApiError>(&bytes).unwrap_or_else(|_| {
            ApiError::new(
                "relay_error",
                String::from_utf8_lossy(&bytes).into_owned(),
                "خطأ من الخادم",
            )
        });
        Err(SyncError::Relay { status, error })
    }

    async fn json<T: serde::Serialize>(
        &self,
        path: &str,
        value: &T,
    ) -> Result<reqwest::Response, SyncError> {
        let body = serde_json::to_vec(value).map_err(|e| SyncError::Protocol(e.to_string()))?;
        self.send(reqwest::Method::POST, path, body, true).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, SyncError> {
        let response = self
            .send(reqwest::Method::GET, path, Vec::new(), true)
            .await?;
        let bytes = self.read(response, MAX_ANSWER_BYTES).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| SyncError::Protocol(format!("the relay answered malformed JSON: {e}")))
    }
}

impl Relay for RelayClient {
    fn clock_offset(&self) -> Option<i64> {
        self.hello
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|(_, offset)| offset)
    }

    fn address(&self) -> &str {
        &self.address
    }

    async fn create_scope(&self, request: &CreateScope) -> Result<(), SyncError> {
        self.json("/v1/scopes", request).await.map(drop)
    }

    async fn invite(&self, scope: Uid, invite: &Invite) -> Result<(), SyncError> {
        self.json(&format!("/v1/scopes/{scope}/invites"), invite)
            .await
            .map(drop)
    }

    async fn enroll(&self, request: &Enroll) -> Result<Enrolled, SyncError> {
        let response = self.json("/v1/enroll", request).await?;
        let bytes = self.read(response, MAX_ANSWER_BYTES).await?;
        serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    async fn members(&self, scope: Uid) -> Result<Vec<Member>, SyncError> {
        self.get(&format!("/v1/scopes/{scope}/members")).await
    }

    async fn approve(&self, scope: Uid, device: Uid, request: &Approve) -> Result<(), SyncError> {
        self.json(
            &format!("/v1/scopes/{scope}/members/{device}/approve"),
            request,
        )
        .await
        .map(drop)
    }

    async fn revoke(&self, scope: Uid, device: Uid, request: &Revoke) -> Result<(), SyncError> {
        self.json(
            &format!("/v1/scopes/{scope}/members/{device}/revoke"),
            request,
        )
        .await
        .map(drop)
    }

    async fn certificates(
        &self,
        scope: Uid,
        request: &Certificates,
    ) -> Result<CertificateOutcomes, SyncError> {
        let response = self
            .json(&format!("/v1/scopes/{scope}/certificates"), request)
            .await?;
        let bytes = self.read(response, MAX_ANSWER_BYTES).await?;
        serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    async fn keys(&self, scope: Uid) -> Result<Vec<WrappedKey>, SyncError> {
        self.get(&format!("/v1/scopes/{scope}/keys")).await
    }

    async fn heads(&self, scope: Uid) -> Result<Cursors, SyncError> {
        let response = self
            .send(
                reqwest::Method::GET,
                &format!("/v1/scopes/{scope}/heads"),
                Vec::new(),
                false,
            )
            .await?;
        let bytes = self.read(response, MAX_ANSWER_BYTES).await?;
        Cursors::decode(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    async fn upload(&self, scope: Uid, upload: &Upload) -> Result<Outcomes, SyncError> {
        let response = self
            .send(
                reqwest::Method::POST,
                &format!("/v1/scopes/{scope}/records"),
                upload.encode(),
                false,
            )
            .await?;
        let bytes = self.read(response, MAX_ANSWER_BYTES).await?;
        let outcomes = Outcomes::decode(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))?;
        if outcomes.0.len() != upload.records.len() {
            return Err(SyncError::Protocol(
                "the relay answered a different number of outcomes".into(),
            ));
        }
        Ok(outcomes)
    }

    /// Hands records to `sink` in batches as they stream in. If the stream
    /// is cut, what arrived whole has been handed over and the error says
    /// so.
    async fn fetch(&self, scope: Uid, fetch: &Fetch, sink: Sink<'_>) -> Result<bool, SyncError> {
        let response = self
            .send(
                reqwest::Method::POST,
                &format!("/v1/scopes/{scope}/fetch"),
                fetch.encode(),
                false,
            )
            .await?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES)
        {
            return Err(SyncError::AnswerTooLarge {
                relay: self.address.clone(),
                limit: MAX_ANSWER_BYTES,
            });
        }
        // A download is bounded by what it asked for, plus one record.
        let limit = u64::from(fetch.max_bytes).saturating_add(FETCH_SLACK_BYTES);
        let mut received = 0u64;
        let mut stream = response.bytes_stream();
        let mut reader = FrameReader::new();
        let mut batch = Vec::new();
        let mut more = None;
        while more.is_none() {
            let Some(chunk) = stream.next().await else {
                break;
            };
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    if !batch.is_empty() {
                        sink(std::mem::take(&mut batch))?;
                    }
                    return Err(self.unreachable(&e));
                }
            };
            received = received.saturating_add(chunk.len() as u64);
            if received > limit {
                if !batch.is_empty() {
                    sink(std::mem::take(&mut batch))?;
                }
                return Err(SyncError::AnswerTooLarge {
                    relay: self.address.clone(),
                    limit,
                });
            }
            reader.feed(&chunk);
            while let Some(frame) = reader
                .next_frame()
                .map_err(|e| SyncError::Protocol(e.to_string()))?
            {
                match frame {
                    Frame::Record(record) => {
                        batch.push(record);
                        if batch.len() >= 512 {
                            sink(std::mem::take(&mut batch))?;
                        }
                    }
                    Frame::End { more: m } => more = Some(m),
                }
            }
        }
        if !batch.is_empty() {
            sink(batch)?;
        }
        more.ok_or_else(|| SyncError::Unreachable {
            relay: self.address.clone(),
            detail: "the download was cut before its end".into(),
        })
    }
}
