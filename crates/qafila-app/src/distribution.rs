//! The volunteer's work at the table: who is this, what may their household
//! still receive, check them in, hand items over, undo a mistake.

use chrono::NaiveDate;
use qafila_domain::event::{CheckIn, EventBody, HandOut, InvalidEvent};
use qafila_domain::ids::{CardSerial, EventId};
use qafila_domain::item::ItemCode;
use qafila_domain::quantity::Quantity;
use qafila_store::registry::Beneficiary;

use crate::dto::{CheckInDto, EntitlementDto, HandOutDto, RecordedDto, RemainingDto};
use crate::registry::to_dto;
use crate::{App, AppError, parse_id};

/// A hand-out as a volunteer asks for it.
#[derive(Debug, Clone, Default)]
pub struct HandOutRequest {
    /// Beneficiary id or national ID.
    pub beneficiary: String,
    /// Item code.
    pub item: String,
    /// Quantity ("1", "1.5", "٢").
    pub qty: String,
    /// Site name.
    pub site: String,
    /// Lot number (medicine).
    pub lot: Option<String>,
    /// Lot expiry, YYYY-MM-DD (medicine).
    pub expiry: Option<String>,
    /// Set to go beyond the entitlement, with the reason.
    pub override_reason: Option<String>,
    /// The card scanned, if any.
    pub card: Option<u64>,
}

pub(crate) fn parse_item(text: &str) -> Result<ItemCode, AppError> {
    text.parse::<ItemCode>().map_err(|e| {
        AppError::new(
            e.code(),
            e.to_string(),
            format!("الصنف «{text}» مش معروف؛ الأصناف: food_box, hot_meal, meat_kg, blanket, medicine, checkup"),
        )
    })
}

pub(crate) fn parse_qty(text: &str) -> Result<Quantity, AppError> {
    text.parse::<Quantity>().map_err(|e| {
        AppError::new(
            e.code(),
            e.to_string(),
            format!("«{text}» مش كمية صحيحة؛ اكتب رقم زي 2 أو 1.5"),
        )
    })
}

/// A date as people type it: `2026-12-01`, in Western or Eastern Arabic
/// digits (`٢٠٢٦-١٢-٠١`).
pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, AppError> {
    let western = qafila_domain::digits::to_western(text.trim());
    NaiveDate::parse_from_str(&western, "%Y-%m-%d").map_err(|_| {
        AppError::new(
            "invalid_date",
            format!("`{text}` is not a date: write YYYY-MM-DD, e.g. 2026-12-01"),
            format!("«{text}» مش تاريخ صحيح: اكتبه بالشكل 2026-12-01"),
        )
    })
}

impl App {
    fn remaining_items(&self, who: &Beneficiary) -> Result<(String, Vec<RemainingDto>), AppError> {
        let round = self.store.current_round()?;
        let served = self.store.received_in_round(who.household, round.id)?;
        let mut items = Vec::with_capacity(round.entitlements.len());
        for entitlement in &round.entitlements {
            let allowed = entitlement.allowance(who.household_size);
            let received = served
                .iter()
                .find(|(code, _)| code == entitlement.item.code())
                .map_or(Quantity::ZERO, |(_, qty)| *qty);
            items.push(RemainingDto {
                item: entitlement.item.code(),
                item_en: entitlement.item.name_en(),
                item_ar: entitlement.item.name_ar(),
                unit: entitlement.item.unit().name_en(),
                allowed: allowed.to_string(),
                received: received.to_string(),
                remaining: allowed.saturating_sub(received).to_string(),
            });
        }
        Ok((round.name, items))
    }

    /// Who this is and what their household may still receive this round:
    /// what a volunteer sees right after a scan.
    pub fn entitlement(&self, beneficiary: &str) -> Result<EntitlementDto, AppError> {
        let who = self.find_beneficiary(beneficiary)?;
        self.entitlement_of(who)
    }

    fn entitlement_of(&self, who: Beneficiary) -> Result<EntitlementDto, AppError> {
        let (_, today) = self.now();
        let checked_in_today = self.store.checked_in(who.household, today)?;
        let (round, items) = self.remaining_items(&who)?;
        Ok(EntitlementDto {
            beneficiary: to_dto(who, None),
            round,
            checked_in_today,
            items,
        })
    }

