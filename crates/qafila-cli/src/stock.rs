//! `qafila stock ...`, `qafila day status`, `qafila round ...`,
//! `qafila anomalies`: the convoy lead's stock and review commands.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use clap::{Args, Subcommand};
use qafila_app::App;
use qafila_app::dayend::{Counts, DayCloseDto, DeviceWaitDto, ReconciliationDto, ReviewDto};
use qafila_app::dto::{AnomalyDto, DayStatusDto, RoundDto};
use qafila_app::stock::{Movement, StockRequest};
use serde::Serialize;

use crate::device::open;
use crate::failure::{Failure, Refused};
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
    /// The blind count: type what is on the truck, item by item, before
    /// seeing what was expected; then give a reason code for each variance.
    /// On a terminal without `--count` it asks; scripts pass the counts.
    Reconcile {
        /// The site.
        #[arg(long)]
        site: String,
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
        /// ITEM=N: what was counted (repeatable).
        #[arg(long = "count", value_name = "ITEM=N")]
        counts: Vec<String>,
        /// ITEM=CODE: why the count differs (repeatable): counting_error,
        /// damaged, spoiled, theft, unrecorded_hand_out, unrecorded_delivery,
        /// other (with --note).
        #[arg(long = "reason", value_name = "ITEM=CODE")]
        reasons: Vec<String>,
        /// ITEM=TEXT: details of a variance (repeatable).
        #[arg(long = "note", value_name = "ITEM=TEXT")]
        notes: Vec<String>,
        /// Show the variances without recording anything.
        #[arg(long)]
        preview: bool,
    },
    /// Open a site's day ("دير مواس — day 2"): until it is closed, every
    /// device that knows of it files that site's records on it, even past
    /// the day's end hour or with a wrong clock.
    Open {
        /// The site.
        #[arg(long)]
        site: String,
        /// The day, YYYY-MM-DD (default: the convoy's day now).
        #[arg(long)]
        date: Option<String>,
        /// What the convoy calls the day, e.g. "اليوم التاني".
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Which of the convoy's devices have not synced since the site's last
    /// known hand-out.
    Devices {
        /// The site.
        #[arg(long)]
        site: String,
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Sign the site's day off with this device's key. Refused until every
    /// item is counted, every variance has a reason, every anomaly of the
    /// day is reviewed and every device has synced (or, with
    /// `--without-outstanding`, the close records which had not).
    Close {
        /// The site.
        #[arg(long)]
        site: String,
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
        /// Close although some devices have not synced since the last
        /// hand-out; the close names them.
        #[arg(long)]
        without_outstanding: bool,
    },
    /// Show a closed day's close and check its signature.
    Verify {
        /// The site.
        #[arg(long)]
        site: String,
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct AnomaliesArgs {
    /// Review the anomaly with this id (or a unique prefix of 6+ characters).
    #[arg(long, value_name = "ID")]
    resolve: Option<String>,
    /// What explains it (required unless --loss).
    #[arg(long, requires = "resolve")]
    note: Option<String>,
    /// Write it off as a loss instead of explaining it.
    #[arg(long, requires = "resolve")]
    loss: bool,
    /// Only those not reviewed yet.
    #[arg(long, conflicts_with = "resolve")]
    open: bool,
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Where a site is and who runs it, for reports and exports.
    Describe {
        /// The site.
        site: String,
        /// Governorate: the two-digit code of the national ID (24 Minya,
        /// 21 Giza, ...) or its name.
        #[arg(long)]
        governorate: String,
        /// District (markaz).
        #[arg(long, default_value = "")]
        district: String,
        /// The association running the distribution there.
        #[arg(long)]
        association: String,
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
        DayCommand::Reconcile {
            site,
            date,
            counts,
            reasons,
            notes,
            preview,
        } => {
            let counts = Counts {
                counts: pairs(&counts, "--count ITEM=N")?,
                reasons: pairs(&reasons, "--reason ITEM=CODE")?,
                notes: pairs(&notes, "--note ITEM=TEXT")?,
            };
            let interactive = counts.counts.is_empty()
                && !output.is_json()
                && io::stdin().is_terminal()
                && io::stdout().is_terminal();
            let done = if interactive {
                prompt_reconcile(&app, &site, date.as_deref(), preview)?
            } else {
                app.reconcile(&site, date.as_deref(), &counts, preview)
                    .map_err(Failure::from)?
            };
            output.emit(&done)?;
            if !done.recorded && !preview {
                if !output.is_json() {
                    eprintln!(
                        "nothing recorded: give a reason code for {} (--reason ITEM=CODE)\nماتسجلش حاجة: اكتب سبب الفرق",
                        done.missing_reasons.join(", ")
                    );
                }
                return Err(Refused.into());
            }
            Ok(())
        }
        DayCommand::Open { site, date, label } => output.emit(
            &app.open_day(&site, date.as_deref(), &label)
                .map_err(Failure::from)?,
        ),
        DayCommand::Devices { site, date } => output.emit(
            &app.devices_waiting(&site, date.as_deref())
                .map_err(Failure::from)?,
        ),
        DayCommand::Close {
            site,
            date,
            without_outstanding,
        } => output.emit(
            &app.close_day(&site, date.as_deref(), without_outstanding)
                .map_err(Failure::from)?,
        ),
        DayCommand::Verify { site, date } => {
            let close = app
                .day_close(&site, date.as_deref())
                .map_err(Failure::from)?;
            let Some(close) = close else {
                return Err(Failure {
                    code: "day_open",
                    message: "this day is not closed at this site".into(),
                    message_ar: "اليوم ده لسه ما اتقفلش في الموقع ده".into(),
                }
                .into());
            };
            output.emit(&close)?;
            if close.signature_valid {
                Ok(())
            } else {
                Err(Refused.into())
            }
        }
    }
}

/// Splits repeatable `ITEM=VALUE` flags.
fn pairs(values: &[String], what: &str) -> anyhow::Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|v| {
            v.split_once('=')
                .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
                .ok_or_else(|| {
                    Failure {
                        code: "invalid_arguments",
                        message: format!("`{v}` should look like {what}"),
                        message_ar: format!("«{v}» لازم يكون على شكل {what}"),
                    }
                    .into()
                })
        })
        .collect()
}

fn ask(question: &str) -> anyhow::Result<String> {
    let mut out = io::stdout().lock();
    write!(out, "{question}")?;
    out.flush()?;
    let mut line = String::new();
    if io::stdin().read_line(&mut line)? == 0 {
        anyhow::bail!("input ended before the count was finished; nothing was recorded");
    }
    Ok(line.trim().to_owned())
}

/// The blind count on a terminal: quantities first, with nothing expected
/// shown; then the variances and a reason for each.
fn prompt_reconcile(
    app: &App,
    site: &str,
    date: Option<&str>,
    preview: bool,
) -> anyhow::Result<ReconciliationDto> {
    let sheet = app.count_sheet(site, date).map_err(Failure::from)?;
    if sheet.items.is_empty() {
        return Err(Failure {
            code: "nothing_to_count",
            message: format!(
                "no stock at {} on {}: nothing to count",
                sheet.site, sheet.date
            ),
            message_ar: format!(
                "مفيش مخزون في {} يوم {}: مفيش حاجة تتعد",
                sheet.site, sheet.date
            ),
        }
        .into());
    }
    println!(
        "Blind count — {} — {}\nالجرد — اكتب اللي موجود فعلاً (المتوقع هيظهر بعد العد)",
        sheet.site, sheet.date
    );
    let mut counts = Counts::default();
    for item in &sheet.items {
        loop {
            let answer = ask(&format!("  {} / {}: ", item.item_ar, item.item_en))?;
            if !answer.is_empty() {
                counts.counts.push((item.item.to_owned(), answer));
                break;
            }
        }
    }
    let mut done = app
        .reconcile(site, date, &counts, true)
        .map_err(Failure::from)?;
    done.write_text(&mut io::stdout().lock())?;
    for item in done.missing_reasons.clone() {
        println!("Reason for the variance of {item} / سبب الفرق:");
        for (n, r) in sheet.reasons.iter().enumerate() {
            println!("  {}. {} / {}", n + 1, r.ar, r.en);
        }
        let reason = loop {
            let answer = ask("  > ")?;
            let picked = answer
                .parse::<usize>()
                .ok()
                .and_then(|n| sheet.reasons.get(n.wrapping_sub(1)))
                .map(|r| r.code.to_owned())
                .or_else(|| {
                    sheet
                        .reasons
                        .iter()
                        .find(|r| r.code == answer)
                        .map(|r| r.code.to_owned())
                });
            if let Some(code) = picked {
                break code;
            }
        };
        let note = ask("  Note / ملاحظة (optional): ")?;
        counts.reasons.push((item.to_owned(), reason));
        if !note.is_empty() {
            counts.notes.push((item.to_owned(), note));
        }
    }
    if !preview {
        done = app
            .reconcile(site, date, &counts, false)
            .map_err(Failure::from)?;
    }
    Ok(done)
}

pub fn site(dir: &Path, command: SiteCommand, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    match command {
        SiteCommand::Describe {
            site,
            governorate,
            district,
            association,
        } => output.emit(
            &app.describe_site(&site, &governorate, &district, &association)
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

pub fn anomalies(dir: &Path, args: AnomaliesArgs, output: &Output) -> anyhow::Result<()> {
    let app = open(dir)?;
    if let Some(id) = args.resolve {
        let outcome = if args.loss { "loss" } else { "explained" };
        let review = app
            .review_anomaly(&id, outcome, args.note.as_deref().unwrap_or(""))
            .map_err(Failure::from)?;
        return output.emit(&review);
    }
    let mut anomalies = app.anomalies().map_err(Failure::from)?;
    if args.open {
        anomalies.retain(|a| a.review.is_none() && !a.id.is_empty());
    }
    output.emit(&Anomalies { anomalies })
}

fn write_anomalies(out: &mut dyn Write, anomalies: &[AnomalyDto]) -> io::Result<()> {
    if anomalies.is_empty() {
        return writeln!(out, "No anomalies / لا توجد ملاحظات");
    }
    for a in anomalies {
        let id = if a.id.is_empty() {
            "-"
        } else {
            &a.id[..a.id.len().min(10)]
        };
        writeln!(out, "{id} [{}] {}", a.code, a.message)?;
        writeln!(out, "    {}", a.message_ar)?;
        writeln!(out, "    events: {}", a.events.join(", "))?;
        match &a.review {
            Some(r) => writeln!(out, "    reviewed / اتراجعت: {} — {}", r.outcome, r.note)?,
            None if !a.id.is_empty() => writeln!(out, "    not reviewed / لسه ماتراجعتش")?,
            None => {}
        }
    }
    Ok(())
}

impl Report for ReviewDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "reviewed / اتراجعت: {} — {}", self.outcome, self.note)?;
        writeln!(out, "  event {}", self.event)
    }
}

fn write_lines(out: &mut dyn Write, lines: &[qafila_app::dto::StockLineDto]) -> io::Result<()> {
    writeln!(
        out,
        "  {:<10} {:>8} {:>8} {:>8} reason",
        "item", "expected", "counted", "variance"
    )?;
    for l in lines {
        writeln!(
            out,
            "  {:<10} {:>8} {:>8} {:>8} {}",
            l.item,
            l.expected,
            l.counted.as_deref().unwrap_or("-"),
            l.variance.as_deref().unwrap_or("-"),
            l.variance_reason.unwrap_or("")
        )?;
    }
    Ok(())
}

impl Report for ReconciliationDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let state = if self.recorded {
            "counts recorded / الجرد اتسجل"
        } else {
            "not recorded / ماتسجلش"
        };
        writeln!(out, "{} — {} — {state}", self.site, self.date)?;
        write_lines(out, &self.lines)?;
        if !self.missing_reasons.is_empty() {
            writeln!(
                out,
                "needs a reason code / محتاج سبب: {}",
                self.missing_reasons.join(", ")
            )?;
        }
        Ok(())
    }
}

