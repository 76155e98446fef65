//! The subscriber service's emails (confirmations, preferences links),
//! queued in the state until sent: the page that promised an email commits
//! it before answering, and the service's mailer sends from here, oldest
//! first, so neither a restart nor a slow relay at SIGTERM loses one.

use super::{Backend, Store, StoreError};
use chrono::{DateTime, FixedOffset};

/// An email to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServiceEmail {
    /// Who it is for (for the log).
    pub subscriber_id: i64,
    /// `confirm` or `manage`.
    pub kind: String,
    /// MAIL FROM.
    pub envelope_from: String,
    /// RCPT TO.
    pub envelope_to: String,
    /// The whole message.
    pub message: Vec<u8>,
    /// Its outbox file name.
    pub file_name: String,
    /// Unix seconds after which it is no use sending (its link expired).
    pub give_up_at: i64,
}

/// A queued email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEmail {
    /// Its row.
    pub id: i64,
    /// What was queued.
    pub email: NewServiceEmail,
    /// Attempts so far.
    pub attempts: i64,
}

/// Sent and failed emails are kept this long (for a look after a
/// complaint), then deleted: they hold addresses.
pub(crate) const KEEP_SECONDS: i64 = 7 * 86_400;

/// Email hits are kept no longer than this (longer than the longest
/// window, a day).
const HIT_KEEP_SECONDS: i64 = 2 * 86_400;

impl Store {
    /// Queues an email; returns its row.
    pub fn queue_service_email(
        &mut self,
        e: &NewServiceEmail,
        now: DateTime<FixedOffset>,
        unix_now: i64,
    ) -> Result<i64, StoreError> {
        on_backend_mut!(self, db => db.queue_service_email(e, now, unix_now))
    }

    /// Up to `limit` queued emails due at `unix_now`, oldest first.
    pub fn due_service_emails(
        &self,
        unix_now: i64,
        limit: usize,
    ) -> Result<Vec<ServiceEmail>, StoreError> {
        on_backend!(self, db => db.due_service_emails(unix_now, limit))
    }

    /// Queued emails, and the earliest time (Unix seconds) one of them is
    /// due, if any is queued.
    pub fn queued_service_emails(&self) -> Result<(usize, Option<i64>), StoreError> {
        on_backend!(self, db => db.queued_service_emails())
    }

    /// Records an attempt: `Some(true)` sent, `Some(false)` refused for
    /// good, `None` refused for now (tried again from `not_before`).
    /// Old sent and failed rows are deleted on the way.
    pub fn record_service_email(
        &mut self,
        id: i64,
        sent: Option<bool>,
        reply: &str,
        not_before: i64,
        now: DateTime<FixedOffset>,
        unix_now: i64,
    ) -> Result<(), StoreError> {
        on_backend_mut!(self, db => db.record_service_email(id, sent, reply, not_before, now, unix_now))
    }

    /// Counts one email for `key` at `unix_now` if fewer than `max` were
    /// counted for it in the `window_seconds` before; returns whether it
    /// was. In the state, so every `serve` sharing it holds the same count.
    pub fn count_email(
        &mut self,
        key: &str,
        unix_now: i64,
        window_seconds: i64,
        max: u32,
    ) -> Result<bool, StoreError> {
        // Now and then every key's old hits go too, not only this one's.
        let sweep_before = (unix_now % 64 == 0).then_some(unix_now - HIT_KEEP_SECONDS);
        on_backend_mut!(self, db => db.count_email(key, unix_now, window_seconds, max, sweep_before))
    }

    /// The work of [`Store::queue_service_email`] with nothing kept: the
    /// row is written and deleted in one transaction. A page that mails
    /// nobody (an unknown address) then costs what one that mails does,
    /// so its timing tells no one whether an address is known.
    pub fn queue_nothing(
        &mut self,
        e: &NewServiceEmail,
        now: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        on_backend_mut!(self, db => db.queue_nothing(e, now))
    }
}
