//! The bounce reports' statements.

use super::Postgres;
use crate::store::bounces::{
    BounceCounts, BounceEvent, BounceKind, BouncePolicy, BounceRecorded, NewBounce, Refusal,
    SOFT_WINDOW_DAYS,
};
use crate::store::{parse_stamp, stamp, StoreError, SubscriberStatus};
use chrono::{DateTime, Duration, FixedOffset};

impl Postgres {
    pub(crate) fn record_bounce(
        &self,
        r: &NewBounce<'_>,
        policy: BouncePolicy,
        now: DateTime<FixedOffset>,
    ) -> Result<BounceRecorded, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            // Locked, so that two reports about one reader (two webhook
            // calls at once) decide one after the other. A subscriber
            // removed since the token was made is nobody now.
            let subscriber: Option<(i64, String)> = match r.subscriber_id {
                Some(id) => tx
                    .query_opt(
                        "SELECT id, status FROM subscribers WHERE id = $1 FOR UPDATE",
                        &[&id],
                    )?
                    .map(|row| (row.get(0), row.get(1))),
                None => None,
            };
            let inserted = tx.query_opt(
                "INSERT INTO bounce_events (report_key, subscriber_id, email_key, issue_id, kind,
                     status_code, diagnostic, source, reported_at, received_at, evidence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (report_key) DO NOTHING RETURNING id",
                &[
                    &r.report_key,
                    &subscriber.as_ref().map(|s| s.0),
                    &r.email_key,
                    &r.issue_id,
                    &r.kind.as_str(),
                    &r.status_code,
                    &r.diagnostic,
                    &r.source,
                    &stamp(r.reported_at),
                    &now,
                    &r.evidence,
                ],
            )?;
            let Some(inserted) = inserted else {
                return Ok(BounceRecorded::Duplicate);
            };
            let id: i64 = inserted.get(0);
            let Some((subscriber, status)) = subscriber else {
                return Ok(BounceRecorded::New { id, became: None });
            };
            let status = SubscriberStatus::parse(&status).unwrap_or(SubscriberStatus::Unsubscribed);
            let soft: Vec<DateTime<FixedOffset>> = if r.kind == BounceKind::Soft {
                let from = stamp(r.reported_at - Duration::days(SOFT_WINDOW_DAYS));
                tx.query(
                    "SELECT reported_at FROM bounce_events
                     WHERE subscriber_id = $1 AND kind = 'soft' AND reported_at >= $2 AND reported_at <= $3",
                    &[&subscriber, &from, &stamp(r.reported_at)],
                )?
                .iter()
                .filter_map(|row| parse_stamp(row.get(0)))
                .collect()
            } else {
                Vec::new()
            };
            let became = policy.decide(status, r.kind, &soft);
            if let Some(new) = became {
                tx.execute(
                    "UPDATE subscribers SET status = $2, updated_at = $3 WHERE id = $1",
                    &[&subscriber, &new.as_str(), &now],
                )?;
                tx.execute(
                    "UPDATE bounce_events SET became = $2 WHERE id = $1",
                    &[&id, &new.as_str()],
                )?;
            }
            Ok(BounceRecorded::New { id, became })
        })
    }

    pub(crate) fn bounce_events(&self, subscriber_id: i64) -> Result<Vec<BounceEvent>, StoreError> {
        let rows = self.read(|c| {
            c.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM bounce_events b
                     WHERE b.subscriber_id = $1 ORDER BY b.reported_at DESC, b.id DESC"
                ),
                &[&subscriber_id],
            )
        })?;
        Ok(rows.iter().map(event).collect())
    }

    pub(crate) fn bounce_event(&self, id: i64) -> Result<Option<BounceEvent>, StoreError> {
        let row = self.read(|c| {
            c.query_opt(
                &format!("SELECT {EVENT_COLUMNS} FROM bounce_events b WHERE b.id = $1"),
                &[&id],
            )
        })?;
        Ok(row.as_ref().map(event))
    }

    pub(crate) fn recent_bounce_events(
        &self,
        email_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<BounceEvent>, StoreError> {
        // An unmatched report keeps the address it named in lower case; a
        // matched one, its subscriber's as given.
        let rows = self.read(|c| {
            c.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM bounce_events b
                     WHERE $1::text IS NULL
                        OR b.subscriber_id = (SELECT id FROM subscribers WHERE email_key = $1)
                        OR lower(b.email_key) = lower($1)
                     ORDER BY b.id DESC LIMIT $2"
                ),
                &[&email_key, &limit],
            )
        })?;
        Ok(rows.iter().map(event).collect())
    }

    /// For each subscriber of `status`, the report that gave it to them:
    /// the latest that says so, else (for reports recorded before the
    /// status was kept) the latest of a deciding kind.
    pub(crate) fn deciding_reports(
        &self,
        status: SubscriberStatus,
    ) -> Result<Vec<BounceEvent>, StoreError> {
        let [a, b] = crate::store::bounces::deciding_kinds(status);
        let rows = self.read(|c| {
            c.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM subscribers s JOIN bounce_events b ON b.id = (
                         SELECT e.id FROM bounce_events e
                         WHERE e.subscriber_id = s.id AND e.kind IN ($2, $3)
                         ORDER BY e.became IS NOT DISTINCT FROM $1 DESC, e.id DESC LIMIT 1)
                     WHERE s.status = $1"
                ),
                &[&status.as_str(), &a, &b],
            )
        })?;
        Ok(rows.iter().map(event).collect())
    }

    /// For each bounced subscriber refused often enough while sending to
    /// be bounced by it: (id, issue, reply, when) of their last refusal.
    pub(crate) fn last_refusals(&self) -> Result<Vec<Refusal>, StoreError> {
        let rows = self.read(|c| {
            c.query(
                "SELECT DISTINCT ON (d.subscriber_id)
                        d.subscriber_id, d.issue_id, coalesce(d.last_reply, ''), d.updated_at
                 FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                 WHERE d.status = 'failed' AND s.status = 'bounced' AND s.hard_bounces >= $1
                 ORDER BY d.subscriber_id, d.updated_at DESC, d.id DESC",
                &[&crate::store::BOUNCE_LIMIT],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| Refusal {
                subscriber_id: r.get(0),
                issue_id: r.get(1),
                reply: r.get(2),
                at: parse_stamp(r.get(3)).unwrap_or_default(),
            })
            .collect())
    }

    pub(crate) fn bounce_evidence(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|c| c.query_opt("SELECT evidence FROM bounce_events WHERE id = $1", &[&id]))
            .map(|r| r.map(|r| r.get(0)))
    }

    pub(crate) fn issue_bounce_counts(&self, issue_id: i64) -> Result<BounceCounts, StoreError> {
        let row = self.read(|c| {
            c.query_one(
                "SELECT
                   (SELECT count(*) FROM deliveries WHERE issue_id = $1 AND status = 'sent'),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE issue_id = $1 AND kind = 'hard'),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE issue_id = $1 AND kind = 'soft'),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE issue_id = $1 AND kind = 'complaint')",
                &[&issue_id],
            )
        })?;
        Ok(counts(&row))
    }

    pub(crate) fn bounce_counts_since(
        &self,
        since: DateTime<FixedOffset>,
    ) -> Result<BounceCounts, StoreError> {
        let row = self.read(|c| {
            c.query_one(
                "SELECT
                   (SELECT count(*) FROM deliveries WHERE status = 'sent' AND sent_at >= $1),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE received_at >= $1 AND kind = 'hard'),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE received_at >= $1 AND kind = 'soft'),
                   (SELECT count(DISTINCT subscriber_id) FROM bounce_events WHERE received_at >= $1 AND kind = 'complaint')",
                &[&stamp(since)],
            )
        })?;
        Ok(counts(&row))
    }
}

