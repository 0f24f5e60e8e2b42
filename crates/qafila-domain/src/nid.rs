//! Egyptian national IDs (الرقم القومي): parsing, decoding and keyed hashing.
//!
//! A national ID is 14 digits, `C YYMMDD GG SSSS K`:
//!
//! | digits | meaning |
//! |---|---|
//! | 1 (`C`) | century of birth: `2` → 1900s, `3` → 2000s |
//! | 2–7 (`YYMMDD`) | birth date |
//! | 8–9 (`GG`) | governorate of birth registration ([`Governorate`]) |
//! | 10–13 (`SSSS`) | serial; the 13th digit is odd for men, even for women ([`Sex`]) |
//! | 14 (`K`) | check digit ([`CheckDigit`]) |
//!
//! Registrars copy numbers out of Arabic spreadsheets and messages, so
//! [`NationalId::parse`] accepts Eastern Arabic and Persian digits and skips
//! the spaces, dashes and invisible bidi marks such text carries. Whatever
//! was typed, a parsed [`NationalId`] holds the canonical 14 ASCII digits.
//!
//! The check digit's algorithm is not public, so it is reported as
//! [`CheckDigit::Unverified`] and never used to reject a number: a wrong guess
//! at the algorithm would turn real people away at a distribution point.
//!
//! A national ID is personal data. [`NationalId`]'s `Debug` masks it and it
//! has no `Display`, so it does not slip into logs; stores and Automerge
//! history match people through [`NidHash`], an HMAC under the organisation's
//! secret [`NidKey`], never through the number itself.

use std::fmt;

use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Number of digits in an Egyptian national ID.
pub const NID_DIGITS: usize = 14;

/// A valid Egyptian national ID: 14 digits whose century, birth date and
/// governorate decode, with the birth date not in the future.
///
/// Equality, ordering and hashing follow the canonical digits, so the same
/// number typed with Eastern digits and dashes compares equal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NationalId {
    /// Canonical form: exactly [`NID_DIGITS`] ASCII digits. The decoded
    /// fields below are derived from it once, at parse time.
    digits: String,
    birth_date: NaiveDate,
    sex: Sex,
    governorate: &'static Governorate,
}

impl NationalId {
    /// Parses and validates a national ID as a registrar might type or paste it.
    ///
    /// Accepts ASCII, Eastern Arabic (`٠`–`٩`) and Persian (`۰`–`۹`) digits,
    /// and ignores spaces, dashes and bidi control marks. `today` is the
    /// caller's current date: the birth date must not be after it. The check
    /// digit is never verified (see [`CheckDigit`]).
    ///
    /// Problems are reported in reading order: a stray character first, then
    /// the digit count, century, birth date and governorate.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Self, NidError> {
        let digits = normalise(input)?;

        let century_base = match digits[0] {
            2 => 1900,
            3 => 2000,
            digit => return Err(NidError::Century { digit }),
        };
        let year = century_base + i32::from(pair(digits[1], digits[2]));
        let month = u32::from(pair(digits[3], digits[4]));
        let day = u32::from(pair(digits[5], digits[6]));
        let birth_date =
            NaiveDate::from_ymd_opt(year, month, day).ok_or(NidError::Date { year, month, day })?;
        if birth_date > today {
            return Err(NidError::FutureDate { birth_date, today });
        }

        let code = pair(digits[7], digits[8]);
        let governorate = Governorate::from_code(code).ok_or(NidError::Governorate { code })?;

        let sex = if digits[12] % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        };

        Ok(Self {
            digits: digits.iter().map(|&d| char::from(b'0' + d)).collect(),
            birth_date,
            sex,
            governorate,
        })
    }

    /// The canonical 14 ASCII digits. This is the full personal number:
    /// show it to the registrar, but do not log it.
    pub fn as_str(&self) -> &str {
        &self.digits
    }

    /// Date of birth, from the century digit and digits 2–7.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// Sex, from the parity of the 13th digit.
    pub fn sex(&self) -> Sex {
        self.sex
    }

    /// Governorate where the birth was registered, from digits 8–9.
    pub fn governorate(&self) -> &'static Governorate {
        self.governorate
    }

    /// Serial, digits 10–13, kept as text because its leading zeros matter.
    pub fn serial(&self) -> &str {
        // The canonical form is ASCII-only, so byte offsets are char offsets.
        &self.digits[9..13]
    }

    /// The 14th digit, which Qafila cannot verify.
    pub fn check_digit(&self) -> CheckDigit {
        let digit = self.digits.as_bytes()[NID_DIGITS - 1] - b'0';
        CheckDigit::Unverified(digit)
    }
}

impl fmt::Debug for NationalId {
    /// Masks all but the last four digits: a `{:?}` in a log line or a
    /// panic message must not leak the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.digits[NID_DIGITS - 4..];
        write!(f, "NationalId({}{shown})", "*".repeat(NID_DIGITS - 4))
    }
}

/// Two decimal digits as a number, e.g. the governorate code or a month.
fn pair(tens: u8, units: u8) -> u8 {
    tens * 10 + units
}

