//! Failures the user can fix, and how any failure is reported.
//!
//! Scripts and the UI branch on [`Failure::code`], never on message text, so
//! codes are stable; messages tell the user what to do, in English and Arabic.

use std::fmt;
use std::io::{self, Write};

use qafila_domain::nid::NidError;
use serde::Serialize;

use crate::output::Output;

/// A problem with what the user asked for, such as a mistyped national ID.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
    pub message_ar: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<NidError> for Failure {
    fn from(error: NidError) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
            message_ar: error.message_ar(),
        }
    }
}

impl From<qafila_app::AppError> for Failure {
    fn from(error: qafila_app::AppError) -> Self {
        Self {
            code: error.code,
            message: error.message,
            message_ar: error.message_ar,
        }
    }
}

/// A result that was printed in full but means "no": an invalid card, a
/// refused scan. The process exits 1 without printing anything more, so
/// `if qafila cards verify …` works in a script.
#[derive(Debug, Clone, Copy)]
pub struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refused")
    }
}

impl std::error::Error for Refused {}

/// The JSON shape of a failure: `{"error": {"code", "message", "message_ar"}}`.
#[derive(Serialize)]
struct ErrorObject<'a> {
    error: &'a Failure,
}

/// Reports a command's error on stderr in both languages and, with `--json`,
/// as an error object on stdout, so a script reading stdout always gets one
/// JSON object.
///
/// Errors that are not a [`Failure`] are bugs or environment problems (a
/// file that cannot be read, a closed pipe); they get the code `internal`
/// and their full context chain.
pub fn report(error: &anyhow::Error, output: &Output) {
    if error.downcast_ref::<Refused>().is_some() {
        return;
    }
    let failure = match error.downcast_ref::<Failure>() {
        Some(failure) => failure.clone(),
        None => Failure {
            code: "internal",
            message: format!("{error:#}"),
            message_ar: format!("حدث خطأ غير متوقع: {error:#}"),
        },
    };

    // Reporting is the last thing the process does; if stderr or stdout is
    // gone there is nowhere left to complain, so write errors are ignored.
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "error [{}]: {}", failure.code, failure.message);
    let _ = writeln!(stderr, "خطأ: {}", failure.message_ar);

    if output.is_json() {
        let mut stdout = io::stdout().lock();
        let _ = serde_json::to_writer(&mut stdout, &ErrorObject { error: &failure });
        let _ = writeln!(stdout);
    }
}
