//! Subscribers: added from the command line, a CSV import or the web
//! service; compared by address with the domain lower-cased.

use super::{stamp, Store, StoreError};
use crate::address::Email;
use chrono::{DateTime, FixedOffset};
use rusqlite::{params, OptionalExtension, Row};

/// Where a subscriber stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberStatus {
    /// Receives the digest.
    Active,
    /// Signed up; has not confirmed yet.
    Pending,
    /// Asked to stop.
    Unsubscribed,
    /// Their server refused mail for good, repeatedly.
    Bounced,
}

impl SubscriberStatus {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberStatus::Active => "active",
            SubscriberStatus::Pending => "pending",
            SubscriberStatus::Unsubscribed => "unsubscribed",
            SubscriberStatus::Bounced => "bounced",
        }
    }

    /// Reads a status name.
    pub fn parse(s: &str) -> Option<SubscriberStatus> {
        Some(match s {
            "active" => SubscriberStatus::Active,
            "pending" => SubscriberStatus::Pending,
            "unsubscribed" => SubscriberStatus::Unsubscribed,
            "bounced" => SubscriberStatus::Bounced,
            _ => return None,
        })
    }
}

/// A subscriber as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// Its key.
    pub id: i64,
    /// The address as given.
    pub email: String,
    /// The name to greet them by; may be empty.
    pub name: String,
    /// Column slugs followed; empty: every column.
    pub columns: Vec<String>,
    /// Where they stand.
    pub status: SubscriberStatus,
}

impl Subscriber {
    /// Whether they follow `column`.
    pub fn follows(&self, column: &str) -> bool {
        self.columns.is_empty() || self.columns.iter().any(|c| c == column)
    }

    /// The columns as stored and exported: `;`-separated.
    pub fn columns_text(&self) -> String {
        self.columns.join(";")
    }
}

/// A subscriber to add or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscriber {
    /// The address.
    pub email: Email,
    /// A name; may be empty.
    pub name: String,
    /// Column slugs; empty: every column.
    pub columns: Vec<String>,
}

/// What adding a subscriber did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// A new active subscriber.
    Added,
    /// An existing subscriber's name, columns or status changed.
    Updated,
    /// Nothing to change.
    Unchanged,
    /// They had unsubscribed (or bounced) and stay so.
    KeptUnsubscribed,
}

/// What a sign-up on the web did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupOutcome {
    /// The address needs a confirmation email: new (now pending), pending
    /// already, or unsubscribed (which it stays until it confirms).
    Pending(i64),
    /// The address already receives the digest; nothing was changed, since
    /// whoever filled the form has not shown they own it.
    AlreadyActive(i64),
    /// Mail to the address was refused for good: nothing is sent to it.
    Bounced(i64),
}

/// What confirming did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The subscriber is active from now on.
    Activated,
    /// They were active already.
    AlreadyActive,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New subscribers.
    pub added: usize,
    /// Subscribers changed.
    pub updated: usize,
    /// Rows that changed nothing.
    pub unchanged: usize,
    /// Rows for addresses that unsubscribed, left as they are.
    pub kept_unsubscribed: usize,
}

pub(super) const COLUMNS_AS_S: &str = "s.id, s.email, s.name, s.columns, s.status";

pub(super) fn from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<Subscriber> {
    let columns: String = r.get(at + 3)?;
    let status: String = r.get(at + 4)?;
    Ok(Subscriber {
        id: r.get(at)?,
        email: r.get(at + 1)?,
        name: r.get(at + 2)?,
        columns: split_columns(&columns),
        status: SubscriberStatus::parse(&status).unwrap_or(SubscriberStatus::Unsubscribed),
    })
}

