//! Bounces and complaints that arrive after the SMTP session: each report
//! kept once, with its evidence, and what it does to its subscriber. The
//! policy (what a hard bounce, a soft one or a complaint makes of a
//! subscriber) is decided here, once; each backend runs it inside the
//! transaction that records the report.

use super::{Backend, Store, StoreError, SubscriberStatus};
use chrono::{DateTime, Duration, FixedOffset};

/// What a report says happened to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceKind {
    /// Refused for good (`5.x.x`, a provider's permanent bounce).
    Hard,
    /// Refused for now (`4.x.x`, `Action: delayed`, a transient bounce).
    Soft,
    /// The reader reported it as spam (an ARF `abuse` report, a
    /// provider's complaint).
    Complaint,
    /// Taken from a mail server's pipe, but naming no subscriber of ours
    /// or not understood: kept so that nothing handed over is lost.
    Unmatched,
}

impl BounceKind {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            BounceKind::Hard => "hard",
            BounceKind::Soft => "soft",
            BounceKind::Complaint => "complaint",
            BounceKind::Unmatched => "unmatched",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<BounceKind> {
        Some(match s {
            "hard" => BounceKind::Hard,
            "soft" => BounceKind::Soft,
            "complaint" => BounceKind::Complaint,
            "unmatched" => BounceKind::Unmatched,
            _ => return None,
        })
    }
}

/// One report to record.
#[derive(Debug, Clone)]
pub struct NewBounce<'a> {
    /// What makes it the report it is (a digest of its source and of the
    /// report's own id, or of its bytes): the same report twice has the
    /// same key, and is recorded once.
    pub report_key: &'a str,
    /// The subscriber it is about, when known.
    pub subscriber_id: Option<i64>,
    /// Their address as compared (empty when unknown).
    pub email_key: &'a str,
    /// The issue the VERP token named (none for a service email, or when
    /// no token came back).
    pub issue_id: Option<i64>,
    /// What happened.
    pub kind: BounceKind,
    /// The enhanced status code (`5.1.1`), or the provider's; may be empty.
    pub status_code: &'a str,
    /// The remote server's words, on one line; may be empty.
    pub diagnostic: &'a str,
    /// Where it came from: `mail`, `imap`, `ses`, `sendgrid`, `postmark`,
    /// `mailgun`.
    pub source: &'a str,
    /// When the report says it happened.
    pub reported_at: DateTime<FixedOffset>,
    /// The message or payload, as kept (see `bounces::evidence`).
    pub evidence: &'a [u8],
}

/// How many soft bounces make a bounce (`[bounces]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BouncePolicy {
    /// `bounces.soft_limit`: this many soft bounces...
    pub soft_limit: u32,
    /// `bounces.soft_days`: ...spread over at least this many days.
    pub soft_days: u32,
}

impl Default for BouncePolicy {
    fn default() -> BouncePolicy {
        BouncePolicy {
            soft_limit: 3,
            soft_days: 7,
        }
    }
}

/// Soft bounces older than this many days before the newest one are
/// forgotten: three delays a year apart say nothing about a mailbox today.
pub const SOFT_WINDOW_DAYS: i64 = 60;

impl BouncePolicy {
    /// The status a subscriber now `status` takes after a report of
    /// `kind`, `soft` holding the times of every soft bounce of theirs in
    /// the window before `reported` (this one included); `None`: no
    /// change.
    pub(crate) fn decide(
        self,
        status: SubscriberStatus,
        kind: BounceKind,
        soft: &[DateTime<FixedOffset>],
    ) -> Option<SubscriberStatus> {
        use SubscriberStatus::*;
        match kind {
            // A complaint outranks every other state: whoever reported the
            // digest as spam is never mailed again, and never brought back
            // by an import.
            BounceKind::Complaint => (status != Complained).then_some(Complained),
            // One who left stays as they chose; only a reader still
            // mailed (or waiting to confirm) becomes bounced.
            BounceKind::Hard => matches!(status, Active | Pending).then_some(Bounced),
            BounceKind::Soft => {
                if !matches!(status, Active | Pending) || soft.len() < self.soft_limit as usize {
                    return None;
                }
                let first = soft.iter().min()?;
                let last = soft.iter().max()?;
                (*last - *first >= Duration::days(i64::from(self.soft_days))).then_some(Bounced)
            }
            BounceKind::Unmatched => None,
        }
    }
}

/// What recording a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceRecorded {
    /// A new report; `became` is the subscriber's new status, if it
    /// changed.
    New {
        /// The row's id.
        id: i64,
        /// Their new status, when the report changed it.
        became: Option<SubscriberStatus>,
    },
    /// The same report was recorded before: nothing changed.
    Duplicate,
}

