//! The wire protocol's promises, checked on generated values:
//!
//! - every encoding round-trips, and the download stream decodes the same
//!   frames however the network splits it;
//! - every decoder answers `Ok` or `Err` for any input, never panics, and a
//!   truncated encoding is always an error;
//! - decoding is canonical: whatever a decoder accepts re-encodes to exactly
//!   the bytes it was given (a relay cannot alter bytes without altering the
//!   value), and distinct record headers (the AEAD associated data) encode
//!   to distinct bytes.

use std::fmt::Debug;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use qafila_proto::auth::{self, Claim};
use qafila_proto::batch::{
    Cursors, Fetch, Frame, FrameReader, Outcome, Outcomes, Upload, stream_start,
};
use qafila_proto::control::{B64, DeviceKeys, Member};
use qafila_proto::record::{Record, RecordHeader, RecordKind};
use qafila_proto::{
    DecodeError, MAX_CURSORS, MAX_RECORD_BYTES, MAX_RECORDS_PER_UPLOAD, Uid, VERSION,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------

fn uid() -> impl Strategy<Value = Uid> {
    prop_oneof![
        4 => any::<[u8; 16]>().prop_map(Uid),
        1 => Just(Uid([0; 16])),
        1 => Just(Uid([0xff; 16])),
    ]
}

fn record_kind() -> impl Strategy<Value = RecordKind> {
    prop_oneof![
        Just(RecordKind::Log),
        (any::<[u8; 32]>(), any::<u64>())
            .prop_map(|(key, version)| RecordKind::Keyed { key, version }),
    ]
}

fn seq() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 1..=u64::MAX,
        2 => 1..1000u64,
        1 => Just(u64::MAX),
    ]
}

fn record_header() -> impl Strategy<Value = RecordHeader> {
    (uid(), uid(), seq(), any::<u32>(), record_kind()).prop_map(
        |(scope, device, seq, epoch, kind)| RecordHeader {
            scope,
            device,
            seq,
            epoch,
            kind,
        },
    )
}

fn record() -> impl Strategy<Value = Record> {
    (record_header(), vec(any::<u8>(), 0..300))
        .prop_map(|(header, ciphertext)| Record { header, ciphertext })
}

fn upload() -> impl Strategy<Value = Upload> {
    vec(record(), 0..20).prop_map(|records| Upload { records })
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Stored),
        Just(Outcome::Duplicate),
        Just(Outcome::Conflict),
        any::<u64>().prop_map(|expected| Outcome::Gap { expected }),
        Just(Outcome::Forbidden),
        Just(Outcome::Superseded),
    ]
}

fn outcomes() -> impl Strategy<Value = Outcomes> {
    vec(outcome(), 0..300).prop_map(Outcomes)
}

fn cursors() -> impl Strategy<Value = Cursors> {
    vec((uid(), any::<u64>()), 0..100).prop_map(Cursors)
}

fn fetch() -> impl Strategy<Value = Fetch> {
    (any::<u32>(), cursors()).prop_map(|(max_bytes, cursors)| Fetch { max_bytes, cursors })
}

/// A download answer: some records, then the end frame.
fn frames() -> impl Strategy<Value = Vec<Frame>> {
    (vec(record(), 0..8), any::<bool>()).prop_map(|(records, more)| {
        let mut frames: Vec<Frame> = records.into_iter().map(Frame::Record).collect();
        frames.push(Frame::End { more });
        frames
    })
}

/// Untrusted bytes: pure noise, or noise behind the right version byte so
/// decoders get past their first check.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..2000),
        vec(any::<u8>(), 0..2000).prop_map(|mut bytes| {
            bytes.insert(0, VERSION);
            bytes
        }),
    ]
}

fn b64() -> impl Strategy<Value = B64> {
    vec(any::<u8>(), 0..100).prop_map(B64)
}

