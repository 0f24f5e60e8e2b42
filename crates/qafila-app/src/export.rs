//! Exports for people and tools that are not ours: the distribution per
//! village × item × day, the 5W summary, the registrar's personal-data list,
//! and HQ's roll-up of reach. See "The lead's day end" in ARCHITECTURE.md.
//!
//! Everything starts from [`counted_hand_outs`]: the hand-outs this device
//! holds in a date range, without the voided ones, and — for a site-day the
//! lead closed — only those the close covered (the same rule the fold applies
//! to the day's stock figures, so an export agrees with the signed day). Each
//! carries the household its hand-outs count for
//! ([`State::counted_household`]), so a duplicate merged into another entry
//! is one household, and a household served twice (two devices, two sites,
//! two convoys of an HQ device) is counted once wherever reach is counted.
//!
//! The pure builders ([`distribution_rows`], [`five_w_rows`],
//! [`rollup_rows`]) group those hand-outs; [`Table`] lays rows out with plain
//! Arabic headers (English in parentheses) and, on request, the HXL hashtag
//! row that humanitarian tools read; [`csv_bytes`] and [`xlsx_bytes`] write
//! it. The CSV is UTF-8 with a byte-order mark, CRLF line ends and RFC 4180
//! quoting, so Excel and LibreOffice open the Arabic intact; the XLSX sheet
//! runs right to left with a bold, frozen header and numbers stored as
//! numbers. Files are written next to the target and renamed into place,
//! readable by their owner only.
//!
//! **No personal data** leaves in the distribution, 5W and roll-up exports:
//! no names, national IDs, phones, beneficiary or household ids — only
//! places, items and counts. The registrar's list ([`ExportKind::Personal`])
//! is the one exception and is marked as such: its file name must contain
//! `personal`, its first row says it is personal data, and its sheet is
//! named so. Even there it holds only what a registrar needs to hand cards
//! out and call people forward: name, village, household size and card
//! number. National IDs are never exported: the device keeps only a keyed
//! hash and the last four digits, and nothing in the product shows more;
//! phones are left out for the same reason (data minimal).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use qafila_domain::event::{Event, EventBody, governorate};
use qafila_domain::fold::{State, close_covers};
use qafila_domain::ids::{EventId, HouseholdId, SiteId};
use qafila_domain::item::ItemCode;
use qafila_domain::quantity::Quantity;
use serde::Serialize;
use ts_rs::TS;

use crate::distribution::parse_date;
use crate::{App, AppError};

/// What an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// Per date, site, village and item: quantities, households and people.
    Distribution,
    /// Who, what, where, when, for whom over the range.
    FiveW,
    /// The registrar's list of people, names included.
    Personal,
}

impl ExportKind {
    /// Stable name, as the CLI and JSON say it.
    pub fn code(self) -> &'static str {
        match self {
            ExportKind::Distribution => "distribution",
            ExportKind::FiveW => "5w",
            ExportKind::Personal => "personal",
        }
    }
}

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// UTF-8 CSV with a byte-order mark.
    Csv,
    /// An Excel workbook.
    Xlsx,
}

impl ExportFormat {
    /// Stable name, also the file extension.
    pub fn code(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// An export as asked for.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// What to export.
    pub kind: ExportKind,
    /// The format; `None` takes it from the file's extension. When given it
    /// must agree with the extension.
    pub format: Option<ExportFormat>,
    /// Add the HXL hashtag row under the headers.
    pub hxl: bool,
    /// First day (YYYY-MM-DD); required except for the personal list.
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD); required except for the personal list.
    pub to: Option<String>,
    /// The file to write.
    pub out: PathBuf,
}

/// Something the reader of an export should fix or know.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct ExportWarningDto {
    /// Stable code: `site_not_described`.
    pub code: &'static str,
    /// The site concerned.
    pub site: String,
    /// English, with the fix.
    pub message: String,
    /// Arabic, with the fix.
    pub message_ar: String,
}

/// A written export.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct ExportDto {
    /// The file written.
    pub out: String,
    /// `distribution`, `5w`, `personal` or `rollup`.
    pub kind: &'static str,
    /// `csv` or `xlsx`.
    pub format: &'static str,
    /// Whether it has the HXL hashtag row.
    pub hxl: bool,
    /// Data rows written (headers, title and hashtag rows not counted).
    pub rows: usize,
    /// Whether it holds personal data (names).
    pub personal_data: bool,
    /// First day covered, if the export is by date.
    pub from: Option<String>,
    /// Last day covered, if the export is by date.
    pub to: Option<String>,
    /// Sites without a place, and the like.
    pub warnings: Vec<ExportWarningDto>,
}

/// One line of HQ's roll-up.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct RollupRowDto {
    /// The day.
    pub date: String,
    /// Governorate code (empty for sites nobody described).
    pub governorate_code: String,
    /// Governorate, in Arabic.
    pub governorate: String,
    /// The association.
    pub association: String,
    /// Item code.
    pub item: &'static str,
    /// Item, in Arabic.
    pub item_ar: &'static str,
    /// Quantity handed out.
    pub quantity: String,
    /// Distinct households reached.
    pub households: u64,
    /// People in those households.
    pub people: u64,
}

/// A governorate's total over the range: distinct households and people
/// across its associations, items and days.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct RollupTotalDto {
    /// Governorate code.
    pub governorate_code: String,
    /// Governorate, in Arabic.
    pub governorate: String,
    /// Distinct households reached.
    pub households: u64,
    /// People in those households.
    pub people: u64,
}

/// HQ's reach per governorate, association, item and day.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct RollupDto {
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// One per governorate, association, item and day.
    pub rows: Vec<RollupRowDto>,
    /// One per governorate.
    pub totals: Vec<RollupTotalDto>,
    /// Sites without a place.
    pub warnings: Vec<ExportWarningDto>,
    /// The file written, with `out`.
    pub file: Option<ExportDto>,
}

/// A hand-out that counts, reduced to what exports need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedHandOut {
    /// The day it was for.
    pub day: NaiveDate,
    /// Where.
    pub site: SiteId,
    /// The household it counts for (merges followed).
    pub household: HouseholdId,
    /// What.
    pub item: ItemCode,
    /// How much.
    pub qty: Quantity,
}

