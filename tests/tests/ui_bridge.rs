//! `qafila ui serve`, the loopback HTTP bridge browser tests drive the app
//! through: the real binary on a free port with a temp data directory and a
//! temp "built UI", called as a browser would.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use qafila_e2e::workspace_binary;
use serde_json::{Value, json};

const INDEX: &str = "<!doctype html><html lang=\"ar-EG\" dir=\"rtl\"><title>قافلة</title></html>\n";

/// A running `qafila ui serve`; SIGTERMed (and checked to stop cleanly)
/// by [`Bridge::stop`], killed if dropped before.
struct Bridge {
    child: Option<Child>,
    base: String,
    agent: ureq::Agent,
    _data: tempfile::TempDir,
    _ui: tempfile::TempDir,
}

impl Bridge {
    fn start() -> Bridge {
        let data = tempfile::tempdir().unwrap();
        let ui = tempfile::tempdir().unwrap();
        std::fs::write(ui.path().join("index.html"), INDEX).unwrap();
        std::fs::create_dir(ui.path().join("assets")).unwrap();
        std::fs::write(ui.path().join("assets/app.js"), "export {};\n").unwrap();
        std::fs::write(ui.path().join("assets/naskh.woff2"), [0u8, 1, 2]).unwrap();
        let mut child = Command::new(workspace_binary("qafila"))
            .env("QAFILA_PASSPHRASE", qafila_e2e::PASSPHRASE)
            .arg("--data-dir")
            .arg(data.path())
            .args([
                "ui",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--sync-interval",
                "0",
            ])
            .arg("--static")
            .arg(ui.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("qafila ui serve starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            // Errors are JSON bodies with 4xx/5xx statuses.
            .http_status_as_error(false)
            // Loopback only: an HTTP(S)_PROXY in the environment must not apply.
            .proxy(None)
            .build();
        Bridge {
            child: Some(child),
            base: format!("http://{address}"),
            agent: ureq::Agent::new_with_config(config),
            _data: data,
            _ui: ui,
        }
    }

    /// GET a path: status, content type and body.
    fn get(&self, path: &str) -> (u16, String, Vec<u8>) {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .unwrap();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.body_mut().read_to_vec().unwrap();
        (response.status().as_u16(), kind, body)
    }

    /// GET a path that must answer JSON: status and body.
    fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, kind, body) = self.get(path);
        assert!(kind.starts_with("application/json"), "{path}: {kind}");
        (status, serde_json::from_slice(&body).unwrap())
    }

    /// POSTs a command as the UI's fetch does: status and JSON answer.
    fn rpc(&self, command: &str, args: &Value) -> (u16, Value) {
        let mut response = self
            .agent
            .post(format!("{}/rpc/{command}", self.base))
            .send_json(args)
            .unwrap();
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_json()
            .unwrap();
        (status, body)
    }

    /// A command that must succeed.
    fn ok(&self, command: &str, args: Value) -> Value {
        let (status, body) = self.rpc(command, &args);
        assert_eq!(status, 200, "{command} {args}: {body}");
        body
    }

