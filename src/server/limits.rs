//! How many emails one address, or one client, may make the service send.
//!
//! A sliding window per key, in memory: a restart forgets it, which costs
//! at most one more window's worth of emails. Keys are hashed, so the table
//! never holds an address in clear.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Entries past which expired keys are swept out.
const SWEEP_AT: usize = 10_000;

/// At most `max` events per `window_seconds` for each key.
pub(super) struct Limiter {
    max: u32,
    window_seconds: i64,
    hits: Mutex<HashMap<[u8; 16], VecDeque<i64>>>,
}

impl Limiter {
    /// A limiter allowing `max` events per window.
    pub(super) fn new(max: u32, window_seconds: i64) -> Limiter {
        Limiter {
            max,
            window_seconds,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an event for `key` at `now` (Unix seconds) if the key is
    /// under its limit; returns whether it was.
    pub(super) fn allow(&self, key: &str, now: i64) -> bool {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        let since = now - self.window_seconds;
        let mut hits = self.hits.lock().expect("limiter lock");
        if hits.len() >= SWEEP_AT {
            hits.retain(|_, times| times.back().is_some_and(|t| *t > since));
        }
        let times = hits.entry(id).or_default();
        while times.front().is_some_and(|t| *t <= since) {
            times.pop_front();
        }
        if times.len() >= self.max as usize {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_held_to_its_limit_until_the_window_moves() {
        let l = Limiter::new(2, 60);
        assert!(l.allow("a", 0));
        assert!(l.allow("a", 10));
        assert!(!l.allow("a", 20));
        assert!(l.allow("b", 20));
        assert!(l.allow("a", 61));
    }
}