    /// Checks a beneficiary in at a site today.
    pub fn check_in(
        &self,
        beneficiary: &str,
        site: &str,
        card: Option<u64>,
        manual_reason: Option<String>,
    ) -> Result<CheckInDto, AppError> {
        let who = self.find_beneficiary(beneficiary)?;
        refuse_erased(&who)?;
        let site = self.store.site(site)?;
        let (now, today) = self.now_at(site.id)?;
        let already_checked_in = self.store.checked_in(who.household, today)?;
        let event = self.store.record(
            self.volunteer,
            EventBody::CheckIn(CheckIn {
                beneficiary: who.id,
                household: who.household,
                site: site.id,
                day: today,
                card: card.map(CardSerial::new),
                manual_reason,
            }),
            now,
        )?;
        Ok(CheckInDto {
            event: event.id.to_string(),
            site: site.name,
            already_checked_in,
            entitlement: self.entitlement_of(who)?,
        })
    }

    /// Hands items to a beneficiary. More than the household may still
    /// receive this round is refused unless an override reason is given, in
    /// which case it is recorded and shows up as an anomaly.
    pub fn hand_out(&self, request: HandOutRequest) -> Result<HandOutDto, AppError> {
        let who = self.find_beneficiary(&request.beneficiary)?;
        let item = parse_item(&request.item)?;
        let qty = parse_qty(&request.qty)?;
        // Rules of the hand-out itself come before the entitlement, so
        // "1.5 food boxes" is called a fraction, not too many.
        if qty.is_zero() {
            return Err(InvalidEvent::ZeroQuantity { item }.into());
        }
        if !item.accepts(qty) {
            return Err(InvalidEvent::FractionalQuantity { item, qty }.into());
        }
        let lot = crate::stock::parse_lot(request.lot, request.expiry)?;
        let override_reason = request.override_reason.filter(|r| !r.trim().is_empty());
        let site = self.store.site(&request.site)?;
        let (now, today) = self.now_at(site.id)?;
        if let Some(lot) = &lot
            && lot.expiry < today
            && override_reason.is_none()
        {
            return Err(AppError::new(
                "expired_medicine",
                format!(
                    "lot {} expired on {}; do not hand it out",
                    lot.number, lot.expiry
                ),
                format!(
                    "التشغيلة {} صلاحيتها خلصت يوم {}؛ ماتصرفهاش",
                    lot.number, lot.expiry
                ),
            ));
        }
        let round = self.store.current_round()?;
        let allowed = round.allowance(item, who.household_size);
        let received = self.store.received(who.household, round.id, item)?;
        let remaining = allowed.saturating_sub(received);
        if qty > remaining && override_reason.is_none() {
            return Err(AppError::over_entitlement(item, qty, remaining));
        }
        self.refuse_if_closed(&site, today)?;
        let event = self.store.record(
            self.volunteer,
            EventBody::HandOut(HandOut {
                beneficiary: who.id,
                household: who.household,
                site: site.id,
                day: today,
                round: round.id,
                item,
                qty,
                lot,
                card: request.card.map(CardSerial::new),
                override_reason: override_reason.clone(),
            }),
            now,
        )?;
        Ok(HandOutDto {
            event: event.id.to_string(),
            item: item.code(),
            qty: qty.to_string(),
            overridden: override_reason.is_some() && qty > remaining,
            remaining: remaining.saturating_sub(qty).to_string(),
        })
    }