fn member() -> impl Strategy<Value = Member> {
    (
        uid(),
        any::<String>(),
        b64(),
        b64(),
        prop_oneof![
            Just("lead".to_owned()),
            Just("member".to_owned()),
            any::<String>()
        ],
        prop_oneof![
            Just("pending".to_owned()),
            Just("approved".to_owned()),
            Just("revoked".to_owned()),
            any::<String>(),
        ],
        b64(),
    )
        .prop_map(
            |(device, name, signing, encryption, role, status, certificate)| Member {
                keys: DeviceKeys {
                    device,
                    name,
                    signing,
                    encryption,
                },
                role,
                status,
                certificate,
                version: 0,
                invite: None,
                binding: B64::default(),
                last_seen_ms: None,
                made_after_ms: None,
                uploaded_ms: None,
            },
        )
}

// ---------------------------------------------------------------------------
// One set of checks for every binary body.
// ---------------------------------------------------------------------------

trait Wire: Sized + PartialEq + Debug {
    fn enc(&self) -> Vec<u8>;
    fn dec(bytes: &[u8]) -> Result<Self, DecodeError>;
}

impl Wire for Record {
    fn enc(&self) -> Vec<u8> {
        self.encode()
    }
    fn dec(bytes: &[u8]) -> Result<Self, DecodeError> {
        Record::decode(bytes)
    }
}

impl Wire for Upload {
    fn enc(&self) -> Vec<u8> {
        self.encode()
    }
    fn dec(bytes: &[u8]) -> Result<Self, DecodeError> {
        Upload::decode(bytes)
    }
}

impl Wire for Outcomes {
    fn enc(&self) -> Vec<u8> {
        self.encode()
    }
    fn dec(bytes: &[u8]) -> Result<Self, DecodeError> {
        Outcomes::decode(bytes)
    }
}

impl Wire for Cursors {
    fn enc(&self) -> Vec<u8> {
        self.encode()
    }
    fn dec(bytes: &[u8]) -> Result<Self, DecodeError> {
        Cursors::decode(bytes)
    }
}

impl Wire for Fetch {
    fn enc(&self) -> Vec<u8> {
        self.encode()
    }
    fn dec(bytes: &[u8]) -> Result<Self, DecodeError> {
        Fetch::decode(bytes)
    }
}

/// decode(encode(x)) == x.
fn round_trips<T: Wire>(value: &T) -> Result<(), TestCaseError> {
    let bytes = value.enc();
    prop_assert_eq!(&T::dec(&bytes)?, value);
    Ok(())
}

/// Whatever a decoder accepts re-encodes to exactly the same bytes (and it
/// got there without panicking).
fn accepts_only_canonical<T: Wire>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(value) = T::dec(bytes) {
        prop_assert_eq!(value.enc(), bytes, "accepted a non-canonical encoding");
    }
    Ok(())
}

/// A valid encoding with one byte changed decodes or is refused, without
/// panicking, and is never taken for the original value.
fn survives_a_flip<T: Wire>(value: &T, at: &Index, mask: u8) -> Result<(), TestCaseError> {
    let mut bytes = value.enc();
    let i = at.index(bytes.len());
    bytes[i] ^= mask;
    if let Ok(decoded) = T::dec(&bytes) {
        prop_assert_ne!(
            &decoded,
            value,
            "a changed byte {} decoded to the same value",
            i
        );
        prop_assert_eq!(decoded.enc(), bytes);
    }
    Ok(())
}

