//! `qafila ui serve`: the app's commands over loopback HTTP, and the built UI
//! beside them, so a browser (Playwright, or a developer's) drives the same
//! Rust, store and relay as the desktop app, with no fake backend.
//!
//! - `POST /rpc/{command}` with a JSON object body (`Content-Type:
//!   application/json`; an empty body counts as `{}`) runs
//!   [`qafila_app::rpc::Session::call`] on a blocking thread and answers 200
//!   with the result, or the `AppError` as JSON (`{code, message,
//!   message_ar, retryable}`) with 400, 404 (`unknown_command`), 405 (not a
//!   POST), 409 (`not_initialised`, `already_initialised`), 413, 415 or 500.
//! - Anything else is a file of the static directory (`/` is
//!   `index.html`; a path without an extension that is not a file is the
//!   single-page app's `index.html` too).
//!
//! The bridge holds beneficiary data, and any local user or process, and
//! any web page open in the user's browser, can reach a loopback port
//! (SECURITY.md, "Local surfaces"). So:
//!
//! - every command needs this run's [`ApiToken`]: 256 random bits from the
//!   OS, sent as `Authorization: Bearer TOKEN` and compared in constant
//!   time (401 `token_required` without it, 403 `token_wrong` with another).
//!   The token reaches the browser only in the fragment of the address the
//!   bridge prints (`open http://ADDR/#token=…`), which browsers send
//!   neither to servers nor in `Referer`; it is never read from a query
//!   string. Static files, which hold no data, need no token;
//! - requests whose `Host` is a DNS name other than `localhost` are refused
//!   (403 `forbidden_origin`), also under `--allow-remote`: a DNS-rebinding
//!   page would carry its own name there. With `--allow-remote` a `Host`
//!   may also be any IP address;
//! - requests whose `Origin` is another site are refused the same way;
//! - it listens on loopback only unless `--allow-remote` is given.
//!
//! It prints `listening on ADDR` as its first line and the address to open
//! as its second (`open http://ADDR/#token=…`), and stops on SIGINT or
//! SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::{Args, Subcommand};
use qafila_app::AppError;
use qafila_app::rpc::Session;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::failure::Failure;

/// Request bodies of every command but `import_file`.
const BODY_LIMIT: usize = 1 << 20;
/// `import_file`'s body: the importer's largest file (50 MiB), base64.
const IMPORT_BODY_LIMIT: usize = 72 << 20;

#[derive(Debug, Subcommand)]
pub enum UiCommand {
    /// Serve the built UI and the app's commands (POST /rpc/{command}) over
    /// loopback HTTP, for browser tests and development.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on the first
    /// line: `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:1421", value_name = "ADDR")]
    listen: SocketAddr,

    /// The built UI to serve (`cd ui && npm run build` makes it).
    #[arg(long = "static", default_value = "ui/dist", value_name = "DIR")]
    static_dir: PathBuf,

    /// Listen on an address other machines can reach. The bridge answers
    /// with beneficiary data to whoever has the address it prints (with its
    /// token) and serves plain HTTP: only on a network you trust.
    #[arg(long)]
    allow_remote: bool,

    /// Sync in the background every SECONDS once the device is in a convoy
    /// (0: only when the UI asks, with `sync_now`).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    sync_interval: u64,
}

pub fn run(dir: &Path, command: UiCommand) -> anyhow::Result<()> {
    match command {
        UiCommand::Serve(args) => serve(dir, args),
    }
}

fn serve(dir: &Path, args: ServeArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(Failure {
            code: "remote_listen_refused",
            message: format!(
                "{} can be reached from other machines, and the bridge answers with beneficiary data over plain HTTP: listen on 127.0.0.1, or add --allow-remote on a network you trust",
                args.listen
            ),
            message_ar: "العنوان ده ممكن أجهزة تانية توصله، والخدمة دي بترد ببيانات المستفيدين من غير تشفير: استخدم 127.0.0.1، أو أضف --allow-remote على شبكة موثوقة بس".into(),
        }
        .into());
    }
    if !args.static_dir.join("index.html").is_file() {
        eprintln!(
            "warning: {} has no index.html: only /rpc will answer (build the UI with `cd ui && npm run build`, or pass --static DIR)",
            args.static_dir.display()
        );
    }
    // With QAFILA_PASSPHRASE the store opens now; without, the browser asks.
    let passphrase = crate::device::passphrase_from_env();
    let session = Session::open(dir, passphrase.as_ref(), qafila_app::system_clock())
        .map_err(Failure::from)?;
    if args.sync_interval > 0 {
        session.start_background_sync(Duration::from_secs(args.sync_interval));
    }
    let token = ApiToken::random().map_err(|e| Failure {
        code: "random_unavailable",
        message: format!("the system's random number generator failed ({e}); try again"),
        message_ar: "مولّد الأرقام العشوائية في النظام مش شغال؛ حاول تاني".into(),
    })?;
    let served = Arc::new(Served {
        session: Arc::new(session),
        static_dir: args.static_dir,
        allow_remote: args.allow_remote,
        token,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure {
                code: "listen_failed",
                message: format!(
                    "cannot listen on {}: {e} (is another one running there?)",
                    args.listen
                ),
                message_ar: format!(
                    "مش قادر أفتح العنوان {}: يمكن فيه برنامج تاني شغال عليه",
                    args.listen
                ),
            })?;
        let addr = listener.local_addr()?;
        // The token goes in the fragment, which the browser keeps to itself;
        // the UI takes it from there and removes it from the address bar.
        println!("listening on {addr}");
        println!("open http://{addr}/#token={}", served.token.as_str());
        std::io::Write::flush(&mut std::io::stdout())?;
        axum::serve(listener, router(served))
            .with_graceful_shutdown(qafila_relay::stop_signal())
            .await?;
        anyhow::Ok(())
    })?;
    Ok(())
}

