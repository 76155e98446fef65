//! The subscribers' statements, and the sign-up requests kept with them.

use super::{parse_stamp, stamp, Sqlite};
use crate::address::Email;
use crate::store::subscribers::{change_of, each_batch, RowChange, StoredRow, REQUEST_KEEP_DAYS};
use crate::store::{
    ConfirmOutcome, ImportReport, ImportRows, NewSubscriber, SignupOutcome, SignupRequest,
    StoreError, Subscriber, SubscriberStatus, SubscriberUpdate, UpsertOutcome,
};
use chrono::{DateTime, FixedOffset};
use rusqlite::{params, OptionalExtension, Row};

pub(super) const COLUMNS_AS_S: &str = "s.id, s.email, s.name, s.columns, s.status";

/// Calls `visit` with each subscriber of `status` on `conn` (a
/// transaction, for one that writes as it reads), in the order of their
/// ids, one row in memory at a time.
pub(super) fn each_on(
    conn: &rusqlite::Connection,
    status: SubscriberStatus,
    visit: &mut dyn FnMut(Subscriber) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS_AS_S} FROM subscribers s WHERE s.status = ?1 ORDER BY s.id"
    ))?;
    let mut rows = stmt.query([status.as_str()])?;
    while let Some(row) = rows.next()? {
        visit(from_row(row, 0)?)?;
    }
    Ok(())
}

pub(super) fn from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<Subscriber> {
    let columns: String = r.get(at + 3)?;
    let status: String = r.get(at + 4)?;
    Ok(Subscriber {
        id: r.get(at)?,
        email: r.get(at + 1)?,
        // Cleaned again where it is read, for rows stored before names
        // were cleaned on the way in: a digest builds `To` from it.
        name: crate::address::display_name(&r.get::<_, String>(at + 2)?),
        columns: crate::store::subscribers::split_columns(&columns),
        status: SubscriberStatus::parse(&status).unwrap_or(SubscriberStatus::Unsubscribed),
    })
}

/// Adds the subscriber, or sets the fields given (`Some`) of the one with
/// this address and leaves the others as they are.
fn upsert(
    tx: &rusqlite::Transaction<'_>,
    email: &Email,
    name: Option<&str>,
    columns: Option<&[String]>,
    now: &str,
    resubscribe: bool,
) -> rusqlite::Result<UpsertOutcome> {
    let columns = columns.map(|c| c.join(";"));
    let name = name.map(crate::address::display_name);
    let existing = tx
        .prepare_cached("SELECT id, name, columns, status FROM subscribers WHERE email_key = ?1")?
        .query_row([email.key()], |r| {
            Ok(StoredRow {
                id: r.get(0)?,
                name: r.get(1)?,
                columns: r.get(2)?,
                status: r.get(3)?,
            })
        })
        .optional()?;
    let Some(row) = existing else {
        tx.prepare_cached(
            "INSERT INTO subscribers (email, email_key, name, columns, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?5)",
        )?
        .execute(params![
            email.as_str(),
            email.key(),
            name.unwrap_or_default(),
            columns.unwrap_or_default(),
            now
        ])?;
        return Ok(UpsertOutcome::Added);
    };
    match change_of(&row, name.as_deref(), columns.as_deref(), resubscribe) {
        RowChange::Keep(outcome) => Ok(outcome),
        RowChange::Set {
            name,
            columns,
            outcome,
        } => {
            tx.prepare_cached(
                "UPDATE subscribers SET name = ?2, columns = ?3, status = 'active', hard_bounces = 0, updated_at = ?4
                 WHERE id = ?1",
            )?
            .execute(params![row.id, name, columns, now])?;
            Ok(outcome)
        }
    }
}

fn insert_request(
    tx: &rusqlite::Transaction<'_>,
    subscriber: i64,
    name: &str,
    columns: &str,
    now: &str,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO signup_requests (subscriber_id, name, columns, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![subscriber, name, columns, now],
    )?;
    let id = tx.last_insert_rowid();
    if let Some(cutoff) = parse_stamp(now) {
        tx.execute(
            "DELETE FROM signup_requests WHERE created_at < ?1",
            [stamp(cutoff - chrono::Duration::days(REQUEST_KEEP_DAYS))],
        )?;
    }
    Ok(id)
}

