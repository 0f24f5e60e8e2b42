//! Exact quantities in thousandths, so half a kilo of meat adds up without
//! floating-point drift and every box is accounted for to the unit.

use std::fmt;
use std::str::FromStr;

/// Thousandths in one unit.
const MILLI: u64 = 1_000;

/// A non-negative amount of an item, exact to a thousandth of its unit.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(u64);

impl Quantity {
    /// Nothing.
    pub const ZERO: Quantity = Quantity(0);

    /// A whole number of units.
    pub const fn units(units: u32) -> Self {
        Self(units as u64 * MILLI)
    }

    /// An amount in thousandths of a unit (e.g. grams for kilograms).
    pub const fn from_milli(milli: u64) -> Self {
        Self(milli)
    }

    /// The amount in thousandths of a unit.
    pub const fn milli(self) -> u64 {
        self.0
    }

    /// True for zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True when the amount has no fractional part.
    pub const fn is_whole(self) -> bool {
        self.0.is_multiple_of(MILLI)
    }

    /// Sum, saturating rather than wrapping on absurd input.
    pub const fn saturating_add(self, other: Quantity) -> Quantity {
        Quantity(self.0.saturating_add(other.0))
    }

    /// Difference, never below zero.
    pub const fn saturating_sub(self, other: Quantity) -> Quantity {
        Quantity(self.0.saturating_sub(other.0))
    }

    /// Multiplies by a whole factor, saturating.
    pub const fn saturating_mul(self, factor: u64) -> Quantity {
        Quantity(self.0.saturating_mul(factor))
    }

    /// The signed balance with the same value.
    pub fn to_balance(self) -> Balance {
        Balance(i64::try_from(self.0).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_milli(f, false, self.0)
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A signed amount: stock balances and count variances can go below zero
/// when more was recorded as handed out than was ever loaded.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Balance(i64);

impl Balance {
    /// Zero.
    pub const ZERO: Balance = Balance(0);

    /// A balance in thousandths.
    pub const fn from_milli(milli: i64) -> Self {
        Self(milli)
    }

    /// The balance in thousandths.
    pub const fn milli(self) -> i64 {
        self.0
    }

    /// Adds a quantity.
    pub fn plus(self, q: Quantity) -> Balance {
        Balance(self.0.saturating_add(q.to_balance().0))
    }

    /// Subtracts a quantity.
    pub fn minus(self, q: Quantity) -> Balance {
        Balance(self.0.saturating_sub(q.to_balance().0))
    }

    /// `self - other`.
    pub fn diff(self, other: Balance) -> Balance {
        Balance(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_milli(f, self.0 < 0, self.0.unsigned_abs())
    }
}

impl fmt::Debug for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn write_milli(f: &mut fmt::Formatter<'_>, negative: bool, milli: u64) -> fmt::Result {
    let sign = if negative { "-" } else { "" };
    let (whole, frac) = (milli / MILLI, milli % MILLI);
    if frac == 0 {
        write!(f, "{sign}{whole}")
    } else {
        let digits = format!("{frac:03}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Text that is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a quantity: write a number such as 2 or 1.5 (at most three decimals)")]
pub struct QuantityError {
    input: String,
}

impl QuantityError {
    /// Stable code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        "invalid_quantity"
    }
}

/// Folds Eastern Arabic and Persian digits, and the Arabic decimal
/// separator, to ASCII: volunteers type quantities on Arabic keyboards.
fn ascii_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' | '.' => Some(c),
        '\u{0660}'..='\u{0669}' => char::from_digit(c as u32 - 0x0660, 10),
        '\u{06F0}'..='\u{06F9}' => char::from_digit(c as u32 - 0x06F0, 10),
        '\u{066B}' | ',' => Some('.'),
        _ => None,
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = || QuantityError {
            input: input.to_owned(),
        };
        let text: String = input
            .trim()
            .chars()
            .map(|c| ascii_digit(c).ok_or_else(err))
            .collect::<Result<_, _>>()?;
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text.as_str(), ""),
        };
        if whole.is_empty() && frac.is_empty() || frac.len() > 3 || frac.contains('.') {
            return Err(err());
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| err())?
        };
        let frac_milli: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}").parse().map_err(|_| err())?
        };
        whole
            .checked_mul(MILLI)
            .and_then(|m| m.checked_add(frac_milli))
            .map(Quantity)
            .ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expect: Option<u64>) {
        let got = input.parse::<Quantity>().ok().map(Quantity::milli);
        assert_eq!(got, expect, "parsing {input:?}");
    }

    #[test]
    fn parses_what_volunteers_type() {
        check("2", Some(2_000));
        check(" 12 ", Some(12_000));
        check("1.5", Some(1_500));
        check("0.25", Some(250));
        check(".5", Some(500));
        check("٢", Some(2_000));
        check("١٫٥", Some(1_500));
        check("۳", Some(3_000));
        check("1,5", Some(1_500));
        check("0", Some(0));
        check("", None);
        check(".", None);
        check("-1", None);
        check("1.2345", None);
        check("1.2.3", None);
        check("two", None);
        check("99999999999999999999", None);
    }

    #[test]
    fn displays_without_trailing_zeros() {
        assert_eq!(Quantity::from_milli(1_500).to_string(), "1.5");
        assert_eq!(Quantity::units(3).to_string(), "3");
        assert_eq!(Quantity::from_milli(250).to_string(), "0.25");
        assert_eq!(Balance::from_milli(-1_250).to_string(), "-1.25");
        assert_eq!(Balance::ZERO.to_string(), "0");
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(milli in 0u64..1_000_000_000_000) {
            let q = Quantity::from_milli(milli);
            prop_assert_eq!(q.to_string().parse::<Quantity>().unwrap(), q);
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = s.parse::<Quantity>();
        }
    }
}
