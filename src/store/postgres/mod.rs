//! The PostgreSQL backend, for a state shared by several machines.
//! Everything that knows it is PostgreSQL is here or below: the
//! connection and its TLS, the schema version table and the migrations
//! (`open`), and the statements of each table, one file per table of the
//! store, as for SQLite.
//!
//! # The driver: the `postgres` crate
//!
//! We use the blocking `postgres` client (tokio-postgres under a runtime
//! of its own) rather than sqlx: the store's callers are plain threads
//! (the sender's state writer, `serve`'s `spawn_blocking` tasks, the
//! commands), exactly as for rusqlite, so a blocking client fits the
//! enum seam in `store/mod.rs` with nothing async reaching them; sqlx
//! would bring its own pool, macros and a second TLS stack, where
//! `tokio-postgres-rustls` gives the rustls broadsheet already carries.
//!
//! Each method of [`Postgres`] does what the [`crate::store::Store`]
//! method of the same name documents; comments here say only how.

mod bounces;
mod copy;
mod deliveries;
mod issues;
mod open;
mod service_emails;
mod status;
mod subscribers;
pub(super) mod target;

use super::StoreError;
use postgres::error::SqlState;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use target::{Target, Tls};

/// `statement_timeout` and `lock_timeout` of every connection, in
/// milliseconds; set once from the config, as SQLite's busy timeout is.
static STATEMENT_TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);
static LOCK_TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);

/// See [`crate::store::set_timeouts`].
pub(crate) fn set_timeouts(statement: Duration, lock: Duration) {
    let ms = |d: Duration| d.as_millis().min(u128::from(u64::MAX)) as u64;
    STATEMENT_TIMEOUT_MS.store(ms(statement), Ordering::Relaxed);
    LOCK_TIMEOUT_MS.store(ms(lock), Ordering::Relaxed);
}

/// An open connection to the state database.
///
/// The client sits in a `RefCell`: the driver takes `&mut` for every
/// statement, reads included, while the store's reads take `&self`, as
/// rusqlite's do. A `Store` is used by one thread at a time (callers keep
/// it in a `Mutex`), so a borrow never meets another.
pub(crate) struct Postgres {
    client: std::cell::RefCell<postgres::Client>,
    /// Statements of the sending path, prepared once on this connection
    /// (see [`Postgres::write_prepared`]); emptied when it is replaced.
    statements: std::cell::RefCell<std::collections::HashMap<&'static str, postgres::Statement>>,
    target: Target,
    /// The `SET`s this connection was given, given again to the one that
    /// replaces it: a reconnect mid-send must not lose durable commits.
    session: std::cell::RefCell<Vec<&'static str>>,
}

/// The error for a failed statement or connection, naming the database
/// (never its password) and what the server said.
pub(crate) fn pg_error(target: &Target, e: postgres::Error) -> StoreError {
    let shown = target.shown().to_owned();
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let message = db.message().to_owned();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            || *code == SqlState::INVALID_CATALOG_NAME
            || *code == SqlState::INSUFFICIENT_PRIVILEGE
        {
            return StoreError::Refused {
                target: shown,
                message,
            };
        }
        if *code == SqlState::QUERY_CANCELED {
            return StoreError::Timeout {
                target: shown,
                message,
            };
        }
        if *code == SqlState::LOCK_NOT_AVAILABLE {
            return StoreError::Busy {
                path: PathBuf::from(shown),
                waited: LOCK_TIMEOUT_MS.load(Ordering::Relaxed) / 1000,
                holder: format!(
                    "PostgreSQL said: {message} (state.busy_timeout_seconds is its lock_timeout)"
                ),
            };
        }
        if *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
        {
            return StoreError::Unreachable {
                target: shown,
                message,
            };
        }
        // The driver's Display of a server error is only "db error": the
        // server's own words are what an operator needs.
        let mut said = format!("{}: {message}", db.severity());
        if let Some(detail) = db.detail() {
            said.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            said.push_str(&format!("; {hint}"));
        }
        return StoreError::Sql {
            path: PathBuf::from(shown),
            source: said.into(),
        };
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return StoreError::Unreachable {
            target: shown,
            message: e.to_string(),
        };
    }
    StoreError::Sql {
        path: PathBuf::from(shown),
        source: Box::new(e),
    }
}

