//! The storage behaviour the relay relies on, written once over any
//! [`Storage`] and run against both backends: SQLite in a temporary
//! directory, and PostgreSQL in a database of its own on one throwaway
//! server shared by the whole binary ([`TempPostgres`]; set
//! `QAFILA_TEST_DATABASE_URL` to use an existing server instead).

use std::path::PathBuf;
use std::sync::LazyLock;

use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Outcome};
use qafila_proto::control::{B64, DeviceKey, DeviceKeys, Enrolled, Invite, Member, WrappedKey};
use qafila_proto::record::{Record, RecordHeader, RecordKind};
use qafila_relay::storage::postgres::PgStorage;
use qafila_relay::storage::sqlite::SqliteStorage;
use qafila_relay::storage::{
    CertOutcome, CertificateRow, ERASED, MemberRow, Role, Status, Storage, StorageError,
};
use qafila_testkit::postgres::TempPostgres;

static POSTGRES: LazyLock<TempPostgres> = LazyLock::new(TempPostgres::start);

/// Where a backend keeps its bytes, to look for what must not be there.
enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    /// Whether any stored record still holds `marker`.
    async fn holds(&self, marker: &[u8]) -> bool {
        match self {
            Db::Sqlite(path) => {
                let path = path.clone();
                let marker = marker.to_vec();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(&path).unwrap();
                    // The relay's writer may be cutting the WAL itself right
                    // now (it does after answering an erasure): a checkpoint
                    // meanwhile is busy, so try again for a while.
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                    loop {
                        let busy: i64 = conn
                            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                            .unwrap();
                        if busy == 0 {
                            break;
                        }
                        assert!(
                            std::time::Instant::now() < deadline,
                            "the checkpoint could not complete"
                        );
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    drop(conn);
                    let mut bytes = std::fs::read(&path).unwrap();
                    let wal = std::fs::read(path.with_extension("db-wal")).unwrap_or_default();
                    assert!(wal.is_empty(), "the WAL was not truncated");
                    bytes.extend(wal);
                    contains(&bytes, &marker)
                })
                .await
                .unwrap()
            }
            Db::Postgres(url) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                let connection = tokio::spawn(connection);
                let rows: i64 = client
                    .query_one(
                        "SELECT count(*) FROM records WHERE position($1::bytea IN bytes) > 0",
                        &[&marker],
                    )
                    .await
                    .unwrap()
                    .get(0);
                drop(client);
                let _ = connection.await;
                rows > 0
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn sqlite() -> (tempfile::TempDir, SqliteStorage, Db) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let storage = SqliteStorage::open(&path).unwrap();
    (dir, storage, Db::Sqlite(path))
}

async fn postgres(name: &str) -> (PgStorage, Db) {
    let name = format!("storage_{name}");
    let url = tokio::task::spawn_blocking(move || POSTGRES.create_database(&name))
        .await
        .unwrap();
    let storage = PgStorage::connect(&url).await.unwrap();
    (storage, Db::Postgres(url))
}

/// One test per backend for a suite function.
macro_rules! on_both {
    ($($suite:ident),* $(,)?) => {$(
        mod $suite {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (_dir, storage, db) = super::sqlite();
                super::$suite(&storage, &db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let (storage, db) = super::postgres(stringify!($suite)).await;
                super::$suite(&storage, &db).await;
            }
        }
    )*};
}

on_both!(
    scopes_and_members,
    invites,
    concurrent_enrollment,
    certificates_and_keys,
    uploads,
    shuffled_batches,
    compaction,
    fetch_pages,
    concurrent_uploads,
    concurrent_compaction,
);

// ---------------------------------------------------------------- helpers

const SCOPE: Uid = Uid([0x5c; 16]);
const OTHER_SCOPE: Uid = Uid([0x5d; 16]);
const NOW: u64 = 1_750_000_000_000;

fn dev(n: u8) -> Uid {
    Uid([n; 16])
}

fn keys(n: u8) -> DeviceKeys {
    DeviceKeys {
        device: dev(n),
        name: format!("device {n}"),
        signing: B64(vec![n; 32]),
        encryption: B64(vec![n ^ 0xff; 32]),
    }
}

fn wrapped(device: u8, epoch: u32, text: &str) -> DeviceKey {
    DeviceKey {
        device: dev(device),
        key: WrappedKey {
            epoch,
            wrapped: B64(text.as_bytes().to_vec()),
            signature: B64(format!("signed {text}").into_bytes()),
            revocations: vec![B64(b"a revocation".to_vec())],
        },
    }
}

/// A certificate as the HTTP layer hands it to storage (already checked
/// against the lead's key there).
fn cert(n: u8, status: Status, version: u32, bytes: &[u8]) -> CertificateRow {
    CertificateRow {
        keys: keys(n),
        role: "volunteer".into(),
        status,
        version,
        bytes: bytes.to_vec(),
    }
}

