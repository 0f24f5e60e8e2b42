//! The real desktop app, opened as a person opens it: `qafila-desktop` shows
//! its window on a private X display, and WebDriver reads what the window
//! shows — the bilingual title, right-to-left Arabic, and the version that the
//! UI obtained from Rust over Tauri's IPC.
//!
//! The chain is: this test → `tauri-driver` (WebDriver intermediary, from
//! crates.io) → `WebKitWebDriver` (Debian's `webkit2gtk-driver`) →
//! `qafila-desktop`, all on an `Xvfb` display that the test starts itself.
//! `make test` installs the three programs, builds `ui/dist` and then the app,
//! which embeds it; this test builds nothing.
//!
//! Every process the test starts is stopped by a guard's `Drop`, so a failed
//! assertion does not leave a web view or a display behind. `tauri-driver` gets
//! SIGTERM, never SIGKILL first: only on SIGTERM does it stop the
//! `WebKitWebDriver` it started.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// The title in `tauri.conf.json` and `ui/index.html`: Arabic first, then English.
const TITLE: &str = "قافلة · Qafila";

/// Starting a program (Xvfb, the drivers) and seeing it answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// WebKit's first start and first page on a busy two-core machine. A healthy
/// run needs a few seconds; the margin is there so the test is never flaky.
const FIRST_PAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// Any single WebDriver request; creating the session is the slowest.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a process gets to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// W3C WebDriver's key for an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

#[test]
fn the_window_shows_the_bilingual_title_and_the_version_from_rust() {
    let app = qafila_e2e::workspace_binary("qafila-desktop");
    let xvfb = required_program("Xvfb", "Debian's xvfb");
    let tauri_driver = required_program(
        "tauri-driver",
        "`cargo install tauri-driver --version '^2' --locked`",
    );
    let webkit_driver = required_program("WebKitWebDriver", "Debian's webkit2gtk-driver");

    // Dropped in reverse order: the session, then the drivers, then the
    // display, then the scratch directory.
    let scratch = Scratch::new();
    let display = Display::start(&xvfb, &scratch);
    let driver = Driver::start(&tauri_driver, &webkit_driver, &display, &scratch);
    let session = driver.new_session(&app);

    // What WebDriver calls the title is the page's `document.title`.
    let title = wait_for("the page title", FIRST_PAGE_TIMEOUT, || {
        let title = session.get("title")?;
        let title = title.as_str().unwrap_or_default().to_owned();
        if title.contains("قافلة") && title.contains("Qafila") {
            Ok(title)
        } else {
            Err(format!("the title is {title:?}"))
        }
    });
    assert_eq!(title, TITLE, "the page title");

    let version = wait_for(
        "the version on screen (#version)",
        FIRST_PAGE_TIMEOUT,
        || {
            if let Ok(alert) = session.text_of("#version-error") {
                panic!("the window shows its error state instead of the version: {alert:?}");
            }
            let text = session.text_of("#version")?;
            if text.trim().is_empty() {
                Err("#version is still empty".to_owned())
            } else {
                Ok(text)
            }
        },
    );
    assert_eq!(
        version.trim(),
        env!("CARGO_PKG_VERSION"),
        "the window must show the version that `app_version` in Rust returns"
    );

    // The native window's own title, asked through the same IPC the UI uses,
    // so a title set only in the HTML cannot pass for the window's.
    let native_title = session.execute_async(
        "const done = arguments[arguments.length - 1];
         window.__TAURI_INTERNALS__
           .invoke('plugin:window|title', { label: 'main' })
           .then(done, (error) => done({ error: String(error) }));",
    );
    assert_eq!(native_title, json!(TITLE), "the native window title");

    // Every other command goes through `call` to the app's session
    // (`qafila_app::rpc`): this fresh machine has no device yet, and says so.
    let status = session.execute_async(
        "const done = arguments[arguments.length - 1];
         window.__TAURI_INTERNALS__
           .invoke('call', { command: 'app_status', args: {} })
           .then(done, (error) => done({ error }));",
    );
    assert_eq!(status["initialised"], json!(false), "app_status: {status}");
    assert_eq!(status["version"], json!(env!("CARGO_PKG_VERSION")));
    let refused = session.execute_async(
        "const done = arguments[arguments.length - 1];
         window.__TAURI_INTERNALS__
           .invoke('call', { command: 'villages', args: {} })
           .then((value) => done({ value }), (error) => done({ error }));",
    );
    assert_eq!(
        refused["error"]["code"],
        json!("not_initialised"),
        "villages before the device exists: {refused}"
    );

    let layout = session.execute(
        "const root = document.documentElement;
         return { lang: root.lang, dir: root.dir, direction: getComputedStyle(root).direction };",
    );
    assert_eq!(
        layout,
        json!({ "lang": "ar-EG", "dir": "rtl", "direction": "rtl" }),
        "the page must be Arabic (Egypt) and laid out right to left"
    );

    // WebKit's snapshot is the last painted frame, which can lag the DOM read
    // above: wait for the fonts and two frames so the picture shows the version.
    session.execute_async(
        "const done = arguments[arguments.length - 1];
         document.fonts.ready.then(() =>
           requestAnimationFrame(() => requestAnimationFrame(() => done(true))));",
    );
    let png = session.screenshot();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is not a PNG"
    );
    // For people and CI artefacts: `QAFILA_SCREENSHOT_DIR=/tmp/shots make test`.
    if let Some(dir) = std::env::var_os("QAFILA_SCREENSHOT_DIR") {
        let path = Path::new(&dir).join("desktop_window.png");
        fs::create_dir_all(&dir).expect("create QAFILA_SCREENSHOT_DIR");
        fs::write(&path, &png).expect("write the screenshot");
        eprintln!("screenshot: {}", path.display());
    }
}

