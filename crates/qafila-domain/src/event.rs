//! Events: the immutable facts Qafila is built from.
//!
//! Nothing is ever updated or deleted. A correction is a new event (a
//! [`EventBody::Void`] naming the one it cancels, a new count, a registry
//! correction), so every figure can be traced to who recorded what, where,
//! on which device and when. [`Event::validate`] checks the rules one event
//! must satisfy on its own; rules across events live in [`crate::fold`].

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use crate::hlc::Timestamp;
use crate::ids::{
    BeneficiaryId, CardSerial, DeviceId, EventId, HouseholdId, RoundId, SiteId, VolunteerId,
};
use crate::item::ItemCode;
use crate::nid::NidHash;
use crate::quantity::Quantity;

/// Longest reason or note accepted, in characters: enough for a sentence,
/// not a place to paste documents.
pub const MAX_REASON_CHARS: usize = 500;

/// Largest plausible household; anything bigger is a typing mistake.
pub const MAX_HOUSEHOLD_SIZE: u32 = 60;
/// The longest idle time a lead may allow before devices lock: a day.
pub const MAX_LOCK_MINUTES: u32 = 24 * 60;

/// One immutable fact.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Event {
    /// Unique id (UUIDv7).
    pub id: EventId,
    /// The device that recorded it (the only writer of its log).
    pub device: DeviceId,
    /// The volunteer signed in on that device.
    pub volunteer: VolunteerId,
    /// Hybrid logical time of recording.
    pub at: Timestamp,
    /// What happened.
    pub body: EventBody,
}

/// A medicine lot: which batch left the truck, and until when it is good.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Lot {
    /// The lot number printed on the pack.
    pub number: String,
    /// Last day the lot may be used.
    pub expiry: NaiveDate,
}

/// Personal data sealed with the beneficiary's own key before it leaves the
/// registry, so it can travel and be stored without being readable, and be
/// erased by destroying that key. Opaque to this crate.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SealedPersonalData(pub Vec<u8>);

impl fmt::Debug for SealedPersonalData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedPersonalData({} bytes)", self.0.len())
    }
}

/// A beneficiary checked in at a site (scanned card or manual search).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct CheckIn {
    /// Who came.
    pub beneficiary: BeneficiaryId,
    /// The household they collect for.
    pub household: HouseholdId,
    /// Where.
    pub site: SiteId,
    /// The local service day at that site.
    pub day: NaiveDate,
    /// The card scanned, if any (a manual search has none).
    pub card: Option<CardSerial>,
    /// Why the volunteer searched by hand instead of scanning.
    pub manual_reason: Option<String>,
}

/// Items handed to a beneficiary for their household.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct HandOut {
    /// Who received.
    pub beneficiary: BeneficiaryId,
    /// The household it counts against.
    pub household: HouseholdId,
    /// Where.
    pub site: SiteId,
    /// The local service day.
    pub day: NaiveDate,
    /// The round whose entitlement it draws on.
    pub round: RoundId,
    /// What.
    pub item: ItemCode,
    /// How much.
    pub qty: Quantity,
    /// Lot and expiry (required for medicine).
    pub lot: Option<Lot>,
    /// The card scanned, if any.
    pub card: Option<CardSerial>,
    /// Set when the volunteer knowingly went beyond the entitlement.
    pub override_reason: Option<String>,
}

macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident, $err:literal { $($(#[$vdoc:meta])* $variant:ident = $code:literal, $en:literal, $ar:literal;)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable code.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            /// English label.
            pub fn name_en(self) -> &'static str {
                match self { $($name::$variant => $en,)+ }
            }

            /// Arabic label.
            pub fn name_ar(self) -> &'static str {
                match self { $($name::$variant => $ar,)+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim().to_ascii_lowercase();
                Self::ALL.iter().copied().find(|v| v.code() == wanted).ok_or_else(|| UnknownCode {
                    kind: $err,
                    input: s.to_owned(),
                    known: Self::ALL.iter().map(|v| v.code()).collect::<Vec<_>>().join(", "),
                })
            }
        }
    };
}

/// A reason code that is not on the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{input}`: use one of {known}")]
pub struct UnknownCode {
    kind: &'static str,
    input: String,
    known: String,
}

impl UnknownCode {
    /// Stable code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        "unknown_reason_code"
    }
}

