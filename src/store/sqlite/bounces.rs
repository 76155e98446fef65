//! The bounce reports' statements.

use super::{parse_stamp, stamp, Sqlite};
use crate::store::bounces::{
    BounceCounts, BounceEvent, BounceKind, BouncePolicy, BounceRecorded, NewBounce, Refusal,
    SOFT_WINDOW_DAYS,
};
use crate::store::{StoreError, SubscriberStatus};
use chrono::{DateTime, Duration, FixedOffset};
use rusqlite::{params, OptionalExtension};

impl Sqlite {
    pub(crate) fn record_bounce(
        &mut self,
        r: &NewBounce<'_>,
        policy: BouncePolicy,
        now: DateTime<FixedOffset>,
    ) -> Result<BounceRecorded, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            // A subscriber removed since the token was made is nobody now.
            let subscriber: Option<(i64, String)> = match r.subscriber_id {
                Some(id) => tx
                    .query_row(
                        "SELECT id, status FROM subscribers WHERE id = ?1",
                        [id],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?,
                None => None,
            };
            let inserted = tx.execute(
                "INSERT INTO bounce_events (report_key, subscriber_id, email_key, issue_id, kind,
                     status_code, diagnostic, source, reported_at, received_at, evidence)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (report_key) DO NOTHING",
                params![
                    r.report_key,
                    subscriber.as_ref().map(|s| s.0),
                    r.email_key,
                    r.issue_id,
                    r.kind.as_str(),
                    r.status_code,
                    r.diagnostic,
                    r.source,
                    stamp(r.reported_at),
                    now,
                    r.evidence,
                ],
            )?;
            if inserted == 0 {
                return Ok(BounceRecorded::Duplicate);
            }
            let id = tx.last_insert_rowid();
            let Some((subscriber, status)) = subscriber else {
                return Ok(BounceRecorded::New { id, became: None });
            };
            let status = SubscriberStatus::parse(&status).unwrap_or(SubscriberStatus::Unsubscribed);
            let soft = if r.kind == BounceKind::Soft {
                let from = stamp(r.reported_at - Duration::days(SOFT_WINDOW_DAYS));
                let mut stmt = tx.prepare(
                    "SELECT reported_at FROM bounce_events
                     WHERE subscriber_id = ?1 AND kind = 'soft' AND reported_at >= ?2 AND reported_at <= ?3",
                )?;
                let rows = stmt.query_map(
                    params![subscriber, from, stamp(r.reported_at)],
                    |row| row.get::<_, String>(0),
                )?;
                let mut times = Vec::new();
                for t in rows {
                    times.extend(parse_stamp(&t?));
                }
                times
            } else {
                Vec::new()
            };
            let became = policy.decide(status, r.kind, &soft);
            if let Some(new) = became {
                tx.execute(
                    "UPDATE subscribers SET status = ?2, updated_at = ?3 WHERE id = ?1",
                    params![subscriber, new.as_str(), now],
                )?;
                tx.execute(
                    "UPDATE bounce_events SET became = ?2 WHERE id = ?1",
                    params![id, new.as_str()],
                )?;
            }
            Ok(BounceRecorded::New { id, became })
        })
    }

    pub(crate) fn bounce_events(&self, subscriber_id: i64) -> Result<Vec<BounceEvent>, StoreError> {
        self.events(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM bounce_events b
                 WHERE b.subscriber_id = ?1 ORDER BY b.reported_at DESC, b.id DESC"
            ),
            [subscriber_id],
        )
    }

    pub(crate) fn bounce_event(&self, id: i64) -> Result<Option<BounceEvent>, StoreError> {
        let found = self.events(
            &format!("SELECT {EVENT_COLUMNS} FROM bounce_events b WHERE b.id = ?1"),
            [id],
        )?;
        Ok(found.into_iter().next())
    }

    pub(crate) fn recent_bounce_events(
        &self,
        email_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<BounceEvent>, StoreError> {
        // An unmatched report keeps the address it named in lower case; a
        // matched one, its subscriber's as given.
        self.events(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM bounce_events b
                 WHERE ?1 IS NULL
                    OR b.subscriber_id = (SELECT id FROM subscribers WHERE email_key = ?1)
                    OR lower(b.email_key) = lower(?1)
                 ORDER BY b.id DESC LIMIT ?2"
            ),
            params![email_key, limit],
        )
    }

    /// For each subscriber of `status`, the report that gave it to them:
    /// the latest that says so, else (for reports recorded before the
    /// status was kept) the latest of a deciding kind.
    pub(crate) fn deciding_reports(
        &self,
        status: SubscriberStatus,
    ) -> Result<Vec<BounceEvent>, StoreError> {
        let [a, b] = crate::store::bounces::deciding_kinds(status);
        self.events(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM subscribers s JOIN bounce_events b ON b.id = (
                     SELECT e.id FROM bounce_events e
                     WHERE e.subscriber_id = s.id AND e.kind IN (?2, ?3)
                     ORDER BY e.became IS ?1 DESC, e.id DESC LIMIT 1)
                 WHERE s.status = ?1"
            ),
            params![status.as_str(), a, b],
        )
    }

    /// For each bounced subscriber refused often enough while sending to
    /// be bounced by it: (id, issue, reply, when) of their last refusal.
    pub(crate) fn last_refusals(&self) -> Result<Vec<Refusal>, StoreError> {
        // Every failed delivery of those subscribers in one pass over the
        // deliveries (which have no index by subscriber), the last kept.
        let mut stmt = self
            .conn
            .prepare(
                "SELECT d.subscriber_id, d.issue_id, coalesce(d.last_reply, ''), d.updated_at
                 FROM deliveries d
                 WHERE d.status = 'failed' AND d.subscriber_id IN (
                     SELECT id FROM subscribers WHERE status = 'bounced' AND hard_bounces >= ?1)",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([crate::store::BOUNCE_LIMIT], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut last: rustc_hash::FxHashMap<i64, Refusal> = Default::default();
        for row in rows {
            let (subscriber_id, issue_id, reply, at) = row.map_err(|e| self.err(e))?;
            let at = parse_stamp(&at).unwrap_or_default();
            if last.get(&subscriber_id).is_none_or(|seen| at >= seen.at) {
                last.insert(
                    subscriber_id,
                    Refusal {
                        subscriber_id,
                        issue_id,
                        reply,
                        at,
                    },
                );
            }
        }
        Ok(last.into_values().collect())
    }

    fn events(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<BounceEvent>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params, event).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub(crate) fn bounce_evidence(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row(
                "SELECT evidence FROM bounce_events WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub(crate) fn issue_bounce_counts(&self, issue_id: i64) -> Result<BounceCounts, StoreError> {
        self.conn
            .query_row(
                "SELECT
                   (SELECT count(*) FROM deliveries WHERE issue_id = ?1 AND status = 'sent'),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE issue_id = ?1 AND kind = 'hard'),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE issue_id = ?1 AND kind = 'soft'),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE issue_id = ?1 AND kind = 'complaint')",
                [issue_id],
                counts,
            )
            .map_err(|e| self.err(e))
    }

    pub(crate) fn bounce_counts_since(
        &self,
        since: DateTime<FixedOffset>,
    ) -> Result<BounceCounts, StoreError> {
        self.conn
            .query_row(
                "SELECT
                   (SELECT count(*) FROM deliveries WHERE status = 'sent' AND sent_at >= ?1),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE received_at >= ?1 AND kind = 'hard'),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE received_at >= ?1 AND kind = 'soft'),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE received_at >= ?1 AND kind = 'complaint')",
                [stamp(since)],
                counts,
            )
            .map_err(|e| self.err(e))
    }
}

