//! What a day close signs: the site, the day, what the lead had from each
//! device, the devices the lead closed without, and every figure of the day.
//!
//! The bytes are a plain, versioned text, one fact per line, so the same
//! events give the same bytes on every device and a person can read what
//! was signed. The signature itself is made and checked by the crate that
//! holds the keys; this module only says what is signed.

use chrono::NaiveDate;

use crate::fold::StockLine;
use crate::hlc::Timestamp;
use crate::ids::{DeviceId, SiteId};
use crate::item::ItemCode;

/// The first line of every signed close, naming the layout.
pub const SIGNED_HEADER: &str = "qafila-day-close/1";

/// One item's figures for the day, as the close fixes them.
pub type Figure<'a> = (ItemCode, &'a StockLine);

/// The bytes a day close signs. `covered` and `outstanding` are sorted here,
/// so the caller's order does not matter.
pub fn signed_bytes(
    site: SiteId,
    day: NaiveDate,
    covered: &[(DeviceId, Timestamp)],
    outstanding: &[DeviceId],
    figures: &[Figure<'_>],
) -> Vec<u8> {
    let mut covered = covered.to_vec();
    covered.sort();
    let mut outstanding = outstanding.to_vec();
    outstanding.sort();
    let mut figures = figures.to_vec();
    figures.sort_by_key(|(item, _)| *item);
    let mut out = format!("{SIGNED_HEADER}\nsite {site}\nday {day}\n");
    for (device, at) in covered {
        out.push_str(&format!("covered {device} {}\n", at.to_u64()));
    }
    for device in outstanding {
        out.push_str(&format!("outstanding {device}\n"));
    }
    for (item, line) in figures {
        out.push_str(&format!(
            "item {} opening {} loaded {} in {} out {} handed_out {} returned {} lost {} expected {} counted {} reason {}\n",
            item.code(),
            line.opening,
            line.loaded,
            line.transferred_in,
            line.transferred_out,
            line.handed_out,
            line.returned,
            line.lost,
            line.expected(),
            line.counted.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            line.count
                .and_then(|(_, r)| r)
                .map_or("-", |r| r.code()),
        ));
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::Quantity;

    #[test]
    fn order_of_inputs_does_not_change_the_bytes_and_every_figure_is_in_them() {
        let site = SiteId::from_parts(1, [1; 10]);
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let a = DeviceId::from_parts(1, [2; 10]);
        let b = DeviceId::from_parts(1, [3; 10]);
        let boxes = StockLine {
            loaded: Quantity::units(100),
            handed_out: Quantity::units(40),
            counted: Some(Quantity::units(59)),
            ..StockLine::default()
        };
        let meat = StockLine {
            loaded: Quantity::units(10),
            ..StockLine::default()
        };
        let one = signed_bytes(
            site,
            day,
            &[(a, Timestamp::new(5, 0)), (b, Timestamp::new(6, 0))],
            &[b, a],
            &[(ItemCode::FoodBox, &boxes), (ItemCode::MeatKg, &meat)],
        );
        let two = signed_bytes(
            site,
            day,
            &[(b, Timestamp::new(6, 0)), (a, Timestamp::new(5, 0))],
            &[a, b],
            &[(ItemCode::MeatKg, &meat), (ItemCode::FoodBox, &boxes)],
        );
        assert_eq!(one, two);
        let text = String::from_utf8(one).unwrap();
        assert!(text.starts_with("qafila-day-close/1\n"), "{text}");
        assert!(text.contains("handed_out 40"), "{text}");
        assert!(text.contains("expected 60 counted 59"), "{text}");
        let changed = StockLine {
            handed_out: Quantity::units(41),
            ..boxes.clone()
        };
        assert_ne!(
            signed_bytes(site, day, &[], &[], &[(ItemCode::FoodBox, &boxes)]),
            signed_bytes(site, day, &[], &[], &[(ItemCode::FoodBox, &changed)])
        );
    }
}
