//! A compact, versioned binary encoding of [`Event`]s.
//!
//! Each event is stored as one Automerge value (bytes) under its id, so the
//! encoding is what actually travels and rests. It is hand-written rather than
//! derived because the domain types carry no serde, because it must be small
//! (field tags would double it), and because decoding is on the path of
//! untrusted input: every length is checked against what is left, nothing is
//! allocated ahead of the bytes that justify it, and no input panics.
//!
//! Layout: a version byte, then id, device, volunteer (16 bytes each), the
//! packed HLC as a varint, a body tag byte and the body's fields in order.
//! Integers are LEB128 varints; strings and byte strings are length-prefixed;
//! dates are days since 0001-01-01; options are a 0/1 byte then the value.

use chrono::{Datelike, NaiveDate};
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

/// The encoding's version; bump it and keep decoding the old one when the
/// layout changes.
pub const CODEC_VERSION: u8 = 1;

/// Why bytes are not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end mid-field.
    #[error("the record is cut short")]
    Truncated,
    /// An encoding version this build does not know.
    #[error("record encoding version {0} is not supported; update Qafila")]
    Version(u8),
    /// An unknown event kind.
    #[error("unknown event kind {0}; update Qafila")]
    Tag(u8),
    /// A value out of range for its field.
    #[error("invalid {0} in the record")]
    Invalid(&'static str),
    /// Bytes left over after the event.
    #[error("unexpected bytes after the record")]
    Trailing,
}

/// Encodes an event.
pub fn encode(event: &Event) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(96));
    w.u8(CODEC_VERSION);
    w.raw(&event.id.to_bytes());
    w.raw(&event.device.to_bytes());
    w.raw(&event.volunteer.to_bytes());
    w.varint(event.at.to_u64());
    body(&mut w, &event.body);
    w.0
}

/// Decodes an event, refusing anything malformed.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let mut r = Reader(bytes);
    let version = r.u8()?;
    if version != CODEC_VERSION {
        return Err(DecodeError::Version(version));
    }
    let event = Event {
        id: EventId::from_bytes(r.array()?),
        device: DeviceId::from_bytes(r.array()?),
        volunteer: VolunteerId::from_bytes(r.array()?),
        at: Timestamp::from_u64(r.varint()?),
        body: read_body(&mut r)?,
    };
    if r.0.is_empty() {
        Ok(event)
    } else {
        Err(DecodeError::Trailing)
    }
}

mod tag {
    pub const CHECK_IN: u8 = 1;
    pub const HAND_OUT: u8 = 2;
    pub const VOID: u8 = 3;
    pub const STOCK_LOAD: u8 = 4;
    pub const STOCK_TRANSFER: u8 = 5;
    pub const STOCK_RETURN: u8 = 6;
    pub const STOCK_LOSS: u8 = 7;
    pub const STOCK_COUNT: u8 = 8;
    pub const DAY_CLOSE: u8 = 9;
    pub const REGISTERED: u8 = 10;
    pub const CORRECTED: u8 = 11;
    pub const ERASED: u8 = 12;
    pub const CARD_ISSUED: u8 = 13;
    pub const CARD_REISSUED: u8 = 14;
    pub const CARD_REVOKED: u8 = 15;
    pub const DEVICE_ENROLLED: u8 = 16;
    pub const DEVICE_REVOKED: u8 = 17;
    pub const CARD_ISSUER_ADDED: u8 = 18;
    pub const MERGED: u8 = 19;
    pub const ANOMALY_REVIEWED: u8 = 20;
    pub const SITE_DESCRIBED: u8 = 21;
    /// A void naming its target's device (`VOID` is a void from before).
    pub const VOID_OF: u8 = 22;
    pub const CARD_ISSUER_WITHDRAWN: u8 = 23;
    pub const CLOCK_NOTED: u8 = 24;
    pub const SITE_DAY_OPENED: u8 = 25;
    pub const LOCK_POLICY: u8 = 26;
    pub const LEAD_RESTORED: u8 = 27;
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.raw(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        self.option(s, Writer::str);
    }
    fn option<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Self, T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                f(self, v);
            }
        }
    }
    fn date(&mut self, d: NaiveDate) {
        // Days since 0001-01-01 are positive for every date we accept.
        self.varint(u64::try_from(d.num_days_from_ce()).unwrap_or(0));
    }
    fn qty(&mut self, q: Quantity) {
        self.varint(q.milli());
    }
    fn item(&mut self, item: ItemCode) {
        let index = ItemCode::ALL.iter().position(|i| *i == item).unwrap_or(0);
        self.u8(index as u8);
    }
    fn lot(&mut self, lot: Option<&Lot>) {
        self.option(lot, |w, lot| {
            w.str(&lot.number);
            w.date(lot.expiry);
        });
    }
    fn card(&mut self, card: Option<CardSerial>) {
        self.option(card, |w, c| w.varint(c.get()));
    }
    fn site(&mut self, s: SiteId) {
        self.raw(&s.to_bytes());
    }
}

