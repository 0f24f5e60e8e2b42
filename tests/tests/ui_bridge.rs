//! `qafila ui serve`, the loopback HTTP bridge browser tests drive the app
//! through: the real binary on a free port with a temp data directory and a
//! temp "built UI", called as a browser would — and as another local
//! process or a web page elsewhere would (SECURITY.md, "Local surfaces").

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
    /// The address it printed to open: `{base}/#token=…`.
    open: String,
    /// This run's token, from that address.
    token: String,
    agent: ureq::Agent,
    _data: tempfile::TempDir,
    _ui: tempfile::TempDir,
}

impl Bridge {
    fn start() -> Bridge {
        Bridge::start_with(&[])
    }

    /// Started with `extra` arguments after `ui serve`.
    fn start_with(extra: &[&str]) -> Bridge {
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
            .args(extra)
            .arg("--static")
            .arg(ui.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("qafila ui serve starts");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        let base = format!("http://{address}");
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let open = line
            .trim()
            .strip_prefix("open ")
            .unwrap_or_else(|| panic!("unexpected second line: {line:?}"))
            .to_owned();
        let token = open
            .strip_prefix(&format!("{base}/#token="))
            .unwrap_or_else(|| panic!("not the address to open: {open:?}"))
            .to_owned();
        assert_eq!(token.len(), 64, "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            // Errors are JSON bodies with 4xx/5xx statuses.
            .http_status_as_error(false)
            // Loopback only: an HTTP(S)_PROXY in the environment must not apply.
            .proxy(None)
            .build();
        Bridge {
            child: Some(child),
            base,
            open,
            token,
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

    /// The bearer header the UI sends with every command.
    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// POSTs a command as the UI's fetch does: status and JSON answer.
    fn rpc(&self, command: &str, args: &Value) -> (u16, Value) {
        let mut response = self
            .agent
            .post(format!("{}/rpc/{command}", self.base))
            .header("Authorization", self.bearer())
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

    /// Sends `POST {target}` with `headers` (and `Content-Type:
    /// application/json`) over a plain socket, so that nothing — not the
    /// `Host` either — is added or checked on the way: status and body.
    fn raw_post(&self, target: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
        use std::io::{Read, Write};
        let address = self.base.strip_prefix("http://").unwrap();
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut request = format!("POST {target} HTTP/1.1\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
        let (_, body) = answer.split_once("\r\n\r\n").unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
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
    let device = bridge.ok(
        "init_device",
        json!({ "name": "موبايل منى", "passphrase": qafila_e2e::PASSPHRASE }),
    );
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
        .header("Authorization", bridge.bearer())
        .header("Origin", "http://evil.example")
        .send_json(json!({}))
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let body: Value = refused.body_mut().read_json().unwrap();
    assert_eq!(error_code(&body), "forbidden_origin");
    let mut form = bridge
        .agent
        .post(format!("{}/rpc/app_status", bridge.base))
        .header("Authorization", bridge.bearer())
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

/// An attack: the request target, its headers, and the refusal expected
/// (status and error code).
type Attack<'a> = (&'a str, &'a [(&'a str, &'a str)], (u16, &'a str));

/// A request to the bridge from anything but the page opened with the
/// address it printed: refused before the command runs, whatever it tries.
fn refused(bridge: &Bridge, target: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let (status, answer) = bridge.raw_post(target, headers, body);
    assert!(
        status == 401 || status == 403,
        "{target} {headers:?}: {status} {answer}"
    );
    (status, error_code(&answer).to_owned())
}

#[test]
fn callers_without_this_runs_token_or_from_elsewhere_are_refused_and_nothing_is_recorded() {
    let bridge = Bridge::start();
    let host = bridge.base.strip_prefix("http://").unwrap().to_owned();
    let here = host.as_str();
    let bearer = bridge.bearer();
    let wrong = format!("Bearer {}", "0".repeat(64));
    let evil_host = format!("evil.example:{}", here.rsplit_once(':').unwrap().1);
    let with_query = format!("/rpc/init_device?token={}", bridge.token);
    let name = r#"{"name":"evil"}"#;

    // Another local process or a page elsewhere, trying to name the device.
    let attacks: [Attack<'_>; 7] = [
        // No token: what any other process on this machine, or a page in the
        // user's browser that guessed the port, would send.
        (
            "/rpc/init_device",
            &[("Host", here)],
            (401, "token_required"),
        ),
        // A token, but not this run's.
        (
            "/rpc/init_device",
            &[("Host", here), ("Authorization", &wrong)],
            (403, "token_wrong"),
        ),
        // The token in a form the bridge never reads: a query string, as a
        // link on another site would carry it, …
        (&with_query, &[("Host", here)], (401, "token_required")),
        (
            &with_query,
            &[("Host", here), ("Origin", "http://evil.example")],
            (403, "forbidden_origin"),
        ),
        // … or the bare token without `Bearer`.
        (
            "/rpc/init_device",
            &[("Host", here), ("Authorization", &bridge.token)],
            (401, "token_required"),
        ),
        // DNS rebinding: evil.example's page, its name now resolving to
        // 127.0.0.1, sends its own name as Host; refused even with the token.
        (
            "/rpc/init_device",
            &[("Host", &evil_host), ("Authorization", &bearer)],
            (403, "forbidden_origin"),
        ),
        // A script on another site with the token still cannot call.
        (
            "/rpc/init_device",
            &[
                ("Host", here),
                ("Origin", "http://evil.example"),
                ("Authorization", &bearer),
            ],
            (403, "forbidden_origin"),
        ),
    ];
    for (target, headers, expected) in attacks {
        let (status, code) = refused(&bridge, target, headers, name);
        assert_eq!((status, code.as_str()), expected, "{target} {headers:?}");
    }
    // A 401 says how to authenticate.
    let mut challenge = bridge
        .agent
        .post(format!("{}/rpc/app_status", bridge.base))
        .send_json(json!({}))
        .unwrap();
    assert_eq!(challenge.status().as_u16(), 401);
    assert_eq!(
        challenge.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"qafila\""
    );
    let body: Value = challenge.body_mut().read_json().unwrap();
    assert_eq!(error_code(&body), "token_required");
    assert!(body["message"].as_str().unwrap().contains("#token="));

    // Nothing was recorded: the device still has no name.
    let status = bridge.ok("app_status", json!({}));
    assert_eq!(status["initialised"], false, "{status}");

    // With a device, the same attacks on an import and a search: no one
    // registered, and no data answered.
    bridge.ok(
        "init_device",
        json!({ "name": "موبايل منى", "passphrase": qafila_e2e::PASSPHRASE }),
    );
    let csv = base64::engine::general_purpose::STANDARD
        .encode("الاسم,عدد أفراد الأسرة,القرية\nمحمد أحمد السيد علي,5,ميت غمر\n");
    let import = json!({ "name": "قائمة.csv", "bytes_base64": csv, "dry_run": false }).to_string();
    for (target, headers) in [
        ("/rpc/import_file", vec![("Host", here)]),
        (
            "/rpc/import_file",
            vec![("Host", here), ("Authorization", wrong.as_str())],
        ),
        (
            "/rpc/import_file",
            vec![
                ("Host", evil_host.as_str()),
                ("Authorization", bearer.as_str()),
            ],
        ),
        ("/rpc/search", vec![("Host", here)]),
    ] {
        refused(&bridge, target, &headers, &import);
    }
    let found = bridge.ok("search", json!({ "query": "محمد", "limit": 5 }));
    assert_eq!(found, json!([]), "nothing was imported");
    let status = bridge.ok("app_status", json!({}));
    assert_eq!(status["device"]["name"], "موبايل منى");

    // The page itself needs no token; it holds no data.
    assert_eq!(bridge.get("/").0, 200);
    assert!(bridge.open.starts_with(&format!("{}/#token=", bridge.base)));
    bridge.stop();
}

#[test]
fn with_remote_callers_allowed_the_host_check_still_holds() {
    let bridge = Bridge::start_with(&["--allow-remote"]);
    let here = bridge.base.strip_prefix("http://").unwrap().to_owned();
    let port = here.rsplit_once(':').unwrap().1.to_owned();
    let bearer = bridge.bearer();
    // DNS rebinding, and a foreign page, refused as on loopback only.
    for headers in [
        vec![
            ("Host", format!("evil.example:{port}")),
            ("Authorization", bearer.clone()),
        ],
        vec![
            ("Host", "evil.example".to_owned()),
            ("Authorization", bearer.clone()),
        ],
        vec![
            ("Host", here.clone()),
            ("Origin", "http://evil.example".to_owned()),
            ("Authorization", bearer.clone()),
        ],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, code) = refused(&bridge, "/rpc/init_device", &headers, r#"{"name":"evil"}"#);
        assert_eq!(
            (status, code.as_str()),
            (403, "forbidden_origin"),
            "{headers:?}"
        );
    }
    // And the token is needed as ever.
    let (status, code) = refused(
        &bridge,
        "/rpc/init_device",
        &[("Host", &format!("192.0.2.7:{port}"))],
        r#"{"name":"evil"}"#,
    );
    assert_eq!((status, code.as_str()), (401, "token_required"));
    // A machine on the network that has the address: its IP is the Host.
    let (status, answer) = bridge.raw_post(
        "/rpc/app_status",
        &[
            ("Host", &format!("192.0.2.7:{port}")),
            ("Authorization", &bearer),
        ],
        "{}",
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["initialised"], false, "nothing was recorded");
    bridge.stop();
}
