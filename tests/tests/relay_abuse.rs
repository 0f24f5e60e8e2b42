//! A relay that shrugs off abuse, attacked as a real process listening
//! beyond loopback (0.0.0.0, reached at 127.0.0.1). Each attacker comes
//! from its own loopback address (127.0.0.2-5), so the per-address limits
//! it trips leave the convoy's devices (127.0.0.1) alone, and every
//! request loop is bounded in count and time:
//!
//! - convoy creation needs the operator's token;
//! - enrollment guesses, then bad signatures, get 429 after the limit;
//! - 16 slow unauthenticated 8 MiB uploads are refused before their
//!   bodies are read: the relay's resident memory (`VmRSS`) stays within
//!   [`RSS_GROWTH_BOUND`] of what it was;
//! - a half-sent header is closed after the header-read timeout (2 s here;
//!   hyper's own default would be 30 s);
//! - `/healthz` answers throughout, and the convoy still syncs.
//!
//! (A convoy's storage quota is attacked in-process, in
//! `crates/qafila-relay/tests/http.rs`.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qafila_e2e::{Device, RelayProcess};
use qafila_proto::Uid;
use qafila_proto::auth::Stamp;
use qafila_proto::control::{B64, DeviceKeys, Enroll, Hello};

/// How much the relay's resident memory may grow while 16 clients try to
/// upload 8 MiB each (128 MiB in all; the relay's body budget alone would
/// let it hold 64 MiB of them).
const RSS_GROWTH_BOUND: u64 = 24 << 20;
/// The header-read timeout the relay is given.
/// (At least 2 s: devices let go of idle connections after 1 s.)
const HEADER_TIMEOUT_MS: u64 = 2_000;
/// Enrollments and creations an address may make at once.
const BURST: usize = 5;
const TOKEN: &str = "operator-s3cret";

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number");
    kib * 1024
}

/// A blocking TCP connection to the relay from `from` (a loopback address
/// of this machine).
fn connect(from: [u8; 4], port: u16) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((from, 0))).unwrap();
        socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// The status of the answer read from `stream` (0 if none came).
