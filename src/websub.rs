//! WebSub (W3C Recommendation, 2018): after a build, tell the hub which
//! feeds changed, so subscribers' readers fetch them at once instead of
//! at their next poll. A hub that is down costs a warning, never a build.

use crate::backoff::Backoff;
use std::time::Duration;

/// Attempts per feed.
const ATTEMPTS: u32 = 3;
/// The waits between attempts: 500 ms, doubled each time. One request
/// at a time goes to the hub, so there are no retries to spread apart.
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(500));
/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long announcing may take in all: a build (and the cron run behind
/// it) never waits longer on a hub.
const DEADLINE: Duration = Duration::from_secs(60);

/// What notifying did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HubReport {
    /// Feeds the hub accepted.
    pub notified: usize,
    /// Feeds it could not be told about.
    pub failed: usize,
}

/// Whether `path` (relative to `output_dir`) is a feed a hub serves.
pub fn is_feed(path: &str) -> bool {
    path.ends_with("/rss.xml") || path.ends_with("/atom.xml") || path.ends_with("/feed.json")
}

/// Sends `hub.mode=publish` with each of `feed_urls` to `hub`, one request
/// a feed (the form every hub accepts), retrying network errors, 429 and
/// 5xx answers with backoff.
pub fn notify(hub: &str, feed_urls: &[String]) -> HubReport {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("broadsheet/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut report = HubReport::default();
    let started = std::time::Instant::now();
    for (i, url) in feed_urls.iter().enumerate() {
        if started.elapsed() > DEADLINE {
            report.failed += feed_urls.len() - i;
            tracing::warn!(
                hub,
                "WebSub: out of time; {} changed feeds not announced",
                feed_urls.len() - i
            );
            break;
        }
        let mut last = String::new();
        let mut ok = false;
        let mut unreachable = false;
        for attempt in 1..=ATTEMPTS {
            match agent
                .post(hub)
                .send_form([("hub.mode", "publish"), ("hub.url", url.as_str())])
            {
                Ok(r) if r.status().is_success() => {
                    ok = true;
                    break;
                }
                Ok(r) => {
                    let status = r.status();
                    last = format!("the hub answered {status}");
                    // A hub in trouble (5xx) or asking us to slow down
                    // (429) through every attempt would answer the other
                    // feeds the same way.
                    unreachable = status.is_server_error() || status.as_u16() == 429;
                    if !unreachable {
                        break;
                    }
                }
                Err(e) => {
                    last = e.to_string();
                    unreachable = true;
                }
            }
            if attempt < ATTEMPTS {
                std::thread::sleep(BACKOFF.delay(attempt - 1, 0));
            }
        }
        if ok {
            report.notified += 1;
        } else if unreachable {
            // Down (or refusing for now) through every attempt: the other
            // feeds would only wait the same way.
            report.failed += feed_urls.len() - i;
            tracing::warn!(
                hub,
                "WebSub hub unreachable ({last}); {} changed feeds not announced",
                feed_urls.len() - i
            );
            break;
        } else {
            report.failed += 1;
            tracing::warn!(hub, feed = %url, "WebSub hub not told of a changed feed: {last}");
        }
    }
    report
}
