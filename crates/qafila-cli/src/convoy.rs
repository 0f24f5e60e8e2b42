//! `qafila convoy ...`, `qafila enroll`, `qafila sync` and `qafila relay ...`:
//! convoys, devices and sync through a blind relay.

use std::io::{self, Write};
use std::path::Path;

use clap::{Args, Subcommand};
use qafila_app::convoy::{ConvoyDto, ForwardDto, MemberDto, RevokedDto, SyncDto};
use serde::Serialize;

use crate::device::open;
use crate::failure::Failure;
use crate::output::{Output, Report};

#[derive(Debug, Subcommand)]
pub enum ConvoyCommand {
    /// Create a convoy led by this device; prints enrollment codes.
    Create(CreateArgs),
    /// Make more one-time enrollment codes (lead).
    Invite(InviteArgs),
    /// The convoys this device belongs to.
    List,
    /// The convoy's devices: role, status and fingerprint, as the lead
    /// certified them.
    Devices(Which),
    /// Let an enrolled device sync, with a role (lead). Checks its keys are
    /// the ones it enrolled with: by its binding to this lead's code, or by
    /// the fingerprint its own screen shows (--fingerprint).
    Approve(ApproveArgs),
    /// Change an approved device's role (lead).
    Role(RoleArgs),
    /// Refuse a device for good, rotate the convoy key, and tell every relay
    /// the convoy is published on (lead).
    Revoke(DeviceArgs),
    /// Register the convoy on another relay, e.g. a site relay (lead).
    Publish(PublishArgs),
    /// Make every device of the convoy lock after at most MINUTES without
    /// use, whatever its own setting (lead).
    LockAfter {
        /// Idle minutes, 1 to 1440.
        minutes: u32,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The convoy's name.
    #[arg(long)]
    name: String,
    /// Its date, YYYY-MM-DD.
    #[arg(long)]
    date: String,
    /// A site (village) on its route; repeat for several.
    #[arg(long = "site", value_name = "SITE")]
    sites: Vec<String>,
    /// The relay's address, e.g. https://relay.example.org.
    #[arg(long)]
    relay: String,
    /// How many one-time codes to print (one per volunteer device).
    #[arg(long, default_value_t = 1)]
    codes: usize,
    /// The convoy's time zone (IANA name): its days and every time shown
    /// follow it, whatever zone its phones are set to.
    #[arg(long, default_value = "Africa/Cairo")]
    zone: String,
    /// When its working day ends (HH:MM, before noon): an evening that runs
    /// past midnight stays one day.
    #[arg(long, default_value = "04:00")]
    day_ends: String,
    /// The relay operator's convoy-creation token, if the relay needs one.
    #[arg(long, env = "QAFILA_RELAY_TOKEN", hide_env_values = true)]
    relay_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct Which {
    /// The convoy (id prefix or name); default: the newest.
    #[arg(long)]
    convoy: Option<String>,
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    #[command(flatten)]
    which: Which,
    /// How many codes.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Hours each code stays valid (default 12, at most 72).
    #[arg(long)]
    hours: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The device: its id (or the start of it) or its name.
    device: String,
    /// What it may do: volunteer (check-ins and hand-outs), registrar (the
    /// registry and cards) or storekeeper (stock and the day's close).
    #[arg(long, default_value = "volunteer")]
    role: String,
    /// The fingerprint the device's own screen shows (`qafila enroll`
    /// printed it): needed when it did not enroll with this device's code.
    #[arg(long)]
    fingerprint: Option<String>,
    #[command(flatten)]
    which: Which,
}

#[derive(Debug, Args)]
pub struct RoleArgs {
    /// The device: its id (or the start of it) or its name.
    device: String,
    /// volunteer, registrar or storekeeper.
    role: String,
    #[command(flatten)]
    which: Which,
}

#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The device: its id (or the start of it) or its name.
    device: String,
    #[command(flatten)]
    which: Which,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The other relay's address.
    #[arg(long)]
    relay: String,
    /// That relay's convoy-creation token, if it needs one.
    #[arg(long, env = "QAFILA_RELAY_TOKEN", hide_env_values = true)]
    relay_token: Option<String>,
    #[command(flatten)]
    which: Which,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The relay's address, as the convoy lead gave it (a site relay's
    /// with its #sha256= part).
    #[arg(long, required_unless_present = "invite", conflicts_with = "invite")]
    relay: Option<String>,
    /// The code the convoy lead gave you.
    #[arg(long, required_unless_present = "invite", conflicts_with = "invite")]
    code: Option<String>,
    /// The invite link instead (`qafila:enroll?relay=…&code=…`, what the
    /// lead's QR code holds).
    #[arg(long)]
    invite: Option<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    which: Which,
    /// Sync through this relay instead of the convoy's (a site relay).
    #[arg(long)]
    relay: Option<String>,
    /// Tries while the relay is unreachable, with backoff (1: no retry).
    #[arg(long, default_value_t = 1)]
    attempts: u32,
    /// Keep syncing in the background until interrupted: every --interval
    /// seconds, and with backoff while the relay is unreachable.
    #[arg(long, conflicts_with_all = ["relay", "attempts"])]
    watch: bool,
    /// Seconds between syncs with --watch.
    #[arg(long, default_value_t = 30, requires = "watch")]
    interval: u64,
}

#[derive(Debug, Subcommand)]
pub enum RelayCommand {
    /// Run a relay.
    Serve(qafila_relay::Flags),
    /// Copy records both ways between two relays (lead's device).
    Forward(ForwardArgs),
}

#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// One relay.
    #[arg(long)]
    from: String,
    /// The other.
    #[arg(long)]
    to: String,
    #[command(flatten)]
    which: Which,
}

