//! Anomalies: what the fold found that a lead must look at. They are reported,
//! never silently resolved: merging two offline devices that served the same
//! household keeps both hand-outs and raises an [`Anomaly::Overserved`].

use chrono::NaiveDate;

use crate::event::ClockDoubt;
use crate::ids::{CardSerial, DeviceId, EventId, HouseholdId, RoundId, SiteId};
use crate::item::ItemCode;
use crate::quantity::{Balance, Quantity};

/// Something the lead must review. Ordered so that a state's anomaly list is
/// the same whatever order the events arrived in.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Anomaly {
    /// A household received more of an item in a round than it is entitled
    /// to. With more than one device involved, it is a double hand-out made
    /// by devices that could not see each other.
    Overserved {
        /// The household.
        household: HouseholdId,
        /// The round.
        round: RoundId,
        /// The item.
        item: ItemCode,
        /// What the household may receive.
        allowed: Quantity,
        /// What it received, voids excluded.
        received: Quantity,
        /// Every hand-out counted, oldest first.
        hand_outs: Vec<EventId>,
        /// The devices that recorded them.
        devices: Vec<DeviceId>,
    },
    /// A volunteer knowingly went beyond the entitlement, with a reason.
    OverrideRecorded {
        /// The hand-out.
        hand_out: EventId,
        /// The reason they gave.
        reason: String,
    },
    /// Items handed out to a household nobody checked in that day.
    HandOutWithoutCheckIn {
        /// The hand-out.
        hand_out: EventId,
        /// The household.
        household: HouseholdId,
        /// The day.
        day: NaiveDate,
    },
    /// A card was used after it had been revoked.
    RevokedCardUsed {
        /// The check-in or hand-out.
        event: EventId,
        /// The card.
        card: CardSerial,
        /// The revocation (or reissue) it came after.
        revoked_by: EventId,
    },
    /// Medicine handed out after its lot's expiry date.
    ExpiredMedicine {
        /// The hand-out.
        hand_out: EventId,
        /// The lot number.
        lot: String,
        /// Its expiry.
        expiry: NaiveDate,
        /// The day it was handed out.
        day: NaiveDate,
    },
    /// A hand-out to a household this device has no registration for (yet).
    UnknownHousehold {
        /// The hand-out.
        hand_out: EventId,
        /// The household.
        household: HouseholdId,
    },
    /// A hand-out against a round that is not defined.
    UnknownRound {
        /// The hand-out.
        hand_out: EventId,
        /// The round.
        round: RoundId,
    },
    /// A count differs from the expected stock and gives no reason.
    VarianceWithoutReason {
        /// The site.
        site: SiteId,
        /// The day.
        day: NaiveDate,
        /// The item.
        item: ItemCode,
        /// The count.
        count: EventId,
        /// Counted minus expected.
        variance: Balance,
    },
    /// A record for a day that had already been closed without it: flagged,
    /// not absorbed into the closed figures.
    LateRecord {
        /// The late event.
        event: EventId,
        /// The site.
        site: SiteId,
        /// The closed day.
        day: NaiveDate,
        /// The close it missed.
        close: EventId,
    },
    /// Two closes of the same site and day; the earliest one stands.
    ConflictingDayClose {
        /// The site.
        site: SiteId,
        /// The day.
        day: NaiveDate,
        /// Every close, the standing one first.
        closes: Vec<EventId>,
    },
    /// A void naming an event that cannot be voided (a registry or card event,
    /// a close, another void).
    InvalidVoid {
        /// The void.
        void: EventId,
        /// What it named.
        target: EventId,
    },
    /// A record made by a device after it was revoked.
    RevokedDeviceRecord {
        /// The record.
        event: EventId,
        /// The device.
        device: DeviceId,
        /// The revocation.
        revoked_by: EventId,
    },
    /// A phone found its own clock wrong (once per episode) and recorded
    /// with its best time meanwhile.
    ClockWrong {
        /// Its note.
        note: EventId,
        /// The phone.
        device: DeviceId,
        /// How far its clock was behind (positive) or ahead (negative).
        error_ms: i64,
        /// How it knew.
        doubt: ClockDoubt,
    },
    /// A received event that breaks the rules of [`crate::event::Event::validate`];
    /// it is kept but counts nowhere.
    InvalidRecord {
        /// The event.
        event: EventId,
        /// The validation error's code.
        code: &'static str,
    },
}