/// What every request handler shares.
struct Served {
    session: Arc<Session>,
    static_dir: PathBuf,
    allow_remote: bool,
    token: ApiToken,
}

/// What a request's `Authorization` header says about the token.
#[derive(Debug, PartialEq, Eq)]
enum TokenCheck {
    /// `Bearer` and this run's token.
    Valid,
    /// No `Authorization: Bearer …` at all.
    Missing,
    /// A bearer token that is not this run's.
    Wrong,
}

/// This run's secret for the command API: 32 bytes from the OS's random
/// number generator, as 64 lowercase hex digits. Only the page opened with
/// the address the bridge printed holds it.
struct ApiToken(String);

impl ApiToken {
    fn random() -> Result<ApiToken, getrandom::Error> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(ApiToken(
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        ))
    }

    fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is the token, in time that does not depend on
    /// how much of it matches (a caller timing answers learns nothing).
    fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }

    /// What the request's `Authorization` header says. Only that header
    /// counts: a token in a query string (which would reach logs, history
    /// and `Referer`) is never read.
    fn check(&self, headers: &HeaderMap) -> TokenCheck {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        match presented {
            None => TokenCheck::Missing,
            Some(token) if self.matches(token) => TokenCheck::Valid,
            Some(_) => TokenCheck::Wrong,
        }
    }
}

fn router(served: Arc<Served>) -> Router {
    Router::new()
        .route(
            "/rpc/import_file",
            post(rpc_import)
                .fallback(not_post)
                .layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .route(
            "/rpc/{command}",
            post(rpc)
                .fallback(not_post)
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .fallback(static_file)
        .with_state(served)
}

async fn rpc(
    State(served): State<Arc<Served>>,
    UrlPath(command): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    call(&served, command, &headers, body).await
}

async fn rpc_import(
    State(served): State<Arc<Served>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    call(&served, "import_file".to_owned(), &headers, body).await
}

async fn call(
    served: &Served,
    command: String,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !served.caller_allowed(headers) {
        return error(
            StatusCode::FORBIDDEN,
            AppError::new(
                "forbidden_origin",
                "only pages served from this machine (localhost) may call the app's commands",
                "الأوامر دي مسموحة للصفحات اللي على نفس الجهاز بس",
            ),
        );
    }
    match served.token.check(headers) {
        TokenCheck::Valid => {}
        TokenCheck::Missing => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                AppError::new(
                    "token_required",
                    "this page was not opened with the address `qafila ui serve` printed: open that address (it ends in #token=…)",
                    "الصفحة دي اتفتحت من غير العنوان اللي طبعه `qafila ui serve`: افتح العنوان ده (آخره ‎#token=…)",
                ),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"qafila\""),
            );
            return response;
        }
        TokenCheck::Wrong => {
            return error(
                StatusCode::FORBIDDEN,
                AppError::new(
                    "token_wrong",
                    "this page's token is not the one of the running `qafila ui serve` (was it restarted?): open the address it printed last",
                    "مفتاح الصفحة دي مش بتاع `qafila ui serve` الشغال دلوقتي (يمكن اتقفل واتفتح تاني): افتح آخر عنوان طبعه",
                ),
            );
        }
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::new(
                "json_required",
                "send the arguments as a JSON object with Content-Type: application/json",
                "ابعت البيانات بصيغة JSON",
            ),
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let (code, ar) = if status == StatusCode::PAYLOAD_TOO_LARGE {
                ("request_too_large", "الملف أو البيانات أكبر من المسموح")
            } else {
                ("bad_request", "الطلب ماوصلش سليم؛ حاول تاني")
            };
            return error(status, AppError::new(code, rejection.body_text(), ar));
        }
    };
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(args) => args,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    AppError::new(
                        "invalid_arguments",
                        format!("invalid arguments for `{command}`: the body is not JSON: {e}"),
                        format!("بيانات الأمر «{command}» مش JSON صحيح"),
                    ),
                );
            }
        }
    };
    let session = served.session.clone();
    match tokio::task::spawn_blocking(move || session.call(&command, args)).await {
        Ok(Ok(result)) => json_response(StatusCode::OK, &result),
        Ok(Err(e)) => error(status_of(&e), e),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            AppError::new(
                "internal",
                format!("the command stopped unexpectedly: {e}"),
                "الأمر وقف فجأة؛ بلّغ الدعم الفني",
            ),
        ),
    }
}