    /// Stops it with SIGTERM; it must exit by itself, successfully.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "stopped with {status}");
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn error_code(body: &Value) -> &str {
    assert!(body["message"].is_string(), "{body}");
    assert!(body["message_ar"].is_string(), "{body}");
    assert!(body["retryable"].is_boolean(), "{body}");
    body["code"].as_str().unwrap_or_default()
}

#[test]
fn the_bridge_serves_the_ui_and_the_apps_commands() {
    let bridge = Bridge::start();

    // The built UI.
    let (status, kind, body) = bridge.get("/");
    assert_eq!(status, 200);
    assert_eq!(kind, "text/html; charset=utf-8");
    assert_eq!(String::from_utf8(body).unwrap(), INDEX);
    let (status, kind, _) = bridge.get("/assets/app.js");
    assert_eq!(
        (status, kind.as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    let (status, kind, body) = bridge.get("/assets/naskh.woff2");
    assert_eq!(
        (status, kind.as_str(), body),
        (200, "font/woff2", vec![0, 1, 2])
    );
    // A screen's own path is the single-page app; a missing file is not.
    let (status, _, body) = bridge.get("/distribution");
    assert_eq!(
        (status, String::from_utf8(body).unwrap().as_str()),
        (200, INDEX)
    );
    assert_eq!(bridge.get("/assets/missing.js").0, 404);

    // A fresh machine.
    let status = bridge.ok("app_status", json!({}));
    assert_eq!(status["initialised"], false, "{status}");
    assert_eq!(status["sync"]["state"], "local_only");
    let (code, body) = bridge.rpc("villages", &json!({}));
    assert_eq!((code, error_code(&body)), (409, "not_initialised"));

    // The first-run screen names the device.
    let device = bridge.ok("init_device", json!({ "name": "موبايل منى" }));
    assert_eq!(device["name"], "موبايل منى");
    let status = bridge.ok("app_status", json!({}));
    assert_eq!(status["initialised"], true);
    assert_eq!(status["device"]["id"], device["id"]);
    assert_eq!(status["device"]["name"], "موبايل منى");

    // A list, through the larger body limit of imports.
    let csv = "الاسم,عدد أفراد الأسرة,القرية\nمحمد أحمد السيد علي,5,ميت غمر\n";
    let report = bridge.ok(
        "import_file",
        json!({
            "name": "قائمة.csv",
            "bytes_base64": base64::engine::general_purpose::STANDARD.encode(csv),
            "dry_run": false,
        }),
    );
    assert_eq!(report["registered"], 1, "{report}");
    let found = bridge.ok("search", json!({ "query": "محمد", "limit": 5 }));
    assert_eq!(found[0]["village"], "ميت غمر", "{found}");

    // Errors are JSON with a code, and an HTTP status for the logs.
    let (code, body) = bridge.rpc("launch_rockets", &json!({}));
    assert_eq!((code, error_code(&body)), (404, "unknown_command"));
    let (code, body) = bridge.rpc("scan", &json!({ "site": "ميت غمر" }));
    assert_eq!((code, error_code(&body)), (400, "invalid_arguments"));
    assert!(
        body["message"].as_str().unwrap().contains("input"),
        "{body}"
    );
    let (code, body) = bridge.rpc(
        "hand_out",
        &json!({ "beneficiary": found[0]["id"], "site": "ميت غمر", "item": "food_box", "qty": "2" }),
    );
    assert_eq!((code, error_code(&body)), (400, "over_entitlement"));
    let (code, body) = bridge.get_json("/rpc/scan");
    assert_eq!((code, error_code(&body)), (405, "method_not_allowed"));

    // Bodies: 1 MiB for commands, more for imports.
    let big = "A".repeat(2 << 20);
    let (code, body) = bridge.rpc("search", &json!({ "query": big }));
    assert_eq!((code, error_code(&body)), (413, "request_too_large"));
    let (code, body) = bridge.rpc(
        "import_file",
        &json!({ "name": "big.csv", "bytes_base64": format!("{big}%"), "dry_run": true }),
    );
    assert_eq!(
        (code, error_code(&body)),
        (400, "invalid_arguments"),
        "read, then refused"
    );

    // Only pages of this machine may call: not another site's script or form.
    let mut refused = bridge
        .agent
        .post(format!("{}/rpc/app_status", bridge.base))
        .header("Origin", "http://evil.example")
        .send_json(json!({}))
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let body: Value = refused.body_mut().read_json().unwrap();
    assert_eq!(error_code(&body), "forbidden_origin");
    let mut form = bridge
        .agent
        .post(format!("{}/rpc/app_status", bridge.base))
        .header("Content-Type", "text/plain")
        .send("{}")
        .unwrap();
    assert_eq!(form.status().as_u16(), 415);
    let body: Value = form.body_mut().read_json().unwrap();
    assert_eq!(error_code(&body), "json_required");

    bridge.stop();
}

#[test]
fn the_bridge_refuses_to_listen_beyond_this_machine_unless_told() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(workspace_binary("qafila"))
        .env("QAFILA_PASSPHRASE", qafila_e2e::PASSPHRASE)
        .arg("--data-dir")
        .arg(data.path())
        .args(["ui", "serve", "--listen", "0.0.0.0:0"])
        .arg("--static")
        .arg(Path::new("/nonexistent"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("listening on"), "{stdout}");
    assert!(stderr.contains("remote_listen_refused"), "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}
