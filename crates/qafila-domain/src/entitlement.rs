//! Rounds and entitlements: what a household may receive in one round.
//!
//! A rule is either a fixed amount per household, or an amount per N members
//! rounded up (one blanket per two members: a household of five gets three),
//! optionally capped per round. Rules are written as text in commands and
//! exports: `1` (per household), `1/2` (per two members), `1/person`, each
//! optionally followed by `,cap=N` — e.g. `blanket=1/2,cap=3`.

use std::fmt;
use std::str::FromStr;

use crate::ids::RoundId;
use crate::item::{ItemCode, UnknownItem};
use crate::quantity::{Quantity, QuantityError};

/// How an allowance grows with the household.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Rule {
    /// The same amount whatever the household's size.
    PerHousehold(Quantity),
    /// `qty` for every `members` people, rounded up.
    PerMembers {
        /// Amount per group.
        qty: Quantity,
        /// Group size, at least 1.
        members: u32,
    },
}

/// One item's entitlement in a round.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Entitlement {
    /// The item.
    pub item: ItemCode,
    /// How much per household.
    pub rule: Rule,
    /// The most one household may receive in the round, whatever its size.
    pub cap: Option<Quantity>,
}

impl Entitlement {
    /// What a household of `household_size` people may receive in the round.
    pub fn allowance(&self, household_size: u32) -> Quantity {
        let raw = match self.rule {
            Rule::PerHousehold(qty) => qty,
            Rule::PerMembers { qty, members } => {
                let members = members.max(1);
                let groups = household_size.div_ceil(members);
                qty.saturating_mul(u64::from(groups))
            }
        };
        match self.cap {
            Some(cap) => raw.min(cap),
            None => raw,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::PerHousehold(qty) => write!(f, "{qty}"),
            Rule::PerMembers { qty, members: 1 } => write!(f, "{qty}/person"),
            Rule::PerMembers { qty, members } => write!(f, "{qty}/{members}"),
        }
    }
}

impl fmt::Display for Entitlement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.item, self.rule)?;
        if let Some(cap) = self.cap {
            write!(f, ",cap={cap}")?;
        }
        Ok(())
    }
}

/// An entitlement written wrongly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntitlementError {
    /// No `ITEM=RULE` shape.
    #[error("`{0}` is not an entitlement: write ITEM=RULE, e.g. food_box=1 or blanket=1/2,cap=3")]
    Shape(String),
    /// The item part.
    #[error(transparent)]
    Item(#[from] UnknownItem),
    /// A quantity part.
    #[error(transparent)]
    Quantity(#[from] QuantityError),
    /// A zero amount, group or cap.
    #[error("`{0}`: amounts, group sizes and caps must be greater than zero")]
    Zero(String),
    /// A fractional amount of an item counted in whole units.
    #[error("`{0}`: this item is handed out in whole units only")]
    Fraction(String),
}

impl EntitlementError {
    /// Stable code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            EntitlementError::Item(e) => e.code(),
            EntitlementError::Quantity(e) => e.code(),
            _ => "invalid_entitlement",
        }
    }
}

impl FromStr for Entitlement {
    type Err = EntitlementError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let shape = || EntitlementError::Shape(input.to_owned());
        let (item, rest) = input.split_once('=').ok_or_else(shape)?;
        let item: ItemCode = item.parse()?;
        let mut parts = rest.split(',').map(str::trim);
        let rule_text = parts.next().filter(|r| !r.is_empty()).ok_or_else(shape)?;
        let rule = match rule_text.split_once('/') {
            None => Rule::PerHousehold(rule_text.parse()?),
            Some((qty, per)) => {
                let members = match per.trim() {
                    "person" | "p" | "member" => 1,
                    n => n.parse::<u32>().map_err(|_| shape())?,
                };
                Rule::PerMembers {
                    qty: qty.parse()?,
                    members,
                }
            }
        };
        let mut cap = None;
        for part in parts {
            let value = part.strip_prefix("cap=").ok_or_else(shape)?;
            cap = Some(value.parse::<Quantity>()?);
        }
        let (qty, members) = match rule {
            Rule::PerHousehold(qty) => (qty, 1),
            Rule::PerMembers { qty, members } => (qty, members),
        };
        if qty.is_zero() || members == 0 || cap.is_some_and(Quantity::is_zero) {
            return Err(EntitlementError::Zero(input.to_owned()));
        }
        if !item.accepts(qty) || cap.is_some_and(|c| !item.accepts(c)) {
            return Err(EntitlementError::Fraction(input.to_owned()));
        }
        Ok(Entitlement { item, rule, cap })
    }
}

/// A distribution round and its entitlements.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Round {
    /// The round's id.
    pub id: RoundId,
    /// A name people recognise ("رمضان ٢٠٢٧").
    pub name: String,
    /// At most one entitlement per item.
    pub entitlements: Vec<Entitlement>,
}

