//! Pacing: at most `smtp.rate_limit_per_second` messages a second over
//! every worker together, by handing out start times one interval apart.

use tokio::time::Instant;

/// Waits between messages to keep under a rate.
pub(super) struct RateLimit {
    interval: Option<std::time::Duration>,
    next: tokio::sync::Mutex<Instant>,
}

impl RateLimit {
    /// At most `per_second` messages a second; 0: no limit.
    pub(super) fn new(per_second: f64) -> RateLimit {
        RateLimit {
            interval: (per_second > 0.0)
                .then(|| std::time::Duration::from_secs_f64(1.0 / per_second)),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Returns when the next message may start.
    pub(super) async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}
