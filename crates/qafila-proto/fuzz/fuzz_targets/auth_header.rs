//! `auth::Claim::parse` on any `Authorization` value: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qafila_proto::auth::Claim;

fuzz_target!(|data: &[u8]| {
    let _ = Claim::parse(&String::from_utf8_lossy(data));
});
