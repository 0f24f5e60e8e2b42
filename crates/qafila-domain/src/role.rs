//! Who may record what: the convoy's roles and the one table that says what
//! each may do. The device that records an event checks it first (so a
//! volunteer is told, not silently ignored); every device that receives it
//! checks it again, with the role the lead certified for the sender, and
//! quarantines what the role does not allow (`SECURITY.md`).

use std::fmt;

use crate::event::EventBody;
use crate::ids::DeviceId;

/// What a device of a convoy is trusted to do.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Role {
    /// The convoy's lead: everything.
    Lead,
    /// The registry and cards.
    Registrar,
    /// Stock and the day's close.
    Storekeeper,
    /// Check-ins and hand-outs.
    Volunteer,
}

impl Role {
    /// The stable name.
    pub fn code(self) -> &'static str {
        match self {
            Role::Lead => "lead",
            Role::Registrar => "registrar",
            Role::Storekeeper => "storekeeper",
            Role::Volunteer => "volunteer",
        }
    }

    /// From its stable name.
    pub fn parse(text: &str) -> Option<Role> {
        [
            Role::Lead,
            Role::Registrar,
            Role::Storekeeper,
            Role::Volunteer,
        ]
        .into_iter()
        .find(|r| r.code() == text.trim().to_ascii_lowercase())
    }

    /// Its name in English.
    pub fn name_en(self) -> &'static str {
        match self {
            Role::Lead => "convoy lead",
            Role::Registrar => "registrar",
            Role::Storekeeper => "storekeeper",
            Role::Volunteer => "volunteer",
        }
    }

    /// Its name in Arabic.
    pub fn name_ar(self) -> &'static str {
        match self {
            Role::Lead => "قائد القافلة",
            Role::Registrar => "مسؤول التسجيل",
            Role::Storekeeper => "أمين المخزن",
            Role::Volunteer => "متطوع",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What kind of work an event is, as far as roles go.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Work {
    /// Checking people in and handing out.
    Distribution,
    /// Cancelling one of one's own records.
    OwnVoid,
    /// Noting that one's own clock is wrong.
    OwnClock,
    /// Cancelling another device's record.
    OthersVoid,
    /// Stock movements, counts and the day's close.
    Stock,
    /// Registering, correcting, merging and erasing people.
    Registry,
    /// Issuing keys, cards, reissues and revocations.
    Cards,
    /// The lead's own work: withdrawing issuers, reviewing anomalies,
    /// describing sites, enrolling and revoking devices.
    Lead,
}

impl Work {
    /// The work an event does when `device` records it.
    pub fn of(device: DeviceId, body: &EventBody) -> Work {
        match body {
            EventBody::CheckIn(_) | EventBody::HandOut(_) => Work::Distribution,
            EventBody::ClockNoted { .. } => Work::OwnClock,
            EventBody::Void { target_device, .. } => match target_device {
                Some(target) if *target == device => Work::OwnVoid,
                // A void from before voids named their target's device may
                // cancel anything: only the lead may send one now.
                _ => Work::OthersVoid,
            },
            EventBody::StockLoad { .. }
            | EventBody::StockTransfer { .. }
            | EventBody::StockReturn { .. }
            | EventBody::StockLoss { .. }
            | EventBody::StockCount { .. }
            | EventBody::DayClose { .. } => Work::Stock,
            EventBody::BeneficiaryRegistered { .. }
            | EventBody::BeneficiaryCorrected { .. }
            | EventBody::BeneficiaryErased { .. }
            | EventBody::BeneficiaryMerged { .. } => Work::Registry,
            EventBody::CardIssuerAdded { .. }
            | EventBody::CardIssued { .. }
            | EventBody::CardReissued { .. }
            | EventBody::CardRevoked { .. } => Work::Cards,
            EventBody::CardIssuerWithdrawn { .. }
            | EventBody::AnomalyReviewed { .. }
            | EventBody::SiteDescribed { .. }
            | EventBody::SiteDayOpened { .. }
            | EventBody::DeviceEnrolled { .. }
            | EventBody::DeviceRevoked { .. }
            | EventBody::LockPolicy { .. }
            | EventBody::LeadRestored { .. } => Work::Lead,
        }
    }

    /// What it is, in English and Arabic.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Work::Distribution => ("check-ins and hand-outs", "التسجيل والصرف"),
            Work::OwnVoid => ("cancelling its own records", "إلغاء عملياته"),
            Work::OwnClock => ("noting its own clock", "تسجيل غلط ساعته"),
            Work::OthersVoid => (
                "cancelling another device's records",
                "إلغاء عمليات جهاز تاني",
            ),
            Work::Stock => (
                "stock movements, counts and closing the day",
                "حركات المخزن والجرد وقفل اليوم",
            ),
            Work::Registry => (
                "registering, correcting, merging or erasing people",
                "تسجيل المستفيدين وتعديلهم ودمجهم ومسحهم",
            ),
            Work::Cards => ("issuing and revoking cards", "إصدار الكروت وإلغاؤها"),
            Work::Lead => ("the convoy lead's work", "شغل قائد القافلة"),
        }
    }
}