code_enum!(
    /// Why stock was lost or written off.
    LossReason, "loss reason" {
        /// Broken or soaked in transport.
        Damaged = "damaged", "Damaged", "تالف";
        /// Food gone bad.
        Spoiled = "spoiled", "Spoiled", "فاسد";
        /// Past its expiry date.
        Expired = "expired", "Expired", "منتهي الصلاحية";
        /// Taken without authorisation.
        Stolen = "stolen", "Stolen", "مسروق";
        /// Not found, cause unknown.
        Missing = "missing", "Missing", "مفقود";
        /// Anything else; a note is required.
        Other = "other", "Other", "سبب آخر";
    }
);

code_enum!(
    /// Why a physical count differs from the expected stock.
    VarianceReason, "variance reason" {
        /// The earlier count or a load was mis-typed.
        CountingError = "counting_error", "Counting error", "خطأ في العد";
        /// Found damaged at count time.
        Damaged = "damaged", "Damaged", "تالف";
        /// Found spoiled at count time.
        Spoiled = "spoiled", "Spoiled", "فاسد";
        /// Stolen.
        Theft = "theft", "Theft", "سرقة";
        /// Handed out without being recorded.
        UnrecordedHandOut = "unrecorded_hand_out", "Handed out but not recorded", "صرف بدون تسجيل";
        /// Delivered without a waybill entry.
        UnrecordedDelivery = "unrecorded_delivery", "Delivered but not recorded", "توريد بدون تسجيل";
        /// Anything else; a note is required.
        Other = "other", "Other", "سبب آخر";
    }
);

code_enum!(
    /// How the lead settled an anomaly.
    ReviewOutcome, "review outcome" {
        /// Looked into and explained (the note says how).
        Explained = "explained", "Explained", "اتوضّح";
        /// Accepted as a loss.
        Loss = "loss", "Written off as a loss", "اتحسب فاقد";
    }
);

code_enum!(
    /// Why a phone judged its own clock wrong.
    ClockDoubt, "clock doubt" {
        /// The convoy's relay showed a different time.
        RelaySaid = "relay_said", "The relay's clock differs", "ساعة الخادم مختلفة";
        /// The clock went back behind what the phone recorded before (a
        /// flat battery resets it).
        WentBack = "went_back", "The clock went backwards", "الساعة رجعت لورا";
        /// The clock reads a time before the convoy was created.
        BeforeConvoy = "before_convoy", "The clock is before the convoy began", "الساعة قبل بداية القافلة";
    }
);

/// The governorates of Egypt with the two-digit codes the national ID uses
/// (the HXL `#adm1+code` of exports).
pub const GOVERNORATES: &[(&str, &str, &str)] = &[
    ("01", "Cairo", "القاهرة"),
    ("02", "Alexandria", "الإسكندرية"),
    ("03", "Port Said", "بورسعيد"),
    ("04", "Suez", "السويس"),
    ("11", "Damietta", "دمياط"),
    ("12", "Dakahlia", "الدقهلية"),
    ("13", "Sharqia", "الشرقية"),
    ("14", "Qalyubia", "القليوبية"),
    ("15", "Kafr El Sheikh", "كفر الشيخ"),
    ("16", "Gharbia", "الغربية"),
    ("17", "Monufia", "المنوفية"),
    ("18", "Beheira", "البحيرة"),
    ("19", "Ismailia", "الإسماعيلية"),
    ("21", "Giza", "الجيزة"),
    ("22", "Beni Suef", "بني سويف"),
    ("23", "Faiyum", "الفيوم"),
    ("24", "Minya", "المنيا"),
    ("25", "Asyut", "أسيوط"),
    ("26", "Sohag", "سوهاج"),
    ("27", "Qena", "قنا"),
    ("28", "Aswan", "أسوان"),
    ("29", "Luxor", "الأقصر"),
    ("31", "Red Sea", "البحر الأحمر"),
    ("32", "New Valley", "الوادي الجديد"),
    ("33", "Matrouh", "مطروح"),
    ("34", "North Sinai", "شمال سيناء"),
    ("35", "South Sinai", "جنوب سيناء"),
];

/// The English and Arabic names of a governorate code.
pub fn governorate(code: &str) -> Option<(&'static str, &'static str)> {
    GOVERNORATES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, en, ar)| (*en, *ar))
}

