//! `Upload::decode` on untrusted bytes: never panics, and whatever it accepts
//! re-encodes to exactly the bytes it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qafila_proto::batch::Upload;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = Upload::decode(data) {
        assert_eq!(value.encode(), data, "accepted a non-canonical encoding");
    }
});
