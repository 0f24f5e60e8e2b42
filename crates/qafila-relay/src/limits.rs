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

/// Nonces of requests seen within the time window, in memory: generations
/// of `window` each, the last three kept, so a nonce is remembered at least
/// `2 × window` — longer than any request's signature stays valid.
#[derive(Debug)]
pub(crate) struct Nonces {
    window: u64,
    generations: Mutex<std::collections::VecDeque<(u64, std::collections::HashSet<[u8; 16]>)>>,
}

impl Nonces {
    pub(crate) fn new(window_ms: u64) -> Self {
        Nonces {
            window: window_ms.max(1),
            generations: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Remembers `nonce`; `false` when it was already remembered.
    pub(crate) fn insert(&self, nonce: [u8; 16], now_ms: u64) -> bool {
        let generation = now_ms / self.window;
        let mut generations = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        while generations
            .front()
            .is_some_and(|(g, _)| g.saturating_add(2) < generation)
        {
            generations.pop_front();
        }
        if generations.iter().any(|(_, seen)| seen.contains(&nonce)) {
            return false;
        }
        if generations.back().is_none_or(|(g, _)| *g < generation) {
            generations.push_back((generation, std::collections::HashSet::new()));
        }
        if let Some((_, seen)) = generations.back_mut() {
            seen.insert(nonce);
        }
        true
    }
}

#[cfg(test)]
mod nonce_tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_while_its_window_lasts_and_forgotten_after() {
        let nonces = Nonces::new(1_000);
        assert!(nonces.insert([1; 16], 10_000));
        assert!(!nonces.insert([1; 16], 10_500));
        assert!(!nonces.insert([1; 16], 12_900), "still within two windows");
        assert!(nonces.insert([2; 16], 12_900));
        assert!(nonces.insert([1; 16], 13_001), "three windows later");
    }
}