/// Every proper prefix of a valid encoding is refused as truncated.
fn refuses_truncation<T: Wire>(value: &T, cuts: &[Index]) -> Result<(), TestCaseError> {
    let bytes = value.enc();
    for cut in cuts {
        let cut = cut.index(bytes.len());
        prop_assert_eq!(
            T::dec(&bytes[..cut]),
            Err(DecodeError::Truncated),
            "cut at {} of {}",
            cut,
            bytes.len()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The download stream.
// ---------------------------------------------------------------------------

fn stream_bytes(frames: &[Frame]) -> Vec<u8> {
    let mut bytes = stream_start();
    for frame in frames {
        bytes.extend_from_slice(&frame.encode());
    }
    bytes
}

/// Takes every complete frame out of the reader.
fn drain(reader: &mut FrameReader, into: &mut Vec<Frame>) -> Result<(), DecodeError> {
    while let Some(frame) = reader.next_frame()? {
        into.push(frame);
    }
    Ok(())
}

/// Feeds `bytes` cut at `cuts` (positions, any order, repeats allowed),
/// draining after every feed.
fn read_split(bytes: &[u8], cuts: &[usize]) -> Result<(Vec<Frame>, bool), DecodeError> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    cuts.push(bytes.len());
    cuts.sort_unstable();
    let mut reader = FrameReader::new();
    let mut frames = Vec::new();
    let mut from = 0;
    for cut in cuts {
        reader.feed(&bytes[from..cut]);
        from = cut;
        drain(&mut reader, &mut frames)?;
    }
    drain(&mut reader, &mut frames)?;
    Ok((frames, reader.ended()))
}

/// Feeds untrusted bytes in pieces; never panics, and the frames it gives
/// before any error are exactly what the input starts with.
fn read_untrusted(bytes: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    cuts.push(bytes.len());
    cuts.sort_unstable();
    let mut reader = FrameReader::new();
    let mut frames = Vec::new();
    let mut from = 0;
    for cut in cuts {
        reader.feed(&bytes[from..cut]);
        from = cut;
        if drain(&mut reader, &mut frames).is_err() {
            break;
        }
    }
    if !frames.is_empty() {
        let read = stream_bytes(&frames);
        prop_assert!(
            bytes.starts_with(&read),
            "frames read are not what the stream starts with"
        );
        prop_assert_eq!(
            reader.ended(),
            matches!(frames.last(), Some(Frame::End { .. }))
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    // Round trips.

    #[test]
    fn records_round_trip(r in record()) {
        round_trips(&r)?;
        prop_assert_eq!(r.encode().len(), r.wire_len());
    }

    #[test]
    fn uploads_round_trip(u in upload()) {
        round_trips(&u)?;
    }

    #[test]
    fn outcomes_round_trip(o in outcomes()) {
        round_trips(&o)?;
    }

    #[test]
    fn cursors_round_trip(c in cursors()) {
        round_trips(&c)?;
    }

    #[test]
    fn fetches_round_trip(f in fetch()) {
        round_trips(&f)?;
    }

    #[test]
    fn a_download_stream_reads_the_same_however_it_is_split(
        frames in frames(),
        cuts in vec(any::<Index>(), 0..12),
    ) {
        let bytes = stream_bytes(&frames);
        let cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        let (read, ended) = read_split(&bytes, &cuts)?;
        prop_assert_eq!(&read, &frames);
        prop_assert!(ended);

        // One byte at a time.
        let every: Vec<usize> = (0..bytes.len()).collect();
        let (read, ended) = read_split(&bytes, &every)?;
        prop_assert_eq!(&read, &frames);
        prop_assert!(ended);
    }

    #[test]
    fn a_cut_download_stream_gives_whole_frames_and_does_not_end(
        frames in frames(),
        cut in any::<Index>(),
        feeds in vec(any::<Index>(), 0..6),
    ) {
        let bytes = stream_bytes(&frames);
        let bytes = &bytes[..cut.index(bytes.len())];
        let cuts: Vec<usize> = feeds.iter().map(|c| c.index(bytes.len() + 1)).collect();
        let (read, ended) = read_split(bytes, &cuts)?;
        prop_assert!(!ended);
        prop_assert!(read.len() < frames.len());
        prop_assert_eq!(&read[..], &frames[..read.len()]);
    }

    // Noise.

    #[test]
    fn decoders_never_panic_on_noise(bytes in noise()) {
        accepts_only_canonical::<Record>(&bytes)?;
        accepts_only_canonical::<Upload>(&bytes)?;
        accepts_only_canonical::<Outcomes>(&bytes)?;
        accepts_only_canonical::<Cursors>(&bytes)?;
        accepts_only_canonical::<Fetch>(&bytes)?;
    }

    #[test]
    fn the_frame_reader_never_panics_on_noise(
        bytes in noise(),
        cuts in vec(any::<usize>(), 0..4),
    ) {
        read_untrusted(&bytes, &cuts)?;
        // In two halves, as the fuzz target does.
        read_untrusted(&bytes, &[bytes.len() / 2])?;
    }

    #[test]
    fn claim_parse_never_panics_on_noise(text in any::<String>()) {
        let _ = Claim::parse(&text);
    }

    #[test]
    fn claim_parse_never_panics_on_near_misses(
        text in "Qafila ((device|ts|nonce|sig|x)?=?[0-9a-fA-F_+/=-]{0,90} ?,?){0,6}",
    ) {
        let _ = Claim::parse(&text);
    }

    #[test]
    fn uid_parse_never_panics(text in "[0-9a-fA-Fé+ -]{0,40}") {
        if let Some(uid) = Uid::parse(&text) {
            prop_assert_eq!(Uid::parse(&uid.to_string()), Some(uid));
        }
    }

    // Valid encodings, one byte changed.

    #[test]
    fn a_flipped_record_byte_is_harmless(r in record(), at in any::<Index>(), mask in 1..=255u8) {
        survives_a_flip(&r, &at, mask)?;
    }

    #[test]
    fn a_flipped_upload_byte_is_harmless(u in upload(), at in any::<Index>(), mask in 1..=255u8) {
        survives_a_flip(&u, &at, mask)?;
    }

    #[test]
    fn a_flipped_outcomes_byte_is_harmless(o in outcomes(), at in any::<Index>(), mask in 1..=255u8) {
        survives_a_flip(&o, &at, mask)?;
    }

    #[test]
    fn a_flipped_cursors_byte_is_harmless(c in cursors(), at in any::<Index>(), mask in 1..=255u8) {
        survives_a_flip(&c, &at, mask)?;
    }

    #[test]
    fn a_flipped_fetch_byte_is_harmless(f in fetch(), at in any::<Index>(), mask in 1..=255u8) {
        survives_a_flip(&f, &at, mask)?;
    }

    #[test]
    fn a_flipped_stream_byte_is_harmless(
        frames in frames(),
        at in any::<Index>(),
        mask in 1..=255u8,
        cuts in vec(any::<usize>(), 0..4),
    ) {
        let mut bytes = stream_bytes(&frames);
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        read_untrusted(&bytes, &cuts)?;
    }

    #[test]
    fn a_changed_claim_is_harmless(
        seed in any::<[u8; 32]>(),
        device in uid(),
        ts in any::<u64>(),
        at in any::<Index>(),
        mask in 1..=255u8,
        cut in any::<Index>(),
    ) {
        let key = ed25519_key(seed);
        let stamp = auth::Stamp { relay: device, ts_ms: ts, nonce: [3; 16] };
        let header = auth::sign(&key, device, stamp, "POST", "/v1/x", b"body");
        let claim = Claim::parse(&header).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(claim.device, device);
        prop_assert_eq!(claim.ts_ms, ts);

        let mut bytes = header.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        let _ = Claim::parse(&String::from_utf8_lossy(&bytes));

        // Any proper prefix lacks (part of) the signature.
        let cut = cut.index(header.len());
        prop_assert!(Claim::parse(&header[..cut]).is_err());
    }

    // Valid encodings, truncated.

    #[test]
    fn a_truncated_record_is_refused(r in record(), cuts in vec(any::<Index>(), 1..8)) {
        refuses_truncation(&r, &cuts)?;
    }

    #[test]
    fn a_truncated_upload_is_refused(u in upload(), cuts in vec(any::<Index>(), 1..8)) {
        refuses_truncation(&u, &cuts)?;
    }

    #[test]
    fn truncated_outcomes_are_refused(o in outcomes(), cuts in vec(any::<Index>(), 1..8)) {
        refuses_truncation(&o, &cuts)?;
    }

    #[test]
    fn truncated_cursors_are_refused(c in cursors(), cuts in vec(any::<Index>(), 1..8)) {
        refuses_truncation(&c, &cuts)?;
    }

    #[test]
    fn a_truncated_fetch_is_refused(f in fetch(), cuts in vec(any::<Index>(), 1..8)) {
        refuses_truncation(&f, &cuts)?;
    }

    // The header is the AEAD's associated data: it must be injective.

    #[test]
    fn distinct_headers_encode_differently(
        a in record_header(),
        b in record_header(),
        ciphertext in vec(any::<u8>(), 0..64),
    ) {
        prop_assume!(a != b);
        prop_assert_ne!(a.encode(), b.encode());
        let ra = Record { header: a, ciphertext: ciphertext.clone() };
        let rb = Record { header: b, ciphertext };
        prop_assert_ne!(ra.encode(), rb.encode());
    }

    #[test]
    fn changing_one_header_field_changes_the_encoding(
        header in record_header(),
        field in 0..6usize,
        other in record_header(),
        ciphertext in vec(any::<u8>(), 0..64),
    ) {
        let mut changed = header;
        match field {
            0 => changed.scope = other.scope,
            1 => changed.device = other.device,
            2 => changed.seq = other.seq,
            3 => changed.epoch = other.epoch,
            4 => changed.kind = other.kind,
            _ => {
                changed.kind = match header.kind {
                    RecordKind::Log => RecordKind::Keyed { key: [0; 32], version: 0 },
                    RecordKind::Keyed { .. } => RecordKind::Log,
                }
            }
        }
        prop_assume!(changed != header);
        prop_assert_ne!(header.encode(), changed.encode());
        let before = Record { header, ciphertext: ciphertext.clone() };
        let after = Record { header: changed, ciphertext };
        prop_assert_ne!(before.encode(), after.encode());
        // The header's bytes are exactly the record's prefix.
        prop_assert!(before.encode().starts_with(&header.encode()));
    }

    // Ids and JSON.

    #[test]
    fn uids_round_trip_through_text(u in uid()) {
        let text = u.to_string();
        prop_assert_eq!(text.len(), 36);
        prop_assert_eq!(Uid::parse(&text), Some(u));
        prop_assert_eq!(Uid::parse(&text.replace('-', "")), Some(u));
        prop_assert_eq!(Uid::parse(&text.to_uppercase()), Some(u));
        let json = serde_json::to_string(&u).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&json, &format!("\"{text}\""));
        let back: Uid = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, u);
    }

    #[test]
    fn members_round_trip_through_json(m in member()) {
        let json = serde_json::to_string(&m).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Member = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, m);
    }
}

fn ed25519_key(seed: [u8; 32]) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

// ---------------------------------------------------------------------------
// Unit tests.
// ---------------------------------------------------------------------------

fn sample_record(seq: u64) -> Record {
    Record {
        header: RecordHeader {
            scope: Uid([1; 16]),
            device: Uid([2; 16]),
            seq,
            epoch: 3,
            kind: RecordKind::Keyed {
                key: [4; 32],
                version: 5,
            },
        },
        ciphertext: vec![6; 10],
    }
}

fn sample_upload() -> Upload {
    Upload {
        records: vec![sample_record(1), sample_record(2)],
    }
}

fn sample_outcomes() -> Outcomes {
    Outcomes(vec![
        Outcome::Stored,
        Outcome::Duplicate,
        Outcome::Conflict,
        Outcome::Gap { expected: 7 },
        Outcome::Forbidden,
        Outcome::Superseded,
    ])
}

fn sample_cursors() -> Cursors {
    Cursors(vec![(Uid([1; 16]), 4), (Uid([2; 16]), 0)])
}

fn sample_fetch() -> Fetch {
    Fetch {
        max_bytes: 1 << 16,
        cursors: sample_cursors(),
    }
}

/// Every binary body, encoded, with its decoder.
type Decoder = fn(&[u8]) -> Result<(), DecodeError>;

fn samples() -> Vec<(&'static str, Vec<u8>, Decoder)> {
    vec![
        ("record", sample_record(1).encode(), |b| {
            Record::decode(b).map(drop)
        }),
        ("upload", sample_upload().encode(), |b| {
            Upload::decode(b).map(drop)
        }),
        ("empty upload", Upload::default().encode(), |b| {
            Upload::decode(b).map(drop)
        }),
        ("outcomes", sample_outcomes().encode(), |b| {
            Outcomes::decode(b).map(drop)
        }),
        ("cursors", sample_cursors().encode(), |b| {
            Cursors::decode(b).map(drop)
        }),
        ("fetch", sample_fetch().encode(), |b| {
            Fetch::decode(b).map(drop)
        }),
    ]
}

#[test]
fn samples_decode() {
    for (name, bytes, decode) in samples() {
        assert_eq!(decode(&bytes), Ok(()), "{name}");
    }
}

#[test]
fn an_upload_over_the_record_limit_is_refused() {
    for count in [MAX_RECORDS_PER_UPLOAD as u32 + 1, u32::MAX] {
        let mut bytes = vec![VERSION];
        bytes.extend_from_slice(&count.to_le_bytes());
        assert!(
            matches!(Upload::decode(&bytes), Err(DecodeError::Invalid(_))),
            "{count}"
        );
        // Even with records behind it.
        for n in 0..3 {
            bytes.extend_from_slice(&sample_record(n + 1).encode());
        }
        assert!(matches!(
            Upload::decode(&bytes),
            Err(DecodeError::Invalid(_))
        ));
    }
}

#[test]
fn an_upload_at_the_record_limit_is_accepted() {
    let upload = Upload {
        records: (1..=MAX_RECORDS_PER_UPLOAD as u64)
            .map(sample_record)
            .collect(),
    };
    assert_eq!(Upload::decode(&upload.encode()), Ok(upload));
    // The count alone is not refused: the records are just missing.
    let mut bytes = vec![VERSION];
    bytes.extend_from_slice(&(MAX_RECORDS_PER_UPLOAD as u32).to_le_bytes());
    assert_eq!(Upload::decode(&bytes), Err(DecodeError::Truncated));
}

#[test]
fn too_many_outcomes_or_cursors_are_refused() {
    let mut bytes = vec![VERSION];
    bytes.extend_from_slice(&(MAX_RECORDS_PER_UPLOAD as u32 + 1).to_le_bytes());
    assert!(matches!(
        Outcomes::decode(&bytes),
        Err(DecodeError::Invalid(_))
    ));

    let mut bytes = vec![VERSION];
    bytes.extend_from_slice(&(MAX_CURSORS as u32 + 1).to_le_bytes());
    assert!(matches!(
        Cursors::decode(&bytes),
        Err(DecodeError::Invalid(_))
    ));

    let mut bytes = vec![VERSION];
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&(MAX_CURSORS as u32 + 1).to_le_bytes());
    assert!(matches!(
        Fetch::decode(&bytes),
        Err(DecodeError::Invalid(_))
    ));
}