async fn not_post() -> Response {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        AppError::new(
            "method_not_allowed",
            "commands are called with POST /rpc/{command} and a JSON body",
            "الأوامر بتتبعت بطلب POST",
        ),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// The HTTP status of a command's error. The UI branches on the code in
/// the body; the status is for people reading logs.
fn status_of(error: &AppError) -> StatusCode {
    match error.code {
        "unknown_command" => StatusCode::NOT_FOUND,
        "not_initialised" | "already_initialised" | "store_already_initialised" => {
            StatusCode::CONFLICT
        }
        "locked" => StatusCode::LOCKED,
        "too_many_attempts" => StatusCode::TOO_MANY_REQUESTS,
        "internal"
        | "io"
        | "storage"
        | "store_corrupt"
        | "store_newer_schema"
        | "store_migration_mismatch"
        | "store_writer_stopped"
        | "store_event_damaged"
        | "store_busy"
        | "seal_failed"
        | "random_unavailable"
        | "runtime"
        | "sync_thread"
        | "key_file_damaged" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, error: AppError) -> Response {
    json_response(status, &error)
}

/// Whether a `Host` or `Origin` names this machine: `localhost`, or a
/// loopback address, with any port.
fn is_loopback_name(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _port)| host),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a `Host` or `Origin` is an IP address (with any port), not a
/// DNS name.
fn is_ip_literal(authority: &str) -> bool {
    match authority.strip_prefix('[') {
        Some(rest) => rest
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok()),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _port)| host)
            .parse::<std::net::Ipv4Addr>()
            .is_ok(),
    }
}

/// Whether a request with this `Host` and `Origin` may call: the decision
/// of [`Served::caller_allowed`], pure.
///
/// The `Host` must be `localhost` or a loopback address; with
/// `allow_remote`, any IP address too. Never another DNS name: a page
/// that rebinds its own name to this machine's address (DNS rebinding)
/// sends that name, and is refused even on `--allow-remote`. An `Origin`,
/// when a browser sends one, must be a loopback name, or with
/// `allow_remote` the `Host` itself (the page this bridge served).
fn caller_allowed(host: Option<&str>, origin: Option<&str>, allow_remote: bool) -> bool {
    let host_ok =
        host.is_some_and(|host| is_loopback_name(host) || (allow_remote && is_ip_literal(host)));
    let origin_ok = match origin {
        None => true,
        Some(origin) => origin
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or_default())
            .is_some_and(|authority| {
                is_loopback_name(authority)
                    || (allow_remote && host.is_some_and(|h| h.eq_ignore_ascii_case(authority)))
            }),
    };
    host_ok && origin_ok
}

impl Served {
    /// Whether the request may come from a page this bridge served: refused
    /// when its `Host` is a foreign name (DNS rebinding) or its `Origin` is
    /// elsewhere (another site's form or script).
    fn caller_allowed(&self, headers: &HeaderMap) -> bool {
        let get = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        caller_allowed(get(header::HOST), get(header::ORIGIN), self.allow_remote)
    }
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        Some("otf") => "font/otf",
        Some("wasm") => "application/wasm",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found\n",
    )
        .into_response()
}

