//! Digest issues, the articles each carried and the corrections each
//! listed. An article is carried once, ever, and a correction listed once.

use super::{Backend, Store, StoreError, Subscriber};
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

/// See [`NewIssue::recipients`].
pub type Recipients<'a> = &'a dyn Fn(&Subscriber) -> Option<String>;

/// Asks no one: an issue with no recipients.
pub fn no_recipients(_: &Subscriber) -> Option<String> {
    None
}

/// A new issue: what it carries and whom it goes to, written at once.
pub struct NewIssue<'a> {
    /// ISO week label.
    pub label: &'a str,
    /// The scheduled time.
    pub cutoff: DateTime<FixedOffset>,
    /// (article id, column, published) of every article it carries.
    pub articles: &'a [(String, String, DateTime<FixedOffset>)],
    /// Whom it goes to: asked of every active subscriber in turn, in
    /// the order of their ids, inside the transaction that writes the
    /// issue, it gives the Message-ID of their email, or `None` when the
    /// issue has nothing for them. Asked rather than given a list: an
    /// issue to a million readers is never a million rows in memory.
    pub recipients: Recipients<'a>,
    /// (article id, updated) of every correction it lists.
    pub corrections: &'a [(String, DateTime<FixedOffset>)],
}

impl Store {
    /// Every issue not finished yet, oldest first.
    pub fn unfinished_issues(&self) -> Result<Vec<IssueRow>, StoreError> {
        on_backend!(self, db => db.unfinished_issues())
    }

    /// The newest issue, finished or not.
    pub fn latest_issue(&self) -> Result<Option<IssueRow>, StoreError> {
        on_backend!(self, db => db.latest_issue())
    }

    /// Every issue, newest first (for the archive of web copies).
    pub fn all_issues(&self) -> Result<Vec<IssueRow>, StoreError> {
        on_backend!(self, db => db.all_issues())
    }

    /// Which of `ids` an earlier issue already carried.
    pub fn carried(&self, ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        on_backend!(self, db => db.carried(ids))
    }

    /// The articles an issue carried, as (id, column).
    pub fn issue_articles(&self, issue_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        on_backend!(self, db => db.issue_articles(issue_id))
    }

    /// Writes an issue, the articles it carries and one queued delivery
    /// per recipient in one transaction: before anything is sent, the whole
    /// issue is on disk. An issue with this cutoff made already (by another
    /// sender sharing the state, at the same moment) is returned instead,
    /// and nothing is written: the caller joins it.
    pub fn create_issue(
        &mut self,
        issue: &NewIssue<'_>,
        now: DateTime<FixedOffset>,
    ) -> Result<IssueRow, StoreError> {
        on_backend_mut!(self, db => db.create_issue(issue, now))
    }

    /// Which of `corrections` (article id, updated) an issue has listed.
    pub fn corrections_listed(
        &self,
        corrections: &[(&str, DateTime<FixedOffset>)],
    ) -> Result<HashSet<String>, StoreError> {
        on_backend!(self, db => db.corrections_listed(corrections))
    }