#[test]
fn a_ciphertext_over_the_limit_is_refused_before_it_is_read() {
    let mut bytes = sample_record(1).encode();
    let len_at = bytes.len() - 10 - 4;
    bytes.truncate(len_at);
    bytes.extend_from_slice(&(MAX_RECORD_BYTES as u32 + 1).to_le_bytes());
    assert!(matches!(
        Record::decode(&bytes),
        Err(DecodeError::Invalid(_))
    ));
    // At the limit, it is merely missing.
    bytes.truncate(len_at);
    bytes.extend_from_slice(&(MAX_RECORD_BYTES as u32).to_le_bytes());
    assert_eq!(Record::decode(&bytes), Err(DecodeError::Truncated));
}

#[test]
fn an_unknown_record_kind_or_outcome_is_refused() {
    let mut record = sample_record(1).encode();
    record[1 + 16 + 16 + 8 + 4] = 2;
    assert!(matches!(
        Record::decode(&record),
        Err(DecodeError::Invalid(_))
    ));

    let mut bytes = vec![VERSION];
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.push(6);
    assert!(matches!(
        Outcomes::decode(&bytes),
        Err(DecodeError::Invalid(_))
    ));
}

#[test]
fn a_zero_sequence_number_is_refused() {
    let mut bytes = sample_record(1).encode();
    bytes[33..41].copy_from_slice(&0u64.to_le_bytes());
    assert!(matches!(
        Record::decode(&bytes),
        Err(DecodeError::Invalid(_))
    ));
}

