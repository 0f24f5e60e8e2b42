//! Qafila's wire protocol, shared by the relay and the sync client.
//!
//! The relay stores and forwards **records**: `(scope, device, seq, epoch,
//! kind, ciphertext)`. It can read the header (which it needs to store,
//! deduplicate and forward) and nothing else: the ciphertext is sealed with
//! the scope's key, and the header is its associated data, so a relay that
//! alters a header makes the record fail to open.
//!
//! - [`record`]: records and their binary encoding;
//! - [`batch`]: upload requests and answers, download requests, and the
//!   framed download stream;
//! - [`auth`]: every request is signed by the device's Ed25519 key, for one
//!   relay and once;
//! - [`cert`]: what the convoy's lead signs about devices (certificates and
//!   key grants);
//! - [`control`]: the JSON bodies of enrollment and membership requests;
//! - [`ApiError`]: the JSON error every 4xx/5xx carries.
//!
//! Every decoder takes untrusted bytes and returns an error, never panics
//! (property tests and the fuzz targets in `fuzz/` check it).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod batch;
pub mod cert;
pub mod control;
pub mod record;
pub mod wire;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The protocol version in every binary body and URL (`/v1/...`).
pub const VERSION: u8 = 1;

/// Largest ciphertext one record may carry.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// Largest upload body.
pub const MAX_UPLOAD_BYTES: usize = 8 << 20;
/// Most records in one upload.
pub const MAX_RECORDS_PER_UPLOAD: usize = 1024;
/// Most cursors in one download request.
pub const MAX_CURSORS: usize = 100_000;

/// A 16-byte id (a scope or a device: UUIDs on both sides).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uid(pub [u8; 16]);

impl Uid {
    /// Parses the hyphenated or plain hex form.
    pub fn parse(text: &str) -> Option<Uid> {
        // Hyphens only where a UUID has them (or none at all); hex digits
        // only (no `+` that `from_str_radix` would allow).
        let hex: String = match text.len() {
            32 => text.to_owned(),
            36 if text
                .char_indices()
                .all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23)) =>
            {
                text.chars().filter(|c| *c != '-').collect()
            }
            _ => return None,
        };
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Uid(out))
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Uid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Uid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Uid::parse(&text).ok_or_else(|| serde::de::Error::custom("not a UUID"))
    }
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before the value does.
    #[error("the data ends too early")]
    Truncated,
    /// A version this build does not speak.
    #[error("protocol version {0} is not supported (this build speaks {VERSION})")]
    Version(u8),
    /// A tag, length or value out of range.
    #[error("malformed data: {0}")]
    Invalid(&'static str),
    /// Bytes left over after the value.
    #[error("unexpected bytes after the data")]
    Trailing,
}

/// The JSON body of every error answer: a stable code for programs, and
/// messages for people in English and Arabic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable, machine-readable.
    pub code: String,
    /// What went wrong and what to do, in English.
    pub message: String,
    /// The same, in Arabic.
    pub message_ar: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(code: &str, message: impl Into<String>, message_ar: impl Into<String>) -> Self {
        ApiError {
            code: code.into(),
            message: message.into(),
            message_ar: message_ar.into(),
        }
    }
}
