//! JSON bodies of the control requests: scopes, enrollment, membership and
//! keys. Binary fields (public keys, certificates, wrapped keys) travel as
//! standard base64.
//!
//! | Request | Who | Body → answer |
//! |---|---|---|
//! | `POST /v1/scopes` | a lead device (self-signed) | [`CreateScope`] → 204 |
//! | `POST /v1/scopes/{s}/invites` | the lead | [`Invite`] → 204 |
//! | `POST /v1/enroll` | a new device (self-signed) | [`Enroll`] → [`Enrolled`] |
//! | `GET /v1/scopes/{s}/members` | members | → `Vec<Member>` |
//! | `POST /v1/scopes/{s}/members/{d}/approve` | the lead | [`Approve`] → 204 |
//! | `POST /v1/scopes/{s}/members/{d}/revoke` | the lead | [`Revoke`] → 204 |
//! | `POST /v1/scopes/{s}/certificates` | approved members | [`Certificates`] → [`CertificateOutcomes`] |
//! | `GET /v1/scopes/{s}/keys` | approved members | → `Vec<WrappedKey>` |
//! | `GET /v1/scopes/{s}/heads` | approved members | → binary `Cursors` |
//! | `GET /v1/hello` | anyone (unsigned) | → [`Hello`] |

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::Uid;

/// The header carrying a relay's convoy-creation token, when the relay's
/// operator requires one for `POST /v1/scopes` of a new scope.
pub const CREATE_TOKEN_HEADER: &str = "x-qafila-create-token";

/// Bytes carried as base64 in JSON.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct B64(pub Vec<u8>);

impl std::fmt::Debug for B64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "B64({} bytes)", self.0.len())
    }
}

impl Serialize for B64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map(B64)
            .map_err(|_| serde::de::Error::custom("not base64"))
    }
}

impl B64 {
    /// The bytes as a fixed-size key, if they have that size.
    pub fn key(&self) -> Option<[u8; 32]> {
        <[u8; 32]>::try_from(self.0.as_slice()).ok()
    }
}

/// A device's public identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// The device.
    pub device: Uid,
    /// Its human name ("Tablet 3", "Mona's phone").
    pub name: String,
    /// Ed25519: signs requests and records.
    pub signing: B64,
    /// X25519: receives wrapped scope keys.
    pub encryption: B64,
}

/// Registers a scope with its lead (also used to publish an existing scope,
/// with its members and keys, to another relay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateScope {
    /// The scope (the convoy's id).
    pub scope: Uid,
    /// The lead device, which signs this request.
    pub lead: DeviceKeys,
    /// Members already approved elsewhere (when publishing to a site relay).
    #[serde(default)]
    pub members: Vec<Member>,
    /// Their wrapped keys.
    #[serde(default)]
    pub keys: Vec<DeviceKey>,
}

impl CreateScope {
    /// The members published with a lead certificate (the lead itself
    /// aside), each with its wrapped keys: what a relay must check like an
    /// approval or a revocation before it takes the scope.
    pub fn certified_members(&self) -> impl Iterator<Item = (&Member, Vec<DeviceKey>)> {
        self.members
            .iter()
            .filter(|m| m.keys.device != self.lead.device && !m.certificate.0.is_empty())
            .map(|m| {
                let keys = self
                    .keys
                    .iter()
                    .filter(|k| k.device == m.keys.device)
                    .cloned()
                    .collect();
                (m, keys)
            })
    }
}

/// Who a relay is and what its clock says: devices sign every request for
/// this relay's id, with its clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The relay's random id, made when its database was.
    pub relay: Uid,
    /// Its clock, in ms since the Unix epoch.
    pub time_ms: u64,
    /// The protocol version it speaks.
    pub protocol: u8,
}

