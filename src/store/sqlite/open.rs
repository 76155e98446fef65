//! Opening the SQLite file, telling broadsheet's database from any other,
//! and bringing its schema up to date.

use super::{sql_error, subscribers, Sqlite};
use crate::store::StoreError;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::Path;

/// Marks a database as broadsheet's (`PRAGMA application_id`, "BSHT").
const APPLICATION_ID: i64 = 0x4253_4854;

/// The migrations, in order, as (name, SQL); the schema version
/// (`PRAGMA user_version`) is how many of them a database has had. A new
/// one is appended with the next number; none is ever edited, since
/// databases that had it already never run it again.
pub(super) const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/0001_init.sql")),
    (
        "0002_issue_corrections",
        include_str!("../migrations/0002_issue_corrections.sql"),
    ),
    (
        "0003_signup_requests_and_service_emails",
        include_str!("../migrations/0003_signup_requests_and_service_emails.sql"),
    ),
    (
        "0004_delivery_leases",
        include_str!("../migrations/0004_delivery_leases.sql"),
    ),
    (
        "0005_email_limits",
        include_str!("../migrations/0005_email_limits.sql"),
    ),
    (
        "0006_pending_deliveries_index",
        include_str!("../migrations/0006_pending_deliveries_index.sql"),
    ),
    (
        "0007_bounces",
        include_str!("../migrations/0007_bounces.sql"),
    ),
    (
        "0008_bounce_decisions",
        include_str!("../migrations/0008_bounce_decisions.sql"),
    ),
];

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

/// Puts the database in WAL mode, waiting (within the busy timeout) for
/// any other connection doing the same. Changing the journal mode takes
/// the exclusive lock without calling the busy handler, so two processes
/// opening a new database together (a `serve` and a cron run) would see
/// one of them fail at once with "database is locked"; once the other has
/// switched it, asking again finds it in WAL mode already and needs no
/// lock.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let started = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && started.elapsed() < super::busy_timeout() =>
            {
                std::thread::sleep(super::LOCK_POLL);
            }
            done => return done,
        }
    }
}

impl Sqlite {
    /// See [`crate::store::Store::open`].
    pub(crate) fn open(path: &Path) -> Result<Sqlite, StoreError> {
        Sqlite::open_migrating(path).map(|(db, _)| db)
    }

    /// [`Sqlite::open`], with the schema version the file had before.
    pub(crate) fn open_migrating(path: &Path) -> Result<(Sqlite, i64), StoreError> {
        let sql = |source| sql_error(path, source);
        let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
            path: path.to_owned(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_owned(),
                action: "create the folder of the state database (site.state_path)",
                source,
            })?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(corrupt)?;
        conn.busy_handler(Some(super::wait_for_lock)).map_err(sql)?;
        // The header and the tables are read from one snapshot: another
        // process migrating the new database meanwhile would otherwise be
        // seen half way, with tables but no application id yet, and the
        // file taken for someone else's.
        let snapshot = conn.unchecked_transaction().map_err(corrupt)?;
        let (app_id, version) = header(&conn, path)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(corrupt)?;
        snapshot.finish().map_err(corrupt)?;
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
        use_wal(&conn).map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        let mut store = Sqlite {
            conn,
            path: path.to_owned(),
        };
        store.migrate(version)?;
        Ok((store, version))
    }

    /// See [`crate::store::Store::open_read_only`] and
    /// [`crate::store::Store::open_snapshot`].
    pub(crate) fn open_reading(path: &Path, snapshot: bool) -> Result<Sqlite, StoreError> {
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
            let absolute = std::fs::canonicalize(path).map_err(|source| StoreError::Io {
                path: path.to_owned(),
                action: "find the full path of the state database (site.state_path)",
                source,
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
        conn.busy_handler(Some(super::wait_for_lock))
            .map_err(corrupt)?;
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
        Ok(Sqlite {
            conn,
            path: path.to_owned(),
        })
    }

    fn migrate(&mut self, seen: i64) -> Result<(), StoreError> {
        if seen as usize == MIGRATIONS.len() {
            return Ok(());
        }
        let path = self.path.clone();
        let sql = |source| sql_error(&path, source);
        // A migration that makes a table again (0007) drops the old one,
        // which with foreign keys on would delete every row referring to
        // it. SQLite's procedure for it: keys off outside the transaction
        // (the pragma does nothing inside one), checked before the commit.
        self.conn
            .pragma_update(None, "foreign_keys", "OFF")
            .map_err(sql)?;
        let migrated = self.migrate_keys_off();
        self.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        migrated
    }

    fn migrate_keys_off(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| sql_error(&path, source);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        // Another process opening the same new database (a `serve` and a
        // cron run started together) may have migrated it between the
        // read of its header and this lock: start from where it is now.
        let from: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if from as usize >= MIGRATIONS.len() {
            return Ok(());
        }
        for (_, m) in &MIGRATIONS[from as usize..] {
            tx.execute_batch(m).map_err(sql)?;
        }
        // 0003 compares domains in their ASCII form: rows stored before
        // it are re-keyed, which takes Rust (IDNA), not SQL.
        if from < 3 {
            subscribers::normalise_stored_addresses(&tx).map_err(sql)?;
        }
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        if let Some(table) = broken {
            return Err(StoreError::Corrupt {
                path: path.clone(),
                message: format!(
                    "table {table} refers to rows that do not exist; nothing was migrated"
                ),
            });
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sql)?;
        tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)
            .map_err(sql)?;
        tx.commit().map_err(sql)
    }
}