fn invite(code: &str, expires_ms: u64, uses: u32) -> Invite {
    Invite {
        code_hash: code.into(),
        expires_ms,
        lifetime_ms: None,
        uses,
    }
}

fn log(device: u8, seq: u64, body: &[u8]) -> Record {
    Record {
        header: RecordHeader {
            scope: SCOPE,
            device: dev(device),
            seq,
            epoch: 1,
            kind: RecordKind::Log,
        },
        ciphertext: body.to_vec(),
    }
}

fn entry(device: u8, seq: u64, key: u8, version: u64, body: &[u8]) -> Record {
    Record {
        header: RecordHeader {
            scope: SCOPE,
            device: dev(device),
            seq,
            epoch: 1,
            kind: RecordKind::Keyed {
                key: [key; 32],
                version,
            },
        },
        ciphertext: body.to_vec(),
    }
}

fn encoded(records: &[&Record]) -> Vec<Vec<u8>> {
    records.iter().map(|r| r.encode()).collect()
}

/// Uploads, checking storage never answers `Forbidden` (authorisation is
/// the HTTP layer's).
async fn put<S: Storage>(s: &S, records: impl Into<Vec<Record>>) -> Vec<Outcome> {
    put_as(s, &[], records).await
}

/// Uploads with `authority`: the devices whose erasures replace every
/// device's entry.
async fn put_as<S: Storage>(
    s: &S,
    authority: &[u8],
    records: impl Into<Vec<Record>>,
) -> Vec<Outcome> {
    let records = records.into();
    let authority = authority.iter().map(|n| dev(*n)).collect();
    let outcomes = s
        .put_records(SCOPE, authority, records.clone())
        .await
        .unwrap();
    assert_eq!(outcomes.len(), records.len());
    assert!(
        !outcomes.contains(&Outcome::Forbidden),
        "storage answered Forbidden"
    );
    outcomes
}

/// Every live record, one unlimited page.
async fn everything<S: Storage>(s: &S) -> Vec<Vec<u8>> {
    let page = s
        .fetch(SCOPE, Cursors::default(), usize::MAX)
        .await
        .unwrap();
    assert!(!page.more);
    page.records
}

async fn create<S: Storage>(s: &S) {
    s.create_scope(SCOPE, keys(1), vec![wrapped(1, 1, "k1e1")])
        .await
        .unwrap();
}

fn member(n: u8, role: &str, status: &str, certificate: &[u8], version: u32) -> Member {
    Member {
        keys: keys(n),
        role: role.into(),
        status: status.into(),
        certificate: B64(certificate.to_vec()),
        version,
        invite: None,
        binding: B64::default(),
        last_seen_ms: None,
        made_after_ms: None,
        uploaded_ms: None,
    }
}

fn row(
    n: u8,
    role: Role,
    role_name: &str,
    status: Status,
    certificate: &[u8],
    version: u32,
) -> MemberRow {
    MemberRow {
        keys: keys(n),
        role,
        role_name: role_name.into(),
        status,
        certificate: certificate.to_vec(),
        version,
        invite: None,
        binding: vec![],
    }
}

// ---------------------------------------------------------------- suites