fn body(w: &mut Writer, body: &EventBody) {
    match body {
        EventBody::CheckIn(c) => {
            w.u8(tag::CHECK_IN);
            w.raw(&c.beneficiary.to_bytes());
            w.raw(&c.household.to_bytes());
            w.site(c.site);
            w.date(c.day);
            w.card(c.card);
            w.opt_str(c.manual_reason.as_deref());
        }
        EventBody::HandOut(h) => {
            w.u8(tag::HAND_OUT);
            w.raw(&h.beneficiary.to_bytes());
            w.raw(&h.household.to_bytes());
            w.site(h.site);
            w.date(h.day);
            w.raw(&h.round.to_bytes());
            w.item(h.item);
            w.qty(h.qty);
            w.lot(h.lot.as_ref());
            w.card(h.card);
            w.opt_str(h.override_reason.as_deref());
        }
        EventBody::Void {
            target,
            target_device: None,
            reason,
        } => {
            w.u8(tag::VOID);
            w.raw(&target.to_bytes());
            w.str(reason);
        }
        EventBody::Void {
            target,
            target_device: Some(device),
            reason,
        } => {
            w.u8(tag::VOID_OF);
            w.raw(&target.to_bytes());
            w.raw(&device.to_bytes());
            w.str(reason);
        }
        EventBody::CardIssuerWithdrawn { key_id, reason } => {
            w.u8(tag::CARD_ISSUER_WITHDRAWN);
            w.varint(u64::from(*key_id));
            w.str(reason);
        }
        EventBody::ClockNoted {
            phone_ms,
            best_ms,
            doubt,
        } => {
            w.u8(tag::CLOCK_NOTED);
            w.varint(*phone_ms);
            w.varint(*best_ms);
            w.u8(code_index(ClockDoubt::ALL, *doubt));
        }
        EventBody::SiteDayOpened { site, day, label } => {
            w.u8(tag::SITE_DAY_OPENED);
            w.site(*site);
            w.date(*day);
            w.str(label);
        }
        EventBody::StockLoad {
            site,
            day,
            item,
            qty,
            lot,
            waybill,
        } => {
            w.u8(tag::STOCK_LOAD);
            w.site(*site);
            w.date(*day);
            w.item(*item);
            w.qty(*qty);
            w.lot(lot.as_ref());
            w.opt_str(waybill.as_deref());
        }
        EventBody::StockTransfer {
            from,
            to,
            day,
            item,
            qty,
            lot,
        } => {
            w.u8(tag::STOCK_TRANSFER);
            w.site(*from);
            w.site(*to);
            w.date(*day);
            w.item(*item);
            w.qty(*qty);
            w.lot(lot.as_ref());
        }
        EventBody::StockReturn {
            site,
            day,
            item,
            qty,
            lot,
        } => {
            w.u8(tag::STOCK_RETURN);
            w.site(*site);
            w.date(*day);
            w.item(*item);
            w.qty(*qty);
            w.lot(lot.as_ref());
        }
        EventBody::StockLoss {
            site,
            day,
            item,
            qty,
            lot,
            reason,
            note,
        } => {
            w.u8(tag::STOCK_LOSS);
            w.site(*site);
            w.date(*day);
            w.item(*item);
            w.qty(*qty);
            w.lot(lot.as_ref());
            w.u8(code_index(LossReason::ALL, *reason));
            w.opt_str(note.as_deref());
        }
        EventBody::StockCount {
            site,
            day,
            item,
            counted,
            reason,
            note,
        } => {
            w.u8(tag::STOCK_COUNT);
            w.site(*site);
            w.date(*day);
            w.item(*item);
            w.qty(*counted);
            w.option(*reason, |w, r| w.u8(code_index(VarianceReason::ALL, r)));
            w.opt_str(note.as_deref());
        }
        EventBody::DayClose {
            site,
            day,
            covered,
            outstanding,
            signature,
        } => {
            w.u8(tag::DAY_CLOSE);
            w.site(*site);
            w.date(*day);
            w.varint(covered.len() as u64);
            for (device, at) in covered {
                w.raw(&device.to_bytes());
                w.varint(at.to_u64());
            }
            w.varint(outstanding.len() as u64);
            for device in outstanding {
                w.raw(&device.to_bytes());
            }
            w.bytes(signature);
        }
        EventBody::BeneficiaryRegistered {
            beneficiary,
            household,
            household_size,
            village,
            nid_hash,
            personal,
        } => {
            w.u8(tag::REGISTERED);
            w.raw(&beneficiary.to_bytes());
            w.raw(&household.to_bytes());
            w.varint(u64::from(*household_size));
            w.str(village);
            w.option(nid_hash.as_ref(), |w, h| w.raw(h.as_bytes()));
            w.bytes(&personal.0);
        }
        EventBody::BeneficiaryCorrected {
            beneficiary,
            household,
            household_size,
            village,
            nid_hash,
            personal,
        } => {
            w.u8(tag::CORRECTED);
            w.raw(&beneficiary.to_bytes());
            w.raw(&household.to_bytes());
            w.option(*household_size, |w, s| w.varint(u64::from(s)));
            w.opt_str(village.as_deref());
            w.option(nid_hash.as_ref(), |w, h| w.raw(h.as_bytes()));
            w.option(personal.as_ref(), |w, p| w.bytes(&p.0));
        }
        EventBody::BeneficiaryErased {
            beneficiary,
            reason,
        } => {
            w.u8(tag::ERASED);
            w.raw(&beneficiary.to_bytes());
            w.str(reason);
        }
        EventBody::CardIssued {
            serial,
            beneficiary,
            round,
        } => {
            w.u8(tag::CARD_ISSUED);
            w.varint(serial.get());
            w.raw(&beneficiary.to_bytes());
            w.raw(&round.to_bytes());
        }
        EventBody::CardReissued {
            old,
            new,
            beneficiary,
        } => {
            w.u8(tag::CARD_REISSUED);
            w.varint(old.get());
            w.varint(new.get());
            w.raw(&beneficiary.to_bytes());
        }
        EventBody::CardRevoked { serial, reason } => {
            w.u8(tag::CARD_REVOKED);
            w.varint(serial.get());
            w.str(reason);
        }
        EventBody::CardIssuerAdded {
            key_id,
            public,
            association,
        } => {
            w.u8(tag::CARD_ISSUER_ADDED);
            w.varint(u64::from(*key_id));
            w.raw(public);
            w.str(association);
        }
        EventBody::BeneficiaryMerged {
            kept,
            merged,
            reason,
        } => {
            w.u8(tag::MERGED);
            w.raw(&kept.to_bytes());
            w.raw(&merged.to_bytes());
            w.str(reason);
        }
        EventBody::AnomalyReviewed {
            anomaly,
            outcome,
            note,
        } => {
            w.u8(tag::ANOMALY_REVIEWED);
            w.raw(anomaly);
            w.u8(code_index(ReviewOutcome::ALL, *outcome));
            w.str(note);
        }
        EventBody::SiteDescribed {
            site,
            governorate,
            district,
            association,
        } => {
            w.u8(tag::SITE_DESCRIBED);
            w.raw(&site.to_bytes());
            w.str(governorate);
            w.str(district);
            w.str(association);
        }
        EventBody::DeviceEnrolled { device, name } => {
            w.u8(tag::DEVICE_ENROLLED);
            w.raw(&device.to_bytes());
            w.str(name);
        }
        EventBody::DeviceRevoked { device, reason } => {
            w.u8(tag::DEVICE_REVOKED);
            w.raw(&device.to_bytes());
            w.str(reason);
        }
        EventBody::LockPolicy { minutes } => {
            w.u8(tag::LOCK_POLICY);
            w.varint(u64::from(*minutes));
        }
        EventBody::LeadRestored {
            backup_made_ms,
            after_record,
        } => {
            w.u8(tag::LEAD_RESTORED);
            w.varint(*backup_made_ms);
            w.varint(*after_record);
        }
    }
}

