//! Per-device rate limits: a token bucket per device, in memory (each relay
//! process limits what reaches it; behind a load balancer the effective
//! limit is per process).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use qafila_proto::Uid;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<Uid, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `device`; `Err(seconds)` says when to retry.
    pub(crate) fn take(&self, device: Uid) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Forget idle devices rather than grow without bound.
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 60);
        }
        let (tokens, at) = buckets.entry(device).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / self.per_second).ceil();
            Err(if wait.is_finite() && wait >= 1.0 {
                wait as u64
            } else {
                1
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_per_device() {
        let limiter = RateLimiter::new(1, 3);
        let a = Uid([1; 16]);
        for _ in 0..3 {
            assert_eq!(limiter.take(a), Ok(()));
        }
        assert!(limiter.take(a).is_err());
        assert_eq!(limiter.take(Uid([2; 16])), Ok(()));
    }
}
