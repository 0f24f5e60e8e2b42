//! The app's one command surface: [`Session::call`] takes a command name and
//! its arguments as JSON, and returns the result as JSON or an [`AppError`].
//!
//! Two thin transports carry it to the UI: Tauri's IPC in the desktop app
//! (`src-tauri/src/commands.rs`) and `qafila ui serve`'s loopback HTTP bridge
//! for browser tests (`POST /rpc/{command}`), so both meet the same Rust, the
//! same store and the same relay. The table of commands is [`COMMANDS`]
//! (ARCHITECTURE.md, "The app: one command surface, two transports").
//!
//! A [`Session`] owns the data directory, the [`App`] once the device exists
//! (none before the first-run screen creates it), the sync chip's state and
//! the background sync. It tells the shell when the chip changes and when
//! data changed ([`Session::on_change`]).
//!
//! Every argument and result type derives [`ts_rs::TS`]; the TypeScript the
//! UI imports is generated from them into `ui/src/lib/bindings/`
//! ([`typescript_bindings`]), and a test fails when the checked-in files are
//! out of date.

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::{Config, TS, TypeVisitor};

use crate::background::BackgroundSync;
use crate::cards::{CardSheetDto, IssuedDto, ScanDto};
use crate::convoy::{ConvoyDto, InviteDto, MemberDto, RevokedDto, SyncChipDto, SyncDto, SyncState};
use crate::dayend::{
    CountSheetDto, Counts, DayCloseDto, DeviceWaitDto, ReconciliationDto, ReviewDto, SitePlaceDto,
};
use crate::distribution::HandOutRequest;
use crate::dto::{
    AnomalyDto, BeneficiaryDto, CheckInDto, DayStatusDto, DeviceDto, HandOutDto, RecordedDto,
    VillageDto,
};
use crate::duplicates::{DuplicateDto, MergedDto};
use crate::registry_import::ImportReportDto;
use crate::{App, AppError, ClockFn, Passphrase};

/// This build's version, as `app_status` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How many people a search returns when the UI does not say.
const DEFAULT_SEARCH_LIMIT: u32 = 20;
/// The most a search returns.
const MAX_SEARCH_LIMIT: u32 = 200;

// ---------------------------------------------------------------------------
// Arguments and results
// ---------------------------------------------------------------------------

/// No arguments (`{}`), and the result of a command that returns nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `init_device`: create this device's store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct InitDeviceArgs {
    /// A name people recognise, e.g. "موبايل منى".
    pub name: String,
    /// The passphrase that will unlock this device's data.
    pub passphrase: String,
}

/// `restore_keys`: make this device the lead's laptop from a key backup.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct RestoreKeysArgs {
    /// The backup file's text, or its sheet's codes, one per line.
    pub file: String,
    /// The passphrase the backup was sealed with.
    pub backup_passphrase: String,
    /// The passphrase that will unlock this device's data.
    pub passphrase: String,
}

/// `export_keys`: seal this lead's keys under a backup passphrase.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ExportKeysArgs {
    /// At least 8 characters; not the device's own.
    pub backup_passphrase: String,
}

/// `keys_sheet`: the printable QR pages of a key backup made just now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct KeysSheetArgs {
    /// The backup file's text, as `export_keys` gave it.
    pub file: String,
}

/// `unlock`: open this device's data with its passphrase. For a store from
/// before encryption, the passphrase chosen now protects it from then on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct UnlockArgs {
    /// As typed.
    pub passphrase: String,
}

/// `change_passphrase`: seal the store's key under a new passphrase.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ChangePassphraseArgs {
    /// The passphrase in use.
    pub old: String,
    /// The new one.
    pub new: String,
}

/// `set_lock_after`: how long the app may sit idle before it locks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct LockAfterArgs {
    /// Idle minutes (0: never lock by itself; at most 1440).
    pub minutes: u32,
}

/// `enroll`: join a convoy with a code from its lead.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct EnrollArgs {
    /// The convoy's relay, e.g. `http://192.0.2.10:8080`.
    pub relay: String,
    /// The one-time enrollment code.
    pub code: String,
}

/// `scan`: a card's text (camera or wedge scanner) at a site.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ScanArgs {
    /// What the scanner read.
    pub input: String,
    /// The site's name.
    pub site: String,
}

/// `search`: people by name (any spelling) or national ID.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Part of a name, or a national ID.
    pub query: String,
    /// At most this many, best first (default 20, at most 200).
    #[ts(optional)]
    pub limit: Option<u32>,
}

/// `check_in_manual`: check a person in without a card, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CheckInManualArgs {
    /// Beneficiary id or national ID.
    pub beneficiary: String,
    /// The site's name.
    pub site: String,
    /// Why there is no card (lost, forgotten ...).
    pub reason: String,
}

/// `hand_out`: one item to a household.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct HandOutArgs {
    /// Beneficiary id or national ID.
    pub beneficiary: String,
    /// The site's name.
    pub site: String,
    /// Item code: `food_box`, `hot_meal`, `meat_kg`, `blanket`, `medicine`, `checkup`.
    pub item: String,
    /// Quantity as text ("1", "1.5", "٢").
    pub qty: String,
    /// Lot number (medicine).
    #[ts(optional)]
    pub lot: Option<String>,
    /// Lot expiry, YYYY-MM-DD (medicine).
    #[ts(optional)]
    pub expiry: Option<String>,
    /// The card scanned: its serial (`ScanDto.card.serial`) or printed number.
    #[ts(optional)]
    pub card: Option<String>,
    /// Set to go beyond the entitlement, with the reason.
    #[ts(optional)]
    pub override_reason: Option<String>,
}

/// `hand_out_basket`: everything the household may still receive at the
/// table, in one go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct HandOutBasketArgs {
    /// Beneficiary id or national ID.
    pub beneficiary: String,
    /// The site's name.
    pub site: String,
    /// The card scanned: its serial (`ScanDto.card.serial`) or printed number.
    #[ts(optional)]
    pub card: Option<String>,
}

/// `void`: cancel an earlier check-in, hand-out or stock record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct VoidArgs {
    /// The event id (from the result that recorded it).
    pub event: String,
    /// Why.
    pub reason: String,
}

/// `day_status`: a site's day.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct DayStatusArgs {
    /// The site's name.
    pub site: String,
    /// YYYY-MM-DD; today when absent.
    #[ts(optional)]
    pub date: Option<String>,
}

/// `count_sheet` / `devices_waiting` / `day_close`: a site's day.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SiteDayArgs {
    /// The site's name.
    pub site: String,
    /// YYYY-MM-DD; today when absent.
    #[ts(optional)]
    pub date: Option<String>,
}

