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
//!
//! The second test is a volunteer's morning on a real store: a relay and the
//! demo convoy (`qafila demo`, the real CLI) first, then the app opened on
//! that data directory (`QAFILA_DATA_DIR`, which reaches the app through
//! `tauri-driver`'s own environment: its capabilities carry no environment),
//! a card typed into the scan field as a scanner would, the basket handed out,
//! the card refused the second time, the sync chip's tap, and English. What
//! was recorded is then read back outside the app, with the CLI, from the
//! app's store and from the lead's after a sync through the relay.
//!
//! Screenshots go to `target/screenshots/` (or `QAFILA_SCREENSHOT_DIR`), for
//! people and CI artefacts: `desktop_window.png`, `desktop-ar-scan-ok.png`,
//! `desktop-ar-recorded.png`, `desktop-ar-already-served.png`,
//! `desktop-en-scan-ok.png`, `desktop-en-already-served.png`, `desktop-ar-camera.png`.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, mpsc};
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

/// One step of the volunteer's flow (a scan, a hand-out, a sync): a healthy
/// debug build answers in well under a second.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// W3C WebDriver's key for an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's Enter key, as a scanner ends a card.
const ENTER: &str = "\u{e007}";

/// The demo's village, which is also its convoy's only site
/// (`crates/qafila-cli/src/demo.rs`).
const DEMO_SITE: &str = "كفر الشيخ سالم";
/// The app's device in the demo (`qafila demo` names it).
const DEMO_DEVICE: &str = "جهاز المتطوع";

/// One web view at a time: the tests of this file run on parallel threads,
/// and two WebKits starting at once on a two-core CI machine only make both
/// slow. What needs no window (the relay, the demo convoy) runs outside it.
static ONE_WINDOW: Mutex<()> = Mutex::new(());

fn one_window() -> MutexGuard<'static, ()> {
    // A test that failed while holding it leaves nothing behind (its guards
    // stopped every process), so the next one can go ahead.
    ONE_WINDOW
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn the_window_shows_the_bilingual_title_and_the_version_from_rust() {
    let app = qafila_e2e::workspace_binary("qafila-desktop");
    let programs = Programs::find();

    // Dropped in reverse order: the session, then the drivers, then the
    // display, then the window lock, then the scratch directory.
    let scratch = Scratch::new();
    let _window = one_window();
    let display = Display::start(&programs.xvfb, &scratch);
    // No data directory: a fresh machine, whatever the caller's environment says.
    let driver = Driver::start(&programs, &display, &scratch, None);
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

    session.screenshot("desktop_window.png");

    // The camera: WebKitGTK has media streams off unless the shell turns
    // them on. WebKit's mock camera stands in for a real one here; it grants
    // itself without a permission request, so the shell's allow-video-only
    // handler is exercised only with a real camera.
    let camera = session.execute_async(
        "const done = arguments[arguments.length - 1];
         if (!navigator.mediaDevices) { done({ error: 'no mediaDevices' }); return; }
         navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } }).then(
           (stream) => {
             const tracks = stream.getVideoTracks();
             const answer = { tracks: tracks.length, state: tracks[0] && tracks[0].readyState };
             stream.getTracks().forEach((t) => t.stop());
             done(answer);
           },
           (error) => done({ error: error.name }));",
    );
    assert_eq!(
        camera,
        json!({ "tracks": 1, "state": "live" }),
        "the camera must open in the real app"
    );
}

