//! A real, throwaway PostgreSQL server for tests.
//!
//! [`TempPostgres::start`] runs `initdb` and `postgres` from the Debian
//! package `postgresql` (under `/usr/lib/postgresql/*/bin/`) in a temporary
//! directory, on a free loopback port, with `trust` authentication for the
//! user `qafila`, and waits until it accepts connections. Dropping it stops
//! the server and removes the directory.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then the
//! directory is given to the `postgres` user (created by the Debian
//! package) and the server runs through `runuser -u postgres`.
//!
//! A server kept in a `static` is never dropped, so each server also gets a
//! watchdog: a small shell process that waits for the test process to exit
//! (the end of a pipe it alone holds) and then stops the server and removes
//! its directory. No server outlives the test binary that started it.
//!
//! Set `QAFILA_TEST_DATABASE_URL` (for example
//! `postgres://user:password@127.0.0.1:5432/postgres`) to use an existing
//! server instead: nothing is started, [`TempPostgres::url`] swaps the
//! database name into that URL, and [`TempPostgres::create_database`] drops
//! and re-creates the named database there, so the user needs `CREATEDB`.
//!
//! Blocking, with no async runtime: call it from `spawn_blocking` or before
//! starting one.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming an existing server to use instead.
pub const DATABASE_URL_VAR: &str = "QAFILA_TEST_DATABASE_URL";

/// The user the temporary server is initialised with.
const USER: &str = "qafila";

/// How long the server may take to accept connections.
const STARTUP: Duration = Duration::from_secs(30);

/// A PostgreSQL server for the duration of a test run.
#[derive(Debug)]
pub struct TempPostgres {
    /// `postgres://...@host:port/` with the database name left out.
    base: String,
    /// What follows the database name in the URL (`?...`), if anything.
    query: String,
    /// `psql`, to create databases.
    psql: PathBuf,
    /// The server this value started, if it started one.
    server: Option<Server>,
}

enum Startup {
    Waiting,
    Ready,
    Exited,
}

#[derive(Debug)]
struct Server {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    child: Child,
    /// Closing it (here, or by the test process exiting) wakes the watchdog.
    watchdog_pipe: Option<ChildStdin>,
    watchdog: Child,
}

