//! What a record holds once opened: a signed, compressed payload.
//!
//! ```text
//! plaintext := signature:[64] deflate(payload)
//! signed    := header-bytes deflate(payload)     (Ed25519, the device's key)
//! payload   := 2 link kind                       (1 kind: from before chains)
//! link      := 0                                 outside the chain (registry, filler)
//!            | 1 prev_seq:u64 prev_hash:[32]     the previous log record of this device
//!            | 2 prev_seq:u64 prev_hash:[32] count:u32 (seq:u64 key:[32] version:u64)*
//!                                                the same, vouching for the registry
//!                                                records sealed since that one
//! kind      := 1 count:u32 (seq:u64 day:i32 len:u32 compact)*       Automerge changes
//!                                        (compact: `qafila_doc::chunks`, lossless)
//!            | 2 beneficiary:[16] 0                                  registry: erased
//!            | 2 beneficiary:[16] 1 key:[32] len:u32 event            registry: live
//!            | 3 name day nsites:u32 (id:[16] name)* nrounds:u32 (id:[16] name entitlements)*
//!            | 4                                                     filler
//! ```
//!
//! `day` counts days from 0001-01-01 (chrono's `num_days_from_ce`); strings
//! are u32-length-prefixed UTF-8. A log record's `prev_hash` is
//! [`chain_hash`] of the previous log record of the same device and scope
//! (zeros and 0 for the first): a receiver that finds another predecessor
//! knows a record was dropped, withheld or reordered on the way. Registry
//! records stand outside the chain (a relay drops the bytes of one a newer
//! version replaced); the log record sealed after them lists them, so a
//! receiver can tell a registry record that was replaced from one the relay
//! dropped.

use chrono::{Datelike, NaiveDate};
use qafila_domain::convoy_time::ConvoyTime;
use qafila_domain::ids::{BeneficiaryId, DeviceId, RoundId, SiteId};
use qafila_proto::record::{Record, RecordHeader};
use qafila_proto::wire::{In, Out};
use qafila_proto::{DecodeError, Uid};
use qafila_store::sync::{LogEntry, Plan, RemoteContent};
use sha2::{Digest, Sha256};

use crate::crypto::{self, CryptoError, Identity};

const MAX_PAYLOAD: usize = 16 << 20;

/// The payload version this build writes.
const PAYLOAD_V2: u8 = 2;

/// Most registry records one log record lists.
pub const MAX_LISTED: usize = 10_000;

/// A registry record a log record vouches for: sealed by the same device
/// after the previous log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// Its seq.
    pub seq: u64,
    /// Its key (as in its header).
    pub key: [u8; 32],
    /// Its version (as in its header).
    pub version: u64,
}

/// Where a record stands in its device's chain of log records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Sealed before chains existed: no predecessor named.
    Legacy,
    /// Outside the chain: a registry record or a filler.
    Outside,
    /// A log record naming the previous one (seq 0 and zeros: none).
    After {
        /// The previous log record's seq.
        seq: u64,
        /// Its [`chain_hash`].
        hash: [u8; 32],
        /// The registry records sealed since it, in seq order.
        listed: Vec<Listed>,
    },
}

/// A record's content and its link, as opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// What it holds.
    pub content: Content,
    /// Its place in the chain.
    pub link: Link,
}

/// What a record holds: the store's content, or a filler standing in for
/// a registry record a relay never held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Changes, a registry entry or a plan.
    Store(RemoteContent),
    /// Nothing: a filler.
    Filler,
}

/// The hash that chains a log record to the next one of its device.
pub fn chain_hash(record: &Record) -> [u8; 32] {
    chain_hash_of(&record.encode())
}

/// [`chain_hash`] of an encoded record.
pub fn chain_hash_of(encoded: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"qafila-chain-v1");
    hash.update(encoded);
    hash.finalize().into()
}