/// Fails with what to run when a program the test needs is not installed.
fn required_program(name: &str, comes_from: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not on PATH; it comes from {comes_from}. \
                 Run `make test`, which installs it."
            )
        })
}

/// Calls `probe` until it returns `Ok`, and panics with its last complaint
/// when `timeout` passes first.
fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not there after {timeout:?}; last: {last}")
            }
            Err(_) => thread::sleep(POLL_INTERVAL),
        }
    }
}

/// A loopback port that was free a moment ago. The drivers need port numbers
/// on their command lines; a clash makes them fail loudly, not silently.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// The last lines of a log file, for failure messages, with a hint for the
/// one setup mistake seen in practice.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(40);
    let mut report = format!("--- {} ---\n{}", path.display(), lines[start..].join("\n"));
    if text.contains("EGL_NOT_INITIALIZED") || text.contains("swrast_dri") {
        report.push_str(
            "\n--- hint ---\nWebKit found no OpenGL driver; under Xvfb it needs Mesa's software \
             driver from Debian's libgl1-mesa-dri. Run `make test`, which installs it.",
        );
    }
    report
}

/// A private directory for logs and for the app's home, so the test writes
/// nowhere else.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.subsec_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "qafila-desktop-window-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).expect("create the scratch directory");
        Self(dir)
    }

    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.0.join(name);
        fs::create_dir_all(&dir).expect("create a scratch subdirectory");
        dir
    }

    fn log(&self, name: &str) -> (PathBuf, File) {
        let path = self.0.join(name);
        let file = File::create(&path).expect("create a log file");
        (path, file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process that is stopped when dropped: SIGTERM, a bounded wait,
/// then SIGKILL. With `sweep`, the processes it had started (for
/// `tauri-driver`: `WebKitWebDriver` and the app) are stopped the same way
/// afterwards, in case one outlived it.
///
/// The children stay in the test's process group on purpose: when the whole
/// test is interrupted (Ctrl-C, a CI timeout), the signal reaches them too,
/// even though no `Drop` runs then.
#[derive(Debug)]
struct Guarded {
    name: &'static str,
    child: Child,
    sweep: bool,
}

impl Guarded {
    /// Panics with the log when the process has already exited.
    fn assert_running(&mut self, log: &Path) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early ({status}).\n{}", self.name, tail(log));
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Listed before the parent stops, while the tree is still connected.
        let descendants = if self.sweep {
            descendants(self.child.id())
        } else {
            Vec::new()
        };
        if matches!(self.child.try_wait(), Ok(None)) {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(POLL_INTERVAL);
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                eprintln!(
                    "{} ignored SIGTERM for {STOP_TIMEOUT:?}; killing it",
                    self.name
                );
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        stop_all(&descendants, self.name);
    }
}

/// Every process below `root`, from the parent links in `/proc` (Linux).
fn descendants(root: u32) -> Vec<Pid> {
    let mut links = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        if let Some((_, parent)) = process_state(pid) {
            links.push((pid, parent));
        }
    }
    let mut found = vec![root];
    let mut next = 0;
    while let Some(&parent) = found.get(next) {
        found.extend(
            links
                .iter()
                .filter(|link| link.1 == parent)
                .map(|link| link.0),
        );
        next += 1;
    }
    found[1..]
        .iter()
        .filter_map(|&pid| i32::try_from(pid).ok().map(Pid::from_raw))
        .collect()
}

/// A process's state letter and parent, from `/proc/<pid>/stat`; `None` once
/// it is gone.
fn process_state(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (name) state parent …", where the name may hold spaces and ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

/// Whether a process exists and has not exited (a zombie has).
fn is_running(pid: u32) -> bool {
    process_state(pid).is_some_and(|(state, _)| state != 'Z')
}

/// SIGTERM to those still running, a bounded wait, then SIGKILL.
fn stop_all(pids: &[Pid], left_by: &str) {
    let running = |pid: &&Pid| u32::try_from(pid.as_raw()).is_ok_and(is_running);
    for pid in pids.iter().filter(running) {
        let _ = kill(*pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while pids.iter().any(|pid| running(&pid)) {
        if Instant::now() >= deadline {
            eprintln!("processes left by {left_by} ignored SIGTERM; killing them");
            for pid in pids.iter().filter(running) {
                let _ = kill(*pid, Signal::SIGKILL);
            }
            return;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// An `Xvfb` display of the test's own; Xvfb picks a free display number
/// itself and reports it once it accepts clients (`-displayfd`).
#[derive(Debug)]
struct Display {
    name: String,
    _xvfb: Guarded,
}

impl Display {
    fn start(xvfb: &Path, scratch: &Scratch) -> Self {
        let (log_path, log) = scratch.log("xvfb.log");
        let child = Command::new(xvfb)
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", xvfb.display()));
        let mut guard = Guarded {
            name: "Xvfb",
            child,
            sweep: false,
        };

        let stdout = guard.child.stdout.take().expect("Xvfb's stdout is piped");
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(read.map(|_| line));
        });
        let number = match receiver.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) if !line.trim().is_empty() => line.trim().to_owned(),
            other => {
                guard.assert_running(&log_path);
                panic!(
                    "Xvfb reported no display number within {START_TIMEOUT:?} ({other:?}).\n{}",
                    tail(&log_path)
                )
            }
        };
        Self {
            name: format!(":{number}"),
            _xvfb: guard,
        }
    }
}

/// `tauri-driver`, which starts `WebKitWebDriver`, which starts the app for
/// each session.
#[derive(Debug)]
struct Driver {
    client: WebDriver,
    log: PathBuf,
    process: Guarded,
}

impl Driver {
    fn start(
        tauri_driver: &Path,
        webkit_driver: &Path,
        display: &Display,
        scratch: &Scratch,
    ) -> Self {
        let port = free_port();
        let native_port = loop {
            let candidate = free_port();
            if candidate != port {
                break candidate;
            }
        };
        let (log_path, log) = scratch.log("tauri-driver.log");
        let runtime = scratch.dir("run");
        fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700))
            .expect("make XDG_RUNTIME_DIR private");

        let child = Command::new(tauri_driver)
            .arg("--port")
            .arg(port.to_string())
            .arg("--native-port")
            .arg(native_port.to_string())
            .arg("--native-driver")
            .arg(webkit_driver)
            // The app sees only the test's display and a home of its own.
            .env("DISPLAY", &display.name)
            .env_remove("WAYLAND_DISPLAY")
            .env("GDK_BACKEND", "x11")
            .env("HOME", scratch.dir("home"))
            .env("XDG_CONFIG_HOME", scratch.dir("config"))
            .env("XDG_DATA_HOME", scratch.dir("data"))
            .env("XDG_CACHE_HOME", scratch.dir("cache"))
            .env("XDG_RUNTIME_DIR", &runtime)
            // No accessibility bus under Xvfb; without this GTK waits for one.
            .env("NO_AT_BRIDGE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("share the log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", tauri_driver.display()));
        let mut driver = Self {
            client: WebDriver::new(port),
            log: log_path,
            process: Guarded {
                name: "tauri-driver",
                child,
                sweep: true,
            },
        };

        // `/status` is forwarded to WebKitWebDriver, so a ready answer means
        // both drivers are listening.
        wait_for(
            "tauri-driver and WebKitWebDriver to answer",
            START_TIMEOUT,
            || {
                driver.process.assert_running(&driver.log);
                let status = driver.client.get("/status")?;
                if status["ready"] == json!(true) {
                    Ok(())
                } else {
                    Err(format!("status: {status}"))
                }
            },
        );
        driver
    }

    /// Starts the app in a new WebDriver session.
    fn new_session(&self, app: &Path) -> Session<'_> {
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "tauri:options": { "application": app }
                }
            }
        });
        let value = self
            .client
            .post("/session", &capabilities)
            .unwrap_or_else(|error| {
                panic!(
                    "WebDriver could not start {}: {error}\n{}",
                    app.display(),
                    tail(&self.log)
                )
            });
        let id = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a new session without a sessionId: {value}"))
            .to_owned();
        Session { driver: self, id }
    }
}

