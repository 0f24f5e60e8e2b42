//! Batches: what one upload or download request carries.
//!
//! ```text
//! upload    := version:u8 count:u32 record*          POST /v1/scopes/{scope}/records
//! outcomes  := version:u8 count:u32 outcome*          its answer, one per record
//! outcome   := 0 stored | 1 duplicate | 2 conflict | 3 gap expected:u64
//!            | 4 forbidden | 5 superseded
//! fetch     := version:u8 max_bytes:u32 count:u32 (device:[16] seq:u64)*
//!                                                     POST /v1/scopes/{scope}/fetch
//! stream    := version:u8 frame*                      its streamed answer
//! frame     := 1 record | 2 more:u8                   (2 ends the stream)
//! heads     := version:u8 count:u32 (device:[16] seq:u64)*
//! ```
//!
//! A download lists, per device, the last seq the client holds; the relay
//! answers with every record after those, devices in id order and records
//! in seq order, up to about `max_bytes`, then says whether more remain.

use crate::record::Record;
use crate::wire::{In, Out};
use crate::{DecodeError, MAX_CURSORS, MAX_RECORDS_PER_UPLOAD, MAX_UPLOAD_BYTES, Uid};

/// Records to store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Upload {
    /// In any order; each device's records are checked against what the
    /// relay already holds.
    pub records: Vec<Record>,
}

impl Upload {
    /// Encodes the upload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Out::default();
        out.u8(crate::VERSION);
        out.u32(u32::try_from(self.records.len()).unwrap_or(u32::MAX));
        for record in &self.records {
            record.write(&mut out);
        }
        out.0
    }

    /// Decodes an upload, refusing more records than the protocol allows.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(DecodeError::Invalid("upload over the size limit"));
        }
        let mut input = In::new(bytes);
        input.version()?;
        let count = usize::try_from(input.u32()?).map_err(|_| DecodeError::Invalid("count"))?;
        if count > MAX_RECORDS_PER_UPLOAD {
            return Err(DecodeError::Invalid("too many records in one upload"));
        }
        let mut records = Vec::with_capacity(count.min(input.remaining() / 50 + 1));
        for _ in 0..count {
            records.push(Record::read(&mut input)?);
        }
        input.finish()?;
        Ok(Upload { records })
    }
}

/// What the relay did with one uploaded record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Newly stored.
    Stored,
    /// The same bytes were already stored: harmless.
    Duplicate,
    /// A different record already holds this (device, seq): refused.
    Conflict,
    /// The device's log on the relay ends before this seq: send
    /// `expected` first.
    Gap {
        /// The next seq the relay will accept for this device.
        expected: u64,
    },
    /// The uploader may not write this device's log: it is not the
    /// uploader's own, and the uploader is not the scope's lead (who may
    /// forward any member's records, including those a device made before
    /// it was revoked), or the record names another scope.
    Forbidden,
    /// Accepted, but a newer version of the same registry entry is already
    /// stored, so this one was dropped.
    Superseded,
}

impl Outcome {
    /// Whether the record is safely on the relay (or need not be).
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Outcome::Stored | Outcome::Duplicate | Outcome::Superseded
        )
    }
}

/// The relay's answer to an upload, one outcome per record, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcomes(pub Vec<Outcome>);

impl Outcomes {
    /// Encodes the answer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Out::default();
        out.u8(crate::VERSION);
        out.u32(u32::try_from(self.0.len()).unwrap_or(u32::MAX));
        for outcome in &self.0 {
            match outcome {
                Outcome::Stored => out.u8(0),
                Outcome::Duplicate => out.u8(1),
                Outcome::Conflict => out.u8(2),
                Outcome::Gap { expected } => {
                    out.u8(3);
                    out.u64(*expected);
                }
                Outcome::Forbidden => out.u8(4),
                Outcome::Superseded => out.u8(5),
            }
        }
        out.0
    }

    /// Decodes an answer.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut input = In::new(bytes);
        input.version()?;
        let count = usize::try_from(input.u32()?).map_err(|_| DecodeError::Invalid("count"))?;
        if count > MAX_RECORDS_PER_UPLOAD {
            return Err(DecodeError::Invalid("too many outcomes"));
        }
        let mut outcomes = Vec::with_capacity(count.min(input.remaining()));
        for _ in 0..count {
            outcomes.push(match input.u8()? {
                0 => Outcome::Stored,
                1 => Outcome::Duplicate,
                2 => Outcome::Conflict,
                3 => Outcome::Gap {
                    expected: input.u64()?,
                },
                4 => Outcome::Forbidden,
                5 => Outcome::Superseded,
                _ => return Err(DecodeError::Invalid("outcome")),
            });
        }
        input.finish()?;
        Ok(Outcomes(outcomes))
    }
}

