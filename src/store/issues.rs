//! Digest issues, the articles each carried and the corrections each
//! listed. An article is carried once, ever, and a correction listed once.

use super::{Backend, Store, StoreError};
use chrono::{DateTime, FixedOffset};
use std::collections::HashSet;

/// A digest issue as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRow {
    /// Its key.
    pub id: i64,
    /// The ISO week it belongs to.
    pub label: String,
    /// Its cutoff: the scheduled time.
    pub cutoff: DateTime<FixedOffset>,
    /// Whether every delivery has an outcome.
    pub done: bool,
}

/// A new issue: what it carries and whom it goes to, written at once.
pub struct NewIssue<'a> {
    /// ISO week label.
    pub label: &'a str,
    /// The scheduled time.
    pub cutoff: DateTime<FixedOffset>,
    /// (article id, column, published) of every article it carries.
    pub articles: &'a [(String, String, DateTime<FixedOffset>)],
    /// (subscriber id, Message-ID) of every recipient.
    pub deliveries: &'a [(i64, String)],
    /// (article id, updated) of every correction it lists.
    pub corrections: &'a [(String, DateTime<FixedOffset>)],
}

impl Store {
    /// Every issue not finished yet, oldest first.
    pub fn unfinished_issues(&self) -> Result<Vec<IssueRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.unfinished_issues(),
        }
    }

    /// The newest issue, finished or not.
    pub fn latest_issue(&self) -> Result<Option<IssueRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.latest_issue(),
        }
    }

    /// Which of `ids` an earlier issue already carried.
    pub fn carried(&self, ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.carried(ids),
        }
    }

    /// The articles an issue carried, as (id, column).
    pub fn issue_articles(&self, issue_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.issue_articles(issue_id),
        }
    }

    /// Writes an issue, the articles it carries and one queued delivery
    /// per recipient in one transaction: before anything is sent, the whole
    /// issue is on disk.
    pub fn create_issue(
        &mut self,
        issue: &NewIssue<'_>,
        now: DateTime<FixedOffset>,
    ) -> Result<IssueRow, StoreError> {
        match &mut self.backend {
            Backend::Sqlite(db) => db.create_issue(issue, now),
        }
    }

    /// Which of `corrections` (article id, updated) an issue has listed.
    pub fn corrections_listed(
        &self,
        corrections: &[(&str, DateTime<FixedOffset>)],
    ) -> Result<HashSet<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.corrections_listed(corrections),
        }
    }

    /// The article ids of the corrections an issue lists.
    pub fn issue_corrections(&self, issue_id: i64) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.issue_corrections(issue_id),
        }
    }
}
