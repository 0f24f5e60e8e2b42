//! The registrar's cards and the volunteer's scan.
//!
//! A registrar device holds its association's issuing key (the secret never
//! leaves the store; its public half travels as a `card_issuer_added` event,
//! so every device of the convoy can check that key's cards offline). Cards
//! are issued, reprinted (same serial, same payload), reissued (new serial,
//! the old one revoked by the same event) and revoked; sheets print as HTML
//! or PDF. A scan checks the card against the trusted keys and the
//! revocations this device has, then checks the household in and shows what
//! it may still receive.

use std::path::Path;

use qafila_cards::sheet::{SheetCard, SheetLang, SheetOptions, render_sheet};
use qafila_cards::{CardError, IssuerKey, IssuerPublic, KeyId, card_number, parse_card_number};
use qafila_domain::ids::{BeneficiaryId, CardSerial, RoundId};
use qafila_store::cards::{CardRecord, OwnIssuer, TrustedIssuer};
use qafila_store::registry::Beneficiary;
use serde::Serialize;
use ts_rs::TS;

use crate::dto::{BeneficiaryDto, CheckInDto};
use crate::registry::to_dto;
use crate::{App, AppError, parse_id};

/// An issuing key this device trusts.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IssuerDto {
    /// The key id printed in every card it signs (five digits on a card).
    pub key_id: u16,
    /// Its association.
    pub association: String,
    /// The public key, hex.
    pub public: String,
    /// Whether this device holds the secret half (can issue and print).
    pub own: bool,
    /// Whether the convoy lead withdrew it: its cards are refused.
    pub withdrawn: bool,
}

/// A card as the registrar sees it.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct CardDto {
    /// The serial (a 64-bit number, as a string for JSON).
    pub serial: String,
    /// The printed number, `KKKKK-NNNNNN`.
    pub number: String,
    /// `active`, `revoked` or `replaced`.
    pub status: &'static str,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// The card that replaced it.
    pub replaced_by: Option<String>,
    /// Its holder.
    pub beneficiary: BeneficiaryDto,
}

/// A person left out of an issue run, and why.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct SkippedDto {
    /// The person.
    pub beneficiary: BeneficiaryDto,
    /// Stable code.
    pub code: &'static str,
    /// English.
    pub message: String,
    /// Arabic.
    pub message_ar: String,
}

/// What `issue_cards` did.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct IssuedDto {
    /// New cards.
    pub issued: Vec<CardDto>,
    /// People who already had a card, or could not get one.
    pub skipped: Vec<SkippedDto>,
    /// The sheet written, if one was asked for.
    pub sheet: Option<SheetDto>,
}

/// A printed sheet.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct SheetDto {
    /// The file written.
    pub out: String,
    /// `html` or `pdf`.
    pub format: &'static str,
    /// Cards on it.
    pub cards: usize,
    /// A4 pages.
    pub pages: usize,
}

/// A village's card sheet, rendered in memory for the app.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct CardSheetDto {
    /// The whole printable document (A4 pages, Arabic, QR codes as SVG).
    pub html: String,
    /// Cards on it.
    pub cards: usize,
    /// A4 pages.
    pub pages: usize,
}

/// A card checked offline.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct VerifyDto {
    /// Whether the card is genuine, unaltered and not revoked.
    pub valid: bool,
    /// When not valid: `malformed`, `unknown_issuer`, `bad_signature` or
    /// `revoked`.
    pub reason: Option<&'static str>,
    /// What to do, in English, when not valid.
    pub message: Option<String>,
    /// What to do, in Arabic, when not valid.
    pub message_ar: Option<String>,
    /// The serial, once the card could be read.
    pub serial: Option<String>,
    /// The printed number.
    pub number: Option<String>,
    /// The holder's id.
    pub beneficiary: Option<String>,
    /// The issuing key id.
    pub issuer: Option<u16>,
    /// The issuing association, when the key is trusted.
    pub association: Option<String>,
    /// A genuine card this device has reason to doubt: `not_issued` (its
    /// number was never seen issued here: the issuing record may not have
    /// synced yet, or the issuer's secret leaked).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub warning: Option<&'static str>,
    /// What the warning means and what to do, in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub warning_message: Option<String>,
    /// The same, in Arabic.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub warning_message_ar: Option<String>,
}

