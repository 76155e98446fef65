//! What `status` reads from the state: counts, never anything that changes.

use super::{parse_stamp, stamp, Store, StoreError};
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;

/// The newest issue and how its deliveries stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCounts {
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

const DELIVERY_STATUSES: [&str; 6] = ["queued", "sending", "sent", "deferred", "failed", "unknown"];
const SUBSCRIBER_STATUSES: [&str; 4] = ["active", "pending", "unsubscribed", "bounced"];

impl Store {
    /// Subscribers by status; every status is present.
    pub fn subscriber_counts(&self) -> Result<BTreeMap<&'static str, usize>, StoreError> {
        let mut counts: BTreeMap<&'static str, usize> =
            SUBSCRIBER_STATUSES.iter().map(|s| (*s, 0)).collect();
        let mut stmt = self
            .conn
            .prepare("SELECT status, count(*) FROM subscribers GROUP BY status")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (status, n) = row.map_err(|e| self.err(e))?;
            if let Some(key) = SUBSCRIBER_STATUSES.iter().find(|s| **s == status) {
                counts.insert(key, n as usize);
            }
        }
        Ok(counts)
    }

    /// The newest issue with its counts.
    pub fn latest_issue_counts(&self) -> Result<Option<IssueCounts>, StoreError> {
        let Some(issue) = self.latest_issue()? else {
            return Ok(None);
        };
        let (created, finished, articles): (String, Option<String>, i64) = self
            .conn
            .query_row(
                "SELECT i.created_at, i.finished_at,
                        (SELECT count(*) FROM issue_articles a WHERE a.issue_id = i.id)
                 FROM issues i WHERE i.id = ?1",
                [issue.id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.err(e))?;
        let mut deliveries: BTreeMap<&'static str, usize> =
            DELIVERY_STATUSES.iter().map(|s| (*s, 0)).collect();
        let mut stmt = self
            .conn
            .prepare("SELECT status, count(*) FROM deliveries WHERE issue_id = ?1 GROUP BY status")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([issue.id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (status, n) = row.map_err(|e| self.err(e))?;
            if let Some(key) = DELIVERY_STATUSES.iter().find(|s| **s == status) {
                deliveries.insert(key, n as usize);
            }
        }
        Ok(Some(IssueCounts {
            label: issue.label,
            cutoff: issue.cutoff,
            created_at: parse_stamp(&created),
            finished_at: finished.as_deref().and_then(parse_stamp),
            articles: articles as usize,
            deliveries,
        }))
    }

    /// Deliveries, in any issue, deferred and not tried again since
    /// `before`: mail that is stuck.
    pub fn deferred_since(&self, before: DateTime<FixedOffset>) -> Result<usize, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM deliveries WHERE status = 'deferred' AND updated_at < ?1",
                [stamp(before)],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }
}
