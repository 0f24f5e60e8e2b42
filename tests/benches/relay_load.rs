//! Load generator: 3,000 devices syncing at once against one relay
//! (DESIGN.md §7: no errors, p99 round trip < 1 s).
//!
//! 150 convoys × 20 devices are enrolled and approved first (not timed).
//! Then, each wave, every device at once uploads one sealed record of the
//! size a sync carries (2 KiB, ~50 events) and downloads what its convoy's
//! other devices uploaded: two signed requests, each on the device's own
//! connection. Criterion reports the wave's median; the run prints the p50
//! and p99 of the devices' round trips and the errors.
//! Run: `cargo bench -p qafila-e2e --bench relay_load`
//! (`QAFILA_LOAD_DEVICES=600` for a smaller run).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Fetch, Upload};
use qafila_proto::cert::{CertRole, Certificate, Standing};
use qafila_proto::control::{Approve, B64, CreateScope, DeviceKeys, Enroll, Invite, WrappedKey};
use qafila_proto::record::{Record, RecordHeader, RecordKind};
use qafila_relay::storage::sqlite::SqliteStorage;
use qafila_sync::client::RelayClient;
use qafila_sync::transport::Relay as _;
use sha2::Digest;

const PER_CONVOY: usize = 20;

fn devices() -> usize {
    std::env::var("QAFILA_LOAD_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

struct Device {
    client: RelayClient,
    keys: DeviceKeys,
    scope: Uid,
    seq: u64,
    cursors: Vec<(Uid, u64)>,
}

fn device_keys(n: usize) -> (SigningKey, DeviceKeys) {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(n as u64).to_le_bytes());
    let key = SigningKey::from_bytes(&seed);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(n as u64 + 1).to_be_bytes());
    id[6] = 0x70;
    let keys = DeviceKeys {
        device: Uid(id),
        name: format!("device {n}"),
        signing: B64(key.verifying_key().to_bytes().to_vec()),
        encryption: B64(vec![9; 32]),
    };
    (key, keys)
}

