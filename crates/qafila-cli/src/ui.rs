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
//! The bridge holds beneficiary data, so it listens on loopback only unless
//! `--allow-remote` is given, and refuses requests whose `Host` or `Origin`
//! is not a loopback name (a web page elsewhere cannot drive it, even
//! through DNS rebinding). It prints `listening on ADDR` as its first line
//! and stops on SIGINT or SIGTERM.

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
    /// with beneficiary data and has no login: only on a network you trust.
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
                "{} can be reached from other machines, and the bridge answers with beneficiary data without a login: listen on 127.0.0.1, or add --allow-remote on a network you trust",
                args.listen
            ),
            message_ar: "العنوان ده ممكن أجهزة تانية توصله، والخدمة دي بترد ببيانات المستفيدين من غير تسجيل دخول: استخدم 127.0.0.1، أو أضف --allow-remote على شبكة موثوقة بس".into(),
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
    let served = Arc::new(Served {
        session: Arc::new(session),
        static_dir: args.static_dir,
        allow_remote: args.allow_remote,
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
        println!("listening on {}", listener.local_addr()?);
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
        | "import_temp_file" => StatusCode::INTERNAL_SERVER_ERROR,
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

impl Served {
    /// Whether the request may come from a page of this machine: refused
    /// when its `Host` is not a loopback name (DNS rebinding) or its
    /// `Origin` is elsewhere (another site's form or script).
    fn caller_allowed(&self, headers: &HeaderMap) -> bool {
        if self.allow_remote {
            return true;
        }
        let get = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let host_ok = get(header::HOST).is_some_and(is_loopback_name);
        let origin_ok = match get(header::ORIGIN) {
            None => true,
            Some(origin) => origin
                .split_once("://")
                .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
                .is_some_and(is_loopback_name),
        };
        host_ok && origin_ok
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
