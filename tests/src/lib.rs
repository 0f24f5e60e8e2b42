//! Support for Qafila's end-to-end tests: finding the workspace's built
//! binaries so tests run them exactly as a user would.
//!
//! The tests never build anything themselves; `make test` runs
//! `cargo build --workspace --all-targets` first, so every binary exists
//! before the first test starts.

use std::path::PathBuf;

/// Path of a binary built in this workspace's target directory, next to the
/// running test executable (`target/<profile>/deps/..`).
///
/// Panics with what to run when the binary has not been built, because a
/// missing binary is a setup mistake, not a product failure.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build --workspace --all-targets` (make test does)",
        path.display()
    );
    path
}
