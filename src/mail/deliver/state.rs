//! The one thread that writes the sender's state. SQLite's calls block,
//! so they stay off the async workers: a worker asks for a mark and waits
//! on its answer, and hands outcomes over without waiting at all.

use super::DeliveryError;
use crate::store::{Claimer, DeliveryStatus, Outcome, Store};
use chrono::{DateTime, FixedOffset};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Outcomes are committed in batches of at least this many…
const OUTCOME_BATCH: usize = 256;
/// …or at least this often (marks are committed at once, taking any
/// waiting outcomes along).
const OUTCOME_FLUSH: Duration = Duration::from_millis(100);

/// The answer to a mark: whether the delivery was marked (false: its
/// reader is no longer subscribed), or `None` when it could not be
/// written (the writer has the error).
pub(super) type MarkAnswer = tokio::sync::oneshot::Sender<Option<bool>>;

/// What the sender's workers ask of the state-writing thread.
pub(super) enum StateStep {
    /// Mark a delivery `sending`, durably, before its attempt.
    Mark(i64, MarkAnswer),
    /// Record how an attempt ended.
    Outcome(Outcome),
}

/// Counts of the outcomes recorded.
#[derive(Debug, Default, Clone)]
pub(super) struct Tally {
    pub(super) sent: usize,
    pub(super) deferred: usize,
    pub(super) failed: usize,
    pub(super) unknown: usize,
    pub(super) last_deferral: Option<String>,
}

/// A relay's reply with anything that looks like an address taken out:
/// relays often repeat the recipient, and broadsheet's output never shows
/// one.
fn without_addresses(reply: &str) -> String {
    reply
        .split_whitespace()
        .map(|w| if w.contains('@') { "<address>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Commits whatever the workers asked for since its last commit in one
/// transaction: marks must be durable before their attempts, and a sync
/// per group rather than per message keeps that cheap (a group commit).
/// Outcomes ride along, or go on their own once [`OUTCOME_BATCH`] are
/// waiting or [`OUTCOME_FLUSH`] has passed. Runs until every sender of
/// `steps` is gone.
pub(super) fn write_state(
    store: &Mutex<Store>,
    claimer: &Claimer,
    steps: Receiver<StateStep>,
    now: DateTime<FixedOffset>,
    progress: &indicatif::ProgressBar,
) -> (Tally, Result<(), DeliveryError>) {
    let mut tally = Tally::default();
    let mut result: Result<(), DeliveryError> = Ok(());
    let mut marks: Vec<(i64, MarkAnswer)> = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut oldest_outcome: Option<Instant> = None;
    let mut open = true;
    while open || !marks.is_empty() || !outcomes.is_empty() {
        if open && marks.is_empty() {
            let wait =
                oldest_outcome.map_or(OUTCOME_FLUSH, |t| OUTCOME_FLUSH.saturating_sub(t.elapsed()));
            match steps.recv_timeout(wait) {
                Ok(step) => take(step, &mut marks, &mut outcomes, &mut oldest_outcome),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        // Everything else already asked for joins this commit.
        while marks.len() + outcomes.len() < 4 * OUTCOME_BATCH {
            match steps.try_recv() {
                Ok(step) => take(step, &mut marks, &mut outcomes, &mut oldest_outcome),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let due = !marks.is_empty()
            || outcomes.len() >= OUTCOME_BATCH
            || !open
            || oldest_outcome.is_some_and(|t| t.elapsed() >= OUTCOME_FLUSH);
        if !due || (marks.is_empty() && outcomes.is_empty()) {
            continue;
        }
        let ids: Vec<i64> = marks.iter().map(|(id, _)| *id).collect();
        // After a failed write nothing more is marked: the run is
        // stopping, and what is not marked stays queued.
        let settled = match &result {
            Err(_) => None,
            Ok(()) => match store
                .lock()
                .expect("store lock")
                .settle(claimer, &ids, &outcomes, now)
            {
                Ok(marked) => Some(marked),
                Err(e) => {
                    result = Err(DeliveryError::Record(e));
                    None
                }
            },
        };
        match settled {
            Some(marked) => {
                for o in &outcomes {
                    match o.status {
                        DeliveryStatus::Sent => tally.sent += 1,
                        DeliveryStatus::Deferred => {
                            tally.deferred += 1;
                            tally.last_deferral = o.reply.as_deref().map(without_addresses);
                        }
                        DeliveryStatus::Unknown => tally.unknown += 1,
                        _ => tally.failed += 1,
                    }
                }
                progress.inc(outcomes.len() as u64);
                for ((_, answer), ok) in marks.drain(..).zip(marked) {
                    let _ = answer.send(Some(ok));
                }
            }
            None => {
                for (_, answer) in marks.drain(..) {
                    let _ = answer.send(None);
                }
            }
        }
        outcomes.clear();
        oldest_outcome = None;
    }
    (tally, result)
}

fn take(
    step: StateStep,
    marks: &mut Vec<(i64, MarkAnswer)>,
    outcomes: &mut Vec<Outcome>,
    oldest_outcome: &mut Option<Instant>,
) {
    match step {
        StateStep::Mark(id, answer) => marks.push((id, answer)),
        StateStep::Outcome(o) => {
            oldest_outcome.get_or_insert_with(Instant::now);
            outcomes.push(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_that_repeats_the_address_is_kept_without_it() {
        assert_eq!(
            without_addresses("452 4.2.2 <reader@example.com>: mailbox full"),
            "452 4.2.2 <address> mailbox full"
        );
    }
}
