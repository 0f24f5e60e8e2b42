//! Test support shared by Qafila's crates: proptest strategies that generate
//! any [`Event`] (valid or not, as a decoder or a fold may receive), so every
//! encode/decode and every projection is checked over the whole event space;
//! realistic registries ([`names`]); a throwaway PostgreSQL ([`postgres`]);
//! and, with the `relay` feature, an in-memory relay that can turn hostile
//! (`relay`).

pub mod names;
pub mod postgres;
#[cfg(feature = "relay")]
pub mod relay;

use chrono::NaiveDate;
use proptest::prelude::*;
use qafila_domain::event::{
    CheckIn, ClockDoubt, Event, EventBody, HandOut, LossReason, Lot, ReviewOutcome,
    SealedPersonalData, VarianceReason,
};
use qafila_domain::hlc::Timestamp;
use qafila_domain::ids::{
    BeneficiaryId, CardSerial, DeviceId, EventId, HouseholdId, RoundId, SiteId, VolunteerId,
};
use qafila_domain::item::ItemCode;
use qafila_domain::nid::NidHash;
use qafila_domain::quantity::Quantity;

fn uuid_bytes() -> impl Strategy<Value = [u8; 16]> {
    any::<[u8; 16]>()
}

macro_rules! id_strategy {
    ($name:ident, $ty:ty) => {
        /// Any id of this kind.
        pub fn $name() -> impl Strategy<Value = $ty> {
            uuid_bytes().prop_map(<$ty>::from_bytes)
        }
    };
}

id_strategy!(event_id, EventId);
id_strategy!(device_id, DeviceId);
id_strategy!(volunteer_id, VolunteerId);
id_strategy!(beneficiary_id, BeneficiaryId);
id_strategy!(household_id, HouseholdId);
id_strategy!(site_id, SiteId);
id_strategy!(round_id, RoundId);

/// Any date from year 1 to 9999.
pub fn date() -> impl Strategy<Value = NaiveDate> {
    (1i32..3_652_059)
        .prop_map(|days| NaiveDate::from_num_days_from_ce_opt(days).unwrap_or(NaiveDate::MIN))
}

/// Any item.
pub fn item() -> impl Strategy<Value = ItemCode> {
    proptest::sample::select(ItemCode::ALL.to_vec())
}

/// Any quantity.
pub fn quantity() -> impl Strategy<Value = Quantity> {
    prop_oneof![
        (0u32..1_000).prop_map(Quantity::units),
        any::<u64>().prop_map(Quantity::from_milli)
    ]
}

/// Any text: Arabic, Latin, empty, odd Unicode.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[ء-ي ]{0,20}", "[a-zA-Z0-9 ]{0,20}", "\\PC{0,10}"]
}

fn lot() -> impl Strategy<Value = Option<Lot>> {
    proptest::option::of((text(), date()).prop_map(|(number, expiry)| Lot { number, expiry }))
}

fn card() -> impl Strategy<Value = Option<CardSerial>> {
    proptest::option::of(any::<u64>().prop_map(CardSerial::new))
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    any::<u64>().prop_map(Timestamp::from_u64)
}