/// What a volunteer sees after scanning a card at a site.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct ScanDto {
    /// `ok` (checked in, something left to receive), `already_served`
    /// (checked in, nothing left this round at the distribution table:
    /// medicine and check-ups, which have their own tables, do not count
    /// when the round hands out anything else), `unknown_beneficiary` (genuine
    /// card, registry entry not on this device yet), or the card's refusal:
    /// `malformed`, `unknown_issuer`, `bad_signature`, `revoked`.
    pub status: &'static str,
    /// English.
    pub message: String,
    /// Arabic.
    pub message_ar: String,
    /// The card check.
    pub card: VerifyDto,
    /// The check-in, when one was recorded.
    pub check_in: Option<CheckInDto>,
}

fn card_error(error: &CardError) -> (&'static str, String, String) {
    let en = match error {
        CardError::Malformed(_) => {
            "this is not a readable Qafila card: scan it again; if it stays unreadable, send the holder to the registrar for a new card".to_owned()
        }
        CardError::UnknownIssuer(key) => format!(
            "this card was issued with key {:05}, which this device does not trust: do not hand out; sync, or call the convoy lead",
            key.0
        ),
        CardError::BadSignature => {
            "this card is forged or was altered: do not hand out; send the holder to the registrar".to_owned()
        }
        CardError::Revoked(serial) => format!(
            "card {} has been revoked: do not hand out on it; send the holder to the registrar",
            card_number(*serial)
        ),
    };
    (error.code(), en, error.message_ar().to_owned())
}

fn invalid(error: &CardError, card: Option<(CardSerial, BeneficiaryId, KeyId)>) -> VerifyDto {
    let (code, en, ar) = card_error(error);
    VerifyDto {
        valid: false,
        reason: Some(code),
        message: Some(en),
        message_ar: Some(ar),
        serial: card.map(|c| c.0.get().to_string()),
        number: card.map(|c| card_number(c.0)),
        beneficiary: card.map(|c| c.1.to_string()),
        issuer: card.map(|c| c.2.0),
        association: None,
        warning: None,
        warning_message: None,
        warning_message_ar: None,
    }
}

/// A refusal that is about the issuing key, not the card.
fn refused_issuer(
    code: &'static str,
    en: String,
    ar: String,
    card: (CardSerial, BeneficiaryId, KeyId),
) -> VerifyDto {
    VerifyDto {
        reason: Some(code),
        message: Some(en),
        message_ar: Some(ar),
        ..invalid(&CardError::BadSignature, Some(card))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_secret() -> Result<[u8; 32], AppError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| {
        AppError::new(
            "random_unavailable",
            format!("the system random source failed: {e}"),
            "مصدر الأرقام العشوائية في النظام مش شغال",
        )
    })?;
    Ok(secret)
}

fn serial_of(key: u16, counter: u32) -> CardSerial {
    qafila_cards::number::serial(KeyId(key), counter)
}

/// The serial a registrar typed: a printed number or a raw serial.
pub fn parse_serial(text: &str) -> Result<CardSerial, AppError> {
    parse_card_number(text).ok_or_else(|| {
        AppError::new(
            "invalid_card_number",
            format!("`{text}` is not a card number: type it as printed, e.g. 41203-000017"),
            format!("«{text}» مش رقم كارت: اكتبه زي ما هو مطبوع، مثلاً 41203-000017"),
        )
    })
}

fn no_issuer() -> AppError {
    AppError::new(
        "no_issuer_key",
        "this device has no card-issuing key yet: create your association's with `qafila cards issuer --association NAME`",
        "الجهاز ده لسه ماعندوش مفتاح إصدار كروت: اعمل مفتاح جمعيتك بأمر qafila cards issuer --association الاسم",
    )
}