impl Round {
    /// A round with the defaults a new store starts with: one food box and
    /// one kilogram of meat per household, one blanket per two members, one
    /// check-up per person.
    pub fn with_defaults(id: RoundId, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            entitlements: vec![
                Entitlement {
                    item: ItemCode::FoodBox,
                    rule: Rule::PerHousehold(Quantity::units(1)),
                    cap: None,
                },
                Entitlement {
                    item: ItemCode::MeatKg,
                    rule: Rule::PerHousehold(Quantity::units(1)),
                    cap: None,
                },
                Entitlement {
                    item: ItemCode::Blanket,
                    rule: Rule::PerMembers {
                        qty: Quantity::units(1),
                        members: 2,
                    },
                    cap: None,
                },
                Entitlement {
                    item: ItemCode::Checkup,
                    rule: Rule::PerMembers {
                        qty: Quantity::units(1),
                        members: 1,
                    },
                    cap: None,
                },
            ],
        }
    }

    /// The entitlement for `item`, if the round has one.
    pub fn entitlement(&self, item: ItemCode) -> Option<&Entitlement> {
        self.entitlements.iter().find(|e| e.item == item)
    }

    /// What a household of `household_size` may receive of `item` in this
    /// round; zero for an item the round does not hand out.
    pub fn allowance(&self, item: ItemCode, household_size: u32) -> Quantity {
        self.entitlement(item)
            .map_or(Quantity::ZERO, |e| e.allowance(household_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str, size: u32, expect: Result<&str, &str>) {
        match (text.parse::<Entitlement>(), expect) {
            (Ok(e), Ok(allowance)) => {
                assert_eq!(
                    e.allowance(size).to_string(),
                    allowance,
                    "{text} for {size}"
                );
                let again: Entitlement = e.to_string().parse().unwrap();
                assert_eq!(again, e, "{text} round-trips through its display");
            }
            (Err(err), Err(code)) => assert_eq!(err.code(), code, "{text}: {err}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn allowances_by_rule() {
        check("food_box=1", 1, Ok("1"));
        check("food_box=1", 9, Ok("1"));
        check("meat_kg=1.5", 4, Ok("1.5"));
        check("blanket=1/2", 1, Ok("1"));
        check("blanket=1/2", 2, Ok("1"));
        check("blanket=1/2", 5, Ok("3"));
        check("blanket=1/2,cap=2", 5, Ok("2"));
        check("checkup=1/person", 6, Ok("6"));
        check("checkup=1/person,cap=4", 6, Ok("4"));
        check("hot_meal=1/1", 3, Ok("3"));
        check("meat_kg=0.5/person", 3, Ok("1.5"));
        check("food_box=2/3", 7, Ok("6"));
    }

    #[test]
    fn bad_entitlements_say_what_is_wrong() {
        check("food_box", 1, Err("invalid_entitlement"));
        check("rice=1", 1, Err("unknown_item"));
        check("food_box=x", 1, Err("invalid_quantity"));
        check("food_box=0", 1, Err("invalid_entitlement"));
        check("blanket=1/0", 1, Err("invalid_entitlement"));
        check("blanket=1/2,cap=0", 1, Err("invalid_entitlement"));
        check("blanket=1/2,max=3", 1, Err("invalid_entitlement"));
        check("food_box=1.5", 1, Err("invalid_entitlement"));
        check("food_box=", 1, Err("invalid_entitlement"));
    }

    #[test]
    fn default_round_matches_the_field_defaults() {
        let round = Round::with_defaults(RoundId::from_parts(0, [0; 10]), "default");
        assert_eq!(round.allowance(ItemCode::FoodBox, 5), Quantity::units(1));
        assert_eq!(round.allowance(ItemCode::MeatKg, 5), Quantity::units(1));
        assert_eq!(round.allowance(ItemCode::Blanket, 5), Quantity::units(3));
        assert_eq!(round.allowance(ItemCode::Checkup, 5), Quantity::units(5));
        assert_eq!(round.allowance(ItemCode::Medicine, 5), Quantity::ZERO);
    }

    proptest! {
        #[test]
        fn allowance_never_shrinks_as_the_household_grows(
            qty in 1u32..5, members in 1u32..6, cap in proptest::option::of(1u32..10), size in 0u32..40,
        ) {
            let e = Entitlement {
                item: ItemCode::Blanket,
                rule: Rule::PerMembers { qty: Quantity::units(qty), members },
                cap: cap.map(Quantity::units),
            };
            prop_assert!(e.allowance(size) <= e.allowance(size + 1));
            if let Some(cap) = cap {
                prop_assert!(e.allowance(size) <= Quantity::units(cap));
            }
        }
    }
}
