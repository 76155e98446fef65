//! The subscribers' statements, and the sign-up requests kept with them.
//!
//! Two web instances may take the same address at once: a new row is
//! written with `ON CONFLICT DO NOTHING` and read back, and an existing
//! one is locked (`FOR UPDATE`) before it is changed. An import does the
//! same a batch at a time: one statement locks the batch's rows, one
//! writes its new addresses, one its changes.

use super::Postgres;
use crate::address::Email;
use crate::store::subscribers::{change_of, each_batch, RowChange, StoredRow, REQUEST_KEEP_DAYS};
use crate::store::{
    parse_stamp, stamp, ConfirmOutcome, ImportReport, ImportRows, NewSubscriber, SignupOutcome,
    SignupRequest, StoreError, Subscriber, SubscriberStatus, SubscriberUpdate, UpsertOutcome,
};
use chrono::{DateTime, FixedOffset};
use postgres::{Row, Transaction};

/// The advisory lock key `subscribers import` holds for its transaction
/// ("bsimport" in ASCII): any number, so long as nothing else uses it.
const IMPORT_LOCK: i64 = 0x6273_696d_706f_7274;

/// Subscribers fetched from the server at a time when going through
/// all of them (a handful in tests, so that they cross pages).
const SUBSCRIBERS_PAGE: i32 = if cfg!(test) { 7 } else { 10_000 };