impl Anomaly {
    /// A stable code for filtering, exports and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            Anomaly::Overserved { devices, .. } if devices.len() > 1 => "double_hand_out",
            Anomaly::Overserved { .. } => "over_entitlement",
            Anomaly::OverrideRecorded { .. } => "override",
            Anomaly::HandOutWithoutCheckIn { .. } => "hand_out_without_check_in",
            Anomaly::RevokedCardUsed { .. } => "revoked_card_used",
            Anomaly::ExpiredMedicine { .. } => "expired_medicine",
            Anomaly::UnknownHousehold { .. } => "unknown_household",
            Anomaly::UnknownRound { .. } => "unknown_round",
            Anomaly::VarianceWithoutReason { .. } => "variance_without_reason",
            Anomaly::LateRecord { .. } => "late_record",
            Anomaly::ConflictingDayClose { .. } => "conflicting_day_close",
            Anomaly::InvalidVoid { .. } => "invalid_void",
            Anomaly::RevokedDeviceRecord { .. } => "revoked_device_record",
            Anomaly::InvalidRecord { .. } => "invalid_record",
            Anomaly::ClockWrong { .. } => "clock_wrong",
        }
    }

    /// A stable identity for reviews: the first 16 bytes of SHA-256 over
    /// the code, the site-day or household it concerns, and the events it
    /// names. The same anomaly gets the same key on every device; a double
    /// hand-out that gains a third hand-out is a new anomaly.
    pub fn key(&self) -> [u8; 16] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.code().as_bytes());
        h.update([0]);
        match self {
            Anomaly::Overserved {
                household, item, ..
            } => {
                h.update(household.to_bytes());
                h.update(item.code().as_bytes());
            }
            Anomaly::VarianceWithoutReason {
                site, day, item, ..
            } => {
                h.update(site.to_bytes());
                h.update(day.to_string().as_bytes());
                h.update(item.code().as_bytes());
            }
            Anomaly::ConflictingDayClose { site, day, .. } => {
                h.update(site.to_bytes());
                h.update(day.to_string().as_bytes());
            }
            _ => {}
        }
        for event in self.events() {
            h.update(event.to_bytes());
        }
        let digest = h.finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }

    /// The events this anomaly is about, so a screen can link to them.
    pub fn events(&self) -> Vec<EventId> {
        match self {
            Anomaly::Overserved { hand_outs, .. } => hand_outs.clone(),
            Anomaly::ConflictingDayClose { closes, .. } => closes.clone(),
            Anomaly::OverrideRecorded { hand_out, .. }
            | Anomaly::HandOutWithoutCheckIn { hand_out, .. }
            | Anomaly::ExpiredMedicine { hand_out, .. }
            | Anomaly::UnknownHousehold { hand_out, .. }
            | Anomaly::UnknownRound { hand_out, .. } => vec![*hand_out],
            Anomaly::RevokedCardUsed {
                event, revoked_by, ..
            }
            | Anomaly::RevokedDeviceRecord {
                event, revoked_by, ..
            } => vec![*event, *revoked_by],
            Anomaly::VarianceWithoutReason { count, .. } => vec![*count],
            Anomaly::LateRecord { event, close, .. } => vec![*event, *close],
            Anomaly::InvalidVoid { void, target } => vec![*void, *target],
            Anomaly::InvalidRecord { event, .. } => vec![*event],
            Anomaly::ClockWrong { note, .. } => vec![*note],
        }
    }
}