async fn scopes_and_members<S: Storage>(s: &S, _: &Db) {
    s.ready().await.unwrap();
    assert_eq!(s.member(SCOPE, dev(1)).await.unwrap(), None);
    assert!(s.members(SCOPE).await.unwrap().is_empty());

    s.create_scope(SCOPE, keys(1), vec![wrapped(1, 1, "k1e1")])
        .await
        .unwrap();
    // Members come with the lead's certificates (checked by the HTTP layer).
    assert_eq!(
        s.put_certificate(
            SCOPE,
            cert(3, Status::Approved, 1, b"cert 3"),
            vec![wrapped(3, 1, "k3e1")]
        )
        .await
        .unwrap(),
        CertOutcome::Applied
    );
    assert_eq!(
        s.member(SCOPE, dev(1)).await.unwrap(),
        Some(row(1, Role::Lead, "lead", Status::Approved, b"", 0))
    );
    assert_eq!(
        s.member(SCOPE, dev(3)).await.unwrap(),
        Some(row(
            3,
            Role::Member,
            "volunteer",
            Status::Approved,
            b"cert 3",
            1
        ))
    );
    assert_eq!(s.member(SCOPE, dev(9)).await.unwrap(), None);
    assert_eq!(s.member(OTHER_SCOPE, dev(1)).await.unwrap(), None);
    assert_eq!(
        s.members(SCOPE).await.unwrap(),
        vec![
            member(1, "lead", "approved", b"", 0),
            member(3, "volunteer", "approved", b"cert 3", 1),
        ]
    );
    assert!(s.members(OTHER_SCOPE).await.unwrap().is_empty());
    assert_eq!(
        s.keys(SCOPE, dev(3)).await.unwrap(),
        vec![wrapped(3, 1, "k3e1").key],
        "a grant keeps its signature and revocations"
    );

    // The same lead again: harmless, and adds the grants it brings.
    s.create_scope(SCOPE, keys(1), vec![wrapped(1, 2, "k1e2")])
        .await
        .unwrap();
    assert_eq!(s.keys(SCOPE, dev(1)).await.unwrap().len(), 2);

    // Another lead for the same scope: refused, and nothing changes.
    let refused = s
        .create_scope(SCOPE, keys(9), vec![wrapped(9, 1, "k9")])
        .await;
    assert!(
        matches!(refused, Err(StorageError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(s.member(SCOPE, dev(9)).await.unwrap(), None);
    assert!(s.keys(SCOPE, dev(9)).await.unwrap().is_empty());
    assert_eq!(
        s.member(SCOPE, dev(1)).await.unwrap().unwrap().role,
        Role::Lead
    );

    // The other device may lead a scope of its own.
    s.create_scope(OTHER_SCOPE, keys(9), vec![]).await.unwrap();
    assert_eq!(
        s.members(OTHER_SCOPE).await.unwrap(),
        vec![member(9, "lead", "approved", b"", 0)]
    );
}

async fn invites<S: Storage>(s: &S, _: &Db) {
    create(s).await;
    s.add_invite(SCOPE, invite("once", NOW + 60_000, 1))
        .await
        .unwrap();

    let enrolled = s
        .enroll("once".into(), keys(5), vec![5; 32], NOW)
        .await
        .unwrap();
    assert_eq!(
        enrolled,
        Enrolled {
            scope: SCOPE,
            lead: keys(1)
        }
    );
    assert_eq!(
        s.member(SCOPE, dev(5)).await.unwrap(),
        Some(MemberRow {
            invite: Some("once".into()),
            binding: vec![5; 32],
            ..row(5, Role::Member, "member", Status::Pending, b"", 0)
        }),
        "a pending device keeps the invite it used and its key binding"
    );

    // The only use is spent.
    let second = s.enroll("once".into(), keys(6), vec![], NOW).await;
    assert!(matches!(second, Err(StorageError::CodeSpent)), "{second:?}");
    assert_eq!(s.member(SCOPE, dev(6)).await.unwrap(), None);

    // The same device with the same keys again: harmless, spent code or not.
    assert_eq!(
        s.enroll("once".into(), keys(5), vec![], NOW).await.unwrap(),
        enrolled
    );
    // The same device id with other keys: refused.
    let impostor = DeviceKeys {
        name: "impostor".into(),
        ..keys(5)
    };
    let refused = s.enroll("once".into(), impostor, vec![], NOW).await;
    assert!(
        matches!(refused, Err(StorageError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(
        s.member(SCOPE, dev(5)).await.unwrap().unwrap().keys,
        keys(5)
    );

    // Expired: refused; still valid at its last millisecond.
    s.add_invite(SCOPE, invite("old", NOW - 1, 5))
        .await
        .unwrap();
    let expired = s.enroll("old".into(), keys(7), vec![], NOW).await;
    assert!(
        matches!(expired, Err(StorageError::CodeSpent)),
        "{expired:?}"
    );
    assert_eq!(s.member(SCOPE, dev(7)).await.unwrap(), None);
    s.add_invite(SCOPE, invite("edge", NOW, 1)).await.unwrap();
    s.enroll("edge".into(), keys(8), vec![], NOW).await.unwrap();

    // Unknown.
    let unknown = s.enroll("nobody".into(), keys(9), vec![], NOW).await;
    assert!(
        matches!(unknown, Err(StorageError::NotFound(_))),
        "{unknown:?}"
    );

    // Two uses admit two devices.
    s.add_invite(SCOPE, invite("twice", NOW + 1, 2))
        .await
        .unwrap();
    s.enroll("twice".into(), keys(10), vec![], NOW)
        .await
        .unwrap();
    s.enroll("twice".into(), keys(11), vec![], NOW)
        .await
        .unwrap();
    let third = s.enroll("twice".into(), keys(12), vec![], NOW).await;
    assert!(matches!(third, Err(StorageError::CodeSpent)), "{third:?}");

    // Storing a code again is refused: a replayed invite cannot give a
    // spent code its uses back.
    let again = s.add_invite(SCOPE, invite("once", NOW + 60_000, 1)).await;
    assert!(matches!(again, Err(StorageError::Conflict(_))), "{again:?}");
    let spent = s.enroll("once".into(), keys(6), vec![], NOW).await;
    assert!(matches!(spent, Err(StorageError::CodeSpent)), "{spent:?}");

    let devices: Vec<Uid> = s
        .members(SCOPE)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.keys.device)
        .collect();
    assert_eq!(devices, [1, 5, 8, 10, 11].map(dev));
}

async fn concurrent_enrollment<S: Storage + Clone>(s: &S, _: &Db) {
    create(s).await;
    s.add_invite(SCOPE, invite("race", NOW + 60_000, 1))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.enroll("race".into(), keys(20 + i), vec![], NOW).await })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(enrolled) => {
                assert_eq!(enrolled.scope, SCOPE);
                admitted += 1;
            }
            Err(StorageError::CodeSpent) => {}
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    assert_eq!(admitted, 1, "a one-use code admitted {admitted} devices");
    assert_eq!(s.members(SCOPE).await.unwrap().len(), 2);

    // One device enrolling eight times at once spends one use.
    s.add_invite(SCOPE, invite("same", NOW + 60_000, 2))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.enroll("same".into(), keys(40), vec![], NOW).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    s.enroll("same".into(), keys(41), vec![], NOW)
        .await
        .unwrap();
    let spent = s.enroll("same".into(), keys(42), vec![], NOW).await;
    assert!(matches!(spent, Err(StorageError::CodeSpent)), "{spent:?}");
}

async fn certificates_and_keys<S: Storage>(s: &S, _: &Db) {
    create(s).await;
    s.add_invite(SCOPE, invite("code", NOW + 1, 1))
        .await
        .unwrap();
    s.enroll("code".into(), keys(5), vec![], NOW).await.unwrap();
    assert!(s.keys(SCOPE, dev(5)).await.unwrap().is_empty());

    // Approval: status, certificate, version, and every generation granted.
    assert_eq!(
        s.put_certificate(
            SCOPE,
            cert(5, Status::Approved, 1, b"approval"),
            vec![wrapped(5, 2, "k5e2"), wrapped(5, 1, "k5e1")],
        )
        .await
        .unwrap(),
        CertOutcome::Applied
    );
    let approved = s.member(SCOPE, dev(5)).await.unwrap().unwrap();
    assert_eq!(
        (
            approved.status,
            approved.certificate.as_slice(),
            approved.version
        ),
        (Status::Approved, &b"approval"[..], 1)
    );
    assert_eq!(
        s.keys(SCOPE, dev(5)).await.unwrap(),
        vec![wrapped(5, 1, "k5e1").key, wrapped(5, 2, "k5e2").key]
    );
    // The same certificate again is a harmless retry; an older one changes
    // nothing; enrolling again does not undo the approval.
    assert_eq!(
        s.put_certificate(SCOPE, cert(5, Status::Approved, 1, b"approval"), vec![])
            .await
            .unwrap(),
        CertOutcome::Unchanged
    );
    assert_eq!(
        s.put_certificate(SCOPE, cert(5, Status::Approved, 1, b"another v1"), vec![])
            .await
            .unwrap(),
        CertOutcome::Older
    );
    s.enroll("code".into(), keys(5), vec![], NOW).await.unwrap();
    assert_eq!(
        s.member(SCOPE, dev(5)).await.unwrap().unwrap().status,
        Status::Approved
    );
    // A certificate for other keys under the device's id: refused.
    let swapped = CertificateRow {
        keys: keys(6),
        ..cert(5, Status::Approved, 2, b"swapped")
    };
    let swapped = CertificateRow {
        keys: DeviceKeys {
            device: dev(5),
            ..swapped.keys
        },
        ..swapped
    };
    assert_eq!(
        s.put_certificate(SCOPE, swapped, vec![]).await.unwrap(),
        CertOutcome::WrongKeys
    );

    // Revocation, with the next generation granted to those who remain.
    assert_eq!(
        s.put_certificate(
            SCOPE,
            cert(5, Status::Revoked, 2, b"revocation"),
            vec![wrapped(1, 3, "k1e3")],
        )
        .await
        .unwrap(),
        CertOutcome::Applied
    );
    let revoked = s.member(SCOPE, dev(5)).await.unwrap().unwrap();
    assert_eq!(
        (revoked.status, revoked.certificate),
        (Status::Revoked, b"revocation".to_vec())
    );
    assert_eq!(
        s.keys(SCOPE, dev(1)).await.unwrap(),
        vec![wrapped(1, 1, "k1e1").key, wrapped(1, 3, "k1e3").key]
    );
    // Final: no approval, however new, brings it back, and its keys stay.
    for version in [1, 3, 99] {
        assert_eq!(
            s.put_certificate(
                SCOPE,
                cert(5, Status::Approved, version, b"back"),
                vec![wrapped(5, 3, "k5e3")],
            )
            .await
            .unwrap(),
            CertOutcome::RevokedFinal
        );
    }
    assert_eq!(
        s.member(SCOPE, dev(5)).await.unwrap().unwrap().status,
        Status::Revoked
    );
    assert_eq!(s.keys(SCOPE, dev(5)).await.unwrap().len(), 2);

    // A certificate for a device the relay never saw adds it (a site relay
    // learning the roster from the lead's certificates).
    assert_eq!(
        s.put_certificate(
            SCOPE,
            cert(7, Status::Approved, 4, b"cert 7"),
            vec![wrapped(7, 1, "k7")]
        )
        .await
        .unwrap(),
        CertOutcome::Applied
    );
    assert_eq!(s.member(SCOPE, dev(7)).await.unwrap().unwrap().version, 4);
    assert!(s.keys(OTHER_SCOPE, dev(5)).await.unwrap().is_empty());

    // Nonces of control requests: each once, until it expires.
    let nonce = [3u8; 16];
    assert!(s.use_nonce(nonce, NOW, NOW + 1_000).await.unwrap());
    assert!(!s.use_nonce(nonce, NOW + 10, NOW + 1_010).await.unwrap());
    assert!(s.use_nonce([4u8; 16], NOW, NOW + 1_000).await.unwrap());
    assert!(
        s.use_nonce(nonce, NOW + 2_000, NOW + 3_000).await.unwrap(),
        "forgotten once expired"
    );
}

async fn uploads<S: Storage>(s: &S, _: &Db) {
    let one = log(1, 1, b"one");
    let two = log(1, 2, b"two");
    assert!(put(s, []).await.is_empty());
    assert_eq!(
        put(s, [one.clone(), two.clone()]).await,
        [Outcome::Stored, Outcome::Stored]
    );
    // A retry.
    assert_eq!(
        put(s, [one.clone(), two.clone()]).await,
        [Outcome::Duplicate, Outcome::Duplicate]
    );
    // Other bytes at a stored seq.
    assert_eq!(put(s, [log(1, 2, b"forged")]).await, [Outcome::Conflict]);
    // Skipping ahead, on a known log and on a new one.
    assert_eq!(
        put(s, [log(1, 5, b"five")]).await,
        [Outcome::Gap { expected: 3 }]
    );
    assert_eq!(
        put(s, [log(2, 2, b"two")]).await,
        [Outcome::Gap { expected: 1 }]
    );

    // Refusals store nothing: the heads only know device 1, at 2.
    assert_eq!(s.heads(SCOPE).await.unwrap(), Cursors(vec![(dev(1), 2)]));
    assert_eq!(everything(s).await, encoded(&[&one, &two]));

    let three = log(1, 3, b"three");
    assert_eq!(put(s, [three.clone()]).await, [Outcome::Stored]);
    assert_eq!(s.heads(SCOPE).await.unwrap(), Cursors(vec![(dev(1), 3)]));
    assert_eq!(everything(s).await, encoded(&[&one, &two, &three]));

    // Scopes are apart: the same log in another scope starts afresh.
    let elsewhere = s
        .put_records(OTHER_SCOPE, vec![], vec![log(1, 2, b"two")])
        .await
        .unwrap();
    assert_eq!(elsewhere, [Outcome::Gap { expected: 1 }]);
    assert!(s.heads(OTHER_SCOPE).await.unwrap().0.is_empty());
    let page = s
        .fetch(OTHER_SCOPE, Cursors::default(), usize::MAX)
        .await
        .unwrap();
    assert!(page.records.is_empty() && page.cursors.0.is_empty() && !page.more);
}

async fn shuffled_batches<S: Storage>(s: &S, _: &Db) {
    let mut batch: Vec<Record> = (1..=6u64)
        .flat_map(|seq| [3u8, 1, 2].map(|d| log(d, seq, format!("d{d} s{seq}").as_bytes())))
        .collect();
    // A fixed, scrambled order.
    batch.sort_by_key(|r| qafila_relay::storage::digest(&r.encode()));
    assert_eq!(put(s, batch.clone()).await, vec![Outcome::Stored; 18]);
    assert_eq!(
        s.heads(SCOPE).await.unwrap(),
        Cursors(vec![(dev(1), 6), (dev(2), 6), (dev(3), 6)])
    );

    // Each record's outcome comes back in its place, though each log is
    // processed in seq order (so 8 after 7 is stored, not a gap).
    let mixed = [
        log(1, 8, b"d1 s8"),
        log(2, 9, b"d2 s9"),
        log(1, 3, b"d1 s3"),
        log(1, 7, b"d1 s7"),
        log(3, 1, b"d3 s1 forged"),
    ];
    assert_eq!(
        put(s, mixed).await,
        [
            Outcome::Stored,
            Outcome::Gap { expected: 7 },
            Outcome::Duplicate,
            Outcome::Stored,
            Outcome::Conflict,
        ]
    );

    // Registry entries in one batch: the lower seq goes first, so a newer
    // version at a lower seq supersedes the one listed before it.
    let entries = [entry(4, 2, 7, 1, b"older"), entry(4, 1, 7, 2, b"newer")];
    assert_eq!(
        put(s, entries.clone()).await,
        [Outcome::Superseded, Outcome::Stored]
    );
    let records = everything(s).await;
    assert!(records.contains(&entries[1].encode()));
    assert!(!records.contains(&entries[0].encode()));
    assert_eq!(records.len(), 6 * 3 + 2 + 1);
}

async fn compaction<S: Storage>(s: &S, db: &Db) {
    const V1: &[u8] = b"MARKER-V1-amina-bint-yusuf";
    const V2: &[u8] = b"MARKER-V2-corrected";
    const OTHERS: &[u8] = b"MARKER-OTHER-device-entry";
    const LATE: &[u8] = b"MARKER-LATE-v1-again";
    const GONE: &[u8] = b"MARKER-ERASED-tombstone";
    const AFTER: &[u8] = b"MARKER-AFTER-erasure";

    let v1 = entry(1, 1, 7, 1, V1);
    let note = log(1, 2, b"a log entry");
    assert_eq!(
        put(s, [v1.clone(), note.clone()]).await,
        [Outcome::Stored, Outcome::Stored]
    );
    assert_eq!(everything(s).await, encoded(&[&v1, &note]));
    assert!(db.holds(V1).await, "the probe does not see a stored record");

    // Another device's entry for the same person stands beside it: one
    // device cannot wipe another's.
    let others = entry(2, 1, 7, 2, OTHERS);
    assert_eq!(put(s, [others.clone()]).await, [Outcome::Stored]);
    assert_eq!(everything(s).await, encoded(&[&v1, &note, &others]));

    // Version 2 from the same device replaces version 1.
    let v2 = entry(1, 3, 7, 2, V2);
    assert_eq!(put(s, [v2.clone()]).await, [Outcome::Stored]);
    assert_eq!(everything(s).await, encoded(&[&note, &v2, &others]));
    assert!(
        !db.holds(V1).await,
        "version 1's bytes are still in the database"
    );
    // Its digest is kept: a retry of version 1 is recognised.
    assert_eq!(put(s, [v1.clone()]).await, [Outcome::Duplicate]);
    assert_eq!(
        put(s, [entry(1, 1, 7, 1, b"forged")]).await,
        [Outcome::Conflict]
    );
    // A lower version of the same device arriving later is not kept.
    let late = entry(1, 4, 7, 1, LATE);
    assert_eq!(put(s, [late.clone()]).await, [Outcome::Superseded]);
    assert!(!db.holds(LATE).await);

    // An erasure by a device of authority (the lead, a registrar) replaces
    // every device's entry; an erasure by anyone else only its own.
    let not_authority = entry(3, 1, 7, ERASED, b"a volunteer's tombstone");
    assert_eq!(put(s, [not_authority.clone()]).await, [Outcome::Stored]);
    assert!(db.holds(V2).await && db.holds(OTHERS).await);
    let gone = entry(4, 1, 7, ERASED, GONE);
    assert_eq!(put_as(s, &[4], [gone.clone()]).await, [Outcome::Stored]);
    for marker in [V2, OTHERS] {
        assert!(!db.holds(marker).await, "an erased entry's bytes remain");
    }
    assert_eq!(
        everything(s).await,
        encoded(&[&note, &not_authority, &gone])
    );
    // Nothing brings the person back afterwards, from any device.
    let after = entry(2, 2, 7, 3, AFTER);
    assert_eq!(
        put_as(s, &[4], [after.clone()]).await,
        [Outcome::Superseded]
    );
    assert!(!db.holds(AFTER).await);

    // Cursors move past compacted records: device 1's first page skips
    // seq 1 (no bytes), serves seq 2, and stops before seq 3.
    let page = s.fetch(SCOPE, Cursors::default(), 1).await.unwrap();
    assert_eq!(page.records, encoded(&[&note]));
    assert!(page.more);
}

async fn fetch_pages<S: Storage>(s: &S, _: &Db) {
    let empty = s.fetch(SCOPE, Cursors::default(), 1000).await.unwrap();
    assert!(empty.records.is_empty() && empty.cursors.0.is_empty() && !empty.more);

    let mut all = Vec::new();
    for (device, count) in [(2u8, 3u64), (1, 5), (3, 4)] {
        let records: Vec<Record> = (1..=count)
            .map(|seq| {
                log(
                    device,
                    seq,
                    &vec![device; usize::try_from(seq).unwrap() * 37],
                )
            })
            .collect();
        assert_eq!(
            put(s, records.clone()).await,
            vec![Outcome::Stored; records.len()]
        );
        all.extend(records);
    }
    all.sort_by_key(|r| (r.header.device, r.header.seq));
    let heads = Cursors(vec![(dev(1), 5), (dev(2), 3), (dev(3), 4)]);
    assert_eq!(s.heads(SCOPE).await.unwrap(), heads);

    // Everything: devices in id order, records in seq order.
    let full = s
        .fetch(SCOPE, Cursors::default(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        full.records,
        all.iter().map(Record::encode).collect::<Vec<_>>()
    );
    assert_eq!(full.cursors, heads);
    assert!(!full.more);

    // After cursors: what the client lacks, unknown devices dropped, a
    // cursor beyond the head kept as given.
    let after = s
        .fetch(
            SCOPE,
            Cursors(vec![(dev(9), 7), (dev(2), 1), (dev(1), 5), (dev(3), 10)]),
            usize::MAX,
        )
        .await
        .unwrap();
    assert_eq!(after.records, encoded(&[&all[6], &all[7]]));
    assert_eq!(
        after.cursors,
        Cursors(vec![(dev(1), 5), (dev(2), 3), (dev(3), 10)])
    );
    assert!(!after.more);

    // Paging: looping until `more` is false yields everything exactly once.
    for max_bytes in [1usize, 40, 150, 400, 100_000] {
        let mut cursors = Cursors::default();
        let mut got = Vec::new();
        let mut pages = 0;
        loop {
            let page = s.fetch(SCOPE, cursors, max_bytes).await.unwrap();
            pages += 1;
            assert!(
                pages <= all.len() + 1,
                "paging does not end at max_bytes {max_bytes}"
            );
            if page.more {
                assert!(!page.records.is_empty(), "an empty page with more to come");
            }
            if max_bytes == 1 {
                assert_eq!(page.records.len(), 1);
            }
            got.extend(page.records);
            cursors = page.cursors;
            if !page.more {
                break;
            }
        }
        assert_eq!(got, full.records, "max_bytes {max_bytes}");
        assert_eq!(cursors, heads);
        if max_bytes == 1 {
            assert_eq!(pages, all.len());
        }
    }
}

async fn concurrent_uploads<S: Storage + Clone>(s: &S, _: &Db) {
    let mut records: Vec<Record> = (1..=3u8)
        .flat_map(|d| (1..=10u64).map(move |seq| log(d, seq, format!("d{d} s{seq}").as_bytes())))
        .collect();
    records.extend((1..=5u64).map(|seq| entry(4, seq, 9, seq, format!("v{seq}").as_bytes())));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            let records = records.clone();
            tokio::spawn(async move { s.put_records(SCOPE, vec![], records).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    for (i, record) in records.iter().enumerate() {
        let stored = answers.iter().filter(|a| a[i] == Outcome::Stored).count();
        let duplicate = answers
            .iter()
            .filter(|a| a[i] == Outcome::Duplicate)
            .count();
        assert_eq!((stored, duplicate), (1, 7), "record {:?}", record.header);
    }

    // Record by record, eight writers racing along one log.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for seq in 1..=10u64 {
                    let record = log(5, seq, format!("d5 s{seq}").as_bytes());
                    outcomes.extend(s.put_records(SCOPE, vec![], vec![record]).await.unwrap());
                }
                outcomes
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    for seq in 0..10 {
        let stored = answers.iter().filter(|a| a[seq] == Outcome::Stored).count();
        let duplicate = answers
            .iter()
            .filter(|a| a[seq] == Outcome::Duplicate)
            .count();
        assert_eq!((stored, duplicate), (1, 7), "seq {}", seq + 1);
    }

    let mut expected: Vec<&Record> = records
        .iter()
        .filter(|r| r.header.device != dev(4))
        .collect();
    let last_version = entry(4, 5, 9, 5, b"v5");
    expected.push(&last_version);
    let fifth: Vec<Record> = (1..=10u64)
        .map(|seq| log(5, seq, format!("d5 s{seq}").as_bytes()))
        .collect();
    expected.extend(fifth.iter());
    assert_eq!(everything(s).await, encoded(&expected));
}

async fn concurrent_compaction<S: Storage + Clone>(s: &S, db: &Db) {
    // Eight devices publish one person's entry while a registrar erases it,
    // all at once: whatever the order, only the erasure is left.
    let mut tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let s = s.clone();
            let record = entry(10 + i, 1, 42, 1, format!("MARKER-RACE-{i}").as_bytes());
            tokio::spawn(async move { s.put_records(SCOPE, vec![dev(9)], vec![record]).await })
        })
        .collect();
    let s2 = s.clone();
    tasks.insert(
        4,
        tokio::spawn(async move {
            s2.put_records(
                SCOPE,
                vec![dev(9)],
                vec![entry(9, 1, 42, ERASED, b"MARKER-GONE")],
            )
            .await
        }),
    );
    for task in tasks {
        let outcomes = task.await.unwrap().unwrap();
        assert!(
            matches!(outcomes[..], [Outcome::Stored | Outcome::Superseded]),
            "{outcomes:?}"
        );
    }
    assert_eq!(
        everything(s).await,
        encoded(&[&entry(9, 1, 42, ERASED, b"MARKER-GONE")])
    );
    for i in 0..8 {
        assert!(
            !db.holds(format!("MARKER-RACE-{i}").as_bytes()).await,
            "device {i}'s entry kept"
        );
    }
    assert_eq!(s.heads(SCOPE).await.unwrap().0.len(), 9);
}

/// Several relay processes on one database: they start together (the
/// schema is created once, under a lock) and their uploads and enrollments
/// race as those of one process do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relays_share_a_database() {
    let name = "storage_shared".to_string();
    let url = tokio::task::spawn_blocking(move || POSTGRES.create_database(&name))
        .await
        .unwrap();
    let starting: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStorage::connect(&url).await })
        })
        .collect();
    let mut relays = Vec::new();
    for relay in starting {
        relays.push(relay.await.unwrap().unwrap());
    }
    create(&relays[0]).await;
    relays[1]
        .add_invite(SCOPE, invite("shared", NOW + 60_000, 1))
        .await
        .unwrap();

    let records: Vec<Record> = (1..=20u64)
        .map(|seq| log(2, seq, format!("d2 s{seq}").as_bytes()))
        .collect();
    let tasks: Vec<_> = relays
        .iter()
        .enumerate()
        .map(|(i, relay)| {
            let relay = relay.clone();
            let records = records.clone();
            tokio::spawn(async move {
                let enrolled = relay
                    .enroll(
                        "shared".into(),
                        keys(30 + u8::try_from(i).unwrap()),
                        vec![],
                        NOW,
                    )
                    .await;
                let outcomes = relay.put_records(SCOPE, vec![], records).await.unwrap();
                (enrolled.is_ok(), outcomes)
            })
        })
        .collect();
    let mut admitted = 0;
    let mut stored = 0;
    for task in tasks {
        let (enrolled, outcomes) = task.await.unwrap();
        admitted += usize::from(enrolled);
        if outcomes.iter().all(|o| *o == Outcome::Stored) {
            stored += 1;
        } else {
            assert!(
                outcomes.iter().all(|o| *o == Outcome::Duplicate),
                "{outcomes:?}"
            );
        }
    }
    assert_eq!((admitted, stored), (1, 1));
    let all: Vec<&Record> = records.iter().collect();
    assert_eq!(everything(&relays[5]).await, encoded(&all));
}

