//! TLS on the wire, with real processes: a site relay started with
//! `--tls-self-signed` prints its pinned address; a convoy created there
//! carries the pin in its invite link; a device enrolled by that link
//! syncs, and keeps syncing after the relay restarts (same certificate);
//! shown another relay's certificate at the same address, or given an
//! edited pin, it refuses; a connection that never starts its handshake
//! is closed after the header-read timeout; and plain `http://` to another
//! machine is refused before any connection is tried.

use qafila_e2e::{Device, RelayProcess};

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn a_device_enrolled_by_a_self_signed_relays_invite_syncs_and_refuses_any_other_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("site.db");
    let db = db.to_str().unwrap();
    let mut relay = RelayProcess::spawn("127.0.0.1", 0, &["--db", db, "--tls-self-signed"], &[]);
    let pinned = relay.url.clone();
    let (base, pin) = pinned.split_once("#sha256=").expect("a pinned address");
    assert!(base.starts_with("https://127.0.0.1:"), "{}", relay.url);
    assert_eq!(pin.len(), 64);
    assert!(
        dir.path().join("site.db.tls-key.pem").is_file(),
        "the certificate is kept beside the database"
    );

    let lead = Device::initialised("Lead");
    let created = lead.ok(&[
        "convoy",
        "create",
        "--name",
        "قافلة الموقع",
        "--date",
        "2026-12-01",
        "--site",
        "الحامول",
        "--relay",
        &relay.url,
    ]);
    assert_eq!(
        created["relay"],
        relay.url.as_str(),
        "the pin is stored with the address"
    );
    let code = created["codes"][0].as_str().unwrap();
    let link = qafila_app::convoy::invite_link(created["relay"].as_str().unwrap(), code);
    assert!(
        link.contains("sha256%3D"),
        "the invite carries the pin: {link}"
    );

    let volunteer = Device::initialised("Volunteer");
    let enrolled = volunteer.ok(&["enroll", "--invite", &link]);
    assert_eq!(enrolled["status"], "pending");
    assert_eq!(enrolled["relay"], relay.url.as_str());
    lead.ok(&["convoy", "approve", "Volunteer"]);
    lead.ok(&["sync"]);
    let synced = volunteer.ok(&["sync"]);
    assert!(
        synced["downloaded"].as_u64().unwrap() > 0,
        "the plan came through TLS: {synced}"
    );
    let listed = volunteer.ok(&["convoy", "list"]);
    assert_eq!(listed["convoys"][0]["name"], "قافلة الموقع");

    // A restart keeps the certificate: the pin still holds.
    relay.restart();
    volunteer.ok(&["sync"]);

    // An old invite without the pin: WebPKI cannot vouch for a
    // self-signed certificate, so it is refused too.
    let stranger = Device::initialised("Stranger");
    let (code_unpinned, message) = stranger.fails(&["enroll", "--relay", base, "--code", code]);
    assert_eq!(code_unpinned, "relay_unreachable", "{message}");
    assert!(message.to_lowercase().contains("certificate"), "{message}");

    // Another relay, with its own certificate, answers at the pinned
    // address: the device refuses it and says what to do.
    let port = relay.port();
    relay.kill();
    let other_dir = tempfile::tempdir().unwrap();
    let other_db = other_dir.path().join("impostor.db");
    let impostor = RelayProcess::spawn(
        "127.0.0.1",
        port,
        &["--db", other_db.to_str().unwrap(), "--tls-self-signed"],
        &[],
    );
    assert_ne!(impostor.url, relay.url, "another certificate");
    let (code, message) = volunteer.fails(&["sync"]);
    assert_eq!(code, "relay_certificate_mismatch", "{message}");
    assert!(
        message.contains("different TLS certificate") && message.contains("convoy lead"),
        "{message}"
    );
    drop(impostor);

    // An edited pin is refused the same way, before anything is sent.
    let relay = RelayProcess::spawn(
        "127.0.0.1",
        0,
        &["--db", db, "--tls-self-signed"],
        &[("QAFILA_RELAY_HEADER_READ_TIMEOUT_MS", "2000")],
    );
    let mut edited = relay.url.clone();
    let last = edited.pop().unwrap();
    edited.push(if last == '0' { '1' } else { '0' });
    let (code, message) = volunteer.fails(&["sync", "--relay", &edited]);
    assert_eq!(code, "relay_certificate_mismatch", "{message}");
    volunteer.ok(&["sync", "--relay", &relay.url]);

    // A client that opens a connection and never starts its TLS handshake
    // is closed after the header-read timeout (2 s here).
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
    idle.set_read_timeout(Some(std::time::Duration::from_secs(40)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buffer = [0u8; 64];
    let read = std::io::Read::read(&mut idle, &mut buffer);
    assert!(
        matches!(read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut),
        "closed, not timed out on our side: {read:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "closed after {:?}",
        started.elapsed()
    );
}

#[test]
fn plain_http_to_another_machine_is_refused_before_connecting() {
    // 192.0.2.0/24 is reserved for documentation: nothing answers there,
    // and the client must not even try.
    let device = Device::initialised("Volunteer");
    for relay in ["http://192.0.2.10:8443", "http://relay.example.org"] {
        let (code, message) = device.fails(&["enroll", "--relay", relay, "--code", "X"]);
        assert_eq!(code, "insecure_relay_url", "{message}");
        assert!(message.contains("https://"), "says what to use: {message}");
    }
    let args: Vec<String> = [
        "convoy",
        "create",
        "--name",
        "ق",
        "--date",
        "2026-12-01",
        "--relay",
        "http://192.0.2.10:8443",
    ]
    .map(str::to_owned)
    .to_vec();
    let (code, _) = device.fails(&refs(&args));
    assert_eq!(code, "insecure_relay_url");
    let run = device.run(&[
        "--json",
        "enroll",
        "--relay",
        "http://192.0.2.10",
        "--code",
        "X",
    ]);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        answer["error"]["message_ar"]
            .as_str()
            .is_some_and(|m| m.contains("https://")),
        "{answer}"
    );
}