/// The error for a failed connection: what the server refused is
/// [`pg_error`]'s; anything else (no answer, a TLS refusal, a timeout) is
/// a server out of reach, in the driver's own words, which carry no
/// password.
fn connect_error(target: &Target, e: postgres::Error) -> StoreError {
    if e.as_db_error().is_some() {
        return pg_error(target, e);
    }
    let mut message = e.to_string();
    // The driver's refusal to start: no password where the server asks
    // for one, or settings it cannot use. Nothing was reached; the URL or
    // the environment is what to fix. The driver says so only in words.
    if message.starts_with("invalid configuration") {
        let source = std::error::Error::source(&e).map(|s| format!(": {s}"));
        return StoreError::Refused {
            target: target.shown().to_owned(),
            message: format!("{message}{}", source.unwrap_or_default()),
        };
    }
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    StoreError::Unreachable {
        target: target.shown().to_owned(),
        message,
    }
}

/// The rustls client configuration for [`Tls::Verify`].
fn tls_config(
    target: &Target,
    roots: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, StoreError> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(file) => {
            let unreadable = |message: String| StoreError::Refused {
                target: target.shown().to_owned(),
                message: format!("{}: {message} (sslrootcert in state.url)", file.display()),
            };
            let pem = std::fs::read(file).map_err(|e| unreadable(e.to_string()))?;
            use rustls::pki_types::pem::PemObject;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| unreadable(format!("not a PEM certificate: {e}")))?;
                store
                    .add(cert)
                    .map_err(|e| unreadable(format!("not a usable certificate: {e}")))?;
            }
            if store.is_empty() {
                return Err(unreadable("holds no certificate".into()));
            }
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Refused {
            target: target.shown().to_owned(),
            message: e.to_string(),
        })?
        .with_root_certificates(store)
        .with_no_client_auth())
}

impl Postgres {
    /// Connects, with TLS as `sslmode` asks.
    fn connect(target: &Target) -> Result<postgres::Client, StoreError> {
        // Every statement and every wait for a row lock is bounded by the
        // server itself, so no call of ours waits for ever.
        let mut config = target.config.clone();
        let bounds = format!(
            "-c statement_timeout={} -c lock_timeout={}",
            STATEMENT_TIMEOUT_MS.load(Ordering::Relaxed),
            LOCK_TIMEOUT_MS.load(Ordering::Relaxed)
        );
        let options = match config.get_options() {
            Some(given) => format!("{given} {bounds}"),
            None => bounds,
        };
        config.options(&options);
        let client = match &target.tls {
            Tls::Disable => config.connect(postgres::NoTls),
            Tls::Verify { roots } => {
                let tls = tls_config(target, roots.as_deref())?;
                config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
            }
        };
        client.map_err(|e| connect_error(target, e))
    }

    fn err(&self, e: postgres::Error) -> StoreError {
        pg_error(&self.target, e)
    }

