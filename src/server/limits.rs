//! How many emails one address, or one client, may make the service send.
//!
//! A sliding window per key, counted in the state (`Store::count_email`):
//! every instance of `serve` sharing the state, and one restarted, sees
//! the same counts. Keys are hashed, so the state never holds an address
//! or a client's IP for this.

use sha2::{Digest, Sha256};

/// At most `max` events per `window_seconds` for each key.
pub(super) struct Limiter {
    /// Names the limit in each key, so two limits never share a count.
    name: &'static str,
    pub(super) max: u32,
    pub(super) window_seconds: i64,
}

impl Limiter {
    /// A limiter allowing `max` events per window.
    pub(super) fn new(name: &'static str, max: u32, window_seconds: i64) -> Limiter {
        Limiter {
            name,
            max,
            window_seconds,
        }
    }

    /// The stored key for `key`: this limit's name and a hash.
    pub(super) fn key(&self, key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        format!("{}:{}", self.name, crate::names::hex(&digest[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::fresh_stores;

    #[test]
    fn a_key_is_held_to_its_limit_until_the_window_moves_on_every_backend() {
        for fresh in fresh_stores() {
            let mut store = fresh.open();
            let l = Limiter::new("to", 2, 60);
            let mut allow = |k: &str, at: i64| {
                store
                    .count_email(&l.key(k), at, l.window_seconds, l.max)
                    .unwrap()
            };
            assert!(allow("a", 0), "{}", fresh.backend);
            assert!(allow("a", 10));
            assert!(!allow("a", 20));
            assert!(allow("b", 20));
            assert!(allow("a", 61));
            // A second connection (another instance) sees the same count.
            let mut other = fresh.open();
            assert!(!other
                .count_email(&l.key("a"), 62, l.window_seconds, l.max)
                .unwrap());
        }
    }

    #[test]
    fn keys_never_hold_what_they_count() {
        let l = Limiter::new("to", 2, 60);
        let k = l.key("to:reader@example.com");
        assert!(k.starts_with("to:") && !k.contains("reader"), "{k}");
        assert_ne!(k, Limiter::new("ip", 2, 60).key("to:reader@example.com"));
    }
}