/// Per device, the last seq held (a download's cursor, or a relay's heads).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cursors(pub Vec<(Uid, u64)>);

impl Cursors {
    fn write(&self, out: &mut Out) {
        out.u32(u32::try_from(self.0.len()).unwrap_or(u32::MAX));
        for (device, seq) in &self.0 {
            out.raw(&device.0);
            out.u64(*seq);
        }
    }

    fn read(input: &mut In<'_>) -> Result<Self, DecodeError> {
        let count = usize::try_from(input.u32()?).map_err(|_| DecodeError::Invalid("count"))?;
        if count > MAX_CURSORS {
            return Err(DecodeError::Invalid("too many cursors"));
        }
        let mut cursors = Vec::with_capacity(count.min(input.remaining() / 24));
        for _ in 0..count {
            cursors.push((Uid(input.array()?), input.u64()?));
        }
        Ok(Cursors(cursors))
    }

    /// Encodes a relay's heads.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Out::default();
        out.u8(crate::VERSION);
        self.write(&mut out);
        out.0
    }

    /// Decodes a relay's heads.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut input = In::new(bytes);
        input.version()?;
        let cursors = Cursors::read(&mut input)?;
        input.finish()?;
        Ok(cursors)
    }
}

/// A download request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fetch {
    /// Stop after about this many bytes of records (the relay also caps it).
    pub max_bytes: u32,
    /// What the client already holds; devices not listed start from 0.
    pub cursors: Cursors,
}

impl Fetch {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Out::default();
        out.u8(crate::VERSION);
        out.u32(self.max_bytes);
        self.cursors.write(&mut out);
        out.0
    }

    /// Decodes a request.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut input = In::new(bytes);
        input.version()?;
        let max_bytes = input.u32()?;
        let cursors = Cursors::read(&mut input)?;
        input.finish()?;
        Ok(Fetch { max_bytes, cursors })
    }
}

/// One frame of a download stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A record.
    Record(Record),
    /// The end of this answer; `more` when the relay stopped at the size
    /// limit and the client should ask again.
    End {
        /// Whether records remain.
        more: bool,
    },
}

/// The first bytes of a download stream.
pub fn stream_start() -> Vec<u8> {
    vec![crate::VERSION]
}

impl Frame {
    /// Encodes one frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Out::default();
        match self {
            Frame::Record(record) => {
                out.u8(1);
                record.write(&mut out);
            }
            Frame::End { more } => {
                out.u8(2);
                out.u8(u8::from(*more));
            }
        }
        out.0
    }
}

/// Decodes a download stream incrementally: feed it bytes as they arrive
/// and take the frames that are complete.
#[derive(Debug, Default)]
pub struct FrameReader {
    buffer: Vec<u8>,
    started: bool,
    ended: bool,
}

impl FrameReader {
    /// A reader for a new stream.
    pub fn new() -> Self {
        FrameReader::default()
    }

    /// Adds received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Whether the end frame has been read.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if !self.started {
            let Some(&version) = self.buffer.first() else {
                return Ok(None);
            };
            if version != crate::VERSION {
                return Err(DecodeError::Version(version));
            }
            self.buffer.drain(..1);
            self.started = true;
        }
        if self.ended {
            return if self.buffer.is_empty() {
                Ok(None)
            } else {
                Err(DecodeError::Trailing)
            };
        }
        let mut input = In::new(&self.buffer);
        let frame = match input.u8() {
            Err(DecodeError::Truncated) => return Ok(None),
            Err(e) => return Err(e),
            Ok(1) => match Record::read(&mut input) {
                Ok(record) => Frame::Record(record),
                Err(DecodeError::Truncated) => return Ok(None),
                Err(e) => return Err(e),
            },
            Ok(2) => match input.u8() {
                Ok(0) => Frame::End { more: false },
                Ok(1) => Frame::End { more: true },
                Ok(_) => return Err(DecodeError::Invalid("end frame")),
                Err(DecodeError::Truncated) => return Ok(None),
                Err(e) => return Err(e),
            },
            Ok(_) => return Err(DecodeError::Invalid("frame tag")),
        };
        let used = self.buffer.len() - input.remaining();
        self.buffer.drain(..used);
        if matches!(frame, Frame::End { .. }) {
            self.ended = true;
        }
        Ok(Some(frame))
    }
}