/// Reduces typed or pasted text to exactly [`NID_DIGITS`] digit values
/// (0–9), or says which character or how many digits are wrong.
fn normalise(input: &str) -> Result<[u8; NID_DIGITS], NidError> {
    let mut digits = [0u8; NID_DIGITS];
    let mut found = 0usize;
    for (index, character) in input.chars().enumerate() {
        if let Some(value) = digit_value(character) {
            // Keep counting past 14 so the error can say how many there were.
            if let Some(slot) = digits.get_mut(found) {
                *slot = value;
            }
            found += 1;
        } else if !is_ignorable(character) {
            return Err(NidError::InvalidCharacter {
                character,
                position: index + 1,
            });
        }
    }
    if found == NID_DIGITS {
        Ok(digits)
    } else {
        Err(NidError::Length { found })
    }
}

/// The value of an ASCII, Eastern Arabic (U+0660–0669) or Persian /
/// Extended Arabic-Indic (U+06F0–06F9) digit. Egyptian keyboards produce
/// the Eastern ones; Persian ones arrive from some phone keyboards.
fn digit_value(character: char) -> Option<u8> {
    let zero = match character {
        '0'..='9' => '0',
        '\u{0660}'..='\u{0669}' => '\u{0660}',
        '\u{06F0}'..='\u{06F9}' => '\u{06F0}',
        _ => return None,
    };
    u8::try_from(u32::from(character) - u32::from(zero)).ok()
}

/// Characters that copy-paste from Arabic documents and habits of writing
/// the number in groups put between the digits, and that carry no meaning.
fn is_ignorable(character: char) -> bool {
    character.is_whitespace() // ASCII space, tabs, NBSP, thin and figure spaces, ...
        || matches!(
            character,
            // Zero-width space, non-joiner, joiner, word joiner and BOM: invisible
            // in Arabic text and common in pasted strings.
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
            // Hyphen-minus, soft hyphen, the Unicode hyphens and dashes, minus
            // sign, and small/full-width hyphen-minus.
            | '-' | '\u{00AD}' | '\u{2010}'..='\u{2015}' | '\u{2212}'
            | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}'
            // Bidi marks: LRM, RLM, Arabic letter mark, embeddings/overrides
            // and isolates, which Arabic editors wrap around numbers.
            | '\u{200E}' | '\u{200F}' | '\u{061C}'
            | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Sex as encoded in the 13th digit of a national ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// Stable lowercase English name, as used in exports: `"male"`/`"female"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }

    /// Arabic name, as on forms: ذكر / أنثى.
    pub fn name_ar(self) -> &'static str {
        match self {
            Sex::Male => "ذكر",
            Sex::Female => "أنثى",
        }
    }
}

/// The 14th digit of a national ID.
///
/// The Civil Status Organisation has not published its algorithm. Guessed
/// algorithms circulate, but rejecting a real card on a guess would turn a
/// person away, so the digit is only carried. Should the algorithm become
/// known, a `Verified` variant can be added without breaking callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckDigit {
    /// The digit as written, not checked against the rest of the number.
    Unverified(u8),
}

impl CheckDigit {
    /// The digit itself, 0–9.
    pub fn digit(self) -> u8 {
        match self {
            CheckDigit::Unverified(digit) => digit,
        }
    }
}

/// A governorate code as it appears in digits 8–9 of a national ID.
///
/// Only the entries of the official table exist; get one with
/// [`Governorate::from_code`] or list them with [`Governorate::all`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Governorate {
    code: u8,
    name_en: &'static str,
    name_ar: &'static str,
}

impl Governorate {
    /// The governorate with this two-digit code, if it exists.
    pub fn from_code(code: u8) -> Option<&'static Governorate> {
        GOVERNORATES.iter().find(|g| g.code == code)
    }

    /// Every governorate code, in code order.
    pub fn all() -> &'static [Governorate] {
        &GOVERNORATES
    }

    /// The numeric code; format it with `{:02}` to get the digits as written
    /// in the national ID (`1` is written `01`).
    pub fn code(&self) -> u8 {
        self.code
    }

    /// English name, e.g. `Cairo`.
    pub fn name_en(&self) -> &'static str {
        self.name_en
    }

    /// Arabic name, e.g. `القاهرة`.
    pub fn name_ar(&self) -> &'static str {
        self.name_ar
    }
}

const fn governorate(code: u8, name_en: &'static str, name_ar: &'static str) -> Governorate {
    Governorate {
        code,
        name_en,
        name_ar,
    }
}