    /// The article ids of the corrections an issue lists.
    pub fn issue_corrections(&self, issue_id: i64) -> Result<Vec<String>, StoreError> {
        on_backend!(self, db => db.issue_corrections(issue_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SubscriberStatus;
    use chrono::Duration;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn new_issue<'a>(
        label: &'a str,
        cutoff: DateTime<FixedOffset>,
        articles: &'a [(String, String, DateTime<FixedOffset>)],
        corrections: &'a [(String, DateTime<FixedOffset>)],
    ) -> NewIssue<'a> {
        NewIssue {
            label,
            cutoff,
            articles,
            recipients: &no_recipients,
            corrections,
        }
    }

    #[test]
    fn an_article_is_carried_once_and_a_correction_listed_once() {
        for fresh in crate::store::testing::fresh_stores() {
            let mut store = fresh.open();
            let cutoff = at("2026-06-08T07:00:00+08:00");
            let published = cutoff - Duration::days(2);
            let updated = cutoff - Duration::days(1);
            let articles = [("a1".to_owned(), "ai".to_owned(), published)];
            let corrections = [("a0".to_owned(), updated)];
            let row = store
                .create_issue(
                    &new_issue("2026-W24", cutoff, &articles, &corrections),
                    cutoff,
                )
                .unwrap();
            assert_eq!(row.label, "2026-W24");
            assert_eq!(row.cutoff, cutoff);

            assert_eq!(
                store.carried(&["a1", "a2"]).unwrap(),
                HashSet::from(["a1".to_owned()])
            );
            assert_eq!(
                store.issue_articles(row.id).unwrap(),
                [("a1".to_owned(), "ai".to_owned())]
            );
            assert_eq!(store.issue_corrections(row.id).unwrap(), ["a0"]);
            assert_eq!(
                store.corrections_listed(&[("a0", updated)]).unwrap(),
                HashSet::from(["a0".to_owned()])
            );
            // The same article corrected again is a correction of its own.
            assert!(store
                .corrections_listed(&[("a0", updated + Duration::hours(1))])
                .unwrap()
                .is_empty());
        }
    }

    #[test]
    fn an_issue_for_nobody_is_done_once_written_and_unfinished_ones_come_oldest_first() {
        for fresh in crate::store::testing::fresh_stores() {
            let mut store = fresh.open();
            let cutoff = at("2026-06-08T07:00:00+08:00");
            let empty = store
                .create_issue(&new_issue("2026-W24", cutoff, &[], &[]), cutoff)
                .unwrap();
            assert!(empty.done);
            assert!(store.unfinished_issues().unwrap().is_empty());
            assert_eq!(store.latest_issue().unwrap(), Some(empty));

            let email = crate::address::Email::parse("a@example.com").unwrap();
            let reader = crate::store::NewSubscriber {
                email: email.clone(),
                name: String::new(),
                columns: Vec::new(),
            };
            store.add_subscriber(&reader, cutoff, false).unwrap();
            let reader = store.subscriber(&email).unwrap().unwrap().id;
            let (later, earlier) = (cutoff + Duration::weeks(2), cutoff + Duration::weeks(1));
            for (label, cutoff) in [("2026-W26", later), ("2026-W25", earlier)] {
                let row = store
                    .create_issue(
                        &NewIssue {
                            label,
                            cutoff,
                            articles: &[],
                            recipients: &|s| {
                                (s.id == reader).then(|| format!("<{label}@example.com>"))
                            },
                            corrections: &[],
                        },
                        cutoff,
                    )
                    .unwrap();
                assert!(!row.done);
            }
            let unfinished: Vec<String> = store
                .unfinished_issues()
                .unwrap()
                .into_iter()
                .map(|i| i.label)
                .collect();
            assert_eq!(unfinished, ["2026-W25", "2026-W26"]);
            assert_eq!(store.latest_issue().unwrap().unwrap().label, "2026-W26");
        }
    }

    #[test]
    fn an_issue_asks_every_active_reader_in_turn_and_writes_those_it_is_given() {
        for fresh in crate::store::testing::fresh_stores() {
            let mut store = fresh.open();
            let cutoff = at("2026-06-08T07:00:00+08:00");
            let mut ids = Vec::new();
            // More readers than a page the backends fetch at a time.
            for n in 0..40 {
                let email = crate::address::Email::parse(&format!("r{n}@example.com")).unwrap();
                let reader = crate::store::NewSubscriber {
                    email: email.clone(),
                    name: String::new(),
                    columns: Vec::new(),
                };
                store.add_subscriber(&reader, cutoff, false).unwrap();
                ids.push(store.subscriber(&email).unwrap().unwrap().id);
            }
            for (n, id) in ids.iter().enumerate() {
                let status = match n % 5 {
                    1 => SubscriberStatus::Unsubscribed,
                    3 => SubscriberStatus::Bounced,
                    _ => continue,
                };
                store.set_subscriber_status(*id, status, cutoff).unwrap();
            }
            let active: Vec<i64> = ids
                .iter()
                .enumerate()
                .filter(|(n, _)| n % 5 != 1 && n % 5 != 3)
                .map(|(_, id)| *id)
                .collect();

            let asked = std::cell::RefCell::new(Vec::new());
            let pick = |s: &Subscriber| {
                asked.borrow_mut().push(s.id);
                (s.id % 2 == 0).then(|| format!("<{}@example.com>", s.id))
            };
            let issue = NewIssue {
                label: "2026-W24",
                cutoff,
                articles: &[],
                recipients: &pick,
                corrections: &[],
            };
            let row = store.create_issue(&issue, cutoff).unwrap();
            assert_eq!(*asked.borrow(), active, "every active reader, by id, once");
            assert!(!row.done);
            let mut written: Vec<(i64, String)> = store
                .pending_deliveries(row.id)
                .unwrap()
                .into_iter()
                .map(|d| (d.subscriber.id, d.message_id))
                .collect();
            written.sort();
            let chosen: Vec<(i64, String)> = active
                .iter()
                .filter(|id| *id % 2 == 0)
                .map(|id| (*id, format!("<{id}@example.com>")))
                .collect();
            assert_eq!(written, chosen);

            let mut visited = Vec::new();
            store
                .each_subscriber(SubscriberStatus::Active, &mut |s| visited.push(s.id))
                .unwrap();
            assert_eq!(visited, active);

            // The same slot again: joined, and no one is asked.
            asked.borrow_mut().clear();
            let again = store.create_issue(&issue, cutoff).unwrap();
            assert_eq!(again.id, row.id);
            assert!(asked.borrow().is_empty());
        }
    }
}
