//! The convoy's day and the convoy's clock face.
//!
//! A convoy works in one place and one time zone, whatever zone its phones
//! are set to: the plan names the zone (an IANA name, `Africa/Cairo` by
//! default) and the hour its working day ends (an evening that runs past
//! midnight stays one day: by default, until 04:00). Dates are computed here
//! with the time-zone data built into Qafila, never the phone's own zone
//! database, so a phone set to UTC, or one whose zone data predates Egypt's
//! return to daylight saving time in 2023, files every record on the same
//! day as every other phone.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Why a convoy's time settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not a time zone Qafila knows.
    #[error("unknown time zone {0:?}: use an IANA name such as Africa/Cairo")]
    UnknownZone(String),
    /// Not a time of day, or later than noon.
    #[error("the day's end {0:?} is not a time between 00:00 and 12:00 (e.g. 04:00)")]
    BadDayEnd(String),
}

/// When a convoy's day begins and ends, and how its clocks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvoyTime {
    zone: Tz,
    day_ends: u16,
}

impl Default for ConvoyTime {
    fn default() -> Self {
        ConvoyTime {
            zone: chrono_tz::Africa::Cairo,
            day_ends: Self::DEFAULT_DAY_ENDS,
        }
    }
}

impl ConvoyTime {
    /// The zone of a convoy whose plan names none.
    pub const DEFAULT_ZONE: &'static str = "Africa/Cairo";
    /// Minutes after midnight at which a day ends when the plan says
    /// nothing: 04:00, so an evening distribution is one day.
    pub const DEFAULT_DAY_ENDS: u16 = 4 * 60;
    /// The latest a day may end: noon.
    pub const LATEST_DAY_END: u16 = 12 * 60;

    /// A zone by IANA name and a day's end in minutes after midnight.
    pub fn new(zone: &str, day_ends: u16) -> Result<ConvoyTime, TimeError> {
        let zone = zone
            .trim()
            .parse::<Tz>()
            .map_err(|_| TimeError::UnknownZone(zone.trim().to_owned()))?;
        if day_ends > Self::LATEST_DAY_END {
            return Err(TimeError::BadDayEnd(format!(
                "{:02}:{:02}",
                day_ends / 60,
                day_ends % 60
            )));
        }
        Ok(ConvoyTime { zone, day_ends })
    }

    /// Parses a day's end written `HH:MM` (Eastern Arabic digits too).
    pub fn parse_day_end(text: &str) -> Result<u16, TimeError> {
        let western = crate::digits::to_western(text.trim());
        let bad = || TimeError::BadDayEnd(text.trim().to_owned());
        let (h, m) = western.split_once(':').ok_or_else(bad)?;
        let (h, m) = (
            h.parse::<u16>().map_err(|_| bad())?,
            m.parse::<u16>().map_err(|_| bad())?,
        );
        if m >= 60 || h * 60 + m > Self::LATEST_DAY_END {
            return Err(bad());
        }
        Ok(h * 60 + m)
    }