/// One item counted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CountArg {
    /// Item code.
    pub item: String,
    /// What is physically there (zero included).
    pub counted: String,
    /// Reason code for a variance, if there is one.
    #[ts(optional)]
    pub reason: Option<String>,
    /// Details of the variance.
    #[ts(optional)]
    pub note: Option<String>,
}

/// `reconcile`: the blind count of a site's day.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ReconcileArgs {
    /// The site's name.
    pub site: String,
    /// YYYY-MM-DD; today when absent.
    #[ts(optional)]
    pub date: Option<String>,
    /// What was counted.
    pub counts: Vec<CountArg>,
    /// Show expected figures and variances without recording.
    pub preview: bool,
}

/// `close_day`: sign a site's day off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CloseDayArgs {
    /// The site's name.
    pub site: String,
    /// YYYY-MM-DD; today when absent.
    #[ts(optional)]
    pub date: Option<String>,
    /// Close although some devices have not synced since the last
    /// hand-out; the close names them.
    pub without_outstanding: bool,
}

/// `stock_movement`: stock loaded from a waybill, moved to another site,
/// returned to the warehouse, or lost.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct StockMovementArgs {
    /// `load`, `transfer`, `return` or `loss`.
    pub kind: String,
    /// The site (the source, for a transfer).
    pub site: String,
    /// Item code.
    pub item: String,
    /// Quantity.
    pub qty: String,
    /// Destination site (transfers).
    #[ts(optional)]
    pub to: Option<String>,
    /// Lot number (medicine).
    #[ts(optional)]
    pub lot: Option<String>,
    /// Lot expiry, YYYY-MM-DD (medicine).
    #[ts(optional)]
    pub expiry: Option<String>,
    /// Waybill number (loads).
    #[ts(optional)]
    pub waybill: Option<String>,
    /// Loss reason code: damaged, spoiled, expired, stolen, missing, other.
    #[ts(optional)]
    pub reason: Option<String>,
    /// Details (required with `other`).
    #[ts(optional)]
    pub note: Option<String>,
}

/// `day_report`: the printable day report of a site.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct DayReportArgs {
    /// The site's name.
    pub site: String,
    /// YYYY-MM-DD; today when absent.
    #[ts(optional)]
    pub date: Option<String>,
    /// English instead of Arabic.
    #[ts(optional)]
    pub english: Option<bool>,
    /// Figures, dates and times in Eastern Arabic digits (the app's digit
    /// setting); by default, Eastern in Arabic and Western in English.
    #[ts(optional)]
    pub eastern_digits: Option<bool>,
}

/// A document for the system's print dialog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct HtmlDto {
    /// One self-contained HTML document.
    pub html: String,
}

/// `export_file`: a distribution or 5W export for the lead to save.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ExportFileArgs {
    /// `distribution` or `5w` (the registrar's personal list is the CLI's).
    pub kind: String,
    /// `csv` or `xlsx`.
    pub format: String,
    /// Add the HXL hashtag row.
    pub hxl: bool,
    /// First day, YYYY-MM-DD.
    pub from: String,
    /// Last day, YYYY-MM-DD.
    pub to: String,
}

/// A file made for the user to save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct FileDto {
    /// A file name to offer.
    pub name: String,
    /// Its MIME type.
    pub mime: String,
    /// Its bytes, base64.
    pub bytes_base64: String,
    /// Data rows.
    pub rows: u32,
}

/// `review_anomaly`: explained (with a note) or written off as a loss.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ReviewArgs {
    /// The anomaly's id (`AnomalyDto.id`).
    pub id: String,
    /// `explained` or `loss`.
    pub outcome: String,
    /// The lead's note (required to explain).
    pub note: String,
}

/// `describe_site`: where a site is and who runs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct DescribeSiteArgs {
    /// The site's name.
    pub site: String,
    /// Governorate code (national-ID codes: `24` Minya) or name.
    pub governorate: String,
    /// District (markaz).
    pub district: String,
    /// The association running it.
    pub association: String,
}

/// `invite`: a one-time enrollment code for a new device of the convoy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct InviteArgs {
    /// How many devices may use it (default 1).
    #[ts(optional)]
    pub uses: Option<u32>,
}

/// `devices`: a convoy's devices.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ConvoyArgs {
    /// Convoy id; this device's only convoy when absent.
    #[ts(optional)]
    pub convoy: Option<String>,
}

/// `approve` / `revoke`: one device of a convoy this device leads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct DeviceArgs {
    /// Device id (or a prefix of it) or name.
    pub device: String,
    /// Convoy id; this device's only convoy when absent.
    #[ts(optional)]
    pub convoy: Option<String>,
}

/// `approve`: let a pending device sync, with a role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ApproveArgs {
    /// Device id (or a prefix of it) or name.
    pub device: String,
    /// `volunteer` (default), `registrar` or `storekeeper`.
    #[ts(optional)]
    pub role: Option<String>,
    /// The fingerprint the device's own screen shows, as the lead typed
    /// it: needed when its keys are not bound to this lead's code.
    #[ts(optional)]
    pub fingerprint: Option<String>,
    /// Convoy id; this device's only convoy when absent.
    #[ts(optional)]
    pub convoy: Option<String>,
}

/// `set_role`: change an approved device's role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct RoleArgs {
    /// Device id (or a prefix of it) or name.
    pub device: String,
    /// `volunteer`, `registrar` or `storekeeper`.
    pub role: String,
    /// Convoy id; this device's only convoy when absent.
    #[ts(optional)]
    pub convoy: Option<String>,
}

/// `import_file`: a beneficiary list picked in the UI.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ImportFileArgs {
    /// The file's name; its extension says the format (`.csv`, `.xlsx`,
    /// `.xls`, `.ods`, `.tsv`, `.txt`).
    pub name: String,
    /// The file's bytes, base64 (a `data:…;base64,` prefix is accepted).
    pub bytes_base64: String,
    /// Check everything and register nobody.
    pub dry_run: bool,
}

/// `merge`: one person registered twice.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct MergeArgs {
    /// The entry to keep.
    pub kept: String,
    /// The entry retired into it.
    pub merged: String,
    /// Why.
    pub reason: String,
}

/// `dismiss`: two entries of the duplicate queue are different people.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct DismissArgs {
    /// One entry.
    pub a: String,
    /// The other.
    pub b: String,
}

/// `issue_cards` / `card_sheet`: a village's cards.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct VillageArgs {
    /// The village, as registered (`villages` lists them).
    pub village: String,
}

