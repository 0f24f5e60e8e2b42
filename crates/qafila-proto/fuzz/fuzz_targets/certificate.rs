//! `cert::Certificate::decode` and `open` on any bytes: never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qafila_proto::cert::Certificate;

fuzz_target!(|data: &[u8]| {
    let _ = Certificate::decode(data);
    let _ = Certificate::open(data, &[7; 32]);
});
