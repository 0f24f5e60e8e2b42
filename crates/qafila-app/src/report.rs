//! The day report: what a convoy lead prints at sunset and the association
//! and HQ file.
//!
//! [`App::day_report`] gathers a site's day into a [`DayReport`] from the
//! façade's own calls: the stock reconciliation ([`App::day_status`]), the
//! signed close ([`App::day_close`]), where the site is and who runs it, and
//! the reach (households and people served, per item). [`render_html`] turns
//! it into one self-contained A4 document, Arabic and right to left unless
//! asked for English, ending with lines for the convoy lead, the stock keeper
//! and the association's representative to sign by hand.
//! [`App::write_day_report`] writes it as HTML or, through Chromium
//! ([`crate::print`]), as a PDF.
//!
//! Rendering is pure: the report carries its generation time and the UTC
//! offset its times are shown in, so one report always renders the same
//! bytes. Every piece of text is HTML-escaped, numbers, dates and ids sit in
//! `<bdi>` so they keep their order inside Arabic, and the stylesheet uses
//! logical properties only, so the English page is the Arabic one mirrored.
//! The page's Content-Security-Policy ([`REPORT_CSP`]) allows its inline
//! stylesheet and nothing else: no script, no request of any kind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use qafila_domain::event::{Event, EventBody, ReviewOutcome, VarianceReason, governorate};
use qafila_domain::fold::State;
use qafila_domain::ids::{HouseholdId, SiteId};
use qafila_domain::item::ItemCode;
use qafila_domain::quantity::Quantity;
use qafila_store::setup::Site;
use serde::Serialize;

use crate::dayend::DayCloseDto;
use crate::distribution::parse_date;
use crate::dto::{AnomalyDto, StockLineDto};
use crate::{App, AppError};

/// The language a report is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Arabic, right to left (the default).
    #[default]
    Ar,
    /// English, left to right.
    En,
}

impl Lang {
    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Ar => "ar",
            Lang::En => "en",
        }
    }

    /// The page direction.
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            Lang::En => "ltr",
        }
    }
}

/// Where a site is and who runs it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlaceDto {
    /// Governorate code (the national ID's two digits).
    pub governorate: String,
    /// Its English name (the code itself if unknown).
    pub governorate_en: String,
    /// Its Arabic name (the code itself if unknown).
    pub governorate_ar: String,
    /// District (markaz).
    pub district: String,
    /// The association running the site.
    pub association: String,
}

/// One stock line of the day and the note its count carried.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StockRowDto {
    /// The figures.
    #[serde(flatten)]
    pub line: StockLineDto,
    /// The note typed with the standing count, if any.
    pub count_note: Option<String>,
}

/// What one item reached.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReachItemDto {
    /// Item code.
    pub item: &'static str,
    /// English name.
    pub item_en: &'static str,
    /// Arabic name.
    pub item_ar: &'static str,
    /// English unit.
    pub unit_en: &'static str,
    /// Arabic unit.
    pub unit_ar: &'static str,
    /// Quantity handed out.
    pub qty: String,
    /// Distinct households that received it.
    pub households: u64,
}

/// Who the site's day reached.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct ReachDto {
    /// Distinct households served (merged entries counted once).
    pub households: u64,
    /// People in those households, as registered.
    pub people: u64,
    /// Households served that this device has no registration for (their
    /// people are not in `people`).
    pub unregistered_households: u64,
    /// Per item handed out.
    pub items: Vec<ReachItemDto>,
}

/// A site's day as the printed report shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DayReport {
    /// The report's language.
    pub lang: Lang,
    /// The convoy serving the site, if this device knows one.
    pub convoy: Option<String>,
    /// Site name.
    pub site: String,
    /// The day (`YYYY-MM-DD`).
    pub date: String,
    /// Where the site is, if the lead described it.
    pub place: Option<PlaceDto>,
    /// Per item with stock or movement: the figures, the count, the
    /// variance and its reason.
    pub stock: Vec<StockRowDto>,
    /// Households, people and items reached.
    pub reach: ReachDto,
    /// The anomalies touching the day, with their reviews.
    pub anomalies: Vec<AnomalyDto>,
    /// The signed close, once the day is closed.
    pub close: Option<DayCloseDto>,
    /// The first 16 hexadecimal characters of the SHA-256 of the signed
    /// text: the same on every copy of this close's report.
    pub fingerprint: Option<String>,
    /// The device that produced the report.
    pub device: String,
    /// When it was produced (ms since the epoch).
    pub generated_ms: u64,
    /// The convoy's time zone: every time is shown with the offset in
    /// force at that moment.
    pub zone: String,
    /// Figures, dates and times in Eastern Arabic digits (the Arabic
    /// screens' default) rather than Western.
    pub eastern_digits: bool,
}

impl DayReport {
    /// Whether the day is closed and signed.
    pub fn closed(&self) -> bool {
        self.close.is_some()
    }
}

/// A day report written to a file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DayReportFileDto {
    /// The file written.
    pub out: String,
    /// `html` or `pdf`.
    pub format: &'static str,
    /// `ar` or `en`.
    pub lang: Lang,
    /// Site name.
    pub site: String,
    /// The day.
    pub date: String,
    /// Whether the day is closed (otherwise the report is provisional).
    pub closed: bool,
    /// Whether the close's signature checks, once closed.
    pub signature_valid: Option<bool>,
    /// The close's fingerprint, once closed.
    pub fingerprint: Option<String>,
    /// Households served.
    pub households: u64,
    /// People served.
    pub people: u64,
}

/// Which file format a path asks for.
fn report_format(out: &Path) -> Result<&'static str, AppError> {
    match out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => Ok("html"),
        Some("pdf") => Ok("pdf"),
        _ => Err(AppError::new(
            "report_format",
            format!(
                "cannot tell what to write to {}: name the file .pdf (to print) or .html (to open in a browser)",
                out.display()
            ),
            format!(
                "مش عارف أكتب إيه في {}: اسم الملف لازم يخلص بـ ‎.pdf (للطباعة) أو ‎.html (للفتح في المتصفح)",
                out.display()
            ),
        )),
    }
}

