//! Support for Qafila's end-to-end tests: finding the workspace's built
//! binaries so tests run them exactly as a user would.
//!
//! The tests never build anything themselves; `make test` runs
//! `cargo build --workspace --all-targets` first, so every binary exists
//! before the first test starts.

use std::path::PathBuf;

pub mod inprocess;

/// Path of a binary built in this workspace's target directory, next to the
/// running test executable (`target/<profile>/deps/..`).
///
/// Panics with what to run when the binary has not been built, because a
/// missing binary is a setup mistake, not a product failure.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build --workspace --all-targets` (make test does)",
        path.display()
    );
    path
}

/// The passphrase every test device's data is sealed with (set as
/// `QAFILA_PASSPHRASE` for each command, as a script would).
pub const PASSPHRASE: &str = "قافلة الاختبار";

/// One device: a temp data directory and the real `qafila` binary.
#[derive(Debug)]
pub struct Device {
    dir: tempfile::TempDir,
    /// `faketime` arguments this device's clock runs under (a phone whose
    /// clock is wrong), or none for the machine's clock.
    clock: Option<Vec<String>>,
    /// Environment every command runs with (a phone's `TZ`, its clock
    /// through libfaketime's `FAKETIME`).
    env: Vec<(String, String)>,
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Run {
    /// Exit status code.
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Default for Device {
    fn default() -> Self {
        Self::new()
    }
}

impl Device {
    /// A device with an empty data directory (no store yet).
    pub fn new() -> Self {
        Device {
            dir: tempfile::tempdir().expect("a temp dir"),
            clock: None,
            env: Vec::new(),
        }
    }

    /// A device with an empty data directory whose every command runs with
    /// `env` (e.g. `TZ`, or `LD_PRELOAD` and `FAKETIME`: see
    /// [`libfaketime_mt`]).
    pub fn with_env(env: &[(&str, &str)]) -> Self {
        Device {
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Device::new()
        }
    }

    /// A device with an empty data directory whose every command runs
    /// under `faketime -m FAKETIME_ARGS...` (Debian's libfaketime, the
    /// multi-threaded variant): `&["2000-01-01 08:00:00"]` starts its clock
    /// there, `&["-f", "+1d"]` runs it a day fast.
    pub fn with_clock(faketime_args: &[&str]) -> Self {
        Device {
            clock: Some(faketime_args.iter().map(|&a| a.to_owned()).collect()),
            ..Device::new()
        }
    }

    /// Runs its next commands with `env` instead (a phone whose clock is
    /// set wrong from now on).
    pub fn set_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    }

    /// A device with a store, as after `qafila init`.
    pub fn initialised(name: &str) -> Self {
        let device = Device::new();
        device.ok(&["init", "--device-name", name]);
        device
    }

    /// A device whose data directory is a copy of `source` (a store kept
    /// as a fixture from an earlier build).
    pub fn copy_of(source: &std::path::Path) -> Self {
        let device = Device::new();
        for entry in std::fs::read_dir(source).expect("the fixture exists") {
            let entry = entry.expect("a fixture file");
            std::fs::copy(entry.path(), device.dir().join(entry.file_name()))
                .expect("the fixture copies");
        }
        device
    }

    /// Its data directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A connection to its decrypted database, for tests that read (or
    /// plant) rows directly.
    pub fn database(&self) -> rusqlite::Connection {
        let key =
            qafila_store::Store::unlock(self.dir(), &qafila_store::Passphrase::new(PASSPHRASE), 0)
                .expect("the test passphrase opens the store");
        qafila_store::Store::raw_connection(self.dir(), &key).expect("the store opens")
    }

    /// Runs `qafila --data-dir DIR ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut command = match &self.clock {
            None => std::process::Command::new(workspace_binary("qafila")),
            Some(faketime) => {
                let mut command = std::process::Command::new("faketime");
                command
                    .arg("-m")
                    .args(faketime)
                    .arg(workspace_binary("qafila"));
                command
            }
        };
        let out = command
            .env("QAFILA_PASSPHRASE", PASSPHRASE)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .output()
            .expect("qafila runs");
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed, with `--json`, and returns its object.
    pub fn ok(&self, args: &[&str]) -> serde_json::Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let run = self.run(&with_json);
        assert_eq!(
            run.status, 0,
            "qafila {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("qafila {args:?}: not JSON ({e}): {}", run.stdout))
    }

