//! The counts `status` reads.

use super::{parse_stamp, stamp, Sqlite};
use crate::store::status::{DELIVERY_STATUSES, SUBSCRIBER_STATUSES};
use crate::store::{IssueCounts, StoreError};
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;

impl Sqlite {
    pub(crate) fn subscriber_counts(&self) -> Result<BTreeMap<&'static str, usize>, StoreError> {
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

    pub(crate) fn latest_issue_counts(&self) -> Result<Option<IssueCounts>, StoreError> {
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
            id: issue.id,
            label: issue.label,
            cutoff: issue.cutoff,
            created_at: parse_stamp(&created),
            finished_at: finished.as_deref().and_then(parse_stamp),
            articles: articles as usize,
            deliveries,
        }))
    }

    pub(crate) fn deferred_since(
        &self,
        before: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
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