/// The relay databases the build before the trust model wrote
/// (`tests/fixtures/before-trust/`, made by `make-before-trust.sh`): a
/// convoy with a lead, a volunteer and a revoked volunteer, and their
/// records. Each opens, migrates, and serves what it held.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/before-trust")
        .join(name)
}

async fn serves_what_it_held<S: Storage>(s: &S, records_before: usize) {
    assert_ne!(s.relay_id(), Uid::default(), "a relay id was made");
    let scope = {
        // The fixture's one convoy: whichever scope its lead's records name.
        let all = s
            .fetch(SCOPE, Cursors::default(), usize::MAX)
            .await
            .unwrap();
        assert!(all.records.is_empty());
        let page = s
            .fetch(fixture_scope(), Cursors::default(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            page.records.len(),
            records_before,
            "every live record is served"
        );
        fixture_scope()
    };
    let members = s.members(scope).await.unwrap();
    let statuses: Vec<(&str, &str, u32)> = members
        .iter()
        .map(|m| (m.role.as_str(), m.status.as_str(), m.version))
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    assert!(statuses.contains(&("lead", "approved", 0)));
    assert!(statuses.contains(&("member", "approved", 0)));
    assert!(statuses.contains(&("member", "revoked", 0)));
    // A revocation made before the trust model is final too.
    let revoked = members.iter().find(|m| m.status == "revoked").unwrap();
    let back = CertificateRow {
        keys: revoked.keys.clone(),
        role: "volunteer".into(),
        status: Status::Approved,
        version: 5,
        bytes: b"an approval".to_vec(),
    };
    assert_eq!(
        s.put_certificate(scope, back, vec![]).await.unwrap(),
        CertOutcome::RevokedFinal
    );
}

/// The fixture's one convoy, read from a copy (opening the fixture itself,
/// even read-only, would leave WAL files beside it in the repository).
fn fixture_scope() -> Uid {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("relay.db");
    std::fs::copy(fixture("relay.db"), &copy).unwrap();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let scope: Vec<u8> = conn
        .query_row("SELECT scope FROM scopes", [], |r| r.get(0))
        .unwrap();
    Uid(scope.try_into().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_relay_database_from_before_the_trust_model_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    std::fs::copy(fixture("relay.db"), &path).unwrap();
    let live: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM records WHERE bytes IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let storage = SqliteStorage::open(&path).unwrap();
    serves_what_it_held(&storage, usize::try_from(live).unwrap()).await;
    let id = storage.relay_id();
    drop(storage);
    // Opening again keeps the id and migrates nothing twice.
    assert_eq!(SqliteStorage::open(&path).unwrap().relay_id(), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_relay_database_from_before_the_trust_model_migrates() {
    let url = tokio::task::spawn_blocking(|| {
        POSTGRES.create_database_from("storage_fixture", &fixture("relay.pg.sql"))
    })
    .await
    .unwrap();
    let live: i64 = {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        let n = client
            .query_one("SELECT count(*) FROM records WHERE bytes IS NOT NULL", &[])
            .await
            .unwrap()
            .get(0);
        drop(client);
        let _ = connection.await;
        n
    };
    let storage = PgStorage::connect(&url).await.unwrap();
    serves_what_it_held(&storage, usize::try_from(live).unwrap()).await;
    let id = storage.relay_id();
    assert_eq!(PgStorage::connect(&url).await.unwrap().relay_id(), id);
}