/// `app_status`: what the shell knows before any screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AppStatusDto {
    /// This build's version.
    pub version: String,
    /// False until the first-run screen has created the device.
    pub initialised: bool,
    /// The device exists but its data is closed until someone types the
    /// passphrase.
    pub locked: bool,
    /// False for a store from before encryption: unlocking it asks for a
    /// new passphrase (typed twice) and encrypts it.
    pub encrypted: bool,
    /// Idle minutes before the app locks (0: never): the device's own
    /// setting within the lead's limit.
    pub lock_after_minutes: u32,
    /// The most idle minutes the convoy's lead allows (absent: no limit,
    /// or the store is locked).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub lock_policy_minutes: Option<u32>,
    /// The shortest passphrase accepted.
    pub min_passphrase_chars: u32,
    /// This device, once it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub device: Option<DeviceDto>,
    /// The convoys it belongs to.
    pub convoys: Vec<ConvoyDto>,
    /// Sites to pick from: the convoys' routes, then those used here.
    pub sites: Vec<String>,
    /// The sync chip.
    pub sync: SyncChipDto,
}

/// Why data changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DataChangeReason {
    /// A sync brought records from other devices (or the convoy's plan,
    /// or this device's approval).
    Sync,
    /// A command of this app recorded something.
    Local,
    /// The device's data was locked (idle, or someone locked it): nothing
    /// may stay on screen until it is unlocked.
    Locked,
}

/// The payload of the `data-changed` event: lists and counts on screen may
/// be stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct DataChangedDto {
    /// Why.
    pub reason: DataChangeReason,
}

/// What a [`Session`] tells its shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The sync chip changed: a sync started or ended, or the pending count
    /// moved (`sync-status`).
    SyncStatus(SyncChipDto),
    /// Data changed (`data-changed`).
    DataChanged(DataChangedDto),
}

impl SessionEvent {
    /// The event name the UI listens to.
    pub fn name(&self) -> &'static str {
        match self {
            SessionEvent::SyncStatus(_) => "sync-status",
            SessionEvent::DataChanged(_) => "data-changed",
        }
    }

    /// The event's payload as JSON.
    pub fn payload(&self) -> Value {
        let value = match self {
            SessionEvent::SyncStatus(chip) => serde_json::to_value(chip),
            SessionEvent::DataChanged(changed) => serde_json::to_value(changed),
        };
        value.unwrap_or(Value::Null)
    }
}

/// Hears a [`Session`]'s events.
pub type Listener = Box<dyn Fn(&SessionEvent) + Send + Sync>;

// ---------------------------------------------------------------------------
// The command table
// ---------------------------------------------------------------------------

/// Declares every command once: its name, argument and result types, and
/// its handler. From it come [`COMMANDS`], the dispatch in
/// [`Session::call`] and the TypeScript `Commands` map.
macro_rules! commands {
    ($( $name:literal ($args:ty) -> $result:ty => $handler:expr; )*) => {
        /// Every command [`Session::call`] knows.
        pub const COMMANDS: &[&str] = &[$($name),*];

        impl Session {
            fn dispatch(&self, command: &str, args: Value) -> Result<Value, AppError> {
                match command {
                    $($name => {
                        let handler: fn(&Session, $args) -> Result<$result, AppError> = $handler;
                        let args = parse_args::<$args>(command, args)?;
                        to_json(&handler(self, args)?)
                    })*
                    _ => Err(unknown_command(command)),
                }
            }
        }

        /// Each command's TypeScript argument and result types.
        fn command_signatures(cfg: &Config) -> Vec<(&'static str, String, String)> {
            vec![$(($name, <$args as TS>::name(cfg), <$result as TS>::name(cfg))),*]
        }

        /// Visits every argument and result type.
        fn visit_command_types(visitor: &mut impl TypeVisitor) {
            $(
                visitor.visit::<$args>();
                visitor.visit::<$result>();
            )*
        }
    };
}