/// Encodes a payload.
pub fn encode(content: &Content, link: &Link) -> Vec<u8> {
    let mut out = Out::default();
    match link {
        Link::Legacy => out.u8(1),
        Link::Outside => {
            out.u8(PAYLOAD_V2);
            out.u8(0);
        }
        Link::After { seq, hash, listed } => {
            out.u8(PAYLOAD_V2);
            out.u8(if listed.is_empty() { 1 } else { 2 });
            out.u64(*seq);
            out.raw(hash);
            if !listed.is_empty() {
                out.u32(u32::try_from(listed.len()).unwrap_or(u32::MAX));
                for entry in listed {
                    out.u64(entry.seq);
                    out.raw(&entry.key);
                    out.u64(entry.version);
                }
            }
        }
    }
    let content = match content {
        Content::Filler => {
            out.u8(4);
            return out.0;
        }
        Content::Store(content) => content,
    };
    match content {
        RemoteContent::Changes(entries) => {
            out.u8(1);
            out.u32(u32::try_from(entries.len()).unwrap_or(u32::MAX));
            let chunks: Vec<&[u8]> = entries.iter().map(|e| e.chunk.as_slice()).collect();
            for (entry, compact) in entries.iter().zip(qafila_doc::chunks::compact(&chunks)) {
                out.u64(entry.seq);
                out.u32(entry.day.num_days_from_ce().cast_unsigned());
                out.bytes(&compact);
            }
        }
        RemoteContent::Registry { beneficiary, live } => {
            out.u8(2);
            out.raw(&beneficiary.to_bytes());
            match live {
                None => out.u8(0),
                Some((key, event)) => {
                    out.u8(1);
                    out.raw(key);
                    out.bytes(event);
                }
            }
        }
        RemoteContent::Plan(plan) => {
            out.u8(3);
            out.bytes(plan.name.as_bytes());
            out.bytes(plan.day.as_bytes());
            out.u32(u32::try_from(plan.sites.len()).unwrap_or(u32::MAX));
            for (id, name) in &plan.sites {
                out.raw(&id.to_bytes());
                out.bytes(name.as_bytes());
            }
            out.u32(u32::try_from(plan.rounds.len()).unwrap_or(u32::MAX));
            for (id, name, entitlements) in &plan.rounds {
                out.raw(&id.to_bytes());
                out.bytes(name.as_bytes());
                out.bytes(entitlements.as_bytes());
            }
            // Since issue 22: the convoy's zone and day's end. A plan
            // without them (an earlier lead) means the defaults.
            out.bytes(plan.time.zone_name().as_bytes());
            out.u32(u32::from(plan.time.day_ends()));
        }
        RemoteContent::Quarantine(_) => out.u8(0),
    }
    out.0
}

fn text(input: &mut In<'_>) -> Result<String, DecodeError> {
    String::from_utf8(input.bytes(1 << 16)?.to_vec()).map_err(|_| DecodeError::Invalid("text"))
}

