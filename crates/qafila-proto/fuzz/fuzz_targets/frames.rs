//! A download stream fed to `FrameReader` in two halves: never panics, and
//! the frames it gives before any error are exactly what the input starts
//! with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qafila_proto::batch::{Frame, FrameReader, stream_start};

/// Takes every complete frame; false on a decoding error.
fn drain(reader: &mut FrameReader, frames: &mut Vec<Frame>) -> bool {
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (first, second) = data.split_at(data.len() / 2);
    let mut reader = FrameReader::new();
    let mut frames = Vec::new();
    reader.feed(first);
    if drain(&mut reader, &mut frames) {
        reader.feed(second);
        drain(&mut reader, &mut frames);
    }
    if !frames.is_empty() {
        let mut read = stream_start();
        for frame in &frames {
            read.extend_from_slice(&frame.encode());
        }
        assert!(data.starts_with(&read), "frames read are not the input's");
        assert_eq!(
            reader.ended(),
            matches!(frames.last(), Some(Frame::End { .. }))
        );
    }
});