/// A recorded report, as `subscribers list --status bounced|complained`
/// shows it: everything but the evidence's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceEvent {
    /// Its id (`bounces show ID` prints the evidence).
    pub id: i64,
    /// The subscriber it is about.
    pub subscriber_id: Option<i64>,
    /// The issue the token named.
    pub issue_id: Option<i64>,
    /// What happened.
    pub kind: BounceKind,
    /// The status code.
    pub status_code: String,
    /// The remote server's words.
    pub diagnostic: String,
    /// Where it came from.
    pub source: String,
    /// When the report says it happened.
    pub reported_at: DateTime<FixedOffset>,
    /// When broadsheet took it.
    pub received_at: DateTime<FixedOffset>,
    /// How many bytes of evidence are kept.
    pub evidence_bytes: usize,
}

/// Bounce and complaint counts over some deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BounceCounts {
    /// Deliveries the relay accepted.
    pub sent: usize,
    /// Subscribers with a hard bounce.
    pub hard: usize,
    /// Subscribers with a soft bounce.
    pub soft: usize,
    /// Subscribers who complained.
    pub complaints: usize,
}

impl BounceCounts {
    /// `n` as a share of what was sent (0 when nothing was).
    pub fn rate(&self, n: usize) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            n as f64 / self.sent as f64
        }
    }
}

impl Store {
    /// Records a report, once, and applies what it does to its subscriber
    /// under `policy`, in one transaction.
    pub fn record_bounce(
        &mut self,
        report: &NewBounce<'_>,
        policy: BouncePolicy,
        now: DateTime<FixedOffset>,
    ) -> Result<BounceRecorded, StoreError> {
        on_backend_mut!(self, db => db.record_bounce(report, policy, now))
    }

    /// The reports about a subscriber, newest first.
    pub fn bounce_events(&self, subscriber_id: i64) -> Result<Vec<BounceEvent>, StoreError> {
        on_backend!(self, db => db.bounce_events(subscriber_id))
    }

    /// The evidence kept with report `id`.
    pub fn bounce_evidence(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        on_backend!(self, db => db.bounce_evidence(id))
    }

    /// Counts for issue `issue_id`: its deliveries sent, and the
    /// subscribers who bounced or complained about it.
    pub fn issue_bounce_counts(&self, issue_id: i64) -> Result<BounceCounts, StoreError> {
        on_backend!(self, db => db.issue_bounce_counts(issue_id))
    }