/// The official governorate codes of the national ID. The gaps (05–10, 20,
/// 30) are unused; 88 marks births registered abroad.
static GOVERNORATES: [Governorate; 28] = [
    governorate(1, "Cairo", "القاهرة"),
    governorate(2, "Alexandria", "الإسكندرية"),
    governorate(3, "Port Said", "بورسعيد"),
    governorate(4, "Suez", "السويس"),
    governorate(11, "Damietta", "دمياط"),
    governorate(12, "Dakahlia", "الدقهلية"),
    governorate(13, "Sharqia", "الشرقية"),
    governorate(14, "Qalyubia", "القليوبية"),
    governorate(15, "Kafr El Sheikh", "كفر الشيخ"),
    governorate(16, "Gharbia", "الغربية"),
    governorate(17, "Monufia", "المنوفية"),
    governorate(18, "Beheira", "البحيرة"),
    governorate(19, "Ismailia", "الإسماعيلية"),
    governorate(21, "Giza", "الجيزة"),
    governorate(22, "Beni Suef", "بني سويف"),
    governorate(23, "Fayoum", "الفيوم"),
    governorate(24, "Minya", "المنيا"),
    governorate(25, "Asyut", "أسيوط"),
    governorate(26, "Sohag", "سوهاج"),
    governorate(27, "Qena", "قنا"),
    governorate(28, "Aswan", "أسوان"),
    governorate(29, "Luxor", "الأقصر"),
    governorate(31, "Red Sea", "البحر الأحمر"),
    governorate(32, "New Valley", "الوادي الجديد"),
    governorate(33, "Matrouh", "مطروح"),
    governorate(34, "North Sinai", "شمال سيناء"),
    governorate(35, "South Sinai", "جنوب سيناء"),
    governorate(88, "Born abroad", "مواليد خارج الجمهورية"),
];

/// Why a typed national ID was rejected.
///
/// `Display` is the English message for the registrar; [`NidError::message_ar`]
/// is the Arabic one and [`NidError::code`] the stable code a UI branches on.
/// No variant holds the whole number, so errors are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NidError {
    /// Not 14 digits once separators are dropped; `found` is how many there were.
    #[error(
        "A national ID has 14 digits, but {found} {} found. Check the number on the card and type all 14 digits.",
        if *found == 1 { "digit was" } else { "digits were" }
    )]
    Length { found: usize },

    /// A character that is neither a digit nor an ignorable separator;
    /// `position` counts characters of the input as typed, from 1.
    #[error(
        "The national ID contains '{}' (U+{:04X}) at position {position}, which is not a digit. Type only the 14 digits.",
        character.escape_debug(),
        u32::from(*character)
    )]
    InvalidCharacter { character: char, position: usize },

    /// The first digit is not 2 (1900s) or 3 (2000s).
    #[error(
        "The first digit of a national ID is the century of birth and must be 2 (born 1900-1999) or 3 (born 2000 or later), but it is {digit}. Check the first digit."
    )]
    Century { digit: u8 },

    /// Digits 2–7 do not form a calendar date in the century given.
    #[error(
        "Digits 2-7 of the national ID give the birth date {year:04}-{month:02}-{day:02}, which is not a real date. Check these digits against the card."
    )]
    Date { year: i32, month: u32, day: u32 },

    /// The birth date is after the `today` passed to [`NationalId::parse`].
    #[error(
        "The national ID gives the birth date {birth_date}, which is after today ({today}). Check the number against the card."
    )]
    FutureDate {
        birth_date: NaiveDate,
        today: NaiveDate,
    },

    /// Digits 8–9 are not in the official governorate table.
    #[error(
        "Digits 8-9 of the national ID give the governorate code {code:02}, which does not exist. Check these two digits against the card."
    )]
    Governorate { code: u8 },
}

impl NidError {
    /// Stable snake_case code for programs and UIs to branch on. Never
    /// change an existing code: exports and translations depend on it.
    pub fn code(&self) -> &'static str {
        match self {
            NidError::Length { .. } => "nid_length",
            NidError::InvalidCharacter { .. } => "nid_invalid_character",
            NidError::Century { .. } => "nid_century",
            NidError::Date { .. } => "nid_date",
            NidError::FutureDate { .. } => "nid_future_date",
            NidError::Governorate { .. } => "nid_governorate",
        }
    }

    /// The message in Arabic, for the Egyptian registrar.
    pub fn message_ar(&self) -> String {
        match self {
            NidError::Length { found } => format!(
                "الرقم القومي 14 رقمًا، والمكتوب {found}. راجع الرقم على البطاقة واكتب الأرقام الـ14 كلها."
            ),
            NidError::InvalidCharacter {
                character,
                position,
            } => format!(
                "الرقم القومي فيه '{}' (U+{:04X}) في الخانة {position}، وهو ليس رقمًا. اكتب الأرقام الـ14 فقط.",
                character.escape_debug(),
                u32::from(*character)
            ),
            NidError::Century { digit } => format!(
                "أول رقم في الرقم القومي هو قرن الميلاد، ويجب أن يكون 2 (مواليد 1900-1999) أو 3 (مواليد 2000 وما بعدها)، لكنه {digit}. راجع أول رقم."
            ),
            NidError::Date { year, month, day } => format!(
                "الأرقام من 2 إلى 7 في الرقم القومي تعطي تاريخ الميلاد {year:04}-{month:02}-{day:02}، وهو تاريخ غير موجود. راجع هذه الأرقام على البطاقة."
            ),
            NidError::FutureDate { birth_date, today } => format!(
                "الرقم القومي يعطي تاريخ الميلاد {birth_date}، وهو بعد تاريخ اليوم ({today}). راجع الرقم على البطاقة."
            ),
            NidError::Governorate { code } => format!(
                "الرقمان 8 و9 في الرقم القومي يعطيان كود المحافظة {code:02}، وهو كود غير موجود. راجع هذين الرقمين على البطاقة."
            ),
        }
    }
}