#[test]
fn a_wrong_version_is_refused() {
    for version in (0..=u8::MAX).filter(|v| *v != VERSION) {
        for (name, mut bytes, decode) in samples() {
            bytes[0] = version;
            assert_eq!(decode(&bytes), Err(DecodeError::Version(version)), "{name}");
        }
        // Inside an upload, each record's header has its own version.
        let mut upload = sample_upload().encode();
        upload[5] = version;
        assert_eq!(Upload::decode(&upload), Err(DecodeError::Version(version)));

        let mut stream = stream_bytes(&[Frame::End { more: false }]);
        stream[0] = version;
        let mut reader = FrameReader::new();
        reader.feed(&stream);
        assert_eq!(reader.next_frame(), Err(DecodeError::Version(version)));
    }
}

#[test]
fn trailing_bytes_are_refused() {
    for (name, mut bytes, decode) in samples() {
        for extra in [0u8, VERSION, 0xff] {
            bytes.push(extra);
            assert_eq!(decode(&bytes), Err(DecodeError::Trailing), "{name}");
        }
    }
}

#[test]
fn bytes_after_the_end_frame_are_refused() {
    let mut bytes = stream_bytes(&[Frame::Record(sample_record(1)), Frame::End { more: true }]);
    bytes.push(1);
    let mut reader = FrameReader::new();
    reader.feed(&bytes);
    assert_eq!(
        reader.next_frame(),
        Ok(Some(Frame::Record(sample_record(1))))
    );
    assert_eq!(reader.next_frame(), Ok(Some(Frame::End { more: true })));
    assert!(reader.ended());
    assert_eq!(reader.next_frame(), Err(DecodeError::Trailing));
}

