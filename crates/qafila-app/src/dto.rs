//! What the façade returns: plain, serialisable shapes for the UI (JSON over
//! Tauri's IPC) and the CLI's `--json`. Domain types are not `Serialize`;
//! this is the one place that decides how they look outside Rust.
//! Quantities are strings ("1.5") so no JSON number rounding touches them.

use serde::Serialize;
use ts_rs::TS;

/// This device.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct DeviceDto {
    /// Device id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The store file.
    pub store: String,
    /// Its fingerprint (`ABCD-EFGH-JKMN-PQRS-TVWX`): the lead compares it
    /// with what its own screen shows before approving this device.
    pub fingerprint: String,
}

/// A person in the registry.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct BeneficiaryDto {
    /// Beneficiary id.
    pub id: String,
    /// Household id.
    pub household: String,
    /// Name; absent once erased.
    pub name: Option<String>,
    /// Village.
    pub village: String,
    /// People in the household.
    pub household_size: u32,
    /// Phone.
    pub phone: Option<String>,
    /// Last four digits of the national ID.
    pub national_id_last4: Option<String>,
    /// Whether their personal data was erased.
    pub erased: bool,
    /// Search score, when this came from a search.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub score: Option<f32>,
}

/// A newly registered person.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct RegisteredDto {
    /// Beneficiary id.
    pub beneficiary: String,
    /// Household id.
    pub household: String,
    /// Entries already registered that are likely the same person (same
    /// national ID from another device, or a similar name in the same
    /// village and household size). They are in the duplicate queue.
    pub likely_duplicates: Vec<BeneficiaryDto>,
}

/// One item of what a household may receive.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct RemainingDto {
    /// Item code.
    pub item: &'static str,
    /// English name.
    pub item_en: &'static str,
    /// Arabic name.
    pub item_ar: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// What the round allows this household.
    pub allowed: String,
    /// Received so far this round.
    pub received: String,
    /// Still to receive.
    pub remaining: String,
}

/// Who is at the table and what they may still receive.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct EntitlementDto {
    /// The person.
    pub beneficiary: BeneficiaryDto,
    /// The round.
    pub round: String,
    /// Whether the household already checked in today (possibly elsewhere).
    pub checked_in_today: bool,
    /// Item by item.
    pub items: Vec<RemainingDto>,
}

/// A recorded event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct RecordedDto {
    /// Event id (for a later void).
    pub event: String,
    /// Its kind.
    pub kind: &'static str,
}

/// A recorded check-in.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct CheckInDto {
    /// The event.
    pub event: String,
    /// The site.
    pub site: String,
    /// Whether this household had already checked in today.
    pub already_checked_in: bool,
    /// What the household may receive.
    pub entitlement: EntitlementDto,
}

/// A recorded hand-out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct HandOutDto {
    /// The event.
    pub event: String,
    /// Item code.
    pub item: &'static str,
    /// Quantity.
    pub qty: String,
    /// Whether it went beyond the entitlement by override.
    pub overridden: bool,
    /// What remains of this item afterwards.
    pub remaining: String,
}

/// A round.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct RoundDto {
    /// Round id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Whether hand-outs count against it now.
    pub current: bool,
    /// Entitlements in text form (`blanket=1/2,cap=3`).
    pub entitlements: Vec<String>,
}

/// One stock line of a day.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct StockLineDto {
    /// Item code.
    pub item: &'static str,
    /// English name.
    pub item_en: &'static str,
    /// Arabic name.
    pub item_ar: &'static str,
    /// Opening balance.
    pub opening: String,
    /// Loaded.
    pub loaded: String,
    /// Transferred in.
    pub transferred_in: String,
    /// Transferred out.
    pub transferred_out: String,
    /// Handed out.
    pub handed_out: String,
    /// Returned.
    pub returned: String,
    /// Lost.
    pub lost: String,
    /// Expected.
    pub expected: String,
    /// Counted, if counted.
    pub counted: Option<String>,
    /// Counted minus expected.
    pub variance: Option<String>,
    /// The variance reason code.
    pub variance_reason: Option<&'static str>,
}

/// An anomaly for review.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct AnomalyDto {
    /// Stable code (`double_hand_out`, ...).
    pub code: &'static str,
    /// English description.
    pub message: String,
    /// Arabic description.
    pub message_ar: String,
    /// The events involved.
    pub events: Vec<String>,
    /// Its stable id, to review it by (hex of `Anomaly::key`; empty for
    /// records set aside by sync, which are not reviewed here).
    pub id: String,
    /// The lead's review, once there is one.
    pub review: Option<crate::dayend::ReviewDto>,
}

/// A site's day.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct DayStatusDto {
    /// Site name.
    pub site: String,
    /// The day.
    pub date: String,
    /// Whether it is closed.
    pub closed: bool,
    /// The name the lead gave the day when opening it (`null`: this is not
    /// the site-day open there).
    pub opened: Option<String>,
    /// Per item.
    pub items: Vec<StockLineDto>,
    /// Anomalies touching this site and day.
    pub anomalies: Vec<AnomalyDto>,
}

/// A village of the registry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct VillageDto {
    /// Its name, as registered.
    pub name: String,
    /// Live (not erased) entries registered in it.
    pub count: u64,
}