pub fn convoy(dir: &Path, command: ConvoyCommand, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    match command {
        ConvoyCommand::Create(a) => output.emit(
            &app.convoy_create(
                &qafila_app::convoy::NewConvoy {
                    name: &a.name,
                    day: &a.date,
                    sites: &a.sites,
                    codes: a.codes,
                    time: qafila_app::time::convoy_time(&a.zone, &a.day_ends)
                        .map_err(Failure::from)?,
                },
                &a.relay,
                a.relay_token.as_deref(),
            )
            .map_err(Failure::from)?,
        ),
        ConvoyCommand::Invite(a) => output.emit(
            &app.convoy_invite(a.which.convoy.as_deref(), a.count, a.hours)
                .map_err(Failure::from)?,
        ),
        ConvoyCommand::List => output.emit(&Convoys {
            convoys: app.convoys().map_err(Failure::from)?,
        }),
        ConvoyCommand::Devices(w) => output.emit(&Devices {
            devices: app
                .convoy_devices(w.convoy.as_deref())
                .map_err(Failure::from)?,
        }),
        ConvoyCommand::Approve(a) => output.emit(
            &app.convoy_approve(
                a.which.convoy.as_deref(),
                &a.device,
                qafila_app::convoy::parse_role(&a.role).map_err(Failure::from)?,
                a.fingerprint.as_deref(),
            )
            .map_err(Failure::from)?,
        ),
        ConvoyCommand::Role(a) => output.emit(
            &app.convoy_approve(
                a.which.convoy.as_deref(),
                &a.device,
                qafila_app::convoy::parse_role(&a.role).map_err(Failure::from)?,
                None,
            )
            .map_err(Failure::from)?,
        ),
        ConvoyCommand::Revoke(a) => output.emit(
            &app.convoy_revoke(a.which.convoy.as_deref(), &a.device)
                .map_err(Failure::from)?,
        ),
        ConvoyCommand::LockAfter { minutes } => output.emit(&LockPolicy {
            minutes,
            event: app.set_lock_policy(minutes).map_err(Failure::from)?.event,
        }),
        ConvoyCommand::Publish(a) => output.emit(
            &app.convoy_publish(
                a.which.convoy.as_deref(),
                &a.relay,
                a.relay_token.as_deref(),
            )
            .map_err(Failure::from)?,
        ),
    }
}