#[test]
fn an_ended_stream_stays_quiet() {
    let mut reader = FrameReader::new();
    assert_eq!(reader.next_frame(), Ok(None));
    reader.feed(&stream_bytes(&[Frame::End { more: false }]));
    assert_eq!(reader.next_frame(), Ok(Some(Frame::End { more: false })));
    assert!(reader.ended());
    assert_eq!(reader.next_frame(), Ok(None));
    assert_eq!(reader.next_frame(), Ok(None));
}

#[test]
fn bad_frames_are_refused() {
    for (tail, what) in [
        (&[3u8][..], "frame tag"),
        (&[0u8][..], "frame tag"),
        (&[2u8, 2][..], "end frame"),
    ] {
        let mut reader = FrameReader::new();
        reader.feed(&stream_start());
        reader.feed(tail);
        assert!(
            matches!(reader.next_frame(), Err(DecodeError::Invalid(_))),
            "{what}"
        );
    }
}

#[test]
fn uid_text_forms() {
    let uid = Uid([
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32,
        0x10,
    ]);
    assert_eq!(uid.to_string(), "01234567-89ab-cdef-fedc-ba9876543210");
    assert_eq!(
        Uid::parse("01234567-89ab-cdef-fedc-ba9876543210"),
        Some(uid)
    );
    assert_eq!(Uid::parse("0123456789ABCDEFFEDCBA9876543210"), Some(uid));
    for bad in [
        "",
        "01234567-89ab-cdef-fedc-ba987654321",
        "01234567-89ab-cdef-fedc-ba98765432100",
        "01234567-89ab-cdef-fedc-ba987654321g",
        "é1234567-89ab-cdef-fedc-ba98765432",
        "éééééééééééééééé",
    ] {
        assert_eq!(Uid::parse(bad), None, "{bad}");
    }
    assert!(serde_json::from_str::<Uid>("\"not a uuid\"").is_err());
}

