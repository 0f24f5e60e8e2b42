//! Qafila's desktop (and, later, mobile) shell.
//!
//! [`run`] opens the one window described in `tauri.conf.json` and serves the
//! Svelte UI from `ui/dist`, embedded in the binary at compile time. The UI
//! talks to Rust only through the commands in `commands.rs`, each a one-line
//! delegation; the rules and the data live in the core crates, never here.
//!
//! The same library is the entry point on Android and iOS
//! (`tauri::mobile_entry_point`), which is why `main.rs` holds nothing else.

mod commands;

/// Starts the app and blocks until its last window closes.
///
/// # Panics
///
/// When the window system or the web view cannot start (no display, or
/// WebKitGTK missing); there is nothing useful left to do then.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![commands::app_version])
        .run(tauri::generate_context!())
        .expect("Qafila could not start its window (is a display and WebKitGTK available?)");
}
