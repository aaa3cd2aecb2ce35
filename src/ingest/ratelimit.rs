//! A token bucket per source IP. The table of buckets is bounded: a bucket that has refilled
//! completely holds no state worth keeping and is the first to go when the table is full.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Most source IPs tracked at once.
const MAX_SOURCES: usize = 65_536;

/// Per-source-IP token buckets of one listener.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `burst` messages at once, refilled at `per_second`.
    pub fn new(per_second: f64, burst: u32) -> Self {
        RateLimiter {
            per_second,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `ip`'s bucket; false when it is empty.
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, Instant::now())
    }

    fn allow_at(&self, ip: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&ip) {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.refilled(now, per_second, burst) < burst);
            if buckets.len() >= MAX_SOURCES {
                // Every tracked source is being limited; an untracked one starts full.
                return true;
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        bucket.tokens = bucket.refilled(now, self.per_second, self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Bucket {
    fn refilled(&self, now: Instant, per_second: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * per_second).min(burst)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn burst_then_refill_at_the_rate() {
        let limiter = RateLimiter::new(10.0, 3);
        let t0 = Instant::now();
        let allowed = (0..5).filter(|_| limiter.allow_at(A, t0)).count();
        assert_eq!(allowed, 3);
        // 10 per second: one token after 100 ms, not before.
        assert!(!limiter.allow_at(A, t0 + Duration::from_millis(50)));
        assert!(limiter.allow_at(A, t0 + Duration::from_millis(160)));
        assert!(!limiter.allow_at(A, t0 + Duration::from_millis(170)));
    }

    #[test]
    fn each_source_has_its_own_bucket() {
        let limiter = RateLimiter::new(1.0, 1);
        let t0 = Instant::now();
        assert!(limiter.allow_at(A, t0));
        assert!(!limiter.allow_at(A, t0));
        assert!(limiter.allow_at(B, t0));
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = RateLimiter::new(1.0, 1);
        let t0 = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 10) {
            limiter.allow_at(IpAddr::V4(i.into()), t0);
        }
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_SOURCES);
        // Once the old buckets have refilled they make room for new sources.
        let later = t0 + Duration::from_secs(5);
        assert!(limiter.allow_at(B, later));
        assert!(!limiter.allow_at(B, later));
    }
}
