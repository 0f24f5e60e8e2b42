//! The device's hot paths against DESIGN.md §7's targets, on a store holding
//! a generated registry of 250,000 realistic Arabic names:
//! scan → entitlement shown (p99 < 1 ms), hand-out recorded durably
//! (p99 < 2 ms), search by name or national ID (p99 < 10 ms), and opening
//! the store (< 0.5 s).
//!
//! Criterion reports medians; each timed path also prints its p99 from the
//! individual samples. The 250,000-person store is built once (a few
//! minutes) under `target/qafila-bench/` and reused.
//! Run: `cargo bench -p qafila-app --bench device`
//! (`QAFILA_BENCH_PEOPLE=20000` for a quicker, smaller run).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use qafila_app::distribution::HandOutRequest;
use qafila_app::{App, ClockFn, Passphrase};
use qafila_domain::nid::NationalId;
use qafila_store::Store;
use qafila_store::registry::Registration;
use qafila_testkit::names::person;

const SEED: u64 = 2026;

fn people() -> u64 {
    std::env::var("QAFILA_BENCH_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250_000)
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default()
}

/// A clock starting `days` after the registry was built: a volunteer's
/// device serves people registered on earlier days, into today's document.
fn clock_after(days: u64) -> ClockFn {
    let start = Instant::now();
    // Morning in Cairo, `days` after the registry's day.
    Arc::new(move || 1_796_100_000_000 + days * 86_400_000 + start.elapsed().as_millis() as u64)
}

fn clock() -> ClockFn {
    clock_after(1)
}

/// The fixture's passphrase. Opening pays Argon2id for it, as a device does.
fn passphrase() -> Passphrase {
    Passphrase::new("bench passphrase")
}

/// The fixture store, built once per size.
fn fixture() -> PathBuf {
    let n = people();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/qafila-bench")
        .join(format!("registry-{n}"));
    let done = dir.join("complete");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "building a store of {n} beneficiaries in {} (once)…",
        dir.display()
    );
    let started = Instant::now();
    let store = Store::create(&dir, "bench", &passphrase(), 1_796_000_000_000)
        .expect("create the fixture store");
    let volunteer = qafila_domain::ids::VolunteerId::from_parts(1, [1; 10]);
    let mut index = 0;
    while index < n {
        let batch: Vec<Registration> = (index..(index + 5_000).min(n))
            .map(|i| {
                let p = person(SEED, i);
                Registration {
                    national_id: Some(
                        NationalId::parse(&p.national_id, today())
                            .expect("generated IDs are valid"),
                    ),
                    name: p.name,
                    phone: None,
                    household: None,
                    household_size: p.household_size,
                    village: p.village,
                }
            })
            .collect();
        index += batch.len() as u64;
        store
            .register_many(batch, volunteer, 1_796_000_000_000 + index)
            .expect("register a batch");
    }
    drop(store);
    std::fs::write(&done, b"").expect("mark the fixture complete");
    eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    dir
}

/// Times `f` once per iteration, prints the p99 of all samples, and returns
/// the total for criterion.
fn timed(samples: &mut Vec<Duration>, iters: u64, mut f: impl FnMut(u64)) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let t = Instant::now();
        f(i);
        let d = t.elapsed();
        samples.push(d);
        total += d;
    }
    total
}

fn report_p99(name: &str, samples: &mut [Duration]) {
    if samples.is_empty() {
        return;
    }
    samples.sort_unstable();
    let p = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    eprintln!(
        "{name}: n={} median={:?} p99={:?} max={:?}",
        samples.len(),
        p(0.5),
        p(0.99),
        samples[samples.len() - 1]
    );
}