    /// The connection, connected again first if the server closed it (a
    /// restart, a failover): the statement that met the closed connection
    /// failed, and the next one gets a new connection.
    fn client(&self) -> Result<std::cell::RefMut<'_, postgres::Client>, StoreError> {
        let mut client = self.client.borrow_mut();
        if client.is_closed() {
            self.statements.borrow_mut().clear();
            *client = Postgres::connect(&self.target)?;
            for set in self.session.borrow().iter() {
                client.batch_execute(set).map_err(|e| self.err(e))?;
            }
        }
        Ok(client)
    }

    /// Runs `set` on this connection and on any that replaces it.
    fn set_for_session(&self, set: &'static str) -> Result<(), StoreError> {
        self.read(|c| c.batch_execute(set))?;
        self.session.borrow_mut().push(set);
        Ok(())
    }

    /// Runs `f` in one transaction, committed if it succeeds.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let Ok(value) = self.write_unless(|tx| f(tx).map(Ok::<T, std::convert::Infallible>))?;
        Ok(value)
    }

    /// As [`Postgres::write`], but an inner `Err` from `f` rolls back
    /// what it wrote and is handed back: for work that reads a source
    /// of its own as it writes, which can fail midway.
    fn write_unless<T, E>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<Result<T, E>, postgres::Error>,
    ) -> Result<Result<T, E>, StoreError> {
        self.write_prepared_unless([], |tx, []| f(tx))
    }

    /// As [`Postgres::write`], with `sqls` prepared once on this
    /// connection and handed to `f` in their order. For the statements a
    /// send repeats: a text statement costs a round trip to prepare every
    /// time it runs, and the sending path's commits are round trips above
    /// all. After any error the statements are prepared again.
    fn write_prepared<T, const N: usize>(
        &self,
        sqls: [&'static str; N],
        f: impl FnOnce(
            &mut postgres::Transaction<'_>,
            &[postgres::Statement; N],
        ) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let Ok(value) = self.write_prepared_unless(sqls, |tx, statements| {
            f(tx, statements).map(Ok::<T, std::convert::Infallible>)
        })?;
        Ok(value)
    }

    /// [`Postgres::write_prepared`] and [`Postgres::write_unless`] in one:
    /// the commit is made only when `f`'s inner result is `Ok`.
    fn write_prepared_unless<T, E, const N: usize>(
        &self,
        sqls: [&'static str; N],
        f: impl FnOnce(
            &mut postgres::Transaction<'_>,
            &[postgres::Statement; N],
        ) -> Result<Result<T, E>, postgres::Error>,
    ) -> Result<Result<T, E>, StoreError> {
        let mut client = self.client()?;
        (|| {
            let mut statements = Vec::with_capacity(N);
            for sql in sqls {
                let known = self.statements.borrow().get(sql).cloned();
                statements.push(match known {
                    Some(s) => s,
                    None => {
                        let s = client.prepare(sql)?;
                        self.statements.borrow_mut().insert(sql, s.clone());
                        s
                    }
                });
            }
            let statements: [postgres::Statement; N] = statements
                .try_into()
                .unwrap_or_else(|_| unreachable!("one statement for each of N"));
            let mut tx = client.transaction()?;
            let value = f(&mut tx, &statements)?;
            // Dropping the transaction rolls it back.
            if value.is_ok() {
                tx.commit()?;
            }
            Ok(value)
        })()
        .map_err(|e| {
            self.statements.borrow_mut().clear();
            self.err(e)
        })
    }

    /// Runs `f` on the connection, outside any transaction of ours.
    fn read<T>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut client = self.client()?;
        f(&mut client).map_err(|e| self.err(e))
    }

    /// Every commit is durable once it returns: the server's
    /// `synchronous_commit`, asked for explicitly in case the database's
    /// default was lowered.
    pub(crate) fn make_durable(&self) -> Result<(), StoreError> {
        self.set_for_session("SET synchronous_commit = on")
    }

    /// Each statement is planned once, when prepared, not at each run
    /// (`plan_cache_mode`). The server otherwise weighs a plan made for
    /// each run's values against one for any, and for a mark of two ids
    /// the one made for them always looks cheaper: the sender's group
    /// commit was planned anew every time, at more than it cost to run
    /// (3.3 s of planning against 2.7 s of running for 30,000 readers).
    pub(crate) fn plan_once(&self) -> Result<(), StoreError> {
        self.set_for_session("SET plan_cache_mode = force_generic_plan")
    }

    /// A setting of this session, as the server shows it.
    #[cfg(test)]
    pub(crate) fn setting(&self, name: &str) -> Result<String, StoreError> {
        self.read(|c| Ok(c.query_one("SELECT current_setting($1)", &[&name])?.get(0)))
    }

    /// Ends this session from the server's side, as a restart of the
    /// server or a dropped connection would.
    #[cfg(test)]
    pub(crate) fn lose_connection(&self) {
        let mut other = Postgres::connect(&self.target).unwrap();
        let pid: i32 = self
            .read(|c| Ok(c.query_one("SELECT pg_backend_pid()", &[])?.get(0)))
            .unwrap();
        other
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .unwrap();
    }

    /// Whether the server answers (`/healthz`).
    pub(crate) fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.simple_query("SELECT 1").map(|_| ()))
    }

    /// The database named in messages.
    pub(crate) fn shown(&self) -> &str {
        self.target.shown()
    }
}