/// Decodes a payload.
pub fn decode(bytes: &[u8]) -> Result<Payload, DecodeError> {
    let mut input = In::new(bytes);
    let link = match input.u8()? {
        1 => Link::Legacy,
        PAYLOAD_V2 => match input.u8()? {
            0 => Link::Outside,
            tag @ (1 | 2) => {
                let seq = input.u64()?;
                let hash = input.array()?;
                let mut listed = Vec::new();
                if tag == 2 {
                    let count = usize::try_from(input.u32()?)
                        .ok()
                        .filter(|n| *n <= MAX_LISTED)
                        .ok_or(DecodeError::Invalid("listed registry records"))?;
                    listed.reserve(count.min(input.remaining() / 48));
                    for _ in 0..count {
                        listed.push(Listed {
                            seq: input.u64()?,
                            key: input.array()?,
                            version: input.u64()?,
                        });
                    }
                }
                Link::After { seq, hash, listed }
            }
            _ => return Err(DecodeError::Invalid("payload link")),
        },
        other => return Err(DecodeError::Version(other)),
    };
    let content = match input.u8()? {
        1 => {
            let count = usize::try_from(input.u32()?).map_err(|_| DecodeError::Invalid("count"))?;
            let mut heads = Vec::with_capacity(count.min(input.remaining() / 16));
            let mut compacted = Vec::with_capacity(heads.capacity());
            for _ in 0..count {
                let seq = input.u64()?;
                let day = NaiveDate::from_num_days_from_ce_opt(input.u32()?.cast_signed())
                    .ok_or(DecodeError::Invalid("day"))?;
                heads.push((seq, day));
                compacted.push(input.bytes(MAX_PAYLOAD)?);
            }
            let chunks = qafila_doc::chunks::expand(&compacted)
                .map_err(|_| DecodeError::Invalid("changes"))?;
            RemoteContent::Changes(
                heads
                    .into_iter()
                    .zip(chunks)
                    .map(|((seq, day), chunk)| LogEntry { seq, day, chunk })
                    .collect(),
            )
        }
        2 => {
            let beneficiary = BeneficiaryId::from_bytes(input.array()?);
            let live = match input.u8()? {
                0 => None,
                1 => Some((input.array()?, input.bytes(MAX_PAYLOAD)?.to_vec())),
                _ => return Err(DecodeError::Invalid("registry state")),
            };
            RemoteContent::Registry { beneficiary, live }
        }
        3 => {
            let mut plan = Plan {
                name: text(&mut input)?,
                day: text(&mut input)?,
                ..Plan::default()
            };
            let sites = input.u32()?;
            for _ in 0..sites.min(10_000) {
                plan.sites
                    .push((SiteId::from_bytes(input.array()?), text(&mut input)?));
            }
            let rounds = input.u32()?;
            for _ in 0..rounds.min(10_000) {
                plan.rounds.push((
                    RoundId::from_bytes(input.array()?),
                    text(&mut input)?,
                    text(&mut input)?,
                ));
            }
            if input.remaining() > 0 {
                let zone = text(&mut input)?;
                let day_ends = u16::try_from(input.u32()?).unwrap_or(u16::MAX);
                plan.time = ConvoyTime::new(&zone, day_ends)
                    .map_err(|_| DecodeError::Invalid("convoy time"))?;
            }
            RemoteContent::Plan(plan)
        }
        4 => {
            input.finish()?;
            return Ok(Payload {
                content: Content::Filler,
                link,
            });
        }
        _ => return Err(DecodeError::Invalid("payload kind")),
    };
    input.finish()?;
    Ok(Payload {
        content: Content::Store(content),
        link,
    })
}

/// Seals a payload into a record: compress, sign (header included), encrypt.
pub fn seal(
    header: RecordHeader,
    content: &Content,
    link: Link,
    identity: &Identity,
    key: &[u8; 32],
) -> Result<Record, CryptoError> {
    let compressed = miniz_oxide::deflate::compress_to_vec(&encode(content, &link), 6);
    let header_bytes = header.encode();
    let mut signed = header_bytes.clone();
    signed.extend_from_slice(&compressed);
    let mut plaintext = identity.sign(&signed).to_vec();
    plaintext.extend_from_slice(&compressed);
    Ok(Record {
        header,
        ciphertext: crypto::seal(key, &header_bytes, &plaintext)?,
    })
}

/// Why a received record was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// It does not decrypt under the key of its epoch.
    #[error(
        "record {device}#{seq} does not decrypt: altered, or sealed with a key this device lacks"
    )]
    Decrypt {
        /// Whose.
        device: Uid,
        /// Which.
        seq: u64,
    },
    /// Its signature does not match its device's key.
    #[error("record {device}#{seq} is not signed by its device")]
    Signature {
        /// Whose.
        device: Uid,
        /// Which.
        seq: u64,
    },
    /// Authentic, but the content is malformed.
    #[error("record {device}#{seq} is malformed: {error}")]
    Malformed {
        /// Whose.
        device: Uid,
        /// Which.
        seq: u64,
        /// How.
        error: String,
    },
}

