//! `state copy` from and into an SQLite file.

use super::Sqlite;
use crate::store::copy::{Cell, Kind, Table, CHUNK};
use crate::store::StoreError;
use rusqlite::types::{Value, ValueRef};

impl Sqlite {
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub(crate) fn count_rows(&self, table: &Table) -> Result<u64, StoreError> {
        self.conn
            .query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    pub(crate) fn each_chunk(
        &self,
        table: &Table,
        f: &mut dyn FnMut(Vec<Vec<Cell>>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM {} ORDER BY {}",
                names.join(", "),
                table.name,
                table.order
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut chunk = Vec::with_capacity(CHUNK);
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let mut row = Vec::with_capacity(names.len());
            for i in 0..names.len() {
                row.push(match r.get_ref(i).map_err(|e| self.err(e))? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(n) => Cell::Int(n),
                    ValueRef::Real(x) => Cell::Int(x as i64),
                    ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
                });
            }
            chunk.push(row);
            if chunk.len() == CHUNK {
                f(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))?;
            }
        }
        if !chunk.is_empty() {
            f(chunk)?;
        }
        Ok(())
    }

    pub(crate) fn copy_begin(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))
    }

    pub(crate) fn copy_rows(
        &mut self,
        table: &Table,
        rows: &[Vec<Cell>],
    ) -> Result<(), StoreError> {
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "INSERT INTO {} ({}) VALUES ({})",
                table.name,
                names.join(", "),
                marks.join(", ")
            ))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let values: Vec<Value> = row
                .iter()
                .zip(table.columns)
                .map(|(c, (_, kind))| match (c, kind) {
                    (Cell::Null, _) => Value::Null,
                    (Cell::Int(n), _) => Value::Integer(*n),
                    (Cell::Text(t), Kind::Bytes) => Value::Blob(t.as_bytes().to_vec()),
                    (Cell::Text(t), _) => Value::Text(t.clone()),
                    (Cell::Bytes(b), _) => Value::Blob(b.clone()),
                })
                .collect();
            stmt.execute(rusqlite::params_from_iter(values))
                .map_err(|e| super::sql_error(&self.path, e))?;
        }
        Ok(())
    }

    pub(crate) fn copy_commit(&mut self, _table: &Table) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))
    }

    pub(crate) fn copy_rollback(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("ROLLBACK").map_err(|e| self.err(e))
    }
}