/// Which sheet format a path asks for.
fn sheet_format(out: &Path) -> Result<&'static str, AppError> {
    match out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => Ok("html"),
        Some("pdf") => Ok("pdf"),
        _ => Err(AppError::new(
            "sheet_format",
            format!(
                "cannot tell what to write to {}: name the file .pdf (to print) or .html (to open in a browser)",
                out.display()
            ),
            "اسم الملف لازم يخلص بـ .pdf أو .html",
        )),
    }
}

impl App {
    /// Creates this device's issuing key for an association and announces
    /// its public half to the convoys this device syncs.
    pub fn create_issuer(&self, association: &str) -> Result<IssuerDto, AppError> {
        let association = association.trim();
        if association.is_empty() {
            return Err(AppError::new(
                "association_required",
                "name the association the key issues cards for",
                "اكتب اسم الجمعية اللي المفتاح ده هيصدر كروتها",
            ));
        }
        let (now, _) = self.now();
        // Key ids are two bytes; draw again on the rare clash with a key this
        // device already has, so its own cards never share a serial space.
        let own: Vec<u16> = self
            .store
            .trusted_issuers()?
            .iter()
            .map(|t| t.key_id)
            .collect();
        let mut secret = random_secret()?;
        let mut key = IssuerKey::from_secret_bytes(&secret);
        while own.contains(&key.key_id().0) {
            secret = random_secret()?;
            key = IssuerKey::from_secret_bytes(&secret);
        }
        let public = key.public().public;
        self.store.add_own_issuer(
            OwnIssuer {
                key_id: key.key_id().0,
                secret,
                association: association.to_owned(),
            },
            public,
            self.volunteer,
            now,
        )?;
        Ok(IssuerDto {
            key_id: key.key_id().0,
            association: association.to_owned(),
            public: hex(&public),
            own: true,
            withdrawn: false,
        })
    }

    /// Withdraws trust in an issuing key (the lead's decision: its secret
    /// was lost with a device, or leaked). Every device that syncs refuses
    /// its cards from then on; the registrar reissues them with another key.
    pub fn withdraw_issuer(&self, key_id: u16, reason: &str) -> Result<IssuerDto, AppError> {
        let issuer = self
            .issuers()?
            .into_iter()
            .find(|i| i.key_id == key_id)
            .ok_or_else(|| {
                AppError::new(
                    "unknown_issuer",
                    format!(
                        "no issuing key {key_id:05} on this device: see `qafila cards issuers`"
                    ),
                    format!("مفيش مفتاح إصدار رقم {key_id:05} على الجهاز ده"),
                )
            })?;
        if reason.trim().is_empty() {
            return Err(AppError::new(
                "reason_required",
                "say why the key is withdrawn",
                "اكتب سبب سحب المفتاح",
            ));
        }
        let (now, _) = self.now();
        self.store.record(
            self.volunteer,
            qafila_domain::event::EventBody::CardIssuerWithdrawn {
                key_id,
                reason: reason.trim().to_owned(),
            },
            now,
        )?;
        Ok(IssuerDto {
            withdrawn: true,
            ..issuer
        })
    }

    /// Issuing keys this device trusts.
    pub fn issuers(&self) -> Result<Vec<IssuerDto>, AppError> {
        let own = self.store.own_issuer()?.map(|o| o.key_id);
        Ok(self
            .store
            .trusted_issuers()?
            .into_iter()
            .map(|t| IssuerDto {
                own: Some(t.key_id) == own
                    || self
                        .store
                        .own_issuer_by_id(t.key_id)
                        .ok()
                        .flatten()
                        .is_some(),
                key_id: t.key_id,
                association: t.association,
                public: hex(&t.public),
                withdrawn: t.withdrawn.is_some(),
            })
            .collect())
    }

    fn own_key(&self) -> Result<(OwnIssuer, IssuerKey), AppError> {
        let own = self.store.own_issuer()?.ok_or_else(no_issuer)?;
        let key = IssuerKey::from_secret_bytes(&own.secret);
        Ok((own, key))
    }