fn code_index<T: PartialEq + Copy>(all: &[T], value: T) -> u8 {
    all.iter().position(|v| *v == value).unwrap_or(0) as u8
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self.0.split_first().ok_or(DecodeError::Truncated)?;
        self.0 = rest;
        Ok(first)
    }
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError::Invalid("number"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Invalid("number"))
    }
    fn len(&mut self) -> Result<usize, DecodeError> {
        let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
        // A length can never exceed what is left: refuse before allocating.
        if len > self.0.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(len)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.len()?;
        Ok(self.take(len)?.to_vec())
    }
    fn string(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes()?).map_err(|_| DecodeError::Invalid("text"))
    }
    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid("option")),
        }
    }
    fn option<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.flag()? {
            f(self).map(Some)
        } else {
            Ok(None)
        }
    }
    fn opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        self.option(Reader::string)
    }
    fn date(&mut self) -> Result<NaiveDate, DecodeError> {
        i32::try_from(self.varint()?)
            .ok()
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .ok_or(DecodeError::Invalid("date"))
    }
    fn qty(&mut self) -> Result<Quantity, DecodeError> {
        self.varint().map(Quantity::from_milli)
    }
    fn item(&mut self) -> Result<ItemCode, DecodeError> {
        ItemCode::ALL
            .get(usize::from(self.u8()?))
            .copied()
            .ok_or(DecodeError::Invalid("item"))
    }
    fn lot(&mut self) -> Result<Option<Lot>, DecodeError> {
        self.option(|r| {
            Ok(Lot {
                number: r.string()?,
                expiry: r.date()?,
            })
        })
    }
    fn card(&mut self) -> Result<Option<CardSerial>, DecodeError> {
        self.option(|r| r.varint().map(CardSerial::new))
    }
    fn site(&mut self) -> Result<SiteId, DecodeError> {
        self.array().map(SiteId::from_bytes)
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        u32::try_from(self.varint()?).map_err(|_| DecodeError::Invalid(what))
    }
    fn code<T: Copy>(&mut self, all: &[T], what: &'static str) -> Result<T, DecodeError> {
        all.get(usize::from(self.u8()?))
            .copied()
            .ok_or(DecodeError::Invalid(what))
    }
    fn nid_hash(&mut self) -> Result<Option<NidHash>, DecodeError> {
        self.option(|r| r.array().map(NidHash::from_bytes))
    }
}

