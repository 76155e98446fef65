//! The deliveries' statements.

use super::{stamp, subscribers, Sqlite};
use crate::store::{Claimer, DeliveryRow, DeliveryStatus, Outcome, StoreError, BOUNCE_LIMIT};
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
        "UPDATE deliveries SET status = ?2, last_reply = ?3, updated_at = ?4, lease_until = NULL,
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

/// The next deliveries a sender may claim above `?2`. Its
/// `status IN ('queued', 'deferred')` is the condition of the
/// `deliveries_pending` index, written the same way so SQLite uses it:
/// the claim reads its batch in order and stops.
fn claim_query() -> String {
    format!(
        "SELECT d.id, d.message_id, {}
         FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
         WHERE d.issue_id = ?1 AND d.id > ?2 AND d.status IN ('queued', 'deferred')
           AND s.status = 'active'
           AND (d.lease_until IS NULL OR d.lease_until <= ?3)
           AND (d.tried_at IS NULL OR (d.tried_at <= ?4 AND d.claimed_by IS NOT ?6))
         ORDER BY d.id LIMIT ?5",
        subscribers::COLUMNS_AS_S
    )
}

impl Sqlite {
    pub(crate) fn end_claims(&mut self, claimers: Option<&[String]>) -> Result<(), StoreError> {
        self.write(|tx| {
            match claimers {
                None => {
                    tx.execute(
                        "UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL",
                        [],
                    )?;
                }
                Some(list) => {
                    let mut stmt = tx.prepare_cached(
                        "UPDATE deliveries SET lease_until = NULL WHERE claimed_by = ?1",
                    )?;
                    for c in list {
                        stmt.execute([c])?;
                    }
                }
            }
            Ok(())
        })
    }

    pub(crate) fn live_claimers(&self, clock: i64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT claimed_by FROM deliveries
                 WHERE lease_until > ?1 AND claimed_by IS NOT NULL
                   AND status IN ('queued', 'deferred', 'sending')",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([clock], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub(crate) fn mark_in_flight_unknown(
        &mut self,
        clock: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE deliveries SET status = 'unknown', updated_at = ?1, lease_until = NULL,
                        last_reply = 'the run sending it stopped before its outcome was known'
                 WHERE status = 'sending' AND (lease_until IS NULL OR lease_until <= ?2)",
                params![stamp(now), clock],
            )
            .map_err(|e| self.err(e))
    }

    pub(crate) fn pending_count(&self, issue_id: i64) -> Result<usize, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                 WHERE d.issue_id = ?1 AND d.status IN ('queued', 'deferred') AND s.status = 'active'",
                [issue_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }

    pub(crate) fn claim_deliveries(
        &mut self,
        issue_id: i64,
        claimer: &Claimer,
        after: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let clock = Claimer::clock_ms();
        let until = claimer.lease_end();
        self.write(|tx| {
            let rows: Vec<DeliveryRow> = {
                let mut stmt = tx.prepare_cached(&claim_query())?;
                let rows = stmt.query_map(
                    params![
                        issue_id,
                        after,
                        clock,
                        claimer.started_ms,
                        limit as i64,
                        claimer.id
                    ],
                    |r| {
                        Ok(DeliveryRow {
                            id: r.get(0)?,
                            message_id: r.get(1)?,
                            subscriber: subscribers::from_row(r, 2)?,
                        })
                    },
                )?;
                rows.collect::<Result<_, _>>()?
            };
            let mut claim = tx.prepare_cached(
                "UPDATE deliveries SET claimed_by = ?2, lease_until = ?3 WHERE id = ?1",
            )?;
            for d in &rows {
                claim.execute(params![d.id, claimer.id, until])?;
            }
            Ok(rows)
        })
    }

    pub(crate) fn release_claims(&mut self, issue_id: i64, me: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE deliveries SET lease_until = NULL
                 WHERE issue_id = ?1 AND claimed_by = ?2 AND status IN ('queued', 'deferred')",
                params![issue_id, me],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub(crate) fn others_claims(
        &self,
        issue_id: i64,
        me: &str,
        clock: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(lease_until) FROM deliveries
                 WHERE issue_id = ?1 AND status IN ('queued', 'deferred') AND lease_until > ?2
                   AND claimed_by IS NOT ?3",
                params![issue_id, clock, me],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    pub(crate) fn requeue_unknown(
        &mut self,
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE deliveries SET status = 'queued', updated_at = ?1, tried_at = NULL WHERE status = 'unknown'",
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

    #[cfg(test)]
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
        claimer: &Claimer,
        marks: &[i64],
        outcomes: &[Outcome],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<bool>, StoreError> {
        let now_s = stamp(now);
        let clock = Claimer::clock_ms();
        let until = claimer.lease_end();
        self.write(|tx| {
            record_outcomes(tx, outcomes, &now_s)?;
            // Only a claim still this sender's is marked: once its lease
            // ended another sender may have taken the row. The check of
            // the subscriber is a lookup by key: an `IN (SELECT …)` over
            // the active subscribers would list all of them every time.
            let mut mark = tx.prepare_cached(
                "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = ?2,
                        tried_at = ?3, lease_until = ?4
                 WHERE id = ?1 AND claimed_by = ?5 AND status IN ('queued', 'deferred') AND EXISTS (
                     SELECT 1 FROM subscribers s
                     WHERE s.id = deliveries.subscriber_id AND s.status = 'active')",
            )?;
            let mut gone = tx.prepare_cached(
                "DELETE FROM deliveries WHERE id = ?1 AND status IN ('queued', 'deferred')
                 AND NOT EXISTS (
                     SELECT 1 FROM subscribers s
                     WHERE s.id = deliveries.subscriber_id AND s.status = 'active')",
            )?;
            let mut marked = Vec::with_capacity(marks.len());
            for id in marks {
                let n = mark.execute(params![id, now_s, clock, until, claimer.id])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A claim must not order every pending row of its issue to take a
    /// batch: that made an issue to a million readers cost time in the
    /// square of its size. The plan says whether it does.
    #[test]
    fn a_claim_reads_its_batch_through_the_pending_index_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("state.db")).unwrap();
        drop(store);
        let conn = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", claim_query()))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(params![1, 0, 0, 0, 512, "me"], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("INDEX deliveries_pending"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