/// One running app, closed (DELETE) when dropped.
#[derive(Debug)]
struct Session<'driver> {
    driver: &'driver Driver,
    id: String,
}

impl Session<'_> {
    fn get(&self, command: &str) -> Result<Value, String> {
        self.alive(
            self.driver
                .client
                .get(&format!("/session/{}/{command}", self.id)),
        )
    }

    fn post(&self, command: &str, body: &Value) -> Result<Value, String> {
        self.alive(
            self.driver
                .client
                .post(&format!("/session/{}/{command}", self.id), body),
        )
    }

    /// Fails at once, with the drivers' log, when the app is gone: waiting
    /// longer cannot bring a crashed window back.
    fn alive(&self, answer: Result<Value, String>) -> Result<Value, String> {
        if let Err(error) = &answer {
            if error.contains("invalid session id") {
                panic!(
                    "the app's window is gone (it crashed or closed): {error}\n{}",
                    tail(&self.driver.log)
                );
            }
            if !is_running(self.driver.process.child.id()) {
                panic!("tauri-driver is gone: {error}\n{}", tail(&self.driver.log));
            }
        }
        answer
    }

    /// The rendered text of the first element matching a CSS selector.
    fn text_of(&self, selector: &str) -> Result<String, String> {
        let element = self.post(
            "element",
            &json!({ "using": "css selector", "value": selector }),
        )?;
        let element = element[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| format!("no element reference for {selector}: {element}"))?;
        let text = self.get(&format!("element/{element}/text"))?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    fn execute(&self, script: &str) -> Value {
        self.post("execute/sync", &json!({ "script": script, "args": [] }))
            .unwrap_or_else(|error| panic!("running a script in the page: {error}"))
    }

    fn execute_async(&self, script: &str) -> Value {
        self.post("execute/async", &json!({ "script": script, "args": [] }))
            .unwrap_or_else(|error| panic!("running an async script in the page: {error}"))
    }

    /// The web view as a PNG.
    fn screenshot(&self) -> Vec<u8> {
        let encoded = self
            .get("screenshot")
            .unwrap_or_else(|error| panic!("taking a screenshot: {error}"));
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("the screenshot is base64")
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.driver.client.delete(&format!("/session/{}", self.id)) {
            eprintln!("closing the WebDriver session: {error}");
        }
    }
}

