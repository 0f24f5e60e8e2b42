//! Which clock decides what (`ARCHITECTURE.md`, "Time").
//!
//! A phone records with its *best time*: its own clock, corrected by the
//! offset its convoy's relay showed it (kept in the store while the phone's
//! clock runs on from that moment), or — with no fresh word from the relay —
//! its own clock judged against what it recorded before and against the
//! convoy's start. When the best time is not the phone's own, the phone
//! notes it once per episode (`ClockNoted`); the lead sees a `clock_wrong`
//! anomaly. The day a record is filed on is the convoy's day of that best
//! time ([`qafila_domain::convoy_time::ConvoyTime`]), never the phone's own
//! calendar date.

use chrono::NaiveDate;
pub use qafila_domain::convoy_time::ConvoyTime;
use qafila_domain::event::{ClockDoubt, EventBody};
use qafila_domain::ids::SiteId;
use qafila_store::clock::RelayClock;

use crate::{App, AppError};

/// How far a phone's clock may be from its relay's, or behind its own last
/// record, and still be taken as it is.
pub const TOLERANCE_MS: u64 = 2 * 60 * 1000;
/// How long a relay's offset is used for after it was learnt (the phone's
/// clock may be reset or set by hand in between, and nothing else says so).
pub const REFERENCE_LIFE_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// How far a clock error must move to be a new episode (a new note).
pub const EPISODE_MS: u64 = 10 * 60 * 1000;
/// A clock more than this before the convoy was created is wrong.
const BEFORE_CONVOY_MS: u64 = 24 * 60 * 60 * 1000;

/// What the phone knows besides its own clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence {
    /// The convoy relay's clock, as last seen.
    pub relay: Option<RelayClock>,
    /// The newest time this phone recorded or took in (its hybrid clock).
    pub last_ms: u64,
    /// When the phone's convoy was created.
    pub convoy_born_ms: Option<u64>,
    /// The clock error noted for the episode under way, if any.
    pub noted_error_ms: Option<i64>,
}

/// The time to record with, and why it is not the phone's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judged {
    /// Milliseconds since the Unix epoch.
    pub best_ms: u64,
    /// `Some`: the phone's clock is wrong, and this episode's error (best
    /// minus phone) is the second field. `None` with `continuing`: an
    /// episode already noted goes on.
    pub doubt: Option<(ClockDoubt, i64)>,
    /// An episode noted before goes on (its correction still applies).
    pub continuing: bool,
}

fn shift(ms: u64, by: i64) -> u64 {
    ms.saturating_add_signed(by)
}

/// Judges the phone's clock reading `phone_ms` (pure: see the module).
pub fn judge(phone_ms: u64, evidence: Evidence) -> Judged {
    let wrong = |best_ms: u64, doubt: ClockDoubt| Judged {
        best_ms,
        doubt: Some((
            doubt,
            i64::try_from(best_ms).unwrap_or(i64::MAX) - i64::try_from(phone_ms).unwrap_or(0),
        )),
        continuing: false,
    };
    let right = Judged {
        best_ms: phone_ms,
        doubt: None,
        continuing: false,
    };
    // A relay's word holds while the phone's clock has run on from it.
    if let Some(relay) = evidence.relay
        && phone_ms.saturating_add(TOLERANCE_MS) >= relay.learnt_ms
        && phone_ms <= relay.learnt_ms.saturating_add(REFERENCE_LIFE_MS)
    {
        return if relay.offset_ms.unsigned_abs() > TOLERANCE_MS {
            wrong(shift(phone_ms, relay.offset_ms), ClockDoubt::RelaySaid)
        } else {
            right
        };
    }
    let last = evidence.last_ms;
    if phone_ms.saturating_add(TOLERANCE_MS) >= last {
        if let Some(born) = evidence.convoy_born_ms
            && phone_ms.saturating_add(BEFORE_CONVOY_MS) < born
        {
            return wrong(born.max(last), ClockDoubt::BeforeConvoy);
        }
        return right;
    }
    // Behind what this phone already recorded: an episode under way keeps
    // its correction while that stays consistent; otherwise this is a new
    // jump back, and the last known time is the best there is.
    if let Some(error) = evidence.noted_error_ms {
        let corrected = shift(phone_ms, error);
        if corrected.saturating_add(TOLERANCE_MS) >= last {
            return Judged {
                best_ms: corrected,
                doubt: None,
                continuing: true,
            };
        }
    }
    wrong(last, ClockDoubt::WentBack)
}

/// A convoy's time settings from what a lead typed: an IANA zone and the
/// day's end as `HH:MM`.
pub fn convoy_time(zone: &str, day_ends: &str) -> Result<ConvoyTime, AppError> {
    let refused = |e: qafila_domain::convoy_time::TimeError| {
        AppError::new(
            "invalid_convoy_time",
            e.to_string(),
            format!("إعداد الوقت مش صحيح: {e}. اكتب منطقة زي Africa/Cairo ونهاية اليوم زي 04:00"),
        )
    };
    ConvoyTime::new(zone, ConvoyTime::parse_day_end(day_ends).map_err(refused)?).map_err(refused)
}