    fn card_dto(&self, record: CardRecord) -> Result<CardDto, AppError> {
        let holder = self.store.beneficiary(record.beneficiary)?;
        let beneficiary = match holder {
            Some(b) => to_dto(b, None),
            None => BeneficiaryDto {
                id: record.beneficiary.to_string(),
                household: String::new(),
                name: None,
                village: String::new(),
                household_size: 0,
                phone: None,
                national_id_last4: None,
                erased: false,
                score: None,
            },
        };
        Ok(CardDto {
            serial: record.serial.get().to_string(),
            number: card_number(record.serial),
            status: match (&record.revoked, record.replaced_by) {
                (None, _) => "active",
                (Some(_), Some(_)) => "replaced",
                (Some(_), None) => "revoked",
            },
            revoked_reason: record.revoked,
            replaced_by: record.replaced_by.map(card_number),
            beneficiary,
        })
    }

    fn card_record(&self, serial: CardSerial) -> Result<CardRecord, AppError> {
        self.store.card(serial)?.ok_or_else(|| {
            AppError::new(
                "unknown_card",
                format!(
                    "no card {} on this device: check the number, or sync first",
                    card_number(serial)
                ),
                format!(
                    "مفيش كارت رقم {} على الجهاز ده: راجع الرقم أو زامن الأول",
                    card_number(serial)
                ),
            )
        })
    }

    /// A person's cards, newest first.
    pub fn cards_of(&self, beneficiary: &str) -> Result<Vec<CardDto>, AppError> {
        let who = self.find_beneficiary(beneficiary)?;
        self.store
            .cards_of(who.id)?
            .into_iter()
            .map(|c| self.card_dto(c))
            .collect()
    }

    /// Issues cards with this device's key: to one person, or to everyone
    /// in a village who has no active card yet. With `out`, also writes
    /// their sheet.
    pub fn issue_cards(
        &self,
        village: Option<&str>,
        beneficiary: Option<&str>,
        out: Option<&Path>,
    ) -> Result<IssuedDto, AppError> {
        let (own, _) = self.own_key()?;
        if let Some(out) = out {
            sheet_format(out)?;
        }
        let candidates: Vec<Beneficiary> = match (village, beneficiary) {
            (_, Some(text)) => {
                let who = self.find_beneficiary(text)?;
                if let Some(active) = self
                    .store
                    .cards_of(who.id)?
                    .into_iter()
                    .find(|c| c.revoked.is_none())
                {
                    return Err(AppError::new(
                        "card_exists",
                        format!(
                            "this person already has card {}: reprint it (`qafila cards reprint {}`) or reissue it if it was lost",
                            card_number(active.serial),
                            card_number(active.serial)
                        ),
                        format!(
                            "الشخص ده معاه كارت رقم {} فعلاً: اطبعه تاني، أو أصدر بداله لو ضاع",
                            card_number(active.serial)
                        ),
                    ));
                }
                vec![who]
            }
            (Some(village), None) => {
                let people = self.store.village_beneficiaries(village)?;
                if people.is_empty() {
                    return Err(self.unknown_village(village)?);
                }
                people
            }
            (None, None) => {
                return Err(AppError::new(
                    "issue_whom",
                    "say whom to issue cards to: --village V or --beneficiary ID",
                    "حدّد الكروت لمين: --village القرية أو --beneficiary الرقم",
                ));
            }
        };
        let mut holders = Vec::new();
        let mut skipped = Vec::new();
        for who in candidates {
            let active = self
                .store
                .cards_of(who.id)?
                .into_iter()
                .find(|c| c.revoked.is_none());
            match active {
                Some(card) => skipped.push(SkippedDto {
                    code: "has_card",
                    message: format!("already has card {}", card_number(card.serial)),
                    message_ar: format!("معاه كارت رقم {} فعلاً", card_number(card.serial)),
                    beneficiary: to_dto(who, None),
                }),
                None => holders.push(who),
            }
        }
        let round = self.store.current_round()?;
        let (now, _) = self.now();
        let serials = if holders.is_empty() {
            Vec::new()
        } else {
            self.store.issue_cards(
                own.key_id,
                holders.iter().map(|b| b.id).collect(),
                round.id,
                self.volunteer,
                now,
                serial_of,
            )?
        };
        let mut issued = Vec::with_capacity(serials.len());
        for serial in &serials {
            issued.push(self.card_dto(self.card_record(*serial)?)?);
        }
        let sheet = match out {
            Some(out) if !serials.is_empty() => Some(self.write_sheet(&serials, out)?),
            _ => None,
        };
        Ok(IssuedDto {
            issued,
            skipped,
            sheet,
        })
    }

