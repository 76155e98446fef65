//! `state copy` from and into PostgreSQL.

use super::Postgres;
use crate::store::copy::{Cell, Kind, Table, CHUNK};
use crate::store::StoreError;
use postgres::types::ToSql;

impl Postgres {
    pub(crate) fn count_rows(&self, table: &Table) -> Result<u64, StoreError> {
        self.read(|c| c.query_one(&format!("SELECT count(*) FROM {}", table.name), &[]))
            .map(|r| r.get::<_, i64>(0) as u64)
    }

    /// Reads through a cursor, [`CHUNK`] rows at a time, in one
    /// read-only transaction: a consistent copy of a state in use.
    pub(crate) fn each_chunk(
        &self,
        table: &Table,
        f: &mut dyn FnMut(Vec<Vec<Cell>>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let mut client = self.client()?;
        let mut tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(|e| self.err(e))?;
        let portal = tx
            .bind(
                &format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    names.join(", "),
                    table.name,
                    table.order
                ),
                &[],
            )
            .map_err(|e| self.err(e))?;
        loop {
            let rows = tx
                .query_portal(&portal, CHUNK as i32)
                .map_err(|e| self.err(e))?;
            if rows.is_empty() {
                break;
            }
            let chunk = rows
                .iter()
                .map(|r| {
                    table
                        .columns
                        .iter()
                        .enumerate()
                        .map(|(i, (_, kind))| match kind {
                            Kind::Int => r.get::<_, Option<i64>>(i).map_or(Cell::Null, Cell::Int),
                            Kind::Text => {
                                r.get::<_, Option<String>>(i).map_or(Cell::Null, Cell::Text)
                            }
                            Kind::Bytes => r
                                .get::<_, Option<Vec<u8>>>(i)
                                .map_or(Cell::Null, Cell::Bytes),
                        })
                        .collect()
                })
                .collect();
            f(chunk)?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    pub(crate) fn copy_begin(&self) -> Result<(), StoreError> {
        self.read(|c| c.batch_execute("BEGIN"))
    }

    /// One statement per chunk: each column goes as an array, unnested
    /// into rows by the server.
    pub(crate) fn copy_rows(&self, table: &Table, rows: &[Vec<Cell>]) -> Result<(), StoreError> {
        let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(table.columns.len());
        let mut casts = Vec::with_capacity(table.columns.len());
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            match kind {
                Kind::Int => {
                    casts.push(format!("${}::bigint[]", i + 1));
                    let col: Vec<Option<i64>> = rows
                        .iter()
                        .map(|r| match &r[i] {
                            Cell::Int(n) => Some(*n),
                            Cell::Text(t) => t.parse().ok(),
                            _ => None,
                        })
                        .collect();
                    params.push(Box::new(col));
                }
                Kind::Text => {
                    casts.push(format!("${}::text[]", i + 1));
                    let col: Vec<Option<String>> = rows
                        .iter()
                        .map(|r| match &r[i] {
                            Cell::Text(t) => Some(t.clone()),
                            Cell::Int(n) => Some(n.to_string()),
                            Cell::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
                            Cell::Null => None,
                        })
                        .collect();
                    params.push(Box::new(col));
                }
                Kind::Bytes => {
                    casts.push(format!("${}::bytea[]", i + 1));
                    let col: Vec<Option<Vec<u8>>> = rows
                        .iter()
                        .map(|r| match &r[i] {
                            Cell::Bytes(b) => Some(b.clone()),
                            Cell::Text(t) => Some(t.as_bytes().to_vec()),
                            _ => None,
                        })
                        .collect();
                    params.push(Box::new(col));
                }
            }
        }
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let sql = format!(
            "INSERT INTO {} ({}) SELECT * FROM unnest({})",
            table.name,
            names.join(", "),
            casts.join(", ")
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        self.read(|c| c.execute(&sql, &refs))?;
        Ok(())
    }

    /// Commits, with the table's id sequence moved past the ids copied.
    pub(crate) fn copy_commit(&self, table: &Table) -> Result<(), StoreError> {
        let name = table.name;
        self.read(|c| {
            if table.has_id {
                c.batch_execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('{name}', 'id'),
                                   COALESCE((SELECT max(id) FROM {name}), 0) + 1, false)"
                ))?;
            }
            c.batch_execute("COMMIT")
        })
    }

    pub(crate) fn copy_rollback(&self) -> Result<(), StoreError> {
        self.read(|c| c.batch_execute("ROLLBACK"))
    }
}