#[test]
fn member_json_carries_standard_base64() {
    let member = Member {
        keys: DeviceKeys {
            device: Uid([0xab; 16]),
            name: "جهاز ٣".to_owned(),
            signing: B64(vec![0xfb, 0xff, 0xbf]),
            encryption: B64(vec![0; 32]),
        },
        role: "member".to_owned(),
        status: "approved".to_owned(),
        certificate: B64(vec![0xfb, 0xef]),
        version: 3,
        invite: Some("ab".repeat(32)),
        binding: B64(vec![1; 32]),
        last_seen_ms: None,
        made_after_ms: None,
        uploaded_ms: None,
    };
    let json: serde_json::Value = serde_json::to_value(&member).unwrap();
    assert_eq!(json["keys"]["signing"], "+/+/");
    assert_eq!(json["certificate"], "++8=");
    assert_eq!(json["keys"]["device"], Uid([0xab; 16]).to_string());
    assert_eq!(member.keys.encryption.key(), Some([0; 32]));
    assert_eq!(member.keys.signing.key(), None);
    let back: Member = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, member);

    // The certificate may be left out; bad base64 is refused.
    let mut without = json.clone();
    without.as_object_mut().unwrap().remove("certificate");
    let back: Member = serde_json::from_value(without).unwrap();
    assert_eq!(back.certificate, B64::default());
    let mut bad = json;
    bad["keys"]["signing"] = "-_-_".into();
    assert!(serde_json::from_value::<Member>(bad).is_err());
}