    fn unknown_village(&self, village: &str) -> Result<AppError, AppError> {
        let known: Vec<String> = self
            .store
            .villages()?
            .into_iter()
            .map(|(v, n)| format!("{v} ({n})"))
            .collect();
        Ok(AppError::new(
            "unknown_village",
            format!(
                "nobody is registered in the village `{village}` on this device; villages: {}",
                known.join(", ")
            ),
            format!(
                "مفيش حد متسجّل في قرية «{village}» على الجهاز ده؛ القرى: {}",
                known.join("، ")
            ),
        ))
    }

    /// Prints a card again with the same serial (a worn or badly printed
    /// card). The old print keeps working: it is the same card.
    pub fn reprint_card(&self, serial: &str, out: &Path) -> Result<SheetDto, AppError> {
        let serial = parse_serial(serial)?;
        let record = self.card_record(serial)?;
        if record.revoked.is_some() {
            return Err(AppError::new(
                "card_revoked",
                format!(
                    "card {} is revoked and cannot be printed again: reissue the holder a new card",
                    card_number(serial)
                ),
                format!(
                    "الكارت رقم {} ملغي ومينفعش يتطبع تاني: أصدر كارت جديد لصاحبه",
                    card_number(serial)
                ),
            ));
        }
        self.write_sheet(&[serial], out)
    }

    /// Replaces a card (lost, stolen, damaged beyond reprinting): a new
    /// serial, and the old card revoked by the same event.
    pub fn reissue_card(
        &self,
        serial: &str,
        out: Option<&Path>,
    ) -> Result<(CardDto, Option<SheetDto>), AppError> {
        let old = parse_serial(serial)?;
        let record = self.card_record(old)?;
        if record.revoked.is_some() {
            return Err(AppError::new(
                "card_revoked",
                format!(
                    "card {} is already revoked; issue the holder a card with `qafila cards issue --beneficiary {}`",
                    card_number(old),
                    record.beneficiary
                ),
                format!(
                    "الكارت رقم {} ملغي أصلاً؛ أصدر لصاحبه كارت جديد",
                    card_number(old)
                ),
            ));
        }
        if let Some(out) = out {
            sheet_format(out)?;
        }
        let (own, _) = self.own_key()?;
        let (now, _) = self.now();
        let new = self.store.reissue_card(
            own.key_id,
            old,
            record.beneficiary,
            self.volunteer,
            now,
            serial_of,
        )?;
        let sheet = match out {
            Some(out) => Some(self.write_sheet(&[new], out)?),
            None => None,
        };
        Ok((self.card_dto(self.card_record(new)?)?, sheet))
    }

    /// Revokes a card for good. Every device that syncs refuses it.
    pub fn revoke_card(&self, serial: &str, reason: &str) -> Result<CardDto, AppError> {
        let serial = parse_serial(serial)?;
        let record = self.card_record(serial)?;
        if record.revoked.is_some() {
            return self.card_dto(record);
        }
        let (now, _) = self.now();
        self.store.record(
            self.volunteer,
            qafila_domain::event::EventBody::CardRevoked {
                serial,
                reason: reason.trim().to_owned(),
            },
            now,
        )?;
        self.card_dto(self.card_record(serial)?)
    }