/// The hand-outs of `events` with a day in `from..=to` that count: valid,
/// not voided, and for a closed site-day covered by its close (as are its
/// voids). Households are the ones their hand-outs count for.
pub fn counted_hand_outs(
    events: &[Event],
    state: &State,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<CountedHandOut> {
    let mut by_id: BTreeMap<EventId, &Event> = BTreeMap::new();
    for event in events.iter().filter(|e| e.validate().is_ok()) {
        by_id.entry(event.id).or_insert(event);
    }
    let mut voids: BTreeMap<EventId, Vec<&Event>> = BTreeMap::new();
    for event in by_id.values() {
        if let EventBody::Void { target, .. } = &event.body {
            voids.entry(*target).or_default().push(event);
        }
    }
    // Whether `event` counts in the figures of a site-day: always for an
    // open day; for a closed one only if the close covered it (the fold's
    // rule for stock figures).
    let counts_on = |event: &Event, site: SiteId, day: NaiveDate| -> bool {
        state
            .day_close(site, day)
            .and_then(|id| by_id.get(&id))
            .is_none_or(|close| close_covers(close, event))
    };
    by_id
        .values()
        .filter_map(|event| match &event.body {
            EventBody::HandOut(h) if h.day >= from && h.day <= to => Some((event, h)),
            _ => None,
        })
        .filter(|(event, h)| counts_on(event, h.site, h.day))
        .filter(|(event, h)| {
            !voids.get(&event.id).is_some_and(|list| {
                list.iter()
                    .any(|v| event.is_cancelled_by(v) && counts_on(v, h.site, h.day))
            })
        })
        .map(|(_, h)| CountedHandOut {
            day: h.day,
            site: h.site,
            household: state.counted_household(h.household),
            item: h.item,
            qty: h.qty,
        })
        .collect()
}

/// Where a site is and who runs it, as exports write it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    /// The association (`#org+name`).
    pub association: String,
    /// Governorate code (`#adm1+code`).
    pub governorate_code: String,
    /// Governorate in Arabic (`#adm1+name`).
    pub governorate: String,
    /// District (`#adm2+name`).
    pub district: String,
}

/// The place of a site, if the lead described it.
pub fn place_of(state: &State, site: SiteId) -> Option<Place> {
    state.place(site).map(|p| Place {
        association: p.association.clone(),
        governorate_code: p.governorate.clone(),
        governorate: governorate(&p.governorate)
            .map(|(_, ar)| ar.to_owned())
            .unwrap_or_default(),
        district: p.district.clone(),
    })
}

/// Quantity and distinct households of a group of hand-outs.
#[derive(Debug, Clone, Default)]
struct Reach {
    quantity: Quantity,
    households: BTreeSet<HouseholdId>,
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
}

impl Reach {
    fn add(&mut self, h: &CountedHandOut) {
        self.quantity = self.quantity.saturating_add(h.qty);
        self.households.insert(h.household);
        self.first = Some(self.first.map_or(h.day, |d| d.min(h.day)));
        self.last = Some(self.last.map_or(h.day, |d| d.max(h.day)));
    }

    fn households(&self) -> u64 {
        u64::try_from(self.households.len()).unwrap_or(u64::MAX)
    }

    /// People in the distinct households (their size as registered now; 0
    /// for a household this device has no registration of).
    fn people(&self, state: &State) -> u64 {
        self.households
            .iter()
            .filter_map(|h| state.household(*h))
            .map(|h| u64::from(h.size))
            .sum()
    }
}

fn village_of(state: &State, household: HouseholdId) -> String {
    state
        .household(household)
        .map(|h| h.village.clone())
        .unwrap_or_default()
}

/// One line of the distribution export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionRow {
    /// The day.
    pub date: NaiveDate,
    /// The site's name.
    pub site: String,
    /// Where the site is (empty when nobody described it).
    pub place: Place,
    /// The households' village.
    pub village: String,
    /// The item.
    pub item: ItemCode,
    /// Quantity handed out.
    pub quantity: Quantity,
    /// Distinct households reached.
    pub households: u64,
    /// People in those households.
    pub people: u64,
}

/// The distribution per date, site, village and item. `sites` names the
/// sites (a site this device cannot name shows its id).
pub fn distribution_rows(
    hand_outs: &[CountedHandOut],
    state: &State,
    sites: &BTreeMap<SiteId, String>,
) -> Vec<DistributionRow> {
    let mut groups: BTreeMap<(NaiveDate, SiteId, String, ItemCode), Reach> = BTreeMap::new();
    for h in hand_outs {
        let village = village_of(state, h.household);
        groups
            .entry((h.day, h.site, village, h.item))
            .or_default()
            .add(h);
    }
    let mut rows: Vec<DistributionRow> = groups
        .into_iter()
        .map(|((date, site, village, item), reach)| DistributionRow {
            date,
            site: site_name(sites, site),
            place: place_of(state, site).unwrap_or_default(),
            village,
            item,
            quantity: reach.quantity,
            households: reach.households(),
            people: reach.people(state),
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.date, &a.site, &a.village, a.item).cmp(&(b.date, &b.site, &b.village, b.item))
    });
    rows
}

fn site_name(sites: &BTreeMap<SiteId, String>, site: SiteId) -> String {
    sites
        .get(&site)
        .cloned()
        .unwrap_or_else(|| site.to_string())
}

/// One line of the 5W summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiveWRow {
    /// Who: the association, and where: governorate and district.
    pub place: Place,
    /// Where: the households' village.
    pub village: String,
    /// What.
    pub item: ItemCode,
    /// When: the first day with a hand-out.
    pub first: NaiveDate,
    /// When: the last day with a hand-out.
    pub last: NaiveDate,
    /// How much.
    pub quantity: Quantity,
    /// For whom: distinct households over the range.
    pub households: u64,
    /// For whom: people in them.
    pub people: u64,
}

/// The 5W summary: one line per association × governorate × district ×
/// village × item, households counted once over the whole range. Lines are
/// by place rather than by convoy or site because 5W matrices are read by
/// admin area and organisation; several convoys of one association in one
/// village are one line, as HQ wants them.
pub fn five_w_rows(hand_outs: &[CountedHandOut], state: &State) -> Vec<FiveWRow> {
    let mut groups: BTreeMap<(Place, String, ItemCode), Reach> = BTreeMap::new();
    for h in hand_outs {
        let place = place_of(state, h.site).unwrap_or_default();
        let village = village_of(state, h.household);
        groups.entry((place, village, h.item)).or_default().add(h);
    }
    groups
        .into_iter()
        .filter_map(|((place, village, item), reach)| {
            Some(FiveWRow {
                first: reach.first?,
                last: reach.last?,
                quantity: reach.quantity,
                households: reach.households(),
                people: reach.people(state),
                place,
                village,
                item,
            })
        })
        .collect()
}

/// One line of HQ's roll-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupRow {
    /// The day.
    pub date: NaiveDate,
    /// Governorate code.
    pub governorate_code: String,
    /// Governorate in Arabic.
    pub governorate: String,
    /// The association.
    pub association: String,
    /// The item.
    pub item: ItemCode,
    /// Quantity handed out.
    pub quantity: Quantity,
    /// Distinct households reached.
    pub households: u64,
    /// People in them.
    pub people: u64,
}

/// A governorate's total over the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupTotal {
    /// Governorate code.
    pub governorate_code: String,
    /// Governorate in Arabic.
    pub governorate: String,
    /// Distinct households reached (any association, item or day).
    pub households: u64,
    /// People in them.
    pub people: u64,
}

