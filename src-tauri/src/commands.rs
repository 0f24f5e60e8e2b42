//! The commands the UI may `invoke`. Each one is a one-line delegation; the
//! application façade crate will serve them once it exists.

/// The app's version, e.g. `0.1.0`, shown on the start screen and in reports.
#[tauri::command]
pub fn app_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
