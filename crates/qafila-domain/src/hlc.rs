//! Hybrid logical clock: a timestamp that follows wall time when phones agree
//! and stays causal when they do not.
//!
//! A phone's clock is often wrong by minutes or days (no network, a dead
//! battery, a hand-set date). Ordering events by the wall clock alone would
//! let a wrong clock reorder a revocation and the card use that came after it.
//! An HLC timestamp never goes backwards on one device and is always later
//! than anything the device has seen from others. The caller passes the
//! current wall time in; this module never reads it.

use std::fmt;

/// Bits of [`Timestamp::to_u64`] given to the logical counter.
const COUNTER_BITS: u32 = 16;
/// The largest wall time that still packs into 48 bits (year 10889).
const MAX_WALL_MS: u64 = (1 << (64 - COUNTER_BITS)) - 1;

/// A hybrid logical timestamp: wall milliseconds, then a counter that orders
/// events within the same millisecond. Ties between devices are broken by the
/// event id wherever a total order is needed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    wall_ms: u64,
    counter: u16,
}

impl Timestamp {
    /// The timestamp before every other one.
    pub const ZERO: Timestamp = Timestamp {
        wall_ms: 0,
        counter: 0,
    };

    /// A timestamp from its parts; the wall time is clamped to 48 bits.
    pub const fn new(wall_ms: u64, counter: u16) -> Self {
        let wall_ms = if wall_ms > MAX_WALL_MS {
            MAX_WALL_MS
        } else {
            wall_ms
        };
        Self { wall_ms, counter }
    }

    /// Milliseconds since the Unix epoch, as the issuing device believed.
    pub const fn wall_ms(self) -> u64 {
        self.wall_ms
    }

    /// The logical counter within that millisecond.
    pub const fn counter(self) -> u16 {
        self.counter
    }

    /// Packs into one integer with the same order, for an indexed column.
    pub const fn to_u64(self) -> u64 {
        (self.wall_ms << COUNTER_BITS) | self.counter as u64
    }

    /// Unpacks [`Timestamp::to_u64`].
    pub const fn from_u64(packed: u64) -> Self {
        Self {
            wall_ms: packed >> COUNTER_BITS,
            counter: (packed & ((1 << COUNTER_BITS) - 1)) as u16,
        }
    }

    /// The next timestamp after this one.
    fn successor(self) -> Self {
        match self.counter.checked_add(1) {
            Some(counter) => Self::new(self.wall_ms, counter),
            // Sixty-five thousand events in one millisecond: borrow the next
            // millisecond rather than ever repeating a timestamp.
            None => Self::new(self.wall_ms.saturating_add(1), 0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.wall_ms, self.counter)
    }
}

/// A remote timestamp too far ahead of this device's wall clock to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a record is dated {ahead_ms} ms ahead of this device's clock (limit {limit_ms} ms); \
     check the date and time settings of both devices"
)]
pub struct ClockError {
    /// How far ahead the remote timestamp was.
    pub ahead_ms: u64,
    /// The drift this clock accepts.
    pub limit_ms: u64,
}

/// One device's hybrid logical clock.
#[derive(Debug, Clone)]
pub struct Clock {
    last: Timestamp,
    max_drift_ms: u64,
}

impl Clock {
    /// Ten minutes: phones correct their clocks by their relay's
    /// (`qafila_app::time`), so a stamp further ahead than this is a wrong
    /// clock, flagged rather than adopted.
    pub const DEFAULT_MAX_DRIFT_MS: u64 = 10 * 60 * 1000;

    /// A clock that continues after `last`, the newest timestamp this device
    /// has issued or seen (read back from its store at start-up).
    pub fn new(last: Timestamp) -> Self {
        Self {
            last,
            max_drift_ms: Self::DEFAULT_MAX_DRIFT_MS,
        }
    }

    /// Sets how far ahead of the local wall clock a remote timestamp may be.
    pub fn with_max_drift(mut self, max_drift_ms: u64) -> Self {
        self.max_drift_ms = max_drift_ms;
        self
    }

    /// The newest timestamp issued or observed.
    pub fn last(&self) -> Timestamp {
        self.last
    }

    /// A timestamp for a new local event at wall time `now_ms`: later than
    /// every timestamp before it while those are within the drift limit of
    /// `now_ms`. A clock that once ran ahead (or took in a stamp from a
    /// phone that did) returns to `now_ms` as soon as that is right again,
    /// instead of carrying the future time forward for good.
    pub fn tick(&mut self, now_ms: u64) -> Timestamp {
        let now = Timestamp::new(now_ms, 0);
        self.last =
            if now > self.last || self.last.wall_ms() > now_ms.saturating_add(self.max_drift_ms) {
                now
            } else {
                self.last.successor()
            };
        self.last
    }