    /// Writes the sheet of every active card of a village issued with this
    /// device's keys.
    pub fn village_sheet(&self, village: &str, out: &Path) -> Result<SheetDto, AppError> {
        sheet_format(out)?;
        let serials = self.village_serials(village)?;
        self.write_sheet(&serials, out)
    }

    /// The sheet of every active card of a village issued with this
    /// device's keys, as one printable HTML document (the app shows it and
    /// prints it with the system's print dialog).
    pub fn village_sheet_html(&self, village: &str) -> Result<CardSheetDto, AppError> {
        let serials = self.village_serials(village)?;
        let (html, cards) = self.sheet_html(&serials)?;
        Ok(CardSheetDto {
            html,
            cards,
            pages: cards.div_ceil(qafila_cards::sheet::CARDS_PER_PAGE),
        })
    }

    /// The active cards of a village's people that this device's keys
    /// signed (only those can be printed here).
    fn village_serials(&self, village: &str) -> Result<Vec<CardSerial>, AppError> {
        let people = self.store.village_beneficiaries(village)?;
        if people.is_empty() {
            return Err(self.unknown_village(village)?);
        }
        let mut serials = Vec::new();
        for who in &people {
            for card in self.store.cards_of(who.id)? {
                if card.revoked.is_none()
                    && let Some((key, _)) = qafila_cards::number::split(card.serial)
                    && self.store.own_issuer_by_id(key.0)?.is_some()
                {
                    serials.push(card.serial);
                }
            }
        }
        if serials.is_empty() {
            return Err(AppError::new(
                "no_cards",
                format!(
                    "nobody in `{village}` has a card from this device yet: issue them with `qafila cards issue --village {village}`"
                ),
                format!("مفيش حد في «{village}» معاه كارت من الجهاز ده لسه: أصدر الكروت الأول"),
            ));
        }
        Ok(serials)
    }

    /// Renders the cards to `out` (HTML, or PDF through Chromium). Only
    /// cards signed by one of this device's own keys can be printed.
    fn write_sheet(&self, serials: &[CardSerial], out: &Path) -> Result<SheetDto, AppError> {
        let format = sheet_format(out)?;
        let (html, cards) = self.sheet_html(serials)?;
        crate::print::write_html_or_pdf(&html, out, format, "sheet_write")?;
        Ok(SheetDto {
            out: out.display().to_string(),
            format,
            cards,
            pages: cards.div_ceil(qafila_cards::sheet::CARDS_PER_PAGE),
        })
    }

    /// A card's QR text, signed again with this device's key (Ed25519
    /// signatures are deterministic, so a reprint is the same code).
    fn signed_text(&self, serial: CardSerial) -> Result<(String, CardRecord, OwnIssuer), AppError> {
        let record = self.card_record(serial)?;
        let Some((key_id, _)) = qafila_cards::number::split(serial) else {
            return Err(no_issuer());
        };
        let own = self.store.own_issuer_by_id(key_id.0)?.ok_or_else(|| {
            AppError::new(
                "not_our_card",
                format!(
                    "card {} was issued on another device; print it there",
                    card_number(serial)
                ),
                format!(
                    "الكارت رقم {} اتصدر من جهاز تاني؛ اطبعه من هناك",
                    card_number(serial)
                ),
            )
        })?;
        let key = IssuerKey::from_secret_bytes(&own.secret);
        let round = match record.round {
            Some(round) => round,
            None => self.store.current_round()?.id,
        };
        let text = qafila_cards::Card::new(&key, serial, record.beneficiary, round).encode(&key);
        Ok((text, record, own))
    }

    /// The QR texts of cards this device issued, by printed number: what a
    /// scanner would type (for the demo and for support).
    pub fn card_texts(&self, numbers: &[String]) -> Result<Vec<String>, AppError> {
        numbers
            .iter()
            .map(|n| Ok(self.signed_text(parse_serial(n)?)?.0))
            .collect()
    }