async fn static_file(State(served): State<Arc<Served>>, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return not_post_static();
    }
    let path = uri.path();
    let relative = match path.trim_start_matches('/') {
        "" => "index.html",
        rest => rest,
    };
    // Only plain names below the static directory: no `..`, no hidden
    // files, no backslashes.
    if relative
        .split('/')
        .any(|part| part.is_empty() || part.starts_with('.') || part.contains('\\'))
    {
        return not_found();
    }
    let root = served.static_dir.clone();
    let wanted = root.join(relative);
    let spa = Path::new(relative).extension().is_none();
    let read = tokio::task::spawn_blocking(move || {
        let file = if wanted.is_file() {
            wanted
        } else if spa {
            root.join("index.html")
        } else {
            return None;
        };
        std::fs::read(&file).ok().map(|bytes| (file, bytes))
    })
    .await;
    let Ok(Some((file, bytes))) = read else {
        return not_found();
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type(&file)),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn not_post_static() -> Response {
    let mut response = (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "only GET and HEAD are served here\n",
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_with_or_without_ports() {
        for name in [
            "localhost",
            "localhost:1421",
            "LOCALHOST:80",
            "127.0.0.1",
            "127.0.0.1:1421",
            "127.1.2.3:9",
            "[::1]:1421",
            "[::1]",
        ] {
            assert!(is_loopback_name(name), "{name}");
        }
        for name in [
            "evil.example:1421",
            "192.0.2.1:1421",
            "localhost.evil.example",
            "[2001:db8::1]:80",
            "",
        ] {
            assert!(!is_loopback_name(name), "{name}");
        }
    }

    #[test]
    fn foreign_host_names_are_refused_even_when_remote_is_allowed() {
        let check = |host, origin, remote| caller_allowed(host, origin, remote);
        // A page of this machine, on loopback.
        assert!(check(Some("127.0.0.1:1421"), None, false));
        assert!(check(
            Some("localhost:1421"),
            Some("http://localhost:1421"),
            false
        ));
        assert!(check(
            Some("[::1]:1421"),
            Some("http://127.0.0.1:1420"),
            false
        ));
        // DNS rebinding: the attacker's name in Host, with or without
        // --allow-remote; and no Host at all.
        for remote in [false, true] {
            assert!(!check(Some("evil.example:1421"), None, remote), "{remote}");
            assert!(
                !check(
                    Some("evil.example:1421"),
                    Some("http://evil.example:1421"),
                    remote
                ),
                "{remote}"
            );
            assert!(!check(Some("localhost.evil.example"), None, remote));
            assert!(!check(None, None, remote), "{remote}");
        }
        // Another site's script or form.
        for remote in [false, true] {
            assert!(!check(
                Some("127.0.0.1:1421"),
                Some("http://evil.example"),
                remote
            ));
            assert!(!check(Some("127.0.0.1:1421"), Some("null"), remote));
        }
        // A LAN address only with --allow-remote, and only from its own page.
        assert!(!check(Some("192.0.2.7:1421"), None, false));
        assert!(check(Some("192.0.2.7:1421"), None, true));
        assert!(check(
            Some("192.0.2.7:1421"),
            Some("http://192.0.2.7:1421"),
            true
        ));
        assert!(check(Some("[2001:db8::7]:1421"), None, true));
        assert!(!check(
            Some("192.0.2.7:1421"),
            Some("http://192.0.2.8:1421"),
            true
        ));
    }

    #[test]
    fn the_token_is_random_and_only_the_bearer_header_carries_it() {
        let token = ApiToken::random().unwrap();
        assert_eq!(token.as_str().len(), 64);
        assert!(token.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(token.as_str(), ApiToken::random().unwrap().as_str());
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            token.check(&headers)
        };
        let right = token.as_str().to_owned();
        assert_eq!(with(&format!("Bearer {right}")), TokenCheck::Valid);
        assert_eq!(with(&format!("bearer  {right} ")), TokenCheck::Valid);
        assert_eq!(token.check(&HeaderMap::new()), TokenCheck::Missing);
        assert_eq!(with(&format!("Basic {right}")), TokenCheck::Missing);
        assert_eq!(with(&right), TokenCheck::Missing);
        assert_eq!(with("Bearer"), TokenCheck::Missing);
        assert_eq!(with("Bearer x"), TokenCheck::Wrong);
        assert_eq!(with(&format!("Bearer {}", &right[..63])), TokenCheck::Wrong);
        assert_eq!(with(&format!("Bearer {right}0")), TokenCheck::Wrong);
        assert_eq!(
            with(&format!("Bearer {}", right.to_ascii_uppercase())),
            TokenCheck::Wrong
        );
    }

    #[test]
    fn errors_map_to_statuses() {
        let status = |code| status_of(&AppError::new(code, "", ""));
        assert_eq!(status("unknown_command"), StatusCode::NOT_FOUND);
        assert_eq!(status("not_initialised"), StatusCode::CONFLICT);
        assert_eq!(status("invalid_arguments"), StatusCode::BAD_REQUEST);
        assert_eq!(status("over_entitlement"), StatusCode::BAD_REQUEST);
        assert_eq!(status("storage"), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn content_types_of_a_built_ui() {
        for (file, kind) in [
            ("index.html", "text/html; charset=utf-8"),
            ("assets/index-3f2a.js", "text/javascript; charset=utf-8"),
            ("assets/index.css", "text/css; charset=utf-8"),
            ("fonts/NotoNaskhArabic.woff2", "font/woff2"),
            ("fonts/Noto.ttf", "font/ttf"),
            ("zxing.wasm", "application/wasm"),
            ("icon.svg", "image/svg+xml"),
            ("icon.png", "image/png"),
        ] {
            assert_eq!(content_type(Path::new(file)), kind, "{file}");
        }
    }
}