impl App {
    /// A site's day for the printed report: stock reconciliation, reach,
    /// anomalies and their reviews, and the signed close (if any).
    pub fn day_report(
        &self,
        site: &str,
        date: Option<&str>,
        lang: Lang,
    ) -> Result<DayReport, AppError> {
        let site = self.known_site(site)?;
        let (now, today) = self.now_at(site.id)?;
        let day = match date.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => parse_date(d)?,
            None => today,
        };
        let date = day.to_string();
        // Both calls get the same explicit day, so a report made around
        // midnight cannot mix two days.
        let status = self.day_status(&site.name, Some(&date))?;
        let close = self.day_close(&site.name, Some(&date))?;
        let (events, state) = self.fold()?;
        let stock = status
            .items
            .into_iter()
            .filter(line_is_active)
            .map(|line| StockRowDto {
                count_note: count_note(&events, &state, site.id, day, &line),
                line,
            })
            .collect();
        let fingerprint = close
            .as_ref()
            .map(|c| fingerprint(c.signed_text.as_bytes()));
        Ok(DayReport {
            lang,
            convoy: self.convoy_serving(&site)?,
            place: state.place(site.id).map(|p| {
                let (en, ar) = governorate(&p.governorate)
                    .unwrap_or((p.governorate.as_str(), p.governorate.as_str()));
                PlaceDto {
                    governorate: p.governorate.clone(),
                    governorate_en: en.to_owned(),
                    governorate_ar: ar.to_owned(),
                    district: p.district.clone(),
                    association: p.association.clone(),
                }
            }),
            reach: reach(&events, &state, site.id, day),
            anomalies: status.anomalies,
            stock,
            close,
            fingerprint,
            site: site.name,
            date,
            device: self.device().name,
            generated_ms: now,
            zone: self.convoy_time().zone_name().to_owned(),
            eastern_digits: lang == Lang::Ar,
        })
    }

    /// Writes a site's day report to `out`: HTML for `.html`/`.htm`, a PDF
    /// printed by Chromium for `.pdf`. The file is written whole or not at
    /// all, readable by its owner only.
    pub fn write_day_report(
        &self,
        site: &str,
        date: Option<&str>,
        lang: Lang,
        out: &Path,
    ) -> Result<DayReportFileDto, AppError> {
        let format = report_format(out)?;
        let report = self.day_report(site, date, lang)?;
        crate::print::write_html_or_pdf(&render_html(&report), out, format, "report_write")?;
        Ok(DayReportFileDto {
            out: out.display().to_string(),
            format,
            lang,
            closed: report.closed(),
            signature_valid: report.close.as_ref().map(|c| c.signature_valid),
            fingerprint: report.fingerprint.clone(),
            households: report.reach.households,
            people: report.reach.people,
            site: report.site,
            date: report.date,
        })
    }

    /// The site with this name; unlike [`qafila_store::Store::site`] it
    /// never creates one, so a mistyped name is an error instead of an empty
    /// report.
    fn known_site(&self, name: &str) -> Result<Site, AppError> {
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        let key = qafila_domain::names::NameKey::new(&name);
        if let Some(site) = self.store.find_site(key.as_str())? {
            return Ok(site);
        }
        let known: Vec<String> = self
            .store
            .sites()?
            .into_iter()
            .map(|s| s.name)
            .take(12)
            .collect();
        let (en, ar) = if known.is_empty() {
            (
                "this device has no sites yet".to_owned(),
                "مفيش مواقع على الجهاز ده لسه".to_owned(),
            )
        } else {
            (
                format!("known sites: {}", known.join(", ")),
                format!("المواقع المعروفة: {}", known.join("، ")),
            )
        };
        Err(AppError::new(
            "unknown_site",
            format!("no site is called `{name}` on this device ({en}); check the spelling"),
            format!("مفيش موقع اسمه «{name}» على الجهاز ده ({ar})؛ راجع الاسم"),
        ))
    }

    /// The name of the convoy serving a site: the one that lists it, or the
    /// only convoy this device belongs to.
    fn convoy_serving(&self, site: &Site) -> Result<Option<String>, AppError> {
        let key = |n: &str| qafila_domain::names::NameKey::new(n).as_str().to_owned();
        let convoys = self.store.convoys()?;
        let serving = convoys
            .iter()
            .find(|c| c.sites.iter().any(|s| key(s) == key(&site.name)))
            .or(match convoys.as_slice() {
                [only] => Some(only),
                _ => None,
            });
        Ok(serving.map(|c| c.name.clone()))
    }
}

/// Whether anything is on or moved through a line (the close signs only
/// those lines; a line of zeros carried from an earlier day is left out).
fn line_is_active(line: &StockLineDto) -> bool {
    let zero = |s: &str| s.chars().all(|c| matches!(c, '0' | '.' | '-'));
    line.counted.is_some()
        || [
            &line.opening,
            &line.loaded,
            &line.transferred_in,
            &line.transferred_out,
            &line.handed_out,
            &line.returned,
            &line.lost,
        ]
        .iter()
        .any(|figure| !zero(figure))
}

/// The note of the count standing for a line.
fn count_note(
    events: &[Event],
    state: &State,
    site: SiteId,
    day: NaiveDate,
    line: &StockLineDto,
) -> Option<String> {
    let item = ItemCode::ALL.into_iter().find(|i| i.code() == line.item)?;
    let (count, _) = state.stock_line(site, day, item)?.count?;
    events
        .iter()
        .find(|e| e.id == count)
        .and_then(|e| match &e.body {
            EventBody::StockCount { note, .. } => note.clone().filter(|n| !n.trim().is_empty()),
            _ => None,
        })
}

/// Who a site's day reached: the distinct households (a merged entry counts
/// for the household it was merged into) of the hand-outs that count in the
/// day's figures, that is not voided, and, on a closed day, covered by its
/// close (a record that arrived late is a `late_record` anomaly instead).
fn reach(events: &[Event], state: &State, site: SiteId, day: NaiveDate) -> ReachDto {
    let mut households: BTreeSet<HouseholdId> = BTreeSet::new();
    let mut items: BTreeMap<ItemCode, (Quantity, BTreeSet<HouseholdId>)> = BTreeMap::new();
    for h in crate::export::counted_hand_outs(events, state, day, day)
        .into_iter()
        .filter(|h| h.site == site)
    {
        households.insert(h.household);
        let (qty, served) = items.entry(h.item).or_default();
        *qty = qty.saturating_add(h.qty);
        served.insert(h.household);
    }
    let mut people = 0_u64;
    let mut unregistered = 0_u64;
    for household in &households {
        match state.household(*household) {
            Some(h) => people += u64::from(h.size),
            None => unregistered += 1,
        }
    }
    ReachDto {
        households: households.len() as u64,
        people,
        unregistered_households: unregistered,
        items: items
            .into_iter()
            .map(|(item, (qty, served))| ReachItemDto {
                item: item.code(),
                item_en: item.name_en(),
                item_ar: item.name_ar(),
                unit_en: item.unit().name_en(),
                unit_ar: item.unit().name_ar(),
                qty: qty.to_string(),
                households: served.len() as u64,
            })
            .collect(),
    }
}

