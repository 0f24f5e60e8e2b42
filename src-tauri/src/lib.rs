//! Qafila's desktop (and, later, mobile) shell.
//!
//! [`run`] opens the one window described in `tauri.conf.json` and serves the
//! Svelte UI from `ui/dist`, embedded in the binary at compile time. The UI
//! talks to Rust only through the commands in `commands.rs`, each a one-line
//! delegation to [`qafila_app::rpc::Session`]; the rules and the data live in
//! the core crates, never here.
//!
//! The session's events become Tauri events (`sync-status`, `data-changed`),
//! and it syncs in the background once the device is in a convoy.
//!
//! The same library is the entry point on Android and iOS
//! (`tauri::mobile_entry_point`), which is why `main.rs` holds nothing else.

mod commands;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use qafila_app::rpc::Session;
use tauri::{Emitter, Manager};

/// How often the background sync runs while the relay answers (it backs off
/// from 5 s to 5 min while it does not).
const SYNC_INTERVAL: Duration = Duration::from_secs(30);

/// Lets the scan screen use the camera (video only) in WebKitGTK, which
/// turns media streams off and refuses every permission request unless the
/// embedder allows them. Microphone, location and other requests stay
/// refused. `QAFILA_MOCK_CAMERA=1` swaps the devices for WebKit's generated
/// mock camera (tests only).
#[cfg(target_os = "linux")]
fn allow_camera(window: &tauri::WebviewWindow) {
    let _ = window.with_webview(|webview| {
        use webkit2gtk::glib::object::Cast;
        use webkit2gtk::{
            PermissionRequestExt, SettingsExt, UserMediaPermissionRequest,
            UserMediaPermissionRequestExt, WebViewExt,
        };
        let view = webview.inner();
        if let Some(settings) = WebViewExt::settings(&view) {
            settings.set_enable_media_stream(true);
            // WebKit's own generated camera, for the end-to-end test of the
            // real app on a machine without one (`tests/desktop_window.rs`).
            if std::env::var_os("QAFILA_MOCK_CAMERA").is_some_and(|v| v == "1") {
                settings.set_enable_mock_capture_devices(true);
            }
        }
        view.connect_permission_request(|_, request| {
            let Some(media) = request.downcast_ref::<UserMediaPermissionRequest>() else {
                return false;
            };
            if media.is_for_video_device() && !media.is_for_audio_device() {
                media.allow();
            } else {
                media.deny();
            }
            true
        });
    });
}

#[cfg(not(target_os = "linux"))]
fn allow_camera(_window: &tauri::WebviewWindow) {}

/// Starts the app and blocks until its last window closes.
///
/// The device's data lives in the platform's app data directory, or in
/// `QAFILA_DATA_DIR` when that is set (tests, `make run`, a second device
/// on one machine).
///
/// # Panics
///
/// When the window system or the web view cannot start (no display, or
/// WebKitGTK missing); there is nothing useful left to do then.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tauri::Builder::default()
        .setup(|app| {
            let dir = match std::env::var_os("QAFILA_DATA_DIR").filter(|d| !d.is_empty()) {
                Some(dir) => PathBuf::from(dir),
                None => app.path().app_data_dir()?,
            };
            // The store stays locked until the person types the passphrase
            // on the first screen: the desktop app never reads it from the
            // environment.
            let session = Arc::new(Session::open(dir, None, qafila_app::system_clock())?);
            let handle = app.handle().clone();
            session.on_change(Box::new(move |event| {
                let _ = handle.emit(event.name(), event.payload());
            }));
            session.start_background_sync(SYNC_INTERVAL);
            app.manage(session);
            if let Some(window) = app.get_webview_window("main") {
                allow_camera(&window);
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_version,
            commands::call
        ])
        .run(tauri::generate_context!())
        .expect("Qafila could not start its window (is a display and WebKitGTK available?)");
}