/// A one-time enrollment code, stored by a hash the relay cannot invert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// SHA-256 of `qafila-invite-lookup-v1` and the code's secret, hex.
    pub code_hash: String,
    /// After this, the code is refused (by the lead's clock).
    pub expires_ms: u64,
    /// How long the code lives, counted on the relay's own clock when
    /// given (so a lead device with a wrong clock still makes live codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_ms: Option<u64>,
    /// How many devices may enroll with it.
    pub uses: u32,
}

/// A device asks to join a scope with a code. The code's secret never
/// reaches the relay: only a hash to find the invite, and a binding of the
/// device's keys that the lead (who kept the secret) checks at approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enroll {
    /// The invite's lookup hash (as in [`Invite::code_hash`]).
    pub code_hash: String,
    /// The new device.
    pub device: DeviceKeys,
    /// HMAC of the device's id, name and keys under a key derived from the
    /// code's secret.
    pub binding: B64,
}

/// The answer to an enrollment: which scope, and who leads it (the device
/// checks the lead's key against the fingerprint in its code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    /// The scope joined.
    pub scope: Uid,
    /// Its lead.
    pub lead: DeviceKeys,
}

/// A member of a scope as the relay knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The device.
    pub keys: DeviceKeys,
    /// `lead`, or the role its certificate names (`registrar`,
    /// `storekeeper`, `volunteer`), or `member` while pending. For display:
    /// devices read the role from the certificate.
    pub role: String,
    /// `pending`, `approved` or `revoked`.
    pub status: String,
    /// The lead's signed statement approving (or revoking) this device:
    /// devices trust the roster only through these.
    #[serde(default)]
    pub certificate: B64,
    /// The certificate's version (0 for none or one from before versions).
    #[serde(default)]
    pub version: u32,
    /// The invite the device enrolled with (its lookup hash), while the
    /// relay knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
    /// The binding the device sent at enrollment ([`Enroll::binding`]).
    #[serde(default)]
    pub binding: B64,
    /// When the relay last answered a signed request from this device (ms
    /// since the epoch; absent when it has not since the relay started). The
    /// lead reads it to see which devices have not synced lately.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<u64>,
    /// When the relay stored this device's records before its latest
    /// upload: the records that upload brought were made after it (a
    /// device seals right before it uploads). Relay time, in memory like
    /// `last_seen_ms`; absent before a second upload since the relay
    /// started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_after_ms: Option<u64>,
    /// When the relay last stored new records of this device's log (relay
    /// time, in memory): its records were all made before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_ms: Option<u64>,
}

/// A scope key generation granted to one device by the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The key generation.
    pub epoch: u32,
    /// Sealed to the device's X25519 key.
    pub wrapped: B64,
    /// The lead's signature over [`crate::cert::grant_message`]: devices
    /// take no generation without it.
    #[serde(default)]
    pub signature: B64,
    /// Every revocation certificate of the convoy when the grant was made.
    #[serde(default)]
    pub revocations: Vec<B64>,
}

/// A wrapped key and its recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKey {
    /// Who can unwrap it.
    pub device: Uid,
    /// The key.
    pub key: WrappedKey,
}

/// The lead approves a pending device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approve {
    /// The lead's signed approval.
    pub certificate: B64,
    /// Every key generation, wrapped to the device.
    pub keys: Vec<WrappedKey>,
}

/// The lead revokes a device and rotates the scope key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoke {
    /// The lead's signed revocation.
    pub certificate: B64,
    /// The new key generation, wrapped to every remaining device.
    pub rotation: Vec<DeviceKey>,
}

/// Lead-signed certificates any approved member passes on to a relay that
/// lacks them (a revocation reaching a site relay through a volunteer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificates {
    /// Each [`crate::cert::Certificate`] as signed.
    pub certificates: Vec<B64>,
}

/// What a relay did with each certificate, in order: `applied`,
/// `unchanged` (it held that one or a newer one) or `refused` (not the
/// lead's, about unknown keys, or an approval of a revoked device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateOutcomes {
    /// One per certificate.
    pub outcomes: Vec<String>,
}
