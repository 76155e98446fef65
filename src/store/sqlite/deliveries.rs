//! The deliveries' statements.

use super::{stamp, subscribers, Sqlite};
use crate::store::{DeliveryRow, DeliveryStatus, Outcome, StoreError, BOUNCE_LIMIT};
use chrono::{DateTime, FixedOffset};
use rusqlite::{params, Transaction};

fn record_outcomes(
    tx: &Transaction<'_>,
    outcomes: &[Outcome],
    now_s: &str,
) -> rusqlite::Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let mut delivery = tx.prepare_cached(
        "UPDATE deliveries SET status = ?2, last_reply = ?3, updated_at = ?4,
                sent_at = CASE WHEN ?2 = 'sent' THEN ?4 ELSE sent_at END
         WHERE id = ?1",
    )?;
    let mut cleared = tx.prepare_cached(
        "UPDATE subscribers SET hard_bounces = 0 WHERE id = ?1 AND hard_bounces > 0",
    )?;
    let mut bounced = tx.prepare_cached(
        "UPDATE subscribers SET hard_bounces = hard_bounces + 1, updated_at = ?3,
                status = CASE WHEN hard_bounces + 1 >= ?2 THEN 'bounced' ELSE status END
         WHERE id = ?1",
    )?;
    for o in outcomes {
        delivery.execute(params![o.delivery_id, o.status.as_str(), o.reply, now_s])?;
        if o.status == DeliveryStatus::Sent {
            cleared.execute([o.subscriber_id])?;
        } else if o.hard_bounce {
            bounced.execute(params![o.subscriber_id, BOUNCE_LIMIT, now_s])?;
        }
    }
    Ok(())
}

impl Sqlite {
    pub(crate) fn mark_in_flight_unknown(
        &mut self,
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE deliveries SET status = 'unknown', updated_at = ?1,
                        last_reply = 'the run sending it stopped before its outcome was known'
                 WHERE status = 'sending'",
                [stamp(now)],
            )
            .map_err(|e| self.err(e))
    }

    pub(crate) fn requeue_unknown(
        &mut self,
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE deliveries SET status = 'queued', updated_at = ?1 WHERE status = 'unknown'",
                [stamp(now)],
            )?;
            tx.execute(
                "UPDATE issues SET status = 'sending', finished_at = NULL
                 WHERE id IN (SELECT issue_id FROM deliveries WHERE status = 'queued')",
                [],
            )?;
            Ok(n)
        })
    }

    pub(crate) fn pending_deliveries(&self, issue_id: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT d.id, d.message_id, {}
                 FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                 WHERE d.issue_id = ?1 AND d.status IN ('queued', 'deferred') AND s.status = 'active'
                 ORDER BY d.id",
                subscribers::COLUMNS_AS_S
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([issue_id], |r| {
                Ok(DeliveryRow {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    subscriber: subscribers::from_row(r, 2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub(crate) fn settle(
        &mut self,
        marks: &[i64],
        outcomes: &[Outcome],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<bool>, StoreError> {
        let now_s = stamp(now);
        self.write(|tx| {
            record_outcomes(tx, outcomes, &now_s)?;
            // The check is a lookup by key: an `IN (SELECT …)` over the
            // active subscribers would list all of them on every delivery.
            let mut mark = tx.prepare_cached(
                "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = ?2
                 WHERE id = ?1 AND EXISTS (
                     SELECT 1 FROM subscribers s
                     WHERE s.id = deliveries.subscriber_id AND s.status = 'active')",
            )?;
            let mut gone = tx.prepare_cached(
                "DELETE FROM deliveries WHERE id = ?1 AND status IN ('queued', 'deferred')",
            )?;
            let mut marked = Vec::with_capacity(marks.len());
            for id in marks {
                let n = mark.execute(params![id, now_s])?;
                if n == 0 {
                    // Not theirs to get any more: no row is left to send
                    // later, should they come back.
                    gone.execute([id])?;
                }
                marked.push(n > 0);
            }
            Ok(marked)
        })
    }

    pub(crate) fn finish_issue_if_complete(
        &mut self,
        issue_id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE issues SET status = 'done', finished_at = ?2
                 WHERE id = ?1 AND status = 'sending' AND NOT EXISTS (
                     SELECT 1 FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                     WHERE d.issue_id = ?1 AND d.status IN ('queued', 'deferred', 'sending')
                       AND s.status = 'active')",
                params![issue_id, stamp(now)],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    pub(crate) fn unknown_deliveries(&self) -> Result<usize, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM deliveries WHERE status = 'unknown'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }
}
