//! Per-originator rate limits: a token bucket for each originator that
//! refills at a steady rate up to a burst size. A request that finds its
//! bucket empty is refused (see [`crate::pipeline`] for the answer).
//!
//! Memory is bounded: at most [`MAX_TRACKED`] buckets are kept. When the map
//! is full, buckets that have refilled completely are dropped first (they
//! hold no state a new bucket would not have); failing that, the one unused
//! longest.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Most originators tracked at once.
pub const MAX_TRACKED: usize = 100_000;

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    capacity: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `per_second` 0 turns the limiter off; `burst` 0 means one second's worth.
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        Self::with_capacity(per_second, burst, MAX_TRACKED)
    }

    fn with_capacity(per_second: u32, burst: u32, capacity: usize) -> RateLimiter {
        let burst = if burst == 0 { per_second } else { burst };
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            capacity: capacity.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.per_second > 0.0
    }

    /// Take one token for `key`; `Err(wait)` when there is none, with how
    /// long until there will be one.
    pub fn admit(&self, key: &str) -> Result<(), Duration> {
        self.admit_at(key, Instant::now())
    }

    fn admit_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let mut buckets = self.buckets.lock();
        if !buckets.contains_key(key) && buckets.len() >= self.capacity {
            self.make_room(&mut buckets, now);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            Err(Duration::from_secs_f64(missing / self.per_second))
        }
    }

    fn make_room(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let full_after = Duration::from_secs_f64(self.burst / self.per_second);
        buckets.retain(|_, b| now.saturating_duration_since(b.refilled) < full_after);
        if buckets.len() >= self.capacity {
            let oldest = buckets
                .iter()
                .min_by_key(|(_, b)| b.refilled)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                buckets.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_admits_everything() {
        let limiter = RateLimiter::new(0, 0);
        for _ in 0..1000 {
            assert!(limiter.admit("C1").is_ok());
        }
    }

    #[test]
    fn burst_then_refill() {
        let limiter = RateLimiter::new(10, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.admit_at("C1", start).is_ok());
        }
        let wait = limiter.admit_at("C1", start).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        assert!(limiter.admit_at("C2", start).is_ok(), "buckets are per key");
        let later = start + Duration::from_millis(100);
        assert!(limiter.admit_at("C1", later).is_ok(), "one token back");
        assert!(limiter.admit_at("C1", later).is_err());
        let much_later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(
                limiter.admit_at("C1", much_later).is_ok(),
                "refilled to burst only"
            );
        }
        assert!(limiter.admit_at("C1", much_later).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let limiter = RateLimiter::with_capacity(1, 1, 3);
        let start = Instant::now();
        for key in ["a", "b", "c"] {
            assert!(limiter.admit_at(key, start).is_ok());
        }
        // all three are still refilling: the one unused longest goes
        let soon = start + Duration::from_millis(10);
        assert!(limiter.admit_at("d", soon).is_ok());
        assert_eq!(limiter.tracked(), 3);
        // once refilled, buckets carry nothing and are dropped together
        let later = start + Duration::from_secs(5);
        assert!(limiter.admit_at("e", later).is_ok());
        assert_eq!(limiter.tracked(), 1);
    }
}
