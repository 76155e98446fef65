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

/// Hands a call of a `&self` method to the backend: `on_backend!(self,
/// db => db.method(args))`. Both backends' methods have the facade's
/// name and arguments, so one expression serves every variant.
macro_rules! on_backend {
    ($self:ident, $db:ident => $call:expr) => {
        match &$self.backend {
            Backend::Sqlite($db) => $call,
            Backend::Postgres($db) => $call,
        }
    };
}

/// [`on_backend!`] for a `&mut self` method.
macro_rules! on_backend_mut {
    ($self:ident, $db:ident => $call:expr) => {
        match &mut $self.backend {
            Backend::Sqlite($db) => $call,
            Backend::Postgres($db) => $call,
        }
    };
}

pub mod bounces;
mod copy;
mod deliveries;
mod issues;
mod lock;
mod postgres;
mod service_emails;
mod sqlite;
mod status;
mod subscribers;
#[cfg(test)]
pub(crate) mod testing;

pub use bounces::{
    BounceCounts, BounceEvent, BounceKind, BouncePolicy, BounceRecorded, MarkedBy, NewBounce,
};
pub use copy::CopyCounts;
pub use deliveries::{Claimer, DeliveryRow, DeliveryStatus, Outcome, BOUNCE_LIMIT};
pub use issues::{no_recipients, IssueRow, NewIssue, Recipients};
pub use lock::{LockHolder, RunLock};
pub use postgres::target::{PasswordSources, Target as PostgresTarget};
pub use service_emails::{NewServiceEmail, ServiceEmail};
pub use status::{no_subscriber_counts, IssueCounts};
pub use subscribers::{
    ConfirmOutcome, ImportReport, ImportRows, NewSubscriber, SignupOutcome, SignupRequest,
    Subscriber, SubscriberStatus, SubscriberUpdate, UpsertOutcome,
};

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
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
        /// The database file, or the PostgreSQL database as
        /// `postgres://user@host:port/db` (never with a password).
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
    /// The PostgreSQL server cannot be reached, or closed the connection.
    #[error("{target}: cannot reach the database server: {message} (state.url)")]
    Unreachable {
        /// The database, without its password.
        target: String,
        /// What the driver or the server said.
        message: String,
    },
    /// The server refused this user, password or database.
    #[error("{target}: the server refused the connection: {message} (state.url; the password comes from the URL, PGPASSWORD or .pgpass)")]
    Refused {
        /// The database, without its password.
        target: String,
        /// What the server said.
        message: String,
    },
    /// A statement ran past `state.statement_timeout_seconds`.
    #[error(
        "{target}: a statement ran longer than state.statement_timeout_seconds allows: {message}"
    )]
    Timeout {
        /// The database, without its password.
        target: String,
        /// What the server said.
        message: String,
    },
    /// The PostgreSQL database holds tables that are not broadsheet's.
    #[error("{target}: this database holds tables that are not broadsheet's; it was left as it is (state.url: give broadsheet a database of its own)")]
    ForeignDatabase {
        /// The database, without its password.
        target: String,
    },
    /// The PostgreSQL database has no broadsheet schema yet, or an older
    /// one (for commands that only read it).
    #[error("{target}: the database holds no up-to-date broadsheet state yet; `broadsheet state migrate` (or any command that writes, such as `run`) makes it")]
    Unmigrated {
        /// The database, without its password.
        target: String,
        /// The schema version it has (0: none at all).
        found: i64,
    },
    /// A target of `state copy` already holds rows.
    #[error("{target}: the target already holds {rows} {table}; `state copy` writes only into an empty state")]
    NotEmpty {
        /// The target.
        target: String,
        /// The first table found with rows.
        table: &'static str,
        /// How many.
        rows: i64,
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

/// The database behind a [`Store`]: one variant per kind. A process holds
/// a handful of stores, so the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Backend {
    /// A file, through rusqlite.
    Sqlite(sqlite::Sqlite),
    /// A server, through the `postgres` crate.
    Postgres(postgres::Postgres),
}

/// Where the state is: `site.state_path`, or `[state] url`. Made once per
/// command, so the larger variant's size costs nothing.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Location {
    /// An SQLite file (the embedded default).
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PostgresTarget),
}

impl Location {
    /// `"sqlite"` or `"postgres"`, as `status --json` names it.
    pub fn backend(&self) -> &'static str {
        match self {
            Location::Sqlite(_) => "sqlite",
            Location::Postgres(_) => "postgres",
        }
    }

    /// Whether there is a state to read: the file exists, or (a server
    /// is asked only when connecting) a database is named.
    pub fn exists(&self) -> bool {
        match self {
            Location::Sqlite(p) => p.exists(),
            Location::Postgres(_) => true,
        }
    }

    /// Whether more than one machine may share it: then senders cooperate
    /// through leases instead of standing down behind the run lock.
    pub fn is_shared(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }
}

impl std::fmt::Display for Location {
    /// The file's path, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(t) => f.write_str(t.shown()),
        }
    }
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

/// Sets, for every later connection, how long it waits for another
/// process's lock (`state.busy_timeout_seconds`: SQLite's busy handler,
/// PostgreSQL's `lock_timeout`) and how long one PostgreSQL statement may
/// run (`state.statement_timeout_seconds`).
pub fn set_timeouts(busy: Duration, statement: Duration) {
    sqlite::set_busy_timeout(busy);
    postgres::set_timeouts(statement, busy);
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

    /// [`Store::open`] at `location`, whichever backend it names.
    pub fn connect(location: &Location) -> Result<Store, StoreError> {
        Store::connect_migrating(location).map(|(store, _)| store)
    }

    /// [`Store::connect`], with the schema version the state had before
    /// it was brought up to date (0: it was made now).
    pub fn connect_migrating(location: &Location) -> Result<(Store, i64), StoreError> {
        Ok(match location {
            Location::Sqlite(path) => {
                let (db, found) = sqlite::Sqlite::open_migrating(path)?;
                (
                    Store {
                        backend: Backend::Sqlite(db),
                    },
                    found,
                )
            }
            Location::Postgres(t) => {
                let (db, found) = postgres::Postgres::open_migrating(t)?;
                (
                    Store {
                        backend: Backend::Postgres(db),
                    },
                    found,
                )
            }
        })
    }

    /// [`Store::open_read_only`] at `location`.
    pub fn connect_read_only(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(path) => Store::open_read_only(path),
            Location::Postgres(t) => Ok(Store {
                backend: Backend::Postgres(postgres::Postgres::open_reading(t)?),
            }),
        }
    }

    /// [`Store::open_snapshot`] at `location`.
    pub fn connect_snapshot(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(path) => Store::open_snapshot(path),
            Location::Postgres(_) => Store::connect_read_only(location),
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The schema version the database has now.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        on_backend!(self, db => db.schema_version())
    }

    /// Whether the database answers now (`/healthz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, db => db.ping())
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
        on_backend!(self, db => db.make_durable())
    }

    /// Has every statement this connection prepares planned once: for a
    /// sender, which runs the same few tens of thousands of times with a
    /// handful of ids each. SQLite compiles a prepared statement once
    /// already; on PostgreSQL see `plan_cache_mode`.
    pub fn plan_once(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(db) => db.plan_once(),
        }
    }
}
