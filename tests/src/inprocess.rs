//! Devices in this process, for tests that run many convoys quickly or
//! turn a relay or a device hostile: real stores (on a RAM disk when there
//! is one) driven through the app façade and the real sync client, over
//! `qafila-testkit`'s in-memory relay.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::NaiveDate;
use qafila_app::App;
use qafila_app::distribution::HandOutRequest;
use qafila_app::registry::NewBeneficiary;
use qafila_domain::ids::DeviceId;
use qafila_proto::Uid;
use qafila_proto::cert::CertRole;
use qafila_proto::record::{RecordHeader, RecordKind};
use qafila_store::Store;
use qafila_store::sync::{ChainHead, Convoy, RemoteContent};
use qafila_sync::SyncError;
use qafila_sync::convoy::{self as ops, Report};
use qafila_sync::crypto::Identity;
use qafila_sync::payload::{self, Content, Link};
use qafila_testkit::relay::{MemoryClient, MemoryRelay};

pub const SITE: &str = "دير مواس";
/// 2026-12-01, 04:40 UTC.
pub const NOW: u64 = 1_796_100_000_000;

/// The passphrase of every in-process device's store.
fn passphrase() -> qafila_store::Passphrase {
    qafila_store::Passphrase::new(crate::PASSPHRASE)
}

/// The convoy's day, [`NOW`]'s date.
pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
}

/// Runs a future on a runtime of its own, as the app does.
pub fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// One device: a real store and the façade over it.
pub struct Dev {
    _dir: tempfile::TempDir,
    /// The façade over its store.
    pub app: App,
    /// Its name.
    pub name: String,
    /// Its own clock (ms since the Unix epoch), [`NOW`] unless set.
    clock: Arc<AtomicU64>,
    /// What the relay's hello tells it: the relay's clock minus its own.
    relay_offset: Arc<AtomicI64>,
}

impl std::fmt::Debug for Dev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dev({})", self.name)
    }
}