commands! {
    "app_status" (Empty) -> AppStatusDto => |s, Empty {}| s.app_status();
    "init_device" (InitDeviceArgs) -> DeviceDto => |s, a| {
        s.init_device(&a.name, &Passphrase::new(a.passphrase))
    };
    "unlock" (UnlockArgs) -> DeviceDto => |s, a| s.unlock(&Passphrase::new(a.passphrase));
    "restore_keys" (RestoreKeysArgs) -> DeviceDto => |s, a| {
        s.first_store(|| {
            App::restore_keys(
                &s.inner.dir,
                &a.file,
                &Passphrase::new(a.backup_passphrase),
                &Passphrase::new(a.passphrase),
                s.inner.clock.clone(),
            )
        })
    };
    "export_keys" (ExportKeysArgs) -> crate::keys::KeyBackupDto => |s, a| {
        s.app()?.export_keys(&Passphrase::new(a.backup_passphrase))
    };
    "keys_sheet" (KeysSheetArgs) -> HtmlDto => |s, a| {
        s.app()?;
        let sheet = crate::keys::keys_sheet(&crate::keys::KeyBackupDto {
            file: a.file,
            file_name: String::new(),
            convoys: Vec::new(),
            issuers: 0,
        })?;
        Ok(HtmlDto { html: sheet })
    };
    "lock" (Empty) -> Empty => |s, Empty {}| {
        s.lock_now();
        Ok(Empty {})
    };
    "change_passphrase" (ChangePassphraseArgs) -> Empty => |s, a| {
        crate::change_passphrase(
            s.dir(),
            &Passphrase::new(a.old),
            &Passphrase::new(a.new),
            (s.inner.clock)(),
        )?;
        Ok(Empty {})
    };
    "set_lock_after" (LockAfterArgs) -> Empty => |s, a| {
        let policy = s.app()?.lock_policy()?;
        crate::lock::set_device_minutes(s.dir(), a.minutes, policy)?;
        Ok(Empty {})
    };
    "set_lock_policy" (LockAfterArgs) -> RecordedDto => |s, a| {
        s.app()?.set_lock_policy(a.minutes)
    };
    "enroll" (EnrollArgs) -> ConvoyDto => |s, a| {
        let convoy = s.app()?.enroll(&a.relay, &a.code)?;
        s.ensure_background_sync();
        Ok(convoy)
    };
    "sync_now" (Empty) -> SyncChipDto => |s, Empty {}| {
        s.inner.sync_round();
        s.inner.chip()
    };
    "sync_status" (Empty) -> SyncChipDto => |s, Empty {}| s.inner.chip();
    "scan" (ScanArgs) -> ScanDto => |s, a| s.app()?.scan(&a.input, &a.site);
    "search" (SearchArgs) -> Vec<BeneficiaryDto> => |s, a| {
        let limit = a.limit.unwrap_or(DEFAULT_SEARCH_LIMIT).clamp(1, MAX_SEARCH_LIMIT);
        s.app()?.search(&a.query, limit as usize)
    };
    "check_in_manual" (CheckInManualArgs) -> CheckInDto => |s, a| {
        if a.reason.trim().is_empty() {
            return Err(AppError::new(
                "reason_required",
                "say why this person is checked in without a card (lost, forgotten, not issued yet ...)",
                "اكتب سبب التسجيل من غير كارت (ضاع، نسيه، لسه ماطلعلوش كارت ...)",
            ));
        }
        s.app()?.check_in(&a.beneficiary, &a.site, None, Some(a.reason.trim().to_owned()))
    };
    "hand_out" (HandOutArgs) -> HandOutDto => |s, a| {
        let card = parse_card(a.card.as_deref())?;
        s.app()?.hand_out(HandOutRequest {
            beneficiary: a.beneficiary,
            item: a.item,
            qty: a.qty,
            site: a.site,
            lot: a.lot.filter(|l| !l.trim().is_empty()),
            expiry: a.expiry.filter(|e| !e.trim().is_empty()),
            override_reason: a.override_reason,
            card,
        })
    };
    "hand_out_basket" (HandOutBasketArgs) -> Vec<HandOutDto> => |s, a| {
        let card = parse_card(a.card.as_deref())?;
        s.app()?.hand_out_basket(&a.beneficiary, &a.site, card)
    };
    "void" (VoidArgs) -> RecordedDto => |s, a| s.app()?.void(&a.event, &a.reason);
    "day_status" (DayStatusArgs) -> DayStatusDto => |s, a| {
        s.app()?.day_status(&a.site, a.date.as_deref().filter(|d| !d.trim().is_empty()))
    };
    "anomalies" (Empty) -> Vec<AnomalyDto> => |s, Empty {}| s.app()?.anomalies();
    "devices" (ConvoyArgs) -> Vec<MemberDto> => |s, a| {
        s.app()?.convoy_devices(a.convoy.as_deref())
    };
    "approve" (ApproveArgs) -> MemberDto => |s, a| {
        let role = crate::convoy::parse_role(a.role.as_deref().unwrap_or("volunteer"))?;
        s.app()?.convoy_approve(a.convoy.as_deref(), &a.device, role, a.fingerprint.as_deref())
    };
    "set_role" (RoleArgs) -> MemberDto => |s, a| {
        let role = crate::convoy::parse_role(&a.role)?;
        s.app()?.convoy_approve(a.convoy.as_deref(), &a.device, role, None)
    };
    "revoke" (DeviceArgs) -> RevokedDto => |s, a| {
        s.app()?.convoy_revoke(a.convoy.as_deref(), &a.device)
    };
    "import_file" (ImportFileArgs) -> ImportReportDto => |s, a| s.import_file(&a);
    "duplicates" (Empty) -> Vec<DuplicateDto> => |s, Empty {}| s.app()?.duplicates();
    "merge" (MergeArgs) -> MergedDto => |s, a| {
        s.app()?.merge_beneficiaries(&a.kept, &a.merged, &a.reason)
    };
    "dismiss" (DismissArgs) -> Empty => |s, a| {
        s.app()?.dismiss_duplicate(&a.a, &a.b)?;
        Ok(Empty {})
    };
    "villages" (Empty) -> Vec<VillageDto> => |s, Empty {}| s.app()?.villages();
    "issue_cards" (VillageArgs) -> IssuedDto => |s, a| {
        s.app()?.issue_cards(Some(&a.village), None, None)
    };
    "card_sheet" (VillageArgs) -> CardSheetDto => |s, a| s.app()?.village_sheet_html(&a.village);
    "count_sheet" (SiteDayArgs) -> CountSheetDto => |s, a| {
        s.app()?.count_sheet(&a.site, a.date.as_deref())
    };
    "reconcile" (ReconcileArgs) -> ReconciliationDto => |s, a| {
        let mut counts = Counts::default();
        for c in a.counts {
            if let Some(reason) = c.reason {
                counts.reasons.push((c.item.clone(), reason));
            }
            if let Some(note) = c.note {
                counts.notes.push((c.item.clone(), note));
            }
            counts.counts.push((c.item, c.counted));
        }
        s.app()?.reconcile(&a.site, a.date.as_deref(), &counts, a.preview)
    };
    "devices_waiting" (SiteDayArgs) -> DeviceWaitDto => |s, a| {
        s.app()?.devices_waiting(&a.site, a.date.as_deref())
    };
    "close_day" (CloseDayArgs) -> DayCloseDto => |s, a| {
        s.app()?.close_day(&a.site, a.date.as_deref(), a.without_outstanding)
    };
    "day_close" (SiteDayArgs) -> Option<DayCloseDto> => |s, a| {
        s.app()?.day_close(&a.site, a.date.as_deref())
    };
    "review_anomaly" (ReviewArgs) -> ReviewDto => |s, a| {
        s.app()?.review_anomaly(&a.id, &a.outcome, &a.note)
    };
    "site_place" (SiteDayArgs) -> SitePlaceDto => |s, a| s.app()?.site_place(&a.site);
    "describe_site" (DescribeSiteArgs) -> RecordedDto => |s, a| {
        s.app()?.describe_site(&a.site, &a.governorate, &a.district, &a.association)
    };
    "invite" (InviteArgs) -> InviteDto => |s, a| s.app()?.invite(a.uses.unwrap_or(1));
    "day_report" (DayReportArgs) -> HtmlDto => |s, a| {
        let lang = if a.english.unwrap_or(false) { crate::report::Lang::En } else { crate::report::Lang::Ar };
        let mut report = s.app()?.day_report(&a.site, a.date.as_deref(), lang)?;
        report.eastern_digits = a.eastern_digits.unwrap_or(report.eastern_digits);
        Ok(HtmlDto { html: crate::report::render_html(&report) })
    };
    "export_file" (ExportFileArgs) -> FileDto => |s, a| s.export_file(&a);
    "stock_movement" (StockMovementArgs) -> RecordedDto => |s, a| {
        use crate::stock::{Movement, StockRequest};
        let movement = match a.kind.as_str() {
            "load" => Movement::Load,
            "transfer" => Movement::Transfer,
            "return" => Movement::Return,
            "loss" => Movement::Loss,
            other => {
                return Err(AppError::new(
                    "invalid_arguments",
                    format!("unknown stock movement `{other}`: use load, transfer, return or loss"),
                    "نوع الحركة لازم يكون تحميل أو تحويل أو مرتجع أو فاقد",
                ));
            }
        };
        let text = |t: Option<String>| t.filter(|t| !t.trim().is_empty());
        s.app()?.stock(
            movement,
            StockRequest {
                site: a.site,
                item: a.item,
                qty: a.qty,
                to: text(a.to),
                lot: text(a.lot),
                expiry: text(a.expiry),
                waybill: text(a.waybill),
                reason: text(a.reason),
                note: text(a.note),
            },
        )
    };
}