    /// Takes in a timestamp received from another device, so that the next
    /// local event sorts after it. A timestamp implausibly far in the future
    /// is refused rather than dragging this clock along with it.
    pub fn observe(&mut self, remote: Timestamp, now_ms: u64) -> Result<(), ClockError> {
        let ahead_ms = remote.wall_ms().saturating_sub(now_ms);
        if ahead_ms > self.max_drift_ms {
            return Err(ClockError {
                ahead_ms,
                limit_ms: self.max_drift_ms,
            });
        }
        if remote > self.last {
            self.last = remote;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn follows_the_wall_clock_when_it_moves_forward() {
        let mut clock = Clock::new(Timestamp::ZERO);
        assert_eq!(clock.tick(1_000), Timestamp::new(1_000, 0));
        assert_eq!(clock.tick(2_000), Timestamp::new(2_000, 0));
    }

    #[test]
    fn never_goes_backwards_when_the_wall_clock_does() {
        let mut clock = Clock::new(Timestamp::ZERO);
        clock.tick(5_000);
        assert_eq!(clock.tick(4_000), Timestamp::new(5_000, 1));
        assert_eq!(clock.tick(5_000), Timestamp::new(5_000, 2));
    }

    #[test]
    fn sorts_after_what_it_observed_from_a_device_ahead_of_it() {
        let mut clock = Clock::new(Timestamp::ZERO);
        clock.observe(Timestamp::new(9_000, 4), 8_000).unwrap();
        assert_eq!(clock.tick(8_500), Timestamp::new(9_000, 5));
    }

    #[test]
    fn refuses_a_timestamp_beyond_the_allowed_drift() {
        let mut clock = Clock::new(Timestamp::ZERO).with_max_drift(1_000);
        let err = clock.observe(Timestamp::new(10_000, 0), 5_000).unwrap_err();
        assert_eq!(err.ahead_ms, 5_000);
        assert_eq!(clock.last(), Timestamp::ZERO);
    }

    #[test]
    fn returns_to_true_time_once_it_was_ahead_beyond_the_drift() {
        let day = 86_400_000;
        let mut clock = Clock::new(Timestamp::ZERO);
        // A record made while the phone's clock said tomorrow...
        clock.tick(2 * day);
        // ...does not drag today's next record into tomorrow.
        assert_eq!(clock.tick(day), Timestamp::new(day, 0));
        // Within the drift the clock still never goes back.
        assert_eq!(clock.tick(day - 1_000), Timestamp::new(day, 1));
    }

    #[test]
    fn counter_overflow_borrows_the_next_millisecond() {
        let mut clock = Clock::new(Timestamp::new(7, u16::MAX));
        assert_eq!(clock.tick(0), Timestamp::new(8, 0));
    }

    proptest! {
        #[test]
        fn ticks_increase_unless_the_clock_ran_ahead_beyond_the_drift(
            walls in proptest::collection::vec(0u64..1_000_000, 1..200),
            observed in proptest::collection::vec((0u64..1_000_000, any::<u16>()), 0..20),
        ) {
            let mut clock = Clock::new(Timestamp::ZERO);
            let mut previous = Timestamp::ZERO;
            for (i, wall) in walls.iter().enumerate() {
                if let Some((w, c)) = observed.get(i) {
                    let _ = clock.observe(Timestamp::new(*w, *c), *wall);
                }
                let ahead = clock.last().wall_ms() > wall + Clock::DEFAULT_MAX_DRIFT_MS;
                let next = clock.tick(*wall);
                if ahead {
                    prop_assert_eq!(next, Timestamp::new(*wall, 0));
                } else {
                    prop_assert!(next > previous);
                }
                prop_assert!(next >= clock.last());
                prop_assert!(next.wall_ms() <= wall + Clock::DEFAULT_MAX_DRIFT_MS + 1);
                previous = next;
            }
        }

        #[test]
        fn packing_preserves_value_and_order(a in 0u64..MAX_WALL_MS, ac: u16, b in 0u64..MAX_WALL_MS, bc: u16) {
            let (x, y) = (Timestamp::new(a, ac), Timestamp::new(b, bc));
            prop_assert_eq!(Timestamp::from_u64(x.to_u64()), x);
            prop_assert_eq!(x.cmp(&y), x.to_u64().cmp(&y.to_u64()));
        }
    }
}