#[test]
fn a_volunteer_hands_out_a_basket_from_a_real_store_and_it_is_kept_and_synced() {
    let qafila = qafila_e2e::workspace_binary("qafila");
    let app = qafila_e2e::workspace_binary("qafila-desktop");
    let programs = Programs::find();
    let started = Instant::now();

    // A relay and the demo convoy, with the real CLI, before any window: the
    // app's device enrolled and approved, three dozen families in the demo
    // village, their cards, and stock at the site.
    let scratch = Scratch::new();
    let relay = qafila_e2e::RelayProcess::sqlite(&scratch.0.join("relay.db"));
    let app_dir = scratch.0.join("app");
    let lead_dir = scratch.0.join("lead");
    let demo = cli(
        &qafila,
        &app_dir,
        &[
            "demo",
            "--relay",
            &relay.url,
            "--lead-dir",
            &lead_dir.display().to_string(),
        ],
    );
    assert_eq!(demo["created"], json!(true), "qafila demo: {demo}");
    assert_eq!(demo["village"], json!(DEMO_SITE), "qafila demo: {demo}");
    let cards: Vec<String> = fs::read_to_string(app_dir.join("demo-cards.txt"))
        .expect("qafila demo writes demo-cards.txt")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(cards.len(), 5, "demo-cards.txt holds five card texts");
    assert_eq!(
        demo["card_texts"],
        json!(cards),
        "demo-cards.txt and --json agree"
    );
    assert_eq!(
        handed_out(&day_status(&qafila, &app_dir), "food_box"),
        "0",
        "no food box handed out before the app opens"
    );
    eprintln!("relay and demo convoy ready in {:?}", started.elapsed());

    let window = one_window();
    let display = Display::start(&programs.xvfb, &scratch);
    let driver = Driver::start(&programs, &display, &scratch, Some(&app_dir));
    let opened = Instant::now();
    let session = driver.new_session(&app);

    // The app found the demo's store locked: it opens only once the
    // passphrase is typed on its first screen (the desktop app never reads
    // it from the environment).
    let locked = wait_for("app_status from the app", FIRST_PAGE_TIMEOUT, || {
        let status = session.call("app_status", &json!({}));
        if status.get("error").is_none() && !status.is_null() {
            Ok(status)
        } else {
            Err(format!("app_status: {status}"))
        }
    });
    assert_eq!(locked["locked"], json!(true), "app_status: {locked}");
    assert!(
        locked.get("device").is_none(),
        "nothing shows while locked: {locked}"
    );
    let field = wait_for("the passphrase field", STEP_TIMEOUT, || {
        session.find(&testid("passphrase-input"))
    });
    session
        .post(
            &format!("element/{field}/value"),
            &json!({ "text": format!("{}{ENTER}", qafila_e2e::PASSPHRASE) }),
        )
        .unwrap_or_else(|error| panic!("typing the passphrase: {error}"));

    // The app opened the demo's store, not a fresh one: the only way it can
    // know this device is through `QAFILA_DATA_DIR`.
    let status = wait_for("the unlocked app_status", STEP_TIMEOUT, || {
        let status = session.call("app_status", &json!({}));
        if status["locked"] == json!(false) {
            Ok(status)
        } else {
            Err(format!("app_status: {status}"))
        }
    });
    assert_eq!(
        status["initialised"],
        json!(true),
        "the app did not open QAFILA_DATA_DIR's store: {status}"
    );
    assert_eq!(
        status["device"]["name"],
        json!(DEMO_DEVICE),
        "app_status: {status}"
    );
    assert!(
        status["sites"]
            .as_array()
            .is_some_and(|sites| sites.contains(&json!(DEMO_SITE))),
        "app_status names the demo site: {status}"
    );

    // A fresh web view has no site chosen yet: the app asks on its Today screen.
    let first = wait_for("the Today or Scan screen", FIRST_PAGE_TIMEOUT, || {
        for screen in ["today", "scan"] {
            if session.find(&testid(screen)).is_ok() {
                return Ok(screen);
            }
        }
        Err("neither is shown yet".to_owned())
    });
    if first == "today" {
        session.click_where(&testid("site-option"), DEMO_SITE);
        session.click(&testid("start-scanning"));
    }
    let site = wait_for("the Scan screen's site", STEP_TIMEOUT, || {
        session.text_of(&testid("scan-site"))
    });
    assert_eq!(site.trim(), DEMO_SITE, "the Scan screen's site");
    eprintln!("app on its Scan screen after {:?}", opened.elapsed());

    // The camera view opens in the real web view: the stream (WebKit's mock
    // camera) plays and the bundled WebAssembly decoder compiles under the
    // app's own content security policy, which is what `live` waits for.
    session.click(&testid("camera-button"));
    let phase = wait_for("the camera to go live", STEP_TIMEOUT, || {
        if let Ok(problem) = session.attribute(&testid("camera-problem"), "data-problem") {
            panic!("the camera failed in the real app: {problem:?}");
        }
        match session.attribute(&testid("camera"), "data-phase")? {
            Some(phase) if phase == "live" => Ok(phase),
            other => Err(format!("phase {other:?}")),
        }
    });
    assert_eq!(phase, "live");
    session.screenshot("desktop-ar-camera.png");
    session.click(&testid("camera-cancel"));
    wait_for("the camera to close", STEP_TIMEOUT, || {
        match session.attribute(&testid("camera"), "data-phase")? {
            Some(phase) if phase == "closed" => Ok(()),
            other => Err(format!("phase {other:?}")),
        }
    });

    // Arabic, right to left: the first card, as a scanner types it.
    let layout = session.execute(
        "const root = document.documentElement;
         return { lang: root.lang, dir: root.dir, direction: getComputedStyle(root).direction };",
    );
    assert_eq!(
        layout,
        json!({ "lang": "ar-EG", "dir": "rtl", "direction": "rtl" })
    );
    let first_card = session.scan(&cards[0], "ok");
    assert!(
        first_card
            .name
            .chars()
            .any(|c| ('\u{0621}'..='\u{064a}').contains(&c)),
        "the result names the family in Arabic: {first_card:?}"
    );
    assert_eq!(first_card.village, DEMO_SITE, "{first_card:?}");
    assert_eq!(
        first_card.headline, "اصرف",
        "the Arabic headline for ok: {first_card:?}"
    );
    session.assert_fits("the Arabic scan result");
    session.screenshot("desktop-ar-scan-ok.png");

    // The basket: recorded, with the undo bar.
    session.click(&testid("basket-button"));
    let recorded = wait_for("the recorded panel", STEP_TIMEOUT, || {
        if let Ok(error) = session.text_of(&testid("error-alert")) {
            return Err(format!("an error is shown: {error}"));
        }
        let phase = session.attribute(&testid("recorded-panel"), "data-phase")?;
        let text = session.text_of(&testid("recorded-panel"))?;
        if phase.as_deref() == Some("open") {
            Ok(text)
        } else {
            Err(format!("phase {phase:?}: {text}"))
        }
    });
    assert!(
        recorded.contains("كرتونة مواد غذائية"),
        "the recorded panel names the food box: {recorded:?}"
    );
    assert!(
        session.find(&testid("result-panel")).is_err(),
        "the result gives way to what was recorded"
    );
    session.screenshot("desktop-ar-recorded.png");

    // The same card again: already served.
    let again = session.scan(&cards[0], "already_served");
    assert_eq!(again.name, first_card.name, "the same family");
    assert!(
        session.find(&testid("basket-button")).is_err(),
        "nothing is offered to a household already served"
    );
    session.assert_fits("the Arabic already-served result");
    session.screenshot("desktop-ar-already-served.png");

    // The hand-out is in the store on disk, read by another process while the
    // app still holds it.
    let status = day_status(&qafila, &app_dir);
    assert_eq!(
        handed_out(&status, "food_box"),
        "1",
        "day status, while the app runs: {status}"
    );

    // A tap on the sync chip sends what waits to the relay.
    session.sync_until_nothing_waits();

    // English: the page turns left to right.
    session.click(&testid("nav-settings"));
    session.click(&testid("language-switch-en"));
    let layout = wait_for("the English layout", STEP_TIMEOUT, || {
        let layout = session.execute(
            "const root = document.documentElement;
             return { lang: root.lang, dir: root.dir, direction: getComputedStyle(root).direction };",
        );
        if layout["dir"] == json!("ltr") {
            Ok(layout)
        } else {
            Err(format!("layout: {layout}"))
        }
    });
    assert_eq!(
        layout,
        json!({ "lang": "en", "dir": "ltr", "direction": "ltr" })
    );
    session.click(&testid("nav-scan"));
    let second = session.scan(&cards[1], "ok");
    assert_eq!(second.headline, "Hand out", "{second:?}");
    assert_ne!(second.name, first_card.name, "another family: {second:?}");
    session.assert_fits("the English scan result");
    session.screenshot("desktop-en-scan-ok.png");
    let again = session.scan(&cards[0], "already_served");
    assert_eq!(again.headline, "Already served", "{again:?}");
    session.assert_fits("the English already-served result");
    session.screenshot("desktop-en-already-served.png");
    eprintln!("flow in the app done after {:?}", opened.elapsed());

    // Closed: the store still says so, and the lead, after a sync through
    // the relay, counts the same food box.
    drop(session);
    drop(driver);
    drop(display);
    drop(window);
    let status = day_status(&qafila, &app_dir);
    assert_eq!(
        handed_out(&status, "food_box"),
        "1",
        "day status, after the app closed: {status}"
    );
    cli(&qafila, &lead_dir, &["sync"]);
    let status = day_status(&qafila, &lead_dir);
    assert_eq!(
        handed_out(&status, "food_box"),
        "1",
        "the lead's day status after its sync: {status}"
    );
    drop(relay);
    eprintln!("whole test in {:?}", started.elapsed());
}