/// A span of time as people say it: (English, Arabic).
pub fn span(ms: u64) -> (String, String) {
    let minutes = ms / 60_000;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let mut en = Vec::new();
    let mut ar = Vec::new();
    if days > 0 {
        en.push(format!("{days} d"));
        ar.push(format!("{days} يوم"));
    }
    if hours > 0 {
        en.push(format!("{hours} h"));
        ar.push(format!("{hours} ساعة"));
    }
    if minutes > 0 || (days == 0 && hours == 0) {
        en.push(format!("{minutes} min"));
        ar.push(format!("{minutes} دقيقة"));
    }
    (en.join(" "), ar.join(" و"))
}

/// When a convoy was created: its id is a UUIDv7 made then.
pub(crate) fn born_ms(convoy: &[u8; 16]) -> u64 {
    let mut ms = [0u8; 8];
    ms[2..].copy_from_slice(&convoy[..6]);
    u64::from_be_bytes(ms)
}

impl App {
    /// The convoy's day now, by this phone's best time.
    pub fn today(&self) -> NaiveDate {
        self.now().1
    }

    /// The convoy's time settings (this device's newest convoy, or the
    /// defaults outside any convoy).
    pub fn convoy_time(&self) -> ConvoyTime {
        self.newest_convoy()
            .map(|(time, _)| time)
            .unwrap_or_default()
    }

    /// The newest convoy's time settings and creation time.
    fn newest_convoy(&self) -> Option<(ConvoyTime, u64)> {
        self.store
            .convoys()
            .ok()
            .and_then(|c| c.into_iter().next())
            .map(|c| (c.time, born_ms(&c.id)))
    }

    /// What this phone knows besides its clock, and the convoy's time.
    fn evidence(&self) -> (Evidence, ConvoyTime) {
        let (relay, noted_error_ms) = self.store.clock_reference().unwrap_or_default();
        let convoy = self.newest_convoy();
        let evidence = Evidence {
            relay,
            last_ms: self.store.last_stamp().map_or(0, |t| t.wall_ms()),
            convoy_born_ms: convoy.map(|(_, born)| born),
            noted_error_ms,
        };
        (evidence, convoy.map(|(time, _)| time).unwrap_or_default())
    }

    /// The best time and the convoy's day of it, noting the phone's clock
    /// as wrong (once per episode) when it is. Never fails: a phone never
    /// refuses to serve a family because of its clock.
    pub(crate) fn now(&self) -> (u64, NaiveDate) {
        let (best, _, time) = self.judged_now();
        (best, time.day_of(best))
    }

    /// The best time, whether the phone's own clock is in doubt, and the
    /// convoy's time settings.
    fn judged_now(&self) -> (u64, bool, ConvoyTime) {
        let phone_ms = (self.clock)();
        let (evidence, time) = self.evidence();
        let judged = judge(phone_ms, evidence);
        match judged.doubt {
            Some((doubt, error)) => {
                let new_episode = evidence
                    .noted_error_ms
                    .is_none_or(|noted| noted.abs_diff(error) > EPISODE_MS);
                if new_episode {
                    let noted = self.store.record(
                        self.volunteer,
                        EventBody::ClockNoted {
                            phone_ms,
                            best_ms: judged.best_ms,
                            doubt,
                        },
                        judged.best_ms,
                    );
                    if noted.is_ok() {
                        let _ = self.store.set_noted_clock_error(Some(error));
                    }
                }
            }
            None if !judged.continuing && evidence.noted_error_ms.is_some() => {
                let _ = self.store.set_noted_clock_error(None);
            }
            None => {}
        }
        (
            judged.best_ms,
            judged.doubt.is_some() || judged.continuing,
            time,
        )
    }

    /// The best time and the day a record at `site` is filed on: the
    /// site-day the lead opened there (until it is closed) when it is
    /// within a day of the convoy's day now — or whatever the convoy's day
    /// now, when this phone's clock is in doubt —, else the convoy's day
    /// now.
    pub(crate) fn now_at(&self, site: SiteId) -> Result<(u64, NaiveDate), AppError> {
        let (best, doubted, time) = self.judged_now();
        let today = time.day_of(best);
        let day = match self.open_site_day(site)? {
            Some((open, _))
                if doubted || open.signed_duration_since(today).num_days().abs() <= 1 =>
            {
                open
            }
            _ => today,
        };
        Ok((best, day))
    }