/// What happened.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum EventBody {
    /// A beneficiary arrived and was identified.
    CheckIn(CheckIn),
    /// Items were handed over.
    HandOut(HandOut),
    /// An earlier event is cancelled (it stays in history).
    Void {
        /// The event cancelled.
        target: EventId,
        /// The device that recorded it. A void cancels its target only if
        /// this matches; a device's own voids name itself, and only the lead
        /// may void another device's record. `None` in voids recorded before
        /// voids named their target's device.
        target_device: Option<DeviceId>,
        /// Why.
        reason: String,
    },
    /// Stock arrived at a site (from a waybill).
    StockLoad {
        /// Where.
        site: SiteId,
        /// Which day.
        day: NaiveDate,
        /// What.
        item: ItemCode,
        /// How much.
        qty: Quantity,
        /// Lot and expiry (required for medicine).
        lot: Option<Lot>,
        /// Waybill number, if there was one.
        waybill: Option<String>,
    },
    /// Stock moved between two sites (or trucks) on the same day.
    StockTransfer {
        /// Where it left.
        from: SiteId,
        /// Where it arrived.
        to: SiteId,
        /// Which day.
        day: NaiveDate,
        /// What.
        item: ItemCode,
        /// How much.
        qty: Quantity,
        /// Lot and expiry (required for medicine).
        lot: Option<Lot>,
    },
    /// Stock sent back to the warehouse.
    StockReturn {
        /// From where.
        site: SiteId,
        /// Which day.
        day: NaiveDate,
        /// What.
        item: ItemCode,
        /// How much.
        qty: Quantity,
        /// Lot and expiry (required for medicine).
        lot: Option<Lot>,
    },
    /// Stock lost, damaged or written off.
    StockLoss {
        /// Where.
        site: SiteId,
        /// Which day.
        day: NaiveDate,
        /// What.
        item: ItemCode,
        /// How much.
        qty: Quantity,
        /// Lot and expiry (required for medicine).
        lot: Option<Lot>,
        /// Why.
        reason: LossReason,
        /// Details (required when the reason is `other`).
        note: Option<String>,
    },
    /// A physical count of what is left.
    StockCount {
        /// Where.
        site: SiteId,
        /// Which day.
        day: NaiveDate,
        /// What.
        item: ItemCode,
        /// What was counted (zero is a valid count).
        counted: Quantity,
        /// Why the count differs from the expected stock, if it does.
        reason: Option<VarianceReason>,
        /// Details (required when the reason is `other`).
        note: Option<String>,
    },
    /// The lead signs a site's day off. Only events this close covers count
    /// in the day's figures; anything later is flagged, never absorbed.
    DayClose {
        /// Where.
        site: SiteId,
        /// Which day.
        day: NaiveDate,
        /// For each device, the newest of its events the lead had when
        /// closing. Each device's log is append-only and synced in order, so
        /// this watermark says exactly which of its events were seen.
        covered: Vec<(DeviceId, Timestamp)>,
        /// Devices of the convoy the lead knew had not synced since the
        /// site's last known hand-out, and closed without.
        outstanding: Vec<DeviceId>,
        /// The lead device's signature over the closed figures (checked by
        /// the crate that holds the keys).
        signature: Vec<u8>,
    },
    /// A person was added to the registry.
    BeneficiaryRegistered {
        /// The person.
        beneficiary: BeneficiaryId,
        /// Their household.
        household: HouseholdId,
        /// People in the household, the person included.
        household_size: u32,
        /// Their village (a place name, not personal data).
        village: String,
        /// Keyed hash of the national ID, for duplicate matching.
        nid_hash: Option<NidHash>,
        /// Name, national ID and phone, sealed with the person's key.
        personal: SealedPersonalData,
    },
    /// A registry entry was corrected; absent fields are unchanged.
    BeneficiaryCorrected {
        /// The person.
        beneficiary: BeneficiaryId,
        /// Their household.
        household: HouseholdId,
        /// New household size.
        household_size: Option<u32>,
        /// New village.
        village: Option<String>,
        /// New national-ID hash.
        nid_hash: Option<NidHash>,
        /// New sealed personal data.
        personal: Option<SealedPersonalData>,
    },
    /// A person's personal data was erased: their key is destroyed, their
    /// pseudonymous history keeps counting.
    BeneficiaryErased {
        /// The person.
        beneficiary: BeneficiaryId,
        /// Why (a request, a legal duty...).
        reason: String,
    },
    /// A card was issued to a beneficiary.
    CardIssued {
        /// The new card.
        serial: CardSerial,
        /// Its holder.
        beneficiary: BeneficiaryId,
        /// The round it was issued in.
        round: RoundId,
    },
    /// A card was replaced by a new one; the old one is revoked.
    CardReissued {
        /// The card replaced (revoked from now on).
        old: CardSerial,
        /// The new card.
        new: CardSerial,
        /// Its holder.
        beneficiary: BeneficiaryId,
    },
    /// A card was revoked.
    CardRevoked {
        /// The card.
        serial: CardSerial,
        /// Why.
        reason: String,
    },
    /// An association's card-issuing key, announced by the registrar device
    /// that holds it, so every device of the convoy can verify its cards
    /// offline. Only the public half ever leaves that device.
    CardIssuerAdded {
        /// The key's short id, carried in every card it signs.
        key_id: u16,
        /// The Ed25519 public key.
        public: [u8; 32],
        /// The association the key issues cards for.
        association: String,
    },
    /// The lead stops trusting a card-issuing key (its secret was lost or
    /// leaked, or its device revoked): cards it signed are refused.
    CardIssuerWithdrawn {
        /// The key's short id.
        key_id: u16,
        /// Why.
        reason: String,
    },
    /// Two registry entries turned out to be one person: `merged` is retired
    /// into `kept`. A registrar decides this; nothing merges automatically.
    BeneficiaryMerged {
        /// The entry that stays.
        kept: BeneficiaryId,
        /// The duplicate, retired: it leaves the registrar's queue, its
        /// cards and id stand for `kept`, and what its household received
        /// counts for `kept`'s household.
        merged: BeneficiaryId,
        /// Why the registrar judged them one person.
        reason: String,
    },
    /// The lead reviewed an anomaly. Nothing is deleted: the anomaly stays
    /// listed, with this review beside it.
    AnomalyReviewed {
        /// The anomaly's key ([`crate::anomaly::Anomaly::key`]).
        anomaly: [u8; 16],
        /// Explained, or written off as a loss.
        outcome: ReviewOutcome,
        /// The lead's note (required to explain).
        note: String,
    },
    /// A phone found its own clock wrong and records with its best time
    /// instead: noted once per episode, so the lead sees the phone and the
    /// size of the error once, not on every record.
    ClockNoted {
        /// What the phone's own clock read (ms since the Unix epoch).
        phone_ms: u64,
        /// The time it recorded with instead.
        best_ms: u64,
        /// How it knew.
        doubt: ClockDoubt,
    },
    /// The lead opens a site's day ("دير مواس — day 2"): until it is
    /// closed, devices that know of it file that site's records on it,
    /// whatever their clocks say, even past the day's end hour.
    SiteDayOpened {
        /// The site.
        site: SiteId,
        /// The day records are filed on.
        day: NaiveDate,
        /// What the convoy calls it (may be empty).
        label: String,
    },
    /// Where a site is and who runs it, for reports and exports.
    SiteDescribed {
        /// The site.
        site: SiteId,
        /// Governorate code ([`GOVERNORATES`]).
        governorate: String,
        /// District (markaz).
        district: String,
        /// The association running the distribution there.
        association: String,
    },
    /// A device joined the convoy.
    DeviceEnrolled {
        /// The device.
        device: DeviceId,
        /// A name people recognise ("Mona's phone").
        name: String,
    },
    /// A device was revoked (lost, stolen, misused).
    DeviceRevoked {
        /// The device.
        device: DeviceId,
        /// Why.
        reason: String,
    },
    /// The lead's limit on how long any device of the convoy may sit
    /// unlocked and unused: each locks after this many minutes, or sooner
    /// if its own setting says so. The newest the lead recorded holds.
    LockPolicy {
        /// Idle minutes, 1 to [`MAX_LOCK_MINUTES`].
        minutes: u32,
    },
    /// The lead's keys were restored from a backup on another laptop,
    /// which carries on the lead's log from here: the hand-over, in the log
    /// every device takes from the lead.
    LeadRestored {
        /// When the backup was taken (its device's clock).
        backup_made_ms: u64,
        /// The last record of the lead's log the relay gave back; anything
        /// the old laptop made after it and never synced is lost with it.
        after_record: u64,
    },
}

