//! Deliveries: one row per recipient of an issue, and the states it goes
//! through (see "A delivery's states" in docs/ARCHITECTURE.md):
//! `queued` → `sending` (committed before the attempt) → `sent`,
//! `deferred` (tried again), `failed` (three hard refusals in a row mark
//! the subscriber `bounced`) or, when the run dies before the outcome is
//! known, `unknown`, which only the operator queues again.

use super::{Backend, Store, StoreError, Subscriber};
use chrono::{DateTime, FixedOffset};
use std::time::Duration;

/// Permanent failures in a row after which a subscriber is marked bounced.
pub const BOUNCE_LIMIT: i64 = 3;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryStatus {
    /// Written with its issue; not tried yet.
    Queued,
    /// Handed to the transport; its outcome not recorded yet.
    Sending,
    /// Accepted by the server (or written to the outbox).
    Sent,
    /// Refused for now (4xx, a dropped connection, a timeout): tried again
    /// by the next run.
    Deferred,
    /// Refused for good (5xx).
    Failed,
    /// It was being sent when a run died: nobody knows whether it arrived.
    /// Sent again only when the operator asks (`--retry-unknown`).
    Unknown,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Deferred => "deferred",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Unknown => "unknown",
        }
    }
}

/// A delivery to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Its key.
    pub id: i64,
    /// The recipient.
    pub subscriber: Subscriber,
    /// The Message-ID it is sent with.
    pub message_id: String,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The delivery.
    pub delivery_id: i64,
    /// Its recipient.
    pub subscriber_id: i64,
    /// Sent, Deferred or Failed.
    pub status: DeliveryStatus,
    /// The server's reply or the error, for the operator.
    pub reply: Option<String>,
    /// Whether the failure was a permanent refusal of the address (counts
    /// toward marking the subscriber bounced).
    pub hard_bounce: bool,
}

/// A process sending deliveries: who it is, when it began, and how long
/// what it claims stays its own.
///
/// Leases run on the real clock (Unix milliseconds), not on `--now`: they
/// measure whether a process is still alive, which the schedule's clock
/// says nothing about. Hosts sharing a PostgreSQL state keep their clocks
/// in step (NTP); a lease of minutes makes seconds of drift harmless.
#[derive(Debug, Clone)]
pub struct Claimer {
    /// `host:pid:start`, recorded on every row it claims.
    pub id: String,
    /// This machine's name.
    pub host: String,
    /// This process.
    pub pid: u32,
    /// When this send began: a row it tried, or another sender tried
    /// since then, is not taken again in it (a deferral waits for the next
    /// run, as on one machine).
    pub started_ms: i64,
    /// How long a claim, or an attempt, keeps a row from other senders.
    pub lease: Duration,
    /// No other sender can be alive (SQLite, under the run lock): every
    /// claim and every attempt left by an earlier one is over.
    pub exclusive: bool,
}

impl Claimer {
    /// This process, starting a send now.
    pub fn new(lease: Duration, exclusive: bool) -> Claimer {
        let host = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .filter(|h| !h.is_empty() && !h.contains(':'))
            .unwrap_or_else(|| "localhost".into());
        let pid = std::process::id();
        let started_ms = Claimer::clock_ms();
        Claimer {
            id: format!("{host}:{pid}:{started_ms}"),
            host,
            pid,
            started_ms,
            lease,
            exclusive,
        }
    }

    /// The real clock, in Unix milliseconds.
    pub fn clock_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// When a lease taken now ends.
    pub fn lease_end(&self) -> i64 {
        Claimer::clock_ms() + self.lease.as_millis() as i64
    }

    /// Whether `claimed_by` names a process of this machine that is no
    /// longer running: its claims are over whatever their leases say.
    fn is_dead_here(&self, claimed_by: &str) -> bool {
        let mut parts = claimed_by.rsplitn(3, ':');
        let (Some(_start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        host == self.host
            && pid
                .parse::<u32>()
                .is_ok_and(|pid| pid != self.pid && !process_alive(pid))
    }
}

/// Whether process `pid` exists on this machine.
fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Without /proc nothing is known: the lease decides.
        let _ = pid;
        true
    }
}

