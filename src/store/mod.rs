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
    /// Another process kept the database's write lock longer than the
    /// configured wait (`state.busy_timeout_seconds`).
    #[error("{}: the database stayed locked by another process for {waited} s (state.busy_timeout_seconds); {holder}", path.display())]
    Busy {
        /// The database file.
        path: PathBuf,
        /// How long this process waited, in seconds.
        waited: u64,
        /// What is known of the process holding it.
        holder: String,
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

/// Held while a run may send (or, for [`Store::lock_build`], build): a
/// second run finds it taken and stands down. The file says who holds it.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// What a lock file says of the process holding it (nothing, when the
/// file says nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockHolder {
    /// Its process id, when the file names one.
    pub pid: Option<u32>,
    /// The command it runs (`run`, `digest send`, `build`).
    pub command: String,
    /// When it took the lock: from the file, else the file's mtime.
    pub since: Option<std::time::SystemTime>,
}

impl LockHolder {
    /// How long it has held the lock, by the system clock.
    pub fn held_for(&self) -> Option<Duration> {
        self.since
            .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let command = if self.command.is_empty() {
            "broadsheet"
        } else {
            &self.command
        };
        write!(f, "`{command}`")?;
        if let Some(pid) = self.pid {
            write!(f, " (pid {pid})")?;
        }
        if let Some(d) = self.held_for() {
            write!(f, ", for {}", human_duration(d))?;
        }
        Ok(())
    }
}

/// "3 h 20 min", "12 min", "40 s".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// How often a connection waiting for another process's write lock looks
/// again.
const LOCK_POLL: Duration = Duration::from_micros(250);

/// How long a connection waits for another process's write lock, in
/// milliseconds. Process-wide because SQLite's busy handler is a plain
/// function with no context of its own; `state.busy_timeout_seconds` sets
/// it once, when the config is read.
static BUSY_WAIT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(30_000);