    /// The A4 sheet of these cards as HTML, and how many cards it holds.
    /// Only cards signed by one of this device's own keys can be rendered.
    fn sheet_html(&self, serials: &[CardSerial]) -> Result<(String, usize), AppError> {
        let mut cards = Vec::with_capacity(serials.len());
        let mut association = String::new();
        for serial in serials {
            let (text, record, own) = self.signed_text(*serial)?;
            let who = self.store.beneficiary(record.beneficiary)?;
            association.clone_from(&own.association);
            cards.push(SheetCard {
                text,
                name: who
                    .as_ref()
                    .and_then(|w| w.name.clone())
                    .unwrap_or_default(),
                village: who.as_ref().map(|w| w.village.clone()).unwrap_or_default(),
                number: card_number(*serial),
                household_size: who.as_ref().map_or(0, |w| w.household_size),
            });
        }
        let round = self.store.current_round()?;
        let html = render_sheet(
            &cards,
            &SheetOptions {
                association,
                title: format!("كروت {}", round.name),
                lang: SheetLang::Ar,
            },
        );
        Ok((html, cards.len()))
    }

    fn pinned(&self) -> Result<(Vec<IssuerPublic>, Vec<TrustedIssuer>), AppError> {
        let trusted = self.store.trusted_issuers()?;
        let pinned = trusted
            .iter()
            .filter(|t| KeyId::of(&t.public).0 == t.key_id)
            .map(|t| IssuerPublic::from_public_bytes(t.public))
            .collect();
        Ok((pinned, trusted))
    }

    /// Checks a card offline: a scanned text (keyboard-wedge input under an
    /// Arabic layout included) or an image file holding one code.
    pub fn verify_card(&self, input: &str) -> Result<VerifyDto, AppError> {
        let text = self.card_text(input)?;
        let signed = match qafila_cards::decode(&text) {
            Ok(signed) => signed,
            Err(error) => return Ok(invalid(&error, None)),
        };
        let c = signed.card;
        let read = Some((c.serial, c.beneficiary, c.key_id));
        let (pinned, trusted) = self.pinned()?;
        let card = match signed.verify_signature(&pinned) {
            Ok(card) => card,
            Err(error) => return Ok(invalid(&error, read)),
        };
        // A trusted key may only sign serials of its own numbering, so one
        // association can never revoke or shadow another's cards.
        if qafila_cards::number::split(card.serial).map(|(k, _)| k) != Some(card.key_id) {
            return Ok(invalid(
                &CardError::Malformed("serial outside its issuer's numbering"),
                read,
            ));
        }
        if self.store.card_revocation(card.serial)?.is_some() {
            return Ok(invalid(&CardError::Revoked(card.serial), read));
        }
        let issuers: Vec<&TrustedIssuer> = trusted
            .iter()
            .filter(|t| t.key_id == card.key_id.0)
            .collect();
        let at = (card.serial, card.beneficiary, card.key_id);
        if let Some(reason) = issuers.iter().find_map(|t| t.withdrawn.as_ref()) {
            return Ok(refused_issuer(
                "issuer_withdrawn",
                format!(
                    "the convoy lead withdrew issuing key {:05} ({reason}): do not hand out on this card; send the holder to the registrar for a new one",
                    card.key_id.0
                ),
                format!(
                    "قائد القافلة سحب مفتاح الإصدار {:05} ({reason}): متصرفش على الكارت ده؛ ابعت صاحبه لمسؤول التسجيل ياخد كارت جديد",
                    card.key_id.0
                ),
                at,
            ));
        }
        let issued = self.store.card(card.serial)?.is_some();
        if !issued && issuers.iter().any(|t| t.announcer_revoked) {
            return Ok(refused_issuer(
                "issuer_device_revoked",
                "this card's issuing key belongs to a device the convoy lead revoked, and this number was never seen issued: do not hand out; call the convoy lead".to_owned(),
                "مفتاح إصدار الكارت ده على جهاز قائد القافلة لغاه، والرقم ده ماتصدرش قبل كده: متصرفش واتصل بقائد القافلة".to_owned(),
                at,
            ));
        }
        let (warning, warning_message, warning_message_ar) = if issued {
            (None, None, None)
        } else {
            (
                Some("not_issued"),
                Some("genuine signature, but this device has not seen this card number issued: sync; if it stays unknown, check with the registrar".to_owned()),
                Some("التوقيع سليم بس الجهاز ده ماشافش رقم الكارت ده اتصدر: زامن، ولو فضل مش معروف راجع مسؤول التسجيل".to_owned()),
            )
        };
        Ok(VerifyDto {
            valid: true,
            reason: None,
            message: None,
            message_ar: None,
            serial: Some(card.serial.get().to_string()),
            number: Some(card_number(card.serial)),
            beneficiary: Some(card.beneficiary.to_string()),
            issuer: Some(card.key_id.0),
            association: issuers.first().map(|t| t.association.clone()),
            warning,
            warning_message,
            warning_message_ar,
        })
    }

