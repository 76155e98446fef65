//! `[state]`: where the state is (an SQLite file by default, or a
//! PostgreSQL database), and how long its waits may last.

use super::issues::Issues;
use super::raw::RawState;
use crate::store::{Location, PasswordSources, PostgresTarget};
use std::path::Path;

/// `[state]`.
#[derive(Debug, Clone)]
pub struct State {
    /// How long to wait for another process's write lock on the database
    /// (on PostgreSQL, its `lock_timeout`).
    pub busy_timeout_seconds: u32,
    /// `url`: a PostgreSQL database; `None` keeps the state in SQLite at
    /// `site.state_path`.
    pub postgres: Option<PostgresTarget>,
    /// PostgreSQL's `statement_timeout`.
    pub statement_timeout_seconds: u32,
    /// How long a sender's claim on a delivery lasts before other senders
    /// may take it (PostgreSQL).
    pub lease_seconds: u32,
    /// Connections `serve` keeps open to the database for pages that only
    /// read (PostgreSQL; SQLite's readers are fixed).
    pub pool_size: u32,
}

/// `[state]`.
pub(super) fn validate(raw: RawState, issues: &mut Issues) -> State {
    let postgres = match raw.url.trim() {
        "" => None,
        url => match PostgresTarget::parse(url, &PasswordSources::from_env()) {
            Ok(t) => Some(t),
            Err(why) => {
                issues.add("state.url", why);
                None
            }
        },
    };
    State {
        busy_timeout_seconds: issues.whole(
            "state.busy_timeout_seconds",
            raw.busy_timeout_seconds,
            30,
        ) as u32,
        postgres,
        statement_timeout_seconds: issues.whole(
            "state.statement_timeout_seconds",
            raw.statement_timeout_seconds,
            60,
        ) as u32,
        lease_seconds: issues.whole("state.lease_seconds", raw.lease_seconds, 300) as u32,
        pool_size: issues.whole("state.pool_size", raw.pool_size, 4) as u32,
    }
}

impl State {
    /// Where the state is: the PostgreSQL database of `url`, or the SQLite
    /// file at `state_path`.
    pub fn location(&self, state_path: &Path) -> Location {
        match &self.postgres {
            Some(t) => Location::Postgres(t.clone()),
            None => Location::Sqlite(state_path.to_owned()),
        }
    }
}
