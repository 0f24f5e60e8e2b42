//! Reads `tauri.conf.json` and `capabilities/` at compile time, so the
//! permissions the UI gets are fixed in the binary.

fn main() {
    tauri_build::build();
}