/// A database as an earlier broadsheet left it: the first `version`
/// migrations applied, and its header written, as that version did.
#[cfg(test)]
pub(super) fn database_of_version(path: &Path, version: usize) -> Connection {
    let conn = Connection::open(path).unwrap();
    for (_, sql) in &MIGRATIONS[..version] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    conn
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewIssue, Store};
    use chrono::DateTime;

    #[test]
    fn processes_opening_one_new_database_together_all_succeed() {
        // Each round, four connections open a database that does not exist
        // yet at the same moment: every one creates, switches to WAL or
        // migrates it, or finds it done.
        for _ in 0..30 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.db");
            let start = std::sync::Barrier::new(4);
            std::thread::scope(|scope| {
                let opened: Vec<_> = (0..4)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            Sqlite::open(&path).map(|_| ())
                        })
                    })
                    .collect();
                for o in opened {
                    if let Err(e) = o.join().unwrap() {
                        panic!("{e}");
                    }
                }
            });
            let db = Sqlite::open(&path).unwrap();
            assert_eq!(db.schema_version().unwrap(), MIGRATIONS.len() as i64);
        }
    }

    #[test]
    fn the_migrations_are_numbered_in_order_and_named_by_their_files() {
        for (i, (name, sql)) in MIGRATIONS.iter().enumerate() {
            let number = format!("{:04}_", i + 1);
            assert!(name.starts_with(&number), "{name} is number {}", i + 1);
            assert!(
                sql.starts_with(&format!("-- Version {}", i + 1)),
                "{name} begins by naming its version"
            );
        }
    }

    #[test]
    fn a_database_of_every_earlier_version_opens_and_keeps_its_rows() {
        let cutoff = DateTime::parse_from_rfc3339("2026-06-08T07:00:00+08:00").unwrap();
        for version in 1..=MIGRATIONS.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.db");
            let conn = database_of_version(&path, version);
            conn.execute(
                "INSERT INTO subscribers (email, email_key, name, columns, status, created_at, updated_at)
                 VALUES ('a@example.com', 'a@example.com', '甲', 'ai', 'active', 'x', 'x')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO issues (label, cutoff, status, created_at)
                 VALUES ('2026-W24', '2026-06-07T23:00:00Z', 'sending', 'x')",
                [],
            )
            .unwrap();
            drop(conn);

            let mut store = Store::open(&path).unwrap();
            let subscribers = store.subscribers(None).unwrap();
            assert_eq!(subscribers.len(), 1, "version {version}");
            assert_eq!(subscribers[0].name, "甲");
            assert_eq!(subscribers[0].columns, ["ai"]);
            let unfinished = store.unfinished_issues().unwrap();
            assert_eq!(unfinished.len(), 1, "version {version}");
            assert_eq!(unfinished[0].cutoff, cutoff);
            // What the later migrations added works on the upgraded file.
            store
                .create_issue(
                    &NewIssue {
                        label: "2026-W25",
                        cutoff: cutoff + chrono::Duration::weeks(1),
                        articles: &[],
                        recipients: &crate::store::no_recipients,
                        corrections: &[("a".into(), cutoff)],
                    },
                    cutoff,
                )
                .unwrap();
            drop(store);
            let read = Store::open_read_only(&path).unwrap();
            assert_eq!(read.subscribers(None).unwrap().len(), 1);
        }
    }

    #[test]
    fn a_database_one_version_ahead_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let conn = database_of_version(&path, MIGRATIONS.len());
        conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64 + 1)
            .unwrap();
        drop(conn);
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(&path).err().expect("refused");
        let known = MIGRATIONS.len();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: the database has schema version {}, newer than this broadsheet knows ({known}); upgrade broadsheet",
                path.display(),
                known + 1
            )
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_state_path_whose_folder_cannot_be_made_says_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data"), "a file, not a folder").unwrap();
        let path = dir.path().join("data").join("state.db");
        let err = Store::open(&path).err().expect("refused");
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "{}: cannot create the folder of the state database (site.state_path): ",
                dir.path().join("data").display()
            )),
            "{text}"
        );
    }

    #[test]
    fn the_senders_connection_syncs_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open(&dir.path().join("s.db")).unwrap();
        let level = |s: &Sqlite| -> i64 {
            s.conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(level(&store), 1, "NORMAL by default");
        store.make_durable().unwrap();
        assert_eq!(level(&store), 2, "FULL once made durable");
    }
}