/// Just enough of the W3C WebDriver protocol: JSON over HTTP on loopback.
#[derive(Debug)]
struct WebDriver {
    agent: ureq::Agent,
    base: String,
}

impl WebDriver {
    fn new(port: u16) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            // WebDriver reports errors as JSON bodies with 4xx/5xx statuses.
            .http_status_as_error(false)
            // Loopback only: an HTTP(S)_PROXY in the environment must not apply.
            .proxy(None)
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn get(&self, path: &str) -> Result<Value, String> {
        Self::value(path, self.agent.get(format!("{}{path}", self.base)).call())
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        Self::value(
            path,
            self.agent
                .post(format!("{}{path}", self.base))
                .send_json(body),
        )
    }

    fn delete(&self, path: &str) -> Result<Value, String> {
        Self::value(
            path,
            self.agent.delete(format!("{}{path}", self.base)).call(),
        )
    }

    /// The `value` of a WebDriver answer, or its error and message.
    fn value(
        path: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, String> {
        let mut response = response.map_err(|error| format!("{path}: {error}"))?;
        let status = response.status();
        let body: Value = response
            .body_mut()
            .read_json()
            .map_err(|error| format!("{path}: HTTP {status} without a JSON body: {error}"))?;
        let value = body.get("value").cloned().unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!(
                "{path}: HTTP {status}: {}: {}",
                value["error"].as_str().unwrap_or("unknown error"),
                value["message"].as_str().unwrap_or_default()
            ))
        }
    }
}
