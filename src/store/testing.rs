//! For tests: a fresh, empty store of every backend there is, so one
//! test runs against SQLite and PostgreSQL alike.
//!
//! PostgreSQL is used when `BROADSHEET_TEST_POSTGRES_URL` names a server
//! (`scripts/test-postgres.sh` starts a throwaway one); each store gets a
//! schema of its own in that database, dropped when the test ends. Without
//! it only SQLite runs, except under `CI=true`, where a missing server is
//! a failure, never a skip.

use super::{Location, PasswordSources, PostgresTarget, Store};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable naming the test server.
pub(crate) const URL_VAR: &str = "BROADSHEET_TEST_POSTGRES_URL";

/// A store for one test, and what to clean up after it.
pub(crate) struct Fresh {
    /// `sqlite` or `postgres`, for assertion messages.
    pub(crate) backend: &'static str,
    /// Where it is, to open it again (a second connection, a restart).
    pub(crate) location: Location,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(PostgresTarget, String)>,
}

impl Fresh {
    /// Opens (again) the store.
    pub(crate) fn open(&self) -> Store {
        Store::connect(&self.location).unwrap_or_else(|e| panic!("{}: {e}", self.backend))
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some((server, schema)) = &self.schema {
            if let Ok(mut c) = server.config.connect(postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// The test server, if one is named; under `CI=true` one must be.
pub(crate) fn postgres_server() -> Option<PostgresTarget> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(
            PostgresTarget::parse(&url, &PasswordSources::from_env())
                .unwrap_or_else(|e| panic!("{URL_VAR}: {e}")),
        ),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and {URL_VAR} is not set: the PostgreSQL suite must run in CI (scripts/test-postgres.sh starts a server)")
        }
        _ => None,
    }
}

/// A new, empty store on every backend available.
pub(crate) fn fresh_stores() -> Vec<Fresh> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![Fresh {
        backend: "sqlite",
        location: Location::Sqlite(dir.path().join("state.db")),
        _dir: Some(dir),
        schema: None,
    }];
    if let Some(server) = postgres_server() {
        let schema = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = server
            .config
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("{URL_VAR}: {e}"));
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .unwrap();
        let mut target = server.clone();
        target.config.options(&format!("-c search_path={schema}"));
        out.push(Fresh {
            backend: "postgres",
            location: Location::Postgres(target),
            _dir: None,
            schema: Some((server, schema)),
        });
    }
    out
}

/// An import's source that gives `rows` in order and never fails.
pub(crate) fn rows_of(
    rows: &[super::NewSubscriber],
) -> impl FnMut(&mut Vec<super::NewSubscriber>, usize) -> Result<(), std::convert::Infallible> + '_
{
    let mut rest = rows;
    move |into, n| {
        let (now, later) = rest.split_at(n.min(rest.len()));
        into.extend_from_slice(now);
        rest = later;
        Ok(())
    }
}

/// A fresh PostgreSQL store and where it is, for a test of that backend
/// alone; `None` without a server (under `CI=true`, a failure instead).
pub(crate) fn fresh_postgres() -> Option<(Fresh, PostgresTarget)> {
    let fresh = fresh_stores()
        .into_iter()
        .find(|f| f.backend == "postgres")?;
    let Location::Postgres(target) = &fresh.location else {
        unreachable!("a postgres store")
    };
    let target = target.clone();
    Some((fresh, target))
}

/// `n` readers `reader0@example.com`…, with no name, following every column.
pub(crate) fn readers(n: usize) -> Vec<super::NewSubscriber> {
    (0..n)
        .map(|i| super::NewSubscriber {
            email: crate::address::Email::parse(&format!("reader{i}@example.com")).unwrap(),
            name: String::new(),
            columns: Vec::new(),
        })
        .collect()
}

/// Runs `test` on a fresh, empty store of every backend available.
pub(crate) fn every_store(test: impl Fn(&mut Store)) {
    for fresh in fresh_stores() {
        let mut store = fresh.open();
        test(&mut store);
    }
}

/// Adds an active subscriber following every column; returns their id.
pub(crate) fn active_subscriber(store: &mut Store, address: &str) -> i64 {
    let email = crate::address::Email::parse(address).unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T08:00:00+08:00").unwrap();
    let new = super::NewSubscriber {
        email: email.clone(),
        name: String::new(),
        columns: Vec::new(),
    };
    store.add_subscriber(&new, now, false).unwrap();
    store.subscriber(&email).unwrap().unwrap().id
}

/// An issue made at `now` and sent whole to `readers` new subscribers
/// (`reader<i>@example.com`); returns its id and theirs.
pub(crate) fn sent_issue(
    store: &mut Store,
    readers: usize,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> (i64, Vec<i64>) {
    use super::{Claimer, DeliveryStatus, NewIssue, Outcome};
    let ids: Vec<i64> = (0..readers)
        .map(|i| active_subscriber(store, &format!("reader{i}@example.com")))
        .collect();
    let issue = store
        .create_issue(
            &NewIssue {
                label: "2026-W24",
                cutoff: now,
                articles: &[],
                recipients: &|s| Some(format!("<{}@example.com>", s.id)),
                corrections: &[],
            },
            now,
        )
        .unwrap()
        .id;
    let claimer = Claimer::new(std::time::Duration::from_secs(300), true);
    store.claim_deliveries(issue, &claimer, 0, 10_000).unwrap();
    let pending = store.pending_deliveries(issue).unwrap();
    let marks: Vec<i64> = pending.iter().map(|d| d.id).collect();
    store.settle(&claimer, &marks, &[], now).unwrap();
    let outcomes: Vec<Outcome> = pending
        .iter()
        .map(|d| Outcome {
            delivery_id: d.id,
            subscriber_id: d.subscriber.id,
            status: DeliveryStatus::Sent,
            reply: Some("250 ok".into()),
            hard_bounce: false,
        })
        .collect();
    store.record_outcomes(&claimer, &outcomes, now).unwrap();
    (issue, ids)
}