    /// Counts since `since`: deliveries sent since, and subscribers whose
    /// bounce or complaint was taken since (a report about an old issue
    /// that arrives now counts now).
    pub fn bounce_counts_since(
        &self,
        since: DateTime<FixedOffset>,
    ) -> Result<BounceCounts, StoreError> {
        on_backend!(self, db => db.bounce_counts_since(since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::every_store;
    use SubscriberStatus::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn soft_bounces_make_a_bounce_only_when_enough_are_spread_over_enough_days() {
        let p = BouncePolicy::default();
        let day = |d: u32| at(&format!("2026-06-{d:02}T08:00:00+08:00"));
        // Three in three days: not yet.
        assert_eq!(
            p.decide(Active, BounceKind::Soft, &[day(1), day(2), day(3)]),
            None
        );
        // Two over a week: not yet.
        assert_eq!(p.decide(Active, BounceKind::Soft, &[day(1), day(8)]), None);
        // Three over exactly seven days: bounced.
        assert_eq!(
            p.decide(Active, BounceKind::Soft, &[day(1), day(4), day(8)]),
            Some(Bounced)
        );
        // One who left is not made bounced.
        assert_eq!(
            p.decide(Unsubscribed, BounceKind::Soft, &[day(1), day(4), day(8)]),
            None
        );
    }

    #[test]
    fn a_complaint_outranks_every_status_and_a_hard_bounce_only_a_mailed_one() {
        let p = BouncePolicy::default();
        for s in [Active, Pending, Unsubscribed, Bounced] {
            assert_eq!(p.decide(s, BounceKind::Complaint, &[]), Some(Complained));
        }
        assert_eq!(p.decide(Complained, BounceKind::Complaint, &[]), None);
        assert_eq!(p.decide(Active, BounceKind::Hard, &[]), Some(Bounced));
        assert_eq!(p.decide(Pending, BounceKind::Hard, &[]), Some(Bounced));
        assert_eq!(p.decide(Unsubscribed, BounceKind::Hard, &[]), None);
        assert_eq!(p.decide(Complained, BounceKind::Hard, &[]), None);
        assert_eq!(p.decide(Active, BounceKind::Unmatched, &[]), None);
    }

    fn report<'a>(key: &'a str, id: Option<i64>, kind: BounceKind, when: &str) -> NewBounce<'a> {
        NewBounce {
            report_key: key,
            subscriber_id: id,
            email_key: "a@example.com",
            issue_id: Some(7),
            kind,
            status_code: "5.1.1",
            diagnostic: "550 5.1.1 user unknown",
            source: "mail",
            reported_at: at(when),
            evidence: b"From: MAILER-DAEMON\r\n\r\nbody",
        }
    }

    #[test]
    fn a_report_is_recorded_once_with_its_evidence_and_changes_its_subscriber() {
        every_store(|store| {
            let now = at("2026-06-10T08:00:00+08:00");
            let id = crate::store::testing::active_subscriber(store, "a@example.com");
            let other = crate::store::testing::active_subscriber(store, "b@example.com");
            let r = report(
                "k1",
                Some(id),
                BounceKind::Hard,
                "2026-06-09T08:00:00+08:00",
            );
            let first = store
                .record_bounce(&r, BouncePolicy::default(), now)
                .unwrap();
            let BounceRecorded::New { id: event, became } = first else {
                panic!("recorded: {first:?}")
            };
            assert_eq!(became, Some(Bounced));
            assert_eq!(
                store
                    .record_bounce(&r, BouncePolicy::default(), now)
                    .unwrap(),
                BounceRecorded::Duplicate
            );
            let events = store.bounce_events(id).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].kind, BounceKind::Hard);
            assert_eq!(events[0].status_code, "5.1.1");
            assert_eq!(events[0].issue_id, Some(7));
            assert_eq!(events[0].reported_at, at("2026-06-09T08:00:00+08:00"));
            assert_eq!(events[0].evidence_bytes, r.evidence.len());
            assert_eq!(
                store.bounce_evidence(event).unwrap().as_deref(),
                Some(r.evidence)
            );
            let status = |store: &Store, id| store.subscriber_by_id(id).unwrap().unwrap().status;
            assert_eq!(status(store, id), Bounced);
            assert_eq!(status(store, other), Active, "nobody else changed");
        });
    }

    #[test]
    fn soft_bounces_are_counted_across_reports_and_a_complaint_unsubscribes() {
        every_store(|store| {
            let now = at("2026-06-20T08:00:00+08:00");
            let id = crate::store::testing::active_subscriber(store, "a@example.com");
            let p = BouncePolicy::default();
            let status = |store: &Store| store.subscriber_by_id(id).unwrap().unwrap().status;
            for (key, day) in [("s1", "01"), ("s2", "04")] {
                let when = format!("2026-06-{day}T08:00:00+08:00");
                store
                    .record_bounce(&report(key, Some(id), BounceKind::Soft, &when), p, now)
                    .unwrap();
                assert_eq!(status(store), Active);
            }
            // A report long before the window does not count.
            store
                .record_bounce(
                    &report(
                        "old",
                        Some(id),
                        BounceKind::Soft,
                        "2026-01-01T08:00:00+08:00",
                    ),
                    p,
                    now,
                )
                .unwrap();
            assert_eq!(status(store), Active);
            let third = store
                .record_bounce(
                    &report(
                        "s3",
                        Some(id),
                        BounceKind::Soft,
                        "2026-06-08T08:00:00+08:00",
                    ),
                    p,
                    now,
                )
                .unwrap();
            assert!(matches!(
                third,
                BounceRecorded::New {
                    became: Some(Bounced),
                    ..
                }
            ));
            store
                .record_bounce(
                    &report(
                        "c",
                        Some(id),
                        BounceKind::Complaint,
                        "2026-06-09T08:00:00+08:00",
                    ),
                    p,
                    now,
                )
                .unwrap();
            assert_eq!(status(store), Complained);
            // An unmatched report names nobody and changes nothing.
            let unmatched = store
                .record_bounce(
                    &report(
                        "u",
                        None,
                        BounceKind::Unmatched,
                        "2026-06-09T08:00:00+08:00",
                    ),
                    p,
                    now,
                )
                .unwrap();
            assert!(matches!(
                unmatched,
                BounceRecorded::New { became: None, .. }
            ));
        });
    }

    #[test]
    fn rates_count_subscribers_over_what_was_sent() {
        every_store(|store| {
            let now = at("2026-06-10T08:00:00+08:00");
            let (issue, ids) = crate::store::testing::sent_issue(store, 4, now);
            let p = BouncePolicy::default();
            let mut r = report(
                "h",
                Some(ids[0]),
                BounceKind::Hard,
                "2026-06-10T09:00:00+08:00",
            );
            r.issue_id = Some(issue);
            store.record_bounce(&r, p, now).unwrap();
            let mut r = report(
                "c",
                Some(ids[1]),
                BounceKind::Complaint,
                "2026-06-10T09:00:00+08:00",
            );
            r.issue_id = Some(issue);
            store.record_bounce(&r, p, now).unwrap();
            // A second report for the same reader counts them once.
            let mut r = report(
                "c2",
                Some(ids[1]),
                BounceKind::Complaint,
                "2026-06-10T10:00:00+08:00",
            );
            r.issue_id = Some(issue);
            store.record_bounce(&r, p, now).unwrap();
            let counts = store.issue_bounce_counts(issue).unwrap();
            assert_eq!(
                counts,
                BounceCounts {
                    sent: 4,
                    hard: 1,
                    soft: 0,
                    complaints: 1
                }
            );
            assert_eq!(counts.rate(counts.complaints), 0.25);
            let since = store.bounce_counts_since(now - Duration::days(30)).unwrap();
            assert_eq!(since, counts);
            let later = store.bounce_counts_since(now + Duration::days(1)).unwrap();
            assert_eq!(later, BounceCounts::default());
        });
    }
}