    /// Runs a command that must fail with exit status 1 and returns its error
    /// code (from the `--json` error object) and the stderr text.
    pub fn fails(&self, args: &[&str]) -> (String, String) {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let run = self.run(&with_json);
        assert_eq!(
            run.status, 1,
            "qafila {args:?} should fail with 1:\n{}\n{}",
            run.stdout, run.stderr
        );
        let value: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("qafila {args:?}: error not JSON ({e}): {}", run.stdout));
        let code = value["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (code, run.stderr)
    }
}

/// A real `qafila relay serve` process on a loopback port, with its SQLite
/// database (or `--database-url`). Stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct RelayProcess {
    child: Option<std::process::Child>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    port: u16,
    /// Where it listens (`127.0.0.1`, or `0.0.0.0` for a relay reachable
    /// from the network).
    host: String,
    /// `http://127.0.0.1:PORT`, or for `--tls-self-signed` the pinned
    /// `https://127.0.0.1:PORT#sha256=…` it printed.
    pub url: String,
}

impl RelayProcess {
    /// Starts a relay on a free port storing into `db`.
    pub fn sqlite(db: &std::path::Path) -> Self {
        Self::start(vec!["--db".into(), db.display().to_string()], Vec::new(), 0)
    }

    /// Starts a relay on a free port storing into `db`, with extra
    /// `QAFILA_RELAY_*` environment.
    pub fn sqlite_with_env(db: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::start(vec!["--db".into(), db.display().to_string()], env, 0)
    }

    /// Starts a relay on a free port storing into PostgreSQL at `url`.
    pub fn postgres(url: &str) -> Self {
        Self::start(vec!["--database-url".into(), url.into()], Vec::new(), 0)
    }

    /// Starts a relay listening on `host` (port `port`, 0 for a free one)
    /// with extra `qafila relay serve` arguments and environment.
    pub fn spawn(host: &str, port: u16, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_on(
            host,
            args.iter().map(|a| (*a).to_owned()).collect(),
            env.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            port,
        )
    }

    /// Its process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn start(args: Vec<String>, env: Vec<(String, String)>, port: u16) -> Self {
        Self::start_on("127.0.0.1", args, env, port)
    }

    fn start_on(host: &str, args: Vec<String>, env: Vec<(String, String)>, port: u16) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(workspace_binary("qafila"))
            .args(["relay", "serve", "--listen", &format!("{host}:{port}")])
            .args(&args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("QAFILA_RELAY_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("the relay starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(stdout);
        stdout
            .read_line(&mut line)
            .expect("the relay prints its address");
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected relay output: {line:?}"))
            .to_owned();
        let port = address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        let mut url = format!("http://127.0.0.1:{port}");
        if args.iter().any(|a| a == "--tls-self-signed") {
            // `tls sha256 …`, then `address https://…#sha256=…`.
            let mut pinned = String::new();
            for _ in 0..2 {
                pinned.clear();
                stdout
                    .read_line(&mut pinned)
                    .expect("the relay prints its pin");
            }
            let pinned = pinned
                .trim()
                .strip_prefix("address ")
                .unwrap_or_else(|| panic!("unexpected relay output: {pinned:?}"));
            url = pinned.replacen(&address, &format!("127.0.0.1:{port}"), 1);
        }
        RelayProcess {
            child: Some(child),
            args,
            env,
            port,
            host: host.to_owned(),
            url,
        }
    }

    /// Kills the relay at once (SIGKILL: no graceful shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills and starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.kill();
        let again = Self::start_on(&self.host, self.args.clone(), self.env.clone(), self.port);
        *self = again;
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A lead and `volunteers` enrolled, approved volunteer devices of a new
/// convoy through `relay`, serving `site`; everyone has synced once.
pub fn convoy(relay: &str, site: &str, volunteers: usize) -> (Device, Vec<Device>) {
    convoy_with_roles(relay, site, &vec!["volunteer"; volunteers])
}

/// A lead's convoy with one device per role in `roles` (`volunteer`,
/// `registrar`, `storekeeper`), named "Volunteer 1", "Volunteer 2"…,
/// enrolled with the lead's codes (so their keys are bound: no fingerprint
/// to type), approved with those roles, and synced once.
pub fn convoy_with_roles(relay: &str, site: &str, roles: &[&str]) -> (Device, Vec<Device>) {
    let lead = Device::initialised("Lead");
    let count = roles.len().to_string();
    let created = lead.ok(&[
        "convoy",
        "create",
        "--name",
        "قافلة الشتاء",
        "--date",
        "2026-12-01",
        "--site",
        site,
        "--relay",
        relay,
        "--codes",
        &count,
    ]);
    let codes: Vec<String> = created["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    assert_eq!(codes.len(), roles.len());
    let mut devices = Vec::new();
    for (i, (code, role)) in codes.iter().zip(roles).enumerate() {
        let name = format!("Volunteer {}", i + 1);
        let device = Device::initialised(&name);
        let enrolled = device.ok(&["enroll", "--relay", relay, "--code", code]);
        assert_eq!(enrolled["status"], "pending");
        let approved = lead.ok(&["convoy", "approve", &name, "--role", role]);
        assert_eq!(approved["role"], *role, "{approved}");
        assert_eq!(
            approved["fingerprint"], enrolled["fingerprint"],
            "both screens show the same fingerprint"
        );
        devices.push(device);
    }
    lead.ok(&["sync"]);
    for device in &devices {
        device.ok(&["sync"]);
    }
    (lead, devices)
}

/// A TCP proxy that forwards to `upstream` but cuts each connection after
/// `request_bytes` sent or `answer_bytes` received: a connection dropping
/// mid-transfer, in either direction.
#[derive(Debug)]
pub struct CutProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

fn pipe_until(mut from: std::net::TcpStream, mut to: std::net::TcpStream, limit: usize) {
    use std::io::{Read, Write};
    let mut sent = 0;
    let mut buffer = [0u8; 4096];
    while sent < limit {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n.min(limit - sent),
        };
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

impl CutProxy {
    /// Starts the proxy (it lives until the test process ends).
    pub fn start(upstream: &str, request_bytes: usize, answer_bytes: usize) -> CutProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let (client2, server2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                std::thread::spawn(move || pipe_until(client, server, request_bytes));
                std::thread::spawn(move || pipe_until(server2, client2, answer_bytes));
            }
        });
        CutProxy { url }
    }
}