/// Why an event is not valid on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    /// Moving or handing out nothing.
    #[error("the quantity of {item} must be greater than zero")]
    ZeroQuantity {
        /// The item.
        item: ItemCode,
    },
    /// Half a box.
    #[error("{item} is counted in whole units; {qty} is not a whole number")]
    FractionalQuantity {
        /// The item.
        item: ItemCode,
        /// The amount given.
        qty: Quantity,
    },
    /// Medicine without a lot.
    #[error("{item} needs a lot number and an expiry date")]
    LotRequired {
        /// The item.
        item: ItemCode,
    },
    /// A lot with an empty number.
    #[error("the lot number is empty; copy it from the pack")]
    EmptyLotNumber,
    /// Stock movement of a service.
    #[error("{item} is a service and has no stock to load, move or count")]
    ServiceHasNoStock {
        /// The item.
        item: ItemCode,
    },
    /// A reason or note that is required but empty.
    #[error("a reason is required for {what}")]
    ReasonRequired {
        /// What needed one.
        what: &'static str,
    },
    /// A reason or note over [`MAX_REASON_CHARS`].
    #[error("the text for {what} is too long (at most {MAX_REASON_CHARS} characters)")]
    TextTooLong {
        /// Which text.
        what: &'static str,
    },
    /// A transfer from a site to itself.
    #[error("a transfer needs two different sites")]
    SameSite,
    /// A household of 0 or implausibly many people.
    #[error("household size {0} is not plausible: enter between 1 and {MAX_HOUSEHOLD_SIZE}")]
    HouseholdSize(u32),
    /// A registration without a village.
    #[error("the village is required")]
    VillageRequired,
    /// A reissue that keeps the same serial (that is a reprint).
    #[error("a reissued card needs a new serial; to print the same card again, reprint it")]
    SameSerial,
    /// A merge of an entry into itself.
    #[error("a person cannot be merged into themselves: pick two different entries")]
    SelfMerge,
    /// A governorate code that is not on the list.
    #[error(
        "unknown governorate code `{0}`: use the two-digit code of the national ID (01 Cairo, 21 Giza, 24 Minya, ...)"
    )]
    UnknownGovernorate(String),
    /// An idle limit of no time, or of more than a day.
    #[error("devices can be told to lock after 1 to {MAX_LOCK_MINUTES} idle minutes, not {0}")]
    LockMinutes(u32),
}

