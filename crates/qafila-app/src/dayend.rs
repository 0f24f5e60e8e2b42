//! The convoy lead's day end: the blind count and its variances, which
//! devices have not synced, anomaly reviews, where a site is, and the signed
//! day close. See "The lead's day end" in ARCHITECTURE.md.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use qafila_domain::anomaly::Anomaly;
use qafila_domain::close::signed_bytes;
use qafila_domain::event::{Event, EventBody, ReviewOutcome, VarianceReason, governorate};
use qafila_domain::fold::{State, StockLine};
use qafila_domain::hlc::Timestamp;
use qafila_domain::ids::{DeviceId, SiteId};
use qafila_domain::item::ItemCode;
use qafila_domain::quantity::{Balance, Quantity};
use qafila_store::setup::Site;
use serde::Serialize;
use ts_rs::TS;

use crate::distribution::{parse_date, parse_item, parse_qty};
use crate::dto::{RecordedDto, StockLineDto};
use crate::{App, AppError};

/// One item to count, without what is expected (a blind count).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct CountItemDto {
    /// Item code.
    pub item: &'static str,
    /// English name.
    pub item_en: &'static str,
    /// Arabic name.
    pub item_ar: &'static str,
    /// Whether this item is weighed (fractions allowed).
    pub fractions: bool,
    /// A count already standing for the day, if any.
    pub counted: Option<String>,
}

/// A reason code a lead can pick.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct ReasonDto {
    /// Stable code.
    pub code: &'static str,
    /// English label.
    pub en: &'static str,
    /// Arabic label.
    pub ar: &'static str,
}

/// What to count at a site's day end. The expected figures are left out on
/// purpose: the counter types what is on the truck, not what the screen says.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct CountSheetDto {
    /// Site name.
    pub site: String,
    /// The day.
    pub date: String,
    /// Whether the day is already closed.
    pub closed: bool,
    /// Items with stock or movement at the site that day.
    pub items: Vec<CountItemDto>,
    /// Variance reason codes.
    pub reasons: Vec<ReasonDto>,
}

/// The counts against what was expected, once the counts are in.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct ReconciliationDto {
    /// Site name.
    pub site: String,
    /// The day.
    pub date: String,
    /// Whether the counts were recorded (false for a preview or a refusal).
    pub recorded: bool,
    /// Per item: the figures, the count, the variance and its reason.
    pub lines: Vec<StockLineDto>,
    /// Items whose variance still needs a reason code.
    pub missing_reasons: Vec<&'static str>,
}

/// A device of the convoy and whether the lead has its day.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct DeviceSyncDto {
    /// Device id.
    pub device: String,
    /// Its name.
    pub name: String,
    /// `approved`, `pending`, `revoked`.
    pub status: String,
    /// When the relay last heard from it (ms since the epoch), if it knows.
    pub last_seen_ms: Option<u64>,
    /// Its newest record this device holds (ms since the epoch).
    pub last_record_ms: Option<u64>,
    /// Not heard from since the site's last known hand-out (or, with none,
    /// since the day began): it may hold hand-outs the lead has not seen.
    pub outstanding: bool,
}

/// Which devices the lead is waiting for.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct DeviceWaitDto {
    /// Site name.
    pub site: String,
    /// The day.
    pub date: String,
    /// The newest hand-out known at the site that day.
    pub last_hand_out_ms: Option<u64>,
    /// Whether the relay answered (if not, nobody's sync can be confirmed).
    pub relay_reachable: bool,
    /// The convoy's other devices.
    pub devices: Vec<DeviceSyncDto>,
    /// The convoy's time zone, which its times are read in.
    pub zone: String,
}

/// A recorded day close.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct DayCloseDto {
    /// The close event.
    pub event: String,
    /// Site name.
    pub site: String,
    /// The day.
    pub date: String,
    /// The device that closed it.
    pub closed_by: String,
    /// When (ms since the epoch).
    pub closed_ms: u64,
    /// When, as people read it: the convoy's local time with the offset in
    /// force then (`2026-10-29 23:40 +03:00`).
    pub closed_at: String,
    /// The devices whose records it covers.
    pub covered: Vec<String>,
    /// The devices it was closed without (not synced since the last hand-out).
    pub outstanding: Vec<String>,
    /// Whether the signature checks against the closing device's key and
    /// today's figures.
    pub signature_valid: bool,
    /// What was signed, as text.
    pub signed_text: String,
}