/// Sets how long every connection waits for another process's write lock.
pub fn set_busy_timeout(wait: Duration) {
    BUSY_WAIT_MS.store(
        wait.as_millis().min(u128::from(u64::MAX)) as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
}

fn busy_timeout() -> Duration {
    Duration::from_millis(BUSY_WAIT_MS.load(std::sync::atomic::Ordering::Relaxed))
}

thread_local! {
    /// When this thread's current wait for the write lock began.
    static WAITING_SINCE: std::cell::Cell<Option<std::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

/// The busy handler of every connection. SQLite's own (`busy_timeout`)
/// sleeps in steps that grow to 100 ms, so a one-click unsubscribe waiting
/// behind a digest run's short transactions could wait far longer than
/// the lock was held; polling every 250 µs keeps the wait close to it.
/// The bound is measured on the clock, not by counting polls (a sleep
/// takes longer than asked, so counting overshoots).
fn wait_for_lock(attempt: i32) -> bool {
    let now = std::time::Instant::now();
    let since = WAITING_SINCE.with(|w| {
        if attempt == 0 || w.get().is_none() {
            w.set(Some(now));
        }
        w.get().unwrap_or(now)
    });
    if now.duration_since(since) >= busy_timeout() {
        return false;
    }
    std::thread::sleep(LOCK_POLL);
    true
}

/// The error for a failed statement: a timed-out wait for the write lock
/// says so, and says what is known of who holds it.
pub(crate) fn sql_error(path: &Path, source: rusqlite::Error) -> StoreError {
    if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
        let holder = match Store::lock_holder(path) {
            // This very process holds the run lock: someone else holds
            // the database.
            Some(h) if h.pid == Some(std::process::id()) => "this run holds broadsheet's run lock, so it is `serve`, another program (a sqlite3 shell, a backup) or a process on another machine sharing the file".into(),
            Some(h) => format!("a broadsheet {h} holds the run lock and is the likely holder"),
            None => "no broadsheet run holds the run lock, so it is `serve`, another program (a sqlite3 shell, a backup) or a run on another machine sharing the file".into(),
        };
        return StoreError::Busy {
            path: path.to_owned(),
            waited: busy_timeout().as_secs(),
            holder,
        };
    }
    StoreError::Sql {
        path: path.to_owned(),
        source,
    }
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

/// `<state_path>.<suffix>`.
fn lock_path(state_path: &Path, suffix: &str) -> PathBuf {
    let mut name = state_path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Takes the lock at `path`, writing who holds it into the file.
fn take_lock(path: &Path) -> Result<Option<RunLock>, StoreError> {
    use std::io::Write;
    let lock_err = |source| StoreError::Lock {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(lock_err)?;
    }
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(lock_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(e)) => return Err(lock_err(e)),
    }
    // Who holds it, for the run that finds it taken. Best effort: the lock
    // itself is the flock, not these lines.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    // The command words only: options and their values (`--config PATH`,
    // `--now TIME`) say nothing of what the process is doing.
    let mut command = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if matches!(a.as_str(), "--config" | "--now" | "--log-format") {
            args.next();
        } else if !a.starts_with('-') && command.len() < 2 {
            command.push(a);
        }
    }
    let _ = file.set_len(0);
    let _ = write!(
        file,
        "pid {}\nsince {since}\ncommand {}\n",
        std::process::id(),
        command.join(" ")
    );
    let _ = file.flush();
    Ok(Some(RunLock { _file: file }))
}

/// What the lock file at `path` says, when the lock is held.
fn holder_of(path: &Path) -> Option<LockHolder> {
    let file = File::open(path).ok()?;
    match file.try_lock_shared() {
        // Nobody holds it.
        Ok(()) => return None,
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(_)) => return None,
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(str::trim)
    };
    let since = field("since")
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| std::time::UNIX_EPOCH + Duration::from_secs(s))
        .or_else(|| std::fs::metadata(path).and_then(|m| m.modified()).ok());
    Some(LockHolder {
        pid: field("pid").and_then(|p| p.parse().ok()),
        command: field("command").unwrap_or("").to_owned(),
        since,
    })
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
        let sql = |source| sql_error(path, source);
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
        let sql = |source| sql_error(&path, source);
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
    /// holds it. The lock goes with the process, however it ends; while it
    /// is held the file says which process holds it and since when.
    pub fn try_lock(state_path: &Path) -> Result<Option<RunLock>, StoreError> {
        take_lock(&lock_path(state_path, "lock"))
    }

    /// Who holds the run lock of `state_path`, when someone does.
    pub fn lock_holder(state_path: &Path) -> Option<LockHolder> {
        holder_of(&lock_path(state_path, "lock"))
    }

    /// Takes the build lock beside the database, waiting up to `wait` for
    /// another build to finish: two builds writing the same folder at once
    /// could each remove what the other wrote. `Err(holder)` when the wait
    /// ran out.
    pub fn lock_build(
        state_path: &Path,
        wait: Duration,
    ) -> Result<Result<RunLock, LockHolder>, StoreError> {
        let path = lock_path(state_path, "build-lock");
        let started = std::time::Instant::now();
        loop {
            if let Some(lock) = take_lock(&path)? {
                return Ok(Ok(lock));
            }
            if started.elapsed() >= wait {
                return Ok(Err(holder_of(&path).unwrap_or_default()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> StoreError {
        sql_error(&self.path, source)
    }

    /// Makes every later commit on this connection durable before it
    /// returns (`synchronous = FULL`: the WAL is synced at each commit).
    /// The sender asks for it: a delivery marked `sending` must be on disk
    /// before its SMTP attempt, or after a power cut it could roll back to
    /// `queued` and be sent again. Its marks are committed in groups, so
    /// this costs one sync per group, not one per message.
    pub fn make_durable(&self) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| self.err(e))
    }

    /// Runs `f` in one transaction, committed if it succeeds.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let sql = |source| sql_error(&path, source);
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

fn record_outcomes(
    tx: &Transaction<'_>,
    outcomes: &[Outcome],
    now_s: &str,
) -> rusqlite::Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let mut delivery = tx.prepare_cached(
        "UPDATE deliveries SET status = ?2, last_reply = ?3, updated_at = ?4,
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

    /// Records `outcomes` and marks the deliveries `marks` as handed to
    /// the transport, in one transaction: the sender commits whatever its
    /// workers have asked for since the last commit at once, so on a
    /// durable connection ([`Store::make_durable`]) one sync covers a whole
    /// group. Returns, for each of `marks`, whether it was marked: false
    /// (and the delivery removed) when its subscriber is no longer active,
    /// since someone who unsubscribes while an issue is going out gets
    /// nothing more from it.
    ///
    /// A hard bounce counts against the subscriber, who is marked bounced
    /// after [`BOUNCE_LIMIT`] in a row, and a success clears the count.
    pub fn settle(
        &mut self,
        marks: &[i64],
        outcomes: &[Outcome],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<bool>, StoreError> {
        let now_s = stamp(now);
        self.write(|tx| {
            record_outcomes(tx, outcomes, &now_s)?;
            // The check is a lookup by key: an `IN (SELECT …)` over the
            // active subscribers would list all of them on every delivery.
            let mut mark = tx.prepare_cached(
                "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = ?2
                 WHERE id = ?1 AND EXISTS (
                     SELECT 1 FROM subscribers s
                     WHERE s.id = deliveries.subscriber_id AND s.status = 'active')",
            )?;
            let mut gone = tx.prepare_cached(
                "DELETE FROM deliveries WHERE id = ?1 AND status IN ('queued', 'deferred')",
            )?;
            let mut marked = Vec::with_capacity(marks.len());
            for id in marks {
                let n = mark.execute(params![id, now_s])?;
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

    /// Marks one delivery as handed to the transport; see [`Store::settle`].
    pub fn mark_sending(
        &mut self,
        id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .settle(&[id], &[], now)?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// Records outcomes in one transaction; see [`Store::settle`].
    pub fn record_outcomes(
        &mut self,
        outcomes: &[Outcome],
        now: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        self.settle(&[], outcomes, now).map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_senders_connection_syncs_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let level = |s: &Store| -> i64 {
            s.conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(level(&store), 1, "NORMAL by default");
        store.make_durable().unwrap();
        assert_eq!(level(&store), 2, "FULL once made durable");
    }

    #[test]
    fn a_held_lock_names_its_holder_and_a_free_one_names_none() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        assert_eq!(Store::lock_holder(&db), None);
        let lock = Store::try_lock(&db).unwrap().expect("free");
        let holder = Store::lock_holder(&db).expect("held");
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(holder.held_for().unwrap() < Duration::from_secs(60));
        assert!(Store::try_lock(&db).unwrap().is_none());
        drop(lock);
        assert_eq!(Store::lock_holder(&db), None);
        assert!(Store::try_lock(&db).unwrap().is_some());
    }

    #[test]
    fn a_build_waits_for_another_and_then_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let first = Store::lock_build(&db, Duration::ZERO).unwrap().unwrap();
        let second = Store::lock_build(&db, Duration::from_millis(60)).unwrap();
        assert_eq!(second.unwrap_err().pid, Some(std::process::id()));
        drop(first);
        assert!(Store::lock_build(&db, Duration::ZERO).unwrap().is_ok());
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(Duration::from_secs(40)), "40 s");
        assert_eq!(human_duration(Duration::from_secs(12 * 60)), "12 min");
        assert_eq!(
            human_duration(Duration::from_secs(3 * 3600 + 20 * 60)),
            "3 h 20 min"
        );
    }
}