/// The columns [`event`] reads, of `bounce_events b`.
const EVENT_COLUMNS: &str =
    "b.id, b.subscriber_id, b.issue_id, b.kind, b.status_code, b.diagnostic,
     b.source, b.reported_at, b.received_at, octet_length(b.evidence), b.email_key, b.became";

fn event(r: &postgres::Row) -> BounceEvent {
    let became: Option<&str> = r.get(11);
    BounceEvent {
        id: r.get(0),
        subscriber_id: r.get(1),
        issue_id: r.get(2),
        kind: BounceKind::parse(r.get(3)).unwrap_or(BounceKind::Unmatched),
        status_code: r.get(4),
        diagnostic: r.get(5),
        source: r.get(6),
        reported_at: parse_stamp(r.get(7)).unwrap_or_default(),
        received_at: parse_stamp(r.get(8)).unwrap_or_default(),
        evidence_bytes: r.get::<_, i32>(9) as usize,
        email: r.get(10),
        became: became.and_then(SubscriberStatus::parse),
    }
}

fn counts(r: &postgres::Row) -> BounceCounts {
    BounceCounts {
        sent: r.get::<_, i64>(0) as usize,
        hard: r.get::<_, i64>(1) as usize,
        soft: r.get::<_, i64>(2) as usize,
        complaints: r.get::<_, i64>(3) as usize,
    }
}
