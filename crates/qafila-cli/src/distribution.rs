//! `qafila checkin`, `qafila handout`, `qafila void`: the volunteer's table.

use std::io::{self, Write};
use std::path::Path;

use clap::Args;
use qafila_app::distribution::HandOutRequest;
use qafila_app::dto::{CheckInDto, EntitlementDto, HandOutDto, RecordedDto};

use crate::device::open;
use crate::failure::Failure;
use crate::output::{Output, Report};

#[derive(Debug, Args)]
pub struct CheckinArgs {
    /// Beneficiary id or national ID.
    beneficiary: String,
    /// The distribution site.
    #[arg(long)]
    site: String,
}

#[derive(Debug, Args)]
pub struct HandoutArgs {
    /// Beneficiary id or national ID.
    beneficiary: String,
    /// Item code: food_box, hot_meal, meat_kg, blanket, medicine, checkup.
    #[arg(long)]
    item: String,
    /// Quantity (1, 2, 1.5 for meat).
    #[arg(long)]
    qty: String,
    /// The distribution site.
    #[arg(long)]
    site: String,
    /// Medicine lot number.
    #[arg(long)]
    lot: Option<String>,
    /// Medicine lot expiry, YYYY-MM-DD.
    #[arg(long)]
    expiry: Option<String>,
    /// Record it even beyond the entitlement (needs --reason).
    #[arg(long = "override", requires = "reason")]
    override_: bool,
    /// Why the entitlement is overridden.
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct VoidArgs {
    /// The event to cancel.
    event: String,
    /// Why.
    #[arg(long)]
    reason: String,
}

pub fn checkin(dir: &Path, args: CheckinArgs, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    let done = app
        .check_in(&args.beneficiary, &args.site, None, None)
        .map_err(Failure::from)?;
    output.emit(&done)
}

pub fn handout(dir: &Path, args: HandoutArgs, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    let done = app
        .hand_out(HandOutRequest {
            beneficiary: args.beneficiary,
            item: args.item,
            qty: args.qty,
            site: args.site,
            lot: args.lot,
            expiry: args.expiry,
            override_reason: if args.override_ { args.reason } else { None },
            card: None,
        })
        .map_err(Failure::from)?;
    output.emit(&done)
}

pub fn void(dir: &Path, args: VoidArgs, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    output.emit(&app.void(&args.event, &args.reason).map_err(Failure::from)?)
}

pub fn write_entitlement(out: &mut dyn Write, e: &EntitlementDto) -> io::Result<()> {
    let b = &e.beneficiary;
    let name = b.name.as_deref().unwrap_or("(erased / ممسوح)");
    writeln!(
        out,
        "{name} — {} — household of {}",
        b.village, b.household_size
    )?;
    writeln!(out, "  round: {}", e.round)?;
    if e.checked_in_today {
        writeln!(out, "  already checked in today / سبق تسجيل حضوره اليوم")?;
    }
    writeln!(
        out,
        "  {:<18} {:>8} {:>8} {:>9}",
        "item", "allowed", "received", "remaining"
    )?;
    for i in &e.items {
        writeln!(
            out,
            "  {:<18} {:>8} {:>8} {:>9}   {}",
            i.item, i.allowed, i.received, i.remaining, i.item_ar
        )?;
    }
    Ok(())
}

impl Report for CheckInDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "Checked in at {} / تم تسجيل الحضور", self.site)?;
        writeln!(out, "  event {}", self.event)?;
        if self.already_checked_in {
            writeln!(out, "  note: this household had already checked in today")?;
        }
        write_entitlement(out, &self.entitlement)
    }
}

impl Report for HandOutDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "Handed out {} {} / تم الصرف", self.qty, self.item)?;
        writeln!(out, "  event      {}", self.event)?;
        writeln!(out, "  remaining  {}", self.remaining)?;
        if self.overridden {
            writeln!(
                out,
                "  beyond the entitlement by override: the lead will review it"
            )?;
        }
        Ok(())
    }
}

impl Report for RecordedDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "Recorded {} / تم التسجيل", self.kind)?;
        writeln!(out, "  event {}", self.event)
    }
}
