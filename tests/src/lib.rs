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

/// One device: a temp data directory and the real `qafila` binary.
#[derive(Debug)]
pub struct Device {
    dir: tempfile::TempDir,
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Run {
    /// Exit status code.
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Default for Device {
    fn default() -> Self {
        Self::new()
    }
}

impl Device {
    /// A device with an empty data directory (no store yet).
    pub fn new() -> Self {
        Device {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    /// A device with a store, as after `qafila init`.
    pub fn initialised(name: &str) -> Self {
        let device = Device::new();
        device.ok(&["init", "--device-name", name]);
        device
    }

    /// Its data directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Runs `qafila --data-dir DIR ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = std::process::Command::new(workspace_binary("qafila"))
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .output()
            .expect("qafila runs");
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed, with `--json`, and returns its object.
    pub fn ok(&self, args: &[&str]) -> serde_json::Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let run = self.run(&with_json);
        assert_eq!(
            run.status, 0,
            "qafila {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("qafila {args:?}: not JSON ({e}): {}", run.stdout))
    }

    /// Runs a command that must fail with exit status 1 and returns its error
    /// code (from the `--json` error object) and the stderr text.
    pub fn fails(&self, args: &[&str]) -> (String, String) {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let run = self.run(&with_json);
        assert_eq!(
            run.status, 1,
            "qafila {args:?} should fail with 1:\n{}\n{}",
            run.stdout, run.stderr
        );
        let value: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("qafila {args:?}: error not JSON ({e}): {}", run.stdout));
        let code = value["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (code, run.stderr)
    }
}