impl Store {
    /// Ends the claims of senders that are gone: with
    /// [`Claimer::exclusive`], every claim; otherwise those of processes
    /// of this machine that no longer run. Then deliveries left `sending`
    /// by a sender that is gone (its lease over) become `unknown`, since
    /// nobody knows whether they arrived. Returns how many.
    pub fn mark_in_flight_unknown(
        &mut self,
        claimer: &Claimer,
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        let clock = Claimer::clock_ms();
        if claimer.exclusive {
            on_backend_mut!(self, db => db.end_claims(None))?;
        } else {
            let dead: Vec<String> = on_backend!(self, db => db.live_claimers(clock))?
                .into_iter()
                .filter(|c| claimer.is_dead_here(c))
                .collect();
            if !dead.is_empty() {
                on_backend_mut!(self, db => db.end_claims(Some(&dead)))?;
            }
        }
        on_backend_mut!(self, db => db.mark_in_flight_unknown(clock, now))
    }

    /// Queues the `unknown` deliveries of every issue again (the operator
    /// accepts that some recipients may get a second copy). Returns how many.
    pub fn requeue_unknown(&mut self, now: DateTime<FixedOffset>) -> Result<usize, StoreError> {
        on_backend_mut!(self, db => db.requeue_unknown(now))
    }

    /// Deliveries of an issue still to be tried (queued or deferred), in
    /// a stable order. Senders claim them instead
    /// ([`Store::claim_deliveries`]); tests look at them all.
    #[cfg(test)]
    pub(crate) fn pending_deliveries(&self, issue_id: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        on_backend!(self, db => db.pending_deliveries(issue_id))
    }

    /// How many deliveries of an issue are still to be tried.
    pub fn pending_count(&self, issue_id: i64) -> Result<usize, StoreError> {
        on_backend!(self, db => db.pending_count(issue_id))
    }

    /// Claims up to `limit` deliveries of an issue still to be tried, with
    /// ids above `after`, in id order: each is this sender's until its
    /// lease ends. Rows another sender holds are skipped (on PostgreSQL
    /// without waiting for them: `FOR UPDATE SKIP LOCKED`), as are rows
    /// this sender tried, or another tried since this send began.
    pub fn claim_deliveries(
        &mut self,
        issue_id: i64,
        claimer: &Claimer,
        after: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        on_backend_mut!(self, db => db.claim_deliveries(issue_id, claimer, after, limit))
    }

    /// Frees the deliveries of an issue this sender claimed and did not
    /// try (its run stopped early, or is over).
    pub fn release_claims(&mut self, issue_id: i64, claimer: &Claimer) -> Result<(), StoreError> {
        on_backend_mut!(self, db => db.release_claims(issue_id, &claimer.id))
    }

    /// When the earliest lease of another sender on a delivery of this
    /// issue still to be tried ends (Unix milliseconds), if any is held:
    /// a sender with nothing left to claim waits for it, then takes what
    /// a sender that died had claimed.
    pub fn others_claims(
        &self,
        issue_id: i64,
        claimer: &Claimer,
    ) -> Result<Option<i64>, StoreError> {
        on_backend!(self, db => db.others_claims(issue_id, &claimer.id, Claimer::clock_ms()))
    }

