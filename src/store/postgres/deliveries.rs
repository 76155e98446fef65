//! The deliveries' statements. Senders on several machines claim rows
//! with `FOR UPDATE SKIP LOCKED`: each takes rows no other is taking at
//! that moment, without waiting behind them.

use super::{subscribers, Postgres};
use crate::store::{
    stamp, Claimer, DeliveryRow, DeliveryStatus, Outcome, StoreError, BOUNCE_LIMIT,
};
use chrono::{DateTime, FixedOffset};
use postgres::Transaction;

/// What a group commit of the sender's writes does, in one statement: a
/// batch's outcomes, the readers it reached (their run of hard bounces
/// ends), and the rows marked `sending` — only those whose claim is still
/// this sender's and whose reader is still subscribed — returned.
///
/// One statement rather than three: the server's processor time per
/// statement, more than the rows' updates, is what a send on a machine
/// it shares with the sender waits for. The outcomes' rows (`sending`)
/// and the marked rows (`queued` or `deferred`) are never the same.
const SETTLE: &str = "WITH done AS (
        UPDATE deliveries d SET status = o.status, last_reply = o.reply, updated_at = $4,
               lease_until = NULL,
               sent_at = CASE WHEN o.status = 'sent' THEN $4 ELSE d.sent_at END
        FROM unnest($1::bigint[], $2::text[], $3::text[]) AS o (id, status, reply)
        WHERE d.id = o.id
     ), reached AS (
        UPDATE subscribers SET hard_bounces = 0 WHERE id = ANY($5::bigint[]) AND hard_bounces > 0
     )
     UPDATE deliveries d SET status = 'sending', attempts = attempts + 1,
            updated_at = $4, tried_at = $6, lease_until = $7
     FROM subscribers s
     WHERE d.id = ANY($8::bigint[]) AND d.claimed_by = $9
       AND d.status IN ('queued', 'deferred')
       AND s.id = d.subscriber_id AND s.status = 'active'
     RETURNING d.id";

/// Counts the hard bounces among `outcomes`. Rare, so one at a time,
/// and so two in one batch for the same reader both count.
fn record_hard_bounces(
    tx: &mut Transaction<'_>,
    outcomes: &[Outcome],
    now_s: &str,
) -> Result<(), postgres::Error> {
    let bounces: Vec<i64> = outcomes
        .iter()
        .filter(|o| o.status != DeliveryStatus::Sent && o.hard_bounce)
        .map(|o| o.subscriber_id)
        .collect();
    if !bounces.is_empty() {
        let bounced = tx.prepare(
            "UPDATE subscribers SET hard_bounces = hard_bounces + 1, updated_at = $3,
                    status = CASE WHEN hard_bounces + 1 >= $2 THEN 'bounced' ELSE status END
             WHERE id = $1",
        )?;
        for id in bounces {
            tx.execute(&bounced, &[&id, &BOUNCE_LIMIT, &now_s])?;
        }
    }
    Ok(())
}

fn delivery_from(r: &postgres::Row) -> DeliveryRow {
    DeliveryRow {
        id: r.get(0),
        message_id: r.get(1),
        subscriber: subscribers::from_row(r, 2),
    }
}

impl Postgres {
    pub(crate) fn end_claims(&self, claimers: Option<&[String]>) -> Result<(), StoreError> {
        self.read(|c| match claimers {
            None => c.execute(
                "UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL",
                &[],
            ),
            Some(list) => c.execute(
                "UPDATE deliveries SET lease_until = NULL WHERE claimed_by = ANY($1)",
                &[&list],
            ),
        })?;
        Ok(())
    }

