//! Connecting, telling broadsheet's database from any other, and
//! bringing its schema up to date.

use super::{Postgres, Target};
use crate::store::StoreError;
use std::path::PathBuf;

/// The migrations, in order, as (name, SQL); the schema version (the one
/// row of `broadsheet_schema`) is how many of them a database has had. A
/// new one is appended with the next number; none is ever edited.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql")),
    (
        "0002_email_limits",
        include_str!("migrations/0002_email_limits.sql"),
    ),
    (
        "0003_pending_deliveries_index",
        include_str!("migrations/0003_pending_deliveries_index.sql"),
    ),
    ("0004_bounces", include_str!("migrations/0004_bounces.sql")),
    (
        "0005_bounce_decisions",
        include_str!("migrations/0005_bounce_decisions.sql"),
    ),
];

/// The key of the advisory lock migrations hold ("BSHT"), so that two
/// processes starting at once do not both apply them.
const MIGRATION_LOCK: i64 = 0x4253_4854;

impl Postgres {
    /// Connects and brings the schema up to date. A database holding
    /// tables that are not broadsheet's, or a newer schema, is refused
    /// and left untouched. Returns it with the schema version the
    /// database had before.
    pub(crate) fn open_migrating(target: &Target) -> Result<(Postgres, i64), StoreError> {
        let db = Postgres::connected(target, false)?;
        let version = db.version()?;
        db.check_version(version)?;
        if version < MIGRATIONS.len() as i64 {
            db.migrate()?;
        }
        Ok((db, version))
    }

    /// Connects for reading only: nothing is created or migrated, and
    /// the session refuses writes.
    pub(crate) fn open_reading(target: &Target) -> Result<Postgres, StoreError> {
        let db = Postgres::connected(target, true)?;
        let version = db.version()?;
        db.check_version(version)?;
        if version < MIGRATIONS.len() as i64 {
            return Err(StoreError::Unmigrated {
                target: target.shown().to_owned(),
                found: version,
            });
        }
        Ok(db)
    }

    fn connected(target: &Target, read_only: bool) -> Result<Postgres, StoreError> {
        let client = Postgres::connect(target)?;
        let db = Postgres {
            client: std::cell::RefCell::new(client),
            statements: std::cell::RefCell::default(),
            target: target.clone(),
            session: std::cell::RefCell::default(),
        };
        if read_only {
            db.set_for_session("SET default_transaction_read_only = on")?;
        }
        Ok(db)
    }

    /// The schema version: 0 for an empty database; `Foreign` for one
    /// with tables and no `broadsheet_schema`.
    fn version(&self) -> Result<i64, StoreError> {
        let (ours, tables) = self.read(|c| {
            let row = c.query_one(
                "SELECT to_regclass('broadsheet_schema') IS NOT NULL,
                        (SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema())",
                &[],
            )?;
            Ok((row.get::<_, bool>(0), row.get::<_, i64>(1)))
        })?;
        if !ours {
            if tables > 0 {
                return Err(StoreError::ForeignDatabase {
                    target: self.target.shown().to_owned(),
                });
            }
            return Ok(0);
        }
        self.read(|c| {
            c.query_opt("SELECT version FROM broadsheet_schema", &[])
                .map(|r| r.map_or(0, |r| r.get::<_, i64>(0)))
        })
    }

    fn check_version(&self, version: i64) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::NewerSchema {
                path: PathBuf::from(self.target.shown()),
                found: version,
                known,
            });
        }
        Ok(())
    }

    /// Applies what is missing, in one transaction, under the advisory
    /// lock; the version is read again once the lock is held, since
    /// another process may have migrated while this one waited.
    fn migrate(&self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let found = self.write(|tx| {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS broadsheet_schema (version BIGINT NOT NULL)",
            )?;
            let found: i64 = tx
                .query_opt("SELECT version FROM broadsheet_schema", &[])?
                .map_or(0, |r| r.get(0));
            if found >= known {
                return Ok(found);
            }
            for (_, sql) in &MIGRATIONS[found as usize..] {
                tx.batch_execute(sql)?;
            }
            tx.execute("DELETE FROM broadsheet_schema", &[])?;
            tx.execute(
                "INSERT INTO broadsheet_schema (version) VALUES ($1)",
                &[&known],
            )?;
            Ok(found)
        })?;
        self.check_version(found)
    }

    /// The schema version after opening (`state migrate` reports it).
    pub(crate) fn schema_version(&self) -> Result<i64, StoreError> {
        self.version()
    }
}