/// Version 3 compares domains in their ASCII (IDNA) form: rows stored
/// before are re-keyed. Where both forms of one mailbox were stored, the
/// row in the ASCII form is kept for mailing and the other is set
/// unsubscribed, so the mailbox gets one copy; if either had left, the
/// kept one is unsubscribed too, since its owner asked to stop.
pub(super) fn normalise_stored_addresses(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let rows: Vec<(i64, String, String)> = {
        let mut stmt = tx.prepare("SELECT id, email, status FROM subscribers")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, email, status) in rows {
        let Ok(parsed) = Email::parse(&email) else {
            continue;
        };
        if parsed.as_str() == email && email.is_ascii() {
            continue;
        }
        let other: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, status FROM subscribers WHERE email_key = ?1 AND id != ?2",
                params![parsed.key(), id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match other {
            None => {
                tx.execute(
                    "UPDATE subscribers SET email = ?2, email_key = ?3 WHERE id = ?1",
                    params![id, parsed.as_str(), parsed.key()],
                )?;
            }
            Some((kept, kept_status)) => {
                tx.execute(
                    "UPDATE subscribers SET status = 'unsubscribed' WHERE id = ?1 AND status IN ('active', 'pending')",
                    [id],
                )?;
                if matches!(status.as_str(), "unsubscribed" | "bounced") && kept_status != "bounced"
                {
                    tx.execute(
                        "UPDATE subscribers SET status = 'unsubscribed' WHERE id = ?1",
                        [kept],
                    )?;
                }
            }
        }
    }
    Ok(())
}

impl Sqlite {
    pub(crate) fn add_or_update_subscriber(
        &mut self,
        s: &SubscriberUpdate,
        now: DateTime<FixedOffset>,
        resubscribe: bool,
    ) -> Result<UpsertOutcome, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            upsert(
                tx,
                &s.email,
                s.name.as_deref(),
                s.columns.as_deref(),
                &now,
                resubscribe,
            )
        })
    }

    pub(crate) fn import_subscribers<E>(
        &mut self,
        rows: &mut ImportRows<'_, E>,
        now: DateTime<FixedOffset>,
        resubscribe: bool,
    ) -> Result<Result<ImportReport, E>, StoreError> {
        let now = stamp(now);
        self.write_unless(|tx| {
            let mut report = ImportReport::default();
            let read = each_batch(rows, |batch| {
                for s in batch {
                    // A row gives every field: an empty name cell clears the name.
                    report.count(upsert(
                        tx,
                        &s.email,
                        Some(&s.name),
                        Some(&s.columns),
                        &now,
                        resubscribe,
                    )?);
                }
                Ok::<(), rusqlite::Error>(())
            })?;
            Ok(read.map(|()| report))
        })
    }

    pub(crate) fn subscribers(
        &self,
        status: Option<SubscriberStatus>,
    ) -> Result<Vec<Subscriber>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS_AS_S} FROM subscribers s WHERE ?1 IS NULL OR s.status = ?1 ORDER BY s.email_key"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([status.map(|s| s.as_str())], |r| from_row(r, 0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub(crate) fn each_subscriber(
        &self,
        status: SubscriberStatus,
        visit: &mut dyn FnMut(Subscriber),
    ) -> Result<(), StoreError> {
        each_on(&self.conn, status, &mut |s| {
            visit(s);
            Ok(())
        })
        .map_err(|e| self.err(e))
    }

    pub(crate) fn first_subscriber(
        &self,
        status: SubscriberStatus,
    ) -> Result<Option<Subscriber>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS_AS_S} FROM subscribers s WHERE s.status = ?1 ORDER BY s.id LIMIT 1"
                ),
                [status.as_str()],
                |r| from_row(r, 0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub(crate) fn subscriber(&self, email: &Email) -> Result<Option<Subscriber>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS_AS_S} FROM subscribers s WHERE s.email_key = ?1"),
                [email.key()],
                |r| from_row(r, 0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub(crate) fn set_subscriber_status(
        &mut self,
        id: i64,
        status: SubscriberStatus,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE subscribers SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, status.as_str(), stamp(now)],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    pub(crate) fn remove_subscriber(&mut self, email: &Email) -> Result<bool, StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM deliveries WHERE subscriber_id IN (SELECT id FROM subscribers WHERE email_key = ?1)",
                [email.key()],
            )?;
            tx.execute(
                "DELETE FROM service_emails WHERE subscriber_id IN (SELECT id FROM subscribers WHERE email_key = ?1)",
                [email.key()],
            )?;
            let n = tx
                .execute(
                    "DELETE FROM subscribers WHERE email_key = ?1",
                    [email.key()],
                )?;
                    Ok(n > 0)
        })
    }

    pub(crate) fn subscriber_by_id(&self, id: i64) -> Result<Option<Subscriber>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS_AS_S} FROM subscribers s WHERE s.id = ?1"),
                [id],
                |r| from_row(r, 0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub(crate) fn request_signup(
        &mut self,
        s: &NewSubscriber,
        now: DateTime<FixedOffset>,
    ) -> Result<SignupOutcome, StoreError> {
        let now = stamp(now);
        let columns = s.columns.join(";");
        let name = crate::address::display_name(&s.name);
        self.write(|tx| {
            let existing: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, status FROM subscribers WHERE email_key = ?1",
                    [s.email.key()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let id = match existing {
                Some((id, status)) if status == "active" => {
                    return Ok(SignupOutcome::AlreadyActive(id))
                }
                Some((id, status)) if status == "bounced" => return Ok(SignupOutcome::Bounced(id)),
                Some((id, _)) => id,
                None => {
                    tx.execute(
                        "INSERT INTO subscribers (email, email_key, name, columns, status, created_at, updated_at)
                         VALUES (?1, ?2, '', '', 'pending', ?3, ?3)",
                        params![s.email.as_str(), s.email.key(), now],
                    )?;
                    tx.last_insert_rowid()
                }
            };
            let request = insert_request(tx, id, &name, &columns, &now)?;
            Ok(SignupOutcome::Pending { id, request })
        })
    }

    pub(crate) fn request_resubscribe(
        &mut self,
        id: i64,
        name: &str,
        columns: &[String],
        now: DateTime<FixedOffset>,
    ) -> Result<i64, StoreError> {
        let now = stamp(now);
        let name = crate::address::display_name(name);
        let columns = columns.join(";");
        self.write(|tx| insert_request(tx, id, &name, &columns, &now))
    }

    pub(crate) fn signup_request(&self, id: i64) -> Result<Option<SignupRequest>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, subscriber_id, name, columns, confirmed_at IS NOT NULL FROM signup_requests WHERE id = ?1",
                [id],
                |r| {
                    Ok(SignupRequest {
                        id: r.get(0)?,
                        subscriber_id: r.get(1)?,
                        name: r.get(2)?,
                        columns: crate::store::subscribers::split_columns(&r.get::<_, String>(3)?),
                        confirmed: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub(crate) fn confirm_request(
        &mut self,
        request: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<ConfirmOutcome, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE signup_requests SET confirmed_at = ?2 WHERE id = ?1 AND confirmed_at IS NULL",
                params![request, now],
            )?;
            if n == 0 {
                return Ok(ConfirmOutcome::AlreadyActive);
            }
            tx.execute(
                "UPDATE subscribers SET (name, columns, status, hard_bounces, updated_at) =
                     (SELECT r.name, r.columns, 'active', 0, ?2 FROM signup_requests r WHERE r.id = ?1)
                 WHERE id = (SELECT subscriber_id FROM signup_requests WHERE id = ?1)",
                params![request, now],
            )?;
            Ok(ConfirmOutcome::Activated)
        })
    }

    pub(crate) fn confirm_subscriber(
        &mut self,
        id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<ConfirmOutcome, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE subscribers SET status = 'active', hard_bounces = 0, updated_at = ?2
                 WHERE id = ?1 AND status != 'active'",
                params![id, now],
            )?;
            Ok(if n == 0 {
                ConfirmOutcome::AlreadyActive
            } else {
                ConfirmOutcome::Activated
            })
        })
    }

    pub(crate) fn unsubscribe_all(
        &mut self,
        ids: &[i64],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<bool>, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE subscribers SET status = 'unsubscribed', updated_at = ?2
                 WHERE id = ?1 AND status IN ('active', 'pending')",
            )?;
            ids.iter()
                .map(|id| stmt.execute(params![id, now]).map(|n| n > 0))
                .collect()
        })
    }

    pub(crate) fn update_preferences(
        &mut self,
        id: i64,
        name: &str,
        columns: &[String],
        now: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        let now = stamp(now);
        let columns = columns.join(";");
        self.write(|tx| {
            tx.execute(
                "UPDATE subscribers SET name = ?2, columns = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, crate::address::display_name(name), columns, now],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::subscribers::IMPORT_BATCH;
    use crate::store::testing::rows_of;
    use crate::store::Store;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A version 2 state with these (email, email_key, name, status) rows,
    /// as broadsheet wrote it before domains were compared in ASCII.
    fn version_2(rows: &[(&str, &str, &str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let conn = super::super::open::database_of_version(&path, 2);
        for (email, key, name, status) in rows {
            conn.execute(
                "INSERT INTO subscribers (email, email_key, name, columns, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, '', ?4, 'x', 'x')",
                params![email, key, name, status],
            )
            .unwrap();
        }
        (dir, path)
    }

    #[test]
    fn upgrading_merges_the_two_forms_of_one_mailbox_and_cleans_names() {
        let (_dir, path) = version_2(&[
            ("a@bücher.example", "a@bücher.example", "甲", "active"),
            (
                "a@xn--bcher-kva.example",
                "a@xn--bcher-kva.example",
                "",
                "active",
            ),
            (
                "b@Bücher.example",
                "b@bücher.example",
                "\u{202e}evil",
                "active",
            ),
            ("c@bücher.example", "c@bücher.example", "", "unsubscribed"),
            (
                "c@xn--bcher-kva.example",
                "c@xn--bcher-kva.example",
                "",
                "active",
            ),
        ]);
        let store = Store::open(&path).unwrap();
        let active: Vec<(String, String)> = store
            .subscribers(Some(SubscriberStatus::Active))
            .unwrap()
            .into_iter()
            .map(|s| (s.email, s.name))
            .collect();
        // One copy per mailbox; b re-keyed, its name cleaned; c had left
        // under one spelling, so it gets nothing under the other.
        assert_eq!(
            active,
            [
                ("a@xn--bcher-kva.example".to_owned(), String::new()),
                ("b@xn--bcher-kva.example".to_owned(), "evil".to_owned()),
            ]
        );
        let b = store
            .subscriber(&Email::parse("b@bücher.example").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(b.email, "b@xn--bcher-kva.example");
    }

    #[test]
    fn an_import_is_one_commit_however_many_rows_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Sqlite::open(&dir.path().join("state.db")).unwrap();
        let now = DateTime::parse_from_rfc3339("2026-06-08T07:00:00+08:00").unwrap();
        let row = |i: usize, name: &str| NewSubscriber {
            email: Email::parse(&format!("reader{i}@example.com")).unwrap(),
            name: name.into(),
            columns: vec!["ai".into()],
        };
        let import = |db: &mut Sqlite, rows: &[NewSubscriber]| {
            let Ok(report) = db
                .import_subscribers(&mut rows_of(rows), now, false)
                .unwrap();
            report
        };
        import(&mut db, &[row(0, "讀者")]);
        // SQLite calls the hook once per commit on this connection, the
        // one the import writes through.
        let commits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&commits);
        db.conn.commit_hook(Some(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            false
        }));
        // More than one batch.
        let rows: Vec<NewSubscriber> = (0..IMPORT_BATCH * 2 + 7)
            .map(|i| row(i, "讀者甲"))
            .collect();
        let report = import(&mut db, &rows);
        assert_eq!(
            report,
            ImportReport {
                added: IMPORT_BATCH * 2 + 6,
                updated: 1,
                unchanged: 0,
                kept_unsubscribed: 0,
                kept_complained: 0,
                resubscribed: 0
            }
        );
        assert_eq!(commits.load(Ordering::Relaxed), 1);
        db.conn.commit_hook(None::<fn() -> bool>);
        assert_eq!(db.subscribers(None).unwrap().len(), IMPORT_BATCH * 2 + 7);
    }
}
