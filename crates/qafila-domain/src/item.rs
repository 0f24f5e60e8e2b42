//! The item catalogue: what a convoy hands out, in which unit, and what each
//! kind of item requires when it is recorded.

use std::fmt;
use std::str::FromStr;

use crate::quantity::Quantity;

/// An item a convoy distributes, named by a stable code used in commands,
/// exports and stored events.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemCode {
    /// A packed food box (rice, oil, sugar, pasta, lentils...).
    FoodBox,
    /// A cooked meal handed out on the spot.
    HotMeal,
    /// Fresh meat, weighed in kilograms (Eid al-Adha sacrifice shares).
    MeatKg,
    /// A winter blanket.
    Blanket,
    /// Free medicine, tracked by lot and expiry.
    Medicine,
    /// A medical check-up: a service, nothing leaves the truck.
    Checkup,
}

/// The unit an item is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// Boxes.
    Box,
    /// Meals.
    Meal,
    /// Kilograms.
    Kilogram,
    /// Single pieces.
    Piece,
    /// Packs of medicine.
    Pack,
    /// Services delivered.
    Service,
}

impl Unit {
    /// English unit name.
    pub fn name_en(self) -> &'static str {
        match self {
            Unit::Box => "box",
            Unit::Meal => "meal",
            Unit::Kilogram => "kg",
            Unit::Piece => "piece",
            Unit::Pack => "pack",
            Unit::Service => "service",
        }
    }

    /// Arabic unit name.
    pub fn name_ar(self) -> &'static str {
        match self {
            Unit::Box => "كرتونة",
            Unit::Meal => "وجبة",
            Unit::Kilogram => "كجم",
            Unit::Piece => "قطعة",
            Unit::Pack => "علبة",
            Unit::Service => "خدمة",
        }
    }
}

impl ItemCode {
    /// Every item, in catalogue order.
    pub const ALL: [ItemCode; 6] = [
        ItemCode::FoodBox,
        ItemCode::HotMeal,
        ItemCode::MeatKg,
        ItemCode::Blanket,
        ItemCode::Medicine,
        ItemCode::Checkup,
    ];

    /// The stable code (`food_box`, `meat_kg`, ...).
    pub fn code(self) -> &'static str {
        match self {
            ItemCode::FoodBox => "food_box",
            ItemCode::HotMeal => "hot_meal",
            ItemCode::MeatKg => "meat_kg",
            ItemCode::Blanket => "blanket",
            ItemCode::Medicine => "medicine",
            ItemCode::Checkup => "checkup",
        }
    }

    /// English display name.
    pub fn name_en(self) -> &'static str {
        match self {
            ItemCode::FoodBox => "Food box",
            ItemCode::HotMeal => "Hot meal",
            ItemCode::MeatKg => "Meat",
            ItemCode::Blanket => "Blanket",
            ItemCode::Medicine => "Medicine",
            ItemCode::Checkup => "Medical check-up",
        }
    }

    /// Arabic display name.
    pub fn name_ar(self) -> &'static str {
        match self {
            ItemCode::FoodBox => "كرتونة مواد غذائية",
            ItemCode::HotMeal => "وجبة ساخنة",
            ItemCode::MeatKg => "لحوم",
            ItemCode::Blanket => "بطانية",
            ItemCode::Medicine => "دواء",
            ItemCode::Checkup => "كشف طبي",
        }
    }

    /// The unit the item is counted in.
    pub fn unit(self) -> Unit {
        match self {
            ItemCode::FoodBox => Unit::Box,
            ItemCode::HotMeal => Unit::Meal,
            ItemCode::MeatKg => Unit::Kilogram,
            ItemCode::Blanket => Unit::Piece,
            ItemCode::Medicine => Unit::Pack,
            ItemCode::Checkup => Unit::Service,
        }
    }

    /// Whether the item is physical stock that is loaded, counted and
    /// reconciled. A check-up is a service: it has reach, not stock.
    pub fn is_stocked(self) -> bool {
        !matches!(self, ItemCode::Checkup)
    }

    /// Whether every movement must name a lot and its expiry date, so a
    /// recalled or expired lot can be traced to the people who received it.
    pub fn needs_lot(self) -> bool {
        matches!(self, ItemCode::Medicine)
    }

    /// Whether quantities may be fractional (meat is weighed; boxes are not
    /// cut in half).
    pub fn allows_fraction(self) -> bool {
        matches!(self, ItemCode::MeatKg)
    }

    /// Whether `qty` is a sensible amount of this item: whole units unless
    /// the item is weighed.
    pub fn accepts(self, qty: Quantity) -> bool {
        self.allows_fraction() || qty.is_whole()
    }
}

impl fmt::Display for ItemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for ItemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An item code that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown item `{input}`: use one of food_box, hot_meal, meat_kg, blanket, medicine, checkup"
)]
pub struct UnknownItem {
    input: String,
}

impl UnknownItem {
    /// Stable code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        "unknown_item"
    }
}

impl FromStr for ItemCode {
    type Err = UnknownItem;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        ItemCode::ALL
            .into_iter()
            .find(|item| item.code() == wanted)
            .ok_or_else(|| UnknownItem {
                input: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_named() {
        for item in ItemCode::ALL {
            assert_eq!(item.code().parse::<ItemCode>().unwrap(), item);
        }
        assert_eq!("Food-Box".parse::<ItemCode>().unwrap(), ItemCode::FoodBox);
        let err = "rice".parse::<ItemCode>().unwrap_err();
        assert!(err.to_string().contains("rice"));
        assert_eq!(err.code(), "unknown_item");
    }

    #[test]
    fn catalogue_rules() {
        assert!(!ItemCode::Checkup.is_stocked());
        assert!(ItemCode::Blanket.is_stocked());
        assert!(ItemCode::Medicine.needs_lot());
        assert!(!ItemCode::FoodBox.needs_lot());
        assert!(ItemCode::MeatKg.accepts(Quantity::from_milli(1_500)));
        assert!(!ItemCode::FoodBox.accepts(Quantity::from_milli(1_500)));
        assert!(ItemCode::FoodBox.accepts(Quantity::units(2)));
        assert_eq!(ItemCode::MeatKg.unit(), Unit::Kilogram);
    }
}