/// A lead's review of an anomaly.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct ReviewDto {
    /// `explained` or `loss`.
    pub outcome: &'static str,
    /// The note.
    pub note: String,
    /// The review event.
    pub event: String,
    /// When (ms since the epoch).
    pub at_ms: u64,
}

/// Where a site is and who runs it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct SitePlaceDto {
    /// Site name.
    pub site: String,
    /// Governorate code (`#adm1+code`), empty until described.
    pub governorate: String,
    /// District (markaz).
    pub district: String,
    /// The association running it.
    pub association: String,
    /// Every governorate a site may be in, for the picker.
    pub governorates: Vec<ReasonDto>,
}

/// Counts as a lead enters them: item codes to quantities, reason codes and
/// notes for variances.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// `(item, counted)`.
    pub counts: Vec<(String, String)>,
    /// `(item, reason code)`.
    pub reasons: Vec<(String, String)>,
    /// `(item, note)`.
    pub notes: Vec<(String, String)>,
}

/// The hex form of an anomaly key (its id in every interface).
pub fn anomaly_id(key: &[u8; 16]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn reasons() -> Vec<ReasonDto> {
    VarianceReason::ALL
        .iter()
        .map(|r| ReasonDto {
            code: r.code(),
            en: r.name_en(),
            ar: r.name_ar(),
        })
        .collect()
}

fn day_closed(site: &str, day: NaiveDate) -> AppError {
    AppError::new(
        "day_closed",
        format!(
            "{site} on {day} is closed and signed: nothing more can be recorded for it; record it on an open day"
        ),
        format!("يوم {day} في {site} اتقفل واتوقع: مفيش تسجيل تاني عليه؛ سجّل على يوم مفتوح"),
    )
}

pub(crate) fn line_dto(item: ItemCode, line: &StockLine) -> StockLineDto {
    StockLineDto {
        item: item.code(),
        item_en: item.name_en(),
        item_ar: item.name_ar(),
        opening: line.opening.to_string(),
        loaded: line.loaded.to_string(),
        transferred_in: line.transferred_in.to_string(),
        transferred_out: line.transferred_out.to_string(),
        handed_out: line.handed_out.to_string(),
        returned: line.returned.to_string(),
        lost: line.lost.to_string(),
        expected: line.expected().to_string(),
        counted: line.counted.map(|c| c.to_string()),
        variance: line.variance().map(|v| v.to_string()),
        variance_reason: line.count.and_then(|(_, r)| r).map(VarianceReason::code),
    }
}

/// Whether anything is on or moved through the line.
fn active(line: &StockLine) -> bool {
    line.opening != Balance::ZERO
        || !line.loaded.is_zero()
        || !line.transferred_in.is_zero()
        || !line.transferred_out.is_zero()
        || !line.handed_out.is_zero()
        || !line.returned.is_zero()
        || !line.lost.is_zero()
        || line.counted.is_some()
}

/// The day's lines at a site: every stocked item that moved, or opened with
/// stock carried from an earlier day.
pub(crate) fn day_lines(state: &State, site: SiteId, day: NaiveDate) -> Vec<(ItemCode, StockLine)> {
    ItemCode::ALL
        .into_iter()
        .filter(|i| i.is_stocked())
        .filter_map(|item| {
            let line = state.stock_line(site, day, item).cloned().or_else(|| {
                crate::stock::opening(state, site, item, day).map(|opening| StockLine {
                    opening,
                    ..StockLine::default()
                })
            })?;
            active(&line).then_some((item, line))
        })
        .collect()
}

fn find_pairs(pairs: &[(String, String)], item: ItemCode) -> Option<&str> {
    pairs
        .iter()
        .find(|(i, _)| parse_item(i).ok() == Some(item))
        .map(|(_, v)| v.as_str())
}

/// A member as the relay lists it: device, name, status, and (relay time)
/// when it was last seen, what its newest records were made after, and
/// when they were stored.
type Member = (
    DeviceId,
    String,
    String,
    Option<u64>,
    Option<u64>,
    Option<u64>,
);

impl App {
    pub(crate) fn fold(&self) -> Result<(Vec<Event>, State), AppError> {
        let rounds: Vec<_> = self.store.rounds()?.into_iter().map(|r| r.round).collect();
        let events = self.store.events()?;
        let state = State::fold(&rounds, &events);
        Ok((events, state))
    }

    /// A site and the day a lead's command is about: the date given, else
    /// the site-day open there, else the convoy's day now.
    fn site_day(&self, site: &str, date: Option<&str>) -> Result<(Site, NaiveDate), AppError> {
        let site = self.store.site(site)?;
        let day = match date.filter(|d| !d.trim().is_empty()) {
            Some(d) => parse_date(d)?,
            None => self.now_at(site.id)?.1,
        };
        Ok((site, day))
    }

    /// The standing close of a site's day, read from the few close events.
    pub(crate) fn close_of(&self, site: SiteId, day: NaiveDate) -> Result<Option<Event>, AppError> {
        Ok(self.store.day_closes()?.into_iter().find(
            |e| matches!(&e.body, EventBody::DayClose { site: s, day: d, .. } if *s == site && *d == day),
        ))
    }

    /// Refuses a record for a closed site-day.
    pub(crate) fn refuse_if_closed(&self, site: &Site, day: NaiveDate) -> Result<(), AppError> {
        if self.close_of(site.id, day)?.is_some() {
            return Err(day_closed(&site.name, day));
        }
        Ok(())
    }

    /// The lead opens a site's day (`date`, else the convoy's day now),
    /// named `label` ("day 2"): until it is closed, devices that know of it
    /// file that site's records on it, even past the day's end hour or with
    /// a clock in doubt.
    pub fn open_day(
        &self,
        site: &str,
        date: Option<&str>,
        label: &str,
    ) -> Result<RecordedDto, AppError> {
        let site = self.store.site(site)?;
        let (now, today) = self.now();
        let day = match date.filter(|d| !d.trim().is_empty()) {
            Some(d) => parse_date(d)?,
            None => today,
        };
        self.refuse_if_closed(&site, day)?;
        let event = self.store.record(
            self.volunteer,
            EventBody::SiteDayOpened {
                site: site.id,
                day,
                label: label.trim().to_owned(),
            },
            now,
        )?;
        Ok(RecordedDto {
            event: event.id.to_string(),
            kind: "site_day_opened",
        })
    }

    /// Says where a site is and who runs it (for reports and exports).
    pub fn describe_site(
        &self,
        site: &str,
        governorate_code: &str,
        district: &str,
        association: &str,
    ) -> Result<RecordedDto, AppError> {
        let code = governorate_code.trim();
        let code = if code.len() == 1 {
            format!("0{code}")
        } else {
            code.to_owned()
        };
        let code = qafila_domain::event::GOVERNORATES
            .iter()
            .find(|(c, en, ar)| *c == code || en.eq_ignore_ascii_case(&code) || *ar == code)
            .map_or(code.clone(), |(c, _, _)| (*c).to_owned());
        if governorate(&code).is_none() {
            return Err(qafila_domain::event::InvalidEvent::UnknownGovernorate(code).into());
        }
        let site = self.store.site(site)?;
        let (now, _) = self.now();
        let event = self.store.record(
            self.volunteer,
            EventBody::SiteDescribed {
                site: site.id,
                governorate: code,
                district: district.trim().to_owned(),
                association: association.trim().to_owned(),
            },
            now,
        )?;
        Ok(RecordedDto {
            event: event.id.to_string(),
            kind: "site_described",
        })
    }

    /// Where a site is and who runs it, as last described (empty fields when
    /// it never was), with the governorates to pick from.
    pub fn site_place(&self, site: &str) -> Result<SitePlaceDto, AppError> {
        let site = self.store.site(site)?;
        let (_, state) = self.fold()?;
        let place = state.place(site.id);
        Ok(SitePlaceDto {
            site: site.name,
            governorate: place.map(|p| p.governorate.clone()).unwrap_or_default(),
            district: place.map(|p| p.district.clone()).unwrap_or_default(),
            association: place.map(|p| p.association.clone()).unwrap_or_default(),
            governorates: qafila_domain::event::GOVERNORATES
                .iter()
                .map(|(code, en, ar)| ReasonDto { code, en, ar })
                .collect(),
        })
    }

    /// What to count at a site's day end, without the expected figures.
    pub fn count_sheet(&self, site: &str, date: Option<&str>) -> Result<CountSheetDto, AppError> {
        let (site, day) = self.site_day(site, date)?;
        let (_, state) = self.fold()?;
        Ok(CountSheetDto {
            closed: state.day_close(site.id, day).is_some(),
            items: day_lines(&state, site.id, day)
                .into_iter()
                .map(|(item, line)| CountItemDto {
                    item: item.code(),
                    item_en: item.name_en(),
                    item_ar: item.name_ar(),
                    fractions: item.accepts(Quantity::from_milli(500)),
                    counted: line.counted.map(|c| c.to_string()),
                })
                .collect(),
            reasons: reasons(),
            site: site.name,
            date: day.to_string(),
        })
    }

    /// Reconciles a site's day from the counts typed blind: shows each
    /// item's expected figure and variance and, unless `preview`, records
    /// the counts (all or none). A variance needs a reason code; without
    /// one nothing is recorded and the answer lists what is missing.
    pub fn reconcile(
        &self,
        site: &str,
        date: Option<&str>,
        counts: &Counts,
        preview: bool,
    ) -> Result<ReconciliationDto, AppError> {
        let (site, day) = self.site_day(site, date)?;
        self.refuse_if_closed(&site, day)?;
        if counts.counts.is_empty() {
            return Err(AppError::new(
                "count_required",
                "give at least one count: ITEM=QUANTITY (what is physically there, zero included)",
                "اكتب عدد صنف واحد على الأقل: الصنف=الكمية (اللي موجود فعلاً، حتى لو صفر)",
            ));
        }
        let mut parsed: Vec<(ItemCode, Quantity)> = Vec::new();
        for (item, qty) in &counts.counts {
            let item = parse_item(item)?;
            if !item.is_stocked() {
                return Err(qafila_domain::event::InvalidEvent::ServiceHasNoStock { item }.into());
            }
            if parsed.iter().any(|(i, _)| *i == item) {
                return Err(AppError::new(
                    "duplicate_count",
                    format!("{} is counted twice; give one count per item", item.code()),
                    format!("الصنف {} متعد مرتين؛ اكتب عدد واحد لكل صنف", item.name_ar()),
                ));
            }
            let qty = parse_qty(qty)?;
            if !item.accepts(qty) {
                return Err(
                    qafila_domain::event::InvalidEvent::FractionalQuantity { item, qty }.into(),
                );
            }
            parsed.push((item, qty));
        }
        let (_, state) = self.fold()?;
        let mut lines = Vec::new();
        let mut missing = Vec::new();
        let mut bodies = Vec::new();
        for (item, counted) in parsed {
            let mut line = day_lines(&state, site.id, day)
                .into_iter()
                .find(|(i, _)| *i == item)
                .map(|(_, l)| l)
                .unwrap_or_default();
            line.counted = Some(counted);
            let reason = find_pairs(&counts.reasons, item)
                .filter(|r| !r.trim().is_empty())
                .map(|r| {
                    r.parse::<VarianceReason>().map_err(|e| {
                        AppError::new(
                            e.code(),
                            e.to_string(),
                            format!("السبب «{r}» مش من القائمة: {e}"),
                        )
                    })
                })
                .transpose()?;
            let note = find_pairs(&counts.notes, item)
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
            let variance = line.variance().unwrap_or(Balance::ZERO);
            if variance != Balance::ZERO && reason.is_none() {
                missing.push(item.code());
            }
            line.count = Some((qafila_domain::ids::EventId::from_parts(0, [0; 10]), reason));
            lines.push(line_dto(item, &line));
            bodies.push(EventBody::StockCount {
                site: site.id,
                day,
                item,
                counted,
                reason: if variance == Balance::ZERO {
                    None
                } else {
                    reason
                },
                note,
            });
        }
        let recorded = !preview && missing.is_empty();
        if recorded {
            let (now, _) = self.now();
            self.store.record_all(self.volunteer, bodies, now)?;
        }
        Ok(ReconciliationDto {
            site: site.name,
            date: day.to_string(),
            recorded,
            lines,
            missing_reasons: missing,
        })
    }

    /// The convoy's devices and which of them the lead is still waiting for
    /// at a site's day end.
    pub fn devices_waiting(
        &self,
        site: &str,
        date: Option<&str>,
    ) -> Result<DeviceWaitDto, AppError> {
        let (site, day) = self.site_day(site, date)?;
        let (events, _) = self.fold()?;
        self.waiting(&site, day, &events)
    }

    fn waiting(
        &self,
        site: &Site,
        day: NaiveDate,
        events: &[Event],
    ) -> Result<DeviceWaitDto, AppError> {
        let voids: Vec<&Event> = events
            .iter()
            .filter(|e| matches!(e.body, EventBody::Void { .. }))
            .collect();
        let last_hand_out = events
            .iter()
            .filter(
                |e| matches!(&e.body, EventBody::HandOut(h) if h.site == site.id && h.day == day),
            )
            .filter(|e| !voids.iter().any(|v| e.is_cancelled_by(v)))
            .map(|e| e.at.wall_ms())
            .max();
        // When the site was last served, bounded by the relay's own facts:
        // a server's newest hand-out was made after that device's previous
        // upload and before its latest one (relay time), whatever its
        // stamp says, so a phone a day fast cannot make everyone look
        // outstanding. A device is waited for when the relay has not heard
        // from it since then (or since the site-day began).
        let mut served: BTreeMap<DeviceId, u64> = BTreeMap::new();
        for e in events {
            if matches!(&e.body, EventBody::HandOut(h) if h.site == site.id && h.day == day)
                && !voids.iter().any(|v| e.is_cancelled_by(v))
            {
                let at = served.entry(e.device).or_default();
                *at = (*at).max(e.at.wall_ms());
            }
        }
        let me = self.store.device().id;
        let (members, reachable) = self.members_of(site)?;
        let day_start = self.convoy_time().day_start_ms(day);
        // This device's own hand-outs count at their own (best) time: they
        // may not have reached the relay yet.
        let own = served.get(&me).copied().unwrap_or(0);
        let since = members
            .iter()
            .filter(|m| m.0 != me)
            .filter_map(|m| {
                let stamp = *served.get(&m.0)?;
                let (after, before) = (m.4.unwrap_or(0), m.5.unwrap_or(u64::MAX));
                Some(stamp.min(before).max(after))
            })
            .fold(day_start.max(own), u64::max);
        let mut last_record: BTreeMap<DeviceId, u64> = BTreeMap::new();
        for e in events {
            let at = last_record.entry(e.device).or_default();
            *at = (*at).max(e.at.wall_ms());
        }
        let devices = members
            .into_iter()
            .filter(|(device, _, status, _, _, _)| *device != me && status != "revoked")
            .map(|(device, name, status, last_seen, _, _)| DeviceSyncDto {
                outstanding: status == "approved" && last_seen.is_none_or(|seen| seen < since),
                last_record_ms: last_record.get(&device).copied(),
                device: device.to_string(),
                name,
                status,
                last_seen_ms: last_seen,
            })
            .collect();
        Ok(DeviceWaitDto {
            zone: self.convoy_time().zone_name().to_owned(),
            site: site.name.clone(),
            date: day.to_string(),
            last_hand_out_ms: last_hand_out,
            relay_reachable: reachable,
            devices,
        })
    }

    /// The members of the convoy serving `site` (the first convoy when none
    /// names it): from the relay with when it last heard from each, or from
    /// the local roster when the relay cannot be reached.
    fn members_of(&self, site: &Site) -> Result<(Vec<Member>, bool), AppError> {
        let key = |n: &str| qafila_domain::names::NameKey::new(n).as_str().to_owned();
        let convoys = self.store.convoys()?;
        let Some(convoy) = convoys
            .iter()
            .find(|c| c.sites.iter().any(|s| key(s) == key(&site.name)))
            .or_else(|| convoys.first())
            .cloned()
        else {
            return Ok((Vec::new(), true));
        };
        match self.convoy_members(&convoy) {
            Ok(members) => Ok((
                members
                    .into_iter()
                    .map(|m| {
                        (
                            DeviceId::from_bytes(m.keys.device.0),
                            m.keys.name,
                            m.status,
                            m.last_seen_ms,
                            m.made_after_ms,
                            m.uploaded_ms,
                        )
                    })
                    .collect(),
                true,
            )),
            Err(e) if e.retryable => Ok((
                self.store
                    .roster(convoy.id)?
                    .into_iter()
                    .map(|r| (r.device, r.name, r.status, None, None, None))
                    .collect(),
                false,
            )),
            Err(e) => Err(e),
        }
    }

    /// Reviews an anomaly: explained (with a note) or written off as a loss.
    /// `id` is the anomaly's id or a unique prefix of six or more characters.
    pub fn review_anomaly(
        &self,
        id: &str,
        outcome: &str,
        note: &str,
    ) -> Result<ReviewDto, AppError> {
        let wanted = id.trim().to_ascii_lowercase();
        let outcome: ReviewOutcome =
            outcome
                .parse()
                .map_err(|e: qafila_domain::event::UnknownCode| {
                    AppError::new(
                        "unknown_review_outcome",
                        e.to_string(),
                        "النتيجة لازم تكون explained (اتوضّح) أو loss (فاقد)",
                    )
                })?;
        let (_, state) = self.fold()?;
        let matches: Vec<[u8; 16]> = state
            .anomalies()
            .iter()
            .map(Anomaly::key)
            .filter(|k| wanted.len() >= 6 && anomaly_id(k).starts_with(&wanted))
            .collect();
        let key = match matches.as_slice() {
            [one] => *one,
            [] => {
                return Err(AppError::new(
                    "unknown_anomaly",
                    format!(
                        "no anomaly has the id `{id}`: copy it from `qafila anomalies` (six characters or more)"
                    ),
                    format!(
                        "مفيش ملاحظة رقمها «{id}»: انسخ الرقم من قائمة الملاحظات (٦ حروف على الأقل)"
                    ),
                ));
            }
            _ => {
                return Err(AppError::new(
                    "ambiguous_anomaly",
                    format!("`{id}` matches more than one anomaly: give more of its id"),
                    format!("«{id}» بيطابق أكتر من ملاحظة: اكتب رقمها أطول"),
                ));
            }
        };
        if let Some(review) = state.review(&key) {
            return Err(AppError::new(
                "already_reviewed",
                format!(
                    "this anomaly was already reviewed ({}): {}",
                    review.outcome.code(),
                    review.note
                ),
                format!(
                    "الملاحظة دي اتراجعت قبل كده ({}): {}",
                    review.outcome.name_ar(),
                    review.note
                ),
            ));
        }
        let (now, _) = self.now();
        let event = self.store.record(
            self.volunteer,
            EventBody::AnomalyReviewed {
                anomaly: key,
                outcome,
                note: note.trim().to_owned(),
            },
            now,
        )?;
        Ok(ReviewDto {
            outcome: outcome.code(),
            note: note.trim().to_owned(),
            event: event.id.to_string(),
            at_ms: event.at.wall_ms(),
        })
    }

    /// Signs a site's day off. Refused while an item with stock is not
    /// counted, a variance has no reason, an anomaly of the day is not
    /// reviewed, or (unless `without_outstanding`) a device of the convoy
    /// has not synced since the site's last known hand-out.
    pub fn close_day(
        &self,
        site: &str,
        date: Option<&str>,
        without_outstanding: bool,
    ) -> Result<DayCloseDto, AppError> {
        let (site, day) = self.site_day(site, date)?;
        self.refuse_if_closed(&site, day)?;
        let (events, state) = self.fold()?;
        let lines = day_lines(&state, site.id, day);
        let uncounted: Vec<&str> = lines
            .iter()
            .filter(|(_, l)| l.counted.is_none())
            .map(|(i, _)| i.code())
            .collect();
        if !uncounted.is_empty() {
            return Err(AppError::new(
                "count_required",
                format!(
                    "count what is left before closing: {} (qafila day reconcile)",
                    uncounted.join(", ")
                ),
                format!("اعمل جرد للباقي قبل القفل: {}", uncounted.join("، ")),
            ));
        }
        let unexplained: Vec<&str> = lines
            .iter()
            .filter(|(_, l)| {
                l.variance().is_some_and(|v| v != Balance::ZERO)
                    && l.count.and_then(|(_, r)| r).is_none()
            })
            .map(|(i, _)| i.code())
            .collect();
        if !unexplained.is_empty() {
            return Err(AppError::new(
                "variance_needs_reason",
                format!(
                    "give a reason code for the variance of {} (qafila day reconcile --reason ITEM=CODE)",
                    unexplained.join(", ")
                ),
                format!("اكتب سبب الفرق في: {}", unexplained.join("، ")),
            ));
        }
        let touching = crate::stock::touching_anomalies(&events, &state, site.id, day);
        let unreviewed = touching
            .iter()
            .filter(|a| state.review(&a.key()).is_none())
            .count();
        if unreviewed > 0 {
            return Err(AppError::new(
                "anomalies_unreviewed",
                format!(
                    "{unreviewed} anomalies of this day are not reviewed: mark each explained or a loss (qafila anomalies --resolve ID --note TEXT)"
                ),
                format!("فيه {unreviewed} ملاحظات لليوم ده ماتراجعتش: علّم كل واحدة اتوضّحت أو فاقد"),
            ));
        }
        let waiting = self.waiting(&site, day, &events)?;
        let outstanding: Vec<&DeviceSyncDto> =
            waiting.devices.iter().filter(|d| d.outstanding).collect();
        if !outstanding.is_empty() && !without_outstanding {
            let names: Vec<&str> = outstanding.iter().map(|d| d.name.as_str()).collect();
            let (en, ar) = if waiting.relay_reachable {
                (
                    format!(
                        "waiting for {} device(s) that have not synced since the last hand-out: {}; have them sync, or close without them (--without-outstanding), which the close records",
                        names.len(),
                        names.join(", ")
                    ),
                    format!(
                        "مستنيين {} جهاز ماعملوش مزامنة من آخر صرف: {}؛ خليهم يعملوا مزامنة، أو اقفل من غيرهم وده هيتسجل في القفل",
                        names.len(),
                        names.join("، ")
                    ),
                )
            } else {
                (
                    format!(
                        "the relay cannot be reached, so nobody's sync can be confirmed ({}); sync when there is a connection, or close without them (--without-outstanding), which the close records",
                        names.join(", ")
                    ),
                    format!(
                        "مش قادرين نوصل للخادم فمش عارفين مين عمل مزامنة ({})؛ اعمل مزامنة لما الشبكة ترجع، أو اقفل من غيرهم وده هيتسجل",
                        names.join("، ")
                    ),
                )
            };
            return Err(AppError::new("devices_outstanding", en, ar));
        }
        let outstanding: Vec<DeviceId> = outstanding
            .iter()
            .filter_map(|d| d.device.parse().ok())
            .collect();
        let mut covered: BTreeMap<DeviceId, Timestamp> = BTreeMap::new();
        for e in &events {
            let at = covered.entry(e.device).or_insert(e.at);
            if e.at > *at {
                *at = e.at;
            }
        }
        let covered: Vec<(DeviceId, Timestamp)> = covered.into_iter().collect();
        let figures: Vec<(ItemCode, &StockLine)> = lines.iter().map(|(i, l)| (*i, l)).collect();
        let text = signed_bytes(site.id, day, &covered, &outstanding, &figures);
        let key = SigningKey::from_bytes(&self.store.identity()?.signing);
        let signature = key.sign(&text).to_bytes().to_vec();
        let (now, _) = self.now();
        self.store.record(
            self.volunteer,
            EventBody::DayClose {
                site: site.id,
                day,
                covered,
                outstanding,
                signature,
            },
            now,
        )?;
        self.day_close(&site.name, Some(&day.to_string()))?
            .ok_or_else(|| {
                AppError::new(
                    "close_missing",
                    "the close was recorded but cannot be read back",
                    "القفل اتسجل بس مش قادرين نقراه",
                )
            })
    }

    /// The close of a site's day, with its signature checked against the
    /// closing device's key and the figures as they stand now.
    pub fn day_close(
        &self,
        site: &str,
        date: Option<&str>,
    ) -> Result<Option<DayCloseDto>, AppError> {
        let (site, day) = self.site_day(site, date)?;
        let (_, state) = self.fold()?;
        let Some(close_id) = state.day_close(site.id, day) else {
            return Ok(None);
        };
        let Some(close) = self.store.event(close_id)? else {
            return Ok(None);
        };
        let EventBody::DayClose {
            covered,
            outstanding,
            signature,
            ..
        } = &close.body
        else {
            return Ok(None);
        };
        let lines = day_lines(&state, site.id, day);
        let figures: Vec<(ItemCode, &StockLine)> = lines.iter().map(|(i, l)| (*i, l)).collect();
        let text = signed_bytes(site.id, day, covered, outstanding, &figures);
        let names = self.device_names()?;
        let name = |d: &DeviceId| names.get(d).cloned().unwrap_or_else(|| d.to_string());
        let signature_valid = self
            .signing_key_of(close.device)?
            .and_then(|k| VerifyingKey::from_bytes(&k).ok())
            .zip(Signature::from_slice(signature).ok())
            .is_some_and(|(k, s)| k.verify(&text, &s).is_ok());
        Ok(Some(DayCloseDto {
            event: close.id.to_string(),
            site: site.name,
            date: day.to_string(),
            closed_by: name(&close.device),
            closed_ms: close.at.wall_ms(),
            closed_at: self.convoy_time().format(close.at.wall_ms()),
            covered: covered.iter().map(|(d, _)| name(d)).collect(),
            outstanding: outstanding.iter().map(name).collect(),
            signature_valid,
            signed_text: String::from_utf8_lossy(&text).into_owned(),
        }))
    }

    /// A device's Ed25519 public key: this device's own, or a certified
    /// member's from any convoy's roster.
    fn signing_key_of(&self, device: DeviceId) -> Result<Option<[u8; 32]>, AppError> {
        if device == self.store.device().id {
            let secret = SigningKey::from_bytes(&self.store.identity()?.signing);
            return Ok(Some(secret.verifying_key().to_bytes()));
        }
        for convoy in self.store.convoys()? {
            if convoy.lead == device {
                return Ok(Some(convoy.lead_signing));
            }
            if let Some(entry) = self
                .store
                .roster(convoy.id)?
                .into_iter()
                .find(|r| r.device == device && r.status == "approved")
            {
                return Ok(Some(entry.signing));
            }
        }
        Ok(None)
    }

    /// A device's name as this one knows it, or the end of its id.
    pub(crate) fn device_label(&self, device: DeviceId) -> String {
        self.device_names()
            .ok()
            .and_then(|mut names| names.remove(&device))
            .unwrap_or_else(|| {
                let id = device.to_string();
                format!("…{}", &id[id.len().saturating_sub(8)..])
            })
    }

    /// Names of the devices this one knows (its own and every roster's).
    pub(crate) fn device_names(&self) -> Result<BTreeMap<DeviceId, String>, AppError> {
        let mut names = BTreeMap::new();
        names.insert(self.store.device().id, self.store.device().name.clone());
        for convoy in self.store.convoys()? {
            for entry in self.store.roster(convoy.id)? {
                names.entry(entry.device).or_insert(entry.name);
            }
        }
        Ok(names)
    }
}
