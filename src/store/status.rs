//! What `status` reads from the state: counts, never anything that changes.

use super::{Backend, Store, StoreError};
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;

/// The newest issue and how its deliveries stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCounts {
    /// Its id.
    pub id: i64,
    /// The ISO week label.
    pub label: String,
    /// The scheduled time it was made for.
    pub cutoff: DateTime<FixedOffset>,
    /// When it was begun.
    pub created_at: Option<DateTime<FixedOffset>>,
    /// When its last delivery was settled, if it was.
    pub finished_at: Option<DateTime<FixedOffset>>,
    /// Articles it carries.
    pub articles: usize,
    /// Deliveries by status (`queued`, `sending`, `sent`, `deferred`,
    /// `failed`, `unknown`); every status is present.
    pub deliveries: BTreeMap<&'static str, usize>,
}

/// Every delivery status, as stored.
pub(crate) const DELIVERY_STATUSES: [&str; 6] =
    ["queued", "sending", "sent", "deferred", "failed", "unknown"];
/// Every subscriber status, as stored.
pub(crate) const SUBSCRIBER_STATUSES: [&str; 5] =
    ["active", "pending", "unsubscribed", "bounced", "complained"];

/// Subscriber counts of a publication with no state yet: every status, 0.
pub fn no_subscriber_counts() -> BTreeMap<&'static str, usize> {
    SUBSCRIBER_STATUSES.iter().map(|s| (*s, 0)).collect()
}

impl Store {
    /// Subscribers by status; every status is present.
    pub fn subscriber_counts(&self) -> Result<BTreeMap<&'static str, usize>, StoreError> {
        on_backend!(self, db => db.subscriber_counts())
    }

    /// The newest issue with its counts.
    pub fn latest_issue_counts(&self) -> Result<Option<IssueCounts>, StoreError> {
        on_backend!(self, db => db.latest_issue_counts())
    }

    /// Deliveries, in any issue, deferred and not tried again since
    /// `before`: mail that is stuck.
    pub fn deferred_since(&self, before: DateTime<FixedOffset>) -> Result<usize, StoreError> {
        on_backend!(self, db => db.deferred_since(before))
    }
}
