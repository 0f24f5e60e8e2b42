//! `qafila init` and `qafila device`: create this device's store, open it
//! with its passphrase, change the passphrase, set the idle lock.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use clap::{Args, Subcommand};
use qafila_app::dto::DeviceDto;
use qafila_app::{App, AppError, Passphrase, Protection, system_clock};
use serde::Serialize;

use crate::failure::Failure;
use crate::output::{Output, Report};

/// Where the passphrase comes from when nobody is at a terminal.
pub const PASSPHRASE_ENV: &str = "QAFILA_PASSPHRASE";

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A name people recognise for this device ("Mona's phone").
    #[arg(long, value_name = "NAME")]
    device_name: String,
}

/// `qafila device …`
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Seal this device's data under a new passphrase (the old one is asked
    /// first; QAFILA_PASSPHRASE, then QAFILA_NEW_PASSPHRASE, when scripted).
    Passphrase,
    /// Lock the app after MINUTES without use (0: never), within the
    /// limit the convoy's lead set.
    LockAfter {
        /// Idle minutes, at most 1440.
        minutes: u32,
    },
}

fn required() -> Failure {
    Failure {
        code: "passphrase_required",
        message: format!(
            "this device's data is protected by a passphrase: set {PASSPHRASE_ENV} or run the command in a terminal to type it"
        ),
        message_ar: format!(
            "بيانات الجهاز محمية بكلمة سر: حطها في {PASSPHRASE_ENV} أو شغّل الأمر في الترمينال واكتبها"
        ),
    }
}

/// A passphrase from `variable`, else typed at the terminal (twice when it
/// is a new one).
pub fn read_passphrase(variable: &str, prompt: &str, new: bool) -> Result<Passphrase, Failure> {
    if let Some(text) = std::env::var_os(variable) {
        return text
            .into_string()
            .map(Passphrase::new)
            .map_err(|_| Failure {
                code: "passphrase_not_utf8",
                message: format!("{variable} is not valid UTF-8 text"),
                message_ar: format!("{variable} فيها حروف مش مفهومة"),
            });
    }
    if !io::stdin().is_terminal() {
        return Err(required());
    }
    let typed = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| Failure {
            code: "passphrase_unreadable",
            message: format!("could not read the passphrase from the terminal: {e}"),
            message_ar: "مش قادر أقرا كلمة السر من الترمينال".into(),
        })
    };
    let first = Passphrase::new(typed(prompt)?);
    if new {
        first.check_strength().map_err(AppError::from)?;
        let again = Passphrase::new(typed("Type it again / اكتبها تاني: ")?);
        if !first.same_as(&again) {
            return Err(Failure {
                code: "passphrases_differ",
                message: "the two passphrases differ; nothing was changed".into(),
                message_ar: "كلمتين السر مش زي بعض؛ ماتغيّرش حاجة".into(),
            });
        }
    }
    Ok(first)
}

/// The passphrase of the store in `dir` (a new one for a store from before
/// encryption, which opening encrypts under it).
pub fn passphrase(dir: &Path) -> Result<Passphrase, Failure> {
    let new = qafila_app::protection(dir) == Protection::Plaintext;
    let prompt = if new {
        "Choose a passphrase to protect this device's data / اختار كلمة سر لبيانات الجهاز: "
    } else {
        "Passphrase / كلمة السر: "
    };
    read_passphrase(PASSPHRASE_ENV, prompt, new)
}

/// Opens the device store in `dir`, as every device command does first.
pub fn open(dir: &Path) -> Result<App, Failure> {
    if qafila_app::protection(dir) == Protection::Missing {
        // Say "create one" rather than ask for a passphrase of nothing.
        return App::open(dir, &Passphrase::new(""), system_clock()).map_err(Failure::from);
    }
    App::open(dir, &passphrase(dir)?, system_clock()).map_err(Failure::from)
}

/// A passphrase for a new store.
pub fn new_passphrase() -> Result<Passphrase, Failure> {
    read_passphrase(
        PASSPHRASE_ENV,
        "Choose a passphrase for this device's data / اختار كلمة سر لبيانات الجهاز: ",
        true,
    )
}

/// `QAFILA_PASSPHRASE` if it is set (never a prompt): for `ui serve`,
/// whose browser asks otherwise.
pub fn passphrase_from_env() -> Option<Passphrase> {
    std::env::var(PASSPHRASE_ENV).ok().map(Passphrase::new)
}

pub fn init(dir: &Path, args: InitArgs, output: &Output) -> anyhow::Result<()> {
    let passphrase = new_passphrase()?;
    let app =
        App::init(dir, &args.device_name, &passphrase, system_clock()).map_err(Failure::from)?;
    output.emit(&app.device())
}

#[derive(Debug, Serialize)]
struct DeviceSettingDto {
    changed: &'static str,
    lock_after_minutes: u32,
}

impl Report for DeviceSettingDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        match self.changed {
            "passphrase" => writeln!(out, "The passphrase is changed / كلمة السر اتغيّرت"),
            _ => writeln!(
                out,
                "The app locks after {} idle minutes / التطبيق هيقفل بعد {} دقيقة من غير استخدام",
                self.lock_after_minutes, self.lock_after_minutes
            ),
        }
    }
}

pub fn run(dir: &Path, command: DeviceCommand, output: &Output) -> anyhow::Result<()> {
    // Both need a store; a missing one is the usual clear error.
    if qafila_app::protection(dir) == Protection::Missing {
        open(dir)?;
    }
    let changed = match command {
        DeviceCommand::Passphrase => {
            let old = read_passphrase(
                PASSPHRASE_ENV,
                "Passphrase now / كلمة السر الحالية: ",
                false,
            )?;
            let new = read_passphrase(
                "QAFILA_NEW_PASSPHRASE",
                "New passphrase / كلمة السر الجديدة: ",
                true,
            )?;
            let now = system_clock()();
            qafila_app::change_passphrase(dir, &old, &new, now).map_err(AppError::from)?;
            "passphrase"
        }
        DeviceCommand::LockAfter { minutes } => {
            // Only someone who can open the store may change how it locks,
            // and never beyond the lead's limit.
            let app = open(dir)?;
            let policy = app.lock_policy().map_err(Failure::from)?;
            qafila_app::lock::set_device_minutes(dir, minutes, policy).map_err(Failure::from)?;
            "lock_after"
        }
    };
    let lock_after_minutes = qafila_app::lock_after_minutes(dir).map_err(AppError::from)?;
    output.emit(&DeviceSettingDto {
        changed,
        lock_after_minutes,
    })
}

impl Report for DeviceDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "Device «{}» is ready / الجهاز جاهز", self.name)?;
        writeln!(out, "  id           {}", self.id)?;
        writeln!(out, "  store        {}", self.store)?;
        writeln!(out, "  fingerprint  {}", self.fingerprint)
    }
}