/// A moment in the convoy's zone, with the offset in force then.
fn when(ms: Option<u64>, zone: &str) -> String {
    let time = qafila_app::time::ConvoyTime::new(zone, 0).unwrap_or_default();
    ms.map_or_else(|| "never / أبداً".to_owned(), |ms| time.format(ms))
}

impl Report for DeviceWaitDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{} — {}: last hand-out {}",
            self.site,
            self.date,
            when(self.last_hand_out_ms, &self.zone)
        )?;
        if !self.relay_reachable {
            writeln!(
                out,
                "  the relay cannot be reached: nobody's sync can be confirmed / الخادم مش متاح"
            )?;
        }
        for d in &self.devices {
            let mark = if d.outstanding {
                "WAITING / مستنيين"
            } else {
                "ok"
            };
            writeln!(
                out,
                "  {:<8} {} ({}) last seen {} · newest record {}",
                mark,
                d.name,
                d.status,
                when(d.last_seen_ms, &self.zone),
                when(d.last_record_ms, &self.zone)
            )?;
        }
        Ok(())
    }
}

impl Report for DayCloseDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{} — {} closed by {} at {}",
            self.site, self.date, self.closed_by, self.closed_at
        )?;
        writeln!(out, "  اليوم اتقفل واتوقع")?;
        writeln!(out, "  covers / يشمل: {}", self.covered.join(", "))?;
        if !self.outstanding.is_empty() {
            writeln!(
                out,
                "  closed without / اتقفل من غير: {}",
                self.outstanding.join(", ")
            )?;
        }
        let valid = if self.signature_valid {
            "valid / سليم"
        } else {
            "NOT VALID: the figures changed or the signature is wrong / غير سليم"
        };
        writeln!(out, "  signature / التوقيع: {valid}")?;
        writeln!(out, "  event {}", self.event)
    }
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
