//! The relay's HTTP client: every request signed with the device key,
//! every error answer turned into a [`SyncError`] that says what to do.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use qafila_proto::batch::{Cursors, Fetch, Frame, FrameReader, Outcomes, Upload};
use qafila_proto::control::{
    Approve, CreateScope, Enroll, Enrolled, Invite, Member, Revoke, WrappedKey,
};
use qafila_proto::record::Record;
use qafila_proto::{ApiError, Uid};

use crate::SyncError;

/// A connection to one relay, as one device.
#[derive(Debug, Clone)]
pub struct RelayClient {
    http: reqwest::Client,
    base: String,
    device: Uid,
    key: SigningKey,
    create_token: Option<String>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RelayClient {
    /// A client for the relay at `base` (`http://host:port`).
    pub fn new(base: &str, device: Uid, key: SigningKey) -> Result<Self, SyncError> {
        let base = base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SyncError::BadRelayUrl(base));
        }
        // One client per connection to a relay: a reqwest client's pooled
        // connections belong to the tokio runtime that opened them, and
        // each sync may run on its own runtime.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        Ok(RelayClient {
            http,
            base,
            device,
            key,
            create_token: None,
        })
    }

    /// Sends the relay operator's convoy-creation token (needed only to
    /// create a convoy on a relay that requires one).
    pub fn with_create_token(mut self, token: Option<&str>) -> Self {
        self.create_token = token.map(str::to_owned).filter(|t| !t.is_empty());
        self
    }

    /// The relay's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: &reqwest::Error) -> SyncError {
        SyncError::Unreachable {
            relay: self.base.clone(),
            detail: e.to_string(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        json: bool,
    ) -> Result<reqwest::Response, SyncError> {
        let auth = qafila_proto::auth::sign(
            &self.key,
            self.device,
            method.as_str(),
            path,
            now_ms(),
            &body,
        );
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
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
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
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| SyncError::Protocol(format!("the relay answered malformed JSON: {e}")))
    }

    /// Registers (or extends) a scope with this device as lead.
    pub async fn create_scope(&self, request: &CreateScope) -> Result<(), SyncError> {
        self.json("/v1/scopes", request).await.map(drop)
    }

    /// Stores an enrollment code's hash.
    pub async fn invite(&self, scope: Uid, invite: &Invite) -> Result<(), SyncError> {
        self.json(&format!("/v1/scopes/{scope}/invites"), invite)
            .await
            .map(drop)
    }

    /// Joins a scope with a code.
    pub async fn enroll(&self, request: &Enroll) -> Result<Enrolled, SyncError> {
        let response = self.json("/v1/enroll", request).await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// The scope's members.
    pub async fn members(&self, scope: Uid) -> Result<Vec<Member>, SyncError> {
        self.get(&format!("/v1/scopes/{scope}/members")).await
    }

    /// Approves a device.
    pub async fn approve(
        &self,
        scope: Uid,
        device: Uid,
        request: &Approve,
    ) -> Result<(), SyncError> {
        self.json(
            &format!("/v1/scopes/{scope}/members/{device}/approve"),
            request,
        )
        .await
        .map(drop)
    }

    /// Revokes a device.
    pub async fn revoke(&self, scope: Uid, device: Uid, request: &Revoke) -> Result<(), SyncError> {
        self.json(
            &format!("/v1/scopes/{scope}/members/{device}/revoke"),
            request,
        )
        .await
        .map(drop)
    }

    /// The scope keys wrapped to this device.
    pub async fn keys(&self, scope: Uid) -> Result<Vec<WrappedKey>, SyncError> {
        self.get(&format!("/v1/scopes/{scope}/keys")).await
    }

    /// Per device, the last seq the relay holds.
    pub async fn heads(&self, scope: Uid) -> Result<Cursors, SyncError> {
        let response = self
            .send(
                reqwest::Method::GET,
                &format!("/v1/scopes/{scope}/heads"),
                Vec::new(),
                false,
            )
            .await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        Cursors::decode(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// Uploads records; one outcome per record.
    pub async fn upload(&self, scope: Uid, upload: &Upload) -> Result<Outcomes, SyncError> {
        let response = self
            .send(
                reqwest::Method::POST,
                &format!("/v1/scopes/{scope}/records"),
                upload.encode(),
                false,
            )
            .await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        let outcomes = Outcomes::decode(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))?;
        if outcomes.0.len() != upload.records.len() {
            return Err(SyncError::Protocol(
                "the relay answered a different number of outcomes".into(),
            ));
        }
        Ok(outcomes)
    }

    /// Downloads records after `fetch`'s cursors, handing them to `sink`
    /// in batches as they stream in. Returns whether more remain. If the
    /// stream is cut, what arrived whole has been handed over and the error
    /// says so.
    pub async fn fetch(
        &self,
        scope: Uid,
        fetch: &Fetch,
        mut sink: impl FnMut(Vec<Record>) -> Result<(), SyncError>,
    ) -> Result<bool, SyncError> {
        let response = self
            .send(
                reqwest::Method::POST,
                &format!("/v1/scopes/{scope}/fetch"),
                fetch.encode(),
                false,
            )
            .await?;
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
            relay: self.base.clone(),
            detail: "the download was cut before its end".into(),
        })
    }
}