fn read_body(r: &mut Reader<'_>) -> Result<EventBody, DecodeError> {
    Ok(match r.u8()? {
        tag::CHECK_IN => EventBody::CheckIn(CheckIn {
            beneficiary: BeneficiaryId::from_bytes(r.array()?),
            household: HouseholdId::from_bytes(r.array()?),
            site: r.site()?,
            day: r.date()?,
            card: r.card()?,
            manual_reason: r.opt_string()?,
        }),
        tag::HAND_OUT => EventBody::HandOut(HandOut {
            beneficiary: BeneficiaryId::from_bytes(r.array()?),
            household: HouseholdId::from_bytes(r.array()?),
            site: r.site()?,
            day: r.date()?,
            round: RoundId::from_bytes(r.array()?),
            item: r.item()?,
            qty: r.qty()?,
            lot: r.lot()?,
            card: r.card()?,
            override_reason: r.opt_string()?,
        }),
        tag::VOID => EventBody::Void {
            target: EventId::from_bytes(r.array()?),
            target_device: None,
            reason: r.string()?,
        },
        tag::VOID_OF => EventBody::Void {
            target: EventId::from_bytes(r.array()?),
            target_device: Some(DeviceId::from_bytes(r.array()?)),
            reason: r.string()?,
        },
        tag::CARD_ISSUER_WITHDRAWN => EventBody::CardIssuerWithdrawn {
            key_id: u16::try_from(r.varint()?).map_err(|_| DecodeError::Invalid("key id"))?,
            reason: r.string()?,
        },
        tag::SITE_DAY_OPENED => EventBody::SiteDayOpened {
            site: r.site()?,
            day: r.date()?,
            label: r.string()?,
        },
        tag::CLOCK_NOTED => EventBody::ClockNoted {
            phone_ms: r.varint()?,
            best_ms: r.varint()?,
            doubt: r.code(ClockDoubt::ALL, "clock doubt")?,
        },
        tag::STOCK_LOAD => EventBody::StockLoad {
            site: r.site()?,
            day: r.date()?,
            item: r.item()?,
            qty: r.qty()?,
            lot: r.lot()?,
            waybill: r.opt_string()?,
        },
        tag::STOCK_TRANSFER => EventBody::StockTransfer {
            from: r.site()?,
            to: r.site()?,
            day: r.date()?,
            item: r.item()?,
            qty: r.qty()?,
            lot: r.lot()?,
        },
        tag::STOCK_RETURN => EventBody::StockReturn {
            site: r.site()?,
            day: r.date()?,
            item: r.item()?,
            qty: r.qty()?,
            lot: r.lot()?,
        },
        tag::STOCK_LOSS => EventBody::StockLoss {
            site: r.site()?,
            day: r.date()?,
            item: r.item()?,
            qty: r.qty()?,
            lot: r.lot()?,
            reason: r.code(LossReason::ALL, "loss reason")?,
            note: r.opt_string()?,
        },
        tag::STOCK_COUNT => EventBody::StockCount {
            site: r.site()?,
            day: r.date()?,
            item: r.item()?,
            counted: r.qty()?,
            reason: r.option(|r| r.code(VarianceReason::ALL, "variance reason"))?,
            note: r.opt_string()?,
        },
        tag::DAY_CLOSE => {
            let site = r.site()?;
            let day = r.date()?;
            // Each entry takes at least 17 bytes, which bounds the count by
            // what is left before anything is allocated.
            let n = r.len()?;
            let mut covered = Vec::with_capacity(n.min(r.0.len() / 17));
            for _ in 0..n {
                covered.push((
                    DeviceId::from_bytes(r.array()?),
                    Timestamp::from_u64(r.varint()?),
                ));
            }
            let n = r.len()?;
            let mut outstanding = Vec::with_capacity(n.min(r.0.len() / 16));
            for _ in 0..n {
                outstanding.push(DeviceId::from_bytes(r.array()?));
            }
            EventBody::DayClose {
                site,
                day,
                covered,
                outstanding,
                signature: r.bytes()?,
            }
        }
        tag::REGISTERED => EventBody::BeneficiaryRegistered {
            beneficiary: BeneficiaryId::from_bytes(r.array()?),
            household: HouseholdId::from_bytes(r.array()?),
            household_size: r.u32("household size")?,
            village: r.string()?,
            nid_hash: r.nid_hash()?,
            personal: SealedPersonalData(r.bytes()?),
        },
        tag::CORRECTED => EventBody::BeneficiaryCorrected {
            beneficiary: BeneficiaryId::from_bytes(r.array()?),
            household: HouseholdId::from_bytes(r.array()?),
            household_size: r.option(|r| r.u32("household size"))?,
            village: r.opt_string()?,
            nid_hash: r.nid_hash()?,
            personal: r.option(|r| r.bytes().map(SealedPersonalData))?,
        },
        tag::ERASED => EventBody::BeneficiaryErased {
            beneficiary: BeneficiaryId::from_bytes(r.array()?),
            reason: r.string()?,
        },
        tag::CARD_ISSUED => EventBody::CardIssued {
            serial: CardSerial::new(r.varint()?),
            beneficiary: BeneficiaryId::from_bytes(r.array()?),
            round: RoundId::from_bytes(r.array()?),
        },
        tag::CARD_REISSUED => EventBody::CardReissued {
            old: CardSerial::new(r.varint()?),
            new: CardSerial::new(r.varint()?),
            beneficiary: BeneficiaryId::from_bytes(r.array()?),
        },
        tag::CARD_REVOKED => EventBody::CardRevoked {
            serial: CardSerial::new(r.varint()?),
            reason: r.string()?,
        },
        tag::CARD_ISSUER_ADDED => EventBody::CardIssuerAdded {
            key_id: u16::try_from(r.varint()?).map_err(|_| DecodeError::Invalid("key id"))?,
            public: r.array()?,
            association: r.string()?,
        },
        tag::MERGED => EventBody::BeneficiaryMerged {
            kept: BeneficiaryId::from_bytes(r.array()?),
            merged: BeneficiaryId::from_bytes(r.array()?),
            reason: r.string()?,
        },
        tag::ANOMALY_REVIEWED => EventBody::AnomalyReviewed {
            anomaly: r.array()?,
            outcome: r.code(ReviewOutcome::ALL, "review outcome")?,
            note: r.string()?,
        },
        tag::SITE_DESCRIBED => EventBody::SiteDescribed {
            site: SiteId::from_bytes(r.array()?),
            governorate: r.string()?,
            district: r.string()?,
            association: r.string()?,
        },
        tag::DEVICE_ENROLLED => EventBody::DeviceEnrolled {
            device: DeviceId::from_bytes(r.array()?),
            name: r.string()?,
        },
        tag::DEVICE_REVOKED => EventBody::DeviceRevoked {
            device: DeviceId::from_bytes(r.array()?),
            reason: r.string()?,
        },
        tag::LOCK_POLICY => EventBody::LockPolicy {
            minutes: u32::try_from(r.varint()?).map_err(|_| DecodeError::Invalid("minutes"))?,
        },
        tag::LEAD_RESTORED => EventBody::LeadRestored {
            backup_made_ms: r.varint()?,
            after_record: r.varint()?,
        },
        other => return Err(DecodeError::Tag(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        #[test]
        fn every_event_round_trips(event in qafila_testkit::event()) {
            let bytes = encode(&event);
            prop_assert_eq!(decode(&bytes), Ok(event));
        }

        #[test]
        fn every_truncation_is_an_error_not_a_panic(event in qafila_testkit::event(), cut in any::<proptest::sample::Index>()) {
            let bytes = encode(&event);
            let cut = cut.index(bytes.len());
            prop_assert!(decode(&bytes[..cut]).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn flipped_bytes_never_panic(event in qafila_testkit::event(), at in any::<proptest::sample::Index>(), xor in 1u8..=255) {
            let mut bytes = encode(&event);
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn refuses_other_versions_and_trailing_bytes() {
        assert_eq!(decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[9]), Err(DecodeError::Version(9)));
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let event = qafila_testkit::event()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let mut bytes = encode(&event);
        bytes.push(0);
        assert_eq!(decode(&bytes), Err(DecodeError::Trailing));
    }
}