/// `qafila --data-dir DIR --json ARGS…`, which must succeed; its JSON.
fn cli(qafila: &Path, dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(qafila)
        .arg("--data-dir")
        .arg(dir)
        .arg("--json")
        .args(args)
        .env("QAFILA_PASSPHRASE", qafila_e2e::PASSPHRASE)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", qafila.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "qafila {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("qafila {args:?}: not JSON ({error}): {stdout}"))
}

/// Today's `day status` of the demo site in a data directory.
fn day_status(qafila: &Path, dir: &Path) -> Value {
    cli(qafila, dir, &["day", "status", "--site", DEMO_SITE])
}

/// How much of `item` a day status says was handed out.
fn handed_out(status: &Value, item: &str) -> String {
    status["items"]
        .as_array()
        .and_then(|items| items.iter().find(|line| line["item"] == json!(item)))
        .and_then(|line| line["handed_out"].as_str())
        .unwrap_or_else(|| panic!("no {item} line in the day status: {status}"))
        .to_owned()
}

/// A CSS selector for a `data-testid`.
fn testid(name: &str) -> String {
    format!("[data-testid=\"{name}\"]")
}

/// Where screenshots go: `QAFILA_SCREENSHOT_DIR`, or `target/screenshots`
/// next to the binaries under test.
fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("QAFILA_SCREENSHOT_DIR") {
        return PathBuf::from(dir);
    }
    let binary = qafila_e2e::workspace_binary("qafila-desktop");
    binary
        .parent()
        .and_then(Path::parent)
        .expect("binaries live in target/<profile>/")
        .join("screenshots")
}