/// The close's fingerprint: the first 16 hexadecimal characters of the
/// SHA-256 of what was signed.
pub fn fingerprint(signed: &[u8]) -> String {
    <sha2::Sha256 as sha2::Digest>::digest(signed)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// The report's words in one language.
struct Labels {
    title: &'static str,
    convoy: &'static str,
    site: &'static str,
    date: &'static str,
    governorate: &'static str,
    district: &'static str,
    association: &'static str,
    stamp_closed: &'static str,
    stamp_provisional: &'static str,
    banner_title: &'static str,
    banner_text: &'static str,
    bad_signature_title: &'static str,
    bad_signature_text: &'static str,
    households: &'static str,
    people: &'static str,
    variance_lines: &'static str,
    unreviewed: &'static str,
    stock: &'static str,
    item: &'static str,
    opening: &'static str,
    loaded: &'static str,
    transferred_in: &'static str,
    transferred_out: &'static str,
    handed_out: &'static str,
    returned: &'static str,
    lost: &'static str,
    expected: &'static str,
    counted: &'static str,
    variance: &'static str,
    reason: &'static str,
    not_counted: &'static str,
    no_stock: &'static str,
    reach: &'static str,
    quantity: &'static str,
    unit: &'static str,
    households_served: &'static str,
    no_reach: &'static str,
    unregistered: &'static str,
    anomalies: &'static str,
    anomaly_id: &'static str,
    anomaly: &'static str,
    review: &'static str,
    not_reviewed: &'static str,
    no_anomalies: &'static str,
    close: &'static str,
    closed_by: &'static str,
    closed_at: &'static str,
    covered: &'static str,
    outstanding: &'static str,
    outstanding_none: &'static str,
    signature: &'static str,
    signature_valid: &'static str,
    signature_invalid: &'static str,
    fingerprint: &'static str,
    fingerprint_help: &'static str,
    not_closed: &'static str,
    signatures: &'static str,
    lead: &'static str,
    keeper: &'static str,
    representative: &'static str,
    name: &'static str,
    signed: &'static str,
    signed_on: &'static str,
    generated: &'static str,
    generated_at: &'static str,
    list_separator: &'static str,
}

const AR: Labels = Labels {
    title: "تقرير اليوم",
    convoy: "القافلة",
    site: "الموقع",
    date: "التاريخ",
    governorate: "المحافظة",
    district: "المركز",
    association: "الجمعية",
    stamp_closed: "مُغلق وموقَّع",
    stamp_provisional: "مؤقت",
    banner_title: "لم يُغلق اليوم — تقرير مؤقت",
    banner_text: "الأرقام قد تتغير حتى يُغلق قائد القافلة اليوم ويوقّعه إلكترونيًا. لا تُعتمد هذه النسخة.",
    bad_signature_title: "التوقيع الإلكتروني غير صالح",
    bad_signature_text: "الأرقام الحالية لا تطابق ما وقّعه قائد القافلة، أو التوقيع من جهاز غير معروف. لا تُعتمد هذه الأرقام قبل المراجعة.",
    households: "الأسر المخدومة",
    people: "الأفراد",
    variance_lines: "أصناف بها فرق",
    unreviewed: "ملاحظات لم تُراجع",
    stock: "مطابقة المخزون",
    item: "الصنف",
    opening: "رصيد أول اليوم",
    loaded: "وارد",
    transferred_in: "تحويل وارد",
    transferred_out: "تحويل صادر",
    handed_out: "منصرف",
    returned: "مرتجع",
    lost: "فاقد",
    expected: "المتوقع",
    counted: "الجرد الفعلي",
    variance: "الفرق",
    reason: "سبب الفرق",
    not_counted: "لم يُجرد",
    no_stock: "لا توجد حركة مخزون في هذا اليوم.",
    reach: "الوصول",
    quantity: "الكمية المنصرفة",
    unit: "الوحدة",
    households_served: "عدد الأسر",
    no_reach: "لم يُصرف شيء في هذا اليوم.",
    unregistered: "أسر ليس لها تسجيل على هذا الجهاز (أفرادها غير محسوبين):",
    anomalies: "الملاحظات ومراجعتها",
    anomaly_id: "الرقم",
    anomaly: "الملاحظة",
    review: "المراجعة",
    not_reviewed: "لم تُراجع",
    no_anomalies: "لا توجد ملاحظات على هذا اليوم.",
    close: "الإغلاق والتوقيع الإلكتروني",
    closed_by: "أغلقه",
    closed_at: "وقت الإغلاق",
    covered: "الأجهزة المشمولة",
    outstanding: "أُغلق دون انتظار",
    outstanding_none: "لا أحد — كل الأجهزة زامنت",
    signature: "التوقيع الإلكتروني",
    signature_valid: "صالح",
    signature_invalid: "غير صالح",
    fingerprint: "البصمة",
    fingerprint_help: "البصمة واحدة في كل نسخة من تقرير هذا الإغلاق؛ قارنها بين النسخ.",
    not_closed: "لم يُغلق اليوم بعد، فلا يوجد توقيع إلكتروني.",
    signatures: "التوقيعات",
    lead: "قائد القافلة",
    keeper: "أمين المخزن",
    representative: "مندوب الجمعية",
    name: "الاسم",
    signed: "التوقيع",
    signed_on: "التاريخ",
    generated: "أُنشئ بواسطة قافلة على جهاز",
    generated_at: "في",
    list_separator: "، ",
};

const EN: Labels = Labels {
    title: "Day report",
    convoy: "Convoy",
    site: "Site",
    date: "Date",
    governorate: "Governorate",
    district: "District",
    association: "Association",
    stamp_closed: "Closed and signed",
    stamp_provisional: "Provisional",
    banner_title: "NOT CLOSED — provisional",
    banner_text: "The figures may still change until the convoy lead closes and signs the day. Do not file this copy.",
    bad_signature_title: "Digital signature NOT valid",
    bad_signature_text: "The figures no longer match what the convoy lead signed, or the signature is from an unknown device. Do not rely on these figures until they are reviewed.",
    households: "Households served",
    people: "People",
    variance_lines: "Items with a variance",
    unreviewed: "Anomalies not reviewed",
    stock: "Stock reconciliation",
    item: "Item",
    opening: "Opening",
    loaded: "Loaded",
    transferred_in: "Transfer in",
    transferred_out: "Transfer out",
    handed_out: "Handed out",
    returned: "Returned",
    lost: "Lost",
    expected: "Expected",
    counted: "Counted",
    variance: "Variance",
    reason: "Reason",
    not_counted: "not counted",
    no_stock: "No stock moved on this day.",
    reach: "Reach",
    quantity: "Handed out",
    unit: "Unit",
    households_served: "Households",
    no_reach: "Nothing was handed out on this day.",
    unregistered: "Households this device has no registration for (their people are not counted):",
    anomalies: "Anomalies and their review",
    anomaly_id: "ID",
    anomaly: "Anomaly",
    review: "Review",
    not_reviewed: "NOT reviewed",
    no_anomalies: "No anomalies touch this day.",
    close: "Close and digital signature",
    closed_by: "Closed by",
    closed_at: "Closed at",
    covered: "Devices covered",
    outstanding: "Closed without",
    outstanding_none: "none — every device had synced",
    signature: "Digital signature",
    signature_valid: "valid",
    signature_invalid: "NOT valid",
    fingerprint: "Fingerprint",
    fingerprint_help: "Every copy of this close's report shows the same fingerprint; compare them.",
    not_closed: "The day is not closed yet, so there is no digital signature.",
    signatures: "Signatures",
    lead: "Convoy lead",
    keeper: "Stock keeper",
    representative: "Association representative",
    name: "Name",
    signed: "Signature",
    signed_on: "Date",
    generated: "Generated by Qafila on device",
    generated_at: "at",
    list_separator: ", ",
};

/// The stylesheet. Logical properties only (the tests check), so the
/// English page is the Arabic one mirrored.
/// The report's Content-Security-Policy, in a `<meta http-equiv>` first in
/// the head: its inline `<style>` is all it needs (no images, the system's
/// fonts). Scripts, images, fonts, frames, connections, forms and a
/// `<base>` are refused, so text that slipped through escaping could
/// neither run nor send the page anywhere.
pub const REPORT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

const STYLE: &str = r#"
@page { size: A4; margin: 12mm; }
html {
  print-color-adjust: exact;
  -webkit-print-color-adjust: exact;
  font-family: "Noto Sans Arabic", "Noto Naskh Arabic", "Noto Sans", "DejaVu Sans", sans-serif;
  font-size: 9.5pt;
  line-height: 1.5;
  color: #111;
  background: #fff;
}
html[lang="en"] { font-family: "Noto Sans", "Noto Sans Arabic", "DejaVu Sans", sans-serif; }
body { margin: 0; }
h1, h2, h3, p { margin: 0; }
.sheet { inline-size: 100%; border-collapse: collapse; }
.sheet > thead > tr > td, .sheet > tfoot > tr > td, .sheet > tbody > tr > td { padding: 0; }
.masthead {
  display: flex;
  justify-content: space-between;
  align-items: flex-end;
  gap: 4mm;
  padding-block-end: 2mm;
  margin-block-end: 3mm;
  border-block-end: 0.7mm solid #14532d;
}
.masthead h1 { font-size: 17pt; line-height: 1.3; color: #14532d; }
.masthead .convoy { font-size: 10.5pt; font-weight: 700; }
.facts { display: grid; grid-template-columns: auto auto; gap: 0 3mm; font-size: 9pt; }
.facts dt { color: #444; }
.facts dd { margin: 0; font-weight: 700; }
.stamp {
  flex: none;
  align-self: center;
  padding: 1.5mm 3mm;
  border: 0.6mm solid currentColor;
  border-radius: 1.5mm;
  font-weight: 700;
  font-size: 11pt;
}
.stamp.closed { color: #166534; }
.stamp.provisional { color: #b91c1c; }
.foot {
  display: flex;
  justify-content: space-between;
  gap: 4mm;
  margin-block-start: 3mm;
  padding-block-start: 1.5mm;
  border-block-start: 0.3mm solid #999;
  font-size: 7.5pt;
  color: #444;
}
.banner {
  margin-block-end: 3mm;
  padding: 2.5mm 4mm;
  border: 0.9mm solid #b91c1c;
  background: #fee2e2;
  color: #7f1d1d;
  break-inside: avoid;
}
.banner strong { display: block; font-size: 15pt; line-height: 1.3; }
.summary {
  display: grid;
  grid-template-columns: repeat(4, 1fr);
  gap: 2mm;
  margin-block-end: 2mm;
  break-inside: avoid;
}
.summary div { padding: 1.5mm 2.5mm; border: 0.3mm solid #bbb; border-radius: 1.5mm; }
.summary .value { display: block; font-size: 15pt; font-weight: 700; line-height: 1.3; }
.summary .alert .value { color: #b91c1c; }
h2 {
  margin-block: 4mm 1.5mm;
  padding-block-end: 0.5mm;
  border-block-end: 0.3mm solid #14532d;
  font-size: 11.5pt;
  color: #14532d;
  break-after: avoid;
}
table.data { inline-size: 100%; border-collapse: collapse; font-size: 8.5pt; line-height: 1.35; }
table.data th, table.data td {
  padding: 0.8mm 1.2mm;
  border: 0.25mm solid #999;
  text-align: start;
  vertical-align: middle;
}
table.data td.text { overflow-wrap: anywhere; }
table.data td.item { white-space: nowrap; }
table.data th { background: #e7efe9; font-weight: 700; }
table.data .n { text-align: center; white-space: nowrap; }
table.data tr { break-inside: avoid; }
table.stock th.n { white-space: normal; font-size: 7.5pt; }
tr.variance td { background: #fef3c7; }
td.variance { color: #b91c1c; font-weight: 700; font-size: 9.5pt; }
.missing { color: #b91c1c; font-weight: 700; }
.note { display: block; color: #444; font-size: 7.5pt; }
.id { font-family: "Noto Sans Mono", "DejaVu Sans Mono", monospace; font-size: 7.5pt; white-space: nowrap; }
.empty { color: #444; font-style: italic; }
.close { break-inside: avoid; }
.close dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.8mm 4mm; margin: 0; }
.close dt { color: #444; }
.close dd { margin: 0; }
.valid { color: #166534; font-weight: 700; }
.invalid { padding: 0.3mm 2mm; background: #b91c1c; color: #fff; font-weight: 700; }
.fingerprint {
  font-family: "Noto Sans Mono", "DejaVu Sans Mono", monospace;
  font-size: 11pt;
  font-weight: 700;
  letter-spacing: 0.3mm;
}
.signatures-block { break-inside: avoid; }
.signatures { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6mm; margin-block-start: 2mm; }
.signature h3 { font-size: 10pt; margin-block-end: 1mm; }
.signature .for { display: block; min-block-size: 1.5em; font-size: 8pt; font-weight: 400; color: #444; }
.signature .line { display: flex; align-items: flex-end; gap: 2mm; block-size: 11mm; }
.signature .line span:first-child { flex: none; color: #444; }
.signature .line span:last-child { flex: 1; border-block-end: 0.3mm solid #000; }
"#;

/// An HTML document being written: text goes through [`Page::text`] (escaped)
/// or [`Page::num`] (escaped, in `<bdi>`); markup through [`Page::tag`].
struct Page(String, bool);

impl Page {
    fn tag(&mut self, markup: &str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    fn text(&mut self, text: &str) -> &mut Self {
        push_escaped(&mut self.0, text);
        self
    }

    /// Numbers, dates and ids: isolated and left to right, so `-1` and
    /// `2026-12-01` read the same in Arabic.
    /// With Eastern Arabic digits chosen, figures, dates and times (text
    /// of digits and separators only) are written in them; ids, codes and
    /// fingerprints keep Western digits, the same on every copy.
    fn num(&mut self, text: &str) -> &mut Self {
        self.0.push_str("<bdi dir=\"ltr\">");
        let figure = text
            .chars()
            .all(|c| c.is_ascii_digit() || " -+:./,()".contains(c) || c == '\u{2212}');
        if self.1 && figure {
            push_escaped(&mut self.0, &qafila_domain::digits::to_eastern(text));
        } else {
            push_escaped(&mut self.0, text);
        }
        self.0.push_str("</bdi>");
        self
    }

    /// Names typed by people (sites, devices, associations) inside a
    /// sentence: isolated in their own direction, so an Arabic name in an
    /// English line (or the reverse) does not reorder what is around it.
    fn name(&mut self, text: &str) -> &mut Self {
        self.0.push_str("<bdi>");
        push_escaped(&mut self.0, text);
        self.0.push_str("</bdi>");
        self
    }

    /// A note someone typed, on its own line, in the direction of its first
    /// letter (an Arabic note in the English report reads right to left).
    fn note(&mut self, text: &str) -> &mut Self {
        self.tag("<span class=\"note\" dir=\"auto\">")
            .mixed(text)
            .tag("</span>")
    }

    /// Text that mixes scripts, such as an Arabic sentence with a date, a
    /// quantity, an id or a device name in it: each run of Latin letters,
    /// digits and ASCII punctuation is isolated left to right, so
    /// `يوم 2026-12-01` does not print as `29-11-2026` and `-1` not as `1-`.
    /// Brackets and quotes end a run, so they stay with the sentence and
    /// mirror with it.
    fn mixed(&mut self, text: &str) -> &mut Self {
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let starts = c.is_ascii_alphanumeric()
                || (matches!(c, '-' | '+') && chars.get(i + 1).is_some_and(char::is_ascii_digit));
            if !starts {
                push_escaped(&mut self.0, c.encode_utf8(&mut [0; 4]));
                i += 1;
                continue;
            }
            let mut end = i + 1;
            while end < chars.len()
                && (chars[end].is_ascii_alphanumeric() || " -+:./_#,".contains(chars[end]))
            {
                end += 1;
            }
            // Punctuation and spaces after the run belong to the sentence.
            while end > i + 1 && !chars[end - 1].is_ascii_alphanumeric() {
                end -= 1;
            }
            let run: String = chars[i..end].iter().collect();
            self.num(&run);
            i = end;
        }
        self
    }

    /// A list of names, each isolated.
    fn names(&mut self, names: &[String], separator: &str) -> &mut Self {
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                self.text(separator);
            }
            self.name(name);
        }
        self
    }

    /// `<th>` cells.
    fn heads(&mut self, cells: &[(&str, &str)]) -> &mut Self {
        self.tag("<thead><tr>");
        for (class, text) in cells {
            if class.is_empty() {
                self.tag("<th>");
            } else {
                self.tag("<th class=\"").text(class).tag("\">");
            }
            self.text(text).tag("</th>");
        }
        self.tag("</tr></thead>")
    }
}

/// Appends `text` with the five HTML-significant characters escaped, which
/// makes it safe both as element content and inside a quoted attribute.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// A day as Egyptians write it: `الخميس ٢٩ أكتوبر ٢٠٢٦`.
fn arabic_date(day: NaiveDate, eastern: bool) -> String {
    const MONTHS: [&str; 12] = [
        "يناير",
        "فبراير",
        "مارس",
        "أبريل",
        "مايو",
        "يونيو",
        "يوليو",
        "أغسطس",
        "سبتمبر",
        "أكتوبر",
        "نوفمبر",
        "ديسمبر",
    ];
    const WEEKDAYS: [&str; 7] = [
        "الاثنين",
        "الثلاثاء",
        "الأربعاء",
        "الخميس",
        "الجمعة",
        "السبت",
        "الأحد",
    ];
    let text = format!(
        "{} {} {} {}",
        WEEKDAYS[day.weekday().num_days_from_monday() as usize],
        day.day(),
        MONTHS[day.month0() as usize],
        day.year()
    );
    if eastern {
        qafila_domain::digits::to_eastern(&text)
    } else {
        text
    }
}

/// A moment as `YYYY-MM-DD HH:MM +HH:MM` in the convoy's zone, with the
/// offset in force at that moment (a summer close reads the same in a
/// winter printout).
fn moment(ms: u64, zone: &str) -> String {
    qafila_domain::convoy_time::ConvoyTime::new(zone, 0)
        .unwrap_or_default()
        .format(ms)
}

/// Whether a figure is not zero.
fn nonzero(figure: &str) -> bool {
    !figure.chars().all(|c| matches!(c, '0' | '.' | '-' | '+'))
}

/// Renders the report as one self-contained A4 HTML document (inline CSS,
/// system fonts, nothing fetched).
pub fn render_html(report: &DayReport) -> String {
    let lang = report.lang;
    let l = match lang {
        Lang::Ar => &AR,
        Lang::En => &EN,
    };
    let pick = |ar: &'static str, en: &'static str| match lang {
        Lang::Ar => ar,
        Lang::En => en,
    };
    let mut p = Page(String::with_capacity(24 * 1024), report.eastern_digits);
    p.tag("<!DOCTYPE html>\n<html lang=\"")
        .tag(lang.tag())
        .tag("\" dir=\"")
        .tag(lang.dir())
        .tag("\">\n<head>\n<meta charset=\"utf-8\">\n")
        .tag("<meta http-equiv=\"Content-Security-Policy\" content=\"")
        .tag(REPORT_CSP)
        .tag("\">\n<title>")
        .text(l.title)
        .text(" — ")
        .text(&report.site)
        .text(" — ")
        .text(&report.date)
        .tag("</title>\n<style>")
        .tag(STYLE)
        .tag("</style>\n</head>\n<body>\n");

    // One layout table: Chromium repeats its header and footer on every
    // printed page.
    p.tag("<table class=\"sheet\">\n<thead><tr><td>");
    masthead(&mut p, report, l);
    p.tag("</td></tr></thead>\n<tfoot><tr><td><div class=\"foot\"><span>")
        .text(l.generated)
        .text(" «")
        .name(&report.device)
        .text("» ")
        .text(l.generated_at)
        .text(" ")
        .num(&moment(report.generated_ms, &report.zone))
        .tag("</span><span>")
        .text(l.title)
        .text(" · ")
        .name(&report.site)
        .text(" · ")
        .num(&report.date)
        .tag("</span></div></td></tr></tfoot>\n<tbody><tr><td>\n");

    match &report.close {
        None => {
            p.tag("<div class=\"banner provisional\" role=\"alert\"><strong>")
                .text(l.banner_title)
                .tag("</strong>")
                .text(l.banner_text)
                .tag("</div>\n");
        }
        Some(close) if !close.signature_valid => {
            p.tag("<div class=\"banner bad-signature\" role=\"alert\"><strong>")
                .text(l.bad_signature_title)
                .tag("</strong>")
                .text(l.bad_signature_text)
                .tag("</div>\n");
        }
        Some(_) => {}
    }

    summary(&mut p, report, l);
    stock_table(&mut p, report, l, pick);
    reach_table(&mut p, report, l, pick);
    anomaly_table(&mut p, report, l, pick);
    close_block(&mut p, report, l);
    signature_lines(&mut p, report, l);

    p.tag("</td></tr></tbody>\n</table>\n</body>\n</html>\n");
    p.0
}

fn masthead(p: &mut Page, report: &DayReport, l: &Labels) {
    p.tag("<header class=\"masthead\"><div><h1>")
        .text(l.title)
        .tag("</h1>");
    if let Some(convoy) = &report.convoy {
        p.tag("<p class=\"convoy\">")
            .text(l.convoy)
            .text(": ")
            .name(convoy)
            .tag("</p>");
    }
    p.tag("</div><dl class=\"facts\"><dt>")
        .text(l.site)
        .tag("</dt><dd>")
        .name(&report.site)
        .tag("</dd><dt>")
        .text(l.date)
        .tag("</dt><dd>");
    match (
        report.lang,
        NaiveDate::parse_from_str(&report.date, "%Y-%m-%d"),
    ) {
        (Lang::Ar, Ok(day)) => p.text(&arabic_date(day, report.eastern_digits)),
        _ => p.num(&report.date),
    };
    p.tag("</dd>");
    if let Some(place) = &report.place {
        let governorate = match report.lang {
            Lang::Ar => &place.governorate_ar,
            Lang::En => &place.governorate_en,
        };
        p.tag("<dt>").text(l.governorate).tag("</dt><dd>");
        p.name(governorate);
        if !place.district.is_empty() {
            p.text(" — ")
                .text(l.district)
                .text(" ")
                .name(&place.district);
        }
        p.tag("</dd>");
        if !place.association.is_empty() {
            p.tag("<dt>")
                .text(l.association)
                .tag("</dt><dd>")
                .name(&place.association)
                .tag("</dd>");
        }
    }
    p.tag("</dl>");
    if report.closed() {
        p.tag("<div class=\"stamp closed\">")
            .text(l.stamp_closed)
            .tag("</div>");
    } else {
        p.tag("<div class=\"stamp provisional\">")
            .text(l.stamp_provisional)
            .tag("</div>");
    }
    p.tag("</header>");
}

fn summary(p: &mut Page, report: &DayReport, l: &Labels) {
    let variances = report
        .stock
        .iter()
        .filter(|r| r.line.variance.as_deref().is_some_and(nonzero))
        .count();
    let unreviewed = report
        .anomalies
        .iter()
        .filter(|a| a.review.is_none())
        .count();
    let cells = [
        (l.households, report.reach.households.to_string(), false),
        (l.people, report.reach.people.to_string(), false),
        (l.variance_lines, variances.to_string(), variances > 0),
        (l.unreviewed, unreviewed.to_string(), unreviewed > 0),
    ];
    p.tag("<section class=\"summary\">");
    for (label, value, alert) in cells {
        p.tag(if alert {
            "<div class=\"alert\">"
        } else {
            "<div>"
        })
        .tag("<span class=\"value\">")
        .num(&value)
        .tag("</span>")
        .text(label)
        .tag("</div>");
    }
    p.tag("</section>\n");
}

fn stock_table(
    p: &mut Page,
    report: &DayReport,
    l: &Labels,
    pick: impl Fn(&'static str, &'static str) -> &'static str,
) {
    p.tag("<section class=\"stock\"><h2>")
        .text(l.stock)
        .tag("</h2>\n");
    if report.stock.is_empty() {
        p.tag("<p class=\"empty\">")
            .text(l.no_stock)
            .tag("</p></section>\n");
        return;
    }
    p.tag("<table class=\"data stock\">").heads(&[
        ("", l.item),
        ("n", l.opening),
        ("n", l.loaded),
        ("n", l.transferred_in),
        ("n", l.transferred_out),
        ("n", l.handed_out),
        ("n", l.returned),
        ("n", l.lost),
        ("n", l.expected),
        ("n", l.counted),
        ("n", l.variance),
        ("", l.reason),
    ]);
    p.tag("<tbody>\n");
    for row in &report.stock {
        let line = &row.line;
        let varied = line.variance.as_deref().is_some_and(nonzero);
        p.tag(if varied {
            "<tr class=\"variance\">"
        } else {
            "<tr>"
        })
        .tag("<td class=\"item\">")
        .text(pick(line.item_ar, line.item_en))
        .tag("</td>");
        for figure in [
            &line.opening,
            &line.loaded,
            &line.transferred_in,
            &line.transferred_out,
            &line.handed_out,
            &line.returned,
            &line.lost,
            &line.expected,
        ] {
            p.tag("<td class=\"n\">").num(figure).tag("</td>");
        }
        match &line.counted {
            Some(counted) => p.tag("<td class=\"n\">").num(counted).tag("</td>"),
            None => p
                .tag("<td class=\"n missing\">")
                .text(l.not_counted)
                .tag("</td>"),
        };
        match &line.variance {
            Some(v) if varied => {
                // A surplus shows its sign too: "+2" reads differently from "2".
                let signed = if v.starts_with('-') {
                    v.clone()
                } else {
                    format!("+{v}")
                };
                p.tag("<td class=\"n variance\">").num(&signed).tag("</td>")
            }
            Some(v) => p.tag("<td class=\"n\">").num(v).tag("</td>"),
            None => p.tag("<td class=\"n\">—</td>"),
        };
        p.tag("<td class=\"text\">");
        match line.variance_reason {
            Some(code) => match code.parse::<VarianceReason>() {
                Ok(reason) => p.text(pick(reason.name_ar(), reason.name_en())),
                Err(_) => p.text(code),
            },
            None if varied => p
                .tag("<span class=\"missing\">")
                .text(pick("بدون سبب", "no reason"))
                .tag("</span>"),
            None => p,
        };
        if let Some(note) = &row.count_note {
            p.note(note);
        }
        p.tag("</td></tr>\n");
    }
    p.tag("</tbody></table></section>\n");
}

fn reach_table(
    p: &mut Page,
    report: &DayReport,
    l: &Labels,
    pick: impl Fn(&'static str, &'static str) -> &'static str,
) {
    p.tag("<section class=\"reach\"><h2>")
        .text(l.reach)
        .tag("</h2>\n");
    if report.reach.items.is_empty() {
        p.tag("<p class=\"empty\">")
            .text(l.no_reach)
            .tag("</p></section>\n");
        return;
    }
    p.tag("<table class=\"data\">").heads(&[
        ("", l.item),
        ("n", l.quantity),
        ("", l.unit),
        ("n", l.households_served),
    ]);
    p.tag("<tbody>\n");
    for item in &report.reach.items {
        p.tag("<tr><td class=\"item\">")
            .text(pick(item.item_ar, item.item_en))
            .tag("</td><td class=\"n\">")
            .num(&item.qty)
            .tag("</td><td>")
            .text(pick(item.unit_ar, item.unit_en))
            .tag("</td><td class=\"n\">")
            .num(&item.households.to_string())
            .tag("</td></tr>\n");
    }
    p.tag("</tbody></table>");
    if report.reach.unregistered_households > 0 {
        p.tag("<p class=\"note\">")
            .text(l.unregistered)
            .text(" ")
            .num(&report.reach.unregistered_households.to_string())
            .tag("</p>");
    }
    p.tag("</section>\n");
}

fn anomaly_table(
    p: &mut Page,
    report: &DayReport,
    l: &Labels,
    pick: impl Fn(&'static str, &'static str) -> &'static str,
) {
    p.tag("<section class=\"anomalies\"><h2>")
        .text(l.anomalies)
        .tag("</h2>\n");
    if report.anomalies.is_empty() {
        p.tag("<p class=\"empty\">")
            .text(l.no_anomalies)
            .tag("</p></section>\n");
        return;
    }
    p.tag("<table class=\"data\">")
        .heads(&[("", l.anomaly_id), ("", l.anomaly), ("", l.review)]);
    p.tag("<tbody>\n");
    for anomaly in &report.anomalies {
        // Ten characters are enough to resolve it by (six are accepted).
        let short: String = anomaly.id.chars().take(10).collect();
        p.tag("<tr><td class=\"id\">")
            .num(&short)
            .tag("</td><td class=\"text\">")
            .mixed(match report.lang {
                Lang::Ar => &anomaly.message_ar,
                Lang::En => &anomaly.message,
            })
            .tag("</td><td class=\"text\">");
        match &anomaly.review {
            Some(review) => {
                let outcome = review
                    .outcome
                    .parse::<ReviewOutcome>()
                    .map_or(review.outcome, |o| pick(o.name_ar(), o.name_en()));
                p.tag("<strong>").text(outcome).tag("</strong>");
                if !review.note.trim().is_empty() {
                    p.note(&review.note);
                }
            }
            None => {
                p.tag("<span class=\"missing\">")
                    .text(l.not_reviewed)
                    .tag("</span>");
            }
        }
        p.tag("</td></tr>\n");
    }
    p.tag("</tbody></table></section>\n");
}

fn close_block(p: &mut Page, report: &DayReport, l: &Labels) {
    p.tag("<section class=\"close\"><h2>")
        .text(l.close)
        .tag("</h2>\n");
    let Some(close) = &report.close else {
        p.tag("<p class=\"missing\">")
            .text(l.not_closed)
            .tag("</p></section>\n");
        return;
    };
    p.tag("<dl><dt>")
        .text(l.closed_by)
        .tag("</dt><dd>")
        .name(&close.closed_by)
        .tag("</dd><dt>")
        .text(l.closed_at)
        .tag("</dt><dd>")
        .num(&moment(close.closed_ms, &report.zone))
        .tag("</dd><dt>")
        .text(l.covered)
        .tag("</dt><dd>")
        .num(&close.covered.len().to_string())
        .text(": ")
        .names(&close.covered, l.list_separator)
        .tag("</dd><dt>")
        .text(l.outstanding)
        .tag("</dt><dd>");
    if close.outstanding.is_empty() {
        p.text(l.outstanding_none);
    } else {
        p.tag("<span class=\"missing\">")
            .names(&close.outstanding, l.list_separator)
            .tag("</span>");
    }
    p.tag("</dd><dt>").text(l.signature).tag("</dt><dd>");
    if close.signature_valid {
        p.tag("<span class=\"valid\">")
            .text("✔ ")
            .text(l.signature_valid)
            .tag("</span>");
    } else {
        p.tag("<span class=\"invalid\">")
            .text("✘ ")
            .text(l.signature_invalid)
            .tag("</span>");
    }
    p.tag("</dd>");
    if let Some(fingerprint) = &report.fingerprint {
        // Grouped by four so people can read it out to each other.
        let grouped = fingerprint
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        p.tag("<dt>")
            .text(l.fingerprint)
            .tag("</dt><dd><span class=\"fingerprint\">")
            .num(&grouped)
            .tag("</span><span class=\"note\">")
            .text(l.fingerprint_help)
            .tag("</span></dd>");
    }
    p.tag("</dl></section>\n");
}

fn signature_lines(p: &mut Page, report: &DayReport, l: &Labels) {
    p.tag("<section class=\"signatures-block\"><h2>")
        .text(l.signatures)
        .tag("</h2><div class=\"signatures\">\n");
    let association = report
        .place
        .as_ref()
        .map(|place| place.association.as_str())
        .filter(|a| !a.is_empty());
    for (role, detail) in [
        (l.lead, report.convoy.as_deref()),
        (l.keeper, None),
        (l.representative, association),
    ] {
        // Every role has the line under its title, empty or not, so the
        // three columns' lines stay level.
        p.tag("<div class=\"signature\"><h3>")
            .text(role)
            .tag("<span class=\"for\">")
            .text(detail.unwrap_or_default())
            .tag("</span></h3>");
        for field in [l.name, l.signed, l.signed_on] {
            p.tag("<div class=\"line\"><span>")
                .text(field)
                .tag("</span><span></span></div>");
        }
        p.tag("</div>\n");
    }
    p.tag("</div></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dayend::ReviewDto;

    fn line(item: ItemCode, counted: Option<&str>, variance: Option<&str>) -> StockLineDto {
        StockLineDto {
            item: item.code(),
            item_en: item.name_en(),
            item_ar: item.name_ar(),
            opening: "0".into(),
            loaded: "50".into(),
            transferred_in: "0".into(),
            transferred_out: "0".into(),
            handed_out: "3".into(),
            returned: "0".into(),
            lost: "0".into(),
            expected: "47".into(),
            counted: counted.map(Into::into),
            variance: variance.map(Into::into),
            variance_reason: variance
                .filter(|v| nonzero(v))
                .map(|_| VarianceReason::CountingError.code()),
        }
    }

    fn close(valid: bool) -> DayCloseDto {
        DayCloseDto {
            event: "0190f0a0-0000-7000-8000-000000000001".into(),
            site: "كفر الشيخ سالم".into(),
            date: "2026-12-01".into(),
            closed_by: "Lead".into(),
            closed_ms: 1_796_140_800_000,
            closed_at: String::new(),
            covered: vec!["Lead".into(), "Volunteer 1".into()],
            outstanding: vec!["Volunteer 2".into()],
            signature_valid: valid,
            signed_text: "qafila-day-close/1\nsite x\nday 2026-12-01\n".into(),
        }
    }

    fn report(lang: Lang, closed: Option<bool>) -> DayReport {
        let close = closed.map(close);
        DayReport {
            lang,
            convoy: Some("قافلة الشتاء".into()),
            site: "كفر الشيخ سالم".into(),
            date: "2026-12-01".into(),
            place: Some(PlaceDto {
                governorate: "24".into(),
                governorate_en: "Minya".into(),
                governorate_ar: "المنيا".into(),
                district: "مطاي".into(),
                association: "جمعية الخير".into(),
            }),
            stock: vec![
                StockRowDto {
                    line: line(ItemCode::FoodBox, Some("46"), Some("-1")),
                    count_note: Some("كرتونة وقعت تحت العربية".into()),
                },
                StockRowDto {
                    line: line(ItemCode::Blanket, Some("47"), Some("0")),
                    count_note: None,
                },
            ],
            reach: ReachDto {
                households: 3,
                people: 11,
                unregistered_households: 0,
                items: vec![ReachItemDto {
                    item: "food_box",
                    item_en: ItemCode::FoodBox.name_en(),
                    item_ar: ItemCode::FoodBox.name_ar(),
                    unit_en: "box",
                    unit_ar: "كرتونة",
                    qty: "3".into(),
                    households: 3,
                }],
            },
            anomalies: vec![AnomalyDto {
                code: "hand_out_without_check_in",
                message: "hand-out to a household not checked in on 2026-12-01".into(),
                message_ar: "صرف لأسرة ماتسجّلش حضورها يوم 2026-12-01".into(),
                events: vec![],
                id: "0123456789abcdef0123456789abcdef".into(),
                review: Some(ReviewDto {
                    outcome: "explained",
                    note: "the volunteer forgot the check-in".into(),
                    event: "e".into(),
                    at_ms: 1_796_140_000_000,
                }),
            }],
            fingerprint: close
                .as_ref()
                .map(|c| fingerprint(c.signed_text.as_bytes())),
            close,
            device: "Lead".into(),
            generated_ms: 1_796_141_000_000,
            zone: "Africa/Cairo".into(),
            eastern_digits: false,
        }
    }

    fn style_of(html: &str) -> &str {
        let start = html.find("<style>").map_or(0, |i| i + "<style>".len());
        let end = html.find("</style>").unwrap_or(html.len());
        &html[start..end]
    }

    fn body_of(html: &str) -> &str {
        &html[html.find("<body>").unwrap()..]
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let hostile = "<script>alert('x')</script>&\"";
        let mut r = report(Lang::Ar, Some(true));
        r.site = hostile.into();
        r.convoy = Some(hostile.into());
        r.device = hostile.into();
        r.stock[0].count_note = Some(hostile.into());
        r.anomalies[0].message_ar = hostile.into();
        r.anomalies[0].review.as_mut().unwrap().note = hostile.into();
        r.place.as_mut().unwrap().association = hostile.into();
        r.place.as_mut().unwrap().district = hostile.into();
        r.close.as_mut().unwrap().closed_by = hostile.into();
        r.close.as_mut().unwrap().outstanding = vec![hostile.into()];
        let html = render_html(&r);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("alert('x')"));
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;";
        // Whole in the title, masthead, footer, district, association
        // (twice), closed by, outstanding and convoy (twice); the notes and
        // the anomaly have their Latin runs isolated, escaped all the same.
        assert!(
            html.matches(escaped).count() >= 10,
            "{}",
            html.matches(escaped).count()
        );
        let mixed = "&lt;<bdi dir=\"ltr\">script</bdi>&gt;<bdi dir=\"ltr\">alert</bdi>(&#39;";
        assert_eq!(html.matches(mixed).count(), 3, "{html}");
        let mut en = r.clone();
        en.lang = Lang::En;
        en.anomalies[0].message = hostile.into();
        assert!(!render_html(&en).contains("<script"));

        // An image that would run a handler, in the names a volunteer typed.
        let handler = "<img src=x onerror=alert(1)>";
        r.site = handler.into();
        r.device = handler.into();
        r.close.as_mut().unwrap().closed_by = handler.into();
        let html = render_html(&r);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert_policy_first(&html);
    }

    /// The policy is first in the head, before the title (which holds the
    /// site's name), and allows no script and no request.
    fn assert_policy_first(html: &str) {
        let meta = format!(r#"<meta http-equiv="Content-Security-Policy" content="{REPORT_CSP}">"#);
        let at = html.find(&meta).expect("the CSP meta tag");
        assert!(at < html.find("<title>").unwrap());
        assert_eq!(html.matches("Content-Security-Policy").count(), 1);
        assert!(REPORT_CSP.starts_with("default-src 'none';"));
        assert!(!REPORT_CSP.contains("script-src"));
    }

    #[test]
    fn every_report_forbids_scripts_and_requests() {
        for lang in [Lang::Ar, Lang::En] {
            for close in [None, Some(true), Some(false)] {
                assert_policy_first(&render_html(&report(lang, close)));
            }
        }
    }

    #[test]
    fn arabic_is_right_to_left_and_english_left_to_right() {
        let html = render_html(&report(Lang::Ar, Some(true)));
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"ar\" dir=\"rtl\">"));
        assert!(html.contains("تقرير اليوم"));
        assert!(html.contains(ItemCode::FoodBox.name_ar()));
        assert!(html.contains("المنيا"));
        let html = render_html(&report(Lang::En, Some(true)));
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\" dir=\"ltr\">"));
        assert!(html.contains("Day report"));
        assert!(html.contains("Food box"));
        assert!(html.contains("Minya"));
        assert!(!html.contains("المنيا"));
    }

    #[test]
    fn self_contained_with_print_settings() {
        let html = render_html(&report(Lang::Ar, None));
        let css = style_of(&html);
        assert!(css.contains("@page { size: A4; margin: 12mm; }"));
        assert!(css.contains("print-color-adjust: exact"));
        assert!(css.contains("\"Noto Sans Arabic\""));
        for external in [
            "http:", "https:", "url(", "@import", "<link", "<script", "<img",
        ] {
            assert!(!html.contains(external), "{external}");
        }
        // Every style is in the stylesheet, none inline.
        assert!(!body_of(&html).contains("style="));
    }

    #[test]
    fn stylesheet_uses_logical_properties_only() {
        let html = render_html(&report(Lang::Ar, Some(true)));
        let css = style_of(&html);
        assert!(css.len() > 1000);
        for side in ["left", "right", "top", "bottom"] {
            assert!(!css.contains(side), "stylesheet names {side}");
        }
        for block in css.split('}') {
            let declarations = block.rsplit('{').next().unwrap_or(block);
            for declaration in declarations.split(';') {
                if let Some((property, _)) = declaration.split_once(':') {
                    let property = property.trim();
                    assert!(
                        !matches!(
                            property,
                            "width"
                                | "height"
                                | "min-width"
                                | "max-width"
                                | "min-height"
                                | "max-height"
                                | "float"
                                | "clear"
                        ) && !property.starts_with("margin-l")
                            && !property.starts_with("padding-l"),
                        "physical property {property}"
                    );
                }
            }
        }
    }

    #[test]
    fn provisional_banner_exactly_when_not_closed() {
        for lang in [Lang::Ar, Lang::En] {
            let l = if lang == Lang::Ar { &AR } else { &EN };
            let open = render_html(&report(lang, None));
            assert!(open.contains("class=\"banner provisional\""));
            assert!(open.contains(l.banner_title));
            assert!(open.contains(l.not_closed));
            assert!(!open.contains("class=\"fingerprint\""));
            let closed = render_html(&report(lang, Some(true)));
            assert!(!closed.contains("class=\"banner"));
            assert!(!closed.contains(l.banner_title));
            assert!(closed.contains(l.stamp_closed));
            assert!(closed.contains("class=\"valid\""));
        }
        assert!(render_html(&report(Lang::En, None)).contains("NOT CLOSED — provisional"));
    }

    #[test]
    fn an_invalid_signature_is_loud() {
        let html = render_html(&report(Lang::En, Some(false)));
        assert!(html.contains("class=\"banner bad-signature\""));
        assert!(html.contains("<span class=\"invalid\">✘ NOT valid</span>"));
        assert!(!html.contains("class=\"valid\""));
        assert!(!html.contains("class=\"banner provisional\""));
    }

    #[test]
    fn close_block_names_devices_left_out_and_the_fingerprint() {
        let r = report(Lang::Ar, Some(true));
        let html = render_html(&r);
        let fp = r.fingerprint.clone().unwrap();
        assert_eq!(fp.len(), 16);
        let grouped = format!("{} {} {} {}", &fp[0..4], &fp[4..8], &fp[8..12], &fp[12..16]);
        assert!(html.contains(&format!("<bdi dir=\"ltr\">{grouped}</bdi>")));
        assert!(html.contains("<span class=\"missing\"><bdi>Volunteer 2</bdi></span>"));
        assert!(html.contains("<bdi>Lead</bdi>، <bdi>Volunteer 1</bdi>"));
        // Times in the convoy's zone, with the offset of that moment.
        assert!(html.contains("2026-12-01 18:03 +02:00"), "{html}");
    }

    #[test]
    fn a_summer_close_reads_in_summer_time_and_arabic_digits_and_words() {
        let mut r = report(Lang::Ar, Some(true));
        // 2026-10-29 20:40 UTC: 23:40 in Cairo, still summer time.
        r.close.as_mut().unwrap().closed_ms = 1_793_306_400_000;
        r.date = "2026-10-29".into();
        let western = render_html(&r);
        assert!(western.contains("<bdi dir=\"ltr\">2026-10-29 23:40 +03:00</bdi>"));
        assert!(western.contains("الخميس 29 أكتوبر 2026"));
        r.eastern_digits = true;
        let eastern = render_html(&r);
        assert!(eastern.contains("<bdi dir=\"ltr\">٢٠٢٦-١٠-٢٩ ٢٣:٤٠ +٠٣:٠٠</bdi>"));
        assert!(eastern.contains("الخميس ٢٩ أكتوبر ٢٠٢٦"));
        // Fingerprints and ids keep the digits every copy shares.
        let fp = r.fingerprint.clone().unwrap();
        assert!(eastern.contains(&fp[0..4]));
    }

    #[test]
    fn a_nonzero_variance_is_highlighted_and_a_zero_one_is_not() {
        let html = render_html(&report(Lang::Ar, Some(true)));
        let rows: Vec<&str> = html.split("<tr").collect();
        let food = rows
            .iter()
            .find(|r| {
                r.contains(ItemCode::FoodBox.name_ar()) && r.contains("<bdi dir=\"ltr\">46</bdi>")
            })
            .unwrap();
        assert!(food.starts_with(" class=\"variance\">"), "{food}");
        assert!(food.contains("<td class=\"n variance\"><bdi dir=\"ltr\">-1</bdi></td>"));
        assert!(food.contains(VarianceReason::CountingError.name_ar()));
        assert!(food.contains("كرتونة وقعت تحت العربية"));
        let blanket = rows
            .iter()
            .find(|r| r.contains(ItemCode::Blanket.name_ar()))
            .unwrap();
        assert!(blanket.starts_with('>'), "{blanket}");
        assert!(!blanket.contains("variance"));
        // A surplus carries its sign.
        let mut r = report(Lang::En, Some(true));
        r.stock[1].line.variance = Some("2".into());
        let html = render_html(&r);
        assert!(html.contains("<td class=\"n variance\"><bdi dir=\"ltr\">+2</bdi></td>"));
        assert!(html.contains("no reason"));
        // Both lines are highlighted now.
        assert_eq!(html.matches("<tr class=\"variance\">").count(), 2);
    }

    #[test]
    fn latin_runs_in_arabic_sentences_are_isolated() {
        let mut p = Page(String::new(), false);
        p.mixed("صرف لأسرة يوم 2026-12-01؛ فرق -1 من الجهاز Volunteer 2 (counting_error). <b>");
        assert_eq!(
            p.0,
            "صرف لأسرة يوم <bdi dir=\"ltr\">2026-12-01</bdi>؛ فرق <bdi dir=\"ltr\">-1</bdi> \
             من الجهاز <bdi dir=\"ltr\">Volunteer 2</bdi> (<bdi dir=\"ltr\">counting_error</bdi>). \
             &lt;<bdi dir=\"ltr\">b</bdi>&gt;"
        );
        let mut p = Page(String::new(), false);
        p.mixed("- a-");
        assert_eq!(p.0, "- <bdi dir=\"ltr\">a</bdi>-");
    }

    #[test]
    fn numbers_and_ids_are_isolated() {
        let html = render_html(&report(Lang::Ar, Some(true)));
        for figure in [
            "<bdi dir=\"ltr\">2026-12-01</bdi>",
            "<bdi dir=\"ltr\">11</bdi>",
            "<bdi dir=\"ltr\">0123456789</bdi>",
        ] {
            assert!(html.contains(figure), "{figure}");
        }
    }

    #[test]
    fn reviews_and_missing_reviews_show() {
        let mut r = report(Lang::Ar, None);
        let html = render_html(&r);
        assert!(html.contains(ReviewOutcome::Explained.name_ar()));
        assert!(html.contains("the volunteer forgot the check-in"));
        r.anomalies[0].review = None;
        let html = render_html(&r);
        assert!(html.contains("<span class=\"missing\">لم تُراجع</span>"));
        r.anomalies.clear();
        assert!(render_html(&r).contains(AR.no_anomalies));
    }

    #[test]
    fn signature_lines_for_lead_keeper_and_association() {
        for lang in [Lang::Ar, Lang::En] {
            let l = if lang == Lang::Ar { &AR } else { &EN };
            let html = render_html(&report(lang, Some(true)));
            let block = &html[html.find("class=\"signatures-block\"").unwrap()..];
            for role in [l.lead, l.keeper, l.representative] {
                assert!(block.contains(&format!("<h3>{role}")), "{role}");
            }
            assert_eq!(block.matches("<div class=\"signature\">").count(), 3);
            for field in [l.name, l.signed, l.signed_on] {
                assert_eq!(
                    block
                        .matches(&format!(
                            "<div class=\"line\"><span>{field}</span><span></span></div>"
                        ))
                        .count(),
                    3,
                    "{field}"
                );
            }
            assert!(block.contains("<span class=\"for\">جمعية الخير</span>"));
        }
    }

    #[test]
    fn empty_day_says_so() {
        let mut r = report(Lang::En, None);
        r.stock.clear();
        r.reach = ReachDto::default();
        r.anomalies.clear();
        r.place = None;
        r.convoy = None;
        let html = render_html(&r);
        assert!(html.contains(EN.no_stock));
        assert!(html.contains(EN.no_reach));
        assert!(html.contains(EN.no_anomalies));
        assert!(!html.contains(EN.governorate));
    }

    #[test]
    fn the_fingerprint_is_the_start_of_the_sha256_of_what_was_signed() {
        assert_eq!(fingerprint(b"abc"), "ba7816bf8f01cfea");
        assert_eq!(fingerprint(b""), "e3b0c44298fc1c14");
    }

    #[test]
    fn format_is_chosen_by_extension() {
        assert_eq!(report_format(Path::new("a/day.pdf")).unwrap(), "pdf");
        assert_eq!(report_format(Path::new("day.HTML")).unwrap(), "html");
        assert_eq!(report_format(Path::new("day.htm")).unwrap(), "html");
        for bad in ["day.docx", "day", "day.pdf.txt"] {
            let e = report_format(Path::new(bad)).unwrap_err();
            assert_eq!(e.code, "report_format");
            assert!(e.message.contains(".pdf") && e.message_ar.contains(".pdf"));
        }
    }

    #[test]
    fn inactive_lines_are_left_out() {
        let mut zero = line(ItemCode::Blanket, None, None);
        zero.loaded = "0".into();
        zero.handed_out = "0".into();
        assert!(!line_is_active(&zero));
        zero.opening = "0.5".into();
        assert!(line_is_active(&zero));
        assert!(line_is_active(&line(ItemCode::FoodBox, None, None)));
    }
}
