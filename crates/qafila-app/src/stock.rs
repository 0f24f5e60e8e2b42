//! Stock at a site: loads, transfers, returns, losses and counts; the day's
//! status per item; anomalies for review; rounds and their entitlements.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use qafila_domain::anomaly::Anomaly;
use qafila_domain::entitlement::Entitlement;
use qafila_domain::event::{Event, EventBody, LossReason, Lot, VarianceReason};
use qafila_domain::fold::State;
use qafila_domain::ids::{EventId, SiteId};
use qafila_domain::item::ItemCode;

use crate::distribution::{parse_date, parse_item, parse_qty};
use crate::dto::{AnomalyDto, DayStatusDto, RecordedDto, RoundDto};
use crate::{App, AppError};

/// What happened to stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// Arrived from a waybill.
    Load,
    /// Moved to another site.
    Transfer,
    /// Sent back to the warehouse.
    Return,
    /// Lost or written off.
    Loss,
}

/// A stock movement as a lead types it.
#[derive(Debug, Clone, Default)]
pub struct StockRequest {
    /// Site name (the source, for a transfer).
    pub site: String,
    /// Item code.
    pub item: String,
    /// Quantity.
    pub qty: String,
    /// Destination site name (transfers).
    pub to: Option<String>,
    /// Lot number (medicine).
    pub lot: Option<String>,
    /// Lot expiry (medicine).
    pub expiry: Option<String>,
    /// Waybill number (loads).
    pub waybill: Option<String>,
    /// Reason code (losses).
    pub reason: Option<String>,
    /// Free-text note.
    pub note: Option<String>,
}

pub(crate) fn parse_lot(
    lot: Option<String>,
    expiry: Option<String>,
) -> Result<Option<Lot>, AppError> {
    match (lot, expiry) {
        (None, None) => Ok(None),
        (Some(number), Some(expiry)) => Ok(Some(Lot {
            number,
            expiry: parse_date(&expiry)?,
        })),
        _ => Err(AppError::new(
            "lot_incomplete",
            "give both the lot number and its expiry date (--lot L --expiry YYYY-MM-DD)",
            "اكتب رقم التشغيلة وتاريخ الصلاحية مع بعض",
        )),
    }
}

fn parse_code<T: std::str::FromStr<Err = qafila_domain::event::UnknownCode>>(
    text: &str,
) -> Result<T, AppError> {
    text.parse::<T>().map_err(|e| {
        AppError::new(
            e.code(),
            e.to_string(),
            format!("السبب «{text}» مش من القائمة: {e}"),
        )
    })
}

impl App {
    /// Records a stock movement today.
    pub fn stock(
        &self,
        movement: Movement,
        request: StockRequest,
    ) -> Result<RecordedDto, AppError> {
        let item = parse_item(&request.item)?;
        let qty = parse_qty(&request.qty)?;
        let lot = parse_lot(request.lot, request.expiry)?;
        let site = self.store.site(&request.site)?;
        let (now, day) = self.now_at(site.id)?;
        self.refuse_if_closed(&site, day)?;
        if let Some(to) = &request.to {
            self.refuse_if_closed(&self.store.site(to)?, day)?;
        }
        let site = site.id;
        let body = match movement {
            Movement::Load => EventBody::StockLoad {
                site,
                day,
                item,
                qty,
                lot,
                waybill: request.waybill,
            },
            Movement::Transfer => {
                let Some(to) = request.to else {
                    return Err(AppError::new(
                        "destination_required",
                        "a transfer needs the destination site: --to SITE",
                        "التحويل محتاج الموقع اللي رايح له: --to",
                    ));
                };
                EventBody::StockTransfer {
                    from: site,
                    to: self.store.site(&to)?.id,
                    day,
                    item,
                    qty,
                    lot,
                }
            }
            Movement::Return => EventBody::StockReturn {
                site,
                day,
                item,
                qty,
                lot,
            },
            Movement::Loss => {
                let Some(reason) = request.reason else {
                    return Err(AppError::new(
                        "reason_required",
                        "a loss needs a reason code: damaged, spoiled, expired, stolen, missing or other (with --note)",
                        "الفاقد محتاج سبب: تالف، فاسد، منتهي الصلاحية، مسروق، مفقود، أو سبب آخر مع ملاحظة",
                    ));
                };
                EventBody::StockLoss {
                    site,
                    day,
                    item,
                    qty,
                    lot,
                    reason: parse_code::<LossReason>(&reason)?,
                    note: request.note,
                }
            }
        };
        let event = self.store.record(self.volunteer, body, now)?;
        Ok(RecordedDto {
            event: event.id.to_string(),
            kind: match movement {
                Movement::Load => "stock_load",
                Movement::Transfer => "stock_transfer",
                Movement::Return => "stock_return",
                Movement::Loss => "stock_loss",
            },
        })
    }