#[derive(Debug, Serialize)]
struct LockPolicy {
    minutes: u32,
    event: String,
}

impl Report for LockPolicy {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "Every device of the convoy locks after at most {} idle minutes, once it syncs / كل أجهزة القافلة هتتقفل بعد {} دقيقة من غير استخدام على الأكتر، بعد ما تزامن",
            self.minutes, self.minutes
        )
    }
}

pub fn enroll(dir: &Path, args: EnrollArgs, output: &Output) -> anyhow::Result<()> {
    let (relay, code) = match (args.invite, args.relay, args.code) {
        (Some(link), _, _) => qafila_sync::enrollment::parse_invite(&link)
            .map_err(|e| Failure::from(qafila_app::AppError::from(e)))?,
        (None, Some(relay), Some(code)) => (relay, code),
        _ => anyhow::bail!("give --relay and --code, or --invite"),
    };
    let app = open(dir)?;
    let convoy = app.enroll(&relay, &code).map_err(Failure::from)?;
    output.emit(&Enrolled {
        fingerprint: app.fingerprint().map_err(Failure::from)?,
        convoy,
    })
}

pub fn sync(dir: &Path, args: SyncArgs, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    if args.watch {
        return watch(app, args.interval, *output);
    }
    output.emit(
        &app.sync(
            args.which.convoy.as_deref(),
            args.relay.as_deref(),
            args.attempts,
        )
        .map_err(Failure::from)?,
    )
}

/// `qafila sync --watch`: the background sync, in the foreground, one line
/// (or JSON object) per attempt, until SIGINT or SIGTERM.
fn watch(app: qafila_app::App, interval: u64, output: Output) -> anyhow::Result<()> {
    let app = std::sync::Arc::new(app);
    let runner = qafila_app::background::BackgroundSync::start(
        app,
        std::time::Duration::from_secs(interval.max(1)),
        move |result| match result {
            Ok(report) => {
                let _ = output.emit(report);
            }
            Err(error) => {
                let failure = Failure::from(error.clone());
                eprintln!(
                    "sync failed [{}]: {} — will retry",
                    failure.code, failure.message
                );
            }
        },
    )
    .map_err(Failure::from)?;
    runner.trigger();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(qafila_relay::stop_signal());
    drop(runner);
    Ok(())
}

pub fn relay(dir: &Path, command: RelayCommand, output: &Output) -> anyhow::Result<()> {
    match command {
        RelayCommand::Serve(args) => serve(args),
        RelayCommand::Forward(args) => {
            let app = open(dir)?;
            output.emit(
                &app.relay_forward(args.which.convoy.as_deref(), &args.from, &args.to)
                    .map_err(Failure::from)?,
            )
        }
    }
}

fn serve(flags: qafila_relay::Flags) -> anyhow::Result<()> {
    let config = flags.load().map_err(|e| Failure {
        code: "relay_config",
        message: e.to_string(),
        message_ar: "إعدادات الخادم غير صحيحة".into(),
    })?;
    qafila_relay::run(config).map_err(|e| Failure {
        code: "relay_failed",
        message: e.to_string(),
        message_ar: "توقف الخادم بسبب خطأ".into(),
    })?;
    Ok(())
}

#[derive(Serialize)]
struct Convoys {
    convoys: Vec<ConvoyDto>,
}

#[derive(Serialize)]
struct Devices {
    devices: Vec<MemberDto>,
}

/// What `qafila enroll` prints: the convoy, and this device's fingerprint
/// for the lead to compare.
#[derive(Serialize)]
struct Enrolled {
    #[serde(flatten)]
    convoy: ConvoyDto,
    fingerprint: String,
}

impl Report for Enrolled {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        self.convoy.write_text(out)?;
        writeln!(
            out,
            "Show the lead this device's fingerprint / اعرض البصمة دي على قائد القافلة:"
        )?;
        writeln!(out, "  {}", self.fingerprint)?;
        writeln!(
            out,
            "  lead key / مفتاح القائد  {}",
            self.convoy.lead_fingerprint
        )
    }
}

