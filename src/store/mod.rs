//! The state: subscribers, the digest's issues with the articles and
//! corrections each carried, one delivery row per recipient, and the
//! subscriber service's queued emails. The rest of the crate uses
//! [`Store`] and the row types here, which name no database crate; every
//! statement lives in a backend below it.
//!
//! # The seam: an enum of backends behind `Store`
//!
//! `Store` holds a `Backend`, an enum with one variant per kind of
//! database (today only `Sqlite`, in `sqlite/`), and each of its methods
//! is a `match` that hands the call to the variant. We chose the enum over
//! a `Backend` trait (as `Box<dyn Backend>` or `Store<B: Backend>`):
//!
//! - Callers do not change. `app`, `server` and `mail` name `Store`, keep
//!   it in a `Mutex` and move it between threads. `Store<B: Backend>`
//!   would put a type parameter through all of them; `Box<dyn Backend +
//!   Send>` would rule out generic methods on the seam (a caller's closure
//!   run in one transaction, say) and add a third copy of every signature,
//!   in the trait, beside the facade's and the backend's.
//! - The obligations are explicit all the same: adding
//!   `Backend::Postgres(..)` makes every `match` here non-exhaustive, so
//!   the compiler lists each operation the new backend still owes, as a
//!   trait's missing methods would.
//! - A PostgreSQL backend would most likely hold a blocking client (the
//!   `postgres` crate, or sqlx driven by a runtime of its own), used from
//!   the same threads as the SQLite connection today: a plain value that
//!   fits a variant, with nothing async reaching the callers.
//!
//! What stays above the seam, written once: the row and outcome types,
//! [`StoreError`], the policies ([`BOUNCE_LIMIT`], how long sent emails
//! and sign-up requests are kept), operations made of others
//! ([`Store::mark_sending`] is a [`Store::settle`] of one mark), and the
//! run and build locks, which are files beside `site.state_path` whatever
//! holds the rows (`lock`). A
//! backend keeps to itself its SQL, how it stores times, how it bounds a
//! wait for another writer, and its migrations: SQLite's are
//! `migrations/0001_init.sql`, `0002_issue_corrections.sql` and
//! `0003_signup_requests_and_service_emails.sql`, and the schema version
//! is how many a database has had.
//!
//! The tests of each table's file go through `Store`, so they are the
//! tests a second backend has to pass.

mod deliveries;
mod issues;
mod lock;
mod service_emails;
mod sqlite;
mod status;
mod subscribers;

pub use deliveries::{DeliveryRow, DeliveryStatus, Outcome, BOUNCE_LIMIT};
pub use issues::{IssueRow, NewIssue};
pub use lock::{LockHolder, RunLock};
pub use service_emails::{NewServiceEmail, ServiceEmail};
pub use status::{no_subscriber_counts, IssueCounts};
pub use subscribers::{
    ConfirmOutcome, ImportReport, NewSubscriber, SignupOutcome, SignupRequest, Subscriber,
    SubscriberStatus, SubscriberUpdate, UpsertOutcome,
};

use std::path::{Path, PathBuf};
use std::time::Duration;

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
        /// What the database said. Boxed, so that this type names no
        /// backend's crate.
        source: Box<dyn std::error::Error + Send + Sync>,
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
    /// A file or folder the state needs could not be made or read.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done, with the config key that names the path.
        action: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// An open state database.
pub struct Store {
    backend: Backend,
}

/// The database behind a [`Store`]: one variant per kind.
enum Backend {
    /// A file, through rusqlite.
    Sqlite(sqlite::Sqlite),
}

/// Sets how long every connection waits for another process's write lock
/// (`state.busy_timeout_seconds`).
pub fn set_busy_timeout(wait: Duration) {
    sqlite::set_busy_timeout(wait);
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date. A damaged, foreign or newer database is refused
    /// and left untouched.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(sqlite::Sqlite::open(path)?),
        })
    }

    /// Opens an existing database for reading only: nothing is created,
    /// migrated or written, whatever is found.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(sqlite::Sqlite::open_reading(path, false)?),
        })
    }

    /// [`Store::open_read_only`] for a one-off look (`status`): when no
    /// other connection is open the file is read as immutable, so not even
    /// the `-wal` and `-shm` files SQLite makes for readers appear.
    pub fn open_snapshot(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(sqlite::Sqlite::open_reading(path, true)?),
        })
    }

    /// Makes every later commit on this connection durable before it
    /// returns (`synchronous = FULL`: the WAL is synced at each commit).
    /// The sender asks for it: a delivery marked `sending` must be on disk
    /// before its SMTP attempt, or after a power cut it could roll back to
    /// `queued` and be sent again. Its marks are committed in groups, so
    /// this costs one sync per group, not one per message.
    pub fn make_durable(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.make_durable(),
        }
    }
}
