//! Identifiers: UUIDv7 newtypes, one per kind of thing, so a household id can
//! never be passed where a beneficiary id is expected.
//!
//! UUIDv7 sorts by creation time, which keeps SQLite indexes append-mostly and
//! makes ids readable in logs. Creating one needs the time and ten random
//! bytes; this crate never reads either, so callers pass them to
//! [`EventId::from_parts`] and friends.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// An id string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a valid id: expected a UUID such as 0190c2d4-5b1e-7cc3-9e3a-8f1d2c3b4a59"
)]
pub struct IdError {
    input: String,
}

impl IdError {
    /// Stable code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        "invalid_id"
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A UUIDv7 from a Unix time in milliseconds and ten random bytes,
            /// both supplied by the caller (this crate reads no clock and no RNG).
            pub fn from_parts(unix_ms: u64, random: [u8; 10]) -> Self {
                Self(uuid::Builder::from_unix_timestamp_millis(unix_ms, &random).into_uuid())
            }

            /// Wraps an existing UUID, e.g. one read back from storage.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// Rebuilds the id from its 16 stored bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The 16 bytes, for compact storage.
            pub const fn to_bytes(self) -> [u8; 16] {
                self.0.into_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| IdError { input: s.to_owned() })
            }
        }
    };
}

uuid_id!(
    /// One immutable event.
    EventId
);
uuid_id!(
    /// A phone or laptop running Qafila; the single writer of its own log.
    DeviceId
);
uuid_id!(
    /// A volunteer or lead acting on a device.
    VolunteerId
);
uuid_id!(
    /// One registered person.
    BeneficiaryId
);
uuid_id!(
    /// A household: the unit entitlements are counted against.
    HouseholdId
);
uuid_id!(
    /// A distribution point in a village on a convoy's route.
    SiteId
);
uuid_id!(
    /// A distribution round (e.g. "Ramadan 2027"), with its entitlements.
    RoundId
);
uuid_id!(
    /// A convoy: the scope devices sync within.
    ConvoyId
);

/// A beneficiary card's serial number. Short on purpose: it is printed on the
/// card for people to read out, and it travels inside the QR payload.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CardSerial(u64);

impl CardSerial {
    /// Wraps a serial number.
    pub const fn new(serial: u64) -> Self {
        Self(serial)
    }

    /// The number itself.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardSerial({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_ids_sort_by_time_then_randomness() {
        let early = EventId::from_parts(1_700_000_000_000, [0xff; 10]);
        let late = EventId::from_parts(1_700_000_000_001, [0; 10]);
        assert!(early < late);
        assert_eq!(early.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn ids_round_trip_through_text_and_bytes() {
        let id = HouseholdId::from_parts(1_767_225_600_000, [7; 10]);
        let text = id.to_string();
        assert_eq!(text.parse::<HouseholdId>().unwrap(), id);
        assert_eq!(HouseholdId::from_bytes(id.to_bytes()), id);
        assert!(format!("{id:?}").starts_with("HouseholdId("));
    }

    #[test]
    fn a_malformed_id_is_a_clear_error() {
        let err = "not-a-uuid".parse::<SiteId>().unwrap_err();
        assert_eq!(err.code(), "invalid_id");
        assert!(err.to_string().contains("not-a-uuid"));
    }
}