/// Commands that work before the device exists or while it is locked.
const BEFORE_INIT: &[&str] = &[
    "app_status",
    "init_device",
    "restore_keys",
    "unlock",
    "lock",
];

/// Commands the UI sends by itself (at start, on a timer): they are not
/// someone using the app, so they do not keep it from locking.
const PASSIVE: &[&str] = &["app_status", "sync_status", "lock"];

/// Commands that record something on this device (after which the UI hears
/// `data-changed` and the chip's pending count may move).
const RECORDING: &[&str] = &[
    "init_device",
    "enroll",
    "scan",
    "check_in_manual",
    "hand_out",
    "hand_out_basket",
    "void",
    "approve",
    "set_role",
    "revoke",
    "import_file",
    "merge",
    "dismiss",
    "issue_cards",
    "reconcile",
    "close_day",
    "review_anomaly",
    "describe_site",
    "stock_movement",
    "set_lock_policy",
];

fn parse_args<T: DeserializeOwned>(command: &str, args: Value) -> Result<T, AppError> {
    // A missing argument object means "no arguments".
    let args = match args {
        Value::Null => Value::Object(serde_json::Map::new()),
        Value::Object(_) => args,
        other => {
            return Err(AppError::new(
                "invalid_arguments",
                format!("invalid arguments for `{command}`: expected a JSON object, got {other}"),
                format!("بيانات الأمر «{command}» لازم تكون كائن JSON"),
            ));
        }
    };
    serde_json::from_value(args).map_err(|e| {
        AppError::new(
            "invalid_arguments",
            format!("invalid arguments for `{command}`: {e}"),
            format!("بيانات الأمر «{command}» مش صحيحة: {e}"),
        )
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, AppError> {
    serde_json::to_value(value).map_err(|e| {
        AppError::new(
            "internal",
            format!("could not encode the result: {e}"),
            "حصلت مشكلة داخلية في البرنامج؛ بلّغ الدعم الفني",
        )
    })
}

fn unknown_command(command: &str) -> AppError {
    AppError::new(
        "unknown_command",
        format!(
            "there is no command `{command}` in this version of Qafila; commands: {}",
            COMMANDS.join(", ")
        ),
        format!("مفيش أمر اسمه «{command}» في النسخة دي من قافلة؛ حدّث البرنامج"),
    )
}

fn not_initialised() -> AppError {
    AppError::new(
        "not_initialised",
        "this device is not set up yet: give it a name on the first screen (init_device) first",
        "الجهاز ده لسه متجهزش: اكتب اسم الجهاز في أول شاشة الأول",
    )
}

fn locked() -> AppError {
    AppError::new(
        "locked",
        "this device's data is locked: type the passphrase to open it (unlock)",
        "بيانات الجهاز مقفولة: اكتب كلمة السر عشان تفتحها",
    )
}

/// A card given by its serial (as `ScanDto.card.serial` has it) or by its
/// printed number.
fn parse_card(text: Option<&str>) -> Result<Option<u64>, AppError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(serial) => Ok(Some(serial)),
        Err(_) => Ok(Some(crate::cards::parse_serial(text)?.get())),
    }
}

// ---------------------------------------------------------------------------
// The session
// ---------------------------------------------------------------------------

/// One device's app, as the shells hold it: `Send + Sync`, called from any
/// thread (the shells call it off their UI and async threads: it blocks on
/// SQLite and, for sync, the network).
pub struct Session {
    inner: Arc<Inner>,
    // Declared after `inner`: dropping it stops and joins the background
    // thread, which may hold the last reference to `inner`.
    background: Mutex<Background>,
}

#[derive(Default)]
struct Background {
    interval: Option<Duration>,
    running: Option<BackgroundSync>,
}

struct Inner {
    dir: PathBuf,
    clock: ClockFn,
    app: RwLock<Option<Arc<App>>>,
    /// When someone last used the app (not the UI's own polling), for the
    /// idle lock.
    last_used_ms: std::sync::atomic::AtomicU64,
    memory: Mutex<SyncMemory>,
    /// Held for a whole sync: never two at once (both would seal the same
    /// events into different records).
    syncing: Mutex<()>,
    listeners: RwLock<Vec<Listener>>,
}

#[derive(Debug, Default)]
struct SyncMemory {
    running: bool,
    last_synced_ms: Option<u64>,
    /// The last sync's failure, if it failed; `None` with `attempted`
    /// false: no sync yet.
    failure: Option<AppError>,
    attempted: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("dir", &self.inner.dir)
            .field("initialised", &self.inner.app().is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked holder leaves plain state behind; carry on with it.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Session {
    /// A session over the data directory `dir`. With a `passphrase` (the
    /// CLI's `QAFILA_PASSPHRASE`) the device's store is opened now, and a
    /// wrong one is an error; without, the session starts locked (or, with
    /// no store yet, waits for `init_device`) and the UI asks.
    pub fn open(
        dir: impl Into<PathBuf>,
        passphrase: Option<&Passphrase>,
        clock: ClockFn,
    ) -> Result<Session, AppError> {
        let dir = dir.into();
        let app = match passphrase {
            Some(passphrase) => match App::open(&dir, passphrase, clock.clone()) {
                Ok(app) => Some(Arc::new(app)),
                Err(e) if e.code == "store_not_initialised" => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let now = clock();
        Ok(Session {
            inner: Arc::new(Inner {
                dir,
                clock,
                app: RwLock::new(app),
                last_used_ms: std::sync::atomic::AtomicU64::new(now),
                memory: Mutex::new(SyncMemory::default()),
                syncing: Mutex::new(()),
                listeners: RwLock::new(Vec::new()),
            }),
            background: Mutex::new(Background::default()),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The device's app, once it exists.
    pub fn app_if_initialised(&self) -> Option<Arc<App>> {
        self.inner.app()
    }

    /// Runs one command: `command` from [`COMMANDS`] with its arguments as
    /// a JSON object (`null` counts as `{}`). Errors: `unknown_command`,
    /// `not_initialised` (anything but `app_status` and `init_device` before
    /// the device exists), `invalid_arguments`, or the command's own.
    pub fn call(&self, command: &str, args: Value) -> Result<Value, AppError> {
        if !COMMANDS.contains(&command) {
            return Err(unknown_command(command));
        }
        self.lock_if_idle();
        if !BEFORE_INIT.contains(&command) && self.inner.app().is_none() {
            return Err(if self.initialised() {
                locked()
            } else {
                not_initialised()
            });
        }
        if !PASSIVE.contains(&command) {
            self.inner
                .last_used_ms
                .store((self.inner.clock)(), std::sync::atomic::Ordering::SeqCst);
        }
        let result = self.dispatch(command, args)?;
        if RECORDING.contains(&command) {
            self.inner.emit(&SessionEvent::DataChanged(DataChangedDto {
                reason: DataChangeReason::Local,
            }));
            self.inner.emit_chip();
            // A convoy joined outside the session (the CLI on the same
            // store) is noticed here.
            self.ensure_background_sync();
        }
        Ok(result)
    }

    /// Adds a listener for this session's events (the desktop shell turns
    /// them into Tauri events).
    pub fn on_change(&self, listener: Listener) {
        self.inner
            .listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// Syncs in the background every `interval` (and right away) once the
    /// device is in a convoy: now if it is, else as soon as it enrolls.
    pub fn start_background_sync(&self, interval: Duration) {
        lock(&self.background).interval = Some(interval);
        self.ensure_background_sync();
    }

    /// Starts the background sync if it was asked for, is not running, and
    /// the device is in a convoy.
    fn ensure_background_sync(&self) {
        let mut background = lock(&self.background);
        let Some(interval) = background.interval else {
            return;
        };
        if background.running.is_some() {
            return;
        }
        let Some(app) = self.inner.app() else {
            return;
        };
        if !app.in_convoy().unwrap_or(false) {
            return;
        }
        let inner = self.inner.clone();
        match BackgroundSync::start_with(interval, move || inner.sync_round(), |_| {}) {
            Ok(running) => background.running = Some(running),
            Err(e) => self.inner.remember_failure(e),
        }
    }

    fn app(&self) -> Result<Arc<App>, AppError> {
        self.inner.app().ok_or_else(not_initialised)
    }

    /// Whether this data directory holds a store (open or locked).
    fn initialised(&self) -> bool {
        crate::protection(&self.inner.dir) != crate::Protection::Missing
    }

    /// Closes the store after the idle time set for this device.
    fn lock_if_idle(&self) {
        let Some(app) = self.inner.app() else {
            return;
        };
        let minutes = app.lock_after_minutes(&self.inner.dir).unwrap_or(0);
        drop(app);
        if minutes == 0 {
            return;
        }
        let last = self
            .inner
            .last_used_ms
            .load(std::sync::atomic::Ordering::SeqCst);
        let now = (self.inner.clock)();
        // A clock set back counts as use, never as years of idleness.
        if now.saturating_sub(last) >= u64::from(minutes) * 60_000 {
            self.lock_now();
        }
    }

    /// Closes the device's store: its key leaves memory, background sync
    /// stops, and every command but `unlock` answers `locked`.
    pub fn lock_now(&self) {
        lock(&self.background).running = None;
        let closed = self
            .inner
            .app
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if closed.is_some() {
            self.inner.emit(&SessionEvent::DataChanged(DataChangedDto {
                reason: DataChangeReason::Locked,
            }));
        }
    }

    fn unlock(&self, passphrase: &Passphrase) -> Result<DeviceDto, AppError> {
        let device = {
            let mut slot = self.inner.app.write().unwrap_or_else(|p| p.into_inner());
            match slot.as_ref() {
                Some(app) => app.device(),
                None => {
                    let app = App::open(&self.inner.dir, passphrase, self.inner.clock.clone())?;
                    let device = app.device();
                    *slot = Some(Arc::new(app));
                    device
                }
            }
        };
        self.inner
            .last_used_ms
            .store((self.inner.clock)(), std::sync::atomic::Ordering::SeqCst);
        self.ensure_background_sync();
        self.inner.emit(&SessionEvent::DataChanged(DataChangedDto {
            reason: DataChangeReason::Local,
        }));
        Ok(device)
    }

    fn app_status(&self) -> Result<AppStatusDto, AppError> {
        let app = self.inner.app();
        let (device, convoys, sites) = match &app {
            Some(app) => (Some(app.device()), app.convoys()?, app.sites()?),
            None => (None, Vec::new(), Vec::new()),
        };
        let protection = crate::protection(&self.inner.dir);
        Ok(AppStatusDto {
            version: VERSION.to_owned(),
            initialised: protection != crate::Protection::Missing,
            locked: app.is_none() && protection != crate::Protection::Missing,
            encrypted: protection == crate::Protection::Encrypted,
            lock_after_minutes: match &app {
                Some(app) => app.lock_after_minutes(&self.inner.dir),
                None => crate::lock_after_minutes(&self.inner.dir).map_err(AppError::from),
            }
            .unwrap_or(crate::DEFAULT_LOCK_AFTER_MINUTES),
            lock_policy_minutes: app.as_ref().and_then(|a| a.lock_policy().ok().flatten()),
            min_passphrase_chars: u32::try_from(crate::MIN_PASSPHRASE_CHARS).unwrap_or(8),
            device,
            convoys,
            sites,
            sync: self.inner.chip()?,
        })
    }

    fn init_device(&self, name: &str, passphrase: &Passphrase) -> Result<DeviceDto, AppError> {
        self.first_store(|| App::init(&self.inner.dir, name, passphrase, self.inner.clock.clone()))
    }

    /// Makes this device's store with `make`, if it has none yet, and
    /// starts its background sync.
    fn first_store(
        &self,
        make: impl FnOnce() -> Result<App, AppError>,
    ) -> Result<DeviceDto, AppError> {
        let device = {
            let mut slot = self.inner.app.write().unwrap_or_else(|p| p.into_inner());
            if slot.is_some() {
                return Err(AppError::new(
                    "already_initialised",
                    "this device is already set up",
                    "الجهاز ده متجهز قبل كده",
                ));
            }
            if self.initialised() {
                return Err(AppError::new(
                    "already_initialised",
                    "this device is already set up: unlock it with its passphrase",
                    "الجهاز ده متجهز قبل كده: افتحه بكلمة السر",
                ));
            }
            let app = make()?;
            let device = app.device();
            *slot = Some(Arc::new(app));
            device
        };
        self.ensure_background_sync();
        Ok(device)
    }

    /// Writes an export to a private temporary directory in the data
    /// directory, reads it back for the UI to save, and deletes it.
    fn export_file(&self, args: &ExportFileArgs) -> Result<FileDto, AppError> {
        use crate::export::{ExportFormat, ExportKind, ExportRequest};
        let app = self.app()?;
        let kind = match args.kind.as_str() {
            "distribution" => ExportKind::Distribution,
            "5w" => ExportKind::FiveW,
            other => {
                return Err(AppError::new(
                    "invalid_arguments",
                    format!(
                        "unknown export `{other}`: use distribution or 5w (the registrar's personal list is made with the command line)"
                    ),
                    "نوع التصدير لازم يكون توزيع أو 5W",
                ));
            }
        };
        let (format, mime) = match args.format.as_str() {
            "csv" => (ExportFormat::Csv, "text/csv; charset=utf-8"),
            "xlsx" => (
                ExportFormat::Xlsx,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            other => {
                return Err(AppError::new(
                    "invalid_arguments",
                    format!("unknown format `{other}`: use csv or xlsx"),
                    "الصيغة لازم تكون csv أو xlsx",
                ));
            }
        };
        let temp = tempfile::Builder::new()
            .prefix(".export-")
            .tempdir_in(&self.inner.dir)
            .map_err(|e| {
                AppError::new(
                    "export_failed",
                    format!(
                        "could not make a temporary file in {}: {e}",
                        self.inner.dir.display()
                    ),
                    "مش قادر أعمل ملف مؤقت: اتأكد إن فيه مساحة على الجهاز",
                )
            })?;
        let hxl = if args.hxl { "-hxl" } else { "" };
        let name = format!(
            "qafila-{}{hxl}-{}-{}.{}",
            kind.code(),
            args.from.trim(),
            args.to.trim(),
            format.code()
        );
        let out = temp.path().join(&name);
        let written = app.export(&ExportRequest {
            kind,
            format: Some(format),
            hxl: args.hxl,
            from: Some(args.from.clone()),
            to: Some(args.to.clone()),
            out: out.clone(),
        })?;
        let bytes = std::fs::read(&out).map_err(|e| {
            AppError::new(
                "export_failed",
                format!("could not read the export back: {e}"),
                "مش قادر أقرا الملف اللي اتصدّر",
            )
        })?;
        Ok(FileDto {
            name,
            mime: mime.to_owned(),
            bytes_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            rows: u32::try_from(written.rows).unwrap_or(u32::MAX),
        })
    }

    fn import_file(&self, args: &ImportFileArgs) -> Result<ImportReportDto, AppError> {
        let app = self.app()?;
        let name = Path::new(args.name.trim())
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let extension = Path::new(&name)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some(format) = crate::import::Format::from_extension(&extension) else {
            return Err(AppError::new(
                "import_format",
                format!(
                    "cannot tell what kind of file `{name}` is: pick a .xlsx, .xls, .ods or .csv file"
                ),
                format!("مش عارف نوع الملف «{name}»: اختار ملف xlsx أو xls أو ods أو csv"),
            ));
        };
        let encoded = args.bytes_base64.trim();
        let encoded = match encoded.split_once(";base64,") {
            Some((prefix, rest)) if prefix.starts_with("data:") => rest,
            _ => encoded,
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| {
                AppError::new(
                    "invalid_arguments",
                    format!("invalid arguments for `import_file`: bytes_base64 is not base64: {e}"),
                    "الملف ماوصلش سليم؛ اختاره تاني",
                )
            })?;
        // Read where it is, in memory: a temporary copy would leave the
        // people's names in clear beside the encrypted store.
        let report = app.import_beneficiary_bytes(&bytes, format, args.dry_run, |_, _| {});
        let mut report = report?;
        report.file = name;
        Ok(report)
    }
}

impl Inner {
    fn app(&self) -> Option<Arc<App>> {
        self.app.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn emit(&self, event: &SessionEvent) {
        let listeners = self.listeners.read().unwrap_or_else(|p| p.into_inner());
        for listener in listeners.iter() {
            listener(event);
        }
    }

    fn emit_chip(&self) {
        if let Ok(chip) = self.chip() {
            self.emit(&SessionEvent::SyncStatus(chip));
        }
    }

    fn remember_failure(&self, error: AppError) {
        let mut memory = lock(&self.memory);
        memory.attempted = true;
        memory.failure = Some(error);
    }

    /// The sync chip now.
    fn chip(&self) -> Result<SyncChipDto, AppError> {
        let (in_convoy, pending) = match self.app() {
            Some(app) if app.in_convoy()? => (true, app.pending_upload()?),
            _ => (false, 0),
        };
        let memory = lock(&self.memory);
        let state = if !in_convoy {
            SyncState::LocalOnly
        } else if memory.running {
            SyncState::Syncing
        } else {
            match &memory.failure {
                Some(e) if e.code == "relay_unreachable" => SyncState::Offline,
                Some(_) => SyncState::Error,
                None if memory.attempted => SyncState::Idle,
                None => SyncState::Never,
            }
        };
        Ok(SyncChipDto {
            state,
            pending,
            last_synced_ms: memory.last_synced_ms,
            error: memory.failure.clone(),
        })
    }

    /// Syncs every convoy once, keeping the chip's state and telling the
    /// listeners; one result per convoy (none outside a convoy).
    fn sync_round(&self) -> Vec<Result<SyncDto, AppError>> {
        let _one_at_a_time = lock(&self.syncing);
        let Some(app) = self.app() else {
            return Vec::new();
        };
        match app.in_convoy() {
            Ok(true) => {}
            Ok(false) => return Vec::new(),
            Err(e) => return vec![Err(e)],
        }
        lock(&self.memory).running = true;
        self.emit_chip();
        let convoys_before = app.convoys().ok();
        let results = crate::background::sync_all(&app);
        let brought = results.iter().any(|r| {
            r.as_ref()
                .is_ok_and(|s| s.downloaded > 0 || s.applied_events > 0 || s.applied_registry > 0)
        });
        let changed = brought || app.convoys().ok() != convoys_before;
        {
            let mut memory = lock(&self.memory);
            memory.running = false;
            memory.attempted = true;
            memory.failure = results.iter().find_map(|r| r.as_ref().err().cloned());
            if memory.failure.is_none() {
                memory.last_synced_ms = Some((self.clock)());
            }
        }
        if changed {
            self.emit(&SessionEvent::DataChanged(DataChangedDto {
                reason: DataChangeReason::Sync,
            }));
        }
        self.emit_chip();
        results
    }
}

// ---------------------------------------------------------------------------
// TypeScript
// ---------------------------------------------------------------------------

/// Where the generated TypeScript lives, from this crate's directory.
pub const BINDINGS_DIR: &str = "../../ui/src/lib/bindings";

/// The generated file that maps each command to its types.
pub const COMMANDS_FILE: &str = "commands.ts";

/// How the TypeScript is rendered: JSON numbers are `number` (counts and
/// milliseconds are far below 2^53; quantities and serials are strings).
fn ts_config() -> Config {
    Config::new().with_large_int("number")
}

/// Collects the declaration file of every exportable type reached.
struct Declarations<'a> {
    cfg: &'a Config,
    seen: HashSet<TypeId>,
    files: BTreeMap<String, String>,
    error: Option<String>,
}

impl TypeVisitor for Declarations<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if !self.seen.insert(TypeId::of::<T>()) {
            return;
        }
        match T::output_path() {
            Some(path) => {
                match T::export_to_string(self.cfg) {
                    Ok(text) => {
                        self.files.insert(path.to_string_lossy().into_owned(), text);
                    }
                    Err(e) => {
                        self.error
                            .get_or_insert_with(|| format!("{}: {e}", std::any::type_name::<T>()));
                    }
                }
                T::visit_dependencies(self);
            }
            // A container (`Vec<T>`, `Option<T>`): what it holds.
            None => {
                T::visit_dependencies(self);
                T::visit_generics(self);
            }
        }
    }
}

/// Collects the names of the exportable types a type expression mentions
/// directly (`Array<X>` mentions `X`), for `commands.ts`'s imports.
struct Mentions<'a> {
    cfg: &'a Config,
    names: BTreeSet<String>,
}

impl TypeVisitor for Mentions<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if T::output_path().is_some() {
            self.names.insert(T::ident(self.cfg));
        } else {
            T::visit_generics(self);
        }
    }
}

/// Every TypeScript file of `ui/src/lib/bindings/`: file name → content.
/// One file per argument and result type (and each type they use), named
/// after the type, plus [`COMMANDS_FILE`] with the `Commands` map, the
/// `CommandName` union, `COMMAND_NAMES` and the `Events` map.
pub fn typescript_bindings() -> Result<BTreeMap<String, String>, String> {
    let cfg = ts_config();
    let mut declarations = Declarations {
        cfg: &cfg,
        seen: HashSet::new(),
        files: BTreeMap::new(),
        error: None,
    };
    visit_command_types(&mut declarations);
    declarations.visit::<SyncChipDto>();
    declarations.visit::<DataChangedDto>();
    if let Some(error) = declarations.error {
        return Err(error);
    }
    let mut files = declarations.files;

    let mut mentions = Mentions {
        cfg: &cfg,
        names: BTreeSet::new(),
    };
    visit_command_types(&mut mentions);
    mentions.visit::<SyncChipDto>();
    mentions.visit::<DataChangedDto>();

    let mut ts = String::new();
    ts.push_str(
        "// Generated from crates/qafila-app/src/rpc.rs by\n\
         // `QAFILA_WRITE_BINDINGS=1 cargo test -p qafila-app bindings_are_up_to_date`. Do not edit this file manually.\n",
    );
    for name in &mentions.names {
        ts.push_str(&format!("import type {{ {name} }} from \"./{name}\";\n"));
    }
    ts.push_str(
        "\n/** Every command of `Session::call`: its arguments and its result. */\n\
         export type Commands = {\n",
    );
    for (name, args, result) in command_signatures(&cfg) {
        ts.push_str(&format!(
            "  {name}: {{ args: {args}; result: {result} }};\n"
        ));
    }
    ts.push_str("};\n\n/** A command's name. */\nexport type CommandName = keyof Commands;\n\n");
    ts.push_str("/** Every command's name, in the contract's order. */\n");
    ts.push_str("export const COMMAND_NAMES: readonly CommandName[] = [\n");
    for name in COMMANDS {
        ts.push_str(&format!("  \"{name}\",\n"));
    }
    ts.push_str("];\n\n");
    ts.push_str(&format!(
        "/** Events the desktop app pushes (Tauri `emit`); the browser bridge polls\n \
         * `sync_status` instead. */\n\
         export type Events = {{\n  \"sync-status\": {};\n  \"data-changed\": {};\n}};\n",
        SyncChipDto::name(&cfg),
        DataChangedDto::name(&cfg)
    ));
    files.insert(COMMANDS_FILE.to_owned(), ts);
    Ok(files)
}

/// Writes [`typescript_bindings`] into `dir`, removing `.ts` files there
/// that no type produces any more.
pub fn write_typescript_bindings(dir: &Path) -> Result<(), String> {
    let files = typescript_bindings()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let existing = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in existing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".ts") && !files.contains_key(&name) {
            std::fs::remove_file(entry.path()).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    for (name, content) in &files {
        std::fs::write(dir.join(name), content).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bindings_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS_DIR)
    }

    /// Compares ui/src/lib/bindings with what the Rust types generate, so
    /// CI fails when a type changed without its TypeScript. With
    /// `QAFILA_WRITE_BINDINGS=1` it writes them instead: a plain `cargo test`
    /// never rewrites the UI's files behind anyone's back, so the check
    /// always compares against what is committed.
    #[test]
    fn bindings_are_up_to_date() {
        if std::env::var_os("QAFILA_WRITE_BINDINGS").is_some() {
            write_typescript_bindings(&bindings_dir()).unwrap();
        }
        let expected = typescript_bindings().unwrap();
        let dir = bindings_dir();
        let mut stale = Vec::new();
        for (name, content) in &expected {
            match std::fs::read_to_string(dir.join(name)) {
                Ok(found) if found == *content => {}
                Ok(_) => stale.push(format!("{name} differs")),
                Err(_) => stale.push(format!("{name} is missing")),
            }
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".ts") && !expected.contains_key(&name) {
                    stale.push(format!("{name} is no longer generated"));
                }
            }
        }
        assert!(
            stale.is_empty(),
            "ui/src/lib/bindings is out of date ({}): run `QAFILA_WRITE_BINDINGS=1 cargo test -p qafila-app bindings_are_up_to_date` and commit ui/src/lib/bindings",
            stale.join("; ")
        );
    }

    #[test]
    fn every_command_has_a_signature_and_the_table_has_no_duplicates() {
        let cfg = ts_config();
        let signatures = command_signatures(&cfg);
        assert_eq!(signatures.len(), COMMANDS.len());
        let unique: BTreeSet<&str> = COMMANDS.iter().copied().collect();
        assert_eq!(unique.len(), COMMANDS.len());
        for name in BEFORE_INIT.iter().chain(RECORDING) {
            assert!(COMMANDS.contains(name), "{name}");
        }
    }

    #[test]
    fn cards_are_taken_by_serial_or_printed_number() {
        assert_eq!(parse_card(None).unwrap(), None);
        assert_eq!(parse_card(Some("  ")).unwrap(), None);
        assert_eq!(parse_card(Some("4294967297")).unwrap(), Some(4_294_967_297));
        let printed = qafila_cards::card_number(qafila_domain::ids::CardSerial::new(4_294_967_297));
        assert_eq!(parse_card(Some(&printed)).unwrap(), Some(4_294_967_297));
        assert_eq!(
            parse_card(Some("not a card")).unwrap_err().code,
            "invalid_card_number"
        );
    }
}