    /// Records `outcomes` and marks the deliveries `marks` as handed to
    /// the transport, in one transaction: the sender commits whatever its
    /// workers have asked for since the last commit at once, so on a
    /// durable connection ([`Store::make_durable`]) one sync covers a whole
    /// group. Returns, for each of `marks`, whether it was marked: false
    /// when its subscriber is no longer active (the delivery is removed,
    /// since someone who unsubscribes while an issue is going out gets
    /// nothing more from it), or when the claim was lost (its lease ended
    /// and another sender took it).
    ///
    /// A hard bounce counts against the subscriber, who is marked bounced
    /// after [`BOUNCE_LIMIT`] in a row, and a success clears the count.
    pub fn settle(
        &mut self,
        claimer: &Claimer,
        marks: &[i64],
        outcomes: &[Outcome],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<bool>, StoreError> {
        on_backend_mut!(self, db => db.settle(claimer, marks, outcomes, now))
    }

    /// Marks one delivery as handed to the transport; see [`Store::settle`].
    pub fn mark_sending(
        &mut self,
        claimer: &Claimer,
        id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .settle(claimer, &[id], &[], now)?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// Records outcomes in one transaction; see [`Store::settle`].
    pub fn record_outcomes(
        &mut self,
        claimer: &Claimer,
        outcomes: &[Outcome],
        now: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        self.settle(claimer, &[], outcomes, now).map(|_| ())
    }

    /// Closes an issue when none of its deliveries is left to try.
    pub fn finish_issue_if_complete(
        &mut self,
        issue_id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        on_backend_mut!(self, db => db.finish_issue_if_complete(issue_id, now))
    }

    /// Deliveries, in every issue, whose outcome is unknown.
    pub fn unknown_deliveries(&self) -> Result<usize, StoreError> {
        on_backend!(self, db => db.unknown_deliveries())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Email;
    use crate::store::testing::{fresh_stores, Fresh};
    use crate::store::{NewIssue, NewSubscriber, SubscriberStatus};
    use chrono::Duration;

    fn now() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-06-08T07:00:00+08:00").unwrap()
    }

    /// The sender of these tests: one run, with the state to itself.
    fn claimer() -> Claimer {
        Claimer {
            id: "test:1:0".into(),
            host: "test".into(),
            pid: 1,
            started_ms: i64::MAX,
            lease: Duration::minutes(5).to_std().unwrap(),
            exclusive: true,
        }
    }

    /// A fresh state of the backend `fresh`, with one active subscriber
    /// per address; their ids in the same order.
    fn state(fresh: &Fresh, addresses: &[&str]) -> (Store, Vec<i64>) {
        let mut store = fresh.open();
        let ids = addresses
            .iter()
            .map(|a| {
                let email = Email::parse(a).unwrap();
                let new = NewSubscriber {
                    email: email.clone(),
                    name: String::new(),
                    columns: Vec::new(),
                };
                store.add_subscriber(&new, now(), false).unwrap();
                store.subscriber(&email).unwrap().unwrap().id
            })
            .collect();
        (store, ids)
    }

    /// Writes the issue of week `week` for `recipients`; returns its id.
    fn issue(store: &mut Store, week: i64, recipients: &[i64]) -> i64 {
        store
            .create_issue(
                &NewIssue {
                    label: &format!("2026-W{week}"),
                    cutoff: now() + Duration::weeks(week),
                    articles: &[],
                    recipients: &|s| {
                        recipients
                            .contains(&s.id)
                            .then(|| format!("<{week}.{}@example.com>", s.id))
                    },
                    corrections: &[],
                },
                now(),
            )
            .unwrap()
            .id
    }

    /// How the newest issue's deliveries stand: the statuses held by any.
    fn standing(store: &Store) -> Vec<(&'static str, usize)> {
        let counts = store.latest_issue_counts().unwrap().unwrap();
        counts
            .deliveries
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The delivery of `issue_id` to subscriber `to`, if it is still to be tried.
    fn pending_to(store: &mut Store, issue_id: i64, to: i64) -> Option<DeliveryRow> {
        // Claimed, as a sender claims what it sends.
        store
            .claim_deliveries(issue_id, &claimer(), 0, 10_000)
            .unwrap();
        store
            .pending_deliveries(issue_id)
            .unwrap()
            .into_iter()
            .find(|d| d.subscriber.id == to)
    }

    fn outcome(d: &DeliveryRow, status: DeliveryStatus, reply: &str) -> Outcome {
        Outcome {
            delivery_id: d.id,
            subscriber_id: d.subscriber.id,
            status,
            reply: Some(reply.into()),
            hard_bounce: reply.starts_with("550"),
        }
    }

    fn status_of(store: &Store, address: &str) -> SubscriberStatus {
        let email = Email::parse(address).unwrap();
        store.subscriber(&email).unwrap().unwrap().status
    }

    #[test]
    fn a_queued_delivery_is_marked_sending_then_sent_and_closes_its_issue() {
        for fresh in fresh_stores() {
            let (mut store, ids) = state(&fresh, &["a@example.com"]);
            let id = issue(&mut store, 1, &ids);
            assert_eq!(standing(&store), [("queued", 1)]);
            let d = pending_to(&mut store, id, ids[0]).expect("queued is pending");
            assert_eq!(d.message_id, format!("<1.{}@example.com>", ids[0]));

            assert!(store.mark_sending(&claimer(), d.id, now()).unwrap());
            assert_eq!(standing(&store), [("sending", 1)]);
            assert!(store.pending_deliveries(id).unwrap().is_empty());
            assert!(!store.finish_issue_if_complete(id, now()).unwrap());

            store
                .record_outcomes(
                    &claimer(),
                    &[outcome(&d, DeliveryStatus::Sent, "250 ok")],
                    now(),
                )
                .unwrap();
            assert_eq!(standing(&store), [("sent", 1)]);
            assert!(store.finish_issue_if_complete(id, now()).unwrap());
            assert!(store.unfinished_issues().unwrap().is_empty());
            assert!(store.latest_issue().unwrap().unwrap().done);
            assert!(
                !store.finish_issue_if_complete(id, now()).unwrap(),
                "closed once"
            );
        }
    }

    #[test]
    fn a_deferred_delivery_is_tried_again_by_the_next_run() {
        for fresh in fresh_stores() {
            let (mut store, ids) = state(&fresh, &["a@example.com"]);
            let id = issue(&mut store, 1, &ids);
            let d = pending_to(&mut store, id, ids[0]).unwrap();
            assert!(store.mark_sending(&claimer(), d.id, now()).unwrap());
            store
                .record_outcomes(
                    &claimer(),
                    &[outcome(&d, DeliveryStatus::Deferred, "451 try later")],
                    now(),
                )
                .unwrap();
            assert_eq!(standing(&store), [("deferred", 1)]);
            assert!(!store.finish_issue_if_complete(id, now()).unwrap());
            assert_eq!(store.unfinished_issues().unwrap()[0].id, id);
            assert_eq!(store.deferred_since(now() + Duration::hours(1)).unwrap(), 1);

            let again = pending_to(&mut store, id, ids[0]).expect("deferred is pending");
            assert_eq!(again.id, d.id);
            assert!(store.mark_sending(&claimer(), again.id, now()).unwrap());
            store
                .record_outcomes(
                    &claimer(),
                    &[outcome(&again, DeliveryStatus::Sent, "250 ok")],
                    now(),
                )
                .unwrap();
            assert_eq!(standing(&store), [("sent", 1)]);
            assert!(store.finish_issue_if_complete(id, now()).unwrap());
        }
    }

    #[test]
    fn hard_refusals_in_a_row_mark_the_subscriber_bounced() {
        for fresh in fresh_stores() {
            let (mut store, ids) = state(&fresh, &["a@example.com"]);
            for week in 1..=BOUNCE_LIMIT {
                assert_eq!(status_of(&store, "a@example.com"), SubscriberStatus::Active);
                let id = issue(&mut store, week, &ids);
                let d = pending_to(&mut store, id, ids[0]).unwrap();
                assert!(store.mark_sending(&claimer(), d.id, now()).unwrap());
                store
                    .record_outcomes(
                        &claimer(),
                        &[outcome(&d, DeliveryStatus::Failed, "550 no such user")],
                        now(),
                    )
                    .unwrap();
                assert_eq!(standing(&store), [("failed", 1)]);
                assert!(store.finish_issue_if_complete(id, now()).unwrap());
            }
            assert_eq!(
                status_of(&store, "a@example.com"),
                SubscriberStatus::Bounced
            );
            // The last refusal is why, as `subscribers list` says.
            let why = store.marked_by(SubscriberStatus::Bounced).unwrap();
            assert!(
                matches!(
                    why.get(&ids[0]),
                    Some(crate::store::bounces::MarkedBy::Refused { issue_id, reply, .. })
                        if *issue_id == BOUNCE_LIMIT && reply == "550 no such user"
                ),
                "{}: {why:?}",
                fresh.backend
            );
            // Nothing more is sent to them: an issue is not theirs, and
            // with no one else it is done as it is written.
            let id = issue(&mut store, BOUNCE_LIMIT + 1, &ids);
            assert!(store.pending_deliveries(id).unwrap().is_empty());
            assert!(store.unfinished_issues().unwrap().is_empty());
        }
    }

    #[test]
    fn a_delivery_that_arrives_clears_the_count_of_refusals() {
        for fresh in fresh_stores() {
            let (mut store, ids) = state(&fresh, &["a@example.com"]);
            let replies = ["550 no such user", "550 no such user", "250 ok"]
                .into_iter()
                .chain(std::iter::repeat_n(
                    "550 no such user",
                    BOUNCE_LIMIT as usize - 1,
                ));
            for (week, reply) in (1..).zip(replies) {
                let id = issue(&mut store, week, &ids);
                let d = pending_to(&mut store, id, ids[0]).unwrap();
                assert!(store.mark_sending(&claimer(), d.id, now()).unwrap());
                let status = if reply.starts_with('2') {
                    DeliveryStatus::Sent
                } else {
                    DeliveryStatus::Failed
                };
                store
                    .record_outcomes(&claimer(), &[outcome(&d, status, reply)], now())
                    .unwrap();
            }
            assert_eq!(status_of(&store, "a@example.com"), SubscriberStatus::Active);
        }
    }

    #[test]
    fn a_delivery_in_flight_when_the_run_died_is_unknown_until_the_operator_queues_it_again() {
        for fresh in fresh_stores() {
            let (mut store, ids) = state(&fresh, &["a@example.com"]);
            let id = issue(&mut store, 1, &ids);
            let d = pending_to(&mut store, id, ids[0]).unwrap();
            assert!(store.mark_sending(&claimer(), d.id, now()).unwrap());
            // The run is killed between the mark and the outcome: its
            // connection is never closed, and no outcome is recorded.
            std::mem::forget(store);

            let mut store = fresh.open();
            assert_eq!(standing(&store), [("sending", 1)]);
            assert_eq!(store.mark_in_flight_unknown(&claimer(), now()).unwrap(), 1);
            assert_eq!(standing(&store), [("unknown", 1)]);
            assert_eq!(store.unknown_deliveries().unwrap(), 1);
            assert!(store.pending_deliveries(id).unwrap().is_empty());
            // Nobody knows whether it arrived, so nothing is left to try.
            assert!(store.finish_issue_if_complete(id, now()).unwrap());

            // Later runs leave it as it is.
            for _ in 0..2 {
                let mut store = fresh.open();
                assert_eq!(store.mark_in_flight_unknown(&claimer(), now()).unwrap(), 0);
                assert!(store.unfinished_issues().unwrap().is_empty());
                assert!(store.pending_deliveries(id).unwrap().is_empty());
            }

            assert_eq!(store.requeue_unknown(now()).unwrap(), 1);
            assert_eq!(standing(&store), [("queued", 1)]);
            assert_eq!(store.unknown_deliveries().unwrap(), 0);
            assert_eq!(store.unfinished_issues().unwrap()[0].id, id);
            assert_eq!(pending_to(&mut store, id, ids[0]).unwrap().id, d.id);
        }
    }

    #[test]
    fn an_issue_is_finished_only_when_every_delivery_is_final() {
        for fresh in fresh_stores() {
            let (mut store, ids) =
                state(&fresh, &["a@example.com", "b@example.com", "c@example.com"]);
            let id = issue(&mut store, 1, &ids);
            let [a, b, c] = [0, 1, 2].map(|i| pending_to(&mut store, id, ids[i]).unwrap());

            assert!(store.mark_sending(&claimer(), a.id, now()).unwrap());
            assert!(
                !store.finish_issue_if_complete(id, now()).unwrap(),
                "sending"
            );
            store
                .record_outcomes(
                    &claimer(),
                    &[outcome(&a, DeliveryStatus::Sent, "250 ok")],
                    now(),
                )
                .unwrap();
            assert!(
                !store.finish_issue_if_complete(id, now()).unwrap(),
                "queued"
            );

            assert!(store.mark_sending(&claimer(), b.id, now()).unwrap());
            store
                .record_outcomes(
                    &claimer(),
                    &[outcome(&b, DeliveryStatus::Deferred, "421 busy")],
                    now(),
                )
                .unwrap();
            assert!(
                !store.finish_issue_if_complete(id, now()).unwrap(),
                "deferred"
            );
            assert!(store.mark_sending(&claimer(), b.id, now()).unwrap());
            store
                .record_outcomes(
                    &claimer(),
                    &[outcome(&b, DeliveryStatus::Failed, "554 refused")],
                    now(),
                )
                .unwrap();
            assert!(
                !store.finish_issue_if_complete(id, now()).unwrap(),
                "c queued"
            );

            // One transaction: c's mark and nothing else, then its outcome.
            assert_eq!(
                store.settle(&claimer(), &[c.id], &[], now()).unwrap(),
                [true]
            );
            store
                .settle(
                    &claimer(),
                    &[],
                    &[outcome(&c, DeliveryStatus::Sent, "250 ok")],
                    now(),
                )
                .unwrap();
            assert_eq!(standing(&store), [("failed", 1), ("sent", 2)]);
            assert!(store.finish_issue_if_complete(id, now()).unwrap());
        }
    }

    #[test]
    fn a_reader_who_leaves_while_an_issue_goes_out_gets_nothing_more_from_it() {
        for fresh in fresh_stores() {
            let (mut store, ids) = state(&fresh, &["a@example.com", "b@example.com"]);
            let id = issue(&mut store, 1, &ids);
            let [a, b] = [0, 1].map(|i| pending_to(&mut store, id, ids[i]).unwrap());
            assert!(store.unsubscribe(ids[1], now()).unwrap());
            assert_eq!(
                store.settle(&claimer(), &[a.id, b.id], &[], now()).unwrap(),
                [true, false]
            );
            // b's row is gone, so it cannot come back should b return.
            assert_eq!(standing(&store), [("sending", 1)]);
            store
                .record_outcomes(
                    &claimer(),
                    &[outcome(&a, DeliveryStatus::Sent, "250 ok")],
                    now(),
                )
                .unwrap();
            assert!(store.finish_issue_if_complete(id, now()).unwrap());
        }
    }
}
