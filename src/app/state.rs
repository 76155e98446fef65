//! `state migrate` and `state copy --to`: the state's schema, and moving
//! it from one backend to another.

use crate::config::Config;
use crate::error::UsageError;
use crate::store::{CopyCounts, Location, PasswordSources, PostgresTarget, Store};
use crate::Error;
use std::fmt;
use std::path::Path;

/// What `state migrate` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The file, or the database without its password.
    pub target: String,
    /// The schema version before.
    pub from: i64,
    /// The schema version now.
    pub to: i64,
}

impl fmt::Display for Migrated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == self.to {
            writeln!(
                f,
                "{} ({}): schema version {}, up to date; nothing to do",
                self.target, self.backend, self.to
            )
        } else {
            writeln!(
                f,
                "{} ({}): schema version {} → {}",
                self.target, self.backend, self.from, self.to
            )
        }
    }
}

/// Applies the state's migrations, and says what version it found and
/// left.
pub fn migrate(config: &Config) -> Result<Migrated, Error> {
    let location = config.state_location();
    let (store, from) = Store::connect_migrating(&location)?;
    Ok(Migrated {
        backend: location.backend(),
        target: location.to_string(),
        from,
        to: store.schema_version()?,
    })
}

/// Where `state copy --to` writes: a `postgres://` URL or an SQLite file.
pub fn copy_target(to: &str) -> Result<Location, Error> {
    if to.starts_with("postgres://") || to.starts_with("postgresql://") {
        let target = PostgresTarget::parse(to, &PasswordSources::from_env())
            .map_err(UsageError::argument("--to"))?;
        return Ok(Location::Postgres(target));
    }
    if to.contains("://") {
        return Err(UsageError::Argument {
            argument: "--to",
            reason: "expected a postgres:// URL or the path of an SQLite file".into(),
        }
        .into());
    }
    Ok(Location::Sqlite(Path::new(to).to_owned()))
}

/// What `state copy` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The state copied.
    pub from: String,
    /// Where it went.
    pub to: String,
    /// The counts, per table.
    pub counts: CopyCounts,
}

impl fmt::Display for Copied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "copied {} to {}", self.from, self.to)?;
        let width = self
            .counts
            .tables
            .iter()
            .map(|(t, _, _)| t.len())
            .max()
            .unwrap_or(0);
        for (table, read, written) in &self.counts.tables {
            let check = if read == written { "" } else { "  MISMATCH" };
            writeln!(
                f,
                "  {table:<width$}  {read:>10} read  {written:>10} in the target{check}"
            )?;
        }
        Ok(())
    }
}

/// Copies the whole state into `to`, which must be empty.
pub fn copy(config: &Config, to: &str) -> Result<Copied, Error> {
    let source = config.state_location();
    let target = copy_target(to)?;
    if target == source {
        return Err(UsageError::Argument {
            argument: "--to",
            reason: "is the state itself; give another database or file".into(),
        }
        .into());
    }
    let from = Store::connect_read_only(&source)?;
    let mut into = Store::connect(&target)?;
    let counts = from.copy_to(&mut into)?;
    Ok(Copied {
        from: source.to_string(),
        to: target.to_string(),
        counts,
    })
}
