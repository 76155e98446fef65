//! Confirmation and preferences emails: built like the digest's messages and
//! sent over the same transport (SMTP or the outbox), from a queue in the
//! state, so a slow relay never holds up a page and a restart loses none.
//! A refusal for now is tried again with growing waits until the link in
//! the email has expired; one task sends, oldest first.

use crate::address::Email;
use crate::digest::message::Sender;
use crate::mail::{Outgoing, SendResult, Transport};
use crate::store::{NewServiceEmail, ServiceEmail, Store};
use chrono::{DateTime, FixedOffset};
use lettre::message::header::{ContentTransferEncoding, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One email to one address.
pub struct Notice<'a> {
    /// The subscriber it is about (for the logs: never the address).
    pub subscriber_id: i64,
    /// The recipient. No display name: the one typed into the form is not
    /// echoed anywhere, so the form cannot carry a spammer's text.
    pub to: &'a Email,
    /// Subject.
    pub subject: &'a str,
    /// The text part.
    pub text: &'a str,
    /// The HTML part.
    pub html: &'a str,
    /// The Date header.
    pub date: DateTime<FixedOffset>,
    /// What the email is, for its Message-ID: `confirm` or `manage`.
    pub kind: &'a str,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Builds the message.
pub fn build(sender: &Sender, n: &Notice<'_>) -> Result<Outgoing, String> {
    let address = lettre::Address::from_str(n.to.as_str()).map_err(|e| e.to_string())?;
    let domain = sender.from.email.domain().to_owned();
    // Neither the subscriber's number (it would tell the list's size) nor
    // anything but the time, the process and a count: unique across
    // restarts, which the outbox's file names depend on.
    let message_id = format!(
        "<broadsheet.{}.{}.{}.{}@{domain}>",
        n.kind,
        n.date.timestamp(),
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let base64 = |s: &str| {
        Body::new_with_encoding(s.to_owned(), ContentTransferEncoding::Base64)
            .expect("base64 can carry any body")
    };
    let mut b = Message::builder()
        .from(sender.from.clone())
        .to(Mailbox::new(None, address.clone()))
        .subject(n.subject)
        .date(std::time::SystemTime::from(n.date))
        .message_id(Some(message_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ));
    if let Some(r) = &sender.reply_to {
        b = b.reply_to(r.clone());
    }
    let mut message = b
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(base64(n.text)))
                .singlepart(SinglePart::html(base64(n.html))),
        )
        .map_err(|e| e.to_string())?;
    if let Some(dkim) = &sender.dkim {
        lettre::message::dkim::dkim_sign(&mut message, dkim);
    }
    let envelope = message.envelope().clone();
    let file_name = crate::mail::outbox_file_name(&message_id);
    Ok(Outgoing {
        delivery_id: 0,
        subscriber_id: n.subscriber_id,
        envelope,
        bytes: message.formatted(),
        file_name,
    })
}

/// How many queued emails are read from the state at a time.
const BATCH: usize = 16;
/// The first wait after a refusal for now; doubled each attempt…
const FIRST_RETRY_SECONDS: i64 = 2;
/// …up to this.
const LAST_RETRY_SECONDS: i64 = 300;
/// Longest sleep with nothing due, in case a wake-up was missed.
const IDLE_SECONDS: i64 = 60;

/// The system clock in Unix seconds: when to try an email again is real
/// time, whatever `--now` makes the pages believe.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The row to queue for a built message.
pub fn queued(m: &Outgoing, kind: &str, lifetime: chrono::Duration) -> NewServiceEmail {
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
pub fn store_email(
    store: &mut Store,
    e: &NewServiceEmail,
    now: DateTime<FixedOffset>,
) -> Result<i64, crate::store::StoreError> {
    store.queue_service_email(e, now, unix_now())
}

/// Wakes the task that sends queued emails.
#[derive(Clone)]
pub struct Mailer {
    wake: Arc<tokio::sync::Notify>,
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

/// The task that sends, and the state it sends from.
pub struct MailerTask {
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
    pub fn start(transport: Transport, store: Store, clock: super::Clock) -> (Mailer, MailerTask) {
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
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops waiting for new emails: the task sends what is due, then ends.
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }
}

impl MailerTask {
    /// Waits up to `deadline` for the task to send what is due, then stops
    /// it; returns how many emails stay queued (sent when the service next
    /// starts).
    pub async fn drain(self, deadline: Duration) -> usize {
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
            let wait = FIRST_RETRY_SECONDS
                .saturating_mul(1 << e.attempts.clamp(0, 16))
                .min(LAST_RETRY_SECONDS);
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

/// The start of a server's reply, for the log: relays often repeat the
/// address in the rest, and the log never shows an address.
fn reply_code(reply: &str) -> String {
    reply
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(12)
        .collect()
}