/// The columns [`event`] reads, of `bounce_events b`.
const EVENT_COLUMNS: &str =
    "b.id, b.subscriber_id, b.issue_id, b.kind, b.status_code, b.diagnostic,
     b.source, b.reported_at, b.received_at, length(b.evidence), b.email_key, b.became";

fn event(r: &rusqlite::Row<'_>) -> rusqlite::Result<BounceEvent> {
    let kind: String = r.get(3)?;
    let reported: String = r.get(7)?;
    let received: String = r.get(8)?;
    let became: Option<String> = r.get(11)?;
    Ok(BounceEvent {
        id: r.get(0)?,
        subscriber_id: r.get(1)?,
        issue_id: r.get(2)?,
        kind: BounceKind::parse(&kind).unwrap_or(BounceKind::Unmatched),
        status_code: r.get(4)?,
        diagnostic: r.get(5)?,
        source: r.get(6)?,
        reported_at: parse_stamp(&reported).unwrap_or_default(),
        received_at: parse_stamp(&received).unwrap_or_default(),
        evidence_bytes: r.get::<_, i64>(9)? as usize,
        email: r.get(10)?,
        became: became.as_deref().and_then(SubscriberStatus::parse),
    })
}

fn counts(r: &rusqlite::Row<'_>) -> rusqlite::Result<BounceCounts> {
    Ok(BounceCounts {
        sent: r.get::<_, i64>(0)? as usize,
        hard: r.get::<_, i64>(1)? as usize,
        soft: r.get::<_, i64>(2)? as usize,
        complaints: r.get::<_, i64>(3)? as usize,
    })
}
