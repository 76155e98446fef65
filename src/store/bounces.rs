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
/// and `bounces list` show it: everything but the evidence's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceEvent {
    /// Its id (`bounces show ID` prints it whole, with the evidence).
    pub id: i64,
    /// The subscriber it is about.
    pub subscriber_id: Option<i64>,
    /// The address it is about, as recorded: the subscriber's, or the one
    /// an unmatched report named (empty when it named none).
    pub email: String,
    /// The status it gave its subscriber, when it changed theirs (none
    /// for the reports recorded before broadsheet kept this).
    pub became: Option<SubscriberStatus>,
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

/// What made a subscriber `bounced` or `complained`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkedBy {
    /// A report: the one that gave them their status (for reports
    /// recorded before broadsheet kept which did, the latest of the kind
    /// that does: a hard or soft bounce, or a complaint).
    Report(BounceEvent),
    /// The relay refused their deliveries while they were sent,
    /// [`super::BOUNCE_LIMIT`] in a row, and no later report says more:
    /// the last refusal.
    Refused {
        /// The issue of the last refused delivery.
        issue_id: i64,
        /// The relay's reply to it.
        reply: String,
        /// When it was refused.
        at: DateTime<FixedOffset>,
    },
}

/// A subscriber's last delivery the relay refused while sending (see
/// [`MarkedBy::Refused`]), as a backend reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Whose delivery it was.
    pub(crate) subscriber_id: i64,
    /// Of which issue.
    pub(crate) issue_id: i64,
    /// The relay's reply.
    pub(crate) reply: String,
    /// When.
    pub(crate) at: DateTime<FixedOffset>,
}

/// The reports kinds that make a subscriber `status`: the fallback for
/// reports recorded before each kept the status it gave.
pub(crate) fn deciding_kinds(status: SubscriberStatus) -> [&'static str; 2] {
    match status {
        SubscriberStatus::Complained => ["complaint", "complaint"],
        _ => ["hard", "soft"],
    }
}