/// Reach per governorate × association × item × day, each household once
/// per line however many convoys, devices or sites served it, and each
/// governorate's distinct households over the range.
pub fn rollup_rows(
    hand_outs: &[CountedHandOut],
    state: &State,
) -> (Vec<RollupRow>, Vec<RollupTotal>) {
    let mut groups: BTreeMap<(String, String, ItemCode, NaiveDate), Reach> = BTreeMap::new();
    let mut totals: BTreeMap<String, Reach> = BTreeMap::new();
    for h in hand_outs {
        let place = place_of(state, h.site).unwrap_or_default();
        groups
            .entry((
                place.governorate_code.clone(),
                place.association,
                h.item,
                h.day,
            ))
            .or_default()
            .add(h);
        totals.entry(place.governorate_code).or_default().add(h);
    }
    let name = |code: &str| {
        governorate(code)
            .map(|(_, ar)| ar.to_owned())
            .unwrap_or_default()
    };
    let rows = groups
        .into_iter()
        .map(|((code, association, item, date), reach)| RollupRow {
            date,
            governorate: name(&code),
            governorate_code: code,
            association,
            item,
            quantity: reach.quantity,
            households: reach.households(),
            people: reach.people(state),
        })
        .collect();
    let totals = totals
        .into_iter()
        .map(|(code, reach)| RollupTotal {
            governorate: name(&code),
            governorate_code: code,
            households: reach.households(),
            people: reach.people(state),
        })
        .collect();
    (rows, totals)
}

/// The sites among `hand_outs` nobody described, as warnings with the fix.
pub fn missing_places(
    hand_outs: &[CountedHandOut],
    state: &State,
    sites: &BTreeMap<SiteId, String>,
) -> Vec<ExportWarningDto> {
    let missing: BTreeSet<SiteId> = hand_outs
        .iter()
        .map(|h| h.site)
        .filter(|s| state.place(*s).is_none())
        .collect();
    missing
        .into_iter()
        .map(|site| {
            let name = site_name(sites, site);
            ExportWarningDto {
                code: "site_not_described",
                message: format!(
                    "site `{name}` has no governorate, district or association, so those cells are empty; \
                     describe it with `qafila site describe \"{name}\" --governorate CODE --district D --association A` and export again"
                ),
                message_ar: format!(
                    "موقع «{name}» مالوش محافظة ولا مركز ولا جمعية، فالخانات دي فاضية؛ \
                     اكتب بياناته بأمر qafila site describe وصدّر تاني"
                ),
                site: name,
            }
        })
        .collect()
}

/// One cell of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A quantity (a number in XLSX, exact decimals in CSV).
    Quantity(Quantity),
    /// A count (households, people).
    Count(u64),
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    fn as_text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Quantity(q) => q.to_string(),
            Cell::Count(n) => n.to_string(),
        }
    }
}

/// A sheet to write: an optional title row (the personal-data mark), plain
/// headers, the optional HXL hashtag row, then the data rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The XLSX sheet's name (31 characters at most).
    pub sheet: &'static str,
    /// A title row above the headers.
    pub title: Option<&'static str>,
    /// Column headers: Arabic, English in parentheses.
    pub headers: Vec<&'static str>,
    /// HXL hashtags, one per column (empty for none).
    pub hxl: Option<Vec<&'static str>>,
    /// Data rows.
    pub rows: Vec<Vec<Cell>>,
}

/// The personal-data mark: the first row of a personal list.
pub const PERSONAL_MARK: &str =
    "بيانات شخصية — Personal data: handle and delete according to the data policy";

/// Columns of the distribution export: header and HXL hashtag.
pub const DISTRIBUTION_COLUMNS: [(&str, &str); 12] = [
    ("التاريخ (Date)", "#date"),
    ("الموقع (Site)", "#loc+site"),
    ("الجمعية (Association)", "#org+name"),
    ("المحافظة (Governorate)", "#adm1+name"),
    ("كود المحافظة (Governorate code)", "#adm1+code"),
    ("المركز (District)", "#adm2+name"),
    ("القرية (Village)", "#loc+name"),
    ("الصنف (Item)", "#item+name"),
    ("كود الصنف (Item code)", "#item+code"),
    ("الكمية (Quantity)", "#output+num"),
    ("الأسر (Households)", "#reached+hh"),
    ("الأفراد (People)", "#reached+ind"),
];

/// Columns of the 5W summary.
pub const FIVE_W_COLUMNS: [(&str, &str); 12] = [
    ("الجمعية (Who: association)", "#org+name"),
    ("المحافظة (Where: governorate)", "#adm1+name"),
    ("كود المحافظة (Governorate code)", "#adm1+code"),
    ("المركز (District)", "#adm2+name"),
    ("القرية (Village)", "#loc+name"),
    ("الصنف (What: item)", "#item+name"),
    ("كود الصنف (Item code)", "#item+code"),
    ("من (When: first day)", "#date+start"),
    ("إلى (Last day)", "#date+end"),
    ("الكمية (Quantity)", "#output+num"),
    ("الأسر (For whom: households)", "#reached+hh"),
    ("الأفراد (People)", "#reached+ind"),
];

/// Columns of HQ's roll-up file.
pub const ROLLUP_COLUMNS: [(&str, &str); 9] = [
    ("التاريخ (Date)", "#date"),
    ("المحافظة (Governorate)", "#adm1+name"),
    ("كود المحافظة (Governorate code)", "#adm1+code"),
    ("الجمعية (Association)", "#org+name"),
    ("الصنف (Item)", "#item+name"),
    ("كود الصنف (Item code)", "#item+code"),
    ("الكمية (Quantity)", "#output+num"),
    ("الأسر (Households)", "#reached+hh"),
    ("الأفراد (People)", "#reached+ind"),
];

/// Columns of the registrar's personal list (never with HXL).
pub const PERSONAL_HEADERS: [&str; 4] = [
    "الاسم (Name)",
    "القرية (Village)",
    "عدد أفراد الأسرة (Household size)",
    "رقم الكارت (Card number)",
];

fn table(
    sheet: &'static str,
    columns: &[(&'static str, &'static str)],
    hxl: bool,
    rows: Vec<Vec<Cell>>,
) -> Table {
    Table {
        sheet,
        title: None,
        headers: columns.iter().map(|(h, _)| *h).collect(),
        hxl: hxl.then(|| columns.iter().map(|(_, t)| *t).collect()),
        rows,
    }
}

fn place_cells(place: &Place) -> [Cell; 4] {
    [
        Cell::text(&place.association),
        Cell::text(&place.governorate),
        Cell::text(&place.governorate_code),
        Cell::text(&place.district),
    ]
}