impl InvalidEvent {
    /// Stable code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            InvalidEvent::ZeroQuantity { .. } => "zero_quantity",
            InvalidEvent::FractionalQuantity { .. } => "fractional_quantity",
            InvalidEvent::LotRequired { .. } => "lot_required",
            InvalidEvent::EmptyLotNumber => "empty_lot_number",
            InvalidEvent::ServiceHasNoStock { .. } => "service_has_no_stock",
            InvalidEvent::ReasonRequired { .. } => "reason_required",
            InvalidEvent::TextTooLong { .. } => "text_too_long",
            InvalidEvent::SameSite => "same_site",
            InvalidEvent::HouseholdSize(_) => "household_size",
            InvalidEvent::VillageRequired => "village_required",
            InvalidEvent::SameSerial => "same_serial",
            InvalidEvent::SelfMerge => "self_merge",
            InvalidEvent::UnknownGovernorate(_) => "unknown_governorate",
            InvalidEvent::LockMinutes(_) => "lock_minutes",
        }
    }
}

fn required_text(text: &str, what: &'static str) -> Result<(), InvalidEvent> {
    if text.trim().is_empty() {
        return Err(InvalidEvent::ReasonRequired { what });
    }
    optional_text(Some(text), what)
}

fn optional_text(text: Option<&str>, what: &'static str) -> Result<(), InvalidEvent> {
    match text {
        Some(t) if t.chars().count() > MAX_REASON_CHARS => Err(InvalidEvent::TextTooLong { what }),
        _ => Ok(()),
    }
}

/// A movement of `qty` of `item`: positive, whole unless weighed, with a lot
/// when the item needs one.
fn movement(item: ItemCode, qty: Quantity, lot: Option<&Lot>) -> Result<(), InvalidEvent> {
    if qty.is_zero() {
        return Err(InvalidEvent::ZeroQuantity { item });
    }
    amount(item, qty)?;
    lot_rules(item, lot)
}

fn amount(item: ItemCode, qty: Quantity) -> Result<(), InvalidEvent> {
    if item.accepts(qty) {
        Ok(())
    } else {
        Err(InvalidEvent::FractionalQuantity { item, qty })
    }
}

fn lot_rules(item: ItemCode, lot: Option<&Lot>) -> Result<(), InvalidEvent> {
    match lot {
        None if item.needs_lot() => Err(InvalidEvent::LotRequired { item }),
        Some(lot) if lot.number.trim().is_empty() => Err(InvalidEvent::EmptyLotNumber),
        Some(lot) => optional_text(Some(&lot.number), "the lot number"),
        None => Ok(()),
    }
}

fn stocked(item: ItemCode) -> Result<(), InvalidEvent> {
    if item.is_stocked() {
        Ok(())
    } else {
        Err(InvalidEvent::ServiceHasNoStock { item })
    }
}

fn household_size(size: u32) -> Result<(), InvalidEvent> {
    if (1..=MAX_HOUSEHOLD_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(InvalidEvent::HouseholdSize(size))
    }
}

