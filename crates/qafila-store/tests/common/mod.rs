//! The store every test file here starts from: one device, approved in one
//! convoy under a legacy certificate.

use qafila_store::sync::Convoy;
use qafila_store::{Passphrase, Store};

pub const NOW: u64 = 1_796_000_000_000;
pub const SCOPE: [u8; 16] = [4; 16];

pub fn pass() -> Passphrase {
    Passphrase::new("test passphrase")
}

pub fn store(name: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), name, &pass(), NOW).unwrap();
    store
        .put_convoy(Convoy {
            id: SCOPE,
            name: "ق".into(),
            day: "2026-12-01".into(),
            relay: "http://127.0.0.1:1".into(),
            role: "member".into(),
            status: "approved".into(),
            lead: qafila_domain::ids::DeviceId::from_parts(1, [1; 10]),
            lead_signing: [0; 32],
            sites: Vec::new(),
            relays: Vec::new(),
            time: Default::default(),
        })
        .unwrap();
    // Certified before roles existed: these tests are about applying
    // records, not about roles (`roles.rs` is).
    store
        .put_roster(
            SCOPE,
            vec![qafila_store::sync::RosterEntry {
                device: store.device().id,
                name: name.into(),
                signing: [0; 32],
                encryption: [0; 32],
                status: "approved".into(),
                role: "legacy".into(),
                version: 0,
                certificates: Vec::new(),
            }],
        )
        .unwrap();
    (dir, store)
}