async fn enroll_all(url: &str, total: usize) -> Vec<Device> {
    let mut out = Vec::with_capacity(total);
    for convoy in 0..total.div_ceil(PER_CONVOY) {
        let mut scope = [0u8; 16];
        scope[..8].copy_from_slice(&(convoy as u64 + 1).to_be_bytes());
        let scope = Uid(scope);
        let (lead_key, lead) = device_keys(convoy * PER_CONVOY);
        let lead_signing = lead_key.clone();
        let lead_client = RelayClient::new(url, lead.device, lead_key).unwrap();
        lead_client
            .create_scope(&CreateScope {
                scope,
                lead: lead.clone(),
                members: vec![],
                keys: vec![],
            })
            .await
            .unwrap();
        out.push(Device {
            client: lead_client.clone(),
            keys: lead,
            scope,
            seq: 0,
            cursors: vec![],
        });
        for member in 1..PER_CONVOY.min(total - convoy * PER_CONVOY) {
            let n = convoy * PER_CONVOY + member;
            let secret = format!("code-{n}");
            let code_hash: String = sha2::Sha256::digest(secret.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            lead_client
                .invite(
                    scope,
                    &Invite {
                        code_hash: code_hash.clone(),
                        expires_ms: u64::MAX / 2,
                        lifetime_ms: None,
                        uses: 1,
                    },
                )
                .await
                .unwrap();
            let (key, keys) = device_keys(n);
            let client = RelayClient::new(url, keys.device, key).unwrap();
            client
                .enroll(&Enroll {
                    code_hash,
                    device: keys.clone(),
                    binding: B64(vec![3; 32]),
                })
                .await
                .unwrap();
            lead_client
                .approve(
                    scope,
                    keys.device,
                    &Approve {
                        certificate: B64(Certificate {
                            scope,
                            device: keys.device,
                            name: keys.name.clone(),
                            signing: keys.signing.key().unwrap(),
                            encryption: keys.encryption.key().unwrap(),
                            role: CertRole::Volunteer,
                            standing: Standing::Approved,
                            version: 1,
                            since: 1,
                            prior_hash: [0; 32],
                            rotated_to: 0,
                            earlier: Vec::new(),
                        }
                        .sign(&lead_signing)),
                        keys: vec![WrappedKey {
                            epoch: 1,
                            wrapped: B64(vec![2; 104]),
                            signature: B64(vec![4; 64]),
                            revocations: vec![],
                        }],
                    },
                )
                .await
                .unwrap();
            out.push(Device {
                client,
                keys,
                scope,
                seq: 0,
                cursors: vec![],
            });
        }
    }
    out
}

/// One device's sync: upload a record, download the convoy's new ones.
async fn sync_once(device: &mut Device) -> Result<Duration, String> {
    let started = Instant::now();
    device.seq += 1;
    let record = Record {
        header: RecordHeader {
            scope: device.scope,
            device: device.keys.device,
            seq: device.seq,
            epoch: 1,
            kind: RecordKind::Log,
        },
        ciphertext: vec![0x5a; 2048],
    };
    let outcomes = device
        .client
        .upload(
            device.scope,
            &Upload {
                records: vec![record],
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    if !outcomes.0.iter().all(|o| o.is_settled()) {
        return Err(format!("upload refused: {outcomes:?}"));
    }
    let mut cursors = device.cursors.clone();
    cursors.push((device.keys.device, u64::MAX));
    let mut received = Vec::new();
    device
        .client
        .fetch(
            device.scope,
            &Fetch {
                max_bytes: 4 << 20,
                cursors: Cursors(cursors),
            },
            &mut |records| {
                received.extend(records);
                Ok(())
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    for record in received {
        let header = record.header;
        match device.cursors.iter_mut().find(|(d, _)| *d == header.device) {
            Some((_, seq)) => *seq = (*seq).max(header.seq),
            None => device.cursors.push((header.device, header.seq)),
        }
    }
    Ok(started.elapsed())
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let storage = SqliteStorage::open(&dir.path().join("relay.db")).unwrap();
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // 3,000 devices, each on its own connection, all from this machine's
    // one address: the per-address limits meant for attackers (and the
    // connection limit sized for one site) would refuse most of them.
    let config = qafila_relay::Config {
        max_connections: 16_384,
        max_connections_per_address: 16_384,
        address_rate_per_minute: 1_000_000,
        address_rate_burst: 100_000,
        ..Default::default()
    };
    server.spawn(qafila_relay::serve_with(
        config,
        storage,
        listener,
        std::future::pending(),
    ));
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let total = devices();
    let started = Instant::now();
    let mut fleet = clients.block_on(enroll_all(&url, total));
    eprintln!(
        "{total} devices enrolled and approved in {:.1?}",
        started.elapsed()
    );

    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("relay_load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .warm_up_time(Duration::from_millis(1));
    group.bench_function(format!("{total} devices sync at once"), |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                let wave = std::mem::take(&mut fleet);
                let (latencies, errors) = (latencies.clone(), errors.clone());
                let started = Instant::now();
                fleet = clients.block_on(async move {
                    let tasks: Vec<_> = wave
                        .into_iter()
                        .map(|mut device| {
                            let (latencies, errors) = (latencies.clone(), errors.clone());
                            tokio::spawn(async move {
                                match sync_once(&mut device).await {
                                    Ok(t) => latencies.lock().unwrap().push(t),
                                    Err(e) => {
                                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                                            eprintln!("sync error: {e}");
                                        }
                                    }
                                }
                                device
                            })
                        })
                        .collect();
                    let mut back = Vec::with_capacity(tasks.len());
                    for task in tasks {
                        back.push(task.await.unwrap());
                    }
                    back
                });
                elapsed += started.elapsed();
            }
            elapsed
        });
    });
    group.finish();
    let mut all = latencies.lock().unwrap().clone();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    println!(
        "relay_load: {} device syncs (upload + download), {} errors; round trip p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        all.len(),
        errors.load(Ordering::Relaxed),
        at(0.50),
        at(0.99),
        all[all.len() - 1]
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