    /// Records a physical count today. A count that differs from the
    /// expected stock needs a reason code.
    pub fn count(
        &self,
        site: &str,
        item: &str,
        counted: &str,
        reason: Option<&str>,
        note: Option<String>,
    ) -> Result<RecordedDto, AppError> {
        let item = parse_item(item)?;
        let counted = parse_qty(counted)?;
        let reason = reason.map(parse_code::<VarianceReason>).transpose()?;
        let site = self.store.site(site)?;
        let (now, day) = self.now_at(site.id)?;
        self.refuse_if_closed(&site, day)?;
        let (_, state) = self.fold()?;
        let expected = state
            .stock_line(site.id, day, item)
            .map(|l| l.expected())
            .or_else(|| opening(&state, site.id, item, day))
            .unwrap_or_default();
        if counted.to_balance() != expected && reason.is_none() {
            return Err(AppError::variance_needs_reason(item, expected, counted));
        }
        let event = self.store.record(
            self.volunteer,
            EventBody::StockCount {
                site: site.id,
                day,
                item,
                counted,
                reason,
                note,
            },
            now,
        )?;
        Ok(RecordedDto {
            event: event.id.to_string(),
            kind: "stock_count",
        })
    }

    /// A site's day: per item loaded, handed out, returned, lost, expected,
    /// counted and variance, and the anomalies touching it.
    pub fn day_status(&self, site: &str, date: Option<&str>) -> Result<DayStatusDto, AppError> {
        let site = self.store.site(site)?;
        let day = match date {
            Some(d) => parse_date(d)?,
            None => self.now_at(site.id)?.1,
        };
        let (events, state) = self.fold()?;
        let mut items = Vec::new();
        for item in ItemCode::ALL.into_iter().filter(|i| i.is_stocked()) {
            let line = state.stock_line(site.id, day, item).cloned().or_else(|| {
                // No movement today: the line still opens with yesterday's
                // closing balance, if there was one.
                opening(&state, site.id, item, day).map(|opening| qafila_domain::fold::StockLine {
                    opening,
                    ..Default::default()
                })
            });
            let Some(line) = line else { continue };
            items.push(crate::dayend::line_dto(item, &line));
        }
        let anomalies = touching_anomalies(&events, &state, site.id, day)
            .into_iter()
            .map(|a| self.describe(&state, a))
            .collect();
        Ok(DayStatusDto {
            site: site.name,
            date: day.to_string(),
            closed: state.day_close(site.id, day).is_some(),
            opened: self
                .open_site_day(site.id)?
                .filter(|(open, _)| *open == day)
                .map(|(_, label)| label),
            items,
            anomalies,
        })
    }

    /// Every anomaly on this device, for review.
    pub fn anomalies(&self) -> Result<Vec<AnomalyDto>, AppError> {
        let (_, state) = self.fold()?;
        let mut out: Vec<AnomalyDto> = state
            .anomalies()
            .iter()
            .map(|a| self.describe(&state, a))
            .collect();
        // Records that sync set aside (not authentic, or unreadable).
        for convoy in self.store.convoys()? {
            for (device, seq, reason) in self.store.quarantined(convoy.id)? {
                out.push(AnomalyDto {
                    code: "quarantined_record",
                    message: format!("a record from device {device} (#{seq}) was set aside during sync: {reason}"),
                    message_ar: format!("تم استبعاد سجل من الجهاز {device} (رقم {seq}) أثناء المزامنة لأنه غير موثوق أو غير مقروء"),
                    events: Vec::new(),
                    id: String::new(),
                    review: None,
                });
            }
        }
        Ok(out)
    }