/// Any event body, of every kind.
pub fn event_body() -> impl Strategy<Value = EventBody> {
    let opt_text = || proptest::option::of(text());
    prop_oneof![
        (
            beneficiary_id(),
            household_id(),
            site_id(),
            date(),
            card(),
            opt_text()
        )
            .prop_map(|(beneficiary, household, site, day, card, manual_reason)| {
                EventBody::CheckIn(CheckIn {
                    beneficiary,
                    household,
                    site,
                    day,
                    card,
                    manual_reason,
                })
            }),
        (
            (
                beneficiary_id(),
                household_id(),
                site_id(),
                date(),
                round_id()
            ),
            (item(), quantity(), lot(), card(), opt_text()),
        )
            .prop_map(
                |(
                    (beneficiary, household, site, day, round),
                    (item, qty, lot, card, override_reason),
                )| {
                    EventBody::HandOut(HandOut {
                        beneficiary,
                        household,
                        site,
                        day,
                        round,
                        item,
                        qty,
                        lot,
                        card,
                        override_reason,
                    })
                }
            ),
        (event_id(), proptest::option::of(device_id()), text()).prop_map(
            |(target, target_device, reason)| EventBody::Void {
                target,
                target_device,
                reason
            }
        ),
        (site_id(), date(), item(), quantity(), lot(), opt_text()).prop_map(
            |(site, day, item, qty, lot, waybill)| EventBody::StockLoad {
                site,
                day,
                item,
                qty,
                lot,
                waybill
            }
        ),
        (site_id(), site_id(), date(), item(), quantity(), lot()).prop_map(
            |(from, to, day, item, qty, lot)| EventBody::StockTransfer {
                from,
                to,
                day,
                item,
                qty,
                lot
            }
        ),
        (site_id(), date(), item(), quantity(), lot()).prop_map(|(site, day, item, qty, lot)| {
            EventBody::StockReturn {
                site,
                day,
                item,
                qty,
                lot,
            }
        }),
        (
            (site_id(), date(), item(), quantity(), lot()),
            (
                proptest::sample::select(LossReason::ALL.to_vec()),
                opt_text()
            ),
        )
            .prop_map(|((site, day, item, qty, lot), (reason, note))| {
                EventBody::StockLoss {
                    site,
                    day,
                    item,
                    qty,
                    lot,
                    reason,
                    note,
                }
            }),
        (
            site_id(),
            date(),
            item(),
            quantity(),
            proptest::option::of(proptest::sample::select(VarianceReason::ALL.to_vec())),
            opt_text()
        )
            .prop_map(
                |(site, day, item, counted, reason, note)| EventBody::StockCount {
                    site,
                    day,
                    item,
                    counted,
                    reason,
                    note
                }
            ),
        (
            site_id(),
            date(),
            proptest::collection::vec((device_id(), timestamp()), 0..4),
            proptest::collection::vec(device_id(), 0..3),
            proptest::collection::vec(any::<u8>(), 0..80)
        )
            .prop_map(
                |(site, day, covered, outstanding, signature)| EventBody::DayClose {
                    site,
                    day,
                    covered,
                    outstanding,
                    signature
                }
            ),
        (
            beneficiary_id(),
            household_id(),
            any::<u32>(),
            text(),
            proptest::option::of(any::<[u8; 32]>().prop_map(NidHash::from_bytes)),
            proptest::collection::vec(any::<u8>(), 0..120)
        )
            .prop_map(
                |(beneficiary, household, household_size, village, nid_hash, personal)| {
                    EventBody::BeneficiaryRegistered {
                        beneficiary,
                        household,
                        household_size,
                        village,
                        nid_hash,
                        personal: SealedPersonalData(personal),
                    }
                }
            ),
        (
            beneficiary_id(),
            household_id(),
            proptest::option::of(any::<u32>()),
            opt_text(),
            proptest::option::of(any::<[u8; 32]>().prop_map(NidHash::from_bytes)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..60))
        )
            .prop_map(
                |(beneficiary, household, household_size, village, nid_hash, personal)| {
                    EventBody::BeneficiaryCorrected {
                        beneficiary,
                        household,
                        household_size,
                        village,
                        nid_hash,
                        personal: personal.map(SealedPersonalData),
                    }
                }
            ),
        (beneficiary_id(), text()).prop_map(|(beneficiary, reason)| EventBody::BeneficiaryErased {
            beneficiary,
            reason
        }),
        (any::<u64>(), beneficiary_id(), round_id()).prop_map(|(s, beneficiary, round)| {
            EventBody::CardIssued {
                serial: CardSerial::new(s),
                beneficiary,
                round,
            }
        }),
        (any::<u64>(), any::<u64>(), beneficiary_id()).prop_map(|(o, n, beneficiary)| {
            EventBody::CardReissued {
                old: CardSerial::new(o),
                new: CardSerial::new(n),
                beneficiary,
            }
        }),
        (any::<u64>(), text()).prop_map(|(s, reason)| EventBody::CardRevoked {
            serial: CardSerial::new(s),
            reason
        }),
        (any::<u16>(), any::<[u8; 32]>(), text()).prop_map(|(key_id, public, association)| {
            EventBody::CardIssuerAdded {
                key_id,
                public,
                association,
            }
        }),
        (any::<u16>(), text())
            .prop_map(|(key_id, reason)| EventBody::CardIssuerWithdrawn { key_id, reason }),
        (beneficiary_id(), beneficiary_id(), text()).prop_map(|(kept, merged, reason)| {
            EventBody::BeneficiaryMerged {
                kept,
                merged,
                reason,
            }
        }),
        (
            any::<[u8; 16]>(),
            proptest::sample::select(ReviewOutcome::ALL.to_vec()),
            text()
        )
            .prop_map(|(anomaly, outcome, note)| EventBody::AnomalyReviewed {
                anomaly,
                outcome,
                note
            }),
        (site_id(), text(), text(), text()).prop_map(
            |(site, governorate, district, association)| EventBody::SiteDescribed {
                site,
                governorate,
                district,
                association,
            }
        ),
        (device_id(), text()).prop_map(|(device, name)| EventBody::DeviceEnrolled { device, name }),
        (device_id(), text())
            .prop_map(|(device, reason)| EventBody::DeviceRevoked { device, reason }),
        (
            any::<u64>(),
            any::<u64>(),
            proptest::sample::select(ClockDoubt::ALL.to_vec())
        )
            .prop_map(|(phone_ms, best_ms, doubt)| EventBody::ClockNoted {
                phone_ms,
                best_ms,
                doubt
            }),
        (site_id(), date(), text()).prop_map(|(site, day, label)| EventBody::SiteDayOpened {
            site,
            day,
            label
        }),
    ]
}

/// Any event.
pub fn event() -> impl Strategy<Value = Event> {
    (
        event_id(),
        device_id(),
        volunteer_id(),
        timestamp(),
        event_body(),
    )
        .prop_map(|(id, device, volunteer, at, body)| Event {
            id,
            device,
            volunteer,
            at,
            body,
        })
}