    /// The newest site-day the lead opened at `site` and has not closed,
    /// with its name.
    pub(crate) fn open_site_day(
        &self,
        site: SiteId,
    ) -> Result<Option<(NaiveDate, String)>, AppError> {
        let closes = self.store.day_closes()?;
        let closed = |day: NaiveDate| {
            closes.iter().any(
                |e| matches!(&e.body, EventBody::DayClose { site: s, day: d, .. } if *s == site && *d == day),
            )
        };
        Ok(self
            .store
            .site_days_opened()?
            .into_iter()
            .filter_map(|e| match e.body {
                EventBody::SiteDayOpened {
                    site: s,
                    day,
                    label,
                } if s == site => Some((day, label)),
                _ => None,
            })
            .filter(|(day, _)| !closed(*day))
            .max_by_key(|(day, _)| *day))
    }

    /// Remembers what the convoy's relay said of the time (after a sync or
    /// an enrolment with it) and notes the phone's clock at once if wrong.
    /// The app does this itself; tools that sync through `qafila_sync`
    /// directly call it with the report's `relay_clock`.
    pub fn learn_relay_clock(&self, relay: &str, offset_ms: Option<i64>) {
        let Some(offset_ms) = offset_ms else { return };
        let learnt_ms = (self.clock)();
        if self
            .store
            .note_relay_clock(
                relay,
                RelayClock {
                    offset_ms,
                    learnt_ms,
                },
            )
            .is_ok()
        {
            let _ = self.now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_100_000_000;
    const HOUR: i64 = 3_600_000;

    fn relay(offset_ms: i64, learnt_ms: u64) -> Option<RelayClock> {
        Some(RelayClock {
            offset_ms,
            learnt_ms,
        })
    }

    #[test]
    fn a_relay_corrects_a_wrong_clock_while_the_clock_runs_on() {
        let phone = 946_713_600_000; // 2000-01-01 08:00 UTC
        let offset = i64::try_from(NOW - phone).unwrap();
        let evidence = Evidence {
            relay: relay(offset, phone),
            ..Evidence::default()
        };
        let judged = judge(phone + 60_000, evidence);
        assert_eq!(judged.best_ms, NOW + 60_000);
        assert_eq!(judged.doubt, Some((ClockDoubt::RelaySaid, offset)));
        // A few seconds off is no episode.
        let close = judge(
            NOW,
            Evidence {
                relay: relay(5_000, NOW),
                ..Evidence::default()
            },
        );
        assert_eq!(close.best_ms, NOW);
        assert_eq!(close.doubt, None);
    }

    #[test]
    fn a_clock_set_right_by_hand_leaves_an_old_offset_behind() {
        let phone = 946_713_600_000;
        let evidence = Evidence {
            relay: relay(i64::try_from(NOW - phone).unwrap(), phone),
            last_ms: NOW,
            ..Evidence::default()
        };
        // Twenty-six years "later" the offset no longer applies.
        assert_eq!(judge(NOW + 1_000, evidence).best_ms, NOW + 1_000);
        // A clock that went back since the relay spoke falls back on the
        // last record.
        let judged = judge(
            NOW - 10 * 86_400_000,
            Evidence {
                relay: relay(0, NOW),
                last_ms: NOW,
                ..Evidence::default()
            },
        );
        assert_eq!(judged.best_ms, NOW);
        assert_eq!(judged.doubt.unwrap().0, ClockDoubt::WentBack);
    }

    #[test]
    fn a_battery_reset_keeps_its_correction_for_the_episode() {
        let reset = 946_684_800_000; // 2000-01-01 00:00 UTC
        let first = judge(
            reset,
            Evidence {
                last_ms: NOW,
                ..Evidence::default()
            },
        );
        let (doubt, error) = first.doubt.unwrap();
        assert_eq!((first.best_ms, doubt), (NOW, ClockDoubt::WentBack));
        // An hour on, the same episode: the correction runs with the clock.
        let later = judge(
            reset + 3_600_000,
            Evidence {
                last_ms: NOW + 5,
                noted_error_ms: Some(error),
                ..Evidence::default()
            },
        );
        assert_eq!(later.best_ms, NOW + 3_600_000);
        assert!(later.continuing && later.doubt.is_none());
    }

    #[test]
    fn a_clock_before_the_convoy_began_is_wrong() {
        let judged = judge(
            NOW - 3 * 86_400_000,
            Evidence {
                convoy_born_ms: Some(NOW),
                ..Evidence::default()
            },
        );
        assert_eq!(judged.best_ms, NOW);
        assert_eq!(judged.doubt.unwrap().0, ClockDoubt::BeforeConvoy);
        // A phone a day ahead, once the relay has spoken, is corrected.
        let fast = judge(
            NOW + 86_400_000,
            Evidence {
                relay: relay(-24 * HOUR, NOW + 86_400_000),
                last_ms: NOW + 86_400_000,
                ..Evidence::default()
            },
        );
        assert_eq!(fast.best_ms, NOW);
    }

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(15 * 60_000).0, "15 min");
        assert_eq!(span(26 * 3_600_000 + 60_000).0, "1 d 2 h 1 min");
        assert_eq!(span(2 * 3_600_000).1, "2 ساعة");
    }
}
