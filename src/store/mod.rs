//! State in SQLite: subscribers, the articles each issue carried, digest
//! issues and one delivery row per recipient. Every SQL statement of the
//! crate lives in this module, so another backend means one new module.
//!
//! The database runs in WAL mode with a busy timeout, so `serve` and a cron
//! `run` can share it; writes are short transactions.

mod service_emails;
mod status;
mod subscribers;

pub use service_emails::{NewServiceEmail, ServiceEmail};
pub use subscribers::{
    ConfirmOutcome, ImportReport, NewSubscriber, SignupOutcome, SignupRequest, Subscriber,
    SubscriberStatus, UpsertOutcome,
};

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use rusqlite::{params, Connection, OpenFlags, Transaction};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Marks a database as broadsheet's (`PRAGMA application_id`, "BSHT").
const APPLICATION_ID: i64 = 0x4253_4854;

/// The migrations, in order; the schema version is their count.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema2.sql"),
    include_str!("schema3.sql"),
];

/// Permanent failures in a row after which a subscriber is marked bounced.
pub const BOUNCE_LIMIT: i64 = 3;

/// Why the state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not an SQLite database, or is damaged.
    #[error("{}: not a usable broadsheet database ({message}); it was left as it is", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        message: String,
    },
    /// The file is an SQLite database of some other program.
    #[error("{}: this SQLite database does not belong to broadsheet; it was left as it is (site.state_path)", path.display())]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// A newer broadsheet wrote this database.
    #[error("{}: the database has schema version {found}, newer than this broadsheet knows ({known}); upgrade broadsheet", path.display())]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// There is no database yet (for commands that only read it).
    #[error("{}: no state database yet; the first `run`, `digest send`, `subscribers add` or `serve` creates it (site.state_path)", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A query failed.
    #[error("{}: {source}", path.display())]
    Sql {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The lock file could not be made.
    #[error("{}: cannot create the lock file: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// An open state database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Held while a run may send: a second run finds it taken and stands down.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// How long a connection waits for another process's write lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How often it looks again.
const LOCK_POLL: Duration = Duration::from_micros(250);

/// The busy handler of every connection. SQLite's own (`busy_timeout`)
/// sleeps in steps that grow to 100 ms, so a one-click unsubscribe waiting
/// behind a digest run's short transactions could wait far longer than
/// the lock was held; polling every 250 µs keeps the wait close to it.
fn wait_for_lock(attempt: i32) -> bool {
    if LOCK_POLL * attempt.max(0) as u32 >= LOCK_WAIT {
        return false;
    }
    std::thread::sleep(LOCK_POLL);
    true
}

/// The database's application id and schema version. Reading them is the
/// first thing that fails on a file that is not a database.
fn header(conn: &Connection, path: &Path) -> Result<(i64, i64), StoreError> {
    let read = |pragma: &str| {
        conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
            .map_err(|e: rusqlite::Error| StoreError::Corrupt {
                path: path.to_owned(),
                message: e.to_string(),
            })
    };
    Ok((read("application_id")?, read("user_version")?))
}

/// RFC 3339 in UTC, the form every time is stored in.
pub(crate) fn stamp(t: DateTime<FixedOffset>) -> String {
    t.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads a stored time back.
pub(crate) fn parse_stamp(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date. A damaged, foreign or newer database is refused
    /// and left untouched.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let sql = |source| StoreError::Sql {
            path: path.to_owned(),
            source,
        };
        let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
            path: path.to_owned(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| sql(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(corrupt)?;
        conn.busy_handler(Some(wait_for_lock)).map_err(sql)?;
        let (app_id, version) = header(&conn, path)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(corrupt)?;
        if app_id != APPLICATION_ID && (tables > 0 || app_id != 0) {
            return Err(StoreError::Foreign {
                path: path.to_owned(),
            });
        }
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::NewerSchema {
                path: path.to_owned(),
                found: version,
                known,
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
        };
        store.migrate(version)?;
        Ok(store)
    }

    /// Opens an existing database for reading only: nothing is created,
    /// migrated or written, whatever is found.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        Store::open_reading(path, false)
    }

    /// [`Store::open_read_only`] for a one-off look (`status`): when no
    /// other connection is open the file is read as immutable, so not even
    /// the `-wal` and `-shm` files SQLite makes for readers appear.
    pub fn open_snapshot(path: &Path) -> Result<Store, StoreError> {
        Store::open_reading(path, true)
    }

    fn open_reading(path: &Path, snapshot: bool) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
            path: path.to_owned(),
            message: e.to_string(),
        };
        // With no `-wal` beside it no other connection is open, and even a
        // read-only one would create `-wal` and `-shm`: open it immutable,
        // which writes nothing at all. With one, another process is
        // working, and reading goes through its WAL as usual.
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let conn = if !snapshot || Path::new(&wal).exists() {
            Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        } else {
            let absolute = std::fs::canonicalize(path).map_err(|e| StoreError::Corrupt {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            let mut uri =
                url::Url::from_file_path(&absolute).map_err(|()| StoreError::Corrupt {
                    path: path.to_owned(),
                    message: "not a path SQLite can open".into(),
                })?;
            uri.set_query(Some("immutable=1"));
            Connection::open_with_flags(
                uri.as_str(),
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
        }
        .map_err(corrupt)?;
        conn.busy_handler(Some(wait_for_lock)).map_err(corrupt)?;
        let (app_id, version) = header(&conn, path)?;
        if app_id != APPLICATION_ID {
            return Err(StoreError::Foreign {
                path: path.to_owned(),
            });
        }
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::NewerSchema {
                path: path.to_owned(),
                found: version,
                known,
            });
        }
        if version < known {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                message: format!(
                    "schema version {version} is older than {known}; any command that writes, such as `run`, upgrades it"
                ),
            });
        }
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    fn migrate(&mut self, from: i64) -> Result<(), StoreError> {
        if from as usize == MIGRATIONS.len() {
            return Ok(());
        }
        let path = self.path.clone();
        let sql = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        for m in &MIGRATIONS[from as usize..] {
            tx.execute_batch(m).map_err(sql)?;
        }
        if from < 3 {
            subscribers::normalise_stored_addresses(&tx).map_err(sql)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sql)?;
        tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)
            .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Takes the run lock beside the database, or `None` when another run
    /// holds it. The lock goes with the process, however it ends.
    pub fn try_lock(state_path: &Path) -> Result<Option<RunLock>, StoreError> {
        let mut name = state_path.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let lock_err = |source| StoreError::Lock {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(lock_err)?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_err)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(lock_err(e)),
        }
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` in one transaction, committed if it succeeds.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sql { path, source };
        (|| {
            // IMMEDIATE takes the write lock at BEGIN, where the busy
            // timeout applies: a deferred transaction that reads and then
            // writes while `serve` or a cron run holds the lock fails at
            // once with "database is locked" instead of waiting.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })()
        .map_err(sql)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryStatus {
    /// Written with its issue; not tried yet.
    Queued,
    /// Handed to the transport; its outcome not recorded yet.
    Sending,
    /// Accepted by the server (or written to the outbox).
    Sent,
    /// Refused for now (4xx, a dropped connection, a timeout): tried again
    /// by the next run.
    Deferred,
    /// Refused for good (5xx).
    Failed,
    /// It was being sent when a run died: nobody knows whether it arrived.
    /// Sent again only when the operator asks (`--retry-unknown`).
    Unknown,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Deferred => "deferred",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Unknown => "unknown",
        }
    }
}

/// A digest issue as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRow {
    /// Its key.
    pub id: i64,
    /// The ISO week it belongs to.
    pub label: String,
    /// Its cutoff: the scheduled time.
    pub cutoff: DateTime<FixedOffset>,
    /// Whether every delivery has an outcome.
    pub done: bool,
}

/// A delivery to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Its key.
    pub id: i64,
    /// The recipient.
    pub subscriber: Subscriber,
    /// The Message-ID it is sent with.
    pub message_id: String,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The delivery.
    pub delivery_id: i64,
    /// Its recipient.
    pub subscriber_id: i64,
    /// Sent, Deferred or Failed.
    pub status: DeliveryStatus,
    /// The server's reply or the error, for the operator.
    pub reply: Option<String>,
    /// Whether the failure was a permanent refusal of the address (counts
    /// toward marking the subscriber bounced).
    pub hard_bounce: bool,
}

/// A new issue: what it carries and whom it goes to, written at once.
pub struct NewIssue<'a> {
    /// ISO week label.
    pub label: &'a str,
    /// The scheduled time.
    pub cutoff: DateTime<FixedOffset>,
    /// (article id, column, published) of every article it carries.
    pub articles: &'a [(String, String, DateTime<FixedOffset>)],
    /// (subscriber id, Message-ID) of every recipient.
    pub deliveries: &'a [(i64, String)],
    /// (article id, updated) of every correction it lists.
    pub corrections: &'a [(String, DateTime<FixedOffset>)],
}

impl Store {
    /// Every issue not finished yet, oldest first.
    pub fn unfinished_issues(&self) -> Result<Vec<IssueRow>, StoreError> {
        self.issues(
            "SELECT id, label, cutoff, status FROM issues WHERE status = 'sending' ORDER BY cutoff",
        )
    }

    /// The newest issue, finished or not.
    pub fn latest_issue(&self) -> Result<Option<IssueRow>, StoreError> {
        Ok(self
            .issues("SELECT id, label, cutoff, status FROM issues ORDER BY cutoff DESC LIMIT 1")?
            .pop())
    }

    fn issues(&self, query: &str) -> Result<Vec<IssueRow>, StoreError> {
        let mut stmt = self.conn.prepare(query).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let cutoff: String = r.get(2)?;
                let status: String = r.get(3)?;
                Ok(IssueRow {
                    id: r.get(0)?,
                    label: r.get(1)?,
                    cutoff: parse_stamp(&cutoff).unwrap_or_default(),
                    done: status == "done",
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Which of `ids` an earlier issue already carried.
    pub fn carried(&self, ids: &[&str]) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM issue_articles WHERE article_id = ?1")
            .map_err(|e| self.err(e))?;
        let mut out = std::collections::HashSet::new();
        for id in ids {
            if stmt.exists([id]).map_err(|e| self.err(e))? {
                out.insert((*id).to_owned());
            }
        }
        Ok(out)
    }

    /// The articles an issue carried, as (id, column).
    pub fn issue_articles(&self, issue_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT article_id, column_slug FROM issue_articles WHERE issue_id = ?1 ORDER BY article_id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([issue_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Writes an issue, the articles it carries and one queued delivery
    /// per recipient in one transaction: before anything is sent, the whole
    /// issue is on disk.
    pub fn create_issue(
        &mut self,
        issue: &NewIssue<'_>,
        now: DateTime<FixedOffset>,
    ) -> Result<IssueRow, StoreError> {
        let now_s = stamp(now);
        let done = issue.deliveries.is_empty();
        let id = self.write(|tx| {
            tx.execute(
                "INSERT INTO issues (label, cutoff, status, created_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    issue.label,
                    stamp(issue.cutoff),
                    if done { "done" } else { "sending" },
                    now_s,
                    done.then_some(&now_s)
                ],
            )?;
            let issue_id = tx.last_insert_rowid();
            let mut carried = tx.prepare(
                "INSERT INTO issue_articles (issue_id, article_id, column_slug) VALUES (?1, ?2, ?3)",
            )?;
            let mut seen = tx.prepare(
                "INSERT INTO articles_seen (id, column_slug, published, first_seen)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
            )?;
            for (id, column, published) in issue.articles {
                carried.execute(params![issue_id, id, column])?;
                seen.execute(params![id, column, stamp(*published), now_s])?;
            }
            let mut delivery = tx.prepare(
                "INSERT INTO deliveries (issue_id, subscriber_id, status, message_id, updated_at)
                 VALUES (?1, ?2, 'queued', ?3, ?4)",
            )?;
            for (subscriber_id, message_id) in issue.deliveries {
                delivery.execute(params![issue_id, subscriber_id, message_id, now_s])?;
            }
            let mut correction = tx.prepare(
                "INSERT OR IGNORE INTO issue_corrections (issue_id, article_id, updated) VALUES (?1, ?2, ?3)",
            )?;
            for (article_id, updated) in issue.corrections {
                correction.execute(params![issue_id, article_id, stamp(*updated)])?;
            }
            Ok(issue_id)
        })?;
        Ok(IssueRow {
            id,
            label: issue.label.to_owned(),
            cutoff: issue.cutoff,
            done,
        })
    }

    /// Which of `corrections` (article id, updated) an issue has listed.
    pub fn corrections_listed(
        &self,
        corrections: &[(&str, DateTime<FixedOffset>)],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT 1 FROM issue_corrections WHERE article_id = ?1 AND updated = ?2",
            )
            .map_err(|e| self.err(e))?;
        let mut listed = std::collections::HashSet::new();
        for (id, updated) in corrections {
            if stmt
                .exists(params![id, stamp(*updated)])
                .map_err(|e| self.err(e))?
            {
                listed.insert((*id).to_owned());
            }
        }
        Ok(listed)
    }

    /// The article ids of the corrections an issue lists.
    pub fn issue_corrections(&self, issue_id: i64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT article_id FROM issue_corrections WHERE issue_id = ?1 ORDER BY article_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([issue_id], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Deliveries left `sending` by a run that died become `unknown`.
    /// Returns how many.
    pub fn mark_in_flight_unknown(
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

    /// Queues the `unknown` deliveries of every issue again (the operator
    /// accepts that some recipients may get a second copy). Returns how many.
    pub fn requeue_unknown(&mut self, now: DateTime<FixedOffset>) -> Result<usize, StoreError> {
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

    /// Deliveries of an issue still to be tried (queued or deferred), in
    /// a stable order.
    pub fn pending_deliveries(&self, issue_id: i64) -> Result<Vec<DeliveryRow>, StoreError> {
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

    /// Marks a delivery as handed to the transport. Returns false, and
    /// marks nothing, when its subscriber is no longer active: someone who
    /// unsubscribes while an issue is going out gets nothing more from it.
    /// The check is a lookup by key: an `IN (SELECT …)` over the active
    /// subscribers would list all of them on every delivery.
    pub fn mark_sending(
        &mut self,
        id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        let now_s = stamp(now);
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = ?2
                     WHERE id = ?1 AND EXISTS (
                         SELECT 1 FROM subscribers s
                         WHERE s.id = deliveries.subscriber_id AND s.status = 'active')",
                )?
                .execute(params![id, now_s])?;
            if n == 0 {
                // Not theirs to get any more: no row is left to send later,
                // should they come back.
                tx.prepare_cached("DELETE FROM deliveries WHERE id = ?1 AND status IN ('queued', 'deferred')")?
                    .execute([id])?;
            }
            Ok(n > 0)
        })
    }

    /// Records outcomes in one transaction; a hard bounce counts against
    /// the subscriber, who is marked bounced after [`BOUNCE_LIMIT`] in a
    /// row, and a success clears the count.
    pub fn record_outcomes(
        &mut self,
        outcomes: &[Outcome],
        now: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        let now_s = stamp(now);
        self.write(|tx| {
            {
                let mut delivery = tx
                    .prepare_cached(
                        "UPDATE deliveries SET status = ?2, last_reply = ?3, updated_at = ?4,
                                sent_at = CASE WHEN ?2 = 'sent' THEN ?4 ELSE sent_at END
                         WHERE id = ?1",
                    )?;
                let mut cleared = tx
                    .prepare_cached(
                        "UPDATE subscribers SET hard_bounces = 0 WHERE id = ?1 AND hard_bounces > 0",
                    )?;
                let mut bounced = tx
                    .prepare_cached(
                        "UPDATE subscribers SET hard_bounces = hard_bounces + 1, updated_at = ?3,
                                status = CASE WHEN hard_bounces + 1 >= ?2 THEN 'bounced' ELSE status END
                         WHERE id = ?1",
                    )?;
                for o in outcomes {
                    delivery
                        .execute(params![o.delivery_id, o.status.as_str(), o.reply, now_s])?;
                    if o.status == DeliveryStatus::Sent {
                        cleared.execute([o.subscriber_id])?;
                    } else if o.hard_bounce {
                        bounced
                            .execute(params![o.subscriber_id, BOUNCE_LIMIT, now_s])?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Closes an issue when none of its deliveries is left to try.
    pub fn finish_issue_if_complete(
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

    /// Deliveries, in every issue, whose outcome is unknown.
    pub fn unknown_deliveries(&self) -> Result<usize, StoreError> {
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