/// Minimum length of a [`NidKey`]: the full output size of SHA-256, so the
/// key is never the weak point of the HMAC.
pub const NID_KEY_MIN_BYTES: usize = 32;

/// The organisation's secret for [`NidHash`]es.
///
/// With the key, the space of valid national IDs is small enough to search
/// exhaustively, so the key must be guarded like the numbers themselves;
/// without it, a hash reveals nothing. `Debug` never prints it.
#[derive(Clone)]
pub struct NidKey {
    /// HMAC state already keyed, so hashing 250,000 registry entries does
    /// not redo the key schedule each time.
    mac: Hmac<Sha256>,
}

impl NidKey {
    /// A key from secret bytes, at least [`NID_KEY_MIN_BYTES`] long.
    pub fn new(secret: &[u8]) -> Result<Self, NidHashError> {
        if secret.len() < NID_KEY_MIN_BYTES {
            return Err(NidHashError::KeyTooShort { len: secret.len() });
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .map_err(|_| NidHashError::KeyTooShort { len: secret.len() })?;
        Ok(Self { mac })
    }

    /// The keyed hash of a national ID's canonical digits, so the same
    /// person hashes the same however the number was typed.
    pub fn hash(&self, nid: &NationalId) -> NidHash {
        let mut mac = self.mac.clone();
        mac.update(nid.as_str().as_bytes());
        NidHash(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for NidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NidKey(<secret>)")
    }
}

/// HMAC-SHA256 of a national ID's canonical 14 digits under a [`NidKey`]:
/// what stores and synced records keep to find a person by number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NidHash([u8; 32]);

impl NidHash {
    /// Wraps 32 bytes read back from storage.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0F)]));
        }
        out
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(hex: &str) -> Result<Self, NidHashError> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return Err(NidHashError::HexLength { found: bytes.len() });
        }
        let mut out = [0u8; 32];
        for (index, (slot, chunk)) in out.iter_mut().zip(bytes.chunks_exact(2)).enumerate() {
            let nibble = |offset: usize| {
                let position = index * 2 + offset;
                chunk
                    .get(offset)
                    .and_then(|&b| char::from(b).to_digit(16))
                    .and_then(|v| u8::try_from(v).ok())
                    .ok_or(NidHashError::HexCharacter {
                        position: position + 1,
                    })
            };
            *slot = (nibble(0)? << 4) | nibble(1)?;
        }
        Ok(Self(out))
    }
}

impl fmt::Debug for NidHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NidHash({})", self.to_hex())
    }
}

