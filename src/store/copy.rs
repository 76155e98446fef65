//! `state copy`: the whole state, table by table, from one store into an
//! empty one, whichever backends the two are. Rows keep their ids: the
//! links in every email sent are signed with the subscriber's id.

use super::{Backend, Store, StoreError};

/// What a column holds, so each backend reads and writes it in its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A whole number.
    Int,
    /// Text.
    Text,
    /// Bytes.
    Bytes,
}

/// One value of a row being copied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// SQL NULL.
    Null,
    /// A whole number.
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// A table and its columns, in the order rows are read and written.
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [(&'static str, Kind)],
    /// The order rows are read in (its primary key).
    pub(crate) order: &'static str,
    /// Whether `id` is generated, and its sequence must be moved past
    /// the ids copied.
    pub(crate) has_id: bool,
}

use Kind::{Bytes, Int, Text};

/// Every table, parents before the tables that refer to them.
pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "subscribers",
        columns: &[
            ("id", Int),
            ("email", Text),
            ("email_key", Text),
            ("name", Text),
            ("columns", Text),
            ("status", Text),
            ("hard_bounces", Int),
            ("created_at", Text),
            ("updated_at", Text),
        ],
        order: "id",
        has_id: true,
    },
    Table {
        name: "signup_requests",
        columns: &[
            ("id", Int),
            ("subscriber_id", Int),
            ("name", Text),
            ("columns", Text),
            ("created_at", Text),
            ("confirmed_at", Text),
        ],
        order: "id",
        has_id: true,
    },
    Table {
        name: "issues",
        columns: &[
            ("id", Int),
            ("label", Text),
            ("cutoff", Text),
            ("status", Text),
            ("created_at", Text),
            ("finished_at", Text),
        ],
        order: "id",
        has_id: true,
    },
    Table {
        name: "issue_articles",
        columns: &[
            ("issue_id", Int),
            ("article_id", Text),
            ("column_slug", Text),
        ],
        order: "issue_id, article_id",
        has_id: false,
    },
    Table {
        name: "issue_corrections",
        columns: &[("issue_id", Int), ("article_id", Text), ("updated", Text)],
        order: "article_id, updated",
        has_id: false,
    },
    Table {
        name: "articles_seen",
        columns: &[
            ("id", Text),
            ("column_slug", Text),
            ("published", Text),
            ("first_seen", Text),
        ],
        order: "id",
        has_id: false,
    },
    Table {
        name: "deliveries",
        columns: &[
            ("id", Int),
            ("issue_id", Int),
            ("subscriber_id", Int),
            ("status", Text),
            ("attempts", Int),
            ("last_reply", Text),
            ("message_id", Text),
            ("updated_at", Text),
            ("sent_at", Text),
            ("claimed_by", Text),
            ("lease_until", Int),
            ("tried_at", Int),
        ],
        order: "id",
        has_id: true,
    },
    Table {
        name: "service_emails",
        columns: &[
            ("id", Int),
            ("subscriber_id", Int),
            ("kind", Text),
            ("envelope_from", Text),
            ("envelope_to", Text),
            ("message", Bytes),
            ("file_name", Text),
            ("status", Text),
            ("attempts", Int),
            ("last_reply", Text),
            ("not_before", Int),
            ("give_up_at", Int),
            ("created_at", Text),
            ("updated_at", Text),
        ],
        order: "id",
        has_id: true,
    },
    Table {
        name: "bounce_events",
        columns: &[
            ("id", Int),
            ("report_key", Text),
            ("subscriber_id", Int),
            ("email_key", Text),
            ("issue_id", Int),
            ("kind", Text),
            ("status_code", Text),
            ("diagnostic", Text),
            ("source", Text),
            ("reported_at", Text),
            ("received_at", Text),
            ("evidence", Bytes),
            ("became", Text),
        ],
        order: "id",
        has_id: true,
    },
];

/// Rows are read and written this many at a time: the copy's memory is
/// one chunk, however large the state.
pub(crate) const CHUNK: usize = 5_000;

/// How many rows of each table were read and how many are in the target
/// after the copy (the same, or the copy failed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyCounts {
    /// (table, rows read from the source, rows in the target).
    pub tables: Vec<(&'static str, u64, u64)>,
}

impl Store {
    /// Rows in `table`.
    pub(crate) fn count_rows(&self, table: &Table) -> Result<u64, StoreError> {
        on_backend!(self, db => db.count_rows(table))
    }

    /// Copies the whole state into `target`, which must hold no rows: one
    /// transaction per table, so a failure leaves the tables copied so far
    /// whole and the one that failed empty. Returns the counts.
    pub fn copy_to(&self, target: &mut Store) -> Result<CopyCounts, StoreError> {
        for table in TABLES {
            let rows = target.count_rows(table)?;
            if rows > 0 {
                return Err(StoreError::NotEmpty {
                    target: target.shown(),
                    table: table.name,
                    rows: rows as i64,
                });
            }
        }
        let mut counts = CopyCounts::default();
        for table in TABLES {
            on_backend_mut!(target, db => db.copy_begin())?;
            let mut read = 0u64;
            let copied = on_backend!(self, src => src.each_chunk(table, &mut |chunk: Vec<Vec<Cell>>| {
                read += chunk.len() as u64;
                on_backend_mut!(target, db => db.copy_rows(table, &chunk))
            }));
            if let Err(e) = copied {
                let _ = on_backend_mut!(target, db => db.copy_rollback());
                return Err(e);
            }
            on_backend_mut!(target, db => db.copy_commit(table))?;
            counts
                .tables
                .push((table.name, read, target.count_rows(table)?));
        }
        Ok(counts)
    }

    /// The file's path, or the URL without its password.
    pub fn shown(&self) -> String {
        match &self.backend {
            Backend::Sqlite(db) => db.path().display().to_string(),
            Backend::Postgres(db) => db.shown().to_owned(),
        }
    }
}
