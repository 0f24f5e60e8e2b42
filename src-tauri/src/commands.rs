//! The commands the UI may `invoke`. Each one is a one-line delegation: the
//! rules and the data live in the core crates, never here.

use std::sync::Arc;

use qafila_app::AppError;
use qafila_app::rpc::Session;

/// The app's version, e.g. `0.1.0`, shown on the start screen and in reports.
#[tauri::command]
pub fn app_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Every other command: `invoke("call", { command, args })` runs
/// [`Session::call`] on a blocking thread, so neither the UI thread nor the
/// async runtime ever waits on SQLite or the network.
#[tauri::command]
pub async fn call(
    session: tauri::State<'_, Arc<Session>>,
    command: String,
    args: serde_json::Value,
) -> Result<serde_json::Value, AppError> {
    let session = Arc::clone(&session);
    tauri::async_runtime::spawn_blocking(move || session.call(&command, args))
        .await
        .map_err(|e| {
            AppError::new(
                "internal",
                format!("the command stopped unexpectedly: {e}"),
                "الأمر وقف فجأة؛ بلّغ الدعم الفني",
            )
        })?
}
