//! How long to wait before trying something again: exponential backoff
//! with an optional jitter, shared by the digest's sender and WebSub's
//! announcements so both space their retries the same way.
//!
//! The jitter comes from a function of a key (a delivery's number, say)
//! and the attempt, not from a random source: the waits of one run can be
//! reproduced, and a test can put in a source of its own.

use std::time::Duration;

/// Where a jitter comes from: a fraction in `[0, 1)` for a key and an
/// attempt.
pub type JitterSource = fn(key: u64, attempt: u32) -> f64;

/// Waits that double from a first one, stretched by up to `spread` of
/// themselves so that retries started together drift apart.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    first: Duration,
    spread: f64,
    source: JitterSource,
}

/// A jitter spread evenly over its range, from the key and the attempt:
/// neighbouring keys get different waits, and the same key and attempt
/// always the same one.
pub fn keyed(key: u64, attempt: u32) -> f64 {
    (key.wrapping_mul(7919).wrapping_add(u64::from(attempt)) % 100) as f64 / 100.0
}

fn none(_key: u64, _attempt: u32) -> f64 {
    0.0
}

impl Backoff {
    /// Waits of `first`, then twice that, and so on, with no jitter.
    pub const fn new(first: Duration) -> Backoff {
        Backoff {
            first,
            spread: 0.0,
            source: none,
        }
    }

    /// The same waits, each made longer by `spread` (0.5: up to half of
    /// itself) times what `source` gives.
    pub const fn with_jitter(self, spread: f64, source: JitterSource) -> Backoff {
        Backoff {
            spread,
            source,
            ..self
        }
    }

    /// The wait after failed attempt `attempt` (0 for the wait after the
    /// first try) of the thing known by `key`.
    pub fn delay(&self, attempt: u32, key: u64) -> Duration {
        let jitter = 1.0 + self.spread * (self.source)(key, attempt);
        // 2^attempt in floating point: no overflow however many attempts
        // a caller allows; `mul_f64` saturates instead of panicking.
        let factor = 2f64.powi(attempt.min(i32::MAX as u32) as i32) * jitter;
        Duration::try_from_secs_f64(self.first.as_secs_f64() * factor).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_first_without_jitter() {
        let b = Backoff::new(Duration::from_millis(500));
        let waits: Vec<u128> = (0..4).map(|a| b.delay(a, 7).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000]);
    }

    #[test]
    fn a_jitter_source_of_ones_stretches_each_wait_by_the_spread() {
        let b = Backoff::new(Duration::from_millis(100)).with_jitter(0.5, |_, _| 1.0);
        assert_eq!(b.delay(0, 1).as_millis(), 150);
        assert_eq!(b.delay(2, 1).as_millis(), 600);
    }

    #[test]
    fn the_keyed_jitter_is_the_same_for_the_same_key_and_differs_between_neighbours() {
        let b = Backoff::new(Duration::from_secs(1)).with_jitter(0.5, keyed);
        assert_eq!(b.delay(1, 42), b.delay(1, 42));
        assert_ne!(b.delay(1, 42), b.delay(1, 43));
        for key in 0..200 {
            let d = b.delay(0, key);
            assert!(
                d >= Duration::from_secs(1) && d < Duration::from_millis(1500),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_huge_attempt_count_saturates_instead_of_panicking() {
        let b = Backoff::new(Duration::from_secs(30));
        assert_eq!(b.delay(u32::MAX, 0), Duration::MAX);
    }
}