    /// The zone's IANA name.
    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }

    /// Minutes after midnight at which the day ends.
    pub fn day_ends(&self) -> u16 {
        self.day_ends
    }

    /// The day's end as `HH:MM`.
    pub fn day_ends_text(&self) -> String {
        format!("{:02}:{:02}", self.day_ends / 60, self.day_ends % 60)
    }

    /// `ms` (since the Unix epoch) on the convoy's clocks.
    pub fn local(&self, ms: u64) -> DateTime<Tz> {
        let utc = DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
            .unwrap_or_default();
        utc.with_timezone(&self.zone)
    }

    /// The convoy's day that `ms` belongs to: its local date, or the day
    /// before until the day's end.
    pub fn day_of(&self, ms: u64) -> NaiveDate {
        let local = self.local(ms).naive_local() - Duration::minutes(i64::from(self.day_ends));
        local.date()
    }

    /// The first moment of `day` (ms since the Unix epoch): its local
    /// date's end-of-day hour, or the first valid moment after it when the
    /// clocks jump over it.
    pub fn day_start_ms(&self, day: NaiveDate) -> u64 {
        let start = day.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(self.day_ends));
        // A spring-forward gap skips at most an hour or two: walk forward
        // to the first local time that exists.
        let mut probe = start;
        for _ in 0..=180 {
            if let Some(first) = self.zone.from_local_datetime(&probe).earliest() {
                return u64::try_from(first.timestamp_millis()).unwrap_or(0);
            }
            probe += Duration::minutes(1);
        }
        u64::try_from(start.and_utc().timestamp_millis()).unwrap_or(0)
    }

    /// How people read `ms`: local date and time with the offset in force
    /// at that moment (`2026-10-29 23:40 +03:00`).
    pub fn format(&self, ms: u64) -> String {
        let local = self.local(ms);
        let offset = local.offset().fix().local_minus_utc();
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.unsigned_abs();
        format!(
            "{} {sign}{:02}:{:02}",
            local.format("%Y-%m-%d %H:%M"),
            offset / 3600,
            offset % 3600 / 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> u64 {
        u64::try_from(
            DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .timestamp_millis(),
        )
        .unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn an_evening_past_midnight_is_one_day() {
        let cairo = ConvoyTime::default();
        // Winter, Cairo is UTC+2.
        assert_eq!(cairo.day_of(ms("2026-12-01T21:58:00Z")), date(2026, 12, 1));
        assert_eq!(cairo.day_of(ms("2026-12-01T22:01:00Z")), date(2026, 12, 1));
        assert_eq!(cairo.day_of(ms("2026-12-02T01:59:00Z")), date(2026, 12, 1));
        assert_eq!(cairo.day_of(ms("2026-12-02T02:00:00Z")), date(2026, 12, 2));
        let midnight = ConvoyTime::new("Africa/Cairo", 0).unwrap();
        assert_eq!(
            midnight.day_of(ms("2026-12-01T22:01:00Z")),
            date(2026, 12, 2)
        );
    }

    #[test]
    fn the_2026_daylight_saving_transitions_in_cairo() {
        let cairo = ConvoyTime::new("Africa/Cairo", 0).unwrap();
        // 24 April: 00:00 becomes 01:00. 23:30 on the 23rd is UTC+2.
        assert_eq!(
            cairo.format(ms("2026-04-23T21:30:00Z")),
            "2026-04-23 23:30 +02:00"
        );
        assert_eq!(
            cairo.format(ms("2026-04-23T22:00:00Z")),
            "2026-04-24 01:00 +03:00"
        );
        assert_eq!(cairo.day_of(ms("2026-04-23T22:30:00Z")), date(2026, 4, 24));
        // The day starts at the first moment that exists: 01:00.
        assert_eq!(
            cairo.day_start_ms(date(2026, 4, 24)),
            ms("2026-04-23T22:00:00Z")
        );
        // 29 October: 24:00 becomes 23:00, the hour 23:00-24:00 twice.
        assert_eq!(
            cairo.format(ms("2026-10-29T20:40:00Z")),
            "2026-10-29 23:40 +03:00"
        );
        assert_eq!(
            cairo.format(ms("2026-10-29T21:40:00Z")),
            "2026-10-29 23:40 +02:00"
        );
        assert_eq!(cairo.day_of(ms("2026-10-29T21:40:00Z")), date(2026, 10, 29));
        assert_eq!(cairo.day_of(ms("2026-10-29T22:00:00Z")), date(2026, 10, 30));
        // A summer hand-out between 00:00 and 01:00 is that day's, not the
        // day before (a phone without the 2023 rule would say 23:xx).
        assert_eq!(cairo.day_of(ms("2026-07-14T21:30:00Z")), date(2026, 7, 15));
    }

    #[test]
    fn a_day_end_reads_in_either_digits_and_stays_before_noon() {
        assert_eq!(ConvoyTime::parse_day_end("04:00"), Ok(240));
        assert_eq!(ConvoyTime::parse_day_end("٠٣:٣٠"), Ok(210));
        assert!(ConvoyTime::parse_day_end("13:00").is_err());
        assert!(ConvoyTime::parse_day_end("4").is_err());
        assert!(ConvoyTime::new("Mars/Olympus", 0).is_err());
        assert!(ConvoyTime::new("Africa/Cairo", 721).is_err());
        let utc = ConvoyTime::new("UTC", 0).unwrap();
        assert_eq!(utc.format(0), "1970-01-01 00:00 +00:00");
    }
}
