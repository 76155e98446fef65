//! Deliveries: one row per recipient of an issue, and the states it goes
//! through (see "A delivery's states" in docs/ARCHITECTURE.md):
//! `queued` → `sending` (committed before the attempt) → `sent`,
//! `deferred` (tried again), `failed` (three hard refusals in a row mark
//! the subscriber `bounced`) or, when the run dies before the outcome is
//! known, `unknown`, which only the operator queues again.

use super::{Backend, Store, StoreError, Subscriber};
use chrono::{DateTime, FixedOffset};

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

impl Store {
    /// Deliveries left `sending` by a run that died become `unknown`.
    /// Returns how many.
    pub fn mark_in_flight_unknown(
        &mut self,
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        match &mut self.backend {
            Backend::Sqlite(db) => db.mark_in_flight_unknown(now),
        }
    }

    /// Queues the `unknown` deliveries of every issue again (the operator
    /// accepts that some recipients may get a second copy). Returns how many.
    pub fn requeue_unknown(&mut self, now: DateTime<FixedOffset>) -> Result<usize, StoreError> {
        match &mut self.backend {
            Backend::Sqlite(db) => db.requeue_unknown(now),
        }
    }

    /// Deliveries of an issue still to be tried (queued or deferred), in
    /// a stable order.
    pub fn pending_deliveries(&self, issue_id: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.pending_deliveries(issue_id),
        }
    }

    /// Records `outcomes` and marks the deliveries `marks` as handed to
    /// the transport, in one transaction: the sender commits whatever its
    /// workers have asked for since the last commit at once, so on a
    /// durable connection ([`Store::make_durable`]) one sync covers a whole
    /// group. Returns, for each of `marks`, whether it was marked: false
    /// (and the delivery removed) when its subscriber is no longer active,
    /// since someone who unsubscribes while an issue is going out gets
    /// nothing more from it.
    ///
    /// A hard bounce counts against the subscriber, who is marked bounced
    /// after [`BOUNCE_LIMIT`] in a row, and a success clears the count.
    pub fn settle(
        &mut self,
        marks: &[i64],
        outcomes: &[Outcome],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<bool>, StoreError> {
        match &mut self.backend {
            Backend::Sqlite(db) => db.settle(marks, outcomes, now),
        }
    }

    /// Marks one delivery as handed to the transport; see [`Store::settle`].
    pub fn mark_sending(
        &mut self,
        id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .settle(&[id], &[], now)?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// Records outcomes in one transaction; see [`Store::settle`].
    pub fn record_outcomes(
        &mut self,
        outcomes: &[Outcome],
        now: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        self.settle(&[], outcomes, now).map(|_| ())
    }

    /// Closes an issue when none of its deliveries is left to try.
    pub fn finish_issue_if_complete(
        &mut self,
        issue_id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        match &mut self.backend {
            Backend::Sqlite(db) => db.finish_issue_if_complete(issue_id, now),
        }
    }

    /// Deliveries, in every issue, whose outcome is unknown.
    pub fn unknown_deliveries(&self) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.unknown_deliveries(),
        }
    }
}