/// The table of `SECURITY.md`: whether `role` may do `work`.
pub fn may(role: Role, work: Work) -> bool {
    match work {
        Work::Distribution | Work::OwnVoid | Work::OwnClock => true,
        Work::Stock => matches!(role, Role::Lead | Role::Storekeeper),
        Work::Registry | Work::Cards => matches!(role, Role::Lead | Role::Registrar),
        Work::OthersVoid | Work::Lead => role == Role::Lead,
    }
}

/// An event its recorder's role does not allow.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("a device certified as {role} may not do {}", work.names().0)]
pub struct Forbidden {
    /// The recorder's role.
    pub role: Role,
    /// What the event does.
    pub work: Work,
}

impl Forbidden {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        "role_forbidden"
    }

    /// The message in Arabic.
    pub fn message_ar(&self) -> String {
        format!(
            "الجهاز ده دوره {}: مينفعش يعمل {}. اطلب من قائد القافلة يغيّر دوره",
            self.role.name_ar(),
            self.work.names().1
        )
    }
}

/// Whether `device`, certified as `role`, may record `body`.
pub fn permits(role: Role, device: DeviceId, body: &EventBody) -> Result<(), Forbidden> {
    let work = Work::of(device, body);
    if may(role, work) {
        Ok(())
    } else {
        Err(Forbidden { role, work })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Lot;
    use crate::ids::{EventId, SiteId};
    use crate::item::ItemCode;
    use crate::quantity::Quantity;
    use chrono::NaiveDate;

    fn device(n: u8) -> DeviceId {
        DeviceId::from_parts(1, [n; 10])
    }

    fn check(role: Role, body: &EventBody, expect: bool) {
        assert_eq!(
            permits(role, device(1), body).is_ok(),
            expect,
            "{role} recording {body:?}"
        );
    }

    #[test]
    fn only_the_lead_opens_a_site_day_and_anyone_notes_its_own_clock() {
        let opened = EventBody::SiteDayOpened {
            site: SiteId::from_parts(1, [1; 10]),
            day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            label: "اليوم التاني".into(),
        };
        let noted = EventBody::ClockNoted {
            phone_ms: 946_713_600_000,
            best_ms: 1_796_100_000_000,
            doubt: crate::event::ClockDoubt::RelaySaid,
        };
        for role in [Role::Registrar, Role::Storekeeper, Role::Volunteer] {
            check(role, &opened, false);
            check(role, &noted, true);
        }
        check(Role::Lead, &opened, true);
        check(Role::Lead, &noted, true);
    }

    #[test]
    fn each_role_does_its_own_work_only() {
        let void = |target_device| EventBody::Void {
            target: EventId::from_parts(1, [2; 10]),
            target_device,
            reason: "x".into(),
        };
        let count = EventBody::StockCount {
            site: SiteId::from_parts(1, [3; 10]),
            day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            item: ItemCode::FoodBox,
            counted: Quantity::units(3),
            reason: None,
            note: None,
        };
        let load = EventBody::StockLoad {
            site: SiteId::from_parts(1, [3; 10]),
            day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            item: ItemCode::Medicine,
            qty: Quantity::units(3),
            lot: Some(Lot {
                number: "L1".into(),
                expiry: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
            }),
            waybill: None,
        };
        let issuer = EventBody::CardIssuerAdded {
            key_id: 7,
            public: [1; 32],
            association: "جمعية".into(),
        };
        let erased = EventBody::BeneficiaryErased {
            beneficiary: crate::ids::BeneficiaryId::from_parts(1, [4; 10]),
            reason: "طلب".into(),
        };
        for (role, own, others, stock, registry, cards) in [
            (Role::Lead, true, true, true, true, true),
            (Role::Registrar, true, false, false, true, true),
            (Role::Storekeeper, true, false, true, false, false),
            (Role::Volunteer, true, false, false, false, false),
        ] {
            check(role, &void(Some(device(1))), own);
            check(role, &void(Some(device(2))), others);
            check(role, &void(None), others);
            check(role, &count, stock);
            check(role, &load, stock);
            check(role, &erased, registry);
            check(role, &issuer, cards);
        }
        let error = permits(Role::Volunteer, device(1), &count).unwrap_err();
        assert_eq!(error.code(), "role_forbidden");
        assert!(error.to_string().contains("volunteer"));
        assert!(error.message_ar().contains("متطوع"));
    }
}
