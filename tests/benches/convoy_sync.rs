//! A convoy day through a real relay on loopback (DESIGN.md §7):
//!
//! - 20 devices × 2,000 hand-outs each, recorded offline, then every device
//!   syncs twice (concurrently, each on its own thread) until all hold all
//!   40,000 events (target < 10 s);
//! - bytes on the wire (HTTP headers, bodies, encryption; counted by a TCP
//!   proxy in front of the relay) per event delivered to one device
//!   (target < 40 B);
//! - one device applying a full convoy day from the others, 38,000 events
//!   (target < 1 s).
//!
//! The 20 stores are built once (enrolled, approved, 2,000 events each)
//! under `target/qafila-bench/convoy-20x2000-v3/` (v3: the trust model's
//! format, with certificate periods and registry claims) and copied for every run.
//! Run: `cargo bench -p qafila-e2e --bench convoy_sync`

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use qafila_domain::event::{EventBody, HandOut};
use qafila_domain::ids::{BeneficiaryId, HouseholdId, VolunteerId};
use qafila_domain::item::ItemCode;
use qafila_domain::quantity::Quantity;
use qafila_proto::cert::CertRole;
use qafila_relay::storage::sqlite::SqliteStorage;
use qafila_store::Store;
use qafila_sync::convoy as ops;

const DEVICES: usize = 20;
const EVENTS: usize = 2_000;
const START_MS: u64 = 1_796_100_000_000;