fn benches(c: &mut Criterion) {
    let dir = fixture();
    let n = people();

    // Opening: a fresh process opens the store (page cache warm, as on a
    // phone that just relaunched the app).
    let mut open_samples = Vec::new();
    c.bench_function("open_store", |b| {
        b.iter_custom(|iters| {
            timed(&mut open_samples, iters, |_| {
                let app = App::open(&dir, &passphrase(), clock()).expect("open");
                std::hint::black_box(app.device());
            })
        })
    });
    report_p99("open_store", &mut open_samples);

    let app = App::open(&dir, &passphrase(), clock()).expect("open");
    let ids: Vec<String> = (0..1_000u64)
        .map(|i| person(SEED, i * (n / 1_000).max(1)).national_id)
        .collect();
    let beneficiaries: Vec<String> = ids
        .iter()
        .map(|nid| {
            app.find_beneficiary(nid)
                .expect("in the fixture")
                .id
                .to_string()
        })
        .collect();

    let mut scan_samples = Vec::new();
    c.bench_function("scan_to_entitlement", |b| {
        b.iter_custom(|iters| {
            timed(&mut scan_samples, iters, |i| {
                let who = &beneficiaries[(i % beneficiaries.len() as u64) as usize];
                std::hint::black_box(app.entitlement(who).expect("entitlement"));
            })
        })
    });
    report_p99("scan_to_entitlement", &mut scan_samples);

    // The same, from a scanned card: decode, check the signature against
    // the trusted issuer keys and the revocations, then the entitlement.
    if app.store().own_issuer().expect("issuer").is_none() {
        app.create_issuer("جمعية القياس")
            .expect("create an issuing key");
    }
    let own = app
        .store()
        .own_issuer()
        .expect("issuer")
        .expect("an issuing key");
    let key = qafila_cards::IssuerKey::from_secret_bytes(&own.secret);
    let round = app.current_round_id().expect("a round");
    let cards: Vec<String> = beneficiaries
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let serial = qafila_cards::number::serial(key.key_id(), i as u32 + 1);
            qafila_cards::Card::new(&key, serial, id.parse().expect("an id"), round).encode(&key)
        })
        .collect();
    let mut card_samples = Vec::new();
    c.bench_function("card_verified_to_entitlement", |b| {
        b.iter_custom(|iters| {
            timed(&mut card_samples, iters, |i| {
                let text = &cards[(i % cards.len() as u64) as usize];
                let verdict = app.verify_card(text).expect("verify");
                let who = verdict.beneficiary.as_deref().expect("a valid card");
                std::hint::black_box(app.entitlement(who).expect("entitlement"));
            })
        })
    });
    report_p99("card_verified_to_entitlement", &mut card_samples);

    let queries: Vec<String> = (0..200u64)
        .flat_map(|i| {
            let p = person(SEED, i * 997 % n);
            let parts: Vec<&str> = p.name.split(' ').collect();
            // A volunteer types the given name and the start of the father's
            // name, or the whole name without hamzas, or the national ID.
            let partial = format!(
                "{} {}",
                parts[0],
                parts[1].chars().take(3).collect::<String>()
            );
            let plain = p.name.replace(['أ', 'إ'], "ا");
            [partial, plain, p.national_id]
        })
        .collect();
    let mut search_samples = Vec::new();
    c.bench_function("search_registry", |b| {
        b.iter_custom(|iters| {
            timed(&mut search_samples, iters, |i| {
                let q = &queries[(i % queries.len() as u64) as usize];
                std::hint::black_box(app.search(q, 10).expect("search"));
            })
        })
    });
    report_p99("search_registry", &mut search_samples);

    // Hand-outs are recorded into a copy, so the fixture stays unchanged.
    let scratch = tempfile::tempdir().expect("tempdir");
    for file in ["qafila.db", "qafila.key"] {
        std::fs::copy(dir.join(file), scratch.path().join(file)).expect("copy the fixture");
    }
    let app = App::open(scratch.path(), &passphrase(), clock()).expect("open the copy");
    app.create_round("bench", &["hot_meal=1000000".to_owned()], true)
        .expect("a round with room");
    let mut hand_out_samples = Vec::new();
    c.bench_function("hand_out_recorded", |b| {
        b.iter_custom(|iters| {
            timed(&mut hand_out_samples, iters, |i| {
                let who = &beneficiaries[(i % beneficiaries.len() as u64) as usize];
                std::hint::black_box(
                    app.hand_out(HandOutRequest {
                        beneficiary: who.clone(),
                        item: "hot_meal".into(),
                        qty: "1".into(),
                        site: "ساحة القرية".into(),
                        ..HandOutRequest::default()
                    })
                    .expect("hand out"),
                );
            })
        })
    });
    report_p99("hand_out_recorded", &mut hand_out_samples);

    // The lead's day end on the same store (the registry plus the hand-outs
    // above): a blind count previewed against what is expected folds every
    // event the device holds, as the close does.
    app.stock(
        qafila_app::stock::Movement::Load,
        qafila_app::stock::StockRequest {
            site: "ساحة القرية".into(),
            item: "hot_meal".into(),
            qty: "100000".into(),
            ..Default::default()
        },
    )
    .expect("load");
    let counts = qafila_app::dayend::Counts {
        counts: vec![("hot_meal".into(), "90000".into())],
        reasons: vec![("hot_meal".into(), "counting_error".into())],
        notes: Vec::new(),
    };
    let mut reconcile_samples = Vec::new();
    let mut slow = c.benchmark_group("day_end");
    slow.sample_size(10);
    slow.bench_function("reconcile_preview", |b| {
        b.iter_custom(|iters| {
            timed(&mut reconcile_samples, iters, |_| {
                std::hint::black_box(
                    app.reconcile("ساحة القرية", None, &counts, true)
                        .expect("reconcile"),
                );
            })
        })
    });
    slow.finish();
    report_p99("day_end/reconcile_preview", &mut reconcile_samples);
}

criterion_group! {
    name = device;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(device);