/// One subscriber's reason, from the report that decided it (if any) and
/// their last refused delivery (if they were refused often enough to be
/// bounced by it): whichever came last.
pub(crate) fn marked_by(report: Option<BounceEvent>, refused: Option<Refusal>) -> Option<MarkedBy> {
    let as_reason = |r: Refusal| MarkedBy::Refused {
        issue_id: r.issue_id,
        reply: r.reply,
        at: r.at,
    };
    match (report, refused) {
        (Some(r), Some(f)) if f.at > r.received_at => Some(as_reason(f)),
        (Some(r), _) => Some(MarkedBy::Report(r)),
        (None, Some(f)) => Some(as_reason(f)),
        (None, None) => None,
    }
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

    /// Report `id`, when there is one.
    pub fn bounce_event(&self, id: i64) -> Result<Option<BounceEvent>, StoreError> {
        on_backend!(self, db => db.bounce_event(id))
    }

    /// The latest `limit` reports, newest first; with `email`, only those
    /// about that address (its subscriber's, or unmatched ones naming it).
    pub fn recent_bounce_events(
        &self,
        email: Option<&crate::address::Email>,
        limit: usize,
    ) -> Result<Vec<BounceEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_backend!(self, db => db.recent_bounce_events(email.map(|e| e.key()), limit))
    }

    /// Why each subscriber of `status` (`bounced` or `complained`; any
    /// other has none) has it, by subscriber id. A subscriber nothing
    /// recorded explains is left out.
    pub fn marked_by(
        &self,
        status: SubscriberStatus,
    ) -> Result<rustc_hash::FxHashMap<i64, MarkedBy>, StoreError> {
        use rustc_hash::FxHashMap;
        if !matches!(
            status,
            SubscriberStatus::Bounced | SubscriberStatus::Complained
        ) {
            return Ok(FxHashMap::default());
        }
        let mut reports: FxHashMap<i64, BounceEvent> = FxHashMap::default();
        for event in on_backend!(self, db => db.deciding_reports(status))? {
            if let Some(id) = event.subscriber_id {
                reports.insert(id, event);
            }
        }
        let mut refused = FxHashMap::default();
        if status == SubscriberStatus::Bounced {
            for r in on_backend!(self, db => db.last_refusals())? {
                refused.insert(r.subscriber_id, r);
            }
        }
        let ids: Vec<i64> = reports.keys().chain(refused.keys()).copied().collect();
        let mut out = FxHashMap::default();
        for id in ids {
            if let Some(why) = marked_by(reports.remove(&id), refused.remove(&id)) {
                out.insert(id, why);
            }
        }
        Ok(out)
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
    fn the_report_that_decided_a_status_is_the_one_given_for_it() {
        every_store(|store| {
            let now = at("2026-06-10T08:00:00+08:00");
            let gone = crate::store::testing::active_subscriber(store, "a@example.com");
            let angry = crate::store::testing::active_subscriber(store, "b@example.com");
            let p = BouncePolicy::default();
            let recorded = |store: &mut Store, r: &NewBounce<'_>| match store
                .record_bounce(r, p, now)
                .unwrap()
            {
                BounceRecorded::New { id, .. } => id,
                other => panic!("{other:?}"),
            };
            let hard = recorded(
                store,
                &report(
                    "h",
                    Some(gone),
                    BounceKind::Hard,
                    "2026-06-09T08:00:00+08:00",
                ),
            );
            // A later soft bounce about the same reader decides nothing:
            // they were bounced already.
            let mut soft = report(
                "s",
                Some(gone),
                BounceKind::Soft,
                "2026-06-09T09:00:00+08:00",
            );
            soft.status_code = "4.2.2";
            let soft = recorded(store, &soft);
            let mut complaint = report(
                "c",
                Some(angry),
                BounceKind::Complaint,
                "2026-06-09T10:00:00+08:00",
            );
            complaint.email_key = "b@example.com";
            complaint.status_code = "";
            complaint.diagnostic = "";
            complaint.source = "sendgrid";
            let complaint = recorded(store, &complaint);
            let mut unmatched = report(
                "u",
                None,
                BounceKind::Unmatched,
                "2026-06-09T11:00:00+08:00",
            );
            unmatched.email_key = "stranger@example.org";
            let unmatched = recorded(store, &unmatched);

            let bounced = store.marked_by(Bounced).unwrap();
            assert_eq!(bounced.len(), 1, "{bounced:?}");
            let Some(MarkedBy::Report(why)) = bounced.get(&gone) else {
                panic!("{bounced:?}")
            };
            assert_eq!(
                (why.id, why.kind, why.became, why.status_code.as_str()),
                (hard, BounceKind::Hard, Some(Bounced), "5.1.1")
            );
            assert_eq!(why.diagnostic, "550 5.1.1 user unknown");
            assert_eq!(why.source, "mail");
            assert_eq!(why.reported_at, at("2026-06-09T08:00:00+08:00"));
            assert_eq!(why.received_at, now);
            let complained = store.marked_by(Complained).unwrap();
            let Some(MarkedBy::Report(why)) = complained.get(&angry) else {
                panic!("{complained:?}")
            };
            assert_eq!(
                (why.id, why.kind, why.source.as_str()),
                (complaint, BounceKind::Complaint, "sendgrid")
            );
            assert!(store.marked_by(Active).unwrap().is_empty());

            // Each report, whole, by its id; the latest first.
            let shown = store.bounce_event(soft).unwrap().unwrap();
            assert_eq!((shown.became, shown.status_code.as_str()), (None, "4.2.2"));
            assert_eq!(shown.email, "a@example.com");
            assert_eq!(store.bounce_event(unmatched + 100).unwrap(), None);
            let ids = |events: Vec<BounceEvent>| events.iter().map(|e| e.id).collect::<Vec<_>>();
            assert_eq!(
                ids(store.recent_bounce_events(None, 10).unwrap()),
                [unmatched, complaint, soft, hard]
            );
            assert_eq!(
                ids(store.recent_bounce_events(None, 2).unwrap()),
                [unmatched, complaint]
            );
            let email = |a: &str| crate::address::Email::parse(a).unwrap();
            assert_eq!(
                ids(store
                    .recent_bounce_events(Some(&email("a@EXAMPLE.com")), 10)
                    .unwrap()),
                [soft, hard]
            );
            assert_eq!(
                ids(store
                    .recent_bounce_events(Some(&email("Stranger@example.org")), 10)
                    .unwrap()),
                [unmatched]
            );
        });
    }

    #[test]
    fn a_refusal_while_sending_explains_a_bounce_when_it_came_after_the_last_report() {
        let report_at = at("2026-06-09T08:00:00+08:00");
        let event = BounceEvent {
            id: 1,
            subscriber_id: Some(1),
            email: "a@example.com".into(),
            became: Some(Bounced),
            issue_id: Some(1),
            kind: BounceKind::Hard,
            status_code: "5.1.1".into(),
            diagnostic: String::new(),
            source: "mail".into(),
            reported_at: report_at,
            received_at: report_at,
            evidence_bytes: 0,
        };
        let refusal = |at| Refusal {
            subscriber_id: 1,
            issue_id: 3,
            reply: "550 5.1.1 no such user".to_owned(),
            at,
        };
        let later = report_at + Duration::days(7);
        assert_eq!(
            marked_by(Some(event.clone()), Some(refusal(later))),
            Some(MarkedBy::Refused {
                issue_id: 3,
                reply: "550 5.1.1 no such user".into(),
                at: later
            })
        );
        let earlier = report_at - Duration::days(7);
        assert_eq!(
            marked_by(Some(event.clone()), Some(refusal(earlier))),
            Some(MarkedBy::Report(event.clone()))
        );
        assert_eq!(marked_by(None, None), None);
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
