//! The fold: the state of a convoy computed from a *set* of events.
//!
//! [`State::fold`] depends only on which events it is given, never on the
//! order they arrived in or on how often one arrived: events are deduplicated
//! by id and processed in one canonical order, `(timestamp, id)`. That is what
//! lets twenty devices sync in any order and still agree, and it is checked by
//! property tests over thousands of shuffled and duplicated event sets.
//!
//! The store keeps indexed projections for speed; this fold is the reference
//! they are tested against.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::anomaly::Anomaly;
use crate::entitlement::Round;
use crate::event::{CheckIn, Event, EventBody, HandOut, ReviewOutcome, VarianceReason};
use crate::hlc::Timestamp;
use crate::ids::{BeneficiaryId, CardSerial, DeviceId, EventId, HouseholdId, RoundId, SiteId};
use crate::item::ItemCode;
use crate::quantity::{Balance, Quantity};

/// What the registry says about a household.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Household {
    /// People in it.
    pub size: u32,
    /// Its village.
    pub village: String,
}

/// What one household received of one item in one round.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Served {
    /// Total received, voids excluded.
    pub received: Quantity,
    /// The hand-outs counted, in canonical order.
    pub hand_outs: Vec<EventId>,
    /// The devices that recorded them.
    pub devices: BTreeSet<DeviceId>,
}

/// One line of what a household may still receive.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Remaining {
    /// The item.
    pub item: ItemCode,
    /// What the round allows this household.
    pub allowed: Quantity,
    /// What it has received so far.
    pub received: Quantity,
    /// What is left (never below zero).
    pub remaining: Quantity,
}

/// Stock of one item at one site on one day.
///
/// `expected = opening + loaded + transferred_in - transferred_out - handed_out - returned - lost`;
/// a count gives the variance `counted - expected`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct StockLine {
    /// The previous day's closing balance at this site.
    pub opening: Balance,
    /// Loaded from waybills.
    pub loaded: Quantity,
    /// Received from other sites.
    pub transferred_in: Quantity,
    /// Sent to other sites.
    pub transferred_out: Quantity,
    /// Handed out to households (derived from hand-outs, never typed).
    pub handed_out: Quantity,
    /// Returned to the warehouse.
    pub returned: Quantity,
    /// Lost or written off.
    pub lost: Quantity,
    /// The standing physical count, if there is one.
    pub counted: Option<Quantity>,
    /// The count event standing, and its reason.
    pub count: Option<(EventId, Option<VarianceReason>)>,
}

impl StockLine {
    /// What should be there.
    pub fn expected(&self) -> Balance {
        self.opening
            .plus(self.loaded)
            .plus(self.transferred_in)
            .minus(self.transferred_out)
            .minus(self.handed_out)
            .minus(self.returned)
            .minus(self.lost)
    }

    /// Counted minus expected, once counted.
    pub fn variance(&self) -> Option<Balance> {
        self.counted.map(|c| c.to_balance().diff(self.expected()))
    }

    /// What the next day opens with: the count when there is one, else the
    /// expected figure.
    pub fn closing(&self) -> Balance {
        self.counted
            .map_or_else(|| self.expected(), Quantity::to_balance)
    }
}

/// The lead's review of an anomaly.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Review {
    /// The review event.
    pub event: EventId,
    /// The device that recorded it.
    pub device: DeviceId,
    /// When.
    pub at: Timestamp,
    /// Explained or a loss.
    pub outcome: ReviewOutcome,
    /// The lead's note.
    pub note: String,
}

/// Where a site is and who runs it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SitePlace {
    /// Governorate code.
    pub governorate: String,
    /// District (markaz).
    pub district: String,
    /// The association running it.
    pub association: String,
}