struct Relay {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn start(db: &Path) -> Relay {
        let storage = SqliteStorage::open(db).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                // Every device is on this machine's one address: the
                // per-address limits meant for attackers would throttle it.
                let config = qafila_relay::Config {
                    rate_per_second: 100_000,
                    rate_burst: 100_000,
                    address_rate_per_minute: 1_000_000,
                    address_rate_burst: 100_000,
                    ..Default::default()
                };
                qafila_relay::serve_with(config, storage, listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Relay {
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A loopback proxy that counts every byte both ways.
/// Every bench device's passphrase (fixtures from before encryption are
/// encrypted under it on their first open).
fn passphrase() -> qafila_store::Passphrase {
    qafila_store::Passphrase::new("bench passphrase")
}

fn counting_proxy(upstream: String, counter: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let server = TcpStream::connect(upstream.trim_start_matches("http://")).unwrap();
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let mut counted = CountingWriter {
                        inner: &mut to,
                        counter,
                    };
                    let _ = std::io::copy(&mut from, &mut counted);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    url
}

struct CountingWriter<'a> {
    inner: &'a mut TcpStream,
    counter: Arc<AtomicU64>,
}

impl std::io::Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn fixture() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/qafila-bench/convoy-20x2000-v3");
    if dir.join("ready").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    eprintln!(
        "building the 20 × 2,000 fixture under {} ...",
        dir.display()
    );
    let relay = Relay::start(&dir.join("relay.db"));
    let rt = runtime();
    let lead = Store::create(&dir.join("d00"), "Lead", &passphrase(), START_MS).unwrap();
    let lead_client = ops::client(&lead, &relay.url).unwrap();
    let created = rt
        .block_on(ops::create(
            &lead,
            &lead_client,
            &ops::NewConvoy {
                name: "Bench convoy",
                day: "2026-12-01",
                sites: &["الموقع".into()],
                codes: DEVICES - 1,
                time: Default::default(),
            },
            START_MS,
        ))
        .unwrap();
    let mut stores = vec![lead];
    for (i, code) in created.codes.iter().enumerate() {
        let store = Store::create(
            &dir.join(format!("d{:02}", i + 1)),
            &format!("Device {}", i + 1),
            &passphrase(),
            START_MS,
        )
        .unwrap();
        let client = ops::client(&store, &relay.url).unwrap();
        rt.block_on(ops::enroll(&store, &client, code)).unwrap();
        rt.block_on(ops::approve(
            &stores[0],
            &lead_client,
            &created.convoy,
            &format!("Device {}", i + 1),
            CertRole::Volunteer,
            None,
            START_MS,
        ))
        .unwrap();
        stores.push(store);
    }
    for store in &stores {
        let convoy = ops::current(store, None).unwrap();
        let client = ops::client(store, &convoy.relay).unwrap();
        rt.block_on(ops::sync(store, &client, &convoy, START_MS))
            .unwrap();
    }
    // The relay is reset to this point for every run: remember what it holds.
    drop(relay);
    std::fs::copy(dir.join("relay.db"), dir.join("relay-start.db")).unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    for (d, store) in stores.iter().enumerate() {
        let round = store.current_round().unwrap().id;
        let site = store.site("الموقع").unwrap().id;
        for e in 0..EVENTS {
            let n = (d * EVENTS + e) as u64;
            let body = EventBody::HandOut(HandOut {
                beneficiary: BeneficiaryId::from_parts(
                    START_MS,
                    n.to_be_bytes()[..]
                        .iter()
                        .chain(&[1, 1])
                        .copied()
                        .collect::<Vec<_>>()
                        .try_into()
                        .unwrap(),
                ),
                household: HouseholdId::from_parts(
                    START_MS,
                    n.to_be_bytes()[..]
                        .iter()
                        .chain(&[2, 2])
                        .copied()
                        .collect::<Vec<_>>()
                        .try_into()
                        .unwrap(),
                ),
                site,
                day,
                round,
                item: ItemCode::FoodBox,
                qty: Quantity::units(1),
                lot: None,
                card: None,
                override_reason: None,
            });
            store
                .record(
                    VolunteerId::from_bytes(store.device().id.to_bytes()),
                    body,
                    START_MS + 1_000 + n,
                )
                .unwrap();
        }
    }
    drop(stores);
    std::fs::write(dir.join("ready"), b"").unwrap();
    eprintln!("fixture built in {:.0?}", started.elapsed());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

struct Run {
    converge: Duration,
    bytes: u64,
    deliveries: u64,
    one_device_day: Duration,
}

fn sync_all(stores: &[Store], url: &str) {
    std::thread::scope(|scope| {
        for store in stores {
            scope.spawn(move || {
                let convoy = ops::current(store, None).unwrap();
                let client = ops::client(store, url).unwrap();
                runtime()
                    .block_on(ops::sync(store, &client, &convoy, START_MS + 10_000_000))
                    .unwrap();
            });
        }
    });
}

fn one_run(fixture: &Path) -> Run {
    let work = tempfile::tempdir().unwrap();
    copy_dir(fixture, work.path());
    std::fs::copy(
        work.path().join("relay-start.db"),
        work.path().join("relay.db"),
    )
    .unwrap();
    let _ = std::fs::remove_file(work.path().join("relay.db-wal"));
    let relay = Relay::start(&work.path().join("relay.db"));
    let counter = Arc::new(AtomicU64::new(0));
    let url = counting_proxy(relay.url.clone(), counter.clone());
    let stores: Vec<Store> = (0..DEVICES)
        .map(|d| {
            Store::open(
                &work.path().join(format!("d{d:02}")),
                &passphrase(),
                START_MS,
            )
            .unwrap()
        })
        .collect();
    let before: Vec<u64> = stores.iter().map(|s| s.event_count().unwrap()).collect();
    let started = Instant::now();
    sync_all(&stores, &url);
    sync_all(&stores, &url);
    let converge = started.elapsed();
    let after: Vec<u64> = stores.iter().map(|s| s.event_count().unwrap()).collect();
    let total = before.iter().sum::<u64>();
    for (d, count) in after.iter().enumerate() {
        assert!(
            *count >= total - (DEVICES as u64) * 2,
            "device {d} holds {count} of {total} events: not converged"
        );
    }
    let deliveries: u64 = after.iter().zip(&before).map(|(a, b)| a - b).sum();
    let bytes = counter.load(Ordering::Relaxed);
    // One device receiving the whole day from the others.
    let fresh = work.path().join("fresh");
    copy_dir(&fixture.join("d01"), &fresh);
    let store = Store::open(&fresh, &passphrase(), START_MS).unwrap();
    let convoy = ops::current(&store, None).unwrap();
    let client = ops::client(&store, &relay.url).unwrap();
    let started = Instant::now();
    runtime()
        .block_on(ops::sync(&store, &client, &convoy, START_MS + 10_000_000))
        .unwrap();
    let one_device_day = started.elapsed();
    assert!(store.event_count().unwrap() >= total - (DEVICES as u64) * 2);
    drop(stores);
    Run {
        converge,
        bytes,
        deliveries,
        one_device_day,
    }
}

fn bench(c: &mut Criterion) {
    let fixture = fixture();
    let mut runs = Vec::new();
    let mut group = c.benchmark_group("convoy_sync");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60))
        .warm_up_time(Duration::from_millis(1));
    group.bench_function("20 devices x 2000 events, all converged", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let run = one_run(&fixture);
                total += run.converge;
                runs.push(run);
            }
            total
        });
    });
    group.finish();
    let mut converge: Vec<Duration> = runs.iter().map(|r| r.converge).collect();
    let mut day: Vec<Duration> = runs.iter().map(|r| r.one_device_day).collect();
    converge.sort();
    day.sort();
    let per_event: Vec<f64> = runs
        .iter()
        .map(|r| r.bytes as f64 / r.deliveries as f64)
        .collect();
    println!(
        "convoy_sync over {} runs: all converged median {:.2?}; one device applies 38,000 events median {:.2?}; \
         wire bytes per delivered event {:.1} ({} bytes / {} deliveries in the last run)",
        runs.len(),
        converge[converge.len() / 2],
        day[day.len() / 2],
        per_event.iter().sum::<f64>() / per_event.len() as f64,
        runs.last().map_or(0, |r| r.bytes),
        runs.last().map_or(0, |r| r.deliveries),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