/// The distribution export's table.
pub fn distribution_table(rows: &[DistributionRow], hxl: bool) -> Table {
    let cells = rows
        .iter()
        .map(|r| {
            let mut line = vec![Cell::text(r.date.to_string()), Cell::text(&r.site)];
            line.extend(place_cells(&r.place));
            line.extend([
                Cell::text(&r.village),
                Cell::text(r.item.name_ar()),
                Cell::text(r.item.code()),
                Cell::Quantity(r.quantity),
                Cell::Count(r.households),
                Cell::Count(r.people),
            ]);
            line
        })
        .collect();
    table("توزيع - Distribution", &DISTRIBUTION_COLUMNS, hxl, cells)
}

/// The 5W summary's table.
pub fn five_w_table(rows: &[FiveWRow], hxl: bool) -> Table {
    let cells = rows
        .iter()
        .map(|r| {
            let mut line = place_cells(&r.place).to_vec();
            line.extend([
                Cell::text(&r.village),
                Cell::text(r.item.name_ar()),
                Cell::text(r.item.code()),
                Cell::text(r.first.to_string()),
                Cell::text(r.last.to_string()),
                Cell::Quantity(r.quantity),
                Cell::Count(r.households),
                Cell::Count(r.people),
            ]);
            line
        })
        .collect();
    table("5W", &FIVE_W_COLUMNS, hxl, cells)
}

/// The label of a governorate's total line in the roll-up file.
pub const TOTAL_LABEL: &str = "الإجمالي (Total)";

/// HQ's roll-up as a table: the rows, then (without HXL) one total line per
/// governorate. An HXL file carries data rows only, since HXL tools would
/// add total lines up with the rest.
pub fn rollup_table(rows: &[RollupRow], totals: &[RollupTotal], hxl: bool) -> Table {
    let mut cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            vec![
                Cell::text(r.date.to_string()),
                Cell::text(&r.governorate),
                Cell::text(&r.governorate_code),
                Cell::text(&r.association),
                Cell::text(r.item.name_ar()),
                Cell::text(r.item.code()),
                Cell::Quantity(r.quantity),
                Cell::Count(r.households),
                Cell::Count(r.people),
            ]
        })
        .collect();
    if !hxl {
        cells.extend(totals.iter().map(|t| {
            vec![
                Cell::text(""),
                Cell::text(&t.governorate),
                Cell::text(&t.governorate_code),
                Cell::text(""),
                Cell::text(TOTAL_LABEL),
                Cell::text(""),
                Cell::text(""),
                Cell::Count(t.households),
                Cell::Count(t.people),
            ]
        }));
    }
    table("HQ", &ROLLUP_COLUMNS, hxl, cells)
}

/// Keeps a spreadsheet from running a text cell as a formula (a village or
/// association typed as `=HYPERLINK(...)`): such text gets a leading
/// apostrophe, as spreadsheet programs themselves write it.
fn defuse(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn csv_error(e: impl std::fmt::Display) -> AppError {
    AppError::new(
        "export_failed",
        format!("could not build the CSV ({e})"),
        format!("مش قادر أجهّز ملف الـCSV ({e})"),
    )
}

/// The table as CSV: a UTF-8 byte-order mark (Excel reads Arabic only with
/// it), CRLF line ends, quotes where RFC 4180 needs them.
pub fn csv_bytes(table: &Table) -> Result<Vec<u8>, AppError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(vec![0xEF, 0xBB, 0xBF]);
    if let Some(title) = table.title {
        writer.write_record([title]).map_err(csv_error)?;
    }
    writer.write_record(&table.headers).map_err(csv_error)?;
    if let Some(tags) = &table.hxl {
        writer.write_record(tags).map_err(csv_error)?;
    }
    for row in &table.rows {
        writer
            .write_record(row.iter().map(|c| match c {
                Cell::Text(s) => defuse(s),
                other => other.as_text(),
            }))
            .map_err(csv_error)?;
    }
    writer.into_inner().map_err(csv_error)
}

fn xlsx_error(e: rust_xlsxwriter::XlsxError) -> AppError {
    AppError::new(
        "export_failed",
        format!("could not build the XLSX workbook ({e})"),
        format!("مش قادر أجهّز ملف الإكسل ({e})"),
    )
}

/// A column's width in characters: its widest cell, within reason.
fn column_width(table: &Table, col: usize) -> f64 {
    let widest = table
        .headers
        .get(col)
        .map(|h| h.chars().count())
        .into_iter()
        .chain(table.hxl.iter().filter_map(|t| t.get(col)).map(|t| t.len()))
        .chain(
            table
                .rows
                .iter()
                .filter_map(|r| r.get(col))
                .map(|c| c.as_text().chars().count()),
        )
        .max()
        .unwrap_or(8);
    let chars = u32::try_from(widest.clamp(8, 50)).unwrap_or(50);
    f64::from(chars) + 2.0
}

/// The table as an XLSX workbook of one right-to-left sheet: bold headers
/// frozen at the top, quantities and counts stored as numbers.
pub fn xlsx_bytes(table: &Table) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, FormatAlign, Workbook};

    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(table.sheet).map_err(xlsx_error)?;
    sheet.set_right_to_left(true);
    let bold = Format::new().set_bold();
    let columns = u16::try_from(table.headers.len()).unwrap_or(u16::MAX);
    let mut row: u32 = 0;
    if let Some(title) = table.title {
        let title_format = Format::new()
            .set_bold()
            .set_align(FormatAlign::Right)
            .set_font_color(rust_xlsxwriter::Color::Red);
        if columns > 1 {
            sheet
                .merge_range(0, 0, 0, columns - 1, title, &title_format)
                .map_err(xlsx_error)?;
        } else {
            sheet
                .write_string_with_format(0, 0, title, &title_format)
                .map_err(xlsx_error)?;
        }
        row += 1;
    }
    for (col, header) in (0u16..).zip(&table.headers) {
        sheet
            .write_string_with_format(row, col, *header, &bold)
            .map_err(xlsx_error)?;
    }
    row += 1;
    if let Some(tags) = &table.hxl {
        for (col, tag) in (0u16..).zip(tags) {
            sheet.write_string(row, col, *tag).map_err(xlsx_error)?;
        }
        row += 1;
    }
    sheet.set_freeze_panes(row, 0).map_err(xlsx_error)?;
    for cells in &table.rows {
        for (col, cell) in (0u16..).zip(cells) {
            match cell {
                Cell::Text(s) => sheet.write_string(row, col, s.as_str()),
                // Exact thousandths: the conversion to a double is exact
                // for any quantity a convoy can hand out.
                #[allow(clippy::cast_precision_loss)]
                Cell::Quantity(q) => sheet.write_number(row, col, q.milli() as f64 / 1000.0),
                #[allow(clippy::cast_precision_loss)]
                Cell::Count(n) => sheet.write_number(row, col, *n as f64),
            }
            .map_err(xlsx_error)?;
        }
        row += 1;
    }
    for col in 0..columns {
        sheet
            .set_column_width(col, column_width(table, usize::from(col)))
            .map_err(xlsx_error)?;
    }
    workbook.save_to_buffer().map_err(xlsx_error)
}