    /// A household as a lead recognises it: the name of the person a
    /// hand-out named (on this device, if their data is here and not erased),
    /// else a short form of its id.
    fn household_label(
        &self,
        household: qafila_domain::ids::HouseholdId,
        hand_outs: &[EventId],
    ) -> String {
        let named = hand_outs.iter().find_map(|id| {
            let event = self.store.event(*id).ok()??;
            let EventBody::HandOut(h) = event.body else {
                return None;
            };
            self.store.unseal(h.beneficiary).ok()?.map(|p| p.name)
        });
        named.unwrap_or_else(|| {
            let id = household.to_string();
            format!("…{}", &id[id.len().saturating_sub(8)..])
        })
    }

    fn describe(&self, state: &State, anomaly: &Anomaly) -> AnomalyDto {
        let (message, message_ar) = match anomaly {
            Anomaly::Overserved {
                household,
                item,
                allowed,
                received,
                devices,
                hand_outs,
                ..
            } => {
                let who = self.household_label(*household, hand_outs);
                if devices.len() > 1 {
                    (
                        format!(
                            "household {who} received {received} {} from {} devices; entitled to {allowed}",
                            item.name_en(),
                            devices.len()
                        ),
                        format!(
                            "الأسرة {who} استلمت {received} {} من {} أجهزة؛ المستحق {allowed}",
                            item.name_ar(),
                            devices.len()
                        ),
                    )
                } else {
                    (
                        format!(
                            "household {who} received {received} {}; entitled to {allowed}",
                            item.name_en()
                        ),
                        format!(
                            "الأسرة {who} استلمت {received} {}؛ المستحق {allowed}",
                            item.name_ar()
                        ),
                    )
                }
            }
            Anomaly::OverrideRecorded { reason, .. } => (
                format!("hand-out beyond the entitlement by override: {reason}"),
                format!("صرف زيادة عن المستحق باستثناء: {reason}"),
            ),
            Anomaly::HandOutWithoutCheckIn { day, .. } => (
                format!("hand-out to a household not checked in on {day}"),
                format!("صرف لأسرة ماتسجّلش حضورها يوم {day}"),
            ),
            Anomaly::RevokedCardUsed { card, .. } => (
                format!("card {card} was used after it was revoked"),
                format!("الكارت {card} اتستخدم بعد إلغائه"),
            ),
            Anomaly::ExpiredMedicine { lot, expiry, .. } => (
                format!("medicine lot {lot} handed out after its expiry on {expiry}"),
                format!("دواء من التشغيلة {lot} اتصرف بعد انتهاء صلاحيته يوم {expiry}"),
            ),
            Anomaly::UnknownHousehold { household, .. } => (
                format!(
                    "hand-out to household {household}, which this device has no registration for"
                ),
                format!("صرف لأسرة {household} مش متسجلة على الجهاز ده"),
            ),
            Anomaly::UnknownRound { round, .. } => (
                format!("hand-out counted against round {round}, which is not defined here"),
                format!("صرف على جولة {round} مش معرّفة هنا"),
            ),
            Anomaly::VarianceWithoutReason {
                item,
                variance,
                day,
                ..
            } => (
                format!(
                    "count of {} on {day} differs by {variance} with no reason",
                    item.name_en()
                ),
                format!(
                    "جرد {} يوم {day} فيه فرق {variance} من غير سبب",
                    item.name_ar()
                ),
            ),
            Anomaly::LateRecord { day, .. } => (
                format!("a record arrived after {day} was closed; it is not in the closed figures"),
                format!("عملية وصلت بعد قفل يوم {day}؛ مش محسوبة في أرقامه"),
            ),
            Anomaly::ConflictingDayClose { day, .. } => (
                format!("{day} was closed more than once; the first close stands"),
                format!("يوم {day} اتقفل أكتر من مرة؛ أول قفل هو المعتمد"),
            ),
            Anomaly::InvalidVoid { .. } => (
                "a void named an event that cannot be voided".to_owned(),
                "إلغاء لعملية ماينفعش تتلغي".to_owned(),
            ),
            Anomaly::RevokedDeviceRecord { device, .. } => (
                format!("a record from device {device} after it was revoked"),
                format!("عملية من الجهاز {device} بعد إلغائه"),
            ),
            Anomaly::InvalidRecord { code, .. } => (
                format!("a received record breaks the rules ({code}) and counts nowhere"),
                format!("عملية مستلمة مخالفة للقواعد ({code}) ومش محسوبة"),
            ),
            Anomaly::ClockWrong {
                device,
                error_ms,
                doubt,
                ..
            } => {
                let name = self.device_label(*device);
                let (span_en, span_ar) = crate::time::span(error_ms.unsigned_abs());
                let (way_en, way_ar) = if *error_ms < 0 {
                    ("ahead", "متقدمة")
                } else {
                    ("behind", "متأخرة")
                };
                (
                    format!(
                        "the clock of {name} was {span_en} {way_en} ({}); its records carry its best time instead",
                        doubt.name_en().to_lowercase()
                    ),
                    format!(
                        "ساعة {name} كانت {way_ar} {span_ar} ({})؛ عملياته اتسجلت بأحسن وقت معروف",
                        doubt.name_ar()
                    ),
                )
            }
        };
        let key = anomaly.key();
        AnomalyDto {
            code: anomaly.code(),
            message,
            message_ar,
            events: anomaly.events().iter().map(ToString::to_string).collect(),
            id: crate::dayend::anomaly_id(&key),
            review: state.review(&key).map(|r| crate::dayend::ReviewDto {
                outcome: r.outcome.code(),
                note: r.note.clone(),
                event: r.event.to_string(),
                at_ms: r.at.wall_ms(),
            }),
        }
    }