fn split_columns(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

fn upsert(
    tx: &rusqlite::Transaction<'_>,
    s: &NewSubscriber,
    now: &str,
    resubscribe: bool,
) -> rusqlite::Result<UpsertOutcome> {
    let columns = s.columns.join(";");
    let existing: Option<(i64, String, String, String)> = tx
        .query_row(
            "SELECT id, name, columns, status FROM subscribers WHERE email_key = ?1",
            [s.email.key()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    match existing {
        None => {
            tx.execute(
                "INSERT INTO subscribers (email, email_key, name, columns, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?5)",
                params![s.email.as_str(), s.email.key(), s.name, columns, now],
            )?;
            Ok(UpsertOutcome::Added)
        }
        Some((_, _, _, status))
            if (status == "unsubscribed" || status == "bounced") && !resubscribe =>
        {
            Ok(UpsertOutcome::KeptUnsubscribed)
        }
        Some((id, name, old_columns, status)) => {
            if name == s.name && old_columns == columns && status == "active" {
                return Ok(UpsertOutcome::Unchanged);
            }
            tx.execute(
                "UPDATE subscribers SET name = ?2, columns = ?3, status = 'active', hard_bounces = 0, updated_at = ?4
                 WHERE id = ?1",
                params![id, s.name, columns, now],
            )?;
            Ok(UpsertOutcome::Updated)
        }
    }
}

impl Store {
    /// Adds an active subscriber, or updates the one with this address. An
    /// address that unsubscribed stays unsubscribed unless `resubscribe`.
    pub fn add_subscriber(
        &mut self,
        s: &NewSubscriber,
        now: DateTime<FixedOffset>,
        resubscribe: bool,
    ) -> Result<UpsertOutcome, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            let outcome = upsert(tx, s, &now, resubscribe)?;
            Ok(outcome)
        })
    }

    /// Adds or updates every subscriber in one transaction: all or none.
    pub fn import_subscribers(
        &mut self,
        rows: &[NewSubscriber],
        now: DateTime<FixedOffset>,
        resubscribe: bool,
    ) -> Result<ImportReport, StoreError> {
        let now = stamp(now);
        self.write(|tx| {
            let mut report = ImportReport::default();
            for s in rows {
                match upsert(tx, s, &now, resubscribe)? {
                    UpsertOutcome::Added => report.added += 1,
                    UpsertOutcome::Updated => report.updated += 1,
                    UpsertOutcome::Unchanged => report.unchanged += 1,
                    UpsertOutcome::KeptUnsubscribed => report.kept_unsubscribed += 1,
                }
            }
            Ok(report)
        })
    }

    /// Subscribers, by address; only those of `status` when given.
    pub fn subscribers(
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

    /// The subscriber with this address.
    pub fn subscriber(&self, email: &Email) -> Result<Option<Subscriber>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS_AS_S} FROM subscribers s WHERE s.email_key = ?1"),
                [email.key()],
                |r| from_row(r, 0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Sets a subscriber's status.
    pub fn set_subscriber_status(
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

    /// Removes a subscriber and their delivery history. Returns whether
    /// there was one.
    pub fn remove_subscriber(&mut self, email: &Email) -> Result<bool, StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM deliveries WHERE subscriber_id IN (SELECT id FROM subscribers WHERE email_key = ?1)",
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

    /// The subscriber with this id.
    pub fn subscriber_by_id(&self, id: i64) -> Result<Option<Subscriber>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS_AS_S} FROM subscribers s WHERE s.id = ?1"),
                [id],
                |r| from_row(r, 0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Records a sign-up from the web. A new address becomes pending with the
    /// name and columns given; a known one is left exactly as it is, and
    /// the outcome says what to send it.
    pub fn request_signup(
        &mut self,
        s: &NewSubscriber,
        now: DateTime<FixedOffset>,
    ) -> Result<SignupOutcome, StoreError> {
        let now = stamp(now);
        let columns = s.columns.join(";");
        self.write(|tx| {
            let existing: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, status FROM subscribers WHERE email_key = ?1",
                    [s.email.key()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match existing {
                // A known address is left exactly as it is: whoever filled
                // the form has not shown they own it, so it must not undo an
                // unsubscribe on record, nor set the name or columns the
                // digest will use. Confirming (which proves ownership)
                // activates it; its owner then sets columns and name on
                // the preferences page the confirmation leads to.
                Some((id, status)) => Ok(match status.as_str() {
                    "active" => SignupOutcome::AlreadyActive(id),
                    "bounced" => SignupOutcome::Bounced(id),
                    _ => SignupOutcome::Pending(id),
                }),
                None => {
                    tx.execute(
                        "INSERT INTO subscribers (email, email_key, name, columns, status, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
                        params![s.email.as_str(), s.email.key(), s.name, columns, now],
                    )?;
                    Ok(SignupOutcome::Pending(tx.last_insert_rowid()))
                }
            }
        })
    }

    /// Activates a subscriber who followed their confirmation link.
    pub fn confirm_subscriber(
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

    /// Unsubscribes a subscriber; returns whether anything changed, so a
    /// second one-click request is answered the same and writes nothing.
    pub fn unsubscribe(&mut self, id: i64, now: DateTime<FixedOffset>) -> Result<bool, StoreError> {
        Ok(self.unsubscribe_all(&[id], now)?[0])
    }

    /// Unsubscribes each of `ids` in one transaction; says for each whether
    /// anything changed. One commit for many one-click requests that
    /// arrive together keeps each of them short of waiting its turn.
    pub fn unsubscribe_all(
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

    /// Sets a subscriber's name and columns from their preferences page.
    /// Saving is a deliberate act by the owner of the address (the link was
    /// mailed to it), so it also brings back one who had unsubscribed.
    pub fn update_preferences(
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
                "UPDATE subscribers SET name = ?2, columns = ?3, status = 'active', hard_bounces = 0, updated_at = ?4
                 WHERE id = ?1",
                params![id, name, columns, now],
            )?;
            Ok(())
        })
    }
}
