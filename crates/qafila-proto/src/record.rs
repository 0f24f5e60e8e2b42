//! Records: one sealed entry of a device's log in a scope.
//!
//! Binary layout (little-endian):
//!
//! ```text
//! header  := version:u8 scope:[16] device:[16] seq:u64 epoch:u32 kind
//! kind    := 0                                 -- an activity-log entry
//!          | 1 key:[32] version:u64            -- a registry entry
//! record  := header len:u32 ciphertext:[len]
//! ```
//!
//! The encoded header is the AEAD's associated data: changing any header
//! field makes the record fail to open on every device.

use crate::wire::{In, Out};
use crate::{DecodeError, MAX_RECORD_BYTES, Uid};

/// What kind of entry a record is, as far as the relay needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Activity (check-ins, hand-outs, stock...): append-only, kept forever.
    Log,
    /// A registry entry under an opaque key (a keyed hash of the
    /// beneficiary the relay cannot compute). The relay keeps only the
    /// highest `version` per key, so replacing an entry with a tombstone
    /// removes the personal data it held.
    Keyed {
        /// Opaque to the relay.
        key: [u8; 32],
        /// Higher wins.
        version: u64,
    },
}

/// The clear part of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// The scope (a convoy) whose key seals this record.
    pub scope: Uid,
    /// The device whose log this record belongs to (and who signed it).
    pub device: Uid,
    /// Position in that device's log in this scope, from 1, without gaps.
    pub seq: u64,
    /// Which generation of the scope key seals it (rotates on revocation).
    pub epoch: u32,
    /// Log or registry entry.
    pub kind: RecordKind,
}

impl RecordHeader {
    /// The header's bytes: also the AEAD associated data.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Out::default();
        self.write(&mut out);
        out.0
    }

    fn write(&self, out: &mut Out) {
        out.u8(crate::VERSION);
        out.raw(&self.scope.0);
        out.raw(&self.device.0);
        out.u64(self.seq);
        out.u32(self.epoch);
        match self.kind {
            RecordKind::Log => out.u8(0),
            RecordKind::Keyed { key, version } => {
                out.u8(1);
                out.raw(&key);
                out.u64(version);
            }
        }
    }

    fn read(input: &mut In<'_>) -> Result<Self, DecodeError> {
        input.version()?;
        let scope = Uid(input.array()?);
        let device = Uid(input.array()?);
        let seq = input.u64()?;
        if seq == 0 {
            return Err(DecodeError::Invalid("sequence numbers start at 1"));
        }
        let epoch = input.u32()?;
        let kind = match input.u8()? {
            0 => RecordKind::Log,
            1 => RecordKind::Keyed {
                key: input.array()?,
                version: input.u64()?,
            },
            _ => return Err(DecodeError::Invalid("record kind")),
        };
        Ok(RecordHeader {
            scope,
            device,
            seq,
            epoch,
            kind,
        })
    }
}

/// A sealed record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// What the relay may read.
    pub header: RecordHeader,
    /// Nonce and ciphertext: only scope members can open it.
    pub ciphertext: Vec<u8>,
}

impl Record {
    /// Encodes one record.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Out::default();
        self.write(&mut out);
        out.0
    }

    pub(crate) fn write(&self, out: &mut Out) {
        self.header.write(out);
        out.bytes(&self.ciphertext);
    }

    pub(crate) fn read(input: &mut In<'_>) -> Result<Self, DecodeError> {
        let header = RecordHeader::read(input)?;
        let ciphertext = input.bytes(MAX_RECORD_BYTES)?.to_vec();
        Ok(Record { header, ciphertext })
    }

    /// Decodes exactly one record.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut input = In::new(bytes);
        let record = Record::read(&mut input)?;
        input.finish()?;
        Ok(record)
    }

    /// Bytes this record takes on the wire.
    pub fn wire_len(&self) -> usize {
        let kind = match self.header.kind {
            RecordKind::Log => 1,
            RecordKind::Keyed { .. } => 41,
        };
        1 + 16 + 16 + 8 + 4 + kind + 4 + self.ciphertext.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_len_is_the_encoded_length() {
        for kind in [
            RecordKind::Log,
            RecordKind::Keyed {
                key: [3; 32],
                version: 9,
            },
        ] {
            let record = Record {
                header: RecordHeader {
                    scope: Uid([1; 16]),
                    device: Uid([2; 16]),
                    seq: 5,
                    epoch: 2,
                    kind,
                },
                ciphertext: vec![7; 33],
            };
            assert_eq!(record.encode().len(), record.wire_len());
            assert_eq!(Record::decode(&record.encode()).unwrap(), record);
        }
    }

    #[test]
    fn a_zero_sequence_number_is_refused() {
        let mut bytes = Record {
            header: RecordHeader {
                scope: Uid([1; 16]),
                device: Uid([2; 16]),
                seq: 1,
                epoch: 1,
                kind: RecordKind::Log,
            },
            ciphertext: vec![],
        }
        .encode();
        bytes[33..41].copy_from_slice(&0u64.to_le_bytes());
        assert!(Record::decode(&bytes).is_err());
    }
}
