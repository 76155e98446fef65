//! Confirmation and preferences emails, once built (by `mail::message`,
//! as the digest's are), sent over the same transport (SMTP or the
//! outbox) from a queue in the state, so a slow relay never holds up a
//! page and a restart loses none. A refusal for now is tried again with
//! growing waits (`backoff::Backoff`) until the link in the email has
//! expired; one task sends, oldest first.

use crate::backoff::Backoff;
use crate::mail::{Outgoing, SendResult, Transport};
use crate::store::{NewServiceEmail, ServiceEmail, Store};
use chrono::{DateTime, FixedOffset};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many queued emails are read from the state at a time.
const BATCH: usize = 16;
/// The waits after a refusal for now: 2 s, doubled each attempt…
const RETRY: Backoff = Backoff::new(Duration::from_secs(2));
/// …up to this.
const LAST_RETRY: Duration = Duration::from_secs(300);
/// Longest sleep with nothing due, in case a wake-up was missed.
const IDLE_SECONDS: i64 = 60;

/// The system clock in Unix seconds, for the queue only: when to try an
/// email again, and when to give up on it, is real time, whatever `--now`
/// makes the pages believe (a fixed clock would never let a retry come
/// due). No byte of an email depends on it; those follow the service's
/// `Clock`.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The row to queue for a built message.
pub(crate) fn queued(m: &Outgoing, kind: &str, lifetime: chrono::Duration) -> NewServiceEmail {
    NewServiceEmail {
        subscriber_id: m.subscriber_id,
        kind: kind.to_owned(),
        envelope_from: m
            .envelope
            .from()
            .map(ToString::to_string)
            .unwrap_or_default(),
        envelope_to: m
            .envelope
            .to()
            .first()
            .map(ToString::to_string)
            .unwrap_or_default(),
        message: m.bytes.clone(),
        file_name: m.file_name.clone(),
        give_up_at: unix_now() + lifetime.num_seconds(),
    }
}

/// Queues `e` in the state; what was committed is sent even if the
/// process stops before its turn.
pub(crate) fn store_email(
    store: &mut Store,
    e: &NewServiceEmail,
    now: DateTime<FixedOffset>,
) -> Result<i64, crate::store::StoreError> {
    store.queue_service_email(e, now, unix_now())
}

/// Wakes the task that sends queued emails.
#[derive(Clone)]
pub(crate) struct Mailer {
    wake: Arc<tokio::sync::Notify>,
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

/// The task that sends, and the state it sends from.
pub(crate) struct MailerTask {
    handle: tokio::task::JoinHandle<()>,
    store: Arc<Mutex<Store>>,
}

type Shared = Arc<Mutex<Store>>;

async fn blocking<T: Send + 'static>(
    store: &Shared,
    f: impl FnOnce(&mut Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, String> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || {
        let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    })
    .await
    {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("a database task failed: {e}")),
    }
}

impl Mailer {
    /// Starts the task that sends what the state holds queued, oldest
    /// first: first what an earlier process left, then each email as it
    /// is queued. `store` is a writing connection of its own.
    pub(crate) fn start(
        transport: Transport,
        store: Store,
        clock: super::Clock,
    ) -> (Mailer, MailerTask) {
        let wake = Arc::new(tokio::sync::Notify::new());
        let (closing, mut closed) = tokio::sync::watch::channel(false);
        let store: Shared = Arc::new(Mutex::new(store));
        let task_store = store.clone();
        let woken = wake.clone();
        let handle = tokio::spawn(async move {
            let store = task_store;
            loop {
                let batch = blocking(&store, |s| s.due_service_emails(unix_now(), BATCH)).await;
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!("cannot read the email queue: {e}");
                        if *closed.borrow() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        continue;
                    }
                };
                if batch.is_empty() {
                    if *closed.borrow() {
                        return;
                    }
                    let next = blocking(&store, |s| s.queued_service_emails())
                        .await
                        .ok()
                        .and_then(|(_, next)| next);
                    let wait =
                        next.map_or(IDLE_SECONDS, |t| (t - unix_now()).clamp(1, IDLE_SECONDS));
                    tokio::select! {
                        () = woken.notified() => {}
                        // Closed, or every Mailer gone without closing
                        // (the service is ending): what is left stays
                        // queued for the next start.
                        changed = closed.changed() => if changed.is_err() { return; },
                        () = tokio::time::sleep(Duration::from_secs(wait as u64)) => {}
                    }
                    continue;
                }
                for e in batch {
                    let (id, outcome, reply, not_before) = attempt(&transport, &e).await;
                    let now = clock.now();
                    let recorded = blocking(&store, move |s| {
                        s.record_service_email(id, outcome, &reply, not_before, now, unix_now())
                    })
                    .await;
                    if let Err(err) = recorded {
                        tracing::error!(email = id, "cannot record an email's outcome: {err}");
                    }
                }
            }
        });
        (
            Mailer {
                wake,
                closing: Arc::new(closing),
            },
            MailerTask { handle, store },
        )
    }

    /// Tells the task an email was queued.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops waiting for new emails: the task sends what is due, then ends.
    pub(crate) fn close(&self) {
        let _ = self.closing.send(true);
    }
}