/// Calls `visit` with each page of the subscribers of `status`, in the
/// order of their ids, fetched through a portal in `tx`; `visit` may use
/// `tx` between pages (to write what a page asks for).
pub(super) fn each_page(
    tx: &mut Transaction<'_>,
    status: SubscriberStatus,
    mut visit: impl FnMut(&mut Transaction<'_>, Vec<Subscriber>) -> Result<(), postgres::Error>,
) -> Result<(), postgres::Error> {
    let portal = tx.bind(
        &format!("SELECT {COLUMNS_AS_S} FROM subscribers s WHERE s.status = $1 ORDER BY s.id"),
        &[&status.as_str()],
    )?;
    loop {
        let rows = tx.query_portal(&portal, SUBSCRIBERS_PAGE)?;
        if rows.is_empty() {
            return Ok(());
        }
        visit(tx, rows.iter().map(|r| from_row(r, 0)).collect())?;
    }
}

pub(super) const COLUMNS_AS_S: &str = "s.id, s.email, s.name, s.columns, s.status";

pub(super) fn from_row(r: &Row, at: usize) -> Subscriber {
    let columns: String = r.get(at + 3);
    let status: String = r.get(at + 4);
    Subscriber {
        id: r.get(at),
        email: r.get(at + 1),
        name: crate::address::display_name(&r.get::<_, String>(at + 2)),
        columns: crate::store::subscribers::split_columns(&columns),
        status: SubscriberStatus::parse(&status).unwrap_or(SubscriberStatus::Unsubscribed),
    }
}

/// The row of `email`, locked for this transaction.
fn locked(tx: &mut Transaction<'_>, email: &Email) -> Result<Option<StoredRow>, postgres::Error> {
    Ok(tx
        .query_opt(
            "SELECT id, name, columns, status FROM subscribers WHERE email_key = $1 FOR UPDATE",
            &[&email.key()],
        )?
        .map(|r| stored_row(&r, 0)))
}

fn stored_row(r: &Row, at: usize) -> StoredRow {
    StoredRow {
        id: r.get(at),
        name: r.get(at + 1),
        columns: r.get(at + 2),
        status: r.get(at + 3),
    }
}

/// Adds the subscriber, or sets the fields given (`Some`) of the one with
/// this address and leaves the others as they are.
fn upsert(
    tx: &mut Transaction<'_>,
    email: &Email,
    name: Option<&str>,
    columns: Option<&[String]>,
    now: &str,
    resubscribe: bool,
) -> Result<UpsertOutcome, postgres::Error> {
    let columns = columns.map(|c| c.join(";"));
    let name = name.map(crate::address::display_name);
    let mut existing = locked(tx, email)?;
    if existing.is_none() {
        let added = tx.execute(
            "INSERT INTO subscribers (email, email_key, name, columns, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'active', $5, $5) ON CONFLICT (email_key) DO NOTHING",
            &[
                &email.as_str(),
                &email.key(),
                &name.as_deref().unwrap_or_default(),
                &columns.as_deref().unwrap_or_default(),
                &now,
            ],
        )?;
        if added == 1 {
            return Ok(UpsertOutcome::Added);
        }
        // Another instance wrote it since: change that one.
        existing = locked(tx, email)?;
    }
    let Some(row) = existing else {
        return Ok(UpsertOutcome::Unchanged);
    };
    match change_of(&row, name.as_deref(), columns.as_deref(), resubscribe) {
        RowChange::Keep(outcome) => Ok(outcome),
        RowChange::Set {
            name,
            columns,
            outcome,
        } => {
            tx.execute(
                "UPDATE subscribers SET name = $2, columns = $3, status = 'active', hard_bounces = 0, updated_at = $4
                 WHERE id = $1",
                &[&row.id, &name, &columns, &now],
            )?;
            Ok(outcome)
        }
    }
}

/// Imports one batch of rows (each address once) as [`upsert`] would one
/// by one, in three statements instead of two or three a row: a million
/// rows a row at a time took 14 minutes over loopback.
fn import_batch(
    tx: &mut Transaction<'_>,
    batch: &[NewSubscriber],
    now: &str,
    resubscribe: bool,
    report: &mut ImportReport,
) -> Result<(), postgres::Error> {
    let keys: Vec<&str> = batch.iter().map(|s| s.email.key()).collect();
    // Locked in the order of their keys, as any other importer locks
    // them, so that two imports cannot deadlock.
    let mut existing: std::collections::HashMap<String, StoredRow> = tx
        .query(
            "SELECT email_key, id, name, columns, status FROM subscribers
             WHERE email_key = ANY($1) ORDER BY email_key FOR UPDATE",
            &[&keys],
        )?
        .iter()
        .map(|r| (r.get(0), stored_row(r, 1)))
        .collect();

    let mut new = Vec::new();
    let mut change = (Vec::new(), Vec::new(), Vec::new());
    for s in batch {
        // A row gives every field: an empty name cell clears the name.
        let name = crate::address::display_name(&s.name);
        let columns = s.columns.join(";");
        match existing.remove(s.email.key()) {
            None => new.push((s, name, columns)),
            Some(row) => match change_of(&row, Some(&name), Some(&columns), resubscribe) {
                RowChange::Keep(outcome) => report.count(outcome),
                RowChange::Set {
                    name,
                    columns,
                    outcome,
                } => {
                    change.0.push(row.id);
                    change.1.push(name);
                    change.2.push(columns);
                    report.count(outcome);
                }
            },
        }
    }

    if !new.is_empty() {
        let emails: Vec<&str> = new.iter().map(|(s, _, _)| s.email.as_str()).collect();
        let keys: Vec<&str> = new.iter().map(|(s, _, _)| s.email.key()).collect();
        let names: Vec<&str> = new.iter().map(|(_, n, _)| n.as_str()).collect();
        let columns: Vec<&str> = new.iter().map(|(_, _, c)| c.as_str()).collect();
        // In file order, so ids follow the file as they do one by one.
        let added: std::collections::HashSet<String> = tx
            .query(
                "INSERT INTO subscribers (email, email_key, name, columns, status, created_at, updated_at)
                 SELECT e, k, n, c, 'active', $5, $5
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(e, k, n, c, i)
                 ORDER BY i
                 ON CONFLICT (email_key) DO NOTHING RETURNING email_key",
                &[&emails, &keys, &names, &columns, &now],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        report.added += added.len();
        // Written by another instance since the lock above: those few
        // go one at a time, as a single add would.
        for (s, _, _) in new
            .iter()
            .filter(|(s, _, _)| !added.contains(s.email.key()))
        {
            report.count(upsert(
                tx,
                &s.email,
                Some(&s.name),
                Some(&s.columns),
                now,
                resubscribe,
            )?);
        }
    }

    let (ids, names, columns) = change;
    if !ids.is_empty() {
        tx.execute(
            "UPDATE subscribers s
             SET name = u.n, columns = u.c, status = 'active', hard_bounces = 0, updated_at = $4
             FROM unnest($1::int8[], $2::text[], $3::text[]) AS u(id, n, c) WHERE s.id = u.id",
            &[&ids, &names, &columns, &now],
        )?;
    }
    Ok(())
}

fn insert_request(
    tx: &mut Transaction<'_>,
    subscriber: i64,
    name: &str,
    columns: &str,
    now: &str,
) -> Result<i64, postgres::Error> {
    let id: i64 = tx
        .query_one(
            "INSERT INTO signup_requests (subscriber_id, name, columns, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
            &[&subscriber, &name, &columns, &now],
        )?
        .get(0);
    if let Some(cutoff) = parse_stamp(now) {
        tx.execute(
            "DELETE FROM signup_requests WHERE created_at < $1",
            &[&stamp(cutoff - chrono::Duration::days(REQUEST_KEEP_DAYS))],
        )?;
    }
    Ok(id)
}

impl Postgres {
    pub(crate) fn add_or_update_subscriber(
        &self,
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
        &self,
        rows: &mut ImportRows<'_, E>,
        now: DateTime<FixedOffset>,
        resubscribe: bool,
    ) -> Result<Result<ImportReport, E>, StoreError> {
        let now = stamp(now);
        self.write_unless(|tx| {
            // One import at a time across every instance. Each holds the
            // rows it inserted until it commits, so two with new addresses
            // in different orders would each wait for the other's: a
            // deadlock the server ends by failing one. A second import
            // waits here instead, as on SQLite, within lock_timeout.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK])?;
            let mut report = ImportReport::default();
            let read = each_batch(rows, |batch| {
                import_batch(tx, batch, &now, resubscribe, &mut report)
            })?;
            Ok(read.map(|()| report))
        })
    }

    pub(crate) fn subscribers(
        &self,
        status: Option<SubscriberStatus>,
    ) -> Result<Vec<Subscriber>, StoreError> {
        let status = status.map(|s| s.as_str());
        self.read(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {COLUMNS_AS_S} FROM subscribers s
                     WHERE $1::text IS NULL OR s.status = $1::text ORDER BY s.email_key"
                ),
                &[&status],
            )?
            .iter()
            .map(|r| from_row(r, 0))
            .collect())
        })
    }

    /// Through a portal a page at a time, so the client never holds
    /// more than a page of rows.
    pub(crate) fn each_subscriber(
        &self,
        status: SubscriberStatus,
        visit: &mut dyn FnMut(Subscriber),
    ) -> Result<(), StoreError> {
        self.read(|c| {
            let mut tx = c.build_transaction().read_only(true).start()?;
            each_page(&mut tx, status, |_, page| {
                page.into_iter().for_each(&mut *visit);
                Ok(())
            })?;
            tx.commit()
        })
    }

    pub(crate) fn first_subscriber(
        &self,
        status: SubscriberStatus,
    ) -> Result<Option<Subscriber>, StoreError> {
        self.read(|c| {
            Ok(c.query_opt(
                &format!(
                    "SELECT {COLUMNS_AS_S} FROM subscribers s WHERE s.status = $1 ORDER BY s.id LIMIT 1"
                ),
                &[&status.as_str()],
            )?
            .map(|r| from_row(&r, 0)))
        })
    }

    pub(crate) fn subscriber(&self, email: &Email) -> Result<Option<Subscriber>, StoreError> {
        self.read(|c| {
            Ok(c.query_opt(
                &format!("SELECT {COLUMNS_AS_S} FROM subscribers s WHERE s.email_key = $1"),
                &[&email.key()],
            )?
            .map(|r| from_row(&r, 0)))
        })
    }

    pub(crate) fn set_subscriber_status(
        &self,
        id: i64,
        status: SubscriberStatus,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        let n = self.read(|c| {
            c.execute(
                "UPDATE subscribers SET status = $2, updated_at = $3 WHERE id = $1",
                &[&id, &status.as_str(), &stamp(now)],
            )
        })?;
        Ok(n > 0)
    }

    pub(crate) fn remove_subscriber(&self, email: &Email) -> Result<bool, StoreError> {
        self.write(|tx| {
            let key = email.key();
            tx.execute(
                "DELETE FROM deliveries WHERE subscriber_id IN (SELECT id FROM subscribers WHERE email_key = $1)",
                &[&key],
            )?;
            tx.execute(
                "DELETE FROM service_emails WHERE subscriber_id IN (SELECT id FROM subscribers WHERE email_key = $1)",
                &[&key],
            )?;
            let n = tx.execute("DELETE FROM subscribers WHERE email_key = $1", &[&key])?;
            Ok(n > 0)
        })
    }

    pub(crate) fn subscriber_by_id(&self, id: i64) -> Result<Option<Subscriber>, StoreError> {
        self.read(|c| {
            Ok(c.query_opt(
                &format!("SELECT {COLUMNS_AS_S} FROM subscribers s WHERE s.id = $1"),
                &[&id],
            )?
            .map(|r| from_row(&r, 0)))
        })
    }

    pub(crate) fn request_signup(
        &self,
        s: &NewSubscriber,
        now: DateTime<FixedOffset>,
    ) -> Result<SignupOutcome, StoreError> {
        let now = stamp(now);
        let columns = s.columns.join(";");
        let name = crate::address::display_name(&s.name);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO subscribers (email, email_key, name, columns, status, created_at, updated_at)
                 VALUES ($1, $2, '', '', 'pending', $3, $3) ON CONFLICT (email_key) DO NOTHING",
                &[&s.email.as_str(), &s.email.key(), &now],
            )?;
            let StoredRow { id, status, .. } =
                locked(tx, &s.email)?.expect("written above or before");
            match status.as_str() {
                "active" => return Ok(SignupOutcome::AlreadyActive(id)),
                "bounced" => return Ok(SignupOutcome::Bounced(id)),
                _ => {}
            }
            let request = insert_request(tx, id, &name, &columns, &now)?;
            Ok(SignupOutcome::Pending { id, request })
        })
    }

    pub(crate) fn request_resubscribe(
        &self,
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
        self.read(|c| {
            Ok(c.query_opt(
                "SELECT id, subscriber_id, name, columns, confirmed_at IS NOT NULL FROM signup_requests WHERE id = $1",
                &[&id],
            )?
            .map(|r| SignupRequest {
                id: r.get(0),
                subscriber_id: r.get(1),
                name: r.get(2),
                columns: crate::store::subscribers::split_columns(&r.get::<_, String>(3)),
                confirmed: r.get(4),
            }))
        })
    }

    pub(crate) fn confirm_request(
        &self,
        request: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<ConfirmOutcome, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE signup_requests SET confirmed_at = $2 WHERE id = $1 AND confirmed_at IS NULL",
                &[&request, &now],
            )?;
            if n == 0 {
                return Ok(ConfirmOutcome::AlreadyActive);
            }
            tx.execute(
                "UPDATE subscribers SET (name, columns, status, hard_bounces, updated_at) =
                     (SELECT r.name, r.columns, 'active', 0, $2 FROM signup_requests r WHERE r.id = $1)
                 WHERE id = (SELECT subscriber_id FROM signup_requests WHERE id = $1)",
                &[&request, &now],
            )?;
            Ok(ConfirmOutcome::Activated)
        })
    }

    pub(crate) fn confirm_subscriber(
        &self,
        id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<ConfirmOutcome, StoreError> {
        let now = stamp(now);
        let n = self.read(|c| {
            c.execute(
                "UPDATE subscribers SET status = 'active', hard_bounces = 0, updated_at = $2
                 WHERE id = $1 AND status != 'active'",
                &[&id, &now],
            )
        })?;
        Ok(if n == 0 {
            ConfirmOutcome::AlreadyActive
        } else {
            ConfirmOutcome::Activated
        })
    }

    pub(crate) fn unsubscribe_all(
        &self,
        ids: &[i64],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<bool>, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            let stmt = tx.prepare(
                "UPDATE subscribers SET status = 'unsubscribed', updated_at = $2
                 WHERE id = $1 AND status IN ('active', 'pending')",
            )?;
            ids.iter()
                .map(|id| tx.execute(&stmt, &[id, &now]).map(|n| n > 0))
                .collect()
        })
    }

    pub(crate) fn update_preferences(
        &self,
        id: i64,
        name: &str,
        columns: &[String],
        now: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        let now = stamp(now);
        let columns = columns.join(";");
        let name = crate::address::display_name(name);
        self.read(|c| {
            c.execute(
                "UPDATE subscribers SET name = $2, columns = $3, updated_at = $4 WHERE id = $1",
                &[&id, &name, &columns, &now],
            )
        })?;
        Ok(())
    }
}