/// The convoy's state: a deterministic function of a set of events and the
/// rounds in force.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct State {
    households: BTreeMap<HouseholdId, Household>,
    served: BTreeMap<(HouseholdId, RoundId, ItemCode), Served>,
    stock: BTreeMap<(SiteId, ItemCode, NaiveDate), StockLine>,
    closed: BTreeMap<(SiteId, NaiveDate), EventId>,
    revoked_cards: BTreeMap<CardSerial, EventId>,
    revoked_devices: BTreeMap<DeviceId, EventId>,
    /// Households whose hand-outs count for another: a registry entry merged
    /// into one of that household's members.
    merged_households: BTreeMap<HouseholdId, HouseholdId>,
    anomalies: Vec<Anomaly>,
    reviews: BTreeMap<[u8; 16], Review>,
    places: BTreeMap<SiteId, SitePlace>,
}

/// The canonical order: by hybrid timestamp, ties broken by id.
type Key = (Timestamp, EventId);

fn key(e: &Event) -> Key {
    (e.at, e.id)
}

/// Whether a day close covers `event`: the closing device had everything it
/// recorded before the close, and every other device's events up to the
/// watermark the close names for it. Anything else is late for that day.
/// (`close` that is not a [`EventBody::DayClose`] covers everything.)
pub fn close_covers(close: &Event, event: &Event) -> bool {
    let EventBody::DayClose { covered, .. } = &close.body else {
        return true;
    };
    if event.device == close.device && key(event) < key(close) {
        return true;
    }
    covered
        .iter()
        .any(|(device, watermark)| *device == event.device && event.at <= *watermark)
}

/// The events a fold works over, indexed once.
struct Index<'a> {
    /// Valid events in canonical order.
    events: Vec<&'a Event>,
    by_id: BTreeMap<EventId, &'a Event>,
    /// Voids that name each target.
    voids: BTreeMap<EventId, Vec<&'a Event>>,
    /// The standing close of each site-day.
    closes: BTreeMap<(SiteId, NaiveDate), &'a Event>,
}

impl<'a> Index<'a> {
    /// Whether `event` counts in the figures of `site` on `day`: always for an
    /// open day; for a closed day only if the close covered it.
    fn counts_on(&self, event: &Event, site: SiteId, day: NaiveDate) -> bool {
        self.closes
            .get(&(site, day))
            .is_none_or(|close| close_covers(close, event))
    }

    /// Whether `event` is voided at all (for entitlements).
    fn is_voided(&self, event: &Event) -> bool {
        event.is_voidable()
            && self
                .voids
                .get(&event.id)
                .is_some_and(|voids| voids.iter().any(|v| event.is_cancelled_by(v)))
    }

    /// Whether `event` is voided as far as the figures of `site` on `day` go:
    /// a void that reached a closed day too late does not change it.
    fn is_voided_on(&self, event: &Event, site: SiteId, day: NaiveDate) -> bool {
        event.is_voidable()
            && self.voids.get(&event.id).is_some_and(|voids| {
                voids
                    .iter()
                    .any(|v| event.is_cancelled_by(v) && self.counts_on(v, site, day))
            })
    }
}