impl Dev {
    /// A new device named `name`, its clock at [`NOW`].
    pub fn new(name: &str) -> Dev {
        // A RAM disk makes each commit's fsync cheap: a hundred convoys a run.
        let dir = match std::path::Path::new("/dev/shm") {
            shm if shm.is_dir() => tempfile::tempdir_in(shm),
            _ => tempfile::tempdir(),
        }
        .unwrap();
        let clock = Arc::new(AtomicU64::new(NOW));
        let reads = clock.clone();
        let app = App::init(
            dir.path(),
            name,
            &passphrase(),
            Arc::new(move || reads.load(Ordering::SeqCst)),
        )
        .unwrap();
        Dev {
            _dir: dir,
            app,
            name: name.to_owned(),
            clock,
            relay_offset: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Sets its own clock to `ms`; the relay's (true) time stays `true_ms`,
    /// which its next sync learns.
    pub fn set_clock(&self, ms: u64, true_ms: u64) {
        self.clock.store(ms, Ordering::SeqCst);
        self.relay_offset.store(
            i64::try_from(true_ms).unwrap() - i64::try_from(ms).unwrap(),
            Ordering::SeqCst,
        );
    }

    /// Its store.
    pub fn store(&self) -> &Store {
        self.app.store()
    }

    /// Its id, as relays know it.
    pub fn id(&self) -> Uid {
        Uid(self.store().device().id.to_bytes())
    }

    /// `relay`, as this device talks to it.
    pub fn on(&self, relay: &MemoryRelay) -> MemoryClient {
        relay.client(self.id())
    }

    /// Its (only) convoy.
    pub fn convoy(&self) -> Convoy {
        ops::current(self.store(), None).unwrap()
    }

    /// Syncs its convoy with `relay` (its convoy's relay), as the app
    /// does: then it knows how far its clock is from the relay's.
    pub fn sync(&self, relay: &MemoryRelay) -> Result<Report, SyncError> {
        let client = self
            .on(relay)
            .with_clock_offset(self.relay_offset.load(Ordering::SeqCst));
        let report = block(ops::sync(self.store(), &client, &self.convoy(), NOW))?;
        self.app
            .learn_relay_clock(&self.convoy().relay, report.relay_clock);
        Ok(report)
    }

    /// Syncs, and panics if it fails.
    pub fn synced(&self, relay: &MemoryRelay) -> Report {
        self.sync(relay)
            .unwrap_or_else(|e| panic!("{} could not sync: {e}", self.name))
    }

    /// Registers a household of four in the site's village; its id.
    pub fn register(&self, name: &str, nid: Option<&str>) -> String {
        self.app
            .add_beneficiary(NewBeneficiary {
                name: name.into(),
                household_size: 4,
                village: SITE.into(),
                national_id: nid.map(str::to_owned),
                phone: None,
                household: None,
            })
            .unwrap()
            .beneficiary
    }

    /// Hands a food box to `beneficiary`'s household, beyond the
    /// entitlement if need be (with a reason).
    pub fn hand_out(&self, beneficiary: &str) -> String {
        self.try_hand_out(beneficiary, Some("a test serves again"))
            .unwrap()
    }

    /// Hands a food box to `beneficiary`'s household; without an override,
    /// refused once this device knows the household received its own.
    pub fn try_hand_out(
        &self,
        beneficiary: &str,
        override_reason: Option<&str>,
    ) -> Result<String, qafila_app::AppError> {
        Ok(self
            .app
            .hand_out(HandOutRequest {
                beneficiary: beneficiary.into(),
                item: "food_box".into(),
                qty: "1".into(),
                site: SITE.into(),
                lot: None,
                expiry: None,
                override_reason: override_reason.map(str::to_owned),
                card: None,
            })?
            .event)
    }

    /// Food boxes handed out at the site today, as this device counts them.
    pub fn handed_out(&self) -> String {
        let status = self.app.day_status(SITE, None).unwrap();
        status
            .items
            .iter()
            .find(|i| i.item == "food_box")
            .map_or_else(|| "0".into(), |i| i.handed_out.clone())
    }

    /// The records it set aside: device, seq, reason.
    pub fn quarantined(&self) -> Vec<(DeviceId, u64, String)> {
        self.store().quarantined(self.convoy().id).unwrap()
    }

    /// A connection to its decrypted database, for tests that read (or
    /// plant) rows directly.
    pub fn database(&self) -> rusqlite::Connection {
        let dir = self.store().path().parent().unwrap().to_owned();
        let key = qafila_store::Store::unlock(&dir, &passphrase(), NOW).unwrap();
        qafila_store::Store::raw_connection(&dir, &key).unwrap()
    }

    /// What changing this device's software does: its store believes it
    /// may record anything (it forgets its certified role), so it records
    /// and sends what a volunteer may not.
    pub fn go_rogue(&self) {
        let conn = self.database();
        conn.execute(
            "UPDATE roster SET role = 'legacy', version = 999 WHERE device = ?1",
            [self.store().device().id.to_bytes()],
        )
        .unwrap();
        drop(conn);
        // Drops the store's cached roles.
        self.store()
            .put_roster(self.convoy().id, Vec::new())
            .unwrap();
    }

    /// Seals `content` as the next log record of this device, as modified
    /// software could (chained, signed, sealed with the convoy key), to go
    /// up with its next sync.
    pub fn forge(&self, content: RemoteContent) {
        self.forge_linked(content, true);
    }

    /// Like [`Dev::forge`], but sealed as records were before chains (a
    /// legacy link): what modified software could send to skip the chain.
    pub fn forge_unchained(&self, content: RemoteContent) {
        self.forge_linked(content, false);
    }

    fn forge_linked(&self, content: RemoteContent, chained: bool) {
        let store = self.store();
        let convoy = self.convoy();
        let secrets = store.identity().unwrap();
        let identity = Identity::from_secrets(secrets.signing, secrets.encryption);
        let key = store.scope_keys(convoy.id).unwrap().pop().unwrap();
        let seq = store.next_record(convoy.id).unwrap();
        let (prev, hash) = match store.chain_head(convoy.id).unwrap() {
            ChainHead::Known(seq, hash) => (seq, hash),
            ChainHead::Last(seq, bytes) => (seq, payload::chain_hash_of(&bytes)),
            ChainHead::Empty => (0, [0; 32]),
        };
        let header = RecordHeader {
            scope: Uid(convoy.id),
            device: self.id(),
            seq,
            epoch: key.epoch,
            kind: RecordKind::Log,
        };
        let record = payload::seal(
            header,
            &Content::Store(content),
            if chained {
                Link::After {
                    seq: prev,
                    hash,
                    listed: Vec::new(),
                }
            } else {
                Link::Legacy
            },
            &identity,
            &key.key,
        )
        .unwrap();
        store
            .add_outbox(
                convoy.id,
                vec![(seq, record.encode(), false)],
                None,
                Vec::new(),
                Some((seq, payload::chain_hash(&record))),
            )
            .unwrap();
    }
}

/// A new device `name` enrolled in `lead`'s convoy with a fresh code from
/// the lead, waiting for approval.
pub fn enrolled(lead: &Dev, relay: &MemoryRelay, name: &str) -> Dev {
    let codes = block(ops::invite(
        lead.store(),
        &lead.on(relay),
        &lead.convoy(),
        1,
        ops::CODE_LIFETIME_MS,
        NOW,
    ))
    .unwrap();
    let device = Dev::new(name);
    block(ops::enroll(device.store(), &device.on(relay), &codes[0])).unwrap();
    device
}

/// A lead's convoy on `relay`, with one device per role, each enrolled with
/// the lead's code, approved, and synced.
pub fn convoy(relay: &MemoryRelay, roles: &[CertRole]) -> (Dev, Vec<Dev>) {
    let lead = Dev::new("Lead");
    let created = block(ops::create(
        lead.store(),
        &lead.on(relay),
        &ops::NewConvoy {
            name: "قافلة الشتاء",
            day: "2026-12-01",
            sites: &[SITE.to_owned()],
            codes: roles.len(),
            time: qafila_app::time::ConvoyTime::default(),
        },
        NOW,
    ))
    .unwrap();
    let mut devices = Vec::new();
    for (i, (code, role)) in created.codes.iter().zip(roles).enumerate() {
        let device = Dev::new(&format!("Device {}", i + 1));
        block(ops::enroll(device.store(), &device.on(relay), code)).unwrap();
        block(ops::approve(
            lead.store(),
            &lead.on(relay),
            &created.convoy,
            &device.name,
            *role,
            None,
            NOW,
        ))
        .unwrap();
        devices.push(device);
    }
    lead.synced(relay);
    for device in &devices {
        device.synced(relay);
    }
    (lead, devices)
}
