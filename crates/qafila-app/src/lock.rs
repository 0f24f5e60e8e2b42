//! How long the app may sit unlocked and unused.
//!
//! Each device keeps its own idle time in its key file (readable before the
//! store is unlocked; `qafila device lock-after`, Settings). The convoy's
//! lead can set a limit for every device of the convoy (a `LockPolicy`
//! event, synced like any other): a device then locks after the shorter of
//! the two, and refuses to be set longer, or never.

use std::path::Path;

use qafila_domain::event::EventBody;

use crate::dto::RecordedDto;
use crate::{App, AppError};

/// The idle minutes after which the app locks: the device's own setting
/// (0: never) within the lead's `policy`.
pub fn effective_minutes(own: u32, policy: Option<u32>) -> u32 {
    match policy {
        None => own,
        Some(limit) if own == 0 => limit,
        Some(limit) => own.min(limit),
    }
}

/// Sets this device's own idle time, refusing more than the lead allows.
pub fn set_device_minutes(dir: &Path, minutes: u32, policy: Option<u32>) -> Result<(), AppError> {
    if let Some(limit) = policy
        && (minutes == 0 || minutes > limit)
    {
        return Err(AppError::new(
            "lock_policy",
            format!(
                "the convoy lead lets a device sit idle for at most {limit} minutes before it locks; choose {limit} or fewer"
            ),
            format!(
                "قائد القافلة محدد إن الجهاز يتقفل بعد {limit} دقيقة من غير استخدام على الأكتر؛ اختار {limit} أو أقل"
            ),
        ));
    }
    crate::set_lock_after_minutes(dir, minutes)?;
    Ok(())
}

impl App {
    /// The lead's idle limit for the convoy's devices, if it set one.
    pub fn lock_policy(&self) -> Result<Option<u32>, AppError> {
        Ok(self.store.lock_policy()?)
    }

    /// The idle minutes after which this device locks.
    pub fn lock_after_minutes(&self, dir: &Path) -> Result<u32, AppError> {
        let own = crate::lock_after_minutes(dir)?;
        Ok(effective_minutes(own, self.lock_policy()?))
    }

    /// Sets the idle limit for every device of the convoy (the lead only;
    /// any other role is refused as `role_forbidden`).
    pub fn set_lock_policy(&self, minutes: u32) -> Result<RecordedDto, AppError> {
        let (now, _) = self.now();
        let event = self
            .store
            .record(self.volunteer, EventBody::LockPolicy { minutes }, now)?;
        Ok(RecordedDto {
            event: event.id.to_string(),
            kind: "lock_policy",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_locks_after_the_shorter_of_its_own_time_and_the_leads() {
        assert_eq!(effective_minutes(10, None), 10);
        assert_eq!(effective_minutes(0, None), 0);
        assert_eq!(effective_minutes(10, Some(5)), 5);
        assert_eq!(effective_minutes(3, Some(5)), 3);
        assert_eq!(effective_minutes(0, Some(5)), 5);
    }
}