/// Opens a received record with its epoch's key and checks its device's
/// signature.
pub fn open(record: &Record, key: &[u8; 32], signer: &[u8; 32]) -> Result<Payload, OpenError> {
    let (device, seq) = (record.header.device, record.header.seq);
    let header_bytes = record.header.encode();
    let plaintext = crypto::open(key, &header_bytes, &record.ciphertext)
        .map_err(|_| OpenError::Decrypt { device, seq })?;
    if plaintext.len() < 64 {
        return Err(OpenError::Signature { device, seq });
    }
    let (signature, compressed) = plaintext.split_at(64);
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| OpenError::Signature { device, seq })?;
    let mut signed = header_bytes;
    signed.extend_from_slice(compressed);
    crypto::verify(signer, &signed, &signature)
        .map_err(|_| OpenError::Signature { device, seq })?;
    let payload = miniz_oxide::inflate::decompress_to_vec_with_limit(compressed, MAX_PAYLOAD)
        .map_err(|_| OpenError::Malformed {
            device,
            seq,
            error: "does not decompress".into(),
        })?;
    decode(&payload).map_err(|e| OpenError::Malformed {
        device,
        seq,
        error: e.to_string(),
    })
}

/// The proto id of a device.
pub fn uid(device: DeviceId) -> Uid {
    Uid(device.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use qafila_proto::record::RecordKind;

    fn header(seq: u64) -> RecordHeader {
        RecordHeader {
            scope: Uid([1; 16]),
            device: Uid([2; 16]),
            seq,
            epoch: 1,
            kind: RecordKind::Log,
        }
    }

    #[test]
    fn a_record_opens_with_its_key_and_signer_only() {
        let me = Identity::from_secrets([1; 32], [2; 32]);
        let other = Identity::from_secrets([3; 32], [4; 32]);
        let content = RemoteContent::Changes(vec![LogEntry {
            seq: 4,
            day: NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(),
            chunk: vec![1, 2, 3],
        }]);
        let content = Content::Store(content);
        let link = Link::After {
            seq: 0,
            hash: [0; 32],
            listed: vec![Listed {
                seq: 3,
                key: [5; 32],
                version: u64::MAX,
            }],
        };
        let record = seal(header(1), &content, link.clone(), &me, &[7; 32]).unwrap();
        assert_eq!(
            open(&record, &[7; 32], &me.signing_public()).unwrap(),
            Payload {
                content: content.clone(),
                link: link.clone()
            }
        );
        assert!(matches!(
            open(&record, &[8; 32], &me.signing_public()),
            Err(OpenError::Decrypt { .. })
        ));
        assert!(matches!(
            open(&record, &[7; 32], &other.signing_public()),
            Err(OpenError::Signature { .. })
        ));
        let mut moved = record.clone();
        moved.header.seq = 2;
        assert!(matches!(
            open(&moved, &[7; 32], &me.signing_public()),
            Err(OpenError::Decrypt { .. })
        ));
        // A member who knows the scope key cannot forge another's record.
        let forged = seal(header(1), &content, link, &other, &[7; 32]).unwrap();
        assert!(matches!(
            open(&forged, &[7; 32], &me.signing_public()),
            Err(OpenError::Signature { .. })
        ));
    }

    proptest! {
        #[test]
        fn payloads_round_trip_and_garbage_never_panics(
            entries in proptest::collection::vec((any::<u64>(), 0i32..800_000, proptest::collection::vec(any::<u8>(), 0..64)), 0..8),
            garbage in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let content = RemoteContent::Changes(entries.into_iter().map(|(seq, day, chunk)| LogEntry {
                seq, day: NaiveDate::from_num_days_from_ce_opt(day + 1).unwrap(), chunk,
            }).collect());
            let content = Content::Store(content);
            let listed = vec![Listed { seq: 4, key: [1; 32], version: 1 }, Listed { seq: 5, key: [2; 32], version: u64::MAX }];
            for link in [Link::Legacy, Link::Outside, Link::After { seq: 9, hash: [3; 32], listed: Vec::new() }, Link::After { seq: 9, hash: [3; 32], listed }] {
                prop_assert_eq!(decode(&encode(&content, &link)).unwrap(), Payload { content: content.clone(), link });
            }
            let _ = decode(&garbage);
            let registry = Content::Store(RemoteContent::Registry { beneficiary: BeneficiaryId::from_bytes([5; 16]), live: Some(([6; 32], garbage.clone())) });
            prop_assert_eq!(decode(&encode(&registry, &Link::Outside)).unwrap().content, registry);
            prop_assert_eq!(decode(&encode(&Content::Filler, &Link::Outside)).unwrap().content, Content::Filler);
        }
    }
}
