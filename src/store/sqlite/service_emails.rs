//! The service emails' statements.

use super::{stamp, Sqlite};
use crate::store::service_emails::KEEP_SECONDS;
use crate::store::{NewServiceEmail, ServiceEmail, StoreError};
use chrono::{DateTime, FixedOffset};
use rusqlite::params;

impl Sqlite {
    pub(crate) fn queue_service_email(
        &mut self,
        e: &NewServiceEmail,
        now: DateTime<FixedOffset>,
        unix_now: i64,
    ) -> Result<i64, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            insert(tx, e, unix_now, e.give_up_at, &now)?;
            Ok(tx.last_insert_rowid())
        })
    }

    pub(crate) fn due_service_emails(
        &self,
        unix_now: i64,
        limit: usize,
    ) -> Result<Vec<ServiceEmail>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, subscriber_id, kind, envelope_from, envelope_to, message, file_name, give_up_at, attempts
                 FROM service_emails WHERE status = 'queued' AND not_before <= ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![unix_now, limit as i64], |r| {
                Ok(ServiceEmail {
                    id: r.get(0)?,
                    email: NewServiceEmail {
                        subscriber_id: r.get(1)?,
                        kind: r.get(2)?,
                        envelope_from: r.get(3)?,
                        envelope_to: r.get(4)?,
                        message: r.get(5)?,
                        file_name: r.get(6)?,
                        give_up_at: r.get(7)?,
                    },
                    attempts: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub(crate) fn queued_service_emails(&self) -> Result<(usize, Option<i64>), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*), min(not_before) FROM service_emails WHERE status = 'queued'",
                [],
                |r| Ok((r.get::<_, i64>(0)? as usize, r.get(1)?)),
            )
            .map_err(|e| self.err(e))
    }

    pub(crate) fn record_service_email(
        &mut self,
        id: i64,
        sent: Option<bool>,
        reply: &str,
        not_before: i64,
        now: DateTime<FixedOffset>,
        unix_now: i64,
    ) -> Result<(), StoreError> {
        let now = stamp(now);
        let status = match sent {
            Some(true) => "sent",
            Some(false) => "failed",
            None => "queued",
        };
        self.write(|tx| {
            tx.execute(
                "UPDATE service_emails SET status = ?2, attempts = attempts + 1, last_reply = ?3,
                     not_before = ?4, updated_at = ?5 WHERE id = ?1",
                params![id, status, reply, not_before, now],
            )?;
            tx.execute(
                "DELETE FROM service_emails WHERE status != 'queued' AND not_before < ?1",
                [unix_now - KEEP_SECONDS],
            )?;
            Ok(())
        })
    }

    pub(crate) fn count_email(
        &mut self,
        key: &str,
        unix_now: i64,
        window_seconds: i64,
        max: u32,
        sweep_before: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM email_hits WHERE key = ?1 AND at <= ?2",
                params![key, unix_now - window_seconds],
            )?;
            if let Some(before) = sweep_before {
                tx.execute("DELETE FROM email_hits WHERE at <= ?1", [before])?;
            }
            let n: i64 = tx.query_row(
                "SELECT count(*) FROM email_hits WHERE key = ?1",
                [key],
                |r| r.get(0),
            )?;
            if n >= i64::from(max) {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO email_hits (key, at) VALUES (?1, ?2)",
                params![key, unix_now],
            )?;
            Ok(true)
        })
    }

    pub(crate) fn queue_nothing(
        &mut self,
        e: &NewServiceEmail,
        now: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            insert(tx, e, 0, 0, &now)?;
            tx.execute(
                "DELETE FROM service_emails WHERE id = ?1",
                [tx.last_insert_rowid()],
            )?;
            Ok(())
        })
    }
}

/// Writes `e` as a queued row.
fn insert(
    tx: &rusqlite::Transaction<'_>,
    e: &NewServiceEmail,
    not_before: i64,
    give_up_at: i64,
    now: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO service_emails (subscriber_id, kind, envelope_from, envelope_to, message, file_name,
             status, not_before, give_up_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9, ?9)",
        params![
            e.subscriber_id,
            e.kind,
            e.envelope_from,
            e.envelope_to,
            e.message,
            e.file_name,
            not_before,
            give_up_at,
            now
        ],
    )?;
    Ok(())
}