impl State {
    /// Folds a set of events (duplicates and order do not matter) under the
    /// given rounds.
    pub fn fold<'a>(rounds: &[Round], events: impl IntoIterator<Item = &'a Event>) -> State {
        let mut state = State::default();
        let index = state.index(events);
        state.registry(&index);
        state.cards_and_devices(&index);
        let check_ins = state.check_ins(&index);
        state.voids_and_closes(&index);
        state.hand_outs(rounds, &index, &check_ins);
        state.stock_movements(&index);
        state.chain_days();
        state.reviews_and_places(&index);
        state.anomalies.sort();
        state.anomalies.dedup();
        state
    }

    /// Deduplicates, validates and orders the events, and indexes voids and
    /// closes.
    fn index<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) -> Index<'a> {
        let mut by_id: BTreeMap<EventId, &'a Event> = BTreeMap::new();
        for event in events {
            by_id
                .entry(event.id)
                // Two different events under one id can only come from a bug
                // or a forgery; keeping the smaller keeps the fold
                // deterministic whichever arrived first.
                .and_modify(|kept| {
                    if event < *kept {
                        *kept = event;
                    }
                })
                .or_insert(event);
        }
        let mut valid = Vec::with_capacity(by_id.len());
        for event in by_id.values() {
            match event.validate() {
                Ok(()) => valid.push(*event),
                Err(err) => self.anomalies.push(Anomaly::InvalidRecord {
                    event: event.id,
                    code: err.code(),
                }),
            }
        }
        valid.sort_by_key(|e| key(e));
        by_id.retain(|_, e| e.validate().is_ok());

        let mut voids: BTreeMap<EventId, Vec<&'a Event>> = BTreeMap::new();
        let mut closes: BTreeMap<(SiteId, NaiveDate), Vec<&'a Event>> = BTreeMap::new();
        for event in &valid {
            match &event.body {
                EventBody::Void { target, .. } => voids.entry(*target).or_default().push(event),
                EventBody::DayClose { site, day, .. } => {
                    closes.entry((*site, *day)).or_default().push(event);
                }
                _ => {}
            }
        }
        let mut standing = BTreeMap::new();
        for (site_day, list) in closes {
            if list.len() > 1 {
                self.anomalies.push(Anomaly::ConflictingDayClose {
                    site: site_day.0,
                    day: site_day.1,
                    closes: list.iter().map(|e| e.id).collect(),
                });
            }
            if let Some(first) = list.first() {
                standing.insert(site_day, *first);
                self.closed.insert(site_day, first.id);
            }
        }
        Index {
            events: valid,
            by_id,
            voids,
            closes: standing,
        }
    }

    /// Household sizes and villages: the latest registration or correction
    /// in canonical order wins. Merges map a duplicate's household onto the
    /// kept entry's.
    fn registry(&mut self, index: &Index<'_>) {
        let mut member_of: BTreeMap<BeneficiaryId, HouseholdId> = BTreeMap::new();
        let mut merges: BTreeMap<BeneficiaryId, BeneficiaryId> = BTreeMap::new();
        for event in &index.events {
            match &event.body {
                EventBody::BeneficiaryRegistered {
                    beneficiary,
                    household,
                    ..
                } => {
                    member_of.entry(*beneficiary).or_insert(*household);
                }
                // The earliest merge of an entry stands, like the store's.
                EventBody::BeneficiaryMerged { kept, merged, .. } => {
                    merges.entry(*merged).or_insert(*kept);
                }
                _ => {}
            }
        }
        for (merged, kept) in &merges {
            if let (Some(from), Some(into)) = (member_of.get(merged), member_of.get(kept))
                && from != into
            {
                self.merged_households.insert(*from, *into);
            }
        }
        for event in &index.events {
            match &event.body {
                EventBody::BeneficiaryRegistered {
                    household,
                    household_size,
                    village,
                    ..
                } => {
                    self.households.insert(
                        *household,
                        Household {
                            size: *household_size,
                            village: village.clone(),
                        },
                    );
                }
                EventBody::BeneficiaryCorrected {
                    household,
                    household_size,
                    village,
                    ..
                } => {
                    if let Some(known) = self.households.get_mut(household) {
                        if let Some(size) = household_size {
                            known.size = *size;
                        }
                        if let Some(village) = village {
                            known.village.clone_from(village);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Revoked cards and devices: the earliest revocation of each stands.
    fn cards_and_devices(&mut self, index: &Index<'_>) {
        for event in &index.events {
            match &event.body {
                EventBody::CardRevoked { serial, .. }
                | EventBody::CardReissued { old: serial, .. } => {
                    self.revoked_cards.entry(*serial).or_insert(event.id);
                }
                EventBody::DeviceRevoked { device, .. } => {
                    self.revoked_devices.entry(*device).or_insert(event.id);
                }
                _ => {}
            }
        }
        for event in &index.events {
            if let Some(revocation) = self.revoked_devices.get(&event.device) {
                let revoked_at = index.by_id.get(revocation).map(|r| key(r));
                if revoked_at.is_some_and(|at| at < key(event)) {
                    self.anomalies.push(Anomaly::RevokedDeviceRecord {
                        event: event.id,
                        device: event.device,
                        revoked_by: *revocation,
                    });
                }
            }
        }
    }

    /// Flags a card used after its revocation.
    fn check_card(&mut self, index: &Index<'_>, event: &Event, card: Option<CardSerial>) {
        let Some(card) = card else { return };
        let Some(revocation) = self.revoked_cards.get(&card).copied() else {
            return;
        };
        if index
            .by_id
            .get(&revocation)
            .is_some_and(|r| key(r) < key(event))
        {
            self.anomalies.push(Anomaly::RevokedCardUsed {
                event: event.id,
                card,
                revoked_by: revocation,
            });
        }
    }

    /// The households checked in on each day, and revoked cards at the door.
    fn check_ins(&mut self, index: &Index<'_>) -> BTreeSet<(HouseholdId, NaiveDate)> {
        let mut seen = BTreeSet::new();
        for event in &index.events {
            if let EventBody::CheckIn(CheckIn {
                household,
                day,
                card,
                ..
            }) = &event.body
            {
                if index.is_voided(event) {
                    continue;
                }
                seen.insert((*household, *day));
                self.check_card(index, event, *card);
            }
        }
        seen
    }

    /// Voids that name what cannot be voided, and voids that came too late
    /// for a closed day.
    fn voids_and_closes(&mut self, index: &Index<'_>) {
        for (target, voids) in &index.voids {
            let Some(target_event) = index.by_id.get(target) else {
                // The target has not arrived yet; the void takes effect when
                // it does.
                continue;
            };
            for void in voids {
                if !target_event.is_voidable() || !target_event.is_cancelled_by(void) {
                    self.anomalies.push(Anomaly::InvalidVoid {
                        void: void.id,
                        target: *target,
                    });
                    continue;
                }
                for (site, day) in target_event.stock_site_days() {
                    self.flag_if_late(index, void, site, day);
                }
            }
        }
    }

    fn flag_if_late(
        &mut self,
        index: &Index<'_>,
        event: &Event,
        site: SiteId,
        day: NaiveDate,
    ) -> bool {
        if index.counts_on(event, site, day) {
            return false;
        }
        if let Some(close) = index.closes.get(&(site, day)) {
            self.anomalies.push(Anomaly::LateRecord {
                event: event.id,
                site,
                day,
                close: close.id,
            });
        }
        true
    }

    /// Entitlements, and the anomalies a hand-out can raise on its own.
    fn hand_outs(
        &mut self,
        rounds: &[Round],
        index: &Index<'_>,
        check_ins: &BTreeSet<(HouseholdId, NaiveDate)>,
    ) {
        for event in &index.events {
            let EventBody::HandOut(h) = &event.body else {
                continue;
            };
            if index.is_voided(event) {
                continue;
            }
            let household = self
                .merged_households
                .get(&h.household)
                .copied()
                .unwrap_or(h.household);
            let served = self.served.entry((household, h.round, h.item)).or_default();
            served.received = served.received.saturating_add(h.qty);
            served.hand_outs.push(event.id);
            served.devices.insert(event.device);
            self.hand_out_anomalies(rounds, index, event, h, check_ins);
        }
        for ((household, round_id, item), served) in &self.served {
            let (Some(round), Some(known)) = (
                rounds.iter().find(|r| r.id == *round_id),
                self.households.get(household),
            ) else {
                continue;
            };
            let allowed = round.allowance(*item, known.size);
            if served.received > allowed {
                self.anomalies.push(Anomaly::Overserved {
                    household: *household,
                    round: *round_id,
                    item: *item,
                    allowed,
                    received: served.received,
                    hand_outs: served.hand_outs.clone(),
                    devices: served.devices.iter().copied().collect(),
                });
            }
        }
    }

    fn hand_out_anomalies(
        &mut self,
        rounds: &[Round],
        index: &Index<'_>,
        event: &Event,
        h: &HandOut,
        check_ins: &BTreeSet<(HouseholdId, NaiveDate)>,
    ) {
        if !check_ins.contains(&(h.household, h.day)) {
            self.anomalies.push(Anomaly::HandOutWithoutCheckIn {
                hand_out: event.id,
                household: h.household,
                day: h.day,
            });
        }
        self.check_card(index, event, h.card);
        if let Some(lot) = &h.lot
            && h.item.needs_lot()
            && lot.expiry < h.day
        {
            self.anomalies.push(Anomaly::ExpiredMedicine {
                hand_out: event.id,
                lot: lot.number.clone(),
                expiry: lot.expiry,
                day: h.day,
            });
        }
        if let Some(reason) = &h.override_reason {
            self.anomalies.push(Anomaly::OverrideRecorded {
                hand_out: event.id,
                reason: reason.clone(),
            });
        }
        if !self.households.contains_key(&h.household) {
            self.anomalies.push(Anomaly::UnknownHousehold {
                hand_out: event.id,
                household: h.household,
            });
        }
        if !rounds.iter().any(|r| r.id == h.round) {
            self.anomalies.push(Anomaly::UnknownRound {
                hand_out: event.id,
                round: h.round,
            });
        }
    }

    /// Loads, transfers, hand-outs, returns, losses and counts into stock
    /// lines; closed days take only what their close covered.
    fn stock_movements(&mut self, index: &Index<'_>) {
        for event in &index.events {
            for (site, day) in event.stock_site_days() {
                if self.flag_if_late(index, event, site, day)
                    || index.is_voided_on(event, site, day)
                {
                    continue;
                }
                self.apply_movement(event, site, day);
            }
        }
    }

    fn apply_movement(&mut self, event: &Event, site: SiteId, day: NaiveDate) {
        let (item, add): (ItemCode, fn(&mut StockLine, Quantity)) = match &event.body {
            EventBody::HandOut(h) => (h.item, |l, q| l.handed_out = l.handed_out.saturating_add(q)),
            EventBody::StockLoad { item, .. } => {
                (*item, |l, q| l.loaded = l.loaded.saturating_add(q))
            }
            EventBody::StockReturn { item, .. } => {
                (*item, |l, q| l.returned = l.returned.saturating_add(q))
            }
            EventBody::StockLoss { item, .. } => (*item, |l, q| l.lost = l.lost.saturating_add(q)),
            EventBody::StockTransfer { from, item, .. } if *from == site => (*item, |l, q| {
                l.transferred_out = l.transferred_out.saturating_add(q)
            }),
            EventBody::StockTransfer { item, .. } => (*item, |l, q| {
                l.transferred_in = l.transferred_in.saturating_add(q)
            }),
            EventBody::StockCount {
                item,
                counted,
                reason,
                ..
            } => {
                // Events come in canonical order, so the last count seen is
                // the standing one.
                let line = self.stock.entry((site, *item, day)).or_default();
                line.counted = Some(*counted);
                line.count = Some((event.id, *reason));
                return;
            }
            _ => return,
        };
        let qty = match &event.body {
            EventBody::HandOut(h) => h.qty,
            EventBody::StockLoad { qty, .. }
            | EventBody::StockReturn { qty, .. }
            | EventBody::StockLoss { qty, .. }
            | EventBody::StockTransfer { qty, .. } => *qty,
            _ => return,
        };
        add(self.stock.entry((site, item, day)).or_default(), qty);
    }

    /// Carries each site's closing balance into its next day's opening, and
    /// flags counts that differ from expected without a reason.
    fn chain_days(&mut self) {
        let mut carried: Option<((SiteId, ItemCode), Balance)> = None;
        for ((site, item, day), line) in &mut self.stock {
            line.opening = match carried {
                Some((at, closing)) if at == (*site, *item) => closing,
                _ => Balance::ZERO,
            };
            carried = Some(((*site, *item), line.closing()));
            if let (Some(variance), Some((count, None))) = (line.variance(), line.count)
                && variance != Balance::ZERO
            {
                self.anomalies.push(Anomaly::VarianceWithoutReason {
                    site: *site,
                    day: *day,
                    item: *item,
                    count,
                    variance,
                });
            }
        }
    }

    /// Reviews (the earliest of each anomaly stands) and site places (the
    /// latest stands), in canonical order.
    fn reviews_and_places(&mut self, index: &Index<'_>) {
        for event in &index.events {
            match &event.body {
                EventBody::AnomalyReviewed {
                    anomaly,
                    outcome,
                    note,
                } => {
                    self.reviews.entry(*anomaly).or_insert_with(|| Review {
                        event: event.id,
                        device: event.device,
                        at: event.at,
                        outcome: *outcome,
                        note: note.clone(),
                    });
                }
                EventBody::ClockNoted {
                    phone_ms,
                    best_ms,
                    doubt,
                } => self.anomalies.push(Anomaly::ClockWrong {
                    note: event.id,
                    device: event.device,
                    error_ms: i64::try_from(*best_ms).unwrap_or(i64::MAX)
                        - i64::try_from(*phone_ms).unwrap_or(i64::MAX),
                    doubt: *doubt,
                }),
                EventBody::SiteDescribed {
                    site,
                    governorate,
                    district,
                    association,
                } => {
                    self.places.insert(
                        *site,
                        SitePlace {
                            governorate: governorate.clone(),
                            district: district.clone(),
                            association: association.clone(),
                        },
                    );
                }
                _ => {}
            }
        }
    }

    /// The review standing for an anomaly key, if the lead reviewed it.
    pub fn review(&self, anomaly: &[u8; 16]) -> Option<&Review> {
        self.reviews.get(anomaly)
    }

    /// Where a site is and who runs it, if the lead described it.
    pub fn place(&self, site: SiteId) -> Option<&SitePlace> {
        self.places.get(&site)
    }

    /// The household a household's hand-outs count for (itself unless merged).
    pub fn counted_household(&self, household: HouseholdId) -> HouseholdId {
        self.merged_households
            .get(&household)
            .copied()
            .unwrap_or(household)
    }

    /// The registry's view of a household.
    pub fn household(&self, household: HouseholdId) -> Option<&Household> {
        self.households.get(&household)
    }

    /// What a household received of an item in a round.
    pub fn served(
        &self,
        household: HouseholdId,
        round: RoundId,
        item: ItemCode,
    ) -> Option<&Served> {
        self.served.get(&(household, round, item))
    }

    /// What a household may still receive in `round`, item by item; `None`
    /// when the household is not in the registry.
    pub fn remaining(&self, round: &Round, household: HouseholdId) -> Option<Vec<Remaining>> {
        let size = self.households.get(&household)?.size;
        Some(
            round
                .entitlements
                .iter()
                .map(|e| {
                    let allowed = e.allowance(size);
                    let received = self
                        .served
                        .get(&(household, round.id, e.item))
                        .map_or(Quantity::ZERO, |s| s.received);
                    Remaining {
                        item: e.item,
                        allowed,
                        received,
                        remaining: allowed.saturating_sub(received),
                    }
                })
                .collect(),
        )
    }

    /// Stock of `item` at `site` on `day`, if anything happened to it then.
    pub fn stock_line(&self, site: SiteId, day: NaiveDate, item: ItemCode) -> Option<&StockLine> {
        self.stock.get(&(site, item, day))
    }

    /// Every stock line, by site, item and day.
    pub fn stock_lines(&self) -> impl Iterator<Item = ((SiteId, ItemCode, NaiveDate), &StockLine)> {
        self.stock.iter().map(|(k, v)| (*k, v))
    }

    /// The close standing for a site-day, if it is closed.
    pub fn day_close(&self, site: SiteId, day: NaiveDate) -> Option<EventId> {
        self.closed.get(&(site, day)).copied()
    }

    /// Whether a card has been revoked (or replaced).
    pub fn is_card_revoked(&self, card: CardSerial) -> bool {
        self.revoked_cards.contains_key(&card)
    }

    /// Whether a device has been revoked.
    pub fn is_device_revoked(&self, device: DeviceId) -> bool {
        self.revoked_devices.contains_key(&device)
    }

    /// Everything the lead must review, in a stable order.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }
}