impl Report for ConvoyDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let name = if self.name.is_empty() {
            "(name arrives with the first sync)"
        } else {
            &self.name
        };
        writeln!(out, "Convoy «{name}» {} / القافلة", self.day)?;
        writeln!(out, "  id      {}", self.id)?;
        writeln!(out, "  relay   {}", self.relay)?;
        writeln!(out, "  role    {}  status {}", self.my_role, self.status)?;
        for relay in &self.relays {
            writeln!(out, "  also on {relay}")?;
        }
        if !self.sites.is_empty() {
            writeln!(out, "  sites   {}", self.sites.join("، "))?;
        }
        for code in &self.codes {
            writeln!(out, "  enrollment code / كود التسجيل: {code}")?;
            // The link carries the relay's address with its certificate pin:
            // `qafila enroll --invite LINK`, or the app's QR code.
            writeln!(
                out,
                "    invite: {}",
                qafila_app::convoy::invite_link(&self.relay, code)
            )?;
        }
        if self.status == "pending" {
            writeln!(
                out,
                "Waiting for the lead's approval / في انتظار موافقة القائد"
            )?;
        }
        Ok(())
    }
}

impl Report for Convoys {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.convoys.is_empty() {
            return writeln!(out, "No convoy yet / لا توجد قافلة بعد");
        }
        for c in &self.convoys {
            writeln!(
                out,
                "{}  {}  {}  {}  {}",
                c.id, c.day, c.my_role, c.status, c.name
            )?;
        }
        Ok(())
    }
}

impl Report for MemberDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{} «{}» is now {} ({}) / الجهاز: {}",
            self.device, self.name, self.status, self.role, self.status
        )?;
        writeln!(out, "  fingerprint / البصمة  {}", self.fingerprint)
    }
}

impl Report for RevokedDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        self.member.write_text(out)?;
        writeln!(
            out,
            "  its records after #{} count nowhere; the convoy key was rotated",
            self.valid_through
        )?;
        for relay in &self.unreached {
            writeln!(
                out,
                "  not reached: {relay} — publish there again (`qafila convoy publish --relay {relay}`)"
            )?;
        }
        Ok(())
    }
}

impl Report for Devices {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        for d in &self.devices {
            let binding = match d.bound {
                Some(true) => "  enrolled with this device's code",
                Some(false) => "  KEYS DO NOT MATCH ITS CODE: do not approve",
                None => "",
            };
            writeln!(
                out,
                "{}  {:<11} {:<8} {}  {}{binding}",
                d.device, d.role, d.status, d.fingerprint, d.name
            )?;
        }
        Ok(())
    }
}

impl Report for SyncDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "Synced with {} / تمت المزامنة", self.relay)?;
        writeln!(
            out,
            "  sent      {} new records ({} events, {} registry entries sealed)",
            self.uploaded, self.sealed_events, self.sealed_registry
        )?;
        writeln!(
            out,
            "  received  {} records: {} events, {} registry entries",
            self.downloaded, self.applied_events, self.applied_registry
        )?;
        if self.quarantined > 0 {
            writeln!(
                out,
                "  set aside {} records their senders may not send, or that could not be read (see `qafila anomalies`)",
                self.quarantined
            )?;
        }
        if self.future_stamps > 0 {
            writeln!(
                out,
                "  {} events are stamped ahead of this device's time: a phone's clock runs fast; its time was not taken (see `qafila anomalies`)",
                self.future_stamps
            )?;
        }
        for waiting in &self.waiting {
            writeln!(out, "  waiting: {waiting}")?;
        }
        if let Some(epoch) = self.waiting_for_key {
            writeln!(
                out,
                "  nothing new was sealed: waiting for convoy key generation {epoch} (a device was revoked); sync again with the convoy's relay"
            )?;
        }
        Ok(())
    }
}

impl Report for ForwardDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "Forwarded {} records / تم تمرير {} سجل",
            self.moved, self.moved
        )?;
        if self.refused > 0 {
            writeln!(
                out,
                "  {} records did not check out and were not copied",
                self.refused
            )?;
        }
        Ok(())
    }
}
