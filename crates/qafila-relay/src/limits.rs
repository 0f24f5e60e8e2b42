//! Rate limits: a token bucket per device (signed requests) or per network
//! address (enrollments, convoy creations, failed signatures), in memory
//! (each relay process limits what reaches it; behind a load balancer the
//! effective limit is per process).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use qafila_proto::Uid;

#[derive(Debug)]
pub(crate) struct RateLimiter<K = Uid> {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        Self::per_second(f64::from(per_second), burst)
    }

    pub(crate) fn per_second(per_second: f64, burst: u32) -> Self {
        RateLimiter {
            per_second: per_second.max(1e-6),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`; `Err(seconds)` says when to retry.
    pub(crate) fn take(&self, key: K) -> Result<(), u64> {
        self.bucket(key, 1.0)
    }

    /// Whether `key` has a token left, without taking it.
    pub(crate) fn check(&self, key: K) -> Result<(), u64> {
        self.bucket(key, 0.0)
    }

    fn bucket(&self, key: K, cost: f64) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Forget idle keys rather than grow without bound.
            let full = self.burst / self.per_second;
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() < full.max(60.0));
        }
        let (tokens, at) = buckets.entry(key).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= cost;
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
        let addresses = RateLimiter::<std::net::IpAddr>::per_second(0.5, 2);
        let ip = std::net::IpAddr::from([192, 0, 2, 1]);
        assert_eq!(addresses.check(ip), Ok(()));
        assert_eq!(addresses.check(ip), Ok(()), "checking takes nothing");
        assert_eq!(addresses.take(ip), Ok(()));
        assert_eq!(addresses.take(ip), Ok(()));
        assert_eq!(addresses.check(ip), Err(2));
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