/// The format of `out`, from its extension, checked against `asked`.
pub fn output_format(out: &Path, asked: Option<ExportFormat>) -> Result<ExportFormat, AppError> {
    let shown = out.display().to_string();
    let extension = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let from_name = match extension.as_deref() {
        Some("csv") => ExportFormat::Csv,
        Some("xlsx") => ExportFormat::Xlsx,
        _ => {
            return Err(AppError::new(
                "export_extension",
                format!(
                    "`{shown}` must end in .csv or .xlsx, so the program opening it knows what it is"
                ),
                format!(
                    "اسم الملف «{shown}» لازم يخلص بـ ‎.csv أو ‎.xlsx علشان البرنامج اللي هيفتحه يعرف نوعه"
                ),
            ));
        }
    };
    match asked {
        Some(asked) if asked != from_name => Err(AppError::new(
            "export_format_mismatch",
            format!(
                "--format {} but `{shown}` ends in .{}: name the file .{} or ask for --format {}",
                asked.code(),
                from_name.code(),
                asked.code(),
                from_name.code()
            ),
            format!(
                "طلبت صيغة {} بس الملف «{shown}» آخره ‎.{}: غيّر اسم الملف لـ ‎.{} أو اطلب صيغة {}",
                asked.code(),
                from_name.code(),
                asked.code(),
                from_name.code()
            ),
        )),
        _ => Ok(from_name),
    }
}

/// Refuses a personal-data file whose name does not say so.
pub fn check_personal_name(out: &Path) -> Result<(), AppError> {
    let named = out
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_lowercase().contains("personal"));
    if named {
        return Ok(());
    }
    let shown = out.display().to_string();
    Err(AppError::new(
        "personal_name_required",
        format!(
            "`{shown}` holds names: its file name must say it is personal data; name it e.g. registrar-personal-data.xlsx"
        ),
        format!(
            "الملف «{shown}» فيه أسماء: لازم اسمه يقول إنه بيانات شخصية؛ سمّيه مثلاً registrar-personal-data.xlsx"
        ),
    ))
}

/// Parses a date range, refusing a missing bound or `from` after `to`.
pub fn date_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(NaiveDate, NaiveDate), AppError> {
    let (Some(from), Some(to)) = (from, to) else {
        return Err(AppError::new(
            "date_required",
            "give the days to export: --from YYYY-MM-DD --to YYYY-MM-DD",
            "اكتب الأيام اللي عايز تصدّرها: من يوم كذا لحد يوم كذا (YYYY-MM-DD)",
        ));
    };
    let (from_day, to_day) = (parse_date(from)?, parse_date(to)?);
    if from_day > to_day {
        return Err(AppError::new(
            "date_range",
            format!("--from {from_day} is after --to {to_day}: swap them"),
            format!("تاريخ البداية {from_day} بعد تاريخ النهاية {to_day}: اعكسهم"),
        ));
    }
    Ok((from_day, to_day))
}

