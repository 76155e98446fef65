//! The statements of issues, the articles they carried and the
//! corrections they listed.

use super::subscribers;
use super::Postgres;
use crate::store::{parse_stamp, stamp, IssueRow, NewIssue, StoreError, SubscriberStatus};
use chrono::{DateTime, FixedOffset};
use std::collections::HashSet;

fn issue_from(r: &postgres::Row) -> IssueRow {
    let cutoff: String = r.get(2);
    let status: String = r.get(3);
    IssueRow {
        id: r.get(0),
        label: r.get(1),
        cutoff: parse_stamp(&cutoff).unwrap_or_default(),
        done: status == "done",
    }
}

impl Postgres {
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
        self.read(|c| Ok(c.query(query, &[])?.iter().map(issue_from).collect()))
    }

    pub(crate) fn carried(&self, ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        let ids: Vec<&str> = ids.to_vec();
        self.read(|c| {
            Ok(c.query(
                "SELECT article_id FROM issue_articles WHERE article_id = ANY($1)",
                &[&ids],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    pub(crate) fn issue_articles(
        &self,
        issue_id: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|c| {
            Ok(c.query(
                "SELECT article_id, column_slug FROM issue_articles WHERE issue_id = $1 ORDER BY article_id",
                &[&issue_id],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    /// Two senders making the issue of one slot at once: the second's
    /// insert waits on the unique `cutoff` until the first commits, then
    /// finds it, and joins the issue the first made.
    pub(crate) fn create_issue(
        &self,
        issue: &NewIssue<'_>,
        now: DateTime<FixedOffset>,
    ) -> Result<IssueRow, StoreError> {
        let now_s = stamp(now);
        let (row, written) = self.write(|tx| {
            let made = tx.query_opt(
                "INSERT INTO issues (label, cutoff, status, created_at)
                 VALUES ($1, $2, 'sending', $3) ON CONFLICT (cutoff) DO NOTHING RETURNING id",
                &[&issue.label, &stamp(issue.cutoff), &now_s],
            )?;
            let Some(made) = made else {
                let existing = tx.query_one(
                    "SELECT id, label, cutoff, status FROM issues WHERE cutoff = $1",
                    &[&stamp(issue.cutoff)],
                )?;
                return Ok((issue_from(&existing), 0));
            };
            let issue_id: i64 = made.get(0);
            let carried = tx.prepare(
                "INSERT INTO issue_articles (issue_id, article_id, column_slug) VALUES ($1, $2, $3)",
            )?;
            let seen = tx.prepare(
                "INSERT INTO articles_seen (id, column_slug, published, first_seen)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            )?;
            for (id, column, published) in issue.articles {
                tx.execute(&carried, &[&issue_id, id, column])?;
                tx.execute(&seen, &[id, column, &stamp(*published), &now_s])?;
            }
            // The readers come through a portal a page at a time, and
            // their deliveries go in one statement a page: an issue to a
            // million readers is a million rows, never all in memory and
            // never a round trip each.
            let insert = tx.prepare(
                "INSERT INTO deliveries (issue_id, subscriber_id, status, message_id, updated_at)
                 SELECT $1, s, 'queued', m, $4 FROM unnest($2::bigint[], $3::text[]) AS t (s, m)",
            )?;
            let mut recipients = 0usize;
            subscribers::each_page(tx, SubscriberStatus::Active, |tx, page| {
                let (ids, message_ids): (Vec<i64>, Vec<String>) = page
                    .iter()
                    .filter_map(|reader| Some((reader.id, (issue.recipients)(reader)?)))
                    .unzip();
                if !ids.is_empty() {
                    recipients += ids.len();
                    tx.execute(&insert, &[&issue_id, &ids, &message_ids, &now_s])?;
                }
                Ok(())
            })?;
            let correction = tx.prepare(
                "INSERT INTO issue_corrections (issue_id, article_id, updated) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )?;
            for (article_id, updated) in issue.corrections {
                tx.execute(&correction, &[&issue_id, article_id, &stamp(*updated)])?;
            }
            let done = recipients == 0;
            if done {
                tx.execute(
                    "UPDATE issues SET status = 'done', finished_at = $2 WHERE id = $1",
                    &[&issue_id, &now_s],
                )?;
            }
            let row = IssueRow {
                id: issue_id,
                label: issue.label.to_owned(),
                cutoff: issue.cutoff,
                done,
            };
            Ok((row, recipients))
        })?;
        if written > 0 {
            // The planner's picture of `deliveries` is from before these
            // rows: most likely from when last week's issue was done and
            // nothing was pending. With it, a mark by id scans the whole
            // pending index (which it thinks empty) instead of looking the
            // ids up: 17 ms a mark at 30,000 readers, growing with the
            // issue. ANALYZE samples a fixed number of rows, so it costs
            // the same at a million.
            self.read(|c| c.batch_execute("ANALYZE deliveries"))?;
        }
        Ok(row)
    }

    pub(crate) fn corrections_listed(
        &self,
        corrections: &[(&str, DateTime<FixedOffset>)],
    ) -> Result<HashSet<String>, StoreError> {
        self.read(|c| {
            let stmt = c.prepare(
                "SELECT 1 FROM issue_corrections WHERE article_id = $1 AND updated = $2",
            )?;
            let mut listed = HashSet::new();
            for (id, updated) in corrections {
                if c.query_opt(&stmt, &[id, &stamp(*updated)])?.is_some() {
                    listed.insert((*id).to_owned());
                }
            }
            Ok(listed)
        })
    }

    pub(crate) fn issue_corrections(&self, issue_id: i64) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            Ok(c.query(
                "SELECT article_id FROM issue_corrections WHERE issue_id = $1 ORDER BY article_id",
                &[&issue_id],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }
}