fn install_hint() -> String {
    "PostgreSQL's server programs were not found under /usr/lib/postgresql/*/bin/: \
     install the Debian package postgresql (make test does this)"
        .to_string()
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb` and `postgres`.
fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn find_psql(bin: Option<&Path>) -> Option<PathBuf> {
    bin.map(|b| b.join("psql"))
        .into_iter()
        .chain(server_bin().map(|b| b.join("psql")))
        .chain([PathBuf::from("/usr/bin/psql")])
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn runuser() -> PathBuf {
    let absolute = PathBuf::from("/usr/sbin/runuser");
    if absolute.is_file() {
        absolute
    } else {
        PathBuf::from("runuser")
    }
}

/// A command running `program`, as the `postgres` user when we are root.
fn command(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut command = Command::new(runuser());
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot find a free port for PostgreSQL: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot find a free port for PostgreSQL: {e}"))
        .port()
}

fn run(mut command: Command, what: &str) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A directory under the system's temporary directory, unique to this call.
fn make_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for attempt in 0..100u32 {
        let dir = std::env::temp_dir().join(format!(
            "qafila-pg-{}-{}-{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos.wrapping_add(attempt)
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!(
                "cannot create a directory for PostgreSQL in {}: {e}",
                dir.display()
            ),
        }
    }
    panic!(
        "cannot create a directory for PostgreSQL in {}",
        std::env::temp_dir().display()
    )
}

/// The command that stops the server in `dir` at once.
fn stop_command(bin: &Path, dir: &Path, as_postgres: bool) -> Command {
    let mut stop = command(as_postgres, &bin.join("pg_ctl"));
    stop.arg("-D")
        .arg(dir.join("data"))
        .args(["-m", "immediate", "-w", "stop"]);
    stop
}

/// Starts the watchdog: it waits for end-of-file on its standard input
/// (this process holds the only writer, so that comes when we close it or
/// exit, however we exit), then stops the server and removes `dir`. It
/// ignores the signals a Ctrl-C or a killed process group sends.
fn spawn_watchdog(bin: &Path, dir: &Path, as_postgres: bool) -> Child {
    let stop = stop_command(bin, dir, as_postgres);
    // After a normal drop the directory is already gone and this ends at
    // once; after a crash it may still be filling (an `initdb` or a
    // `postgres` starting), so it looks again for a few seconds.
    let script = "trap '' INT HUP TERM QUIT PIPE\n\
         cat >/dev/null\n\
         n=0\n\
         while [ -e \"$QAFILA_PG_DIR\" ] && [ $n -lt 10 ]; do\n\
         if [ -f \"$QAFILA_PG_DIR/data/postmaster.pid\" ]; then \"$@\" >/dev/null 2>&1; fi\n\
         rm -rf -- \"$QAFILA_PG_DIR\"\n\
         sleep 1\n\
         n=$((n + 1))\n\
         done\n";
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("qafila-postgres-watchdog")
        .arg(stop.get_program())
        .args(stop.get_args())
        .env("QAFILA_PG_DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the PostgreSQL watchdog: {e}"))
}

/// Whether the server accepts connections (`pg_isready` says so).
fn ready(bin: &Path, port: u16) -> bool {
    let pg_isready = bin.join("pg_isready");
    if pg_isready.is_file() {
        Command::new(pg_isready)
            .args([
                "-q",
                "-h",
                "127.0.0.1",
                "-U",
                USER,
                "-d",
                "postgres",
                "-t",
                "2",
            ])
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    } else {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }
}

impl TempPostgres {
    /// Starts a server (or uses `QAFILA_TEST_DATABASE_URL`'s). Panics with
    /// what to do when PostgreSQL is not installed or does not start.
    pub fn start() -> TempPostgres {
        Self::start_with_tls(None)
    }

    /// Starts a server of its own (never `QAFILA_TEST_DATABASE_URL`'s) that
    /// also takes TLS, with this certificate chain and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> TempPostgres {
        Self::start_with_tls(Some((cert_pem, key_pem)))
    }

    fn start_with_tls(tls: Option<(&str, &str)>) -> TempPostgres {
        if tls.is_none()
            && let Some(url) = std::env::var(DATABASE_URL_VAR)
                .ok()
                .filter(|u| !u.trim().is_empty())
        {
            return TempPostgres::external(url.trim());
        }
        let bin = server_bin().unwrap_or_else(|| panic!("{}", install_hint()));
        let psql = find_psql(Some(&bin)).unwrap_or_else(|| panic!("{}", install_hint()));
        let as_postgres = is_root();
        let dir = make_dir();
        // From here on, the watchdog cleans up whatever happens to us.
        let mut watchdog = spawn_watchdog(&bin, &dir, as_postgres);
        let watchdog_pipe = watchdog.stdin.take();
        let mut settings = Vec::new();
        if let Some((cert, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            let (cert_file, key_file) = (dir.join("server.crt"), dir.join("server.key"));
            std::fs::write(&cert_file, cert)
                .unwrap_or_else(|e| panic!("cannot write the server's certificate: {e}"));
            std::fs::write(&key_file, key)
                .unwrap_or_else(|e| panic!("cannot write the server's key: {e}"));
            // PostgreSQL refuses a key others can read.
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
                .unwrap_or_else(|e| panic!("cannot protect the server's key: {e}"));
            settings.push("ssl=on".to_owned());
            settings.push(format!("ssl_cert_file={}", cert_file.display()));
            settings.push(format!("ssl_key_file={}", key_file.display()));
        }
        if as_postgres {
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres:postgres"]).arg(&dir);
            run(
                chown,
                "chown (to let the postgres user use the test server's directory)",
            );
        }
        let mut initdb = command(as_postgres, &bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .env("LC_ALL", "C");
        run(initdb, "initdb");

        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log = File::create(dir.join("postgres.log"))
                .unwrap_or_else(|e| panic!("cannot create the PostgreSQL log: {e}"));
            let log_err = log
                .try_clone()
                .unwrap_or_else(|e| panic!("cannot create the PostgreSQL log: {e}"));
            let mut postgres = command(as_postgres, &bin.join("postgres"));
            postgres
                .arg("-D")
                .arg(dir.join("data"))
                .arg("-k")
                .arg(&dir)
                .arg("-p")
                .arg(port.to_string())
                .args(["-c", "listen_addresses=127.0.0.1"])
                .args(["-c", "fsync=off"])
                .args(["-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off"])
                .args(["-c", "max_connections=200"])
                .args(settings.iter().flat_map(|s| ["-c", s.as_str()]))
                .env("LC_ALL", "C")
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err);
            let mut child = postgres
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start postgres: {e}"));
            let deadline = Instant::now() + STARTUP;
            let mut state = Startup::Waiting;
            while Instant::now() < deadline {
                if ready(&bin, port) {
                    state = Startup::Ready;
                    break;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    state = Startup::Exited;
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            match state {
                Startup::Ready => {
                    let server = Server {
                        bin,
                        dir,
                        as_postgres,
                        child,
                        watchdog_pipe,
                        watchdog,
                    };
                    return TempPostgres {
                        base: format!("postgres://{USER}@127.0.0.1:{port}/"),
                        query: String::new(),
                        psql,
                        server: Some(server),
                    };
                }
                Startup::Exited => {
                    let _ = child.wait();
                    last_log =
                        std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
                }
                Startup::Waiting => {
                    // Stuck: stop it and give up (the watchdog removes the directory).
                    last_log =
                        std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
                    let _ = stop_command(&bin, &dir, as_postgres)
                        .stdin(Stdio::null())
                        .output();
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
            // Most likely the port was taken meanwhile: try another.
        }
        drop(watchdog_pipe);
        let _ = watchdog.wait();
        panic!("PostgreSQL did not start within {STARTUP:?}; its log:\n{last_log}");
    }

    fn external(url: &str) -> TempPostgres {
        let psql = find_psql(None).unwrap_or_else(|| {
            panic!("{DATABASE_URL_VAR} is set but psql was not found: install the Debian package postgresql-client")
        });
        let (base, query) = split_url(url);
        TempPostgres {
            base,
            query,
            psql,
            server: None,
        }
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("{}{db}{}", self.base, self.query)
    }

    /// Creates database `name` (dropping any of that name first) and
    /// returns its URL. `name` is ASCII letters, digits and `_`.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty()
                && name.len() <= 63
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "database names for tests are 1 to 63 ASCII letters, digits and _: {name:?}"
        );
        let mut psql = Command::new(&self.psql);
        psql.args(["-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url("postgres"))
            .arg("-c")
            .arg(format!("DROP DATABASE IF EXISTS \"{name}\""))
            .arg("-c")
            .arg(format!("CREATE DATABASE \"{name}\""))
            .env("PGCONNECT_TIMEOUT", "10");
        run(psql, &format!("psql (creating the test database {name})"));
        self.url(name)
    }

    /// Creates database `name` as [`create_database`](Self::create_database)
    /// does and runs the SQL file `dump` in it (a relay database kept as a
    /// fixture); any statement failing fails the test.
    pub fn create_database_from(&self, name: &str, dump: &std::path::Path) -> String {
        let url = self.create_database(name);
        let mut psql = Command::new(&self.psql);
        psql.args(["-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(&url)
            .arg("-f")
            .arg(dump)
            .env("PGCONNECT_TIMEOUT", "10");
        run(
            psql,
            &format!("psql (loading {} into {name})", dump.display()),
        );
        url
    }
}

/// Splits `scheme://authority/db?query` into (`scheme://authority/`, `?query`).
fn split_url(url: &str) -> (String, String) {
    let (body, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let authority_start = body.find("://").map_or(0, |i| i + 3);
    let base = match body[authority_start..].find('/') {
        Some(i) => &body[..authority_start + i + 1],
        None => body,
    };
    let base = if base.ends_with('/') {
        base.to_string()
    } else {
        format!("{base}/")
    };
    (base, query.to_string())
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        let stopped = stop_command(&server.bin, &server.dir, server.as_postgres)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !stopped {
            let _ = server.child.kill();
        }
        let _ = server.child.wait();
        let _ = std::fs::remove_dir_all(&server.dir);
        // With the directory gone, the watchdog ends at once.
        drop(server.watchdog_pipe.take());
        let _ = server.watchdog.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::{DATABASE_URL_VAR, TempPostgres, split_url};

    #[test]
    fn a_server_starts_serves_and_is_gone_once_dropped() {
        if std::env::var_os(DATABASE_URL_VAR).is_some() {
            return;
        }
        let server = TempPostgres::start();
        let url = server.create_database("testkit_check");
        assert!(url.ends_with("/testkit_check"), "{url}");
        // Creating it again starts afresh rather than failing.
        assert_eq!(server.create_database("testkit_check"), url);
        let port: u16 = url
            .rsplit(':')
            .next()
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {url}"));
        let dir = server
            .server
            .as_ref()
            .map(|s| s.dir.clone())
            .unwrap_or_default();
        assert!(dir.join("data").is_dir());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        drop(server);
        assert!(!dir.exists(), "{} is left behind", dir.display());
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the server still runs"
        );
    }

    #[test]
    fn urls_get_the_database_name_swapped_in() {
        assert_eq!(
            split_url("postgres://u:p@h:5432/postgres?sslmode=disable"),
            (
                "postgres://u:p@h:5432/".to_string(),
                "?sslmode=disable".to_string()
            )
        );
        assert_eq!(
            split_url("postgres://h"),
            ("postgres://h/".to_string(), String::new())
        );
        assert_eq!(
            split_url("postgres://h/"),
            ("postgres://h/".to_string(), String::new())
        );
    }
}