fn note_for_other(
    is_other: bool,
    note: Option<&str>,
    what: &'static str,
) -> Result<(), InvalidEvent> {
    match note {
        Some(n) => {
            if is_other {
                required_text(n, what)
            } else {
                optional_text(Some(n), what)
            }
        }
        None if is_other => Err(InvalidEvent::ReasonRequired { what }),
        None => Ok(()),
    }
}

impl Event {
    /// Checks the rules this event must satisfy on its own. Rules that need
    /// other events (entitlements, variances, closed days) are not refusals
    /// here: a device that was offline cannot know them, so the fold reports
    /// them as anomalies instead.
    pub fn validate(&self) -> Result<(), InvalidEvent> {
        match &self.body {
            EventBody::CheckIn(c) => optional_text(c.manual_reason.as_deref(), "a manual search"),
            EventBody::HandOut(h) => {
                movement(h.item, h.qty, h.lot.as_ref())?;
                match &h.override_reason {
                    Some(r) => required_text(r, "going beyond the entitlement"),
                    None => Ok(()),
                }
            }
            EventBody::Void { reason, .. } => required_text(reason, "a correction"),
            EventBody::StockLoad {
                item,
                qty,
                lot,
                waybill,
                ..
            } => {
                stocked(*item)?;
                movement(*item, *qty, lot.as_ref())?;
                optional_text(waybill.as_deref(), "the waybill number")
            }
            EventBody::StockTransfer {
                from,
                to,
                item,
                qty,
                lot,
                ..
            } => {
                stocked(*item)?;
                if from == to {
                    return Err(InvalidEvent::SameSite);
                }
                movement(*item, *qty, lot.as_ref())
            }
            EventBody::StockReturn { item, qty, lot, .. } => {
                stocked(*item)?;
                movement(*item, *qty, lot.as_ref())
            }
            EventBody::StockLoss {
                item,
                qty,
                lot,
                reason,
                note,
                ..
            } => {
                stocked(*item)?;
                movement(*item, *qty, lot.as_ref())?;
                note_for_other(*reason == LossReason::Other, note.as_deref(), "a loss")
            }
            EventBody::StockCount {
                item,
                counted,
                reason,
                note,
                ..
            } => {
                stocked(*item)?;
                amount(*item, *counted)?;
                note_for_other(
                    *reason == Some(VarianceReason::Other),
                    note.as_deref(),
                    "a count variance",
                )
            }
            EventBody::DayClose { .. } => Ok(()),
            EventBody::BeneficiaryRegistered {
                household_size: size,
                village,
                ..
            } => {
                household_size(*size)?;
                if village.trim().is_empty() {
                    return Err(InvalidEvent::VillageRequired);
                }
                optional_text(Some(village), "the village")
            }
            EventBody::BeneficiaryCorrected {
                household_size: size,
                village,
                ..
            } => {
                if let Some(size) = size {
                    household_size(*size)?;
                }
                match village {
                    Some(v) if v.trim().is_empty() => Err(InvalidEvent::VillageRequired),
                    v => optional_text(v.as_deref(), "the village"),
                }
            }
            EventBody::BeneficiaryErased { reason, .. } => {
                required_text(reason, "erasing a person")
            }
            EventBody::CardIssued { .. } => Ok(()),
            EventBody::CardReissued { old, new, .. } => {
                if old == new {
                    Err(InvalidEvent::SameSerial)
                } else {
                    Ok(())
                }
            }
            EventBody::CardRevoked { reason, .. } => required_text(reason, "revoking a card"),
            EventBody::CardIssuerAdded { association, .. } => {
                required_text(association, "the association's name")
            }
            EventBody::BeneficiaryMerged {
                kept,
                merged,
                reason,
            } => {
                if kept == merged {
                    return Err(InvalidEvent::SelfMerge);
                }
                required_text(reason, "merging two entries")
            }
            EventBody::AnomalyReviewed { outcome, note, .. } => match outcome {
                ReviewOutcome::Explained => required_text(note, "explaining an anomaly"),
                ReviewOutcome::Loss => optional_text(Some(note), "the review note"),
            },
            EventBody::SiteDescribed {
                governorate: code,
                district,
                association,
                ..
            } => {
                if governorate(code).is_none() {
                    return Err(InvalidEvent::UnknownGovernorate(code.clone()));
                }
                optional_text(Some(district), "the district")?;
                required_text(association, "the association's name")
            }
            EventBody::ClockNoted { .. } => Ok(()),
            EventBody::SiteDayOpened { label, .. } => {
                optional_text(Some(label.as_str()), "the day's name")
            }
            EventBody::DeviceEnrolled { name, .. } => required_text(name, "the device name"),
            EventBody::DeviceRevoked { reason, .. } => required_text(reason, "revoking a device"),
            EventBody::LeadRestored { .. } => Ok(()),
            EventBody::LockPolicy { minutes } => {
                if (1..=MAX_LOCK_MINUTES).contains(minutes) {
                    Ok(())
                } else {
                    Err(InvalidEvent::LockMinutes(*minutes))
                }
            }
            EventBody::CardIssuerWithdrawn { reason, .. } => {
                required_text(reason, "withdrawing a card issuer")
            }
        }
    }