    /// The card text in `input`: the text itself, or the one code in an
    /// image file.
    fn card_text(&self, input: &str) -> Result<String, AppError> {
        if !crate::scan_image::looks_like_image(input) {
            return Ok(input.to_owned());
        }
        let mut codes = crate::scan_image::decode_image_file(Path::new(input))?;
        match codes.len() {
            1 => Ok(codes.remove(0)),
            n => Err(AppError::new(
                "several_codes",
                format!("the image holds {n} codes: photograph one card at a time"),
                format!("الصورة فيها {n} أكواد: صوّر كارت واحد بس"),
            )),
        }
    }

    /// Verifies a card and, when it is genuine, checks its holder in at
    /// `site`: who it is and what the household may still receive.
    pub fn scan(&self, input: &str, site: &str) -> Result<ScanDto, AppError> {
        // The site is checked first: a typo there must not look like a bad card.
        self.store.site(site)?;
        let card = self.verify_card(input)?;
        if !card.valid {
            return Ok(ScanDto {
                status: card.reason.unwrap_or("malformed"),
                message: card.message.clone().unwrap_or_default(),
                message_ar: card.message_ar.clone().unwrap_or_default(),
                card,
                check_in: None,
            });
        }
        let holder = card
            .beneficiary
            .as_deref()
            .map(|b| parse_id::<BeneficiaryId>(b, "beneficiary"))
            .transpose()?;
        let known = match holder {
            Some(id) => self.store.beneficiary(id)?,
            None => None,
        };
        let Some(who) = known else {
            return Ok(ScanDto {
                status: "unknown_beneficiary",
                message: "the card is genuine but its holder is not on this device yet: sync, then scan again".to_owned(),
                message_ar: "الكارت سليم بس صاحبه لسه مش على الجهاز ده: زامن وامسح تاني".to_owned(),
                card,
                check_in: None,
            });
        };
        let serial = card.serial.as_deref().and_then(|s| s.parse::<u64>().ok());
        let check_in = self.check_in(&who.id.to_string(), site, serial, None)?;
        let nothing_left = crate::distribution::nothing_left(&check_in.entitlement.items);
        let name = check_in
            .entitlement
            .beneficiary
            .name
            .clone()
            .unwrap_or_default();
        let (status, message, message_ar) = if nothing_left {
            (
                "already_served",
                format!(
                    "{name}: the household has received everything this table hands out this round; do not hand out"
                ),
                format!("{name}: الأسرة دي استلمت كل حاجة في الجولة دي؛ ما تصرفش"),
            )
        } else {
            (
                "ok",
                format!("{name}: hand out what remains"),
                format!("{name}: اصرف الباقي"),
            )
        };
        Ok(ScanDto {
            status,
            message,
            message_ar,
            card,
            check_in: Some(check_in),
        })
    }

    /// The round a card was issued in, for a reissue whose original is not
    /// on this device (kept for the UI).
    pub fn current_round_id(&self) -> Result<RoundId, AppError> {
        Ok(self.store.current_round()?.id)
    }
}