/// The three programs between the test and the app.
#[derive(Debug)]
struct Programs {
    xvfb: PathBuf,
    tauri_driver: PathBuf,
    webkit_driver: PathBuf,
}

impl Programs {
    fn find() -> Self {
        Self {
            xvfb: required_program("Xvfb", "Debian's xvfb"),
            tauri_driver: required_program(
                "tauri-driver",
                "`cargo install tauri-driver --version '^2' --locked`",
            ),
            webkit_driver: required_program("WebKitWebDriver", "Debian's webkit2gtk-driver"),
        }
    }
}

/// What the result panel shows after a scan.
#[derive(Debug)]
struct ScanResult {
    headline: String,
    name: String,
    village: String,
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
    /// With `data_dir`, the app opens that store (`QAFILA_DATA_DIR`); without,
    /// the platform's app data directory inside the scratch home.
    fn start(
        programs: &Programs,
        display: &Display,
        scratch: &Scratch,
        data_dir: Option<&Path>,
    ) -> Self {
        let Programs {
            tauri_driver,
            webkit_driver,
            ..
        } = programs;
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

        let mut command = Command::new(tauri_driver);
        // WebDriver capabilities carry no environment (tauri-driver passes on
        // only the binary and its arguments), so the app's data directory is
        // set here: tauri-driver → WebKitWebDriver → the app inherit it.
        match data_dir {
            Some(dir) => command.env("QAFILA_DATA_DIR", dir),
            None => command.env_remove("QAFILA_DATA_DIR"),
        };
        let child = command
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
            // No camera on a test machine: WebKit's generated one.
            .env("QAFILA_MOCK_CAMERA", "1")
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

    /// The WebDriver reference of the first element matching a CSS selector.
    fn find(&self, selector: &str) -> Result<String, String> {
        let element = self.post(
            "element",
            &json!({ "using": "css selector", "value": selector }),
        )?;
        element[ELEMENT_KEY]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no element reference for {selector}: {element}"))
    }

    /// The rendered text of the first element matching a CSS selector.
    fn text_of(&self, selector: &str) -> Result<String, String> {
        let element = self.find(selector)?;
        let text = self.get(&format!("element/{element}/text"))?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// An attribute of the first element matching a CSS selector.
    fn attribute(&self, selector: &str, name: &str) -> Result<Option<String>, String> {
        let element = self.find(selector)?;
        let value = self.get(&format!("element/{element}/attribute/{name}"))?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// Clicks the first element matching a CSS selector, once it is there.
    fn click(&self, selector: &str) {
        wait_for(&format!("a click on {selector}"), STEP_TIMEOUT, || {
            let element = self.find(selector)?;
            self.post(&format!("element/{element}/click"), &json!({}))
                .map(drop)
        });
    }

    /// Clicks the element matching a CSS selector whose text is `text`.
    fn click_where(&self, selector: &str, text: &str) {
        wait_for(
            &format!("a click on {selector} reading {text:?}"),
            STEP_TIMEOUT,
            || {
                let found = self.post(
                    "elements",
                    &json!({ "using": "css selector", "value": selector }),
                )?;
                let mut seen = Vec::new();
                for element in found.as_array().into_iter().flatten() {
                    let Some(element) = element[ELEMENT_KEY].as_str() else {
                        continue;
                    };
                    let shown = self.get(&format!("element/{element}/text"))?;
                    let shown = shown.as_str().unwrap_or_default().trim().to_owned();
                    if shown == text {
                        return self
                            .post(&format!("element/{element}/click"), &json!({}))
                            .map(drop);
                    }
                    seen.push(shown);
                }
                Err(format!("found only {seen:?}"))
            },
        );
    }

    /// Types into the scan field as a keyboard-wedge scanner does, the card
    /// and Enter, and waits for the result panel to show `status`.
    fn scan(&self, card: &str, status: &str) -> ScanResult {
        let input = wait_for("the scan field", STEP_TIMEOUT, || {
            self.find(&testid("scan-input"))
        });
        self.post(
            &format!("element/{input}/value"),
            &json!({ "text": format!("{card}{ENTER}") }),
        )
        .unwrap_or_else(|error| panic!("typing a card into the scan field: {error}"));
        let panel = testid("result-panel");
        let shown = wait_for(
            &format!("a result panel saying {status}"),
            STEP_TIMEOUT,
            || {
                if let Ok(error) = self.text_of(&testid("error-alert")) {
                    return Err(format!("an error is shown: {error}"));
                }
                let shown = self.attribute(&panel, "data-status")?;
                if shown.as_deref() == Some(status) {
                    Ok(shown)
                } else {
                    Err(format!("data-status {shown:?}"))
                }
            },
        );
        assert_eq!(shown.as_deref(), Some(status));
        let read = |what: &str| {
            self.text_of(&testid(what))
                .unwrap_or_else(|error| panic!("the result's {what}: {error}"))
                .trim()
                .to_owned()
        };
        let result = ScanResult {
            headline: read("result-headline"),
            name: read("result-name"),
            village: read("result-village"),
        };
        assert!(
            !result.name.is_empty(),
            "the result shows a name: {result:?}"
        );
        // The scan field is empty again for the next card (the property:
        // Svelte binds it, so the attribute never changes).
        let left = self
            .find(&testid("scan-input"))
            .and_then(|input| self.get(&format!("element/{input}/property/value")))
            .unwrap_or_else(|error| panic!("reading the scan field: {error}"));
        assert_eq!(
            left,
            json!(""),
            "the scan field is cleared for the next card"
        );
        result
    }

    /// Taps the sync chip until this device has nothing waiting for the
    /// relay (a background sync may be running at the first tap, which the
    /// chip then ignores: tapping again is what a volunteer would do).
    fn sync_until_nothing_waits(&self) {
        let chip = testid("sync-chip");
        let pending = wait_for("records waiting on the sync chip", STEP_TIMEOUT, || {
            self.text_of(&testid("sync-pending"))
        });
        eprintln!("sync chip before the tap: {pending:?}");
        let mut tapped: Option<Instant> = None;
        wait_for("the sync chip to say all is synced", STEP_TIMEOUT, || {
            let state = self.attribute(&chip, "data-state")?;
            let waiting = self.find(&testid("sync-pending")).is_ok();
            match state.as_deref() {
                Some("idle") if !waiting => return Ok(()),
                Some("error" | "offline") => {
                    let detail = self.attribute(&chip, "title")?;
                    return Err(format!("the chip says {state:?}: {detail:?}"));
                }
                _ => {}
            }
            let due = tapped.is_none_or(|at| at.elapsed() > Duration::from_secs(3));
            if state.as_deref() != Some("syncing") && due {
                let element = self.find(&chip)?;
                self.post(&format!("element/{element}/click"), &json!({}))?;
                tapped = Some(Instant::now());
            }
            Err(format!("state {state:?}, records waiting: {waiting}"))
        });
    }

    /// Fails when the page scrolls sideways or a result line is cut: what a
    /// volunteer must read has to be on screen whole.
    fn assert_fits(&self, what: &str) {
        let overflow = self.execute(
            "const root = document.documentElement;
             const cut = [...document.querySelectorAll(
                 '[data-testid=result-panel] *, [data-testid=recorded-panel] *')]
               .filter((el) => el.scrollWidth > el.clientWidth + 1
                 && getComputedStyle(el).overflowX !== 'visible')
               .map((el) => el.outerHTML.slice(0, 120));
             const panel = document.querySelector('[data-testid=result-panel]');
             const box = panel && panel.getBoundingClientRect();
             return {
               sideways: root.scrollWidth > root.clientWidth,
               cut,
               outside: !!box && (box.left < 0 || box.right > root.clientWidth + 1),
             };",
        );
        assert_eq!(
            overflow,
            json!({ "sideways": false, "cut": [], "outside": false }),
            "{what} does not fit the window"
        );
    }

    /// A command through the app's own IPC (`qafila_app::rpc`), as the UI
    /// sends it: its value, or `{ error }`.
    fn call(&self, command: &str, args: &Value) -> Value {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             window.__TAURI_INTERNALS__
               .invoke('call', {{ command: {command}, args: {args} }})
               .then(done, (error) => done({{ error }}));",
            command = json!(command),
        );
        self.execute_async(&script)
    }

    fn execute(&self, script: &str) -> Value {
        self.post("execute/sync", &json!({ "script": script, "args": [] }))
            .unwrap_or_else(|error| panic!("running a script in the page: {error}"))
    }

    fn execute_async(&self, script: &str) -> Value {
        self.post("execute/async", &json!({ "script": script, "args": [] }))
            .unwrap_or_else(|error| panic!("running an async script in the page: {error}"))
    }

    /// The web view as a PNG, written to `screenshot_dir()/name`.
    fn screenshot(&self, name: &str) {
        // WebKit's snapshot is the last painted frame, which can lag the DOM:
        // wait for the fonts and two frames so the picture shows what was read.
        self.execute_async(
            "const done = arguments[arguments.length - 1];
             document.fonts.ready.then(() =>
               requestAnimationFrame(() => requestAnimationFrame(() => done(true))));",
        );
        let encoded = self
            .get("screenshot")
            .unwrap_or_else(|error| panic!("taking a screenshot: {error}"));
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("the screenshot is base64");
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is not a PNG"
        );
        let dir = screenshot_dir();
        fs::create_dir_all(&dir).expect("create the screenshot directory");
        let path = dir.join(name);
        fs::write(&path, &png).expect("write the screenshot");
        eprintln!("screenshot: {}", path.display());
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