    /// Creates a round (and makes it current unless told otherwise).
    pub fn create_round(
        &self,
        name: &str,
        entitlements: &[String],
        current: bool,
    ) -> Result<RoundDto, AppError> {
        if name.trim().is_empty() {
            return Err(AppError::new(
                "name_required",
                "the round needs a name",
                "الجولة محتاجة اسم",
            ));
        }
        if self
            .store
            .rounds()?
            .iter()
            .any(|r| r.round.name == name.trim())
        {
            return Err(AppError::new(
                "round_exists",
                format!("a round named `{name}` already exists"),
                format!("فيه جولة بالاسم «{name}» قبل كده"),
            ));
        }
        let mut parsed: Vec<Entitlement> = Vec::new();
        for text in entitlements {
            let e: Entitlement =
                text.parse()
                    .map_err(|e: qafila_domain::entitlement::EntitlementError| {
                        AppError::new(
                            e.code(),
                            e.to_string(),
                            format!("الاستحقاق «{text}» مكتوب غلط: {e}"),
                        )
                    })?;
            if parsed.iter().any(|p| p.item == e.item) {
                return Err(AppError::new(
                    "duplicate_entitlement",
                    format!("{} has two entitlements; give one per item", e.item),
                    format!("الصنف {} له استحقاقين؛ اكتب واحد بس", e.item.name_ar()),
                ));
            }
            parsed.push(e);
        }
        let (now, _) = self.now();
        let stored = self.store.create_round(name, parsed, current, now)?;
        Ok(round_dto(&stored))
    }

    /// Every round.
    pub fn rounds(&self) -> Result<Vec<RoundDto>, AppError> {
        Ok(self.store.rounds()?.iter().map(round_dto).collect())
    }
}

fn round_dto(r: &qafila_store::setup::StoredRound) -> RoundDto {
    RoundDto {
        id: r.round.id.to_string(),
        name: r.round.name.clone(),
        current: r.current,
        entitlements: r
            .round
            .entitlements
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

/// The balance a day opens with when nothing moved on it: the closing of the
/// latest earlier day at that site.
pub(crate) fn opening(
    state: &State,
    site: SiteId,
    item: ItemCode,
    day: NaiveDate,
) -> Option<qafila_domain::quantity::Balance> {
    state
        .stock_lines()
        .filter(|((s, i, d), _)| *s == site && *i == item && *d < day)
        .last()
        .map(|(_, line)| line.closing())
}

/// The anomalies that name an event of a site's day.
pub(crate) fn touching_anomalies<'a>(
    events: &[Event],
    state: &'a State,
    site: SiteId,
    day: NaiveDate,
) -> Vec<&'a Anomaly> {
    let touching: BTreeMap<EventId, bool> = events
        .iter()
        .map(|e| (e.id, touches(e, site, day)))
        .collect();
    state
        .anomalies()
        .iter()
        .filter(|a| {
            a.events()
                .iter()
                .any(|id| touching.get(id).copied().unwrap_or(false))
        })
        .collect()
}

/// Whether an event belongs to a site's day (for filtering anomalies).
fn touches(event: &Event, site: SiteId, day: NaiveDate) -> bool {
    match &event.body {
        EventBody::CheckIn(c) => c.site == site && c.day == day,
        EventBody::HandOut(h) => h.site == site && h.day == day,
        _ => event.stock_site_days().contains(&(site, day)),
    }
}