/// Whether a day report's anomalies (`expected["anomalies"]`) hold a double
/// hand-out or over-entitlement naming one of `hand_outs` (event ids): what
/// a household served more than once must show.
pub fn anomaly_names_any(anomalies: &serde_json::Value, hand_outs: &[String]) -> bool {
    anomalies.as_array().into_iter().flatten().any(|a| {
        matches!(
            a["code"].as_str(),
            Some("double_hand_out" | "over_entitlement")
        ) && a["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| hand_outs.iter().any(|m| e == m)))
    })
}

/// The convoy's day now (Cairo, the day ending at 04:00: the defaults of
/// `qafila convoy create`), as `YYYY-MM-DD`: what a device files today's
/// records on, whatever the machine's own zone.
pub fn convoy_today() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    qafila_domain::convoy_time::ConvoyTime::default()
        .day_of(now)
        .to_string()
}

/// Debian's multi-threaded libfaketime, for `LD_PRELOAD` (a relay runs a
/// thread pool; `FAKETIME` then shifts the process's clock).
pub fn libfaketime_mt() -> String {
    [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ]
    .iter()
    .map(|dir| format!("{dir}/faketime/libfaketimeMT.so.1"))
    .find(|path| std::path::Path::new(path).exists())
    .expect("libfaketime is installed (scripts/install-deps.sh)")
}

/// A `FAKETIME` value that puts a process's clock at `target_ms` (ms since
/// the Unix epoch) now and lets it run on: a relative offset, so it reads
/// the same whatever the process's `TZ`.
pub fn faketime_at(target_ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    let offset_s = (i64::try_from(target_ms).unwrap_or(0) - now) / 1000;
    format!("{offset_s:+}")
}

/// What a `day status` answer says was handed out of `item` (`"0"` when
/// the item has no line).
pub fn handed_out(status: &serde_json::Value, item: &str) -> String {
    status["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["item"] == item))
        .and_then(|i| i["handed_out"].as_str())
        .unwrap_or("0")
        .to_owned()
}

/// A file of a fixture set kept from an earlier build
/// (`tests/fixtures/SET/NAME`).
pub fn fixture(set: &str, name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(set)
        .join(name)
}

/// A one-line text file of a fixture set, trimmed.
pub fn fixture_text(set: &str, name: &str) -> String {
    std::fs::read_to_string(fixture(set, name))
        .expect("the fixture exists")
        .trim()
        .to_owned()
}