fn status_of(stream: &mut TcpStream) -> (u16, String) {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn request(
    from: [u8; 4],
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = connect(from, port);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    status_of(&mut stream)
}

fn healthy(port: u16) -> bool {
    request([127, 0, 0, 1], port, "GET", "/healthz", &[], b"").0 == 200
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn random<const N: usize>() -> [u8; N] {
    qafila_sync::crypto::random().unwrap()
}

/// A request signed with a key that is not `device`'s, as `device`.
fn forged_auth(relay: Uid, device: Uid, method: &str, path: &str, body: &[u8]) -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(&random());
    qafila_proto::auth::sign(
        &key,
        device,
        Stamp {
            relay,
            ts_ms: now_ms(),
            nonce: random(),
        },
        method,
        path,
        body,
    )
}

fn create_args(relay: &str, token: Option<&str>) -> Vec<String> {
    let mut args = vec![
        "convoy",
        "create",
        "--name",
        "ق",
        "--date",
        "2026-12-01",
        "--site",
        "س",
        "--relay",
        relay,
    ];
    if let Some(token) = token {
        args.extend(["--relay-token", token]);
    }
    args.into_iter().map(str::to_owned).collect()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn a_relay_beyond_loopback_without_a_token_takes_no_new_convoys() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let relay = RelayProcess::spawn("0.0.0.0", 0, &["--db", db.to_str().unwrap()], &[]);
    let lead = Device::initialised("Lead");
    let (code, _) = lead.fails(&refs(&create_args(&relay.url, Some("anything"))));
    assert_eq!(code, "create_token_required");
}

#[test]
fn a_relay_under_attack_refuses_before_reading_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let header_timeout = HEADER_TIMEOUT_MS.to_string();
    let burst = BURST.to_string();
    let relay = RelayProcess::spawn(
        "0.0.0.0",
        0,
        &["--db", db.to_str().unwrap(), "--operator-token", TOKEN],
        &[
            ("QAFILA_RELAY_HEADER_READ_TIMEOUT_MS", &header_timeout),
            ("QAFILA_RELAY_REQUEST_TIMEOUT_MS", "20000"),
            ("QAFILA_RELAY_ADDRESS_RATE_BURST", &burst),
            ("QAFILA_RELAY_ADDRESS_RATE_PER_MINUTE", "6"),
        ],
    );
    let port = relay.port();

    // Convoy creation: refused without the token or with a wrong one.
    let lead = Device::initialised("Lead");
    let (code, _) = lead.fails(&refs(&create_args(&relay.url, None)));
    assert_eq!(code, "create_token_required");
    let (code, _) = lead.fails(&refs(&create_args(&relay.url, Some("guess"))));
    assert_eq!(code, "create_token_required");
    let created = lead.ok(&refs(&create_args(&relay.url, Some(TOKEN))));
    let volunteer = Device::initialised("Volunteer");
    volunteer.ok(&[
        "enroll",
        "--relay",
        &relay.url,
        "--code",
        created["codes"][0].as_str().unwrap(),
    ]);
    lead.ok(&["convoy", "approve", "Volunteer"]);
    lead.ok(&["sync"]);
    volunteer.ok(&["sync"]);
    let scope = created["id"].as_str().unwrap().to_owned();
    let devices = lead.ok(&["convoy", "devices"]);
    let member = devices["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "Volunteer"))
        .and_then(|d| d["device"].as_str())
        .map(|d| Uid::parse(d).unwrap())
        .unwrap_or_else(|| panic!("the volunteer is listed: {devices}"));
    let (_, hello) = request([127, 0, 0, 1], port, "GET", "/v1/hello", &[], b"");
    let hello: Hello = serde_json::from_str(hello.split("\r\n\r\n").nth(1).unwrap()).unwrap();

    // Enrollment guesses, properly signed, from one address.
    let mut guesses = Vec::new();
    for _ in 0..3 * BURST {
        let key = ed25519_dalek::SigningKey::from_bytes(&random());
        let device = Uid(random());
        let body = serde_json::to_vec(&Enroll {
            code_hash: qafila_sync::enrollment::lookup("0123456789ABCDEF"),
            device: DeviceKeys {
                device,
                name: "guess".into(),
                signing: B64(key.verifying_key().to_bytes().to_vec()),
                encryption: B64(random::<32>().to_vec()),
            },
            binding: B64(random::<32>().to_vec()),
        })
        .unwrap();
        let auth = qafila_proto::auth::sign(
            &key,
            device,
            Stamp {
                relay: hello.relay,
                ts_ms: now_ms(),
                nonce: random(),
            },
            "POST",
            "/v1/enroll",
            &body,
        );
        let headers = [
            (qafila_proto::auth::HEADER, auth),
            ("Content-Type", "application/json".into()),
        ];
        guesses.push(request([127, 0, 0, 2], port, "POST", "/v1/enroll", &headers, &body).0);
    }
    let answered = guesses.iter().filter(|s| **s == 404).count();
    assert!(
        (1..=BURST + 1).contains(&answered) && guesses.last() == Some(&429),
        "a few guesses are answered (unknown code), then 429: {guesses:?}"
    );

    // Bad signatures, as a real member of the convoy.
    let path = format!("/v1/scopes/{scope}/heads");
    let mut forged = Vec::new();
    for _ in 0..3 * BURST {
        let auth = forged_auth(hello.relay, member, "GET", &path, b"");
        forged.push(
            request(
                [127, 0, 0, 3],
                port,
                "GET",
                &path,
                &[(qafila_proto::auth::HEADER, auth)],
                b"",
            )
            .0,
        );
    }
    let refused = forged.iter().filter(|s| **s == 401).count();
    assert!(
        (1..=BURST + 1).contains(&refused) && forged.last() == Some(&429),
        "a few bad signatures are answered 401, then 429: {forged:?}"
    );

    // 16 slow unauthenticated uploads of 8 MiB each, while /healthz is
    // asked and the relay's memory watched.
    let pid = relay.pid();
    let before = rss_bytes(pid);
    let started = Instant::now();
    let attackers: Vec<_> = (0..16)
        .map(|i| {
            let scope = scope.clone();
            let relay_id = hello.relay;
            std::thread::spawn(move || {
                let (path, auth) = if i % 2 == 0 {
                    ("/v1/scopes".to_owned(), None)
                } else {
                    let path = format!("/v1/scopes/{scope}/records");
                    let auth = forged_auth(relay_id, Uid(random()), "POST", &path, b"");
                    (path, Some(auth))
                };
                let mut stream = connect([127, 0, 0, 4], port);
                let mut head = format!(
                    "POST {path} HTTP/1.1\r\nHost: relay\r\nContent-Length: {}\r\nContent-Type: application/x-qafila\r\n",
                    8 << 20
                );
                if let Some(auth) = auth {
                    head.push_str(&format!("{}: {auth}\r\n", qafila_proto::auth::HEADER));
                }
                head.push_str("\r\n");
                stream.write_all(head.as_bytes()).unwrap();
                stream
                    .set_write_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let piece = vec![0x5a; 64 << 10];
                let mut sent = 0usize;
                let deadline = Instant::now() + Duration::from_secs(30);
                while sent < 8 << 20 && Instant::now() < deadline {
                    if stream.write_all(&piece).is_err() {
                        break;
                    }
                    sent += piece.len();
                    std::thread::sleep(Duration::from_millis(20));
                }
                let (status, _) = status_of(&mut stream);
                (status, sent)
            })
        })
        .collect();
    let mut peak = before;
    let mut health_checks = 0;
    while attackers.iter().any(|a| !a.is_finished()) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the attack stops by itself"
        );
        peak = peak.max(rss_bytes(pid));
        assert!(healthy(port), "/healthz answers during the uploads");
        health_checks += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    peak = peak.max(rss_bytes(pid));
    let outcomes: Vec<(u16, usize)> = attackers.into_iter().map(|a| a.join().unwrap()).collect();
    eprintln!(
        "relay VmRSS before {} KiB, peak {} KiB during 16 slow 8 MiB uploads ({} health checks); outcomes {outcomes:?}",
        before >> 10,
        peak >> 10,
        health_checks
    );
    assert!(
        outcomes
            .iter()
            .all(|(status, _)| [403, 429].contains(status)),
        "every upload is refused: {outcomes:?}"
    );
    assert!(
        peak.saturating_sub(before) < RSS_GROWTH_BOUND,
        "the relay's memory grew by {} KiB (bound {} KiB)",
        peak.saturating_sub(before) >> 10,
        RSS_GROWTH_BOUND >> 10
    );

    // Half a header, then nothing: closed after the header-read timeout.
    let mut half = connect([127, 0, 0, 5], port);
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n")
        .unwrap();
    let waited = Instant::now();
    let mut buffer = [0u8; 256];
    let mut closed = false;
    while waited.elapsed() < Duration::from_secs(40) {
        half.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        match half.read(&mut buffer) {
            Ok(_) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        assert!(healthy(port), "/healthz answers while a header hangs");
    }
    let after = waited.elapsed();
    eprintln!("a half-sent header was closed after {after:?}");
    assert!(closed, "the half-sent header's connection is still open");
    assert!(
        after < Duration::from_millis(HEADER_TIMEOUT_MS * 6),
        "closed after {after:?}, well past the {HEADER_TIMEOUT_MS} ms timeout"
    );

    // The convoy's own devices were never limited.
    assert!(healthy(port));
    volunteer.ok(&["sync"]);
    lead.ok(&["sync"]);
}