impl MailerTask {
    /// Waits up to `deadline` for the task to send what is due, then stops
    /// it; returns how many emails stay queued (sent when the service next
    /// starts).
    pub(crate) async fn drain(self, deadline: Duration) -> usize {
        let mut handle = self.handle;
        if tokio::time::timeout(deadline, &mut handle).await.is_err() {
            // An email cut off mid-send stays queued: sent again at the
            // next start, which may mean twice, never none.
            handle.abort();
            let _ = handle.await;
        }
        match blocking(&self.store, |s| s.queued_service_emails()).await {
            Ok((n, _)) => n,
            Err(e) => {
                tracing::error!("cannot count the emails left queued: {e}");
                0
            }
        }
    }
}

/// One attempt at `e`: its row, the outcome to record (`Some(true)` sent,
/// `Some(false)` given up), the reply, and when to try again.
async fn attempt(transport: &Transport, e: &ServiceEmail) -> (i64, Option<bool>, String, i64) {
    let subscriber = e.email.subscriber_id;
    let outgoing = (|| {
        let from = lettre::Address::from_str(&e.email.envelope_from).ok();
        let to = lettre::Address::from_str(&e.email.envelope_to).ok()?;
        let envelope = lettre::address::Envelope::new(from, vec![to]).ok()?;
        Some(Outgoing {
            delivery_id: 0,
            subscriber_id: subscriber,
            envelope,
            bytes: e.email.message.clone(),
            file_name: e.email.file_name.clone(),
        })
    })();
    let Some(m) = outgoing else {
        tracing::error!(
            subscriber,
            email = e.id,
            "a queued email has no usable envelope; not sent"
        );
        return (e.id, Some(false), "no usable envelope".into(), unix_now());
    };
    let now = unix_now();
    match transport.send(0, &m).await {
        SendResult::Sent(_) => {
            tracing::info!(subscriber, file = %m.file_name, "email sent");
            (e.id, Some(true), String::new(), now)
        }
        SendResult::Permanent { reply, .. } => {
            tracing::error!(
                subscriber,
                reply = reply_code(&reply),
                "email refused for good; not sent"
            );
            (e.id, Some(false), reply_code(&reply), now)
        }
        SendResult::Unknown(reply) => {
            // The relay may have it: a second copy would be worse than
            // none, and the reader can ask again.
            tracing::warn!(
                subscriber,
                reply = reply_code(&reply),
                "email outcome unknown; not sent again"
            );
            (
                e.id,
                Some(false),
                format!("outcome unknown: {}", reply_code(&reply)),
                now,
            )
        }
        SendResult::Transient(reply)
        | SendResult::Unreachable(reply)
        | SendResult::Fatal(reply) => {
            if now >= e.email.give_up_at {
                tracing::error!(
                    subscriber,
                    reply = reply_code(&reply),
                    attempts = e.attempts + 1,
                    "email still refused when its link expired; not sent"
                );
                return (e.id, Some(false), reply_code(&reply), now);
            }
            let wait = retry_wait(e.attempts, e.id);
            tracing::warn!(
                subscriber,
                reply = reply_code(&reply),
                retry_in_s = wait,
                "email refused for now; it stays queued"
            );
            (e.id, None, reply_code(&reply), now + wait)
        }
    }
}

/// How many seconds to wait before trying again email `id`, refused for
/// now on each of its `attempts` so far.
fn retry_wait(attempts: i64, id: i64) -> i64 {
    // Sixteen doublings are far past the last wait: no need to count on.
    let attempt = attempts.clamp(0, 16) as u32;
    RETRY.delay(attempt, id as u64).min(LAST_RETRY).as_secs() as i64
}

/// The start of a server's reply, for the log: relays often repeat the
/// address in the rest, and the log never shows an address.
fn reply_code(reply: &str) -> String {
    reply
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(12)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_email_waits_from_two_seconds_doubling_up_to_five_minutes() {
        let waits: Vec<i64> = (0..10).map(|a| retry_wait(a, 7)).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(retry_wait(i64::MAX, 7), 300);
        assert_eq!(retry_wait(-1, 7), 2);
    }
}