    /// Whether `void` cancels this event: it is a void naming this event
    /// and, when it names a device (every void recorded since roles exist
    /// does), this event's device.
    pub fn is_cancelled_by(&self, void: &Event) -> bool {
        match &void.body {
            EventBody::Void {
                target,
                target_device,
                ..
            } => *target == self.id && target_device.is_none_or(|d| d == self.device),
            _ => false,
        }
    }

    /// The site-days whose stock figures this event changes (a transfer
    /// changes two). Voids change their target's site-days, which only the
    /// fold can resolve.
    pub fn stock_site_days(&self) -> Vec<(SiteId, NaiveDate)> {
        match &self.body {
            EventBody::HandOut(h) if h.item.is_stocked() => vec![(h.site, h.day)],
            EventBody::StockLoad { site, day, .. }
            | EventBody::StockReturn { site, day, .. }
            | EventBody::StockLoss { site, day, .. }
            | EventBody::StockCount { site, day, .. } => vec![(*site, *day)],
            EventBody::StockTransfer { from, to, day, .. } => vec![(*from, *day), (*to, *day)],
            _ => Vec::new(),
        }
    }

    /// Whether a [`EventBody::Void`] may cancel this kind of event. Registry,
    /// card, device and day-close events are corrected by their own kinds.
    pub fn is_voidable(&self) -> bool {
        matches!(
            self.body,
            EventBody::CheckIn(_)
                | EventBody::HandOut(_)
                | EventBody::StockLoad { .. }
                | EventBody::StockTransfer { .. }
                | EventBody::StockReturn { .. }
                | EventBody::StockLoss { .. }
                | EventBody::StockCount { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(n: u8) -> SiteId {
        SiteId::from_parts(1, [n; 10])
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    fn event(body: EventBody) -> Event {
        Event {
            id: EventId::from_parts(1, [1; 10]),
            device: DeviceId::from_parts(1, [2; 10]),
            volunteer: VolunteerId::from_parts(1, [3; 10]),
            at: Timestamp::new(1, 0),
            body,
        }
    }

    fn hand_out(
        item: ItemCode,
        qty: Quantity,
        lot: Option<Lot>,
        override_reason: Option<&str>,
    ) -> EventBody {
        EventBody::HandOut(HandOut {
            beneficiary: BeneficiaryId::from_parts(1, [4; 10]),
            household: HouseholdId::from_parts(1, [5; 10]),
            site: site(0),
            day: day(),
            round: RoundId::from_parts(1, [6; 10]),
            item,
            qty,
            lot,
            card: None,
            override_reason: override_reason.map(str::to_owned),
        })
    }

    fn lot(number: &str) -> Option<Lot> {
        Some(Lot {
            number: number.into(),
            expiry: day(),
        })
    }

    fn load(item: ItemCode, qty: Quantity) -> EventBody {
        EventBody::StockLoad {
            site: site(0),
            day: day(),
            item,
            qty,
            lot: None,
            waybill: None,
        }
    }

    fn check(body: EventBody, expect: Result<(), &str>) {
        let got = event(body.clone()).validate().map_err(|e| e.code());
        assert_eq!(got, expect, "{body:?}");
    }

    #[test]
    fn validation_rules() {
        let one = Quantity::units(1);
        let half = Quantity::from_milli(500);
        check(hand_out(ItemCode::FoodBox, one, None, None), Ok(()));
        check(
            hand_out(ItemCode::FoodBox, Quantity::ZERO, None, None),
            Err("zero_quantity"),
        );
        check(
            hand_out(ItemCode::FoodBox, half, None, None),
            Err("fractional_quantity"),
        );
        check(hand_out(ItemCode::MeatKg, half, None, None), Ok(()));
        check(
            hand_out(ItemCode::Medicine, one, None, None),
            Err("lot_required"),
        );
        check(
            hand_out(ItemCode::Medicine, one, lot("  "), None),
            Err("empty_lot_number"),
        );
        check(
            hand_out(ItemCode::Medicine, one, lot("L-2291"), None),
            Ok(()),
        );
        check(hand_out(ItemCode::Checkup, one, None, None), Ok(()));
        check(
            hand_out(ItemCode::FoodBox, one, None, Some(" ")),
            Err("reason_required"),
        );
        check(
            hand_out(ItemCode::FoodBox, one, None, Some("أسرة نازحة")),
            Ok(()),
        );
        check(
            hand_out(ItemCode::FoodBox, one, None, Some(&"x".repeat(501))),
            Err("text_too_long"),
        );
        check(load(ItemCode::Blanket, Quantity::units(200)), Ok(()));
        check(load(ItemCode::Checkup, one), Err("service_has_no_stock"));
        check(load(ItemCode::Medicine, one), Err("lot_required"));
        check(
            EventBody::Void {
                target: EventId::from_parts(0, [0; 10]),
                target_device: None,
                reason: String::new(),
            },
            Err("reason_required"),
        );
        check(
            EventBody::StockTransfer {
                from: site(0),
                to: site(0),
                day: day(),
                item: ItemCode::FoodBox,
                qty: one,
                lot: None,
            },
            Err("same_site"),
        );
        check(
            EventBody::StockTransfer {
                from: site(0),
                to: site(1),
                day: day(),
                item: ItemCode::FoodBox,
                qty: one,
                lot: None,
            },
            Ok(()),
        );
        let loss = |reason, note: Option<&str>| EventBody::StockLoss {
            site: site(0),
            day: day(),
            item: ItemCode::FoodBox,
            qty: one,
            lot: None,
            reason,
            note: note.map(str::to_owned),
        };
        check(loss(LossReason::Damaged, None), Ok(()));
        check(loss(LossReason::Other, None), Err("reason_required"));
        check(loss(LossReason::Other, Some("وقعت من العربية")), Ok(()));
        let count = |counted, reason, note: Option<&str>| EventBody::StockCount {
            site: site(0),
            day: day(),
            item: ItemCode::FoodBox,
            counted,
            reason,
            note: note.map(str::to_owned),
        };
        check(count(Quantity::ZERO, None, None), Ok(()));
        check(count(half, None, None), Err("fractional_quantity"));
        check(
            count(one, Some(VarianceReason::Other), None),
            Err("reason_required"),
        );
        check(count(one, Some(VarianceReason::Theft), None), Ok(()));
        let register = |size, village: &str| EventBody::BeneficiaryRegistered {
            beneficiary: BeneficiaryId::from_parts(1, [4; 10]),
            household: HouseholdId::from_parts(1, [5; 10]),
            household_size: size,
            village: village.into(),
            nid_hash: None,
            personal: SealedPersonalData(vec![1, 2, 3]),
        };
        check(register(6, "ميت غمر"), Ok(()));
        check(register(0, "ميت غمر"), Err("household_size"));
        check(register(61, "ميت غمر"), Err("household_size"));
        check(register(3, " "), Err("village_required"));
        let serial = CardSerial::new(7);
        check(
            EventBody::CardReissued {
                old: serial,
                new: serial,
                beneficiary: BeneficiaryId::from_parts(1, [4; 10]),
            },
            Err("same_serial"),
        );
        check(
            EventBody::CardRevoked {
                serial,
                reason: "مفقودة".into(),
            },
            Ok(()),
        );
        check(
            EventBody::DeviceRevoked {
                device: DeviceId::from_parts(1, [9; 10]),
                reason: "".into(),
            },
            Err("reason_required"),
        );
    }

    #[test]
    fn reason_codes_parse_and_name_the_choices() {
        assert_eq!(
            "damaged".parse::<LossReason>().unwrap(),
            LossReason::Damaged
        );
        assert_eq!(
            "UNRECORDED_HAND_OUT".parse::<VarianceReason>().unwrap(),
            VarianceReason::UnrecordedHandOut
        );
        let err = "lost".parse::<LossReason>().unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        for r in VarianceReason::ALL {
            assert!(!r.name_ar().is_empty() && !r.name_en().is_empty());
        }
    }

    #[test]
    fn stock_site_days_cover_both_ends_of_a_transfer() {
        let e = event(EventBody::StockTransfer {
            from: site(0),
            to: site(1),
            day: day(),
            item: ItemCode::Blanket,
            qty: Quantity::units(3),
            lot: None,
        });
        assert_eq!(
            e.stock_site_days(),
            vec![(site(0), day()), (site(1), day())]
        );
        assert!(
            event(hand_out(ItemCode::Checkup, Quantity::units(1), None, None))
                .stock_site_days()
                .is_empty()
        );
    }
}
