//! The counts `status` reads.

use super::Postgres;
use crate::store::status::{DELIVERY_STATUSES, SUBSCRIBER_STATUSES};
use crate::store::{parse_stamp, stamp, IssueCounts, StoreError};
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;

impl Postgres {
    pub(crate) fn subscriber_counts(&self) -> Result<BTreeMap<&'static str, usize>, StoreError> {
        let mut counts: BTreeMap<&'static str, usize> =
            SUBSCRIBER_STATUSES.iter().map(|s| (*s, 0)).collect();
        let rows = self.read(|c| {
            c.query(
                "SELECT status, count(*) FROM subscribers GROUP BY status",
                &[],
            )
        })?;
        for row in rows {
            let status: String = row.get(0);
            if let Some(key) = SUBSCRIBER_STATUSES.iter().find(|s| **s == status) {
                counts.insert(key, row.get::<_, i64>(1) as usize);
            }
        }
        Ok(counts)
    }

    pub(crate) fn latest_issue_counts(&self) -> Result<Option<IssueCounts>, StoreError> {
        let Some(issue) = self.latest_issue()? else {
            return Ok(None);
        };
        let (head, rows) = self.read(|c| {
            let head = c.query_one(
                "SELECT i.created_at, i.finished_at,
                        (SELECT count(*) FROM issue_articles a WHERE a.issue_id = i.id)
                 FROM issues i WHERE i.id = $1",
                &[&issue.id],
            )?;
            let rows = c.query(
                "SELECT status, count(*) FROM deliveries WHERE issue_id = $1 GROUP BY status",
                &[&issue.id],
            )?;
            Ok((head, rows))
        })?;
        let mut deliveries: BTreeMap<&'static str, usize> =
            DELIVERY_STATUSES.iter().map(|s| (*s, 0)).collect();
        for row in rows {
            let status: String = row.get(0);
            if let Some(key) = DELIVERY_STATUSES.iter().find(|s| **s == status) {
                deliveries.insert(key, row.get::<_, i64>(1) as usize);
            }
        }
        let created: String = head.get(0);
        let finished: Option<String> = head.get(1);
        Ok(Some(IssueCounts {
            id: issue.id,
            label: issue.label,
            cutoff: issue.cutoff,
            created_at: parse_stamp(&created),
            finished_at: finished.as_deref().and_then(parse_stamp),
            articles: head.get::<_, i64>(2) as usize,
            deliveries,
        }))
    }

    pub(crate) fn deferred_since(
        &self,
        before: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        self.read(|c| {
            c.query_one(
                "SELECT count(*) FROM deliveries WHERE status = 'deferred' AND updated_at < $1",
                &[&stamp(before)],
            )
        })
        .map(|r| r.get::<_, i64>(0) as usize)
    }
}