// ---------------------------------------------------------------------------
// Certificates: what the lead signs, as relays and devices read it.
// ---------------------------------------------------------------------------

fn certificate() -> impl Strategy<Value = qafila_proto::cert::Certificate> {
    use qafila_proto::cert::{CertRole, Certificate, Period, Standing};
    (
        uid(),
        uid(),
        "[a-z ء-ي0-9]{0,40}",
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        prop::sample::select(CertRole::ALL.to_vec()),
        prop::bool::ANY,
        (any::<u32>(), any::<u64>(), any::<[u8; 32]>(), any::<u32>()),
        vec(
            (
                any::<u64>(),
                prop::option::of(prop::sample::select(CertRole::ALL.to_vec())),
            ),
            0..6,
        ),
    )
        .prop_map(
            |(
                scope,
                device,
                name,
                signing,
                encryption,
                role,
                revoked,
                (version, since, prior_hash, rotated_to),
                periods,
            )| {
                // Valid periods: in order, none after the certificate's own.
                let mut earlier: Vec<Period> = periods
                    .into_iter()
                    .filter(|(at, _)| *at <= since)
                    .map(|(since, role)| Period { since, role })
                    .collect();
                earlier.sort_by_key(|p| p.since);
                earlier.dedup_by_key(|p| p.since);
                Certificate {
                    scope,
                    device,
                    name,
                    signing,
                    encryption,
                    role,
                    standing: if revoked {
                        Standing::Revoked
                    } else {
                        Standing::Approved
                    },
                    version,
                    since,
                    prior_hash,
                    rotated_to,
                    earlier,
                }
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn certificates_round_trip_and_any_flipped_byte_fails_to_open(
        c in certificate(),
        seed in any::<[u8; 32]>(),
        at in any::<Index>(),
        mask in 1..=255u8,
        garbage in vec(any::<u8>(), 0..300),
    ) {
        use qafila_proto::cert::Certificate;
        let lead = ed25519_key(seed);
        let key = lead.verifying_key().to_bytes();
        let bytes = c.sign(&lead);
        prop_assert_eq!(Certificate::open(&bytes, &key).unwrap(), c);
        let mut flipped = bytes.clone();
        let i = at.index(flipped.len());
        flipped[i] ^= mask;
        prop_assert!(Certificate::open(&flipped, &key).is_err());
        let _ = Certificate::decode(&garbage);
        let cut = at.index(bytes.len());
        prop_assert!(Certificate::decode(&bytes[..cut]).is_err());
    }
}
