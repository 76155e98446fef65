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
    /// The address needs a confirmation email: new (now pending, with no
    /// name or columns yet), pending already, or unsubscribed (which it
    /// stays until it confirms). What the form chose is kept as
    /// `request`, applied only when that request's link is confirmed.
    Pending {
        /// The subscriber.
        id: i64,
        /// The sign-up request the confirmation link names.
        request: i64,
    },
    /// The address already receives the digest; nothing was changed, since
    /// whoever filled the form has not shown they own it.
    AlreadyActive(i64),
    /// Mail to the address was refused for good: nothing is sent to it.
    Bounced(i64),
}

/// A sign-up waiting for its confirmation link: the choices made with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupRequest {
    /// Its row.
    pub id: i64,
    /// The subscriber it is for.
    pub subscriber_id: i64,
    /// The name chosen; may be empty.
    pub name: String,
    /// Column slugs chosen; empty: every column.
    pub columns: Vec<String>,
    /// Whether its link was confirmed already.
    pub confirmed: bool,
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
        // Cleaned again where it is read, for rows stored before names
        // were cleaned on the way in: a digest builds `To` from it.
        name: crate::address::display_name(&r.get::<_, String>(at + 2)?),
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
    let name = crate::address::display_name(&s.name);
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
                params![s.email.as_str(), s.email.key(), name, columns, now],
            )?;
            Ok(UpsertOutcome::Added)
        }
        Some((_, _, _, status))
            if (status == "unsubscribed" || status == "bounced") && !resubscribe =>
        {
            Ok(UpsertOutcome::KeptUnsubscribed)
        }
        Some((id, old_name, old_columns, status)) => {
            if old_name == name && old_columns == columns && status == "active" {
                return Ok(UpsertOutcome::Unchanged);
            }
            tx.execute(
                "UPDATE subscribers SET name = ?2, columns = ?3, status = 'active', hard_bounces = 0, updated_at = ?4
                 WHERE id = ?1",
                params![id, name, columns, now],
            )?;
            Ok(UpsertOutcome::Updated)
        }
    }
}

/// Requests older than this are deleted when a new one is stored: their
/// links (48 hours) expired long ago.
const REQUEST_KEEP_DAYS: i64 = 7;

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
    if let Some(cutoff) = super::parse_stamp(now) {
        tx.execute(
            "DELETE FROM signup_requests WHERE created_at < ?1",
            [super::stamp(
                cutoff - chrono::Duration::days(REQUEST_KEEP_DAYS),
            )],
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

    /// Records a sign-up from the web. A new address becomes pending with
    /// no name and no columns; a known one is left exactly as it is. The
    /// name and columns the form chose are stored as a request of their
    /// own, which only its confirmation link applies, so whoever filled
    /// the form first cannot choose what the owner is greeted by.
    pub fn request_signup(
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

    /// Records that subscriber `id`, who left or bounced, asked from their
    /// preferences page to come back with this name and columns; returns
    /// the request a fresh confirmation link names.
    pub fn request_resubscribe(
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

    /// The sign-up request with this id.
    pub fn signup_request(&self, id: i64) -> Result<Option<SignupRequest>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, subscriber_id, name, columns, confirmed_at IS NOT NULL FROM signup_requests WHERE id = ?1",
                [id],
                |r| {
                    Ok(SignupRequest {
                        id: r.get(0)?,
                        subscriber_id: r.get(1)?,
                        name: r.get(2)?,
                        columns: split_columns(&r.get::<_, String>(3)?),
                        confirmed: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Confirms a sign-up request: its subscriber becomes active with
    /// exactly the name and columns of that request. A request confirmed
    /// before changes nothing the second time.
    pub fn confirm_request(
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

    /// Activates a subscriber who followed a confirmation link of the
    /// first token format, which names the subscriber rather than a
    /// request (such links were mailed before requests were kept).
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
    /// Their status stays as it is: a preferences link travels in every
    /// digest, and whoever holds a forwarded one must not bring back a
    /// reader who left (coming back takes a fresh confirmation).
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

    /// A version 2 state with these (email, email_key, name, status) rows,
    /// as broadsheet wrote it before domains were compared in ASCII.
    fn version_2(rows: &[(&str, &str, &str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("schema.sql")).unwrap();
        conn.execute_batch(include_str!("schema2.sql")).unwrap();
        conn.pragma_update(None, "application_id", 0x4253_4854_i64)
            .unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
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
}