    /// Hands a household its whole basket in one go: every item of the
    /// current round it may still receive, each for all that remains, in
    /// one transaction (all recorded, or none). Medicine (lots, a
    /// pharmacist) and check-ups (a service) have their own tables and are
    /// left out.
    pub fn hand_out_basket(
        &self,
        beneficiary: &str,
        site: &str,
        card: Option<u64>,
    ) -> Result<Vec<HandOutDto>, AppError> {
        let who = self.find_beneficiary(beneficiary)?;
        let site = self.store.site(site)?;
        let round = self.store.current_round()?;
        let (now, today) = self.now_at(site.id)?;
        self.refuse_if_closed(&site, today)?;
        let mut bodies = Vec::new();
        let mut handed = Vec::new();
        for entitlement in &round.entitlements {
            let item = entitlement.item;
            let received = self.store.received(who.household, round.id, item)?;
            let remaining = entitlement
                .allowance(who.household_size)
                .saturating_sub(received);
            if !in_basket(item) || remaining.is_zero() || !item.accepts(remaining) {
                continue;
            }
            bodies.push(EventBody::HandOut(HandOut {
                beneficiary: who.id,
                household: who.household,
                site: site.id,
                day: today,
                round: round.id,
                item,
                qty: remaining,
                lot: None,
                card: card.map(CardSerial::new),
                override_reason: None,
            }));
            handed.push((item, remaining));
        }
        if bodies.is_empty() {
            return Err(AppError::new(
                "basket_empty",
                "this household has nothing left to receive at this table this round; do not hand out",
                "الأسرة دي مفيش لها حاجة تانية تستلمها من الترابيزة دي في الجولة دي؛ ما تصرفش",
            ));
        }
        let events = self.store.record_all(self.volunteer, bodies, now)?;
        Ok(events
            .iter()
            .zip(handed)
            .map(|(event, (item, qty))| HandOutDto {
                event: event.id.to_string(),
                item: item.code(),
                qty: qty.to_string(),
                overridden: false,
                remaining: Quantity::ZERO.to_string(),
            })
            .collect())
    }

    /// Cancels an earlier event with a reason; the event stays in history.
    pub fn void(&self, event: &str, reason: &str) -> Result<RecordedDto, AppError> {
        let target = parse_id::<EventId>(event, "event")?;
        let Some(original) = self.store.event(target)? else {
            return Err(AppError::new(
                "unknown_event",
                format!("no event {event} on this device"),
                format!("مفيش عملية رقم {event} على الجهاز ده"),
            ));
        };
        if !original.is_voidable() {
            return Err(AppError::new(
                "not_voidable",
                "only check-ins, hand-outs and stock records can be voided; correct registrations and cards with their own commands",
                "الإلغاء للتسجيل والصرف وحركات المخزن بس",
            ));
        }
        if self.store.is_voided(target)? {
            return Err(AppError::new(
                "already_voided",
                format!("event {event} is already voided"),
                format!("العملية {event} اتلغت قبل كده"),
            ));
        }
        let (now, _) = self.now();
        let recorded = self.store.record(
            self.volunteer,
            EventBody::Void {
                target,
                // A void names its target's device: only the lead's role may
                // void another device's record (the store checks).
                target_device: Some(original.device),
                reason: reason.trim().to_owned(),
            },
            now,
        )?;
        Ok(RecordedDto {
            event: recorded.id.to_string(),
            kind: "void",
        })
    }
}

/// Whether a basket ([`App::hand_out_basket`]) includes `item`: everything
/// but medicine and check-ups, which have their own tables.
pub(crate) fn in_basket(item: ItemCode) -> bool {
    !matches!(item, ItemCode::Medicine | ItemCode::Checkup)
}

/// Whether a household has nothing left to receive at the distribution
/// table: nothing of the basket's items when the round has any, else
/// nothing at all (a medical convoy's round).
pub(crate) fn nothing_left(items: &[RemainingDto]) -> bool {
    let basket = |i: &&RemainingDto| i.item.parse::<ItemCode>().is_ok_and(in_basket);
    let at_table: Vec<&RemainingDto> = if items.iter().any(|i| basket(&i)) {
        items.iter().filter(basket).collect()
    } else {
        items.iter().collect()
    };
    at_table
        .iter()
        .all(|i| i.remaining == Quantity::ZERO.to_string())
}

fn refuse_erased(who: &Beneficiary) -> Result<(), AppError> {
    if who.erased {
        return Err(AppError::new(
            "beneficiary_erased",
            "this person's data was erased; register them again if they ask to be served",
            "بيانات الشخص ده اتمسحت؛ سجّله من جديد لو طلب الخدمة",
        ));
    }
    Ok(())
}
