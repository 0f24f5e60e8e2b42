//! `qafila stock ...`, `qafila day status`, `qafila round ...`,
//! `qafila anomalies`: the convoy lead's stock and review commands.

use std::io::{self, Write};
use std::path::Path;

use clap::{Args, Subcommand};
use qafila_app::dto::{AnomalyDto, DayStatusDto, RoundDto};
use qafila_app::stock::{Movement, StockRequest};
use serde::Serialize;

use crate::device::open;
use crate::failure::Failure;
use crate::output::{Output, Report};

#[derive(Debug, Args)]
pub struct MovementArgs {
    /// The site (the source, for a transfer).
    #[arg(long)]
    site: String,
    /// Item code.
    #[arg(long)]
    item: String,
    /// Quantity.
    #[arg(long)]
    qty: String,
    /// Medicine lot number.
    #[arg(long)]
    lot: Option<String>,
    /// Medicine lot expiry, YYYY-MM-DD.
    #[arg(long)]
    expiry: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StockCommand {
    /// Stock arrived at the site (from a waybill).
    Load {
        #[command(flatten)]
        movement: MovementArgs,
        /// Waybill number.
        #[arg(long)]
        waybill: Option<String>,
    },
    /// Stock moved from this site to another.
    Transfer {
        #[command(flatten)]
        movement: MovementArgs,
        /// The destination site.
        #[arg(long)]
        to: String,
    },
    /// Stock sent back to the warehouse.
    Return {
        #[command(flatten)]
        movement: MovementArgs,
    },
    /// Stock lost or written off.
    Loss {
        #[command(flatten)]
        movement: MovementArgs,
        /// damaged, spoiled, expired, stolen, missing, other.
        #[arg(long)]
        reason: String,
        /// Details (required with `other`).
        #[arg(long)]
        note: Option<String>,
    },
    /// A physical count of what is left.
    Count {
        /// The site.
        #[arg(long)]
        site: String,
        /// Item code.
        #[arg(long)]
        item: String,
        /// What was counted.
        #[arg(long)]
        qty: String,
        /// Why it differs from expected: counting_error, damaged, spoiled,
        /// theft, unrecorded_hand_out, unrecorded_delivery, other.
        #[arg(long)]
        reason: Option<String>,
        /// Details (required with `other`).
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DayCommand {
    /// Per item: opening, loaded, handed out, returned, lost, expected,
    /// counted, variance; and the anomalies.
    Status {
        /// The site.
        #[arg(long)]
        site: String,
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoundCommand {
    /// Create a round and make it the current one.
    Create {
        /// Its name.
        name: String,
        /// ITEM=RULE: `food_box=1` per household, `blanket=1/2` one per two
        /// members rounded up, `checkup=1/person`, optional `,cap=N`.
        #[arg(long = "entitlement", value_name = "ITEM=RULE")]
        entitlements: Vec<String>,
        /// Create it without making it current.
        #[arg(long)]
        not_current: bool,
    },
    /// List rounds and their entitlements.
    List,
}

fn request(m: MovementArgs) -> StockRequest {
    StockRequest {
        site: m.site,
        item: m.item,
        qty: m.qty,
        lot: m.lot,
        expiry: m.expiry,
        ..StockRequest::default()
    }
}

pub fn stock(dir: &Path, command: StockCommand, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    let recorded = match command {
        StockCommand::Load { movement, waybill } => app.stock(
            Movement::Load,
            StockRequest {
                waybill,
                ..request(movement)
            },
        ),
        StockCommand::Transfer { movement, to } => app.stock(
            Movement::Transfer,
            StockRequest {
                to: Some(to),
                ..request(movement)
            },
        ),
        StockCommand::Return { movement } => app.stock(Movement::Return, request(movement)),
        StockCommand::Loss {
            movement,
            reason,
            note,
        } => app.stock(
            Movement::Loss,
            StockRequest {
                reason: Some(reason),
                note,
                ..request(movement)
            },
        ),
        StockCommand::Count {
            site,
            item,
            qty,
            reason,
            note,
        } => app.count(&site, &item, &qty, reason.as_deref(), note),
    }
    .map_err(Failure::from)?;
    output.emit(&recorded)
}

pub fn day(dir: &Path, command: DayCommand, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    match command {
        DayCommand::Status { site, date } => output.emit(
            &app.day_status(&site, date.as_deref())
                .map_err(Failure::from)?,
        ),
    }
}

pub fn round(dir: &Path, command: RoundCommand, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    match command {
        RoundCommand::Create {
            name,
            entitlements,
            not_current,
        } => output.emit(
            &app.create_round(&name, &entitlements, !not_current)
                .map_err(Failure::from)?,
        ),
        RoundCommand::List => output.emit(&Rounds {
            rounds: app.rounds().map_err(Failure::from)?,
        }),
    }
}

pub fn anomalies(dir: &Path, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    output.emit(&Anomalies {
        anomalies: app.anomalies().map_err(Failure::from)?,
    })
}

fn write_anomalies(out: &mut dyn Write, anomalies: &[AnomalyDto]) -> io::Result<()> {
    if anomalies.is_empty() {
        return writeln!(out, "No anomalies / لا توجد ملاحظات");
    }
    for a in anomalies {
        writeln!(out, "[{}] {}", a.code, a.message)?;
        writeln!(out, "    {}", a.message_ar)?;
        writeln!(out, "    events: {}", a.events.join(", "))?;
    }
    Ok(())
}

impl Report for DayStatusDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let closed = if self.closed {
            " (closed / مقفول)"
        } else {
            ""
        };
        writeln!(out, "{} — {}{closed}", self.site, self.date)?;
        writeln!(
            out,
            "  {:<10} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7} {:>8}",
            "item",
            "opening",
            "loaded",
            "in",
            "out",
            "handed",
            "return",
            "lost",
            "expected",
            "counted",
            "variance"
        )?;
        for l in &self.items {
            writeln!(
                out,
                "  {:<10} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7} {:>8} {}",
                l.item,
                l.opening,
                l.loaded,
                l.transferred_in,
                l.transferred_out,
                l.handed_out,
                l.returned,
                l.lost,
                l.expected,
                l.counted.as_deref().unwrap_or("-"),
                l.variance.as_deref().unwrap_or("-"),
                l.variance_reason.unwrap_or("")
            )?;
        }
        writeln!(out, "Anomalies:")?;
        write_anomalies(out, &self.anomalies)
    }
}

impl Report for RoundDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let current = if self.current {
            " (current / الحالية)"
        } else {
            ""
        };
        writeln!(out, "{}{current}", self.name)?;
        writeln!(out, "  id {}", self.id)?;
        for e in &self.entitlements {
            writeln!(out, "  {e}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct Rounds {
    rounds: Vec<RoundDto>,
}

impl Report for Rounds {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        for r in &self.rounds {
            r.write_text(out)?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct Anomalies {
    anomalies: Vec<AnomalyDto>,
}

impl Report for Anomalies {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        write_anomalies(out, &self.anomalies)
    }
}
