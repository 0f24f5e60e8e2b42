//! `qafila`: the command line over Qafila's core, for registrars, volunteers,
//! convoy leads and operators.
//!
//! Layout: [`Cli`] is the clap parser with the global `--json` and
//! `--data-dir` flags; each subcommand group lives in its own module and
//! returns `anyhow::Result<()>`. Device commands open the store through the
//! application façade ([`qafila_app::App`]) and never touch storage directly.
//!
//! Output contract, shared by every subcommand through [`output::Output`]:
//! - text for a person by default, or exactly one JSON object on stdout with
//!   `--json`;
//! - a problem the user can fix is a [`failure::Failure`] with a stable code and
//!   a message in English and Arabic: it goes to stderr (and, with `--json`,
//!   as `{"error": {...}}` to stdout) and the exit status is 1;
//! - usage mistakes are clap's, with exit status 2.
//!
//! This binary is an edge: it may read the clock, files and the network, and
//! passes what it read (such as today's date) into the pure domain crate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod beneficiary;
mod beneficiary_import;
mod cards;
mod convoy;
mod demo;
mod device;
mod distribution;
mod export;
mod failure;
mod keys;
mod nid;
mod output;
mod report;
mod selftest;
mod stock;
mod ui;

use output::Output;

/// Qafila (قافلة): offline-first aid distribution.
#[derive(Debug, Parser)]
#[command(name = "qafila", version, propagate_version = true)]
struct Cli {
    /// Print exactly one JSON object on stdout instead of text, for scripts.
    #[arg(long, global = true)]
    json: bool,

    /// The device's data directory (default: ~/.local/share/qafila).
    #[arg(long, global = true, env = "QAFILA_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create this device's store.
    Init(device::InitArgs),
    /// This device's passphrase and idle lock.
    #[command(subcommand)]
    Device(device::DeviceCommand),
    /// Back up the lead's keys, or carry a convoy on from a backup.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Egyptian national IDs (الرقم القومي).
    #[command(subcommand)]
    Nid(nid::NidCommand),
    /// The registry: add, import, search, show and erase beneficiaries.
    #[command(subcommand)]
    Beneficiary(beneficiary::BeneficiaryCommand),
    /// Beneficiary cards: issuing keys, issue, reprint, reissue, revoke, sheets, verify.
    #[command(subcommand)]
    Cards(cards::CardsCommand),
    /// Scan a card at a site: verify it offline, check the holder in, and show
    /// what the household may still receive.
    Scan(cards::ScanArgs),
    /// Check a beneficiary in at a site and show what the household may receive.
    Checkin(distribution::CheckinArgs),
    /// Hand items to a beneficiary's household.
    Handout(distribution::HandoutArgs),
    /// Cancel an earlier check-in, hand-out or stock record, with a reason.
    Void(distribution::VoidArgs),
    /// Stock movements and counts at a site.
    #[command(subcommand)]
    Stock(stock::StockCommand),
    /// A site's day: stock per item and anomalies.
    #[command(subcommand)]
    Day(stock::DayCommand),
    /// Distribution rounds and their entitlements.
    #[command(subcommand)]
    Round(stock::RoundCommand),
    /// Everything the lead must review; `--resolve ID` marks one explained
    /// (with `--note`) or a loss (`--loss`).
    Anomalies(stock::AnomaliesArgs),
    /// Where a site is and who runs it (for reports and exports).
    #[command(subcommand)]
    Site(stock::SiteCommand),
    /// Export distributions (CSV or XLSX, optionally with HXL tags), the 5W
    /// summary, or a registrar's personal-data list.
    Export(export::ExportArgs),
    /// Printable reports: the day report (HTML or PDF).
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// HQ: reach per governorate, association, item and day across every
    /// convoy this device is enrolled in, each household counted once.
    #[command(subcommand)]
    Hq(HqCommand),
    /// Convoys: create, codes, devices, approve, revoke, publish.
    #[command(subcommand)]
    Convoy(convoy::ConvoyCommand),
    /// Join a convoy with a code from its lead.
    Enroll(convoy::EnrollArgs),
    /// Sync now with the convoy's relay; prints what moved.
    Sync(convoy::SyncArgs),
    /// Run a relay, or forward between relays.
    #[command(subcommand)]
    Relay(convoy::RelayCommand),
    /// The app's UI and commands over loopback HTTP, for browser tests.
    #[command(subcommand)]
    Ui(ui::UiCommand),
    /// Set up a small demo convoy (for `make run`): a lead, this device,
    /// families with printable cards and stock, synced through RELAY.
    Demo(demo::DemoArgs),
    /// Diagnostics for the field and for crash tests.
    #[command(subcommand, hide = true)]
    Selftest(SelftestCommand),
}

#[derive(Debug, Subcommand)]
enum HqCommand {
    /// Sum reach per governorate, association, item and day.
    Rollup(export::RollupArgs),
}

#[derive(Debug, Subcommand)]
enum SelftestCommand {
    /// Record hand-outs in a loop, printing each acknowledged event id.
    Handouts(selftest::HandoutsArgs),
}

/// Where the device's store lives when `--data-dir` is not given.
fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("qafila");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/qafila")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = Output::new(cli.json);
    let dir = cli.data_dir.unwrap_or_else(default_data_dir);
    let result = match cli.command {
        Command::Init(args) => device::init(&dir, args, &output),
        Command::Device(command) => device::run(&dir, command, &output),
        Command::Keys(command) => keys::run(&dir, command, &output),
        Command::Nid(command) => nid::run(command, &output),
        Command::Beneficiary(command) => beneficiary::run(&dir, command, &output),
        Command::Cards(command) => cards::run(&dir, command, &output),
        Command::Scan(args) => cards::scan(&dir, args, &output),
        Command::Checkin(args) => distribution::checkin(&dir, args, &output),
        Command::Handout(args) => distribution::handout(&dir, args, &output),
        Command::Void(args) => distribution::void(&dir, args, &output),
        Command::Stock(command) => stock::stock(&dir, command, &output),
        Command::Day(command) => stock::day(&dir, command, &output),
        Command::Round(command) => stock::round(&dir, command, &output),
        Command::Anomalies(args) => stock::anomalies(&dir, args, &output),
        Command::Site(command) => stock::site(&dir, command, &output),
        Command::Export(args) => export::export(&dir, args, &output),
        Command::Report(command) => report::run(&dir, command, &output),
        Command::Hq(HqCommand::Rollup(args)) => export::rollup(&dir, args, &output),
        Command::Convoy(command) => convoy::convoy(&dir, command, &output),
        Command::Enroll(args) => convoy::enroll(&dir, args, &output),
        Command::Sync(args) => convoy::sync(&dir, args, &output),
        Command::Relay(command) => convoy::relay(&dir, command, &output),
        Command::Ui(command) => ui::run(&dir, command),
        Command::Demo(args) => demo::run(&dir, args, &output),
        Command::Selftest(SelftestCommand::Handouts(args)) => {
            selftest::handouts(&dir, args, &output)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            failure::report(&error, &output);
            ExitCode::FAILURE
        }
    }
}