/// Writes `bytes` to `out`: into a temporary file in the same folder
/// (readable by its owner only), synced, then renamed into place, so a
/// failure never leaves half a file under the target's name.
pub fn write_file(out: &Path, bytes: &[u8]) -> Result<(), AppError> {
    let shown = out.display().to_string();
    if out.file_name().is_none() || out.is_dir() {
        return Err(AppError::new(
            "output_path_invalid",
            format!("`{shown}` is not a file name to save the export as"),
            format!("«{shown}» مش اسم ملف ينفع نحفظ فيه"),
        ));
    }
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir_shown = dir.display().to_string();
    if !dir.is_dir() {
        return Err(AppError::new(
            "output_dir_missing",
            format!(
                "the folder `{dir_shown}` does not exist; create it or save the export in another folder"
            ),
            format!("الفولدر «{dir_shown}» مش موجود؛ اعمله الأول أو احفظ الملف في فولدر تاني"),
        ));
    }
    let cannot_write = |e: std::io::Error| {
        AppError::new(
            "export_failed",
            format!(
                "cannot write `{shown}` ({e}); save it in a folder you can write to, close it if \
                 it is open in another program, or free some disk space"
            ),
            format!(
                "مش قادر أكتب «{shown}»؛ احفظه في فولدر تقدر تكتب فيه، أو اقفله لو مفتوح في برنامج تاني، أو فضّي مساحة"
            ),
        )
    };
    let mut partial = tempfile::Builder::new()
        .prefix(".qafila-export-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(cannot_write)?;
    partial.write_all(bytes).map_err(cannot_write)?;
    partial.as_file().sync_all().map_err(cannot_write)?;
    partial.persist(out).map_err(|e| cannot_write(e.error))?;
    Ok(())
}

fn table_bytes(table: &Table, format: ExportFormat) -> Result<Vec<u8>, AppError> {
    match format {
        ExportFormat::Csv => csv_bytes(table),
        ExportFormat::Xlsx => xlsx_bytes(table),
    }
}

impl App {
    fn site_names(&self) -> Result<BTreeMap<SiteId, String>, AppError> {
        Ok(self
            .store
            .sites()?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect())
    }

    /// Writes an export (see the module's documentation for what each kind
    /// holds) and says what was written.
    pub fn export(&self, request: &ExportRequest) -> Result<ExportDto, AppError> {
        let format = output_format(&request.out, request.format)?;
        let (table, range, warnings) = match request.kind {
            ExportKind::Personal => {
                check_personal_name(&request.out)?;
                if request.hxl {
                    return Err(AppError::new(
                        "hxl_personal",
                        "a personal list is not shared with HXL tools: leave out --hxl",
                        "قايمة البيانات الشخصية مش بتتشارك بصيغة HXL: شيل ‎--hxl",
                    ));
                }
                (self.personal_table()?, None, Vec::new())
            }
            kind => {
                let (from, to) = date_range(request.from.as_deref(), request.to.as_deref())?;
                let (events, state) = self.fold()?;
                let sites = self.site_names()?;
                let hand_outs = counted_hand_outs(&events, &state, from, to);
                let table = if kind == ExportKind::FiveW {
                    five_w_table(&five_w_rows(&hand_outs, &state), request.hxl)
                } else {
                    distribution_table(&distribution_rows(&hand_outs, &state, &sites), request.hxl)
                };
                let warnings = missing_places(&hand_outs, &state, &sites);
                (table, Some((from, to)), warnings)
            }
        };
        write_file(&request.out, &table_bytes(&table, format)?)?;
        Ok(ExportDto {
            out: request.out.display().to_string(),
            kind: request.kind.code(),
            format: format.code(),
            hxl: table.hxl.is_some(),
            rows: table.rows.len(),
            personal_data: request.kind == ExportKind::Personal,
            from: range.map(|(f, _)| f.to_string()),
            to: range.map(|(_, t)| t.to_string()),
            warnings,
        })
    }

    /// The registrar's list: every live (not erased, not merged) person by
    /// village, with household size and newest working card.
    fn personal_table(&self) -> Result<Table, AppError> {
        let mut rows = Vec::new();
        for (village, _) in self.store.villages()? {
            for who in self.store.village_beneficiaries(&village)? {
                let card = self
                    .store
                    .cards_of(who.id)?
                    .into_iter()
                    .find(|c| c.revoked.is_none())
                    .map(|c| qafila_cards::card_number(c.serial))
                    .unwrap_or_default();
                rows.push(vec![
                    Cell::Text(who.name.unwrap_or_default()),
                    Cell::Text(who.village),
                    Cell::Count(u64::from(who.household_size)),
                    Cell::Text(card),
                ]);
            }
        }
        Ok(Table {
            sheet: "بيانات شخصية - Personal data",
            title: Some(PERSONAL_MARK),
            headers: PERSONAL_HEADERS.to_vec(),
            hxl: None,
            rows,
        })
    }

    /// HQ's reach per governorate, association, item and day over every
    /// event this device holds (all its convoys), each household counted
    /// once per line; with `out`, also written as CSV or XLSX (with `hxl`,
    /// the hashtag row and no total lines).
    pub fn hq_rollup(
        &self,
        from: &str,
        to: &str,
        out: Option<&Path>,
        hxl: bool,
    ) -> Result<RollupDto, AppError> {
        let (from, to) = date_range(Some(from), Some(to))?;
        let format = out.map(|o| output_format(o, None)).transpose()?;
        let (events, state) = self.fold()?;
        let sites = self.site_names()?;
        let hand_outs = counted_hand_outs(&events, &state, from, to);
        let (rows, totals) = rollup_rows(&hand_outs, &state);
        let warnings = missing_places(&hand_outs, &state, &sites);
        let file = match (out, format) {
            (Some(out), Some(format)) => {
                let table = rollup_table(&rows, &totals, hxl);
                write_file(out, &table_bytes(&table, format)?)?;
                Some(ExportDto {
                    out: out.display().to_string(),
                    kind: "rollup",
                    format: format.code(),
                    hxl,
                    rows: table.rows.len(),
                    personal_data: false,
                    from: Some(from.to_string()),
                    to: Some(to.to_string()),
                    // The roll-up itself carries them.
                    warnings: Vec::new(),
                })
            }
            _ => None,
        };
        Ok(RollupDto {
            from: from.to_string(),
            to: to.to_string(),
            rows: rows
                .into_iter()
                .map(|r| RollupRowDto {
                    date: r.date.to_string(),
                    governorate_code: r.governorate_code,
                    governorate: r.governorate,
                    association: r.association,
                    item: r.item.code(),
                    item_ar: r.item.name_ar(),
                    quantity: r.quantity.to_string(),
                    households: r.households,
                    people: r.people,
                })
                .collect(),
            totals: totals
                .into_iter()
                .map(|t| RollupTotalDto {
                    governorate_code: t.governorate_code,
                    governorate: t.governorate,
                    households: t.households,
                    people: t.people,
                })
                .collect(),
            warnings,
            file,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qafila_domain::entitlement::Round;
    use qafila_domain::event::{HandOut, SealedPersonalData};
    use qafila_domain::hlc::Timestamp;
    use qafila_domain::ids::{BeneficiaryId, DeviceId, RoundId, VolunteerId};

    const BASE: u64 = 1_790_000_000_000;

    fn device(n: u8) -> DeviceId {
        DeviceId::from_parts(1, [n; 10])
    }
    fn household(n: u8) -> HouseholdId {
        HouseholdId::from_parts(2, [n; 10])
    }
    fn beneficiary(n: u8) -> BeneficiaryId {
        BeneficiaryId::from_parts(3, [n; 10])
    }
    fn site(n: u8) -> SiteId {
        SiteId::from_parts(4, [n; 10])
    }
    fn round() -> RoundId {
        RoundId::from_parts(5, [0; 10])
    }
    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    /// Events with distinct ids and increasing timestamps.
    #[derive(Default)]
    struct Log {
        events: Vec<Event>,
        n: u16,
    }

    impl Log {
        fn at(&mut self, dev: u8, body: EventBody) -> EventId {
            self.n += 1;
            let mut random = [0u8; 10];
            random[..2].copy_from_slice(&self.n.to_be_bytes());
            random[2] = dev;
            let wall = BASE + u64::from(self.n) * 1000;
            let event = Event {
                id: EventId::from_parts(wall, random),
                device: device(dev),
                volunteer: VolunteerId::from_parts(6, [dev; 10]),
                at: Timestamp::new(wall, 0),
                body,
            };
            let id = event.id;
            self.events.push(event);
            id
        }

        fn register(&mut self, n: u8, size: u32, village: &str) {
            self.at(
                0,
                EventBody::BeneficiaryRegistered {
                    beneficiary: beneficiary(n),
                    household: household(n),
                    household_size: size,
                    village: village.into(),
                    nid_hash: None,
                    personal: SealedPersonalData(vec![0xAB; 40]),
                },
            );
        }

        fn describe(&mut self, s: u8, governorate: &str, association: &str) {
            self.at(
                0,
                EventBody::SiteDescribed {
                    site: site(s),
                    governorate: governorate.into(),
                    district: "ملوي".into(),
                    association: association.into(),
                },
            );
        }

        fn hand_out(&mut self, dev: u8, s: u8, n: u8, d: u32, item: ItemCode, qty: u32) -> EventId {
            self.at(
                dev,
                EventBody::HandOut(HandOut {
                    beneficiary: beneficiary(n),
                    household: household(n),
                    site: site(s),
                    day: day(d),
                    round: round(),
                    item,
                    qty: Quantity::units(qty),
                    lot: None,
                    card: None,
                    override_reason: None,
                }),
            )
        }

        fn state(&self) -> State {
            State::fold(&[Round::with_defaults(round(), "شتاء")], &self.events)
        }

        fn counted(&self, from: u32, to: u32) -> Vec<CountedHandOut> {
            counted_hand_outs(&self.events, &self.state(), day(from), day(to))
        }

        fn distribution(&self) -> Vec<DistributionRow> {
            let sites = BTreeMap::from([(site(1), "دير مواس".to_owned())]);
            distribution_rows(&self.counted(1, 31), &self.state(), &sites)
        }
    }

    const VILLAGE: &str = "كفر الشيخ سالم";
    const OTHER_VILLAGE: &str = "نزلة عبيد";
    const ASSOCIATION: &str = "جمعية رسالة";

    #[test]
    fn a_household_served_by_two_devices_counts_once() {
        let mut log = Log::default();
        log.register(1, 5, VILLAGE);
        log.describe(1, "24", ASSOCIATION);
        log.hand_out(1, 1, 1, 1, ItemCode::FoodBox, 1);
        log.hand_out(2, 1, 1, 1, ItemCode::FoodBox, 1);
        let rows = log.distribution();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!(
            row.quantity,
            Quantity::units(2),
            "both boxes left the truck"
        );
        assert_eq!(row.households, 1);
        assert_eq!(row.people, 5);
        assert_eq!(row.village, VILLAGE);
        assert_eq!(row.site, "دير مواس");
        assert_eq!(
            row.place,
            Place {
                association: ASSOCIATION.into(),
                governorate_code: "24".into(),
                governorate: "المنيا".into(),
                district: "ملوي".into(),
            }
        );
    }

    #[test]
    fn voided_hand_outs_are_left_out() {
        let mut log = Log::default();
        log.register(1, 5, VILLAGE);
        log.register(2, 3, VILLAGE);
        let wrong = log.hand_out(1, 1, 1, 1, ItemCode::FoodBox, 1);
        log.hand_out(1, 1, 2, 1, ItemCode::FoodBox, 1);
        log.at(
            1,
            EventBody::Void {
                target: wrong,
                target_device: Some(device(1)),
                reason: "خطأ في التسجيل".into(),
            },
        );
        let rows = log.distribution();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].quantity, Quantity::units(1));
        assert_eq!((rows[0].households, rows[0].people), (1, 3));
    }

    #[test]
    fn a_merged_duplicate_is_one_household() {
        let mut log = Log::default();
        log.register(1, 5, VILLAGE);
        log.register(2, 5, VILLAGE);
        log.at(
            0,
            EventBody::BeneficiaryMerged {
                kept: beneficiary(1),
                merged: beneficiary(2),
                reason: "نفس الشخص".into(),
            },
        );
        log.hand_out(1, 1, 1, 1, ItemCode::Blanket, 1);
        log.hand_out(2, 1, 2, 1, ItemCode::Blanket, 1);
        let rows = log.distribution();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].households, rows[0].people), (1, 5));
        assert_eq!(rows[0].quantity, Quantity::units(2));
    }

    #[test]
    fn one_row_per_village_item_and_day() {
        let mut log = Log::default();
        log.register(1, 5, VILLAGE);
        log.register(2, 4, OTHER_VILLAGE);
        for d in [1, 2] {
            for n in [1, 2] {
                log.hand_out(1, 1, n, d, ItemCode::FoodBox, 1);
                log.hand_out(1, 1, n, d, ItemCode::Blanket, 2);
            }
        }
        // Outside the range.
        log.hand_out(1, 1, 1, 9, ItemCode::FoodBox, 1);
        let rows = distribution_rows(&log.counted(1, 2), &log.state(), &BTreeMap::new());
        let keys: Vec<(u32, &str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    chrono::Datelike::day(&r.date),
                    r.village.as_str(),
                    r.item.code(),
                )
            })
            .collect();
        let mut expected = Vec::new();
        for d in [1, 2] {
            for v in [VILLAGE, OTHER_VILLAGE] {
                for i in ["food_box", "blanket"] {
                    expected.push((d, v, i));
                }
            }
        }
        let sorted = |mut v: Vec<(u32, &'static str, &'static str)>| {
            v.sort();
            v
        };
        let mut got = keys.clone();
        got.sort();
        assert_eq!(got, sorted(expected));
        assert!(rows.iter().all(|r| r.households == 1));
        assert!(
            rows.iter()
                .filter(|r| r.item == ItemCode::Blanket)
                .all(|r| r.quantity == Quantity::units(2))
        );
        // A site nobody named shows its id; nobody described it either.
        assert_eq!(rows[0].site, site(1).to_string());
        assert_eq!(rows[0].place, Place::default());
        let warnings = missing_places(&log.counted(1, 2), &log.state(), &BTreeMap::new());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("qafila site describe"));
    }

    #[test]
    fn a_closed_day_counts_only_what_its_close_covered() {
        let mut log = Log::default();
        log.register(1, 5, VILLAGE);
        log.register(2, 3, VILLAGE);
        let seen = log.hand_out(1, 1, 1, 1, ItemCode::FoodBox, 1);
        let watermark = log.events.iter().find(|e| e.id == seen).unwrap().at;
        log.at(
            0,
            EventBody::DayClose {
                site: site(1),
                day: day(1),
                covered: vec![(device(1), watermark)],
                outstanding: Vec::new(),
                signature: vec![1; 64],
            },
        );
        // Recorded offline after the close: a late record, not counted.
        log.hand_out(1, 1, 2, 1, ItemCode::FoodBox, 1);
        let rows = log.distribution();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].quantity, Quantity::units(1));
        assert_eq!(rows[0].households, 1);
    }

    #[test]
    fn five_w_spans_the_range_and_counts_households_once_over_it() {
        let mut log = Log::default();
        log.register(1, 5, VILLAGE);
        log.register(2, 2, VILLAGE);
        log.describe(1, "24", ASSOCIATION);
        log.describe(2, "24", ASSOCIATION);
        log.hand_out(1, 1, 1, 3, ItemCode::FoodBox, 1);
        log.hand_out(1, 2, 1, 5, ItemCode::FoodBox, 1);
        log.hand_out(1, 2, 2, 4, ItemCode::FoodBox, 1);
        let rows = five_w_rows(&log.counted(1, 31), &log.state());
        assert_eq!(rows.len(), 1, "two sites, one place: {rows:?}");
        let row = &rows[0];
        assert_eq!((row.first, row.last), (day(3), day(5)));
        assert_eq!(row.quantity, Quantity::units(3));
        assert_eq!((row.households, row.people), (2, 7));
        assert_eq!(row.place.governorate, "المنيا");
    }

    #[test]
    fn the_rollup_counts_a_household_once_across_sites_and_keeps_associations_apart() {
        let mut log = Log::default();
        log.register(1, 5, VILLAGE);
        log.register(2, 4, VILLAGE);
        log.describe(1, "24", ASSOCIATION);
        log.describe(2, "24", ASSOCIATION);
        log.describe(3, "24", "جمعية الأورمان");
        // Two convoys (sites 1 and 2) of one association serve household 1.
        log.hand_out(1, 1, 1, 1, ItemCode::FoodBox, 1);
        log.hand_out(2, 2, 1, 1, ItemCode::FoodBox, 1);
        log.hand_out(2, 2, 2, 1, ItemCode::FoodBox, 1);
        // Another association serves household 1 too.
        log.hand_out(3, 3, 1, 1, ItemCode::FoodBox, 1);
        let (rows, totals) = rollup_rows(&log.counted(1, 1), &log.state());
        assert_eq!(rows.len(), 2, "{rows:?}");
        let risala = rows.iter().find(|r| r.association == ASSOCIATION).unwrap();
        assert_eq!(risala.quantity, Quantity::units(3));
        assert_eq!((risala.households, risala.people), (2, 9));
        let other = rows.iter().find(|r| r.association != ASSOCIATION).unwrap();
        assert_eq!((other.households, other.people), (1, 5));
        assert_eq!(
            totals,
            vec![RollupTotal {
                governorate_code: "24".into(),
                governorate: "المنيا".into(),
                households: 2,
                people: 9,
            }]
        );
        let with_totals = rollup_table(&rows, &totals, false);
        assert_eq!(with_totals.rows.len(), 3);
        assert_eq!(with_totals.rows[2][4], Cell::text(TOTAL_LABEL));
        assert_eq!(rollup_table(&rows, &totals, true).rows.len(), 2);
    }

    fn sample_rows() -> Vec<DistributionRow> {
        let mut log = Log::default();
        log.register(1, 5, VILLAGE);
        log.describe(1, "24", "جمعية رسالة, فرع ملوي");
        log.hand_out(1, 1, 1, 1, ItemCode::MeatKg, 1);
        log.hand_out(1, 1, 1, 1, ItemCode::FoodBox, 1);
        log.distribution()
    }

    #[test]
    fn the_hxl_row_is_there_only_when_asked_for() {
        let rows = sample_rows();
        let plain = distribution_table(&rows, false);
        assert!(plain.hxl.is_none());
        let text = String::from_utf8(csv_bytes(&plain).unwrap()).unwrap();
        assert!(!text.contains('#'), "{text}");
        assert_eq!(text.split("\r\n").filter(|l| !l.is_empty()).count(), 3);

        let tagged = distribution_table(&rows, true);
        let text = String::from_utf8(csv_bytes(&tagged).unwrap()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines[1],
            "#date,#loc+site,#org+name,#adm1+name,#adm1+code,#adm2+name,#loc+name,#item+name,#item+code,#output+num,#reached+hh,#reached+ind"
        );
        assert!(lines[0].starts_with("\u{feff}التاريخ (Date),"));
        let five_w = five_w_table(&[], true);
        assert!(five_w.hxl.unwrap().contains(&"#date+start"));
    }

    #[test]
    fn csv_has_a_bom_crlf_and_rfc4180_quotes() {
        let bytes = csv_bytes(&distribution_table(&sample_rows(), true)).unwrap();
        assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF]);
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(text.ends_with("\r\n"));
        assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
        assert_eq!(text.matches("\r\n").count(), 4, "{text}");
        // A comma inside a value is quoted; the Arabic is intact.
        assert!(
            text.contains(&format!(
                "\"جمعية رسالة, فرع ملوي\",المنيا,24,ملوي,{VILLAGE},لحوم,meat_kg,1,1,5"
            )),
            "{text}"
        );
        // And a standard reader gets the fields back.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 4);
        assert_eq!(&records[2][2], "جمعية رسالة, فرع ملوي");
    }

    #[test]
    fn text_that_looks_like_a_formula_is_defused_in_csv() {
        let table = Table {
            sheet: "t",
            title: None,
            headers: vec!["a"],
            hxl: None,
            rows: vec![vec![Cell::text("=HYPERLINK(\"x\")")]],
        };
        let text = String::from_utf8(csv_bytes(&table).unwrap()).unwrap();
        assert!(text.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
    }

    #[test]
    fn xlsx_holds_numbers_as_numbers_and_the_arabic_intact() {
        use calamine::{Data, Reader, Xlsx};

        let bytes = xlsx_bytes(&distribution_table(&sample_rows(), true)).unwrap();
        let mut book = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(book.sheet_names(), vec!["توزيع - Distribution".to_owned()]);
        let range = book.worksheet_range("توزيع - Distribution").unwrap();
        let rows: Vec<&[Data]> = range.rows().collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0][0], Data::String("التاريخ (Date)".into()));
        assert_eq!(rows[1][10], Data::String("#reached+hh".into()));
        let meat = rows
            .iter()
            .find(|r| r[8] == Data::String("meat_kg".into()))
            .unwrap();
        assert_eq!(meat[6], Data::String(VILLAGE.into()));
        assert_eq!(meat[7], Data::String("لحوم".into()));
        assert_eq!(meat[9], Data::Float(1.0));
        assert_eq!(meat[11], Data::Float(5.0));
    }

    #[test]
    fn the_personal_list_must_say_so_in_its_name_and_the_format_must_match() {
        assert_eq!(
            check_personal_name(Path::new("/tmp/list.xlsx"))
                .unwrap_err()
                .code,
            "personal_name_required"
        );
        check_personal_name(Path::new("/tmp/registrar-Personal-data.csv")).unwrap();
        assert_eq!(
            output_format(Path::new("x.csv"), Some(ExportFormat::Xlsx))
                .unwrap_err()
                .code,
            "export_format_mismatch"
        );
        assert_eq!(
            output_format(Path::new("x.ods"), None).unwrap_err().code,
            "export_extension"
        );
        assert_eq!(
            output_format(Path::new("x.XLSX"), Some(ExportFormat::Xlsx)).unwrap(),
            ExportFormat::Xlsx
        );
        assert_eq!(
            date_range(Some("2026-12-05"), Some("2026-12-01"))
                .unwrap_err()
                .code,
            "date_range"
        );
        assert_eq!(
            date_range(None, Some("2026-12-01")).unwrap_err().code,
            "date_required"
        );
    }

    #[test]
    fn a_personal_table_carries_its_mark_first() {
        let table = Table {
            sheet: "بيانات شخصية - Personal data",
            title: Some(PERSONAL_MARK),
            headers: PERSONAL_HEADERS.to_vec(),
            hxl: None,
            rows: vec![vec![
                Cell::text("فاطمة محمد"),
                Cell::text(VILLAGE),
                Cell::Count(5),
                Cell::text(""),
            ]],
        };
        let text = String::from_utf8(csv_bytes(&table).unwrap()).unwrap();
        assert!(
            text.starts_with(&format!("\u{feff}{PERSONAL_MARK}\r\n")),
            "{text}"
        );
        let bytes = xlsx_bytes(&table).unwrap();
        use calamine::{Data, Reader, Xlsx};
        let mut book = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let range = book
            .worksheet_range("بيانات شخصية - Personal data")
            .unwrap();
        assert_eq!(range.get((0, 0)), Some(&Data::String(PERSONAL_MARK.into())));
        assert_eq!(range.get((2, 0)), Some(&Data::String("فاطمة محمد".into())));
    }

    #[test]
    fn files_are_written_whole_and_for_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("export.csv");
        write_file(&out, b"abc").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"abc");
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no part file left"
        );
        let missing = dir.path().join("nope").join("x.csv");
        assert_eq!(
            write_file(&missing, b"x").unwrap_err().code,
            "output_dir_missing"
        );
    }
}