/// Problems with a [`NidKey`] or a stored [`NidHash`]: configuration and
/// storage mistakes, not something a registrar typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NidHashError {
    #[error(
        "the national ID hashing key is {len} bytes; it must be at least {NID_KEY_MIN_BYTES} random bytes"
    )]
    KeyTooShort { len: usize },

    #[error("a national ID hash is 64 hex characters, but {found} bytes were given")]
    HexLength { found: usize },

    #[error("a national ID hash has a non-hex character at position {position}")]
    HexCharacter { position: usize },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The "today" of every fixed case, so the cases do not age.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
    }

    /// One line per outcome: the decoded fields of a valid ID, or the error
    /// code and variant. Comparing lines keeps each case to one row.
    fn describe(result: &Result<NationalId, NidError>) -> String {
        match result {
            Ok(nid) => format!(
                "{} born={} {} gov={:02} serial={} check={}",
                nid.as_str(),
                nid.birth_date(),
                nid.sex().as_str(),
                nid.governorate().code(),
                nid.serial(),
                nid.check_digit().digit(),
            ),
            Err(err) => format!("{} {err:?}", err.code()),
        }
    }

    #[track_caller]
    fn check_at(today: NaiveDate, input: &str, expect: &str) {
        let actual = describe(&NationalId::parse(input, today));
        assert_eq!(actual, expect, "input {input:?}");
    }

    #[track_caller]
    fn check(input: &str, expect: &str) {
        check_at(today(), input, expect);
    }

    const CAIRO_MAN: &str = "29001150101235 born=1990-01-15 male gov=01 serial=0123 check=5";

    #[test]
    fn valid_ids_decode() {
        check("29001150101235", CAIRO_MAN);
        check(
            "29001150101245",
            "29001150101245 born=1990-01-15 female gov=01 serial=0124 check=5",
        );
        check(
            "29001158801235",
            "29001158801235 born=1990-01-15 male gov=88 serial=0123 check=5",
        );
        check(
            "30502282112348",
            "30502282112348 born=2005-02-28 female gov=21 serial=1234 check=8",
        );
        check(
            "29912313599990",
            "29912313599990 born=1999-12-31 male gov=35 serial=9999 check=0",
        );
        check(
            "30001010200000",
            "30001010200000 born=2000-01-01 female gov=02 serial=0000 check=0",
        );
    }

    #[test]
    fn century_digit_picks_1900s_or_2000s() {
        check(
            "20502282112348",
            "20502282112348 born=1905-02-28 female gov=21 serial=1234 check=8",
        );
        check(
            "30502282112348",
            "30502282112348 born=2005-02-28 female gov=21 serial=1234 check=8",
        );
        check("19001150101235", "nid_century Century { digit: 1 }");
        check("49001150101235", "nid_century Century { digit: 4 }");
        check("09001150101235", "nid_century Century { digit: 0 }");
        check("99001150101235", "nid_century Century { digit: 9 }");
    }

    #[test]
    fn february_29_only_in_leap_years() {
        check(
            "30002290100011",
            "30002290100011 born=2000-02-29 male gov=01 serial=0001 check=1",
        );
        check(
            "20002290100011",
            "nid_date Date { year: 1900, month: 2, day: 29 }",
        );
        check(
            "30402290100011",
            "30402290100011 born=2004-02-29 male gov=01 serial=0001 check=1",
        );
        check(
            "30502290100011",
            "nid_date Date { year: 2005, month: 2, day: 29 }",
        );
        check(
            "29602290100011",
            "29602290100011 born=1996-02-29 male gov=01 serial=0001 check=1",
        );
        check(
            "29702290100011",
            "nid_date Date { year: 1997, month: 2, day: 29 }",
        );
    }

    #[test]
    fn impossible_dates_are_rejected() {
        check(
            "29013150101235",
            "nid_date Date { year: 1990, month: 13, day: 15 }",
        );
        check(
            "29000150101235",
            "nid_date Date { year: 1990, month: 0, day: 15 }",
        );
        check(
            "29001000101235",
            "nid_date Date { year: 1990, month: 1, day: 0 }",
        );
        check(
            "29004310101235",
            "nid_date Date { year: 1990, month: 4, day: 31 }",
        );
        check(
            "29001320101235",
            "nid_date Date { year: 1990, month: 1, day: 32 }",
        );
        check(
            "29099990101235",
            "nid_date Date { year: 1990, month: 99, day: 99 }",
        );
    }

    #[test]
    fn birth_date_may_be_today_but_not_later() {
        let today = today();
        check_at(
            today,
            "32506010100011",
            "32506010100011 born=2025-06-01 male gov=01 serial=0001 check=1",
        );
        check_at(
            today,
            "32506020100011",
            "nid_future_date FutureDate { birth_date: 2025-06-02, today: 2025-06-01 }",
        );
        check_at(
            today,
            "39912310100011",
            "nid_future_date FutureDate { birth_date: 2099-12-31, today: 2025-06-01 }",
        );
        // The same number becomes valid once its day has come.
        let later = NaiveDate::from_ymd_opt(2025, 6, 2).unwrap();
        check_at(
            later,
            "32506020100011",
            "32506020100011 born=2025-06-02 male gov=01 serial=0001 check=1",
        );
    }

    #[test]
    fn every_governorate_in_the_table_is_accepted() {
        for governorate in Governorate::all() {
            let input = format!("2900115{:02}01235", governorate.code());
            let nid = NationalId::parse(&input, today()).unwrap();
            assert_eq!(nid.governorate(), governorate, "input {input}");
            assert_eq!(
                describe(&Ok(nid)),
                format!(
                    "{input} born=1990-01-15 male gov={:02} serial=0123 check=5",
                    governorate.code()
                )
            );
        }
    }

    #[test]
    fn governorate_names_match_the_official_list() {
        let named = |code: u8| {
            let g = Governorate::from_code(code).unwrap();
            format!("{:02} {} {}", g.code(), g.name_en(), g.name_ar())
        };
        assert_eq!(named(1), "01 Cairo القاهرة");
        assert_eq!(named(2), "02 Alexandria الإسكندرية");
        assert_eq!(named(15), "15 Kafr El Sheikh كفر الشيخ");
        assert_eq!(named(21), "21 Giza الجيزة");
        assert_eq!(named(29), "29 Luxor الأقصر");
        assert_eq!(named(35), "35 South Sinai جنوب سيناء");
        assert_eq!(named(88), "88 Born abroad مواليد خارج الجمهورية");
        assert_eq!(Governorate::all().len(), 28);
        // In code order, each code once, so `from_code` finds the one entry.
        assert!(
            Governorate::all()
                .windows(2)
                .all(|w| w[0].code() < w[1].code())
        );
    }

    #[test]
    fn unknown_governorate_codes_are_rejected() {
        for code in ["00", "05", "10", "20", "30", "36", "87", "89", "99"] {
            check(
                &format!("2900115{code}01235"),
                &format!(
                    "nid_governorate Governorate {{ code: {} }}",
                    code.parse::<u8>().unwrap()
                ),
            );
        }
        let known: Vec<u8> = Governorate::all().iter().map(|g| g.code()).collect();
        for code in 0..=99u8 {
            assert_eq!(
                Governorate::from_code(code).is_some(),
                known.contains(&code)
            );
        }
    }

    #[test]
    fn other_scripts_and_separators_normalise() {
        for input in [
            // Eastern Arabic digits, as Egyptian keyboards type them.
            "٢٩٠٠١١٥٠١٠١٢٣٥",
            // Persian / Extended Arabic-Indic digits.
            "۲۹۰۰۱۱۵۰۱۰۱۲۳۵",
            // A mix of all three.
            "٢9۰0١1٥0۱0١2۳5",
            // Grouped as printed on the card, with spaces or dashes.
            "2 900115 01 0123 5",
            "2-900115-01-0123-5",
            "٢-٩٠٠١١٥-٠١-٠١٢٣-٥",
            "2 – 900115 — 01 ‐ 0123 ‑ 5",
            "2\u{2212}900115\u{FE63}01\u{FF0D}0123\u{2011}5",
            // Non-breaking, thin and ideographic spaces, tabs, a pasted newline.
            "2\u{A0}900115\u{202F}01\u{2009}0123\u{3000}5",
            "\t29001150101235\r\n",
            "  29001150101235  ",
            // Bidi marks and isolates that Arabic editors wrap around numbers.
            "\u{200F}29001150101235\u{200E}",
            "\u{2067}٢٩٠٠١١٥٠١٠١٢٣٥\u{2069}",
            "\u{061C}2\u{202B}9001150101235\u{202C}",
            "\u{202A}\u{202D}\u{202E}29001150101235\u{2066}\u{2068}",
            // Zero-width characters and a byte-order mark.
            "\u{FEFF}2900\u{200B}1150\u{200C}1012\u{200D}35\u{2060}",
            // Soft hyphen.
            "2900115\u{AD}0101235",
        ] {
            check(input, CAIRO_MAN);
        }
    }

    #[test]
    fn check_digit_is_never_a_reason_to_reject() {
        for digit in 0..=9u8 {
            let input = format!("2900115010123{digit}");
            let nid = NationalId::parse(&input, today()).unwrap();
            assert_eq!(nid.check_digit(), CheckDigit::Unverified(digit));
        }
    }

    #[test]
    fn wrong_lengths_say_how_many_digits_were_found() {
        check("", "nid_length Length { found: 0 }");
        check("   ", "nid_length Length { found: 0 }");
        check("\u{200F}-\u{200E}", "nid_length Length { found: 0 }");
        check("2", "nid_length Length { found: 1 }");
        check("2900115010123", "nid_length Length { found: 13 }");
        check("290011501012355", "nid_length Length { found: 15 }");
        check("٢٩٠٠١١٥٠١٠١٢٣", "nid_length Length { found: 13 }");
        check(
            "2900115010123529001150101235",
            "nid_length Length { found: 28 }",
        );
    }

    #[test]
    fn other_characters_are_named_with_their_position() {
        check(
            "2900115010123a",
            "nid_invalid_character InvalidCharacter { character: 'a', position: 14 }",
        );
        check(
            "2900115O101235",
            "nid_invalid_character InvalidCharacter { character: 'O', position: 8 }",
        );
        check(
            "29001150101235.",
            "nid_invalid_character InvalidCharacter { character: '.', position: 15 }",
        );
        check(
            "+29001150101235",
            "nid_invalid_character InvalidCharacter { character: '+', position: 1 }",
        );
        check(
            "٢٩٠٠١١٥٠١٠١٢٣٥ع",
            "nid_invalid_character InvalidCharacter { character: 'ع', position: 15 }",
        );
        check(
            "2900/115/0101235",
            "nid_invalid_character InvalidCharacter { character: '/', position: 5 }",
        );
        check(
            "2900115_0101235",
            "nid_invalid_character InvalidCharacter { character: '_', position: 8 }",
        );
        // Arabic tatweel and full-width digits are not digits we accept.
        check(
            "2900115\u{640}0101235",
            "nid_invalid_character InvalidCharacter { character: 'ـ', position: 8 }",
        );
        check(
            "\u{FF12}9001150101235",
            "nid_invalid_character InvalidCharacter { character: '２', position: 1 }",
        );
        check(
            "2900115\u{0}0101235",
            "nid_invalid_character InvalidCharacter { character: '\\0', position: 8 }",
        );
        // A stray character is reported before the (then wrong) length.
        check(
            "12a",
            "nid_invalid_character InvalidCharacter { character: 'a', position: 3 }",
        );
    }

    #[test]
    fn problems_are_reported_in_reading_order() {
        // Bad century, date and governorate: the century comes first.
        check("19913990001235", "nid_century Century { digit: 1 }");
        // Bad date and governorate: the date.
        check(
            "29913990001235",
            "nid_date Date { year: 1999, month: 13, day: 99 }",
        );
        // Future date and bad governorate: the date.
        check(
            "39901010001235",
            "nid_future_date FutureDate { birth_date: 2099-01-01, today: 2025-06-01 }",
        );
    }

    #[test]
    fn error_messages_name_the_problem_in_english_and_arabic() {
        let cases = [
            (
                "2900115010123",
                "nid_length",
                "but 13 digits were found",
                "والمكتوب 13",
            ),
            ("2", "nid_length", "but 1 digit was found", "والمكتوب 1."),
            (
                "29001150101x35",
                "nid_invalid_character",
                "contains 'x' (U+0078) at position 12",
                "فيه 'x' (U+0078) في الخانة 12",
            ),
            (
                "59001150101235",
                "nid_century",
                "must be 2 (born 1900-1999) or 3 (born 2000 or later), but it is 5",
                "لكنه 5",
            ),
            (
                "29002300101235",
                "nid_date",
                "birth date 1990-02-30, which is not a real date",
                "تاريخ الميلاد 1990-02-30",
            ),
            (
                "32601010101235",
                "nid_future_date",
                "birth date 2026-01-01, which is after today (2025-06-01)",
                "بعد تاريخ اليوم (2025-06-01)",
            ),
            (
                "29001150701235",
                "nid_governorate",
                "governorate code 07, which does not exist",
                "كود المحافظة 07",
            ),
        ];
        for (input, code, english, arabic) in cases {
            let err = NationalId::parse(input, today()).unwrap_err();
            assert_eq!(err.code(), code, "input {input}");
            let message = err.to_string();
            assert!(message.contains(english), "{input}: {message}");
            assert!(
                message.contains("Check") || message.contains("Type"),
                "{message}"
            );
            let message_ar = err.message_ar();
            assert!(message_ar.contains(arabic), "{input}: {message_ar}");
            assert!(
                message_ar.contains("راجع") || message_ar.contains("اكتب"),
                "{message_ar}"
            );
        }
    }

    #[test]
    fn debug_masks_all_but_the_last_four_digits() {
        let nid = NationalId::parse("29001150101235", today()).unwrap();
        assert_eq!(format!("{nid:?}"), "NationalId(**********1235)");
        let in_struct = format!("{:?}", Some(&nid));
        assert!(!in_struct.contains("2900115"), "{in_struct}");
    }

    fn key() -> NidKey {
        NidKey::new(&(0u8..32).collect::<Vec<u8>>()).unwrap()
    }

    #[test]
    fn hash_is_hmac_sha256_of_the_canonical_digits() {
        // Reference value from Python:
        // hmac.new(bytes(range(32)), b"29001150101235", hashlib.sha256).hexdigest()
        let expected = "fa60b7c1835c13b56ce5ddfb679b38c00179287429a2e60777b2358d12192a4c";
        for input in [
            "29001150101235",
            "\u{200F}٢-٩٠٠١١٥-٠١-٠١٢٣-٥",
            "2 900115 01 0123 5",
        ] {
            let nid = NationalId::parse(input, today()).unwrap();
            assert_eq!(key().hash(&nid).to_hex(), expected, "input {input:?}");
        }
        let other = NationalId::parse("29001150101245", today()).unwrap();
        assert_ne!(key().hash(&other).to_hex(), expected);
        let other_key = NidKey::new(&[7u8; 32]).unwrap();
        let nid = NationalId::parse("29001150101235", today()).unwrap();
        assert_ne!(other_key.hash(&nid).to_hex(), expected);
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert_eq!(
            NidKey::new(&[1u8; 31]).unwrap_err(),
            NidHashError::KeyTooShort { len: 31 }
        );
        assert_eq!(
            NidKey::new(b"").unwrap_err(),
            NidHashError::KeyTooShort { len: 0 }
        );
        assert!(NidKey::new(&[1u8; 64]).is_ok());
        let key = NidKey::new(b"correct horse battery staple, twice as long").unwrap();
        let debug = format!("{key:?}");
        assert_eq!(debug, "NidKey(<secret>)");
    }

    #[test]
    fn hash_hex_round_trips_and_rejects_garbage() {
        let nid = NationalId::parse("29001150101235", today()).unwrap();
        let hash = key().hash(&nid);
        assert_eq!(NidHash::from_hex(&hash.to_hex()), Ok(hash));
        assert_eq!(NidHash::from_hex(&hash.to_hex().to_uppercase()), Ok(hash));
        assert_eq!(
            NidHash::from_hex("abc"),
            Err(NidHashError::HexLength { found: 3 })
        );
        let mut bad = hash.to_hex();
        bad.replace_range(9..10, "g");
        assert_eq!(
            NidHash::from_hex(&bad),
            Err(NidHashError::HexCharacter { position: 10 })
        );
        // 64 bytes but not 64 characters: must not panic on a char boundary.
        let multibyte = "é".repeat(32);
        assert_eq!(
            NidHash::from_hex(&multibyte),
            Err(NidHashError::HexCharacter { position: 1 })
        );
    }

    /// The fields of a valid national ID, generated independently of the
    /// parser so the property tests compare against a second opinion.
    #[derive(Debug, Clone)]
    struct Fields {
        birth_date: NaiveDate,
        governorate: Governorate,
        serial: u16,
        check: u8,
    }

    impl Fields {
        fn digits(&self) -> String {
            use chrono::Datelike;
            let date = self.birth_date;
            let century = if date.year() < 2000 { 2 } else { 3 };
            format!(
                "{century}{:02}{:02}{:02}{:02}{:04}{}",
                date.year() % 100,
                date.month(),
                date.day(),
                self.governorate.code(),
                self.serial,
                self.check
            )
        }
    }

    fn fields() -> impl Strategy<Value = Fields> {
        let first = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
        let span = (today() - first).num_days();
        (
            0..=span,
            prop::sample::select(Governorate::all()),
            0u16..10_000,
            0u8..10,
        )
            .prop_map(move |(days, governorate, serial, check)| Fields {
                birth_date: first + chrono::Days::new(days.unsigned_abs()),
                governorate,
                serial,
                check,
            })
    }

    /// Characters `parse` must skip, for scattering between digits.
    const IGNORABLE: &[char] = &[
        ' ', '\u{A0}', '\t', '\u{2009}', '\u{202F}', '-', '\u{2010}', '\u{2011}', '\u{2013}',
        '\u{2014}', '\u{2212}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{202A}', '\u{202B}',
        '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        '\u{200B}', '\u{FEFF}',
    ];

    /// Writes a digit in one of the three accepted scripts.
    fn in_script(digit: char, script: u8) -> char {
        let value = digit.to_digit(10).unwrap();
        let zero = match script {
            0 => '0',
            1 => '\u{0660}',
            _ => '\u{06F0}',
        };
        char::from_u32(u32::from(zero) + value).unwrap()
    }

    proptest! {
        #[test]
        fn generated_ids_decode_to_their_fields(fields in fields()) {
            let digits = fields.digits();
            let nid = NationalId::parse(&digits, today()).unwrap();
            prop_assert_eq!(nid.as_str(), digits.as_str());
            prop_assert_eq!(nid.birth_date(), fields.birth_date);
            prop_assert_eq!(nid.governorate(), &fields.governorate);
            prop_assert_eq!(nid.serial(), format!("{:04}", fields.serial));
            prop_assert_eq!(nid.check_digit(), CheckDigit::Unverified(fields.check));
            let sex = if (fields.serial % 10) % 2 == 1 { Sex::Male } else { Sex::Female };
            prop_assert_eq!(nid.sex(), sex);
            // The canonical form parses back to the same ID.
            prop_assert_eq!(NationalId::parse(nid.as_str(), today()).unwrap(), nid);
        }

        #[test]
        fn scripts_and_separators_do_not_change_the_id_or_its_hash(
            fields in fields(),
            styling in prop::collection::vec(
                (0u8..3, prop::collection::vec(prop::sample::select(IGNORABLE), 0..3)),
                15,
            ),
        ) {
            let digits = fields.digits();
            let mut typed = String::new();
            for (digit, (script, separators)) in digits.chars().zip(&styling) {
                typed.extend(separators);
                typed.push(in_script(digit, *script));
            }
            typed.extend(&styling[14].1);

            let canonical = NationalId::parse(&digits, today()).unwrap();
            let parsed = NationalId::parse(&typed, today());
            prop_assert_eq!(parsed.as_ref(), Ok(&canonical), "typed {:?}", typed);
            let parsed = parsed.unwrap();
            prop_assert_eq!(parsed.as_str(), digits.as_str());
            prop_assert_eq!(key().hash(&parsed), key().hash(&canonical));
        }

        #[test]
        fn parse_never_panics_on_any_string(input in any::<String>()) {
            let _ = NationalId::parse(&input, today());
        }

        #[test]
        fn parse_never_panics_on_near_misses(
            input in "[0-9٠-٩۰-۹ \\-\u{200F}a.]{0,20}",
        ) {
            match NationalId::parse(&input, today()) {
                Ok(nid) => prop_assert_eq!(nid.as_str().len(), NID_DIGITS),
                Err(err) => prop_assert!(!err.message_ar().is_empty()),
            }
        }

        #[test]
        fn any_fourteen_ascii_digits_either_parse_to_themselves_or_say_why(
            input in "[0-9]{14}",
        ) {
            match NationalId::parse(&input, today()) {
                Ok(nid) => prop_assert_eq!(nid.as_str(), input.as_str()),
                Err(err) => prop_assert!(
                    matches!(
                        err,
                        NidError::Century { .. }
                            | NidError::Date { .. }
                            | NidError::FutureDate { .. }
                            | NidError::Governorate { .. }
                    ),
                    "{:?}",
                    err
                ),
            }
        }

        #[test]
        fn hash_hex_round_trips(bytes in any::<[u8; 32]>()) {
            let hash = NidHash::from_bytes(bytes);
            prop_assert_eq!(hash.to_hex().len(), 64);
            prop_assert_eq!(NidHash::from_hex(&hash.to_hex()), Ok(hash));
        }

        #[test]
        fn from_hex_never_panics(input in any::<String>()) {
            let _ = NidHash::from_hex(&input);
        }
    }
}
