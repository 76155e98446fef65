//! The statements of issues, the articles they carried and the
//! corrections they listed.

use super::subscribers;
use super::{parse_stamp, stamp, Sqlite};
use crate::store::{IssueRow, NewIssue, StoreError, SubscriberStatus};
use chrono::{DateTime, FixedOffset};
use rusqlite::params;
use std::collections::HashSet;

/// An issue from a row of `id, label, cutoff, status`.
fn issue_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<IssueRow> {
    let cutoff: String = r.get(2)?;
    let status: String = r.get(3)?;
    Ok(IssueRow {
        id: r.get(0)?,
        label: r.get(1)?,
        cutoff: parse_stamp(&cutoff).unwrap_or_default(),
        done: status == "done",
    })
}

impl Sqlite {
    pub(crate) fn unfinished_issues(&self) -> Result<Vec<IssueRow>, StoreError> {
        self.issues(
            "SELECT id, label, cutoff, status FROM issues WHERE status = 'sending' ORDER BY cutoff",
        )
    }

    pub(crate) fn latest_issue(&self) -> Result<Option<IssueRow>, StoreError> {
        Ok(self
            .issues("SELECT id, label, cutoff, status FROM issues ORDER BY cutoff DESC LIMIT 1")?
            .pop())
    }

    pub(crate) fn all_issues(&self) -> Result<Vec<IssueRow>, StoreError> {
        self.issues("SELECT id, label, cutoff, status FROM issues ORDER BY cutoff DESC, id DESC")
    }

    fn issues(&self, query: &str) -> Result<Vec<IssueRow>, StoreError> {
        let mut stmt = self.conn.prepare(query).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], issue_from).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub(crate) fn carried(&self, ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM issue_articles WHERE article_id = ?1")
            .map_err(|e| self.err(e))?;
        let mut out = HashSet::new();
        for id in ids {
            if stmt.exists([id]).map_err(|e| self.err(e))? {
                out.insert((*id).to_owned());
            }
        }
        Ok(out)
    }

    pub(crate) fn issue_articles(
        &self,
        issue_id: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT article_id, column_slug FROM issue_articles WHERE issue_id = ?1 ORDER BY article_id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([issue_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub(crate) fn create_issue(
        &mut self,
        issue: &NewIssue<'_>,
        now: DateTime<FixedOffset>,
    ) -> Result<IssueRow, StoreError> {
        let now_s = stamp(now);
        let made = self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO issues (label, cutoff, status, created_at)
                 VALUES (?1, ?2, 'sending', ?3) ON CONFLICT (cutoff) DO NOTHING",
                params![issue.label, stamp(issue.cutoff), now_s],
            )?;
            if n == 0 {
                // Made already, by a sender sharing this state: join it.
                let existing = tx.query_row(
                    "SELECT id, label, cutoff, status FROM issues WHERE cutoff = ?1",
                    [stamp(issue.cutoff)],
                    issue_from,
                )?;
                return Ok(Err(existing));
            }
            let issue_id = tx.last_insert_rowid();
            let mut carried = tx.prepare(
                "INSERT INTO issue_articles (issue_id, article_id, column_slug) VALUES (?1, ?2, ?3)",
            )?;
            let mut seen = tx.prepare(
                "INSERT INTO articles_seen (id, column_slug, published, first_seen)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
            )?;
            for (id, column, published) in issue.articles {
                carried.execute(params![issue_id, id, column])?;
                seen.execute(params![id, column, stamp(*published), now_s])?;
            }
            let mut delivery = tx.prepare(
                "INSERT INTO deliveries (issue_id, subscriber_id, status, message_id, updated_at)
                 VALUES (?1, ?2, 'queued', ?3, ?4)",
            )?;
            // One cursor over the readers while their deliveries go in:
            // SQLite reads a table and writes another in one transaction,
            // and only the row at hand is in memory.
            let mut recipients = 0u64;
            subscribers::each_on(tx, SubscriberStatus::Active, &mut |reader| {
                if let Some(message_id) = (issue.recipients)(&reader) {
                    delivery.execute(params![issue_id, reader.id, message_id, now_s])?;
                    recipients += 1;
                }
                Ok(())
            })?;
            let mut correction = tx.prepare(
                "INSERT OR IGNORE INTO issue_corrections (issue_id, article_id, updated) VALUES (?1, ?2, ?3)",
            )?;
            for (article_id, updated) in issue.corrections {
                correction.execute(params![issue_id, article_id, stamp(*updated)])?;
            }
            let done = recipients == 0;
            if done {
                tx.execute(
                    "UPDATE issues SET status = 'done', finished_at = ?2 WHERE id = ?1",
                    params![issue_id, now_s],
                )?;
            }
            Ok(Ok((issue_id, done)))
        })?;
        Ok(match made {
            Ok((id, done)) => IssueRow {
                id,
                label: issue.label.to_owned(),
                cutoff: issue.cutoff,
                done,
            },
            Err(existing) => existing,
        })
    }

    pub(crate) fn corrections_listed(
        &self,
        corrections: &[(&str, DateTime<FixedOffset>)],
    ) -> Result<HashSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT 1 FROM issue_corrections WHERE article_id = ?1 AND updated = ?2",
            )
            .map_err(|e| self.err(e))?;
        let mut listed = HashSet::new();
        for (id, updated) in corrections {
            if stmt
                .exists(params![id, stamp(*updated)])
                .map_err(|e| self.err(e))?
            {
                listed.insert((*id).to_owned());
            }
        }
        Ok(listed)
    }

    pub(crate) fn issue_corrections(&self, issue_id: i64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT article_id FROM issue_corrections WHERE issue_id = ?1 ORDER BY article_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([issue_id], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}