    pub(crate) fn live_claimers(&self, clock: i64) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            Ok(c.query(
                "SELECT DISTINCT claimed_by FROM deliveries
                 WHERE lease_until > $1 AND claimed_by IS NOT NULL
                   AND status IN ('queued', 'deferred', 'sending')",
                &[&clock],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    pub(crate) fn mark_in_flight_unknown(
        &self,
        clock: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        self.read(|c| {
            c.execute(
                "UPDATE deliveries SET status = 'unknown', updated_at = $1, lease_until = NULL,
                        last_reply = 'the run sending it stopped before its outcome was known'
                 WHERE status = 'sending' AND (lease_until IS NULL OR lease_until <= $2)",
                &[&stamp(now), &clock],
            )
        })
        .map(|n| n as usize)
    }

    pub(crate) fn requeue_unknown(&self, now: DateTime<FixedOffset>) -> Result<usize, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE deliveries SET status = 'queued', updated_at = $1, tried_at = NULL
                 WHERE status = 'unknown'",
                &[&stamp(now)],
            )?;
            tx.execute(
                "UPDATE issues SET status = 'sending', finished_at = NULL
                 WHERE id IN (SELECT issue_id FROM deliveries WHERE status = 'queued')",
                &[],
            )?;
            Ok(n as usize)
        })
    }

    #[cfg(test)]
    pub(crate) fn pending_deliveries(&self, issue_id: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        self.read(|c| {
            Ok(c.query(
                &format!(
                    "SELECT d.id, d.message_id, {}
                     FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                     WHERE d.issue_id = $1 AND d.status IN ('queued', 'deferred') AND s.status = 'active'
                     ORDER BY d.id",
                    subscribers::COLUMNS_AS_S
                ),
                &[&issue_id],
            )?
            .iter()
            .map(delivery_from)
            .collect())
        })
    }

    pub(crate) fn pending_count(&self, issue_id: i64) -> Result<usize, StoreError> {
        self.read(|c| {
            c.query_one(
                "SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                 WHERE d.issue_id = $1 AND d.status IN ('queued', 'deferred') AND s.status = 'active'",
                &[&issue_id],
            )
        })
        .map(|r| r.get::<_, i64>(0) as usize)
    }

    pub(crate) fn claim_deliveries(
        &self,
        issue_id: i64,
        claimer: &Claimer,
        after: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let clock = Claimer::clock_ms();
        let until = claimer.lease_end();
        self.write(|tx| {
            let rows: Vec<DeliveryRow> = tx
                .query(
                    &format!(
                        "SELECT d.id, d.message_id, {}
                         FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                         WHERE d.issue_id = $1 AND d.id > $2 AND d.status IN ('queued', 'deferred')
                           AND s.status = 'active'
                           AND (d.lease_until IS NULL OR d.lease_until <= $3)
                           AND (d.tried_at IS NULL OR (d.tried_at <= $4 AND d.claimed_by IS DISTINCT FROM $6))
                         ORDER BY d.id LIMIT $5
                         FOR UPDATE OF d SKIP LOCKED",
                        subscribers::COLUMNS_AS_S
                    ),
                    &[
                        &issue_id,
                        &after,
                        &clock,
                        &claimer.started_ms,
                        &(limit as i64),
                        &claimer.id,
                    ],
                )?
                .iter()
                .map(delivery_from)
                .collect();
            let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
            tx.execute(
                "UPDATE deliveries SET claimed_by = $2, lease_until = $3 WHERE id = ANY($1)",
                &[&ids, &claimer.id, &until],
            )?;
            Ok(rows)
        })
    }

    pub(crate) fn release_claims(&self, issue_id: i64, me: &str) -> Result<(), StoreError> {
        self.read(|c| {
            c.execute(
                "UPDATE deliveries SET lease_until = NULL
                 WHERE issue_id = $1 AND claimed_by = $2 AND status IN ('queued', 'deferred')",
                &[&issue_id, &me],
            )
        })
        .map(|_| ())
    }

    pub(crate) fn others_claims(
        &self,
        issue_id: i64,
        me: &str,
        clock: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            c.query_one(
                "SELECT min(lease_until) FROM deliveries
                 WHERE issue_id = $1 AND status IN ('queued', 'deferred') AND lease_until > $2
                   AND claimed_by IS DISTINCT FROM $3",
                &[&issue_id, &clock, &me],
            )
        })
        .map(|r| r.get(0))
    }

    pub(crate) fn settle(
        &self,
        claimer: &Claimer,
        marks: &[i64],
        outcomes: &[Outcome],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<bool>, StoreError> {
        let now_s = stamp(now);
        let clock = Claimer::clock_ms();
        let until = claimer.lease_end();
        self.write_prepared([SETTLE], |tx, [settle]| {
            let ids: Vec<i64> = outcomes.iter().map(|o| o.delivery_id).collect();
            let statuses: Vec<&str> = outcomes.iter().map(|o| o.status.as_str()).collect();
            let replies: Vec<Option<&str>> =
                outcomes.iter().map(|o| o.reply.as_deref()).collect();
            let reached: Vec<i64> = outcomes
                .iter()
                .filter(|o| o.status == DeliveryStatus::Sent)
                .map(|o| o.subscriber_id)
                .collect();
            let marked: std::collections::HashSet<i64> = tx
                .query(
                    settle,
                    &[
                        &ids,
                        &statuses,
                        &replies,
                        &now_s,
                        &reached,
                        &clock,
                        &until,
                        &marks,
                        &claimer.id,
                    ],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            record_hard_bounces(tx, outcomes, &now_s)?;
            let gone: Vec<i64> = marks
                .iter()
                .copied()
                .filter(|id| !marked.contains(id))
                .collect();
            if !gone.is_empty() {
                tx.execute(
                    "DELETE FROM deliveries d WHERE d.id = ANY($1) AND d.status IN ('queued', 'deferred')
                     AND NOT EXISTS (SELECT 1 FROM subscribers s
                                     WHERE s.id = d.subscriber_id AND s.status = 'active')",
                    &[&gone],
                )?;
            }
            Ok(marks.iter().map(|id| marked.contains(id)).collect())
        })
    }

    pub(crate) fn finish_issue_if_complete(
        &self,
        issue_id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        let n = self.read(|c| {
            c.execute(
                "UPDATE issues SET status = 'done', finished_at = $2
                 WHERE id = $1 AND status = 'sending' AND NOT EXISTS (
                     SELECT 1 FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                     WHERE d.issue_id = $1 AND d.status IN ('queued', 'deferred', 'sending')
                       AND s.status = 'active')",
                &[&issue_id, &stamp(now)],
            )
        })?;
        Ok(n > 0)
    }

    pub(crate) fn unknown_deliveries(&self) -> Result<usize, StoreError> {
        self.read(|c| {
            c.query_one(
                "SELECT count(*) FROM deliveries WHERE status = 'unknown'",
                &[],
            )
        })
        .map(|r| r.get::<_, i64>(0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::SETTLE;
    use crate::store::testing::{fresh_postgres, readers, rows_of};
    use crate::store::{Location, NewIssue, Subscriber};
    use chrono::{DateTime, Duration, FixedOffset};

    #[test]
    fn a_senders_session_keeps_its_settings_on_the_connection_that_replaces_a_lost_one() {
        // `_schema` is kept to the end: dropping it drops the schema.
        let Some((_schema, target)) = fresh_postgres() else {
            return; // Without a server; under CI=true it fails instead.
        };
        // A database whose default lets commits return before they are
        // on disk.
        let mut lax = target.clone();
        let options = lax.config.get_options().unwrap_or_default().to_owned();
        lax.config
            .options(&format!("{options} -c synchronous_commit=off"));
        let store = crate::store::Store::connect(&Location::Postgres(lax)).unwrap();
        store.make_durable().unwrap();
        store.plan_once().unwrap();
        let crate::store::Backend::Postgres(db) = &store.backend else {
            unreachable!("a postgres store")
        };
        db.lose_connection();
        // The statement that finds the connection gone may fail; the
        // next is on a new one.
        let _ = db.setting("synchronous_commit");
        assert_eq!(db.setting("synchronous_commit").unwrap(), "on");
        assert_eq!(db.setting("plan_cache_mode").unwrap(), "force_generic_plan");
    }

    #[test]
    fn a_mark_looks_its_rows_up_by_id_once_an_issue_is_written_after_one_that_is_done() {
        let Some((fresh, target)) = fresh_postgres() else {
            return; // Without a server; under CI=true it fails instead.
        };
        let mut store = fresh.open();
        let now = DateTime::parse_from_rfc3339("2026-06-08T07:00:00+08:00").unwrap();
        let readers = readers(3_000);
        let Ok(_) = store
            .import_subscribers(&mut rows_of(&readers), now, false)
            .unwrap();
        let everyone = |s: &Subscriber| Some(format!("<{}@example.com>", s.id));
        let issue = |cutoff: DateTime<FixedOffset>| NewIssue {
            label: "issue",
            cutoff,
            articles: &[],
            recipients: &everyone,
            corrections: &[],
        };
        store.create_issue(&issue(now), now).unwrap();
        let mut c = target.config.connect(postgres::NoTls).unwrap();
        // Last week's issue done, and the table analysed then, as
        // autovacuum would: nothing pending in the planner's picture.
        c.batch_execute("UPDATE deliveries SET status = 'sent'; ANALYZE deliveries")
            .unwrap();
        let next = now + Duration::days(7);
        store.create_issue(&issue(next), next).unwrap();

        // The plan a prepared settle (a mark, here) settles on after its
        // first runs.
        c.batch_execute("SET plan_cache_mode = force_generic_plan")
            .unwrap();
        c.batch_execute(&format!(
            "PREPARE settle (bigint[], text[], text[], text, bigint[], bigint, bigint, bigint[], text)
             AS {SETTLE}"
        ))
        .unwrap();
        let mut tx = c.transaction().unwrap();
        let plan: Vec<String> = tx
            .query(
                "EXPLAIN EXECUTE settle ('{}', '{}', '{}', 'now', '{}', 0, 0, '{1,2,3}', 'me')",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("deliveries_pkey"), "{plan}");
        assert!(!plan.contains("deliveries_pending"), "{plan}");
    }
}
