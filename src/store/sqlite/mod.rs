//! The SQLite backend: one file beside the publication, through rusqlite.
//! Everything that knows it is SQLite is here or below: the connection,
//! the PRAGMAs, the busy handler, the `application_id` and the migrations
//! (`open`), and the statements of each table, one file per table of the
//! store.
//!
//! The database runs in WAL mode with a busy timeout, so `serve` and a cron
//! `run` can share it; writes are short transactions. Times are stored as
//! RFC 3339 text in UTC ([`stamp`]), which sorts as time does.
//!
//! Each method of [`Sqlite`] does what the [`Store`] method of the same
//! name documents; comments here say only how.

mod bounces;
mod copy;
mod deliveries;
mod issues;
mod open;
mod service_emails;
mod status;
mod subscribers;

use super::{Store, StoreError};
use rusqlite::{Connection, Transaction};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An open SQLite state database.
pub(crate) struct Sqlite {
    conn: Connection,
    path: PathBuf,
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
pub(crate) fn set_busy_timeout(wait: Duration) {
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
fn sql_error(path: &Path, source: rusqlite::Error) -> StoreError {
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
        source: Box::new(source),
    }
}

pub(super) use super::{parse_stamp, stamp};

impl Sqlite {
    fn err(&self, source: rusqlite::Error) -> StoreError {
        sql_error(&self.path, source)
    }

    /// `synchronous = FULL`: the WAL is synced at each commit; see
    /// [`Store::make_durable`].
    pub(crate) fn make_durable(&self) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| self.err(e))
    }

    /// Runs `f` in one transaction, committed if it succeeds.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let Ok(value) = self.write_unless(|tx| f(tx).map(Ok::<T, std::convert::Infallible>))?;
        Ok(value)
    }

    /// As [`Sqlite::write`], but an inner `Err` from `f` rolls back
    /// what it wrote and is handed back: for work that reads a source
    /// of its own as it writes, which can fail midway.
    fn write_unless<T, E>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<Result<T, E>>,
    ) -> Result<Result<T, E>, StoreError> {
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
            // Dropping the transaction rolls it back.
            if value.is_ok() {
                tx.commit()?;
            }
            Ok(value)
        })()
        .map_err(sql)
    }
}

impl Sqlite {
    /// The schema version (`PRAGMA user_version`).
    pub(crate) fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// A file is always there once open.
    pub(crate) fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }
}
