//! A lossless, compact wire form for a run of Automerge change chunks from
//! one single-writer document.
//!
//! In a device-day document each change depends on exactly the previous
//! one, so a chunk's 32-byte dependency hash and its 4-byte checksum can be
//! recomputed from the chunk before it: after deflate they are most of what
//! a change costs on the wire. [`compact`] drops them where that holds and
//! [`expand`] rebuilds the very same bytes (the change hashes come out
//! identical), so what travels is still exactly the Automerge changes.
//!
//! ```text
//! compact := 0 chunk                 -- kept whole
//!          | 1 data-without-dep      -- a plain change whose single dependency
//!                                       is the previous chunk's change
//! chunk   := magic:[85 6f 4a 83] checksum:[4] type:u8 len:uleb128 data:[len]
//! data    := ndeps:uleb128 (=1) dep:[32] rest...
//! ```

use sha2::{Digest, Sha256};

use crate::device_day::DocError;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHANGE: u8 = 1;

/// One parsed chunk: its type and data.
struct Chunk<'a> {
    kind: u8,
    data: &'a [u8],
}

fn uleb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(9) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn write_uleb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Splits concatenated chunks, trusting no length beyond the bytes present.
fn split(bytes: &[u8]) -> Option<Vec<Chunk<'_>>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 9 || rest[..4] != MAGIC {
            return None;
        }
        let kind = rest[8];
        let (len, used) = uleb(&rest[9..])?;
        let start = 9 + used;
        let end = usize::try_from(len).ok()?.checked_add(start)?;
        let data = rest.get(start..end)?;
        out.push(Chunk { kind, data });
        rest = &rest[end..];
    }
    Some(out)
}

/// The whole chunks in concatenated bytes, or `None` if they are not
/// well-formed chunks.
pub(crate) fn pieces(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut offset = 0;
    for chunk in split(bytes)? {
        let end = chunk.data.as_ptr() as usize - bytes.as_ptr() as usize + chunk.data.len();
        out.push(&bytes[offset..end]);
        offset = end;
    }
    Some(out)
}

fn hash(kind: u8, data: &[u8]) -> [u8; 32] {
    let mut header = vec![kind];
    write_uleb(&mut header, data.len() as u64);
    let mut hasher = Sha256::new();
    hasher.update(&header);
    hasher.update(data);
    hasher.finalize().into()
}

fn assemble(kind: u8, data: &[u8]) -> Vec<u8> {
    let digest = hash(kind, data);
    let mut out = Vec::with_capacity(data.len() + 14);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&digest[..4]);
    out.push(kind);
    write_uleb(&mut out, data.len() as u64);
    out.extend_from_slice(data);
    out
}

/// The change hash of the last plain change in `bytes`, if any.
fn last_hash(bytes: &[u8]) -> Option<[u8; 32]> {
    let chunks = split(bytes)?;
    let last = chunks.last()?;
    (last.kind == CHANGE).then(|| hash(last.kind, last.data))
}

/// Compacts a run of chunks (in log order) for the wire.
pub fn compact(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut previous: Option<[u8; 32]> = None;
    let mut out = Vec::with_capacity(chunks.len());
    for bytes in chunks {
        let single = split(bytes).filter(|c| c.len() == 1);
        let compacted = match (single.as_deref(), previous) {
            (Some([chunk]), Some(prev))
                if chunk.kind == CHANGE
                    && chunk.data.len() >= 33
                    && chunk.data[0] == 1
                    && chunk.data[1..33] == prev
                    && assemble(chunk.kind, chunk.data) == *bytes =>
            {
                let mut c = Vec::with_capacity(chunk.data.len() - 31);
                c.push(1);
                c.push(1);
                c.extend_from_slice(&chunk.data[33..]);
                c
            }
            _ => {
                let mut c = Vec::with_capacity(bytes.len() + 1);
                c.push(0);
                c.extend_from_slice(bytes);
                c
            }
        };
        previous = last_hash(bytes);
        out.push(compacted);
    }
    out
}

/// Rebuilds the chunks [`compact`] made, byte for byte.
pub fn expand(compacted: &[&[u8]]) -> Result<Vec<Vec<u8>>, DocError> {
    let mut previous: Option<[u8; 32]> = None;
    let mut out = Vec::with_capacity(compacted.len());
    for entry in compacted {
        let bytes = match entry.split_first() {
            Some((0, whole)) => whole.to_vec(),
            Some((1, rest)) => {
                let prev = previous.ok_or_else(|| {
                    DocError::Change("a compact change without a previous one".into())
                })?;
                let (ndeps, tail) = rest
                    .split_first()
                    .ok_or_else(|| DocError::Change("empty compact change".into()))?;
                if *ndeps != 1 {
                    return Err(DocError::Change("malformed compact change".into()));
                }
                let mut data = Vec::with_capacity(rest.len() + 32);
                data.push(1);
                data.extend_from_slice(&prev);
                data.extend_from_slice(tail);
                assemble(CHANGE, &data)
            }
            _ => return Err(DocError::Change("unknown compact chunk".into())),
        };
        previous = last_hash(&bytes);
        out.push(bytes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_day::DeviceDayDoc;
    use proptest::prelude::*;
    use qafila_domain::ids::DeviceId;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn compacting_is_lossless_and_saves_the_hashes(
            events in proptest::collection::btree_map(qafila_testkit::event_id(), qafila_testkit::event(), 1..20),
            split_at in any::<proptest::sample::Index>(),
        ) {
            let device = DeviceId::from_parts(3, [3; 10]);
            let mut doc = DeviceDayDoc::new(device).unwrap();
            let mut chunks = Vec::new();
            for (id, mut event) in events {
                event.id = id;
                event.device = device;
                chunks.push(doc.record(&event).unwrap());
            }
            // Records start anywhere in the log.
            let from = split_at.index(chunks.len());
            let run: Vec<&[u8]> = chunks[from..].iter().map(Vec::as_slice).collect();
            let compacted = compact(&run);
            let raw: usize = run.iter().map(|c| c.len()).sum();
            let small: usize = compacted.iter().map(Vec::len).sum();
            prop_assert!(run.len() < 2 || small + 30 * (run.len() - 1) <= raw, "{small} vs {raw}");
            let expanded = expand(&compacted.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
            prop_assert_eq!(expanded, run.iter().map(|c| c.to_vec()).collect::<Vec<_>>());
        }

        #[test]
        fn expanding_garbage_never_panics(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..6)) {
            let _ = expand(&entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        }
    }
}
